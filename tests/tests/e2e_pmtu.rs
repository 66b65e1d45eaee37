//! Path MTU discovery end to end: hosts with different MTUs (`mtu` per
//! subnet and per ENI), a router host that sends "fragmentation needed"
//! (ICMP type 3 code 4) across the fabric, and a real TCP transfer that
//! completes at full size with DF set (docs/DATAPLANE.md, "ICMP errors").
//!
//! The client (MTU 9000, its subnet's) uploads 20 MiB with curl to port 5201 of
//! the router host (MTU 9000, its ENI's own), which forwards it (nft DNAT)
//! to a server in a namespace behind it. That link is 1500 bytes on the
//! router's side and 9000 on the server's, so the server announces a
//! jumbo MSS and the router, forwarding the client's 9000-byte segments
//! with DF set, answers each with "fragmentation needed, MTU 1500" (the
//! quote translated back by its own NAT: client -> router:5201). The
//! fabric must hand that error to the client, whose stack then lowers its
//! path MTU and finishes; dropped, the transfer would stall for good.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dataplane_common::{Counter, DropReason};
use hyperlab_tests::{run_in_host, Fixture};

const TOPO: &str = include_str!("../fixtures/e2e-pmtu.toml");
/// The same router as a PrivateLink target: the client reaches it through
/// an interface endpoint (10.0.1.100) in its own VPC.
const TOPO_PL: &str = include_str!("../fixtures/e2e-pmtu-privatelink.toml");
const BYTES: u64 = 20 * 1024 * 1024;

/// A one-shot HTTP sink on 0.0.0.0:5201: reads one request's body
/// (`Content-Length` bytes) and answers with its length and the sum of its
/// bytes mod 2^32.
const SINK: &str = r#"
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5201))
s.listen(1)
c, _ = s.accept()
buf = b""
while b"\r\n\r\n" not in buf:
    buf += c.recv(65536)
head, body = buf.split(b"\r\n\r\n", 1)
want = 0
for line in head.split(b"\r\n"):
    if line.lower().startswith(b"content-length:"):
        want = int(line.split(b":")[1])
    if line.lower().startswith(b"expect:"):
        c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
n, total = len(body), sum(body)
while n < want:
    b = c.recv(1 << 20)
    if not b:
        break
    n += len(b)
    total += sum(b)
reply = ("%d %d\n" % (n, total % (1 << 32))).encode()
c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(reply) + reply)
c.close()
"#;

/// What the sink answers for `data`.
fn checksum(data: &[u8]) -> u64 {
    data.iter().map(|&b| b as u64).sum::<u64>() % (1 << 32)
}

/// The namespace behind the router, removed (with its veth) on drop.
struct Behind {
    ns: String,
    server: Option<Child>,
}

impl Drop for Behind {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn sh(argv: &[&str]) {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The MTU of `eth0` in lab host `host`.
fn mtu(fx: &Fixture, host: &str) -> String {
    let (code, out) = run_in_host(&fx.agent.plan, host, &["cat", "/sys/class/net/eth0/mtu"]);
    assert_eq!(code, 0, "{host}: {out}");
    out.trim().to_string()
}

/// Runs `ip ARGS` (split on spaces).
fn ip(args: &str) {
    let argv: Vec<&str> = std::iter::once("ip").chain(args.split(' ')).collect();
    sh(&argv);
}

/// SETUP: a server namespace behind lab host `router`, over a veth whose
/// router end is 1500 bytes and whose server end is 9000 (so the server
/// announces a jumbo MSS); the router forwards and DNATs its port 5201 to
/// the server, where the HTTP sink listens.
fn server_behind(fx: &Fixture, router: &str) -> Behind {
    let plan = &fx.agent.plan;
    let r = plan.host(router).unwrap().netns.clone();
    let mut behind = Behind {
        ns: format!("{}-srv", plan.name),
        server: None,
    };
    let ns = behind.ns.clone();
    ip(&format!("netns add {ns}"));
    ip(&format!(
        "-n {r} link add vr mtu 1500 type veth peer name vs mtu 9000 netns {ns}"
    ));
    ip(&format!("-n {r} addr add 192.168.77.1/30 dev vr"));
    ip(&format!("-n {r} link set vr up"));
    ip(&format!("-n {ns} addr add 192.168.77.2/30 dev vs"));
    ip(&format!("-n {ns} link set vs up"));
    ip(&format!("-n {ns} link set lo up"));
    ip(&format!("-n {ns} route add default via 192.168.77.1"));
    sh(&[
        "ip",
        "netns",
        "exec",
        &r,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &r,
        "nft",
        "add table ip hl; add chain ip hl pre { type nat hook prerouting priority -100 ; } ; \
         add rule ip hl pre tcp dport 5201 dnat to 192.168.77.2",
    ]);
    behind.server = Some(
        Command::new("ip")
            .args(["netns", "exec", &ns, "python3", "-c", SINK])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("HTTP sink"),
    );
    // Listening: poll (the sink prints nothing).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, "ss", "-Hltn", "sport = :5201"])
            .output()
            .expect("ss");
        if !out.stdout.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "sink not listening within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    behind
}

/// The client uploads `BYTES` with curl to `dst`:5201 and the server gets
/// them all; the client's route cache learned path MTU 1500 for `dst` from
/// an error the fabric delivered; no ICMP error was dropped.
fn upload_discovers_the_path_mtu(fx: &Fixture, dst: &str) {
    let plan = &fx.agent.plan;
    let file = std::env::temp_dir().join(format!("{}-upload", plan.name));
    let data: Vec<u8> = (0..BYTES).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &data).expect("upload file");
    let before = fx.snapshot();
    // DF is set on every segment: Linux TCP's default (ip_no_pmtu_disc 0).
    let url = format!("http://{dst}:5201/upload");
    let (code, out) = run_in_host(
        plan,
        "client",
        &[
            "curl",
            "-sS",
            "--max-time",
            "60",
            "-T",
            file.to_str().unwrap(),
            &url,
        ],
    );
    let _ = std::fs::remove_file(&file);
    assert_eq!(code, 0, "curl upload across the MTU step: {out}");
    assert_eq!(
        out.trim(),
        format!("{BYTES} {}", checksum(&data)),
        "the server got it all"
    );
    let (code, route) = run_in_host(plan, "client", &["ip", "-4", "route", "get", dst]);
    assert_eq!(code, 0);
    assert!(route.contains("mtu 1500"), "client's route cache: {route}");
    let d = fx.snapshot().since(&before);
    assert!(
        d.count(Counter::IcmpErrorForwarded) >= 1,
        "errors forwarded: {}",
        d.count(Counter::IcmpErrorForwarded)
    );
    for r in [
        DropReason::IcmpErrorNoFlow,
        DropReason::IcmpErrorBadQuote,
        DropReason::IngressSgDeny,
        DropReason::UnsupportedIcmp,
    ] {
        assert_eq!(d.drop_count(r), 0, "{}", r.name());
    }
}

/// Inside one VPC: the router's error comes from its own address.
#[test]
#[ignore = "needs root"]
fn path_mtu_discovery_across_an_mtu_step() {
    let fx = Fixture::new(TOPO, "pmtu");
    // Per-subnet and per-ENI MTUs: both ends of every veth.
    assert_eq!(mtu(&fx, "client"), "9000", "client: subnet-a1's mtu");
    assert_eq!(mtu(&fx, "router"), "9000", "router: its ENI's own mtu");
    assert_eq!(mtu(&fx, "other"), "1500", "other: the lab's mtu");
    let _behind = server_behind(&fx, "router");
    upload_discovers_the_path_mtu(&fx, "10.0.2.20");
}

/// Through PrivateLink: the router is the NLB's target; its error, sent to
/// the NLB node about a segment the node sent, reaches the consumer from
/// the endpoint's address, quoting the segment the client sent to it, so
/// the client's stack learns the path MTU to the endpoint.
#[test]
#[ignore = "needs root"]
fn path_mtu_discovery_through_privatelink() {
    let fx = Fixture::new(TOPO_PL, "pmtp");
    assert_eq!(mtu(&fx, "client"), "9000");
    assert_eq!(mtu(&fx, "router"), "9000");
    let _behind = server_behind(&fx, "router");
    upload_discovers_the_path_mtu(&fx, "10.0.1.100");
}
