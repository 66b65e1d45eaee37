//! Stage tests of the NAT gateway (docs/DATAPLANE.md, "NAT gateway"), one
//! mechanism at a time as in `stages.rs` (PKTGEN / SETUP / CHECK, see
//! `hyperlab_tests::stage`). Expected frames are built from scratch
//! (etherparse computes every checksum); the source port is the spec's
//! (`nat_lo + flow_hash(tuple, HASH_SEED_NAT_PORT) % range`, the first
//! free one on), never taken from the agent's compiler. AWS's rules (VPC
//! user guide, "NAT gateways"): source NAT to the Elastic IP, replies
//! translated back, connections initiated from outside dropped, up to
//! 55,000 connections per unique destination, then `ErrorPortAllocation`.

use std::collections::BTreeSet;

use dataplane::model::Hook;
use dataplane_common::{
    Counter, DropReason, FLOW_F_DNAT, FLOW_F_REPLY, FLOW_F_SNAT, GATEWAY_MAC, INTERNET_VPC,
    NO_SUBNET, PROTO_ICMP, PROTO_TCP, PROTO_UDP, SG_DIR_EGRESS,
};
use hyperlab_tests::{
    csum, pkt,
    stage::{flow_key, Stage},
    Verdict, HOOKS,
};

mod stages_common;
use stages_common::internet::web_private as web;
use stages_common::internet::{
    self, assert_no_such_host, assert_out, eip, first_port, from_internet, host, internet_scene,
    nat_toml, AWS_POOL, HOST_ENI, HOST_MAC,
};
use stages_common::{assert_dropped, ip, CLIENT_ENI, CLIENT_MAC, CLIENT_SG, VPC};

/// The private subnet s1.
const PRIVATE: u16 = 1;

/// SETUP: the tables of `nat_toml(ports)`, open ACLs, the internet host,
/// nat-a's Elastic IP, and `web` (10.0.2.30 in the private subnet) whose
/// groups let everything out.
fn scene(ports: &str) -> Stage {
    let mut st = Stage::load();
    internet_scene(&mut st, &nat_toml(ports), web(), PRIVATE);
    st.set_nat_gateway_eip(0, eip(), ip("10.0.1.100"));
    st
}

/// Runs `test` on both hooks, each on a fresh [`scene`] with pool `ports`.
fn on_both_hooks(ports: &str, mut test: impl FnMut(Hook, &mut Stage)) {
    for hook in HOOKS {
        test(hook, &mut scene(ports));
    }
}

fn from_web(st: &mut Stage) {
    internet::from_web(st, web(), PRIVATE);
}

/// Out through the gateway and back: web's SYN to the internet host
/// leaves with the Elastic IP and the spec's port as its source; the
/// host's SYN-ACK to that address and port comes back to 10.0.2.30:40000.
/// The reply entry is the claimed port's key in the internet; UDP and ICMP
/// echo (the identifier translated) take the same way.
#[test]
#[ignore = "needs root"]
fn nat_gateway_translates_to_its_elastic_ip_and_back() {
    on_both_hooks("", |hook, st| {
        from_web(st);
        let nport = first_port(40000, 80, PROTO_TCP, AWS_POOL);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "S");
        let out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), nport, 80, "S");
        assert_out(st, hook, &syn, &out, "web -> example");
        let flows = st.flow_entries();
        assert_eq!(flows.len(), 2, "{hook:?}");
        let fwd = flow_key(VPC, web(), host(), 40000, 80, PROTO_TCP);
        let rev = flow_key(INTERNET_VPC, host(), eip(), 80, nport, PROTO_TCP);
        let f = flows
            .iter()
            .find(|(k, _)| *k == fwd)
            .expect("forward entry")
            .1;
        let r = flows
            .iter()
            .find(|(k, _)| *k == rev)
            .expect("reply entry")
            .1;
        assert_eq!(
            (f.flags, f.new_src, f.new_sport, f.out_vpc, f.dst_eni),
            (
                FLOW_F_SNAT,
                eip().octets(),
                nport.to_be_bytes(),
                INTERNET_VPC,
                HOST_ENI
            ),
            "{hook:?}"
        );
        assert_eq!(
            (r.flags, r.new_dst, r.new_dport, r.out_vpc, r.dst_eni),
            (
                FLOW_F_REPLY | FLOW_F_DNAT,
                web().octets(),
                40000u16.to_be_bytes(),
                VPC,
                CLIENT_ENI
            ),
            "{hook:?}"
        );
        // The boundaries: into and out of the gateway's subnet (s0 = 0).
        assert_eq!(
            (f.cross1_from, f.cross1_to, f.cross2_from, f.cross2_to),
            (PRIVATE, 0, 0, NO_SUBNET),
            "{hook:?}"
        );
        assert_eq!(
            (r.cross1_from, r.cross1_to, r.cross2_from, r.cross2_to),
            (NO_SUBNET, 0, 0, PRIVATE),
            "{hook:?}"
        );
        from_internet(st);
        let synack = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 80, nport, "SA");
        let back = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 80, 40000, "SA");
        assert_out(
            st,
            hook,
            &synack,
            &back,
            "example -> the Elastic IP (reply)",
        );
        from_web(st);
        let uport = first_port(5353, 53, PROTO_UDP, AWS_POOL);
        let udp = pkt::udp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 5353, 53);
        let udp_out = pkt::udp(GATEWAY_MAC, HOST_MAC, eip(), host(), uport, 53);
        assert_out(st, hook, &udp, &udp_out, "udp web -> example");
        let iport = first_port(77, 77, PROTO_ICMP, AWS_POOL);
        let echo = pkt::echo(CLIENT_MAC, GATEWAY_MAC, web(), host(), 77, true);
        let echo_out = pkt::echo(GATEWAY_MAC, HOST_MAC, eip(), host(), iport, true);
        assert_out(st, hook, &echo, &echo_out, "ping web -> example");
        from_internet(st);
        let udp_back = pkt::udp(HOST_MAC, GATEWAY_MAC, host(), eip(), 53, uport);
        let udp_in = pkt::udp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 53, 5353);
        assert_out(st, hook, &udp_back, &udp_in, "udp reply example -> web");
        let pong = pkt::echo(HOST_MAC, GATEWAY_MAC, host(), eip(), iport, false);
        let pong_in = pkt::echo(GATEWAY_MAC, CLIENT_MAC, host(), web(), 77, false);
        assert_out(st, hook, &pong, &pong_in, "echo reply example -> web");
        assert_eq!(st.counter(Counter::FlowCreated), 3, "{hook:?}");
    });
}

/// Connections initiated from outside are dropped: a SYN, a UDP datagram
/// or a ping to the Elastic IP with no flow behind it is
/// `nat_gateway_outside_initiated` (any port, the gateway's own included);
/// a destination no internet host has is `internet_no_host`.
#[test]
#[ignore = "needs root"]
fn nat_gateway_drops_what_the_internet_initiates_and_protocols_it_does_not_carry() {
    on_both_hooks("", |hook, st| {
        from_internet(st);
        let outside = DropReason::NatGatewayOutsideInitiated;
        let syn = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 50000, 80, "S");
        assert_dropped(st, hook, &syn, outside, "SYN to the Elastic IP");
        let syn = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 80, 1024, "SA");
        assert_dropped(st, hook, &syn, outside, "an unbound port's 'reply'");
        let udp = pkt::udp(HOST_MAC, GATEWAY_MAC, host(), eip(), 53, 2000);
        assert_dropped(st, hook, &udp, outside, "UDP to the Elastic IP");
        let ping = pkt::echo(HOST_MAC, GATEWAY_MAC, host(), eip(), 9, true);
        assert_dropped(st, hook, &ping, outside, "ping to the Elastic IP");
        from_web(st);
        // TCP, UDP and ICMP only: GRE to an internet host, which the
        // sender's groups admit, ends at the gateway.
        st.set_sg(CLIENT_SG, SG_DIR_EGRESS, 47, (ip("0.0.0.0"), 0), &[(0, 0)]);
        let gre = pkt::ip_proto(CLIENT_MAC, GATEWAY_MAC, web(), host(), 47, &[0, 0, 0x08, 0]);
        assert_dropped(
            st,
            hook,
            &gre,
            DropReason::UnsupportedProtocol,
            "GRE to the internet",
        );
        assert_no_such_host(st, hook, web());
        assert_eq!(st.counter(Counter::FlowCreated), 0, "{hook:?}");
        assert!(st.flows().is_empty(), "{hook:?}");
    });
}

/// A pool shrunk to 4 ports (`ports = "1024-1027"`): four connections to
/// example:80 bind all four; the fifth is refused
/// (`nat_gateway_error_port_allocation`) while a live one goes on with its
/// port; a connection to another destination (example:443) has a pool of
/// its own.
#[test]
#[ignore = "needs root"]
fn nat_gateway_full_pool_refuses_new_connections_while_live_ones_continue() {
    on_both_hooks("ports = \"1024-1027\"", |hook, st| {
        from_web(st);
        let mut bound = BTreeSet::new();
        let mut port_of = Vec::new();
        for sport in 40000..40004u16 {
            let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), sport, 80, "S");
            let o = st.run(hook, &syn);
            assert_eq!(o.verdict, Verdict::Forward, "{hook:?} connection {sport}");
            let nport = u16::from_be_bytes([o.out[34], o.out[35]]);
            let expected = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), nport, 80, "S");
            assert_eq!(o.out, expected, "{hook:?} connection {sport}: bytes");
            bound.insert(nport);
            port_of.push((sport, nport));
        }
        assert_eq!(
            bound,
            (1024..=1027).collect(),
            "{hook:?}: every port bound once"
        );
        // The first connection's port is the spec's first choice.
        assert_eq!(
            port_of[0].1,
            first_port(40000, 80, PROTO_TCP, (1024, 1027)),
            "{hook:?}"
        );
        let fifth = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40004, 80, "S");
        assert_dropped(
            st,
            hook,
            &fifth,
            DropReason::NatGatewayErrorPortAllocation,
            "a fifth connection to example:80",
        );
        let (sport, nport) = port_of[2];
        let ack = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), sport, 80, "A");
        let ack_out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), nport, 80, "A");
        assert_out(st, hook, &ack, &ack_out, "a live connection goes on");
        from_internet(st);
        let data = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 80, nport, "A");
        let data_in = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 80, sport, "A");
        assert_out(st, hook, &data, &data_in, "and its replies come back");
        from_web(st);
        let tls = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40004, 443, "S");
        let tport = first_port(40004, 443, PROTO_TCP, (1024, 1027));
        let tls_out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), tport, 443, "S");
        assert_out(
            st,
            hook,
            &tls,
            &tls_out,
            "another destination, another pool",
        );
        assert_eq!(st.counter(Counter::FlowCreated), 5, "{hook:?}");
    });
}

/// CloudWatch's metrics of nat-a (gateway 0), exact after crafted packets,
/// with a pool of one port (`ports = "1024-1024"`): web's SYN out
/// (ConnectionAttemptCount, PacketsInFromSource = PacketsOutToDestination),
/// the host's SYN-ACK back (ConnectionEstablishedCount, PacketsInFromDestination
/// = PacketsOutToSource), web's ACK out, a UDP datagram out (no attempt: a
/// connection attempt is a TCP SYN), a second SYN that finds the port bound
/// (ErrorPortAllocation, PacketsDropCount, in from the source but not out),
/// a SYN the internet sends to the Elastic IP (in from the destination,
/// dropped), a datagram to an address no internet host has (dropped).
/// Bytes are whole frames; the sweeper's slot stays 0.
#[test]
#[ignore = "needs root"]
fn nat_gateway_counts_its_cloudwatch_metrics_exactly() {
    use dataplane_common::{NatGatewayCounters, MAX_NAT_GATEWAYS};
    on_both_hooks("ports = \"1024-1024\"", |hook, st| {
        from_web(st);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "S");
        let out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), 1024, 80, "S");
        assert_out(st, hook, &syn, &out, "SYN out");
        for (k, e) in st.flows() {
            assert_eq!(e.nat_gateway, 0, "{hook:?} {k:?}: the entry names nat-a");
        }
        let ack = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "A");
        from_internet(st);
        let synack = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 80, 1024, "SA");
        let back = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 80, 40000, "SA");
        assert_out(st, hook, &synack, &back, "SYN-ACK back");
        from_web(st);
        let ack_out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), 1024, 80, "A");
        assert_out(st, hook, &ack, &ack_out, "ACK out");
        let udp = pkt::udp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 5353, 53);
        let udp_out = pkt::udp(GATEWAY_MAC, HOST_MAC, eip(), host(), 1024, 53);
        assert_out(st, hook, &udp, &udp_out, "UDP out (its own pool)");
        let second = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40001, 80, "S");
        assert_dropped(
            st,
            hook,
            &second,
            DropReason::NatGatewayErrorPortAllocation,
            "a second connection to example:80",
        );
        from_internet(st);
        let inbound = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 50000, 22, "S");
        assert_dropped(
            st,
            hook,
            &inbound,
            DropReason::NatGatewayOutsideInitiated,
            "a SYN from the internet",
        );
        // A destination no internet host has: the gateway's drop
        // (internet_no_host), in and not out.
        from_web(st);
        let nowhere = pkt::udp(CLIENT_MAC, GATEWAY_MAC, web(), ip("198.51.100.7"), 5000, 25);
        assert_dropped(
            st,
            hook,
            &nowhere,
            DropReason::InternetNoHost,
            "no such host",
        );
        let (t, u) = (syn.len() as u64, udp.len() as u64);
        let want = NatGatewayCounters {
            // SYN, ACK, UDP, the refused SYN, the datagram to nowhere.
            packets_in_from_source: 5,
            bytes_in_from_source: 3 * t + 2 * u,
            packets_out_to_destination: 3,
            bytes_out_to_destination: 2 * t + u,
            // The SYN-ACK and the inbound SYN.
            packets_in_from_destination: 2,
            bytes_in_from_destination: 2 * t,
            packets_out_to_source: 1,
            bytes_out_to_source: t,
            connection_attempts: 2,
            connections_established: 1,
            packets_dropped: 3,
            error_port_allocation: 1,
            idle_timeouts: 0,
        };
        assert_eq!(st.nat_counters(0), want, "{hook:?}");
        assert_eq!(
            st.nat_counters(MAX_NAT_GATEWAYS),
            NatGatewayCounters::default(),
            "{hook:?}: the sweeper's slot"
        );
        assert_eq!(
            st.nat_counters(1),
            NatGatewayCounters::default(),
            "{hook:?}"
        );
    });
}

/// The RST the gateway answers a late segment of `seg` (web -> example:80)
/// with, from example:80 back to web:`sport`: RST|ACK, sequence `seq`,
/// acknowledging `ack`, window 0, no payload (54 bytes).
fn rst_to_web(sport: u16, seq: u32, ack: u32) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(GATEWAY_MAC, CLIENT_MAC)
        .ipv4(host().octets(), web().octets(), 64)
        .tcp(80, sport, seq, 0)
        .rst()
        .ack(ack);
    let mut out = Vec::new();
    b.write(&mut out, &[]).unwrap();
    out
}

/// What the hook returns for a RST sent back out of its port: TC redirects
/// (to the ingress port's egress), XDP transmits.
fn reflected(hook: Hook) -> Verdict {
    match hook {
        Hook::Tc => Verdict::Forward,
        Hook::Xdp => Verdict::Reflect,
    }
}

/// A TCP segment from web through nat-a that no connection holds (never
/// opened, or timed out) is answered by the gateway with a RST from its
/// destination (AWS: "the NAT gateway returns an RST packet to any
/// resources behind the NAT gateway that attempt to continue the
/// connection"), exact bytes on both hooks (RFC 9293's reset of a segment
/// outside any connection: the segment's ACK as sequence, or 0 without
/// ACK; the segment's sequence plus its length, SYN and FIN counting one,
/// acknowledged). A RST gets none (`nat_gateway_no_connection`). Nothing is
/// created; the counters say so.
#[test]
#[ignore = "needs root"]
fn nat_gateway_answers_a_segment_of_no_connection_with_a_rst() {
    use dataplane_common::NatGatewayCounters;
    on_both_hooks("", |hook, st| {
        from_web(st);
        // pkt::tcp: sequence 1000, ACK 2000, 8 bytes of payload.
        for (flags, seq, ack) in [
            ("A", 2000, 1008),
            ("PA", 2000, 1008),
            ("FA", 2000, 1009),
            ("SA", 2000, 1009),
            ("P", 0, 1008),
        ] {
            let seg = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, flags);
            let o = st.run(hook, &seg);
            assert_eq!(o.verdict, reflected(hook), "{hook:?} {flags}: sent back");
            assert_eq!(
                o.out,
                rst_to_web(40000, seq, ack),
                "{hook:?} {flags}: the RST's bytes"
            );
            csum::assert_valid(&o.out);
        }
        let rst = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "R");
        assert_dropped(
            st,
            hook,
            &rst,
            DropReason::NatGatewayNoConnection,
            "a RST gets no RST",
        );
        assert!(st.flows().is_empty(), "{hook:?}");
        assert_eq!(st.counter(Counter::NatGatewayRstSent), 5, "{hook:?}");
        let (seg, rst) = (
            pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "A").len() as u64,
            54,
        );
        assert_eq!(
            st.nat_counters(0),
            NatGatewayCounters {
                packets_in_from_source: 6,
                bytes_in_from_source: 6 * seg,
                packets_out_to_source: 5,
                bytes_out_to_source: 5 * rst,
                packets_dropped: 6,
                ..Default::default()
            },
            "{hook:?}"
        );
    });
}

/// After 350 s idle the sweeper removes a gateway's established connection
/// (whatever `[conntrack]`'s 5-day TCP timeout says: AWS's NAT gateway
/// idle timeout) and counts it (IdleTimeoutCount, the sweeper's slot); the
/// late segment web then sends gets the gateway's RST, exact bytes on both
/// hooks. A connection idle 349 s lives on.
#[test]
#[ignore = "needs root"]
fn nat_gateway_times_out_after_350_s_idle_and_answers_the_late_segment_with_a_rst() {
    use dataplane_common::MAX_NAT_GATEWAYS;
    let t = dataplane::model::Timeouts::default();
    on_both_hooks("", |hook, st| {
        from_web(st);
        let nport = first_port(40000, 80, PROTO_TCP, AWS_POOL);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "S");
        let out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), nport, 80, "S");
        assert_out(st, hook, &syn, &out, "SYN out");
        from_internet(st);
        let synack = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 80, nport, "SA");
        let back = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 80, 40000, "SA");
        assert_out(st, hook, &synack, &back, "SYN-ACK back");
        st.age_flows(349);
        assert!(
            st.sweep(&t).is_empty(),
            "{hook:?}: 349 s idle is not yet a timeout"
        );
        from_web(st);
        let ack = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "A");
        let ack_out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), nport, 80, "A");
        assert_out(st, hook, &ack, &ack_out, "the connection lives on");
        st.age_flows(351);
        assert_eq!(
            st.sweep(&t).len(),
            2,
            "{hook:?}: both entries go after 351 s"
        );
        assert!(st.flows().is_empty(), "{hook:?}");
        assert_eq!(
            st.nat_counters(MAX_NAT_GATEWAYS).idle_timeouts,
            1,
            "{hook:?}"
        );
        let late = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "PA");
        let o = st.run(hook, &late);
        assert_eq!(o.verdict, reflected(hook), "{hook:?}: the late segment");
        assert_eq!(
            o.out,
            rst_to_web(40000, 2000, 1008),
            "{hook:?}: the RST's bytes"
        );
        csum::assert_valid(&o.out);
        assert!(st.flows().is_empty(), "{hook:?}: no connection comes of it");
    });
}

/// Fragmented UDP through the gateway ("NAT gateway basics": a NAT gateway
/// forwards fragmented UDP, not fragmented TCP or ICMP). web's 300-byte
/// datagram to example:53 in three fragments (id 0x5151): the first (the
/// UDP header) leaves with the Elastic IP, the spec's port and the UDP
/// checksum of the translated datagram; the later two (no ports) with the
/// Elastic IP, found by their datagram's id. example's reply in three
/// fragments comes back to 10.0.2.30:5353 likewise. Each expected fragment
/// is cut from the translated datagram built whole by etherparse, so the
/// receiver reassembles a datagram with a valid checksum. Dropped: a later
/// fragment of a datagram the gateway never saw
/// (`nat_gateway_fragment_unknown`), a TCP fragment, a UDP first fragment
/// to an address of the VPC and one from the internet with no flow
/// (`fragment`). nat-a counts every forwarded fragment in and out.
#[test]
#[ignore = "needs root"]
fn nat_gateway_forwards_fragmented_udp_both_ways() {
    let payload: Vec<u8> = (0..300u16).map(|i| (i * 7) as u8).collect();
    let cuts = [104, 208];
    on_both_hooks("", |hook, st| {
        from_web(st);
        let uport = first_port(5353, 53, PROTO_UDP, AWS_POOL);
        let whole = pkt::udp_payload(
            CLIENT_MAC,
            GATEWAY_MAC,
            (web(), host()),
            (5353, 53),
            &payload,
        );
        let out = pkt::udp_payload(
            GATEWAY_MAC,
            HOST_MAC,
            (eip(), host()),
            (uport, 53),
            &payload,
        );
        let (sent, want_out) = (
            pkt::fragments(&whole, 0x5151, &cuts),
            pkt::fragments(&out, 0x5151, &cuts),
        );
        assert_eq!(sent.len(), 3);
        for (i, (f, w)) in sent.iter().zip(&want_out).enumerate() {
            let o = st.run(hook, f);
            assert_eq!(o.verdict, Verdict::Forward, "{hook:?} fragment {i} out");
            assert_eq!(&o.out, w, "{hook:?} fragment {i} out: bytes");
        }
        assert_eq!(st.counter(Counter::FlowCreated), 1, "{hook:?}");
        from_internet(st);
        let reply = pkt::udp_payload(
            HOST_MAC,
            GATEWAY_MAC,
            (host(), eip()),
            (53, uport),
            &payload,
        );
        let back = pkt::udp_payload(
            GATEWAY_MAC,
            CLIENT_MAC,
            (host(), web()),
            (53, 5353),
            &payload,
        );
        let (sent, want) = (
            pkt::fragments(&reply, 0x4242, &cuts),
            pkt::fragments(&back, 0x4242, &cuts),
        );
        for (i, (f, w)) in sent.iter().zip(&want).enumerate() {
            let o = st.run(hook, f);
            assert_eq!(o.verdict, Verdict::Forward, "{hook:?} fragment {i} back");
            assert_eq!(&o.out, w, "{hook:?} fragment {i} back: bytes");
        }
        let c = st.nat_counters(0);
        let len: u64 = sent.iter().map(|f| f.len() as u64).sum();
        assert_eq!(
            (
                c.packets_in_from_destination,
                c.packets_out_to_source,
                c.bytes_out_to_source
            ),
            (3, 3, len),
            "{hook:?}: nat-a counted the reply's fragments"
        );
        assert_eq!(
            (c.packets_in_from_source, c.packets_out_to_destination),
            (3, 3),
            "{hook:?}"
        );
        // A datagram the gateway never saw a first fragment of.
        let orphan = pkt::fragments(&reply, 0x7777, &cuts);
        let frag = DropReason::Fragment;
        assert_dropped(
            st,
            hook,
            &orphan[1],
            frag,
            "a later fragment of no datagram",
        );
        assert_dropped(
            st,
            hook,
            &orphan[2],
            frag,
            "the last fragment of no datagram",
        );
        // 29 s after its first fragment a later one still goes; 31 s
        // after, the gateway has forgotten the datagram.
        let late = pkt::fragments(&reply, 0x4343, &cuts);
        let late_back = pkt::fragments(&back, 0x4343, &cuts);
        let o = st.run(hook, &late[0]);
        assert_eq!(
            (o.verdict, &o.out),
            (Verdict::Forward, &late_back[0]),
            "{hook:?} first"
        );
        st.age_fragments(29);
        let o = st.run(hook, &late[1]);
        assert_eq!(
            (o.verdict, &o.out),
            (Verdict::Forward, &late_back[1]),
            "{hook:?} at 29 s"
        );
        st.age_fragments(2);
        let expired = DropReason::NatGatewayFragmentExpired;
        assert_dropped(st, hook, &late[2], expired, "31 s after its first fragment");
        let new = pkt::udp_payload(HOST_MAC, GATEWAY_MAC, (host(), eip()), (53, 9999), &payload);
        let frag = DropReason::Fragment;
        assert_dropped(
            st,
            hook,
            &pkt::fragments(&new, 1, &cuts)[0],
            frag,
            "a first fragment from outside",
        );
        from_web(st);
        let tcp = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "S");
        assert_dropped(
            st,
            hook,
            &pkt::fragments(&tcp, 2, &[8])[0],
            frag,
            "a TCP fragment",
        );
        let local = pkt::udp_payload(
            CLIENT_MAC,
            GATEWAY_MAC,
            (web(), ip("10.0.2.99")),
            (5353, 53),
            &payload,
        );
        assert_dropped(
            st,
            hook,
            &pkt::fragments(&local, 3, &cuts)[0],
            frag,
            "in the VPC",
        );
        // A fragment of a datagram the gateway forwarded goes on while its
        // flow lives; once the flow has ended, it has nothing to ride.
        // (Its first fragment again: the aging above aged every datagram.)
        let again = pkt::fragments(&whole, 0x5151, &cuts);
        for i in [0, 2] {
            let o = st.run(hook, &again[i]);
            assert_eq!(
                (o.verdict, &o.out),
                (Verdict::Forward, &want_out[i]),
                "{hook:?} again {i}"
            );
        }
        st.clear_flows();
        assert_dropped(st, hook, &again[2], expired, "after its flow ended");
    });
}

/// Connections through a NAT gateway are automatically tracked (EC2 user
/// guide, "Automatically tracked connections": NAT gateways are among the
/// Hyperplane services whose connections are tracked even where the rules
/// would leave them untracked), so what comes back along one passes the
/// sender's groups as a response, whatever their inbound rules say. web's
/// groups admit nothing in, and all TCP out to 0.0.0.0/0 marked untracked
/// (`SG_DIR_UNTRACKED`: a plain flow would be judged on every packet): the
/// gateway's entries carry no untracked flag, the host's SYN-ACK comes back,
/// and once the connection is gone (the gateway timed it out) the RST the
/// gateway answers web's late segment with reaches web likewise: exact
/// bytes, on both hooks.
#[test]
#[ignore = "needs root"]
fn nat_gateways_rst_passes_the_senders_groups_as_a_response_of_a_tracked_connection() {
    use dataplane_common::SG_DIR_UNTRACKED;
    on_both_hooks("ports = \"1024-1024\"", |hook, st| {
        let any = (ip("0.0.0.0"), 0);
        st.set_sg(
            CLIENT_SG,
            SG_DIR_EGRESS | SG_DIR_UNTRACKED,
            PROTO_TCP,
            any,
            &[(0, 65535)],
        );
        from_web(st);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "S");
        let out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), 1024, 80, "S");
        assert_out(st, hook, &syn, &out, "SYN out");
        let flags: Vec<u32> = st.flows().iter().map(|(_, e)| e.flags).collect();
        assert_eq!(
            flags,
            vec![FLOW_F_SNAT, FLOW_F_REPLY | FLOW_F_DNAT],
            "{hook:?}: tracked both ways"
        );
        from_internet(st);
        let synack = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 80, 1024, "SA");
        let back = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 80, 40000, "SA");
        assert_out(st, hook, &synack, &back, "SYN-ACK back, no inbound rule");
        st.clear_flows();
        from_web(st);
        let late = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "PA");
        let o = st.run(hook, &late);
        assert_eq!(
            (o.verdict, o.out),
            (reflected(hook), rst_to_web(40000, 2000, 1008)),
            "{hook:?}: the RST reaches web"
        );
    });
}

/// Hairpinning (docs/DATAPLANE.md, "NAT gateway"): web, behind nat-a,
/// addresses a public IP of the lab, `app`'s (10.0.1.20 in s0, public
/// 203.0.113.20): the gateway sends it from its Elastic IP and port to the
/// internet gateway, which brings it back in to app (1:1 NAT of the
/// destination), so app sees the Elastic IP as the source and its groups
/// judge that address (they admit TCP 80 from it only). Both entries
/// translate both addresses; the reply is keyed in app's VPC by the
/// claimed port and returns from the public IP web addressed. The
/// gateway's own Elastic IP comes back to a gateway that holds no
/// connection for it: `nat_gateway_hairpin`, in from the source and
/// dropped. Pool of one port: 1024.
#[test]
#[ignore = "needs root"]
fn nat_gateway_hairpins_to_a_public_ip_of_the_lab_but_not_to_an_elastic_ip() {
    use dataplane_common::{NatGatewayCounters, ENI_KIND_HOST, SG_DIR_INGRESS};
    use hyperlab_tests::stage::{eni_info, port_info};
    use stages_common::{SERVER_ENI, SERVER_MAC, SERVER_SG};
    let (app, public) = (ip("10.0.1.20"), ip("203.0.113.20"));
    on_both_hooks("ports = \"1024-1024\"", |hook, st| {
        let info = eni_info(SERVER_ENI, 4545, SERVER_SG, ENI_KIND_HOST, SERVER_MAC, 0);
        st.set_eni(VPC, app, info);
        st.set_public_ip(VPC, app, public);
        st.set_sg(
            SERVER_SG,
            SG_DIR_INGRESS,
            PROTO_TCP,
            (eip(), 32),
            &[(80, 80)],
        );
        from_web(st);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), public, 40000, 80, "S");
        let out = pkt::tcp(GATEWAY_MAC, SERVER_MAC, eip(), app, 1024, 80, "S");
        assert_out(st, hook, &syn, &out, "web -> app's public IP");
        let flows = st.flow_entries();
        let fwd = flow_key(VPC, web(), public, 40000, 80, PROTO_TCP);
        let rev = flow_key(VPC, app, eip(), 80, 1024, PROTO_TCP);
        let keys: BTreeSet<_> = flows.iter().map(|(k, _)| format!("{k:?}")).collect();
        let want: BTreeSet<_> = [fwd, rev].iter().map(|k| format!("{k:?}")).collect();
        assert_eq!(keys, want, "{hook:?}: the two entries");
        let f = flows.iter().find(|(k, _)| *k == fwd).unwrap().1;
        let r = flows.iter().find(|(k, _)| *k == rev).unwrap().1;
        assert_eq!(
            (f.flags, f.new_src, f.new_dst, f.new_sport, f.new_dport),
            (
                FLOW_F_SNAT | FLOW_F_DNAT,
                eip().octets(),
                app.octets(),
                1024u16.to_be_bytes(),
                80u16.to_be_bytes()
            ),
            "{hook:?}"
        );
        assert_eq!(
            (f.out_vpc, f.dst_eni, f.nat_gateway),
            (VPC, SERVER_ENI, 0),
            "{hook:?}"
        );
        assert_eq!(
            (r.flags, r.new_src, r.new_dst, r.new_sport, r.new_dport),
            (
                FLOW_F_REPLY | FLOW_F_DNAT | FLOW_F_SNAT,
                public.octets(),
                web().octets(),
                80u16.to_be_bytes(),
                40000u16.to_be_bytes()
            ),
            "{hook:?}"
        );
        assert_eq!((r.out_vpc, r.dst_eni), (VPC, CLIENT_ENI), "{hook:?}");
        // Into and out of the gateway's subnet s0, then into app's (s0).
        assert_eq!(
            (f.cross1_from, f.cross1_to, f.cross2_from, f.cross2_to),
            (PRIVATE, 0, 0, 0),
            "{hook:?}"
        );
        assert_eq!(
            (r.cross1_from, r.cross1_to, r.cross2_from, r.cross2_to),
            (0, 0, 0, PRIVATE),
            "{hook:?}"
        );
        st.set_port(port_info(VPC, SERVER_ENI, SERVER_SG, app, SERVER_MAC, 0));
        let synack = pkt::tcp(SERVER_MAC, GATEWAY_MAC, app, eip(), 80, 1024, "SA");
        let back = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, public, web(), 80, 40000, "SA");
        assert_out(st, hook, &synack, &back, "app's SYN-ACK back to web");
        from_web(st);
        let ssh = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), public, 40001, 22, "S");
        let sg = DropReason::IngressSgDeny;
        assert_dropped(st, hook, &ssh, sg, "app's groups: port 22");
        let own = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), eip(), 40002, 80, "S");
        let hairpin = DropReason::NatGatewayHairpin;
        assert_dropped(st, hook, &own, hairpin, "the gateway's own Elastic IP");
        let t = syn.len() as u64;
        let want = NatGatewayCounters {
            // The SYN to app, the SYN app's groups refuse (the gateway sent
            // it: out, not its drop), the one to the Elastic IP (dropped).
            packets_in_from_source: 3,
            bytes_in_from_source: 3 * t,
            packets_out_to_destination: 2,
            bytes_out_to_destination: 2 * t,
            packets_in_from_destination: 1,
            bytes_in_from_destination: t,
            packets_out_to_source: 1,
            bytes_out_to_source: t,
            connection_attempts: 3,
            connections_established: 1,
            packets_dropped: 1,
            error_port_allocation: 0,
            idle_timeouts: 0,
        };
        assert_eq!(st.nat_counters(0), want, "{hook:?}");
        assert_eq!(st.counter(Counter::FlowCreated), 1, "{hook:?}");
    });
}

/// PacketsDropCount is "the number of packets dropped by the NAT gateway"
/// (VPC user guide, "Monitor NAT gateways with Amazon CloudWatch"). The
/// gateway's subnet's outbound ACL denies UDP to example (rule 90): web's
/// datagram reached the gateway, which sent it on; the ACL dropped it
/// (`nacl_egress_deny`, counted on its rule): in from the source and out to
/// the destination, not PacketsDropCount. A TCP SYN the ACL lets pass
/// goes out; a datagram to an address no internet host has is the
/// gateway's own drop (PacketsDropCount). Exact on both hooks.
#[test]
#[ignore = "needs root"]
fn nat_gateway_counts_only_its_own_drops_as_packets_dropped() {
    use dataplane::model::{AclEntry, IcmpMatch, NetworkAcl, Protocol};
    use dataplane_common::NatGatewayCounters;
    let entry = |rule: u16, allow: bool, protocol: Protocol, cidr: &str| AclEntry {
        rule,
        allow,
        protocol,
        ports: (0, 65535),
        icmp: IcmpMatch::ALL,
        cidr: cidr.parse().unwrap(),
    };
    let all = |rule| entry(rule, true, Protocol::All, "0.0.0.0/0");
    let gateway_subnet = NetworkAcl {
        id: "acl-public".into(),
        vpc: 0,
        default: false,
        ingress: vec![all(100)],
        egress: vec![entry(90, false, Protocol::Udp, "203.0.113.10/32"), all(100)],
    };
    let open = NetworkAcl::default_for(0, "vpc-a");
    on_both_hooks("", |hook, st| {
        st.set_nacls(&[&gateway_subnet, &open]);
        from_web(st);
        let udp = pkt::udp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 5353, 53);
        let acl = DropReason::NaclEgressDeny;
        assert_dropped(st, hook, &udp, acl, "UDP out of the gateway's subnet");
        let nport = first_port(40000, 80, PROTO_TCP, AWS_POOL);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "S");
        let out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), nport, 80, "S");
        assert_out(st, hook, &syn, &out, "TCP passes the ACL");
        let nowhere = pkt::udp(CLIENT_MAC, GATEWAY_MAC, web(), ip("198.51.100.7"), 5000, 25);
        let no_host = DropReason::InternetNoHost;
        assert_dropped(st, hook, &nowhere, no_host, "no such host");
        let (u, t) = (udp.len() as u64, syn.len() as u64);
        let want = NatGatewayCounters {
            packets_in_from_source: 3,
            bytes_in_from_source: 2 * u + t,
            packets_out_to_destination: 2,
            bytes_out_to_destination: u + t,
            connection_attempts: 1,
            packets_dropped: 1,
            ..NatGatewayCounters::default()
        };
        assert_eq!(st.nat_counters(0), want, "{hook:?}");
    });
}
