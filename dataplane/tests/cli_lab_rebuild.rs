//! `lab up` under a data plane, and an agent meeting a lab that was rebuilt
//! under its pinned data plane (issue 20, item 2).
//!
//! Needs root: run with `cargo test -- --include-ignored --test-threads=1`.

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use common::{bin, curl_one_to_two, lab_up, root_two_hosts, tmp, AgentProc, ServerOnTwo};

/// `curl` from host `one` to the server on `two`: (exit code, body).
fn curl(file: &Path) -> (Option<i32>, String) {
    let out = curl_one_to_two(file, &["-c"]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Polls `curl` until the server answers (it may still be starting).
fn reaches(file: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, body) = curl(file);
        if code == Some(0) {
            assert!(
                body.starts_with("server=two peer=10.0.1.10:"),
                "the server saw: {body}"
            );
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "curl one -> two never succeeded (last exit {code:?})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs root"]
fn lab_up_is_refused_under_a_data_plane_and_a_lab_rebuilt_behind_its_back_is_attached_afresh() {
    let (lab, file) = root_two_hosts("rb", "rebuild.toml");
    let shown = file.display().to_string();
    lab_up(&file);
    let log = tmp("rebuild.log");
    let _ = std::fs::remove_file(&log);
    let metrics = format!("127.0.0.1:{}", 20000 + (std::process::id() + 7) % 20000);
    let mut agent = AgentProc::spawn(&file, &log, &metrics, &[]);
    agent.wait_for("metrics on http://");
    let server = ServerOnTwo::start(&lab);
    reaches(&file);

    // Under a running agent: refused, naming the agent and what to run.
    let up = bin().args(["lab", "up"]).arg(&file).output().unwrap();
    assert_eq!(up.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&up.stderr),
        format!(
            "error: lab {lab} is run by an agent (pid {pid}): rebuilding its namespaces would \
             cut the data plane off the lab's ports; nothing was changed. To rebuild: \
             `kill -TERM {pid}`, then `dataplane lab down {shown}` (removes the data plane and \
             the lab), `dataplane lab up {shown}`, `dataplane run {shown}`\n",
            pid = agent.child.id()
        )
    );
    assert!(up.stdout.is_empty());
    // The lab and its data plane are intact: the same connection works.
    reaches(&file);

    // A data plane left pinned by a stopped agent still forwards: refused too.
    agent.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(agent.child.wait().unwrap().code(), Some(0));
    let up = bin().args(["lab", "up"]).arg(&file).output().unwrap();
    assert_eq!(up.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&up.stderr),
        format!(
            "error: lab {lab} has a data plane pinned in /sys/fs/bpf/hyperlab/{lab} (no agent \
             runs it; it still forwards): rebuilding its namespaces would cut it off the lab's \
             ports; nothing was changed. Restart its agent with `dataplane run {shown}` to keep \
             the lab, or remove the data plane and the lab with `dataplane lab down {shown}`, \
             then `dataplane lab up {shown}`\n"
        )
    );
    reaches(&file);

    // The lab rebuilt behind the pinned data plane's back (as a script or
    // an older build would): the same names and, often, the same ifindexes,
    // but new namespaces. The next agent must see that and attach afresh.
    drop(server);
    let topo = dataplane::config::load(&file).unwrap();
    dataplane::lab::up(&dataplane::lab::plan(&topo)).unwrap();
    let _server = ServerOnTwo::start(&lab);
    let again = AgentProc::spawn(&file, &log, &metrics, &[]);
    again.wait_for_n("metrics on http://", 2);
    assert!(
        again.output().contains(&format!(
            "lab {lab} was rebuilt since its data plane was pinned (its fabric namespace \
             {lab}-fabric is a new one): the old data plane lost its ports and its flows; \
             attaching afresh"
        )),
        "{}",
        again.output()
    );
    reaches(&file);
    drop(again); // SIGTERM, then `lab down`, which removes the data plane too
    assert!(!Path::new(&format!("/sys/fs/bpf/hyperlab/{lab}")).exists());
    assert!(!Path::new(&format!("/run/hyperlab/{lab}")).exists());
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&file);
}
