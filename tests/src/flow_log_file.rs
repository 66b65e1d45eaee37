//! The flow log file of a root test's lab: the lab brought up with flow
//! logs on and its flows swept quickly, the file removed however the test
//! ends.

use std::{path::PathBuf, time::Duration};

use dataplane::{
    loader::LoadOptions,
    model::{FlowLogDestination, Hook},
};

use crate::Fixture;

/// A lab's flow log file, removed on drop (also when a test fails).
pub struct LogFile(pub PathBuf);

impl LogFile {
    /// The file the lab of `fx` logs to (its `[flow_logs]` destination).
    pub fn of(fx: &Fixture) -> LogFile {
        match &fx.agent.topo.flow_logs.as_ref().unwrap().destination {
            FlowLogDestination::File(p) => LogFile(p.clone()),
            other => panic!("expected a file destination, got {other:?}"),
        }
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A lab (TC hook) with flow logs on, its flows swept every 100 ms (so
/// their final counts reach the log through the sweeper's hand-over), and
/// its log file.
pub fn logged_lab(topo: &str, prefix: &str) -> (Fixture, LogFile) {
    let opts = LoadOptions {
        sweep_every: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let fx = Fixture::with_options(topo, prefix, Hook::Tc, &opts);
    let log = LogFile::of(&fx);
    (fx, log)
}
