//! The `dataplane` command line as a user meets it: exit codes, messages,
//! and a running agent that reloads, reports and detaches.
//!
//! Tests marked "needs root" run with `cargo xtask test`.

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use std::os::unix::process::CommandExt;

mod common;
use common::{
    bin, is_root, lab_up, root_lab, run_refused, tmp, unprivileged_copy_of_bin, AgentProc,
};

fn configs() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs"))
}

#[test]
fn check_accepts_every_shipped_config() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(configs())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let out = bin().arg("check").args(&files).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
    assert!(stdout.lines().all(|l| l.contains(": ok (lab ")), "{stdout}");
    // Valid, but an endpoint or a peering connection that carries nothing
    // gets a note, and so does a subnet whose network ACL has no entries
    // (the example's db).
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "{}: note: network ACL acl-db has no inbound or outbound entries: inbound and \
             outbound traffic of subnet-db is denied (a custom network ACL denies what no entry \
             allows)\n\
             {}: note: VPC peering connection pcx-app-newco (vpc-app <-> vpc-newco) is \
             pending-acceptance: it carries nothing until active (`status = \"active\"`)\n\
             {}: note: endpoint vpce-pending is pending acceptance by service vpce-svc-web: it \
             carries nothing until accepted (`state = \"available\"` on the endpoint, or \
             `acceptance_required = false` on the service; it defaults to true)\n",
            configs().join("network-acls.toml").display(),
            configs().join("peering.toml").display(),
            configs().join("privatelink.toml").display()
        )
    );
}

#[test]
fn check_reports_every_error_with_file_line_column_and_field() {
    let f = tmp("bad.toml");
    std::fs::write(
        &f,
        "[lab]\nname = \"bad\"\n\n[[vpc]]\nid = \"vpc-a\"\ncidr = \"10.0.0.0/16\"\n\n[[subnet]]\nid = \"subnet-a\"\nvpc = \"vpc-a\"\ncidr = \"10.0.1.0/24\"\naz = \"az1\"\n\n[[eni]]\nid = \"eni-a\"\nsubnet = \"subnet-a\"\nip = \"10.0.2.5\"\nsecurity_groups = [\"sg-nope\"]\nhost = \"a\"\ncolour = \"red\"\n",
    )
    .unwrap();
    let out = bin().arg("check").arg(&f).output().unwrap();
    let _ = std::fs::remove_file(&f);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = f.display().to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines.iter().all(|l| l.starts_with(&name)), "{err}");
    assert!(
        err.contains(":17:6: eni[0].ip: 10.0.2.5 is outside subnet subnet-a (10.0.1.0/24)"),
        "{err}"
    );
    assert!(
        err.contains(":18:20: eni[0].security_groups[0]: unknown security group \"sg-nope\""),
        "{err}"
    );
    assert!(
        err.contains(":20:1: eni[0].colour: unknown field \"colour\""),
        "{err}"
    );
}

#[test]
fn check_of_a_missing_file_says_so() {
    let out = bin()
        .arg("check")
        .arg("/nonexistent/x.toml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("/nonexistent/x.toml:1:1:"));
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["lab", "--help"],
        vec!["lab", "up", "--help"],
        vec!["lab", "down", "--help"],
        vec!["lab", "exec", "--help"],
        vec!["run", "--help"],
        vec!["stats", "--help"],
        vec!["flows", "--help"],
        vec!["explain", "--help"],
        vec!["demo", "--help"],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
}

/// `--proto` is read by the config's `protocol` parser: a name or a number
/// 0-255; `all` and unknown names are usage errors (exit 2), before any
/// agent or lab is looked for.
#[test]
fn explain_reads_proto_as_the_config_reads_protocol() {
    for (proto, says) in [
        ("all", "a packet has one protocol (`all` is for rules)"),
        ("256", "unknown protocol"),
        ("grr", "unknown protocol"),
    ] {
        let out = bin()
            .args([
                "explain", "--from", "client", "--to", "web", "--proto", proto,
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{proto}: {err}");
        assert!(
            err.contains(&format!("invalid value '{proto}' for '--proto <PROTO>'"))
                && err.contains(says),
            "{proto}: {err}"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn run_without_root_says_so_and_how_to_fix_it() {
    assert!(
        is_root(),
        "this test needs root to drop to an unprivileged user"
    );
    // The clone may sit in a directory the unprivileged user cannot enter
    // (root's home is 0700 on Debian): run a copy from a world-traversable one.
    let copy = unprivileged_copy_of_bin();
    let out = std::process::Command::new(&copy.0)
        .arg("run")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs root") && err.contains("sudo"), "{err}");
}

#[test]
#[ignore = "needs root"]
fn run_without_the_kernel_object_says_how_to_build_it() {
    assert!(is_root(), "needs root");
    let out = bin()
        .args(["run", "--ebpf-obj", "/nonexistent/dataplane-ebpf.o"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/dataplane-ebpf.o does not exist")
            && err.contains("cargo xtask build-ebpf"),
        "{err}"
    );
}

/// Two hosts in one subnet; `@LAB@` and `@PORT@` are replaced.
const TOPO: &str = common::TWO_HOSTS;

/// The agent as a child process, stopped by PID on drop; the lab is removed too.
fn write_config(path: &Path, lab: &str, port: &str) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(
        TOPO.replace("@LAB@", lab)
            .replace("@PORT@", port)
            .as_bytes(),
    )
    .unwrap();
}

/// [`root_lab`] with its config written, port 80.
fn root_lab_port_80(prefix: &str, file: &str) -> (String, PathBuf) {
    let (lab, file) = root_lab(prefix, file);
    write_config(&file, &lab, "80");
    (lab, file)
}

#[test]
#[ignore = "needs root"]
fn a_running_agent_reloads_on_change_and_sighup_refuses_bad_configs_and_detaches_cleanly() {
    let (lab, file) = root_lab_port_80("cli", "agent.toml");
    lab_up(&file);
    let log = tmp("agent.log");
    let _ = std::fs::remove_file(&log);
    let metrics = format!("127.0.0.1:{}", 20000 + std::process::id() % 20000);
    // Command-line flow-log settings override the config's (it has none).
    let flows_log = tmp("flows.log");
    let _ = std::fs::remove_file(&flows_log);
    let flows_log_arg = flows_log.display().to_string();
    let mut agent = AgentProc::spawn(
        &file,
        &log,
        &metrics,
        &[
            "--watch",
            "--flow-log",
            &flows_log_arg,
            "--flow-log-interval",
            "1",
        ],
    );
    agent.wait_for("metrics on http://");
    agent.assert_said(&format!("flow logs: every 1 s to {flows_log_arg}"));
    assert_eq!(
        std::fs::read_to_string(&flows_log).unwrap(),
        format!("{}\n", dataplane::flowlog::HEADER)
    );

    // stats and metrics read the running agent's pinned counters.
    let stats = bin().arg("stats").arg(&file).arg("--all").output().unwrap();
    assert_eq!(stats.status.code(), Some(0));
    let table = String::from_utf8_lossy(&stats.stdout);
    assert!(
        table.contains("PIPELINE")
            && table.contains("eni-one")
            && table.contains("\n  ingress_sg_deny                         0\n")
            && table.contains("\nFLOW TABLE\n  entries                                 0\n"),
        "{table}"
    );
    // Without --all: only the reasons that dropped something (none yet).
    let stats = bin().arg("stats").arg(&file).output().unwrap();
    let table = String::from_utf8_lossy(&stats.stdout);
    assert!(
        table.contains(&format!(
            "\nDROPS\n  ({} reasons at 0; --all lists them)\nENIS\n",
            dataplane_common::DropReason::ALL.len()
        )),
        "{table}"
    );
    let mut body = String::new();
    let mut s = std::net::TcpStream::connect(&metrics).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    for part in [
        "hyperlab_dropped_packets_total{reason=\"no_route\"} 0\n",
        "\nhyperlab_flow_table_entries 0\n",
        "\nhyperlab_flow_table_capacity_entries 262144\n",
        "Content-Type: application/openmetrics-text; version=1.0.0",
    ] {
        assert!(body.contains(part), "{body}");
    }

    // No traffic yet: an empty flow table, with its header.
    let flows = bin().arg("flows").arg(&file).output().unwrap();
    assert_eq!(flows.status.code(), Some(0));
    let flows = String::from_utf8_lossy(&flows.stdout);
    assert!(
        flows.starts_with("vpc ") && flows.ends_with("\n0 flows\n"),
        "{flows}"
    );

    // --watch: a changed file is applied...
    std::thread::sleep(Duration::from_millis(1100)); // a new mtime
    write_config(&file, &lab, "8080");
    agent.wait_for("hyperlab: reloaded");
    // ...a broken one is refused with check's diagnostics, the state kept.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        &file,
        TOPO.replace("@LAB@", &lab).replace("@PORT@", "70000"),
    )
    .unwrap();
    agent.wait_for("reload refused, the running state is unchanged");
    agent.assert_said("security_group[0].ingress[0].ports: port 70000 is out of range");
    // SIGHUP reloads too.
    write_config(&file, &lab, "80");
    let n = agent.output().matches("hyperlab: reloaded").count();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent.output().matches("hyperlab: reloaded").count() <= n {
        assert!(Instant::now() < deadline, "{}", agent.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The command line's flow-log settings are not a change of the file's.
    assert!(
        !agent.output().contains("a reload does not apply"),
        "{}",
        agent.output()
    );
    // [flow_logs] added to the file: reloaded, and the agent says a
    // restart applies it.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("\n[flow_logs]\ninterval = 5\n");
    std::fs::write(&file, text).unwrap();
    let n = agent.output().matches("hyperlab: reloaded").count();
    agent.signal(nix::sys::signal::Signal::SIGHUP);
    agent.wait_for_n("hyperlab: reloaded", n + 1);
    agent.wait_for(&format!(
        "hyperlab: a reload does not apply [flow_logs] (changed since this agent started): \
         restart the agent to apply it (`kill -TERM {}`, then `dataplane run {}`; the data \
         plane and its flows are kept)\n",
        agent.child.id(),
        file.display()
    ));
    // SIGTERM: the agent exits 0 and leaves the data plane pinned and
    // forwarding; `dataplane down` removes it, and says so.
    agent.signal(nix::sys::signal::Signal::SIGTERM);
    let status = agent.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", agent.output());
    assert!(
        agent.output().contains(&format!(
            "hyperlab: agent stopped; the data plane of lab {lab} keeps forwarding"
        )),
        "{}",
        agent.output()
    );
    let pins = PathBuf::from(format!("/sys/fs/bpf/hyperlab/{lab}"));
    assert!(
        pins.join("links").join("tc-p0").exists(),
        "links stay pinned"
    );
    let down = bin().arg("down").arg(&file).output().unwrap();
    assert_eq!(down.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&down.stdout),
        format!("lab {lab}: data plane removed (2 links detached, maps and flows dropped)\n")
    );
    assert!(!pins.exists(), "pins removed");
    let again = bin().arg("down").arg(&file).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        format!("lab {lab}: no data plane to remove\n")
    );
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&flows_log);
    drop(agent); // takes the lab down, with the config file
    let _ = std::fs::remove_file(&file);
}

/// Below debug, the kernel's per-new-flow log statement is pruned by the
/// verifier (`AYA_LOG_LEVEL` is read-only data): the loaded slow-path
/// programs (where first packets run) are smaller than with debug on, so a
/// first packet does no logging work.
#[test]
#[ignore = "needs root"]
fn below_debug_the_kernel_log_statement_is_not_in_the_loaded_program() {
    assert!(is_root(), "needs root");
    use dataplane::loader::{object_path, Dataplane, LoadOptions};
    let sizes = |level: log::LevelFilter| {
        log::set_max_level(level);
        let dp = Dataplane::load_with(&object_path().into(), &LoadOptions::default()).unwrap();
        let size = |name| {
            let p = dp.program(name).unwrap();
            p.info().unwrap().size_translated().unwrap()
        };
        (
            size(dataplane_common::programs::TC_SLOW),
            size(dataplane_common::programs::XDP_SLOW),
        )
    };
    let (debug, info) = (
        sizes(log::LevelFilter::Debug),
        sizes(log::LevelFilter::Info),
    );
    log::set_max_level(log::LevelFilter::Off);
    assert!(
        info.0 < debug.0 && info.1 < debug.1,
        "translated sizes (tc, xdp): debug {debug:?}, info {info:?}"
    );
}

/// The kernel's one log line per new flow reaches the agent's log at
/// RUST_LOG=debug, and not at the default level (that the kernel does not
/// even produce it then is `below_debug_the_kernel_log_statement_...`).
#[test]
#[ignore = "needs root"]
fn kernel_new_flow_lines_follow_the_agent_log_level() {
    let (_, file) = root_lab_port_80("clk", "klog.toml");
    lab_up(&file);
    let connect = |sport: u16| {
        // One SYN from one to two:80 (no listener: two answers RST).
        let out = bin()
            .args(["lab", "exec", "-c"])
            .arg(&file)
            .args(["one", "--", "curl", "-s", "-m", "2", "--local-port"])
            .arg(sport.to_string())
            .arg("http://10.0.1.20/")
            .output()
            .unwrap();
        // curl: 7, connection refused (the RST came back through the fabric).
        assert_eq!(out.status.code(), Some(7), "{out:?}");
    };
    let metrics = format!("127.0.0.1:{}", 20000 + (std::process::id() + 3) % 20000);
    for (level, sport, logged) in [("debug", 41001u16, true), ("info", 41002, false)] {
        let log = tmp(&format!("klog-{level}.log"));
        let _ = std::fs::remove_file(&log);
        let mut agent = AgentProc::spawn_env(
            &file,
            &log,
            &metrics,
            &[],
            &[("RUST_LOG", level.to_string())],
        );
        agent.wait_for("metrics on http://");
        connect(sport);
        let line = format!("new flow vpc 0 proto 6 10.0.1.10:{sport} -> 10.0.1.20:80");
        if logged {
            agent.wait_for(&line);
        } else {
            // Long enough for a record queued in the kernel to be printed.
            std::thread::sleep(Duration::from_millis(500));
            assert!(!agent.output().contains("new flow"), "{}", agent.output());
        }
        let _ = std::fs::remove_file(&log);
        if logged {
            // The next agent adopts the data plane with its own programs.
            agent.signal(nix::sys::signal::Signal::SIGTERM);
            agent.child.wait().unwrap();
            agent.owns_lab = false;
        } // else dropped: SIGTERM, then `lab down` removes everything.
    }
    let _ = std::fs::remove_file(&file);
}

#[test]
#[ignore = "needs root"]
fn lab_exec_names_the_hosts_when_the_host_is_unknown() {
    let (_, file) = root_lab_port_80("cle", "exec.toml");
    let out = bin()
        .args(["lab", "exec", "-c"])
        .arg(&file)
        .args(["nope", "--", "true"])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has no host \"nope\"") && err.contains("one, two"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root"]
fn a_failed_run_leaves_no_lock_behind_and_its_hint_names_the_file() {
    let (lab, file) = root_lab_port_80("clk", "failed-run.toml");
    let run_dir = Path::new("/run/hyperlab").join(&lab);
    // The lab is not up: `run` fails, says what to run, and leaves nothing.
    let err = run_refused(&file);
    assert!(
        err.contains(&format!(
            "reading the fabric ports of lab {lab}: run `dataplane lab up {}` first",
            file.display()
        )),
        "{err}"
    );
    assert!(!run_dir.exists(), "a failed run left {}", run_dir.display());
    // A lock file left by an older build is removed by `down`.
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::write(run_dir.join("agent.lock"), b"4242").unwrap();
    let out = bin().arg("down").arg(&file).output().unwrap();
    let _ = std::fs::remove_file(&file);
    let left = run_dir.exists();
    let _ = std::fs::remove_dir_all(&run_dir);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("lab {lab}: no data plane to remove\n")
    );
    assert!(!left, "`down` left {}", run_dir.display());
}

/// Runs `lab down FILE` when dropped, so a failed assertion leaves no lab.
struct LabDown<'a>(&'a Path);

impl Drop for LabDown<'_> {
    fn drop(&mut self) {
        let _ = bin().args(["lab", "down"]).arg(self.0).output();
    }
}

#[test]
#[ignore = "needs root"]
fn lab_exec_takes_the_file_positionally_and_runs_while_it_is_being_edited() {
    assert!(is_root(), "needs root");
    let lab = format!("clx{}", std::process::id() % 100_000);
    let file = tmp("exec-positional.toml");
    write_config(&file, &lab, "80");
    lab_up(&file);
    let _down = LabDown(&file);
    let exec = |args: &[&str]| {
        let mut c = bin();
        c.args(["lab", "exec"]);
        for a in args {
            if *a == "FILE" {
                c.arg(&file);
            } else {
                c.arg(a);
            }
        }
        c.output().unwrap()
    };
    // FILE HOST, like every other command; the exit code is the command's.
    let out = exec(&[
        "FILE",
        "one",
        "--",
        "sh",
        "-c",
        "ip -br -4 addr show eth0; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7));
    let addr = String::from_utf8_lossy(&out.stdout);
    assert!(addr.contains("10.0.1.10/24"), "{addr}");
    // -c FILE still works; both at once is refused.
    let out = exec(&["-c", "FILE", "two", "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", out);
    let out = exec(&["-c", "FILE", "FILE", "two", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: give the config once: as FILE before HOST, or with -c FILE, not both\n"
    );
    // Mid-edit: the file no longer parses, the lab it names is up.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("\n[[eni]\nid = \n");
    std::fs::write(&file, &text).unwrap();
    let out = exec(&["FILE", "two", "--", "echo", "still here"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "still here\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "warning: {f} does not check (`dataplane check {f}` lists why); running in lab \
             {lab}'s namespace {lab}-two, which is up\n",
            f = file.display()
        )
    );
    // A host the lab does not have: the diagnostics, exit 1.
    let out = exec(&["FILE", "nope", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TOML syntax error"),
        "{:?}",
        out
    );
    write_config(&file, &lab, "80");
    drop(_down);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_printing_command_ends_quietly_when_its_reader_is_gone() {
    use std::os::unix::process::ExitStatusExt;
    // `dataplane check ... | head -0`: the pipe's read end is closed before
    // the first line is written.
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let out = bin()
        .arg("check")
        .arg(configs().join("default.toml"))
        .stdout(std::process::Stdio::from(write))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no panic message");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}
