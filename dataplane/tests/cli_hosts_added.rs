//! A reload that only adds hosts grows the running lab: `dataplane run
//! FILE`, FILE gains a host (its ENI inserted in the middle of the
//! config), SIGHUP: the new host is built, attached and reachable while
//! an established connection on another host goes on; a restarted agent
//! adopts the grown lab (the journal keeps the interface numbers); a grow
//! the lab cannot take is refused with nothing changed; `lab down FILE`
//! removes everything.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

mod common;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use common::{echo::*, *};
use nix::sys::signal::Signal;

/// `lab exec FILE three -- python3 ONE_SHOT 10.0.1.20`, until it echoes
/// (within `deadline` from now); returns how long it took.
fn three_reaches_two(file: &Path, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let out = bin()
            .args(["lab", "exec"])
            .arg(file)
            .args(["three", "--", "python3", "-c", ONE_SHOT, "10.0.1.20"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout) == "echoed\n" {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "host three never reached two: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `eni` inserted after eni-one in the two-host config.
fn with_eni(lab: &str, id: &str, ip: &str, host: &str) -> String {
    let base = two_hosts_port_80(lab);
    let at = base.find("[[eni]]\nid = \"eni-two\"").unwrap();
    format!(
        "{}[[eni]]\nid = \"{id}\"\nsubnet = \"subnet-a1\"\nip = \"{ip}\"\n\
         security_groups = [\"sg-a\"]\nhost = \"{host}\"\n\n{}",
        &base[..at],
        &base[at..]
    )
}

fn ns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

#[test]
#[ignore = "needs root"]
fn a_reload_that_adds_a_host_builds_it_and_keeps_established_connections() {
    grows("tc");
}

/// The same on the XDP hook: the new host's veth gets the pass program
/// and, as the lab was built with it off, TX checksum offload off.
#[test]
#[ignore = "needs root"]
fn on_the_xdp_hook_a_reload_that_adds_a_host_builds_it_and_keeps_established_connections() {
    grows("xdp");
}

fn grows(hook: &str) {
    let (lab, file) = root_two_hosts(&format!("ha{hook}"), &format!("hosts-added-{hook}.toml"));
    let up = bin()
        .args(["lab", "up"])
        .arg(&file)
        .args(if hook == "xdp" {
            &["--tx-offload-off"][..]
        } else {
            &[]
        })
        .output()
        .unwrap();
    assert_eq!(up.status.code(), Some(0), "{up:?}");
    let log = tmp(&format!("hosts-added-{hook}.log"));
    let _ = std::fs::remove_file(&log);
    let port = 21000 + std::process::id() % 20000 + if hook == "xdp" { 1 } else { 0 };
    let metrics = format!("127.0.0.1:{port}");
    let agent = AgentProc::spawn(&file, &log, &metrics, &["--hook", hook]);
    agent.wait_for("metrics on http://");
    let server = InHost::python(&lab, "two", ECHO_SERVER, "10.0.1.20");
    server.wait_lines(1, "echo server");
    let long = InHost::python(&lab, "one", LONG_CLIENT, "10.0.1.20");
    long.wait_lines(5, "the long connection");

    // A grow the lab cannot take: host three's namespace is there
    // already. Refused, nothing changed.
    let blocker = format!("{lab}-three");
    assert!(Command::new("ip")
        .args(["netns", "add", &blocker])
        .status()
        .unwrap()
        .success());
    std::fs::write(&file, with_eni(&lab, "eni-three", "10.0.1.30", "three")).unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_for("hyperlab: reload refused");
    assert!(
        agent.output().contains(&format!(
            "hyperlab: reload refused, the running state is unchanged: lab {lab} has host three \
             already (namespace {lab}-three)"
        )),
        "{}",
        agent.output()
    );
    assert!(!agent.output().contains("hyperlab: reloaded"));
    assert!(Command::new("ip")
        .args(["netns", "del", &blocker])
        .status()
        .unwrap()
        .success());

    // Now it can: SIGHUP again. Host three (ENI inserted second) is built
    // and reaches two within 2 s of the reload.
    let before = long.lines().len();
    agent.signal(Signal::SIGHUP);
    agent.wait_for("hyperlab: reloaded");
    agent.assert_said(&format!("lab {lab}: host three added"));
    let took = three_reaches_two(&file, Duration::from_secs(2));
    eprintln!("host three reached two {took:?} after the reload");
    // Its port is p2 (the next number), the others kept p0 and p1.
    let links = Command::new("ip")
        .args(["-n", &format!("{lab}-fabric"), "-br", "link"])
        .output()
        .unwrap();
    let mut names: Vec<String> = String::from_utf8_lossy(&links.stdout)
        .lines()
        .map(|l| l.split(['@', ' ']).next().unwrap().to_string())
        .filter(|n| n != "lo")
        .collect();
    names.sort();
    assert_eq!(names, ["p0", "p1", "p2"]);
    // The established connection went on through it.
    long.went_on(before, "the long connection after the reload");
    // stats reads the journal's numbers: eni-three's row counts its packets.
    let stats = bin().arg("stats").arg(&file).output().unwrap();
    let table = String::from_utf8_lossy(&stats.stdout).into_owned();
    let row = |id: &str| -> Vec<u64> {
        let line = table
            .lines()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_else(|| panic!("no {id} row:\n{table}"));
        line.split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap())
            .collect()
    };
    assert!(row("eni-three")[0] > 0, "{table}");
    assert!(row("eni-one")[0] > 20, "{table}");
    if hook == "xdp" {
        // Host three's veth: TX checksum offload off, as the lab's others.
        let ethtool = Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("{lab}-three"),
                "ethtool",
                "-k",
                "eth0",
            ])
            .output()
            .unwrap();
        let features = String::from_utf8_lossy(&ethtool.stdout);
        assert!(features.contains("tx-checksumming: off"), "{features}");
    }

    // A restarted agent adopts the grown lab by its journaled numbers.
    agent.signal(Signal::SIGTERM);
    let mut agent = agent;
    agent.child.wait().unwrap();
    agent.owns_lab = false;
    let before = long.lines().len();
    let agent2 = AgentProc::spawn(&file, &log, &metrics, &["--hook", hook]);
    agent2.wait_for(&format!("adopted lab {lab}'s pinned data plane"));
    agent2.wait_for_n("metrics on http://", 2);
    three_reaches_two(&file, Duration::from_secs(2));
    long.went_on(before, "the long connection after the restart");
    drop((long, server));

    // `lab down FILE` (when the agent is dropped) removes every host.
    drop(agent2);
    for ns in ["fabric", "one", "two", "three"] {
        let ns = format!("{lab}-{ns}");
        assert!(!ns_exists(&ns), "{ns} left behind");
    }
}
