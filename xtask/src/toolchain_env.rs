//! The toolchain environment both `xtask` (as `proc`'s) and the agent's
//! build script (`dataplane/build.rs`, through `#[path]`) give Debian's cargo
//! and rustc: `$CARGO_HOME/bin` on PATH, and none of what rustup and the
//! outer cargo set.

use std::{ffi::OsString, path::PathBuf, process::Command};

pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// `$CARGO_HOME/bin` (default `~/.cargo/bin`): rustup's proxies and bpf-linker.
pub fn cargo_bin_dir() -> PathBuf {
    match std::env::var_os("CARGO_HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h).join("bin"),
        _ => home_dir().join(".cargo/bin"),
    }
}

/// PATH with `$CARGO_HOME/bin` at the front (added only if missing).
pub fn path_with_cargo_bin() -> OsString {
    let bin = cargo_bin_dir();
    let old = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&old).collect();
    if !dirs.iter().any(|d| d == &bin) {
        dirs.insert(0, bin);
    }
    std::env::join_paths(dirs).unwrap_or(old)
}

/// Removes from `cmd`'s environment everything rustup and the outer cargo
/// (or clippy) set: toolchain selection, compiler/wrapper overrides, flags,
/// build configuration and the variables cargo sets for the program it
/// runs. User-level registry, network, HTTP and terminal settings and
/// CARGO_HOME are kept.
pub fn strip_outer_cargo_env(cmd: &mut Command) {
    const KEEP_PREFIXES: &[&str] = &[
        "CARGO_HOME",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        let strip = k.starts_with("RUSTUP_")
            || k == "RUST_RECURSION_COUNT"
            || k.starts_with("RUSTC")
            || k.starts_with("RUSTDOC")
            || k == "RUSTFLAGS"
            || k.starts_with("__CARGO")
            || (k.starts_with("CARGO") && !KEEP_PREFIXES.iter().any(|p| k.starts_with(p)));
        if strip {
            cmd.env_remove(k);
        }
    }
}
