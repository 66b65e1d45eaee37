//! The internet gateway and the lab's internet in generated topologies
//! (docs/DATAPLANE.md, "Internet gateway and the lab's internet"): one or
//! two internet hosts on documentation addresses, an internet gateway for
//! some VPCs, public addresses for some of their ENIs, and routes to the
//! gateway (0.0.0.0/0 or one documentation range) in some of their tables.
//! Everything as `check` accepts it: one gateway per VPC, public addresses
//! only in VPCs with one, unique addresses, gateway routes outside the VPC.
//! NAT gateways (docs/DATAPLANE.md, "NAT gateway"): in some VPCs with an
//! internet gateway, one in a random subnet (public or not: a private one
//! is `no_route`), often with a pool of 1-2 ports so that full pools
//! (`nat_gateway_error_port_allocation`) happen; routes to it in some of
//! the VPC's tables. Their Elastic IPs join the internet's addresses, so
//! internet hosts send to them (`nat_gateway_outside_initiated`).

use std::fmt::Write;
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
        let nat = rng.chance(75).then(|| {
            let subnet = *rng.pick(&vpc_subnets);
            let r = RANGES[rng.below(2)];
            let private_ip = host_of(t, subnet, 230 + t.nat_gateways.len() as u32);
            t.nat_gateways.push(NatSpec {
                subnet,
                private_ip,
                elastic_ip: Ipv4Addr::new(r[0], r[1], r[2], next),
                ports: rng.chance(70).then(|| (1024, 1024 + rng.below(2) as u16)),
            });
            next += 1;
            t.nat_gateways.len() - 1
        });
        let mut has_main = false;
        for r in t.route_tables.iter_mut().filter(|r| r.vpc == v) {
            has_main |= r.main;
            if rng.chance(70) {
                let d = dest(rng);
                if !taken(r, d) {
                    r.igw.push(d);
                }
            }
            if let Some(g) = nat.filter(|_| rng.chance(75)) {
                let d = dest(rng);
                if !taken(r, d) {
                    r.nat.push((d, g));
                }
            }
        }
        if !has_main && rng.chance(60) {
            let d = dest(rng);
            let n = t.route_tables.len();
            t.route_tables.push(RouteTableSpec {
                igw: if nat.is_some() { Vec::new() } else { vec![d] },
                nat: nat.map(|g| vec![(d, g)]).unwrap_or_default(),
                ..RouteTableSpec::empty(n, v, true)
            });
        }
        if let Some(g) = nat.filter(|_| rng.chance(80)) {
            public_subnet(t, v, t.nat_gateways[g].subnet);
        }
    }
}

/// Makes subnet `s` (of VPC `v`) public: its table routes 0.0.0.0/0 to
/// the internet gateway (a table of its own if it used the main one), so
/// the NAT gateway in it reaches the internet.
fn public_subnet(t: &mut TopoSpec, v: usize, s: usize) {
    let all: dataplane::model::Ipv4Net = "0.0.0.0/0".parse().expect("a valid CIDR");
    match t.route_tables.iter_mut().find(|r| r.subnets.contains(&s)) {
        Some(r) => {
            r.nat.retain(|(d, _)| *d != all);
            if !taken(r, all) {
                r.igw.push(all);
            }
        }
        None => {
            let n = t.route_tables.len();
            t.route_tables.push(RouteTableSpec {
                subnets: vec![s],
                igw: vec![all],
                ..RouteTableSpec::empty(n, v, false)
            })
        }
    }
}

/// Whether table `r` has a route for `d` already (one route per
/// destination).
fn taken(r: &RouteTableSpec, d: dataplane::model::Ipv4Net) -> bool {
    r.routes.iter().any(|(x, _)| *x == d)
        || r.peering_routes.iter().any(|(x, _)| *x == d)
        || r.igw.contains(&d)
        || r.nat.iter().any(|(x, _)| *x == d)
}

/// A NAT gateway: its subnet (index), addresses and `ports` (`None`: the
/// default pool of 55,000).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatSpec {
    pub subnet: usize,
    pub private_ip: Ipv4Addr,
    pub elastic_ip: Ipv4Addr,
    pub ports: Option<(u16, u16)>,
}

/// Address `n` of subnet `subnet` (ENIs and managed addresses take up to
/// .200, so .230 on is free).
fn host_of(t: &TopoSpec, subnet: usize, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(t.subnets[subnet].cidr.network()) + n)
}

/// `[internet]`, the internet gateways and the NAT gateways (before the
/// route tables that name them).
pub fn write_internet(w: &mut String, t: &TopoSpec) {
    if !t.internet_hosts.is_empty() {
        let hosts: Vec<String> = t
            .internet_hosts
            .iter()
            .enumerate()
            .map(|(k, ip)| format!("{{ name = \"net{k}\", ip = \"{ip}\" }}"))
            .collect();
        let _ = write!(w, "\n[internet]\nhosts = [{}]\n", hosts.join(", "));
    }
    for &v in &t.igws {
        let _ = write!(
            w,
            "\n[[internet_gateway]]\nid = \"igw-{v}\"\nvpc = \"{}\"\n",
            t.vpcs[v].id
        );
    }
    for (g, n) in t.nat_gateways.iter().enumerate() {
        let _ = write!(
            w,
            "\n[[nat_gateway]]\nid = \"nat-{g}\"\nsubnet = \"{}\"\nprivate_ip = \"{}\"\nelastic_ip = \"{}\"\n",
            t.subnets[n.subnet].id, n.private_ip, n.elastic_ip
        );
        if let Some((lo, hi)) = n.ports {
            let _ = writeln!(w, "ports = \"{lo}-{hi}\"");
        }
    }
}
