//! The differential soak `cargo xtask soak` builds and starts (as root):
//! random topologies and packet sequences through the loaded kernel
//! programs and the reference model until `--packets` were compared.
//!
//! `hyperlab-soak [--packets N] [--seed S] [--per-topology M]`

use std::process::ExitCode;

use hyperlab_tests::{differential, require_root};

fn number(flag: &str, v: Option<String>) -> u64 {
    let v = v.unwrap_or_else(|| usage(&format!("{flag} needs a value")));
    let v = v.replace('_', "");
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => v.parse(),
    }
    .unwrap_or_else(|e| usage(&format!("{flag} {v}: {e}")))
}

fn usage(why: &str) -> ! {
    eprintln!(
        "hyperlab-soak: {why}\nusage: hyperlab-soak [--packets N] [--seed S] [--per-topology M]"
    );
    std::process::exit(2)
}

fn main() -> ExitCode {
    let mut plan = differential::Plan {
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        packets: 1_000_000,
        per_topology: 50_000,
        sequence: (200, 3000),
        verbose: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--packets" => plan.packets = number(&a, args.next()),
            "--seed" => plan.seed = number(&a, args.next()),
            "--per-topology" => plan.per_topology = number(&a, args.next()).max(1),
            "-h" | "--help" => {
                usage("differential soak of the kernel programs against the reference model")
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    require_root();
    eprintln!(
        "soak: seed {:#x}, {} packets, up to {} per topology (replay: cargo xtask soak --seed {:#x} --packets {})",
        plan.seed, plan.packets, plan.per_topology, plan.seed, plan.packets
    );
    match differential::run(&plan) {
        Ok(r) => {
            let seeds: Vec<String> = r
                .topologies
                .iter()
                .map(|(s, _)| format!("{s:#x}"))
                .collect();
            println!(
                "soak: seed {:#x}: {} packets compared on {} topologies in {:.0} s ({:.0} packets/s), 0 mismatches",
                plan.seed,
                r.tally.packets,
                r.topologies.len(),
                r.seconds,
                r.tally.packets as f64 / r.seconds.max(1e-9)
            );
            println!("soak: {}", r.tally.summary());
            println!("soak: topology seeds: {}", seeds.join(" "));
            ExitCode::SUCCESS
        }
        Err(reproducer) => {
            println!("{reproducer}");
            println!("soak: seed {:#x}: MISMATCH (reproducer above)", plan.seed);
            ExitCode::FAILURE
        }
    }
}
