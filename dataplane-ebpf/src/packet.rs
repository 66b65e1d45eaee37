//! The packet-access layer: the only place that touches packet memory.
//!
//! The pipeline is written once against [`Packet`]; [`TcPacket`] writes through
//! the skb helpers (a direct write would make the verifier unclone every TCP
//! skb, and only the helpers keep partial checksums right), [`XdpPacket`]
//! writes directly and fixes checksums itself.

use core::{
    mem::MaybeUninit,
    ptr::{addr_of_mut, write_volatile},
};

use aya_ebpf::{
    bindings::{BPF_F_MARK_MANGLED_0, BPF_F_PSEUDO_HDR},
    bindings::bpf_tunnel_key,
    helpers::generated::{
        bpf_l3_csum_replace, bpf_l4_csum_replace, bpf_skb_change_tail, bpf_skb_get_tunnel_key, bpf_skb_pull_data,
        bpf_skb_set_tunnel_key, bpf_skb_store_bytes, bpf_xdp_adjust_tail,
    },
    programs::{TcContext, XdpContext},
};

pub trait Packet {
    /// The program context, for aya-log.
    type Ctx: aya_ebpf::EbpfContext;
    fn ctx(&self) -> &Self::Ctx;
    /// Tail-calls this hook's slow-path program `index` (`HL_SLOW_*`); returns
    /// only if that failed.
    fn slow_path(&self, index: u32);
    fn data(&self) -> usize;
    fn data_end(&self) -> usize;
    /// Length of the whole packet, which in TC can exceed the linear part.
    fn len(&self) -> u32;
    fn ingress_ifindex(&self) -> u32;
    /// Makes the first `n` bytes (or the whole packet if shorter) directly
    /// readable. Invalidates earlier pointers.
    fn pull(&mut self, n: u32);
    fn store_2(&mut self, off: usize, v: [u8; 2]) -> Result<(), ()>;
    fn store_4(&mut self, off: usize, v: [u8; 4]) -> Result<(), ()>;
    /// Writes 8 bytes given as a native-endian u64 (as loaded from the packet).
    fn store_8(&mut self, off: usize, v: u64) -> Result<(), ()>;
    /// Writes the destination and source MACs (the first 12 bytes).
    fn store_eth(&mut self, eth: &[u8; 12]) -> Result<(), ()>;
    /// Fixes the IPv4 header checksum at `off` for a 4-byte field change.
    fn l3_csum_replace(&mut self, off: usize, from: u32, to: u32) -> Result<(), ()>;
    /// Fixes the L4 checksum at `off` for a change of `size` (2 or 4) bytes;
    /// `flags` are the skb helper's (`PSEUDO`, `UDP`).
    fn l4_csum_replace(&mut self, off: usize, from: u32, to: u32, size: u32, flags: u64) -> Result<(), ()>;
    /// Fixes the IPv4 header checksum at `off` by `diff`, a ones'-complement
    /// sum of changes ([`csum_diff`]): several fields in one update.
    fn l3_csum_diff(&mut self, off: usize, diff: u32) -> Result<(), ()>;
    /// Fixes the L4 checksum at `off` by `diff` ([`csum_diff`]); `flags` as
    /// for [`Packet::l4_csum_replace`]: the changes of one update are either
    /// all pseudo-header fields or none.
    fn l4_csum_diff(&mut self, off: usize, diff: u32, flags: u64) -> Result<(), ()>;
    /// Whether [`Packet::set_tunnel`] can work on this hook.
    const TUNNELS: bool;
    /// Gives the packet the VXLAN metadata it leaves a collect-metadata
    /// device with: the remote node's underlay address and the VNI. Only
    /// an skb carries tunnel metadata: the XDP build refuses.
    fn set_tunnel(&mut self, remote: [u8; 4], vni: u32) -> Result<(), ()>;
    /// The VNI a packet that arrived through a collect-metadata device
    /// carried (`None`: no tunnel metadata, or the XDP build).
    fn tunnel_vni(&self) -> Option<u32>;
    /// Cuts the packet to `len` bytes (never grows it): TC with
    /// `bpf_skb_change_tail`, XDP with `bpf_xdp_adjust_tail`. Every pointer
    /// into the packet is stale afterwards: `data()`/`data_end()` again.
    fn truncate(&mut self, len: u32) -> Result<(), ()>;
}

/// The ones'-complement change of a checksum when the 32-bit value `from`
/// becomes `to` (both as loaded from the packet; 16-bit values zero-extended),
/// unfolded: the sum of up to four stays well inside a u32.
#[inline(always)]
pub fn csum_diff(from: u32, to: u32) -> u32 {
    (!from >> 16) + (!from & 0xffff) + (to >> 16) + (to & 0xffff)
}

/// Folds a sum of [`csum_diff`]s to 16 bits.
#[inline(always)]
pub fn csum_fold(mut sum: u32) -> u32 {
    sum = (sum & 0xffff) + (sum >> 16);
    (sum & 0xffff) + (sum >> 16)
}

/// The changed field is part of the L4 pseudo-header (an address).
pub const PSEUDO: u64 = BPF_F_PSEUDO_HDR as u64;
/// UDP: a zero checksum means "none" and must stay zero.
pub const UDP: u64 = BPF_F_MARK_MANGLED_0 as u64;

/// Bounds-checked pointer to a `T` at `off`.
#[inline(always)]
pub fn ptr_at<P: Packet, T>(p: &P, off: usize) -> Option<*const T> {
    let start = p.data();
    if start + off + core::mem::size_of::<T>() > p.data_end() {
        return None;
    }
    Some((start + off) as *const T)
}

/// Reads a `T` at `off`, bounds-checked.
#[inline(always)]
pub fn read<P: Packet, T: Copy>(p: &P, off: usize) -> Option<T> {
    // SAFETY: ptr_at checked that the whole `T` lies inside the packet;
    // packet memory has no alignment guarantee, hence read_unaligned.
    ptr_at::<P, T>(p, off).map(|ptr| unsafe { core::ptr::read_unaligned(ptr) })
}

/// [`Packet::ctx`], [`Packet::data`] and [`Packet::data_end`] of a packet
/// type holding `ctx: &Ctx`, the same for both program types.
macro_rules! ctx_accessors {
    ($ctx:ty) => {
        type Ctx = $ctx;
        #[inline(always)]
        fn ctx(&self) -> &$ctx {
            self.ctx
        }
        #[inline(always)]
        fn data(&self) -> usize {
            self.ctx.data()
        }
        #[inline(always)]
        fn data_end(&self) -> usize {
            self.ctx.data_end()
        }
    };
}

pub struct TcPacket<'a> {
    ctx: &'a TcContext,
}

impl<'a> TcPacket<'a> {
    pub fn new(ctx: &'a TcContext) -> Self {
        TcPacket { ctx }
    }
}

impl Packet for TcPacket<'_> {
    ctx_accessors!(TcContext);
    const TUNNELS: bool = true;
    #[inline(always)]
    fn slow_path(&self, index: u32) {
        // SAFETY: the helper checks the index and the array's program type.
        unsafe { crate::maps::SLOW_TC.tail_call(self.ctx, index) }
    }
    #[inline(always)]
    fn len(&self) -> u32 {
        self.ctx.len()
    }
    #[inline(always)]
    fn ingress_ifindex(&self) -> u32 {
        // SAFETY: reading a context field the verifier allows for tc programs.
        unsafe { (*self.ctx.skb.skb).ifindex }
    }
    #[inline(always)]
    fn pull(&mut self, n: u32) {
        let len = self.len();
        let want = if n < len { n } else { len };
        if ((self.data_end() - self.data()) as u32) < want {
            // SAFETY: helper call on our own skb.
            unsafe { bpf_skb_pull_data(self.ctx.skb.skb as *mut _, want) };
        }
    }
    #[inline(always)]
    fn store_2(&mut self, off: usize, v: [u8; 2]) -> Result<(), ()> {
        // SAFETY: the helper bounds-checks against the skb.
        let rc = unsafe { bpf_skb_store_bytes(self.ctx.skb.skb as *mut _, off as u32, v.as_ptr() as *const _, 2, 0) };
        if rc == 0 { Ok(()) } else { Err(()) }
    }
    #[inline(always)]
    fn store_4(&mut self, off: usize, v: [u8; 4]) -> Result<(), ()> {
        // SAFETY: the helper bounds-checks against the skb.
        let rc = unsafe { bpf_skb_store_bytes(self.ctx.skb.skb as *mut _, off as u32, v.as_ptr() as *const _, 4, 0) };
        if rc == 0 { Ok(()) } else { Err(()) }
    }
    #[inline(always)]
    fn store_8(&mut self, off: usize, v: u64) -> Result<(), ()> {
        // SAFETY: the helper bounds-checks against the skb.
        let rc = unsafe {
            bpf_skb_store_bytes(self.ctx.skb.skb as *mut _, off as u32, &v as *const u64 as *const _, 8, 0)
        };
        if rc == 0 { Ok(()) } else { Err(()) }
    }
    #[inline(always)]
    fn store_eth(&mut self, eth: &[u8; 12]) -> Result<(), ()> {
        // SAFETY: the helper bounds-checks against the skb; `eth` points into a map value.
        let rc = unsafe { bpf_skb_store_bytes(self.ctx.skb.skb as *mut _, 0, eth.as_ptr() as *const _, 12, 0) };
        if rc == 0 { Ok(()) } else { Err(()) }
    }
    #[inline(always)]
    fn l3_csum_replace(&mut self, off: usize, from: u32, to: u32) -> Result<(), ()> {
        // SAFETY: helper call on our own skb.
        let rc = unsafe { bpf_l3_csum_replace(self.ctx.skb.skb as *mut _, off as u32, from as u64, to as u64, 4) };
        if rc == 0 { Ok(()) } else { Err(()) }
    }
    #[inline(always)]
    fn l4_csum_replace(&mut self, off: usize, from: u32, to: u32, size: u32, flags: u64) -> Result<(), ()> {
        // SAFETY: helper call on our own skb.
        let rc = unsafe {
            bpf_l4_csum_replace(self.ctx.skb.skb as *mut _, off as u32, from as u64, to as u64, flags | size as u64)
        };
        if rc == 0 { Ok(()) } else { Err(()) }
    }
    #[inline(always)]
    fn l3_csum_diff(&mut self, off: usize, diff: u32) -> Result<(), ()> {
        // Size 0: `to` is a checksum difference (`from` must be 0).
        // SAFETY: helper call on our own skb.
        let rc = unsafe { bpf_l3_csum_replace(self.ctx.skb.skb as *mut _, off as u32, 0, diff as u64, 0) };
        if rc == 0 { Ok(()) } else { Err(()) }
    }
    #[inline(always)]
    fn l4_csum_diff(&mut self, off: usize, diff: u32, flags: u64) -> Result<(), ()> {
        // Size 0: `to` is a checksum difference (`from` must be 0).
        // SAFETY: helper call on our own skb.
        let rc = unsafe { bpf_l4_csum_replace(self.ctx.skb.skb as *mut _, off as u32, 0, diff as u64, flags) };
        if rc == 0 { Ok(()) } else { Err(()) }
    }
    #[inline(always)]
    fn truncate(&mut self, len: u32) -> Result<(), ()> {
        // SAFETY: plain helper call on the program's own skb.
        let rc = unsafe { bpf_skb_change_tail(self.ctx.skb.skb as *mut _, len, 0) };
        if rc == 0 { Ok(()) } else { Err(()) }
    }

    #[inline(always)]
    fn set_tunnel(&mut self, remote: [u8; 4], vni: u32) -> Result<(), ()> {
        // The helper takes both in host order (it converts them itself);
        // TTL 64 (IPDEFTTL, as Cilium sets it): the key's TTL is the outer
        // header's.
        let mut key = MaybeUninit::<TunnelKey>::uninit();
        TunnelKey::fill(&mut key, vni, u32::from_be_bytes(remote), 64);
        // SAFETY: helper call on our own skb with a key on the stack.
        let rc = unsafe {
            bpf_skb_set_tunnel_key(self.ctx.skb.skb as *mut _, key.as_mut_ptr() as *mut bpf_tunnel_key, TunnelKey::SIZE, 0)
        };
        if rc == 0 { Ok(()) } else { Err(()) }
    }

    #[inline(always)]
    fn tunnel_vni(&self) -> Option<u32> {
        // The helper writes the whole key (it takes uninitialised memory).
        let mut key = MaybeUninit::<TunnelKey>::uninit();
        // SAFETY: helper call on our own skb; it fails without metadata.
        let rc = unsafe {
            bpf_skb_get_tunnel_key(self.ctx.skb.skb as *mut _, key.as_mut_ptr() as *mut bpf_tunnel_key, TunnelKey::SIZE, 0)
        };
        // SAFETY: on success the helper filled the key.
        if rc == 0 { Some(unsafe { key.assume_init() }.id) } else { None }
    }
}

/// `struct bpf_tunnel_key` up to `tunnel_label`: the IPv4 layout the
/// tunnel-key helpers accept besides the whole struct (the kernel's
/// "deprecated structure layouts" in `bpf_skb_set_tunnel_key`). Scalars
/// only, each written: a zeroed byte array would compile to a `memset`
/// call the BPF target cannot link.
#[repr(C)]
struct TunnelKey {
    id: u32,
    remote_ipv4: u32,
    remote_ipv6_1: u32,
    remote_ipv6_2: u32,
    remote_ipv6_3: u32,
    tos: u8,
    ttl: u8,
    ext: u16,
}

impl TunnelKey {
    const SIZE: u32 = core::mem::size_of::<TunnelKey>() as u32;

    /// A key with every field written, each with a volatile store: LLVM
    /// would merge the zero fields into a `memset` call.
    #[inline(always)]
    fn fill(key: &mut MaybeUninit<TunnelKey>, id: u32, remote_ipv4: u32, ttl: u8) {
        let k = key.as_mut_ptr();
        // SAFETY: field pointers into our own stack value.
        unsafe {
            write_volatile(addr_of_mut!((*k).id), id);
            write_volatile(addr_of_mut!((*k).remote_ipv4), remote_ipv4);
            write_volatile(addr_of_mut!((*k).remote_ipv6_1), 0);
            write_volatile(addr_of_mut!((*k).remote_ipv6_2), 0);
            write_volatile(addr_of_mut!((*k).remote_ipv6_3), 0);
            write_volatile(addr_of_mut!((*k).tos), 0);
            write_volatile(addr_of_mut!((*k).ttl), ttl);
            write_volatile(addr_of_mut!((*k).ext), 0);
        }
    }
}

pub struct XdpPacket<'a> {
    ctx: &'a XdpContext,
}

impl<'a> XdpPacket<'a> {
    pub fn new(ctx: &'a XdpContext) -> Self {
        XdpPacket { ctx }
    }

    #[inline(always)]
    fn write<T>(&mut self, off: usize, v: T) -> Result<(), ()> {
        let ptr = ptr_at::<Self, T>(self, off).ok_or(())? as *mut T;
        // SAFETY: bounds-checked above; XDP packet memory is writable.
        unsafe { core::ptr::write_unaligned(ptr, v) };
        Ok(())
    }
}

/// RFC 1624 incremental update of a 16-bit one's-complement checksum for a
/// change of the 32-bit value `from` to `to` (both as loaded from the packet).
#[inline(always)]
pub fn csum_replace(check: u16, from: u32, to: u32) -> u16 {
    csum_apply(check, csum_diff(from, to))
}

/// The checksum `check` after changes summing to `diff` ([`csum_diff`]).
#[inline(always)]
pub fn csum_apply(check: u16, diff: u32) -> u16 {
    !(csum_fold((!check) as u32 + diff) as u16)
}

impl Packet for XdpPacket<'_> {
    ctx_accessors!(XdpContext);
    const TUNNELS: bool = false;
    /// An XDP frame has no metadata to carry a tunnel key in: a lab across
    /// nodes runs the TC hook (`check` refuses `hook = "xdp"` there).
    #[inline(always)]
    fn set_tunnel(&mut self, _remote: [u8; 4], _vni: u32) -> Result<(), ()> {
        Err(())
    }
    #[inline(always)]
    fn tunnel_vni(&self) -> Option<u32> {
        None
    }
    #[inline(always)]
    fn slow_path(&self, index: u32) {
        // SAFETY: as for TC.
        unsafe { crate::maps::SLOW_XDP.tail_call(self.ctx, index) }
    }
    #[inline(always)]
    fn len(&self) -> u32 {
        (self.ctx.data_end() - self.ctx.data()) as u32
    }
    #[inline(always)]
    fn ingress_ifindex(&self) -> u32 {
        self.ctx.ingress_ifindex() as u32
    }
    #[inline(always)]
    fn pull(&mut self, _n: u32) {}
    #[inline(always)]
    fn store_2(&mut self, off: usize, v: [u8; 2]) -> Result<(), ()> {
        self.write(off, v)
    }
    #[inline(always)]
    fn store_4(&mut self, off: usize, v: [u8; 4]) -> Result<(), ()> {
        self.write(off, v)
    }
    #[inline(always)]
    fn store_8(&mut self, off: usize, v: u64) -> Result<(), ()> {
        self.write(off, v)
    }
    #[inline(always)]
    fn store_eth(&mut self, eth: &[u8; 12]) -> Result<(), ()> {
        // Two explicit loads: copying the array would compile to a memcpy call.
        let p = eth.as_ptr();
        // SAFETY: `eth` is 12 bytes; unaligned reads of 8 and 4 bytes inside it.
        let (a, b) = unsafe {
            (core::ptr::read_unaligned(p as *const u64), core::ptr::read_unaligned(p.add(8) as *const u32))
        };
        self.write(0, a)?;
        self.write(8, b)
    }
    #[inline(always)]
    fn l3_csum_replace(&mut self, off: usize, from: u32, to: u32) -> Result<(), ()> {
        let old: u16 = read(self, off).ok_or(())?;
        self.write(off, csum_replace(old, from, to))
    }
    #[inline(always)]
    fn l4_csum_replace(&mut self, off: usize, from: u32, to: u32, _size: u32, flags: u64) -> Result<(), ()> {
        // XDP frames carry full checksums, so pseudo-header fields are
        // ordinary summands here; `size` 2 values arrive zero-extended.
        let old: u16 = read(self, off).ok_or(())?;
        if flags & UDP != 0 && old == 0 {
            return Ok(());
        }
        let mut new = csum_replace(old, from, to);
        if flags & UDP != 0 && new == 0 {
            new = 0xffff;
        }
        self.write(off, new)
    }
    #[inline(always)]
    fn l3_csum_diff(&mut self, off: usize, diff: u32) -> Result<(), ()> {
        let old: u16 = read(self, off).ok_or(())?;
        self.write(off, csum_apply(old, diff))
    }
    #[inline(always)]
    fn l4_csum_diff(&mut self, off: usize, diff: u32, flags: u64) -> Result<(), ()> {
        let old: u16 = read(self, off).ok_or(())?;
        if flags & UDP != 0 && old == 0 {
            return Ok(());
        }
        let mut new = csum_apply(old, diff);
        if flags & UDP != 0 && new == 0 {
            new = 0xffff;
        }
        self.write(off, new)
    }
    #[inline(always)]
    fn truncate(&mut self, len: u32) -> Result<(), ()> {
        let cur = self.len();
        if len > cur {
            return Err(());
        }
        // SAFETY: plain helper call on the program's own frame.
        let rc = unsafe { bpf_xdp_adjust_tail(self.ctx.ctx as *mut _, len as i32 - cur as i32) };
        if rc == 0 { Ok(()) } else { Err(()) }
    }
}
