//! Stage tests of ICMP errors (`dataplane-ebpf/src/icmp_error.rs`): an
//! error that quotes a packet of a tracked flow goes back to that packet's
//! sender, translated back through the flow's NAT, with every checksum
//! right; an error that quotes nothing tracked is dropped and counted.
//!
//! The flow entries are written as the AWS rule says a flow leaves them
//! (`Stage::set_flow`); every expected frame is built from scratch here:
//! the quoted packets by etherparse (their TCP/UDP checksums computed over
//! the whole original segment), the outer IPv4 and ICMP checksums by this
//! file's own RFC 1071 sums. Each output is also checked checksum by
//! checksum (outer IPv4, ICMP, quoted IPv4, quoted L4) by recomputing them.

use std::net::Ipv4Addr;

use dataplane::model::{AclEntry, IcmpMatch, NetworkAcl, Protocol};
use dataplane_common::{
    nacl_stat_id, Counter, DropReason, FlowEntry, NaclStatKey, FLOW_F_DNAT, FLOW_F_REPLY,
    FLOW_F_SNAT, FLOW_STATE_ESTABLISHED, GATEWAY_MAC, NACL_RULE_DEFAULT, NO_STAT, NO_SUBNET,
    PROTO_ICMP, PROTO_TCP, PROTO_UDP, SG_DIR_INGRESS,
};
use hyperlab_tests::stage::port_info;
use hyperlab_tests::{
    csum, pkt,
    stage::{eth_to, flow_key, Stage},
    HOOKS,
};

use hyperlab_tests::pkt::{ip_part, FRAG_NEEDED, PORT_UNREACHABLE, TIME_EXCEEDED};

mod stages_common;
use stages_common::*;

const PROVIDER_VPC: u32 = 9;
const TARGET_ENI: u32 = 20;
const TARGET_SG: u32 = 13;
const TARGET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x09, 0x10];
const CLIENT_IFINDEX: u32 = 3131;

/// The interface-endpoint ENI's address in the client's VPC.
fn ep_ip() -> Ipv4Addr {
    ip("10.0.1.50")
}

/// The NLB node's address: the source the target sees.
fn node_ip() -> Ipv4Addr {
    ip("10.9.0.5")
}

fn target_ip() -> Ipv4Addr {
    ip("10.9.0.11")
}

/// PKTGEN: a segment the NLB node sent the target (node:`nport` ->
/// target:8080, ACK+PSH).
fn node_to_target(nport: u16) -> Vec<u8> {
    pkt::tcp(
        GATEWAY_MAC,
        TARGET_MAC,
        node_ip(),
        target_ip(),
        nport,
        8080,
        "AP",
    )
}

/// PKTGEN: the target's ICMP error `kind` to `dst`, quoting the first `n`
/// bytes of the IPv4 packet of frame `received`.
fn target_error(kind: (u8, u8, [u8; 4]), dst: Ipv4Addr, received: &[u8], n: usize) -> Vec<u8> {
    let quote = ip_part(received, n);
    pkt::icmp_error((TARGET_MAC, GATEWAY_MAC), target_ip(), dst, kind, &quote)
}

/// The error the client must get: `kind` from `src`, quoting the first `n`
/// bytes of the IPv4 packet of frame `sent` (as the client sent it).
fn client_error(kind: (u8, u8, [u8; 4]), src: Ipv4Addr, sent: &[u8], n: usize) -> Vec<u8> {
    let quote = ip_part(sent, n);
    pkt::icmp_error((GATEWAY_MAC, CLIENT_MAC), src, client(), kind, &quote)
}

/// Every checksum of an ICMP error frame, recomputed: the outer IPv4
/// header and the ICMP message (`csum::assert_valid`), the quoted IPv4
/// header, and the quoted L4 checksum against `quoted_l4_csum` (what the
/// original packet carried: the quote holds too little to recompute it).
fn assert_checksums(f: &[u8], quoted_l4_csum: Option<u16>, what: &str) {
    csum::assert_valid(f);
    let q = &f[14 + 20 + 8..];
    let ihl = (q[0] & 0x0f) as usize * 4;
    assert_eq!(
        csum::fold(csum::sum(&q[..ihl])),
        0xffff,
        "{what}: quoted IPv4 header checksum"
    );
    if let Some(c) = quoted_l4_csum {
        let off = ihl + if q[9] == PROTO_TCP { 16 } else { 6 };
        assert_eq!(
            u16::from_be_bytes([q[off], q[off + 1]]),
            c,
            "{what}: quoted L4 checksum"
        );
    }
}

/// SETUP: frames arrive from the target's port in the provider VPC; the
/// client's ENI in the consumer VPC admits `icmp_rule` ICMP from the
/// endpoint's address (none: no ICMP rule).
fn target_port(st: &mut Stage, icmp_rule: bool) {
    st.set_port(port_info(
        PROVIDER_VPC,
        TARGET_ENI,
        TARGET_SG,
        target_ip(),
        TARGET_MAC,
        1,
    ));
    client_eni(st, VPC, CLIENT_IFINDEX);
    if icmp_rule {
        st.set_sg(
            CLIENT_SG,
            SG_DIR_INGRESS,
            PROTO_ICMP,
            (ep_ip(), 32),
            &[(0, 65535)],
        );
    }
}

/// The reply entry a PrivateLink flow client:`cport` -> endpoint:`lport`
/// leaves in the provider VPC, NAT port `nport` on the node, target port
/// `tport`: target -> node, translated back to endpoint -> client.
fn privatelink_reply(st: &mut Stage, proto: u8, cport: u16, lport: u16, nport: u16, tport: u16) {
    nat_reply(st, proto, (node_ip(), ep_ip()), cport, lport, nport, tport);
}

/// The reply entry a translated flow leaves: target -> `source` (the NLB
/// node, or an HTTP VPC link's ENI) back to `used` (the endpoint ENI, or
/// the integration address the client used) -> client.
fn nat_reply(
    st: &mut Stage,
    proto: u8,
    (source, used): (Ipv4Addr, Ipv4Addr),
    cport: u16,
    lport: u16,
    nport: u16,
    tport: u16,
) {
    let key = flow_key(PROVIDER_VPC, target_ip(), source, tport, nport, proto);
    st.set_flow(
        key,
        FlowEntry {
            eth: eth_to(CLIENT_MAC),
            out_ifindex: CLIENT_IFINDEX,
            state: FLOW_STATE_ESTABLISHED,
            flags: FLOW_F_REPLY | FLOW_F_SNAT | FLOW_F_DNAT,
            out_vpc: VPC,
            new_src: used.octets(),
            new_dst: client().octets(),
            new_sport: lport.to_be_bytes(),
            new_dport: cport.to_be_bytes(),
            src_eni: TARGET_ENI,
            dst_eni: CLIENT_ENI,
            stat_endpoint: NO_STAT,
            stat_listener: NO_STAT,
            stat_target: NO_STAT,
            cross1_from: NO_SUBNET,
            cross1_to: NO_SUBNET,
            cross2_from: NO_SUBNET,
            cross2_to: NO_SUBNET,
            ..Default::default()
        },
    );
}

/// Fragmentation needed from a PrivateLink target, about a TCP segment the
/// NLB node sent it (node:20042 -> target:8080, whole segment quoted),
/// reaches the consumer as if the endpoint had sent it: from the endpoint's
/// address, quoting the segment as the client sent it (client:40000 ->
/// endpoint:80), with the quoted IPv4 and TCP checksums the original had
/// and valid outer IPv4 and ICMP checksums. With only 8 bytes of the TCP
/// header quoted (RFC 792's minimum), the ports are translated and the
/// quoted TCP checksum, not in the quote, is left alone (as Linux's NAT
/// does). A UDP port unreachable (quoted UDP checksum updated) likewise.
#[test]
#[ignore = "needs root"]
fn frag_needed_through_privatelink_reaches_the_consumer() {
    for hook in HOOKS {
        let mut st = Stage::load();
        target_port(&mut st, true);
        privatelink_reply(&mut st, PROTO_TCP, 40000, 80, 20042, 8080);
        privatelink_reply(&mut st, PROTO_UDP, 40001, 53, 20043, 5353);
        // What the target received, and what the client had sent.
        let at_target = node_to_target(20042);
        let sent = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), ep_ip(), 40000, 80, "AP");
        let sent_csum = u16::from_be_bytes([sent[14 + 20 + 16], sent[14 + 20 + 17]]);
        // The target's error quoting `n` bytes, and what the client gets.
        let through = |n: usize, what: &str| {
            let frame = target_error(FRAG_NEEDED, node_ip(), &at_target, n);
            let want = client_error(FRAG_NEEDED, ep_ip(), &sent, n);
            assert_error_forwarded(&st, hook, &frame, &want, what);
            want
        };
        let want = through(1500, "frag needed, whole TCP segment quoted");
        assert_checksums(&want, Some(sent_csum), "frag needed");
        // RFC 792's minimum quote: the IPv4 header and 8 bytes.
        let want = through(28, "frag needed, 8 bytes of TCP quoted");
        assert_checksums(&want, None, "frag needed, short quote");
        // UDP: port unreachable, the quoted UDP checksum translated.
        let at_target = pkt::udp(GATEWAY_MAC, TARGET_MAC, node_ip(), target_ip(), 20043, 5353);
        let sent = pkt::udp(CLIENT_MAC, GATEWAY_MAC, client(), ep_ip(), 40001, 53);
        let sent_csum = u16::from_be_bytes([sent[14 + 20 + 6], sent[14 + 20 + 7]]);
        let frame = target_error(PORT_UNREACHABLE, node_ip(), &at_target, 1500);
        let want = client_error(PORT_UNREACHABLE, ep_ip(), &sent, 1500);
        assert_error_forwarded(&st, hook, &frame, &want, "port unreachable, UDP");
        assert_checksums(&want, Some(sent_csum), "port unreachable");
        assert_eq!(st.counter(Counter::Forwarded), 3, "{hook:?}");
        assert_eq!(st.eni_counters(CLIENT_ENI).rx_packets, 3, "{hook:?}");
        assert_eq!(st.drops(), vec![], "{hook:?}");
    }
}

/// Through an HTTP VPC link (API service VPC -> integration address ->
/// link ENI in the customer VPC -> target): time exceeded from the target
/// about a segment the link ENI sent reaches the API host from the
/// integration address it used, quoting its own segment.
#[test]
#[ignore = "needs root"]
fn errors_through_a_vpc_link_come_from_the_integration_address() {
    let (link_eni, integration) = (ip("10.9.0.7"), ip("10.0.1.60"));
    for hook in HOOKS {
        let mut st = Stage::load();
        target_port(&mut st, false);
        st.set_sg(
            CLIENT_SG,
            SG_DIR_INGRESS,
            PROTO_ICMP,
            (integration, 32),
            &[(0, 65535)],
        );
        nat_reply(
            &mut st,
            PROTO_TCP,
            (link_eni, integration),
            41000,
            443,
            1030,
            8443,
        );
        let at_target = pkt::tcp(
            GATEWAY_MAC,
            TARGET_MAC,
            link_eni,
            target_ip(),
            1030,
            8443,
            "AP",
        );
        let sent = pkt::tcp(
            CLIENT_MAC,
            GATEWAY_MAC,
            client(),
            integration,
            41000,
            443,
            "AP",
        );
        let sent_csum = u16::from_be_bytes([sent[14 + 20 + 16], sent[14 + 20 + 17]]);
        let frame = target_error(TIME_EXCEEDED, link_eni, &at_target, 1500);
        let want = client_error(TIME_EXCEEDED, integration, &sent, 1500);
        assert_error_forwarded(&st, hook, &frame, &want, "time exceeded through a VPC link");
        assert_checksums(&want, Some(sent_csum), "VPC link");
    }
}

/// The consumer's security groups decide: without a rule admitting ICMP
/// from the endpoint's address, the error is dropped (`ingress_sg_deny`).
#[test]
#[ignore = "needs root"]
fn receiver_groups_decide() {
    for hook in HOOKS {
        let mut st = Stage::load();
        target_port(&mut st, false);
        privatelink_reply(&mut st, PROTO_TCP, 40000, 80, 20042, 8080);
        let frame = target_error(FRAG_NEEDED, node_ip(), &node_to_target(20042), 1500);
        assert_dropped(&st, hook, &frame, DropReason::IngressSgDeny, "no ICMP rule");
    }
}

/// SETUP inside one VPC, no NAT: frames arrive from the server's port (in
/// subnet `server_subnet`; the client's is 0), the client's groups admit
/// ICMP from the VPC, and client:33434 -> server:33435 (UDP) is tracked
/// (its reply entry, crossing from the server's subnet into the client's).
fn intra_vpc_scene(st: &mut Stage, server_subnet: u16) {
    from_server_port(st, server_subnet);
    client_eni(st, VPC, CLIENT_IFINDEX);
    st.set_sg(
        CLIENT_SG,
        SG_DIR_INGRESS,
        PROTO_ICMP,
        (ip("10.0.0.0"), 16),
        &[(0, 65535)],
    );
    // The reply entry of client:33434 -> server:33435 (no NAT).
    st.set_flow(
        flow_key(VPC, server(), client(), 33435, 33434, PROTO_UDP),
        FlowEntry {
            eth: eth_to(CLIENT_MAC),
            out_ifindex: CLIENT_IFINDEX,
            state: FLOW_STATE_ESTABLISHED,
            flags: FLOW_F_REPLY,
            out_vpc: VPC,
            new_src: server().octets(),
            new_dst: client().octets(),
            new_sport: 33435u16.to_be_bytes(),
            new_dport: 33434u16.to_be_bytes(),
            src_eni: SERVER_ENI,
            dst_eni: CLIENT_ENI,
            stat_endpoint: NO_STAT,
            stat_listener: NO_STAT,
            stat_target: NO_STAT,
            cross1_from: server_subnet,
            cross1_to: 0,
            cross2_from: NO_SUBNET,
            cross2_to: NO_SUBNET,
            ..Default::default()
        },
    );
}

/// Time exceeded inside one VPC, no NAT: the server's error about the
/// client's UDP datagram goes to the client as it was sent, only the MACs
/// change (every checksum still valid).
#[test]
#[ignore = "needs root"]
fn time_exceeded_intra_vpc() {
    for hook in HOOKS {
        let mut st = Stage::load();
        intra_vpc_scene(&mut st, 0);
        let sent = pkt::udp(CLIENT_MAC, GATEWAY_MAC, client(), server(), 33434, 33435);
        let (t, c, rest) = TIME_EXCEEDED;
        let frame = pkt::icmp_error(
            (SERVER_MAC, GATEWAY_MAC),
            server(),
            client(),
            (t, c, rest),
            &ip_part(&sent, 1500),
        );
        let want = pkt::with_macs(&frame, CLIENT_MAC, GATEWAY_MAC);
        assert_error_forwarded(&st, hook, &frame, &want, "time exceeded");
        let sent_csum = u16::from_be_bytes([sent[14 + 20 + 6], sent[14 + 20 + 7]]);
        assert_checksums(&want, Some(sent_csum), "time exceeded");
        assert_eq!(st.eni_counters(CLIENT_ENI).rx_packets, 1, "{hook:?}");
    }
}

/// Errors that quote no tracked flow are dropped and counted: a quote of a
/// tuple no entry holds, an error not addressed to the quoted packet's
/// sender (`icmp_error_no_flow`), and quotes that are no IPv4 packet or
/// hold under 8 bytes of its TCP header (`icmp_error_bad_quote`).
#[test]
#[ignore = "needs root"]
fn unmatched_errors_are_dropped() {
    for hook in HOOKS {
        let mut st = Stage::load();
        target_port(&mut st, true);
        privatelink_reply(&mut st, PROTO_TCP, 40000, 80, 20042, 8080);
        let (t, c, rest) = FRAG_NEEDED;
        let quoting = |at: &[u8], n: usize, dst: Ipv4Addr| target_error(FRAG_NEEDED, dst, at, n);
        // Another NAT port: no flow.
        let other = node_to_target(20043);
        assert_dropped(
            &st,
            hook,
            &quoting(&other, 1500, node_ip()),
            DropReason::IcmpErrorNoFlow,
            "no such flow",
        );
        // The tracked flow's segment, but the error goes elsewhere.
        let tracked = node_to_target(20042);
        assert_dropped(
            &st,
            hook,
            &quoting(&tracked, 1500, ip("10.9.0.6")),
            DropReason::IcmpErrorNoFlow,
            "not to the quoted sender",
        );
        let mut v6 = ip_part(&tracked, 1500);
        v6[0] = 0x65;
        let f = pkt::icmp_error(
            (TARGET_MAC, GATEWAY_MAC),
            target_ip(),
            node_ip(),
            (t, c, rest),
            &v6,
        );
        assert_dropped(
            &st,
            hook,
            &f,
            DropReason::IcmpErrorBadQuote,
            "quote not IPv4",
        );
        assert_dropped(
            &st,
            hook,
            &quoting(&tracked, 27, node_ip()),
            DropReason::IcmpErrorBadQuote,
            "7 bytes of TCP",
        );
        assert_eq!(st.counter(Counter::IcmpErrorForwarded), 0, "{hook:?}");
        assert_eq!(st.counter(Counter::Forwarded), 0, "{hook:?}");
    }
}

/// Network ACLs judge an error like any packet, by its ICMP type and code
/// (stateless): across subnets, the client's subnet admits ICMP type 3
/// code 4 only (rule 100). Fragmentation needed passes; time exceeded
/// meets the final `*` (`nacl_ingress_deny`, counted on rule 32767).
#[test]
#[ignore = "needs root"]
fn network_acls_judge_errors_by_type_and_code() {
    for hook in HOOKS {
        let mut st = Stage::load();
        intra_vpc_scene(&mut st, 1);
        let all = |rule| {
            AclEntry::new(
                rule,
                true,
                Protocol::All,
                (0, 65535),
                "0.0.0.0/0".parse().unwrap(),
            )
        };
        let frag_needed_only = AclEntry {
            protocol: Protocol::Icmp,
            icmp: IcmpMatch {
                icmp_type: Some(3),
                code: Some(4),
            },
            ..all(100)
        };
        let acl = |id: &str, ingress| NetworkAcl {
            id: id.into(),
            vpc: 0,
            default: false,
            ingress,
            egress: vec![all(100)],
        };
        let client_acl = acl("acl-client", vec![frag_needed_only]);
        let open = acl("acl-open", vec![all(100)]);
        st.set_nacls(&[&client_acl, &open]);
        let sent = pkt::udp(CLIENT_MAC, GATEWAY_MAC, client(), server(), 33434, 33435);
        let error = |(t, c, rest): (u8, u8, [u8; 4])| {
            pkt::icmp_error(
                (SERVER_MAC, GATEWAY_MAC),
                server(),
                client(),
                (t, c, rest),
                &ip_part(&sent, 1500),
            )
        };
        let frame = error(FRAG_NEEDED);
        let want = pkt::with_macs(&frame, CLIENT_MAC, GATEWAY_MAC);
        assert_error_forwarded(&st, hook, &frame, &want, "frag needed: rule 100");
        assert_dropped(
            &st,
            hook,
            &error(TIME_EXCEEDED),
            DropReason::NaclIngressDeny,
            "time exceeded: *",
        );
        assert_eq!(
            st.nacl_drops(),
            vec![(
                NaclStatKey {
                    nacl: nacl_stat_id(b"acl-client"),
                    rule: NACL_RULE_DEFAULT,
                    dir: SG_DIR_INGRESS,
                    _pad: 0,
                },
                1
            )],
            "{hook:?}"
        );
    }
}
