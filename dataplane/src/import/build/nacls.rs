//! Network ACLs: AWS's entries (any order, its final `*` entries
//! included) into `[[network_acl]]` tables. A default ACL that is AWS's
//! default (rule 100 allows everything both ways) is hyperlab's implied
//! default: nothing is written for it. A default ACL whose entries were
//! changed is written as a custom ACL associated with the subnets it
//! serves (its own and every subnet of its VPC no other ACL has).

use std::collections::HashMap;

use super::*;
use crate::model::NACL_ENTRIES_MAX;

/// AWS's final `*` entry's number: implicit in hyperlab.
const STAR_RULE: i64 = 32767;
/// The most entries per direction AWS allows (its largest quota).
const ENTRIES_MAX: i64 = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAclEntry {
    pub rule: u16,
    pub allow: bool,
    /// tcp, udp, icmp, all, or another protocol's number.
    pub protocol: String,
    /// TCP and UDP: the destination ports (`None`: all).
    pub ports: Option<(u16, u16)>,
    /// ICMP: (type, code), -1 for all (`None`: every type and code).
    pub icmp: Option<(i16, i16)>,
    pub cidr: Ipv4Net,
}

#[derive(Debug)]
pub struct ONacl {
    pub id: String,
    pub vpc: usize,
    pub subnets: Vec<usize>,
    pub ingress: Vec<OAclEntry>,
    pub egress: Vec<OAclEntry>,
    pub comment: Option<String>,
}

fn dir(egress: bool) -> &'static str {
    if egress {
        "outbound"
    } else {
        "inbound"
    }
}

/// Whether the entries (but AWS's `*` and IPv6 ones) are AWS's default:
/// rule 100 allows all IPv4 traffic, in and out.
fn is_aws_default(n: &Nacl) -> bool {
    let mut seen = [false; 2];
    for e in &n.entries {
        if e.rule.as_ref().is_some_and(|(r, _)| *r == STAR_RULE) || e.ipv6.is_some() {
            continue;
        }
        let all = e.rule.as_ref().is_some_and(|(r, _)| *r == 100)
            && e.action
                .as_ref()
                .is_some_and(|(a, _)| a.eq_ignore_ascii_case("allow"))
            && e.protocol
                .as_ref()
                .is_some_and(|(p, _)| p == "-1" || p.eq_ignore_ascii_case("all"))
            && e.cidr.as_ref().is_some_and(|(c, _)| c == "0.0.0.0/0");
        let slot = &mut seen[usize::from(e.egress)];
        if !all || *slot {
            return false;
        }
        *slot = true;
    }
    seen == [true, true]
}

impl<'i> B<'i> {
    pub(super) fn nacls(&mut self) -> Res<()> {
        let inv = self.inv;
        let mut acls: Vec<Nacl> = Vec::new();
        for n in &inv.nacls {
            if acls.iter().any(|o| o.id == n.id) {
                return Err(n.at.err(format!("duplicate network ACL {}", n.id)));
            }
            acls.push(n.clone());
        }
        let find = |acls: &mut Vec<Nacl>, r: &Ref| -> Res<usize> {
            acls.iter()
                .position(|n| n.id == r.id)
                .ok_or_else(|| r.at.err(format!("unknown network ACL {}", r.id)))
        };
        for (r, e) in &inv.nacl_entries {
            let i = find(&mut acls, r)?;
            acls[i].entries.push(e.clone());
        }
        for (r, s) in &inv.nacl_associations {
            let i = find(&mut acls, r)?;
            if !acls[i].subnets.iter().any(|o| o.id == s.id) {
                acls[i].subnets.push(s.clone());
            }
        }
        // Subnet -> the ACL it is associated with; each VPC's default.
        let mut assoc: HashMap<usize, String> = HashMap::new();
        let mut defaults: HashMap<usize, &str> = HashMap::new();
        // Written ACLs that are a changed default: (index in out, AWS id).
        let mut changed = Vec::new();
        for n in &acls {
            let what = format!(
                "{}network ACL {}",
                if n.is_default { "default " } else { "" },
                n.id
            );
            let aws_default = n.is_default && is_aws_default(n);
            let vpc = match self.resolve_vpc(&n.vpc)? {
                Ok(v) => v,
                Err(_) if aws_default => continue,
                Err(why) => {
                    self.skip(&n.id, &n.at, &what, &why);
                    continue;
                }
            };
            if n.is_default {
                if let Some(other) = defaults.insert(vpc, &n.id) {
                    return Err(n.at.err(format!(
                        "a second default network ACL of {} (the first is {other})",
                        n.vpc.id
                    )));
                }
            }
            let mut lists: [Vec<(OAclEntry, At)>; 2] = [Vec::new(), Vec::new()];
            for e in &n.entries {
                if let Some(x) = self.nacl_entry(&n.id, e)? {
                    lists[usize::from(e.egress)].push(x);
                }
            }
            for (k, list) in lists.iter_mut().enumerate() {
                list.sort_by_key(|(e, _)| e.rule);
                if let Some(w) = list.windows(2).find(|w| w[0].0.rule == w[1].0.rule) {
                    return Err(w[1].1.err(format!(
                        "duplicate {} rule number {} in network ACL {}",
                        dir(k == 1),
                        w[1].0.rule,
                        n.id
                    )));
                }
                if list.len() as i64 > ENTRIES_MAX {
                    return Err(n.at.err(format!(
                        "{} {} entries: AWS allows at most {ENTRIES_MAX} per direction",
                        list.len(),
                        dir(k == 1)
                    )));
                }
            }
            let kind = ("network ACL", &n.id[..], "exactly one");
            let subnets = self.associations(&n.subnets, (vpc, &n.vpc.id), kind, &mut assoc)?;
            if aws_default {
                continue;
            }
            if n.is_default {
                changed.push((self.out.nacls.len(), n));
            }
            let id = self.unique_id(&n.id);
            let [ingress, egress] = lists.map(|l| l.into_iter().map(|(e, _)| e).collect());
            self.out.nacls.push(ONacl {
                id,
                vpc,
                subnets,
                ingress,
                egress,
                comment: comment(&n.name),
            });
        }
        // A changed default also serves every subnet of its VPC that no
        // ACL of the dump is associated with.
        for (i, n) in changed {
            let vpc = self.out.nacls[i].vpc;
            for s in 0..self.out.subnets.len() {
                if self.out.subnets[s].vpc == vpc && !assoc.contains_key(&s) {
                    assoc.insert(s, n.id.clone());
                    self.out.nacls[i].subnets.push(s);
                }
            }
            self.out.nacls[i].subnets.sort_unstable();
            let list: Vec<&str> = self.out.nacls[i]
                .subnets
                .iter()
                .map(|&s| self.out.subnets[s].id.as_str())
                .collect();
            let serves = if list.is_empty() {
                "no subnet".to_string()
            } else {
                list.join(", ")
            };
            let text = format!(
                "default network ACL {} of {}: its entries are not AWS's default (rule 100 \
                 allowing all traffic both ways); written as a custom ACL associated with the \
                 subnets it serves ({serves})",
                n.id, n.vpc.id
            );
            self.line(&n.at, "note", text);
        }
        self.nacl_entries_max()
    }

    /// `[lab] nacl_entries_max`: an export's, or what the largest ACL
    /// needs beyond AWS's default quota.
    fn nacl_entries_max(&mut self) -> Res<()> {
        let mut max = NACL_ENTRIES_MAX;
        if let Some((m, at)) = &self.inv.nacl_entries_max {
            if !(1..=ENTRIES_MAX).contains(m) {
                return Err(at.err(format!(
                    "{m} entries per direction: expected 1 to {ENTRIES_MAX}"
                )));
            }
            max = *m as u32;
        }
        let widest = self
            .out
            .nacls
            .iter()
            .flat_map(|n| [(n, &n.ingress, false), (n, &n.egress, true)])
            .max_by_key(|(_, l, _)| l.len());
        if let Some((n, list, egress)) = widest {
            if list.len() as u32 > max {
                let need = list.len() as u32;
                let text = format!(
                    "network ACL {} has {need} {} entries, over {max} (AWS's default quota is \
                     20; yours was raised): written [lab] nacl_entries_max = {need}",
                    n.id,
                    dir(egress)
                );
                let at = self
                    .inv
                    .nacls
                    .iter()
                    .find(|x| x.id == n.id)
                    .map(|x| x.at.clone());
                match at {
                    Some(at) => self.line(&at, "note", text),
                    None => self.report.push(format!("note: {text}")),
                }
                max = need;
            }
        }
        self.out.nacl_entries_max = (max != NACL_ENTRIES_MAX).then_some(max);
        Ok(())
    }

    /// One entry of ACL `acl`; `None` for AWS's `*` entry (silently) and
    /// for what hyperlab's entries cannot express (with a line).
    fn nacl_entry(&mut self, acl: &str, e: &NaclEntry) -> Res<Option<(OAclEntry, At)>> {
        let Some((rule, rule_at)) = &e.rule else {
            return Err(e.at.err("an entry without a rule number"));
        };
        if *rule == STAR_RULE {
            return Ok(None);
        }
        if !(1..=32766).contains(rule) {
            return Err(rule_at.err(format!(
                "AWS refuses rule number {rule} (expected 1 to 32766)"
            )));
        }
        let what = format!("{} entry {rule} of network ACL {acl}", dir(e.egress));
        let Some((action, action_at)) = &e.action else {
            return Err(e
                .at
                .err("an entry without an action (expected allow or deny)"));
        };
        let allow = match action.to_ascii_lowercase().as_str() {
            "allow" => true,
            "deny" => false,
            _ => {
                return Err(action_at.err(format!(
                    "unknown action {action:?} (expected \"allow\" or \"deny\")"
                )))
            }
        };
        let Some((proto, proto_at)) = &e.protocol else {
            return Err(e.at.err("an entry without a protocol"));
        };
        if let Some(v6) = &e.ipv6 {
            self.not_imported(&e.at, &format!("{what} ({v6})"), "hyperlab is IPv4 only");
            return Ok(None);
        }
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "-1" | "all" => "all".to_string(),
            "6" | "tcp" => "tcp".to_string(),
            "17" | "udp" => "udp".to_string(),
            "1" | "icmp" => "icmp".to_string(),
            // Any other protocol by number (GRE 47, ESP 50...).
            p if p.parse::<u8>().is_ok() => p.to_string(),
            _ => {
                return Err(proto_at.err(format!(
                    "unknown protocol {proto:?} (expected -1, a protocol number, tcp, udp or \
                     icmp)"
                )))
            }
        };
        let Some((cidr, cidr_at)) = &e.cidr else {
            return Err(e.at.err("an entry without a CIDR block"));
        };
        let cidr = aws_peer(cidr).map_err(|m| cidr_at.err(m))?;
        let mut ports = None;
        if matches!(protocol.as_str(), "tcp" | "udp") {
            let port = |p: &Option<(i64, At)>, dflt: u16| -> Res<u16> {
                match p {
                    None => Ok(dflt),
                    Some((n, at)) => u16::try_from(*n)
                        .map_err(|_| at.err(format!("AWS refuses port {n} (expected 0 to 65535)"))),
                }
            };
            let (from, to) = (port(&e.from, 0)?, port(&e.to, 65535)?);
            if from > to {
                let at = e.from.as_ref().map_or(&e.at, |(_, at)| at);
                return Err(at.err(format!(
                    "AWS refuses the port range {from}-{to} (from is above to)"
                )));
            }
            ports = ((from, to) != (0, 65535)).then_some((from, to));
        }
        let mut icmp = None;
        if protocol == "icmp" {
            let value = |p: &Option<(i64, At)>, what: &str| -> Res<i16> {
                match p {
                    None => Ok(-1),
                    Some((n, _)) if (-1..=255).contains(n) => Ok(*n as i16),
                    Some((n, at)) => Err(at.err(format!(
                        "AWS refuses ICMP {what} {n} (expected -1 for all, or 0 to 255)"
                    ))),
                }
            };
            let tc = (value(&e.icmp_type, "type")?, value(&e.icmp_code, "code")?);
            icmp = (tc != (-1, -1)).then_some(tc);
        }
        Ok(Some((
            OAclEntry {
                rule: *rule as u16,
                allow,
                protocol,
                ports,
                icmp,
                cidr,
            },
            rule_at.clone(),
        )))
    }
}
