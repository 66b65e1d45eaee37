//! Security groups as the AWS rules state them (EC2 user guide, "Security
//! group rules", "Security group connection tracking"): rules allow a
//! protocol (TCP, UDP, ICMP by type and code, any other by number, or all)
//! from or to a peer; rule 11, which flows are untracked; and the ICMP echo
//! type that tracking follows.

use std::net::Ipv4Addr;

use dataplane::model::{Peer, Protocol};
use dataplane_common::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};

use super::{Ipv4, Model};

impl Model {
    /// The flow-table keys whose direction is untracked, as the kernel keys
    /// them, with `FLOW_F_UNTRACKED_SENDER`/`RECEIVER` bits.
    pub fn untracked_flows(&self) -> std::collections::HashSet<(dataplane_common::FlowKey, u32)> {
        use dataplane_common::{FlowKey, FLOW_F_UNTRACKED_RECEIVER, FLOW_F_UNTRACKED_SENDER};
        self.flows
            .iter()
            .filter(|(_, d)| d.untracked_sender || d.untracked_receiver)
            .map(|(k, d)| {
                let mut key = FlowKey::new(
                    k.vpc as u32,
                    k.addrs.src,
                    k.addrs.dst,
                    k.addrs.sport.to_be_bytes(),
                    k.addrs.dport.to_be_bytes(),
                    k.proto,
                );
                key.icmp_reply = k.echo_reply as u8;
                let bits = if d.untracked_sender {
                    FLOW_F_UNTRACKED_SENDER
                } else {
                    0
                } | if d.untracked_receiver {
                    FLOW_F_UNTRACKED_RECEIVER
                } else {
                    0
                };
                (key, bits)
            })
            .collect()
    }

    /// Do the groups allow `proto` to/from `peer` on destination port `port`
    /// (`ingress`: peer is the source; else the destination)?
    pub(super) fn groups_allow(
        &mut self,
        groups: &[usize],
        ingress: bool,
        proto: u8,
        peer: [u8; 4],
        port: u16,
    ) -> bool {
        let peer = Ipv4Addr::from(peer);
        let typed = std::cell::Cell::new(false);
        let allowed = groups.iter().any(|&g| {
            let sg = &self.topo.security_groups[g];
            let rules = if ingress { &sg.ingress } else { &sg.egress };
            rules.iter().any(|r| {
                let proto_ok = match r.protocol {
                    Protocol::Tcp => proto == PROTO_TCP,
                    Protocol::Udp => proto == PROTO_UDP,
                    Protocol::Icmp => proto == PROTO_ICMP,
                    Protocol::All => true,
                    Protocol::Number(n) => proto == n,
                };
                // ICMP rules cover `type << 8 | code` values (0-65535 for
                // all types); other protocols have no ports (value 0).
                let port_ok = (r.ports.0..=r.ports.1).contains(&port);
                if proto == PROTO_ICMP && r.protocol == Protocol::Icmp && r.ports != (0, 65535) {
                    typed.set(true);
                }
                proto_ok && port_ok && self.peer_matches(&r.peer, peer)
            })
        });
        self.met_icmp_typed |= typed.get();
        allowed
    }

    pub(super) fn peer_matches(&self, peer: &Peer, addr: Ipv4Addr) -> bool {
        match peer {
            Peer::Cidr(net) => net.contains(&addr),
            Peer::SecurityGroup(g) => self.members(*g).contains(&addr),
        }
    }

    /// The addresses that carry group `g`: host ENIs, NLB nodes, endpoint ENIs.
    pub(super) fn members(&self, g: usize) -> Vec<Ipv4Addr> {
        let t = &self.topo;
        let s = &t.services;
        let mut m: Vec<Ipv4Addr> = t
            .enis
            .iter()
            .filter(|e| e.security_groups.contains(&g))
            .map(|e| e.ip)
            .collect();
        for n in s.nlbs.iter().filter(|n| n.security_groups.contains(&g)) {
            m.extend(n.nodes.iter().map(|x| x.ip));
        }
        for ep in s
            .vpc_endpoints
            .iter()
            .filter(|e| e.security_groups.contains(&g))
        {
            m.extend(ep.enis.iter().map(|x| x.ip));
        }
        m
    }

    /// Rule 11 (EC2 user guide, "Untracked connections"): "If a security
    /// group rule permits TCP or UDP flows for all traffic (0.0.0.0/0) and
    /// there is a corresponding rule in the other direction that permits
    /// all response traffic (0.0.0.0/0) for all ports (0-65535), then that
    /// flow of traffic is not tracked." Is `p`'s flow untracked at an ENI
    /// with `groups`, which it enters (`ingress`) or leaves? ICMP and other
    /// protocols are always tracked.
    pub(super) fn untracked(&self, groups: &[usize], ingress: bool, p: &Ipv4) -> bool {
        if p.proto != PROTO_TCP && p.proto != PROTO_UDP {
            return false;
        }
        let everyone = |r: &&dataplane::model::Rule| {
            matches!(r.peer, Peer::Cidr(n) if n.prefix_len() == 0)
                && matches!(r.protocol, Protocol::All)
                    | (r.protocol == Protocol::Tcp && p.proto == PROTO_TCP)
                    | (r.protocol == Protocol::Udp && p.proto == PROTO_UDP)
        };
        let rules = |inbound: bool| {
            groups.iter().flat_map(move |&g| {
                let sg = &self.topo.security_groups[g];
                if inbound {
                    sg.ingress.iter()
                } else {
                    sg.egress.iter()
                }
            })
        };
        let admits = rules(ingress)
            .filter(everyone)
            .any(|r| (r.ports.0..=r.ports.1).contains(&p.dport));
        let responses = rules(!ingress)
            .filter(everyone)
            .any(|r| r.ports == (0, 65535));
        admits && responses
    }

    /// Is `p` an ICMP echo request (its flow's forward direction carries
    /// requests)?
    pub(super) fn echo_request(p: &Ipv4) -> bool {
        p.proto == PROTO_ICMP && p.icmp.0 == 8
    }

    /// What a security-group rule's range matches for `p` to `port`: the
    /// port, or for ICMP `type << 8 | code` (AWS's FromPort / ToPort).
    pub(super) fn sg_value(p: &Ipv4, port: u16) -> u16 {
        if p.proto == PROTO_ICMP {
            u16::from(p.icmp.0) << 8 | u16::from(p.icmp.1)
        } else {
            port
        }
    }
}
