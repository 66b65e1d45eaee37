//! Network ACLs end to end: a lab of namespaces, the agent, real clients.
//! ACLs are stateless (VPC user guide, "Network ACLs"): replies are judged
//! like any packet, the first matching rule in number order decides, and
//! a changed ACL applies to the next packet of a live connection, while a
//! removed security-group rule does not cut a tracked one.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::time::Duration;

use dataplane::stats::Snapshot;
use dataplane_common::DropReason;
use hyperlab_tests::{
    curl,
    echo::{oks, wait_oks, ECHO_CLIENT, ECHO_SERVER},
    ip, topology, Fixture, HostProcess,
};

/// client (10.0.1.10) and client2 (10.0.1.11) in subnet-a1, web
/// (10.0.2.20) in subnet-a2; the groups admit everything from the VPC, so
/// the ACL of web's subnet (`@ACL@`) decides. The SG of web is `@SG@`.
const TOPO: &str = include_str!("../fixtures/e2e-nacl.toml");

const SG_OPEN: &str = r#"{ protocol = "all", peer = "10.0.0.0/16" }"#;

fn topo(acl: &str, sg: &str) -> String {
    TOPO.replace("@ACL@", acl).replace("@SG@", sg)
}

/// Since `before`, ingress denies were counted, and at least one on
/// acl-web's ingress `rule`.
fn assert_ingress_denied(fx: &Fixture, before: &Snapshot, rule: &str) {
    let d = fx.snapshot().since(before);
    assert!(
        d.drop_count(DropReason::NaclIngressDeny) >= 1,
        "{:?}",
        d.drops
    );
    let i = fx
        .agent
        .layout()
        .nacl_rules
        .iter()
        .position(|r| r.nacl == "acl-web" && r.direction == "ingress" && r.rule == rule)
        .unwrap_or_else(|| panic!("rule {rule} is counted"));
    assert!(
        d.nacl_drops[i] >= 1,
        "drops on rule {rule}: {:?}",
        d.nacl_drops
    );
}

/// Requests to 8443 in; replies out only to ports 80-443: not the clients'
/// ephemeral ports.
const NO_EPHEMERAL: &str = r#"
ingress = [{ rule = 100, action = "allow", protocol = "tcp", ports = 8443, cidr = "10.0.0.0/16" }]
egress = [{ rule = 100, action = "allow", protocol = "tcp", ports = "80-443", cidr = "10.0.0.0/16" }]
"#;

/// The same, plus the ephemeral range out (VPC user guide, "Ephemeral ports").
const WITH_EPHEMERAL: &str = r#"
ingress = [{ rule = 100, action = "allow", protocol = "tcp", ports = 8443, cidr = "10.0.0.0/16" }]
egress = [
  { rule = 100, action = "allow", protocol = "tcp", ports = "80-443", cidr = "10.0.0.0/16" },
  { rule = 110, action = "allow", protocol = "tcp", ports = "1024-65535", cidr = "10.0.0.0/16" },
]
"#;

/// An explicit deny for client alone, numbered below the allow.
const DENY_BELOW_ALLOW: &str = r#"
ingress = [
  { rule = 100, action = "allow", protocol = "tcp", ports = 8443, cidr = "10.0.0.0/16" },
  { rule = 90, action = "deny", protocol = "tcp", ports = 8443, cidr = "10.0.1.10/32" },
]
egress = [{ rule = 110, action = "allow", protocol = "tcp", ports = "1024-65535", cidr = "10.0.0.0/16" }]
"#;

#[test]
#[ignore = "needs root"]
fn stateless_acl_needs_the_ephemeral_return_range_and_a_lower_deny_wins() {
    let mut fx = Fixture::new(&topo(NO_EPHEMERAL, SG_OPEN), "nac");
    let name = fx.agent.topo.lab.name.clone();
    let web = ip("10.0.2.20");
    let _server = HostProcess::http_server(&fx.agent.plan, "web", web, 8443);

    // The request is admitted in, its reply to the client's ephemeral port
    // is not admitted out: curl cannot connect.
    let d = fx.refused_curl(
        "client",
        web,
        8443,
        "curl must fail without the return range",
    );
    assert!(
        d.drop_count(DropReason::NaclEgressDeny) >= 1,
        "{:?}",
        d.drops
    );
    assert_eq!(d.drop_count(DropReason::NaclIngressDeny), 0);

    // Adding the ephemeral range by reload fixes it.
    fx.agent
        .reload(topology(&topo(WITH_EPHEMERAL, SG_OPEN), &name))
        .expect("reload");
    let (code, body) = curl(&fx.agent.plan, "client", web, 8443);
    assert_eq!(code, 0, "curl works with the return range: {body}");
    assert!(body.starts_with("server=web peer=10.0.1.10:"), "{body}");

    // Rule 90 denies client although rule 100 admits it; client2 passes.
    fx.agent
        .reload(topology(&topo(DENY_BELOW_ALLOW, SG_OPEN), &name))
        .expect("reload");
    let before = fx.snapshot();
    let (code, _) = curl(&fx.agent.plan, "client", web, 8443);
    assert_ne!(code, 0, "the lower-numbered deny wins");
    let (code, body) = curl(&fx.agent.plan, "client2", web, 8443);
    assert_eq!(code, 0, "client2 meets only the allow: {body}");
    assert_ingress_denied(&fx, &before, "90");
}

const ACL_OPEN: &str = r#"
ingress = [{ rule = 100, action = "allow", protocol = "all", cidr = "0.0.0.0/0" }]
egress = [{ rule = 100, action = "allow", protocol = "all", cidr = "0.0.0.0/0" }]
"#;

const ACL_DENY_9000: &str = r#"
ingress = [
  { rule = 50, action = "deny", protocol = "tcp", ports = 9000, cidr = "0.0.0.0/0" },
  { rule = 100, action = "allow", protocol = "all", cidr = "0.0.0.0/0" },
]
egress = [{ rule = 100, action = "allow", protocol = "all", cidr = "0.0.0.0/0" }]
"#;

#[test]
#[ignore = "needs root"]
fn an_acl_deny_cuts_an_open_connection_a_removed_sg_rule_does_not() {
    let sg_9000 = r#"{ protocol = "tcp", ports = 9000, peer = "10.0.0.0/16" }"#;
    let mut fx = Fixture::new(&topo(ACL_OPEN, sg_9000), "nad");
    let name = fx.agent.topo.lab.name.clone();
    let plan = fx.agent.plan.clone();
    let server = HostProcess::spawn(
        &plan,
        "web",
        &["python3", "-c", ECHO_SERVER, "10.0.2.20", "9000"],
    );
    server.wait_for_output("listening", Duration::from_secs(10));
    let client = HostProcess::spawn(
        &plan,
        "client",
        &["python3", "-c", ECHO_CLIENT, "10.0.2.20", "9000"],
    );
    assert!(
        wait_oks(&client, 0, 3, Duration::from_secs(10)),
        "the connection works: {}",
        client.output()
    );

    // Remove the security-group rule that admitted the connection: the
    // tracked flow keeps running (AWS: connection tracking).
    fx.agent
        .reload(topology(&topo(ACL_OPEN, ""), &name))
        .expect("reload without the SG rule");
    let n = oks(&client);
    assert!(
        wait_oks(&client, n, 3, Duration::from_secs(10)),
        "a removed SG rule does not cut a tracked connection: {}",
        client.output()
    );

    // A network-ACL deny: the next segment is dropped, and every one after.
    let before = fx.snapshot();
    fx.agent
        .reload(topology(&topo(ACL_DENY_9000, ""), &name))
        .expect("reload with the ACL deny");
    let n = oks(&client);
    // At most the segment in flight during the switch still gets through.
    assert!(
        !wait_oks(&client, n, 2, Duration::from_secs(2)),
        "the ACL deny cuts the connection: {}",
        client.output()
    );
    assert_ingress_denied(&fx, &before, "50");
    drop(client);
    drop(server);
}
