//! The reference model on its own: hand-derived expectations, packets built
//! with etherparse (whose checksums are independent of both the model and
//! the data plane). No root needed.

use std::net::Ipv4Addr;

use dataplane_common::{Counter, DropReason, GATEWAY_MAC};

use super::{Model, Port, Verdict};
use crate::{csum, pkt, topology};

/// vpc-a: client, web, narrow (egress tcp/80 only), and two interface
/// endpoints (available, pending) plus a rejected one; vpc-b reuses vpc-a's
/// CIDR and the client's address; vpc-p (also 10.0.0.0/16) holds the NLB
/// (one node, a one-port SNAT pool) and its single target.
const TOPO: &str = include_str!("../../fixtures/reference-model.toml");

struct Lab {
    m: Model,
}

impl Lab {
    /// The client's and the web server's addresses and MACs.
    fn client_and_web(&self) -> (Ipv4Addr, Ipv4Addr, [u8; 6], [u8; 6]) {
        let (c, w) = (self.ip("eni-client"), self.ip("eni-web"));
        (c, w, self.mac("eni-client"), self.mac("eni-web"))
    }

    /// A TCP segment client:`sport` -> web:`dport` with `flags`.
    fn c2w(&self, sport: u16, dport: u16, flags: &str) -> Vec<u8> {
        let (c, w, cmac, _) = self.client_and_web();
        pkt::tcp(cmac, GATEWAY_MAC, c, w, sport, dport, flags)
    }

    /// A TCP segment web:`sport` -> client:`dport` with `flags`.
    fn w2c(&self, sport: u16, dport: u16, flags: &str) -> Vec<u8> {
        let (c, w, _, wmac) = self.client_and_web();
        pkt::tcp(wmac, GATEWAY_MAC, w, c, sport, dport, flags)
    }

    fn new() -> Lab {
        Self::with_capacity(None)
    }

    fn with_capacity(entries: Option<usize>) -> Lab {
        Lab {
            m: Model::new(&topology(TOPO, "model"), entries),
        }
    }

    fn eni(&self, id: &str) -> usize {
        self.m.topology().eni_by_id(id).unwrap()
    }

    fn mac(&self, id: &str) -> [u8; 6] {
        self.m.topology().enis[self.eni(id)].mac
    }

    fn ip(&self, id: &str) -> Ipv4Addr {
        self.m.topology().enis[self.eni(id)].ip
    }

    fn send(&mut self, from: &str, frame: &[u8]) -> (Verdict, Vec<u8>) {
        let eni = self.eni(from);
        let o = self.m.process(Port::Eni(eni), frame);
        (o.verdict, o.out)
    }

    fn fwd(&self, to: &str) -> Verdict {
        Verdict::Forward { eni: self.eni(to) }
    }

    /// Asserts `frame` from `from` is forwarded to `to`.
    fn assert_fwd(&mut self, from: &str, frame: &[u8], to: &str) {
        assert_eq!(self.send(from, frame).0, self.fwd(to));
    }

    /// Asserts a drop for `reason` with the frame untouched.
    fn assert_drop(&mut self, from: &str, frame: &[u8], reason: DropReason) {
        let before = self.m.counters().drop_count(reason);
        let (v, out) = self.send(from, frame);
        assert_eq!(v, Verdict::Drop(reason));
        assert_eq!(out, frame, "a dropped frame is untouched");
        assert_eq!(self.m.counters().drop_count(reason), before + 1);
    }
}

use crate::ip;

#[test]
fn arp_requests_a_host_makes_for_itself_are_answered_and_other_arp_is_ignored() {
    let mut l = Lab::new();
    let (cmac, c) = (l.mac("eni-client"), l.ip("eni-client"));
    for asked in ["10.0.1.1", "10.0.1.20", "192.0.2.1"] {
        let req = pkt::arp_request(cmac, c, ip(asked));
        assert_eq!(
            l.send("eni-client", &req),
            (Verdict::Reflect, pkt::arp_reply(cmac, c, ip(asked)))
        );
    }
    // A 0.0.0.0 probe (RFC 5227) is answered too.
    let probe = pkt::arp_request(cmac, Ipv4Addr::UNSPECIFIED, ip("10.0.1.1"));
    assert_eq!(l.send("eni-client", &probe).0, Verdict::Reflect);
    assert_eq!(l.m.counters().count(Counter::ArpReply), 4);
    // Gratuitous, on behalf of another address, a reply, truncated.
    l.assert_drop(
        "eni-client",
        &pkt::arp_request(cmac, c, c),
        DropReason::ArpIgnored,
    );
    l.assert_drop(
        "eni-client",
        &pkt::arp_request(cmac, ip("10.0.1.20"), ip("10.0.1.1")),
        DropReason::ArpIgnored,
    );
    let mut reply = pkt::arp_request(cmac, c, ip("10.0.1.1"));
    reply[21] = 2;
    l.assert_drop("eni-client", &reply, DropReason::ArpIgnored);
    let req = pkt::arp_request(cmac, c, ip("10.0.1.1"));
    l.assert_drop("eni-client", &req[..41], DropReason::ArpIgnored);
    // Ethernet padding after a request is kept.
    let mut padded = req.clone();
    padded.extend_from_slice(&[0xee; 18]);
    let (v, out) = l.send("eni-client", &padded);
    assert_eq!(v, Verdict::Reflect);
    assert_eq!(&out[42..], &[0xee; 18]);
}

#[test]
fn allowed_tcp_is_forwarded_with_only_the_macs_changed_and_replies_pass_statefully() {
    let mut l = Lab::new();
    let (c, w, cmac, wmac) = l.client_and_web();
    let syn = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40000, 80, "S");
    assert_eq!(
        l.send("eni-client", &syn),
        (l.fwd("eni-web"), pkt::with_macs(&syn, wmac, GATEWAY_MAC))
    );
    // The client's group has no ingress rule: the reply passes anyway.
    let synack = pkt::tcp(wmac, GATEWAY_MAC, w, c, 80, 40000, "SA");
    assert_eq!(
        l.send("eni-web", &synack),
        (
            l.fwd("eni-client"),
            pkt::with_macs(&synack, cmac, GATEWAY_MAC)
        )
    );
    let k = l.m.counters();
    assert_eq!(
        (
            k.count(Counter::Forwarded),
            k.count(Counter::FlowCreated),
            k.count(Counter::FlowHit),
            k.count(Counter::TcpEstablished)
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(l.m.flow_entries(), 2);
    let ci = l.eni("eni-client");
    assert_eq!(l.m.counters().enis[ci].tx_bytes, syn.len() as u64);
    assert_eq!(l.m.counters().enis[ci].rx_bytes, synack.len() as u64);
    // The same packet unsolicited (another port) is refused by the client's
    // empty ingress.
    l.assert_drop(
        "eni-web",
        &pkt::tcp(wmac, GATEWAY_MAC, w, c, 80, 40001, "SA"),
        DropReason::IngressSgDeny,
    );
}

#[test]
fn security_groups_decide_by_direction_protocol_port_and_peer() {
    let mut l = Lab::new();
    let (c, w, n) = (l.ip("eni-client"), l.ip("eni-web"), l.ip("eni-narrow"));
    let (cmac, nmac) = (l.mac("eni-client"), l.mac("eni-narrow"));
    // sg-web admits tcp/80 only from members of sg-client.
    l.assert_drop(
        "eni-narrow",
        &pkt::tcp(nmac, GATEWAY_MAC, n, w, 1000, 80, "S"),
        DropReason::IngressSgDeny,
    );
    // sg-narrow lets only tcp/80 out.
    l.assert_drop(
        "eni-narrow",
        &pkt::udp(nmac, GATEWAY_MAC, n, w, 1000, 53),
        DropReason::EgressSgDeny,
    );
    // Port edges and protocols.
    for (frame, ok) in [
        (pkt::tcp(cmac, GATEWAY_MAC, c, w, 1000, 80, "S"), true),
        (pkt::tcp(cmac, GATEWAY_MAC, c, w, 1000, 81, "S"), false),
        (pkt::tcp(cmac, GATEWAY_MAC, c, w, 1000, 79, "S"), false),
        (pkt::udp(cmac, GATEWAY_MAC, c, w, 1000, 53), true),
        (pkt::udp(cmac, GATEWAY_MAC, c, w, 1000, 80), false),
        (pkt::echo(cmac, GATEWAY_MAC, c, w, 7, true), true),
        (pkt::echo(cmac, GATEWAY_MAC, c, w, 65535, false), true),
    ] {
        let (v, _) = l.send("eni-client", &frame);
        let want = if ok {
            l.fwd("eni-web")
        } else {
            Verdict::Drop(DropReason::IngressSgDeny)
        };
        assert_eq!(v, want, "{frame:02x?}");
    }
}

#[test]
fn vpcs_with_the_same_cidr_never_see_each_other() {
    let mut l = Lab::new();
    let omac = l.mac("eni-other");
    // 10.0.1.20 is web in vpc-a, nothing in vpc-b.
    l.assert_drop(
        "eni-other",
        &pkt::tcp(
            omac,
            GATEWAY_MAC,
            ip("10.0.1.10"),
            ip("10.0.1.20"),
            1,
            80,
            "S",
        ),
        DropReason::NoRoute,
    );
    // The endpoint's address means nothing outside vpc-a, nor the NLB node's anywhere.
    l.assert_drop(
        "eni-other",
        &pkt::tcp(
            omac,
            GATEWAY_MAC,
            ip("10.0.1.10"),
            ip("10.0.1.100"),
            1,
            80,
            "S",
        ),
        DropReason::NoRoute,
    );
    let tmac = l.mac("eni-target");
    l.assert_drop(
        "eni-target",
        &pkt::tcp(
            tmac,
            GATEWAY_MAC,
            ip("10.0.1.21"),
            ip("10.0.1.50"),
            8080,
            50000,
            "SA",
        ),
        DropReason::NoRoute,
    );
    // The source check: vpc-a's client address, but from vpc-b's port is
    // fine (it is other's own); web's address from the client's port is not.
    let cmac = l.mac("eni-client");
    l.assert_drop(
        "eni-client",
        &pkt::tcp(
            cmac,
            GATEWAY_MAC,
            ip("10.0.1.20"),
            ip("10.0.1.30"),
            1,
            80,
            "S",
        ),
        DropReason::SourceCheck,
    );
}

#[test]
fn malformed_frames_are_dropped_with_their_reason() {
    let mut l = Lab::new();
    let (c, w, cmac) = (l.ip("eni-client"), l.ip("eni-web"), l.mac("eni-client"));
    let syn = pkt::tcp(cmac, GATEWAY_MAC, c, w, 40000, 80, "S");
    let udp = pkt::udp(cmac, GATEWAY_MAC, c, w, 40000, 53);
    let echo = pkt::echo(cmac, GATEWAY_MAC, c, w, 1, true);
    let edit = |base: &[u8], f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = base.to_vec();
        f(&mut v);
        v
    };
    let cases = [
        (syn[..13].to_vec(), DropReason::TruncatedEthernet),
        (
            edit(&syn, &|v| v[12..14].copy_from_slice(&[0x86, 0xdd])),
            DropReason::NotIpv4,
        ),
        (
            edit(&syn, &|v| v[12..14].copy_from_slice(&[0x81, 0x00])),
            DropReason::NotIpv4,
        ),
        (syn[..33].to_vec(), DropReason::TruncatedIpv4),
        (edit(&syn, &|v| v[14] = 0x65), DropReason::BadIpVersion),
        (edit(&syn, &|v| v[14] = 0x44), DropReason::BadIhl),
        (edit(&syn[..40], &|v| v[14] = 0x4f), DropReason::BadIhl),
        (syn[..syn.len() - 1].to_vec(), DropReason::BadTotalLength),
        (
            edit(&syn, &|v| v[16..18].copy_from_slice(&[0, 19])),
            DropReason::BadTotalLength,
        ),
        (edit(&syn, &|v| v[20] = 0x20), DropReason::Fragment),
        (edit(&syn, &|v| v[21] = 1), DropReason::Fragment),
        (
            edit(&syn, &|v| v[16..18].copy_from_slice(&[0, 39])),
            DropReason::TruncatedL4,
        ),
        (edit(&syn, &|v| v[46] = 0x40), DropReason::BadTcpDataOffset),
        (edit(&syn, &|v| v[46] = 0xf0), DropReason::BadTcpDataOffset),
        (
            edit(&udp, &|v| v[38..40].copy_from_slice(&[0, 7])),
            DropReason::TruncatedL4,
        ),
        (
            edit(&udp, &|v| v[38..40].copy_from_slice(&[0, 21])),
            DropReason::TruncatedL4,
        ),
        (edit(&echo, &|v| v[34] = 5), DropReason::UnsupportedIcmp),
        // An ICMP error whose "quote" (the echo's payload) is no IPv4 header.
        (edit(&echo, &|v| v[34] = 3), DropReason::IcmpErrorBadQuote),
        // GRE is parsed (addresses and protocol only): the web's groups,
        // with no rule for it, refuse it.
        (edit(&syn, &|v| v[23] = 47), DropReason::IngressSgDeny),
    ];
    for (frame, reason) in cases {
        l.assert_drop("eni-client", &frame, reason);
    }
    // Don't-fragment is no fragment; a UDP length short of the payload is
    // fine (the rest is padding).
    let df = edit(&syn, &|v| v[20] = 0x40);
    l.assert_fwd("eni-client", &df, "eni-web");
    let short = edit(&udp, &|v| v[38..40].copy_from_slice(&[0, 8]));
    l.assert_fwd("eni-client", &short, "eni-web");
}

#[test]
fn rst_closes_a_flow_only_a_new_syn_reopens_it_and_fin_keeps_it_open() {
    let mut l = Lab::new();
    let syn = l.c2w(40000, 80, "S");
    l.assert_fwd("eni-client", &syn, "eni-web");
    let rst = l.w2c(80, 40000, "RA");
    l.assert_fwd("eni-web", &rst, "eni-client");
    l.assert_drop("eni-client", &l.c2w(40000, 80, "A"), DropReason::FlowClosed);
    l.assert_drop("eni-web", &rst, DropReason::FlowClosed);
    l.assert_fwd("eni-client", &syn, "eni-web");
    assert_eq!(l.m.counters().count(Counter::FlowCreated), 2);
    // FIN: closing, still forwarding both ways.
    let fin = l.c2w(40000, 80, "FA");
    l.assert_fwd("eni-client", &fin, "eni-web");
    let ack = l.w2c(80, 40000, "A");
    l.assert_fwd("eni-web", &ack, "eni-client");
}

#[test]
fn a_first_packet_without_syn_is_taken_as_established_mid_stream() {
    let mut l = Lab::new();
    let ack = l.c2w(40000, 80, "A");
    l.assert_fwd("eni-client", &ack, "eni-web");
    // A SYN-ACK from the reply side now changes nothing (no establishment).
    let synack = l.w2c(80, 40000, "SA");
    l.assert_fwd("eni-web", &synack, "eni-client");
    assert_eq!(l.m.counters().count(Counter::TcpEstablished), 0);
}

/// The frame the target receives / the client gets back, built independently.
#[test]
fn privatelink_translates_both_ways_with_checksums_computed_afresh() {
    let mut l = Lab::new();
    let (c, cmac) = (l.ip("eni-client"), l.mac("eni-client"));
    let (t, tmac) = (l.ip("eni-target"), l.mac("eni-target"));
    let (vpce, node) = (ip("10.0.1.100"), ip("10.0.1.50"));
    let syn = pkt::tcp(cmac, GATEWAY_MAC, c, vpce, 40000, 80, "S");
    let (v, out) = l.send("eni-client", &syn);
    assert_eq!(v, l.fwd("eni-target"));
    assert_eq!(
        out,
        pkt::tcp(GATEWAY_MAC, tmac, node, t, 50000, 8080, "S"),
        "SNAT to the node and the pool's only port, DNAT to the target"
    );
    csum::assert_valid(&out);
    let synack = pkt::tcp(tmac, GATEWAY_MAC, t, node, 8080, 50000, "SA");
    let (v, out) = l.send("eni-target", &synack);
    assert_eq!(v, l.fwd("eni-client"));
    assert_eq!(out, pkt::tcp(GATEWAY_MAC, cmac, vpce, c, 80, 40000, "SA"));
    let k = l.m.counters();
    assert_eq!(
        (k.endpoints[0].tx_packets, k.endpoints[0].rx_packets),
        (1, 1)
    );
    assert_eq!(
        (k.listeners[0].tx_packets, k.listeners[0].rx_packets),
        (1, 1)
    );
    assert_eq!((k.targets[0].tx_packets, k.targets[0].rx_packets), (1, 1));
    assert_eq!(k.count(Counter::TcpEstablished), 1);
}

#[test]
fn the_source_port_pool_bounds_concurrent_flows_to_a_target() {
    let mut l = Lab::new();
    let (c, cmac) = (l.ip("eni-client"), l.mac("eni-client"));
    let vpce = ip("10.0.1.100");
    let first = pkt::tcp(cmac, GATEWAY_MAC, c, vpce, 40000, 80, "S");
    l.assert_fwd("eni-client", &first, "eni-target");
    l.assert_drop(
        "eni-client",
        &pkt::tcp(cmac, GATEWAY_MAC, c, vpce, 40001, 80, "S"),
        DropReason::NatPortsExhausted,
    );
    assert_eq!(l.m.counters().endpoints[0].drops, 1);
    // ICMP echo holds its own reply tuple (no port of the target): it fits.
    let echo = pkt::echo(cmac, GATEWAY_MAC, c, vpce, 9, true);
    let (v, out) = l.send("eni-client", &echo);
    assert_eq!(v, l.fwd("eni-target"));
    let (t, tmac) = (l.ip("eni-target"), l.mac("eni-target"));
    assert_eq!(
        out,
        pkt::echo(GATEWAY_MAC, tmac, ip("10.0.1.50"), t, 50000, true),
        "the identifier is the translated port"
    );
    let rep = pkt::echo(tmac, GATEWAY_MAC, t, ip("10.0.1.50"), 50000, false);
    assert_eq!(
        l.send("eni-target", &rep).1,
        pkt::echo(GATEWAY_MAC, cmac, vpce, c, 9, false)
    );
    // Closing the TCP flow and reopening it reuses the port.
    let rst = pkt::tcp(cmac, GATEWAY_MAC, c, vpce, 40000, 80, "R");
    l.assert_fwd("eni-client", &rst, "eni-target");
    l.assert_fwd("eni-client", &first, "eni-target");
}

#[test]
fn privatelink_refusals_each_have_their_reason_and_object_counter() {
    let mut l = Lab::new();
    let (c, cmac) = (l.ip("eni-client"), l.mac("eni-client"));
    let to = |dst: &str, dport: u16| pkt::tcp(cmac, GATEWAY_MAC, c, ip(dst), 1234, dport, "S");
    l.assert_drop(
        "eni-client",
        &to("10.0.1.101", 80),
        DropReason::EndpointPending,
    );
    l.assert_drop(
        "eni-client",
        &to("10.0.1.102", 80),
        DropReason::EndpointRejected,
    );
    l.assert_drop("eni-client", &to("10.0.1.100", 81), DropReason::NoListener);
    l.assert_drop(
        "eni-client",
        &to("10.0.1.100", 82),
        DropReason::IngressSgDeny,
    );
    // sg-target does not admit udp/5353.
    l.assert_drop(
        "eni-client",
        &pkt::udp(cmac, GATEWAY_MAC, c, ip("10.0.1.100"), 1234, 53),
        DropReason::TargetIngressSgDeny,
    );
    let k = l.m.counters();
    assert_eq!(
        k.endpoints.iter().map(|e| e.drops).collect::<Vec<_>>(),
        vec![1, 1, 1]
    );
    assert_eq!(k.targets[1].drops, 1, "tg-dns's target");
    assert_eq!(l.m.flow_entries(), 0);
}

#[test]
fn a_wrong_checksum_stays_exactly_as_wrong_through_translation() {
    let mut l = Lab::new();
    let (c, cmac) = (l.ip("eni-client"), l.mac("eni-client"));
    let mut syn = pkt::tcp(cmac, GATEWAY_MAC, c, ip("10.0.1.100"), 40000, 80, "S");
    let good = syn.clone();
    syn[50] ^= 0x12; // TCP checksum
    syn[24] ^= 0x01; // IP header checksum
    let (v, out) = l.send("eni-client", &syn);
    assert_eq!(v, l.fwd("eni-target"));
    let before = match super::parse(&syn).unwrap() {
        super::Frame::Ipv4(p) => super::Checksums::of(&syn, &p),
        _ => unreachable!(),
    };
    let after = match super::parse(&out).unwrap() {
        super::Frame::Ipv4(p) => super::Checksums::of(&out, &p),
        _ => unreachable!(),
    };
    assert!(!before.valid());
    assert_eq!(before, after);
    // ...and a correct one stays correct.
    l.m.clear_flows();
    let (_, out) = l.send("eni-client", &good);
    csum::assert_valid(&out);
}

#[test]
fn udp_without_checksum_stays_without_and_zero_results_are_sent_as_ffff() {
    let mut l = Lab::new();
    let (c, cmac) = (l.ip("eni-client"), l.mac("eni-client"));
    let mut q = pkt::udp(cmac, GATEWAY_MAC, c, l.ip("eni-web"), 5000, 53);
    q[40] = 0;
    q[41] = 0;
    let (v, out) = l.send("eni-client", &q);
    assert_eq!(v, l.fwd("eni-web"));
    assert_eq!(&out[40..42], &[0, 0]);
    // A rewritten datagram whose checksum comes out as zero carries 0xffff:
    // every residue turns up once over the translated source ports.
    let f = pkt::udp(cmac, GATEWAY_MAC, c, ip("10.0.1.100"), 5000, 53);
    let Ok(super::Frame::Ipv4(p)) = super::parse(&f) else {
        unreachable!()
    };
    let mut ffff = 0;
    for sport in 1..=65535u16 {
        let to = super::Addrs {
            src: [10, 0, 1, 50],
            dst: [10, 0, 1, 21],
            sport,
            dport: 5353,
        };
        let out = super::wire::rewrite(&f, &p, &to, [2, 0, 0, 0, 0, 1]);
        csum::assert_valid(&out);
        assert_ne!(&out[40..42], &[0, 0], "sport {sport}");
        ffff += usize::from(out[40..42] == [0xff, 0xff]);
    }
    assert_eq!(ffff, 1);
}

#[test]
fn a_full_flow_table_refuses_new_flows_and_keeps_live_ones() {
    let mut l = Lab::with_capacity(Some(3));
    let (c, w) = (l.ip("eni-client"), l.ip("eni-web"));
    let cmac = l.mac("eni-client");
    let a = pkt::tcp(cmac, GATEWAY_MAC, c, w, 1, 80, "S");
    l.assert_fwd("eni-client", &a, "eni-web");
    // One entry left: the forward entry fits, the reply entry does not.
    l.assert_drop(
        "eni-client",
        &pkt::tcp(cmac, GATEWAY_MAC, c, w, 2, 80, "S"),
        DropReason::FlowTableFull,
    );
    assert_eq!(l.m.flow_entries(), 2);
    l.assert_fwd("eni-client", &a, "eni-web");
}

#[test]
fn frames_from_unknown_interfaces_pass_untouched_and_are_counted() {
    let mut l = Lab::new();
    let f = pkt::tcp(
        [2; 6],
        GATEWAY_MAC,
        ip("1.2.3.4"),
        ip("10.0.1.20"),
        1,
        80,
        "S",
    );
    let o = l.m.process(Port::Unknown, &f);
    assert_eq!((o.verdict, o.out), (Verdict::Pass, f));
    assert_eq!(l.m.counters().count(Counter::UnknownPortPass), 1);
    assert!(l.m.counters().enis.iter().all(|e| e.tx_packets == 0));
}

/// The HTTP VPC link example (`configs/http-vpc-link.toml`): apigw
/// 10.1.1.20 in vpc-api; link ENIs 10.0.1.4 (az1) and 10.0.2.4 (az2) in
/// vpc-cust, members of sg-link; int-users 10.1.1.203:9000 -> users1
/// 10.0.2.41:9000 (admits sg-link), int-locked 10.1.1.204:9000 -> locked
/// 10.0.1.60 (does not).
const HTTP_LINK: &str = include_str!("../../../configs/http-vpc-link.toml");

fn link_lab(toml: &str) -> Lab {
    Lab {
        m: Model::new(&topology(toml, "model"), None),
    }
}

#[test]
fn http_link_nats_from_the_link_eni_in_the_targets_az_and_translates_replies_back() {
    let mut l = link_lab(HTTP_LINK);
    let (a, amac) = (l.ip("eni-apigw"), l.mac("eni-apigw"));
    let (u, umac) = (l.ip("eni-users1"), l.mac("eni-users1"));
    let (int, link2) = (ip("10.1.1.203"), ip("10.0.2.4"));
    // No group on the integration address: sg-apigw's default egress is all
    // that applies.
    let syn = pkt::tcp(amac, GATEWAY_MAC, a, int, 40000, 9000, "S");
    let (v, out) = l.send("eni-apigw", &syn);
    assert_eq!(v, l.fwd("eni-users1"));
    let nat = u16::from_be_bytes([out[34], out[35]]);
    assert_eq!(
        out,
        pkt::tcp(GATEWAY_MAC, umac, link2, u, nat, 9000, "S"),
        "SNAT to the az2 link ENI (users1's AZ), not the az1 one"
    );
    csum::assert_valid(&out);
    let synack = pkt::tcp(umac, GATEWAY_MAC, u, link2, 9000, nat, "SA");
    let (v, out) = l.send("eni-users1", &synack);
    assert_eq!(v, l.fwd("eni-apigw"));
    assert_eq!(out, pkt::tcp(GATEWAY_MAC, amac, int, a, 9000, 40000, "SA"));
    // Not a reply: a first packet to a link ENI is refused before any group.
    l.assert_drop(
        "eni-users1",
        &pkt::tcp(umac, GATEWAY_MAC, u, link2, 9000, nat + 1, "SA"),
        DropReason::LinkReverseInitiated,
    );
    l.assert_drop(
        "eni-users1",
        &pkt::udp(umac, GATEWAY_MAC, u, ip("10.0.1.4"), 9000, 53),
        DropReason::LinkReverseInitiated,
    );
    // locked's group does not admit the link.
    l.assert_drop(
        "eni-apigw",
        &pkt::tcp(amac, GATEWAY_MAC, a, ip("10.1.1.204"), 40000, 9000, "S"),
        DropReason::TargetIngressSgDeny,
    );
}

#[test]
fn http_link_egress_rules_are_checked_before_the_targets_ingress() {
    let narrow = HTTP_LINK.replace(
        "id = \"sg-link\"\nvpc = \"vpc-cust\"\ningress = []\n",
        "id = \"sg-link\"\nvpc = \"vpc-cust\"\ningress = []\n\
         egress = [{ protocol = \"tcp\", ports = \"80\", peer = \"10.0.0.0/16\" }]\n",
    );
    assert_ne!(narrow, HTTP_LINK);
    let mut l = link_lab(&narrow);
    let (a, amac) = (l.ip("eni-apigw"), l.mac("eni-apigw"));
    for int in ["10.1.1.203", "10.1.1.204"] {
        l.assert_drop(
            "eni-apigw",
            &pkt::tcp(amac, GATEWAY_MAC, a, ip(int), 40000, 9000, "S"),
            DropReason::LinkEgressSgDeny,
        );
    }
    let syn = pkt::tcp(amac, GATEWAY_MAC, a, ip("10.1.1.201"), 40000, 80, "S");
    assert!(matches!(
        l.send("eni-apigw", &syn).0,
        Verdict::Forward { .. }
    ));
    assert_eq!(
        l.m.counters().targets.iter().map(|t| t.drops).sum::<u64>(),
        2,
        "counted as the targets' drops"
    );
    assert_eq!(l.m.flow_entries(), 2);
}

#[test]
fn logged_tcp_flags_are_fin_1_syn_2_rst_4_syn_ack_18() {
    let a: Ipv4Addr = "10.0.1.10".parse().unwrap();
    let b: Ipv4Addr = "10.0.1.20".parse().unwrap();
    let mac = [2, 0, 0, 0, 0, 1];
    let cases = [
        ("S", 2),
        ("SA", 18),
        ("A", 0),
        ("PA", 0),
        ("FA", 1),
        ("R", 4),
        ("RA", 4),
        ("SF", 3),
        ("SAF", 19),
    ];
    for (flags, want) in cases {
        let f = pkt::tcp(mac, GATEWAY_MAC, a, b, 40000, 80, flags);
        assert_eq!(super::frame_logged_flags(&f), want, "{flags}");
    }
    let udp = pkt::udp(mac, GATEWAY_MAC, a, b, 40000, 53);
    assert_eq!(super::frame_logged_flags(&udp), 0);
}

/// Flow logs' `tcp-flags` per window (AWS: the OR of the window's
/// packets): a flag an earlier window saw counts again, and is reported as
/// such (the soak's count of packets that meet it).
#[test]
fn window_flags_are_each_windows_own_and_repeats_are_noticed() {
    use super::flow_log::WindowFlags;
    let mut f = WindowFlags::first(1, 2);
    assert!(!f.add(1, 0));
    assert_eq!((f.of(1), f.of(2)), (2, 0));
    // Window 2: data, then a FIN.
    assert!(!f.add(2, 0));
    assert!(!f.add(2, 1));
    assert_eq!((f.of(1), f.of(2)), (0, 1));
    // Window 4: the FIN again (window 2 saw it), and a SYN (window 1 did).
    assert!(f.add(4, 1));
    assert!(f.add(4, 2));
    assert_eq!((f.of(3), f.of(4)), (0, 3));
}
