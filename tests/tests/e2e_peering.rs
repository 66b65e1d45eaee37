//! VPC peering end to end: a lab of namespaces, the agent, real curl and
//! ping (VPC peering guide). Two peered VPCs talk both ways, the
//! receiver's group naming the sender's group across the connection; a
//! third VPC peered with one of them reaches that one but not the other,
//! even with a route (peering is not transitive: `peering_not_transitive`
//! on its route); a `pending-acceptance` connection carries nothing
//! (`peering_not_active` on its route) until a reload makes it active.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use dataplane_common::DropReason;
use hyperlab_tests::{assert_ping, curl, ip, topology, Fixture, HostProcess};

const TOPO: &str = include_str!("../fixtures/e2e-peering.toml");

/// The drops a route, a peering connection, a group or an ACL decides
/// (the lab's hosts also send IPv6 and other frames the fabric drops).
const DECIDED: [DropReason; 8] = [
    DropReason::NoRoute,
    DropReason::RouteBlackhole,
    DropReason::PeeringNotActive,
    DropReason::PeeringNotTransitive,
    DropReason::EgressSgDeny,
    DropReason::IngressSgDeny,
    DropReason::NaclEgressDeny,
    DropReason::NaclIngressDeny,
];

/// Those of `d`'s drops that are [`DECIDED`], by reason.
fn decided(d: &dataplane::stats::Snapshot) -> Vec<(DropReason, u64)> {
    DECIDED
        .iter()
        .map(|&r| (r, d.drop_count(r)))
        .filter(|&(_, n)| n > 0)
        .collect()
}

/// How many drops of `d` are `reason`, asserting there are some and that
/// no other [`DECIDED`] reason dropped anything.
fn only(d: &dataplane::stats::Snapshot, reason: DropReason) -> u64 {
    let n = d.drop_count(reason);
    assert!(n >= 1, "{:?}", d.drops);
    assert_eq!(decided(d), vec![(reason, n)]);
    n
}

fn topo(status: &str) -> String {
    TOPO.replace("@STATUS@", status)
}

#[test]
#[ignore = "needs root"]
fn peered_vpcs_talk_a_third_cannot_pass_through_and_pending_carries_nothing() {
    let mut fx = Fixture::new(&topo("pending-acceptance"), "pcx");
    let name = fx.agent.topo.lab.name.clone();
    let plan = fx.agent.plan.clone();
    let (client, web, dhost) = (ip("10.0.1.10"), ip("10.1.1.20"), ip("10.3.1.40"));
    let _s_client = HostProcess::http_server(&plan, "client", client, 8080);
    let _s_web = HostProcess::http_server(&plan, "web", web, 8080);
    let _s_d = HostProcess::http_server(&plan, "dhost", dhost, 8080);

    // a <-> b: curl and ping, the server sees the client's own address.
    let before = fx.snapshot();
    let (code, body) = curl(&plan, "client", web, 8080);
    assert_eq!(code, 0, "client -> web over pcx-ab: {body}");
    assert!(body.starts_with("server=web peer=10.0.1.10:"), "{body}");
    assert_ping(&plan, "client", "10.1.1.20");
    let (code, body) = curl(&plan, "web", client, 8080);
    assert_eq!(code, 0, "web -> client over pcx-ab: {body}");
    assert!(body.starts_with("server=client peer=10.1.1.20:"), "{body}");
    // c <-> b: the third VPC is peered with b.
    let (code, body) = curl(&plan, "third", web, 8080);
    assert_eq!(code, 0, "third -> web over pcx-bc: {body}");
    assert!(body.starts_with("server=web peer=10.2.1.30:"), "{body}");
    let d = fx.snapshot().since(&before);
    assert_eq!(decided(&d), vec![], "nothing refused");

    // c -> a: rtb-c sends 10.0.0.0/8 over pcx-bc, which carries only
    // vpc-b's CIDR.
    let what = "third -> client must fail: not transitive";
    let d = fx.refused_curl("third", client, 8080, what);
    let n = only(&d, DropReason::PeeringNotTransitive);
    let route = |table: &str, route: &str| {
        fx.agent
            .layout()
            .route_drops
            .iter()
            .position(|r| r.table == table && r.route == route)
            .unwrap_or_else(|| panic!("{table} {route} is counted"))
    };
    assert_eq!(d.route_drops[route("rtb-c", "pcx-bc 10.0.0.0/8")], n);

    // a -> d over the pending pcx-ad: nothing passes.
    let what = "client -> dhost must fail: pcx-ad is pending";
    let d = fx.refused_curl("client", dhost, 8080, what);
    let n = only(&d, DropReason::PeeringNotActive);
    assert_eq!(d.route_drops[route("rtb-a", "pcx-ad 10.3.0.0/16")], n);

    // Accepted (a reload): the same curl works.
    fx.agent
        .reload(topology(&topo("active"), &name))
        .expect("reload");
    let (code, body) = curl(&plan, "client", dhost, 8080);
    assert_eq!(code, 0, "client -> dhost once pcx-ad is active: {body}");
    assert!(body.starts_with("server=dhost peer=10.0.1.10:"), "{body}");
}
