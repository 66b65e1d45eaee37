//! Fragmented datagrams for rule 14 (`reference/fragment.rs`): UDP through
//! a NAT gateway both ways, first fragments of live flows, fragments the
//! fabric drops (TCP, ICMP, inside a VPC, a later fragment of no datagram).
//! The first fragment is returned; the rest wait in `pending` and are sent
//! next, in order, sometimes one of them left out.

use super::{frames, PacketGen, Port};

impl PacketGen<'_> {
    /// A fragmented datagram's first packet sent (the others queued), or
    /// `None` when the topology offers nothing to fragment.
    pub(super) fn fragmented(&mut self) -> Option<(Port, Vec<u8>)> {
        let (port, whole) = match self.rng.weighted(&[6, 4, 2, 2, 1]) {
            0 => self.through_nat_gateway_udp()?,
            1 => {
                // A reply from the internet host to a datagram a NAT
                // gateway forwarded.
                let n = self.topo.enis.len();
                let out: Vec<_> = self
                    .delivered
                    .iter()
                    .filter(|d| d.to >= n && d.p.proto == 17)
                    .cloned()
                    .collect();
                if out.is_empty() {
                    return None;
                }
                let d = self.rng.pick(&out).clone();
                self.reply_to(d)
            }
            // Another datagram of an accepted flow, or a new flow of any
            // protocol (TCP's and ICMP's fragments are dropped).
            2 => self.continuation()?,
            3 => self.new_flow(),
            _ => {
                // A later fragment of a datagram no first fragment announced.
                let (port, whole) = self.through_nat_gateway_udp()?;
                let mut f = frames::fragments(&whole, &[8]);
                return Some((port, f.pop()?));
            }
        };
        let ihl = (whole[14] & 0x0f) as usize * 4;
        let len = u16::from_be_bytes([whole[16], whole[17]]) as usize - ihl;
        // One or two cuts, multiples of 8 inside the payload.
        let blocks = len.div_ceil(8).max(1);
        let mut cuts: Vec<usize> = (0..self.rng.range(1, 3))
            .map(|_| 8 * self.rng.range(1, blocks as u64) as usize)
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut frags = frames::fragments(&whole, &cuts).into_iter();
        let first = frags.next()?;
        let rest: Vec<Vec<u8>> = frags.collect();
        let skip = if rest.len() > 1 && self.rng.chance(10) {
            Some(self.rng.below(rest.len()))
        } else {
            None
        };
        for (i, f) in rest.into_iter().enumerate() {
            if Some(i) != skip {
                self.pending.push_back((port, f));
            }
        }
        Some((port, first))
    }

    /// A UDP datagram from an ENI of a VPC with a NAT gateway to an internet
    /// host, with a payload long enough to cut.
    fn through_nat_gateway_udp(&mut self) -> Option<(Port, Vec<u8>)> {
        let (e, dst) = self.behind_nat_gateway(false)?;
        let sport = self.ephemeral();
        let dport = *self.rng.pick(&[53, 53, 123, 4789]);
        Some(self.frame(e, (self.eni_ip(e), dst), 17, (sport, dport), 0, 0))
    }
}
