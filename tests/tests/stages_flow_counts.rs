//! Stage tests of the per-CPU flow counters (`HL_FLOW_COUNTS`) and flow
//! logs' per-window `tcp-flags` (docs/DATAPLANE.md, "Where a flow is
//! logged"): each window's record carries the OR of the flags of that
//! window's packets, a flag an earlier window saw included, and the agent's
//! sum over CPUs is exact. Windows are switched as the flow log does, by
//! writing `HL_FLOW_WINDOW`.

use dataplane::model::Hook;
use dataplane_common::{FlowCounters, FlowTotals, PROTO_TCP};
use hyperlab_tests::{
    stage::{flow_key, Stage},
    HOOKS,
};
use nix::{sched::CpuSet, unistd::Pid};

mod stages_common;
use stages_common::*;

/// A client and a server whose groups allow TCP to port 80.
fn scene() -> Stage {
    let mut st = Stage::load();
    web_scene(&mut st);
    st
}

fn segment(sport: u16, flags: &str) -> Vec<u8> {
    to_server(sport, 80, flags)
}

/// Runs the test thread (and so BPF_PROG_TEST_RUN's program) on `cpu`.
fn on_cpu(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu).unwrap();
    nix::sched::sched_setaffinity(Pid::from_raw(0), &set).unwrap();
}

/// SYN in window 1, ACK+PSH and FIN in window 2, the FIN again in window
/// 3: each window's flags are exactly its own packets' (SYN 2; FIN 1; FIN
/// 1 again, which flow logs used to leave out as already seen), its counts
/// exact, read after the next window started as the flow log reads them.
#[test]
#[ignore = "needs root"]
fn each_window_gets_the_flags_of_its_own_packets() {
    for hook in HOOKS {
        let mut st = scene();
        let fwd = flow_key(VPC, client(), server(), 40000, 80, PROTO_TCP);
        let rev = flow_key(VPC, server(), client(), 80, 40000, PROTO_TCP);
        let window = |st: &Stage, k, w| FlowTotals::of(&st.flow_counters(k), w);
        let syn = segment(40000, "S");
        let ip_len = syn.len() as u64 - 14;
        st.set_flow_window(1);
        assert_forwarded_to_server(&st, hook, &syn, "SYN");
        st.set_flow_window(2);
        assert_forwarded_to_server(&st, hook, &segment(40000, "PA"), "ACK+PSH");
        assert_forwarded_to_server(&st, hook, &segment(40000, "FA"), "FIN");
        // Window 1, read after window 2 began: the SYN only.
        let created = st.flows_summed()[0].1.created_ns;
        let w1 = window(&st, &fwd, 1);
        assert_eq!(
            (w1.packets, w1.bytes, w1.tcp_flags),
            (1, ip_len, 2),
            "{hook:?} window 1"
        );
        assert!(w1.last_seen_ns >= created, "{hook:?}");
        // Window 2 so far: all three packets counted, its flags FIN only
        // (ACK and PSH are not logged; a plain FIN-ACK is 1).
        let w2 = window(&st, &fwd, 2);
        assert_eq!(
            (w2.packets, w2.bytes, w2.tcp_flags),
            (3, 3 * ip_len, 1),
            "{hook:?} window 2"
        );
        st.set_flow_window(3);
        assert_forwarded_to_server(&st, hook, &segment(40000, "FA"), "FIN again");
        let w2_closed = window(&st, &fwd, 2);
        assert_eq!(
            (w2_closed.packets, w2_closed.tcp_flags),
            (3, 1),
            "{hook:?} window 2 after it closed"
        );
        let w3 = window(&st, &fwd, 3);
        assert_eq!(
            (w3.packets, w3.tcp_flags),
            (4, 1),
            "{hook:?} window 3: the FIN window 2 saw, again"
        );
        // Window 1 is gone from the record now (two slots by parity).
        assert_eq!(window(&st, &fwd, 1).tcp_flags, 0, "{hook:?}");
        // The reply direction carried nothing.
        let r = window(&st, &rev, 3);
        assert_eq!((r.packets, r.bytes, r.tcp_flags), (0, 0, 0), "{hook:?}");
        assert_eq!(r.last_seen_ns, created, "{hook:?}: last seen at creation");
    }
}

/// The same flow's packets on two CPUs: each CPU counts into its own record
/// with plain stores, and the sum is the flow's (packets, bytes, the later
/// last-seen time, each window's flags from both).
#[test]
#[ignore = "needs root"]
fn two_cpus_count_apart_and_sum_exactly() {
    let cpus = nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN)
        .unwrap()
        .unwrap_or(1);
    if cpus < 2 {
        eprintln!("one CPU online: nothing to prove");
        return;
    }
    for hook in HOOKS {
        let mut st = scene();
        let fwd = flow_key(VPC, client(), server(), 40001, 80, PROTO_TCP);
        let syn = segment(40001, "S");
        let ip_len = syn.len() as u64 - 14;
        st.set_flow_window(7);
        on_cpu(0);
        assert_forwarded_to_server(&st, hook, &syn, "SYN on CPU 0");
        on_cpu(1);
        assert_forwarded_to_server(&st, hook, &segment(40001, "A"), "ACK on CPU 1");
        assert_forwarded_to_server(&st, hook, &segment(40001, "A"), "ACK on CPU 1");
        st.set_flow_window(8);
        assert_forwarded_to_server(&st, hook, &segment(40001, "FA"), "FIN on CPU 1");
        on_cpu(0);
        assert_forwarded_to_server(&st, hook, &segment(40001, "R"), "RST on CPU 0");
        let per_cpu = st.flow_counters(&fwd);
        let (c0, c1) = (per_cpu[0], per_cpu[1]);
        // CPU 0: the SYN (window 7), the RST (window 8).
        assert_eq!(
            (c0.packets, c0.bytes, c0.window, c0.base_packets),
            (2, 2 * ip_len, 8, 1),
            "{hook:?} CPU 0: {c0:?}"
        );
        assert_eq!((c0.tcp_flags[1], c0.tcp_flags[0]), (2, 4), "{hook:?}");
        // CPU 1: two ACKs (window 7), the FIN (window 8).
        assert_eq!(
            (c1.packets, c1.bytes, c1.window, c1.base_packets),
            (3, 3 * ip_len, 8, 2),
            "{hook:?} CPU 1: {c1:?}"
        );
        assert_eq!((c1.tcp_flags[1], c1.tcp_flags[0]), (0, 1), "{hook:?}");
        let w7 = FlowTotals::of(&per_cpu, 7);
        assert_eq!(
            (w7.packets, w7.bytes, w7.tcp_flags),
            (3, 3 * ip_len, 2),
            "{hook:?} window 7 on both CPUs"
        );
        let w8 = FlowTotals::of(&per_cpu, 8);
        assert_eq!(
            (w8.packets, w8.bytes, w8.tcp_flags),
            (5, 5 * ip_len, 5),
            "{hook:?} window 8: FIN (CPU 1) | RST (CPU 0)"
        );
        assert_eq!(
            w8.last_seen_ns,
            c0.last_seen_ns.max(c1.last_seen_ns),
            "{hook:?}"
        );
        let row = st.flows().into_iter().find(|(k, _)| *k == fwd).unwrap().1;
        assert_eq!(
            (row.totals.packets, row.totals.bytes),
            (5, 5 * ip_len),
            "{hook:?}: what `dataplane flows` shows"
        );
    }
    // Counts a test wrote on another CPU are summed the same way.
    let mut st = scene();
    let fwd = flow_key(VPC, client(), server(), 40002, 80, PROTO_TCP);
    on_cpu(0);
    assert_forwarded_to_server(&st, Hook::Xdp, &segment(40002, "S"), "SYN on CPU 0");
    let mut per_cpu = st.flow_counters(&fwd);
    per_cpu[1] = FlowCounters::first(1, 0, 4, 400, 1);
    st.set_flow_counters(fwd, per_cpu.clone());
    let t = FlowTotals::of(&st.flow_counters(&fwd), 0);
    assert_eq!(
        (t.packets, t.bytes, t.tcp_flags),
        (5, per_cpu[0].bytes + 400, 3)
    );
}
