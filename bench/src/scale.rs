//! Part 2: scale. Established flows with 1k..1M live flows in the table,
//! first packets against 10..10,000-rule groups, compiling and loading a
//! 10,000-ENI / 100,000-rule config, applying a one-rule change.

use std::{
    collections::HashMap as StdHashMap,
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use aya::maps::{lpm_trie::Key, HashMap, LpmTrie, MapData};
use dataplane::{
    compile::{self, Compiled},
    delta::Delta,
    loader::{Dataplane, LoadOptions},
    model::{default_mac, Hook, Ipv4Net, Peer, Protocol, Rule, Topology},
    netns,
};
use dataplane_common::{
    maps, FlowCounters, FlowEntry, FlowKey, SgKey, SgPorts, FLOW_F_REPLY, FLOW_STATE_ESTABLISHED,
    PROTO_TCP,
};
use hyperlab_bench_common::{nat_key, programs as bprog, NatEntry, NatKey5, NatVal5};

use super::{
    kernel::{self, hook_name, record, SPORT_XOR},
    objects::BenchObject,
    report::{Check, Report, Row, Target},
    stats::{ratios, Rng},
    testrun::{call, per_call, Overhead, Program},
    topo::{self, Net, CLIENT, ENDPOINT, NLB, SERVER},
    verify, Options, Section, Sizes,
};
use hyperlab_tests::{Fixture, Outcome};

pub fn run(fx: &mut Fixture, opts: &Options, sizes: &Sizes, report: &mut Report) -> Result<()> {
    super::floors::run(fx, opts, sizes, report).context("the floors' anatomy")?;
    established_at_scale(fx, opts, sizes, report).context("established flows at scale")?;
    first_packet_vs_rules(fx, opts, sizes, report).context("first packets against group size")?;
    big_config(fx, opts, sizes, report).context("the 10,000-ENI config")?;
    Ok(())
}

pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Flow `i`'s ports: distinct for every i below 65,536 x 60,000.
fn flow_ports(i: usize) -> (u16, u16) {
    (1024 + (i % 60_000) as u16, 20_000 + (i / 60_000) as u16)
}

fn prog_of(dp: &Dataplane, hook: Hook) -> Program<'_> {
    match hook {
        Hook::Xdp => Program::Xdp(dp.xdp()),
        Hook::Tc => Program::Tc(dp.tc()),
    }
}

fn empty_of(b: &BenchObject, hook: Hook) -> Program<'_> {
    match hook {
        Hook::Xdp => Program::Xdp(b.xdp(bprog::XDP_PASS)),
        Hook::Tc => Program::Tc(b.tc(bprog::TC_PASS)),
    }
}

/// On `hook`: the empty program's overhead per call, and hyperlab's
/// time per call over `frames`, each frame checked (into `check`) to reach
/// the server unchanged but for the MACs.
fn timed_hyperlab(
    bench: &BenchObject,
    dp: &Dataplane,
    hook: Hook,
    net: &Net,
    frames: &[Vec<u8>],
    sizes: &Sizes,
    check: &mut Check,
) -> Result<(Overhead, f64)> {
    let first = &frames[0];
    let empty = empty_of(bench, hook);
    let o = Overhead::measure(
        empty,
        net.client_port,
        first,
        sizes.per_call,
        sizes.loop_repeat,
    )?;
    let h = per_call(prog_of(dp, hook), net.client_port, frames, |i, out| {
        record(check, verify::same_with_server_macs(net, &frames[i], out))
    })?;
    Ok((o, h))
}

/// The samples taken on `hook` at size `n` (none: empty).
fn samples_at<K: Copy + Eq + std::hash::Hash>(
    data: &StdHashMap<(&'static str, K), Vec<f64>>,
    hook: Hook,
    n: K,
) -> Vec<f64> {
    data.get(&(hook_name(hook), n)).cloned().unwrap_or_default()
}

/// Adds `d` (in seconds) to the samples of row `row`.
fn add_time(rows: &mut StdHashMap<&'static str, Vec<f64>>, row: &'static str, d: Duration) {
    rows.entry(row).or_default().push(d.as_secs_f64());
}

fn nat_of(b: &BenchObject, hook: Hook) -> Program<'_> {
    match hook {
        Hook::Xdp => Program::Xdp(b.xdp(bprog::XDP_NAT)),
        Hook::Tc => Program::Tc(b.tc(bprog::TC_NAT)),
    }
}

fn nat5_of(b: &BenchObject, hook: Hook) -> Program<'_> {
    match hook {
        Hook::Xdp => Program::Xdp(b.xdp(bprog::XDP_NAT5)),
        Hook::Tc => Program::Tc(b.tc(bprog::TC_NAT5)),
    }
}

const T_FLOWS: &str =
    "Established flows with N live flows (per call over random live flows, ns per packet)";

/// The pipeline's intra-VPC established path and the minimal NAT, each with
/// 1k..1M live flows, each packet a random one of them: the lookups leave
/// the cache as the table grows, as with real traffic.
fn established_at_scale(
    fx: &mut Fixture,
    opts: &Options,
    sizes: &Sizes,
    report: &mut Report,
) -> Result<()> {
    let net = Net::of(fx);
    let ns = fx.agent.plan.fabric_ns.clone();
    let max = *sizes.scale_flows.iter().max().unwrap_or(&1000);
    let cap = ((2 * max) as u32).next_power_of_two().max(1024);
    eprintln!(
        "[bench] scale: loading a {cap}-entry flow table and a {cap}-entry minimal NAT table"
    );
    let mut dp = Dataplane::load_with(
        &opts.dataplane_obj,
        &LoadOptions {
            flow_table_size: Some(cap),
            ..Default::default()
        },
    )?;
    dp.apply(&fx.agent.compiled)?;
    let mut bench = BenchObject::load(&opts.bench_obj, Some(cap))?;
    let cfg = kernel::floor_config(&net);
    bench.set_config(&cfg)?;
    bench.set_devmap(&ns, net.server_port)?;

    // A real flow's two entries, as the pipeline wrote them: the template.
    let syn = net.from_client(SERVER, 40_000, 5201, "S");
    let synack = net.from_server(CLIENT, 5201, 40_000, "SA");
    netns::scoped_in(&ns, || {
        call(prog_of(&dp, Hook::Xdp), net.client_port, &syn, 1)?;
        call(prog_of(&dp, Hook::Xdp), net.server_port, &synack, 1)?;
        Ok(())
    })?;
    let flows = dp.flows()?;
    let fwd = flows
        .iter()
        .find(|(_, e)| e.flags & FLOW_F_REPLY == 0)
        .context("the template flow was not created")?
        .1
        .entry;
    let rev = flows
        .iter()
        .find(|(_, e)| e.flags & FLOW_F_REPLY != 0)
        .context("the template flow has no reply entry")?
        .1
        .entry;
    dp.clear_flows()?;

    let mut filled = 0usize;
    let mut hl: StdHashMap<(&'static str, usize), Vec<f64>> = StdHashMap::new();
    let mut nat: StdHashMap<(&'static str, usize), Vec<f64>> = StdHashMap::new();
    let mut nat5: StdHashMap<(&'static str, usize), Vec<f64>> = StdHashMap::new();
    let mut check_hl = Check::new("scale: pipeline established at N live flows");
    let mut check_nat = Check::new("scale: minimal NAT established at N live flows");
    let mut fill_rate = Vec::new();
    for &n in &sizes.scale_flows {
        let t = Instant::now();
        fill(&mut dp, &mut bench, &cfg, net.vpc, &fwd, &rev, filled, n)?;
        if n > filled {
            fill_rate.push((n - filled) as f64 / t.elapsed().as_secs_f64());
        }
        filled = n;
        let mut rng = Rng::new(0x5eed ^ n as u64);
        let picks: Vec<usize> = (0..sizes.per_call).map(|_| rng.below(n)).collect();
        let hl_frames: Vec<Vec<u8>> = picks
            .iter()
            .map(|&i| {
                let (s, d) = flow_ports(i);
                net.from_client(SERVER, s, d, "A")
            })
            .collect();
        let nat_frames: Vec<Vec<u8>> = picks
            .iter()
            .map(|&i| {
                let (s, d) = flow_ports(i);
                net.from_client(ENDPOINT, s, d, "A")
            })
            .collect();
        for rep in 0..opts.reps {
            eprintln!(
                "[bench] scale: {} live flows, repetition {}/{}",
                thousands(n),
                rep + 1,
                opts.reps
            );
            for hook in [Hook::Xdp, Hook::Tc] {
                let (o, h, m, m5) = netns::scoped_in(&ns, || {
                    let (o, h) =
                        timed_hyperlab(&bench, &dp, hook, &net, &hl_frames, sizes, &mut check_hl)?;
                    let m = per_call(
                        nat_of(&bench, hook),
                        net.client_port,
                        &nat_frames,
                        |i, out| record(&mut check_nat, expect_nat(&net, &nat_frames[i], out)),
                    )?;
                    let m5 = per_call(
                        nat5_of(&bench, hook),
                        net.client_port,
                        &nat_frames,
                        |i, out| record(&mut check_nat, expect_nat(&net, &nat_frames[i], out)),
                    )?;
                    Ok((o.ns, h, m, m5))
                })?;
                hl.entry((hook_name(hook), n)).or_default().push(h - o);
                nat.entry((hook_name(hook), n)).or_default().push(m - o);
                nat5.entry((hook_name(hook), n)).or_default().push(m5 - o);
            }
        }
    }
    report.checks.push(check_hl);
    report.checks.push(check_nat);
    let first = sizes.scale_flows[0];
    for hook in [Hook::Xdp, Hook::Tc] {
        for (what, data, target) in [
            ("hyperlab intra-VPC", &hl, true),
            ("minimal NAT keyed like the pipeline", &nat, false),
            ("minimal NAT, 5-tuple key", &nat5, false),
        ] {
            let base = samples_at(data, hook, first);
            for &n in &sizes.scale_flows {
                let v = samples_at(data, hook, n);
                let mut r = Row::new(
                    Section::Scale,
                    T_FLOWS,
                    format!("{}: {what}, {} flows", hook_name(hook), thousands(n)),
                    "ns",
                    v.clone(),
                )
                .at(format!("{}: {what}", hook_name(hook)), n as f64)
                .plot();
                if n != first {
                    r = r.baseline(format!("{} flows", thousands(first)), ratios(&v, &base));
                    if target && n == max {
                        r = r.target(Target::ratio_at_most(1.3, "<= 1.3x the 1k-flow cost"));
                    }
                }
                report.rows.push(r);
            }
        }
        let growth = |d: &StdHashMap<(&'static str, usize), Vec<f64>>| -> Vec<f64> {
            let a = d
                .get(&(hook_name(hook), first))
                .cloned()
                .unwrap_or_default();
            let b = d.get(&(hook_name(hook), max)).cloned().unwrap_or_default();
            ratios(&b, &a)
        };
        let g = growth(&hl);
        report.rows.push(
            Row::new(
                Section::Scale,
                T_FLOWS,
                format!(
                    "{}: hyperlab intra-VPC, growth {} -> {} flows",
                    hook_name(hook),
                    thousands(first),
                    thousands(max)
                ),
                "x",
                g.clone(),
            )
            .baseline("the 5-tuple floor's growth", ratios(&g, &growth(&nat5)))
            .target(Target::ratio_at_most(
                1.2,
                "<= 1.2x the floor's growth (issue 22)",
            )),
        );
    }
    report.note(
        Section::Scale,
        format!(
            "Established flows at scale: one data-plane instance with a {cap}-entry flow table \
             (LoadOptions::flow_table_size) is filled from userspace with intra-VPC flows (both \
             entries of each, copied from a flow the pipeline itself created) at {} flows/s; \
             the minimal NAT's table gets the same tuples. Each repetition times {} calls, each \
             a packet of a random live flow, with the per-call fixed cost subtracted. The \
             minimal NAT at the same sizes shows how much of the growth any hash table pays.",
            thousands(fill_rate.iter().copied().fold(0.0, f64::max) as usize),
            thousands(sizes.per_call)
        ),
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn fill(
    dp: &mut Dataplane,
    bench: &mut BenchObject,
    cfg: &hyperlab_bench_common::BenchConfig,
    vpc: u32,
    fwd: &FlowEntry,
    rev: &FlowEntry,
    from: usize,
    to: usize,
) -> Result<()> {
    {
        let mut flows: HashMap<&mut MapData, FlowKey, FlowEntry> =
            HashMap::try_from(dp.map_mut(maps::FLOWS)?)?;
        for i in from..to {
            let (s, d) = flow_ports(i);
            let (s, d) = (s.to_be_bytes(), d.to_be_bytes());
            let k = FlowKey {
                vpc,
                src: CLIENT.octets(),
                dst: SERVER.octets(),
                sport: s,
                dport: d,
                proto: PROTO_TCP,
                icmp_reply: 0,
                _pad1: 0,
            };
            let f = FlowEntry {
                new_sport: s,
                new_dport: d,
                state: FLOW_STATE_ESTABLISHED,
                ..*fwd
            };
            let r = FlowEntry {
                new_sport: d,
                new_dport: s,
                state: FLOW_STATE_ESTABLISHED,
                ..*rev
            };
            flows.insert(k, f, 0).context("filling the flow table")?;
            flows
                .insert(k.reversed(), r, 0)
                .context("filling the flow table")?;
        }
    }
    {
        // Each direction's per-CPU counters, as the kernel creates them
        // with the flow: without a record the fast path counts nothing.
        let mut counts: aya::maps::PerCpuHashMap<&mut MapData, FlowKey, FlowCounters> =
            aya::maps::PerCpuHashMap::try_from(dp.map_mut(maps::FLOW_COUNTS)?)?;
        let zero = vec![FlowCounters::default(); aya::util::nr_cpus().map_err(|(_, e)| e)?];
        for i in from..to {
            let (s, d) = flow_ports(i);
            let k = FlowKey::new(
                vpc,
                CLIENT.octets(),
                SERVER.octets(),
                s.to_be_bytes(),
                d.to_be_bytes(),
                PROTO_TCP,
            );
            for key in [k, k.reversed()] {
                let v = aya::maps::PerCpuValues::try_from(zero.clone())?;
                counts
                    .insert(key, v, 0)
                    .context("filling the flow counters")?;
            }
        }
    }
    let mut m = bench.nat_map()?;
    for i in from..to {
        let (s, d) = flow_ports(i);
        let k = nat_key(
            CLIENT.octets(),
            ENDPOINT.octets(),
            s.to_be_bytes(),
            d.to_be_bytes(),
            PROTO_TCP,
        );
        let e = NatEntry {
            eth: cfg.eth,
            out_ifindex: cfg.out_ifindex,
            new_src: NLB.octets(),
            new_dst: SERVER.octets(),
            new_sport: (s ^ SPORT_XOR).to_be_bytes(),
            new_dport: 5201u16.to_be_bytes(),
            _pad: 0,
        };
        m.insert(k, e, 0)
            .context("filling the minimal NAT's table")?;
    }
    let mut m5: HashMap<&mut MapData, NatKey5, NatVal5> =
        HashMap::try_from(bench.map_mut(hyperlab_bench_common::maps::NAT5)?)?;
    for i in from..to {
        let (s, d) = flow_ports(i);
        let k = NatKey5 {
            src: CLIENT.octets(),
            dst: ENDPOINT.octets(),
            sport: s.to_be_bytes(),
            dport: d.to_be_bytes(),
            proto: PROTO_TCP,
            ..Default::default()
        };
        let v = NatVal5 {
            new_src: NLB.octets(),
            new_dst: SERVER.octets(),
            new_sport: (s ^ SPORT_XOR).to_be_bytes(),
            new_dport: 5201u16.to_be_bytes(),
            out_ifindex: cfg.out_ifindex,
        };
        m5.insert(k, v, 0)
            .context("filling the 5-tuple NAT's table")?;
    }
    Ok(())
}

fn expect_nat(net: &Net, input: &[u8], o: &Outcome) -> Result<(), String> {
    let sport = u16::from_be_bytes([input[34], input[35]]);
    let ports = (
        verify::Ports::One(sport ^ SPORT_XOR),
        verify::Ports::One(5201),
    );
    verify::to_server(net, o, (NLB, PROTO_TCP), ports, input[22])
}

const T_RULES: &str =
    "First packet against the size of the receiver's security group (per call, ns per packet)";

/// First packets (new intra-VPC flows) into a server whose group holds
/// 10..10,000 rules, each a /32 peer near the client's address so the
/// client's longest-prefix match walks a trie as deep as the size makes it.
fn first_packet_vs_rules(
    fx: &mut Fixture,
    opts: &Options,
    sizes: &Sizes,
    report: &mut Report,
) -> Result<()> {
    let net = Net::of(fx);
    let ns = fx.agent.plan.fabric_ns.clone();
    let ifindexes: Vec<u32> = fx.agent.compiled.port_ifindexes();
    let bench = BenchObject::load(&opts.bench_obj, None)?;
    let frames: Vec<Vec<u8>> = (0..sizes.per_call)
        .map(|i| net.from_client(SERVER, 1024 + i as u16, 5201, "S"))
        .collect();
    let mut data: StdHashMap<(&'static str, usize), Vec<f64>> = StdHashMap::new();
    let mut notes = Vec::new();
    let mut check = Check::new("scale: first packet against N-rule groups");
    for &n in &sizes.sg_rules {
        let topo = topo::with_server_rules(&fx.agent.topo, n);
        let t = Instant::now();
        let compiled = compile::compile(&topo, &ifindexes)?;
        notes.push(format!(
            "{} rules: {} LPM entries, compiled in {:.0} ms",
            thousands(n),
            thousands(compiled.sg_rules.len()),
            t.elapsed().as_secs_f64() * 1e3
        ));
        let mut dp = Dataplane::load_with(&opts.dataplane_obj, &LoadOptions::default())?;
        dp.apply(&compiled)?;
        for rep in 0..opts.reps {
            eprintln!(
                "[bench] scale: {}-rule group, repetition {}/{}",
                thousands(n),
                rep + 1,
                opts.reps
            );
            for hook in [Hook::Xdp, Hook::Tc] {
                dp.clear_flows()?;
                let (o, v) = netns::scoped_in(&ns, || {
                    let (o, v) =
                        timed_hyperlab(&bench, &dp, hook, &net, &frames, sizes, &mut check)?;
                    Ok((o.ns, v))
                })?;
                data.entry((hook_name(hook), n)).or_default().push(v - o);
            }
        }
    }
    report.checks.push(check);
    let first = sizes.sg_rules[0];
    let last = *sizes.sg_rules.last().expect("sizes");
    for hook in [Hook::Xdp, Hook::Tc] {
        let base = samples_at(&data, hook, first);
        for &n in &sizes.sg_rules {
            let v = samples_at(&data, hook, n);
            let mut r = Row::new(
                Section::Scale,
                T_RULES,
                format!(
                    "{}: first packet, {}-rule group",
                    hook_name(hook),
                    thousands(n)
                ),
                "ns",
                v.clone(),
            )
            .plot();
            if n != first {
                r = r.baseline(format!("{first}-rule group"), ratios(&v, &base));
                if n == last {
                    r = r.target(Target::ratio_at_most(1.2, "<= 1.2x the 10-rule group"));
                }
            }
            report.rows.push(r);
        }
    }
    report.note(
        Section::Scale,
        format!(
            "First packet against group size: the server's group holds N tcp rules whose peers are \
             /32s around the client's address (client XOR j), only the client's own rule admitting \
             port 5201; the client's group keeps AWS's default egress. Each repetition times {} new \
             flows per hook on an emptied flow table. {}.",
            thousands(sizes.per_call),
            notes.join("; ")
        ),
    );
    Ok(())
}

const SMALL: &str = "the 3-ENI bench config, same step";
const T_CONFIG: &str = "Compiling and loading a big config (s)";

/// A generated topology: `enis` ENIs in ten subnets, one group per ten ENIs,
/// `rules` rules in all (each group: AWS's default egress rule plus ingress
/// rules, mostly CIDR peers, every 20th a reference to another group).
pub fn big_topology(base: &Topology, enis: usize, rules: usize) -> Topology {
    let mut t = base.clone();
    t.services = Default::default();
    let vpc = t.vpcs[0].clone();
    t.vpcs = vec![vpc];
    // The base's ACLs and route tables belong to its own VPCs and subnets:
    // none here, so every subnet gets its VPC's default ACL and main table.
    (t.network_acls, t.subnet_nacls) = (Vec::new(), Vec::new());
    (t.route_tables, t.subnet_routes) = (Vec::new(), Vec::new());
    // Likewise the lab's internet (its NAT gateway sits in a base subnet).
    t.internet = Default::default();
    let sub = t.subnets[0].clone();
    t.subnets = (0..10)
        .map(|k| {
            let mut s = sub.clone();
            s.id = format!("subnet-{k}");
            s.vpc = 0;
            s.cidr = Ipv4Net::new(Ipv4Addr::new(10, 0, 16 * k as u8, 0), 20).expect("a /20");
            s.az = format!("use1-az{}", 1 + k % 3);
            s
        })
        .collect();
    let groups = (enis / 10).max(1);
    let per_group = (rules / groups).max(2);
    let sg = t.security_groups[0].clone();
    let any = Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).expect("0/0");
    t.security_groups = (0..groups)
        .map(|g| {
            let mut s = sg.clone();
            s.id = format!("sg-{g}");
            s.vpc = 0;
            s.egress = vec![Rule {
                protocol: Protocol::All,
                ports: (0, 65535),
                peer: Peer::Cidr(any),
            }];
            s.ingress = (0..per_group - 1)
                .map(|r| {
                    if r % 20 == 19 {
                        Rule {
                            protocol: Protocol::Tcp,
                            ports: (443, 443),
                            peer: Peer::SecurityGroup((g + 1 + r) % groups),
                        }
                    } else {
                        let lo = 1000 + 10 * r as u16;
                        Rule {
                            protocol: if r % 2 == 0 {
                                Protocol::Tcp
                            } else {
                                Protocol::Udp
                            },
                            ports: (lo, lo + 5),
                            peer: Peer::Cidr(
                                Ipv4Net::new(
                                    Ipv4Addr::new(172, 16 + (r % 16) as u8, (r / 16) as u8, 0),
                                    24,
                                )
                                .expect("a /24"),
                            ),
                        }
                    }
                })
                .collect();
            s
        })
        .collect();
    let eni = t.enis[0].clone();
    let per_subnet = enis.div_ceil(10);
    t.enis = (0..enis)
        .map(|i| {
            let k = i / per_subnet;
            let ip = Ipv4Addr::from(
                u32::from(Ipv4Addr::new(10, 0, 16 * k as u8, 0)) + 10 + (i % per_subnet) as u32,
            );
            let mut e = eni.clone();
            e.id = format!("eni-{i}");
            e.subnet = k;
            e.ip = ip;
            e.mac = default_mac(0, ip);
            e.security_groups = vec![i % groups];
            e.host = format!("h{i}");
            e
        })
        .collect();
    t
}

/// Writes only the security-group entries that differ between two
/// compiled configs of one generation, in place (upserts, then removals).
/// Returns entries written.
fn apply_sg_diff(map: &mut aya::maps::Map, old: &Compiled, new: &Compiled) -> Result<usize> {
    let d = Delta::between(Some(old), new);
    if d.entries() != d.sg_rules.len() {
        anyhow::bail!("a one-rule change moved more than security-group entries");
    }
    let mut sg: LpmTrie<&mut MapData, SgKey, SgPorts> = LpmTrie::try_from(map)?;
    for (plen, key, ports) in &d.sg_rules.ups {
        sg.insert(&Key::new(*plen, *key), ports, 0)?;
    }
    for (plen, key, _) in &d.sg_rules.gone {
        sg.remove(&Key::new(*plen, *key))?;
    }
    Ok(d.sg_rules.len())
}

fn big_config(fx: &mut Fixture, opts: &Options, sizes: &Sizes, report: &mut Report) -> Result<()> {
    let (enis, rules) = (sizes.config_enis, sizes.config_rules);
    let topo = big_topology(&fx.agent.topo, enis, rules);
    let total_rules: usize = topo
        .security_groups
        .iter()
        .map(|g| g.ingress.len() + g.egress.len())
        .sum();
    // One rule of one group changes: its port range grows by one.
    let mut changed = topo.clone();
    let g = 17 % changed.security_groups.len();
    changed.security_groups[g].ingress[0].ports.1 += 1;
    // Then one rule is added to the same group: a new peer prefix, a new
    // LPM entry amid the set's others.
    let mut added = changed.clone();
    added.security_groups[g].ingress.push(added_rule());
    let fake: Vec<u32> = (0..enis as u32).map(|i| 100_000 + i).collect();
    let small_ifx: Vec<u32> = fx.agent.compiled.port_ifindexes();
    let mut rows: StdHashMap<&'static str, Vec<f64>> = StdHashMap::new();
    let mut entries = 0;
    let mut written = 0;
    let mut check =
        Check::new("scale: big config loads, one-rule change writes only the changed entries");
    for rep in 0..opts.reps {
        eprintln!(
            "[bench] scale: {}-ENI / {}-rule config, repetition {}/{}",
            thousands(enis),
            thousands(total_rules),
            rep + 1,
            opts.reps
        );
        // Baseline: the same steps for the 3-ENI bench config.
        let t = Instant::now();
        let c = compile::compile(&fx.agent.topo, &small_ifx)?;
        let ta = Instant::now();
        let mut d = Dataplane::load_with(&opts.dataplane_obj, &LoadOptions::default())?;
        let tb = Instant::now();
        d.apply(&c)?;
        let tc = Instant::now();
        drop(d);
        for (k, v) in [
            ("small compile", ta - t),
            ("small load", tb - ta),
            ("small fill", tc - tb),
            ("small", tc - t),
        ] {
            rows.entry(k).or_default().push(v.as_secs_f64());
        }

        // The agent's own steps: compile (with the memo it keeps for
        // reloads, empty at start), load, `Dataplane::apply`.
        let mut memo = compile::Memo::default();
        let t0 = Instant::now();
        let c = compile::compile_with(&topo, &fake, &mut memo)?;
        let t1 = Instant::now();
        let mut d = Dataplane::load_with(&opts.dataplane_obj, &LoadOptions::default())?;
        let t2 = Instant::now();
        d.apply(&c)?;
        entries = c.ports.len()
            + c.enis.len()
            + c.sg_rules.len()
            + c.listeners.len()
            + c.endpoints.len()
            + c.targets.len();
        let t3 = Instant::now();
        add_time(&mut rows, "compile", t1 - t0);
        add_time(&mut rows, "load", t2 - t1);
        add_time(&mut rows, "fill", t3 - t2);
        add_time(&mut rows, "total", t3 - t0);

        // A one-rule change as the agent's reload applies it: compile, then
        // `Dataplane::sync` into the other generation (the difference written
        // into the standby generation, one switch, the difference written
        // into the former active one).
        let t4 = Instant::now();
        let c2 = compile::compile_with(&changed, &fake, &mut memo)?.rebase(1);
        let t5 = Instant::now();
        d.sync(&c2, Some(&c))?;
        let t6 = Instant::now();
        // The changed rule's one LPM entry, and nothing else.
        let n = Delta::between(Some(&c), &c2).entries();
        if n != 1 {
            check.fail(format!("changing one rule changed {n} entries"));
        }
        add_time(&mut rows, "change", t6 - t4);
        add_time(&mut rows, "sync", t6 - t5);
        let t = Instant::now();
        let c3 = compile::compile_with(&added, &fake, &mut memo)?;
        d.sync(&c3, Some(&c2))?;
        add_time(&mut rows, "add", t.elapsed());
        // The added rule's new peer prefix: one new LPM entry.
        let n = Delta::between(Some(&c2), &c3).entries();
        if n != 1 {
            check.fail(format!("adding one rule changed {n} entries"));
        }
        // For reference, what an incremental apply would write: only the
        // changed LPM entries, in place (not what the agent does: it would
        // not switch atomically).
        let back = compile::compile(&topo, &fake)?.rebase(1);
        let t7 = Instant::now();
        written = apply_sg_diff(d.map_mut(maps::SG_RULES)?, &c2, &back)?;
        let t8 = Instant::now();
        add_time(&mut rows, "diff", t8 - t7);
        check.delivered += 1;
        if written == 1 {
            check.verified += 1;
        } else {
            check.fail(format!("a one-rule change differs in {written} entries"));
        }
        drop(d);
    }
    report.checks.push(check);
    let get = |k: &str| rows.get(k).cloned().unwrap_or_default();
    let total = get("total");
    let t = T_CONFIG;
    let name = format!("{} ENIs, {} rules", thousands(enis), thousands(total_rules));
    let row = |name: String, samples: Vec<f64>| Row::new(Section::Scale, t, name, "s", samples);
    // Each part, against the same part of the small config.
    for (key, what) in [
        ("compile", "compile (compile::compile)".to_string()),
        ("load", "load + verify (3 programs)".to_string()),
        (
            "fill",
            format!("fill maps ({} entries)", thousands(entries)),
        ),
    ] {
        let small = get(&format!("small {key}"));
        report.rows.push(
            row(format!("{name}: {what}"), get(key)).baseline(SMALL, ratios(&get(key), &small)),
        );
    }
    report.rows.push(
        row(format!("{name}: compile + load + fill"), total.clone())
            .baseline(SMALL, ratios(&total, &get("small")))
            .target(Target::value_at_most(2.0, "< 2 s")),
    );
    // The agent's reloads, against the full start.
    for (key, what) in [
        (
            "change",
            "one-rule change, as the agent reloads: compile + generation switch",
        ),
        (
            "add",
            "one rule added, as the agent reloads: compile + generation switch",
        ),
    ] {
        report.rows.push(
            row(what.to_string(), get(key))
                .baseline("full compile + load + fill", ratios(&get(key), &total))
                .target(Target::value_at_most(0.05, "< 50 ms")),
        );
    }
    report.rows.push(
        row(
            "one-rule change: generation switch only (Dataplane::sync)".to_string(),
            get("sync"),
        )
        .baseline(
            "compile + generation switch",
            ratios(&get("sync"), &get("change")),
        ),
    );
    report.rows.push(
        row(
            "reference: compile-free diff writing only the changed LPM entries (not atomic; not the agent's path)".to_string(),
            get("diff"),
        )
        .note(format!("{written} LPM entries differ")),
    );
    report.note(
        Section::Scale,
        format!(
            "Big config: a Topology generated in code ({} ENIs in 10 subnets, {} groups of one \
             AWS default egress rule plus ingress rules: CIDR peers, every 20th a reference to \
             another group) is compiled by the agent's `compile::compile_with` (empty memo) against fake ifindexes \
             (a real lab would need {} namespaces), loaded with `Dataplane::load_with` and \
             written with `Dataplane::apply`, as the agent starts. The one-rule change is \
             applied as the agent reloads: `compile::compile_with` into the other generation, \
             with the memo the agent keeps from its last compilation (a group set's entries \
             are recompiled only when its rules or the members of groups they reference \
             changed; the result is the same as a full compile), and `Dataplane::sync`, which \
             computes the difference once, writes it into the standby generation, switches \
             `HL_ACTIVE` and writes it into the former active one (atomic: the kernel runs \
             the old or the new configuration, never a mix). The change widens one rule's \
             port range; the next reload adds a rule with a new peer prefix to the same group. \
             The last row is a reference only: writing just the changed LPM entries in place.",
            thousands(enis),
            thousands(topo.security_groups.len()),
            thousands(enis)
        ),
    );
    Ok(())
}

/// The rule the big-config bench adds to one group: a peer prefix no other
/// rule of the group has.
pub fn added_rule() -> Rule {
    Rule {
        protocol: Protocol::Tcp,
        ports: (7000, 7001),
        peer: Peer::Cidr("198.51.100.0/24".parse().expect("a CIDR")),
    }
}
