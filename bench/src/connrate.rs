//! Part 4's TCP connection rate: a client that opens connections one after
//! the other as fast as it can, each a whole TCP life (handshake, the
//! server closes, the client reads the end and closes), through hyperlab's
//! TC hook, a bare veth pair and netfilter NAT (issue 22, part 3).

use std::{
    io::Read,
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use dataplane::netns;

/// The listening port (the bench lab's security groups and listeners admit it).
pub const PORT: u16 = 5201;

/// What one measurement found.
#[derive(Clone, Debug)]
pub struct Rate {
    /// Connections per second the client completed.
    pub per_sec: f64,
    pub connections: u64,
    /// Connections the server accepted from an address other than `peer`.
    pub wrong_peer: u64,
    /// The first such address.
    pub seen: Option<Ipv4Addr>,
}

/// Connects from `client_ns` to `target:PORT` for `secs`, one connection at
/// a time; the server in `server_ns` accepts, checks each peer address is
/// `peer` and closes first.
pub fn measure(
    client_ns: &str,
    server_ns: &str,
    target: Ipv4Addr,
    peer: Ipv4Addr,
    secs: f64,
) -> Result<Rate> {
    let listener = netns::scoped_in(server_ns, || {
        let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT))
            .context("binding the connect-rate server")?;
        Ok(l)
    })?;
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let server = s.spawn(|| -> (u64, u64, Option<Ipv4Addr>) {
            let (mut n, mut wrong, mut seen) = (0u64, 0u64, None);
            while let Ok((stream, from)) = listener.accept() {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                n += 1;
                if let SocketAddr::V4(a) = from {
                    if *a.ip() != peer {
                        wrong += 1;
                        seen.get_or_insert(*a.ip());
                    }
                }
                drop(stream);
            }
            (n, wrong, seen)
        });
        let client = netns::scoped_in(client_ns, || -> Result<(u64, f64)> {
            let to = SocketAddr::from((target, PORT));
            let start = Instant::now();
            let mut n = 0u64;
            let mut buf = [0u8; 16];
            while start.elapsed().as_secs_f64() < secs {
                let mut c = TcpStream::connect_timeout(&to, Duration::from_secs(3))
                    .with_context(|| format!("connection {} to {to}", n + 1))?;
                c.set_read_timeout(Some(Duration::from_secs(3)))?;
                // The server closes first: read to the end, then close.
                loop {
                    match c.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => continue,
                        Err(e) => return Err(e).context("waiting for the server's close"),
                    }
                }
                n += 1;
            }
            Ok((n, start.elapsed().as_secs_f64()))
        });
        stop.store(true, Ordering::Release);
        // Wake the accept loop with one last connection (not counted).
        let _ = netns::scoped_in(client_ns, || {
            Ok(TcpStream::connect_timeout(
                &SocketAddr::from((target, PORT)),
                Duration::from_secs(3),
            ))
        });
        let (accepted, wrong, seen) = server
            .join()
            .map_err(|_| anyhow::anyhow!("server thread panicked"))?;
        let (n, t) = client?;
        if accepted != n {
            bail!("the client completed {n} connections, the server accepted {accepted}");
        }
        Ok(Rate {
            per_sec: n as f64 / t,
            connections: n,
            wrong_peer: wrong,
            seen,
        })
    })
}
