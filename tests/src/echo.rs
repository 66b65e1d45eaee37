//! A line-echo server and client for e2e tests that keep one TCP
//! connection open across a reload: the client prints `ok N` per echoed
//! line, so a cut connection shows as missing lines.

use std::time::{Duration, Instant};

use crate::HostProcess;

/// An echo server on `ip:port`: prints "listening", echoes one client.
pub const ECHO_SERVER: &str = r#"
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen()
print("listening", flush=True)
c, _ = l.accept()
while True:
    d = c.recv(100)
    if not d:
        break
    c.sendall(d)
"#;

/// One connection; every 0.2 s a segment, and "ok N" when its echo came
/// back (or "timeout N" after 0.5 s).
pub const ECHO_CLIENT: &str = r#"
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
s.settimeout(0.5)
i = 0
while True:
    i += 1
    try:
        s.sendall(b"x%d\n" % i)
        d = s.recv(100)
        print(("ok %d" if d else "closed %d") % i, flush=True)
        if not d:
            break
    except socket.timeout:
        print("timeout %d" % i, flush=True)
    except OSError as e:
        print("error %d %s" % (i, e), flush=True)
        break
    time.sleep(0.2)
"#;

/// The `ok` lines `p` printed.
pub fn oks(p: &HostProcess) -> usize {
    p.output().lines().filter(|l| l.starts_with("ok ")).count()
}

/// Polls until `p` printed `n` more "ok" lines than `from`, or `timeout`.
pub fn wait_oks(p: &HostProcess, from: usize, n: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if oks(p) >= from + n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
