//! The benchmarks' quick mode (`cargo xtask bench --quick`) as a test: every
//! scenario must deliver packets, and what it delivered must be right
//! (test-run outputs, sampled sink frames: addresses, ports, both checksums;
//! iperf3's peer address). It never asserts a speed.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use hyperlab_bench::{self as bench, Options, Section};

#[test]
#[ignore = "needs root"]
fn every_bench_scenario_delivers_correctly_translated_packets() {
    let report = bench::run(&Options::new(true)).expect("quick bench run");
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| !c.ok())
        .map(|c| {
            format!(
                "{}: delivered {}, verified {}, failures {:?}",
                c.scenario, c.delivered, c.verified, c.failures
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "scenarios that failed their checks:\n{}",
        failed.join("\n")
    );
    for s in Section::ALL {
        assert!(
            report
                .rows
                .iter()
                .any(|r| r.section == s && r.value().is_some()),
            "part {} produced no figure",
            s.key()
        );
    }
    // Each part checked what it delivered, on every path it measures.
    for prefix in ["XDP: ", "TC: ", "scale: ", "veth: ", "host: ", "nodes: "] {
        assert!(
            report.checks.iter().any(|c| c.scenario.starts_with(prefix)),
            "no checks for {prefix:?}"
        );
    }
    for p in bench::kernel::PATHS {
        for hook in ["XDP", "TC"] {
            let name = format!("{hook}: {}", p.name);
            assert!(
                report.checks.iter().any(|c| c.scenario == name),
                "kernel path {name} was not checked"
            );
        }
    }
    // Parts 3 and 4 check every hyperlab path, the VPC link's included.
    for name in [
        "veth: hyperlab XDP: intra-VPC",
        "veth: hyperlab XDP: PrivateLink (endpoint -> NLB -> target)",
        "veth: hyperlab XDP: VPC link (API host -> link ENI -> target)",
        "veth: floor: minimal XDP NAT, 5-tuple key (16 B), 16 B value",
        "veth: floor: minimal XDP NAT keyed like the pipeline (FlowKey, 32 B value)",
        "floors: minimal NAT variants, generator flows",
        "veth: kernel netfilter DNAT+SNAT, conntrack",
        "host: hyperlab TC: intra-VPC",
        "host: hyperlab TC: PrivateLink (endpoint -> NLB -> target)",
        "host: hyperlab TC: VPC link (API host -> link ENI -> target)",
        "host: kernel netfilter DNAT+SNAT, conntrack",
    ] {
        assert!(
            report.checks.iter().any(|c| c.scenario == name),
            "{name} was not checked"
        );
    }
    // The report renders.
    assert!(report
        .markdown("plot.svg")
        .contains("## Correctness checks"));
    assert!(report.svg().starts_with("<svg"));
}
