//! Rules 10 and 11's route lookups: the source subnet's table, its
//! longest-prefix route, and the return route a reply across a peering
//! needs.

use std::net::Ipv4Addr;

use dataplane::model::{PeeringStatus, RouteTable, RouteTarget};
use dataplane_common::DropReason;

use super::{Model, RouteKind, Routed};

impl Model {
    /// Rule 10: the source subnet's route table for `dst`: the longest
    /// prefix among its routes and the VPC's `local` route decides: `local`,
    /// an active peering to a VPC (rule 11), the internet gateway (rule 12) or
    /// a NAT gateway (rule 13).
    pub(super) fn route_table(&mut self, eni: usize, dst: [u8; 4]) -> Result<Routed, DropReason> {
        let subnet = self.topo.enis[eni].subnet;
        let (table, best) = self.best_route(subnet, dst);
        let t = &self.topo;
        let vpc = t.subnets[subnet].vpc;
        let addr = Ipv4Addr::from(dst);
        let (kind, counted, peer) = match best {
            None => (
                RouteKind::NoRoute,
                Some(dataplane_common::ROUTE_NO_MATCH),
                None,
            ),
            Some((_, None)) => (RouteKind::Local, None, None),
            Some((_, Some(i))) => match table.routes[i].target {
                RouteTarget::Local => (RouteKind::Local, None, None),
                RouteTarget::Blackhole => (RouteKind::Blackhole, Some(i as u16), None),
                RouteTarget::InternetGateway(_) => (RouteKind::InternetGateway, None, None),
                RouteTarget::NatGateway(g) => (RouteKind::NatGateway, None, Some(g)),
                RouteTarget::Peering(pc) => {
                    let pc = &t.vpc_peerings[pc];
                    let peer = pc
                        .peer_of(vpc)
                        .expect("config: a peering of the table's VPC");
                    if pc.status != PeeringStatus::Active {
                        (RouteKind::PeeringNotActive, Some(i as u16), None)
                    } else if !t.vpcs[peer].cidr.contains(&addr) {
                        (RouteKind::PeeringNotTransitive, Some(i as u16), None)
                    } else {
                        (RouteKind::Peering, None, Some(peer))
                    }
                }
            },
        };
        self.met_route = Some(kind);
        if let Some(route) = counted {
            let key = dataplane_common::RouteStatKey {
                table: dataplane_common::nacl_stat_id(table.id.as_bytes()),
                route,
                _pad: 0,
            };
            if let Some(i) = self.route_drops.iter().position(|r| r.key == key) {
                self.counters.route_drops[i] += 1;
            }
        }
        match kind {
            RouteKind::Local => Ok(Routed::Local),
            RouteKind::InternetGateway => Ok(Routed::Internet),
            RouteKind::NatGateway => Ok(Routed::NatGateway(peer.expect("the gateway's index"))),
            RouteKind::Peering => Ok(Routed::Peer(peer.expect("an active peering's VPC"))),
            RouteKind::Blackhole => Err(DropReason::RouteBlackhole),
            RouteKind::NoRoute => Err(DropReason::NoRoute),
            RouteKind::PeeringNotActive => Err(DropReason::PeeringNotActive),
            RouteKind::PeeringNotTransitive => Err(DropReason::PeeringNotTransitive),
        }
    }

    /// Subnet `subnet`'s table, and its longest-prefix route for `dst`:
    /// `(prefix length, route index or None for local)`.
    pub(super) fn best_route(
        &self,
        subnet: usize,
        dst: [u8; 4],
    ) -> (RouteTable, Option<(u8, Option<usize>)>) {
        let t = &self.topo;
        let vpc = t.subnets[subnet].vpc;
        let table = match t.subnet_routes.get(subnet) {
            Some(&i) => t.route_tables[i].clone(),
            None => RouteTable::implied_main(vpc, &t.vpcs[vpc].id),
        };
        let addr = Ipv4Addr::from(dst);
        let local = t.vpcs[vpc].cidr;
        let mut best: Option<(u8, Option<usize>)> =
            local.contains(&addr).then_some((local.prefix_len(), None));
        for (i, r) in table.routes.iter().enumerate() {
            let longer = best.is_none_or(|(len, _)| r.destination.prefix_len() > len);
            if r.destination.contains(&addr) && longer {
                best = Some((r.destination.prefix_len(), Some(i)));
            }
        }
        (table, best)
    }

    /// Rule 11's return route: subnet `subnet`'s table sends `dst` over an
    /// active peering connection to VPC `vpc`, and `dst` is in its CIDR.
    pub(super) fn routes_back(&self, subnet: usize, dst: [u8; 4], vpc: usize) -> bool {
        let t = &self.topo;
        let (table, best) = self.best_route(subnet, dst);
        let Some((_, Some(i))) = best else {
            return false;
        };
        match table.routes[i].target {
            RouteTarget::Peering(pc) => {
                let pc = &t.vpc_peerings[pc];
                pc.status == PeeringStatus::Active
                    && pc.peer_of(t.subnets[subnet].vpc) == Some(vpc)
                    && t.vpcs[vpc].cidr.contains(&Ipv4Addr::from(dst))
            }
            _ => false,
        }
    }
}
