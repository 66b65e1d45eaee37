//! VPC links (REST and HTTP) and their HTTP integrations: pass 1 reads
//! them, pass 2 validates them against the resources they reach and
//! expands them into the resources they imply.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::diagnostics::Checker;
use super::lower::{self, ValidHttpLink, ValidIntegration, ValidLink, ValidLinkKind};
use super::placement::{AttachIn, Claim, PlaceIn, MAX_SGS_PER_ENI};
use super::refs::{Front, IdInfo, Kind, Net, Who};
use super::tree::{join, Ids, Node, Sp, Tbl};
use super::values::l4_name;
use crate::model::{
    Alb, CloudMapService, EndpointEni, HealthCheck, IntegrationKind, L4Protocol, Nlb, Target,
    TargetGroup,
};

pub(super) const LINK_KEYS: &[&str] = &[
    "id",
    "kind",
    "nlb",
    "vpc",
    "subnets",
    "addresses",
    "eni_ids",
    "security_groups",
    "service_vpc",
    "integrations",
];

/// Keys of one kind of VPC link only.
pub(super) const REST_LINK_KEYS: &[&str] = &["nlb", "vpc"];

pub(super) const HTTP_LINK_KEYS: &[&str] = &["addresses", "eni_ids", "service_vpc", "integrations"];

pub(super) const INTEGRATION_KEYS: &[&str] = &[
    "id",
    "alb",
    "nlb",
    "cloud_map",
    "port",
    "address",
    "protocol",
];

pub(super) const LINK_KINDS: &str = "\"rest\" or \"http\"";

pub(super) struct LinkIn<'n> {
    pub(super) id: String,
    /// Where the id is written (implied-id collisions are reported there).
    pub(super) id_pos: usize,
    pub(super) path: String,
    pub(super) kind: LinkKindIn<'n>,
}

pub(super) enum LinkKindIn<'n> {
    Rest {
        nlb: Option<Sp<&'n str>>,
        at: AttachIn<'n>,
    },
    Http(HttpLinkIn<'n>),
}

pub(super) struct HttpLinkIn<'n> {
    /// One per entry of `subnets`, with `addresses` paired in.
    pub(super) places: Vec<PlaceIn<'n>>,
    /// No `addresses` key: the link ENIs' addresses are allocated.
    pub(super) allocate: bool,
    pub(super) security_groups: Ids<'n>,
    pub(super) service_vpc: Option<Sp<&'n str>>,
    pub(super) integrations: Vec<IntegrationIn<'n>>,
}

pub(super) struct IntegrationIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    /// What it targets (`alb`, `nlb` or `cloud_map`) and that key's field.
    pub(super) target: Option<(Kind, Sp<&'n str>, String)>,
    pub(super) port: Option<Sp<u16>>,
    pub(super) address: Option<Sp<Ipv4Addr>>,
    pub(super) protocol: Option<Sp<L4Protocol>>,
}

/// The user's load balancers and services that HTTP link integrations
/// resolve against, with their VPCs (`None`: unresolved, reported already).
pub(super) struct Lookup<'a> {
    pub(super) nlbs: &'a [Nlb],
    pub(super) nlb_vpcs: &'a [Option<usize>],
    pub(super) nlb_ids: &'a [&'a str],
    pub(super) tgs: &'a [TargetGroup],
    pub(super) albs: &'a [Alb],
    pub(super) alb_vpcs: &'a [Option<usize>],
    pub(super) alb_ids: &'a [&'a str],
    pub(super) maps: &'a [CloudMapService],
    pub(super) map_vpcs: &'a [Option<usize>],
    pub(super) map_ids: &'a [&'a str],
}

/// An HTTP link ENI whose address is to be allocated.
pub(super) struct Alloc {
    /// Index into the validated links, and into the link's ENIs.
    pub(super) link: usize,
    pub(super) eni: usize,
    pub(super) subnet: usize,
    pub(super) vpc: usize,
    /// The subnet reference, where exhaustion is reported.
    pub(super) pos: usize,
    pub(super) field: String,
}

impl<'s> Checker<'s> {
    pub(super) fn vpc_link<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
        integrations: &mut usize,
    ) -> LinkIn<'n> {
        let mut link = LinkIn {
            id: String::new(),
            id_pos: node.pos,
            kind: LinkKindIn::Rest {
                nlb: None,
                at: AttachIn {
                    path: path.clone(),
                    vpc: None,
                    subnets: Vec::new(),
                    security_groups: Vec::new(),
                },
            },
            path,
        };
        let Some(t) = self.table(node, &link.path, "a table", LINK_KEYS) else {
            return link;
        };
        link.id = self.id(&t, Kind::VpcLink, index, ids);
        if let Some(e) = t.get("id") {
            link.id_pos = e.node.pos;
        }
        // Without a usable kind, the fields tell which one was meant.
        let looks_http = HTTP_LINK_KEYS.iter().any(|k| t.get(k).is_some());
        let http = match self.req_str(&t, "kind", LINK_KINDS) {
            Some(kind) => match kind.v {
                "rest" => false,
                "http" => true,
                other => {
                    self.err(
                        kind.pos,
                        &t.field("kind"),
                        format!("unknown VPC link kind {other:?} (expected {LINK_KINDS})"),
                    );
                    looks_http
                }
            },
            None => looks_http,
        };
        let (foreign, kind, why) = if http {
            (
                REST_LINK_KEYS,
                "rest",
                " (an HTTP VPC link is in its subnets' VPC and names its load balancers \
                 and services in integrations)",
            )
        } else {
            (HTTP_LINK_KEYS, "http", "")
        };
        for key in foreign {
            if let Some(e) = t.get(key) {
                self.err(
                    e.pos,
                    &t.field(key),
                    format!("field \"{key}\" is only for kind \"{kind}\" VPC links{why}"),
                );
            }
        }
        link.kind = if http {
            LinkKindIn::Http(self.http_link(&t, ids, integrations))
        } else {
            let nlb = self.req_str(&t, "nlb", "the id of an [[nlb]]");
            let at = self.attach(&t, "a VPC link");
            for (id, field) in at.subnets.iter().filter_map(|p| p.eni_id.as_ref()) {
                self.err(
                    id.pos,
                    field,
                    "a REST VPC link's network interfaces are AWS's (API Gateway's side of \
                     the link), not in your VPC: they write no flow log records and take no \
                     eni_id",
                );
            }
            LinkKindIn::Rest { nlb, at }
        };
        link
    }

    /// The fields of a kind "http" VPC link.
    pub(super) fn http_link<'n>(
        &mut self,
        t: &Tbl<'n>,
        ids: &mut HashMap<String, IdInfo>,
        integrations: &mut usize,
    ) -> HttpLinkIn<'n> {
        const SUBNETS: &str = "an array of subnet ids such as [\"subnet-a1\", \"subnet-a2\"]";
        const ADDRESSES: &str =
            "an array of IPv4 addresses, one per subnet, such as [\"10.0.1.200\", \"10.0.2.200\"]";
        const INTEGRATIONS: &str = "an array of integration tables such as \
             [{ id = \"int-web\", alb = \"alb-web\", port = 80, address = \"10.1.1.201\" }]";
        let subnets_field = t.field("subnets");
        let mut subnets: Ids<'n> = Vec::new();
        let mut count = None;
        if let Some(e) = self.require(t, "subnets", SUBNETS) {
            if let Some((list, n)) = self.str_list(e, &subnets_field, SUBNETS, "a subnet id") {
                if n == 0 {
                    self.err(
                        e.node.pos,
                        &subnets_field,
                        "a VPC link needs at least one subnet (one per availability zone)",
                    );
                }
                subnets = list;
                count = Some(n);
            }
        }
        let addresses_field = t.field("addresses");
        let addresses_entry = t.get("addresses");
        let mut addresses: Vec<(usize, Sp<Ipv4Addr>)> = Vec::new();
        if let Some(e) = addresses_entry {
            if let Some((list, n)) =
                self.str_list(e, &addresses_field, ADDRESSES, "an IPv4 address")
            {
                for (i, a) in list {
                    if let Some(ip) = self.parse_ipv4(a, &format!("{addresses_field}[{i}]")) {
                        addresses.push((i, ip));
                    }
                }
                if let Some(want) = count.filter(|&want| want != n) {
                    self.err(
                        e.node.pos,
                        &addresses_field,
                        format!(
                            "found {n} {} for {want} {} (the link ENIs' addresses: one per \
                             subnet, in the same order; leave addresses out to have them \
                             allocated)",
                            if n == 1 { "address" } else { "addresses" },
                            if want == 1 { "subnet" } else { "subnets" }
                        ),
                    );
                }
            }
        }
        const ENI_IDS: &str = "an array of ENI ids, one per subnet, such as \
             [\"eni-0a1b2c3d4e5f60718\", \"eni-0a1b2c3d4e5f60719\"]";
        let eni_ids_field = t.field("eni_ids");
        let mut eni_ids: Vec<(usize, Sp<&'n str>)> = Vec::new();
        if let Some(e) = t.get("eni_ids") {
            if let Some((list, n)) = self.str_list(e, &eni_ids_field, ENI_IDS, "an ENI id") {
                for (i, id) in list {
                    if let Some(id) = self.check_eni_id(id, &format!("{eni_ids_field}[{i}]")) {
                        eni_ids.push((i, id));
                    }
                }
                if let Some(want) = count.filter(|&want| want != n) {
                    self.err(
                        e.node.pos,
                        &eni_ids_field,
                        format!(
                            "found {n} ENI {} for {want} {} (the link ENIs' ids: one per \
                             subnet, in the same order)",
                            if n == 1 { "id" } else { "ids" },
                            if want == 1 { "subnet" } else { "subnets" }
                        ),
                    );
                }
            }
        }
        let allocate = addresses_entry.is_none();
        let places = (0..count.unwrap_or(0))
            .map(|i| {
                let subnet_field = format!("{subnets_field}[{i}]");
                let ip_field = format!("{addresses_field}[{i}]");
                PlaceIn {
                    path: if allocate {
                        subnet_field.clone()
                    } else {
                        ip_field.clone()
                    },
                    subnet_field,
                    ip_field,
                    subnet: subnets.iter().find(|(j, _)| *j == i).map(|(_, r)| *r),
                    ip: addresses.iter().find(|(j, _)| *j == i).map(|(_, a)| *a),
                    eni_id: eni_ids
                        .iter()
                        .find(|(j, _)| *j == i)
                        .map(|(_, id)| (*id, format!("{eni_ids_field}[{i}]"))),
                }
            })
            .collect();
        let security_groups = self.group_list(t, 1..=MAX_SGS_PER_ENI, "a VPC link");
        let service_vpc = self.req_str(t, "service_vpc", "the id of the API service's [[vpc]]");
        let mut list = Vec::new();
        if let Some(e) = t.get("integrations") {
            let field = t.field("integrations");
            if let Some(items) = self.as_array(&e.node, &field, INTEGRATIONS) {
                for (i, n) in items.iter().enumerate() {
                    let path = format!("{field}[{i}]");
                    if let Some(g) = self.integration(n, path, *integrations, ids) {
                        *integrations += 1;
                        list.push(g);
                    }
                }
            }
        }
        HttpLinkIn {
            places,
            allocate,
            security_groups,
            service_vpc,
            integrations: list,
        }
    }

    /// One of an HTTP VPC link's `integrations`.
    pub(super) fn integration<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> Option<IntegrationIn<'n>> {
        let t = self.table(node, &path, "an integration table", INTEGRATION_KEYS)?;
        let id = self.id(&t, Kind::Integration, index, ids);
        let mut target = None;
        let mut given: Option<&str> = None;
        for (key, kind, expected) in [
            ("alb", Kind::Alb, "the id of an [[alb]]"),
            ("nlb", Kind::Nlb, "the id of an [[nlb]]"),
            (
                "cloud_map",
                Kind::CloudMapService,
                "the id of a [[cloud_map_service]]",
            ),
        ] {
            let Some(e) = t.get(key) else {
                continue;
            };
            let field = t.field(key);
            if let Some(first) = given {
                self.err(
                    e.pos,
                    &field,
                    format!(
                        "an integration targets exactly one of alb, nlb or cloud_map \
                         ({first} is given too)"
                    ),
                );
                continue;
            }
            given = Some(key);
            target = self.as_str(e, &field, expected).map(|r| (kind, r, field));
        }
        if given.is_none() {
            self.err(
                t.pos,
                &path,
                "an integration needs one of alb, nlb or cloud_map (what it reaches)",
            );
        }
        let port = self
            .require(&t, "port", "a port number such as 80")
            .and_then(|e| self.port(&e.node, &t.field("port")));
        let address = self.ipv4(&t, "address");
        let protocol = match t.get("protocol") {
            Some(_) => self.l4_protocol(&t, "protocol"),
            None => None,
        };
        Some(IntegrationIn {
            path,
            id,
            target,
            port,
            address,
            protocol,
        })
    }

    /// Reports an id a VPC link implies that is a user's id or implied by
    /// an earlier link too; `for_` says which integration implies it.
    pub(super) fn check_implied(
        &mut self,
        net: &Net<'_>,
        implied: &mut HashMap<String, (String, usize)>,
        (link, kind): (&LinkIn<'_>, &str),
        (id, what, for_): (&str, &str, &str),
    ) {
        let field = join(&link.path, "id");
        let prefix = format!("this {kind} VPC link implies the {what} \"{id}\"{for_}");
        if let Some(info) = net.ids.get(id) {
            let msg = format!(
                "{prefix}, but that id is already used by {} at line {}",
                info.path,
                self.line_of(info.pos)
            );
            self.err(link.id_pos, &field, msg);
        } else if let Some((path, pos)) = implied.get(id) {
            let msg = format!(
                "{prefix}, but {path} at line {} implies that id too",
                self.line_of(*pos)
            );
            self.err(link.id_pos, &field, msg);
        } else {
            implied.insert(id.to_string(), (link.path.clone(), link.id_pos));
        }
    }

    /// Validates VPC links: their references resolved, and the ids they
    /// imply (see [`lower`]) free. Returns the validated links, and the link
    /// ENIs whose addresses are to be allocated.
    pub(super) fn resolve_links(
        &mut self,
        net: &Net<'_>,
        look: &Lookup<'_>,
        links: Vec<LinkIn<'_>>,
        claims: &mut Vec<Claim>,
        fronts: &mut Vec<Front>,
    ) -> (Vec<ValidLink>, Vec<Alloc>) {
        let mut valid = Vec::new();
        let mut allocs = Vec::new();
        let mut implied: HashMap<String, (String, usize)> = HashMap::new();
        for (k, l) in links.iter().enumerate() {
            match &l.kind {
                LinkKindIn::Rest { nlb, at } => {
                    let [service_id, endpoint_id] = lower::rest_ids(&l.id);
                    if !l.id.is_empty() {
                        for (id, what) in [
                            (&service_id, "endpoint service"),
                            (&endpoint_id, "VPC endpoint"),
                        ] {
                            self.check_implied(net, &mut implied, (l, "REST"), (id, what, ""));
                        }
                    }
                    let field = join(&l.path, "nlb");
                    let given = *nlb;
                    let nlb = given
                        .and_then(|r| self.resolve(r, Kind::Nlb, &field, net.ids, look.nlb_ids));
                    if let (Some(n), Some(r)) = (nlb, given) {
                        fronts.push(Front {
                            pos: r.pos,
                            nlb: n,
                            owner: format!("endpoint service {service_id} (implied by {})", l.path),
                            field,
                        });
                    }
                    let who = Who {
                        id: &l.id,
                        this: "this VPC link",
                        a: "a VPC link",
                    };
                    let (vpc, enis, security_groups) = self.resolve_attach(net, at, &who, claims);
                    valid.push(ValidLink {
                        id: l.id.clone(),
                        kind: ValidLinkKind::Rest {
                            nlb: nlb.unwrap_or(0),
                            vpc,
                            enis,
                            security_groups,
                        },
                    });
                }
                LinkKindIn::Http(h) => {
                    let link = self.resolve_http_link(
                        net,
                        look,
                        (k, l, h),
                        &mut allocs,
                        claims,
                        &mut implied,
                    );
                    valid.push(link);
                }
            }
        }
        (valid, allocs)
    }

    /// Validates HTTP link `k`. The link ENIs to allocate are left
    /// unspecified and listed in `allocs`.
    pub(super) fn resolve_http_link(
        &mut self,
        net: &Net<'_>,
        look: &Lookup<'_>,
        (k, l, h): (usize, &LinkIn<'_>, &HttpLinkIn<'_>),
        allocs: &mut Vec<Alloc>,
        claims: &mut Vec<Claim>,
        implied: &mut HashMap<String, (String, usize)>,
    ) -> ValidLink {
        let who = Who {
            id: &l.id,
            this: "this VPC link",
            a: "a VPC link",
        };
        let (customer_vpc, places) = self.resolve_places(net, &h.places, None, &who, claims);
        let security_groups = self.resolve_groups(
            net,
            &h.security_groups,
            &join(&l.path, "security_groups"),
            customer_vpc,
            "this VPC link",
        );
        let sv_field = join(&l.path, "service_vpc");
        let service_vpc = h
            .service_vpc
            .and_then(|r| self.resolve(r, Kind::Vpc, &sv_field, net.ids, &net.vpc_ids));
        if let (Some(sv), Some(cv), Some(r)) = (service_vpc, customer_vpc, h.service_vpc) {
            if sv == cv {
                self.err(
                    r.pos,
                    &sv_field,
                    format!(
                        "{} is this VPC link's customer VPC (its subnets'); the API service VPC \
                         must be another one",
                        net.vpcs[sv].id
                    ),
                );
            }
        }
        let mut enis = Vec::new();
        for (i, ((subnet, ip), p)) in places.into_iter().zip(&h.places).enumerate() {
            if let (true, Some(s), Some(r)) = (h.allocate, subnet, p.subnet) {
                // A subnet with an invalid CIDR or VPC has an error already.
                if let (true, Some(vpc)) =
                    (net.subnets[s].cidr.prefix_len() != 0, net.subnet_vpcs[s])
                {
                    allocs.push(Alloc {
                        link: k,
                        eni: i,
                        subnet: s,
                        vpc,
                        pos: r.pos,
                        field: p.subnet_field.clone(),
                    });
                }
            }
            enis.push(EndpointEni {
                subnet: subnet.unwrap_or(0),
                ip,
            });
        }
        let mut integrations = Vec::new();
        for g in &h.integrations {
            if !l.id.is_empty() && !g.id.is_empty() {
                let for_ = format!(" (for integration {})", g.id);
                let whats = ["target group", "NLB", "endpoint service", "VPC endpoint"];
                for (id, what) in lower::http_ids(&l.id, &g.id).iter().zip(whats) {
                    self.check_implied(net, implied, (l, "HTTP"), (id, what, &for_));
                }
            }
            let protocol = g.protocol.map_or(L4Protocol::Tcp, |p| p.v);
            let port = g.port.map_or(0, |p| p.v);
            let (kind, targets, health_check) =
                self.resolve_integration(net, look, g, customer_vpc, protocol);
            // The integration address: in a subnet of the service VPC.
            let mut at = EndpointEni {
                subnet: 0,
                ip: g.address.map_or(Ipv4Addr::UNSPECIFIED, |a| a.v),
            };
            if let (Some(sv), Some(a)) = (service_vpc, g.address) {
                let f = join(&g.path, "address");
                let subnet = (0..net.subnets.len()).find(|&s| {
                    net.subnet_vpcs[s] == Some(sv)
                        && net.subnets[s].cidr.prefix_len() != 0
                        && net.subnets[s].cidr.contains(&a.v)
                });
                match subnet {
                    Some(s) => {
                        at.subnet = s;
                        if self.address_in_subnet(&net.subnets[s], a, &f) {
                            claims.push(Claim {
                                pos: a.pos,
                                vpc: sv,
                                ip: a.v,
                                owner: format!("{} ({})", g.id, g.path),
                                field: f,
                            });
                        }
                    }
                    None => self.err(
                        a.pos,
                        &f,
                        format!(
                            "{} is not in a subnet of {} (an integration's address is in a \
                             subnet of the link's service_vpc)",
                            a.v, net.vpcs[sv].id
                        ),
                    ),
                }
            }
            integrations.push(ValidIntegration {
                id: g.id.clone(),
                kind,
                targets,
                health_check,
                protocol,
                port,
                address: at,
            });
        }
        ValidLink {
            id: l.id.clone(),
            kind: ValidLinkKind::Http(ValidHttpLink {
                customer_vpc: customer_vpc.unwrap_or(0),
                service_vpc: service_vpc.unwrap_or(0),
                enis,
                security_groups,
                integrations,
            }),
        }
    }

    /// What an integration reaches (an ALB, NLB or Cloud Map service of the
    /// customer VPC): its kind, and the targets and health check of its
    /// implied target group.
    pub(super) fn resolve_integration(
        &mut self,
        net: &Net<'_>,
        look: &Lookup<'_>,
        g: &IntegrationIn<'_>,
        customer_vpc: Option<usize>,
        protocol: L4Protocol,
    ) -> (IntegrationKind, Vec<Target>, Option<HealthCheck>) {
        let none = (IntegrationKind::Alb { alb: 0 }, Vec::new(), None);
        let Some((want, r, field)) = &g.target else {
            return none;
        };
        let (ids, vpcs) = match want {
            Kind::Alb => (look.alb_ids, look.alb_vpcs),
            Kind::Nlb => (look.nlb_ids, look.nlb_vpcs),
            _ => (look.map_ids, look.map_vpcs),
        };
        if let (Kind::Alb, Some(p)) = (want, g.protocol) {
            if p.v != L4Protocol::Tcp {
                self.err(
                    p.pos,
                    &join(&g.path, "protocol"),
                    "an ALB integration's protocol is \"tcp\" (an ALB serves HTTP)",
                );
            }
        }
        let Some(i) = self.resolve(*r, *want, field, net.ids, ids) else {
            return none;
        };
        if let (Some(v), Some(cv)) = (vpcs[i], customer_vpc) {
            if v != cv {
                self.err(
                    r.pos,
                    field,
                    format!(
                        "{} {} is in {}, but this VPC link is in {} (an integration reaches \
                         into the link's VPC)",
                        want.name(),
                        r.v,
                        net.vpcs[v].id,
                        net.vpcs[cv].id
                    ),
                );
            }
        }
        let port_field = join(&g.path, "port");
        match want {
            Kind::Alb => {
                let alb = &look.albs[i];
                if let Some(p) = g.port {
                    if !alb.listener_ports.contains(&p.v) {
                        let ports = comma_separated(alb.listener_ports.iter().map(u16::to_string));
                        self.err(
                            p.pos,
                            &port_field,
                            format!(
                                "port {} is not a listener port of ALB {} (listener_ports: \
                                 [{ports}])",
                                p.v, alb.id
                            ),
                        );
                    }
                }
                let port = g.port.map_or(0, |p| p.v);
                let targets = alb.nodes.iter().map(|&eni| Target { eni, port }).collect();
                (IntegrationKind::Alb { alb: i }, targets, None)
            }
            Kind::Nlb => {
                let nlb = &look.nlbs[i];
                let listener = g.port.and_then(|p| {
                    nlb.listeners
                        .iter()
                        .find(|l| l.protocol == protocol && l.port == p.v)
                });
                let (targets, health_check) =
                    match listener.and_then(|l| look.tgs.get(l.target_group)) {
                        Some(tg) => (tg.targets.clone(), tg.health_check.clone()),
                        None => (Vec::new(), None),
                    };
                if let (Some(p), None) = (g.port, listener) {
                    let listeners = comma_separated(
                        nlb.listeners
                            .iter()
                            .map(|l| format!("{} {}", l4_name(l.protocol), l.port)),
                    );
                    self.err(
                        p.pos,
                        &port_field,
                        format!(
                            "NLB {} has no {} listener on port {} (listeners: {listeners})",
                            nlb.id,
                            l4_name(protocol),
                            p.v
                        ),
                    );
                }
                (IntegrationKind::Nlb { nlb: i }, targets, health_check)
            }
            _ => {
                let svc = &look.maps[i];
                (
                    IntegrationKind::CloudMap { service: i },
                    svc.instances.clone(),
                    svc.health_check.clone(),
                )
            }
        }
    }

    /// Gives each HTTP link ENI without an address its subnet's lowest free
    /// usable one ([`lower::allocate`]), skipping every claimed address, and
    /// reports the subnets that have none left.
    pub(super) fn allocate(
        &mut self,
        net: &Net<'_>,
        claims: &[Claim],
        links: &mut [ValidLink],
        allocs: &[Alloc],
    ) {
        let requests: Vec<(usize, usize)> = allocs.iter().map(|a| (a.subnet, a.vpc)).collect();
        let taken = claims.iter().map(|c| (c.vpc, c.ip));
        let ips = lower::allocate(net.subnets, taken, &requests);
        for (a, ip) in allocs.iter().zip(ips) {
            match ip {
                Some(ip) => {
                    if let ValidLinkKind::Http(h) = &mut links[a.link].kind {
                        h.enis[a.eni].ip = ip;
                    }
                }
                None => {
                    let sn = &net.subnets[a.subnet];
                    self.err(
                        a.pos,
                        &a.field,
                        format!(
                            "no free address left in subnet {} ({}) for this VPC link's ENI \
                             (every usable address is taken)",
                            sn.id, sn.cidr
                        ),
                    );
                }
            }
        }
    }
}

/// `a, b, c`: for messages.
fn comma_separated(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
