//! HTTP VPC links (VPC-to-VPC NAT) as the AWS rules state them, over the
//! link as the user wrote it (its customer VPC, ENIs, groups and
//! integrations) and what each integration names (an ALB, an NLB listener,
//! a Cloud Map service), never over the parts `config` lowers it into:
//!
//! - a call to an integration reaches the ALB's nodes on the integration's
//!   port, the targets of the NLB's listener on the integration's protocol
//!   and port (the NLB itself is bypassed: its targets see the link), or
//!   the Cloud Map service's instances (docs/DATAPLANE.md "VPC-to-VPC NAT",
//!   step 2);
//! - it leaves from the link ENI in the chosen target's AZ, else the link's
//!   first ENI (step 3);
//! - the link's own security groups say what it may reach, and the target's
//!   groups see the link ENI's address (step 4); the integration address
//!   has no groups (step 1).
//!
//! The model uses [`link_eni`] and [`link_groups`] for every call; the tests
//! (`vpc_link/tests.rs`) hold `config`'s lowering (the implied endpoint,
//! endpoint service, NLB and target group of each integration) to
//! [`calls`].

use std::net::Ipv4Addr;

use dataplane::model::{EndpointEni, IntegrationKind, L4Protocol, Target, Topology, VpcLinkKind};

#[cfg(test)]
mod tests;

/// The parts of HTTP link `link` the rules read.
struct Http<'t> {
    customer_vpc: usize,
    service_vpc: usize,
    enis: &'t [EndpointEni],
    groups: &'t [usize],
}

fn http(topo: &Topology, link: usize) -> Http<'_> {
    match &topo.services.vpc_links[link].kind {
        VpcLinkKind::Http {
            customer_vpc,
            service_vpc,
            enis,
            security_groups,
            ..
        } => Http {
            customer_vpc: *customer_vpc,
            service_vpc: *service_vpc,
            enis,
            groups: security_groups,
        },
        VpcLinkKind::Rest { .. } => panic!("VPC link {link} is a REST link"),
    }
}

/// The link ENI a call through HTTP link `link` to a target on host ENI
/// `target_eni` leaves from: the one in the target's AZ, else the link's
/// first.
pub fn link_eni(topo: &Topology, link: usize, target_eni: usize) -> &EndpointEni {
    let enis = http(topo, link).enis;
    let az = &topo.subnets[topo.enis[target_eni].subnet].az;
    enis.iter()
        .find(|e| topo.subnets[e.subnet].az == *az)
        .unwrap_or(&enis[0])
}

/// The groups that say what HTTP link `link` may reach (and that the link
/// ENIs are members of): the link's own.
pub fn link_groups(topo: &Topology, link: usize) -> &[usize] {
    http(topo, link).groups
}

/// A call through an HTTP VPC link integration, as the rules state it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Index into `Services::vpc_links`.
    pub link: usize,
    pub integration: String,
    /// The integration address in `service_vpc`, and what it listens on.
    pub service_vpc: usize,
    pub address: Ipv4Addr,
    pub protocol: L4Protocol,
    pub port: u16,
    /// Where the targets (and the link ENIs) live.
    pub customer_vpc: usize,
    /// The link ENIs: the NAT's source addresses.
    pub link_enis: Vec<EndpointEni>,
    /// Every target the call may reach (any AZ: a link is cross-zone).
    pub targets: Vec<CallTarget>,
    /// The groups that must let the link out to a target.
    pub groups: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallTarget {
    /// Index into `Topology::enis`.
    pub eni: usize,
    pub port: u16,
    /// The source the target sees ([`link_eni`]).
    pub link_eni: Ipv4Addr,
}

/// What an integration reaches, from the resource it names.
fn reached(
    topo: &Topology,
    kind: &IntegrationKind,
    protocol: L4Protocol,
    port: u16,
) -> Vec<Target> {
    let s = &topo.services;
    match *kind {
        IntegrationKind::Alb { alb } => s.albs[alb]
            .nodes
            .iter()
            .map(|&eni| Target { eni, port })
            .collect(),
        IntegrationKind::Nlb { nlb } => {
            let l = s.nlbs[nlb]
                .listeners
                .iter()
                .find(|l| l.protocol == protocol && l.port == port)
                .expect("a valid integration names an existing listener");
            s.target_groups[l.target_group].targets.clone()
        }
        IntegrationKind::CloudMap { service } => s.cloud_map_services[service].instances.clone(),
    }
}

/// Every call the topology's HTTP VPC links offer, in link and integration
/// order.
pub fn calls(topo: &Topology) -> Vec<Call> {
    let mut calls = Vec::new();
    for (link, l) in topo.services.vpc_links.iter().enumerate() {
        let VpcLinkKind::Http { integrations, .. } = &l.kind else {
            continue;
        };
        let h = http(topo, link);
        for g in integrations {
            let targets = reached(topo, &g.kind, g.protocol, g.port)
                .into_iter()
                .map(|t| CallTarget {
                    eni: t.eni,
                    port: t.port,
                    link_eni: link_eni(topo, link, t.eni).ip,
                })
                .collect();
            calls.push(Call {
                link,
                integration: g.id.clone(),
                service_vpc: h.service_vpc,
                address: g.address,
                protocol: g.protocol,
                port: g.port,
                customer_vpc: h.customer_vpc,
                link_enis: h.enis.to_vec(),
                targets,
                groups: h.groups.to_vec(),
            });
        }
    }
    calls
}
