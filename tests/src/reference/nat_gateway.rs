//! Rule 13: public NAT gateways, stated from AWS's rules (VPC user guide,
//! "NAT gateways"): a route to a NAT gateway sends a destination no ENI
//! holds to the gateway, after the sender's egress groups, out of the
//! sender's subnet and into the gateway's (their ACLs; the gateway has no
//! groups). The gateway carries TCP, UDP and ICMP only (any other protocol:
//! `unsupported_protocol`). The gateway's own subnet must route the destination to the
//! internet gateway (else `no_route`); the packet leaves the gateway's
//! subnet (its outbound ACL) for the internet host with that address
//! (none: `internet_no_host`), source-NATed to the gateway's Elastic IP and
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
use dataplane_common::{
    Counter, DropReason, GATEWAY_MAC, NAT_PORT_TRIES, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};

use super::{
    flow_log::{logged_flags, WindowFlags},
    internet::{INTERNET, NO_SUBNET},
    nat_start, wire, Addrs, Direction, Ipv4, Model, Outcome, Refused, Tuple,
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

    /// CloudWatch's counters: a packet of `len` frame bytes forwarded along
    /// `d`, in and out of its gateway (if any).
    pub(super) fn nat_forwarded(&mut self, d: &Direction, len: u64) {
        let Some(g) = d.nat else { return };
        let c = &mut self.counters.nat_gateways[g];
        if d.reply {
            c.packets_in_from_destination += 1;
            c.bytes_in_from_destination += len;
            c.packets_out_to_source += 1;
            c.bytes_out_to_source += len;
        } else {
            c.packets_in_from_source += 1;
            c.bytes_in_from_source += len;
            c.packets_out_to_destination += 1;
            c.bytes_out_to_destination += len;
        }
    }

    /// A packet of `len` frame bytes that reached gateway `g` (from the
    /// destination's side: `reply`) and that it dropped.
    pub(super) fn nat_dropped(&mut self, g: usize, reply: bool, len: u64) {
        let c = &mut self.counters.nat_gateways[g];
        if reply {
            c.packets_in_from_destination += 1;
            c.bytes_in_from_destination += len;
        } else {
            c.packets_in_from_source += 1;
            c.bytes_in_from_source += len;
        }
        c.packets_dropped += 1;
    }

    /// A TCP segment other than a SYN from ENI `eni` through gateway `g`
    /// with no flow: the gateway holds no connection for it (timed out
    /// after 350 s idle, or never opened). A RST is dropped; anything else
    /// is answered with a RST from the destination (RFC 9293, "Reset
    /// Generation": the segment's ACK as sequence, else 0; its sequence
    /// plus its length, SYN and FIN one each, acknowledged; RST|ACK, window
    /// 0, no payload), which meets the ACLs out of the gateway's subnet and
    /// into the sender's as a reply would, and goes back to the sender.
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
        Ok(Outcome {
            verdict: super::Verdict::Reflect,
            out,
            met_nacl: false,
            met_route: None,
            untracked: false,
            icmp_typed: false,
        })
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
        key: Tuple,
        p: &Ipv4,
        frame: &[u8],
        reopen: bool,
    ) -> Result<Outcome, DropReason> {
        let sender = self.topo.enis[eni].security_groups.clone();
        if !self.groups_allow(&sender, false, p.proto, p.dst, Self::sg_value(p, p.dport)) {
            return Err(DropReason::EgressSgDeny);
        }
        let n = self.topo.internet.nat_gateways[g].clone();
        let from = self.topo.enis[eni].subnet;
        let icmp = Self::icmp_of(frame, p);
        self.nacl_out((from, n.subnet), p, p.dst, p.dport, icmp)?;
        self.nacl_in((from, n.subnet), p, p.src, p.dport, icmp)?;
        // The packet reached the gateway: from here on it counts as the
        // gateway's, sent on or dropped by it.
        if p.proto == PROTO_TCP && p.tcp_flags & (wire::TCP_SYN | wire::TCP_ACK) == wire::TCP_SYN {
            self.counters.nat_gateways[g].connection_attempts += 1;
        }
        let r = self.at_nat_gateway(eni, g, key, p, frame, reopen);
        if let Err(reason) = r {
            self.nat_dropped(g, false, frame.len() as u64);
            if reason == DropReason::NatGatewayErrorPortAllocation {
                self.counters.nat_gateways[g].error_port_allocation += 1;
            }
        }
        r
    }

    /// The gateway's part of [`Self::out_through_nat_gateway`].
    fn at_nat_gateway(
        &mut self,
        eni: usize,
        g: usize,
        key: Tuple,
        p: &Ipv4,
        frame: &[u8],
        reopen: bool,
    ) -> Result<Outcome, DropReason> {
        let n = self.topo.internet.nat_gateways[g].clone();
        let from = self.topo.enis[eni].subnet;
        if ![PROTO_TCP, PROTO_UDP, PROTO_ICMP].contains(&p.proto) {
            return Err(DropReason::UnsupportedProtocol);
        }
        if p.proto == PROTO_TCP && p.tcp_flags & (wire::TCP_SYN | wire::TCP_ACK) != wire::TCP_SYN {
            return self.nat_no_connection(eni, g, p, frame);
        }
        let icmp = Self::icmp_of(frame, p);
        let (table, best) = self.best_route(n.subnet, p.dst);
        let public = matches!(
            best,
            Some((_, Some(i))) if matches!(table.routes[i].target, RouteTarget::InternetGateway(_))
        );
        if !public {
            return Err(DropReason::NoRoute);
        }
        self.nacl_out((n.subnet, NO_SUBNET), p, p.dst, p.dport, icmp)?;
        let dst = Ipv4Addr::from(p.dst);
        let k = self
            .topo
            .internet
            .hosts
            .iter()
            .position(|h| h.ip == dst)
            .ok_or(DropReason::InternetNoHost)?;
        let state = Self::initial_state(p);
        let rev = Direction {
            reply: true,
            tcp_flags: WindowFlags::first(self.window, 0),
            state,
            to: eni,
            out_vpc: key.vpc,
            out: key.addrs.reversed(),
            stats: None,
            nat: Some(g),
            cross: [(NO_SUBNET, n.subnet), (n.subnet, from)],
            echo_requests: !Self::echo_request(p),
            untracked_sender: false,
            untracked_receiver: false,
        };
        let is_icmp = p.proto == PROTO_ICMP;
        let (lo, hi) = n.ports;
        let range = u32::from(hi) - u32::from(lo) + 1;
        let start = nat_start(p, range);
        let mut bound = None;
        for i in 0..NAT_PORT_TRIES.min(range) {
            let nat_port = (u32::from(lo) + (start + i) % range) as u16;
            let reply_key = Tuple {
                vpc: INTERNET,
                proto: p.proto,
                echo_reply: Self::echo_request(p),
                addrs: Addrs {
                    src: p.dst,
                    dst: n.elastic_ip.octets(),
                    // Echo has one identifier for both "ports".
                    sport: if is_icmp { nat_port } else { p.dport },
                    dport: nat_port,
                },
            };
            match self.insert(reply_key, rev, false) {
                Ok(()) => {
                    bound = Some(reply_key);
                    break;
                }
                Err(Refused::Taken) => {}
                Err(Refused::Full) => return Err(DropReason::FlowTableFull),
            }
        }
        let Some(reply_key) = bound else {
            return Err(DropReason::NatGatewayErrorPortAllocation);
        };
        let fwd = Direction {
            reply: false,
            tcp_flags: WindowFlags::first(self.window, logged_flags(p)),
            state,
            to: self.topo.enis.len() + k,
            out_vpc: INTERNET,
            out: reply_key.addrs.reversed(),
            stats: None,
            nat: Some(g),
            cross: [(from, n.subnet), (n.subnet, NO_SUBNET)],
            echo_requests: Self::echo_request(p),
            untracked_sender: false,
            untracked_receiver: false,
        };
        match self.insert(key, fwd, reopen) {
            Ok(()) => {}
            Err(Refused::Taken) => {
                self.flows.remove(&reply_key);
                let theirs = self.flows[&key];
                return Ok(self.forward(frame, p, &theirs));
            }
            Err(Refused::Full) => {
                self.flows.remove(&reply_key);
                return Err(DropReason::FlowTableFull);
            }
        }
        self.count(Counter::FlowCreated);
        Ok(self.forward(frame, p, &fwd))
    }
}
