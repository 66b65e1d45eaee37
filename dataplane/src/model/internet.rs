//! The lab's internet and the VPCs' internet gateways (docs/DATAPLANE.md,
//! "Internet gateway and the lab's internet").

use std::net::Ipv4Addr;

use super::Ipv4Net;

/// The only address ranges the lab's internet may use: RFC 5737's
/// documentation ranges TEST-NET-2 and TEST-NET-3, never a real public
/// address.
pub const INTERNET_RANGES: [&str; 2] = ["198.51.100.0/24", "203.0.113.0/24"];

/// The range of `ip` among [`INTERNET_RANGES`], if it is in one.
pub fn internet_range(ip: Ipv4Addr) -> Option<Ipv4Net> {
    INTERNET_RANGES
        .iter()
        .map(|r| r.parse::<Ipv4Net>().expect("a valid CIDR"))
        .find(|n| n.contains(&ip))
}

/// `[internet]` and `[[internet_gateway]]`, with the public addresses of
/// ENIs (`public_ip`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Internet {
    /// Internet gateways, in file order; at most one per VPC.
    pub gateways: Vec<InternetGateway>,
    /// The hosts standing for the internet, in file order: fabric ports
    /// after the ENIs' (`Topology::port_count`).
    pub hosts: Vec<InternetHost>,
    /// Public addresses of ENIs, in ENI order.
    pub public_ips: Vec<PublicIp>,
    /// Public NAT gateways, in file order.
    pub nat_gateways: Vec<NatGateway>,
}

/// AWS's NAT gateway binds up to 55,000 simultaneous connections to each
/// unique destination per address: the default pool, source ports 1024
/// ..= 56023.
pub const NAT_GATEWAY_PORTS: (u16, u16) = (1024, 56_023);

/// A public NAT gateway (VPC user guide, "NAT gateways"): in a public
/// subnet, with an Elastic IP; private subnets route to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NatGateway {
    pub id: String,
    /// Index into `Topology::subnets`.
    pub subnet: usize,
    /// Its address in the subnet (its ENI's, in AWS).
    pub private_ip: Ipv4Addr,
    /// Its Elastic IP, an address of the lab's internet.
    pub elastic_ip: Ipv4Addr,
    /// The source ports it binds per unique destination, inclusive (the
    /// lab's knob `ports`; AWS: [`NAT_GATEWAY_PORTS`]).
    pub ports: (u16, u16),
}

/// An internet gateway attached to a VPC.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InternetGateway {
    pub id: String,
    /// Index into `Topology::vpcs`.
    pub vpc: usize,
}

/// A host on the lab's internet: a namespace `<lab>-<name>` with one
/// veth, `eth0`, whose address is in a documentation range.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InternetHost {
    pub name: String,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
}

impl InternetHost {
    /// The host's network: its documentation range (a /24).
    pub fn net(&self) -> Ipv4Net {
        internet_range(self.ip).expect("check keeps internet hosts in the documentation ranges")
    }

    /// Its default gateway: the range's first address, answered by the
    /// fabric as any subnet's router.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.net().network()) + 1)
    }
}

/// An ENI's public IPv4 address: the internet gateway of its VPC
/// translates between it and the ENI's private address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PublicIp {
    /// Index into `Topology::enis`.
    pub eni: usize,
    pub ip: Ipv4Addr,
}

impl Internet {
    /// The internet gateway attached to VPC `vpc`.
    pub fn gateway_of(&self, vpc: usize) -> Option<usize> {
        self.gateways.iter().position(|g| g.vpc == vpc)
    }

    /// The public address of ENI `eni`.
    pub fn public_ip_of(&self, eni: usize) -> Option<Ipv4Addr> {
        self.public_ips.iter().find(|p| p.eni == eni).map(|p| p.ip)
    }
}
