//! The gateway layer: internet gateways (`[[internet_gateway]]`), public
//! NAT gateways (`[[nat_gateway]]`), the public addresses of ENIs
//! (`public_ip`) and, from an export, the lab's `[internet]` hosts.
//!
//! AWS's rules the config checks too: a VPC has one internet gateway at
//! most; a public address (an ENI's, a NAT gateway's Elastic IP) works
//! only in a VPC with one attached. The lab's own rule: its internet uses
//! documentation addresses only (198.51.100.0/24, 203.0.113.0/24), so a
//! real public address from a dump is re-addressed there, with a warning
//! naming the resource (`public_addresses`).

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use super::*;
use crate::model::{internet_range, INTERNET_RANGES, NAT_GATEWAY_PORTS};

#[derive(Debug)]
pub struct OIgw {
    pub id: String,
    pub vpc: usize,
    pub comment: Option<String>,
}

#[derive(Debug)]
pub struct ONat {
    pub id: String,
    pub subnet: usize,
    /// Its private address: a slot of `Out::addrs`.
    pub slot: usize,
    /// Its Elastic IP: a slot of `Out::public_addrs`.
    pub public: usize,
    /// The lab's `ports` knob, when not AWS's pool.
    pub ports: Option<(u16, u16)>,
    pub comment: Option<String>,
}

/// A public address a resource asks for on the lab's internet.
pub(super) struct PublicWant {
    pub(super) ip: Option<(String, At)>,
    pub(super) who: String,
    pub(super) at: At,
}

/// Whether an attachment's `State` means attached (`available` is what
/// the EC2 API says for an attached gateway; `attached` what Terraform and
/// some emulators say).
fn attached(state: &Option<String>) -> bool {
    matches!(state.as_deref(), None | Some("available" | "attached"))
}

impl<'i> B<'i> {
    fn public_want(&mut self, ip: Option<(String, At)>, who: String, at: &At) -> usize {
        self.public_wants.push(PublicWant {
            ip,
            who,
            at: at.clone(),
        });
        self.public_wants.len() - 1
    }

    /// The ids of the managed ENIs the dump's NAT gateways list (their
    /// addresses are the gateways').
    pub(super) fn nat_enis(&self) -> HashSet<&'i str> {
        self.inv
            .nats
            .iter()
            .flat_map(|n| n.addresses.iter().filter_map(|a| a.eni.as_deref()))
            .collect()
    }

    pub(super) fn gateways(&mut self) -> Res<()> {
        let inv = self.inv;
        if let Some(hosts) = &inv.internet_hosts {
            for (name, ip) in hosts {
                let slot =
                    self.public_want(Some(ip.clone()), format!("internet host {name}"), &ip.1);
                self.out.internet_hosts.push((name.clone(), slot));
            }
        }
        self.internet_gateways()?;
        self.eni_public_ips()?;
        self.nat_gateways()?;
        if inv.internet_hosts.is_none() {
            if let Some(g) = inv.igws.first().filter(|_| !self.out.igws.is_empty()) {
                let text = "the lab's internet has no hosts (no AWS call lists them): add `[internet] \
                            hosts = [{ name = \"example\", ip = \"203.0.113.10\" }]` (documentation \
                            addresses only) to reach them through the internet gateways"
                    .to_string();
                let at = g.at.clone();
                self.line(&at, "note", text);
            }
        }
        Ok(())
    }

    fn internet_gateways(&mut self) -> Res<()> {
        let inv = self.inv;
        // VPC -> the AWS id of its gateway
        let mut by_vpc: HashMap<usize, &str> = HashMap::new();
        for g in &inv.igws {
            if self.igws.contains_key(g.id.as_str()) || self.skipped.contains_key(&g.id) {
                return Err(g.at.err(format!("duplicate internet gateway {}", g.id)));
            }
            let what = format!("internet gateway {}", g.id);
            let live: Vec<&(Ref, Option<String>)> =
                g.attachments.iter().filter(|(_, s)| attached(s)).collect();
            let Some((vref, _)) = live.first() else {
                let why = match g.attachments.first() {
                    Some((v, Some(s))) => {
                        format!("its attachment to {} is {s}: it carries nothing", v.id)
                    }
                    _ => "it is not attached to a VPC: it carries nothing".to_string(),
                };
                self.skip(&g.id, &g.at, &what, &why);
                continue;
            };
            if let Some((second, _)) = live.get(1) {
                return Err(second.at.err(format!(
                    "internet gateway {} is attached to {} and {}; AWS attaches a gateway to one VPC",
                    g.id, vref.id, second.id
                )));
            }
            let vpc = match self.resolve_vpc(vref)? {
                Ok(v) => v,
                Err(why) => {
                    self.skip(&g.id, &g.at, &what, &why);
                    continue;
                }
            };
            if let Some(other) = by_vpc.insert(vpc, &g.id) {
                return Err(vref.at.err(format!(
                    "{} already has internet gateway {other} attached; a VPC has one at most",
                    vref.id
                )));
            }
            let id = self.unique_id(&g.id);
            self.igws.insert(&g.id, self.out.igws.len());
            self.out.igws.push(OIgw {
                id,
                vpc,
                comment: comment(&g.name),
            });
        }
        Ok(())
    }

    /// The primary ENI (as a reference by AWS id) of instance `i`, or why
    /// there is none to give an address to.
    fn instance_primary(&self, i: &Ref) -> Res<Result<Ref, String>> {
        if let Some(why) = self.skipped.get(&i.id) {
            return Ok(Err(format!("its instance {}: {why}", i.id)));
        }
        if !self.inv.instances.iter().any(|x| x.id == i.id) {
            if !self.inv.read.contains(&Source::Instances) {
                return Ok(Err(format!(
                    "its instance {} is not in the dump (no describe-instances)",
                    i.id
                )));
            }
            return Err(i.at.err(format!("unknown instance {}", i.id)));
        }
        // Its first listed ENI, else the one import made from its fields.
        let id = self
            .inv
            .enis
            .iter()
            .find(|e| e.instance.as_deref() == Some(i.id.as_str()))
            .map_or(i.id.clone(), |e| e.id.clone());
        Ok(Ok(Ref {
            id,
            at: i.at.clone(),
        }))
    }

    fn has_igw(&self, vpc: usize) -> bool {
        self.out.igws.iter().any(|g| g.vpc == vpc)
    }

    /// ENIs' public addresses: their own `Association.PublicIp` (an
    /// instance's `PublicIpAddress`), and the Elastic IPs
    /// `describe-addresses` associates with them.
    fn eni_public_ips(&mut self) -> Res<()> {
        let inv = self.inv;
        let nat_enis = self.nat_enis();
        let nat_allocations: HashSet<&str> = inv
            .nats
            .iter()
            .flat_map(|n| n.addresses.iter().filter_map(|a| a.allocation.as_deref()))
            .collect();
        // out ENI -> (address, where it is written)
        let mut public: Vec<(usize, (String, At))> = self.eni_public.clone();
        for a in &inv.addresses {
            let (ip, _) = &a.public_ip;
            let what = match &a.allocation {
                Some(id) => format!("Elastic IP {ip} ({id})"),
                None => format!("Elastic IP {ip}"),
            };
            let on_nat = a
                .allocation
                .as_deref()
                .is_some_and(|x| nat_allocations.contains(x))
                || a.eni
                    .as_ref()
                    .is_some_and(|e| nat_enis.contains(e.id.as_str()));
            if on_nat {
                continue; // the NAT gateway's (nat_gateways)
            }
            // Associated with an instance: its primary ENI.
            let by_instance = match (&a.eni, &a.instance) {
                (None, Some(i)) => Some(self.instance_primary(i)?),
                _ => None,
            };
            let eref = match (&a.eni, by_instance) {
                (Some(e), _) => e.clone(),
                (None, Some(Ok(e))) => e,
                (None, Some(Err(why))) => {
                    self.not_imported(&a.at, &what, &why);
                    continue;
                }
                (None, None) => {
                    let why = "it is not associated with a network interface: it carries nothing";
                    self.not_imported(&a.at, &what, why);
                    continue;
                }
            };
            let eref = &eref;
            let Some(&eni) = self.enis.get(&eref.id) else {
                let why = match self.skipped.get(&eref.id) {
                    Some(why) => format!("its network interface {}: {why}", eref.id),
                    None if inv.enis.iter().any(|e| e.id == eref.id) => {
                        format!("its network interface {} is not imported", eref.id)
                    }
                    None if !inv.read.contains(&Source::NetworkInterfaces) => format!(
                        "its network interface {} is not in the dump (no describe-network-interfaces)",
                        eref.id
                    ),
                    None => return Err(eref.at.err(format!("unknown network interface {}", eref.id))),
                };
                self.not_imported(&a.at, &what, &why);
                continue;
            };
            let primary = inv
                .enis
                .iter()
                .find(|e| e.id == eref.id)
                .and_then(|e| e.ip.as_ref().map(|(s, _)| s.as_str()));
            if let (Some(p), Some(q)) = (&a.private_ip, primary) {
                if p != q {
                    let why = format!(
                        "it is associated with {p}, a secondary address of {} (a hyperlab ENI has one address)",
                        eref.id
                    );
                    self.not_imported(&a.at, &what, &why);
                    continue;
                }
            }
            match public.iter().find(|(e, _)| *e == eni) {
                Some((_, (other, _))) if other != ip => {
                    let text = format!(
                        "{what}: associated with {}, whose own record gives {other}; {other} is used",
                        eref.id
                    );
                    self.line(&a.at, "warning", text);
                }
                Some(_) => {}
                None => public.push((eni, a.public_ip.clone())),
            }
        }
        public.sort_by_key(|(e, _)| *e);
        for (eni, ip) in public {
            let vpc = self.out.subnets[self.out.enis[eni].subnet].vpc;
            let what = format!(
                "public IP {} of network interface {}",
                ip.0, self.out.enis[eni].id
            );
            if !self.has_igw(vpc) {
                let why = format!(
                    "{} has no internet gateway attached (in the dump): the address carries nothing",
                    self.out.vpcs[vpc].id
                );
                self.not_imported(&ip.1, &what, &why);
                continue;
            }
            let at = ip.1.clone();
            let slot = self.public_want(Some(ip), what, &at);
            self.out.public_ips.push((eni, slot));
        }
        Ok(())
    }

    fn nat_gateways(&mut self) -> Res<()> {
        let inv = self.inv;
        for g in &inv.nats {
            if self.nats.contains_key(g.id.as_str()) || self.skipped.contains_key(&g.id) {
                return Err(g.at.err(format!("duplicate NAT gateway {}", g.id)));
            }
            let what = format!("NAT gateway {}", g.id);
            if let Some((_, at)) = g.connectivity.as_ref().filter(|(c, _)| c == "private") {
                let why =
                    "a private NAT gateway (ConnectivityType private) reaches other networks \
                           through transit gateways, which hyperlab does not model";
                self.skip(&g.id, at, &what, why);
                continue;
            }
            if let Some((s, at)) = g
                .state
                .as_ref()
                .filter(|(s, _)| !matches!(s.as_str(), "available" | "pending"))
            {
                let why = format!("its state is {s}: it carries nothing");
                self.skip(&g.id, at, &what, &why);
                continue;
            }
            let Some(subnet) = self.required_subnet(&g.subnet, &g.at, (&g.id, &what))? else {
                continue;
            };
            let vpc = self.out.subnets[subnet].vpc;
            if !self.has_igw(vpc) {
                let why = format!(
                    "{} has no internet gateway attached (in the dump): a public NAT gateway's \
                     Elastic IP works only through one",
                    self.out.vpcs[vpc].id
                );
                self.skip(&g.id, &g.at, &what, &why);
                continue;
            }
            let ports = match g.ports {
                None => None,
                Some((lo, hi)) => {
                    let ok = (1024..=65535).contains(&lo) && (lo..=65535).contains(&hi);
                    if !ok {
                        return Err(g.at.key("HyperlabPorts").err(format!(
                            "[{lo}, {hi}] is no source-port range of a NAT gateway (1024 to 65535, first <= last)"
                        )));
                    }
                    Some((lo as u16, hi as u16)).filter(|p| *p != NAT_GATEWAY_PORTS)
                }
            };
            // Its primary address; any other is reported.
            let primary = g
                .addresses
                .iter()
                .position(|a| a.primary == Some(true))
                .unwrap_or(0);
            for (k, a) in g.addresses.iter().enumerate() {
                if k != primary {
                    let ip = a
                        .public_ip
                        .as_ref()
                        .or(a.private_ip.as_ref())
                        .map_or("?", |(s, _)| s);
                    self.not_imported(
                        &a.at,
                        &format!("secondary address {ip} of {what}"),
                        "a hyperlab NAT gateway has one address",
                    );
                }
            }
            let a = g.addresses.get(primary);
            let at = a.map_or(&g.at, |a| &a.at).clone();
            let eni = a.and_then(|a| a.eni.as_deref());
            let private = a.and_then(|a| a.private_ip.clone()).or_else(|| {
                eni.and_then(|id| inv.enis.iter().find(|e| e.id == id))
                    .and_then(|e| e.ip.clone())
            });
            let public = a.and_then(|a| a.public_ip.clone()).or_else(|| {
                inv.addresses
                    .iter()
                    .find(|x| {
                        a.and_then(|a| a.allocation.as_deref())
                            .is_some_and(|id| x.allocation.as_deref() == Some(id))
                            || eni.is_some_and(|id| x.eni.as_ref().is_some_and(|r| r.id == id))
                    })
                    .map(|x| x.public_ip.clone())
            });
            let slot = self.want(vpc, subnet, private, what.clone(), &at);
            let public_at = public.as_ref().map_or(&at, |(_, a)| a).clone();
            let public = self.public_want(public, format!("Elastic IP of {what}"), &public_at);
            let id = self.unique_id(&g.id);
            self.nats.insert(&g.id, self.out.nats.len());
            self.out.nats.push(ONat {
                id,
                subnet,
                slot,
                public,
                ports,
                comment: comment(&g.name),
            });
        }
        Ok(())
    }

    /// Gives every public slot its address: the dump's where the lab's
    /// internet allows it (a documentation address, not a range's network,
    /// gateway (.1) or broadcast, not taken), else the lowest free one of
    /// 198.51.100.0/24, then 203.0.113.0/24, with a warning.
    pub(super) fn public_addresses(&mut self) -> Res<()> {
        let n = self.public_wants.len();
        let mut taken: HashSet<Ipv4Addr> = HashSet::new();
        let mut addrs: Vec<Option<Ipv4Addr>> = vec![None; n];
        let mut why: Vec<String> = vec![String::new(); n];
        for (i, w) in self.public_wants.iter().enumerate() {
            let Some((s, at)) = &w.ip else {
                why[i] = "the dump gives no address".into();
                continue;
            };
            let ip: Ipv4Addr = s
                .parse()
                .map_err(|_| at.err(format!("invalid IPv4 address {s:?}")))?;
            why[i] =
                match internet_range(ip) {
                    None => {
                        format!(
                    "{ip} is {}not a documentation address (the lab's internet uses only {}, \
                     never a real public address)",
                    if ip.is_loopback() { "a loopback address, " } else { "" },
                    INTERNET_RANGES.join(" and ")
                )
                    }
                    Some(net)
                        if ip == net.network()
                            || ip == net.broadcast()
                            || u32::from(ip) == u32::from(net.network()) + 1 =>
                    {
                        format!("{ip} is {net}'s network, gateway or broadcast address")
                    }
                    Some(_) if !taken.insert(ip) => {
                        format!("{ip} is already used on the lab's internet")
                    }
                    Some(_) => {
                        addrs[i] = Some(ip);
                        continue;
                    }
                };
        }
        let free: Vec<Ipv4Addr> = [INTERNET_RANGES[0], INTERNET_RANGES[1]]
            .iter()
            .flat_map(|r| {
                let net: Ipv4Net = r.parse().expect("a valid CIDR");
                (u32::from(net.network()) + 2..u32::from(net.broadcast())).map(Ipv4Addr::from)
            })
            .collect();
        for i in 0..n {
            if addrs[i].is_some() {
                continue;
            }
            let w = &self.public_wants[i];
            let Some(&ip) = free.iter().find(|ip| !taken.contains(ip)) else {
                return Err(w.at.err(format!(
                    "{}: no free address left on the lab's internet ({})",
                    w.who,
                    INTERNET_RANGES.join(", ")
                )));
            };
            taken.insert(ip);
            addrs[i] = Some(ip);
            let verb = if w.ip.is_some() {
                "re-addressed to"
            } else {
                "given"
            };
            let (at, text) = (w.at.clone(), format!("{}: {}; {verb} {ip}", w.who, why[i]));
            self.line(&at, "warning", text);
        }
        self.out.public_addrs = addrs
            .into_iter()
            .map(|a| a.expect("every slot is given"))
            .collect();
        Ok(())
    }
}
