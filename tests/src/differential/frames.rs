//! Frame construction with every field under control (IPv4 options, TCP
//! options, UDP without checksum, ICMP of any type), checksums computed with
//! the crate's independent RFC 1071 helpers.

use crate::csum;

/// The IPv4 header fields a test varies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ip {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ttl: u8,
    pub id: u16,
    pub dont_fragment: bool,
    /// Option bytes (padded with NOPs to a multiple of 4, at most 40).
    pub options: Vec<u8>,
}

impl Ip {
    pub fn new(src: [u8; 4], dst: [u8; 4]) -> Ip {
        Ip {
            src,
            dst,
            ttl: 64,
            id: 0x1234,
            dont_fragment: true,
            options: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        /// Option bytes (padded to a multiple of 4, at most 40).
        options: Vec<u8>,
        payload: Vec<u8>,
    },
    Udp {
        sport: u16,
        dport: u16,
        payload: Vec<u8>,
        /// false: checksum 0 ("none").
        checksum: bool,
    },
    Icmp {
        kind: u8,
        code: u8,
        id: u16,
        seq: u16,
        payload: Vec<u8>,
    },
    /// Any other IP protocol (GRE 47, ESP 50...): the payload as is.
    Raw { proto: u8, payload: Vec<u8> },
}

impl L4 {
    pub fn proto(&self) -> u8 {
        match self {
            L4::Tcp { .. } => 6,
            L4::Udp { .. } => 17,
            L4::Icmp { .. } => 1,
            L4::Raw { proto, .. } => *proto,
        }
    }
}

fn padded(opts: &[u8]) -> Vec<u8> {
    let mut v = opts.to_vec();
    v.truncate(40);
    while !v.len().is_multiple_of(4) {
        v.push(1); // NOP
    }
    v
}

fn checksum(words: u32) -> [u8; 2] {
    (!csum::fold(words)).to_be_bytes()
}

/// An Ethernet/IPv4 frame with correct checksums.
pub fn ipv4(dst_mac: [u8; 6], src_mac: [u8; 6], ip: &Ip, l4: &L4) -> Vec<u8> {
    let mut seg = match l4 {
        L4::Tcp {
            sport,
            dport,
            seq,
            ack,
            flags,
            options,
            payload,
        } => {
            let opts = padded(options);
            let mut s = Vec::new();
            s.extend_from_slice(&sport.to_be_bytes());
            s.extend_from_slice(&dport.to_be_bytes());
            s.extend_from_slice(&seq.to_be_bytes());
            s.extend_from_slice(&ack.to_be_bytes());
            s.push((((20 + opts.len()) / 4) as u8) << 4);
            s.push(*flags);
            s.extend_from_slice(&64240u16.to_be_bytes());
            s.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
            s.extend_from_slice(&opts);
            s.extend_from_slice(payload);
            s
        }
        L4::Udp {
            sport,
            dport,
            payload,
            ..
        } => {
            let mut s = Vec::new();
            s.extend_from_slice(&sport.to_be_bytes());
            s.extend_from_slice(&dport.to_be_bytes());
            s.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            s.extend_from_slice(&[0, 0]);
            s.extend_from_slice(payload);
            s
        }
        L4::Icmp {
            kind,
            code,
            id,
            seq,
            payload,
        } => {
            let mut s = vec![*kind, *code, 0, 0];
            s.extend_from_slice(&id.to_be_bytes());
            s.extend_from_slice(&seq.to_be_bytes());
            s.extend_from_slice(payload);
            s
        }
        L4::Raw { payload, .. } => payload.clone(),
    };
    let proto = l4.proto();
    let pseudo = || csum::sum(&ip.src) + csum::sum(&ip.dst) + proto as u32 + seg.len() as u32;
    match l4 {
        L4::Tcp { .. } => {
            let c = checksum(pseudo() + csum::sum(&seg));
            seg[16..18].copy_from_slice(&c);
        }
        L4::Udp { checksum: true, .. } => {
            let mut c = checksum(pseudo() + csum::sum(&seg));
            if c == [0, 0] {
                c = [0xff, 0xff];
            }
            seg[6..8].copy_from_slice(&c);
        }
        L4::Udp { .. } => {}
        L4::Icmp { .. } => {
            let c = checksum(csum::sum(&seg));
            seg[2..4].copy_from_slice(&c);
        }
        L4::Raw { .. } => {}
    }
    let opts = padded(&ip.options);
    let ihl = 20 + opts.len();
    let mut h = vec![0x40 | (ihl / 4) as u8, 0];
    h.extend_from_slice(&((ihl + seg.len()) as u16).to_be_bytes());
    h.extend_from_slice(&ip.id.to_be_bytes());
    h.extend_from_slice(&[if ip.dont_fragment { 0x40 } else { 0 }, 0]);
    h.extend_from_slice(&[ip.ttl, proto, 0, 0]);
    h.extend_from_slice(&ip.src);
    h.extend_from_slice(&ip.dst);
    h.extend_from_slice(&opts);
    let c = checksum(csum::sum(&h));
    h[10..12].copy_from_slice(&c);
    let mut f = Vec::with_capacity(14 + h.len() + seg.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&h);
    f.extend_from_slice(&seg);
    f
}

/// An Ethernet/IPv4 ARP packet (`op` 1 request, 2 reply).
pub fn arp(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    op: u16,
    sha: [u8; 6],
    spa: [u8; 4],
    tha: [u8; 6],
    tpa: [u8; 4],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa);
    f
}

/// Recomputes the IPv4 header checksum (after a deliberate edit), if the
/// frame holds the header its IHL claims.
pub fn fix_ip_checksum(f: &mut [u8]) {
    if f.len() < 34 {
        return;
    }
    let ihl = (f[14] & 0x0f) as usize * 4;
    if ihl < 20 || 14 + ihl > f.len() {
        return;
    }
    f[24] = 0;
    f[25] = 0;
    let c = checksum(csum::sum(&f[14..14 + ihl]));
    f[24..26].copy_from_slice(&c);
}

/// Offset of the L4 header of an IPv4 frame by its IHL.
pub fn l4_offset(f: &[u8]) -> usize {
    14 + (f[14] & 0x0f) as usize * 4
}

/// The fragments a sender makes of Ethernet/IPv4 frame `whole`: its IP
/// payload cut at byte offsets `cuts` (multiples of 8, ascending, inside
/// the payload), each fragment with `whole`'s header (options included:
/// a lab convenience; RFC 791 copies only some), the identification kept,
/// DF cleared, its offset, more-fragments on all but the last, its own
/// total length and header checksum.
pub fn fragments(whole: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let ihl = (whole[14] & 0x0f) as usize * 4;
    let tot = u16::from_be_bytes([whole[16], whole[17]]) as usize;
    let payload = &whole[14 + ihl..14 + tot];
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < payload.len()));
    bounds.push(payload.len());
    let n = bounds.len() - 1;
    (0..n)
        .map(|i| {
            let (a, b) = (bounds[i], bounds[i + 1]);
            let mut f = whole[..14 + ihl].to_vec();
            f.extend_from_slice(&payload[a..b]);
            f[16..18].copy_from_slice(&((ihl + b - a) as u16).to_be_bytes());
            let mf = if i + 1 < n { 0x2000 } else { 0 };
            f[20..22].copy_from_slice(&(mf | (a / 8) as u16).to_be_bytes());
            fix_ip_checksum(&mut f);
            f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{parse, Checksums, Frame};

    fn valid(f: &[u8]) -> bool {
        match parse(f) {
            Ok(Frame::Ipv4(p)) => Checksums::of(f, &p).valid(),
            _ => false,
        }
    }

    #[test]
    fn built_frames_parse_and_have_valid_checksums() {
        let ip = Ip {
            options: vec![7, 7, 4, 0, 0, 0, 0],
            ..Ip::new([10, 0, 1, 10], [10, 0, 1, 20])
        };
        for l4 in [
            L4::Tcp {
                sport: 1,
                dport: 80,
                seq: 1,
                ack: 2,
                flags: 0x12,
                options: vec![2, 4, 5, 0xb4],
                payload: b"abc".to_vec(),
            },
            L4::Udp {
                sport: 1,
                dport: 53,
                payload: vec![],
                checksum: true,
            },
            L4::Icmp {
                kind: 8,
                code: 0,
                id: 9,
                seq: 1,
                payload: b"ping".to_vec(),
            },
        ] {
            let f = ipv4([2; 6], [4; 6], &ip, &l4);
            assert!(valid(&f), "{l4:?}");
            // etherparse agrees.
            let p = etherparse::SlicedPacket::from_ethernet(&f).expect("etherparse parses it");
            assert!(p.transport.is_some());
        }
    }
}
