//! Stage `icmp_error`: ICMP errors (destination unreachable, fragmentation
//! needed included, time exceeded, parameter problem) that quote a packet
//! of a tracked flow go back to that packet's sender, translated back
//! through the flow's NAT (docs/DATAPLANE.md, "ICMP errors").
//!
//! The quoted packet is one the error's sender received, as the fabric
//! delivered it (translated). Its tuple reversed is the key of the entry
//! that carries packets back toward the quoted packet's sender: the reply
//! entry for a quoted request, the forward entry for a quoted reply. That
//! entry's action, applied to the quote the other way round, restores the
//! packet as its sender sent it:
//!
//! - outer destination: the entry's destination (the quoted sender);
//! - outer source: through a NAT (the entry rewrites sources: PrivateLink,
//!   VPC links) the address the receiver talked to, the endpoint ENI's or
//!   the integration's, whoever on the far side sent the error; else as is;
//! - quoted source, destination and ports: the entry's destination and
//!   source, ports likewise (ICMP echo: the identifier);
//! - checksums: the outer IPv4 header's, the quoted IPv4 header's, the
//!   quoted TCP/UDP checksum where Linux's NAT updates it (TCP when the
//!   quote holds the whole 20-byte header; UDP unless zero; echo always),
//!   and the ICMP checksum over all of it.
//!
//! The error then meets the network ACLs of the boundaries the entry
//! records (with its ICMP type and code) and the receiver's ingress
//! security groups (an internet host has none), and leaves with the
//! entry's MACs and port. The internet and NAT gateways' flows are entries
//! like the others: their errors go back the same way. Every offset
//! into the quote is masked to a bound the verifier can check.

use dataplane_common::{
    explain::{SG_CHECK_INGRESS, STAGE_ICMP_ERROR},
    in_generation, Counter, DropReason, EniKey, FlowEntry, FlowKey, PortInfo, ENI_KIND_INTERNET, FLOW_F_DNAT, FLOW_F_SNAT, FLOW_F_TUNNEL, PROTO_ICMP,
    PROTO_TCP, PROTO_UDP, SG_DIR_INGRESS,
};

use crate::{
    counters, explain,
    flow,
    forward::Verdict,
    maps::ENIS,
    nacl,
    packet::{csum_apply, csum_diff, ptr_at, Packet},
    parse::{Headers, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, IP_CSUM_OFF, IP_OFF, IP_SRC_OFF},
    sg,
    tunnel::Encap,
};

/// Bytes to make linear in TC: Ethernet, the longest outer IPv4 header, the
/// ICMP header, the longest quoted IPv4 header, a whole TCP header.
const PULL: u32 = (IP_OFF + 60 + 8 + 60 + 20) as u32;

/// What the quote holds, as read from the packet (network order).
struct Quote {
    /// Offsets of the quoted IPv4 header and of its L4 header.
    ip: usize,
    l4: usize,
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
    /// TCP/UDP ports; ICMP echo: the identifier in both; other: zero.
    sport: [u8; 2],
    dport: [u8; 2],
    /// Bytes of the quoted L4 header present (at most what was checked).
    l4_len: usize,
    /// The quote is an echo request: the flow's other direction, which the
    /// error travels, carries the replies (`FlowKey::icmp_reply`).
    echo_request: bool,
}

#[inline(always)]
pub fn deliver<P: Packet>(p: &mut P, port: &PortInfo, h: &Headers, active: u32, len: u64) -> Result<Verdict, DropReason> {
    explain::stage(STAGE_ICMP_ERROR);
    p.pull(PULL);
    let q = quote(p, h)?;
    // An error goes to the sender of the packet it quotes.
    if h.dst != q.src {
        return Err(DropReason::IcmpErrorNoFlow);
    }
    let key = FlowKey {
        vpc: port.vpc,
        src: q.dst,
        dst: q.src,
        sport: q.dport,
        dport: q.sport,
        proto: q.proto,
        icmp_reply: q.echo_request as u8,
        _pad1: 0,
    };
    let Some(e) = flow::lookup(&key) else {
        return Err(DropReason::IcmpErrorNoFlow);
    };
    // SAFETY: `e` points into a live map value; only read here.
    let er = unsafe { &*e };
    let snat = er.flags & FLOW_F_SNAT != 0;
    let dnat = er.flags & FLOW_F_DNAT != 0;
    let out_src = if snat { er.new_src } else { h.src };
    let out_dst = if dnat { er.new_dst } else { h.dst };
    // Stateless: the ACLs of every boundary the entry crosses, with the
    // error's type and code.
    nacl::tracked(active, e, h)?;
    // The receiver's ingress groups, on the error as it will arrive.
    let gen = port.generation as u32;
    // SAFETY: read-only map value.
    let Some(rx) = (unsafe { ENIS.get(&EniKey { vpc: in_generation(er.out_vpc, gen), ip: out_dst }) }) else {
        return Err(DropReason::IcmpErrorNoFlow);
    };
    // A host of the lab's internet has no security groups (as a packet the
    // gateways send it meets none): only a VPC receiver's rules decide. A
    // receiver on another node (the entry leads into the tunnel): its node
    // decides, as for any packet (labs across nodes).
    let tunnel = er.flags & FLOW_F_TUNNEL != 0;
    if !tunnel && rx.kind != ENI_KIND_INTERNET && !receiver_admits(rx.sg_set, out_src, h.icmp_type, h.icmp_code) {
        return Err(DropReason::IngressSgDeny);
    }
    explain::forwarded(er);
    rewrite(p, h, &q, er, out_src, out_dst).map_err(|_| DropReason::RewriteFailed)?;
    p.store_eth(&er.eth).map_err(|_| DropReason::RewriteFailed)?;
    counters::count(Counter::Forwarded);
    counters::count(Counter::IcmpErrorForwarded);
    if tunnel {
        // On to the node of the flow's other end (`tunnel::encap`); that
        // node counts the delivery.
        return Ok(Verdict::Tunnel(Encap {
            ifindex: er.out_ifindex,
            vpc: er.out_vpc,
            dst: er.new_dst,
            dport: er.new_dport,
            translated: snat,
            stateless: false,
        }));
    }
    counters::eni_rx(er.dst_eni, len);
    Ok(Verdict::Forward(er.out_ifindex))
}

/// Does security-group set `set` admit an ICMP error of `icmp_type` and
/// `code` from `peer`? The seam for ICMP type and code in security-group
/// rules (issue 16 part 2, branch `security2`): today an `icmp` (or `all`)
/// rule covers every type and code (its compiled range is 0-65535), and the
/// value looked up is `type << 8 | code`, as network-ACL entries match
/// ICMP, so rules compiled by type and code answer here unchanged.
#[inline(always)]
fn receiver_admits(set: u32, peer: [u8; 4], icmp_type: u8, code: u8) -> bool {
    sg::allows(SG_CHECK_INGRESS, set, SG_DIR_INGRESS, PROTO_ICMP, peer, u16::from_be_bytes([icmp_type, code]))
}

/// Reads and checks the quoted packet of the ICMP error `h`.
#[inline(always)]
fn quote<P: Packet>(p: &P, h: &Headers) -> Result<Quote, DropReason> {
    // The outer header ends at most 74 bytes in: the mask only tells the
    // verifier so.
    let icmp = h.l4_off & 0x7f;
    let ip = icmp + 8;
    let tot: [u8; 2] = crate::packet::read(p, IP_OFF + 2).ok_or(DropReason::IcmpErrorBadQuote)?;
    // Bytes of the quote inside the outer packet's total length.
    let avail = (u16::from_be_bytes(tot) as usize).wrapping_sub(ip - IP_OFF);
    let qh = ptr_at::<P, [u8; 20]>(p, ip).ok_or(DropReason::IcmpErrorBadQuote)?;
    let b = qh as *const u8;
    // SAFETY: inside the 20 bytes ptr_at checked.
    let (vihl, frags, proto) = unsafe { (*b, [*b.add(6), *b.add(7)], *b.add(9)) };
    // SAFETY: as above.
    let (src, dst) = unsafe { ([*b.add(12), *b.add(13), *b.add(14), *b.add(15)], [*b.add(16), *b.add(17), *b.add(18), *b.add(19)]) };
    let ihl = ((vihl & 0x0f) as usize) * 4;
    if vihl >> 4 != 4 || ihl < 20 || avail > 0xffff || avail < ihl {
        return Err(DropReason::IcmpErrorBadQuote);
    }
    // A later fragment carries no ports.
    if u16::from_be_bytes(frags) & 0x1fff != 0 {
        return Err(DropReason::IcmpErrorBadQuote);
    }
    let l4 = ip + ihl;
    let l4_len = avail - ihl;
    let mut q = Quote { ip, l4, proto, src, dst, sport: [0; 2], dport: [0; 2], l4_len, echo_request: false };
    if proto != PROTO_TCP && proto != PROTO_UDP && proto != PROTO_ICMP {
        // Other protocols are tracked by addresses and protocol alone.
        return Ok(q);
    }
    // RFC 792: at least the first 8 bytes of the quoted datagram's data.
    if l4_len < 8 {
        return Err(DropReason::IcmpErrorBadQuote);
    }
    let lh = ptr_at::<P, [u8; 8]>(p, l4).ok_or(DropReason::IcmpErrorBadQuote)?;
    let b = lh as *const u8;
    // SAFETY: inside the 8 bytes ptr_at checked.
    let (w0, w1, w4, w5) = unsafe { ([*b, *b.add(1)], [*b.add(2), *b.add(3)], *b.add(4), *b.add(5)) };
    if proto == PROTO_ICMP {
        // Only echo is tracked (an error about an error is never sent).
        if w0[0] != ICMP_ECHO_REQUEST && w0[0] != ICMP_ECHO_REPLY {
            return Err(DropReason::IcmpErrorBadQuote);
        }
        q.sport = [w4, w5];
        q.dport = q.sport;
        q.echo_request = w0[0] == ICMP_ECHO_REQUEST;
    } else {
        q.sport = w0;
        q.dport = w1;
    }
    Ok(q)
}

/// Translates the error back through the entry `e`: the outer addresses
/// become `out_src`/`out_dst`, the quote the packet as its sender sent it.
#[inline(always)]
fn rewrite<P: Packet>(p: &mut P, h: &Headers, q: &Quote, e: &FlowEntry, out_src: [u8; 4], out_dst: [u8; 4]) -> Result<(), ()> {
    let snat = e.flags & FLOW_F_SNAT != 0;
    let dnat = e.flags & FLOW_F_DNAT != 0;
    let icmp = h.l4_off & 0x7f;
    let qip = q.ip & 0xff;
    let ql4 = q.l4 & 0xff;
    // The quote, reversed: the entry's destination was its sender.
    let qsrc = if dnat { e.new_dst } else { q.src };
    let qdst = if snat { e.new_src } else { q.dst };
    // Changes inside the ICMP message, summed for its checksum.
    let mut d_icmp = 0;
    let d_addr = csum_diff(u32::from_ne_bytes(q.src), u32::from_ne_bytes(qsrc))
        + csum_diff(u32::from_ne_bytes(q.dst), u32::from_ne_bytes(qdst));
    if qsrc != q.src || qdst != q.dst {
        let old: [u8; 2] = crate::packet::read(p, qip + 10).ok_or(())?;
        let new = csum_apply(u16::from_ne_bytes(old), d_addr);
        p.store_2(qip + 10, new.to_ne_bytes())?;
        let addrs = u32::from_ne_bytes(qsrc) as u64 | (u32::from_ne_bytes(qdst) as u64) << 32;
        p.store_8(qip + 12, addrs)?;
        d_icmp += d_addr + csum_diff(u16::from_ne_bytes(old) as u32, new as u32);
    }
    if q.proto == PROTO_TCP || q.proto == PROTO_UDP {
        let sport = if dnat { e.new_dport } else { q.sport };
        let dport = if snat { e.new_sport } else { q.dport };
        let d_ports = csum_diff(u16::from_ne_bytes(q.sport) as u32, u16::from_ne_bytes(sport) as u32)
            + csum_diff(u16::from_ne_bytes(q.dport) as u32, u16::from_ne_bytes(dport) as u32);
        if sport != q.sport || dport != q.dport {
            p.store_4(ql4, [sport[0], sport[1], dport[0], dport[1]])?;
            d_icmp += d_ports;
        }
        // The quoted L4 checksum where Linux's NAT updates it: TCP when the
        // whole header is quoted, UDP unless it carries none.
        let (off, present) = if q.proto == PROTO_TCP { (ql4 + 16, q.l4_len >= 20) } else { (ql4 + 6, true) };
        if present && (qsrc != q.src || qdst != q.dst || sport != q.sport || dport != q.dport) {
            let old: [u8; 2] = crate::packet::read(p, off).ok_or(())?;
            let old = u16::from_ne_bytes(old);
            if !(q.proto == PROTO_UDP && old == 0) {
                let mut new = csum_apply(old, d_addr + d_ports);
                if q.proto == PROTO_UDP && new == 0 {
                    new = 0xffff;
                }
                p.store_2(off, new.to_ne_bytes())?;
                d_icmp += csum_diff(old as u32, new as u32);
            }
        }
    } else if q.proto == PROTO_ICMP && e.new_sport != q.sport {
        // Echo: the identifier, and the quoted echo's own checksum (no
        // pseudo-header).
        let d_id = csum_diff(u16::from_ne_bytes(q.sport) as u32, u16::from_ne_bytes(e.new_sport) as u32);
        let old: [u8; 2] = crate::packet::read(p, ql4 + 2).ok_or(())?;
        let old = u16::from_ne_bytes(old);
        let new = csum_apply(old, d_id);
        p.store_2(ql4 + 2, new.to_ne_bytes())?;
        p.store_2(ql4 + 4, e.new_sport)?;
        d_icmp += d_id + csum_diff(old as u32, new as u32);
    }
    if d_icmp != 0 {
        let old: [u8; 2] = crate::packet::read(p, icmp + 2).ok_or(())?;
        let new = csum_apply(u16::from_ne_bytes(old), d_icmp);
        p.store_2(icmp + 2, new.to_ne_bytes())?;
    }
    // The outer header: no pseudo-header in ICMP, so only its own checksum.
    if out_src != h.src || out_dst != h.dst {
        let d = csum_diff(u32::from_ne_bytes(h.src), u32::from_ne_bytes(out_src))
            + csum_diff(u32::from_ne_bytes(h.dst), u32::from_ne_bytes(out_dst));
        p.l3_csum_diff(IP_CSUM_OFF, d)?;
        let addrs = u32::from_ne_bytes(out_src) as u64 | (u32::from_ne_bytes(out_dst) as u64) << 32;
        p.store_8(IP_SRC_OFF, addrs)?;
    }
    Ok(())
}
