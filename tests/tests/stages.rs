//! Stage tests: one kernel mechanism at a time (PKTGEN / SETUP / CHECK, see
//! `hyperlab_tests::stage`). Each test loads the kernel object on its own,
//! writes the few map entries its mechanism reads, runs one crafted frame
//! per check through each hook, and compares the frame byte for byte and the
//! counters and flow entries exactly. Expected values come from the AWS
//! rules, RFC 1071 checksums (etherparse builds every expected frame from
//! scratch) and the spec functions (`flow_hash`, the Maglev slot rule),
//! never from the agent's compiler.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use dataplane::model::{AclEntry, Hook, IcmpMatch, NetworkAcl, Protocol};
use dataplane_common::{
    flow_hash, nacl_stat_id, Counter, DropReason, EndpointInfo, EniInfo, FlowEntry, FlowKey,
    ListenerInfo, ListenerKey, NaclStatKey, PortInfo, RouteStatKey, TargetInfo,
    ENDPOINT_STATE_AVAILABLE, ENDPOINT_STATE_PENDING, ENDPOINT_STATE_REJECTED, ENI_KIND_ENDPOINT,
    ENI_KIND_HOST, ENI_KIND_LINK, FLOW_F_DNAT, FLOW_F_REPLY, FLOW_F_SNAT, FLOW_STATE_ESTABLISHED,
    FLOW_STATE_NEW, GATEWAY_MAC, HASH_SEED_NAT_PORT, HASH_SEED_TARGET, MAGLEV_SIZE,
    NACL_RULE_DEFAULT, NO_SG_SET, NO_STAT, NO_SUBNET, NO_TARGET, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
    ROUTE_NO_MATCH, SG_DIR_EGRESS, SG_DIR_INGRESS, STAT_ENDPOINT_BASE, STAT_LISTENER_BASE,
    STAT_TARGET_BASE, TARGETS_PER_GENERATION,
};
use hyperlab_tests::{
    csum, pkt,
    stage::{eth_to, flow_key, Stage, PORT_IFINDEX},
    Verdict, HOOKS,
};

const VPC: u32 = 7;
const CLIENT_ENI: u32 = 3;
const SERVER_ENI: u32 = 4;
const CLIENT_SG: u32 = 10;
const SERVER_SG: u32 = 11;
const SERVER_IFINDEX: u32 = 4242;
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x0a];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x14];

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn client() -> Ipv4Addr {
    ip("10.0.1.10")
}

fn server() -> Ipv4Addr {
    ip("10.0.1.20")
}

/// SETUP: frames arrive from the host ENI with address `addr` (the
/// client), whose VPC also holds the server's ENI.
fn client_and_server(st: &mut Stage, addr: Ipv4Addr) {
    st.set_port(PortInfo {
        vpc: VPC,
        eni: CLIENT_ENI,
        sg_set: CLIENT_SG,
        ip: addr.octets(),
        mac: CLIENT_MAC,
        generation: 0,
        subnet: 0,
        _pad: 0,
    });
    st.set_eni(
        VPC,
        server(),
        EniInfo {
            eni: SERVER_ENI,
            ifindex: SERVER_IFINDEX,
            sg_set: SERVER_SG,
            kind: ENI_KIND_HOST,
            mac: SERVER_MAC,
            subnet: 0,
        },
    );
}

/// SETUP: every group lets all TCP out.
fn all_tcp_out(st: &mut Stage) {
    st.set_sg(
        CLIENT_SG,
        SG_DIR_EGRESS,
        PROTO_TCP,
        (ip("0.0.0.0"), 0),
        &[(0, 65535)],
    );
}

/// Drop reasons counted between `before` and `after`.
fn new_drops(before: &[(DropReason, u64)], after: &[(DropReason, u64)]) -> Vec<(DropReason, u64)> {
    after
        .iter()
        .map(|&(r, n)| {
            let was = before.iter().find(|(b, _)| *b == r).map_or(0, |(_, m)| *m);
            (r, n - was)
        })
        .filter(|&(_, n)| n != 0)
        .collect()
}

/// Runs `frame` and asserts it was forwarded to the server unchanged but
/// for the MACs (no NAT in a VPC).
fn assert_forwarded_to_server(st: &Stage, hook: Hook, frame: &[u8], what: &str) {
    let o = st.run(hook, frame);
    assert_eq!(o.verdict, Verdict::Forward, "{hook:?} {what}: forwarded");
    assert_eq!(
        o.out,
        pkt::with_macs(frame, SERVER_MAC, GATEWAY_MAC),
        "{hook:?} {what}: only the MACs change"
    );
}

/// Runs `frame` and asserts it was dropped untouched for exactly `reason`.
fn assert_dropped(st: &Stage, hook: Hook, frame: &[u8], reason: DropReason, what: &str) {
    let before = st.drops();
    let o = st.run(hook, frame);
    assert_eq!(
        (o.verdict, o.out.as_slice()),
        (Verdict::Drop, frame),
        "{hook:?} {what}: dropped untouched"
    );
    assert_eq!(
        new_drops(&before, &st.drops()),
        vec![(reason, 1)],
        "{hook:?} {what}: exactly one {}",
        reason.name()
    );
}

/// SG match, port-range edges: a range admits its first and last port and
/// nothing one past either end; a one-port range admits exactly that port.
#[test]
#[ignore = "needs root"]
fn sg_port_range_edges() {
    for hook in HOOKS {
        let mut st = Stage::load();
        client_and_server(&mut st, client());
        all_tcp_out(&mut st);
        st.set_sg(
            SERVER_SG,
            SG_DIR_INGRESS,
            PROTO_TCP,
            (ip("10.0.1.0"), 24),
            &[(1000, 2000), (3000, 3000)],
        );
        let cases = [
            (999, false),
            (1000, true),
            (2000, true),
            (2001, false),
            (2999, false),
            (3000, true),
            (3001, false),
        ];
        for (i, (port, allowed)) in cases.into_iter().enumerate() {
            // A new source port per case: every packet is a first packet.
            let f = pkt::tcp(
                CLIENT_MAC,
                GATEWAY_MAC,
                client(),
                server(),
                40000 + i as u16,
                port,
                "S",
            );
            let what = format!("port {port}");
            if allowed {
                assert_forwarded_to_server(&st, hook, &f, &what);
            } else {
                assert_dropped(&st, hook, &f, DropReason::IngressSgDeny, &what);
            }
        }
        assert_eq!(st.counter(Counter::FlowCreated), 3, "{hook:?}");
        assert_eq!(st.counter(Counter::Forwarded), 3, "{hook:?}");
        assert_eq!(st.eni_counters(CLIENT_ENI).drops, 4, "{hook:?}");
    }
}

/// SG match, prefixes: one longest-prefix lookup answers alone, so the
/// ranges a shorter prefix allows must be pushed down into every longer
/// prefix under it (the compiler's job, `SgPorts`' contract). A /16 rule
/// for port 80 and a /24 rule for port 443: without the push-down a peer
/// in the /24 loses port 80; with it, it has both; a peer outside the /24
/// has only the /16's port.
#[test]
#[ignore = "needs root"]
fn sg_longest_prefix_answers_alone() {
    for hook in HOOKS {
        let mut st = Stage::load();
        client_and_server(&mut st, client());
        all_tcp_out(&mut st);
        let (p16, p24) = ((ip("10.0.0.0"), 16), (ip("10.0.1.0"), 24));
        st.set_sg(SERVER_SG, SG_DIR_INGRESS, PROTO_TCP, p16, &[(80, 80)]);
        st.set_sg(SERVER_SG, SG_DIR_INGRESS, PROTO_TCP, p24, &[(443, 443)]);
        let syn = |src: Ipv4Addr, sport: u16, dport: u16| {
            pkt::tcp(CLIENT_MAC, GATEWAY_MAC, src, server(), sport, dport, "S")
        };
        assert_forwarded_to_server(&st, hook, &syn(client(), 40000, 443), "/24 peer, 443");
        assert_dropped(
            &st,
            hook,
            &syn(client(), 40001, 80),
            DropReason::IngressSgDeny,
            "/24 peer, 80, not pushed down",
        );
        // The /24 entry as the compiler writes it: its own range and the /16's.
        st.set_sg(
            SERVER_SG,
            SG_DIR_INGRESS,
            PROTO_TCP,
            p24,
            &[(80, 80), (443, 443)],
        );
        assert_forwarded_to_server(
            &st,
            hook,
            &syn(client(), 40002, 80),
            "/24 peer, 80, pushed down",
        );
        // A peer in the /16 but outside the /24.
        let other = ip("10.0.2.10");
        client_and_server(&mut st, other);
        assert_forwarded_to_server(&st, hook, &syn(other, 40003, 80), "/16 peer, 80");
        assert_dropped(
            &st,
            hook,
            &syn(other, 40004, 443),
            DropReason::IngressSgDeny,
            "/16 peer, 443",
        );
    }
}

/// The two entries a first packet in a VPC creates, field by field: the
/// forward one (with the packet counted) and the reply one.
fn plain_flow(frame: &[u8], sport: u16, dport: u16, created_ns: u64) -> Vec<(FlowKey, FlowEntry)> {
    let fwd = FlowEntry {
        eth: eth_to(SERVER_MAC),
        out_ifindex: SERVER_IFINDEX,
        state: FLOW_STATE_NEW,
        flags: 0,
        out_vpc: VPC,
        new_src: client().octets(),
        new_dst: server().octets(),
        new_sport: sport.to_be_bytes(),
        new_dport: dport.to_be_bytes(),
        src_eni: CLIENT_ENI,
        dst_eni: SERVER_ENI,
        stat_endpoint: NO_STAT,
        stat_listener: NO_STAT,
        stat_target: NO_STAT,
        created_ns,
        packets: 1,
        last_seen_ns: created_ns,
        bytes: frame.len() as u64 - 14,
        cross1_from: 0,
        cross1_to: 0,
        cross2_from: NO_SUBNET,
        cross2_to: NO_SUBNET,
        nacl_epoch: 0,
        _pad2: 0,
    };
    let rev = FlowEntry {
        eth: eth_to(CLIENT_MAC),
        out_ifindex: PORT_IFINDEX,
        flags: FLOW_F_REPLY,
        new_src: server().octets(),
        new_dst: client().octets(),
        new_sport: dport.to_be_bytes(),
        new_dport: sport.to_be_bytes(),
        src_eni: SERVER_ENI,
        dst_eni: CLIENT_ENI,
        packets: 0,
        bytes: 0,
        ..fwd
    };
    let mut v = vec![
        (
            flow_key(VPC, client(), server(), sport, dport, PROTO_TCP),
            fwd,
        ),
        (
            flow_key(VPC, server(), client(), dport, sport, PROTO_TCP),
            rev,
        ),
    ];
    v.sort_by_key(|(k, _)| (k.vpc, k.src, k.dst, k.sport, k.dport, k.proto));
    v
}

/// Flow create: an allowed first packet records both directions.
#[test]
#[ignore = "needs root"]
fn flow_create_records_both_directions() {
    for hook in HOOKS {
        let mut st = Stage::load();
        client_and_server(&mut st, client());
        all_tcp_out(&mut st);
        st.set_sg(
            SERVER_SG,
            SG_DIR_INGRESS,
            PROTO_TCP,
            (ip("0.0.0.0"), 0),
            &[(80, 80)],
        );
        let f = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), server(), 40000, 80, "S");
        assert_forwarded_to_server(&st, hook, &f, "first packet");
        let flows = st.flows();
        assert_eq!(flows.len(), 2, "{hook:?}: {flows:?}");
        let t = flows[0].1.created_ns;
        assert_ne!(t, 0, "{hook:?}: a creation time");
        assert_eq!(flows, plain_flow(&f, 40000, 80, t), "{hook:?}");
        assert_eq!(st.counter(Counter::FlowCreated), 1, "{hook:?}");
        assert_eq!(st.counter(Counter::FlowHit), 0, "{hook:?}");
        assert_eq!(st.counter(Counter::Forwarded), 1, "{hook:?}");
        let (c, s) = (st.eni_counters(CLIENT_ENI), st.eni_counters(SERVER_ENI));
        assert_eq!((c.tx_packets, c.tx_bytes), (1, f.len() as u64), "{hook:?}");
        assert_eq!((s.rx_packets, s.rx_bytes), (1, f.len() as u64), "{hook:?}");
        assert!(st.drops().is_empty(), "{hook:?}");
        // The next packet of the flow follows the entry.
        let a = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), server(), 40000, 80, "A");
        assert_forwarded_to_server(&st, hook, &a, "second packet");
        assert_eq!(st.counter(Counter::FlowHit), 1, "{hook:?}");
        assert_eq!(st.counter(Counter::FlowCreated), 1, "{hook:?}");
    }
}

/// Flow create, full table: a new flow that does not fit is refused and
/// counted (`flow_table_full`), and every live entry stays as it was. With
/// room for one entry more the forward entry fits and the reply does not:
/// the forward entry is taken out again.
#[test]
#[ignore = "needs root"]
fn full_flow_table_refuses_new_flows() {
    for hook in HOOKS {
        for size in [2, 3] {
            let mut st = Stage::with_flow_table(size);
            client_and_server(&mut st, client());
            all_tcp_out(&mut st);
            st.set_sg(
                SERVER_SG,
                SG_DIR_INGRESS,
                PROTO_TCP,
                (ip("0.0.0.0"), 0),
                &[(80, 80)],
            );
            let f1 = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), server(), 40000, 80, "S");
            assert_forwarded_to_server(&st, hook, &f1, "first flow");
            let live = st.flows();
            assert_eq!(live, plain_flow(&f1, 40000, 80, live[0].1.created_ns));
            let f2 = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), server(), 40001, 80, "S");
            let what = format!("table of {size}, second flow");
            assert_dropped(&st, hook, &f2, DropReason::FlowTableFull, &what);
            assert_eq!(st.flows(), live, "{hook:?} {what}: live entries untouched");
            assert_eq!(st.counter(Counter::FlowCreated), 1, "{hook:?} {what}");
            assert_eq!(st.eni_counters(CLIENT_ENI).drops, 1, "{hook:?} {what}");
            assert_eq!(st.eni_counters(SERVER_ENI).rx_packets, 1, "{hook:?} {what}");
        }
    }
}

/// (protocol, original frame, its ports, translation flags, expected frame)
type NatCase = (u8, Vec<u8>, (u16, u16), u32, Vec<u8>);

const TARGET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x09, 0x0b];
const TARGET_IFINDEX: u32 = 5151;
const TARGET_ENI: u32 = 6;

/// NAT rewrite: a flow entry that translates source and destination
/// addresses and ports. The frame the program leaves must be exactly the
/// frame built from scratch with the translated fields (every checksum
/// computed anew), for TCP, UDP (with and without a checksum) and ICMP
/// echo (whose identifier plays both ports); a source-only translation
/// leaves the destination alone.
#[test]
#[ignore = "needs root"]
fn nat_rewrite_checksums() {
    let vip = ip("10.0.1.99");
    let (nsrc, ndst) = (ip("10.9.0.5"), ip("10.9.0.11"));
    for hook in HOOKS {
        let mut st = Stage::load();
        client_and_server(&mut st, client());
        let mut cases: Vec<NatCase> = vec![
            (
                PROTO_TCP,
                pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), vip, 40000, 80, "A"),
                (40000, 80),
                FLOW_F_SNAT | FLOW_F_DNAT,
                pkt::tcp(GATEWAY_MAC, TARGET_MAC, nsrc, ndst, 1234, 8080, "A"),
            ),
            (
                PROTO_UDP,
                pkt::udp(CLIENT_MAC, GATEWAY_MAC, client(), vip, 40000, 53),
                (40000, 53),
                FLOW_F_SNAT | FLOW_F_DNAT,
                pkt::udp(GATEWAY_MAC, TARGET_MAC, nsrc, ndst, 1234, 8080),
            ),
            (
                PROTO_ICMP,
                pkt::echo(CLIENT_MAC, GATEWAY_MAC, client(), vip, 77, true),
                (77, 77),
                FLOW_F_SNAT | FLOW_F_DNAT,
                pkt::echo(GATEWAY_MAC, TARGET_MAC, nsrc, ndst, 1234, true),
            ),
            (
                PROTO_TCP,
                pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), vip, 40001, 80, "A"),
                (40001, 80),
                FLOW_F_SNAT,
                pkt::tcp(GATEWAY_MAC, TARGET_MAC, nsrc, vip, 1234, 80, "A"),
            ),
        ];
        // UDP without a checksum (0): stays without one.
        let mut no_csum = pkt::udp(CLIENT_MAC, GATEWAY_MAC, client(), vip, 40002, 53);
        no_csum[40..42].copy_from_slice(&[0, 0]);
        let mut want = pkt::udp(GATEWAY_MAC, TARGET_MAC, nsrc, ndst, 1234, 8080);
        want[40..42].copy_from_slice(&[0, 0]);
        cases.push((
            PROTO_UDP,
            no_csum,
            (40002, 53),
            FLOW_F_SNAT | FLOW_F_DNAT,
            want,
        ));

        for (proto, frame, (sport, dport), flags, want) in cases {
            let key = flow_key(VPC, client(), vip, sport, dport, proto);
            let (new_sport, new_dport): (u16, u16) = match proto {
                PROTO_ICMP => (1234, 1234),
                _ => (1234, 8080),
            };
            let entry = FlowEntry {
                eth: eth_to(TARGET_MAC),
                out_ifindex: TARGET_IFINDEX,
                state: FLOW_STATE_ESTABLISHED,
                flags,
                out_vpc: 9,
                new_src: nsrc.octets(),
                new_dst: ndst.octets(),
                new_sport: new_sport.to_be_bytes(),
                new_dport: new_dport.to_be_bytes(),
                src_eni: CLIENT_ENI,
                dst_eni: TARGET_ENI,
                stat_endpoint: NO_STAT,
                stat_listener: NO_STAT,
                stat_target: NO_STAT,
                created_ns: 1,
                packets: 0,
                last_seen_ns: 1,
                bytes: 0,
                cross1_from: 0,
                cross1_to: 0,
                cross2_from: NO_SUBNET,
                cross2_to: NO_SUBNET,
                nacl_epoch: 0,
                _pad2: 0,
            };
            st.set_flow(key, entry);
            let what = format!("proto {proto} {sport}->{dport} flags {flags}");
            let o = st.run(hook, &frame);
            assert_eq!(o.verdict, Verdict::Forward, "{hook:?} {what}");
            assert_eq!(
                o.out, want,
                "{hook:?} {what}: the frame as built from scratch"
            );
            csum::assert_valid(&o.out);
            let (_, e) = st
                .flows()
                .into_iter()
                .find(|(k, _)| *k == key)
                .expect("the entry stays");
            assert_eq!(
                (e.packets, e.bytes),
                (1, frame.len() as u64 - 14),
                "{hook:?} {what}: counted into its entry"
            );
        }
        assert_eq!(st.counter(Counter::FlowHit), 5, "{hook:?}");
        assert_eq!(st.counter(Counter::Forwarded), 5, "{hook:?}");
        assert!(st.drops().is_empty(), "{hook:?}: {:?}", st.drops());
    }
}

const EP_SG: u32 = 12;
const TARGET_SG: u32 = 13;
const PROVIDER_VPC: u32 = 9;
const ENDPOINT: u32 = 2;
const NODE: u32 = 5;
const LISTENER: u32 = 3;
const TABLE: u32 = 1;
const NAT_LO: u16 = 20000;
const NAT_RANGE: u32 = 100;

/// The interface-endpoint ENI's address in the client's VPC.
fn ep_ip() -> Ipv4Addr {
    ip("10.0.1.50")
}

/// The NLB node's address: the source the targets see.
fn node_ip() -> Ipv4Addr {
    ip("10.9.0.5")
}

/// The NLB's three targets (index, info) in the provider VPC.
fn targets() -> Vec<(u32, TargetInfo)> {
    (0..3u8)
        .map(|k| {
            (
                10 + k as u32,
                TargetInfo {
                    ip: [10, 9, 0, 11 + k],
                    port: 8080u16.to_be_bytes(),
                    subnet: 0,
                    ifindex: 500 + k as u32,
                    eni: 20 + k as u32,
                    sg_set: TARGET_SG,
                    vpc: PROVIDER_VPC,
                    mac: [0x02, 0, 0, 0, 0x09, 0x10 + k],
                    snat_subnet: 0,
                    snat_ip: [0; 4],
                },
            )
        })
        .collect()
}

/// The available endpoint: NLB node `NODE`, SNAT ports
/// `NAT_LO..NAT_LO + NAT_RANGE`.
fn endpoint() -> EndpointInfo {
    EndpointInfo {
        state: ENDPOINT_STATE_AVAILABLE,
        endpoint: ENDPOINT,
        node: NODE,
        out_vpc: PROVIDER_VPC,
        node_ip: node_ip().octets(),
        nat_lo: NAT_LO,
        nat_hi: NAT_LO + NAT_RANGE as u16 - 1,
        egress_sg_set: NO_SG_SET,
        node_subnet: 0,
        _pad: 0,
    }
}

/// SETUP of a PrivateLink path: the client's port, the endpoint ENI (its
/// group admits TCP 80), the endpoint, a TCP 80 listener on its node whose
/// Maglev table names the (slot % 3)-th target in every slot (returned),
/// the targets, whose group admits the node on 8080.
fn privatelink_scene(st: &mut Stage) -> Vec<u32> {
    client_and_server(st, client());
    all_tcp_out(st);
    st.set_eni(
        VPC,
        ep_ip(),
        EniInfo {
            eni: 0,
            ifindex: 0,
            sg_set: EP_SG,
            kind: ENI_KIND_ENDPOINT,
            mac: [0; 6],
            subnet: 0,
        },
    );
    st.set_sg(
        EP_SG,
        SG_DIR_INGRESS,
        PROTO_TCP,
        (ip("0.0.0.0"), 0),
        &[(80, 81)],
    );
    st.set_endpoint(0, endpoint());
    st.set_listener(
        ListenerKey {
            node: NODE,
            port: 80u16.to_be_bytes(),
            proto: PROTO_TCP,
            _pad: 0,
        },
        ListenerInfo {
            table: TABLE,
            listener: LISTENER,
        },
    );
    let targets = targets();
    let slots: Vec<u32> = (0..MAGLEV_SIZE)
        .map(|i| targets[(i % 3) as usize].0)
        .collect();
    st.set_maglev(TABLE, &slots);
    for &(i, t) in &targets {
        st.set_target(i, t);
    }
    st.set_sg(
        TARGET_SG,
        SG_DIR_INGRESS,
        PROTO_TCP,
        (node_ip(), 32),
        &[(8080, 8080)],
    );
    slots
}

/// Maglev choice and the NAT port, through an interface endpoint: the
/// target is the one in the listener table's slot `flow_hash(tuple,
/// HASH_SEED_TARGET) % MAGLEV_SIZE`; the source port is the first one from
/// `nat_lo + flow_hash(tuple, HASH_SEED_NAT_PORT) % range` on that no live
/// flow to the same target holds; the packet leaves source-NATed to the NLB
/// node and destination-NATed to the target, and both directions are
/// recorded with their counter slots.
#[test]
#[ignore = "needs root"]
fn maglev_choice_and_nat_port() {
    let (ep_ip, node_ip) = (ep_ip(), node_ip());
    let targets = targets();
    for hook in HOOKS {
        let mut st = Stage::load();
        let slots = privatelink_scene(&mut st);

        // Ports held per target, as the model keeps them.
        let mut held: HashSet<(u32, u16)> = HashSet::new();
        // One port held by an older flow: a new flow whose probe starts
        // there takes the next one.
        let busy_sport = 40100u16;
        let tuple = |sport: u16| {
            (
                client().octets(),
                ep_ip.octets(),
                sport.to_be_bytes(),
                80u16.to_be_bytes(),
            )
        };
        let (s, d, sp, dp) = tuple(busy_sport);
        let busy_target =
            slots[(flow_hash(s, d, sp, dp, PROTO_TCP, HASH_SEED_TARGET) % MAGLEV_SIZE) as usize];
        let busy_port =
            NAT_LO + (flow_hash(s, d, sp, dp, PROTO_TCP, HASH_SEED_NAT_PORT) % NAT_RANGE) as u16;
        let bt = targets.iter().find(|(i, _)| *i == busy_target).unwrap().1;
        let older = flow_key(
            PROVIDER_VPC,
            Ipv4Addr::from(bt.ip),
            node_ip,
            8080,
            busy_port,
            PROTO_TCP,
        );
        st.set_flow(older, FlowEntry::default());
        held.insert((busy_target, busy_port));

        let mut chosen = HashSet::new();
        let sports: Vec<u16> = (40000..40012).chain([busy_sport]).collect();
        for sport in sports {
            let (s, d, sp, dp) = tuple(sport);
            let slot = flow_hash(s, d, sp, dp, PROTO_TCP, HASH_SEED_TARGET) % MAGLEV_SIZE;
            let ti = slots[slot as usize];
            let t = targets.iter().find(|(i, _)| *i == ti).unwrap().1;
            let start = flow_hash(s, d, sp, dp, PROTO_TCP, HASH_SEED_NAT_PORT) % NAT_RANGE;
            let nport = (0..NAT_RANGE)
                .map(|k| NAT_LO + ((start + k) % NAT_RANGE) as u16)
                .find(|p| !held.contains(&(ti, *p)))
                .unwrap();
            held.insert((ti, nport));
            if sport == busy_sport {
                assert_ne!(nport, busy_port, "the busy case probes past its start");
            }
            chosen.insert(ti);

            let f = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), ep_ip, sport, 80, "S");
            let o = st.run(hook, &f);
            let what = format!("sport {sport}: target {ti}, port {nport}");
            assert_eq!(o.verdict, Verdict::Forward, "{hook:?} {what}");
            let want = pkt::tcp(
                GATEWAY_MAC,
                t.mac,
                node_ip,
                Ipv4Addr::from(t.ip),
                nport,
                8080,
                "S",
            );
            assert_eq!(o.out, want, "{hook:?} {what}");
            csum::assert_valid(&o.out);

            let stats = (
                STAT_ENDPOINT_BASE + ENDPOINT,
                STAT_LISTENER_BASE + LISTENER,
                STAT_TARGET_BASE + ti % TARGETS_PER_GENERATION,
            );
            let flows = st.flows();
            let fwd_key = flow_key(VPC, client(), ep_ip, sport, 80, PROTO_TCP);
            let (_, fwd) = *flows
                .iter()
                .find(|(k, _)| *k == fwd_key)
                .expect("forward entry");
            let want_fwd = FlowEntry {
                eth: eth_to(t.mac),
                out_ifindex: t.ifindex,
                state: FLOW_STATE_NEW,
                flags: FLOW_F_SNAT | FLOW_F_DNAT,
                out_vpc: PROVIDER_VPC,
                new_src: node_ip.octets(),
                new_dst: t.ip,
                new_sport: nport.to_be_bytes(),
                new_dport: 8080u16.to_be_bytes(),
                src_eni: CLIENT_ENI,
                dst_eni: t.eni,
                stat_endpoint: stats.0,
                stat_listener: stats.1,
                stat_target: stats.2,
                created_ns: fwd.created_ns,
                packets: 1,
                last_seen_ns: fwd.created_ns,
                bytes: f.len() as u64 - 14,
                cross1_from: 0,
                cross1_to: 0,
                cross2_from: 0,
                cross2_to: 0,
                nacl_epoch: 0,
                _pad2: 0,
            };
            assert_eq!(fwd, want_fwd, "{hook:?} {what}");
            let rev_key = flow_key(
                PROVIDER_VPC,
                Ipv4Addr::from(t.ip),
                node_ip,
                8080,
                nport,
                PROTO_TCP,
            );
            let (_, rev) = *flows
                .iter()
                .find(|(k, _)| *k == rev_key)
                .expect("reply entry");
            let want_rev = FlowEntry {
                eth: eth_to(CLIENT_MAC),
                out_ifindex: PORT_IFINDEX,
                flags: FLOW_F_REPLY | FLOW_F_SNAT | FLOW_F_DNAT,
                out_vpc: VPC,
                new_src: ep_ip.octets(),
                new_dst: client().octets(),
                new_sport: 80u16.to_be_bytes(),
                new_dport: sport.to_be_bytes(),
                src_eni: t.eni,
                dst_eni: CLIENT_ENI,
                packets: 0,
                bytes: 0,
                ..want_fwd
            };
            assert_eq!(rev, want_rev, "{hook:?} {what}");
        }
        assert!(
            chosen.len() >= 2,
            "{hook:?}: 13 flows over 3 targets: {chosen:?}"
        );
        assert_eq!(st.counter(Counter::FlowCreated), 13, "{hook:?}");
        assert_eq!(
            st.obj_counters(STAT_ENDPOINT_BASE + ENDPOINT).tx_packets,
            13,
            "{hook:?}"
        );
        assert!(st.drops().is_empty(), "{hook:?}: {:?}", st.drops());
    }
}

/// ARP: the VPC router answers a host's request for any address with its
/// own MAC, out of the port it came in on; gratuitous ARP and requests from
/// another address than the port's are ignored (counted drops).
#[test]
#[ignore = "needs root"]
fn arp_reply() {
    let gw = ip("10.0.1.1");
    for hook in HOOKS {
        let mut st = Stage::load();
        client_and_server(&mut st, client());
        for asked in [gw, server()] {
            let o = st.run(hook, &pkt::arp_request(CLIENT_MAC, client(), asked));
            // TC sends it back with bpf_redirect to the ingress port, XDP with XDP_TX.
            let back = match hook {
                Hook::Tc => Verdict::Forward,
                Hook::Xdp => Verdict::Reflect,
            };
            assert_eq!(o.verdict, back, "{hook:?} who-has {asked}");
            assert_eq!(
                o.out,
                pkt::arp_reply(CLIENT_MAC, client(), asked),
                "{hook:?} who-has {asked}"
            );
        }
        assert_eq!(st.counter(Counter::ArpReply), 2, "{hook:?}");
        assert!(st.drops().is_empty(), "{hook:?}");
        let gratuitous = pkt::arp_request(CLIENT_MAC, client(), client());
        assert_dropped(&st, hook, &gratuitous, DropReason::ArpIgnored, "gratuitous");
        let spoofed = pkt::arp_request(CLIENT_MAC, ip("10.0.1.77"), gw);
        assert_dropped(&st, hook, &spoofed, DropReason::ArpIgnored, "other sender");
        assert_eq!(st.counter(Counter::ArpReply), 2, "{hook:?}");
    }
}

/// How a first-packet drop case changes the PrivateLink scene.
type Tweak = fn(&mut Stage);

/// (what, tweak, frame, reason, the object counter that counts the drop)
type DropCase = (&'static str, Tweak, Vec<u8>, DropReason, Option<u32>);

/// First-packet drops, one reason each: the frame leaves untouched, exactly
/// that reason is counted (and the object counter the reason belongs to),
/// and no flow entry is left behind.
#[test]
#[ignore = "needs root"]
fn first_packet_drop_reasons() {
    let syn = |src: Ipv4Addr, dst: Ipv4Addr, dport: u16| {
        pkt::tcp(CLIENT_MAC, GATEWAY_MAC, src, dst, 40000, dport, "S")
    };
    let ep_stat = STAT_ENDPOINT_BASE + ENDPOINT;
    let l_stat = STAT_LISTENER_BASE + LISTENER;
    // The target the scene's Maglev table picks for the frames below.
    let (s, d) = (client().octets(), ep_ip().octets());
    let (sp, dp) = (40000u16.to_be_bytes(), 80u16.to_be_bytes());
    let slot = flow_hash(s, d, sp, dp, PROTO_TCP, HASH_SEED_TARGET) % MAGLEV_SIZE;
    let ti = targets()[(slot % 3) as usize].0;
    let t_stat = STAT_TARGET_BASE + ti % TARGETS_PER_GENERATION;
    let no_tweak: Tweak = |_| {};
    let cases: Vec<DropCase> = vec![
        (
            "another source address",
            no_tweak,
            syn(ip("10.0.1.99"), server(), 80),
            DropReason::SourceCheck,
            None,
        ),
        (
            "no ENI with that address",
            no_tweak,
            syn(client(), ip("10.0.1.77"), 80),
            DropReason::NoRoute,
            None,
        ),
        (
            "the client's groups let only TCP 80 out",
            |st| {
                st.set_sg(
                    CLIENT_SG,
                    SG_DIR_EGRESS,
                    PROTO_TCP,
                    (ip("0.0.0.0"), 0),
                    &[(80, 80)],
                )
            },
            syn(client(), server(), 22),
            DropReason::EgressSgDeny,
            None,
        ),
        (
            "no ingress rule of the server's groups",
            no_tweak,
            syn(client(), server(), 22),
            DropReason::IngressSgDeny,
            None,
        ),
        (
            "endpoint connection pending",
            |st| {
                st.set_endpoint(
                    0,
                    EndpointInfo {
                        state: ENDPOINT_STATE_PENDING,
                        ..endpoint()
                    },
                )
            },
            syn(client(), ep_ip(), 80),
            DropReason::EndpointPending,
            Some(ep_stat),
        ),
        (
            "endpoint connection rejected",
            |st| {
                st.set_endpoint(
                    0,
                    EndpointInfo {
                        state: ENDPOINT_STATE_REJECTED,
                        ..endpoint()
                    },
                )
            },
            syn(client(), ep_ip(), 80),
            DropReason::EndpointRejected,
            Some(ep_stat),
        ),
        (
            "no listener on port 81",
            no_tweak,
            syn(client(), ep_ip(), 81),
            DropReason::NoListener,
            Some(ep_stat),
        ),
        (
            "no healthy target in the table",
            |st| st.set_maglev(TABLE, &[NO_TARGET; MAGLEV_SIZE as usize]),
            syn(client(), ep_ip(), 80),
            DropReason::NoHealthyTarget,
            Some(l_stat),
        ),
        (
            "the target's groups do not admit the node",
            |st| {
                st.set_sg(
                    TARGET_SG,
                    SG_DIR_INGRESS,
                    PROTO_TCP,
                    (node_ip(), 32),
                    &[(9090, 9090)],
                )
            },
            syn(client(), ep_ip(), 80),
            DropReason::TargetIngressSgDeny,
            Some(t_stat),
        ),
        (
            "the only NAT port is held toward every target",
            |st| {
                st.set_endpoint(
                    0,
                    EndpointInfo {
                        nat_hi: NAT_LO,
                        ..endpoint()
                    },
                );
                for (_, t) in targets() {
                    let held = flow_key(
                        PROVIDER_VPC,
                        Ipv4Addr::from(t.ip),
                        node_ip(),
                        8080,
                        NAT_LO,
                        PROTO_TCP,
                    );
                    st.set_flow(held, FlowEntry::default());
                }
            },
            syn(client(), ep_ip(), 80),
            DropReason::NatPortsExhausted,
            Some(ep_stat),
        ),
        (
            "a first packet toward a VPC link ENI",
            |st| {
                st.set_eni(
                    VPC,
                    server(),
                    EniInfo {
                        eni: SERVER_ENI,
                        ifindex: SERVER_IFINDEX,
                        sg_set: SERVER_SG,
                        kind: ENI_KIND_LINK,
                        mac: SERVER_MAC,
                        subnet: 0,
                    },
                )
            },
            syn(client(), server(), 80),
            DropReason::LinkReverseInitiated,
            None,
        ),
    ];
    for hook in HOOKS {
        for (what, tweak, frame, reason, obj) in &cases {
            let mut st = Stage::load();
            privatelink_scene(&mut st);
            st.set_sg(
                SERVER_SG,
                SG_DIR_INGRESS,
                PROTO_TCP,
                (ip("0.0.0.0"), 0),
                &[(80, 80)],
            );
            tweak(&mut st);
            let before = st.flows();
            assert_dropped(&st, hook, frame, *reason, what);
            assert_eq!(st.flows(), before, "{hook:?} {what}: no state left");
            assert_eq!(st.eni_counters(CLIENT_ENI).drops, 1, "{hook:?} {what}");
            if let Some(i) = obj {
                assert_eq!(
                    st.obj_counters(*i).drops,
                    1,
                    "{hook:?} {what}: counted on its object"
                );
            }
        }
    }
}

/// The port frames arrive on is the server's (for its replies).
fn from_server(st: &mut Stage) {
    st.set_port(PortInfo {
        vpc: VPC,
        eni: SERVER_ENI,
        sg_set: SERVER_SG,
        ip: server().octets(),
        mac: SERVER_MAC,
        generation: 0,
        subnet: 0,
        _pad: 0,
    });
}

/// The TCP states of both entries of the client's flow to server:80.
fn states(st: &Stage, sport: u16) -> (u32, u32) {
    let flows = st.flows();
    let get = |k: FlowKey| {
        flows
            .iter()
            .find(|(f, _)| *f == k)
            .map_or(0, |(_, e)| e.state)
    };
    (
        get(flow_key(VPC, client(), server(), sport, 80, PROTO_TCP)),
        get(flow_key(VPC, server(), client(), 80, sport, PROTO_TCP)),
    )
}

/// Flow tracking, TCP: SYN creates the flow (new), the SYN-ACK on the
/// reply entry establishes it, FIN closes it half, RST closes it; a late
/// segment of a closed flow is dropped (`flow_closed`); a new SYN on the
/// finished tuple is decided afresh and recreates both entries.
#[test]
#[ignore = "needs root"]
fn tcp_state_tracking() {
    use dataplane_common::{FLOW_STATE_CLOSED, FLOW_STATE_CLOSING};
    let sport = 40000;
    let c = |flags: &str| {
        pkt::tcp(
            CLIENT_MAC,
            GATEWAY_MAC,
            client(),
            server(),
            sport,
            80,
            flags,
        )
    };
    let s = |flags: &str| {
        pkt::tcp(
            SERVER_MAC,
            GATEWAY_MAC,
            server(),
            client(),
            80,
            sport,
            flags,
        )
    };
    for hook in HOOKS {
        let mut st = Stage::load();
        client_and_server(&mut st, client());
        all_tcp_out(&mut st);
        st.set_sg(
            SERVER_SG,
            SG_DIR_INGRESS,
            PROTO_TCP,
            (ip("0.0.0.0"), 0),
            &[(80, 80)],
        );
        let to_client = |st: &Stage, f: &[u8], what: &str| {
            let o = st.run(hook, f);
            assert_eq!(o.verdict, Verdict::Forward, "{hook:?} {what}");
            assert_eq!(
                o.out,
                pkt::with_macs(f, CLIENT_MAC, GATEWAY_MAC),
                "{hook:?} {what}"
            );
        };

        assert_forwarded_to_server(&st, hook, &c("S"), "SYN");
        let new = (FLOW_STATE_NEW, FLOW_STATE_NEW);
        assert_eq!(states(&st, sport), new, "{hook:?} after SYN");
        from_server(&mut st);
        to_client(&st, &s("SA"), "SYN-ACK");
        let est = (FLOW_STATE_ESTABLISHED, FLOW_STATE_ESTABLISHED);
        assert_eq!(states(&st, sport), est, "{hook:?} after SYN-ACK");
        assert_eq!(st.counter(Counter::TcpEstablished), 1, "{hook:?}");
        client_and_server(&mut st, client());
        assert_forwarded_to_server(&st, hook, &c("A"), "ACK");
        assert_forwarded_to_server(&st, hook, &c("FA"), "FIN");
        let closing = (FLOW_STATE_CLOSING, FLOW_STATE_CLOSING);
        assert_eq!(states(&st, sport), closing, "{hook:?} after FIN");
        from_server(&mut st);
        to_client(&st, &s("R"), "RST");
        let closed = (FLOW_STATE_CLOSED, FLOW_STATE_CLOSED);
        assert_eq!(states(&st, sport), closed, "{hook:?} after RST");
        client_and_server(&mut st, client());
        assert_dropped(&st, hook, &c("A"), DropReason::FlowClosed, "late ACK");
        assert_eq!(
            states(&st, sport),
            closed,
            "{hook:?} a late segment changes nothing"
        );
        // A new connection on the same tuple.
        assert_forwarded_to_server(&st, hook, &c("S"), "new SYN");
        assert_eq!(states(&st, sport), new, "{hook:?} after the new SYN");
        assert_eq!(st.counter(Counter::FlowCreated), 2, "{hook:?}");
        assert_eq!(
            st.flows().len(),
            2,
            "{hook:?}: the old entries were replaced"
        );
    }
}

// ---- Network ACLs (docs/DATAPLANE.md, "Network ACLs") ----
//
// The ACLs are compiled by the agent's compiler into the entries the
// kernel reads (`Stage::set_nacls`); every expected outcome below is the
// AWS rule (VPC user guide, "Network ACL rules"): ascending rule numbers,
// first match decides, the final `*` denies, and only traffic that crosses
// a subnet boundary meets an ACL.

const CLIENT_SUBNET: u16 = 0;
const SERVER_SUBNET: u16 = 1;

fn acl(id: &str, ingress: Vec<AclEntry>, egress: Vec<AclEntry>) -> NetworkAcl {
    NetworkAcl {
        id: id.into(),
        vpc: 0,
        default: false,
        ingress,
        egress,
    }
}

fn entry(rule: u16, allow: bool, protocol: Protocol, ports: (u16, u16), cidr: &str) -> AclEntry {
    AclEntry {
        rule,
        allow,
        protocol,
        ports,
        icmp: IcmpMatch::ALL,
        cidr: cidr.parse().unwrap(),
    }
}

fn allow_all(rule: u16) -> AclEntry {
    entry(rule, true, Protocol::All, (0, 65535), "0.0.0.0/0")
}

/// SETUP: the client's ENI (address `addr`) in subnet `cs`, the server's
/// in subnet `ss`; both groups admit everything, so only ACLs decide.
fn acl_scene(st: &mut Stage, addr: Ipv4Addr, cs: u16, ss: u16) {
    st.set_port(PortInfo {
        vpc: VPC,
        eni: CLIENT_ENI,
        sg_set: CLIENT_SG,
        ip: addr.octets(),
        mac: CLIENT_MAC,
        generation: 0,
        subnet: cs,
        _pad: 0,
    });
    st.set_eni(
        VPC,
        server(),
        EniInfo {
            eni: SERVER_ENI,
            ifindex: SERVER_IFINDEX,
            sg_set: SERVER_SG,
            kind: ENI_KIND_HOST,
            mac: SERVER_MAC,
            subnet: ss,
        },
    );
    for proto in [PROTO_TCP, PROTO_UDP, PROTO_ICMP] {
        let any = (ip("0.0.0.0"), 0);
        st.set_sg(CLIENT_SG, SG_DIR_EGRESS, proto, any, &[(0, 65535)]);
        st.set_sg(SERVER_SG, SG_DIR_INGRESS, proto, any, &[(0, 65535)]);
    }
}

/// The `HL_NACL_STATS` key of rule `rule` of ACL `id` in direction `dir`.
fn acl_stat(id: &str, rule: u16, dir: u8) -> NaclStatKey {
    NaclStatKey {
        nacl: nacl_stat_id(id.as_bytes()),
        rule,
        dir,
        _pad: 0,
    }
}

fn syn(src: Ipv4Addr, sport: u16, dport: u16) -> Vec<u8> {
    pkt::tcp(CLIENT_MAC, GATEWAY_MAC, src, server(), sport, dport, "S")
}

/// An echo request (type 8) with ICMP code `code`.
fn echo_code(id: u16, code: u8) -> Vec<u8> {
    let mut f = pkt::echo(CLIENT_MAC, GATEWAY_MAC, client(), server(), id, true);
    f[35] = code;
    f[36..38].copy_from_slice(&[0, 0]);
    let c = !csum::fold(csum::sum(&f[34..]));
    f[36..38].copy_from_slice(&c.to_be_bytes());
    csum::assert_valid(&f);
    f
}

/// NACL first match across overlapping entries, inbound: 100 denies TCP
/// 443 from the client's /24, 110 allows 400-500 from the /16, 120 denies
/// all TCP. 443 from the /24 meets 100 first; from elsewhere in the /16 it
/// meets 110; the ends of 110's range pass, one past them meets 120.
/// Each drop is counted on the deciding rule.
#[test]
#[ignore = "needs root"]
fn nacl_first_match_across_overlapping_entries_decides() {
    for hook in HOOKS {
        let mut st = Stage::load();
        acl_scene(&mut st, client(), CLIENT_SUBNET, SERVER_SUBNET);
        let open = acl("acl-open", vec![allow_all(100)], vec![allow_all(100)]);
        let web = acl(
            "acl-web",
            vec![
                entry(100, false, Protocol::Tcp, (443, 443), "10.0.1.0/24"),
                entry(110, true, Protocol::Tcp, (400, 500), "10.0.0.0/16"),
                entry(120, false, Protocol::Tcp, (0, 65535), "0.0.0.0/0"),
            ],
            vec![allow_all(100)],
        );
        st.set_nacls(&[&open, &web]);
        let deny = DropReason::NaclIngressDeny;
        assert_dropped(
            &st,
            hook,
            &syn(client(), 40000, 443),
            deny,
            "/24, 443: rule 100",
        );
        assert_forwarded_to_server(&st, hook, &syn(client(), 40001, 400), "/24, 400: rule 110");
        assert_forwarded_to_server(&st, hook, &syn(client(), 40002, 500), "/24, 500: rule 110");
        assert_dropped(
            &st,
            hook,
            &syn(client(), 40003, 501),
            deny,
            "/24, 501: rule 120",
        );
        assert_dropped(
            &st,
            hook,
            &syn(client(), 40004, 399),
            deny,
            "/24, 399: rule 120",
        );
        let other = ip("10.0.2.10");
        acl_scene(&mut st, other, CLIENT_SUBNET, SERVER_SUBNET);
        assert_forwarded_to_server(&st, hook, &syn(other, 40005, 443), "/16, 443: rule 110");
        assert_eq!(
            st.nacl_drops(),
            {
                let mut v = vec![
                    (acl_stat("acl-web", 100, SG_DIR_INGRESS), 1),
                    (acl_stat("acl-web", 120, SG_DIR_INGRESS), 2),
                ];
                v.sort_by_key(|(k, _)| (k.nacl, k.rule, k.dir));
                v
            },
            "{hook:?}"
        );
        assert_eq!(st.counter(Counter::FlowCreated), 3, "{hook:?}");
    }
}

/// NACL deny below allow, outbound: 90 denies TCP 22, 100 allows all. A
/// packet to 22 leaves by neither: rule 90 decides, although 100 would
/// admit it; 23 and UDP 22 meet 100.
#[test]
#[ignore = "needs root"]
fn nacl_deny_numbered_below_an_allow_wins() {
    for hook in HOOKS {
        let mut st = Stage::load();
        acl_scene(&mut st, client(), CLIENT_SUBNET, SERVER_SUBNET);
        let client_acl = acl(
            "acl-client",
            vec![allow_all(100)],
            vec![
                entry(100, true, Protocol::All, (0, 65535), "0.0.0.0/0"),
                entry(90, false, Protocol::Tcp, (22, 22), "0.0.0.0/0"),
            ],
        );
        // Entries reach the compiler sorted, as config gives them.
        let mut client_acl = client_acl;
        client_acl.egress.sort_by_key(|e| e.rule);
        let open = acl("acl-open", vec![allow_all(100)], vec![allow_all(100)]);
        st.set_nacls(&[&client_acl, &open]);
        assert_dropped(
            &st,
            hook,
            &syn(client(), 40000, 22),
            DropReason::NaclEgressDeny,
            "tcp 22: rule 90",
        );
        assert_forwarded_to_server(&st, hook, &syn(client(), 40001, 23), "tcp 23: rule 100");
        let udp = pkt::udp(CLIENT_MAC, GATEWAY_MAC, client(), server(), 40002, 22);
        assert_forwarded_to_server(&st, hook, &udp, "udp 22: rule 100");
        assert_eq!(
            st.nacl_drops(),
            vec![(acl_stat("acl-client", 90, SG_DIR_EGRESS), 1)],
            "{hook:?}"
        );
    }
}

/// NACL port-range and ICMP type/code edges, inbound: 100 allows TCP
/// 1024-65535 (AWS's ephemeral range advice), 110 allows echo requests of
/// code 0 only, 120 denies every other code of type 8. What no entry
/// matches (TCP 1023, echo replies) meets the final `*`, rule 32767.
#[test]
#[ignore = "needs root"]
fn nacl_port_range_and_icmp_type_code_edges() {
    for hook in HOOKS {
        let mut st = Stage::load();
        acl_scene(&mut st, client(), CLIENT_SUBNET, SERVER_SUBNET);
        let icmp = |rule, allow, code| AclEntry {
            icmp: IcmpMatch {
                icmp_type: Some(8),
                code,
            },
            ..entry(rule, allow, Protocol::Icmp, (0, 65535), "0.0.0.0/0")
        };
        let server_acl = acl(
            "acl-server",
            vec![
                entry(100, true, Protocol::Tcp, (1024, 65535), "0.0.0.0/0"),
                icmp(110, true, Some(0)),
                icmp(120, false, None),
            ],
            vec![allow_all(100)],
        );
        let open = acl("acl-open", vec![allow_all(100)], vec![allow_all(100)]);
        st.set_nacls(&[&open, &server_acl]);
        let deny = DropReason::NaclIngressDeny;
        assert_dropped(&st, hook, &syn(client(), 40000, 1023), deny, "tcp 1023: *");
        assert_forwarded_to_server(&st, hook, &syn(client(), 40001, 1024), "tcp 1024");
        assert_forwarded_to_server(&st, hook, &syn(client(), 40002, 65535), "tcp 65535");
        assert_forwarded_to_server(&st, hook, &echo_code(7, 0), "echo code 0: rule 110");
        assert_dropped(&st, hook, &echo_code(8, 1), deny, "echo code 1: rule 120");
        let reply = pkt::echo(CLIENT_MAC, GATEWAY_MAC, client(), server(), 9, false);
        assert_dropped(&st, hook, &reply, deny, "echo reply: *");
        let mut want = vec![
            (acl_stat("acl-server", 120, SG_DIR_INGRESS), 1),
            (acl_stat("acl-server", NACL_RULE_DEFAULT, SG_DIR_INGRESS), 2),
        ];
        want.sort_by_key(|(k, _)| (k.nacl, k.rule, k.dir));
        assert_eq!(st.nacl_drops(), want, "{hook:?}");
    }
}

/// Traffic between two ENIs of one subnet meets no ACL, even one that
/// denies everything (a custom ACL without entries); the same packet
/// across a boundary is denied on its way out.
#[test]
#[ignore = "needs root"]
fn nacl_same_subnet_traffic_meets_no_acl() {
    for hook in HOOKS {
        let mut st = Stage::load();
        let closed = acl("acl-closed", vec![], vec![]);
        st.set_nacls(&[&closed, &closed]);
        acl_scene(&mut st, client(), CLIENT_SUBNET, CLIENT_SUBNET);
        assert_forwarded_to_server(&st, hook, &syn(client(), 40000, 80), "same subnet");
        acl_scene(&mut st, client(), CLIENT_SUBNET, SERVER_SUBNET);
        assert_dropped(
            &st,
            hook,
            &syn(client(), 40001, 80),
            DropReason::NaclEgressDeny,
            "across subnets: the empty ACL's *",
        );
        assert_eq!(
            st.nacl_drops(),
            vec![(acl_stat("acl-closed", NACL_RULE_DEFAULT, SG_DIR_EGRESS), 1)],
            "{hook:?}"
        );
    }
}

/// NACLs are stateless and apply to every packet: a tracked flow's next
/// segment meets the ACLs of the subnets its entry recorded, so an ACL
/// that now denies cuts it at once (the entry stays; a removed SG rule
/// would not cut it), and allowing again lets it through.
#[test]
#[ignore = "needs root"]
fn nacl_change_cuts_a_tracked_flow_on_its_next_packet() {
    for hook in HOOKS {
        let mut st = Stage::load();
        acl_scene(&mut st, client(), CLIENT_SUBNET, SERVER_SUBNET);
        let open = acl("acl-open", vec![allow_all(100)], vec![allow_all(100)]);
        st.set_nacls(&[&open, &open]);
        assert_forwarded_to_server(&st, hook, &syn(client(), 40000, 80), "first packet");
        let fwd = flow_key(VPC, client(), server(), 40000, 80, PROTO_TCP);
        let (_, e) = *st
            .flows()
            .iter()
            .find(|(k, _)| *k == fwd)
            .expect("forward entry");
        assert_eq!(
            (e.cross1_from, e.cross1_to, e.cross2_from, e.cross2_to),
            (CLIENT_SUBNET, SERVER_SUBNET, NO_SUBNET, NO_SUBNET),
            "{hook:?}: the entry records the boundary"
        );
        let ack = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), server(), 40000, 80, "A");
        let hits = st.counter(Counter::FlowHit);
        let deny80 = acl(
            "acl-web",
            vec![
                entry(50, false, Protocol::Tcp, (80, 80), "0.0.0.0/0"),
                allow_all(100),
            ],
            vec![allow_all(100)],
        );
        st.set_nacls(&[&open, &deny80]);
        st.switch();
        assert_dropped(
            &st,
            hook,
            &ack,
            DropReason::NaclIngressDeny,
            "flow hit, denied",
        );
        assert_eq!(
            st.counter(Counter::FlowHit),
            hits + 1,
            "{hook:?}: it was a hit"
        );
        assert!(
            st.flows().iter().any(|(k, _)| *k == fwd),
            "{hook:?}: entry kept"
        );
        st.set_nacls(&[&open, &open]);
        st.switch();
        assert_forwarded_to_server(&st, hook, &ack, "flow hit, allowed again");
        assert_eq!(
            st.nacl_drops(),
            vec![(acl_stat("acl-web", 50, SG_DIR_INGRESS), 1)],
            "{hook:?}"
        );
    }
}

// ---- Route tables (docs/DATAPLANE.md, "Route tables") ----
//
// The tables are written in a config, validated and compiled by the agent
// into the entries the kernel reads (`Stage::set_route_tables`); every
// expected outcome below is the AWS rule (VPC user guide, "Route tables",
// "Route priority"): the longest prefix that matches the destination
// decides, the `local` route (the VPC's CIDR) is in every table, a subnet
// without an association uses the main table, no match is `no_route`.

/// vpc-a 10.0.0.0/16: the server's subnet s0 (10.0.1.0/24) and the
/// client subnets s1, s2, s3 (10.0.2-4.0/24). s1's table blackholes
/// 10.0.0.0/8 (broader than local); s2's blackholes the server's whole
/// subnet (more specific than local); s3 has no association and uses the
/// main table, which blackholes 192.168.0.0/16.
const ROUTES_TOML: &str = r#"
[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

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

[[subnet]]
id = "s2"
vpc = "vpc-a"
cidr = "10.0.3.0/24"
az = "use1-az1"

[[subnet]]
id = "s3"
vpc = "vpc-a"
cidr = "10.0.4.0/24"
az = "use1-az1"

[[route_table]]
id = "rtb-main"
vpc = "vpc-a"
main = true
routes = [{ destination = "192.168.0.0/16", target = "blackhole" }]

[[route_table]]
id = "rtb-wide"
vpc = "vpc-a"
subnets = ["s1"]
routes = [{ destination = "10.0.0.0/8", target = "blackhole" }]

[[route_table]]
id = "rtb-hole"
vpc = "vpc-a"
subnets = ["s2"]
routes = [
  { destination = "172.16.0.0/12", target = "blackhole" },
  { destination = "10.0.1.0/24", target = "blackhole" },
]
"#;

/// SETUP: the route tables of `ROUTES_TOML`, the server's ENI in s0, every
/// subnet with an allow-all ACL and every group open, so only routes
/// decide; the client's ENI (`addr`) is in subnet `s`.
fn route_scene(st: &mut Stage, s: u16, addr: Ipv4Addr) {
    let topo = dataplane::config::parse_str(ROUTES_TOML, "routes.toml").unwrap();
    st.set_route_tables(&topo);
    acl_scene(st, addr, s, 0);
    let open = NetworkAcl::default_for(0, "vpc-a");
    st.set_nacls(&[&open, &open, &open, &open]);
}

fn route_stat(table: &str, route: u16) -> RouteStatKey {
    RouteStatKey {
        table: nacl_stat_id(table.as_bytes()),
        route,
        _pad: 0,
    }
}

fn syn_to(src: Ipv4Addr, dst: Ipv4Addr, sport: u16) -> Vec<u8> {
    pkt::tcp(CLIENT_MAC, GATEWAY_MAC, src, dst, sport, 80, "S")
}

/// Route priority: the longest matching prefix decides. From s1 the
/// server (10.0.1.20) matches 10.0.0.0/8 (blackhole) and the local
/// 10.0.0.0/16: local is longer, the SYN is forwarded; 10.1.0.5 matches
/// only the /8: `route_blackhole`. From s2 the server matches the local
/// /16 and the blackholed /24 of its subnet: the /24 wins. Each drop is
/// counted on its table's deciding route.
#[test]
#[ignore = "needs root"]
fn route_longest_prefix_decides() {
    for hook in HOOKS {
        let mut st = Stage::load();
        let c1 = ip("10.0.2.10");
        route_scene(&mut st, 1, c1);
        assert_forwarded_to_server(
            &st,
            hook,
            &syn_to(c1, server(), 40000),
            "s1 -> server: local /16 over /8",
        );
        let hole = DropReason::RouteBlackhole;
        assert_dropped(
            &st,
            hook,
            &syn_to(c1, ip("10.1.0.5"), 40001),
            hole,
            "s1 -> 10.1.0.5: /8 blackhole",
        );
        let c2 = ip("10.0.3.10");
        route_scene(&mut st, 2, c2);
        assert_dropped(
            &st,
            hook,
            &syn_to(c2, server(), 40002),
            hole,
            "s2 -> server: /24 blackhole over local /16",
        );
        assert_dropped(
            &st,
            hook,
            &syn_to(c2, ip("172.20.0.1"), 40003),
            hole,
            "s2 -> 172.20.0.1: /12 blackhole",
        );
        assert_eq!(
            st.route_drops(),
            {
                let mut v = vec![
                    (route_stat("rtb-wide", 0), 1),
                    (route_stat("rtb-hole", 0), 1),
                    (route_stat("rtb-hole", 1), 1),
                ];
                v.sort_by_key(|(k, _)| (k.table, k.route));
                v
            },
            "{hook:?}"
        );
        assert_eq!(st.counter(Counter::FlowCreated), 1, "{hook:?}");
    }
}

/// No route, and the main table: s3 has no association, so the main
/// table decides: 192.168.1.1 meets its blackhole, 172.16.0.1 no route
/// at all (`no_route`, counted on the table), the server the local route.
/// From s1 (another table, without the main table's route) 192.168.1.1
/// is `no_route` too.
#[test]
#[ignore = "needs root"]
fn route_no_route_and_main_table_fallback() {
    for hook in HOOKS {
        let mut st = Stage::load();
        let c3 = ip("10.0.4.10");
        route_scene(&mut st, 3, c3);
        assert_dropped(
            &st,
            hook,
            &syn_to(c3, ip("192.168.1.1"), 40000),
            DropReason::RouteBlackhole,
            "s3 -> 192.168.1.1: main's blackhole",
        );
        assert_dropped(
            &st,
            hook,
            &syn_to(c3, ip("172.16.0.1"), 40001),
            DropReason::NoRoute,
            "s3 -> 172.16.0.1: no route",
        );
        assert_forwarded_to_server(
            &st,
            hook,
            &syn_to(c3, server(), 40002),
            "s3 -> server: local",
        );
        let c1 = ip("10.0.2.10");
        route_scene(&mut st, 1, c1);
        assert_dropped(
            &st,
            hook,
            &syn_to(c1, ip("192.168.1.1"), 40003),
            DropReason::NoRoute,
            "s1 -> 192.168.1.1: no route in rtb-wide",
        );
        assert_eq!(
            st.route_drops(),
            {
                let mut v = vec![
                    (route_stat("rtb-main", 0), 1),
                    (route_stat("rtb-main", ROUTE_NO_MATCH), 1),
                    (route_stat("rtb-wide", ROUTE_NO_MATCH), 1),
                ];
                v.sort_by_key(|(k, _)| (k.table, k.route));
                v
            },
            "{hook:?}"
        );
    }
}

/// The route decides the first packet only: the flow entry keeps it. A
/// flow created from s3 (local route to the server) keeps forwarding after
/// s3 is moved to a table that blackholes the server's subnet, while a
/// new flow on the same path is dropped.
#[test]
#[ignore = "needs root"]
fn route_change_leaves_tracked_flows() {
    for hook in HOOKS {
        let mut st = Stage::load();
        let c3 = ip("10.0.4.10");
        route_scene(&mut st, 3, c3);
        assert_forwarded_to_server(
            &st,
            hook,
            &syn_to(c3, server(), 40000),
            "first packet: local",
        );
        let moved = ROUTES_TOML.replace("subnets = [\"s2\"]", "subnets = [\"s2\", \"s3\"]");
        st.set_route_tables(&dataplane::config::parse_str(&moved, "moved.toml").unwrap());
        let ack = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, c3, server(), 40000, 80, "A");
        assert_forwarded_to_server(&st, hook, &ack, "tracked flow: its entry decides");
        assert_dropped(
            &st,
            hook,
            &syn_to(c3, server(), 40001),
            DropReason::RouteBlackhole,
            "new flow: rtb-hole's /24",
        );
    }
}

/// The per-flow memo of the ACL decision: a TCP flow whose packet passed
/// the ACLs under one `HL_ACTIVE` value records it and is not looked up
/// again until the value changes (the decision depends only on the
/// configuration and the entry's addresses and port). ACL entries written
/// without a switch are therefore not seen by that flow; the agent's
/// switch (every reload) makes its next packet meet them. ICMP is checked
/// on every packet (its type may vary within one entry).
#[test]
#[ignore = "needs root"]
fn nacl_decision_is_memoised_per_flow_until_the_next_switch() {
    for hook in HOOKS {
        let mut st = Stage::load();
        acl_scene(&mut st, client(), CLIENT_SUBNET, SERVER_SUBNET);
        let open = acl("acl-open", vec![allow_all(100)], vec![allow_all(100)]);
        st.set_nacls(&[&open, &open]);
        let v = st.switch();
        assert_forwarded_to_server(&st, hook, &syn(client(), 40000, 80), "first packet");
        let fwd = flow_key(VPC, client(), server(), 40000, 80, PROTO_TCP);
        let epoch = |st: &Stage| {
            st.flows()
                .iter()
                .find(|(k, _)| *k == fwd)
                .unwrap()
                .1
                .nacl_epoch
        };
        assert_eq!(
            epoch(&st),
            0,
            "{hook:?}: a new entry has checked under no value yet"
        );
        let ack = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), server(), 40000, 80, "A");
        assert_forwarded_to_server(&st, hook, &ack, "first hit: checked");
        assert_eq!(
            epoch(&st),
            v,
            "{hook:?}: the hit records the value it passed under"
        );
        // An echo flow too; then the ACL closes without a switch.
        let echo = pkt::echo(CLIENT_MAC, GATEWAY_MAC, client(), server(), 7, true);
        assert_forwarded_to_server(&st, hook, &echo, "echo: a new flow");
        assert_forwarded_to_server(&st, hook, &echo, "echo: a hit");
        let closed = acl("acl-closed", vec![], vec![]);
        st.set_nacls(&[&open, &closed]);
        assert_forwarded_to_server(&st, hook, &ack, "no switch: the memo stands");
        assert_dropped(
            &st,
            hook,
            &echo,
            DropReason::NaclIngressDeny,
            "icmp flow hit: checked on every packet",
        );
        st.switch();
        assert_dropped(
            &st,
            hook,
            &ack,
            DropReason::NaclIngressDeny,
            "after the switch",
        );
    }
}
