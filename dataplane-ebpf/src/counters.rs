//! Per-CPU counters: drops by reason, pipeline events, per-ENI traffic.
//! A dry run (`dataplane explain`) counts nothing.

use aya_ebpf::maps::PerCpuArray;
use dataplane_common::{Counter, DropReason, NatGatewayCounters, MAX_NAT_GATEWAYS};

use crate::{
    explain::dry_run,
    maps::{COUNTERS, DROPS, ENI_STATS, NAT_STATS, OBJ_STATS},
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

/// Hands `f` this CPU's counters of NAT gateway `gw` (the kernel's slots,
/// below `MAX_NAT_GATEWAYS`), unless in a dry run.
#[inline(always)]
pub fn nat(gw: u16, f: impl FnOnce(*mut NatGatewayCounters)) {
    if (gw as u32) < MAX_NAT_GATEWAYS {
        update(&NAT_STATS, gw as u32, f);
    }
}

/// A packet of `bytes` through NAT gateway `gw`, in (and out, unless the
/// gateway dropped it): `reply` for the destination's side.
#[inline(always)]
pub fn nat_packet(gw: u16, reply: bool, bytes: u64, forwarded: bool) {
    nat(gw, |c| unsafe {
        if reply {
            (*c).packets_in_from_destination += 1;
            (*c).bytes_in_from_destination += bytes;
            if forwarded {
                (*c).packets_out_to_source += 1;
                (*c).bytes_out_to_source += bytes;
            }
        } else {
            (*c).packets_in_from_source += 1;
            (*c).bytes_in_from_source += bytes;
            if forwarded {
                (*c).packets_out_to_destination += 1;
                (*c).bytes_out_to_destination += bytes;
            }
        }
        if !forwarded {
            (*c).packets_dropped += 1;
        }
    });
}
