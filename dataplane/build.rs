//! Builds the kernel object the agent embeds (`loader::KernelObject::Embedded`,
//! through `aya::include_bytes_aligned!`), so a `dataplane` binary runs from
//! anywhere: installed with `cargo install --path dataplane` or copied to
//! another machine of this kind.
//!
//! The aya-template way (a build script that builds the kernel crate), with
//! the command of `cargo xtask build-ebpf`: the kernel crate needs Debian's
//! cargo and rustc (`-Z build-std=core` for `bpfel-unknown-none`) and
//! bpf-linker, which `cargo xtask setup` installs (see xtask/src/ebpf.rs).
//! Both build into `target/ebpf/` with the same environment, so whichever
//! runs second finds the object up to date. `xtask build-ebpf` also checks
//! the object for memcpy calls and copies it to `target/dataplane-ebpf.o`.
//!
//! `HYPERLAB_EBPF_EMBED=FILE` embeds FILE (a built `dataplane-ebpf.o`)
//! instead of building, for machines without the kernel toolchain.

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

// `xtask`'s: the same PATH and the same stripped environment.
#[path = "../xtask/src/toolchain_env.rs"]
mod toolchain_env;
use toolchain_env::path_with_cargo_bin;

const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const RUST_SRC: &str = "/usr/lib/rustlib/src/rust";
const TARGET: &str = "bpfel-unknown-none";
const SETUP_HINT: &str = "run `cargo xtask setup` as root (or set HYPERLAB_EBPF_EMBED to a built \
                          dataplane-ebpf.o)";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let ws = manifest
        .parent()
        .expect("dataplane/ is inside the workspace");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("dataplane-ebpf.o");
    println!("cargo:rerun-if-env-changed=HYPERLAB_EBPF_EMBED");
    let built = match env::var_os("HYPERLAB_EBPF_EMBED").filter(|v| !v.is_empty()) {
        Some(file) => {
            let file = PathBuf::from(file);
            println!("cargo:rerun-if-changed={}", file.display());
            file
        }
        None => build_kernel(ws),
    };
    std::fs::copy(&built, &out).unwrap_or_else(|e| {
        panic!(
            "copying the kernel object {} to {}: {e}",
            built.display(),
            out.display()
        )
    });
}

/// Builds `dataplane-ebpf/` (release) as `cargo xtask build-ebpf` does and
/// returns the object's path.
fn build_kernel(ws: &Path) -> PathBuf {
    let crate_dir = ws.join("dataplane-ebpf");
    for p in [
        "src",
        "common/src",
        "Cargo.toml",
        "Cargo.lock",
        "common/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", crate_dir.join(p).display());
    }
    for (path, what) in [
        (DEBIAN_CARGO, "Debian's cargo (package cargo-web)"),
        (DEBIAN_RUSTC, "Debian's rustc (package rustc-web)"),
        (RUST_SRC, "the Rust core source (package rust-web-src)"),
    ] {
        if !Path::new(path).exists() {
            panic!("{path} is missing: {what} is needed to build the kernel object the agent embeds; {SETUP_HINT}");
        }
    }
    let path = path_with_cargo_bin();
    let Some(linker) = env::split_paths(&path)
        .map(|d| d.join("bpf-linker"))
        .find(|p| p.is_file())
    else {
        panic!("bpf-linker not found in $CARGO_HOME/bin or on PATH; {SETUP_HINT}");
    };
    let target_dir = ws.join("target/ebpf");
    let mut cmd = Command::new(DEBIAN_CARGO);
    cmd.current_dir(&crate_dir);
    debian_cargo_env(&mut cmd, path);
    cmd.args([
        "build",
        "--release",
        "--target",
        TARGET,
        "-Z",
        "build-std=core",
    ]);
    if let Ok(jobs) = env::var("NUM_JOBS") {
        cmd.args(["-j", &jobs]);
    }
    cmd.env("RUSTC", DEBIAN_RUSTC)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER", &linker);
    // Cargo reads a build script's stdout for instructions: the kernel
    // build's output goes to stderr.
    cmd.stdout(std::io::stderr());
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run {DEBIAN_CARGO}: {e}; {SETUP_HINT}"));
    if !status.success() {
        panic!(
            "building the kernel crate (dataplane-ebpf/) for the embedded object failed ({status}); \
             see its errors above, or run `cargo xtask build-ebpf` for a readable report"
        );
    }
    target_dir.join(TARGET).join("release/dataplane")
}

/// What `xtask`'s `proc::debian_cargo_env` strips: everything rustup and
/// the outer cargo (or clippy) set, so Debian's cargo and rustc see none of
/// it; registry, network and terminal settings and CARGO_HOME are kept.
fn debian_cargo_env(cmd: &mut Command, path: OsString) {
    toolchain_env::strip_outer_cargo_env(cmd);
    // What cargo sets for this build script only. The kernel crate's
    // dependencies rebuild when some of them change (aya-build watches
    // HOST), so they must be absent as they are under `xtask build-ebpf`.
    for k in [
        "HOST",
        "TARGET",
        "OUT_DIR",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
        "NUM_JOBS",
    ] {
        cmd.env_remove(k);
    }
    // Cargo points it at the host build's libraries, which Debian's
    // toolchain must not pick up.
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd.env("PATH", path);
}
