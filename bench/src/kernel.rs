//! Part 1: ns per packet in the kernel (BPF_PROG_TEST_RUN), for the floors
//! and for each path of the real pipeline on both hooks.
//!
//! A path is one entry of [`PATHS`]: how to make the state its frames need,
//! and what its output must be. Adding a construct (VPC links) adds entries.

use std::collections::BTreeMap;

use anyhow::Result;
use dataplane::{model::Hook, netns};
use dataplane_common::{GATEWAY_MAC, PROTO_TCP};
use hyperlab_bench_common::{nat_key, programs, BenchConfig, NatEntry};

use super::{
    objects::BenchObject,
    profile::{profile, Share},
    report::{Check, Report, Row, Target},
    testrun::{call, per_call, Overhead, Program},
    topo::{Net, API, CLIENT, ENDPOINT, INT_TCP, LINK, NAT_PORTS, NLB, SERVER},
    verify, Options, Section, Sizes,
};
use hyperlab_tests::{pkt, Fixture, Outcome, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Established,
    FirstPacket,
    Deny,
}

/// The ENI a path's frames arrive from.
#[derive(Clone, Copy, Debug)]
pub enum From {
    Client,
    Server,
    /// The API host in the API service VPC (VPC-link paths).
    Api,
}

pub type FramesFn = fn(&mut Fixture, &Net, Hook, usize) -> Frames;

/// What a [`FramesFn`] returns: the frames to time.
pub type Frames = Result<Vec<Vec<u8>>>;
pub type ExpectFn = fn(&Net, &[u8], &Outcome) -> Result<(), String>;

pub struct PathSpec {
    pub name: &'static str,
    pub class: Class,
    pub from: From,
    /// The output is again an input of this same path (no address or port
    /// changes), so a large-repeat loop measures it: see `testrun`.
    pub loops: bool,
    /// For a first packet: the established path it is compared with.
    pub established: Option<&'static str>,
    /// Makes the state the frames need (from an empty flow table) and
    /// returns `n` frames: distinct tuples for first packets, copies of one
    /// frame otherwise.
    pub frames: FramesFn,
    pub expect: ExpectFn,
}

/// Source port of the established flows the paths measure.
const SPORT: u16 = 40_000;

pub const PATHS: &[PathSpec] = &[
    PathSpec {
        name: "intra-VPC, established (TCP ACK)",
        class: Class::Established,
        from: From::Client,
        loops: true,
        established: None,
        frames: intra_established,
        expect: verify::same_with_server_macs,
    },
    PathSpec {
        name: "intra-VPC, first packet (TCP SYN, new flow)",
        class: Class::FirstPacket,
        from: From::Client,
        loops: false,
        established: Some("intra-VPC, established (TCP ACK)"),
        frames: intra_first,
        expect: verify::same_with_server_macs,
    },
    PathSpec {
        name: "PrivateLink forward, established (SNAT+DNAT)",
        class: Class::Established,
        from: From::Client,
        loops: false,
        established: None,
        frames: pl_forward_established,
        expect: expect_pl_forward,
    },
    PathSpec {
        name: "PrivateLink reverse, established",
        class: Class::Established,
        from: From::Server,
        loops: false,
        established: None,
        frames: pl_reverse_established,
        expect: expect_pl_reverse,
    },
    PathSpec {
        name: "PrivateLink, first packet (new flow)",
        class: Class::FirstPacket,
        from: From::Client,
        loops: false,
        established: Some("PrivateLink forward, established (SNAT+DNAT)"),
        frames: pl_first,
        expect: expect_pl_forward,
    },
    PathSpec {
        name: "VPC link forward, established (SNAT+DNAT)",
        class: Class::Established,
        from: From::Api,
        loops: false,
        established: None,
        frames: link_forward_established,
        expect: expect_link_forward,
    },
    PathSpec {
        name: "VPC link reverse, established",
        class: Class::Established,
        from: From::Server,
        loops: false,
        established: None,
        frames: link_reverse_established,
        expect: expect_link_reverse,
    },
    PathSpec {
        name: "VPC link, first packet (new flow)",
        class: Class::FirstPacket,
        from: From::Api,
        loops: false,
        established: Some("VPC link forward, established (SNAT+DNAT)"),
        frames: link_first,
        expect: expect_link_forward,
    },
    PathSpec {
        name: "security-group deny (ingress, TCP SYN)",
        class: Class::Deny,
        from: From::Client,
        loops: true,
        established: None,
        frames: sg_deny,
        expect: expect_drop,
    },
];

fn syn(net: &Net, sport: u16, dst: std::net::Ipv4Addr, dport: u16) -> Vec<u8> {
    net.from_client(dst, sport, dport, "S")
}

fn run_ok(fx: &Fixture, hook: Hook, from: &str, f: &[u8]) -> Result<Outcome> {
    let o = fx.run(hook, from, f);
    if o.verdict != Verdict::Forward {
        anyhow::bail!("setting up a flow: {from} frame got {:?}", o.verdict);
    }
    Ok(o)
}

fn intra_established(fx: &mut Fixture, net: &Net, hook: Hook, n: usize) -> Frames {
    fx.clear_flows();
    run_ok(fx, hook, "eni-client", &syn(net, SPORT, SERVER, 5201))?;
    let synack = net.from_server(CLIENT, 5201, SPORT, "SA");
    run_ok(fx, hook, "eni-server", &synack)?;
    let ack = net.from_client(SERVER, SPORT, 5201, "A");
    Ok(vec![ack; n])
}

fn intra_first(fx: &mut Fixture, net: &Net, _hook: Hook, n: usize) -> Frames {
    first_syns(fx, net, n, SERVER, 5201)
}

/// `n` SYNs from the client to `dst:dport`, each a new flow (source ports
/// from 1024), into an empty flow table.
fn first_syns(
    fx: &mut Fixture,
    net: &Net,
    n: usize,
    dst: std::net::Ipv4Addr,
    dport: u16,
) -> Frames {
    fx.clear_flows();
    Ok((0..n)
        .map(|i| syn(net, 1024 + i as u16, dst, dport))
        .collect())
}

/// Opens a NATed flow with `syn` from ENI `from` and answers it from the
/// target (server:5201) to `nat_src`; returns the NAT source port the flow got.
fn nat_open(
    fx: &mut Fixture,
    net: &Net,
    hook: Hook,
    from: &str,
    syn: &[u8],
    nat_src: std::net::Ipv4Addr,
) -> Result<u16> {
    fx.clear_flows();
    let o = run_ok(fx, hook, from, syn)?;
    let nport = u16::from_be_bytes([o.out[34], o.out[35]]);
    let synack = net.from_server(nat_src, 5201, nport, "SA");
    run_ok(fx, hook, "eni-server", &synack)?;
    Ok(nport)
}

/// Opens client -> endpoint:80 (PrivateLink); returns the NLB source port.
fn pl_open(fx: &mut Fixture, net: &Net, hook: Hook) -> Result<u16> {
    nat_open(
        fx,
        net,
        hook,
        "eni-client",
        &syn(net, SPORT, ENDPOINT, 80),
        NLB,
    )
}

fn pl_forward_established(fx: &mut Fixture, net: &Net, hook: Hook, n: usize) -> Frames {
    pl_open(fx, net, hook)?;
    let ack = net.from_client(ENDPOINT, SPORT, 80, "A");
    Ok(vec![ack; n])
}

fn pl_reverse_established(fx: &mut Fixture, net: &Net, hook: Hook, n: usize) -> Frames {
    reverse_acks(fx, net, hook, n, pl_open, NLB)
}

/// `n` copies of the target's ACK of a flow `open` opened, to its NAT
/// source `nat_src`.
fn reverse_acks(
    fx: &mut Fixture,
    net: &Net,
    hook: Hook,
    n: usize,
    open: fn(&mut Fixture, &Net, Hook) -> Result<u16>,
    nat_src: std::net::Ipv4Addr,
) -> Frames {
    let nport = open(fx, net, hook)?;
    let ack = net.from_server(nat_src, 5201, nport, "A");
    Ok(vec![ack; n])
}

fn pl_first(fx: &mut Fixture, net: &Net, _hook: Hook, n: usize) -> Frames {
    first_syns(fx, net, n, ENDPOINT, 80)
}

/// The API host's frame to the link's TCP integration address.
fn api_tcp(net: &Net, sport: u16, flags: &str) -> Vec<u8> {
    pkt::tcp(net.api_mac, GATEWAY_MAC, API, INT_TCP, sport, 5201, flags)
}

/// Opens API host -> integration:5201 (VPC link); returns the link ENI's
/// source port.
fn link_open(fx: &mut Fixture, net: &Net, hook: Hook) -> Result<u16> {
    nat_open(fx, net, hook, "eni-apigw", &api_tcp(net, SPORT, "S"), LINK)
}

fn link_forward_established(fx: &mut Fixture, net: &Net, hook: Hook, n: usize) -> Frames {
    link_open(fx, net, hook)?;
    Ok(vec![api_tcp(net, SPORT, "A"); n])
}

fn link_reverse_established(fx: &mut Fixture, net: &Net, hook: Hook, n: usize) -> Frames {
    reverse_acks(fx, net, hook, n, link_open, LINK)
}

fn link_first(fx: &mut Fixture, net: &Net, _hook: Hook, n: usize) -> Frames {
    fx.clear_flows();
    Ok((0..n).map(|i| api_tcp(net, 1024 + i as u16, "S")).collect())
}

fn sg_deny(fx: &mut Fixture, net: &Net, _hook: Hook, n: usize) -> Frames {
    fx.clear_flows();
    Ok(vec![syn(net, SPORT, SERVER, 9999); n])
}

/// A forward NAT output: `src` (NLB node or link ENI) at a NAT source port
/// -> server:5201, options and payload untouched.
fn expect_nat_forward(
    net: &Net,
    input: &[u8],
    o: &Outcome,
    src: std::net::Ipv4Addr,
) -> Result<(), String> {
    let ports = (
        verify::Ports::Range(NAT_PORTS.0, NAT_PORTS.1),
        verify::Ports::One(5201),
    );
    verify::to_server(net, o, (src, PROTO_TCP), ports, input[22])?;
    if o.out[54..] != input[54..] {
        return Err("TCP options or payload changed".into());
    }
    Ok(())
}

/// A reply translated back: `src:sport` -> `dst:SPORT` to `dst_mac`.
fn expect_nat_reverse(
    input: &[u8],
    o: &Outcome,
    dst_mac: [u8; 6],
    (src, sport): (std::net::Ipv4Addr, u16),
    dst: std::net::Ipv4Addr,
) -> Result<(), String> {
    verify::forwarded(o)?;
    verify::frame(
        &o.out,
        &verify::Expect {
            dst_mac: Some(dst_mac),
            src,
            dst,
            proto: PROTO_TCP,
            sport: verify::Ports::One(sport),
            dport: verify::Ports::One(SPORT),
            ttl: Some(input[22]),
        },
    )
}

fn expect_pl_forward(net: &Net, input: &[u8], o: &Outcome) -> Result<(), String> {
    expect_nat_forward(net, input, o, NLB)
}

fn expect_pl_reverse(net: &Net, input: &[u8], o: &Outcome) -> Result<(), String> {
    expect_nat_reverse(input, o, net.client_mac, (ENDPOINT, 80), CLIENT)
}

fn expect_link_forward(net: &Net, input: &[u8], o: &Outcome) -> Result<(), String> {
    expect_nat_forward(net, input, o, LINK)
}

fn expect_link_reverse(net: &Net, input: &[u8], o: &Outcome) -> Result<(), String> {
    expect_nat_reverse(input, o, net.api_mac, (INT_TCP, 5201), API)
}

fn expect_drop(_net: &Net, input: &[u8], o: &Outcome) -> Result<(), String> {
    if o.verdict != Verdict::Drop {
        return Err(format!("verdict {:?}, expected a drop", o.verdict));
    }
    if o.out != input {
        return Err("a dropped frame was changed".into());
    }
    Ok(())
}

/// The floors' config: forward to the server, NAT client -> endpoint:80
/// into NLB -> server:5201 (the PrivateLink path's translation).
pub fn floor_config(net: &Net) -> BenchConfig {
    let (d, g) = (net.server_mac, GATEWAY_MAC);
    BenchConfig {
        eth: [
            d[0], d[1], d[2], d[3], d[4], d[5], g[0], g[1], g[2], g[3], g[4], g[5],
        ],
        out_ifindex: net.server_port,
        nat_src: NLB.octets(),
        nat_dst: SERVER.octets(),
        nat_dport: 5201u16.to_be_bytes(),
        sport_xor: SPORT_XOR.to_be_bytes(),
        ..Default::default()
    }
}

/// The minimal NAT's source-port mapping.
pub const SPORT_XOR: u16 = 0x4000;

/// Entries A (client -> endpoint:80, rewritten to NLB -> server:5201) and B
/// (its rewrite, rewritten back to A), so every run of a loop is a hit with
/// both addresses and both ports rewritten.
fn nat_cycle(bench: &mut BenchObject, cfg: &BenchConfig, sport: u16) -> Result<()> {
    let nsport = sport ^ SPORT_XOR;
    let a = nat_key(
        CLIENT.octets(),
        ENDPOINT.octets(),
        sport.to_be_bytes(),
        80u16.to_be_bytes(),
        PROTO_TCP,
    );
    let b = nat_key(
        NLB.octets(),
        SERVER.octets(),
        nsport.to_be_bytes(),
        5201u16.to_be_bytes(),
        PROTO_TCP,
    );
    let to_b = NatEntry {
        eth: cfg.eth,
        out_ifindex: cfg.out_ifindex,
        new_src: NLB.octets(),
        new_dst: SERVER.octets(),
        new_sport: nsport.to_be_bytes(),
        new_dport: 5201u16.to_be_bytes(),
        _pad: 0,
    };
    let to_a = NatEntry {
        new_src: CLIENT.octets(),
        new_dst: ENDPOINT.octets(),
        new_sport: sport.to_be_bytes(),
        new_dport: 80u16.to_be_bytes(),
        ..to_b
    };
    let mut m = bench.nat_map()?;
    m.insert(a, to_b, 0)?;
    m.insert(b, to_a, 0)?;
    Ok(())
}

/// Either direction of the A <-> B cycle, checksums right.
fn expect_floor_nat(net: &Net, _input: &[u8], o: &Outcome) -> Result<(), String> {
    verify::forwarded(o)?;
    let dst = std::net::Ipv4Addr::new(o.out[30], o.out[31], o.out[32], o.out[33]);
    let (src, dport) = if dst == SERVER {
        (NLB, 5201)
    } else {
        (CLIENT, 80)
    };
    verify::frame(
        &o.out,
        &verify::Expect {
            dst_mac: Some(net.server_mac),
            src,
            dst,
            proto: PROTO_TCP,
            sport: verify::Ports::Any,
            dport: verify::Ports::One(dport),
            ttl: None,
        },
    )
}

/// Samples of one figure across repetitions, by (hook, name).
#[derive(Default)]
pub(crate) struct Samples(BTreeMap<(String, String), Vec<f64>>);

impl Samples {
    pub(crate) fn push(&mut self, hook: Hook, name: &str, v: f64) {
        self.0
            .entry((hook_name(hook).into(), name.into()))
            .or_default()
            .push(v);
    }
    pub(crate) fn get(&self, hook: Hook, name: &str) -> Vec<f64> {
        self.0
            .get(&(hook_name(hook).into(), name.to_string()))
            .cloned()
            .unwrap_or_default()
    }
}

pub fn hook_name(h: Hook) -> &'static str {
    match h {
        Hook::Tc => "TC",
        Hook::Xdp => "XDP",
    }
}

fn table(h: Hook) -> &'static str {
    match h {
        Hook::Tc => "TC hook: hyperlab_tc and the TC floors (ns per packet)",
        Hook::Xdp => "XDP hook: hyperlab_xdp and the XDP floors (ns per packet)",
    }
}

const REDIRECT: &str = "floor: parse + redirect";
const NAT_EST: &str = "floor: minimal stateful NAT, established";
const NAT_FIRST: &str = "floor: minimal stateful NAT, first packet (new flow)";
const OVERHEAD: &str = "fixed cost of one test-run call (subtracted from per-call figures)";
const EMPTY: &str = "empty program [loop]";

fn loop_name(n: &str) -> String {
    format!("{n} [loop]")
}
fn call_name(n: &str) -> String {
    format!("{n} [per call]")
}

pub fn run(
    fx: &mut Fixture,
    bench: &mut BenchObject,
    sizes: &Sizes,
    opts: &Options,
    report: &mut Report,
) -> Result<()> {
    let reps = opts.reps;
    let net = Net::of(fx);
    let cfg = floor_config(&net);
    bench.set_config(&cfg)?;
    let ns = fx.agent.plan.fabric_ns.clone();
    bench.set_devmap(&ns, net.server_port)?;
    let mut s = Samples::default();
    let mut checks: BTreeMap<String, Check> = BTreeMap::new();
    let n = sizes.per_call;
    let repeat = sizes.loop_repeat;
    let base = net.from_client(ENDPOINT, SPORT, 80, "A");
    for rep in 0..reps {
        eprintln!("[bench] kernel: repetition {}/{reps}", rep + 1);
        for hook in [Hook::Xdp, Hook::Tc] {
            let (empty, redirect, _) = match hook {
                Hook::Xdp => (
                    Program::Xdp(bench.xdp(programs::XDP_PASS)),
                    Program::Xdp(bench.xdp(programs::XDP_REDIRECT)),
                    Program::Xdp(bench.xdp(programs::XDP_NAT)),
                ),
                Hook::Tc => (
                    Program::Tc(bench.tc(programs::TC_PASS)),
                    Program::Tc(bench.tc(programs::TC_REDIRECT)),
                    Program::Tc(bench.tc(programs::TC_NAT)),
                ),
            };
            let ifx = net.client_port;
            let floor = Floor {
                net: &net,
                hook,
                ifx,
                base: &base,
                sizes,
            };
            // Floors and the fixed per-call cost.
            let (over, r_loop, r_call) = netns::scoped_in(&ns, || {
                let over = Overhead::measure(empty, ifx, &base, n, repeat)?;
                let (r_loop, r_call) = floor.time(
                    redirect,
                    REDIRECT,
                    &mut checks,
                    verify::same_with_server_macs,
                )?;
                Ok((over, r_loop, r_call))
            })?;
            s.push(hook, OVERHEAD, over.ns);
            s.push(hook, EMPTY, over.empty_loop_ns);
            s.push(hook, &loop_name(REDIRECT), r_loop);
            s.push(hook, &call_name(REDIRECT), r_call - over.ns);

            bench.nat_clear()?;
            nat_cycle(bench, &cfg, SPORT)?;
            let nat = match hook {
                Hook::Xdp => Program::Xdp(bench.xdp(programs::XDP_NAT)),
                Hook::Tc => Program::Tc(bench.tc(programs::TC_NAT)),
            };
            let (n_loop, n_call) = netns::scoped_in(&ns, || {
                floor.time(nat, NAT_EST, &mut checks, expect_floor_nat)
            })?;
            s.push(hook, &loop_name(NAT_EST), n_loop);
            s.push(hook, &call_name(NAT_EST), n_call - over.ns);

            bench.nat_clear()?;
            let nat = match hook {
                Hook::Xdp => Program::Xdp(bench.xdp(programs::XDP_NAT)),
                Hook::Tc => Program::Tc(bench.tc(programs::TC_NAT)),
            };
            let firsts: Vec<Vec<u8>> = (0..n)
                .map(|i| syn(&net, 1024 + i as u16, ENDPOINT, 80))
                .collect();
            let f_call = netns::scoped_in(&ns, || {
                let mut c = Check::new(format!("{}: {NAT_FIRST}", hook_name(hook)));
                let v = per_call(nat, ifx, &firsts, |i, o| {
                    record(&mut c, expect_floor_nat(&net, &firsts[i], o))
                })?;
                merge(&mut checks, c);
                Ok(v)
            })?;
            s.push(hook, &call_name(NAT_FIRST), f_call - over.ns);

            // The pipeline's paths.
            for p in PATHS {
                let frames = (p.frames)(fx, &net, hook, n)?;
                let ifx = match p.from {
                    From::Client => net.client_port,
                    From::Server => net.server_port,
                    From::Api => net.api_port,
                };
                let dp = &fx.agent.dataplane;
                let prog = match hook {
                    Hook::Xdp => Program::Xdp(dp.xdp()),
                    Hook::Tc => Program::Tc(dp.tc()),
                };
                let mut c = Check::new(format!("{}: {}", hook_name(hook), p.name));
                let v = netns::scoped_in(&ns, || {
                    per_call(prog, ifx, &frames, |i, o| {
                        record(&mut c, (p.expect)(&net, &frames[i], o))
                    })
                })?;
                s.push(hook, &call_name(p.name), v - over.ns);
                if p.class == Class::FirstPacket {
                    // Every call must have made a flow of its own (two entries).
                    let entries = fx.flows().len();
                    if entries < 2 * n {
                        c.fail(format!(
                            "{n} first packets left {entries} flow entries, not {}",
                            2 * n
                        ));
                    }
                }
                if p.loops {
                    let (o, v) = netns::scoped_in(&ns, || call(prog, ifx, &frames[0], repeat))?;
                    record(&mut c, (p.expect)(&net, &frames[0], &o));
                    s.push(hook, &loop_name(p.name), v);
                }
                merge(&mut checks, c);
            }
        }
    }
    let profiles = profiles(fx, bench, &net, &cfg, sizes, opts);
    fx.clear_flows();
    bench.nat_clear()?;

    for hook in [Hook::Xdp, Hook::Tc] {
        let t = table(hook);
        let row = |name: String, v: Vec<f64>| {
            Row::new(Section::Kernel, t, name, "ns", v).context(hook_name(hook))
        };
        let empty = s.get(hook, EMPTY);
        report
            .rows
            .push(row(EMPTY.into(), empty.clone()).note("XDP_PASS / TC_ACT_OK and nothing else"));
        report.rows.push(
            row(OVERHEAD.into(), s.get(hook, OVERHEAD))
                .note("per rep: empty program per call minus in a loop"),
        );
        for mode in [Mode::Loop, Mode::Call] {
            let red = s.get(hook, &mode.name(REDIRECT));
            let nat = s.get(hook, &mode.name(NAT_EST));
            let r = row(mode.name(REDIRECT), red.clone()).plot();
            report.rows.push(if mode == Mode::Loop {
                r.baseline("empty program", super::stats::ratios(&red, &empty))
            } else {
                r
            });
            report.rows.push(
                row(mode.name(NAT_EST), nat.clone())
                    .baseline("parse + redirect", super::stats::ratios(&nat, &red))
                    .plot(),
            );
            if mode == Mode::Call {
                let first = s.get(hook, &mode.name(NAT_FIRST));
                report.rows.push(
                    row(mode.name(NAT_FIRST), first.clone())
                        .baseline("its established", super::stats::ratios(&first, &nat))
                        .plot(),
                );
            }
            for p in PATHS {
                if mode == Mode::Loop && !p.loops {
                    continue;
                }
                let v = s.get(hook, &mode.name(p.name));
                let r = row(mode.name(p.name), v.clone()).plot();
                let r = match p.class {
                    Class::Established => r
                        .baseline("minimal stateful NAT", super::stats::ratios(&v, &nat))
                        .target(Target::ratio_at_most(
                            1.25,
                            "<= 1.25x the minimal stateful floor",
                        )),
                    Class::Deny => {
                        r.baseline("minimal stateful NAT", super::stats::ratios(&v, &nat))
                    }
                    Class::FirstPacket => {
                        let est = s.get(
                            hook,
                            &mode.name(
                                p.established
                                    .expect("first packets name their established path"),
                            ),
                        );
                        r.baseline("its established path", super::stats::ratios(&v, &est))
                            .target(Target::ratio_at_most(5.0, "<= 5x established"))
                    }
                };
                report.rows.push(r);
            }
        }
    }
    report.checks.extend(checks.into_values());
    report.note(
        Section::Kernel,
        format!(
            "Each figure is the kernel's own time (BPF_PROG_TEST_RUN's `duration`) for one run \
             of the program. The pipeline runs as the agent loaded it (`Agent::start_with` on \
             the bench lab: one VPC with a client, a server, an interface endpoint 10.0.1.100 \
             whose NLB node 10.0.1.50 targets the server, and an HTTP API VPC link whose \
             link ENI 10.0.1.4 carries the API host's (10.1.1.20, API service VPC) calls to \
             the integration address 10.1.1.201:5201 to the same NLB listener's target; TCP \
             frames of 66 bytes; the agent's \
             flow sweep is held off during the run). The floors are separate programs in \
             `target/bench-ebpf.o`: parse + redirect (Ethernet/IPv4 check, MACs, DevMap or \
             `bpf_redirect_peer`) and a minimal stateful NAT (parse Ethernet/IPv4/TCP-or-UDP, one \
             lookup keyed by the pipeline's FlowKey, create on miss with BPF_NOEXIST, rewrite \
             both addresses and both ports with incremental checksums and the MACs, per-CPU \
             counter, redirect), as XDP (direct writes) and as TC (the skb helpers the \
             pipeline's TC build uses).\n\n\
             Two ways of timing. *[loop]*: one call of {repeat} runs of one frame, the kernel's \
             average. The kernel does not restore the frame between runs, so this only serves \
             paths whose output is again an input of the same path: parse + redirect, the \
             intra-VPC established path (it changes only MACs) and the deny path (it changes \
             nothing). The minimal NAT is measured in a loop on a pair of entries that map its \
             rewrite back (A -> B, B -> A), so every run is a hit that rewrites all four \
             fields. The pipeline's PrivateLink and VPC-link paths cannot be looped that way: the rewritten \
             source address no longer passes the source/destination check of the port the \
             frame arrives on. *[per call]*: {n} calls with one run each, each on a fresh copy \
             of its frame (the kernel copies `data_in` per call: a restore), the kernel's \
             durations averaged, minus the fixed cost of one call (an empty program per call \
             minus the same in a loop, measured in every repetition). Established paths per \
             call repeat one established flow; first packets are {n} distinct source ports on an \
             emptied flow table, and the run checks that every one of them created its two \
             flow entries. Per-call figures include what a packet pays when its code and data \
             are not hot in the cache, so they are compared only with per-call floors.",
            repeat = repeat,
            n = n
        ),
    );
    report.note(Section::Kernel, profile_note(&profiles, opts.cpu));
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Loop,
    Call,
}

impl Mode {
    fn name(self, n: &str) -> String {
        match self {
            Mode::Loop => loop_name(n),
            Mode::Call => call_name(n),
        }
    }
}

/// What the floors are timed with on one hook: the frame `base` from the
/// client's port `ifx`, `sizes`' loop and per-call counts.
struct Floor<'a> {
    net: &'a Net,
    hook: Hook,
    ifx: u32,
    base: &'a [u8],
    sizes: &'a Sizes,
}

impl Floor<'_> {
    /// Times `prog` on the base frame in a loop and per call, checking
    /// every outcome with `expect` into the check `<hook>: <name>`: (loop
    /// ns, per-call ns).
    fn time(
        &self,
        prog: Program<'_>,
        name: &str,
        checks: &mut BTreeMap<String, Check>,
        expect: ExpectFn,
    ) -> Result<(f64, f64)> {
        let mut c = Check::new(format!("{}: {name}", hook_name(self.hook)));
        let (o, ns_loop) = call(prog, self.ifx, self.base, self.sizes.loop_repeat)?;
        record(&mut c, expect(self.net, self.base, &o));
        let frames = vec![self.base.to_vec(); self.sizes.per_call];
        let ns_call = per_call(prog, self.ifx, &frames, |i, o| {
            record(&mut c, expect(self.net, &frames[i], o))
        })?;
        merge(checks, c);
        Ok((ns_loop, ns_call))
    }
}

pub fn record(c: &mut Check, r: Result<(), String>) {
    c.delivered += 1;
    match r {
        Ok(()) => c.verified += 1,
        Err(e) => c.fail(e),
    }
}

fn merge(all: &mut BTreeMap<String, Check>, c: Check) {
    let e = all
        .entry(c.scenario.clone())
        .or_insert_with(|| Check::new(c.scenario.clone()));
    e.delivered += c.delivered;
    e.verified += c.verified;
    for f in c.failures {
        e.fail(f);
    }
}

/// The loops the profile samples: (column, established loop of the minimal
/// NAT or of the pipeline's intra-VPC path, hook).
const PROFILED: [(&str, bool, Hook); 4] = [
    ("XDP: minimal NAT", false, Hook::Xdp),
    ("XDP: intra-VPC", true, Hook::Xdp),
    ("TC: minimal NAT", false, Hook::Tc),
    ("TC: intra-VPC", true, Hook::Tc),
];

/// perf profiles of the established-flow loops (see `profile`), each a
/// loop of about 1.5 s (0.2 s quick) pinned to `opts.cpu`. A loop that
/// cannot be profiled (no perf) says why in its column.
fn profiles(
    fx: &mut Fixture,
    bench: &mut BenchObject,
    net: &Net,
    cfg: &BenchConfig,
    sizes: &Sizes,
    opts: &Options,
) -> Vec<(&'static str, Result<Vec<Share>, String>)> {
    let secs = if opts.quick { 0.2 } else { 1.5 };
    let ns = fx.agent.plan.fabric_ns.clone();
    let file =
        std::env::temp_dir().join(format!("hyperlab-bench-perf-{}.data", std::process::id()));
    let mut out = Vec::new();
    for (col, pipeline, hook) in PROFILED {
        let r = (|| -> Result<Vec<Share>> {
            let frame = if pipeline {
                intra_established(fx, net, hook, 1)?.remove(0)
            } else {
                bench.nat_clear()?;
                nat_cycle(bench, cfg, SPORT)?;
                net.from_client(ENDPOINT, SPORT, 80, "A")
            };
            let prog = match (pipeline, hook) {
                (true, Hook::Xdp) => Program::Xdp(fx.agent.dataplane.xdp()),
                (true, Hook::Tc) => Program::Tc(fx.agent.dataplane.tc()),
                (false, Hook::Xdp) => Program::Xdp(bench.xdp(programs::XDP_NAT)),
                (false, Hook::Tc) => Program::Tc(bench.tc(programs::TC_NAT)),
            };
            let ifx = net.client_port;
            let run = |repeat: u32| {
                netns::scoped_in(&ns, || {
                    super::sys::pin_to_cpu(opts.cpu)?;
                    call(prog, ifx, &frame, repeat)
                })
            };
            // Size the loop from a short one.
            let (_, ns_per_run) = run(sizes.loop_repeat)?;
            let repeat = (secs * 1e9 / ns_per_run.max(1.0)) as u32;
            let (_, shares) = profile(opts.cpu, &file, || run(repeat))?;
            Ok(shares)
        })();
        out.push((col, r.map_err(|e| format!("{e:#}"))));
    }
    out
}

/// The profiles side by side: one row per symbol, one column per loop.
fn profile_note(p: &[(&str, Result<Vec<Share>, String>)], cpu: usize) -> String {
    let mut symbols: Vec<String> = Vec::new();
    for (_, r) in p {
        for s in r.iter().flatten() {
            if !symbols.contains(&s.symbol) {
                symbols.push(s.symbol.clone());
            }
        }
    }
    let mut t = format!(
        "**Profile of the established-flow loops** (`perf record -e cpu-clock -C {cpu}` while \
         each [loop] runs about 1.5 s (0.2 s in quick mode) pinned to CPU {cpu}; share of the samples per kernel \
         symbol (user space on that CPU is other work and left out), those of at least 1 % \
         in some loop; the JIT code row is the program itself \
         with the array lookups the verifier inlines, hash-map lookups are \
         `__htab_map_lookup_elem` and below, `bpf_test_run` is the loop around it):\n\n| symbol |"
    );
    for (col, _) in p {
        t.push_str(&format!(" {col} |"));
    }
    t.push_str("\n| --- |");
    for _ in p {
        t.push_str(" ---: |");
    }
    for sym in &symbols {
        t.push_str(&format!("\n| `{sym}` |"));
        for (_, r) in p {
            let cell = match r {
                Ok(v) => v
                    .iter()
                    .find(|s| &s.symbol == sym)
                    .map(|s| format!("{:.1} %", s.percent))
                    .unwrap_or_else(|| "< 1 %".into()),
                Err(_) => "-".into(),
            };
            t.push_str(&format!(" {cell} |"));
        }
    }
    for (col, r) in p {
        if let Err(e) = r {
            t.push_str(&format!("\n\n{col}: no profile: {e}"));
        }
    }
    t
}
