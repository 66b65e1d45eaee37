//! Kernel-path tests: crafted packets through the real, loaded programs with
//! BPF_PROG_TEST_RUN, on both hooks. Each case asserts the verdict, the exact
//! output bytes and the counters that moved.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use dataplane::{loader::LoadOptions, model::Hook, stats::Snapshot};
use dataplane_common::{
    Counter, DropReason, COUNTER_COUNT, DROP_REASON_COUNT, FLOW_F_REPLY, FLOW_STATE_CLOSED,
    FLOW_STATE_ESTABLISHED, FLOW_STATE_NEW, GATEWAY_MAC,
};
use hyperlab_tests::{csum, ip, pkt, Fixture, Outcome, Verdict, HOOKS};

/// Two VPCs with the same CIDR. vpc-a: client, web, db; vpc-b: other, other2
/// reusing client's and web's addresses.
const TOPO: &str = include_str!("../fixtures/kernel-intra-vpc.toml");

/// The counters that moved, as (name, delta) pairs, for readable failures.
fn moved(d: &Snapshot) -> Vec<(String, u64)> {
    let mut v = Vec::new();
    for r in DropReason::ALL {
        if d.drop_count(r) != 0 {
            v.push((format!("drop:{}", r.name()), d.drop_count(r)));
        }
    }
    for c in Counter::ALL {
        if d.count(c) != 0 {
            v.push((format!("event:{}", c.name()), d.count(c)));
        }
    }
    v
}

/// Runs one frame through `hook` and checks verdict, bytes and the exact
/// set of counters that moved.
fn check(
    fx: &Fixture,
    hook: Hook,
    from: &str,
    frame: &[u8],
    verdict: Verdict,
    out: Option<&[u8]>,
    counters: &[(&str, u64)],
) -> Outcome {
    let before = fx.snapshot();
    let o = fx.run(hook, from, frame);
    let d = fx.snapshot().since(&before);
    assert_eq!(o.verdict, verdict, "{hook:?}: verdict");
    match out {
        Some(expected) => assert_eq!(o.out, expected, "{hook:?}: output bytes"),
        // Drops and passes leave the packet byte for byte as it came.
        None => assert_eq!(
            o.out, frame,
            "{hook:?}: a dropped/passed packet must be untouched"
        ),
    }
    let want: Vec<(String, u64)> = counters.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    assert_eq!(moved(&d), want, "{hook:?}: counters moved");
    o
}

/// [`check`] for a frame forwarded with only its MACs rewritten: to
/// `dst_mac`, from the gateway.
fn forwarded(
    fx: &Fixture,
    hook: Hook,
    from: &str,
    frame: &[u8],
    dst_mac: [u8; 6],
    counters: &[(&str, u64)],
) -> Outcome {
    let out = pkt::with_macs(frame, dst_mac, GATEWAY_MAC);
    check(
        fx,
        hook,
        from,
        frame,
        Verdict::Forward,
        Some(&out),
        counters,
    )
}

fn drop_reason(r: DropReason) -> String {
    format!("drop:{}", r.name())
}

/// Asserts a drop with exactly this reason on both hooks. The kernel's skb
/// test runner refuses IPv4 frames shorter than an IPv4 header (EINVAL), so
/// those run through XDP only.
fn assert_drop(fx: &mut Fixture, from: &str, frame: &[u8], reason: DropReason) {
    let short_ipv4 = frame.len() < 34 && frame[12..14] == [0x08, 0x00];
    let hooks: &[Hook] = if short_ipv4 { &[Hook::Xdp] } else { &HOOKS };
    for &hook in hooks {
        fx.clear_flows();
        let before = fx.snapshot();
        let o = fx.run(hook, from, frame);
        let d = fx.snapshot().since(&before);
        assert_eq!(
            o.verdict,
            Verdict::Drop,
            "{hook:?}: expected drop {}",
            reason.name()
        );
        assert_eq!(o.out, frame, "{hook:?}: dropped packet must be untouched");
        assert_eq!(
            moved(&d),
            vec![(drop_reason(reason), 1)],
            "{hook:?}: counters"
        );
        let eni = fx.eni(from);
        assert_eq!(d.enis[eni].drops, 1, "{hook:?}: per-ENI drop counter");
        assert!(
            fx.flows().is_empty(),
            "{hook:?}: a dropped packet must not create flow state"
        );
    }
}

/// Sending a frame back out of its port: XDP_TX, or in TC a redirect to the
/// port's own egress (indistinguishable by return code from a forward; the
/// bytes tell them apart).
fn reflect(hook: Hook) -> Verdict {
    match hook {
        Hook::Tc => Verdict::Forward,
        Hook::Xdp => Verdict::Reflect,
    }
}

const FWD: (&str, u64) = ("event:forwarded", 1);
const CREATED: (&str, u64) = ("event:flow_created", 1);
const HIT: (&str, u64) = ("event:flow_hit", 1);

#[test]
#[ignore = "needs root"]
fn arp_request_for_gateway_is_answered_with_router_mac() {
    let fx = Fixture::new(TOPO, "kpa");
    let cmac = fx.mac("eni-client");
    let req = pkt::arp_request(cmac, ip("10.0.1.10"), ip("10.0.1.1"));
    let reply = pkt::arp_reply(cmac, ip("10.0.1.10"), ip("10.0.1.1"));
    for hook in HOOKS {
        let o = check(
            &fx,
            hook,
            "eni-client",
            &req,
            reflect(hook),
            Some(&reply),
            &[("event:arp_reply", 1)],
        );
        assert_eq!(o.out.len(), 42);
    }
    // Same-subnet peers are answered too (proxy ARP, as the VPC router does).
    let req = pkt::arp_request(cmac, ip("10.0.1.10"), ip("10.0.1.20"));
    let reply = pkt::arp_reply(cmac, ip("10.0.1.10"), ip("10.0.1.20"));
    for hook in HOOKS {
        check(
            &fx,
            hook,
            "eni-client",
            &req,
            reflect(hook),
            Some(&reply),
            &[("event:arp_reply", 1)],
        );
    }
}

#[test]
#[ignore = "needs root"]
fn arp_that_is_not_ours_to_answer_is_dropped() {
    let mut fx = Fixture::new(TOPO, "kpb");
    let cmac = fx.mac("eni-client");
    // Gratuitous ARP.
    assert_drop(
        &mut fx,
        "eni-client",
        &pkt::arp_request(cmac, ip("10.0.1.10"), ip("10.0.1.10")),
        DropReason::ArpIgnored,
    );
    // Asking on behalf of another address.
    assert_drop(
        &mut fx,
        "eni-client",
        &pkt::arp_request(cmac, ip("10.0.1.99"), ip("10.0.1.1")),
        DropReason::ArpIgnored,
    );
    // An ARP reply (the router never asks).
    let mut r = pkt::arp_request(cmac, ip("10.0.1.10"), ip("10.0.1.1"));
    r[21] = 2;
    assert_drop(&mut fx, "eni-client", &r, DropReason::ArpIgnored);
    // Truncated ARP.
    let r = pkt::arp_request(cmac, ip("10.0.1.10"), ip("10.0.1.1"));
    assert_drop(&mut fx, "eni-client", &r[..40], DropReason::ArpIgnored);
}

#[test]
#[ignore = "needs root"]
fn allowed_tcp_is_forwarded_with_macs_rewritten_and_reply_passes_statefully() {
    let mut fx = Fixture::new(TOPO, "kpc");
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cmac, wmac) = (fx.mac("eni-client"), fx.mac("eni-web"));
    let (ci, wi) = (fx.eni("eni-client"), fx.eni("eni-web"));
    for hook in HOOKS {
        fx.clear_flows();
        let syn = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40000, 80, "S");
        let before = fx.snapshot();
        let o = forwarded(&fx, hook, "eni-client", &syn, wmac, &[FWD, CREATED]);
        csum::assert_valid(&o.out);
        let d = fx.snapshot().since(&before);
        assert_eq!(
            (d.enis[ci].tx_packets, d.enis[ci].tx_bytes),
            (1, syn.len() as u64)
        );
        assert_eq!(
            (d.enis[wi].rx_packets, d.enis[wi].rx_bytes),
            (1, syn.len() as u64)
        );

        // Both directions are recorded, state NEW.
        let mut flows = fx.flows();
        flows.sort_by_key(|(_, e)| e.flags);
        assert_eq!(flows.len(), 2);
        assert_eq!(
            (flows[0].0.src, flows[0].0.dst, flows[0].0.dport),
            (c.octets(), w.octets(), 80u16.to_be_bytes())
        );
        assert_eq!((flows[0].1.state, flows[0].1.flags), (FLOW_STATE_NEW, 0));
        assert_eq!(
            (flows[1].0.src, flows[1].0.sport),
            (w.octets(), 80u16.to_be_bytes())
        );
        assert_eq!(flows[1].1.flags, FLOW_F_REPLY);
        assert_eq!(flows[1].1.out_ifindex, fx.port_ifindex("eni-client"));

        // The client has no inbound rule, yet the reply passes: stateful.
        let synack = pkt::tcp(wmac, GATEWAY_MAC, w, c, 80, 40000, "SA");
        forwarded(
            &fx,
            hook,
            "eni-web",
            &synack,
            cmac,
            &[FWD, HIT, ("event:tcp_established", 1)],
        );
        assert!(
            fx.flows()
                .iter()
                .all(|(_, e)| e.state == FLOW_STATE_ESTABLISHED),
            "{hook:?}: both entries established"
        );

        let ack = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40000, 80, "A");
        forwarded(&fx, hook, "eni-client", &ack, wmac, &[FWD, HIT]);
    }
}

#[test]
#[ignore = "needs root"]
fn tcp_rst_closes_the_flow_and_a_new_syn_reopens_it() {
    let mut fx = Fixture::new(TOPO, "kpd");
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cmac, wmac) = (fx.mac("eni-client"), fx.mac("eni-web"));
    for hook in HOOKS {
        fx.clear_flows();
        let syn = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40001, 80, "S");
        forwarded(&fx, hook, "eni-client", &syn, wmac, &[FWD, CREATED]);
        let rst = pkt::tcp(wmac, GATEWAY_MAC, w, c, 80, 40001, "RA");
        forwarded(&fx, hook, "eni-web", &rst, cmac, &[FWD, HIT]);
        assert!(
            fx.flows().iter().all(|(_, e)| e.state == FLOW_STATE_CLOSED),
            "{hook:?}: closed"
        );
        // A late segment of the reset connection is refused...
        let late = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40001, 80, "A");
        check(
            &fx,
            hook,
            "eni-client",
            &late,
            Verdict::Drop,
            None,
            &[(&drop_reason(DropReason::FlowClosed), 1)],
        );
        // ...and a new SYN on the same tuple is decided afresh.
        forwarded(&fx, hook, "eni-client", &syn, wmac, &[FWD, CREATED]);
        assert!(
            fx.flows().iter().all(|(_, e)| e.state == FLOW_STATE_NEW),
            "{hook:?}: reopened"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn fin_moves_the_flow_to_closing_and_it_still_forwards() {
    let mut fx = Fixture::new(TOPO, "kpe");
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cmac, wmac) = (fx.mac("eni-client"), fx.mac("eni-web"));
    fx.clear_flows();
    let syn = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40002, 80, "S");
    forwarded(&fx, Hook::Tc, "eni-client", &syn, wmac, &[FWD, CREATED]);
    let fin = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40002, 80, "FA");
    forwarded(&fx, Hook::Xdp, "eni-client", &fin, wmac, &[FWD, HIT]);
    assert!(fx
        .flows()
        .iter()
        .all(|(_, e)| e.state == dataplane_common::FLOW_STATE_CLOSING));
    let finack = pkt::tcp(wmac, GATEWAY_MAC, w, c, 80, 40002, "FA");
    forwarded(&fx, Hook::Tc, "eni-web", &finack, cmac, &[FWD, HIT]);
}

#[test]
#[ignore = "needs root"]
fn unsolicited_packet_to_host_without_inbound_rule_is_dropped() {
    let mut fx = Fixture::new(TOPO, "kpf");
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let wmac = fx.mac("eni-web");
    // web's default egress allows it out; client's empty ingress refuses it.
    assert_drop(
        &mut fx,
        "eni-web",
        &pkt::tcp(wmac, GATEWAY_MAC, w, c, 80, 40000, "SA"),
        DropReason::IngressSgDeny,
    );
    assert_drop(
        &mut fx,
        "eni-web",
        &pkt::udp(wmac, GATEWAY_MAC, w, c, 53, 5353),
        DropReason::IngressSgDeny,
    );
    assert_drop(
        &mut fx,
        "eni-web",
        &pkt::echo(wmac, GATEWAY_MAC, w, c, 7, true),
        DropReason::IngressSgDeny,
    );
}

#[test]
#[ignore = "needs root"]
fn security_group_rules_allow_and_deny_by_kind() {
    let mut fx = Fixture::new(TOPO, "kpg");
    let (c, w, db) = (fx.ip("eni-client"), fx.ip("eni-web"), fx.ip("eni-db"));
    let (cmac, wmac, dbmac) = (fx.mac("eni-client"), fx.mac("eni-web"), fx.mac("eni-db"));
    let allowed = [
        // CIDR peer on the egress side, SG-reference peer on the ingress side.
        (
            "eni-client",
            pkt::tcp(cmac, GATEWAY_MAC, c, w, 41000, 80, "S"),
            wmac,
        ),
        // Port range: egress to an SG reference, ingress from a CIDR.
        (
            "eni-client",
            pkt::tcp(cmac, GATEWAY_MAC, c, w, 41000, 8000, "S"),
            wmac,
        ),
        (
            "eni-client",
            pkt::tcp(cmac, GATEWAY_MAC, c, w, 41000, 8100, "S"),
            wmac,
        ),
        // UDP to a /32 written as a bare address.
        (
            "eni-client",
            pkt::udp(cmac, GATEWAY_MAC, c, w, 41000, 53),
            wmac,
        ),
        // ICMP (no ports).
        (
            "eni-client",
            pkt::echo(cmac, GATEWAY_MAC, c, w, 9, true),
            wmac,
        ),
        // db allows 5432 only from members of sg-web; web has default egress.
        (
            "eni-web",
            pkt::tcp(wmac, GATEWAY_MAC, w, db, 41000, 5432, "S"),
            dbmac,
        ),
    ];
    for (from, frame, dmac) in &allowed {
        for hook in HOOKS {
            fx.clear_flows();
            let o = check(
                &fx,
                hook,
                from,
                frame,
                Verdict::Forward,
                Some(&pkt::with_macs(frame, *dmac, GATEWAY_MAC)),
                &[FWD, CREATED],
            );
            csum::assert_valid(&o.out);
        }
    }
    let denied = [
        // Egress: client may not send tcp/443 anywhere.
        (
            "eni-client",
            pkt::tcp(cmac, GATEWAY_MAC, c, w, 41000, 443, "S"),
            DropReason::EgressSgDeny,
        ),
        // Egress: udp 54 is outside the rule's single port.
        (
            "eni-client",
            pkt::udp(cmac, GATEWAY_MAC, c, w, 41000, 54),
            DropReason::EgressSgDeny,
        ),
        // Ingress: 8101 is past web's range (client's egress allows it).
        (
            "eni-client",
            pkt::tcp(cmac, GATEWAY_MAC, c, w, 41000, 8101, "S"),
            DropReason::IngressSgDeny,
        ),
        // Ingress: db allows 5432 only from sg-web members.
        (
            "eni-client",
            pkt::tcp(cmac, GATEWAY_MAC, c, db, 41000, 5432, "S"),
            DropReason::IngressSgDeny,
        ),
        // Ingress: no udp into db at all.
        (
            "eni-web",
            pkt::udp(wmac, GATEWAY_MAC, w, db, 41000, 5432),
            DropReason::IngressSgDeny,
        ),
    ];
    for (from, frame, reason) in &denied {
        assert_drop(&mut fx, from, frame, *reason);
    }
}

#[test]
#[ignore = "needs root"]
fn udp_and_icmp_echo_replies_pass_statefully() {
    let mut fx = Fixture::new(TOPO, "kph");
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cmac, wmac) = (fx.mac("eni-client"), fx.mac("eni-web"));
    for hook in HOOKS {
        fx.clear_flows();
        let q = pkt::udp(cmac, GATEWAY_MAC, c, w, 5353, 53);
        forwarded(&fx, hook, "eni-client", &q, wmac, &[FWD, CREATED]);
        let a = pkt::udp(wmac, GATEWAY_MAC, w, c, 53, 5353);
        forwarded(&fx, hook, "eni-web", &a, cmac, &[FWD, HIT]);
        // A reply to a different port is not part of the flow.
        let stray = pkt::udp(wmac, GATEWAY_MAC, w, c, 53, 5354);
        check(
            &fx,
            hook,
            "eni-web",
            &stray,
            Verdict::Drop,
            None,
            &[(&drop_reason(DropReason::IngressSgDeny), 1)],
        );

        let req = pkt::echo(cmac, GATEWAY_MAC, c, w, 77, true);
        forwarded(&fx, hook, "eni-client", &req, wmac, &[FWD, CREATED]);
        let rep = pkt::echo(wmac, GATEWAY_MAC, w, c, 77, false);
        forwarded(&fx, hook, "eni-web", &rep, cmac, &[FWD, HIT]);
        // An echo reply with another identifier is unsolicited.
        let other = pkt::echo(wmac, GATEWAY_MAC, w, c, 78, false);
        check(
            &fx,
            hook,
            "eni-web",
            &other,
            Verdict::Drop,
            None,
            &[(&drop_reason(DropReason::IngressSgDeny), 1)],
        );
    }
}

#[test]
#[ignore = "needs root"]
fn vpcs_with_the_same_cidr_stay_isolated() {
    let mut fx = Fixture::new(TOPO, "kpi");
    let omac = fx.mac("eni-other");
    let o2mac = fx.mac("eni-other2");
    assert_ne!(o2mac, fx.mac("eni-web"));
    // 10.0.1.20 from vpc-b is other2, never web (same address in vpc-a).
    let f = pkt::tcp(
        omac,
        GATEWAY_MAC,
        ip("10.0.1.10"),
        ip("10.0.1.20"),
        42000,
        80,
        "S",
    );
    for hook in HOOKS {
        fx.clear_flows();
        let before = fx.snapshot();
        forwarded(&fx, hook, "eni-other", &f, o2mac, &[FWD, CREATED]);
        let d = fx.snapshot().since(&before);
        assert_eq!(d.enis[fx.eni("eni-other2")].rx_packets, 1);
        assert_eq!(d.enis[fx.eni("eni-web")].rx_packets, 0);
        assert!(
            fx.flows().iter().all(|(k, _)| k.vpc == 1),
            "{hook:?}: flow keyed in vpc-b"
        );
    }
    // db's address does not exist in vpc-b: no route, even though vpc-a has it.
    assert_drop(
        &mut fx,
        "eni-other",
        &pkt::tcp(
            omac,
            GATEWAY_MAC,
            ip("10.0.1.10"),
            ip("10.0.1.30"),
            42000,
            5432,
            "S",
        ),
        DropReason::NoRoute,
    );
    // client (vpc-a) to an address that only exists in vpc-b's view is its own VPC's client? no: 10.0.1.99 exists nowhere.
    let cmac = fx.mac("eni-client");
    assert_drop(
        &mut fx,
        "eni-client",
        &pkt::tcp(
            cmac,
            GATEWAY_MAC,
            ip("10.0.1.10"),
            ip("10.0.1.99"),
            42000,
            80,
            "S",
        ),
        DropReason::NoRoute,
    );
}

#[test]
#[ignore = "needs root"]
fn spoofed_source_address_fails_the_source_check() {
    let mut fx = Fixture::new(TOPO, "kpj");
    let cmac = fx.mac("eni-client");
    // web's address, sent from client's port.
    let (web, db) = (fx.ip("eni-web"), fx.ip("eni-db"));
    assert_drop(
        &mut fx,
        "eni-client",
        &pkt::tcp(cmac, GATEWAY_MAC, web, db, 42000, 5432, "S"),
        DropReason::SourceCheck,
    );
}

#[test]
#[ignore = "needs root"]
fn malformed_packets_are_dropped_with_their_reason_and_untouched() {
    let mut fx = Fixture::new(TOPO, "kpk");
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let cmac = fx.mac("eni-client");
    let syn = pkt::tcp(cmac, GATEWAY_MAC, c, w, 43000, 80, "S");
    let udp = pkt::udp(cmac, GATEWAY_MAC, c, w, 43000, 53);
    let echo = pkt::echo(cmac, GATEWAY_MAC, c, w, 5, true);
    let cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        // (Frames shorter than 14 bytes (and a bare Ethernet header in skb mode) cannot be fed to BPF_PROG_TEST_RUN:
        // the kernel refuses them for both program types.)
        (
            "one byte of IPv4 header",
            syn[..15].to_vec(),
            DropReason::TruncatedIpv4,
        ),
        (
            "IPv6 ethertype",
            pkt::edited(&syn, &|v| v[12..14].copy_from_slice(&[0x86, 0xdd])),
            DropReason::NotIpv4,
        ),
        (
            "VLAN tag",
            pkt::edited(&syn, &|v| v[12..14].copy_from_slice(&[0x81, 0x00])),
            DropReason::NotIpv4,
        ),
        (
            "IPv4 header cut",
            syn[..14 + 19].to_vec(),
            DropReason::TruncatedIpv4,
        ),
        (
            "version 6 in IPv4 frame",
            pkt::edited(&syn, &|v| {
                v[14] = 0x65;
                pkt::fix_ip_checksum(v)
            }),
            DropReason::BadIpVersion,
        ),
        (
            "IHL 4",
            pkt::edited(&syn, &|v| {
                v[14] = 0x44;
            }),
            DropReason::BadIhl,
        ),
        (
            "IHL past the frame",
            pkt::edited(&syn[..14 + 24], &|v| {
                v[14] = 0x4f;
            }),
            DropReason::BadIhl,
        ),
        (
            "total length past the frame",
            pkt::edited(&syn, &|v| {
                let l = (v.len() - 14 + 1) as u16;
                v[16..18].copy_from_slice(&l.to_be_bytes());
                pkt::fix_ip_checksum(v)
            }),
            DropReason::BadTotalLength,
        ),
        (
            "total length below IHL",
            pkt::edited(&syn, &|v| {
                v[16..18].copy_from_slice(&19u16.to_be_bytes());
                pkt::fix_ip_checksum(v)
            }),
            DropReason::BadTotalLength,
        ),
        (
            "first fragment (MF)",
            pkt::edited(&syn, &|v| {
                v[20] = 0x20;
                v[21] = 0;
                pkt::fix_ip_checksum(v)
            }),
            DropReason::Fragment,
        ),
        (
            "later fragment",
            pkt::edited(&syn, &|v| {
                v[20] = 0x00;
                v[21] = 0x10;
                pkt::fix_ip_checksum(v)
            }),
            DropReason::Fragment,
        ),
        (
            "TCP header cut",
            pkt::edited(&syn[..14 + 20 + 10], &|v| {
                v[16..18].copy_from_slice(&30u16.to_be_bytes());
                pkt::fix_ip_checksum(v)
            }),
            DropReason::TruncatedL4,
        ),
        (
            "TCP data offset 4",
            pkt::edited(&syn, &|v| {
                v[14 + 20 + 12] = 0x40;
            }),
            DropReason::BadTcpDataOffset,
        ),
        (
            "TCP data offset past the packet",
            pkt::edited(&syn, &|v| {
                v[14 + 20 + 12] = 0xf0;
            }),
            DropReason::BadTcpDataOffset,
        ),
        (
            "UDP length 4",
            pkt::edited(&udp, &|v| {
                v[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&4u16.to_be_bytes());
            }),
            DropReason::TruncatedL4,
        ),
        (
            "UDP length past the packet",
            pkt::edited(&udp, &|v| {
                v[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&200u16.to_be_bytes());
            }),
            DropReason::TruncatedL4,
        ),
        (
            "ICMP cut at 4 bytes",
            pkt::edited(&echo[..14 + 20 + 4], &|v| {
                v[16..18].copy_from_slice(&24u16.to_be_bytes());
                pkt::fix_ip_checksum(v)
            }),
            DropReason::TruncatedL4,
        ),
        (
            "ICMP destination unreachable quoting no IPv4 header",
            pkt::edited(&echo, &|v| {
                v[14 + 20] = 3;
            }),
            DropReason::IcmpErrorBadQuote,
        ),
        (
            "ICMP redirect",
            pkt::edited(&echo, &|v| {
                v[14 + 20] = 5;
            }),
            DropReason::UnsupportedIcmp,
        ),
        (
            // Parsed since issue 16 part 2 (addresses and protocol only):
            // the client's egress rules name TCP only.
            "GRE without a rule for it",
            pkt::edited(&syn, &|v| {
                v[14 + 9] = 47;
                pkt::fix_ip_checksum(v)
            }),
            DropReason::EgressSgDeny,
        ),
    ];
    for (name, frame, reason) in &cases {
        eprintln!("case: {name}");
        assert_drop(&mut fx, "eni-client", frame, *reason);
    }
}

#[test]
#[ignore = "needs root"]
fn ipv4_options_are_parsed_past_and_forwarded() {
    let mut fx = Fixture::new(TOPO, "kpl");
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cmac, wmac) = (fx.mac("eni-client"), fx.mac("eni-web"));
    let syn = pkt::tcp(cmac, GATEWAY_MAC, c, w, 43001, 80, "S");
    // Insert 4 bytes of NOP options: IHL 6.
    let mut f = syn[..34].to_vec();
    f.extend_from_slice(&[1, 1, 1, 0]);
    f.extend_from_slice(&syn[34..]);
    f[14] = 0x46;
    let tot = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&tot.to_be_bytes());
    pkt::fix_ip_checksum(&mut f);
    for hook in HOOKS {
        fx.clear_flows();
        let o = forwarded(&fx, hook, "eni-client", &f, wmac, &[FWD, CREATED]);
        csum::assert_valid(&o.out);
        let k = fx
            .flows()
            .into_iter()
            .find(|(_, e)| e.flags == 0)
            .unwrap()
            .0;
        assert_eq!(
            (k.sport, k.dport),
            (43001u16.to_be_bytes(), 80u16.to_be_bytes()),
            "{hook:?}: ports read past the options"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn packets_from_unknown_interfaces_pass_to_the_stack_untouched() {
    let fx = Fixture::new(TOPO, "kpm");
    let f = pkt::tcp(
        [2, 0, 0, 0, 0, 9],
        GATEWAY_MAC,
        ip("10.9.9.9"),
        ip("10.0.1.20"),
        1,
        80,
        "S",
    );
    for hook in HOOKS {
        let before = fx.snapshot();
        // ifindex 1: the fabric namespace's loopback, which is no port.
        let o = fx.run_on(hook, 1, &f);
        let d = fx.snapshot().since(&before);
        assert_eq!(o.verdict, Verdict::Pass, "{hook:?}");
        assert_eq!(o.out, f, "{hook:?}");
        assert_eq!(
            moved(&d),
            vec![("event:unknown_port_pass".to_string(), 1)],
            "{hook:?}"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn full_flow_table_refuses_new_flows_and_keeps_live_ones() {
    // Room for two flows (two entries each).
    let mut fx = Fixture::with_options(
        TOPO,
        "kpn",
        Hook::Tc,
        &LoadOptions {
            flow_table_size: Some(4),
            ..Default::default()
        },
    );
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cmac, wmac) = (fx.mac("eni-client"), fx.mac("eni-web"));
    fx.clear_flows();
    for sport in [44000, 44001] {
        let syn = pkt::tcp(cmac, GATEWAY_MAC, c, w, sport, 80, "S");
        forwarded(&fx, Hook::Tc, "eni-client", &syn, wmac, &[FWD, CREATED]);
    }
    assert_eq!(fx.flows().len(), 4);
    let third = pkt::tcp(cmac, GATEWAY_MAC, c, w, 44002, 80, "S");
    for hook in HOOKS {
        check(
            &fx,
            hook,
            "eni-client",
            &third,
            Verdict::Drop,
            None,
            &[(&drop_reason(DropReason::FlowTableFull), 1)],
        );
        // Both live flows still pass, in both directions.
        for sport in [44000, 44001] {
            let a = pkt::tcp(cmac, GATEWAY_MAC, c, w, sport, 80, "A");
            forwarded(&fx, hook, "eni-client", &a, wmac, &[FWD, HIT]);
            let r = pkt::tcp(wmac, GATEWAY_MAC, w, c, 80, sport, "A");
            forwarded(&fx, hook, "eni-web", &r, cmac, &[FWD, HIT]);
        }
    }
    assert_eq!(fx.flows().len(), 4, "no live entry was evicted");
}

#[test]
#[ignore = "needs root"]
fn both_hooks_produce_identical_bytes_for_every_allowed_case() {
    let mut fx = Fixture::new(TOPO, "kpo");
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let cmac = fx.mac("eni-client");
    let frames = [
        pkt::tcp(cmac, GATEWAY_MAC, c, w, 45000, 80, "S"),
        pkt::udp(cmac, GATEWAY_MAC, c, w, 45000, 53),
        pkt::echo(cmac, GATEWAY_MAC, c, w, 45, true),
    ];
    for f in &frames {
        fx.clear_flows();
        let tc = fx.run(Hook::Tc, "eni-client", f);
        fx.clear_flows();
        let xdp = fx.run(Hook::Xdp, "eni-client", f);
        assert_eq!(tc.verdict, Verdict::Forward);
        assert_eq!(tc, xdp);
    }
    let _ = (COUNTER_COUNT, DROP_REASON_COUNT);
}

#[test]
#[ignore = "needs root"]
fn idle_flows_are_reclaimed_after_their_timeout_and_the_full_table_accepts_again() {
    // Room for two flows; UDP flows time out after 1 s (the config's
    // [conntrack]), swept every 100 ms.
    let opts = LoadOptions {
        flow_table_size: Some(4),
        sweep_every: Some(std::time::Duration::from_millis(100)),
        ..Default::default()
    };
    let topo = format!(
        "{TOPO}\n[conntrack]\nignore_aws_ranges = true\nudp_timeout = 1\nudp_stream_timeout = 1\n"
    );
    let fx = Fixture::with_options(&topo, "kpp", Hook::Tc, &opts);
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cmac, wmac) = (fx.mac("eni-client"), fx.mac("eni-web"));
    let q = |sport| pkt::udp(cmac, GATEWAY_MAC, c, w, sport, 53);
    for sport in [46000, 46001] {
        forwarded(
            &fx,
            Hook::Tc,
            "eni-client",
            &q(sport),
            wmac,
            &[FWD, CREATED],
        );
    }
    check(
        &fx,
        Hook::Tc,
        "eni-client",
        &q(46002),
        Verdict::Drop,
        None,
        &[(&drop_reason(DropReason::FlowTableFull), 1)],
    );
    // Keep one flow alive past the timeout; let the other go idle.
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(1600) {
        forwarded(&fx, Hook::Tc, "eni-client", &q(46000), wmac, &[FWD, HIT]);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let flows = fx.flows();
    assert_eq!(
        flows.len(),
        2,
        "the idle flow's two entries were reclaimed, the live flow's kept"
    );
    assert!(
        flows.iter().any(|(k, _)| k.sport == 46000u16.to_be_bytes()),
        "the live flow survived"
    );
    // And the table takes a new flow again.
    forwarded(
        &fx,
        Hook::Tc,
        "eni-client",
        &q(46002),
        wmac,
        &[FWD, CREATED],
    );
}

#[test]
#[ignore = "needs root"]
fn a_new_syn_from_the_former_responder_is_decided_as_a_new_connection() {
    let mut fx = Fixture::new(TOPO, "kpq");
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cmac, wmac) = (fx.mac("eni-client"), fx.mac("eni-web"));
    for hook in HOOKS {
        fx.clear_flows();
        let syn = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40003, 80, "S");
        forwarded(&fx, hook, "eni-client", &syn, wmac, &[FWD, CREATED]);
        let rst = pkt::tcp(wmac, GATEWAY_MAC, w, c, 80, 40003, "RA");
        forwarded(&fx, hook, "eni-web", &rst, cmac, &[FWD, HIT]);
        // web now opens a connection on the same tuple, the other way round:
        // not a late segment of the reset flow (flow_closed) but a first
        // packet, which client's empty ingress refuses.
        let back = pkt::tcp(wmac, GATEWAY_MAC, w, c, 80, 40003, "S");
        check(
            &fx,
            hook,
            "eni-web",
            &back,
            Verdict::Drop,
            None,
            &[(&drop_reason(DropReason::IngressSgDeny), 1)],
        );
        assert_eq!(
            fx.flows().len(),
            1,
            "{hook:?}: the old forward entry went with the restart"
        );
    }
}
