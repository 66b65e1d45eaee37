//! Stage `rewrite`: apply a flow entry's action to the packet: NAT of
//! addresses and ports with incremental checksum updates, then the MACs.

use dataplane_common::{DropReason, FlowEntry, FLOW_F_DNAT, FLOW_F_SNAT, PROTO_ICMP, PROTO_UDP};

use crate::{
    packet::{Packet, PSEUDO, UDP},
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
    let csum = h.l4_csum_off();
    let udp = if h.proto == PROTO_UDP { UDP } else { 0 };
    let icmp = h.proto == PROTO_ICMP;
    if e.flags & FLOW_F_SNAT != 0 && e.new_src != h.src {
        addr(p, csum, udp, icmp, IP_SRC_OFF, h.src, e.new_src)?;
    }
    if e.flags & FLOW_F_DNAT != 0 && e.new_dst != h.dst {
        addr(p, csum, udp, icmp, IP_DST_OFF, h.dst, e.new_dst)?;
    }
    if icmp {
        // Echo has one identifier; the NAT keeps new_sport == new_dport.
        if e.new_sport != h.sport {
            port(p, csum, 0, h.l4_off + 4, h.sport, e.new_sport)?;
        }
        return Ok(());
    }
    if e.flags & FLOW_F_SNAT != 0 && e.new_sport != h.sport {
        port(p, csum, udp, h.l4_off, h.sport, e.new_sport)?;
    }
    if e.flags & FLOW_F_DNAT != 0 && e.new_dport != h.dport {
        port(p, csum, udp, h.l4_off + 2, h.dport, e.new_dport)?;
    }
    Ok(())
}

#[inline(always)]
fn addr<P: Packet>(p: &mut P, csum: usize, udp: u64, icmp: bool, off: usize, old: [u8; 4], new: [u8; 4]) -> Result<(), ()> {
    let (from, to) = (u32::from_ne_bytes(old), u32::from_ne_bytes(new));
    // ICMP has no pseudo-header: its checksum does not cover addresses.
    if !icmp {
        p.l4_csum_replace(csum, from, to, 4, PSEUDO | udp)?;
    }
    p.l3_csum_replace(IP_CSUM_OFF, from, to)?;
    p.store_4(off, new)
}

#[inline(always)]
fn port<P: Packet>(p: &mut P, csum: usize, udp: u64, off: usize, old: [u8; 2], new: [u8; 2]) -> Result<(), ()> {
    let (from, to) = (u16::from_ne_bytes(old) as u32, u16::from_ne_bytes(new) as u32);
    p.l4_csum_replace(csum, from, to, 2, udp)?;
    p.store_2(off, new)
}
