//! Tests of `[[vpc_peering]]`: the topology a valid file gives, and every
//! diagnostic in its exact text (routes to a connection, security-group
//! rules naming a group across one).

use crate::config::test_support::{
    diags, net, parsed, peering, route_table, vpc, vpc_b_with_sg, with_base,
};
use crate::model::{Peer, PeeringStatus, Route, RouteTarget, VpcPeering};

/// BASE (vpc-a 10.0.0.0/16, subnet-a1, sg-a, eni-a) plus vpc-b
/// 10.1.0.0/16 with subnet-b1 and sg-b, and vpc-c 10.2.0.0/16 (lines
/// 21-42): tests start on line 43.
fn three(extra: &str) -> String {
    with_base(
        &[
            &vpc_b_with_sg(),
            &vpc("vpc-c", "10.2.0.0/16"),
            &vpc("vpc-x", "10.1.128.0/17"),
            extra,
        ]
        .concat(),
    )
}

#[test]
fn peerings_and_routes_to_them_are_lowered() {
    let t = parsed(&three(
        &[
            peering("pcx-ab", "vpc-a", "vpc-b", "active"),
            peering("pcx-bc", "vpc-b", "vpc-c", "pending-acceptance"),
            route_table(
                "rtb-a",
                "vpc-a",
                "main = true\n",
                &[("10.1.0.0/16", "pcx-ab"), ("10.2.0.0/16", "pcx-ab")],
            ),
        ]
        .concat(),
    ));
    assert_eq!(
        t.vpc_peerings,
        vec![
            VpcPeering {
                id: "pcx-ab".into(),
                requester: 0,
                accepter: 1,
                status: PeeringStatus::Active,
            },
            VpcPeering {
                id: "pcx-bc".into(),
                requester: 1,
                accepter: 2,
                status: PeeringStatus::PendingAcceptance,
            },
        ]
    );
    assert_eq!(
        t.route_tables[0].routes,
        vec![
            Route {
                destination: net("10.1.0.0/16"),
                target: RouteTarget::Peering(0),
            },
            Route {
                destination: net("10.2.0.0/16"),
                target: RouteTarget::Peering(0),
            },
        ]
    );
    assert_eq!(t.vpc_peerings[0].peer_of(1), Some(0));
    assert_eq!(t.vpc_peerings[0].peer_of(2), None);
}

#[test]
fn check_refuses_what_aws_refuses_for_peerings() {
    let src = [
        ("pcx-1", "vpc-a", "vpc-a", "active"),
        ("pcx-2", "vpc-b", "vpc-x", "active"),
        ("pcx-3", "vpc-q", "vpc-b", "accepted"),
        ("pcx-4", "vpc-a", "vpc-b", "active"),
        ("pcx-5", "vpc-b", "vpc-a", "rejected"),
        ("peer-6", "vpc-b", "vpc-c", "active"),
    ]
    .map(|(id, requester, accepter, status)| peering(id, requester, accepter, status));
    assert_eq!(
        diags(&three(&src.concat())),
        vec![
            "t.toml:47:12: vpc_peering[0].accepter: vpc-a is also the requester: a peering \
             connection joins two different VPCs",
            "t.toml:53:12: vpc_peering[1].accepter: vpc-x's CIDR 10.1.128.0/17 overlaps vpc-b's \
             CIDR 10.1.0.0/16: AWS cannot peer VPCs with overlapping CIDR blocks",
            "t.toml:58:13: vpc_peering[2].requester: unknown VPC \"vpc-q\" (defined: vpc-a, \
             vpc-b, vpc-c, vpc-x)",
            "t.toml:60:10: vpc_peering[2].status: unknown status \"accepted\" (expected \
             \"active\", \"pending-acceptance\" or \"rejected\")",
            "t.toml:71:12: vpc_peering[4].accepter: vpc-b and vpc-a are already peered by \
             pcx-4: two VPCs have at most one peering connection",
            "t.toml:75:6: vpc_peering[5].id: \"peer-6\": a VPC peering connection's id starts \
             with \"pcx-\" (routes name it as their target, as AWS's ids do)",
        ]
    );
}

#[test]
fn routes_to_a_peering_must_use_one_of_the_tables_vpc() {
    let routes = route_table(
        "rtb-a",
        "vpc-a",
        "",
        &[
            ("10.2.0.0/16", "pcx-bc"),
            ("10.9.0.0/16", "pcx-nope"),
            ("10.0.1.0/24", "pcx-ab"),
            ("10.0.0.0/16", "pcx-ab"),
            ("10.0.64.0/18", "pcx-ab"),
            ("10.3.0.0/16", "sg-a"),
        ],
    );
    assert_eq!(
        diags(&three(
            &[
                peering("pcx-bc", "vpc-b", "vpc-c", "active"),
                peering("pcx-ab", "vpc-a", "vpc-b", "active"),
                routes,
            ]
            .concat()
        )),
        vec![
            "t.toml:60:43: route_table[0].routes[0].target: pcx-bc joins vpc-b and vpc-c, not \
             vpc-a (the table's VPC): a route can only use a peering connection of its own VPC",
            "t.toml:61:43: route_table[0].routes[1].target: unknown VPC peering connection \
             \"pcx-nope\" (defined: pcx-bc, pcx-ab)",
            "t.toml:62:19: route_table[0].routes[2].destination: 10.0.1.0/24 is inside vpc-a's \
             CIDR 10.0.0.0/16: a route more specific than the local route cannot target a VPC \
             peering connection",
            "t.toml:63:19: route_table[0].routes[3].destination: 10.0.0.0/16 is the CIDR of \
             vpc-a: its local route cannot be removed or replaced",
            "t.toml:64:19: route_table[0].routes[4].destination: 10.0.64.0/18 is inside vpc-a's \
             CIDR 10.0.0.0/16 but is not the CIDR of one of its subnets: a route more specific \
             than the local route must match a whole subnet's CIDR",
            "t.toml:65:43: route_table[0].routes[5].target: target \"sg-a\" is a security group \
             (security_group[0]), not a route target (expected \"local\", \"blackhole\", or the \
             id of a VPC peering connection, NAT gateway or internet gateway)",
        ]
    );
}

#[test]
fn security_groups_may_name_a_group_across_an_active_peering_only() {
    let rules = r#"
[[security_group]]
id = "sg-web"
vpc = "vpc-a"
ingress = [{ protocol = "tcp", ports = "80", peer = "sg-b" }]
"#;
    let active = peering("pcx-ab", "vpc-b", "vpc-a", "active");
    let t = parsed(&three(&format!("{rules}{active}")));
    let web = t.security_groups.iter().find(|g| g.id == "sg-web").unwrap();
    let sg_b = t
        .security_groups
        .iter()
        .position(|g| g.id == "sg-b")
        .unwrap();
    assert_eq!(web.ingress[0].peer, Peer::SecurityGroup(sg_b));
    let pending = active.replace("\"active\"", "\"pending-acceptance\"");
    assert_eq!(
        diags(&three(&format!("{rules}{pending}"))),
        vec![
            "t.toml:47:53: security_group[2].ingress[0].peer: security group \"sg-b\" is in \
             vpc-b, but sg-web is in vpc-a (a rule can only reference groups of its own VPC or \
             of a VPC an active peering connection joins to it; use a CIDR instead)"
        ]
    );
}

#[test]
fn check_notes_connections_that_carry_nothing_and_routes_without_a_way_back() {
    let t = parsed(&three(
        &[
            peering("pcx-ab", "vpc-a", "vpc-b", "active"),
            peering("pcx-bc", "vpc-b", "vpc-c", "rejected"),
            route_table("rtb-a", "vpc-a", "", &[("10.1.0.0/16", "pcx-ab")]),
        ]
        .concat(),
    ));
    assert_eq!(
        crate::config::notes(&t),
        vec![
            "VPC peering connection pcx-ab: vpc-a routes to it but no route table of vpc-b \
             does: replies from vpc-b are dropped there (add a route to vpc-a's CIDR \
             10.0.0.0/16 over pcx-ab)",
            "VPC peering connection pcx-bc (vpc-b <-> vpc-c) is rejected: it carries nothing \
             until active (`status = \"active\"`)",
        ]
    );
}
