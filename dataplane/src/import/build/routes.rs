//! Route tables: AWS's tables (their `local` routes included) into
//! `[[route_table]]` tables. The `local` route is implicit in hyperlab, a
//! route whose state is `blackhole` is a `blackhole` route, a route to an
//! imported peering connection, internet gateway or NAT gateway of the
//! table's VPC names it, and a route to a target hyperlab does not model
//! (a transit gateway, a middlebox ENI, ...) or that is not imported is
//! reported and left out: packets for its destination follow the table's
//! other routes. A VPC's main table is
//! written as `main = true` under its AWS id, unless it is AWS's untouched
//! one (no route imported, no subnet association, no `Name` tag): that is
//! hyperlab's implied main table, and nothing is written for it.

use std::collections::HashMap;

use super::*;

#[derive(Debug)]
pub struct OPeering {
    pub id: String,
    pub requester: usize,
    pub accepter: usize,
    pub status: &'static str,
}

#[derive(Debug)]
pub struct ORouteTable {
    pub id: String,
    pub vpc: usize,
    pub main: bool,
    pub subnets: Vec<usize>,
    /// (destination, target: `blackhole` or a peering connection's,
    /// internet gateway's or NAT gateway's id),
    /// in AWS's order (`local` is implicit).
    pub routes: Vec<(Ipv4Net, String)>,
    pub comment: Option<String>,
}

/// Why a route's target is not imported.
fn unmodelled(target: &str) -> &'static str {
    const KINDS: [(&str, &str); 8] = [
        (
            "igw-",
            "the internet gateway is not in the input (no describe-internet-gateways, no aws_internet_gateway)",
        ),
        (
            "nat-",
            "the NAT gateway is not in the input (no describe-nat-gateways, no aws_nat_gateway)",
        ),
        ("pcx-", "the VPC peering connection is not in the dump"),
        ("tgw-", "transit gateways are not modelled by hyperlab"),
        (
            "vgw-",
            "virtual private gateways (VPN) are not modelled by hyperlab",
        ),
        (
            "eigw-",
            "egress-only internet gateways (IPv6) are not modelled by hyperlab",
        ),
        (
            "vpce-",
            "Gateway Load Balancer endpoints are not modelled by hyperlab",
        ),
        (
            "eni-",
            "routes to a network interface (a middlebox) are not modelled by hyperlab",
        ),
    ];
    KINDS
        .iter()
        .find(|(p, _)| target.starts_with(p))
        .map_or("its target kind is not modelled by hyperlab", |(_, why)| {
            why
        })
}

impl<'i> B<'i> {
    /// VPC peering connections in a status hyperlab models (active,
    /// pending-acceptance, rejected) between two imported VPCs.
    pub(super) fn peerings(&mut self) -> Res<()> {
        for p in &self.inv.peerings {
            let what = format!("VPC peering connection {}", p.id);
            let (code, at) = match &p.status {
                Some((c, at)) => (c.as_str(), at),
                None => ("active", &p.at),
            };
            let status = match code {
                "active" => "active",
                "pending-acceptance" | "initiating-request" | "provisioning" => {
                    "pending-acceptance"
                }
                "rejected" => "rejected",
                other => {
                    let why = format!("its status is {other}: it carries nothing");
                    self.skip(&p.id, at, &what, &why);
                    continue;
                }
            };
            let mut ends = [0; 2];
            let mut missing = None;
            for (k, r) in [&p.requester, &p.accepter].into_iter().enumerate() {
                match self.resolve_vpc(r)? {
                    Ok(v) => ends[k] = v,
                    Err(why) => missing = Some(why),
                }
            }
            if let Some(why) = missing {
                self.skip(&p.id, &p.at, &what, &why);
                continue;
            }
            if self.peerings.contains(&p.id) {
                return Err(p
                    .at
                    .err(format!("duplicate VPC peering connection {}", p.id)));
            }
            self.peerings.insert(p.id.clone());
            let id = self.unique_id(&p.id);
            self.out.peerings.push(OPeering {
                id,
                requester: ends[0],
                accepter: ends[1],
                status,
            });
        }
        Ok(())
    }

    /// Whether an active peering connection joins VPCs `a` and `b`.
    pub(super) fn peered(&self, a: usize, b: usize) -> bool {
        self.out.peerings.iter().any(|p| {
            p.status == "active"
                && ((p.requester, p.accepter) == (a, b) || (p.requester, p.accepter) == (b, a))
        })
    }

    /// A route's target if it is an internet or NAT gateway the dump
    /// holds: `Ok(its id)` when imported in VPC `vpc`, `Err(why)` when
    /// not; `None` for other targets (and gateways a dump without their
    /// call names). An unknown gateway of a kind the dump holds is an
    /// error.
    fn gateway_target(
        &self,
        target: &str,
        vpc: usize,
        at: &At,
    ) -> Res<Option<Result<String, String>>> {
        let (map, kind, src) = if target.starts_with("igw-") {
            (&self.igws, "internet gateway", Source::InternetGateways)
        } else if target.starts_with("nat-") {
            (&self.nats, "NAT gateway", Source::NatGateways)
        } else {
            return Ok(None);
        };
        if let Some(&i) = map.get(target) {
            let (id, its) = if src == Source::InternetGateways {
                let g = &self.out.igws[i];
                (&g.id, g.vpc)
            } else {
                let g = &self.out.nats[i];
                (&g.id, self.out.subnets[g.subnet].vpc)
            };
            if its != vpc {
                let why = format!(
                    "{kind} {target} is in {}, not in the table's VPC {}",
                    self.out.vpcs[its].id, self.out.vpcs[vpc].id
                );
                return Ok(Some(Err(why)));
            }
            return Ok(Some(Ok(id.clone())));
        }
        if let Some(why) = self.skipped.get(target) {
            return Ok(Some(Err(format!("its {kind} {target}: {why}"))));
        }
        if !self.inv.read.contains(&src) {
            return Ok(None);
        }
        Err(at.err(format!("unknown {kind} {target}")))
    }

    pub(super) fn route_tables(&mut self) -> Res<()> {
        let inv = self.inv;
        let mut tables: Vec<Rtb> = Vec::new();
        for t in &inv.route_tables {
            if tables.iter().any(|o| o.id == t.id) {
                return Err(t.at.err(format!("duplicate route table {}", t.id)));
            }
            tables.push(t.clone());
        }
        let find = |tables: &[Rtb], r: &Ref| -> Res<usize> {
            tables
                .iter()
                .position(|t| t.id == r.id)
                .ok_or_else(|| r.at.err(format!("unknown route table {}", r.id)))
        };
        for (r, route) in &inv.routes {
            let i = find(&tables, r)?;
            tables[i].routes.push(route.clone());
        }
        for (r, s) in &inv.route_associations {
            let i = find(&tables, r)?;
            if !tables[i].subnets.iter().any(|o| o.id == s.id) {
                tables[i].subnets.push(s.clone());
            }
        }
        for (r, vpc) in &inv.main_route_tables {
            let i = find(&tables, r)?;
            if tables[i].vpc.id != vpc.id {
                return Err(vpc.at.err(format!(
                    "route table {} is in {}, so it cannot be the main table of {}",
                    r.id, tables[i].vpc.id, vpc.id
                )));
            }
            // The association replaces the VPC's first main table.
            for t in tables.iter_mut().filter(|t| t.vpc.id == vpc.id) {
                t.main = false;
            }
            tables[i].main = true;
        }
        // VPC -> its main table's id; subnet -> its table's id.
        let mut mains: HashMap<usize, String> = HashMap::new();
        let mut assoc: HashMap<usize, String> = HashMap::new();
        for t in &tables {
            let what = format!("route table {}", t.id);
            // AWS's untouched main table: hyperlab's implied one.
            let untouched = t.main
                && t.subnets.is_empty()
                && t.name.is_none()
                && t.routes
                    .iter()
                    .all(|r| !r.blackhole && r.target.as_ref().is_some_and(|(x, _)| x == "local"));
            let vpc = match self.resolve_vpc(&t.vpc)? {
                Ok(v) => v,
                Err(_) if untouched => continue,
                Err(why) => {
                    self.skip(&t.id, &t.at, &what, &why);
                    continue;
                }
            };
            if t.main {
                if let Some(other) = mains.insert(vpc, t.id.clone()) {
                    return Err(t.at.err(format!(
                        "a second main route table of {} (the first is {other})",
                        t.vpc.id
                    )));
                }
            }
            let local = self.out.vpcs[vpc].cidr;
            let mut routes = Vec::new();
            for r in &t.routes {
                let Some((d, at)) = &r.destination else {
                    let dest = r.other_destination.as_deref().unwrap_or("?");
                    let why = "IPv6 and prefix-list routes are not modelled by hyperlab";
                    self.not_imported(&r.at, &format!("route {dest} in {}", t.id), why);
                    continue;
                };
                let dest: Ipv4Net = d
                    .parse()
                    .map_err(|_| at.err(format!("invalid CIDR {d:?}")))?;
                let target = r.target.as_ref().map_or("", |(t, _)| t.as_str());
                if r.blackhole {
                    routes.push((dest, "blackhole".to_string()));
                } else if target.starts_with("pcx-") && self.peerings.contains(target) {
                    routes.push((dest, target.to_string()));
                } else if let Some(to) =
                    self.gateway_target(target, vpc, r.target.as_ref().map_or(&r.at, |(_, a)| a))?
                {
                    match to {
                        Ok(id) => routes.push((dest, id)),
                        Err(why) => {
                            let why = format!(
                                "{why}; packets for {dest} follow the table's other routes"
                            );
                            let what = format!("route {dest} -> {target} in {}", t.id);
                            self.not_imported(&r.at, &what, &why);
                        }
                    }
                } else if target == "local" {
                    if dest != local {
                        let why = format!(
                            "a local route for a destination other than the VPC's CIDR ({local}) \
                             is not modelled by hyperlab"
                        );
                        self.not_imported(&r.at, &format!("route {dest} in {}", t.id), &why);
                    }
                } else {
                    let kind = match self.skipped.get(target) {
                        Some(why) => format!("its VPC peering connection {target}: {why}"),
                        None => unmodelled(target).to_string(),
                    };
                    let why = format!("{kind}; packets for {dest} follow the table's other routes");
                    let what = format!("route {dest} -> {target} in {}", t.id);
                    self.not_imported(&r.at, &what, &why);
                }
            }
            let kind = ("route table", &t.id[..], "one at most");
            let subnets = self.associations(&t.subnets, (vpc, &t.vpc.id), kind, &mut assoc)?;
            if untouched {
                continue;
            }
            let id = self.unique_id(&t.id);
            self.out.route_tables.push(ORouteTable {
                id,
                vpc,
                main: t.main,
                subnets,
                routes,
                comment: comment(&t.name),
            });
        }
        Ok(())
    }
}
