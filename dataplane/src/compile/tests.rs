//! Unit tests of `compile`.

use std::net::Ipv4Addr;

use dataplane_common::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};

use super::*;
use crate::model::test_support::{net, rule, sg, subnet, vpc};
use crate::model::*;

/// Two VPCs with the same CIDR; web allows 80 from the client's group
/// and 8000-8100 from a /16; the client has AWS's default egress.
pub fn topo() -> Topology {
    let all_out = rule(Protocol::All, (0, 65535), Peer::Cidr(net("0.0.0.0/0")));
    Topology {
        vpcs: vec![vpc("vpc-a", "10.0.0.0/16"), vpc("vpc-b", "10.0.0.0/16")],
        subnets: vec![
            subnet("subnet-a", 0, "10.0.1.0/24", "az1"),
            subnet("subnet-b", 1, "10.0.1.0/24", "az1"),
        ],
        security_groups: vec![
            sg("sg-client", 0, vec![], vec![all_out.clone()]),
            sg(
                "sg-web",
                0,
                vec![
                    rule(Protocol::Tcp, (80, 80), Peer::SecurityGroup(0)),
                    rule(Protocol::Tcp, (8000, 8100), Peer::Cidr(net("10.0.0.0/16"))),
                    rule(Protocol::Tcp, (8101, 8200), Peer::Cidr(net("10.0.0.0/16"))),
                ],
                vec![],
            ),
            sg(
                "sg-b",
                1,
                vec![rule(
                    Protocol::Icmp,
                    (0, 65535),
                    Peer::Cidr(net("0.0.0.0/0")),
                )],
                vec![all_out],
            ),
        ],
        enis: vec![
            eni("eni-client", 0, 0, [10, 0, 1, 10], 0, "client"),
            eni("eni-web", 0, 0, [10, 0, 1, 20], 1, "web"),
            eni("eni-other", 1, 1, [10, 0, 1, 10], 2, "other"),
        ],
        ..Topology::empty(LabSettings::new("t", Hook::Tc, 1500))
    }
}

/// An ENI with its default MAC; `vpc` is its subnet's VPC.
fn eni(id: &str, subnet: usize, vpc: usize, ip: [u8; 4], sg: usize, host: &str) -> Eni {
    let ip = Ipv4Addr::from(ip);
    Eni {
        id: id.into(),
        subnet,
        ip,
        mac: default_mac(vpc, ip),
        security_groups: vec![sg],
        host: host.into(),
        mtu: None,
    }
}

/// One single-port rule for each port in `ports`, 10 apart: none merge.
fn spaced_rules(ports: impl Iterator<Item = u16>, protocol: Protocol, cidr: &str) -> Vec<Rule> {
    ports
        .map(|i| rule(protocol, (i * 10, i * 10), Peer::Cidr(net(cidr))))
        .collect()
}

fn ranges(p: &SgPorts) -> Vec<(u16, u16)> {
    p.ranges[..p.count as usize]
        .iter()
        .map(|r| (r.lo, r.hi))
        .collect()
}

fn find<'a>(c: &'a Compiled, set: u32, dir: u8, proto: u8, prefix: &str) -> Option<&'a SgPorts> {
    let p = net(prefix);
    c.sg_rules
        .iter()
        .find(|(len, k, _)| {
            *len == SG_KEY_FIXED_BITS + p.prefix_len() as u32
                && *k == SgKey::new(set, dir, proto, p.network().octets())
        })
        .map(|(_, _, v)| v)
}

/// A memo carried across compilations changes nothing in the result,
/// whatever changed in between: a rule, a referenced group's members,
/// the groups an ENI holds (set ids move); and it keeps only what the
/// last compilation used.
#[test]
fn compile_with_a_memo_gives_what_compile_gives() {
    let ifx = [11, 12, 13];
    let mut memo = Memo::default();
    let t = topo();
    assert_eq!(
        compile_with(&t, &ifx, &mut memo).unwrap(),
        compile(&t, &ifx).unwrap()
    );
    // Distinct (set, direction) inputs: three sets, two directions,
    // sg-client's and sg-b's egress alike.
    assert_eq!(memo.sg.len(), 5);
    let mut steps: Vec<Topology> = Vec::new();
    // One rule's port range.
    let mut a = t.clone();
    a.security_groups[1].ingress[1].ports.1 += 1;
    steps.push(a.clone());
    // sg-web's first rule references sg-client: move the client.
    a.enis[0].ip = Ipv4Addr::new(10, 0, 1, 11);
    steps.push(a.clone());
    // The client now holds sg-web too: a new set, ids move.
    a.enis[0].security_groups = vec![1, 0];
    steps.push(a.clone());
    // And back to the start.
    steps.push(t.clone());
    for (i, step) in steps.iter().enumerate() {
        let want = compile(step, &ifx).unwrap();
        assert_eq!(
            compile_with(step, &ifx, &mut memo).unwrap(),
            want,
            "step {i}"
        );
    }
    assert_eq!(memo.sg.len(), 5);
    // A memo never hides an error.
    let mut bad = t.clone();
    bad.security_groups[1].ingress =
        spaced_rules(0..=SG_MAX_RANGES as u16, Protocol::Tcp, "10.9.0.0/16");
    assert!(compile_with(&bad, &ifx, &mut memo).is_err());
    assert_eq!(memo.sg.len(), 5);
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
                generation: 0,
                subnet: 1,
                _pad: 0,
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
    // Other protocols (GRE, ESP...) meet the `all` rules under the
    // any-protocol key: one for each set with an `all` egress rule.
    for set in [0u32, 2] {
        let k = SgKey::new(set, SG_DIR_EGRESS | SG_DIR_ANY_PROTO, 0, [0; 4]);
        let e = c
            .sg_rules
            .iter()
            .find(|(plen, kk, _)| *kk == k && *plen == SG_KEY_FIXED_BITS);
        assert_eq!(
            e.map(|(_, _, p)| ranges(p)),
            Some(vec![(0, 65535)]),
            "set {set}"
        );
    }
    assert_eq!(c.sg_rules.len(), 3 + 2 + 1 + 3 + 2);
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
fn a_compilation_moves_between_generations_and_back_unchanged() {
    let t = crate::config::parse_str(crate::config::DEFAULT_CONFIG, "default.toml").unwrap();
    let n = crate::lab::plan(&t).ports.len() as u32;
    let ifx: Vec<u32> = (10..10 + n).collect();
    let c0 = compile(&t, &ifx).unwrap();
    let c1 = c0.clone().rebase(1);
    assert_eq!(c0.at(1), c1);
    assert_eq!(c1.at(0), c0);
    assert_eq!(c1.at(1), c1);
    assert_ne!(c1.ports, c0.ports, "generation 1's keys are tagged");
}

#[test]
fn a_configuration_may_use_half_of_each_map_the_other_half_is_the_reload_s() {
    let fits = Compiled {
        tables: vec![Vec::new(); (MAX_MAGLEV_TABLES / 2) as usize],
        ..Default::default()
    };
    assert!(check_capacity(&fits).is_ok());
    let over = Compiled {
        tables: vec![Vec::new(); (MAX_MAGLEV_TABLES / 2 + 1) as usize],
        ..Default::default()
    };
    assert_eq!(
        check_capacity(&over).unwrap_err().to_string(),
        "the topology has 129 load-balancer tables (NLB nodes x listeners); the data plane \
         holds at most 128 per configuration (the maps keep two side by side during a reload)"
    );
}

#[test]
fn too_many_ranges_is_an_error_naming_the_group() {
    let mut t = topo();
    t.security_groups[1].ingress = spaced_rules(0..17, Protocol::Udp, "10.0.0.0/8");
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
