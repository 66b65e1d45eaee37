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
    DropReason, EniInfo, ENI_KIND_HOST, FLOW_F_REPLY, FLOW_F_TUNNEL, GATEWAY_MAC, NO_SG_SET,
    NO_SUBNET, PROTO_TCP, SG_DIR_EGRESS, TUNNEL_VPC,
};
use hyperlab_tests::stage::port_info;
use hyperlab_tests::{
    pkt,
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

    let mut st = Stage::load();
    scene(&mut st);
    assert_dropped(
        &st,
        Hook::Xdp,
        &syn,
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
