//! The AWS CLI's gateway calls, read into the inventory (`aws.rs` calls
//! these): `describe-internet-gateways` (with its attachments),
//! `describe-nat-gateways` (subnet, state, `NatGatewayAddresses`),
//! `describe-addresses` (Elastic IPs and what they are associated with),
//! and the public address of an ENI (`Association.PublicIp`); and
//! Terraform's `aws_internet_gateway` (+ `_attachment`), `aws_nat_gateway`,
//! `aws_eip` (+ `_association`) into the same inventory. `build/
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
        state: g.str_at("State")?,
        connectivity: g.str_at("ConnectivityType")?,
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
        instance: one_ref(a, "InstanceId")?,
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

/// Terraform's `aws_internet_gateway` (its `vpc_id`, if set, is an
/// attachment).
pub fn tf_internet_gateway(v: &J<'_>, at: &At) -> Res<Igw> {
    Ok(Igw {
        id: v.req_str("id")?,
        name: v.name_tag()?,
        attachments: one_ref(v, "vpc_id")?
            .map(|r| (r, None))
            .into_iter()
            .collect(),
        at: at.clone(),
    })
}

/// Terraform's `aws_internet_gateway_attachment`, onto its gateway.
pub fn tf_internet_gateway_attachment(v: &J<'_>, inv: &mut Inventory) -> Res<()> {
    let req =
        |key: &str| -> Res<Ref> { one_ref(v, key)?.ok_or_else(|| v.at.key(key).err("missing")) };
    let (g, vpc) = (req("internet_gateway_id")?, req("vpc_id")?);
    let Some(igw) = inv.igws.iter_mut().find(|x| x.id == g.id) else {
        return Err(g.at.err(format!("unknown internet gateway {}", g.id)));
    };
    if !igw.attachments.iter().any(|(r, _)| r.id == vpc.id) {
        igw.attachments.push((vpc, None));
    }
    Ok(())
}

/// Terraform's `aws_nat_gateway`: one address, its primary.
pub fn tf_nat_gateway(v: &J<'_>, at: &At) -> Res<Nat> {
    Ok(Nat {
        id: v.req_str("id")?,
        name: v.name_tag()?,
        subnet: one_ref(v, "subnet_id")?,
        state: None,
        connectivity: v.str_at("connectivity_type")?,
        addresses: vec![NatAddress {
            allocation: v.str("allocation_id")?,
            eni: v.str("network_interface_id")?,
            private_ip: v.str_at("private_ip")?,
            public_ip: v.str_at("public_ip")?,
            primary: Some(true),
            at: v.at.clone(),
        }],
        ports: None,
        at: at.clone(),
    })
}

/// Terraform's `aws_eip` (its `id` is the allocation id).
pub fn tf_eip(v: &J<'_>, at: &At) -> Res<Address> {
    Ok(Address {
        public_ip: v
            .str_at("public_ip")?
            .ok_or_else(|| v.at.key("public_ip").err("missing"))?,
        allocation: v.str("id")?,
        eni: one_ref(v, "network_interface")?,
        instance: one_ref(v, "instance")?,
        private_ip: v.str("private_ip")?,
        at: at.clone(),
    })
}

/// Terraform's `aws_eip_association`, onto its Elastic IP.
pub fn tf_eip_association(v: &J<'_>, inv: &mut Inventory) -> Res<()> {
    let a = one_ref(v, "allocation_id")?.ok_or_else(|| v.at.key("allocation_id").err("missing"))?;
    let Some(eip) = inv
        .addresses
        .iter_mut()
        .find(|x| x.allocation.as_deref() == Some(a.id.as_str()))
    else {
        return Err(a.at.err(format!("unknown Elastic IP {}", a.id)));
    };
    if let Some(e) = one_ref(v, "network_interface_id")? {
        eip.eni = Some(e);
    }
    if let Some(i) = one_ref(v, "instance_id")? {
        eip.instance = Some(i);
    }
    if let Some(p) = v.str("private_ip_address")? {
        eip.private_ip = Some(p);
    }
    Ok(())
}
