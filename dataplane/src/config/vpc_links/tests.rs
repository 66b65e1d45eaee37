//! Tests of VPC links through the whole parser (validation and lowering;
//! `lower/tests.rs` checks the lowering on its own).

use std::net::Ipv4Addr;

use crate::config::parse_str;
use crate::config::test_support::{self as text, diags, parsed, with_hl, with_pl, HL};
use crate::model::{
    Alb, CloudMapService, EndpointEni, EndpointService, EndpointState, HealthCheck, HealthProtocol,
    Integration, IntegrationKind, L4Protocol, Listener, Nlb, NlbNode, Services, Target,
    TargetGroup, VpcEndpoint, VpcLink, VpcLinkKind,
};

#[test]
fn vpc_links() {
    let extra = text::cat(&[
        &text::rest_link(
            "vpclink-a",
            "rest",
            "nlb-nope",
            "vpc-c",
            ("subnet-c1", "10.0.1.200"),
            "sg-c",
        ),
        &text::rest_link(
            "vpclink-b",
            "REST",
            "vpce-web",
            "vpc-c",
            ("subnet-p1", "10.1.1.200"),
            "sg-p",
        ),
        &text::rest_link(
            "vpce",
            "rest",
            "nlb-x",
            "vpc-c",
            ("subnet-c1", "10.0.1.201"),
            "sg-c",
        ),
        r#"
[[endpoint_service]]
id = "vpce-service"
nlb = "nlb-x"
"#,
        &text::endpoint(
            "vpce-endpoint",
            "vpce-service",
            "vpc-c",
            ("subnet-c1", "10.0.1.202"),
            &["sg-c"],
            "*",
        ),
        &text::nlb("nlb-x", ("subnet-p1", "10.1.1.60"), ("tcp", 80, "tg-web")),
    ]);
    assert_eq!(diags(&with_pl(&extra)), [
            "t.toml:77:7: vpc_link[0].nlb: unknown NLB \"nlb-nope\" (defined: nlb-svc, nlb-x)",
            "t.toml:84:8: vpc_link[1].kind: unknown VPC link kind \"REST\" (expected \"rest\" or \"http\")",
            "t.toml:85:7: vpc_link[1].nlb: \"vpce-web\" is a VPC endpoint (vpc_endpoint[0]), not an NLB",
            "t.toml:87:23: vpc_link[1].subnets[0].subnet: subnet subnet-p1 is in vpc-p, but this VPC link is in vpc-c",
            "t.toml:88:20: vpc_link[1].security_groups[0]: security group \"sg-p\" is in vpc-p, but this VPC link is in vpc-c",
            "t.toml:91:6: vpc_link[2].id: this REST VPC link implies the endpoint service \"vpce-service\", but that id is already used by endpoint_service[1] at line 99",
            "t.toml:91:6: vpc_link[2].id: this REST VPC link implies the VPC endpoint \"vpce-endpoint\", but that id is already used by vpc_endpoint[1] at line 103",
            "t.toml:100:7: endpoint_service[1].nlb: nlb-x already fronts endpoint service vpce-service (implied by vpc_link[2]); an NLB fronts at most one endpoint service",
            "t.toml:108:13: vpc_endpoint[1].principal: \"*\" is only a wildcard of allowed_principals; an endpoint's principal is who requests it (e.g. \"arn:aws:iam::111122223333:root\")",
        ]);
}

#[test]
fn http_vpc_link_config_gives_the_exact_expansion() {
    let src = text::cat(&[
        &text::vpc("vpc-api", "10.1.0.0/16"),
        &text::vpc("vpc-cust", "10.0.0.0/16"),
        &text::subnet("subnet-api1", "vpc-api", "10.1.1.0/24", "use1-az1"),
        &text::subnet("subnet-c1", "vpc-cust", "10.0.1.0/24", "use1-az1"),
        &text::subnet("subnet-c2", "vpc-cust", "10.0.2.0/24", "use1-az2"),
        &text::sg("sg-api", "vpc-api"),
        &text::sg("sg-link", "vpc-cust"),
        &text::sg("sg-link2", "vpc-cust"),
        r#"
[[security_group]]
id = "sg-app"
vpc = "vpc-cust"
ingress = [{ protocol = "all", peer = "sg-link" }]
"#,
        &text::eni("eni-apigw", "subnet-api1", "10.1.1.20", "sg-api", "apigw"),
        r#"
[[eni]]
id = "eni-alb1"
subnet = "subnet-c1"
ip = "10.0.1.4"            # the first usable address: allocation skips it
security_groups = ["sg-app"]
host = "alb1"
"#,
        &text::eni("eni-alb2", "subnet-c2", "10.0.2.12", "sg-app", "alb2"),
        &text::eni("eni-orders1", "subnet-c1", "10.0.1.31", "sg-app", "orders1"),
        &text::eni("eni-users1", "subnet-c2", "10.0.2.41", "sg-app", "users1"),
        r#"
[[alb]]
id = "alb-web"
nodes = ["eni-alb1", "eni-alb2"]
listener_ports = [80, 443]

[[target_group]]
id = "tg-orders"
vpc = "vpc-cust"
protocol = "tcp"
port = 8080
targets = ["eni-orders1", "10.0.1.31:8081"]
health_check = { protocol = "tcp" }

[[nlb]]
id = "nlb-orders"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.5" }]   # skipped too
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-orders" }]

[[cloud_map_service]]
id = "svc-users"
vpc = "vpc-cust"
instances = ["eni-users1:9000", "10.0.1.31:9001"]
health_check = { protocol = "http", path = "/ping" }

[[cloud_map_service]]
id = "svc-dns"
vpc = "vpc-cust"
instances = ["eni-users1:5353"]
"#,
        &text::rest_link(
            "vpclink-rest",
            "rest",
            "nlb-orders",
            "vpc-api",
            ("subnet-api1", "10.1.1.100"),
            "sg-api",
        ),
        r#"
[[vpc_link]]
id = "vpclink-a"
kind = "http"
subnets = ["subnet-c1", "subnet-c2"]   # allocated: 10.0.1.7 and 10.0.2.4
security_groups = ["sg-link"]
service_vpc = "vpc-api"
integrations = [
  { id = "int-alb", alb = "alb-web", port = 443, address = "10.1.1.201" },
  { id = "int-nlb", nlb = "nlb-orders", port = 80, address = "10.1.1.202" },
  { id = "int-users", cloud_map = "svc-users", port = 9000, address = "10.1.1.203", protocol = "tcp" },
]

[[vpc_link]]
id = "vpclink-b"
kind = "http"
subnets = ["subnet-c1"]
addresses = ["10.0.1.6"]   # given: vpclink-a's allocation skips it
security_groups = ["sg-link", "sg-link2"]
service_vpc = "vpc-api"
integrations = [{ id = "int-dns", cloud_map = "svc-dns", port = 53, address = "10.1.1.204", protocol = "udp" }]

[[vpc_link]]
id = "vpclink-c"           # no integrations (yet); allocated after vpclink-a
kind = "http"
subnets = ["subnet-c2"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
"#,
    ]);
    let t = parse_str(&src, "http.toml").unwrap();
    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    let node = |subnet, a: &str| NlbNode { subnet, ip: ip(a) };
    let eni = |subnet, a: &str| EndpointEni { subnet, ip: ip(a) };
    let tg = |id: &str, protocol, port, targets: Vec<(usize, u16)>, health_check| TargetGroup {
        id: id.into(),
        vpc: 1,
        protocol,
        port,
        targets: targets
            .into_iter()
            .map(|(eni, port)| Target { eni, port })
            .collect(),
        health_check,
        connection_termination: true,
    };
    // An integration's NLB: the link ENIs as nodes, the link's groups.
    let link_nlb = |id: &str, link, nodes, security_groups, protocol, port, target_group| Nlb {
        id: id.into(),
        vpc: 1,
        nodes,
        cross_zone: true,
        security_groups,
        listeners: vec![Listener {
            protocol,
            port,
            target_group,
        }],
        source_ports: crate::model::NLB_SOURCE_PORTS,
        vpc_link: Some(link),
    };
    let open_service = |id: &str, nlb| EndpointService {
        id: id.into(),
        nlb,
        acceptance_required: false,
        allowed_principals: vec!["*".into()],
    };
    // An integration address: no security groups.
    let integration_endpoint = |id: &str, service, a: &str, link| VpcEndpoint {
        id: id.into(),
        service,
        vpc: 0,
        enis: vec![eni(0, a)],
        security_groups: vec![],
        principal: "apigateway.amazonaws.com".into(),
        state: EndpointState::Available,
        implied_by: Some(link),
    };
    let tcp_check = Some(HealthCheck {
        protocol: HealthProtocol::Tcp,
        port: None,
        interval_ms: 1000,
        timeout_ms: 500,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
    });
    let ping_check = Some(HealthCheck {
        protocol: HealthProtocol::Http {
            path: "/ping".into(),
        },
        port: None,
        interval_ms: 1000,
        timeout_ms: 500,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
    });
    let (tcp, udp) = (L4Protocol::Tcp, L4Protocol::Udp);
    let a_nodes = vec![node(1, "10.0.1.7"), node(2, "10.0.2.4")];
    // An HTTP link from vpc-cust (1) to vpc-api (0).
    let http_link = |id: &str, enis, security_groups, integrations| VpcLink {
        id: id.into(),
        kind: VpcLinkKind::Http {
            customer_vpc: 1,
            service_vpc: 0,
            enis,
            security_groups,
            integrations,
        },
    };
    let expected = Services {
        eni_ids: Default::default(),
        albs: vec![Alb {
            id: "alb-web".into(),
            vpc: 1,
            nodes: vec![1, 2],
            listener_ports: vec![80, 443],
        }],
        cloud_map_services: vec![
            CloudMapService {
                id: "svc-users".into(),
                vpc: 1,
                instances: vec![Target { eni: 4, port: 9000 }, Target { eni: 3, port: 9001 }],
                health_check: ping_check.clone(),
            },
            CloudMapService {
                id: "svc-dns".into(),
                vpc: 1,
                instances: vec![Target { eni: 4, port: 5353 }],
                health_check: None,
            },
        ],
        target_groups: vec![
            tg(
                "tg-orders",
                tcp,
                8080,
                vec![(3, 8080), (3, 8081)],
                tcp_check.clone(),
            ),
            tg(
                "vpclink-a-int-alb-targets",
                tcp,
                443,
                vec![(1, 443), (2, 443)],
                None,
            ),
            // The NLB listener's target group's targets and health check.
            tg(
                "vpclink-a-int-nlb-targets",
                tcp,
                80,
                vec![(3, 8080), (3, 8081)],
                tcp_check,
            ),
            tg(
                "vpclink-a-int-users-targets",
                tcp,
                9000,
                vec![(4, 9000), (3, 9001)],
                ping_check,
            ),
            tg("vpclink-b-int-dns-targets", udp, 53, vec![(4, 5353)], None),
        ],
        nlbs: vec![
            Nlb {
                id: "nlb-orders".into(),
                vpc: 1,
                nodes: vec![node(1, "10.0.1.5")],
                cross_zone: false,
                security_groups: vec![],
                listeners: vec![Listener {
                    protocol: tcp,
                    port: 80,
                    target_group: 0,
                }],
                source_ports: crate::model::NLB_SOURCE_PORTS,
                vpc_link: None,
            },
            link_nlb(
                "vpclink-a-int-alb",
                1,
                a_nodes.clone(),
                vec![1],
                tcp,
                443,
                1,
            ),
            link_nlb("vpclink-a-int-nlb", 1, a_nodes.clone(), vec![1], tcp, 80, 2),
            link_nlb("vpclink-a-int-users", 1, a_nodes, vec![1], tcp, 9000, 3),
            link_nlb(
                "vpclink-b-int-dns",
                2,
                vec![node(1, "10.0.1.6")],
                vec![1, 2],
                udp,
                53,
                4,
            ),
        ],
        endpoint_services: vec![
            open_service("vpclink-rest-service", 0),
            open_service("vpclink-a-int-alb-service", 1),
            open_service("vpclink-a-int-nlb-service", 2),
            open_service("vpclink-a-int-users-service", 3),
            open_service("vpclink-b-int-dns-service", 4),
        ],
        vpc_endpoints: vec![
            VpcEndpoint {
                id: "vpclink-rest-endpoint".into(),
                service: 0,
                vpc: 0,
                enis: vec![eni(0, "10.1.1.100")],
                security_groups: vec![0],
                principal: "apigateway.amazonaws.com".into(),
                state: EndpointState::Available,
                implied_by: Some(0),
            },
            integration_endpoint("vpclink-a-int-alb-endpoint", 1, "10.1.1.201", 1),
            integration_endpoint("vpclink-a-int-nlb-endpoint", 2, "10.1.1.202", 1),
            integration_endpoint("vpclink-a-int-users-endpoint", 3, "10.1.1.203", 1),
            integration_endpoint("vpclink-b-int-dns-endpoint", 4, "10.1.1.204", 2),
        ],
        vpc_links: vec![
            VpcLink {
                id: "vpclink-rest".into(),
                kind: VpcLinkKind::Rest {
                    nlb: 0,
                    service: 0,
                    endpoint: 0,
                },
            },
            http_link(
                "vpclink-a",
                vec![eni(1, "10.0.1.7"), eni(2, "10.0.2.4")],
                vec![1],
                vec![
                    Integration {
                        id: "int-alb".into(),
                        kind: IntegrationKind::Alb { alb: 0 },
                        address: ip("10.1.1.201"),
                        protocol: tcp,
                        port: 443,
                        target_group: 1,
                        nlb: 1,
                        service: 1,
                        endpoint: 1,
                    },
                    Integration {
                        id: "int-nlb".into(),
                        kind: IntegrationKind::Nlb { nlb: 0 },
                        address: ip("10.1.1.202"),
                        protocol: tcp,
                        port: 80,
                        target_group: 2,
                        nlb: 2,
                        service: 2,
                        endpoint: 2,
                    },
                    Integration {
                        id: "int-users".into(),
                        kind: IntegrationKind::CloudMap { service: 0 },
                        address: ip("10.1.1.203"),
                        protocol: tcp,
                        port: 9000,
                        target_group: 3,
                        nlb: 3,
                        service: 3,
                        endpoint: 3,
                    },
                ],
            ),
            http_link(
                "vpclink-b",
                vec![eni(1, "10.0.1.6")],
                vec![1, 2],
                vec![Integration {
                    id: "int-dns".into(),
                    kind: IntegrationKind::CloudMap { service: 1 },
                    address: ip("10.1.1.204"),
                    protocol: udp,
                    port: 53,
                    target_group: 4,
                    nlb: 4,
                    service: 4,
                    endpoint: 4,
                }],
            ),
            http_link("vpclink-c", vec![eni(2, "10.0.2.5")], vec![1], vec![]),
        ],
    };
    assert_eq!(t.services, expected);
    assert_eq!(t.enis.len(), 5, "link ENIs are not lab ENIs");
}

#[test]
fn http_link_base_is_valid() {
    let t = parsed(HL);
    assert_eq!(HL.lines().count(), 92);
    let VpcLinkKind::Http { enis, .. } = &t.services.vpc_links[0].kind else {
        panic!("not an HTTP link");
    };
    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    assert_eq!(
        enis.iter().map(|e| (e.subnet, e.ip)).collect::<Vec<_>>(),
        [(1, ip("10.0.1.4")), (2, ip("10.0.2.4"))]
    );
}

#[test]
fn http_link_kind_and_fields() {
    let extra = text::cat(&[
        &text::rest_link(
            "vpclink-2",
            "http",
            "nlb-web",
            "vpc-cust",
            ("subnet-c1", "10.0.1.200"),
            "sg-link",
        ),
        r#"
[[vpc_link]]
id = "vpclink-3"
kind = "rest"
nlb = "nlb-web"
vpc = "vpc-api"
subnets = [{ subnet = "subnet-api1", ip = "10.1.1.100" }]
security_groups = ["sg-api"]
addresses = ["10.1.1.100"]
service_vpc = "vpc-api"
integrations = []
"#,
        &text::http_link("vpclink-4", "HTTP", &["subnet-c1"], &["sg-link"], "vpc-api"),
        r#"
[[vpc_link]]
id = "vpclink-5"
subnets = "subnet-c1"
addresses = "10.0.1.200"
security_groups = "sg-link"
service_vpc = ["vpc-api"]
integrations = { id = "int-x" }
"#,
    ]);
    assert_eq!(diags(&with_hl(&extra)), [
            "t.toml:94:1: vpc_link[1].service_vpc: missing required field \"service_vpc\" (expected the id of the API service's [[vpc]])",
            "t.toml:97:1: vpc_link[1].nlb: field \"nlb\" is only for kind \"rest\" VPC links (an HTTP VPC link is in its subnets' VPC and names its load balancers and services in integrations)",
            "t.toml:98:1: vpc_link[1].vpc: field \"vpc\" is only for kind \"rest\" VPC links (an HTTP VPC link is in its subnets' VPC and names its load balancers and services in integrations)",
            "t.toml:99:12: vpc_link[1].subnets[0]: expected a subnet id (a string), found a table",
            "t.toml:109:1: vpc_link[2].addresses: field \"addresses\" is only for kind \"http\" VPC links",
            "t.toml:110:1: vpc_link[2].service_vpc: field \"service_vpc\" is only for kind \"http\" VPC links",
            "t.toml:111:1: vpc_link[2].integrations: field \"integrations\" is only for kind \"http\" VPC links",
            "t.toml:115:8: vpc_link[3].kind: unknown VPC link kind \"HTTP\" (expected \"rest\" or \"http\")",
            "t.toml:120:1: vpc_link[4].kind: missing required field \"kind\" (expected \"rest\" or \"http\")",
            "t.toml:122:11: vpc_link[4].subnets: expected an array of subnet ids such as [\"subnet-a1\", \"subnet-a2\"], found a string",
            "t.toml:123:13: vpc_link[4].addresses: expected an array of IPv4 addresses, one per subnet, such as [\"10.0.1.200\", \"10.0.2.200\"], found a string",
            "t.toml:124:19: vpc_link[4].security_groups: expected an array of 1 to 5 security group ids such as [\"sg-a\"], found a string",
            "t.toml:125:15: vpc_link[4].service_vpc: expected the id of the API service's [[vpc]], found an array",
            "t.toml:126:16: vpc_link[4].integrations: expected an array of integration tables such as [{ id = \"int-web\", alb = \"alb-web\", port = 80, address = \"10.1.1.201\" }], found a table",
        ]);
}

#[test]
fn http_link_subnets_addresses_and_groups() {
    let extra = text::cat(&[
        &text::vpc("vpc-x", "10.9.0.0/16"),
        &text::subnet("subnet-x1", "vpc-x", "10.9.1.0/24", "use1-az3"),
        &text::subnet("subnet-c1b", "vpc-cust", "10.0.3.0/24", "use1-az1"),
        &text::sg("sg-x", "vpc-x"),
        r#"
[[vpc_link]]
id = "vpclink-2"
kind = "http"
subnets = ["subnet-c1", "subnet-x1", "subnet-c1b", "subnet-c1", "subnet-c2", "subnet-nope", 7]
addresses = ["10.0.1.11", "10.9.1.200", "10.0.3.200", "10.0.1.201", "10.0.2.255", "10.0.9.9/32"]
security_groups = ["sg-link", "sg-x", "sg-link", "sg-api"]
service_vpc = "vpc-cust"

[[vpc_link]]
id = "vpclink-3"
kind = "http"
subnets = []
security_groups = []
service_vpc = "vpc-nope"

[[vpc_link]]
id = "vpclink-4"
kind = "http"
subnets = ["subnet-c2"]
addresses = ["10.0.2.10", "10.0.2.11"]
security_groups = ["sg-link", "sg-link", "sg-link", "sg-link", "sg-link", "sg-link"]
service_vpc = "vpc-api"
"#,
    ]);
    assert_eq!(diags(&with_hl(&extra)), [
            "t.toml:117:25: vpc_link[1].subnets[1]: subnet subnet-x1 is in vpc-x, but this VPC link's first subnet subnet-c1 (subnets[0]) is in vpc-cust (all of a VPC link's subnets must be in one VPC)",
            "t.toml:117:38: vpc_link[1].subnets[2]: subnet subnet-c1b is in use1-az1, like subnets[0] subnet-c1 (a VPC link takes one subnet per availability zone)",
            "t.toml:117:52: vpc_link[1].subnets[3]: subnet subnet-c1 is listed twice (also subnets[0])",
            "t.toml:117:78: vpc_link[1].subnets[5]: unknown subnet \"subnet-nope\" (defined: subnet-api1, subnet-c1, subnet-c2, subnet-x1, subnet-c1b)",
            "t.toml:117:93: vpc_link[1].subnets[6]: expected a subnet id (a string), found an integer",
            "t.toml:118:13: vpc_link[1].addresses: found 6 addresses for 7 subnets (the link ENIs' addresses: one per subnet, in the same order; leave addresses out to have them allocated)",
            "t.toml:118:14: vpc_link[1].addresses[0]: 10.0.1.11 is already used by eni-web1 (eni[1]) in vpc-cust",
            "t.toml:118:69: vpc_link[1].addresses[4]: 10.0.2.255 is the broadcast address of subnet subnet-c2 (10.0.2.0/24); usable addresses are 10.0.2.4 to 10.0.2.254 (AWS reserves the first four and the last)",
            "t.toml:118:83: vpc_link[1].addresses[5]: invalid IPv4 address \"10.0.9.9/32\" (expected an address without prefix, such as \"10.0.1.10\")",
            "t.toml:119:31: vpc_link[1].security_groups[1]: security group \"sg-x\" is in vpc-x, but this VPC link is in vpc-cust",
            "t.toml:119:39: vpc_link[1].security_groups[2]: security group \"sg-link\" is listed twice",
            "t.toml:119:50: vpc_link[1].security_groups[3]: security group \"sg-api\" is in vpc-api, but this VPC link is in vpc-cust",
            "t.toml:120:15: vpc_link[1].service_vpc: vpc-cust is this VPC link's customer VPC (its subnets'); the API service VPC must be another one",
            "t.toml:125:11: vpc_link[2].subnets: a VPC link needs at least one subnet (one per availability zone)",
            "t.toml:126:19: vpc_link[2].security_groups: a VPC link needs 1 to 5 security groups, found 0",
            "t.toml:127:15: vpc_link[2].service_vpc: unknown VPC \"vpc-nope\" (defined: vpc-api, vpc-cust, vpc-x)",
            "t.toml:133:13: vpc_link[3].addresses: found 2 addresses for 1 subnet (the link ENIs' addresses: one per subnet, in the same order; leave addresses out to have them allocated)",
            "t.toml:134:19: vpc_link[3].security_groups: a VPC link needs 1 to 5 security groups, found 6",
            "t.toml:134:31: vpc_link[3].security_groups[1]: security group \"sg-link\" is listed twice",
            "t.toml:134:42: vpc_link[3].security_groups[2]: security group \"sg-link\" is listed twice",
            "t.toml:134:53: vpc_link[3].security_groups[3]: security group \"sg-link\" is listed twice",
            "t.toml:134:64: vpc_link[3].security_groups[4]: security group \"sg-link\" is listed twice",
            "t.toml:134:75: vpc_link[3].security_groups[5]: security group \"sg-link\" is listed twice",
        ]);
}

#[test]
fn http_link_addresses_run_out() {
    // A /28 has 11 usable addresses (.4 to .14): 10 ENIs leave one, for
    // the first link; the second finds none.
    let mut extra = text::cat(&[
        &text::subnet("subnet-small", "vpc-cust", "10.0.9.0/28", "use1-az3"),
        &text::http_link(
            "vpclink-2",
            "http",
            &["subnet-small"],
            &["sg-link"],
            "vpc-api",
        ),
        &text::http_link(
            "vpclink-3",
            "http",
            &["subnet-c1", "subnet-small"],
            &["sg-link"],
            "vpc-api",
        ),
    ]);
    for i in 0..10 {
        let ip = if i < 5 { 4 + i } else { 10 + (i - 5) };
        extra += &text::eni(
            &format!("eni-s{i}"),
            "subnet-small",
            &format!("10.0.9.{ip}"),
            "sg-cust",
            &format!("s{i}"),
        );
    }
    assert_eq!(diags(&with_hl(&extra)), [
            "t.toml:110:25: vpc_link[2].subnets[1]: no free address left in subnet subnet-small (10.0.9.0/28) for this VPC link's ENI (every usable address is taken)",
        ]);
    // Without vpclink-3, vpclink-2 takes the one free address, .9.
    let t = parsed(&with_hl(
        &extra.replace("\"subnet-c1\", \"subnet-small\"", "\"subnet-c1\""),
    ));
    let VpcLinkKind::Http { enis, .. } = &t.services.vpc_links[1].kind else {
        panic!("not an HTTP link");
    };
    assert_eq!(enis[0].ip, "10.0.9.9".parse::<Ipv4Addr>().unwrap());
}

#[test]
fn integrations() {
    let extra = r#"
[[vpc_link]]
id = "vpclink-2"
kind = "http"
subnets = ["subnet-c2"]
addresses = ["10.0.2.200"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
integrations = [
  { id = "int-a", port = 80, address = "10.1.1.210" },
  { id = "int-b", alb = "alb-web", nlb = "nlb-web", cloud_map = "svc-web", port = 80, address = "10.1.1.211" },
  { id = "int-c", alb = "alb-web" },
  { id = "int-d", alb = "alb-web", port = "80", address = "10.1.1.300", protocol = "http", path = "/" },
  { id = "int-alb", alb = "alb-web", port = 80, address = "10.1.1.212" },
  "int-e",
  { alb = "alb-web", port = 80, address = "10.1.1.213" },
]
"#;
    assert_eq!(diags(&with_hl(extra)), [
            "t.toml:102:3: vpc_link[1].integrations[0]: an integration needs one of alb, nlb or cloud_map (what it reaches)",
            "t.toml:103:36: vpc_link[1].integrations[1].nlb: an integration targets exactly one of alb, nlb or cloud_map (alb is given too)",
            "t.toml:103:53: vpc_link[1].integrations[1].cloud_map: an integration targets exactly one of alb, nlb or cloud_map (alb is given too)",
            "t.toml:104:3: vpc_link[1].integrations[2].port: missing required field \"port\" (expected a port number such as 80)",
            "t.toml:104:3: vpc_link[1].integrations[2].address: missing required field \"address\" (expected an IPv4 address such as \"10.0.1.10\")",
            "t.toml:105:43: vpc_link[1].integrations[3].port: expected a port number such as 80, found a string",
            "t.toml:105:59: vpc_link[1].integrations[3].address: invalid IPv4 address \"10.1.1.300\" (expected an address without prefix, such as \"10.0.1.10\")",
            "t.toml:105:84: vpc_link[1].integrations[3].protocol: unknown protocol \"http\" (expected \"tcp\" or \"udp\")",
            "t.toml:105:92: vpc_link[1].integrations[3].path: unknown field \"path\" (allowed: id, alb, nlb, cloud_map, port, address, protocol)",
            "t.toml:106:10: vpc_link[1].integrations[4].id: duplicate id \"int-alb\": already used by vpc_link[0].integrations[0] at line 89 (ids are shared by all resource kinds)",
            "t.toml:107:3: vpc_link[1].integrations[5]: expected an integration table, found a string",
            "t.toml:108:3: vpc_link[1].integrations[6].id: missing required field \"id\" (expected a string id such as \"vpc-a\")",
        ]);
}

#[test]
fn integration_targets_and_addresses() {
    let extra = text::cat(&[
        &text::vpc("vpc-x", "10.9.0.0/16"),
        &text::subnet("subnet-x1", "vpc-x", "10.9.1.0/24", "use1-az1"),
        &text::sg("sg-x", "vpc-x"),
        &text::eni("eni-x", "subnet-x1", "10.9.1.10", "sg-x", "x"),
        r#"
[[alb]]
id = "alb-x"
nodes = ["eni-x"]
listener_ports = [80]

[[cloud_map_service]]
id = "svc-x"
vpc = "vpc-x"
instances = ["eni-x:80"]
"#,
        &text::target_group("tg-x", "vpc-x", "tcp", 80, &["eni-x"]),
        &text::nlb("nlb-x", ("subnet-x1", "10.9.1.50"), ("tcp", 80, "tg-x")),
        r#"
[[vpc_link]]
id = "vpclink-2"
kind = "http"
subnets = ["subnet-c1"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
integrations = [
  { id = "int-1", alb = "alb-web", port = 8080, address = "10.1.1.210" },
  { id = "int-2", alb = "alb-web", port = 80, address = "10.1.1.211", protocol = "udp" },
  { id = "int-3", alb = "alb-x", port = 80, address = "10.1.1.212" },
  { id = "int-4", nlb = "nlb-web", port = 81, address = "10.1.1.213" },
  { id = "int-5", nlb = "nlb-web", port = 80, address = "10.1.1.214", protocol = "udp" },
  { id = "int-6", nlb = "nlb-x", port = 80, address = "10.1.1.215" },
  { id = "int-7", cloud_map = "svc-x", port = 80, address = "10.1.1.216" },
  { id = "int-8", cloud_map = "svc-nope", port = 80, address = "10.1.1.217" },
  { id = "int-9", alb = "nlb-web", port = 80, address = "10.1.1.218" },
  { id = "int-10", nlb = "vpclink-http-int-alb", port = 80, address = "10.1.1.219" },
  { id = "int-11", cloud_map = "svc-web", port = 9000, address = "10.1.2.1" },
  { id = "int-12", cloud_map = "svc-web", port = 9000, address = "10.1.1.255" },
  { id = "int-13", cloud_map = "svc-web", port = 9000, address = "10.1.1.201" },
  { id = "int-14", cloud_map = "svc-web", port = 9000, address = "10.1.1.20" },
  { id = "int-15", cloud_map = "svc-web", port = 9000, address = "10.1.1.215" },
]
"#,
    ]);
    assert_eq!(diags(&with_hl(&extra)), [
            "t.toml:144:43: vpc_link[1].integrations[0].port: port 8080 is not a listener port of ALB alb-web (listener_ports: [80])",
            "t.toml:145:82: vpc_link[1].integrations[1].protocol: an ALB integration's protocol is \"tcp\" (an ALB serves HTTP)",
            "t.toml:146:25: vpc_link[1].integrations[2].alb: ALB alb-x is in vpc-x, but this VPC link is in vpc-cust (an integration reaches into the link's VPC)",
            "t.toml:147:43: vpc_link[1].integrations[3].port: NLB nlb-web has no tcp listener on port 81 (listeners: tcp 80)",
            "t.toml:148:43: vpc_link[1].integrations[4].port: NLB nlb-web has no udp listener on port 80 (listeners: tcp 80)",
            "t.toml:149:25: vpc_link[1].integrations[5].nlb: NLB nlb-x is in vpc-x, but this VPC link is in vpc-cust (an integration reaches into the link's VPC)",
            "t.toml:150:31: vpc_link[1].integrations[6].cloud_map: Cloud Map service svc-x is in vpc-x, but this VPC link is in vpc-cust (an integration reaches into the link's VPC)",
            "t.toml:151:31: vpc_link[1].integrations[7].cloud_map: unknown Cloud Map service \"svc-nope\" (defined: svc-web, svc-x)",
            "t.toml:152:25: vpc_link[1].integrations[8].alb: \"nlb-web\" is an NLB (nlb[0]), not an ALB",
            "t.toml:153:26: vpc_link[1].integrations[9].nlb: unknown NLB \"vpclink-http-int-alb\" (defined: nlb-web, nlb-x)",
            "t.toml:154:66: vpc_link[1].integrations[10].address: 10.1.2.1 is not in a subnet of vpc-api (an integration's address is in a subnet of the link's service_vpc)",
            "t.toml:155:66: vpc_link[1].integrations[11].address: 10.1.1.255 is the broadcast address of subnet subnet-api1 (10.1.1.0/24); usable addresses are 10.1.1.4 to 10.1.1.254 (AWS reserves the first four and the last)",
            "t.toml:156:66: vpc_link[1].integrations[12].address: 10.1.1.201 is already used by int-alb (vpc_link[0].integrations[0]) in vpc-api",
            "t.toml:157:66: vpc_link[1].integrations[13].address: 10.1.1.20 is already used by eni-apigw (eni[0]) in vpc-api",
            "t.toml:158:66: vpc_link[1].integrations[14].address: 10.1.1.215 is already used by int-6 (vpc_link[1].integrations[5]) in vpc-api",
        ]);
}

#[test]
fn http_link_implied_ids() {
    let extra = text::cat(&[
        &text::target_group(
            "vpclink-http-int-alb-targets",
            "vpc-cust",
            "tcp",
            80,
            &["eni-web1"],
        ),
        r#"
[[endpoint_service]]
id = "vpclink-http-int-map-service"
nlb = "nlb-web"

[[vpc_link]]
id = "vpclink-http-int"
kind = "http"
subnets = ["subnet-c1"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
integrations = [
  { id = "nlb", nlb = "nlb-web", port = 80, address = "10.1.1.210" },
  { id = "vpclink-http", alb = "alb-web", port = 80, address = "10.1.1.211" },
  { id = "int-nlb", alb = "alb-web", port = 80, address = "10.1.1.212" },
]
"#,
        &text::rest_link(
            "vpclink-http-int-alb",
            "rest",
            "nlb-web",
            "vpc-api",
            ("subnet-api1", "10.1.1.100"),
            "sg-api",
        ),
    ]);
    assert_eq!(diags(&with_hl(&extra)), [
            "t.toml:83:6: vpc_link[0].id: this HTTP VPC link implies the target group \"vpclink-http-int-alb-targets\" (for integration int-alb), but that id is already used by target_group[1] at line 95",
            "t.toml:83:6: vpc_link[0].id: this HTTP VPC link implies the NLB \"vpclink-http-int-alb\" (for integration int-alb), but that id is already used by vpc_link[2] at line 118",
            "t.toml:83:6: vpc_link[0].id: this HTTP VPC link implies the endpoint service \"vpclink-http-int-map-service\" (for integration int-map), but that id is already used by endpoint_service[0] at line 102",
            "t.toml:106:6: vpc_link[1].id: this HTTP VPC link implies the target group \"vpclink-http-int-nlb-targets\" (for integration nlb), but vpc_link[0] at line 83 implies that id too",
            "t.toml:106:6: vpc_link[1].id: this HTTP VPC link implies the NLB \"vpclink-http-int-nlb\" (for integration nlb), but vpc_link[0] at line 83 implies that id too",
            "t.toml:106:6: vpc_link[1].id: this HTTP VPC link implies the endpoint service \"vpclink-http-int-nlb-service\" (for integration nlb), but vpc_link[0] at line 83 implies that id too",
            "t.toml:106:6: vpc_link[1].id: this HTTP VPC link implies the VPC endpoint \"vpclink-http-int-nlb-endpoint\" (for integration nlb), but vpc_link[0] at line 83 implies that id too",
            "t.toml:113:10: vpc_link[1].integrations[1].id: duplicate id \"vpclink-http\": already used by vpc_link[0] at line 83 (ids are shared by all resource kinds)",
            "t.toml:114:10: vpc_link[1].integrations[2].id: duplicate id \"int-nlb\": already used by vpc_link[0].integrations[1] at line 90 (ids are shared by all resource kinds)",
            "t.toml:118:6: vpc_link[2].id: this REST VPC link implies the endpoint service \"vpclink-http-int-alb-service\", but vpc_link[0] at line 83 implies that id too",
            "t.toml:118:6: vpc_link[2].id: this REST VPC link implies the VPC endpoint \"vpclink-http-int-alb-endpoint\", but vpc_link[0] at line 83 implies that id too",
            "t.toml:120:7: vpc_link[2].nlb: nlb-web already fronts endpoint service vpclink-http-int-map-service (endpoint_service[0]); an NLB fronts at most one endpoint service",
        ]);
}
