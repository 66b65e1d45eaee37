//! The internet gateway end to end: configs/internet-gateway.toml as a lab
//! of namespaces (the lab's internet: hosts on documentation addresses
//! behind the fabric), the agent, real curl. The gateway is AWS's 1:1 NAT
//! between an ENI's private and public address (VPC user guide, "Enable
//! internet access for a VPC using an internet gateway"): what the
//! internet host's server logs as the peer is the public address.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use dataplane_common::DropReason;
use hyperlab_tests::{curl, drops_but, ip, shipped_config, Fixture};

#[test]
#[ignore = "needs root"]
fn a_public_instance_reaches_the_internet_by_its_public_ip_and_is_reached_by_it() {
    let fx = Fixture::new(&shipped_config("internet-gateway.toml", "igw"), "igw");
    let plan = &fx.agent.plan;
    let example = ip("203.0.113.10");
    let _site = fx.http_server("example", "203.0.113.10", 8080);
    let _web = fx.http_server("web", "10.0.1.20", 80);

    // Out: web's connection leaves with its public address as the source.
    let first = fx.snapshot();
    let (code, body) = curl(plan, "web", example, 8080);
    let why = fx.snapshot().since(&first);
    let drops = drops_but(&why, &[]);
    assert_eq!(code, 0, "web -> example: {body} (drops {drops:?})");
    assert!(
        body.starts_with("server=example peer=203.0.113.20:"),
        "the internet host sees web's public IP: {body}"
    );

    // In: the internet host reaches web by its public address (sg-web
    // admits TCP 80 from anywhere); web sees the host's own address.
    let (code, body) = curl(plan, "example", ip("203.0.113.20"), 80);
    assert_eq!(code, 0, "example -> web's public IP: {body}");
    assert!(body.starts_with("server=web peer=203.0.113.10:"), "{body}");

    // Never the private address from outside; never the private subnet.
    let before = fx.snapshot();
    let (code, _) = curl(plan, "example", ip("10.0.1.20"), 80);
    assert_ne!(code, 0, "a private address is not on the internet");
    let (code, _) = curl(plan, "app", example, 8080);
    assert_ne!(code, 0, "the private subnet has no route to the internet");
    let d = fx.snapshot().since(&before);
    assert!(d.drop_count(DropReason::NoRoute) >= 2, "{:?}", d.drops);
    let other = drops_but(&d, &[DropReason::NoRoute]);
    assert!(other.is_empty(), "only no_route drops: {other:?}");
}
