//! `flowlog`: AWS VPC Flow Logs (the version 2 default format) from kernel
//! events, not from polling the flow table.
//!
//! The kernel announces each new flow and each packet a policy decision
//! rejected in the `HL_FLOW_EVENTS` ring buffer, and counts the packets,
//! bytes and per-window TCP flags of every flow direction in per-CPU
//! counters (`HL_FLOW_COUNTS`). The [`Aggregator`] (pure, unit tested)
//! turns that into records: REJECT records sum the REJECT events; ACCEPT
//! records are the deltas of the summed counters of the flows the kernel
//! announced, read by key every second, plus the final counts of flows the
//! conntrack sweeper removed in between (it hands them over on a channel)
//! and, at shutdown, a last partial interval. Closing a window, the reader
//! first moves the kernel to the next one (`HL_FLOW_WINDOW`), then reads
//! the closed window's counts and flags, which the kernel keeps until the
//! window after (`dataplane_common::FlowCounters`).
//!
//! Records are written where AWS writes them (docs/DATAPLANE.md, "Where a
//! flow is logged"): at every interface a direction of a flow leaves or
//! enters, host ENIs and the interfaces services create (endpoint ENIs, NLB
//! nodes, HTTP VPC link ENIs), each with the tuple as that interface saw it;
//! a rejected packet at the interface whose rules rejected it.

use std::{
    collections::{BTreeMap, HashMap},
    fs::OpenOptions,
    io::Write,
    net::Ipv4Addr,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use aya::maps::{HashMap as BpfHashMap, Map, MapData, RingBuf};
use dataplane_common::{
    maps, DropReason, FlowEntry, FlowEvent, FlowKey, FlowTotals, FLOW_EVENT_NEW, FLOW_EVENT_REJECT,
    FLOW_EVENT_REJECT_TRANSLATED, FLOW_F_REPLY, FLOW_F_TUNNEL, NO_ENI, PROTO_ICMP,
};

use crate::{
    conntrack::{FlowRow, Removed},
    model::{
        FlowLogDestination, FlowLogField, FlowLogFileFormat, FlowLogSettings, Topology,
        FLOW_LOG_ACCOUNT, FLOW_LOG_INTERVAL_RANGE, FLOW_LOG_INTERVAL_S,
    },
};

/// The field names of the default (version 2) format, in order: the first
/// line of every destination, as in AWS's files.
pub const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport \
                          protocol packets bytes start end action log-status";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Accept,
    Reject,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Accept => "ACCEPT",
            Action::Reject => "REJECT",
        }
    }
}

/// The direction of a record's traffic seen from its interface (AWS's
/// `flow-direction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

/// One flow log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub interface: Interface,
    pub direction: Direction,
    pub srcaddr: Ipv4Addr,
    pub dstaddr: Ipv4Addr,
    /// `pkt-srcaddr` / `pkt-dstaddr`: the packet's own addresses, which
    /// differ from `srcaddr`/`dstaddr` only at a NAT gateway's interface
    /// (AWS: its record shows the gateway's private address as the
    /// interface's end, the packet's final source or destination here).
    pub pkt_srcaddr: Ipv4Addr,
    pub pkt_dstaddr: Ipv4Addr,
    /// 0 for ICMP, as AWS logs it.
    pub srcport: u16,
    pub dstport: u16,
    pub protocol: u8,
    pub packets: u64,
    /// IPv4 bytes (headers included, Ethernet excluded), as AWS counts.
    pub bytes: u64,
    /// Unix seconds: the aggregation interval.
    pub start: u64,
    pub end: u64,
    pub action: Action,
    /// `tcp-flags`: the OR of the flags flow logs count (FIN 1, SYN 2,
    /// RST 4, SYN-ACK 18) seen in the window; 0 for UDP and ICMP.
    pub tcp_flags: u8,
}

/// The first line of a destination in `format`: its field names, as in
/// AWS's files.
pub fn header(format: &[FlowLogField]) -> String {
    format
        .iter()
        .map(|f| f.name_version().0)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Record {
    /// The record in the default format.
    pub fn line(&self, account: &str) -> String {
        self.render(&FlowLogField::DEFAULT, account)
    }

    /// The record's fields in `format`, by AWS's names, as text.
    pub fn fields(&self, format: &[FlowLogField], account: &str) -> Vec<(&'static str, String)> {
        use FlowLogField as F;
        let i = &self.interface;
        format
            .iter()
            .map(|f| {
                let v = match f {
                    F::Version => FlowLogField::version_of(format).to_string(),
                    // AWS's field reference: an interface a service created
                    // may show `unknown`.
                    F::AccountId if i.service_created => "unknown".into(),
                    F::AccountId => account.into(),
                    F::InterfaceId => i.id.clone(),
                    F::Srcaddr => self.srcaddr.to_string(),
                    F::Dstaddr => self.dstaddr.to_string(),
                    F::PktSrcaddr => self.pkt_srcaddr.to_string(),
                    F::PktDstaddr => self.pkt_dstaddr.to_string(),
                    F::Srcport => self.srcport.to_string(),
                    F::Dstport => self.dstport.to_string(),
                    F::Protocol => self.protocol.to_string(),
                    F::TcpFlags => self.tcp_flags.to_string(),
                    F::Packets => self.packets.to_string(),
                    F::Bytes => self.bytes.to_string(),
                    F::Start => self.start.to_string(),
                    F::End => self.end.to_string(),
                    F::Action => self.action.name().into(),
                    F::LogStatus => "OK".into(),
                    F::VpcId => i.vpc_id.clone(),
                    F::SubnetId => i.subnet_id.clone(),
                    F::InstanceId => i.instance_id.clone(),
                    F::Type => "IPv4".into(),
                    F::AzId => i.az_id.clone(),
                    F::FlowDirection => match self.direction {
                        Direction::Ingress => "ingress".into(),
                        Direction::Egress => "egress".into(),
                    },
                    // Egress to a resource in the same VPC (every lab path
                    // so far: no gateways, no peering) is path 1; AWS
                    // writes `-` for ingress.
                    F::TrafficPath => match self.direction {
                        Direction::Ingress => "-".into(),
                        Direction::Egress => "1".into(),
                    },
                    F::NotApplicable(_) => "-".into(),
                };
                (f.name_version().0, v)
            })
            .collect()
    }

    /// The record as one JSON object (a JSON Lines line): the fields of
    /// `format` by name, in order; counts, ports, protocol, times and
    /// version as numbers, the rest (and `-`) as strings.
    pub fn json(&self, format: &[FlowLogField], account: &str) -> String {
        const NUMBERS: [&str; 9] = [
            "version",
            "srcport",
            "dstport",
            "protocol",
            "packets",
            "bytes",
            "start",
            "end",
            "tcp-flags",
        ];
        let members: Vec<String> = self
            .fields(format, account)
            .into_iter()
            .map(|(name, v)| {
                let v = if NUMBERS.contains(&name) {
                    v
                } else {
                    serde_json::Value::String(v).to_string()
                };
                format!("\"{name}\":{v}")
            })
            .collect();
        format!("{{{}}}", members.join(","))
    }

    /// The record as written to a destination of `settings`.
    pub fn write_as(&self, settings: &FlowLogSettings) -> String {
        match settings.file_format {
            FlowLogFileFormat::PlainText => self.render(&settings.format, &settings.account_id),
            FlowLogFileFormat::JsonLines => self.json(&settings.format, &settings.account_id),
        }
    }

    /// The record as a line in `format`.
    pub fn render(&self, format: &[FlowLogField], account: &str) -> String {
        self.fields(format, account)
            .into_iter()
            .map(|(_, v)| v)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One interface on a direction's path: the tuple it saw and the packet's
/// own addresses there (`pkt-srcaddr`, `pkt-dstaddr`).
struct Hop {
    iface: u32,
    dir: Direction,
    seen: FlowKey,
    pkt: ([u8; 4], [u8; 4]),
}

impl Hop {
    /// An interface that sees the packet's own addresses.
    fn seen(iface: u32, dir: Direction, k: FlowKey) -> Hop {
        Hop {
            iface,
            dir,
            seen: k,
            pkt: (k.src, k.dst),
        }
    }
}

/// A rejected packet is logged at the interface whose rules rejected it:
/// the receiver's for its inbound rules (security groups, its subnet's
/// network ACL), the sender's for its outbound ones and for what the lab
/// decides before the packet leaves (endpoint acceptance, a link's rules).
fn rejected_inbound(reason: u32) -> bool {
    reason == DropReason::IngressSgDeny as u32 || reason == DropReason::NaclIngressDeny as u32
}

/// Rejected after translation: logged at the target ENI (its inbound
/// rules) or at the link ENI (the link's outbound rules), from the
/// kernel's `FLOW_EVENT_REJECT_TRANSLATED`, with the tuple they see.
fn rejected_translated(reason: u32) -> bool {
    reason == DropReason::TargetIngressSgDeny as u32
        || reason == DropReason::LinkEgressSgDeny as u32
}

/// What a record aggregates over: (interface index, action, tuple; the
/// direction follows from the interface and the tuple).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Slot {
    eni: u32,
    action: Action,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    proto: u8,
    dir: Direction,
    pkt_src: [u8; 4],
    pkt_dst: [u8; 4],
}

impl Slot {
    fn new(eni: u32, dir: Direction, action: Action, k: &FlowKey) -> Slot {
        let icmp = k.proto == PROTO_ICMP;
        let port = |p: [u8; 2]| if icmp { 0 } else { u16::from_be_bytes(p) };
        Slot {
            eni,
            action,
            dir,
            src: k.src,
            dst: k.dst,
            sport: port(k.sport),
            dport: port(k.dport),
            proto: k.proto,
            pkt_src: k.src,
            pkt_dst: k.dst,
        }
    }
}

/// A flow the kernel announced: its counts as last logged.
#[derive(Clone, Copy, Debug, Default)]
struct Tracked {
    fwd: (u64, u64),
    rev: (u64, u64),
    /// Not in the table at the last read: forgotten at the next one if
    /// still gone (its final counts, if the sweeper removed it, arrive on
    /// the channel in between).
    missing: bool,
}

/// Counts since `last` (a reset, when the kernel replaced the entry with a
/// new connection on the same tuple, counts from zero).
fn delta(last: &mut (u64, u64), now: (u64, u64)) -> (u64, u64) {
    let d = if now.0 < last.0 || now.1 < last.1 {
        now
    } else {
        (now.0 - last.0, now.1 - last.1)
    };
    *last = now;
    d
}

/// Events and counters in, records out. No I/O: the reader thread feeds it.
pub struct Aggregator {
    ifaces: Interfaces,
    /// Forward key -> counts logged so far.
    tracked: HashMap<FlowKey, Tracked>,
    /// The current interval's records so far: (packets, bytes).
    pending: BTreeMap<Slot, Pending>,
    /// What turns entry times into record times: see [`Aggregator::set_clock`].
    clock: Clock,
    /// The kernel's window (`HL_FLOW_WINDOW`) the current records' flags
    /// come from: see [`Aggregator::set_window`].
    window: u32,
}

impl Aggregator {
    pub fn new(ifaces: Interfaces) -> Aggregator {
        Aggregator {
            ifaces,
            tracked: HashMap::new(),
            pending: BTreeMap::new(),
            clock: Clock::default(),
            window: 0,
        }
    }

    /// The kernel window whose counts and TCP flags the next reads and
    /// removals belong to (sweeper removals are summed as of it).
    pub fn set_window(&mut self, w: u32) {
        self.window = w;
    }

    /// Sets the clock of the next events and reads: `now_s` (Unix
    /// seconds: when rejects drained now happened, to within the 20 ms
    /// drain), `since_s` (the previous read of the counters: traffic read
    /// now came after it) and `mono_to_wall_ns` (Unix ns minus
    /// CLOCK_MONOTONIC ns: converts the entries' times).
    pub fn set_clock(&mut self, now_s: u64, since_s: u64, mono_to_wall_ns: i128) {
        self.clock = Clock {
            now_s,
            since_s,
            mono_to_wall_ns,
        };
    }

    /// First and last packet times (Unix seconds) of traffic of entry `e`
    /// read now: its creation when `from_created` (the first packets of a
    /// forward entry), else after the previous read (and not before the
    /// flow was created); the last at the direction's last-seen time.
    fn times(&self, e: &FlowEntry, last_seen_ns: u64, from_created: bool) -> (u64, u64) {
        let wall =
            |ns: u64| ((ns as i128 + self.clock.mono_to_wall_ns).max(0) / 1_000_000_000) as u64;
        let created = wall(e.created_ns);
        let first = if from_created {
            created
        } else {
            self.clock.since_s.max(created)
        };
        (first, wall(last_seen_ns).max(first))
    }

    fn add(
        &mut self,
        slot: Slot,
        (packets, bytes): (u64, u64),
        (first, last): (u64, u64),
        tcp_flags: u8,
    ) {
        // The lab's internet hosts are no interfaces of a VPC: AWS writes
        // no records for them.
        if slot.eni >= dataplane_common::INTERNET_ENI_BASE {
            return;
        }
        // Another node's host ENI: its node logs what it sent and received.
        // A rejection decided here (a target's groups judge a translated
        // packet on the client's node) never reaches that node: logged here.
        if slot.action == Action::Accept && self.ifaces.remote.contains(&slot.eni) {
            return;
        }
        // No new packet, but flags a read caught before their packet's
        // count (a CPU stores the flags first): to the record that has it.
        if packets == 0 {
            if let Some(p) = self.pending.get_mut(&slot) {
                p.tcp_flags |= tcp_flags;
            }
            return;
        }
        let p = self.pending.entry(slot).or_insert(Pending {
            packets: 0,
            bytes: 0,
            first,
            last,
            tcp_flags: 0,
        });
        p.packets += packets;
        p.bytes += bytes;
        p.tcp_flags |= tcp_flags;
        p.first = p.first.min(first);
        p.last = p.last.max(last);
    }

    /// One event from the ring buffer.
    pub fn event(&mut self, ev: &FlowEvent) {
        match ev.kind {
            // A new flow (also a new connection reusing a finished flow's
            // tuple: its entries were replaced, so counting restarts at 0).
            FLOW_EVENT_NEW => {
                self.tracked.insert(ev.key, Tracked::default());
            }
            FLOW_EVENT_REJECT => {
                let d = (1, ev.len as u64);
                let at = (self.clock.now_s, self.clock.now_s);
                let k = &ev.key;
                // Rejected by the receiver's inbound rules: the sender's
                // outbound rules let it go (ACCEPT there).
                let receiver = rejected_inbound(ev.reason)
                    .then(|| self.ifaces.at(k.vpc, k.dst))
                    .flatten()
                    .filter(|&r| r != ev.eni);
                // Rejected after translation (the target's inbound rules,
                // a link's outbound ones): the packet as sent passed the
                // sender and the endpoint ENI it was addressed to; the
                // REJECT_TRANSLATED event that came with it logs the rest.
                if rejected_translated(ev.reason) {
                    self.add(
                        Slot::new(ev.eni, Direction::Egress, Action::Accept, k),
                        d,
                        at,
                        ev.tcp_flags,
                    );
                    if let Some(m) = self.ifaces.managed_at(k.vpc, k.dst) {
                        self.add(
                            Slot::new(m, Direction::Ingress, Action::Accept, k),
                            d,
                            at,
                            ev.tcp_flags,
                        );
                    }
                    return;
                }
                match receiver {
                    Some(r) => {
                        self.add(
                            Slot::new(ev.eni, Direction::Egress, Action::Accept, k),
                            d,
                            at,
                            ev.tcp_flags,
                        );
                        self.add(
                            Slot::new(r, Direction::Ingress, Action::Reject, k),
                            d,
                            at,
                            ev.tcp_flags,
                        );
                    }
                    None => self.add(
                        Slot::new(ev.eni, Direction::Egress, Action::Reject, k),
                        d,
                        at,
                        ev.tcp_flags,
                    ),
                }
            }
            FLOW_EVENT_REJECT_TRANSLATED => {
                let d = (1, ev.len as u64);
                let at = (self.clock.now_s, self.clock.now_s);
                let k = &ev.key;
                // The NLB node or link ENI that translated it.
                let via = self.ifaces.managed_at(k.vpc, k.src);
                if ev.reason == DropReason::LinkEgressSgDeny as u32 {
                    if let Some(v) = via {
                        self.add(
                            Slot::new(v, Direction::Egress, Action::Reject, k),
                            d,
                            at,
                            ev.tcp_flags,
                        );
                    }
                } else {
                    if let Some(v) = via {
                        self.add(
                            Slot::new(v, Direction::Egress, Action::Accept, k),
                            d,
                            at,
                            ev.tcp_flags,
                        );
                    }
                    self.add(
                        Slot::new(ev.eni, Direction::Ingress, Action::Reject, k),
                        d,
                        at,
                        ev.tcp_flags,
                    );
                }
            }
            _ => {}
        }
    }

    /// The forward keys of the flows to read before closing an interval.
    pub fn tracked(&self) -> Vec<FlowKey> {
        let mut v: Vec<FlowKey> = self.tracked.keys().copied().collect();
        v.sort_by_key(|k| (k.vpc, k.src, k.dst, k.sport, k.dport, k.proto));
        v
    }

    /// The table's current entries of tracked flow `key` with their
    /// counters summed as of the window ([`FlowTotals::of`]): its forward
    /// entry (`None`: not in the table) and, if found, its reply entry by key.
    pub fn observe(
        &mut self,
        key: &FlowKey,
        fwd: Option<(&FlowEntry, FlowTotals)>,
        rev: Option<(&FlowKey, &FlowEntry, FlowTotals)>,
    ) {
        let Some(t) = self.tracked.get_mut(key) else {
            return;
        };
        let Some((fwd, ft)) = fwd else {
            if t.missing {
                self.tracked.remove(key);
            } else {
                t.missing = true;
            }
            return;
        };
        t.missing = false;
        // A flow's forward entry is created with its first packet.
        let first_read = t.fwd == (0, 0);
        let d_fwd = delta(&mut t.fwd, (ft.packets, ft.bytes));
        let d_rev = rev.map(|(rk, r, rt)| (*rk, *r, rt, delta(&mut t.rev, (rt.packets, rt.bytes))));
        self.accept(key, fwd, &ft, d_fwd, first_read);
        if let Some((rk, r, rt, d)) = d_rev {
            self.accept(&rk, &r, &rt, d, false);
        }
    }

    /// Accepted traffic of the direction `e` (key `key`, counters `t`):
    /// `d` more packets and bytes, and the window's flags, logged at every
    /// interface of its path.
    fn accept(
        &mut self,
        key: &FlowKey,
        e: &FlowEntry,
        t: &FlowTotals,
        d: (u64, u64),
        from_created: bool,
    ) {
        let (at, flags) = (self.times(e, t.last_seen_ns, from_created), t.tcp_flags);
        for h in self.ifaces.path(key, e) {
            let slot = Slot {
                pkt_src: h.pkt.0,
                pkt_dst: h.pkt.1,
                ..Slot::new(h.iface, h.dir, Action::Accept, &h.seen)
            };
            self.add(slot, d, at, flags);
        }
    }

    /// A flow that was in the table before this flow log started (an agent
    /// that adopted a pinned data plane): tracked from its current counts,
    /// so what an earlier agent logged is not logged twice.
    pub fn adopt(&mut self, key: &FlowKey, fwd: &FlowTotals, rev: Option<&FlowTotals>) {
        self.tracked.insert(
            *key,
            Tracked {
                fwd: (fwd.packets, fwd.bytes),
                rev: rev.map_or((0, 0), |r| (r.packets, r.bytes)),
                missing: false,
            },
        );
    }

    /// Entries the sweeper removed, with their final counts: logged in the
    /// current interval; their flows are forgotten.
    pub fn removed(&mut self, entries: &[(FlowKey, FlowRow)]) {
        let mut gone = Vec::new();
        for (k, row) in entries {
            let (e, tot) = (&row.entry, FlowTotals::of(&row.cpus, self.window));
            let reply = e.flags & FLOW_F_REPLY != 0;
            // The reply entry's peer is the forward entry.
            let fk = if reply { e.peer_key(k.proto) } else { *k };
            let Some(t) = self.tracked.get_mut(&fk) else {
                continue;
            };
            let last = if reply { &mut t.rev } else { &mut t.fwd };
            let from_created = !reply && *last == (0, 0);
            let d = delta(last, (tot.packets, tot.bytes));
            self.accept(k, e, &tot, d, from_created);
            gone.push(fk);
        }
        for k in gone {
            self.tracked.remove(&k);
        }
    }

    /// Ends the window `[start, end]`: its records, sorted by interface,
    /// action and tuple, each from its first to its last packet in the
    /// window (AWS's `start`/`end`), within the window's bounds.
    pub fn close(&mut self, start: u64, end: u64) -> Vec<Record> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(s, p)| {
                let iface = self.ifaces.list.get(&s.eni);
                let first = p.first.clamp(start, end);
                Record {
                    interface: iface
                        .cloned()
                        .unwrap_or_else(|| Interface::bare("-".into(), false)),
                    direction: s.dir,
                    srcaddr: Ipv4Addr::from(s.src),
                    dstaddr: Ipv4Addr::from(s.dst),
                    pkt_srcaddr: Ipv4Addr::from(s.pkt_src),
                    pkt_dstaddr: Ipv4Addr::from(s.pkt_dst),
                    srcport: s.sport,
                    dstport: s.dport,
                    protocol: s.proto,
                    packets: p.packets,
                    bytes: p.bytes,
                    start: first,
                    end: p.last.clamp(first, end),
                    action: s.action,
                    tcp_flags: p.tcp_flags,
                }
            })
            .collect()
    }
}

/// A record of the current window so far.
#[derive(Clone, Copy, Debug)]
struct Pending {
    packets: u64,
    bytes: u64,
    /// Unix seconds of its first and last packet.
    first: u64,
    last: u64,
    /// The OR of its packets' TCP flags (see [`Record::tcp_flags`]).
    tcp_flags: u8,
}

/// See [`Aggregator::set_clock`].
#[derive(Clone, Copy, Debug, Default)]
struct Clock {
    now_s: u64,
    since_s: u64,
    mono_to_wall_ns: i128,
}

/// `dataplane run --flow-log DEST --flow-log-interval SECS` over the
/// config's `[flow_logs]`: a destination turns flow logs on; an interval
/// alone needs them on already.
pub fn with_overrides(
    settings: Option<FlowLogSettings>,
    destination: Option<&str>,
    interval_s: Option<u32>,
) -> Result<Option<FlowLogSettings>, String> {
    let mut s = match (settings, destination) {
        (s, Some(d)) => {
            let mut s = s.unwrap_or(FlowLogSettings {
                destination: FlowLogDestination::Stdout,
                interval_s: FLOW_LOG_INTERVAL_S,
                account_id: FLOW_LOG_ACCOUNT.into(),
                format: FlowLogField::DEFAULT.to_vec(),
                file_format: Default::default(),
            });
            s.destination = crate::config::parse_flow_log_destination(d)
                .map_err(|m| format!("--flow-log: {m}"))?;
            s
        }
        (Some(s), None) => s,
        (None, None) if interval_s.is_some() => {
            return Err(
                "--flow-log-interval needs flow logs on: add --flow-log FILE (or - for \
                        stdout), or a [flow_logs] table to the config"
                    .into(),
            )
        }
        (None, None) => return Ok(None),
    };
    if let Some(i) = interval_s {
        if !FLOW_LOG_INTERVAL_RANGE.contains(&(i as i64)) {
            return Err(format!(
                "--flow-log-interval {i} is out of range (expected {} to {} seconds)",
                FLOW_LOG_INTERVAL_RANGE.start(),
                FLOW_LOG_INTERVAL_RANGE.end()
            ));
        }
        s.interval_s = i;
    }
    Ok(Some(s))
}

/// `dataplane flows --follow`: prints the records the agent appends to the
/// flow log file of `settings` as they are written (what the file held
/// before is skipped; a plain-text file's header comes first so the
/// columns are named), only lines containing `filter` if given, until
/// `stop` says so. A file that does not exist yet is waited for.
pub fn follow(
    settings: &FlowLogSettings,
    filter: Option<&str>,
    out: &mut dyn Write,
    stop: &dyn Fn() -> bool,
) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let FlowLogDestination::File(path) = &settings.destination else {
        anyhow::bail!(
            "flow logs go to the agent's standard output: set [flow_logs] destination to a \
             file to follow them"
        );
    };
    if settings.file_format == FlowLogFileFormat::PlainText {
        writeln!(out, "{}", header(&settings.format))?;
        out.flush()?;
    }
    // A file that appears later is new: all of it is followed.
    let mut existed = true;
    let mut file = loop {
        match std::fs::File::open(path) {
            Ok(mut f) => {
                if existed {
                    f.seek(SeekFrom::End(0))?;
                }
                break f;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !stop() => {
                existed = false;
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(e) => {
                return Err(e).with_context(|| format!("opening the flow log {}", path.display()))
            }
        }
    };
    let mut partial = Vec::new();
    while !stop() {
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)
            .with_context(|| format!("reading the flow log {}", path.display()))?;
        if buf.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        partial.extend_from_slice(&buf);
        // Whole lines only: the agent may be halfway through one.
        let Some(last) = partial.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        let lines: Vec<u8> = partial.drain(..=last).collect();
        for line in String::from_utf8_lossy(&lines).lines() {
            let header_line = line.starts_with("version ") || line.starts_with("account-id ");
            if !header_line && filter.is_none_or(|f| line.contains(f)) {
                writeln!(out, "{line}")?;
            }
        }
        out.flush()?;
    }
    Ok(())
}

/// How often the reader drains the ring: 256 KiB of 48-byte records lasts
/// 20 ms only beyond ~270,000 new flows or rejects per second.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

/// The running flow log: a thread that drains the ring buffer, reads the
/// announced flows' counters and writes a record batch per interval.
/// Dropping it writes the last (partial) interval and stops the thread.
pub struct FlowLog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Interfaces the next read takes on (a reload that added hosts).
    next: Arc<std::sync::Mutex<Option<Interfaces>>>,
}

impl FlowLog {
    /// From the next read on, records name `ifaces` (a reload added
    /// interfaces; numbers never move, so pending records keep theirs).
    pub fn set_interfaces(&self, ifaces: Interfaces) {
        *self.next.lock().expect("flow-log interfaces lock") = Some(ifaces);
    }
}

/// Unix ns minus CLOCK_MONOTONIC ns (the flow entries' clock).
fn mono_to_wall_ns() -> i128 {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    wall - crate::conntrack::monotonic_ns() as i128
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Opens `d`; a plain-text destination starts with `header` (JSON Lines has
/// none: every object names its fields).
fn open_destination(d: &FlowLogDestination, header: Option<&str>) -> Result<Box<dyn Write + Send>> {
    Ok(match d {
        FlowLogDestination::Stdout => {
            if let Some(header) = header {
                println!("{header}");
            }
            Box::new(std::io::stdout())
        }
        FlowLogDestination::File(p) => {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| {
                    format!(
                        "opening the flow log {}: check that its directory exists and is writable \
                         (set [flow_logs] destination or --flow-log)",
                        p.display()
                    )
                })?;
            let empty = f.metadata().map(|m| m.len() == 0).unwrap_or(false);
            if let (true, Some(header)) = (empty, header) {
                writeln!(f, "{header}")
                    .with_context(|| format!("writing the flow log {}", p.display()))?;
            }
            Box::new(f)
        }
    })
}

impl FlowLog {
    /// Starts the flow log of `topo` if it has one, on the maps pinned in
    /// `pin_dir`. Returns it and the channel the conntrack sweeper hands
    /// removed entries to.
    pub fn start(
        topo: &Topology,
        numbering: &crate::compile::Numbering,
        pin_dir: &Path,
    ) -> Result<Option<(FlowLog, Removed)>> {
        let Some(settings) = topo.flow_logs.clone() else {
            return Ok(None);
        };
        let open = |name: &str| crate::pins::open_pinned(pin_dir, name);
        let ring = RingBuf::try_from(Map::RingBuf(open(maps::FLOW_EVENTS)?))
            .context("HL_FLOW_EVENTS is not a ring buffer: rebuild the kernel object")?;
        let flows = Map::HashMap(open(maps::FLOWS)?);
        let counts = Map::PerCpuHashMap(open(maps::FLOW_COUNTS)?);
        let window = Map::Array(open(maps::FLOW_WINDOW)?);
        let head = header(&settings.format);
        let plain = settings.file_format == FlowLogFileFormat::PlainText;
        let out = open_destination(&settings.destination, plain.then_some(head.as_str()))?;
        let mut agg = Aggregator::new(Interfaces::numbered(topo, numbering));
        // An earlier agent's window goes on (flags already counted in it).
        agg.set_window(read_window(&window)?);
        // Flows an earlier agent left in a pinned table: announced long ago,
        // so walk the table once, here, to keep logging them.
        {
            let entries: HashMap<FlowKey, FlowRow> = crate::conntrack::read_rows(&flows, &counts)?
                .into_iter()
                .collect();
            let mut adopted = 0;
            for (k, e) in &entries {
                if e.flags & FLOW_F_REPLY == 0 {
                    let rev = entries.get(&e.peer_key(k.proto)).map(|r| &r.totals);
                    agg.adopt(k, &e.totals, rev);
                    adopted += 1;
                }
            }
            if adopted > 0 {
                log::info!(
                    "flow logs: {adopted} flows already in the table are logged from now on"
                );
            }
        }
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(std::sync::Mutex::new(None));
        let thread = {
            let stop = stop.clone();
            let next = next.clone();
            std::thread::Builder::new()
                .name("flow-log".into())
                .spawn(move || {
                    let mut r = Reader {
                        agg,
                        ring,
                        flows,
                        counts,
                        window,
                        removed: rx,
                        out,
                        settings,
                        next,
                    };
                    if let Err(e) = r.run(&stop) {
                        log::error!("flow log stopped: {e:#}");
                    }
                })
                .context("starting the flow-log thread")?
        };
        log::info!(
            "flow logs: every {} s to {}",
            topo.flow_logs.as_ref().map_or(0, |f| f.interval_s),
            match &topo.flow_logs.as_ref().map(|f| &f.destination) {
                Some(FlowLogDestination::File(p)) => p.display().to_string(),
                _ => "stdout".into(),
            }
        );
        Ok(Some((
            FlowLog {
                stop,
                thread: Some(thread),
                next,
            },
            tx,
        )))
    }
}

impl Drop for FlowLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Reader {
    agg: Aggregator,
    ring: RingBuf<MapData>,
    flows: Map,
    /// HL_FLOW_COUNTS and HL_FLOW_WINDOW.
    counts: Map,
    window: Map,
    removed: mpsc::Receiver<Vec<(FlowKey, FlowRow)>>,
    out: Box<dyn Write + Send>,
    settings: FlowLogSettings,
    next: Arc<std::sync::Mutex<Option<Interfaces>>>,
}

impl Reader {
    fn run(&mut self, stop: &AtomicBool) -> Result<()> {
        let interval = self.settings.interval_s as u64;
        let mut start = unix_now();
        let mut last_read = start;
        loop {
            // Read before draining: a stop seen here is followed by one
            // more drain, so nothing queued before it is missed.
            let stopping = stop.load(Ordering::Relaxed);
            let now = unix_now();
            if let Some(i) = self.next.lock().expect("flow-log interfaces lock").take() {
                self.agg.ifaces = i;
            }
            self.agg.set_clock(now, last_read, mono_to_wall_ns());
            self.drain();
            let closing = stopping || now >= start + interval;
            // The counters are read every second, AWS's time resolution:
            // a record's first packet is after the read before the one that
            // saw it, its last at the entry's last-seen time.
            if closing {
                // The kernel counts from here on in the next window; what
                // it counted in this one stays readable until the next
                // switch. The pause lets packets in flight (a program run
                // that read the old window) finish.
                let w = self.agg.window;
                write_window(&mut self.window, w.wrapping_add(1))?;
                std::thread::sleep(WINDOW_GRACE);
                self.drain();
            }
            if closing || now > last_read {
                self.read_counters()?;
                last_read = now;
            }
            if closing {
                let end = if stopping { now } else { start + interval };
                let records = self.agg.close(start, end);
                for r in &records {
                    writeln!(self.out, "{}", r.write_as(&self.settings))?;
                }
                self.out.flush()?;
                start = end;
                self.agg.set_window(self.agg.window.wrapping_add(1));
            }
            if stopping {
                return Ok(());
            }
            std::thread::sleep(DRAIN_EVERY);
        }
    }

    fn drain(&mut self) {
        while let Some(item) = self.ring.next() {
            if item.len() >= size_of::<FlowEvent>() {
                // SAFETY: FlowEvent is plain integers; the kernel wrote one
                // whole record, and read_unaligned needs no alignment.
                let ev: FlowEvent = unsafe { std::ptr::read_unaligned(item.as_ptr().cast()) };
                self.agg.event(&ev);
            }
        }
        while let Ok(entries) = self.removed.try_recv() {
            self.agg.removed(&entries);
        }
    }

    /// Reads every announced flow's entries and counters by key (never the
    /// whole table), summed as of the aggregator's window.
    fn read_counters(&mut self) -> Result<()> {
        let table: BpfHashMap<&MapData, FlowKey, FlowEntry> = BpfHashMap::try_from(&self.flows)?;
        let w = self.agg.window;
        let totals = |k: &FlowKey| -> Result<FlowTotals> {
            Ok(FlowTotals::of(
                &crate::conntrack::counters_of(&self.counts, k)?,
                w,
            ))
        };
        for k in self.agg.tracked() {
            let fwd = match table.get(&k, 0).ok() {
                Some(f) => Some((f, totals(&k)?)),
                None => None,
            };
            let rev = match fwd {
                Some((f, _)) => {
                    let rk = f.peer_key(k.proto);
                    match table.get(&rk, 0).ok() {
                        Some(r) => Some((rk, r, totals(&rk)?)),
                        None => None,
                    }
                }
                None => None,
            };
            self.agg.observe(
                &k,
                fwd.as_ref().map(|(f, t)| (f, *t)),
                rev.as_ref().map(|(rk, r, t)| (rk, r, *t)),
            );
        }
        Ok(())
    }
}

/// How long the reader waits after moving the kernel to the next window
/// before reading the one it closed: a program run is microseconds long.
const WINDOW_GRACE: Duration = Duration::from_millis(5);

/// The kernel's flow-log window (`HL_FLOW_WINDOW`).
fn read_window(m: &Map) -> Result<u32> {
    let a: aya::maps::Array<&MapData, u32> =
        aya::maps::Array::try_from(m).context("map HL_FLOW_WINDOW")?;
    a.get(&0, 0).context("reading HL_FLOW_WINDOW")
}

fn write_window(m: &mut Map, w: u32) -> Result<()> {
    let mut a: aya::maps::Array<&mut MapData, u32> =
        aya::maps::Array::try_from(m).context("map HL_FLOW_WINDOW")?;
    a.set(0, w, 0).context("writing HL_FLOW_WINDOW")
}

mod interfaces;
pub use interfaces::{Interface, Interfaces};

#[cfg(test)]
mod tests;
