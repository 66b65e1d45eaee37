//! NAT gateways: `[[nat_gateway]] { id, subnet, private_ip, elastic_ip,
//! ports }`. Pass 1 reads each gateway on its own; the route tables learn
//! each gateway's VPC (`nat_gateway_vpcs`) before pass 2 resolves the
//! rest with the lab's internet (`resolve_nat_gateways`).
//!
//! AWS's rules (VPC user guide, "NAT gateways", "Work with NAT
//! gateways"): a public NAT gateway sits in one subnet, has a private
//! address of that subnet and one Elastic IP; the Elastic IP is an address
//! no other resource holds, usable only in a VPC with an internet gateway
//! attached. `ports` is the lab's knob: AWS binds up to 55,000 connections
//! per unique destination (`NAT_GATEWAY_PORTS`); a lab shrinks the pool to
//! put that limit under test. The addresses of the lab's internet (hosts,
//! public IPs, Elastic IPs) are checked here (`internet_address`), for
//! `gateways.rs` too.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::diagnostics::Checker;
use super::network::EnisOut;
use super::refs::{defined, IdInfo, Kind};
use super::tree::{join, Node, Sp};
use super::values::parse_ports;
use crate::model::{internet_range, NatGateway, Subnet, Vpc, INTERNET_RANGES, NAT_GATEWAY_PORTS};

pub(super) const NAT_GATEWAY_KEYS: &[&str] = &["id", "subnet", "private_ip", "elastic_ip", "ports"];

/// The most NAT gateways a configuration may declare.
pub(super) const MAX_NAT_GATEWAYS: usize = dataplane_common::MAX_NAT_GATEWAYS as usize;

/// What a `[[nat_gateway]]` says before references are resolved.
pub(super) struct NatIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) subnet: Option<Sp<&'n str>>,
    pub(super) private_ip: Option<Sp<Ipv4Addr>>,
    pub(super) elastic_ip: Option<Sp<Ipv4Addr>>,
    pub(super) ports: (u16, u16),
}

impl<'s> Checker<'s> {
    pub(super) fn nat_gateway<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> NatIn<'n> {
        let mut g = NatIn {
            path,
            id: String::new(),
            subnet: None,
            private_ip: None,
            elastic_ip: None,
            ports: NAT_GATEWAY_PORTS,
        };
        let Some(t) = self.table(node, &g.path, "a table", NAT_GATEWAY_KEYS) else {
            return g;
        };
        if index >= MAX_NAT_GATEWAYS {
            self.err(
                node.pos,
                &g.path,
                format!("at most {MAX_NAT_GATEWAYS} NAT gateways"),
            );
        }
        g.id = self.id(&t, Kind::NatGateway, index, ids);
        g.subnet = self.req_str(&t, "subnet", "the id of the (public) [[subnet]] it sits in");
        g.private_ip = self.ipv4(&t, "private_ip");
        g.elastic_ip = self.ipv4(&t, "elastic_ip");
        if let Some(e) = t.get("ports") {
            let field = t.field("ports");
            match parse_ports(&e.node.val) {
                Ok((lo, _)) if lo < 1024 => self.err(
                    e.node.pos,
                    &field,
                    "a NAT gateway's source ports start at 1024 or higher",
                ),
                Ok(r) => g.ports = r,
                Err(m) => self.err(e.node.pos, &field, m),
            }
        }
        g
    }

    /// Each gateway's subnet and VPC by gateway index (`None`: unresolved;
    /// pass 2 reports why), for the route tables, which are resolved first.
    pub(super) fn nat_gateway_vpcs(
        &mut self,
        subnet_vpcs: &[Option<usize>],
        gateways: &[NatIn<'_>],
        ids: &HashMap<String, IdInfo>,
    ) -> Vec<Option<usize>> {
        gateways
            .iter()
            .map(|g| {
                let info = ids.get(g.subnet?.v)?;
                if info.kind != Kind::Subnet {
                    return None;
                }
                subnet_vpcs.get(info.index).copied().flatten()
            })
            .collect()
    }

    /// Pass 2: each gateway's subnet, private address and Elastic IP
    /// (`taken`: the lab's internet addresses so far, for duplicates;
    /// `igw_vpcs`: the VPCs with an internet gateway attached).
    pub(super) fn resolve_nat_gateways(
        &mut self,
        (vpcs, subnets, subnet_vpcs): (&[Vpc], &[Subnet], &[Option<usize>]),
        enis: &EnisOut,
        input: Vec<NatIn<'_>>,
        ids: &HashMap<String, IdInfo>,
        (taken, igw_vpcs): (&mut HashMap<Ipv4Addr, (String, usize)>, &[usize]),
    ) -> Vec<NatGateway> {
        let subnet_ids = defined(ids, Kind::Subnet, subnets.iter().map(|s| &s.id));
        let mut out = Vec::new();
        // (vpc, private address) -> where it is written, among gateways
        let mut privates: HashMap<(usize, Ipv4Addr), usize> = HashMap::new();
        for g in input {
            let sfield = join(&g.path, "subnet");
            let subnet = g
                .subnet
                .and_then(|r| self.resolve(r, Kind::Subnet, &sfield, ids, &subnet_ids));
            let private_ok = match (subnet, g.private_ip) {
                (Some(s), Some(ip)) if subnet_vpcs.get(s).copied().flatten().is_some() => {
                    self.nat_private_ip(&subnets[s], ip, &g.path, enis, &mut privates)
                }
                _ => false,
            };
            let eip_ok = g.elastic_ip.is_some_and(|ip| {
                self.internet_address(
                    ip,
                    &join(&g.path, "elastic_ip"),
                    &format!("{} (elastic_ip)", g.path),
                    taken,
                )
            });
            // A subnet whose VPC did not resolve has no VPC here (reported
            // with the subnet).
            let vpc = subnet
                .and_then(|s| subnet_vpcs.get(s).copied().flatten())
                .and_then(|vi| vpcs.get(vi).map(|v| (vi, v)));
            let igw_ok = match vpc {
                Some((vi, vpc)) if !igw_vpcs.contains(&vi) => {
                    let v = &vpc.id;
                    if let Some(ip) = g.elastic_ip {
                        self.err(
                            ip.pos,
                            &join(&g.path, "elastic_ip"),
                            format!(
                                "{v} has no internet gateway attached: a public NAT gateway's \
                                 Elastic IP works only in a VPC with one (add an \
                                 [[internet_gateway]] with vpc = \"{v}\")"
                            ),
                        );
                    }
                    false
                }
                Some(_) => true,
                None => false,
            };
            if let (true, true, true, Some(s), Some(p), Some(e)) = (
                private_ok,
                eip_ok,
                igw_ok,
                subnet,
                g.private_ip,
                g.elastic_ip,
            ) {
                out.push(NatGateway {
                    id: g.id,
                    subnet: s,
                    private_ip: p.v,
                    elastic_ip: e.v,
                    ports: g.ports,
                });
            }
        }
        out
    }

    /// A gateway's private address: usable in its subnet, no ENI's and no
    /// other gateway's.
    fn nat_private_ip(
        &mut self,
        sn: &Subnet,
        ip: Sp<Ipv4Addr>,
        path: &str,
        enis: &EnisOut,
        privates: &mut HashMap<(usize, Ipv4Addr), usize>,
    ) -> bool {
        let field = join(path, "private_ip");
        if !self.address_in_subnet(sn, ip, &field) {
            return false;
        }
        let msg = if let Some(&e) = enis.at.get(&(sn.vpc, ip.v)) {
            format!("{} is already the address of ENI {}", ip.v, enis.enis[e].id)
        } else if let Some(&pos) = privates.get(&(sn.vpc, ip.v)) {
            format!(
                "{} is already the address of the NAT gateway at line {}",
                ip.v,
                self.line_of(pos)
            )
        } else {
            privates.insert((sn.vpc, ip.v), ip.pos);
            return true;
        };
        self.err(ip.pos, &field, msg);
        false
    }

    /// An address of the lab's internet: in a documentation range, not its
    /// network, gateway (.1) or broadcast address, and not taken.
    pub(super) fn internet_address(
        &mut self,
        ip: Sp<Ipv4Addr>,
        field: &str,
        owner: &str,
        taken: &mut HashMap<Ipv4Addr, (String, usize)>,
    ) -> bool {
        let msg = match internet_range(ip.v) {
            None => format!(
                "{} is not a documentation address: the lab's internet uses only {} (never a \
                 real public address)",
                ip.v,
                INTERNET_RANGES.join(" and ")
            ),
            Some(net) if ip.v == net.network() || ip.v == net.broadcast() => {
                format!("{} is the network or broadcast address of {net}", ip.v)
            }
            Some(net) if u32::from(ip.v) == u32::from(net.network()) + 1 => {
                format!("{} is {net}'s gateway (the fabric answers for it)", ip.v)
            }
            Some(_) => match taken.get(&ip.v) {
                Some((other, pos)) => format!(
                    "{} is already the address of {other} (line {})",
                    ip.v,
                    self.line_of(*pos)
                ),
                None => {
                    taken.insert(ip.v, (owner.to_string(), ip.pos));
                    return true;
                }
            },
        };
        self.err(ip.pos, field, msg);
        false
    }
}

#[cfg(test)]
mod tests;
