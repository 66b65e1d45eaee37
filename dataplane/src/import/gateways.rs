//! The AWS CLI's gateway calls, read into the inventory (`aws.rs` calls
//! these): `describe-internet-gateways` (with its attachments),
//! `describe-nat-gateways` (subnet, state, `NatGatewayAddresses`),
//! `describe-addresses` (Elastic IPs and what they are associated with),
//! and the public address of an ENI (`Association.PublicIp`). `build/
//! gateways.rs` maps them.

use super::inventory::*;
use super::json::{At, Res, J};

/// `describe-internet-gateways`: the file's gateways, and hyperlab's own
/// member `HyperlabInternetHosts` (an export: the lab's `[internet]`).
pub fn internet_gateways(root: &J<'_>, inv: &mut Inventory) -> Res<()> {
    for g in root.arr("InternetGateways")? {
        let mut attachments = Vec::new();
        for a in g.arr("Attachments")? {
            let vpc = one_ref(&a, "VpcId")?.ok_or_else(|| a.at.key("VpcId").err("missing"))?;
            attachments.push((vpc, a.str("State")?));
        }
        inv.igws.push(Igw {
            id: g.req_str("InternetGatewayId")?,
            name: g.name_tag()?,
            attachments,
            at: g.at.clone(),
        });
    }
    if root.has("HyperlabInternetHosts") {
        let mut hosts = inv.internet_hosts.take().unwrap_or_default();
        for h in root.arr("HyperlabInternetHosts")? {
            let ip = h
                .str_at("Ip")?
                .ok_or_else(|| h.at.key("Ip").err("missing"))?;
            hosts.push((h.req_str("Name")?, ip));
        }
        inv.internet_hosts = Some(hosts);
    }
    Ok(())
}

/// `describe-nat-gateways`: one gateway.
pub fn nat_gateway(g: &J<'_>) -> Res<Nat> {
    let mut addresses = Vec::new();
    for a in g.arr("NatGatewayAddresses")? {
        addresses.push(NatAddress {
            allocation: a.str("AllocationId")?,
            eni: a.str("NetworkInterfaceId")?,
            private_ip: a.str_at("PrivateIp")?,
            public_ip: a.str_at("PublicIp")?,
            primary: a.bool("IsPrimary")?,
            at: a.at.clone(),
        });
    }
    let ports = match g.arr("HyperlabPorts")?.as_slice() {
        [] => None,
        [lo, hi] => Some((
            lo.v.as_i64().ok_or_else(|| lo.err("expected a port"))?,
            hi.v.as_i64().ok_or_else(|| hi.err("expected a port"))?,
        )),
        _ => return Err(g.at.key("HyperlabPorts").err("expected [first, last]")),
    };
    Ok(Nat {
        id: g.req_str("NatGatewayId")?,
        name: g.name_tag()?,
        subnet: one_ref(g, "SubnetId")?,
        state: g.str("State")?,
        connectivity: g.str("ConnectivityType")?,
        addresses,
        ports,
        at: g.at.clone(),
    })
}

/// `describe-addresses`: one Elastic IP.
pub fn address(a: &J<'_>) -> Res<Address> {
    Ok(Address {
        public_ip: a
            .str_at("PublicIp")?
            .ok_or_else(|| a.at.key("PublicIp").err("missing"))?,
        allocation: a.str("AllocationId")?,
        eni: one_ref(a, "NetworkInterfaceId")?,
        private_ip: a.str("PrivateIpAddress")?,
        at: a.at.clone(),
    })
}

/// An ENI's `Association.PublicIp` (describe-network-interfaces, and an
/// instance's `NetworkInterfaces[]`).
pub fn association(n: &J<'_>) -> Res<Option<(String, At)>> {
    match n.obj("Association")? {
        Some(a) => a.str_at("PublicIp"),
        None => Ok(None),
    }
}
