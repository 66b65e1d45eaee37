//! `cargo xtask setup`: install what is missing, idempotently.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::proc;

/// Debian 12 packages (bookworm + bookworm-security): Debian's Rust with the BPF
/// target and `core` source, LLVM 22 for bpf-linker, and the lab's tools.
pub const DEBIAN_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "llvm-22-dev",
    "libpolly-22-dev",
    "zlib1g-dev",
    "libzstd-dev",
    "libxml2-dev",
    "iproute2",
    "iputils-ping",
    "iperf3",
    "curl",
    "nginx-light",
    "ethtool",
    "conntrack",
    "tcpdump",
    "iptables",
    "nftables",
    "python3",
    // The moto venv (`python3 -m venv`, below).
    "python3-venv",
    "bpftool",
    // The bench's profiles (perf record -e cpu-clock).
    "linux-perf",
];

pub const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";

pub fn run() -> Result<()> {
    if !proc::is_root() {
        bail!(
            "`cargo xtask setup` must run as root (apt-get install, mount -t bpf, /run/netns); \
             run it again from a root shell"
        );
    }
    let start = Instant::now();
    debian_packages()?;
    bpf_linker()?;
    bpffs()?;
    netns_dir()?;
    moto_venv()?;
    eprintln!("[setup] done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn step(name: &str, msg: &str) {
    eprintln!("[setup] {name} ... {msg}");
}

/// Packages from `list` not in state "install ok installed".
fn missing_packages(list: &[&str]) -> Result<Vec<String>> {
    // dpkg-query exits 1 (and complains on stderr) when some package is unknown
    // to dpkg; what it prints for the others is still right.
    let out = Command::new("dpkg-query")
        .arg("-W")
        .arg("-f=${Package}\t${Status}\n")
        .args(list)
        .stderr(Stdio::null())
        .output()
        .context(
            "could not run `dpkg-query` (is this a Debian machine? hyperlab expects Debian 12)",
        )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let installed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, status)| status.trim() == "install ok installed")
        .map(|(pkg, _)| pkg.split(':').next().unwrap_or(pkg))
        .collect();
    Ok(list
        .iter()
        .filter(|p| !installed.contains(p))
        .map(|p| p.to_string())
        .collect())
}

fn debian_packages() -> Result<()> {
    const NAME: &str = "debian packages";
    let missing = missing_packages(DEBIAN_PACKAGES)?;
    if missing.is_empty() {
        step(
            NAME,
            &format!("ok (already present: {} packages)", DEBIAN_PACKAGES.len()),
        );
        return Ok(());
    }
    step(NAME, &format!("installing {}", missing.join(" ")));
    let fix = "check the network and the apt sources (bookworm and bookworm-security), \
               then run `cargo xtask setup` again";
    let mut update = Command::new("apt-get");
    update
        .args(["-q", "update"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    proc::run(&mut update, fix)?;
    let mut install = Command::new("apt-get");
    install
        .args(["-q", "install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    proc::run(&mut install, fix)?;
    let still = missing_packages(DEBIAN_PACKAGES)?;
    if !still.is_empty() {
        bail!(
            "apt-get finished but these packages are still not installed: {}; {fix}",
            still.join(" ")
        );
    }
    step(NAME, &format!("ok (installed {})", missing.len()));
    Ok(())
}

/// `Some(version)` if a bpf-linker runs and reports one.
fn bpf_linker_version(path: &Path) -> Option<String> {
    let out = Command::new(path)
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .map(str::to_string)
        .filter(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit()))
}

fn version_ok(v: &str) -> bool {
    v == "0.13" || v.starts_with("0.13.")
}

/// Path of a working bpf-linker 0.13.x, if any (`$CARGO_HOME/bin` first).
pub fn find_bpf_linker() -> Option<(std::path::PathBuf, String)> {
    let path = proc::find_program("bpf-linker")?;
    let v = bpf_linker_version(&path)?;
    version_ok(&v).then_some((path, v))
}

fn bpf_linker() -> Result<()> {
    const NAME: &str = "bpf-linker";
    if let Some((path, v)) = find_bpf_linker() {
        step(
            NAME,
            &format!("ok (already present: {v} at {})", path.display()),
        );
        return Ok(());
    }
    let found = proc::find_program("bpf-linker")
        .map(|p| match bpf_linker_version(&p) {
            Some(v) => format!(" (found {v} at {}, replacing it)", p.display()),
            None => format!(" (found {} but it does not run, replacing it)", p.display()),
        })
        .unwrap_or_default();
    step(
        NAME,
        &format!("installing {BPF_LINKER_VERSION} for LLVM 22 with cargo install{found}"),
    );
    if !Path::new(LLVM_PREFIX).join("bin/llvm-config").exists() {
        bail!("{LLVM_PREFIX}/bin/llvm-config is missing: package llvm-22-dev must be installed first (run `cargo xtask setup` as root)");
    }
    let mut cmd = Command::new(proc::rustup_cargo());
    // Outside the workspace: this is a registry install, not a workspace build.
    cmd.current_dir(std::env::temp_dir());
    proc::clean_env(&mut cmd);
    cmd.args([
        "install",
        "bpf-linker",
        "--version",
        BPF_LINKER_VERSION,
        "--locked",
        "--force",
        "--no-default-features",
        "--features",
        "llvm-22",
    ])
    // Both are needed: without LLVM_PREFIX the build script takes the first
    // llvm-config on PATH (LLVM 14 on Debian 12) and the link fails.
    .env("LLVM_PREFIX", LLVM_PREFIX)
    .env("LLVM_SYS_221_PREFIX", LLVM_PREFIX)
    .env("PATH", proc::path_with_cargo_bin());
    proc::run(
        &mut cmd,
        "installing bpf-linker failed; check that llvm-22-dev, libpolly-22-dev, zlib1g-dev, \
         libzstd-dev and libxml2-dev are installed and crates.io is reachable, then run \
         `cargo xtask setup` again",
    )?;
    match find_bpf_linker() {
        Some((path, v)) => {
            step(NAME, &format!("ok (installed {v} at {})", path.display()));
            Ok(())
        }
        None => bail!(
            "cargo install finished but no bpf-linker 0.13.x runs from {} or PATH",
            proc::cargo_bin_dir().display()
        ),
    }
}

fn bpffs_mounted() -> Result<bool> {
    let mounts = std::fs::read_to_string("/proc/mounts").context("reading /proc/mounts")?;
    Ok(mounts.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 3 && f[1] == "/sys/fs/bpf" && f[2] == "bpf"
    }))
}

fn bpffs() -> Result<()> {
    const NAME: &str = "bpffs at /sys/fs/bpf";
    if bpffs_mounted()? {
        step(NAME, "ok (already mounted)");
        return Ok(());
    }
    std::fs::create_dir_all("/sys/fs/bpf").context("creating /sys/fs/bpf")?;
    let mut cmd = Command::new("mount");
    cmd.args(["-t", "bpf", "bpf", "/sys/fs/bpf"]);
    proc::run(
        &mut cmd,
        "could not mount bpffs; the kernel needs CONFIG_BPF_SYSCALL and this must run as root \
         in the initial mount namespace",
    )?;
    if !bpffs_mounted()? {
        bail!("`mount -t bpf bpf /sys/fs/bpf` succeeded but /proc/mounts shows no bpf mount there");
    }
    step(NAME, "ok (mounted now)");
    Ok(())
}

fn netns_dir() -> Result<()> {
    const NAME: &str = "/run/netns";
    let dir = Path::new("/run/netns");
    if dir.is_dir() {
        step(NAME, "ok (already present)");
        return Ok(());
    }
    std::fs::create_dir_all(dir).context("creating /run/netns")?;
    step(NAME, "ok (created)");
    Ok(())
}

/// What the moto-driven tests need (`pip install` arguments): moto's
/// server, and boto3 for the scripts that build, dump and change its state.
pub const MOTO_REQUIREMENTS: &[&str] = &["moto[server]>=5.2", "boto3"];

/// The virtual environment the moto-driven tests run moto and boto3 from:
/// `target/moto-venv` (the test reads `HYPERLAB_MOTO_VENV`, which `cargo
/// xtask test` sets to it, else this very path).
pub fn moto_venv_dir() -> std::path::PathBuf {
    crate::host_target_dir().join("moto-venv")
}

/// `Some("moto X, boto3 Y")` if the venv at `dir` has moto 5.2 or newer with
/// its server, and boto3.
fn moto_venv_versions(dir: &Path) -> Option<String> {
    // Package metadata only (importing moto takes seconds); flask and
    // flask-cors are what the `server` extra adds. -I: not the current
    // directory's modules.
    let check = "import importlib.metadata as m\n\
                 v = m.version('moto')\n\
                 assert tuple(int(x) for x in v.split('.')[:2]) >= (5, 2), v\n\
                 m.version('flask'), m.version('flask-cors')\n\
                 print('moto', v + ', boto3', m.version('boto3'))";
    let out = Command::new(dir.join("bin/python"))
        .args(["-I", "-c", check])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && dir.join("bin/moto_server").is_file()).then_some(text)
}

fn moto_venv() -> Result<()> {
    const NAME: &str = "moto venv";
    let dir = moto_venv_dir();
    if let Some(v) = moto_venv_versions(&dir) {
        step(
            NAME,
            &format!("ok (already present: {v} in {})", dir.display()),
        );
        return Ok(());
    }
    step(
        NAME,
        &format!(
            "installing {} into {} with pip",
            MOTO_REQUIREMENTS.join(" "),
            dir.display()
        ),
    );
    if !dir.join("bin/python").is_file() {
        let mut venv = Command::new("python3");
        venv.args(["-m", "venv"]).arg(&dir);
        proc::run(
            &mut venv,
            "`python3 -m venv` failed; Debian's python3-venv package provides it (run \
             `cargo xtask setup` as root to install it)",
        )?;
    }
    let mut pip = Command::new(dir.join("bin/pip"));
    pip.args(["install", "--disable-pip-version-check", "-q"])
        .args(MOTO_REQUIREMENTS);
    proc::run(
        &mut pip,
        &format!(
            "pip could not install {} (its error is above); check that PyPI \
             (https://pypi.org) is reachable, or point PIP_INDEX_URL at a mirror, then run \
             `cargo xtask setup` again (remove {} if it is broken)",
            MOTO_REQUIREMENTS.join(" "),
            dir.display()
        ),
    )?;
    match moto_venv_versions(&dir) {
        Some(v) => {
            step(NAME, &format!("ok (installed {v})"));
            Ok(())
        }
        None => bail!(
            "pip finished but {}/bin/python cannot import moto 5.2 or newer with its server \
             and boto3; remove {} and run `cargo xtask setup` again",
            dir.display(),
            dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_0_13() {
        assert!(version_ok("0.13.0"));
        assert!(version_ok("0.13.2"));
        assert!(!version_ok("0.12.1"));
        assert!(!version_ok("0.130.0"));
    }
}
