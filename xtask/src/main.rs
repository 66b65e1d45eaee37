//! `cargo xtask`: developer tasks for hyperlab.
//!
//! The kernel crate (`dataplane-ebpf/`) is built with Debian's rustc/cargo for
//! `bpfel-unknown-none`; everything else with the rustup cargo that launched this
//! program.

mod ebpf;
mod proc;
mod setup;
mod toolchain_env;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

/// Developer tasks for hyperlab (an eBPF VPC data plane for Linux labs).
///
/// Run as root on Debian 12. `cargo xtask demo` and `cargo xtask test` are the two
/// commands a fresh machine needs; both install what is missing first.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what is missing (Debian packages, bpf-linker 0.13 for LLVM 22,
    /// bpffs mount, /run/netns, moto and boto3 in target/moto-venv for the
    /// moto-driven tests), idempotently. Needs root.
    Setup,
    /// Build the eBPF kernel crates with Debian's rustc and copy their objects to
    /// target/dataplane-ebpf.o (the data plane, dataplane-ebpf/) and
    /// target/bench-ebpf.o (the bench floors, generator and sink, bench/ebpf/);
    /// fails if either calls memcpy.
    BuildEbpf(BuildEbpfArgs),
    /// setup + build-ebpf + `cargo build --release -p dataplane`. Needs root.
    Build,
    /// build, then run the agent's demo (`target/release/dataplane demo`) on the
    /// embedded default topology or on --config FILE. Needs root.
    Demo(DemoArgs),
    /// setup, `cargo fmt --check`, clippy (-D warnings), build-ebpf, then every
    /// test of the workspace including the root-only ones, one at a time. Needs root.
    Test,
    /// setup + build-ebpf, then the differential soak (release build): random
    /// topologies (one lab each) and random packet sequences through the kernel
    /// programs (TC and XDP) and the reference model, until --packets were
    /// compared. Prints the count, the seeds and the mismatches: none, or the
    /// first one shrunk to a reproducer (and exits non-zero). Needs root.
    Soak(SoakArgs),
    /// setup + build-ebpf, then the benchmarks (release build), all in one run:
    /// kernel ns/packet of every pipeline path against a parse-and-redirect floor
    /// and a minimal stateful NAT floor (BPF_PROG_TEST_RUN); scale (1k..1M live
    /// flows, 10..10,000-rule groups, a 10,000-ENI / 100,000-rule config, a
    /// one-rule change); veth packets per second from the XDP live-frames
    /// generator against the floors and kernel netfilter NAT; iperf3 between host
    /// stacks on the TC and XDP hooks against a veth pair, a bridge and netfilter.
    /// Writes docs/BENCHMARKS.md and docs/benchmarks.svg and prints a summary.
    /// About 10 minutes; --quick takes seconds. Needs root.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// Tiny sizes and one repetition: every scenario in seconds, checked for
    /// correct deliveries; the report goes to target/bench-quick/ unless --out.
    #[arg(long)]
    quick: bool,
    /// Repetitions of every measurement (default 5, or 1 with --quick).
    #[arg(long, value_name = "N")]
    reps: Option<usize>,
    /// Run only these parts (repeatable): kernel, scale, veth, host.
    #[arg(long, value_name = "PART")]
    only: Vec<String>,
    /// Directory for BENCHMARKS.md and benchmarks.svg (default docs/, or
    /// target/bench-quick/ with --quick).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Part 3 (veth) at these flow counts only (repeatable, powers of two):
    /// single rows checked quickly, e.g. `--only veth --reps 1 --pps-flows 1048576`.
    #[arg(long, value_name = "N")]
    pps_flows: Vec<u32>,
}

#[derive(Args)]
struct BuildEbpfArgs {
    /// Build the kernel crate with the dev profile instead of --release.
    #[arg(long)]
    debug: bool,
}

#[derive(Args)]
struct SoakArgs {
    /// Packets to compare (each runs through the kernel and the model).
    #[arg(long, default_value_t = 1_000_000)]
    packets: u64,
    /// Master seed (decimal or 0x-hex): the same seed replays the same
    /// topologies and packets. Default: a fresh one, printed.
    #[arg(long)]
    seed: Option<String>,
}

#[derive(Args)]
struct DemoArgs {
    /// Topology file (TOML) passed to `dataplane demo --config FILE`; without it
    /// the agent uses its embedded default topology.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Ctrl-C reaches the whole foreground process group: let the child (the agent,
    // cargo test) handle it and clean up while we wait for it to finish, instead of
    // returning to the shell while it still tears down. A handler (unlike SIG_IGN)
    // is reset to the default in exec'd children.
    proc::forward_interrupts();
    let result = match cli.command {
        Command::Setup => setup::run(),
        Command::BuildEbpf(a) => ebpf::build(a.debug).map(|_| ()),
        Command::Build => build(),
        Command::Demo(a) => return demo(a),
        Command::Test => test(),
        Command::Soak(a) => soak(a),
        Command::Bench(a) => bench(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Root of the host workspace (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Target directory of the host workspace (honours CARGO_TARGET_DIR).
pub fn host_target_dir() -> PathBuf {
    let ws = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => ws.join(d),
        _ => ws.join("target"),
    }
}

fn require_root(what: &str) -> Result<()> {
    if !proc::is_root() {
        bail!(
            "`cargo xtask {what}` must run as root (it installs packages, mounts bpffs and \
             creates network namespaces); run it again from a root shell"
        );
    }
    Ok(())
}

fn build() -> Result<()> {
    require_root("build")?;
    setup::run()?;
    ebpf::build(false)?;
    build_agent()
}

fn build_agent() -> Result<()> {
    cargo(
        "[build] agent:",
        &["build", "--release", "-p", "dataplane"],
        "building the agent (package `dataplane`) failed; see the compiler errors above",
    )
}

/// `cargo ARGS` with rustup's cargo at the workspace root, announced as
/// `TAG cargo ARGS`; `fix` is what a failure tells the user to do.
fn cargo(tag: &str, args: &[&str], fix: &str) -> Result<()> {
    eprintln!("{tag} cargo {}", args.join(" "));
    let mut cmd = proc::host_cargo();
    cmd.args(args);
    proc::run(&mut cmd, fix)
}

fn demo(args: DemoArgs) -> ExitCode {
    let run = || -> Result<ExitCode> {
        require_root("demo")?;
        if let Some(cfg) = &args.config {
            if !cfg.is_file() {
                bail!(
                    "demo config {} does not exist (give a topology TOML file, e.g. \
                     configs/default.toml)",
                    cfg.display()
                );
            }
        }
        setup::run()?;
        let obj = ebpf::build(false)?;
        build_agent()?;
        let bin = host_target_dir().join("release/dataplane");
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("demo");
        if let Some(cfg) = &args.config {
            cmd.arg("--config").arg(cfg);
        }
        cmd.env("HYPERLAB_EBPF_OBJ", &obj);
        proc::clean_env(&mut cmd);
        eprintln!("[demo] {}", proc::describe(&cmd));
        let status = cmd
            .status()
            .with_context(|| format!("could not start {}", bin.display()))?;
        Ok(proc::exit_code(status))
    };
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn test() -> Result<()> {
    require_root("test")?;
    setup::run()?;

    cargo(
        "[test]",
        &["fmt", "--all", "--", "--check"],
        "formatting check failed: run `cargo fmt --all` and commit the result",
    )?;
    cargo(
        "[test]",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        "clippy reported warnings or errors (listed above); fix them",
    )?;

    let obj = ebpf::build(false)?;

    eprintln!("[test] cargo test --workspace --no-fail-fast -- --include-ignored --test-threads=1");
    let mut cmd = proc::host_cargo();
    // --no-fail-fast: run every test binary, so one report lists every failure.
    cmd.args([
        "test",
        "--workspace",
        "--no-fail-fast",
        "--",
        "--include-ignored",
        "--test-threads=1",
    ]);
    cmd.env("HYPERLAB_EBPF_OBJ", &obj)
        .env("HYPERLAB_MOTO_VENV", setup::moto_venv_dir());
    let (status, totals) = proc::run_test_harness(&mut cmd)?;
    let summary = format!(
        "{} passed, {} failed, {} ignored, {} filtered out in {} test binaries",
        totals.passed, totals.failed, totals.ignored, totals.filtered, totals.suites
    );
    if !status.success() {
        eprintln!("[test] FAILED: {summary}");
        bail!(
            "`cargo test --workspace` failed ({}); the failing tests are listed above",
            proc::describe_status(status)
        );
    }
    eprintln!("[test] ok: fmt, clippy, ebpf object, {summary}");
    Ok(())
}

/// As root: setup, the kernel objects, then `cargo VERB --release -p PKG
/// --bin BIN` for TASK (announced as `[TASK] ...`): returns the data plane's
/// object and that command, for the caller to add to and run.
fn release_tool(
    task: &str,
    verb: &str,
    pkg: &str,
    bin: &str,
) -> Result<(std::path::PathBuf, std::process::Command)> {
    require_root(task)?;
    setup::run()?;
    let obj = ebpf::build(false)?;
    eprintln!("[{task}] cargo {verb} --release -p {pkg} --bin {bin}");
    let mut cmd = proc::host_cargo();
    cmd.args([verb, "--release", "-p", pkg, "--bin", bin]);
    Ok((obj, cmd))
}

fn soak(args: SoakArgs) -> Result<()> {
    let (obj, mut cmd) = release_tool("soak", "run", "hyperlab-tests", "hyperlab-soak")?;
    cmd.args(["--", "--packets", &args.packets.to_string()]);
    if let Some(seed) = &args.seed {
        cmd.args(["--seed", seed]);
    }
    cmd.env("HYPERLAB_EBPF_OBJ", &obj);
    proc::run(
        &mut cmd,
        "the soak found a mismatch (its reproducer is printed above) or could not run",
    )
    .context("differential soak")
}

fn bench(args: BenchArgs) -> Result<()> {
    let (obj, mut cmd) = release_tool("bench", "build", "hyperlab-bench", "hyperlab-bench")?;
    // Part 5 runs each node's agent as its own process, next to the runner.
    cmd.args(["-p", "dataplane", "--bin", "dataplane"]);
    proc::run(
        &mut cmd,
        "building the bench runner failed; see the compiler errors above",
    )?;
    let ws = workspace_root();
    let out = args.out.unwrap_or_else(|| {
        ws.join(if args.quick {
            "target/bench-quick"
        } else {
            "docs"
        })
    });
    let mut line = String::from("cargo xtask bench");
    let mut cmd = std::process::Command::new(host_target_dir().join("release/hyperlab-bench"));
    cmd.current_dir(&ws).arg("--out").arg(&out);
    if args.quick {
        cmd.arg("--quick");
        line.push_str(" --quick");
    }
    if let Some(r) = args.reps {
        cmd.args(["--reps", &r.to_string()]);
        line.push_str(&format!(" --reps {r}"));
    }
    for p in &args.only {
        cmd.args(["--only", p]);
        line.push_str(&format!(" --only {p}"));
    }
    for n in &args.pps_flows {
        cmd.args(["--pps-flows", &n.to_string()]);
        line.push_str(&format!(" --pps-flows {n}"));
    }
    cmd.args(["--command", &line])
        .env("HYPERLAB_EBPF_OBJ", &obj)
        .env("HYPERLAB_BENCH_OBJ", obj.with_file_name("bench-ebpf.o"));
    proc::clean_env(&mut cmd);
    eprintln!("[bench] {}", proc::describe(&cmd));
    proc::run(
        &mut cmd,
        "the bench failed (its error is printed above); everything it created has been removed",
    )
}

#[cfg(test)]
mod tests {
    /// `cargo xtask build` ships the agent without debug info (issue 20,
    /// item 12: it was 58 MB with it).
    #[test]
    fn the_release_profile_ships_no_debug_info() {
        let text = include_str!("../../Cargo.toml");
        let section: Vec<&str> = text
            .split("\n[")
            .find(|s| s.starts_with("profile.release]"))
            .expect("a [profile.release] section")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(
            section,
            ["profile.release]", "debug = 0", "strip = \"debuginfo\""]
        );
    }
}
