//! Where resources sit: the `{ subnet, ip }` places of NLB nodes, endpoint
//! ENIs and link ENIs, their security groups, and the VPC-wide address
//! claims (every address at most once per VPC, whoever holds it).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use super::diagnostics::Checker;
use super::refs::{Kind, Net, Who};
use super::tree::{join, Ids, Sp, Tbl};
use crate::model::{EndpointEni, Vpc};

pub(super) const MAX_SGS_PER_ENI: usize = 5;

pub(super) const PLACE_KEYS: &[&str] = &["subnet", "ip", "eni_id"];

/// What an `eni_id` must look like: AWS's shape, `eni-` and 8 or 17
/// lowercase hex digits (the ids the lab derives have 17).
pub(super) fn is_aws_eni_id(id: &str) -> bool {
    id.strip_prefix("eni-").is_some_and(|h| {
        (h.len() == 8 || h.len() == 17)
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// An `eni_id` given to a managed interface (an endpoint ENI, an NLB node,
/// an HTTP VPC link ENI): checked once every place is resolved.
pub(super) struct ManagedIdIn {
    pub(super) pos: usize,
    pub(super) field: String,
    /// The endpoint, NLB or VPC link id, and the subnet the interface is in.
    pub(super) owner: String,
    pub(super) subnet: usize,
    pub(super) id: String,
}

/// An address claimed in a VPC (by an ENI, an NLB node or an endpoint ENI),
/// for the VPC-wide uniqueness check.
pub(super) struct Claim {
    pub(super) pos: usize,
    pub(super) vpc: usize,
    pub(super) ip: Ipv4Addr,
    /// `id (path)` of the owner, for "already used by".
    pub(super) owner: String,
    pub(super) field: String,
}

/// `{ subnet = "...", ip = "..." }`: where an NLB node or endpoint ENI sits
/// (or, for an HTTP link, `subnets[i]` and `addresses[i]`).
pub(super) struct PlaceIn<'n> {
    /// Names the place in "already used by" messages.
    pub(super) path: String,
    pub(super) subnet_field: String,
    pub(super) ip_field: String,
    pub(super) subnet: Option<Sp<&'n str>>,
    pub(super) ip: Option<Sp<Ipv4Addr>>,
    /// The interface's id, when the config gives it (else the lab derives
    /// a stable one: `model::managed_eni_id`), and its field.
    pub(super) eni_id: Option<(Sp<&'n str>, String)>,
}

impl<'n> PlaceIn<'n> {
    /// A `{ subnet, ip, eni_id }` table at `path`.
    pub(super) fn table(
        path: String,
        subnet: Option<Sp<&'n str>>,
        ip: Option<Sp<Ipv4Addr>>,
        eni_id: Option<Sp<&'n str>>,
    ) -> Self {
        PlaceIn {
            subnet_field: join(&path, "subnet"),
            ip_field: join(&path, "ip"),
            eni_id: eni_id.map(|e| (e, join(&path, "eni_id"))),
            path,
            subnet,
            ip,
        }
    }
}

/// Where an interface endpoint's ENIs go: `[[vpc_endpoint]]` and `[[vpc_link]]`.
pub(super) struct AttachIn<'n> {
    pub(super) path: String,
    pub(super) vpc: Option<Sp<&'n str>>,
    pub(super) subnets: Vec<PlaceIn<'n>>,
    pub(super) security_groups: Ids<'n>,
}

impl<'s> Checker<'s> {
    /// The `subnets` array of an NLB, endpoint or link: at least one.
    pub(super) fn places<'n>(&mut self, t: &Tbl<'n>, a: &str) -> Vec<PlaceIn<'n>> {
        const EXPECTED: &str =
            "an array of tables such as [{ subnet = \"subnet-a1\", ip = \"10.0.1.50\" }]";
        let field = t.field("subnets");
        let Some(e) = self.require(t, "subnets", EXPECTED) else {
            return Vec::new();
        };
        let Some(items) = self.as_array(&e.node, &field, EXPECTED) else {
            return Vec::new();
        };
        if items.is_empty() {
            self.err(
                e.node.pos,
                &field,
                format!("{a} needs at least one subnet (one per availability zone)"),
            );
        }
        let mut out = Vec::new();
        for (i, n) in items.iter().enumerate() {
            let path = format!("{field}[{i}]");
            let Some(pt) = self.table(n, &path, "a { subnet, ip } table", PLACE_KEYS) else {
                continue;
            };
            let subnet = self.req_str(&pt, "subnet", "the id of a [[subnet]]");
            let ip = self.ipv4(&pt, "ip");
            let eni_id = self.eni_id(&pt, "eni_id");
            out.push(PlaceIn::table(path, subnet, ip, eni_id));
        }
        out
    }

    /// An optional `eni_id` of a managed interface, in AWS's shape.
    pub(super) fn eni_id<'n>(&mut self, t: &Tbl<'n>, key: &str) -> Option<Sp<&'n str>> {
        let id = self.opt_str(t, key, "an ENI id such as \"eni-0a1b2c3d4e5f60718\"")?;
        self.check_eni_id(id, &t.field(key))
    }

    /// `id` if it has AWS's ENI id shape, else an error at it.
    pub(super) fn check_eni_id<'n>(&mut self, id: Sp<&'n str>, field: &str) -> Option<Sp<&'n str>> {
        if is_aws_eni_id(id.v) {
            return Some(id);
        }
        self.err(
            id.pos,
            field,
            format!(
                "invalid ENI id {:?} (expected \"eni-\" and 8 or 17 lowercase hex digits, as AWS \
                 writes them, such as \"eni-0a1b2c3d4e5f60718\")",
                id.v
            ),
        );
        None
    }

    /// The `eni_id`s given to managed interfaces, checked against every
    /// other id of the file (host ENIs included) and each other; the valid
    /// ones by (owner, subnet) for `Services::eni_ids`.
    pub(super) fn check_managed_ids(
        &mut self,
        ids: &HashMap<String, super::refs::IdInfo>,
    ) -> std::collections::BTreeMap<(String, usize), String> {
        let mut given = std::mem::take(&mut self.managed_ids);
        given.sort_by_key(|m| m.pos);
        let mut out = std::collections::BTreeMap::new();
        let mut seen: HashMap<&str, &ManagedIdIn> = HashMap::new();
        for m in &given {
            if let Some(prev) = ids.get(&m.id) {
                let msg = format!(
                    "ENI id \"{}\" is already used by {} at line {} (ids are shared by all \
                     resource kinds)",
                    m.id,
                    prev.path,
                    self.line_of(prev.pos)
                );
                self.err(m.pos, &m.field, msg);
            } else if let Some(prev) = seen.get(m.id.as_str()) {
                let msg = format!(
                    "ENI id \"{}\" is already the id of {} at line {}",
                    m.id,
                    prev.field,
                    self.line_of(prev.pos)
                );
                self.err(m.pos, &m.field, msg);
            } else {
                seen.insert(&m.id, m);
                out.insert((m.owner.clone(), m.subnet), m.id.clone());
            }
        }
        out
    }

    /// A `security_groups` array with `count` ids (optional when it may be 0).
    pub(super) fn group_list<'n>(
        &mut self,
        t: &Tbl<'n>,
        count: RangeInclusive<usize>,
        a: &str,
    ) -> Ids<'n> {
        let (lo, hi) = (*count.start(), *count.end());
        let expected = if lo == 0 {
            format!("an array of up to {hi} security group ids such as [\"sg-a\"]")
        } else {
            format!("an array of {lo} to {hi} security group ids such as [\"sg-a\"]")
        };
        let e = if lo == 0 {
            t.get("security_groups")
        } else {
            self.require(t, "security_groups", &expected)
        };
        let Some(e) = e else {
            return Vec::new();
        };
        let field = t.field("security_groups");
        let Some((list, n)) = self.str_list(e, &field, &expected, "a security group id") else {
            return Vec::new();
        };
        if !count.contains(&n) {
            let msg = if lo == 0 {
                format!("{a} takes at most {hi} security groups, found {n}")
            } else {
                format!("{a} needs {lo} to {hi} security groups, found {n}")
            };
            self.err(e.node.pos, &field, msg);
        }
        list
    }

    /// `vpc`, `subnets` and `security_groups` of an endpoint or REST link.
    pub(super) fn attach<'n>(&mut self, t: &Tbl<'n>, a: &str) -> AttachIn<'n> {
        AttachIn {
            path: t.path.clone(),
            vpc: self.req_str(t, "vpc", "the id of a [[vpc]]"),
            subnets: self.places(t, a),
            security_groups: self.group_list(t, 1..=MAX_SGS_PER_ENI, a),
        }
    }

    /// Resolves an NLB's or endpoint's `subnets`: one per AZ, each in `vpc`
    /// (for an NLB, `None`: the first subnet's VPC, which is returned), with
    /// a usable address, claimed for the uniqueness check.
    pub(super) fn resolve_places(
        &mut self,
        net: &Net<'_>,
        places: &[PlaceIn<'_>],
        mut vpc: Option<usize>,
        who: &Who<'_>,
        claims: &mut Vec<Claim>,
    ) -> (Option<usize>, Vec<(Option<usize>, Ipv4Addr)>) {
        let derive = vpc.is_none();
        // The subnet that set the VPC: (index in `places`, subnet).
        let mut first: Option<(usize, usize)> = None;
        let mut seen: Vec<(usize, usize)> = Vec::new();
        let mut out = Vec::new();
        for (i, p) in places.iter().enumerate() {
            let sf = p.subnet_field.clone();
            let subnet = p
                .subnet
                .and_then(|r| self.resolve(r, Kind::Subnet, &sf, net.ids, &net.subnet_ids));
            if let (Some(s), Some(r)) = (subnet, p.subnet) {
                let sn = &net.subnets[s];
                let mut ok = true;
                if let Some(sv) = net.subnet_vpcs[s] {
                    match (vpc, first) {
                        (None, _) if derive => {
                            vpc = Some(sv);
                            first = Some((i, s));
                        }
                        (Some(v), Some((j, fs))) if sv != v => {
                            ok = false;
                            self.err(
                                r.pos,
                                &sf,
                                format!(
                                    "subnet {} is in {}, but {}'s first subnet {} (subnets[{j}]) \
                                     is in {} (all of {}'s subnets must be in one VPC)",
                                    sn.id,
                                    net.vpcs[sv].id,
                                    who.this,
                                    net.subnets[fs].id,
                                    net.vpcs[v].id,
                                    who.a
                                ),
                            );
                        }
                        (Some(v), None) if sv != v => {
                            ok = false;
                            self.err(
                                r.pos,
                                &sf,
                                format!(
                                    "subnet {} is in {}, but {} is in {}",
                                    sn.id, net.vpcs[sv].id, who.this, net.vpcs[v].id
                                ),
                            );
                        }
                        _ => {}
                    }
                }
                if ok {
                    if let Some(&(j, _)) = seen.iter().find(|(_, o)| *o == s) {
                        self.err(
                            r.pos,
                            &sf,
                            format!("subnet {} is listed twice (also subnets[{j}])", sn.id),
                        );
                    } else if let Some(&(j, o)) =
                        seen.iter().find(|(_, o)| net.subnets[*o].az == sn.az)
                    {
                        self.err(
                            r.pos,
                            &sf,
                            format!(
                                "subnet {} is in {}, like subnets[{j}] {} ({} takes one subnet \
                                 per availability zone)",
                                sn.id, sn.az, net.subnets[o].id, who.a
                            ),
                        );
                    } else {
                        seen.push((i, s));
                    }
                }
            }
            if let (Some(s), Some((id, field))) = (subnet, &p.eni_id) {
                self.managed_ids.push(ManagedIdIn {
                    pos: id.pos,
                    field: field.clone(),
                    owner: who.id.to_string(),
                    subnet: s,
                    id: id.v.to_string(),
                });
            }
            let ip_field = p.ip_field.clone();
            if let (Some(s), Some(ip)) = (subnet, p.ip) {
                let sn = &net.subnets[s];
                // A subnet with an invalid CIDR has a default one and an error already.
                if sn.cidr.prefix_len() != 0 && self.address_in_subnet(sn, ip, &ip_field) {
                    if let Some(v) = net.subnet_vpcs[s] {
                        claims.push(Claim {
                            pos: ip.pos,
                            vpc: v,
                            ip: ip.v,
                            owner: format!("{} ({})", who.id, p.path),
                            field: ip_field,
                        });
                    }
                }
            }
            out.push((subnet, p.ip.map_or(Ipv4Addr::UNSPECIFIED, |ip| ip.v)));
        }
        (vpc, out)
    }

    /// Resolves a `security_groups` list: each once, each in `vpc`.
    pub(super) fn resolve_groups(
        &mut self,
        net: &Net<'_>,
        list: &Ids<'_>,
        field: &str,
        vpc: Option<usize>,
        this: &str,
    ) -> Vec<usize> {
        let mut groups = Vec::new();
        for (k, &(i, r)) in list.iter().enumerate() {
            let f = format!("{field}[{i}]");
            if list[..k].iter().any(|(_, o)| o.v == r.v) {
                self.err(
                    r.pos,
                    &f,
                    format!("security group \"{}\" is listed twice", r.v),
                );
                continue;
            }
            let Some(g) = self.resolve(r, Kind::SecurityGroup, &f, net.ids, &net.sg_ids) else {
                continue;
            };
            let same = self.in_same_vpc((r.pos, &f), net.vpcs, (vpc, net.sg_vpcs[g]), |gv, v| {
                format!(
                    "security group \"{}\" is in {gv}, but {this} is in {v}",
                    r.v
                )
            });
            if !same {
                continue;
            }
            groups.push(g);
        }
        groups
    }

    /// An endpoint's (or REST link's) VPC, ENIs and groups.
    pub(super) fn resolve_attach(
        &mut self,
        net: &Net<'_>,
        at: &AttachIn<'_>,
        who: &Who<'_>,
        claims: &mut Vec<Claim>,
    ) -> (usize, Vec<EndpointEni>, Vec<usize>) {
        let vpc = at.vpc.and_then(|r| {
            self.resolve(r, Kind::Vpc, &join(&at.path, "vpc"), net.ids, &net.vpc_ids)
        });
        let enis = match vpc {
            Some(_) => self.resolve_places(net, &at.subnets, vpc, who, claims).1,
            // Unknown VPC: check the subnets on their own.
            None => {
                let mut scratch = Vec::new();
                self.resolve_places(net, &at.subnets, None, who, &mut scratch)
                    .1
            }
        };
        let groups = self.resolve_groups(
            net,
            &at.security_groups,
            &join(&at.path, "security_groups"),
            vpc,
            who.this,
        );
        let enis = enis
            .into_iter()
            .map(|(subnet, ip)| EndpointEni {
                subnet: subnet.unwrap_or(0),
                ip,
            })
            .collect();
        (vpc.unwrap_or(0), enis, groups)
    }

    /// Every address at most once per VPC, whoever holds it; the later one
    /// in the file is reported.
    pub(super) fn check_claims(&mut self, vpcs: &[Vpc], mut claims: Vec<Claim>) {
        claims.sort_by_key(|c| c.pos);
        let mut seen: HashMap<(usize, Ipv4Addr), usize> = HashMap::new();
        for (i, c) in claims.iter().enumerate() {
            match seen.get(&(c.vpc, c.ip)) {
                Some(&j) => self.err(
                    c.pos,
                    &c.field,
                    format!(
                        "{} is already used by {} in {}",
                        c.ip, claims[j].owner, vpcs[c.vpc].id
                    ),
                ),
                None => {
                    seen.insert((c.vpc, c.ip), i);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
