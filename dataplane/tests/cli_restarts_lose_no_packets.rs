//! The proof that operating the agent never costs a packet: a sequenced UDP
//! stream and a TCP transfer run through each construct (a VPC path,
//! PrivateLink, an HTTP API VPC link) while the config is reloaded 100 times
//! (every reload a real change to a rule no flow uses, one of them a config
//! with an error) and the agent is SIGKILLed and restarted 10 times, half of
//! them right after a SIGHUP so the kill lands in the middle of a reload.
//! Every datagram must arrive exactly once, every TCP byte in order.
//!
//! Needs root (`cargo xtask test` runs it).

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{bin, lab_up, root_lab, run_refused, tmp, AgentProc};
use dataplane::{config, lab, loader, pins, stats};
use nix::sys::signal::Signal;

const TOPO: &str = include_str!("data/restarts.toml");

const UDP_RX: &str = r#"
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)
seen, dups, peers = set(), 0, set()
while True:
    d, a = s.recvfrom(2048)
    if d.startswith(b"END"):
        n = int(d[3:])
        missing = [i for i in range(n) if i not in seen]
        print(json.dumps({"received": len(seen), "sent": n, "missing": missing[:20],
                          "dups": dups, "peers": sorted(peers)}), flush=True)
        time.sleep(1)  # later END copies find the socket open
        break
    i = int.from_bytes(d[:8], "big")
    dups += i in seen
    seen.add(i)
    peers.add(a[0])
"#;

const UDP_TX: &str = r#"
import os, socket, sys, time
dst, stop = (sys.argv[1], int(sys.argv[2])), sys.argv[3]
progress = stop + ".sent.%s.%s" % (sys.argv[1], sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
i = 0
while not os.path.exists(stop):
    s.sendto(i.to_bytes(8, "big") + b"x" * 92, dst)
    i += 1
    if i % 50 == 0:
        with open(progress + ".tmp", "w") as f:
            f.write(str(i))
        os.replace(progress + ".tmp", progress)
    time.sleep(0.004)
time.sleep(0.5)
for _ in range(3):
    s.sendto(b"END%d" % i, dst)
    time.sleep(0.05)
print(i, flush=True)
"#;

const TCP_RX: &str = r#"
import json, socket, struct, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
print("listening", flush=True)
c, a = l.accept()
buf, nxt, total, ok = b"", 0, 0, True
while True:
    d = c.recv(1 << 16)
    if not d:
        break
    total += len(d)
    buf += d
    whole = len(buf) - len(buf) % 8
    for (v,) in struct.iter_unpack(">Q", buf[:whole]):
        ok = ok and v == nxt
        nxt += 1
    buf = buf[whole:]
c.close()
print(json.dumps({"bytes": total, "in_order": ok and not buf, "peer": a[0]}), flush=True)
"#;

const TCP_TX: &str = r#"
import os, socket, struct, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
stop, nxt, sent = sys.argv[3], 0, 0
while not os.path.exists(stop):
    chunk = struct.pack(">1024Q", *range(nxt, nxt + 1024))
    c.sendall(chunk)
    nxt += 1024
    sent += len(chunk)
    time.sleep(0.01)
c.shutdown(socket.SHUT_WR)
c.settimeout(30)
while c.recv(1 << 16):
    pass
print(sent, flush=True)
"#;

/// A python process inside a lab host (`ip netns exec`, so its PID is the
/// process's own), killed when dropped.
struct Py(Child, &'static str);

impl Py {
    fn spawn(netns: &str, what: &'static str, script: &str, args: &[&str]) -> Py {
        let child = Command::new("ip")
            .args(["netns", "exec", netns, "python3", "-u", "-c", script])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Py(child, what)
    }

    /// Waits for the first stdout line (a listener says "listening").
    fn first_line(&mut self) -> String {
        use std::io::BufRead;
        let out = self.0.stdout.as_mut().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        line
    }

    /// Waits (bounded) for the process to end; returns its stdout.
    fn finish(mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                let mut out = String::new();
                let mut err = String::new();
                use std::io::Read;
                let _ = self.0.stdout.take().unwrap().read_to_string(&mut out);
                let _ = self.0.stderr.take().unwrap().read_to_string(&mut err);
                assert!(status.success(), "{}: {status}: {out}{err}", self.1);
                return out;
            }
            assert!(Instant::now() < deadline, "{} did not finish", self.1);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_config(file: &Path, lab: &str, port: u32) {
    std::fs::write(
        file,
        TOPO.replace("@LAB@", lab)
            .replace("@PORT@", &port.to_string()),
    )
    .unwrap();
}

/// One construct's pair of streams.
struct Path3 {
    name: &'static str,
    client: &'static str,
    server: &'static str,
    /// (address, port) the client sends to, the server binds.
    udp: ((&'static str, u16), (&'static str, u16)),
    tcp: ((&'static str, u16), (&'static str, u16)),
}

const PATHS: [Path3; 3] = [
    Path3 {
        name: "vpc",
        client: "c-vpc",
        server: "s-vpc",
        udp: (("10.0.1.20", 7000), ("10.0.1.20", 7000)),
        tcp: (("10.0.1.20", 7001), ("10.0.1.20", 7001)),
    },
    Path3 {
        name: "privatelink",
        client: "c-pl",
        server: "s-pl",
        udp: (("10.0.1.100", 7000), ("10.1.1.20", 7000)),
        tcp: (("10.0.1.100", 7001), ("10.1.1.20", 7001)),
    },
    Path3 {
        name: "http-vpc-link",
        client: "gw",
        server: "s-link",
        udp: (("10.2.1.201", 7100), ("10.0.1.30", 7100)),
        tcp: (("10.2.1.202", 7101), ("10.0.1.30", 7101)),
    },
];

fn json_field(line: &str, field: &str) -> String {
    let key = format!("\"{field}\": ");
    let rest = &line[line
        .find(&key)
        .unwrap_or_else(|| panic!("{field} in {line}"))
        + key.len()..];
    let end = if rest.starts_with('[') {
        rest.find(']').unwrap() + 1
    } else {
        rest.find([',', '}']).unwrap()
    };
    rest[..end].trim_matches('"').to_string()
}

/// The file a UDP sender (`UDP_TX`) rewrites with its count every 50 datagrams.
fn udp_progress(stop: &Path, p: &Path3) -> PathBuf {
    let ((ip, port), _) = p.udp;
    PathBuf::from(format!("{}.sent.{ip}.{port}", stop.display()))
}

/// Waits until every path's UDP sender has sent more than `n` datagrams.
fn wait_for_udp_streams(stop: &Path, n: u64, timeout: Duration) {
    for p in &PATHS {
        let progress = udp_progress(stop, p);
        let deadline = Instant::now() + timeout;
        loop {
            let sent: u64 = std::fs::read_to_string(&progress)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            if sent > n {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: udp sender stuck at {sent}",
                p.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
#[ignore = "needs root"]
fn streams_through_every_construct_survive_100_reloads_and_10_sigkills_without_a_gap() {
    let (lab, file) = root_lab("rs", "restarts.toml");
    let stop = tmp("restarts.stop");
    let _ = std::fs::remove_file(&stop);
    write_config(&file, &lab, 1000);
    let topo = config::load(&file).unwrap();
    let plan = lab::plan(&topo);
    lab_up(&file);
    let ns = |host: &str| plan.host(host).unwrap().netns.clone();
    let metrics = format!("127.0.0.1:{}", 20000 + std::process::id() % 20000);
    let logs: Vec<PathBuf> = (0..=10)
        .map(|k| tmp(&format!("restarts-{k}.log")))
        .collect();
    for l in &logs {
        let _ = std::fs::remove_file(l);
    }
    let mut agent = AgentProc::spawn(&file, &logs[0], &metrics, &[]);
    agent.wait_for("metrics on http://");

    // Servers, then clients.
    let mut servers = Vec::new();
    for p in &PATHS {
        for (script, (_, (ip, port)), what) in [
            (UDP_RX, p.udp, "udp receiver"),
            (TCP_RX, p.tcp, "tcp receiver"),
        ] {
            let mut s = Py::spawn(&ns(p.server), what, script, &[ip, &port.to_string()]);
            assert_eq!(s.first_line().trim(), "listening", "{} {what}", p.name);
            servers.push((p.name, what, s));
        }
    }
    let stop_s = stop.display().to_string();
    let mut clients = Vec::new();
    for p in &PATHS {
        for (script, ((ip, port), _), what) in
            [(UDP_TX, p.udp, "udp sender"), (TCP_TX, p.tcp, "tcp sender")]
        {
            let c = Py::spawn(
                &ns(p.client),
                what,
                script,
                &[ip, &port.to_string(), &stop_s],
            );
            clients.push((p.name, what, c));
        }
    }
    // Every stream under way before the first reload.
    wait_for_udp_streams(&stop, 100, Duration::from_secs(30));

    // 100 reloads, 10 SIGKILLs.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next_rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut reloaded, mut refused, mut kills, mut mid_reload_kills) = (0, 0, 0, 0);
    let mut generation = 0;
    for i in 1..=100u32 {
        if i == 50 {
            // A config with an error: refused, nothing changes.
            std::fs::write(
                &file,
                TOPO.replace("@LAB@", &lab).replace("@PORT@", "70000"),
            )
            .unwrap();
            let n = agent.output().matches("reload refused").count();
            agent.signal(Signal::SIGHUP);
            agent.wait_for_n("reload refused", n + 1);
            assert!(
                agent.output().contains("ports: port 70000 is out of range"),
                "{}",
                agent.output()
            );
            refused += 1;
        }
        write_config(&file, &lab, 1000 + i);
        let n = agent.output().matches("hyperlab: reloaded").count();
        agent.signal(Signal::SIGHUP);
        if i % 10 == 0 {
            if i % 20 == 10 {
                // Kill it while it may be writing the reload.
                std::thread::sleep(Duration::from_micros(next_rand() % 30_000));
                mid_reload_kills += 1;
            } else {
                agent.wait_for_n("hyperlab: reloaded", n + 1);
                reloaded += 1;
            }
            agent.kill9();
            kills += 1;
            generation += 1;
            agent = AgentProc::spawn(&file, &logs[generation], &metrics, &[]);
            agent.wait_for("metrics on http://");
            let out = agent.output();
            assert!(
                out.contains("adopted lab") && out.contains("links adopted"),
                "restart {kills} did not adopt the pinned data plane:\n{out}"
            );
            assert!(
                !out.contains(" 0 links adopted"),
                "restart {kills} attached new links:\n{out}"
            );
        } else {
            agent.wait_for_n("hyperlab: reloaded", n + 1);
            reloaded += 1;
        }
    }
    assert_eq!((kills, mid_reload_kills, refused), (10, 5, 1));
    // Every reload not cut short by a kill was applied.
    assert_eq!(reloaded, 100 - mid_reload_kills, "reloads applied");

    // A second agent of the same lab is refused while this one runs.
    let err = run_refused(&file);
    assert!(
        err.contains(&format!(
            "lab {lab} is run by an agent (pid {}), which holds /run/hyperlab/{lab}/agent.lock: \
             stop it first with `kill -TERM {}`",
            agent.child.id(),
            agent.child.id()
        )),
        "{err}"
    );

    // Let every UDP stream reach 1,000 datagrams (on a fast machine the
    // reloads end sooner), then stop the streams and collect the verdicts.
    wait_for_udp_streams(&stop, 1_000, Duration::from_secs(60));
    for p in &PATHS {
        let _ = std::fs::remove_file(udp_progress(&stop, p));
    }
    std::fs::write(&stop, b"").unwrap();
    let mut sent = std::collections::HashMap::new();
    for (name, what, c) in clients {
        sent.insert((name, what), c.finish().trim().parse::<u64>().unwrap());
    }
    let mut udp_total = 0;
    for (name, what, s) in servers {
        let out = s.finish();
        let line = out.lines().last().unwrap_or_default().to_string();
        if what == "udp receiver" {
            let n = sent[&(name, "udp sender")];
            assert!(n > 1_000, "{name}: only {n} datagrams were sent");
            assert_eq!(
                (
                    json_field(&line, "received"),
                    json_field(&line, "missing"),
                    json_field(&line, "dups")
                ),
                (n.to_string(), "[]".to_string(), "0".to_string()),
                "{name}: udp stream {line}"
            );
            udp_total += n;
        } else {
            let n = sent[&(name, "tcp sender")];
            assert_eq!(
                (json_field(&line, "bytes"), json_field(&line, "in_order")),
                (n.to_string(), "true".to_string()),
                "{name}: tcp transfer {line}"
            );
        }
    }
    // Counted: each UDP stream's forward flow entry (pinned, adopted by
    // every restart) counted every datagram, the three END markers included.
    let entries = dataplane::flows::read_pinned(&pins::pin_dir(&lab)).unwrap();
    for p in &PATHS {
        let ((dst, dport), _) = p.udp;
        let src = topo
            .enis
            .iter()
            .find(|e| e.host == p.client)
            .unwrap()
            .ip
            .octets();
        let dst: std::net::Ipv4Addr = dst.parse().unwrap();
        let fwd: Vec<_> = entries
            .iter()
            .filter(|(k, e)| {
                k.proto == 17
                    && k.src == src
                    && k.dst == dst.octets()
                    && k.dport == dport.to_be_bytes()
                    && e.flags & dataplane_common::FLOW_F_REPLY == 0
            })
            .collect();
        assert_eq!(fwd.len(), 1, "{}: one udp flow", p.name);
        assert_eq!(
            fwd[0].1.totals.packets,
            sent[&(p.name, "udp sender")] + 3,
            "{}: the flow counted every datagram (summed over CPUs)",
            p.name
        );
    }
    // Counted: the pinned counters survived every restart; nothing dropped.
    let s = stats::read_pinned(&pins::pin_dir(&lab), &stats::Layout::of(&topo)).unwrap();
    assert_eq!(s.drops.iter().sum::<u64>(), 0, "drops: {:?}", s.drops);
    let layout = stats::Layout::of(&topo);
    let rx = |eni: &str| {
        let i = layout.enis.iter().position(|e| e == eni).unwrap();
        s.enis[i].rx_packets
    };
    assert!(
        rx("eni-s-vpc") + rx("eni-s-pl") + rx("eni-s-link") >= udp_total,
        "servers' ENIs count at least the datagrams"
    );
    eprintln!(
        "{reloaded} reloads applied, {refused} refused, {kills} SIGKILLs ({mid_reload_kills} \
         right after SIGHUP); udp datagrams {udp_total}; sent {sent:?}"
    );

    // The agent's exit leaves the data plane; `dataplane down` removes it.
    agent.signal(Signal::SIGTERM);
    assert_eq!(agent.child.wait().unwrap().code(), Some(0));
    assert!(agent.output().contains("keeps forwarding"));
    assert!(pins::pin_dir(&lab).join("links").exists());
    let down = bin().arg("down").arg(&file).output().unwrap();
    assert_eq!(down.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&down.stdout),
        format!(
            "lab {lab}: data plane removed ({} links detached, maps and flows dropped)\n",
            plan.ports.len()
        )
    );
    assert!(!pins::pin_dir(&lab).exists());
    let _ = std::fs::remove_file(&stop);
    for l in &logs {
        let _ = std::fs::remove_file(l);
    }
    drop(agent); // lab down
}

/// The entry points and security-group entries of generation `g` as the
/// kernel holds them, sorted, and the same of a compiled config.
#[derive(Debug, PartialEq)]
struct GenState {
    ports: Vec<(u32, dataplane_common::PortInfo)>,
    /// The used `HL_PORT_SLOTS` slots (they mirror `ports`).
    slots: Vec<(u32, dataplane_common::PortSlot)>,
    enis: Vec<(dataplane_common::EniKey, dataplane_common::EniInfo)>,
    listeners: Vec<(
        dataplane_common::ListenerKey,
        dataplane_common::ListenerInfo,
    )>,
    sg: Vec<(u32, dataplane_common::SgKey, dataplane_common::SgPorts)>,
}

impl GenState {
    fn sorted(mut self) -> GenState {
        self.ports.sort_by_key(|(k, _)| *k);
        self.slots.sort_by_key(|(i, _)| *i);
        self.enis.sort_by_key(|(k, _)| (k.vpc, k.ip));
        self.listeners
            .sort_by_key(|(k, _)| (k.node, k.port, k.proto));
        self.sg
            .sort_by_key(|(p, k, _)| (k.sg_set, k.dir, k.proto, k.addr, *p));
        self
    }

    fn of(c: &dataplane::compile::Compiled) -> GenState {
        GenState {
            ports: c.ports.clone(),
            slots: loader::port_slots(&c.ports).collect(),
            enis: c.enis.clone(),
            listeners: c.listeners.clone(),
            sg: c.sg_rules.clone(),
        }
        .sorted()
    }

    /// Reads the pinned maps of `lab`: the active generation, its state,
    /// and the standby generation's state.
    fn read(lab: &str) -> (u32, GenState, GenState) {
        use aya::maps::{lpm_trie::LpmTrie, Array, HashMap, MapData};
        use dataplane_common::{maps, GENERATION_BIT};
        let dir = pins::pin_dir(lab);
        let open = |n: &str| MapData::from_pin(dir.join(n)).unwrap();
        let active: Array<MapData, u32> =
            Array::try_from(aya::maps::Map::Array(open(maps::ACTIVE))).unwrap();
        let g = dataplane_common::active_generation(active.get(&0, 0).unwrap());
        let tag = |x: u32| ((x & GENERATION_BIT) >> 31) as usize;
        let ports: HashMap<MapData, u32, dataplane_common::PortInfo> =
            HashMap::try_from(aya::maps::Map::HashMap(open(maps::PORTS))).unwrap();
        let enis: HashMap<MapData, dataplane_common::EniKey, dataplane_common::EniInfo> =
            HashMap::try_from(aya::maps::Map::HashMap(open(maps::ENIS))).unwrap();
        let listeners: HashMap<
            MapData,
            dataplane_common::ListenerKey,
            dataplane_common::ListenerInfo,
        > = HashMap::try_from(aya::maps::Map::HashMap(open(maps::LISTENERS))).unwrap();
        let sg: LpmTrie<MapData, dataplane_common::SgKey, dataplane_common::SgPorts> =
            LpmTrie::try_from(aya::maps::Map::LpmTrie(open(maps::SG_RULES))).unwrap();
        let slots: Array<MapData, dataplane_common::PortSlot> =
            Array::try_from(aya::maps::Map::Array(open(maps::PORT_SLOTS))).unwrap();
        let empty = || GenState {
            ports: Vec::new(),
            slots: Vec::new(),
            enis: Vec::new(),
            listeners: Vec::new(),
            sg: Vec::new(),
        };
        let mut st = [empty(), empty()];
        for r in ports.iter() {
            let (k, v) = r.unwrap();
            st[tag(k)].ports.push((k, v));
        }
        for i in 0..slots.len() {
            let v = slots.get(&i, 0).unwrap();
            if v.present != 0 {
                st[(i / dataplane_common::PORT_SLOTS) as usize]
                    .slots
                    .push((i, v));
            }
        }
        for r in enis.iter() {
            let (k, v) = r.unwrap();
            st[tag(k.vpc)].enis.push((k, v));
        }
        for r in listeners.iter() {
            let (k, v) = r.unwrap();
            st[tag(k.node)].listeners.push((k, v));
        }
        let stride = dataplane::compile::SET_GENERATION_STRIDE;
        for r in sg.iter() {
            let (k, v) = r.unwrap();
            let data = k.data();
            let gen = (u32::from_be_bytes(data.sg_set) / stride) as usize;
            st[gen].sg.push((k.prefix_len(), data, v));
        }
        let [s0, s1] = st;
        let (a, b) = if g == 0 { (s0, s1) } else { (s1, s0) };
        (g, a.sorted(), b.sorted())
    }
}

/// The restart topology with a bulk security group of `n` rules on ports
/// `base..base+n`, so a reload between two variants rewrites thousands of
/// entries and a kill can land inside it.
fn bulk_variant(lab: &str, base: u32, n: u32) -> String {
    let mut s = TOPO
        .replace("@LAB@", lab)
        .replace("@PORT@", &base.to_string())
        .replace(
            "security_groups = [\"sg-server\", \"sg-unrelated\"]",
            "security_groups = [\"sg-server\", \"sg-unrelated\", \"sg-bulk\"]",
        );
    s.push_str("\n[[security_group]]\nid = \"sg-bulk\"\nvpc = \"vpc-a\"\ningress = [\n");
    for i in 0..n {
        s.push_str(&format!(
            "  {{ protocol = \"tcp\", ports = {}, peer = \"10.{}.{}.0/24\" }},\n",
            base + i,
            100 + i / 250,
            i % 250
        ));
    }
    s.push_str("]\n");
    s
}

/// The number in "N map writes applied" of the last reload line of `log`.
fn reload_writes(log: &str) -> u64 {
    let line = log
        .lines()
        .rfind(|l| l.contains("map writes applied"))
        .unwrap();
    let before = &line[..line.find(" map writes applied").unwrap()];
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
#[ignore = "needs root"]
fn sigkill_in_the_middle_of_a_reload_leaves_the_old_or_the_new_configuration_and_a_restart_converges(
) {
    let trials: u64 = std::env::var("HYPERLAB_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let (lab, file) = root_lab("rk", "kills.toml");
    let variants = [bulk_variant(&lab, 2000, 200), bulk_variant(&lab, 9000, 200)];
    std::fs::write(&file, &variants[0]).unwrap();
    lab_up(&file);
    let metrics = format!("127.0.0.1:{}", 20000 + (std::process::id() + 7) % 20000);
    let log = tmp("kills.log");
    let _ = std::fs::remove_file(&log);
    let mut agent = AgentProc::spawn(&file, &log, &metrics, &[]);
    agent.wait_for("metrics on http://");
    let journal = dataplane::persist::Journal::read(&lab).unwrap().unwrap();
    let ifx = journal.ifindexes.clone();
    let compiled = |v: usize, g: u32| {
        let source = dataplane::persist::ConfigSource {
            name: "kills.toml".into(),
            text: variants[v].clone(),
            node: None,
        };
        let ports = dataplane::persist::PortMap::of(&source.parse().unwrap(), &ifx);
        GenState::of(&source.compile(&ports, g, &journal.numbers).unwrap())
    };
    // How many map writes a reload between the variants makes: each trial
    // kills the agent at a random one of them (fault injection, a real
    // SIGKILL the agent sends itself there).
    std::fs::write(&file, &variants[1]).unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_for("hyperlab: reloaded");
    let writes = reload_writes(&agent.output());
    assert!(writes > 300, "{writes} map writes per reload");
    let mut current = 1;
    let mut rng = 0x2545_f491_4f6c_dd1du64 ^ std::process::id() as u64;
    let mut next_kill = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        1 + rng % writes
    };
    let (mut old, mut new) = (0, 0);
    let mut points = Vec::new();
    let armed = |agent: AgentProc, at: u64| {
        agent.kill9();
        let _ = std::fs::remove_file(&log);
        let a = AgentProc::spawn_env(
            &file,
            &log,
            &metrics,
            &[],
            &[(dataplane::fault::ENV, at.to_string())],
        );
        a.wait_for("metrics on http://");
        a
    };
    let mut at = next_kill();
    agent = armed(agent, at);
    for trial in 0..trials {
        let next = 1 - current;
        std::fs::write(&file, &variants[next]).unwrap();
        agent.signal(Signal::SIGHUP);
        let status = agent.child.wait().unwrap();
        agent.owns_lab = false; // the next agent takes the lab over
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "trial {trial}: the agent was to kill itself at write {at} of {writes}:\n{}",
            agent.output()
        );
        points.push(at);
        // Old or new, never a mix.
        let journal = dataplane::persist::Journal::read(&lab).unwrap().unwrap();
        assert!(
            journal.pending.is_some(),
            "trial {trial}: killed inside the journaled sync"
        );
        let (g, state, _) = GenState::read(&lab);
        if state == compiled(current, g) {
            old += 1;
        } else if state == compiled(next, g) {
            new += 1;
        } else {
            panic!(
                "trial {trial} (killed at write {at} of {writes}): generation {g} holds neither \
                 configuration: {} ports, {} ENIs, {} listeners, {} SG entries",
                state.ports.len(),
                state.enis.len(),
                state.listeners.len(),
                state.sg.len()
            );
        }
        // A restarted agent converges to the file, and nothing of the other
        // generation is left (it is armed for the next trial; only a reload
        // fires it).
        if trial == 0 {
            // The first restart adopts pins as a build before the per-packet
            // port array left them: without HL_PORT_SLOTS. The agent makes
            // it and fills it from HL_PORTS (checked with the rest below).
            std::fs::remove_file(pins::pin_dir(&lab).join(dataplane_common::maps::PORT_SLOTS))
                .unwrap();
            // `explain` of this build refuses such a data plane, saying why.
            let out = bin()
                .args(["explain"])
                .arg(&file)
                .args(["--from", "c-vpc", "--to", "10.0.1.20", "--port", "5201"])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert!(
                err.contains("predates this build (HL_PORT_SLOTS is not pinned"),
                "{err}"
            );
        }
        at = next_kill();
        let _ = std::fs::remove_file(&log);
        agent = AgentProc::spawn_env(
            &file,
            &log,
            &metrics,
            &[],
            &[(dataplane::fault::ENV, at.to_string())],
        );
        agent.wait_for("metrics on http://");
        assert!(agent
            .output()
            .contains("stopped in the middle of a reload: finishing it"));
        assert_eq!(
            agent
                .output()
                .contains("the pinned maps predate HL_PORT_SLOTS"),
            trial == 0
        );
        let (g, state, standby) = GenState::read(&lab);
        assert!(
            state == compiled(next, g),
            "trial {trial}: the restarted agent did not converge"
        );
        assert!(
            standby == compiled(next, 1 - g),
            "trial {trial}: the standby generation does not mirror the active one"
        );
        current = next;
    }
    points.sort();
    eprintln!(
        "{trials} SIGKILLs at random map writes of a {writes}-write reload (points {}..{}): {old} \
         left the old configuration (killed before the switch), {new} the new one, never a mix; every restart finished the reload and converged",
        points[0],
        points[points.len() - 1]
    );
    assert_eq!(old + new, trials as usize);
    assert!(
        old > 0 && new > 0,
        "kills landed on both sides of the switch"
    );
    let _ = std::fs::remove_file(&log);
}
