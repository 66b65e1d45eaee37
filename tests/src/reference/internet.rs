//! Rule 12: the internet gateway and the lab's internet, stated from AWS's
//! rules (VPC user guide, "Enable internet access for a VPC using an
//! internet gateway": the gateway performs 1:1 NAT for instances with
//! public IPv4 addresses). Ports: ENIs are `0..enis.len()`, internet host
//! `k` is `enis.len() + k`.

use std::net::Ipv4Addr;

use dataplane_common::DropReason;

use super::{Addrs, Direction, First, Model, Outcome, Routed, SAME};

/// The subnet of the internet side of a crossing: none, so no ACL.
pub(super) const NO_SUBNET: usize = usize::MAX;
/// The VPC of the lab's internet (flow keys of internet-side packets).
pub(super) const INTERNET: usize = usize::MAX;

impl Model {
    /// Is port `port` an internet host's?
    pub(super) fn is_internet(&self, port: usize) -> bool {
        port >= self.topo.enis.len()
    }

    fn host(&self, port: usize) -> &dataplane::model::InternetHost {
        &self.topo.internet.hosts[port - self.topo.enis.len()]
    }

    /// The address of the ENI or internet host behind port `port`.
    pub(super) fn port_ip(&self, port: usize) -> [u8; 4] {
        if self.is_internet(port) {
            self.host(port).ip.octets()
        } else {
            self.topo.enis[port].ip.octets()
        }
    }

    pub(super) fn port_mac(&self, port: usize) -> [u8; 6] {
        if self.is_internet(port) {
            self.host(port).mac
        } else {
            self.topo.enis[port].mac
        }
    }

    pub(super) fn port_vpc(&self, port: usize) -> usize {
        if self.is_internet(port) {
            INTERNET
        } else {
            self.topo.eni_vpc(port)
        }
    }

    /// A first packet from ENI `eni` that its table routed to the gateway.
    pub(super) fn out_to_internet(
        &mut self,
        eni: usize,
        first: First<'_>,
    ) -> Result<Outcome, DropReason> {
        let First(key, p, frame, reopen) = first;
        let (from, icmp) = self.leaving(eni, p, frame)?;
        self.nacl_out((from, NO_SUBNET), p, p.dst, p.dport, icmp)?;
        let public = self
            .topo
            .internet
            .public_ip_of(eni)
            .ok_or(DropReason::IgwNoPublicIp)?;
        let k = self.internet_host(p.dst)?;
        let out = Addrs {
            src: public.octets(),
            ..key.addrs
        };
        let host = self.topo.enis.len() + k;
        let fwd = Direction::first(p, host, INTERNET, out, [(from, NO_SUBNET), SAME]);
        let rev = Direction::reply(p, &key, eni, [(NO_SUBNET, from), SAME]);
        self.create(key, fwd, Some(rev), p, frame, reopen)
    }

    /// The internet host with address `dst` (its index among the hosts).
    pub(super) fn internet_host(&self, dst: [u8; 4]) -> Result<usize, DropReason> {
        let dst = Ipv4Addr::from(dst);
        let hosts = &self.topo.internet.hosts;
        hosts
            .iter()
            .position(|h| h.ip == dst)
            .ok_or(DropReason::InternetNoHost)
    }

    /// A first packet from internet host port `port`: only a public
    /// address leads in.
    pub(super) fn in_from_internet(
        &mut self,
        port: usize,
        first: First<'_>,
    ) -> Result<Outcome, DropReason> {
        let First(key, p, frame, reopen) = first;
        if let Some(g) = self.elastic_ip_gateway(p.dst) {
            self.nat_dropped(g, true, frame.len() as u64);
            return Err(DropReason::NatGatewayOutsideInitiated);
        }
        let eni = self.public_ip_eni(p.dst).ok_or(DropReason::NoRoute)?;
        // The reply leaves through the ENI's subnet's table.
        if self.route_table(eni, p.src)? != Routed::Internet {
            return Err(DropReason::NoRoute);
        }
        let receiver = self.topo.enis[eni].security_groups.clone();
        if !self.groups_allow(&receiver, true, p.proto, p.src, Self::sg_value(p, p.dport)) {
            return Err(DropReason::IngressSgDeny);
        }
        let to = self.topo.enis[eni].subnet;
        let icmp = Self::icmp_of(frame, p);
        self.nacl_in((NO_SUBNET, to), p, p.src, p.dport, icmp)?;
        let out = Addrs {
            dst: self.topo.enis[eni].ip.octets(),
            ..key.addrs
        };
        let vpc = self.topo.eni_vpc(eni);
        let fwd = Direction::first(p, eni, vpc, out, [(NO_SUBNET, to), SAME]);
        let rev = Direction {
            out_vpc: INTERNET,
            ..Direction::reply(p, &key, port, [(to, NO_SUBNET), SAME])
        };
        self.create(key, fwd, Some(rev), p, frame, reopen)
    }
}
