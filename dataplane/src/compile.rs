//! `compile`: a validated topology -> the exact kernel map entries.
//!
//! Pure: no kernel, no netlink, no files. The only facts from the running
//! lab are the fabric ifindexes, passed in. Security groups are compiled so
//! the kernel never scans rules: one longest-prefix match per
//! {group set, direction, protocol, peer prefix} returns merged port ranges,
//! with the ranges of every covering (shorter) prefix pushed down.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use dataplane_common::{
    EniInfo, EniKey, PortInfo, PortRange, SgKey, SgPorts, SG_DIR_EGRESS, SG_DIR_INGRESS,
    SG_KEY_FIXED_BITS, SG_MAX_RANGES,
};

use crate::model::{Ipv4Net, Peer, Rule, Topology};

/// One LPM entry: prefix length (including the fixed bits), key data, value.
pub type SgEntry = (u32, SgKey, SgPorts);

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Compiled {
    /// fabric ifindex -> port
    pub ports: Vec<(u32, PortInfo)>,
    pub enis: Vec<(EniKey, EniInfo)>,
    pub sg_rules: Vec<SgEntry>,
    /// Distinct security-group sets, by set id: the groups' indices.
    pub sg_sets: Vec<Vec<usize>>,
}

/// `ifindexes[i]` is the fabric-side ifindex of ENI `i`.
pub fn compile(topo: &Topology, ifindexes: &[u32]) -> Result<Compiled> {
    if ifindexes.len() != topo.enis.len() {
        bail!(
            "compile: {} fabric ports for {} ENIs",
            ifindexes.len(),
            topo.enis.len()
        );
    }
    let (sg_sets, eni_set) = sg_sets(topo);
    let mut out = Compiled {
        sg_sets: sg_sets.clone(),
        ..Default::default()
    };
    for (i, eni) in topo.enis.iter().enumerate() {
        let vpc = topo.eni_vpc(i) as u32;
        let set = eni_set[i];
        let ip = eni.ip.octets();
        out.ports.push((
            ifindexes[i],
            PortInfo {
                vpc,
                eni: i as u32,
                sg_set: set,
                ip,
                mac: eni.mac,
                _pad: 0,
            },
        ));
        out.enis.push((
            EniKey { vpc, ip },
            EniInfo {
                eni: i as u32,
                ifindex: ifindexes[i],
                sg_set: set,
                _pad0: 0,
                mac: eni.mac,
                _pad1: 0,
            },
        ));
    }
    for (set_id, groups) in sg_sets.iter().enumerate() {
        for (dir, rules) in [
            (SG_DIR_INGRESS, rules_of(topo, groups, true)),
            (SG_DIR_EGRESS, rules_of(topo, groups, false)),
        ] {
            out.sg_rules
                .extend(compile_rules(topo, set_id as u32, dir, &rules)?);
        }
    }
    Ok(out)
}

/// Assigns each distinct (sorted) set of groups an id, and each ENI its set.
fn sg_sets(topo: &Topology) -> (Vec<Vec<usize>>, Vec<u32>) {
    let mut sets: Vec<Vec<usize>> = Vec::new();
    let mut eni_set = Vec::with_capacity(topo.enis.len());
    for eni in &topo.enis {
        let set: Vec<usize> = eni
            .security_groups
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let id = match sets.iter().position(|s| *s == set) {
            Some(id) => id,
            None => {
                sets.push(set);
                sets.len() - 1
            }
        };
        eni_set.push(id as u32);
    }
    (sets, eni_set)
}

fn rules_of<'a>(topo: &'a Topology, groups: &[usize], ingress: bool) -> Vec<&'a Rule> {
    groups
        .iter()
        .flat_map(|&g| {
            let sg = &topo.security_groups[g];
            if ingress {
                sg.ingress.iter()
            } else {
                sg.egress.iter()
            }
        })
        .collect()
}

/// The prefixes a rule's peer stands for: its CIDR, or the addresses of the
/// referenced group's member ENIs.
fn peer_prefixes(topo: &Topology, peer: &Peer) -> Vec<Ipv4Net> {
    match peer {
        Peer::Cidr(net) => vec![*net],
        Peer::SecurityGroup(g) => topo
            .enis
            .iter()
            .filter(|e| e.security_groups.contains(g))
            .map(|e| Ipv4Net::new(e.ip, 32).expect("/32 is a valid prefix"))
            .collect(),
    }
}

fn compile_rules(topo: &Topology, set: u32, dir: u8, rules: &[&Rule]) -> Result<Vec<SgEntry>> {
    // proto -> prefix -> ranges
    let mut by_proto: BTreeMap<u8, BTreeMap<Ipv4Net, Vec<(u16, u16)>>> = BTreeMap::new();
    for rule in rules {
        for &proto in rule.protocol.ip_protocols() {
            for prefix in peer_prefixes(topo, &rule.peer) {
                by_proto
                    .entry(proto)
                    .or_default()
                    .entry(prefix.trunc())
                    .or_default()
                    .push(rule.ports);
            }
        }
    }
    let mut out = Vec::new();
    for (proto, prefixes) in by_proto {
        for prefix in prefixes.keys() {
            // Push down: every rule whose peer covers this prefix applies to it.
            let ranges: Vec<(u16, u16)> = prefixes
                .iter()
                .filter(|(q, _)| q.contains(prefix))
                .flat_map(|(_, r)| r.iter().copied())
                .collect();
            let merged = merge_ranges(ranges);
            if merged.len() > SG_MAX_RANGES {
                bail!(
                    "security groups {} allow {} separate port ranges for protocol {proto} and peer {prefix} \
                     ({}): at most {SG_MAX_RANGES} are supported; merge adjacent ranges",
                    set_name(topo, set),
                    merged.len(),
                    if dir == SG_DIR_INGRESS { "ingress" } else { "egress" },
                );
            }
            let mut ports = SgPorts {
                count: merged.len() as u32,
                ..Default::default()
            };
            for (slot, (lo, hi)) in ports.ranges.iter_mut().zip(merged) {
                *slot = PortRange { lo, hi };
            }
            out.push((
                SG_KEY_FIXED_BITS + prefix.prefix_len() as u32,
                SgKey::new(set, dir, proto, prefix.network().octets()),
                ports,
            ));
        }
    }
    Ok(out)
}

fn set_name(topo: &Topology, set: u32) -> String {
    let (sets, _) = sg_sets(topo);
    sets.get(set as usize)
        .map(|s| {
            s.iter()
                .map(|&g| topo.security_groups[g].id.as_str())
                .collect::<Vec<_>>()
                .join("+")
        })
        .unwrap_or_default()
}

/// Sorts and coalesces overlapping or adjacent inclusive ranges.
pub fn merge_ranges(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use dataplane_common::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};

    use super::*;
    use crate::model::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn rule(protocol: Protocol, ports: (u16, u16), peer: Peer) -> Rule {
        Rule {
            protocol,
            ports,
            peer,
        }
    }

    /// Two VPCs with the same CIDR; web allows 80 from the client's group
    /// and 8000-8100 from a /16; the client has AWS's default egress.
    fn topo() -> Topology {
        let all_out = rule(Protocol::All, (0, 65535), Peer::Cidr(net("0.0.0.0/0")));
        Topology {
            lab: LabSettings {
                name: "t".into(),
                hook: Hook::Tc,
                mtu: 1500,
            },
            vpcs: vec![
                Vpc {
                    id: "vpc-a".into(),
                    cidr: net("10.0.0.0/16"),
                },
                Vpc {
                    id: "vpc-b".into(),
                    cidr: net("10.0.0.0/16"),
                },
            ],
            subnets: vec![
                Subnet {
                    id: "subnet-a".into(),
                    vpc: 0,
                    cidr: net("10.0.1.0/24"),
                    az: "az1".into(),
                },
                Subnet {
                    id: "subnet-b".into(),
                    vpc: 1,
                    cidr: net("10.0.1.0/24"),
                    az: "az1".into(),
                },
            ],
            security_groups: vec![
                SecurityGroup {
                    id: "sg-client".into(),
                    vpc: 0,
                    ingress: vec![],
                    egress: vec![all_out.clone()],
                },
                SecurityGroup {
                    id: "sg-web".into(),
                    vpc: 0,
                    ingress: vec![
                        rule(Protocol::Tcp, (80, 80), Peer::SecurityGroup(0)),
                        rule(Protocol::Tcp, (8000, 8100), Peer::Cidr(net("10.0.0.0/16"))),
                        rule(Protocol::Tcp, (8101, 8200), Peer::Cidr(net("10.0.0.0/16"))),
                    ],
                    egress: vec![],
                },
                SecurityGroup {
                    id: "sg-b".into(),
                    vpc: 1,
                    ingress: vec![rule(
                        Protocol::Icmp,
                        (0, 65535),
                        Peer::Cidr(net("0.0.0.0/0")),
                    )],
                    egress: vec![all_out],
                },
            ],
            enis: vec![
                Eni {
                    id: "eni-client".into(),
                    subnet: 0,
                    ip: Ipv4Addr::new(10, 0, 1, 10),
                    mac: default_mac(0, Ipv4Addr::new(10, 0, 1, 10)),
                    security_groups: vec![0],
                    host: "client".into(),
                },
                Eni {
                    id: "eni-web".into(),
                    subnet: 0,
                    ip: Ipv4Addr::new(10, 0, 1, 20),
                    mac: default_mac(0, Ipv4Addr::new(10, 0, 1, 20)),
                    security_groups: vec![1],
                    host: "web".into(),
                },
                Eni {
                    id: "eni-other".into(),
                    subnet: 1,
                    ip: Ipv4Addr::new(10, 0, 1, 10),
                    mac: default_mac(1, Ipv4Addr::new(10, 0, 1, 10)),
                    security_groups: vec![2],
                    host: "other".into(),
                },
            ],
        }
    }

    fn ranges(p: &SgPorts) -> Vec<(u16, u16)> {
        p.ranges[..p.count as usize]
            .iter()
            .map(|r| (r.lo, r.hi))
            .collect()
    }

    fn find<'a>(
        c: &'a Compiled,
        set: u32,
        dir: u8,
        proto: u8,
        prefix: &str,
    ) -> Option<&'a SgPorts> {
        let p = net(prefix);
        c.sg_rules
            .iter()
            .find(|(len, k, _)| {
                *len == SG_KEY_FIXED_BITS + p.prefix_len() as u32
                    && *k == SgKey::new(set, dir, proto, p.network().octets())
            })
            .map(|(_, _, v)| v)
    }

    #[test]
    fn ports_and_enis_carry_vpc_set_address_and_ifindex() {
        let c = compile(&topo(), &[11, 12, 13]).unwrap();
        assert_eq!(
            c.ports[2],
            (
                13,
                PortInfo {
                    vpc: 1,
                    eni: 2,
                    sg_set: 2,
                    ip: [10, 0, 1, 10],
                    mac: [0x02, 0x02, 10, 0, 1, 10],
                    _pad: 0
                }
            )
        );
        // Same address in two VPCs: two distinct keys.
        assert_eq!(
            c.enis[0].0,
            EniKey {
                vpc: 0,
                ip: [10, 0, 1, 10]
            }
        );
        assert_eq!(
            c.enis[2].0,
            EniKey {
                vpc: 1,
                ip: [10, 0, 1, 10]
            }
        );
        assert_eq!(c.enis[1].1.ifindex, 12);
        assert_eq!(c.sg_sets, vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn sg_reference_compiles_to_member_addresses() {
        let c = compile(&topo(), &[11, 12, 13]).unwrap();
        // sg-web ingress tcp 80 from sg-client = from 10.0.1.10/32, with the
        // /16's ranges pushed down and merged (8000-8100 + 8101-8200).
        let p = find(&c, 1, SG_DIR_INGRESS, PROTO_TCP, "10.0.1.10/32").unwrap();
        assert_eq!(ranges(p), vec![(80, 80), (8000, 8200)]);
        let p = find(&c, 1, SG_DIR_INGRESS, PROTO_TCP, "10.0.0.0/16").unwrap();
        assert_eq!(ranges(p), vec![(8000, 8200)]);
        // Nothing for udp into web.
        assert!(find(&c, 1, SG_DIR_INGRESS, PROTO_UDP, "10.0.0.0/16").is_none());
    }

    #[test]
    fn protocol_all_expands_to_tcp_udp_icmp_full_range() {
        let c = compile(&topo(), &[11, 12, 13]).unwrap();
        for proto in [PROTO_TCP, PROTO_UDP, PROTO_ICMP] {
            let p = find(&c, 0, SG_DIR_EGRESS, proto, "0.0.0.0/0").unwrap();
            assert_eq!(ranges(p), vec![(0, 65535)]);
        }
        // No ingress rules at all for the client: no entries, default deny.
        assert!(!c
            .sg_rules
            .iter()
            .any(|(_, k, _)| k.sg_set == 0u32.to_be_bytes() && k.dir == SG_DIR_INGRESS));
        assert_eq!(c.sg_rules.len(), 3 + 2 + 1 + 3);
    }

    #[test]
    fn identical_group_lists_share_one_set() {
        let mut t = topo();
        t.enis[1].security_groups = vec![0];
        let c = compile(&t, &[11, 12, 13]).unwrap();
        assert_eq!(c.ports[0].1.sg_set, c.ports[1].1.sg_set);
        assert_eq!(c.sg_sets.len(), 2);
    }

    #[test]
    fn too_many_ranges_is_an_error_naming_the_group() {
        let mut t = topo();
        t.security_groups[1].ingress = (0..17)
            .map(|i| {
                rule(
                    Protocol::Udp,
                    (i * 10, i * 10),
                    Peer::Cidr(net("10.0.0.0/8")),
                )
            })
            .collect();
        let err = compile(&t, &[11, 12, 13]).unwrap_err().to_string();
        assert!(
            err.contains("sg-web") && err.contains("17 separate port ranges"),
            "{err}"
        );
    }

    #[test]
    fn ifindex_count_must_match() {
        assert!(compile(&topo(), &[1]).is_err());
    }

    #[test]
    fn merge_ranges_coalesces_overlap_and_adjacency() {
        assert_eq!(
            merge_ranges(vec![
                (10, 20),
                (0, 5),
                (6, 8),
                (15, 30),
                (40, 40),
                (65535, 65535)
            ]),
            vec![(0, 8), (10, 30), (40, 40), (65535, 65535)]
        );
        assert_eq!(merge_ranges(vec![(0, 65535), (80, 80)]), vec![(0, 65535)]);
    }
}
