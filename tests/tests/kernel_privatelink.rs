//! PrivateLink kernel-path tests: crafted packets through the loaded
//! programs (both hooks) for the interface endpoint -> NLB -> target path,
//! asserting verdicts, exact rewritten bytes (addresses, ports, both
//! checksums) and counters.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::{collections::BTreeSet, net::Ipv4Addr};

use dataplane_common::{DropReason, GATEWAY_MAC, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use hyperlab_tests::{
    assert_drop_on_both_hooks, assert_forwarded, csum, ep_eni, expect, ip, open_through_endpoint,
    pkt, ExpectedTarget, Fixture, Verdict, HOOKS,
};

/// Consumer and provider VPCs with the same CIDR. vpce-web fronts nlb-web
/// (cross-zone, tcp/80 -> tg-web:8080, udp/53 -> tg-dns:5353, tcp/81 ->
/// tg-closed:9090 whose target's group does not allow 9090). vpce-tiny
/// fronts nlb-tiny, whose SNAT pool has two ports and one target.
const TOPO: &str = include_str!("../fixtures/kernel-privatelink.toml");

#[test]
#[ignore = "needs root"]
fn tcp_through_the_endpoint_is_nated_to_a_target_and_back_exactly() {
    let mut fx = Fixture::new(TOPO, "pla");
    let (c, vpce) = (ip("10.0.1.10"), ip("10.0.1.100"));
    let cmac = fx.mac("eni-consumer");
    let e = expect(
        &fx,
        ep_eni(&fx, "10.0.1.100"),
        c,
        vpce,
        40000,
        80,
        PROTO_TCP,
    );
    assert_eq!(
        e.node_ip,
        ip("10.0.1.50"),
        "the NLB node in the endpoint ENI's AZ"
    );
    let (tip, tport) = e.target_addr();
    assert_eq!(tport, 8080);
    for hook in HOOKS {
        fx.clear_flows();
        let before = fx.snapshot();
        let syn = pkt::tcp(cmac, GATEWAY_MAC, c, vpce, 40000, 80, "S");
        let o = fx.run(hook, "eni-consumer", &syn);
        // Exactly the packet a client at the NLB node would have sent the target.
        assert_forwarded(&o, &e.at_target("S"), &format!("{hook:?}: forward rewrite"));

        let from = if tip == ip("10.0.1.21") {
            "eni-web1"
        } else {
            "eni-web2"
        };
        let r = fx.run(hook, from, &e.from_target("SA"));
        let reply = pkt::tcp(GATEWAY_MAC, cmac, vpce, c, 80, 40000, "SA");
        assert_forwarded(&r, &reply, &format!("{hook:?}: reverse rewrite"));

        let d = fx.snapshot().since(&before);
        assert_eq!(d.count(dataplane_common::Counter::FlowCreated), 1);
        assert_eq!(d.count(dataplane_common::Counter::TcpEstablished), 1);
        assert_eq!(d.drops.iter().sum::<u64>(), 0);
        let ep = 0; // vpce-web
        assert_eq!(
            (d.endpoints[ep].tx_packets, d.endpoints[ep].rx_packets),
            (1, 1),
            "{hook:?}: endpoint counters"
        );
        assert_eq!(
            (d.listeners[0].tx_packets, d.listeners[0].rx_packets),
            (1, 1),
            "{hook:?}: listener tcp/80"
        );
        let t = e.target_index as usize;
        assert_eq!(
            (d.targets[t].tx_packets, d.targets[t].rx_packets),
            (1, 1),
            "{hook:?}: target counters"
        );
        assert_eq!(d.enis[fx.eni(from)].rx_packets, 1);
        assert_eq!(d.enis[fx.eni("eni-consumer")].rx_packets, 1);
    }
}

#[test]
#[ignore = "needs root"]
fn udp_and_icmp_echo_through_the_endpoint_are_translated_both_ways() {
    let mut fx = Fixture::new(TOPO, "plb");
    let (c, vpce) = (ip("10.0.1.10"), ip("10.0.2.100"));
    let cmac = fx.mac("eni-consumer");
    let epi = ep_eni(&fx, "10.0.2.100");
    let target_eni = |fx: &Fixture, t: &ExpectedTarget| fx.agent.topo.enis[t.eni].id.clone();
    for hook in HOOKS {
        fx.clear_flows();
        // UDP: listener udp/53 -> tg-dns:5353, via the AZ2 node.
        let e = expect(&fx, epi, c, vpce, 5000, 53, PROTO_UDP);
        assert_eq!(e.node_ip, ip("10.0.2.50"));
        let (tip, tport) = (Ipv4Addr::from(e.target.ip), e.target.port);
        let q = pkt::udp(cmac, GATEWAY_MAC, c, vpce, 5000, 53);
        let o = fx.run(hook, "eni-consumer", &q);
        assert_eq!(
            (o.verdict, o.out.clone()),
            (
                Verdict::Forward,
                pkt::udp(GATEWAY_MAC, e.target.mac, e.node_ip, tip, e.nat_port, tport)
            ),
            "{hook:?}"
        );
        csum::assert_valid(&o.out);
        let a = pkt::udp(e.target.mac, GATEWAY_MAC, tip, e.node_ip, tport, e.nat_port);
        let r = fx.run(hook, &target_eni(&fx, &e.target), &a);
        assert_eq!(
            (r.verdict, r.out),
            (
                Verdict::Forward,
                pkt::udp(GATEWAY_MAC, cmac, vpce, c, 53, 5000)
            ),
            "{hook:?}"
        );

        // ICMP echo: the identifier is the NAT "port".
        let e = expect(&fx, epi, c, vpce, 77, 77, PROTO_ICMP);
        let tip = Ipv4Addr::from(e.target.ip);
        let req = pkt::echo(cmac, GATEWAY_MAC, c, vpce, 77, true);
        let o = fx.run(hook, "eni-consumer", &req);
        assert_eq!(
            (o.verdict, o.out.clone()),
            (
                Verdict::Forward,
                pkt::echo(GATEWAY_MAC, e.target.mac, e.node_ip, tip, e.nat_port, true)
            ),
            "{hook:?}"
        );
        csum::assert_valid(&o.out);
        let rep = pkt::echo(e.target.mac, GATEWAY_MAC, tip, e.node_ip, e.nat_port, false);
        let r = fx.run(hook, &target_eni(&fx, &e.target), &rep);
        assert_eq!(
            (r.verdict, r.out.clone()),
            (
                Verdict::Forward,
                pkt::echo(GATEWAY_MAC, cmac, vpce, c, 77, false)
            ),
            "{hook:?}"
        );
        csum::assert_valid(&r.out);
    }
}

#[test]
#[ignore = "needs root"]
fn a_pending_or_rejected_endpoint_passes_nothing() {
    let mut fx = Fixture::new(TOPO, "plc");
    let cmac = fx.mac("eni-consumer");
    let c = ip("10.0.1.10");
    assert_drop_on_both_hooks(
        &mut fx,
        "eni-consumer",
        &pkt::tcp(cmac, GATEWAY_MAC, c, ip("10.0.1.101"), 40000, 80, "S"),
        DropReason::EndpointPending,
    );
    assert_drop_on_both_hooks(
        &mut fx,
        "eni-consumer",
        &pkt::tcp(cmac, GATEWAY_MAC, c, ip("10.0.1.102"), 40000, 80, "S"),
        DropReason::EndpointRejected,
    );
    let before = fx.snapshot();
    fx.run(
        hook_tc(),
        "eni-consumer",
        &pkt::udp(cmac, GATEWAY_MAC, c, ip("10.0.1.101"), 1, 53),
    );
    let d = fx.snapshot().since(&before);
    assert_eq!(d.endpoints[1].drops, 1, "counted at vpce-pending");
}

fn hook_tc() -> dataplane::model::Hook {
    dataplane::model::Hook::Tc
}

#[test]
#[ignore = "needs root"]
fn security_groups_deny_on_each_side() {
    let mut fx = Fixture::new(TOPO, "pld");
    let (c, n, vpce) = (ip("10.0.1.10"), ip("10.0.1.11"), ip("10.0.1.100"));
    let (cmac, nmac) = (fx.mac("eni-consumer"), fx.mac("eni-narrow"));
    // Consumer side, egress: sg-narrow only sends tcp/80.
    assert_drop_on_both_hooks(
        &mut fx,
        "eni-narrow",
        &pkt::udp(nmac, GATEWAY_MAC, n, vpce, 5000, 53),
        DropReason::EgressSgDeny,
    );
    // Endpoint side, ingress: sg-vpce does not allow tcp/443.
    assert_drop_on_both_hooks(
        &mut fx,
        "eni-consumer",
        &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, 40000, 443, "S"),
        DropReason::IngressSgDeny,
    );
    // Allowed by sg-vpce, but the NLB has no listener on 8081.
    assert_drop_on_both_hooks(
        &mut fx,
        "eni-consumer",
        &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, 40000, 8081, "S"),
        DropReason::NoListener,
    );
    // Target side: tg-closed's target does not allow 9090 from the NLB.
    assert_drop_on_both_hooks(
        &mut fx,
        "eni-consumer",
        &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, 40000, 81, "S"),
        DropReason::TargetIngressSgDeny,
    );
    // A target cannot open a connection to the NLB's address: no flow, no ENI there.
    let (wmac, web1, node) = (fx.mac("eni-web1"), ip("10.0.1.21"), ip("10.0.1.50"));
    let syn = pkt::tcp(wmac, GATEWAY_MAC, web1, node, 8080, 50000, "S");
    assert_drop_on_both_hooks(&mut fx, "eni-web1", &syn, DropReason::NoRoute);
}

#[test]
#[ignore = "needs root"]
fn overlapping_cidrs_keep_consumer_and_provider_apart() {
    let mut fx = Fixture::new(TOPO, "ple");
    let dmac = fx.mac("eni-dup");
    // eni-dup has the consumer's address inside the provider VPC: the
    // endpoint address means nothing there.
    let (c, vpce) = (ip("10.0.1.10"), ip("10.0.1.100"));
    let syn = pkt::tcp(dmac, GATEWAY_MAC, c, vpce, 40000, 80, "S");
    assert_drop_on_both_hooks(&mut fx, "eni-dup", &syn, DropReason::NoRoute);
    // And a consumer flow's reply from the target goes to the consumer, never to eni-dup.
    let cmac = fx.mac("eni-consumer");
    let e = open_through_endpoint(&mut fx, "eni-consumer", (c, 41000), (vpce, 80));
    let tip = Ipv4Addr::from(e.target.ip);
    let from = if tip == ip("10.0.1.21") {
        "eni-web1"
    } else {
        "eni-web2"
    };
    let before = fx.snapshot();
    let r = fx.run(
        hook_tc(),
        from,
        &pkt::tcp(
            e.target.mac,
            GATEWAY_MAC,
            tip,
            e.node_ip,
            8080,
            e.nat_port,
            "SA",
        ),
    );
    assert_eq!(&r.out[0..6], &cmac, "delivered to the consumer's MAC");
    let d = fx.snapshot().since(&before);
    assert_eq!(d.enis[fx.eni("eni-consumer")].rx_packets, 1);
    assert_eq!(d.enis[fx.eni("eni-dup")].rx_packets, 0);
}

#[test]
#[ignore = "needs root"]
fn an_exhausted_source_port_pool_refuses_new_flows_and_keeps_live_ones() {
    let mut fx = Fixture::new(TOPO, "plf");
    let (c, vpce) = (ip("10.0.1.10"), ip("10.0.1.103"));
    let cmac = fx.mac("eni-consumer");
    let wmac = fx.mac("eni-web1");
    fx.clear_flows();
    // nlb-tiny: ports 50000-50001, one target: room for exactly two flows.
    let mut bound = Vec::new();
    for sport in [42000, 42001] {
        let o = fx.run(
            hook_tc(),
            "eni-consumer",
            &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, sport, 80, "S"),
        );
        assert_eq!(o.verdict, Verdict::Forward);
        bound.push((sport, u16::from_be_bytes([o.out[34], o.out[35]])));
    }
    let ports: BTreeSet<u16> = bound.iter().map(|&(_, p)| p).collect();
    assert_eq!(
        ports,
        BTreeSet::from([50000, 50001]),
        "two flows, two distinct ports"
    );
    for hook in HOOKS {
        let before = fx.snapshot();
        let third = pkt::tcp(cmac, GATEWAY_MAC, c, vpce, 42002, 80, "S");
        let o = fx.run(hook, "eni-consumer", &third);
        assert_eq!(
            (o.verdict, o.out.clone()),
            (Verdict::Drop, third.clone()),
            "{hook:?}"
        );
        let d = fx.snapshot().since(&before);
        assert_eq!(d.drop_count(DropReason::NatPortsExhausted), 1, "{hook:?}");
        // The live flows are untouched, both ways.
        for &(sport, nport) in &bound {
            let a = fx.run(
                hook,
                "eni-consumer",
                &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, sport, 80, "A"),
            );
            assert_eq!(
                a.out,
                pkt::tcp(
                    GATEWAY_MAC,
                    wmac,
                    ip("10.0.1.60"),
                    ip("10.0.1.21"),
                    nport,
                    8080,
                    "A"
                ),
                "{hook:?}"
            );
            let r = fx.run(
                hook,
                "eni-web1",
                &pkt::tcp(
                    wmac,
                    GATEWAY_MAC,
                    ip("10.0.1.21"),
                    ip("10.0.1.60"),
                    8080,
                    nport,
                    "A",
                ),
            );
            assert_eq!(
                r.out,
                pkt::tcp(GATEWAY_MAC, cmac, vpce, c, 80, sport, "A"),
                "{hook:?}"
            );
        }
    }
    assert_eq!(fx.flows().len(), 4);
}

#[test]
#[ignore = "needs root"]
fn new_flows_avoid_unhealthy_targets_and_existing_flows_follow_the_policy() {
    let mut fx = Fixture::new(TOPO, "plg");
    let (c, vpce) = (ip("10.0.1.10"), ip("10.0.1.100"));
    let cmac = fx.mac("eni-consumer");
    fx.clear_flows();
    // Find a source port whose flow lands on web2 and one on web1.
    let target_of = |fx: &Fixture, sport| {
        Ipv4Addr::from(
            expect(fx, ep_eni(fx, "10.0.1.100"), c, vpce, sport, 80, PROTO_TCP)
                .target
                .ip,
        )
    };
    let on_web2 = (43000..43100)
        .find(|&p| target_of(&fx, p) == ip("10.0.2.22"))
        .unwrap();
    let on_web1 = (43000..43100)
        .find(|&p| target_of(&fx, p) == ip("10.0.1.21"))
        .unwrap();
    let o = fx.run(
        hook_tc(),
        "eni-consumer",
        &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, on_web2, 80, "S"),
    );
    assert_eq!(
        Ipv4Addr::new(o.out[30], o.out[31], o.out[32], o.out[33]),
        ip("10.0.2.22")
    );
    // web2 (global target index 1 in tg-web) turns unhealthy: the agent rewrites the tables.
    let compiled = fx.agent.compiled.tables.clone();
    let tables = fx.rewrite_maglev(&compiled, &BTreeSet::from([1]));
    // The live flow stays on web2 (AWS: connections are not reset)...
    let a = fx.run(
        hook_tc(),
        "eni-consumer",
        &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, on_web2, 80, "A"),
    );
    assert_eq!(
        Ipv4Addr::new(a.out[30], a.out[31], a.out[32], a.out[33]),
        ip("10.0.2.22")
    );
    // ...a new flow that hashed to web2 now goes to web1, and web1's flows do not move.
    for sport in [on_web2 + 1000, on_web1] {
        let o = fx.run(
            hook_tc(),
            "eni-consumer",
            &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, sport, 80, "S"),
        );
        assert_eq!(
            Ipv4Addr::new(o.out[30], o.out[31], o.out[32], o.out[33]),
            ip("10.0.1.21"),
            "sport {sport}"
        );
    }
    // connection_termination = false would stop here. With true (AWS's
    // default) the agent ends web2's flows: both entries go...
    let removed = fx
        .agent
        .dataplane
        .end_flows_to(1, [10, 0, 2, 22], 8080)
        .unwrap();
    assert_eq!(
        removed, 2,
        "the forward and the reply entry of the one web2 flow"
    );
    // ...and the connection's next segment is decided anew, on web1.
    let before = fx.snapshot();
    let a = fx.run(
        hook_tc(),
        "eni-consumer",
        &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, on_web2, 80, "A"),
    );
    assert_eq!(
        Ipv4Addr::new(a.out[30], a.out[31], a.out[32], a.out[33]),
        ip("10.0.1.21")
    );
    assert_eq!(
        fx.snapshot()
            .since(&before)
            .count(dataplane_common::Counter::FlowCreated),
        1
    );
    // With no healthy target at all, new flows are refused and counted.
    fx.rewrite_maglev(&tables, &BTreeSet::from([0, 1]));
    let before = fx.snapshot();
    let o = fx.run(
        hook_tc(),
        "eni-consumer",
        &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, 44444, 80, "S"),
    );
    assert_eq!(o.verdict, Verdict::Drop);
    assert_eq!(
        fx.snapshot()
            .since(&before)
            .drop_count(DropReason::NoHealthyTarget),
        1
    );
}

#[test]
#[ignore = "needs root"]
fn the_same_five_tuple_always_picks_the_same_target() {
    let mut fx = Fixture::new(TOPO, "plh");
    let (c, vpce) = (ip("10.0.1.10"), ip("10.0.1.100"));
    let cmac = fx.mac("eni-consumer");
    let mut seen = BTreeSet::new();
    for sport in 45000..45040 {
        let mut dsts = BTreeSet::new();
        for hook in HOOKS {
            fx.clear_flows();
            let o = fx.run(
                hook,
                "eni-consumer",
                &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, sport, 80, "S"),
            );
            dsts.insert([o.out[30], o.out[31], o.out[32], o.out[33]]);
        }
        assert_eq!(
            dsts.len(),
            1,
            "sport {sport}: one target across runs and hooks"
        );
        seen.extend(dsts);
    }
    assert_eq!(seen.len(), 2, "40 flows spread over both targets");
}
