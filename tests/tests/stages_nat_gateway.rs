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
use std::net::Ipv4Addr;

use dataplane::model::{Hook, NetworkAcl};
use dataplane_common::{
    flow_hash, Counter, DropReason, EniInfo, PortInfo, ENI_KIND_HOST, ENI_KIND_INTERNET,
    FLOW_F_DNAT, FLOW_F_REPLY, FLOW_F_SNAT, GATEWAY_MAC, HASH_SEED_NAT_PORT, INTERNET_VPC,
    NO_SG_SET, NO_SUBNET, PROTO_ICMP, PROTO_TCP, PROTO_UDP, SG_DIR_EGRESS,
};
use hyperlab_tests::{
    csum, pkt,
    stage::{flow_key, Stage},
    Verdict, HOOKS,
};

mod stages_common;
use stages_common::{assert_dropped, ip, CLIENT_ENI, CLIENT_MAC, CLIENT_SG, VPC};

/// vpc-a 10.0.0.0/16 with igw-a: s0 (10.0.1.0/24) is public (its table
/// routes 0.0.0.0/0 to the internet gateway) and holds nat-a; s1
/// (10.0.2.0/24) uses the main table, which routes 0.0.0.0/0 to nat-a.
/// `{ports}`: the gateway's `ports` line (the lab's knob), if any.
fn nat_toml(ports: &str) -> String {
    format!(
        r#"
[internet]
hosts = [{{ name = "example", ip = "203.0.113.10" }}]

[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

[[internet_gateway]]
id = "igw-a"
vpc = "vpc-a"

[[subnet]]
id = "s0"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "s1"
vpc = "vpc-a"
cidr = "10.0.2.0/24"
az = "use1-az1"

[[route_table]]
id = "rtb-public"
vpc = "vpc-a"
subnets = ["s0"]
routes = [{{ destination = "0.0.0.0/0", target = "igw-a" }}]

[[route_table]]
id = "rtb-private"
vpc = "vpc-a"
main = true
routes = [{{ destination = "0.0.0.0/0", target = "nat-a" }}]

[[nat_gateway]]
id = "nat-a"
subnet = "s0"
private_ip = "10.0.1.100"
elastic_ip = "203.0.113.50"
{ports}
"#
    )
}

const HOST_ENI: u32 = 65_000;
const HOST_IFINDEX: u32 = 4343;
const HOST_MAC: [u8; 6] = [0x06, 0, 203, 0, 113, 10];
const WEB_IFINDEX: u32 = 4242;
/// The private subnet s1.
const PRIVATE: u16 = 1;

fn host() -> Ipv4Addr {
    ip("203.0.113.10")
}
fn web() -> Ipv4Addr {
    ip("10.0.2.30")
}
fn eip() -> Ipv4Addr {
    ip("203.0.113.50")
}

/// The spec's first port for a flow from web (`id` plays both ports for
/// ICMP echo) in the pool `lo ..= hi`.
fn first_port(sport: u16, dport: u16, proto: u8, (lo, hi): (u16, u16)) -> u16 {
    let h = flow_hash(
        web().octets(),
        host().octets(),
        sport.to_be_bytes(),
        dport.to_be_bytes(),
        proto,
        HASH_SEED_NAT_PORT,
    );
    lo + (h % (hi - lo + 1) as u32) as u16
}

/// SETUP: the tables of `nat_toml(ports)`, open ACLs, the internet host,
/// nat-a's Elastic IP, and `web` (10.0.2.30 in the private subnet) whose
/// groups let everything out.
fn scene(ports: &str) -> Stage {
    let mut st = Stage::load();
    let topo = dataplane::config::parse_str(&nat_toml(ports), "nat.toml").unwrap();
    st.set_route_tables(&topo);
    let open = NetworkAcl::default_for(0, "vpc-a");
    st.set_nacls(&[&open, &open]);
    st.set_eni(
        INTERNET_VPC,
        host(),
        EniInfo {
            eni: HOST_ENI,
            ifindex: HOST_IFINDEX,
            sg_set: NO_SG_SET,
            kind: ENI_KIND_INTERNET,
            underlay: [0; 4],
            mac: HOST_MAC,
            subnet: NO_SUBNET,
        },
    );
    st.set_eni(
        VPC,
        web(),
        EniInfo {
            eni: CLIENT_ENI,
            ifindex: WEB_IFINDEX,
            sg_set: CLIENT_SG,
            kind: ENI_KIND_HOST,
            underlay: [0; 4],
            mac: CLIENT_MAC,
            subnet: PRIVATE,
        },
    );
    st.set_nat_gateway_eip(0, eip(), ip("10.0.1.100"));
    let any = (ip("0.0.0.0"), 0);
    for proto in [PROTO_TCP, PROTO_UDP, PROTO_ICMP] {
        st.set_sg(CLIENT_SG, SG_DIR_EGRESS, proto, any, &[(0, 65535)]);
    }
    st
}

fn from_web(st: &mut Stage) {
    st.set_port(PortInfo {
        vpc: VPC,
        eni: CLIENT_ENI,
        sg_set: CLIENT_SG,
        ip: web().octets(),
        mac: CLIENT_MAC,
        generation: 0,
        subnet: PRIVATE,
        _pad: 0,
    });
}

fn from_internet(st: &mut Stage) {
    st.set_port(PortInfo {
        vpc: INTERNET_VPC,
        eni: HOST_ENI,
        sg_set: NO_SG_SET,
        ip: host().octets(),
        mac: HOST_MAC,
        generation: 0,
        subnet: NO_SUBNET,
        _pad: 0,
    });
}

fn assert_out(st: &Stage, hook: Hook, frame: &[u8], expected: &[u8], what: &str) {
    let o = st.run(hook, frame);
    assert_eq!(o.verdict, Verdict::Forward, "{hook:?} {what}: forwarded");
    assert_eq!(o.out, expected, "{hook:?} {what}: bytes");
    csum::assert_valid(&o.out);
}

const AWS_POOL: (u16, u16) = (1024, 56_023);

/// Out through the gateway and back: web's SYN to the internet host
/// leaves with the Elastic IP and the spec's port as its source; the
/// host's SYN-ACK to that address and port comes back to 10.0.2.30:40000.
/// The reply entry is the claimed port's key in the internet; UDP and ICMP
/// echo (the identifier translated) take the same way.
#[test]
#[ignore = "needs root"]
fn nat_gateway_translates_to_its_elastic_ip_and_back() {
    for hook in HOOKS {
        let mut st = scene("");
        from_web(&mut st);
        let nport = first_port(40000, 80, PROTO_TCP, AWS_POOL);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "S");
        let out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), nport, 80, "S");
        assert_out(&st, hook, &syn, &out, "web -> example");
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
        from_internet(&mut st);
        let synack = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 80, nport, "SA");
        let back = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 80, 40000, "SA");
        assert_out(
            &st,
            hook,
            &synack,
            &back,
            "example -> the Elastic IP (reply)",
        );
        from_web(&mut st);
        let uport = first_port(5353, 53, PROTO_UDP, AWS_POOL);
        let udp = pkt::udp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 5353, 53);
        let udp_out = pkt::udp(GATEWAY_MAC, HOST_MAC, eip(), host(), uport, 53);
        assert_out(&st, hook, &udp, &udp_out, "udp web -> example");
        let iport = first_port(77, 77, PROTO_ICMP, AWS_POOL);
        let echo = pkt::echo(CLIENT_MAC, GATEWAY_MAC, web(), host(), 77, true);
        let echo_out = pkt::echo(GATEWAY_MAC, HOST_MAC, eip(), host(), iport, true);
        assert_out(&st, hook, &echo, &echo_out, "ping web -> example");
        from_internet(&mut st);
        let udp_back = pkt::udp(HOST_MAC, GATEWAY_MAC, host(), eip(), 53, uport);
        let udp_in = pkt::udp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 53, 5353);
        assert_out(&st, hook, &udp_back, &udp_in, "udp reply example -> web");
        let pong = pkt::echo(HOST_MAC, GATEWAY_MAC, host(), eip(), iport, false);
        let pong_in = pkt::echo(GATEWAY_MAC, CLIENT_MAC, host(), web(), 77, false);
        assert_out(&st, hook, &pong, &pong_in, "echo reply example -> web");
        assert_eq!(st.counter(Counter::FlowCreated), 3, "{hook:?}");
    }
}

/// Connections initiated from outside are dropped: a SYN, a UDP datagram
/// or a ping to the Elastic IP with no flow behind it is
/// `nat_gateway_outside_initiated` (any port, the gateway's own included);
/// a destination no internet host has is `internet_no_host`.
#[test]
#[ignore = "needs root"]
fn nat_gateway_drops_what_the_internet_initiates_and_protocols_it_does_not_carry() {
    for hook in HOOKS {
        let mut st = scene("");
        from_internet(&mut st);
        let outside = DropReason::NatGatewayOutsideInitiated;
        let syn = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 50000, 80, "S");
        assert_dropped(&st, hook, &syn, outside, "SYN to the Elastic IP");
        let syn = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 80, 1024, "SA");
        assert_dropped(&st, hook, &syn, outside, "an unbound port's 'reply'");
        let udp = pkt::udp(HOST_MAC, GATEWAY_MAC, host(), eip(), 53, 2000);
        assert_dropped(&st, hook, &udp, outside, "UDP to the Elastic IP");
        let ping = pkt::echo(HOST_MAC, GATEWAY_MAC, host(), eip(), 9, true);
        assert_dropped(&st, hook, &ping, outside, "ping to the Elastic IP");
        from_web(&mut st);
        // TCP, UDP and ICMP only: GRE to an internet host, which the
        // sender's groups admit, ends at the gateway.
        st.set_sg(CLIENT_SG, SG_DIR_EGRESS, 47, (ip("0.0.0.0"), 0), &[(0, 0)]);
        let gre = pkt::ip_proto(CLIENT_MAC, GATEWAY_MAC, web(), host(), 47, &[0, 0, 0x08, 0]);
        assert_dropped(
            &st,
            hook,
            &gre,
            DropReason::UnsupportedProtocol,
            "GRE to the internet",
        );
        let nowhere = pkt::tcp(
            CLIENT_MAC,
            GATEWAY_MAC,
            web(),
            ip("198.51.100.99"),
            40001,
            80,
            "S",
        );
        assert_dropped(
            &st,
            hook,
            &nowhere,
            DropReason::InternetNoHost,
            "no such host",
        );
        assert_eq!(st.counter(Counter::FlowCreated), 0, "{hook:?}");
        assert!(st.flows().is_empty(), "{hook:?}");
    }
}

/// A pool shrunk to 4 ports (`ports = "1024-1027"`): four connections to
/// example:80 bind all four; the fifth is refused
/// (`nat_gateway_error_port_allocation`) while a live one goes on with its
/// port; a connection to another destination (example:443) has a pool of
/// its own.
#[test]
#[ignore = "needs root"]
fn nat_gateway_full_pool_refuses_new_connections_while_live_ones_continue() {
    for hook in HOOKS {
        let mut st = scene("ports = \"1024-1027\"");
        from_web(&mut st);
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
            &st,
            hook,
            &fifth,
            DropReason::NatGatewayErrorPortAllocation,
            "a fifth connection to example:80",
        );
        let (sport, nport) = port_of[2];
        let ack = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), sport, 80, "A");
        let ack_out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), nport, 80, "A");
        assert_out(&st, hook, &ack, &ack_out, "a live connection goes on");
        from_internet(&mut st);
        let data = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 80, nport, "A");
        let data_in = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 80, sport, "A");
        assert_out(&st, hook, &data, &data_in, "and its replies come back");
        from_web(&mut st);
        let tls = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40004, 443, "S");
        let tport = first_port(40004, 443, PROTO_TCP, (1024, 1027));
        let tls_out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), tport, 443, "S");
        assert_out(
            &st,
            hook,
            &tls,
            &tls_out,
            "another destination, another pool",
        );
        assert_eq!(st.counter(Counter::FlowCreated), 5, "{hook:?}");
    }
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
    for hook in HOOKS {
        let mut st = scene("ports = \"1024-1024\"");
        from_web(&mut st);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "S");
        let out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), 1024, 80, "S");
        assert_out(&st, hook, &syn, &out, "SYN out");
        for (k, e) in st.flows() {
            assert_eq!(e.nat_gateway, 0, "{hook:?} {k:?}: the entry names nat-a");
        }
        let ack = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "A");
        from_internet(&mut st);
        let synack = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 80, 1024, "SA");
        let back = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 80, 40000, "SA");
        assert_out(&st, hook, &synack, &back, "SYN-ACK back");
        from_web(&mut st);
        let ack_out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), 1024, 80, "A");
        assert_out(&st, hook, &ack, &ack_out, "ACK out");
        let udp = pkt::udp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 5353, 53);
        let udp_out = pkt::udp(GATEWAY_MAC, HOST_MAC, eip(), host(), 1024, 53);
        assert_out(&st, hook, &udp, &udp_out, "UDP out (its own pool)");
        let second = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40001, 80, "S");
        assert_dropped(
            &st,
            hook,
            &second,
            DropReason::NatGatewayErrorPortAllocation,
            "a second connection to example:80",
        );
        from_internet(&mut st);
        let inbound = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 50000, 22, "S");
        assert_dropped(
            &st,
            hook,
            &inbound,
            DropReason::NatGatewayOutsideInitiated,
            "a SYN from the internet",
        );
        // A destination no internet host has: the gateway's drop
        // (internet_no_host), in and not out.
        from_web(&mut st);
        let nowhere = pkt::udp(CLIENT_MAC, GATEWAY_MAC, web(), ip("198.51.100.7"), 5000, 25);
        assert_dropped(
            &st,
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
    }
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
    for hook in HOOKS {
        let mut st = scene("");
        from_web(&mut st);
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
            &st,
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
    }
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
    for hook in HOOKS {
        let mut st = scene("");
        from_web(&mut st);
        let nport = first_port(40000, 80, PROTO_TCP, AWS_POOL);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "S");
        let out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), nport, 80, "S");
        assert_out(&st, hook, &syn, &out, "SYN out");
        from_internet(&mut st);
        let synack = pkt::tcp(HOST_MAC, GATEWAY_MAC, host(), eip(), 80, nport, "SA");
        let back = pkt::tcp(GATEWAY_MAC, CLIENT_MAC, host(), web(), 80, 40000, "SA");
        assert_out(&st, hook, &synack, &back, "SYN-ACK back");
        st.age_flows(349);
        assert!(
            st.sweep(&t).is_empty(),
            "{hook:?}: 349 s idle is not yet a timeout"
        );
        from_web(&mut st);
        let ack = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, web(), host(), 40000, 80, "A");
        let ack_out = pkt::tcp(GATEWAY_MAC, HOST_MAC, eip(), host(), nport, 80, "A");
        assert_out(&st, hook, &ack, &ack_out, "the connection lives on");
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
    }
}
