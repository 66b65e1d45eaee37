//! Stage `parse`: Ethernet / IPv4 / TCP, UDP, ICMP echo, ICMP errors, and any
//! other IP protocol by number (GRE, ESP, SCTP...: tracked by addresses and
//! protocol only, so nothing past the IPv4 header is read). Every access is
//! bounds-checked; every malformed case has its own drop reason.

use dataplane_common::{DropReason, FlowKey, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use network_types::{eth::EthHdr, ip::Ipv4Hdr, tcp::TcpHdr, udp::UdpHdr};

use crate::packet::{ptr_at, Packet};

pub const ETH_LEN: usize = EthHdr::LEN;
pub const IP_OFF: usize = ETH_LEN;
pub const IP_CSUM_OFF: usize = IP_OFF + 10;
pub const IP_SRC_OFF: usize = IP_OFF + 12;
pub const IP_DST_OFF: usize = IP_OFF + 16;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;
pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_ECHO_REQUEST: u8 = 8;
/// ICMP errors that quote the packet they are about (RFC 792): destination
/// unreachable (fragmentation needed is its code 4), time exceeded,
/// parameter problem.
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_TIME_EXCEEDED: u8 = 11;
const ICMP_PARAMETER_PROBLEM: u8 = 12;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// What the pipeline needs to know about an IPv4 packet.
#[derive(Clone, Copy)]
pub struct Headers {
    pub proto: u8,
    pub tcp_flags: u8,
    pub icmp_type: u8,
    /// ICMP code (what network-ACL entries match with the type).
    pub icmp_code: u8,
    pub l4_off: usize,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    /// Network order. ICMP echo: the identifier in both. Other protocols
    /// than TCP, UDP and ICMP: zero (they have no ports).
    pub sport: [u8; 2],
    pub dport: [u8; 2],
}

impl Headers {
    /// The packet's key in the flow table, in the VPC `vpc` of the port it
    /// came in on: built here, once, for every stage that looks a flow up,
    /// creates one or reports one.
    #[inline(always)]
    pub fn key(&self, vpc: u32) -> FlowKey {
        FlowKey {
            vpc,
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
            proto: self.proto,
            // An echo reply's key differs from a request's: tracking
            // follows the type (a second request is not a reply).
            icmp_reply: (self.proto == PROTO_ICMP && self.icmp_type == ICMP_ECHO_REPLY) as u8,
            _pad1: 0,
        }
    }

    /// Offset of the L4 checksum.
    #[inline(always)]
    pub fn l4_csum_off(&self) -> usize {
        self.l4_off
            + match self.proto {
                PROTO_TCP => 16,
                PROTO_UDP => 6,
                _ => 2,
            }
    }
}

/// A fragment of a UDP datagram (`Frame::Fragment`): its IPv4
/// identification (network order) and whether it is the first (offset
/// zero: it carries the UDP header; later ones carry no ports).
#[derive(Clone, Copy)]
pub struct Frag {
    pub id: [u8; 2],
    pub first: bool,
}

pub enum Frame {
    Ipv4(Headers),
    /// A fragment of a UDP datagram: only a NAT gateway's flows carry them
    /// (`nat_gateway::fragment`). A first fragment's headers hold its ports;
    /// a later one's ports are zero.
    Fragment(Headers, Frag),
    /// An ICMP error (`icmp_error.rs` reads its quote); ports are zero.
    IcmpError(Headers),
    Arp,
}

#[inline(always)]
pub fn parse<P: Packet>(p: &mut P) -> Result<Frame, DropReason> {
    // Host stacks hand us linear headers; pull covers the rare skb that is not.
    p.pull((ETH_LEN + 60 + 20) as u32);
    // Field reads through checked pointers, never whole-struct copies: those
    // compile to memcpy calls the BPF target cannot link.
    let eth = ptr_at::<P, EthHdr>(p, 0).ok_or(DropReason::TruncatedEthernet)?;
    // SAFETY: ptr_at checked the header lies inside the packet.
    let ether_type = u16::from_be(unsafe { (*eth).ether_type });
    if ether_type == ETH_P_ARP {
        return Ok(Frame::Arp);
    }
    if ether_type != ETH_P_IP {
        return Err(DropReason::NotIpv4);
    }
    let ip = ptr_at::<P, Ipv4Hdr>(p, IP_OFF).ok_or(DropReason::TruncatedIpv4)?;
    // SAFETY: ptr_at checked the fixed header lies inside the packet.
    let (vihl, tot_len, id, frags, proto, src, dst) = unsafe {
        ((*ip).vihl, (*ip).tot_len, (*ip).id, (*ip).frags, (*ip).proto, (*ip).src_addr, (*ip).dst_addr)
    };
    if vihl >> 4 != 4 {
        return Err(DropReason::BadIpVersion);
    }
    let ihl = ((vihl & 0x0f) as usize) * 4;
    if ihl < Ipv4Hdr::LEN || IP_OFF + ihl > p.data_end() - p.data() {
        return Err(DropReason::BadIhl);
    }
    let tot_len = u16::from_be_bytes(tot_len) as usize;
    if tot_len < ihl || IP_OFF + tot_len > p.len() as usize {
        return Err(DropReason::BadTotalLength);
    }
    // More-fragments flag or a fragment offset: ports live only in the
    // first. A NAT gateway forwards fragmented UDP; nothing else carries a
    // fragment.
    let frags = u16::from_be_bytes(frags);
    let fragment = frags & 0x3fff != 0;
    if fragment && proto != PROTO_UDP {
        return Err(DropReason::Fragment);
    }
    let first = frags & 0x1fff == 0;
    let l4_off = IP_OFF + ihl;
    let l4_len = tot_len - ihl;
    let mut h = Headers {
        proto,
        tcp_flags: 0,
        icmp_type: 0,
        icmp_code: 0,
        l4_off,
        src,
        dst,
        sport: [0; 2],
        dport: [0; 2],
    };
    match proto {
        PROTO_TCP => {
            let tcp = ptr_at::<P, TcpHdr>(p, l4_off).ok_or(DropReason::TruncatedL4)?;
            if l4_len < TcpHdr::LEN {
                return Err(DropReason::TruncatedL4);
            }
            // Byte 12 holds the data offset in its high nibble, byte 13 the
            // flags. Read through the checked pointer: a separately checked
            // read gets its check merged away by LLVM and its address
            // recomputed from a base the verifier has no range for.
            let b = tcp as *const u8;
            // SAFETY: inside the 20-byte header ptr_at checked.
            let raw = unsafe { [*b.add(12), *b.add(13)] };
            let doff = ((raw[0] >> 4) as usize) * 4;
            if doff < TcpHdr::LEN || doff > l4_len {
                return Err(DropReason::BadTcpDataOffset);
            }
            // SAFETY: ptr_at checked the header lies inside the packet.
            unsafe {
                h.sport = (*tcp).source;
                h.dport = (*tcp).dest;
            }
            h.tcp_flags = raw[1];
        }
        PROTO_UDP if fragment && !first => {
            // A later fragment: nothing past the IPv4 header is UDP's.
            return Ok(Frame::Fragment(h, Frag { id, first: false }));
        }
        PROTO_UDP => {
            let udp = ptr_at::<P, UdpHdr>(p, l4_off).ok_or(DropReason::TruncatedL4)?;
            // SAFETY: ptr_at checked the header lies inside the packet.
            let (usrc, udst, ulen) = unsafe { ((*udp).src, (*udp).dst, (*udp).len) };
            let ulen = u16::from_be_bytes(ulen) as usize;
            // A first fragment's UDP length is the whole datagram's.
            if l4_len < UdpHdr::LEN || ulen < UdpHdr::LEN || (ulen > l4_len && !fragment) {
                return Err(DropReason::TruncatedL4);
            }
            h.sport = usrc;
            h.dport = udst;
            if fragment {
                return Ok(Frame::Fragment(h, Frag { id, first: true }));
            }
        }
        PROTO_ICMP => {
            // type, code, checksum, identifier, sequence
            let icmp = ptr_at::<P, [u8; 8]>(p, l4_off).ok_or(DropReason::TruncatedL4)?;
            if l4_len < 8 {
                return Err(DropReason::TruncatedL4);
            }
            let b = icmp as *const u8;
            // SAFETY: inside the 8 bytes ptr_at checked.
            let (icmp_type, icmp_code, id) = unsafe { (*b, *b.add(1), [*b.add(4), *b.add(5)]) };
            h.icmp_type = icmp_type;
            h.icmp_code = icmp_code;
            if icmp_type == ICMP_DEST_UNREACH || icmp_type == ICMP_TIME_EXCEEDED || icmp_type == ICMP_PARAMETER_PROBLEM {
                return Ok(Frame::IcmpError(h));
            }
            if icmp_type != ICMP_ECHO_REQUEST && icmp_type != ICMP_ECHO_REPLY {
                return Err(DropReason::UnsupportedIcmp);
            }
            h.sport = id;
            h.dport = h.sport;
        }
        // Any other protocol (GRE 47, ESP 50, SCTP 132, ...): AWS tracks
        // it by addresses and protocol only, so no header past IPv4's is
        // assumed; the ports stay zero.
        _ => {}
    }
    Ok(Frame::Ipv4(h))
}
