//! The compiled route tables, exactly: every table a subnet uses, its
//! `local` route and its routes as LPM entries; the subnets' slots.

use dataplane_common::{
    nacl_stat_id, RouteInfo, RouteKey, SubnetRoute, ROUTE_LOCAL, ROUTE_TARGET_BLACKHOLE,
    ROUTE_TARGET_LOCAL,
};

use super::*;
use crate::compile::{self, tests::topo, Shift, ROUTE_GENERATION_STRIDE};
use crate::config::test_support::{cat, peering, route_table, subnet, vpc};
use crate::model::{Ipv4Net, Route, RouteTable, RouteTarget};

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn local() -> RouteInfo {
    RouteInfo {
        target: ROUTE_TARGET_LOCAL,
        route: ROUTE_LOCAL,
        ..RouteInfo::default()
    }
}

fn blackhole(route: u16) -> RouteInfo {
    RouteInfo {
        target: ROUTE_TARGET_BLACKHOLE,
        route,
        ..RouteInfo::default()
    }
}

/// `topo()`: vpc-a and vpc-b, both 10.0.0.0/16, one subnet each, and no
/// route tables (a hand-built topology: each VPC's implied main table).
#[test]
fn without_tables_every_subnet_gets_its_vpcs_implied_main_table_with_only_local() {
    let m = compile_routes(&topo()).unwrap();
    assert_eq!(
        m.subnets,
        vec![
            SubnetRoute {
                table: 1,
                stat: nacl_stat_id(b"vpc-a (main)"),
            },
            SubnetRoute {
                table: 2,
                stat: nacl_stat_id(b"vpc-b (main)"),
            },
        ]
    );
    assert_eq!(
        m.routes,
        vec![
            (48, RouteKey::new(1, [10, 0, 0, 0]), local()),
            (48, RouteKey::new(2, [10, 0, 0, 0]), local()),
        ]
    );
}

#[test]
fn a_table_is_its_local_route_and_its_routes_and_is_compiled_once() {
    let mut t = topo();
    t.subnets.push(crate::model::test_support::subnet(
        "subnet-a2",
        0,
        "10.0.2.0/24",
        "az1",
    ));
    t.route_tables = vec![
        RouteTable {
            id: "rtb-1".into(),
            vpc: 0,
            main: false,
            routes: vec![
                Route {
                    destination: net("0.0.0.0/0"),
                    target: RouteTarget::Blackhole,
                },
                Route {
                    destination: net("10.0.2.0/24"),
                    target: RouteTarget::Blackhole,
                },
            ],
        },
        RouteTable::implied_main(0, "vpc-a"),
        RouteTable::implied_main(1, "vpc-b"),
    ];
    // subnet-a and subnet-a2 share rtb-1; subnet-b uses vpc-b's main.
    t.subnet_routes = vec![0, 2, 0];
    let m = compile_routes(&t).unwrap();
    let rtb1 = SubnetRoute {
        table: 1,
        stat: nacl_stat_id(b"rtb-1"),
    };
    assert_eq!(
        m.subnets,
        vec![
            rtb1,
            SubnetRoute {
                table: 2,
                stat: nacl_stat_id(b"vpc-b (main)"),
            },
            rtb1,
        ]
    );
    assert_eq!(
        m.routes,
        vec![
            (48, RouteKey::new(1, [10, 0, 0, 0]), local()),
            (32, RouteKey::new(1, [0, 0, 0, 0]), blackhole(0)),
            (56, RouteKey::new(1, [10, 0, 2, 0]), blackhole(1)),
            (48, RouteKey::new(2, [10, 0, 0, 0]), local()),
        ]
    );
}

#[test]
fn generations_move_table_ids_and_leave_the_rest() {
    let c = compile::compile(&topo(), &[11, 12, 13]).unwrap();
    let g1 = c.at(1);
    assert_eq!(
        g1.route_subnets.iter().map(|r| r.table).collect::<Vec<_>>(),
        vec![ROUTE_GENERATION_STRIDE + 1, ROUTE_GENERATION_STRIDE + 2]
    );
    assert_eq!(
        g1.routes[0],
        (
            48,
            RouteKey::new(ROUTE_GENERATION_STRIDE + 1, [10, 0, 0, 0]),
            local()
        )
    );
    assert_eq!(g1.at(0), c);
    // An empty slot stays empty.
    let empty = SubnetRoute::default();
    assert_eq!(Shift::new(0, 1).subnet_route(empty), empty);
}

/// A route to a peering connection carries the peer VPC and its CIDR;
/// the connection's status picks the target code.
#[test]
fn peering_routes_name_the_peer_vpc_and_its_cidr() {
    let src = |status: &str| {
        cat(&[
            &vpc("vpc-a", "10.0.0.0/16"),
            &subnet("subnet-a", "vpc-a", "10.0.1.0/24", "use1-az1"),
            &vpc("vpc-b", "10.1.0.0/16"),
            &peering("pcx-ab", "vpc-a", "vpc-b", status),
            &route_table(
                "rtb-a",
                "vpc-a",
                "main = true\n",
                &[("10.0.0.0/8", "pcx-ab")],
            ),
        ])
    };
    for (status, target) in [
        ("active", dataplane_common::ROUTE_TARGET_PEERING),
        (
            "pending-acceptance",
            dataplane_common::ROUTE_TARGET_PEERING_INACTIVE,
        ),
        ("rejected", dataplane_common::ROUTE_TARGET_PEERING_INACTIVE),
    ] {
        let t = crate::config::parse_str(&src(status), "t.toml").unwrap();
        let m = compile_routes(&t).unwrap();
        assert_eq!(
            m.routes,
            vec![
                (48, RouteKey::new(1, [10, 0, 0, 0]), local()),
                (
                    40,
                    RouteKey::new(1, [10, 0, 0, 0]),
                    RouteInfo {
                        target,
                        route: 0,
                        peer_vpc: 1,
                        peer_net: [10, 1, 0, 0],
                        peer_mask: [255, 255, 0, 0],
                        ..RouteInfo::default()
                    }
                ),
            ],
            "{status}"
        );
    }
}
