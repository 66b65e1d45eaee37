//! Stage tests of the internet gateway (docs/DATAPLANE.md, "Internet
//! gateway and the lab's internet"), one mechanism at a time as in
//! `stages.rs` (PKTGEN / SETUP / CHECK, see `hyperlab_tests::stage`).
//! Expected frames are built from scratch (etherparse computes every
//! checksum), never taken from the agent's compiler: the gateway is AWS's
//! 1:1 NAT between an ENI's private and public address (VPC user guide,
//! "Enable internet access for a VPC using an internet gateway").

use std::net::Ipv4Addr;

use dataplane_common::{
    nacl_stat_id, Counter, DropReason, RouteStatKey, FLOW_F_DNAT, FLOW_F_REPLY, FLOW_F_SNAT,
    GATEWAY_MAC, INTERNET_VPC, PROTO_TCP, ROUTE_NO_MATCH, SG_DIR_EGRESS, SG_DIR_INGRESS,
};
use hyperlab_tests::{
    pkt,
    stage::{flow_key, Stage},
    Verdict, HOOKS,
};

mod stages_common;
use stages_common::internet::{
    assert_no_such_host, assert_out, from_internet, from_web, host, internet_scene, HOST_ENI,
    HOST_MAC, IGW_TOML,
};
use stages_common::{assert_dropped, ip, CLIENT_ENI, CLIENT_MAC, CLIENT_SG, VPC};

fn web() -> Ipv4Addr {
    ip("10.0.1.20")
}
fn public() -> Ipv4Addr {
    ip("203.0.113.20")
}

/// SETUP: the tables of `IGW_TOML`, open ACLs, the internet host, and
/// `web` (10.0.1.20 in subnet `subnet`, public address 203.0.113.20)
/// whose groups let everything out and TCP 80 in from anywhere.
fn scene(st: &mut Stage, subnet: u16) {
    internet_scene(st, IGW_TOML, web(), subnet);
    st.set_public_ip(VPC, web(), public());
    let any = (ip("0.0.0.0"), 0);
    st.set_sg(CLIENT_SG, SG_DIR_INGRESS, PROTO_TCP, any, &[(80, 80)]);
}

/// Out and back through the gateway: web's SYN to the internet host
/// leaves with its public address as the source (1:1 NAT, ports kept);
/// the host's SYN-ACK to the public address comes back to 10.0.1.20. Both
/// directions are recorded: the forward entry under web's tuple in its
/// VPC, the reply entry under the translated tuple in the internet's.
#[test]
#[ignore = "needs root"]
fn igw_out_translates_the_source_to_the_public_ip_and_back() {
    for hook in HOOKS {
        let mut st = Stage::load();
        scene(&mut st, 0);
        from_web(&mut st, web(), 0);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "S");
        let out = pkt::tcp(GATEWAY_MAC, HOST_MAC, public(), host(), 40000, 80, "S");
        assert_out(&st, hook, &syn, &out, "web -> example");
        let flows = st.flow_entries();
        let fwd = flow_key(VPC, web(), host(), 40000, 80, PROTO_TCP);
        let rev = flow_key(INTERNET_VPC, host(), public(), 80, 40000, PROTO_TCP);
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
        assert_eq!(flows.len(), 2, "{hook:?}");
        assert_eq!(
            (f.flags, f.new_src, f.out_vpc, f.dst_eni),
            (FLOW_F_SNAT, public().octets(), INTERNET_VPC, HOST_ENI),
            "{hook:?}"
        );
        assert_eq!(
            (r.flags, r.new_dst, r.out_vpc, r.dst_eni),
            (FLOW_F_REPLY | FLOW_F_DNAT, web().octets(), VPC, CLIENT_ENI),
            "{hook:?}"
        );
        from_internet(&mut st);
        let synack = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), public(), 80, 40000, "SA");
        let back = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 80, 40000, "SA");
        assert_out(
            &st,
            hook,
            &synack,
            &back,
            "example -> web's public IP (reply)",
        );
        // UDP and ICMP echo take the same translation.
        from_web(&mut st, web(), 0);
        let udp = pkt::udp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 5353, 53);
        let udp_out = pkt::udp(GATEWAY_MAC, HOST_MAC, public(), host(), 5353, 53);
        assert_out(&st, hook, &udp, &udp_out, "udp web -> example");
        let echo = pkt::echo(CLIENT_MAC, GATEWAY_MAC, web(), host(), 77, true);
        let echo_out = pkt::echo(GATEWAY_MAC, HOST_MAC, public(), host(), 77, true);
        assert_out(&st, hook, &echo, &echo_out, "ping web -> example");
        // ICMP meets the ACLs of its entry's boundaries on every packet:
        // the internet side has none, web's subnet admits it.
        from_internet(&mut st);
        let pong = pkt::echo(HOST_MAC, GATEWAY_MAC, host(), public(), 77, false);
        let pong_in = pkt::echo(GATEWAY_MAC, CLIENT_MAC, host(), web(), 77, false);
        assert_out(&st, hook, &pong, &pong_in, "echo reply example -> web");
        assert_eq!(st.counter(Counter::FlowCreated), 3, "{hook:?}");
    }
}

/// An ENI without a public address gets nothing through the gateway
/// (`igw_no_public_ip`); an address no internet host has is
/// `internet_no_host`; a private subnet (main table, local only) has no
/// route to the internet at all (`no_route`, counted on its table).
#[test]
#[ignore = "needs root"]
fn igw_needs_a_public_ip_a_host_and_a_route() {
    for hook in HOOKS {
        let mut st = Stage::load();
        scene(&mut st, 0);
        let other = ip("10.0.1.21");
        from_web(&mut st, other, 0);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, other, host(), 40000, 80, "S");
        assert_dropped(&st, hook, &syn, DropReason::IgwNoPublicIp, "no public IP");
        from_web(&mut st, web(), 0);
        assert_no_such_host(&st, hook, web());
        let private = ip("10.0.2.30");
        from_web(&mut st, private, 1);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, private, host(), 40002, 80, "S");
        assert_dropped(&st, hook, &syn, DropReason::NoRoute, "private subnet");
        let main = nacl_stat_id(b"vpc-a (main)");
        assert_eq!(
            st.route_drops(),
            vec![(
                RouteStatKey {
                    table: main,
                    route: ROUTE_NO_MATCH,
                    _pad: 0
                },
                1
            )],
            "{hook:?}"
        );
        assert_eq!(st.counter(Counter::FlowCreated), 0, "{hook:?}");
    }
}

/// In through the gateway: the internet host reaches web by its public
/// address when web's groups admit it (TCP 80: forwarded to 10.0.1.20, the
/// reply leaves from 203.0.113.20); port 22 is `ingress_sg_deny`; a
/// private address, or a public address nobody has, is `no_route`; a
/// public address whose subnet has no route back to the gateway is
/// `no_route` too (the reply could not leave).
#[test]
#[ignore = "needs root"]
fn igw_in_reaches_the_public_ip_its_groups_admit() {
    for hook in HOOKS {
        let mut st = Stage::load();
        scene(&mut st, 0);
        from_internet(&mut st);
        let syn = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), public(), 50000, 80, "S");
        let inward = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 50000, 80, "S");
        assert_out(&st, hook, &syn, &inward, "example -> public:80");
        let fwd = flow_key(INTERNET_VPC, host(), public(), 50000, 80, PROTO_TCP);
        let rev = flow_key(VPC, web(), host(), 80, 50000, PROTO_TCP);
        let flows = st.flow_entries();
        assert!(
            flows
                .iter()
                .any(|(k, e)| *k == fwd && e.flags == FLOW_F_DNAT),
            "{hook:?} forward entry"
        );
        assert!(
            flows
                .iter()
                .any(|(k, e)| *k == rev && e.flags == FLOW_F_REPLY | FLOW_F_SNAT),
            "{hook:?} reply entry"
        );
        from_web(&mut st, web(), 0);
        let synack = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 80, 50000, "SA");
        let out = pkt::tcp(GATEWAY_MAC, HOST_MAC, public(), host(), 80, 50000, "SA");
        assert_out(
            &st,
            hook,
            &synack,
            &out,
            "web's reply leaves from its public IP",
        );
        from_internet(&mut st);
        let ssh = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), public(), 50001, 22, "S");
        assert_dropped(&st, hook, &ssh, DropReason::IngressSgDeny, "port 22");
        let private = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), web(), 50002, 80, "S");
        assert_dropped(&st, hook, &private, DropReason::NoRoute, "private address");
        let unknown = pkt::tcp(
            HOST_MAC,
            GATEWAY_MAC,
            host(),
            ip("203.0.113.99"),
            50003,
            80,
            "S",
        );
        assert_dropped(
            &st,
            hook,
            &unknown,
            DropReason::NoRoute,
            "unassigned public address",
        );
        // web in the private subnet: its table has no route to the gateway.
        let mut st = Stage::load();
        scene(&mut st, 1);
        from_internet(&mut st);
        assert_dropped(&st, hook, &syn, DropReason::NoRoute, "no route back");
    }
}

/// Another IP protocol through the gateway (GRE, SCTP: tracked by
/// addresses and protocol): only the MACs, the source address and the
/// IPv4 checksum change; not one byte past the IPv4 header (the 1M soak
/// once found the NAT writing an L4 checksum into an SCTP header).
#[test]
#[ignore = "needs root"]
fn igw_translates_other_protocols_in_the_ip_header_only() {
    // GRE (flags 0, protocol type 0x0800, then bytes); SCTP (ports,
    // verification tag, CRC32c, none of which covers the addresses).
    let payloads: [(u8, &[u8]); 2] = [
        (47, &[0, 0, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef]),
        (
            132,
            &[
                0x9c, 0x40, 0x14, 0xe8, 0, 0x1b, 0xf5, 0x4d, 0x0f, 0xf1, 0xbc, 0xba,
            ],
        ),
    ];
    for hook in HOOKS {
        let mut st = Stage::load();
        scene(&mut st, 0);
        for (proto, _) in payloads {
            let any = (ip("0.0.0.0"), 0);
            st.set_sg(CLIENT_SG, SG_DIR_EGRESS, proto, any, &[(0, 65535)]);
        }
        from_web(&mut st, web(), 0);
        for (proto, payload) in payloads {
            let sent = pkt::ip_proto(CLIENT_MAC, GATEWAY_MAC, web(), host(), proto, payload);
            let out = pkt::ip_proto(GATEWAY_MAC, HOST_MAC, public(), host(), proto, payload);
            // (The expected frame's IPv4 checksum is computed afresh; no
            // L4 checksum of these covers the addresses.)
            let o = st.run(hook, &sent);
            assert_eq!(o.verdict, Verdict::Forward, "{hook:?} protocol {proto}");
            assert_eq!(o.out, out, "{hook:?} protocol {proto}: bytes");
        }
    }
}
