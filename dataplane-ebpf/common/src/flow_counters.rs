//! Per-flow counters, off the flow entry: each direction of a flow has a
//! [`FlowCounters`] record per CPU in `HL_FLOW_COUNTS` (a per-CPU hash
//! keyed like `HL_FLOWS`), which only that CPU writes, with plain stores.
//! The agent sums the CPUs ([`FlowTotals::of`]).
//!
//! Flow logs' `tcp-flags` is the OR of the flags of the packets *in a
//! window*. The kernel knows the window from `HL_FLOW_WINDOW` (the flow
//! log writes the next window's number when it closes one) and keeps two
//! slots of flags by window parity, so right after a switch the closed
//! window's flags are still there on every CPU; with them the packet and
//! byte totals as they stood when the CPU entered its current window, so
//! the closed window's counts are exact too.

/// One direction of one flow, as one CPU counted it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowCounters {
    /// Packets and IPv4 bytes (frame length minus the 14-byte Ethernet
    /// header) this CPU forwarded in this direction.
    pub packets: u64,
    pub bytes: u64,
    /// CLOCK_MONOTONIC (coarse) of this CPU's last packet (the creating
    /// CPU: the flow's creation).
    pub last_seen_ns: u64,
    /// `packets` and `bytes` as they were when this CPU counted its first
    /// packet in `window`: the totals at the end of the window before.
    pub base_packets: u64,
    pub base_bytes: u64,
    /// The `HL_FLOW_WINDOW` value of this CPU's last packet.
    pub window: u32,
    /// The TCP flags (`aws_tcp_flags`) of this CPU's packets in window `w`
    /// at `tcp_flags[w & 1]`, for `w` = `window` and `window - 1`.
    pub tcp_flags: [u8; 2],
    pub _pad: u16,
}

impl FlowCounters {
    /// A record of its first packet: `len` IPv4 bytes with `flags`
    /// (`aws_tcp_flags`) at `now` in window `window`; a reply direction's
    /// (no packet yet) with `len` 0.
    #[inline(always)]
    pub const fn first(now: u64, window: u32, packets: u64, len: u64, flags: u8) -> FlowCounters {
        let mut tcp_flags = [0u8; 2];
        tcp_flags[(window & 1) as usize] = flags;
        FlowCounters {
            packets,
            bytes: len,
            last_seen_ns: now,
            base_packets: 0,
            base_bytes: 0,
            window,
            tcp_flags,
            _pad: 0,
        }
    }

    /// Counts one packet of `len` IPv4 bytes with `flags` at `now` in
    /// window `window` (what the kernel does per packet, here so both
    /// sides share it: the reference model and the unit tests use it).
    /// Branch-free, plain stores: the kernel's verifier budget counts every
    /// branch, and the record is this CPU's alone.
    #[inline(always)]
    pub fn count(&mut self, now: u64, window: u32, len: u64, flags: u8) {
        // This CPU's first packet in `window`: the totals so far become the
        // window's base, and the slot the window takes is cleared (both, if
        // a whole window went by without a packet).
        let new = (self.window != window) as u64;
        let skipped = (window != self.window.wrapping_add(1)) as u8;
        let keep = 1 - new as u8;
        self.base_packets += new * (self.packets - self.base_packets);
        self.base_bytes += new * (self.bytes - self.base_bytes);
        let (cur, other) = ((window & 1) as usize, (!window & 1) as usize);
        self.tcp_flags[other] *= 1 - (1 - keep) * skipped;
        self.tcp_flags[cur] = (self.tcp_flags[cur] * keep) | flags;
        self.window = window;
        self.packets += 1;
        self.bytes += len;
        self.last_seen_ns = now;
    }
}

/// One direction of one flow summed over CPUs, as of the end of one window
/// ([`FlowTotals::of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowTotals {
    pub packets: u64,
    pub bytes: u64,
    /// The latest of the CPUs' last packets.
    pub last_seen_ns: u64,
    /// The OR of the flags of the window's packets on every CPU.
    pub tcp_flags: u8,
}

impl FlowTotals {
    /// The per-CPU records `cpus` summed as of the end of window `w` (the
    /// current window: everything so far; the window just closed, read
    /// before the next one closes: its exact counts and flags).
    /// [`FlowTotals::now`] for the totals whatever the window.
    pub fn of(cpus: &[FlowCounters], w: u32) -> FlowTotals {
        let mut t = FlowTotals::default();
        for c in cpus {
            let later = c.window > w;
            let (p, b) = if later {
                (c.base_packets, c.base_bytes)
            } else {
                (c.packets, c.bytes)
            };
            t.packets += p;
            t.bytes += b;
            t.last_seen_ns = t.last_seen_ns.max(c.last_seen_ns);
            if c.window == w || c.window == w.wrapping_add(1) {
                t.tcp_flags |= c.tcp_flags[(w & 1) as usize];
            }
        }
        t
    }

    /// Every packet counted so far (flags: of no window, 0).
    pub fn now(cpus: &[FlowCounters]) -> FlowTotals {
        let mut t = FlowTotals::default();
        for c in cpus {
            t.packets += c.packets;
            t.bytes += c.bytes;
            t.last_seen_ns = t.last_seen_ns.max(c.last_seen_ns);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_48_bytes_and_its_flags_sit_after_the_window() {
        use core::mem::{offset_of, size_of};
        assert_eq!(size_of::<FlowCounters>(), 48);
        assert_eq!(offset_of!(FlowCounters, window), 40);
        assert_eq!(offset_of!(FlowCounters, tcp_flags), 44);
    }

    #[test]
    fn a_window_gets_the_flags_of_its_own_packets_on_every_cpu() {
        // CPU 0 creates the flow with a SYN in window 1; CPU 1 sends an ACK
        // (no flag) in window 1 and a FIN in window 2; CPU 0 a SYN again in 2.
        let mut c0 = FlowCounters::first(10, 1, 1, 40, 2);
        let mut c1 = FlowCounters::default();
        c1.count(11, 1, 52, 0);
        // Window 1 read while it is current.
        assert_eq!(
            FlowTotals::of(&[c0, c1], 1),
            FlowTotals {
                packets: 2,
                bytes: 92,
                last_seen_ns: 11,
                tcp_flags: 2
            }
        );
        c1.count(20, 2, 40, 1);
        c0.count(21, 2, 40, 2);
        c0.count(22, 2, 40, 0);
        // Window 1, read after the switch: its own counts and flags only.
        assert_eq!(
            FlowTotals::of(&[c0, c1], 1),
            FlowTotals {
                packets: 2,
                bytes: 92,
                last_seen_ns: 22,
                tcp_flags: 2
            }
        );
        assert_eq!(
            FlowTotals::of(&[c0, c1], 2),
            FlowTotals {
                packets: 5,
                bytes: 212,
                last_seen_ns: 22,
                tcp_flags: 3
            }
        );
        // A CPU idle for a whole window forgets both slots; one back after
        // a window with no packet keeps the other slot.
        c1.count(40, 4, 40, 4);
        assert_eq!(c1.tcp_flags, [4, 0]);
        assert_eq!(FlowTotals::of(&[c0, c1], 4).tcp_flags, 4);
        assert_eq!(
            FlowTotals::of(&[c0, c1], 3),
            FlowTotals {
                packets: 5,
                bytes: 212,
                last_seen_ns: 40,
                tcp_flags: 0
            }
        );
        assert_eq!(FlowTotals::now(&[c0, c1]).packets, 6);
        c1.count(41, 5, 40, 1);
        assert_eq!(c1.tcp_flags, [4, 1]);
        assert_eq!((c1.base_packets, c1.base_bytes), (3, 132));
        c1.count(42, 5, 40, 2);
        assert_eq!((c1.tcp_flags, c1.base_packets, c1.packets), ([4, 3], 3, 5));
    }
}
