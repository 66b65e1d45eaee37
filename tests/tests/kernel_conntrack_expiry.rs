//! Connection-tracking lifecycle on the real kernel: flows expire after the
//! idle timeout of their protocol and state (shortened through the config's
//! `[conntrack]`), both entries of an expired flow are removed, its NAT
//! source port is reclaimed, a reload changes the timeouts, and the flow
//! table's fill level is read back.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use dataplane::{
    model::{ConntrackSettings, Hook},
    pins,
    stats::{self, FlowTable},
};
use dataplane_common::{
    maps, DropReason, FlowKey, FLOW_STATE_ESTABLISHED, FLOW_STATE_NEW, GATEWAY_MAC, MAX_FLOWS,
    PROTO_TCP,
};
use hyperlab_tests::{ep_eni, expect, ip, pkt, topology, Fixture, Verdict};

/// vpc-a: client and web, and the endpoint vpce-tiny of nlb-tiny (vpc-p),
/// whose SNAT pool has two source ports and one target.
const TOPO: &str = include_str!("../fixtures/kernel-conntrack.toml");

/// Short timeouts (the lab knob allows them below AWS's minimums); TCP
/// established stays long. Swept every second, as the config says.
const SHORT: &str = "
[conntrack]
ignore_aws_ranges = true
tcp_established_timeout = 3600
tcp_transitory_timeout = 1
udp_timeout = 1
udp_stream_timeout = 4
other_timeout = 1
sweep_interval = 1
";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn keys(fx: &Fixture) -> HashSet<FlowKey> {
    fx.flows().into_iter().map(|(k, _)| k).collect()
}

/// Both entries of the flow whose client port (or ICMP identifier) is `port`.
fn flow_of(all: &HashSet<FlowKey>, port: u16) -> HashSet<FlowKey> {
    let p = port.to_be_bytes();
    all.iter()
        .filter(|k| k.sport == p || k.dport == p)
        .copied()
        .collect()
}

/// Polls the flow table every 50 ms until `done` holds; panics with `what`
/// after `limit`.
fn wait_for(fx: &Fixture, limit: Duration, what: &str, done: impl Fn(&HashSet<FlowKey>) -> bool) {
    let start = Instant::now();
    loop {
        if done(&keys(fx)) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not after {limit:?}; table: {:?}",
            keys(fx)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn fill(fx: &Fixture) -> FlowTable {
    stats::flow_table(fx.agent.dataplane.map(maps::FLOWS).unwrap()).unwrap()
}

/// Sends `frame` from `from` and asserts it is forwarded.
fn forward(fx: &Fixture, from: &str, frame: &[u8]) -> Vec<u8> {
    let o = fx.run(Hook::Tc, from, frame);
    assert_eq!(o.verdict, Verdict::Forward, "from {from}: {frame:02x?}");
    o.out
}

/// Waits until the coarse kernel clock (a jiffy) has moved on twice, so a
/// later packet gets a later `last_seen_ns` than the one before: the kernel
/// stamps flows with `bpf_ktime_get_coarse_ns` (`CLOCK_MONOTONIC_COARSE`
/// here) through a per-CPU copy that can lag one more tick (flow.rs `now`).
fn tick() {
    fn coarse_ns() -> u128 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC_COARSE)");
        ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    for _ in 0..2 {
        let start = coarse_ns();
        while coarse_ns() == start {
            assert!(Instant::now() < deadline, "the coarse clock did not move");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
#[ignore = "needs root"]
fn each_protocol_and_tcp_state_expires_after_its_own_timeout() {
    let fx = Fixture::new(&format!("{TOPO}{SHORT}"), "cta");
    // The TOML's [conntrack] is what the sweeper applies.
    assert_eq!(
        fx.agent.conntrack(),
        ConntrackSettings {
            timeouts: dataplane::model::Timeouts {
                tcp_established: secs(3600),
                tcp_transitory: secs(1),
                udp_stream: secs(4),
                udp: secs(1),
                other: secs(1),
                other_protocol: secs(600),
                nat_gateway: secs(350),
            },
            sweep_interval: secs(1),
        }
    );
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cm, wm) = (fx.mac("eni-client"), fx.mac("eni-web"));
    let g = GATEWAY_MAC;
    // 41000: TCP SYN only (not established: tcp_transitory).
    forward(&fx, "eni-client", &pkt::tcp(cm, g, c, w, 41000, 80, "S"));
    // 41001: TCP handshake (established: tcp_established).
    forward(&fx, "eni-client", &pkt::tcp(cm, g, c, w, 41001, 80, "S"));
    forward(&fx, "eni-web", &pkt::tcp(wm, g, w, c, 80, 41001, "SA"));
    forward(&fx, "eni-client", &pkt::tcp(cm, g, c, w, 41001, 80, "A"));
    // 41002: UDP one way (udp).
    forward(&fx, "eni-client", &pkt::udp(cm, g, c, w, 41002, 53));
    // 41004: one UDP request and its reply (still udp for AWS).
    forward(&fx, "eni-client", &pkt::udp(cm, g, c, w, 41004, 53));
    // 41: ICMP echo and reply (other).
    forward(&fx, "eni-client", &pkt::echo(cm, g, c, w, 41, true));
    tick();
    forward(&fx, "eni-web", &pkt::udp(wm, g, w, c, 53, 41004));
    forward(&fx, "eni-web", &pkt::echo(wm, g, w, c, 41, false));
    // 41003: request, reply, request (a stream: udp_stream).
    forward(&fx, "eni-client", &pkt::udp(cm, g, c, w, 41003, 53));
    tick();
    forward(&fx, "eni-web", &pkt::udp(wm, g, w, c, 53, 41003));
    tick();
    forward(&fx, "eni-client", &pkt::udp(cm, g, c, w, 41003, 53));
    let stream_last = Instant::now();

    let all = keys(&fx);
    assert_eq!(all.len(), 12, "six flows, two entries each");
    assert_eq!(
        fill(&fx),
        FlowTable {
            entries: 12,
            capacity: MAX_FLOWS as u64
        }
    );
    let states: Vec<(u16, u32)> = fx
        .flows()
        .iter()
        .filter(|(k, _)| k.proto == PROTO_TCP && k.dport == [0, 80])
        .map(|(k, e)| (u16::from_be_bytes(k.sport), e.state))
        .collect();
    assert!(states.contains(&(41000, FLOW_STATE_NEW)), "{states:?}");
    assert!(
        states.contains(&(41001, FLOW_STATE_ESTABLISHED)),
        "{states:?}"
    );
    let est = flow_of(&all, 41001);
    let stream = flow_of(&all, 41003);
    assert_eq!((est.len(), stream.len()), (2, 2));

    // The 1 s flows go (a sweep within 1 s of their expiry), both entries each.
    let survivors: HashSet<FlowKey> = est.union(&stream).copied().collect();
    wait_for(&fx, secs(4), "the 1 s flows expire", |k| *k == survivors);
    assert!(
        stream_last.elapsed() < secs(4),
        "the stream outlived the 1 s flows before its own timeout"
    );
    assert_eq!(fill(&fx).entries, 4);

    // The stream goes after 4 s idle, never before; established stays.
    wait_for(&fx, secs(7), "the UDP stream expires", |k| *k == est);
    assert!(
        stream_last.elapsed() >= secs(4),
        "the stream expired after {:?}, before udp_stream_timeout",
        stream_last.elapsed()
    );
    assert_eq!(
        fill(&fx),
        FlowTable {
            entries: 2,
            capacity: MAX_FLOWS as u64
        }
    );
    // The pinned map reads the same (what `dataplane stats` and the metrics use).
    assert_eq!(
        stats::read_flow_table(&pins::pin_dir(&fx.agent.topo.lab.name)).unwrap(),
        fill(&fx)
    );
}

#[test]
#[ignore = "needs root"]
fn a_reload_gives_the_sweeper_new_timeouts() {
    // AWS's defaults at first: a one-way UDP flow lives 30 s.
    let mut fx = Fixture::new(TOPO, "ctb");
    assert_eq!(fx.agent.conntrack(), ConntrackSettings::default());
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let cm = fx.mac("eni-client");
    forward(
        &fx,
        "eni-client",
        &pkt::udp(cm, GATEWAY_MAC, c, w, 43000, 53),
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(keys(&fx).len(), 2, "still within AWS's 30 s");
    let name = fx.agent.topo.lab.name.clone();
    fx.agent
        .reload(topology(&format!("{TOPO}{SHORT}"), &name))
        .unwrap();
    assert_eq!(fx.agent.conntrack().timeouts.udp, secs(1));
    // Idle for 2.5 s already: the next sweep takes it.
    wait_for(
        &fx,
        secs(3),
        "the flow expires under the reloaded timeout",
        |k| k.is_empty(),
    );
}

#[test]
#[ignore = "needs root"]
fn an_expired_flow_gives_its_nat_source_port_back() {
    let fx = Fixture::new(&format!("{TOPO}{SHORT}"), "ctc");
    let (c, vpce) = (fx.ip("eni-client"), ip("10.0.1.103"));
    let (node, target) = (ip("10.1.1.60"), ip("10.1.1.21"));
    let (cm, tm) = (fx.mac("eni-client"), fx.mac("eni-target"));
    let syn = |sport| pkt::tcp(cm, GATEWAY_MAC, c, vpce, sport, 80, "S");
    // Two ports, two flows: the pool is exhausted.
    let mut bound = Vec::new();
    for sport in [42000, 42001] {
        let out = forward(&fx, "eni-client", &syn(sport));
        bound.push((sport, u16::from_be_bytes([out[34], out[35]])));
    }
    let mut ports: Vec<u16> = bound.iter().map(|&(_, p)| p).collect();
    ports.sort();
    assert_eq!(ports, [50000, 50001]);
    let before = fx.snapshot();
    let o = fx.run(Hook::Tc, "eni-client", &syn(42002));
    assert_eq!((o.verdict, &o.out), (Verdict::Drop, &syn(42002)));
    let d = fx.snapshot().since(&before);
    assert_eq!(
        d.nonzero_drops(),
        [(DropReason::NatPortsExhausted as usize, 1)],
        "exactly one nat_ports_exhausted drop"
    );
    assert_eq!(d.endpoints[0].drops, 1, "refused at vpce-tiny");

    // Keep 42000 alive (its SYN retransmitted, well inside 1 s); let 42001 idle.
    let (live, live_port) = bound[0];
    let (_, freed) = bound[1];
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        forward(&fx, "eni-client", &syn(live));
        std::thread::sleep(Duration::from_millis(200));
    }
    let left = keys(&fx);
    // Forward entry (keyed by the client's port) and reply entry (keyed by
    // the NAT port, in the provider VPC): the live flow's two, nothing else.
    let mut seen: Vec<(u32, u16, u16)> = left
        .iter()
        .map(|k| {
            (
                k.vpc,
                u16::from_be_bytes(k.sport),
                u16::from_be_bytes(k.dport),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [(0, live, 80), (1, 8080, live_port)],
        "only the live flow's two entries are left"
    );
    assert!(
        !left.iter().any(|k| k.dport == freed.to_be_bytes()),
        "the reply entry holding port {freed} is gone"
    );
    // The refused flow now gets the freed port, exactly.
    let out = forward(&fx, "eni-client", &syn(42002));
    assert_eq!(
        out,
        pkt::tcp(GATEWAY_MAC, tm, node, target, freed, 8080, "S"),
        "new flow SNATed to the reclaimed port {freed} (live flow holds {live_port})"
    );
    // And the probe sequence agrees: it starts at the port the hash picks,
    // which is the freed one or, if that is the live flow's, the next.
    let e = expect(
        &fx,
        ep_eni(&fx, "10.0.1.103"),
        c,
        vpce,
        42002,
        80,
        PROTO_TCP,
    );
    assert!(e.nat_port == freed || e.nat_port == live_port);
}
