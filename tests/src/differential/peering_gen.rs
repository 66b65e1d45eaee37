//! VPC peering in random topologies: connections between VPCs whose CIDRs
//! do not overlap (the others AWS refuses), in every status, and routes to
//! them as AWS accepts them (docs/DATAPLANE.md, "VPC peering"): to the
//! peer's CIDR or one of its subnets (crossing), to a third VPC's CIDR or
//! 10.0.0.0/8 and 0.0.0.0/0 (not transitive beyond the peer's CIDR),
//! sometimes in one direction only (the reply then meets a table without
//! a route back).

use std::fmt::Write;

use dataplane::model::Ipv4Net;

use super::rng::Rng;
use super::topo_gen::{PeerSpec, RouteTableSpec, RuleSpec, TopoSpec};

/// A `[[vpc_peering]]`: its two VPCs (indices) and its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeeringSpec {
    pub id: String,
    pub requester: usize,
    pub accepter: usize,
    pub status: &'static str,
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Draws connections between VPCs that can be peered, then peering routes
/// into the VPCs' tables (a VPC without a main table sometimes gets one
/// just for them).
pub fn peerings(rng: &mut Rng, t: &mut TopoSpec) {
    let n = t.vpcs.len();
    for a in 0..n {
        for b in a + 1..n {
            if overlaps(&t.vpcs[a].cidr, &t.vpcs[b].cidr) || !rng.chance(75) {
                continue;
            }
            let status = *rng.pick(&[
                "active",
                "active",
                "active",
                "pending-acceptance",
                "rejected",
            ]);
            let (requester, accepter) = if rng.chance(50) { (a, b) } else { (b, a) };
            t.peerings.push(PeeringSpec {
                id: format!("pcx-{}", t.peerings.len()),
                requester,
                accepter,
                status,
            });
        }
    }
    for p in 0..t.peerings.len() {
        let pc = t.peerings[p].clone();
        for (v, peer) in [(pc.requester, pc.accepter), (pc.accepter, pc.requester)] {
            admit(rng, t, (v, peer), pc.status == "active");
        }
    }
    for v in 0..n {
        let mine: Vec<usize> = (0..t.peerings.len())
            .filter(|&p| t.peerings[p].requester == v || t.peerings[p].accepter == v)
            .collect();
        if mine.is_empty() {
            continue;
        }
        if !t.route_tables.iter().any(|r| r.vpc == v && r.main) && rng.chance(80) {
            let n = t.route_tables.len();
            t.route_tables.push(RouteTableSpec::empty(n, v, true));
        }
        let local = t.vpcs[v].cidr;
        let tables: Vec<usize> = (0..t.route_tables.len())
            .filter(|&r| t.route_tables[r].vpc == v)
            .collect();
        for r in tables {
            // Most tables route each connection's peer CIDR (so traffic
            // crosses), then 0-2 more routes drawn as below.
            for &p in &mine {
                let pc = &t.peerings[p];
                let peer = if pc.requester == v {
                    pc.accepter
                } else {
                    pc.requester
                };
                let dest = t.vpcs[peer].cidr;
                let rt = &t.route_tables[r];
                let taken = rt.routes.iter().any(|(d, _)| *d == dest)
                    || rt.peering_routes.iter().any(|(d, _)| *d == dest);
                if !taken && rng.chance(80) {
                    t.route_tables[r].peering_routes.push((dest, p));
                }
            }
            for _ in 0..rng.range(0, 3) {
                let p = *rng.pick(&mine);
                let pc = &t.peerings[p];
                let peer = if pc.requester == v {
                    pc.accepter
                } else {
                    pc.requester
                };
                let peer_subnets: Vec<Ipv4Net> = t
                    .subnets
                    .iter()
                    .filter(|s| s.vpc == peer)
                    .map(|s| s.cidr)
                    .collect();
                let third: Vec<Ipv4Net> = (0..n)
                    .filter(|&x| x != v && x != peer)
                    .map(|x| t.vpcs[x].cidr)
                    .collect();
                let dest = match rng.weighted(&[6, 2, 2, 1]) {
                    0 => t.vpcs[peer].cidr,
                    1 if !peer_subnets.is_empty() => *rng.pick(&peer_subnets),
                    2 if !third.is_empty() => *rng.pick(&third),
                    _ => *rng.pick(&[
                        "10.0.0.0/8".parse().expect("cidr"),
                        "0.0.0.0/0".parse().expect("cidr"),
                    ]),
                };
                // What AWS refuses: a peering route at or inside the local
                // route; one route per destination.
                let rt = &t.route_tables[r];
                let inside =
                    local.contains(&dest.network()) && dest.prefix_len() >= local.prefix_len();
                let taken = rt.routes.iter().any(|(d, _)| *d == dest)
                    || rt.peering_routes.iter().any(|(d, _)| *d == dest);
                if inside || taken {
                    continue;
                }
                t.route_tables[r].peering_routes.push((dest, p));
            }
        }
    }
}

/// Rules in some of VPC `v`'s groups for traffic with VPC `peer`: in
/// from its CIDR or (across an active connection only, as AWS allows)
/// from one of its groups, and out to its CIDR where egress is written.
fn admit(rng: &mut Rng, t: &mut TopoSpec, (v, peer): (usize, usize), active: bool) {
    let theirs: Vec<usize> = (0..t.sgs.len()).filter(|&g| t.sgs[g].vpc == peer).collect();
    let cidr = t.vpcs[peer].cidr;
    for g in 0..t.sgs.len() {
        if t.sgs[g].vpc != v || !rng.chance(60) {
            continue;
        }
        let peer_spec = if active && !theirs.is_empty() && rng.chance(40) {
            PeerSpec::Group(*rng.pick(&theirs))
        } else {
            PeerSpec::Cidr(cidr)
        };
        let proto = *rng.pick(&["all", "tcp", "udp", "icmp"]);
        t.sgs[g].ingress.push(RuleSpec {
            proto,
            ports: None,
            icmp: None,
            peer: peer_spec,
        });
        if let Some(egress) = &mut t.sgs[g].egress {
            egress.push(RuleSpec {
                proto: "all",
                ports: None,
                icmp: None,
                peer: PeerSpec::Cidr(cidr),
            });
        }
    }
}

/// The `[[vpc_peering]]` sections.
pub fn render(t: &TopoSpec, w: &mut String) {
    for p in &t.peerings {
        let _ = write!(
            w,
            "\n[[vpc_peering]]\nid = \"{}\"\nrequester = \"{}\"\naccepter = \"{}\"\nstatus = \"{}\"\n",
            p.id, t.vpcs[p.requester].id, t.vpcs[p.accepter].id, p.status
        );
    }
}
