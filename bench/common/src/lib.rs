//! The ABI of the benchmark kernel object (`target/bench-ebpf.o`, built from
//! `bench/ebpf/`): the floors hyperlab's pipeline is measured against, the
//! live-frames traffic generator and the counting sink.
//!
//! Nothing here is part of the data plane; it is one crate shared by the bench
//! runner (`bench/`) and the bench programs (`bench/ebpf/`) so they cannot
//! drift apart.
#![no_std]

use dataplane_common::FlowKey;

/// Map names (at most 15 bytes).
pub mod maps {
    /// Array of one [`super::BenchConfig`].
    pub const CONFIG: &str = "HLB_CONFIG";
    /// DevMap: slot 0 is where the XDP floors redirect to.
    pub const DEVMAP: &str = "HLB_DEVMAP";
    /// [`dataplane_common::FlowKey`] -> [`super::NatEntry`]: the minimal stateful NAT's table.
    pub const NAT: &str = "HLB_NAT";
    /// [`super::NatKey5`] -> [`super::NatVal5`]: the 5-tuple NAT's table.
    pub const NAT5: &str = "HLB_NAT5";
    /// [`dataplane_common::FlowKey`] -> [`super::NatWide`]: the wide-entry
    /// variants of the floors' anatomy.
    pub const NATW: &str = "HLB_NATW";
    /// Per-CPU scratch [`super::NatWide`] a new wide entry is built in.
    pub const NATW_SCRATCH: &str = "HLB_NATW_S";
    /// Per-CPU array of u64 indexed by the `COUNT_*` constants.
    pub const COUNTS: &str = "HLB_COUNTS";
    /// Per-CPU array of [`super::Sample`], [`super::SAMPLE_SLOTS`] per CPU.
    pub const SAMPLES: &str = "HLB_SAMPLES";
}

/// Program names in the bench object.
pub mod programs {
    /// Live-frames generator: writes a whole frame from the config, XDP_TX.
    pub const GEN: &str = "hlb_gen";
    /// Counts, samples one frame in 2^`sample_shift`, drops.
    pub const SINK: &str = "hlb_sink";
    /// Floor 1 (XDP): parse Ethernet/IPv4, write the MACs, DevMap redirect.
    pub const XDP_REDIRECT: &str = "hlb_xdp_redirect";
    /// Floor 2 (XDP): parse, one FlowKey lookup (create on miss), NAT of
    /// both addresses and both ports with incremental checksums, MACs, DevMap redirect.
    pub const XDP_NAT: &str = "hlb_xdp_nat";
    /// The same two floors as TC programs, written through the skb helpers
    /// the pipeline's TC build uses, ending in `bpf_redirect_peer`.
    pub const TC_REDIRECT: &str = "hlb_tc_redirect";
    pub const TC_NAT: &str = "hlb_tc_nat";
    /// Floor 3: the minimal NAT written the obvious way: a 16-byte 5-tuple
    /// key and a 16-byte value (addresses, ports, out ifindex; the MACs
    /// come from the config), otherwise the same steps as floor 2.
    pub const XDP_NAT5: &str = "hlb_xdp_nat5";
    /// The floors' anatomy only: floor 2 with a value as large as the
    /// pipeline's FlowEntry ([`super::NatWide`]), read only ...
    pub const XDP_NATW: &str = "hlb_xdp_natw";
    /// ... and with the pipeline's per-packet writes into it (the timestamp
    /// when it moved, atomic packet and byte counts).
    pub const XDP_NATW_ACCT: &str = "hlb_xdp_natw_acct";
    /// The floors' anatomy only: floor 2 inserting a reply entry beside
    /// each new forward entry, as the pipeline does (two entries per flow).
    pub const XDP_NAT_PAIR: &str = "hlb_xdp_nat_pair";
    pub const TC_NAT5: &str = "hlb_tc_nat5";
    /// Empty programs: the fixed cost of one BPF_PROG_TEST_RUN call.
    pub const XDP_PASS: &str = "hlb_xdp_pass";
    pub const TC_PASS: &str = "hlb_tc_pass";
}

/// Frames the generator writes: Ethernet + IPv4 + UDP + 22 bytes of payload.
pub const FRAME_LEN: usize = 64;
/// Bytes of each sampled frame kept by the sink.
pub const SAMPLE_LEN: usize = 64;
/// Sample slots per CPU (a power of two).
pub const SAMPLE_SLOTS: u32 = 64;

pub const COUNT_GEN: u32 = 0;
pub const COUNT_SINK: u32 = 1;
/// Frames the floors forwarded.
pub const COUNT_FWD: u32 = 2;
/// Flows the minimal NAT created on a miss.
pub const COUNT_NAT_NEW: u32 = 3;
/// Frames the floors dropped (not IPv4/UDP/TCP, table full).
pub const COUNT_DROP: u32 = 4;
pub const COUNT_SLOTS: u32 = 5;

/// Everything the bench programs read, in one array slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BenchConfig {
    /// The generator's frame, whole, with UDP source port 0 and checksums
    /// valid for that port (u64 words so the copy is eight plain stores).
    pub frame: [u64; 8],
    /// The generator's flow index is `(seq & flows_mask) + cpu * cpu_stride`
    /// (`cpu`: the CPU it runs on); its source port is `sport_base + index`
    /// (wrapping at 16 bits) and its destination port the template's plus
    /// `index >> 16`: more than 65,536 flows from one address.
    pub flows_mask: u32,
    /// Host order.
    pub sport_base: u32,
    /// Sink: sample a frame when `seq & ((1 << sample_shift) - 1) == 0`.
    pub sample_shift: u32,
    /// TC floors: `bpf_redirect_peer` target.
    pub out_ifindex: u32,
    /// Floors: destination then source MAC written into every frame.
    pub eth: [u8; 12],
    /// Minimal NAT, on a miss: new source and destination address, new
    /// destination port; the new source port is the old one XOR `sport_xor`.
    pub nat_src: [u8; 4],
    pub nat_dst: [u8; 4],
    pub nat_dport: [u8; 2],
    /// Network order, like the port it is applied to.
    pub sport_xor: [u8; 2],
    /// Flow-index offset per CPU: two generator threads, one flow set each.
    pub cpu_stride: u32,
    pub _pad: u32,
}

/// The flow index of the generator's `seq`-th frame on CPU `cpu`.
#[inline(always)]
pub const fn gen_index(seq: u64, flows_mask: u32, cpu: u32, cpu_stride: u32) -> u32 {
    (seq as u32 & flows_mask).wrapping_add(cpu.wrapping_mul(cpu_stride))
}

/// The minimal NAT's action in an entry as large as the pipeline's
/// `FlowEntry` (88 bytes, the action alone since the per-flow counters
/// moved to per-CPU records), with room for a packet and byte count and a
/// timestamp written in it on every packet (as the pipeline did before):
/// what the entry's size and in-entry writes cost at many flows.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NatWide {
    pub action: NatEntry,
    pub packets: u64,
    pub last_seen: u64,
    pub bytes: u64,
    pub _r0: u64,
    pub _r1: u64,
    pub _r2: u64,
    pub _r3: u64,
}

/// The 5-tuple floor's key: 16 bytes, nothing else.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NatKey5 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub sport: [u8; 2],
    pub dport: [u8; 2],
    pub proto: u8,
    pub _pad0: u8,
    pub _pad1: u16,
}

/// The 5-tuple floor's action: 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NatVal5 {
    pub new_src: [u8; 4],
    pub new_dst: [u8; 4],
    pub new_sport: [u8; 2],
    pub new_dport: [u8; 2],
    pub out_ifindex: u32,
}

/// The minimal NAT's precompiled action for one tuple.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NatEntry {
    pub eth: [u8; 12],
    pub out_ifindex: u32,
    pub new_src: [u8; 4],
    pub new_dst: [u8; 4],
    pub new_sport: [u8; 2],
    pub new_dport: [u8; 2],
    pub _pad: u32,
}

/// One frame the sink kept.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The sink's per-CPU sequence number of the frame (0: slot empty).
    pub seq: u64,
    pub len: u32,
    pub _pad: u32,
    pub data: [u8; SAMPLE_LEN],
}

impl Default for Sample {
    fn default() -> Self {
        Sample {
            seq: 0,
            len: 0,
            _pad: 0,
            data: [0; SAMPLE_LEN],
        }
    }
}

/// The key the minimal NAT uses: the pipeline's [`FlowKey`] with VPC 0.
#[inline(always)]
pub const fn nat_key(
    src: [u8; 4],
    dst: [u8; 4],
    sport: [u8; 2],
    dport: [u8; 2],
    proto: u8,
) -> FlowKey {
    FlowKey {
        vpc: 0,
        src,
        dst,
        sport,
        dport,
        proto,
        icmp_reply: 0,
        _pad1: 0,
    }
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: #[repr(C)], integer and byte-array fields only, padding explicit.
    unsafe impl aya::Pod for BenchConfig {}
    unsafe impl aya::Pod for NatEntry {}
    unsafe impl aya::Pod for NatKey5 {}
    unsafe impl aya::Pod for NatVal5 {}
    unsafe impl aya::Pod for NatWide {}
    unsafe impl aya::Pod for Sample {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn bench_abi_sizes_are_pinned() {
        assert_eq!(size_of::<BenchConfig>(), 64 + 16 + 12 + 12 + 8);
        assert_eq!(size_of::<NatEntry>(), 32);
        assert_eq!(size_of::<NatKey5>(), 16);
        assert_eq!(size_of::<NatVal5>(), 16);
        assert_eq!(
            size_of::<NatWide>(),
            size_of::<dataplane_common::FlowEntry>()
        );
        assert_eq!(gen_index(5, 3, 0, 1 << 16), 1);
        assert_eq!(gen_index(5, 3, 1, 1 << 16), (1 << 16) + 1);
        assert_eq!(size_of::<Sample>(), 16 + SAMPLE_LEN);
    }
}
