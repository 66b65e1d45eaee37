//! Random topologies: VPCs (some sharing a CIDR), subnets in several AZs,
//! host ENIs, security groups with CIDR and group-reference peers, every
//! protocol and port ranges, and PrivateLink (NLBs with listeners and target
//! groups, endpoint services, interface endpoints in every state, small
//! source-port pools), and HTTP VPC links (VPC-to-VPC NAT: link ENIs in a
//! customer VPC with a group of their own, ALB, NLB and Cloud Map
//! integrations at addresses in another VPC where an API host lives,
//! targets whose groups admit the link and targets whose groups do not, link
//! egress rules that leave a target port out). Written as a [`TopoSpec`] that renders to the config
//! format, so the agent under test reads exactly what a user would write,
//! and so a failing topology can be shrunk and printed.

use std::{collections::BTreeSet, fmt::Write, net::Ipv4Addr};

use dataplane::model::Ipv4Net;

use super::peering_gen::{self, PeeringSpec};
use super::rng::Rng;

pub const AZS: [&str; 3] = ["use1-az1", "use1-az2", "use1-az3"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopoSpec {
    pub vpcs: Vec<VpcSpec>,
    pub subnets: Vec<SubnetSpec>,
    pub sgs: Vec<SgSpec>,
    pub enis: Vec<EniSpec>,
    pub tgs: Vec<TgSpec>,
    pub nlbs: Vec<NlbSpec>,
    pub services: Vec<ServiceSpec>,
    pub endpoints: Vec<EndpointSpec>,
    pub albs: Vec<AlbSpec>,
    pub cloud_maps: Vec<CloudMapSpec>,
    pub links: Vec<LinkSpec>,
    pub nacls: Vec<NaclSpec>,
    pub route_tables: Vec<RouteTableSpec>,
    pub peerings: Vec<PeeringSpec>,
    /// The lab's internet hosts (`[internet]`): their addresses.
    pub internet_hosts: Vec<Ipv4Addr>,
    /// VPCs with an internet gateway (`igw-<vpc index>`).
    pub igws: Vec<usize>,
    /// NAT gateways (`nat-<index>`; `topo_internet.rs`).
    pub nat_gateways: Vec<super::topo_internet::NatSpec>,
}

/// A route table: its subnets (each in at most one table), whether it is
/// its VPC's main table, and its routes (destination, blackhole?) in file
/// order; `false` is a written `local` route (the VPC's CIDR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTableSpec {
    pub id: String,
    pub vpc: usize,
    pub main: bool,
    pub subnets: Vec<usize>,
    pub routes: Vec<(Ipv4Net, bool)>,
    /// Routes to peering connections (index into `TopoSpec::peerings`),
    /// written after `routes`.
    pub peering_routes: Vec<(Ipv4Net, usize)>,
    /// Routes to the VPC's internet gateway, written after `routes`.
    pub igw: Vec<Ipv4Net>,
    /// Routes to NAT gateways (index into `TopoSpec::nat_gateways`), last.
    pub nat: Vec<(Ipv4Net, usize)>,
}

impl RouteTableSpec {
    /// Table number `n` of VPC `vpc` (`rtb-N`), the main table or none
    /// (`main`), without associations or routes (struct update for those).
    pub fn empty(n: usize, vpc: usize, main: bool) -> RouteTableSpec {
        RouteTableSpec {
            id: format!("rtb-{n}"),
            vpc,
            main,
            subnets: Vec::new(),
            routes: Vec::new(),
            peering_routes: Vec::new(),
            igw: Vec::new(),
            nat: Vec::new(),
        }
    }
}

/// A network ACL: its subnets (each in at most one ACL) and its entries,
/// in file order (rule numbers are not sorted: config sorts them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NaclSpec {
    pub id: String,
    pub vpc: usize,
    pub subnets: Vec<usize>,
    pub ingress: Vec<NaclEntrySpec>,
    pub egress: Vec<NaclEntrySpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NaclEntrySpec {
    pub rule: u16,
    pub allow: bool,
    /// "tcp", "udp", "icmp", "all", "gre" or "50" (ESP by number).
    pub proto: &'static str,
    /// TCP/UDP only; `None`: every port.
    pub ports: Option<(u16, u16)>,
    /// ICMP only: (type, code), -1 for all; `None`: no `icmp` key.
    pub icmp: Option<(i16, i16)>,
    pub cidr: Ipv4Net,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlbSpec {
    pub id: String,
    /// Host ENIs (one VPC).
    pub nodes: Vec<usize>,
    pub listener_ports: Vec<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudMapSpec {
    pub id: String,
    pub vpc: usize,
    /// `(eni, port, by address)`: written "IP:port" when `by address`, else
    /// "ENI-id:port".
    pub instances: Vec<(usize, u16, bool)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntTarget {
    Alb(usize),
    Nlb(usize),
    CloudMap(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntegrationSpec {
    pub id: String,
    pub target: IntTarget,
    pub udp: bool,
    pub port: u16,
    /// In a subnet of the link's service VPC.
    pub address: Ipv4Addr,
}

/// An HTTP VPC link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSpec {
    pub id: String,
    /// Customer subnets, one per AZ, one VPC.
    pub subnets: Vec<usize>,
    /// One per subnet; `None`: allocated by `config`.
    pub addresses: Option<Vec<Ipv4Addr>>,
    pub sgs: Vec<usize>,
    pub service_vpc: usize,
    pub integrations: Vec<IntegrationSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpcSpec {
    pub id: String,
    pub cidr: Ipv4Net,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetSpec {
    pub id: String,
    pub vpc: usize,
    pub cidr: Ipv4Net,
    pub az: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerSpec {
    Cidr(Ipv4Net),
    Group(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    /// "tcp", "udp", "icmp", "all", "gre" or "50" (ESP by number).
    pub proto: &'static str,
    /// TCP/UDP only; `None`: every port.
    pub ports: Option<(u16, u16)>,
    /// ICMP only: (type, code), -1 for all (AWS's FromPort / ToPort for
    /// ICMP); `None`: no `icmp` key.
    pub icmp: Option<(i16, i16)>,
    pub peer: PeerSpec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgSpec {
    pub id: String,
    pub vpc: usize,
    pub ingress: Vec<RuleSpec>,
    /// `None`: AWS's default egress (no `egress` key).
    pub egress: Option<Vec<RuleSpec>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EniSpec {
    pub id: String,
    pub subnet: usize,
    pub ip: Ipv4Addr,
    pub sgs: Vec<usize>,
    pub public_ip: Option<Ipv4Addr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TgSpec {
    pub id: String,
    pub vpc: usize,
    pub udp: bool,
    pub port: u16,
    /// `(eni, Some(port))` is written as "IP:port", `(eni, None)` by ENI id.
    pub targets: Vec<(usize, Option<u16>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NlbSpec {
    pub id: String,
    /// `(subnet, ip)`, one per AZ.
    pub nodes: Vec<(usize, Ipv4Addr)>,
    pub cross_zone: bool,
    pub sgs: Vec<usize>,
    /// `(udp, port, target group)`.
    pub listeners: Vec<(bool, u16, usize)>,
    pub source_ports: Option<(u16, u16)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub id: String,
    pub nlb: usize,
    pub acceptance_required: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSpec {
    pub id: String,
    pub service: usize,
    pub vpc: usize,
    pub enis: Vec<(usize, Ipv4Addr)>,
    pub sgs: Vec<usize>,
    /// "pending", "available", "rejected", or `None` (the service's default).
    pub state: Option<&'static str>,
}

pub(super) fn net(s: &str) -> Ipv4Net {
    s.parse().expect("valid CIDR literal")
}

fn host(net: &Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + n)
}

/// Ports worth drawing from: common services, both ends of ranges, odd ones.
const PORTS: [u16; 12] = [
    22, 53, 80, 81, 443, 1024, 5353, 8000, 8080, 8443, 9000, 65535,
];

/// Builds a random topology. Every id and address is valid by construction;
/// [`super::Lab`] still parses and compiles it like a user's file.
pub fn generate(rng: &mut Rng) -> TopoSpec {
    let mut t = TopoSpec {
        vpcs: Vec::new(),
        subnets: Vec::new(),
        sgs: Vec::new(),
        enis: Vec::new(),
        tgs: Vec::new(),
        nlbs: Vec::new(),
        services: Vec::new(),
        endpoints: Vec::new(),
        albs: Vec::new(),
        cloud_maps: Vec::new(),
        links: Vec::new(),
        nacls: Vec::new(),
        route_tables: Vec::new(),
        peerings: Vec::new(),
        internet_hosts: Vec::new(),
        igws: Vec::new(),
        nat_gateways: Vec::new(),
    };
    // An HTTP VPC link needs two VPCs (customer and API service).
    let want_link = rng.chance(45);
    // VPCs: the first CIDR is reused by others half of the time.
    let cidrs = ["10.0.0.0/16", "10.1.0.0/16", "172.16.0.0/16"];
    let n_vpcs = rng.range(if want_link { 2 } else { 1 }, 3) as usize;
    for v in 0..n_vpcs {
        let cidr = if v == 0 || rng.chance(50) {
            cidrs[0]
        } else {
            cidrs[v]
        };
        t.vpcs.push(VpcSpec {
            id: format!("vpc-{v}"),
            cidr: net(cidr),
        });
    }
    // Subnets: 1-3 per VPC, /24s, AZs drawn (two subnets may share one).
    for v in 0..n_vpcs {
        let base = t.vpcs[v].cidr.network().octets();
        for k in 0..rng.range(1, 3) as u8 {
            t.subnets.push(SubnetSpec {
                id: format!("subnet-{v}{k}"),
                vpc: v,
                cidr: format!("{}.{}.{}.0/24", base[0], base[1], k + 1)
                    .parse()
                    .expect("valid /24"),
                az: AZS[rng.below(AZS.len())],
            });
        }
    }
    // Addresses in use per VPC.
    let mut used: Vec<BTreeSet<Ipv4Addr>> = vec![BTreeSet::new(); n_vpcs];
    let mut claim = |rng: &mut Rng, t: &TopoSpec, subnet: usize, from: u32| -> Ipv4Addr {
        let s = &t.subnets[subnet];
        loop {
            let ip = host(&s.cidr, from + rng.range(0, 40) as u32);
            if used[s.vpc].insert(ip) {
                return ip;
            }
        }
    };
    // Security groups: 1-3 per VPC (rules are added once members exist).
    for v in 0..n_vpcs {
        for k in 0..rng.range(1, 3) {
            t.sgs.push(SgSpec {
                id: format!("sg-{v}{k}"),
                vpc: v,
                ingress: Vec::new(),
                egress: None,
            });
        }
    }
    let groups_of = |t: &TopoSpec, v: usize| -> Vec<usize> {
        (0..t.sgs.len()).filter(|&g| t.sgs[g].vpc == v).collect()
    };
    let some_groups = |rng: &mut Rng, t: &TopoSpec, v: usize, min: usize| -> Vec<usize> {
        let mut gs = groups_of(t, v);
        let n = (min + rng.below(2)).min(gs.len());
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(gs.remove(rng.below(gs.len())));
        }
        out
    };
    // Host ENIs: 1-3 per subnet, at most 10.
    for s in 0..t.subnets.len() {
        for _ in 0..rng.range(1, 3) {
            if t.enis.len() >= 10 {
                break;
            }
            let ip = claim(rng, &t, s, 10);
            let sgs = some_groups(rng, &t, t.subnets[s].vpc, 1);
            t.enis.push(EniSpec {
                id: format!("eni-{}", t.enis.len()),
                subnet: s,
                ip,
                sgs,
                public_ip: None,
            });
        }
    }
    // PrivateLink: up to two NLBs with their services and endpoints.
    let n_nlbs = rng.weighted(&[2, 5, 3]);
    // Providers: VPCs with hosts to be targets (a target group needs one).
    let providers: Vec<usize> = (0..n_vpcs)
        .filter(|&v| t.enis.iter().any(|e| t.subnets[e.subnet].vpc == v))
        .collect();
    for n in 0..n_nlbs {
        let pv = *rng.pick(&providers);
        let subnets: Vec<usize> = (0..t.subnets.len())
            .filter(|&s| t.subnets[s].vpc == pv)
            .collect();
        let mut nodes = Vec::new();
        let mut azs = BTreeSet::new();
        for &s in &subnets {
            if (nodes.is_empty() || rng.chance(60)) && azs.insert(t.subnets[s].az) {
                nodes.push((s, claim(rng, &t, s, 50)));
            }
        }
        // Target groups: one per listener, targets among the VPC's ENIs,
        // sometimes all in one AZ (then a node elsewhere that is not
        // cross-zone has none).
        let cross_zone = rng.chance(50);
        let mut candidates: Vec<usize> = (0..t.enis.len())
            .filter(|&e| t.subnets[t.enis[e].subnet].vpc == pv)
            .collect();
        if !cross_zone && rng.chance(40) {
            let az = t.subnets[t.enis[*rng.pick(&candidates)].subnet].az;
            candidates.retain(|&e| t.subnets[t.enis[e].subnet].az == az);
        }
        let mut listeners = Vec::new();
        let mut seen = BTreeSet::new();
        for _ in 0..rng.range(1, 3) {
            let udp = rng.chance(35);
            let port = *rng.pick(&PORTS);
            if !seen.insert((udp, port)) {
                continue;
            }
            let tg = t.tgs.len();
            let mut targets = Vec::new();
            for &e in &candidates {
                if rng.chance(55) {
                    let alt = rng.chance(25).then(|| *rng.pick(&PORTS));
                    targets.push((e, alt));
                }
            }
            if targets.is_empty() {
                targets.push((*rng.pick(&candidates), None));
            }
            t.tgs.push(TgSpec {
                id: format!("tg-{tg}"),
                vpc: pv,
                udp,
                port: *rng.pick(&[8080, 5353, 9000, port]),
                targets,
            });
            listeners.push((udp, port, tg));
        }
        let source_ports = match rng.weighted(&[4, 3, 3]) {
            0 => {
                let lo = rng.range(1024, 60000) as u16;
                Some((lo, lo + rng.range(0, 2) as u16))
            }
            1 => {
                let lo = rng.range(1024, 60000) as u16;
                Some((lo, lo + rng.range(15, 40) as u16))
            }
            _ => None,
        };
        let sgs = some_groups(rng, &t, pv, 0);
        t.nlbs.push(NlbSpec {
            id: format!("nlb-{n}"),
            nodes,
            cross_zone,
            sgs,
            listeners,
            source_ports,
        });
        t.services.push(ServiceSpec {
            id: format!("svc-{n}"),
            nlb: n,
            acceptance_required: rng.chance(50),
        });
        for _ in 0..rng.range(1, 3) {
            let cv = rng.below(n_vpcs);
            let mut enis = Vec::new();
            let mut azs = BTreeSet::new();
            for s in (0..t.subnets.len()).filter(|&s| t.subnets[s].vpc == cv) {
                if (enis.is_empty() || rng.chance(50)) && azs.insert(t.subnets[s].az) {
                    enis.push((s, claim(rng, &t, s, 100)));
                }
            }
            let sgs = some_groups(rng, &t, cv, 1);
            let state = *rng.pick(&[
                Some("available"),
                Some("available"),
                Some("available"),
                Some("pending"),
                Some("rejected"),
                None,
            ]);
            t.endpoints.push(EndpointSpec {
                id: format!("vpce-{}", t.endpoints.len()),
                service: n,
                vpc: cv,
                enis,
                sgs,
                state,
            });
        }
    }
    // An HTTP VPC link: a customer VPC with hosts, an API service VPC
    // (another one) with hosts to call the integrations.
    let with_hosts: Vec<usize> = providers.clone();
    let link_vpcs = if want_link && with_hosts.len() >= 2 {
        let cv = *rng.pick(&with_hosts);
        let others: Vec<usize> = with_hosts.iter().copied().filter(|&v| v != cv).collect();
        Some((cv, *rng.pick(&others)))
    } else {
        None
    };
    if let Some((cv, sv)) = link_vpcs {
        let hosts: Vec<usize> = (0..t.enis.len())
            .filter(|&e| t.subnets[t.enis[e].subnet].vpc == cv)
            .collect();
        // The link's own group (its rules are set below, after the others).
        let link_group = t.sgs.len();
        t.sgs.push(SgSpec {
            id: format!("sg-link{cv}"),
            vpc: cv,
            ingress: Vec::new(),
            egress: None,
        });
        let mut sgs = vec![link_group];
        if rng.chance(25) {
            let others: Vec<usize> = groups_of(&t, cv)
                .into_iter()
                .filter(|&g| g != link_group)
                .collect();
            sgs.push(*rng.pick(&others));
        }
        let mut subnets = Vec::new();
        let mut azs = BTreeSet::new();
        for s in (0..t.subnets.len()).filter(|&s| t.subnets[s].vpc == cv) {
            if (subnets.is_empty() || rng.chance(75)) && azs.insert(t.subnets[s].az) {
                subnets.push(s);
            }
        }
        let addresses = rng
            .chance(70)
            .then(|| subnets.iter().map(|&s| claim(rng, &t, s, 150)).collect());
        // What the integrations may target: an ALB, Cloud Map services, the
        // customer VPC's NLBs.
        let mut targets = Vec::new();
        if rng.chance(70) {
            let mut nodes = Vec::new();
            for &e in &hosts {
                if nodes.is_empty() || rng.chance(40) {
                    nodes.push(e);
                }
            }
            let mut ports = vec![*rng.pick(&[80u16, 443, 8080])];
            if rng.chance(30) {
                ports.push(8000);
            }
            t.albs.push(AlbSpec {
                id: "alb-0".to_string(),
                nodes,
                listener_ports: ports,
            });
            targets.push(IntTarget::Alb(0));
        }
        for m in 0..rng.range(1, 2) {
            let mut instances: Vec<(usize, u16, bool)> = Vec::new();
            for _ in 0..rng.range(1, 3) {
                let e = *rng.pick(&hosts);
                let any = *rng.pick(&PORTS);
                let port = *rng.pick(&[9000, 8080, 5353, 80, any]);
                if !instances.iter().any(|&(x, p, _)| x == e && p == port) {
                    instances.push((e, port, rng.chance(50)));
                }
            }
            t.cloud_maps.push(CloudMapSpec {
                id: format!("map-{m}"),
                vpc: cv,
                instances,
            });
            targets.push(IntTarget::CloudMap(m as usize));
        }
        for (n, nlb) in t.nlbs.iter().enumerate() {
            if t.subnets[nlb.nodes[0].0].vpc == cv {
                targets.push(IntTarget::Nlb(n));
            }
        }
        let sv_subnets: Vec<usize> = (0..t.subnets.len())
            .filter(|&s| t.subnets[s].vpc == sv)
            .collect();
        let mut integrations: Vec<IntegrationSpec> = Vec::new();
        for k in 0..rng.range(1, 4) {
            let target = rng.pick(&targets).clone();
            let (udp, port) = match &target {
                IntTarget::Alb(a) => (false, *rng.pick(&t.albs[*a].listener_ports)),
                IntTarget::Nlb(n) => {
                    let (udp, port, _) = *rng.pick(&t.nlbs[*n].listeners);
                    (udp, port)
                }
                IntTarget::CloudMap(_) => (rng.chance(30), *rng.pick(&[80, 9000, 8080, 443, 5353])),
            };
            if integrations
                .iter()
                .any(|i| i.target == target && i.port == port && i.udp == udp)
            {
                continue;
            }
            let sn = *rng.pick(&sv_subnets);
            let address = claim(rng, &t, sn, 160);
            integrations.push(IntegrationSpec {
                id: format!("int-{k}"),
                target,
                udp,
                port,
                address,
            });
        }
        t.links.push(LinkSpec {
            id: "vpclink-0".to_string(),
            subnets,
            addresses,
            sgs,
            service_vpc: sv,
            integrations,
        });
    }
    // Rules, now that every member address exists.
    for g in 0..t.sgs.len() {
        let v = t.sgs[g].vpc;
        let mut ingress: Vec<RuleSpec> = (0..rng.range(0, 4))
            .map(|_| rule(rng, &t, v, &used))
            .collect();
        // Often one broad rule, so that plenty of traffic passes and what
        // follows it (replies, state, translation) gets exercised.
        if rng.chance(40) {
            ingress.push(RuleSpec {
                proto: "all",
                ports: None,
                icmp: None,
                peer: PeerSpec::Cidr(t.vpcs[v].cidr),
            });
        }
        let egress = rng.chance(35).then(|| {
            (0..rng.range(0, 3))
                .map(|_| rule(rng, &t, v, &used))
                .collect()
        });
        t.sgs[g].ingress = ingress;
        t.sgs[g].egress = egress;
    }
    if !t.links.is_empty() {
        link_rules(rng, &mut t);
    }
    // Network ACLs, drawn last so that the rest of a seed's topology is
    // what it was before ACLs existed.
    if rng.chance(65) {
        nacls(rng, &mut t, &used);
    }
    // Route tables, drawn after the ACLs for the same reason.
    if rng.chance(60) {
        super::topo_routes::route_tables(rng, &mut t);
    }
    // Peering, drawn last for the same reason.
    if rng.chance(70) {
        peering_gen::peerings(rng, &mut t);
    }
    // The internet gateway and the lab's internet, drawn last likewise.
    if rng.chance(50) {
        super::topo_internet::internet(rng, &mut t);
    }
    t
}

/// Network ACLs for some subnets: overlapping CIDRs and port ranges, rule
/// numbers drawn out of order, denies numbered below allows, ICMP types
/// and codes, empty custom ACLs (deny all), and often a broad allow at the
/// end so that traffic still flows and its replies meet the ACLs too
/// (sometimes without the ephemeral range, which breaks them).
fn nacls(rng: &mut Rng, t: &mut TopoSpec, used: &[BTreeSet<Ipv4Addr>]) {
    for v in 0..t.vpcs.len() {
        let mut free: Vec<usize> = (0..t.subnets.len())
            .filter(|&s| t.subnets[s].vpc == v)
            .collect();
        for _ in 0..rng.range(0, 2) {
            let mut subnets = Vec::new();
            for _ in 0..rng.range(0, 2) {
                if !free.is_empty() {
                    subnets.push(free.remove(rng.below(free.len())));
                }
            }
            let empty = rng.chance(10);
            let dir = |rng: &mut Rng| -> Vec<NaclEntrySpec> {
                if empty {
                    return Vec::new();
                }
                let mut numbers: Vec<u16> = (1..=20).map(|n| n * 10).collect();
                let mut out: Vec<NaclEntrySpec> = (0..rng.range(0, 5))
                    .map(|_| {
                        let rule = numbers.remove(rng.below(numbers.len()));
                        nacl_entry(rng, t, v, used, rule)
                    })
                    .collect();
                match rng.weighted(&[6, 2, 2]) {
                    // A broad allow numbered after the rest.
                    0 => out.push(NaclEntrySpec {
                        rule: 300,
                        allow: true,
                        proto: "all",
                        ports: None,
                        icmp: None,
                        cidr: net("0.0.0.0/0"),
                    }),
                    // Requests in, but replies only to the ephemeral range.
                    1 => out.push(NaclEntrySpec {
                        rule: 300,
                        allow: true,
                        proto: ["tcp", "udp"][rng.below(2)],
                        ports: Some((1024, 65535)),
                        icmp: None,
                        cidr: net("0.0.0.0/0"),
                    }),
                    _ => {}
                }
                out
            };
            let ingress = dir(rng);
            let egress = dir(rng);
            t.nacls.push(NaclSpec {
                id: format!("acl-{}", t.nacls.len()),
                vpc: v,
                subnets,
                ingress,
                egress,
            });
        }
    }
}

fn nacl_entry(
    rng: &mut Rng,
    t: &TopoSpec,
    v: usize,
    used: &[BTreeSet<Ipv4Addr>],
    rule: u16,
) -> NaclEntrySpec {
    // Other protocols by name and number too (GRE, ESP as 50).
    let proto = *rng.pick(&["tcp", "tcp", "udp", "icmp", "all", "gre", "50"]);
    let ports = match proto {
        "tcp" | "udp" if rng.chance(75) => {
            let lo = *rng.pick(&PORTS);
            let hi = match rng.weighted(&[4, 3, 2]) {
                0 => lo,
                1 => lo.saturating_add(rng.range(1, 2000) as u16),
                _ => 65535,
            };
            Some((lo, hi))
        }
        _ => None,
    };
    let icmp = (proto == "icmp" && rng.chance(70)).then(|| {
        let ty = *rng.pick(&[8i16, 8, 0, -1]);
        let code = *rng.pick(&[-1i16, -1, 0, 1]);
        (ty, code)
    });
    let addrs: Vec<Ipv4Addr> = used[v].iter().copied().collect();
    let subnets: Vec<&SubnetSpec> = t.subnets.iter().filter(|s| s.vpc == v).collect();
    let cidr = match rng.weighted(&[3, 2, 3, 2, 2]) {
        0 => net("0.0.0.0/0"),
        1 => t.vpcs[v].cidr,
        2 => rng.pick(&subnets).cidr,
        3 if !addrs.is_empty() => Ipv4Net::new(*rng.pick(&addrs), 32).expect("/32"),
        _ if !addrs.is_empty() => Ipv4Net::new(*rng.pick(&addrs), rng.range(20, 31) as u8)
            .expect("prefix <= 32")
            .trunc(),
        _ => t.vpcs[v].cidr,
    };
    NaclEntrySpec {
        rule,
        allow: rng.chance(65),
        proto,
        ports,
        icmp,
        cidr,
    }
}

/// `(eni, protocol, port)` of every target an HTTP link's integrations reach.
fn link_targets(t: &TopoSpec, l: &LinkSpec) -> Vec<(usize, bool, u16)> {
    let mut out = Vec::new();
    for i in &l.integrations {
        match &i.target {
            IntTarget::Alb(a) => out.extend(t.albs[*a].nodes.iter().map(|&e| (e, i.udp, i.port))),
            IntTarget::CloudMap(m) => out.extend(
                t.cloud_maps[*m]
                    .instances
                    .iter()
                    .map(|&(e, p, _)| (e, i.udp, p)),
            ),
            IntTarget::Nlb(n) => {
                for &(udp, port, tg) in &t.nlbs[*n].listeners {
                    if udp == i.udp && port == i.port {
                        let g = &t.tgs[tg];
                        out.extend(
                            g.targets
                                .iter()
                                .map(|&(e, p)| (e, udp, p.unwrap_or(g.port))),
                        );
                    }
                }
            }
        }
    }
    out
}

/// The link's rules: its egress (the default, or rules for most target
/// ports with one sometimes left out), and for most targets an ingress rule
/// that admits the link (by its group, or a link ENI's address).
fn link_rules(rng: &mut Rng, t: &mut TopoSpec) {
    let l = t.links[0].clone();
    let link_group = l.sgs[0];
    let cv = t.sgs[link_group].vpc;
    let targets = link_targets(t, &l);
    let proto = |udp: bool| if udp { "udp" } else { "tcp" };
    t.sgs[link_group].egress = match rng.weighted(&[4, 5, 1]) {
        0 => None,
        1 => {
            let skip = rng.chance(60).then(|| rng.pick(&targets).2);
            let mut rules = Vec::new();
            for &(e, udp, port) in &targets {
                if Some(port) == skip || rng.chance(10) {
                    continue;
                }
                let peer = match rng.weighted(&[3, 2, 1]) {
                    0 => PeerSpec::Cidr(t.vpcs[cv].cidr),
                    1 => PeerSpec::Cidr(Ipv4Net::new(t.enis[e].ip, 32).expect("/32")),
                    _ => PeerSpec::Group(*rng.pick(&t.enis[e].sgs)),
                };
                rules.push(RuleSpec {
                    proto: proto(udp),
                    ports: Some((port, port)),
                    icmp: None,
                    peer,
                });
            }
            Some(rules)
        }
        _ => Some(Vec::new()),
    };
    for &(e, udp, port) in &targets {
        if rng.chance(30) {
            continue;
        }
        let g = *rng.pick(&t.enis[e].sgs);
        let peer = match (&l.addresses, rng.weighted(&[6, 1])) {
            (Some(a), 1) => PeerSpec::Cidr(Ipv4Net::new(*rng.pick(a), 32).expect("/32")),
            _ => PeerSpec::Group(*rng.pick(&l.sgs)),
        };
        let rule = if rng.chance(15) {
            RuleSpec {
                proto: "all",
                ports: None,
                icmp: None,
                peer,
            }
        } else {
            RuleSpec {
                proto: proto(udp),
                ports: Some((port, port)),
                icmp: None,
                peer,
            }
        };
        t.sgs[g].ingress.push(rule);
    }
}

/// A rule for a group of VPC `v`.
fn rule(rng: &mut Rng, t: &TopoSpec, v: usize, used: &[BTreeSet<Ipv4Addr>]) -> RuleSpec {
    let proto = *rng.pick(&["tcp", "tcp", "udp", "icmp", "all", "gre", "50"]);
    // ICMP by type and code: echo request or reply, or a type the
    // generator never sends (the rule then admits nothing it sends).
    let icmp = (proto == "icmp" && rng.chance(60)).then(|| match rng.weighted(&[3, 3, 1, 1]) {
        0 => (8, -1),
        1 => (0, if rng.chance(50) { 0 } else { -1 }),
        2 => (8, 1),
        _ => (3, 4),
    });
    let ports = match proto {
        "tcp" | "udp" if rng.chance(70) => {
            let lo = if rng.chance(70) {
                *rng.pick(&PORTS)
            } else {
                rng.u16()
            };
            let hi = match rng.weighted(&[5, 3, 1]) {
                0 => lo,
                1 => lo.saturating_add(rng.range(1, 100) as u16),
                _ => 65535,
            };
            Some((lo, hi))
        }
        _ => None,
    };
    let groups: Vec<usize> = (0..t.sgs.len()).filter(|&g| t.sgs[g].vpc == v).collect();
    let peer = if rng.chance(35) {
        PeerSpec::Group(*rng.pick(&groups))
    } else {
        let vpc = t.vpcs[v].cidr;
        let addrs: Vec<Ipv4Addr> = used[v].iter().copied().collect();
        let cidr = match rng.weighted(&[2, 3, 2, 3, 2, 1]) {
            0 => net("0.0.0.0/0"),
            1 => vpc,
            2 => {
                let subnets: Vec<&SubnetSpec> = t.subnets.iter().filter(|s| s.vpc == v).collect();
                rng.pick(&subnets).cidr
            }
            3 if !addrs.is_empty() => Ipv4Net::new(*rng.pick(&addrs), 32).expect("/32"),
            4 if !addrs.is_empty() => {
                let len = rng.range(20, 31) as u8;
                Ipv4Net::new(*rng.pick(&addrs), len)
                    .expect("prefix <= 32")
                    .trunc()
            }
            _ => rng.pick(&t.vpcs).cidr,
        };
        PeerSpec::Cidr(cidr)
    };
    RuleSpec {
        proto,
        ports,
        icmp,
        peer,
    }
}

impl TopoSpec {
    /// The config file (lab name `@LAB@`, replaced by the fixture).
    pub fn to_toml(&self) -> String {
        let mut s = String::from("[lab]\nname = \"@LAB@\"\n");
        let w = &mut s;
        let ids = |list: &[usize], f: &dyn Fn(usize) -> String| -> String {
            let v: Vec<String> = list.iter().map(|&i| format!("\"{}\"", f(i))).collect();
            format!("[{}]", v.join(", "))
        };
        let sg = |g: usize| self.sgs[g].id.clone();
        let places = |list: &[(usize, Ipv4Addr)]| -> String {
            let v: Vec<String> = list
                .iter()
                .map(|(s, ip)| format!("{{ subnet = \"{}\", ip = \"{ip}\" }}", self.subnets[*s].id))
                .collect();
            format!("[{}]", v.join(", "))
        };
        for v in &self.vpcs {
            let _ = write!(w, "\n[[vpc]]\nid = \"{}\"\ncidr = \"{}\"\n", v.id, v.cidr);
        }
        for sn in &self.subnets {
            let _ = write!(
                w,
                "\n[[subnet]]\nid = \"{}\"\nvpc = \"{}\"\ncidr = \"{}\"\naz = \"{}\"\n",
                sn.id, self.vpcs[sn.vpc].id, sn.cidr, sn.az
            );
        }
        let rules = |rs: &[RuleSpec]| -> String {
            let v: Vec<String> = rs
                .iter()
                .map(|r| {
                    let ports = match r.ports {
                        Some((lo, hi)) if lo == hi => format!(", ports = {lo}"),
                        Some((lo, hi)) => format!(", ports = \"{lo}-{hi}\""),
                        None => String::new(),
                    };
                    let peer = match &r.peer {
                        PeerSpec::Cidr(c) => c.to_string(),
                        PeerSpec::Group(g) => self.sgs[*g].id.clone(),
                    };
                    let icmp = match r.icmp {
                        Some((t, c)) => format!(", icmp = {{ type = {t}, code = {c} }}"),
                        None => String::new(),
                    };
                    format!(
                        "  {{ protocol = \"{}\"{ports}{icmp}, peer = \"{peer}\" }},\n",
                        r.proto
                    )
                })
                .collect();
            format!("[\n{}]", v.concat())
        };
        for g in &self.sgs {
            let _ = write!(
                w,
                "\n[[security_group]]\nid = \"{}\"\nvpc = \"{}\"\ningress = {}\n",
                g.id,
                self.vpcs[g.vpc].id,
                rules(&g.ingress)
            );
            if let Some(e) = &g.egress {
                let _ = writeln!(w, "egress = {}", rules(e));
            }
        }
        let entries = |es: &[NaclEntrySpec]| -> String {
            let v: Vec<String> = es
                .iter()
                .map(|e| {
                    let ports = match e.ports {
                        Some((lo, hi)) if lo == hi => format!(", ports = {lo}"),
                        Some((lo, hi)) => format!(", ports = \"{lo}-{hi}\""),
                        None => String::new(),
                    };
                    let icmp = match e.icmp {
                        Some((ty, code)) => format!(", icmp = {{ type = {ty}, code = {code} }}"),
                        None => String::new(),
                    };
                    format!(
                        "  {{ rule = {}, action = \"{}\", protocol = \"{}\"{ports}{icmp}, cidr = \"{}\" }},\n",
                        e.rule,
                        if e.allow { "allow" } else { "deny" },
                        e.proto,
                        e.cidr
                    )
                })
                .collect();
            format!("[\n{}]", v.concat())
        };
        for a in &self.nacls {
            let subnets = ids(&a.subnets, &|s| self.subnets[s].id.clone());
            let _ = write!(
                w,
                "\n[[network_acl]]\nid = \"{}\"\nvpc = \"{}\"\nsubnets = {subnets}\ningress = {}\negress = {}\n",
                a.id,
                self.vpcs[a.vpc].id,
                entries(&a.ingress),
                entries(&a.egress)
            );
        }
        peering_gen::render(self, w);
        super::topo_internet::write_internet(w, self);
        for r in &self.route_tables {
            let subnets = ids(&r.subnets, &|s| self.subnets[s].id.clone());
            let routes: Vec<String> = r
                .routes
                .iter()
                .map(|(d, hole)| (d, if *hole { "blackhole" } else { "local" }))
                .chain(
                    r.peering_routes
                        .iter()
                        .map(|(d, p)| (d, self.peerings[*p].id.as_str())),
                )
                .map(|(d, target)| {
                    format!("  {{ destination = \"{d}\", target = \"{target}\" }},\n")
                })
                .chain(r.igw.iter().map(|d| {
                    format!(
                        "  {{ destination = \"{d}\", target = \"igw-{}\" }},\n",
                        r.vpc
                    )
                }))
                .chain(r.nat.iter().map(|(d, g)| {
                    format!("  {{ destination = \"{d}\", target = \"nat-{g}\" }},\n")
                }))
                .collect();
            let _ = write!(
                w,
                "\n[[route_table]]\nid = \"{}\"\nvpc = \"{}\"\nmain = {}\nsubnets = {subnets}\nroutes = [\n{}]\n",
                r.id,
                self.vpcs[r.vpc].id,
                r.main,
                routes.concat()
            );
        }
        for (i, e) in self.enis.iter().enumerate() {
            let _ = write!(
                w,
                "\n[[eni]]\nid = \"{}\"\nsubnet = \"{}\"\nip = \"{}\"\nsecurity_groups = {}\nhost = \"h{i}\"\n",
                e.id,
                self.subnets[e.subnet].id,
                e.ip,
                ids(&e.sgs, &sg)
            );
            if let Some(p) = e.public_ip {
                let _ = writeln!(w, "public_ip = \"{p}\"");
            }
        }
        for tg in &self.tgs {
            let targets: Vec<String> = tg
                .targets
                .iter()
                .map(|(e, port)| match port {
                    Some(p) => format!("\"{}:{p}\"", self.enis[*e].ip),
                    None => format!("\"{}\"", self.enis[*e].id),
                })
                .collect();
            let _ = write!(
                w,
                "\n[[target_group]]\nid = \"{}\"\nvpc = \"{}\"\nprotocol = \"{}\"\nport = {}\ntargets = [{}]\n",
                tg.id,
                self.vpcs[tg.vpc].id,
                if tg.udp { "udp" } else { "tcp" },
                tg.port,
                targets.join(", ")
            );
        }
        for n in &self.nlbs {
            let listeners: Vec<String> = n
                .listeners
                .iter()
                .map(|(udp, port, tg)| {
                    format!(
                        "{{ protocol = \"{}\", port = {port}, target_group = \"{}\" }}",
                        if *udp { "udp" } else { "tcp" },
                        self.tgs[*tg].id
                    )
                })
                .collect();
            let _ = write!(
                w,
                "\n[[nlb]]\nid = \"{}\"\nsubnets = {}\ncross_zone = {}\nsecurity_groups = {}\nlisteners = [{}]\n",
                n.id,
                places(&n.nodes),
                n.cross_zone,
                ids(&n.sgs, &sg),
                listeners.join(", ")
            );
            if let Some((lo, hi)) = n.source_ports {
                let _ = writeln!(w, "source_ports = \"{lo}-{hi}\"");
            }
        }
        for sv in &self.services {
            let _ = write!(
                w,
                "\n[[endpoint_service]]\nid = \"{}\"\nnlb = \"{}\"\nacceptance_required = {}\nallowed_principals = [\"*\"]\n",
                sv.id, self.nlbs[sv.nlb].id, sv.acceptance_required
            );
        }
        for ep in &self.endpoints {
            let _ = write!(
                w,
                "\n[[vpc_endpoint]]\nid = \"{}\"\nservice = \"{}\"\nvpc = \"{}\"\nsubnets = {}\nsecurity_groups = {}\nprincipal = \"arn:aws:iam::111122223333:root\"\n",
                ep.id,
                self.services[ep.service].id,
                self.vpcs[ep.vpc].id,
                places(&ep.enis),
                ids(&ep.sgs, &sg)
            );
            if let Some(st) = ep.state {
                let _ = writeln!(w, "state = \"{st}\"");
            }
        }
        let eni = |e: usize| self.enis[e].id.clone();
        for a in &self.albs {
            let ports: Vec<String> = a.listener_ports.iter().map(u16::to_string).collect();
            let _ = write!(
                w,
                "\n[[alb]]\nid = \"{}\"\nnodes = {}\nlistener_ports = [{}]\n",
                a.id,
                ids(&a.nodes, &eni),
                ports.join(", ")
            );
        }
        for m in &self.cloud_maps {
            let instances: Vec<String> = m
                .instances
                .iter()
                .map(|&(e, port, by_ip)| {
                    if by_ip {
                        format!("\"{}:{port}\"", self.enis[e].ip)
                    } else {
                        format!("\"{}:{port}\"", self.enis[e].id)
                    }
                })
                .collect();
            let _ = write!(
                w,
                "\n[[cloud_map_service]]\nid = \"{}\"\nvpc = \"{}\"\ninstances = [{}]\n",
                m.id,
                self.vpcs[m.vpc].id,
                instances.join(", ")
            );
        }
        for l in &self.links {
            let subnets = ids(&l.subnets, &|s| self.subnets[s].id.clone());
            let integrations: Vec<String> = l
                .integrations
                .iter()
                .map(|i| {
                    let target = match &i.target {
                        IntTarget::Alb(a) => format!("alb = \"{}\"", self.albs[*a].id),
                        IntTarget::Nlb(n) => format!("nlb = \"{}\"", self.nlbs[*n].id),
                        IntTarget::CloudMap(m) => {
                            format!("cloud_map = \"{}\"", self.cloud_maps[*m].id)
                        }
                    };
                    format!(
                        "  {{ id = \"{}\", {target}, port = {}, address = \"{}\", protocol = \"{}\" }},\n",
                        i.id,
                        i.port,
                        i.address,
                        if i.udp { "udp" } else { "tcp" }
                    )
                })
                .collect();
            let _ = write!(
                w,
                "\n[[vpc_link]]\nid = \"{}\"\nkind = \"http\"\nsubnets = {subnets}\nsecurity_groups = {}\nservice_vpc = \"{}\"\nintegrations = [\n{}]\n",
                l.id,
                ids(&l.sgs, &sg),
                self.vpcs[l.service_vpc].id,
                integrations.concat()
            );
            if let Some(a) = &l.addresses {
                let v: Vec<String> = a.iter().map(|ip| format!("\"{ip}\"")).collect();
                let _ = writeln!(w, "addresses = [{}]", v.join(", "));
            }
        }
        s
    }
}
