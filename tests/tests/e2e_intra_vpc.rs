//! End-to-end tests: a lab of network namespaces built by `lab::up`, the
//! data plane attached by the agent, and real clients (ping, curl) talking
//! to real servers across the fabric.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use dataplane::{loader::LoadOptions, model::Hook};
use dataplane_common::DropReason;
use hyperlab_tests::{assert_ping, default_config, Fixture};

#[test]
#[ignore = "needs root"]
fn curl_allowed_by_security_groups_reaches_the_server_with_the_client_address() {
    let fx = Fixture::new(&default_config(), "e2a");
    let web = fx.http_server("web", "10.0.2.20", 80);
    let before = fx.snapshot();
    let (code, body) = fx.curl("client", "10.0.2.20", 80);
    assert_eq!(code, 0, "curl exit code");
    assert!(
        body.starts_with("server=web peer=10.0.1.10:"),
        "body: {body}"
    );
    assert_eq!(web.peers().len(), 1);
    assert!(web.peers()[0].starts_with("10.0.1.10:"));
    let d = fx.snapshot().since(&before);
    // One TCP flow: created once, established once, nothing dropped.
    assert_eq!(d.count(dataplane_common::Counter::FlowCreated), 1);
    assert_eq!(d.count(dataplane_common::Counter::TcpEstablished), 1);
    assert_eq!(d.drops.iter().sum::<u64>(), 0, "drops: {:?}", d.drops);
}

#[test]
#[ignore = "needs root"]
fn reply_path_works_with_no_inbound_rule_on_the_client() {
    let fx = Fixture::new(&default_config(), "e2b");
    let t = &fx.agent.topo;
    let client = &t.enis[fx.eni("eni-client")];
    assert!(
        client
            .security_groups
            .iter()
            .all(|&g| t.security_groups[g].ingress.is_empty()),
        "the premise: sg-client has no inbound rule"
    );
    let plan = &fx.agent.plan;
    let _web = fx.http_server("web", "10.0.2.20", 80);
    let (code, _) = fx.curl("client", "10.0.2.20", 80);
    assert_eq!(code, 0, "the reply reached the client");
    assert_ping(plan, "client", "10.0.2.20");
}

#[test]
#[ignore = "needs root"]
fn a_port_the_security_group_does_not_allow_never_reaches_the_server() {
    let fx = Fixture::new(&default_config(), "e2c");
    let db = fx.http_server("db", "10.0.2.30", 5432);
    let db_eni = fx.eni("eni-db");
    let before = fx.snapshot();
    let (code, _) = fx.curl("client", "10.0.2.30", 5432);
    assert_eq!(
        code, 28,
        "curl times out (exit 28): the SYN is dropped, not refused"
    );
    let d = fx.snapshot().since(&before);
    assert!(db.peers().is_empty(), "db saw: {:?}", db.peers());
    assert_eq!(
        d.enis[db_eni].rx_packets, 0,
        "not one packet was delivered to db"
    );
    assert!(d.drop_count(DropReason::IngressSgDeny) >= 1);
    assert_eq!(
        d.drop_count(DropReason::IngressSgDeny),
        d.enis[fx.eni("eni-client")].drops
    );
    // The same port from a member of sg-web is allowed.
    let (code, body) = fx.curl("web", "10.0.2.30", 5432);
    assert_eq!(code, 0);
    assert!(body.starts_with("server=db peer=10.0.2.20:"), "{body}");
}

#[test]
#[ignore = "needs root"]
fn two_vpcs_with_the_same_cidr_stay_isolated() {
    let fx = Fixture::new(&default_config(), "e2d");
    let web = fx.http_server("web", "10.0.2.20", 80);
    // `other` in vpc-b has client's very address; sg-other allows everything in.
    let other_srv = fx.http_server("other", "10.0.1.10", 8080);
    let before = fx.snapshot();
    let (code, _) = fx.curl("other", "10.0.2.20", 80);
    assert_ne!(code, 0, "vpc-b must not reach vpc-a's web");
    assert!(web.peers().is_empty());
    // From web (vpc-a), 10.0.1.10 is client (no inbound rule), never `other`.
    let (code, _) = fx.curl("web", "10.0.1.10", 8080);
    assert_ne!(code, 0);
    assert!(
        other_srv.peers().is_empty(),
        "other saw: {:?}",
        other_srv.peers()
    );
    let d = fx.snapshot().since(&before);
    assert!(d.drop_count(DropReason::NoRoute) >= 1);
    assert_eq!(d.enis[fx.eni("eni-web")].rx_packets, 0);
    assert_eq!(d.enis[fx.eni("eni-other")].rx_packets, 0);
}

#[test]
#[ignore = "needs root"]
fn ping_crosses_an_xdp_fabric() {
    // XDP hook: ICMP carries full checksums, so host stacks need no offload
    // changes for ping (TCP/UDP would: see README, "Hooks").
    let fx = Fixture::with_options(&default_config(), "e2e", Hook::Xdp, &LoadOptions::default());
    let before = fx.snapshot();
    assert_ping(&fx.agent.plan, "client", "10.0.2.20");
    let d = fx.snapshot().since(&before);
    assert_eq!(d.enis[fx.eni("eni-web")].rx_packets, 3);
    assert_eq!(d.enis[fx.eni("eni-client")].rx_packets, 3);
}
