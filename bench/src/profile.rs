//! Where a looped test run spends its time: `perf record -e cpu-clock` on
//! the CPU the loop is pinned to (a software clock: these VMs have no
//! hardware counters), then the share of samples per kernel symbol. The
//! JIT-compiled program is one symbol (`bpf_prog_<tag>_<name>`, map lookups
//! the verifier inlines included); hash-map lookups, helpers and the
//! test-run loop itself are their own.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context, Result};

/// One symbol's share of the samples, in percent.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    pub symbol: String,
    pub percent: f64,
}

/// Samples CPU `cpu` with perf while `f` runs (`f` must keep that CPU busy:
/// pin it there). Returns the symbols of at least 1 % of the samples.
pub fn profile<T>(
    cpu: usize,
    out: &Path,
    f: impl FnOnce() -> Result<T>,
) -> Result<(T, Vec<Share>)> {
    let mut perf = Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-F", "9999", "-C"])
        .arg(cpu.to_string())
        .arg("-o")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context(
            "starting `perf record` (Debian package linux-perf; `cargo xtask setup` installs it)",
        )?;
    // perf opens its events before it samples; a loop that started first
    // would only lose samples, never gain wrong ones.
    std::thread::sleep(Duration::from_millis(300));
    let r = f();
    stop(&mut perf)?;
    let v = r?;
    let report = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "sym",
            "--percent-limit",
            "1",
            "-i",
        ])
        .arg(out)
        .output()
        .context("running `perf report`")?;
    let _ = std::fs::remove_file(out);
    if !report.status.success() {
        bail!(
            "perf report failed: {}",
            String::from_utf8_lossy(&report.stderr).trim()
        );
    }
    let shares = parse(&String::from_utf8_lossy(&report.stdout));
    if shares.is_empty() {
        bail!("perf recorded no samples on CPU {cpu}");
    }
    Ok((v, shares))
}

/// Stops `perf record` the way Ctrl-C does (it writes its file then).
fn stop(perf: &mut Child) -> Result<()> {
    let pid = nix::unistd::Pid::from_raw(perf.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    let status = perf.wait().context("waiting for perf record")?;
    // perf writes its file on SIGINT, then may end by that signal.
    let interrupted = std::os::unix::process::ExitStatusExt::signal(&status) == Some(2);
    if !status.success() && !interrupted && status.code() != Some(130) {
        let mut err = String::new();
        if let Some(mut e) = perf.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        bail!("perf record failed ({status}): {}", err.trim());
    }
    Ok(())
}

/// `perf report --stdio --sort sym` lines: "    39.59%  [k] symbol".
pub fn parse(report: &str) -> Vec<Share> {
    report
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let (pct, rest) = l.split_once('%')?;
            let percent: f64 = pct.trim().parse().ok()?;
            // Kernel symbols only: user space on that CPU is other work.
            let symbol = rest.trim().strip_prefix("[k]")?;
            Some(Share {
                symbol: name(symbol.trim()),
                percent,
            })
        })
        .collect()
}

/// A JIT-compiled program's symbol without its tag.
fn name(symbol: &str) -> String {
    match symbol.strip_prefix("bpf_prog_") {
        Some(rest) => match rest.split_once('_') {
            Some((tag, prog)) if tag.len() == 16 => format!("program {prog} (JIT code)"),
            _ => symbol.to_string(),
        },
        None => symbol.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_perf_report_lines_and_names_programs() {
        let r = "# Samples: 4K of event 'cpu-clock'\n#\n    39.59%  [k] bpf_prog_ede68b57654884f6_hyperlab_xdp\n     2.62%  [k] __pi_memcpy\n     1.50%  [.] core::ptr::drop_in_place\n\n#\n";
        assert_eq!(
            parse(r),
            vec![
                Share {
                    symbol: "program hyperlab_xdp (JIT code)".into(),
                    percent: 39.59
                },
                Share {
                    symbol: "__pi_memcpy".into(),
                    percent: 2.62
                },
            ]
        );
    }
}
