//! The NAT gateway end to end: configs/nat-gateway.toml as a lab of
//! namespaces, the agent, real curl. A private instance reaches an
//! internet host through the NAT gateway, whose server logs the gateway's
//! Elastic IP as the peer; the internet host cannot open a connection
//! through the Elastic IP (VPC user guide, "NAT gateways").
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use dataplane_common::DropReason;
use hyperlab_tests::{curl, ip, shipped_config, Fixture, HostProcess};

#[test]
#[ignore = "needs root"]
fn a_private_instance_reaches_the_internet_through_the_nat_gateways_elastic_ip() {
    let fx = Fixture::new(&shipped_config("nat-gateway.toml", "ngw"), "ngw");
    let plan = &fx.agent.plan;
    let example = ip("203.0.113.10");
    let _site = HostProcess::http_server(plan, "example", example, 8080);
    let _app = HostProcess::http_server(plan, "app", ip("10.0.2.30"), 80);

    // Out: app's connections leave with the Elastic IP and a port of the
    // gateway's pool (1024-56023) as the source.
    let first = fx.snapshot();
    for _ in 0..2 {
        let (code, body) = curl(plan, "app", example, 8080);
        let why = fx.snapshot().since(&first);
        let drops: Vec<_> = DropReason::ALL
            .iter()
            .filter(|&&r| why.drop_count(r) > 0)
            .map(|&r| (r.name(), why.drop_count(r)))
            .collect();
        assert_eq!(code, 0, "app -> example: {body} (drops {drops:?})");
        let peer = body
            .strip_prefix("server=example peer=203.0.113.50:")
            .unwrap_or_else(|| panic!("the internet host sees the Elastic IP: {body}"));
        let port: u16 = peer
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("a port after the Elastic IP: {body}"));
        assert!(
            (1024..=56_023).contains(&port),
            "a port of the pool: {body}"
        );
    }

    // In: nothing the internet initiates passes the Elastic IP, and the
    // private address is not on the internet.
    let before = fx.snapshot();
    let (code, _) = curl(plan, "example", ip("203.0.113.50"), 80);
    assert_ne!(code, 0, "the Elastic IP accepts no connection from outside");
    let (code, _) = curl(plan, "example", ip("10.0.2.30"), 80);
    assert_ne!(code, 0, "a private address is not on the internet");
    let d = fx.snapshot().since(&before);
    assert!(
        d.drop_count(DropReason::NatGatewayOutsideInitiated) >= 1,
        "{:?}",
        d.drops
    );
    assert!(d.drop_count(DropReason::NoRoute) >= 1, "{:?}", d.drops);
    let other: Vec<_> = DropReason::ALL
        .iter()
        .filter(|&&r| {
            r != DropReason::NoRoute
                && r != DropReason::NatGatewayOutsideInitiated
                && d.drop_count(r) > 0
        })
        .map(|r| r.name())
        .collect();
    assert!(other.is_empty(), "only those drops: {other:?}");
}
