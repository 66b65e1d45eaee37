//! Field-by-field checks of a frame a scenario delivered: MAC, addresses,
//! protocol, ports, TTL, and both checksums recomputed independently.

use std::net::Ipv4Addr;

use dataplane_common::GATEWAY_MAC;
use hyperlab_tests::{csum, pkt, Outcome, Verdict};

use crate::topo::{Net, SERVER};

/// `Err` naming the verdict unless `o` is a forward.
pub fn forwarded(o: &Outcome) -> Result<(), String> {
    if o.verdict != Verdict::Forward {
        return Err(format!("verdict {:?}, expected a forward", o.verdict));
    }
    Ok(())
}

/// The input forwarded with the server's MACs: the intra-VPC path, and the
/// floor's plain redirect.
pub fn same_with_server_macs(net: &Net, input: &[u8], o: &Outcome) -> Result<(), String> {
    forwarded(o)?;
    if o.out != pkt::with_macs(input, net.server_mac, GATEWAY_MAC) {
        return Err("output differs from the input with the server's MACs".into());
    }
    Ok(())
}

/// A forward to the server (its MAC, its address) from `src`, of
/// `proto`, with these ports and TTL.
pub fn to_server(
    net: &Net,
    o: &Outcome,
    (src, proto): (Ipv4Addr, u8),
    (sport, dport): (Ports, Ports),
    ttl: u8,
) -> Result<(), String> {
    forwarded(o)?;
    frame(
        &o.out,
        &Expect {
            dst_mac: Some(net.server_mac),
            src,
            dst: SERVER,
            proto,
            sport,
            dport,
            ttl: Some(ttl),
        },
    )
}

#[derive(Clone, Copy, Debug)]
pub enum Ports {
    Any,
    One(u16),
    /// Inclusive.
    Range(u16, u16),
    /// Any of two.
    Either(u16, u16),
    /// `(p ^ xor) - base` (wrapping) is below `n`: the generator's source
    /// ports, possibly XOR-mapped by the minimal NAT.
    Generated {
        base: u16,
        n: u32,
        xor: u16,
    },
}

impl Ports {
    fn ok(&self, p: u16) -> bool {
        match *self {
            Ports::Any => true,
            Ports::One(x) => p == x,
            Ports::Range(lo, hi) => (lo..=hi).contains(&p),
            Ports::Either(a, b) => p == a || p == b,
            Ports::Generated { base, n, xor } => ((p ^ xor).wrapping_sub(base) as u32) < n,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Expect {
    pub dst_mac: Option<[u8; 6]>,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub sport: Ports,
    pub dport: Ports,
    pub ttl: Option<u8>,
}

/// Checks an Ethernet/IPv4/TCP-or-UDP frame against `e`.
pub fn frame(f: &[u8], e: &Expect) -> Result<(), String> {
    if f.len() < 14 + 20 + 8 {
        return Err(format!("frame of {} bytes is too short", f.len()));
    }
    if let Some(m) = e.dst_mac {
        if f[0..6] != m {
            return Err(format!(
                "destination MAC {:02x?}, expected {:02x?}",
                &f[0..6],
                m
            ));
        }
    }
    if f[12..14] != [0x08, 0x00] || f[14] != 0x45 {
        return Err("not an IPv4 frame without options".into());
    }
    let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
    let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
    if (src, dst) != (e.src, e.dst) {
        return Err(format!("{src} -> {dst}, expected {} -> {}", e.src, e.dst));
    }
    if f[23] != e.proto {
        return Err(format!("protocol {}, expected {}", f[23], e.proto));
    }
    if let Some(t) = e.ttl {
        if f[22] != t {
            return Err(format!("TTL {}, expected {t}", f[22]));
        }
    }
    let sport = u16::from_be_bytes([f[34], f[35]]);
    let dport = u16::from_be_bytes([f[36], f[37]]);
    if !e.sport.ok(sport) {
        return Err(format!("source port {sport}, expected {:?}", e.sport));
    }
    if !e.dport.ok(dport) {
        return Err(format!("destination port {dport}, expected {:?}", e.dport));
    }
    let tot = u16::from_be_bytes([f[16], f[17]]) as usize;
    if 14 + tot > f.len() {
        return Err(format!(
            "IPv4 total length {tot} runs past the {}-byte frame",
            f.len()
        ));
    }
    if f[23] == 17 && f[40] == 0 && f[41] == 0 {
        return Err("UDP checksum is zero (none): every generated frame carries one".into());
    }
    let ip = &f[14..14 + tot];
    let ihl = (ip[0] & 0x0f) as usize * 4;
    if csum::fold(csum::sum(&ip[..ihl])) != 0xffff {
        return Err("IPv4 header checksum invalid".into());
    }
    let l4 = &ip[ihl..];
    let s = csum::sum(l4) + csum::sum(&ip[12..20]) + ip[9] as u32 + l4.len() as u32;
    if csum::fold(s) != 0xffff {
        return Err(format!("L4 checksum invalid (protocol {})", ip[9]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperlab_tests::pkt;

    #[test]
    fn accepts_a_good_frame_and_names_what_is_wrong() {
        let f = pkt::udp(
            [2; 6],
            [4; 6],
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            1000,
            53,
        );
        let e = Expect {
            dst_mac: Some([4; 6]),
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            proto: 17,
            sport: Ports::Generated {
                base: 990,
                n: 16,
                xor: 0,
            },
            dport: Ports::One(53),
            ttl: Some(64),
        };
        assert_eq!(frame(&f, &e), Ok(()));
        let mut bad = f.clone();
        bad[41] ^= 1;
        assert!(frame(&bad, &e).unwrap_err().contains("L4 checksum"));
        let wrong = Expect {
            dport: Ports::One(54),
            ..e
        };
        assert!(frame(&f, &wrong).unwrap_err().contains("destination port"));
    }
}
