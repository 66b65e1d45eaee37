//! The model's view of bytes: which frames the data plane accepts (and why
//! it refuses the others), the ARP answer, and the rewrite of a forwarded
//! packet with its checksums computed from scratch.
//!
//! Written from the protocol documents (IEEE 802.3, RFC 791, 793, 768, 792,
//! 826, 1071) and the data plane's documented drop reasons, not from the
//! kernel's parser.

use dataplane_common::{DropReason, GATEWAY_MAC, PROTO_ICMP, PROTO_TCP, PROTO_UDP};

pub const ETH_LEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Offset of the IPv4 header.
pub const IP: usize = ETH_LEN;
/// The smallest complete Ethernet/IPv4 ARP packet.
pub const ARP_FRAME_LEN: usize = ETH_LEN + 28;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

pub(super) const ICMP_ECHO_REPLY: u8 = 0;
pub(super) const ICMP_ECHO_REQUEST: u8 = 8;
/// ICMP messages that quote the datagram they are about (RFC 792):
/// destination unreachable, time exceeded, parameter problem.
const ICMP_ERRORS: [u8; 3] = [3, 11, 12];

/// An IPv4 packet the data plane can track: TCP, UDP or ICMP echo, with
/// complete headers and no fragmentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4 {
    pub proto: u8,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    /// TCP/UDP ports; ICMP echo: the identifier in both (it names the
    /// "connection" the way a port pair does).
    pub sport: u16,
    pub dport: u16,
    /// TCP only.
    pub tcp_flags: u8,
    /// ICMP echo: the type (8 request, 0 reply) and code; else zeros.
    pub icmp: (u8, u8),
    /// IPv4 header length in bytes (options included).
    pub ihl: usize,
    /// IPv4 total length: what follows it in the frame is Ethernet padding.
    pub tot_len: usize,
    /// Frame offset of the L4 header.
    pub l4: usize,
}

/// A fragment of a UDP datagram: its IPv4 identification and whether it
/// is the first (offset zero, the UDP header in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frag {
    pub id: u16,
    pub first: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    Arp,
    Ipv4(Ipv4),
    /// A fragment of a UDP datagram (RFC 791): only a NAT gateway carries
    /// them ("NAT gateway basics"). A first fragment has its ports; a later
    /// one's are zero.
    Fragment(Ipv4, Frag),
    /// An ICMP error (ports zero); its quote is read by `icmp_error`.
    IcmpError(Ipv4),
}

pub(super) fn be16(f: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([f[off], f[off + 1]])
}

pub(super) fn addr(f: &[u8], off: usize) -> [u8; 4] {
    [f[off], f[off + 1], f[off + 2], f[off + 3]]
}

/// Classifies a frame, or says which documented reason refuses it.
pub fn parse(f: &[u8]) -> Result<Frame, DropReason> {
    if f.len() < ETH_LEN {
        return Err(DropReason::TruncatedEthernet);
    }
    match be16(f, 12) {
        ETHERTYPE_ARP => return Ok(Frame::Arp),
        ETHERTYPE_IPV4 => {}
        // IPv6, 802.1Q/802.1ad tags, 802.3 lengths, anything else.
        _ => return Err(DropReason::NotIpv4),
    }
    // The fixed 20-byte IPv4 header must be there before any field counts.
    if f.len() < IP + 20 {
        return Err(DropReason::TruncatedIpv4);
    }
    if f[IP] >> 4 != 4 {
        return Err(DropReason::BadIpVersion);
    }
    let ihl = (f[IP] & 0x0f) as usize * 4;
    if ihl < 20 || IP + ihl > f.len() {
        return Err(DropReason::BadIhl);
    }
    let tot_len = be16(f, IP + 2) as usize;
    if tot_len < ihl || IP + tot_len > f.len() {
        return Err(DropReason::BadTotalLength);
    }
    // MF set or a fragment offset: only a first fragment carries ports.
    // Fragments of UDP go on to a NAT gateway, which forwards them; any
    // other protocol's are dropped.
    let proto = f[IP + 9];
    let frags = be16(f, IP + 6);
    let fragment = frags & 0x3fff != 0;
    if fragment && proto != PROTO_UDP {
        return Err(DropReason::Fragment);
    }
    let frag = Frag {
        id: be16(f, IP + 4),
        first: frags & 0x1fff == 0,
    };
    let l4 = IP + ihl;
    // The L4 header must fit in the IP payload (which the frame holds).
    let payload = tot_len - ihl;
    let mut p = Ipv4 {
        proto,
        src: addr(f, IP + 12),
        dst: addr(f, IP + 16),
        sport: 0,
        dport: 0,
        tcp_flags: 0,
        icmp: (0, 0),
        ihl,
        tot_len,
        l4,
    };
    match proto {
        PROTO_TCP => {
            if payload < 20 {
                return Err(DropReason::TruncatedL4);
            }
            let data_offset = (f[l4 + 12] >> 4) as usize * 4;
            if data_offset < 20 || data_offset > payload {
                return Err(DropReason::BadTcpDataOffset);
            }
            p.sport = be16(f, l4);
            p.dport = be16(f, l4 + 2);
            p.tcp_flags = f[l4 + 13];
        }
        // A later fragment: nothing past the IPv4 header is UDP's.
        PROTO_UDP if fragment && !frag.first => return Ok(Frame::Fragment(p, frag)),
        PROTO_UDP => {
            // The UDP length covers the header and may end before the IP
            // payload does, never after it (but in a first fragment, where
            // it is the whole datagram's).
            let udp_len = if payload >= 8 {
                be16(f, l4 + 4) as usize
            } else {
                0
            };
            if payload < 8 || udp_len < 8 || (udp_len > payload && !fragment) {
                return Err(DropReason::TruncatedL4);
            }
            p.sport = be16(f, l4);
            p.dport = be16(f, l4 + 2);
            if fragment {
                return Ok(Frame::Fragment(p, frag));
            }
        }
        PROTO_ICMP => {
            if payload < 8 {
                return Err(DropReason::TruncatedL4);
            }
            if ICMP_ERRORS.contains(&f[l4]) {
                return Ok(Frame::IcmpError(p));
            }
            if f[l4] != ICMP_ECHO_REQUEST && f[l4] != ICMP_ECHO_REPLY {
                return Err(DropReason::UnsupportedIcmp);
            }
            p.sport = be16(f, l4 + 4);
            p.dport = p.sport;
            p.icmp = (f[l4], f[l4 + 1]);
        }
        // AWS tracks every other protocol (GRE, ESP, SCTP...) by its
        // addresses alone: nothing past the IPv4 header is read.
        _ => {}
    }
    Ok(Frame::Ipv4(p))
}

/// The virtual router's answer to an ARP request from a host whose address
/// is `own`: "`tpa` is at GATEWAY_MAC", sent to the asker's hardware
/// address. `Err(ArpIgnored)` for anything that is not a complete
/// Ethernet/IPv4 request asking on the host's own behalf (or a 0.0.0.0
/// probe), and for gratuitous ARP (sender = target address).
pub fn arp_answer(f: &[u8], own: [u8; 4]) -> Result<Vec<u8>, DropReason> {
    const REQUEST_HEADER: [u8; 8] = [0, 1, 0x08, 0x00, 6, 4, 0, 1];
    if f.len() < ARP_FRAME_LEN || f[IP..IP + 8] != REQUEST_HEADER {
        return Err(DropReason::ArpIgnored);
    }
    let sha: [u8; 6] = f[22..28].try_into().expect("6 bytes");
    let spa = addr(f, 28);
    let tpa = addr(f, 38);
    if spa == tpa || (spa != own && spa != [0; 4]) {
        return Err(DropReason::ArpIgnored);
    }
    let mut out = f.to_vec();
    out[0..6].copy_from_slice(&sha);
    out[6..12].copy_from_slice(&GATEWAY_MAC);
    out[20..22].copy_from_slice(&[0, 2]); // reply
    out[22..28].copy_from_slice(&GATEWAY_MAC);
    out[28..32].copy_from_slice(&tpa);
    out[32..38].copy_from_slice(&sha);
    out[38..42].copy_from_slice(&spa);
    Ok(out)
}

/// Addresses and ports a forwarded packet leaves with (ICMP echo: the
/// identifier is `sport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Addrs {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub sport: u16,
    pub dport: u16,
}

impl Addrs {
    pub fn of(p: &Ipv4) -> Addrs {
        Addrs {
            src: p.src,
            dst: p.dst,
            sport: p.sport,
            dport: p.dport,
        }
    }

    /// What a reply to a packet with these addresses carries.
    pub fn reversed(&self) -> Addrs {
        Addrs {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
        }
    }
}

/// The frame as the fabric forwards it to `dst_mac`: sent from the router's
/// MAC, with `to`'s addresses and ports, and valid checksums.
///
/// "Valid" relative to what arrived: a translator must not launder a
/// corrupted packet (RFC 3022 §4.2 updates checksums so that the end host
/// still detects the damage), so a checksum that was wrong on input is
/// exactly as wrong on output. A checksum whose covered fields did not
/// change is left as it is (byte for byte); a UDP checksum of zero means
/// "none" and stays zero (RFC 768).
/// TCP, UDP and ICMP echo carry ports (the echo identifier); every other
/// protocol is tracked by its addresses alone.
pub fn has_ports(proto: u8) -> bool {
    matches!(proto, PROTO_TCP | PROTO_UDP | PROTO_ICMP)
}

pub fn rewrite(f: &[u8], p: &Ipv4, to: &Addrs, dst_mac: [u8; 6]) -> Vec<u8> {
    let mut out = f.to_vec();
    out[0..6].copy_from_slice(&dst_mac);
    out[6..12].copy_from_slice(&GATEWAY_MAC);
    let before = Checksums::of(f, p);
    out[IP + 12..IP + 16].copy_from_slice(&to.src);
    out[IP + 16..IP + 20].copy_from_slice(&to.dst);
    let addrs_changed = to.src != p.src || to.dst != p.dst;
    let ports_changed = if !has_ports(p.proto) {
        // GRE, ESP...: nothing past the IPv4 header is touched.
        false
    } else if p.proto == PROTO_ICMP {
        out[p.l4 + 4..p.l4 + 6].copy_from_slice(&to.sport.to_be_bytes());
        to.sport != p.sport
    } else {
        out[p.l4..p.l4 + 2].copy_from_slice(&to.sport.to_be_bytes());
        out[p.l4 + 2..p.l4 + 4].copy_from_slice(&to.dport.to_be_bytes());
        to.sport != p.sport || to.dport != p.dport
    };
    if addrs_changed {
        let off = IP + 10;
        let v = repaired(&out, off, &ip_header_cover(&out, p), before.ip, false);
        out[off..off + 2].copy_from_slice(&v.to_be_bytes());
    }
    // ICMP's checksum covers only the message; TCP's and UDP's also the
    // addresses (pseudo-header).
    let l4_touched = match p.proto {
        PROTO_ICMP => ports_changed,
        _ => addrs_changed || ports_changed,
    };
    if let (true, Some(res)) = (l4_touched, before.l4) {
        let off = l4_checksum_offset(p);
        let v = repaired(&out, off, &l4_cover(&out, p), res, p.proto == PROTO_UDP);
        out[off..off + 2].copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// One's-complement residuals (sum of the covered data, checksum field
/// included, mod 0xffff: 0 = valid) of a parsed frame's checksums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksums {
    pub ip: u16,
    /// `None`: a UDP datagram without checksum.
    pub l4: Option<u16>,
}

impl Checksums {
    pub fn of(f: &[u8], p: &Ipv4) -> Checksums {
        let l4 = if (p.proto == PROTO_UDP && be16(f, p.l4 + 6) == 0) || !has_ports(p.proto) {
            // No checksum ("none"), or a protocol whose header is not read.
            None
        } else {
            Some(residual(&l4_cover(f, p)))
        };
        Checksums {
            ip: residual(&ip_header_cover(f, p)),
            l4,
        }
    }

    pub fn valid(&self) -> bool {
        self.ip == 0 && self.l4.is_none_or(|r| r == 0)
    }
}

/// The bytes a checksum covers, as 16-bit-word runs (each run is summed on
/// its own, odd lengths padded with a zero byte).
pub(super) struct Cover<'a> {
    pub(super) runs: Vec<&'a [u8]>,
    pub(super) pseudo: Vec<u8>,
}

fn ip_header_cover<'a>(f: &'a [u8], p: &Ipv4) -> Cover<'a> {
    Cover {
        runs: vec![&f[IP..IP + p.ihl]],
        pseudo: Vec::new(),
    }
}

fn l4_cover<'a>(f: &'a [u8], p: &Ipv4) -> Cover<'a> {
    let end = IP + p.tot_len;
    match p.proto {
        PROTO_ICMP => Cover {
            runs: vec![&f[p.l4..end]],
            pseudo: Vec::new(),
        },
        proto => {
            // TCP covers the segment (to the IP total length); UDP what its
            // own length field says. A first fragment holds only the start
            // of its datagram: what it holds is covered, and the rest, which
            // no rewrite touches, keeps its part of the sum (so a checksum
            // repaired over the fragment is the whole datagram's, RFC 1624).
            let len = if proto == PROTO_UDP {
                be16(f, p.l4 + 4) as usize
            } else {
                end - p.l4
            };
            let mut pseudo = Vec::with_capacity(12);
            pseudo.extend_from_slice(&f[IP + 12..IP + 20]);
            pseudo.extend_from_slice(&[0, proto]);
            pseudo.extend_from_slice(&(len as u16).to_be_bytes());
            Cover {
                runs: vec![&f[p.l4..p.l4 + len.min(end - p.l4)]],
                pseudo,
            }
        }
    }
}

fn l4_checksum_offset(p: &Ipv4) -> usize {
    p.l4 + match p.proto {
        PROTO_TCP => 16,
        PROTO_UDP => 6,
        _ => 2,
    }
}

pub(super) fn words(data: &[u8]) -> u64 {
    data.chunks(2)
        .map(|c| u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

fn cover_sum(c: &Cover<'_>) -> u64 {
    words(&c.pseudo) + c.runs.iter().map(|r| words(r)).sum::<u64>()
}

/// Sum of the covered data (checksum included) mod 0xffff: one's-complement
/// zero (0 or 0xffff) is 0, the mark of a valid checksum.
pub(super) fn residual(c: &Cover<'_>) -> u16 {
    (cover_sum(c) % 0xffff) as u16
}

/// The checksum field value at frame offset `off` (inside `c`) that gives
/// the covered data the residual `res`: with `res` 0 this is the checksum
/// computed from scratch (RFC 1071: the complement of the sum with the field
/// zeroed), never 0xffff; a UDP result of 0 is sent as 0xffff (RFC 768).
pub(super) fn repaired(f: &[u8], off: usize, c: &Cover<'_>, res: u16, udp: bool) -> u16 {
    let field = u64::from(be16(f, off));
    let without = (cover_sum(c) + 0xffff * 2 - field % 0xffff) % 0xffff;
    let v = ((u64::from(res) + 0xffff - without) % 0xffff) as u16;
    if udp && v == 0 {
        0xffff
    } else {
        v
    }
}
