//! Differential testing, short run: random topologies and packet sequences
//! through the loaded kernel programs (TC and XDP, BPF_PROG_TEST_RUN) and
//! through the reference model; every packet's verdict, drop reason, output
//! bytes and destination, and every counter, must agree, and every kernel
//! output must keep isolation, touch nothing it does not own and keep its
//! checksums. `cargo xtask soak` runs the same for a million packets.
//!
//! Seeded: `HYPERLAB_DIFF_SEED=<n>` picks another seed (decimal or 0x-hex);
//! a failure prints the seed and a shrunk, self-contained reproducer.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use hyperlab_tests::{differential, require_root};

/// "hyplab": the default seed of the short run.
const SEED: u64 = 0x6879_706c_6162;

fn seed() -> u64 {
    match std::env::var("HYPERLAB_DIFF_SEED") {
        Ok(s) => {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            }
            .unwrap_or_else(|e| panic!("HYPERLAB_DIFF_SEED={s:?}: {e}"))
        }
        Err(_) => SEED,
    }
}

#[test]
#[ignore = "needs root"]
fn kernel_and_reference_model_agree_on_random_topologies_and_packets() {
    require_root();
    let plan = differential::Plan {
        seed: seed(),
        packets: 5000,
        per_topology: 1000,
        sequence: (150, 500),
        verbose: true,
    };
    match differential::run(&plan) {
        Ok(r) => {
            eprintln!(
                "differential: seed {:#x}, {} topologies, {} in {:.1} s, 0 mismatches",
                plan.seed,
                r.topologies.len(),
                r.tally.summary(),
                r.seconds
            );
            assert!(r.tally.packets >= plan.packets);
            assert!(r.tally.tc > 0 && r.tally.xdp > 0, "both hooks ran");
            assert!(
                r.tally.translated > 0,
                "some packets went through PrivateLink"
            );
            // About half the topologies have a link: a handful of them may
            // have none that passes anything, so only the default seed is
            // held to it.
            if plan.seed == SEED {
                assert!(
                    r.tally.linked > 0,
                    "some packets went through HTTP VPC links"
                );
            }
        }
        Err(reproducer) => panic!("{reproducer}"),
    }
}
