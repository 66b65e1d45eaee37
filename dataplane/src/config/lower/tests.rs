//! The lowering checked on its own: validated links in, implied resources
//! out, with the expected values written from the rules in `lower.rs` (and
//! the format reference), not computed by the code under test.

use super::*;
use crate::model::HealthProtocol;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn eni(subnet: usize, addr: &str) -> EndpointEni {
    EndpointEni {
        subnet,
        ip: ip(addr),
    }
}

fn subnet(id: &str, vpc: usize, cidr: &str) -> Subnet {
    Subnet {
        id: id.to_string(),
        vpc,
        cidr: cidr.parse().unwrap(),
        az: "use1-az1".to_string(),
        mtu: None,
    }
}

/// The user defined 1 target group, 2 NLBs, 1 service and 3 endpoints.
const FIRST: Firsts = Firsts {
    tg: 1,
    nlb: 2,
    service: 1,
    endpoint: 3,
};

fn rest_link() -> ValidLink {
    ValidLink {
        id: "vpclink-r".to_string(),
        kind: ValidLinkKind::Rest {
            nlb: 1,
            vpc: 2,
            enis: vec![eni(3, "10.2.1.100"), eni(4, "10.2.2.100")],
            security_groups: vec![5],
        },
    }
}

fn http_link() -> ValidLink {
    let hc = HealthCheck {
        protocol: HealthProtocol::Http {
            path: "/health".to_string(),
        },
        port: None,
        interval_ms: 1000,
        timeout_ms: 500,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
    };
    ValidLink {
        id: "vpclink-h".to_string(),
        kind: ValidLinkKind::Http(ValidHttpLink {
            customer_vpc: 0,
            service_vpc: 1,
            enis: vec![eni(0, "10.0.1.4"), eni(1, "10.0.2.4")],
            security_groups: vec![2, 3],
            integrations: vec![
                ValidIntegration {
                    id: "int-alb".to_string(),
                    kind: IntegrationKind::Alb { alb: 0 },
                    targets: vec![Target { eni: 7, port: 80 }, Target { eni: 8, port: 80 }],
                    health_check: None,
                    protocol: L4Protocol::Tcp,
                    port: 80,
                    address: eni(2, "10.2.1.201"),
                },
                ValidIntegration {
                    id: "int-map".to_string(),
                    kind: IntegrationKind::CloudMap { service: 0 },
                    targets: vec![Target { eni: 9, port: 8080 }],
                    health_check: Some(hc),
                    protocol: L4Protocol::Udp,
                    port: 8080,
                    address: eni(2, "10.2.1.203"),
                },
            ],
        }),
    }
}

fn http_parts(l: ValidLink) -> ValidHttpLink {
    match l.kind {
        ValidLinkKind::Http(h) => h,
        ValidLinkKind::Rest { .. } => panic!("not an HTTP link"),
    }
}

#[test]
fn implied_ids_follow_the_format_reference() {
    assert_eq!(
        rest_ids("vpclink-a"),
        ["vpclink-a-service", "vpclink-a-endpoint"]
    );
    assert_eq!(
        http_ids("vpclink-h", "int-alb"),
        [
            "vpclink-h-int-alb-targets",
            "vpclink-h-int-alb",
            "vpclink-h-int-alb-service",
            "vpclink-h-int-alb-endpoint",
        ]
    );
}

#[test]
fn rest_link_implies_a_service_of_its_nlb_and_an_api_gateway_endpoint() {
    let x = lower_links(vec![rest_link()], &FIRST);
    assert!(x.target_groups.is_empty());
    assert!(x.nlbs.is_empty());
    assert_eq!(
        x.services,
        vec![EndpointService {
            id: "vpclink-r-service".to_string(),
            nlb: 1,
            acceptance_required: false,
            allowed_principals: vec!["*".to_string()],
        }]
    );
    assert_eq!(
        x.endpoints,
        vec![VpcEndpoint {
            id: "vpclink-r-endpoint".to_string(),
            // After the user's one service: index 1.
            service: 1,
            vpc: 2,
            enis: vec![eni(3, "10.2.1.100"), eni(4, "10.2.2.100")],
            security_groups: vec![5],
            principal: "apigateway.amazonaws.com".to_string(),
            state: EndpointState::Available,
            implied_by: Some(0),
        }]
    );
    assert_eq!(
        x.links,
        vec![VpcLink {
            id: "vpclink-r".to_string(),
            kind: VpcLinkKind::Rest {
                nlb: 1,
                service: 1,
                endpoint: 3,
            },
        }]
    );
}

#[test]
fn http_link_implies_per_integration_a_target_group_nlb_service_and_endpoint() {
    // A REST link first: the HTTP link's resources come after its service
    // and endpoint, and name link 1.
    let x = lower_links(vec![rest_link(), http_link()], &FIRST);
    let nodes = vec![
        NlbNode {
            subnet: 0,
            ip: ip("10.0.1.4"),
        },
        NlbNode {
            subnet: 1,
            ip: ip("10.0.2.4"),
        },
    ];
    let hc = http_parts(http_link()).integrations[1].health_check.clone();
    assert_eq!(
        x.target_groups,
        vec![
            TargetGroup {
                id: "vpclink-h-int-alb-targets".to_string(),
                vpc: 0,
                protocol: L4Protocol::Tcp,
                port: 80,
                targets: vec![Target { eni: 7, port: 80 }, Target { eni: 8, port: 80 }],
                health_check: None,
                connection_termination: true,
            },
            TargetGroup {
                id: "vpclink-h-int-map-targets".to_string(),
                vpc: 0,
                protocol: L4Protocol::Udp,
                port: 8080,
                targets: vec![Target { eni: 9, port: 8080 }],
                health_check: hc,
                connection_termination: true,
            },
        ]
    );
    // An integration's NLB: the link ENIs as nodes, the link's groups.
    let link_nlb = |id: &str, nodes, protocol, port, target_group| Nlb {
        id: id.to_string(),
        vpc: 0,
        nodes,
        cross_zone: true,
        security_groups: vec![2, 3],
        listeners: vec![Listener {
            protocol,
            port,
            target_group,
        }],
        source_ports: (1024, 65535),
        vpc_link: Some(1),
    };
    assert_eq!(
        x.nlbs,
        vec![
            link_nlb("vpclink-h-int-alb", nodes.clone(), L4Protocol::Tcp, 80, 1),
            link_nlb("vpclink-h-int-map", nodes, L4Protocol::Udp, 8080, 2),
        ]
    );
    let service = |id: &str, nlb| EndpointService {
        id: id.to_string(),
        nlb,
        acceptance_required: false,
        allowed_principals: vec!["*".to_string()],
    };
    assert_eq!(
        x.services[1..],
        [
            service("vpclink-h-int-alb-service", 2),
            service("vpclink-h-int-map-service", 3),
        ]
    );
    let endpoint = |id: &str, service, addr| VpcEndpoint {
        id: id.to_string(),
        service,
        vpc: 1,
        enis: vec![eni(2, addr)],
        security_groups: Vec::new(),
        principal: "apigateway.amazonaws.com".to_string(),
        state: EndpointState::Available,
        implied_by: Some(1),
    };
    assert_eq!(
        x.endpoints[1..],
        [
            endpoint("vpclink-h-int-alb-endpoint", 2, "10.2.1.201"),
            endpoint("vpclink-h-int-map-endpoint", 3, "10.2.1.203"),
        ]
    );
    // The link keeps its VPCs, ENIs and groups as given.
    let h = http_parts(http_link());
    assert_eq!(
        x.links[1],
        VpcLink {
            id: "vpclink-h".to_string(),
            kind: VpcLinkKind::Http {
                customer_vpc: h.customer_vpc,
                service_vpc: h.service_vpc,
                enis: h.enis,
                security_groups: h.security_groups,
                integrations: vec![
                    Integration {
                        id: "int-alb".to_string(),
                        kind: IntegrationKind::Alb { alb: 0 },
                        address: ip("10.2.1.201"),
                        protocol: L4Protocol::Tcp,
                        port: 80,
                        target_group: 1,
                        nlb: 2,
                        service: 2,
                        endpoint: 4,
                    },
                    Integration {
                        id: "int-map".to_string(),
                        kind: IntegrationKind::CloudMap { service: 0 },
                        address: ip("10.2.1.203"),
                        protocol: L4Protocol::Udp,
                        port: 8080,
                        target_group: 2,
                        nlb: 3,
                        service: 3,
                        endpoint: 5,
                    },
                ],
            },
        }
    );
}

#[test]
fn a_link_without_integrations_implies_nothing_but_itself() {
    let mut h = http_parts(http_link());
    h.integrations.clear();
    let link = ValidLink {
        id: "vpclink-h".to_string(),
        kind: ValidLinkKind::Http(h),
    };
    let x = lower_links(vec![link], &FIRST);
    assert!(x.target_groups.is_empty() && x.nlbs.is_empty());
    assert!(x.services.is_empty() && x.endpoints.is_empty());
    assert_eq!(x.links.len(), 1);
}

#[test]
fn allocation_starts_at_network_plus_4_and_skips_claimed_addresses_of_the_vpc() {
    let subnets = [
        subnet("subnet-a1", 0, "10.0.1.0/24"),
        subnet("subnet-a2", 0, "10.0.2.0/24"),
    ];
    // .4 and .6 are claimed in VPC 0; .5 only in VPC 1, so it is free here.
    let taken = [
        (0, ip("10.0.1.4")),
        (0, ip("10.0.1.6")),
        (1, ip("10.0.1.5")),
    ];
    let got = allocate(&subnets, taken, &[(0, 0), (0, 0), (1, 0), (0, 0)]);
    assert_eq!(
        got,
        [
            Some(ip("10.0.1.5")),
            Some(ip("10.0.1.7")),
            Some(ip("10.0.2.4")),
            Some(ip("10.0.1.8")),
        ]
    );
}

#[test]
fn allocation_ends_below_the_broadcast_address_and_then_runs_out() {
    // A /28: 16 addresses, AWS reserves .0-.3 and .15, so .4-.14 are usable.
    let subnets = [subnet("subnet-s", 0, "10.0.3.0/28")];
    let got = allocate(&subnets, [], &[(0, 0); 12]);
    let want: Vec<Option<Ipv4Addr>> = (4..=14)
        .map(|i| Some(Ipv4Addr::new(10, 0, 3, i)))
        .chain([None])
        .collect();
    assert_eq!(got, want);
}
