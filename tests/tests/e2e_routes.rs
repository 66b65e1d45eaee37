//! Route tables end to end: a lab of namespaces, the agent, real curl.
//! The client's subnet table decides where its connections may go (VPC
//! user guide, "Route tables"): a blackhole route for the server's whole
//! subnet (more specific than the local route, which AWS allows for a
//! subnet's CIDR) drops the connection and counts it on that route;
//! removing the route by reload restores the local route's answer.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use dataplane_common::DropReason;
use hyperlab_tests::{curl, ip, topology, Fixture, HostProcess};

/// client (10.0.1.10) in subnet-app, whose table rtb-app holds
/// `@ROUTES@`; web (10.0.2.20) in subnet-web; the groups admit the VPC.
const TOPO: &str = include_str!("../fixtures/e2e-routes.toml");

fn topo(routes: &str) -> String {
    TOPO.replace("@ROUTES@", routes)
}

#[test]
#[ignore = "needs root"]
fn a_blackhole_route_drops_and_removing_it_by_reload_restores_the_path() {
    let hole = r#"{ destination = "10.0.2.0/24", target = "blackhole" }"#;
    let mut fx = Fixture::new(&topo(hole), "rte");
    let name = fx.agent.topo.lab.name.clone();
    let web = ip("10.0.2.20");
    let _server = HostProcess::http_server(&fx.agent.plan, "web", web, 8080);

    let d = fx.refused_curl("client", web, 8080, "curl must fail through the blackhole");
    let dropped = d.drop_count(DropReason::RouteBlackhole);
    assert!(dropped >= 1, "{:?}", d.drops);
    assert_eq!(d.drop_count(DropReason::NoRoute), 0, "{:?}", d.drops);
    let i = fx
        .agent
        .layout()
        .route_drops
        .iter()
        .position(|r| r.table == "rtb-app" && r.route == "blackhole 10.0.2.0/24")
        .expect("the route's drops are counted");
    assert_eq!(
        d.route_drops[i], dropped,
        "every route_blackhole drop is on rtb-app's 10.0.2.0/24 route"
    );

    // The route removed by reload: only the local route is left.
    fx.agent.reload(topology(&topo(""), &name)).expect("reload");
    let (code, body) = curl(&fx.agent.plan, "client", web, 8080);
    assert_eq!(code, 0, "curl works over the local route: {body}");
    assert!(body.starts_with("server=web peer=10.0.1.10:"), "{body}");
}
