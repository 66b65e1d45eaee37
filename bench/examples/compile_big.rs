//! Times `compile::compile` on the bench's 10,000-ENI / 100,000-rule
//! topology, then recompiles it after one-rule changes as the agent's
//! reload does (for profiling: `perf record cargo run --release -p hyperlab-bench --example compile_big`).
fn main() {
    let base = dataplane::config::parse_str(
        &hyperlab_bench::topo::TOPO.replace("@LAB@", "big"),
        "topo.toml",
    )
    .expect("bench topology");
    let topo = hyperlab_bench::scale::big_topology(&base, 10_000, 100_000);
    let ifx: Vec<u32> = (0..topo.enis.len() as u32).map(|i| 100_000 + i).collect();
    // As the agent reloads: a memo carried from the last compilation.
    let mut memo = dataplane::compile::Memo::default();
    let mut changed = topo.clone();
    changed.security_groups[17].ingress[0].ports.1 += 1;
    for i in 0..20 {
        let t = std::time::Instant::now();
        let c = dataplane::compile::compile_with(
            if i % 2 == 0 { &topo } else { &changed },
            &ifx,
            &mut memo,
        )
        .unwrap();
        println!(
            "compile: {:?} ({} SG entries)",
            t.elapsed(),
            c.sg_rules.len()
        );
    }
}
