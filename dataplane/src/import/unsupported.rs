//! The AWS resources hyperlab does not model yet, each read by one
//! function into an [`Unsupported`] line with the reason. When hyperlab
//! gains a kind, its function here becomes a mapping into the inventory
//! and its line goes away (as network ACLs' did: `build/nacls.rs`).

use super::inventory::Unsupported;
use super::json::{Res, J};

/// Why each kind is not imported yet (shared by both readers).
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
