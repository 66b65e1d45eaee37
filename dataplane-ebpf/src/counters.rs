//! Per-CPU counters: drops by reason, pipeline events, per-ENI traffic.
//! A dry run (`dataplane explain`) counts nothing.

use dataplane_common::{Counter, DropReason};

use crate::{
    explain::dry_run,
    maps::{COUNTERS, DROPS, ENI_STATS, OBJ_STATS},
};

#[inline(always)]
pub fn drop(reason: DropReason) {
    if dry_run() {
        return;
    }
    if let Some(c) = DROPS.get_ptr_mut(reason as u32) {
        // SAFETY: per-CPU slot, only this CPU writes it.
        unsafe { *c += 1 };
    }
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
    if dry_run() {
        return;
    }
    if let Some(c) = ENI_STATS.get_ptr_mut(eni) {
        // SAFETY: per-CPU slot, only this CPU writes it.
        unsafe {
            (*c).tx_packets += 1;
            (*c).tx_bytes += bytes;
        }
    }
}

/// The fabric delivers `bytes` to the host behind ENI `eni`.
#[inline(always)]
pub fn eni_rx(eni: u32, bytes: u64) {
    if dry_run() {
        return;
    }
    if let Some(c) = ENI_STATS.get_ptr_mut(eni) {
        // SAFETY: per-CPU slot, only this CPU writes it.
        unsafe {
            (*c).rx_packets += 1;
            (*c).rx_bytes += bytes;
        }
    }
}

/// A packet the host behind ENI `eni` sent was dropped.
#[inline(always)]
pub fn eni_drop(eni: u32) {
    if dry_run() {
        return;
    }
    if let Some(c) = ENI_STATS.get_ptr_mut(eni) {
        // SAFETY: per-CPU slot, only this CPU writes it.
        unsafe { (*c).drops += 1 };
    }
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
    if dry_run() {
        return;
    }
    if let Some(c) = OBJ_STATS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, only this CPU writes it.
        unsafe { (*c).drops += 1 };
    }
}
