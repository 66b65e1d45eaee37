//! Stage `tunnel`: labs whose hosts live on several nodes, joined by the
//! kernel's VXLAN (docs/DATAPLANE.md, "Labs across nodes"). Each node's
//! fabric has one collect-metadata VXLAN device; an ENI of another node is
//! an `HL_ENIS` row whose `ifindex` is that device and whose `underlay` is
//! the node's address.
//!
//! Sending: a flow entry marked `FLOW_F_TUNNEL` is forwarded as usual
//! (rewrite, counters), then [`encap`] gives the packet its tunnel key (the
//! node that holds the destination, the VNI of the VPC the packet was sent
//! in) and the hook redirects it out of the VXLAN device. Receiving: the
//! device's port row has the VPC [`TUNNEL_VPC`]; [`sender`] turns the VNI and
//! the source address into the sending ENI's port, as if the packet had
//! entered here, and the pipeline goes on from the flow lookup. The
//! sender's node evaluated its egress groups and outbound ACL, the
//! receiver's node evaluates the ingress groups and inbound ACL.

use dataplane_common::{
    in_generation, vni_of, vpc_of_vni, DropReason, EniKey, PortInfo, ENI_KIND_HOST, TUNNEL_VPC,
};

use crate::{maps::ENIS, packet::Packet, parse::Headers};

/// Where a tunnelled packet goes: out of VXLAN device `ifindex`, to the
/// node that holds address `dst` in VPC `vpc` (the entry's `out_vpc` and
/// `new_dst`).
pub struct Encap {
    pub ifindex: u32,
    pub vpc: u32,
    pub dst: [u8; 4],
}

/// Is `port` the row of this node's VXLAN device?
#[inline(always)]
pub fn is_tunnel(port: &PortInfo) -> bool {
    port.vpc == TUNNEL_VPC
}

/// The port a packet that arrived through the VXLAN device would have
/// entered by on its own node: the ENI with its source address in the VPC
/// its VNI names, which must live on another node (a packet claiming an
/// address of this node, or of no ENI, fails the source check).
#[inline(always)]
pub fn sender<P: Packet>(p: &P, gen: u32, h: &Headers) -> Result<PortInfo, DropReason> {
    let Some(vpc) = p.tunnel_vni().and_then(vpc_of_vni) else {
        return Err(DropReason::SourceCheck);
    };
    let key = EniKey { vpc: in_generation(vpc, gen), ip: h.src };
    // SAFETY: read-only map value.
    match unsafe { ENIS.get(&key) } {
        // Byte by byte: an array copy would compile to a memcpy call.
        Some(e) if e.is_remote() && e.kind == ENI_KIND_HOST => Ok(PortInfo {
            vpc,
            eni: e.eni,
            sg_set: e.sg_set,
            ip: [h.src[0], h.src[1], h.src[2], h.src[3]],
            mac: [e.mac[0], e.mac[1], e.mac[2], e.mac[3], e.mac[4], e.mac[5]],
            generation: gen as u16,
            subnet: e.subnet,
            _pad: 0,
        }),
        _ => Err(DropReason::SourceCheck),
    }
}

/// Gives a packet sent in VPC `sent_in` the tunnel key toward the node of
/// the ENI `t` names. No such ENI on another node (a reload moved it):
/// `no_route`; the XDP build, which cannot carry a tunnel key:
/// `redirect_failed`.
#[inline(always)]
pub fn encap<P: Packet>(p: &mut P, gen: u32, sent_in: u32, t: &Encap) -> Result<(), DropReason> {
    let key = EniKey { vpc: in_generation(t.vpc, gen), ip: t.dst };
    // SAFETY: read-only map value.
    let underlay = match unsafe { ENIS.get(&key) } {
        Some(e) if e.is_remote() => e.underlay,
        _ => return Err(DropReason::NoRoute),
    };
    p.set_tunnel(underlay, vni_of(sent_in)).map_err(|_| DropReason::RedirectFailed)
}
