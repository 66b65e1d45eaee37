//! Labs across nodes: `[[node]]` (`id`, `underlay_ip`, optional underlay
//! `mtu`) and each ENI's `node`, the node its host runs on. Pass 1 reads
//! the nodes; `resolve_nodes` places every host and checks what a lab
//! spread over nodes needs (docs/DATAPLANE.md, "Labs across nodes"):
//! unique ids and underlay addresses, one node per host, the lab's MTU plus
//! VXLAN's 50 bytes within each node's underlay MTU, the TC hook (an XDP
//! frame cannot carry a tunnel key), and none of the constructs that are
//! not built across nodes yet.

use std::{collections::BTreeMap, net::Ipv4Addr, ops::RangeInclusive};

use dataplane_common::VXLAN_OVERHEAD;

use super::diagnostics::Checker;
use super::network::EniIn;
use super::tree::{Sp, Tbl, Val};
use super::values::{parse_ports, valid_name};
use crate::model::{self, Hook, LabSettings, Placement, DEFAULT_UNDERLAY_MTU};

pub(super) const NODE_KEYS: &[&str] = &["id", "underlay_ip", "mtu"];

/// What a node's underlay MTU may be (IPv4's minimum to a jumbo frame).
const UNDERLAY_MTU_RANGE: RangeInclusive<i64> = 576..=9216;

/// The longest node id: `<lab>-<node>` names the node's namespaces and pins.
const NODE_ID_MAX: usize = 8;

/// Sections a lab across several nodes cannot hold yet: their
/// translations are built for one node. PrivateLink (NLBs, target groups,
/// endpoint services, endpoints) and VPC links to NLBs are built across
/// nodes.
const ONE_NODE_ONLY: &[&str] = &[
    "internet_gateway",
    "internet",
    "nat_gateway",
    "alb",
    "cloud_map_service",
];

/// What a `[[node]]` says.
pub(super) struct NodeIn {
    pub(super) path: String,
    pub(super) pos: usize,
    pub(super) id: Option<Sp<String>>,
    pub(super) underlay_ip: Option<Sp<Ipv4Addr>>,
    pub(super) mtu: Option<Sp<u32>>,
}

impl<'s> Checker<'s> {
    /// Pass 1: every `[[node]]` on its own.
    pub(super) fn nodes(&mut self, root: &Tbl<'_>) -> Vec<NodeIn> {
        let mut out = Vec::new();
        for (path, node) in self.section(root, "node") {
            let mut n = NodeIn {
                pos: node.pos,
                path,
                id: None,
                underlay_ip: None,
                mtu: None,
            };
            if let Some(t) = self.table(node, &n.path, "a table", NODE_KEYS) {
                if let Some(id) = self.req_str(&t, "id", "a node id such as \"n1\"") {
                    if valid_name(id.v, NODE_ID_MAX) {
                        n.id = Some(Sp {
                            v: id.v.to_string(),
                            pos: id.pos,
                        });
                    } else {
                        self.err(
                            id.pos,
                            &t.field("id"),
                            format!(
                                "invalid node id {:?} (1 to {NODE_ID_MAX} characters from a-z, 0-9 and '-', starting with a letter or digit)",
                                id.v
                            ),
                        );
                    }
                }
                n.underlay_ip = self.ipv4(&t, "underlay_ip");
                if let Some(e) = t.get("mtu") {
                    n.mtu = self
                        .int(
                            &e.node,
                            &t.field("mtu"),
                            "an integer MTU such as 1500",
                            "MTU",
                            UNDERLAY_MTU_RANGE,
                        )
                        .map(|m| Sp {
                            v: m.v as u32,
                            pos: m.pos,
                        });
                }
            }
            out.push(n);
        }
        out
    }

    /// Pass 2: the nodes, and the node of every host.
    pub(super) fn resolve_nodes(
        &mut self,
        root: &Tbl<'_>,
        lab: &LabSettings,
        nodes: Vec<NodeIn>,
        enis: &[EniIn<'_>],
    ) -> Placement {
        let mut placement = Placement::default();
        let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_ip: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
        let several = nodes.len() > 1;
        for (i, n) in nodes.iter().enumerate() {
            let mtu = n.mtu.map_or(DEFAULT_UNDERLAY_MTU, |m| m.v);
            if let Some(id) = &n.id {
                if let Some(&j) = by_id.get(&id.v) {
                    self.err(
                        id.pos,
                        &format!("{}.id", n.path),
                        format!("node id {:?} is already node[{j}]'s", id.v),
                    );
                } else {
                    by_id.insert(id.v.clone(), i);
                }
            }
            if let Some(ip) = n.underlay_ip {
                if let Some(&j) = by_ip.get(&ip.v) {
                    self.err(
                        ip.pos,
                        &format!("{}.underlay_ip", n.path),
                        format!(
                            "underlay address {} is already node[{j}]'s: each node needs its own",
                            ip.v
                        ),
                    );
                } else {
                    by_ip.insert(ip.v, i);
                }
            }
            if several && lab.mtu + VXLAN_OVERHEAD > mtu {
                self.err(
                    n.mtu.map_or(n.pos, |m| m.pos),
                    &format!("{}.mtu", n.path),
                    format!(
                        "the lab's mtu {} plus VXLAN's {VXLAN_OVERHEAD} bytes is {}, over this node's underlay MTU {mtu}{}: \
                         lower [lab] mtu to {} or raise the underlay's",
                        lab.mtu,
                        lab.mtu + VXLAN_OVERHEAD,
                        if n.mtu.is_none() { " (the default)" } else { "" },
                        mtu.saturating_sub(VXLAN_OVERHEAD)
                    ),
                );
            }
            placement.nodes.push(model::Node {
                id: n.id.as_ref().map_or_else(String::new, |id| id.v.clone()),
                underlay_ip: n.underlay_ip.map_or(Ipv4Addr::UNSPECIFIED, |ip| ip.v),
                mtu,
            });
        }
        let names = || {
            let ids: Vec<&str> = by_id.keys().map(String::as_str).collect();
            ids.join(", ")
        };
        // host -> (node, the ENI that placed it)
        let mut hosts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (i, e) in enis.iter().enumerate() {
            let field = format!("{}.node", e.path);
            let node = match (e.node, nodes.len()) {
                (None, 0) => continue,
                (Some(n), 0) => {
                    self.err(
                        n.pos,
                        &field,
                        format!("no [[node]] in this file, so no node {:?}: add the [[node]] entries or leave node out", n.v),
                    );
                    continue;
                }
                (None, 1) => 0,
                (None, _) => {
                    self.err(
                        e.tbl_pos,
                        &field,
                        format!(
                            "missing: the lab runs on several nodes ({}); say which runs host {:?}",
                            names(),
                            e.host
                        ),
                    );
                    continue;
                }
                (Some(n), _) => match by_id.get(n.v) {
                    Some(&k) => k,
                    None => {
                        self.err(
                            n.pos,
                            &field,
                            format!("unknown node {:?} (the lab's nodes: {})", n.v, names()),
                        );
                        continue;
                    }
                },
            };
            if e.host.is_empty() {
                continue;
            }
            match hosts.get(e.host.as_str()) {
                Some(&(k, j)) if k != node => self.err(
                    e.node.map_or(e.tbl_pos, |n| n.pos),
                    &field,
                    format!(
                        "host {:?} runs on node {} (eni[{j}]): every ENI of a host is on its node",
                        e.host, placement.nodes[k].id
                    ),
                ),
                Some(_) => {}
                None => {
                    hosts.insert(e.host.as_str(), (node, i));
                }
            }
        }
        placement.host_nodes = hosts
            .into_iter()
            .map(|(h, (n, _))| (h.to_string(), n))
            .collect();
        if several {
            self.one_node_only(root, lab);
            self.nat_slices(root, nodes.len());
        }
        placement
    }

    /// Each node translates with its own slice of an NLB's `source_ports`
    /// (node `k` of `n`: the ports `p % n == k`), so the range needs a port
    /// for every node.
    fn nat_slices(&mut self, root: &Tbl<'_>, nodes: usize) {
        let Some(Val::Array(nlbs)) = root.get("nlb").map(|e| &e.node.val) else {
            return;
        };
        for (i, nlb) in nlbs.iter().enumerate() {
            let Val::Table(entries) = &nlb.val else {
                continue;
            };
            let Some(e) = entries.iter().find(|x| x.key == "source_ports") else {
                continue;
            };
            let Ok((lo, hi)) = parse_ports(&e.node.val) else {
                continue;
            };
            let ports = hi as usize - lo as usize + 1;
            if lo >= 1 && ports < nodes {
                self.err(
                    e.node.pos,
                    &format!("nlb[{i}].source_ports"),
                    format!(
                        "{lo}-{hi} is {ports} port{} for the lab's {nodes} nodes: each node translates with its own slice \
                         (node k of n takes the ports p with p % n == k), so give at least {nodes}",
                        if ports == 1 { "" } else { "s" }
                    ),
                );
            }
        }
    }

    /// What a lab across several nodes cannot hold yet.
    fn one_node_only(&mut self, root: &Tbl<'_>, lab: &LabSettings) {
        if lab.hook == Hook::Xdp {
            let pos = root
                .get("lab")
                .and_then(|e| match &e.node.val {
                    Val::Table(entries) => entries.iter().find(|x| x.key == "hook"),
                    _ => None,
                })
                .map_or(0, |h| h.node.pos);
            self.err(
                pos,
                "lab.hook",
                "a lab across several nodes needs hook = \"tc\": an XDP frame cannot carry the VXLAN tunnel key",
            );
        }
        for key in ONE_NODE_ONLY {
            if let Some(e) = root.get(key) {
                self.err(
                    e.pos,
                    key,
                    format!(
                        "not built across nodes yet: a lab with several [[node]]s holds VPCs, subnets, \
                         security groups, network ACLs, route tables, peering, ENIs, PrivateLink and VPC links to NLBs; keep {key} in a one-node lab"
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
