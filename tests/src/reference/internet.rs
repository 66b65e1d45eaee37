//! Rule 12: the internet gateway and the lab's internet, stated from AWS's
//! rules (VPC user guide, "Enable internet access for a VPC using an
//! internet gateway": the gateway performs 1:1 NAT for instances with
//! public IPv4 addresses). Ports: ENIs are `0..enis.len()`, internet host
//! `k` is `enis.len() + k`.

use std::net::Ipv4Addr;

use dataplane_common::{Counter, DropReason};

use super::{
    flow_log::{logged_flags, WindowFlags},
    Addrs, Direction, Ipv4, Model, Outcome, Refused, Routed, Tuple, SAME,
};

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
        key: Tuple,
        p: &Ipv4,
        frame: &[u8],
        reopen: bool,
    ) -> Result<Outcome, DropReason> {
        let sender = self.topo.enis[eni].security_groups.clone();
        if !self.groups_allow(&sender, false, p.proto, p.dst, Self::sg_value(p, p.dport)) {
            return Err(DropReason::EgressSgDeny);
        }
        let from = self.topo.enis[eni].subnet;
        let icmp = Self::icmp_of(frame, p);
        self.nacl_out((from, NO_SUBNET), p, p.dst, p.dport, icmp)?;
        let public = self
            .topo
            .internet
            .public_ip_of(eni)
            .ok_or(DropReason::IgwNoPublicIp)?;
        let dst = Ipv4Addr::from(p.dst);
        let k = self
            .topo
            .internet
            .hosts
            .iter()
            .position(|h| h.ip == dst)
            .ok_or(DropReason::InternetNoHost)?;
        let out = Addrs {
            src: public.octets(),
            ..key.addrs
        };
        let fwd = Direction {
            reply: false,
            tcp_flags: WindowFlags::first(self.window, logged_flags(p)),
            state: Self::initial_state(p),
            to: self.topo.enis.len() + k,
            out_vpc: INTERNET,
            out,
            stats: None,
            nat: None,
            cross: [(from, NO_SUBNET), SAME],
            echo_requests: Self::echo_request(p),
            untracked_sender: false,
            untracked_receiver: false,
        };
        let rev = Direction {
            reply: true,
            tcp_flags: WindowFlags::first(self.window, 0),
            to: eni,
            out_vpc: key.vpc,
            out: key.addrs.reversed(),
            cross: [(NO_SUBNET, from), SAME],
            echo_requests: !Self::echo_request(p),
            ..fwd
        };
        self.create(key, fwd, rev, p, frame, reopen)
    }

    /// A first packet from internet host port `port`: only a public
    /// address leads in.
    pub(super) fn in_from_internet(
        &mut self,
        port: usize,
        key: Tuple,
        p: &Ipv4,
        frame: &[u8],
        reopen: bool,
    ) -> Result<Outcome, DropReason> {
        if let Some(g) = self.elastic_ip_gateway(p.dst) {
            self.nat_dropped(g, true, frame.len() as u64);
            return Err(DropReason::NatGatewayOutsideInitiated);
        }
        let dst = Ipv4Addr::from(p.dst);
        let eni = self
            .topo
            .internet
            .public_ips
            .iter()
            .find(|x| x.ip == dst)
            .map(|x| x.eni)
            .ok_or(DropReason::NoRoute)?;
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
        let fwd = Direction {
            reply: false,
            tcp_flags: WindowFlags::first(self.window, logged_flags(p)),
            state: Self::initial_state(p),
            to: eni,
            out_vpc: self.topo.eni_vpc(eni),
            out,
            stats: None,
            nat: None,
            cross: [(NO_SUBNET, to), SAME],
            echo_requests: Self::echo_request(p),
            untracked_sender: false,
            untracked_receiver: false,
        };
        let rev = Direction {
            reply: true,
            tcp_flags: WindowFlags::first(self.window, 0),
            to: port,
            out_vpc: INTERNET,
            out: key.addrs.reversed(),
            cross: [(to, NO_SUBNET), SAME],
            echo_requests: !Self::echo_request(p),
            ..fwd
        };
        self.create(key, fwd, rev, p, frame, reopen)
    }

    /// Records both directions of a new flow through the gateway (the
    /// reply one under the translated tuple, reversed) and forwards.
    fn create(
        &mut self,
        key: Tuple,
        fwd: Direction,
        rev: Direction,
        p: &Ipv4,
        frame: &[u8],
        reopen: bool,
    ) -> Result<Outcome, DropReason> {
        match self.insert(key, fwd, reopen) {
            Ok(()) => {}
            Err(Refused::Taken) => return Ok(self.forward(frame, p, &fwd)),
            Err(Refused::Full) => return Err(DropReason::FlowTableFull),
        }
        match self.insert(fwd.other(p.proto), rev, reopen) {
            Ok(()) | Err(Refused::Taken) => {}
            Err(Refused::Full) => {
                self.flows.remove(&key);
                return Err(DropReason::FlowTableFull);
            }
        }
        self.count(Counter::FlowCreated);
        Ok(self.forward(frame, p, &fwd))
    }
}
