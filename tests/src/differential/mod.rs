//! Differential testing: random topologies and packet sequences through the
//! loaded kernel programs (BPF_PROG_TEST_RUN, TC and XDP) and through
//! [`crate::reference::Model`], which must agree on every packet: verdict,
//! drop reason (the kernel's drop counter moves as predicted), destination
//! ENI and exact output bytes; and on every counter at the end of each
//! sequence. [`props`] checks isolation, no-misrewrite and checksums on
//! every kernel output on top.
//!
//! Seeded and reproducible: a seed gives the topologies, each topology's
//! seed its sequences. A mismatch is shrunk to a minimal packet sequence
//! (and, where that keeps failing, a smaller topology) and printed as a
//! self-contained reproducer: the config and the frames in hex.
//!
//! One lab per topology (namespaces cost ~100 ms), thousands of packets
//! each (a test run costs microseconds). Frames the kernel's test runners
//! refuse are not sent where they would be refused: nothing shorter than an
//! Ethernet header (neither runner), no IPv4- or IPv6-typed frame shorter
//! than its network header through TC (see [`packet_gen::tc_can_run`]).

pub mod frames;
pub mod grow;
pub mod packet_gen;
pub mod peering_gen;
pub mod props;
pub mod rng;
pub mod shrink;
pub mod topo_gen;
pub mod topo_internet;
pub mod topo_routes;

use std::{collections::BTreeMap, fmt::Write as _, time::Instant};

use anyhow::Context;
use aya::maps::{Array, Map, MapData, PerCpuArray};
use dataplane::{
    compile, config,
    conntrack::FlowRow,
    loader::{Dataplane, LoadOptions},
    model::{Hook, Topology, VpcLinkKind},
    netns, pins,
    stats::{self, Snapshot},
    testrun,
};
use dataplane_common::{
    maps, DropReason, FlowKey, FlowTotals, COUNTER_NAMES, DROP_REASON_NAMES, FLOW_F_UNTRACKED,
};

pub use packet_gen::{HookMode, PacketGen, Sent, Source};
use props::Kind;
use rng::Rng;
use topo_gen::TopoSpec;

use crate::{
    reference::{Model, Outcome, Port, RouteKind, Verdict},
    Fixture,
};

/// A generated topology, checked loadable (the agent would accept it).
#[derive(Clone, Debug)]
pub struct Generated {
    pub seed: u64,
    pub spec: TopoSpec,
    /// Entries of the kernel's flow table; `None`: the default size.
    pub flow_capacity: Option<u32>,
}

impl Generated {
    pub fn toml(&self) -> String {
        self.spec.to_toml()
    }
}

/// Parses a generated config the way the agent will (lab name aside).
pub fn parse(toml: &str) -> Result<Topology, String> {
    config::parse_str(&toml.replace("@LAB@", "gen"), "generated.toml").map_err(|d| d.to_string())
}

/// Whether the agent can load `toml`: valid, and its security groups fit the
/// kernel's range limits.
pub fn loadable(toml: &str) -> bool {
    parse(toml).is_ok_and(|t| {
        let ifx: Vec<u32> = (1..=t.port_count() as u32).collect();
        compile::compile(&t, &ifx).is_ok()
    })
}

/// The topology of seed `seed` (regenerated under derived seeds while the
/// result is not loadable, e.g. too many port ranges for one peer).
pub fn generate_topology(seed: u64) -> Generated {
    for attempt in 0.. {
        let mut r = Rng::new(rng::derive(seed, attempt));
        let spec = topo_gen::generate(&mut r);
        let toml = spec.to_toml();
        if let Err(d) = parse(&toml) {
            panic!(
                "the topology generator wrote an invalid config (a generator bug):\n{d}\n{toml}"
            );
        }
        if loadable(&toml) {
            let flow_capacity = r.chance(25).then(|| r.range(6, 40) as u32);
            return Generated {
                seed,
                spec,
                flow_capacity,
            };
        }
    }
    unreachable!()
}

/// What a batch of packets did, for the closing summary.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub packets: u64,
    pub tc: u64,
    pub xdp: u64,
    pub forwarded: u64,
    /// Forwarded with translated addresses (PrivateLink).
    pub translated: u64,
    /// Of those, through an HTTP VPC link (to or from a link ENI address).
    pub linked: u64,
    pub reflected: u64,
    pub passed: u64,
    pub drops: BTreeMap<&'static str, u64>,
    /// Packets that met a network ACL and passed every ACL they met.
    pub nacl_allowed: u64,
    /// Packets a network ACL dropped.
    pub nacl_denied: u64,
    /// First packets by the route that decided them: local, blackhole,
    /// none (`no_route` from the table).
    pub route_local: u64,
    pub route_blackhole: u64,
    pub route_none: u64,
    /// First packets a route sent over an active peering connection, and
    /// of those the ones delivered in the peer VPC; first packets dropped
    /// for a peering that is not active, or not transitive.
    pub peering_routed: u64,
    pub peering_crossed: u64,
    pub peering_not_active: u64,
    pub peering_not_transitive: u64,
    /// First packets whose route was the internet gateway (out, or the
    /// reply's way back for flows from the internet).
    pub route_igw: u64,
    /// Packets to or from the lab's internet (the gateway's side).
    pub internet: u64,
    /// First packets a route sent to a NAT gateway, and of those the ones
    /// the gateway forwarded (translated to its Elastic IP).
    pub route_nat: u64,
    pub nat_forwarded: u64,
    /// First packets through a NAT gateway back into the lab: to a public
    /// IP, delivered (its destination translated), and to an Elastic IP,
    /// dropped (`nat_gateway_hairpin`).
    pub nat_hairpin: u64,
    pub nat_hairpin_dropped: u64,
    /// Packets the model counted into a NAT gateway's CloudWatch metrics
    /// (in from either side), which the kernel's `HL_NAT_STATS` must match.
    pub nat_counted: u64,
    /// TCP segments of no connection a NAT gateway answered with a RST.
    pub nat_rst: u64,
    /// ICMP errors translated back along the flow they quote.
    pub icmp_errors_forwarded: u64,
    /// ICMP errors an internet host sent or one was forwarded to, and of
    /// those the ones forwarded (through an internet or NAT gateway's flow).
    pub icmp_errors_internet: u64,
    pub icmp_errors_internet_forwarded: u64,
    /// Forwarded TCP packets with a flag flow logs' `tcp-flags` counts
    /// (SYN, SYN-ACK, FIN, RST): each direction's OR in each flow-log
    /// window (the kernel's per-CPU counters summed) is compared with the
    /// model's when the window closes and at the end of each sequence.
    pub tcp_flagged: u64,
    /// Of those, the packets whose flag their direction had already
    /// carried in an earlier window (flow logs used to leave those out).
    pub tcp_flag_repeats: u64,
    /// Flow-log windows the soak closed (every [`WINDOW_EVERY`] packets).
    pub windows: u64,
    /// Packets that opened or rode an untracked flow.
    pub untracked: u64,
    /// ICMP packets whose security-group decision met a rule for some ICMP
    /// types or codes only.
    pub icmp_typed: u64,
    /// IPv4 packets of a protocol other than TCP, UDP and ICMP (GRE, ESP),
    /// and of those, how many were forwarded.
    pub other_protocol: u64,
    pub other_protocol_forwarded: u64,
    /// Reloads that inserted an ENI in the middle of the config (a new
    /// host: `grow.rs`), and packets compared after one.
    pub eni_inserts: u64,
    pub after_insert: u64,
    /// Fragments of UDP datagrams (rule 14: a NAT gateway forwards them),
    /// and of those, how many were forwarded.
    pub udp_fragments: u64,
    pub udp_fragments_forwarded: u64,
}

impl Tally {
    fn count(&mut self, hook: Hook, frame: &[u8], o: &Outcome, links: &[[u8; 4]]) {
        self.packets += 1;
        self.untracked += o.untracked as u64;
        self.icmp_typed += o.icmp_typed as u64;
        let ipv4 = frame.len() >= 34 && frame[12..14] == [0x08, 0x00];
        if ipv4 && !matches!(frame[23], 1 | 6 | 17) {
            self.other_protocol += 1;
            if matches!(o.verdict, Verdict::Forward { .. }) {
                self.other_protocol_forwarded += 1;
            }
        }
        if let Ok(crate::reference::Frame::Fragment(..)) = crate::reference::parse(frame) {
            self.udp_fragments += 1;
            if matches!(o.verdict, Verdict::Forward { .. }) {
                self.udp_fragments_forwarded += 1;
            }
        }
        let nacl_drop = matches!(
            o.verdict,
            Verdict::Drop(DropReason::NaclIngressDeny | DropReason::NaclEgressDeny)
        );
        if nacl_drop {
            self.nacl_denied += 1;
        } else if o.met_nacl {
            self.nacl_allowed += 1;
        }
        match o.met_route {
            Some(RouteKind::Local) => self.route_local += 1,
            Some(RouteKind::Blackhole) => self.route_blackhole += 1,
            Some(RouteKind::NoRoute) => self.route_none += 1,
            Some(RouteKind::Peering) => {
                self.peering_routed += 1;
                if matches!(o.verdict, Verdict::Forward { .. }) {
                    self.peering_crossed += 1;
                }
            }
            Some(RouteKind::PeeringNotActive) => self.peering_not_active += 1,
            Some(RouteKind::PeeringNotTransitive) => self.peering_not_transitive += 1,
            Some(RouteKind::InternetGateway) => self.route_igw += 1,
            Some(RouteKind::NatGateway) => {
                self.route_nat += 1;
                if matches!(o.verdict, Verdict::Forward { .. }) {
                    self.nat_forwarded += 1;
                    if o.out.get(30..34) != frame.get(30..34) {
                        self.nat_hairpin += 1;
                    }
                }
                if matches!(o.verdict, Verdict::Drop(DropReason::NatGatewayHairpin)) {
                    self.nat_hairpin_dropped += 1;
                }
            }
            None => {}
        }
        match hook {
            Hook::Tc => self.tc += 1,
            Hook::Xdp => self.xdp += 1,
        }
        match o.verdict {
            Verdict::Forward { .. } => {
                self.forwarded += 1;
                if matches!(
                    crate::reference::parse(frame),
                    Ok(crate::reference::Frame::IcmpError(_))
                ) {
                    self.icmp_errors_forwarded += 1;
                }
                if crate::reference::frame_logged_flags(frame) != 0 {
                    self.tcp_flagged += 1;
                }
                if o.out.get(26..34) != frame.get(26..34) {
                    self.translated += 1;
                    let at = |f: &[u8], r: std::ops::Range<usize>| {
                        f.get(r).is_some_and(|a| links.iter().any(|l| l[..] == *a))
                    };
                    if at(&o.out, 26..30) || at(frame, 30..34) {
                        self.linked += 1;
                    }
                }
            }
            Verdict::Reflect => {
                self.reflected += 1;
                if frame.get(12..14) == Some(&[0x08, 0x00]) {
                    self.nat_rst += 1;
                }
            }
            Verdict::Pass => self.passed += 1,
            Verdict::Drop(r) => *self.drops.entry(r.name()).or_default() += 1,
        }
    }

    pub fn add(&mut self, o: &Tally) {
        self.packets += o.packets;
        self.tc += o.tc;
        self.xdp += o.xdp;
        self.forwarded += o.forwarded;
        self.translated += o.translated;
        self.linked += o.linked;
        self.reflected += o.reflected;
        self.passed += o.passed;
        self.nacl_allowed += o.nacl_allowed;
        self.nacl_denied += o.nacl_denied;
        self.route_local += o.route_local;
        self.route_blackhole += o.route_blackhole;
        self.route_none += o.route_none;
        self.peering_routed += o.peering_routed;
        self.peering_crossed += o.peering_crossed;
        self.peering_not_active += o.peering_not_active;
        self.peering_not_transitive += o.peering_not_transitive;
        self.route_igw += o.route_igw;
        self.internet += o.internet;
        self.route_nat += o.route_nat;
        self.nat_forwarded += o.nat_forwarded;
        self.nat_hairpin += o.nat_hairpin;
        self.nat_hairpin_dropped += o.nat_hairpin_dropped;
        self.nat_counted += o.nat_counted;
        self.nat_rst += o.nat_rst;
        self.icmp_errors_forwarded += o.icmp_errors_forwarded;
        self.icmp_errors_internet += o.icmp_errors_internet;
        self.icmp_errors_internet_forwarded += o.icmp_errors_internet_forwarded;
        self.tcp_flagged += o.tcp_flagged;
        self.tcp_flag_repeats += o.tcp_flag_repeats;
        self.windows += o.windows;
        self.untracked += o.untracked;
        self.icmp_typed += o.icmp_typed;
        self.other_protocol += o.other_protocol;
        self.other_protocol_forwarded += o.other_protocol_forwarded;
        self.eni_inserts += o.eni_inserts;
        self.after_insert += o.after_insert;
        self.udp_fragments += o.udp_fragments;
        self.udp_fragments_forwarded += o.udp_fragments_forwarded;
        for (k, v) in &o.drops {
            *self.drops.entry(k).or_default() += v;
        }
    }

    pub fn summary(&self) -> String {
        let drops: u64 = self.drops.values().sum();
        let mut s = format!(
            "{} packets (tc {}, xdp {}): forwarded {} ({} translated, {} through HTTP VPC links), arp answered {}, passed {}, dropped {drops}; network ACLs: {} met an allow, {} denied; route tables: {} met a local route, {} a blackhole, {} no route, {} an internet gateway; peering: {} routed over an active connection ({} delivered in the peer VPC), {} dropped as not active, {} as not transitive; internet gateway: {} packets to or from the lab's internet; NAT gateway: {} first packets routed to one, {} of them translated and forwarded ({} hairpinned to a public IP of the lab, {} dropped at an Elastic IP), {} packets counted in its CloudWatch metrics, {} segments of no connection answered with a RST, {} UDP fragments ({} forwarded); ICMP errors: {} forwarded along the flow they quote, {} to or from the lab's internet ({} of them forwarded); tcp-flags: {} forwarded packets carried a logged flag ({} a flag their direction carried in an earlier window, over {} windows); security groups: {} on untracked flows, {} ICMP met a rule by type/code, {} of other protocols ({} forwarded)",
            self.packets, self.tc, self.xdp, self.forwarded, self.translated, self.linked, self.reflected, self.passed, self.nacl_allowed, self.nacl_denied, self.route_local, self.route_blackhole, self.route_none, self.route_igw, self.peering_routed, self.peering_crossed, self.peering_not_active, self.peering_not_transitive, self.internet, self.route_nat, self.nat_forwarded, self.nat_hairpin, self.nat_hairpin_dropped, self.nat_counted, self.nat_rst, self.udp_fragments, self.udp_fragments_forwarded, self.icmp_errors_forwarded, self.icmp_errors_internet, self.icmp_errors_internet_forwarded, self.tcp_flagged, self.tcp_flag_repeats, self.windows, self.untracked, self.icmp_typed, self.other_protocol, self.other_protocol_forwarded
        );
        let _ = write!(
            s,
            "; interface numbers: {} reloads inserted an ENI, {} packets compared after one",
            self.eni_inserts, self.after_insert
        );
        if !self.drops.is_empty() {
            let by: Vec<String> = self.drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = write!(s, " ({})", by.join(", "));
        }
        s
    }
}

/// The first packet on which the kernel and the model disagree.
#[derive(Clone, Debug)]
pub struct Mismatch {
    pub index: usize,
    pub sent: Sent,
    pub model: Outcome,
    pub kernel_ret: u32,
    pub kernel_out: Vec<u8>,
    pub problems: Vec<String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "packet #{} from {} via {:?}: {}",
            self.index,
            source_name(&self.sent.from),
            self.sent.hook,
            hex(&self.sent.frame)
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        writeln!(
            f,
            "  model:  {:?} (return code {}) {}",
            self.model.verdict,
            return_code(self.sent.hook, &self.model.verdict),
            hex(&self.model.out)
        )?;
        write!(
            f,
            "  kernel: return code {} {}",
            self.kernel_ret,
            hex(&self.kernel_out)
        )
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn source_name(s: &Source) -> &str {
    match s {
        Source::Eni(id) | Source::Internet(id) => id,
        Source::Unknown => "an unknown interface",
    }
}

/// The program return code a verdict maps to on `hook`.
pub fn return_code(hook: Hook, v: &Verdict) -> u32 {
    match (hook, v) {
        // TC_ACT_REDIRECT both: the peer redirect and the ARP answer's
        // redirect to the ingress port's egress.
        (Hook::Tc, Verdict::Forward { .. } | Verdict::Reflect) => 7,
        (Hook::Tc, Verdict::Pass) => 0,
        (Hook::Tc, Verdict::Drop(_)) => 2,
        (Hook::Xdp, Verdict::Forward { .. }) => 4,
        (Hook::Xdp, Verdict::Reflect) => 3,
        (Hook::Xdp, Verdict::Pass) => 2,
        (Hook::Xdp, Verdict::Drop(_)) => 1,
    }
}

fn kind_of(hook: Hook, ret: u32, frame: &[u8], out: &[u8]) -> Option<Kind> {
    // TC sends a reflected frame back by a redirect too: an ARP answer, or
    // a RST|ACK answering a TCP segment that was no RST (a forward keeps
    // the flags), addresses swapped.
    let l4 = 14 + usize::from(frame.get(14).map_or(0, |b| b & 15)) * 4;
    let rst_back = out.len() == 54
        && frame.len() >= l4 + 20
        && frame[23] == 6
        && frame[l4 + 13] & 0x04 == 0
        && out[47] == 0x14
        && out[26..30] == frame[30..34]
        && out[30..34] == frame[26..30];
    Some(match (hook, ret) {
        (Hook::Tc, 7) if frame[12..14] == [0x08, 0x06] || rst_back => Kind::Reflect,
        (Hook::Tc, 7) | (Hook::Xdp, 4) => Kind::Forward,
        (Hook::Xdp, 3) => Kind::Reflect,
        (Hook::Tc, 0) | (Hook::Xdp, 2) => Kind::Pass,
        (Hook::Tc, 2) | (Hook::Xdp, 1) => Kind::Drop,
        _ => return None,
    })
}

/// One BPF_PROG_TEST_RUN (the caller is inside the fabric namespace, where
/// `ifindex` names a port): (return code, output frame).
pub fn test_run(
    dp: &Dataplane,
    hook: Hook,
    ifindex: u32,
    frame: &[u8],
) -> anyhow::Result<(u32, Vec<u8>)> {
    let prog = match hook {
        Hook::Tc => testrun::Program::Tc(dp.tc()),
        Hook::Xdp => testrun::Program::Xdp(dp.xdp()),
    };
    // `repeat` 0: one run (the contexts are `testrun`'s: zero but the
    // ifindex, and XDP's data_end).
    let (r, out) = testrun::call_raw(prog, ifindex, frame, 0)
        .with_context(|| format!("BPF_PROG_TEST_RUN ({hook:?}, frame {})", hex(frame)))?;
    Ok((r.return_value, out))
}

/// Counters that differ between the model and the kernel, readably.
pub fn counter_diff(model: &Snapshot, kernel: &Snapshot) -> String {
    let mut out = Vec::new();
    for (i, (m, k)) in model.drops.iter().zip(&kernel.drops).enumerate() {
        if m != k {
            out.push(format!(
                "drop {}: model {m}, kernel {k}",
                DROP_REASON_NAMES[i]
            ));
        }
    }
    for (i, (m, k)) in model.counters.iter().zip(&kernel.counters).enumerate() {
        if m != k {
            out.push(format!("{}: model {m}, kernel {k}", COUNTER_NAMES[i]));
        }
    }
    for (what, ms, ks) in [
        ("eni", &model.enis, &kernel.enis),
        ("endpoint", &model.endpoints, &kernel.endpoints),
        ("listener", &model.listeners, &kernel.listeners),
        ("target", &model.targets, &kernel.targets),
    ] {
        for (i, (m, k)) in ms.iter().zip(ks.iter()).enumerate() {
            if m != k {
                out.push(format!("{what}[{i}]: model {m:?}, kernel {k:?}"));
            }
        }
    }
    for (i, (m, k)) in model.nacl_drops.iter().zip(&kernel.nacl_drops).enumerate() {
        if m != k {
            out.push(format!("nacl rule [{i}] drops: model {m}, kernel {k}"));
        }
    }
    if model.nacl_drops.len() != kernel.nacl_drops.len() {
        out.push(format!(
            "nacl rules: model {}, kernel {}",
            model.nacl_drops.len(),
            kernel.nacl_drops.len()
        ));
    }
    for (i, (m, k)) in model
        .route_drops
        .iter()
        .zip(&kernel.route_drops)
        .enumerate()
    {
        if m != k {
            out.push(format!("route drop [{i}]: model {m}, kernel {k}"));
        }
    }
    for (i, (m, k)) in model
        .nat_gateways
        .iter()
        .zip(&kernel.nat_gateways)
        .enumerate()
    {
        if m != k {
            out.push(format!("nat gateway [{i}]: model {m:?}, kernel {k:?}"));
        }
    }
    if model.route_drops.len() != kernel.route_drops.len() {
        out.push(format!(
            "route drop counters: model {}, kernel {}",
            model.route_drops.len(),
            kernel.route_drops.len()
        ));
    }
    out.join("; ")
}

/// A loaded lab for one topology.
pub struct Lab {
    pub fx: Fixture,
    pub toml: String,
    pub flow_capacity: Option<u32>,
}

impl Lab {
    pub fn up(toml: &str, flow_capacity: Option<u32>) -> Lab {
        #[allow(
            clippy::needless_update,
            reason = "the other load options keep their defaults, whichever there are"
        )]
        let opts = LoadOptions {
            flow_table_size: flow_capacity,
            ..Default::default()
        };
        Lab {
            fx: Fixture::with_options(toml, "dif", Hook::Tc, &opts),
            toml: toml.to_string(),
            flow_capacity,
        }
    }

    pub fn topo(&self) -> &Topology {
        &self.fx.agent.topo
    }

    /// Runs `seq` from an empty flow table through the kernel and a fresh
    /// model. `precise`: compare every counter after every packet (slow;
    /// for shrinking), else drop counters per packet and all counters at
    /// the end.
    pub fn check(&mut self, seq: &[Sent], precise: bool) -> Result<Tally, Box<Mismatch>> {
        self.fx.clear_flows();
        let topo = self.fx.agent.topo.clone();
        let capacity = self.flow_capacity.map(|c| c as usize);
        let ifindex: Vec<u32> = self.fx.agent.compiled.port_ifindexes();
        let pins = pins::pin_dir(&topo.lab.name);
        // The agent's interface numbers (a grown lab's are not config order).
        let layout = self.fx.agent.layout();
        let dp = &self.fx.agent.dataplane;
        let ns = self.fx.agent.plan.fabric_ns.clone();
        netns::scoped_in(&ns, || {
            let snapshot = || stats::read_pinned(&pins, &layout);
            let drops: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(dp.map(maps::DROPS)?)?;
            let mut model = Model::new(&topo, capacity);
            // The flow-log window goes on from the last sequence's.
            let mut window_map: Array<MapData, u32> =
                Array::try_from(Map::Array(pins::open_pinned(&pins, maps::FLOW_WINDOW)?))?;
            let mut window = window_map.get(&0, 0)?;
            model.set_window(window);
            let base = snapshot()?;
            let mut tally = Tally::default();
            let links: Vec<[u8; 4]> = topo
                .services
                .vpc_links
                .iter()
                .flat_map(|l| match &l.kind {
                    VpcLinkKind::Http { enis, .. } => enis.iter().map(|e| e.ip.octets()).collect(),
                    VpcLinkKind::Rest { .. } => Vec::new(),
                })
                .collect();
            let mut closed: Vec<String> = Vec::new();
            for (i, s) in seq.iter().enumerate() {
                if i > 0 && i % WINDOW_EVERY == 0 {
                    // The flow log closes a window: the kernel counts in the
                    // next; the closed one's flags must be the model's.
                    window += 1;
                    window_map.set(0, window, 0)?;
                    model.set_window(window);
                    tally.windows += 1;
                    // Reported with this packet, before which it closed.
                    closed = flag_problems(&dp.flows()?, &model, window - 1)
                        .into_iter()
                        .map(|p| format!("before this packet, closing the window: {p}"))
                        .collect();
                }
                let (port, from, ifx) = match &s.from {
                    Source::Eni(id) => {
                        let e = topo
                            .eni_by_id(id)
                            .with_context(|| format!("no ENI {id} in the topology"))?;
                        (Port::Eni(e), Some(e), ifindex[e])
                    }
                    Source::Internet(name) => {
                        let k = topo
                            .internet
                            .hosts
                            .iter()
                            .position(|h| &h.name == name)
                            .with_context(|| format!("no internet host {name}"))?;
                        let p = topo.enis.len() + k;
                        (Port::Internet(k), Some(p), ifindex[p])
                    }
                    // The fabric namespace's loopback: no port of the lab.
                    Source::Unknown => (Port::Unknown, None, 1),
                };
                let (ret, out) = test_run(dp, s.hook, ifx, &s.frame)?;
                let nat_in = |m: &Model| -> u64 {
                    m.counters()
                        .nat_gateways
                        .iter()
                        .map(|c| c.packets_in_from_source + c.packets_in_from_destination)
                        .sum()
                };
                let nat_before = nat_in(&model);
                let repeats_before = model.flag_repeats();
                let want = model.process(port, &s.frame);
                tally.tcp_flag_repeats += model.flag_repeats() - repeats_before;
                tally.nat_counted += nat_in(&model) - nat_before;
                tally.count(s.hook, &s.frame, &want, &links);
                let to_internet =
                    matches!(want.verdict, Verdict::Forward { eni } if eni >= topo.enis.len());
                if to_internet
                    || (matches!(port, Port::Internet(_)) && want.verdict != Verdict::Pass)
                {
                    tally.internet += 1;
                }
                let icmp_error = matches!(
                    crate::reference::parse(&s.frame),
                    Ok(crate::reference::Frame::IcmpError(_))
                );
                if icmp_error && (to_internet || matches!(port, Port::Internet(_))) {
                    tally.icmp_errors_internet += 1;
                    if matches!(want.verdict, Verdict::Forward { .. }) {
                        tally.icmp_errors_internet_forwarded += 1;
                    }
                }
                let mut problems = std::mem::take(&mut closed);
                let want_ret = return_code(s.hook, &want.verdict);
                if ret != want_ret {
                    problems.push(format!(
                        "verdict: model {:?} (return code {want_ret}), kernel returned {ret}",
                        want.verdict
                    ));
                }
                if out != want.out {
                    problems.push(format!(
                        "output bytes differ: {}",
                        byte_diff(&want.out, &out)
                    ));
                }
                if let Verdict::Drop(r) = want.verdict {
                    let now: u64 = drops.get(&(r as u32), 0)?.iter().sum();
                    let expect = base.drops[r as usize] + model.counters().drops[r as usize];
                    if now != expect {
                        problems.push(format!(
                            "drop counter {} is {now}, the model expects {expect}",
                            r.name()
                        ));
                    }
                }
                match kind_of(s.hook, ret, &s.frame, &out) {
                    Some(k) => {
                        if let Err(e) = props::check(&topo, from, &s.frame, k, &out) {
                            problems.push(format!("property violated by the kernel: {e}"));
                        }
                    }
                    None => problems.push(format!("unknown return code {ret}")),
                }
                if i + 1 == seq.len() {
                    // Rule 11: the flows the kernel marked untracked, and
                    // at which end, are the ones the model did.
                    let kernel: std::collections::HashSet<(FlowKey, u32)> = dp
                        .flows()?
                        .into_iter()
                        .filter(|(_, e)| e.flags & FLOW_F_UNTRACKED != 0)
                        .map(|(k, e)| (k, e.flags & FLOW_F_UNTRACKED))
                        .collect();
                    let model_set = model.untracked_flows();
                    if kernel != model_set {
                        problems.push(format!(
                            "untracked flows: model {model_set:?}, kernel {kernel:?}"
                        ));
                    }
                }
                if precise || i + 1 == seq.len() {
                    let d = snapshot()?.since(&base);
                    if d != *model.counters() {
                        problems.push(format!(
                            "counters{}: {}",
                            if precise {
                                ""
                            } else {
                                " (at the end of the sequence)"
                            },
                            counter_diff(model.counters(), &d)
                        ));
                    }
                    // Flow logs' tcp-flags: each direction's OR in the
                    // current window, as the model's.
                    problems.extend(flag_problems(&dp.flows()?, &model, window));
                }
                if !problems.is_empty() {
                    return Ok(Err(Box::new(Mismatch {
                        index: i,
                        sent: s.clone(),
                        model: want,
                        kernel_ret: ret,
                        kernel_out: out,
                        problems,
                    })));
                }
            }
            Ok(Ok(tally))
        })
        .expect("running a sequence in the fabric namespace")
    }
}

/// Packets between two flow-log window switches in a sequence.
pub const WINDOW_EVERY: usize = 6;

/// Each flow direction's `tcp-flags` in window `w`, the kernel's per-CPU
/// counters summed (`FlowTotals::of`), against the model's.
fn flag_problems(rows: &[(FlowKey, FlowRow)], model: &Model, w: u32) -> Vec<String> {
    let mut problems = Vec::new();
    for (k, row) in rows {
        let kernel = FlowTotals::of(&row.cpus, w).tcp_flags;
        match model.tcp_flags_of(k, w) {
            Some(f) if f != kernel => problems.push(format!(
                "tcp-flags of flow direction {k:?} in window {w}: model {f}, kernel {kernel}"
            )),
            _ => {}
        }
    }
    problems
}

fn byte_diff(want: &[u8], got: &[u8]) -> String {
    if want.len() != got.len() {
        return format!("length: model {}, kernel {}", want.len(), got.len());
    }
    let d: Vec<String> = (0..want.len())
        .filter(|&i| want[i] != got[i])
        .map(|i| format!("[{i}] model {:02x} kernel {:02x}", want[i], got[i]))
        .collect();
    d.join(", ")
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    /// Stop after this many packets (rounded up to a whole sequence).
    pub packets: u64,
    pub per_topology: u64,
    /// Sequence lengths, inclusive.
    pub sequence: (usize, usize),
    /// Progress lines on stderr.
    pub verbose: bool,
}

pub struct Report {
    pub tally: Tally,
    /// (topology seed, packets compared on it).
    pub topologies: Vec<(u64, u64)>,
    pub seconds: f64,
}

/// Runs `plan`; a mismatch comes back as a printed, shrunk reproducer.
pub fn run(plan: &Plan) -> Result<Report, String> {
    let start = Instant::now();
    let mut report = Report {
        tally: Tally::default(),
        topologies: Vec::new(),
        seconds: 0.0,
    };
    let mut k = 0;
    while report.tally.packets < plan.packets {
        let tseed = rng::derive(plan.seed, k);
        let g = generate_topology(tseed);
        let mut lab = Lab::up(&g.toml(), g.flow_capacity);
        let topo = lab.topo().clone();
        let mut on_topo = Tally::default();
        let mut j = 0;
        while on_topo.packets < plan.per_topology
            && report.tally.packets + on_topo.packets < plan.packets
        {
            let mut r = Rng::new(rng::derive(tseed, 1000 + j));
            let mode = *r.pick(&[HookMode::Tc, HookMode::Xdp, HookMode::Mixed]);
            let n = r.range(plan.sequence.0 as u64, plan.sequence.1 as u64) as usize;
            let cap = g.flow_capacity.map(|c| c as usize);
            let seq = PacketGen::new(&topo, cap, r, mode).sequence(n);
            match lab.check(&seq, false) {
                Ok(t) => on_topo.add(&t),
                Err(m) => {
                    return Err(shrink::reproduce(
                        &mut lab,
                        &g,
                        seq,
                        *m,
                        &format!(
                            "master seed {:#x}, topology #{k} (seed {tseed:#x}), sequence #{j}",
                            plan.seed
                        ),
                    ))
                }
            }
            j += 1;
        }
        // Every other topology: a reload inserts an ENI (a new host), then
        // one more sequence on the grown topology.
        if k % 2 == 0 && report.tally.packets + on_topo.packets < plan.packets {
            if let Some(grown) = grow::insert_eni(&lab.toml, &topo) {
                let name = topo.lab.name.clone();
                lab.fx
                    .agent
                    .reload(crate::topology(&grown, &name))
                    .map_err(|e| format!("topology seed {tseed:#x}: inserting an ENI: {e:#}"))?;
                lab.toml = grown.clone();
                let grown_topo = lab.topo().clone();
                let mut r = Rng::new(rng::derive(tseed, 999));
                let mode = *r.pick(&[HookMode::Tc, HookMode::Xdp, HookMode::Mixed]);
                let n = r.range(plan.sequence.0 as u64, plan.sequence.1 as u64) as usize;
                let cap = g.flow_capacity.map(|c| c as usize);
                let seq = PacketGen::new(&grown_topo, cap, r, mode).sequence(n);
                match lab.check(&seq, false) {
                    Ok(t) => {
                        on_topo.eni_inserts += 1;
                        on_topo.after_insert += t.packets;
                        on_topo.add(&t);
                    }
                    // The shrinker rebuilds labs from the generated spec,
                    // which the grown lab no longer is: the whole case.
                    Err(m) => {
                        return Err(format!(
                            "differential mismatch after a reload inserted an ENI: master seed                              {:#x}, topology #{k} (seed {tseed:#x}); grown config (@LAB@ stands                              for the lab name):\n{grown}\n{m}",
                            plan.seed
                        ))
                    }
                }
            }
        }
        if plan.verbose {
            eprintln!(
                "topology #{k} seed {tseed:#x} ({} ENIs, {} endpoint ENIs, flow table {}): {} sequences, {}",
                topo.enis.len(),
                topo.services.vpc_endpoints.iter().map(|e| e.enis.len()).sum::<usize>(),
                g.flow_capacity.map_or("default".to_string(), |c| format!("{c} entries")),
                j,
                on_topo.summary()
            );
        }
        report.topologies.push((tseed, on_topo.packets));
        report.tally.add(&on_topo);
        k += 1;
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// Drop reasons that can never be produced through BPF_PROG_TEST_RUN:
/// frames shorter than an Ethernet header are refused by the runner, the
/// redirect helpers do not fail there, and the store/checksum helpers fail
/// only on frames the parser already refused. `untracked_sg_deny` needs a rule
/// removed between two packets of a flow, which one soak sequence (one
/// configuration) never does: stage and e2e tests cover it.
/// `slow_path_failed` needs an empty slow-path program array, which only a
/// broken loader leaves (a stage test empties it).
/// `nat_gateway_fragment_expired` needs 30 s between a datagram's first and
/// a later fragment, or its UDP flow ended between them, which no sequence
/// has (a stage test ages the fragment and clears the flow).
pub const UNREACHABLE_IN_TEST_RUNS: [DropReason; 6] = [
    DropReason::TruncatedEthernet,
    DropReason::RedirectFailed,
    DropReason::RewriteFailed,
    DropReason::UntrackedSgDeny,
    DropReason::SlowPathFailed,
    DropReason::NatGatewayFragmentExpired,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// No root: every generated topology is one the agent accepts, and the
    /// model digests every generated sequence (garbage included) without
    /// panicking, reaching every drop reason a test run can produce.
    #[test]
    fn generated_topologies_load_and_their_sequences_run_through_the_model() {
        let mut seen = std::collections::BTreeSet::new();
        let mut internet = 0;
        for k in 0..60 {
            let g = generate_topology(rng::derive(1, k));
            let topo = parse(&g.toml()).expect("loadable");
            let cap = g.flow_capacity.map(|c| c as usize);
            let seq = PacketGen::new(&topo, cap, Rng::new(k), HookMode::Mixed).sequence(400);
            let mut m = Model::new(&topo, cap);
            for s in &seq {
                let port = match &s.from {
                    Source::Eni(id) => Port::Eni(topo.eni_by_id(id).expect("sender exists")),
                    Source::Internet(name) => Port::Internet(
                        topo.internet
                            .hosts
                            .iter()
                            .position(|h| &h.name == name)
                            .expect("host"),
                    ),
                    Source::Unknown => Port::Unknown,
                };
                assert!(s.frame.len() >= 14);
                assert!(s.hook == Hook::Xdp || packet_gen::tc_can_run(&s.frame));
                match m.process(port, &s.frame).verdict {
                    Verdict::Drop(r) => {
                        seen.insert(r as u32);
                    }
                    Verdict::Forward { eni } if eni >= topo.enis.len() => internet += 1,
                    _ => {}
                }
            }
        }
        let missing: Vec<&str> = DropReason::ALL
            .iter()
            .filter(|r| !seen.contains(&(**r as u32)) && !UNREACHABLE_IN_TEST_RUNS.contains(r))
            .map(|r| r.name())
            .collect();
        assert!(missing.is_empty(), "never generated: {missing:?}");
        assert!(internet > 0, "nothing reached the lab's internet");
    }
}
