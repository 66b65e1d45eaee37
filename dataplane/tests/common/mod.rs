//! Shared by the `dataplane` binary's integration tests: the binary, temp
//! files, and an agent process whose output is kept in a log file.
#![allow(dead_code)]

pub mod echo;

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Two hosts in one subnet (`@LAB@`, `@PORT@`): tests/fixtures/two-hosts.toml.
pub const TWO_HOSTS: &str = include_str!("../../../tests/fixtures/two-hosts.toml");

/// [`TWO_HOSTS`] with tcp/80 allowed between them; `@LAB@` is replaced.
pub fn two_hosts_port_80(lab: &str) -> String {
    TWO_HOSTS.replace("\"@PORT@\"", "80").replace("@LAB@", lab)
}

/// The HTTP server on host `two` of lab `lab` (10.0.1.20:80), killed by
/// PID when dropped (`ip netns exec` replaces itself with the server, so
/// the PID is the server's).
pub struct ServerOnTwo(Child);

impl ServerOnTwo {
    pub fn start(lab: &str) -> ServerOnTwo {
        ServerOnTwo(
            Command::new("ip")
                .args(["netns", "exec", &format!("{lab}-two"), "python3", "-c"])
                .arg(dataplane::lab::PEER_HTTP_SERVER)
                .args(["10.0.1.20", "80", "two"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for ServerOnTwo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `dataplane lab exec FLAGS FILE one -- curl` of [`ServerOnTwo`] (2 s at
/// the most).
pub fn curl_one_to_two(file: &Path, flags: &[&str]) -> std::process::Output {
    bin()
        .args(["lab", "exec"])
        .args(flags)
        .arg(file)
        .args([
            "one",
            "--",
            "curl",
            "-sS",
            "--max-time",
            "2",
            "http://10.0.1.20:80/",
        ])
        .output()
        .unwrap()
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dataplane"))
}

pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// A root test's lab name (`prefix` and this process's id) and its config
/// file (the temp file `file`); fails loudly (never skips) without root.
pub fn root_lab(prefix: &str, file: &str) -> (String, PathBuf) {
    assert!(is_root(), "needs root");
    // Lab names have at most 12 characters; a process id has up to 5.
    assert!(prefix.len() <= 7, "lab prefix {prefix:?} over 7 characters");
    (
        format!("{prefix}{}", std::process::id() % 100_000),
        tmp(file),
    )
}

/// [`root_lab`] with its config file written: [`two_hosts_port_80`].
pub fn root_two_hosts(prefix: &str, file: &str) -> (String, PathBuf) {
    let (lab, file) = root_lab(prefix, file);
    std::fs::write(&file, two_hosts_port_80(&lab)).unwrap();
    (lab, file)
}

/// `dataplane run FILE` that must fail (exit 1) before it serves anything
/// (its metrics address cannot be bound); returns its stderr.
pub fn run_refused(file: &Path) -> String {
    let out = bin()
        .arg("run")
        .arg(file)
        .args(["--metrics", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hyperlab-cli-{}-{name}", std::process::id()))
}

/// `dataplane lab up FILE`, which must succeed.
pub fn lab_up(file: &Path) {
    let up = bin().args(["lab", "up"]).arg(file).output().unwrap();
    assert_eq!(
        up.status.code(),
        Some(0),
        "lab up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
}

/// A `dataplane run FILE` process; its stdout and stderr go to `log`.
/// Dropping it stops it (SIGTERM) and removes the lab and its data plane.
pub struct AgentProc {
    pub child: Child,
    pub file: PathBuf,
    pub log: PathBuf,
    /// Whether dropping it also takes the lab down.
    pub owns_lab: bool,
}

impl AgentProc {
    /// Starts `dataplane run FILE --metrics ADDR [extra...]`, appending to `log`.
    pub fn spawn(file: &Path, log: &Path, metrics: &str, extra: &[&str]) -> AgentProc {
        Self::spawn_env(file, log, metrics, extra, &[])
    }

    /// [`AgentProc::spawn`] with extra environment variables.
    pub fn spawn_env(
        file: &Path,
        log: &Path,
        metrics: &str,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> AgentProc {
        let out = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = bin()
            .arg("run")
            .arg(file)
            .args(["--metrics", metrics])
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        AgentProc {
            child,
            file: file.to_path_buf(),
            log: log.to_path_buf(),
            owns_lab: true,
        }
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    pub fn output(&self) -> String {
        let mut s = String::new();
        let _ = std::fs::File::open(&self.log).and_then(|mut f| f.read_to_string(&mut s));
        s
    }

    /// Waits until the log holds `what` at least `n` times.
    pub fn wait_for_n(&self, what: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.output().matches(what).count() < n {
            assert!(
                Instant::now() < deadline,
                "agent never printed {what:?} {n} times:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_for(&self, what: &str) {
        self.wait_for_n(what, 1)
    }

    /// Asserts that the log holds `what` (the log shown otherwise).
    pub fn assert_said(&self, what: &str) {
        assert!(self.output().contains(what), "{}", self.output());
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(self.pid(), sig).unwrap();
    }

    /// SIGKILL, and reap it.
    pub fn kill9(mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
        self.owns_lab = false;
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM);
            let _ = self.child.wait();
        }
        if self.owns_lab {
            let _ = bin().args(["lab", "down"]).arg(&self.file).output();
        }
    }
}

/// A copy of the `dataplane` binary in a fresh world-traversable directory
/// under the system temp dir, removed when dropped. Tests that drop
/// privileges run it, because the clone (and its `target/`) may sit under a
/// directory only root may enter, such as Debian's 0700 `/root`.
pub struct BinCopy(pub PathBuf, PathBuf);

pub fn unprivileged_copy_of_bin() -> BinCopy {
    let dir = tmp("bin");
    BinCopy(copy_of_bin_in(&dir), dir)
}

/// Makes `dir` afresh (world-traversable) and copies the `dataplane` binary
/// into it (world-executable); returns the copy's path.
pub fn copy_of_bin_in(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("dataplane");
    std::fs::copy(env!("CARGO_BIN_EXE_dataplane"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

impl Drop for BinCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.1);
    }
}
