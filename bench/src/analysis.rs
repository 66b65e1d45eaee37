//! For every missed target: what bounds it, in words and with the figures
//! of the same run that show it.

use super::{
    report::{num, Report, Row, Verdict},
    Section,
};

fn find<'a>(r: &'a Report, s: Section, context: &str, name: &str) -> Option<&'a Row> {
    r.rows
        .iter()
        .find(|x| x.section == s && x.context == context && x.name == name)
}

fn med(row: Option<&Row>) -> Option<f64> {
    row.and_then(|r| r.value()).map(|v| v.median)
}

fn ratio(row: Option<&Row>) -> Option<f64> {
    row.and_then(|r| r.ratio()).map(|v| v.median)
}

/// The largest miss among `rows`, in percent.
fn worst<'a>(rows: impl Iterator<Item = &'a Row>) -> Option<f64> {
    rows.filter_map(|r| match r.verdict() {
        Some(Verdict::Missed(by)) => Some(by * 100.0),
        _ => None,
    })
    .reduce(f64::max)
}

fn f(x: Option<f64>) -> String {
    x.map(num).unwrap_or_else(|| "-".into())
}

fn fx(x: Option<f64>) -> String {
    x.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into())
}

/// The first scale row whose name starts with `prefix` and that missed its
/// target.
fn missed_scale_row<'a>(r: &'a Report, prefix: &str) -> Option<&'a Row> {
    r.rows.iter().find(|x| {
        x.section == Section::Scale
            && x.name.starts_with(prefix)
            && matches!(x.verdict(), Some(Verdict::Missed(_)))
    })
}

pub fn bounds(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    for hook in ["XDP", "TC"] {
        let k = |n: &str| find(r, Section::Kernel, hook, n);
        // The kernel rows of this hook with a target, whose name has `what`.
        let targeted = |hook: &'static str, what: &'static str| {
            r.rows.iter().filter(move |x| {
                x.section == Section::Kernel
                    && x.context == hook
                    && x.name.contains(what)
                    && x.target.is_some()
            })
        };
        if let Some(w) = worst(targeted(hook, "established")) {
            out.push(format!(
                "**{hook} established paths vs the minimal stateful floor** (missed by up to {w:.0} %): \
                 the floor does one flow lookup and one counter update. The pipeline's fast path \
                 also reads the active generation and the ingress port (array lookups the \
                 verifier inlines), counts into the ENI's transmit and the peer ENI's receive \
                 counters, two event counters and the flow's own packet and byte counters \
                 (atomic adds), and refreshes the flow's state and timestamp (from a per-CPU \
                 copy of the clock, taken again when jiffies move); PrivateLink and the VPC link \
                 add three per-object counters (endpoint, listener, target). In a loop the \
                 intra-VPC path, which rewrites only the MACs, costs {} ns against the floor's \
                 {} ns with its four-field NAT rewrite; per call, PrivateLink forward, which \
                 rewrites the same four fields as the floor with the same kind of writes, costs \
                 {} ns against the floor's {} ns. The difference is the work the floor leaves out \
                 (counters, the flow-state update), not the rewrite. The profile at the end of \
                 part 1 splits each loop's time by kernel symbol: the program's own JIT code \
                 (parsing, counters, the state update), the one hash-map lookup \
                 (`htab_map_hash`, `lookup_nulls_elem_raw`, `memcmp`) and the test-run loop; \
                 what would close the rest is fewer per-packet counter records (one per-CPU \
                 record per flow instead of per-ENI and per-object ones, summed by the agent).",
                f(med(k("intra-VPC, established (TCP ACK) [loop]"))),
                f(med(k("floor: minimal stateful NAT, established [loop]"))),
                f(med(k("PrivateLink forward, established (SNAT+DNAT) [per call]"))),
                f(med(k("floor: minimal stateful NAT, established [per call]"))),
            ));
        }
        if let Some(w) = worst(targeted(hook, "first packet")) {
            out.push(format!(
                "**{hook} first packets vs established** (missed by up to {w:.0} %): a first packet \
                 looks up the destination ENI, runs two security-group longest-prefix matches and \
                 inserts two flow entries with BPF_NOEXIST into the preallocated flow table; \
                 PrivateLink adds the endpoint, listener, Maglev and target lookups, the target's \
                 security group and NAT source-port probing. The minimal NAT's own first packet, \
                 one insert and no checks, already costs {} its established packet: creating \
                 hash-map entries, not rule matching, is most of the cost (part 2 shows the rule \
                 count barely matters). And any NAT that translates replies inserts two entries \
                 per new flow (the forward one and the reply one), where the minimal NAT inserts \
                 one: its first packet costs {} ns over its established one, the pipeline's \
                 intra-VPC first packet {} ns over its own. The faster the established path, \
                 the higher this ratio.",
                fx(ratio(k("floor: minimal stateful NAT, first packet (new flow) [per call]"))),
                f(med(k("floor: minimal stateful NAT, first packet (new flow) [per call]"))
                    .zip(med(k("floor: minimal stateful NAT, established [per call]")))
                    .map(|(a, b)| a - b)),
                f(med(k("intra-VPC, first packet (TCP SYN, new flow) [per call]"))
                    .zip(med(k("intra-VPC, established (TCP ACK) [per call]")))
                    .map(|(a, b)| a - b)),
            ));
        }
    }
    for hook in ["XDP", "TC"] {
        if let Some(m) = r.rows.iter().find(|x| {
            x.section == Section::Scale
                && x.name
                    .starts_with(&format!("{hook}: hyperlab intra-VPC, growth"))
                && matches!(x.verdict(), Some(Verdict::Missed(_)))
        }) {
            out.push(format!(
                "**{hook} growth from the smallest to the largest table ({} against the 5-tuple \
                 floor's growth)**: both pay the memory latency of random hash lookups in a \
                 table far larger than the caches.{}",
                fx(ratio(Some(m))),
                {
                    // The floors' anatomy at its largest size: the same
                    // minimal NAT with a FlowEntry-sized value, then with
                    // the pipeline's writes.
                    let last = |p: &str| {
                        r.rows
                            .iter()
                            .rev()
                            .find(|x| x.section == Section::Scale && x.name.starts_with(p))
                    };
                    match (
                        last("pipeline key, 88 B value ("),
                        last("pipeline key, 88 B value, with"),
                        last("pipeline key, a reply entry"),
                    ) {
                        (Some(w), Some(ww), pair) => format!(
                            " What the pipeline's {}-byte flow entry adds is measured in the \
                             floors' anatomy at {}: the minimal NAT with a value that size \
                             costs {} the 5-tuple floor, and {} with the pipeline's per-packet \
                             writes into it (timestamp, atomic packet and byte counts). That \
                             part is what moving counters and timestamps off the entry (a \
                             per-CPU side record) and keeping only the action in it can win; \
                             the rest of the gap is not in the entry. Two entries per flow \
                             (the reply entry created beside each forward one, as the pipeline \
                             does) cost the minimal NAT {} at that size; what remains is the \
                             pipeline's other per-packet work, which this run does not split \
                             further.",
                            std::mem::size_of::<dataplane_common::FlowEntry>(),
                            w.context,
                            fx(ratio(Some(w))),
                            fx(ratio(Some(ww))),
                            fx(pair.and_then(|p| ratio(Some(p)))),
                        ),
                        _ => String::new(),
                    }
                },
            ));
        }
        if let Some(m) = missed_scale_row(r, &format!("{hook}: hyperlab intra-VPC, 1")) {
            let size = m.name.rsplit(", ").next().unwrap_or("");
            let nat = find(
                r,
                Section::Scale,
                "",
                &format!("{hook}: minimal NAT, 5-tuple key, {size}"),
            );
            out.push(format!(
                "**{hook} at {size} ({} the 1k-flow cost)**: every measured packet belongs to a \
                 random one of the live flows, and a table that size no longer fits any CPU cache. \
                 The minimal NAT, with a single lookup, grows {} between the same sizes: the bound \
                 is the memory latency of a random hash lookup, which any flow table pays.{}",
                fx(ratio(Some(m))),
                fx(ratio(nat)),
                match (ratio(Some(m)), ratio(nat)) {
                    (Some(a), Some(b)) if a > b * 1.05 => format!(
                        " The pipeline also writes the flow's timestamp and counters and its \
                         {}-byte flow entry spans more cache lines beside its key than the \
                         minimal NAT's {}-byte one, so it grows somewhat more; a smaller entry \
                         (the action alone, counters and timestamps in a per-flow side table \
                         the fast path touches less often) would narrow that part. No layout \
                         closes the rest: the floor itself misses the target.",
                        std::mem::size_of::<dataplane_common::FlowEntry>(),
                        std::mem::size_of::<hyperlab_bench_common::NatEntry>(),
                    ),
                    _ => String::new(),
                },
            ));
        }
    }
    for hook in ["XDP", "TC"] {
        if let Some(m) = missed_scale_row(r, &format!("{hook}: first packet")) {
            let q = m.ratio();
            out.push(format!(
                "**{hook} first packet with the largest group ({})**: each first packet does two \
                 longest-prefix matches, and the receiver's trie grows deeper with the number of \
                 prefixes (about log2 of it: each level one more dependent memory access). The \
                 repetitions' ratios span {}-{}: first packets are the noisiest figure here.",
                fx(q.map(|q| q.median)),
                fx(q.map(|q| q.min)),
                fx(q.map(|q| q.max)),
            ));
        }
    }
    let changes = r.rows.iter().filter(|x| {
        x.section == Section::Scale
            && (x.name.starts_with("one-rule change, as the agent reloads")
                || x.name.starts_with("one rule added, as the agent reloads"))
    });
    let missed = changes
        .filter_map(|x| match x.verdict() {
            Some(Verdict::Missed(by)) => Some((by, x)),
            _ => None,
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, c)) = missed {
        let sync = r.rows.iter().find(|x| {
            x.section == Section::Scale && x.name.starts_with("one-rule change: generation switch")
        });
        let diff = r
            .rows
            .iter()
            .find(|x| x.section == Section::Scale && x.name.starts_with("reference: "));
        out.push(format!(
            "**{}** (median {} s): the agent recompiles the config with the memo of its last \
             compilation (`compile::compile_with`: only the group sets whose rules or \
             referenced members changed are compiled again, but every entry is still copied \
             into the new compilation) and then switches generations (`Dataplane::sync`: \
             median {} s): it diffs the two compilations once, writes the difference into the \
             standby generation, flips `HL_ACTIVE`, and writes it into the other generation \
             too (the kernel never runs a mix). For comparison, writing the changed LPM entry \
             alone, in place and not atomically, takes {} ms. What is left is copying and \
             diffing every entry of the configuration; keeping the compilation per group set \
             (and diffing only the sets recompiled) would remove most of it.",
            c.name,
            f(med(Some(c))),
            f(med(sync)),
            f(med(diff).map(|d| d * 1e3)),
        ));
    }
    if let Some(m) = r.rows.iter().find(|x| {
        x.section == Section::Scale
            && x.table.starts_with("The minimal NAT's floor at N flows")
            && matches!(x.verdict(), Some(Verdict::Missed(_)))
    }) {
        let row = |name: &str| {
            r.rows.iter().find(|x| {
                x.section == Section::Scale && x.context == m.context && x.name.starts_with(name)
            })
        };
        out.push(format!(
            "**The NAT keyed like the pipeline at {} ({} the 5-tuple floor)**: the same program \
             with a 20-byte key and a 32-byte value: each preallocated element is 48 bytes of \
             kernel header, the key and the value rounded to 8, 104 bytes against 80, so more \
             lookups straddle two cache lines and the table spans more memory. For comparison, \
             in the same repetitions: refilled after emptying {}, a 2^21-entry table {}, random \
             live flows {} (each against the 5-tuple floor).",
            m.context,
            fx(ratio(Some(m))),
            fx(ratio(row("pipeline key, table emptied"))),
            fx(ratio(row("pipeline key, 2,097,152"))),
            fx(ratio(row("pipeline key, random"))),
        ));
    }
    let new_flows = r.rows.iter().filter(|x| {
        x.section == Section::Veth && x.table.starts_with("New flows") && x.target.is_some()
    });
    let new_flows: Vec<&Row> = new_flows.collect();
    if let Some(w) = worst(new_flows.iter().copied()) {
        let k = |n: &str| find(r, Section::Kernel, "XDP", n);
        let rate = |n: &str| {
            r.rows
                .iter()
                .find(|x| {
                    x.section == Section::Veth && x.table.starts_with("New flows") && x.name == n
                })
                .and_then(|x| med(Some(x)))
        };
        let nat5 = rate("floor: minimal XDP NAT, 5-tuple key (16 B), 16 B value");
        let nf = rate("kernel netfilter DNAT+SNAT, conntrack");
        // The generator's own ceiling: the redirect floor's established
        // rate, the most any path can be handed.
        let ceiling = r
            .rows
            .iter()
            .filter(|x| {
                x.section == Section::Veth
                    && x.table.starts_with("64-byte UDP")
                    && x.name == "floor: XDP redirect (DevMap)"
            })
            .filter_map(|x| med(Some(x)))
            .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
        let vs_nf = new_flows.iter().any(|x| {
            x.name.ends_with("against netfilter") && matches!(x.verdict(), Some(Verdict::Missed(_)))
        });
        out.push(format!(
            "**New flows per second** (missed by up to {w:.0} %): a first packet through \
             hyperlab looks up the destination ENI, runs two security-group longest-prefix \
             matches and inserts two flow entries (the forward and the reply one), where the \
             minimal NAT inserts one and checks nothing; part 1 measures it: hyperlab's \
             intra-VPC first packet costs {} ns per call against the minimal NAT's {} ns. \
             Inserting preallocated hash-map entries (a per-CPU free list pop, a bucket lock, \
             the element copy) is most of both.{}",
            f(med(k(
                "intra-VPC, first packet (TCP SYN, new flow) [per call]"
            ))),
            f(med(k(
                "floor: minimal stateful NAT, first packet (new flow) [per call]"
            ))),
            match (vs_nf, nat5, nf, ceiling) {
                (true, Some(a), Some(b), Some(c)) if b > 0.0 => format!(
                    " Against netfilter the bound is shared: the minimal NAT's create path \
                     itself reaches {:.2}x netfilter's {} M new flows/s, and 5x netfilter \
                     ({} M/s) is {} the {} Mpps this run's generator delivers at most (the \
                     redirect floor): no path can show more than the generator sends.",
                    a / b,
                    f(Some(b)),
                    f(Some(5.0 * b)),
                    if 5.0 * b > c { "above" } else { "close to" },
                    f(Some(c)),
                ),
                _ => String::new(),
            },
        ));
    }
    let two = r.rows.iter().filter(|x| {
        x.section == Section::Veth && x.table.starts_with("Two CPUs") && x.target.is_some()
    });
    if let Some(w) = worst(two) {
        let scale_of = |n: &str| {
            r.rows
                .iter()
                .find(|x| {
                    x.section == Section::Veth && x.table.starts_with("Two CPUs") && x.name == n
                })
                .and_then(|x| ratio(Some(x)))
        };
        out.push(format!(
            "**Two CPUs** (missed by up to {w:.0} %): the floors measured in the same \
             repetitions scale by {} (redirect) and {} (5-tuple NAT) from one CPU to two: on \
             this 2-CPU machine the second generator thread takes the CPU that ran the \
             runner's monitor and everything else on the machine, so no path can reach 2x; the \
             ratio of hyperlab's scaling to the minimal NAT's is the figure that shows shared \
             state (a shared atomic counter or clock would make hyperlab scale worse than the \
             floor).",
            fx(scale_of("floor: XDP redirect (DevMap)")),
            fx(scale_of(
                "floor: minimal XDP NAT, 5-tuple key (16 B), 16 B value"
            )),
        ));
    }
    let veth = r.rows.iter().filter(|x| {
        x.section == Section::Veth && x.target.is_some() && x.table.starts_with("64-byte UDP")
    });
    if let Some(w) = worst(veth) {
        let insitu = |n: &str| {
            r.rows
                .iter()
                .find(|x| {
                    x.section == Section::Veth
                        && x.context.starts_with("in situ, 1 ")
                        && x.name.starts_with(n)
                })
                .and_then(|x| x.value())
                .map(|v| v.median)
        };
        out.push(format!(
            "**XDP packets per second vs the minimal NAT** (missed by up to {w:.0} %): the same \
             per-packet work as in part 1 shows here, and at many flows the fast path's \
             writes to its flow entry (timestamp, counters) as in part 2. In situ, at one flow, the pipeline's \
             program takes {} ns (intra-VPC) and {} ns (PrivateLink) per packet against the \
             minimal NAT's {} ns; at this rate every ns counts.",
            f(insitu("hyperlab XDP: intra-VPC")),
            f(insitu("hyperlab XDP: PrivateLink")),
            f(insitu("floor: minimal XDP NAT, 5-tuple key")),
        ));
    }
    let udp = r.rows.iter().filter(|x| {
        x.section == Section::Host && x.context.starts_with("UDP") && x.target.is_some()
    });
    if let Some(w) = worst(udp) {
        let veth = find(r, Section::Host, "UDP 64-byte", "bare veth pair (ceiling)");
        out.push(format!(
            "**64-byte UDP vs the bridge** (missed by up to {w:.0} %): iperf3 itself is the \
             bottleneck here: its sender and receiver share two CPUs with everything else, and \
             even the bare veth pair (no forwarding at all) reaches only {} the bridge. No \
             forwarding path can show 1.2x the bridge while the ceiling is that close to it.",
            fx(ratio(veth)),
        ));
    }
    let tcp: Vec<&Row> = r
        .rows
        .iter()
        .filter(|x| {
            x.section == Section::Host
                && x.context.starts_with("TCP")
                && matches!(x.verdict(), Some(Verdict::Missed(_)))
        })
        .collect();
    if let Some(w) = worst(tcp.iter().copied()) {
        let spans: Vec<String> = tcp
            .iter()
            .filter_map(|x| {
                x.ratio()
                    .map(|q| format!("{} {}: {:.2}-{:.2}", x.context, x.name, q.min, q.max))
            })
            .collect();
        out.push(format!(
            "**TCP vs the bare veth pair** (missed by up to {w:.0} %): every data segment \
             and every ACK crosses the fabric's program once, while the bare veth pair runs no \
             program at all; the TC hook keeps the skb's checksum-offload and GSO state \
             (`bpf_redirect_peer`), so a 64 KB segment costs one program run, and the \
             difference stays small. Single iperf3 runs on a shared 2-CPU machine vary a lot: \
             across repetitions the ratio spans {}; where that range reaches 0.95 the miss is \
             within this run's noise.",
            spans.join("; ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Target;

    const NEW: &str = "New flows per second: first packets only";
    const PPS: &str = "64-byte UDP, 4,096 flows (Mpps at the sink)";
    const TWO: &str = "Two CPUs: two generator threads";

    fn row(table: &'static str, name: &str, v: f64) -> Row {
        Row::new(Section::Veth, table, name, "Mpps", vec![v])
    }

    #[test]
    fn new_flow_and_two_cpu_misses_name_the_bound_a_floor_shares() {
        let mut r = Report::default();
        r.rows.push(row(PPS, "floor: XDP redirect (DevMap)", 0.5));
        r.rows.push(row(
            NEW,
            "floor: minimal XDP NAT, 5-tuple key (16 B), 16 B value",
            0.44,
        ));
        r.rows
            .push(row(NEW, "kernel netfilter DNAT+SNAT, conntrack", 0.2));
        r.rows.push(
            row(NEW, "hyperlab XDP: intra-VPC, against netfilter", 0.36)
                .baseline("netfilter conntrack", vec![1.8])
                .target(Target::ratio_at_least(5.0, ">= 5x")),
        );
        r.rows
            .push(row(TWO, "floor: XDP redirect (DevMap)", 0.9).baseline("1-CPU", vec![1.75]));
        r.rows.push(
            row(
                TWO,
                "floor: minimal XDP NAT, 5-tuple key (16 B), 16 B value",
                0.85,
            )
            .baseline("1-CPU", vec![1.7]),
        );
        r.rows.push(
            row(TWO, "hyperlab XDP: intra-VPC", 0.7)
                .baseline("1-CPU", vec![1.5])
                .target(Target::ratio_at_least(1.8, ">= 1.8x")),
        );
        let b = bounds(&r);
        let new = b
            .iter()
            .find(|s| s.starts_with("**New flows per second**"))
            .expect("new flows");
        assert!(
            new.contains("reaches 2.20x netfilter's 0.200 M new flows/s"),
            "{new}"
        );
        assert!(
            new.contains("5x netfilter (1.000 M/s) is above the 0.500 Mpps"),
            "{new}"
        );
        let two = b
            .iter()
            .find(|s| s.starts_with("**Two CPUs**"))
            .expect("two CPUs");
        assert!(
            two.contains("scale by 1.75x (redirect) and 1.70x (5-tuple NAT)"),
            "{two}"
        );
    }
}
