//! Connection-tracking lifecycle: idle timeouts per protocol and TCP state,
//! and the sweep that reclaims expired flows (both entries, and with the
//! reply entry any NAT source port it held).
//!
//! The kernel refreshes `last_seen_ns` (CLOCK_MONOTONIC, coarse) on every
//! packet; the agent sweeps. The table never evicts a live flow by itself.
//! The timeouts come from the config's `[conntrack]` table
//! ([`crate::model::ConntrackSettings`]); a reload changes them for the
//! next sweep.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, Result};
use aya::maps::PerCpuArray;
use aya::maps::{HashMap as BpfHashMap, Map, MapData};
use dataplane_common::{
    FlowEntry, FlowKey, NatGatewayCounters, FLOW_F_REPLY, FLOW_STATE_CLOSED, FLOW_STATE_CLOSING,
    FLOW_STATE_ESTABLISHED, MAX_NAT_GATEWAYS, NAT_GATEWAY_IDLE_TIMEOUT_S, NO_NAT_GATEWAY,
    PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};

use crate::model::Timeouts;

/// The idle timeout of a flow, given its forward and reply entries. A
/// NAT gateway's flow is its own class: AWS times the gateway's
/// connections out after 350 s idle ([`NAT_GATEWAY_IDLE_TIMEOUT_S`]),
/// sooner if its protocol's timeout is shorter.
pub fn timeout(t: &Timeouts, proto: u8, fwd: &FlowEntry, rev: &FlowEntry) -> Duration {
    let own = protocol_timeout(t, proto, fwd, rev);
    if fwd.nat_gateway != NO_NAT_GATEWAY {
        own.min(Duration::from_secs(NAT_GATEWAY_IDLE_TIMEOUT_S))
    } else {
        own
    }
}

fn protocol_timeout(t: &Timeouts, proto: u8, fwd: &FlowEntry, rev: &FlowEntry) -> Duration {
    match proto {
        PROTO_TCP => match fwd.state {
            FLOW_STATE_ESTABLISHED => t.tcp_established,
            FLOW_STATE_CLOSING | FLOW_STATE_CLOSED => t.tcp_transitory,
            _ => t.tcp_transitory,
        },
        // AWS: a stream has seen more than one request-response
        // transaction; one exchange, or traffic one way only, is `udp`.
        // The entries keep no counts, so: a reply was seen (the reply entry
        // used after its creation) and the initiator sent again after its
        // first packet.
        PROTO_UDP if rev.last_seen_ns > rev.created_ns && fwd.last_seen_ns > fwd.created_ns => {
            t.udp_stream
        }
        PROTO_UDP => t.udp,
        PROTO_ICMP => t.other,
        _ => t.other_protocol,
    }
}

/// Pure: which keys of `flows` (both entries of every flow) are expired at
/// `now_ns`. A flow's idle time runs from the later of its two entries'
/// `last_seen_ns`. An entry whose partner is missing is expired by its own
/// time alone.
pub fn expired(flows: &[(FlowKey, FlowEntry)], now_ns: u64, t: &Timeouts) -> Vec<FlowKey> {
    let by_key: HashMap<FlowKey, &FlowEntry> = flows.iter().map(|(k, e)| (*k, e)).collect();
    let mut out = Vec::new();
    for (k, e) in flows {
        let peer = by_key.get(&e.peer_key(k.proto)).copied();
        let (fwd, rev) = match (e.flags & FLOW_F_REPLY != 0, peer) {
            (false, Some(p)) => (e, p),
            (true, Some(p)) => (p, e),
            (_, None) => (e, e),
        };
        let last = e.last_seen_ns.max(peer.map_or(0, |p| p.last_seen_ns));
        if now_ns.saturating_sub(last) > timeout(t, k.proto, fwd, rev).as_nanos() as u64 {
            out.push(*k);
        }
    }
    out
}

/// Pure: CloudWatch's `IdleTimeoutCount` of the entries a sweep removes:
/// per NAT gateway, the TCP connections (forward entries) that timed out
/// while not closing or closed, as (gateway index, count), by index.
pub fn idle_timeouts(removed: &[(FlowKey, FlowEntry)]) -> Vec<(u16, u64)> {
    let mut by: std::collections::BTreeMap<u16, u64> = Default::default();
    for (k, e) in removed {
        if k.proto == PROTO_TCP
            && e.flags & FLOW_F_REPLY == 0
            && e.state < FLOW_STATE_CLOSING
            && e.nat_gateway != NO_NAT_GATEWAY
        {
            *by.entry(e.nat_gateway).or_default() += 1;
        }
    }
    by.into_iter().collect()
}

/// Adds `counts` ([`idle_timeouts`]) to the sweeper's slots of
/// `HL_NAT_STATS` (`MAX_NAT_GATEWAYS + g`, CPU 0's value): the kernel
/// never writes those slots, so the read-modify-write races nothing.
pub fn count_idle_timeouts(nat_stats: &mut Map, counts: &[(u16, u64)]) -> Result<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let mut a: PerCpuArray<&mut MapData, NatGatewayCounters> =
        PerCpuArray::try_from(nat_stats).context("map HL_NAT_STATS")?;
    for &(g, n) in counts {
        let slot = MAX_NAT_GATEWAYS + g as u32;
        let mut v: Vec<NatGatewayCounters> = a.get(&slot, 0)?.iter().copied().collect();
        v[0].idle_timeouts += n;
        a.set(slot, aya::maps::PerCpuValues::try_from(v)?, 0)?;
    }
    Ok(())
}

/// CLOCK_MONOTONIC in ns: the kernel's `bpf_ktime_get_coarse_ns` clock.
pub fn monotonic_ns() -> u64 {
    let ts =
        nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// Where the sweeper hands the entries it removes, with their final
/// packet and byte counts (the flow log logs them).
pub type Removed = std::sync::mpsc::Sender<Vec<(FlowKey, FlowEntry)>>;

/// Removes the expired flows from HL_FLOWS (owned or opened from its pin);
/// returns how many entries it removed and how many remain.
pub fn sweep(map: &mut Map, t: &Timeouts) -> Result<(usize, usize)> {
    sweep_reporting(map, t, None)
}

/// [`sweep`], handing the removed entries to `removed` first: sent before
/// the removal, so a reader that finds an entry gone has its final counts
/// already queued.
pub fn sweep_reporting(
    map: &mut Map,
    t: &Timeouts,
    removed: Option<&Removed>,
) -> Result<(usize, usize)> {
    sweep_counting(map, None, t, removed)
}

/// [`sweep_reporting`], also counting the NAT gateways' idle timeouts
/// into `nat_stats` (`HL_NAT_STATS`) if given.
pub fn sweep_counting(
    map: &mut Map,
    nat_stats: Option<&mut Map>,
    t: &Timeouts,
    removed: Option<&Removed>,
) -> Result<(usize, usize)> {
    let (gone, left) = sweep_returning(map, t, removed)?;
    if let Some(stats) = nat_stats {
        count_idle_timeouts(stats, &idle_timeouts(&gone))?;
    }
    Ok((gone.len(), left))
}

/// [`sweep_reporting`], returning the removed entries (and how many
/// remain).
pub fn sweep_returning(
    map: &mut Map,
    t: &Timeouts,
    removed: Option<&Removed>,
) -> Result<(Vec<(FlowKey, FlowEntry)>, usize)> {
    let mut flows: BpfHashMap<&mut MapData, FlowKey, FlowEntry> = BpfHashMap::try_from(map)?;
    let all: Vec<(FlowKey, FlowEntry)> = flows.iter().filter_map(|r| r.ok()).collect();
    let doomed = expired(&all, monotonic_ns(), t);
    let set: std::collections::HashSet<&FlowKey> = doomed.iter().collect();
    let gone: Vec<(FlowKey, FlowEntry)> = all
        .iter()
        .filter(|(k, _)| set.contains(k))
        .copied()
        .collect();
    if let (Some(tx), false) = (removed, gone.is_empty()) {
        // The flow log may have stopped first (shutdown): nothing to tell.
        let _ = tx.send(gone.clone());
    }
    for k in &doomed {
        // Already gone (a racing sweep, connection termination) is fine.
        let _ = flows.remove(k);
    }
    let left = all.len() - doomed.len();
    Ok((gone, left))
}

/// The sweeper's settings, shared with the agent: a reload replaces them
/// and the next sweep uses the new ones.
pub type Shared = Arc<Mutex<crate::model::ConntrackSettings>>;

/// Sweeps the pinned flow table every `sweep_interval` of `settings` until
/// `stop` is set, handing
/// the removed entries to `removed` (the flow log) if given.
pub fn sweeper(
    pin_dir: &std::path::Path,
    settings: Shared,
    stop: Arc<std::sync::atomic::AtomicBool>,
    removed: Option<Removed>,
) -> Result<std::thread::JoinHandle<()>> {
    let mut map = Map::HashMap(crate::pins::open_pinned(
        pin_dir,
        dataplane_common::maps::FLOWS,
    )?);
    let mut nat_stats = Map::PerCpuArray(crate::pins::open_pinned(
        pin_dir,
        dataplane_common::maps::NAT_STATS,
    )?);
    std::thread::Builder::new()
        .name("conntrack-sweep".into())
        .spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let now = *settings.lock().expect("conntrack settings lock");
                let (t, every) = (now.timeouts, now.sweep_interval);
                match sweep_counting(&mut map, Some(&mut nat_stats), &t, removed.as_ref()) {
                    Ok((0, _)) => {}
                    Ok((n, left)) => {
                        log::debug!("conntrack: reclaimed {n} expired entries, {left} remain")
                    }
                    Err(e) => log::error!("conntrack sweep: {e:#}"),
                }
                // Sleep in short steps so stopping is prompt.
                let mut slept = Duration::ZERO;
                while slept < every && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    slept += Duration::from_millis(50);
                }
            }
        })
        .context("starting the conntrack sweeper")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane_common::FLOW_STATE_NEW;

    const S: u64 = 1_000_000_000;

    fn flow(
        proto: u8,
        state: u32,
        fwd_seen: u64,
        rev_seen: u64,
        rev_created: u64,
    ) -> Vec<(FlowKey, FlowEntry)> {
        let fk = FlowKey::new(0, [10, 0, 0, 1], [10, 0, 0, 2], [0, 1], [0, 2], proto);
        let fwd = FlowEntry {
            state,
            out_vpc: 0,
            new_src: fk.src,
            new_dst: fk.dst,
            new_sport: fk.sport,
            new_dport: fk.dport,
            last_seen_ns: fwd_seen,
            ..Default::default()
        };
        let rk = fwd.peer_key(proto);
        let rev = FlowEntry {
            state,
            flags: FLOW_F_REPLY,
            out_vpc: 0,
            new_src: rk.src,
            new_dst: rk.dst,
            new_sport: rk.sport,
            new_dport: rk.dport,
            created_ns: rev_created,
            last_seen_ns: rev_seen,
            ..Default::default()
        };
        vec![(fk, fwd), (rk, rev)]
    }

    #[test]
    fn aws_defaults() {
        let t = Timeouts::default();
        assert_eq!(t.tcp_established, Duration::from_secs(432_000));
        assert_eq!(
            (t.udp_stream, t.udp, t.other),
            (
                Duration::from_secs(180),
                Duration::from_secs(30),
                Duration::from_secs(60)
            )
        );
    }

    #[test]
    fn both_entries_expire_together_from_the_later_last_seen() {
        let t = Timeouts::default();
        // UDP, replied (stream): 180 s from the later of the two.
        let f = flow(PROTO_UDP, FLOW_STATE_NEW, 100 * S, 150 * S, 10 * S);
        assert!(expired(&f, 329 * S, &t).is_empty());
        assert_eq!(expired(&f, 331 * S, &t).len(), 2);
        // UDP never replied: 30 s.
        let f = flow(PROTO_UDP, FLOW_STATE_NEW, 100 * S, 10 * S, 10 * S);
        assert!(expired(&f, 129 * S, &t).is_empty());
        assert_eq!(expired(&f, 131 * S, &t).len(), 2);
    }

    #[test]
    fn udp_is_a_stream_only_after_more_than_one_exchange() {
        let t = Timeouts::default();
        // One request (at 10 s) and its reply (at 11 s): AWS's `udp`, 30 s.
        let mut f = flow(PROTO_UDP, FLOW_STATE_NEW, 10 * S, 11 * S, 10 * S);
        f[0].1.created_ns = 10 * S;
        assert!(expired(&f, 40 * S, &t).is_empty());
        assert_eq!(expired(&f, 42 * S, &t).len(), 2);
        // The initiator sent again (at 12 s) after that: a stream, 180 s.
        f[0].1.last_seen_ns = 12 * S;
        assert!(expired(&f, 191 * S, &t).is_empty());
        assert_eq!(expired(&f, 193 * S, &t).len(), 2);
        // Requests only, however many: `udp`.
        let mut f = flow(PROTO_UDP, FLOW_STATE_NEW, 12 * S, 10 * S, 10 * S);
        f[0].1.created_ns = 10 * S;
        assert_eq!(expired(&f, 43 * S, &t).len(), 2);
    }

    #[test]
    fn tcp_by_state_and_icmp_by_other() {
        let t = Timeouts::default();
        let est = flow(PROTO_TCP, FLOW_STATE_ESTABLISHED, 0, 0, 0);
        assert!(expired(&est, 400_000 * S, &t).is_empty());
        assert_eq!(expired(&est, 432_001 * S, &t).len(), 2);
        let syn = flow(PROTO_TCP, FLOW_STATE_NEW, 0, 0, 0);
        assert_eq!(expired(&syn, 61 * S, &t).len(), 2);
        let icmp = flow(PROTO_ICMP, FLOW_STATE_NEW, 0, 0, 0);
        assert!(expired(&icmp, 59 * S, &t).is_empty());
        assert_eq!(expired(&icmp, 61 * S, &t).len(), 2);
        // GRE and every other protocol: AWS's 600 s.
        let gre = flow(47, FLOW_STATE_NEW, 0, 0, 0);
        assert!(expired(&gre, 599 * S, &t).is_empty());
        assert_eq!(expired(&gre, 601 * S, &t).len(), 2);
    }

    /// AWS: a NAT gateway's connection idle for 350 s times out, whatever
    /// the protocol's own (longer) timeout; a shorter one stands.
    #[test]
    fn a_nat_gateways_flows_time_out_after_350_s_idle() {
        let t = Timeouts::default();
        let mut est = flow(PROTO_TCP, FLOW_STATE_ESTABLISHED, 0, 0, 0);
        for (_, e) in &mut est {
            e.nat_gateway = 3;
        }
        assert!(expired(&est, 350 * S, &t).is_empty());
        assert_eq!(expired(&est, 351 * S, &t).len(), 2);
        // UDP (30 s unanswered) keeps its shorter timeout.
        let mut udp = flow(PROTO_UDP, FLOW_STATE_NEW, 0, 0, 0);
        udp[0].1.nat_gateway = 3;
        assert_eq!(expired(&udp, 31 * S, &t).len(), 2);
        // IdleTimeoutCount: the TCP connection (counted once, on its forward
        // entry) that was not closing; a closing one and a UDP flow are not.
        let mut closing = flow(PROTO_TCP, FLOW_STATE_CLOSING, 0, 0, 0);
        closing[0].0.sport = [9, 9];
        closing[0].1.nat_gateway = 3;
        let all: Vec<_> = [est, udp, closing].concat();
        assert_eq!(idle_timeouts(&all), vec![(3, 1)]);
        let plain = flow(PROTO_TCP, FLOW_STATE_ESTABLISHED, 0, 0, 0);
        assert_eq!(idle_timeouts(&plain), vec![]);
    }

    #[test]
    fn an_orphan_entry_expires_on_its_own() {
        let t = Timeouts::default();
        let mut f = flow(PROTO_UDP, FLOW_STATE_NEW, 0, 0, 0);
        f.truncate(1);
        assert_eq!(expired(&f, 31 * S, &t).len(), 1);
    }
}
