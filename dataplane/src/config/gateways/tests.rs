//! Tests of `[[internet_gateway]]`, `[internet]` and `public_ip`: the
//! topology a valid file gives, and every diagnostic in its exact text.

use std::net::Ipv4Addr;

use crate::config::test_support::{
    diags, internet_gateway, net, parsed, route_table, vpc_b_with_sg, with_base,
};
use crate::model::{Internet, InternetGateway, InternetHost, PublicIp, Route, RouteTarget};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// igw-a in vpc-a, two internet hosts, a main table routing to igw-a and
/// eni-web with a public IP: BASE's lines 21 on.
fn igw() -> String {
    let hosts = r#"
[internet]
hosts = [
  { name = "example", ip = "203.0.113.10" },
  { name = "mirror", ip = "198.51.100.7" },
]
"#;
    let eni_web = r#"
[[eni]]
id = "eni-web"
subnet = "subnet-a1"
ip = "10.0.1.20"
public_ip = "203.0.113.20"
security_groups = ["sg-a"]
host = "web"
"#;
    let public = route_table(
        "rtb-public",
        "vpc-a",
        "main = true\n",
        &[("0.0.0.0/0", "igw-a")],
    );
    internet_gateway("igw-a", "vpc-a") + hosts + &public + eni_web
}

#[test]
fn gateways_hosts_public_ips_and_gateway_routes() {
    let t = parsed(&with_base(&igw()));
    assert_eq!(
        t.internet,
        Internet {
            gateways: vec![InternetGateway {
                id: "igw-a".into(),
                vpc: 0
            }],
            hosts: vec![
                InternetHost {
                    name: "example".into(),
                    ip: ip("203.0.113.10"),
                    mac: [0x06, 0, 203, 0, 113, 10],
                },
                InternetHost {
                    name: "mirror".into(),
                    ip: ip("198.51.100.7"),
                    mac: [0x06, 0, 198, 51, 100, 7],
                },
            ],
            public_ips: vec![PublicIp {
                eni: 1,
                ip: ip("203.0.113.20")
            }],
            nat_gateways: vec![],
        }
    );
    assert_eq!(
        t.route_tables[0].routes,
        vec![Route {
            destination: net("0.0.0.0/0"),
            target: RouteTarget::InternetGateway(0),
        }]
    );
    assert_eq!(t.port_count(), 4);
    assert_eq!(t.internet.hosts[1].gateway(), ip("198.51.100.1"));
}

#[test]
fn internet_addresses_are_documentation_addresses_held_once() {
    assert_eq!(
        diags(&with_base(
            &(internet_gateway("igw-a", "vpc-a")
                + r#"
[internet]
hosts = [
  { name = "real", ip = "8.8.8.8" },
  { name = "gw", ip = "203.0.113.1" },
  { name = "bcast", ip = "198.51.100.255" },
  { name = "one", ip = "203.0.113.10" },
  { name = "two", ip = "203.0.113.10" },
  { name = "a", ip = "203.0.113.11" },
  { name = "fabric", ip = "203.0.113.12" },
  { name = "one", ip = "203.0.113.13" },
  { name = "x", ip = "203.0.113.14", port = 80 },
]

[[eni]]
id = "eni-web"
subnet = "subnet-a1"
ip = "10.0.1.20"
public_ip = "203.0.113.11"
security_groups = ["sg-a"]
host = "web"
"#)
        )),
        vec![
            "t.toml:28:25: internet.hosts[0].ip: 8.8.8.8 is not a documentation address: the \
             lab's internet uses only 198.51.100.0/24 and 203.0.113.0/24 (never a real public \
             address)",
            "t.toml:29:23: internet.hosts[1].ip: 203.0.113.1 is 203.0.113.0/24's gateway (the \
             fabric answers for it)",
            "t.toml:30:26: internet.hosts[2].ip: 198.51.100.255 is the network or broadcast \
             address of 198.51.100.0/24",
            "t.toml:32:24: internet.hosts[4].ip: 203.0.113.10 is already the address of \
             internet.hosts[3] (line 31)",
            "t.toml:33:12: internet.hosts[5].name: host name \"a\" is already an ENI's host; an \
             internet host is a namespace of its own",
            "t.toml:34:12: internet.hosts[6].name: host name \"fabric\" is reserved for the \
             lab's fabric namespace",
            "t.toml:35:12: internet.hosts[7].name: host name \"one\" is already used at line 31",
            "t.toml:36:38: internet.hosts[8].port: unknown field \"port\" (allowed: name, ip)",
            "t.toml:43:13: eni[1].public_ip: 203.0.113.11 is already the address of \
             internet.hosts[5] (line 33)",
        ]
    );
}

#[test]
fn one_gateway_per_vpc_public_ips_need_one_and_routes_use_their_own() {
    assert_eq!(
        diags(&with_base(&format!(
            r#"{}{}{}{}{}{}
[[eni]]
id = "eni-b"
subnet = "subnet-b1"
ip = "10.1.1.20"
public_ip = "203.0.113.30"
security_groups = ["sg-b"]
host = "b"
"#,
            vpc_b_with_sg(),
            internet_gateway("igw-a", "vpc-a"),
            internet_gateway("igw-a2", "vpc-a"),
            internet_gateway("igw-x", "vpc-x"),
            route_table(
                "rtb-b",
                "vpc-b",
                "subnets = [\"subnet-b1\"]\n",
                &[("0.0.0.0/0", "igw-a"), ("10.0.0.0/8", "igw-nope")]
            ),
            route_table(
                "rtb-a",
                "vpc-a",
                "",
                &[
                    ("10.0.5.0/24", "igw-a"),
                    ("10.0.0.0/16", "igw-a"),
                    ("10.0.0.0/8", "igw-a")
                ]
            ),
        ))),
        vec![
            "t.toml:42:7: internet_gateway[1].vpc: vpc-a already has internet gateway igw-a \
             attached (line 38); a VPC has one internet gateway at most",
            "t.toml:46:7: internet_gateway[2].vpc: unknown VPC \"vpc-x\" (defined: vpc-a, vpc-b)",
            "t.toml:53:41: route_table[0].routes[0].target: internet gateway \"igw-a\" is \
             attached to vpc-a, not vpc-b: a route table routes only to its own VPC's internet \
             gateway",
            "t.toml:54:42: route_table[0].routes[1].target: unknown internet gateway \
             \"igw-nope\" (defined: igw-a, igw-a2, igw-x)",
            "t.toml:61:19: route_table[1].routes[0].destination: 10.0.5.0/24 is inside vpc-a's \
             CIDR 10.0.0.0/16: an internet gateway route goes outside the VPC (the local route \
             covers its own addresses)",
            "t.toml:62:19: route_table[1].routes[1].destination: 10.0.0.0/16 is inside vpc-a's \
             CIDR 10.0.0.0/16: an internet gateway route goes outside the VPC (the local route \
             covers its own addresses)",
            "t.toml:70:13: eni[1].public_ip: vpc-b has no internet gateway attached: a public IP \
             works only in a VPC with one (add an [[internet_gateway]] with vpc = \"vpc-b\")",
        ]
    );
}
