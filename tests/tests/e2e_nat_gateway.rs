//! The NAT gateway end to end: configs/nat-gateway.toml as a lab of
//! namespaces, the agent, real curl. A private instance reaches an
//! internet host through the NAT gateway, whose server logs the gateway's
//! Elastic IP as the peer; the internet host cannot open a connection
//! through the Elastic IP (VPC user guide, "NAT gateways").
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use dataplane_common::DropReason;
use hyperlab_tests::{curl, ip, shipped_config, Fixture, HostProcess};

#[test]
#[ignore = "needs root"]
fn a_private_instance_reaches_the_internet_through_the_nat_gateways_elastic_ip() {
    let fx = Fixture::new(&shipped_config("nat-gateway.toml", "ngw"), "ngw");
    let plan = &fx.agent.plan;
    let example = ip("203.0.113.10");
    let _site = HostProcess::http_server(plan, "example", example, 8080);
    let _app = HostProcess::http_server(plan, "app", ip("10.0.2.30"), 80);

    // Out: app's connections leave with the Elastic IP and a port of the
    // gateway's pool (1024-56023) as the source.
    let first = fx.snapshot();
    for _ in 0..2 {
        let (code, body) = curl(plan, "app", example, 8080);
        let why = fx.snapshot().since(&first);
        let drops: Vec<_> = DropReason::ALL
            .iter()
            .filter(|&&r| why.drop_count(r) > 0)
            .map(|&r| (r.name(), why.drop_count(r)))
            .collect();
        assert_eq!(code, 0, "app -> example: {body} (drops {drops:?})");
        let peer = body
            .strip_prefix("server=example peer=203.0.113.50:")
            .unwrap_or_else(|| panic!("the internet host sees the Elastic IP: {body}"));
        let port: u16 = peer
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("a port after the Elastic IP: {body}"));
        assert!(
            (1024..=56_023).contains(&port),
            "a port of the pool: {body}"
        );
    }

    // The gateway's CloudWatch metrics, as the agent's metrics endpoint
    // serves them: two connection attempts, both established, no port
    // error; every packet that reached the gateway left it; what it sent
    // to the source is exactly what the fabric delivered to app (app gets
    // nothing else); both connections are closed.
    let layout = dataplane::stats::Layout::of(&fx.agent.topo);
    let app = fx.agent.topo.eni_by_id("eni-app").expect("eni-app");
    let flows_map = fx
        .agent
        .dataplane
        .map(dataplane_common::maps::FLOWS)
        .unwrap();
    let active = dataplane::stats::nat_active_connections(flows_map, 1).unwrap();
    let table = dataplane::stats::flow_table(flows_map).unwrap();
    let s = fx.snapshot();
    let n = s.nat_gateways[0];
    let text = dataplane::metrics::render(&s, &table, &active, &layout);
    let series = |name: &str, v: u64| {
        format!("\nhyperlab_nat_gateway_{name}{{nat_gateway=\"nat-a\"}} {v}\n")
    };
    for want in [
        series("connection_attempt_count_total", 2),
        series("connection_established_count_total", 2),
        series("error_port_allocation_total", 0),
        series("packets_drop_count_total", 0),
        series("idle_timeout_count_total", 0),
        series("active_connection_count", 0),
        series("packets_out_to_source_total", s.enis[app].rx_packets),
        series("bytes_out_to_source_total", s.enis[app].rx_bytes),
        series("packets_in_from_source_total", n.packets_out_to_destination),
        series("bytes_in_from_source_total", n.bytes_out_to_destination),
        series("packets_in_from_destination_total", n.packets_out_to_source),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    // A curl is at least SYN, ACK, request, FIN out and SYN-ACK, response,
    // FIN back.
    assert!(
        n.packets_out_to_destination >= 8 && n.packets_out_to_source >= 6,
        "{n:?}"
    );

    // In: nothing the internet initiates passes the Elastic IP, and the
    // private address is not on the internet.
    let before = fx.snapshot();
    let (code, _) = curl(plan, "example", ip("203.0.113.50"), 80);
    assert_ne!(code, 0, "the Elastic IP accepts no connection from outside");
    let (code, _) = curl(plan, "example", ip("10.0.2.30"), 80);
    assert_ne!(code, 0, "a private address is not on the internet");
    let d = fx.snapshot().since(&before);
    assert!(
        d.drop_count(DropReason::NatGatewayOutsideInitiated) >= 1,
        "{:?}",
        d.drops
    );
    assert!(d.drop_count(DropReason::NoRoute) >= 1, "{:?}", d.drops);
    let other: Vec<_> = DropReason::ALL
        .iter()
        .filter(|&&r| {
            r != DropReason::NoRoute
                && r != DropReason::NatGatewayOutsideInitiated
                && d.drop_count(r) > 0
        })
        .map(|r| r.name())
        .collect();
    assert!(other.is_empty(), "only those drops: {other:?}");
    // Each SYN to the Elastic IP reached the gateway and was dropped there.
    let m = fx.snapshot().nat_gateways[0].combine(&n, -1);
    let outside = d.drop_count(DropReason::NatGatewayOutsideInitiated);
    assert_eq!(
        (
            m.packets_in_from_destination,
            m.packets_dropped,
            m.packets_out_to_source
        ),
        (outside, outside, 0),
        "{m:?}"
    );
}
