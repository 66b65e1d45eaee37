//! Stage tests of network ACLs and route tables, one mechanism at a time,
//! as in `stages.rs` (PKTGEN / SETUP / CHECK, see `hyperlab_tests::stage`):
//! every expected outcome is the AWS rule, never the agent's compiler.

use std::net::Ipv4Addr;

use dataplane::model::{AclEntry, IcmpMatch, NetworkAcl, Protocol};
use dataplane_common::{
    nacl_stat_id, Counter, DropReason, NaclStatKey, RouteStatKey, ENI_KIND_HOST, GATEWAY_MAC,
    NACL_RULE_DEFAULT, NO_SUBNET, PROTO_ICMP, PROTO_TCP, PROTO_UDP, ROUTE_NO_MATCH, SG_DIR_EGRESS,
    SG_DIR_INGRESS,
};
use hyperlab_tests::stage::port_info;
use hyperlab_tests::{
    csum, pkt,
    stage::{flow_key, Stage},
    HOOKS,
};

mod stages_common;
use stages_common::*;

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
    AclEntry::new(rule, allow, protocol, ports, cidr.parse().unwrap())
}

fn allow_all(rule: u16) -> AclEntry {
    entry(rule, true, Protocol::All, (0, 65535), "0.0.0.0/0")
}

/// SETUP: the client's ENI (address `addr`) in subnet `cs`, the server's
/// in subnet `ss`; both groups admit everything, so only ACLs decide.
fn acl_scene(st: &mut Stage, addr: Ipv4Addr, cs: u16, ss: u16) {
    st.set_port(port_info(VPC, CLIENT_ENI, CLIENT_SG, addr, CLIENT_MAC, cs));
    server_eni(st, ENI_KIND_HOST, ss);
    for proto in [PROTO_TCP, PROTO_UDP, PROTO_ICMP] {
        let any = (ip("0.0.0.0"), 0);
        st.set_sg(CLIENT_SG, SG_DIR_EGRESS, proto, any, &[(0, 65535)]);
        st.set_sg(SERVER_SG, SG_DIR_INGRESS, proto, any, &[(0, 65535)]);
    }
}

/// A stage with [`acl_scene`]'s client (10.0.1.10) and server in their
/// own subnets.
fn acl_stage() -> Stage {
    let mut st = Stage::load();
    acl_scene(&mut st, client(), CLIENT_SUBNET, SERVER_SUBNET);
    st
}

/// [`acl_stage`] with both subnets' ACL [`open_acl`] (returned).
fn open_stage() -> (Stage, NetworkAcl) {
    let mut st = acl_stage();
    let open = open_acl();
    st.set_nacls(&[&open, &open]);
    (st, open)
}

/// An ACL allowing everything both ways (rule 100).
fn open_acl() -> NetworkAcl {
    acl("acl-open", vec![allow_all(100)], vec![allow_all(100)])
}

/// `v` in the order `Stage::nacl_drops` lists its counts.
fn nacl_order(mut v: Vec<(NaclStatKey, u64)>) -> Vec<(NaclStatKey, u64)> {
    v.sort_by_key(|(k, _)| (k.nacl, k.rule, k.dir));
    v
}

/// `v` in the order `Stage::route_drops` lists its counts.
fn route_order(mut v: Vec<(RouteStatKey, u64)>) -> Vec<(RouteStatKey, u64)> {
    v.sort_by_key(|(k, _)| (k.table, k.route));
    v
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
        let mut st = acl_stage();
        let open = open_acl();
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
            nacl_order(vec![
                (acl_stat("acl-web", 100, SG_DIR_INGRESS), 1),
                (acl_stat("acl-web", 120, SG_DIR_INGRESS), 2),
            ]),
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
        let mut st = acl_stage();
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
        let open = open_acl();
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
        let mut st = acl_stage();
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
        let open = open_acl();
        st.set_nacls(&[&open, &server_acl]);
        let deny = DropReason::NaclIngressDeny;
        assert_dropped(&st, hook, &syn(client(), 40000, 1023), deny, "tcp 1023: *");
        assert_forwarded_to_server(&st, hook, &syn(client(), 40001, 1024), "tcp 1024");
        assert_forwarded_to_server(&st, hook, &syn(client(), 40002, 65535), "tcp 65535");
        assert_forwarded_to_server(&st, hook, &echo_code(7, 0), "echo code 0: rule 110");
        assert_dropped(&st, hook, &echo_code(8, 1), deny, "echo code 1: rule 120");
        let reply = pkt::echo(CLIENT_MAC, GATEWAY_MAC, client(), server(), 9, false);
        assert_dropped(&st, hook, &reply, deny, "echo reply: *");
        let want = nacl_order(vec![
            (acl_stat("acl-server", 120, SG_DIR_INGRESS), 1),
            (acl_stat("acl-server", NACL_RULE_DEFAULT, SG_DIR_INGRESS), 2),
        ]);
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
        let (mut st, open) = open_stage();
        assert_forwarded_to_server(&st, hook, &syn(client(), 40000, 80), "first packet");
        let fwd = flow_key(VPC, client(), server(), 40000, 80, PROTO_TCP);
        let (_, e) = *st
            .flow_entries()
            .iter()
            .find(|(k, _)| *k == fwd)
            .expect("forward entry");
        assert_eq!(
            (e.cross1_from, e.cross1_to, e.cross2_from, e.cross2_to),
            (CLIENT_SUBNET, SERVER_SUBNET, NO_SUBNET, NO_SUBNET),
            "{hook:?}: the entry records the boundary"
        );
        let ack = to_server(40000, 80, "A");
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

/// A stage with [`route_scene`] (client `addr` in subnet `s`).
fn route_stage(s: u16, addr: Ipv4Addr) -> Stage {
    let mut st = Stage::load();
    route_scene(&mut st, s, addr);
    st
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
        let c1 = ip("10.0.2.10");
        let mut st = route_stage(1, c1);
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
            route_order(vec![
                (route_stat("rtb-wide", 0), 1),
                (route_stat("rtb-hole", 0), 1),
                (route_stat("rtb-hole", 1), 1),
            ]),
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
        let c3 = ip("10.0.4.10");
        let mut st = route_stage(3, c3);
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
            route_order(vec![
                (route_stat("rtb-main", 0), 1),
                (route_stat("rtb-main", ROUTE_NO_MATCH), 1),
                (route_stat("rtb-wide", ROUTE_NO_MATCH), 1),
            ]),
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
        let c3 = ip("10.0.4.10");
        let mut st = route_stage(3, c3);
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
        let (mut st, open) = open_stage();
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
        let ack = to_server(40000, 80, "A");
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
