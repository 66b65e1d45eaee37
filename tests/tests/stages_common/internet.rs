//! The lab's internet in the stage tests (`stages_gateways.rs`,
//! `stages_nat_gateway.rs`, `stages_icmp_error_internet.rs`): vpc-a with
//! igw-a and, with [`nat_toml`], nat-a; the internet host `example`
//! (203.0.113.10); `web`, the client ENI of `mod.rs` in one of vpc-a's
//! subnets.

use std::net::Ipv4Addr;

use dataplane::model::{Hook, NetworkAcl};
use dataplane_common::{
    flow_hash, DropReason, ENI_KIND_HOST, ENI_KIND_INTERNET, GATEWAY_MAC, HASH_SEED_NAT_PORT,
    INTERNET_VPC, NO_SG_SET, NO_SUBNET, PROTO_ICMP, PROTO_TCP, PROTO_UDP, SG_DIR_EGRESS,
};
use hyperlab_tests::stage::{eni_info, port_info, Stage};
use hyperlab_tests::{csum, pkt, Verdict};

use super::{ip, CLIENT_ENI, CLIENT_MAC, CLIENT_SG, VPC};

/// vpc-a 10.0.0.0/16 with igw-a: s0 (10.0.1.0/24) routes 0.0.0.0/0 to
/// the gateway (a public subnet); s1 (10.0.2.0/24) uses the main table,
/// local only (a private subnet).
pub const IGW_TOML: &str = include_str!("../../fixtures/stage-internet.toml");

/// nat-a in s0 (private 10.0.1.100, Elastic IP 203.0.113.50), s1's main
/// table routing 0.0.0.0/0 to it; `@PORTS@` is its `ports` line.
const NAT_TOML: &str = include_str!("../../fixtures/stage-nat-gateway.toml");

/// [`IGW_TOML`] with nat-a; `ports`: the gateway's `ports` line (the
/// lab's knob), if any.
pub fn nat_toml(ports: &str) -> String {
    format!("{IGW_TOML}{}", NAT_TOML.replace("@PORTS@", ports))
}

pub const HOST_ENI: u32 = 65_000;
pub const HOST_IFINDEX: u32 = 4343;
pub const HOST_MAC: [u8; 6] = [0x06, 0, 203, 0, 113, 10];
pub const WEB_IFINDEX: u32 = 4242;
/// AWS's NAT gateway port pool (the config's default).
pub const AWS_POOL: (u16, u16) = (1024, 56_023);

pub fn host() -> Ipv4Addr {
    ip("203.0.113.10")
}

/// `web` in the private subnet s1 (behind the NAT gateway).
pub fn web_private() -> Ipv4Addr {
    ip("10.0.2.30")
}

/// nat-a's Elastic IP.
pub fn eip() -> Ipv4Addr {
    ip("203.0.113.50")
}

/// SETUP: the route tables of `toml`, open ACLs, the internet host, and
/// `web` (address `addr` in subnet `subnet`) whose groups let everything
/// out.
pub fn internet_scene(st: &mut Stage, toml: &str, addr: Ipv4Addr, subnet: u16) {
    let topo = dataplane::config::parse_str(toml, "internet.toml").unwrap();
    st.set_route_tables(&topo);
    let open = NetworkAcl::default_for(0, "vpc-a");
    st.set_nacls(&[&open, &open]);
    let host_eni = eni_info(
        HOST_ENI,
        HOST_IFINDEX,
        NO_SG_SET,
        ENI_KIND_INTERNET,
        HOST_MAC,
        NO_SUBNET,
    );
    st.set_eni(INTERNET_VPC, host(), host_eni);
    let web = eni_info(
        CLIENT_ENI,
        WEB_IFINDEX,
        CLIENT_SG,
        ENI_KIND_HOST,
        CLIENT_MAC,
        subnet,
    );
    st.set_eni(VPC, addr, web);
    let any = (ip("0.0.0.0"), 0);
    for proto in [PROTO_TCP, PROTO_UDP, PROTO_ICMP] {
        st.set_sg(CLIENT_SG, SG_DIR_EGRESS, proto, any, &[(0, 65535)]);
    }
}

/// Frames arrive from `web`'s ENI (address `addr`, subnet `subnet`).
pub fn from_web(st: &mut Stage, addr: Ipv4Addr, subnet: u16) {
    st.set_port(port_info(
        VPC, CLIENT_ENI, CLIENT_SG, addr, CLIENT_MAC, subnet,
    ));
}

/// Frames arrive from the internet host.
pub fn from_internet(st: &mut Stage) {
    st.set_port(port_info(
        INTERNET_VPC,
        HOST_ENI,
        NO_SG_SET,
        host(),
        HOST_MAC,
        NO_SUBNET,
    ));
}

/// The spec's first NAT gateway port for a flow from web (private) to the
/// host (`lo + flow_hash(tuple, HASH_SEED_NAT_PORT) % range`; `id` plays
/// both ports for ICMP echo) in the pool `lo ..= hi`.
pub fn first_port(sport: u16, dport: u16, proto: u8, (lo, hi): (u16, u16)) -> u16 {
    let h = flow_hash(
        web_private().octets(),
        host().octets(),
        sport.to_be_bytes(),
        dport.to_be_bytes(),
        proto,
        HASH_SEED_NAT_PORT,
    );
    lo + (h % (hi - lo + 1) as u32) as u16
}

/// Asserts a SYN from `web` (address `src`, port 40001) to 198.51.100.99,
/// an address no internet host has, is dropped as `internet_no_host`.
pub fn assert_no_such_host(st: &Stage, hook: Hook, src: Ipv4Addr) {
    let nowhere = pkt::tcp(
        CLIENT_MAC,
        GATEWAY_MAC,
        src,
        ip("198.51.100.99"),
        40001,
        80,
        "S",
    );
    super::assert_dropped(
        st,
        hook,
        &nowhere,
        DropReason::InternetNoHost,
        "no such host",
    );
}

/// Runs `frame` and asserts it was forwarded as exactly `expected`.
pub fn assert_out(st: &Stage, hook: Hook, frame: &[u8], expected: &[u8], what: &str) {
    let o = st.run(hook, frame);
    assert_eq!(o.verdict, Verdict::Forward, "{hook:?} {what}: forwarded");
    assert_eq!(o.out, expected, "{hook:?} {what}: bytes");
    csum::assert_valid(&o.out);
}
