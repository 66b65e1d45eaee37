//! Stage tests of the `tunnel` stage (labs across nodes, docs/DATAPLANE.md
//! "Labs across nodes"), as in `stages.rs` (PKTGEN / SETUP / CHECK): the
//! destination ENI lives on another node (its `HL_ENIS` row names that
//! node's underlay address and this node's VXLAN device). What is
//! expected is the rule: the sender's node evaluates the sender's egress
//! groups and its subnet's outbound ACL, never the receiver's ingress
//! groups; it records both directions (the forward one into the tunnel);
//! the receiver's node counts the delivery. A frame on the VXLAN port
//! without tunnel metadata is no ENI's, and ARP never crosses nodes.

use std::net::Ipv4Addr;

use dataplane::model::Hook;
use dataplane_common::{
    flow_hash, node_addr, Counter, DropReason, EndpointInfo, EniInfo, ListenerInfo, ListenerKey,
    PortInfo, TargetInfo, ENDPOINT_STATE_AVAILABLE, ENI_KIND_ENDPOINT, ENI_KIND_HOST,
    ENI_KIND_NLB_NODE, ENI_KIND_NODE, FLOW_F_DNAT, FLOW_F_REPLY, FLOW_F_SNAT, FLOW_F_TUNNEL,
    GATEWAY_MAC, HASH_SEED_NAT_PORT, MAGLEV_SIZE, NO_SG_SET, NO_SUBNET, PROTO_TCP, SG_DIR_EGRESS,
    SG_DIR_INGRESS, TUNNEL_VPC,
};
use hyperlab_tests::stage::port_info;
use hyperlab_tests::{
    csum, pkt,
    stage::{flow_key, Stage},
    Verdict, HOOKS,
};

mod stages_common;
use stages_common::{assert_dropped, ip, new_drops};

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x0a];
const WEB_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x14];
const CLIENT_ENI: u32 = 0;
const WEB_ENI: u32 = 1;
const CLIENT_SG: u32 = 7;
/// The web ENI's group: no entries at all, so it admits nothing.
const WEB_SG: u32 = 8;
/// This node's VXLAN device.
const VXLAN_IFINDEX: u32 = 4500;
const NODE2: [u8; 4] = [192, 168, 213, 2];

fn client() -> Ipv4Addr {
    ip("10.0.1.10")
}

fn web() -> Ipv4Addr {
    ip("10.0.2.20")
}

/// SETUP: the client (subnet 0) on this node sends; web (subnet 1) lives
/// on the node with underlay address 192.168.213.2. The client's group
/// lets TCP out; web's admits nothing; both subnets' ACLs are defaults.
fn scene(st: &mut Stage) {
    st.set_port(port_info(0, CLIENT_ENI, CLIENT_SG, client(), CLIENT_MAC, 0));
    let acls: Vec<_> = (0..2)
        .map(|v| dataplane::model::NetworkAcl::default_for(0, &format!("vpc-{v}")))
        .collect();
    st.set_nacls(&acls.iter().collect::<Vec<_>>());
    st.set_eni(
        0,
        web(),
        EniInfo {
            eni: WEB_ENI,
            ifindex: VXLAN_IFINDEX,
            sg_set: WEB_SG,
            kind: ENI_KIND_HOST,
            underlay: NODE2,
            mac: WEB_MAC,
            subnet: 1,
        },
    );
    let any = (ip("0.0.0.0"), 0);
    st.set_sg(CLIENT_SG, SG_DIR_EGRESS, PROTO_TCP, any, &[(0, 65535)]);
}

/// The TC hook sends a SYN for another node's ENI into the VXLAN device
/// with only the MACs rewritten, although the receiver's groups admit
/// nothing (its node decides that): the forward entry leads into the
/// tunnel and checks only the outbound half of the boundary, the reply
/// entry leads back to the client and checks only the inbound half. The
/// delivery is not this node's to count. The XDP hook, which cannot give
/// a frame a tunnel key, refuses it (`redirect_failed`) before creating
/// anything.
#[test]
#[ignore = "needs root"]
fn a_first_packet_for_another_nodes_eni_goes_into_the_tunnel_on_tc_only() {
    let mut st = Stage::load();
    scene(&mut st);
    let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), web(), 40000, 80, "S");
    let before = st.drops();
    let o = st.run(Hook::Tc, &syn);
    assert_eq!(
        o.verdict,
        Verdict::Forward,
        "redirected into the VXLAN device"
    );
    assert_eq!(o.out, pkt::with_macs(&syn, WEB_MAC, GATEWAY_MAC));
    assert_eq!(new_drops(&before, &st.drops()), vec![]);
    let mut flows = st.flows();
    flows.sort_by_key(|(_, e)| e.flags & FLOW_F_REPLY);
    let got: Vec<_> = flows
        .iter()
        .map(|(k, e)| {
            (
                *k,
                e.flags,
                e.out_ifindex,
                e.dst_eni,
                (e.cross1_from, e.cross1_to),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                flow_key(0, client(), web(), 40000, 80, PROTO_TCP),
                FLOW_F_TUNNEL,
                VXLAN_IFINDEX,
                WEB_ENI,
                (0, NO_SUBNET),
            ),
            (
                flow_key(0, web(), client(), 80, 40000, PROTO_TCP),
                FLOW_F_REPLY,
                1,
                CLIENT_ENI,
                (NO_SUBNET, 0),
            ),
        ]
    );
    assert_eq!(st.eni_counters(WEB_ENI).rx_packets, 0);
    assert_eq!(st.eni_counters(CLIENT_ENI).tx_packets, 1);

    xdp_cannot_tunnel(scene, &syn);
}

/// On XDP, which cannot tunnel, `syn` in a fresh `scene` whose flow would
/// leave into the tunnel is dropped (`redirect_failed`) and creates no flow.
fn xdp_cannot_tunnel(scene: fn(&mut Stage), syn: &[u8]) {
    let mut st = Stage::load();
    scene(&mut st);
    assert_dropped(
        &st,
        Hook::Xdp,
        syn,
        DropReason::RedirectFailed,
        "XDP cannot tunnel",
    );
    assert_eq!(st.flows(), vec![], "XDP: no flow created");
}

/// A frame on the VXLAN port that carries no tunnel metadata names no
/// sender: `source_check`; ARP on it is never answered (`arp_ignored`).
#[test]
#[ignore = "needs root"]
fn the_vxlan_port_takes_only_tunnelled_ip_from_other_nodes() {
    for hook in HOOKS {
        let mut st = Stage::load();
        scene(&mut st);
        st.set_port(port_info(
            TUNNEL_VPC,
            u32::MAX,
            NO_SG_SET,
            Ipv4Addr::from([0; 4]),
            [0; 6],
            NO_SUBNET,
        ));
        let syn = pkt::tcp(WEB_MAC, CLIENT_MAC, web(), client(), 80, 40000, "S");
        assert_dropped(&st, hook, &syn, DropReason::SourceCheck, "no metadata");
        let arp = pkt::arp_request(WEB_MAC, web(), client());
        assert_dropped(
            &st,
            hook,
            &arp,
            DropReason::ArpIgnored,
            "ARP from the tunnel",
        );
        assert_eq!(st.flows(), vec![], "{hook:?}");
    }
}

/// PrivateLink across nodes: the provider VPC, the NLB node's address and
/// subnet, its target (on the node NODE2), this node's NAT slice of
/// 20000-20099 (node 0 of 2: the even ports) and the endpoint ENI.
const PROVIDER_VPC: u32 = 1;
const NLB_SUBNET: u16 = 2;
const TARGET_SUBNET: u16 = 1;
const TARGET: u32 = 10;
const TARGET_ENI: u32 = 20;
const TARGET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x09, 0x11];
const TARGET_SG: u32 = 9;
const EP_SG: u32 = 10;

fn nlb_ip() -> Ipv4Addr {
    ip("10.9.0.5")
}

fn target_ip() -> Ipv4Addr {
    ip("10.9.0.11")
}

fn endpoint_ip() -> Ipv4Addr {
    ip("10.0.1.50")
}

/// SETUP: the client's port; an endpoint ENI (admits TCP 80) leading to
/// an NLB node whose TCP 80 listener has one target, on the node NODE2
/// (its `HL_ENIS` row is that node's); the target's group admits the NLB
/// node on 8080. Default ACLs on the three subnets.
fn privatelink_scene(st: &mut Stage) {
    scene(st);
    let acls: Vec<_> = (0..3)
        .map(|v| dataplane::model::NetworkAcl::default_for(0, &format!("vpc-{v}")))
        .collect();
    st.set_nacls(&acls.iter().collect::<Vec<_>>());
    st.set_eni(
        0,
        endpoint_ip(),
        EniInfo {
            eni: 0,
            ifindex: 0,
            sg_set: EP_SG,
            kind: ENI_KIND_ENDPOINT,
            underlay: [0; 4],
            mac: [0; 6],
            subnet: 0,
        },
    );
    let any = (ip("0.0.0.0"), 0);
    st.set_sg(EP_SG, SG_DIR_INGRESS, PROTO_TCP, any, &[(80, 80)]);
    st.set_endpoint(
        0,
        EndpointInfo {
            state: ENDPOINT_STATE_AVAILABLE,
            endpoint: 0,
            node: 0,
            out_vpc: PROVIDER_VPC,
            node_ip: nlb_ip().octets(),
            nat_lo: 20000,
            nat_hi: 20098,
            egress_sg_set: NO_SG_SET,
            node_subnet: NLB_SUBNET,
            nat_step: 2,
        },
    );
    let lk = ListenerKey {
        node: 0,
        port: 80u16.to_be_bytes(),
        proto: PROTO_TCP,
        _pad: 0,
    };
    st.set_listener(
        lk,
        ListenerInfo {
            table: 0,
            listener: 0,
        },
    );
    st.set_maglev(0, &vec![TARGET; MAGLEV_SIZE as usize]);
    st.set_target(
        TARGET,
        TargetInfo {
            ip: target_ip().octets(),
            port: 8080u16.to_be_bytes(),
            subnet: TARGET_SUBNET,
            ifindex: VXLAN_IFINDEX,
            eni: TARGET_ENI,
            sg_set: TARGET_SG,
            vpc: PROVIDER_VPC,
            mac: TARGET_MAC,
            snat_subnet: 0,
            snat_ip: [0; 4],
        },
    );
    st.set_eni(
        PROVIDER_VPC,
        target_ip(),
        EniInfo {
            eni: TARGET_ENI,
            ifindex: VXLAN_IFINDEX,
            sg_set: TARGET_SG,
            kind: ENI_KIND_HOST,
            underlay: NODE2,
            mac: TARGET_MAC,
            subnet: TARGET_SUBNET,
        },
    );
    st.set_sg(
        TARGET_SG,
        SG_DIR_INGRESS,
        PROTO_TCP,
        (nlb_ip(), 32),
        &[(8080, 8080)],
    );
}

/// The client's node translates a PrivateLink flow whose target lives on
/// another node: the SYN leaves into the tunnel source-NATed to the NLB
/// node with a port of this node's slice (the even ports: `nat_lo +
/// 2 * (flow_hash % 50)`) and destination-NATed to the target. The forward
/// entry leads into the tunnel; this node checks both boundaries whole, as
/// on one node (the target's node checks its half again); the reply entry,
/// keyed by the translated tuple, leads back to the client.
/// XDP refuses it before any state (`redirect_failed`).
#[test]
#[ignore = "needs root"]
fn a_privatelink_flow_to_another_nodes_target_is_translated_here_with_this_nodes_ports() {
    let mut st = Stage::load();
    privatelink_scene(&mut st);
    let syn = pkt::tcp(
        CLIENT_MAC,
        GATEWAY_MAC,
        client(),
        endpoint_ip(),
        40000,
        80,
        "S",
    );
    let (s, d) = (client().octets(), endpoint_ip().octets());
    let start = flow_hash(
        s,
        d,
        40000u16.to_be_bytes(),
        80u16.to_be_bytes(),
        PROTO_TCP,
        HASH_SEED_NAT_PORT,
    ) % 50;
    let nport = 20000 + 2 * start as u16;
    let o = st.run(Hook::Tc, &syn);
    assert_eq!(
        o.verdict,
        Verdict::Forward,
        "redirected into the VXLAN device"
    );
    assert_eq!(
        o.out,
        pkt::tcp(
            GATEWAY_MAC,
            TARGET_MAC,
            nlb_ip(),
            target_ip(),
            nport,
            8080,
            "S"
        )
    );
    assert_eq!(st.drops().iter().map(|(_, n)| n).sum::<u64>(), 0);
    let mut flows = st.flows();
    flows.sort_by_key(|(_, e)| e.flags & FLOW_F_REPLY);
    let got: Vec<_> = flows
        .iter()
        .map(|(k, e)| {
            (
                *k,
                e.flags,
                e.out_ifindex,
                (e.cross1_from, e.cross1_to, e.cross2_from, e.cross2_to),
            )
        })
        .collect();
    let nat = FLOW_F_SNAT | FLOW_F_DNAT;
    assert_eq!(
        got,
        vec![
            (
                flow_key(0, client(), endpoint_ip(), 40000, 80, PROTO_TCP),
                nat | FLOW_F_TUNNEL,
                VXLAN_IFINDEX,
                (0, 0, NLB_SUBNET, TARGET_SUBNET),
            ),
            (
                flow_key(PROVIDER_VPC, target_ip(), nlb_ip(), 8080, nport, PROTO_TCP),
                nat | FLOW_F_REPLY,
                1,
                (TARGET_SUBNET, NLB_SUBNET, 0, 0),
            ),
        ]
    );
    assert_eq!(
        st.eni_counters(TARGET_ENI).rx_packets,
        0,
        "the target's node counts it"
    );

    xdp_cannot_tunnel(privatelink_scene, &syn);
}

/// A target's reply that no flow of this node holds, to an NLB node's
/// address: the node whose NAT slice holds its destination port
/// translated it. Port 20001 (odd: node 1 of 2, NODE2) leaves into the
/// tunnel unchanged and creates nothing (that node's flow admits it or
/// drops it); port 20000 is this node's own (node 0), and no flow here
/// holds it: `no_route`, as on XDP, which cannot tunnel.
#[test]
#[ignore = "needs root"]
fn a_reply_to_an_nlb_node_goes_to_the_node_whose_slice_holds_its_port() {
    let setup = |st: &mut Stage| {
        st.set_port(PortInfo {
            vpc: PROVIDER_VPC,
            eni: TARGET_ENI,
            sg_set: TARGET_SG,
            ip: target_ip().octets(),
            mac: TARGET_MAC,
            generation: 0,
            subnet: TARGET_SUBNET,
            _pad: 0,
        });
        st.set_eni(
            PROVIDER_VPC,
            nlb_ip(),
            EniInfo {
                eni: 2,
                ifindex: VXLAN_IFINDEX,
                sg_set: NO_SG_SET,
                kind: ENI_KIND_NLB_NODE,
                underlay: [0; 4],
                mac: [0; 6],
                subnet: NLB_SUBNET,
            },
        );
        for (k, underlay) in [(0, [0; 4]), (1, NODE2)] {
            st.set_eni(
                TUNNEL_VPC,
                Ipv4Addr::from(node_addr(k)),
                EniInfo {
                    eni: 2,
                    ifindex: VXLAN_IFINDEX,
                    sg_set: NO_SG_SET,
                    kind: ENI_KIND_NODE,
                    underlay,
                    mac: [0; 6],
                    subnet: NO_SUBNET,
                },
            );
        }
    };
    let mut st = Stage::load();
    setup(&mut st);
    let theirs = pkt::tcp(
        TARGET_MAC,
        GATEWAY_MAC,
        target_ip(),
        nlb_ip(),
        8080,
        20001,
        "SA",
    );
    let o = st.run(Hook::Tc, &theirs);
    assert_eq!(o.verdict, Verdict::Forward, "into the tunnel, to NODE2");
    assert_eq!(o.out, theirs, "unchanged");
    assert_eq!(st.drops().iter().map(|(_, n)| n).sum::<u64>(), 0);
    assert_eq!(st.counter(Counter::Forwarded), 1);
    assert_eq!(st.flows(), vec![], "stateless");
    let ours = pkt::tcp(
        TARGET_MAC,
        GATEWAY_MAC,
        target_ip(),
        nlb_ip(),
        8080,
        20000,
        "SA",
    );
    assert_dropped(
        &st,
        Hook::Tc,
        &ours,
        DropReason::NoRoute,
        "this node's own port, no flow",
    );
    assert_dropped(
        &st,
        Hook::Xdp,
        &theirs,
        DropReason::NoRoute,
        "XDP cannot tunnel",
    );
    assert_eq!(st.flows(), vec![]);
}

/// An ICMP error about a flow whose other end lives on another node rides
/// that flow into the tunnel: the client, having received a segment from
/// web (on NODE2), answers with fragmentation needed quoting it; the error
/// leaves into the VXLAN device with only the MACs rewritten (no NAT on
/// this flow), web's ingress groups (which admit nothing) are its node's to
/// judge, and its delivery is not counted here. XDP cannot tunnel:
/// `redirect_failed`.
#[test]
#[ignore = "needs root"]
fn an_icmp_error_for_another_nodes_end_of_a_flow_rides_it_into_the_tunnel() {
    for hook in HOOKS {
        let mut st = Stage::load();
        scene(&mut st);
        let syn = pkt::tcp(CLIENT_MAC, GATEWAY_MAC, client(), web(), 40000, 80, "S");
        assert_eq!(st.run(Hook::Tc, &syn).verdict, Verdict::Forward);
        // What web sent the client (as delivered): its IPv4 header and the
        // first 8 bytes of TCP.
        let from_web = pkt::tcp(WEB_MAC, CLIENT_MAC, web(), client(), 80, 40000, "SA");
        let quote = &from_web[14..14 + 28];
        let err = icmp_error(CLIENT_MAC, GATEWAY_MAC, client(), web(), quote);
        let o = st.run(hook, &err);
        if hook == Hook::Xdp {
            assert_eq!(o.verdict, Verdict::Drop);
            assert_eq!(st.drops(), vec![(DropReason::RedirectFailed, 1)]);
            continue;
        }
        assert_eq!(o.verdict, Verdict::Forward, "into the VXLAN device");
        assert_eq!(o.out, pkt::with_macs(&err, WEB_MAC, GATEWAY_MAC));
        assert_eq!(st.drops(), vec![]);
        assert_eq!(st.counter(Counter::IcmpErrorForwarded), 1);
        assert_eq!(
            st.eni_counters(WEB_ENI).rx_packets,
            0,
            "web's node counts it"
        );
        assert_eq!(st.flows().len(), 2, "an error creates no flow");
    }
}

/// Fragmentation needed (type 3 code 4, next-hop MTU 1400) from `src` to
/// `dst` quoting `quote`, checksums from scratch.
fn icmp_error(smac: [u8; 6], dmac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr, quote: &[u8]) -> Vec<u8> {
    let mut icmp = vec![3, 4, 0, 0, 0, 0, 0x05, 0x78];
    icmp.extend_from_slice(quote);
    let c = !csum::fold(csum::sum(&icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let tot = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0xc0];
    ip.extend_from_slice(&tot.to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34, 0, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = !csum::fold(csum::sum(&ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = dmac.to_vec();
    f.extend_from_slice(&smac);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&icmp);
    f
}
