//! `cargo xtask bench`: hyperlab measured against baselines from the same
//! run, written to docs/BENCHMARKS.md with a plot.
//!
//! Five parts, each reporting ratios to a baseline measured alongside:
//! 1. [`kernel`]: ns per packet (BPF_PROG_TEST_RUN) of every pipeline path
//!    on both hooks, against a parse-and-redirect floor and a minimal
//!    stateful NAT floor (`target/bench-ebpf.o`);
//! 2. [`scale`]: established flows with 1k..1M live flows, first packets
//!    against 10..10,000-rule groups, compiling and loading a
//!    10,000-ENI / 100,000-rule config, applying a one-rule change;
//! 3. [`veth`]: packets per second on veths from the XDP live-frames
//!    generator (or, on a kernel that refuses live frames, an AF_PACKET
//!    socket sending the same frames: [`afpacket`]) through the floors,
//!    hyperlab's XDP paths and kernel netfilter NAT, verified at the sink;
//! 4. [`host`]: iperf3 between real host stacks through hyperlab's TC and
//!    XDP paths, a bare veth pair, a bridge and netfilter NAT;
//! 5. [`nodes`]: iperf3 between hosts on two nodes of one lab (VXLAN
//!    between them) against two namespaces joined by a bare VXLAN pair.
//!
//! `--quick` runs every scenario with tiny sizes in seconds; the smoke test
//! (bench/tests/bench_smoke.rs) uses it to check that each scenario delivers
//! correctly translated packets. Nothing ever asserts a speed.

pub mod afpacket;
pub mod analysis;
pub mod connrate;
pub mod floors;
pub mod host;
pub mod kernel;
pub mod nacl;
pub mod nodes;
pub mod objects;
pub mod profile;
pub mod rates;
pub mod report;
pub mod routes;
pub mod scale;
pub mod stats;
pub mod sys;
pub mod testrun;
pub mod topo;
pub mod traffic;
pub mod two_subnets;
pub mod verify;
pub mod veth;

use std::{path::PathBuf, time::Instant};

use anyhow::{Context, Result};
use dataplane::{loader::LoadOptions, model::Hook};

use hyperlab_tests::Fixture;

pub use report::Report;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    Kernel,
    Scale,
    Veth,
    Host,
    Nodes,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Kernel,
        Section::Scale,
        Section::Veth,
        Section::Host,
        Section::Nodes,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Section::Kernel => "kernel",
            Section::Scale => "scale",
            Section::Veth => "veth",
            Section::Host => "host",
            Section::Nodes => "nodes",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Section::Kernel => "1. ns per packet in the kernel (BPF_PROG_TEST_RUN)",
            Section::Scale => "2. Scale",
            Section::Veth => "3. Packets per second on veth (XDP hook)",
            Section::Host => "4. Host-stack traffic (iperf3)",
            Section::Nodes => "5. A lab across two nodes (iperf3 over VXLAN)",
        }
    }

    pub fn parse(s: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|x| x.key() == s)
    }
}

/// Sizes of one run: the full run, or `--quick`.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Repetitions of one frame in a *loop* measurement.
    pub loop_repeat: u32,
    /// Calls (frames) in a *per-call* measurement.
    pub per_call: usize,
    /// Live flows for the established-flow scale runs.
    pub scale_flows: Vec<usize>,
    /// Live flows for the floors' anatomy.
    pub anatomy_flows: Vec<usize>,
    /// Rules in the server's group for the first-packet scale runs.
    pub sg_rules: Vec<usize>,
    /// The big config: ENIs and rules.
    pub config_enis: usize,
    pub config_rules: usize,
    /// Flows of the veth runs.
    pub pps_flows: Vec<u32>,
    /// First packets per new-flows measurement (fresh 5-tuples, at most 65,536:
    /// one source address, one destination port per path).
    pub new_flows: u32,
    /// Flows of the two-CPU runs (half per CPU).
    pub two_core_flows: u32,
    /// Seconds the generator runs per measurement.
    pub pps_seconds: f64,
    /// iperf3 duration per run (`-t`), or None: a fixed amount of data.
    pub iperf_seconds: Option<u32>,
}

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            loop_repeat: 1_000_000,
            per_call: 20_000,
            scale_flows: vec![1_000, 100_000, 1_000_000],
            anatomy_flows: vec![4_096, 65_536, 1_000_000],
            sg_rules: vec![10, 1_000, 10_000],
            config_enis: 10_000,
            config_rules: 100_000,
            pps_flows: vec![1, 4_096, 65_536, 1 << 20],
            new_flows: 65_536,
            two_core_flows: 4_096,
            pps_seconds: 1.0,
            iperf_seconds: Some(2),
        }
    }

    pub fn quick() -> Sizes {
        Sizes {
            loop_repeat: 20_000,
            per_call: 300,
            scale_flows: vec![1_000, 5_000],
            anatomy_flows: vec![64, 4_096],
            sg_rules: vec![10, 100],
            config_enis: 100,
            config_rules: 1_000,
            pps_flows: vec![1, 64, 131_072],
            new_flows: 4_096,
            two_core_flows: 64,
            pps_seconds: 0.1,
            iperf_seconds: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub quick: bool,
    pub reps: usize,
    pub sections: Vec<Section>,
    pub dataplane_obj: dataplane::loader::KernelObject,
    pub bench_obj: PathBuf,
    /// The CPU the traffic generator is pinned to.
    pub cpu: usize,
    /// How this run was started (for the report).
    pub command: String,
    /// Part 3's flow counts instead of the sizes' (empty: the sizes').
    pub pps_flows: Vec<u32>,
}

impl Options {
    pub fn new(quick: bool) -> Options {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Options {
            quick,
            reps: if quick { 1 } else { 5 },
            sections: Section::ALL.to_vec(),
            dataplane_obj: dataplane::loader::object_path().into(),
            bench_obj: objects::bench_object_path(),
            cpu: cpus.saturating_sub(1),
            command: format!("cargo xtask bench{}", if quick { " --quick" } else { "" }),
            pps_flows: Vec::new(),
        }
    }

    pub fn sizes(&self) -> Sizes {
        let mut s = if self.quick {
            Sizes::quick()
        } else {
            Sizes::full()
        };
        if !self.pps_flows.is_empty() {
            s.pps_flows = self.pps_flows.clone();
        }
        s
    }
}

/// Runs the selected parts. Everything it creates (namespaces, programs,
/// processes, netfilter rules inside its own namespaces) is removed again,
/// also when a part fails.
pub fn run(opts: &Options) -> Result<Report> {
    hyperlab_tests::require_root();
    let start = Instant::now();
    let sizes = opts.sizes();
    let mut report = Report {
        date: sys::date(),
        machine: sys::machine(),
        quick: opts.quick,
        reps: opts.reps,
        ..Default::default()
    };
    report.commands = vec![
        "# everything, about 10 minutes; writes docs/BENCHMARKS.md and docs/benchmarks.svg".into(),
        "cargo xtask bench".into(),
        "# what that runs: setup (idempotent), build-ebpf (target/dataplane-ebpf.o and".into(),
        "# target/bench-ebpf.o), cargo build --release -p hyperlab-bench --bin hyperlab-bench, then".into(),
        "HYPERLAB_EBPF_OBJ=target/dataplane-ebpf.o HYPERLAB_BENCH_OBJ=target/bench-ebpf.o \\".into(),
        "  target/release/hyperlab-bench --out docs".into(),
        "# one part, fewer repetitions, another directory".into(),
        "cargo xtask bench --only veth --reps 3 --out /tmp/bench".into(),
        "# part 3's rows at chosen flow counts only (powers of two)".into(),
        "cargo xtask bench --only veth --reps 1 --pps-flows 1048576 --out /tmp/bench".into(),
        "# seconds, tiny sizes, checked deliveries (report in target/bench-quick/)".into(),
        "cargo xtask bench --quick".into(),
        "# the same quick mode as a test (part of cargo xtask test)".into(),
        "cargo test -p hyperlab-bench --test bench_smoke -- --include-ignored".into(),
        format!("# this report: {}", opts.command),
    ];
    let want = |s: Section| opts.sections.contains(&s);
    if want(Section::Kernel) || want(Section::Scale) {
        let mut bench = objects::BenchObject::load(&opts.bench_obj, None)?;
        let mut fx = Fixture::with_options(
            topo::TOPO,
            "hlbk",
            Hook::Tc,
            &LoadOptions {
                flow_table_size: Some(1 << 20),
                // No sweep during the run: it would walk the flow table on
                // the other CPU while the paths are timed.
                sweep_every: Some(std::time::Duration::from_secs(24 * 3600)),
                // Flow events off: the paths are timed as with flow logs off.
                flow_events: false,
            },
        );
        if want(Section::Kernel) {
            kernel::run(&mut fx, &mut bench, &sizes, opts, &mut report)
                .context("part 1 (kernel)")?;
            nacl::run(opts, &sizes, &mut report).context("part 1 (kernel): network ACLs")?;
            routes::run(opts, &sizes, &mut report).context("part 1 (kernel): route tables")?;
        }
        if want(Section::Scale) {
            scale::run(&mut fx, opts, &sizes, &mut report).context("part 2 (scale)")?;
        }
    }
    if want(Section::Veth) {
        veth::run(opts, &sizes, &mut report).context("part 3 (veth pps)")?;
    }
    if want(Section::Host) {
        host::run(opts, &sizes, &mut report).context("part 4 (host stacks)")?;
    }
    if want(Section::Nodes) {
        nodes::run(opts, &sizes, &mut report).context("part 5 (two nodes)")?;
    }
    report.seconds = start.elapsed().as_secs_f64();
    report.machine.load_end = sys::loadavg();
    Ok(report)
}
