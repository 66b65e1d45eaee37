//! Rule 14: fragmented UDP through a NAT gateway (VPC user guide, "NAT
//! gateway basics": the gateway forwards fragmented UDP; fragmented TCP
//! and ICMP it drops, as `wire::parse` does). Stated from RFC 791 and AWS's
//! rule, not from the kernel:
//!
//! - A first fragment (offset 0, the UDP header in it) rides its flow like
//!   any packet if a NAT gateway translates that flow; with no flow, it
//!   starts one only if no ENI of the sender's VPC holds the destination
//!   and the sender's subnet's table routes it to a NAT gateway (then as an
//!   unfragmented first packet, rule 13). The gateway remembers the
//!   datagram (VPC of the port, source, destination, identification,
//!   protocol) and the flow it rode. Any other first fragment: `fragment`.
//! - A later fragment carries no ports: the flow its datagram's first
//!   fragment rode (none remembered: `fragment`; the flow ended since:
//!   `nat_gateway_fragment_expired`; so is one more than 30 s after its
//!   first fragment, which a differential run never reaches), meets that
//!   flow's network ACLs with the flow's ports, and is translated in its
//!   addresses only (the IPv4 checksum follows; the UDP checksum is in the
//!   first fragment, where the translation of the whole datagram's
//!   addresses and ports is accounted for: `wire::rewrite`).

use dataplane::model::RouteTarget;
use dataplane_common::{Counter, DropReason};

use super::{wire::Frag, Addrs, First, Ipv4, Model, Outcome, RouteKind, Tuple};

/// A datagram, as its fragments name it: the VPC of the port they come in
/// on, source, destination, identification, protocol.
pub(super) type Datagram = (usize, [u8; 4], [u8; 4], u16, u8);

/// What the rewrite of a later fragment sees: a protocol none of whose
/// header it owns, so only the addresses change.
const IP_ONLY: u8 = 255;

impl Model {
    /// A fragment of a UDP datagram from port `eni` (its source checked).
    pub(super) fn fragment(
        &mut self,
        eni: usize,
        frame: &[u8],
        p: &Ipv4,
        f: Frag,
    ) -> Result<Outcome, DropReason> {
        let vpc = self.port_vpc(eni);
        let datagram = (vpc, p.src, p.dst, f.id, p.proto);
        if !f.first {
            let Some(&key) = self.frags.get(&datagram) else {
                return Err(DropReason::Fragment);
            };
            let Some(d) = self.flows.get(&key).copied().filter(|d| d.nat.is_some()) else {
                return Err(DropReason::NatGatewayFragmentExpired);
            };
            // Judged with its flow's ports; rewritten in its addresses only.
            let mut acl = *p;
            acl.sport = key.addrs.sport;
            acl.dport = key.addrs.dport;
            self.ride_fragment(&acl, &key, &d)?;
            let mut rw = acl;
            rw.proto = IP_ONLY;
            return Ok(self.forward(frame, &rw, &d));
        }
        let key = Tuple {
            vpc,
            proto: p.proto,
            addrs: Addrs::of(p),
            echo_reply: false,
        };
        let o = match self.flows.get(&key).copied() {
            Some(d) if d.nat.is_some() => {
                self.ride_fragment(p, &key, &d)?;
                self.forward(frame, p, &d)
            }
            Some(_) => return Err(DropReason::Fragment),
            None => {
                if self.is_internet(eni) || self.resolve(vpc, p.dst).is_some() {
                    return Err(DropReason::Fragment);
                }
                let (table, best) = self.best_route(self.topo.enis[eni].subnet, p.dst);
                let g = match best {
                    Some((_, Some(i))) => match table.routes[i].target {
                        RouteTarget::NatGateway(g) => g,
                        _ => return Err(DropReason::Fragment),
                    },
                    _ => return Err(DropReason::Fragment),
                };
                self.met_route = Some(RouteKind::NatGateway);
                self.out_through_nat_gateway(eni, g, First(key, p, frame, false))?
            }
        };
        self.frags.insert(datagram, key);
        Ok(o)
    }

    /// A fragment along the flow direction `d` (key `key`), judged as its
    /// headers `acl` say: the flow's state, then its boundaries' ACLs.
    fn ride_fragment(
        &mut self,
        acl: &Ipv4,
        key: &Tuple,
        d: &super::Direction,
    ) -> Result<(), DropReason> {
        self.track(key, d, acl)?;
        self.count(Counter::FlowHit);
        self.crossing(d.cross[0], acl, acl.src, acl.dst, acl.dport, (0, 0))?;
        self.crossing(d.cross[1], acl, d.out.src, d.out.dst, d.out.dport, (0, 0))
    }
}
