//! Labs across nodes: what a node compiles for the constructs whose parts
//! sit on several nodes (docs/DATAPLANE.md, "Labs across nodes"). A
//! PrivateLink flow is translated on the client's node; its NAT ports come
//! from that node's slice of the NLB's `source_ports` (`nat_slice`: node
//! `k` of `n` holds the ports `p % n == k`), so a reply's destination port
//! names the node that holds its translation (`nat_owner`). The kernel
//! finds that node through the rows compiled here: one per NLB node
//! address (`ENI_KIND_NLB_NODE`, the source of a translated packet from
//! another node) and one per node (`ENI_KIND_NODE`, its underlay address).

use dataplane_common::{
    nat_slice, node_addr, EniInfo, EniKey, ENI_KIND_LINK, ENI_KIND_NLB_NODE, ENI_KIND_NODE,
    NO_SG_SET, NO_SUBNET, TUNNEL_VPC,
};

use super::Compiled;
use crate::model::Topology;

/// This view's slice of a NAT port range `lo..=hi` (first, last, step):
/// the whole range on one node (or a view of no node); across nodes the
/// local node's residue class. `None`: the range holds none of its ports
/// (`check` refuses such a range).
pub fn local_nat_slice(topo: &Topology, (lo, hi): (u16, u16)) -> Option<(u16, u16, u16)> {
    let nodes = topo.placement.nodes.len() as u32;
    match topo.placement.local {
        Some(k) if nodes > 1 => nat_slice(lo, hi, k as u32, nodes),
        _ => nat_slice(lo, hi, 0, 1),
    }
}

/// The rows a view that reaches other nodes needs for translated flows:
/// every NLB node's address in its VPC (kind `ENI_KIND_NLB_NODE`, through
/// the VXLAN device) and every node (`ENI_KIND_NODE`); the rows of
/// translating addresses (NLB nodes, HTTP VPC links' ENIs) carry the number
/// of nodes in `eni`. Nothing for a view that reaches no other node.
pub fn rows(topo: &Topology, out: &mut Compiled) {
    let Some(vxlan) = out
        .ports
        .iter()
        .find(|(_, p)| p.vpc == TUNNEL_VPC)
        .map(|&(ifindex, _)| ifindex)
    else {
        return;
    };
    if !topo.spans_nodes() {
        return;
    }
    let n = topo.placement.nodes.len() as u32;
    // A translating address's row carries the number of nodes, from which
    // the kernel finds the node of a reply's port (`tunnel::owner`).
    for (_, e) in out.enis.iter_mut().filter(|(_, e)| e.kind == ENI_KIND_LINK) {
        e.eni = n;
    }
    // An HTTP VPC link's "NLB" has the link ENIs as its nodes: their rows
    // are the link's own (`ENI_KIND_LINK`, above).
    for nlb in topo.services.nlbs.iter().filter(|n| n.vpc_link.is_none()) {
        for nd in &nlb.nodes {
            out.enis.push((
                EniKey {
                    vpc: nlb.vpc as u32,
                    ip: nd.ip.octets(),
                },
                EniInfo {
                    eni: n,
                    ifindex: vxlan,
                    sg_set: NO_SG_SET,
                    kind: ENI_KIND_NLB_NODE,
                    underlay: [0; 4],
                    mac: [0; 6],
                    subnet: nd.subnet as u16,
                },
            ));
        }
    }
    let nodes = &topo.placement.nodes;
    for (k, n) in nodes.iter().enumerate() {
        let local = topo.placement.local == Some(k);
        out.enis.push((
            EniKey {
                vpc: TUNNEL_VPC,
                ip: node_addr(k as u32),
            },
            EniInfo {
                eni: nodes.len() as u32,
                ifindex: vxlan,
                sg_set: NO_SG_SET,
                kind: ENI_KIND_NODE,
                underlay: if local {
                    [0; 4]
                } else {
                    n.underlay_ip.octets()
                },
                mac: [0; 6],
                subnet: NO_SUBNET,
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use dataplane_common::{node_addr, ENI_KIND_NLB_NODE, ENI_KIND_NODE, TUNNEL_VPC};

    use crate::compile::compile;
    use crate::config::test_support::{parsed, with_pl};

    /// The PrivateLink fixture with web1 on node n1 and web2 on n2.
    fn two_nodes() -> String {
        with_pl(
            "\n[lab]\nname = \"pl\"\nmtu = 1450\n\n[[node]]\nid = \"n1\"\nunderlay_ip = \"192.168.9.1\"\n\n\
             [[node]]\nid = \"n2\"\nunderlay_ip = \"192.168.9.2\"\n",
        )
        .replacen("host = \"web1\"", "host = \"web1\"\nnode = \"n1\"", 1)
        .replacen("host = \"web2\"", "host = \"web2\"\nnode = \"n2\"", 1)
    }

    #[test]
    fn each_node_translates_with_its_slice_and_knows_every_node() {
        let topo = parsed(&two_nodes());
        for (k, node, other) in [(0u32, "n1", [192, 168, 9, 2]), (1, "n2", [192, 168, 9, 1])] {
            let view = topo.clone().for_node(Some(node)).unwrap();
            // The other node's ENI leads into the VXLAN device (ifindex 99).
            let ifx: Vec<u32> = if k == 0 { vec![11, 99] } else { vec![99, 12] };
            let c = compile(&view, &ifx).unwrap();
            let ep = c.endpoints[0];
            assert_eq!(
                (ep.nat_lo, ep.nat_hi, ep.nat_step),
                if k == 0 {
                    (1024, 65534, 2)
                } else {
                    (1025, 65535, 2)
                }
            );
            let rows: Vec<_> = c
                .enis
                .iter()
                .filter(|(_, e)| e.kind == ENI_KIND_NLB_NODE || e.kind == ENI_KIND_NODE)
                .map(|(key, e)| {
                    (
                        key.vpc, key.ip, e.kind, e.ifindex, e.underlay, e.eni, e.subnet,
                    )
                })
                .collect();
            let mine = [0; 4];
            let nodes = |i: u32| if i == k { mine } else { other };
            assert_eq!(
                rows,
                [
                    (1, [10, 1, 1, 50], ENI_KIND_NLB_NODE, 99, mine, 2, 1),
                    (1, [10, 1, 2, 50], ENI_KIND_NLB_NODE, 99, mine, 2, 2),
                    (
                        TUNNEL_VPC,
                        node_addr(0),
                        ENI_KIND_NODE,
                        99,
                        nodes(0),
                        2,
                        u16::MAX
                    ),
                    (
                        TUNNEL_VPC,
                        node_addr(1),
                        ENI_KIND_NODE,
                        99,
                        nodes(1),
                        2,
                        u16::MAX
                    ),
                ]
            );
        }
        // One node: the whole range, no rows for nodes.
        let c = compile(&parsed(&with_pl("")), &[11, 12]).unwrap();
        let ep = c.endpoints[0];
        assert_eq!((ep.nat_lo, ep.nat_hi, ep.nat_step), (1024, 65535, 1));
        assert!(c
            .enis
            .iter()
            .all(|(_, e)| e.kind != ENI_KIND_NLB_NODE && e.kind != ENI_KIND_NODE));
    }
}
