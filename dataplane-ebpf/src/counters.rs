//! Per-CPU counters: drops by reason, pipeline events, per-ENI traffic.
//! A dry run (`dataplane explain`) counts nothing.

use aya_ebpf::maps::PerCpuArray;
use dataplane_common::{Counter, DropReason};

use crate::{
    explain::dry_run,
    maps::{COUNTERS, DROPS, ENI_STATS, OBJ_STATS},
};

/// Hands `f` this CPU's slot `index` of `map`, unless in a dry run. The
/// slot is per CPU: only this CPU writes it (the SAFETY of every `f`).
/// `count` and `obj` are written out: through this helper LLVM lays the
/// programs out differently.
#[inline(always)]
fn update<T>(map: &PerCpuArray<T>, index: u32, f: impl FnOnce(*mut T)) {
    if dry_run() {
        return;
    }
    if let Some(c) = map.get_ptr_mut(index) {
        f(c);
    }
}

#[inline(always)]
pub fn drop(reason: DropReason) {
    update(&DROPS, reason as u32, |c| unsafe { *c += 1 });
}

#[inline(always)]
pub fn count(counter: Counter) {
    if dry_run() {
        return;
    }
    if let Some(c) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: per-CPU slot, only this CPU writes it.
        unsafe { *c += 1 };
    }
}

/// The host behind ENI `eni` sent `bytes` into the fabric.
#[inline(always)]
pub fn eni_tx(eni: u32, bytes: u64) {
    update(&ENI_STATS, eni, |c| unsafe {
        (*c).tx_packets += 1;
        (*c).tx_bytes += bytes;
    });
}

/// The fabric delivers `bytes` to the host behind ENI `eni`.
#[inline(always)]
pub fn eni_rx(eni: u32, bytes: u64) {
    update(&ENI_STATS, eni, |c| unsafe {
        (*c).rx_packets += 1;
        (*c).rx_bytes += bytes;
    });
}

/// A packet the host behind ENI `eni` sent was dropped.
#[inline(always)]
pub fn eni_drop(eni: u32) {
    update(&ENI_STATS, eni, |c| unsafe { (*c).drops += 1 });
}

/// Counts a packet of a flow into an endpoint/listener/target counter:
/// `tx` for the forward direction, `rx` for replies.
#[inline(always)]
pub fn obj(index: u32, reply: bool, bytes: u64) {
    if dry_run() {
        return;
    }
    if let Some(c) = OBJ_STATS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, only this CPU writes it.
        unsafe {
            if reply {
                (*c).rx_packets += 1;
                (*c).rx_bytes += bytes;
            } else {
                (*c).tx_packets += 1;
                (*c).tx_bytes += bytes;
            }
        }
    }
}

/// A packet for this endpoint/listener/target counter was dropped.
#[inline(always)]
pub fn obj_drop(index: u32) {
    update(&OBJ_STATS, index, |c| unsafe { (*c).drops += 1 });
}
