//! The `dataplane` binary on its own (issue 15 item 5): copied out of the
//! build tree into a fresh directory, without `$HYPERLAB_EBPF_OBJ` and with
//! no kernel object beside it, it checks a config, builds the lab, runs the
//! data plane from the object built into it, and carries a request through
//! a PrivateLink endpoint; then it tears everything down (on failure too).
//!
//! Runs with `cargo xtask test` (needs root).

use std::{
    io::Read,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

mod common;
use common::is_root;

/// A temp directory holding a copy of the binary, a config, logs and the
/// processes started from them; dropping it stops the processes (by their
/// process group), takes the lab down and removes the directory.
struct Standalone {
    dir: PathBuf,
    bin: PathBuf,
    config: PathBuf,
    children: Vec<Child>,
    lab_up: bool,
}

impl Standalone {
    fn new(lab: &str) -> Standalone {
        let dir = std::env::temp_dir().join(format!("hyperlab-standalone-{}", std::process::id()));
        let bin = common::copy_of_bin_in(&dir);
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/privatelink.toml");
        let text = std::fs::read_to_string(shipped).unwrap();
        let named = text.replacen("name = \"plink\"", &format!("name = \"{lab}\""), 1);
        assert_ne!(named, text, "privatelink.toml names its lab \"plink\"");
        let config = dir.join("privatelink.toml");
        std::fs::write(&config, named).unwrap();
        Standalone {
            dir,
            bin,
            config,
            children: Vec::new(),
            lab_up: false,
        }
    }

    /// The copied binary, run from the temp directory, without the
    /// environment that points tests at the build tree's kernel object.
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.current_dir(&self.dir)
            .env_remove("HYPERLAB_EBPF_OBJ")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Starts `args` in the background in its own process group, its
    /// output in `log` (in the temp directory).
    fn spawn(&mut self, args: &[&str], log: &str) -> PathBuf {
        let log = self.dir.join(log);
        let out = std::fs::File::create(&log).unwrap();
        let child = self
            .cmd()
            .args(args)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap();
        self.children.push(child);
        log
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        // The agent first (SIGTERM: it detaches and removes its pins when
        // the lab goes), then the servers; each is its own process group.
        for child in self.children.iter_mut().rev() {
            let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
        if self.lab_up {
            let config = self.config.display().to_string();
            let _ = self.run(&["lab", "down", &config]);
            let _ = self.run(&["down", &config]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read(path: &Path) -> String {
    let mut s = String::new();
    let _ = std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut s));
    s
}

fn text(o: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
#[ignore = "needs root"]
fn a_copy_of_the_binary_runs_anywhere_on_its_embedded_kernel_object() {
    assert!(is_root(), "needs root");
    let lab = format!("sa{}", std::process::id() % 100_000);
    let mut s = Standalone::new(&lab);
    // Nothing but the binary and the config: no kernel object to find.
    let mut files: Vec<String> = std::fs::read_dir(&s.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["dataplane", "privatelink.toml"]);
    let config = s.config.display().to_string();

    let check = s.run(&["check", &config]);
    assert_eq!(check.status.code(), Some(0), "check: {}", text(&check));

    s.lab_up = true;
    let up = s.run(&["lab", "up", &config]);
    assert_eq!(up.status.code(), Some(0), "lab up: {}", text(&up));

    // Both targets of the endpoint's NLB serve HTTP on 8080.
    let mut server_logs = Vec::new();
    for (host, ip) in [("web1", "10.0.1.21"), ("web2", "10.0.2.22")] {
        server_logs.push(s.spawn(
            &[
                "lab",
                "exec",
                "-c",
                &config,
                host,
                "--",
                "python3",
                "-c",
                dataplane::lab::PEER_HTTP_SERVER,
                ip,
                "8080",
                host,
            ],
            &format!("{host}.log"),
        ));
    }

    let port = 20000 + (std::process::id() + 7) % 20000;
    let metrics = format!("127.0.0.1:{port}");
    let agent_log = s.spawn(&["run", &config, "--metrics", &metrics], "agent.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !read(&agent_log).contains("metrics on http://") {
        assert!(
            Instant::now() < deadline,
            "the agent never became ready:\n{}",
            read(&agent_log)
        );
        if let Some(status) = s.children.last_mut().unwrap().try_wait().unwrap() {
            panic!("the agent exited ({status}):\n{}", read(&agent_log));
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // consumer -> vpce-web (10.0.1.100) tcp/80 -> nlb-web -> web1 or web2
    // :8080, which sees the NLB node's address. Polled: the servers start
    // and the targets pass their health checks meanwhile.
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let curl = s.run(&[
            "lab",
            "exec",
            "-c",
            &config,
            "consumer",
            "--",
            "curl",
            "-s",
            "-m",
            "2",
            "http://10.0.1.100/",
        ]);
        let body = String::from_utf8_lossy(&curl.stdout).into_owned();
        if curl.status.success() && body.starts_with("server=web") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no answer through the endpoint: {}\nagent:\n{}\nweb1:\n{}\nweb2:\n{}",
            text(&curl),
            read(&agent_log),
            read(&server_logs[0]),
            read(&server_logs[1])
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        answer.contains("peer=10.0.1.50:") || answer.contains("peer=10.0.2.50:"),
        "the target must see an NLB node's address: {answer}"
    );
    drop(s);
    assert!(
        !Path::new("/run/netns")
            .join(format!("{lab}-fabric"))
            .exists(),
        "the lab is gone after the test"
    );
}
