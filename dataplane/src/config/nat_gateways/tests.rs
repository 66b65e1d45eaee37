//! Tests of `[[nat_gateway]]` and routes to it: the topology a valid file
//! gives, and every diagnostic in its exact text.

use std::net::Ipv4Addr;

use crate::config::test_support::{
    diags, internet_gateway, net, parsed, route_table, subnet, vpc_b, with_base,
};
use crate::model::{NatGateway, Route, RouteTarget, NAT_GATEWAY_PORTS};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// BASE (vpc-a, subnet-a1, sg-a, eni-a on lines 1-20), a public subnet,
/// the internet gateway, one internet host, a public and a private
/// table (lines 21-45), then `extra` from line 46 on.
fn natgw(extra: &str) -> String {
    let subnet_pub = subnet("subnet-pub", "vpc-a", "10.0.2.0/24", "use1-az1");
    let public = route_table(
        "rtb-public",
        "vpc-a",
        "subnets = [\"subnet-pub\"]\n",
        &[("0.0.0.0/0", "igw-a")],
    );
    let private = route_table(
        "rtb-private",
        "vpc-a",
        "main = true\n",
        &[("0.0.0.0/0", "nat-a")],
    );
    let igw = internet_gateway("igw-a", "vpc-a");
    with_base(&format!(
        r#"{subnet_pub}{igw}
[internet]
hosts = [{{ name = "example", ip = "203.0.113.10" }}]
{public}{private}{extra}"#
    ))
}

const NAT_A: &str = r#"
[[nat_gateway]]
id = "nat-a"
subnet = "subnet-pub"
private_ip = "10.0.2.100"
elastic_ip = "203.0.113.50"
"#;

#[test]
fn a_nat_gateway_and_the_routes_to_it() {
    let t = parsed(&natgw(&format!(
        "{NAT_A}\n[[nat_gateway]]\nid = \"nat-b\"\nsubnet = \"subnet-pub\"\nprivate_ip = \
         \"10.0.2.101\"\nelastic_ip = \"198.51.100.50\"\nports = \"1024-1027\"\n"
    )));
    assert_eq!(
        t.internet.nat_gateways,
        vec![
            NatGateway {
                id: "nat-a".into(),
                subnet: 1,
                private_ip: ip("10.0.2.100"),
                elastic_ip: ip("203.0.113.50"),
                ports: NAT_GATEWAY_PORTS,
            },
            NatGateway {
                id: "nat-b".into(),
                subnet: 1,
                private_ip: ip("10.0.2.101"),
                elastic_ip: ip("198.51.100.50"),
                ports: (1024, 1027),
            },
        ]
    );
    assert_eq!(NAT_GATEWAY_PORTS.1 - NAT_GATEWAY_PORTS.0 + 1, 55_000);
    let private = t
        .route_tables
        .iter()
        .find(|r| r.id == "rtb-private")
        .unwrap();
    assert_eq!(
        private.routes,
        vec![Route {
            destination: net("0.0.0.0/0"),
            target: RouteTarget::NatGateway(0),
        }]
    );
}

#[test]
fn every_nat_gateway_mistake_is_named_with_its_place() {
    assert_eq!(
        diags(&natgw(
            r#"
[[nat_gateway]]
id = "nat-a"
subnet = "subnet-nope"
private_ip = "10.0.2.100"
elastic_ip = "8.8.8.8"

[[nat_gateway]]
id = "nat-b"
subnet = "subnet-pub"
private_ip = "10.0.1.10"
elastic_ip = "203.0.113.10"
ports = "80-90"

[[nat_gateway]]
id = "nat-c"
subnet = "subnet-a1"
private_ip = "10.0.1.10"
elastic_ip = "203.0.113.60"
ports = "2000-1000"

[[nat_gateway]]
id = "nat-d"
subnet = "subnet-pub"
private_ip = "10.0.2.3"
"#
        )),
        vec![
            "t.toml:49:10: nat_gateway[0].subnet: unknown subnet \"subnet-nope\" (defined: \
             subnet-a1, subnet-pub)",
            "t.toml:51:14: nat_gateway[0].elastic_ip: 8.8.8.8 is not a documentation address: \
             the lab's internet uses only 198.51.100.0/24 and 203.0.113.0/24 (never a real \
             public address)",
            "t.toml:56:14: nat_gateway[1].private_ip: 10.0.1.10 is outside subnet subnet-pub \
             (10.0.2.0/24)",
            "t.toml:57:14: nat_gateway[1].elastic_ip: 203.0.113.10 is already the address of \
             internet.hosts[0] (line 33)",
            "t.toml:58:9: nat_gateway[1].ports: a NAT gateway's source ports start at 1024 or \
             higher",
            "t.toml:63:14: nat_gateway[2].private_ip: 10.0.1.10 is already the address of ENI \
             eni-a",
            "t.toml:65:9: nat_gateway[2].ports: port range \"2000-1000\" is reversed (expected \
             low-high with low <= high, e.g. \"1000-2000\")",
            "t.toml:67:1: nat_gateway[3].elastic_ip: missing required field \"elastic_ip\" \
             (expected an IPv4 address such as \"10.0.1.10\")",
            "t.toml:70:14: nat_gateway[3].private_ip: 10.0.2.3 is reserved by AWS for future \
             use of subnet subnet-pub (10.0.2.0/24); usable addresses are 10.0.2.4 to \
             10.0.2.254 (AWS reserves the first four and the last)",
        ]
    );
}

#[test]
fn routes_to_nat_gateways_stay_in_their_vpc_and_outside_its_cidr() {
    let rtb_b = route_table(
        "rtb-b",
        "vpc-b",
        "main = true\n",
        &[("0.0.0.0/0", "nat-a"), ("10.9.0.0/16", "nat-zz")],
    );
    let rtb_a2 = route_table("rtb-a2", "vpc-a", "", &[("10.0.7.0/24", "nat-a")]);
    let nat_b = r#"
[[nat_gateway]]
id = "nat-b"
subnet = "subnet-b1"
private_ip = "10.1.1.100"
elastic_ip = "203.0.113.51"
"#;
    let src = natgw(&[NAT_A, &vpc_b(), &rtb_b, &rtb_a2, nat_b].concat());
    assert_eq!(
        diags(&src),
        vec![
            "t.toml:68:41: route_table[2].routes[0].target: NAT gateway \"nat-a\" is in vpc-a, \
             not vpc-b: a route table routes only to its own VPC's NAT gateways",
            "t.toml:69:43: route_table[2].routes[1].target: unknown NAT gateway \"nat-zz\" \
             (defined: nat-a, nat-b)",
            "t.toml:75:27: route_table[3].routes[0].destination: 10.0.7.0/24 is inside vpc-a's \
             CIDR 10.0.0.0/16: a NAT gateway route goes outside the VPC (the local route covers \
             its own addresses)",
            "t.toml:81:14: nat_gateway[1].elastic_ip: vpc-b has no internet gateway attached: \
             a public NAT gateway's Elastic IP works only in a VPC with one (add an \
             [[internet_gateway]] with vpc = \"vpc-b\")",
        ]
    );
}

/// A gateway in a subnet whose VPC is unknown: only the subnet's error
/// (found by config_mutations: it panicked once).
#[test]
fn a_nat_gateway_in_a_subnet_of_an_unknown_vpc_is_reported_once() {
    let src = with_base(&format!(
        r#"{}
[[nat_gateway]]
id = "nat-x"
subnet = "subnet-x"
private_ip = "10.9.1.100"
elastic_ip = "203.0.113.50"
"#,
        subnet("subnet-x", "vpc-x", "10.9.1.0/24", "use1-az1")
    ));
    assert_eq!(
        diags(&src),
        vec!["t.toml:24:7: subnet[1].vpc: unknown VPC \"vpc-x\" (defined: vpc-a)"]
    );
}
