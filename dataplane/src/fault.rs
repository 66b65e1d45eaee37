//! Fault injection for the crash tests: with `HYPERLAB_FAULT_KILL_IN_RELOAD=N`
//! in its environment, an agent SIGKILLs itself at the N-th map write of
//! the first reload it applies, exactly as an operator's `kill -9` would land
//! there (no destructor runs, nothing is flushed). Unset, a write point is
//! one relaxed atomic increment. Nothing sets it outside tests.

use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    OnceLock,
};

pub const ENV: &str = "HYPERLAB_FAULT_KILL_IN_RELOAD";

static PASSED: AtomicU64 = AtomicU64::new(0);
static ARMED: AtomicBool = AtomicBool::new(false);
static AT: OnceLock<Option<u64>> = OnceLock::new();

/// A map write of a sync.
pub fn write_point() {
    let n = PASSED.fetch_add(1, Ordering::Relaxed) + 1;
    if ARMED.load(Ordering::Relaxed) {
        if let Some(at) = *AT.get_or_init(|| std::env::var(ENV).ok().and_then(|v| v.parse().ok())) {
            if n >= at {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// Write points passed so far.
pub fn passed() -> u64 {
    PASSED.load(Ordering::Relaxed)
}

/// Counts the write points of one reload from 1; the kill (if any) fires
/// inside it.
pub fn arm_for_reload() {
    PASSED.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::Relaxed);
}

pub fn disarm() {
    ARMED.store(false, Ordering::Relaxed);
}
