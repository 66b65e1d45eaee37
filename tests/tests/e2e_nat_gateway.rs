//! The NAT gateway end to end: configs/nat-gateway.toml as a lab of
//! namespaces, the agent, real curl. A private instance reaches an
//! internet host through the NAT gateway, whose server logs the gateway's
//! Elastic IP as the peer; the internet host cannot open a connection
//! through the Elastic IP (VPC user guide, "NAT gateways").
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use dataplane_common::DropReason;
use hyperlab_tests::{curl, drops_but, ip, shipped_config, Fixture, HostProcess};

#[test]
#[ignore = "needs root"]
fn a_private_instance_reaches_the_internet_through_the_nat_gateways_elastic_ip() {
    let fx = Fixture::new(&shipped_config("nat-gateway.toml", "natgw"), "ngw");
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
        let drops = drops_but(&why, &[]);
        assert_eq!(code, 0, "app -> example: {body} (drops {drops:?})");
        from_a_pool_port(&body, "example");
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
    let expected = [DropReason::NoRoute, DropReason::NatGatewayOutsideInitiated];
    let other = drops_but(&d, &expected);
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

/// Removes the log file however the test ends.
struct LogFile(std::path::PathBuf);

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Flow logs of a real curl through the NAT gateway, in AWS's custom
/// format of its example "Traffic through a NAT gateway" (with ports and
/// direction): the gateway's own interface (requester-managed: instance
/// `-`) logs four records, in from the instance (to the gateway's private
/// address; the packet for the internet host), out to the host (from the
/// private address and the gateway's port), the reply in and the reply out
/// to the instance (from the private address; the packet from the host);
/// the instance's ENI logs the packet's own addresses. Every packet the
/// instance sent crossed the gateway's interface in and out.
#[test]
#[ignore = "needs root"]
fn the_nat_gateways_interface_logs_the_flow_as_aws_does() {
    let toml = shipped_config("nat-gateway.toml", "natgw").replacen(
        "[[vpc]]",
        "[flow_logs]\ndestination = \"/tmp/hyperlab-@LAB@-flows.log\"\ninterval = 1\n\
         format = \"${interface-id} ${instance-id} ${srcaddr} ${dstaddr} ${pkt-srcaddr} \
         ${pkt-dstaddr} ${srcport} ${dstport} ${flow-direction} ${action} ${packets}\"\n\n[[vpc]]",
        1,
    );
    let fx = Fixture::new(&toml, "ngwfl");
    let log = match &fx
        .agent
        .topo
        .flow_logs
        .as_ref()
        .expect("flow logs on")
        .destination
    {
        dataplane::model::FlowLogDestination::File(p) => LogFile(p.clone()),
        other => panic!("expected a file destination, got {other:?}"),
    };
    let nat = fx
        .agent
        .topo
        .managed_interfaces()
        .into_iter()
        .find(|m| m.owner == "nat-a")
        .expect("nat-a's interface")
        .id;
    let plan = &fx.agent.plan;
    let site = HostProcess::http_server(plan, "example", ip("203.0.113.10"), 8080);
    let (code, body) = curl(plan, "app", ip("203.0.113.10"), 8080);
    assert_eq!(code, 0, "{body}");
    let nport: u16 = body
        .strip_prefix("server=example peer=203.0.113.50:")
        .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the Elastic IP and a port: {body}"));
    // Let the flow log read the counters once more, then stop the agent:
    // it writes its last interval.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    drop(site);
    drop(fx);
    let text = std::fs::read_to_string(&log.0).expect("the flow log");
    // Records without their packet counts (a flow spans windows), and the
    // packets summed per record.
    let mut sums: std::collections::BTreeMap<String, u64> = Default::default();
    for l in text.lines().skip(1) {
        let (rec, packets) = l.rsplit_once(' ').expect("fields");
        *sums.entry(rec.to_string()).or_default() += packets.parse::<u64>().expect("packets");
    }
    let sport = sums
        .keys()
        .find_map(|r| {
            let f: Vec<&str> = r.split(' ').collect();
            (f[0] == "eni-app" && f[8] == "egress").then(|| f[6].to_string())
        })
        .unwrap_or_else(|| panic!("app's egress record in:\n{text}"));
    let mine: Vec<&String> = sums.keys().filter(|r| r.starts_with(&nat)).collect();
    let want = [
        format!("{nat} - 10.0.1.100 10.0.2.30 203.0.113.10 10.0.2.30 8080 {sport} egress ACCEPT"),
        format!(
            "{nat} - 10.0.1.100 203.0.113.10 10.0.1.100 203.0.113.10 {nport} 8080 egress ACCEPT"
        ),
        format!("{nat} - 10.0.2.30 10.0.1.100 10.0.2.30 203.0.113.10 {sport} 8080 ingress ACCEPT"),
        format!(
            "{nat} - 203.0.113.10 10.0.1.100 203.0.113.10 10.0.1.100 8080 {nport} ingress ACCEPT"
        ),
    ];
    assert_eq!(mine, want.iter().collect::<Vec<_>>(), "{text}");
    let app_out =
        format!("eni-app 10.0.2.30 203.0.113.10 10.0.2.30 203.0.113.10 {sport} 8080 egress ACCEPT");
    let app_out = sums
        .iter()
        .find(|(r, _)| r.starts_with("eni-app") && r.ends_with(&app_out[8..]))
        .map(|(_, n)| *n)
        .unwrap_or_else(|| panic!("{app_out} in:\n{text}"));
    assert_eq!(
        sums[&want[2]], app_out,
        "every packet app sent entered the gateway"
    );
    assert_eq!(sums[&want[1]], app_out, "and left it for example");
    assert_eq!(
        sums[&want[3]], sums[&want[0]],
        "every reply in went out to app"
    );
}

/// A UDP echo server: prints "listening", then for every datagram
/// "got LEN from ADDR:PORT" and sends it back.
const UDP_ECHO: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)
while True:
    d, peer = s.recvfrom(65535)
    print("got %d from %s:%d" % (len(d), peer[0], peer[1]), flush=True)
    s.sendto(d, peer)
"#;

/// One 4,096-byte datagram to ADDR:PORT; prints "ok LEN SAME" when its echo
/// comes back ("timeout" after 3 s).
const UDP_CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
d = bytes(range(256)) * 16
s.sendto(d, (sys.argv[1], int(sys.argv[2])))
try:
    r, _ = s.recvfrom(65535)
    print("ok %d %s" % (len(r), r == d), flush=True)
except socket.timeout:
    print("timeout", flush=True)
"#;

/// Fragmented UDP through the NAT gateway with real stacks ("NAT gateway
/// basics": a NAT gateway forwards fragmented UDP): app sends a 4,096-byte
/// datagram to example:5353, which app's stack cuts into fragments for its
/// 1,500-byte MTU; the fabric translates each (the first by its ports,
/// the later ones by the datagram's id) and example's stack reassembles a
/// datagram from the Elastic IP and a port of the pool; example's echo,
/// fragmented by its stack, comes back whole to app. Nothing is dropped.
#[test]
#[ignore = "needs root"]
fn fragmented_udp_goes_through_the_nat_gateway_with_real_stacks() {
    let fx = Fixture::new(&shipped_config("nat-gateway.toml", "natgw"), "ngwf");
    let plan = &fx.agent.plan;
    let server = HostProcess::spawn(
        plan,
        "example",
        &["python3", "-c", UDP_ECHO, "203.0.113.10", "5353"],
    );
    server.wait_for_output("listening", std::time::Duration::from_secs(10));
    let before = fx.snapshot();
    let (code, out) = hyperlab_tests::run_in_host(
        plan,
        "app",
        &["python3", "-c", UDP_CLIENT, "203.0.113.10", "5353"],
    );
    let why = fx.snapshot().since(&before);
    let drops: Vec<_> = DropReason::ALL
        .iter()
        .filter(|&&r| why.drop_count(r) > 0)
        .map(|&r| (r.name(), why.drop_count(r)))
        .collect();
    assert_eq!(
        (code, out.trim()),
        (0, "ok 4096 True"),
        "app's datagram and its echo (drops {drops:?})"
    );
    assert!(drops.is_empty(), "nothing dropped: {drops:?}");
    let got = server.output();
    let line = got
        .lines()
        .find(|l| l.starts_with("got "))
        .unwrap_or_else(|| panic!("example got the datagram: {got}"));
    let port: u16 = line
        .strip_prefix("got 4096 from 203.0.113.50:")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("whole, from the Elastic IP and a port: {line}"));
    assert!(
        (1024..=56_023).contains(&port),
        "a port of the pool: {line}"
    );
    // Both ways in fragments: at least 3 of 1,500 bytes each way.
    let n = why.nat_gateways[0];
    assert!(
        n.packets_out_to_destination >= 3 && n.packets_out_to_source >= 3,
        "{n:?}"
    );
    assert_eq!(
        (n.packets_out_to_destination, n.packets_dropped),
        (n.packets_in_from_source, 0),
        "{n:?}"
    );
}

/// Hairpinning with real curl (docs/DATAPLANE.md, "NAT gateway", Hairpin):
/// app, behind nat-a, fetches from web's public IP 203.0.113.20; the
/// gateway sends it from its Elastic IP through the internet gateway back
/// in to web, whose server logs the Elastic IP and a pool port as the
/// peer (web's groups admit port 80 from anywhere). app's connection to
/// the gateway's own Elastic IP fails: `nat_gateway_hairpin`.
#[test]
#[ignore = "needs root"]
fn a_private_instance_reaches_a_public_ip_of_its_vpc_through_the_nat_gateway() {
    let fx = Fixture::new(&shipped_config("nat-gateway.toml", "natgw"), "ngwh");
    let plan = &fx.agent.plan;
    let _web = HostProcess::http_server(plan, "web", ip("10.0.1.20"), 80);
    let before = fx.snapshot();
    let (code, body) = curl(plan, "app", ip("203.0.113.20"), 80);
    let why = fx.snapshot().since(&before);
    assert_eq!(
        code,
        0,
        "app -> web's public IP: {body} ({:?})",
        drops_but(&why, &[])
    );
    from_a_pool_port(&body, "web");
    assert!(drops_but(&why, &[]).is_empty(), "{:?}", why.drops);
    let before = fx.snapshot();
    let (code, _) = curl(plan, "app", ip("203.0.113.50"), 80);
    assert_ne!(code, 0, "the Elastic IP does not hairpin");
    let d = fx.snapshot().since(&before);
    let hairpin = d.drop_count(DropReason::NatGatewayHairpin);
    assert!(hairpin >= 1, "{:?}", d.drops);
    assert!(
        drops_but(&d, &[DropReason::NatGatewayHairpin]).is_empty(),
        "{:?}",
        d.drops
    );
    let n = d.nat_gateways[0];
    assert_eq!(
        (
            n.packets_in_from_source,
            n.packets_dropped,
            n.packets_out_to_destination
        ),
        (hairpin, hairpin, 0),
        "{n:?}"
    );
}

/// A TCP client: connects to ADDR:PORT, sends "hello", prints the echo
/// and "idle", then waits (polling, 60 s at most) for the file GO to exist
/// and sends again; prints "reset errno=N" if the connection was reset,
/// else what came back.
const IDLE_CLIENT: &str = r#"
import os, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"hello")
print("echo %s" % s.recv(100).decode(), flush=True)
print("idle", flush=True)
deadline = time.time() + 60
while not os.path.exists(sys.argv[3]):
    if time.time() > deadline:
        print("no go", flush=True)
        sys.exit(1)
    time.sleep(0.05)
try:
    s.sendall(b"late")
    print("got %r" % s.recv(100), flush=True)
except ConnectionResetError as e:
    print("reset errno=%d" % e.errno, flush=True)
"#;

/// A TCP echo server on ADDR:PORT: prints "listening", echoes every
/// connection's data until it closes.
const TCP_ECHO: &str = r#"
import socket, sys, threading
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(8)
print("listening", flush=True)
def serve(c):
    while True:
        d = c.recv(100)
        if not d:
            return
        c.sendall(d)
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// The RST after the idle timeout with a real client ("Troubleshoot NAT
/// gateways": after 350 s idle the connection times out and the gateway
/// answers a resource that continues it with a RST). The lab knob
/// `nat_gateway_idle_timeout = 2` (with `ignore_aws_ranges`) shrinks
/// AWS's fixed 350 s. app's socket to example's echo server works, idles
/// until the sweeper has removed the gateway's flow (IdleTimeoutCount 1,
/// polled against a deadline), then sends: the gateway's RST makes the
/// client's socket fail with ECONNRESET (104); the gateway counted one
/// RST sent and the late segment as dropped.
#[test]
#[ignore = "needs root"]
fn an_idle_connection_through_the_nat_gateway_is_reset_after_the_idle_timeout() {
    use std::time::{Duration, Instant};
    let toml = shipped_config("nat-gateway.toml", "natgw").replacen(
        "[[vpc]]",
        "[conntrack]\nignore_aws_ranges = true\nnat_gateway_idle_timeout = 2\n\
         sweep_interval = 1\n\n[[vpc]]",
        1,
    );
    let fx = Fixture::new(&toml, "ngwi");
    assert_eq!(
        fx.agent.conntrack().timeouts.nat_gateway,
        Duration::from_secs(2)
    );
    let plan = &fx.agent.plan;
    let server = HostProcess::spawn(
        plan,
        "example",
        &["python3", "-c", TCP_ECHO, "203.0.113.10", "7000"],
    );
    server.wait_for_output("listening", Duration::from_secs(10));
    let go = std::env::temp_dir().join(format!("hyperlab-ngwi-go-{}", std::process::id()));
    let _ = std::fs::remove_file(&go);
    let _go = LogFile(go.clone());
    let before = fx.snapshot();
    let go_arg = go.to_string_lossy().to_string();
    let client = HostProcess::spawn(
        plan,
        "app",
        &[
            "python3",
            "-c",
            IDLE_CLIENT,
            "203.0.113.10",
            "7000",
            &go_arg,
        ],
    );
    client.wait_for_output("idle", Duration::from_secs(10));
    assert!(
        client.output().contains("echo hello"),
        "{}",
        client.output()
    );
    // The sweeper removes the idle connection: poll against a deadline.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = fx.snapshot().since(&before).nat_gateways[0];
        if n.idle_timeouts == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not timed out after 30 s: {n:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(&go, b"go").unwrap();
    client.wait_for_output("reset", Duration::from_secs(10));
    let out = client.output();
    assert!(out.contains("reset errno=104"), "ECONNRESET: {out}");
    let d = fx.snapshot().since(&before);
    assert_eq!(
        d.count(dataplane_common::Counter::NatGatewayRstSent),
        1,
        "{d:?}"
    );
    let n = d.nat_gateways[0];
    assert_eq!(
        (
            n.idle_timeouts,
            n.connection_attempts,
            n.connections_established,
            n.packets_dropped
        ),
        (1, 1, 1, 1),
        "{n:?}"
    );
    assert!(
        drops_but(&d, &[]).is_empty(),
        "the late segment is answered, not dropped: {:?}",
        d.drops
    );
}

/// Asserts that `server`'s answer `body` names the gateway's Elastic IP
/// 203.0.113.50 and a port of its pool (1024-56023) as the peer it saw.
fn from_a_pool_port(body: &str, server: &str) {
    let peer = body
        .strip_prefix(&format!("server={server} peer=203.0.113.50:"))
        .unwrap_or_else(|| panic!("{server} sees the Elastic IP: {body}"));
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
