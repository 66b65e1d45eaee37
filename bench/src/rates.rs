//! Part 3's rows: packets per second of established flows at 1 to 2^20
//! flows, new flows per second, and two CPUs against one (issue 22).
//! The measurements are veth.rs's; this module only judges and writes them.

use std::collections::HashMap as StdHashMap;

use super::{
    report::{num, Report, Row, Target},
    stats::{ratios, Summary},
    traffic::Sample,
    veth::Kind,
    Section,
};

/// The scenarios in veth.rs's order: name and kind.
pub type Scenarios<'a> = &'a [(&'static str, Kind)];

fn find(scs: Scenarios<'_>, k: Kind) -> usize {
    scs.iter().position(|(_, x)| *x == k).unwrap_or(0)
}

pub fn pps_table(flows: u32) -> &'static str {
    match flows {
        1 => "64-byte UDP, 1 flow (Mpps at the sink)",
        4096 => "64-byte UDP, 4,096 flows (Mpps at the sink)",
        65536 => "64-byte UDP, 65,536 flows (Mpps at the sink)",
        1048576 => "64-byte UDP, 1,048,576 flows (Mpps at the sink)",
        _ => "64-byte UDP, quick-mode flows (Mpps at the sink)",
    }
}

fn insitu_table(flows: u32) -> &'static str {
    match flows {
        1 => "In-situ ns per packet of the router port's program, 1 flow",
        4096 => "In-situ ns per packet of the router port's program, 4,096 flows",
        65536 => "In-situ ns per packet of the router port's program, 65,536 flows",
        1048576 => "In-situ ns per packet of the router port's program, 1,048,576 flows",
        _ => "In-situ ns per packet of the router port's program, quick-mode flows",
    }
}

const T_NEW: &str = "New flows per second: first packets only, every frame a fresh 5-tuple (M new flows/s at the sink)";
const T_TWO: &str = "Two CPUs: two generator threads, one flow set each (Mpps at the sink)";

/// The established rows: Mpps with a ratio to the baseline that matters
/// for each path, and the in-situ ns per packet.
pub fn rows(
    report: &mut Report,
    data: &StdHashMap<(usize, u32), Vec<Sample>>,
    flows_list: &[u32],
    scs: Scenarios<'_>,
) {
    let floor = find(scs, Kind::Redirect);
    let nat5 = find(scs, Kind::Nat5);
    let nat = find(scs, Kind::Nat);
    for &flows in flows_list {
        let table = pps_table(flows);
        let mpps = |si: usize| -> Vec<f64> {
            data.get(&(si, flows))
                .map(|v| v.iter().map(|s| s.mpps).collect())
                .unwrap_or_default()
        };
        for (si, &(name, kind)) in scs.iter().enumerate() {
            let v = mpps(si);
            if v.is_empty() {
                continue;
            }
            let added: Vec<f64> = v
                .iter()
                .zip(mpps(floor))
                .map(|(m, f)| 1e3 / m - 1e3 / f)
                .collect();
            let insitu: Vec<f64> = data[&(si, flows)]
                .iter()
                .filter_map(|s| s.insitu_ns)
                .collect();
            let delivered: Vec<f64> = data[&(si, flows)]
                .iter()
                .map(|s| s.delivered * 100.0)
                .collect();
            let mut note = Vec::new();
            if si != floor {
                if let Some(a) = Summary::of(&added) {
                    note.push(format!("{:+.0} ns/frame over the floor", a.median));
                }
            }
            if kind == Kind::Hyperlab || kind == Kind::Nat {
                if let Some(a) = Summary::of(&ratios(&v, &mpps(nat))) {
                    if kind == Kind::Hyperlab {
                        note.push(format!("{:.2}x the NAT keyed like the pipeline", a.median));
                    }
                }
            }
            if let Some(i) = Summary::of(&insitu) {
                note.push(format!("in situ {} ns/pkt", num(i.median)));
            }
            if let Some(d) = Summary::of(&delivered) {
                note.push(format!("delivered {:.1} %", d.min));
            }
            let mut r = Row::new(Section::Veth, table, name, "Mpps", v.clone())
                .context(format!("{flows} flows"))
                .at(name, flows as f64)
                .plot()
                .note(note.join("; "));
            r = match kind {
                Kind::Redirect => r,
                Kind::Nat5 | Kind::Netfilter => {
                    r.baseline("redirect floor", ratios(&v, &mpps(floor)))
                }
                Kind::Nat => r.baseline("5-tuple minimal NAT", ratios(&v, &mpps(nat5))),
                Kind::Hyperlab => r
                    .baseline("5-tuple minimal NAT", ratios(&v, &mpps(nat5)))
                    .target(Target::ratio_at_least(
                        0.9,
                        ">= 0.9x the minimal NAT (issue 22)",
                    )),
            };
            report.rows.push(r);
        }
        for (si, &(name, kind)) in scs.iter().enumerate() {
            if kind == Kind::Netfilter || !data.contains_key(&(si, flows)) {
                continue;
            }
            let per = |si: usize| -> Vec<f64> {
                data.get(&(si, flows))
                    .map(|v| v.iter().map(|s| s.insitu_ns.unwrap_or(f64::NAN)).collect())
                    .unwrap_or_default()
            };
            let v = per(si);
            let mut r = Row::new(Section::Veth, insitu_table(flows), name, "ns", v.clone())
                .context(format!("in situ, {flows} flows"));
            if si != floor {
                r = r.baseline("redirect floor", ratios(&v, &per(floor)));
            }
            report.rows.push(r);
        }
    }
}

/// New flows per second: the minimal NATs' create path, hyperlab's first
/// packets (judged against the 5-tuple NAT and against netfilter), netfilter.
pub fn new_flow_rows(
    report: &mut Report,
    data: &StdHashMap<usize, Vec<Sample>>,
    flows: u32,
    scs: Scenarios<'_>,
) {
    let nat5 = find(scs, Kind::Nat5);
    let nf = find(scs, Kind::Netfilter);
    let rate = |si: usize| -> Vec<f64> {
        data.get(&si)
            .map(|v| v.iter().map(|s| s.mpps).collect())
            .unwrap_or_default()
    };
    let ctx = format!("new flows ({flows} per measurement)");
    for (si, &(name, kind)) in scs.iter().enumerate() {
        let v = rate(si);
        if v.is_empty() {
            continue;
        }
        let delivered = Summary::of(
            &data[&si]
                .iter()
                .map(|s| s.delivered * 100.0)
                .collect::<Vec<_>>(),
        );
        let note = delivered
            .map(|d| format!("delivered {:.1} %", d.min))
            .unwrap_or_default();
        let r = Row::new(Section::Veth, T_NEW, name, "M/s", v.clone())
            .context(ctx.clone())
            .plot()
            .note(note);
        match kind {
            Kind::Hyperlab => {
                report.rows.push(
                    r.baseline("5-tuple minimal NAT's create path", ratios(&v, &rate(nat5)))
                        .target(Target::ratio_at_least(
                            0.5,
                            ">= 0.5x the minimal NAT's new-flow rate",
                        )),
                );
                report.rows.push(
                    Row::new(
                        Section::Veth,
                        T_NEW,
                        format!("{name}, against netfilter"),
                        "M/s",
                        v.clone(),
                    )
                    .context(ctx.clone())
                    .baseline("netfilter conntrack", ratios(&v, &rate(nf)))
                    .target(Target::ratio_at_least(
                        5.0,
                        ">= 5x netfilter's new-flow rate",
                    )),
                );
            }
            Kind::Nat => report
                .rows
                .push(r.baseline("5-tuple minimal NAT", ratios(&v, &rate(nat5)))),
            _ => report.rows.push(r),
        }
    }
}

/// Two CPUs against one at the same flow count: each path's 2-CPU rate
/// over its 1-CPU rate of the same repetition, and hyperlab's ratio against
/// the minimal NAT's.
pub fn two_core_rows(
    report: &mut Report,
    two: &StdHashMap<usize, Vec<Sample>>,
    one: &StdHashMap<(usize, u32), Vec<Sample>>,
    flows: u32,
    scs: Scenarios<'_>,
) {
    let nat5 = find(scs, Kind::Nat5);
    let mpps2 = |si: usize| -> Vec<f64> {
        two.get(&si)
            .map(|v| v.iter().map(|s| s.mpps).collect())
            .unwrap_or_default()
    };
    let mpps1 = |si: usize| -> Vec<f64> {
        one.get(&(si, flows))
            .map(|v| v.iter().map(|s| s.mpps).collect())
            .unwrap_or_default()
    };
    let ctx = format!("two CPUs, {flows} flows");
    for (si, &(name, kind)) in scs.iter().enumerate() {
        let v = mpps2(si);
        if v.is_empty() {
            continue;
        }
        let scale = ratios(&v, &mpps1(si));
        let mut r = Row::new(Section::Veth, T_TWO, name, "Mpps", v.clone())
            .context(ctx.clone())
            .plot()
            .baseline(format!("its 1-CPU rate at {flows} flows"), scale.clone());
        if kind == Kind::Hyperlab {
            r = r.target(Target::ratio_at_least(1.8, ">= 1.8x its 1-CPU rate"));
            report.rows.push(r);
            let nat_scale = ratios(&mpps2(nat5), &mpps1(nat5));
            report.rows.push(
                Row::new(
                    Section::Veth,
                    T_TWO,
                    format!("{name}: 2-CPU / 1-CPU"),
                    "x",
                    scale.clone(),
                )
                .context(ctx.clone())
                .baseline(
                    "the 5-tuple minimal NAT's 2-CPU / 1-CPU",
                    ratios(&scale, &nat_scale),
                )
                .target(Target::ratio_at_least(
                    0.9,
                    "the minimal NAT's ratio within 10 %",
                )),
            );
        } else {
            report.rows.push(r);
        }
    }
}
