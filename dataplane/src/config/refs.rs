//! The one id namespace shared by every resource kind: registering ids,
//! resolving references by kind ("unknown ...", "is a ..., not a ..."), and
//! what pass 2 looks things up in.

use std::collections::HashMap;

use super::diagnostics::Checker;
use super::tree::{Sp, Tbl};
use crate::model::{Nlb, Subnet, Vpc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Vpc,
    Subnet,
    SecurityGroup,
    NetworkAcl,
    RouteTable,
    Eni,
    Nlb,
    TargetGroup,
    EndpointService,
    VpcEndpoint,
    VpcLink,
    Alb,
    CloudMapService,
    Integration,
    VpcPeering,
    InternetGateway,
    NatGateway,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Vpc => "VPC",
            Kind::Subnet => "subnet",
            Kind::SecurityGroup => "security group",
            Kind::NetworkAcl => "network ACL",
            Kind::RouteTable => "route table",
            Kind::Eni => "ENI",
            Kind::Nlb => "NLB",
            Kind::TargetGroup => "target group",
            Kind::EndpointService => "endpoint service",
            Kind::VpcEndpoint => "VPC endpoint",
            Kind::VpcLink => "VPC link",
            Kind::Alb => "ALB",
            Kind::CloudMapService => "Cloud Map service",
            Kind::Integration => "integration",
            Kind::VpcPeering => "VPC peering connection",
            Kind::InternetGateway => "internet gateway",
            Kind::NatGateway => "NAT gateway",
        }
    }

    pub(super) fn plural(self) -> &'static str {
        match self {
            Kind::Vpc => "VPCs",
            Kind::Subnet => "subnets",
            Kind::SecurityGroup => "security groups",
            Kind::NetworkAcl => "network ACLs",
            Kind::RouteTable => "route tables",
            Kind::Eni => "ENIs",
            Kind::Nlb => "NLBs",
            Kind::TargetGroup => "target groups",
            Kind::EndpointService => "endpoint services",
            Kind::VpcEndpoint => "VPC endpoints",
            Kind::VpcLink => "VPC links",
            Kind::Alb => "ALBs",
            Kind::CloudMapService => "Cloud Map services",
            Kind::Integration => "integrations",
            Kind::VpcPeering => "VPC peering connections",
            Kind::InternetGateway => "internet gateways",
            Kind::NatGateway => "NAT gateways",
        }
    }

    pub(super) fn an(self) -> &'static str {
        match self {
            Kind::Eni
            | Kind::Nlb
            | Kind::EndpointService
            | Kind::Alb
            | Kind::Integration
            | Kind::InternetGateway => "an",
            Kind::Vpc
            | Kind::Subnet
            | Kind::SecurityGroup
            | Kind::NetworkAcl
            | Kind::RouteTable
            | Kind::TargetGroup
            | Kind::VpcEndpoint
            | Kind::VpcLink
            | Kind::CloudMapService
            | Kind::VpcPeering
            | Kind::NatGateway => "a",
        }
    }

    /// The usual id prefix, for examples in messages.
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Kind::Vpc => "vpc",
            Kind::Subnet => "subnet",
            Kind::SecurityGroup => "sg",
            Kind::NetworkAcl => "acl",
            Kind::RouteTable => "rtb",
            Kind::Eni => "eni",
            Kind::Nlb => "nlb",
            Kind::TargetGroup => "tg",
            Kind::EndpointService => "vpce-svc",
            Kind::VpcEndpoint => "vpce",
            Kind::VpcLink => "vpclink",
            Kind::Alb => "alb",
            Kind::CloudMapService => "svc",
            Kind::Integration => "int",
            Kind::VpcPeering => "pcx",
            Kind::InternetGateway => "igw",
            Kind::NatGateway => "nat",
        }
    }
}

pub(super) struct IdInfo {
    pub(super) kind: Kind,
    pub(super) index: usize,
    pub(super) path: String,
    pub(super) pos: usize,
}

/// An NLB claimed by an endpoint service (given, or implied by a REST link).
pub(super) struct Front {
    pub(super) pos: usize,
    pub(super) nlb: usize,
    /// The service, for "already fronts".
    pub(super) owner: String,
    pub(super) field: String,
}

/// Names a resource in messages: `this NLB`, `an NLB` and its id.
pub(super) struct Who<'a> {
    pub(super) id: &'a str,
    pub(super) this: &'a str,
    pub(super) a: &'a str,
}

/// What pass 2 of the Hyperplane resources looks things up in.
pub(super) struct Net<'a> {
    pub(super) vpcs: &'a [Vpc],
    pub(super) subnets: &'a [Subnet],
    pub(super) subnet_vpcs: &'a [Option<usize>],
    pub(super) sg_vpcs: &'a [Option<usize>],
    pub(super) ids: &'a HashMap<String, IdInfo>,
    pub(super) vpc_ids: Vec<&'a str>,
    pub(super) subnet_ids: Vec<&'a str>,
    pub(super) sg_ids: Vec<&'a str>,
}

impl<'s> Checker<'s> {
    /// A resource id: a non-empty string without whitespace. Registered in
    /// the shared namespace unless it is a duplicate.
    pub(super) fn id(
        &mut self,
        t: &Tbl<'_>,
        kind: Kind,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> String {
        let field = t.field("id");
        let Some(id) = self.req_str(t, "id", "a string id such as \"vpc-a\"") else {
            return String::new();
        };
        if id.v.is_empty() || id.v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.err(
                id.pos,
                &field,
                format!(
                    "invalid id {:?} (expected a non-empty string without spaces, such as \"{}-a\")",
                    id.v,
                    kind.prefix()
                ),
            );
            return String::new();
        }
        if let Some(prev) = ids.get(id.v) {
            let msg = format!(
                "duplicate id \"{}\": already used by {} at line {} (ids are shared by all resource kinds)",
                id.v,
                prev.path,
                self.line_of(prev.pos)
            );
            self.err(id.pos, &field, msg);
        } else {
            ids.insert(
                id.v.to_string(),
                IdInfo {
                    kind,
                    index,
                    path: t.path.clone(),
                    pos: id.pos,
                },
            );
        }
        id.v.to_string()
    }

    /// Whether what a field names (in VPC `theirs`) is in this resource's
    /// VPC (`ours`); if not, reports `message(their VPC id, our VPC id)`
    /// at `pos`. An unknown VPC on either side is no mismatch.
    pub(super) fn in_same_vpc(
        &mut self,
        (pos, field): (usize, &str),
        vpcs: &[Vpc],
        (ours, theirs): (Option<usize>, Option<usize>),
        message: impl FnOnce(&str, &str) -> String,
    ) -> bool {
        match (ours, theirs) {
            (Some(v), Some(t)) if v != t => {
                self.err(pos, field, message(&vpcs[t].id, &vpcs[v].id));
                false
            }
            _ => true,
        }
    }

    /// Resolves a reference to a resource of kind `want`.
    pub(super) fn resolve(
        &mut self,
        r: Sp<&str>,
        want: Kind,
        field: &str,
        ids: &HashMap<String, IdInfo>,
        defined: &[&str],
    ) -> Option<usize> {
        match ids.get(r.v) {
            Some(info) if info.kind == want => Some(info.index),
            Some(info) => {
                self.err(
                    r.pos,
                    field,
                    format!(
                        "\"{}\" is {} {} ({}), not {} {}",
                        r.v,
                        info.kind.an(),
                        info.kind.name(),
                        info.path,
                        want.an(),
                        want.name()
                    ),
                );
                None
            }
            None => {
                let known = if defined.is_empty() {
                    format!("no {} are defined", want.plural())
                } else {
                    format!("defined: {}", defined.join(", "))
                };
                self.err(
                    r.pos,
                    field,
                    format!("unknown {} \"{}\" ({known})", want.name(), r.v),
                );
                None
            }
        }
    }

    /// Every NLB fronts at most one endpoint service (REST links' included).
    pub(super) fn check_fronts(&mut self, nlbs: &[Nlb], mut fronts: Vec<Front>) {
        fronts.sort_by_key(|f| f.pos);
        let mut seen: HashMap<usize, usize> = HashMap::new();
        for (i, f) in fronts.iter().enumerate() {
            match seen.get(&f.nlb) {
                Some(&j) => self.err(
                    f.pos,
                    &f.field,
                    format!(
                        "{} already fronts {}; an NLB fronts at most one endpoint service",
                        nlbs[f.nlb].id, fronts[j].owner
                    ),
                ),
                None => {
                    seen.insert(f.nlb, i);
                }
            }
        }
    }
}

/// Ids of one kind in file order, for "defined: ..." hints.
pub(super) fn defined<'a>(
    ids: &HashMap<String, IdInfo>,
    kind: Kind,
    names: impl IntoIterator<Item = &'a String>,
) -> Vec<&'a str> {
    names
        .into_iter()
        .enumerate()
        .filter(|(i, n)| {
            ids.get(n.as_str())
                .is_some_and(|info| info.kind == kind && info.index == *i)
        })
        .map(|(_, n)| n.as_str())
        .collect()
}
