//! `metrics`: counters -> Prometheus text exposition, served on a loopback
//! address. Only reads maps (through [`Snapshot`]s).

use std::net::SocketAddr;

use anyhow::{Context, Result};
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::stats::{Layout, Snapshot};
use dataplane_common::{COUNTER_NAMES, DROP_REASON_NAMES};

type Labels = Vec<(String, String)>;

/// Renders one snapshot in the Prometheus text format.
pub fn render(s: &Snapshot, layout: &Layout) -> String {
    let mut reg = Registry::with_prefix("hyperlab");
    let drops = Family::<Labels, Counter>::default();
    for (name, v) in DROP_REASON_NAMES.iter().zip(&s.drops) {
        drops
            .get_or_create(&vec![("reason".into(), name.to_string())])
            .inc_by(*v);
    }
    reg.register(
        "drops",
        "Packets dropped by the data plane, by reason",
        drops,
    );
    let events = Family::<Labels, Counter>::default();
    for (name, v) in COUNTER_NAMES.iter().zip(&s.counters) {
        events
            .get_or_create(&vec![("event".into(), name.to_string())])
            .inc_by(*v);
    }
    reg.register(
        "pipeline_events",
        "Pipeline events (forwarded, flows created, ARP replies, ...)",
        events,
    );
    let packets = Family::<Labels, Counter>::default();
    let bytes = Family::<Labels, Counter>::default();
    let eni_drops = Family::<Labels, Counter>::default();
    for (id, c) in layout.enis.iter().zip(&s.enis) {
        for (dir, p, b) in [
            ("tx", c.tx_packets, c.tx_bytes),
            ("rx", c.rx_packets, c.rx_bytes),
        ] {
            let l = vec![("eni".into(), id.clone()), ("direction".into(), dir.into())];
            packets.get_or_create(&l).inc_by(p);
            bytes.get_or_create(&l).inc_by(b);
        }
        eni_drops
            .get_or_create(&vec![("eni".into(), id.clone())])
            .inc_by(c.drops);
    }
    reg.register(
        "eni_packets",
        "Packets per ENI; tx = sent by the ENI's host, rx = delivered to it",
        packets,
    );
    reg.register(
        "eni_bytes",
        "Bytes per ENI; tx = sent by the ENI's host, rx = delivered to it",
        bytes,
    );
    reg.register(
        "eni_drops",
        "Packets sent by the ENI's host that were dropped",
        eni_drops,
    );
    let mut out = String::new();
    encode(&mut out, &reg).expect("writing to a String cannot fail");
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
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane_common::{EniCounters, COUNTER_COUNT, DROP_REASON_COUNT};

    #[test]
    fn renders_counters_with_labels() {
        let mut s = Snapshot {
            drops: vec![0; DROP_REASON_COUNT as usize],
            counters: vec![0; COUNTER_COUNT as usize],
            enis: vec![EniCounters {
                tx_packets: 3,
                tx_bytes: 180,
                rx_packets: 2,
                rx_bytes: 120,
                drops: 1,
            }],
            ..Default::default()
        };
        s.drops[dataplane_common::DropReason::EgressSgDeny as usize] = 4;
        let text = render(
            &s,
            &Layout {
                enis: vec!["eni-a".into()],
                ..Default::default()
            },
        );
        assert!(
            text.contains("hyperlab_drops_total{reason=\"egress_sg_deny\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("hyperlab_eni_packets_total{eni=\"eni-a\",direction=\"tx\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("hyperlab_eni_bytes_total{eni=\"eni-a\",direction=\"rx\"} 120\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE hyperlab_drops counter\n"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
