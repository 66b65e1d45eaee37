//! Part 4: real host stacks (iperf3) through hyperlab's TC hook (the lab
//! default) and XDP hook, next to a bare veth pair (the ceiling), a kernel
//! bridge and kernel netfilter DNAT+SNAT with conntrack.

use std::{collections::HashMap as StdHashMap, net::Ipv4Addr, time::Duration};

use anyhow::{bail, Context, Result};
use dataplane::{loader::LoadOptions, model::Hook};
use serde_json::Value;

use super::{
    report::{Check, Report, Row, Target},
    stats::ratios,
    sys::{self, ip, ns_name, Netns, NsProcess},
    topo::{CLIENT, ENDPOINT, INT_TCP, LINK, NLB, SERVER, TOPO},
    Options, Section, Sizes,
};
use hyperlab_tests::Fixture;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Test {
    TcpForward,
    TcpReverse,
    Udp64,
}

impl Test {
    pub(crate) const ALL: [Test; 3] = [Test::TcpForward, Test::TcpReverse, Test::Udp64];

    pub(crate) fn table(self) -> &'static str {
        match self {
            Test::TcpForward => "iperf3 TCP, client -> server (Gbit/s at the receiver)",
            Test::TcpReverse => "iperf3 TCP, server -> client (-R, Gbit/s at the receiver)",
            Test::Udp64 => {
                "iperf3 UDP, 64-byte payloads (-u -b 0 -l 64, kpps received = packets - lost)"
            }
        }
    }

    pub(crate) fn short(self) -> &'static str {
        match self {
            Test::TcpForward => "TCP client -> server",
            Test::TcpReverse => "TCP server -> client",
            Test::Udp64 => "UDP 64-byte",
        }
    }

    pub(crate) fn unit(self) -> &'static str {
        match self {
            Test::Udp64 => "kpps",
            _ => "Gbit/s",
        }
    }
}

/// One way from a client stack to a server stack.
pub(crate) struct Path {
    pub(crate) name: &'static str,
    pub(crate) client_ns: String,
    pub(crate) server_ns: String,
    /// What the client connects to.
    pub(crate) target: Ipv4Addr,
    /// The address the server must see the client as.
    pub(crate) peer: Ipv4Addr,
    pub(crate) kind: Kind,
    /// Runs iperf3's UDP test (which needs TCP control and UDP data on one
    /// address and port).
    pub(crate) udp: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Veth,
    Bridge,
    Netfilter,
    HyperlabTc,
    HyperlabXdp,
    /// Part 5: two namespaces joined by a bare kernel VXLAN pair.
    VxlanPair,
    /// Part 5: hyperlab's hosts on two nodes.
    HyperlabNodes,
}

/// Everything the paths need, torn down on drop (labs, namespaces).
struct Setups {
    _ns: Vec<Netns>,
    _labs: Vec<Fixture>,
    paths: Vec<Path>,
}

fn lab_opts() -> LoadOptions {
    LoadOptions {
        sweep_every: Some(Duration::from_secs(24 * 3600)),
        ..Default::default()
    }
}

fn build() -> Result<Setups> {
    let mut ns = Vec::new();
    let mut paths = Vec::new();

    // Bare veth pair: the ceiling.
    let (va, vb) = (
        Netns::create(&ns_name("va"))?,
        Netns::create(&ns_name("vb"))?,
    );
    ip(
        &va.name,
        &[
            "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", &vb.name,
        ],
    )?;
    ip(&va.name, &["addr", "add", "10.9.0.1/24", "dev", "veth0"])?;
    ip(&vb.name, &["addr", "add", "10.9.0.2/24", "dev", "veth0"])?;
    ip(&va.name, &["link", "set", "veth0", "up"])?;
    ip(&vb.name, &["link", "set", "veth0", "up"])?;
    paths.push(Path {
        name: "bare veth pair (ceiling)",
        client_ns: va.name.clone(),
        server_ns: vb.name.clone(),
        target: Ipv4Addr::new(10, 9, 0, 2),
        peer: Ipv4Addr::new(10, 9, 0, 1),
        kind: Kind::Veth,
        udp: true,
    });
    ns.push(va);
    ns.push(vb);

    // Kernel bridge.
    let (ba, br, bb) = (
        Netns::create(&ns_name("ba"))?,
        Netns::create(&ns_name("br"))?,
        Netns::create(&ns_name("bb"))?,
    );
    ip(&br.name, &["link", "add", "br0", "type", "bridge"])?;
    ip(&br.name, &["link", "set", "br0", "up"])?;
    for (host, port, addr) in [(&ba, "pa", "10.9.1.1/24"), (&bb, "pb", "10.9.1.2/24")] {
        ip(
            &host.name,
            &[
                "link", "add", "veth0", "type", "veth", "peer", "name", port, "netns", &br.name,
            ],
        )?;
        ip(&br.name, &["link", "set", port, "master", "br0", "up"])?;
        ip(&host.name, &["addr", "add", addr, "dev", "veth0"])?;
        ip(&host.name, &["link", "set", "veth0", "up"])?;
    }
    paths.push(Path {
        name: "kernel bridge",
        client_ns: ba.name.clone(),
        server_ns: bb.name.clone(),
        target: Ipv4Addr::new(10, 9, 1, 2),
        peer: Ipv4Addr::new(10, 9, 1, 1),
        kind: Kind::Bridge,
        udp: true,
    });
    ns.extend([ba, br, bb]);

    // Netfilter DNAT+SNAT with conntrack in a router namespace.
    let (na, nr, nb) = (
        Netns::create(&ns_name("na"))?,
        Netns::create(&ns_name("nr"))?,
        Netns::create(&ns_name("nb"))?,
    );
    for (host, port, addr, gw, raddr) in [
        (&na, "ra", "10.9.2.10/24", "10.9.2.1", "10.9.2.1/24"),
        (&nb, "rb", "10.9.3.21/24", "10.9.3.1", "10.9.3.1/24"),
    ] {
        ip(
            &host.name,
            &[
                "link", "add", "veth0", "type", "veth", "peer", "name", port, "netns", &nr.name,
            ],
        )?;
        ip(&nr.name, &["addr", "add", raddr, "dev", port])?;
        ip(&nr.name, &["link", "set", port, "up"])?;
        ip(&host.name, &["addr", "add", addr, "dev", "veth0"])?;
        ip(&host.name, &["link", "set", "veth0", "up"])?;
        ip(&host.name, &["route", "add", "default", "via", gw])?;
    }
    dataplane::netns::write_sysctl_in(&nr.name, "ipv4/ip_forward", "1")?;
    sys::in_ns_stdin(&nr.name, &["nft", "-f", "-"], NFT_HOST)?;
    paths.push(Path {
        name: "kernel netfilter DNAT+SNAT, conntrack",
        client_ns: na.name.clone(),
        server_ns: nb.name.clone(),
        target: Ipv4Addr::new(10, 9, 9, 100),
        peer: Ipv4Addr::new(10, 9, 3, 1),
        kind: Kind::Netfilter,
        udp: true,
    });
    ns.extend([na, nr, nb]);

    // hyperlab, TC hook (the lab default) and XDP hook.
    let tc = Fixture::with_options(TOPO, "hlbt", Hook::Tc, &lab_opts());
    let xdp = Fixture::with_options(TOPO, "hlbx", Hook::Xdp, &lab_opts());
    let host_ns = |fx: &Fixture, h: &str| -> Result<String> {
        Ok(fx
            .agent
            .plan
            .host(h)
            .with_context(|| format!("host {h}"))?
            .netns
            .clone())
    };
    for h in ["client", "server"] {
        // XDP frames carry no checksum-offload state: the host stacks must
        // fill in their checksums themselves (docs/BENCHMARKS.md, part 4 method).
        sys::in_ns(&host_ns(&xdp, h)?, &["ethtool", "-K", "eth0", "tx", "off"])?;
    }
    for (fx, kind, intra, pl) in [
        (
            &tc,
            Kind::HyperlabTc,
            "hyperlab TC: intra-VPC",
            Some((
                "hyperlab TC: PrivateLink (endpoint -> NLB -> target)",
                "hyperlab TC: VPC link (API host -> link ENI -> target)",
            )),
        ),
        (
            &xdp,
            Kind::HyperlabXdp,
            "hyperlab XDP: intra-VPC (host tx offload off)",
            None,
        ),
    ] {
        // From host `client` to `target` (the server sees `peer`).
        let path = |name, client, target, peer, udp| -> Result<Path> {
            Ok(Path {
                name,
                client_ns: host_ns(fx, client)?,
                server_ns: host_ns(fx, "server")?,
                target,
                peer,
                kind,
                udp,
            })
        };
        paths.push(path(intra, "client", SERVER, CLIENT, true)?);
        if let Some((pl, link)) = pl {
            paths.push(path(pl, "client", ENDPOINT, NLB, true)?);
            // An HTTP API VPC link has one protocol per integration address:
            // iperf3 runs its TCP tests through it (part 3 sends UDP).
            paths.push(path(link, "apigw", INT_TCP, LINK, false)?);
        }
    }
    Ok(Setups {
        _ns: ns,
        _labs: vec![tc, xdp],
        paths,
    })
}

const T_CONN: &str = "TCP connections per second (one client, one connection at a time)";

const NFT_HOST: &str = "table ip hlbench {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 10.9.9.100 dnat to 10.9.3.21
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ct status dnat snat to 10.9.3.1
  }
}
";

pub(crate) struct Run {
    pub(crate) value: f64,
    pub(crate) bytes: u64,
    pub(crate) peer: String,
}

fn json(s: &str, what: &str) -> Result<Value> {
    serde_json::from_str(s).with_context(|| {
        format!(
            "parsing iperf3's JSON ({what}): {}",
            s.chars().take(300).collect::<String>()
        )
    })
}

/// One iperf3 measurement of `t` through `p` for part `part`, retried
/// once (a client that cannot connect on a busy machine says nothing about
/// the path), its delivery checked into `c` (bytes received, the server
/// saw `p.peer`): its figure.
pub(crate) fn checked_iperf(
    part: &str,
    p: &Path,
    t: Test,
    sizes: &Sizes,
    c: &mut Check,
) -> Result<f64> {
    let r = match iperf(p, t, sizes) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("[bench] {part}: retrying once after: {e:#}");
            iperf(p, t, sizes).with_context(|| format!("iperf3 {t:?} through {}", p.name))?
        }
    };
    c.delivered += r.bytes;
    if r.bytes == 0 {
        c.fail(format!("{t:?}: nothing received"));
    } else if r.peer != p.peer.to_string() {
        c.fail(format!(
            "{t:?}: the server saw {:?}, expected {}",
            r.peer, p.peer
        ));
    } else {
        c.verified += 1;
    }
    Ok(r.value)
}

pub(crate) fn iperf(p: &Path, t: Test, sizes: &Sizes) -> Result<Run> {
    let mut server = NsProcess::spawn(&p.server_ns, &["iperf3", "-s", "-1", "-J", "-p", "5201"])?;
    sys::wait_tcp_listen(&p.server_ns, 5201, Duration::from_secs(10))?;
    let target = p.target.to_string();
    let mut args: Vec<String> = [
        "iperf3",
        "-c",
        &target,
        "-p",
        "5201",
        "-J",
        "--connect-timeout",
        "3000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match (sizes.iperf_seconds, t) {
        (Some(secs), _) => args.extend(["-t".into(), secs.to_string()]),
        (None, Test::Udp64) => args.extend(["-k".into(), "20000".into()]),
        (None, _) => args.extend(["-n".into(), "64M".into()]),
    }
    match t {
        Test::TcpForward => {}
        Test::TcpReverse => args.push("-R".into()),
        Test::Udp64 => args.extend(["-u", "-b", "0", "-l", "64"].map(String::from)),
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = sys::in_ns(&p.client_ns, &argv)
        .with_context(|| format!("{} from {}", args.join(" "), p.client_ns))?;
    let c = json(&out, "client")?;
    if let Some(e) = c.get("error").and_then(Value::as_str) {
        bail!("iperf3 client: {e}");
    }
    server.wait_timeout(Duration::from_secs(10));
    let s = json(&server.output(), "server").unwrap_or(Value::Null);
    let peer = s["start"]["accepted_connection"]["host"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let end = &c["end"];
    Ok(match t {
        Test::Udp64 => {
            let sum = &end["sum"];
            let packets = sum["packets"].as_f64().unwrap_or(0.0);
            let lost = sum["lost_packets"].as_f64().unwrap_or(0.0);
            let secs = sum["seconds"].as_f64().unwrap_or(0.0);
            Run {
                value: if secs > 0.0 {
                    (packets - lost) / secs / 1e3
                } else {
                    0.0
                },
                bytes: ((packets - lost).max(0.0) * 64.0) as u64,
                peer,
            }
        }
        _ => Run {
            value: end["sum_received"]["bits_per_second"]
                .as_f64()
                .unwrap_or(0.0)
                / 1e9,
            bytes: end["sum_received"]["bytes"].as_u64().unwrap_or(0),
            peer,
        },
    })
}

pub fn run(opts: &Options, sizes: &Sizes, report: &mut Report) -> Result<()> {
    let setups = build()?;
    let mut data: StdHashMap<(usize, Test), Vec<f64>> = StdHashMap::new();
    let mut checks: Vec<Check> = setups
        .paths
        .iter()
        .map(|p| Check::new(format!("host: {}", p.name)))
        .collect();
    for rep in 0..opts.reps {
        for t in Test::ALL {
            for (pi, p) in setups.paths.iter().enumerate() {
                if t == Test::Udp64 && !p.udp {
                    continue;
                }
                eprintln!(
                    "[bench] host: {} {:?}, repetition {}/{}",
                    p.name,
                    t,
                    rep + 1,
                    opts.reps
                );
                let value = checked_iperf("host", p, t, sizes, &mut checks[pi])?;
                data.entry((pi, t)).or_default().push(value);
            }
        }
    }
    // TCP connections per second: the bare veth pair, netfilter and
    // hyperlab's TC paths.
    let conn_paths: Vec<usize> = (0..setups.paths.len())
        .filter(|&i| {
            matches!(
                setups.paths[i].kind,
                Kind::Veth | Kind::Netfilter | Kind::HyperlabTc
            )
        })
        .collect();
    let secs = if opts.quick { 0.2 } else { 1.0 };
    let mut conns: StdHashMap<usize, Vec<f64>> = StdHashMap::new();
    for rep in 0..opts.reps {
        for &pi in &conn_paths {
            let p = &setups.paths[pi];
            eprintln!(
                "[bench] host: {} TCP connect rate, repetition {}/{}",
                p.name,
                rep + 1,
                opts.reps
            );
            let r = super::connrate::measure(&p.client_ns, &p.server_ns, p.target, p.peer, secs)
                .with_context(|| format!("TCP connect rate through {}", p.name))?;
            let c = &mut checks[pi];
            c.delivered += r.connections;
            if r.connections == 0 {
                c.fail("connect rate: no connection completed");
            } else if r.wrong_peer > 0 {
                c.fail(format!(
                    "connect rate: {} connections from {:?}, expected {}",
                    r.wrong_peer, r.seen, p.peer
                ));
            } else {
                c.verified += 1;
            }
            conns.entry(pi).or_default().push(r.per_sec);
        }
    }
    report.checks.extend(checks);
    let idx = |k: Kind| {
        setups
            .paths
            .iter()
            .position(|p| p.kind == k)
            .expect("setup")
    };
    let (veth, bridge) = (idx(Kind::Veth), idx(Kind::Bridge));
    for t in Test::ALL {
        let base = if t == Test::Udp64 { bridge } else { veth };
        let base_v = data.get(&(base, t)).cloned().unwrap_or_default();
        let base_name = setups.paths[base].name;
        for (pi, p) in setups.paths.iter().enumerate() {
            if t == Test::Udp64 && !p.udp {
                continue;
            }
            let v = data.get(&(pi, t)).cloned().unwrap_or_default();
            let mut r = Row::new(Section::Host, t.table(), p.name, t.unit(), v.clone())
                .context(t.short())
                .plot();
            if pi != base {
                r = r.baseline(base_name, ratios(&v, &base_v));
                if p.kind == Kind::HyperlabTc {
                    r = r.target(match t {
                        Test::Udp64 => Target::ratio_at_least(1.2, ">= 1.2x the bridge"),
                        _ => Target::ratio_at_least(0.95, ">= 95 % of the bare veth pair"),
                    });
                }
            }
            report.rows.push(r);
        }
    }
    let (veth_i, nf_i) = (idx(Kind::Veth), idx(Kind::Netfilter));
    let base_v = conns.get(&veth_i).cloned().unwrap_or_default();
    let nf_v = conns.get(&nf_i).cloned().unwrap_or_default();
    for &pi in &conn_paths {
        let p = &setups.paths[pi];
        let v = conns.get(&pi).cloned().unwrap_or_default();
        let mut r = Row::new(Section::Host, T_CONN, p.name, "conn/s", v.clone())
            .context("TCP connect rate")
            .plot();
        if pi != veth_i {
            r = r.baseline(setups.paths[veth_i].name, ratios(&v, &base_v));
        }
        if p.kind == Kind::HyperlabTc {
            if let Some(q) = super::stats::Summary::of(&ratios(&v, &nf_v)) {
                r = r.note(format!("{:.2}x netfilter's rate", q.median));
            }
        }
        report.rows.push(r);
    }
    report.note(
        Section::Host,
        format!(
            "TCP connect rate: one client thread in the client's namespace opens connections \
             to port {} one after the other for {secs} s; each is a whole TCP life: the \
             handshake, the server (a thread in the server's namespace) accepts, checks the \
             peer address it sees (as for iperf3) and closes, the client reads the end and \
             closes. Rate = completed connections / elapsed time; the server's accept count \
             must equal the client's. hyperlab's lab keeps its flow sweep off during the run, \
             so every connection's flow entries stay in the table.",
            super::connrate::PORT
        ),
    );
    report.note(
        Section::Host,
        format!(
            "Real host stacks in their own namespaces; each run starts a one-off server \
             (`iperf3 -s -1 -J`) and the client with `iperf3 -c TARGET -J {}` (plus `-R`, or \
             `-u -b 0 -l 64`). TCP is the receiver's rate (`end.sum_received`); UDP is \
             (packets - lost_packets) / seconds from `end.sum` (iperf3 3.12 counts `packets` \
             as the highest sequence seen). The server's logged peer address is checked: \
             the client's own address on the intra-VPC, veth and bridge paths, the NLB \
             node's (10.0.1.50) through PrivateLink, the link ENI's (10.0.1.4) through the \
             VPC link (the API host 10.1.1.20 calls the integration address 10.1.1.201:5201), \
             the router's (10.9.3.1) through netfilter. The VPC link has no UDP row: an HTTP \
             API VPC link carries one protocol per integration address, and iperf3's UDP \
             test needs its TCP control connection on the same address and port (part 3 \
             measures the link with UDP). hyperlab runs in the bench lab through the agent (`Agent::start_with`). \
             The XDP hook needs TX checksum offload off on the host-side veths (`ethtool -K \
             eth0 tx off` in both hosts of that lab only): XDP frames lose the skb's \
             partial-checksum state. The netfilter peer: client 10.9.2.10 -> 10.9.9.100, \
             `nft` DNAT to 10.9.3.21 and `ct status dnat` SNAT to the router's 10.9.3.1.",
            match sizes.iperf_seconds {
                Some(s) => format!("-t {s}"),
                None => "-n 64M (or -k 20000 for UDP)".into(),
            }
        ),
    );
    drop(setups);
    Ok(())
}
