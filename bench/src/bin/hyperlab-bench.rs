//! The bench runner `cargo xtask bench` builds and starts (as root).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use hyperlab_bench::{self as bench, Options, Section};

/// Runs hyperlab's benchmarks and writes the report (BENCHMARKS.md and
/// benchmarks.svg) to --out.
#[derive(Parser)]
#[command(name = "hyperlab-bench")]
struct Args {
    /// Tiny sizes, one repetition: every scenario in seconds.
    #[arg(long)]
    quick: bool,
    /// Repetitions of every measurement (default 5, or 1 with --quick).
    #[arg(long)]
    reps: Option<usize>,
    /// Only these parts (repeatable): kernel, scale, veth, host, nodes.
    #[arg(long, value_name = "PART")]
    only: Vec<String>,
    /// Part 3 at these flow counts only (repeatable; powers of two), for
    /// checking single rows: the established rows at N flows, with the
    /// new-flows and two-CPU rows as usual.
    #[arg(long, value_name = "N")]
    pps_flows: Vec<u32>,
    /// Directory for BENCHMARKS.md and benchmarks.svg.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// How the run was started, for the report.
    #[arg(long, hide = true)]
    command: Option<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut opts = Options::new(args.quick);
    if let Some(r) = args.reps {
        opts.reps = r.max(1);
    }
    if !args.only.is_empty() {
        opts.sections = args
            .only
            .iter()
            .map(|s| {
                Section::parse(s).with_context(|| {
                    format!("unknown part {s:?}: kernel, scale, veth, host or nodes")
                })
            })
            .collect::<Result<_>>()?;
    }
    if let Some(bad) = args.pps_flows.iter().find(|n| !n.is_power_of_two()) {
        bail!("--pps-flows {bad}: the generator's flow counts are powers of two");
    }
    opts.pps_flows = args.pps_flows;
    if let Some(c) = args.command {
        opts.command = c;
    }
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from(if args.quick {
            "target/bench-quick"
        } else {
            "docs"
        })
    });
    let report = bench::run(&opts)?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let svg = "benchmarks.svg";
    std::fs::write(out.join("BENCHMARKS.md"), report.markdown(svg))
        .context("writing BENCHMARKS.md")?;
    std::fs::write(out.join(svg), report.svg()).context("writing the plot")?;
    print!("{}", report.summary());
    println!("report: {}", out.join("BENCHMARKS.md").display());
    if report.checks.iter().any(|c| !c.ok()) {
        bail!(
            "some scenarios did not deliver correctly translated packets (see CHECK FAILED above)"
        );
    }
    Ok(())
}
