//! What a bench run found, and how it is written down: the Markdown report,
//! the SVG plot and the summary printed at the end.

use std::fmt::Write as _;

use super::{stats::Summary, Section};

/// One measured figure: its value in every repetition, the baseline it is
/// judged against (as per-repetition ratios) and the target, if any.
#[derive(Clone, Debug)]
pub struct Row {
    pub section: Section,
    /// The table this row belongs to (one per section part).
    pub table: &'static str,
    pub name: String,
    pub unit: &'static str,
    pub samples: Vec<f64>,
    pub baseline: Option<Baseline>,
    pub target: Option<Target>,
    /// Drawn in the plot (one panel per table).
    pub plot: bool,
    pub note: String,
    /// What the name leaves to the table title (hook, flows, direction),
    /// for lists outside the table: the targets and the printed summary.
    pub context: String,
    /// A point of a curve over the flow count: the curve's name and the
    /// flows. The plot draws one panel per part with every curve of that
    /// part, flows on a log axis.
    pub series: Option<(String, f64)>,
}

#[derive(Clone, Debug)]
pub struct Baseline {
    pub name: String,
    /// `value / baseline` in each repetition.
    pub ratios: Vec<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    AtMost,
    AtLeast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum On {
    /// The ratio to the baseline (median over repetitions).
    Ratio,
    /// The value itself (median).
    Value,
}

#[derive(Clone, Debug)]
pub struct Target {
    pub text: String,
    pub on: On,
    pub op: Op,
    pub limit: f64,
}

impl Target {
    pub fn ratio_at_most(limit: f64, text: &str) -> Target {
        Target {
            text: text.into(),
            on: On::Ratio,
            op: Op::AtMost,
            limit,
        }
    }

    pub fn ratio_at_least(limit: f64, text: &str) -> Target {
        Target {
            text: text.into(),
            on: On::Ratio,
            op: Op::AtLeast,
            limit,
        }
    }

    pub fn value_at_most(limit: f64, text: &str) -> Target {
        Target {
            text: text.into(),
            on: On::Value,
            op: Op::AtMost,
            limit,
        }
    }
}

/// Whether a target was met, judged on the median.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Met,
    /// Missed by this fraction of the limit (0.1 = 10 % over / under).
    Missed(f64),
    NoData,
}

impl Row {
    pub fn new(
        section: Section,
        table: &'static str,
        name: impl Into<String>,
        unit: &'static str,
        samples: Vec<f64>,
    ) -> Row {
        Row {
            section,
            table,
            name: name.into(),
            unit,
            samples,
            baseline: None,
            target: None,
            plot: false,
            note: String::new(),
            context: String::new(),
            series: None,
        }
    }

    /// This row is the point at `flows` of curve `name`.
    pub fn at(mut self, name: impl Into<String>, flows: f64) -> Row {
        self.series = Some((name.into(), flows));
        self
    }

    pub fn context(mut self, c: impl Into<String>) -> Row {
        self.context = c.into();
        self
    }

    /// The name with its context, for lists outside the table.
    pub fn full_name(&self) -> String {
        if self.context.is_empty() {
            self.name.clone()
        } else {
            format!("{}: {}", self.context, self.name)
        }
    }

    pub fn baseline(mut self, name: impl Into<String>, ratios: Vec<f64>) -> Row {
        self.baseline = Some(Baseline {
            name: name.into(),
            ratios,
        });
        self
    }

    pub fn target(mut self, t: Target) -> Row {
        self.target = Some(t);
        self
    }

    pub fn plot(mut self) -> Row {
        self.plot = true;
        self
    }

    pub fn note(mut self, n: impl Into<String>) -> Row {
        self.note = n.into();
        self
    }

    pub fn value(&self) -> Option<Summary> {
        Summary::of(&self.samples)
    }

    pub fn ratio(&self) -> Option<Summary> {
        self.baseline.as_ref().and_then(|b| Summary::of(&b.ratios))
    }

    pub fn verdict(&self) -> Option<Verdict> {
        let t = self.target.as_ref()?;
        let x = match t.on {
            On::Ratio => self.ratio(),
            On::Value => self.value(),
        };
        let Some(x) = x.map(|s| s.median) else {
            return Some(Verdict::NoData);
        };
        Some(match t.op {
            Op::AtMost if x <= t.limit => Verdict::Met,
            Op::AtLeast if x >= t.limit => Verdict::Met,
            Op::AtMost => Verdict::Missed(x / t.limit - 1.0),
            Op::AtLeast => Verdict::Missed(1.0 - x / t.limit),
        })
    }

    pub fn verdict_text(&self) -> String {
        let Some(t) = &self.target else {
            return String::new();
        };
        match self.verdict() {
            Some(Verdict::Met) => format!("{}: met", t.text),
            Some(Verdict::Missed(by)) => format!(
                "{}: **missed** by {} % ({} the limit)",
                t.text,
                if by < 0.1 {
                    format!("{:.1}", by * 100.0)
                } else {
                    format!("{:.0}", by * 100.0)
                },
                if t.op == Op::AtMost { "over" } else { "under" }
            ),
            _ => format!("{}: no data", t.text),
        }
    }
}

/// Correctness evidence for one scenario: what was delivered and how much of
/// it was checked (addresses, ports, both checksums). The smoke test asserts
/// on these; nothing ever asserts a speed.
#[derive(Clone, Debug, Default)]
pub struct Check {
    pub scenario: String,
    pub delivered: u64,
    pub verified: u64,
    pub failures: Vec<String>,
}

impl Check {
    pub fn new(scenario: impl Into<String>) -> Check {
        Check {
            scenario: scenario.into(),
            ..Default::default()
        }
    }

    pub fn fail(&mut self, what: impl Into<String>) {
        // Keep the report readable: the first few failures say enough.
        if self.failures.len() < 5 {
            self.failures.push(what.into());
        }
    }

    pub fn ok(&self) -> bool {
        self.delivered > 0 && self.verified > 0 && self.failures.is_empty()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub cpu: String,
    pub cpus: usize,
    pub kernel: String,
    pub memory: String,
    /// /proc/loadavg at the start and at the end of the run.
    pub load_start: String,
    pub load_end: String,
}

/// Everything one run produced.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub date: String,
    pub machine: Machine,
    pub quick: bool,
    pub reps: usize,
    /// How the run was started, and the commands each part ran.
    pub commands: Vec<String>,
    pub rows: Vec<Row>,
    pub checks: Vec<Check>,
    /// Method notes per section, in the order written.
    pub notes: Vec<(Section, String)>,
    pub seconds: f64,
}

impl Report {
    pub fn note(&mut self, s: Section, text: impl Into<String>) {
        self.notes.push((s, text.into()));
    }

    pub fn rows_of(&self, s: Section) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(move |r| r.section == s)
    }

    pub fn markdown(&self, svg_name: &str) -> String {
        let mut m = String::new();
        let _ = writeln!(m, "# hyperlab benchmarks\n");
        let _ = writeln!(
            m,
            "Generated by `cargo xtask bench{}` on {} in {:.0} s. Every figure is the \
             median of {} repetitions with their min and max; every ratio pairs a figure \
             with a baseline measured right before or after it in the same repetition. \
             Targets are reported, never asserted. Absolute figures vary a lot between \
             machines of this kind: compare within one run.\n",
            if self.quick { " --quick" } else { "" },
            self.date,
            self.seconds,
            self.reps
        );
        let _ = writeln!(m, "![benchmark plot]({svg_name})\n");
        let _ = writeln!(m, "## Machine\n");
        let _ = writeln!(
            m,
            "- CPU: {} ({} CPUs online)",
            self.machine.cpu, self.machine.cpus
        );
        let _ = writeln!(m, "- Memory: {}", self.machine.memory);
        let _ = writeln!(m, "- Kernel: `{}`", self.machine.kernel);
        let _ = writeln!(
            m,
            "- Load average (1, 5, 15 min; running/total tasks) at the start: {}; at the end: {}. \
             Other work on the machine shares its CPUs with the bench: it moves absolute \
             figures more than ratios.\n",
            self.machine.load_start, self.machine.load_end
        );
        let _ = writeln!(m, "## Targets\n");
        let _ = writeln!(m, "| figure | median | target |\n| --- | --- | --- |");
        for r in self.rows.iter().filter(|r| r.target.is_some()) {
            let shown = match r.target.as_ref().map(|t| t.on) {
                Some(On::Ratio) => r.ratio().map(|s| format!("{:.2}x", s.median)),
                _ => r.value().map(|s| format!("{} {}", num(s.median), r.unit)),
            };
            let _ = writeln!(
                m,
                "| {} | {} | {} |",
                r.full_name(),
                shown.unwrap_or_else(|| "-".into()),
                r.verdict_text()
            );
        }
        m.push('\n');
        let bounds = super::analysis::bounds(self);
        if !bounds.is_empty() {
            let _ = writeln!(m, "## What bounds the missed targets\n");
            for b in bounds {
                let _ = writeln!(m, "- {b}");
            }
            m.push('\n');
        }
        for s in Section::ALL {
            if self.rows_of(s).next().is_none() && !self.notes.iter().any(|(ns, _)| *ns == s) {
                continue;
            }
            let _ = writeln!(m, "## {}\n", s.title());
            for (_, n) in self.notes.iter().filter(|(ns, _)| *ns == s) {
                let _ = writeln!(m, "{n}\n");
            }
            let mut tables: Vec<&'static str> = Vec::new();
            for r in self.rows_of(s) {
                if !tables.contains(&r.table) {
                    tables.push(r.table);
                }
            }
            for t in tables {
                let _ = writeln!(m, "### {t}\n");
                let _ = writeln!(
                    m,
                    "| what | median | min - max | vs | ratio median (min - max) | target | note |"
                );
                let _ = writeln!(m, "| --- | ---: | ---: | --- | ---: | --- | --- |");
                for r in self.rows_of(s).filter(|r| r.table == t) {
                    let v = r.value();
                    let ratio = r.ratio();
                    let _ = writeln!(
                        m,
                        "| {} | {} | {} | {} | {} | {} | {} |",
                        r.name,
                        v.map(|v| format!("{} {}", num(v.median), r.unit))
                            .unwrap_or_else(|| "-".into()),
                        v.map(|v| format!("{} - {}", num(v.min), num(v.max)))
                            .unwrap_or_else(|| "-".into()),
                        r.baseline.as_ref().map(|b| b.name.as_str()).unwrap_or(""),
                        ratio
                            .map(|x| format!("{:.2}x ({:.2} - {:.2})", x.median, x.min, x.max))
                            .unwrap_or_default(),
                        r.verdict_text(),
                        r.note
                    );
                }
                m.push('\n');
            }
        }
        let _ = writeln!(m, "## Correctness checks\n");
        let _ = writeln!(
            m,
            "Every scenario checks what it delivered: test-run outputs byte by byte or field \
             by field, sampled sink frames (addresses, ports, IPv4 and UDP checksums), and \
             for iperf3 the peer address the server saw. 'delivered' counts packets (test runs, \
             scale runs, sink samples), config loads, or bytes (iperf3); 'verified' counts the \
             packets, loads or iperf3 runs that passed every check.\n"
        );
        let _ = writeln!(
            m,
            "| scenario | delivered | verified | result |\n| --- | ---: | ---: | --- |"
        );
        for c in &self.checks {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} |",
                c.scenario,
                c.delivered,
                c.verified,
                if c.ok() {
                    "ok".to_string()
                } else if c.failures.is_empty() {
                    "nothing delivered".to_string()
                } else {
                    format!("FAILED: {}", c.failures.join("; "))
                }
            );
        }
        let _ = writeln!(m, "\n## How to reproduce\n");
        let _ = writeln!(
            m,
            "As root on a machine of this kind (Debian 12, kernel 6.6 or later):\n"
        );
        let _ = writeln!(m, "```sh");
        for c in &self.commands {
            let _ = writeln!(m, "{c}");
        }
        let _ = writeln!(m, "```");
        m
    }

    /// The lines printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut m = String::new();
        let _ = writeln!(
            m,
            "hyperlab bench: {} rows, {} checks, {:.0} s",
            self.rows.len(),
            self.checks.len(),
            self.seconds
        );
        for r in &self.rows {
            let v = r.value();
            let _ = write!(
                m,
                "  [{}] {}: {}",
                r.section.key(),
                r.full_name(),
                v.map(|v| format!(
                    "{} {} ({} - {})",
                    num(v.median),
                    r.unit,
                    num(v.min),
                    num(v.max)
                ))
                .unwrap_or_else(|| "-".into())
            );
            if let (Some(b), Some(x)) = (&r.baseline, r.ratio()) {
                let _ = write!(m, "; {:.2}x {}", x.median, b.name);
            }
            if r.target.is_some() {
                let _ = write!(m, "; {}", r.verdict_text().replace("**", ""));
            }
            m.push('\n');
        }
        for c in self.checks.iter().filter(|c| !c.ok()) {
            let _ = writeln!(
                m,
                "  CHECK FAILED {}: delivered {}, verified {}, {:?}",
                c.scenario, c.delivered, c.verified, c.failures
            );
        }
        m
    }

    /// One horizontal bar panel per plotted table: median bars with min-max
    /// whiskers. Hand-written SVG (no fonts or libraries needed to make it).
    pub fn svg(&self) -> String {
        const W: f64 = 960.0;
        const LABEL: f64 = 390.0;
        const BAR: f64 = 440.0;
        const ROW: f64 = 18.0;
        let mut panels: Vec<(String, Vec<&Row>)> = Vec::new();
        for r in self.rows.iter().filter(|r| r.plot && r.value().is_some()) {
            let title = format!("{}: {}", r.section.title(), r.table);
            match panels.iter_mut().find(|(t, _)| *t == title) {
                Some((_, rows)) => rows.push(r),
                None => panels.push((title, vec![r])),
            }
        }
        let curves = self.curve_panels();
        let height: f64 = 48.0
            + panels
                .iter()
                .map(|(_, rs)| 36.0 + ROW * rs.len() as f64)
                .sum::<f64>()
            + curves.iter().map(|c| c.height()).sum::<f64>();
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="11">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="10" y="22" font-size="14" font-weight="bold">hyperlab benchmarks, {} (median, whiskers min-max of {} repetitions)</text>"#,
            xml(&self.date),
            self.reps
        );
        let _ = writeln!(
            s,
            r##"<rect x="10" y="32" width="10" height="10" fill="#3d8b40"/><text x="24" y="41">target met</text><rect x="100" y="32" width="10" height="10" fill="#d9822b"/><text x="114" y="41">target missed</text><rect x="206" y="32" width="10" height="10" fill="#4a78b5"/><text x="220" y="41">no target (baselines, peers)</text>"##
        );
        let mut y = 48.0;
        for (title, rows) in &panels {
            let _ = writeln!(
                s,
                r#"<text x="10" y="{}" font-size="12" font-weight="bold">{}</text>"#,
                y + 16.0,
                xml(title)
            );
            y += 26.0;
            let top = rows
                .iter()
                .filter_map(|r| r.value().map(|v| v.max))
                .fold(0.0f64, f64::max)
                .max(f64::MIN_POSITIVE);
            for r in rows {
                let v = r.value().expect("filtered");
                let scale = |x: f64| LABEL + BAR * (x / top).clamp(0.0, 1.0);
                let mid = y + ROW / 2.0;
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                    LABEL - 6.0,
                    mid + 4.0,
                    xml(&r.name)
                );
                let fill = match r.verdict() {
                    Some(Verdict::Missed(_)) => "#d9822b",
                    Some(Verdict::Met) => "#3d8b40",
                    _ => "#4a78b5",
                };
                let _ = writeln!(
                    s,
                    r#"<rect x="{LABEL}" y="{}" width="{:.1}" height="{}" fill="{fill}"/>"#,
                    y + 3.0,
                    scale(v.median) - LABEL,
                    ROW - 6.0
                );
                let _ = writeln!(
                    s,
                    r#"<line x1="{:.1}" x2="{:.1}" y1="{mid}" y2="{mid}" stroke="black"/><line x1="{:.1}" x2="{:.1}" y1="{}" y2="{}" stroke="black"/><line x1="{:.1}" x2="{:.1}" y1="{}" y2="{}" stroke="black"/>"#,
                    scale(v.min),
                    scale(v.max),
                    scale(v.min),
                    scale(v.min),
                    mid - 4.0,
                    mid + 4.0,
                    scale(v.max),
                    scale(v.max),
                    mid - 4.0,
                    mid + 4.0
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{}">{}</text>"#,
                    scale(v.max) + 6.0,
                    mid + 4.0,
                    xml(&num(v.median))
                );
                y += ROW;
            }
            y += 10.0;
        }
        for c in &curves {
            y = c.draw(&mut s, y, W);
        }
        s.push_str("</svg>\n");
        s
    }

    /// One panel per part and unit for the rows that are points of a curve
    /// over the flow count.
    fn curve_panels(&self) -> Vec<CurvePanel> {
        let mut out: Vec<CurvePanel> = Vec::new();
        for r in &self.rows {
            let (Some((name, x)), Some(v)) = (&r.series, r.value()) else {
                continue;
            };
            let title = format!(
                "{}: {} against live flows (log axis)",
                r.section.title(),
                r.unit
            );
            let p = match out.iter_mut().position(|p| p.title == title) {
                Some(i) => &mut out[i],
                None => {
                    out.push(CurvePanel {
                        title,
                        unit: r.unit,
                        curves: Vec::new(),
                    });
                    out.last_mut().expect("pushed")
                }
            };
            match p.curves.iter_mut().find(|(n, _)| n == name) {
                Some((_, pts)) => pts.push((*x, v.median)),
                None => p.curves.push((name.clone(), vec![(*x, v.median)])),
            }
        }
        for p in &mut out {
            for (_, pts) in &mut p.curves {
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
        }
        out
    }
}

/// Curves over the flow count, flows on a log axis.
struct CurvePanel {
    title: String,
    unit: &'static str,
    curves: Vec<(String, Vec<(f64, f64)>)>,
}

const PALETTE: [&str; 8] = [
    "#4a78b5", "#d9822b", "#3d8b40", "#b53d3d", "#7a4ab5", "#2b9fd9", "#8b7a3d", "#555555",
];

impl CurvePanel {
    const PLOT_H: f64 = 220.0;

    fn height(&self) -> f64 {
        26.0 + Self::PLOT_H + 44.0 + 14.0 * self.curves.len() as f64 + 10.0
    }

    /// Draws the panel from `y`; returns the y below it.
    fn draw(&self, s: &mut String, y: f64, w: f64) -> f64 {
        let (left, right) = (70.0, w - 30.0);
        let _ = writeln!(
            s,
            r#"<text x="10" y="{}" font-size="12" font-weight="bold">{}</text>"#,
            y + 16.0,
            xml(&self.title)
        );
        let top = y + 26.0;
        let bottom = top + Self::PLOT_H;
        let pts = self.curves.iter().flat_map(|(_, p)| p.iter());
        let (mut xmin, mut xmax, mut ymax) = (f64::MAX, f64::MIN, 0.0f64);
        for &(x, v) in pts {
            xmin = xmin.min(x.max(1.0));
            xmax = xmax.max(x.max(1.0));
            ymax = ymax.max(v);
        }
        let (lx0, lx1) = (xmin.log10(), xmax.log10().max(xmin.log10() + 1.0));
        let ymax = ymax.max(f64::MIN_POSITIVE) * 1.1;
        let sx = |x: f64| left + (right - left) * (x.max(1.0).log10() - lx0) / (lx1 - lx0);
        let sy = |v: f64| bottom - (bottom - top) * (v / ymax).clamp(0.0, 1.0);
        let _ = writeln!(
            s,
            r##"<rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
            right - left,
            bottom - top
        );
        // Decades on the x axis, four steps on the y axis.
        let mut d = lx0.floor() as i32;
        while d as f64 <= lx1.ceil() {
            let x = 10f64.powi(d);
            if x >= 10f64.powf(lx0) * 0.999 && x <= 10f64.powf(lx1) * 1.001 {
                let _ = writeln!(
                    s,
                    r##"<line x1="{0:.1}" x2="{0:.1}" y1="{top}" y2="{bottom}" stroke="#ddd"/><text x="{0:.1}" y="{1}" text-anchor="middle">{2}</text>"##,
                    sx(x),
                    bottom + 14.0,
                    xml(&format!("1e{d}"))
                );
            }
            d += 1;
        }
        for k in 0..=4 {
            let v = ymax * k as f64 / 4.0;
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                left - 6.0,
                sy(v) + 4.0,
                xml(&num(v))
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">live flows; y: {}</text>"#,
            (left + right) / 2.0,
            bottom + 28.0,
            xml(self.unit)
        );
        let mut ly = bottom + 44.0;
        for (i, (name, p)) in self.curves.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            let path: Vec<String> = p
                .iter()
                .map(|&(x, v)| format!("{:.1},{:.1}", sx(x), sy(v)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"/>"#,
                path.join(" ")
            );
            for &(x, v) in p {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{c}"/>"#,
                    sx(x),
                    sy(v)
                );
            }
            let _ = writeln!(
                s,
                r#"<rect x="{left}" y="{}" width="10" height="10" fill="{c}"/><text x="{}" y="{}">{}</text>"#,
                ly - 9.0,
                left + 14.0,
                ly,
                xml(name)
            );
            ly += 14.0;
        }
        y + self.height()
    }
}

/// A figure with about three significant digits.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_targets_say_by_how_much() {
        let r = Row::new(Section::Kernel, "t", "x", "ns", vec![10.0, 12.0, 11.0])
            .baseline("floor", vec![1.5, 1.5, 1.5])
            .target(Target::ratio_at_most(1.25, "<= 1.25x floor"));
        assert_eq!(r.verdict(), Some(Verdict::Missed(0.19999999999999996)));
        assert!(
            r.verdict_text().contains("missed** by 20 %"),
            "{}",
            r.verdict_text()
        );
        let r = Row::new(Section::Host, "t", "x", "Gbit/s", vec![9.0])
            .baseline("veth", vec![0.9])
            .target(Target::ratio_at_least(0.95, ">= 95 %"));
        assert!(matches!(r.verdict(), Some(Verdict::Missed(_))));
        let r = Row::new(Section::Scale, "t", "x", "s", vec![1.0])
            .target(Target::value_at_most(2.0, "< 2 s"));
        assert_eq!(r.verdict(), Some(Verdict::Met));
    }

    #[test]
    fn curves_get_one_panel_per_part_with_flows_on_a_log_axis() {
        let mut rep = Report::default();
        for (n, v) in [(1_000.0, 100.0), (1_000_000.0, 400.0)] {
            rep.rows
                .push(Row::new(Section::Scale, "t", "a", "ns", vec![v]).at("floor", n));
            rep.rows
                .push(Row::new(Section::Scale, "t", "b", "ns", vec![v * 2.0]).at("hyperlab", n));
        }
        rep.rows
            .push(Row::new(Section::Veth, "u", "c", "Mpps", vec![1.0]).at("nat", 1.0));
        let panels = rep.curve_panels();
        assert_eq!(panels.len(), 2);
        assert_eq!(panels[0].curves.len(), 2);
        assert_eq!(
            panels[0].curves[1].1,
            vec![(1_000.0, 200.0), (1_000_000.0, 800.0)]
        );
        let svg = rep.svg();
        assert_eq!(svg.matches("<polyline").count(), 3);
        // Decades 1e3 .. 1e6 are labelled on the first panel's axis.
        for d in ["1e3", "1e4", "1e5", "1e6"] {
            assert!(svg.contains(&format!(">{d}</text>")), "{d}");
        }
    }
}
