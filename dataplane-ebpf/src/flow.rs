//! Stage `flow`: the connection table. Each tracked flow has two entries, the
//! forward one and the reply one, each carrying its precompiled action. A
//! reply entry is what makes security groups stateful.

use core::ptr::addr_of_mut;

use aya_ebpf::{
    bindings::{BPF_ANY, BPF_NOEXIST},
    helpers::generated::{bpf_jiffies64, bpf_ktime_get_coarse_ns},
};
use dataplane_common::{
    aws_tcp_flags, Counter, DropReason, FlowCounters, FlowEntry, FlowKey, EEXIST, FLOW_F_ECHO_REQUESTS, FLOW_F_REPLY,
    FLOW_STATE_CLOSED, FLOW_STATE_CLOSING, FLOW_STATE_ESTABLISHED, FLOW_STATE_NEW, GATEWAY_MAC, NO_NAT_GATEWAY, NO_STAT,
    NO_SUBNET, PROTO_ICMP, PROTO_TCP,
};

use crate::{
    counters, events,
    explain::dry_run,
    maps::{CLOCK, COUNT_SCRATCH, FLOWS, FLOW_COUNTS, FLOW_WINDOW},
    parse::{Headers, ICMP_ECHO_REQUEST, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN},
};

/// The coarse monotonic clock (`bpf_ktime_get_coarse_ns`), which only
/// moves once per tick: read through this CPU's copy in `HL_CLOCK`, taken
/// again only when jiffies moved. The verifier inlines `bpf_jiffies64` into
/// one load, while the clock helper is a call, which costs ~20 ns per
/// packet on CPUs whose return-stack mitigations make every kernel call
/// expensive. The copy can lag one more tick (jiffies move just before the
/// coarse clock): plenty for idle timeouts measured in seconds.
#[inline(always)]
pub fn now() -> u64 {
    // SAFETY: plain helper calls; the verifier inlines bpf_jiffies64.
    let j = unsafe { bpf_jiffies64() };
    let Some(c) = CLOCK.get_ptr_mut(0) else {
        // SAFETY: as above.
        return unsafe { bpf_ktime_get_coarse_ns() };
    };
    // SAFETY: a per-CPU array value; nothing else runs on this CPU while
    // the program does.
    unsafe {
        if (*c).jiffies != j {
            (*c).ns = bpf_ktime_get_coarse_ns();
            (*c).jiffies = j;
        }
        (*c).ns
    }
}

#[inline(always)]
pub fn lookup(key: &FlowKey) -> Option<*mut FlowEntry> {
    FLOWS.get_ptr_mut(key)
}

pub enum Track {
    /// Forward with the entry's action.
    Continue,
    /// A new SYN on a finished flow: decide again as for a first packet.
    Restart,
}

/// The flow-log window TCP flags are counted in (`HL_FLOW_WINDOW`; 0 until
/// a flow log closes its first window).
#[inline(always)]
pub fn window() -> u32 {
    // SAFETY: a plain array value, written whole by the agent.
    FLOW_WINDOW.get(0).map_or(0, |w| unsafe { core::ptr::read_volatile(w) })
}

/// Advances the flow's state with this packet (its idle timer is its
/// counters' `last_seen_ns`: [`account`]).
#[inline(always)]
pub fn track(e: *mut FlowEntry, h: &Headers) -> Result<Track, DropReason> {
    // SAFETY: `e` points into a map value; concurrent writers only store
    // whole u32 fields.
    let (state, flags) = unsafe { ((*e).state, (*e).flags) };
    if h.proto != PROTO_TCP {
        return Ok(Track::Continue);
    }
    let f = h.tcp_flags;
    let is_reply = flags & FLOW_F_REPLY != 0;
    // A new SYN on a finished flow, from either side (the former responder
    // may open the next connection on the same tuple), is a new connection.
    if f & TCP_SYN != 0 && f & TCP_ACK == 0 && state >= FLOW_STATE_CLOSING {
        return Ok(Track::Restart);
    }
    if state == FLOW_STATE_CLOSED {
        return Err(DropReason::FlowClosed);
    }
    let next = if f & TCP_RST != 0 {
        FLOW_STATE_CLOSED
    } else if f & TCP_FIN != 0 {
        FLOW_STATE_CLOSING
    } else if is_reply && state == FLOW_STATE_NEW && f & (TCP_SYN | TCP_ACK) == (TCP_SYN | TCP_ACK) {
        counters::count(Counter::TcpEstablished);
        // SAFETY: as above.
        let gw = unsafe { (*e).nat_gateway };
        if gw != NO_NAT_GATEWAY {
            // CloudWatch's ConnectionEstablishedCount.
            counters::nat(gw, |c| unsafe { (*c).connections_established += 1 });
        }
        FLOW_STATE_ESTABLISHED
    } else {
        return Ok(Track::Continue);
    };
    if next != state && !(next == FLOW_STATE_CLOSING && state > FLOW_STATE_CLOSING) && !dry_run() {
        // SAFETY: as above.
        let pk = unsafe {
            (*e).state = next;
            (*e).peer_key(h.proto)
        };
        if let Some(peer) = FLOWS.get_ptr_mut(&pk) {
            // SAFETY: as above.
            unsafe { (*peer).state = next };
        }
    }
    Ok(Track::Continue)
}

/// The state a flow starts in with its first packet.
#[inline(always)]
pub fn initial_state(h: &Headers) -> u32 {
    if h.proto == PROTO_TCP && h.tcp_flags & TCP_SYN == 0 {
        // Picked up mid-stream (e.g. after the agent restarted with a
        // fresh table): the rules allowed it, so carry on as established.
        FLOW_STATE_ESTABLISHED
    } else {
        FLOW_STATE_NEW
    }
}

/// Where one direction of a new flow leaves the fabric: the ENI its
/// packets are delivered to, in which VPC, behind which fabric port.
pub struct Hop<'a> {
    pub mac: &'a [u8; 6],
    pub ifindex: u32,
    pub vpc: u32,
    pub eni: u32,
}

/// The addresses and ports one direction's packets leave with.
pub struct Tuple {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub sport: [u8; 2],
    pub dport: [u8; 2],
}

impl Tuple {
    /// The packet's own addresses and ports (no translation).
    #[inline(always)]
    pub fn of(h: &Headers) -> Tuple {
        Tuple { src: h.src, dst: h.dst, sport: h.sport, dport: h.dport }
    }

    /// The packet's addresses and ports swapped: what a reply must carry
    /// when it reaches the packet's sender.
    #[inline(always)]
    pub fn reply_to(h: &Headers) -> Tuple {
        Tuple { src: h.dst, dst: h.src, sport: h.dport, dport: h.sport }
    }
}

/// The subnet boundaries one direction of a flow crosses (see
/// `FlowEntry::cross1_from`): the network ACLs each of its packets meets.
pub struct Crossings {
    pub from1: u16,
    pub to1: u16,
    pub from2: u16,
    pub to2: u16,
}

impl Crossings {
    /// One boundary: from subnet `from` to subnet `to` (none if equal).
    #[inline(always)]
    pub fn one(from: u16, to: u16) -> Crossings {
        Crossings { from1: from, to1: to, from2: NO_SUBNET, to2: NO_SUBNET }
    }

    /// The boundary one direction of a flow between nodes crosses, as far
    /// as this node checks it (`tunnel.rs`): the node the packet leaves its
    /// subnet on checks the outbound entries (`outbound`), the node it
    /// enters the destination's subnet on the inbound ones. One subnet: no
    /// boundary.
    #[inline(always)]
    pub fn half(from: u16, to: u16, outbound: bool) -> Crossings {
        if from == to {
            Crossings::one(from, to)
        } else if outbound {
            Crossings::one(from, NO_SUBNET)
        } else {
            Crossings::one(NO_SUBNET, to)
        }
    }
}

/// What both entries of a new flow share: its first packet's TCP state,
/// the time (its counters' creation, [`prepare_counters`]), and the
/// `HL_OBJ_STATS` slots it counts into (`NO_STAT` for none).
pub struct Birth {
    pub state: u32,
    /// The flow is ICMP echo; `echo_request`: its first packet is an echo
    /// request, so the forward entry carries requests and the reply entry
    /// replies (`FLOW_F_ECHO_REQUESTS`), and an echo reply the other way.
    pub icmp: bool,
    pub echo_request: bool,
    pub now: u64,
    pub stat_endpoint: u32,
    pub stat_listener: u32,
    pub stat_target: u32,
    /// The NAT gateway translating the flow ([`NO_NAT_GATEWAY`]: none).
    pub nat_gateway: u16,
}

impl Birth {
    /// A flow born of the packet `h`, counting into no endpoint, listener
    /// or target.
    #[inline(always)]
    pub fn of(h: &Headers) -> Birth {
        Birth {
            // The time its counters were prepared with: one clock read.
            // SAFETY: a per-CPU array value, written by the fast path.
            now: COUNT_SCRATCH.get(0).map_or(0, |c| unsafe { core::ptr::read_volatile(&c.last_seen_ns) }),
            state: initial_state(h),
            icmp: h.proto == PROTO_ICMP,
            echo_request: h.proto == PROTO_ICMP && h.icmp_type == ICMP_ECHO_REQUEST,
            stat_endpoint: NO_STAT,
            stat_listener: NO_STAT,
            stat_target: NO_STAT,
            nat_gateway: NO_NAT_GATEWAY,
        }
    }
}

/// The one place a [`FlowEntry`] is built: `e` becomes the entry of one
/// direction of the flow `b`, which delivers to `to` with the addresses and
/// ports `new`, coming from ENI `from_eni`. `flags`: `FLOW_F_*`. Its
/// counters are created with it ([`create`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn build(e: &mut FlowEntry, b: &Birth, flags: u32, from_eni: u32, to: &Hop, new: Tuple, x: &Crossings) {
    let reply = flags & FLOW_F_REPLY != 0;
    // The direction that carries echo requests keys its peer as replies.
    let flags = if b.icmp && b.echo_request != reply { flags | FLOW_F_ECHO_REQUESTS } else { flags };
    *e = FlowEntry {
        eth: eth(to.mac),
        out_ifindex: to.ifindex,
        state: b.state,
        flags,
        out_vpc: to.vpc,
        new_src: new.src,
        new_dst: new.dst,
        new_sport: new.sport,
        new_dport: new.dport,
        src_eni: from_eni,
        dst_eni: to.eni,
        stat_endpoint: b.stat_endpoint,
        stat_listener: b.stat_listener,
        stat_target: b.stat_target,
        created_ns: b.now,
        cross1_from: x.from1,
        cross1_to: x.to1,
        cross2_from: x.from2,
        cross2_to: x.to2,
        // Checked when the flow was decided, but under which switch is not
        // known here: the first hit checks again and records it.
        nacl_epoch: 0,
        _pad2: 0,
        nat_gateway: b.nat_gateway,
    };
}

/// Is the reply entry of a new flow still to be inserted ([`create`] does
/// it), or already in the table (a NAT stage [`claim`]ed its source port
/// with it)?
pub enum Reply {
    Insert,
    Claimed,
    /// No reply entry: replies are decided as first packets of their own
    /// (a peering whose far side has no route back; see `pipeline`).
    Skip,
}

/// What [`create`] did.
pub enum Created {
    /// Forward with ours: both entries are in (or, after a lost race whose
    /// winner's entries are gone again, neither, as before the race).
    New,
    /// Another CPU created this very flow first: its entries stand (and a
    /// port we claimed is given back); forward with its forward entry.
    Raced(*mut FlowEntry),
}

/// A flow the table cannot take: counted on the endpoint it was for, if
/// any, and refused.
#[inline(always)]
fn refuse(e: &FlowEntry) -> DropReason {
    if e.stat_endpoint != NO_STAT {
        counters::obj_drop(e.stat_endpoint);
    }
    DropReason::FlowTableFull
}

/// Tries to claim the reply key `rev_key` (a NAT stage's candidate source
/// port) by inserting the reply entry `rev` with `BPF_NOEXIST`: the insert
/// is atomic, so two CPUs can never bind the same port, and a key held by
/// any live flow is refused. `Ok(false)`: taken, try another. A dry run
/// (`dataplane explain`) only checks that the key is free.
#[inline(always)]
pub fn claim(rev_key: &FlowKey, rev: &FlowEntry) -> Result<bool, DropReason> {
    if dry_run() {
        // SAFETY: only tests whether the key is present.
        return Ok(unsafe { FLOWS.get(rev_key) }.is_none());
    }
    match FLOWS.insert(rev_key, rev, BPF_NOEXIST as u64) {
        Ok(()) => Ok(true),
        Err(e) if e as i32 == -EEXIST => Ok(false),
        Err(_) => Err(refuse(rev)),
    }
}

/// Records a new flow: the forward entry `fwd` under `fwd_key` and the
/// reply entry `rev` under `rev_key` (inserted here, or already claimed:
/// see [`Reply`]). Every construct creates its flows through this, so the
/// rules hold for all of them: a full table refuses the flow (and keeps
/// every live one, giving back a claimed port); losing a race to another
/// CPU creating the same flow is fine, the other CPU's entries stand
/// ([`Created::Raced`]); a restart (a new SYN on a finished flow's tuple)
/// overwrites the old entries. A created flow is counted and reported to
/// the flow logs. Each inserted entry then gets its counters
/// (`HL_FLOW_COUNTS`, prepared by [`prepare_counters`]): the forward one
/// with the first packet, the reply one empty, both last seen at the flow's creation
/// (a restart's are removed first: the new connection counts from zero on
/// every CPU).
#[inline(always)]
pub fn create(
    fwd_key: &FlowKey,
    fwd: &FlowEntry,
    rev_key: &FlowKey,
    rev: &FlowEntry,
    restart: bool,
    reply: Reply,
) -> Result<Created, DropReason> {
    let claimed = matches!(reply, Reply::Claimed);
    let flags = if restart { BPF_ANY } else { BPF_NOEXIST } as u64;
    match FLOWS.insert(fwd_key, fwd, flags) {
        Ok(()) => {}
        Err(e) if e as i32 == -EEXIST => {
            if claimed {
                let _ = FLOWS.remove(rev_key);
            }
            return match lookup(fwd_key) {
                Some(theirs) => Ok(Created::Raced(theirs)),
                // Gone again already: with its port given back the flow
                // cannot go on; without a claim, our entry (not in the
                // table) is as good as theirs.
                None if claimed => Err(DropReason::FlowTableFull),
                None => Ok(Created::New),
            };
        }
        Err(_) => {
            if claimed {
                let _ = FLOWS.remove(rev_key);
            }
            return Err(refuse(fwd));
        }
    }
    if matches!(reply, Reply::Insert) {
        match FLOWS.insert(rev_key, rev, flags) {
            Ok(()) => {}
            Err(e) if e as i32 == -EEXIST => {}
            Err(_) => {
                let _ = FLOWS.remove(fwd_key);
                return Err(refuse(fwd));
            }
        }
    }
    // The counters, as the fast path prepared them. A record never
    // outlives its entry (the agent removes it first; the fast path removed
    // a restart's old reply entry with its counters) and the map has the
    // table's size, so an insert finds room. A reply entry that was already
    // there (`Reply::Insert` met EEXIST) keeps its counters.
    if let (Some(first), Some(none)) = (COUNT_SCRATCH.get_ptr(0), COUNT_SCRATCH.get_ptr(1)) {
        // Without a branch: a restart's old counters (on every CPU) go;
        // otherwise there is none.
        let _ = FLOW_COUNTS.remove(fwd_key);
        // SAFETY: per-CPU array values; nothing else runs on this CPU.
        unsafe {
            let _ = FLOW_COUNTS.insert(fwd_key, &*first, BPF_ANY as u64);
            if !matches!(reply, Reply::Skip) {
                let _ = FLOW_COUNTS.insert(rev_key, &*none, BPF_NOEXIST as u64);
            }
        }
    }
    counters::count(Counter::FlowCreated);
    events::new_flow(fwd_key, fwd);
    Ok(Created::New)
}

/// This CPU's scratch entry `i` (0: forward, 1: reply) to build a new
/// flow's entries in (see `maps::SCRATCH`).
#[inline(always)]
pub fn scratch(i: u32) -> Result<&'static mut FlowEntry, DropReason> {
    match crate::maps::SCRATCH.get_ptr_mut(i) {
        // SAFETY: a per-CPU array value; nothing else runs on this CPU
        // while the program does.
        Some(e) => Ok(unsafe { &mut *e }),
        None => Err(DropReason::FlowTableFull),
    }
}

/// Counts one forwarded packet of `len` frame bytes, with the raw TCP
/// flags `tcp_flags` (`Headers::tcp_flags`), into this CPU's counters of
/// the direction `key`: plain stores into a per-CPU record, no atomics and
/// no cache line another CPU writes. A record not there (the flow is being
/// created on another CPU this instant, or removed) counts nothing.
#[inline(always)]
pub fn account(key: &FlowKey, len: u64, tcp_flags: u8) {
    // A dry run (`dataplane explain`) leaves live flows untouched.
    if dry_run() {
        return;
    }
    let Some(c) = FLOW_COUNTS.get_ptr_mut(key) else {
        return;
    };
    // Flow logs' `tcp-flags`: only FIN, SYN and RST count (ACK only with
    // SYN); counted without a branch, like the rest of the record.
    let flags = aws_tcp_flags(tcp_flags);
    let (t, w) = (now(), window());
    // SAFETY: this CPU's value of a live per-CPU map element; nothing else
    // runs on this CPU while the program does.
    unsafe { (*c).count(t, w, events::ip_len(len), flags) };
}

/// Builds the counters of a flow the packet `h` of `len` frame bytes is
/// about to create, in this CPU's `HL_COUNT_SCRATCH` (0: the forward
/// direction, with this packet; 1: the reply), for [`create`]. Called by
/// the fast path before its tail call into the slow path.
#[inline(always)]
pub fn prepare_counters(h: &Headers, len: u64) {
    if let (Some(first), Some(none)) = (COUNT_SCRATCH.get_ptr_mut(0), COUNT_SCRATCH.get_ptr_mut(1)) {
        let (t, w) = (now(), window());
        fresh(first, t, w, 1, events::ip_len(len), events::flags_of(h));
        fresh(none, t, w, 0, 0, 0);
    }
}

/// Writes `c` as [`FlowCounters::first`] would build it, field by field
/// with volatile stores: a struct literal with adjacent zero fields
/// compiles to a `memset` call the BPF target cannot link.
#[inline(always)]
fn fresh(p: *mut FlowCounters, now: u64, window: u32, packets: u64, bytes: u64, flags: u8) {
    // Branch-free: the slow path's verifier budget counts every branch.
    let odd_window = (window & 1) as u8;
    let (even, odd) = (flags * (1 - odd_window), flags * odd_window);
    // SAFETY: every field of a live map value, written once each.
    unsafe {
        addr_of_mut!((*p).packets).write_volatile(packets);
        addr_of_mut!((*p).bytes).write_volatile(bytes);
        addr_of_mut!((*p).last_seen_ns).write_volatile(now);
        addr_of_mut!((*p).base_packets).write_volatile(0);
        addr_of_mut!((*p).base_bytes).write_volatile(0);
        addr_of_mut!((*p).window).write_volatile(window);
        addr_of_mut!((*p).tcp_flags[0]).write_volatile(even);
        addr_of_mut!((*p).tcp_flags[1]).write_volatile(odd);
        addr_of_mut!((*p)._pad).write_volatile(0);
    }
}

/// [`account`] for the first packet of a flow another CPU created an
/// instant before ([`Created::Raced`]): its packet and bytes, and its
/// flags in the window the record is in, without the clock and the window
/// (the creator just set both): a slow-path program cannot afford their
/// branches in every construct's create site. Misses only if the creator
/// has not inserted the counters yet.
#[inline(always)]
pub fn account_raced(key: &FlowKey, len: u64, tcp_flags: u8) {
    if dry_run() {
        return;
    }
    if let Some(c) = FLOW_COUNTS.get_ptr_mut(key) {
        // SAFETY: as in `account`.
        unsafe {
            let slot = ((*c).window & 1) as usize;
            (*c).tcp_flags[slot] |= aws_tcp_flags(tcp_flags);
            (*c).packets += 1;
            (*c).bytes += events::ip_len(len);
        }
    }
}

/// A flow entry's Ethernet header: the destination MAC, then the router's
/// MAC, byte by byte (an array copy would compile to a memcpy call).
#[inline(always)]
fn eth(dst: &[u8; 6]) -> [u8; 12] {
    let g = GATEWAY_MAC;
    [dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], g[0], g[1], g[2], g[3], g[4], g[5]]
}
