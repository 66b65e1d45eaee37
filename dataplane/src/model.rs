//! The validated topology: what `config` produces and everything else consumes.
//!
//! References between resources are indices into the owning vectors, so no
//! later step can meet a dangling id: `config::load` has already rejected it.

use std::net::Ipv4Addr;

pub use ipnet::Ipv4Net;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    pub lab: LabSettings,
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    pub security_groups: Vec<SecurityGroup>,
    pub enis: Vec<Eni>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabSettings {
    /// Prefix of every namespace the lab creates (`<name>-fabric`, `<name>-<host>`).
    pub name: String,
    pub hook: Hook,
    pub mtu: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// tcx ingress on the fabric veths, `bpf_redirect_peer` into the destination host.
    Tc,
    /// XDP on the fabric veths, `bpf_redirect` out of the destination's fabric veth.
    Xdp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vpc {
    pub id: String,
    pub cidr: Ipv4Net,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    /// Index into `Topology::vpcs`.
    pub vpc: usize,
    pub cidr: Ipv4Net,
    pub az: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    /// Index into `Topology::vpcs`.
    pub vpc: usize,
    pub ingress: Vec<Rule>,
    /// A group whose config has no `egress` key gets AWS's default rule
    /// (all protocols to 0.0.0.0/0); `egress = []` means none.
    pub egress: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub protocol: Protocol,
    /// Inclusive destination-port range; `0..=65535` for icmp and all.
    pub ports: (u16, u16),
    pub peer: Peer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    All,
}

impl Protocol {
    /// The IP protocol numbers a rule of this protocol covers.
    pub fn ip_protocols(self) -> &'static [u8] {
        use dataplane_common::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};
        match self {
            Protocol::Tcp => &[PROTO_TCP],
            Protocol::Udp => &[PROTO_UDP],
            Protocol::Icmp => &[PROTO_ICMP],
            Protocol::All => &[PROTO_TCP, PROTO_UDP, PROTO_ICMP],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    Cidr(Ipv4Net),
    /// Index into `Topology::security_groups`: matches the member ENIs' addresses.
    SecurityGroup(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eni {
    pub id: String,
    /// Index into `Topology::subnets`.
    pub subnet: usize,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    /// Indices into `Topology::security_groups`.
    pub security_groups: Vec<usize>,
    /// The lab host (network namespace) that owns this ENI.
    pub host: String,
}

impl Topology {
    pub fn eni_vpc(&self, eni: usize) -> usize {
        self.subnets[self.enis[eni].subnet].vpc
    }

    /// The virtual router's address in a subnet: its first host address, as in AWS.
    pub fn gateway(&self, subnet: usize) -> Ipv4Addr {
        let net = self.subnets[subnet].cidr.network();
        Ipv4Addr::from(u32::from(net) + 1)
    }

    /// Hosts in order of first appearance, each with the ENIs it owns.
    pub fn hosts(&self) -> Vec<(String, Vec<usize>)> {
        let mut hosts: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, eni) in self.enis.iter().enumerate() {
            match hosts.iter_mut().find(|(h, _)| *h == eni.host) {
                Some((_, enis)) => enis.push(i),
                None => hosts.push((eni.host.clone(), vec![i])),
            }
        }
        hosts
    }

    pub fn eni_by_id(&self, id: &str) -> Option<usize> {
        self.enis.iter().position(|e| e.id == id)
    }
}

/// The MAC an ENI gets when the config gives none: locally administered,
/// unique per (VPC, address).
pub fn default_mac(vpc: usize, ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, (vpc as u8).wrapping_add(1), o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    let m = mac;
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}
