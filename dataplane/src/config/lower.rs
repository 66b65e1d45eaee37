//! Lowering: VPC links -> the resources they imply. Runs after validation,
//! on links whose references are already resolved to indices, and knows
//! nothing of the TOML tree or of diagnostics.
//!
//! The rules (from the format reference in [`super`], after AWS):
//!
//! - A REST link `L` implies the endpoint service `L-service` (fronting the
//!   link's NLB, acceptance off, principals `["*"]`) and the interface
//!   endpoint `L-endpoint` of that service (principal
//!   `apigateway.amazonaws.com`, available) with the link's VPC, ENIs and
//!   security groups.
//! - An HTTP link `L` implies, per integration `I`: the target group
//!   `L-I-targets` (in the customer VPC, the integration's protocol and
//!   port, the targets and health check of what it reaches, connection
//!   termination on), the NLB `L-I` (nodes: the link ENIs; groups: the
//!   link's; cross-zone; one listener on the integration's protocol and
//!   port to that target group), the endpoint service `L-I-service` and
//!   the endpoint `L-I-endpoint` (one ENI at the integration address, no
//!   security groups) in the service VPC.
//! - Implied resources come after the user's own, in link order (and
//!   integration order within a link).
//! - A link ENI without an address takes its subnet's lowest free usable
//!   address: from network+4 (AWS reserves the first four) to broadcast-1,
//!   skipping every address claimed in the VPC and those allocated before.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use crate::model::{
    self, EndpointEni, EndpointService, EndpointState, HealthCheck, Integration, IntegrationKind,
    L4Protocol, Listener, Nlb, NlbNode, Subnet, Target, TargetGroup, VpcEndpoint, VpcLink,
    VpcLinkKind,
};

/// The principal of the endpoint a VPC link implies (API Gateway).
pub(super) const APIGATEWAY_PRINCIPAL: &str = "apigateway.amazonaws.com";

/// A VPC link after validation: every reference is an index (0 where it did
/// not resolve; validation has reported that, and the result is dropped).
pub(super) struct ValidLink {
    pub(super) id: String,
    pub(super) kind: ValidLinkKind,
}

pub(super) enum ValidLinkKind {
    Rest {
        nlb: usize,
        vpc: usize,
        enis: Vec<EndpointEni>,
        security_groups: Vec<usize>,
    },
    Http(ValidHttpLink),
}

pub(super) struct ValidHttpLink {
    pub(super) customer_vpc: usize,
    pub(super) service_vpc: usize,
    /// The link ENIs, one per customer subnet; an address still to be
    /// allocated is `0.0.0.0` until [`allocate`] has run.
    pub(super) enis: Vec<EndpointEni>,
    pub(super) security_groups: Vec<usize>,
    pub(super) integrations: Vec<ValidIntegration>,
}

pub(super) struct ValidIntegration {
    pub(super) id: String,
    pub(super) kind: IntegrationKind,
    /// The targets and health check of what the integration reaches.
    pub(super) targets: Vec<Target>,
    pub(super) health_check: Option<HealthCheck>,
    pub(super) protocol: L4Protocol,
    pub(super) port: u16,
    /// The integration address and its subnet in the service VPC.
    pub(super) address: EndpointEni,
}

/// How many of each the user defined: where VPC links' implied ones start.
pub(super) struct Firsts {
    pub(super) tg: usize,
    pub(super) nlb: usize,
    pub(super) service: usize,
    pub(super) endpoint: usize,
}

/// What VPC links imply, in link order.
#[derive(Default)]
pub(super) struct Expansion {
    pub(super) target_groups: Vec<TargetGroup>,
    pub(super) nlbs: Vec<Nlb>,
    pub(super) services: Vec<EndpointService>,
    pub(super) endpoints: Vec<VpcEndpoint>,
    pub(super) links: Vec<VpcLink>,
}

/// The ids a REST link implies: its endpoint service and its endpoint.
pub(super) fn rest_ids(link: &str) -> [String; 2] {
    [format!("{link}-service"), format!("{link}-endpoint")]
}

/// The ids an HTTP link's integration implies: its target group, NLB,
/// endpoint service and endpoint.
pub(super) fn http_ids(link: &str, integration: &str) -> [String; 4] {
    [
        format!("{link}-{integration}-targets"),
        format!("{link}-{integration}"),
        format!("{link}-{integration}-service"),
        format!("{link}-{integration}-endpoint"),
    ]
}

/// Gives each request `(subnet, vpc)` its subnet's lowest free usable
/// address (from network+4 up to broadcast-1), skipping `taken` (VPC,
/// address) pairs and the addresses given to earlier requests. `None`: the
/// subnet has no free address left.
pub(super) fn allocate(
    subnets: &[Subnet],
    taken: impl IntoIterator<Item = (usize, Ipv4Addr)>,
    requests: &[(usize, usize)],
) -> Vec<Option<Ipv4Addr>> {
    let mut taken: HashSet<(usize, Ipv4Addr)> = taken.into_iter().collect();
    requests
        .iter()
        .map(|&(subnet, vpc)| {
            let sn = &subnets[subnet];
            let lo = u32::from(sn.cidr.network()) + 4;
            let hi = u32::from(sn.cidr.broadcast()) - 1;
            let free = (lo..=hi)
                .map(Ipv4Addr::from)
                .find(|ip| !taken.contains(&(vpc, *ip)));
            if let Some(ip) = free {
                taken.insert((vpc, ip));
            }
            free
        })
        .collect()
}

/// Expands validated VPC links into what they imply, to be appended (in
/// link order) after the user's resources whose counts `first` holds.
pub(super) fn lower_links(links: Vec<ValidLink>, first: &Firsts) -> Expansion {
    let mut x = Expansion::default();
    for (k, l) in links.into_iter().enumerate() {
        match l.kind {
            ValidLinkKind::Rest {
                nlb,
                vpc,
                enis,
                security_groups,
            } => {
                let [service_id, endpoint_id] = rest_ids(&l.id);
                let service = first.service + x.services.len();
                let endpoint = first.endpoint + x.endpoints.len();
                x.services.push(implied_service(service_id, nlb));
                x.endpoints.push(VpcEndpoint {
                    id: endpoint_id,
                    service,
                    vpc,
                    enis,
                    security_groups,
                    principal: APIGATEWAY_PRINCIPAL.to_string(),
                    state: EndpointState::Available,
                    implied_by: Some(k),
                });
                x.links.push(VpcLink {
                    id: l.id,
                    kind: VpcLinkKind::Rest {
                        nlb,
                        service,
                        endpoint,
                    },
                });
            }
            ValidLinkKind::Http(h) => lower_http_link(k, l.id, h, first, &mut x),
        }
    }
    x
}

/// The endpoint service a VPC link implies in front of `nlb`: open to any
/// principal, no acceptance.
fn implied_service(id: String, nlb: usize) -> EndpointService {
    EndpointService {
        id,
        nlb,
        acceptance_required: false,
        allowed_principals: vec!["*".to_string()],
    }
}

/// Appends HTTP link `k`'s expansion to `x`.
fn lower_http_link(k: usize, id: String, h: ValidHttpLink, first: &Firsts, x: &mut Expansion) {
    let nodes: Vec<NlbNode> = h
        .enis
        .iter()
        .map(|e| NlbNode {
            subnet: e.subnet,
            ip: e.ip,
        })
        .collect();
    let mut integrations = Vec::new();
    for g in h.integrations {
        let [tg_id, nlb_id, service_id, endpoint_id] = http_ids(&id, &g.id);
        let target_group = first.tg + x.target_groups.len();
        let nlb = first.nlb + x.nlbs.len();
        let service = first.service + x.services.len();
        let endpoint = first.endpoint + x.endpoints.len();
        x.target_groups.push(TargetGroup {
            id: tg_id,
            vpc: h.customer_vpc,
            protocol: g.protocol,
            port: g.port,
            targets: g.targets,
            health_check: g.health_check,
            connection_termination: true,
        });
        x.nlbs.push(Nlb {
            id: nlb_id,
            vpc: h.customer_vpc,
            nodes: nodes.clone(),
            cross_zone: true,
            security_groups: h.security_groups.clone(),
            listeners: vec![Listener {
                protocol: g.protocol,
                port: g.port,
                target_group,
            }],
            source_ports: model::NLB_SOURCE_PORTS,
            vpc_link: Some(k),
        });
        x.services.push(implied_service(service_id, nlb));
        x.endpoints.push(VpcEndpoint {
            id: endpoint_id,
            service,
            vpc: h.service_vpc,
            enis: vec![g.address.clone()],
            // The integration address has no group of its own.
            security_groups: Vec::new(),
            principal: APIGATEWAY_PRINCIPAL.to_string(),
            state: EndpointState::Available,
            implied_by: Some(k),
        });
        integrations.push(Integration {
            id: g.id,
            kind: g.kind,
            address: g.address.ip,
            protocol: g.protocol,
            port: g.port,
            target_group,
            nlb,
            service,
            endpoint,
        });
    }
    x.links.push(VpcLink {
        id,
        kind: VpcLinkKind::Http {
            customer_vpc: h.customer_vpc,
            service_vpc: h.service_vpc,
            enis: h.enis,
            security_groups: h.security_groups,
            integrations,
        },
    });
}

#[cfg(test)]
mod tests;
