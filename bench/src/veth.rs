//! Part 3: packets per second on veths, XDP hook. The bench object's
//! live-frames generator sends 64-byte UDP from the client namespace into
//! the fabric ("router") namespace, where the program under test (or the
//! kernel's netfilter NAT) forwards to the server namespace, whose XDP sink
//! counts, samples and drops. Every scenario runs on the same veths. On a
//! kernel that refuses BPF_PROG_RUN with live frames, an AF_PACKET socket on
//! the same eth0 sends the same frames instead ([`Generator`], [`afpacket`]).

use std::{collections::HashMap as StdHashMap, net::Ipv4Addr, time::Instant};

use anyhow::{bail, Context, Result};
use aya::programs::Xdp;
use dataplane::{
    compile,
    lab::{self, LabPlan},
    loader::{Dataplane, LoadOptions},
    model::{format_mac, Hook},
    netns,
};
use dataplane_common::{GATEWAY_MAC, MAX_FLOWS, PROTO_UDP};
use etherparse::PacketBuilder;
use hyperlab_bench_common::{programs as bprog, BenchConfig, FRAME_LEN};

use super::{
    floors::default_entries,
    kernel::SPORT_XOR,
    objects::BenchObject,
    report::{Check, Report},
    sys,
    topo::{Net, API, CLIENT, EIP, ENDPOINT, EXAMPLE, INT_UDP, LINK, NLB, SERVER, TOPO},
    traffic::{generator, timed, Generator, Sample, Traffic},
    verify::{self, Ports},
    Options, Section, Sizes,
};
use hyperlab_tests::{topology, unique_lab, LabGuard};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Redirect,
    /// The minimal NAT keyed like the pipeline (`hlb_xdp_nat`).
    Nat,
    /// The minimal NAT with a 5-tuple key and a small value (`hlb_xdp_nat5`).
    Nat5,
    Hyperlab,
    Netfilter,
}

/// What a measurement sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Established flows: every flow sent first (created, warm), then the
    /// measured call cycling through all of them.
    Established,
    /// First packets only: every frame of the measured call a fresh
    /// 5-tuple, on tables emptied before (loaded anew), no warm-up.
    NewFlows,
}

/// The host whose eth0 the generator sends from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    Client,
    /// The API host (API service VPC): the VPC-link path.
    Api,
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
    /// Runs past 65,536 flows (the generator then counts the destination
    /// port up: only paths that take a range of destination ports).
    many: bool,
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
            Sport::Generated { xor } => Ports::Generated {
                base,
                n: n.min(1 << 16),
                xor,
            },
            Sport::Range(a, b) => Ports::Range(a, b),
        };
        // Past 65,536 flows the generator's destination port counts up; a
        // path that passes it on shows the same range.
        let dport = match o.dport {
            Ports::One(p) if self.dport == p && n > 1 << 16 => {
                Ports::Range(p, p + ((n - 1) >> 16) as u16)
            }
            d => d,
        };
        let mut e = udp(o.src, o.dst, sport, dport, o.ttl, net);
        if self.to_internet {
            e.dst_mac = Some(net.example_mac);
        }
        e
    }

    /// Whether this scenario runs with `flows` flows.
    fn runs(&self, flows: u32) -> bool {
        (!self.to_internet || flows <= MAX_INTERNET_FLOWS) && (self.many || flows <= 1 << 16)
    }
}

const SPORT_BASE: u16 = 1024;

const NAT5_NAME: &str = "floor: minimal XDP NAT, 5-tuple key (16 B), 16 B value";

/// The paths measured on two CPUs.
const TWO_CORE: &[&str] = &[
    "floor: XDP redirect (DevMap)",
    NAT5_NAME,
    "floor: minimal XDP NAT keyed like the pipeline (FlowKey, 32 B value)",
    "hyperlab XDP: intra-VPC",
];

/// One measurement's traffic: `flows` flows in all (split over `cpus`,
/// one flow set per CPU), established or first packets only.
pub struct Run<'a> {
    pub flows: u32,
    pub mode: Mode,
    pub cpus: &'a [usize],
}

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
        many: true,
        to_internet: false,
    },
    Scenario {
        name: NAT5_NAME,
        kind: Kind::Nat5,
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
        many: true,
        to_internet: false,
    },
    Scenario {
        name: "floor: minimal XDP NAT keyed like the pipeline (FlowKey, 32 B value)",
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
        many: true,
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
        many: true,
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
        many: false,
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
        many: false,
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
        many: false,
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
        many: false,
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
    let mut newflows: StdHashMap<usize, Vec<Sample>> = StdHashMap::new();
    let mut twocore: StdHashMap<usize, Vec<Sample>> = StdHashMap::new();
    let mut checks: Vec<Check> = SCENARIOS
        .iter()
        .map(|s| Check::new(format!("veth: {}", s.name)))
        .collect();
    let mut est: StdHashMap<(usize, u32), f64> = StdHashMap::new();
    let cpus_two: Vec<usize> = vec![0, 1];
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    for rep in 0..opts.reps {
        let r = format!("repetition {}/{}", rep + 1, opts.reps);
        for &flows in &sizes.pps_flows {
            for (si, sc) in SCENARIOS.iter().enumerate().filter(|(_, s)| s.runs(flows)) {
                eprintln!("[bench] veth: {}, {flows} flows, {r}", sc.name);
                let run = Run {
                    flows,
                    mode: Mode::Established,
                    cpus: &[opts.cpu],
                };
                let s = scenario(
                    &rig,
                    gen,
                    &mut bench,
                    opts,
                    sizes,
                    sc,
                    &run,
                    &mut checks[si],
                    est.get(&(si, flows)).copied(),
                )
                .with_context(|| format!("{}, {flows} flows", sc.name))?;
                est.insert((si, flows), s.mpps * 1e6);
                data.entry((si, flows)).or_default().push(s);
            }
        }
        for (si, sc) in SCENARIOS
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind != Kind::Redirect)
        {
            eprintln!("[bench] veth: {}, new flows, {r}", sc.name);
            let run = Run {
                flows: sizes.new_flows,
                mode: Mode::NewFlows,
                cpus: &[opts.cpu],
            };
            let s = scenario(
                &rig,
                gen,
                &mut bench,
                opts,
                sizes,
                sc,
                &run,
                &mut checks[si],
                None,
            )
            .with_context(|| format!("{}, new flows", sc.name))?;
            newflows.entry(si).or_default().push(s);
        }
        if cpus_two.iter().all(|&c| c < cpus) {
            for (si, sc) in SCENARIOS
                .iter()
                .enumerate()
                .filter(|(_, s)| TWO_CORE.contains(&s.name))
            {
                eprintln!("[bench] veth: {}, two CPUs, {r}", sc.name);
                let run = Run {
                    flows: sizes.two_core_flows,
                    mode: Mode::Established,
                    cpus: &cpus_two,
                };
                let s = scenario(
                    &rig,
                    gen,
                    &mut bench,
                    opts,
                    sizes,
                    sc,
                    &run,
                    &mut checks[si],
                    None,
                )
                .with_context(|| format!("{}, two CPUs", sc.name))?;
                twocore.entry(si).or_default().push(s);
            }
        }
    }
    bench.detach_xdp(bprog::SINK, example_sink)?;
    bench.detach_xdp(bprog::SINK, sink)?;
    let stats_after =
        std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").unwrap_or_default();
    report.checks.extend(checks);
    report.note(Section::Veth, gen.note());
    let scs: Vec<(&'static str, Kind)> = SCENARIOS.iter().map(|s| (s.name, s.kind)).collect();
    super::rates::rows(report, &data, &sizes.pps_flows, &scs);
    super::rates::new_flow_rows(report, &newflows, sizes.new_flows, &scs);
    super::rates::two_core_rows(report, &twocore, &data, sizes.two_core_flows, &scs);
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
    report.note(
        Section::Veth,
        format!(
            "How each flow count's flows are drawn: flow i (i = 0..N-1) is source port \
             1024 + i mod 65,536 and destination port the path's own plus i / 65,536 (so \
             1,048,576 flows from one address reach 16 destination ports: the server's group \
             admits udp 5353-5368; PrivateLink, the VPC link and netfilter, which listen on \
             one port, run up to 65,536 flows); the generator sends them in that order, \
             wrapping, and the measured call cycles through all of them at least once. Two \
             minimal NATs are the floors: one with a 16-byte 5-tuple key and a 16-byte value \
             (addresses, ports, out ifindex; the MACs from the config), one keyed like the \
             pipeline (its 20-byte FlowKey) with a 32-byte value; both are preallocated \
             hash tables of 262,144 entries (2^21 past 131,072 flows), loaded fresh for every \
             measurement (part 2's floors' anatomy shows why a table emptied from userspace is \
             not a fair floor). hyperlab's targets are against the 5-tuple floor. New flows \
             per second: {new} first packets per measurement, every frame a fresh 5-tuple \
             (source ports 1024.. wrapping through all 65,536), on a fresh flow table, \
             conntrack flushed for netfilter, no warm-up; the rate is the sink's over the same \
             window. Two CPUs: two generator threads pinned to CPUs 0 and 1 (veth runs the \
             receiving program on the sending CPU), each with its own half of the {two} flows \
             (flow-index offset per CPU), judged against the same path's 1-CPU rate at {two} \
             flows in the same repetition.",
            new = sizes.new_flows,
            two = sizes.two_core_flows,
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

fn sample_shift(opts: &Options) -> u32 {
    if opts.quick {
        6
    } else {
        12
    }
}

/// Sets up `sc`'s forwarder, warms it (established flows), measures,
/// checks the sink's samples, tears the forwarder down. A NAT floor gets a
/// fresh bench object of its own each time: a table emptied from userspace
/// hands its entries back in bucket order, and flows created into it then
/// sit far apart in memory (part 2's floors' anatomy measures that cost).
#[allow(clippy::too_many_arguments)]
fn scenario(
    rig: &Rig,
    gen: Generator,
    bench: &mut BenchObject,
    opts: &Options,
    sizes: &Sizes,
    sc: &Scenario,
    run: &Run<'_>,
    check: &mut Check,
    est_pps: Option<f64>,
) -> Result<Sample> {
    let flows = run.flows;
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
    let per_cpu = (flows / run.cpus.len() as u32).max(1);
    let stride = if run.cpus.len() > 1 { per_cpu } else { 0 };
    let cfg = BenchConfig {
        frame: words(&frame),
        flows_mask: per_cpu - 1,
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
        cpu_stride: stride,
        _pad: 0,
    };
    bench.set_config(&cfg)?;
    let traffic = Traffic::new(
        gen,
        &gen_ns,
        gen_if,
        &frame,
        SPORT_BASE as u32,
        per_cpu - 1,
        run.cpus.to_vec(),
        stride,
    )?;
    // The forwarder, torn down when this function returns.
    let mut dp: Option<Dataplane> = None;
    let mut nft: Option<Nft<'_>> = None;
    let mut floor: Option<BenchObject> = None;
    let prog_name = match sc.kind {
        Kind::Redirect => Some(bprog::XDP_REDIRECT),
        Kind::Nat | Kind::Nat5 => {
            let n = default_entries(flows as usize);
            let (a, b, p) = match sc.kind {
                Kind::Nat => (n, 1, bprog::XDP_NAT),
                _ => (1, n, bprog::XDP_NAT5),
            };
            let mut f = BenchObject::load_sized(&opts.bench_obj, Some(a), Some(b))?;
            f.set_config(&cfg)?;
            f.set_devmap(fabric, rig.p1_if)?;
            floor = Some(f);
            Some(p)
        }
        Kind::Netfilter => {
            nft = Some(Nft::install(fabric)?);
            Some(bprog::XDP_PASS)
        }
        Kind::Hyperlab => {
            // Two entries per flow, with room to spare; the floors' table
            // size up to 65,536 flows (a bigger table alone costs: part 2).
            let entries = (flows as usize * 5 / 2 + 65_536).max(MAX_FLOWS as usize) as u32;
            let mut d = Dataplane::load_with(
                &opts.dataplane_obj,
                &LoadOptions {
                    flow_table_size: Some(entries),
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
    let link = match (prog_name, floor.as_mut()) {
        (Some(p), Some(f)) => Some((p, f.attach_xdp(p, fabric, &rig.p0)?)),
        (Some(p), None) => Some((p, bench.attach_xdp(p, fabric, &rig.p0)?)),
        _ => None,
    };
    bench.reset_samples()?;
    let result = (|| -> Result<Sample> {
        let fwd: Option<&Xdp> = match (sc.kind, &dp, &floor) {
            (Kind::Netfilter, _, _) => None,
            (Kind::Hyperlab, Some(d), _) => Some(d.xdp()),
            (_, _, Some(f)) => prog_name.map(|p| f.xdp(p)),
            _ => prog_name.map(|p| bench.xdp(p)),
        };
        let m = match run.mode {
            Mode::Established => {
                // Warm-up: every flow three times (once past 65,536 flows);
                // its rate sizes the measured call, which cycles through
                // every flow at least once.
                let times = if per_cpu > 1 << 16 { 1 } else { 3 };
                let warm = per_cpu * times + if opts.quick { 20_000 } else { 300_000 };
                let t = Instant::now();
                traffic.send(bench, warm)?;
                let warm_pps = (warm as usize * run.cpus.len()) as f64 / t.elapsed().as_secs_f64();
                let pps = est_pps.unwrap_or(warm_pps).max(10_000.0) / run.cpus.len() as f64;
                let mut repeat =
                    ((pps * sizes.pps_seconds) as u64).clamp(50_000, 200_000_000) as u32;
                repeat = repeat.max(per_cpu);
                // A call too short for the monitor to see its window (a
                // stalled monitor on a busy machine) is repeated, longer.
                let mut tries = 0;
                loop {
                    match timed(bench, &traffic, repeat, fwd)? {
                        Some(m) => break m,
                        None if tries < 3 => {
                            tries += 1;
                            repeat = repeat.saturating_mul(2);
                        }
                        None => bail!("the generator kept finishing before the measurement window closed ({repeat} frames)"),
                    }
                }
            }
            // Each frame once: every one a first packet.
            Mode::NewFlows => match timed(bench, &traffic, per_cpu, fwd)? {
                Some(m) => m,
                None => bail!(
                    "the {per_cpu} first packets finished before the measurement window closed"
                ),
            },
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
        match floor.as_mut() {
            Some(f) => f.detach_xdp(p, l)?,
            None => bench.detach_xdp(p, l)?,
        }
    }
    drop(dp);
    drop(nft);
    drop(floor);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

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
