//! VPC Flow Logs end to end: a lab, the agent with `[flow_logs]` on a 1 s
//! interval, a real UDP echo server and client, a probe web's inbound rules
//! reject and one client's outbound rules reject; the records in the log
//! file must match the traffic exactly, at every ENI AWS writes them at.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use dataplane::{loader::LoadOptions, model::Hook};
use hyperlab_tests::{fixtures, run_in_host, Fixture, HostProcess};

/// web admits UDP 5000 from client's group and nothing else; client may
/// send UDP 5000-5001 and nothing else.
fn topo() -> String {
    let client_group = "id = \"sg-client\"\nvpc = \"vpc-a\"\ningress = []\n";
    let t = fixtures::client_web(r#"{ protocol = "udp", ports = 5000, peer = "sg-client" }"#);
    assert!(t.contains(client_group), "the fixture's sg-client changed");
    t.replace(
        client_group,
        &format!(
            "{client_group}egress = [{{ protocol = \"udp\", ports = \"5000-5001\", peer = \"10.0.0.0/16\" }}]\n"
        ),
    ) + LOGS
}

/// Short UDP timeouts (see the test) and a flow log every second.
const LOGS: &str = r#"
[conntrack]
udp_timeout = 1
udp_stream_timeout = 1
ignore_aws_ranges = true

[flow_logs]
destination = "/tmp/hyperlab-@LAB@-flows.log"
interval = 1
"#;

/// Echoes every datagram on IP:PORT back to its sender.
const ECHO: &str = "import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print('READY', flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(d, a)
";

/// From SPORT, sends COUNT datagrams of SIZE bytes to DST:PORT; with
/// `echo`, waits for each one's echo. Prints how many echoes came back.
const SEND: &str = "import socket, sys
src, sport, dst, port, count, size, echo = sys.argv[1:8]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, int(sport)))
s.settimeout(2)
got = 0
for _ in range(int(count)):
    s.sendto(b'x' * int(size), (dst, int(port)))
    if echo == 'echo':
        s.recv(65535)
        got += 1
print(got)
";

/// Removes the log file however the test ends.
struct LogFile(std::path::PathBuf);

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Records summed over intervals: (account, interface, src, dst, sport,
/// dport, proto, action) -> (packets, bytes). Checks every line's fixed
/// fields; the account is the lab's, or `unknown` for the interfaces a
/// service created (their ids start `eni-0`).
fn totals(log: &str) -> BTreeMap<String, (u64, u64)> {
    let mut lines = log.lines();
    assert_eq!(
        lines.next(),
        Some(dataplane::flowlog::HEADER),
        "the header first:\n{log}"
    );
    let mut out = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.len(), 14, "{l}");
        assert_eq!((f[0], f[13]), ("2", "OK"), "{l}");
        let managed = f[2].starts_with("eni-0");
        let account = if managed { "unknown" } else { "123456789012" };
        assert_eq!(f[1], account, "{l}");
        let (start, end): (u64, u64) = (f[10].parse().unwrap(), f[11].parse().unwrap());
        assert!(end >= start && end - start <= 1, "a 1 s interval: {l}");
        let k = [f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[12]].join(" ");
        let t = out.entry(k).or_insert((0, 0));
        t.0 += f[8].parse::<u64>().unwrap();
        t.1 += f[9].parse::<u64>().unwrap();
    }
    out
}

#[test]
#[ignore = "needs root"]
fn flow_log_records_match_the_udp_traffic_sent_and_the_denied_probe() {
    // Short UDP timeouts: the flow is swept before the agent stops, so its
    // final counts reach the log through the sweeper's hand-over.
    let opts = LoadOptions {
        sweep_every: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let fx = Fixture::with_options(&topo(), "efl", Hook::Tc, &opts);
    let path = match &fx.agent.topo.flow_logs.as_ref().unwrap().destination {
        dataplane::model::FlowLogDestination::File(p) => p.clone(),
        other => panic!("expected a file destination, got {other:?}"),
    };
    let _cleanup = LogFile(path.clone());
    let plan = &fx.agent.plan;
    let echo = HostProcess::spawn(plan, "web", &["python3", "-c", ECHO, "10.0.1.20", "5000"]);
    echo.wait_for_output("READY", Duration::from_secs(10));

    // SEND from client 10.0.1.10:SPORT to web 10.0.1.20:DPORT.
    let send = |sport: &str, dport: &str, count: &str, size: &str, mode: &str| {
        let argv = [
            "python3",
            "-c",
            SEND,
            "10.0.1.10",
            sport,
            "10.0.1.20",
            dport,
            count,
            size,
            mode,
        ];
        run_in_host(plan, "client", &argv)
    };
    // 10 datagrams of 100 bytes, each echoed: 128 IPv4 bytes apiece.
    let (code, out) = send("40000", "5000", "10", "100", "echo");
    assert_eq!((code, out.trim()), (0, "10"), "all 10 echoes came back");
    // 3 datagrams of 50 bytes to a port sg-web does not admit.
    let (code, _) = send("40001", "5001", "3", "50", "none");
    assert_eq!(code, 0);
    // 2 datagrams of 20 bytes to a port sg-client may not send to.
    let (code, _) = send("40002", "5002", "2", "20", "none");
    assert_eq!(code, 0);

    // Records arrive while the agent runs, interval by interval.
    let accept = "eni-client 10.0.1.10 10.0.1.20 40000 5000 17 ACCEPT";
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if log
            .lines()
            .any(|l| l.contains(" 10.0.1.10 10.0.1.20 40000 5000 17 "))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no record of {accept} yet:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The idle flow is swept (1 s UDP timeout)...
    let deadline = Instant::now() + Duration::from_secs(5);
    while !fx.flows().is_empty() {
        assert!(Instant::now() < deadline, "the flow was not swept");
        std::thread::sleep(Duration::from_millis(100));
    }
    // ... and the agent stops: the last interval is written.
    drop(echo);
    drop(fx);
    let log = std::fs::read_to_string(&path).expect("the flow log");
    let got = totals(&log);
    // AWS writes each direction at both ENIs, and a packet the receiver's
    // inbound rules reject as REJECT at the receiver (the sender's outbound
    // rules let it go: ACCEPT there).
    let want: BTreeMap<String, (u64, u64)> = [
        (accept, (10, 10 * 128)),
        (
            "eni-client 10.0.1.20 10.0.1.10 5000 40000 17 ACCEPT",
            (10, 10 * 128),
        ),
        (
            "eni-web 10.0.1.10 10.0.1.20 40000 5000 17 ACCEPT",
            (10, 10 * 128),
        ),
        (
            "eni-web 10.0.1.20 10.0.1.10 5000 40000 17 ACCEPT",
            (10, 10 * 128),
        ),
        (
            "eni-client 10.0.1.10 10.0.1.20 40001 5001 17 ACCEPT",
            (3, 3 * 78),
        ),
        (
            "eni-web 10.0.1.10 10.0.1.20 40001 5001 17 REJECT",
            (3, 3 * 78),
        ),
        (
            "eni-client 10.0.1.10 10.0.1.20 40002 5002 17 REJECT",
            (2, 2 * 48),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (format!("123456789012 {k}"), v))
    .collect();
    assert_eq!(got, want, "the log:\n{log}");
}

/// The shipped PrivateLink example with flow logs on.
fn privatelink_topo() -> String {
    hyperlab_tests::shipped_config("privatelink.toml", "plink") + LOGS
}

#[test]
#[ignore = "needs root"]
fn a_privatelink_flow_is_logged_at_client_endpoint_eni_nlb_node_and_target() {
    let opts = LoadOptions {
        sweep_every: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let fx = Fixture::with_options(&privatelink_topo(), "eflp", Hook::Tc, &opts);
    let path = match &fx.agent.topo.flow_logs.as_ref().unwrap().destination {
        dataplane::model::FlowLogDestination::File(p) => p.clone(),
        other => panic!("expected a file destination, got {other:?}"),
    };
    let _cleanup = LogFile(path.clone());
    let plan = &fx.agent.plan;
    let echoes: Vec<HostProcess> = [("web1", "10.0.1.21"), ("web2", "10.0.2.22")]
        .into_iter()
        .map(|(h, ip)| {
            let e = HostProcess::spawn(plan, h, &["python3", "-c", ECHO, ip, "5353"]);
            e.wait_for_output("READY", Duration::from_secs(10));
            e
        })
        .collect();
    // 5 datagrams of 100 bytes from consumer 10.0.1.10:41000 to the
    // endpoint ENI in az1, 10.0.1.100:53, each echoed by the target the NLB
    // node in az1 (10.0.1.50) picked.
    let argv = [
        "python3",
        "-c",
        SEND,
        "10.0.1.10",
        "41000",
        "10.0.1.100",
        "53",
        "5",
        "100",
        "echo",
    ];
    let (code, out) = run_in_host(plan, "consumer", &argv);
    assert_eq!((code, out.trim()), (0, "5"), "all 5 echoes came back");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !fx.flows().is_empty() {
        assert!(Instant::now() < deadline, "the flow was not swept");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(echoes);
    drop(fx);
    let log = std::fs::read_to_string(&path).expect("the flow log");
    let got = totals(&log);
    // The target and the node's source port are the NLB's choice: read them
    // from the node's request record, then expect every record exactly.
    let endpoint = dataplane::model::managed_eni_id("vpce-web", "subnet-consumer1");
    let node = dataplane::model::managed_eni_id("nlb-web", "subnet-provider1");
    let node_req = got
        .keys()
        .find(|k| k.starts_with(&format!("unknown {node} 10.0.1.50 ")))
        .unwrap_or_else(|| panic!("no request record at the NLB node {node}:\n{log}"));
    let f: Vec<&str> = node_req.split(' ').collect();
    let (target_ip, nat_port) = (f[3], f[4]);
    let target = match target_ip {
        "10.0.1.21" => "eni-web1",
        "10.0.2.22" => "eni-web2",
        other => panic!("the node sent to {other}, not a target:\n{log}"),
    };
    let (req, rep) = (
        "10.0.1.10 10.0.1.100 41000 53 17 ACCEPT".to_string(),
        "10.0.1.100 10.0.1.10 53 41000 17 ACCEPT".to_string(),
    );
    let (nreq, nrep) = (
        format!("10.0.1.50 {target_ip} {nat_port} 5353 17 ACCEPT"),
        format!("{target_ip} 10.0.1.50 5353 {nat_port} 17 ACCEPT"),
    );
    let want: BTreeMap<String, (u64, u64)> = [
        (format!("123456789012 eni-consumer {req}"), (5, 5 * 128)),
        (format!("123456789012 eni-consumer {rep}"), (5, 5 * 128)),
        (format!("unknown {endpoint} {req}"), (5, 5 * 128)),
        (format!("unknown {endpoint} {rep}"), (5, 5 * 128)),
        (format!("unknown {node} {nreq}"), (5, 5 * 128)),
        (format!("unknown {node} {nrep}"), (5, 5 * 128)),
        (format!("123456789012 {target} {nreq}"), (5, 5 * 128)),
        (format!("123456789012 {target} {nrep}"), (5, 5 * 128)),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "the log:\n{log}");
}
