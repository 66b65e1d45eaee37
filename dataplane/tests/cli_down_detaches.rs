//! `dataplane down` returns only after every link is detached (issue 21,
//! item 5): a UDP stream crosses the fabric until `down` runs, and not one
//! datagram reaches the server once `down` has returned. Before the fix,
//! `down` only removed the pins and the kernel detached the links 13-14 ms
//! later, so datagrams kept arriving after it returned.
//!
//! Needs root: run with `cargo test -- --include-ignored --test-threads=1`.

mod common;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{bin, lab_up, root_lab, tmp, AgentProc};

/// Sends 100-byte datagrams to `argv[1]:argv[2]`, ten at a time with a
/// 0.1 ms pause (tens of thousands a second), until killed.
const UDP_TX: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst, i = (sys.argv[1], int(sys.argv[2])), 0
while True:
    s.sendto(b"x" * 100, dst)
    i += 1
    if i % 10 == 0:
        time.sleep(0.0001)
"#;

/// A process killed by PID when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Packets host namespace `ns` has received on eth0, read in the calling
/// thread's namespace (no process to start: the read takes microseconds).
fn rx_packets(ns: &str) -> u64 {
    dataplane::netns::scoped_in(ns, || {
        let dev = std::fs::read_to_string("/proc/thread-self/net/dev")?;
        let line = dev
            .lines()
            .find(|l| l.trim_start().starts_with("eth0:"))
            .ok_or_else(|| anyhow::anyhow!("no eth0 in {ns}: {dev}"))?;
        let fields: Vec<&str> = line.split(':').nth(1).unwrap().split_whitespace().collect();
        Ok(fields[1].parse()?)
    })
    .unwrap()
}

#[test]
#[ignore = "needs root"]
fn no_datagram_crosses_the_fabric_once_down_has_returned() {
    let (lab, file) = root_lab("dd", "down-detaches.toml");
    let topo = common::TWO_HOSTS
        .replace("\"@PORT@\"", "9")
        .replace("protocol = \"tcp\"", "protocol = \"udp\"")
        .replace("@LAB@", &lab);
    std::fs::write(&file, topo).unwrap();
    let log = tmp("down-detaches.log");
    let _ = std::fs::remove_file(&log);
    let metrics = format!("127.0.0.1:{}", 20000 + (std::process::id() + 13) % 20000);
    lab_up(&file);
    let mut agent = AgentProc::spawn(&file, &log, &metrics, &[]);
    agent.wait_for("metrics on http://");
    let server = format!("{lab}-two");

    let _tx = Killed(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("{lab}-one"),
                "python3",
                "-c",
                UDP_TX,
            ])
            .args(["10.0.1.20", "9"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The stream crosses: the server's count grows by 100 datagrams.
    let start = rx_packets(&server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while rx_packets(&server) < start + 100 {
        assert!(
            Instant::now() < deadline,
            "the stream never crossed the fabric ({} datagrams)",
            rx_packets(&server) - start
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The agent stops (the data plane stays pinned and forwarding), then
    // `down` removes it: from its return on, nothing crosses.
    agent.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(agent.child.wait().unwrap().code(), Some(0));
    let before = rx_packets(&server);
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        rx_packets(&server) > before,
        "the pinned data plane keeps forwarding after the agent stops"
    );
    let down = bin().arg("down").arg(&file).output().unwrap();
    let after_down = rx_packets(&server);
    assert_eq!(down.status.code(), Some(0), "{down:?}");
    assert_eq!(
        String::from_utf8_lossy(&down.stdout),
        format!("lab {lab}: data plane removed (2 links detached, maps and flows dropped)\n")
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        rx_packets(&server) - after_down,
        0,
        "datagrams reached the server after `down` returned"
    );
    drop(agent); // `lab down`
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&file);
}
