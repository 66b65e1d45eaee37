//! Shared helpers for hyperlab's root tests: packet builders, independent
//! checksum verification, a loaded-data-plane fixture (lab + agent, torn
//! down on drop, also when a test fails) and BPF_PROG_TEST_RUN wrappers.

use std::{net::Ipv4Addr, path::PathBuf};

use dataplane::{
    agent::Agent,
    config, lab,
    loader::{self, LoadOptions},
    model::{Hook, Topology},
    netns,
    stats::Snapshot,
};
use dataplane_common::{FlowKey, GATEWAY_MAC, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use etherparse::PacketBuilder;

/// Topologies shared by more than one test: the files under `tests/fixtures/`
/// (see its README.md). `@LAB@` is replaced by [`Fixture`].
pub mod fixtures {
    /// client -> web in one subnet; sg-web's ingress is `@RULE@`.
    pub const CLIENT_WEB: &str = include_str!("../fixtures/client-web.toml");

    /// [`CLIENT_WEB`] with sg-web admitting `rule` (an inline-table rule).
    pub fn client_web(rule: &str) -> String {
        CLIENT_WEB.replace("@RULE@", rule)
    }
}

/// The drop reasons `d` counts, but `expected`, by name with their counts
/// (what a test that allows only `expected` drops prints when it fails).
pub fn drops_but(
    d: &Snapshot,
    expected: &[dataplane_common::DropReason],
) -> Vec<(&'static str, u64)> {
    dataplane_common::DropReason::ALL
        .iter()
        .filter(|r| !expected.contains(r) && d.drop_count(**r) > 0)
        .map(|&r| (r.name(), d.drop_count(r)))
        .collect()
}

/// Fails loudly (never skips) when a root test runs without what it needs.
pub fn require_root() {
    require_root_and_object(
        "this test needs root (BPF, network namespaces): run `cargo xtask test` as root",
        " (or `cargo xtask test`)",
    );
}

/// Asserts root (failing with `not_root`) and a built kernel object (the
/// hint to build it ends in `build_hint`); returns the object's path.
pub fn require_root_and_object(not_root: &str, build_hint: &str) -> PathBuf {
    assert!(nix::unistd::Uid::effective().is_root(), "{not_root}");
    let obj = loader::object_path();
    assert!(
        obj.exists(),
        "kernel object {} missing: run `cargo xtask build-ebpf`{build_hint}",
        obj.display()
    );
    obj
}

/// A lab name unique to this process and call site, at most 12 bytes.
pub fn unique_lab(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let mut s = format!("{prefix}{}{n}", std::process::id() % 100_000);
    s.truncate(12);
    s
}

/// Parses a test topology, replacing the `[lab] name` with `name`.
pub fn topology(toml: &str, name: &str) -> Topology {
    let src = toml.replace("@LAB@", name);
    config::parse_str(&src, "test.toml").unwrap_or_else(|d| panic!("test topology invalid:\n{d}"))
}

/// A lab that is up with the data plane loaded and attached; removed on drop.
pub struct Fixture {
    pub agent: Agent,
    // Dropped after the agent: detach first, then remove the namespaces.
    _lab: LabGuard,
}

impl Fixture {
    pub fn new(toml: &str, prefix: &str) -> Fixture {
        Self::with_options(toml, prefix, Hook::Tc, &LoadOptions::default())
    }

    pub fn with_options(toml: &str, prefix: &str, hook: Hook, opts: &LoadOptions) -> Fixture {
        require_root();
        let topo = topology(toml, &unique_lab(prefix));
        let plan = lab::plan(&topo);
        lab::up(&plan).expect("lab up");
        // From here on a failure must still remove the lab.
        let guard = LabGuard(Some(plan));
        let agent = Agent::start_with(topo, &loader::object_path().into(), hook, opts)
            .expect("agent start");
        Fixture { agent, _lab: guard }
    }

    pub fn eni(&self, id: &str) -> usize {
        self.agent
            .topo
            .eni_by_id(id)
            .unwrap_or_else(|| panic!("no ENI {id}"))
    }

    pub fn mac(&self, id: &str) -> [u8; 6] {
        self.agent.topo.enis[self.eni(id)].mac
    }

    pub fn ip(&self, id: &str) -> Ipv4Addr {
        self.agent.topo.enis[self.eni(id)].ip
    }

    /// The fabric ifindex packets from ENI `id` arrive on.
    pub fn port_ifindex(&self, id: &str) -> u32 {
        let eni = self.eni(id);
        self.agent.compiled.port_ifindexes()[eni]
    }

    /// Waits until no target is out of selection (servers started after the
    /// agent may have failed a health check or two first).
    pub fn wait_all_healthy(&self, timeout: std::time::Duration) {
        self.agent.wait_all_healthy(timeout).unwrap();
    }

    /// After starting servers: lets one health-check interval pass (a probe
    /// that failed before a server was up may still mark its target) and then
    /// waits until every target is back in selection ([`Agent::settle_health`]).
    pub fn settle_health(&self) {
        self.agent
            .settle_health(std::time::Duration::from_secs(15))
            .unwrap();
    }

    /// [`HostProcess::http_server`] in this lab: host `host`, on `addr:port`.
    pub fn http_server(&self, host: &str, addr: &str, port: u16) -> HostProcess {
        HostProcess::http_server(&self.agent.plan, host, ip(addr), port)
    }

    /// [`curl`] in this lab: from host `host` to `addr:port`.
    pub fn curl(&self, host: &str, addr: &str, port: u16) -> (i32, String) {
        curl(&self.agent.plan, host, ip(addr), port)
    }

    /// [`curl`] in this lab from host `host` to `addr:port`, which must
    /// fail (`what` says why); what the counters counted meanwhile.
    pub fn refused_curl(&self, host: &str, addr: Ipv4Addr, port: u16, what: &str) -> Snapshot {
        let before = self.snapshot();
        let (code, _) = curl(&self.agent.plan, host, addr, port);
        assert_ne!(code, 0, "{what}");
        self.snapshot().since(&before)
    }

    pub fn snapshot(&self) -> Snapshot {
        self.agent.snapshot().expect("reading counters")
    }

    /// Every flow-table entry with its counters (summed in `totals`).
    pub fn flows(&self) -> Vec<(FlowKey, dataplane::conntrack::FlowRow)> {
        self.agent.dataplane.flows().expect("reading flows")
    }

    /// The flow-log window the kernel counts TCP flags in (`HL_FLOW_WINDOW`).
    pub fn flow_window(&self) -> u32 {
        let m = self
            .agent
            .dataplane
            .map(dataplane_common::maps::FLOW_WINDOW);
        let a: aya::maps::Array<&aya::maps::MapData, u32> =
            aya::maps::Array::try_from(m.expect("HL_FLOW_WINDOW")).unwrap();
        a.get(&0, 0).unwrap()
    }

    pub fn clear_flows(&mut self) {
        self.agent.dataplane.clear_flows().expect("clearing flows");
    }

    /// Rewrites the Maglev tables as the agent does when targets change
    /// health: from `old` (what the map holds) to the tables with the global
    /// target indices `unhealthy` out of selection, which it returns.
    pub fn rewrite_maglev(
        &mut self,
        old: &[Vec<u32>],
        unhealthy: &std::collections::BTreeSet<u32>,
    ) -> Vec<Vec<u32>> {
        let new = dataplane::compile::maglev_tables(&self.agent.topo, unhealthy);
        for (id, (old, new)) in old.iter().zip(&new).enumerate() {
            self.agent
                .dataplane
                .write_table(id as u32, new, Some(old))
                .expect("writing a Maglev table");
        }
        new
    }

    /// Runs `frame` as if it arrived from ENI `from` through `hook`'s program.
    pub fn run(&self, hook: Hook, from: &str, frame: &[u8]) -> Outcome {
        self.run_on(hook, self.port_ifindex(from), frame)
    }

    /// Runs `frame` as if it arrived on fabric ifindex `ifindex`.
    pub fn run_on(&self, hook: Hook, ifindex: u32, frame: &[u8]) -> Outcome {
        let dp = &self.agent.dataplane;
        let prog = match hook {
            Hook::Tc => testrun::Program::Tc(dp.tc()),
            Hook::Xdp => testrun::Program::Xdp(dp.xdp()),
        };
        testrun::run(prog, &self.agent.plan.fabric_ns, ifindex, frame).expect("test run")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Hosts a reload added (`Agent::reload` grows the lab) go too.
        if let Some(plan) = self._lab.0.as_mut() {
            plan.add_hosts_of(&self.agent.plan);
        }
    }
}

/// Removes a lab when dropped.
pub struct LabGuard(pub Option<lab::LabPlan>);

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Some(plan) = self.0.take() {
            if let Err(e) = lab::down(&plan) {
                eprintln!("warning: removing lab {}: {e:#}", plan.name);
            }
        }
    }
}

// The test_run wrapper lives in the agent crate (`dataplane explain` uses it too).
pub use dataplane::testrun::{self, skb_ctx, xdp_ctx, Outcome, Verdict};

pub const HOOKS: [Hook; 2] = [Hook::Tc, Hook::Xdp];

/// Packet builders on top of etherparse (which computes correct checksums).
pub mod pkt {
    use super::*;

    pub fn tcp(
        smac: [u8; 6],
        dmac: [u8; 6],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        sport: u16,
        dport: u16,
        flags: &str,
    ) -> Vec<u8> {
        let mut b = PacketBuilder::ethernet2(smac, dmac)
            .ipv4(src.octets(), dst.octets(), 64)
            .tcp(sport, dport, 1000, 64240);
        for f in flags.chars() {
            b = match f {
                'S' => b.syn(),
                'A' => b.ack(2000),
                'F' => b.fin(),
                'R' => b.rst(),
                'P' => b.psh(),
                _ => panic!("unknown TCP flag {f}"),
            };
        }
        let payload = b"hyperlab";
        let mut out = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut out, payload).unwrap();
        out
    }

    pub fn udp(
        smac: [u8; 6],
        dmac: [u8; 6],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        sport: u16,
        dport: u16,
    ) -> Vec<u8> {
        udp_payload(smac, dmac, (src, dst), (sport, dport), b"hyperlab-udp")
    }

    pub fn echo(
        smac: [u8; 6],
        dmac: [u8; 6],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        id: u16,
        request: bool,
    ) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(smac, dmac).ipv4(src.octets(), dst.octets(), 64);
        let b = if request {
            b.icmpv4_echo_request(id, 1)
        } else {
            b.icmpv4_echo_reply(id, 1)
        };
        let payload = b"ping-payload";
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    /// A UDP datagram with payload `payload` (etherparse computes both
    /// checksums over the whole datagram).
    pub fn udp_payload(
        smac: [u8; 6],
        dmac: [u8; 6],
        (src, dst): (Ipv4Addr, Ipv4Addr),
        (sport, dport): (u16, u16),
        payload: &[u8],
    ) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(smac, dmac)
            .ipv4(src.octets(), dst.octets(), 64)
            .udp(sport, dport);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    /// The fragments a sender makes of Ethernet/IPv4 frame `whole` (IHL 5,
    /// no DF): its IP payload cut at byte offsets `cuts` (multiples of 8,
    /// ascending), each fragment with identification `id`, its offset, the
    /// more-fragments flag on all but the last, and its own total length and
    /// header checksum (RFC 791, "Fragmentation and Reassembly").
    pub fn fragments(whole: &[u8], id: u16, cuts: &[usize]) -> Vec<Vec<u8>> {
        let payload = &whole[34..];
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(payload.len());
        bounds
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                assert_eq!(w[0] % 8, 0, "fragment offsets are multiples of 8");
                let mut f = whole[..34].to_vec();
                f.extend_from_slice(&payload[w[0]..w[1]]);
                let len = (20 + w[1] - w[0]) as u16;
                f[16..18].copy_from_slice(&len.to_be_bytes());
                f[18..20].copy_from_slice(&id.to_be_bytes());
                let mf = if i + 2 < bounds.len() { 0x2000 } else { 0 };
                f[20..22].copy_from_slice(&(mf | (w[0] / 8) as u16).to_be_bytes());
                fix_ip_checksum(&mut f);
                f
            })
            .collect()
    }

    /// An IPv4 packet of protocol `proto` (GRE 47, ESP 50...) whose payload
    /// is `payload` as is: no header past IPv4's is assumed.
    pub fn ip_proto(
        smac: [u8; 6],
        dmac: [u8; 6],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut f = dmac.to_vec();
        f.extend_from_slice(&smac);
        f.extend_from_slice(&[0x08, 0x00]);
        let len = (20 + payload.len()) as u16;
        f.extend_from_slice(&[
            0x45,
            0,
            (len >> 8) as u8,
            len as u8,
            0x12,
            0x34,
            0x40,
            0,
            64,
            proto,
            0,
            0,
        ]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        f.extend_from_slice(payload);
        fix_ip_checksum(&mut f);
        f
    }

    /// An ARP request "who has `tpa`? tell `spa`" from `smac`.
    pub fn arp_request(smac: [u8; 6], spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&smac);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&smac);
        f.extend_from_slice(&spa.octets());
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&tpa.octets());
        f
    }

    /// The router's answer to [`arp_request`].
    pub fn arp_reply(dmac: [u8; 6], dpa: Ipv4Addr, answered: Ipv4Addr) -> Vec<u8> {
        let mut f = dmac.to_vec();
        f.extend_from_slice(&GATEWAY_MAC);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
        f.extend_from_slice(&GATEWAY_MAC);
        f.extend_from_slice(&answered.octets());
        f.extend_from_slice(&dmac);
        f.extend_from_slice(&dpa.octets());
        f
    }

    /// A copy of `base` changed by `edit` (a malformed variant of a frame).
    pub fn edited(base: &[u8], edit: &dyn Fn(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = base.to_vec();
        edit(&mut v);
        v
    }

    /// `frame` with its Ethernet addresses replaced, as the fabric forwards it.
    pub fn with_macs(frame: &[u8], dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut f = frame.to_vec();
        f[0..6].copy_from_slice(&dst);
        f[6..12].copy_from_slice(&src);
        f
    }

    /// Recomputes the IPv4 header checksum of an Ethernet/IPv4 frame (after a
    /// test mangled a header field on purpose).
    pub fn fix_ip_checksum(f: &mut [u8]) {
        let ihl = ((f[14] & 0x0f) as usize * 4).min(f.len() - 14);
        f[24] = 0;
        f[25] = 0;
        let c = super::csum::fold(super::csum::sum(&f[14..14 + ihl]));
        f[24..26].copy_from_slice(&(!c).to_be_bytes());
    }

    /// ICMP errors as `(type, code, second word)`: fragmentation needed,
    /// next-hop MTU 1400 (in the word's low half).
    pub const FRAG_NEEDED: (u8, u8, [u8; 4]) = (3, 4, [0, 0, 0x05, 0x78]);
    pub const TIME_EXCEEDED: (u8, u8, [u8; 4]) = (11, 0, [0; 4]);
    pub const PORT_UNREACHABLE: (u8, u8, [u8; 4]) = (3, 3, [0; 4]);

    /// An ICMP error frame `smac` -> `dmac`, `src` -> `dst`, of `(type,
    /// code, second word)` (see [`FRAG_NEEDED`]), quoting `quote` (an IPv4
    /// packet, cut where the sender cut it). Checksums from scratch
    /// (RFC 1071, [`super::csum`]).
    pub fn icmp_error(
        (smac, dmac): ([u8; 6], [u8; 6]),
        src: Ipv4Addr,
        dst: Ipv4Addr,
        (icmp_type, code, rest): (u8, u8, [u8; 4]),
        quote: &[u8],
    ) -> Vec<u8> {
        use super::csum::{fold, sum};
        let mut icmp = vec![icmp_type, code, 0, 0];
        icmp.extend_from_slice(&rest);
        icmp.extend_from_slice(quote);
        let c = !fold(sum(&icmp));
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let tot = (20 + icmp.len()) as u16;
        let mut ip = vec![0x45, 0xc0];
        ip.extend_from_slice(&tot.to_be_bytes());
        ip.extend_from_slice(&[0x12, 0x34, 0, 0, 64, PROTO_ICMP, 0, 0]);
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        let c = !fold(sum(&ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut f = dmac.to_vec();
        f.extend_from_slice(&smac);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&icmp);
        f
    }

    /// The IPv4 packet of an Ethernet frame, its first `n` bytes (all if
    /// `n` is larger).
    pub fn ip_part(frame: &[u8], n: usize) -> Vec<u8> {
        frame[14..].iter().copied().take(n).collect()
    }
}

/// RFC 1071 checksums, written independently of the data plane.
pub mod csum {
    pub fn sum(data: &[u8]) -> u32 {
        let mut s = 0u32;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            s += w as u32;
        }
        s
    }

    pub fn fold(mut s: u32) -> u16 {
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// Asserts the IPv4 header and the TCP/UDP/ICMP checksum of an
    /// Ethernet/IPv4 frame are valid.
    pub fn assert_valid(f: &[u8]) {
        let ip = &f[14..];
        let ihl = (ip[0] & 0x0f) as usize * 4;
        assert_eq!(
            fold(sum(&ip[..ihl])),
            0xffff,
            "IPv4 header checksum invalid"
        );
        let tot = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        let l4 = &ip[ihl..tot];
        let proto = ip[9];
        let mut s = sum(l4);
        if proto == 6 || proto == 17 {
            if proto == 17 && l4[6] == 0 && l4[7] == 0 {
                return; // UDP without checksum
            }
            s += sum(&ip[12..20]) + proto as u32 + l4.len() as u32;
        }
        assert_eq!(fold(s), 0xffff, "L4 checksum invalid (proto {proto})");
    }
}

/// Path of a file in the repository's `configs/`.
pub fn config_path(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs")).join(name)
}
/// A test literal as an address: `ip("10.0.1.10")`.
pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A shipped config (`configs/FILE`) with its lab, named `lab` there,
/// renamed to `@LAB@` for [`Fixture`].
pub fn shipped_config(file: &str, lab: &str) -> String {
    std::fs::read_to_string(config_path(file))
        .unwrap()
        .replacen(&format!("name = \"{lab}\""), "name = \"@LAB@\"", 1)
}

/// The embedded default topology (`configs/default.toml`), lab `@LAB@`.
pub fn default_config() -> String {
    dataplane::config::DEFAULT_CONFIG.replacen("name = \"demo\"", "name = \"@LAB@\"", 1)
}

/// Three pings from `host` to `dst`, every one answered.
pub fn assert_ping(plan: &lab::LabPlan, host: &str, dst: &str) {
    let (code, out) = run_in_host(
        plan,
        host,
        &["ping", "-c", "3", "-i", "0.2", "-W", "1", dst],
    );
    assert_eq!(code, 0, "ping {dst} from {host}: {out}");
    assert!(out.contains("3 packets transmitted, 3 received"), "{out}");
}

/// A process started inside a lab host, killed (by PID) and reaped on drop.
/// Its stdout goes to a file that [`HostProcess::output`] reads.
pub struct HostProcess {
    child: std::process::Child,
    log: PathBuf,
    /// For servers: their own address (health probes come from it).
    own: Option<Ipv4Addr>,
}

impl HostProcess {
    pub fn spawn(plan: &lab::LabPlan, host: &str, argv: &[&str]) -> HostProcess {
        let h = plan.host(host).unwrap_or_else(|| panic!("no host {host}"));
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let log = std::env::temp_dir().join(format!(
            "hyperlab-{}-{host}-{}.log",
            plan.name,
            unique_lab("p")
        ));
        let file = std::fs::File::create(&log).expect("log file");
        let (mut cmd, _ns) = netns::command(&h.netns, &argv).expect("command in host");
        let child = cmd
            .stdout(file)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {argv:?} in {host}: {e}"));
        HostProcess {
            child,
            log,
            own: None,
        }
    }

    /// The peer-logging HTTP server on `ip:port`, ready when this returns.
    pub fn http_server(plan: &lab::LabPlan, host: &str, ip: Ipv4Addr, port: u16) -> HostProcess {
        let mut p = Self::listening(
            plan,
            host,
            &[
                "python3",
                "-c",
                lab::PEER_HTTP_SERVER,
                &ip.to_string(),
                &port.to_string(),
                host,
            ],
            (ip, port).into(),
        );
        p.own = Some(ip);
        p
    }

    /// [`HostProcess::spawn`] of a server, returned once something in `host`
    /// accepts connections on `addr` (within 10 s).
    pub fn listening(
        plan: &lab::LabPlan,
        host: &str,
        argv: &[&str],
        addr: std::net::SocketAddr,
    ) -> HostProcess {
        let p = Self::spawn(plan, host, argv);
        lab::wait_listening(plan, host, addr, std::time::Duration::from_secs(10))
            .expect("server listening");
        p
    }

    /// Waits until the process has printed `what`, for at most `timeout`.
    pub fn wait_for_output(&self, what: &str, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while !self.output().contains(what) {
            assert!(
                std::time::Instant::now() < deadline,
                "{what:?} not printed within {timeout:?}: {}",
                self.output()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The peers an HTTP server logged, in order (the readiness probe of
    /// `wait_listening` connects without a request and is never logged).
    pub fn peers(&self) -> Vec<String> {
        // Health probes come from inside the host: its own address.
        let own = self.own.map(|ip| format!("{ip}:"));
        self.output()
            .lines()
            .filter_map(|l| l.strip_prefix("PEER "))
            .filter(|p| own.as_ref().is_none_or(|o| !p.starts_with(o.as_str())))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Runs a client command inside a host and returns (exit code, stdout).
pub fn run_in_host(plan: &lab::LabPlan, host: &str, argv: &[&str]) -> (i32, String) {
    let h = plan.host(host).unwrap_or_else(|| panic!("no host {host}"));
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let (mut cmd, _ns) = netns::command(&h.netns, &argv).expect("command in host");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {argv:?} in {host}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `curl` from `host` to `http://ip:port/` with a short timeout: (exit code, body).
pub fn curl(plan: &lab::LabPlan, host: &str, ip: Ipv4Addr, port: u16) -> (i32, String) {
    let url = format!("http://{ip}:{port}/");
    run_in_host(plan, host, &["curl", "-sS", "--max-time", "2", &url])
}

/// What an NLB (or HTTP VPC link) must do with a new flow through an
/// endpoint ENI, as the reference model decides it from the topology
/// ([`reference::Model::choose`]: the listener by the documented rules,
/// Maglev over the model's own tables, the link ENI by the AWS rule), never
/// read from the compiled tables: the target, the source it will see, and
/// the first source port of the NAT probe sequence.
pub struct Expect {
    pub target: ExpectedTarget,
    /// Global target index (as `HL_OBJ_STATS` counts targets).
    pub target_index: u32,
    /// The source the target sees (NLB node or HTTP VPC link ENI).
    pub node_ip: Ipv4Addr,
    pub nat_port: u16,
}

/// The target of an [`Expect`].
pub struct ExpectedTarget {
    /// Index into `Topology::enis`.
    pub eni: usize,
    /// As the packet carries it.
    pub ip: [u8; 4],
    pub port: u16,
    pub mac: [u8; 6],
}

impl Expect {
    /// The target's address and port.
    pub fn target_addr(&self) -> (Ipv4Addr, u16) {
        (Ipv4Addr::from(self.target.ip), self.target.port)
    }

    /// A TCP segment with `flags` of this flow as the target receives it:
    /// from the node's NAT port, to the target's MAC.
    pub fn at_target(&self, flags: &str) -> Vec<u8> {
        let (tip, tport) = self.target_addr();
        let (node, nport) = (self.node_ip, self.nat_port);
        pkt::tcp(GATEWAY_MAC, self.target.mac, node, tip, nport, tport, flags)
    }

    /// The target's TCP reply with `flags`, to the node's NAT port.
    pub fn from_target(&self, flags: &str) -> Vec<u8> {
        let (tip, tport) = self.target_addr();
        let (node, nport) = (self.node_ip, self.nat_port);
        pkt::tcp(self.target.mac, GATEWAY_MAC, tip, node, tport, nport, flags)
    }
}

/// `o` forwarded `want`, byte for byte, with valid checksums (`what` names
/// the check).
pub fn assert_forwarded(o: &Outcome, want: &[u8], what: &str) {
    assert_eq!(o.verdict, Verdict::Forward, "{what}");
    assert_eq!(o.out, want, "{what}");
    csum::assert_valid(&o.out);
}

/// [`Expect`] for the first packet `src:sport -> dst:dport` (`proto`;
/// ICMP echo: both ports are the identifier) through endpoint ENI `ep_eni`
/// ([`ep_eni`]), whose address `dst` is, on a flow table where the NAT's
/// first port is free.
pub fn expect(
    fx: &Fixture,
    ep_eni: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    proto: u8,
) -> Expect {
    let topo = &fx.agent.topo;
    let (vpc, at) = topo
        .services
        .vpc_endpoints
        .iter()
        .flat_map(|ep| ep.enis.iter().map(move |e| (ep.vpc, e.ip)))
        .nth(ep_eni)
        .expect("endpoint ENI index in range");
    assert_eq!(at, dst, "endpoint ENI {ep_eni} is at {at}, not {dst}");
    let frame = match proto {
        PROTO_ICMP => pkt::echo([0; 6], GATEWAY_MAC, src, dst, sport, true),
        PROTO_UDP => pkt::udp([0; 6], GATEWAY_MAC, src, dst, sport, dport),
        _ => pkt::tcp([0; 6], GATEWAY_MAC, src, dst, sport, dport, "S"),
    };
    let c = reference::Model::new(topo, None)
        .choose(vpc, &frame)
        .unwrap_or_else(|r| panic!("the model refuses {src}:{sport} -> {dst}:{dport}: {r:?}"));
    let t = &topo.enis[c.target_eni];
    Expect {
        target: ExpectedTarget {
            eni: c.target_eni,
            ip: t.ip.octets(),
            port: c.target_port,
            mac: t.mac,
        },
        target_index: c.target as u32,
        node_ip: c.source,
        nat_port: c.nat_port,
    }
}

/// Opens a TCP flow on the TC hook, with the flow table emptied first: a
/// SYN from ENI `from` (address `src`) to the endpoint address `dst`, which
/// must be forwarded; returns where [`expect`] says it went.
pub fn open_through_endpoint(
    fx: &mut Fixture,
    from: &str,
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
) -> Expect {
    let mac = fx.mac(from);
    fx.clear_flows();
    let e = expect(
        fx,
        ep_eni(fx, &dst.to_string()),
        src,
        dst,
        sport,
        dport,
        PROTO_TCP,
    );
    let syn = pkt::tcp(mac, GATEWAY_MAC, src, dst, sport, dport, "S");
    let o = fx.run(Hook::Tc, from, &syn);
    assert_eq!(o.verdict, Verdict::Forward, "SYN {from} -> {dst}:{dport}");
    e
}

/// Endpoint-ENI index of an endpoint address.
pub fn ep_eni(fx: &Fixture, addr: &str) -> usize {
    let a: Ipv4Addr = addr.parse().unwrap();
    let mut i = 0;
    for ep in &fx.agent.topo.services.vpc_endpoints {
        for e in &ep.enis {
            if e.ip == a {
                return i;
            }
            i += 1;
        }
    }
    panic!("no endpoint ENI {addr}")
}

pub mod differential;
pub mod echo;
pub mod flow_log_file;
pub mod nodes;
pub mod reference;
pub mod stage;

/// Runs `frame` from ENI `from` through both hooks (on an empty flow table
/// each time) and asserts a drop with exactly this reason and no other, the
/// frame untouched, and no flow state left behind.
pub fn assert_drop_on_both_hooks(
    fx: &mut Fixture,
    from: &str,
    frame: &[u8],
    reason: dataplane_common::DropReason,
) {
    for hook in HOOKS {
        fx.clear_flows();
        let before = fx.snapshot();
        let o = fx.run(hook, from, frame);
        let d = fx.snapshot().since(&before);
        assert_eq!(
            (o.verdict, o.out.as_slice()),
            (Verdict::Drop, frame),
            "{hook:?}: {}",
            reason.name()
        );
        assert_eq!(
            d.nonzero_drops(),
            vec![(reason as usize, 1)],
            "{hook:?}: exactly one {}",
            reason.name()
        );
        assert!(
            fx.flows().is_empty(),
            "{hook:?}: no state for a dropped flow"
        );
    }
}
