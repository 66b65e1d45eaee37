//! VPC Flow Logs' `tcp-flags` per window, end to end with real TCP: one
//! connection whose handshake and close fall in windows seconds apart
//! (1-second windows). AWS: a record's `tcp-flags` is the OR of the flags
//! of the packets in its window, so the handshake's window carries SYN (2)
//! out and SYN-ACK (18) back, the close's window FIN (1) both ways, and a
//! window of data only 0, at both ENIs. The kernel counts them per CPU and
//! per window (`HL_FLOW_COUNTS`, `HL_FLOW_WINDOW`).
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::time::{Duration, Instant};

use hyperlab_tests::flow_log_file::{every_second, logged_lab};
use hyperlab_tests::{echo::ECHO_SERVER, fixtures, HostProcess};

/// One connection from port 41500: the handshake and a line, 2.5 s later
/// another line, 2.5 s later the client's FIN (and the server's, when it
/// sees the end).
const CLIENT: &str = r#"
import socket, time
s = socket.socket()
s.bind(("10.0.1.10", 41500))
s.connect(("10.0.1.20", 9000))
s.sendall(b"a\n"); s.recv(100)
time.sleep(2.5)
s.sendall(b"b\n"); s.recv(100)
time.sleep(2.5)
s.shutdown(socket.SHUT_WR)
s.recv(100)
s.close()
print("done", flush=True)
"#;

const FORMAT: &str =
    "${interface-id} ${srcport} ${dstport} ${start} ${packets} ${tcp-flags} ${action} ${flow-direction}";

#[test]
#[ignore = "needs root"]
fn each_window_of_a_tcp_connection_logs_the_flags_it_saw() {
    let topo = fixtures::client_web(r#"{ protocol = "tcp", ports = 9000, peer = "sg-client" }"#)
        + &every_second(&["tcp_transitory_timeout"], &[("format", FORMAT)]);
    let (fx, log) = logged_lab(&topo, "eflw");
    let server = HostProcess::spawn(
        &fx.agent.plan,
        "web",
        &["python3", "-c", ECHO_SERVER, "10.0.1.20", "9000"],
    );
    server.wait_for_output("listening", Duration::from_secs(5));
    let client = HostProcess::spawn(&fx.agent.plan, "client", &["python3", "-c", CLIENT]);
    client.wait_for_output("done", Duration::from_secs(15));
    // Swept (closed: 1 s), so its last counts are logged; then the agent
    // stops and writes the last window.
    let deadline = Instant::now() + Duration::from_secs(8);
    while !fx.flows().is_empty() {
        assert!(Instant::now() < deadline, "the flow was not swept");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(fx);
    let text = std::fs::read_to_string(&log.0).expect("the flow log");
    // (interface, sport, dport, direction) -> (start, packets, flags) by window.
    let records = |iface: &str, sport: &str, dport: &str, dir: &str| -> Vec<(u64, u64, u64)> {
        let mut v: Vec<(u64, u64, u64)> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                assert_eq!(f.len(), 8, "{l}");
                assert_eq!(f[6], "ACCEPT", "{l}");
                (f[0] == iface && f[1] == sport && f[2] == dport && f[7] == dir).then(|| {
                    (
                        f[3].parse().unwrap(),
                        f[4].parse().unwrap(),
                        f[5].parse().unwrap(),
                    )
                })
            })
            .collect();
        v.sort();
        v
    };
    // The flags of each window with any, in time order: a window of data
    // and ACKs only (where a window boundary fell inside a burst) is 0.
    let flagged = |recs: &[(u64, u64, u64)]| -> Vec<u64> {
        recs.iter().map(|r| r.2).filter(|&f| f != 0).collect()
    };
    for (iface, dir_out, dir_back) in [
        ("eni-client", "egress", "ingress"),
        ("eni-web", "ingress", "egress"),
    ] {
        let out = records(iface, "41500", "9000", dir_out);
        let back = records(iface, "9000", "41500", dir_back);
        assert_eq!(
            flagged(&out),
            [2, 1],
            "{iface} client -> web by window: {out:?}\n{text}"
        );
        assert_eq!(
            flagged(&back),
            [18, 1],
            "{iface} web -> client by window: {back:?}\n{text}"
        );
        // Handshake and close seconds apart: different windows, and the
        // line in between in a window of its own, flags 0.
        let starts = |recs: &[(u64, u64, u64)], f: u64| -> u64 {
            recs.iter().find(|r| r.2 == f).map(|r| r.0).unwrap()
        };
        assert!(starts(&out, 1) >= starts(&out, 2) + 4, "{out:?}");
        assert!(
            out.iter()
                .any(|r| r.2 == 0 && r.0 > starts(&out, 2) && r.0 < starts(&out, 1)),
            "{iface}: the middle line's window shows 0: {out:?}"
        );
    }
    // Every packet of the connection is in exactly one window: both ENIs
    // log the same counts.
    let sum = |iface, sport, dport, dir| {
        records(iface, sport, dport, dir)
            .iter()
            .map(|r| r.1)
            .sum::<u64>()
    };
    assert_eq!(
        sum("eni-client", "41500", "9000", "egress"),
        sum("eni-web", "41500", "9000", "ingress")
    );
    assert_eq!(
        sum("eni-client", "9000", "41500", "ingress"),
        sum("eni-web", "9000", "41500", "egress")
    );
    drop(server);
}
