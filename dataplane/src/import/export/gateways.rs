//! The gateway layer as the AWS CLI describes it: `describe-internet-
//! gateways` (with the lab's `[internet]` hosts as hyperlab's own member
//! `HyperlabInternetHosts`: no AWS call lists them), `describe-nat-
//! gateways` (with `HyperlabPorts` when the lab shrinks the pool), the
//! NAT gateways' managed ENIs, and `describe-addresses` (an Elastic IP
//! for each public address: an ENI's, a NAT gateway's).

use std::net::Ipv4Addr;

use serde_json::{json, Value};

use super::ACCOUNT;
use crate::model::{Topology, NAT_GATEWAY_PORTS};

/// The Elastic IP an export gives the owner `id` (an ENI, a NAT gateway).
fn allocation(id: &str) -> String {
    format!("eipalloc-{id}")
}

/// The managed ENI an export gives NAT gateway `id`.
fn nat_eni(id: &str) -> String {
    format!("eni-{id}")
}

/// An ENI's `Association` for its public address `ip`.
pub(super) fn association(eni: &str, ip: Ipv4Addr) -> Value {
    json!({
        "PublicIp": ip.to_string(), "IpOwnerId": ACCOUNT, "AllocationId": allocation(eni),
        "AssociationId": format!("eipassoc-{eni}"), "PublicDnsName": "",
    })
}

/// The NAT gateways' managed ENIs (`describe-network-interfaces`).
pub(super) fn nat_enis(t: &Topology, enis: &mut Vec<Value>) {
    for g in &t.internet.nat_gateways {
        let sn = &t.subnets[g.subnet];
        let id = nat_eni(&g.id);
        enis.push(json!({
            "NetworkInterfaceId": id, "SubnetId": sn.id, "VpcId": t.vpcs[sn.vpc].id,
            "AvailabilityZone": sn.az, "PrivateIpAddress": g.private_ip.to_string(),
            "Groups": [], "InterfaceType": "nat_gateway", "RequesterManaged": true,
            "Description": format!("Interface for NAT Gateway {}", g.id), "Status": "in-use",
            "OwnerId": ACCOUNT, "Association": association(&id, g.elastic_ip), "TagSet": [],
        }));
    }
}

/// `describe-internet-gateways`, `describe-nat-gateways`, `describe-addresses`.
pub(super) fn files(t: &Topology, files: &mut Vec<(String, Value)>) {
    let i = &t.internet;
    let igws: Vec<Value> = i
        .gateways
        .iter()
        .map(|g| {
            json!({
                "InternetGatewayId": g.id, "OwnerId": ACCOUNT, "Tags": [],
                "Attachments": [{ "VpcId": t.vpcs[g.vpc].id, "State": "available" }],
            })
        })
        .collect();
    let hosts: Vec<Value> = i
        .hosts
        .iter()
        .map(|h| json!({ "Name": h.name, "Ip": h.ip.to_string() }))
        .collect();
    files.push((
        "ec2/describe-internet-gateways.json".into(),
        json!({ "InternetGateways": igws, "HyperlabInternetHosts": hosts }),
    ));
    let nats: Vec<Value> = i
        .nat_gateways
        .iter()
        .map(|g| {
            let sn = &t.subnets[g.subnet];
            let mut v = json!({
                "NatGatewayId": g.id, "SubnetId": sn.id, "VpcId": t.vpcs[sn.vpc].id,
                "State": "available", "ConnectivityType": "public", "Tags": [],
                "NatGatewayAddresses": [{
                    "AllocationId": allocation(&nat_eni(&g.id)), "NetworkInterfaceId": nat_eni(&g.id),
                    "PrivateIp": g.private_ip.to_string(), "PublicIp": g.elastic_ip.to_string(),
                    "IsPrimary": true, "Status": "succeeded",
                }],
            });
            if g.ports != NAT_GATEWAY_PORTS {
                v["HyperlabPorts"] = json!([g.ports.0, g.ports.1]);
            }
            v
        })
        .collect();
    files.push((
        "ec2/describe-nat-gateways.json".into(),
        json!({ "NatGateways": nats }),
    ));
    let mut addresses = Vec::new();
    let mut address = |owner: &str, private: Ipv4Addr, public: Ipv4Addr| {
        addresses.push(json!({
            "PublicIp": public.to_string(), "AllocationId": allocation(owner), "Domain": "vpc",
            "AssociationId": format!("eipassoc-{owner}"), "NetworkInterfaceId": owner,
            "NetworkInterfaceOwnerId": ACCOUNT, "PrivateIpAddress": private.to_string(),
        }));
    };
    for p in &i.public_ips {
        let e = &t.enis[p.eni];
        address(&e.id, e.ip, p.ip);
    }
    for g in &i.nat_gateways {
        address(&nat_eni(&g.id), g.private_ip, g.elastic_ip);
    }
    files.push((
        "ec2/describe-addresses.json".into(),
        json!({ "Addresses": addresses }),
    ));
}
