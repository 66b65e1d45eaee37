//! Stage `route`: the source subnet's route table decides where the first
//! packet of a flow may go (VPC user guide, "Route tables", "Route
//! priority": the longest prefix that matches the destination). The agent
//! compiled every table into `HL_ROUTES` (`compile/routes.rs`), the
//! implicit `local` route included: one LPM lookup by (table,
//! destination). `local` goes on to the destination's ENI, an internet
//! gateway route to the gateway (`gateway.rs`); `blackhole`
//! drops as `route_blackhole`; no match drops as `no_route`. Both drops
//! are counted per (table, route) in `HL_ROUTE_STATS`. The flow entry
//! keeps the decision: a tracked flow never meets its table again.

use aya_ebpf::{bindings::BPF_NOEXIST, maps::lpm_trie::Key};
use dataplane_common::{
    explain::STAGE_ROUTE, subnet_slot, DropReason, RouteKey, RouteStatKey, ROUTE_FIXED_BITS,
    ROUTE_NO_MATCH, ROUTE_TARGET_IGW, ROUTE_TARGET_LOCAL,
};

use crate::{
    explain::{self, dry_run},
    maps::{ROUTES, ROUTE_STATS, ROUTE_SUBNETS},
};

/// The route of `dst` in subnet `subnet`'s table (generation `gen`): `Ok`
/// with the target (`ROUTE_TARGET_LOCAL` or `ROUTE_TARGET_IGW`), the drop
/// otherwise.
#[inline(always)]
pub fn decide(gen: u32, subnet: u16, dst: [u8; 4]) -> Result<u8, DropReason> {
    explain::stage(STAGE_ROUTE);
    let (table, stat) = match ROUTE_SUBNETS.get(subnet_slot(subnet, gen)) {
        Some(r) => (r.table, r.stat),
        None => (0, 0),
    };
    let k = Key::new(ROUTE_FIXED_BITS + 32, RouteKey { table: table.to_be_bytes(), addr: dst });
    let (route, target) = match ROUTES.get(&k) {
        Some(r) => (r.route, r.target),
        None => (ROUTE_NO_MATCH, 0),
    };
    explain::route(stat, dst, route, target);
    if target == ROUTE_TARGET_LOCAL || target == ROUTE_TARGET_IGW {
        return Ok(target);
    }
    if !dry_run() {
        count(stat, route);
    }
    if target == 0 {
        Err(DropReason::NoRoute)
    } else {
        Err(DropReason::RouteBlackhole)
    }
}

/// One more packet dropped by route `route` (or `ROUTE_NO_MATCH`) of the
/// table whose identity is `table`.
#[inline(always)]
fn count(table: u32, route: u16) {
    let k = RouteStatKey { table, route, _pad: 0 };
    if let Some(c) = ROUTE_STATS.get_ptr_mut(&k) {
        // SAFETY: this CPU's value; nothing else runs on this CPU meanwhile.
        unsafe { *c += 1 };
        return;
    }
    // First drop on any CPU: create the key (a racing CPU may have just
    // done so: then count into its entry).
    if ROUTE_STATS.insert(&k, &1, BPF_NOEXIST as u64).is_err() {
        if let Some(c) = ROUTE_STATS.get_ptr_mut(&k) {
            // SAFETY: as above.
            unsafe { *c += 1 };
        }
    }
}
