//! Dry runs for `dataplane explain`: the load-time constant `DRY_RUN` and
//! the trace a dry run records into `HL_EXPLAIN`.
//!
//! `DRY_RUN` lives in `.rodata`, which aya freezes before the programs
//! load, so the verifier knows its value: in the live program (0) every
//! `if dry_run()` branch is dead code and removed, in the dry-run program
//! (1, set by `dataplane explain`) every state-creating branch is.

use dataplane_common::{
    explain::{ExplainTrace, NO_RANGE},
    DropReason, EniInfo, FlowEntry, PortInfo,
};

use crate::maps::EXPLAIN;

/// Set to 1 by userspace (`EbpfLoader::override_global`) for a dry run.
#[unsafe(no_mangle)]
static DRY_RUN: u8 = 0;

/// Is this the dry-run build of the pipeline?
#[inline(always)]
pub fn dry_run() -> bool {
    // SAFETY: a plain read of a static. Volatile, so LLVM cannot fold the
    // default value in: the loader sets the real one.
    unsafe { core::ptr::read_volatile(&DRY_RUN) != 0 }
}

/// Runs `f` on the trace, in a dry run only.
#[inline(always)]
fn record(f: impl FnOnce(&mut ExplainTrace)) {
    if !dry_run() {
        return;
    }
    if let Some(t) = EXPLAIN.get_ptr_mut(0) {
        // SAFETY: the one array slot; only the dry run (one test_run at a
        // time, from `dataplane explain`) writes it.
        f(unsafe { &mut *t });
    }
}

/// The packet reached `stage` (`explain::STAGE_*`).
#[inline(always)]
pub fn stage(stage: u32) {
    record(|t| {
        t.stages |= 1 << stage;
        t.last_stage = stage;
    });
}

#[inline(always)]
pub fn port(p: &PortInfo) {
    record(|t| {
        t.stages |= 1 << dataplane_common::explain::STAGE_PORT;
        t.vpc = p.vpc;
        t.src_eni = p.eni;
        t.src_sg_set = p.sg_set;
    });
}

#[inline(always)]
pub fn dropped(reason: DropReason) {
    record(|t| {
        t.dropped = 1;
        t.drop_reason = reason as u32;
    });
}

/// A flow entry matched (`how`: `EXPLAIN_FLOW_*`).
#[inline(always)]
pub fn flow(how: u32, e: *const FlowEntry) {
    record(|t| {
        t.flow = how;
        // SAFETY: `e` points into a live map value.
        unsafe {
            t.flow_state = (*e).state;
            t.flow_flags = (*e).flags;
        }
    });
}

#[inline(always)]
pub fn destination(d: &EniInfo) {
    record(|t| (t.dst_kind, t.dst_eni, t.dst_sg_set) = (d.kind, d.eni, d.sg_set));
}

/// One security-group lookup (`check`: `explain::SG_CHECK_*`); `range` is
/// the index of the admitting range or `NO_RANGE`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn sg(check: usize, set: u32, dir: u8, proto: u8, peer: [u8; 4], port: u16, found: bool, count: u32, range: u32, lo: u16, hi: u16) {
    record(|t| {
        if let Some(s) = t.sg.get_mut(check) {
            s.checked = 1;
            s.set = set;
            s.dir = dir;
            s.proto = proto;
            s.peer = peer;
            s.port = port;
            s.entry_found = found as u32;
            s.range_count = count;
            s.range = range;
            s.lo = lo;
            s.hi = hi;
        }
    });
}

#[inline(always)]
pub fn sg_miss(check: usize, set: u32, dir: u8, proto: u8, peer: [u8; 4], port: u16, found: bool, count: u32) {
    sg(check, set, dir, proto, peer, port, found, count, NO_RANGE, 0, 0);
}

#[inline(always)]
pub fn endpoint(index: u32, state: u32) {
    record(|t| (t.endpoint, t.endpoint_state) = (index, state));
}

#[inline(always)]
pub fn listener(listener: u32, table: u32) {
    record(|t| (t.listener, t.table) = (listener, table));
}

#[inline(always)]
pub fn target(slot: u32, target: u32, snat: [u8; 4]) {
    record(|t| (t.slot, t.target, t.snat) = (slot, target, snat));
}

#[inline(always)]
pub fn nat(port: u16, tries: u32) {
    record(|t| (t.nat_port, t.nat_tries) = (port, tries as u16));
}

/// One network-ACL decision (`check`: `explain::NACL_CHECK_*`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn nacl(check: usize, subnet: u16, nacl: u32, class: u32, peer: [u8; 4], value: u16, dir: u8, proto: u8, rule: u16, allow: u8, uniform: bool) {
    record(|t| {
        if let Some(c) = t.nacl.get_mut(check) {
            c.checked = 1;
            c.subnet = subnet as u32;
            c.nacl = nacl;
            c.class = class;
            c.peer = peer;
            c.value = value;
            c.dir = dir;
            c.proto = proto;
            c.rule = rule;
            c.allow = allow;
            c.uniform = uniform as u8;
        }
    });
}

/// The route-table decision: table `table` (its stat id), destination
/// `dst`, the deciding route and its target (0: none matched).
#[inline(always)]
pub fn route(table: u32, dst: [u8; 4], route: u16, target: u8) {
    record(|t| {
        t.route.checked = 1;
        t.route.table = table;
        t.route.dst = dst;
        t.route.route = route;
        t.route.target = target;
    });
}

/// The action the packet leaves with.
#[inline(always)]
pub fn forwarded(e: &FlowEntry) {
    record(|t| {
        t.out_ifindex = e.out_ifindex;
        t.out_vpc = e.out_vpc;
        t.out_eni = e.dst_eni;
        t.out_flags = e.flags;
        t.new_src = e.new_src;
        t.new_dst = e.new_dst;
        t.new_sport = e.new_sport;
        t.new_dport = e.new_dport;
    });
}
