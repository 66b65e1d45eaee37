//! VPC peering connections: `[[vpc_peering]]`. Pass 1 reads each
//! connection on its own (id, the two VPCs, the status); pass 2
//! (`resolve_peerings`) resolves the VPCs and checks what AWS refuses.
//!
//! AWS's rules (VPC peering guide, "VPC peering limitations", "VPC peering
//! connection lifecycle"): the two VPCs are different; their CIDR blocks
//! do not overlap; two VPCs have at most one peering connection between
//! them; only an `active` connection carries traffic (`pending-acceptance`
//! until the accepter accepts, `rejected` if it refuses). Routes that name
//! a connection are checked in `route_tables.rs`; security-group rules
//! that name a group of the peer VPC in `network.rs`.

use std::collections::HashMap;

use super::diagnostics::Checker;
use super::refs::{defined, IdInfo, Kind};
use super::tree::{join, Node, Sp};
use super::values::overlaps;
use crate::model::{PeeringStatus, RouteTarget, Topology, Vpc, VpcPeering};

pub(super) const PEERING_KEYS: &[&str] = &["id", "requester", "accepter", "status"];

const STATUSES: &str = "\"active\", \"pending-acceptance\" or \"rejected\"";

/// What a `[[vpc_peering]]` says before references are resolved.
#[derive(Default)]
pub(super) struct PeeringIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) requester: Option<Sp<&'n str>>,
    pub(super) accepter: Option<Sp<&'n str>>,
    pub(super) status: Option<PeeringStatus>,
}

impl<'s> Checker<'s> {
    pub(super) fn vpc_peering<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> PeeringIn<'n> {
        let mut p = PeeringIn {
            path,
            ..PeeringIn::default()
        };
        let Some(t) = self.table(node, &p.path, "a table", PEERING_KEYS) else {
            return p;
        };
        p.id = self.id(&t, Kind::VpcPeering, index, ids);
        if !p.id.is_empty() && !p.id.starts_with("pcx-") {
            if let Some(id) = t.get("id") {
                self.err(
                    id.node.pos,
                    &t.field("id"),
                    format!(
                        "\"{}\": a VPC peering connection's id starts with \"pcx-\" (routes \
                         name it as their target, as AWS's ids do)",
                        p.id
                    ),
                );
            }
        }
        p.requester = self.req_str(&t, "requester", "the id of a [[vpc]]");
        p.accepter = self.req_str(&t, "accepter", "the id of a [[vpc]]");
        p.status = self
            .req_str(&t, "status", STATUSES)
            .and_then(|s| match s.v {
                "active" => Some(PeeringStatus::Active),
                "pending-acceptance" => Some(PeeringStatus::PendingAcceptance),
                "rejected" => Some(PeeringStatus::Rejected),
                other => {
                    self.err(
                        s.pos,
                        &t.field("status"),
                        format!("unknown status \"{other}\" (expected {STATUSES})"),
                    );
                    None
                }
            });
        p
    }

    /// Pass 2: each connection's VPCs, and AWS's rules between them.
    /// Connections with an error are kept (so routes naming them resolve)
    /// but their ends may be index 0.
    pub(super) fn resolve_peerings(
        &mut self,
        vpcs: &[Vpc],
        peerings: Vec<PeeringIn<'_>>,
        ids: &HashMap<String, IdInfo>,
    ) -> Vec<VpcPeering> {
        let vpc_ids = defined(ids, Kind::Vpc, vpcs.iter().map(|v| &v.id));
        let mut out: Vec<VpcPeering> = Vec::new();
        // (lower VPC, higher VPC) -> (connection index, where it is written)
        let mut pairs: HashMap<(usize, usize), usize> = HashMap::new();
        for p in peerings {
            let end = |c: &mut Self, v: Option<Sp<&str>>, key: &str| {
                v.and_then(|v| c.resolve(v, Kind::Vpc, &join(&p.path, key), ids, &vpc_ids))
                    .map(|i| (i, v.map_or(0, |v| v.pos)))
            };
            let requester = end(self, p.requester, "requester");
            let accepter = end(self, p.accepter, "accepter");
            if let (Some((r, _)), Some((a, apos))) = (requester, accepter) {
                let (rv, av) = (&vpcs[r], &vpcs[a]);
                let field = join(&p.path, "accepter");
                if r == a {
                    self.err(
                        apos,
                        &field,
                        format!(
                            "{} is also the requester: a peering connection joins two \
                             different VPCs",
                            av.id
                        ),
                    );
                } else if overlaps(&rv.cidr, &av.cidr) {
                    self.err(
                        apos,
                        &field,
                        format!(
                            "{}'s CIDR {} overlaps {}'s CIDR {}: AWS cannot peer VPCs with \
                             overlapping CIDR blocks",
                            av.id, av.cidr, rv.id, rv.cidr
                        ),
                    );
                } else if let Some(&j) = pairs.get(&(r.min(a), r.max(a))) {
                    let other: &VpcPeering = &out[j];
                    self.err(
                        apos,
                        &field,
                        format!(
                            "{} and {} are already peered by {}: two VPCs have at most one \
                             peering connection",
                            rv.id, av.id, other.id
                        ),
                    );
                } else {
                    pairs.insert((r.min(a), r.max(a)), out.len());
                }
            }
            out.push(VpcPeering {
                id: p.id,
                requester: requester.map_or(0, |(v, _)| v),
                accepter: accepter.map_or(0, |(v, _)| v),
                status: p.status.unwrap_or(PeeringStatus::Rejected),
            });
        }
        out
    }
}

/// Whether an active connection of `peerings` joins VPCs `a` and `b`
/// (what lets a security-group rule of one name a group of the other).
pub(super) fn actively_peered(peerings: &[VpcPeering], a: usize, b: usize) -> bool {
    peerings
        .iter()
        .any(|p| p.status == PeeringStatus::Active && p.peer_of(a) == Some(b))
}

/// `check`'s notes on peering: a connection that is not active carries
/// nothing; an active one that tables of one side use but no table of the
/// other does carries requests but not their replies (AWS routes each
/// packet by the table of the subnet it leaves).
pub(super) fn notes(t: &Topology) -> Vec<String> {
    let mut out = Vec::new();
    let used_from = |p: usize, v: usize| {
        t.route_tables
            .iter()
            .any(|r| r.vpc == v && r.routes.iter().any(|x| x.target == RouteTarget::Peering(p)))
    };
    for (i, p) in t.vpc_peerings.iter().enumerate() {
        let (a, b) = (&t.vpcs[p.requester].id, &t.vpcs[p.accepter].id);
        if p.status != PeeringStatus::Active {
            out.push(format!(
                "VPC peering connection {} ({a} <-> {b}) is {}: it carries nothing until \
                 active (`status = \"active\"`)",
                p.id,
                p.status.name()
            ));
            continue;
        }
        for (from, to) in [(p.requester, p.accepter), (p.accepter, p.requester)] {
            if used_from(i, from) && !used_from(i, to) {
                out.push(format!(
                    "VPC peering connection {}: {} routes to it but no route table of {} does: \
                     replies from {} are dropped there (add a route to {}'s CIDR {} over {})",
                    p.id,
                    t.vpcs[from].id,
                    t.vpcs[to].id,
                    t.vpcs[to].id,
                    t.vpcs[from].id,
                    t.vpcs[from].cidr,
                    p.id
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
