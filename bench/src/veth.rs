//! Part 3: packets per second on veths, XDP hook. The bench object's
//! live-frames generator sends 64-byte UDP from the client namespace into
//! the fabric ("router") namespace, where the program under test (or the
//! kernel's netfilter NAT) forwards to the server namespace, whose XDP sink
//! counts, samples and drops. Every scenario runs on the same veths. On a
//! kernel that refuses BPF_PROG_RUN with live frames, an AF_PACKET socket on
//! the same eth0 sends the same frames instead ([`Generator`], [`afpacket`]).

use std::{
    collections::HashMap as StdHashMap,
    net::Ipv4Addr,
    path::Path,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp};
use dataplane::{
    compile,
    lab::{self, LabPlan},
    loader::{Dataplane, LoadOptions},
    model::{format_mac, Hook},
    netns,
};
use dataplane_common::{GATEWAY_MAC, PROTO_UDP};
use etherparse::PacketBuilder;
use hyperlab_bench_common::{programs as bprog, BenchConfig, COUNT_GEN, COUNT_SINK, FRAME_LEN};

use super::{
    afpacket,
    kernel::SPORT_XOR,
    objects::BenchObject,
    report::{num, Check, Report, Row, Target},
    stats::{ratios, Summary},
    sys,
    topo::{Net, API, CLIENT, EIP, ENDPOINT, EXAMPLE, INT_UDP, LINK, NLB, SERVER, TOPO},
    verify::{self, Ports},
    Options, Section, Sizes,
};
use hyperlab_tests::{topology, unique_lab, xdp_ctx, LabGuard};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Redirect,
    Nat,
    Hyperlab,
    Netfilter,
}

/// The host whose eth0 the generator sends from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    Client,
    /// The API host (API service VPC): the VPC-link path.
    Api,
}

/// What sends part 3's frames, picked once per run ([`generator`]). The two
/// give different rates: every ratio of the part is taken against baselines
/// measured with the same generator in the same run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generator {
    /// `hlb_gen` through BPF_PROG_RUN with live frames, XDP_TX out of the
    /// sending host's eth0.
    LiveFrames,
    /// An AF_PACKET socket on the sending host's eth0 transmitting the frames
    /// `hlb_gen` would write ([`afpacket`]): the kernel refuses live frames.
    AfPacket,
}

impl Generator {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Generator::LiveFrames => "live frames (BPF_PROG_RUN)",
            Generator::AfPacket => "AF_PACKET (kernel refuses live frames)",
        }
    }

    /// The report's note line naming the generator.
    fn note(self) -> String {
        format!(
            "Generator: {}. A kernel that refuses BPF_PROG_RUN with live frames gets an \
             AF_PACKET generator instead (the same frames, sent from the same eth0 with \
             sendmmsg), named here; the two generators' rates are not comparable, the ratios \
             are (each against baselines measured with the same generator in the same run).",
            self.label()
        )
    }
}

struct Scenario {
    name: &'static str,
    kind: Kind,
    from: Src,
    /// Where the generator sends.
    dst: Ipv4Addr,
    dport: u16,
    /// What the sink must see.
    out: Out,
    /// Delivered to the lab's internet host (its sink), not the server;
    /// run up to [`MAX_INTERNET_FLOWS`] flows.
    to_internet: bool,
}

/// Flows the NAT gateway path runs at most: every flow goes to one
/// destination, so the gateway's pool for it (1024-65535 here; AWS 55,000)
/// cannot hold 65,536 of them.
const MAX_INTERNET_FLOWS: u32 = 4096;

/// The frames the sink must see: addresses, ports and TTL.
struct Out {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: Sport,
    dport: Ports,
    ttl: u8,
}

/// The source ports the sink sees.
enum Sport {
    /// The generator's, XOR-mapped by `xor` (the minimal NAT's mapping).
    Generated { xor: u16 },
    /// A translator's pick in the range (inclusive).
    Range(u16, u16),
}

impl Scenario {
    /// What the sink must see, given the generator's source ports.
    fn expect(&self, net: &Net, base: u16, n: u32) -> verify::Expect {
        let o = &self.out;
        let sport = match o.sport {
            Sport::Generated { xor } => Ports::Generated { base, n, xor },
            Sport::Range(a, b) => Ports::Range(a, b),
        };
        let mut e = udp(o.src, o.dst, sport, o.dport, o.ttl, net);
        if self.to_internet {
            e.dst_mac = Some(net.example_mac);
        }
        e
    }

    /// Whether this scenario runs with `flows` flows.
    fn runs(&self, flows: u32) -> bool {
        !self.to_internet || flows <= MAX_INTERNET_FLOWS
    }
}

const SPORT_BASE: u16 = 1024;

fn udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: Ports,
    dport: Ports,
    ttl: u8,
    net: &Net,
) -> verify::Expect {
    verify::Expect {
        dst_mac: Some(net.server_mac),
        src,
        dst,
        proto: PROTO_UDP,
        sport,
        dport,
        ttl: Some(ttl),
    }
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "floor: XDP redirect (DevMap)",
        kind: Kind::Redirect,
        from: Src::Client,
        dst: SERVER,
        dport: 5353,
        out: Out {
            src: CLIENT,
            dst: SERVER,
            sport: Sport::Generated { xor: 0 },
            dport: Ports::One(5353),
            ttl: 64,
        },
        to_internet: false,
    },
    Scenario {
        name: "floor: minimal stateful XDP NAT",
        kind: Kind::Nat,
        from: Src::Client,
        dst: ENDPOINT,
        dport: 53,
        out: Out {
            src: NLB,
            dst: SERVER,
            sport: Sport::Generated { xor: SPORT_XOR },
            dport: Ports::One(5353),
            ttl: 64,
        },
        to_internet: false,
    },
    Scenario {
        name: "hyperlab XDP: intra-VPC",
        kind: Kind::Hyperlab,
        from: Src::Client,
        dst: SERVER,
        dport: 5353,
        out: Out {
            src: CLIENT,
            dst: SERVER,
            sport: Sport::Generated { xor: 0 },
            dport: Ports::One(5353),
            ttl: 64,
        },
        to_internet: false,
    },
    Scenario {
        name: "hyperlab XDP: PrivateLink (endpoint -> NLB -> target)",
        kind: Kind::Hyperlab,
        from: Src::Client,
        dst: ENDPOINT,
        dport: 53,
        out: Out {
            src: NLB,
            dst: SERVER,
            sport: Sport::Range(1024, 65535),
            dport: Ports::Either(5353, 5354),
            ttl: 64,
        },
        to_internet: false,
    },
    Scenario {
        name: "hyperlab XDP: VPC link (API host -> link ENI -> target)",
        kind: Kind::Hyperlab,
        from: Src::Api,
        dst: INT_UDP,
        dport: 53,
        out: Out {
            src: LINK,
            dst: SERVER,
            sport: Sport::Range(1024, 65535),
            dport: Ports::Either(5353, 5354),
            ttl: 64,
        },
        to_internet: false,
    },
    Scenario {
        name: "hyperlab XDP: NAT gateway (client -> nat -> internet host)",
        kind: Kind::Hyperlab,
        from: Src::Client,
        dst: EXAMPLE,
        dport: 5353,
        out: Out {
            src: EIP,
            dst: EXAMPLE,
            sport: Sport::Range(1024, 65535),
            dport: Ports::One(5353),
            ttl: 64,
        },
        to_internet: true,
    },
    Scenario {
        name: "kernel netfilter DNAT+SNAT, conntrack",
        kind: Kind::Netfilter,
        from: Src::Client,
        dst: ENDPOINT,
        dport: 53,
        out: Out {
            src: NLB,
            dst: SERVER,
            sport: Sport::Generated { xor: 0 },
            dport: Ports::One(5353),
            ttl: 63,
        },
        to_internet: false,
    },
];

const NFT_RULES: &str = "table ip hlbench {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 10.0.1.100 udp dport 53 dnat to 10.0.1.21:5353
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip daddr 10.0.1.21 udp dport 5353 snat to 10.0.1.50
  }
}
";

/// The generator's frame for `dst:dport` with source port 0 (the generator
/// adds its port to the UDP checksum): 64 bytes, checksums valid.
fn template(net: &Net, from: Src, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let (mac, src) = match from {
        Src::Client => (net.client_mac, CLIENT),
        Src::Api => (net.api_mac, API),
    };
    let b = PacketBuilder::ethernet2(mac, GATEWAY_MAC)
        .ipv4(src.octets(), dst.octets(), 64)
        .udp(0, dport);
    let payload = [0x68u8; FRAME_LEN - 14 - 20 - 8];
    let mut f = Vec::with_capacity(FRAME_LEN);
    b.write(&mut f, &payload).expect("frame");
    assert_eq!(f.len(), FRAME_LEN);
    f
}

fn words(f: &[u8]) -> [u64; 8] {
    let mut w = [0u64; 8];
    for (i, c) in f.chunks(8).enumerate() {
        w[i] = u64::from_le_bytes(c.try_into().expect("8 bytes"));
    }
    w
}

/// Netfilter rules in the router namespace; flushed again on drop.
struct Nft<'a> {
    ns: &'a str,
}

impl<'a> Nft<'a> {
    fn install(ns: &'a str) -> Result<Nft<'a>> {
        let g = Nft { ns };
        sys::in_ns(ns, &["conntrack", "-F"]).ok();
        sys::in_ns_stdin(ns, &["nft", "-f", "-"], NFT_RULES)?;
        Ok(g)
    }
}

impl Drop for Nft<'_> {
    fn drop(&mut self) {
        if let Err(e) = sys::in_ns(self.ns, &["nft", "flush", "ruleset"]) {
            eprintln!("warning: flushing netfilter rules in {}: {e:#}", self.ns);
        }
        let _ = sys::in_ns(self.ns, &["conntrack", "-F"]);
    }
}

/// One measurement.
struct Sample {
    mpps: f64,
    insitu_ns: Option<f64>,
    delivered: f64,
}

struct Rig {
    plan: LabPlan,
    net: Net,
    compiled: compile::Compiled,
    client_if: u32,
    api_if: u32,
    p0: String,
    p1: String,
    p1_if: u32,
}

pub fn run(opts: &Options, sizes: &Sizes, report: &mut Report) -> Result<()> {
    let gen = generator(&opts.bench_obj)?;
    eprintln!("[bench] veth: generator: {}", gen.label());
    let topo = topology(TOPO, &unique_lab("hlbv"));
    let plan = lab::plan(&topo);
    lab::up(&plan)?;
    let _lab = LabGuard(Some(plan.clone()));
    let mut ifx = lab::fabric_ifindexes(&plan)?;
    ifx.sort();
    let ifindexes: Vec<u32> = ifx.iter().map(|&(_, i)| i).collect();
    let compiled = compile::compile(&topo, &ifindexes)?;
    let net = Net::from_compiled(&compiled.ports, &compiled.enis);
    let client = topo.eni_by_id("eni-client").context("client")?;
    let server = topo.eni_by_id("eni-server").context("server")?;
    let api = topo.eni_by_id("eni-apigw").context("API host")?;
    let rig = Rig {
        client_if: lab::host_ifindex(&plan, client)?,
        api_if: lab::host_ifindex(&plan, api)?,
        p0: plan.ports[client].name.clone(),
        p1: plan.ports[server].name.clone(),
        p1_if: ifindexes[server],
        net,
        compiled,
        plan,
    };
    let fabric = rig.plan.fabric_ns.clone();
    // The netfilter peer's router: frames arrive for the gateway MAC, the
    // server is a permanent neighbour (its drop program never answers ARP).
    sys::ip(
        &fabric,
        &["link", "set", &rig.p0, "address", &format_mac(&GATEWAY_MAC)],
    )?;
    netns::write_sysctl_in(&fabric, "ipv4/ip_forward", "1")?;
    for k in ["all", "default", rig.p0.as_str(), rig.p1.as_str()] {
        netns::write_sysctl_in(&fabric, &format!("ipv4/conf/{k}/rp_filter"), "0")?;
    }
    sys::ip(
        &fabric,
        &["route", "add", &format!("{SERVER}/32"), "dev", &rig.p1],
    )?;
    sys::ip(
        &fabric,
        &["route", "add", &format!("{CLIENT}/32"), "dev", &rig.p0],
    )?;
    sys::ip(
        &fabric,
        &[
            "neigh",
            "replace",
            &SERVER.to_string(),
            "lladdr",
            &format_mac(&rig.net.server_mac),
            "dev",
            &rig.p1,
            "nud",
            "permanent",
        ],
    )?;

    let mut bench = BenchObject::load(&opts.bench_obj, None)?;
    let server_ns = rig
        .plan
        .host("server")
        .context("server host")?
        .netns
        .clone();
    let sink = bench.attach_xdp(bprog::SINK, &server_ns, "eth0")?;
    // The NAT gateway path's frames end at the internet host: a sink there
    // too (the same program, counters and samples).
    let example_ns = rig
        .plan
        .host("example")
        .context("internet host example")?
        .netns
        .clone();
    let example_sink = bench.attach_xdp(bprog::SINK, &example_ns, "eth0")?;
    bench.set_devmap(&fabric, rig.p1_if)?;
    let stats_before =
        std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").unwrap_or_default();

    let mut data: StdHashMap<(usize, u32), Vec<Sample>> = StdHashMap::new();
    let mut checks: Vec<Check> = SCENARIOS
        .iter()
        .map(|s| Check::new(format!("veth: {}", s.name)))
        .collect();
    let mut est: StdHashMap<(usize, u32), f64> = StdHashMap::new();
    for rep in 0..opts.reps {
        for &flows in &sizes.pps_flows {
            for (si, sc) in SCENARIOS.iter().enumerate().filter(|(_, s)| s.runs(flows)) {
                eprintln!(
                    "[bench] veth: {}, {flows} flows, repetition {}/{}",
                    sc.name,
                    rep + 1,
                    opts.reps
                );
                let s = scenario(
                    &rig,
                    gen,
                    &mut bench,
                    opts,
                    sizes,
                    sc,
                    flows,
                    &mut checks[si],
                    est.get(&(si, flows)).copied(),
                )
                .with_context(|| format!("{}, {flows} flows", sc.name))?;
                est.insert((si, flows), s.mpps * 1e6);
                data.entry((si, flows)).or_default().push(s);
            }
        }
    }
    bench.detach_xdp(bprog::SINK, example_sink)?;
    bench.detach_xdp(bprog::SINK, sink)?;
    let stats_after =
        std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").unwrap_or_default();
    report.checks.extend(checks);
    report.note(Section::Veth, gen.note());

    // Rows: Mpps with a ratio to the baseline that matters for each path.
    let floor = 0;
    let nat = 1;
    for &flows in &sizes.pps_flows {
        let table = pps_table(flows);
        let mpps = |si: usize| -> Vec<f64> {
            data.get(&(si, flows))
                .map(|v| v.iter().map(|s| s.mpps).collect())
                .unwrap_or_default()
        };
        for (si, sc) in SCENARIOS.iter().enumerate().filter(|(_, s)| s.runs(flows)) {
            let v = mpps(si);
            let added: Vec<f64> = v
                .iter()
                .zip(mpps(floor))
                .map(|(m, f)| 1e3 / m - 1e3 / f)
                .collect();
            let insitu: Vec<f64> = data
                .get(&(si, flows))
                .map(|v| v.iter().filter_map(|s| s.insitu_ns).collect())
                .unwrap_or_default();
            let delivered: Vec<f64> = data
                .get(&(si, flows))
                .map(|v| v.iter().map(|s| s.delivered * 100.0).collect())
                .unwrap_or_default();
            let mut note = Vec::new();
            if si != floor {
                if let Some(a) = Summary::of(&added) {
                    note.push(format!("{:+.0} ns/frame over the floor", a.median));
                }
            }
            if let Some(i) = Summary::of(&insitu) {
                note.push(format!("in situ {} ns/pkt", num(i.median)));
            }
            if let Some(d) = Summary::of(&delivered) {
                note.push(format!("delivered {:.1} %", d.min));
            }
            let mut r = Row::new(Section::Veth, table, sc.name, "Mpps", v.clone())
                .context(format!("{flows} flows"))
                .plot()
                .note(note.join("; "));
            r = match sc.kind {
                Kind::Redirect => r,
                Kind::Nat | Kind::Netfilter => {
                    r.baseline("redirect floor", ratios(&v, &mpps(floor)))
                }
                Kind::Hyperlab => r
                    .baseline("minimal stateful NAT", ratios(&v, &mpps(nat)))
                    .target(Target::ratio_at_least(1.0, ">= the minimal stateful NAT")),
            };
            report.rows.push(r);
        }
        for (si, sc) in SCENARIOS
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind != Kind::Netfilter && s.runs(flows))
        {
            let per = |si: usize| -> Vec<f64> {
                data.get(&(si, flows))
                    .map(|v| v.iter().map(|s| s.insitu_ns.unwrap_or(f64::NAN)).collect())
                    .unwrap_or_default()
            };
            let v = per(si);
            let mut r = Row::new(Section::Veth, insitu_table(flows), sc.name, "ns", v.clone())
                .context(format!("in situ, {flows} flows"));
            if si != floor {
                r = r.baseline("redirect floor", ratios(&v, &per(floor)));
            }
            report.rows.push(r);
        }
    }
    report.note(
        Section::Veth,
        method(
            gen,
            opts.cpu,
            topo.eni_by_id("eni-client").unwrap_or(0),
            sample_shift(opts),
            sizes.pps_seconds,
            (stats_before.trim(), stats_after.trim()),
        ),
    );
    Ok(())
}

/// The part's method paragraph for `gen`: `cpu` runs the generator,
/// `client_port` is the client's fabric port, the sink keeps one frame in
/// 2^`shift`, a measurement lasts about `secs`, `stats` is what
/// kernel.bpf_stats_enabled read before and after the part.
fn method(
    gen: Generator,
    cpu: usize,
    client_port: usize,
    shift: u32,
    secs: f64,
    stats: (&str, &str),
) -> String {
    let (before, after) = stats;
    format!(
        "Topology: the bench lab (client, server, API host, fabric namespaces from \
         `lab::up`). {generator} pinned to CPU {cpu}) writes every header field of every \
         frame and sends it out of the client's eth0 (the API host's for the VPC link: to the link's UDP integration \
         address 10.1.1.202:53, source-NATed to the link ENI 10.0.1.4, to the NLB \
         listener's targets); the program under test runs on the fabric port \
         p{client_port} (native XDP; hyperlab on every fabric port); \
         the sink (`hlb_sink` on the server's eth0) counts per CPU and keeps one frame in \
         2^{shift} for the runner to check (destination MAC, addresses, ports, TTL, IPv4 and \
         UDP checksums). Source ports run through {base}..{base}+N-1 (wrapping) for N flows; \
         each measurement first sends every flow three times (flows are created, caches \
         warm), then one long {call} of about {secs} s. Mpps is the sink's count over the \
         window from 10 % to 45 % of the {call}'s frames (statistics off); in-situ ns/packet \
         is run_time_ns / run_cnt of the router port's program over 50 % to 85 % of the \
         frames, with BPF run-time statistics switched on for that window only \
         (BPF_ENABLE_STATS, the syscall behind kernel.bpf_stats_enabled: it is released \
         even if the bench dies; the sysctl read {before} before and {after} after). \
         'delivered' is the lowest share of generated frames the sink counted in any \
         repetition. Netfilter: XDP_PASS on the fabric port (a veth only receives XDP_TX \
         frames with NAPI on its peer), IPv4 forwarding, `nft` DNAT 10.0.1.100:53 -> \
         10.0.1.21:5353 and SNAT to 10.0.1.50, conntrack flushed before each run, rules \
         flushed after; it has no program of its own to time in situ. The PrivateLink (and \
         VPC-link) target group has two targets (ports 5353 and 5354 on the server) because 65,536 \
         flows from one source address need more NAT source ports than one target's \
         1024-65535 holds. The NAT gateway path sends from the client to the lab's internet \
         host 203.0.113.10:5353 through nat-bench (Elastic IP 203.0.113.50, source ports \
         1024-65535), delivered to a second sink on the internet host's eth0; it runs up to \
         4,096 flows (one destination: 65,536 flows need more ports than a gateway has for it).",
        generator = match gen {
            Generator::LiveFrames => "The generator (`hlb_gen`, BPF_PROG_RUN with live \
                                      frames, batch 64,",
            Generator::AfPacket => "The generator (an AF_PACKET socket bound to the \
                                    sending host's eth0 in its namespace, sendmmsg batches \
                                    of 256, the frames built as `hlb_gen` builds them,",
        },
        call = match gen {
            Generator::LiveFrames => "call",
            Generator::AfPacket => "run",
        },
        base = SPORT_BASE,
    )
}

fn pps_table(flows: u32) -> &'static str {
    match flows {
        1 => "64-byte UDP, 1 flow (Mpps at the sink)",
        4096 => "64-byte UDP, 4,096 flows (Mpps at the sink)",
        65536 => "64-byte UDP, 65,536 flows (Mpps at the sink)",
        _ => "64-byte UDP, quick-mode flows (Mpps at the sink)",
    }
}

fn insitu_table(flows: u32) -> &'static str {
    match flows {
        1 => "In-situ ns per packet of the router port's program, 1 flow",
        4096 => "In-situ ns per packet of the router port's program, 4,096 flows",
        65536 => "In-situ ns per packet of the router port's program, 65,536 flows",
        _ => "In-situ ns per packet of the router port's program, quick-mode flows",
    }
}

fn sample_shift(opts: &Options) -> u32 {
    if opts.quick {
        6
    } else {
        12
    }
}

/// Sets up `sc`'s forwarder, warms it, measures, checks the sink's samples,
/// tears the forwarder down.
#[allow(clippy::too_many_arguments)]
fn scenario(
    rig: &Rig,
    gen: Generator,
    bench: &mut BenchObject,
    opts: &Options,
    sizes: &Sizes,
    sc: &Scenario,
    flows: u32,
    check: &mut Check,
    est_pps: Option<f64>,
) -> Result<Sample> {
    let fabric = rig.plan.fabric_ns.as_str();
    let (host, gen_if) = match sc.from {
        Src::Client => ("client", rig.client_if),
        Src::Api => ("apigw", rig.api_if),
    };
    let gen_ns = rig
        .plan
        .host(host)
        .with_context(|| format!("{host} host"))?
        .netns
        .clone();
    let net = &rig.net;
    let frame = template(net, sc.from, sc.dst, sc.dport);
    let (d, g) = (net.server_mac, GATEWAY_MAC);
    bench.set_config(&BenchConfig {
        frame: words(&frame),
        flows_mask: flows - 1,
        sport_base: SPORT_BASE as u32,
        sample_shift: sample_shift(opts),
        out_ifindex: rig.p1_if,
        eth: [
            d[0], d[1], d[2], d[3], d[4], d[5], g[0], g[1], g[2], g[3], g[4], g[5],
        ],
        nat_src: NLB.octets(),
        nat_dst: SERVER.octets(),
        nat_dport: 5353u16.to_be_bytes(),
        sport_xor: SPORT_XOR.to_be_bytes(),
    })?;
    let traffic = Traffic {
        frames: match gen {
            Generator::LiveFrames => None,
            Generator::AfPacket => {
                Some(afpacket::Frames::new(&frame, SPORT_BASE as u32, flows - 1)?)
            }
        },
        generated: AtomicU64::new(0),
        ns: &gen_ns,
        ifindex: gen_if,
        frame: &frame,
        cpu: opts.cpu,
    };
    // The forwarder, torn down when this function returns.
    let mut dp: Option<Dataplane> = None;
    let mut nft: Option<Nft<'_>> = None;
    let prog_name = match sc.kind {
        Kind::Redirect => Some(bprog::XDP_REDIRECT),
        Kind::Nat => {
            bench.nat_clear()?;
            Some(bprog::XDP_NAT)
        }
        Kind::Netfilter => {
            nft = Some(Nft::install(fabric)?);
            Some(bprog::XDP_PASS)
        }
        Kind::Hyperlab => {
            let mut d = Dataplane::load_with(
                &opts.dataplane_obj,
                &LoadOptions {
                    flow_table_size: Some(1 << 19),
                    ..Default::default()
                },
            )?;
            d.apply(&rig.compiled)?;
            let ports: Vec<String> = rig.plan.ports.iter().map(|p| p.name.clone()).collect();
            d.attach(fabric, &ports, Hook::Xdp)?;
            dp = Some(d);
            None
        }
    };
    let link = match prog_name {
        Some(p) => Some((p, bench.attach_xdp(p, fabric, &rig.p0)?)),
        None => None,
    };
    bench.reset_samples()?;
    let result = (|| -> Result<Sample> {
        let fwd: Option<&Xdp> = match (sc.kind, &dp) {
            (Kind::Netfilter, _) => None,
            (Kind::Hyperlab, Some(d)) => Some(d.xdp()),
            _ => prog_name.map(|p| bench.xdp(p)),
        };
        // Warm-up: every flow three times; its rate sizes the measured call.
        let warm = flows * 3 + if opts.quick { 20_000 } else { 300_000 };
        let t = Instant::now();
        traffic.send(bench, warm)?;
        let warm_pps = warm as f64 / t.elapsed().as_secs_f64();
        let pps = est_pps.unwrap_or(warm_pps).max(10_000.0);
        let mut repeat = ((pps * sizes.pps_seconds) as u64).clamp(50_000, 200_000_000) as u32;
        // A call too short for the monitor to see its window (a stalled
        // monitor on a busy machine) is repeated, longer.
        let mut tries = 0;
        let m = loop {
            match timed(bench, &traffic, repeat, fwd)? {
                Some(m) => break m,
                None if tries < 3 => {
                    tries += 1;
                    repeat = repeat.saturating_mul(2);
                }
                None => bail!("the generator kept finishing before the measurement window closed ({repeat} frames)"),
            }
        };
        // The sink's samples: every one must be right.
        let want = sc.expect(net, SPORT_BASE, flows);
        for s in bench.samples()? {
            check.delivered += 1;
            match verify::frame(&s.data[..s.len.min(s.data.len() as u32) as usize], &want) {
                Ok(()) => check.verified += 1,
                Err(e) => check.fail(format!("{flows} flows: {e}")),
            }
        }
        if m.delivered <= 0.0 {
            check.fail(format!("{flows} flows: nothing reached the sink"));
        }
        Ok(m)
    })();
    if let Some((p, l)) = link {
        bench.detach_xdp(p, l)?;
    }
    drop(dp);
    drop(nft);
    result
}

/// One scenario's traffic: its frame, sent from `ns`'s interface `ifindex`
/// by the run's generator, pinned to `cpu`.
struct Traffic<'a> {
    /// AF_PACKET: the frames `hlb_gen` would write, one per flow (None with
    /// live frames: `hlb_gen` writes them).
    frames: Option<afpacket::Frames>,
    /// AF_PACKET: frames sent so far (`hlb_gen` counts in COUNT_GEN).
    generated: AtomicU64,
    ns: &'a str,
    ifindex: u32,
    /// The template (source port 0) `hlb_gen` reads from the config.
    frame: &'a [u8],
    cpu: usize,
}

impl Traffic<'_> {
    /// Sends `repeat` frames: one live-frames call, or AF_PACKET batches.
    fn send(&self, bench: &BenchObject, repeat: u32) -> Result<()> {
        netns::scoped_in(self.ns, || {
            sys::pin_to_cpu(self.cpu)?;
            match &self.frames {
                None => {
                    let ctx = xdp_ctx(self.ifindex, self.frame.len());
                    live_frames(bench.xdp(bprog::GEN), self.frame, Some(&ctx), repeat)
                        .context("BPF_PROG_RUN live frames (generator)")
                }
                Some(frames) => afpacket::Sender::open(self.ifindex)?
                    .send(frames, &self.generated, repeat as u64)
                    .context("AF_PACKET generator"),
            }
        })
    }

    /// Frames the generator has sent so far (a counter that only grows).
    fn generated(&self, bench: &BenchObject) -> Result<u64> {
        match self.frames {
            None => bench.count(COUNT_GEN),
            Some(_) => Ok(self.generated.load(Ordering::Acquire)),
        }
    }
}

/// Picks part 3's generator: live frames when the kernel runs them (one
/// frame through the sink, which only counts and drops, in the caller's
/// namespace, on a bench object of its own), AF_PACKET when it refuses them
/// with EPERM. Any other failure is an error.
pub fn generator(bench_obj: &Path) -> Result<Generator> {
    let bench = BenchObject::load(bench_obj, None)?;
    let frame = [0u8; FRAME_LEN];
    match live_frames_call(bench.xdp(bprog::SINK), &frame, None, 1) {
        Ok(()) => Ok(Generator::LiveFrames),
        Err(e) if refused(&e) => {
            eprintln!(
                "[bench] veth: {}",
                refusal(
                    &kernel_release(),
                    "part 3 sends its frames with AF_PACKET instead"
                )
            );
            Ok(Generator::AfPacket)
        }
        Err(e) => Err(anyhow::Error::new(e).context("BPF_PROG_RUN with live frames (probe)")),
    }
}

/// BPF_PROG_RUN with live frames, batches of 64.
fn live_frames_call(
    prog: &Xdp,
    frame: &[u8],
    ctx: Option<&[u8]>,
    repeat: u32,
) -> Result<(), aya::programs::ProgramError> {
    prog.test_run(TestRunOptions {
        data_in: Some(frame),
        ctx_in: ctx,
        repeat,
        attrs: TestRunAttrs::new().xdp_live_frames(64),
        ..Default::default()
    })
    .map(|_| ())
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// [`live_frames_call`], a refusal named.
fn live_frames(prog: &Xdp, frame: &[u8], ctx: Option<&[u8]>, repeat: u32) -> Result<()> {
    live_frames_call(prog, frame, ctx, repeat).map_err(|e| {
        let refused = refused(&e);
        let e = anyhow::Error::new(e);
        if refused {
            e.context(refusal(
                &kernel_release(),
                "it accepted them when part 3 started",
            ))
        } else {
            e
        }
    })
}

/// Why a root process gets EPERM from BPF_PROG_RUN with live frames: the
/// upstream kernel has no such error on that path (net/bpf/test_run.c), so
/// the kernel build refuses the feature. Seen on the sandbox kernel
/// 6.18.44-fc-v1300, for any XDP program, also one that only drops, in the
/// root namespace, without an ingress interface or CPU pinning; its
/// 6.18.44-fc-v782 ran docs/BENCHMARKS.md's part 3.
fn refusal(release: &str, then: &str) -> String {
    format!(
        "this kernel ({release}) refuses BPF_PROG_RUN with live frames \
         (BPF_F_TEST_XDP_LIVE_FRAMES) to root with EPERM, for any XDP program: a restriction \
         of the kernel build, not of the lab; {then}"
    )
}

/// Whether a BPF_PROG_RUN failure is the kernel refusing the call (EPERM).
fn refused(e: &aya::programs::ProgramError) -> bool {
    matches!(e, aya::programs::ProgramError::SyscallError(s)
        if s.io_error.raw_os_error() == Some(libc::EPERM))
}

struct Point {
    t: Instant,
    gen: u64,
    sink: u64,
}

/// Counters at the start and end of the rate window.
type Window = Option<(Point, Point)>;
/// (run_time_ns, run_cnt) of the router port's program at the start and
/// end of the in-situ window.
type InSitu = Option<((u64, u64), (u64, u64))>;

/// One long generator call with a monitor thread that samples the counters
/// as the call progresses (see the report's method note).
fn timed(
    bench: &BenchObject,
    traffic: &Traffic<'_>,
    repeat: u32,
    fwd: Option<&Xdp>,
) -> Result<Option<Sample>> {
    let start_gen = traffic.generated(bench)?;
    let start_sink = bench.count(COUNT_SINK)?;
    let done = AtomicBool::new(false);
    let info = |p: Option<&Xdp>| -> Option<(u64, u64)> {
        let i = p?.info().ok()?;
        Some((i.run_time().as_nanos() as u64, i.run_count()))
    };
    let (gen_result, mon) = std::thread::scope(|s| {
        let mon = s.spawn(|| -> Result<(Window, InSitu)> {
            let at = |f: f64| start_gen + (repeat as f64 * f) as u64;
            let point = || -> Result<Point> {
                Ok(Point {
                    t: Instant::now(),
                    gen: traffic.generated(bench)?,
                    sink: bench.count(COUNT_SINK)?,
                })
            };
            let wait_for = |target: u64| -> Result<Option<Point>> {
                loop {
                    let p = point()?;
                    if p.gen >= target {
                        return Ok(Some(p));
                    }
                    if done.load(Ordering::Acquire) {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            };
            let Some(a) = wait_for(at(0.10))? else {
                return Ok((None, None));
            };
            let Some(b) = wait_for(at(0.45))? else {
                return Ok((None, None));
            };
            let window = Some((a, b));
            if fwd.is_none() {
                return Ok((window, None));
            }
            let stats =
                aya::sys::enable_stats(aya::sys::Stats::RunTime).context("BPF_ENABLE_STATS")?;
            if wait_for(at(0.50))?.is_none() {
                return Ok((window, None));
            }
            let c = info(fwd);
            let d = wait_for(at(0.85))?;
            let dd = info(fwd);
            drop(stats);
            Ok((
                window,
                match (c, d, dd) {
                    (Some(c), Some(_), Some(dd)) => Some((c, dd)),
                    _ => None,
                },
            ))
        });
        let r = traffic.send(bench, repeat);
        done.store(true, Ordering::Release);
        (r, mon.join())
    });
    gen_result?;
    let (window, insitu) = mon.map_err(|_| anyhow::anyhow!("monitor thread panicked"))??;
    let gen = traffic.generated(bench)? - start_gen;
    let sink = bench.count(COUNT_SINK)? - start_sink;
    let Some((a, b)) = window else {
        return Ok(None);
    };
    let mpps = (b.sink - a.sink) as f64 / (b.t - a.t).as_secs_f64() / 1e6;
    let insitu_ns = insitu
        .and_then(|((t0, c0), (t1, c1))| (c1 > c0).then(|| (t1 - t0) as f64 / (c1 - c0) as f64));
    Ok(Some(Sample {
        mpps,
        insitu_ns,
        delivered: if gen == 0 {
            0.0
        } else {
            sink as f64 / gen as f64
        },
    }))
}

#[cfg(test)]
mod tests {
    use std::io;

    use aya::{programs::ProgramError, sys::SyscallError};

    use super::*;

    fn syscall_error(errno: i32) -> ProgramError {
        ProgramError::SyscallError(SyscallError {
            call: "bpf_prog_test_run",
            io_error: io::Error::from_raw_os_error(errno),
        })
    }

    #[test]
    fn eperm_from_bpf_prog_run_is_the_kernel_refusing_live_frames() {
        assert!(refused(&syscall_error(libc::EPERM)));
        assert!(!refused(&syscall_error(libc::EINVAL)));
        assert!(!refused(&syscall_error(libc::ENOMEM)));
        assert!(!refused(&ProgramError::NotLoaded));
        assert!(refusal("6.18.44-fc-v1300", "then")
            .starts_with("this kernel (6.18.44-fc-v1300) refuses"));
    }
    /// The method paragraph of docs/BENCHMARKS.md's part 3 as the
    /// live-frames generator wrote it before AF_PACKET existed (kernel
    /// 6.18.44-fc-v782): with live frames the report reads as it did.
    const LIVE_FRAMES_METHOD: &str = "Topology: the bench lab (client, server, API host, fabric namespaces from `lab::up`). The generator (`hlb_gen`, BPF_PROG_RUN with live frames, batch 64, pinned to CPU 1) writes every header field of every frame and sends it out of the client's eth0 (the API host's for the VPC link: to the link's UDP integration address 10.1.1.202:53, source-NATed to the link ENI 10.0.1.4, to the NLB listener's targets); the program under test runs on the fabric port p0 (native XDP; hyperlab on every fabric port); the sink (`hlb_sink` on the server's eth0) counts per CPU and keeps one frame in 2^12 for the runner to check (destination MAC, addresses, ports, TTL, IPv4 and UDP checksums). Source ports run through 1024..1024+N-1 (wrapping) for N flows; each measurement first sends every flow three times (flows are created, caches warm), then one long call of about 1 s. Mpps is the sink's count over the window from 10 % to 45 % of the call's frames (statistics off); in-situ ns/packet is run_time_ns / run_cnt of the router port's program over 50 % to 85 % of the frames, with BPF run-time statistics switched on for that window only (BPF_ENABLE_STATS, the syscall behind kernel.bpf_stats_enabled: it is released even if the bench dies; the sysctl read 0 before and 0 after). 'delivered' is the lowest share of generated frames the sink counted in any repetition. Netfilter: XDP_PASS on the fabric port (a veth only receives XDP_TX frames with NAPI on its peer), IPv4 forwarding, `nft` DNAT 10.0.1.100:53 -> 10.0.1.21:5353 and SNAT to 10.0.1.50, conntrack flushed before each run, rules flushed after; it has no program of its own to time in situ. The PrivateLink (and VPC-link) target group has two targets (ports 5353 and 5354 on the server) because 65,536 flows from one source address need more NAT source ports than one target's 1024-65535 holds. The NAT gateway path sends from the client to the lab's internet host 203.0.113.10:5353 through nat-bench (Elastic IP 203.0.113.50, source ports 1024-65535), delivered to a second sink on the internet host's eth0; it runs up to 4,096 flows (one destination: 65,536 flows need more ports than a gateway has for it).";

    #[test]
    fn the_method_paragraph_names_the_generator_that_ran() {
        let live = method(Generator::LiveFrames, 1, 0, 12, 1.0, ("0", "0"));
        assert_eq!(live, LIVE_FRAMES_METHOD);
        let af = method(Generator::AfPacket, 1, 0, 12, 1.0, ("0", "0"));
        assert!(af.contains("The generator (an AF_PACKET socket bound to the sending host's eth0"));
        assert!(af.contains("one long run of about 1 s"));
        assert!(!af.contains("live frames"));
        assert!(Generator::LiveFrames
            .note()
            .starts_with("Generator: live frames (BPF_PROG_RUN). "));
        assert!(Generator::AfPacket
            .note()
            .starts_with("Generator: AF_PACKET (kernel refuses live frames). "));
    }
}
