//! `metrics`: counters and the flow table's fill level -> OpenMetrics text
//! (Prometheus reads it), served on a loopback address. Only reads maps
//! (through [`Snapshot`]s and [`FlowTable`]).
//!
//! Names follow Prometheus's conventions: the `hyperlab_` prefix, snake_case
//! names and labels, base units in the name (`_bytes`, with an OpenMetrics
//! `# UNIT` line), counted things in the plural (`_packets`, `_flows`), and
//! `_total` on every counter (appended by prometheus-client's encoder).

use std::net::SocketAddr;

use anyhow::{Context, Result};
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::{Registry, Unit},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::stats::{FlowTable, Layout, Snapshot};
use dataplane_common::{EniCounters, COUNTER_NAMES, DROP_REASON_NAMES, NAT_GATEWAY_METRICS};

type Labels = Vec<(String, String)>;

/// The body's media type: prometheus-client writes OpenMetrics 1.0 (a
/// counter's `# TYPE` names the family without `_total`, `# EOF` ends it),
/// which Prometheus parses only when told so.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Per-object traffic: packets and bytes by direction, and refused flows
/// (an ENI's refused packets), registered as `<what>_packets`,
/// `<what>_bytes` and `<what>_<refused>`.
fn traffic(
    reg: &mut Registry,
    what: &str,
    label: &str,
    names: &[String],
    rows: &[EniCounters],
    (tx, rx): (&str, &str),
    help: (&str, &str),
) {
    let packets = Family::<Labels, Counter>::default();
    let bytes = Family::<Labels, Counter>::default();
    let refused = Family::<Labels, Counter>::default();
    for (id, c) in names.iter().zip(rows) {
        for (dir, p, b) in [
            (tx, c.tx_packets, c.tx_bytes),
            (rx, c.rx_packets, c.rx_bytes),
        ] {
            let l = vec![(label.into(), id.clone()), ("direction".into(), dir.into())];
            packets.get_or_create(&l).inc_by(p);
            bytes.get_or_create(&l).inc_by(b);
        }
        refused
            .get_or_create(&vec![(label.into(), id.clone())])
            .inc_by(c.drops);
    }
    let (dirs, refused_help) = help;
    let title = if what == "eni" { "ENI" } else { what };
    reg.register(
        format!("{what}_packets"),
        format!("Packets per {title}; {dirs}"),
        packets,
    );
    reg.register_with_unit(
        what,
        format!("Bytes per {title} (whole frames, Ethernet header included); {dirs}"),
        Unit::Bytes,
        bytes,
    );
    let refused_name = if what == "eni" {
        "eni_dropped_packets"
    } else {
        &format!("{what}_refused_flows")
    };
    reg.register(refused_name, refused_help, refused);
}

/// One counter per name, labelled `label`: `values[i]` counts `names[i]`.
fn by_name(label: &str, names: &[&str], values: &[u64]) -> Family<Labels, Counter> {
    let family = Family::<Labels, Counter>::default();
    // A code no reason uses (a gap in the codes) has no name: no series.
    for (name, v) in names.iter().zip(values).filter(|(n, _)| !n.is_empty()) {
        family
            .get_or_create(&vec![(label.into(), name.to_string())])
            .inc_by(*v);
    }
    family
}

fn gauge(v: i64) -> Gauge<i64> {
    let g = Gauge::<i64>::default();
    g.set(v);
    g
}

/// A CloudWatch metric name in Prometheus's snake_case:
/// `PacketsInFromSource` -> `packets_in_from_source`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Each NAT gateway's CloudWatch metrics, as `hyperlab_nat_gateway_<name>`
/// series labelled `nat_gateway="nat-..."`: `active_connection_count` a
/// gauge (from the flow table), the others counters.
fn nat_gateways(reg: &mut Registry, s: &Snapshot, active: &[u64], layout: &Layout) {
    if layout.nat_gateways.is_empty() {
        return;
    }
    let label = |id: &String| vec![("nat_gateway".to_string(), id.clone())];
    let gauges = Family::<Labels, Gauge<i64>>::default();
    for (id, n) in layout.nat_gateways.iter().zip(active) {
        gauges.get_or_create(&label(id)).set(*n as i64);
    }
    reg.register(
        "nat_gateway_active_connection_count",
        "NAT gateway ActiveConnectionCount: TCP connections through the gateway in the flow \
         table, neither closing nor closed",
        gauges,
    );
    for (m, metric) in NAT_GATEWAY_METRICS.iter().enumerate() {
        let family = Family::<Labels, Counter>::default();
        for (id, c) in layout.nat_gateways.iter().zip(&s.nat_gateways) {
            family.get_or_create(&label(id)).inc_by(c.values()[m]);
        }
        reg.register(
            format!("nat_gateway_{}", snake(metric)),
            format!(
                "NAT gateway {metric} (the gateway's CloudWatch metric; bytes are whole frames)"
            ),
            family,
        );
    }
}

/// Renders one snapshot, the flow table's fill level and each NAT
/// gateway's active connections (by gateway index).
pub fn render(s: &Snapshot, flows: &FlowTable, nat_active: &[u64], layout: &Layout) -> String {
    let mut reg = Registry::with_prefix("hyperlab");
    reg.register(
        "dropped_packets",
        "Packets dropped by the data plane, by reason",
        by_name("reason", &DROP_REASON_NAMES, &s.drops),
    );
    reg.register(
        "pipeline_events",
        "Pipeline events (forwarded, flows created, ARP replies, ...)",
        by_name("event", &COUNTER_NAMES, &s.counters),
    );
    traffic(
        &mut reg,
        "eni",
        "eni",
        &layout.enis,
        &s.enis,
        ("tx", "rx"),
        (
            "tx = sent by the ENI's host, rx = delivered to it",
            "Packets sent by the ENI's host that were dropped",
        ),
    );
    for (what, names, rows, refused) in [
        (
            "endpoint",
            &layout.endpoints,
            &s.endpoints,
            "New flows refused at a VPC endpoint ENI (endpoint not available, no healthy target, no source port, ...)",
        ),
        (
            "listener",
            &layout.listeners,
            &s.listeners,
            "New flows refused at an NLB listener",
        ),
        (
            "target",
            &layout.targets,
            &s.targets,
            "New flows refused at a target",
        ),
    ] {
        traffic(
            &mut reg,
            what,
            what,
            names,
            rows,
            ("forward", "reply"),
            ("forward = toward the target, reply = back", refused),
        );
    }
    let nacl = Family::<Labels, Counter>::default();
    for (r, v) in layout.nacl_rules.iter().zip(&s.nacl_drops) {
        nacl.get_or_create(&vec![
            ("nacl".into(), r.nacl.clone()),
            ("direction".into(), r.direction.into()),
            ("rule".into(), r.rule.clone()),
        ])
        .inc_by(*v);
    }
    reg.register(
        "nacl_dropped_packets",
        "Packets a network-ACL rule dropped (nacl_ingress_deny, nacl_egress_deny), by ACL, \
         direction and rule number (\"*\": the final deny)",
        nacl,
    );
    let route = Family::<Labels, Counter>::default();
    for (r, v) in layout.route_drops.iter().zip(&s.route_drops) {
        route
            .get_or_create(&vec![
                ("route_table".into(), r.table.clone()),
                ("route".into(), r.route.clone()),
            ])
            .inc_by(*v);
    }
    reg.register(
        "route_dropped_packets",
        "Packets a route table dropped, by table and route (\"blackhole CIDR\":          route_blackhole; \"no route\": no_route, no route covered the destination)",
        route,
    );
    reg.register(
        "flow_table_entries",
        "Flow-table entries in use (two per tracked flow: forward and reply)",
        gauge(flows.entries as i64),
    );
    reg.register(
        "flow_table_capacity_entries",
        "Flow-table size: new flows are refused (flow_table_full) when it is full",
        gauge(flows.capacity as i64),
    );
    nat_gateways(&mut reg, s, nat_active, layout);
    let mut out = String::new();
    encode(&mut out, &reg).expect("writing to a String cannot fail");
    in_stable_order(&out)
}

/// The encoder writes a family's series in hash order, different on every
/// scrape; sorts the samples of each family (the lines between two `#`
/// lines), so two scrapes of the same counters are the same text.
fn in_stable_order(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut samples: Vec<&str> = Vec::new();
    let flush = |samples: &mut Vec<&str>, out: &mut String| {
        samples.sort_unstable();
        for l in samples.drain(..) {
            out.push_str(l);
            out.push('\n');
        }
    };
    for line in text.lines() {
        if line.starts_with('#') {
            flush(&mut samples, &mut out);
            out.push_str(line);
            out.push('\n');
        } else {
            samples.push(line);
        }
    }
    flush(&mut samples, &mut out);
    out
}

/// Serves `GET /metrics` on `addr` until the task is dropped; `scrape`
/// produces the body for each request.
pub async fn serve<F>(addr: SocketAddr, scrape: F) -> Result<()>
where
    F: Fn() -> Result<String> + Send + Sync + 'static,
{
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics listener on {addr}"))?;
    let scrape = std::sync::Arc::new(scrape);
    loop {
        let (mut sock, _) = listener.accept().await?;
        let scrape = scrape.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut n = 0;
            while n < buf.len() {
                match sock.read(&mut buf[n..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => n += k,
                }
                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let req = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if req.starts_with("GET /metrics ") {
                match scrape() {
                    Ok(b) => ("200 OK", b),
                    Err(e) => ("500 Internal Server Error", format!("{e:#}\n")),
                }
            } else {
                ("404 Not Found", "try /metrics\n".to_string())
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                if status.starts_with("200") { CONTENT_TYPE } else { "text/plain; charset=utf-8" },
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane_common::{DropReason, COUNTER_COUNT, DROP_REASON_COUNT};

    #[test]
    fn every_scrape_of_the_same_counters_is_the_same_text() {
        let first = sample();
        for _ in 0..20 {
            assert_eq!(sample(), first);
        }
        // Each family's samples are sorted.
        let drops: Vec<&str> = first
            .lines()
            .filter(|l| l.starts_with("hyperlab_dropped_packets_total{"))
            .collect();
        assert_eq!(drops.len(), DropReason::ALL.len());
        assert!(drops.windows(2).all(|w| w[0] < w[1]), "{drops:?}");
    }

    fn sample() -> String {
        let c = |tp, tb, rp, rb, d| EniCounters {
            tx_packets: tp,
            tx_bytes: tb,
            rx_packets: rp,
            rx_bytes: rb,
            drops: d,
        };
        let mut s = Snapshot {
            drops: vec![0; DROP_REASON_COUNT as usize],
            counters: vec![0; COUNTER_COUNT as usize],
            enis: vec![c(3, 180, 2, 120, 1)],
            endpoints: vec![c(5, 300, 4, 240, 2)],
            listeners: vec![c(5, 300, 4, 240, 0)],
            targets: vec![c(5, 300, 4, 240, 0)],
            nacl_drops: vec![2],
            route_drops: vec![5],
            nat_gateways: vec![dataplane_common::NatGatewayCounters::from_values([
                10, 1000, 9, 900, 8, 800, 8, 800, 3, 2, 1, 1, 0,
            ])],
        };
        s.drops[DropReason::EgressSgDeny as usize] = 4;
        render(
            &s,
            &FlowTable {
                entries: 6,
                capacity: 262_144,
            },
            &[2],
            &Layout {
                enis: vec!["eni-a".into()],
                eni_slots: vec![0],
                endpoints: vec!["vpce-1".into()],
                listeners: vec!["nlb-a:tcp/80".into()],
                targets: vec!["tg-a:eni-a:8080".into()],
                nacl_rules: vec![crate::stats::NaclRuleName {
                    nacl: "acl-web".into(),
                    direction: "ingress",
                    rule: "100".into(),
                    key: Default::default(),
                }],
                route_drops: vec![crate::stats::RouteDropName {
                    table: "rtb-1".into(),
                    route: "blackhole 0.0.0.0/0".into(),
                    key: Default::default(),
                }],
                managed: Vec::new(),
                nat_gateways: vec!["nat-a".into()],
            },
        )
    }

    #[test]
    fn exposition_has_these_families_with_conventional_names() {
        let text = sample();
        let families: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("# TYPE ") || l.starts_with("# UNIT "))
            .collect();
        assert_eq!(
            families,
            [
                "# TYPE hyperlab_dropped_packets counter",
                "# TYPE hyperlab_pipeline_events counter",
                "# TYPE hyperlab_eni_packets counter",
                "# TYPE hyperlab_eni_bytes counter",
                "# UNIT hyperlab_eni_bytes bytes",
                "# TYPE hyperlab_eni_dropped_packets counter",
                "# TYPE hyperlab_endpoint_packets counter",
                "# TYPE hyperlab_endpoint_bytes counter",
                "# UNIT hyperlab_endpoint_bytes bytes",
                "# TYPE hyperlab_endpoint_refused_flows counter",
                "# TYPE hyperlab_listener_packets counter",
                "# TYPE hyperlab_listener_bytes counter",
                "# UNIT hyperlab_listener_bytes bytes",
                "# TYPE hyperlab_listener_refused_flows counter",
                "# TYPE hyperlab_target_packets counter",
                "# TYPE hyperlab_target_bytes counter",
                "# UNIT hyperlab_target_bytes bytes",
                "# TYPE hyperlab_target_refused_flows counter",
                "# TYPE hyperlab_nacl_dropped_packets counter",
                "# TYPE hyperlab_route_dropped_packets counter",
                "# TYPE hyperlab_flow_table_entries gauge",
                "# TYPE hyperlab_flow_table_capacity_entries gauge",
                "# TYPE hyperlab_nat_gateway_active_connection_count gauge",
                "# TYPE hyperlab_nat_gateway_packets_in_from_source counter",
                "# TYPE hyperlab_nat_gateway_bytes_in_from_source counter",
                "# TYPE hyperlab_nat_gateway_packets_out_to_destination counter",
                "# TYPE hyperlab_nat_gateway_bytes_out_to_destination counter",
                "# TYPE hyperlab_nat_gateway_packets_in_from_destination counter",
                "# TYPE hyperlab_nat_gateway_bytes_in_from_destination counter",
                "# TYPE hyperlab_nat_gateway_packets_out_to_source counter",
                "# TYPE hyperlab_nat_gateway_bytes_out_to_source counter",
                "# TYPE hyperlab_nat_gateway_connection_attempt_count counter",
                "# TYPE hyperlab_nat_gateway_connection_established_count counter",
                "# TYPE hyperlab_nat_gateway_packets_drop_count counter",
                "# TYPE hyperlab_nat_gateway_error_port_allocation counter",
                "# TYPE hyperlab_nat_gateway_idle_timeout_count counter",
            ]
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn samples_carry_their_values_and_labels_exactly() {
        let text = sample();
        let lines: Vec<&str> = text.lines().collect();
        for want in [
            "hyperlab_dropped_packets_total{reason=\"egress_sg_deny\"} 4",
            "hyperlab_route_dropped_packets_total{route_table=\"rtb-1\",route=\"blackhole 0.0.0.0/0\"} 5",
            "hyperlab_dropped_packets_total{reason=\"ingress_sg_deny\"} 0",
            "hyperlab_pipeline_events_total{event=\"forwarded\"} 0",
            "hyperlab_eni_packets_total{eni=\"eni-a\",direction=\"tx\"} 3",
            "hyperlab_eni_bytes_total{eni=\"eni-a\",direction=\"rx\"} 120",
            "hyperlab_eni_dropped_packets_total{eni=\"eni-a\"} 1",
            "hyperlab_endpoint_packets_total{endpoint=\"vpce-1\",direction=\"forward\"} 5",
            "hyperlab_endpoint_bytes_total{endpoint=\"vpce-1\",direction=\"reply\"} 240",
            "hyperlab_endpoint_refused_flows_total{endpoint=\"vpce-1\"} 2",
            "hyperlab_listener_packets_total{listener=\"nlb-a:tcp/80\",direction=\"reply\"} 4",
            "hyperlab_target_bytes_total{target=\"tg-a:eni-a:8080\",direction=\"forward\"} 300",
            "hyperlab_nacl_dropped_packets_total{nacl=\"acl-web\",direction=\"ingress\",rule=\"100\"} 2",
            "hyperlab_flow_table_entries 6",
            "hyperlab_flow_table_capacity_entries 262144",
            "hyperlab_nat_gateway_active_connection_count{nat_gateway=\"nat-a\"} 2",
            "hyperlab_nat_gateway_packets_in_from_source_total{nat_gateway=\"nat-a\"} 10",
            "hyperlab_nat_gateway_bytes_out_to_destination_total{nat_gateway=\"nat-a\"} 900",
            "hyperlab_nat_gateway_bytes_out_to_source_total{nat_gateway=\"nat-a\"} 800",
            "hyperlab_nat_gateway_connection_attempt_count_total{nat_gateway=\"nat-a\"} 3",
            "hyperlab_nat_gateway_connection_established_count_total{nat_gateway=\"nat-a\"} 2",
            "hyperlab_nat_gateway_packets_drop_count_total{nat_gateway=\"nat-a\"} 1",
            "hyperlab_nat_gateway_error_port_allocation_total{nat_gateway=\"nat-a\"} 1",
            "hyperlab_nat_gateway_idle_timeout_count_total{nat_gateway=\"nat-a\"} 0",
        ] {
            assert!(lines.contains(&want), "missing {want:?} in:\n{text}");
        }
        // Every drop reason and event is there, zero or not.
        let n = |p: &str| lines.iter().filter(|l| l.starts_with(p)).count();
        assert_eq!(n("hyperlab_dropped_packets_total{"), DropReason::ALL.len());
        assert_eq!(n("hyperlab_pipeline_events_total{"), COUNTER_COUNT as usize);
    }
}
