//! Short constructors for the tests' hand-built topologies.

use super::*;

pub(crate) fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

pub(crate) fn vpc(id: &str, cidr: &str) -> Vpc {
    Vpc {
        id: id.into(),
        cidr: net(cidr),
    }
}

pub(crate) fn subnet(id: &str, vpc: usize, cidr: &str, az: &str) -> Subnet {
    Subnet {
        id: id.into(),
        vpc,
        cidr: net(cidr),
        az: az.into(),
        mtu: None,
    }
}

pub(crate) fn rule(protocol: Protocol, ports: (u16, u16), peer: Peer) -> Rule {
    Rule {
        protocol,
        ports,
        peer,
    }
}

pub(crate) fn sg(id: &str, vpc: usize, ingress: Vec<Rule>, egress: Vec<Rule>) -> SecurityGroup {
    SecurityGroup {
        id: id.into(),
        vpc,
        ingress,
        egress,
    }
}
