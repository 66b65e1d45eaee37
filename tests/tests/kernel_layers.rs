//! The kernel crate's module layering (dataplane-ebpf/src/pipeline.rs,
//! docs/ARCHITECTURE.md): a module imports only from layers below its own,
//! so the packet's path has no cycles and a stage never reaches up into the
//! pipeline that calls it. This test reads every `crate::` path in the
//! kernel sources and fails on an upward or sideways arrow, or on a module
//! that has no layer yet.

use std::{collections::BTreeSet, fs, path::PathBuf};

/// Every kernel module and its layer, bottom (0) to top. A new stage sits
/// between `forward` (which it ends with) and `pipeline` (which calls it),
/// like `privatelink`; a new helper a stage needs sits with `flow`/`sg`.
const LAYERS: &[(&str, u32)] = &[
    ("maps", 0),
    ("explain", 1),
    ("counters", 2),
    ("packet", 2),
    ("parse", 3),
    ("events", 4),
    ("arp", 5),
    ("flow", 5),
    ("rewrite", 5),
    ("reset", 5),
    ("sg", 5),
    ("nacl", 5),
    ("route", 5),
    ("tunnel", 5),
    ("forward", 6),
    ("privatelink", 7),
    ("gateway", 7),
    ("nat_gateway", 7),
    ("icmp_error", 7),
    ("pipeline", 8),
    ("main", 9),
];

fn layer(module: &str) -> u32 {
    LAYERS
        .iter()
        .find(|(m, _)| *m == module)
        .unwrap_or_else(|| {
            panic!(
                "kernel module `{module}` has no layer: add it to LAYERS in {} \
                 (and to the layering note in dataplane-ebpf/src/pipeline.rs)",
                file!()
            )
        })
        .1
}

/// The top-level modules a source file names through `crate::`, in `use`
/// trees (`use crate::{a, b::{c, d}}`) and inline paths (`crate::maps::X`).
fn crate_imports(src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = src;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(tree) = rest.strip_prefix('{') {
            // Top-level items of the braced tree: split at depth-0 commas.
            let mut depth = 0;
            let mut item = String::new();
            for c in tree.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push_head(&mut out, &item);
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            push_head(&mut out, &item);
        } else {
            push_head(&mut out, rest);
        }
    }
    out
}

/// Adds the leading identifier of `path` (`flow::{self, Hop}` -> `flow`).
fn push_head(out: &mut BTreeSet<String>, path: &str) {
    let head: String = path
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if !head.is_empty() {
        out.insert(head);
    }
}

#[test]
fn kernel_modules_import_only_downwards() {
    let src = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dataplane-ebpf/src"
    ));
    let mut files: Vec<PathBuf> = fs::read_dir(&src)
        .expect("kernel sources")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    assert!(files.len() >= LAYERS.len(), "found {files:?}");
    let mut wrong = Vec::new();
    for f in &files {
        let module = f.file_stem().unwrap().to_str().unwrap();
        let own = layer(module);
        let text = fs::read_to_string(f).unwrap();
        for dep in crate_imports(&text) {
            if layer(&dep) >= own {
                wrong.push(format!(
                    "{module} (layer {own}) imports {dep} (layer {})",
                    layer(&dep)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward or sideways kernel imports:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn import_reader_sees_trees_and_inline_paths() {
    let src = "use crate::{\n    counters, events,\n    flow::{self, Created, Hop},\n    parse::{Headers, ETH_LEN},\n};\nfn f() { crate::maps::SCRATCH.get(0); }";
    let got: Vec<String> = crate_imports(src).into_iter().collect();
    assert_eq!(got, ["counters", "events", "flow", "maps", "parse"]);
}
