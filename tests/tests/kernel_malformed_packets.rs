//! The malformed-packet corpus: every valid packet (TCP, UDP, ICMP echo,
//! ARP) cut at every byte offset, and the classic parser traps (IHL, IPv4
//! options, fragments, total length, TCP data offset, VLAN tags, IPv6, ARP
//! of other hosts, empty UDP, ICMP errors quoting a tracked flow or not), each with
//! its documented outcome (docs/DATAPLANE.md, `DropReason`) asserted exactly
//! on both hooks: return code, the exact counter that moves, and the output
//! bytes (untouched for drops; for forwards equal to the reference model's
//! and passing the isolation/rewrite/checksum properties). The reference
//! model must predict the same outcome. A table of outcomes per class is
//! printed (run with --nocapture to see it).
//!
//! BPF_PROG_TEST_RUN refuses some frames before any program runs: shorter
//! than an Ethernet header on both hooks, and IPv4- (IPv6-) typed frames
//! shorter than an IPv4 (IPv6) header on the skb (TC) runner. Those cases
//! assert the refusal (EINVAL) instead, and the XDP outcome where XDP takes
//! the frame.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::collections::BTreeMap;

use dataplane::{model::Hook, netns};
use dataplane_common::{Counter, DropReason, GATEWAY_MAC};
use hyperlab_tests::{
    differential::{
        frames::{self, Ip, L4},
        packet_gen::tc_can_run,
        props::{self, Kind},
        return_code, test_run,
    },
    pkt,
    reference::{Model, Port, Verdict},
    Fixture, HOOKS,
};

/// vpc-c: client, web, and an interface endpoint (10.0.1.100) to vpc-p's
/// NLB (tcp/80 -> target:8080, udp/53 -> target:5353, one node).
const TOPO: &str = include_str!("../fixtures/kernel-malformed.toml");

const CLIENT: [u8; 4] = [10, 0, 1, 10];
const WEB: [u8; 4] = [10, 0, 1, 20];
const VPCE: [u8; 4] = [10, 0, 1, 100];
const TARGET: [u8; 4] = [10, 0, 1, 21];
const NODE: [u8; 4] = [10, 0, 1, 50];

/// The documented outcome of a case (on a hook whose runner takes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Forward(&'static str),
    Reflect,
    Drop(DropReason),
}

struct Case {
    class: &'static str,
    name: String,
    from: &'static str,
    /// Sent first (each must be forwarded), e.g. to track a flow.
    setup: Vec<(&'static str, Vec<u8>)>,
    frame: Vec<u8>,
    expect: Expect,
}

fn mac(fx: &Fixture, id: &str) -> [u8; 6] {
    fx.mac(id)
}

fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> L4 {
    L4::Tcp {
        sport,
        dport,
        seq: 1000,
        ack: 0,
        flags,
        options: Vec::new(),
        payload: payload.to_vec(),
    }
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> L4 {
    L4::Udp {
        sport,
        dport,
        payload: payload.to_vec(),
        checksum: true,
    }
}

fn echo(id: u16, payload: &[u8]) -> L4 {
    L4::Icmp {
        kind: 8,
        code: 0,
        id,
        seq: 1,
        payload: payload.to_vec(),
    }
}

/// Every case of the corpus, grouped by class.
fn corpus(fx: &Fixture) -> Vec<Case> {
    let cmac = mac(fx, "eni-client");
    let wmac = mac(fx, "eni-web");
    let tmac = mac(fx, "eni-target");
    let from_client =
        |dst: [u8; 4], l4: &L4| frames::ipv4(GATEWAY_MAC, cmac, &Ip::new(CLIENT, dst), l4);
    let syn = from_client(WEB, &tcp(40000, 80, 0x02, b"hyperlab"));
    let dgram = from_client(WEB, &udp(5000, 53, b"hyperlab-udp"));
    let ping = from_client(WEB, &echo(7, b"ping-payload"));
    let arp = frames::arp([0xff; 6], cmac, 1, cmac, CLIENT, [0; 6], [10, 0, 1, 1]);
    let mut out = Vec::new();
    let mut add = |class: &'static str, name: String, frame: Vec<u8>, expect: Expect| {
        out.push(Case {
            class,
            name,
            from: "eni-client",
            setup: Vec::new(),
            frame,
            expect,
        });
    };

    // Every valid packet cut at every byte offset (the frame as received:
    // the IPv4 total length still claims the whole packet).
    for (what, base) in [("tcp", &syn), ("udp", &dgram), ("icmp", &ping)] {
        for n in 0..=base.len() {
            let expect = match n {
                _ if n == base.len() => Expect::Forward("eni-web"),
                0..=33 => Expect::Drop(DropReason::TruncatedIpv4),
                _ => Expect::Drop(DropReason::BadTotalLength),
            };
            add(
                "truncated frame",
                format!("{what} cut to {n} bytes"),
                base[..n].to_vec(),
                expect,
            );
        }
    }
    for n in 0..=arp.len() {
        let expect = if n == arp.len() {
            Expect::Reflect
        } else {
            Expect::Drop(DropReason::ArpIgnored)
        };
        add(
            "truncated frame",
            format!("arp cut to {n} bytes"),
            arp[..n].to_vec(),
            expect,
        );
    }
    // The IP packet cut short consistently (total length and header
    // checksum fixed): the L4 header is what is missing.
    for (what, base, header, full_len) in [
        ("tcp", &syn, 20, 28),
        ("udp", &dgram, 8, 20),
        ("icmp", &ping, 8, 20),
    ] {
        for k in 0..=full_len {
            let mut f = base[..34 + k].to_vec();
            f[16..18].copy_from_slice(&(20 + k as u16).to_be_bytes());
            frames::fix_ip_checksum(&mut f);
            // UDP: its length field still claims 20 bytes until the end.
            let ok = k >= header && (what != "udp" || k == full_len);
            let expect = if ok {
                Expect::Forward("eni-web")
            } else {
                Expect::Drop(DropReason::TruncatedL4)
            };
            add(
                "ip payload cut",
                format!("{what} with {k} L4 bytes"),
                f,
                expect,
            );
        }
    }

    // IHL: below 5, past the frame, past the total length.
    for ihl in 0..=15u8 {
        let mut f = syn.clone();
        f[14] = 0x40 | ihl;
        frames::fix_ip_checksum(&mut f);
        let expect = match ihl {
            0..=4 | 13.. => Expect::Drop(DropReason::BadIhl), // 14 + 4*13 > 62 bytes
            5 => Expect::Forward("eni-web"),
            // The "TCP header" would start where fewer than 20 bytes of the
            // 48-byte packet are left.
            8..=12 => Expect::Drop(DropReason::TruncatedL4),
            // 6, 7: the L4 header is read from the wrong place; covered by
            // the differential tests.
            _ => continue,
        };
        add("ihl", format!("IHL {ihl}"), f, expect);
    }

    // IPv4 options (IHL 6..15) are skipped: forwarded, and translated at
    // the right offsets through PrivateLink.
    for words in 1..=10usize {
        let opts: Vec<u8> = (0..words * 4).map(|i| if i == 0 { 7 } else { 1 }).collect();
        for (what, dst, port, to) in [
            ("plain", WEB, 80, "eni-web"),
            ("privatelink", VPCE, 80, "eni-target"),
        ] {
            let ip = Ip {
                options: opts.clone(),
                ..Ip::new(CLIENT, dst)
            };
            let f = frames::ipv4(
                GATEWAY_MAC,
                cmac,
                &ip,
                &tcp(41000 + words as u16, port, 0x02, b"opt"),
            );
            add(
                "ipv4 options",
                format!("{what} tcp with {} option bytes", words * 4),
                f,
                Expect::Forward(to),
            );
            let f = frames::ipv4(GATEWAY_MAC, cmac, &ip, &echo(100 + words as u16, b"opt"));
            add(
                "ipv4 options",
                format!("{what} echo with {} option bytes", words * 4),
                f,
                Expect::Forward(to),
            );
        }
    }

    // Fragments: any MF or offset drops; DF and the reserved bit do not
    // make a fragment.
    for (what, base) in [("tcp", &syn), ("udp", &dgram), ("icmp", &ping)] {
        for (name, hi, lo, expect) in [
            (
                "first fragment (MF)",
                0x20u8,
                0u8,
                Expect::Drop(DropReason::Fragment),
            ),
            (
                "middle fragment (MF, offset 8)",
                0x20,
                1,
                Expect::Drop(DropReason::Fragment),
            ),
            (
                "last fragment (offset 8)",
                0x00,
                1,
                Expect::Drop(DropReason::Fragment),
            ),
            (
                "last fragment (offset 65528)",
                0x1f,
                0xff,
                Expect::Drop(DropReason::Fragment),
            ),
            ("DF + MF", 0x60, 0, Expect::Drop(DropReason::Fragment)),
            ("DF only", 0x40, 0, Expect::Forward("eni-web")),
            ("reserved bit", 0x80, 0, Expect::Forward("eni-web")),
        ] {
            let mut f = base.clone();
            f[20] = hi;
            f[21] = lo;
            frames::fix_ip_checksum(&mut f);
            add("fragments", format!("{what} {name}"), f, expect);
        }
    }

    // Total length larger than the frame, smaller than the header, and
    // smaller than the frame (Ethernet padding, kept as it is).
    for (what, base) in [("tcp", &syn), ("udp", &dgram), ("icmp", &ping)] {
        let tot = base.len() as u16 - 14;
        let past_the_frame = (1..=8u16).map(|d| (tot + d, format!("frame+{d}")));
        let below_the_header = [0u16, 1, 19].map(|t| (t, t.to_string()));
        for (t, label) in past_the_frame.chain(below_the_header) {
            let mut f = base.clone();
            f[16..18].copy_from_slice(&t.to_be_bytes());
            frames::fix_ip_checksum(&mut f);
            add(
                "total length",
                format!("{what} total length {label}"),
                f,
                Expect::Drop(DropReason::BadTotalLength),
            );
        }
        for pad in [1usize, 6, 20] {
            let mut f = base.clone();
            f.extend(std::iter::repeat_n(0xa5, pad));
            add(
                "total length",
                format!("{what} with {pad} bytes of Ethernet padding"),
                f,
                Expect::Forward("eni-web"),
            );
        }
    }

    // TCP data offset: below 5, in range (options), past the segment.
    for doff in 0..=15u8 {
        let mut f = syn.clone();
        f[46] = doff << 4;
        let expect = match doff {
            5..=7 => Expect::Forward("eni-web"), // 28-byte segment
            _ => Expect::Drop(DropReason::BadTcpDataOffset),
        };
        add("tcp data offset", format!("data offset {doff}"), f, expect);
    }

    // 802.1Q / 802.1ad tags and IPv6.
    for (name, tag) in [("802.1Q", [0x81, 0x00]), ("802.1ad", [0x88, 0xa8])] {
        for (what, base) in [("tcp", &syn), ("arp", &arp)] {
            let mut f = base[..12].to_vec();
            f.extend_from_slice(&tag);
            f.extend_from_slice(&[0x00, 0x64]);
            f.extend_from_slice(&base[12..]);
            add(
                "vlan",
                format!("{name}-tagged {what}"),
                f,
                Expect::Drop(DropReason::NotIpv4),
            );
        }
    }
    let v6 = {
        let mut f = GATEWAY_MAC.to_vec();
        f.extend_from_slice(&cmac);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 8, 17, 64]);
        f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]);
        f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20]);
        f.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 8, 0, 0]);
        f
    };
    add(
        "ipv6",
        "IPv6/UDP".into(),
        v6.clone(),
        Expect::Drop(DropReason::NotIpv4),
    );
    add(
        "ipv6",
        "IPv6 header only".into(),
        v6[..54].to_vec(),
        Expect::Drop(DropReason::NotIpv4),
    );
    add(
        "ipv6",
        "IPv6 header cut short".into(),
        v6[..40].to_vec(),
        Expect::Drop(DropReason::NotIpv4),
    );
    let mut v4_in_v6 = syn.clone();
    v4_in_v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    add(
        "ipv6",
        "IPv4 packet under the IPv6 EtherType".into(),
        v4_in_v6,
        Expect::Drop(DropReason::NotIpv4),
    );
    let mut v6_in_v4 = syn.clone();
    v6_in_v4[14] = 0x65;
    add(
        "ipv6",
        "version 6 under the IPv4 EtherType".into(),
        v6_in_v4,
        Expect::Drop(DropReason::BadIpVersion),
    );

    // ARP: only requests a host makes for itself (or an address probe) are answered.
    let web_ip = [10, 0, 1, 20];
    // The request for the gateway, edited.
    let arp_with = |edit: &dyn Fn(&mut Vec<u8>)| pkt::edited(&arp, edit);
    let arp_cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("request for the gateway", arp.clone(), Expect::Reflect),
        (
            "request for a peer",
            frames::arp([0xff; 6], cmac, 1, cmac, CLIENT, [0; 6], WEB),
            Expect::Reflect,
        ),
        (
            "request for an address outside the VPC",
            frames::arp([0xff; 6], cmac, 1, cmac, CLIENT, [0; 6], [192, 0, 2, 1]),
            Expect::Reflect,
        ),
        (
            "address probe (sender 0.0.0.0)",
            frames::arp([0xff; 6], cmac, 1, cmac, [0; 4], [0; 6], CLIENT),
            Expect::Reflect,
        ),
        (
            "request on behalf of another host",
            frames::arp([0xff; 6], cmac, 1, wmac, web_ip, [0; 6], [10, 0, 1, 1]),
            Expect::Drop(DropReason::ArpIgnored),
        ),
        (
            "request from an address of no host",
            frames::arp(
                [0xff; 6],
                cmac,
                1,
                cmac,
                [10, 0, 1, 99],
                [0; 6],
                [10, 0, 1, 1],
            ),
            Expect::Drop(DropReason::ArpIgnored),
        ),
        (
            "gratuitous request",
            frames::arp([0xff; 6], cmac, 1, cmac, CLIENT, [0; 6], CLIENT),
            Expect::Drop(DropReason::ArpIgnored),
        ),
        (
            "reply of the host",
            frames::arp(
                GATEWAY_MAC,
                cmac,
                2,
                cmac,
                CLIENT,
                GATEWAY_MAC,
                [10, 0, 1, 1],
            ),
            Expect::Drop(DropReason::ArpIgnored),
        ),
        (
            "reply of another host",
            frames::arp([0xff; 6], cmac, 2, wmac, web_ip, cmac, CLIENT),
            Expect::Drop(DropReason::ArpIgnored),
        ),
        (
            "gratuitous reply",
            frames::arp([0xff; 6], cmac, 2, cmac, CLIENT, [0xff; 6], CLIENT),
            Expect::Drop(DropReason::ArpIgnored),
        ),
        (
            "hardware type 6 (IEEE 802)",
            arp_with(&|f| f[15] = 6),
            Expect::Drop(DropReason::ArpIgnored),
        ),
        (
            "protocol type IPv6",
            arp_with(&|f| f[16..18].copy_from_slice(&[0x86, 0xdd])),
            Expect::Drop(DropReason::ArpIgnored),
        ),
        (
            "protocol address length 16",
            arp_with(&|f| f[19] = 16),
            Expect::Drop(DropReason::ArpIgnored),
        ),
        (
            "RARP opcode 3",
            arp_with(&|f| f[21] = 3),
            Expect::Drop(DropReason::ArpIgnored),
        ),
        (
            "request padded to 60 bytes",
            arp_with(&|f| f.extend([0u8; 18])),
            Expect::Reflect,
        ),
    ];
    for (name, f, expect) in arp_cases {
        add("arp", name.into(), f, expect);
    }

    // Empty UDP datagrams, with and without checksum, plain and translated.
    for (what, dst, dport, to) in [
        ("plain", WEB, 53, "eni-web"),
        ("privatelink", VPCE, 53, "eni-target"),
    ] {
        for checksum in [true, false] {
            let l4 = L4::Udp {
                sport: 5001,
                dport,
                payload: Vec::new(),
                checksum,
            };
            let f = frames::ipv4(GATEWAY_MAC, cmac, &Ip::new(CLIENT, dst), &l4);
            let name = format!(
                "{what}, {}",
                if checksum {
                    "with checksum"
                } else {
                    "checksum 0"
                }
            );
            add("empty udp", name, f, Expect::Forward(to));
        }
    }

    // ICMP errors quoting a tracked flow (RFC 792's minimum quote: the
    // IPv4 header and 8 bytes): the server's and the PrivateLink target's
    // reach the client (through the endpoint, from its address); the
    // client's own, about a packet it sent, quotes no packet it received
    // (icmp_error_no_flow); a redirect is no error (unsupported_icmp).
    let quote = |f: &[u8]| f[14..14 + 28].to_vec();
    let icmp_err = |kind: u8, code: u8, quoted: Vec<u8>| {
        // Bytes 4..8: unused, or the next-hop MTU for "fragmentation needed".
        L4::Icmp {
            kind,
            code,
            id: 0,
            seq: if kind == 3 && code == 4 { 1400 } else { 0 },
            payload: quoted,
        }
    };
    let syn_pl = from_client(VPCE, &tcp(42000, 80, 0x02, b"x"));
    // What the target received for `syn_pl` (single target, SNAT port from the hash).
    let mut m = Model::new(&fx.agent.topo, None);
    let translated = m.process(Port::Eni(fx.eni("eni-client")), &syn_pl).out;
    for (kind, code, name) in [
        (3u8, 3u8, "port unreachable"),
        (3, 4, "fragmentation needed"),
        (11, 0, "time exceeded"),
        (5, 1, "redirect"),
    ] {
        // (who sends it, from where, what it quotes, the flow's first packet)
        for (who, from, mac, ip, quoted, first, delivered) in [
            (
                "the server",
                "eni-web",
                wmac,
                Ip::new(WEB, CLIENT),
                &syn,
                &syn,
                Expect::Forward("eni-client"),
            ),
            (
                "the client",
                "eni-client",
                cmac,
                Ip::new(CLIENT, WEB),
                &syn,
                &syn,
                Expect::Drop(DropReason::IcmpErrorNoFlow),
            ),
            (
                "a PrivateLink target",
                "eni-target",
                tmac,
                Ip::new(TARGET, NODE),
                &translated,
                &syn_pl,
                Expect::Forward("eni-client"),
            ),
        ] {
            out.push(Case {
                class: "icmp error quoting a flow",
                name: format!("{name} from {who}"),
                from,
                setup: vec![("eni-client", first.clone())],
                frame: frames::ipv4(GATEWAY_MAC, mac, &ip, &icmp_err(kind, code, quote(quoted))),
                expect: if kind == 5 {
                    Expect::Drop(DropReason::UnsupportedIcmp)
                } else {
                    delivered
                },
            });
        }
    }
    out
}

/// One test run inside the fabric namespace; Err: the runner refused it.
fn run(fx: &Fixture, hook: Hook, ifindex: u32, frame: &[u8]) -> Result<(u32, Vec<u8>), String> {
    let dp = &fx.agent.dataplane;
    netns::scoped_in(&fx.agent.plan.fabric_ns, || {
        Ok(test_run(dp, hook, ifindex, frame).map_err(|e| format!("{e:#}")))
    })
    .expect("entering the fabric namespace")
}

/// Which runner takes a frame at all (see the module comment).
fn runner_takes(hook: Hook, f: &[u8]) -> bool {
    f.len() >= 14 && (hook == Hook::Xdp || tc_can_run(f))
}

fn verdict_of(fx: &Fixture, e: Expect) -> Verdict {
    match e {
        Expect::Forward(id) => Verdict::Forward { eni: fx.eni(id) },
        Expect::Reflect => Verdict::Reflect,
        Expect::Drop(r) => Verdict::Drop(r),
    }
}

#[test]
#[ignore = "needs root"]
fn every_malformed_case_gets_its_documented_outcome_on_both_hooks() {
    let mut fx = Fixture::new(TOPO, "mal");
    let cases = corpus(&fx);
    let topo = fx.agent.topo.clone();
    // class -> outcome -> count (over cases, both hooks agreeing).
    let mut table: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut runs = 0;
    for c in &cases {
        let want = verdict_of(&fx, c.expect);
        let from = fx.eni(c.from);
        let mut outcomes = Vec::new();
        for hook in HOOKS {
            let what = format!("[{}] {} ({hook:?})", c.class, c.name);
            fx.clear_flows();
            let mut model = Model::new(&topo, None);
            for (sender, f) in &c.setup {
                let (ret, _) =
                    run(&fx, hook, fx.port_ifindex(sender), f).expect("setup frame runs");
                let m = model.process(Port::Eni(fx.eni(sender)), f);
                assert!(
                    matches!(m.verdict, Verdict::Forward { .. }),
                    "{what}: setup forwarded by the model"
                );
                assert_eq!(
                    ret,
                    return_code(hook, &m.verdict),
                    "{what}: setup forwarded"
                );
            }
            let before = fx.snapshot();
            let r = run(&fx, hook, fx.port_ifindex(c.from), &c.frame);
            if !runner_takes(hook, &c.frame) {
                let err = r.expect_err(&format!(
                    "{what}: the runner takes a frame it is documented to refuse"
                ));
                assert!(
                    err.contains("os error 22") || err.contains("Invalid argument"),
                    "{what}: {err}"
                );
                let d = fx.snapshot().since(&before);
                assert_eq!(
                    d,
                    Model::new(&topo, None).counters().clone(),
                    "{what}: nothing counted"
                );
                outcomes.push("refused by the runner".to_string());
                continue;
            }
            let (ret, out) = r.unwrap_or_else(|e| panic!("{what}: runner refused the frame: {e}"));
            runs += 1;
            assert_eq!(
                ret,
                return_code(hook, &want),
                "{what}: return code (expected {want:?})"
            );
            let d = fx.snapshot().since(&before);
            let moved: Vec<(String, u64)> = DropReason::ALL
                .iter()
                .filter(|&&r| d.drop_count(r) != 0)
                .map(|&r| (format!("drop:{}", r.name()), d.drop_count(r)))
                .chain(
                    Counter::ALL
                        .iter()
                        .filter(|&&k| {
                            d.count(k) != 0 && k != Counter::FlowHit && k != Counter::FlowCreated
                        })
                        .map(|&k| (k.name().to_string(), d.count(k))),
                )
                .collect();
            let counter = match c.expect {
                Expect::Forward(_) => Counter::Forwarded.name().to_string(),
                Expect::Reflect => Counter::ArpReply.name().to_string(),
                Expect::Drop(r) => format!("drop:{}", r.name()),
            };
            let mut want_moved = vec![(counter, 1)];
            if matches!(c.expect, Expect::Forward(_)) && c.class == "icmp error quoting a flow" {
                want_moved.push((Counter::IcmpErrorForwarded.name().to_string(), 1));
            }
            assert_eq!(moved, want_moved, "{what}: counters");
            // The model predicts the same, bytes included.
            let m = model.process(Port::Eni(from), &c.frame);
            assert_eq!(
                m.verdict, want,
                "{what}: the reference model disagrees with the documentation"
            );
            assert_eq!(out, m.out, "{what}: output bytes");
            let kind = match c.expect {
                Expect::Forward(_) => Kind::Forward,
                Expect::Reflect => Kind::Reflect,
                Expect::Drop(_) => Kind::Drop,
            };
            props::check(&topo, Some(from), &c.frame, kind, &out)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            outcomes.push(match c.expect {
                Expect::Forward(id) => format!("forwarded to {id}"),
                Expect::Reflect => "arp answered".into(),
                Expect::Drop(r) => r.name().to_string(),
            });
        }
        let outcome = if outcomes[0] == outcomes[1] {
            outcomes[0].clone()
        } else {
            format!("tc {}, xdp {}", outcomes[0], outcomes[1])
        };
        *table
            .entry(c.class)
            .or_default()
            .entry(outcome)
            .or_default() += 1;
    }
    eprintln!(
        "malformed corpus: {} cases, {runs} runs over both hooks; outcomes per class:",
        cases.len()
    );
    for (class, outcomes) in &table {
        let n: usize = outcomes.values().sum();
        let list: Vec<String> = outcomes.iter().map(|(o, k)| format!("{o} x{k}")).collect();
        eprintln!("  {class:<26} {n:>4}  {}", list.join(", "));
    }
}
