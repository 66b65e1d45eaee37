//! Stage `rewrite`: apply a flow entry's action to the packet: NAT of
//! addresses and ports with incremental checksum updates, then the MACs.

use dataplane_common::{DropReason, FlowEntry, FLOW_F_DNAT, FLOW_F_SNAT, PROTO_ICMP, PROTO_TCP, PROTO_UDP};

use crate::{
    packet::{csum_diff, Packet, PSEUDO, UDP},
    parse::{Headers, IP_CSUM_OFF, IP_DST_OFF, IP_SRC_OFF},
};

#[inline(always)]
pub fn apply<P: Packet>(p: &mut P, h: &Headers, e: &FlowEntry) -> Result<(), DropReason> {
    if e.flags & (FLOW_F_SNAT | FLOW_F_DNAT) != 0 {
        nat(p, h, e).map_err(|_| DropReason::RewriteFailed)?;
    }
    p.store_eth(&e.eth).map_err(|_| DropReason::RewriteFailed)
}

#[inline(always)]
fn nat<P: Packet>(p: &mut P, h: &Headers, e: &FlowEntry) -> Result<(), ()> {
    if h.proto == PROTO_ICMP {
        return nat_icmp(p, h, e);
    }
    let csum = h.l4_csum_off();
    let udp = if h.proto == PROTO_UDP { UDP } else { 0 };
    let snat = e.flags & FLOW_F_SNAT != 0;
    let dnat = e.flags & FLOW_F_DNAT != 0;
    // Each group of adjacent fields (the two addresses, the two ports) is
    // written in one store with one checksum update per checksum: in TC
    // every update and store is a helper call, and a PrivateLink packet
    // needs 5 instead of 10. Addresses are pseudo-header fields of the L4
    // checksum and ports are not (they differ for CHECKSUM_PARTIAL skbs),
    // so they stay two L4 updates. Only fields that change are summed:
    // the result is the per-field updates' to the bit.
    let src = if snat { e.new_src } else { h.src };
    let dst = if dnat { e.new_dst } else { h.dst };
    let mut d = 0;
    if src != h.src {
        d += csum_diff(u32::from_ne_bytes(h.src), u32::from_ne_bytes(src));
    }
    if dst != h.dst {
        d += csum_diff(u32::from_ne_bytes(h.dst), u32::from_ne_bytes(dst));
    }
    // Another protocol (GRE, ESP, SCTP): nothing past the IPv4 header is
    // owned (none of their checksums covers the addresses), and its flow
    // has no ports.
    let l4 = h.proto == PROTO_TCP || h.proto == PROTO_UDP;
    if d != 0 {
        if l4 {
            p.l4_csum_diff(csum, d, PSEUDO | udp)?;
        }
        p.l3_csum_diff(IP_CSUM_OFF, d)?;
        let addrs = u32::from_ne_bytes(src) as u64 | (u32::from_ne_bytes(dst) as u64) << 32;
        p.store_8(IP_SRC_OFF, addrs)?;
    }
    let sport = if snat { e.new_sport } else { h.sport };
    let dport = if dnat { e.new_dport } else { h.dport };
    let mut d = 0;
    if sport != h.sport {
        d += csum_diff(u16::from_ne_bytes(h.sport) as u32, u16::from_ne_bytes(sport) as u32);
    }
    if dport != h.dport {
        d += csum_diff(u16::from_ne_bytes(h.dport) as u32, u16::from_ne_bytes(dport) as u32);
    }
    if d != 0 && l4 {
        p.l4_csum_diff(csum, d, udp)?;
        let ports = [sport[0], sport[1], dport[0], dport[1]];
        p.store_4(h.l4_off, ports)?;
    }
    Ok(())
}

/// ICMP echo: the checksum covers no pseudo-header (an address changes
/// only the IPv4 checksum), and the identifier plays both ports.
#[inline(always)]
fn nat_icmp<P: Packet>(p: &mut P, h: &Headers, e: &FlowEntry) -> Result<(), ()> {
    if e.flags & FLOW_F_SNAT != 0 && e.new_src != h.src {
        icmp_addr(p, IP_SRC_OFF, h.src, e.new_src)?;
    }
    if e.flags & FLOW_F_DNAT != 0 && e.new_dst != h.dst {
        icmp_addr(p, IP_DST_OFF, h.dst, e.new_dst)?;
    }
    // Echo has one identifier; the NAT keeps new_sport == new_dport.
    if e.new_sport != h.sport {
        let (from, to) = (u16::from_ne_bytes(h.sport) as u32, u16::from_ne_bytes(e.new_sport) as u32);
        p.l4_csum_replace(h.l4_csum_off(), from, to, 2, 0)?;
        p.store_2(h.l4_off + 4, e.new_sport)?;
    }
    Ok(())
}

#[inline(always)]
fn icmp_addr<P: Packet>(p: &mut P, off: usize, old: [u8; 4], new: [u8; 4]) -> Result<(), ()> {
    p.l3_csum_replace(IP_CSUM_OFF, u32::from_ne_bytes(old), u32::from_ne_bytes(new))?;
    p.store_4(off, new)
}
