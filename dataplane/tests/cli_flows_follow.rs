//! `dataplane flows FILE --follow --filter TEXT` as a user runs it (issue
//! 21, item 3): started before the agent, it prints the flow log file's
//! records as a real agent writes them for a real curl, header first, each
//! line as written, only those with the filter text.
//!
//! Needs root: run with `cargo test -- --include-ignored --test-threads=1`.

mod common;

use std::{
    io::Read,
    process::Stdio,
    time::{Duration, Instant},
};

use common::{bin, curl_one_to_two, lab_up, root_two_hosts, tmp, AgentProc, ServerOnTwo};

const FORMAT: &str =
    "${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${packets} ${tcp-flags} ${action}";

#[test]
#[ignore = "needs root"]
fn flows_follow_prints_what_the_agent_writes_for_a_curl() {
    let (lab, file) = root_two_hosts("ff", "flows-follow.toml");
    let records = tmp("flows-follow.log");
    let _ = std::fs::remove_file(&records);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!(
        "\n[conntrack]\ntcp_transitory_timeout = 1\nignore_aws_ranges = true\n\n\
         [flow_logs]\ndestination = \"{}\"\ninterval = 1\nformat = \"{FORMAT}\"\n",
        records.display()
    ));
    std::fs::write(&file, text).unwrap();
    // Started first: the file does not exist yet, so all of it is followed.
    let mut follow = bin()
        .args(["flows"])
        .arg(&file)
        .args(["--follow", "--filter", "10.0.1.20 "])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    lab_up(&file);
    let log = tmp("flows-follow-agent.log");
    let metrics = format!("127.0.0.1:{}", 20000 + (std::process::id() + 29) % 20000);
    let mut agent = AgentProc::spawn(&file, &log, &metrics, &[]);
    agent.wait_for("metrics on http://");
    let _server = ServerOnTwo::start(&lab);
    // The server needs a moment: retry until curl gets its page.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = curl_one_to_two(&file, &[]);
        if out.status.code() == Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "curl never succeeded: {out:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The connection's records at both ENIs, its flags included.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let written = std::fs::read_to_string(&records).unwrap_or_default();
        let flags: u64 = written
            .lines()
            .skip(1)
            .filter(|l| l.starts_with("eni-two 10.0.1.20 10.0.1.10 80 "))
            .map(|l| l.split(' ').nth(6).unwrap().parse::<u64>().unwrap())
            .fold(0, |a, f| a | f);
        if flags & 1 != 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no FIN from two yet:\n{written}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The agent stops (its last window written), then the follower.
    agent.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(agent.child.wait().unwrap().code(), Some(0));
    std::thread::sleep(Duration::from_millis(600));
    let _ = follow.kill();
    let _ = follow.wait();
    let mut seen = String::new();
    follow
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut seen)
        .unwrap();
    let written = std::fs::read_to_string(&records).unwrap();
    let header = FORMAT.replace("${", "").replace('}', "");
    assert_eq!(written.lines().next(), Some(header.as_str()));
    // Header, then exactly the file's records with the filter text, as
    // written: here every record (the hosts only talk to each other).
    let want: Vec<&str> = std::iter::once(header.as_str())
        .chain(written.lines().skip(1).filter(|l| l.contains("10.0.1.20 ")))
        .collect();
    assert!(want.len() >= 5, "the curl's records: {written}");
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        want,
        "the file:\n{written}"
    );
    // The connection curl made (a try before the server listened was
    // refused: RST, no SYN-ACK): its request shows SYN and FIN (3) at both
    // ENIs, its reply SYN-ACK and FIN (19), the short connection of AWS's
    // example.
    let or_of = |prefix: &str| {
        written
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.split(' ').nth(6).unwrap().parse::<u64>().unwrap())
            .fold(0, |a, f| a | f)
    };
    let port = written
        .lines()
        .filter(|l| l.starts_with("eni-one 10.0.1.20 10.0.1.10 80 "))
        .map(|l| l.split(' ').nth(4).unwrap())
        .find(|p| or_of(&format!("eni-one 10.0.1.20 10.0.1.10 80 {p} ")) & 18 == 18)
        .unwrap_or_else(|| panic!("no SYN-ACK back to one:\n{written}"));
    for (prefix, want) in [
        (format!("eni-one 10.0.1.10 10.0.1.20 {port} 80 "), 3),
        (format!("eni-two 10.0.1.10 10.0.1.20 {port} 80 "), 3),
        (format!("eni-one 10.0.1.20 10.0.1.10 80 {port} "), 19),
        (format!("eni-two 10.0.1.20 10.0.1.10 80 {port} "), 19),
    ] {
        assert_eq!(or_of(&prefix), want, "{prefix}:\n{written}");
    }
    drop(agent); // `lab down`
    let _ = std::fs::remove_file(&records);
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&file);
}
