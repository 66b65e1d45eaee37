//! Config files: TOML text -> validated [`Topology`], every error located.
//!
//! The file is parsed with `toml_edit` (the parser under `toml` 0.8), which
//! keeps the byte span of every key, value and table header. The document is
//! turned into a small spanned tree and then walked by hand, so structural
//! errors (unknown keys, missing fields, wrong types) and semantic errors
//! (references, addresses, duplicates, ranges) are all collected in one run
//! and reported together, sorted by position.
//!
//! Format (one array of tables per resource kind; ids are a single namespace):
//!
//! ```toml
//! [lab]                      # optional
//! name = "demo"              # default: the file stem
//! hook = "tc"                # "tc" (default) or "xdp"
//! mtu = 1500                 # 576..=9000 (hook "xdp": at most 3506)
//! nacl_entries_max = 20      # 1..=40: entries per network-ACL direction
//!                            # (AWS's default quota 20, 40 at most)
//!
//! [conntrack]                # optional; idle timeouts in seconds. AWS's names,
//! tcp_established_timeout = 432000   # ranges and defaults: 60..=432000
//! udp_stream_timeout = 180   # 60..=180: UDP after more than one request-response
//! udp_timeout = 30           # 30..=60: UDP one way, or a single exchange
//! tcp_transitory_timeout = 60   # lab extension: TCP not established, or closing
//! other_timeout = 60         # lab extension: ICMP
//! other_protocol_timeout = 600  # other IP protocols (GRE, ESP...): AWS's 600 s
//! nat_gateway_idle_timeout = 350 # a NAT gateway's connections: AWS's fixed 350 s
//!                            # (other values need ignore_aws_ranges: tests)
//! sweep_interval = 1         # 1..=60: how often expired flows are removed
//! ignore_aws_ranges = false  # lab knob: true allows 1..=432000 for every timeout
//! [flow_logs]                # optional: VPC Flow Logs on
//! destination = "stdout"     # "stdout" (default) or a file path (appended to)
//! interval = 60              # aggregation interval, seconds, 1..=600 (default 60)
//! account_id = "123456789012" # the records' account-id (default shown)
//! format = "${version} ${vpc-id} ${interface-id} ${srcaddr} ${action}"
//!                            # AWS's custom format (default: the version 2 fields)
//! file_format = "plain-text"  # or "json-lines": one JSON object a record
//! [aws]                      # optional: `run` follows this AWS-compatible endpoint
//! endpoint = "http://127.0.0.1:5000"  # an emulator on this machine (http only)
//! region = "us-east-1"       # default: the profile's region, else us-east-1
//! profile = "moto"           # optional: the AWS CLI config file's profile; its
//!                            # endpoint_url and region fill in what is not given
//!                            # (`run --aws-endpoint`, `--region` override all three)
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
//! mtu = 1500                 # optional, 576..=9000: its hosts' veths (default [lab] mtu)
//!
//! [[security_group]]
//! id = "sg-web"
//! vpc = "vpc-a"
//! ingress = [
//!   { protocol = "tcp", ports = "80", peer = "sg-client" },
//!   { protocol = "icmp", icmp = { type = 8 }, peer = "10.0.0.0/16" },  # echo requests only
//!   { protocol = "gre", peer = "10.0.0.0/16" },
//! ]
//! # protocol: "tcp", "udp", "icmp", "all" (or -1), a name ("gre", "esp",
//! # "ah", "sctp", ...) or a number 0..=255 (6, 17 and 1 are tcp, udp, icmp);
//! # ports: tcp/udp only (default all); icmp: icmp only, AWS's FromPort /
//! # ToPort for ICMP: { type, code }, each -1 (the default) for all.
//! # no `egress` key: AWS's default (all protocols to 0.0.0.0/0)
//!
//! [[network_acl]]            # stateless, numbered entries; first match decides
//! id = "acl-web"
//! vpc = "vpc-a"
//! subnets = ["subnet-a1"]    # default []; a subnet has at most one ACL; one
//!                            # without uses its VPC's default ACL (allows all)
//! ingress = [                # default []: no entry matches, so all is denied
//!   { rule = 100, action = "allow", protocol = "tcp", ports = "443", cidr = "0.0.0.0/0" },
//!   { rule = 110, action = "allow", protocol = "tcp", ports = "1024-65535", cidr = "10.0.0.0/16" },
//!   { rule = 120, action = "allow", protocol = "icmp", icmp = { type = 8, code = -1 }, cidr = "10.0.0.0/16" },
//! ]
//! # rule: 1..=32766, unique per direction; action "allow" or "deny";
//! # protocol as for security groups; ports (tcp/udp, the destination
//! # port; default all); icmp (icmp only: type and code, -1 = all, the
//! # default); cidr: the source (ingress) or destination (egress).
//! egress = [{ rule = 100, action = "allow", protocol = "all", cidr = "0.0.0.0/0" }]
//!
//! [[route_table]]           # longest prefix match on the source subnet's table
//! id = "rtb-private"
//! vpc = "vpc-a"
//! main = false               # default false; true: the VPC's main table (one per
//!                            # VPC), used by every subnet without an association;
//!                            # a VPC without one gets an implied main table with
//!                            # only the local route
//! subnets = ["subnet-a1"]    # default []; a subnet has at most one table
//! routes = [                 # default []: only the implicit local route
//!   { destination = "192.168.0.0/16", target = "blackhole" },
//! ]
//! # The local route (the VPC's CIDR, target "local") is in every table,
//! # written or not; it cannot be removed or replaced. target: "local" (the
//! # VPC CIDR only), "blackhole" (dropped: `route_blackhole`) or the id of a
//! # [[vpc_peering]] (below); NAT and internet gateways are not modelled yet.
//! # A destination inside the VPC CIDR must be a whole subnet's CIDR (AWS's
//! # rule for routes more specific than local); one route per destination.
//! # A destination no route covers is dropped as `no_route`.
//!
//! [[vpc_peering]]           # VPC peering connection (only "active" carries traffic)
//! id = "pcx-ab"
//! requester = "vpc-a"
//! accepter = "vpc-b"         # another VPC; the two CIDRs must not overlap
//! status = "active"          # "active", "pending-acceptance" or "rejected"
//! # A route { destination = "10.1.0.0/16", target = "pcx-ab" } in a table of
//! # vpc-a (or vpc-b) sends that CIDR over it; only the peer VPC's CIDR is
//! # carried (not transitive); replies need a route back in the peer's table.
//! # A group rule may name a group of the peer VPC while the connection is
//! # active.
//!
//! [[eni]]
//! id = "eni-web"
//! subnet = "subnet-a1"
//! ip = "10.0.1.20"
//! security_groups = ["sg-web"]
//! host = "web"
//! mtu = 9000                 # optional, 576..=9000: this ENI's veth; default
//!                            # its subnet's `mtu` (same key), else [lab] mtu
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
//!                            # each may add eni_id = "eni-0a1b2c3d4e5f60718" (the node's
//!                            # id in flow logs; default: derived, stable)
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
//! subnets = [{ subnet = "subnet-b1", ip = "10.0.1.100" }]   # 1 or more, one per AZ;
//!                            # eni_id optional, as for NLB nodes
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
//! eni_ids = ["eni-0a1b2c3d4e5f60718", "eni-0a1b2c3d4e5f60719"]   # optional: their ids,
//!                            # one per subnet in order; default: derived, stable
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
//! # Passes and files
//!
//! 1. Parse: `toml_edit` -> the positioned tree (`tree.rs`; a syntax error
//!    stops here, with a hint when the text looks like YAML).
//! 2. Pass 1, per resource family: each table's own fields, ids registered
//!    in the one namespace (`refs.rs`): `network.rs` (lab, conntrack, flow
//!    logs, VPC, subnet, security group, ENI), `network_acls.rs` (network
//!    ACLs and their subnet associations), `route_tables.rs` (route tables,
//!    their routes and subnet associations), `services.rs` (NLB, target
//!    group, health check, endpoint service, endpoint, ALB, Cloud Map),
//!    `vpc_links.rs` (VPC links and their integrations).
//! 3. Pass 2, in the same files (`resolve_*`): references and
//!    cross-resource rules; where resources sit (`placement.rs`).
//! 4. Link ENIs without an address get one; every address is unique per
//!    VPC; an NLB fronts at most one service.
//! 5. Lowering (`lower.rs`): validated VPC links -> the target groups,
//!    NLBs, endpoint services and endpoints they imply.
//! 6. The [`Topology`], or every diagnostic sorted by position.
//!
//! This file holds the entry points and the order of the passes;
//! `diagnostics.rs` the diagnostics (re-exported here) and the `Checker`
//! that collects them; `values.rs` the value parsers. The files import
//! one way only (no cycles): `values` -> `tree` -> `diagnostics`; `refs` ->
//! `tree`; `placement` -> `refs`; `network` -> `placement`, `values`;
//! `network_acls` -> `network`, `refs`, `values`; `peering` -> `refs`, `values`
//! (and `network` -> `peering`); `route_tables` -> `refs`,
//! `values`; `services` -> `network`; `vpc_links` ->
//! `placement`, `values`, `lower`;
//! `lower` -> the model only; `mod.rs` -> all. A new resource kind gets its own
//! file with its pass 1 and pass 2 as `impl Checker` blocks, and, if it is
//! really other parts, a rule in `lower.rs` with its own tests.

mod aws;
mod diagnostics;
mod gateways;
mod lower;
mod nat_gateways;
mod network;
mod network_acls;
mod nodes;
mod peering;
mod placement;
mod protocols;
mod refs;
mod route_tables;
mod services;
mod tree;
mod values;
mod vpc_links;

use std::collections::HashMap;
use std::path::Path;

use toml_edit::ImDocument;

use crate::model::{Hook, LabSettings, Services, Topology};
use diagnostics::Checker;
use lower::Firsts;
use network::EnisOut;
use placement::Claim;
use refs::{defined, Front, IdInfo, Kind, Net};
use services::{AlbIn, CloudMapIn, EndpointIn, NlbIn, ServiceIn, TgIn};
use tree::{table_node, Node};
use vpc_links::{LinkIn, Lookup};

pub use diagnostics::{Diagnostic, Diagnostics};
pub use protocols::protocol_by_name;
pub use values::parse_flow_log_destination;

/// The demo topology `dataplane` runs when no config is given.
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/default.toml");

const ROOT_KEYS: &[&str] = &[
    "lab",
    "flow_logs",
    "vpc",
    "subnet",
    "security_group",
    "network_acl",
    "route_table",
    "vpc_peering",
    "internet_gateway",
    "internet",
    "nat_gateway",
    "eni",
    "nlb",
    "target_group",
    "alb",
    "cloud_map_service",
    "endpoint_service",
    "vpc_endpoint",
    "vpc_link",
    "conntrack",
    "aws",
    "node",
];

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
    /// Passes 1 and 2 over the whole file, then the Hyperplane resources
    /// (see [`Checker::resolve_services_section`]).
    fn topology(&mut self, root: &Node) -> Topology {
        let empty = Topology::empty(LabSettings::new("", Hook::Tc, 1500));
        let Some(root) = self.table(root, "", "a table", ROOT_KEYS) else {
            return empty;
        };
        let lab = self.lab(&root);
        let conntrack = self.conntrack(&root);
        let flow_logs = self.flow_logs(&root);
        let mut ids: HashMap<String, IdInfo> = HashMap::new();

        // Pass 1: every resource's own fields; ids registered.
        let vpcs = self.each(&root, "vpc", &mut ids, |c, node, path, i, ids| {
            c.vpc(node, &path, i, ids)
        });
        let subnets = self.each(&root, "subnet", &mut ids, Self::subnet);
        let sgs = self.each(&root, "security_group", &mut ids, Self::security_group);
        let nacls = self.each(&root, "network_acl", &mut ids, |c, node, path, i, ids| {
            c.network_acl(node, path, i, ids, lab.nacl_entries_max)
        });
        let route_tables = self.each(&root, "route_table", &mut ids, Self::route_table);
        let peerings = self.each(&root, "vpc_peering", &mut ids, Self::vpc_peering);
        let igws = self.each(&root, "internet_gateway", &mut ids, Self::internet_gateway);
        let internet_hosts = self.internet_hosts(&root);
        let nat_gws = self.each(&root, "nat_gateway", &mut ids, Self::nat_gateway);
        let enis = self.each(&root, "eni", &mut ids, Self::eni);
        let nodes = self.nodes(&root);
        let placement = self.resolve_nodes(&root, &lab, nodes, &enis);

        // The Hyperplane resources, read in this order (ids register as read).
        let mut integrations = 0;
        let services_in = ServicesIn {
            nlbs: self.each(&root, "nlb", &mut ids, Self::nlb),
            tgs: self.each(&root, "target_group", &mut ids, Self::target_group),
            services: self.each(&root, "endpoint_service", &mut ids, Self::endpoint_service),
            endpoints: self.each(&root, "vpc_endpoint", &mut ids, Self::vpc_endpoint),
            albs: self.each(&root, "alb", &mut ids, Self::alb),
            cloud_maps: self.each(
                &root,
                "cloud_map_service",
                &mut ids,
                Self::cloud_map_service,
            ),
            links: self.each(&root, "vpc_link", &mut ids, |c, node, path, i, ids| {
                c.vpc_link(node, path, i, ids, &mut integrations)
            }),
        };

        // Pass 2: references and cross-resource rules.
        let (subnets, subnet_vpcs) = self.resolve_subnets(&vpcs, subnets, &ids);
        let vpc_peerings = self.resolve_peerings(&vpcs, peerings, &ids);
        let (security_groups, sg_vpcs) =
            self.resolve_security_groups(&vpcs, &vpc_peerings, sgs, &ids);
        let (network_acls, subnet_nacls) =
            self.resolve_network_acls(&vpcs, (&subnets, &subnet_vpcs), nacls, &ids);
        let gateway_vpcs = route_tables::GatewayVpcs {
            igw: self.gateway_vpcs(&vpcs, &igws, &ids),
            nat: self.nat_gateway_vpcs(&subnet_vpcs, &nat_gws, &ids),
        };
        let (route_tables, subnet_routes) = self.resolve_route_tables(
            (&vpcs, &vpc_peerings),
            (&subnets, &subnet_vpcs),
            route_tables,
            (&ids, &gateway_vpcs),
        );
        let public_ips: Vec<gateways::PublicIpIn> = enis
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                e.public_ip.map(|ip| gateways::PublicIpIn {
                    eni: i,
                    path: e.path.clone(),
                    ip,
                })
            })
            .collect();
        let enis = self.resolve_enis(
            &vpcs,
            (&subnets, &subnet_vpcs),
            (&security_groups, &sg_vpcs),
            enis,
            &ids,
        );
        let internet = self.resolve_internet(
            (&vpcs, &subnets, &subnet_vpcs),
            &enis,
            gateways::InternetIn {
                gateways: igws,
                hosts: internet_hosts,
                public_ips,
                nat_gateways: nat_gws,
            },
            &ids,
        );
        let services = self.resolve_services_section(
            Net {
                vpcs: &vpcs,
                subnets: &subnets,
                subnet_vpcs: &subnet_vpcs,
                sg_vpcs: &sg_vpcs,
                ids: &ids,
                vpc_ids: defined(&ids, Kind::Vpc, vpcs.iter().map(|v| &v.id)),
                subnet_ids: defined(&ids, Kind::Subnet, subnets.iter().map(|s| &s.id)),
                sg_ids: defined(
                    &ids,
                    Kind::SecurityGroup,
                    security_groups.iter().map(|s| &s.id),
                ),
            },
            &enis,
            services_in,
        );

        Topology {
            lab,
            vpcs,
            subnets,
            security_groups,
            enis: enis.enis,
            network_acls,
            subnet_nacls,
            route_tables,
            subnet_routes,
            vpc_peerings,
            services,
            conntrack,
            flow_logs,
            internet,
            placement,
        }
    }

    /// Pass 2 of the Hyperplane resources, then steps 4 and 5 of the module
    /// docs: validate (links included), allocate link ENI addresses, check
    /// address claims and NLB fronts, lower the links.
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
        let nlb_ids = defined(net.ids, Kind::Nlb, nlbs.iter().map(|n| &n.id));
        let alb_ids = defined(net.ids, Kind::Alb, albs.iter().map(|a| &a.id));
        let map_ids = defined(
            net.ids,
            Kind::CloudMapService,
            cloud_map_services.iter().map(|m| &m.id),
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
        let eni_ids = self.check_managed_ids(net.ids);
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
            eni_ids,
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

/// Notes `check` prints for a config that is valid but may not do what its
/// author expects: endpoints and peering connections that carry nothing
/// (pending or rejected), peering routes without a way back, and
/// subnets whose network ACL has no entries in a direction (everything
/// across that boundary is denied).
pub fn notes(t: &Topology) -> Vec<String> {
    let mut out = endpoint_notes(t);
    out.extend(peering::notes(t));
    for (i, acl) in t.network_acls.iter().enumerate() {
        let subnets: Vec<&str> = t
            .subnet_nacls
            .iter()
            .enumerate()
            .filter(|&(_, &a)| a == i)
            .map(|(s, _)| t.subnets[s].id.as_str())
            .collect();
        let empty: Vec<&str> = [("inbound", &acl.ingress), ("outbound", &acl.egress)]
            .into_iter()
            .filter(|(_, e)| e.is_empty())
            .map(|(d, _)| d)
            .collect();
        if acl.default || subnets.is_empty() || empty.is_empty() {
            continue;
        }
        out.push(format!(
            "network ACL {} has no {} entries: {} traffic of {} is denied (a custom network ACL \
             denies what no entry allows)",
            acl.id,
            empty.join(" or "),
            empty.join(" and "),
            subnets.join(", ")
        ));
    }
    out
}

fn endpoint_notes(t: &Topology) -> Vec<String> {
    use crate::model::EndpointState;
    t.services
        .vpc_endpoints
        .iter()
        .filter_map(|e| {
            let svc = &t.services.endpoint_services[e.service].id;
            match e.state {
                EndpointState::Available => None,
                EndpointState::Pending => Some(format!(
                    "endpoint {} is pending acceptance by service {svc}: it carries nothing until \
                     accepted (`state = \"available\"` on the endpoint, or \
                     `acceptance_required = false` on the service; it defaults to true)",
                    e.id
                )),
                EndpointState::Rejected => Some(format!(
                    "endpoint {} was rejected by service {svc}: it carries nothing",
                    e.id
                )),
            }
        })
        .collect()
}

/// The lab name config text gives in `[lab] name`, read leniently (the
/// text need not check, nor even be complete TOML): `lab exec` uses it to
/// find a lab that is up while its file is being edited.
pub fn lab_name_of(src: &str) -> Option<String> {
    if let Ok(t) = src.parse::<toml::Table>() {
        return t.get("lab")?.get("name")?.as_str().map(str::to_string);
    }
    let mut in_lab = false;
    for line in src.lines().map(str::trim) {
        if line.starts_with('[') {
            in_lab = line.split('#').next().map(str::trim) == Some("[lab]");
        } else if in_lab {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == "name" {
                    let v = v.split('#').next()?.trim();
                    return v.strip_prefix('"')?.strip_suffix('"').map(str::to_string);
                }
            }
        }
    }
    None
}

/// Validates config text. `file` names it in diagnostics, and its stem is the
/// default lab name.
pub fn parse_str(src: &str, file: &str) -> Result<Topology, Diagnostics> {
    let mut cx = Checker::new(src, file);
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
            let mut message = format!("TOML syntax error: {message}");
            if looks_like_yaml(src, file) {
                message.push('\n');
                message.push_str(YAML_HINT);
            }
            cx.err(e.span().map_or(0, |s| s.start), "", message);
            None
        }
    };
    match topology {
        Some(t) if cx.diags.is_empty() => Ok(t),
        _ => Err(cx.finish()),
    }
}

/// Added (as a line of its own) to the syntax error of a file that
/// [`looks_like_yaml`].
const YAML_HINT: &str = "hint: hyperlab configs are TOML (see README), not YAML";

/// Whether text that is not TOML is probably YAML: a `.yaml`/`.yml` name, or
/// a first line (after blank and `#` comment lines) that starts a YAML
/// document (`---`), a list item (`- `) or a mapping (`key:`).
fn looks_like_yaml(src: &str, file: &str) -> bool {
    let name = file.to_ascii_lowercase();
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        return true;
    }
    let Some(first) = src
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
    else {
        return false;
    };
    if first.starts_with("---") || first == "-" || first.starts_with("- ") {
        return true;
    }
    // `key:`, `key: value`, `"key": value`: a key, then a colon that ends
    // the line or is followed by a space (TOML writes `key = value`).
    let key_len = match first.as_bytes()[0] {
        q @ (b'"' | b'\'') => first[1..].find(q as char).map_or(0, |i| i + 2),
        _ => first
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .unwrap_or(first.len()),
    };
    let rest = first[key_len..].trim_start();
    key_len > 0 && (rest == ":" || rest.starts_with(": "))
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests;
