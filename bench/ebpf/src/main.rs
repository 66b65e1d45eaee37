//! The benchmark object (`target/bench-ebpf.o`): what hyperlab's pipeline is
//! measured against, and the traffic generator and sink of the veth runs.
//! Not part of the data plane; `cargo xtask bench` loads it next to it.
//!
//! - floors: a parse-and-redirect program and a minimal stateful NAT, each
//!   as XDP (direct writes, DevMap redirect) and as TC (the skb helpers the
//!   pipeline's TC build uses, `bpf_redirect_peer`);
//! - `hlb_gen`: run with BPF_PROG_RUN live frames, writes every header
//!   field of every frame (live-frame pages are recycled, and the stack and
//!   our rewrites edit them in place: docs/BENCHMARKS.md, section 3) and sends it;
//! - `hlb_sink`: counts per CPU, keeps a sample of frames for the runner to
//!   verify, drops;
//! - empty programs that give the fixed cost of one test-run call.
#![no_std]
#![no_main]
// `atomic_xadd` (as in the data plane's kernel crate): the wide-entry
// anatomy variant counts packets and bytes as the pipeline does.
#![feature(core_intrinsics)]
#![allow(internal_features)]

use core::intrinsics::{atomic_xadd, AtomicOrdering};

use aya_ebpf::{
    bindings::{xdp_action, BPF_F_PSEUDO_HDR, BPF_NOEXIST, TC_ACT_OK, TC_ACT_SHOT},
    helpers::generated::{bpf_get_smp_processor_id, bpf_jiffies64, bpf_redirect_peer, bpf_xdp_load_bytes},
    macros::{classifier, map, xdp},
    maps::{Array, DevMap, HashMap, PerCpuArray},
    programs::{TcContext, XdpContext},
};
use dataplane_common::{FlowKey, EEXIST, MAX_FLOWS, PROTO_TCP, PROTO_UDP};
use hyperlab_bench_common::{
    gen_index, nat_key, BenchConfig, NatEntry, NatKey5, NatVal5, NatWide, Sample, COUNT_DROP, COUNT_FWD, COUNT_GEN, COUNT_NAT_NEW,
    COUNT_SINK, COUNT_SLOTS, FRAME_LEN, SAMPLE_LEN, SAMPLE_SLOTS,
};

#[map(name = "HLB_CONFIG")]
static CONFIG: Array<BenchConfig> = Array::with_max_entries(1, 0);

#[map(name = "HLB_DEVMAP")]
static DEVMAP: DevMap = DevMap::with_max_entries(1, 0);

/// Preallocated like the pipeline's flow table; the runner raises its size
/// for the scale runs.
#[map(name = "HLB_NAT")]
static NAT: HashMap<FlowKey, NatEntry> = HashMap::with_max_entries(MAX_FLOWS, 0);

/// The 5-tuple floor's table: preallocated, sized by the runner.
#[map(name = "HLB_NAT5")]
static NAT5: HashMap<NatKey5, NatVal5> = HashMap::with_max_entries(MAX_FLOWS, 0);

/// The wide-entry anatomy variants' table (sized by the runner; 1 entry
/// unless used).
#[map(name = "HLB_NATW")]
static NATW: HashMap<FlowKey, NatWide> = HashMap::with_max_entries(1, 0);

#[map(name = "HLB_NATW_S")]
static NATW_SCRATCH: PerCpuArray<NatWide> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "HLB_COUNTS")]
static COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNT_SLOTS, 0);

#[map(name = "HLB_SAMPLES")]
static SAMPLES: PerCpuArray<Sample> = PerCpuArray::with_max_entries(SAMPLE_SLOTS, 0);

const ETH_LEN: usize = 14;
const IP_CSUM: usize = ETH_LEN + 10;
const IP_SRC: usize = ETH_LEN + 12;
const IP_DST: usize = ETH_LEN + 16;
/// The floors read no IPv4 options: the offset of L4 in every frame they see.
const L4: usize = ETH_LEN + 20;
const UDP_CSUM: usize = L4 + 6;
const TCP_CSUM: usize = L4 + 16;
/// EtherType 0x0800 as loaded natively from the wire.
const ETH_P_IP_NE: u16 = u16::from_ne_bytes([0x08, 0x00]);

#[inline(always)]
fn count(slot: u32) -> u64 {
    match COUNTS.get_ptr_mut(slot) {
        Some(c) => {
            // SAFETY: per-CPU slot, only this CPU writes it.
            unsafe {
                *c += 1;
                *c
            }
        }
        None => 0,
    }
}

/// Unaligned read of a `T` at `data + off`, the caller having checked bounds.
///
/// # Safety
/// `data + off .. data + off + size_of::<T>()` must lie inside the packet.
#[inline(always)]
unsafe fn rd<T: Copy>(data: usize, off: usize) -> T {
    unsafe { core::ptr::read_unaligned((data + off) as *const T) }
}

/// # Safety
/// As [`rd`], and the packet must be writable (XDP).
#[inline(always)]
unsafe fn wr<T>(data: usize, off: usize, v: T) {
    unsafe { core::ptr::write_unaligned((data + off) as *mut T, v) }
}

/// 12 bytes of MACs as two plain loads: an array copy would be a memcpy call.
#[inline(always)]
fn eth_words(eth: &[u8; 12]) -> (u64, u32) {
    let p = eth.as_ptr();
    // SAFETY: 12 bytes, read as 8 + 4.
    unsafe {
        (
            core::ptr::read_unaligned(p as *const u64),
            core::ptr::read_unaligned(p.add(8) as *const u32),
        )
    }
}

/// One's-complement accumulation for an incremental checksum update (RFC 1624).
#[inline(always)]
fn add32(acc: u64, from: u32, to: u32) -> u64 {
    acc + ((!from >> 16) as u64) + ((!from & 0xffff) as u64) + ((to >> 16) as u64) + ((to & 0xffff) as u64)
}

#[inline(always)]
fn add16(acc: u64, from: u16, to: u16) -> u64 {
    acc + (!from) as u64 + to as u64
}

#[inline(always)]
fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    !(acc as u16)
}

/// What the floors parse: IPv4 without options, then UDP or TCP ports.
struct Tuple {
    proto: u8,
    csum_off: usize,
    src: [u8; 4],
    dst: [u8; 4],
    sport: [u8; 2],
    dport: [u8; 2],
}

#[inline(always)]
fn parse(data: usize, end: usize) -> Option<Tuple> {
    if data + L4 + 8 > end {
        return None;
    }
    // SAFETY: the first L4 + 8 bytes are inside the packet (checked above).
    unsafe {
        if rd::<u16>(data, 12) != ETH_P_IP_NE || rd::<u8>(data, ETH_LEN) != 0x45 {
            return None;
        }
        let proto: u8 = rd(data, ETH_LEN + 9);
        let csum_off = if proto == PROTO_UDP {
            UDP_CSUM
        } else if proto == PROTO_TCP && data + L4 + 20 <= end {
            TCP_CSUM
        } else {
            return None;
        };
        Some(Tuple {
            proto,
            csum_off,
            src: rd(data, IP_SRC),
            dst: rd(data, IP_DST),
            sport: rd(data, L4),
            dport: rd(data, L4 + 2),
        })
    }
}

/// The action for `t`: its entry, or a new one from the config (created
/// with BPF_NOEXIST, so a racing CPU's entry wins). `None`: the table is
/// full, a drop.
#[inline(always)]
fn nat_lookup(t: &Tuple) -> Option<*const NatEntry> {
    let key = nat_key(t.src, t.dst, t.sport, t.dport, t.proto);
    if let Some(e) = NAT.get_ptr(&key) {
        return Some(e);
    }
    let cfg = CONFIG.get(0)?;
    let e = NatEntry {
        eth: [
            cfg.eth[0], cfg.eth[1], cfg.eth[2], cfg.eth[3], cfg.eth[4], cfg.eth[5], cfg.eth[6], cfg.eth[7],
            cfg.eth[8], cfg.eth[9], cfg.eth[10], cfg.eth[11],
        ],
        out_ifindex: cfg.out_ifindex,
        new_src: cfg.nat_src,
        new_dst: cfg.nat_dst,
        new_sport: [t.sport[0] ^ cfg.sport_xor[0], t.sport[1] ^ cfg.sport_xor[1]],
        new_dport: cfg.nat_dport,
        _pad: 0,
    };
    match NAT.insert(&key, &e, BPF_NOEXIST as u64) {
        Ok(()) => {
            count(COUNT_NAT_NEW);
        }
        Err(rc) if rc == -EEXIST => {}
        Err(_) => return None,
    }
    NAT.get_ptr(&key)
}

/// What both NAT floors rewrite a frame to.
struct Action {
    ns: u32,
    nd: u32,
    nsp: u16,
    ndp: u16,
    eth: (u64, u32),
    out_ifindex: u32,
}

#[inline(always)]
fn action_of(e: *const NatEntry) -> Action {
    // SAFETY: `e` points into a live map value.
    let e = unsafe { &*e };
    Action {
        ns: u32::from_ne_bytes(e.new_src),
        nd: u32::from_ne_bytes(e.new_dst),
        nsp: u16::from_ne_bytes(e.new_sport),
        ndp: u16::from_ne_bytes(e.new_dport),
        eth: eth_words(&e.eth),
        out_ifindex: e.out_ifindex,
    }
}

/// The 5-tuple floor: a 16-byte key, a 16-byte value created on a miss
/// from the config (BPF_NOEXIST, as floor 2), the MACs from the config.
#[inline(always)]
fn nat5_lookup(t: &Tuple) -> Option<Action> {
    let key = NatKey5 {
        src: t.src,
        dst: t.dst,
        sport: t.sport,
        dport: t.dport,
        proto: t.proto,
        _pad0: 0,
        _pad1: 0,
    };
    let cfg = CONFIG.get(0)?;
    let v = match NAT5.get_ptr(&key) {
        Some(v) => v,
        None => {
            let v = NatVal5 {
                new_src: cfg.nat_src,
                new_dst: cfg.nat_dst,
                new_sport: [t.sport[0] ^ cfg.sport_xor[0], t.sport[1] ^ cfg.sport_xor[1]],
                new_dport: cfg.nat_dport,
                out_ifindex: cfg.out_ifindex,
            };
            match NAT5.insert(&key, &v, BPF_NOEXIST as u64) {
                Ok(()) => {
                    count(COUNT_NAT_NEW);
                }
                Err(rc) if rc == -EEXIST => {}
                Err(_) => return None,
            }
            NAT5.get_ptr(&key)?
        }
    };
    // SAFETY: `v` points into a live map value.
    let v = unsafe { &*v };
    Some(Action {
        ns: u32::from_ne_bytes(v.new_src),
        nd: u32::from_ne_bytes(v.new_dst),
        nsp: u16::from_ne_bytes(v.new_sport),
        ndp: u16::from_ne_bytes(v.new_dport),
        eth: eth_words(&cfg.eth),
        out_ifindex: v.out_ifindex,
    })
}

/// The wide entry for `t`: its own, or a new one built in this CPU's
/// scratch slot from the config (BPF_NOEXIST, as floor 2).
#[inline(always)]
fn natw_lookup(t: &Tuple) -> Option<*mut NatWide> {
    let key = nat_key(t.src, t.dst, t.sport, t.dport, t.proto);
    if let Some(e) = NATW.get_ptr_mut(&key) {
        return Some(e);
    }
    let cfg = CONFIG.get(0)?;
    let s = NATW_SCRATCH.get_ptr_mut(0)?;
    // SAFETY: this CPU's scratch slot; field by field (a struct literal
    // with adjacent zero u64s would compile to a memset call).
    unsafe {
        (*s).action.eth = [
            cfg.eth[0], cfg.eth[1], cfg.eth[2], cfg.eth[3], cfg.eth[4], cfg.eth[5], cfg.eth[6], cfg.eth[7],
            cfg.eth[8], cfg.eth[9], cfg.eth[10], cfg.eth[11],
        ];
        (*s).action.out_ifindex = cfg.out_ifindex;
        (*s).action.new_src = cfg.nat_src;
        (*s).action.new_dst = cfg.nat_dst;
        (*s).action.new_sport = [t.sport[0] ^ cfg.sport_xor[0], t.sport[1] ^ cfg.sport_xor[1]];
        (*s).action.new_dport = cfg.nat_dport;
        core::ptr::write_volatile(&mut (*s).packets, 0);
        core::ptr::write_volatile(&mut (*s).bytes, 0);
        core::ptr::write_volatile(&mut (*s).last_seen, bpf_jiffies64());
    }
    // SAFETY: `s` is a live map value.
    match NATW.insert(&key, unsafe { &*s }, BPF_NOEXIST as u64) {
        Ok(()) => {
            count(COUNT_NAT_NEW);
        }
        Err(rc) if rc == -EEXIST => {}
        Err(_) => return None,
    }
    NATW.get_ptr_mut(&key)
}

/// Floor 2 as a NAT that translates replies: a miss inserts the forward
/// entry and then the reply entry (keyed by the translated tuple
/// reversed, mapping back), as the pipeline does, so the table holds two
/// entries per flow, created one after the other.
#[inline(always)]
fn nat_pair_lookup(t: &Tuple) -> Option<*const NatEntry> {
    let key = nat_key(t.src, t.dst, t.sport, t.dport, t.proto);
    if let Some(e) = NAT.get_ptr(&key) {
        return Some(e);
    }
    let e = nat_lookup(t)?;
    // SAFETY: `e` points into a live map value.
    let f = unsafe { &*e };
    let rkey = nat_key(f.new_dst, f.new_src, f.new_dport, f.new_sport, t.proto);
    let cfg = CONFIG.get(0)?;
    let r = NatEntry {
        eth: [
            cfg.eth[6], cfg.eth[7], cfg.eth[8], cfg.eth[9], cfg.eth[10], cfg.eth[11], cfg.eth[0], cfg.eth[1],
            cfg.eth[2], cfg.eth[3], cfg.eth[4], cfg.eth[5],
        ],
        out_ifindex: cfg.out_ifindex,
        new_src: t.dst,
        new_dst: t.src,
        new_sport: t.dport,
        new_dport: t.sport,
        _pad: 0,
    };
    // The reply entry may exist already (another CPU): keep it.
    let _ = NAT.insert(&rkey, &r, BPF_NOEXIST as u64);
    Some(e)
}

#[xdp]
pub fn hlb_xdp_nat_pair(ctx: XdpContext) -> u32 {
    xdp_nat(ctx, |t| nat_pair_lookup(t).map(action_of))
}

#[xdp]
pub fn hlb_xdp_natw(ctx: XdpContext) -> u32 {
    xdp_nat(ctx, |t| natw_lookup(t).map(|e| action_of(e as *const NatEntry)))
}

#[xdp]
pub fn hlb_xdp_natw_acct(ctx: XdpContext) -> u32 {
    let len = (ctx.data_end() - ctx.data()) as u64;
    xdp_nat(ctx, |t| {
        let e = natw_lookup(t)?;
        // The pipeline's per-packet writes: the timestamp when the clock
        // moved, then the packet and byte counts (atomic: any CPU may
        // forward the flow).
        // SAFETY: `e` is a live map value; the u64s are 8-byte aligned.
        unsafe {
            let now = bpf_jiffies64();
            if (*e).last_seen != now {
                (*e).last_seen = now;
            }
            atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(core::ptr::addr_of_mut!((*e).packets), 1);
            atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(core::ptr::addr_of_mut!((*e).bytes), len);
        }
        Some(action_of(e as *const NatEntry))
    })
}

#[xdp]
pub fn hlb_xdp_redirect(ctx: XdpContext) -> u32 {
    let (data, end) = (ctx.data(), ctx.data_end());
    if data + L4 > end {
        return xdp_action::XDP_DROP;
    }
    // SAFETY: bounds checked above.
    if unsafe { rd::<u16>(data, 12) != ETH_P_IP_NE || rd::<u8>(data, ETH_LEN) >> 4 != 4 } {
        count(COUNT_DROP);
        return xdp_action::XDP_DROP;
    }
    let Some(cfg) = CONFIG.get(0) else {
        return xdp_action::XDP_ABORTED;
    };
    xdp_forward(data, eth_words(&cfg.eth))
}

/// The XDP floors' last step: the MACs (`eth_words`) written, counted,
/// redirected to DevMap slot 0.
#[inline(always)]
fn xdp_forward(data: usize, (a, b): (u64, u32)) -> u32 {
    // SAFETY: every caller checked the Ethernet header's bounds.
    unsafe {
        wr(data, 0, a);
        wr(data, 8, b);
    }
    count(COUNT_FWD);
    DEVMAP.redirect(0, 0).unwrap_or(xdp_action::XDP_ABORTED)
}

#[xdp]
pub fn hlb_xdp_nat(ctx: XdpContext) -> u32 {
    xdp_nat(ctx, |t| nat_lookup(t).map(action_of))
}

#[xdp]
pub fn hlb_xdp_nat5(ctx: XdpContext) -> u32 {
    xdp_nat(ctx, nat5_lookup)
}

#[inline(always)]
fn xdp_nat(ctx: XdpContext, lookup: impl Fn(&Tuple) -> Option<Action>) -> u32 {
    let (data, end) = (ctx.data(), ctx.data_end());
    let Some(t) = parse(data, end) else {
        count(COUNT_DROP);
        return xdp_action::XDP_DROP;
    };
    let Some(a) = lookup(&t) else {
        count(COUNT_DROP);
        return xdp_action::XDP_DROP;
    };
    let (os, od) = (u32::from_ne_bytes(t.src), u32::from_ne_bytes(t.dst));
    let (osp, odp) = (u16::from_ne_bytes(t.sport), u16::from_ne_bytes(t.dport));
    let (ns, nd, nsp, ndp) = (a.ns, a.nd, a.nsp, a.ndp);
    // SAFETY: parse checked L4 + 8 bytes (UDP) or L4 + 20 (TCP): every
    // offset written below is inside.
    unsafe {
        let ipc: u16 = rd(data, IP_CSUM);
        wr(data, IP_CSUM, fold(add32(add32((!ipc) as u64, os, ns), od, nd)));
        let l4c: u16 = rd(data, t.csum_off);
        // A zero UDP checksum means "none" and stays zero.
        if !(t.proto == PROTO_UDP && l4c == 0) {
            let acc = add16(add16(add32(add32((!l4c) as u64, os, ns), od, nd), osp, nsp), odp, ndp);
            let mut c = fold(acc);
            if t.proto == PROTO_UDP && c == 0 {
                c = 0xffff;
            }
            wr(data, t.csum_off, c);
        }
        wr(data, IP_SRC, ns);
        wr(data, IP_DST, nd);
        wr(data, L4, nsp);
        wr(data, L4 + 2, ndp);
    }
    xdp_forward(data, a.eth)
}

#[classifier]
pub fn hlb_tc_redirect(ctx: TcContext) -> i32 {
    let (data, end) = (ctx.data(), ctx.data_end());
    if data + L4 > end {
        return TC_ACT_SHOT;
    }
    // SAFETY: bounds checked above.
    if unsafe { rd::<u16>(data, 12) != ETH_P_IP_NE || rd::<u8>(data, ETH_LEN) >> 4 != 4 } {
        count(COUNT_DROP);
        return TC_ACT_SHOT;
    }
    let Some(cfg) = CONFIG.get(0) else {
        return TC_ACT_SHOT;
    };
    if ctx.store(0, &cfg.eth, 0).is_err() {
        return TC_ACT_SHOT;
    }
    count(COUNT_FWD);
    // SAFETY: plain helper call.
    unsafe { bpf_redirect_peer(cfg.out_ifindex, 0) as i32 }
}

#[classifier]
pub fn hlb_tc_nat(ctx: TcContext) -> i32 {
    match tc_nat(&ctx, |t| nat_lookup(t).map(action_of)) {
        Some(rc) => rc,
        None => {
            count(COUNT_DROP);
            TC_ACT_SHOT
        }
    }
}

#[classifier]
pub fn hlb_tc_nat5(ctx: TcContext) -> i32 {
    match tc_nat(&ctx, nat5_lookup) {
        Some(rc) => rc,
        None => {
            count(COUNT_DROP);
            TC_ACT_SHOT
        }
    }
}

#[inline(always)]
fn tc_nat(ctx: &TcContext, lookup: impl Fn(&Tuple) -> Option<Action>) -> Option<i32> {
    let t = parse(ctx.data(), ctx.data_end())?;
    let e = lookup(&t)?;
    let udp = if t.proto == PROTO_UDP { aya_ebpf::bindings::BPF_F_MARK_MANGLED_0 as u64 } else { 0 };
    let pseudo = BPF_F_PSEUDO_HDR as u64;
    let (os, od) = (u32::from_ne_bytes(t.src), u32::from_ne_bytes(t.dst));
    let (ns, nd) = (e.ns, e.nd);
    let (osp, odp) = (u16::from_ne_bytes(t.sport), u16::from_ne_bytes(t.dport));
    let (nsp, ndp) = (e.nsp, e.ndp);
    // The same helper sequence as the pipeline's TC rewrite: one L4 and
    // one L3 checksum update for both addresses (pseudo-header fields),
    // one L4 update for both ports, one store per pair of fields. Size 0:
    // the helpers take a precomputed checksum difference.
    let da = add32(add32(0, os, ns), od, nd);
    let dp = add16(add16(0, osp, nsp), odp, ndp);
    ctx.l4_csum_replace(t.csum_off, 0, da, pseudo | udp).ok()?;
    ctx.l3_csum_replace(IP_CSUM, 0, da, 0).ok()?;
    ctx.store(IP_SRC, &[ns, nd], 0).ok()?;
    ctx.l4_csum_replace(t.csum_off, 0, dp, udp).ok()?;
    ctx.store(L4, &[nsp, ndp], 0).ok()?;
    let (a, b) = e.eth;
    ctx.store(0, &a, 0).ok()?;
    ctx.store(8, &b, 0).ok()?;
    count(COUNT_FWD);
    // SAFETY: plain helper call.
    Some(unsafe { bpf_redirect_peer(e.out_ifindex, 0) as i32 })
}

#[xdp]
pub fn hlb_gen(ctx: XdpContext) -> u32 {
    let (data, end) = (ctx.data(), ctx.data_end());
    if data + FRAME_LEN > end {
        return xdp_action::XDP_ABORTED;
    }
    let Some(cfg) = CONFIG.get(0) else {
        return xdp_action::XDP_ABORTED;
    };
    let seq = count(COUNT_GEN);
    // SAFETY: plain helper call.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    let idx = gen_index(seq, cfg.flows_mask, cpu, cfg.cpu_stride);
    let sport = (cfg.sport_base.wrapping_add(idx) as u16).to_be();
    let dport0 = (cfg.frame[4] >> 32) as u16;
    let dport = u16::from_be(dport0).wrapping_add((idx >> 16) as u16).to_be();
    // The template's UDP checksum is right for source port 0 and its
    // destination port: add the source port, replace the destination port.
    let c = fold(add16((!(cfg.frame[5] as u16)) as u64 + sport as u64, dport0, dport));
    let c = if c == 0 { 0xffff } else { c };
    // SAFETY: FRAME_LEN bytes are inside the frame (checked above).
    unsafe {
        wr(data, 0, cfg.frame[0]);
        wr(data, 8, cfg.frame[1]);
        wr(data, 16, cfg.frame[2]);
        wr(data, 24, cfg.frame[3]);
        wr(data, 32, cfg.frame[4]);
        wr(data, 40, cfg.frame[5]);
        wr(data, 48, cfg.frame[6]);
        wr(data, 56, cfg.frame[7]);
        wr(data, L4, sport);
        wr(data, L4 + 2, dport);
        wr(data, UDP_CSUM, c);
    }
    xdp_action::XDP_TX
}

#[xdp]
pub fn hlb_sink(ctx: XdpContext) -> u32 {
    let n = count(COUNT_SINK);
    let Some(cfg) = CONFIG.get(0) else {
        return xdp_action::XDP_DROP;
    };
    let shift = cfg.sample_shift & 31;
    if n & ((1u64 << shift) - 1) != 0 {
        return xdp_action::XDP_DROP;
    }
    let slot = ((n >> shift) as u32) & (SAMPLE_SLOTS - 1);
    let len = ctx.data_end() - ctx.data();
    if len < SAMPLE_LEN {
        return xdp_action::XDP_DROP;
    }
    if let Some(s) = SAMPLES.get_ptr_mut(slot) {
        // SAFETY: `s` is this CPU's slot; the helper bounds-checks the frame.
        unsafe {
            let rc = bpf_xdp_load_bytes(ctx.ctx, 0, (*s).data.as_mut_ptr() as *mut _, SAMPLE_LEN as u32);
            if rc == 0 {
                (*s).seq = n;
                (*s).len = len as u32;
            }
        }
    }
    xdp_action::XDP_DROP
}

#[xdp]
pub fn hlb_xdp_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[classifier]
pub fn hlb_tc_pass(_ctx: TcContext) -> i32 {
    TC_ACT_OK
}

dataplane_common::bpf_object_items!();
