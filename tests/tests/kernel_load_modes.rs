//! Every program of the kernel object passes the verifier in every way a
//! loader of this project loads it (needs root: `-- --ignored`).
//!
//! The load-time globals change what the verifier walks: flow-log events
//! on (`dataplane run` with `[flow_logs]`), the kernel's log statements
//! (`-v`: the agent's log level reaches `AYA_LOG_LEVEL`), the dry run
//! (`dataplane explain`). A program near the verifier's 1,000,000
//! processed instructions can pass in one mode and be refused in another,
//! and only a lab started that way would find out. The test prints each
//! program's processed instructions per mode (`verified_insns`), the
//! headroom every change to the slow paths is judged by.

use aya::{
    programs::{Program, SchedClassifier, Xdp},
    Ebpf, EbpfLoader,
};
use dataplane::loader::{kernel_log_level, load_slow_paths};
use dataplane_common::{globals, maps, programs};

/// One way the project loads the object: its name and the globals it sets.
struct Mode {
    name: &'static str,
    flow_events: Option<u32>,
    log: Option<log::LevelFilter>,
    dry_run: bool,
}

const MODES: [Mode; 5] = [
    // The stage tests and the bench: no global overridden.
    Mode {
        name: "as built",
        flow_events: None,
        log: None,
        dry_run: false,
    },
    // `dataplane run` without flow logs, default log level.
    Mode {
        name: "run",
        flow_events: Some(0),
        log: Some(log::LevelFilter::Info),
        dry_run: false,
    },
    // `dataplane run` with flow logs.
    Mode {
        name: "run + flow logs",
        flow_events: Some(1),
        log: Some(log::LevelFilter::Info),
        dry_run: false,
    },
    // `dataplane run -vv` with flow logs: every kernel log statement kept.
    Mode {
        name: "run + flow logs + trace",
        flow_events: Some(1),
        log: Some(log::LevelFilter::Trace),
        dry_run: false,
    },
    // `dataplane explain`.
    Mode {
        name: "explain (dry run)",
        flow_events: None,
        log: None,
        dry_run: true,
    },
];

/// The verifier's limit on processed instructions per program.
const VERIFIER_LIMIT: u32 = 1_000_000;

fn load(mode: &Mode, obj: &std::path::Path) -> Ebpf {
    // The loader borrows the globals' values until it loads.
    let (on, dry) = (mode.flow_events.unwrap_or(0), 1u8);
    let level = mode.log.map(kernel_log_level).unwrap_or(0);
    let mut l = EbpfLoader::new();
    if mode.flow_events.is_some() {
        l.override_global(globals::FLOW_EVENTS_ON, &on, true);
    }
    if mode.log.is_some() {
        l.override_global(aya_log::LEVEL, &level, false);
    }
    if mode.dry_run {
        l.override_global("DRY_RUN", &dry, true);
    }
    let mut ebpf = l
        .load_file(obj)
        .unwrap_or_else(|e| panic!("{}: loading {}: {e}", mode.name, obj.display()));
    for name in [programs::TC, programs::XDP, programs::XDP_PASS] {
        let r = match ebpf.program_mut(name) {
            Some(Program::SchedClassifier(p)) => SchedClassifier::load(p),
            Some(Program::Xdp(p)) => Xdp::load(p),
            other => panic!("{name}: not in the object or of another kind: {other:?}"),
        };
        r.unwrap_or_else(|e| panic!("{}: the verifier refuses {name}: {e:?}", mode.name));
    }
    load_slow_paths(&mut ebpf)
        .unwrap_or_else(|e| panic!("{}: the verifier refuses a slow path: {e:?}", mode.name));
    ebpf
}

fn processed(ebpf: &Ebpf, name: &str) -> u32 {
    let p = ebpf
        .program(name)
        .unwrap_or_else(|| panic!("{name} in the object"));
    let info = match p {
        Program::SchedClassifier(p) => p.info(),
        Program::Xdp(p) => p.info(),
        other => panic!("{name} is {other:?}"),
    }
    .unwrap_or_else(|e| panic!("{name}'s program info: {e:?}"));
    info.verified_instruction_count()
        .unwrap_or_else(|| panic!("{name}: the kernel reports no verified_insns"))
}

#[test]
#[ignore = "needs root"]
fn every_program_passes_the_verifier_in_every_load_mode() {
    let obj = hyperlab_tests::require_root_and_object(
        "loading BPF programs needs root: run as root with `-- --ignored`",
        "",
    );
    let mut names = vec![programs::TC, programs::XDP, programs::XDP_PASS];
    names.extend(maps::SLOW_PATHS.iter().map(|(_, _, p)| *p));
    let mut table = String::from("program");
    for m in &MODES {
        table.push_str(&format!(" | {}", m.name));
    }
    let rows: Vec<(usize, Vec<u32>)> = {
        let loaded: Vec<Ebpf> = MODES.iter().map(|m| load(m, &obj)).collect();
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (i, loaded.iter().map(|e| processed(e, n)).collect()))
            .collect()
    };
    for (i, counts) in &rows {
        table.push_str(&format!("\n{}", names[*i]));
        for c in counts {
            table.push_str(&format!(" | {c}"));
        }
    }
    println!("processed instructions per program and load mode:\n{table}");
    for (i, counts) in &rows {
        for (m, c) in MODES.iter().zip(counts) {
            assert!(
                *c > 0 && *c < VERIFIER_LIMIT,
                "{}: {} processed {c} instructions\n{table}",
                m.name,
                names[*i]
            );
        }
    }
}
