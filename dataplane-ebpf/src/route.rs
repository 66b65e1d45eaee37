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
//!
//! A route to a VPC peering connection (VPC peering guide) names the VPC
//! at the connection's other end and that VPC's CIDR: an active
//! connection carries a destination inside the CIDR to the peer VPC (the
//! caller looks the address up there); one outside it is
//! `peering_not_transitive` (a peering never leads on to a third VPC);
//! a connection that is not active drops as `peering_not_active`. Both
//! drops are counted on the route, as a blackhole's are.

use aya_ebpf::{bindings::BPF_NOEXIST, maps::lpm_trie::Key};
use dataplane_common::{
    explain::STAGE_ROUTE, subnet_slot, DropReason, RouteKey, RouteStatKey, ROUTE_FIXED_BITS,
    ROUTE_NO_MATCH, ROUTE_TARGET_BLACKHOLE, ROUTE_TARGET_IGW, ROUTE_TARGET_LOCAL, ROUTE_TARGET_NAT,
    ROUTE_TARGET_PEERING, RouteInfo,
};

use crate::{
    explain::{self, dry_run},
    maps::{ROUTES, ROUTE_STATS, ROUTE_SUBNETS},
};

/// [`decide`]'s answer for a destination of the sender's own VPC.
pub const LOCAL: u32 = u32::MAX;
/// [`decide`]'s answer for a destination the VPC's internet gateway takes
/// (`gateway.rs`).
pub const IGW: u32 = u32::MAX - 1;
/// [`decide`]'s answer for a destination a NAT gateway takes
/// (`nat_gateway.rs`; [`nat_route`] gives the gateway).
pub const NAT: u32 = u32::MAX - 2;

/// The route of `dst` in subnet `subnet`'s table (generation `gen`):
/// [`LOCAL`], [`IGW`], or the peer VPC an active peering connection
/// carries `dst` to; the drop otherwise.
#[inline(always)]
pub fn decide(gen: u32, subnet: u16, dst: [u8; 4]) -> Result<u32, DropReason> {
    explain::stage(STAGE_ROUTE);
    let stat = match ROUTE_SUBNETS.get(subnet_slot(subnet, gen)) {
        Some(r) => r.stat,
        None => 0,
    };
    let (route, target, peer) = lookup(gen, subnet, dst);
    explain::route(stat, dst, route, target);
    if target == ROUTE_TARGET_LOCAL {
        return Ok(LOCAL);
    }
    if target == ROUTE_TARGET_IGW {
        return Ok(IGW);
    }
    if target == ROUTE_TARGET_NAT {
        return Ok(NAT);
    }
    if target == ROUTE_TARGET_PEERING && peer != LOCAL {
        return Ok(peer);
    }
    if !dry_run() {
        count(stat, route);
    }
    Err(if target == 0 {
        DropReason::NoRoute
    } else if target == ROUTE_TARGET_BLACKHOLE {
        DropReason::RouteBlackhole
    } else if target == ROUTE_TARGET_PEERING {
        DropReason::PeeringNotTransitive
    } else {
        DropReason::PeeringNotActive
    })
}

/// Whether subnet `subnet`'s table sends `dst` back over an active
/// peering connection to VPC `vpc` (the return route a reply across a
/// peering needs: AWS routes it by the table of the subnet it leaves).
#[inline(always)]
pub fn back(gen: u32, subnet: u16, dst: [u8; 4], vpc: u32) -> bool {
    let (_, target, peer) = lookup(gen, subnet, dst);
    target == ROUTE_TARGET_PEERING && peer == vpc
}

/// The NAT gateway route [`decide`] answered [`NAT`] for (a copy: the
/// gateway's subnet, Elastic IP and port pool).
#[inline(always)]
pub fn nat_route(gen: u32, subnet: u16, dst: [u8; 4]) -> Option<RouteInfo> {
    match ROUTES.get(&route_key(gen, subnet, dst)) {
        Some(r) if r.target == ROUTE_TARGET_NAT => Some(*r),
        _ => None,
    }
}

/// Whether subnet `subnet`'s table sends `dst` to the internet gateway
/// (a NAT gateway's own subnet must: the gateway sends on through it).
#[inline(always)]
pub fn to_igw(gen: u32, subnet: u16, dst: [u8; 4]) -> bool {
    let (_, target, _) = lookup(gen, subnet, dst);
    target == ROUTE_TARGET_IGW
}

#[inline(always)]
fn route_key(gen: u32, subnet: u16, dst: [u8; 4]) -> Key<RouteKey> {
    let table = match ROUTE_SUBNETS.get(subnet_slot(subnet, gen)) {
        Some(r) => r.table,
        None => 0,
    };
    Key::new(ROUTE_FIXED_BITS + 32, RouteKey { table: table.to_be_bytes(), addr: dst })
}

/// The deciding route of `dst` in subnet `subnet`'s table: its index (or
/// `ROUTE_NO_MATCH`), its target (0: none), and for a peering route whose
/// peer CIDR holds `dst` the peer VPC ([`LOCAL`] otherwise).
#[inline(always)]
fn lookup(gen: u32, subnet: u16, dst: [u8; 4]) -> (u16, u8, u32) {
    match ROUTES.get(&route_key(gen, subnet, dst)) {
        Some(r) => {
            let d = u32::from_ne_bytes(dst);
            let inside = d & u32::from_ne_bytes(r.peer_mask) == u32::from_ne_bytes(r.peer_net);
            let peer = if r.target == ROUTE_TARGET_PEERING && inside { r.peer_vpc } else { LOCAL };
            (r.route, r.target, peer)
        }
        None => (ROUTE_NO_MATCH, 0, LOCAL),
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
