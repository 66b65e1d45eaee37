//! PrivateLink end to end: real clients in the consumer VPC reach real
//! servers behind an NLB through an interface endpoint, on the shipped
//! example `configs/privatelink.toml` (consumer and provider VPCs share a CIDR).
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use dataplane_common::DropReason;
use hyperlab_tests::{
    assert_ping, curl, default_config, ip, run_in_host, shipped_config, Fixture, HostProcess,
};

fn topology() -> String {
    shipped_config("privatelink.toml", "plink")
}

/// `server=web1 peer=10.0.1.50:40123` -> ("web1", "10.0.1.50", 40123)
fn parse_body(body: &str) -> (String, String, u16) {
    let mut server = String::new();
    let mut peer = String::new();
    for f in body.split_whitespace() {
        if let Some(s) = f.strip_prefix("server=") {
            server = s.to_string();
        }
        if let Some(p) = f.strip_prefix("peer=") {
            peer = p.to_string();
        }
    }
    let (addr, port) = peer
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("no peer in {body:?}"));
    (server, addr.to_string(), port.parse().unwrap())
}

fn servers(fx: &Fixture) -> (HostProcess, HostProcess) {
    let s = (
        fx.http_server("web1", "10.0.1.21", 8080),
        fx.http_server("web2", "10.0.2.22", 8080),
    );
    fx.settle_health();
    s
}

#[test]
#[ignore = "needs root"]
fn curl_through_the_endpoint_reaches_both_targets_which_see_the_nlb_address() {
    let fx = Fixture::new(&topology(), "epa");
    let (web1, web2) = servers(&fx);
    let plan = &fx.agent.plan;
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    for (endpoint_ip, node_ip) in [("10.0.1.100", "10.0.1.50"), ("10.0.2.100", "10.0.2.50")] {
        for _ in 0..12 {
            let (code, body) = curl(plan, "consumer", ip(endpoint_ip), 80);
            assert_eq!(code, 0, "curl via {endpoint_ip}: {body}");
            let (server, peer, _) = parse_body(&body);
            // The target sees the NLB node in the endpoint ENI's AZ, never the consumer.
            assert_eq!(peer, node_ip, "{body}");
            *hits.entry(server).or_default() += 1;
        }
    }
    assert_eq!(hits.values().sum::<usize>(), 24);
    assert_eq!(hits.len(), 2, "flows spread over both targets: {hits:?}");
    // The servers' own logs agree: only NLB node addresses, 24 requests.
    let peers: Vec<String> = web1.peers().into_iter().chain(web2.peers()).collect();
    assert_eq!(peers.len(), 24);
    assert!(
        peers
            .iter()
            .all(|p| p.starts_with("10.0.1.50:") || p.starts_with("10.0.2.50:")),
        "{peers:?}"
    );
    let s = fx.snapshot();
    assert!(
        s.endpoints[0].tx_packets > 0 && s.endpoints[0].rx_packets > 0,
        "vpce-web counted"
    );
    assert!(
        s.targets[0].tx_packets > 0 && s.targets[1].tx_packets > 0,
        "both tg-web targets counted"
    );
}

#[test]
#[ignore = "needs root"]
fn one_connection_sticks_to_one_target() {
    let fx = Fixture::new(&topology(), "epb");
    let _s = servers(&fx);
    // Five requests over one keep-alive connection: one flow, one target, one NLB port.
    let url = "http://10.0.1.100/";
    let (code, out) = run_in_host(
        &fx.agent.plan,
        "consumer",
        &["curl", "-sS", "--max-time", "5", url, url, url, url, url],
    );
    assert_eq!(code, 0, "{out}");
    let answers: Vec<(String, String, u16)> = out.lines().map(parse_body).collect();
    assert_eq!(answers.len(), 5, "{out}");
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "all on one target and port: {answers:?}"
    );
}

#[test]
#[ignore = "needs root"]
fn a_stopped_target_is_health_checked_out_and_new_flows_avoid_it() {
    let fx = Fixture::new(&topology(), "epc");
    let (web1, web2) = servers(&fx);
    drop(web2);
    // tg-web checks every 1 s and needs 2 failures: web2 (tg-web target 1) goes out.
    let deadline = Instant::now() + Duration::from_secs(8);
    while !fx.agent.unhealthy.lock().unwrap().contains(&1) {
        assert!(Instant::now() < deadline, "web2 was never marked unhealthy");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !fx.agent.unhealthy.lock().unwrap().contains(&0),
        "web1 stays healthy"
    );
    for _ in 0..15 {
        let (code, body) = fx.curl("consumer", "10.0.1.100", 80);
        assert_eq!(code, 0, "no new flow may go to the stopped target: {body}");
        assert_eq!(parse_body(&body).0, "web1");
    }
    assert_eq!(web1.peers().len(), 15);
}

/// A UDP echo server answering with the peer address it saw.
const UDP_ECHO: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("LISTENING", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    print("PEER %s:%d" % peer, flush=True)
    s.sendto(("%s peer=%s:%d" % (sys.argv[3], peer[0], peer[1])).encode(), peer)
"#;

const UDP_CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"query", (sys.argv[1], int(sys.argv[2])))
print(s.recvfrom(2048)[0].decode())
"#;

#[test]
#[ignore = "needs root"]
fn udp_and_ping_cross_the_endpoint() {
    let fx = Fixture::new(&topology(), "epd");
    // Ping rides the first listener (tcp/80 -> tg-web), whose targets must
    // pass their health check.
    let _http = servers(&fx);
    let plan = &fx.agent.plan;
    let u1 = HostProcess::spawn(
        plan,
        "web1",
        &["python3", "-c", UDP_ECHO, "10.0.1.21", "5353", "web1"],
    );
    let u2 = HostProcess::spawn(
        plan,
        "web2",
        &["python3", "-c", UDP_ECHO, "10.0.2.22", "5353", "web2"],
    );
    for u in [&u1, &u2] {
        u.wait_for_output("LISTENING", Duration::from_secs(10));
    }
    for _ in 0..4 {
        let (code, out) = run_in_host(
            plan,
            "consumer",
            &["python3", "-c", UDP_CLIENT, "10.0.1.100", "53"],
        );
        assert_eq!(code, 0, "udp through the endpoint: {out}");
        assert!(
            out.contains(" peer=10.0.1.50:"),
            "the target saw the NLB node: {out}"
        );
    }
    assert_ping(plan, "consumer", "10.0.1.100");
}

#[test]
#[ignore = "needs root"]
fn a_pending_endpoint_carries_nothing() {
    let fx = Fixture::new(&topology(), "epe");
    let (web1, web2) = servers(&fx);
    let before = fx.snapshot();
    let (code, _) = fx.curl("consumer", "10.0.1.101", 80);
    assert_eq!(code, 28, "timed out: every SYN dropped");
    let d = fx.snapshot().since(&before);
    assert!(d.drop_count(DropReason::EndpointPending) >= 1);
    assert_eq!(
        d.drop_count(DropReason::EndpointPending),
        d.endpoints[1].drops,
        "counted at vpce-pending"
    );
    assert!(web1.peers().is_empty() && web2.peers().is_empty());
}

/// The shipped default topology (configs/default.toml) under a unique name.
#[test]
#[ignore = "needs root"]
fn the_private_api_path_crosses_two_privatelink_connections() {
    // other (vpc-b) -> vpce-execute-api -> nlb-api -> apigw (nginx, vpc-api)
    // -> vpclink-rest's endpoint -> nlb-web -> web (vpc-a). Three VPCs, one CIDR.
    let fx = Fixture::new(&default_config(), "epf");
    let plan = &fx.agent.plan;
    let web = fx.http_server("web", "10.0.2.20", 80);
    let dir = std::env::temp_dir().join(format!("hyperlab-{}-apigw", plan.name));
    let conf = dataplane::lab::nginx_config(
        &dir,
        "10.0.1.20:80".parse().unwrap(),
        "10.0.1.100:80".parse().unwrap(),
    )
    .unwrap();
    let _nginx = HostProcess::listening(
        plan,
        "apigw",
        &["nginx", "-c", conf.to_str().unwrap()],
        "10.0.1.20:80".parse().unwrap(),
    );
    fx.settle_health();
    for _ in 0..3 {
        let (code, body) = fx.curl("other", "10.0.1.100", 80);
        assert_eq!(code, 0, "private API call: {body}");
        let (server, peer, _) = parse_body(&body);
        assert_eq!(
            (server.as_str(), peer.as_str()),
            ("web", "10.0.1.50"),
            "web sees nlb-web's node"
        );
    }
    assert_eq!(web.peers().len(), 3);
    // The API host saw nlb-api's node, never the client.
    let access = std::fs::read_to_string(dir.join("access.log")).unwrap();
    assert_eq!(access.lines().count(), 3, "{access}");
    assert!(
        access.lines().all(|l| l.starts_with("10.0.1.50 ")),
        "{access}"
    );
    let s = fx.snapshot();
    // Two endpoints carried it: vpce-execute-api and the link's implied endpoint.
    assert!(
        s.endpoints.iter().filter(|e| e.tx_packets > 0).count() == 2,
        "{:?}",
        s.endpoints
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs root"]
fn iperf3_through_the_endpoint_completes() {
    // One target, so iperf3's control and data connections meet one server.
    let topo = topology()
        .replace("targets = [\"eni-web1\", \"eni-web2\"]", "targets = [\"eni-web1\"]")
        .replace("health_check = { protocol = \"tcp\", interval_ms = 1000, timeout_ms = 500, healthy_threshold = 2, unhealthy_threshold = 2 }\n", "");
    let fx = Fixture::new(&topo, "epg");
    let plan = &fx.agent.plan;
    // (A server, not one-off: the readiness probe is a connection too.)
    let _srv = HostProcess::listening(
        plan,
        "web1",
        &["iperf3", "-s", "-B", "10.0.1.21", "-p", "8080"],
        "10.0.1.21:8080".parse().unwrap(),
    );
    let (code, out) = run_in_host(
        plan,
        "consumer",
        &["iperf3", "-c", "10.0.1.100", "-p", "80", "-t", "2", "-J"],
    );
    assert_eq!(code, 0, "iperf3 through the endpoint: {out}");
    assert!(out.contains("\"sum_received\""), "{out}");
    let received: u64 = out
        .split("\"sum_received\"")
        .nth(1)
        .and_then(|s| s.split("\"bytes\":").nth(1))
        .and_then(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .find(|t| !t.is_empty())
        })
        .and_then(|t| t.parse().ok())
        .unwrap();
    assert!(received > 1_000_000, "bytes received: {received}");
    // Nothing of the transfer is dropped. iperf3 may end its data connection
    // with a RST while the peer's last segments are in flight; those late
    // segments of a closed flow are dropped as documented (docs/DATAPLANE.md,
    // `flow_closed`), after the transfer, so they are the one reason allowed.
    let s = fx.snapshot();
    let other: Vec<(&str, u64)> = DropReason::ALL
        .iter()
        .filter(|r| **r != DropReason::FlowClosed)
        .map(|r| (r.name(), s.drops[*r as usize]))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(
        other.is_empty(),
        "drops other than late segments of closed flows: {other:?}"
    );
}
