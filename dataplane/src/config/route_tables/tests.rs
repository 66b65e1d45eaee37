//! Tests of `[[route_table]]`: the topology a valid file gives, and every
//! diagnostic in its exact text.

use crate::config::test_support::{diags, net, parsed, route_table, vpc_b, with_base_a2, BASE};
use crate::model::{Route, RouteTable, RouteTarget};

/// BASE (vpc-a 10.0.0.0/16, subnet-a1 10.0.1.0/24) plus subnet-a2
/// 10.0.2.0/24 and vpc-b with subnet-b1 (lines 21-36): route-table tests
/// start on line 37.
fn base2(extra: &str) -> String {
    with_base_a2(&(vpc_b() + extra))
}

/// `base2` with `rtb-1` in vpc-a (lines 38-40); `rest` starts with the
/// newline that ends line 40.
fn rtb1(rest: &str) -> String {
    base2(&format!(
        "\n[[route_table]]\nid = \"rtb-1\"\nvpc = \"vpc-a\"{rest}"
    ))
}

fn route(destination: &str, target: RouteTarget) -> Route {
    Route {
        destination: net(destination),
        target,
    }
}

#[test]
fn route_tables_give_routes_associations_and_main_tables() {
    let main = route_table(
        "rtb-main",
        "vpc-a",
        "main = true\n",
        &[("10.0.0.0/16", "local"), ("0.0.0.0/0", "blackhole")],
    );
    let a2 = route_table(
        "rtb-a2",
        "vpc-a",
        "subnets = [\"subnet-a2\"]\n",
        &[
            ("10.0.1.0/24", "blackhole"),
            ("192.168.0.0/16", "blackhole"),
        ],
    );
    let t = parsed(&base2(&(main + &a2)));
    assert_eq!(
        t.route_tables,
        vec![
            RouteTable {
                id: "rtb-main".into(),
                vpc: 0,
                main: true,
                // The written local route is the implicit one.
                routes: vec![route("0.0.0.0/0", RouteTarget::Blackhole)],
            },
            RouteTable {
                id: "rtb-a2".into(),
                vpc: 0,
                main: false,
                routes: vec![
                    route("10.0.1.0/24", RouteTarget::Blackhole),
                    route("192.168.0.0/16", RouteTarget::Blackhole),
                ],
            },
            // vpc-b names no main table: the implied one.
            RouteTable::implied_main(1, "vpc-b"),
        ]
    );
    // subnet-a1: no association, vpc-a's main; subnet-a2: rtb-a2;
    // subnet-b1: vpc-b's implied main.
    assert_eq!(t.subnet_routes, vec![0, 1, 2]);
    assert_eq!(t.route_table_of(1).unwrap().id, "rtb-a2");
}

#[test]
fn a_vpc_without_route_tables_gets_an_implied_main_table_with_only_local() {
    let t = parsed(BASE);
    assert_eq!(
        t.route_tables,
        vec![RouteTable {
            id: "vpc-a (main)".into(),
            vpc: 0,
            main: true,
            routes: vec![],
        }]
    );
    assert_eq!(t.subnet_routes, vec![0]);
}

#[test]
fn the_local_route_cannot_be_removed_replaced_or_shadowed() {
    assert_eq!(
        diags(&rtb1(
            r#"
routes = [
  { destination = "10.0.0.0/16", target = "blackhole" },
  { destination = "10.0.0.0/8", target = "local" },
  { destination = "10.0.1.128/25", target = "blackhole" },
  { destination = "10.0.3.0/24", target = "blackhole" },
  { destination = "10.0.0.0/8", target = "blackhole" },
  { destination = "10.0.1.0/24", target = "blackhole" },
]
"#
        )),
        vec![
            "t.toml:42:19: route_table[0].routes[0].destination: 10.0.0.0/16 is the CIDR of \
             vpc-a: its local route cannot be removed or replaced",
            "t.toml:43:42: route_table[0].routes[1].target: target \"local\" routes only the \
             VPC's own CIDR (10.0.0.0/16 for vpc-a), not 10.0.0.0/8",
            "t.toml:44:19: route_table[0].routes[2].destination: 10.0.1.128/25 is inside \
             vpc-a's CIDR 10.0.0.0/16 but is not the CIDR of one of its subnets: a route more \
             specific than the local route must match a whole subnet's CIDR",
            "t.toml:45:19: route_table[0].routes[3].destination: 10.0.3.0/24 is inside \
             vpc-a's CIDR 10.0.0.0/16 but is not the CIDR of one of its subnets: a route more \
             specific than the local route must match a whole subnet's CIDR",
            "t.toml:46:19: route_table[0].routes[4].destination: 10.0.0.0/8 is already the \
             destination of route_table[0].routes[1] (line 43); a route table has one route per \
             destination",
        ]
    );
}

#[test]
fn a_subnet_of_another_vpc_is_not_a_whole_subnet_of_this_one() {
    // 10.1.1.0/24 is subnet-b1's CIDR, outside vpc-a's: allowed (it is not
    // more specific than vpc-a's local route).
    let t = parsed(&rtb1(
        "\nroutes = [{ destination = \"10.1.1.0/24\", target = \"blackhole\" }]\n",
    ));
    assert_eq!(
        t.route_tables[0].routes,
        vec![route("10.1.1.0/24", RouteTarget::Blackhole)]
    );
}

#[test]
fn route_targets_must_exist() {
    assert_eq!(
        diags(&rtb1(
            r#"
routes = [
  { destination = "0.0.0.0/0", target = "igw-1" },
  { destination = "10.9.0.0/16", target = "pcx-1" },
  { destination = "10.8.0.0/16", target = "nat-1" },
  { destination = "10.7.0.0/16", target = "subnet-a1" },
  { destination = "10.6.0.0/33", target = "blackhole" },
  { destination = "10.6.0.1/16" },
  { destination = "10.5.0.0/16", target = "tgw-1" },
]
"#
        )),
        vec![
            "t.toml:42:41: route_table[0].routes[0].target: unknown internet gateway \"igw-1\" \
             (no [[internet_gateway]] is defined)",
            "t.toml:43:43: route_table[0].routes[1].target: unknown VPC peering connection \
             \"pcx-1\" (no VPC peering connections are defined)",
            "t.toml:44:43: route_table[0].routes[2].target: unknown NAT gateway \"nat-1\" (no \
             [[nat_gateway]] is defined)",
            "t.toml:45:43: route_table[0].routes[3].target: target \"subnet-a1\" is a subnet \
             (subnet[0]), not a route target (expected \"local\", \"blackhole\", or the id of a \
             VPC peering connection, NAT gateway or internet gateway)",
            "t.toml:46:19: route_table[0].routes[4].destination: invalid CIDR \"10.6.0.0/33\" \
             (expected an IPv4 network such as \"10.0.0.0/16\")",
            "t.toml:47:3: route_table[0].routes[5].target: missing required field \"target\" \
             (expected \"local\", \"blackhole\", or the id of a VPC peering connection, NAT \
             gateway or internet gateway)",
            "t.toml:47:19: route_table[0].routes[5].destination: 10.6.0.1/16 has host bits set \
             (expected a network address: did you mean 10.6.0.0/16?)",
            "t.toml:48:43: route_table[0].routes[6].target: unknown target \"tgw-1\" (expected \
             \"local\", \"blackhole\", or the id of a VPC peering connection, NAT gateway or \
             internet gateway)",
        ]
    );
}

#[test]
fn one_main_table_per_vpc_and_one_table_per_subnet() {
    assert_eq!(
        diags(&rtb1(
            r#"
main = true
subnets = ["subnet-a1", "subnet-a1", "subnet-b1", "subnet-x"]

[[route_table]]
id = "rtb-2"
vpc = "vpc-a"
main = true
subnets = ["subnet-a1"]
"#
        )),
        vec![
            "t.toml:42:25: route_table[0].subnets[1]: subnet \"subnet-a1\" is listed twice",
            "t.toml:42:38: route_table[0].subnets[2]: subnet \"subnet-b1\" is in vpc-b, but \
             rtb-1 is in vpc-a (a route table is associated with subnets of its own VPC)",
            "t.toml:42:51: route_table[0].subnets[3]: unknown subnet \"subnet-x\" (defined: \
             subnet-a1, subnet-a2, subnet-b1)",
            "t.toml:47:8: route_table[1].main: vpc-a already has a main route table, rtb-1 \
             (line 41); a VPC has exactly one",
            "t.toml:48:12: route_table[1].subnets[0]: subnet \"subnet-a1\" is already \
             associated with rtb-1 (line 42); a subnet is associated with one route table at \
             most",
        ]
    );
}

#[test]
fn route_table_fields_are_checked() {
    assert_eq!(
        diags(&base2(
            r#"
[[route_table]]
id = "rtb-1"
vpc = "vpc-z"
main = "yes"
routes = [{ destination = "0.0.0.0/0", target = "blackhole", via = "x" }]
route = []
"#
        )),
        vec![
            "t.toml:40:7: route_table[0].vpc: unknown VPC \"vpc-z\" (defined: vpc-a, vpc-b)",
            "t.toml:41:8: route_table[0].main: expected true or false, found a string",
            "t.toml:42:62: route_table[0].routes[0].via: unknown field \"via\" (allowed: \
             destination, target)",
            "t.toml:43:1: route_table[0].route: unknown field \"route\" (allowed: id, vpc, \
             main, subnets, routes; did you mean \"routes\"?)",
        ]
    );
}
