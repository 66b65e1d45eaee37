//! BPF_PROG_TEST_RUN as a stopwatch. Call from a thread inside the namespace
//! whose interfaces the contexts name.
//!
//! Two ways to time a program, both with the kernel's own clock:
//! - *loop*: one call, `repeat` runs of the same frame, the kernel's average.
//!   The frame is not restored between runs, so this only suits paths whose
//!   output is again an input of the same path.
//! - *per call*: one call per frame (`repeat` = 1), each on a fresh copy of
//!   its frame, the kernel's durations summed. Distinct frames make distinct
//!   flows; copies of one frame restore it. Each call's duration also holds
//!   a fixed cost (the clock reads around one run), measured with an empty
//!   program and subtracted (see [`Overhead`]).

use anyhow::Result;
pub use dataplane::testrun::Program;

use hyperlab_tests::Outcome;

/// One call: the outcome of the last run and the kernel's ns per run (with
/// `repeat` > 1: *loop* timing).
pub fn call(prog: Program<'_>, ifindex: u32, frame: &[u8], repeat: u32) -> Result<(Outcome, f64)> {
    let (o, d) = dataplane::testrun::call(prog, ifindex, frame, repeat)?;
    Ok((o, d.as_nanos() as f64))
}

/// *Per-call* timing: mean kernel ns per frame over one call per frame, the
/// fixed per-call cost not yet subtracted. `check` sees every outcome.
pub fn per_call(
    prog: Program<'_>,
    ifindex: u32,
    frames: &[Vec<u8>],
    mut check: impl FnMut(usize, &Outcome),
) -> Result<f64> {
    let mut total = 0.0;
    for (i, f) in frames.iter().enumerate() {
        let (o, ns) = call(prog, ifindex, f, 1)?;
        check(i, &o);
        total += ns;
    }
    Ok(total / frames.len().max(1) as f64)
}

/// The fixed cost one per-call measurement carries on a hook: an empty
/// program timed per call minus the same program timed in a loop.
#[derive(Clone, Copy, Debug)]
pub struct Overhead {
    pub ns: f64,
    /// The empty program itself, in a loop: the cheapest a run can be.
    pub empty_loop_ns: f64,
}

impl Overhead {
    pub fn measure(
        empty: Program<'_>,
        ifindex: u32,
        frame: &[u8],
        calls: usize,
        repeat: u32,
    ) -> Result<Overhead> {
        let frames = vec![frame.to_vec(); calls];
        let per = per_call(empty, ifindex, &frames, |_, _| {})?;
        let (_, looped) = call(empty, ifindex, frame, repeat)?;
        Ok(Overhead {
            ns: (per - looped).max(0.0),
            empty_loop_ns: looped,
        })
    }
}
