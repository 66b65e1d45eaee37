//! `dataplane flows`: the flow table as a person reads it: each flow once,
//! with its original and translated tuples, state, age, idle time and the
//! packets and IPv4 bytes each direction carried.

use std::{fmt::Write as _, net::Ipv4Addr, path::Path};

use anyhow::Result;
use aya::maps::Map;
use dataplane_common::{
    maps, FlowKey, FLOW_F_DNAT, FLOW_F_REPLY, FLOW_F_SNAT, FLOW_F_UNTRACKED,
    FLOW_F_UNTRACKED_RECEIVER, FLOW_F_UNTRACKED_SENDER, FLOW_STATE_NAMES,
};

use crate::{
    conntrack::{self, FlowRow},
    model::Topology,
};

/// One tracked flow, from its forward entry (and the reply entry's tuple).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub vpc: String,
    pub proto: String,
    /// As the client sent it.
    pub original: String,
    /// As the server receives it (equal to `original` without NAT).
    pub translated: String,
    /// The managed interfaces the flow passes (the endpoint ENI it is
    /// addressed to, the NLB node or VPC link ENI that translates it), by
    /// the ids their flow log records carry; `-` for none.
    pub via: String,
    pub state: &'static str,
    /// `tracked`, or untracked (EC2 user guide, "Untracked connections")
    /// at the receiver's ENI (`untracked-dst`), the sender's
    /// (`untracked-src`) or both (`untracked`): the rules judge its packets.
    pub tracking: &'static str,
    pub age_s: u64,
    pub idle_s: u64,
    /// Forward (client to server) direction: packets, IPv4 bytes.
    pub fwd: (u64, u64),
    /// Reply direction (0, 0 if its entry is gone).
    pub rev: (u64, u64),
}

fn proto_name(p: u8) -> String {
    crate::model::Protocol::from_number(p).name()
}

/// The `tracking` column of a forward entry's flags.
pub fn tracking(flags: u32) -> &'static str {
    match flags & FLOW_F_UNTRACKED {
        0 => "tracked",
        FLOW_F_UNTRACKED_RECEIVER => "untracked-dst",
        FLOW_F_UNTRACKED_SENDER => "untracked-src",
        _ => "untracked",
    }
}

fn endpoint(ip: [u8; 4], port: [u8; 2]) -> String {
    format!("{}:{}", Ipv4Addr::from(ip), u16::from_be_bytes(port))
}

/// Pure: the flows of a table dump, forward entries only, sorted.
pub fn flows(topo: &Topology, entries: &[(FlowKey, FlowRow)], now_ns: u64) -> Vec<Flow> {
    let vpc = |i: u32| {
        topo.vpcs.get(i as usize).map_or_else(
            || match i {
                dataplane_common::INTERNET_VPC => "internet".to_string(),
                _ => format!("vpc#{i}"),
            },
            |v| v.id.clone(),
        )
    };
    let by_key: std::collections::HashMap<&FlowKey, &FlowRow> =
        entries.iter().map(|(k, e)| (k, e)).collect();
    let mut out: Vec<Flow> = entries
        .iter()
        .filter(|(_, e)| e.flags & FLOW_F_REPLY == 0)
        .map(|(k, e)| {
            let nat = e.flags & (FLOW_F_SNAT | FLOW_F_DNAT) != 0;
            let via: Vec<String> = [
                topo.managed_at(k.vpc as usize, Ipv4Addr::from(k.dst)),
                nat.then(|| topo.managed_at(e.out_vpc as usize, Ipv4Addr::from(e.new_src)))
                    .flatten(),
            ]
            .into_iter()
            .flatten()
            .map(|m| m.id)
            .collect();
            let rev = by_key
                .get(&e.peer_key(k.proto))
                .map_or((0, 0), |r| (r.totals.packets, r.totals.bytes));
            Flow {
                vpc: if e.out_vpc != k.vpc {
                    format!("{}->{}", vpc(k.vpc), vpc(e.out_vpc))
                } else {
                    vpc(k.vpc)
                },
                proto: proto_name(k.proto),
                original: format!(
                    "{} -> {}",
                    endpoint(k.src, k.sport),
                    endpoint(k.dst, k.dport)
                ),
                translated: if nat {
                    format!(
                        "{} -> {}",
                        endpoint(e.new_src, e.new_sport),
                        endpoint(e.new_dst, e.new_dport)
                    )
                } else {
                    "-".into()
                },
                via: if via.is_empty() {
                    "-".into()
                } else {
                    via.join(",")
                },
                state: FLOW_STATE_NAMES
                    .get(e.state as usize)
                    .copied()
                    .unwrap_or("?"),
                tracking: tracking(e.flags),
                age_s: now_ns.saturating_sub(e.created_ns) / 1_000_000_000,
                idle_s: now_ns.saturating_sub(e.last_seen_ns()) / 1_000_000_000,
                fwd: (e.totals.packets, e.totals.bytes),
                rev,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.vpc, &a.original).cmp(&(&b.vpc, &b.original)));
    out
}

pub fn render(flows: &[Flow]) -> String {
    const HEAD: [&str; 13] = [
        "vpc",
        "proto",
        "original",
        "translated",
        "via",
        "state",
        "tracking",
        "age_s",
        "idle_s",
        "fwd_pkts",
        "fwd_bytes",
        "rev_pkts",
        "rev_bytes",
    ];
    // The text columns (the first seven) are left-aligned, the numbers right.
    const LEFT: usize = 7;
    let rows: Vec<[String; 13]> = flows
        .iter()
        .map(|f| {
            [
                f.vpc.clone(),
                f.proto.clone(),
                f.original.clone(),
                f.translated.clone(),
                f.via.clone(),
                f.state.to_string(),
                f.tracking.to_string(),
                f.age_s.to_string(),
                f.idle_s.to_string(),
                f.fwd.0.to_string(),
                f.fwd.1.to_string(),
                f.rev.0.to_string(),
                f.rev.1.to_string(),
            ]
        })
        .collect();
    // Each column as wide as its widest cell, so long VPC ids or
    // addresses never push the columns after them out of line.
    let width: Vec<usize> = (0..HEAD.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .fold(HEAD[c].len(), usize::max)
        })
        .collect();
    let mut s = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let text: Vec<String> = cells
            .enumerate()
            .map(|(c, v)| {
                if c < LEFT {
                    format!("{v:<w$}", w = width[c])
                } else {
                    format!("{v:>w$}", w = width[c])
                }
            })
            .collect();
        let _ = writeln!(s, "{}", text.join(" ").trim_end());
    };
    line(&mut HEAD.iter().copied());
    for r in &rows {
        line(&mut r.iter().map(String::as_str));
    }
    let _ = writeln!(s, "{} flows", flows.len());
    s
}

/// Reads the running agent's pinned flow table.
pub fn read_pinned(dir: &Path) -> Result<Vec<(FlowKey, FlowRow)>> {
    let flows = Map::HashMap(crate::pins::open_pinned(dir, maps::FLOWS)?);
    let counts = Map::PerCpuHashMap(crate::pins::open_pinned(dir, maps::FLOW_COUNTS)?);
    conntrack::read_rows(&flows, &counts)
}

/// `dataplane flows` with an optional substring filter over the rendered row.
pub fn show(topo: &Topology, dir: &Path, filter: Option<&str>) -> Result<String> {
    let all = flows(topo, &read_pinned(dir)?, conntrack::monotonic_ns());
    let kept: Vec<Flow> = all
        .into_iter()
        .filter(|f| {
            filter.is_none_or(|q| {
                [
                    f.vpc.as_str(),
                    &f.proto,
                    &f.original,
                    &f.translated,
                    &f.via,
                    f.state,
                    f.tracking,
                ]
                .iter()
                .any(|v| v.contains(q))
            })
        })
        .collect();
    Ok(render(&kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_str, DEFAULT_CONFIG};
    use dataplane_common::{FlowCounters, FlowEntry, PROTO_TCP};

    #[test]
    fn a_nated_flow_shows_both_tuples_once() {
        let topo = parse_str(DEFAULT_CONFIG, "default.toml").unwrap();
        let k = FlowKey {
            vpc: 1,
            src: [10, 0, 1, 10],
            dst: [10, 0, 1, 100],
            sport: 40000u16.to_be_bytes(),
            dport: 80u16.to_be_bytes(),
            proto: PROTO_TCP,
            icmp_reply: 0,
            _pad1: 0,
        };
        let fwd = FlowEntry {
            flags: FLOW_F_SNAT | FLOW_F_DNAT,
            out_vpc: 2,
            state: 2,
            new_src: [10, 0, 1, 50],
            new_dst: [10, 0, 1, 20],
            new_sport: 2000u16.to_be_bytes(),
            new_dport: 80u16.to_be_bytes(),
            created_ns: 1_000_000_000,
            ..Default::default()
        };
        let rev = FlowEntry {
            flags: FLOW_F_REPLY | FLOW_F_SNAT | FLOW_F_DNAT,
            ..fwd
        };
        // Counted on two CPUs: the table shows the sums.
        let cpu = |packets, bytes, last_seen_ns| FlowCounters {
            packets,
            bytes,
            last_seen_ns,
            ..Default::default()
        };
        let fwd_row = FlowRow::new(
            fwd,
            vec![cpu(4, 400, 4_000_000_000), cpu(2, 120, 3_000_000_000)],
        );
        let rev_row = FlowRow::new(rev, vec![cpu(1, 600, 2_000_000_000), cpu(3, 1200, 0)]);
        let endpoint = crate::model::managed_eni_id("vpce-execute-api", "subnet-b1");
        let node = crate::model::managed_eni_id("nlb-api", "subnet-api1");
        let f = flows(
            &topo,
            &[(k, fwd_row), (fwd.peer_key(k.proto), rev_row)],
            10_000_000_000,
        );
        assert_eq!(
            f,
            vec![Flow {
                vpc: "vpc-b->vpc-api".into(),
                proto: "tcp".into(),
                original: "10.0.1.10:40000 -> 10.0.1.100:80".into(),
                translated: "10.0.1.50:2000 -> 10.0.1.20:80".into(),
                via: format!("{endpoint},{node}"),
                state: "established",
                tracking: "tracked",
                age_s: 9,
                idle_s: 6,
                fwd: (6, 520),
                rev: (4, 1800),
            }]
        );
        let text = render(&f);
        assert_eq!(
            text,
            format!(
                "vpc            proto original                         translated                     \
                 via{pad} state       tracking age_s idle_s fwd_pkts fwd_bytes rev_pkts rev_bytes\n\
                 vpc-b->vpc-api tcp   10.0.1.10:40000 -> 10.0.1.100:80 10.0.1.50:2000 -> 10.0.1.20:80 \
                 {endpoint},{node} established tracked      9      6        6       520        4      1800\n\
                 1 flows\n",
                pad = " ".repeat(2 * 21 + 1 - 3)
            )
        );
        // A long VPC column widens its column; the others stay in line.
        let long = Flow {
            vpc: "vpc-0123456789abcdef0->vpc-0fedcba9876543210".into(),
            ..f[0].clone()
        };
        let text = render(&[f[0].clone(), long]);
        let starts: Vec<usize> = text
            .lines()
            .take(3)
            .map(|l| l.find(" tcp ").or_else(|| l.find(" proto ")).unwrap())
            .collect();
        assert_eq!(starts, [44, 44, 44], "{text}");
    }

    #[test]
    fn a_flow_through_the_internet_gateway_names_the_internet() {
        let topo = parse_str(DEFAULT_CONFIG, "default.toml").unwrap();
        let k = FlowKey::new(
            0,
            [10, 0, 1, 20],
            [203, 0, 113, 10],
            40000u16.to_be_bytes(),
            80u16.to_be_bytes(),
            PROTO_TCP,
        );
        let fwd = FlowEntry {
            flags: FLOW_F_SNAT,
            out_vpc: dataplane_common::INTERNET_VPC,
            new_src: [203, 0, 113, 20],
            new_dst: [203, 0, 113, 10],
            new_sport: 40000u16.to_be_bytes(),
            new_dport: 80u16.to_be_bytes(),
            ..Default::default()
        };
        let f = flows(&topo, &[(k, FlowRow::new(fwd, Vec::new()))], 0);
        assert_eq!(
            (f[0].vpc.as_str(), f[0].translated.as_str()),
            ("vpc-a->internet", "203.0.113.20:40000 -> 203.0.113.10:80")
        );
    }

    #[test]
    fn tracking_names_the_untracked_end() {
        assert_eq!(tracking(0), "tracked");
        assert_eq!(tracking(FLOW_F_UNTRACKED_RECEIVER), "untracked-dst");
        assert_eq!(
            tracking(FLOW_F_UNTRACKED_SENDER | FLOW_F_SNAT),
            "untracked-src"
        );
        assert_eq!(tracking(FLOW_F_UNTRACKED), "untracked");
        assert_eq!(proto_name(47), "gre (47)");
        assert_eq!(proto_name(253), "253");
    }
}
