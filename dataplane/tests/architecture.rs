//! The architecture's arrows, checked from the source (docs/ARCHITECTURE.md):
//!
//! - the kernel crate never depends on the agent;
//! - the pure parts (`config`, `model`, `compile`, `delta`, and whatever they
//!   use) never use aya, netlink, tokio, the lab or the loader;
//! - `lab` and `loader` do not know each other;
//! - `metrics` and `stats` (readers) never reach a part that writes maps;
//! - the agent's modules import each other without a cycle (the kernel
//!   crate's modules are layered, which is stricter: tests/tests/kernel_layers.rs).
//!
//! Each check reads the files, blanks comments and string literals, drops
//! `#[cfg(test)]` items (a test may build a lab to check a pure function)
//! and collects the paths each module names: `crate::x` (an arrow to module
//! `x`) and the first segment of every other path (`aya::maps`: the crate
//! `aya`). A failure lists every offending `FILE:LINE: code`.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

/// The agent's pure parts: topology in, map entries out (and `import`,
/// AWS's state in, a config out).
const PURE: &[&str] = &["config", "model", "compile", "delta", "import"];
/// What a pure part (or anything it uses) may never name.
const PURE_NEVER: &[&str] = &[
    "aya",
    "aya_log",
    "aya_obj",
    "rtnetlink",
    "netlink_packet_route",
    "netlink_packet_core",
    "netlink_sys",
    "netlink_proto",
    "tokio",
    "crate::lab",
    "crate::loader",
    "crate::netns",
    "crate::agent",
];
/// The parts that write the kernel's maps: the loader fills them, the
/// conntrack sweeper removes flows, the agent rewrites Maglev tables and
/// ends flows on health changes.
const MAP_WRITERS: &[&str] = &["crate::loader", "crate::conntrack", "crate::agent"];
/// Readers of the maps: never a writer, even through another module.
const READERS: &[&str] = &["metrics", "stats"];

/// One path a module names, where.
#[derive(Clone, Debug)]
struct Ref {
    /// `crate::x` for a module of this crate, else the first segment.
    target: String,
    file: PathBuf,
    line: usize,
}

/// Modules by name (a file `x.rs` or a folder `x/`), and what each names.
#[derive(Default)]
struct Crate {
    refs: BTreeMap<String, Vec<Ref>>,
    /// The lines of every file, to quote offenders.
    lines: BTreeMap<PathBuf, Vec<String>>,
}

impl Crate {
    /// Reads `src` (a crate's `src/`): every `.rs` file except the crate
    /// roots, grouped by top-level module.
    fn read(src: &Path) -> Crate {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let mut sources = Vec::new();
        for f in files {
            let rel = f.strip_prefix(src).unwrap();
            let first = rel.components().next().unwrap().as_os_str();
            let module = Path::new(first)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.components().count() == 1 && ["lib", "main"].contains(&module.as_str()) {
                continue;
            }
            let text = fs::read_to_string(&f).unwrap();
            sources.push((module, f, text));
        }
        Crate::from_sources(sources)
    }

    fn from_sources(sources: Vec<(String, PathBuf, String)>) -> Crate {
        let mut c = Crate::default();
        for (module, file, text) in sources {
            let code = without_test_items(&blank_comments_and_strings(&text));
            let refs = c.refs.entry(module.clone()).or_default();
            for (target, line) in path_roots(&code) {
                if target == format!("crate::{module}") {
                    continue;
                }
                refs.push(Ref {
                    target,
                    file: file.clone(),
                    line,
                });
            }
            c.lines
                .insert(file, text.lines().map(str::to_string).collect());
        }
        c
    }

    /// Module `m`'s arrows to other modules of the crate.
    fn deps(&self, m: &str) -> BTreeSet<String> {
        self.refs
            .get(m)
            .into_iter()
            .flatten()
            .filter_map(|r| r.target.strip_prefix("crate::"))
            .filter(|d| self.refs.contains_key(*d))
            .map(str::to_string)
            .collect()
    }

    /// Every module `from` uses, directly or not, with the chain that
    /// reaches it (`from` itself included, with an empty chain).
    fn reach(&self, from: &str) -> BTreeMap<String, Vec<String>> {
        let mut seen = BTreeMap::from([(from.to_string(), vec![from.to_string()])]);
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for d in self.deps(&m) {
                if !seen.contains_key(&d) {
                    let mut chain = seen[&m].clone();
                    chain.push(d.clone());
                    seen.insert(d.clone(), chain);
                    todo.push(d);
                }
            }
        }
        seen
    }

    fn quote(&self, r: &Ref) -> String {
        let text = self
            .lines
            .get(&r.file)
            .and_then(|l| l.get(r.line - 1))
            .map(|l| l.trim())
            .unwrap_or("");
        let file = r.file.strip_prefix(repo()).unwrap_or(&r.file);
        format!("{}:{}: {text}", file.display(), r.line)
    }

    /// Every place where `from` (or a module it uses) names one of
    /// `never`, as `FILE:LINE: code (via a -> b)` lines.
    fn forbidden(&self, from: &str, never: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for (m, chain) in self.reach(from) {
            for r in self.refs.get(&m).into_iter().flatten() {
                if never.contains(&r.target.as_str()) {
                    let via = if chain.len() > 1 {
                        format!(" (via {})", chain.join(" -> "))
                    } else {
                        String::new()
                    };
                    out.push(format!("{}{via}", self.quote(r)));
                }
            }
        }
        out
    }

    /// Fails with `what` and `module: problem` lines when any of `modules`
    /// (which must exist) reaches one of `never` ([`Self::forbidden`]).
    fn forbid(&self, modules: &[&str], never: &[&str], what: &str) {
        let mut problems = Vec::new();
        for m in modules {
            assert!(self.refs.contains_key(*m), "module {m} not found");
            for f in self.forbidden(m, never) {
                problems.push(format!("{m}: {f}"));
            }
        }
        fail_if_any(what, &problems);
    }

    /// The module cycles (strongly connected components of more than one
    /// module), each with the arrows that close it.
    fn cycles(&self) -> Vec<String> {
        let names: Vec<String> = self.refs.keys().cloned().collect();
        let graph: BTreeMap<String, BTreeSet<String>> =
            names.iter().map(|m| (m.clone(), self.deps(m))).collect();
        let mut out = Vec::new();
        for scc in tarjan(&graph) {
            if scc.len() < 2 {
                continue;
            }
            let mut s = format!(
                "cycle: {}",
                scc.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            for m in &scc {
                for r in self.refs.get(m).into_iter().flatten() {
                    let to = r.target.strip_prefix("crate::").unwrap_or("");
                    if scc.contains(to) {
                        let _ = write!(s, "\n    {m} -> {to}: {}", self.quote(r));
                    }
                }
            }
            out.push(s);
        }
        out
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") && !p.ends_with("tests.rs") {
            // `x/tests.rs` is `#[cfg(test)] mod tests;` of module `x` (a
            // test may build a lab to check a pure function), like the
            // inline `#[cfg(test)]` items blanked below.
            out.push(p);
        }
    }
}

/// The source with comments, string and char literals replaced by spaces
/// (line breaks kept, so lines still count).
fn blank_comments_and_strings(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (i == 0 || !ident(c[i - 1]))
            && matches!(next, Some('"') | Some('#'))
        {
            // r"..." or r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            out.push('r');
            for _ in i + 1..=j {
                out.push(' ');
            }
            i = j + 1;
            while i < c.len() && !c[i..].starts_with(&close) {
                blank(&mut out, c[i]);
                i += 1;
            }
            for _ in 0..close.len().min(c.len() - i) {
                out.push(' ');
            }
            i += close.len();
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' && (next == Some('\\') || c.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime.
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '\'' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// The code without `#[cfg(test)]` items (modules, functions, imports):
/// their lines become empty. Relies on rustfmt's layout: an item that
/// opens a block closes it on a line of its own at the attribute's indent.
fn without_test_items(code: &str) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let mut keep = vec![true; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim();
        if trimmed != "#[cfg(test)]" {
            i += 1;
            continue;
        }
        let indent = &lines[i][..lines[i].len() - lines[i].trim_start().len()];
        let start = i;
        i += 1;
        // Further attributes of the same item.
        while i < lines.len() && lines[i].trim_start().starts_with("#[") {
            i += 1;
        }
        if i < lines.len() && !lines[i].trim_end().ends_with(';') {
            while i < lines.len() && !lines[i].starts_with(&format!("{indent}}}")) {
                i += 1;
            }
        }
        for k in keep.iter_mut().take((i + 1).min(lines.len())).skip(start) {
            *k = false;
        }
        i += 1;
    }
    lines
        .iter()
        .zip(keep)
        .map(|(l, k)| if k { *l } else { "" })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths `code` names, with their line: `crate::x` for this crate's
/// module `x` (also inside `crate::{x, y::z}`), else the first segment of
/// the path (`aya` for `aya::maps::Map`).
fn path_roots(code: &str) -> Vec<(String, usize)> {
    let c: Vec<char> = code.chars().collect();
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut line = 1;
    let mut out = Vec::new();
    let mut i = 0;
    let word_at = |mut j: usize| -> (String, usize) {
        let s = j;
        while j < c.len() && ident(c[j]) {
            j += 1;
        }
        (c[s..j].iter().collect(), j)
    };
    let skip_ws = |mut j: usize| {
        while j < c.len() && c[j].is_whitespace() {
            j += 1;
        }
        j
    };
    while i < c.len() {
        if c[i] == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        let starts_word = ident(c[i]) && (i == 0 || !ident(c[i - 1]));
        if !starts_word {
            i += 1;
            continue;
        }
        let (w, end) = word_at(i);
        // A path's first segment: not after `::`, and followed by `::`.
        // Not a later segment (`a::b`, `Vec::<u8>::new`); a leading `::`
        // (`::aya::maps`) still starts a path.
        let before: Vec<char> = c[..i]
            .iter()
            .rev()
            .copied()
            .skip_while(|ch| ch.is_whitespace())
            .take(3)
            .collect();
        let later_segment = before.len() >= 2
            && before[0] == ':'
            && before[1] == ':'
            && before
                .get(2)
                .is_some_and(|&ch| ident(ch) || ch == '>' || ch == ')');
        let after = skip_ws(end);
        let is_root =
            !later_segment && c.get(after) == Some(&':') && c.get(after + 1) == Some(&':');
        if !is_root || w.chars().next().is_some_and(|ch| ch.is_ascii_digit()) {
            i = end;
            continue;
        }
        if w != "crate" {
            out.push((w, line));
            i = end;
            continue;
        }
        let j = skip_ws(after + 2);
        if c.get(j) == Some(&'{') {
            // crate::{a, b::{c, d}, e}: the modules are the first word of
            // each item at depth 1.
            let mut depth = 1;
            let mut k = j + 1;
            let mut l = line;
            let mut expect = true;
            while k < c.len() && depth > 0 {
                match c[k] {
                    '\n' => {
                        l += 1;
                        k += 1;
                    }
                    '{' => {
                        depth += 1;
                        k += 1;
                    }
                    '}' => {
                        depth -= 1;
                        k += 1;
                    }
                    ',' if depth == 1 => {
                        expect = true;
                        k += 1;
                    }
                    ch if ident(ch) && depth == 1 && expect => {
                        let (m, e) = word_at(k);
                        if m != "self" {
                            out.push((format!("crate::{m}"), l));
                        }
                        expect = false;
                        k = e;
                    }
                    _ => k += 1,
                }
            }
            i = k;
            line = l;
        } else {
            let (m, e) = word_at(j);
            if !m.is_empty() {
                out.push((format!("crate::{m}"), line));
            }
            i = e;
        }
    }
    out
}

/// Tarjan's strongly connected components.
fn tarjan(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct St<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(s: &mut St<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        for w in &s.g[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                scc.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            s.out.push(scc);
        }
    }
    let mut s = St {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn agent() -> Crate {
    Crate::read(&repo().join("dataplane/src"))
}

fn fail_if_any(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}:\n{}\n(see docs/ARCHITECTURE.md)",
        problems.join("\n")
    );
}

// ---- the rules -------------------------------------------------------

/// The most lines a source file may have (issue 15: "no source file over
/// ~1,200 lines, tests included"): a file that grows past it is split by
/// what it holds, as `explain/acl_route.rs` and `stages_nacl_routes.rs` were.
const MAX_LINES: usize = 1_250;

/// Every `.rs` file of the workspace's crates, tests included, with its
/// line count, the longest first.
fn source_sizes() -> Vec<(usize, String)> {
    let mut sizes = Vec::new();
    for dir in ["dataplane", "dataplane-ebpf", "tests", "bench", "xtask"] {
        let mut stack = vec![repo().join(dir)];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())) {
                let p = e.unwrap().path();
                if p.is_dir() && !p.ends_with("target") {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    let n = fs::read_to_string(&p).unwrap().lines().count();
                    let rel = p.strip_prefix(repo()).unwrap().display().to_string();
                    sizes.push((n, rel));
                }
            }
        }
    }
    sizes.sort_by(|a, b| b.cmp(a));
    sizes
}

#[test]
fn no_source_file_is_over_the_line_limit() {
    let sizes = source_sizes();
    assert!(sizes.len() > 100, "found only {} files", sizes.len());
    let over: Vec<String> = sizes
        .iter()
        .filter(|(n, _)| *n > MAX_LINES)
        .map(|(n, f)| format!("{f}: {n} lines (limit {MAX_LINES})"))
        .collect();
    fail_if_any("source files over the line limit", &over);
}

#[test]
fn the_pure_parts_never_use_aya_netlink_tokio_the_lab_or_the_loader() {
    agent().forbid(
        PURE,
        PURE_NEVER,
        "a pure part names a forbidden crate or module",
    );
}

#[test]
fn the_lab_and_the_loader_do_not_know_each_other() {
    let c = agent();
    let mut problems = c.forbidden("lab", &["crate::loader"]);
    problems.extend(c.forbidden("loader", &["crate::lab"]));
    fail_if_any("lab and loader must not depend on each other", &problems);
}

#[test]
fn readers_never_reach_a_part_that_writes_maps() {
    agent().forbid(
        READERS,
        MAP_WRITERS,
        "a reader of the maps depends on a map writer",
    );
}

#[test]
fn the_agents_modules_have_no_import_cycle() {
    fail_if_any("import cycles between modules", &agent().cycles());
}

#[test]
fn the_kernel_crate_never_depends_on_the_agent() {
    let kernel = repo().join("dataplane-ebpf");
    let mut problems = Vec::new();
    // No dependency on the agent's package in any of its manifests...
    for manifest in [kernel.join("Cargo.toml"), kernel.join("common/Cargo.toml")] {
        let text = fs::read_to_string(&manifest).unwrap();
        let toml: toml::Table = text.parse().unwrap();
        let mut tables: Vec<&toml::Table> = Vec::new();
        for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
            tables.extend(toml.get(key).and_then(|t| t.as_table()));
        }
        for t in toml.get("target").and_then(|t| t.as_table()).into_iter() {
            for (_, cfg) in t {
                for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
                    tables.extend(cfg.get(key).and_then(|t| t.as_table()));
                }
            }
        }
        for deps in tables {
            for (name, spec) in deps {
                let path = spec.get("path").and_then(|p| p.as_str()).unwrap_or("");
                let package = spec.get("package").and_then(|p| p.as_str()).unwrap_or(name);
                if package == "dataplane" || Path::new(path).ends_with("dataplane") {
                    problems.push(format!("{}: depends on {name}", manifest.display()));
                }
            }
        }
    }
    // ... and no path into it from its code.
    for src in [kernel.join("src"), kernel.join("common/src")] {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let text = fs::read_to_string(&f).unwrap();
            let code = blank_comments_and_strings(&text);
            for (root, line) in path_roots(&code) {
                if root == "dataplane" {
                    let quoted = text.lines().nth(line - 1).unwrap_or("").trim();
                    let file = f.strip_prefix(repo()).unwrap_or(&f);
                    problems.push(format!("{}:{line}: {quoted}", file.display()));
                }
            }
        }
    }
    fail_if_any("the kernel crate depends on the agent", &problems);
}

// ---- the checker itself ----------------------------------------------

fn fake(files: &[(&str, &str)]) -> Crate {
    Crate::from_sources(
        files
            .iter()
            .map(|(name, text)| {
                let module = name.split(['/', '.']).next().unwrap().to_string();
                (module, PathBuf::from(name), text.to_string())
            })
            .collect(),
    )
}

#[test]
fn the_checker_reports_file_and_line_of_a_planted_violation() {
    let c = fake(&[
        (
            "compile.rs",
            "//! compile: see crate::loader\nuse std::collections::HashMap;\n\
             use crate::{\n    maglev,\n    model::{Rule, Topology},\n};\n\
             fn f() { let s = \"aya::maps\"; }\n\
             #[cfg(test)]\nmod tests {\n    use crate::lab;\n}\n",
        ),
        ("maglev.rs", "pub fn table() {}\n"),
        (
            "model.rs",
            "use std::time::Duration;\n\n\npub fn x() {\n    let m = aya::maps::Map::x();\n}\n",
        ),
        (
            "config/mod.rs",
            "use super::check;\nuse crate::model::Topology;\n",
        ),
        (
            "config/check.rs",
            "pub fn c() -> tokio::task::JoinHandle<()> { todo!() }\n",
        ),
        ("loader.rs", "use crate::{compile::Compiled, lab};\n"),
        ("lab.rs", "use crate::loader::Dataplane;\n"),
        ("stats.rs", "fn s() { crate::pins::open(); }\n"),
        ("pins.rs", "use crate::conntrack::x;\n"),
        ("conntrack.rs", "use crate::model::Timeouts;\n"),
    ]);
    // Comments, strings and test modules are not arrows.
    assert_eq!(
        c.deps("compile"),
        BTreeSet::from(["maglev".to_string(), "model".to_string()])
    );
    let p = c.forbidden("compile", PURE_NEVER);
    assert_eq!(
        p,
        vec!["model.rs:5: let m = aya::maps::Map::x(); (via compile -> model)"]
    );
    assert_eq!(
        c.forbidden("config", PURE_NEVER),
        vec![
            "config/check.rs:1: pub fn c() -> tokio::task::JoinHandle<()> { todo!() }",
            "model.rs:5: let m = aya::maps::Map::x(); (via config -> model)"
        ]
    );
    assert_eq!(
        c.forbidden("loader", &["crate::lab"]),
        vec!["loader.rs:1: use crate::{compile::Compiled, lab};"]
    );
    assert_eq!(
        c.forbidden("stats", MAP_WRITERS),
        vec!["pins.rs:1: use crate::conntrack::x; (via stats -> pins)"]
    );
    let cycles = c.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert_eq!(
        cycles[0],
        "cycle: lab, loader\n    lab -> loader: lab.rs:1: use crate::loader::Dataplane;\n    \
         loader -> lab: loader.rs:1: use crate::{compile::Compiled, lab};"
    );
}

#[test]
fn the_checker_blanks_strings_chars_and_raw_strings_but_not_lifetimes() {
    let src = "fn f<'a>(x: &'a str) -> char { let _ = r#\"crate::lab \"x\"\"#; \
               let _ = '\\''; let _ = b\"aya::x\"; '{' }\nuse crate::loader;\n\
               fn g() { Vec::<u8>::new(); ::tokio::spawn(x); }\n";
    let roots = path_roots(&blank_comments_and_strings(src));
    assert_eq!(
        roots,
        vec![
            ("crate::loader".to_string(), 2),
            ("Vec".to_string(), 3),
            ("tokio".to_string(), 3)
        ]
    );
}
