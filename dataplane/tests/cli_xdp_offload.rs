//! The XDP hook and host TCP (issue 20, item 3): the agent warns when the
//! hosts' veths keep TX checksum offload on, `lab up --tx-offload-off`
//! turns it off and says so, and then a real TCP connection crosses the
//! XDP fabric.
//!
//! Needs root: run with `cargo test -- --include-ignored --test-threads=1`.

mod common;

use std::time::{Duration, Instant};

use common::{bin, curl_one_to_two, root_two_hosts, tmp, AgentProc, ServerOnTwo};

#[test]
#[ignore = "needs root"]
fn xdp_warns_of_tx_offload_and_lab_up_turns_it_off_so_host_tcp_crosses() {
    let (lab, file) = root_two_hosts("xo", "xdp-offload.toml");
    let f = file.display().to_string();
    let log = tmp("xdp-offload.log");
    let _ = std::fs::remove_file(&log);
    let metrics = format!("127.0.0.1:{}", 20000 + (std::process::id() + 11) % 20000);

    // A tc lab (veth defaults: offload on) run with --hook xdp: a warning.
    let up = bin().args(["lab", "up"]).arg(&file).output().unwrap();
    assert_eq!(up.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&up.stdout),
        format!("lab {lab} is up: {lab}-fabric {lab}-one {lab}-two\n")
    );
    assert!(dataplane::netns::tx_checksum(&format!("{lab}-one"), "eth0").unwrap());
    let agent = AgentProc::spawn(&file, &log, &metrics, &["--hook", "xdp"]);
    agent.wait_for("metrics on http://");
    assert!(
        agent.output().contains(&format!(
            "XDP hook: TX checksum offload is on for {lab}-one eth0, {lab}-two eth0: host TCP \
             and UDP through the XDP fabric will fail their checksums (ping works). Rebuild the \
             lab with `dataplane lab up --tx-offload-off {f}` (stop this agent and `dataplane \
             down {f}` first), or run `ethtool -K IFACE tx off` in each host: `dataplane lab \
             exec {f} HOST -- ethtool -K eth0 tx off`"
        )),
        "{}",
        agent.output()
    );
    drop(agent); // SIGTERM, then `lab down`

    // lab up --tx-offload-off: stated, done, and TCP crosses the XDP fabric.
    let up = bin()
        .args(["lab", "up", "--tx-offload-off"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(up.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&up.stdout),
        format!(
            "lab {lab} is up: {lab}-fabric {lab}-one {lab}-two\nlab {lab}: TX checksum offload \
             is off on the hosts' veths, as the XDP hook needs for host TCP and UDP ({lab}-one \
             eth0, {lab}-two eth0)\n"
        )
    );
    for h in ["one", "two"] {
        assert!(!dataplane::netns::tx_checksum(&format!("{lab}-{h}"), "eth0").unwrap());
    }
    let n = std::fs::read_to_string(&log)
        .unwrap()
        .matches("metrics on http://")
        .count();
    let agent = AgentProc::spawn(&file, &log, &metrics, &["--hook", "xdp"]);
    agent.wait_for_n("metrics on http://", n + 1);
    let tail: String = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        tail.matches("XDP hook: TX checksum offload is on").count(),
        1,
        "only the first agent warned: {tail}"
    );
    let _server = ServerOnTwo::start(&lab);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = curl_one_to_two(&file, &[]);
        if out.status.code() == Some(0) {
            assert!(
                String::from_utf8_lossy(&out.stdout).starts_with("server=two peer=10.0.1.10:"),
                "{out:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "curl over XDP never succeeded: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(agent);
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&file);
}
