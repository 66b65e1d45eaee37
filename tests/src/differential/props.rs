//! Properties every kernel outcome must have, checked on the kernel's own
//! output without the reference model (a second, independent line of
//! defence: they hold even where the model and the kernel agree on a
//! mistake).
//!
//! - **No misrewrite**: a dropped or passed frame leaves byte for byte as it
//!   came; only a well-formed tracked IPv4 packet (or an ARP request) is
//!   ever rewritten (or an ICMP error quoting one), and then only in the
//!   fields NAT and forwarding own.
//! - **Checksums**: every rewritten packet's IPv4 and L4 checksums are
//!   exactly as valid as they arrived (valid in, valid out; a corrupted one
//!   keeps its error, so the receiver still detects it; UDP "no checksum"
//!   stays so).
//! - **Isolation**: a forwarded packet reaches the host whose address it
//!   carries; it leaves in another VPC than it came from, or with other
//!   addresses, only through an available PrivateLink connection, and then
//!   with the addresses of the destination VPC (NLB node -> target, or
//!   endpoint ENI -> consumer).

use std::net::Ipv4Addr;

use dataplane::model::{EndpointState, Nlb, Topology};
use dataplane_common::GATEWAY_MAC;

use crate::csum;

/// The kernel's decision in hook-independent words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Forward,
    Reflect,
    Pass,
    Drop,
}

fn be16(f: &[u8], o: usize) -> usize {
    u16::from_be_bytes([f[o], f[o + 1]]) as usize
}

fn addr(f: &[u8], o: usize) -> Ipv4Addr {
    Ipv4Addr::new(f[o], f[o + 1], f[o + 2], f[o + 3])
}

/// Layout of a well-formed, unfragmented IPv4 TCP/UDP/ICMP-echo packet:
/// (IHL, total length, protocol, L4 offset), by RFC 791/793/768/792 alone.
fn layout(f: &[u8]) -> Option<(usize, usize, u8, usize)> {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[14] >> 4 != 4 {
        return None;
    }
    let ihl = (f[14] & 15) as usize * 4;
    let tot = be16(f, 16);
    if ihl < 20 || 14 + ihl > f.len() || tot < ihl || 14 + tot > f.len() {
        return None;
    }
    if be16(f, 20) & 0x3fff != 0 {
        return None;
    }
    let (proto, l4) = (f[23], 14 + ihl);
    let room = tot - ihl;
    let ok = match proto {
        6 => room >= 20 && (20..=room).contains(&((f[l4 + 12] >> 4) as usize * 4)),
        17 => room >= 8 && (8..=room).contains(&be16(f, l4 + 4)),
        1 => room >= 8 && (f[l4] == 0 || f[l4] == 8),
        // Any other protocol (GRE, ESP...): tracked by addresses alone,
        // nothing past the IPv4 header is read.
        _ => true,
    };
    ok.then_some((ihl, tot, proto, l4))
}

/// One's-complement residuals (mod 0xffff; 0 = valid) of the IPv4 header
/// and the L4 checksum (`None`: UDP without checksum).
fn residuals(f: &[u8], (ihl, tot, proto, l4): (usize, usize, u8, usize)) -> (u32, Option<u32>) {
    let ip = csum::sum(&f[14..14 + ihl]) % 0xffff;
    let l4_res = match proto {
        1 => Some(csum::sum(&f[l4..14 + tot]) % 0xffff),
        17 if f[l4 + 6] == 0 && f[l4 + 7] == 0 => None,
        p if p != 6 && p != 17 => None,
        _ => {
            let len = if proto == 17 {
                be16(f, l4 + 4)
            } else {
                14 + tot - l4
            };
            let pseudo = csum::sum(&f[26..34]) + proto as u32 + len as u32;
            Some((pseudo + csum::sum(&f[l4..l4 + len])) % 0xffff)
        }
    };
    (ip, l4_res)
}

/// Checks one kernel outcome. `from`: the sending host ENI (None: an
/// unknown interface).
pub fn check(
    topo: &Topology,
    from: Option<usize>,
    input: &[u8],
    kind: Kind,
    out: &[u8],
) -> Result<(), String> {
    match kind {
        Kind::Drop | Kind::Pass => {
            if out != input {
                return Err(format!("{kind:?}: the frame was modified"));
            }
            Ok(())
        }
        Kind::Reflect => reflect(input, out),
        Kind::Forward => forward(topo, from, input, out),
    }
}

fn reflect(input: &[u8], out: &[u8]) -> Result<(), String> {
    if input.get(12..14) == Some(&[0x08, 0x00]) {
        return reset(input, out);
    }
    if input.len() < 42 || input[12..14] != [0x08, 0x06] || input[20..22] != [0, 1] {
        return Err("reflected something that is not an ARP request".into());
    }
    if out.len() != input.len() || out[..12] != [&input[22..28], &GATEWAY_MAC[..]].concat() {
        return Err("ARP answer: wrong Ethernet header".into());
    }
    let want = [
        &input[14..20],
        &[0, 2],
        &GATEWAY_MAC,
        &input[38..42],
        &input[22..28],
        &input[28..32],
    ]
    .concat();
    if out[14..42] != want[..] || out[12..14] != input[12..14] || out[42..] != input[42..] {
        return Err("ARP answer: wrong body".into());
    }
    Ok(())
}

/// A reflected IPv4 packet is the RST answering a well-formed TCP segment
/// (a NAT gateway's, for a connection it does not hold), by RFC 9293
/// alone: from the router's MAC (to the sending ENI's, which the model's
/// bytes check: the frame's own source MAC may be another), addresses and ports
/// swapped, RST|ACK, the segment's ACK as sequence (0 without ACK), its
/// sequence plus its length (SYN and FIN one each) acknowledged, window 0,
/// no payload, both checksums valid; never a RST for a RST.
fn reset(input: &[u8], out: &[u8]) -> Result<(), String> {
    let Some((ihl, tot, 6, l4)) = layout(input) else {
        return Err("reflected an IPv4 packet that is not a well-formed TCP segment".into());
    };
    let flags = input[l4 + 13];
    if flags & 0x04 != 0 {
        return Err("answered a RST with a RST".into());
    }
    if out.len() != 54 || out[6..12] != GATEWAY_MAC || out[12..14] != [0x08, 0x00] {
        return Err("RST: wrong length or Ethernet header".into());
    }
    let be32 = |f: &[u8], o: usize| u32::from_be_bytes([f[o], f[o + 1], f[o + 2], f[o + 3]]);
    let len = (tot - ihl - (input[l4 + 12] >> 4) as usize * 4) as u32
        + u32::from(flags & 0x02 != 0)
        + u32::from(flags & 0x01 != 0);
    let seq = if flags & 0x10 != 0 {
        be32(input, l4 + 8)
    } else {
        0
    };
    let ack = be32(input, l4 + 4).wrapping_add(len);
    let swapped = out[26..30] == input[30..34]
        && out[30..34] == input[26..30]
        && out[34..36] == input[l4 + 2..l4 + 4]
        && out[36..38] == input[l4..l4 + 2];
    if !swapped || out[23] != 6 || be16(out, 16) != 40 || out[14] != 0x45 {
        return Err("RST: addresses, ports or IP header not those of the reply".into());
    }
    if be32(out, 38) != seq
        || be32(out, 42) != ack
        || out[46..48] != [0x50, 0x14]
        || out[48..50] != [0, 0]
    {
        return Err(format!(
            "RST: sequence {} / ack {}, want {seq} / {ack}",
            be32(out, 38),
            be32(out, 42)
        ));
    }
    let ip = csum::fold(csum::sum(&out[14..34]));
    let tcp = csum::fold(csum::sum(&out[26..34]) + 6 + 20 + csum::sum(&out[34..54]));
    if (ip, tcp) != (0xffff, 0xffff) {
        return Err("RST: bad checksum".into());
    }
    Ok(())
}

/// A packet to or from the lab's internet (ports from `enis.len()` on):
/// only through the internet gateway's 1:1 NAT, ports kept: an ENI's
/// private address leaves as its public one, a public address arrives as
/// its ENI's private one; or through a NAT gateway of the ENI's VPC: out
/// as its Elastic IP with a source port (echo: identifier) of its pool and
/// the destination port kept, back from its Elastic IP to the ENI. A
/// packet with no ports of its own (`ports_in` empty: an ICMP error, whose
/// quote the residuals check, or another protocol) leaves from the Elastic
/// IP with nothing of the pool to show.
fn internet(
    topo: &Topology,
    (from, to): (usize, usize),
    (src, dst): (Ipv4Addr, Ipv4Addr),
    (osrc, odst): (Ipv4Addr, Ipv4Addr),
    (ports_in, ports_out): (&[u8], &[u8]),
) -> Result<(), String> {
    let n = topo.enis.len();
    let same_ports = ports_in == ports_out;
    let public = |e: usize| topo.internet.public_ip_of(e);
    let nat_of = |e: usize, eip: Ipv4Addr| {
        topo.internet
            .nat_gateways
            .iter()
            .find(|g| g.elastic_ip == eip && topo.subnets[g.subnet].vpc == topo.eni_vpc(e))
    };
    let in_pool = |g: &dataplane::model::NatGateway| {
        ports_out.len() >= 2
            && (g.ports.0..=g.ports.1).contains(&u16::from_be_bytes([ports_out[0], ports_out[1]]))
            && ports_out[2..] == ports_in[2..]
    };
    let ok = match (from >= n, to >= n) {
        (false, true) => {
            src == topo.enis[from].ip
                && odst == dst
                && ((same_ports && public(from) == Some(osrc))
                    || nat_of(from, osrc).is_some_and(|g| ports_in.is_empty() || in_pool(g)))
        }
        (true, false) => {
            osrc == src && ((same_ports && public(to) == Some(dst)) || nat_of(to, dst).is_some())
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "port {from} -> port {to}: {src}->{dst} left as {osrc}->{odst}, which no internet \
             gateway or NAT gateway translation explains"
        ))
    }
}

/// An ICMP error's layout: (outer IHL, total length, ICMP offset, quoted
/// IPv4 offset and IHL, quoted protocol, quoted L4 offset), if the frame is
/// one with a quoted IPv4 header.
fn error_layout(f: &[u8]) -> Option<(usize, usize, usize, usize, usize, u8, usize)> {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[14] >> 4 != 4 || f[23] != 1 {
        return None;
    }
    let ihl = (f[14] & 15) as usize * 4;
    let tot = be16(f, 16);
    let l4 = 14 + ihl;
    if ihl < 20 || 14 + tot > f.len() || tot < ihl + 8 + 20 || ![3, 11, 12].contains(&f[l4]) {
        return None;
    }
    let q = l4 + 8;
    let qihl = (f[q] & 15) as usize * 4;
    (qihl >= 20 && q + qihl <= 14 + tot).then_some((ihl, tot, l4, q, qihl, f[q + 9], q + qihl))
}

/// What forwarding may write in a frame: the byte ranges it owns, the
/// range of the ports the flow's identity takes, and the checksum
/// residuals it must keep.
type Owned = (
    Vec<std::ops::Range<usize>>,
    std::ops::Range<usize>,
    Vec<u32>,
);

/// A fragment of a UDP datagram (a NAT gateway forwards them, RFC 791):
/// the first owns what an unfragmented datagram's header would, and its
/// checksum covers the whole datagram, so the residual over the part the
/// fragment holds (pseudo-header with the UDP length field) must stay; a
/// later one owns only its addresses and the IPv4 checksum.
fn udp_fragment(f: &[u8]) -> Option<Owned> {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[14] >> 4 != 4 || f[23] != 17 {
        return None;
    }
    let frags = be16(f, 20);
    let (ihl, tot) = ((f[14] & 15) as usize * 4, be16(f, 16));
    if frags & 0x3fff == 0 || ihl < 20 || tot < ihl || 14 + tot > f.len() {
        return None;
    }
    let ip = csum::sum(&f[14..14 + ihl]) % 0xffff;
    let l4 = 14 + ihl;
    if frags & 0x1fff != 0 {
        let addrs = 24..34;
        return Some((vec![addrs], 0..0, vec![ip, u32::MAX]));
    }
    if tot - ihl < 8 {
        return None;
    }
    let l4_res = if f[l4 + 6] == 0 && f[l4 + 7] == 0 {
        u32::MAX
    } else {
        let pseudo = csum::sum(&f[26..34]) + 17 + be16(f, l4 + 4) as u32;
        (pseudo + csum::sum(&f[l4..14 + tot])) % 0xffff
    };
    Some((
        vec![24..34, l4..l4 + 4, l4 + 6..l4 + 8],
        l4..l4 + 4,
        vec![ip, l4_res],
    ))
}

/// The bytes forwarding owns in `f`, and the checksum residuals it must
/// keep; `None`: not a packet the fabric may rewrite.
fn owned_and_residuals(f: &[u8]) -> Option<Owned> {
    if let Some(lay @ (_, _, proto, l4)) = layout(f) {
        if !matches!(proto, 1 | 6 | 17) {
            // Another protocol (GRE, ESP): only the MACs, the addresses and
            // the IPv4 checksum; no header past IPv4's is owned.
            let (ip, _) = residuals(f, lay);
            let addrs = 24..34;
            return Some((vec![addrs], 0..0, vec![ip, u32::MAX]));
        }
        let csum_off = l4
            + match proto {
                6 => 16,
                17 => 6,
                _ => 2,
            };
        let ports = if proto == 1 {
            l4 + 4..l4 + 6
        } else {
            l4..l4 + 4
        };
        let (ip, l4r) = residuals(f, lay);
        let res = vec![ip, l4r.unwrap_or(u32::MAX)];
        return Some((
            vec![24..34, ports.clone(), csum_off..csum_off + 2],
            ports,
            res,
        ));
    }
    if let Some(frag) = udp_fragment(f) {
        return Some(frag);
    }
    let (ihl, tot, l4, q, qihl, qproto, ql4) = error_layout(f)?;
    // The outer header, the ICMP checksum, the quoted header's checksum and
    // addresses, the quoted ports (echo: identifier) and L4 checksum.
    let mut owned = vec![24..34, l4 + 2..l4 + 4, q + 10..q + 20];
    match qproto {
        6 => owned.extend([ql4..ql4 + 4, ql4 + 16..ql4 + 18]),
        17 => owned.push(ql4..ql4 + 8),
        1 => owned.push(ql4 + 2..ql4 + 6),
        _ => {}
    }
    let res = vec![
        csum::sum(&f[14..14 + ihl]) % 0xffff,
        csum::sum(&f[l4..14 + tot]) % 0xffff,
        csum::sum(&f[q..q + qihl]) % 0xffff,
    ];
    Some((owned, 0..0, res))
}

fn forward(topo: &Topology, from: Option<usize>, input: &[u8], out: &[u8]) -> Result<(), String> {
    let Some(from) = from else {
        return Err("forwarded a frame from an unknown interface".into());
    };
    let Some((owned, ports, before)) = owned_and_residuals(input) else {
        return Err(
            "forwarded a frame that is not a well-formed tracked IPv4 packet or ICMP error".into(),
        );
    };
    if out.len() != input.len() {
        return Err(format!("length changed: {} -> {}", input.len(), out.len()));
    }
    for i in 12..input.len() {
        if !owned.iter().any(|r| r.contains(&i)) && input[i] != out[i] {
            return Err(format!(
                "byte {i} changed: {:#04x} -> {:#04x}",
                input[i], out[i]
            ));
        }
    }
    let after = owned_and_residuals(out).map(|o| o.2);
    if Some(&before) != after.as_ref() {
        return Err(format!(
            "checksum residuals changed: {before:?} -> {after:?} (0 = valid)"
        ));
    }
    if out[6..12] != GATEWAY_MAC {
        return Err("forwarded frame not sent from the router's MAC".into());
    }
    let n = topo.enis.len();
    let Some(to) = topo
        .enis
        .iter()
        .map(|e| e.mac)
        .chain(topo.internet.hosts.iter().map(|h| h.mac))
        .position(|m| m[..] == out[..6])
    else {
        return Err(format!("forwarded to an unknown MAC {:02x?}", &out[..6]));
    };
    let (src, dst) = (addr(input, 26), addr(input, 30));
    let (osrc, odst) = (addr(out, 26), addr(out, 30));
    let port_ip = |p: usize| match topo.enis.get(p) {
        Some(e) => e.ip,
        None => topo.internet.hosts[p - n].ip,
    };
    if odst != port_ip(to) {
        return Err(format!(
            "delivered to port {to} ({}) with destination {odst}",
            port_ip(to)
        ));
    }
    if from >= n || to >= n {
        return internet(
            topo,
            (from, to),
            (src, dst),
            (osrc, odst),
            (&input[ports.clone()], &out[ports]),
        );
    }
    // Isolation.
    let (sv, dv) = (topo.eni_vpc(from), topo.eni_vpc(to));
    let translated = (osrc, odst) != (src, dst) || out[ports.clone()] != input[ports.clone()];
    // Two VPCs an active peering connection joins see each other's
    // addresses (issue 17: peering).
    let reach = |a: usize, b: usize| a == b || topo.actively_peered(a, b);
    if !translated {
        return if reach(sv, dv) {
            Ok(())
        } else {
            Err(format!("crossed from VPC {sv} to {dv} untranslated"))
        };
    }
    let s = &topo.services;
    let available = |ep: &dataplane::model::VpcEndpoint| ep.state == EndpointState::Available;
    // An available endpoint's ENI at (`ep_vpc`, an `ep_ip`) whose service's
    // NLB has a node at (`nlb_vpc`, an `nlb_ip`), and `more` of that NLB.
    let connection = |ep_vpc, ep_ip, nlb_vpc, nlb_ip, more: &dyn Fn(&Nlb) -> bool| {
        s.vpc_endpoints.iter().any(|ep| {
            let nlb = &s.nlbs[s.endpoint_services[ep.service].nlb];
            available(ep)
                && reach(ep_vpc, ep.vpc)
                && ep.enis.iter().any(|e| e.ip == ep_ip)
                && nlb.vpc == nlb_vpc
                && nlb.nodes.iter().any(|n| n.ip == nlb_ip)
                && more(nlb)
        })
    };
    // Consumer -> endpoint ENI -> NLB node -> target.
    let outbound = connection(sv, dst, dv, osrc, &|nlb| {
        nlb.listeners.iter().any(|l| {
            s.target_groups[l.target_group]
                .targets
                .iter()
                .any(|t| t.eni == to)
        })
    });
    // Target -> NLB node -> endpoint ENI -> consumer.
    let inbound = connection(dv, osrc, sv, dst, &|_| true);
    if outbound || inbound {
        Ok(())
    } else {
        Err(format!(
            "translated {src}->{dst} (VPC {sv}) to {osrc}->{odst} (VPC {dv}) without a PrivateLink connection that explains it"
        ))
    }
}
