//! Mutated configs: every file in configs/ under thousands of random
//! mutations (lines and whole sections deleted or duplicated, values
//! retyped, numbers out of range, references left dangling, addresses and
//! CIDRs broken, characters flipped or inserted, files cut short).
//! `config::parse_str` must never panic, and must answer either a topology
//! (which then compiles without panicking) or diagnostics that each point
//! at a real place in the text: line >= 1 and column >= 1, inside the
//! source. Seeded (`HYPERLAB_MUTATION_SEED`); a failure prints the seed and
//! the mutated text. No root needed.

use std::{
    collections::BTreeMap,
    panic::{catch_unwind, AssertUnwindSafe},
};

use dataplane::{compile, config, lab};
use hyperlab_tests::{config_path, differential::rng::Rng};

const MUTATIONS_PER_FILE: usize = 1000;

fn seed() -> u64 {
    std::env::var("HYPERLAB_MUTATION_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0x636f_6e66) // "conf"
}

fn config_files() -> Vec<(String, String)> {
    let dir = config_path("");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("config readable");
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 3, "configs/ holds the example topologies");
    files
}

const VALUES: [&str; 14] = [
    "42",
    "-1",
    "0",
    "\"x\"",
    "\"\"",
    "true",
    "[]",
    "{}",
    "[1, \"a\"]",
    "3.5",
    "1979-05-27",
    "{ a = 1 }",
    "[[1]]",
    "\"10.0.0.0/8\"",
];

const NUMBERS: [&str; 9] = [
    "0",
    "-1",
    "65536",
    "70000",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1e3",
];

const ADDRESSES: [&str; 10] = [
    "256.1.1.1",
    "10.0.0.0/33",
    "0.0.0.0/0",
    "10.0.1.0",
    "255.255.255.255",
    "10.0.1.255",
    "10.0.1.5/24",
    "10.0.1",
    "::1",
    "10.0.1.1",
];

const JUNK: [&str; 14] = [
    "[", "]", "\"", "=", "\n", "#", "{", "}", ",", "é", "\u{feff}", "\t", "'''", "[[",
];

/// Byte offsets where each line starts.
fn line_starts(s: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(s.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| i <= s.len())
        .collect()
}

fn char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Byte ranges of tokens matching `pred` (runs of `class` characters).
fn tokens(
    s: &str,
    class: impl Fn(char) -> bool,
    pred: impl Fn(&str) -> bool,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices().chain(std::iter::once((s.len(), ' '))) {
        match (start, class(c)) {
            (None, true) => start = Some(i),
            (Some(b), false) => {
                if pred(&s[b..i]) {
                    out.push((b, i));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// `[[section]]` blocks as byte ranges.
fn sections(s: &str) -> Vec<(usize, usize)> {
    let starts: Vec<usize> = line_starts(s)
        .into_iter()
        .filter(|&i| s[i..].starts_with("[[") || s[i..].starts_with('['))
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &b)| (b, starts.get(k + 1).copied().unwrap_or(s.len())))
        .collect()
}

/// Applies one random mutation; returns its name.
fn mutate(s: &mut String, rng: &mut Rng) -> &'static str {
    let lines = line_starts(s);
    let line = |rng: &mut Rng| {
        let k = rng.below(lines.len());
        let b = lines[k];
        let e = lines.get(k + 1).copied().unwrap_or(s.len());
        (b, e)
    };
    let replace = |s: &mut String, (b, e): (usize, usize), with: &str| s.replace_range(b..e, with);
    let pick_token =
        |rng: &mut Rng, v: Vec<(usize, usize)>| (!v.is_empty()).then(|| v[rng.below(v.len())]);
    match rng.below(13) {
        0 => {
            let r = line(rng);
            replace(s, r, "");
            "line deleted"
        }
        1 => {
            let (b, e) = line(rng);
            let l = s[b..e].to_string();
            s.insert_str(b, &l);
            "line duplicated"
        }
        2 => {
            // key = value  ->  key = <other type>
            let v = tokens(s, |c| c != '\n', |l| l.contains(" = "));
            if let Some((b, e)) = pick_token(rng, v) {
                let eq = s[b..e].find(" = ").expect("has =") + 3;
                replace(s, (b + eq, e), VALUES[rng.below(VALUES.len())]);
            }
            "value retyped"
        }
        3 => {
            let v = tokens(s, |c| c.is_ascii_digit(), |t| !t.is_empty());
            if let Some(r) = pick_token(rng, v) {
                replace(s, r, NUMBERS[rng.below(NUMBERS.len())]);
            }
            "number out of range"
        }
        4 => {
            // A quoted id-like string: dangling, or another id.
            let v = tokens(
                s,
                |c| c.is_ascii_alphanumeric() || c == '-',
                |t| t.contains('-') && t.chars().next().is_some_and(|c| c.is_ascii_alphabetic()),
            );
            if let Some(r) = pick_token(rng, v.clone()) {
                let with = if rng.chance(50) {
                    format!("nope-{}", rng.below(100))
                } else {
                    let (b, e) = v[rng.below(v.len())];
                    s[b..e].to_string()
                };
                replace(s, r, &with);
            }
            "reference changed"
        }
        5 => {
            let v = tokens(
                s,
                |c| c.is_ascii_digit() || c == '.' || c == '/',
                |t| t.matches('.').count() == 3,
            );
            if let Some(r) = pick_token(rng, v) {
                replace(s, r, ADDRESSES[rng.below(ADDRESSES.len())]);
            }
            "address broken"
        }
        6 => {
            if !s.is_empty() {
                let i = char_boundary(s, rng.below(s.len()));
                let j = char_boundary(s, i + s[i..].chars().next().map_or(0, char::len_utf8));
                let c = char::from(rng.range(32, 126) as u8).to_string();
                replace(s, (i, j), &c);
            }
            "character flipped"
        }
        7 => {
            let i = char_boundary(s, rng.below(s.len() + 1));
            s.insert_str(i, JUNK[rng.below(JUNK.len())]);
            "junk inserted"
        }
        8 => {
            let i = char_boundary(s, rng.below(s.len() + 1));
            let j = char_boundary(s, i + rng.below(40));
            replace(s, (i, j), "");
            "span deleted"
        }
        9 => {
            let a = line(rng);
            let b = line(rng);
            if a.1 <= b.0 {
                let (la, lb) = (s[a.0..a.1].to_string(), s[b.0..b.1].to_string());
                replace(s, b, &la);
                replace(s, a, &lb);
            }
            "lines swapped"
        }
        10 => {
            let i = char_boundary(s, rng.below(s.len() + 1));
            s.truncate(i);
            "file cut short"
        }
        11 => {
            let v = sections(s);
            if let Some((b, e)) = pick_token(rng, v) {
                let block = s[b..e].to_string();
                s.insert_str(e, &block);
            }
            "section duplicated"
        }
        _ => {
            let v = sections(s);
            if let Some(r) = pick_token(rng, v) {
                replace(s, r, "");
            }
            "section deleted"
        }
    }
}

/// Why a parse result is unacceptable, if it is.
fn judge(src: &str) -> Result<&'static str, String> {
    let parsed = catch_unwind(AssertUnwindSafe(|| config::parse_str(src, "mutated.toml")))
        .map_err(|_| "config::parse_str panicked".to_string())?;
    match parsed {
        Ok(topo) => {
            // A validated topology must compile and plan without panicking.
            let ifx: Vec<u32> = (1..=topo.port_count() as u32).collect();
            catch_unwind(AssertUnwindSafe(|| {
                let _ = compile::compile(&topo, &ifx);
                let _ = lab::plan(&topo);
            }))
            .map_err(|_| "compile or lab::plan panicked on a validated topology".to_string())?;
            Ok("accepted")
        }
        Err(diags) => {
            if diags.0.is_empty() {
                return Err("rejected without a diagnostic".into());
            }
            let lines: Vec<&str> = src.split('\n').collect();
            for d in &diags.0 {
                let ok = d.line >= 1
                    && d.column >= 1
                    && d.line <= lines.len()
                    && d.column <= lines[d.line - 1].chars().count() + 1;
                if !ok {
                    return Err(format!("diagnostic outside the source: {d}"));
                }
                let _ = d.to_string();
            }
            Ok("rejected")
        }
    }
}

#[test]
fn mutated_configs_never_panic_and_every_diagnostic_points_into_the_source() {
    let seed = seed();
    let files = config_files();
    // Quiet panics while probing: a panic is reported below with its input.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_verdict: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total = 0;
    for (f, (name, original)) in files.iter().enumerate() {
        assert_eq!(judge(original), Ok("accepted"), "{name} as shipped");
        for i in 0..MUTATIONS_PER_FILE {
            let case_seed = differential_seed(seed, f, i);
            let mut rng = Rng::new(case_seed);
            let mut text = original.clone();
            let mut kinds = Vec::new();
            for _ in 0..rng.range(1, 3) {
                kinds.push(mutate(&mut text, &mut rng));
            }
            for k in &kinds {
                *by_kind.entry(k).or_default() += 1;
            }
            total += 1;
            match judge(&text) {
                Ok(v) => *by_verdict.entry(v).or_default() += 1,
                Err(why) => failures.push(format!(
                    "{name}, mutation {i} (seed {case_seed:#x}: {kinds:?}): {why}\n--- mutated text ---\n{text}\n---"
                )),
            }
        }
    }
    std::panic::set_hook(hook);
    eprintln!(
        "mutated configs: {total} parses of {} files ({MUTATIONS_PER_FILE} each, seed {seed:#x}): {by_verdict:?}; mutations applied: {by_kind:?}",
        files.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} mutated configs failed; first:\n{}",
        failures.len(),
        failures[0]
    );
    assert!(by_verdict.get("rejected").copied().unwrap_or(0) > total / 2);
}

fn differential_seed(seed: u64, file: usize, i: usize) -> u64 {
    hyperlab_tests::differential::rng::derive(seed, (file as u64) << 32 | i as u64)
}
