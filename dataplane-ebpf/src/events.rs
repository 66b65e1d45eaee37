//! Flow events for the agent's VPC Flow Logs: one `FlowEvent` per new flow
//! and per packet a policy decision rejected, into the `HL_FLOW_EVENTS` ring
//! buffer. Counts of accepted traffic are not events: the flow entries count
//! their own packets (`flow::account`) and the agent reads them by key.
//!
//! A full ring never costs a packet: the event is counted as lost and the
//! pipeline carries on.

use dataplane_common::{
    aws_tcp_flags, Counter, DropReason, FlowEntry, FlowEvent, FlowKey, PortInfo, FLOW_EVENT_NEW,
    FLOW_EVENT_REJECT, FLOW_EVENT_REJECT_TRANSLATED, NO_ENI, PROTO_TCP,
};

use crate::{
    counters,
    maps::FLOW_EVENTS,
    parse::{Headers, ETH_LEN},
};

/// Set by the agent at load time (`EbpfLoader::set_global`). A read-only
/// global: the verifier knows its value and prunes the emitting code when
/// flow logs are off.
#[unsafe(no_mangle)]
static HL_FLOW_EVENTS_ON: u32 = 0;

#[inline(always)]
fn enabled() -> bool {
    // SAFETY: a plain read of a static; volatile so LLVM cannot fold the
    // compile-time 0 in (the loader rewrites it).
    // A dry run (`dataplane explain`) shares the live ring: it must never
    // write into it.
    unsafe { core::ptr::read_volatile(&HL_FLOW_EVENTS_ON) != 0 && !crate::explain::dry_run() }
}

/// The packet's TCP flags as flow logs count them (0 for UDP and ICMP).
#[inline(always)]
pub fn flags_of(h: &Headers) -> u8 {
    if h.proto == PROTO_TCP {
        aws_tcp_flags(h.tcp_flags)
    } else {
        0
    }
}

/// IPv4 bytes of a frame of `len` bytes (the parser admits only untagged
/// Ethernet, so the header is always 14 bytes).
#[inline(always)]
pub fn ip_len(len: u64) -> u64 {
    len.saturating_sub(ETH_LEN as u64)
}

#[inline(always)]
fn emit(kind: u32, eni: u32, dst_eni: u32, reason: u32, key: &FlowKey, len: u64, tcp_flags: u8) {
    match FLOW_EVENTS.reserve::<FlowEvent>(0) {
        Some(mut slot) => {
            let len = ip_len(len) as u16;
            slot.write(FlowEvent { kind, eni, dst_eni, reason, key: *key, len, tcp_flags, _pad: 0 });
            slot.submit(0);
        }
        None => counters::count(Counter::FlowEventsLost),
    }
}

/// A flow was created: `key` is its forward entry's key.
#[inline(always)]
pub fn new_flow(key: &FlowKey, fwd: &FlowEntry) {
    if enabled() {
        emit(FLOW_EVENT_NEW, fwd.src_eni, fwd.dst_eni, 0, key, ETH_LEN as u64, 0);
    }
}

/// Passes `r` through; a policy drop of it is recorded as a REJECT event
/// of the packet with flow key `key` that entered from `port`.
#[inline(always)]
pub fn rejected<T>(r: Result<T, DropReason>, port: &PortInfo, h: &Headers, key: &FlowKey, len: u64) -> Result<T, DropReason> {
    if let Err(reason) = r {
        if enabled() && reason.is_reject() {
            emit(FLOW_EVENT_REJECT, port.eni, NO_ENI, reason as u32, key, len, flags_of(h));
        }
    }
    r
}

/// A PrivateLink / HTTP VPC link packet rejected after translation (the
/// target's ingress rules or the link's egress rules: `reason`), as the
/// target ENI `target_eni` would have received it: `key` is the translated
/// tuple. Emitted before the REJECT of the packet as sent, which
/// [`rejected`] writes when the stage returns the drop.
#[inline(always)]
pub fn rejected_translated(reason: DropReason, target_eni: u32, h: &Headers, key: &FlowKey, len: u64) {
    if enabled() {
        counters::count(Counter::FlowRejectsTranslated);
        emit(FLOW_EVENT_REJECT_TRANSLATED, target_eni, NO_ENI, reason as u32, key, len, flags_of(h));
    }
}
