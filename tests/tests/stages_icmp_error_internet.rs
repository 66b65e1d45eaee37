//! Stage tests of ICMP errors to and from the lab's internet
//! (`dataplane-ebpf/src/icmp_error.rs`, docs/DATAPLANE.md "ICMP errors"):
//! an error quoting a packet of a flow through the internet gateway (1:1
//! NAT) or a NAT gateway (source NAT to the Elastic IP and a port of its
//! own) goes back to the quoted packet's sender translated back through
//! the flow's NAT, every checksum right. The flows are made by the kernel
//! itself (their first packets run first); every expected frame is built
//! from scratch (etherparse for the quoted packets, RFC 1071 sums here for
//! the outer IPv4 and ICMP checksums). A host of the internet has no
//! security groups; a VPC host's ingress rules must admit the error's type
//! and code (AWS: type 3 code 4 for Path MTU discovery).

use std::net::Ipv4Addr;

use dataplane::model::Hook;
use dataplane_common::{DropReason, GATEWAY_MAC, PROTO_ICMP, PROTO_TCP, PROTO_UDP, SG_DIR_INGRESS};
use hyperlab_tests::pkt::{icmp_error, ip_part, FRAG_NEEDED, PORT_UNREACHABLE};
use hyperlab_tests::{csum, pkt, stage::Stage, Verdict, HOOKS};

mod stages_common;
use stages_common::internet::{
    eip, first_port, from_internet, from_web, host, internet_scene, nat_toml, web_private,
    AWS_POOL, HOST_MAC,
};
use stages_common::{assert_dropped, assert_error_forwarded, ip, CLIENT_MAC, CLIENT_SG, VPC};

const PUBLIC_SUBNET: u16 = 0;
const PRIVATE_SUBNET: u16 = 1;

/// `web` in the public subnet (behind the internet gateway).
fn web_public() -> Ipv4Addr {
    ip("10.0.1.20")
}
fn public() -> Ipv4Addr {
    ip("203.0.113.20")
}

/// SETUP: the tables of `nat_toml("")`, open ACLs, the internet host, web's
/// public address and nat-a's Elastic IP; web (address `addr` in
/// `subnet`) lets everything out, admits UDP 53 from anywhere, and ICMP
/// type 3 code 4 or 3 if `icmp_in`.
fn scene(addr: Ipv4Addr, subnet: u16, icmp_in: bool) -> Stage {
    let mut st = Stage::load();
    internet_scene(&mut st, &nat_toml(""), addr, subnet);
    st.set_public_ip(VPC, web_public(), public());
    st.set_nat_gateway_eip(0, eip(), ip("10.0.1.100"));
    let any = (ip("0.0.0.0"), 0);
    st.set_sg(CLIENT_SG, SG_DIR_INGRESS, PROTO_UDP, any, &[(53, 53)]);
    if icmp_in {
        st.set_sg(
            CLIENT_SG,
            SG_DIR_INGRESS,
            PROTO_ICMP,
            any,
            &[(0x0303, 0x0304)],
        );
    }
    st
}

/// Runs `frame`, asserts it was forwarded as exactly `want` (every
/// checksum valid: outer IPv4, ICMP, the quoted IPv4 header) and counted.
fn run_forwarded(st: &Stage, hook: Hook, frame: &[u8], want: &[u8], what: &str) {
    assert_error_forwarded(st, hook, frame, want, what);
    csum::assert_valid(want);
    let q = &want[14 + 20 + 8..];
    assert_eq!(
        csum::fold(csum::sum(&q[..20])),
        0xffff,
        "{hook:?} {what}: quoted IPv4 header checksum"
    );
}

/// Runs `frame` (a first packet) and returns what was forwarded.
fn forwarded(st: &Stage, hook: Hook, frame: &[u8], what: &str) -> Vec<u8> {
    let o = st.run(hook, frame);
    assert_eq!(o.verdict, Verdict::Forward, "{hook:?} {what}: forwarded");
    o.out
}

/// Path MTU discovery through the internet gateway: web (10.0.1.20, public
/// 203.0.113.20) sends a TCP segment to the internet host; a router there
/// answers fragmentation needed quoting the whole segment as it saw it
/// (from 203.0.113.20). Web receives it from the host, quoting the segment
/// exactly as web sent it (source 10.0.1.20, the original IPv4 and TCP
/// checksums). Without an ingress rule for type 3 code 4 it is dropped
/// (`ingress_sg_deny`).
#[test]
#[ignore = "needs root"]
fn frag_needed_from_the_internet_comes_back_through_the_internet_gateway() {
    for hook in HOOKS {
        for icmp_in in [true, false] {
            let mut st = scene(web_public(), PUBLIC_SUBNET, icmp_in);
            from_web(&mut st, web_public(), PUBLIC_SUBNET);
            let sent = pkt::tcp(
                CLIENT_MAC,
                GATEWAY_MAC,
                web_public(),
                host(),
                40000,
                443,
                "S",
            );
            let at_host = forwarded(&st, hook, &sent, "web -> example");
            assert_eq!(
                at_host,
                pkt::tcp(GATEWAY_MAC, HOST_MAC, public(), host(), 40000, 443, "S"),
                "{hook:?}: the segment as the internet sees it"
            );
            from_internet(&mut st);
            let err = icmp_error(
                (HOST_MAC, GATEWAY_MAC),
                host(),
                public(),
                FRAG_NEEDED,
                &ip_part(&at_host, 1500),
            );
            if !icmp_in {
                assert_dropped(&st, hook, &err, DropReason::IngressSgDeny, "no ICMP rule");
                continue;
            }
            let want = icmp_error(
                (GATEWAY_MAC, CLIENT_MAC),
                host(),
                web_public(),
                FRAG_NEEDED,
                &ip_part(&sent, 1500),
            );
            run_forwarded(&st, hook, &err, &want, "frag needed -> web");
            // RFC 792's minimum quote (IPv4 header + 8 bytes): the address
            // translated, the TCP checksum (not quoted) untouched.
            let err8 = icmp_error(
                (HOST_MAC, GATEWAY_MAC),
                host(),
                public(),
                FRAG_NEEDED,
                &ip_part(&at_host, 28),
            );
            let want8 = icmp_error(
                (GATEWAY_MAC, CLIENT_MAC),
                host(),
                web_public(),
                FRAG_NEEDED,
                &ip_part(&sent, 28),
            );
            run_forwarded(&st, hook, &err8, &want8, "frag needed, 8 bytes quoted");
        }
    }
}

/// A UDP datagram from the internet host to web's public address reaches
/// web at 10.0.1.20; web's port unreachable about it reaches the host from
/// the public address, quoting the datagram as the host sent it (to
/// 203.0.113.20, its UDP checksum as sent). The internet host has no
/// security groups: nothing but the flow decides.
#[test]
#[ignore = "needs root"]
fn port_unreachable_to_the_internet_leaves_from_the_public_address() {
    for hook in HOOKS {
        let mut st = scene(web_public(), PUBLIC_SUBNET, false);
        from_internet(&mut st);
        let sent = pkt::udp(HOST_MAC, GATEWAY_MAC, host(), public(), 5353, 53);
        let at_web = forwarded(&st, hook, &sent, "example -> web's public address");
        assert_eq!(
            at_web,
            pkt::udp(GATEWAY_MAC, CLIENT_MAC, host(), web_public(), 5353, 53),
            "{hook:?}: the datagram as web sees it"
        );
        from_web(&mut st, web_public(), PUBLIC_SUBNET);
        let err = icmp_error(
            (CLIENT_MAC, GATEWAY_MAC),
            web_public(),
            host(),
            PORT_UNREACHABLE,
            &ip_part(&at_web, 1500),
        );
        let want = icmp_error(
            (GATEWAY_MAC, HOST_MAC),
            public(),
            host(),
            PORT_UNREACHABLE,
            &ip_part(&sent, 1500),
        );
        run_forwarded(&st, hook, &err, &want, "port unreachable -> example");
    }
}

/// The NAT gateway's source port for web_private:`sport` -> host:`dport`
/// (the spec's first port: `lo + flow_hash(tuple) % range`).
fn nat_port(sport: u16, dport: u16, proto: u8) -> u16 {
    first_port(sport, dport, proto, AWS_POOL)
}

/// Through the NAT gateway, both ways: (1) web's TCP segment leaves as
/// 203.0.113.50:nport; the host's fragmentation needed about it reaches web
/// quoting web's own segment (10.0.2.30:40000, checksums as sent). (2) The
/// host's UDP answer to 203.0.113.50:nport reaches web at 10.0.2.30:40001;
/// web's port unreachable about it reaches the host from the Elastic IP,
/// quoting the answer as the host sent it (to the Elastic IP and nport).
#[test]
#[ignore = "needs root"]
fn icmp_errors_through_the_nat_gateway_are_translated_back_both_ways() {
    for hook in HOOKS {
        let mut st = scene(web_private(), PRIVATE_SUBNET, true);
        from_web(&mut st, web_private(), PRIVATE_SUBNET);
        let tport = nat_port(40000, 443, PROTO_TCP);
        let sent = pkt::tcp(
            CLIENT_MAC,
            GATEWAY_MAC,
            web_private(),
            host(),
            40000,
            443,
            "S",
        );
        let at_host = forwarded(&st, hook, &sent, "web -> example (tcp)");
        assert_eq!(
            at_host,
            pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), tport, 443, "S"),
            "{hook:?}: the segment as the internet sees it"
        );
        let uport = nat_port(40001, 53, PROTO_UDP);
        let query = pkt::udp(CLIENT_MAC, GATEWAY_MAC, web_private(), host(), 40001, 53);
        forwarded(&st, hook, &query, "web -> example (udp)");
        from_internet(&mut st);
        let err = icmp_error(
            (HOST_MAC, GATEWAY_MAC),
            host(),
            eip(),
            FRAG_NEEDED,
            &ip_part(&at_host, 1500),
        );
        let want = icmp_error(
            (GATEWAY_MAC, CLIENT_MAC),
            host(),
            web_private(),
            FRAG_NEEDED,
            &ip_part(&sent, 1500),
        );
        run_forwarded(&st, hook, &err, &want, "frag needed -> web");
        let answer = pkt::udp(HOST_MAC, GATEWAY_MAC, host(), eip(), 53, uport);
        let at_web = forwarded(&st, hook, &answer, "example's answer");
        assert_eq!(
            at_web,
            pkt::udp(GATEWAY_MAC, CLIENT_MAC, host(), web_private(), 53, 40001),
            "{hook:?}: the answer as web sees it"
        );
        from_web(&mut st, web_private(), PRIVATE_SUBNET);
        let err = icmp_error(
            (CLIENT_MAC, GATEWAY_MAC),
            web_private(),
            host(),
            PORT_UNREACHABLE,
            &ip_part(&at_web, 1500),
        );
        let want = icmp_error(
            (GATEWAY_MAC, HOST_MAC),
            eip(),
            host(),
            PORT_UNREACHABLE,
            &ip_part(&answer, 1500),
        );
        run_forwarded(&st, hook, &err, &want, "port unreachable -> example");
    }
}
