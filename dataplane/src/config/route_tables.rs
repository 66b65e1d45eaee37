//! Route tables: `[[route_table]]`. Pass 1 reads each table on its own
//! (its routes' destinations and targets); pass 2 (`resolve_route_tables`)
//! resolves the VPC and the subnet associations, checks every route
//! against the VPC's `local` route, gives each VPC without a main table
//! the implied one, and every other subnet its VPC's main table.
//!
//! AWS's rules (VPC user guide, "Route tables", "Subnet route tables",
//! "Route priority"): every table has a `local` route for the VPC's CIDR
//! that cannot be removed; the longest prefix that matches decides, so a
//! broader route never overrides `local`; a route more specific than
//! `local` must match the whole CIDR of a subnet of the VPC; a table has
//! one route per destination; a VPC has one main table, used by every
//! subnet without an explicit association; a subnet is associated with
//! one table at most. A route to a VPC peering connection (VPC peering
//! guide, "Update your route tables for a VPC peering connection") names
//! a connection of the table's VPC and a destination outside its CIDR.

use std::collections::HashMap;

use super::diagnostics::Checker;
use super::refs::{defined, IdInfo, Kind};
use super::tree::{join, Node, Sp};
use super::values::parse_cidr;
use crate::model::{Ipv4Net, Route, RouteTable, RouteTarget, Subnet, Vpc, VpcPeering};

/// The VPC of each internet gateway and each NAT gateway, by index
/// (`None`: unresolved), for route targets.
pub(super) struct GatewayVpcs {
    pub(super) igw: Vec<Option<usize>>,
    pub(super) nat: Vec<Option<usize>>,
}

pub(super) const ROUTE_TABLE_KEYS: &[&str] = &["id", "vpc", "main", "subnets", "routes"];

pub(super) const ROUTE_KEYS: &[&str] = &["destination", "target"];

/// What the `target` of a route may be, for messages.
const TARGETS: &str = "\"local\", \"blackhole\", or the id of a VPC peering connection, NAT \
                       gateway or internet gateway";

/// What a `[[route_table]]` says before references are resolved.
#[derive(Default)]
pub(super) struct RouteTableIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) vpc: Option<Sp<&'n str>>,
    /// `main = true`, and where it is written.
    pub(super) main: Option<usize>,
    pub(super) subnets: Vec<(usize, Sp<&'n str>)>,
    pub(super) routes: Vec<RouteIn>,
}

/// One route as written: its field path, its destination and target with
/// where each is written.
pub(super) struct RouteIn {
    pub(super) path: String,
    pub(super) destination: Sp<Ipv4Net>,
    pub(super) target: Sp<TargetIn>,
}

/// A route's target before references are resolved.
pub(super) enum TargetIn {
    Local,
    Blackhole,
    /// A `pcx-` id: a VPC peering connection, resolved in pass 2.
    Peering(String),
    /// Any other id: an internet gateway, resolved in pass 2.
    Gateway(String),
}

impl<'s> Checker<'s> {
    pub(super) fn route_table<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> RouteTableIn<'n> {
        let mut r = RouteTableIn {
            path,
            ..RouteTableIn::default()
        };
        let Some(t) = self.table(node, &r.path, "a table", ROUTE_TABLE_KEYS) else {
            return r;
        };
        r.id = self.id(&t, Kind::RouteTable, index, ids);
        r.vpc = self.req_str(&t, "vpc", "the id of a [[vpc]]");
        if self.opt_bool(&t, "main") == Some(true) {
            r.main = t.get("main").map(|e| e.node.pos);
        }
        if let Some(e) = t.get("subnets") {
            if let Some((list, _)) = self.str_list(
                e,
                &t.field("subnets"),
                "an array of subnet ids such as [\"subnet-a1\"]",
                "a subnet id",
            ) {
                r.subnets = list;
            }
        }
        if let Some(e) = t.get("routes") {
            let field = t.field("routes");
            if let Some(items) = self.as_array(&e.node, &field, "an array of route tables") {
                for (i, n) in items.iter().enumerate() {
                    if let Some(route) = self.route(n, format!("{field}[{i}]")) {
                        r.routes.push(route);
                    }
                }
            }
        }
        r
    }

    /// `{ destination = CIDR, target = "local" | "blackhole" }`; `None`
    /// when a field is missing or invalid (reported).
    fn route(&mut self, node: &Node, path: String) -> Option<RouteIn> {
        let t = self.table(node, &path, "a route table", ROUTE_KEYS)?;
        let destination = self
            .req_str(&t, "destination", "an IPv4 CIDR such as \"0.0.0.0/0\"")
            .and_then(|c| match parse_cidr(c.v, false) {
                Ok(net) => Some(Sp { v: net, pos: c.pos }),
                Err(msg) => {
                    self.err(c.pos, &t.field("destination"), msg);
                    None
                }
            });
        let target = self.req_str(&t, "target", TARGETS).map(|g| {
            let v = match g.v {
                "local" => TargetIn::Local,
                "blackhole" => TargetIn::Blackhole,
                pcx if pcx.starts_with("pcx-") => TargetIn::Peering(pcx.to_string()),
                // Resolved in pass 2, once every id is known.
                other => TargetIn::Gateway(other.to_string()),
            };
            Sp { v, pos: g.pos }
        });
        Some(RouteIn {
            path,
            destination: destination?,
            target: target?,
        })
    }

    /// Pass 2: the tables' VPCs, routes and associations, each VPC's main
    /// table, and every subnet's table.
    pub(super) fn resolve_route_tables(
        &mut self,
        (vpcs, peerings): (&[Vpc], &[VpcPeering]),
        (subnets, subnet_vpcs): (&[Subnet], &[Option<usize>]),
        tables: Vec<RouteTableIn<'_>>,
        (ids, gateway_vpcs): (&HashMap<String, IdInfo>, &GatewayVpcs),
    ) -> (Vec<RouteTable>, Vec<usize>) {
        let vpc_ids = defined(ids, Kind::Vpc, vpcs.iter().map(|v| &v.id));
        let subnet_ids = defined(ids, Kind::Subnet, subnets.iter().map(|s| &s.id));
        let mut out: Vec<RouteTable> = Vec::new();
        // VPC -> (its main table, where `main = true` is written)
        let mut mains: HashMap<usize, (usize, usize)> = HashMap::new();
        // subnet -> (table index, where that association is written)
        let mut assoc: HashMap<usize, (usize, usize)> = HashMap::new();
        for (i, r) in tables.into_iter().enumerate() {
            let vpc = r
                .vpc
                .and_then(|v| self.resolve(v, Kind::Vpc, &join(&r.path, "vpc"), ids, &vpc_ids));
            if let (Some(v), Some(pos)) = (vpc, r.main) {
                match mains.get(&v) {
                    Some(&(j, other)) => {
                        let line = self.line_of(other);
                        self.err(
                            pos,
                            &join(&r.path, "main"),
                            format!(
                                "{} already has a main route table, {} (line {line}); a VPC has \
                                 exactly one",
                                vpcs[v].id, out[j].id
                            ),
                        );
                    }
                    None => {
                        mains.insert(v, (i, pos));
                    }
                }
            }
            let field = join(&r.path, "subnets");
            for (k, s) in &r.subnets {
                let f = format!("{field}[{k}]");
                if r.subnets.iter().any(|(j, o)| j < k && o.v == s.v) {
                    self.err(s.pos, &f, format!("subnet \"{}\" is listed twice", s.v));
                    continue;
                }
                let Some(sn) = self.resolve(*s, Kind::Subnet, &f, ids, &subnet_ids) else {
                    continue;
                };
                if let (Some(v), Some(sv)) = (vpc, subnet_vpcs[sn]) {
                    if v != sv {
                        self.err(
                            s.pos,
                            &f,
                            format!(
                                "subnet \"{}\" is in {}, but {} is in {} (a route table is \
                                 associated with subnets of its own VPC)",
                                s.v, vpcs[sv].id, r.id, vpcs[v].id
                            ),
                        );
                        continue;
                    }
                }
                if let Some(&(j, pos)) = assoc.get(&sn) {
                    let line = self.line_of(pos);
                    self.err(
                        s.pos,
                        &f,
                        format!(
                            "subnet \"{}\" is already associated with {} (line {line}); a \
                             subnet is associated with one route table at most",
                            s.v, out[j].id
                        ),
                    );
                    continue;
                }
                assoc.insert(sn, (i, s.pos));
            }
            let routes = match vpc {
                Some(v) => {
                    self.check_routes((vpcs, peerings), subnets, v, &r.routes, (ids, gateway_vpcs))
                }
                None => Vec::new(),
            };
            out.push(RouteTable {
                id: r.id,
                vpc: vpc.unwrap_or(0),
                main: r.main.is_some(),
                routes,
            });
        }
        // Each VPC's main table: its `main = true` one, else the implied one.
        let mut main_of: Vec<usize> = Vec::with_capacity(vpcs.len());
        for (v, vpc) in vpcs.iter().enumerate() {
            match mains.get(&v) {
                Some(&(i, _)) => main_of.push(i),
                None => {
                    main_of.push(out.len());
                    out.push(RouteTable::implied_main(v, &vpc.id));
                }
            }
        }
        let subnet_routes = subnets
            .iter()
            .enumerate()
            .map(|(s, sn)| match assoc.get(&s) {
                Some(&(t, _)) => t,
                None => main_of.get(sn.vpc).copied().unwrap_or(0),
            })
            .collect();
        (out, subnet_routes)
    }

    /// The routes of a table of VPC `vpc`, checked against its `local`
    /// route (AWS's rules, module docs); a written `local` route is the
    /// implicit one and is left out.
    fn check_routes(
        &mut self,
        (vpcs, peerings): (&[Vpc], &[VpcPeering]),
        subnets: &[Subnet],
        v: usize,
        routes: &[RouteIn],
        (ids, gateway_vpcs): (&HashMap<String, IdInfo>, &GatewayVpcs),
    ) -> Vec<Route> {
        let vpc = &vpcs[v];
        let mut out = Vec::new();
        // destination -> (route path, where it is written)
        let mut seen: HashMap<Ipv4Net, (&str, usize)> = HashMap::new();
        for r in routes {
            let d = r.destination.v;
            let dfield = join(&r.path, "destination");
            if let Some(&(other, pos)) = seen.get(&d) {
                let line = self.line_of(pos);
                self.err(
                    r.destination.pos,
                    &dfield,
                    format!(
                        "{d} is already the destination of {other} (line {line}); a route table \
                         has one route per destination"
                    ),
                );
                continue;
            }
            seen.insert(d, (&r.path, r.destination.pos));
            let local = vpc.cidr;
            let target = match &r.target.v {
                TargetIn::Gateway(g) => {
                    match self.route_gateway(r, g, vpc, v, (ids, gateway_vpcs)) {
                        Some(t)
                            if d.prefix_len() >= local.prefix_len()
                                && local.contains(&d.network()) =>
                        {
                            let kind = match t {
                                RouteTarget::NatGateway(_) => "a NAT gateway",
                                _ => "an internet gateway",
                            };
                            self.err(
                                r.destination.pos,
                                &dfield,
                                format!(
                                    "{d} is inside {}'s CIDR {local}: {kind} route goes outside \
                                     the VPC (the local route covers its own addresses)",
                                    vpc.id
                                ),
                            );
                            continue;
                        }
                        Some(t) => t,
                        None => continue,
                    }
                }
                TargetIn::Local if d == local => continue,
                TargetIn::Local => {
                    self.err(
                        r.target.pos,
                        &join(&r.path, "target"),
                        format!(
                            "target \"local\" routes only the VPC's own CIDR ({local} for {}), \
                             not {d}",
                            vpc.id
                        ),
                    );
                    continue;
                }
                TargetIn::Blackhole => RouteTarget::Blackhole,
                TargetIn::Peering(name) => {
                    match self.peering_target(name, r, (vpcs, peerings), v, ids) {
                        Some(t) => t,
                        None => continue,
                    }
                }
            };
            if d == local {
                self.err(
                    r.destination.pos,
                    &dfield,
                    format!(
                        "{d} is the CIDR of {}: its local route cannot be removed or replaced",
                        vpc.id
                    ),
                );
                continue;
            }
            let whole_subnet = subnets.iter().any(|s| s.vpc == v && s.cidr == d);
            if local.contains(&d) && !whole_subnet {
                self.err(
                    r.destination.pos,
                    &dfield,
                    format!(
                        "{d} is inside {}'s CIDR {local} but is not the CIDR of one of its \
                         subnets: a route more specific than the local route must match a \
                         whole subnet's CIDR",
                        vpc.id
                    ),
                );
                continue;
            }
            if local.contains(&d) && target != RouteTarget::Blackhole {
                self.err(
                    r.destination.pos,
                    &dfield,
                    format!(
                        "{d} is inside {}'s CIDR {local}: a route more specific than the local \
                         route cannot target a VPC peering connection",
                        vpc.id
                    ),
                );
                continue;
            }
            out.push(Route {
                destination: d,
                target,
            });
        }
        out
    }

    /// The internet gateway or NAT gateway a route names by id `g`, which
    /// must be the table's VPC's; `None` when it is not (reported).
    fn route_gateway(
        &mut self,
        r: &RouteIn,
        g: &str,
        vpc: &Vpc,
        v: usize,
        (ids, gateway_vpcs): (&HashMap<String, IdInfo>, &GatewayVpcs),
    ) -> Option<RouteTarget> {
        let field = join(&r.path, "target");
        let gateway = |k: Kind| k == Kind::InternetGateway || k == Kind::NatGateway;
        let Some(info) = ids.get(g).filter(|i| gateway(i.kind)) else {
            let unknown = |kind: Kind, what: &str| {
                let known: Vec<&str> = ids
                    .iter()
                    .filter(|(_, i)| i.kind == kind)
                    .map(|(k, _)| k.as_str())
                    .collect();
                format!(
                    "unknown {} \"{g}\" ({})",
                    kind.name(),
                    if known.is_empty() {
                        format!("no [[{what}]] is defined")
                    } else {
                        format!("defined: {}", sorted(known).join(", "))
                    }
                )
            };
            let msg = match ids.get(g) {
                Some(info) => format!(
                    "target \"{g}\" is {} {} ({}), not a route target (expected {TARGETS})",
                    info.kind.an(),
                    info.kind.name(),
                    info.path
                ),
                None if g.starts_with("igw-") => unknown(Kind::InternetGateway, "internet_gateway"),
                None if g.starts_with("nat-") => unknown(Kind::NatGateway, "nat_gateway"),
                None => format!("unknown target \"{g}\" (expected {TARGETS})"),
            };
            self.err(r.target.pos, &field, msg);
            return None;
        };
        let (vpcs_of, target, what) = if info.kind == Kind::NatGateway {
            (
                &gateway_vpcs.nat,
                RouteTarget::NatGateway(info.index),
                "NAT gateway",
            )
        } else {
            (
                &gateway_vpcs.igw,
                RouteTarget::InternetGateway(info.index),
                "internet gateway",
            )
        };
        match vpcs_of.get(info.index).copied().flatten() {
            Some(gv) if gv == v => Some(target),
            Some(gv) => {
                let other = ids
                    .iter()
                    .find(|(_, i)| i.kind == Kind::Vpc && i.index == gv)
                    .map_or("another VPC", |(k, _)| k.as_str());
                let (verb, plural) = if info.kind == Kind::NatGateway {
                    ("is in", "s")
                } else {
                    ("is attached to", "")
                };
                self.err(
                    r.target.pos,
                    &field,
                    format!(
                        "{what} \"{g}\" {verb} {other}, not {}: a route table routes only to \
                         its own VPC's {what}{plural}",
                        vpc.id
                    ),
                );
                None
            }
            // Its VPC did not resolve: reported with the gateway.
            None => None,
        }
    }
}

impl<'s> Checker<'s> {
    /// A route's `pcx-` target: a peering connection one of whose ends is
    /// the table's VPC (`v`).
    fn peering_target(
        &mut self,
        name: &str,
        r: &RouteIn,
        (vpcs, peerings): (&[Vpc], &[VpcPeering]),
        v: usize,
        ids: &HashMap<String, IdInfo>,
    ) -> Option<RouteTarget> {
        let field = join(&r.path, "target");
        let defined_ids = defined(ids, Kind::VpcPeering, peerings.iter().map(|p| &p.id));
        let at = Sp {
            v: name,
            pos: r.target.pos,
        };
        let p = self.resolve(at, Kind::VpcPeering, &field, ids, &defined_ids)?;
        let pc = &peerings[p];
        if pc.peer_of(v).is_none() {
            self.err(
                r.target.pos,
                &field,
                format!(
                    "{} joins {} and {}, not {} (the table's VPC): a route can only use a \
                     peering connection of its own VPC",
                    pc.id, vpcs[pc.requester].id, vpcs[pc.accepter].id, vpcs[v].id
                ),
            );
            return None;
        }
        Some(RouteTarget::Peering(p))
    }
}

fn sorted(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests;
