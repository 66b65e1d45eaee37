//! Tracked or untracked, as AWS decides (EC2 user guide, "Security group
//! connection tracking", "Untracked connections"): "If a security group
//! rule permits TCP or UDP flows for all traffic (0.0.0.0/0) and there is a
//! corresponding rule in the other direction that permits all response
//! traffic (0.0.0.0/0) for all ports (0-65535), then that flow of traffic
//! is not tracked", unless it is an automatically tracked connection
//! (through an NLB, a PrivateLink endpoint, a Hyperplane ENI: the kernel
//! never marks those); ICMP is always tracked, and so are other protocols.
//!
//! So for a set of groups, a protocol (TCP or UDP) and a direction: the
//! ports its rules of that protocol (or `all`) admit from or to exactly
//! 0.0.0.0/0, provided a rule of the other direction admits that protocol
//! on every port to or from 0.0.0.0/0. Compile writes them as one
//! `HL_SG_RULES` entry per set, direction and protocol, under
//! `SG_DIR_UNTRACKED` and peer 0.0.0.0/0, which the kernel reads once on a
//! flow's first packet.

use anyhow::{bail, Result};
use dataplane_common::{
    PortRange, SgKey, SgPorts, PROTO_TCP, PROTO_UDP, SG_DIR_UNTRACKED, SG_KEY_FIXED_BITS,
    SG_MAX_RANGES,
};

use super::{merge_ranges, SgEntry};
use crate::model::{Ipv4Net, Peer, Rule};

/// Is `peer` exactly 0.0.0.0/0 (not a group, not a narrower CIDR)?
fn everyone(peer: &Peer) -> bool {
    matches!(peer, Peer::Cidr(net) if *net == Ipv4Net::default())
}

/// The ports of `proto` whose flows in the direction of `rules` are
/// untracked, given the rules of the other direction `other`.
pub fn untracked_ports(proto: u8, rules: &[&Rule], other: &[&Rule]) -> Vec<(u16, u16)> {
    if proto != PROTO_TCP && proto != PROTO_UDP {
        return Vec::new();
    }
    let responses_open = other
        .iter()
        .any(|r| r.protocol.covers(proto) && everyone(&r.peer) && r.ports == (0, 65535));
    if !responses_open {
        return Vec::new();
    }
    merge_ranges(
        rules
            .iter()
            .filter(|r| r.protocol.covers(proto) && everyone(&r.peer))
            .map(|r| r.ports)
            .collect(),
    )
}

/// The `SG_DIR_UNTRACKED` entries of set `set` in direction `dir` (whose
/// rules are `rules`; the other direction's are `other`).
pub fn untracked_entries(
    set: u32,
    dir: u8,
    rules: &[&Rule],
    other: &[&Rule],
) -> Result<Vec<SgEntry>> {
    let mut out = Vec::new();
    for proto in [PROTO_TCP, PROTO_UDP] {
        let ports = untracked_ports(proto, rules, other);
        if ports.is_empty() {
            continue;
        }
        if ports.len() > SG_MAX_RANGES {
            bail!(
                "security-group set {set} admits {} separate port ranges of protocol {proto} from \
                 0.0.0.0/0: at most {SG_MAX_RANGES} are supported; merge adjacent ranges",
                ports.len()
            );
        }
        let mut v = SgPorts {
            count: ports.len() as u32,
            ..Default::default()
        };
        for (slot, (lo, hi)) in v.ranges.iter_mut().zip(ports) {
            *slot = PortRange { lo, hi };
        }
        out.push((
            SG_KEY_FIXED_BITS,
            SgKey::new(set, dir | SG_DIR_UNTRACKED, proto, [0; 4]),
            v,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_support::{net, rule};
    use crate::model::Protocol;
    use dataplane_common::PROTO_ICMP;

    fn all_out() -> Rule {
        rule(Protocol::All, (0, 65535), Peer::Cidr(net("0.0.0.0/0")))
    }

    /// AWS's own example: TCP 80 from 0.0.0.0/0 in, all traffic out to
    /// 0.0.0.0/0: port 80 is untracked, port 22 from one address is not.
    #[test]
    fn port_80_from_everyone_with_all_out_is_untracked() {
        let web = rule(Protocol::Tcp, (80, 80), Peer::Cidr(net("0.0.0.0/0")));
        let ssh = rule(Protocol::Tcp, (22, 22), Peer::Cidr(net("203.0.113.1/32")));
        let out = all_out();
        assert_eq!(
            untracked_ports(PROTO_TCP, &[&web, &ssh], &[&out]),
            vec![(80, 80)]
        );
        assert_eq!(untracked_ports(PROTO_UDP, &[&web, &ssh], &[&out]), vec![]);
        // The other direction: all out to everyone, and every inbound port
        // 80 rule from everyone answers for the responses on all ports? No:
        // responses to an outbound flow need inbound all ports.
        assert_eq!(untracked_ports(PROTO_TCP, &[&out], &[&web, &ssh]), vec![]);
    }

    #[test]
    fn icmp_and_other_protocols_are_always_tracked() {
        let all_in = rule(Protocol::All, (0, 65535), Peer::Cidr(net("0.0.0.0/0")));
        let out = all_out();
        assert_eq!(untracked_ports(PROTO_ICMP, &[&all_in], &[&out]), vec![]);
        assert_eq!(untracked_ports(47, &[&all_in], &[&out]), vec![]);
        assert_eq!(
            untracked_ports(PROTO_UDP, &[&all_in], &[&out]),
            vec![(0, 65535)]
        );
    }

    #[test]
    fn responses_need_every_port_to_everyone() {
        let web = rule(Protocol::Tcp, (80, 80), Peer::Cidr(net("0.0.0.0/0")));
        let narrow = rule(Protocol::All, (0, 65535), Peer::Cidr(net("10.0.0.0/8")));
        let some_ports = rule(Protocol::Tcp, (1024, 65535), Peer::Cidr(net("0.0.0.0/0")));
        let udp_only = rule(Protocol::Udp, (0, 65535), Peer::Cidr(net("0.0.0.0/0")));
        for other in [&narrow, &some_ports, &udp_only] {
            assert_eq!(
                untracked_ports(PROTO_TCP, &[&web], &[other]),
                vec![],
                "{other:?}"
            );
        }
        let tcp_all = rule(Protocol::Tcp, (0, 65535), Peer::Cidr(net("0.0.0.0/0")));
        assert_eq!(
            untracked_ports(PROTO_TCP, &[&web], &[&tcp_all]),
            vec![(80, 80)]
        );
    }

    #[test]
    fn entries_carry_the_ports_under_peer_zero() {
        let web = rule(Protocol::Tcp, (80, 81), Peer::Cidr(net("0.0.0.0/0")));
        let web2 = rule(Protocol::Tcp, (82, 90), Peer::Cidr(net("0.0.0.0/0")));
        let out = all_out();
        let e = untracked_entries(3, 1, &[&web, &web2], &[&out]).unwrap();
        assert_eq!(e.len(), 1);
        let (plen, k, v) = e[0];
        assert_eq!(plen, SG_KEY_FIXED_BITS);
        assert_eq!(k, SgKey::new(3, 1 | SG_DIR_UNTRACKED, PROTO_TCP, [0; 4]));
        assert_eq!((v.count, v.ranges[0]), (1, PortRange { lo: 80, hi: 90 }));
    }
}
