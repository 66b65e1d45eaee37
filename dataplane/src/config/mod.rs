//! Config files: TOML text -> validated [`model::Topology`], every error located.
//!
//! The file is parsed with `toml_edit` (the parser under `toml` 0.8), which
//! keeps the byte span of every key, value and table header. The document is
//! turned into a small spanned tree and then walked by hand, so structural
//! errors (unknown keys, missing fields, wrong types) and semantic errors
//! (references, addresses, duplicates, ranges) are all collected in one pass
//! and reported together, sorted by position.
//!
//! Format (one array of tables per resource kind; ids are a single namespace):
//!
//! ```toml
//! [lab]                      # optional
//! name = "demo"              # default: the file stem
//! hook = "tc"                # "tc" (default) or "xdp"
//! mtu = 1500                 # 576..=9000
//!
//! [conntrack]                # optional; idle timeouts in seconds. AWS's names,
//! tcp_established_timeout = 432000   # ranges and defaults: 60..=432000
//! udp_stream_timeout = 180   # 60..=180: UDP after more than one request-response
//! udp_timeout = 30           # 30..=60: UDP one way, or a single exchange
//! tcp_transitory_timeout = 60   # lab extension: TCP not established, or closing
//! other_timeout = 60         # lab extension: ICMP
//! sweep_interval = 1         # 1..=60: how often expired flows are removed
//! ignore_aws_ranges = false  # lab knob: true allows 1..=432000 for every timeout
//! [flow_logs]                # optional: VPC Flow Logs (version 2 records) on
//! destination = "stdout"     # "stdout" (default) or a file path (appended to)
//! interval = 60              # aggregation interval, seconds, 1..=600 (default 60)
//! account_id = "123456789012" # the records' account-id (default shown)
//!
//! [[vpc]]
//! id = "vpc-a"
//! cidr = "10.0.0.0/16"
//!
//! [[subnet]]
//! id = "subnet-a1"
//! vpc = "vpc-a"
//! cidr = "10.0.1.0/24"
//! az = "use1-az1"
//!
//! [[security_group]]
//! id = "sg-web"
//! vpc = "vpc-a"
//! ingress = [{ protocol = "tcp", ports = "80", peer = "sg-client" }]
//! # no `egress` key: AWS's default (all protocols to 0.0.0.0/0)
//!
//! [[eni]]
//! id = "eni-web"
//! subnet = "subnet-a1"
//! ip = "10.0.1.20"
//! security_groups = ["sg-web"]
//! host = "web"
//!
//! # Hyperplane resources (PrivateLink). `IP` fields are the resource's
//! # private address in that subnet: inside it, not reserved by AWS, and
//! # unique in the VPC across ENIs, NLB nodes and endpoint ENIs.
//!
//! [[target_group]]
//! id = "tg-web"
//! vpc = "vpc-a"
//! protocol = "tcp"           # "tcp" or "udp"
//! port = 8080                # 1..=65535: the port of targets given as ENIs
//! targets = ["eni-web", "10.0.1.21:8081"]   # ENI ids, or "IP:port" of an ENI in the VPC
//! # optional; protocol "tcp" (a connect) or "http" (path: default "/");
//! # port: default the target's; interval_ms 100..=300000 (default 1000);
//! # timeout_ms 50..=interval_ms (default 500, or interval_ms if lower);
//! # healthy_threshold and unhealthy_threshold 1..=10 (default 2)
//! health_check = { protocol = "http", path = "/health" }
//!
//! [[nlb]]
//! id = "nlb-a"
//! subnets = [{ subnet = "subnet-a1", ip = "10.0.1.50" }]   # 1 or more, one VPC, one per AZ
//! cross_zone = false         # default false
//! security_groups = []       # default []; 0 to 5 groups of the NLB's VPC
//! listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]   # 1 or more
//!
//! [[endpoint_service]]
//! id = "vpce-svc-a"
//! nlb = "nlb-a"              # an NLB fronts at most one service
//! acceptance_required = true # default true
//! allowed_principals = ["*"] # default []; "*" allows everyone
//!
//! [[vpc_endpoint]]           # an interface endpoint: one ENI per subnet
//! id = "vpce-a"
//! service = "vpce-svc-a"
//! vpc = "vpc-b"
//! subnets = [{ subnet = "subnet-b1", ip = "10.0.1.100" }]   # 1 or more, one per AZ
//! security_groups = ["sg-vpce"]   # 1 to 5 groups of the endpoint's VPC
//! principal = "arn:aws:iam::111122223333:root"   # must be allowed by the service
//! state = "available"        # "pending", "available" or "rejected"; default:
//!                            # pending if the service requires acceptance
//!
//! [[vpc_link]]               # a REST API VPC link: implies the endpoint service
//! id = "vpclink-a"           # "<id>-service" (acceptance off, principals ["*"])
//! kind = "rest"              # and the endpoint "<id>-endpoint" (principal
//! nlb = "nlb-a"              # apigateway.amazonaws.com, available) in `vpc`,
//! vpc = "vpc-api"            # with these subnets and security groups
//! subnets = [{ subnet = "subnet-api1", ip = "10.2.1.100" }]
//! security_groups = ["sg-link"]
//!
//! [[alb]]                    # an ALB at L3/L4: its nodes are lab hosts' ENIs
//! id = "alb-web"
//! nodes = ["eni-alb1", "eni-alb2"]   # 1 or more, all in one VPC (the ALB's)
//! listener_ports = [80]      # 1 or more, each once
//!
//! [[cloud_map_service]]
//! id = "svc-orders"
//! vpc = "vpc-a"
//! instances = ["eni-orders1:8080", "10.0.1.42:8080"]   # "ENI-id:port" or "IP:port"
//!                            # (an ENI's address in the VPC); 1 or more, each once
//! health_check = { protocol = "http", path = "/" }     # optional, as for target groups
//!
//! [[vpc_link]]               # an HTTP API VPC link: VPC-to-VPC NAT
//! id = "vpclink-http"
//! kind = "http"
//! subnets = ["subnet-a1", "subnet-a2"]   # customer subnets: 1 or more, one VPC, one per AZ
//! addresses = ["10.0.1.200", "10.0.2.200"]   # optional: the link ENIs' IPs, one per
//!                            # subnet in order; default: each subnet's lowest free
//!                            # usable address (from .4 up, skipping every claimed one)
//! security_groups = ["sg-link"]   # 1 to 5 groups of the customer VPC
//! service_vpc = "vpc-api"    # the API service VPC (another VPC)
//! integrations = [           # default []; each needs exactly one of alb, nlb, cloud_map
//!   { id = "int-alb", alb = "alb-web", port = 80, address = "10.2.1.201" },
//!   { id = "int-map", cloud_map = "svc-orders", port = 8080, address = "10.2.1.203", protocol = "tcp" },
//! ]
//! # An integration's id shares the one namespace; `address` (in a subnet of
//! # service_vpc, unique like any address) and `port` are what the API host
//! # calls; protocol "tcp" (default) or "udp" ("tcp" only for an ALB). An ALB
//! # integration's port is one of its listener_ports; an NLB's names one of its
//! # listeners (protocol, port). The ALB, NLB or service is in the customer VPC.
//! # Each integration <int> of link <L> implies, like a REST link: the target
//! # group "<L>-<int>-targets" (the ALB's nodes on port, the NLB listener's
//! # targets, or the service's instances), the NLB "<L>-<int>" (nodes: the
//! # link ENIs; groups: the link's; cross-zone), the endpoint service
//! # "<L>-<int>-service" and the endpoint "<L>-<int>-endpoint" (one ENI at
//! # address, no security groups) in service_vpc.
//! ```
//!
//! Layout: this file is the core (entry points, diagnostics, the order of
//! the passes); [`tree`] is the positioned TOML tree and its typed readers;
//! [`values`] the value parsers; [`refs`] the shared id namespace;
//! [`placement`] subnets/addresses/security groups of placed resources;
//! then one file per resource family: [`network`], [`services`],
//! [`vpc_links`].

mod lower;
mod network;
mod placement;
mod refs;
mod services;
mod tree;
mod values;
mod vpc_links;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use toml_edit::ImDocument;

use crate::model::{ConntrackSettings, Hook, LabSettings, Services, Topology};
use lower::Firsts;
use network::EnisOut;
use placement::Claim;
use refs::{defined, Front, IdInfo, Kind, Net};
use services::{AlbIn, CloudMapIn, EndpointIn, NlbIn, ServiceIn, TgIn};
use tree::{table_node, Node};
use vpc_links::{LinkIn, Lookup};

pub use values::parse_flow_log_destination;

/// The demo topology `dataplane` runs when no config is given.
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/default.toml");

/// One problem in a config file, at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Path of the offending field, e.g. `eni[2].ip`; empty for file-level
    /// problems (unreadable file, TOML syntax).
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: field: message` (the `field: ` part is left out
    /// when `field` is empty).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a config file, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

const ROOT_KEYS: &[&str] = &[
    "lab",
    "flow_logs",
    "vpc",
    "subnet",
    "security_group",
    "eni",
    "nlb",
    "target_group",
    "alb",
    "cloud_map_service",
    "endpoint_service",
    "vpc_endpoint",
    "vpc_link",
    "conntrack",
];

struct Checker<'s> {
    src: &'s str,
    file: &'s str,
    /// (byte offset, diagnostic); sorted by offset at the end.
    diags: Vec<(usize, Diagnostic)>,
}

/// Pass 1 of the Hyperplane resources, each section in file order.
struct ServicesIn<'n> {
    nlbs: Vec<NlbIn<'n>>,
    tgs: Vec<TgIn<'n>>,
    albs: Vec<AlbIn<'n>>,
    cloud_maps: Vec<CloudMapIn<'n>>,
    services: Vec<ServiceIn<'n>>,
    endpoints: Vec<EndpointIn<'n>>,
    links: Vec<LinkIn<'n>>,
}

impl<'s> Checker<'s> {
    fn err(&mut self, pos: usize, field: &str, message: impl Into<String>) {
        let (line, column) = line_col(self.src, pos);
        self.diags.push((
            pos,
            Diagnostic {
                file: self.file.to_string(),
                line,
                column,
                field: field.to_string(),
                message: message.into(),
            },
        ));
    }

    fn finish(mut self) -> Diagnostics {
        self.diags.sort_by_key(|(pos, _)| *pos);
        Diagnostics(self.diags.into_iter().map(|(_, d)| d).collect())
    }

    fn line_of(&self, pos: usize) -> usize {
        line_col(self.src, pos).0
    }

    fn topology(&mut self, root: &Node) -> Topology {
        let empty = Topology {
            lab: LabSettings {
                name: String::new(),
                hook: Hook::Tc,
                mtu: 1500,
            },
            vpcs: Vec::new(),
            subnets: Vec::new(),
            security_groups: Vec::new(),
            enis: Vec::new(),
            services: Default::default(),
            conntrack: ConntrackSettings::default(),
            flow_logs: None,
        };
        let Some(root) = self.table(root, "", "a table", ROOT_KEYS) else {
            return empty;
        };
        let lab = self.lab(&root);
        let conntrack = self.conntrack(&root);
        let flow_logs = self.flow_logs(&root);
        let mut ids: HashMap<String, IdInfo> = HashMap::new();

        // Pass 1: every resource's own fields; ids registered.
        let mut vpcs = Vec::new();
        for (i, (path, node)) in self.section(&root, "vpc").into_iter().enumerate() {
            vpcs.push(self.vpc(node, &path, i, &mut ids));
        }
        let mut subnets = Vec::new();
        for (i, (path, node)) in self.section(&root, "subnet").into_iter().enumerate() {
            subnets.push(self.subnet(node, path, i, &mut ids));
        }
        let mut sgs = Vec::new();
        for (i, (path, node)) in self
            .section(&root, "security_group")
            .into_iter()
            .enumerate()
        {
            sgs.push(self.security_group(node, path, i, &mut ids));
        }
        let mut enis = Vec::new();
        for (i, (path, node)) in self.section(&root, "eni").into_iter().enumerate() {
            enis.push(self.eni(node, path, i, &mut ids));
        }
        let mut nlbs = Vec::new();
        for (i, (path, node)) in self.section(&root, "nlb").into_iter().enumerate() {
            nlbs.push(self.nlb(node, path, i, &mut ids));
        }
        let mut tgs = Vec::new();
        for (i, (path, node)) in self.section(&root, "target_group").into_iter().enumerate() {
            tgs.push(self.target_group(node, path, i, &mut ids));
        }
        let mut services = Vec::new();
        for (i, (path, node)) in self
            .section(&root, "endpoint_service")
            .into_iter()
            .enumerate()
        {
            services.push(self.endpoint_service(node, path, i, &mut ids));
        }
        let mut endpoints = Vec::new();
        for (i, (path, node)) in self.section(&root, "vpc_endpoint").into_iter().enumerate() {
            endpoints.push(self.vpc_endpoint(node, path, i, &mut ids));
        }
        let mut albs = Vec::new();
        for (i, (path, node)) in self.section(&root, "alb").into_iter().enumerate() {
            albs.push(self.alb(node, path, i, &mut ids));
        }
        let mut cloud_maps = Vec::new();
        for (i, (path, node)) in self
            .section(&root, "cloud_map_service")
            .into_iter()
            .enumerate()
        {
            cloud_maps.push(self.cloud_map_service(node, path, i, &mut ids));
        }
        let mut links = Vec::new();
        let mut integrations = 0;
        for (i, (path, node)) in self.section(&root, "vpc_link").into_iter().enumerate() {
            links.push(self.vpc_link(node, path, i, &mut ids, &mut integrations));
        }

        // Pass 2: references and cross-resource rules.
        let (subnets, subnet_vpcs) = self.resolve_subnets(&vpcs, subnets, &ids);
        let (security_groups, sg_vpcs) = self.resolve_security_groups(&vpcs, sgs, &ids);
        let enis = self.resolve_enis(
            &vpcs,
            (&subnets, &subnet_vpcs),
            (&security_groups, &sg_vpcs),
            enis,
            &ids,
        );
        let services = self.resolve_services_section(
            Net {
                vpcs: &vpcs,
                subnets: &subnets,
                subnet_vpcs: &subnet_vpcs,
                sg_vpcs: &sg_vpcs,
                ids: &ids,
                vpc_ids: defined(
                    &ids,
                    Kind::Vpc,
                    &vpcs.iter().map(|v| &v.id).collect::<Vec<_>>(),
                ),
                subnet_ids: defined(
                    &ids,
                    Kind::Subnet,
                    &subnets.iter().map(|s| &s.id).collect::<Vec<_>>(),
                ),
                sg_ids: defined(
                    &ids,
                    Kind::SecurityGroup,
                    &security_groups.iter().map(|s| &s.id).collect::<Vec<_>>(),
                ),
            },
            &enis,
            ServicesIn {
                nlbs,
                tgs,
                albs,
                cloud_maps,
                services,
                endpoints,
                links,
            },
        );

        Topology {
            lab,
            vpcs,
            subnets,
            security_groups,
            enis: enis.enis,
            services,
            conntrack,
            flow_logs,
        }
    }

    /// Pass 2 of the Hyperplane resources.
    fn resolve_services_section(
        &mut self,
        net: Net<'_>,
        enis: &EnisOut,
        input: ServicesIn<'_>,
    ) -> Services {
        let ServicesIn {
            nlbs,
            tgs,
            albs,
            cloud_maps,
            services,
            endpoints,
            links,
        } = input;
        let mut claims: Vec<Claim> = Vec::new();
        let mut fronts: Vec<Front> = Vec::new();
        let (mut target_groups, tg_vpcs) = self.resolve_target_groups(&net, enis, tgs);
        let (mut nlbs, nlb_vpcs) =
            self.resolve_nlbs(&net, (&target_groups, &tg_vpcs), nlbs, &mut claims);
        let (albs, alb_vpcs) = self.resolve_albs(&net, enis, albs);
        let (cloud_map_services, map_vpcs) = self.resolve_cloud_maps(&net, enis, cloud_maps);
        let nlb_ids = defined(
            net.ids,
            Kind::Nlb,
            &nlbs.iter().map(|n| &n.id).collect::<Vec<_>>(),
        );
        let alb_ids = defined(
            net.ids,
            Kind::Alb,
            &albs.iter().map(|a| &a.id).collect::<Vec<_>>(),
        );
        let map_ids = defined(
            net.ids,
            Kind::CloudMapService,
            &cloud_map_services.iter().map(|m| &m.id).collect::<Vec<_>>(),
        );
        let mut endpoint_services = self.resolve_services(&net, &nlb_ids, services, &mut fronts);
        let first = Firsts {
            tg: target_groups.len(),
            nlb: nlbs.len(),
            service: endpoint_services.len(),
            endpoint: endpoints.len(),
        };
        let look = Lookup {
            nlbs: &nlbs,
            nlb_vpcs: &nlb_vpcs,
            nlb_ids: &nlb_ids,
            tgs: &target_groups,
            albs: &albs,
            alb_vpcs: &alb_vpcs,
            alb_ids: &alb_ids,
            maps: &cloud_map_services,
            map_vpcs: &map_vpcs,
            map_ids: &map_ids,
        };
        let (mut links, allocs) = self.resolve_links(&net, &look, links, &mut claims, &mut fronts);
        let mut vpc_endpoints =
            self.resolve_endpoints(&net, &endpoint_services, endpoints, &mut claims);
        claims.extend(enis.claims.iter().map(|c| Claim {
            owner: c.owner.clone(),
            field: c.field.clone(),
            ..*c
        }));
        // Link ENIs without an address take free ones: after every claim.
        self.allocate(&net, &claims, &mut links, &allocs);
        self.check_claims(net.vpcs, claims);
        self.check_fronts(&nlbs, fronts);
        // Lowering: what the links imply, after the user's own resources.
        let implied = lower::lower_links(links, &first);
        target_groups.extend(implied.target_groups);
        nlbs.extend(implied.nlbs);
        endpoint_services.extend(implied.services);
        vpc_endpoints.extend(implied.endpoints);
        Services {
            albs,
            cloud_map_services,
            nlbs,
            target_groups,
            endpoint_services,
            vpc_endpoints,
            vpc_links: implied.links,
        }
    }
}

/// Reads and validates a config file. An unreadable file is one diagnostic at 1:1.
pub fn load(path: &Path) -> Result<Topology, Diagnostics> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(src) => parse_str(&src, &file),
        Err(e) => Err(Diagnostics(vec![Diagnostic {
            file,
            line: 1,
            column: 1,
            field: String::new(),
            message: format!("cannot read the config file: {e}"),
        }])),
    }
}

/// Validates config text. `file` names it in diagnostics, and its stem is the
/// default lab name.
pub fn parse_str(src: &str, file: &str) -> Result<Topology, Diagnostics> {
    let mut cx = Checker {
        src,
        file,
        diags: Vec::new(),
    };
    let topology = match ImDocument::parse(src) {
        Ok(doc) => {
            let root = table_node(doc.as_table(), 0);
            Some(cx.topology(&root))
        }
        Err(e) => {
            let message = e
                .message()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            cx.err(
                e.span().map_or(0, |s| s.start),
                "",
                format!("TOML syntax error: {message}"),
            );
            None
        }
    };
    match topology {
        Some(t) if cx.diags.is_empty() => Ok(t),
        _ => Err(cx.finish()),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(src.len());
    while !src.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &src[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{self, *};
    use ipnet::Ipv4Net;
    use std::net::Ipv4Addr;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    /// The rendered diagnostics for `src` read as `t.toml`.
    fn diags(src: &str) -> Vec<String> {
        match parse_str(src, "t.toml") {
            Ok(t) => panic!("expected errors, got {t:#?}"),
            Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// A valid base: a VPC, a subnet, a group and an ENI (20 lines). Tests
    /// append to it, so their errors are on line 21 and below.
    const BASE: &str = r#"[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-a"
vpc = "vpc-a"

[[eni]]
id = "eni-a"
subnet = "subnet-a1"
ip = "10.0.1.10"
security_groups = ["sg-a"]
host = "a"
"#;

    fn with_base(extra: &str) -> String {
        format!("{BASE}{extra}")
    }

    #[test]
    fn base_is_valid() {
        let t = parse_str(BASE, "t.toml").unwrap();
        assert_eq!(t.lab.name, "t");
        assert_eq!(BASE.lines().count(), 20);
    }

    #[test]
    fn valid_config_gives_the_exact_topology() {
        let src = r#"
[lab]
name = "lab1"
hook = "xdp"
mtu = 9000

[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

[[vpc]]
id = "vpc-b"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-b1"
vpc = "vpc-b"
cidr = "10.0.1.0/28"
az = "use1-az2"

[[security_group]]
id = "sg-web"
vpc = "vpc-a"
ingress = [
  { protocol = "tcp", ports = "80", peer = "sg-client" },
  { protocol = "udp", ports = "8000-8100", peer = "10.0.1.5" },
  { protocol = "tcp", ports = 443, peer = "192.168.0.0/16" },
  { protocol = "tcp", peer = "10.0.0.0/8" },
  { protocol = "icmp", peer = "10.0.0.0/16" },
]
egress = []

[[security_group]]
id = "sg-client"
vpc = "vpc-a"

[[security_group]]
id = "sg-b"
vpc = "vpc-b"
egress = [{ protocol = "all", peer = "sg-b" }]

[[security_group.ingress]]
protocol = "all"
peer = "0.0.0.0/0"

[[eni]]
id = "eni-web"
subnet = "subnet-a1"
ip = "10.0.1.20"
security_groups = ["sg-web", "sg-client"]
host = "web"

[[eni]]
id = "eni-web2"
subnet = "subnet-a1"
ip = "10.0.1.21"
mac = "02:AB:cd:00:00:01"
security_groups = ["sg-web"]
host = "web"

[[eni]]
id = "eni-b"
subnet = "subnet-b1"
ip = "10.0.1.14"
security_groups = ["sg-b"]
host = "b-1"
"#;
        let t = parse_str(src, "whatever.toml").unwrap();
        let all = Rule {
            protocol: Protocol::All,
            ports: (0, 65535),
            peer: Peer::Cidr(net("0.0.0.0/0")),
        };
        let expected = Topology {
            services: Default::default(),
            conntrack: Default::default(),
            flow_logs: None,
            lab: LabSettings {
                name: "lab1".into(),
                hook: Hook::Xdp,
                mtu: 9000,
            },
            vpcs: vec![
                Vpc {
                    id: "vpc-a".into(),
                    cidr: net("10.0.0.0/16"),
                },
                Vpc {
                    id: "vpc-b".into(),
                    cidr: net("10.0.0.0/16"),
                },
            ],
            subnets: vec![
                Subnet {
                    id: "subnet-a1".into(),
                    vpc: 0,
                    cidr: net("10.0.1.0/24"),
                    az: "use1-az1".into(),
                },
                Subnet {
                    id: "subnet-b1".into(),
                    vpc: 1,
                    cidr: net("10.0.1.0/28"),
                    az: "use1-az2".into(),
                },
            ],
            security_groups: vec![
                SecurityGroup {
                    id: "sg-web".into(),
                    vpc: 0,
                    ingress: vec![
                        Rule {
                            protocol: Protocol::Tcp,
                            ports: (80, 80),
                            peer: Peer::SecurityGroup(1),
                        },
                        Rule {
                            protocol: Protocol::Udp,
                            ports: (8000, 8100),
                            peer: Peer::Cidr(net("10.0.1.5/32")),
                        },
                        Rule {
                            protocol: Protocol::Tcp,
                            ports: (443, 443),
                            peer: Peer::Cidr(net("192.168.0.0/16")),
                        },
                        Rule {
                            protocol: Protocol::Tcp,
                            ports: (0, 65535),
                            peer: Peer::Cidr(net("10.0.0.0/8")),
                        },
                        Rule {
                            protocol: Protocol::Icmp,
                            ports: (0, 65535),
                            peer: Peer::Cidr(net("10.0.0.0/16")),
                        },
                    ],
                    egress: vec![],
                },
                SecurityGroup {
                    id: "sg-client".into(),
                    vpc: 0,
                    ingress: vec![],
                    egress: vec![all.clone()],
                },
                SecurityGroup {
                    id: "sg-b".into(),
                    vpc: 1,
                    ingress: vec![all.clone()],
                    egress: vec![Rule {
                        protocol: Protocol::All,
                        ports: (0, 65535),
                        peer: Peer::SecurityGroup(2),
                    }],
                },
            ],
            enis: vec![
                Eni {
                    id: "eni-web".into(),
                    subnet: 0,
                    ip: Ipv4Addr::new(10, 0, 1, 20),
                    mac: [0x02, 0x01, 10, 0, 1, 20],
                    security_groups: vec![0, 1],
                    host: "web".into(),
                },
                Eni {
                    id: "eni-web2".into(),
                    subnet: 0,
                    ip: Ipv4Addr::new(10, 0, 1, 21),
                    mac: [0x02, 0xab, 0xcd, 0, 0, 1],
                    security_groups: vec![0],
                    host: "web".into(),
                },
                Eni {
                    id: "eni-b".into(),
                    subnet: 1,
                    ip: Ipv4Addr::new(10, 0, 1, 14),
                    mac: [0x02, 0x02, 10, 0, 1, 14],
                    security_groups: vec![2],
                    host: "b-1".into(),
                },
            ],
        };
        assert_eq!(t, expected);
        assert_eq!(t.enis[0].mac, model::default_mac(0, t.enis[0].ip));
    }

    #[test]
    fn lab_defaults_come_from_the_file_stem() {
        let t = parse_str("", "/some/dir/my-lab.toml").unwrap();
        assert_eq!(
            t.lab,
            LabSettings {
                name: "my-lab".into(),
                hook: Hook::Tc,
                mtu: 1500,
            }
        );
        assert!(t.vpcs.is_empty() && t.enis.is_empty());
    }

    #[test]
    fn default_config_is_the_demo() {
        let t = parse_str(DEFAULT_CONFIG, "default.toml").unwrap();
        assert_eq!(t.lab.name, "demo");
        assert_eq!(t.lab.hook, Hook::Tc);
        // Its [conntrack] spells out the defaults (AWS's).
        assert_eq!(t.conntrack, ConntrackSettings::default());
        let ids = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            t.enis.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            ids(vec![
                "eni-client",
                "eni-web",
                "eni-db",
                "eni-other",
                "eni-apigw"
            ])
        );
        // The private API: one user endpoint plus the REST link's implied
        // one; the HTTP link's integration adds a third, at 10.0.1.201.
        let s = &t.services;
        assert_eq!(
            s.vpc_endpoints
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>(),
            [
                "vpce-execute-api",
                "vpclink-rest-endpoint",
                "vpclink-http-int-web-endpoint"
            ]
        );
        assert_eq!(s.vpc_links.len(), 2);
        let VpcLinkKind::Http { enis, .. } = &s.vpc_links[1].kind else {
            panic!("vpclink-http is an HTTP link")
        };
        let link_ips: Vec<String> = enis.iter().map(|e| e.ip.to_string()).collect();
        assert_eq!(link_ips, ["10.0.1.4", "10.0.2.4"]);
        let client = t.eni_by_id("eni-client").unwrap();
        let other = t.eni_by_id("eni-other").unwrap();
        assert_eq!(t.enis[client].ip, t.enis[other].ip);
        assert_ne!(t.eni_vpc(client), t.eni_vpc(other));
        assert_eq!(t.vpcs[0].cidr, t.vpcs[1].cidr);
        let sg = |id: &str| t.security_groups.iter().position(|g| g.id == id).unwrap();
        assert_eq!(
            t.security_groups[sg("sg-db")].ingress,
            vec![Rule {
                protocol: Protocol::Tcp,
                ports: (5432, 5432),
                peer: Peer::SecurityGroup(sg("sg-web")),
            }]
        );
        assert_eq!(
            t.security_groups[sg("sg-web")].ingress,
            vec![
                Rule {
                    protocol: Protocol::Tcp,
                    ports: (80, 80),
                    peer: Peer::SecurityGroup(sg("sg-client")),
                },
                Rule {
                    protocol: Protocol::Tcp,
                    ports: (80, 80),
                    peer: Peer::SecurityGroup(sg("sg-nlb-web")),
                },
                Rule {
                    protocol: Protocol::Tcp,
                    ports: (80, 80),
                    peer: Peer::SecurityGroup(sg("sg-link")),
                },
                Rule {
                    protocol: Protocol::Icmp,
                    ports: (0, 65535),
                    peer: Peer::Cidr(net("10.0.0.0/16")),
                },
            ]
        );
        assert!(t.security_groups[sg("sg-client")].ingress.is_empty());
        assert_eq!(
            t.hosts().into_iter().map(|(h, _)| h).collect::<Vec<_>>(),
            ids(vec!["client", "web", "db", "other", "apigw"])
        );
    }

    #[test]
    fn every_file_in_configs_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                if let Err(d) = load(&path) {
                    panic!("{d}");
                }
                n += 1;
            }
        }
        assert!(n >= 2, "only {n} configs in {}", dir.display());
        let t = load(&dir.join("two-vpcs-same-cidr.toml")).unwrap();
        assert_eq!(t.lab.name, "overlap");
        let t = load(&dir.join("privatelink.toml")).unwrap();
        assert_eq!(t.lab.name, "plink");
        let svc = &t.services;
        assert_eq!(svc.nlbs.len(), 1);
        assert_eq!(svc.nlbs[0].listeners.len(), 2);
        assert!(svc.nlbs[0].cross_zone);
        assert_eq!(
            svc.target_groups[1].targets,
            svc.target_groups[0]
                .targets
                .iter()
                .map(|t| Target {
                    eni: t.eni,
                    port: 5353
                })
                .collect::<Vec<_>>()
        );
        assert_eq!(
            svc.vpc_endpoints
                .iter()
                .map(|e| (e.id.as_str(), e.state))
                .collect::<Vec<_>>(),
            [
                ("vpce-web", EndpointState::Available),
                ("vpce-pending", EndpointState::Pending),
            ]
        );
        assert_eq!(t.vpcs[0].cidr, t.vpcs[1].cidr);
        let t = load(&dir.join("http-vpc-link.toml")).unwrap();
        assert_eq!(t.lab.name, "httplink");
        let svc = &t.services;
        let VpcLinkKind::Http {
            enis, integrations, ..
        } = &svc.vpc_links[0].kind
        else {
            panic!("not an HTTP link");
        };
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            enis.iter().map(|e| e.ip).collect::<Vec<_>>(),
            [ip("10.0.1.4"), ip("10.0.2.4")],
            "allocated: each subnet's first usable address"
        );
        assert_eq!(
            integrations
                .iter()
                .map(|g| (g.id.as_str(), g.address, g.port))
                .collect::<Vec<_>>(),
            [
                ("int-alb", ip("10.1.1.201"), 80),
                ("int-nlb", ip("10.1.1.202"), 80),
                ("int-users", ip("10.1.1.203"), 9000),
                ("int-locked", ip("10.1.1.204"), 9000),
            ]
        );
        let eni = |id: &str| t.eni_by_id(id).unwrap();
        let targets = |g: usize| &svc.target_groups[integrations[g].target_group].targets;
        assert_eq!(
            *targets(0),
            [
                Target {
                    eni: eni("eni-alb1"),
                    port: 80
                },
                Target {
                    eni: eni("eni-alb2"),
                    port: 80
                }
            ]
        );
        assert_eq!(
            *targets(1),
            [Target {
                eni: eni("eni-orders1"),
                port: 8080
            }]
        );
        assert_eq!(
            *targets(2),
            [Target {
                eni: eni("eni-users1"),
                port: 9000
            }]
        );
        assert_eq!(
            *targets(3),
            [Target {
                eni: eni("eni-locked"),
                port: 9000
            }]
        );
        assert_eq!(svc.nlbs.len(), 5);
        assert!(svc.nlbs[1..].iter().all(|n| n.vpc_link == Some(0)
            && n.nodes.iter().map(|n| n.ip).collect::<Vec<_>>()
                == [ip("10.0.1.4"), ip("10.0.2.4")]));
    }

    #[test]
    fn one_host_may_have_two_enis_in_a_subnet() {
        let t = parse_str(
            &with_base(
                r#"
[[eni]]
id = "eni-a2"
subnet = "subnet-a1"
ip = "10.0.1.11"
security_groups = ["sg-a"]
host = "a"
"#,
            ),
            "t.toml",
        )
        .unwrap();
        assert_eq!(t.hosts(), vec![("a".to_string(), vec![0, 1])]);
    }

    #[test]
    fn unreadable_file() {
        let d = load(Path::new("/nonexistent/x.toml")).unwrap_err();
        assert_eq!(d.0.len(), 1);
        assert!(d
            .to_string()
            .starts_with("/nonexistent/x.toml:1:1: cannot read the config file: "));
    }

    #[test]
    fn syntax_error() {
        assert_eq!(
            diags("[[vpc]]\nid = \"vpc-a\"\ncidr = 10.0.0.0/16\n"),
            ["t.toml:3:12: TOML syntax error: expected newline, `#`",]
        );
    }

    #[test]
    fn duplicate_key_is_a_syntax_error() {
        assert_eq!(
            diags("[[vpc]]\nid = \"vpc-a\"\nid = \"vpc-b\"\n"),
            ["t.toml:3:1: TOML syntax error: duplicate key `id` in table `vpc`",]
        );
    }

    #[test]
    fn unknown_fields() {
        assert_eq!(
            diags(&with_base(
                "adress = \"x\"\nsecuritygroups = []\n\n[[vpcs]]\nid = \"v\"\n"
            )),
            [
                "t.toml:21:1: eni[0].adress: unknown field \"adress\" (allowed: id, subnet, ip, mac, security_groups, host)",
                "t.toml:22:1: eni[0].securitygroups: unknown field \"securitygroups\" (allowed: id, subnet, ip, mac, security_groups, host; did you mean \"security_groups\"?)",
                "t.toml:24:3: vpcs: unknown field \"vpcs\" (allowed: lab, flow_logs, vpc, subnet, security_group, eni, nlb, target_group, alb, cloud_map_service, endpoint_service, vpc_endpoint, vpc_link, conntrack; did you mean \"vpc\"?)",
            ]
        );
    }

    #[test]
    fn missing_fields() {
        assert_eq!(
            diags(&with_base("\n[[vpc]]\n\n[[security_group]]\nid = \"sg-b\"\ningress = [{ protocol = \"tcp\" }]\n")),
            [
                "t.toml:22:1: vpc[1].id: missing required field \"id\" (expected a string id such as \"vpc-a\")",
                "t.toml:22:1: vpc[1].cidr: missing required field \"cidr\" (expected an IPv4 CIDR such as \"10.0.0.0/16\")",
                "t.toml:24:1: security_group[1].vpc: missing required field \"vpc\" (expected the id of a [[vpc]])",
                "t.toml:26:12: security_group[1].ingress[0].peer: missing required field \"peer\" (expected an IPv4 CIDR such as \"10.0.0.0/16\" or a security group id)",
            ]
        );
    }

    #[test]
    fn wrong_types() {
        assert_eq!(
            diags(&with_base(
                "\n[lab]\nmtu = \"1500\"\n\n[[vpc]]\nid = 7\ncidr = [\"10.1.0.0/16\"]\n"
            )),
            [
                "t.toml:23:7: lab.mtu: expected an integer MTU such as 1500, found a string",
                "t.toml:26:6: vpc[1].id: expected a string id such as \"vpc-a\", found an integer",
                "t.toml:27:8: vpc[1].cidr: expected an IPv4 CIDR such as \"10.0.0.0/16\", found an array",
            ]
        );
    }

    #[test]
    fn flow_logs_table_gives_the_settings_and_defaults() {
        let t = parse_str(
            &with_base("\n[flow_logs]\ndestination = \"/var/log/flows.log\"\ninterval = 10\naccount_id = \"000011112222\"\n"),
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            t.flow_logs,
            Some(FlowLogSettings {
                destination: FlowLogDestination::File("/var/log/flows.log".into()),
                interval_s: 10,
                account_id: "000011112222".into(),
            })
        );
        let t = parse_str(&with_base("\n[flow_logs]\n"), "t.toml").unwrap();
        assert_eq!(
            t.flow_logs,
            Some(FlowLogSettings {
                destination: FlowLogDestination::Stdout,
                interval_s: 60,
                account_id: "123456789012".into(),
            })
        );
        assert_eq!(parse_str(BASE, "t.toml").unwrap().flow_logs, None);
    }

    #[test]
    fn bad_flow_log_settings_are_located() {
        assert_eq!(
            diags(&with_base(
                "\n[flow_logs]\ndestination = \"\"\ninterval = 0\naccount_id = \"12345\"\nintervall = 5\n"
            )),
            [
                "t.toml:23:15: flow_logs.destination: empty flow log destination (expected \"stdout\" or a file path)",
                "t.toml:24:12: flow_logs.interval: interval 0 is out of range (expected 1 to 600)",
                "t.toml:25:14: flow_logs.account_id: invalid account id \"12345\" (expected 12 digits such as \"123456789012\")",
                "t.toml:26:1: flow_logs.intervall: unknown field \"intervall\" (allowed: destination, interval, account_id; did you mean \"interval\"?)",
            ]
        );
        assert_eq!(
            diags(&with_base(
                "\n[flow_logs]\ndestination = \"/tmp/\"\ninterval = \"60\"\n"
            )),
            [
                "t.toml:23:15: flow_logs.destination: flow log destination \"/tmp/\" is a directory (expected \"stdout\" or a file path)",
                "t.toml:24:12: flow_logs.interval: expected a number of seconds such as 60, found a string",
            ]
        );
        assert_eq!(
            diags("flow_logs = \"stdout\"\n"),
            ["t.toml:1:13: flow_logs: expected a table ([flow_logs]), found a string"]
        );
    }

    #[test]
    fn section_must_be_an_array_of_tables() {
        assert_eq!(
            diags("lab = 1\n[vpc]\nid = \"vpc-a\"\n"),
            [
                "t.toml:1:7: lab: expected a table ([lab]), found an integer",
                "t.toml:2:1: vpc: expected an array of tables ([[vpc]]), found a table",
            ]
        );
    }

    #[test]
    fn duplicate_ids_across_kinds() {
        assert_eq!(
            diags(&with_base(
                "\n[[security_group]]\nid = \"vpc-a\"\nvpc = \"vpc-a\"\n\n[[eni]]\nid = \"eni-a\"\nsubnet = \"subnet-a1\"\nip = \"10.0.1.11\"\nsecurity_groups = [\"sg-a\"]\nhost = \"a\"\n"
            )),
            [
                "t.toml:23:6: security_group[1].id: duplicate id \"vpc-a\": already used by vpc[0] at line 2 (ids are shared by all resource kinds)",
                "t.toml:27:6: eni[1].id: duplicate id \"eni-a\": already used by eni[0] at line 16 (ids are shared by all resource kinds)",
            ]
        );
    }

    #[test]
    fn dangling_references() {
        let src = r#"[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-x"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-a2"
vpc = "subnet-a1"
cidr = "10.0.2.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-web"
vpc = "vpc-a"
ingress = [{ protocol = "tcp", ports = 80, peer = "sg-client" }]

[[security_group]]
id = "sg-db"
vpc = "vpc-b"

[[eni]]
id = "eni-a"
subnet = "subnet-zz"
ip = "10.0.1.10"
security_groups = ["sg-x", "eni-a"]
host = "a"
"#;
        assert_eq!(diags(src), [
                "t.toml:7:7: subnet[0].vpc: unknown VPC \"vpc-x\" (defined: vpc-a)",
                "t.toml:13:7: subnet[1].vpc: \"subnet-a1\" is a subnet (subnet[0]), not a VPC",
                "t.toml:20:51: security_group[0].ingress[0].peer: unknown security group \"sg-client\" (defined: sg-web, sg-db)",
                "t.toml:24:7: security_group[1].vpc: unknown VPC \"vpc-b\" (defined: vpc-a)",
                "t.toml:28:10: eni[0].subnet: unknown subnet \"subnet-zz\" (defined: subnet-a1, subnet-a2)",
                "t.toml:30:20: eni[0].security_groups[0]: unknown security group \"sg-x\" (defined: sg-web, sg-db)",
                "t.toml:30:28: eni[0].security_groups[1]: \"eni-a\" is an ENI (eni[0]), not a security group",
            ]);
    }

    #[test]
    fn addresses_in_subnets() {
        let extra = r#"
[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.1.0.5"
security_groups = ["sg-a"]
host = "b"

[[eni]]
id = "eni-c"
subnet = "subnet-a1"
ip = "10.0.1.1"
security_groups = ["sg-a"]
host = "c"

[[eni]]
id = "eni-d"
subnet = "subnet-a1"
ip = "10.0.1.255"
security_groups = ["sg-a"]
host = "d"

[[eni]]
id = "eni-e"
subnet = "subnet-a1"
ip = "10.0.1.10"
security_groups = ["sg-a"]
host = "e"

[[eni]]
id = "eni-f"
subnet = "subnet-a1"
ip = "10.0.1.300"
security_groups = ["sg-a"]
host = "f"
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:25:6: eni[1].ip: 10.1.0.5 is outside subnet subnet-a1 (10.0.1.0/24)",
                "t.toml:32:6: eni[2].ip: 10.0.1.1 is reserved for the VPC router (the gateway) of subnet subnet-a1 (10.0.1.0/24); usable addresses are 10.0.1.4 to 10.0.1.254 (AWS reserves the first four and the last)",
                "t.toml:39:6: eni[3].ip: 10.0.1.255 is the broadcast address of subnet subnet-a1 (10.0.1.0/24); usable addresses are 10.0.1.4 to 10.0.1.254 (AWS reserves the first four and the last)",
                "t.toml:46:6: eni[4].ip: 10.0.1.10 is already used by eni-a (eni[0]) in vpc-a",
                "t.toml:53:6: eni[5].ip: invalid IPv4 address \"10.0.1.300\" (expected an address without prefix, such as \"10.0.1.10\")",
            ]);
    }

    #[test]
    fn bad_cidrs() {
        let src = r#"[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0"

[[vpc]]
id = "vpc-b"
cidr = "10.0.1.0/16"

[[vpc]]
id = "vpc-c"
cidr = "10.0.0.0/8"

[[vpc]]
id = "vpc-d"
cidr = "10.0.0/16"

[[security_group]]
id = "sg-a"
vpc = "vpc-c"
ingress = [
  { protocol = "all", peer = "10.0.1.5/24" },
  { protocol = "all", peer = "10.0.1.5/33" },
  { protocol = "all", peer = "10.0.1" },
]
"#;
        assert_eq!(diags(src), [
                "t.toml:3:8: vpc[0].cidr: \"10.0.0.0\" has no prefix length (expected a CIDR such as \"10.0.0.0/16\")",
                "t.toml:7:8: vpc[1].cidr: 10.0.1.0/16 has host bits set (expected a network address: did you mean 10.0.0.0/16?)",
                "t.toml:11:8: vpc[2].cidr: prefix /8 of 10.0.0.0/8 is out of range (expected /16 to /28, as in AWS)",
                "t.toml:15:8: vpc[3].cidr: invalid CIDR \"10.0.0/16\" (expected an IPv4 network such as \"10.0.0.0/16\")",
                "t.toml:21:30: security_group[0].ingress[0].peer: 10.0.1.5/24 has host bits set (expected a network address: did you mean 10.0.1.0/24?)",
                "t.toml:22:30: security_group[0].ingress[1].peer: invalid CIDR \"10.0.1.5/33\" (expected an IPv4 network such as \"10.0.0.0/16\")",
                "t.toml:23:30: security_group[0].ingress[2].peer: invalid IPv4 address \"10.0.1\" (expected an address such as \"10.0.1.5\", a CIDR such as \"10.0.0.0/16\" or a security group id)",
            ]);
    }

    #[test]
    fn subnets_inside_their_vpc_without_overlap() {
        let extra = r#"
[[subnet]]
id = "subnet-a2"
vpc = "vpc-a"
cidr = "10.1.0.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-a3"
vpc = "vpc-a"
cidr = "10.0.1.128/25"
az = "use1-az1"

[[subnet]]
id = "subnet-a4"
vpc = "vpc-a"
cidr = "10.0.0.0/16"
az = "use1-az1"
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:25:8: subnet[1].cidr: 10.1.0.0/24 is outside vpc-a (10.0.0.0/16)",
                "t.toml:31:8: subnet[2].cidr: 10.0.1.128/25 overlaps subnet[0] subnet-a1 (10.0.1.0/24) in vpc-a",
                "t.toml:37:8: subnet[3].cidr: 10.0.0.0/16 overlaps subnet[0] subnet-a1 (10.0.1.0/24) in vpc-a",
            ]);
    }

    #[test]
    fn port_ranges() {
        let extra = r#"
[[security_group]]
id = "sg-b"
vpc = "vpc-a"
ingress = [
  { protocol = "tcp", ports = "9000-80", peer = "0.0.0.0/0" },
  { protocol = "tcp", ports = "80-70000", peer = "0.0.0.0/0" },
  { protocol = "udp", ports = 65536, peer = "0.0.0.0/0" },
  { protocol = "udp", ports = "http", peer = "0.0.0.0/0" },
  { protocol = "udp", ports = "1-2-3", peer = "0.0.0.0/0" },
  { protocol = "udp", ports = true, peer = "0.0.0.0/0" },
]
egress = [
  { protocol = "icmp", ports = "0", peer = "0.0.0.0/0" },
  { protocol = "all", ports = "1-100", peer = "0.0.0.0/0" },
  { protocol = "sctp", peer = "0.0.0.0/0" },
]
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:26:31: security_group[1].ingress[0].ports: port range \"9000-80\" is reversed (expected low-high with low <= high, e.g. \"80-9000\")",
                "t.toml:27:31: security_group[1].ingress[1].ports: port 70000 is out of range (expected 0 to 65535)",
                "t.toml:28:31: security_group[1].ingress[2].ports: port 65536 is out of range (expected 0 to 65535)",
                "t.toml:29:31: security_group[1].ingress[3].ports: invalid port range \"http\" (expected a port such as 80 or \"80\", or a range such as \"8000-8100\")",
                "t.toml:30:31: security_group[1].ingress[4].ports: invalid port range \"1-2-3\" (expected a port such as 80 or \"80\", or a range such as \"8000-8100\")",
                "t.toml:31:31: security_group[1].ingress[5].ports: expected a port such as 80 or \"80\", or a range such as \"8000-8100\", found a boolean",
                "t.toml:34:32: security_group[1].egress[0].ports: ports are not allowed for protocol \"icmp\" (a rule for \"icmp\" covers every port; remove ports or use \"tcp\" or \"udp\")",
                "t.toml:35:31: security_group[1].egress[1].ports: ports are not allowed for protocol \"all\" (a rule for \"all\" covers every port; remove ports or use \"tcp\" or \"udp\")",
                "t.toml:36:16: security_group[1].egress[2].protocol: unknown protocol \"sctp\" (expected \"tcp\", \"udp\", \"icmp\" or \"all\")",
            ]);
    }

    #[test]
    fn macs() {
        let extra = r#"mac = "02:00:00:00:00:01"

[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.0.1.11"
mac = "02:00:00:00:00:01"
security_groups = ["sg-a"]
host = "b"

[[eni]]
id = "eni-c"
subnet = "subnet-a1"
ip = "10.0.1.12"
mac = "01:00:5e:00:00:01"
security_groups = ["sg-a"]
host = "c"

[[eni]]
id = "eni-d"
subnet = "subnet-a1"
ip = "10.0.1.13"
mac = "02:00:00:00:01"
security_groups = ["sg-a"]
host = "d"

[[eni]]
id = "eni-e"
subnet = "subnet-a1"
ip = "10.0.1.14"
mac = "02:01:0a:00:01:0f"
security_groups = ["sg-a"]
host = "e"

[[eni]]
id = "eni-f"
subnet = "subnet-a1"
ip = "10.0.1.15"
security_groups = ["sg-a"]
host = "f"
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:27:7: eni[1].mac: MAC 02:00:00:00:00:01 is already the MAC of eni-a (eni[0])",
                "t.toml:35:7: eni[2].mac: MAC 01:00:5e:00:00:01 is a multicast address (the first octet's lowest bit is set); an ENI needs a unicast MAC such as \"02:00:00:00:00:01\"",
                "t.toml:43:7: eni[3].mac: invalid MAC address \"02:00:00:00:01\" (expected six hex octets such as \"02:00:00:00:00:01\")",
                "t.toml:55:1: eni[5].mac: the default MAC 02:01:0a:00:01:0f (from the VPC index and IP) is already the MAC of eni-e (eni[4]); set mac explicitly",
            ]);
    }

    #[test]
    fn conntrack_defaults_are_aws_and_every_key_is_read() {
        let secs = std::time::Duration::from_secs;
        let t = parse_str("", "t.toml").unwrap();
        assert_eq!(t.conntrack, ConntrackSettings::default());
        assert_eq!(
            (
                t.conntrack.timeouts.tcp_established,
                t.conntrack.timeouts.udp_stream,
                t.conntrack.timeouts.udp,
                t.conntrack.sweep_interval
            ),
            (secs(432_000), secs(180), secs(30), secs(1))
        );
        let src = "[conntrack]\ntcp_established_timeout = 3600\nudp_stream_timeout = 60\n\
                   udp_timeout = 60\ntcp_transitory_timeout = 5\nother_timeout = 7\n\
                   sweep_interval = 2\n";
        let t = parse_str(src, "t.toml").unwrap();
        assert_eq!(
            t.conntrack,
            ConntrackSettings {
                timeouts: crate::conntrack::Timeouts {
                    tcp_established: secs(3600),
                    tcp_transitory: secs(5),
                    udp_stream: secs(60),
                    udp: secs(60),
                    other: secs(7),
                },
                sweep_interval: secs(2),
            }
        );
        // The lab knob lets the AWS-settable ones go down to 1 s.
        let src = "[conntrack]\nignore_aws_ranges = true\ntcp_established_timeout = 1\n\
                   udp_stream_timeout = 2\nudp_timeout = 1\n";
        let t = parse_str(src, "t.toml").unwrap().conntrack.timeouts;
        assert_eq!(
            (t.tcp_established, t.udp_stream, t.udp, t.tcp_transitory),
            (secs(1), secs(2), secs(1), secs(60))
        );
    }

    #[test]
    fn conntrack_values_outside_their_ranges_are_located() {
        assert_eq!(
            diags(
                "[conntrack]\ntcp_established_timeout = 30\nudp_stream_timeout = 600\n\
                 udp_timeout = 0\ntcp_transitory_timeout = 500000\nother_timeout = \"60s\"\n\
                 sweep_interval = 0\nudp_timout = 30\n"
            ),
            [
                "t.toml:2:27: conntrack.tcp_established_timeout: tcp_established_timeout 30 is out of range (expected 60 to 432000 seconds, AWS's range for tcpEstablishedTimeout; set ignore_aws_ranges = true to allow 1 to 432000 in the lab)",
                "t.toml:3:22: conntrack.udp_stream_timeout: udp_stream_timeout 600 is out of range (expected 60 to 180 seconds, AWS's range for udpStreamTimeout; set ignore_aws_ranges = true to allow 1 to 432000 in the lab)",
                "t.toml:4:15: conntrack.udp_timeout: udp_timeout 0 is out of range (expected 30 to 60 seconds, AWS's range for udpTimeout)",
                "t.toml:5:26: conntrack.tcp_transitory_timeout: tcp_transitory_timeout 500000 is out of range (expected 1 to 432000 seconds)",
                "t.toml:6:17: conntrack.other_timeout: expected a timeout in seconds such as 60, found a string",
                "t.toml:7:18: conntrack.sweep_interval: sweep_interval 0 is out of range (expected 1 to 60)",
                "t.toml:8:1: conntrack.udp_timout: unknown field \"udp_timout\" (allowed: tcp_established_timeout, udp_stream_timeout, udp_timeout, tcp_transitory_timeout, other_timeout, sweep_interval, ignore_aws_ranges; did you mean \"udp_timeout\"?)",
            ]
        );
        assert_eq!(
            diags("[conntrack]\nignore_aws_ranges = \"yes\"\nudp_timeout = 0\n"),
            [
                "t.toml:2:21: conntrack.ignore_aws_ranges: expected true or false, found a string",
                "t.toml:3:15: conntrack.udp_timeout: udp_timeout 0 is out of range (expected 30 to 60 seconds, AWS's range for udpTimeout)",
            ]
        );
        assert_eq!(
            diags("[conntrack]\nignore_aws_ranges = true\nudp_timeout = 0\n"),
            ["t.toml:3:15: conntrack.udp_timeout: udp_timeout 0 is out of range (expected 1 to 432000 seconds)"]
        );
        assert_eq!(
            diags("conntrack = 5\n"),
            ["t.toml:1:13: conntrack: expected a table ([conntrack]), found an integer"]
        );
    }

    #[test]
    fn lab_settings() {
        assert_eq!(
            diags("[lab]\nname = \"Demo_1\"\nhook = \"tcx\"\nmtu = 100\n"),
            [
                "t.toml:2:8: lab.name: invalid lab name \"Demo_1\" (expected 1 to 12 characters from a-z, 0-9 and '-', starting with a letter or digit; it prefixes the lab's namespace names)",
                "t.toml:3:8: lab.hook: unknown hook \"tcx\" (expected \"tc\" or \"xdp\")",
                "t.toml:4:7: lab.mtu: MTU 100 is out of range (expected 576 to 9000)",
            ]
        );
        assert_eq!(
            diags("[lab]\nname = 5\nhook = \"XDP\"\n"),
            [
                "t.toml:2:8: lab.name: expected a lab name such as \"demo\", found an integer",
                "t.toml:3:8: lab.hook: unknown hook \"XDP\" (expected \"tc\" or \"xdp\")",
            ]
        );
        assert_eq!(
            parse_str("[lab]\nmtu = 576\n", "lab-1.toml")
                .unwrap()
                .lab
                .mtu,
            576
        );
        let d = parse_str("", "a-very-long-lab-name.toml").unwrap_err();
        assert_eq!(
            d.to_string(),
            "a-very-long-lab-name.toml:1:1: lab.name: no lab name is set and the file name's \
             stem \"a-very-long-lab-name\" is not a valid one (expected 1 to 12 characters \
             from a-z, 0-9 and '-', starting with a letter or digit; it prefixes the lab's \
             namespace names); set name in [lab]"
        );
    }

    #[test]
    fn security_groups_of_another_vpc() {
        let extra = r#"
[[vpc]]
id = "vpc-b"
cidr = "10.0.0.0/16"

[[security_group]]
id = "sg-b"
vpc = "vpc-b"
ingress = [{ protocol = "tcp", ports = "22", peer = "sg-a" }]

[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.0.1.11"
security_groups = ["sg-a", "sg-b", "sg-a"]
host = "b"
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:29:53: security_group[1].ingress[0].peer: security group \"sg-a\" is in vpc-a, but sg-b is in vpc-b (a rule can only reference groups of its own VPC; use a CIDR instead)",
                "t.toml:35:28: eni[1].security_groups[1]: security group \"sg-b\" is in vpc-b, but this ENI's subnet subnet-a1 is in vpc-a",
                "t.toml:35:36: eni[1].security_groups[2]: security group \"sg-a\" is listed twice",
            ]);
    }

    #[test]
    fn security_group_count_and_hosts() {
        let extra = r#"
[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.0.1.11"
security_groups = []
host = "fabric"

[[eni]]
id = "eni-c"
subnet = "subnet-a1"
ip = "10.0.1.12"
security_groups = ["sg-a", "sg-a", "sg-a", "sg-a", "sg-a", "sg-a"]
host = "Host_C"
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:26:19: eni[1].security_groups: an ENI needs 1 to 5 security groups, found 0",
                "t.toml:27:8: eni[1].host: host name \"fabric\" is reserved for the lab's fabric namespace",
                "t.toml:33:19: eni[2].security_groups: an ENI needs 1 to 5 security groups, found 6",
                "t.toml:33:28: eni[2].security_groups[1]: security group \"sg-a\" is listed twice",
                "t.toml:33:36: eni[2].security_groups[2]: security group \"sg-a\" is listed twice",
                "t.toml:33:44: eni[2].security_groups[3]: security group \"sg-a\" is listed twice",
                "t.toml:33:52: eni[2].security_groups[4]: security group \"sg-a\" is listed twice",
                "t.toml:33:60: eni[2].security_groups[5]: security group \"sg-a\" is listed twice",
                "t.toml:34:8: eni[2].host: invalid host name \"Host_C\" (expected 1 to 15 characters from a-z, 0-9 and '-', starting with a letter or digit)",
            ]);
    }

    #[test]
    fn reports_every_error_at_once() {
        let src = r#"[[vpc]]
id = "vpc-a"
cidr = "10.0.0.1/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[eni]]
id = "eni-a"
subnet = "subnet-a1"
ip = "10.0.2.10"
security_groups = ["sg-nope"]
host = "a"
"#;
        assert_eq!(diags(src), [
                "t.toml:3:8: vpc[0].cidr: 10.0.0.1/16 has host bits set (expected a network address: did you mean 10.0.0.0/16?)",
                "t.toml:14:6: eni[0].ip: 10.0.2.10 is outside subnet subnet-a1 (10.0.1.0/24)",
                "t.toml:15:20: eni[0].security_groups[0]: unknown security group \"sg-nope\" (no security groups are defined)",
            ]);
    }

    #[test]
    fn odd_values_are_located_too() {
        let src = "[[vpc]]\nid = 1979-05-27\ncidr = \"10.0.0.0/16\"\n\n[[vpc]]\nid = \"vpc b\"\ncidr = \"10.1.0.0/16\"\n\n[foo.bar]\nx = 1\n";
        let d = parse_str(src, "t.toml").unwrap_err();
        assert_eq!(d.0.len(), 3);
        assert_eq!(
            d.to_string(),
            "t.toml:2:6: vpc[0].id: expected a string id such as \"vpc-a\", found a datetime\n\
             t.toml:6:6: vpc[1].id: invalid id \"vpc b\" (expected a non-empty string without \
             spaces, such as \"vpc-a\")\n\
             t.toml:9:2: foo: unknown field \"foo\" (allowed: lab, flow_logs, vpc, subnet, security_group, eni, nlb, \
             target_group, alb, cloud_map_service, endpoint_service, vpc_endpoint, vpc_link, conntrack)"
        );
    }
    // -- PrivateLink ---------------------------------------------------------

    #[test]
    fn privatelink_config_gives_the_exact_services() {
        let src = r#"
[[vpc]]
id = "vpc-c"
cidr = "10.0.0.0/16"

[[vpc]]
id = "vpc-p"
cidr = "10.0.0.0/16"   # overlaps vpc-c: fine, PrivateLink does not route

[[vpc]]
id = "vpc-api"
cidr = "10.2.0.0/16"

[[subnet]]
id = "subnet-c1"
vpc = "vpc-c"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-c2"
vpc = "vpc-c"
cidr = "10.0.2.0/24"
az = "use1-az2"

[[subnet]]
id = "subnet-p1"
vpc = "vpc-p"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-p2"
vpc = "vpc-p"
cidr = "10.0.2.0/24"
az = "use1-az2"

[[subnet]]
id = "subnet-api1"
vpc = "vpc-api"
cidr = "10.2.1.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-c"
vpc = "vpc-c"

[[security_group]]
id = "sg-vpce"
vpc = "vpc-c"

[[security_group]]
id = "sg-nlb"
vpc = "vpc-p"

[[security_group]]
id = "sg-web"
vpc = "vpc-p"
ingress = [{ protocol = "tcp", ports = 8080, peer = "sg-nlb" }]

[[security_group]]
id = "sg-link"
vpc = "vpc-api"

[[eni]]
id = "eni-client"
subnet = "subnet-c1"
ip = "10.0.1.10"
security_groups = ["sg-c"]
host = "client"

[[eni]]
id = "eni-web1"
subnet = "subnet-p1"
ip = "10.0.1.21"
security_groups = ["sg-web"]
host = "web1"

[[eni]]
id = "eni-web2"
subnet = "subnet-p2"
ip = "10.0.2.22"
security_groups = ["sg-web"]
host = "web2"

[[target_group]]
id = "tg-web"
vpc = "vpc-p"
protocol = "tcp"
port = 8080
targets = ["eni-web1", "10.0.2.22:8081", "10.0.1.21:9090"]
health_check = { protocol = "http", path = "/health", port = 8080, interval_ms = 2000, timeout_ms = 1500, healthy_threshold = 3, unhealthy_threshold = 4 }

[[target_group]]
id = "tg-dns"
vpc = "vpc-p"
protocol = "udp"
port = 5353
targets = ["eni-web1", "eni-web2"]
health_check = { protocol = "tcp", interval_ms = 200 }

[[target_group]]
id = "tg-plain"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["eni-web2"]
health_check = { protocol = "http" }

[[target_group]]
id = "tg-rest"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["10.0.1.21:80"]

[[nlb]]
id = "nlb-web"
subnets = [
  { subnet = "subnet-p1", ip = "10.0.1.50" },
  { subnet = "subnet-p2", ip = "10.0.2.50" },
]
cross_zone = true
security_groups = ["sg-nlb"]
listeners = [
  { protocol = "tcp", port = 80, target_group = "tg-web" },
  { protocol = "udp", port = 53, target_group = "tg-dns" },
]

[[nlb]]
id = "nlb-open"
subnets = [{ subnet = "subnet-p2", ip = "10.0.2.102" }]   # vpce-open's address, other VPC

[[nlb.listeners]]
protocol = "tcp"
port = 80
target_group = "tg-plain"

[[nlb]]
id = "nlb-rest"
subnets = [{ subnet = "subnet-p1", ip = "10.0.1.70" }]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-rest" }]

[[endpoint_service]]
id = "vpce-svc-web"
nlb = "nlb-web"
allowed_principals = ["arn:aws:iam::111122223333:root"]

[[endpoint_service]]
id = "vpce-svc-open"
nlb = "nlb-open"
acceptance_required = false
allowed_principals = ["*"]

[[vpc_endpoint]]
id = "vpce-web"
service = "vpce-svc-web"
vpc = "vpc-c"
subnets = [
  { subnet = "subnet-c1", ip = "10.0.1.100" },
  { subnet = "subnet-c2", ip = "10.0.2.100" },
]
security_groups = ["sg-vpce"]
principal = "arn:aws:iam::111122223333:root"

[[vpc_endpoint]]
id = "vpce-web-accepted"
service = "vpce-svc-web"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.101" }]
security_groups = ["sg-vpce", "sg-c"]
principal = "arn:aws:iam::111122223333:root"
state = "available"

[[vpc_endpoint]]
id = "vpce-open"
service = "vpce-svc-open"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c2", ip = "10.0.2.102" }]
security_groups = ["sg-vpce"]
principal = "arn:aws:iam::444455556666:root"

[[vpc_link]]
id = "vpclink-rest"
kind = "rest"
nlb = "nlb-rest"
vpc = "vpc-api"
subnets = [{ subnet = "subnet-api1", ip = "10.2.1.100" }]
security_groups = ["sg-link"]
"#;
        let t = parse_str(src, "pl.toml").unwrap();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let node = |subnet, a: &str| NlbNode { subnet, ip: ip(a) };
        let eni = |subnet, a: &str| EndpointEni { subnet, ip: ip(a) };
        let arn = "arn:aws:iam::111122223333:root".to_string();
        let expected = Services {
            albs: Vec::new(),
            cloud_map_services: Vec::new(),
            target_groups: vec![
                TargetGroup {
                    connection_termination: true,
                    id: "tg-web".into(),
                    vpc: 1,
                    protocol: L4Protocol::Tcp,
                    port: 8080,
                    targets: vec![
                        Target { eni: 1, port: 8080 },
                        Target { eni: 2, port: 8081 },
                        Target { eni: 1, port: 9090 },
                    ],
                    health_check: Some(HealthCheck {
                        protocol: HealthProtocol::Http {
                            path: "/health".into(),
                        },
                        port: Some(8080),
                        interval_ms: 2000,
                        timeout_ms: 1500,
                        healthy_threshold: 3,
                        unhealthy_threshold: 4,
                    }),
                },
                TargetGroup {
                    connection_termination: true,
                    id: "tg-dns".into(),
                    vpc: 1,
                    protocol: L4Protocol::Udp,
                    port: 5353,
                    targets: vec![Target { eni: 1, port: 5353 }, Target { eni: 2, port: 5353 }],
                    health_check: Some(HealthCheck {
                        protocol: HealthProtocol::Tcp,
                        port: None,
                        interval_ms: 200,
                        // The default 500 ms, capped at the interval.
                        timeout_ms: 200,
                        healthy_threshold: 2,
                        unhealthy_threshold: 2,
                    }),
                },
                TargetGroup {
                    connection_termination: true,
                    id: "tg-plain".into(),
                    vpc: 1,
                    protocol: L4Protocol::Tcp,
                    port: 80,
                    targets: vec![Target { eni: 2, port: 80 }],
                    health_check: Some(HealthCheck {
                        protocol: HealthProtocol::Http { path: "/".into() },
                        port: None,
                        interval_ms: 1000,
                        timeout_ms: 500,
                        healthy_threshold: 2,
                        unhealthy_threshold: 2,
                    }),
                },
                TargetGroup {
                    connection_termination: true,
                    id: "tg-rest".into(),
                    vpc: 1,
                    protocol: L4Protocol::Tcp,
                    port: 80,
                    targets: vec![Target { eni: 1, port: 80 }],
                    health_check: None,
                },
            ],
            nlbs: vec![
                Nlb {
                    vpc_link: None,
                    source_ports: crate::model::NLB_SOURCE_PORTS,
                    id: "nlb-web".into(),
                    vpc: 1,
                    nodes: vec![node(2, "10.0.1.50"), node(3, "10.0.2.50")],
                    cross_zone: true,
                    security_groups: vec![2],
                    listeners: vec![
                        Listener {
                            protocol: L4Protocol::Tcp,
                            port: 80,
                            target_group: 0,
                        },
                        Listener {
                            protocol: L4Protocol::Udp,
                            port: 53,
                            target_group: 1,
                        },
                    ],
                },
                Nlb {
                    vpc_link: None,
                    source_ports: crate::model::NLB_SOURCE_PORTS,
                    id: "nlb-open".into(),
                    vpc: 1,
                    nodes: vec![node(3, "10.0.2.102")],
                    cross_zone: false,
                    security_groups: vec![],
                    listeners: vec![Listener {
                        protocol: L4Protocol::Tcp,
                        port: 80,
                        target_group: 2,
                    }],
                },
                Nlb {
                    vpc_link: None,
                    source_ports: crate::model::NLB_SOURCE_PORTS,
                    id: "nlb-rest".into(),
                    vpc: 1,
                    nodes: vec![node(2, "10.0.1.70")],
                    cross_zone: false,
                    security_groups: vec![],
                    listeners: vec![Listener {
                        protocol: L4Protocol::Tcp,
                        port: 80,
                        target_group: 3,
                    }],
                },
            ],
            endpoint_services: vec![
                EndpointService {
                    id: "vpce-svc-web".into(),
                    nlb: 0,
                    acceptance_required: true,
                    allowed_principals: vec![arn.clone()],
                },
                EndpointService {
                    id: "vpce-svc-open".into(),
                    nlb: 1,
                    acceptance_required: false,
                    allowed_principals: vec!["*".into()],
                },
                EndpointService {
                    id: "vpclink-rest-service".into(),
                    nlb: 2,
                    acceptance_required: false,
                    allowed_principals: vec!["*".into()],
                },
            ],
            vpc_endpoints: vec![
                VpcEndpoint {
                    id: "vpce-web".into(),
                    service: 0,
                    vpc: 0,
                    enis: vec![eni(0, "10.0.1.100"), eni(1, "10.0.2.100")],
                    security_groups: vec![1],
                    principal: arn.clone(),
                    state: EndpointState::Pending,
                    implied_by: None,
                },
                VpcEndpoint {
                    id: "vpce-web-accepted".into(),
                    service: 0,
                    vpc: 0,
                    enis: vec![eni(0, "10.0.1.101")],
                    security_groups: vec![1, 0],
                    principal: arn.clone(),
                    state: EndpointState::Available,
                    implied_by: None,
                },
                VpcEndpoint {
                    id: "vpce-open".into(),
                    service: 1,
                    vpc: 0,
                    enis: vec![eni(1, "10.0.2.102")],
                    security_groups: vec![1],
                    principal: "arn:aws:iam::444455556666:root".into(),
                    state: EndpointState::Available,
                    implied_by: None,
                },
                VpcEndpoint {
                    id: "vpclink-rest-endpoint".into(),
                    service: 2,
                    vpc: 2,
                    enis: vec![eni(4, "10.2.1.100")],
                    security_groups: vec![4],
                    principal: "apigateway.amazonaws.com".into(),
                    state: EndpointState::Available,
                    implied_by: Some(0),
                },
            ],
            vpc_links: vec![VpcLink {
                id: "vpclink-rest".into(),
                kind: VpcLinkKind::Rest {
                    nlb: 2,
                    service: 2,
                    endpoint: 3,
                },
            }],
        };
        assert_eq!(t.services, expected);
        assert_eq!(t.enis.len(), 3);
        assert_eq!(
            t.security_groups[3].ingress[0].peer,
            Peer::SecurityGroup(2),
            "a rule may name the NLB's group"
        );
    }

    /// Two VPCs, three subnets (two AZs in vpc-p), a group each, two target
    /// hosts, a target group, an NLB, a service and an endpoint (72 lines).
    /// Tests append to it, so their errors are on line 73 and below.
    const PL: &str = r#"[[vpc]]
id = "vpc-c"
cidr = "10.0.0.0/16"

[[vpc]]
id = "vpc-p"
cidr = "10.1.0.0/16"

[[subnet]]
id = "subnet-c1"
vpc = "vpc-c"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-p1"
vpc = "vpc-p"
cidr = "10.1.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-p2"
vpc = "vpc-p"
cidr = "10.1.2.0/24"
az = "use1-az2"

[[security_group]]
id = "sg-c"
vpc = "vpc-c"

[[security_group]]
id = "sg-p"
vpc = "vpc-p"

[[eni]]
id = "eni-web1"
subnet = "subnet-p1"
ip = "10.1.1.21"
security_groups = ["sg-p"]
host = "web1"

[[eni]]
id = "eni-web2"
subnet = "subnet-p2"
ip = "10.1.2.22"
security_groups = ["sg-p"]
host = "web2"

[[target_group]]
id = "tg-web"
vpc = "vpc-p"
protocol = "tcp"
port = 8080
targets = ["eni-web1", "10.1.2.22:8081"]

[[nlb]]
id = "nlb-svc"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.50" }, { subnet = "subnet-p2", ip = "10.1.2.50" }]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]

[[endpoint_service]]
id = "vpce-svc-web"
nlb = "nlb-svc"
allowed_principals = ["arn:aws:iam::111122223333:root"]

[[vpc_endpoint]]
id = "vpce-web"
service = "vpce-svc-web"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.100" }]
security_groups = ["sg-c"]
principal = "arn:aws:iam::111122223333:root"
"#;

    fn with_pl(extra: &str) -> String {
        format!("{PL}{extra}")
    }

    #[test]
    fn privatelink_base_is_valid() {
        let t = parse_str(PL, "t.toml").unwrap();
        assert_eq!(PL.lines().count(), 72);
        assert_eq!(t.services.vpc_endpoints[0].state, EndpointState::Pending);
    }
    #[test]
    fn nlb_subnets() {
        let extra = r#"
[[vpc]]
id = "vpc-x"
cidr = "10.9.0.0/16"

[[subnet]]
id = "subnet-x1"
vpc = "vpc-x"
cidr = "10.9.1.0/24"
az = "use1-az3"

[[subnet]]
id = "subnet-p3"
vpc = "vpc-p"
cidr = "10.1.3.0/24"
az = "use1-az1"

[[nlb]]
id = "nlb-2"
subnets = [
  { subnet = "subnet-p1", ip = "10.1.1.51" },
  { subnet = "subnet-x1", ip = "10.9.1.51" },
  { subnet = "subnet-p3", ip = "10.1.3.51" },
  { subnet = "subnet-p1", ip = "10.1.1.52" },
  { subnet = "subnet-p2", ip = "10.1.2.3" },
  { subnet = "subnet-zz", ip = "10.1.2.4" },
]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]

[[nlb]]
id = "nlb-3"
subnets = []
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]

[[nlb]]
id = "nlb-4"
subnets = [{ subnet = "subnet-p2", ip = "10.1.3.5" }]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]
"#;
        assert_eq!(diags(&with_pl(extra)), [
            "t.toml:94:14: nlb[1].subnets[1].subnet: subnet subnet-x1 is in vpc-x, but this NLB's first subnet subnet-p1 (subnets[0]) is in vpc-p (all of an NLB's subnets must be in one VPC)",
            "t.toml:95:14: nlb[1].subnets[2].subnet: subnet subnet-p3 is in use1-az1, like subnets[0] subnet-p1 (an NLB takes one subnet per availability zone)",
            "t.toml:96:14: nlb[1].subnets[3].subnet: subnet subnet-p1 is listed twice (also subnets[0])",
            "t.toml:97:32: nlb[1].subnets[4].ip: 10.1.2.3 is reserved by AWS for future use of subnet subnet-p2 (10.1.2.0/24); usable addresses are 10.1.2.4 to 10.1.2.254 (AWS reserves the first four and the last)",
            "t.toml:98:14: nlb[1].subnets[5].subnet: unknown subnet \"subnet-zz\" (defined: subnet-c1, subnet-p1, subnet-p2, subnet-x1, subnet-p3)",
            "t.toml:104:11: nlb[2].subnets: an NLB needs at least one subnet (one per availability zone)",
            "t.toml:109:41: nlb[3].subnets[0].ip: 10.1.3.5 is outside subnet subnet-p2 (10.1.2.0/24)",
        ]);
    }

    #[test]
    fn nlb_listeners_and_groups() {
        let extra = r#"
[[vpc]]
id = "vpc-x"
cidr = "10.9.0.0/16"

[[security_group]]
id = "sg-x"
vpc = "vpc-x"

[[target_group]]
id = "tg-udp"
vpc = "vpc-p"
protocol = "udp"
port = 53
targets = ["eni-web1"]

[[target_group]]
id = "tg-x"
vpc = "vpc-x"
protocol = "tcp"
port = 80
targets = []

[[nlb]]
id = "nlb-2"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.51" }]
security_groups = ["sg-p", "sg-x", "sg-p", "vpc-p"]
listeners = [
  { protocol = "tcp", port = 80, target_group = "tg-web" },
  { protocol = "udp", port = 80, target_group = "tg-udp" },
  { protocol = "tcp", port = 80, target_group = "tg-web" },
  { protocol = "tcp", port = 81, target_group = "tg-udp" },
  { protocol = "tcp", port = 82, target_group = "tg-x" },
  { protocol = "tcp", port = 83, target_group = "tg-nope" },
  { protocol = "http", port = 0, target_group = "tg-web" },
]

[[nlb]]
id = "nlb-3"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.52" }]
listeners = []
"#;
        assert_eq!(diags(&with_pl(extra)), [
            "t.toml:94:11: target_group[2].targets: a target group needs at least one target",
            "t.toml:99:28: nlb[1].security_groups[1]: security group \"sg-x\" is in vpc-x, but this NLB is in vpc-p",
            "t.toml:99:36: nlb[1].security_groups[2]: security group \"sg-p\" is listed twice",
            "t.toml:99:44: nlb[1].security_groups[3]: \"vpc-p\" is a VPC (vpc[1]), not a security group",
            "t.toml:103:30: nlb[1].listeners[2].port: listener tcp 80 is already defined by listeners[0] (an NLB has one listener per protocol and port)",
            "t.toml:104:49: nlb[1].listeners[3].target_group: target group tg-udp has protocol udp, but this listener's is tcp",
            "t.toml:105:49: nlb[1].listeners[4].target_group: target group tg-x is in vpc-x, but this NLB is in vpc-p",
            "t.toml:106:49: nlb[1].listeners[5].target_group: unknown target group \"tg-nope\" (defined: tg-web, tg-udp, tg-x)",
            "t.toml:107:16: nlb[1].listeners[6].protocol: unknown protocol \"http\" (expected \"tcp\" or \"udp\")",
            "t.toml:107:31: nlb[1].listeners[6].port: port 0 is out of range (expected 1 to 65535)",
            "t.toml:113:13: nlb[2].listeners: an NLB needs at least one listener",
        ]);
    }

    #[test]
    fn addresses_are_unique_per_vpc_across_kinds() {
        let extra = r#"
[[subnet]]
id = "subnet-c2"
vpc = "vpc-c"
cidr = "10.0.2.0/24"
az = "use1-az2"

[[nlb]]
id = "nlb-2"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.21" }, { subnet = "subnet-p2", ip = "10.1.2.50" }]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]

[[vpc_endpoint]]
id = "vpce-2"
service = "vpce-svc-web"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.100" }, { subnet = "subnet-c2", ip = "10.0.2.100" }]
security_groups = ["sg-c"]
principal = "arn:aws:iam::111122223333:root"

[[vpc_link]]
id = "vpclink-a"
kind = "rest"
nlb = "nlb-2"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c2", ip = "10.0.2.100" }]
security_groups = ["sg-c"]

[[eni]]
id = "eni-late"
subnet = "subnet-c1"
ip = "10.0.1.100"
security_groups = ["sg-c"]
host = "late"
"#;
        assert_eq!(diags(&with_pl(extra)), [
            "t.toml:82:41: nlb[1].subnets[0].ip: 10.1.1.21 is already used by eni-web1 (eni[0]) in vpc-p",
            "t.toml:82:85: nlb[1].subnets[1].ip: 10.1.2.50 is already used by nlb-svc (nlb[0].subnets[1]) in vpc-p",
            "t.toml:89:41: vpc_endpoint[1].subnets[0].ip: 10.0.1.100 is already used by vpce-web (vpc_endpoint[0].subnets[0]) in vpc-c",
            "t.toml:98:41: vpc_link[0].subnets[0].ip: 10.0.2.100 is already used by vpce-2 (vpc_endpoint[1].subnets[1]) in vpc-c",
            "t.toml:104:6: eni[2].ip: 10.0.1.100 is already used by vpce-web (vpc_endpoint[0].subnets[0]) in vpc-c",
        ]);
    }

    #[test]
    fn target_groups() {
        let extra = r#"
[[subnet]]
id = "subnet-c2"
vpc = "vpc-c"
cidr = "10.0.2.0/24"
az = "use1-az2"

[[eni]]
id = "eni-c"
subnet = "subnet-c1"
ip = "10.0.1.10"
security_groups = ["sg-c"]
host = "c"

[[target_group]]
id = "tg-2"
vpc = "vpc-p"
protocol = "sctp"
port = 70000
targets = ["eni-web1", "10.1.1.21:8080", "eni-c", "10.1.1.99:80", "sg-p", "eni-nope"]

[[target_group]]
id = "tg-3"
vpc = "vpc-p"
protocol = "udp"
port = 53
targets = ["10.1.1.21", "10.1.1.21:0", "10.1.1.21:http", "10.1.1", "", 5, "eni-web1", "10.1.1.21:53"]

[[target_group]]
id = "tg-4"
vpc = "vpc-p"
protocol = "udp"
port = 53
targets = []
"#;
        assert_eq!(diags(&with_pl(extra)), [
            "t.toml:90:12: target_group[1].protocol: unknown protocol \"sctp\" (expected \"tcp\" or \"udp\")",
            "t.toml:91:8: target_group[1].port: port 70000 is out of range (expected 1 to 65535)",
            "t.toml:92:42: target_group[1].targets[2]: ENI eni-c is in vpc-c, but this target group is in vpc-p",
            "t.toml:92:51: target_group[1].targets[3]: no ENI in vpc-p has the address 10.1.1.99 (a target given as \"IP:port\" must be a lab host's ENI)",
            "t.toml:92:67: target_group[1].targets[4]: \"sg-p\" is a security group (security_group[1]), not an ENI",
            "t.toml:92:75: target_group[1].targets[5]: unknown ENI \"eni-nope\" (defined: eni-web1, eni-web2, eni-c)",
            "t.toml:99:12: target_group[2].targets[0]: target \"10.1.1.21\" has no port (expected \"IP:port\" such as \"10.1.1.21:8080\", or an ENI id)",
            "t.toml:99:25: target_group[2].targets[1]: port 0 of target \"10.1.1.21:0\" is out of range (expected 1 to 65535)",
            "t.toml:99:40: target_group[2].targets[2]: invalid port \"http\" in target \"10.1.1.21:http\" (expected 1 to 65535)",
            "t.toml:99:58: target_group[2].targets[3]: invalid target \"10.1.1\" (expected an ENI id or \"IP:port\" such as \"10.0.1.21:8080\")",
            "t.toml:99:68: target_group[2].targets[4]: invalid target \"\" (expected an ENI id or \"IP:port\" such as \"10.0.1.21:8080\")",
            "t.toml:99:72: target_group[2].targets[5]: expected an ENI id or \"IP:port\" (a string), found an integer",
            "t.toml:99:87: target_group[2].targets[7]: duplicate target: eni-web1 port 53 is already targets[6]",
            "t.toml:106:11: target_group[3].targets: a target group needs at least one target",
        ]);
    }

    #[test]
    fn health_checks() {
        let extra = r#"
[[target_group]]
id = "tg-2"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["eni-web1"]
health_check = { protocol = "tcp", path = "/", port = 0, interval_ms = 50, timeout_ms = 20, healthy_threshold = 0, unhealthy_threshold = 11 }

[[target_group]]
id = "tg-3"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["eni-web1"]
health_check = { protocol = "http", path = "health", interval_ms = 1000, timeout_ms = 1001, expected = "200" }

[[target_group]]
id = "tg-4"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["eni-web1"]
health_check = { protocol = "https", interval_ms = "1s" }

[[target_group]]
id = "tg-5"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["eni-web1"]
health_check = "tcp"

[[target_group]]
id = "tg-6"
vpc = "vpc-p"
protocol = "tcp"
port = 80
targets = ["eni-web1"]

[target_group.health_check]
path = "/x y"
"#;
        assert_eq!(diags(&with_pl(extra)), [
            "t.toml:80:43: target_group[1].health_check.path: path is only for protocol \"http\" (a \"tcp\" health check is a connect)",
            "t.toml:80:55: target_group[1].health_check.port: port 0 is out of range (expected 1 to 65535)",
            "t.toml:80:72: target_group[1].health_check.interval_ms: interval_ms 50 is out of range (expected 100 to 300000)",
            "t.toml:80:89: target_group[1].health_check.timeout_ms: timeout_ms 20 is out of range (expected 50 to 300000)",
            "t.toml:80:113: target_group[1].health_check.healthy_threshold: healthy_threshold 0 is out of range (expected 1 to 10)",
            "t.toml:80:138: target_group[1].health_check.unhealthy_threshold: unhealthy_threshold 11 is out of range (expected 1 to 10)",
            "t.toml:88:44: target_group[2].health_check.path: invalid health check path \"health\" (expected an absolute path without spaces, such as \"/health\")",
            "t.toml:88:87: target_group[2].health_check.timeout_ms: timeout_ms 1001 is out of range (expected 50 to 1000, at most interval_ms)",
            "t.toml:88:93: target_group[2].health_check.expected: unknown field \"expected\" (allowed: protocol, path, port, interval_ms, timeout_ms, healthy_threshold, unhealthy_threshold)",
            "t.toml:96:29: target_group[3].health_check.protocol: unknown health check protocol \"https\" (expected \"tcp\" or \"http\")",
            "t.toml:96:52: target_group[3].health_check.interval_ms: expected an interval in milliseconds such as 1000, found a string",
            "t.toml:104:16: target_group[4].health_check: expected a health check table such as { protocol = \"tcp\" }, found a string",
            "t.toml:113:1: target_group[5].health_check.protocol: missing required field \"protocol\" (expected \"tcp\" or \"http\")",
            "t.toml:114:8: target_group[5].health_check.path: invalid health check path \"/x y\" (expected an absolute path without spaces, such as \"/health\")",
        ]);
    }

    #[test]
    fn endpoint_services() {
        let extra = r#"
[[endpoint_service]]
id = "vpce-svc-2"
nlb = "nlb-svc"
acceptance_required = "no"
allowed_principals = ["*", "", "*", 7]

[[endpoint_service]]
id = "vpce-svc-3"
nlb = "tg-web"

[[vpc_link]]
id = "vpclink-a"
kind = "rest"
nlb = "nlb-svc"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.200" }]
security_groups = ["sg-c"]
"#;
        assert_eq!(diags(&with_pl(extra)), [
            "t.toml:76:7: endpoint_service[1].nlb: nlb-svc already fronts endpoint service vpce-svc-web (endpoint_service[0]); an NLB fronts at most one endpoint service",
            "t.toml:77:23: endpoint_service[1].acceptance_required: expected true or false, found a string",
            "t.toml:78:28: endpoint_service[1].allowed_principals[1]: invalid principal \"\" (expected an ARN such as \"arn:aws:iam::111122223333:root\", a service principal or \"*\")",
            "t.toml:78:32: endpoint_service[1].allowed_principals[2]: principal \"*\" is listed twice (also endpoint_service[1].allowed_principals[0])",
            "t.toml:78:37: endpoint_service[1].allowed_principals[3]: expected a principal (a string), found an integer",
            "t.toml:82:7: endpoint_service[2].nlb: \"tg-web\" is a target group (target_group[0]), not an NLB",
            "t.toml:87:7: vpc_link[0].nlb: nlb-svc already fronts endpoint service vpce-svc-web (endpoint_service[0]); an NLB fronts at most one endpoint service",
        ]);
    }

    #[test]
    fn vpc_endpoints() {
        let extra = r#"
[[subnet]]
id = "subnet-c1b"
vpc = "vpc-c"
cidr = "10.0.3.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-c2"
vpc = "vpc-c"

[[vpc_endpoint]]
id = "vpce-2"
service = "vpce-svc-web"
vpc = "vpc-c"
subnets = [
  { subnet = "subnet-c1", ip = "10.0.1.101" },
  { subnet = "subnet-c1b", ip = "10.0.3.101" },
  { subnet = "subnet-p1", ip = "10.1.1.101" },
]
security_groups = ["sg-c", "sg-p", "sg-c", "sg-c2", "sg-c2", "sg-c2"]
principal = "arn:aws:iam::999999999999:root"
state = "accepted"

[[endpoint_service]]
id = "vpce-svc-closed"
nlb = "nlb-2"

[[nlb]]
id = "nlb-2"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.51" }]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]

[[vpc_endpoint]]
id = "vpce-3"
service = "vpce-svc-closed"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.102" }]
security_groups = []
principal = "arn:aws:iam::111122223333:root"

[[vpc_endpoint]]
id = "vpce-4"
service = "nlb-2"
vpc = "vpc-nope"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.103" }]
security_groups = ["sg-c"]
principal = ""
"#;
        assert_eq!(diags(&with_pl(extra)), [
            "t.toml:90:14: vpc_endpoint[1].subnets[1].subnet: subnet subnet-c1b is in use1-az1, like subnets[0] subnet-c1 (a VPC endpoint takes one subnet per availability zone)",
            "t.toml:91:14: vpc_endpoint[1].subnets[2].subnet: subnet subnet-p1 is in vpc-p, but this endpoint is in vpc-c",
            "t.toml:93:19: vpc_endpoint[1].security_groups: a VPC endpoint needs 1 to 5 security groups, found 6",
            "t.toml:93:28: vpc_endpoint[1].security_groups[1]: security group \"sg-p\" is in vpc-p, but this endpoint is in vpc-c",
            "t.toml:93:36: vpc_endpoint[1].security_groups[2]: security group \"sg-c\" is listed twice",
            "t.toml:93:53: vpc_endpoint[1].security_groups[4]: security group \"sg-c2\" is listed twice",
            "t.toml:93:62: vpc_endpoint[1].security_groups[5]: security group \"sg-c2\" is listed twice",
            "t.toml:94:13: vpc_endpoint[1].principal: principal \"arn:aws:iam::999999999999:root\" is not allowed by endpoint service vpce-svc-web (allowed_principals: [\"arn:aws:iam::111122223333:root\"])",
            "t.toml:95:9: vpc_endpoint[1].state: unknown endpoint state \"accepted\" (expected \"pending\", \"available\" or \"rejected\")",
            "t.toml:111:19: vpc_endpoint[2].security_groups: a VPC endpoint needs 1 to 5 security groups, found 0",
            "t.toml:112:13: vpc_endpoint[2].principal: principal \"arn:aws:iam::111122223333:root\" is not allowed by endpoint service vpce-svc-closed (allowed_principals: [])",
            "t.toml:116:11: vpc_endpoint[3].service: \"nlb-2\" is an NLB (nlb[1]), not an endpoint service",
            "t.toml:117:7: vpc_endpoint[3].vpc: unknown VPC \"vpc-nope\" (defined: vpc-c, vpc-p)",
            "t.toml:120:13: vpc_endpoint[3].principal: invalid principal \"\" (expected an ARN such as \"arn:aws:iam::111122223333:root\", a service principal or \"*\")",
        ]);
    }

    #[test]
    fn vpc_links() {
        let extra = r#"
[[vpc_link]]
id = "vpclink-a"
kind = "rest"
nlb = "nlb-nope"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.200" }]
security_groups = ["sg-c"]

[[vpc_link]]
id = "vpclink-b"
kind = "REST"
nlb = "vpce-web"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.200" }]
security_groups = ["sg-p"]

[[vpc_link]]
id = "vpce"
kind = "rest"
nlb = "nlb-x"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.201" }]
security_groups = ["sg-c"]

[[endpoint_service]]
id = "vpce-service"
nlb = "nlb-x"

[[vpc_endpoint]]
id = "vpce-endpoint"
service = "vpce-service"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.202" }]
security_groups = ["sg-c"]
principal = "*"

[[nlb]]
id = "nlb-x"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.60" }]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]
"#;
        assert_eq!(diags(&with_pl(extra)), [
            "t.toml:77:7: vpc_link[0].nlb: unknown NLB \"nlb-nope\" (defined: nlb-svc, nlb-x)",
            "t.toml:84:8: vpc_link[1].kind: unknown VPC link kind \"REST\" (expected \"rest\" or \"http\")",
            "t.toml:85:7: vpc_link[1].nlb: \"vpce-web\" is a VPC endpoint (vpc_endpoint[0]), not an NLB",
            "t.toml:87:23: vpc_link[1].subnets[0].subnet: subnet subnet-p1 is in vpc-p, but this VPC link is in vpc-c",
            "t.toml:88:20: vpc_link[1].security_groups[0]: security group \"sg-p\" is in vpc-p, but this VPC link is in vpc-c",
            "t.toml:91:6: vpc_link[2].id: this REST VPC link implies the endpoint service \"vpce-service\", but that id is already used by endpoint_service[1] at line 99",
            "t.toml:91:6: vpc_link[2].id: this REST VPC link implies the VPC endpoint \"vpce-endpoint\", but that id is already used by vpc_endpoint[1] at line 103",
            "t.toml:100:7: endpoint_service[1].nlb: nlb-x already fronts endpoint service vpce-service (implied by vpc_link[2]); an NLB fronts at most one endpoint service",
            "t.toml:108:13: vpc_endpoint[1].principal: \"*\" is only a wildcard of allowed_principals; an endpoint's principal is who requests it (e.g. \"arn:aws:iam::111122223333:root\")",
        ]);
    }

    #[test]
    fn privatelink_structure() {
        let extra = r#"
[[nlb]]
id = "nlb-2"
subnet = "subnet-p1"
cross_zone = "yes"
listeners = { protocol = "tcp" }

[[vpc_endpoint]]
id = "vpce-2"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1" }, "subnet-c1"]
principal = 5
polcy = "{}"

[[vpc_link]]
nlb = ["nlb-svc"]

[[target_group]]
id = "tg-2"
vpc = "vpc-p"
protocol = 6
targets = "eni-web1"
"#;
        assert_eq!(diags(&with_pl(extra)), [
            "t.toml:74:1: nlb[1].subnets: missing required field \"subnets\" (expected an array of tables such as [{ subnet = \"subnet-a1\", ip = \"10.0.1.50\" }])",
            "t.toml:76:1: nlb[1].subnet: unknown field \"subnet\" (allowed: id, subnets, cross_zone, security_groups, listeners, source_ports; did you mean \"subnets\"?)",
            "t.toml:77:14: nlb[1].cross_zone: expected true or false, found a string",
            "t.toml:78:13: nlb[1].listeners: expected an array of listener tables such as [{ protocol = \"tcp\", port = 80, target_group = \"tg-web\" }], found a table",
            "t.toml:80:1: vpc_endpoint[1].service: missing required field \"service\" (expected the id of an [[endpoint_service]])",
            "t.toml:80:1: vpc_endpoint[1].security_groups: missing required field \"security_groups\" (expected an array of 1 to 5 security group ids such as [\"sg-a\"])",
            "t.toml:83:12: vpc_endpoint[1].subnets[0].ip: missing required field \"ip\" (expected an IPv4 address such as \"10.0.1.10\")",
            "t.toml:83:38: vpc_endpoint[1].subnets[1]: expected a { subnet, ip } table, found a string",
            "t.toml:84:13: vpc_endpoint[1].principal: expected a principal such as \"arn:aws:iam::111122223333:root\", found an integer",
            "t.toml:85:1: vpc_endpoint[1].polcy: unknown field \"polcy\" (allowed: id, service, vpc, subnets, security_groups, principal, state)",
            "t.toml:87:1: vpc_link[0].id: missing required field \"id\" (expected a string id such as \"vpc-a\")",
            "t.toml:87:1: vpc_link[0].kind: missing required field \"kind\" (expected \"rest\" or \"http\")",
            "t.toml:87:1: vpc_link[0].vpc: missing required field \"vpc\" (expected the id of a [[vpc]])",
            "t.toml:87:1: vpc_link[0].subnets: missing required field \"subnets\" (expected an array of tables such as [{ subnet = \"subnet-a1\", ip = \"10.0.1.50\" }])",
            "t.toml:87:1: vpc_link[0].security_groups: missing required field \"security_groups\" (expected an array of 1 to 5 security group ids such as [\"sg-a\"])",
            "t.toml:88:7: vpc_link[0].nlb: expected the id of an [[nlb]], found an array",
            "t.toml:90:1: target_group[1].port: missing required field \"port\" (expected a port number such as 80)",
            "t.toml:93:12: target_group[1].protocol: expected \"tcp\" or \"udp\", found an integer",
            "t.toml:94:11: target_group[1].targets: expected an array of ENI ids or \"IP:port\" strings such as [\"eni-web\", \"10.0.1.21:8080\"], found a string",
        ]);
        assert_eq!(
            diags("[nlb]\nid = \"nlb-a\"\n\n[[vpc_link]]\nid = \"vpclink-a\"\nkind = 1\n"),
            [
                "t.toml:1:1: nlb: expected an array of tables ([[nlb]]), found a table",
                "t.toml:4:1: vpc_link[0].nlb: missing required field \"nlb\" (expected the id of an [[nlb]])",
                "t.toml:4:1: vpc_link[0].vpc: missing required field \"vpc\" (expected the id of a [[vpc]])",
                "t.toml:4:1: vpc_link[0].subnets: missing required field \"subnets\" (expected an array of tables such as [{ subnet = \"subnet-a1\", ip = \"10.0.1.50\" }])",
                "t.toml:4:1: vpc_link[0].security_groups: missing required field \"security_groups\" (expected an array of 1 to 5 security group ids such as [\"sg-a\"])",
                "t.toml:6:8: vpc_link[0].kind: expected \"rest\" or \"http\", found an integer",
            ]
        );
    }

    #[test]
    fn privatelink_errors_are_all_reported() {
        let extra = r#"
[[target_group]]
id = "tg-udp"
vpc = "vpc-p"
protocol = "udp"
port = 53
targets = ["10.1.1.21:5353", "eni-web1"]

[[nlb]]
id = "nlb-2"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.50" }]
listeners = [{ protocol = "tcp", port = 53, target_group = "tg-udp" }]

[[vpc_endpoint]]
id = "vpce-2"
service = "vpce-svc-web"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.255" }]
security_groups = ["sg-c"]
principal = "arn:aws:iam::999999999999:root"

[[vpc_link]]
id = "vpclink-a"
kind = "rest"
nlb = "nlb-svc"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.100" }]
security_groups = ["sg-c"]

[[eni]]
id = "eni-x"
subnet = "subnet-c1"
ip = "10.0.1.10"
security_groups = ["sg-nope"]
host = "x"
"#;
        assert_eq!(diags(&with_pl(extra)), [
            "t.toml:83:41: nlb[1].subnets[0].ip: 10.1.1.50 is already used by nlb-svc (nlb[0].subnets[0]) in vpc-p",
            "t.toml:84:60: nlb[1].listeners[0].target_group: target group tg-udp has protocol udp, but this listener's is tcp",
            "t.toml:90:41: vpc_endpoint[1].subnets[0].ip: 10.0.1.255 is the broadcast address of subnet subnet-c1 (10.0.1.0/24); usable addresses are 10.0.1.4 to 10.0.1.254 (AWS reserves the first four and the last)",
            "t.toml:92:13: vpc_endpoint[1].principal: principal \"arn:aws:iam::999999999999:root\" is not allowed by endpoint service vpce-svc-web (allowed_principals: [\"arn:aws:iam::111122223333:root\"])",
            "t.toml:97:7: vpc_link[0].nlb: nlb-svc already fronts endpoint service vpce-svc-web (endpoint_service[0]); an NLB fronts at most one endpoint service",
            "t.toml:99:41: vpc_link[0].subnets[0].ip: 10.0.1.100 is already used by vpce-web (vpc_endpoint[0].subnets[0]) in vpc-c",
            "t.toml:106:20: eni[2].security_groups[0]: unknown security group \"sg-nope\" (defined: sg-c, sg-p)",
        ]);
    }

    // -- HTTP VPC links, ALBs, Cloud Map -------------------------------------

    #[test]
    fn http_vpc_link_config_gives_the_exact_expansion() {
        let src = r#"
[[vpc]]
id = "vpc-api"
cidr = "10.1.0.0/16"

[[vpc]]
id = "vpc-cust"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-api1"
vpc = "vpc-api"
cidr = "10.1.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-c1"
vpc = "vpc-cust"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-c2"
vpc = "vpc-cust"
cidr = "10.0.2.0/24"
az = "use1-az2"

[[security_group]]
id = "sg-api"
vpc = "vpc-api"

[[security_group]]
id = "sg-link"
vpc = "vpc-cust"

[[security_group]]
id = "sg-link2"
vpc = "vpc-cust"

[[security_group]]
id = "sg-app"
vpc = "vpc-cust"
ingress = [{ protocol = "all", peer = "sg-link" }]

[[eni]]
id = "eni-apigw"
subnet = "subnet-api1"
ip = "10.1.1.20"
security_groups = ["sg-api"]
host = "apigw"

[[eni]]
id = "eni-alb1"
subnet = "subnet-c1"
ip = "10.0.1.4"            # the first usable address: allocation skips it
security_groups = ["sg-app"]
host = "alb1"

[[eni]]
id = "eni-alb2"
subnet = "subnet-c2"
ip = "10.0.2.12"
security_groups = ["sg-app"]
host = "alb2"

[[eni]]
id = "eni-orders1"
subnet = "subnet-c1"
ip = "10.0.1.31"
security_groups = ["sg-app"]
host = "orders1"

[[eni]]
id = "eni-users1"
subnet = "subnet-c2"
ip = "10.0.2.41"
security_groups = ["sg-app"]
host = "users1"

[[alb]]
id = "alb-web"
nodes = ["eni-alb1", "eni-alb2"]
listener_ports = [80, 443]

[[target_group]]
id = "tg-orders"
vpc = "vpc-cust"
protocol = "tcp"
port = 8080
targets = ["eni-orders1", "10.0.1.31:8081"]
health_check = { protocol = "tcp" }

[[nlb]]
id = "nlb-orders"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.5" }]   # skipped too
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-orders" }]

[[cloud_map_service]]
id = "svc-users"
vpc = "vpc-cust"
instances = ["eni-users1:9000", "10.0.1.31:9001"]
health_check = { protocol = "http", path = "/ping" }

[[cloud_map_service]]
id = "svc-dns"
vpc = "vpc-cust"
instances = ["eni-users1:5353"]

[[vpc_link]]
id = "vpclink-rest"
kind = "rest"
nlb = "nlb-orders"
vpc = "vpc-api"
subnets = [{ subnet = "subnet-api1", ip = "10.1.1.100" }]
security_groups = ["sg-api"]

[[vpc_link]]
id = "vpclink-a"
kind = "http"
subnets = ["subnet-c1", "subnet-c2"]   # allocated: 10.0.1.7 and 10.0.2.4
security_groups = ["sg-link"]
service_vpc = "vpc-api"
integrations = [
  { id = "int-alb", alb = "alb-web", port = 443, address = "10.1.1.201" },
  { id = "int-nlb", nlb = "nlb-orders", port = 80, address = "10.1.1.202" },
  { id = "int-users", cloud_map = "svc-users", port = 9000, address = "10.1.1.203", protocol = "tcp" },
]

[[vpc_link]]
id = "vpclink-b"
kind = "http"
subnets = ["subnet-c1"]
addresses = ["10.0.1.6"]   # given: vpclink-a's allocation skips it
security_groups = ["sg-link", "sg-link2"]
service_vpc = "vpc-api"
integrations = [{ id = "int-dns", cloud_map = "svc-dns", port = 53, address = "10.1.1.204", protocol = "udp" }]

[[vpc_link]]
id = "vpclink-c"           # no integrations (yet); allocated after vpclink-a
kind = "http"
subnets = ["subnet-c2"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
"#;
        let t = parse_str(src, "http.toml").unwrap();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let node = |subnet, a: &str| NlbNode { subnet, ip: ip(a) };
        let eni = |subnet, a: &str| EndpointEni { subnet, ip: ip(a) };
        let tg = |id: &str, protocol, port, targets: Vec<(usize, u16)>, health_check| TargetGroup {
            id: id.into(),
            vpc: 1,
            protocol,
            port,
            targets: targets
                .into_iter()
                .map(|(eni, port)| Target { eni, port })
                .collect(),
            health_check,
            connection_termination: true,
        };
        // An integration's NLB: the link ENIs as nodes, the link's groups.
        let link_nlb = |id: &str, link, nodes, security_groups, protocol, port, target_group| Nlb {
            id: id.into(),
            vpc: 1,
            nodes,
            cross_zone: true,
            security_groups,
            listeners: vec![Listener {
                protocol,
                port,
                target_group,
            }],
            source_ports: crate::model::NLB_SOURCE_PORTS,
            vpc_link: Some(link),
        };
        let open_service = |id: &str, nlb| EndpointService {
            id: id.into(),
            nlb,
            acceptance_required: false,
            allowed_principals: vec!["*".into()],
        };
        // An integration address: no security groups.
        let integration_endpoint = |id: &str, service, a: &str, link| VpcEndpoint {
            id: id.into(),
            service,
            vpc: 0,
            enis: vec![eni(0, a)],
            security_groups: vec![],
            principal: "apigateway.amazonaws.com".into(),
            state: EndpointState::Available,
            implied_by: Some(link),
        };
        let tcp_check = Some(HealthCheck {
            protocol: HealthProtocol::Tcp,
            port: None,
            interval_ms: 1000,
            timeout_ms: 500,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
        });
        let ping_check = Some(HealthCheck {
            protocol: HealthProtocol::Http {
                path: "/ping".into(),
            },
            port: None,
            interval_ms: 1000,
            timeout_ms: 500,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
        });
        let (tcp, udp) = (L4Protocol::Tcp, L4Protocol::Udp);
        let a_nodes = vec![node(1, "10.0.1.7"), node(2, "10.0.2.4")];
        let expected = Services {
            albs: vec![Alb {
                id: "alb-web".into(),
                vpc: 1,
                nodes: vec![1, 2],
                listener_ports: vec![80, 443],
            }],
            cloud_map_services: vec![
                CloudMapService {
                    id: "svc-users".into(),
                    vpc: 1,
                    instances: vec![Target { eni: 4, port: 9000 }, Target { eni: 3, port: 9001 }],
                    health_check: ping_check.clone(),
                },
                CloudMapService {
                    id: "svc-dns".into(),
                    vpc: 1,
                    instances: vec![Target { eni: 4, port: 5353 }],
                    health_check: None,
                },
            ],
            target_groups: vec![
                tg(
                    "tg-orders",
                    tcp,
                    8080,
                    vec![(3, 8080), (3, 8081)],
                    tcp_check.clone(),
                ),
                tg(
                    "vpclink-a-int-alb-targets",
                    tcp,
                    443,
                    vec![(1, 443), (2, 443)],
                    None,
                ),
                // The NLB listener's target group's targets and health check.
                tg(
                    "vpclink-a-int-nlb-targets",
                    tcp,
                    80,
                    vec![(3, 8080), (3, 8081)],
                    tcp_check,
                ),
                tg(
                    "vpclink-a-int-users-targets",
                    tcp,
                    9000,
                    vec![(4, 9000), (3, 9001)],
                    ping_check,
                ),
                tg("vpclink-b-int-dns-targets", udp, 53, vec![(4, 5353)], None),
            ],
            nlbs: vec![
                Nlb {
                    id: "nlb-orders".into(),
                    vpc: 1,
                    nodes: vec![node(1, "10.0.1.5")],
                    cross_zone: false,
                    security_groups: vec![],
                    listeners: vec![Listener {
                        protocol: tcp,
                        port: 80,
                        target_group: 0,
                    }],
                    source_ports: crate::model::NLB_SOURCE_PORTS,
                    vpc_link: None,
                },
                link_nlb(
                    "vpclink-a-int-alb",
                    1,
                    a_nodes.clone(),
                    vec![1],
                    tcp,
                    443,
                    1,
                ),
                link_nlb("vpclink-a-int-nlb", 1, a_nodes.clone(), vec![1], tcp, 80, 2),
                link_nlb("vpclink-a-int-users", 1, a_nodes, vec![1], tcp, 9000, 3),
                link_nlb(
                    "vpclink-b-int-dns",
                    2,
                    vec![node(1, "10.0.1.6")],
                    vec![1, 2],
                    udp,
                    53,
                    4,
                ),
            ],
            endpoint_services: vec![
                open_service("vpclink-rest-service", 0),
                open_service("vpclink-a-int-alb-service", 1),
                open_service("vpclink-a-int-nlb-service", 2),
                open_service("vpclink-a-int-users-service", 3),
                open_service("vpclink-b-int-dns-service", 4),
            ],
            vpc_endpoints: vec![
                VpcEndpoint {
                    id: "vpclink-rest-endpoint".into(),
                    service: 0,
                    vpc: 0,
                    enis: vec![eni(0, "10.1.1.100")],
                    security_groups: vec![0],
                    principal: "apigateway.amazonaws.com".into(),
                    state: EndpointState::Available,
                    implied_by: Some(0),
                },
                integration_endpoint("vpclink-a-int-alb-endpoint", 1, "10.1.1.201", 1),
                integration_endpoint("vpclink-a-int-nlb-endpoint", 2, "10.1.1.202", 1),
                integration_endpoint("vpclink-a-int-users-endpoint", 3, "10.1.1.203", 1),
                integration_endpoint("vpclink-b-int-dns-endpoint", 4, "10.1.1.204", 2),
            ],
            vpc_links: vec![
                VpcLink {
                    id: "vpclink-rest".into(),
                    kind: VpcLinkKind::Rest {
                        nlb: 0,
                        service: 0,
                        endpoint: 0,
                    },
                },
                VpcLink {
                    id: "vpclink-a".into(),
                    kind: VpcLinkKind::Http {
                        customer_vpc: 1,
                        service_vpc: 0,
                        enis: vec![eni(1, "10.0.1.7"), eni(2, "10.0.2.4")],
                        security_groups: vec![1],
                        integrations: vec![
                            Integration {
                                id: "int-alb".into(),
                                kind: IntegrationKind::Alb { alb: 0 },
                                address: ip("10.1.1.201"),
                                protocol: tcp,
                                port: 443,
                                target_group: 1,
                                nlb: 1,
                                service: 1,
                                endpoint: 1,
                            },
                            Integration {
                                id: "int-nlb".into(),
                                kind: IntegrationKind::Nlb { nlb: 0 },
                                address: ip("10.1.1.202"),
                                protocol: tcp,
                                port: 80,
                                target_group: 2,
                                nlb: 2,
                                service: 2,
                                endpoint: 2,
                            },
                            Integration {
                                id: "int-users".into(),
                                kind: IntegrationKind::CloudMap { service: 0 },
                                address: ip("10.1.1.203"),
                                protocol: tcp,
                                port: 9000,
                                target_group: 3,
                                nlb: 3,
                                service: 3,
                                endpoint: 3,
                            },
                        ],
                    },
                },
                VpcLink {
                    id: "vpclink-b".into(),
                    kind: VpcLinkKind::Http {
                        customer_vpc: 1,
                        service_vpc: 0,
                        enis: vec![eni(1, "10.0.1.6")],
                        security_groups: vec![1, 2],
                        integrations: vec![Integration {
                            id: "int-dns".into(),
                            kind: IntegrationKind::CloudMap { service: 1 },
                            address: ip("10.1.1.204"),
                            protocol: udp,
                            port: 53,
                            target_group: 4,
                            nlb: 4,
                            service: 4,
                            endpoint: 4,
                        }],
                    },
                },
                VpcLink {
                    id: "vpclink-c".into(),
                    kind: VpcLinkKind::Http {
                        customer_vpc: 1,
                        service_vpc: 0,
                        enis: vec![eni(2, "10.0.2.5")],
                        security_groups: vec![1],
                        integrations: vec![],
                    },
                },
            ],
        };
        assert_eq!(t.services, expected);
        assert_eq!(t.enis.len(), 5, "link ENIs are not lab ENIs");
    }

    /// Two VPCs (vpc-api; vpc-cust with two AZs), a group each and one for
    /// the link, the API host, two customer hosts, an ALB, an NLB with its
    /// target group, a Cloud Map service and a link with one integration of
    /// each kind (92 lines). Tests append to it, so their errors are on
    /// line 93 and below.
    const HL: &str = r#"[[vpc]]
id = "vpc-api"
cidr = "10.1.0.0/16"

[[vpc]]
id = "vpc-cust"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-api1"
vpc = "vpc-api"
cidr = "10.1.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-c1"
vpc = "vpc-cust"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-c2"
vpc = "vpc-cust"
cidr = "10.0.2.0/24"
az = "use1-az2"

[[security_group]]
id = "sg-api"
vpc = "vpc-api"

[[security_group]]
id = "sg-cust"
vpc = "vpc-cust"

[[security_group]]
id = "sg-link"
vpc = "vpc-cust"

[[eni]]
id = "eni-apigw"
subnet = "subnet-api1"
ip = "10.1.1.20"
security_groups = ["sg-api"]
host = "apigw"

[[eni]]
id = "eni-web1"
subnet = "subnet-c1"
ip = "10.0.1.11"
security_groups = ["sg-cust"]
host = "web1"

[[eni]]
id = "eni-web2"
subnet = "subnet-c2"
ip = "10.0.2.12"
security_groups = ["sg-cust"]
host = "web2"

[[alb]]
id = "alb-web"
nodes = ["eni-web1", "eni-web2"]
listener_ports = [80]

[[target_group]]
id = "tg-web"
vpc = "vpc-cust"
protocol = "tcp"
port = 8080
targets = ["eni-web1"]

[[nlb]]
id = "nlb-web"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.50" }]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]

[[cloud_map_service]]
id = "svc-web"
vpc = "vpc-cust"
instances = ["eni-web2:9000"]

[[vpc_link]]
id = "vpclink-http"
kind = "http"
subnets = ["subnet-c1", "subnet-c2"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
integrations = [
  { id = "int-alb", alb = "alb-web", port = 80, address = "10.1.1.201" },
  { id = "int-nlb", nlb = "nlb-web", port = 80, address = "10.1.1.202" },
  { id = "int-map", cloud_map = "svc-web", port = 9000, address = "10.1.1.203" },
]
"#;

    fn with_hl(extra: &str) -> String {
        format!("{HL}{extra}")
    }

    #[test]
    fn http_link_base_is_valid() {
        let t = parse_str(HL, "t.toml").unwrap();
        assert_eq!(HL.lines().count(), 92);
        let VpcLinkKind::Http { enis, .. } = &t.services.vpc_links[0].kind else {
            panic!("not an HTTP link");
        };
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            enis.iter().map(|e| (e.subnet, e.ip)).collect::<Vec<_>>(),
            [(1, ip("10.0.1.4")), (2, ip("10.0.2.4"))]
        );
    }

    #[test]
    fn albs() {
        let extra = r#"
[[vpc]]
id = "vpc-x"
cidr = "10.9.0.0/16"

[[subnet]]
id = "subnet-x1"
vpc = "vpc-x"
cidr = "10.9.1.0/24"
az = "use1-az1"

[[eni]]
id = "eni-x"
subnet = "subnet-x1"
ip = "10.9.1.10"
security_groups = ["sg-x"]
host = "x"

[[security_group]]
id = "sg-x"
vpc = "vpc-x"

[[alb]]
id = "alb-2"
nodes = ["eni-web1", "eni-x", "eni-web1", "sg-x", "eni-nope", 3]
listener_ports = [80, 443, 80, 0, "8080"]

[[alb]]
id = "alb-3"
nodes = []
listener_ports = []

[[alb]]
id = "alb-4"
node = "eni-web1"
listener_ports = 80
"#;
        assert_eq!(diags(&with_hl(extra)), [
            "t.toml:117:22: alb[1].nodes[1]: ENI eni-x is in vpc-x, but this ALB's first node eni-web1 (nodes[0]) is in vpc-cust (all of an ALB's nodes must be in one VPC)",
            "t.toml:117:31: alb[1].nodes[2]: ENI eni-web1 is listed twice (also nodes[0])",
            "t.toml:117:43: alb[1].nodes[3]: \"sg-x\" is a security group (security_group[3]), not an ENI",
            "t.toml:117:51: alb[1].nodes[4]: unknown ENI \"eni-nope\" (defined: eni-apigw, eni-web1, eni-web2, eni-x)",
            "t.toml:117:63: alb[1].nodes[5]: expected an ENI id (a string), found an integer",
            "t.toml:118:28: alb[1].listener_ports[2]: port 80 is listed twice (also listener_ports[0])",
            "t.toml:118:32: alb[1].listener_ports[3]: port 0 is out of range (expected 1 to 65535)",
            "t.toml:118:35: alb[1].listener_ports[4]: expected a port number such as 80, found a string",
            "t.toml:122:9: alb[2].nodes: an ALB needs at least one node",
            "t.toml:123:18: alb[2].listener_ports: an ALB needs at least one listener port",
            "t.toml:125:1: alb[3].nodes: missing required field \"nodes\" (expected an array of ENI ids such as [\"eni-alb1\", \"eni-alb2\"])",
            "t.toml:127:1: alb[3].node: unknown field \"node\" (allowed: id, nodes, listener_ports; did you mean \"nodes\"?)",
            "t.toml:128:18: alb[3].listener_ports: expected an array of ports such as [80, 443], found an integer",
        ]);
    }

    #[test]
    fn cloud_map_services() {
        let extra = r#"
[[eni]]
id = "eni-api2"
subnet = "subnet-api1"
ip = "10.1.1.21"
security_groups = ["sg-api"]
host = "api2"

[[cloud_map_service]]
id = "svc-2"
vpc = "vpc-cust"
instances = ["eni-web1:8080", "eni-web1", "10.0.1.11", "eni-web1:0", "eni-web1:http", "10.0.1.11:70000", "10.0.1", "", 5, "eni-api2:80", "10.0.1.99:80", "eni-nope:80", "10.0.1.11:8080", "eni-web1:8081"]
health_check = { protocol = "http", path = "ping" }

[[cloud_map_service]]
id = "svc-3"
vpc = "vpc-nope"
instances = []

[[cloud_map_service]]
id = "svc-4"
instances = "eni-web1:80"
"#;
        assert_eq!(diags(&with_hl(extra)), [
            "t.toml:104:31: cloud_map_service[1].instances[1]: instance \"eni-web1\" has no port (expected \"ENI-id:port\" or \"IP:port\" such as \"eni-web1:8080\")",
            "t.toml:104:43: cloud_map_service[1].instances[2]: instance \"10.0.1.11\" has no port (expected \"ENI-id:port\" or \"IP:port\" such as \"10.0.1.11:8080\")",
            "t.toml:104:56: cloud_map_service[1].instances[3]: invalid port \"0\" in instance \"eni-web1:0\" (expected 1 to 65535)",
            "t.toml:104:70: cloud_map_service[1].instances[4]: invalid port \"http\" in instance \"eni-web1:http\" (expected 1 to 65535)",
            "t.toml:104:87: cloud_map_service[1].instances[5]: invalid port \"70000\" in instance \"10.0.1.11:70000\" (expected 1 to 65535)",
            "t.toml:104:106: cloud_map_service[1].instances[6]: invalid instance \"10.0.1\" (expected \"ENI-id:port\" or \"IP:port\" such as \"eni-web:8080\" or \"10.0.1.21:8080\")",
            "t.toml:104:116: cloud_map_service[1].instances[7]: invalid instance \"\" (expected \"ENI-id:port\" or \"IP:port\" such as \"eni-web:8080\" or \"10.0.1.21:8080\")",
            "t.toml:104:120: cloud_map_service[1].instances[8]: expected \"ENI-id:port\" or \"IP:port\" (a string), found an integer",
            "t.toml:104:123: cloud_map_service[1].instances[9]: ENI eni-api2 is in vpc-api, but this Cloud Map service is in vpc-cust",
            "t.toml:104:138: cloud_map_service[1].instances[10]: no ENI in vpc-cust has the address 10.0.1.99 (an instance given as \"IP:port\" must be a lab host's ENI)",
            "t.toml:104:154: cloud_map_service[1].instances[11]: unknown ENI \"eni-nope\" (defined: eni-apigw, eni-web1, eni-web2, eni-api2)",
            "t.toml:104:169: cloud_map_service[1].instances[12]: duplicate instance: eni-web1 port 8080 is already instances[0]",
            "t.toml:105:44: cloud_map_service[1].health_check.path: invalid health check path \"ping\" (expected an absolute path without spaces, such as \"/health\")",
            "t.toml:109:7: cloud_map_service[2].vpc: unknown VPC \"vpc-nope\" (defined: vpc-api, vpc-cust)",
            "t.toml:110:13: cloud_map_service[2].instances: a Cloud Map service needs at least one instance",
            "t.toml:112:1: cloud_map_service[3].vpc: missing required field \"vpc\" (expected the id of a [[vpc]])",
            "t.toml:114:13: cloud_map_service[3].instances: expected an array of \"ENI-id:port\" or \"IP:port\" strings such as [\"eni-web:8080\", \"10.0.1.21:8080\"], found a string",
        ]);
    }

    #[test]
    fn http_link_kind_and_fields() {
        let extra = r#"
[[vpc_link]]
id = "vpclink-2"
kind = "http"
nlb = "nlb-web"
vpc = "vpc-cust"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.200" }]
security_groups = ["sg-link"]

[[vpc_link]]
id = "vpclink-3"
kind = "rest"
nlb = "nlb-web"
vpc = "vpc-api"
subnets = [{ subnet = "subnet-api1", ip = "10.1.1.100" }]
security_groups = ["sg-api"]
addresses = ["10.1.1.100"]
service_vpc = "vpc-api"
integrations = []

[[vpc_link]]
id = "vpclink-4"
kind = "HTTP"
subnets = ["subnet-c1"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"

[[vpc_link]]
id = "vpclink-5"
subnets = "subnet-c1"
addresses = "10.0.1.200"
security_groups = "sg-link"
service_vpc = ["vpc-api"]
integrations = { id = "int-x" }
"#;
        assert_eq!(diags(&with_hl(extra)), [
            "t.toml:94:1: vpc_link[1].service_vpc: missing required field \"service_vpc\" (expected the id of the API service's [[vpc]])",
            "t.toml:97:1: vpc_link[1].nlb: field \"nlb\" is only for kind \"rest\" VPC links (an HTTP VPC link is in its subnets' VPC and names its load balancers and services in integrations)",
            "t.toml:98:1: vpc_link[1].vpc: field \"vpc\" is only for kind \"rest\" VPC links (an HTTP VPC link is in its subnets' VPC and names its load balancers and services in integrations)",
            "t.toml:99:12: vpc_link[1].subnets[0]: expected a subnet id (a string), found a table",
            "t.toml:109:1: vpc_link[2].addresses: field \"addresses\" is only for kind \"http\" VPC links",
            "t.toml:110:1: vpc_link[2].service_vpc: field \"service_vpc\" is only for kind \"http\" VPC links",
            "t.toml:111:1: vpc_link[2].integrations: field \"integrations\" is only for kind \"http\" VPC links",
            "t.toml:115:8: vpc_link[3].kind: unknown VPC link kind \"HTTP\" (expected \"rest\" or \"http\")",
            "t.toml:120:1: vpc_link[4].kind: missing required field \"kind\" (expected \"rest\" or \"http\")",
            "t.toml:122:11: vpc_link[4].subnets: expected an array of subnet ids such as [\"subnet-a1\", \"subnet-a2\"], found a string",
            "t.toml:123:13: vpc_link[4].addresses: expected an array of IPv4 addresses, one per subnet, such as [\"10.0.1.200\", \"10.0.2.200\"], found a string",
            "t.toml:124:19: vpc_link[4].security_groups: expected an array of 1 to 5 security group ids such as [\"sg-a\"], found a string",
            "t.toml:125:15: vpc_link[4].service_vpc: expected the id of the API service's [[vpc]], found an array",
            "t.toml:126:16: vpc_link[4].integrations: expected an array of integration tables such as [{ id = \"int-web\", alb = \"alb-web\", port = 80, address = \"10.1.1.201\" }], found a table",
        ]);
    }

    #[test]
    fn http_link_subnets_addresses_and_groups() {
        let extra = r#"
[[vpc]]
id = "vpc-x"
cidr = "10.9.0.0/16"

[[subnet]]
id = "subnet-x1"
vpc = "vpc-x"
cidr = "10.9.1.0/24"
az = "use1-az3"

[[subnet]]
id = "subnet-c1b"
vpc = "vpc-cust"
cidr = "10.0.3.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-x"
vpc = "vpc-x"

[[vpc_link]]
id = "vpclink-2"
kind = "http"
subnets = ["subnet-c1", "subnet-x1", "subnet-c1b", "subnet-c1", "subnet-c2", "subnet-nope", 7]
addresses = ["10.0.1.11", "10.9.1.200", "10.0.3.200", "10.0.1.201", "10.0.2.255", "10.0.9.9/32"]
security_groups = ["sg-link", "sg-x", "sg-link", "sg-api"]
service_vpc = "vpc-cust"

[[vpc_link]]
id = "vpclink-3"
kind = "http"
subnets = []
security_groups = []
service_vpc = "vpc-nope"

[[vpc_link]]
id = "vpclink-4"
kind = "http"
subnets = ["subnet-c2"]
addresses = ["10.0.2.10", "10.0.2.11"]
security_groups = ["sg-link", "sg-link", "sg-link", "sg-link", "sg-link", "sg-link"]
service_vpc = "vpc-api"
"#;
        assert_eq!(diags(&with_hl(extra)), [
            "t.toml:117:25: vpc_link[1].subnets[1]: subnet subnet-x1 is in vpc-x, but this VPC link's first subnet subnet-c1 (subnets[0]) is in vpc-cust (all of a VPC link's subnets must be in one VPC)",
            "t.toml:117:38: vpc_link[1].subnets[2]: subnet subnet-c1b is in use1-az1, like subnets[0] subnet-c1 (a VPC link takes one subnet per availability zone)",
            "t.toml:117:52: vpc_link[1].subnets[3]: subnet subnet-c1 is listed twice (also subnets[0])",
            "t.toml:117:78: vpc_link[1].subnets[5]: unknown subnet \"subnet-nope\" (defined: subnet-api1, subnet-c1, subnet-c2, subnet-x1, subnet-c1b)",
            "t.toml:117:93: vpc_link[1].subnets[6]: expected a subnet id (a string), found an integer",
            "t.toml:118:13: vpc_link[1].addresses: found 6 addresses for 7 subnets (the link ENIs' addresses: one per subnet, in the same order; leave addresses out to have them allocated)",
            "t.toml:118:14: vpc_link[1].addresses[0]: 10.0.1.11 is already used by eni-web1 (eni[1]) in vpc-cust",
            "t.toml:118:69: vpc_link[1].addresses[4]: 10.0.2.255 is the broadcast address of subnet subnet-c2 (10.0.2.0/24); usable addresses are 10.0.2.4 to 10.0.2.254 (AWS reserves the first four and the last)",
            "t.toml:118:83: vpc_link[1].addresses[5]: invalid IPv4 address \"10.0.9.9/32\" (expected an address without prefix, such as \"10.0.1.10\")",
            "t.toml:119:31: vpc_link[1].security_groups[1]: security group \"sg-x\" is in vpc-x, but this VPC link is in vpc-cust",
            "t.toml:119:39: vpc_link[1].security_groups[2]: security group \"sg-link\" is listed twice",
            "t.toml:119:50: vpc_link[1].security_groups[3]: security group \"sg-api\" is in vpc-api, but this VPC link is in vpc-cust",
            "t.toml:120:15: vpc_link[1].service_vpc: vpc-cust is this VPC link's customer VPC (its subnets'); the API service VPC must be another one",
            "t.toml:125:11: vpc_link[2].subnets: a VPC link needs at least one subnet (one per availability zone)",
            "t.toml:126:19: vpc_link[2].security_groups: a VPC link needs 1 to 5 security groups, found 0",
            "t.toml:127:15: vpc_link[2].service_vpc: unknown VPC \"vpc-nope\" (defined: vpc-api, vpc-cust, vpc-x)",
            "t.toml:133:13: vpc_link[3].addresses: found 2 addresses for 1 subnet (the link ENIs' addresses: one per subnet, in the same order; leave addresses out to have them allocated)",
            "t.toml:134:19: vpc_link[3].security_groups: a VPC link needs 1 to 5 security groups, found 6",
            "t.toml:134:31: vpc_link[3].security_groups[1]: security group \"sg-link\" is listed twice",
            "t.toml:134:42: vpc_link[3].security_groups[2]: security group \"sg-link\" is listed twice",
            "t.toml:134:53: vpc_link[3].security_groups[3]: security group \"sg-link\" is listed twice",
            "t.toml:134:64: vpc_link[3].security_groups[4]: security group \"sg-link\" is listed twice",
            "t.toml:134:75: vpc_link[3].security_groups[5]: security group \"sg-link\" is listed twice",
        ]);
    }

    #[test]
    fn http_link_addresses_run_out() {
        // A /28 has 11 usable addresses (.4 to .14): 10 ENIs leave one, for
        // the first link; the second finds none.
        let mut extra = String::from(
            r#"
[[subnet]]
id = "subnet-small"
vpc = "vpc-cust"
cidr = "10.0.9.0/28"
az = "use1-az3"

[[vpc_link]]
id = "vpclink-2"
kind = "http"
subnets = ["subnet-small"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"

[[vpc_link]]
id = "vpclink-3"
kind = "http"
subnets = ["subnet-c1", "subnet-small"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
"#,
        );
        for i in 0..10 {
            let ip = if i < 5 { 4 + i } else { 10 + (i - 5) };
            extra.push_str(&format!(
                "\n[[eni]]\nid = \"eni-s{i}\"\nsubnet = \"subnet-small\"\nip = \"10.0.9.{ip}\"\n\
                 security_groups = [\"sg-cust\"]\nhost = \"s{i}\"\n"
            ));
        }
        assert_eq!(diags(&with_hl(&extra)), [
            "t.toml:110:25: vpc_link[2].subnets[1]: no free address left in subnet subnet-small (10.0.9.0/28) for this VPC link's ENI (every usable address is taken)",
        ]);
        // Without vpclink-3, vpclink-2 takes the one free address, .9.
        let t = parse_str(
            &with_hl(&extra.replace("\"subnet-c1\", \"subnet-small\"", "\"subnet-c1\"")),
            "t.toml",
        )
        .unwrap();
        let VpcLinkKind::Http { enis, .. } = &t.services.vpc_links[1].kind else {
            panic!("not an HTTP link");
        };
        assert_eq!(enis[0].ip, "10.0.9.9".parse::<Ipv4Addr>().unwrap());
    }

    #[test]
    fn integrations() {
        let extra = r#"
[[vpc_link]]
id = "vpclink-2"
kind = "http"
subnets = ["subnet-c2"]
addresses = ["10.0.2.200"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
integrations = [
  { id = "int-a", port = 80, address = "10.1.1.210" },
  { id = "int-b", alb = "alb-web", nlb = "nlb-web", cloud_map = "svc-web", port = 80, address = "10.1.1.211" },
  { id = "int-c", alb = "alb-web" },
  { id = "int-d", alb = "alb-web", port = "80", address = "10.1.1.300", protocol = "http", path = "/" },
  { id = "int-alb", alb = "alb-web", port = 80, address = "10.1.1.212" },
  "int-e",
  { alb = "alb-web", port = 80, address = "10.1.1.213" },
]
"#;
        assert_eq!(diags(&with_hl(extra)), [
            "t.toml:102:3: vpc_link[1].integrations[0]: an integration needs one of alb, nlb or cloud_map (what it reaches)",
            "t.toml:103:36: vpc_link[1].integrations[1].nlb: an integration targets exactly one of alb, nlb or cloud_map (alb is given too)",
            "t.toml:103:53: vpc_link[1].integrations[1].cloud_map: an integration targets exactly one of alb, nlb or cloud_map (alb is given too)",
            "t.toml:104:3: vpc_link[1].integrations[2].port: missing required field \"port\" (expected a port number such as 80)",
            "t.toml:104:3: vpc_link[1].integrations[2].address: missing required field \"address\" (expected an IPv4 address such as \"10.0.1.10\")",
            "t.toml:105:43: vpc_link[1].integrations[3].port: expected a port number such as 80, found a string",
            "t.toml:105:59: vpc_link[1].integrations[3].address: invalid IPv4 address \"10.1.1.300\" (expected an address without prefix, such as \"10.0.1.10\")",
            "t.toml:105:84: vpc_link[1].integrations[3].protocol: unknown protocol \"http\" (expected \"tcp\" or \"udp\")",
            "t.toml:105:92: vpc_link[1].integrations[3].path: unknown field \"path\" (allowed: id, alb, nlb, cloud_map, port, address, protocol)",
            "t.toml:106:10: vpc_link[1].integrations[4].id: duplicate id \"int-alb\": already used by vpc_link[0].integrations[0] at line 89 (ids are shared by all resource kinds)",
            "t.toml:107:3: vpc_link[1].integrations[5]: expected an integration table, found a string",
            "t.toml:108:3: vpc_link[1].integrations[6].id: missing required field \"id\" (expected a string id such as \"vpc-a\")",
        ]);
    }

    #[test]
    fn integration_targets_and_addresses() {
        let extra = r#"
[[vpc]]
id = "vpc-x"
cidr = "10.9.0.0/16"

[[subnet]]
id = "subnet-x1"
vpc = "vpc-x"
cidr = "10.9.1.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-x"
vpc = "vpc-x"

[[eni]]
id = "eni-x"
subnet = "subnet-x1"
ip = "10.9.1.10"
security_groups = ["sg-x"]
host = "x"

[[alb]]
id = "alb-x"
nodes = ["eni-x"]
listener_ports = [80]

[[cloud_map_service]]
id = "svc-x"
vpc = "vpc-x"
instances = ["eni-x:80"]

[[target_group]]
id = "tg-x"
vpc = "vpc-x"
protocol = "tcp"
port = 80
targets = ["eni-x"]

[[nlb]]
id = "nlb-x"
subnets = [{ subnet = "subnet-x1", ip = "10.9.1.50" }]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-x" }]

[[vpc_link]]
id = "vpclink-2"
kind = "http"
subnets = ["subnet-c1"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
integrations = [
  { id = "int-1", alb = "alb-web", port = 8080, address = "10.1.1.210" },
  { id = "int-2", alb = "alb-web", port = 80, address = "10.1.1.211", protocol = "udp" },
  { id = "int-3", alb = "alb-x", port = 80, address = "10.1.1.212" },
  { id = "int-4", nlb = "nlb-web", port = 81, address = "10.1.1.213" },
  { id = "int-5", nlb = "nlb-web", port = 80, address = "10.1.1.214", protocol = "udp" },
  { id = "int-6", nlb = "nlb-x", port = 80, address = "10.1.1.215" },
  { id = "int-7", cloud_map = "svc-x", port = 80, address = "10.1.1.216" },
  { id = "int-8", cloud_map = "svc-nope", port = 80, address = "10.1.1.217" },
  { id = "int-9", alb = "nlb-web", port = 80, address = "10.1.1.218" },
  { id = "int-10", nlb = "vpclink-http-int-alb", port = 80, address = "10.1.1.219" },
  { id = "int-11", cloud_map = "svc-web", port = 9000, address = "10.1.2.1" },
  { id = "int-12", cloud_map = "svc-web", port = 9000, address = "10.1.1.255" },
  { id = "int-13", cloud_map = "svc-web", port = 9000, address = "10.1.1.201" },
  { id = "int-14", cloud_map = "svc-web", port = 9000, address = "10.1.1.20" },
  { id = "int-15", cloud_map = "svc-web", port = 9000, address = "10.1.1.215" },
]
"#;
        assert_eq!(diags(&with_hl(extra)), [
            "t.toml:144:43: vpc_link[1].integrations[0].port: port 8080 is not a listener port of ALB alb-web (listener_ports: [80])",
            "t.toml:145:82: vpc_link[1].integrations[1].protocol: an ALB integration's protocol is \"tcp\" (an ALB serves HTTP)",
            "t.toml:146:25: vpc_link[1].integrations[2].alb: ALB alb-x is in vpc-x, but this VPC link is in vpc-cust (an integration reaches into the link's VPC)",
            "t.toml:147:43: vpc_link[1].integrations[3].port: NLB nlb-web has no tcp listener on port 81 (listeners: tcp 80)",
            "t.toml:148:43: vpc_link[1].integrations[4].port: NLB nlb-web has no udp listener on port 80 (listeners: tcp 80)",
            "t.toml:149:25: vpc_link[1].integrations[5].nlb: NLB nlb-x is in vpc-x, but this VPC link is in vpc-cust (an integration reaches into the link's VPC)",
            "t.toml:150:31: vpc_link[1].integrations[6].cloud_map: Cloud Map service svc-x is in vpc-x, but this VPC link is in vpc-cust (an integration reaches into the link's VPC)",
            "t.toml:151:31: vpc_link[1].integrations[7].cloud_map: unknown Cloud Map service \"svc-nope\" (defined: svc-web, svc-x)",
            "t.toml:152:25: vpc_link[1].integrations[8].alb: \"nlb-web\" is an NLB (nlb[0]), not an ALB",
            "t.toml:153:26: vpc_link[1].integrations[9].nlb: unknown NLB \"vpclink-http-int-alb\" (defined: nlb-web, nlb-x)",
            "t.toml:154:66: vpc_link[1].integrations[10].address: 10.1.2.1 is not in a subnet of vpc-api (an integration's address is in a subnet of the link's service_vpc)",
            "t.toml:155:66: vpc_link[1].integrations[11].address: 10.1.1.255 is the broadcast address of subnet subnet-api1 (10.1.1.0/24); usable addresses are 10.1.1.4 to 10.1.1.254 (AWS reserves the first four and the last)",
            "t.toml:156:66: vpc_link[1].integrations[12].address: 10.1.1.201 is already used by int-alb (vpc_link[0].integrations[0]) in vpc-api",
            "t.toml:157:66: vpc_link[1].integrations[13].address: 10.1.1.20 is already used by eni-apigw (eni[0]) in vpc-api",
            "t.toml:158:66: vpc_link[1].integrations[14].address: 10.1.1.215 is already used by int-6 (vpc_link[1].integrations[5]) in vpc-api",
        ]);
    }

    #[test]
    fn http_link_implied_ids() {
        let extra = r#"
[[target_group]]
id = "vpclink-http-int-alb-targets"
vpc = "vpc-cust"
protocol = "tcp"
port = 80
targets = ["eni-web1"]

[[endpoint_service]]
id = "vpclink-http-int-map-service"
nlb = "nlb-web"

[[vpc_link]]
id = "vpclink-http-int"
kind = "http"
subnets = ["subnet-c1"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
integrations = [
  { id = "nlb", nlb = "nlb-web", port = 80, address = "10.1.1.210" },
  { id = "vpclink-http", alb = "alb-web", port = 80, address = "10.1.1.211" },
  { id = "int-nlb", alb = "alb-web", port = 80, address = "10.1.1.212" },
]

[[vpc_link]]
id = "vpclink-http-int-alb"
kind = "rest"
nlb = "nlb-web"
vpc = "vpc-api"
subnets = [{ subnet = "subnet-api1", ip = "10.1.1.100" }]
security_groups = ["sg-api"]
"#;
        assert_eq!(diags(&with_hl(extra)), [
            "t.toml:83:6: vpc_link[0].id: this HTTP VPC link implies the target group \"vpclink-http-int-alb-targets\" (for integration int-alb), but that id is already used by target_group[1] at line 95",
            "t.toml:83:6: vpc_link[0].id: this HTTP VPC link implies the NLB \"vpclink-http-int-alb\" (for integration int-alb), but that id is already used by vpc_link[2] at line 118",
            "t.toml:83:6: vpc_link[0].id: this HTTP VPC link implies the endpoint service \"vpclink-http-int-map-service\" (for integration int-map), but that id is already used by endpoint_service[0] at line 102",
            "t.toml:106:6: vpc_link[1].id: this HTTP VPC link implies the target group \"vpclink-http-int-nlb-targets\" (for integration nlb), but vpc_link[0] at line 83 implies that id too",
            "t.toml:106:6: vpc_link[1].id: this HTTP VPC link implies the NLB \"vpclink-http-int-nlb\" (for integration nlb), but vpc_link[0] at line 83 implies that id too",
            "t.toml:106:6: vpc_link[1].id: this HTTP VPC link implies the endpoint service \"vpclink-http-int-nlb-service\" (for integration nlb), but vpc_link[0] at line 83 implies that id too",
            "t.toml:106:6: vpc_link[1].id: this HTTP VPC link implies the VPC endpoint \"vpclink-http-int-nlb-endpoint\" (for integration nlb), but vpc_link[0] at line 83 implies that id too",
            "t.toml:113:10: vpc_link[1].integrations[1].id: duplicate id \"vpclink-http\": already used by vpc_link[0] at line 83 (ids are shared by all resource kinds)",
            "t.toml:114:10: vpc_link[1].integrations[2].id: duplicate id \"int-nlb\": already used by vpc_link[0].integrations[1] at line 90 (ids are shared by all resource kinds)",
            "t.toml:118:6: vpc_link[2].id: this REST VPC link implies the endpoint service \"vpclink-http-int-alb-service\", but vpc_link[0] at line 83 implies that id too",
            "t.toml:118:6: vpc_link[2].id: this REST VPC link implies the VPC endpoint \"vpclink-http-int-alb-endpoint\", but vpc_link[0] at line 83 implies that id too",
            "t.toml:120:7: vpc_link[2].nlb: nlb-web already fronts endpoint service vpclink-http-int-map-service (endpoint_service[0]); an NLB fronts at most one endpoint service",
        ]);
    }
}
