//! Part 3's second traffic generator, for kernels that refuse BPF_PROG_RUN
//! with live frames ([`super::veth::Generator::AfPacket`]): an AF_PACKET
//! socket bound to the sending host's eth0 inside its namespace transmits, in
//! `sendmmsg` batches, the frames `hlb_gen` writes. They are built here the
//! way `hlb_gen` builds them: the whole template (every header field), the
//! source port `sport_base + (seq & flows_mask)` for the frame's sequence
//! number, and the template's UDP checksum (valid for source port 0) adjusted
//! for that port. Frames sent on the host's eth0 arrive on its fabric peer,
//! where the program under test runs, exactly like `hlb_gen`'s XDP_TX frames.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::atomic::{AtomicU64, Ordering},
};

use anyhow::{bail, Context, Result};
use hyperlab_bench_common::FRAME_LEN;

/// Frames per `sendmmsg` call.
pub const BATCH: usize = 256;

const L4: usize = 14 + 20;
const UDP_CSUM: usize = L4 + 6;

/// `hlb_gen`'s checksum fold: carries added back, complemented.
fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    !(acc as u16)
}

/// The frame `hlb_gen` writes for flow index `idx`
/// ([`hyperlab_bench_common::gen_index`] of its per-CPU counter): `template`
/// with source port `sport_base + idx` (16 bits, wrapping), destination port
/// the template's plus `idx >> 16`, and the UDP checksum adjusted for both,
/// with `hlb_gen`'s arithmetic (native-order words of network-order bytes).
pub fn frame(template: &[u8; FRAME_LEN], sport_base: u32, idx: u32) -> [u8; FRAME_LEN] {
    let sport = (sport_base.wrapping_add(idx) as u16).to_be();
    let dport0 = u16::from_ne_bytes([template[L4 + 2], template[L4 + 3]]);
    let dport = u16::from_be(dport0)
        .wrapping_add((idx >> 16) as u16)
        .to_be();
    let old = u16::from_ne_bytes([template[UDP_CSUM], template[UDP_CSUM + 1]]);
    let c = fold((!old) as u64 + sport as u64 + (!dport0) as u64 + dport as u64);
    let c = if c == 0 { 0xffff } else { c };
    let mut f = *template;
    f[L4..L4 + 2].copy_from_slice(&sport.to_ne_bytes());
    f[L4 + 2..L4 + 4].copy_from_slice(&dport.to_ne_bytes());
    f[UDP_CSUM..UDP_CSUM + 2].copy_from_slice(&c.to_ne_bytes());
    f
}

/// Every frame of one scenario, one per flow: the frame for sequence number
/// `seq` is `get(seq)`.
pub struct Frames {
    frames: Vec<[u8; FRAME_LEN]>,
    mask: u64,
}

impl Frames {
    /// `flows_mask + 1` frames (a power of two, like the generator's flows).
    pub fn new(template: &[u8], sport_base: u32, flows_mask: u32) -> Result<Frames> {
        Frames::with_offset(template, sport_base, flows_mask, 0)
    }

    /// As [`Frames::new`], flow indexes starting at `offset`: the flow set
    /// of a generator thread on CPU `cpu` is `offset = cpu * cpu_stride`.
    pub fn with_offset(
        template: &[u8],
        sport_base: u32,
        flows_mask: u32,
        offset: u32,
    ) -> Result<Frames> {
        let t: &[u8; FRAME_LEN] = template
            .try_into()
            .with_context(|| format!("template of {} bytes", template.len()))?;
        if !(flows_mask as u64 + 1).is_power_of_two() {
            bail!("flows mask {flows_mask:#x} is not a power of two minus one");
        }
        Ok(Frames {
            frames: (0..=flows_mask as u64)
                .map(|i| frame(t, sport_base, (i as u32).wrapping_add(offset)))
                .collect(),
            mask: flows_mask as u64,
        })
    }

    pub fn get(&self, seq: u64) -> &[u8; FRAME_LEN] {
        &self.frames[(seq & self.mask) as usize]
    }
}

/// A send-only AF_PACKET socket (SOCK_RAW, protocol 0: it receives nothing)
/// bound to one interface, with the qdisc bypassed.
pub struct Sender {
    fd: OwnedFd,
}

impl Sender {
    /// Opens the socket on `ifindex` of the calling thread's network namespace.
    pub fn open(ifindex: u32) -> Result<Sender> {
        // SAFETY: plain syscall; the descriptor is owned right away.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error()).context("socket(AF_PACKET, SOCK_RAW)");
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("binding the AF_PACKET socket to ifindex {ifindex}"));
        }
        let one: libc::c_int = 1;
        // SAFETY: an int option of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                &one as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error()).context("PACKET_QDISC_BYPASS");
        }
        Ok(Sender { fd })
    }

    /// Sends `repeat` frames in batches of [`BATCH`]. `generated` is the
    /// generator's counter, like `hlb_gen`'s: frame `n + 1` goes out when it
    /// reads `n`, and it grows by every frame handed to the kernel (also one
    /// the device dropped on the way out, ENOBUFS), batch by batch, so a
    /// monitor can follow the run.
    pub fn send(&self, frames: &Frames, generated: &AtomicU64, repeat: u64) -> Result<()> {
        let mut iov: Vec<libc::iovec> = Vec::with_capacity(BATCH);
        // SAFETY: all-zero is a valid mmsghdr (null pointers, zero lengths).
        let mut hdrs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
        let mut left = repeat;
        while left > 0 {
            let first = generated.load(Ordering::Relaxed) + 1;
            let n = left.min(BATCH as u64) as usize;
            iov.clear();
            iov.extend((0..n as u64).map(|k| {
                let f = frames.get(first + k);
                libc::iovec {
                    iov_base: f.as_ptr() as *mut libc::c_void,
                    iov_len: f.len(),
                }
            }));
            for (h, v) in hdrs.iter_mut().zip(iov.iter_mut()) {
                h.msg_hdr.msg_iov = v;
                h.msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: `n` headers, each pointing at one iovec over a frame
            // that outlives the call; the socket sends without a destination
            // address (it is bound).
            let rc = unsafe { libc::sendmmsg(self.fd.as_raw_fd(), hdrs.as_mut_ptr(), n as u32, 0) };
            let done = if rc < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => 0,
                    // The device dropped the first frame: generated, lost.
                    Some(libc::ENOBUFS) => 1,
                    _ => return Err(e).context("sendmmsg on the AF_PACKET socket"),
                }
            } else if rc == 0 {
                bail!("sendmmsg on the AF_PACKET socket sent nothing");
            } else {
                rc as u64
            };
            generated.fetch_add(done, Ordering::Release);
            left -= done;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use etherparse::PacketBuilder;
    use hyperlab_tests::csum;

    use super::*;

    const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
    const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

    /// The frame with source port `sport`, built from scratch by etherparse.
    fn reference(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> [u8; FRAME_LEN] {
        let payload = [0x68u8; FRAME_LEN - 14 - 20 - 8];
        let mut f = Vec::with_capacity(FRAME_LEN);
        PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
            .ipv4(src, dst, 64)
            .udp(sport, dport)
            .write(&mut f, &payload)
            .expect("frame");
        f.try_into().expect("64 bytes")
    }

    #[test]
    fn every_source_port_gives_etherparse_s_frame_byte_for_byte() {
        for (src, dst, dport) in [
            ([10, 0, 1, 10], [10, 0, 1, 21], 5353),
            ([10, 0, 1, 10], [10, 0, 1, 100], 53),
            ([10, 1, 1, 20], [10, 1, 1, 202], 53),
        ] {
            let template = reference(src, dst, 0, dport);
            // Every port, through a 65,536-flow mask from base 0: the
            // checksums that fold to 0 (sent as 0xffff) are among them.
            let mut folded_to_zero = 0;
            for seq in 0..=0xffffu64 {
                let f = frame(&template, 0, seq as u32);
                let want = reference(src, dst, seq as u16, dport);
                assert_eq!(f, want, "source port {seq}");
                csum::assert_valid(&f);
                folded_to_zero += (f[UDP_CSUM..UDP_CSUM + 2] == [0xff, 0xff]) as u32;
            }
            assert!(folded_to_zero > 0, "no port gave checksum 0xffff");
        }
    }

    #[test]
    fn source_ports_run_through_the_flows_from_the_base_and_wrap() {
        let template = reference([10, 0, 1, 10], [10, 0, 1, 21], 0, 5353);
        let frames = Frames::new(&template, 1024, 63).expect("frames");
        for seq in 0..300u64 {
            let f = frames.get(seq);
            let sport = u16::from_be_bytes([f[34], f[35]]);
            assert_eq!(sport, 1024 + (seq % 64) as u16, "seq {seq}");
            assert_eq!(
                *f,
                reference([10, 0, 1, 10], [10, 0, 1, 21], sport, 5353),
                "seq {seq}"
            );
        }
        // Wrapping past 65535, like the kernel generator's u16 port.
        let frames = Frames::new(&template, 65535, 3).expect("frames");
        let ports: Vec<u16> = (0..4)
            .map(|s| {
                let f = frames.get(s);
                u16::from_be_bytes([f[34], f[35]])
            })
            .collect();
        assert_eq!(ports, [65535, 0, 1, 2]);
        // Past 65,536 flows the destination port counts up too.
        let f = frame(&template, 1024, (3 << 16) + 7);
        assert_eq!(f, reference([10, 0, 1, 10], [10, 0, 1, 21], 1031, 5356));
        csum::assert_valid(&f);
        let frames = Frames::with_offset(&template, 1024, 1, 1 << 16).expect("frames");
        assert_eq!(
            *frames.get(1),
            reference([10, 0, 1, 10], [10, 0, 1, 21], 1025, 5354)
        );
        assert!(Frames::new(&template, 1024, 5).is_err());
        assert!(Frames::new(&template[..60], 1024, 0).is_err());
    }
}
