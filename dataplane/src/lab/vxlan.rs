//! A node's VXLAN device (labs across nodes, docs/DATAPLANE.md "Labs
//! across nodes"): one collect-metadata device (`ip link add hl-vxlan type
//! vxlan external dstport 4789`) per node, in the node's fabric namespace.
//!
//! The device is created by a netlink socket in the namespace `lab up` runs
//! in (the machine's: on a VM the root namespace, in the tests a namespace
//! that stands for a machine) and born in the fabric namespace
//! (`IFLA_NET_NS_FD`). VXLAN keeps its UDP socket in the namespace it was
//! created from, so the encapsulated packets use the machine's underlay
//! (its addresses, routes and firewall) while the device, and the programs
//! on it, sit in the fabric with the hosts' veths. Nothing is added to the
//! machine's namespace but that socket; the device goes with the fabric.

use std::{net::Ipv4Addr, os::fd::AsRawFd};

use anyhow::{anyhow, Context, Result};
use dataplane_common::{VXLAN_OVERHEAD, VXLAN_PORT};
use rtnetlink::{LinkMessageBuilder, LinkVxlan};

use super::{link_index, netlink_session, set_up, with_netlink};
use crate::{model::Topology, netns};

/// The VXLAN device's name in every node's fabric namespace.
pub const TUNNEL_DEVICE: &str = "hl-vxlan";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelPlan {
    /// The device's MTU: the node's underlay MTU less VXLAN's overhead.
    pub mtu: u32,
    /// This node's underlay address.
    pub local: Ipv4Addr,
    /// The ENIs of other nodes (port indices), reached through the device.
    pub remote_enis: Vec<usize>,
}

impl TunnelPlan {
    /// The tunnel of the node `topo` is the view of (`Topology::for_node`),
    /// if the lab spans nodes. Pure.
    pub fn of(topo: &Topology) -> Option<TunnelPlan> {
        if !topo.spans_nodes() {
            return None;
        }
        let node = topo.local_node()?;
        Some(TunnelPlan {
            mtu: node.mtu - VXLAN_OVERHEAD,
            local: node.underlay_ip,
            remote_enis: (0..topo.enis.len())
                .filter(|&e| topo.eni_underlay(e).is_some())
                .collect(),
        })
    }
}

/// Creates the device in `fabric_ns` (from this process's namespace, where
/// its UDP socket stays) and sets it up.
pub(super) fn create(fabric_ns: &str, t: &TunnelPlan) -> Result<()> {
    let fabric = netns::open(fabric_ns)?;
    let mtu = t.mtu;
    let ns = fabric_ns.to_string();
    // A thread of its own, which has not entered any lab namespace: it is
    // in the namespace the process started in.
    std::thread::spawn(move || -> Result<()> {
        netlink_session("the machine's namespace", |handle| async move {
            let msg = LinkMessageBuilder::<LinkVxlan>::new(TUNNEL_DEVICE)
                .collect_metadata(true)
                .port(VXLAN_PORT)
                .mtu(mtu)
                .setns_by_fd(fabric.as_raw_fd())
                .build();
            handle.link().add(msg).execute().await.with_context(|| {
                format!(
                    "creating the VXLAN device {TUNNEL_DEVICE} (external, UDP port {VXLAN_PORT}, mtu {mtu}) into {ns}"
                )
            })
        })
    })
    .join()
    .map_err(|_| anyhow!("the thread creating {TUNNEL_DEVICE} panicked"))??;
    let what = format!("setting {TUNNEL_DEVICE} up in {fabric_ns}");
    with_netlink(fabric_ns, move |handle| async move {
        let idx = link_index(&handle, TUNNEL_DEVICE).await?;
        set_up(&handle, idx).await.context(what)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Hook, LabSettings, Node, Placement};

    #[test]
    fn a_node_of_a_lab_across_nodes_plans_its_device_and_the_remote_enis() {
        let mut t = Topology::empty(LabSettings::new("lab", Hook::Tc, 1400));
        t.placement = Placement {
            nodes: vec![
                Node {
                    id: "n1".into(),
                    underlay_ip: "192.168.77.1".parse().unwrap(),
                    mtu: 9000,
                },
                Node {
                    id: "n2".into(),
                    underlay_ip: "192.168.77.2".parse().unwrap(),
                    mtu: 1500,
                },
            ],
            host_nodes: [("a".to_string(), 0), ("b".to_string(), 1)].into(),
            local: None,
        };
        assert_eq!(TunnelPlan::of(&t), None, "no node chosen: no tunnel");
        let eni = |host: &str, ip: &str| crate::model::Eni {
            id: format!("eni-{ip}"),
            subnet: 0,
            ip: ip.parse().unwrap(),
            mac: [2, 0, 0, 0, 0, 1],
            security_groups: vec![],
            host: host.into(),
            mtu: None,
        };
        t.enis = vec![
            eni("a", "10.0.1.1"),
            eni("b", "10.0.1.2"),
            eni("a", "10.0.1.3"),
        ];
        let n1 = t.clone().for_node(Some("n1")).unwrap();
        assert_eq!(
            TunnelPlan::of(&n1),
            Some(TunnelPlan {
                mtu: 8950,
                local: "192.168.77.1".parse().unwrap(),
                remote_enis: vec![1],
            })
        );
        let n2 = t.for_node(Some("n2")).unwrap();
        assert_eq!(
            TunnelPlan::of(&n2),
            Some(TunnelPlan {
                mtu: 1450,
                local: "192.168.77.2".parse().unwrap(),
                remote_enis: vec![0, 2],
            })
        );
    }
}
