//! Flow events and per-flow counters through the real kernel
//! (BPF_PROG_TEST_RUN): what the flow logs are built from. The topology has
//! no `[flow_logs]`, so the agent does not drain the ring and the test reads
//! it itself; `LoadOptions::flow_events` switches the events on.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::net::Ipv4Addr;

use aya::{
    maps::RingBuf,
    programs::{TestRun, TestRunOptions},
};
use dataplane::{loader::LoadOptions, model::Hook};
use dataplane_common::{
    maps, Counter, DropReason, FlowEvent, FlowKey, FlowTotals, FLOW_EVENT_NEW, FLOW_EVENT_REJECT,
    FLOW_F_REPLY, GATEWAY_MAC, NO_ENI, PROTO_TCP, PROTO_UDP,
};
use hyperlab_tests::{fixtures, pkt, Fixture, Verdict};

/// client may send UDP 53 to web (allowed both ways by the groups) and TCP
/// 5432 to db, whose group admits only sg-web: a policy REJECT.
fn topo() -> String {
    fixtures::client_web(r#"{ protocol = "udp", ports = 53, peer = "sg-client" }"#) + DB
}

/// db, appended to [`fixtures::CLIENT_WEB`].
const DB: &str = include_str!("../fixtures/db-host.toml");

fn events_on() -> LoadOptions {
    LoadOptions {
        flow_events: true,
        ..Default::default()
    }
}

fn key(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, proto: u8) -> FlowKey {
    hyperlab_tests::stage::flow_key(0, src, dst, sport, dport, proto)
}

/// Everything in the ring buffer now.
fn drain(fx: &mut Fixture) -> Vec<FlowEvent> {
    let map = fx
        .agent
        .dataplane
        .map_mut(maps::FLOW_EVENTS)
        .expect("HL_FLOW_EVENTS");
    let mut ring = RingBuf::try_from(map).expect("a ring buffer");
    let mut out = Vec::new();
    while let Some(item) = ring.next() {
        assert_eq!(item.len(), size_of::<FlowEvent>(), "record size");
        // SAFETY: FlowEvent is plain integers, the record is exactly one.
        out.push(unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<FlowEvent>()) });
    }
    out
}

#[test]
#[ignore = "needs root"]
fn a_new_flow_and_a_rejected_packet_each_emit_one_exact_event() {
    let mut fx = Fixture::with_options(&topo(), "kfe", Hook::Tc, &events_on());
    assert!(drain(&mut fx).is_empty(), "no events before any traffic");
    let (c, w, d) = (fx.ip("eni-client"), fx.ip("eni-web"), fx.ip("eni-db"));
    let (ci, wi) = (fx.eni("eni-client") as u32, fx.eni("eni-web") as u32);
    let cmac = fx.mac("eni-client");
    let before = fx.snapshot();

    // Accepted: the first packet creates the flow (one event), the next
    // hits it (no event), on either hook.
    let q = pkt::udp(cmac, GATEWAY_MAC, c, w, 40000, 53);
    assert_eq!(fx.run(Hook::Tc, "eni-client", &q).verdict, Verdict::Forward);
    assert_eq!(
        fx.run(Hook::Xdp, "eni-client", &q).verdict,
        Verdict::Forward
    );
    // Rejected by db's ingress rules, twice: one event per packet.
    let syn = pkt::tcp(cmac, GATEWAY_MAC, c, d, 40001, 5432, "S");
    for hook in [Hook::Tc, Hook::Xdp] {
        assert_eq!(fx.run(hook, "eni-client", &syn).verdict, Verdict::Drop);
    }
    // Not policy decisions, so no events: no route, and ARP.
    let lost = pkt::udp(
        cmac,
        GATEWAY_MAC,
        c,
        "10.0.1.99".parse().unwrap(),
        40002,
        53,
    );
    assert_eq!(fx.run(Hook::Tc, "eni-client", &lost).verdict, Verdict::Drop);
    let arp = pkt::arp_request(cmac, c, "10.0.1.1".parse().unwrap());
    assert_eq!(
        fx.run(Hook::Xdp, "eni-client", &arp).verdict,
        Verdict::Reflect
    );

    let reject = FlowEvent {
        kind: FLOW_EVENT_REJECT,
        eni: ci,
        dst_eni: NO_ENI,
        reason: DropReason::IngressSgDeny as u32,
        key: key(c, d, 40001, 5432, PROTO_TCP),
        // IPv4 bytes: the frame without its Ethernet header.
        len: (syn.len() - 14) as u16,
        // The SYN, as flow logs' tcp-flags counts it.
        tcp_flags: 2,
        _pad: 0,
    };
    assert_eq!(
        drain(&mut fx),
        vec![
            FlowEvent {
                kind: FLOW_EVENT_NEW,
                eni: ci,
                dst_eni: wi,
                reason: 0,
                key: key(c, w, 40000, 53, PROTO_UDP),
                len: 0,
                tcp_flags: 0,
                _pad: 0,
            },
            reject,
            reject,
        ]
    );
    let delta = fx.snapshot().since(&before);
    assert_eq!(delta.count(Counter::FlowCreated), 1);
    assert_eq!(delta.count(Counter::FlowEventsLost), 0);
    assert_eq!(delta.drop_count(DropReason::IngressSgDeny), 2);
    assert_eq!(delta.drop_count(DropReason::NoRoute), 1);
}

#[test]
#[ignore = "needs root"]
fn each_direction_of_a_flow_counts_its_packets_and_ip_bytes_exactly() {
    let mut fx = Fixture::with_options(&topo(), "kfc", Hook::Tc, &events_on());
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cmac, wmac) = (fx.mac("eni-client"), fx.mac("eni-web"));
    let q = pkt::udp(cmac, GATEWAY_MAC, c, w, 40000, 53);
    let a = pkt::udp(wmac, GATEWAY_MAC, w, c, 53, 40000);
    // 5 queries (3 TC, 2 XDP; the first creates the flow), 2 answers.
    for hook in [Hook::Tc, Hook::Xdp, Hook::Tc, Hook::Xdp, Hook::Tc] {
        assert_eq!(fx.run(hook, "eni-client", &q).verdict, Verdict::Forward);
    }
    for hook in [Hook::Xdp, Hook::Tc] {
        assert_eq!(fx.run(hook, "eni-web", &a).verdict, Verdict::Forward);
    }
    // A dropped packet of the flow is not counted: a mangled total length.
    let mut bad = q.clone();
    bad[16] = 0xff;
    pkt::fix_ip_checksum(&mut bad);
    assert_eq!(fx.run(Hook::Tc, "eni-client", &bad).verdict, Verdict::Drop);

    let ip_bytes = (q.len() - 14) as u64;
    assert_eq!(
        ip_bytes,
        20 + 8 + 12,
        "IPv4 + UDP headers + 12-byte payload"
    );
    let mut counts: Vec<(bool, FlowKey, u64, u64)> = fx
        .flows()
        .into_iter()
        .map(|(k, e)| {
            (
                e.flags & FLOW_F_REPLY != 0,
                k,
                e.totals.packets,
                e.totals.bytes,
            )
        })
        .collect();
    counts.sort_by_key(|c| c.0);
    assert_eq!(
        counts,
        vec![
            (false, key(c, w, 40000, 53, PROTO_UDP), 5, 5 * ip_bytes),
            (true, key(w, c, 53, 40000, PROTO_UDP), 2, 2 * ip_bytes),
        ]
    );
    assert_eq!(drain(&mut fx).len(), 1, "one NEW_FLOW for the flow");
}

#[test]
#[ignore = "needs root"]
fn with_flow_events_off_the_ring_stays_empty() {
    let mut fx = Fixture::new(&topo(), "kfo");
    let (c, w, d) = (fx.ip("eni-client"), fx.ip("eni-web"), fx.ip("eni-db"));
    let cmac = fx.mac("eni-client");
    let q = pkt::udp(cmac, GATEWAY_MAC, c, w, 40000, 53);
    assert_eq!(fx.run(Hook::Tc, "eni-client", &q).verdict, Verdict::Forward);
    let syn = pkt::tcp(cmac, GATEWAY_MAC, c, d, 40001, 5432, "S");
    assert_eq!(fx.run(Hook::Tc, "eni-client", &syn).verdict, Verdict::Drop);
    assert!(drain(&mut fx).is_empty());
    // The flow still counts its packets: `dataplane flows` shows them.
    let fwd = fx
        .flows()
        .into_iter()
        .find(|(_, e)| e.flags & FLOW_F_REPLY == 0)
        .expect("the flow")
        .1;
    assert_eq!(
        (fwd.totals.packets, fwd.totals.bytes),
        (1, (q.len() - 14) as u64)
    );
}

#[test]
#[ignore = "needs root"]
fn a_full_ring_counts_lost_events_and_still_forwards_the_packet() {
    let mut fx = Fixture::with_options(&topo(), "kfl", Hook::Tc, &events_on());
    let (c, w, d) = (fx.ip("eni-client"), fx.ip("eni-web"), fx.ip("eni-db"));
    let cmac = fx.mac("eni-client");
    let syn = pkt::tcp(cmac, GATEWAY_MAC, c, d, 40001, 5432, "S");
    let before = fx.snapshot();
    // 6,000 rejects into a ring that holds 262,144 / 48 = 5,461 records
    // (40-byte event + 8-byte header) while nobody reads it.
    let ctx = hyperlab_tests::skb_ctx(fx.port_ifindex("eni-client"));
    let dp = &fx.agent.dataplane;
    let ret = dataplane::netns::scoped_in(&fx.agent.plan.fabric_ns, || {
        let mut out = vec![0u8; syn.len() + 256];
        let r = dp.tc().test_run(TestRunOptions {
            data_in: Some(&syn),
            data_out: Some(&mut out),
            ctx_in: Some(&ctx),
            repeat: 6000,
            ..Default::default()
        })?;
        Ok(r.return_value)
    })
    .expect("test run");
    assert_eq!(Verdict::from_raw(Hook::Tc, ret), Verdict::Drop);
    let q = pkt::udp(cmac, GATEWAY_MAC, c, w, 40000, 53);
    assert_eq!(
        fx.run(Hook::Tc, "eni-client", &q).verdict,
        Verdict::Forward,
        "a lost NEW_FLOW event costs nothing but the event"
    );
    let delta = fx.snapshot().since(&before);
    assert_eq!(delta.drop_count(DropReason::IngressSgDeny), 6000);
    assert_eq!(delta.count(Counter::FlowCreated), 1);
    assert_eq!(delta.count(Counter::FlowEventsLost), 6000 - 5461 + 1);
    let events = drain(&mut fx);
    assert_eq!(events.len(), 5461);
    assert!(events.iter().all(|e| e.kind == FLOW_EVENT_REJECT));
    // Drained, the ring records again.
    let q2 = pkt::udp(cmac, GATEWAY_MAC, c, w, 40003, 53);
    assert_eq!(
        fx.run(Hook::Tc, "eni-client", &q2).verdict,
        Verdict::Forward
    );
    assert_eq!(drain(&mut fx).len(), 1);
}

/// Network-ACL drops are policy decisions: flow logs record them as
/// REJECT, on a first packet and on a packet of a tracked flow alike (ACLs
/// judge every packet). `configs/network-acls.toml`: acl-web's rule 90
/// denies TCP 22 in; a reload that denies port 80 cuts the tracked flow.
#[test]
#[ignore = "needs root"]
fn network_acl_drops_are_rejects_on_first_packets_and_flow_hits() {
    let text = hyperlab_tests::shipped_config("network-acls.toml", "nacl");
    let mut fx = Fixture::with_options(&text, "kfn", Hook::Tc, &events_on());
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let ci = fx.eni("eni-client") as u32;
    let cmac = fx.mac("eni-client");
    let ssh = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40000, 22, "S");
    assert_eq!(fx.run(Hook::Tc, "eni-client", &ssh).verdict, Verdict::Drop);
    let web = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40001, 80, "S");
    assert_eq!(
        fx.run(Hook::Tc, "eni-client", &web).verdict,
        Verdict::Forward
    );
    let name = fx.agent.topo.lab.name.clone();
    let denied = text.replace(
        r#"{ rule = 100, action = "allow", protocol = "tcp", ports = 80, cidr = "10.0.1.0/24" },"#,
        r#"{ rule = 100, action = "deny", protocol = "tcp", ports = 80, cidr = "10.0.1.0/24" },"#,
    );
    assert_ne!(denied, text, "the rule to flip is in the shipped config");
    fx.agent
        .reload(hyperlab_tests::topology(&denied, &name))
        .expect("reload");
    let ack = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40001, 80, "A");
    assert_eq!(fx.run(Hook::Tc, "eni-client", &ack).verdict, Verdict::Drop);
    let reject = |sport, dport, len: usize, tcp_flags| FlowEvent {
        kind: FLOW_EVENT_REJECT,
        eni: ci,
        dst_eni: NO_ENI,
        reason: DropReason::NaclIngressDeny as u32,
        key: key(c, w, sport, dport, PROTO_TCP),
        len: (len - 14) as u16,
        tcp_flags,
        _pad: 0,
    };
    let events = drain(&mut fx);
    assert_eq!(events.len(), 3, "{events:?}");
    // A SYN (2), then a plain ACK (0).
    assert_eq!(events[0], reject(40000, 22, ssh.len(), 2));
    assert_eq!(events[1].kind, FLOW_EVENT_NEW);
    assert_eq!(events[2], reject(40001, 80, ack.len(), 0));
}

#[test]
#[ignore = "needs root"]
fn each_direction_ors_the_tcp_flags_flow_logs_count() {
    let text = fixtures::client_web(
        r#"{ protocol = "udp", ports = 53, peer = "sg-client" }, { protocol = "tcp", ports = 80, peer = "sg-client" }"#,
    );
    let fx = Fixture::with_options(&text, "kff", Hook::Tc, &events_on());
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cmac, wmac) = (fx.mac("eni-client"), fx.mac("eni-web"));
    // A UDP flow: no flags.
    let q = pkt::udp(cmac, GATEWAY_MAC, c, w, 40000, 53);
    assert_eq!(fx.run(Hook::Tc, "eni-client", &q).verdict, Verdict::Forward);
    let flags_now = |fx: &Fixture| -> Vec<(bool, u8, u8)> {
        let mut v: Vec<(bool, u8, u8)> = fx
            .flows()
            .into_iter()
            .map(|(k, e)| {
                let window = FlowTotals::of(&e.cpus, fx.flow_window());
                (e.flags & FLOW_F_REPLY != 0, k.proto, window.tcp_flags)
            })
            .collect();
        v.sort();
        v
    };
    let out = |f: &str| pkt::tcp(cmac, GATEWAY_MAC, c, w, 40001, 80, f);
    let back = |f: &str| pkt::tcp(wmac, GATEWAY_MAC, w, c, 80, 40001, f);
    // (sender, segment, both directions' ORs after it: forward, reply).
    let steps: [(bool, &str, u8, u8); 6] = [
        (true, "S", 2, 0),
        (false, "SA", 2, 18),
        (true, "A", 2, 18),
        (true, "PA", 2, 18),
        (true, "FA", 3, 18),
        (false, "RA", 3, 22),
    ];
    for (i, (client, f, fwd, rev)) in steps.iter().enumerate() {
        let hook = if i % 2 == 0 { Hook::Tc } else { Hook::Xdp };
        let (from, frame) = if *client {
            ("eni-client", out(f))
        } else {
            ("eni-web", back(f))
        };
        assert_eq!(fx.run(hook, from, &frame).verdict, Verdict::Forward, "{f}");
        assert_eq!(
            flags_now(&fx),
            [
                (false, PROTO_TCP, *fwd),
                (false, PROTO_UDP, 0),
                (true, PROTO_TCP, *rev),
                (true, PROTO_UDP, 0)
            ],
            "after {f} from {from}"
        );
    }
}

/// The shipped HTTP VPC link lab, under a lab name of the test's own.
fn http_link() -> String {
    let src = std::fs::read_to_string(hyperlab_tests::config_path("http-vpc-link.toml")).unwrap();
    let name = "name = \"httplink\"";
    assert!(src.contains(name));
    src.replace(name, "name = \"@LAB@\"")
}

/// The shipped HTTP VPC link lab, with the link's own groups allowing it
/// out to port 80 only: a request to the Cloud Map integration (port 9000)
/// is refused by the link's egress rules.
fn http_link_egress_80() -> String {
    let src = http_link();
    let sg = "id = \"sg-link\"\nvpc = \"vpc-cust\"\ningress = []\n";
    assert!(src.contains(sg));
    src.replace(
        sg,
        &format!("{sg}egress = [ {{ protocol = \"tcp\", ports = 80, peer = \"10.0.0.0/16\" }} ]\n"),
    )
}

/// The event of the SYN `syn` refused for `r` at interface `eni`, with `key`.
fn syn_refused(kind: u32, eni: u32, r: DropReason, key: FlowKey, syn: &[u8]) -> FlowEvent {
    FlowEvent {
        kind,
        eni,
        dst_eni: NO_ENI,
        reason: r as u32,
        key,
        len: (syn.len() - 14) as u16,
        tcp_flags: 2,
        _pad: 0,
    }
}

/// The event of the SYN `syn` that the model refuses after translation
/// (`Model::rejected_after_nat`): at the target, with the tuple it would
/// have seen (to `port`).
fn refused_after_nat(
    topo: &dataplane::model::Topology,
    (r, c, vpc): (DropReason, hyperlab_tests::reference::Choice, usize),
    port: u16,
    syn: &[u8],
) -> FlowEvent {
    let key = hyperlab_tests::stage::flow_key(
        vpc as u32,
        c.source,
        topo.enis[c.target_eni].ip,
        c.nat_port,
        port,
        PROTO_TCP,
    );
    let kind = dataplane_common::FLOW_EVENT_REJECT_TRANSLATED;
    syn_refused(kind, c.target_eni as u32, r, key, syn)
}

#[test]
#[ignore = "needs root"]
fn a_reject_after_translation_carries_the_tuple_the_target_would_have_seen() {
    use hyperlab_tests::reference::Model;
    let mut fx = Fixture::with_options(&http_link_egress_80(), "kft", Hook::Tc, &events_on());
    let topo = fx.agent.topo.clone();
    let (api, amac) = (fx.ip("eni-apigw"), fx.mac("eni-apigw"));
    let ai = fx.eni("eni-apigw");
    let api_vpc = topo.eni_vpc(ai);
    let before = fx.snapshot();
    // The Cloud Map integrations (port 9000; targets in either AZ, so
    // either link ENI): the link may not send to 9000.
    let cases = [
        ("10.1.1.204", 9000, DropReason::LinkEgressSgDeny),
        ("10.1.1.203", 9000, DropReason::LinkEgressSgDeny),
    ];
    let mut want = Vec::new();
    for (i, (dst, port, reason)) in cases.iter().enumerate() {
        let dst: Ipv4Addr = dst.parse().unwrap();
        let sport = 41000 + i as u16;
        let syn = pkt::tcp(amac, GATEWAY_MAC, api, dst, sport, *port, "S");
        for hook in [Hook::Tc, Hook::Xdp] {
            assert_eq!(fx.run(hook, "eni-apigw", &syn).verdict, Verdict::Drop);
            // The model, independently: the target, the source it would
            // see and the first NAT port.
            let (r, c, vpc) = Model::new(&topo, None)
                .rejected_after_nat(api_vpc, &syn)
                .expect("refused after translation");
            assert_eq!(r, *reason);
            let target_port = c.target_port;
            want.push(refused_after_nat(&topo, (r, c, vpc), target_port, &syn));
            let key =
                hyperlab_tests::stage::flow_key(api_vpc as u32, api, dst, sport, *port, PROTO_TCP);
            want.push(syn_refused(FLOW_EVENT_REJECT, ai as u32, r, key, &syn));
        }
    }
    assert_eq!(drain(&mut fx), want);
    let delta = fx.snapshot().since(&before);
    assert_eq!(delta.count(Counter::FlowRejectsTranslated), 4);
    assert_eq!(delta.drop_count(DropReason::LinkEgressSgDeny), 4);
    assert_eq!(delta.count(Counter::FlowEventsLost), 0);

    // The target's own rules: the shipped lab, whose int-locked target
    // admits an office range only.
    drop(fx);
    let mut fx = Fixture::with_options(&http_link(), "kfu", Hook::Tc, &events_on());
    let topo = fx.agent.topo.clone();
    let syn = pkt::tcp(
        amac,
        GATEWAY_MAC,
        api,
        "10.1.1.204".parse().unwrap(),
        42000,
        9000,
        "S",
    );
    assert_eq!(fx.run(Hook::Xdp, "eni-apigw", &syn).verdict, Verdict::Drop);
    let (r, c, vpc) = Model::new(&topo, None)
        .rejected_after_nat(api_vpc, &syn)
        .unwrap();
    assert_eq!(r, DropReason::TargetIngressSgDeny);
    assert_eq!(c.target_eni, fx.eni("eni-locked"));
    let got = drain(&mut fx);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], refused_after_nat(&topo, (r, c, vpc), 9000, &syn));
    assert_eq!((got[1].kind, got[1].reason), (FLOW_EVENT_REJECT, r as u32));
}
