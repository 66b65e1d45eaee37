//! The precomputed network-ACL tables, exactly, and against a plain
//! first-match scan of the entries (the AWS rule, `AclEntry::matches`).

use std::net::Ipv4Addr;

use dataplane_common::{
    NaclCidrKey, NaclDecision, NaclRuleKey, NACL_RULE_DEFAULT, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};

use super::*;
use crate::model::{AclEntry, IcmpMatch, Protocol};

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn e(rule: u16, allow: bool, protocol: Protocol, ports: (u16, u16), cidr: &str) -> AclEntry {
    AclEntry::new(rule, allow, protocol, ports, net(cidr))
}

fn d(rule: u16, allow: bool) -> NaclDecision {
    NaclDecision {
        rule,
        allow: allow as u8,
        _pad: 0,
    }
}

const DENY: NaclDecision = DEFAULT_DENY;

/// The AWS rule, stated plainly: ascending rule numbers, first match.
fn scan(entries: &[AclEntry], proto: u8, peer: Ipv4Addr, value: u16) -> NaclDecision {
    entries
        .iter()
        .find(|x| x.matches(proto, peer, value))
        .map_or(DENY, |x| d(x.rule, x.allow))
}

/// What the two LPM lookups answer (longest prefix wins), as the kernel.
fn lookup(dir: &DirTable, proto: u8, peer: Ipv4Addr, value: u16) -> NaclDecision {
    if let Some(u) = dir.uniform {
        return u;
    }
    let (_, table) = dir
        .cidrs
        .iter()
        .filter(|(n, _)| n.contains(&peer))
        .max_by_key(|(n, _)| n.prefix_len())
        .expect("0.0.0.0/0 is always there");
    let iv = &table.protos.iter().find(|(p, _)| *p == proto).unwrap().1;
    iv.iter()
        .find(|&&(lo, hi, _)| lo <= value && value <= hi)
        .unwrap()
        .2
}

#[test]
fn prefix_blocks_cover_a_range_exactly() {
    assert_eq!(prefix_blocks(0, 65535), vec![(0, 0)]);
    assert_eq!(prefix_blocks(443, 443), vec![(443, 16)]);
    assert_eq!(
        prefix_blocks(1024, 65535),
        vec![
            (1024, 6),
            (2048, 5),
            (4096, 4),
            (8192, 3),
            (16384, 2),
            (32768, 1)
        ]
    );
    assert_eq!(
        prefix_blocks(0, 442),
        vec![
            (0, 8),
            (256, 9),
            (384, 11),
            (416, 12),
            (432, 13),
            (440, 15),
            (442, 16)
        ]
    );
}

#[test]
fn first_match_across_overlapping_entries_gives_exact_intervals() {
    // 100 denies 443 from the /24, 110 allows 400-500 from the /16, 120
    // denies all TCP from anywhere; UDP only meets the final `*`.
    let entries = vec![
        e(100, false, Protocol::Tcp, (443, 443), "10.0.1.0/24"),
        e(110, true, Protocol::Tcp, (400, 500), "10.0.0.0/16"),
        e(120, false, Protocol::Tcp, (0, 65535), "0.0.0.0/0"),
    ];
    let t = dir_table(&entries);
    assert_eq!(t.uniform, None);
    let nets: Vec<Ipv4Net> = t.cidrs.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        nets,
        vec![net("0.0.0.0/0"), net("10.0.1.0/24"), net("10.0.0.0/16")]
    );
    // Each CIDR's first protocol is TCP: its ranges.
    let tcp = |i: usize| {
        let (proto, ranges) = t.cidrs[i].1.protos[0].clone();
        assert_eq!(proto, PROTO_TCP);
        ranges
    };
    assert_eq!(tcp(0), [(0, 65535, d(120, false))]);
    assert_eq!(
        tcp(1),
        [
            (0, 399, d(120, false)),
            (400, 442, d(110, true)),
            (443, 443, d(100, false)),
            (444, 500, d(110, true)),
            (501, 65535, d(120, false)),
        ]
    );
    assert_eq!(
        tcp(2),
        [
            (0, 399, d(120, false)),
            (400, 500, d(110, true)),
            (501, 65535, d(120, false)),
        ]
    );
    assert_eq!(t.cidrs[1].1.protos[1], (PROTO_UDP, vec![(0, 65535, DENY)]));
    assert_eq!(t.cidrs[1].1.any, DENY);
}

#[test]
fn a_deny_numbered_below_an_allow_wins() {
    let entries = vec![
        e(90, false, Protocol::Tcp, (22, 22), "0.0.0.0/0"),
        e(100, true, Protocol::All, (0, 65535), "0.0.0.0/0"),
    ];
    let t = dir_table(&entries);
    let peer = Ipv4Addr::new(10, 0, 1, 5);
    assert_eq!(lookup(&t, PROTO_TCP, peer, 22), d(90, false));
    assert_eq!(lookup(&t, PROTO_TCP, peer, 23), d(100, true));
    assert_eq!(lookup(&t, PROTO_UDP, peer, 22), d(100, true));
}

#[test]
fn icmp_type_and_code_edges() {
    let icmp = |rule, allow, t: Option<u8>, c: Option<u8>| AclEntry {
        icmp: IcmpMatch {
            icmp_type: t,
            code: c,
        },
        ..e(rule, allow, Protocol::Icmp, (0, 65535), "0.0.0.0/0")
    };
    let entries = vec![
        icmp(10, true, Some(8), Some(0)),
        icmp(20, false, Some(8), None),
        icmp(30, true, Some(0), None),
    ];
    let t = dir_table(&entries);
    let p = Ipv4Addr::new(1, 2, 3, 4);
    assert_eq!(lookup(&t, PROTO_ICMP, p, 8 << 8), d(10, true));
    assert_eq!(lookup(&t, PROTO_ICMP, p, 8 << 8 | 1), d(20, false));
    assert_eq!(lookup(&t, PROTO_ICMP, p, 8 << 8 | 255), d(20, false));
    assert_eq!(lookup(&t, PROTO_ICMP, p, 0), d(30, true));
    assert_eq!(lookup(&t, PROTO_ICMP, p, 255), d(30, true));
    assert_eq!(lookup(&t, PROTO_ICMP, p, 256), DENY);
    assert_eq!(lookup(&t, PROTO_ICMP, p, 9 << 8), DENY);
    assert_eq!(lookup(&t, PROTO_TCP, p, 8 << 8), DENY);
}

#[test]
fn uniform_directions_need_no_lookup() {
    assert_eq!(dir_table(&[]).uniform, Some(DENY));
    let all = e(100, true, Protocol::All, (0, 65535), "0.0.0.0/0");
    assert_eq!(dir_table(&[all]).uniform, Some(d(100, true)));
    // An allow-all for one /8 only is not uniform: the rest is denied.
    let part = e(100, true, Protocol::All, (0, 65535), "10.0.0.0/8");
    assert_eq!(dir_table(&[part]).uniform, None);
}

#[test]
fn compiled_entries_are_exact_for_a_subnet_with_a_custom_acl() {
    use crate::compile::tests::topo;
    let mut t = topo();
    t.network_acls = vec![
        NetworkAcl {
            id: "acl-1".into(),
            vpc: 0,
            default: false,
            ingress: vec![e(100, true, Protocol::Tcp, (443, 443), "10.0.0.0/16")],
            egress: vec![],
        },
        NetworkAcl::default_for(0, "vpc-a"),
        NetworkAcl::default_for(1, "vpc-b"),
    ];
    t.subnet_nacls = vec![0, 2];
    let m = compile_nacls(&t).unwrap();
    let stat = dataplane_common::nacl_stat_id(b"acl-1");
    let dflt = dataplane_common::nacl_stat_id(b"vpc-b (default)");
    let uniform = |nacl, rule, allow| NaclRef {
        acl: 0,
        nacl,
        uniform_rule: rule,
        uniform_allow: allow,
        _pad: 0,
    };
    assert_eq!(
        m.subnets,
        vec![
            SubnetNacls {
                egress: uniform(stat, NACL_RULE_DEFAULT, 0),
                ingress: NaclRef {
                    acl: 1,
                    nacl: stat,
                    uniform_rule: 0,
                    uniform_allow: 0,
                    _pad: 0
                },
            },
            SubnetNacls {
                egress: uniform(dflt, 100, 1),
                ingress: uniform(dflt, 100, 1),
            },
        ]
    );
    // Class 1: 0.0.0.0/0 (all denied); class 2: the /16 (443 allowed).
    assert_eq!(
        m.cidrs,
        vec![
            (32, NaclCidrKey::new(1, [0, 0, 0, 0]), 1),
            (48, NaclCidrKey::new(1, [10, 0, 0, 0]), 2),
        ]
    );
    let rules_of = |class: u32| -> Vec<(u32, NaclRuleKey, NaclDecision)> {
        m.rules
            .iter()
            .filter(|r| r.1.class == class.to_be_bytes())
            .copied()
            .collect()
    };
    assert_eq!(
        rules_of(1),
        vec![
            (32, NaclRuleKey::new(1, 0, 0), DENY),
            (40, NaclRuleKey::new(1, PROTO_TCP, 0), DENY),
            (40, NaclRuleKey::new(1, PROTO_UDP, 0), DENY),
            (40, NaclRuleKey::new(1, PROTO_ICMP, 0), DENY),
        ]
    );
    let c2 = rules_of(2);
    assert!(c2.contains(&(56, NaclRuleKey::new(2, PROTO_TCP, 443), d(100, true))));
    // Class-level entry; TCP: 0-442 (7 blocks), 443, 444-65535 (9 blocks:
    // 444/14, 448/10, 512/7, 1024/6 .. 32768/1); UDP and ICMP one each.
    let tcp: Vec<_> = c2.iter().filter(|r| r.1.proto == PROTO_TCP).collect();
    assert_eq!(tcp.len(), 7 + 1 + 9);
    assert_eq!(c2.len(), 1 + 17 + 2);
}

/// Generated entry lists against the plain scan: every protocol, many
/// peers and values, overlapping CIDRs and ranges, allow and deny.
#[test]
fn precomputed_decisions_agree_with_a_first_match_scan() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let cidrs = [
        "0.0.0.0/0",
        "10.0.0.0/8",
        "10.0.0.0/16",
        "10.0.1.0/24",
        "10.0.1.7/32",
        "192.168.0.0/16",
    ];
    let peers = [
        Ipv4Addr::new(10, 0, 1, 7),
        Ipv4Addr::new(10, 0, 1, 8),
        Ipv4Addr::new(10, 0, 2, 1),
        Ipv4Addr::new(10, 9, 0, 1),
        Ipv4Addr::new(192, 168, 3, 3),
        Ipv4Addr::new(8, 8, 8, 8),
    ];
    let values = [
        0u16,
        1,
        21,
        22,
        23,
        79,
        80,
        443,
        1023,
        1024,
        3000,
        8 << 8,
        8 << 8 | 1,
        65535,
    ];
    for _ in 0..300 {
        let n = rnd(8) as usize;
        let entries: Vec<AclEntry> = (0..n)
            .map(|i| {
                let protocol =
                    [Protocol::Tcp, Protocol::Udp, Protocol::Icmp, Protocol::All][rnd(4) as usize];
                let lo = [0u16, 22, 80, 443, 1024, 3000][rnd(6) as usize];
                let hi = lo.saturating_add([0u16, 1, 100, 64511, 65535][rnd(5) as usize]);
                let icmp = IcmpMatch {
                    icmp_type: [None, Some(0), Some(8)][rnd(3) as usize],
                    code: [None, Some(0), Some(1)][rnd(3) as usize],
                };
                let l4 = matches!(protocol, Protocol::Tcp | Protocol::Udp);
                AclEntry {
                    rule: (i as u16 + 1) * 10,
                    allow: rnd(2) == 0,
                    protocol,
                    ports: if l4 { (lo, hi) } else { (0, 65535) },
                    icmp: if protocol == Protocol::Icmp {
                        icmp
                    } else {
                        IcmpMatch::ALL
                    },
                    cidr: net(cidrs[rnd(cidrs.len() as u64) as usize]),
                }
            })
            .collect();
        let t = dir_table(&entries);
        for peer in peers {
            for proto in NACL_PROTOS {
                for value in values {
                    assert_eq!(
                        lookup(&t, proto, peer, value),
                        scan(&entries, proto, peer, value),
                        "{entries:?} proto {proto} peer {peer} value {value}"
                    );
                }
            }
        }
    }
}
