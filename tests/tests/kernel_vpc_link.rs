//! HTTP VPC link (VPC-to-VPC NAT) kernel-path tests: packets from the API
//! host to integration addresses, through the loaded programs on both hooks,
//! with exact rewritten bytes and counters.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::{collections::BTreeSet, net::Ipv4Addr};

use dataplane_common::{DropReason, GATEWAY_MAC, PROTO_TCP};
use hyperlab_tests::{
    assert_drop_on_both_hooks, assert_forwarded, ep_eni, expect, ip, pkt, Fixture, Verdict, HOOKS,
};

/// vpc-api (API host) and vpc-cust (targets). The link's egress allows tcp
/// 80, 8080 and 9000 into the VPC; targets admit the link's group, except
/// `locked`; `far` admits the link on 9100, which the link may not send.
pub const TOPO: &str = include_str!("../fixtures/kernel-http-link.toml");

fn eni_of(fx: &Fixture, addr: Ipv4Addr) -> String {
    let t = &fx.agent.topo;
    t.enis
        .iter()
        .find(|e| e.ip == addr && t.subnets[e.subnet].vpc == 1)
        .map(|e| e.id.clone())
        .unwrap()
}

/// A request from the API host to `integration:port` is translated to the
/// chosen target with the link ENI of the target's AZ as source, and the
/// reply comes back from the integration address, byte for byte.
fn round_trip(
    fx: &mut Fixture,
    integration: &str,
    port: u16,
    want_target: &[&str],
    want_src: &[&str],
) {
    let (a, dst) = (ip("10.1.1.20"), ip(integration));
    let amac = fx.mac("eni-apigw");
    for hook in HOOKS {
        fx.clear_flows();
        let e = expect(fx, ep_eni(fx, integration), a, dst, 40000, port, PROTO_TCP);
        let (tip, _) = e.target_addr();
        assert!(
            want_target.contains(&tip.to_string().as_str()),
            "{hook:?}: target {tip}"
        );
        // The link ENI in the target's AZ.
        let want = want_src[want_target
            .iter()
            .position(|t| *t == tip.to_string())
            .unwrap()];
        assert_eq!(e.node_ip, ip(want), "{hook:?}: SNAT source");
        let syn = pkt::tcp(amac, GATEWAY_MAC, a, dst, 40000, port, "S");
        let o = fx.run(hook, "eni-apigw", &syn);
        assert_forwarded(&o, &e.at_target("S"), &format!("{hook:?}: forward"));
        let r = fx.run(hook, &eni_of(fx, tip), &e.from_target("SA"));
        let reply = pkt::tcp(GATEWAY_MAC, amac, dst, a, port, 40000, "SA");
        assert_forwarded(&r, &reply, &format!("{hook:?}: reverse"));
    }
}

#[test]
#[ignore = "needs root"]
fn cloud_map_integration_is_nated_from_the_link_eni_in_the_targets_az() {
    let mut fx = Fixture::new(TOPO, "vla");
    // users1 is in use1-az2: the source is the az2 link ENI.
    round_trip(&mut fx, "10.1.1.203", 9000, &["10.0.2.41"], &["10.0.2.200"]);
}

#[test]
#[ignore = "needs root"]
fn alb_and_nlb_integrations_reach_their_nodes_and_targets() {
    let mut fx = Fixture::new(TOPO, "vlb");
    round_trip(
        &mut fx,
        "10.1.1.201",
        80,
        &["10.0.1.11", "10.0.2.12"],
        &["10.0.1.200", "10.0.2.200"],
    );
    // The NLB integration goes straight to the listener's target, which sees the link ENI.
    round_trip(&mut fx, "10.1.1.202", 80, &["10.0.1.31"], &["10.0.1.200"]);
}

#[test]
#[ignore = "needs root"]
fn security_groups_govern_the_link_on_both_sides() {
    let mut fx = Fixture::new(TOPO, "vlc");
    let (a, amac) = (ip("10.1.1.20"), fx.mac("eni-apigw"));
    for (dst, dport, reason) in [
        // locked's group does not admit the link's group.
        ("10.1.1.204", 9000, DropReason::TargetIngressSgDeny),
        // far admits the link on 9100, but the link's egress rules do not allow 9100.
        ("10.1.1.205", 9100, DropReason::LinkEgressSgDeny),
        // No listener on the integration for another port.
        ("10.1.1.203", 9001, DropReason::NoListener),
    ] {
        let syn = pkt::tcp(amac, GATEWAY_MAC, a, ip(dst), 40000, dport, "S");
        assert_drop_on_both_hooks(&mut fx, "eni-apigw", &syn, reason);
    }
}

#[test]
#[ignore = "needs root"]
fn customer_targets_cannot_open_connections_back_through_the_link() {
    let mut fx = Fixture::new(TOPO, "vld");
    let (u, umac) = (ip("10.0.2.41"), fx.mac("eni-users1"));
    // To the link ENI: refused and counted as a reverse-initiated attempt.
    assert_drop_on_both_hooks(
        &mut fx,
        "eni-users1",
        &pkt::tcp(umac, GATEWAY_MAC, u, ip("10.0.2.200"), 9000, 80, "S"),
        DropReason::LinkReverseInitiated,
    );
    assert_drop_on_both_hooks(
        &mut fx,
        "eni-users1",
        &pkt::udp(umac, GATEWAY_MAC, u, ip("10.0.1.200"), 9000, 53),
        DropReason::LinkReverseInitiated,
    );
    // The service VPC's addresses do not exist in the customer VPC.
    assert_drop_on_both_hooks(
        &mut fx,
        "eni-users1",
        &pkt::tcp(umac, GATEWAY_MAC, u, ip("10.1.1.20"), 9000, 80, "S"),
        DropReason::NoRoute,
    );
}

#[test]
#[ignore = "needs root"]
fn only_healthy_alb_nodes_are_chosen() {
    let mut fx = Fixture::new(TOPO, "vle");
    let (a, dst, amac) = (ip("10.1.1.20"), ip("10.1.1.201"), fx.mac("eni-apigw"));
    // int-alb's target group is the first expanded one: find alb2's global index.
    let alb2 = fx
        .agent
        .compiled
        .targets
        .iter()
        .position(|t| t.ip == [10, 0, 2, 12])
        .unwrap() as u32;
    let compiled = fx.agent.compiled.tables.clone();
    fx.rewrite_maglev(&compiled, &BTreeSet::from([alb2]));
    let mut seen = BTreeSet::new();
    for sport in 41000..41030 {
        fx.clear_flows();
        let o = fx.run(
            dataplane::model::Hook::Tc,
            "eni-apigw",
            &pkt::tcp(amac, GATEWAY_MAC, a, dst, sport, 80, "S"),
        );
        assert_eq!(o.verdict, Verdict::Forward);
        seen.insert((
            [o.out[26], o.out[27], o.out[28], o.out[29]],
            [o.out[30], o.out[31], o.out[32], o.out[33]],
        ));
    }
    assert_eq!(
        seen,
        BTreeSet::from([([10, 0, 1, 200], [10, 0, 1, 11])]),
        "alb1 only, from the az1 link ENI"
    );
}
