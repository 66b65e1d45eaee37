//! Internet gateways and the lab's internet: `[[internet_gateway]]`,
//! `[internet]` and the ENIs' `public_ip`. Pass 1 reads each gateway and
//! host on its own; pass 2 (`resolve_internet`) resolves the gateways'
//! VPCs and checks the addresses against each other and the ENIs.
//!
//! AWS's rules (VPC user guide, "Enable internet access for a VPC using an
//! internet gateway"; EC2 user guide, "Elastic IP addresses"): a VPC has
//! at most one internet gateway attached; a public address belongs to one
//! network interface; an address can be associated only in a VPC with an
//! internet gateway attached. The lab's own rule: the internet is made of
//! documentation addresses (RFC 5737: 198.51.100.0/24, 203.0.113.0/24), so
//! nothing a lab does can reach a real public address.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::diagnostics::Checker;
use super::network::{EnisOut, HOST_NAME_RULE};
use super::refs::{defined, IdInfo, Kind};
use super::tree::{join, Node, Sp, Tbl};
use super::values::valid_name;
use crate::model::{Internet, InternetGateway, InternetHost, PublicIp, Subnet, Vpc};

pub(super) const INTERNET_GATEWAY_KEYS: &[&str] = &["id", "vpc"];
pub(super) const INTERNET_KEYS: &[&str] = &["hosts"];
pub(super) const INTERNET_HOST_KEYS: &[&str] = &["name", "ip"];

/// The most hosts `[internet]` may declare (`MAX_INTERNET_HOSTS`).
const MAX_HOSTS: usize = dataplane_common::MAX_INTERNET_HOSTS as usize;

/// What an `[[internet_gateway]]` says before references are resolved.
pub(super) struct GatewayIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) vpc: Option<Sp<&'n str>>,
}

/// One host of `[internet]`, as written.
pub(super) struct HostIn {
    pub(super) path: String,
    pub(super) name: Option<Sp<String>>,
    pub(super) ip: Option<Sp<Ipv4Addr>>,
}

/// An ENI's `public_ip`, as written: the ENI's index and path.
pub(super) struct PublicIpIn {
    pub(super) eni: usize,
    pub(super) path: String,
    pub(super) ip: Sp<Ipv4Addr>,
}

/// Everything pass 1 read for the internet.
#[derive(Default)]
pub(super) struct InternetIn<'n> {
    pub(super) gateways: Vec<GatewayIn<'n>>,
    pub(super) hosts: Vec<HostIn>,
    pub(super) public_ips: Vec<PublicIpIn>,
    pub(super) nat_gateways: Vec<super::nat_gateways::NatIn<'n>>,
}

impl<'s> Checker<'s> {
    pub(super) fn internet_gateway<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> GatewayIn<'n> {
        let mut g = GatewayIn {
            path,
            id: String::new(),
            vpc: None,
        };
        let Some(t) = self.table(node, &g.path, "a table", INTERNET_GATEWAY_KEYS) else {
            return g;
        };
        g.id = self.id(&t, Kind::InternetGateway, index, ids);
        g.vpc = self.req_str(&t, "vpc", "the id of the [[vpc]] it is attached to");
        g
    }

    /// `[internet] hosts = [{ name, ip }, ...]`.
    pub(super) fn internet_hosts(&mut self, root: &Tbl<'_>) -> Vec<HostIn> {
        let Some(e) = root.get("internet") else {
            return Vec::new();
        };
        let Some(t) = self.table(&e.node, "internet", "a table ([internet])", INTERNET_KEYS) else {
            return Vec::new();
        };
        const HOSTS: &str =
            "an array of hosts such as [{ name = \"example\", ip = \"203.0.113.10\" }]";
        let Some(h) = self.require(&t, "hosts", HOSTS) else {
            return Vec::new();
        };
        let field = t.field("hosts");
        let Some(items) = self.as_array(&h.node, &field, HOSTS) else {
            return Vec::new();
        };
        if items.len() > MAX_HOSTS {
            self.err(
                h.node.pos,
                &field,
                format!("at most {MAX_HOSTS} internet hosts, found {}", items.len()),
            );
        }
        let mut out = Vec::new();
        for (i, n) in items.iter().enumerate() {
            let path = format!("{field}[{i}]");
            let Some(ht) = self.table(n, &path, "a host table", INTERNET_HOST_KEYS) else {
                continue;
            };
            let name = self
                .req_str(&ht, "name", "a host name such as \"example\"")
                .map(|s| Sp {
                    v: s.v.to_string(),
                    pos: s.pos,
                });
            let ip = self.ipv4(&ht, "ip");
            out.push(HostIn { path, name, ip });
        }
        out
    }

    /// An ENI's optional `public_ip` (pass 1 of `[[eni]]` reads it here).
    pub(super) fn public_ip(&mut self, t: &Tbl<'_>) -> Option<Sp<Ipv4Addr>> {
        let s = self.opt_str(
            t,
            "public_ip",
            "a public IPv4 address such as \"203.0.113.20\"",
        )?;
        self.parse_ipv4(s, &t.field("public_ip"))
    }

    /// Each gateway's VPC by gateway index (`None`: unresolved; pass 2
    /// reports why), for the route tables, which are resolved first.
    pub(super) fn gateway_vpcs(
        &mut self,
        vpcs: &[Vpc],
        gateways: &[GatewayIn<'_>],
        ids: &HashMap<String, IdInfo>,
    ) -> Vec<Option<usize>> {
        gateways
            .iter()
            .map(|g| {
                let info = ids.get(g.vpc?.v)?;
                (info.kind == Kind::Vpc && info.index < vpcs.len()).then_some(info.index)
            })
            .collect()
    }

    /// Pass 2: the gateways' VPCs, the hosts and the public addresses.
    pub(super) fn resolve_internet(
        &mut self,
        (vpcs, subnets, subnet_vpcs): (&[Vpc], &[Subnet], &[Option<usize>]),
        enis: &EnisOut,
        input: InternetIn<'_>,
        ids: &HashMap<String, IdInfo>,
    ) -> Internet {
        let vpc_ids = defined(ids, Kind::Vpc, vpcs.iter().map(|v| &v.id));
        let mut out = Internet::default();
        // VPC -> (its gateway, where its `vpc` is written)
        let mut attached: HashMap<usize, (usize, usize)> = HashMap::new();
        for g in input.gateways {
            let field = join(&g.path, "vpc");
            let Some(r) = g.vpc else { continue };
            let Some(v) = self.resolve(r, Kind::Vpc, &field, ids, &vpc_ids) else {
                continue;
            };
            if let Some(&(j, pos)) = attached.get(&v) {
                let line = self.line_of(pos);
                self.err(
                    r.pos,
                    &field,
                    format!(
                        "{} already has internet gateway {} attached (line {line}); a VPC has \
                         one internet gateway at most",
                        vpcs[v].id, out.gateways[j].id
                    ),
                );
                continue;
            }
            attached.insert(v, (out.gateways.len(), r.pos));
            out.gateways.push(InternetGateway { id: g.id, vpc: v });
        }
        // internet address -> what holds it, for duplicates
        let mut taken: HashMap<Ipv4Addr, (String, usize)> = HashMap::new();
        let eni_hosts: Vec<&str> = enis.enis.iter().map(|e| e.host.as_str()).collect();
        let mut names: HashMap<String, usize> = HashMap::new();
        for h in input.hosts {
            let name_ok = h
                .name
                .as_ref()
                .is_some_and(|n| self.internet_host_name(n, &h.path, &eni_hosts, &names));
            if let Some(n) = &h.name {
                names.entry(n.v.clone()).or_insert(n.pos);
            }
            let ip_ok = h.ip.is_some_and(|ip| {
                self.internet_address(ip, &join(&h.path, "ip"), &h.path, &mut taken)
            });
            if let (true, true, Some(n), Some(ip)) = (name_ok, ip_ok, h.name, h.ip) {
                let o = ip.v.octets();
                out.hosts.push(InternetHost {
                    name: n.v,
                    ip: ip.v,
                    mac: [0x06, 0x00, o[0], o[1], o[2], o[3]],
                });
            }
        }
        for p in input.public_ips {
            let field = join(&p.path, "public_ip");
            if !self.internet_address(p.ip, &field, &format!("{} (public_ip)", p.path), &mut taken)
            {
                continue;
            }
            let Some(Some(v)) = enis.vpcs.get(p.eni) else {
                continue;
            };
            if !attached.contains_key(v) {
                self.err(
                    p.ip.pos,
                    &field,
                    format!(
                        "{} has no internet gateway attached: a public IP works only in a VPC \
                         with one (add an [[internet_gateway]] with vpc = \"{}\")",
                        vpcs[*v].id, vpcs[*v].id
                    ),
                );
                continue;
            }
            if p.eni < enis.enis.len() {
                out.public_ips.push(PublicIp {
                    eni: p.eni,
                    ip: p.ip.v,
                });
            }
        }
        let igw_vpcs: Vec<usize> = attached.keys().copied().collect();
        out.nat_gateways = self.resolve_nat_gateways(
            (vpcs, subnets, subnet_vpcs),
            enis,
            input.nat_gateways,
            ids,
            (&mut taken, &igw_vpcs),
        );
        out
    }

    /// An internet host's name: a valid namespace suffix, not "fabric", no
    /// ENI's host, not another internet host's.
    fn internet_host_name(
        &mut self,
        n: &Sp<String>,
        path: &str,
        eni_hosts: &[&str],
        names: &HashMap<String, usize>,
    ) -> bool {
        let field = join(path, "name");
        let msg = if n.v == "fabric" {
            "host name \"fabric\" is reserved for the lab's fabric namespace".to_string()
        } else if !valid_name(&n.v, 15) {
            format!("invalid host name {:?} ({HOST_NAME_RULE})", n.v)
        } else if eni_hosts.contains(&n.v.as_str()) {
            format!(
                "host name {:?} is already an ENI's host; an internet host is a namespace of \
                 its own",
                n.v
            )
        } else if let Some(&pos) = names.get(&n.v) {
            format!(
                "host name {:?} is already used at line {}",
                n.v,
                self.line_of(pos)
            )
        } else {
            return true;
        };
        self.err(n.pos, &field, msg);
        false
    }
}

#[cfg(test)]
mod tests;
