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
}
