//! Stage `flow`: the connection table. Each tracked flow has two entries, the
//! forward one and the reply one, each carrying its precompiled action. A
//! reply entry is what makes security groups stateful.

use core::intrinsics::{atomic_xadd, AtomicOrdering};

use aya_ebpf::{
    bindings::{BPF_ANY, BPF_NOEXIST},
    helpers::generated::{bpf_jiffies64, bpf_ktime_get_coarse_ns},
};
use dataplane_common::{
    Counter, DropReason, FlowEntry, FlowKey, EEXIST, FLOW_F_REPLY, FLOW_STATE_CLOSED, FLOW_STATE_CLOSING,
    FLOW_STATE_ESTABLISHED, FLOW_STATE_NEW, GATEWAY_MAC, PROTO_TCP,
};

use crate::{
    counters, events,
    explain::dry_run,
    maps::{CLOCK, FLOWS},
    parse::{Headers, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN},
};


/// The coarse monotonic clock (`bpf_ktime_get_coarse_ns`), which only
/// moves once per tick: read through this CPU's copy in `HL_CLOCK`, taken
/// again only when jiffies moved. The verifier inlines `bpf_jiffies64` into
/// one load, while the clock helper is a call, which costs ~20 ns per
/// packet on CPUs whose return-stack mitigations make every kernel call
/// expensive. The copy can lag one more tick (jiffies move just before the
/// coarse clock): plenty for idle timeouts measured in seconds.
#[inline(always)]
pub fn now() -> u64 {
    // SAFETY: plain helper calls; the verifier inlines bpf_jiffies64.
    let j = unsafe { bpf_jiffies64() };
    let Some(c) = CLOCK.get_ptr_mut(0) else {
        // SAFETY: as above.
        return unsafe { bpf_ktime_get_coarse_ns() };
    };
    // SAFETY: a per-CPU array value; nothing else runs on this CPU while
    // the program does.
    unsafe {
        if (*c).jiffies != j {
            (*c).ns = bpf_ktime_get_coarse_ns();
            (*c).jiffies = j;
        }
        (*c).ns
    }
}

#[inline(always)]
pub fn lookup(key: &FlowKey) -> Option<*mut FlowEntry> {
    FLOWS.get_ptr_mut(key)
}

pub enum Track {
    /// Forward with the entry's action.
    Continue,
    /// A new SYN on a finished flow: decide again as for a first packet.
    Restart,
}

/// Advances the flow's state with this packet and refreshes its idle timer.
#[inline(always)]
pub fn track(e: *mut FlowEntry, h: &Headers) -> Result<Track, DropReason> {
    let t = now();
    // SAFETY: `e` points into a map value; concurrent writers only store
    // whole u32/u64 fields, so the worst case is a lost timestamp refresh.
    let (state, flags, last) = unsafe { ((*e).state, (*e).flags, (*e).last_seen_ns) };
    // A dry run (`dataplane explain`) only reads the entry.
    // Signed: another CPU's clock copy may be a tick behind the entry's.
    if (t.wrapping_sub(last) as i64) > 1_000_000 && !dry_run() {
        // SAFETY: as above.
        unsafe { (*e).last_seen_ns = t };
    }
    if h.proto != PROTO_TCP {
        return Ok(Track::Continue);
    }
    let f = h.tcp_flags;
    let is_reply = flags & FLOW_F_REPLY != 0;
    // A new SYN on a finished flow, from either side (the former responder
    // may open the next connection on the same tuple), is a new connection.
    if f & TCP_SYN != 0 && f & TCP_ACK == 0 && state >= FLOW_STATE_CLOSING {
        return Ok(Track::Restart);
    }
    if state == FLOW_STATE_CLOSED {
        return Err(DropReason::FlowClosed);
    }
    let next = if f & TCP_RST != 0 {
        FLOW_STATE_CLOSED
    } else if f & TCP_FIN != 0 {
        FLOW_STATE_CLOSING
    } else if is_reply && state == FLOW_STATE_NEW && f & (TCP_SYN | TCP_ACK) == (TCP_SYN | TCP_ACK) {
        counters::count(Counter::TcpEstablished);
        FLOW_STATE_ESTABLISHED
    } else {
        return Ok(Track::Continue);
    };
    if next != state && !(next == FLOW_STATE_CLOSING && state > FLOW_STATE_CLOSING) && !dry_run() {
        // SAFETY: as above.
        let pk = unsafe {
            (*e).state = next;
            (*e).peer_key(h.proto)
        };
        if let Some(peer) = FLOWS.get_ptr_mut(&pk) {
            // SAFETY: as above.
            unsafe { (*peer).state = next };
        }
    }
    Ok(Track::Continue)
}

/// The state a flow starts in with its first packet.
#[inline(always)]
pub fn initial_state(h: &Headers) -> u32 {
    if h.proto == PROTO_TCP && h.tcp_flags & TCP_SYN == 0 {
        // Picked up mid-stream (e.g. after the agent restarted with a
        // fresh table): the rules allowed it, so carry on as established.
        FLOW_STATE_ESTABLISHED
    } else {
        FLOW_STATE_NEW
    }
}

/// Inserts both directions. A full table refuses the flow (and keeps every
/// live one); losing a race to another CPU creating the same flow is fine:
/// `Ok(false)`, the other CPU's entries stand.
#[inline(always)]
pub fn create(
    fwd_key: &FlowKey,
    fwd: &FlowEntry,
    rev_key: &FlowKey,
    rev: &FlowEntry,
    restart: bool,
) -> Result<bool, DropReason> {
    let flags = if restart { BPF_ANY } else { BPF_NOEXIST } as u64;
    match FLOWS.insert(fwd_key, fwd, flags) {
        Ok(()) => {}
        Err(e) if e as i32 == -EEXIST => return Ok(false),
        Err(_) => return Err(DropReason::FlowTableFull),
    }
    match FLOWS.insert(rev_key, rev, flags) {
        Ok(()) => {}
        Err(e) if e as i32 == -EEXIST => {}
        Err(_) => {
            let _ = FLOWS.remove(fwd_key);
            return Err(DropReason::FlowTableFull);
        }
    }
    counters::count(Counter::FlowCreated);
    events::new_flow(fwd_key, fwd);
    Ok(true)
}

/// This CPU's scratch entry `i` (0: forward, 1: reply) to build a new
/// flow's entries in (see `maps::SCRATCH`).
#[inline(always)]
pub fn scratch(i: u32) -> Result<&'static mut FlowEntry, DropReason> {
    match crate::maps::SCRATCH.get_ptr_mut(i) {
        // SAFETY: a per-CPU array value; nothing else runs on this CPU
        // while the program does.
        Some(e) => Ok(unsafe { &mut *e }),
        None => Err(DropReason::FlowTableFull),
    }
}

/// Counts one forwarded packet of `len` frame bytes into the entry `e` of
/// its direction. Atomic adds: several CPUs may forward the same flow.
#[inline(always)]
pub fn account(e: *mut FlowEntry, len: u64) {
    // A dry run (`dataplane explain`) leaves live flows untouched.
    if dry_run() {
        return;
    }
    // SAFETY: `e` points into a live map value; the u64 fields are 8-byte
    // aligned (offsets pinned in dataplane_common's tests), as atomics need.
    // The results stay unused, so no BPF_FETCH (cpu v3) is needed.
    unsafe {
        atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(core::ptr::addr_of_mut!((*e).packets), 1);
        atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(core::ptr::addr_of_mut!((*e).bytes), events::ip_len(len));
    }
}

/// [`account`] for the entry of `key` (a first packet whose flow another
/// CPU created first: its entry counts the packet).
#[inline(always)]
pub fn account_key(key: &FlowKey, len: u64) {
    if let Some(e) = lookup(key) {
        account(e, len);
    }
}

/// A flow entry's Ethernet header: the destination MAC, then the router's
/// MAC, byte by byte (an array copy would compile to a memcpy call).
#[inline(always)]
pub fn eth(dst: &[u8; 6]) -> [u8; 12] {
    let g = GATEWAY_MAC;
    [dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], g[0], g[1], g[2], g[3], g[4], g[5]]
}
