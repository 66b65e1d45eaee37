//! Times `compile::compile` on the bench's 10,000-ENI / 100,000-rule
//! topology (for profiling: `perf record cargo run --release --example compile_big`).
fn main() {
    let base = dataplane::config::parse_str(
        &hyperlab_tests::bench::topo::TOPO.replace("@LAB@", "big"),
        "topo.toml",
    )
    .expect("bench topology");
    let topo = hyperlab_tests::bench::scale::big_topology(&base, 10_000, 100_000);
    let ifx: Vec<u32> = (0..topo.enis.len() as u32).map(|i| 100_000 + i).collect();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let c = dataplane::compile::compile(&topo, &ifx).unwrap();
        println!(
            "compile: {:?} ({} SG entries)",
            t.elapsed(),
            c.sg_rules.len()
        );
    }
}
