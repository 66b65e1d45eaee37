//! A TCP RST answering a TCP packet, written over the packet in place and
//! sent back out of the port it came in by (`Verdict::Reflect`): the NAT
//! gateway's answer to a segment of a connection it no longer holds (AWS:
//! "If a connection times out, the NAT gateway returns an RST packet to
//! any resources behind the NAT gateway that attempt to continue the
//! connection").
//!
//! The RST comes from the segment's destination: addresses and ports
//! swapped, the router's MAC to the sender's. Sequence numbers as RFC 9293
//! ("Reset Generation") has them for a segment that belongs to no
//! connection: the segment's acknowledgment number if it carried ACK, else
//! 0; and, with ACK set, an acknowledgment of everything the segment
//! occupied (SEG.SEQ + SEG.LEN, SYN and FIN counting one each). A 20-byte
//! IPv4 header (DF, TTL 64, id 0), a 20-byte TCP header (window 0), no
//! payload: 54 bytes, to which the frame is cut (`Packet::truncate`).

use dataplane_common::{DropReason, GATEWAY_MAC, PROTO_TCP};

use crate::{
    packet::{csum_fold, read, Packet},
    parse::{Headers, IP_OFF, TCP_ACK, TCP_FIN, TCP_SYN},
};

/// The RST's frame length: Ethernet, IPv4 and TCP headers.
pub const RST_LEN: u32 = 54;
/// Its IPv4 total length.
const RST_IP_LEN: u16 = 40;
/// TCP data offset 5 (no options) and the flags RST|ACK.
const RST_OFF_FLAGS: u16 = 0x5014;
const TCP_OFF: usize = IP_OFF + 20;

/// The sum of a 4-byte field's two 16-bit words.
#[inline(always)]
fn words(b: [u8; 4]) -> u32 {
    u16::from_be_bytes([b[0], b[1]]) as u32 + u16::from_be_bytes([b[2], b[3]]) as u32
}

/// Rewrites the TCP packet `h` into the RST answering it, addressed to
/// `to_mac` (the sender's).
#[inline(always)]
pub fn answer<P: Packet>(p: &mut P, h: &Headers, to_mac: &[u8; 6]) -> Result<(), DropReason> {
    let bad = DropReason::RewriteFailed;
    // What the RST is computed from, read before anything is written over.
    let total: [u8; 2] = read(p, IP_OFF + 2).ok_or(bad)?;
    let seq: [u8; 4] = read(p, h.l4_off + 4).ok_or(bad)?;
    let ack: [u8; 4] = read(p, h.l4_off + 8).ok_or(bad)?;
    let doff: u8 = read(p, h.l4_off + 12).ok_or(bad)?;
    let headers = (h.l4_off - IP_OFF) as u32 + (doff >> 4) as u32 * 4;
    let mut seg_len = (u16::from_be_bytes(total) as u32).saturating_sub(headers);
    if h.tcp_flags & TCP_SYN != 0 {
        seg_len += 1;
    }
    if h.tcp_flags & TCP_FIN != 0 {
        seg_len += 1;
    }
    let rst_seq = if h.tcp_flags & TCP_ACK != 0 { ack } else { [0; 4] };
    let rst_ack = u32::from_be_bytes(seq).wrapping_add(seg_len).to_be_bytes();
    // The RST's source is the segment's destination, and back.
    let (src, dst) = (h.dst, h.src);
    let (sport, dport) = (h.dport, h.sport);
    let ip_sum = 0x4500 + RST_IP_LEN as u32 + 0x4000 + ((64 << 8) | PROTO_TCP as u32) + words(src) + words(dst);
    let ip_csum = !(csum_fold(ip_sum) as u16);
    let tcp_sum = words(src)
        + words(dst)
        + PROTO_TCP as u32
        + 20
        + u16::from_be_bytes(sport) as u32
        + u16::from_be_bytes(dport) as u32
        + words(rst_seq)
        + words(rst_ack)
        + RST_OFF_FLAGS as u32;
    let tcp_csum = !(csum_fold(tcp_sum) as u16);
    let m = to_mac;
    let g = GATEWAY_MAC;
    let eth = [m[0], m[1], m[2], m[3], m[4], m[5], g[0], g[1], g[2], g[3], g[4], g[5]];
    let w = |r: Result<(), ()>| r.map_err(|_| DropReason::RewriteFailed);
    w(p.store_eth(&eth))?;
    let [l0, l1] = RST_IP_LEN.to_be_bytes();
    w(p.store_4(IP_OFF, [0x45, 0, l0, l1]))?;
    w(p.store_4(IP_OFF + 4, [0, 0, 0x40, 0]))?;
    let [c0, c1] = ip_csum.to_be_bytes();
    w(p.store_4(IP_OFF + 8, [64, PROTO_TCP, c0, c1]))?;
    w(p.store_4(IP_OFF + 12, src))?;
    w(p.store_4(IP_OFF + 16, dst))?;
    w(p.store_2(TCP_OFF, sport))?;
    w(p.store_2(TCP_OFF + 2, dport))?;
    w(p.store_4(TCP_OFF + 4, rst_seq))?;
    w(p.store_4(TCP_OFF + 8, rst_ack))?;
    let [f0, f1] = RST_OFF_FLAGS.to_be_bytes();
    w(p.store_4(TCP_OFF + 12, [f0, f1, 0, 0]))?;
    let [t0, t1] = tcp_csum.to_be_bytes();
    w(p.store_4(TCP_OFF + 16, [t0, t1, 0, 0]))?;
    // Last: the packet's pointers are stale after this.
    w(p.truncate(RST_LEN))
}
