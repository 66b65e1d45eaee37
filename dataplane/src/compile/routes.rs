//! Route tables, compiled: every table a subnet uses becomes LPM entries
//! {table id, destination prefix} -> (target, route) in `HL_ROUTES`, the
//! implicit `local` route (the VPC's CIDR) included, so the kernel's
//! longest-prefix match is AWS's route priority (VPC user guide, "Route
//! priority"). Each subnet's slot in `HL_RT_SUBNETS` names its table.
//! Table ids start at 1 (0: none) and live in their generation's half
//! (`ROUTE_GENERATION_STRIDE`).

use std::collections::HashMap;

use anyhow::{bail, Result};
use dataplane_common::{
    nacl_stat_id, RouteInfo, RouteKey, SubnetRoute, ROUTE_FIXED_BITS, ROUTE_LOCAL,
    ROUTE_TARGET_BLACKHOLE, ROUTE_TARGET_IGW, ROUTE_TARGET_LOCAL, ROUTE_TARGET_NAT,
    ROUTE_TARGET_PEERING, ROUTE_TARGET_PEERING_INACTIVE,
};

use crate::model::{PeeringStatus, Route, RouteTable, RouteTarget, Topology};

/// One `HL_ROUTES` entry: prefix length (with the fixed bits), key, route.
pub type RouteEntry = (u32, RouteKey, RouteInfo);

/// What the kernel reads for the route tables of one generation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RouteMaps {
    /// By subnet index.
    pub subnets: Vec<SubnetRoute>,
    pub routes: Vec<RouteEntry>,
}

/// The kernel's code for a route target (a peering connection's depends
/// on its status).
pub fn target_code(topo: &Topology, t: RouteTarget) -> u8 {
    match t {
        RouteTarget::Local => ROUTE_TARGET_LOCAL,
        RouteTarget::Blackhole => ROUTE_TARGET_BLACKHOLE,
        RouteTarget::Peering(p) if topo.vpc_peerings[p].status == PeeringStatus::Active => {
            ROUTE_TARGET_PEERING
        }
        RouteTarget::Peering(_) => ROUTE_TARGET_PEERING_INACTIVE,
        RouteTarget::InternetGateway(_) => ROUTE_TARGET_IGW,
        RouteTarget::NatGateway(_) => ROUTE_TARGET_NAT,
    }
}

/// The `HL_ROUTES` value of route `index` of a table of VPC `vpc`: for a
/// peering connection, the VPC at its other end and that VPC's CIDR (all
/// the connection carries: it is not transitive); for a NAT gateway, its
/// Elastic IP, port pool and subnet.
pub fn route_info(topo: &Topology, vpc: usize, index: u16, r: &Route) -> RouteInfo {
    let mut info = RouteInfo {
        target: target_code(topo, r.target),
        route: index,
        ..RouteInfo::default()
    };
    if let RouteTarget::Peering(p) = r.target {
        if let Some(peer) = topo.vpc_peerings[p].peer_of(vpc) {
            let cidr = topo.vpcs[peer].cidr;
            info.peer_vpc = peer as u32;
            info.peer_net = cidr.network().octets();
            info.peer_mask = cidr.netmask().octets();
        }
    }
    if let RouteTarget::NatGateway(g) = r.target {
        let n = &topo.internet.nat_gateways[g];
        info.nat_ip = n.elastic_ip.octets();
        (info.nat_lo, info.nat_hi) = n.ports;
        info.nat_subnet = n.subnet as u16;
        info.nat_gateway = g as u16;
    }
    info
}

/// Compiles the tables the subnets use, with generation-0 ids.
pub fn compile_routes(topo: &Topology) -> Result<RouteMaps> {
    let implied: Vec<RouteTable> = topo
        .vpcs
        .iter()
        .enumerate()
        .map(|(v, vpc)| RouteTable::implied_main(v, &vpc.id))
        .collect();
    let mut out = RouteMaps::default();
    // table config id -> its SubnetRoute
    let mut ids: HashMap<&str, SubnetRoute> = HashMap::new();
    let mut stats: HashMap<u32, &str> = HashMap::new();
    for (s, sn) in topo.subnets.iter().enumerate() {
        let table = topo.route_table_of(s).unwrap_or(&implied[sn.vpc]);
        if let Some(r) = ids.get(table.id.as_str()) {
            out.subnets.push(*r);
            continue;
        }
        let stat = nacl_stat_id(table.id.as_bytes());
        if let Some(other) = stats.insert(stat, &table.id) {
            bail!(
                "route tables {other} and {} have the same counter key ({stat:#x}); rename one",
                table.id
            );
        }
        let id = ids.len() as u32 + 1;
        let local = topo.vpcs[table.vpc].cidr;
        out.routes.push((
            ROUTE_FIXED_BITS + local.prefix_len() as u32,
            RouteKey::new(id, local.network().octets()),
            RouteInfo {
                target: ROUTE_TARGET_LOCAL,
                route: ROUTE_LOCAL,
                ..RouteInfo::default()
            },
        ));
        for (i, r) in table.routes.iter().enumerate() {
            out.routes.push((
                ROUTE_FIXED_BITS + r.destination.prefix_len() as u32,
                RouteKey::new(id, r.destination.network().octets()),
                route_info(topo, table.vpc, i as u16, r),
            ));
        }
        let r = SubnetRoute { table: id, stat };
        ids.insert(&table.id, r);
        out.subnets.push(r);
    }
    Ok(out)
}

/// The route table behind counter key `stat`, if the topology has it.
pub fn route_table_by_stat(topo: &Topology, stat: u32) -> Option<RouteTable> {
    let implied = RouteTable::implied_main;
    super::nacl::by_stat(topo, &topo.route_tables, implied, |t| &t.id, stat)
}

#[cfg(test)]
mod tests;
