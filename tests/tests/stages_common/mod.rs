//! Shared by the stage test files (`stages.rs`, `stages_nacl_routes.rs`):
//! the scene both use (one VPC with a client and a server ENI) and the
//! assertions on one frame's outcome.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use dataplane::model::Hook;
use dataplane_common::{
    Counter, DropReason, ENI_KIND_HOST, GATEWAY_MAC, PROTO_TCP, SG_DIR_EGRESS, SG_DIR_INGRESS,
};
use hyperlab_tests::stage::{eni_info, port_info, Stage};
use hyperlab_tests::{pkt, Verdict};

pub mod internet;

pub const VPC: u32 = 7;
pub const CLIENT_ENI: u32 = 3;
pub const SERVER_ENI: u32 = 4;
pub const CLIENT_SG: u32 = 10;
pub const SERVER_SG: u32 = 11;
pub const SERVER_IFINDEX: u32 = 4242;
pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x0a];
pub const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x14];

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn client() -> Ipv4Addr {
    ip("10.0.1.10")
}

pub fn server() -> Ipv4Addr {
    ip("10.0.1.20")
}

/// SETUP: frames arrive from the host ENI with address `addr` (the
/// client), whose VPC also holds the server's ENI.
pub fn client_and_server(st: &mut Stage, addr: Ipv4Addr) {
    st.set_port(port_info(VPC, CLIENT_ENI, CLIENT_SG, addr, CLIENT_MAC, 0));
    server_eni(st, ENI_KIND_HOST, 0);
}

/// SETUP: the client's own ENI (10.0.1.10, a host's) in VPC `vpc`, its
/// veth at `ifindex`: where frames to the client are delivered.
pub fn client_eni(st: &mut Stage, vpc: u32, ifindex: u32) {
    let info = eni_info(CLIENT_ENI, ifindex, CLIENT_SG, ENI_KIND_HOST, CLIENT_MAC, 0);
    st.set_eni(vpc, client(), info);
}

/// SETUP: frames arrive from the server's ENI (for its replies), in
/// subnet `subnet`.
pub fn from_server_port(st: &mut Stage, subnet: u16) {
    let info = port_info(VPC, SERVER_ENI, SERVER_SG, server(), SERVER_MAC, subnet);
    st.set_port(info);
}

/// SETUP: the server's ENI (10.0.1.20), of `kind`, in subnet `subnet`.
pub fn server_eni(st: &mut Stage, kind: u32, subnet: u16) {
    let info = eni_info(
        SERVER_ENI,
        SERVER_IFINDEX,
        SERVER_SG,
        kind,
        SERVER_MAC,
        subnet,
    );
    st.set_eni(VPC, server(), info);
}

/// SETUP: every group lets all TCP out.
pub fn all_tcp_out(st: &mut Stage) {
    let any = (ip("0.0.0.0"), 0);
    st.set_sg(CLIENT_SG, SG_DIR_EGRESS, PROTO_TCP, any, &[(0, 65535)]);
}

/// SETUP: [`client_and_server`] (the client at 10.0.1.10), every group
/// letting all TCP out, the server's admitting TCP 80 from anywhere.
pub fn web_scene(st: &mut Stage) {
    client_and_server(st, client());
    all_tcp_out(st);
    let any = (ip("0.0.0.0"), 0);
    st.set_sg(SERVER_SG, SG_DIR_INGRESS, PROTO_TCP, any, &[(80, 80)]);
}

/// PKTGEN: a TCP segment client:`sport` -> server:`dport` with `flags`.
pub fn to_server(sport: u16, dport: u16, flags: &str) -> Vec<u8> {
    pkt::tcp(
        CLIENT_MAC,
        GATEWAY_MAC,
        client(),
        server(),
        sport,
        dport,
        flags,
    )
}

/// Drop reasons counted between `before` and `after`.
pub fn new_drops(
    before: &[(DropReason, u64)],
    after: &[(DropReason, u64)],
) -> Vec<(DropReason, u64)> {
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
pub fn assert_forwarded_to_server(st: &Stage, hook: Hook, frame: &[u8], what: &str) {
    assert_forwarded_to(st, hook, frame, SERVER_MAC, what);
}

/// Runs `frame` and asserts it was forwarded to the ENI with MAC `mac`
/// unchanged but for the MACs.
pub fn assert_forwarded_to(st: &Stage, hook: Hook, frame: &[u8], mac: [u8; 6], what: &str) {
    let o = st.run(hook, frame);
    assert_eq!(o.verdict, Verdict::Forward, "{hook:?} {what}: forwarded");
    assert_eq!(
        o.out,
        pkt::with_macs(frame, mac, GATEWAY_MAC),
        "{hook:?} {what}: only the MACs change"
    );
}

/// Runs the ICMP error `frame` and asserts it was forwarded as exactly
/// `want` and counted (`icmp_error_forwarded`).
pub fn assert_error_forwarded(st: &Stage, hook: Hook, frame: &[u8], want: &[u8], what: &str) {
    let before = st.counter(Counter::IcmpErrorForwarded);
    let o = st.run(hook, frame);
    assert_eq!(
        o.verdict,
        Verdict::Forward,
        "{hook:?} {what}: forwarded (drops {:?})",
        st.drops()
    );
    assert_eq!(o.out, want, "{hook:?} {what}: the frame, byte for byte");
    assert_eq!(
        st.counter(Counter::IcmpErrorForwarded),
        before + 1,
        "{hook:?} {what}: counted"
    );
}

/// Runs `frame` and asserts it was dropped untouched for exactly `reason`.
pub fn assert_dropped(st: &Stage, hook: Hook, frame: &[u8], reason: DropReason, what: &str) {
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
