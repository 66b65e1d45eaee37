//! The internet gateway and the lab's internet in generated topologies
//! (docs/DATAPLANE.md, "Internet gateway and the lab's internet"): one or
//! two internet hosts on documentation addresses, an internet gateway for
//! some VPCs, public addresses for some of their ENIs, and routes to the
//! gateway (0.0.0.0/0 or one documentation range) in some of their tables.
//! Everything as `check` accepts it: one gateway per VPC, public addresses
//! only in VPCs with one, unique addresses, gateway routes outside the VPC.

use std::net::Ipv4Addr;

use super::rng::Rng;
use super::topo_gen::{RouteTableSpec, TopoSpec};

/// Documentation addresses the generator draws from: hosts take .10-.12,
/// public addresses .20 on, so the packet generator's unused .99 is free.
const RANGES: [[u8; 3]; 2] = [[203, 0, 113], [198, 51, 100]];

pub fn internet(rng: &mut Rng, t: &mut TopoSpec) {
    for k in 0..rng.range(1, 2) {
        let r = RANGES[k as usize % 2];
        t.internet_hosts
            .push(Ipv4Addr::new(r[0], r[1], r[2], 10 + rng.below(3) as u8));
    }
    t.internet_hosts.dedup();
    let mut next = 20u8;
    for v in 0..t.vpcs.len() {
        if !rng.chance(70) {
            continue;
        }
        t.igws.push(v);
        let vpc_subnets: Vec<usize> = (0..t.subnets.len())
            .filter(|&s| t.subnets[s].vpc == v)
            .collect();
        for e in t.enis.iter_mut() {
            if vpc_subnets.contains(&e.subnet) && rng.chance(60) {
                let r = RANGES[rng.below(2)];
                e.public_ip = Some(Ipv4Addr::new(r[0], r[1], r[2], next));
                next += 1;
            }
        }
        let dest = |rng: &mut Rng| -> dataplane::model::Ipv4Net {
            let d = *rng.pick(&[
                "0.0.0.0/0",
                "0.0.0.0/0",
                "203.0.113.0/24",
                "198.51.100.0/24",
            ]);
            d.parse().expect("a valid CIDR")
        };
        let mut has_main = false;
        for r in t.route_tables.iter_mut().filter(|r| r.vpc == v) {
            has_main |= r.main;
            if rng.chance(70) {
                let d = dest(rng);
                let taken = r.routes.iter().any(|(x, _)| *x == d)
                    || r.peering_routes.iter().any(|(x, _)| *x == d);
                if !taken {
                    r.igw.push(d);
                }
            }
        }
        if !has_main && rng.chance(60) {
            let d = dest(rng);
            t.route_tables.push(RouteTableSpec {
                id: format!("rtb-{}", t.route_tables.len()),
                vpc: v,
                main: true,
                subnets: Vec::new(),
                routes: Vec::new(),
                peering_routes: Vec::new(),
                igw: vec![d],
            });
        }
    }
}
