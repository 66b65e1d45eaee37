//! Labs across nodes (docs/DATAPLANE.md, "Labs across nodes"): what the
//! kernel's `tunnel` stage and the agent's VXLAN device agree on.

/// The VPC of the port row of a node's VXLAN device: packets from other
/// nodes of the lab, each in the VPC its VNI names ([`vni_of`]).
pub const TUNNEL_VPC: u32 = 0x7fff_fff2;

/// The UDP port VXLAN uses (IANA, RFC 7348).
pub const VXLAN_PORT: u16 = 4789;

/// What VXLAN adds to every frame on the underlay: outer IPv4 (20), UDP
/// (8), VXLAN (8) and the inner Ethernet header (14) the host MTU does not
/// count.
pub const VXLAN_OVERHEAD: u32 = 50;

/// The VNI a packet sent in VPC `vpc` (an index, untagged) carries between
/// nodes: the VPC plus one, so VNI 0 is never used. The receiving node
/// looks the packet up in the same VPC, so two VPCs that reuse a CIDR stay
/// apart across nodes as they do on one.
#[inline(always)]
pub const fn vni_of(vpc: u32) -> u32 {
    vpc + 1
}

/// The VPC a VNI names ([`vni_of`]'s inverse); `None` for VNI 0.
#[inline(always)]
pub const fn vpc_of_vni(vni: u32) -> Option<u32> {
    if vni == 0 {
        None
    } else {
        Some(vni - 1)
    }
}

/// `HL_ENIS` kind of an NLB node's address in the NLB's VPC, compiled only
/// in a lab across nodes: the source of a translated packet another node
/// sends (PrivateLink: the translation is made on the client's node), and
/// the destination of the target's replies, which go back to the node that
/// holds the translation ([`nat_owner`]). Its `eni` is the number of
/// nodes (so is an HTTP VPC link ENI's, `ENI_KIND_LINK`, across nodes).
pub const ENI_KIND_NLB_NODE: u32 = 5;

/// `HL_ENIS` kind of the row {[`TUNNEL_VPC`], [`node_addr`]`(k)`}: node `k`
/// of the lab (file order), `underlay` its address (0.0.0.0 for the node
/// the row is compiled for), `eni` the number of nodes.
pub const ENI_KIND_NODE: u32 = 6;

/// The address of the `HL_ENIS` row of node `k` ([`ENI_KIND_NODE`]).
#[inline(always)]
pub const fn node_addr(k: u32) -> [u8; 4] {
    k.to_be_bytes()
}

/// The node that holds the translation a NAT port belongs to: of `nodes`
/// nodes, node `k` translates with the ports `p` where `p % nodes == k`, so
/// any node tells a reply's owner from its destination port alone.
#[inline(always)]
pub const fn nat_owner(port: u16, nodes: u32) -> u32 {
    if nodes == 0 {
        0
    } else {
        port as u32 % nodes
    }
}

/// Node `node`'s slice of the NAT port range `lo..=hi` among `nodes` nodes
/// (one node: the whole range): its first and last port and the step
/// between its ports, `None` when the range holds none of its ports.
pub const fn nat_slice(lo: u16, hi: u16, node: u32, nodes: u32) -> Option<(u16, u16, u16)> {
    if nodes <= 1 {
        return if lo <= hi { Some((lo, hi, 1)) } else { None };
    }
    if node >= nodes || nodes > u16::MAX as u32 || lo > hi {
        return None;
    }
    let skip = (node + nodes - lo as u32 % nodes) % nodes;
    let first = lo as u32 + skip;
    if first > hi as u32 {
        return None;
    }
    let last = first + (hi as u32 - first) / nodes * nodes;
    Some((first as u16, last as u16, nodes as u16))
}

/// How many ports the slice `lo..=hi` by `step` holds (`step` 0 counts
/// as 1; an empty slice: 0).
#[inline(always)]
pub const fn nat_ports(lo: u16, hi: u16, step: u16) -> u32 {
    let step = if step == 0 { 1 } else { step as u32 };
    if lo > hi {
        0
    } else {
        (hi as u32 - lo as u32) / step + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vni_names_its_vpc_and_zero_names_none() {
        assert_eq!(vni_of(0), 1);
        assert_eq!(vpc_of_vni(vni_of(41)), Some(41));
        assert_eq!(vpc_of_vni(0), None);
        // The largest VPC index a 24-bit VNI carries.
        assert_eq!(vni_of(0xff_fffe), 0xff_ffff);
    }

    #[test]
    fn each_node_gets_a_disjoint_slice_and_the_port_names_its_owner() {
        // One node: the whole range, step 1.
        assert_eq!(nat_slice(1024, 65535, 0, 1), Some((1024, 65535, 1)));
        assert_eq!(nat_slice(1024, 65535, 0, 0), Some((1024, 65535, 1)));
        // Two nodes: even ports to node 0, odd to node 1.
        assert_eq!(nat_slice(1024, 65535, 0, 2), Some((1024, 65534, 2)));
        assert_eq!(nat_slice(1024, 65535, 1, 2), Some((1025, 65535, 2)));
        // Three nodes over 1000-1009: 1002, 1005, 1008 are node 0's.
        assert_eq!(nat_slice(1000, 1009, 0, 3), Some((1002, 1008, 3)));
        assert_eq!(nat_slice(1000, 1009, 1, 3), Some((1000, 1009, 3)));
        assert_eq!(nat_slice(1000, 1009, 2, 3), Some((1001, 1007, 3)));
        // A range too small for every node, and no such node.
        assert_eq!(nat_slice(1000, 1000, 0, 2), Some((1000, 1000, 2)));
        assert_eq!(nat_slice(1000, 1000, 1, 2), None);
        assert_eq!(nat_slice(1000, 1009, 3, 3), None);
        // Every port of every slice is owned by its node, the slices
        // together are the range, and the counts add up.
        for nodes in 1..=4u32 {
            let mut seen = [false; 14];
            let mut total = 0;
            for k in 0..nodes {
                let (lo, hi, step) = nat_slice(1000, 1013, k, nodes).unwrap();
                total += nat_ports(lo, hi, step);
                let mut p = lo as u32;
                while p <= hi as u32 {
                    if nodes > 1 {
                        assert_eq!(nat_owner(p as u16, nodes), k);
                    }
                    assert!(!seen[p as usize - 1000], "port {p} in two slices");
                    seen[p as usize - 1000] = true;
                    p += step as u32;
                }
            }
            assert_eq!(seen, [true; 14]);
            assert_eq!(total, 14);
        }
        assert_eq!(nat_ports(5, 4, 1), 0);
        assert_eq!(nat_ports(5, 5, 0), 1);
        assert_eq!(nat_owner(7, 0), 0);
        assert_eq!(node_addr(3), [0, 0, 0, 3]);
    }
}
