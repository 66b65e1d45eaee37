//! Maglev target choice, written again for the model from the rule, not
//! taken from the agent: the population of Eisenbud et al., "Maglev: A Fast
//! and Reliable Software Network Load Balancer" (NSDI 2016), section 3.4,
//! over the parameters docs/DATAPLANE.md ("PrivateLink", step 4) and the
//! agent's `maglev` module document:
//!
//! - a table has `M` = [`dataplane_common::MAGLEV_SIZE`] (1021) slots; a
//!   new flow takes the target in slot `flow_hash(5-tuple) % M`;
//! - a backend `ip:port` is known by its key: FNV-1a (64-bit) over the four
//!   address octets and the port in network order;
//! - its permutation is `offset + j * skip (mod M)` with `offset =
//!   fmix64(key ^ 0x9e3779b97f4a7c15) % M` and `skip = fmix64(key ^
//!   0xc2b2ae3d27d4eb4f) % (M - 1) + 1` (fmix64: MurmurHash3's 64-bit
//!   finalizer); for an `M` that is not prime, a skip sharing a factor with
//!   `M` moves on to the next value in `1..M`, wrapping to 1, until it
//!   shares none;
//! - backends take turns in increasing key order (equal keys: input order),
//!   each claiming the first slot of its permutation still free, until
//!   every slot is owned.
//!
//! The agent's `dataplane::maglev` is the other implementation of the same
//! rule; the tests below hold the two to the same tables, so a slip in
//! either (and so in the kernel's tables, which the agent writes) shows.

use std::net::Ipv4Addr;

/// The key of backend `ip:port`: FNV-1a 64 of its address octets and its
/// port in network order.
pub fn backend_key(ip: Ipv4Addr, port: u16) -> u64 {
    let mut bytes = [0u8; 6];
    bytes[..4].copy_from_slice(&ip.octets());
    bytes[4..].copy_from_slice(&port.to_be_bytes());
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// MurmurHash3's `fmix64`.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

fn coprime(mut a: usize, mut b: usize) -> bool {
    while b > 0 {
        let r = a % b;
        a = b;
        b = r;
    }
    a == 1
}

/// The order in which backend `key` asks for the `m` slots.
fn permutation(key: u64, m: usize) -> Vec<usize> {
    if m == 1 {
        return vec![0];
    }
    let offset = (fmix64(key ^ 0x9e37_79b9_7f4a_7c15) % m as u64) as usize;
    let mut skip = (fmix64(key ^ 0xc2b2_ae3d_27d4_eb4f) % (m as u64 - 1)) as usize + 1;
    while !coprime(skip, m) {
        skip = if skip == m - 1 { 1 } else { skip + 1 };
    }
    (0..m).map(|j| (offset + j * skip) % m).collect()
}

/// The `m`-slot table over `backends` (their keys): each slot names its
/// owner by position in `backends`; every slot is `None` when there are
/// none.
pub fn table(backends: &[u64], m: usize) -> Vec<Option<usize>> {
    let mut slots = vec![None; m];
    if backends.is_empty() {
        return slots;
    }
    let mut turn: Vec<usize> = (0..backends.len()).collect();
    turn.sort_by(|&a, &b| backends[a].cmp(&backends[b]).then(a.cmp(&b)));
    let perms: Vec<Vec<usize>> = turn.iter().map(|&i| permutation(backends[i], m)).collect();
    let mut next = vec![0; turn.len()];
    let mut owned = 0;
    while owned < m {
        for (t, &backend) in turn.iter().enumerate() {
            let slot = loop {
                let s = perms[t][next[t]];
                next[t] += 1;
                if slots[s].is_none() {
                    break s;
                }
            };
            slots[slot] = Some(backend);
            owned += 1;
            if owned == m {
                break;
            }
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::maglev as agent;
    use dataplane_common::MAGLEV_SIZE;

    /// The agent's table in the model's terms.
    fn agents(keys: &[u64], m: usize) -> Vec<Option<usize>> {
        agent::table(keys, m)
            .into_iter()
            .map(|i| (i != agent::EMPTY).then_some(i as usize))
            .collect()
    }

    /// Backend sets of every size from 1 to 12 drawn from a few address
    /// plans, some with equal keys.
    fn sets() -> Vec<Vec<u64>> {
        let mut sets = Vec::new();
        for n in 1..=12u8 {
            for plan in 0..6u8 {
                let set: Vec<u64> = (0..n)
                    .map(|i| match plan {
                        0 => backend_key(Ipv4Addr::new(10, 0, 1, 10 + i), 8080),
                        1 => backend_key(Ipv4Addr::new(10, 0, 1 + i % 3, 21), 80 + u16::from(i)),
                        2 => backend_key(Ipv4Addr::new(172, 16, i, 7), 443),
                        3 => backend_key(Ipv4Addr::new(10, 9, n, i), 5353),
                        4 => backend_key(Ipv4Addr::new(192, 168, 0, 1 + i), 9000 + u16::from(n)),
                        // Equal keys: the same backend listed twice.
                        _ => backend_key(Ipv4Addr::new(10, 0, 2, 1 + i / 2), 80),
                    })
                    .collect();
                sets.push(set);
            }
        }
        sets
    }

    #[test]
    fn maglev_keys_are_fnv1a_of_address_and_port_and_agree_with_the_agent() {
        // FNV-1a 64 of 0a 00 01 0a 00 50, worked by hand from the published
        // offset basis and prime (the agent's test pins the same value).
        assert_eq!(
            backend_key(Ipv4Addr::new(10, 0, 1, 10), 80),
            0x09c2_ccef_3c48_e2f8
        );
        for a in [
            [10, 0, 1, 10],
            [10, 0, 2, 22],
            [192, 0, 2, 255],
            [0, 0, 0, 0],
        ] {
            for port in [0, 80, 8080, 65535] {
                let ip = Ipv4Addr::from(a);
                assert_eq!(backend_key(ip, port), agent::backend_key(ip, port));
            }
        }
    }

    #[test]
    fn maglev_tables_of_the_model_and_the_agent_are_the_same() {
        let m = MAGLEV_SIZE as usize;
        for set in sets() {
            let ours = table(&set, m);
            assert_eq!(ours, agents(&set, m), "{} backends {set:x?}", set.len());
            // Round-robin population: every backend owns floor(M/n) or
            // ceil(M/n) slots.
            let mut owned = vec![0; set.len()];
            for s in &ours {
                owned[s.expect("every slot owned")] += 1;
            }
            let (lo, hi) = (m / set.len(), m.div_ceil(set.len()));
            assert!(owned.iter().all(|&c| c == lo || c == hi), "{owned:?}");
        }
    }

    #[test]
    fn maglev_tables_agree_for_other_sizes_and_empty_sets() {
        for m in [1, 2, 3, 4, 7, 100, 1024] {
            for set in sets().iter().step_by(5) {
                assert_eq!(table(set, m), agents(set, m), "m={m} {set:x?}");
            }
        }
        assert_eq!(table(&[], 1021), vec![None; 1021]);
        assert_eq!(agents(&[], 1021), vec![None; 1021]);
    }

    #[test]
    fn maglev_tables_depend_on_the_set_not_its_order() {
        let set = &sets()[6 * 6];
        let mut rev = set.clone();
        rev.reverse();
        let owner = |s: &[u64], t: Vec<Option<usize>>| -> Vec<u64> {
            t.into_iter().map(|i| s[i.unwrap()]).collect()
        };
        assert_eq!(owner(&rev, table(&rev, 1021)), owner(set, table(set, 1021)));
    }
}
