//! hyperlab's userspace agent, as a library so the tests drive the same code.
//!
//! Data flow: `config` (parse + validate) -> `model::Topology` -> `compile`
//! (pure: map entries) -> `delta` (pure: what a reload writes) -> `loader`
//! (programs + maps in the kernel). `pins` knows where a lab's maps are
//! pinned; the readers (`stats`, `flows`, `flowlog`) and the conntrack
//! sweeper open them there. `lab` builds the namespaces and veths; it and
//! `loader` do not know each other, `agent` wires them. The arrows are
//! checked by `tests/architecture.rs`.

pub mod agent;
pub mod aws_endpoint;
pub mod compile;
pub mod config;
pub mod conntrack;
pub mod delta;
pub mod demo;
pub mod explain;
pub mod fault;
pub mod flowlog;
pub mod flows;
pub mod health;
pub mod import;
pub mod lab;
pub mod loader;
pub mod maglev;
pub mod metrics;
pub mod model;
pub mod netns;
pub mod persist;
pub mod pins;
pub mod stats;
pub mod testrun;
