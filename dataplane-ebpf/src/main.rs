//! hyperlab's kernel data plane: one pipeline (`pipeline::process`), built
//! into a TC (tcx ingress) program and an XDP program.
#![no_std]
#![no_main]

mod arp;
mod counters;
mod events;
mod explain;
mod flow;
mod forward;
mod gateway;
mod icmp_error;
mod maps;
mod nacl;
mod nat_gateway;
mod packet;
mod parse;
mod pipeline;
mod privatelink;
mod reset;
mod rewrite;
mod route;
mod sg;
mod tunnel;

use aya_ebpf::{
    bindings::{xdp_action, TC_ACT_OK, TC_ACT_SHOT},
    helpers::generated::{bpf_redirect, bpf_redirect_peer},
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use dataplane_common::DropReason;

use crate::{
    forward::Verdict,
    packet::{Packet, TcPacket, XdpPacket},
};

/// The lab default: tcx ingress on every fabric veth. Forwarded packets go
/// straight into the destination host with `bpf_redirect_peer`, keeping the
/// skb's checksum-offload and GSO state.
#[classifier]
// Inlined into the entry point the macro wraps it in: out of line, it is a
// bpf-to-bpf call per packet (LLVM stopped inlining it once the dry-run
// branches were added, which the verifier removes again).
#[inline(always)]
pub fn hyperlab_tc(ctx: TcContext) -> i32 {
    let mut pkt = TcPacket::new(&ctx);
    let v = pipeline::process(&mut pkt);
    tc_verdict(&pkt, v)
}

/// TC's slow path (a flow's first packet), entered by tail call from
/// [`hyperlab_tc`]: verified as a program of its own.
#[classifier]
#[inline(always)]
pub fn hyperlab_tc_slow(ctx: TcContext) -> i32 {
    let mut pkt = TcPacket::new(&ctx);
    let v = pipeline::process_slow::<_, false, false>(&mut pkt);
    tc_verdict(&pkt, v)
}

/// TC's slow path for a packet from another node (its VXLAN device),
/// entered by tail call from [`hyperlab_tc`].
#[classifier]
#[inline(always)]
pub fn hyperlab_tc_slow_tunnel(ctx: TcContext) -> i32 {
    let mut pkt = TcPacket::new(&ctx);
    let v = pipeline::process_slow::<_, true, false>(&mut pkt);
    tc_verdict(&pkt, v)
}

/// TC's translation program (a first packet to an endpoint ENI; one on to
/// the node that translated its flow), entered by tail call from
/// [`hyperlab_tc_slow`] (`pipeline::slow_path`).
#[classifier]
#[inline(always)]
pub fn hyperlab_tc_translate(ctx: TcContext) -> i32 {
    let mut pkt = TcPacket::new(&ctx);
    let v = pipeline::process_slow::<_, false, true>(&mut pkt);
    tc_verdict(&pkt, v)
}

/// TC's program for a fragment of a UDP datagram, entered by tail call
/// from [`hyperlab_tc`] (a NAT gateway carries them).
#[classifier]
#[inline(always)]
pub fn hyperlab_tc_fragment(ctx: TcContext) -> i32 {
    let mut pkt = TcPacket::new(&ctx);
    let v = pipeline::process_fragment(&mut pkt);
    tc_verdict(&pkt, v)
}

#[inline(always)]
fn tc_verdict(pkt: &TcPacket, v: Verdict) -> i32 {
    match v {
        Verdict::Forward(ifindex) => {
            // SAFETY: plain helper call; the verifier checks the context.
            let rc = unsafe { bpf_redirect_peer(ifindex, 0) };
            if rc as i32 == aya_ebpf::bindings::TC_ACT_REDIRECT {
                rc as i32
            } else {
                redirect_failed();
                TC_ACT_SHOT as i32
            }
        }
        // Out of the VXLAN device (its egress), with the tunnel key the
        // pipeline set: the kernel encapsulates toward the other node.
        Verdict::Tunnel(t) => {
            // SAFETY: plain helper call.
            let rc = unsafe { bpf_redirect(t.ifindex, 0) } as i32;
            if rc == aya_ebpf::bindings::TC_ACT_REDIRECT {
                rc
            } else {
                redirect_failed();
                TC_ACT_SHOT as i32
            }
        }
        // ARP replies and a NAT gateway's RSTs go back out of the port
        // they came in on.
        // SAFETY: plain helper call.
        Verdict::Reflect => unsafe { bpf_redirect(pkt.ingress_ifindex(), 0) as i32 },
        Verdict::Pass => TC_ACT_OK as i32,
        Verdict::Drop => TC_ACT_SHOT as i32,
    }
}

/// The XDP build of the same pipeline, for frames that arrive as XDP frames
/// (the live-frames generator, real NICs).
#[xdp]
#[inline(always)]
pub fn hyperlab_xdp(ctx: XdpContext) -> u32 {
    let mut pkt = XdpPacket::new(&ctx);
    xdp_verdict(pipeline::process(&mut pkt))
}

/// XDP's slow path, entered by tail call from [`hyperlab_xdp`].
#[xdp]
#[inline(always)]
pub fn hyperlab_xdp_slow(ctx: XdpContext) -> u32 {
    let mut pkt = XdpPacket::new(&ctx);
    xdp_verdict(pipeline::process_slow::<_, false, false>(&mut pkt))
}

/// XDP's translation program, entered by tail call from
/// [`hyperlab_xdp_slow`].
#[xdp]
#[inline(always)]
pub fn hyperlab_xdp_translate(ctx: XdpContext) -> u32 {
    let mut pkt = XdpPacket::new(&ctx);
    xdp_verdict(pipeline::process_slow::<_, false, true>(&mut pkt))
}

/// XDP's program for a fragment of a UDP datagram, entered by tail call
/// from [`hyperlab_xdp`].
#[xdp]
#[inline(always)]
pub fn hyperlab_xdp_fragment(ctx: XdpContext) -> u32 {
    let mut pkt = XdpPacket::new(&ctx);
    xdp_verdict(pipeline::process_fragment(&mut pkt))
}

#[inline(always)]
fn xdp_verdict(v: Verdict) -> u32 {
    match v {
        Verdict::Forward(ifindex) => {
            // SAFETY: plain helper call.
            let rc = unsafe { bpf_redirect(ifindex, 0) } as u32;
            if rc == xdp_action::XDP_REDIRECT {
                rc
            } else {
                redirect_failed();
                xdp_action::XDP_DROP
            }
        }
        // Never reached: the XDP build cannot set a tunnel key, so the
        // pipeline drops such a packet (`redirect_failed`) before this.
        Verdict::Tunnel(_) => xdp_action::XDP_DROP,
        Verdict::Reflect => xdp_action::XDP_TX,
        Verdict::Pass => xdp_action::XDP_PASS,
        Verdict::Drop => xdp_action::XDP_DROP,
    }
}

/// A redirect the helper refused, on either hook: counted as the drop
/// `redirect_failed` (not per ENI: the pipeline already counted the packet
/// as forwarded) and dropped. The helpers refuse only what they can check
/// when called (`bpf_redirect_peer`: flags, returning `TC_ACT_SHOT`;
/// `bpf_redirect` in XDP: flags, returning `XDP_ABORTED`); a target port
/// that is gone fails after the program returned (XDP: `xdp_do_redirect`,
/// the `xdp:xdp_redirect_err` tracepoint), where no program counter sees it.
#[inline(always)]
fn redirect_failed() {
    counters::drop(DropReason::RedirectFailed);
}

/// Attached to host-side veths of an XDP lab: a veth only receives
/// XDP-redirected frames when its peer runs NAPI, which an XDP program enables.
#[xdp]
pub fn hyperlab_xdp_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

dataplane_common::bpf_object_items!();
