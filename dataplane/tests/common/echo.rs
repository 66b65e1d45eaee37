//! A line-echo server, a long connection to it and a one-shot client
//! (Python, in lab hosts): what the tests of reloads that grow a lab use to
//! show that a new host reaches a server while an established connection
//! goes on. A host added by following an account is named after its
//! instance: `wait_echoes` reaches it by namespace, not through FILE.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// A threaded TCP line-echo server on `ip:80`.
pub const ECHO_SERVER: &str = r#"
import socketserver, sys
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)
socketserver.ThreadingTCPServer.allow_reuse_address = True
s = socketserver.ThreadingTCPServer((sys.argv[1], 80), H)
print("listening", flush=True)
s.serve_forever()
"#;

/// One connection to `ip:80` kept open: a line every 50 ms, each echo
/// printed as `ok N`; any error printed as `error: ...` (then it exits).
pub const LONG_CLIENT: &str = r#"
import socket, sys, time
try:
    c = socket.create_connection((sys.argv[1], 80), timeout=5)
    f = c.makefile("rwb")
    n = 0
    while True:
        f.write(b"ping %d\n" % n); f.flush()
        if f.readline() != b"ping %d\n" % n:
            print("error: wrong echo", flush=True); sys.exit(1)
        print("ok %d" % n, flush=True)
        n += 1
        time.sleep(0.05)
except Exception as e:
    print("error: %r" % e, flush=True); sys.exit(1)
"#;

/// One connection to `ip:80`, one line echoed: prints `echoed`.
pub const ONE_SHOT: &str = r#"
import socket, sys
c = socket.create_connection((sys.argv[1], 80), timeout=1)
c.sendall(b"hello\n")
assert c.makefile("rb").readline() == b"hello\n"
print("echoed")
"#;

/// A process in host `host` of lab `lab`, killed when dropped; its stdout
/// lines are collected.
pub struct InHost {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl InHost {
    pub fn python(lab: &str, host: &str, script: &str, arg: &str) -> InHost {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &format!("{lab}-{host}"), "python3", "-c"])
            .args([script, arg])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        InHost { child, lines }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until it has printed `n` lines.
    pub fn wait_lines(&self, n: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.lines().len() < n {
            assert!(Instant::now() < deadline, "{what}: {:?}", self.lines());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for 20 lines past the first `before` and asserts that every
    /// line so far is `ok ...`: a long connection that went on unharmed.
    pub fn went_on(&self, before: usize, what: &str) {
        self.wait_lines(before + 20, what);
        assert!(
            self.lines().iter().all(|l| l.starts_with("ok ")),
            "{:?}",
            self.lines()
        );
    }
}

impl Drop for InHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a [`ONE_SHOT`] from host `host` of lab `lab` to `ip:80` echoes.
pub fn echoes(lab: &str, host: &str, ip: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", &format!("{lab}-{host}"), "python3", "-c"])
        .args([ONE_SHOT, ip])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.stdout == b"echoed\n")
}

/// Polls [`echoes`] until it does, at most `within`; returns how long it
/// took.
pub fn wait_echoes(lab: &str, host: &str, ip: &str, within: Duration) -> Duration {
    let start = Instant::now();
    while !echoes(lab, host, ip) {
        assert!(
            start.elapsed() < within,
            "host {host} of lab {lab} never reached {ip}:80 within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}
