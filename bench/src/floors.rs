//! Part 2, the floors' anatomy: why the bench's minimal NAT slowed down at
//! 65,536 flows more than a minimal NAT written the obvious way
//! (issue 22, part 1). Every candidate cause is one variant of the same
//! program, timed with BPF_PROG_TEST_RUN per call over the flows the
//! part-3 generator sends, in its order (flow `i`: the generator's frame
//! for index `i`, [`afpacket::frame`]); each variant's entries are created
//! by the program itself on a thread pinned to the generator's CPU, as the
//! veth runs create them:
//!
//! - key and value size: the pipeline's 20-byte `FlowKey` with a 32-byte
//!   value against a 16-byte 5-tuple with a 16-byte value (`hlb_xdp_nat5`);
//! - table sizing: the default 262,144 entries against 2^21;
//! - where the entries sit in memory: a table whose entries were deleted
//!   from userspace and created again, as part 3 did between measurements
//!   (the kernel hands deleted preallocated entries back in the order they
//!   were deleted, bucket order, so consecutive flows land far apart);
//! - the generator's order against random flows.

use std::collections::HashMap as StdHashMap;

use anyhow::{bail, Context, Result};
use dataplane::netns;
use hyperlab_bench_common::{programs as bprog, BenchConfig, COUNT_NAT_NEW, FRAME_LEN};

use super::{
    afpacket,
    kernel::{hook_name, record, SPORT_XOR},
    objects::BenchObject,
    report::{Check, Report, Row, Target},
    stats::{ratios, Rng},
    sys,
    testrun::{per_call, Overhead, Program},
    topo::{Net, NLB},
    verify, Options, Section, Sizes,
};
use dataplane::model::Hook;
use hyperlab_tests::{Fixture, Outcome};

/// The generator's first source port (part 3's `SPORT_BASE`).
pub const SPORT_BASE: u32 = 1024;

const T_ANATOMY: &str = "The minimal NAT's floor at N flows, cause by cause (XDP, per call in the part-3 generator's order, ns per packet)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    /// `FlowKey` (20 bytes) -> `NatEntry` (32 bytes): floor 2.
    Pipeline,
    /// `NatKey5` (16 bytes) -> `NatVal5` (16 bytes): floor 3.
    FiveTuple,
    /// `FlowKey` -> `NatWide` (88 bytes, FlowEntry's size), read only.
    Wide,
    /// The same, with the pipeline's per-packet writes (timestamp, atomic
    /// packet and byte counts).
    WideWrites,
    /// `FlowKey` -> `NatEntry` with a reply entry inserted beside each new
    /// flow, as the pipeline does.
    Pair,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Generator,
    Random,
}

struct Variant {
    name: &'static str,
    key: Key,
    /// Table entries: None for the default (262,144, or 2^21 past it).
    entries: Option<u32>,
    /// Delete every entry from userspace and create them again first.
    refill: bool,
    order: Order,
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "5-tuple key (16 B), 16 B value",
        key: Key::FiveTuple,
        entries: None,
        refill: false,
        order: Order::Generator,
    },
    Variant {
        name: "pipeline key (FlowKey, 20 B), 32 B value",
        key: Key::Pipeline,
        entries: None,
        refill: false,
        order: Order::Generator,
    },
    Variant {
        name: "pipeline key, table emptied from userspace and refilled (part 3 before this fix)",
        key: Key::Pipeline,
        entries: None,
        refill: true,
        order: Order::Generator,
    },
    Variant {
        name: "5-tuple key, table emptied and refilled",
        key: Key::FiveTuple,
        entries: None,
        refill: true,
        order: Order::Generator,
    },
    Variant {
        name: "pipeline key, 2,097,152-entry table",
        key: Key::Pipeline,
        entries: Some(1 << 21),
        refill: false,
        order: Order::Generator,
    },
    Variant {
        name: "pipeline key, 88 B value (the size of hyperlab's FlowEntry)",
        key: Key::Wide,
        entries: None,
        refill: false,
        order: Order::Generator,
    },
    Variant {
        name: "pipeline key, 88 B value, with per-packet writes in the entry (timestamp, atomic packet and byte counts, as hyperlab before its per-CPU counter records)",
        key: Key::WideWrites,
        entries: None,
        refill: false,
        order: Order::Generator,
    },
    Variant {
        name: "pipeline key, a reply entry created beside each flow (two entries per flow, as hyperlab)",
        key: Key::Pair,
        entries: None,
        refill: false,
        order: Order::Generator,
    },
    Variant {
        name: "pipeline key, random live flows",
        key: Key::Pipeline,
        entries: None,
        refill: false,
        order: Order::Random,
    },
];

/// The default table size for `n` flows: part 3's 262,144, or the next
/// power of two at twice `n` where that does not hold them.
pub fn default_entries(n: usize) -> u32 {
    (dataplane_common::MAX_FLOWS as usize)
        .max((2 * n).next_power_of_two())
        .min(u32::MAX as usize) as u32
}

/// The generator's frame template to the endpoint: UDP client:0 -> 10.0.1.100:53.
pub fn template(net: &Net) -> [u8; FRAME_LEN] {
    let b = etherparse::PacketBuilder::ethernet2(net.client_mac, dataplane_common::GATEWAY_MAC)
        .ipv4(
            super::topo::CLIENT.octets(),
            super::topo::ENDPOINT.octets(),
            64,
        )
        .udp(0, 53);
    let mut f = Vec::with_capacity(FRAME_LEN);
    b.write(&mut f, &[0x68u8; FRAME_LEN - 14 - 20 - 8])
        .expect("frame");
    f.try_into().expect("a 64-byte frame")
}

/// The floors' config for the generator's UDP frames: NAT to NLB -> server:5353.
pub fn udp_config(net: &Net) -> BenchConfig {
    BenchConfig {
        nat_dport: 5353u16.to_be_bytes(),
        ..super::kernel::floor_config(net)
    }
}

fn prog(b: &BenchObject, k: Key) -> Program<'_> {
    Program::Xdp(b.xdp(match k {
        Key::Pipeline => bprog::XDP_NAT,
        Key::FiveTuple => bprog::XDP_NAT5,
        Key::Wide => bprog::XDP_NATW,
        Key::WideWrites => bprog::XDP_NATW_ACCT,
        Key::Pair => bprog::XDP_NAT_PAIR,
    }))
}

fn expect(net: &Net, n: usize, o: &Outcome) -> Result<(), String> {
    let sport = verify::Ports::Generated {
        base: SPORT_BASE as u16,
        n: n.min(65_536) as u32,
        xor: SPORT_XOR,
    };
    let ports = (sport, verify::Ports::One(5353));
    verify::to_server(net, o, (NLB, dataplane_common::PROTO_UDP), ports, 64)
}

/// Creates flows `0..n` through `b`'s program `k` (one call each, in the
/// generator's order, on CPU `cpu`) and checks that each was new.
fn create(
    b: &BenchObject,
    k: Key,
    net: &Net,
    t: &[u8; FRAME_LEN],
    n: usize,
    cpu: usize,
    check: &mut Check,
) -> Result<()> {
    let before = b.count(COUNT_NAT_NEW)?;
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| afpacket::frame(t, SPORT_BASE, i as u32).to_vec())
        .collect();
    sys::pin_to_cpu(cpu)?;
    per_call(prog(b, k), net.client_port, &frames, |_, o| {
        record(check, expect(net, n, o))
    })?;
    let made = b.count(COUNT_NAT_NEW)? - before;
    if made != n as u64 {
        bail!("{n} generator flows created {made} entries");
    }
    Ok(())
}

pub fn run(fx: &mut Fixture, opts: &Options, sizes: &Sizes, report: &mut Report) -> Result<()> {
    let net = Net::of(fx);
    let ns = fx.agent.plan.fabric_ns.clone();
    let t = template(&net);
    let mut check = Check::new("floors: minimal NAT variants, generator flows");
    let mut data: StdHashMap<(usize, usize), Vec<f64>> = StdHashMap::new();
    for &n in &sizes.anatomy_flows {
        let mut objs = Vec::new();
        for v in VARIANTS {
            let entries = v.entries.unwrap_or_else(|| default_entries(n));
            let (nat, nat5, natw) = match v.key {
                Key::Pipeline | Key::Pair => (entries, 1, 1),
                Key::FiveTuple => (1, entries, 1),
                Key::Wide | Key::WideWrites => (1, 1, entries),
            };
            eprintln!("[bench] floors: {n} flows, {} ({entries} entries)", v.name);
            let mut b =
                BenchObject::load_tables(&opts.bench_obj, Some(nat), Some(nat5), Some(natw))?;
            b.set_config(&udp_config(&net))?;
            b.set_devmap(&ns, net.server_port)?;
            netns::scoped_in(&ns, || create(&b, v.key, &net, &t, n, opts.cpu, &mut check))?;
            if v.refill {
                b.nat_clear()?;
                b.nat5_clear()?;
                netns::scoped_in(&ns, || create(&b, v.key, &net, &t, n, opts.cpu, &mut check))?;
            }
            objs.push(b);
        }
        let empty = BenchObject::load_sized(&opts.bench_obj, Some(1), Some(1))?;
        for rep in 0..opts.reps {
            eprintln!(
                "[bench] floors: {n} flows, repetition {}/{}",
                rep + 1,
                opts.reps
            );
            let mut rng = Rng::new(0xf100 ^ (n as u64) ^ ((rep as u64) << 32));
            let start = rep * sizes.per_call;
            for (vi, v) in VARIANTS.iter().enumerate() {
                let idx: Vec<usize> = match v.order {
                    Order::Generator => (0..sizes.per_call).map(|k| (start + k) % n).collect(),
                    Order::Random => (0..sizes.per_call).map(|_| rng.below(n)).collect(),
                };
                let frames: Vec<Vec<u8>> = idx
                    .iter()
                    .map(|&i| afpacket::frame(&t, SPORT_BASE, i as u32).to_vec())
                    .collect();
                let b = &objs[vi];
                let ns_per = netns::scoped_in(&ns, || {
                    sys::pin_to_cpu(opts.cpu)?;
                    let o = Overhead::measure(
                        Program::Xdp(empty.xdp(bprog::XDP_PASS)),
                        net.client_port,
                        &frames[0],
                        sizes.per_call,
                        sizes.loop_repeat,
                    )?;
                    let m = per_call(prog(b, v.key), net.client_port, &frames, |_, out| {
                        record(&mut check, expect(&net, n, out))
                    })?;
                    Ok(m - o.ns)
                })
                .with_context(|| format!("{} at {n} flows", v.name))?;
                data.entry((n, vi)).or_default().push(ns_per);
            }
        }
    }
    report.checks.push(check);
    for &n in &sizes.anatomy_flows {
        let base = data.get(&(n, 0)).cloned().unwrap_or_default();
        for (vi, v) in VARIANTS.iter().enumerate() {
            let vals = data.get(&(n, vi)).cloned().unwrap_or_default();
            let mut r = Row::new(Section::Scale, T_ANATOMY, v.name, "ns", vals.clone())
                .context(format!("{} flows", super::scale::thousands(n)))
                .at(format!("floors: {}", v.name), n as f64);
            if vi != 0 {
                r = r.baseline("5-tuple floor", ratios(&vals, &base));
                if vi == 1 {
                    r = r.target(Target::ratio_at_most(
                        1.1,
                        "<= 1.1x the 5-tuple floor (the floor is not slow by accident)",
                    ));
                }
            }
            report.rows.push(r);
        }
    }
    for &n in &sizes.anatomy_flows {
        let med = |vi: usize| {
            let base = data.get(&(n, 0)).cloned().unwrap_or_default();
            let v = data.get(&(n, vi)).cloned().unwrap_or_default();
            super::stats::Summary::of(&ratios(&v, &base))
                .map(|s| format!("{:.2}x", s.median))
                .unwrap_or_else(|| "-".into())
        };
        report.note(
            Section::Scale,
            format!(
                "What the floors' anatomy found at {} flows (each against the 5-tuple floor, \
                 same repetitions): the key and value size alone {}; a table emptied from \
                 userspace and refilled {} (5-tuple key: {}); a 2^21-entry table {}; a value \
                 as large as hyperlab's 88-byte FlowEntry {}, and with per-packet \
                 writes into it (hyperlab's before its per-CPU counters) {}; a reply entry created beside each flow (two entries per \
                 flow, as hyperlab) {}; random live flows instead of the generator's order {}. Preallocated entries are \
                 handed out from per-CPU free lists: a fresh table gives flows created one \
                 after the other neighbouring elements, which the generator then walks in \
                 order; a table emptied from userspace gets its elements back in bucket \
                 (hash) order, so the same flows land as far apart as random ones. That, not \
                 the key layout, made part 3's minimal NAT slow at 65,536 flows.",
                super::scale::thousands(n),
                med(1),
                med(2),
                med(3),
                med(4),
                med(5),
                med(6),
                med(7),
                med(8)
            ),
        );
    }
    report.note(
        Section::Scale,
        format!(
            "The floors' anatomy ({hook}): one bench object per variant, its table created by \
             the program itself (one test-run call per flow, on CPU {cpu}, where part 3's \
             generator runs), flows drawn as part 3's generator draws them: flow i is UDP \
             10.0.1.10:(1024 + i mod 65,536) -> 10.0.1.100:(53 + i / 65,536), i = 0..N-1, \
             sent in that order and wrapping. Each repetition times {calls} calls over the next \
             {calls} flows in that order (the random row: {calls} random live flows), the \
             per-call fixed cost subtracted. Default table: 262,144 entries (2^21 past 131,072 \
             flows). 'Emptied and refilled': every entry deleted from userspace, then created \
             again by the program, which is what part 3 did to the minimal NAT's table before \
             each measurement until it loaded a fresh table instead.",
            hook = hook_name(Hook::Xdp),
            cpu = opts.cpu,
            calls = super::scale::thousands(sizes.per_call),
        ),
    );
    Ok(())
}
