//! `testrun`: one frame through a loaded pipeline program with
//! BPF_PROG_TEST_RUN, as if it had arrived on a fabric port. The kernel runs
//! the real program against the real maps; nothing is sent anywhere (a
//! redirect only sets the return code). `dataplane explain` and the kernel
//! tests share this.

use std::time::Duration;

use anyhow::{Context, Result};
use aya::{
    programs::{ProgramError, SchedClassifier, TestRun, TestRunOptions, Xdp},
    TestRunResult,
};

use crate::{model::Hook, netns};

/// The program to run the frame through.
#[derive(Clone, Copy)]
pub enum Program<'a> {
    Tc(&'a SchedClassifier),
    Xdp(&'a Xdp),
}

impl Program<'_> {
    pub fn hook(&self) -> Hook {
        match self {
            Program::Tc(_) => Hook::Tc,
            Program::Xdp(_) => Hook::Xdp,
        }
    }
}

/// What the pipeline decided, in hook-independent words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    Reflect,
    Pass,
    Drop,
    Other(u32),
}

impl Verdict {
    pub fn from_raw(hook: Hook, ret: u32) -> Verdict {
        match (hook, ret) {
            (Hook::Tc, 7) => Verdict::Forward,  // TC_ACT_REDIRECT (peer)
            (Hook::Tc, 0) => Verdict::Pass,     // TC_ACT_OK
            (Hook::Tc, 2) => Verdict::Drop,     // TC_ACT_SHOT
            (Hook::Xdp, 4) => Verdict::Forward, // XDP_REDIRECT
            (Hook::Xdp, 3) => Verdict::Reflect, // XDP_TX
            (Hook::Xdp, 2) => Verdict::Pass,
            (Hook::Xdp, 1) => Verdict::Drop,
            (_, r) => Verdict::Other(r),
        }
    }
}

/// The verdict and the frame as the program left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub out: Vec<u8>,
}

/// `struct __sk_buff` up to and including `ifindex` (offset 40), zeroed
/// otherwise: the kernel only accepts a few fields from userspace.
pub fn skb_ctx(ifindex: u32) -> Vec<u8> {
    let mut ctx = vec![0u8; 184]; // sizeof(struct __sk_buff)
    ctx[40..44].copy_from_slice(&ifindex.to_ne_bytes());
    ctx
}

/// `struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex }`:
/// the kernel wants `data_end` to be the frame's length.
pub fn xdp_ctx(ifindex: u32, len: usize) -> Vec<u8> {
    let mut ctx = vec![0u8; 24];
    ctx[4..8].copy_from_slice(&(len as u32).to_ne_bytes());
    ctx[12..16].copy_from_slice(&ifindex.to_ne_bytes());
    ctx
}

/// Runs `frame` through `prog` as if it arrived on fabric ifindex
/// `ifindex`, from inside the fabric namespace `fabric_ns` (the kernel
/// resolves the context's ifindex in the caller's namespace).
pub fn run(prog: Program<'_>, fabric_ns: &str, ifindex: u32, frame: &[u8]) -> Result<Outcome> {
    netns::scoped_in(fabric_ns, || Ok(call(prog, ifindex, frame, 1)?.0))
}

/// One BPF_PROG_TEST_RUN call of `repeat` runs of `frame` (the kernel does
/// not restore the frame between runs), from the caller's namespace: the
/// last run's outcome and the kernel's mean duration per run.
pub fn call(
    prog: Program<'_>,
    ifindex: u32,
    frame: &[u8],
    repeat: u32,
) -> Result<(Outcome, Duration)> {
    let (r, out) = call_raw(prog, ifindex, frame, repeat)
        .with_context(|| format!("BPF_PROG_TEST_RUN ({})", prog.hook().name()))?;
    Ok((
        Outcome {
            verdict: Verdict::from_raw(prog.hook(), r.return_value),
            out,
        },
        r.duration,
    ))
}

/// [`call`] without the interpretation: the kernel's own result (raw return
/// code, duration) and the frame as the program left it. `repeat` 0 is one
/// run, as the kernel counts it.
pub fn call_raw(
    prog: Program<'_>,
    ifindex: u32,
    frame: &[u8],
    repeat: u32,
) -> Result<(TestRunResult, Vec<u8>), ProgramError> {
    let mut out = vec![0u8; frame.len() + 256];
    let ctx = match prog {
        Program::Tc(_) => skb_ctx(ifindex),
        Program::Xdp(_) => xdp_ctx(ifindex, frame.len()),
    };
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ctx_in: Some(&ctx),
        repeat,
        ..Default::default()
    };
    let r = match prog {
        Program::Tc(tc) => tc.test_run(opts)?,
        Program::Xdp(xdp) => xdp.test_run(opts)?,
    };
    out.truncate(r.data_size_out as usize);
    Ok((r, out))
}
