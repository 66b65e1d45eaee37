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

/// The `[conntrack]` and `[flow_logs]` tables a flow log test appends to
/// its topology: each of `timeouts` (conntrack keys) 1 s, AWS's ranges
/// ignored; a log every second to `/tmp/hyperlab-@LAB@-flows.log`, with
/// the string settings `settings` (key, value).
pub fn every_second(timeouts: &[&str], settings: &[(&str, &str)]) -> String {
    let mut s = String::from("\n[conntrack]\n");
    for t in timeouts {
        s += &format!("{t} = 1\n");
    }
    s += "ignore_aws_ranges = true\n\n[flow_logs]\n";
    s += "destination = \"/tmp/hyperlab-@LAB@-flows.log\"\ninterval = 1\n";
    for (k, v) in settings {
        s += &format!("{k} = \"{v}\"\n");
    }
    s
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

#[cfg(test)]
mod tests {
    #[test]
    fn every_second_writes_the_two_tables_a_key_a_line() {
        let text = super::every_second(
            &["tcp_transitory_timeout", "udp_timeout"],
            &[("format", "${srcport}")],
        );
        assert_eq!(
            text,
            r#"
[conntrack]
tcp_transitory_timeout = 1
udp_timeout = 1
ignore_aws_ranges = true

[flow_logs]
destination = "/tmp/hyperlab-@LAB@-flows.log"
interval = 1
format = "${srcport}"
"#
        );
    }
}
