//! Network ACLs, compiled: every direction of every ACL a subnet uses
//! becomes two longest-prefix-match tables whose answers are precomputed
//! first matches, so the kernel never scans entries (docs/DATAPLANE.md,
//! "Network ACLs").
//!
//! 1. Address classes. The entries' CIDRs (and 0.0.0.0/0) are nested or
//!    disjoint, so the longest one covering an address names exactly the
//!    entries whose CIDR covers it: `HL_NACL_CIDRS` maps (ACL direction,
//!    CIDR) to the class of that entry list. Classes with the same
//!    decisions share an id (across ACLs too).
//! 2. Decisions. For each class and protocol (TCP, UDP, ICMP), the value
//!    space (destination port; ICMP `type << 8 | code`) is cut at every
//!    entry boundary into elementary intervals; each gets the first entry,
//!    in rule order, that covers it (or the final `*` deny), adjacent
//!    intervals with the same decision merge, and each interval becomes
//!    prefix blocks in `HL_NACL_RULES`. A class-level entry (class bits
//!    only) answers any other protocol: the first `all` entry.
//!
//! A direction whose every answer is the same rule (the default ACL's
//! allow-all rule 100, a custom ACL without entries) needs no lookup: its
//! subnet entry says so (`NaclRef::uniform_rule`).

use std::collections::{BTreeSet, HashMap};

use anyhow::{bail, Result};
use dataplane_common::{
    nacl_stat_id, NaclCidrKey, NaclDecision, NaclRef, NaclRuleKey, SubnetNacls,
    NACL_CIDR_FIXED_BITS, NACL_RULE_DEFAULT, NACL_RULE_FIXED_BITS, PROTO_ICMP, PROTO_TCP,
    PROTO_UDP,
};

use crate::model::{AclEntry, Ipv4Net, NetworkAcl, Protocol, Topology};

/// One `HL_NACL_CIDRS` entry: prefix length (with the fixed bits), key, class.
pub type NaclCidrEntry = (u32, NaclCidrKey, u32);
/// One `HL_NACL_RULES` entry: prefix length (with the fixed bits), key, decision.
pub type NaclRuleEntry = (u32, NaclRuleKey, NaclDecision);

/// The protocols every class has value intervals for; another protocol
/// has its own only where an entry names it (else the class-level answer).
pub const NACL_PROTOS: [u8; 3] = [PROTO_TCP, PROTO_UDP, PROTO_ICMP];

/// The final `*` entry's answer.
pub const DEFAULT_DENY: NaclDecision = NaclDecision {
    rule: NACL_RULE_DEFAULT,
    allow: 0,
    _pad: 0,
};

/// What the kernel reads for the ACLs of one generation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NaclMaps {
    /// By subnet index.
    pub subnets: Vec<SubnetNacls>,
    pub cidrs: Vec<NaclCidrEntry>,
    pub rules: Vec<NaclRuleEntry>,
}

/// The decisions of one address class: per protocol, merged value
/// intervals with their first match, and the answer for other protocols.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClassTable {
    pub any: NaclDecision,
    /// (protocol, [(lo, hi, decision)]) for each of [`NACL_PROTOS`] and
    /// each protocol number an entry names, intervals ascending, covering
    /// 0..=65535.
    pub protos: Vec<(u8, Intervals)>,
}

/// Inclusive value intervals, ascending, each with its first match.
pub type Intervals = Vec<(u16, u16, NaclDecision)>;

impl ClassTable {
    fn decisions(&self) -> impl Iterator<Item = NaclDecision> + '_ {
        std::iter::once(self.any).chain(
            self.protos
                .iter()
                .flat_map(|(_, iv)| iv.iter().map(|&(_, _, d)| d)),
        )
    }
}

fn decision(e: &AclEntry) -> NaclDecision {
    NaclDecision {
        rule: e.rule,
        allow: e.allow as u8,
        _pad: 0,
    }
}

/// The values (port, or ICMP `type << 8 | code`) entry `e` covers for
/// `proto`, if it covers the protocol at all.
pub fn value_range(e: &AclEntry, proto: u8) -> Option<(u16, u16)> {
    if !e.protocol.covers(proto) {
        return None;
    }
    Some(match e.protocol {
        Protocol::Tcp | Protocol::Udp => e.ports,
        Protocol::Icmp => e.icmp.value_range(),
        Protocol::All | Protocol::Number(_) => (0, 0xffff),
    })
}

/// The decision table of the entries (in rule order) that cover one
/// address class.
pub fn class_table(entries: &[&AclEntry]) -> ClassTable {
    let any = entries
        .iter()
        .find(|e| e.protocol == Protocol::All)
        .map_or(DEFAULT_DENY, |e| decision(e));
    // TCP, UDP, ICMP, and every other protocol an entry names by number
    // (the kernel looks those up with value 0); the rest meet `any`.
    let named: BTreeSet<u8> = entries
        .iter()
        .filter_map(|e| match e.protocol {
            Protocol::Number(n) => Some(n),
            _ => None,
        })
        .collect();
    let protos = NACL_PROTOS
        .iter()
        .chain(named.iter())
        .map(|&proto| {
            let ranges: Vec<(u16, u16, NaclDecision)> = entries
                .iter()
                .filter_map(|e| value_range(e, proto).map(|(lo, hi)| (lo, hi, decision(e))))
                .collect();
            let mut cuts: BTreeSet<u32> = BTreeSet::from([0]);
            for &(lo, hi, _) in &ranges {
                cuts.insert(lo as u32);
                if hi < 0xffff {
                    cuts.insert(hi as u32 + 1);
                }
            }
            let cuts: Vec<u32> = cuts.into_iter().collect();
            let mut out: Vec<(u16, u16, NaclDecision)> = Vec::new();
            for (i, &lo) in cuts.iter().enumerate() {
                let hi = cuts.get(i + 1).map_or(0xffff, |&n| n - 1);
                // First match in rule order: the elementary interval lies
                // wholly inside or outside each entry's range.
                let d = ranges
                    .iter()
                    .find(|&&(a, b, _)| (a as u32) <= lo && lo <= b as u32)
                    .map_or(DEFAULT_DENY, |&(_, _, d)| d);
                match out.last_mut() {
                    Some(last) if last.2 == d => last.1 = hi as u16,
                    _ => out.push((lo as u16, hi as u16, d)),
                }
            }
            (proto, out)
        })
        .collect();
    ClassTable { any, protos }
}

/// `[lo, hi]` as aligned prefix blocks: (first value, prefix length of 16).
pub fn prefix_blocks(lo: u16, hi: u16) -> Vec<(u16, u32)> {
    let (mut lo, hi) = (lo as u32, hi as u32);
    let mut out = Vec::new();
    while lo <= hi {
        let mut size = if lo == 0 {
            1 << 16
        } else {
            lo & lo.wrapping_neg()
        };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        out.push((lo as u16, 16 - size.trailing_zeros()));
        lo += size;
    }
    out
}

/// One direction of one ACL: uniform, or its CIDRs with their classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirTable {
    pub uniform: Option<NaclDecision>,
    /// Every distinct CIDR (0.0.0.0/0 first) with its class table.
    pub cidrs: Vec<(Ipv4Net, ClassTable)>,
}

/// Precomputes one direction: entries in rule order.
pub fn dir_table(entries: &[AclEntry]) -> DirTable {
    let mut nets: Vec<Ipv4Net> = vec![Ipv4Net::default()];
    for e in entries {
        if !nets.contains(&e.cidr) {
            nets.push(e.cidr);
        }
    }
    let cidrs: Vec<(Ipv4Net, ClassTable)> = nets
        .into_iter()
        .map(|net| {
            // The entries whose CIDR covers this one cover exactly the
            // addresses whose longest covering CIDR it is.
            let covering: Vec<&AclEntry> = entries
                .iter()
                .filter(|e| {
                    e.cidr.prefix_len() <= net.prefix_len() && e.cidr.contains(&net.network())
                })
                .collect();
            (net, class_table(&covering))
        })
        .collect();
    let all: BTreeSet<(u16, u8)> = cidrs
        .iter()
        .flat_map(|(_, t)| t.decisions())
        .map(|d| (d.rule, d.allow))
        .collect();
    let uniform = (all.len() == 1).then(|| {
        let (rule, allow) = *all.iter().next().expect("one decision");
        NaclDecision {
            rule,
            allow,
            _pad: 0,
        }
    });
    DirTable { uniform, cidrs }
}

/// Compiles the ACLs the subnets use, with generation-0 ids (both id
/// spaces start at 1: 0 means none).
pub fn compile_nacls(topo: &Topology) -> Result<NaclMaps> {
    let defaults: Vec<NetworkAcl> = topo
        .vpcs
        .iter()
        .enumerate()
        .map(|(v, vpc)| NetworkAcl::default_for(v, &vpc.id))
        .collect();
    let per_subnet: Vec<&NetworkAcl> = topo
        .subnets
        .iter()
        .enumerate()
        .map(|(s, sn)| topo.nacl_of(s).unwrap_or(&defaults[sn.vpc]))
        .collect();
    compile_nacl_list(&per_subnet)
}

/// Compiles each subnet's ACL (`acls[subnet]`), with generation-0 ids.
/// ACLs are told apart by id: a subnet list may name one ACL many times.
pub fn compile_nacl_list(acls: &[&NetworkAcl]) -> Result<NaclMaps> {
    let mut out = NaclMaps::default();
    // (ACL id, ingress?) -> the subnet entry half
    let mut dirs: HashMap<(&str, bool), NaclRef> = HashMap::new();
    let mut classes: HashMap<ClassTable, u32> = HashMap::new();
    let mut next_acl = 1u32;
    let mut stat_ids: HashMap<u32, &str> = HashMap::new();
    for acl in acls {
        let stat = nacl_stat_id(acl.id.as_bytes());
        if let Some(other) = stat_ids.insert(stat, &acl.id) {
            if other != acl.id {
                bail!(
                    "network ACLs {other} and {} have the same counter key ({stat:#x}); rename one",
                    acl.id
                );
            }
        }
        let mut half = |ingress: bool| -> NaclRef {
            *dirs.entry((&acl.id, ingress)).or_insert_with(|| {
                let entries = if ingress { &acl.ingress } else { &acl.egress };
                let t = dir_table(entries);
                if let Some(d) = t.uniform {
                    return NaclRef {
                        acl: 0,
                        nacl: stat,
                        uniform_rule: d.rule,
                        uniform_allow: d.allow,
                        _pad: 0,
                    };
                }
                let id = next_acl;
                next_acl += 1;
                for (net, table) in t.cidrs {
                    let n = classes.len() as u32 + 1;
                    let class = *classes.entry(table.clone()).or_insert_with(|| {
                        out.rules.push((
                            NACL_CIDR_FIXED_BITS,
                            NaclRuleKey::new(n, 0, 0),
                            table.any,
                        ));
                        for (proto, iv) in &table.protos {
                            for &(lo, hi, d) in iv {
                                for (start, plen) in prefix_blocks(lo, hi) {
                                    out.rules.push((
                                        NACL_RULE_FIXED_BITS + plen,
                                        NaclRuleKey::new(n, *proto, start),
                                        d,
                                    ));
                                }
                            }
                        }
                        n
                    });
                    out.cidrs.push((
                        NACL_CIDR_FIXED_BITS + net.prefix_len() as u32,
                        NaclCidrKey::new(id, net.network().octets()),
                        class,
                    ));
                }
                NaclRef {
                    acl: id,
                    nacl: stat,
                    uniform_rule: 0,
                    uniform_allow: 0,
                    _pad: 0,
                }
            })
        };
        let egress = half(false);
        let ingress = half(true);
        out.subnets.push(SubnetNacls { egress, ingress });
    }
    Ok(out)
}

/// The network ACL behind counter key `stat`, if the topology has it.
pub fn nacl_by_stat(topo: &Topology, stat: u32) -> Option<NetworkAcl> {
    let implied = NetworkAcl::default_for;
    by_stat(topo, &topo.network_acls, implied, |a| &a.id, stat)
}

/// The first of `listed`, then of one `implied` per VPC (from its index
/// and id), whose id has the counter key `stat` ([`nacl_stat_id`]).
pub(crate) fn by_stat<T: Clone>(
    topo: &Topology,
    listed: &[T],
    implied: impl Fn(usize, &str) -> T,
    id: impl Fn(&T) -> &str,
    stat: u32,
) -> Option<T> {
    listed
        .iter()
        .cloned()
        .chain(
            topo.vpcs
                .iter()
                .enumerate()
                .map(|(v, vpc)| implied(v, &vpc.id)),
        )
        .find(|x| nacl_stat_id(id(x).as_bytes()) == stat)
}

#[cfg(test)]
mod tests;
