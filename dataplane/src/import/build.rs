//! An [`Inventory`] -> the hyperlab topology it stands for ([`Out`], which
//! `render` writes as TOML). Every resource is either mapped, or listed in
//! the report with the reason it is not; a reference to a resource that
//! the dump should hold but does not, or a value AWS would refuse, is an
//! error naming its file and JSON path.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::Ipv4Addr,
};

use ipnet::Ipv4Net;

mod gateways;
mod links;
mod nacls;
mod network;
mod routes;
mod services;

pub use gateways::{OIgw, ONat};
pub use nacls::{OAclEntry, ONacl};
pub use routes::{OPeering, ORouteTable};

use super::inventory::*;
use super::json::{At, Res};

/// The account of endpoints whose owner the dump does not give.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// The topology to write, in the config's terms. Addresses are slots,
/// given once every resource has asked for one.
#[derive(Debug, Default)]
pub struct Out {
    pub vpcs: Vec<OVpc>,
    pub subnets: Vec<OSubnet>,
    pub sgs: Vec<OSg>,
    pub nacls: Vec<ONacl>,
    /// `[lab] nacl_entries_max`, when not the default.
    pub nacl_entries_max: Option<u32>,
    pub route_tables: Vec<ORouteTable>,
    pub peerings: Vec<OPeering>,
    pub enis: Vec<OEni>,
    pub tgs: Vec<OTg>,
    pub nlbs: Vec<ONlb>,
    pub albs: Vec<OAlb>,
    pub services: Vec<OService>,
    pub endpoints: Vec<OEndpoint>,
    pub cloud_maps: Vec<OCloudMap>,
    pub links: Vec<OLink>,
    pub igws: Vec<OIgw>,
    pub nats: Vec<ONat>,
    /// ENIs' public addresses: (ENI, slot of `public_addrs`), in ENI order.
    pub public_ips: Vec<(usize, usize)>,
    /// The lab's `[internet]` hosts (an export's): (name, slot of
    /// `public_addrs`).
    pub internet_hosts: Vec<(String, usize)>,
    /// Final addresses, by slot.
    pub addrs: Vec<Ipv4Addr>,
    /// Final addresses on the lab's internet, by public slot.
    pub public_addrs: Vec<Ipv4Addr>,
}

#[derive(Debug)]
pub struct OVpc {
    pub id: String,
    pub cidr: Ipv4Net,
    pub comment: Option<String>,
}

#[derive(Debug)]
pub struct OSubnet {
    pub id: String,
    pub vpc: usize,
    pub cidr: Ipv4Net,
    pub az: String,
    pub comment: Option<String>,
}

#[derive(Debug)]
pub struct OSg {
    pub id: String,
    pub vpc: usize,
    pub ingress: Vec<ORule>,
    /// `None`: AWS's default egress rule (the config's default too).
    pub egress: Option<Vec<ORule>>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ORule {
    /// tcp, udp, icmp, all, or another protocol's number.
    pub protocol: String,
    pub ports: Option<(u16, u16)>,
    /// ICMP: (type, code), -1 for all (`None`: every type and code).
    pub icmp: Option<(i16, i16)>,
    /// A CIDR or a group id.
    pub peer: String,
}

#[derive(Debug)]
pub struct OEni {
    pub id: String,
    pub subnet: usize,
    pub slot: usize,
    pub groups: Vec<String>,
    pub host: String,
    pub comment: Option<String>,
}

#[derive(Debug)]
pub struct OTarget {
    pub eni: usize,
    pub port: u16,
}

#[derive(Debug)]
pub struct OHealth {
    pub protocol: &'static str,
    pub path: Option<String>,
    pub port: Option<u16>,
    pub interval_ms: Option<u32>,
    pub timeout_ms: Option<u32>,
    pub healthy: Option<u32>,
    pub unhealthy: Option<u32>,
}

#[derive(Debug)]
pub struct OTg {
    pub id: String,
    pub vpc: usize,
    pub protocol: &'static str,
    pub port: u16,
    pub targets: Vec<OTarget>,
    pub health: Option<OHealth>,
    pub connection_termination: Option<bool>,
    pub comment: Option<String>,
}

#[derive(Debug)]
pub struct ONlb {
    pub id: String,
    pub nodes: Vec<(usize, usize)>,
    pub cross_zone: bool,
    pub groups: Vec<String>,
    pub listeners: Vec<(&'static str, u16, String)>,
    pub source_ports: Option<(u16, u16)>,
    pub comment: Option<String>,
}

/// An ALB whose nodes are lab hosts (an export of a hyperlab topology
/// names them; a real dump does not).
#[derive(Debug)]
pub struct OAlb {
    pub id: String,
    pub nodes: Vec<usize>,
    pub listener_ports: Vec<u16>,
    pub comment: Option<String>,
}

#[derive(Debug)]
pub struct OService {
    pub id: String,
    pub nlb: String,
    pub acceptance_required: Option<bool>,
    pub principals: Vec<String>,
    /// Whether the principals were read (Terraform) or derived from the
    /// endpoints that connected.
    pub principals_given: bool,
    pub comment: Option<String>,
}

#[derive(Debug)]
pub struct OEndpoint {
    pub id: String,
    pub service: usize,
    pub vpc: usize,
    pub nodes: Vec<(usize, usize)>,
    pub groups: Vec<String>,
    pub principal: String,
    pub state: Option<&'static str>,
    pub comment: Option<String>,
}

#[derive(Debug)]
pub struct OCloudMap {
    pub id: String,
    pub vpc: usize,
    /// (ENI, port)
    pub instances: Vec<(usize, u16)>,
}

#[derive(Debug)]
pub enum OIntegrationTarget {
    Alb(String),
    Nlb(String),
    CloudMap(String),
}

#[derive(Debug)]
pub struct OIntegration {
    pub id: String,
    pub target: OIntegrationTarget,
    pub protocol: &'static str,
    pub port: u16,
    pub slot: usize,
}

#[derive(Debug)]
pub enum OLinkKind {
    Rest {
        nlb: String,
        vpc: usize,
        /// (subnet, address slot)
        places: Vec<(usize, usize)>,
        groups: Vec<String>,
    },
    Http {
        subnets: Vec<usize>,
        /// The link ENIs' address slots, one per subnet, if given.
        addresses: Option<Vec<usize>>,
        groups: Vec<String>,
        service_vpc: usize,
        integrations: Vec<OIntegration>,
    },
}

#[derive(Debug)]
pub struct OLink {
    pub id: String,
    pub kind: OLinkKind,
    pub comment: Option<String>,
}

/// An address a resource asks for in a subnet.
struct Want {
    /// Allocated on purpose (a resource import made up): no warning.
    quiet: bool,
    vpc: usize,
    subnet: usize,
    ip: Option<(String, At)>,
    who: String,
    at: At,
}

/// Why a reference does not resolve when that is not an error: the
/// resource was not imported, or its kind is not in the dump.
type Why = String;

struct B<'i> {
    inv: &'i Inventory,
    out: Out,
    report: Vec<String>,
    /// Out indices by AWS id (or ARN), per kind.
    vpcs: HashMap<&'i str, usize>,
    subnets: HashMap<&'i str, usize>,
    sgs: HashMap<&'i str, usize>,
    /// Host ENIs by AWS ENI id; an instance's primary ENI by instance id.
    enis: HashMap<String, usize>,
    instance_eni: HashMap<&'i str, usize>,
    tgs: HashMap<&'i str, usize>,
    nlbs: HashMap<&'i str, usize>,
    albs: HashMap<&'i str, usize>,
    /// Resources not imported, with the reason (for what refers to them).
    skipped: HashMap<String, Why>,
    /// Every id used in the output (one namespace).
    ids: HashSet<String>,
    hosts: HashSet<String>,
    /// The AWS ids of the peering connections written.
    peerings: HashSet<String>,
    wants: Vec<Want>,
    /// API Gateway's side, made once if a VPC link needs it: (VPC, subnet,
    /// the API host's group).
    api: Option<(usize, usize, String)>,
    /// Out indices of the gateways, by AWS id.
    igws: HashMap<&'i str, usize>,
    nats: HashMap<&'i str, usize>,
    /// ENIs' own public addresses (out ENI, address), from `enis`.
    eni_public: Vec<(usize, (String, At))>,
    public_wants: Vec<gateways::PublicWant>,
}

fn comment(name: &Option<String>) -> Option<String> {
    name.as_ref().map(|n| format!("Name: {n}"))
}

/// A CIDR as AWS accepts it for a VPC or subnet: a network address with a
/// prefix of /16 to /28.
fn aws_network(s: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = s.parse().map_err(|_| {
        format!("invalid CIDR {s:?} (expected an IPv4 network such as 10.0.0.0/16)")
    })?;
    if net.trunc() != net {
        return Err(format!(
            "AWS refuses {s}: host bits are set (the network is {})",
            net.trunc()
        ));
    }
    if !(16..=28).contains(&net.prefix_len()) {
        return Err(format!("AWS refuses {s}: the prefix must be /16 to /28"));
    }
    Ok(net)
}

/// A rule's IPv4 peer CIDR as AWS accepts it.
fn aws_peer(s: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = s
        .parse()
        .map_err(|_| format!("invalid CIDR {s:?} (expected an IPv4 CIDR such as 10.0.0.0/16)"))?;
    if net.trunc() != net {
        return Err(format!(
            "AWS refuses {s}: host bits are set (the network is {})",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A lab host name from a Name tag or an id: `[a-z0-9-]`, 15 characters.
fn host_name(s: &str) -> String {
    let mut h: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    while h.contains("--") {
        h = h.replace("--", "-");
    }
    h = h.trim_matches('-').to_string();
    h.truncate(15);
    h.trim_end_matches('-').to_string()
}

impl<'i> B<'i> {
    fn line(&mut self, at: &At, kind: &str, text: String) {
        let place = if at.path.is_empty() {
            at.file.to_string()
        } else {
            format!("{}: {}", at.file, at.path)
        };
        self.report.push(format!("{place}: {kind}: {text}"));
    }

    fn not_imported(&mut self, at: &At, what: &str, why: &str) {
        self.line(at, "not imported", format!("{what}: {why}"));
    }

    fn skip(&mut self, id: &str, at: &At, what: &str, why: &str) {
        self.not_imported(at, what, why);
        self.skipped
            .insert(id.to_string(), format!("{what} is not imported"));
    }

    /// A unique output id: the AWS id, or `id-2`, `id-3`, ...
    fn unique_id(&mut self, id: &str) -> String {
        let mut out = id.to_string();
        let mut n = 2;
        while self.ids.contains(&out) {
            out = format!("{id}-{n}");
            n += 1;
        }
        self.ids.insert(out.clone());
        out
    }

    fn unique_host(&mut self, want: &str, fallback: &str) -> String {
        let mut base = host_name(want);
        if base.is_empty() {
            base = host_name(fallback);
        }
        if base.is_empty() {
            base = "host".into();
        }
        let mut h = base.clone();
        let mut n = 2;
        while self.hosts.contains(&h) || h == "fabric" {
            let suffix = format!("-{n}");
            let mut b = base.clone();
            b.truncate(15 - suffix.len());
            h = format!("{}{suffix}", b.trim_end_matches('-'));
            n += 1;
        }
        self.hosts.insert(h.clone());
        h
    }

    /// The VPC a resource names in `VpcId` (`r`; missing: an error at
    /// `at`): `None` when it is not imported, after skipping resource `id`
    /// (`what`) for that reason.
    fn required_vpc(
        &mut self,
        r: &Option<Ref>,
        at: &At,
        (id, what): (&str, &str),
    ) -> Res<Option<usize>> {
        let r = r.as_ref().ok_or_else(|| at.key("VpcId").err("missing"))?;
        let found = self.resolve_vpc(r)?;
        Ok(self.or_skip(found, at, (id, what)))
    }

    /// [`Self::required_vpc`] for the subnet a resource names in `SubnetId`.
    fn required_subnet(
        &mut self,
        r: &Option<Ref>,
        at: &At,
        (id, what): (&str, &str),
    ) -> Res<Option<usize>> {
        let r = r
            .as_ref()
            .ok_or_else(|| at.key("SubnetId").err("missing"))?;
        let found = self.resolve_subnet(r)?;
        Ok(self.or_skip(found, at, (id, what)))
    }

    /// `found`'s index, or `None` after skipping resource `id` (`what`,
    /// at `at`) for the reason it was not found.
    fn or_skip(
        &mut self,
        found: Result<usize, Why>,
        at: &At,
        (id, what): (&str, &str),
    ) -> Option<usize> {
        match found {
            Ok(i) => Some(i),
            Err(why) => {
                self.skip(id, at, what, &why);
                None
            }
        }
    }

    /// [`Self::resolve`] of a VPC (describe-vpcs).
    fn resolve_vpc(&self, r: &Ref) -> Res<Result<usize, Why>> {
        self.resolve(r, &self.vpcs, "VPC", Source::Vpcs, "describe-vpcs")
    }

    /// [`Self::resolve`] of a subnet (describe-subnets).
    fn resolve_subnet(&self, r: &Ref) -> Res<Result<usize, Why>> {
        let call = "describe-subnets";
        self.resolve(r, &self.subnets, "subnet", Source::Subnets, call)
    }

    /// [`Self::resolve`] of a load balancer (elbv2 describe-load-balancers).
    fn resolve_nlb(&self, r: &Ref) -> Res<Result<usize, Why>> {
        let call = "elbv2 describe-load-balancers";
        self.resolve(r, &self.nlbs, "load balancer", Source::LoadBalancers, call)
    }

    /// [`Self::resolve`] of a target group (describe-target-groups).
    fn resolve_tg(&self, r: &Ref) -> Res<Result<usize, Why>> {
        let call = "describe-target-groups";
        self.resolve(r, &self.tgs, "target group", Source::TargetGroups, call)
    }

    /// [`Self::resolve`] of a security group (describe-security-groups).
    fn resolve_sg(&self, r: &Ref) -> Res<Result<usize, Why>> {
        let call = "describe-security-groups";
        self.resolve(r, &self.sgs, "security group", Source::SecurityGroups, call)
    }

    /// Resolves `r` among `map`: `Ok(Ok(i))`, `Ok(Err(why))` when the
    /// resource is not imported or its kind not read, or an error when the
    /// dump holds that kind but not that resource.
    fn resolve(
        &self,
        r: &Ref,
        map: &HashMap<&str, usize>,
        kind: &str,
        src: Source,
        call: &str,
    ) -> Res<Result<usize, Why>> {
        if let Some(&i) = map.get(r.id.as_str()) {
            return Ok(Ok(i));
        }
        if let Some(why) = self.skipped.get(&r.id) {
            return Ok(Err(format!("its {kind} {}: {why}", r.id)));
        }
        if !self.inv.read.contains(&src) {
            return Ok(Err(format!(
                "its {kind} {} is not in the dump (no {call})",
                r.id
            )));
        }
        Err(r.at.err(format!("unknown {kind} {}", r.id)))
    }

    /// The subnets a network ACL or route table of VPC `vpc` is associated
    /// with (a subnet not imported is left out: its own line says why);
    /// `kind` is (what, its id, how many a subnet has). A subnet of another
    /// VPC, or one `assoc` already gives to another, is an error.
    fn associations(
        &self,
        subnets: &[Ref],
        (vpc, vpc_id): (usize, &str),
        (what, id, limit): (&str, &str, &str),
        assoc: &mut HashMap<usize, String>,
    ) -> Res<Vec<usize>> {
        let mut out = Vec::new();
        for s in subnets {
            let Ok(i) = self.resolve_subnet(s)? else {
                continue;
            };
            if self.out.subnets[i].vpc != vpc {
                return Err(s.at.err(format!(
                    "subnet {} is in {}, not in {vpc_id} (a {what} is associated with subnets \
                     of its own VPC)",
                    s.id, self.out.vpcs[self.out.subnets[i].vpc].id
                )));
            }
            if let Some(other) = assoc.insert(i, id.to_string()) {
                return Err(s.at.err(format!(
                    "subnet {} is already associated with {what} {other} (a subnet has {limit})",
                    s.id
                )));
            }
            out.push(i);
        }
        Ok(out)
    }

    fn want(
        &mut self,
        vpc: usize,
        subnet: usize,
        ip: Option<(String, At)>,
        who: String,
        at: &At,
    ) -> usize {
        self.wants.push(Want {
            quiet: false,
            vpc,
            subnet,
            ip,
            who,
            at: at.clone(),
        });
        self.wants.len() - 1
    }
}

/// Resources of a VPC that make it worth importing (the account's default
/// VPC is left out when nothing is in it).
fn used_subnets(inv: &Inventory) -> BTreeSet<&str> {
    let mut used = BTreeSet::new();
    for e in &inv.enis {
        used.extend(e.subnet.as_ref().map(|r| r.id.as_str()));
    }
    for i in &inv.instances {
        used.extend(i.subnet.as_ref().map(|r| r.id.as_str()));
    }
    for l in &inv.lbs {
        used.extend(l.zones.iter().map(|(s, _)| s.id.as_str()));
    }
    for e in &inv.endpoints {
        used.extend(e.subnets.iter().map(|s| s.id.as_str()));
    }
    for l in &inv.links {
        if let LinkKind::Http { subnets, .. } = &l.kind {
            used.extend(subnets.iter().map(|s| s.id.as_str()));
        }
    }
    used
}

pub fn build(inv: &Inventory) -> Res<(Out, Vec<String>)> {
    let mut b = B {
        inv,
        out: Out::default(),
        report: Vec::new(),
        vpcs: HashMap::new(),
        subnets: HashMap::new(),
        sgs: HashMap::new(),
        enis: HashMap::new(),
        instance_eni: HashMap::new(),
        tgs: HashMap::new(),
        nlbs: HashMap::new(),
        albs: HashMap::new(),
        skipped: HashMap::new(),
        ids: HashSet::new(),
        hosts: HashSet::new(),
        peerings: HashSet::new(),
        wants: Vec::new(),
        api: None,
        igws: HashMap::new(),
        nats: HashMap::new(),
        eni_public: Vec::new(),
        public_wants: Vec::new(),
    };
    b.vpcs_and_subnets()?;
    b.peerings()?;
    b.groups()?;
    b.enis()?;
    b.target_groups()?;
    b.load_balancers()?;
    b.services_and_endpoints()?;
    b.links()?;
    b.nacls()?;
    b.gateways()?;
    b.route_tables()?;
    for u in &inv.unsupported {
        b.not_imported(&u.at, &u.what, &u.reason);
    }
    b.addresses()?;
    b.public_addresses()?;
    let mut report = inv.notes.clone();
    report.extend(b.report);
    Ok((b.out, report))
}

impl<'i> B<'i> {
    /// Gives every slot its address: the dump's where AWS would allow it
    /// (inside the subnet, not reserved, not loopback, free in the VPC),
    /// else the subnet's lowest free usable address, with a warning.
    fn addresses(&mut self) -> Res<()> {
        let mut taken: HashSet<(usize, Ipv4Addr)> = HashSet::new();
        let mut addrs: Vec<Option<Ipv4Addr>> = vec![None; self.wants.len()];
        let mut why: Vec<Option<String>> = vec![None; self.wants.len()];
        for (i, w) in self.wants.iter().enumerate() {
            let net = self.out.subnets[w.subnet].cidr;
            let Some((s, at)) = &w.ip else {
                why[i] = Some("the dump gives no address".into());
                continue;
            };
            let ip: Ipv4Addr = s
                .parse()
                .map_err(|_| at.err(format!("invalid IPv4 address {s:?}")))?;
            let off = u32::from(ip).wrapping_sub(u32::from(net.network()));
            why[i] = if ip.is_loopback() {
                Some(format!("{ip} is a loopback address"))
            } else if !net.contains(&ip) {
                Some(format!(
                    "{ip} is outside {} ({net})",
                    self.out.subnets[w.subnet].id
                ))
            } else if off < 4 || ip == net.broadcast() {
                Some(format!("{ip} is reserved by AWS in {net}"))
            } else if !taken.insert((w.vpc, ip)) {
                Some(format!(
                    "{ip} is already used in {}",
                    self.out.vpcs[w.vpc].id
                ))
            } else {
                addrs[i] = Some(ip);
                None
            };
        }
        for i in 0..self.wants.len() {
            if addrs[i].is_some() {
                continue;
            }
            let w = &self.wants[i];
            let net = self.out.subnets[w.subnet].cidr;
            let first = u32::from(net.network()) + 4;
            let last = u32::from(net.broadcast()) - 1;
            let Some(ip) = (first..=last)
                .map(Ipv4Addr::from)
                .find(|ip| !taken.contains(&(w.vpc, *ip)))
            else {
                return Err(w.at.err(format!(
                    "{}: no free address left in {} ({net})",
                    w.who, self.out.subnets[w.subnet].id
                )));
            };
            taken.insert((w.vpc, ip));
            addrs[i] = Some(ip);
            let (at, who) = (w.at.clone(), w.who.clone());
            let subnet = self.out.subnets[w.subnet].id.clone();
            let reason = why[i].take().unwrap_or_default();
            if w.quiet {
                continue;
            }
            let verb = if self.wants[i].ip.is_some() {
                "re-addressed to"
            } else {
                "given"
            };
            self.line(
                &at,
                "warning",
                format!("{who}: {reason}; {verb} {ip} in {subnet} ({net})"),
            );
        }
        self.out.addrs = addrs
            .into_iter()
            .map(|a| a.expect("every slot is given"))
            .collect();
        Ok(())
    }
}
