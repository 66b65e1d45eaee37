//! Connection-tracking lifecycle: idle timeouts per protocol and TCP state,
//! and the sweep that reclaims expired flows (both entries, and with the
//! reply entry any NAT source port it held).
//!
//! The kernel refreshes each CPU's `last_seen_ns` (CLOCK_MONOTONIC, coarse)
//! in the flow's counters (`HL_FLOW_COUNTS`) on every packet; the agent
//! reads a flow as its entry plus its counters summed over CPUs
//! ([`FlowRow`]), and sweeps. The table never evicts a live flow by itself.
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
use aya::maps::{HashMap as BpfHashMap, Map, MapData, PerCpuHashMap};
use dataplane_common::{
    FlowCounters, FlowEntry, FlowKey, FlowTotals, NatGatewayCounters, FLOW_F_REPLY,
    FLOW_STATE_CLOSED, FLOW_STATE_CLOSING, FLOW_STATE_ESTABLISHED, MAX_NAT_GATEWAYS,
    NO_NAT_GATEWAY, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};

use crate::model::Timeouts;

/// One direction of a flow as the agent reads it: its entry (the action)
/// and its counters, per CPU and summed ([`FlowTotals::now`]). Derefs to
/// the entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowRow {
    pub entry: FlowEntry,
    /// Every packet so far, summed over CPUs (flags: 0, see
    /// [`FlowTotals::of`] for a window's).
    pub totals: FlowTotals,
    pub cpus: Vec<FlowCounters>,
}

impl std::ops::Deref for FlowRow {
    type Target = FlowEntry;
    fn deref(&self) -> &FlowEntry {
        &self.entry
    }
}

impl FlowRow {
    /// An entry with its per-CPU counters.
    pub fn new(entry: FlowEntry, cpus: Vec<FlowCounters>) -> FlowRow {
        FlowRow {
            entry,
            totals: FlowTotals::now(&cpus),
            cpus,
        }
    }

    /// An entry whose counters sit on one CPU (tests, the reference model).
    pub fn one_cpu(entry: FlowEntry, c: FlowCounters) -> FlowRow {
        FlowRow::new(entry, vec![c])
    }

    /// The latest packet of this direction (its creation, before any, and
    /// for an entry whose counters are not in the table at the instant it
    /// was read: being created, or removed).
    pub fn last_seen_ns(&self) -> u64 {
        self.totals.last_seen_ns.max(self.entry.created_ns)
    }
}

/// The per-CPU counters of direction `k` in `HL_FLOW_COUNTS` (none: an
/// entry the kernel is creating or removing this instant).
pub fn counters_of(counts: &Map, k: &FlowKey) -> Result<Vec<FlowCounters>> {
    let h: PerCpuHashMap<&MapData, FlowKey, FlowCounters> =
        PerCpuHashMap::try_from(counts).context("map HL_FLOW_COUNTS")?;
    match h.get(k, 0) {
        Ok(v) => Ok(v.iter().copied().collect()),
        Err(aya::maps::MapError::KeyNotFound) => Ok(Vec::new()),
        Err(e) => Err(e).context("reading HL_FLOW_COUNTS"),
    }
}

/// Every entry of `flows` (HL_FLOWS) with its counters from `counts`
/// (HL_FLOW_COUNTS), both owned or opened from their pins.
pub fn read_rows(flows: &Map, counts: &Map) -> Result<Vec<(FlowKey, FlowRow)>> {
    let table: BpfHashMap<&MapData, FlowKey, FlowEntry> =
        BpfHashMap::try_from(flows).context("map HL_FLOWS")?;
    // The entries first: the kernel inserts a flow's counters after its
    // entries, so an entry read here has its counters by the next walk.
    let entries: Vec<(FlowKey, FlowEntry)> = table.iter().filter_map(|r| r.ok()).collect();
    let c: PerCpuHashMap<&MapData, FlowKey, FlowCounters> =
        PerCpuHashMap::try_from(counts).context("map HL_FLOW_COUNTS")?;
    let mut by: HashMap<FlowKey, Vec<FlowCounters>> = c
        .iter()
        .filter_map(|r| r.ok())
        .map(|(k, v)| (k, v.iter().copied().collect()))
        .collect();
    Ok(entries
        .into_iter()
        .map(|(k, e)| (k, FlowRow::new(e, by.remove(&k).unwrap_or_default())))
        .collect())
}

/// Removes direction `k`: its counters first, then its entry (a record
/// never outlives its entry, so the kernel's insert of a new flow's
/// counters always finds room). Already gone is fine.
pub fn remove_flow(flows: &mut Map, counts: &mut Map, k: &FlowKey) -> Result<()> {
    let mut c: PerCpuHashMap<&mut MapData, FlowKey, FlowCounters> =
        PerCpuHashMap::try_from(counts).context("map HL_FLOW_COUNTS")?;
    let _ = c.remove(k);
    let mut t: BpfHashMap<&mut MapData, FlowKey, FlowEntry> =
        BpfHashMap::try_from(flows).context("map HL_FLOWS")?;
    let _ = t.remove(k);
    Ok(())
}

/// The idle timeout of a flow, given its forward and reply entries. A
/// NAT gateway's flow is its own class: AWS times the gateway's
/// connections out after 350 s idle ([`dataplane_common::NAT_GATEWAY_IDLE_TIMEOUT_S`], the
/// default of `t.nat_gateway`: `[conntrack] nat_gateway_idle_timeout`, a
/// lab knob), sooner if its protocol's timeout is shorter.
pub fn timeout(t: &Timeouts, proto: u8, fwd: &FlowRow, rev: &FlowRow) -> Duration {
    let own = protocol_timeout(t, proto, fwd, rev);
    if fwd.nat_gateway != NO_NAT_GATEWAY {
        own.min(t.nat_gateway)
    } else {
        own
    }
}

fn protocol_timeout(t: &Timeouts, proto: u8, fwd: &FlowRow, rev: &FlowRow) -> Duration {
    match proto {
        PROTO_TCP => match fwd.state {
            FLOW_STATE_ESTABLISHED => t.tcp_established,
            FLOW_STATE_CLOSING | FLOW_STATE_CLOSED => t.tcp_transitory,
            _ => t.tcp_transitory,
        },
        // AWS: a stream has seen more than one request-response
        // transaction; one exchange, or traffic one way only, is `udp`.
        // So: a reply was seen (the reply direction used after its
        // creation) and the initiator sent again after its first packet.
        PROTO_UDP if rev.last_seen_ns() > rev.created_ns && fwd.last_seen_ns() > fwd.created_ns => {
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
pub fn expired(flows: &[(FlowKey, FlowRow)], now_ns: u64, t: &Timeouts) -> Vec<FlowKey> {
    let by_key: HashMap<FlowKey, &FlowRow> = flows.iter().map(|(k, e)| (*k, e)).collect();
    let mut out = Vec::new();
    for (k, e) in flows {
        let peer = by_key.get(&e.peer_key(k.proto)).copied();
        let (fwd, rev) = match (e.flags & FLOW_F_REPLY != 0, peer) {
            (false, Some(p)) => (e, p),
            (true, Some(p)) => (p, e),
            (_, None) => (e, e),
        };
        let last = e.last_seen_ns().max(peer.map_or(0, |p| p.last_seen_ns()));
        if now_ns.saturating_sub(last) > timeout(t, k.proto, fwd, rev).as_nanos() as u64 {
            out.push(*k);
        }
    }
    out
}

/// Pure: CloudWatch's `IdleTimeoutCount` of the entries a sweep removes:
/// per NAT gateway, the TCP connections (forward entries) that timed out
/// while not closing or closed, as (gateway index, count), by index.
pub fn idle_timeouts(removed: &[(FlowKey, FlowRow)]) -> Vec<(u16, u64)> {
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
/// counters (the flow log logs them).
pub type Removed = std::sync::mpsc::Sender<Vec<(FlowKey, FlowRow)>>;

/// The flow table and its counters (HL_FLOWS, HL_FLOW_COUNTS), owned or
/// opened from their pins: what a sweep reads and removes from.
pub struct Tables<'a> {
    pub flows: &'a mut Map,
    pub counts: &'a mut Map,
}

/// Removes the expired flows from the tables; returns how many entries it
/// removed and how many remain.
pub fn sweep(map: Tables, t: &Timeouts) -> Result<(usize, usize)> {
    sweep_reporting(map, t, None)
}

/// [`sweep`], handing the removed entries to `removed` first: sent before
/// the removal, so a reader that finds an entry gone has its final counts
/// already queued.
pub fn sweep_reporting(
    map: Tables,
    t: &Timeouts,
    removed: Option<&Removed>,
) -> Result<(usize, usize)> {
    sweep_counting(map, None, t, removed)
}

/// [`sweep_reporting`], also counting the NAT gateways' idle timeouts
/// into `nat_stats` (`HL_NAT_STATS`) if given.
pub fn sweep_counting(
    map: Tables,
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
    map: Tables,
    t: &Timeouts,
    removed: Option<&Removed>,
) -> Result<(Vec<(FlowKey, FlowRow)>, usize)> {
    let all = read_rows(map.flows, map.counts)?;
    let doomed = expired(&all, monotonic_ns(), t);
    let set: std::collections::HashSet<&FlowKey> = doomed.iter().collect();
    let gone: Vec<(FlowKey, FlowRow)> = all
        .iter()
        .filter(|(k, _)| set.contains(k))
        .cloned()
        .collect();
    if let (Some(tx), false) = (removed, gone.is_empty()) {
        // The flow log may have stopped first (shutdown): nothing to tell.
        let _ = tx.send(gone.clone());
    }
    for k in &doomed {
        // Already gone (a racing sweep, connection termination) is fine.
        remove_flow(map.flows, map.counts, k)?;
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
    let mut counts = Map::PerCpuHashMap(crate::pins::open_pinned(
        pin_dir,
        dataplane_common::maps::FLOW_COUNTS,
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
                let tables = Tables {
                    flows: &mut map,
                    counts: &mut counts,
                };
                match sweep_counting(tables, Some(&mut nat_stats), &t, removed.as_ref()) {
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
    ) -> Vec<(FlowKey, FlowRow)> {
        let fk = FlowKey::new(0, [10, 0, 0, 1], [10, 0, 0, 2], [0, 1], [0, 2], proto);
        let seen = |ns| FlowCounters {
            last_seen_ns: ns,
            ..Default::default()
        };
        let fwd = FlowEntry {
            state,
            out_vpc: 0,
            new_src: fk.src,
            new_dst: fk.dst,
            new_sport: fk.sport,
            new_dport: fk.dport,
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
            ..Default::default()
        };
        vec![
            (fk, FlowRow::one_cpu(fwd, seen(fwd_seen))),
            (rk, FlowRow::one_cpu(rev, seen(rev_seen))),
        ]
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
        f[0].1.entry.created_ns = 10 * S;
        assert!(expired(&f, 40 * S, &t).is_empty());
        assert_eq!(expired(&f, 42 * S, &t).len(), 2);
        // The initiator sent again (at 12 s) after that: a stream, 180 s.
        f[0].1.totals.last_seen_ns = 12 * S;
        assert!(expired(&f, 191 * S, &t).is_empty());
        assert_eq!(expired(&f, 193 * S, &t).len(), 2);
        // Requests only, however many: `udp`.
        let mut f = flow(PROTO_UDP, FLOW_STATE_NEW, 12 * S, 10 * S, 10 * S);
        f[0].1.entry.created_ns = 10 * S;
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
            e.entry.nat_gateway = 3;
        }
        assert!(expired(&est, 350 * S, &t).is_empty());
        assert_eq!(expired(&est, 351 * S, &t).len(), 2);
        // UDP (30 s unanswered) keeps its shorter timeout.
        let mut udp = flow(PROTO_UDP, FLOW_STATE_NEW, 0, 0, 0);
        udp[0].1.entry.nat_gateway = 3;
        assert_eq!(expired(&udp, 31 * S, &t).len(), 2);
        // IdleTimeoutCount: the TCP connection (counted once, on its forward
        // entry) that was not closing; a closing one and a UDP flow are not.
        let mut closing = flow(PROTO_TCP, FLOW_STATE_CLOSING, 0, 0, 0);
        closing[0].0.sport = [9, 9];
        closing[0].1.entry.nat_gateway = 3;
        let all: Vec<_> = [est, udp, closing].concat();
        assert_eq!(idle_timeouts(&all), vec![(3, 1)]);
        let plain = flow(PROTO_TCP, FLOW_STATE_ESTABLISHED, 0, 0, 0);
        assert_eq!(idle_timeouts(&plain), vec![]);
        // The lab knob (`nat_gateway_idle_timeout`) shrinks the class, not
        // a plain flow's timeout.
        let short = Timeouts {
            nat_gateway: std::time::Duration::from_secs(2),
            ..Timeouts::default()
        };
        let mut est = flow(PROTO_TCP, FLOW_STATE_ESTABLISHED, 0, 0, 0);
        for (_, e) in &mut est {
            e.entry.nat_gateway = 3;
        }
        assert!(expired(&est, 2 * S, &short).is_empty());
        assert_eq!(expired(&est, 3 * S, &short).len(), 2);
        assert!(expired(&plain, 3 * S, &short).is_empty());
    }

    #[test]
    fn an_orphan_entry_expires_on_its_own() {
        let t = Timeouts::default();
        let mut f = flow(PROTO_UDP, FLOW_STATE_NEW, 0, 0, 0);
        f.truncate(1);
        assert_eq!(expired(&f, 31 * S, &t).len(), 1);
    }
}
