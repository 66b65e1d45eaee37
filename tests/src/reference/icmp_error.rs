//! Rule 9 of the model: ICMP errors (RFC 792: destination unreachable,
//! fragmentation needed included, time exceeded, parameter problem).
//!
//! An error is about the datagram it quotes, which its sender received: a
//! packet of a tracked flow as the fabric delivered it. It goes to that
//! datagram's sender, along the flow's direction that carries packets
//! there (the quote's addresses and ports, reversed, are that direction's
//! key), and is translated back as a NAT translates errors (RFC 5508 §4.2,
//! Linux's `nf_nat_icmp_reply_translation`): the quote becomes the datagram
//! as its sender sent it; the outer destination the sender; the outer
//! source, through a translation of sources (PrivateLink, VPC links), the
//! address the sender talked to. Every checksum keeps the residual it
//! arrived with (a valid one stays valid): the outer IPv4 header's, the
//! ICMP message's, the quoted IPv4 header's, and the quoted L4 checksum
//! where Linux's NAT updates it (TCP when the whole 20-byte header is
//! quoted, UDP unless it carries none, echo always). It meets the network
//! ACLs of the boundaries the direction crosses, with its type and code,
//! and the receiver's ingress groups. Anything else is dropped:
//! `icmp_error_bad_quote` for a quote that is no IPv4 datagram with 8 bytes
//! of its L4 header (a later fragment, an ICMP message other than echo),
//! `icmp_error_no_flow` for one no flow holds or not addressed to the
//! quoted datagram's sender.
//!
//! The lab's internet takes part like any port: an internet host's error
//! about a packet it received through the internet gateway (1:1 NAT) or a
//! NAT gateway goes back to the VPC host, the quote translated back to the
//! private address (and port); a VPC host's error about a packet from the
//! internet leaves from its public address (or the Elastic IP and the
//! gateway's port). An internet host has no security groups: an error to it
//! meets none (and the ACLs of the boundaries the flow crosses, as ever).

use dataplane_common::{Counter, DropReason, PROTO_ICMP, PROTO_TCP, PROTO_UDP};

use super::{
    wire::{
        self, addr, be16, repaired, residual, Cover, Ipv4, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, IP,
    },
    Addrs, Model, Outcome, Tuple, Verdict,
};

/// The quoted datagram.
struct Quote {
    /// Frame offsets of its IPv4 header and L4 header.
    ip: usize,
    ihl: usize,
    l4: usize,
    /// L4 bytes quoted (inside the error's total length).
    l4_len: usize,
    proto: u8,
    addrs: Addrs,
    /// The quote is an echo request.
    echo_request: bool,
}

fn quote(f: &[u8], p: &Ipv4) -> Result<Quote, DropReason> {
    let bad = DropReason::IcmpErrorBadQuote;
    let ip = p.l4 + 8;
    let end = IP + p.tot_len;
    if end < ip + 20 {
        return Err(bad);
    }
    let ihl = (f[ip] & 0x0f) as usize * 4;
    if f[ip] >> 4 != 4 || ihl < 20 || end < ip + ihl {
        return Err(bad);
    }
    // A later fragment has no L4 header.
    if be16(f, ip + 6) & 0x1fff != 0 {
        return Err(bad);
    }
    let l4 = ip + ihl;
    let proto = f[ip + 9];
    let mut q = Quote {
        ip,
        ihl,
        l4,
        l4_len: end - l4,
        proto,
        addrs: Addrs {
            src: addr(f, ip + 12),
            dst: addr(f, ip + 16),
            sport: 0,
            dport: 0,
        },
        echo_request: false,
    };
    if ![PROTO_TCP, PROTO_UDP, PROTO_ICMP].contains(&proto) {
        return Ok(q);
    }
    if q.l4_len < 8 {
        return Err(bad);
    }
    if proto == PROTO_ICMP {
        if f[l4] != ICMP_ECHO_REQUEST && f[l4] != ICMP_ECHO_REPLY {
            return Err(bad);
        }
        q.addrs.sport = be16(f, l4 + 4);
        q.addrs.dport = q.addrs.sport;
        q.echo_request = f[l4] == ICMP_ECHO_REQUEST;
    } else {
        q.addrs.sport = be16(f, l4);
        q.addrs.dport = be16(f, l4 + 2);
    }
    Ok(q)
}

/// `v`, the 16-bit checksum at `off`, adjusted so that the sum it guards
/// keeps its residual when the words `old` (summed) become `new` (RFC 1071:
/// the checksum absorbs the change); a UDP checksum never becomes 0.
fn adjusted(f: &[u8], off: usize, old: u64, new: u64, udp: bool) -> u16 {
    let field = u64::from(be16(f, off));
    let v = ((field + old % 0xffff + 0xffff - new % 0xffff) % 0xffff) as u16;
    if udp && v == 0 {
        0xffff
    } else {
        v
    }
}

fn put16(f: &mut [u8], off: usize, v: u16) {
    f[off..off + 2].copy_from_slice(&v.to_be_bytes());
}

impl Model {
    /// An ICMP error `p` (whose sender passed the source check) from ENI
    /// `eni`.
    pub(super) fn icmp_error(
        &mut self,
        eni: usize,
        frame: &[u8],
        p: &Ipv4,
    ) -> Result<Outcome, DropReason> {
        let q = quote(frame, p)?;
        if p.dst != q.addrs.src {
            return Err(DropReason::IcmpErrorNoFlow);
        }
        let key = Tuple {
            vpc: self.port_vpc(eni),
            proto: q.proto,
            addrs: q.addrs.reversed(),
            // The error travels the quoted packet's other direction: the
            // replies', if the quote is an echo request.
            echo_reply: q.proto == PROTO_ICMP && q.echo_request,
        };
        let Some(d) = self.flows.get(&key).copied() else {
            return Err(DropReason::IcmpErrorNoFlow);
        };
        let icmp = (frame[p.l4], frame[p.l4 + 1]);
        // Sources translated (PrivateLink, links): the error seems to come
        // from the address the receiver talked to.
        let out_src = if d.out.src != key.addrs.src {
            d.out.src
        } else {
            p.src
        };
        let out_dst = d.out.dst;
        let port = u16::from_be_bytes([icmp.0, icmp.1]);
        self.crossing(d.cross[0], p, p.src, p.dst, port, icmp)?;
        self.crossing(d.cross[1], p, d.out.src, d.out.dst, port, icmp)?;
        // A host of the lab's internet has no security groups.
        if !self.is_internet(d.to) {
            let receiver = self.topo.enis[d.to].security_groups.clone();
            if !self.groups_allow(&receiver, true, PROTO_ICMP, out_src, port) {
                return Err(DropReason::IngressSgDeny);
            }
        }
        let out = translate(
            frame,
            p,
            &q,
            &d.out.reversed(),
            out_src,
            out_dst,
            self.port_mac(d.to),
        );
        let len = frame.len() as u64;
        self.count(Counter::Forwarded);
        self.count(Counter::IcmpErrorForwarded);
        // Internet hosts count nowhere the agent reads.
        if let Some(c) = self.counters.enis.get_mut(d.to) {
            c.rx_packets += 1;
            c.rx_bytes += len;
        }
        Ok(Outcome::new(Verdict::Forward { eni: d.to }, out))
    }
}

/// The error with its quote rewritten to `sent` (the datagram as its sender
/// sent it) and its outer addresses to `out_src` -> `out_dst`, sent from the
/// router's MAC to `dst_mac`.
fn translate(
    f: &[u8],
    p: &Ipv4,
    q: &Quote,
    sent: &Addrs,
    out_src: [u8; 4],
    out_dst: [u8; 4],
    dst_mac: [u8; 6],
) -> Vec<u8> {
    let mut out = f.to_vec();
    out[0..6].copy_from_slice(&dst_mac);
    out[6..12].copy_from_slice(&dataplane_common::GATEWAY_MAC);
    let end = IP + p.tot_len;
    let icmp_res = residual(&Cover {
        runs: vec![&f[p.l4..end]],
        pseudo: Vec::new(),
    });
    let mut quote_changed = false;
    let qa = &q.addrs;
    let addr_words = |a: &Addrs| wire::words(&a.src) + wire::words(&a.dst);
    if sent.src != qa.src || sent.dst != qa.dst {
        let res = residual(&Cover {
            runs: vec![&f[q.ip..q.ip + q.ihl]],
            pseudo: Vec::new(),
        });
        out[q.ip + 12..q.ip + 16].copy_from_slice(&sent.src);
        out[q.ip + 16..q.ip + 20].copy_from_slice(&sent.dst);
        let v = repaired(
            &out,
            q.ip + 10,
            &Cover {
                runs: vec![&out[q.ip..q.ip + q.ihl]],
                pseudo: Vec::new(),
            },
            res,
            false,
        );
        put16(&mut out, q.ip + 10, v);
        quote_changed = true;
    }
    match q.proto {
        PROTO_TCP | PROTO_UDP => {
            let ports_changed = sent.sport != qa.sport || sent.dport != qa.dport;
            if ports_changed {
                put16(&mut out, q.l4, sent.sport);
                put16(&mut out, q.l4 + 2, sent.dport);
            }
            let (off, present) = if q.proto == PROTO_TCP {
                (q.l4 + 16, q.l4_len >= 20)
            } else {
                (q.l4 + 6, true)
            };
            let changed = quote_changed || ports_changed;
            let none = q.proto == PROTO_UDP && be16(f, off) == 0;
            if present && changed && !none {
                let old = addr_words(qa) + u64::from(qa.sport) + u64::from(qa.dport);
                let new = addr_words(sent) + u64::from(sent.sport) + u64::from(sent.dport);
                let v = adjusted(f, off, old, new, q.proto == PROTO_UDP);
                put16(&mut out, off, v);
            }
            quote_changed |= ports_changed;
        }
        PROTO_ICMP if sent.sport != qa.sport => {
            put16(&mut out, q.l4 + 4, sent.sport);
            let v = adjusted(
                f,
                q.l4 + 2,
                u64::from(qa.sport),
                u64::from(sent.sport),
                false,
            );
            put16(&mut out, q.l4 + 2, v);
            quote_changed = true;
        }
        _ => {}
    }
    if quote_changed {
        let v = repaired(
            &out,
            p.l4 + 2,
            &Cover {
                runs: vec![&out[p.l4..end]],
                pseudo: Vec::new(),
            },
            icmp_res,
            false,
        );
        put16(&mut out, p.l4 + 2, v);
    }
    if out_src != p.src || out_dst != p.dst {
        let res = residual(&Cover {
            runs: vec![&f[IP..IP + p.ihl]],
            pseudo: Vec::new(),
        });
        out[IP + 12..IP + 16].copy_from_slice(&out_src);
        out[IP + 16..IP + 20].copy_from_slice(&out_dst);
        let v = repaired(
            &out,
            IP + 10,
            &Cover {
                runs: vec![&out[IP..IP + p.ihl]],
                pseudo: Vec::new(),
            },
            res,
            false,
        );
        put16(&mut out, IP + 10, v);
    }
    out
}
