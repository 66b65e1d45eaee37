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
//!
//! Translated flows (PrivateLink, HTTP VPC links): the client's node
//! translates; the translated packet's source is an NLB node's address (an
//! `ENI_KIND_NLB_NODE` row) or a link ENI's, which [`sender`] takes as a
//! sender without groups. A packet for such an address (a target's reply)
//! goes to the node whose NAT slice holds its destination port ([`owner`]).

use dataplane_common::{
    in_generation, nat_owner, node_addr, vni_of, vpc_of_vni, DropReason, EniKey, PortInfo, ENI_KIND_HOST,
    ENI_KIND_LINK, ENI_KIND_NLB_NODE, ENI_KIND_NODE, NO_ENI, NO_SG_SET, TUNNEL_VPC,
};

use crate::{maps::ENIS, packet::Packet, parse::Headers};

/// Where a tunnelled packet goes: out of VXLAN device `ifindex`, to the
/// node that holds address `dst` in VPC `vpc` (the entry's `out_vpc` and
/// `new_dst`), or for an NLB node's address the node whose NAT slice
/// holds destination port `dport`. `translated`: the packet was
/// source-NATed here, so it travels in `vpc` (the VNI of the NLB's VPC).
pub struct Encap {
    pub ifindex: u32,
    pub vpc: u32,
    pub dst: [u8; 4],
    pub dport: [u8; 2],
    pub translated: bool,
    /// No flow of this node carries it: a reply on to the node of its
    /// translation (`pipeline`).
    pub stateless: bool,
}

/// Is `port` the row of this node's VXLAN device?
#[inline(always)]
pub fn is_tunnel(port: &PortInfo) -> bool {
    port.vpc == TUNNEL_VPC
}

/// Is an `HL_ENIS` row of `kind` the source address of a translation
/// (an NLB node, an HTTP VPC link's ENI), whose replies go to the node
/// that made it ([`owner`])?
#[inline(always)]
pub fn translates(kind: u32) -> bool {
    kind == ENI_KIND_NLB_NODE || kind == ENI_KIND_LINK
}

/// Is the sender `port` (from [`sender`]) an NLB node, whose packets were
/// translated on another node? Its flows are always tracked.
#[inline(always)]
pub fn is_translated(port: &PortInfo) -> bool {
    port.sg_set == NO_SG_SET
}

/// Does address `ip` of VPC `vpc` belong to an ENI of another node?
#[inline(always)]
pub fn is_remote(gen: u32, vpc: u32, ip: [u8; 4]) -> bool {
    let key = EniKey { vpc: in_generation(vpc, gen), ip };
    // SAFETY: read-only map value.
    matches!(unsafe { ENIS.get(&key) }, Some(e) if e.is_remote())
}

/// The port a packet that arrived through the VXLAN device would have
/// entered by on its own node: the ENI with its source address in the VPC
/// its VNI names, which must live on another node, or an NLB node's address
/// (a packet translated on another node; no groups). A packet claiming an
/// address of this node, or of nothing, fails the source check.
#[inline(always)]
pub fn sender<P: Packet>(p: &P, gen: u32, h: &Headers) -> Result<PortInfo, DropReason> {
    let Some(vpc) = p.tunnel_vni().and_then(vpc_of_vni) else {
        return Err(DropReason::SourceCheck);
    };
    let key = EniKey { vpc: in_generation(vpc, gen), ip: h.src };
    // SAFETY: read-only map value.
    match unsafe { ENIS.get(&key) } {
        // Byte by byte: an array copy would compile to a memcpy call.
        Some(e) if (e.is_remote() && e.kind == ENI_KIND_HOST) || translates(e.kind) => Ok(PortInfo {
            vpc,
            // A translating address's row carries the node count instead.
            eni: if translates(e.kind) { NO_ENI } else { e.eni },
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

/// The underlay address of the node that holds the translation NAT port
/// `dport` belongs to, of the lab's `nodes` nodes (`nat_owner`; the count
/// rides in the translating address's row); `no_route` when that is this
/// node (a reply no flow of this node holds) or the lab has one node.
#[inline(always)]
pub fn owner(gen: u32, nodes: u32, dport: [u8; 2]) -> Result<[u8; 4], DropReason> {
    if nodes < 2 {
        return Err(DropReason::NoRoute);
    }
    let k = nat_owner(u16::from_be_bytes(dport), nodes);
    let key = EniKey { vpc: in_generation(TUNNEL_VPC, gen), ip: node_addr(k) };
    // SAFETY: read-only map value.
    match unsafe { ENIS.get(&key) } {
        Some(n) if n.kind == ENI_KIND_NODE && n.is_remote() => Ok(n.underlay),
        _ => Err(DropReason::NoRoute),
    }
}

/// Gives a packet sent in VPC `sent_in` the tunnel key toward the node of
/// the ENI `t` names (an NLB node's or link ENI's address: the node of the
/// NAT port, [`owner`]). No such ENI on another node (a reload moved it):
/// `no_route` (a link ENI: `link_reverse_initiated`); the XDP build, which cannot carry a tunnel key:
/// `redirect_failed`.
#[inline(always)]
pub fn encap<P: Packet>(p: &mut P, gen: u32, sent_in: u32, t: &Encap) -> Result<(), DropReason> {
    let key = EniKey { vpc: in_generation(t.vpc, gen), ip: t.dst };
    // SAFETY: read-only map value.
    let underlay = match unsafe { ENIS.get(&key) } {
        Some(e) if e.is_remote() => e.underlay,
        // A link ENI's packet that no other node's slice claims: an attempt
        // to tunnel backwards (on one node, which has no node rows, always).
        Some(e) if translates(e.kind) => owner(gen, e.eni, t.dport).map_err(|r| {
            if e.kind == ENI_KIND_LINK {
                DropReason::LinkReverseInitiated
            } else {
                r
            }
        })?,
        _ => return Err(DropReason::NoRoute),
    };
    let vpc = if t.translated { t.vpc } else { sent_in };
    p.set_tunnel(underlay, vni_of(vpc)).map_err(|_| DropReason::RedirectFailed)
}
