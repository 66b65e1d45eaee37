//! `dataplane explain`: what the data plane would do with a packet, and why.
//!
//! The answer comes from the kernel, not from a model of it: the pipeline
//! object is loaded a second time with its load-time constant `DRY_RUN` set
//! and every decision map opened from the running agent's pins, and the
//! packet is run through it with BPF_PROG_TEST_RUN. The dry-run build
//! creates no state (no flows, no NAT-port claims, no counters) and leaves
//! a trace of every stage in `HL_EXPLAIN` ([`ExplainTrace`]). The program's
//! return code and output frame are the verdict; the trace says which stage
//! decided; the topology only annotates it (which group and which rule of
//! the config admit or refuse the packet, what the indices are called).

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use aya::{
    maps::{Array, HashMap, MapData},
    programs::{ProgramError, SchedClassifier, Xdp},
    Ebpf, EbpfLoader,
};
use dataplane_common::{
    explain::{
        ExplainTrace, NaclCheck, RouteCheck, SgCheck, EXPLAIN_FLOW_HIT, EXPLAIN_FLOW_RESTART,
        NACL_CHECKS, NO_RANGE, SG_CHECKS, SG_CHECK_EGRESS, SG_CHECK_INGRESS, SG_CHECK_LINK_EGRESS,
        SG_CHECK_TARGET_INGRESS, STAGE_EGRESS_SG, STAGE_ENDPOINT, STAGE_ENI, STAGE_FLOW,
        STAGE_ICMP_ERROR, STAGE_INGRESS_SG, STAGE_LINK_EGRESS_SG, STAGE_LISTENER, STAGE_NACL_IN,
        STAGE_NACL_OUT, STAGE_NAMES, STAGE_NAT, STAGE_PARSE, STAGE_PORT, STAGE_REWRITE,
        STAGE_ROUTE, STAGE_TARGET, STAGE_TARGET_SG,
    },
    maps, programs, DropReason, PortInfo, ENI_KIND_ENDPOINT, ENI_KIND_HOST, ENI_KIND_LINK,
    FLOW_F_DNAT, FLOW_F_SNAT, FLOW_STATE_NAMES, PROTO_ICMP, PROTO_TCP, PROTO_UDP, ROUTE_LOCAL,
    ROUTE_NO_MATCH, ROUTE_TARGET_LOCAL, ROUTE_TARGET_PEERING,
};
use serde::Serialize;

use crate::{
    compile::{self, ENDPOINT_GENERATION_STRIDE, TARGET_GENERATION_STRIDE},
    lab,
    loader::{self, KernelObject},
    model::{
        AclEntry, Hook, Ipv4Net, Peer, Protocol, Route, RouteTable, RouteTarget, Rule, Topology,
        VpcLinkKind,
    },
    pins,
    testrun::{self, Outcome, Program, Verdict},
};

mod acl_route;
mod nat;
mod probe;
mod render;
use acl_route::*;
use nat::nat;
pub use probe::{Probe, Proto, Query, DEFAULT_SPORT};
pub use render::render;

/// The decision maps `explain` must share with the running agent.
const DECISION_MAPS: [&str; 9] = [
    maps::PORTS,
    maps::PORT_SLOTS,
    maps::ENIS,
    maps::SG_RULES,
    maps::FLOWS,
    maps::ENDPOINTS,
    maps::LISTENERS,
    maps::MAGLEV,
    maps::TARGETS,
];

/// The pipeline loaded as a dry run over a running agent's maps.
pub struct DryRun {
    ebpf: Ebpf,
    fabric_ns: String,
    hook: Hook,
}

impl DryRun {
    /// Loads `obj` with `DRY_RUN` = 1, every map pinned in `pin_dir` opened
    /// from its pin (the trace map stays private), and the program of
    /// `hook` loaded. `lab` names the lab in errors.
    pub fn open(
        obj: &KernelObject,
        pin_dir: &Path,
        lab: &str,
        fabric_ns: &str,
        hook: Hook,
    ) -> Result<DryRun> {
        loader::check_prerequisites(obj)?;
        // A map left out would be a private, empty one: every decision
        // would be made on nothing.
        let missing: Vec<&str> = DECISION_MAPS
            .into_iter()
            .filter(|name| !pin_dir.join(name).exists())
            .collect();
        if missing.len() == DECISION_MAPS.len() {
            bail!(
                "no agent runs lab {lab}: {} is not pinned in {}; start it with `dataplane run` \
                 (with the same config) and try again",
                maps::PORTS,
                pin_dir.display()
            );
        }
        if !missing.is_empty() {
            bail!(
                "the agent running lab {lab} predates this build ({} is not pinned in {}): \
                 restart it with this build's `dataplane run` (it adopts the running data \
                 plane) and try again",
                missing.join(", "),
                pin_dir.display()
            );
        }
        // Every map the agent pins, from its pin; the others (the trace,
        // the scratch space) are private to this load. Only pins that exist:
        // aya would create and pin a missing one.
        let pins: Vec<(&str, PathBuf)> = pins::PINNED_MAPS
            .iter()
            // The slow paths' arrays hold the live programs: a dry run
            // fills its own with its dry-run ones.
            .filter(|n| !maps::SLOW_PATHS.iter().any(|(m, _, _)| m == *n))
            .map(|n| (*n, pin_dir.join(n)))
            .filter(|(_, p)| p.exists())
            .collect();
        let mut loader = EbpfLoader::new();
        loader.override_global("DRY_RUN", &1u8, true);
        for (name, path) in &pins {
            loader.map_pin_path(name, path.as_path());
        }
        let mut ebpf = loader
            .load(&obj.bytes()?)
            .with_context(|| format!("loading kernel object {} as a dry run", obj.display()))?;
        match hook {
            Hook::Tc => load_dry_run(&mut ebpf, programs::TC, SchedClassifier::load)?,
            Hook::Xdp => load_dry_run(&mut ebpf, programs::XDP, Xdp::load)?,
        }
        crate::loader::load_slow_paths(&mut ebpf).context("loading the dry-run slow paths")?;
        Ok(DryRun {
            ebpf,
            fabric_ns: fabric_ns.to_string(),
            hook,
        })
    }

    /// [`DryRun::open`] for the agent running `topo`'s lab.
    pub fn for_lab(topo: &Topology, obj: &KernelObject, hook: Hook) -> Result<DryRun> {
        let plan = lab::plan(topo);
        Self::open(
            obj,
            &pins::pin_dir(&topo.lab.name),
            &topo.lab.name,
            &plan.fabric_ns,
            hook,
        )
    }

    /// The fabric port the running agent knows ENI `eni` (address `ip`) by.
    pub fn port_of(&self, eni: usize, ip: Ipv4Addr) -> Result<u32> {
        let active: aya::maps::Array<&MapData, u32> = aya::maps::Array::try_from(
            self.ebpf
                .map(maps::ACTIVE)
                .context("map HL_ACTIVE missing")?,
        )?;
        let gen =
            dataplane_common::active_generation(active.get(&0, 0).context("reading HL_ACTIVE")?);
        let map = self.ebpf.map(maps::PORTS).context("map HL_PORTS missing")?;
        let ports: HashMap<&MapData, u32, PortInfo> = HashMap::try_from(map)?;
        for r in ports.iter() {
            let (key, p) = r.context("reading HL_PORTS")?;
            // Entries of the active generation only; the key carries it.
            if u32::from(p.generation) == gen && p.eni == eni as u32 && p.ip == ip.octets() {
                return Ok(key & !dataplane_common::GENERATION_BIT);
            }
        }
        bail!(
            "the running agent has no fabric port for ENI #{eni} ({ip}): does it run this config? \
             Explain with the file the agent was started with"
        )
    }

    /// Runs `frame` through the dry-run program as if it arrived on fabric
    /// port `ifindex`; returns the program's verdict and output and the trace.
    pub fn run(&mut self, ifindex: u32, frame: &[u8]) -> Result<(Outcome, ExplainTrace)> {
        {
            let map = self
                .ebpf
                .map_mut(maps::EXPLAIN)
                .context("map HL_EXPLAIN missing")?;
            let mut t: Array<&mut MapData, ExplainTrace> = Array::try_from(map)?;
            t.set(0, ExplainTrace::default(), 0)
                .context("resetting HL_EXPLAIN")?;
        }
        let prog = match self.hook {
            Hook::Tc => Program::Tc(
                self.ebpf
                    .program(programs::TC)
                    .expect("loaded")
                    .try_into()?,
            ),
            Hook::Xdp => Program::Xdp(
                self.ebpf
                    .program(programs::XDP)
                    .expect("loaded")
                    .try_into()?,
            ),
        };
        let outcome = testrun::run(prog, &self.fabric_ns, ifindex, frame)?;
        let map = self
            .ebpf
            .map(maps::EXPLAIN)
            .context("map HL_EXPLAIN missing")?;
        let t: Array<&MapData, ExplainTrace> = Array::try_from(map)?;
        Ok((outcome, t.get(&0, 0).context("reading HL_EXPLAIN")?))
    }
}

/// Loads program `name` (of type `P`) of the dry-run object through the
/// verifier.
fn load_dry_run<'a, P: 'a>(
    ebpf: &'a mut Ebpf,
    name: &str,
    load: fn(&mut P) -> Result<(), ProgramError>,
) -> Result<()>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let prog: &mut P = ebpf
        .program_mut(name)
        .with_context(|| format!("program {name} missing from the object"))?
        .try_into()?;
    load(prog).with_context(|| format!("verifier rejected the dry-run {name}"))
}

// ---------------------------------------------------------------------------
// The answer

/// Where a config rule is written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub group: String,
    /// "ingress" or "egress".
    pub direction: &'static str,
    /// Index in the group's list; `None` for AWS's default egress rule
    /// (the group has no `egress` key).
    pub index: Option<usize>,
    /// `file:line` of the rule, when the config text is at hand.
    pub location: Option<String>,
    /// The rule as written: `tcp 80 from sg-client`.
    pub rule: String,
    /// Does it cover this packet (protocol, peer and port)?
    pub matches: bool,
    /// Why not, when it does not.
    pub mismatch: Option<String>,
}

/// One security-group check as the kernel made it, with the config's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SgVerdict {
    /// "egress", "ingress", "link egress" or "target ingress".
    pub check: &'static str,
    /// Whose groups: an ENI id, an endpoint id, a VPC link id.
    pub holder: String,
    pub groups: Vec<String>,
    pub peer: Ipv4Addr,
    pub port: u16,
    pub allowed: bool,
    /// The kernel's lookup: compiled set id, whether an LPM entry covered
    /// the peer, and the port range that admitted the port.
    pub set: u32,
    pub entry_found: bool,
    pub range: Option<(u16, u16)>,
    /// The config rules of those groups for this direction and protocol.
    pub rules: Vec<RuleRef>,
}

/// One network-ACL check as the kernel made it, with the config's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NaclVerdict {
    /// "out" (leaving a subnet: its outbound entries) or "in" (entering
    /// one: its inbound entries).
    pub check: &'static str,
    pub subnet: String,
    /// The ACL's id ("vpc-a (default)": the VPC's default ACL).
    pub nacl: String,
    /// The address the entries matched: the destination out, the source in.
    pub peer: Ipv4Addr,
    /// The destination port, or ICMP type and code.
    pub matched: String,
    pub allowed: bool,
    /// The deciding rule number; "*": no entry matched (the final deny).
    pub rule: String,
    /// The deciding entry as written (`allow tcp 443 from 0.0.0.0/0`).
    pub entry: Option<String>,
    /// `file:line` of the entry, when the config text is at hand.
    pub location: Option<String>,
}

/// The route-table decision of a first packet, with the config's route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteVerdict {
    /// The source subnet, whose table decided.
    pub subnet: String,
    /// The table's id ("vpc-a (main)": the VPC's implied main table).
    pub table: String,
    pub destination: Ipv4Addr,
    /// The deciding route as written (`local 10.0.0.0/16`, `blackhole
    /// 192.168.0.0/16`), or "no route".
    pub route: String,
    /// True for `local`, and for an active peering connection that carries
    /// the destination: the packet goes on.
    pub allowed: bool,
    /// `file:line` of the route, when the config text is at hand and the
    /// route is written there.
    pub location: Option<String>,
}

/// What a PrivateLink endpoint or HTTP VPC link did: as far as the packet
/// got (a drop at the listener leaves the rest `None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Nat {
    pub endpoint: String,
    pub nlb: String,
    /// "privatelink" or "http vpc link".
    pub kind: &'static str,
    pub listener: Option<String>,
    pub maglev_slot: Option<u32>,
    pub target: Option<String>,
    /// The source the target sees and the NAT source port picked.
    pub source: Option<Ipv4Addr>,
    pub source_port: Option<u16>,
    /// NAT source ports probed before a free one was found.
    pub ports_probed: Option<u16>,
    /// The managed interfaces the packet passes, by the ids their flow log
    /// records carry: `endpoint ENI eni-... 10.0.1.100`, then `NLB node`
    /// or `VPC link ENI` once the target is picked.
    pub interfaces: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// `tcp 10.0.1.10:40000 -> 10.0.2.30:5432 [SYN]`
    pub packet: String,
    pub proto: Proto,
    pub from: String,
    pub vpc: String,
    /// "forward", "drop" or "pass".
    pub verdict: &'static str,
    /// Destination ENI and host of a forwarded packet.
    pub to: Option<String>,
    pub drop_reason: Option<&'static str>,
    /// The stage that decided.
    pub decided_by: &'static str,
    pub stages: Vec<&'static str>,
    /// An existing flow that matched: its state.
    pub flow: Option<String>,
    /// What the destination address is in the sender's VPC.
    pub destination: Option<String>,
    pub security_groups: Vec<SgVerdict>,
    /// Network ACLs met, in the order the packet crossed them.
    pub nacls: Vec<NaclVerdict>,
    /// The source subnet's route table, when the packet met it.
    pub route: Option<RouteVerdict>,
    pub nat: Option<Nat>,
    /// The tuple the packet leaves with (from the output frame).
    pub leaves_as: Option<String>,
    pub notes: Vec<String>,
    /// The raw kernel answer.
    #[serde(skip)]
    pub trace: ExplainTrace,
    #[serde(skip)]
    pub outcome: Outcome,
}

impl Explanation {
    pub fn forwarded(&self) -> bool {
        self.verdict == "forward"
    }
}

/// The config text rules are located in (for `file:line`).
pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

/// Runs the probe through the dry run and explains the outcome.
pub fn explain(
    topo: &Topology,
    src: Option<&Source<'_>>,
    dry: &mut DryRun,
    probe: &Probe,
) -> Result<Explanation> {
    let ifindex = dry.port_of(probe.eni, probe.src)?;
    let frame = probe.frame(topo);
    let (outcome, trace) = dry.run(ifindex, &frame)?;
    Ok(annotate(topo, src, probe, outcome, trace))
}

/// Pure: the kernel's answer in the topology's words.
pub fn annotate(
    topo: &Topology,
    src: Option<&Source<'_>>,
    probe: &Probe,
    outcome: Outcome,
    t: ExplainTrace,
) -> Explanation {
    let mut notes = Vec::new();
    let vpc = topo.eni_vpc(probe.eni);
    let packet = match probe.proto {
        Proto::Icmp => format!(
            "icmp {} -> {} [echo request, id {}]",
            probe.src, probe.dst, probe.sport
        ),
        Proto::Other(n) => format!(
            "{} {} -> {} [protocol {n}, no ports]",
            probe.proto.name(),
            probe.src,
            probe.dst
        ),
        p => format!(
            "{} {}:{} -> {}:{}{}",
            p.name(),
            probe.src,
            probe.sport,
            probe.dst,
            probe.dport,
            if p == Proto::Tcp { " [SYN]" } else { "" }
        ),
    };
    // In pipeline order (docs/DATAPLANE.md, stage order), not number order.
    let stages: Vec<&'static str> = [
        STAGE_PORT,
        STAGE_PARSE,
        STAGE_ICMP_ERROR,
        STAGE_FLOW,
        STAGE_ENI,
        STAGE_EGRESS_SG,
        STAGE_NACL_OUT,
        STAGE_ROUTE,
        dataplane_common::explain::STAGE_IGW,
        STAGE_INGRESS_SG,
        STAGE_ENDPOINT,
        STAGE_LISTENER,
        STAGE_TARGET,
        STAGE_LINK_EGRESS_SG,
        STAGE_TARGET_SG,
        STAGE_NACL_IN,
        STAGE_NAT,
        STAGE_REWRITE,
    ]
    .into_iter()
    .filter(|&s| t.stages & (1 << s) != 0)
    .map(|s| STAGE_NAMES[s as usize])
    .collect();
    let verdict = match outcome.verdict {
        Verdict::Forward => "forward",
        Verdict::Drop => "drop",
        Verdict::Pass => "pass",
        Verdict::Reflect => "reflect",
        Verdict::Other(_) => "other",
    };
    let drop_reason = (t.dropped != 0)
        .then(|| {
            DropReason::ALL
                .get(t.drop_reason as usize)
                .map(|r| r.name())
        })
        .flatten();
    if (outcome.verdict == Verdict::Drop) != (t.dropped != 0) {
        notes.push(format!(
            "the program returned {:?} but its trace says {}: the hook refused the redirect",
            outcome.verdict,
            if t.dropped != 0 {
                "dropped"
            } else {
                "not dropped"
            }
        ));
    }
    let flow = (t.flow != 0).then(|| {
        let state = FLOW_STATE_NAMES.get(t.flow_state as usize).copied().unwrap_or("?");
        if t.flow == EXPLAIN_FLOW_HIT {
            format!("an existing flow matched ({state}): its recorded action applies, security groups are not consulted again unless it is untracked (network ACLs are: they judge every packet)")
        } else {
            debug_assert_eq!(t.flow, EXPLAIN_FLOW_RESTART);
            format!("a finished flow ({state}) matched a new SYN: decided again as a new connection")
        }
    });
    let decided_by = if t.stages == 0 {
        "port"
    } else if t.dropped != 0 {
        STAGE_NAMES
            .get(t.last_stage as usize)
            .copied()
            .unwrap_or("?")
    } else if t.flow == EXPLAIN_FLOW_HIT {
        STAGE_NAMES[STAGE_FLOW as usize]
    } else if t.sg[SG_CHECK_TARGET_INGRESS].checked != 0 {
        notes.extend(acl_route::translated_to_other_node(topo, &t));
        "target_sg"
    } else if let Some(n) = acl_route::other_node(topo, vpc, &t) {
        notes.push(n);
        "route"
    } else {
        "ingress_sg"
    };
    let destination = describe_destination(topo, vpc, &t);
    let mut security_groups = Vec::new();
    for check in 0..SG_CHECKS {
        let c = &t.sg[check];
        if c.checked == 0 {
            continue;
        }
        let v = sg_verdict(topo, src, probe, &t, check, c);
        let config_allows = v.rules.iter().any(|r| r.matches);
        if config_allows != v.allowed && !v.groups.is_empty() {
            notes.push(format!(
                "the running agent's {} decision ({}) disagrees with the config's rules: \
                 does the agent run another version of this file?",
                v.check,
                if v.allowed { "allow" } else { "deny" }
            ));
        }
        security_groups.push(v);
    }
    let mut nacls = Vec::new();
    for c in t.nacl.iter().take(NACL_CHECKS).filter(|c| c.checked != 0) {
        let v = nacl_verdict(topo, src, c);
        if let Some(n) = config_nacl_disagrees(topo, c) {
            notes.push(n);
        }
        nacls.push(v);
    }
    let route = (t.route.checked != 0).then(|| route_verdict(topo, src, probe, &t.route));
    if let Some(n) = (t.route.checked != 0)
        .then(|| config_route_disagrees(topo, probe, &t.route))
        .flatten()
    {
        notes.push(n);
    }
    let nat = (t.stages & (1 << STAGE_ENDPOINT) != 0).then(|| nat(topo, &t));
    if t.dropped != 0 && t.drop_reason == DropReason::NoHealthyTarget as u32 {
        notes.push(
            "every target this NLB node may pick is out of selection (failing its health check, \
             or none in the endpoint's AZ without cross-zone): see the agent's log"
                .into(),
        );
    }
    let mut to = None;
    let mut leaves_as = None;
    if outcome.verdict == Verdict::Forward {
        let eni = t.out_eni as usize;
        to = topo
            .enis
            .get(eni)
            .map(|e| format!("{} (host {})", e.id, e.host));
        leaves_as = parse_tuple(&outcome.out).map(|(proto, s, d, sp, dp)| {
            let out_vpc = topo
                .vpcs
                .get(t.out_vpc as usize)
                .map_or("?", |v| v.id.as_str());
            let id = if probe.proto == Proto::Icmp {
                format!(" [id {sp}]")
            } else {
                String::new()
            };
            let _ = dp;
            format!(
                "{proto} {} -> {}{id} in {out_vpc}",
                hostport(probe.proto, s, sp),
                hostport(probe.proto, d, dp)
            )
        });
        if t.out_flags & (FLOW_F_SNAT | FLOW_F_DNAT) == 0 && t.flow != EXPLAIN_FLOW_HIT {
            notes.push("no address translation: the packet keeps its tuple".into());
        }
    }
    Explanation {
        packet,
        proto: probe.proto,
        from: format!(
            "{} (host {})",
            topo.enis[probe.eni].id, topo.enis[probe.eni].host
        ),
        vpc: topo.vpcs[vpc].id.clone(),
        verdict,
        to,
        drop_reason,
        decided_by,
        stages,
        flow,
        destination,
        security_groups,
        nacls,
        route,
        nat,
        leaves_as,
        notes,
        trace: t,
        outcome,
    }
}

fn hostport(proto: Proto, ip: Ipv4Addr, port: u16) -> String {
    match proto {
        Proto::Icmp | Proto::Other(_) => ip.to_string(),
        _ => format!("{ip}:{port}"),
    }
}

/// (proto, src, dst, sport, dport) of an Ethernet/IPv4 frame.
fn parse_tuple(f: &[u8]) -> Option<(String, Ipv4Addr, Ipv4Addr, u16, u16)> {
    let ip = f.get(14..34)?;
    let ihl = (ip[0] & 0x0f) as usize * 4;
    let l4 = f.get(14 + ihl..)?;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let (name, sp, dp) = match ip[9] {
        PROTO_TCP | PROTO_UDP => {
            let sp = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
            let dp = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
            (Proto::of(ip[9]).name(), sp, dp)
        }
        PROTO_ICMP => {
            let id = u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]);
            ("icmp".to_string(), id, id)
        }
        // Other protocols: addresses and protocol only.
        n => (Proto::of(n).name(), 0, 0),
    };
    Some((name, src, dst, sp, dp))
}

/// Flattened endpoint ENIs: (endpoint index, ENI index within it).
fn endpoint_enis(topo: &Topology) -> Vec<(usize, usize)> {
    flattened(&topo.services.vpc_endpoints, |ep| ep.enis.len())
}

/// Flattened targets: (target group, target index within it).
fn targets(topo: &Topology) -> Vec<(usize, usize)> {
    flattened(&topo.services.target_groups, |tg| tg.targets.len())
}

/// (index into `outer`, index within that item) for every one of the
/// `len(item)` things each item holds, in order.
fn flattened<T>(outer: &[T], len: impl Fn(&T) -> usize) -> Vec<(usize, usize)> {
    outer
        .iter()
        .enumerate()
        .flat_map(|(i, x)| (0..len(x)).map(move |k| (i, k)))
        .collect()
}

/// The VPC link an endpoint was implied by, if it is an HTTP link's integration.
fn http_link_of(topo: &Topology, endpoint: usize) -> Option<usize> {
    let ep = &topo.services.vpc_endpoints[endpoint];
    ep.implied_by
        .filter(|&l| matches!(topo.services.vpc_links[l].kind, VpcLinkKind::Http { .. }))
}

fn describe_destination(topo: &Topology, vpc: usize, t: &ExplainTrace) -> Option<String> {
    if t.stages & (1 << dataplane_common::explain::STAGE_ENI) == 0 {
        return None;
    }
    let vpc_id = &topo.vpcs[vpc].id;
    if t.dropped != 0
        && t.drop_reason == DropReason::NoRoute as u32
        && t.dst_kind == 0
        && t.dst_eni == 0
    {
        return Some(format!("no ENI has this address in {vpc_id}"));
    }
    Some(match t.dst_kind {
        ENI_KIND_HOST => topo.enis.get(t.dst_eni as usize).map_or_else(
            || format!("ENI #{}", t.dst_eni),
            |e| format!("ENI {} (host {})", e.id, e.host),
        ),
        ENI_KIND_ENDPOINT => {
            let i = (t.dst_eni % ENDPOINT_GENERATION_STRIDE) as usize;
            match endpoint_enis(topo).get(i) {
                Some(&(ep, _)) => match http_link_of(topo, ep) {
                    Some(l) => format!(
                        "integration address of HTTP VPC link {} (endpoint {})",
                        topo.services.vpc_links[l].id, topo.services.vpc_endpoints[ep].id
                    ),
                    None => format!("interface endpoint {}", topo.services.vpc_endpoints[ep].id),
                },
                None => format!("endpoint ENI #{i}"),
            }
        }
        ENI_KIND_LINK => "a Hyperplane ENI of an HTTP VPC link (only replies may reach it)".into(),
        dataplane_common::ENI_KIND_INTERNET => internet_destination(topo, vpc, t),
        k => format!("ENI kind {k}"),
    })
}

/// Whose groups a check used.
fn holder(topo: &Topology, probe: &Probe, t: &ExplainTrace, check: usize) -> (String, Vec<usize>) {
    let s = &topo.services;
    match check {
        SG_CHECK_EGRESS => {
            let e = &topo.enis[probe.eni];
            (e.id.clone(), e.security_groups.clone())
        }
        SG_CHECK_INGRESS => match t.dst_kind {
            ENI_KIND_HOST => topo.enis.get(t.dst_eni as usize).map_or_else(
                || (format!("ENI #{}", t.dst_eni), Vec::new()),
                |e| (e.id.clone(), e.security_groups.clone()),
            ),
            _ => {
                let i = (t.dst_eni % ENDPOINT_GENERATION_STRIDE) as usize;
                match endpoint_enis(topo).get(i) {
                    Some(&(ep, _)) => {
                        let e = &s.vpc_endpoints[ep];
                        (e.id.clone(), e.security_groups.clone())
                    }
                    None => (format!("endpoint ENI #{i}"), Vec::new()),
                }
            }
        },
        SG_CHECK_LINK_EGRESS => {
            let i = (t.endpoint % ENDPOINT_GENERATION_STRIDE) as usize;
            match endpoint_enis(topo)
                .get(i)
                .and_then(|&(ep, _)| http_link_of(topo, ep))
            {
                Some(l) => {
                    let groups = match &s.vpc_links[l].kind {
                        VpcLinkKind::Http {
                            security_groups, ..
                        } => security_groups.clone(),
                        VpcLinkKind::Rest { .. } => Vec::new(),
                    };
                    (s.vpc_links[l].id.clone(), groups)
                }
                None => ("VPC link".into(), Vec::new()),
            }
        }
        _ => {
            let i = (t.target % TARGET_GENERATION_STRIDE) as usize;
            match targets(topo).get(i) {
                Some(&(tg, k)) => {
                    let e = &topo.enis[s.target_groups[tg].targets[k].eni];
                    (e.id.clone(), e.security_groups.clone())
                }
                None => (format!("target #{i}"), Vec::new()),
            }
        }
    }
}

fn sg_verdict(
    topo: &Topology,
    src: Option<&Source<'_>>,
    probe: &Probe,
    t: &ExplainTrace,
    check: usize,
    c: &SgCheck,
) -> SgVerdict {
    let (holder, groups) = holder(topo, probe, t, check);
    let ingress = check == SG_CHECK_INGRESS || check == SG_CHECK_TARGET_INGRESS;
    let peer = Ipv4Addr::from(c.peer);
    let mut rules = Vec::new();
    for &g in &groups {
        let sg = &topo.security_groups[g];
        let list = if ingress { &sg.ingress } else { &sg.egress };
        let direction = if ingress { "ingress" } else { "egress" };
        // A group without an `egress` key has AWS's default rule, which the
        // config does not spell out.
        let implicit = !ingress && src.is_some_and(|s| !has_key(s.text, &sg.id, "egress"));
        for (i, rule) in list.iter().enumerate() {
            if !rule.protocol.covers(c.proto) {
                continue;
            }
            let mismatch = rule_mismatch(topo, rule, peer, c.port, ingress);
            rules.push(RuleRef {
                group: sg.id.clone(),
                direction,
                index: (!implicit).then_some(i),
                location: if implicit {
                    src.and_then(|s| {
                        group_line(s.text, &sg.id).map(|line| format!("{}:{line}", s.file))
                    })
                } else {
                    src.and_then(|s| {
                        rule_span(s.text, &sg.id, direction, i)
                            .map(|line| format!("{}:{line}", s.file))
                    })
                },
                rule: if implicit {
                    "default egress rule (no `egress` key): all protocols to 0.0.0.0/0".into()
                } else {
                    describe_rule(topo, rule, ingress)
                },
                matches: mismatch.is_none(),
                mismatch,
            });
        }
    }
    SgVerdict {
        check: match check {
            SG_CHECK_EGRESS => "egress",
            SG_CHECK_INGRESS => "ingress",
            SG_CHECK_LINK_EGRESS => "link egress",
            _ => "target ingress",
        },
        holder,
        groups: groups
            .iter()
            .map(|&g| topo.security_groups[g].id.clone())
            .collect(),
        peer,
        port: c.port,
        allowed: c.range != NO_RANGE,
        set: c.set,
        entry_found: c.entry_found != 0,
        range: (c.range != NO_RANGE).then_some((c.lo, c.hi)),
        rules,
    }
}

fn describe_rule(topo: &Topology, r: &Rule, ingress: bool) -> String {
    let ports = acl_route::rule_values(r.protocol, r.ports);
    let peer = match &r.peer {
        Peer::Cidr(n) => n.to_string(),
        Peer::SecurityGroup(g) => {
            let members: Vec<String> = compile::sg_members(topo, *g)
                .iter()
                .map(|m| m.to_string())
                .collect();
            format!(
                "{} ({})",
                topo.security_groups[*g].id,
                if members.is_empty() {
                    "no members".into()
                } else {
                    members.join(", ")
                }
            )
        }
    };
    format!("{ports} {} {peer}", if ingress { "from" } else { "to" })
}

/// Why `r` does not cover `peer`/`port`; `None` when it does.
fn rule_mismatch(
    topo: &Topology,
    r: &Rule,
    peer: Ipv4Addr,
    port: u16,
    ingress: bool,
) -> Option<String> {
    let peer_ok = match &r.peer {
        Peer::Cidr(n) => n.contains(&peer),
        Peer::SecurityGroup(g) => compile::sg_members(topo, *g).contains(&peer),
    };
    let port_ok = port >= r.ports.0 && port <= r.ports.1;
    let who = if ingress { "source" } else { "destination" };
    match (peer_ok, port_ok) {
        (true, true) => None,
        (false, true) => Some(match &r.peer {
            Peer::Cidr(n) => format!("{who} {peer} is outside {n}"),
            Peer::SecurityGroup(g) => format!(
                "{who} {peer} is not a member of {}",
                topo.security_groups[*g].id
            ),
        }),
        (true, false) if r.protocol == Protocol::Icmp => Some(format!(
            "ICMP type {} code {} is not {}",
            port >> 8,
            port & 0xff,
            acl_route::rule_values(r.protocol, r.ports)
        )),
        (true, false) => Some(format!(
            "port {port} is outside {}-{}",
            r.ports.0, r.ports.1
        )),
        (false, false) => Some(format!("neither {who} {peer} nor port {port} is covered")),
    }
}

/// Is `key` present in the security group `sg`'s table?
fn has_key(text: &str, sg: &str, key: &str) -> bool {
    let Ok(doc) = toml_edit::ImDocument::parse(text) else {
        return false;
    };
    group_table(&doc, sg).is_some_and(|t| t.contains_key(key))
}

fn group_table<'d>(doc: &'d toml_edit::ImDocument<&str>, sg: &str) -> Option<&'d toml_edit::Table> {
    doc.get("security_group")?
        .as_array_of_tables()?
        .iter()
        .find(|t| t.get("id").and_then(|v| v.as_str()) == Some(sg))
}

/// The 1-based line of group `sg`'s `[[security_group]]` header.
fn group_line(text: &str, sg: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let span = group_table(&doc, sg)?.span()?;
    Some(text[..span.start.min(text.len())].matches('\n').count() + 1)
}

/// The 1-based line of rule `index` of `direction` in group `sg`.
fn rule_span(text: &str, sg: &str, direction: &str, index: usize) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let t = group_table(&doc, sg)?;
    let item = t.get(direction)?;
    let span = if let Some(a) = item.as_array() {
        a.get(index)?.span()?
    } else {
        item.as_array_of_tables()?.get(index)?.span()?
    };
    Some(text[..span.start.min(text.len())].matches('\n').count() + 1)
}
