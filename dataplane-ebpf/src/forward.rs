//! Stage `forward`: the last stage of every path. Applies a flow entry's
//! action to the packet (`rewrite`), counts it, and names the port it
//! leaves by ([`Verdict`]). Every construct's stage ends here, so this module
//! sits below them: stages import it, it imports no stage.

use dataplane_common::{explain::STAGE_REWRITE, Counter, DropReason, FlowEntry, FLOW_F_REPLY, FLOW_F_SNAT, FLOW_F_TUNNEL, NO_NAT_GATEWAY, NO_STAT};

use crate::{
    counters, explain,
    flow::{self, Created},
    packet::Packet,
    parse::Headers,
    rewrite,
    tunnel::Encap,
};

/// What the pipeline decided; the hooks (`main.rs`) turn it into their
/// return code.
pub enum Verdict {
    /// Redirect to the destination ENI behind this fabric ifindex.
    Forward(u32),
    /// Send out of this VXLAN device to the node of the destination ENI
    /// (`pipeline` gives it the tunnel key first; `tunnel.rs`).
    Tunnel(Encap),
    /// Send back out of the ingress port (ARP replies).
    Reflect,
    /// Hand to the kernel stack untouched.
    Pass,
    Drop,
}

#[inline(always)]
pub fn forward<P: Packet>(p: &mut P, h: &Headers, e: &FlowEntry, len: u64) -> Result<Verdict, DropReason> {
    explain::stage(STAGE_REWRITE);
    explain::forwarded(e);
    rewrite::apply(p, h, e)?;
    counters::count(Counter::Forwarded);
    // Into the tunnel: the receiver's node counts its delivery.
    let tunnel = e.flags & FLOW_F_TUNNEL != 0;
    if !tunnel {
        counters::eni_rx(e.dst_eni, len);
    }
    if e.stat_endpoint != NO_STAT {
        let reply = e.flags & FLOW_F_REPLY != 0;
        counters::obj(e.stat_endpoint, reply, len);
        counters::obj(e.stat_listener, reply, len);
        counters::obj(e.stat_target, reply, len);
    }
    if e.nat_gateway != NO_NAT_GATEWAY {
        counters::nat_packet(e.nat_gateway, e.flags & FLOW_F_REPLY != 0, len, true);
    }
    if tunnel {
        return Ok(Verdict::Tunnel(Encap {
            ifindex: e.out_ifindex,
            vpc: e.out_vpc,
            dst: e.new_dst,
            dport: e.new_dport,
            translated: e.flags & FLOW_F_SNAT != 0,
            stateless: false,
        }));
    }
    Ok(Verdict::Forward(e.out_ifindex))
}

/// Forwards the first packet of a flow [`flow::create`] recorded: with our
/// forward entry `fwd`, or, when another CPU created the flow first, with
/// its entry, which then counts the packet. One `forward` for both (each
/// call is inlined: a second would double the rewrite code).
#[inline(always)]
pub fn created<P: Packet>(
    p: &mut P,
    h: &Headers,
    key: &dataplane_common::FlowKey,
    c: Created,
    fwd: &FlowEntry,
    len: u64,
) -> Result<Verdict, DropReason> {
    let (e, theirs) = match c {
        Created::New => (fwd as *const FlowEntry, None),
        Created::Raced(t) => (t as *const FlowEntry, Some(t)),
    };
    // SAFETY: `e` is `fwd` or points into a live map value.
    let v = forward(p, h, unsafe { &*e }, len)?;
    if theirs.is_some() {
        flow::account_raced(key, len, h.tcp_flags);
    }
    Ok(v)
}
