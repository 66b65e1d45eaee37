//! The bench's own namespaces and processes, each removed or killed (by PID)
//! when its guard drops, also on failure; commands run inside a namespace;
//! machine facts for the report.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use dataplane::netns;

use super::report::Machine;

/// A network namespace this run created; deleted (with its interfaces) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(name: &str) -> Result<Netns> {
        // Left over from an interrupted run of the same PID: start clean.
        netns::delete(name)?;
        netns::create(name)?;
        let ns = Netns { name: name.into() };
        ip(&ns.name, &["link", "set", "lo", "up"])?;
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = netns::delete(&self.name) {
            eprintln!("warning: removing namespace {}: {e:#}", self.name);
        }
    }
}

/// A unique, short name for this run's namespaces: `hlb<pid><tag>`.
pub fn ns_name(tag: &str) -> String {
    format!("hlb{}{tag}", std::process::id() % 100_000)
}

/// `ip -n NS args...`
pub fn ip(ns: &str, args: &[&str]) -> Result<()> {
    let mut cmd = Command::new("ip");
    cmd.arg("-n").arg(ns).args(args);
    run(&mut cmd)
}

/// Runs `argv` inside namespace `ns` to completion; fails on a non-zero exit
/// with its stderr. Returns stdout.
pub fn in_ns(ns: &str, argv: &[&str]) -> Result<String> {
    in_ns_with(ns, argv, Stdio::null())
}

/// [`in_ns`] with `stdin` as the command's standard input.
fn in_ns_with(ns: &str, argv: &[&str], stdin: Stdio) -> Result<String> {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let (mut cmd, _file) = netns::command(ns, &argv)?;
    let out = cmd
        .stdin(stdin)
        .output()
        .with_context(|| format!("running {argv:?} in {ns}"))?;
    if !out.status.success() {
        bail!(
            "`{}` in namespace {ns} failed ({}): {}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Like [`in_ns`] with a file on stdin.
pub fn in_ns_stdin(ns: &str, argv: &[&str], stdin: &str) -> Result<String> {
    let path = std::env::temp_dir().join(format!("hlb-{}-stdin", std::process::id()));
    std::fs::write(&path, stdin).with_context(|| format!("writing {}", path.display()))?;
    let out = std::fs::File::open(&path)
        .map_err(anyhow::Error::from)
        .and_then(|f| in_ns_with(ns, argv, f.into()));
    let _ = std::fs::remove_file(&path);
    out
}

fn run(cmd: &mut Command) -> Result<()> {
    let line = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("running {line}"))?;
    if !out.status.success() {
        bail!(
            "{line} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A process started inside a namespace, killed (by its PID) and reaped on
/// drop. Its stdout goes to a file.
pub struct NsProcess {
    child: Child,
    log: PathBuf,
}

impl NsProcess {
    pub fn spawn(ns: &str, argv: &[&str]) -> Result<NsProcess> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let log = std::env::temp_dir().join(format!(
            "hlb-{}-{}.out",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let argv_s: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let (mut cmd, _file) = netns::command(ns, &argv_s)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {argv:?} in {ns}"))?;
        Ok(NsProcess { child, log })
    }

    /// Waits up to `timeout` for the process to exit; `false` if it did not.
    pub fn wait_timeout(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NsProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Waits until something listens on TCP `port` inside namespace `ns`, read
/// from that namespace's /proc/net/tcp (no probe connection: a one-off
/// iperf3 server would take it for its test).
pub fn wait_tcp_listen(ns: &str, port: u16, timeout: Duration) -> Result<()> {
    let end = Instant::now() + timeout;
    loop {
        let found = netns::run_in(ns, move || {
            // Dual-stack sockets (iperf3's default where IPv6 is on) are in tcp6.
            let mut any = false;
            for table in ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"] {
                let t = std::fs::read_to_string(table).unwrap_or_default();
                any |= t.lines().skip(1).any(|l| listens_on(l, port));
            }
            Ok(any)
        })?;
        if found {
            return Ok(());
        }
        if Instant::now() > end {
            bail!("nothing listens on tcp port {port} in {ns} after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A /proc/net/tcp{,6} line of a socket listening on `port`.
fn listens_on(line: &str, port: u16) -> bool {
    let f: Vec<&str> = line.split_whitespace().collect();
    f.len() > 3
        && f[3] == "0A"
        && f[1]
            .rsplit_once(':')
            .is_some_and(|(_, p)| u16::from_str_radix(p, 16) == Ok(port))
}

/// Pins the calling thread to one CPU.
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    use nix::sched::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    set.set(cpu).context("cpu index")?;
    sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).context("sched_setaffinity")?;
    Ok(())
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    // The first line that starts with `key`: its value after the colon.
    let field = |key: &str| {
        cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.split_once(':')))
            .map(|(_, v)| v)
    };
    let cpu = field("model name")
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let flags = field("flags").map(|v| v.to_string()).unwrap_or_default();
    let hv = if flags.split_whitespace().any(|f| f == "hypervisor") {
        ", virtual machine"
    } else {
        ""
    };
    let mhz = field("cpu MHz")
        .map(|v| v.trim().to_string())
        .map(|m| format!(", {m} MHz"))
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let kernel = Command::new("uname")
        .arg("-a")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    Machine {
        cpu: format!("{cpu}{mhz}{hv}"),
        cpus,
        kernel,
        memory,
        load_start: loadavg(),
        load_end: String::new(),
    }
}

/// The first four fields of /proc/loadavg.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(4)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `YYYY-MM-DD HH:MM UTC`
pub fn date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
