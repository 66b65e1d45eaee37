//! Part 3's traffic generator: `hlb_gen` through BPF_PROG_RUN with live
//! frames, or (a kernel that refuses those) an AF_PACKET socket sending the
//! same frames ([`afpacket`]), on one CPU or on each of two CPUs with a flow
//! set each, and the timed call with its monitor (moved from veth.rs).

use std::{
    path::Path,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp};
use dataplane::netns;
use hyperlab_bench_common::{programs as bprog, COUNT_GEN, COUNT_SINK, FRAME_LEN};

use super::{afpacket, objects::BenchObject, sys};
use hyperlab_tests::xdp_ctx;

/// What sends part 3's frames, picked once per run ([`generator`]). The two
/// give different rates: every ratio of the part is taken against baselines
/// measured with the same generator in the same run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generator {
    /// `hlb_gen` through BPF_PROG_RUN with live frames, XDP_TX out of the
    /// sending host's eth0.
    LiveFrames,
    /// An AF_PACKET socket on the sending host's eth0 transmitting the frames
    /// `hlb_gen` would write ([`afpacket`]): the kernel refuses live frames.
    AfPacket,
}

impl Generator {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Generator::LiveFrames => "live frames (BPF_PROG_RUN)",
            Generator::AfPacket => "AF_PACKET (kernel refuses live frames)",
        }
    }

    /// The report's note line naming the generator.
    pub fn note(self) -> String {
        format!(
            "Generator: {}. A kernel that refuses BPF_PROG_RUN with live frames gets an \
             AF_PACKET generator instead (the same frames, sent from the same eth0 with \
             sendmmsg), named here; the two generators' rates are not comparable, the ratios \
             are (each against baselines measured with the same generator in the same run).",
            self.label()
        )
    }
}

/// One scenario's traffic: its frame, sent from `ns`'s interface `ifindex`
/// by the run's generator, one thread per CPU in `cpus`, each with its own
/// flow set (the generator's flow index `(seq & flows_mask) + cpu * stride`,
/// [`hyperlab_bench_common::gen_index`]).
pub struct Traffic<'a> {
    /// AF_PACKET: per CPU of `cpus`, the frames `hlb_gen` would write there,
    /// one per flow (empty with live frames: `hlb_gen` writes them).
    pub frames: Vec<afpacket::Frames>,
    /// AF_PACKET: frames sent so far (`hlb_gen` counts in COUNT_GEN).
    pub generated: AtomicU64,
    pub ns: &'a str,
    pub ifindex: u32,
    /// The template (source port 0) `hlb_gen` reads from the config.
    pub frame: &'a [u8],
    pub cpus: Vec<usize>,
}

impl<'a> Traffic<'a> {
    /// The traffic of `flows_mask + 1` flows per CPU, flow sets `stride`
    /// apart (the config's `cpu_stride`, 0 for one CPU).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gen: Generator,
        ns: &'a str,
        ifindex: u32,
        frame: &'a [u8],
        sport_base: u32,
        flows_mask: u32,
        cpus: Vec<usize>,
        stride: u32,
    ) -> Result<Traffic<'a>> {
        let frames = match gen {
            Generator::LiveFrames => Vec::new(),
            Generator::AfPacket => cpus
                .iter()
                .map(|&c| {
                    afpacket::Frames::with_offset(frame, sport_base, flows_mask, c as u32 * stride)
                })
                .collect::<Result<_>>()?,
        };
        Ok(Traffic {
            frames,
            generated: AtomicU64::new(0),
            ns,
            ifindex,
            frame,
            cpus,
        })
    }

    /// Sends `repeat` frames from each CPU: one live-frames call per CPU,
    /// or AF_PACKET batches, the CPUs' threads side by side.
    pub fn send(&self, bench: &BenchObject, repeat: u32) -> Result<()> {
        let one = |k: usize| -> Result<()> {
            netns::scoped_in(self.ns, || {
                sys::pin_to_cpu(self.cpus[k])?;
                match self.frames.get(k) {
                    None => {
                        let ctx = xdp_ctx(self.ifindex, self.frame.len());
                        live_frames(bench.xdp(bprog::GEN), self.frame, Some(&ctx), repeat)
                            .context("BPF_PROG_RUN live frames (generator)")
                    }
                    Some(frames) => afpacket::Sender::open(self.ifindex)?
                        .send(frames, &self.generated, repeat as u64)
                        .context("AF_PACKET generator"),
                }
            })
        };
        if self.cpus.len() == 1 {
            return one(0);
        }
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..self.cpus.len())
                .map(|k| s.spawn(move || one(k)))
                .collect();
            hs.into_iter().try_for_each(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("generator thread panicked"))?
            })
        })
    }

    /// Frames the generator has sent so far (a counter that only grows).
    pub fn generated(&self, bench: &BenchObject) -> Result<u64> {
        if self.frames.is_empty() {
            bench.count(COUNT_GEN)
        } else {
            Ok(self.generated.load(Ordering::Acquire))
        }
    }
}

/// Picks part 3's generator: live frames when the kernel runs them (one
/// frame through the sink, which only counts and drops, in the caller's
/// namespace, on a bench object of its own), AF_PACKET when it refuses them
/// with EPERM. Any other failure is an error.
pub fn generator(bench_obj: &Path) -> Result<Generator> {
    let bench = BenchObject::load(bench_obj, None)?;
    let frame = [0u8; FRAME_LEN];
    match live_frames_call(bench.xdp(bprog::SINK), &frame, None, 1) {
        Ok(()) => Ok(Generator::LiveFrames),
        Err(e) if refused(&e) => {
            eprintln!(
                "[bench] veth: {}",
                refusal(
                    &kernel_release(),
                    "part 3 sends its frames with AF_PACKET instead"
                )
            );
            Ok(Generator::AfPacket)
        }
        Err(e) => Err(anyhow::Error::new(e).context("BPF_PROG_RUN with live frames (probe)")),
    }
}

/// BPF_PROG_RUN with live frames, batches of 64.
fn live_frames_call(
    prog: &Xdp,
    frame: &[u8],
    ctx: Option<&[u8]>,
    repeat: u32,
) -> Result<(), aya::programs::ProgramError> {
    prog.test_run(TestRunOptions {
        data_in: Some(frame),
        ctx_in: ctx,
        repeat,
        attrs: TestRunAttrs::new().xdp_live_frames(64),
        ..Default::default()
    })
    .map(|_| ())
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// [`live_frames_call`], a refusal named.
fn live_frames(prog: &Xdp, frame: &[u8], ctx: Option<&[u8]>, repeat: u32) -> Result<()> {
    live_frames_call(prog, frame, ctx, repeat).map_err(|e| {
        let refused = refused(&e);
        let e = anyhow::Error::new(e);
        if refused {
            e.context(refusal(
                &kernel_release(),
                "it accepted them when part 3 started",
            ))
        } else {
            e
        }
    })
}

/// Why a root process gets EPERM from BPF_PROG_RUN with live frames: the
/// upstream kernel has no such error on that path (net/bpf/test_run.c), so
/// the kernel build refuses the feature. Seen on the sandbox kernel
/// 6.18.44-fc-v1300, for any XDP program, also one that only drops, in the
/// root namespace, without an ingress interface or CPU pinning; its
/// 6.18.44-fc-v782 ran docs/BENCHMARKS.md's part 3.
fn refusal(release: &str, then: &str) -> String {
    format!(
        "this kernel ({release}) refuses BPF_PROG_RUN with live frames \
         (BPF_F_TEST_XDP_LIVE_FRAMES) to root with EPERM, for any XDP program: a restriction \
         of the kernel build, not of the lab; {then}"
    )
}

/// Whether a BPF_PROG_RUN failure is the kernel refusing the call (EPERM).
fn refused(e: &aya::programs::ProgramError) -> bool {
    matches!(e, aya::programs::ProgramError::SyscallError(s)
        if s.io_error.raw_os_error() == Some(libc::EPERM))
}

struct Point {
    t: Instant,
    gen: u64,
    sink: u64,
}

/// Counters at the start and end of the rate window.
type Window = Option<(Point, Point)>;
/// (run_time_ns, run_cnt) of the router port's program at the start and
/// end of the in-situ window.
type InSitu = Option<((u64, u64), (u64, u64))>;

/// One measurement.
pub struct Sample {
    pub mpps: f64,
    pub insitu_ns: Option<f64>,
    pub delivered: f64,
}

/// One long generator call with a monitor thread that samples the counters
/// as the call progresses (see the report's method note).
pub fn timed(
    bench: &BenchObject,
    traffic: &Traffic<'_>,
    repeat: u32,
    fwd: Option<&Xdp>,
) -> Result<Option<Sample>> {
    let start_gen = traffic.generated(bench)?;
    let start_sink = bench.count(COUNT_SINK)?;
    let done = AtomicBool::new(false);
    let info = |p: Option<&Xdp>| -> Option<(u64, u64)> {
        let i = p?.info().ok()?;
        Some((i.run_time().as_nanos() as u64, i.run_count()))
    };
    let (gen_result, mon) = std::thread::scope(|s| {
        let mon = s.spawn(|| -> Result<(Window, InSitu)> {
            let total = repeat as f64 * traffic.cpus.len() as f64;
            let at = |f: f64| start_gen + (total * f) as u64;
            let point = || -> Result<Point> {
                Ok(Point {
                    t: Instant::now(),
                    gen: traffic.generated(bench)?,
                    sink: bench.count(COUNT_SINK)?,
                })
            };
            let wait_for = |target: u64| -> Result<Option<Point>> {
                loop {
                    let p = point()?;
                    if p.gen >= target {
                        return Ok(Some(p));
                    }
                    if done.load(Ordering::Acquire) {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            };
            let Some(a) = wait_for(at(0.10))? else {
                return Ok((None, None));
            };
            let Some(b) = wait_for(at(0.45))? else {
                return Ok((None, None));
            };
            let window = Some((a, b));
            if fwd.is_none() {
                return Ok((window, None));
            }
            let stats =
                aya::sys::enable_stats(aya::sys::Stats::RunTime).context("BPF_ENABLE_STATS")?;
            if wait_for(at(0.50))?.is_none() {
                return Ok((window, None));
            }
            let c = info(fwd);
            let d = wait_for(at(0.85))?;
            let dd = info(fwd);
            drop(stats);
            Ok((
                window,
                match (c, d, dd) {
                    (Some(c), Some(_), Some(dd)) => Some((c, dd)),
                    _ => None,
                },
            ))
        });
        let r = traffic.send(bench, repeat);
        done.store(true, Ordering::Release);
        (r, mon.join())
    });
    gen_result?;
    let (window, insitu) = mon.map_err(|_| anyhow::anyhow!("monitor thread panicked"))??;
    let gen = traffic.generated(bench)? - start_gen;
    let sink = bench.count(COUNT_SINK)? - start_sink;
    let Some((a, b)) = window else {
        return Ok(None);
    };
    let mpps = (b.sink - a.sink) as f64 / (b.t - a.t).as_secs_f64() / 1e6;
    let insitu_ns = insitu
        .and_then(|((t0, c0), (t1, c1))| (c1 > c0).then(|| (t1 - t0) as f64 / (c1 - c0) as f64));
    Ok(Some(Sample {
        mpps,
        insitu_ns,
        delivered: if gen == 0 {
            0.0
        } else {
            sink as f64 / gen as f64
        },
    }))
}

#[cfg(test)]
mod tests {
    use std::io;

    use aya::{programs::ProgramError, sys::SyscallError};

    use super::*;

    fn syscall_error(errno: i32) -> ProgramError {
        ProgramError::SyscallError(SyscallError {
            call: "bpf_prog_test_run",
            io_error: io::Error::from_raw_os_error(errno),
        })
    }

    #[test]
    fn eperm_from_bpf_prog_run_is_the_kernel_refusing_live_frames() {
        assert!(refused(&syscall_error(libc::EPERM)));
        assert!(!refused(&syscall_error(libc::EINVAL)));
        assert!(!refused(&syscall_error(libc::ENOMEM)));
        assert!(!refused(&ProgramError::NotLoaded));
        assert!(refusal("6.18.44-fc-v1300", "then")
            .starts_with("this kernel (6.18.44-fc-v1300) refuses"));
    }
}
