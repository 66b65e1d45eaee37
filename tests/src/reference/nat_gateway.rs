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

use std::net::Ipv4Addr;

use dataplane::model::RouteTarget;
use dataplane_common::{Counter, DropReason, NAT_PORT_TRIES, PROTO_ICMP, PROTO_TCP, PROTO_UDP};

use super::{
    flow_log::logged_flags,
    internet::{INTERNET, NO_SUBNET},
    nat_start, Addrs, Direction, Ipv4, Model, Outcome, Refused, Tuple,
};

impl Model {
    /// Is `dst` a NAT gateway's Elastic IP?
    pub(super) fn is_elastic_ip(&self, dst: [u8; 4]) -> bool {
        let dst = Ipv4Addr::from(dst);
        self.topo
            .internet
            .nat_gateways
            .iter()
            .any(|n| n.elastic_ip == dst)
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
        if ![PROTO_TCP, PROTO_UDP, PROTO_ICMP].contains(&p.proto) {
            return Err(DropReason::UnsupportedProtocol);
        }
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
            tcp_flags: 0,
            state,
            to: eni,
            out_vpc: key.vpc,
            out: key.addrs.reversed(),
            stats: None,
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
            tcp_flags: logged_flags(p),
            state,
            to: self.topo.enis.len() + k,
            out_vpc: INTERNET,
            out: reply_key.addrs.reversed(),
            stats: None,
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
