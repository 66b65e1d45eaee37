//! The AWS resources hyperlab does not model yet, each read by one
//! function into an [`Unsupported`] line with the reason. When hyperlab
//! gains a kind, its function here becomes a mapping into the inventory
//! and its line goes away (as network ACLs' did: `build/nacls.rs`).

use super::inventory::Unsupported;
use super::json::{Res, J};

/// Why each kind is not imported yet (shared by both readers).
pub const ROUTE_TABLE: &str =
    "route tables are not imported yet (hyperlab's [[route_table]] is not mapped from \
    AWS's): each VPC gets its implied main table (its local route only)";
pub const PEERING: &str =
    "VPC peering connections are not imported yet (hyperlab's [[vpc_peering]] is not \
    mapped from AWS's): the two VPCs stay unpeered";
pub const NAT_GATEWAY: &str =
    "NAT gateways are not modelled by hyperlab yet (nor is the internet they lead to)";
pub const INTERNET_GATEWAY: &str =
    "internet gateways are not modelled by hyperlab yet (nor is the internet)";

fn line(j: &J<'_>, what: String, reason: &str) -> Unsupported {
    Unsupported {
        what,
        reason: reason.to_string(),
        at: j.at.clone(),
    }
}

fn vpc_of(j: &J<'_>) -> Res<String> {
    Ok(j.str("VpcId")?
        .map(|v| format!(" in {v}"))
        .unwrap_or_default())
}

/// `describe-route-tables`.
pub fn route_table(r: &J<'_>) -> Res<Unsupported> {
    let id = r.req_str("RouteTableId")?;
    let routes = r.arr("Routes")?.len();
    Ok(line(
        r,
        format!("route table {id}{} ({routes} routes)", vpc_of(r)?),
        ROUTE_TABLE,
    ))
}

/// `describe-vpc-peering-connections`.
pub fn peering(p: &J<'_>) -> Res<Unsupported> {
    let id = p.req_str("VpcPeeringConnectionId")?;
    let side = |key: &str| -> Res<String> {
        Ok(match p.obj(key)? {
            Some(s) => s.str("VpcId")?.unwrap_or_else(|| "?".into()),
            None => "?".into(),
        })
    };
    Ok(line(
        p,
        format!(
            "VPC peering connection {id} ({} <-> {})",
            side("RequesterVpcInfo")?,
            side("AccepterVpcInfo")?
        ),
        PEERING,
    ))
}

/// `describe-nat-gateways`.
pub fn nat_gateway(g: &J<'_>) -> Res<Unsupported> {
    let id = g.req_str("NatGatewayId")?;
    Ok(line(
        g,
        format!(
            "NAT gateway {id}{}",
            g.str("SubnetId")?
                .map(|s| format!(" in {s}"))
                .unwrap_or_default()
        ),
        NAT_GATEWAY,
    ))
}

/// `describe-internet-gateways`.
pub fn internet_gateway(g: &J<'_>) -> Res<Unsupported> {
    let id = g.req_str("InternetGatewayId")?;
    let mut vpcs = Vec::new();
    for a in g.arr("Attachments")? {
        vpcs.extend(a.str("VpcId")?);
    }
    let to = if vpcs.is_empty() {
        String::new()
    } else {
        format!(" attached to {}", vpcs.join(", "))
    };
    Ok(line(
        g,
        format!("internet gateway {id}{to}"),
        INTERNET_GATEWAY,
    ))
}
