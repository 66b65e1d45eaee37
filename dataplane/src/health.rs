//! NLB target health checks, probed from inside each target's own host
//! network namespace.
//!
//! A probe runs on a thread that has entered the target host's namespace
//! (`/run/netns/<ns>`) and connects to the target's own address there, so
//! probes never cross the data plane (whose security groups would otherwise
//! have to admit the prober). A probe is a TCP connect, or an HTTP/1.0
//! `GET path` healthy on a 2xx/3xx status; either is bounded by the check's
//! `timeout_ms`.
//!
//! [`Tracker`] is the pure threshold state machine; [`HealthChecker`] runs
//! one probing thread per target and reports state changes on a channel.
//! Taking unhealthy targets out of selection (recomputing the Maglev tables,
//! rewriting kernel maps) is the receiver's job.

use std::{
    io::{Read, Write},
    net::{SocketAddr, SocketAddrV4, TcpStream},
    os::unix::fs::MetadataExt,
    sync::{mpsc::Sender, Arc, Condvar, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use nix::sched::{setns, CloneFlags};

use crate::{
    model::{HealthCheck, HealthProtocol},
    netns,
};

/// One target to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The caller's id of the target, echoed in state-change events.
    pub key: usize,
    /// The target host's network namespace (a name under `/run/netns`).
    pub netns: String,
    /// The target's address (its ENI address and traffic port). The check's
    /// `port`, when set, replaces the port.
    pub addr: SocketAddrV4,
    pub check: HealthCheck,
}

/// Threshold state machine of one target.
///
/// Starts **healthy**: AWS keeps a new target in `initial` until it passes
/// `healthy_threshold` checks, but in the lab we want traffic to flow as soon
/// as the data plane is up, and a target that is in fact down is taken out
/// after `unhealthy_threshold` failed probes. A healthy target becomes
/// unhealthy after `unhealthy_threshold` consecutive failures, an unhealthy
/// one healthy again after `healthy_threshold` consecutive successes. A
/// threshold of 0 counts as 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracker {
    healthy: bool,
    /// Consecutive results contradicting the current state.
    streak: u32,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
}

impl Tracker {
    pub fn new(check: &HealthCheck) -> Self {
        Tracker {
            healthy: true,
            streak: 0,
            healthy_threshold: check.healthy_threshold.max(1),
            unhealthy_threshold: check.unhealthy_threshold.max(1),
        }
    }

    /// Records one probe result; returns the new state if it changed.
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        if ok == self.healthy {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let threshold = if ok {
            self.healthy_threshold
        } else {
            self.unhealthy_threshold
        };
        if self.streak < threshold {
            return None;
        }
        self.healthy = ok;
        self.streak = 0;
        Some(ok)
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }
}

/// Probes `addr` (its port replaced by the check's `port`, if set) once
/// from inside namespace `netns`. `Ok` means the probe passed.
pub fn probe_once(netns: &str, addr: SocketAddrV4, check: &HealthCheck) -> Result<()> {
    let check = check.clone();
    netns::run_in(netns, move || probe_here(addr, &check))
        .with_context(|| format!("health check of {addr} in namespace {netns}"))
}

/// Probes from the calling thread's network namespace.
fn probe_here(addr: SocketAddrV4, check: &HealthCheck) -> Result<()> {
    let addr = SocketAddrV4::new(*addr.ip(), check.port.unwrap_or(addr.port()));
    let timeout = Duration::from_millis(u64::from(check.timeout_ms.max(1)));
    let deadline = Instant::now() + timeout;
    let stream = TcpStream::connect_timeout(&SocketAddr::V4(addr), timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    match &check.protocol {
        HealthProtocol::Tcp => Ok(()),
        HealthProtocol::Http { path } => http_get(stream, addr, path, deadline),
    }
}

/// Sends `GET path HTTP/1.0` and checks the status line: 2xx/3xx passes.
fn http_get(
    mut stream: TcpStream,
    addr: SocketAddrV4,
    path: &str,
    deadline: Instant,
) -> Result<()> {
    if path.chars().any(|c| c.is_ascii_control() || c == ' ') {
        bail!("health check path {path:?} contains spaces or control characters");
    }
    let slash = if path.starts_with('/') { "" } else { "/" };
    let request = format!(
        "GET {slash}{path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: hyperlab-health-check\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    set_timeouts(&stream, deadline)?;
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("sending the request to {addr}"))?;
    // Read until the end of the status line; the rest does not matter.
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') {
        set_timeouts(&stream, deadline)?;
        let n = stream
            .read(&mut buf)
            .with_context(|| format!("reading the response from {addr}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 4096 {
            break;
        }
    }
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let line = line.trim_end();
    let status =
        parse_status(line).with_context(|| format!("bad HTTP status line {line:?} from {addr}"))?;
    if (200..400).contains(&status) {
        Ok(())
    } else {
        bail!("{addr} answered {line:?}")
    }
}

/// The status code of an `HTTP/1.x NNN reason` line.
fn parse_status(line: &str) -> Option<u16> {
    let mut words = line.split_ascii_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// Bounds the next read or write by what is left until `deadline`.
fn set_timeouts(stream: &TcpStream, deadline: Instant) -> Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        bail!("timed out");
    }
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))?;
    Ok(())
}

/// Set by [`HealthChecker::stop`]; the probing loops wait on the condvar.
#[derive(Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl StopSignal {
    /// Waits until `until` or a stop request; true if stopped.
    fn wait_until(&self, until: Instant) -> bool {
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if *stopped {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }
}

/// Runs the probing loops: one thread per probe, each living in its
/// target's namespace. Stops and joins them on [`stop`](Self::stop) or drop;
/// a probe in flight finishes first (bounded by its `timeout_ms`), but no
/// loop sleeps out its interval once stopping was requested.
pub struct HealthChecker {
    signal: Arc<StopSignal>,
    threads: Vec<JoinHandle<()>>,
}

impl HealthChecker {
    /// Starts one probing loop per probe, probing at once and then every
    /// `interval_ms` (at least 1 ms; measured from the start of one probe to
    /// the next). Every target starts healthy (see [`Tracker`]); each state
    /// change is sent as `(key, healthy)` on `tx`. A namespace that does not
    /// exist (yet) counts as a failed probe. A loop ends by itself when the
    /// receiver of `tx` is gone.
    ///
    /// Entering a namespace needs `CAP_SYS_ADMIN`.
    pub fn start(probes: Vec<Probe>, tx: Sender<(usize, bool)>) -> HealthChecker {
        let signal = Arc::new(StopSignal::default());
        let threads = probes
            .into_iter()
            .map(|probe| {
                let signal = signal.clone();
                let tx = tx.clone();
                std::thread::Builder::new()
                    .name(format!("health-{}", probe.key))
                    .spawn(move || probe_loop(probe, &signal, &tx))
                    .expect("spawning a health-check thread")
            })
            .collect();
        HealthChecker { signal, threads }
    }

    pub fn stop(self) {
        // Drop does the work.
    }

    fn stop_and_join(&mut self) {
        self.signal.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn probe_loop(probe: Probe, signal: &StopSignal, tx: &Sender<(usize, bool)>) {
    let interval = Duration::from_millis(u64::from(probe.check.interval_ms.max(1)));
    let mut tracker = Tracker::new(&probe.check);
    // (device, inode) of the namespace this thread is in, once entered.
    let mut entered: Option<(u64, u64)> = None;
    let mut next = Instant::now();
    loop {
        if signal.is_stopped() {
            return;
        }
        let result =
            enter(&probe.netns, &mut entered).and_then(|()| probe_here(probe.addr, &probe.check));
        if let Err(e) = &result {
            log::debug!("target {} ({}): {e:#}", probe.key, probe.addr);
        }
        if let Some(healthy) = tracker.record(result.is_ok()) {
            let state = if healthy { "healthy" } else { "unhealthy" };
            match &result {
                Ok(()) => log::info!("target {} ({}) is {state}", probe.key, probe.addr),
                Err(e) => log::info!("target {} ({}) is {state}: {e:#}", probe.key, probe.addr),
            }
            if tx.send((probe.key, healthy)).is_err() {
                return;
            }
        }
        next += interval;
        let now = Instant::now();
        if next < now {
            // A probe outlasted the interval: do not try to catch up.
            next = now;
        }
        if signal.wait_until(next) {
            return;
        }
    }
}

/// Makes the calling thread be in namespace `name`, entering it again if
/// the name now refers to a different namespace (the lab was rebuilt).
fn enter(name: &str, entered: &mut Option<(u64, u64)>) -> Result<()> {
    let path = netns::path(name);
    let meta = std::fs::metadata(&path)
        .with_context(|| format!("network namespace {name} ({}) is gone", path.display()))?;
    let id = (meta.dev(), meta.ino());
    if *entered == Some(id) {
        return Ok(());
    }
    let file = netns::open(name)?;
    setns(&file, CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("setns into network namespace {name}"))?;
    *entered = Some(id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        net::{Ipv4Addr, TcpListener},
        sync::{
            atomic::{AtomicBool, Ordering},
            mpsc,
        },
    };

    fn check(protocol: HealthProtocol, healthy: u32, unhealthy: u32) -> HealthCheck {
        HealthCheck {
            protocol,
            port: None,
            interval_ms: 100,
            timeout_ms: 300,
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
        }
    }

    fn http(path: &str) -> HealthProtocol {
        HealthProtocol::Http {
            path: path.to_string(),
        }
    }

    #[test]
    fn health_tracker_thresholds() {
        let mut t = Tracker::new(&check(HealthProtocol::Tcp, 3, 2));
        assert!(t.healthy());
        // Successes while healthy: no events.
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), None);
        // One failure, then a success resets the streak.
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(false), None);
        assert!(t.healthy());
        assert_eq!(t.record(false), Some(false));
        assert!(!t.healthy());
        // More failures while unhealthy: no events.
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        // Three successes to come back; a failure in between restarts.
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), None);
        assert!(!t.healthy());
        assert_eq!(t.record(true), Some(true));
        assert!(t.healthy());
        assert_eq!(t.record(true), None);
    }

    #[test]
    fn health_tracker_threshold_one_and_zero() {
        for th in [0, 1] {
            let mut t = Tracker::new(&check(HealthProtocol::Tcp, th, th));
            assert_eq!(t.record(false), Some(false));
            assert_eq!(t.record(false), None);
            assert_eq!(t.record(true), Some(true));
            assert_eq!(t.record(true), None);
        }
    }

    #[test]
    fn health_status_lines() {
        assert_eq!(parse_status("HTTP/1.0 200 OK"), Some(200));
        assert_eq!(parse_status("HTTP/1.1 302 Found"), Some(302));
        assert_eq!(parse_status("HTTP/1.1 500"), Some(500));
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status("HTTP/1.1 20"), None);
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn health_probe_in_missing_namespace_fails() {
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80);
        let c = check(HealthProtocol::Tcp, 1, 1);
        assert!(probe_once("hlhc-does-not-exist", addr, &c).is_err());
    }

    #[test]
    fn health_checker_stops_promptly() {
        // Long interval; the namespace does not exist, so each probe fails at
        // once and the loop then waits out the interval.
        let mut c = check(HealthProtocol::Tcp, 1, 1);
        c.interval_ms = 60_000;
        let (tx, rx) = mpsc::channel();
        let probes = vec![Probe {
            key: 3,
            netns: "hlhc-does-not-exist".to_string(),
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80),
            check: c,
        }];
        let hc = HealthChecker::start(probes, tx);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok((3, false)));
        let t0 = Instant::now();
        hc.stop();
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        // All senders are gone with the threads.
        assert_eq!(rx.recv(), Err(mpsc::RecvError));
    }

    // ---- root tests: a namespace of our own, with a server on its lo ----

    /// Deletes the namespace when dropped, even if the test failed.
    struct Ns(String);

    impl Ns {
        fn new(tag: &str) -> Ns {
            let name = format!("hlhc{}{tag}", std::process::id());
            let _ = netns::delete(&name);
            netns::create(&name).expect("creating the test namespace");
            let ns = Ns(name);
            let argv: Vec<String> = ["ip", "link", "set", "lo", "up"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let (mut cmd, _file) = netns::command(&ns.0, &argv).unwrap();
            let status = cmd.status().expect("running ip");
            assert!(status.success(), "ip link set lo up: {status}");
            ns
        }

        /// A listener on 127.0.0.1:`port` (0: any) inside the namespace; the
        /// socket stays in it whichever thread uses it.
        fn listen(&self, port: u16) -> TcpListener {
            netns::run_in(&self.0, move || {
                Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, port))?)
            })
            .unwrap()
        }
    }

    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = netns::delete(&self.0);
        }
    }

    /// Answers every request with `status` until dropped; then the listener
    /// is closed.
    struct Server {
        port: u16,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Server {
        fn start(listener: TcpListener, status: &'static str) -> Server {
            let port = listener.local_addr().unwrap().port();
            listener.set_nonblocking(true).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let stopping = stop.clone();
            let thread = std::thread::spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut s, _)) => {
                            s.set_nonblocking(false).unwrap();
                            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                            let mut req = Vec::new();
                            let mut buf = [0u8; 512];
                            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                                match s.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => req.extend_from_slice(&buf[..n]),
                                }
                            }
                            let _ = write!(s, "HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n");
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(e) => panic!("accept: {e}"),
                    }
                }
            });
            Server {
                port,
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn local(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
    }

    #[test]
    #[ignore = "needs root"]
    fn health_probe_once_tcp() {
        let ns = Ns::new("t");
        let c = check(HealthProtocol::Tcp, 1, 1);
        let listener = ns.listen(0);
        let port = listener.local_addr().unwrap().port();
        probe_once(&ns.0, local(port), &c).expect("tcp probe of a listener");
        // The check's port overrides the target's.
        let mut other = c.clone();
        other.port = Some(port);
        probe_once(&ns.0, local(1), &other).expect("tcp probe on the check's port");
        drop(listener);
        let e = probe_once(&ns.0, local(port), &c).unwrap_err();
        assert!(format!("{e:#}").contains("refused"), "{e:#}");
        // The root namespace's loopback is not probed: a listener there on
        // the same port does not make the probe pass.
        if let Ok(root) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            assert!(probe_once(&ns.0, local(port), &c).is_err());
            drop(root);
        }
    }

    #[test]
    #[ignore = "needs root"]
    fn health_probe_once_http() {
        let ns = Ns::new("h");
        let c = check(http("/healthz"), 1, 1);
        let ok = Server::start(ns.listen(0), "200 OK");
        probe_once(&ns.0, local(ok.port), &c).expect("http probe of a 200");
        let moved = Server::start(ns.listen(0), "301 Moved Permanently");
        probe_once(&ns.0, local(moved.port), &c).expect("http probe of a 301");
        let bad = Server::start(ns.listen(0), "500 Internal Server Error");
        let e = probe_once(&ns.0, local(bad.port), &c).unwrap_err();
        assert!(format!("{e:#}").contains("500"), "{e:#}");
        let missing = Server::start(ns.listen(0), "404 Not Found");
        assert!(probe_once(&ns.0, local(missing.port), &c).is_err());
        // Listening (the kernel completes the handshake) but never answering.
        let silent = ns.listen(0);
        let port = silent.local_addr().unwrap().port();
        let t0 = Instant::now();
        let e = probe_once(&ns.0, local(port), &c).unwrap_err();
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(2),
            "{took:?}: {e:#}"
        );
        // Not an HTTP server at all.
        drop(silent);
        assert!(probe_once(&ns.0, local(port), &c).is_err());
    }

    #[test]
    #[ignore = "needs root"]
    fn health_checker_reports_changes() {
        let ns = Ns::new("c");
        let server = Server::start(ns.listen(0), "200 OK");
        let port = server.port;
        let (tx, rx) = mpsc::channel();
        let probes = vec![
            Probe {
                key: 7,
                netns: ns.0.clone(),
                addr: local(port),
                check: check(HealthProtocol::Tcp, 2, 2),
            },
            Probe {
                key: 8,
                netns: ns.0.clone(),
                addr: local(port),
                check: check(http("/"), 1, 1),
            },
        ];
        let hc = HealthChecker::start(probes, tx);
        let events = |n: usize| {
            let mut got: Vec<(usize, bool)> = (0..n)
                .map(|_| rx.recv_timeout(Duration::from_secs(5)).expect("an event"))
                .collect();
            got.sort();
            got
        };
        // Healthy from the start: no events while the server is up.
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(500)),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        drop(server);
        assert_eq!(events(2), vec![(7, false), (8, false)]);
        let server = Server::start(ns.listen(port), "200 OK");
        assert_eq!(events(2), vec![(7, true), (8, true)]);
        // Stable again: nothing more.
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(500)),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        let t0 = Instant::now();
        hc.stop();
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        drop(server);
    }
}
