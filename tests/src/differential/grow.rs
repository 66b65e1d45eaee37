//! Reloads that insert an ENI (`dataplane/src/compile/numbers.rs`): a
//! topology's config with a new ENI, on a new host, inserted second in the
//! config. The agent builds the host (`Agent::reload` grows the lab) and
//! numbers its ENI after every ENI the lab has, so the interfaces after it
//! keep their numbers while their place in the config moves: the kernel's
//! counters (read through `Layout::numbered`) must still match the model's,
//! which knows nothing of numbers.

use std::net::Ipv4Addr;

use dataplane::model::Topology;

/// The id and host of the inserted ENI.
pub const INSERTED_ENI: &str = "eni-soak-inserted";
pub const INSERTED_HOST: &str = "soakins";

/// `text` (a generated topology's config, `topo` parsed) with a new ENI in
/// the subnet and groups of the first ENI, at a free address, inserted
/// before the config's second ENI (before its first when it has one); `None`
/// when the subnet has no free address the config accepts.
pub fn insert_eni(text: &str, topo: &Topology) -> Option<String> {
    let first = topo.enis.first()?;
    let subnet = &topo.subnets[first.subnet];
    let groups: Vec<String> = first
        .security_groups
        .iter()
        .map(|&g| format!("\"{}\"", topo.security_groups[g].id))
        .collect();
    let marks: Vec<usize> = text.match_indices("\n[[eni]]\n").map(|(i, _)| i).collect();
    let at = *marks.get(1).or(marks.first())?;
    let net = subnet.cidr;
    let last = u32::from(net.network()) + (1u32 << (32 - net.prefix_len())) - 2;
    // From the top of the subnet down: the generator places from the bottom.
    (0..64).find_map(|k| {
        let ip = Ipv4Addr::from(last.checked_sub(k)?);
        let block = format!(
            "\n[[eni]]\nid = \"{INSERTED_ENI}\"\nsubnet = \"{}\"\nip = \"{ip}\"\n\
             security_groups = [{}]\nhost = \"{INSERTED_HOST}\"\n",
            subnet.id,
            groups.join(", ")
        );
        let grown = format!("{}{block}{}", &text[..at], &text[at..]);
        super::parse(&grown).is_ok().then_some(grown)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::differential::{generate_topology, parse, rng};

    #[test]
    fn the_inserted_eni_is_second_on_a_new_host_and_the_config_is_accepted() {
        let mut inserted = 0;
        for k in 0..20 {
            let g = generate_topology(rng::derive(7, k));
            let text = g.toml();
            let topo = parse(&text).unwrap();
            let Some(grown) = insert_eni(&text, &topo) else {
                continue;
            };
            let t = parse(&grown).unwrap();
            let pos = t.eni_by_id(INSERTED_ENI).unwrap();
            assert_eq!(pos, usize::from(topo.enis.len() > 1));
            assert_eq!(t.enis.len(), topo.enis.len() + 1);
            assert_eq!(t.enis[pos].host, INSERTED_HOST);
            inserted += 1;
        }
        assert!(inserted >= 15, "{inserted} of 20 topologies took an ENI");
    }
}
