//! Minimal reproducers: delta debugging (Zeller's ddmin) over the packet
//! sequence, then removal of topology parts while the mismatch persists,
//! then a self-contained printout (config + frames in hex).

use std::fmt::Write as _;

use super::{
    hex, loadable,
    topo_gen::{IntTarget, TopoSpec},
    Generated, Lab, Mismatch, Sent, Source,
};

/// At most this many topology candidates are tried (each builds a lab).
const TOPOLOGY_BUDGET: usize = 40;

/// Shrinks a failing sequence (and topology) and returns the reproducer.
pub fn reproduce(
    lab: &mut Lab,
    g: &Generated,
    seq: Vec<Sent>,
    first: Mismatch,
    context: &str,
) -> String {
    let original = seq.len();
    let seq = shrink_sequence(lab, seq[..=first.index].to_vec());
    let (spec, seq, lab_owned) = shrink_topology(g, seq);
    let lab = lab_owned.as_ref().map_or(&*lab, |l| l);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "==================== differential mismatch ===================="
    );
    let _ = writeln!(text, "{context}");
    let _ = writeln!(
        text,
        "flow table: {}",
        g.flow_capacity
            .map_or("default size".to_string(), |c| format!("{c} entries"))
    );
    let _ = writeln!(
        text,
        "topology (config; @LAB@ stands for the lab name):\n{}",
        spec.to_toml()
    );
    let _ = writeln!(
        text,
        "minimal sequence: {} packets (shrunk from {original}); sent in order from an empty flow table:",
        seq.len()
    );
    for (i, s) in seq.iter().enumerate() {
        let from = match &s.from {
            Source::Eni(id) | Source::Internet(id) => id.as_str(),
            Source::Unknown => "(unknown interface, ifindex 1)",
        };
        let _ = writeln!(text, "  #{i} {from} {:?} {}", s.hook, hex(&s.frame));
    }
    // Run it once more, precisely, for the final words.
    let mut lab = Lab::up(&lab.toml, lab.flow_capacity);
    match lab.check(&seq, true) {
        Err(m) => {
            let _ = writeln!(text, "mismatch:\n{m}");
        }
        Ok(_) => {
            let _ = writeln!(
                text,
                "(the minimal sequence passes on a fresh lab: the failure depends on state \
                 left by earlier sequences; the unshrunk mismatch was:)\n{first}"
            );
        }
    }
    let path = std::env::temp_dir().join(format!("hyperlab-differential-{:x}.txt", g.seed));
    if std::fs::write(&path, &text).is_ok() {
        let _ = writeln!(text, "(saved to {})", path.display());
    }
    text
}

fn fails(lab: &mut Lab, seq: &[Sent]) -> Option<usize> {
    lab.check(seq, true).err().map(|m| m.index)
}

/// ddmin over the packets: remove chunks while some packet still
/// mismatches; cut after the first mismatching packet each time.
pub fn shrink_sequence(lab: &mut Lab, mut cur: Vec<Sent>) -> Vec<Sent> {
    let Some(i) = fails(lab, &cur) else {
        return cur;
    };
    cur.truncate(i + 1);
    let mut n = 2usize;
    let mut tries = 0;
    while cur.len() >= 2 && tries < 3000 {
        let chunk = cur.len().div_ceil(n);
        let mut reduced = false;
        for start in (0..cur.len()).step_by(chunk) {
            let cand: Vec<Sent> = cur[..start]
                .iter()
                .chain(&cur[(start + chunk).min(cur.len())..])
                .cloned()
                .collect();
            tries += 1;
            if cand.is_empty() {
                continue;
            }
            if let Some(i) = fails(lab, &cand) {
                cur = cand;
                cur.truncate(i + 1);
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if n >= cur.len() {
                break;
            }
            n = (2 * n).min(cur.len());
        }
    }
    cur
}

/// Removes topology parts (one at a time, keeping each removal that still
/// fails) within a budget of lab builds. Returns the smallest spec, the
/// sequence for it, and the lab it was last confirmed on.
fn shrink_topology(g: &Generated, seq: Vec<Sent>) -> (TopoSpec, Vec<Sent>, Option<Lab>) {
    let mut spec = g.spec.clone();
    let mut seq = seq;
    let mut confirmed = None;
    let mut budget = TOPOLOGY_BUDGET;
    let mut progress = true;
    while progress && budget > 0 {
        progress = false;
        for cand in candidates(&spec, &seq) {
            if budget == 0 {
                break;
            }
            let toml = cand.to_toml();
            if !loadable(&toml) {
                continue;
            }
            budget -= 1;
            let kept: Vec<Sent> = seq
                .iter()
                .filter(|s| match &s.from {
                    Source::Eni(id) => cand.enis.iter().any(|e| &e.id == id),
                    Source::Internet(_) | Source::Unknown => true,
                })
                .cloned()
                .collect();
            let mut lab = Lab::up(&toml, g.flow_capacity);
            if let Some(i) = fails(&mut lab, &kept) {
                spec = cand;
                seq = kept[..=i].to_vec();
                confirmed = Some(lab);
                progress = true;
                break;
            }
        }
    }
    (spec, seq, confirmed)
}

/// Smaller variants of `spec`, coarse first.
fn candidates(spec: &TopoSpec, seq: &[Sent]) -> Vec<TopoSpec> {
    let mut out = Vec::new();
    for l in 0..spec.links.len() {
        let mut c = spec.clone();
        c.links.remove(l);
        out.push(c);
        for i in 0..spec.links[l].integrations.len() {
            let mut c = spec.clone();
            c.links[l].integrations.remove(i);
            out.push(c);
        }
    }
    for n in 0..spec.nlbs.len() {
        out.push(without_nlb(spec, n));
    }
    for e in 0..spec.endpoints.len() {
        let mut c = spec.clone();
        c.endpoints.remove(e);
        out.push(c);
    }
    let senders: Vec<&str> = seq
        .iter()
        .filter_map(|s| match &s.from {
            Source::Eni(id) => Some(id.as_str()),
            Source::Internet(_) | Source::Unknown => None,
        })
        .collect();
    for e in (0..spec.enis.len()).rev() {
        if !senders.contains(&spec.enis[e].id.as_str()) {
            out.push(without_eni(spec, e));
        }
    }
    for g in 0..spec.sgs.len() {
        for r in 0..spec.sgs[g].ingress.len() {
            let mut c = spec.clone();
            c.sgs[g].ingress.remove(r);
            out.push(c);
        }
        for r in 0..spec.sgs[g].egress.as_ref().map_or(0, Vec::len) {
            let mut c = spec.clone();
            if let Some(e) = c.sgs[g].egress.as_mut() {
                e.remove(r);
            }
            out.push(c);
        }
    }
    without_each(spec, &mut out, spec.tgs.len(), |c, t| &mut c.tgs[t].targets);
    without_each(spec, &mut out, spec.cloud_maps.len(), |c, m| {
        &mut c.cloud_maps[m].instances
    });
    without_each(spec, &mut out, spec.albs.len(), |c, a| &mut c.albs[a].nodes);
    out
}

/// Pushes one candidate per item of `list(spec, i)` for every `i < n`:
/// `spec` without that item, in order.
fn without_each<T>(
    spec: &TopoSpec,
    out: &mut Vec<TopoSpec>,
    n: usize,
    list: fn(&mut TopoSpec, usize) -> &mut Vec<T>,
) {
    let mut probe = spec.clone();
    for i in 0..n {
        for k in 0..list(&mut probe, i).len() {
            let mut c = spec.clone();
            list(&mut c, i).remove(k);
            out.push(c);
        }
    }
}

fn without_nlb(spec: &TopoSpec, n: usize) -> TopoSpec {
    let mut c = spec.clone();
    c.nlbs.remove(n);
    let gone: Vec<usize> = (0..c.services.len())
        .filter(|&s| c.services[s].nlb == n)
        .collect();
    c.endpoints.retain(|e| !gone.contains(&e.service));
    for e in &mut c.endpoints {
        e.service -= gone.iter().filter(|&&s| s < e.service).count();
    }
    c.services.retain(|s| s.nlb != n);
    for s in &mut c.services {
        if s.nlb > n {
            s.nlb -= 1;
        }
    }
    for l in &mut c.links {
        l.integrations.retain(|i| i.target != IntTarget::Nlb(n));
        for i in &mut l.integrations {
            if let IntTarget::Nlb(x) = &mut i.target {
                if *x > n {
                    *x -= 1;
                }
            }
        }
    }
    c
}

fn without_eni(spec: &TopoSpec, e: usize) -> TopoSpec {
    let mut c = spec.clone();
    c.enis.remove(e);
    for tg in &mut c.tgs {
        tg.targets.retain(|(x, _)| *x != e);
        for (x, _) in &mut tg.targets {
            if *x > e {
                *x -= 1;
            }
        }
    }
    for a in &mut c.albs {
        a.nodes.retain(|x| *x != e);
        for x in &mut a.nodes {
            if *x > e {
                *x -= 1;
            }
        }
    }
    for m in &mut c.cloud_maps {
        m.instances.retain(|(x, _, _)| *x != e);
        for (x, _, _) in &mut m.instances {
            if *x > e {
                *x -= 1;
            }
        }
    }
    c
}
