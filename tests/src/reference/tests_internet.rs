//! The reference model's ICMP errors to and from the lab's internet
//! (`icmp_error.rs`): through the internet gateway's 1:1 NAT and the NAT
//! gateway's source NAT, translated back, exact bytes (expected frames built
//! from scratch: etherparse for the quoted packets, RFC 1071 sums here).

use std::net::Ipv4Addr;

use dataplane_common::{Counter, DropReason, GATEWAY_MAC};

use super::{Model, Port, Verdict};
use crate::pkt::{icmp_error, FRAG_NEEDED, PORT_UNREACHABLE};
use crate::{ip, pkt, topology};

/// The shipped NAT gateway lab (web behind the internet gateway with
/// public address 203.0.113.20, app behind nat-a with Elastic IP
/// 203.0.113.50); `icmp_in`: both groups admit type 3 code 4 from anywhere.
fn model(icmp_in: bool) -> Model {
    let mut text = include_str!("../../../configs/nat-gateway.toml").to_string();
    if icmp_in {
        let rule = r#"{ protocol = "icmp", icmp = { type = 3, code = 4 }, peer = "0.0.0.0/0" }"#;
        text = text
            .replace(
                r#"ingress = [{ protocol = "tcp", ports = "80", peer = "0.0.0.0/0" }]"#,
                &format!(r#"ingress = [{{ protocol = "tcp", ports = "80", peer = "0.0.0.0/0" }}, {rule}]"#),
            )
            .replace(
                r#"ingress = [{ protocol = "all", peer = "10.0.0.0/16" }]"#,
                &format!(r#"ingress = [{{ protocol = "all", peer = "10.0.0.0/16" }}, {rule}]"#),
            );
        assert_eq!(text.matches("type = 3, code = 4").count(), 2);
    }
    Model::new(&topology(&text, "natgw"), None)
}

struct Ends {
    eni: usize,
    mac: [u8; 6],
    ip: Ipv4Addr,
    host_mac: [u8; 6],
}

fn ends(m: &Model, eni: &str) -> Ends {
    let t = m.topology();
    let e = t.eni_by_id(eni).unwrap();
    Ends {
        eni: e,
        mac: t.enis[e].mac,
        ip: t.enis[e].ip,
        host_mac: t.internet.hosts[0].mac,
    }
}

fn forwarded(m: &mut Model, from: Port, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let o = m.process(from, frame);
    (o.verdict, o.out)
}

/// web (10.0.1.20, public 203.0.113.20): fragmentation needed from the
/// internet host about web's segment reaches web quoting the segment as
/// web sent it (denied without a type 3 code 4 rule); web's port
/// unreachable about the host's segment to 203.0.113.20 leaves from the
/// public address, quoting what the host sent (the host has no groups).
#[test]
fn errors_through_the_internet_gateway_are_translated_back() {
    let (host, public) = (ip("203.0.113.10"), ip("203.0.113.20"));
    for icmp_in in [false, true] {
        let mut m = model(icmp_in);
        let w = ends(&m, "eni-web");
        let sent = pkt::tcp(w.mac, GATEWAY_MAC, w.ip, host, 40000, 443, "S");
        let (v, at_host) = forwarded(&mut m, Port::Eni(w.eni), &sent);
        assert_eq!(
            v,
            Verdict::Forward {
                eni: m.topology().enis.len()
            }
        );
        assert_eq!(
            at_host,
            pkt::tcp(GATEWAY_MAC, w.host_mac, public, host, 40000, 443, "S")
        );
        let err = icmp_error(
            (w.host_mac, GATEWAY_MAC),
            host,
            public,
            FRAG_NEEDED,
            &at_host[14..],
        );
        let (v, out) = forwarded(&mut m, Port::Internet(0), &err);
        if !icmp_in {
            assert_eq!((v, out), (Verdict::Drop(DropReason::IngressSgDeny), err));
            continue;
        }
        let want = icmp_error((GATEWAY_MAC, w.mac), host, w.ip, FRAG_NEEDED, &sent[14..]);
        assert_eq!((v, out), (Verdict::Forward { eni: w.eni }, want));
        // From the internet to web's public address, and web's error back.
        let syn = pkt::tcp(w.host_mac, GATEWAY_MAC, host, public, 5555, 80, "S");
        let (v, at_web) = forwarded(&mut m, Port::Internet(0), &syn);
        assert_eq!(v, Verdict::Forward { eni: w.eni });
        let err = icmp_error(
            (w.mac, GATEWAY_MAC),
            w.ip,
            host,
            PORT_UNREACHABLE,
            &at_web[14..],
        );
        let (v, out) = forwarded(&mut m, Port::Eni(w.eni), &err);
        let want = icmp_error(
            (GATEWAY_MAC, w.host_mac),
            public,
            host,
            PORT_UNREACHABLE,
            &syn[14..],
        );
        assert_eq!(
            v,
            Verdict::Forward {
                eni: m.topology().enis.len()
            }
        );
        assert_eq!(out, want);
        assert_eq!(m.counters().count(Counter::IcmpErrorForwarded), 2);
    }
}

/// app (10.0.2.30, behind nat-a): the host's fragmentation needed about
/// 203.0.113.50:nport reaches app quoting app's own segment (app:40000).
#[test]
fn errors_through_the_nat_gateway_are_translated_back() {
    let (host, eip) = (ip("203.0.113.10"), ip("203.0.113.50"));
    let mut m = model(true);
    let a = ends(&m, "eni-app");
    let sent = pkt::tcp(a.mac, GATEWAY_MAC, a.ip, host, 40000, 443, "S");
    let (v, at_host) = forwarded(&mut m, Port::Eni(a.eni), &sent);
    assert_eq!(
        v,
        Verdict::Forward {
            eni: m.topology().enis.len()
        }
    );
    let nport = u16::from_be_bytes([at_host[34], at_host[35]]);
    assert_eq!(
        at_host,
        pkt::tcp(GATEWAY_MAC, a.host_mac, eip, host, nport, 443, "S")
    );
    let err = icmp_error(
        (a.host_mac, GATEWAY_MAC),
        host,
        eip,
        FRAG_NEEDED,
        &at_host[14..],
    );
    let (v, out) = forwarded(&mut m, Port::Internet(0), &err);
    let want = icmp_error((GATEWAY_MAC, a.mac), host, a.ip, FRAG_NEEDED, &sent[14..]);
    assert_eq!((v, out), (Verdict::Forward { eni: a.eni }, want));
}

/// Rule 14: app's 300-byte UDP datagram to the internet host in three
/// fragments leaves through nat-a: each fragment as cut from the translated
/// datagram built whole by etherparse (the first with the Elastic IP, the
/// gateway's port and the whole datagram's UDP checksum; the later ones
/// with the Elastic IP only); the host's fragmented reply comes back the
/// same way. A later fragment of no datagram and a TCP fragment are
/// `fragment`; after the flows are forgotten, the datagram's later
/// fragment is too (its memory goes with them).
#[test]
fn fragmented_udp_goes_through_the_nat_gateway_both_ways() {
    let (host, eip) = (ip("203.0.113.10"), ip("203.0.113.50"));
    let mut m = model(false);
    let a = ends(&m, "eni-app");
    let payload: Vec<u8> = (0..300u16).map(|i| (i * 7) as u8).collect();
    let cuts = [104, 208];
    let whole = pkt::udp_payload(a.mac, GATEWAY_MAC, (a.ip, host), (5353, 53), &payload);
    let sent = pkt::fragments(&whole, 0x5151, &cuts);
    let (v, first) = forwarded(&mut m, Port::Eni(a.eni), &sent[0]);
    let internet = Verdict::Forward {
        eni: m.topology().enis.len(),
    };
    assert_eq!(v, internet);
    let nport = u16::from_be_bytes([first[34], first[35]]);
    let out = pkt::udp_payload(GATEWAY_MAC, a.host_mac, (eip, host), (nport, 53), &payload);
    let want = pkt::fragments(&out, 0x5151, &cuts);
    assert_eq!(first, want[0]);
    for i in 1..3 {
        assert_eq!(
            forwarded(&mut m, Port::Eni(a.eni), &sent[i]),
            (internet, want[i].clone()),
            "{i}"
        );
    }
    let reply = pkt::udp_payload(a.host_mac, GATEWAY_MAC, (host, eip), (53, nport), &payload);
    let back = pkt::udp_payload(GATEWAY_MAC, a.mac, (host, a.ip), (53, 5353), &payload);
    let (sent, want) = (
        pkt::fragments(&reply, 7, &cuts),
        pkt::fragments(&back, 7, &cuts),
    );
    for i in 0..3 {
        let o = forwarded(&mut m, Port::Internet(0), &sent[i]);
        assert_eq!(
            o,
            (Verdict::Forward { eni: a.eni }, want[i].clone()),
            "{i} back"
        );
    }
    let frag = Verdict::Drop(DropReason::Fragment);
    let orphan = pkt::fragments(&reply, 8, &cuts);
    assert_eq!(forwarded(&mut m, Port::Internet(0), &orphan[2]).0, frag);
    let tcp = pkt::tcp(a.mac, GATEWAY_MAC, a.ip, host, 40000, 80, "S");
    assert_eq!(
        forwarded(&mut m, Port::Eni(a.eni), &pkt::fragments(&tcp, 9, &[8])[0]).0,
        frag
    );
    m.clear_flows();
    assert_eq!(forwarded(&mut m, Port::Internet(0), &sent[2]).0, frag);
    assert_eq!(m.counters().counters[Counter::FlowCreated as usize], 1);
}

/// Rule 13's hairpin: app (behind nat-a) to web's public IP 203.0.113.20
/// goes out from the Elastic IP and a pool port and comes back in through
/// the internet gateway to web's private address (web's groups admit TCP
/// 80 from anywhere, its table routes the Elastic IP to igw-a); web's
/// SYN-ACK to the Elastic IP returns to app from 203.0.113.20. To the
/// gateway's own Elastic IP: `nat_gateway_hairpin`, counted in and dropped.
/// web's groups refuse UDP: the gateway sent it on (in and out), the
/// receiver's groups dropped it (`ingress_sg_deny`, not PacketsDropCount).
#[test]
fn a_nat_gateway_hairpins_to_a_public_ip_and_not_to_an_elastic_ip() {
    let (public, eip) = (ip("203.0.113.20"), ip("203.0.113.50"));
    let mut m = model(false);
    let a = ends(&m, "eni-app");
    let w = ends(&m, "eni-web");
    let syn = pkt::tcp(a.mac, GATEWAY_MAC, a.ip, public, 40000, 80, "S");
    let (v, out) = forwarded(&mut m, Port::Eni(a.eni), &syn);
    assert_eq!(v, Verdict::Forward { eni: w.eni });
    let port = u16::from_be_bytes([out[34], out[35]]);
    assert!((1024..=56_023).contains(&port), "{port}");
    assert_eq!(out, pkt::tcp(GATEWAY_MAC, w.mac, eip, w.ip, port, 80, "S"));
    let synack = pkt::tcp(w.mac, GATEWAY_MAC, w.ip, eip, 80, port, "SA");
    let (v, back) = forwarded(&mut m, Port::Eni(w.eni), &synack);
    assert_eq!(v, Verdict::Forward { eni: a.eni });
    assert_eq!(
        back,
        pkt::tcp(GATEWAY_MAC, a.mac, public, a.ip, 80, 40000, "SA")
    );
    let own = pkt::tcp(a.mac, GATEWAY_MAC, a.ip, eip, 40001, 80, "S");
    let (v, _) = forwarded(&mut m, Port::Eni(a.eni), &own);
    assert_eq!(v, Verdict::Drop(DropReason::NatGatewayHairpin));
    let udp = pkt::udp(a.mac, GATEWAY_MAC, a.ip, public, 5000, 53);
    let (v, _) = forwarded(&mut m, Port::Eni(a.eni), &udp);
    assert_eq!(v, Verdict::Drop(DropReason::IngressSgDeny));
    let c = m.counters().nat_gateways[0];
    let (t, u) = (syn.len() as u64, udp.len() as u64);
    assert_eq!(
        (
            c.packets_in_from_source,
            c.packets_out_to_destination,
            c.packets_dropped
        ),
        (3, 2, 1)
    );
    assert_eq!(
        (c.bytes_in_from_source, c.bytes_out_to_destination),
        (2 * t + u, t + u)
    );
    assert_eq!(
        (c.packets_in_from_destination, c.packets_out_to_source),
        (1, 1)
    );
    assert_eq!(m.counters().count(Counter::FlowCreated), 1);
}
