//! Network ACLs: `[[network_acl]]`. Pass 1 reads each table on its own
//! (entries, their numbers and matches); pass 2 (`resolve_network_acls`)
//! resolves the VPC and the subnet associations, gives every other subnet
//! its VPC's default ACL, and checks that no subnet has two.
//!
//! AWS's rules (VPC user guide, "Network ACLs"): entries are numbered
//! 1 to 32766 and evaluated in ascending order, the first match decides;
//! a subnet is associated with exactly one ACL; each VPC's default ACL
//! allows everything, a custom ACL without entries denies everything.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use super::diagnostics::Checker;
use super::network::NACL_ENTRIES_MAX_RANGE;
use super::refs::{defined, IdInfo, Kind};
use super::tree::{join, Node, Sp};
use super::values::parse_cidr;
use crate::model::{AclEntry, IcmpMatch, NetworkAcl, Subnet, Vpc};

pub(super) const NACL_KEYS: &[&str] = &["id", "vpc", "subnets", "ingress", "egress"];

pub(super) const ENTRY_KEYS: &[&str] = &["rule", "action", "protocol", "ports", "cidr", "icmp"];

pub(super) const ICMP_KEYS: &[&str] = &["type", "code"];

/// AWS's rule numbers (32767 is the final `*` entry's).
pub(super) const RULE_RANGE: RangeInclusive<i64> = 1..=32766;

/// What a `[[network_acl]]` says before references are resolved.
#[derive(Default)]
pub(super) struct NaclIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) vpc: Option<Sp<&'n str>>,
    pub(super) subnets: Vec<(usize, Sp<&'n str>)>,
    pub(super) ingress: DirIn,
    pub(super) egress: DirIn,
}

/// One direction's entries, sorted by rule number.
#[derive(Default)]
pub(super) struct DirIn {
    pub(super) entries: Vec<AclEntry>,
}

impl<'s> Checker<'s> {
    pub(super) fn network_acl<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
        entries_max: u32,
    ) -> NaclIn<'n> {
        let mut n = NaclIn {
            path,
            ..NaclIn::default()
        };
        let Some(t) = self.table(node, &n.path, "a table", NACL_KEYS) else {
            return n;
        };
        n.id = self.id(&t, Kind::NetworkAcl, index, ids);
        n.vpc = self.req_str(&t, "vpc", "the id of a [[vpc]]");
        if let Some(e) = t.get("subnets") {
            if let Some((list, _)) = self.str_list(
                e,
                &t.field("subnets"),
                "an array of subnet ids such as [\"subnet-a1\"]",
                "a subnet id",
            ) {
                n.subnets = list;
            }
        }
        for (key, slot) in [("ingress", &mut n.ingress), ("egress", &mut n.egress)] {
            if let Some(e) = t.get(key) {
                *slot = self.acl_entries(&e.node, &t.field(key), key, entries_max);
            }
        }
        n
    }

    /// One direction's entries, sorted by rule number; duplicate numbers
    /// and more than `max` entries are reported.
    fn acl_entries(&mut self, node: &Node, path: &str, dir: &str, max: u32) -> DirIn {
        let mut out = DirIn::default();
        let Some(items) = self.as_array(node, path, "an array of entry tables") else {
            return out;
        };
        if items.len() > max as usize {
            self.err(
                node.pos,
                path,
                format!(
                    "{} {dir} entries: a network ACL has at most {max} per direction \
                     (AWS's default quota is 20; [lab] nacl_entries_max sets the lab's, up to {})",
                    items.len(),
                    NACL_ENTRIES_MAX_RANGE.end()
                ),
            );
        }
        // rule number -> (entry path, position)
        let mut seen: HashMap<u16, (String, usize)> = HashMap::new();
        for (i, n) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let Some((entry, rule_pos)) = self.acl_entry(n, &p) else {
                continue;
            };
            if let Some((other, pos)) = seen.get(&entry.rule) {
                let line = self.line_of(*pos);
                self.err(
                    rule_pos,
                    &join(&p, "rule"),
                    format!(
                        "rule {} is already used by {other} (line {line}); rule numbers are \
                         unique per direction",
                        entry.rule
                    ),
                );
                continue;
            }
            seen.insert(entry.rule, (p, rule_pos));
            out.entries.push(entry);
        }
        out.entries.sort_by_key(|e| e.rule);
        out
    }

    /// An entry and where its rule number is written; `None` when a
    /// required field is missing or invalid (reported).
    fn acl_entry(&mut self, node: &Node, path: &str) -> Option<(AclEntry, usize)> {
        let t = self.table(node, path, "an entry table", ENTRY_KEYS)?;
        let rule = self
            .require(&t, "rule", "a rule number such as 100")
            .and_then(|e| {
                self.int(
                    &e.node,
                    &t.field("rule"),
                    "a rule number such as 100",
                    "rule number",
                    RULE_RANGE,
                )
            });
        const ACTIONS: &str = "\"allow\" or \"deny\"";
        let allow = self.req_str(&t, "action", ACTIONS).and_then(|a| match a.v {
            "allow" => Some(true),
            "deny" => Some(false),
            other => {
                self.err(
                    a.pos,
                    &t.field("action"),
                    format!("unknown action {other:?} (expected {ACTIONS})"),
                );
                None
            }
        });
        let protocol = self.protocol(&t);
        let ports = self
            .ports(&t, protocol, "an entry")
            .unwrap_or(Some((0, 65535)));
        let icmp = match t.get("icmp") {
            Some(_) => self.icmp_key(&t, protocol),
            None => Some(IcmpMatch::ALL),
        };
        let cidr = self
            .req_str(&t, "cidr", "an IPv4 CIDR such as \"0.0.0.0/0\"")
            .and_then(|c| match parse_cidr(c.v, false) {
                Ok(net) => Some(net),
                Err(msg) => {
                    self.err(c.pos, &t.field("cidr"), msg);
                    None
                }
            });
        let rule = rule?;
        Some((
            AclEntry {
                rule: rule.v as u16,
                allow: allow?,
                protocol: protocol?,
                ports: ports?,
                icmp: icmp?,
                cidr: cidr?,
            },
            rule.pos,
        ))
    }

    /// Pass 2: the ACLs' VPCs and associations, and every subnet's ACL.
    pub(super) fn resolve_network_acls(
        &mut self,
        vpcs: &[Vpc],
        (subnets, subnet_vpcs): (&[Subnet], &[Option<usize>]),
        nacls: Vec<NaclIn<'_>>,
        ids: &HashMap<String, IdInfo>,
    ) -> (Vec<NetworkAcl>, Vec<usize>) {
        let vpc_ids = defined(ids, Kind::Vpc, vpcs.iter().map(|v| &v.id));
        let subnet_ids = defined(ids, Kind::Subnet, subnets.iter().map(|s| &s.id));
        let mut out = Vec::new();
        // subnet -> (ACL index, where that association is written)
        let mut assoc: HashMap<usize, (usize, usize)> = HashMap::new();
        for (i, n) in nacls.into_iter().enumerate() {
            let vpc = n
                .vpc
                .and_then(|r| self.resolve(r, Kind::Vpc, &join(&n.path, "vpc"), ids, &vpc_ids));
            let field = join(&n.path, "subnets");
            for (k, r) in &n.subnets {
                let f = format!("{field}[{k}]");
                if n.subnets.iter().any(|(j, o)| j < k && o.v == r.v) {
                    self.err(r.pos, &f, format!("subnet \"{}\" is listed twice", r.v));
                    continue;
                }
                let Some(s) = self.resolve(*r, Kind::Subnet, &f, ids, &subnet_ids) else {
                    continue;
                };
                let same = self.in_same_vpc((r.pos, &f), vpcs, (vpc, subnet_vpcs[s]), |sv, v| {
                    format!(
                        "subnet \"{}\" is in {sv}, but {} is in {v} (a network ACL is \
                         associated with subnets of its own VPC)",
                        r.v, n.id
                    )
                });
                if !same {
                    continue;
                }
                if let Some(&(j, pos)) = assoc.get(&s) {
                    let line = self.line_of(pos);
                    let other: &NetworkAcl = &out[j];
                    self.err(
                        r.pos,
                        &f,
                        format!(
                            "subnet \"{}\" is already associated with {} (line {line}); a \
                             subnet has exactly one network ACL",
                            r.v, other.id
                        ),
                    );
                    continue;
                }
                assoc.insert(s, (i, r.pos));
            }
            out.push(NetworkAcl {
                id: n.id,
                vpc: vpc.unwrap_or(0),
                default: false,
                ingress: n.ingress.entries,
                egress: n.egress.entries,
            });
        }
        let first_default = out.len();
        out.extend(
            vpcs.iter()
                .enumerate()
                .map(|(v, vpc)| NetworkAcl::default_for(v, &vpc.id)),
        );
        let subnet_nacls = subnets
            .iter()
            .enumerate()
            .map(|(s, sn)| match assoc.get(&s) {
                Some(&(acl, _)) => acl,
                None => first_default + sn.vpc,
            })
            .collect();
        (out, subnet_nacls)
    }
}

#[cfg(test)]
mod tests;
