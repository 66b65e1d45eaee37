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

use dataplane::model::Hook;
use dataplane_common::{
    flow_hash, Counter, DropReason, EndpointInfo, FlowEntry, FlowKey, FlowTotals, ListenerInfo,
    ListenerKey, TargetInfo, ENDPOINT_STATE_AVAILABLE, ENDPOINT_STATE_PENDING,
    ENDPOINT_STATE_REJECTED, ENI_KIND_ENDPOINT, ENI_KIND_LINK, FLOW_F_DNAT, FLOW_F_REPLY,
    FLOW_F_SNAT, FLOW_STATE_ESTABLISHED, FLOW_STATE_NEW, GATEWAY_MAC, HASH_SEED_NAT_PORT,
    HASH_SEED_TARGET, MAGLEV_SIZE, NO_SG_SET, NO_STAT, NO_SUBNET, NO_TARGET, PROTO_ICMP, PROTO_TCP,
    PROTO_UDP, SG_DIR_EGRESS, SG_DIR_INGRESS, STAT_ENDPOINT_BASE, STAT_LISTENER_BASE,
    STAT_TARGET_BASE, TARGETS_PER_GENERATION,
};
use hyperlab_tests::stage::eni_info;
use hyperlab_tests::{
    csum, pkt,
    stage::{eth_to, flow_key, Stage, PORT_IFINDEX},
    Verdict, HOOKS,
};

mod stages_common;
use stages_common::*;

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
            let f = to_server(40000 + i as u16, port, "S");
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

/// The two entries a first packet in a VPC creates, field by field, with
/// their counters summed: the forward one (with the packet counted) and the
/// reply one.
fn plain_flow(
    frame: &[u8],
    sport: u16,
    dport: u16,
    created_ns: u64,
) -> Vec<(FlowKey, FlowEntry, FlowTotals)> {
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
        cross1_from: 0,
        cross1_to: 0,
        cross2_from: NO_SUBNET,
        cross2_to: NO_SUBNET,
        nacl_epoch: 0,
        _pad2: 0,
        nat_gateway: dataplane_common::NO_NAT_GATEWAY,
    };
    assert_eq!(frame[14 + 20 + 13], 0x02, "plain_flow expects a SYN");
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
        ..fwd
    };
    let mut v = vec![
        (
            flow_key(VPC, client(), server(), sport, dport, PROTO_TCP),
            fwd,
            FlowTotals {
                packets: 1,
                bytes: frame.len() as u64 - 14,
                last_seen_ns: created_ns,
                // The SYN, as flow logs' tcp-flags counts it.
                tcp_flags: 2,
            },
        ),
        (
            flow_key(VPC, server(), client(), dport, sport, PROTO_TCP),
            rev,
            FlowTotals {
                last_seen_ns: created_ns,
                ..Default::default()
            },
        ),
    ];
    v.sort_by_key(|(k, _, _)| (k.vpc, k.src, k.dst, k.sport, k.dport, k.proto));
    v
}

/// Flow create: an allowed first packet records both directions.
#[test]
#[ignore = "needs root"]
fn flow_create_records_both_directions() {
    for hook in HOOKS {
        let mut st = Stage::load();
        web_scene(&mut st);
        let f = to_server(40000, 80, "S");
        assert_forwarded_to_server(&st, hook, &f, "first packet");
        let flows = st.flows_summed();
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
        let a = to_server(40000, 80, "A");
        assert_forwarded_to_server(&st, hook, &a, "second packet");
        assert_eq!(st.counter(Counter::FlowHit), 1, "{hook:?}");
        assert_eq!(st.counter(Counter::FlowCreated), 1, "{hook:?}");
    }
}

/// The two programs per hook: a flow hit runs in the fast path alone, a
/// first packet in the slow-path program it tail-calls. With the slow
/// paths' arrays empty a live flow still forwards, and a new one is
/// dropped untouched as `slow_path_failed`, counted on its ENI.
#[test]
#[ignore = "needs root"]
fn flow_hits_need_no_slow_path_and_first_packets_fail_loudly_without_one() {
    for hook in HOOKS {
        let mut st = Stage::load();
        web_scene(&mut st);
        let f = to_server(40000, 80, "S");
        assert_forwarded_to_server(&st, hook, &f, "first packet, slow path present");
        st.empty_slow_paths();
        let a = to_server(40000, 80, "A");
        assert_forwarded_to_server(&st, hook, &a, "flow hit, no slow path");
        let live = st.flows();
        assert_eq!(live.len(), 2, "{hook:?}: the first flow's two entries");
        let g = to_server(40001, 80, "S");
        assert_dropped(
            &st,
            hook,
            &g,
            DropReason::SlowPathFailed,
            "first packet, no slow path",
        );
        assert_eq!(st.counter(Counter::FlowCreated), 1, "{hook:?}");
        assert_eq!(st.counter(Counter::FlowHit), 1, "{hook:?}");
        assert_eq!(st.eni_counters(CLIENT_ENI).drops, 1, "{hook:?}");
        assert_eq!(
            st.flows(),
            live,
            "{hook:?}: the live entries untouched, no new one"
        );
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
            web_scene(&mut st);
            let f1 = to_server(40000, 80, "S");
            assert_forwarded_to_server(&st, hook, &f1, "first flow");
            let live = st.flows();
            let summed = st.flows_summed();
            assert_eq!(summed, plain_flow(&f1, 40000, 80, live[0].1.created_ns));
            let f2 = to_server(40001, 80, "S");
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
                cross1_from: 0,
                cross1_to: 0,
                cross2_from: NO_SUBNET,
                cross2_to: NO_SUBNET,
                nacl_epoch: 0,
                _pad2: 0,
                nat_gateway: dataplane_common::NO_NAT_GATEWAY,
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
                (e.totals.packets, e.totals.bytes),
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
        nat_step: 1,
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
        eni_info(0, 0, EP_SG, ENI_KIND_ENDPOINT, [0; 6], 0),
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
            let flows = st.flows_summed();
            let fwd_key = flow_key(VPC, client(), ep_ip, sport, 80, PROTO_TCP);
            let (_, fwd, fwd_counts) = *flows
                .iter()
                .find(|(k, _, _)| *k == fwd_key)
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
                // No crossing, epoch or NAT gateway: the rest as of no flow.
                ..FlowEntry::default()
            };
            assert_eq!(fwd, want_fwd, "{hook:?} {what}");
            let first = FlowTotals {
                packets: 1,
                bytes: f.len() as u64 - 14,
                last_seen_ns: fwd.created_ns,
                // The SYN (2), as flow logs' tcp-flags counts it.
                tcp_flags: 2,
            };
            assert_eq!(fwd_counts, first, "{hook:?} {what}");
            let rev_key = flow_key(
                PROVIDER_VPC,
                Ipv4Addr::from(t.ip),
                node_ip,
                8080,
                nport,
                PROTO_TCP,
            );
            let (_, rev, rev_counts) = *flows
                .iter()
                .find(|(k, _, _)| *k == rev_key)
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
                ..want_fwd
            };
            assert_eq!(rev, want_rev, "{hook:?} {what}");
            let none = FlowTotals {
                last_seen_ns: fwd.created_ns,
                ..Default::default()
            };
            assert_eq!(rev_counts, none, "{hook:?} {what}");
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
                    eni_info(
                        SERVER_ENI,
                        SERVER_IFINDEX,
                        SERVER_SG,
                        ENI_KIND_LINK,
                        SERVER_MAC,
                        0,
                    ),
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
    from_server_port(st, 0);
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
    let c = |flags: &str| to_server(sport, 80, flags);
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
        web_scene(&mut st);
        let to_client = |st: &Stage, f: &[u8], what: &str| {
            assert_forwarded_to(st, hook, f, CLIENT_MAC, what);
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
