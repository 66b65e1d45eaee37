//! The internet gateway and the lab's internet, compiled: each internet
//! host is a fabric port (`HL_PORTS`) and an `HL_ENIS` entry of kind
//! `ENI_KIND_INTERNET` in `INTERNET_VPC`, with no security groups and no
//! subnet; each public address is two `HL_PUBLIC_IPS` entries, one per
//! direction of the gateway's 1:1 NAT, and each NAT gateway's Elastic IP
//! one (marked `NAT_GATEWAY_VPC`). Route-table entries toward a
//! gateway are `compile/routes.rs`'s (`ROUTE_TARGET_IGW`).

use dataplane_common::{
    in_generation, EniInfo, EniKey, PortInfo, PublicIp, ENI_KIND_INTERNET, INTERNET_VPC,
    NAT_GATEWAY_VPC, NO_NAT_GATEWAY, NO_SG_SET, NO_SUBNET,
};

use super::{Compiled, Shift};
use crate::model::Topology;

/// One `HL_PUBLIC_IPS` entry.
pub type PublicIpEntry = (EniKey, PublicIp);

/// Adds the internet hosts' ports and ENI entries (their fabric ifindexes
/// follow the ENIs' in `ifindexes`) and the public addresses.
pub(super) fn compile_internet(
    topo: &Topology,
    ifindexes: &[u32],
    numbering: &super::Numbering,
    out: &mut Compiled,
) {
    for (k, h) in topo.internet.hosts.iter().enumerate() {
        let ifindex = ifindexes[topo.enis.len() + k];
        let ip = h.ip.octets();
        let eni = numbering.internet[k];
        out.ports.push((
            ifindex,
            PortInfo {
                vpc: INTERNET_VPC,
                eni,
                sg_set: NO_SG_SET,
                ip,
                mac: h.mac,
                generation: 0,
                subnet: NO_SUBNET,
                _pad: 0,
            },
        ));
        out.enis.push((
            EniKey {
                vpc: INTERNET_VPC,
                ip,
            },
            EniInfo {
                eni,
                ifindex,
                sg_set: NO_SG_SET,
                kind: ENI_KIND_INTERNET,
                underlay: [0; 4],
                mac: h.mac,
                subnet: NO_SUBNET,
            },
        ));
    }
    for p in &topo.internet.public_ips {
        let vpc = topo.eni_vpc(p.eni) as u32;
        let private = topo.enis[p.eni].ip.octets();
        let public = p.ip.octets();
        out.public_ips.push((
            EniKey { vpc, ip: private },
            PublicIp {
                ip: public,
                vpc: INTERNET_VPC,
                nat_gateway: NO_NAT_GATEWAY,
                _pad: 0,
            },
        ));
        out.public_ips.push((
            EniKey {
                vpc: INTERNET_VPC,
                ip: public,
            },
            PublicIp {
                ip: private,
                vpc,
                nat_gateway: NO_NAT_GATEWAY,
                _pad: 0,
            },
        ));
    }
    // A NAT gateway's Elastic IP leads to no ENI: the entry marks it, so
    // that a first packet to it is dropped as initiated from outside.
    for (g, n) in topo.internet.nat_gateways.iter().enumerate() {
        out.public_ips.push((
            EniKey {
                vpc: INTERNET_VPC,
                ip: n.elastic_ip.octets(),
            },
            PublicIp {
                ip: n.private_ip.octets(),
                vpc: NAT_GATEWAY_VPC,
                nat_gateway: g as u16,
                _pad: 0,
            },
        ));
    }
}

impl Shift {
    /// An `HL_PUBLIC_IPS` entry: its key is an entry point (generation-tagged).
    pub fn public_ip(self, (mut k, p): PublicIpEntry) -> PublicIpEntry {
        k.vpc = in_generation(k.vpc, self.to);
        (k, p)
    }
}

#[cfg(test)]
mod tests;
