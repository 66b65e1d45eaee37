//! Placement: which node of a lab runs which host (`[[node]]`, the ENIs'
//! `node`), and the view of the topology one node serves
//! (docs/DATAPLANE.md, "Labs across nodes").

use std::{collections::BTreeMap, net::Ipv4Addr};

use super::Topology;

/// A machine that runs part of a lab: its own fabric, agent and hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// The address other nodes send its VXLAN packets to.
    pub underlay_ip: Ipv4Addr,
    /// The underlay's MTU (default 1500): the lab's MTU plus the VXLAN
    /// overhead must fit.
    pub mtu: u32,
}

/// The default underlay MTU of a node.
pub const DEFAULT_UNDERLAY_MTU: u32 = 1500;

/// The lab's nodes and where each host runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// `[[node]]` in file order; empty: one implicit node runs everything.
    pub nodes: Vec<Node>,
    /// Host -> index into `nodes` (every host, when there are nodes).
    pub host_nodes: BTreeMap<String, usize>,
    /// The node this topology is the view of ([`Topology::for_node`]);
    /// `None`: every host is local.
    pub local: Option<usize>,
}

impl Topology {
    /// The view node `id` serves: the same topology, named after the node
    /// when the lab has several (`<lab>-<node>`: its namespaces, pins, run
    /// files), with the node marked local. `None` picks the only node; a
    /// lab without `[[node]]` is served whole. Errors name the lab's nodes.
    pub fn for_node(mut self, id: Option<&str>) -> Result<Topology, String> {
        let nodes = &self.placement.nodes;
        let names = || {
            nodes
                .iter()
                .map(|n| n.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let idx = match (id, nodes.len()) {
            (None, 0) => return Ok(self),
            (Some(id), 0) => {
                return Err(format!(
                    "lab {} has no [[node]], so no node {id:?}: leave --node out",
                    self.lab.name
                ))
            }
            (None, 1) => 0,
            (None, _) => {
                return Err(format!(
                    "lab {} runs on several nodes ({}): give --node ID",
                    self.lab.name,
                    names()
                ))
            }
            (Some(id), _) => nodes.iter().position(|n| n.id == id).ok_or_else(|| {
                format!(
                    "lab {} has no node {id:?}; its nodes are: {}",
                    self.lab.name,
                    names()
                )
            })?,
        };
        if nodes.len() > 1 {
            self.lab.name = format!("{}-{}", self.lab.name, nodes[idx].id);
        }
        self.placement.local = Some(idx);
        Ok(self)
    }

    /// The view of the node `host` runs on (the whole lab when it has no
    /// nodes, or no such host): where `lab exec` finds the host.
    pub fn for_host(self, host: &str) -> Topology {
        let id = self
            .placement
            .host_nodes
            .get(host)
            .map(|&n| self.placement.nodes[n].id.clone());
        match id {
            Some(id) => self.clone().for_node(Some(&id)).unwrap_or(self),
            None => self,
        }
    }

    /// Does `host` run on the node this view is of?
    pub fn is_local_host(&self, host: &str) -> bool {
        match self.placement.local {
            None => true,
            Some(l) => self.placement.host_nodes.get(host) == Some(&l),
        }
    }

    /// The underlay address of the node ENI `eni` runs on, when that is
    /// another node than this view's.
    pub fn eni_underlay(&self, eni: usize) -> Option<Ipv4Addr> {
        let host = &self.enis[eni].host;
        if self.is_local_host(host) {
            return None;
        }
        let n = self.placement.host_nodes.get(host)?;
        Some(self.placement.nodes[*n].underlay_ip)
    }

    /// The node this view is of, if the lab has `[[node]]`s.
    pub fn local_node(&self) -> Option<&Node> {
        self.placement.local.map(|l| &self.placement.nodes[l])
    }

    /// Does this view reach other nodes (a VXLAN device in its fabric)?
    pub fn spans_nodes(&self) -> bool {
        self.placement.local.is_some() && self.placement.nodes.len() > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Hook, LabSettings};

    fn two_nodes() -> Topology {
        let mut t = Topology::empty(LabSettings::new("lab", Hook::Tc, 1400));
        t.placement = Placement {
            nodes: vec![
                Node {
                    id: "n1".into(),
                    underlay_ip: "192.168.50.1".parse().unwrap(),
                    mtu: 1500,
                },
                Node {
                    id: "n2".into(),
                    underlay_ip: "192.168.50.2".parse().unwrap(),
                    mtu: 1500,
                },
            ],
            host_nodes: [("a".to_string(), 0), ("b".to_string(), 1)].into(),
            local: None,
        };
        t
    }

    #[test]
    fn a_node_view_is_named_after_the_node_and_knows_what_is_local() {
        let t = two_nodes().for_node(Some("n2")).unwrap();
        assert_eq!(t.lab.name, "lab-n2");
        assert_eq!(t.placement.local, Some(1));
        assert!(t.is_local_host("b"));
        assert!(!t.is_local_host("a"));
        assert_eq!(t.local_node().unwrap().id, "n2");
        assert!(t.spans_nodes());
    }

    #[test]
    fn node_choice_errors_name_the_nodes() {
        assert_eq!(
            two_nodes().for_node(None).unwrap_err(),
            "lab lab runs on several nodes (n1, n2): give --node ID"
        );
        assert_eq!(
            two_nodes().for_node(Some("n3")).unwrap_err(),
            "lab lab has no node \"n3\"; its nodes are: n1, n2"
        );
        let one = Topology::empty(LabSettings::new("lab", Hook::Tc, 1500));
        assert_eq!(
            one.clone().for_node(Some("n1")).unwrap_err(),
            "lab lab has no [[node]], so no node \"n1\": leave --node out"
        );
        let same = one.clone().for_node(None).unwrap();
        assert_eq!(same, one);
        assert!(same.is_local_host("anything"));
        assert!(!same.spans_nodes());
    }

    #[test]
    fn a_single_node_keeps_the_lab_name() {
        let mut t = two_nodes();
        t.placement.nodes.truncate(1);
        t.placement.host_nodes = [("a".to_string(), 0)].into();
        let v = t.for_node(None).unwrap();
        assert_eq!(v.lab.name, "lab");
        assert!(!v.spans_nodes());
        assert!(v.is_local_host("a"));
    }
}
