//! Running child processes: which cargo, which environment, readable errors.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};

use anyhow::{bail, Context, Result};

use crate::workspace_root;

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

extern "C" fn on_interrupt(_sig: libc::c_int) {}

/// Survive SIGINT/SIGTERM while a child runs; the child gets the default
/// disposition back on exec and decides for itself.
pub fn forward_interrupts() {
    let handler: extern "C" fn(libc::c_int) = on_interrupt;
    // SAFETY: installing an async-signal-safe no-op handler.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}

pub use crate::toolchain_env::{cargo_bin_dir, home_dir, path_with_cargo_bin};

/// Look `name` up in `$CARGO_HOME/bin` first, then on PATH.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = path_with_cargo_bin();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The rustup cargo: the one that launched `cargo xtask` (CARGO), else
/// `$CARGO_HOME/bin/cargo`, else `cargo` on PATH.
pub fn rustup_cargo() -> OsString {
    if let Some(c) = std::env::var_os("CARGO").filter(|c| !c.is_empty()) {
        return c;
    }
    find_program("cargo")
        .map(PathBuf::into_os_string)
        .unwrap_or_else(|| "cargo".into())
}

/// A rustup-cargo command run at the workspace root.
pub fn host_cargo() -> Command {
    let mut cmd = Command::new(rustup_cargo());
    cmd.current_dir(workspace_root());
    clean_env(&mut cmd);
    cmd
}

/// Remove what `cargo run` set for the xtask binary itself: its package
/// variables and the LD_LIBRARY_PATH entries pointing at our target directory
/// and the rustup toolchain's libraries.
pub fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || matches!(
                k,
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(k);
        }
    }
    match cleaned_ld_library_path() {
        Some(v) => cmd.env("LD_LIBRARY_PATH", v),
        None => cmd.env_remove("LD_LIBRARY_PATH"),
    };
}

fn cleaned_ld_library_path() -> Option<OsString> {
    let old = std::env::var_os("LD_LIBRARY_PATH")?;
    let target = workspace_root().join("target");
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir().join(".rustup"));
    let kept: Vec<PathBuf> = std::env::split_paths(&old)
        .filter(|p| {
            !p.as_os_str().is_empty()
                && !p.starts_with(&target)
                && !p.starts_with(&rustup_home)
                && !p.to_string_lossy().contains("/.rustup/")
        })
        .collect();
    if kept.is_empty() {
        None
    } else {
        std::env::join_paths(kept).ok()
    }
}

/// Strip everything rustup and the outer cargo put in the environment so that
/// Debian's `/usr/bin/cargo` and `/usr/bin/rustc` see none of it: toolchain
/// selection, compiler/wrapper overrides, flags, build configuration and the
/// variables cargo sets for the program it runs. User-level registry, network,
/// HTTP and terminal settings and CARGO_HOME are kept.
pub fn debian_cargo_env(cmd: &mut Command) {
    crate::toolchain_env::strip_outer_cargo_env(cmd);
    match cleaned_ld_library_path() {
        Some(v) => cmd.env("LD_LIBRARY_PATH", v),
        None => cmd.env_remove("LD_LIBRARY_PATH"),
    };
    cmd.env("PATH", path_with_cargo_bin());
}

/// `prog arg arg` for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&quote(a));
    }
    s
}

fn quote(a: &OsStr) -> String {
    let s = a.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:,@+%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// Exit code mirroring a child's status (128 + signal when killed).
pub fn exit_code(status: ExitStatus) -> ExitCode {
    match (status.code(), status.signal()) {
        (Some(c), _) => ExitCode::from(c.clamp(0, 255) as u8),
        (None, Some(sig)) => ExitCode::from((128 + sig).clamp(0, 255) as u8),
        _ => ExitCode::FAILURE,
    }
}

/// Run to completion with inherited stdio; on failure say which command failed
/// and `fix` (what to do about it).
pub fn run(cmd: &mut Command, fix: &str) -> Result<()> {
    let line = describe(cmd);
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({}): {fix}", describe_status(status));
    }
    Ok(())
}

/// Run and capture stdout (stderr inherited); fail like [`run`].
pub fn output(cmd: &mut Command, fix: &str) -> Result<String> {
    let line = describe(cmd);
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !out.status.success() {
        bail!("`{line}` failed ({}): {fix}", describe_status(out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[derive(Default, Debug)]
pub struct TestTotals {
    pub suites: u64,
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    pub filtered: u64,
}

/// Run `cargo test`, echoing its stdout while adding up the harness's
/// `test result:` lines.
pub fn run_test_harness(cmd: &mut Command) -> Result<(ExitStatus, TestTotals)> {
    let line = describe(cmd);
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{line}`"))?;
    let mut totals = TestTotals::default();
    let stdout = child.stdout.take().expect("piped stdout");
    let mut out = std::io::stdout().lock();
    for l in BufReader::new(stdout).split(b'\n') {
        let l = l.context("reading cargo test output")?;
        out.write_all(&l)?;
        out.write_all(b"\n")?;
        out.flush()?;
        add_result_line(&String::from_utf8_lossy(&l), &mut totals);
    }
    drop(out);
    let status = child
        .wait()
        .with_context(|| format!("waiting for `{line}`"))?;
    Ok((status, totals))
}

/// `test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; ...`
fn add_result_line(line: &str, t: &mut TestTotals) {
    let Some(rest) = line.trim().strip_prefix("test result: ") else {
        return;
    };
    t.suites += 1;
    for part in rest.split(';') {
        let mut words = part.split_whitespace().rev();
        // Last two words of each part: `<n> passed`, `<n> filtered out`, ...
        let (Some(last), Some(prev)) = (words.next(), words.next()) else {
            continue;
        };
        let (n, what) = if last == "out" {
            (words.next(), "filtered")
        } else {
            (Some(prev), last)
        };
        let Some(n) = n.and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        match what {
            "passed" => t.passed += n,
            "failed" => t.failed += n,
            "ignored" => t.ignored += n,
            "filtered" => t.filtered += n,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_harness_summary() {
        let mut t = TestTotals::default();
        add_result_line(
            "test result: ok. 3 passed; 1 failed; 2 ignored; 0 measured; 4 filtered out; finished in 0.01s",
            &mut t,
        );
        add_result_line(
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
            &mut t,
        );
        add_result_line("running 3 tests", &mut t);
        assert_eq!(
            (t.suites, t.passed, t.failed, t.ignored, t.filtered),
            (2, 4, 1, 2, 4)
        );
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote(OsStr::new("--release")), "--release");
        assert_eq!(quote(OsStr::new("a b")), "'a b'");
    }
}
