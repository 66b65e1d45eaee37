//! Rule 13: public NAT gateways, stated from AWS's rules (VPC user guide,
//! "NAT gateways"): a route to a NAT gateway sends a destination no ENI
//! holds to the gateway, after the sender's egress groups, out of the
//! sender's subnet and into the gateway's (their ACLs; the gateway has no
//! groups). The gateway carries TCP, UDP and ICMP only (any other protocol:
//! `unsupported_protocol`). The gateway's own subnet must route the destination to the
//! internet gateway (else `no_route`); the packet leaves the gateway's
//! subnet (its outbound ACL) for the internet host with that address
//! (none: an ENI's public IP is reached back through the internet gateway,
//! `nat_hairpin`; a NAT gateway's Elastic IP is `nat_gateway_hairpin`;
//! anything else `internet_no_host`), source-NATed to the gateway's Elastic IP and
//! a port of its pool: the first in probe order (from `nat_lo +
//! hash % range`, at most `NAT_PORT_TRIES`) whose reply tuple no live flow
//! holds; none: `nat_gateway_error_port_allocation`. A first packet from
//! the internet to an Elastic IP is `nat_gateway_outside_initiated`.
//!
//! The gateway's CloudWatch metrics (`NatGatewayCounters`): a packet that
//! reached the gateway (past the sender's groups and the ACLs into the
//! gateway's subnet) counts in from the source, and out to the
//! destination when forwarded, else `PacketsDropCount` (and
//! `ErrorPortAllocation` for want of a port); a TCP SYN without ACK that
//! reached it is a connection attempt; every packet forwarded along a
//! flow of the gateway counts in and out by its direction; the SYN-ACK
//! that establishes one counts `ConnectionEstablishedCount`; a first
//! packet to an Elastic IP counts in from the destination, dropped.
//!
//! A TCP segment other than a SYN with no flow reaches the gateway with no
//! connection behind it (timed out: the agent sweeps a gateway's flows
//! after 350 s idle): a RST is dropped (`nat_gateway_no_connection`),
//! anything else answered with a RST (`nat_no_connection`).

use std::net::Ipv4Addr;

use dataplane::model::RouteTarget;
use dataplane_common::{Counter, DropReason, GATEWAY_MAC, PROTO_ICMP, PROTO_TCP, PROTO_UDP};

use super::create::Unbound;
use super::{
    internet::{INTERNET, NO_SUBNET},
    wire, Addrs, Direction, First, Ipv4, Model, Outcome, Tuple,
};

impl Model {
    /// The NAT gateway whose Elastic IP `dst` is, if any.
    pub(super) fn elastic_ip_gateway(&self, dst: [u8; 4]) -> Option<usize> {
        let dst = Ipv4Addr::from(dst);
        self.topo
            .internet
            .nat_gateways
            .iter()
            .position(|n| n.elastic_ip == dst)
    }

    /// The ENI whose public IP is `dst` (the internet gateway's 1:1 NAT).
    pub(super) fn public_ip_eni(&self, dst: [u8; 4]) -> Option<usize> {
        let dst = Ipv4Addr::from(dst);
        self.topo
            .internet
            .public_ips
            .iter()
            .find(|x| x.ip == dst)
            .map(|x| x.eni)
    }

    /// CloudWatch's counters: a packet of `len` frame bytes forwarded along
    /// `d`, in and out of its gateway (if any).
    pub(super) fn nat_forwarded(&mut self, d: &Direction, len: u64) {
        let Some(g) = d.nat else { return };
        let c = self.nat_in(g, d.reply, len);
        if d.reply {
            c.packets_out_to_source += 1;
            c.bytes_out_to_source += len;
        } else {
            c.packets_out_to_destination += 1;
            c.bytes_out_to_destination += len;
        }
    }

    /// A packet of `len` frame bytes that reached gateway `g` (from the
    /// destination's side: `reply`) and that it dropped.
    pub(super) fn nat_dropped(&mut self, g: usize, reply: bool, len: u64) {
        self.nat_in(g, reply, len).packets_dropped += 1;
    }

    /// Counts a packet of `len` frame bytes into gateway `g` (from the
    /// destination's side: `reply`); returns the gateway's counters.
    fn nat_in(
        &mut self,
        g: usize,
        reply: bool,
        len: u64,
    ) -> &mut dataplane_common::NatGatewayCounters {
        let c = &mut self.counters.nat_gateways[g];
        if reply {
            c.packets_in_from_destination += 1;
            c.bytes_in_from_destination += len;
        } else {
            c.packets_in_from_source += 1;
            c.bytes_in_from_source += len;
        }
        c
    }

    /// A TCP segment other than a SYN from ENI `eni` through gateway `g`
    /// with no flow: the gateway holds no connection for it (timed out
    /// after 350 s idle, or never opened). A RST is dropped; anything else
    /// is answered with a RST from the destination (RFC 9293, "Reset
    /// Generation": the segment's ACK as sequence, else 0; its sequence
    /// plus its length, SYN and FIN one each, acknowledged; RST|ACK, window
    /// 0, no payload), which meets the ACLs out of the gateway's subnet and
    /// into the sender's as a reply would, and goes back to the sender: its
    /// groups admit it as a response (a NAT gateway's connections are
    /// automatically tracked, EC2 user guide), whatever their inbound rules.
    fn nat_no_connection(
        &mut self,
        eni: usize,
        g: usize,
        p: &Ipv4,
        frame: &[u8],
    ) -> Result<Outcome, DropReason> {
        if p.tcp_flags & wire::TCP_RST != 0 {
            return Err(DropReason::NatGatewayNoConnection);
        }
        let gw = self.topo.internet.nat_gateways[g].subnet;
        let to = self.topo.enis[eni].subnet;
        self.nacl_out((gw, to), p, p.src, p.sport, (0, 0))?;
        self.nacl_in((gw, to), p, p.dst, p.sport, (0, 0))?;
        let l4 = &frame[p.l4..];
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let payload = p
            .tot_len
            .saturating_sub(p.ihl + usize::from(l4[12] >> 4) * 4) as u32;
        let counted = u32::from(p.tcp_flags & wire::TCP_SYN != 0)
            + u32::from(p.tcp_flags & wire::TCP_FIN != 0);
        let seq = if p.tcp_flags & wire::TCP_ACK != 0 {
            be32(&l4[8..12])
        } else {
            0
        };
        let ack = be32(&l4[4..8]).wrapping_add(payload + counted);
        let b = etherparse::PacketBuilder::ethernet2(GATEWAY_MAC, self.port_mac(eni))
            .ipv4(p.dst, p.src, 64)
            .tcp(p.dport, p.sport, seq, 0)
            .rst()
            .ack(ack);
        let mut out = Vec::new();
        b.write(&mut out, &[]).expect("writing to a Vec");
        self.count(Counter::NatGatewayRstSent);
        self.nat_dropped(g, false, frame.len() as u64);
        let c = &mut self.counters.nat_gateways[g];
        c.packets_out_to_source += 1;
        c.bytes_out_to_source += out.len() as u64;
        Ok(Outcome::new(super::Verdict::Reflect, out))
    }

    /// The SYN-ACK of a connection along `d` came back.
    pub(super) fn nat_established(&mut self, d: &Direction) {
        if let Some(g) = d.nat {
            self.counters.nat_gateways[g].connections_established += 1;
        }
    }

    /// A first packet from ENI `eni` that its table routed to NAT gateway
    /// `g`.
    pub(super) fn out_through_nat_gateway(
        &mut self,
        eni: usize,
        g: usize,
        first: First<'_>,
    ) -> Result<Outcome, DropReason> {
        let First(_, p, frame, _) = first;
        let (from, icmp) = self.leaving(eni, p, frame)?;
        let n = self.topo.internet.nat_gateways[g].clone();
        self.nacl_out((from, n.subnet), p, p.dst, p.dport, icmp)?;
        self.nacl_in((from, n.subnet), p, p.src, p.dport, icmp)?;
        // The packet reached the gateway: from here on it counts as the
        // gateway's, sent on or dropped by it.
        if p.proto == PROTO_TCP && p.tcp_flags & (wire::TCP_SYN | wire::TCP_ACK) == wire::TCP_SYN {
            self.counters.nat_gateways[g].connection_attempts += 1;
        }
        let r = self.at_nat_gateway(eni, g, first);
        let len = frame.len() as u64;
        match r {
            Ok(o) => Ok(o),
            // What the gateway sent on and its subnet's outbound ACL, or a
            // hairpin's receiver, refused: in and out, not PacketsDropCount
            // ("packets dropped by the NAT gateway").
            Err((reason, true)) => {
                let c = self.nat_in(g, false, len);
                c.packets_out_to_destination += 1;
                c.bytes_out_to_destination += len;
                Err(reason)
            }
            Err((reason, false)) => {
                self.nat_dropped(g, false, len);
                if reason == DropReason::NatGatewayErrorPortAllocation {
                    self.counters.nat_gateways[g].error_port_allocation += 1;
                }
                Err(reason)
            }
        }
    }

    /// The gateway's part of [`Self::out_through_nat_gateway`].
    fn at_nat_gateway(
        &mut self,
        eni: usize,
        g: usize,
        first: First<'_>,
    ) -> Result<Outcome, (DropReason, bool)> {
        let First(key, p, frame, reopen) = first;
        let n = self.topo.internet.nat_gateways[g].clone();
        let from = self.topo.enis[eni].subnet;
        if ![PROTO_TCP, PROTO_UDP, PROTO_ICMP].contains(&p.proto) {
            return Err(own(DropReason::UnsupportedProtocol));
        }
        if p.proto == PROTO_TCP && p.tcp_flags & (wire::TCP_SYN | wire::TCP_ACK) != wire::TCP_SYN {
            return self.nat_no_connection(eni, g, p, frame).map_err(own);
        }
        let icmp = Self::icmp_of(frame, p);
        let (table, best) = self.best_route(n.subnet, p.dst);
        let public = matches!(
            best,
            Some((_, Some(i))) if matches!(table.routes[i].target, RouteTarget::InternetGateway(_))
        );
        if !public {
            return Err(own(DropReason::NoRoute));
        }
        self.nacl_out((n.subnet, NO_SUBNET), p, p.dst, p.dport, icmp)
            .map_err(past)?;
        // The far end: an internet host, or through the internet gateway
        // back into the lab (`nat_hairpin`).
        let far = match self.internet_host(p.dst) {
            Ok(k) => (self.topo.enis.len() + k, INTERNET, p.dst, NO_SUBNET),
            Err(_) => self.nat_hairpin(&n, p, icmp)?,
        };
        let (host, far_vpc, far_ip, far_subnet) = far;
        let rev = Direction {
            nat: Some(g),
            ..Direction::reply(p, &key, eni, [(far_subnet, n.subnet), (n.subnet, from)])
        };
        let is_icmp = p.proto == PROTO_ICMP;
        let reply_at = |nat_port| Tuple {
            vpc: far_vpc,
            proto: p.proto,
            echo_reply: Self::echo_request(p),
            addrs: Addrs {
                src: far_ip,
                dst: n.elastic_ip.octets(),
                // Echo has one identifier for both "ports".
                sport: if is_icmp { nat_port } else { p.dport },
                dport: nat_port,
            },
        };
        let cross = [(from, n.subnet), (n.subnet, far_subnet)];
        let fwd = |reply: &Tuple| Direction {
            nat: Some(g),
            ..Direction::first(p, host, far_vpc, reply.addrs.reversed(), cross)
        };
        let created = self.bind_nat_port(key, rev, fwd, n.ports, reply_at, (p, frame), reopen);
        created.map_err(|unbound| {
            own(match unbound {
                Unbound::Full => DropReason::FlowTableFull,
                Unbound::Exhausted => DropReason::NatGatewayErrorPortAllocation,
            })
        })
    }
    /// No internet host holds `p.dst`: an address of the lab's own behind
    /// an internet gateway. An ENI's public IP: the packet enters the ENI's
    /// VPC from the internet, from the gateway's Elastic IP (as
    /// [`Self::in_from_internet`]: the ENI's table must route the Elastic
    /// IP to its internet gateway, its ingress groups and its subnet's
    /// inbound ACL judge the Elastic IP); the far end (port, VPC, private
    /// address, subnet). A NAT gateway's Elastic IP (its own included):
    /// back in at a gateway with no connection for it,
    /// `nat_gateway_hairpin`. Anything else: `internet_no_host`.
    fn nat_hairpin(
        &mut self,
        n: &dataplane::model::NatGateway,
        p: &Ipv4,
        icmp: (u8, u8),
    ) -> Result<Far, (DropReason, bool)> {
        if self.elastic_ip_gateway(p.dst).is_some() {
            return Err(own(DropReason::NatGatewayHairpin));
        }
        let eni = self
            .public_ip_eni(p.dst)
            .ok_or(own(DropReason::InternetNoHost))?;
        // From here on the gateway has sent the packet: the receiver's side
        // refuses it (`past`).
        let eip = n.elastic_ip.octets();
        if self.route_table(eni, eip).map_err(past)? != super::Routed::Internet {
            return Err(past(DropReason::NoRoute));
        }
        let receiver = self.topo.enis[eni].security_groups.clone();
        if !self.groups_allow(&receiver, true, p.proto, eip, Self::sg_value(p, p.dport)) {
            return Err(past(DropReason::IngressSgDeny));
        }
        let to = self.topo.enis[eni].subnet;
        self.nacl_in((NO_SUBNET, to), p, eip, p.dport, icmp)
            .map_err(past)?;
        let e = &self.topo.enis[eni];
        Ok((eni, self.topo.eni_vpc(eni), e.ip.octets(), to))
    }
}

/// Where a gateway sends a flow: (port, VPC, address, subnet) of an
/// internet host or of a hairpin's ENI.
type Far = (usize, usize, [u8; 4], usize);

/// The gateway's own drop (`PacketsDropCount`).
fn own(reason: DropReason) -> (DropReason, bool) {
    (reason, false)
}

/// A drop past the gateway, of what it sent on: its subnet's outbound ACL,
/// or a hairpin's receiver (its table, groups, inbound ACL).
fn past(reason: DropReason) -> (DropReason, bool) {
    (reason, true)
}
