//! Tests of the Hyperplane resources: NLBs, target groups, health checks,
//! endpoint services, endpoints, ALBs and Cloud Map services.

use std::net::Ipv4Addr;

use crate::config::parse_str;
use crate::config::test_support::{self as text, diags, parsed, with_hl, with_pl, PL};
use crate::model::{
    EndpointEni, EndpointService, EndpointState, HealthCheck, HealthProtocol, L4Protocol, Listener,
    Nlb, NlbNode, Peer, Services, Target, TargetGroup, VpcEndpoint, VpcLink, VpcLinkKind,
};

#[test]
fn privatelink_config_gives_the_exact_services() {
    let src = text::cat(&[
        &text::vpc("vpc-c", "10.0.0.0/16"),
        r#"
[[vpc]]
id = "vpc-p"
cidr = "10.0.0.0/16"   # overlaps vpc-c: fine, PrivateLink does not route
"#,
        &text::vpc("vpc-api", "10.2.0.0/16"),
        &text::subnet("subnet-c1", "vpc-c", "10.0.1.0/24", "use1-az1"),
        &text::subnet("subnet-c2", "vpc-c", "10.0.2.0/24", "use1-az2"),
        &text::subnet("subnet-p1", "vpc-p", "10.0.1.0/24", "use1-az1"),
        &text::subnet("subnet-p2", "vpc-p", "10.0.2.0/24", "use1-az2"),
        &text::subnet("subnet-api1", "vpc-api", "10.2.1.0/24", "use1-az1"),
        &text::sg("sg-c", "vpc-c"),
        &text::sg("sg-vpce", "vpc-c"),
        &text::sg("sg-nlb", "vpc-p"),
        r#"
[[security_group]]
id = "sg-web"
vpc = "vpc-p"
ingress = [{ protocol = "tcp", ports = 8080, peer = "sg-nlb" }]
"#,
        &text::sg("sg-link", "vpc-api"),
        &text::eni("eni-client", "subnet-c1", "10.0.1.10", "sg-c", "client"),
        &text::eni("eni-web1", "subnet-p1", "10.0.1.21", "sg-web", "web1"),
        &text::eni("eni-web2", "subnet-p2", "10.0.2.22", "sg-web", "web2"),
        r#"
[[target_group]]
id = "tg-web"
vpc = "vpc-p"
protocol = "tcp"
port = 8080
targets = ["eni-web1", "10.0.2.22:8081", "10.0.1.21:9090"]
health_check = { protocol = "http", path = "/health", port = 8080, interval_ms = 2000, timeout_ms = 1500, healthy_threshold = 3, unhealthy_threshold = 4 }

[[target_group]]
id = "tg-dns"
vpc = "vpc-p"
protocol = "udp"
port = 5353
targets = ["eni-web1", "eni-web2"]
health_check = { protocol = "tcp", interval_ms = 200 }

[[target_group]]
id = "tg-plain"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["eni-web2"]
health_check = { protocol = "http" }
"#,
        &text::target_group("tg-rest", "vpc-p", "tcp", 80, &["10.0.1.21:80"]),
        r#"
[[nlb]]
id = "nlb-web"
subnets = [
  { subnet = "subnet-p1", ip = "10.0.1.50" },
  { subnet = "subnet-p2", ip = "10.0.2.50" },
]
cross_zone = true
security_groups = ["sg-nlb"]
listeners = [
  { protocol = "tcp", port = 80, target_group = "tg-web" },
  { protocol = "udp", port = 53, target_group = "tg-dns" },
]

[[nlb]]
id = "nlb-open"
subnets = [{ subnet = "subnet-p2", ip = "10.0.2.102" }]   # vpce-open's address, other VPC

[[nlb.listeners]]
protocol = "tcp"
port = 80
target_group = "tg-plain"
"#,
        &text::nlb(
            "nlb-rest",
            ("subnet-p1", "10.0.1.70"),
            ("tcp", 80, "tg-rest"),
        ),
        r#"
[[endpoint_service]]
id = "vpce-svc-web"
nlb = "nlb-web"
allowed_principals = ["arn:aws:iam::111122223333:root"]

[[endpoint_service]]
id = "vpce-svc-open"
nlb = "nlb-open"
acceptance_required = false
allowed_principals = ["*"]

[[vpc_endpoint]]
id = "vpce-web"
service = "vpce-svc-web"
vpc = "vpc-c"
subnets = [
  { subnet = "subnet-c1", ip = "10.0.1.100" },
  { subnet = "subnet-c2", ip = "10.0.2.100" },
]
security_groups = ["sg-vpce"]
principal = "arn:aws:iam::111122223333:root"

[[vpc_endpoint]]
id = "vpce-web-accepted"
service = "vpce-svc-web"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.101" }]
security_groups = ["sg-vpce", "sg-c"]
principal = "arn:aws:iam::111122223333:root"
state = "available"
"#,
        &text::endpoint(
            "vpce-open",
            "vpce-svc-open",
            "vpc-c",
            ("subnet-c2", "10.0.2.102"),
            &["sg-vpce"],
            "arn:aws:iam::444455556666:root",
        ),
        &text::rest_link(
            "vpclink-rest",
            "rest",
            "nlb-rest",
            "vpc-api",
            ("subnet-api1", "10.2.1.100"),
            "sg-link",
        ),
    ]);
    let t = parse_str(&src, "pl.toml").unwrap();
    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    let node = |subnet, a: &str| NlbNode { subnet, ip: ip(a) };
    let eni = |subnet, a: &str| EndpointEni { subnet, ip: ip(a) };
    let arn = "arn:aws:iam::111122223333:root".to_string();
    let expected = Services {
        albs: Vec::new(),
        cloud_map_services: Vec::new(),
        eni_ids: Default::default(),
        target_groups: vec![
            TargetGroup {
                connection_termination: true,
                id: "tg-web".into(),
                vpc: 1,
                protocol: L4Protocol::Tcp,
                port: 8080,
                targets: vec![
                    Target { eni: 1, port: 8080 },
                    Target { eni: 2, port: 8081 },
                    Target { eni: 1, port: 9090 },
                ],
                health_check: Some(HealthCheck {
                    protocol: HealthProtocol::Http {
                        path: "/health".into(),
                    },
                    port: Some(8080),
                    interval_ms: 2000,
                    timeout_ms: 1500,
                    healthy_threshold: 3,
                    unhealthy_threshold: 4,
                }),
            },
            TargetGroup {
                connection_termination: true,
                id: "tg-dns".into(),
                vpc: 1,
                protocol: L4Protocol::Udp,
                port: 5353,
                targets: vec![Target { eni: 1, port: 5353 }, Target { eni: 2, port: 5353 }],
                health_check: Some(HealthCheck {
                    protocol: HealthProtocol::Tcp,
                    port: None,
                    interval_ms: 200,
                    // The default 500 ms, capped at the interval.
                    timeout_ms: 200,
                    healthy_threshold: 2,
                    unhealthy_threshold: 2,
                }),
            },
            TargetGroup {
                connection_termination: true,
                id: "tg-plain".into(),
                vpc: 1,
                protocol: L4Protocol::Tcp,
                port: 80,
                targets: vec![Target { eni: 2, port: 80 }],
                health_check: Some(HealthCheck {
                    protocol: HealthProtocol::Http { path: "/".into() },
                    port: None,
                    interval_ms: 1000,
                    timeout_ms: 500,
                    healthy_threshold: 2,
                    unhealthy_threshold: 2,
                }),
            },
            TargetGroup {
                connection_termination: true,
                id: "tg-rest".into(),
                vpc: 1,
                protocol: L4Protocol::Tcp,
                port: 80,
                targets: vec![Target { eni: 1, port: 80 }],
                health_check: None,
            },
        ],
        nlbs: vec![
            Nlb {
                vpc_link: None,
                source_ports: crate::model::NLB_SOURCE_PORTS,
                id: "nlb-web".into(),
                vpc: 1,
                nodes: vec![node(2, "10.0.1.50"), node(3, "10.0.2.50")],
                cross_zone: true,
                security_groups: vec![2],
                listeners: vec![
                    Listener {
                        protocol: L4Protocol::Tcp,
                        port: 80,
                        target_group: 0,
                    },
                    Listener {
                        protocol: L4Protocol::Udp,
                        port: 53,
                        target_group: 1,
                    },
                ],
            },
            Nlb {
                vpc_link: None,
                source_ports: crate::model::NLB_SOURCE_PORTS,
                id: "nlb-open".into(),
                vpc: 1,
                nodes: vec![node(3, "10.0.2.102")],
                cross_zone: false,
                security_groups: vec![],
                listeners: vec![Listener {
                    protocol: L4Protocol::Tcp,
                    port: 80,
                    target_group: 2,
                }],
            },
            Nlb {
                vpc_link: None,
                source_ports: crate::model::NLB_SOURCE_PORTS,
                id: "nlb-rest".into(),
                vpc: 1,
                nodes: vec![node(2, "10.0.1.70")],
                cross_zone: false,
                security_groups: vec![],
                listeners: vec![Listener {
                    protocol: L4Protocol::Tcp,
                    port: 80,
                    target_group: 3,
                }],
            },
        ],
        endpoint_services: vec![
            EndpointService {
                id: "vpce-svc-web".into(),
                nlb: 0,
                acceptance_required: true,
                allowed_principals: vec![arn.clone()],
            },
            EndpointService {
                id: "vpce-svc-open".into(),
                nlb: 1,
                acceptance_required: false,
                allowed_principals: vec!["*".into()],
            },
            EndpointService {
                id: "vpclink-rest-service".into(),
                nlb: 2,
                acceptance_required: false,
                allowed_principals: vec!["*".into()],
            },
        ],
        vpc_endpoints: vec![
            VpcEndpoint {
                id: "vpce-web".into(),
                service: 0,
                vpc: 0,
                enis: vec![eni(0, "10.0.1.100"), eni(1, "10.0.2.100")],
                security_groups: vec![1],
                principal: arn.clone(),
                state: EndpointState::Pending,
                implied_by: None,
            },
            VpcEndpoint {
                id: "vpce-web-accepted".into(),
                service: 0,
                vpc: 0,
                enis: vec![eni(0, "10.0.1.101")],
                security_groups: vec![1, 0],
                principal: arn.clone(),
                state: EndpointState::Available,
                implied_by: None,
            },
            VpcEndpoint {
                id: "vpce-open".into(),
                service: 1,
                vpc: 0,
                enis: vec![eni(1, "10.0.2.102")],
                security_groups: vec![1],
                principal: "arn:aws:iam::444455556666:root".into(),
                state: EndpointState::Available,
                implied_by: None,
            },
            VpcEndpoint {
                id: "vpclink-rest-endpoint".into(),
                service: 2,
                vpc: 2,
                enis: vec![eni(4, "10.2.1.100")],
                security_groups: vec![4],
                principal: "apigateway.amazonaws.com".into(),
                state: EndpointState::Available,
                implied_by: Some(0),
            },
        ],
        vpc_links: vec![VpcLink {
            id: "vpclink-rest".into(),
            kind: VpcLinkKind::Rest {
                nlb: 2,
                service: 2,
                endpoint: 3,
            },
        }],
    };
    assert_eq!(t.services, expected);
    assert_eq!(t.enis.len(), 3);
    assert_eq!(
        t.security_groups[3].ingress[0].peer,
        Peer::SecurityGroup(2),
        "a rule may name the NLB's group"
    );
}

#[test]
fn privatelink_base_is_valid() {
    let t = parsed(PL);
    assert_eq!(PL.lines().count(), 72);
    assert_eq!(t.services.vpc_endpoints[0].state, EndpointState::Pending);
}

#[test]
fn nlb_subnets() {
    let extra = text::cat(&[
        &text::vpc("vpc-x", "10.9.0.0/16"),
        &text::subnet("subnet-x1", "vpc-x", "10.9.1.0/24", "use1-az3"),
        &text::subnet("subnet-p3", "vpc-p", "10.1.3.0/24", "use1-az1"),
        r#"
[[nlb]]
id = "nlb-2"
subnets = [
  { subnet = "subnet-p1", ip = "10.1.1.51" },
  { subnet = "subnet-x1", ip = "10.9.1.51" },
  { subnet = "subnet-p3", ip = "10.1.3.51" },
  { subnet = "subnet-p1", ip = "10.1.1.52" },
  { subnet = "subnet-p2", ip = "10.1.2.3" },
  { subnet = "subnet-zz", ip = "10.1.2.4" },
]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]

[[nlb]]
id = "nlb-3"
subnets = []
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]
"#,
        &text::nlb("nlb-4", ("subnet-p2", "10.1.3.5"), ("tcp", 80, "tg-web")),
    ]);
    assert_eq!(diags(&with_pl(&extra)), [
            "t.toml:94:14: nlb[1].subnets[1].subnet: subnet subnet-x1 is in vpc-x, but this NLB's first subnet subnet-p1 (subnets[0]) is in vpc-p (all of an NLB's subnets must be in one VPC)",
            "t.toml:95:14: nlb[1].subnets[2].subnet: subnet subnet-p3 is in use1-az1, like subnets[0] subnet-p1 (an NLB takes one subnet per availability zone)",
            "t.toml:96:14: nlb[1].subnets[3].subnet: subnet subnet-p1 is listed twice (also subnets[0])",
            "t.toml:97:32: nlb[1].subnets[4].ip: 10.1.2.3 is reserved by AWS for future use of subnet subnet-p2 (10.1.2.0/24); usable addresses are 10.1.2.4 to 10.1.2.254 (AWS reserves the first four and the last)",
            "t.toml:98:14: nlb[1].subnets[5].subnet: unknown subnet \"subnet-zz\" (defined: subnet-c1, subnet-p1, subnet-p2, subnet-x1, subnet-p3)",
            "t.toml:104:11: nlb[2].subnets: an NLB needs at least one subnet (one per availability zone)",
            "t.toml:109:41: nlb[3].subnets[0].ip: 10.1.3.5 is outside subnet subnet-p2 (10.1.2.0/24)",
        ]);
}

#[test]
fn nlb_listeners_and_groups() {
    let extra = text::cat(&[
        &text::vpc("vpc-x", "10.9.0.0/16"),
        &text::sg("sg-x", "vpc-x"),
        &text::target_group("tg-udp", "vpc-p", "udp", 53, &["eni-web1"]),
        &text::target_group("tg-x", "vpc-x", "tcp", 80, &[]),
        r#"
[[nlb]]
id = "nlb-2"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.51" }]
security_groups = ["sg-p", "sg-x", "sg-p", "vpc-p"]
listeners = [
  { protocol = "tcp", port = 80, target_group = "tg-web" },
  { protocol = "udp", port = 80, target_group = "tg-udp" },
  { protocol = "tcp", port = 80, target_group = "tg-web" },
  { protocol = "tcp", port = 81, target_group = "tg-udp" },
  { protocol = "tcp", port = 82, target_group = "tg-x" },
  { protocol = "tcp", port = 83, target_group = "tg-nope" },
  { protocol = "http", port = 0, target_group = "tg-web" },
]

[[nlb]]
id = "nlb-3"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.52" }]
listeners = []
"#,
    ]);
    assert_eq!(diags(&with_pl(&extra)), [
            "t.toml:94:11: target_group[2].targets: a target group needs at least one target",
            "t.toml:99:28: nlb[1].security_groups[1]: security group \"sg-x\" is in vpc-x, but this NLB is in vpc-p",
            "t.toml:99:36: nlb[1].security_groups[2]: security group \"sg-p\" is listed twice",
            "t.toml:99:44: nlb[1].security_groups[3]: \"vpc-p\" is a VPC (vpc[1]), not a security group",
            "t.toml:103:30: nlb[1].listeners[2].port: listener tcp 80 is already defined by listeners[0] (an NLB has one listener per protocol and port)",
            "t.toml:104:49: nlb[1].listeners[3].target_group: target group tg-udp has protocol udp, but this listener's is tcp",
            "t.toml:105:49: nlb[1].listeners[4].target_group: target group tg-x is in vpc-x, but this NLB is in vpc-p",
            "t.toml:106:49: nlb[1].listeners[5].target_group: unknown target group \"tg-nope\" (defined: tg-web, tg-udp, tg-x)",
            "t.toml:107:16: nlb[1].listeners[6].protocol: unknown protocol \"http\" (expected \"tcp\" or \"udp\")",
            "t.toml:107:31: nlb[1].listeners[6].port: port 0 is out of range (expected 1 to 65535)",
            "t.toml:113:13: nlb[2].listeners: an NLB needs at least one listener",
        ]);
}

#[test]
fn addresses_are_unique_per_vpc_across_kinds() {
    let extra = text::cat(&[
        &text::subnet("subnet-c2", "vpc-c", "10.0.2.0/24", "use1-az2"),
        r#"
[[nlb]]
id = "nlb-2"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.21" }, { subnet = "subnet-p2", ip = "10.1.2.50" }]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]

[[vpc_endpoint]]
id = "vpce-2"
service = "vpce-svc-web"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.100" }, { subnet = "subnet-c2", ip = "10.0.2.100" }]
security_groups = ["sg-c"]
principal = "arn:aws:iam::111122223333:root"
"#,
        &text::rest_link(
            "vpclink-a",
            "rest",
            "nlb-2",
            "vpc-c",
            ("subnet-c2", "10.0.2.100"),
            "sg-c",
        ),
        &text::eni("eni-late", "subnet-c1", "10.0.1.100", "sg-c", "late"),
    ]);
    assert_eq!(diags(&with_pl(&extra)), [
            "t.toml:82:41: nlb[1].subnets[0].ip: 10.1.1.21 is already used by eni-web1 (eni[0]) in vpc-p",
            "t.toml:82:85: nlb[1].subnets[1].ip: 10.1.2.50 is already used by nlb-svc (nlb[0].subnets[1]) in vpc-p",
            "t.toml:89:41: vpc_endpoint[1].subnets[0].ip: 10.0.1.100 is already used by vpce-web (vpc_endpoint[0].subnets[0]) in vpc-c",
            "t.toml:98:41: vpc_link[0].subnets[0].ip: 10.0.2.100 is already used by vpce-2 (vpc_endpoint[1].subnets[1]) in vpc-c",
            "t.toml:104:6: eni[2].ip: 10.0.1.100 is already used by vpce-web (vpc_endpoint[0].subnets[0]) in vpc-c",
        ]);
}

#[test]
fn target_groups() {
    let extra = text::cat(&[
        &text::subnet("subnet-c2", "vpc-c", "10.0.2.0/24", "use1-az2"),
        &text::eni("eni-c", "subnet-c1", "10.0.1.10", "sg-c", "c"),
        &text::target_group(
            "tg-2",
            "vpc-p",
            "sctp",
            70000,
            &[
                "eni-web1",
                "10.1.1.21:8080",
                "eni-c",
                "10.1.1.99:80",
                "sg-p",
                "eni-nope",
            ],
        ),
        r#"
[[target_group]]
id = "tg-3"
vpc = "vpc-p"
protocol = "udp"
port = 53
targets = ["10.1.1.21", "10.1.1.21:0", "10.1.1.21:http", "10.1.1", "", 5, "eni-web1", "10.1.1.21:53"]
"#,
        &text::target_group("tg-4", "vpc-p", "udp", 53, &[]),
    ]);
    assert_eq!(diags(&with_pl(&extra)), [
            "t.toml:90:12: target_group[1].protocol: unknown protocol \"sctp\" (expected \"tcp\" or \"udp\")",
            "t.toml:91:8: target_group[1].port: port 70000 is out of range (expected 1 to 65535)",
            "t.toml:92:42: target_group[1].targets[2]: ENI eni-c is in vpc-c, but this target group is in vpc-p",
            "t.toml:92:51: target_group[1].targets[3]: no ENI in vpc-p has the address 10.1.1.99 (a target given as \"IP:port\" must be a lab host's ENI)",
            "t.toml:92:67: target_group[1].targets[4]: \"sg-p\" is a security group (security_group[1]), not an ENI",
            "t.toml:92:75: target_group[1].targets[5]: unknown ENI \"eni-nope\" (defined: eni-web1, eni-web2, eni-c)",
            "t.toml:99:12: target_group[2].targets[0]: target \"10.1.1.21\" has no port (expected \"IP:port\" such as \"10.1.1.21:8080\", or an ENI id)",
            "t.toml:99:25: target_group[2].targets[1]: port 0 of target \"10.1.1.21:0\" is out of range (expected 1 to 65535)",
            "t.toml:99:40: target_group[2].targets[2]: invalid port \"http\" in target \"10.1.1.21:http\" (expected 1 to 65535)",
            "t.toml:99:58: target_group[2].targets[3]: invalid target \"10.1.1\" (expected an ENI id or \"IP:port\" such as \"10.0.1.21:8080\")",
            "t.toml:99:68: target_group[2].targets[4]: invalid target \"\" (expected an ENI id or \"IP:port\" such as \"10.0.1.21:8080\")",
            "t.toml:99:72: target_group[2].targets[5]: expected an ENI id or \"IP:port\" (a string), found an integer",
            "t.toml:99:87: target_group[2].targets[7]: duplicate target: eni-web1 port 53 is already targets[6]",
            "t.toml:106:11: target_group[3].targets: a target group needs at least one target",
        ]);
}

#[test]
fn health_checks() {
    let extra = text::cat(&[
        r#"
[[target_group]]
id = "tg-2"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["eni-web1"]
health_check = { protocol = "tcp", path = "/", port = 0, interval_ms = 50, timeout_ms = 20, healthy_threshold = 0, unhealthy_threshold = 11 }

[[target_group]]
id = "tg-3"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["eni-web1"]
health_check = { protocol = "http", path = "health", interval_ms = 1000, timeout_ms = 1001, expected = "200" }

[[target_group]]
id = "tg-4"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["eni-web1"]
health_check = { protocol = "https", interval_ms = "1s" }

[[target_group]]
id = "tg-5"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["eni-web1"]
health_check = "tcp"
"#,
        &text::target_group("tg-6", "vpc-p", "tcp", 80, &["eni-web1"]),
        r#"
[target_group.health_check]
path = "/x y"
"#,
    ]);
    assert_eq!(diags(&with_pl(&extra)), [
            "t.toml:80:43: target_group[1].health_check.path: path is only for protocol \"http\" (a \"tcp\" health check is a connect)",
            "t.toml:80:55: target_group[1].health_check.port: port 0 is out of range (expected 1 to 65535)",
            "t.toml:80:72: target_group[1].health_check.interval_ms: interval_ms 50 is out of range (expected 100 to 300000)",
            "t.toml:80:89: target_group[1].health_check.timeout_ms: timeout_ms 20 is out of range (expected 50 to 300000)",
            "t.toml:80:113: target_group[1].health_check.healthy_threshold: healthy_threshold 0 is out of range (expected 1 to 10)",
            "t.toml:80:138: target_group[1].health_check.unhealthy_threshold: unhealthy_threshold 11 is out of range (expected 1 to 10)",
            "t.toml:88:44: target_group[2].health_check.path: invalid health check path \"health\" (expected an absolute path without spaces, such as \"/health\")",
            "t.toml:88:87: target_group[2].health_check.timeout_ms: timeout_ms 1001 is out of range (expected 50 to 1000, at most interval_ms)",
            "t.toml:88:93: target_group[2].health_check.expected: unknown field \"expected\" (allowed: protocol, path, port, interval_ms, timeout_ms, healthy_threshold, unhealthy_threshold)",
            "t.toml:96:29: target_group[3].health_check.protocol: unknown health check protocol \"https\" (expected \"tcp\" or \"http\")",
            "t.toml:96:52: target_group[3].health_check.interval_ms: expected an interval in milliseconds such as 1000, found a string",
            "t.toml:104:16: target_group[4].health_check: expected a health check table such as { protocol = \"tcp\" }, found a string",
            "t.toml:113:1: target_group[5].health_check.protocol: missing required field \"protocol\" (expected \"tcp\" or \"http\")",
            "t.toml:114:8: target_group[5].health_check.path: invalid health check path \"/x y\" (expected an absolute path without spaces, such as \"/health\")",
        ]);
}

#[test]
fn endpoint_services() {
    let extra = text::cat(&[
        r#"
[[endpoint_service]]
id = "vpce-svc-2"
nlb = "nlb-svc"
acceptance_required = "no"
allowed_principals = ["*", "", "*", 7]

[[endpoint_service]]
id = "vpce-svc-3"
nlb = "tg-web"
"#,
        &text::rest_link(
            "vpclink-a",
            "rest",
            "nlb-svc",
            "vpc-c",
            ("subnet-c1", "10.0.1.200"),
            "sg-c",
        ),
    ]);
    assert_eq!(diags(&with_pl(&extra)), [
            "t.toml:76:7: endpoint_service[1].nlb: nlb-svc already fronts endpoint service vpce-svc-web (endpoint_service[0]); an NLB fronts at most one endpoint service",
            "t.toml:77:23: endpoint_service[1].acceptance_required: expected true or false, found a string",
            "t.toml:78:28: endpoint_service[1].allowed_principals[1]: invalid principal \"\" (expected an ARN such as \"arn:aws:iam::111122223333:root\", a service principal or \"*\")",
            "t.toml:78:32: endpoint_service[1].allowed_principals[2]: principal \"*\" is listed twice (also endpoint_service[1].allowed_principals[0])",
            "t.toml:78:37: endpoint_service[1].allowed_principals[3]: expected a principal (a string), found an integer",
            "t.toml:82:7: endpoint_service[2].nlb: \"tg-web\" is a target group (target_group[0]), not an NLB",
            "t.toml:87:7: vpc_link[0].nlb: nlb-svc already fronts endpoint service vpce-svc-web (endpoint_service[0]); an NLB fronts at most one endpoint service",
        ]);
}

#[test]
fn vpc_endpoints() {
    let extra = text::cat(&[
        &text::subnet("subnet-c1b", "vpc-c", "10.0.3.0/24", "use1-az1"),
        &text::sg("sg-c2", "vpc-c"),
        r#"
[[vpc_endpoint]]
id = "vpce-2"
service = "vpce-svc-web"
vpc = "vpc-c"
subnets = [
  { subnet = "subnet-c1", ip = "10.0.1.101" },
  { subnet = "subnet-c1b", ip = "10.0.3.101" },
  { subnet = "subnet-p1", ip = "10.1.1.101" },
]
security_groups = ["sg-c", "sg-p", "sg-c", "sg-c2", "sg-c2", "sg-c2"]
principal = "arn:aws:iam::999999999999:root"
state = "accepted"

[[endpoint_service]]
id = "vpce-svc-closed"
nlb = "nlb-2"
"#,
        &text::nlb("nlb-2", ("subnet-p1", "10.1.1.51"), ("tcp", 80, "tg-web")),
        r#"
[[vpc_endpoint]]
id = "vpce-3"
service = "vpce-svc-closed"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.102" }]
security_groups = []
principal = "arn:aws:iam::111122223333:root"

[[vpc_endpoint]]
id = "vpce-4"
service = "nlb-2"
vpc = "vpc-nope"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.103" }]
security_groups = ["sg-c"]
principal = ""
"#,
    ]);
    assert_eq!(diags(&with_pl(&extra)), [
            "t.toml:90:14: vpc_endpoint[1].subnets[1].subnet: subnet subnet-c1b is in use1-az1, like subnets[0] subnet-c1 (a VPC endpoint takes one subnet per availability zone)",
            "t.toml:91:14: vpc_endpoint[1].subnets[2].subnet: subnet subnet-p1 is in vpc-p, but this endpoint is in vpc-c",
            "t.toml:93:19: vpc_endpoint[1].security_groups: a VPC endpoint needs 1 to 5 security groups, found 6",
            "t.toml:93:28: vpc_endpoint[1].security_groups[1]: security group \"sg-p\" is in vpc-p, but this endpoint is in vpc-c",
            "t.toml:93:36: vpc_endpoint[1].security_groups[2]: security group \"sg-c\" is listed twice",
            "t.toml:93:53: vpc_endpoint[1].security_groups[4]: security group \"sg-c2\" is listed twice",
            "t.toml:93:62: vpc_endpoint[1].security_groups[5]: security group \"sg-c2\" is listed twice",
            "t.toml:94:13: vpc_endpoint[1].principal: principal \"arn:aws:iam::999999999999:root\" is not allowed by endpoint service vpce-svc-web (allowed_principals: [\"arn:aws:iam::111122223333:root\"])",
            "t.toml:95:9: vpc_endpoint[1].state: unknown endpoint state \"accepted\" (expected \"pending\", \"available\" or \"rejected\")",
            "t.toml:111:19: vpc_endpoint[2].security_groups: a VPC endpoint needs 1 to 5 security groups, found 0",
            "t.toml:112:13: vpc_endpoint[2].principal: principal \"arn:aws:iam::111122223333:root\" is not allowed by endpoint service vpce-svc-closed (allowed_principals: [])",
            "t.toml:116:11: vpc_endpoint[3].service: \"nlb-2\" is an NLB (nlb[1]), not an endpoint service",
            "t.toml:117:7: vpc_endpoint[3].vpc: unknown VPC \"vpc-nope\" (defined: vpc-c, vpc-p)",
            "t.toml:120:13: vpc_endpoint[3].principal: invalid principal \"\" (expected an ARN such as \"arn:aws:iam::111122223333:root\", a service principal or \"*\")",
        ]);
}

#[test]
fn privatelink_structure() {
    let extra = r#"
[[nlb]]
id = "nlb-2"
subnet = "subnet-p1"
cross_zone = "yes"
listeners = { protocol = "tcp" }

[[vpc_endpoint]]
id = "vpce-2"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1" }, "subnet-c1"]
principal = 5
polcy = "{}"

[[vpc_link]]
nlb = ["nlb-svc"]

[[target_group]]
id = "tg-2"
vpc = "vpc-p"
protocol = 6
targets = "eni-web1"
"#;
    assert_eq!(diags(&with_pl(extra)), [
            "t.toml:74:1: nlb[1].subnets: missing required field \"subnets\" (expected an array of tables such as [{ subnet = \"subnet-a1\", ip = \"10.0.1.50\" }])",
            "t.toml:76:1: nlb[1].subnet: unknown field \"subnet\" (allowed: id, subnets, cross_zone, security_groups, listeners, source_ports; did you mean \"subnets\"?)",
            "t.toml:77:14: nlb[1].cross_zone: expected true or false, found a string",
            "t.toml:78:13: nlb[1].listeners: expected an array of listener tables such as [{ protocol = \"tcp\", port = 80, target_group = \"tg-web\" }], found a table",
            "t.toml:80:1: vpc_endpoint[1].service: missing required field \"service\" (expected the id of an [[endpoint_service]])",
            "t.toml:80:1: vpc_endpoint[1].security_groups: missing required field \"security_groups\" (expected an array of 1 to 5 security group ids such as [\"sg-a\"])",
            "t.toml:83:12: vpc_endpoint[1].subnets[0].ip: missing required field \"ip\" (expected an IPv4 address such as \"10.0.1.10\")",
            "t.toml:83:38: vpc_endpoint[1].subnets[1]: expected a { subnet, ip } table, found a string",
            "t.toml:84:13: vpc_endpoint[1].principal: expected a principal such as \"arn:aws:iam::111122223333:root\", found an integer",
            "t.toml:85:1: vpc_endpoint[1].polcy: unknown field \"polcy\" (allowed: id, service, vpc, subnets, security_groups, principal, state)",
            "t.toml:87:1: vpc_link[0].id: missing required field \"id\" (expected a string id such as \"vpc-a\")",
            "t.toml:87:1: vpc_link[0].kind: missing required field \"kind\" (expected \"rest\" or \"http\")",
            "t.toml:87:1: vpc_link[0].vpc: missing required field \"vpc\" (expected the id of a [[vpc]])",
            "t.toml:87:1: vpc_link[0].subnets: missing required field \"subnets\" (expected an array of tables such as [{ subnet = \"subnet-a1\", ip = \"10.0.1.50\" }])",
            "t.toml:87:1: vpc_link[0].security_groups: missing required field \"security_groups\" (expected an array of 1 to 5 security group ids such as [\"sg-a\"])",
            "t.toml:88:7: vpc_link[0].nlb: expected the id of an [[nlb]], found an array",
            "t.toml:90:1: target_group[1].port: missing required field \"port\" (expected a port number such as 80)",
            "t.toml:93:12: target_group[1].protocol: expected \"tcp\" or \"udp\", found an integer",
            "t.toml:94:11: target_group[1].targets: expected an array of ENI ids or \"IP:port\" strings such as [\"eni-web\", \"10.0.1.21:8080\"], found a string",
        ]);
    assert_eq!(
            diags("[nlb]\nid = \"nlb-a\"\n\n[[vpc_link]]\nid = \"vpclink-a\"\nkind = 1\n"),
            [
                "t.toml:1:1: nlb: expected an array of tables ([[nlb]]), found a table",
                "t.toml:4:1: vpc_link[0].nlb: missing required field \"nlb\" (expected the id of an [[nlb]])",
                "t.toml:4:1: vpc_link[0].vpc: missing required field \"vpc\" (expected the id of a [[vpc]])",
                "t.toml:4:1: vpc_link[0].subnets: missing required field \"subnets\" (expected an array of tables such as [{ subnet = \"subnet-a1\", ip = \"10.0.1.50\" }])",
                "t.toml:4:1: vpc_link[0].security_groups: missing required field \"security_groups\" (expected an array of 1 to 5 security group ids such as [\"sg-a\"])",
                "t.toml:6:8: vpc_link[0].kind: expected \"rest\" or \"http\", found an integer",
            ]
        );
}

#[test]
fn privatelink_errors_are_all_reported() {
    let extra = text::cat(&[
        &text::target_group(
            "tg-udp",
            "vpc-p",
            "udp",
            53,
            &["10.1.1.21:5353", "eni-web1"],
        ),
        &text::nlb("nlb-2", ("subnet-p1", "10.1.1.50"), ("tcp", 53, "tg-udp")),
        &text::endpoint(
            "vpce-2",
            "vpce-svc-web",
            "vpc-c",
            ("subnet-c1", "10.0.1.255"),
            &["sg-c"],
            "arn:aws:iam::999999999999:root",
        ),
        &text::rest_link(
            "vpclink-a",
            "rest",
            "nlb-svc",
            "vpc-c",
            ("subnet-c1", "10.0.1.100"),
            "sg-c",
        ),
        &text::eni("eni-x", "subnet-c1", "10.0.1.10", "sg-nope", "x"),
    ]);
    assert_eq!(diags(&with_pl(&extra)), [
            "t.toml:83:41: nlb[1].subnets[0].ip: 10.1.1.50 is already used by nlb-svc (nlb[0].subnets[0]) in vpc-p",
            "t.toml:84:60: nlb[1].listeners[0].target_group: target group tg-udp has protocol udp, but this listener's is tcp",
            "t.toml:90:41: vpc_endpoint[1].subnets[0].ip: 10.0.1.255 is the broadcast address of subnet subnet-c1 (10.0.1.0/24); usable addresses are 10.0.1.4 to 10.0.1.254 (AWS reserves the first four and the last)",
            "t.toml:92:13: vpc_endpoint[1].principal: principal \"arn:aws:iam::999999999999:root\" is not allowed by endpoint service vpce-svc-web (allowed_principals: [\"arn:aws:iam::111122223333:root\"])",
            "t.toml:97:7: vpc_link[0].nlb: nlb-svc already fronts endpoint service vpce-svc-web (endpoint_service[0]); an NLB fronts at most one endpoint service",
            "t.toml:99:41: vpc_link[0].subnets[0].ip: 10.0.1.100 is already used by vpce-web (vpc_endpoint[0].subnets[0]) in vpc-c",
            "t.toml:106:20: eni[2].security_groups[0]: unknown security group \"sg-nope\" (defined: sg-c, sg-p)",
        ]);
}

#[test]
fn albs() {
    let extra = text::cat(&[
        &text::vpc("vpc-x", "10.9.0.0/16"),
        &text::subnet("subnet-x1", "vpc-x", "10.9.1.0/24", "use1-az1"),
        &text::eni("eni-x", "subnet-x1", "10.9.1.10", "sg-x", "x"),
        &text::sg("sg-x", "vpc-x"),
        r#"
[[alb]]
id = "alb-2"
nodes = ["eni-web1", "eni-x", "eni-web1", "sg-x", "eni-nope", 3]
listener_ports = [80, 443, 80, 0, "8080"]

[[alb]]
id = "alb-3"
nodes = []
listener_ports = []

[[alb]]
id = "alb-4"
node = "eni-web1"
listener_ports = 80
"#,
    ]);
    assert_eq!(diags(&with_hl(&extra)), [
            "t.toml:117:22: alb[1].nodes[1]: ENI eni-x is in vpc-x, but this ALB's first node eni-web1 (nodes[0]) is in vpc-cust (all of an ALB's nodes must be in one VPC)",
            "t.toml:117:31: alb[1].nodes[2]: ENI eni-web1 is listed twice (also nodes[0])",
            "t.toml:117:43: alb[1].nodes[3]: \"sg-x\" is a security group (security_group[3]), not an ENI",
            "t.toml:117:51: alb[1].nodes[4]: unknown ENI \"eni-nope\" (defined: eni-apigw, eni-web1, eni-web2, eni-x)",
            "t.toml:117:63: alb[1].nodes[5]: expected an ENI id (a string), found an integer",
            "t.toml:118:28: alb[1].listener_ports[2]: port 80 is listed twice (also listener_ports[0])",
            "t.toml:118:32: alb[1].listener_ports[3]: port 0 is out of range (expected 1 to 65535)",
            "t.toml:118:35: alb[1].listener_ports[4]: expected a port number such as 80, found a string",
            "t.toml:122:9: alb[2].nodes: an ALB needs at least one node",
            "t.toml:123:18: alb[2].listener_ports: an ALB needs at least one listener port",
            "t.toml:125:1: alb[3].nodes: missing required field \"nodes\" (expected an array of ENI ids such as [\"eni-alb1\", \"eni-alb2\"])",
            "t.toml:127:1: alb[3].node: unknown field \"node\" (allowed: id, nodes, listener_ports; did you mean \"nodes\"?)",
            "t.toml:128:18: alb[3].listener_ports: expected an array of ports such as [80, 443], found an integer",
        ]);
}

#[test]
fn cloud_map_services() {
    let extra = text::cat(&[
        &text::eni("eni-api2", "subnet-api1", "10.1.1.21", "sg-api", "api2"),
        r#"
[[cloud_map_service]]
id = "svc-2"
vpc = "vpc-cust"
instances = ["eni-web1:8080", "eni-web1", "10.0.1.11", "eni-web1:0", "eni-web1:http", "10.0.1.11:70000", "10.0.1", "", 5, "eni-api2:80", "10.0.1.99:80", "eni-nope:80", "10.0.1.11:8080", "eni-web1:8081"]
health_check = { protocol = "http", path = "ping" }

[[cloud_map_service]]
id = "svc-3"
vpc = "vpc-nope"
instances = []

[[cloud_map_service]]
id = "svc-4"
instances = "eni-web1:80"
"#,
    ]);
    assert_eq!(diags(&with_hl(&extra)), [
            "t.toml:104:31: cloud_map_service[1].instances[1]: instance \"eni-web1\" has no port (expected \"ENI-id:port\" or \"IP:port\" such as \"eni-web1:8080\")",
            "t.toml:104:43: cloud_map_service[1].instances[2]: instance \"10.0.1.11\" has no port (expected \"ENI-id:port\" or \"IP:port\" such as \"10.0.1.11:8080\")",
            "t.toml:104:56: cloud_map_service[1].instances[3]: invalid port \"0\" in instance \"eni-web1:0\" (expected 1 to 65535)",
            "t.toml:104:70: cloud_map_service[1].instances[4]: invalid port \"http\" in instance \"eni-web1:http\" (expected 1 to 65535)",
            "t.toml:104:87: cloud_map_service[1].instances[5]: invalid port \"70000\" in instance \"10.0.1.11:70000\" (expected 1 to 65535)",
            "t.toml:104:106: cloud_map_service[1].instances[6]: invalid instance \"10.0.1\" (expected \"ENI-id:port\" or \"IP:port\" such as \"eni-web:8080\" or \"10.0.1.21:8080\")",
            "t.toml:104:116: cloud_map_service[1].instances[7]: invalid instance \"\" (expected \"ENI-id:port\" or \"IP:port\" such as \"eni-web:8080\" or \"10.0.1.21:8080\")",
            "t.toml:104:120: cloud_map_service[1].instances[8]: expected \"ENI-id:port\" or \"IP:port\" (a string), found an integer",
            "t.toml:104:123: cloud_map_service[1].instances[9]: ENI eni-api2 is in vpc-api, but this Cloud Map service is in vpc-cust",
            "t.toml:104:138: cloud_map_service[1].instances[10]: no ENI in vpc-cust has the address 10.0.1.99 (an instance given as \"IP:port\" must be a lab host's ENI)",
            "t.toml:104:154: cloud_map_service[1].instances[11]: unknown ENI \"eni-nope\" (defined: eni-apigw, eni-web1, eni-web2, eni-api2)",
            "t.toml:104:169: cloud_map_service[1].instances[12]: duplicate instance: eni-web1 port 8080 is already instances[0]",
            "t.toml:105:44: cloud_map_service[1].health_check.path: invalid health check path \"ping\" (expected an absolute path without spaces, such as \"/health\")",
            "t.toml:109:7: cloud_map_service[2].vpc: unknown VPC \"vpc-nope\" (defined: vpc-api, vpc-cust)",
            "t.toml:110:13: cloud_map_service[2].instances: a Cloud Map service needs at least one instance",
            "t.toml:112:1: cloud_map_service[3].vpc: missing required field \"vpc\" (expected the id of a [[vpc]])",
            "t.toml:114:13: cloud_map_service[3].instances: expected an array of \"ENI-id:port\" or \"IP:port\" strings such as [\"eni-web:8080\", \"10.0.1.21:8080\"], found a string",
        ]);
}
