//! `cargo xtask build-ebpf`: the kernel crate, built with Debian's rustc.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{proc, setup, workspace_root};

const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const RUST_SRC: &str = "/usr/lib/rustlib/src/rust";
const TARGET: &str = "bpfel-unknown-none";
const LLVM_OBJDUMP: &str = "/usr/lib/llvm-22/bin/llvm-objdump";
const SETUP_HINT: &str = "run `cargo xtask setup` as root first";

/// The kernel crates: (crate directory, cargo bin name, object under `target/`).
/// `bench/ebpf` is not the data plane: the floors, generator and sink of
/// `cargo xtask bench`.
const OBJECTS: &[(&str, &str, &str)] = &[
    ("dataplane-ebpf", "dataplane", "dataplane-ebpf.o"),
    ("bench/ebpf", "bench", "bench-ebpf.o"),
];

/// Build `dataplane-ebpf/` and `bench/ebpf/` and copy their objects to
/// `target/dataplane-ebpf.o` and `target/bench-ebpf.o`; returns the data
/// plane's path (absolute).
pub fn build(debug: bool) -> Result<PathBuf> {
    let ws = workspace_root();
    for (dir, _, _) in OBJECTS {
        if !ws.join(dir).join("Cargo.toml").is_file() {
            bail!(
                "kernel crate not found: {} has no Cargo.toml",
                ws.join(dir).display()
            );
        }
    }
    for (path, what) in [
        (DEBIAN_CARGO, "Debian's cargo (package cargo-web)"),
        (DEBIAN_RUSTC, "Debian's rustc (package rustc-web)"),
        (RUST_SRC, "the Rust core source (package rust-web-src)"),
        (LLVM_OBJDUMP, "llvm-objdump 22 (package llvm-22-dev)"),
    ] {
        if !Path::new(path).exists() {
            bail!("{path} is missing: {what} is needed to build the kernel crate; {SETUP_HINT}");
        }
    }
    let Some((linker, _)) = setup::find_bpf_linker() else {
        bail!(
            "bpf-linker {}.x not found in {} or on PATH; {SETUP_HINT}",
            "0.13",
            proc::cargo_bin_dir().display()
        );
    };

    let target_dir = ws.join("target/ebpf");
    let profile = if debug { "debug" } else { "release" };
    let mut outs = Vec::new();
    for (dir, bin, object) in OBJECTS {
        let mut cmd = Command::new(DEBIAN_CARGO);
        cmd.current_dir(ws.join(dir));
        proc::debian_cargo_env(&mut cmd);
        cmd.args(["build", "--target", TARGET, "-Z", "build-std=core"]);
        if !debug {
            cmd.arg("--release");
        }
        cmd.env("RUSTC", DEBIAN_RUSTC)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", &target_dir)
            // The target's default linker is `bpf-linker` from PATH; name the one
            // setup checked so an older one elsewhere on PATH cannot be picked.
            .env("CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER", &linker);
        eprintln!(
            "[build-ebpf] {} (in {dir}/, RUSTC={DEBIAN_RUSTC} RUSTC_BOOTSTRAP=1)",
            proc::describe(&cmd)
        );
        proc::run(
            &mut cmd,
            &format!(
                "building the kernel crate ({dir}/) failed; see the compiler errors above. \
                 If they are about bpf-linker, the bpfel target or the `core` source rather than \
                 the code, run `cargo xtask setup` as root"
            ),
        )?;

        let built = target_dir.join(TARGET).join(profile).join(bin);
        if !built.is_file() {
            bail!(
                "the kernel build succeeded but produced no {}; the kernel crate must have a \
                 binary named `{bin}` (see {dir}/Cargo.toml)",
                built.display()
            );
        }
        check_no_memcpy(&built)?;
        let out = ws.join("target").join(object);
        std::fs::copy(&built, &out)
            .with_context(|| format!("copying {} to {}", built.display(), out.display()))?;
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        eprintln!(
            "[build-ebpf] ok: {} ({size} bytes, {profile}, no memcpy calls)",
            out.display()
        );
        outs.push(out);
    }
    Ok(outs.swap_remove(0))
}

/// Fail if the object contains `call -1`: a call left to relocation, in practice
/// memcpy/memmove/memset emitted for array copies, which the hot path must not
/// have. Calls inside compiler_builtins' own mem* bodies (present, unoptimised and
/// calling a panic path, in a --debug build) are not counted: they only matter
/// if something calls them, and such a call is itself a `call -1`.
fn check_no_memcpy(obj: &Path) -> Result<()> {
    let mut cmd = Command::new(LLVM_OBJDUMP);
    cmd.arg("-dr").arg(obj);
    let text = proc::output(&mut cmd, "could not disassemble the kernel object")?;
    let bad = unresolved_calls(&text);
    if bad.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = bad
        .iter()
        .map(|c| {
            format!(
                "  in {} at {}: call -1 -> {}",
                c.function, c.offset, c.callee
            )
        })
        .collect();
    bail!(
        "{} contains {} unresolved call(s) (`call -1`, memcpy/memset/memmove that LLVM \
         emits for copying or zero-filling byte arrays, e.g. [u8; 6] MACs or [u8; N] padding \
         in a stack struct):\n{}\nUse explicit u8/u16/u32/u64 fields, loads and stores \
         instead (see `{LLVM_OBJDUMP} -dr {}`)",
        obj.display(),
        bad.len(),
        list.join("\n"),
        obj.display()
    )
}

#[derive(Debug, PartialEq)]
struct BadCall {
    function: String,
    offset: String,
    callee: String,
}

/// compiler_builtins' memory functions, which bpf-linker keeps in `.text`.
const MEM_BUILTINS: &[&str] = &["memcpy", "memmove", "memset", "memcmp", "bcmp"];

fn unresolved_calls(disasm: &str) -> Vec<BadCall> {
    let mut out: Vec<BadCall> = Vec::new();
    let mut function = String::from("?");
    let mut pending = false;
    for line in disasm.lines() {
        let t = line.trim();
        // `0000000000000000 <name>:`
        if let Some(name) = t.strip_suffix(">:").and_then(|s| s.split_once('<')) {
            function = name.1.to_string();
            pending = false;
            continue;
        }
        // relocation line right after the call: `0000000000000048:  R_BPF_64_32  memcpy`
        if pending && t.contains("R_BPF") {
            if let Some(last) = out.last_mut() {
                last.callee = t.split_whitespace().last().unwrap_or("?").to_string();
            }
            pending = false;
            continue;
        }
        pending = false;
        // `      9:  85 10 00 00 ff ff ff ff  call -0x1`
        let Some((offset, rest)) = t.split_once(':') else {
            continue;
        };
        let mut words = rest.split_whitespace().skip_while(|w| *w != "call");
        if words.next() != Some("call") {
            continue;
        }
        if matches!(words.next(), Some("-1") | Some("-0x1"))
            && !MEM_BUILTINS.contains(&function.as_str())
        {
            out.push(BadCall {
                function: function.clone(),
                offset: offset.trim().to_string(),
                callee: "?".into(),
            });
            pending = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_memcpy_calls() {
        let d = "\
Disassembly of section xdp:

0000000000000000 <fabric>:
       0:	bf 16 00 00 00 00 00 00	r6 = r1
       1:	85 00 00 00 01 00 00 00	call 0x1
       2:	85 10 00 00 ff ff ff ff	call -0x1
		0000000000000010:  R_BPF_64_32	memcpy
       3:	85 10 00 00 ff ff ff ff	call -1
       4:	85 10 00 00 f0 ff ff ff	call -0x10
       5:	95 00 00 00 00 00 00 00	exit

0000000000000200 <memmove>:
      63:	85 10 00 00 ff ff ff ff	call -0x1
		00000000000001f8:  R_BPF_64_32	.text.unlikely.
";
        let bad = unresolved_calls(d);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].function, "fabric");
        assert_eq!(bad[0].offset, "2");
        assert_eq!(bad[0].callee, "memcpy");
        assert_eq!(bad[1].callee, "?");
    }
}
