//! The validated topology: what `config` produces and everything else consumes.
//!
//! References between resources are indices into the owning vectors, so no
//! later step can meet a dangling id: `config::load` has already rejected it.

use std::{net::Ipv4Addr, time::Duration};

pub use ipnet::Ipv4Net;

mod aws;
pub use aws::{check_endpoint_url, is_profile, is_region, AwsSource, DEFAULT_REGION};
mod flow_logs;
mod internet;
#[cfg(test)]
pub(crate) mod test_support;
pub use flow_logs::*;
mod nodes;
pub use internet::{
    internet_range, Internet, InternetGateway, InternetHost, NatGateway, PublicIp, INTERNET_RANGES,
    NAT_GATEWAY_PORTS,
};
pub use nodes::{Node, Placement, DEFAULT_UNDERLAY_MTU};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    pub lab: LabSettings,
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    pub security_groups: Vec<SecurityGroup>,
    pub enis: Vec<Eni>,
    /// Network ACLs: the user's (`[[network_acl]]`, file order), then each
    /// VPC's default ACL (allow all both ways), in VPC order.
    pub network_acls: Vec<NetworkAcl>,
    /// Each subnet's ACL (index into `network_acls`): its explicit
    /// association, else its VPC's default ACL. A subnet has exactly one.
    pub subnet_nacls: Vec<usize>,
    /// Route tables: the user's (`[[route_table]]`, file order), then an
    /// implied main table (only the `local` route) for each VPC whose file
    /// names none, in VPC order.
    pub route_tables: Vec<RouteTable>,
    /// Each subnet's route table (index into `route_tables`): its explicit
    /// association, else its VPC's main table.
    pub subnet_routes: Vec<usize>,
    /// VPC peering connections (`[[vpc_peering]]`, file order).
    pub vpc_peerings: Vec<VpcPeering>,
    /// Hyperplane constructs: load balancers, PrivateLink, VPC links.
    pub services: Services,
    /// Connection tracking: idle timeouts and the sweep (`[conntrack]`).
    pub conntrack: ConntrackSettings,
    /// VPC Flow Logs (`[flow_logs]`); `None`: off.
    pub flow_logs: Option<FlowLogSettings>,
    /// Internet gateways, public addresses and the lab's internet hosts.
    pub internet: Internet,
    /// The lab's nodes and where each host runs (`[[node]]`).
    pub placement: Placement,
}

/// How long idle flows are tracked and how often expired ones are swept.
/// Applied by the agent's sweeper at start and on every reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConntrackSettings {
    pub timeouts: Timeouts,
    pub sweep_interval: std::time::Duration,
}

impl Default for ConntrackSettings {
    /// AWS's default timeouts, swept every second.
    fn default() -> Self {
        ConntrackSettings {
            timeouts: Timeouts::default(),
            sweep_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// Idle timeouts. The defaults are AWS's documented security-group
/// connection-tracking timeouts (EC2 `ConnectionTrackingSpecification`):
/// TCP established 432,000 s (5 days, `tcpEstablishedTimeout`), UDP 180 s
/// once a flow is a stream (`udpStreamTimeout`) and 30 s otherwise
/// (`udpTimeout`). AWS does not document or expose the others; the lab
/// keeps TCP connections not yet established or closing, and ICMP, for
/// 60 s after their last packet.
///
/// Applied by `conntrack::sweep` (see [`crate::conntrack`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_established: Duration,
    pub tcp_transitory: Duration,
    pub udp_stream: Duration,
    pub udp: Duration,
    /// ICMP (a lab extension: AWS documents none).
    pub other: Duration,
    /// Every IP protocol but TCP, UDP and ICMP (GRE, ESP, SCTP...): AWS
    /// tracks them by addresses and protocol and accepts the same protocol
    /// back within 600 s of idle (EC2 user guide, "Security group
    /// connection tracking").
    pub other_protocol: Duration,
    /// A NAT gateway's connections (VPC user guide, "Troubleshoot NAT
    /// gateways": idle 350 s or more, the connection times out); AWS's is
    /// fixed, the lab's knob `nat_gateway_idle_timeout` shrinks it for tests.
    pub nat_gateway: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_established: Duration::from_secs(432_000),
            tcp_transitory: Duration::from_secs(60),
            udp_stream: Duration::from_secs(180),
            udp: Duration::from_secs(30),
            other: Duration::from_secs(60),
            other_protocol: Duration::from_secs(600),
            nat_gateway: Duration::from_secs(dataplane_common::NAT_GATEWAY_IDLE_TIMEOUT_S),
        }
    }
}

/// The Hyperplane resources of a topology. REST VPC links are expanded by
/// `config` into the endpoint service and endpoint they imply, so later
/// steps see only NLBs, services and endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Services {
    pub nlbs: Vec<Nlb>,
    pub target_groups: Vec<TargetGroup>,
    pub endpoint_services: Vec<EndpointService>,
    pub vpc_endpoints: Vec<VpcEndpoint>,
    pub vpc_links: Vec<VpcLink>,
    pub albs: Vec<Alb>,
    pub cloud_map_services: Vec<CloudMapService>,
    /// Ids the config gives managed interfaces (`eni_id` of an endpoint's,
    /// NLB's or HTTP VPC link's place), by (owner id, subnet index); the
    /// others get [`managed_eni_id`]'s (see [`Topology::managed_interfaces`]).
    pub eni_ids: std::collections::BTreeMap<(String, usize), String>,
}

/// An Application Load Balancer, modelled at L3/L4: its nodes are host ENIs
/// (lab hosts running a real HTTP server or proxy). The data plane stops at
/// the node, as Hyperplane does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alb {
    pub id: String,
    /// Index into `Topology::vpcs`.
    pub vpc: usize,
    /// Indices into `Topology::enis`.
    pub nodes: Vec<usize>,
    /// Ports its nodes listen on (HTTP).
    pub listener_ports: Vec<u16>,
}

/// A Cloud Map service: a named set of instances (host ENIs and ports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudMapService {
    pub id: String,
    /// Index into `Topology::vpcs`.
    pub vpc: usize,
    pub instances: Vec<Target>,
    pub health_check: Option<HealthCheck>,
}

/// A Network Load Balancer: one node (private IP) per subnet/AZ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nlb {
    pub id: String,
    /// Index into `Topology::vpcs` (all its subnets are in it).
    pub vpc: usize,
    pub nodes: Vec<NlbNode>,
    /// Off: a node only picks targets in its own AZ (AWS's NLB default).
    pub cross_zone: bool,
    /// Groups the NLB's node addresses are members of (targets' rules may
    /// name them as peers). May be empty.
    pub security_groups: Vec<usize>,
    pub listeners: Vec<Listener>,
    /// Source ports the nodes' SNAT draws from (inclusive). A lab knob, not
    /// an AWS one: shrink it to exercise port exhaustion.
    pub source_ports: (u16, u16),
    /// `Some(link)`: not a user NLB but the Hyperplane side of one HTTP VPC
    /// link integration (see [`VpcLinkKind::Http`]): its nodes are the link's
    /// ENIs, its security groups the link's.
    pub vpc_link: Option<usize>,
}

/// The default [`Nlb::source_ports`].
pub const NLB_SOURCE_PORTS: (u16, u16) = (1024, 65535);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NlbNode {
    /// Index into `Topology::subnets`; its `az` is the node's AZ.
    pub subnet: usize,
    pub ip: Ipv4Addr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum L4Protocol {
    Tcp,
    Udp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub protocol: L4Protocol,
    pub port: u16,
    /// Index into `Services::target_groups`.
    pub target_group: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetGroup {
    pub id: String,
    /// Index into `Topology::vpcs`.
    pub vpc: usize,
    pub protocol: L4Protocol,
    /// Default port of targets given as ENIs.
    pub port: u16,
    pub targets: Vec<Target>,
    pub health_check: Option<HealthCheck>,
    /// When a target turns unhealthy, end its existing connections (AWS's
    /// NLB attribute `target_health_state.unhealthy.connection_termination`,
    /// default true); false lets them run on.
    pub connection_termination: bool,
}

/// A target: an ENI (given by id, or by `IP:port` resolved to the ENI with
/// that address in the target group's VPC) and the port it serves on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Index into `Topology::enis`.
    pub eni: usize,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub protocol: HealthProtocol,
    /// Port probed; default: the target's port.
    pub port: Option<u16>,
    pub interval_ms: u32,
    pub timeout_ms: u32,
    /// Consecutive successes before an unhealthy target is used again.
    pub healthy_threshold: u32,
    /// Consecutive failures before a target is taken out of selection.
    pub unhealthy_threshold: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthProtocol {
    /// A TCP connect.
    Tcp,
    /// `GET path`, healthy on any 2xx/3xx status.
    Http { path: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointService {
    pub id: String,
    /// Index into `Services::nlbs`.
    pub nlb: usize,
    pub acceptance_required: bool,
    /// Principals allowed to connect; `*` allows everyone.
    pub allowed_principals: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointState {
    /// Requested, waiting for the service owner to accept.
    Pending,
    Available,
    Rejected,
}

/// An interface VPC endpoint: one ENI per subnet in the consumer VPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpcEndpoint {
    pub id: String,
    /// Index into `Services::endpoint_services`.
    pub service: usize,
    /// Index into `Topology::vpcs` (the consumer VPC).
    pub vpc: usize,
    pub enis: Vec<EndpointEni>,
    pub security_groups: Vec<usize>,
    pub principal: String,
    /// Given, or derived: `Pending` when the service requires acceptance,
    /// else `Available`.
    pub state: EndpointState,
    /// The VPC link (REST, or an HTTP link integration) this endpoint was
    /// implied by, if any.
    pub implied_by: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointEni {
    /// Index into `Topology::subnets`.
    pub subnet: usize,
    pub ip: Ipv4Addr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpcLink {
    pub id: String,
    pub kind: VpcLinkKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VpcLinkKind {
    /// REST API VPC link: PrivateLink to an NLB. `service` and `endpoint`
    /// index the implied endpoint service and endpoint.
    Rest {
        nlb: usize,
        service: usize,
        endpoint: usize,
    },
    /// HTTP API VPC link: VPC-to-VPC NAT. Hyperplane ENIs (one per customer
    /// subnet) source-NAT the API service VPC's traffic into the customer
    /// VPC, governed by the link's security groups.
    Http {
        /// Index into `Topology::vpcs`.
        customer_vpc: usize,
        /// The API service VPC, where the integration addresses live.
        service_vpc: usize,
        /// The link ENIs in the customer VPC (given or allocated addresses).
        enis: Vec<EndpointEni>,
        /// Customer-VPC groups: the link ENIs are members; egress rules
        /// govern what the link may reach.
        security_groups: Vec<usize>,
        integrations: Vec<Integration>,
    },
}

/// One route of an HTTP VPC link. `config` expands it, like a REST link,
/// into the parts the data plane already has: a target group of its
/// targets, an NLB whose nodes are the link ENIs (`Nlb::vpc_link`), an
/// endpoint service and an endpoint ENI at `address` in the service VPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integration {
    pub id: String,
    pub kind: IntegrationKind,
    /// Where the API host sends requests for this integration (service VPC).
    pub address: Ipv4Addr,
    pub protocol: L4Protocol,
    pub port: u16,
    /// Indices of the expanded parts in `Services`.
    pub target_group: usize,
    pub nlb: usize,
    pub service: usize,
    pub endpoint: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntegrationKind {
    /// An ALB listener: the targets are the ALB's nodes on `port`.
    Alb { alb: usize },
    /// An NLB listener: the targets are that listener's target group (with
    /// the client address preserved, so targets see the link ENI).
    Nlb { nlb: usize },
    /// A Cloud Map service: its instances.
    CloudMap { service: usize },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabSettings {
    /// Prefix of every namespace the lab creates (`<name>-fabric`, `<name>-<host>`).
    pub name: String,
    pub hook: Hook,
    pub mtu: u32,
    /// Entries a network ACL may have per direction (`[lab]
    /// nacl_entries_max`; AWS's default quota is 20).
    pub nacl_entries_max: u32,
    /// `[aws]`: the endpoint `run` follows, if any.
    pub aws: Option<AwsSource>,
}

/// AWS's default quota of entries per network-ACL direction.
pub const NACL_ENTRIES_MAX: u32 = 20;

impl LabSettings {
    /// Lab `name` on `hook` with `mtu` and AWS's entry quota.
    pub fn new(name: &str, hook: Hook, mtu: u32) -> LabSettings {
        LabSettings {
            name: name.into(),
            hook,
            mtu,
            nacl_entries_max: NACL_ENTRIES_MAX,
            aws: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// tcx ingress on the fabric veths, `bpf_redirect_peer` into the destination host.
    Tc,
    /// XDP on the fabric veths, `bpf_redirect` out of the destination's fabric veth.
    Xdp,
}

impl Hook {
    /// The config's spelling (`[lab] hook`), also used in pin names and the
    /// restart journal.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Tc => "tc",
            Hook::Xdp => "xdp",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vpc {
    pub id: String,
    pub cidr: Ipv4Net,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    /// Index into `Topology::vpcs`.
    pub vpc: usize,
    pub cidr: Ipv4Net,
    pub az: String,
    /// The MTU of its hosts' lab veths (`None`: `[lab] mtu`).
    pub mtu: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    /// Index into `Topology::vpcs`.
    pub vpc: usize,
    pub ingress: Vec<Rule>,
    /// A group whose config has no `egress` key gets AWS's default rule
    /// (all protocols to 0.0.0.0/0); `egress = []` means none.
    pub egress: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    pub protocol: Protocol,
    /// Inclusive destination-port range; for icmp the `type << 8 | code`
    /// range its ICMP type and code cover (AWS's FromPort / ToPort for
    /// ICMP; `0..=65535` for all types); `0..=65535` for all and for other
    /// protocols (they have no ports).
    pub ports: (u16, u16),
    pub peer: Peer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    All,
    /// Any other IP protocol, by number (GRE 47, ESP 50, SCTP 132...):
    /// never 1, 6 or 17 (those are `Icmp`, `Tcp`, `Udp`).
    Number(u8),
}

/// Every protocol number, so [`Protocol::ip_protocols`] can hand out a
/// one-number slice for [`Protocol::Number`].
static PROTOCOL_NUMBERS: [u8; 256] = {
    let mut a = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        a[i] = i as u8;
        i += 1;
    }
    a
};

impl Protocol {
    /// The IP protocol numbers a rule of this protocol has entries of its
    /// own for: `all` covers every protocol, but the others than TCP, UDP
    /// and ICMP through its own any-protocol entries ([`Protocol::covers`]).
    pub fn ip_protocols(self) -> &'static [u8] {
        use dataplane_common::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};
        match self {
            Protocol::Tcp => &[PROTO_TCP],
            Protocol::Udp => &[PROTO_UDP],
            Protocol::Icmp => &[PROTO_ICMP],
            Protocol::All => &[PROTO_TCP, PROTO_UDP, PROTO_ICMP],
            Protocol::Number(n) => &PROTOCOL_NUMBERS[n as usize..=n as usize],
        }
    }

    /// Does a rule of this protocol cover IP protocol `proto`?
    pub fn covers(self, proto: u8) -> bool {
        self == Protocol::All || self.ip_protocols().contains(&proto)
    }

    /// The protocol a number stands for (1, 6 and 17 by name).
    pub fn from_number(n: u8) -> Protocol {
        use dataplane_common::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};
        match n {
            PROTO_TCP => Protocol::Tcp,
            PROTO_UDP => Protocol::Udp,
            PROTO_ICMP => Protocol::Icmp,
            n => Protocol::Number(n),
        }
    }

    /// The name a config or `explain` writes: `tcp`, `udp`, `icmp`, `all`,
    /// a well-known protocol's name (`gre`), or its number.
    pub fn name(self) -> String {
        match self {
            Protocol::Tcp => "tcp".into(),
            Protocol::Udp => "udp".into(),
            Protocol::Icmp => "icmp".into(),
            Protocol::All => "all".into(),
            Protocol::Number(n) => match PROTOCOL_NAMES.iter().find(|(_, k)| *k == n) {
                Some((name, _)) => format!("{name} ({n})"),
                None => n.to_string(),
            },
        }
    }
}

/// Protocol names a config may write besides tcp, udp, icmp and all (IANA
/// "Assigned Internet Protocol Numbers"; AWS takes any number).
pub const PROTOCOL_NAMES: &[(&str, u8)] = &[
    ("igmp", 2),
    ("ipip", 4),
    ("egp", 8),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", 58),
    ("ospf", 89),
    ("pim", 103),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
];

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    Cidr(Ipv4Net),
    /// Index into `Topology::security_groups`: matches the member ENIs' addresses.
    SecurityGroup(usize),
}

/// A network ACL (VPC user guide, "Network ACLs"): stateless, ordered
/// entries per direction, the first match decides, and whatever none
/// matches is denied (the final `*` entry).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NetworkAcl {
    /// The config id; a default ACL is named "<vpc id> (default)".
    pub id: String,
    /// Index into `Topology::vpcs`.
    pub vpc: usize,
    /// The VPC's default ACL: rule 100 allows everything both ways.
    pub default: bool,
    /// Inbound entries, ascending by rule number.
    pub ingress: Vec<AclEntry>,
    /// Outbound entries, ascending by rule number.
    pub egress: Vec<AclEntry>,
}

impl NetworkAcl {
    /// A VPC's default ACL, as AWS creates it: rule 100 allows all traffic
    /// in and out (VPC user guide, "Default network ACL").
    pub fn default_for(vpc: usize, vpc_id: &str) -> NetworkAcl {
        let all = AclEntry::new(100, true, Protocol::All, (0, 65535), Ipv4Net::default());
        NetworkAcl {
            id: format!("{vpc_id} (default)"),
            vpc,
            default: true,
            ingress: vec![all.clone()],
            egress: vec![all],
        }
    }
}

/// One numbered network-ACL entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AclEntry {
    /// 1..=32766: entries are evaluated in ascending order.
    pub rule: u16,
    pub allow: bool,
    pub protocol: Protocol,
    /// Destination-port range (TCP and UDP); `0..=65535` otherwise.
    pub ports: (u16, u16),
    /// ICMP type and code (protocol icmp); all otherwise.
    pub icmp: IcmpMatch,
    /// Outbound: the destination; inbound: the source.
    pub cidr: Ipv4Net,
}

impl AclEntry {
    /// An entry matching every ICMP type and code (the others need
    /// `icmp` set).
    pub fn new(
        rule: u16,
        allow: bool,
        protocol: Protocol,
        ports: (u16, u16),
        cidr: Ipv4Net,
    ) -> AclEntry {
        AclEntry {
            rule,
            allow,
            protocol,
            ports,
            icmp: IcmpMatch::ALL,
            cidr,
        }
    }
}

/// An ICMP type and code: `None` is AWS's -1, every value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcmpMatch {
    pub icmp_type: Option<u8>,
    pub code: Option<u8>,
}

impl IcmpMatch {
    pub const ALL: IcmpMatch = IcmpMatch {
        icmp_type: None,
        code: None,
    };

    /// The `type << 8 | code` values this matches, as one range (a type
    /// of -1 matches every type and code, whatever the code says).
    pub fn value_range(self) -> (u16, u16) {
        match (self.icmp_type, self.code) {
            (None, _) => (0, 0xffff),
            (Some(t), None) => ((t as u16) << 8, (t as u16) << 8 | 0xff),
            (Some(t), Some(c)) => {
                let v = (t as u16) << 8 | c as u16;
                (v, v)
            }
        }
    }

    /// The match a `type << 8 | code` range stands for (the inverse of
    /// [`IcmpMatch::value_range`]).
    pub fn of_range((lo, hi): (u16, u16)) -> IcmpMatch {
        match (lo, hi) {
            (0, 0xffff) => IcmpMatch::ALL,
            (lo, hi) if lo == hi => IcmpMatch {
                icmp_type: Some((lo >> 8) as u8),
                code: Some(lo as u8),
            },
            (lo, _) => IcmpMatch {
                icmp_type: Some((lo >> 8) as u8),
                code: None,
            },
        }
    }
}

impl AclEntry {
    /// Does this entry match `proto` to/from `peer` with `value` (the
    /// destination port, or ICMP `type << 8 | code`)? AWS's rule, stated
    /// plainly; the compiler and the reference model test against it.
    pub fn matches(&self, proto: u8, peer: Ipv4Addr, value: u16) -> bool {
        use dataplane_common::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};
        if !self.cidr.contains(&peer) || !self.protocol.covers(proto) {
            return false;
        }
        match (self.protocol, proto) {
            (Protocol::Tcp | Protocol::Udp, PROTO_TCP | PROTO_UDP) => {
                (self.ports.0..=self.ports.1).contains(&value)
            }
            (Protocol::Icmp, PROTO_ICMP) => {
                let (t, c) = ((value >> 8) as u8, value as u8);
                self.icmp.icmp_type.is_none_or(|x| x == t)
                    && (self.icmp.icmp_type.is_none() || self.icmp.code.is_none_or(|x| x == c))
            }
            _ => true,
        }
    }
}

/// A route table (VPC user guide, "Route tables"): the implicit `local`
/// route for the VPC's CIDR plus `routes`; the longest prefix that covers
/// a destination decides.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteTable {
    /// The config id; an implied main table is named "<vpc id> (main)".
    pub id: String,
    /// Index into `Topology::vpcs`.
    pub vpc: usize,
    /// The VPC's main table: subnets without an association use it.
    pub main: bool,
    /// The routes as written, in file order, without the `local` route
    /// (implicit in every table, written or not).
    pub routes: Vec<Route>,
}

impl RouteTable {
    /// The main table AWS creates with a VPC: only the `local` route.
    pub fn implied_main(vpc: usize, vpc_id: &str) -> RouteTable {
        RouteTable {
            id: format!("{vpc_id} (main)"),
            vpc,
            main: true,
            routes: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    pub destination: Ipv4Net,
    pub target: RouteTarget,
}

/// Where a route sends matching traffic. NAT gateways are not modelled
/// yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteTarget {
    /// Within the VPC: on to the destination's ENI.
    Local,
    /// Dropped (AWS: a route whose target is gone, state `blackhole`).
    Blackhole,
    /// Over a VPC peering connection (index into `Topology::vpc_peerings`)
    /// to the other VPC of the peering.
    Peering(usize),
    /// To the VPC's internet gateway (index into `Internet::gateways`).
    InternetGateway(usize),
    /// To a NAT gateway of the VPC (index into `Internet::nat_gateways`).
    NatGateway(usize),
}

/// A VPC peering connection (VPC peering guide, "VPC peering process",
/// "VPC peering connection lifecycle"): only an `active` one carries
/// packets, and only between the two VPCs' CIDRs (not transitive).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VpcPeering {
    pub id: String,
    /// Index into `Topology::vpcs`: the VPC that asked.
    pub requester: usize,
    /// Index into `Topology::vpcs`: the VPC that accepts.
    pub accepter: usize,
    pub status: PeeringStatus,
}

impl Topology {
    /// Whether an active peering connection joins VPCs `a` and `b` (each
    /// sees the other's addresses; group rules may name the other's groups).
    pub fn actively_peered(&self, a: usize, b: usize) -> bool {
        self.vpc_peerings
            .iter()
            .any(|p| p.status == PeeringStatus::Active && p.peer_of(a) == Some(b))
    }
}

impl VpcPeering {
    /// The VPC at the other end from `vpc` (`None`: `vpc` is neither end).
    pub fn peer_of(&self, vpc: usize) -> Option<usize> {
        if vpc == self.requester {
            Some(self.accepter)
        } else if vpc == self.accepter {
            Some(self.requester)
        } else {
            None
        }
    }
}

/// The states of a peering connection the lab models (AWS's lifecycle
/// also has transient ones: `initiating-request`, `provisioning`,
/// `deleting`, and the terminal `expired`, `failed`, `deleted`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeeringStatus {
    PendingAcceptance,
    Active,
    Rejected,
}

impl PeeringStatus {
    /// The status as AWS writes it (`Status.Code`).
    pub fn name(self) -> &'static str {
        match self {
            PeeringStatus::PendingAcceptance => "pending-acceptance",
            PeeringStatus::Active => "active",
            PeeringStatus::Rejected => "rejected",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eni {
    pub id: String,
    /// Index into `Topology::subnets`.
    pub subnet: usize,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    /// Indices into `Topology::security_groups`.
    pub security_groups: Vec<usize>,
    /// The lab host (network namespace) that owns this ENI.
    pub host: String,
    /// The MTU of its lab veth (`None`: its subnet's, else `[lab] mtu`).
    pub mtu: Option<u32>,
}

impl Topology {
    /// Lab `lab` with nothing in it: no resources, ACLs or services, the
    /// default connection tracking, no flow logs.
    pub fn empty(lab: LabSettings) -> Topology {
        Topology {
            lab,
            vpcs: Vec::new(),
            subnets: Vec::new(),
            security_groups: Vec::new(),
            enis: Vec::new(),
            network_acls: Vec::new(),
            subnet_nacls: Vec::new(),
            route_tables: Vec::new(),
            subnet_routes: Vec::new(),
            vpc_peerings: Vec::new(),
            services: Services::default(),
            conntrack: ConntrackSettings::default(),
            flow_logs: None,
            internet: Internet::default(),
            placement: Placement::default(),
        }
    }

    /// Fabric ports: one per ENI, then one per internet host.
    pub fn port_count(&self) -> usize {
        self.enis.len() + self.internet.hosts.len()
    }

    /// The network ACL of subnet `subnet` (`None` only for a topology built
    /// without ACLs, which then means its VPC's default: allow all).
    pub fn nacl_of(&self, subnet: usize) -> Option<&NetworkAcl> {
        self.subnet_nacls
            .get(subnet)
            .and_then(|&i| self.network_acls.get(i))
    }

    /// The route table of subnet `subnet` (`None` only for a topology
    /// built without tables, which then means its VPC's implied main).
    pub fn route_table_of(&self, subnet: usize) -> Option<&RouteTable> {
        self.subnet_routes
            .get(subnet)
            .and_then(|&i| self.route_tables.get(i))
    }

    pub fn eni_vpc(&self, eni: usize) -> usize {
        self.subnets[self.enis[eni].subnet].vpc
    }

    /// The MTU of ENI `eni`'s lab veth: its own `mtu`, else its subnet's,
    /// else the lab's.
    pub fn eni_mtu(&self, eni: usize) -> u32 {
        let e = &self.enis[eni];
        e.mtu.or(self.subnets[e.subnet].mtu).unwrap_or(self.lab.mtu)
    }

    /// The virtual router's address in a subnet: its first host address, as in AWS.
    pub fn gateway(&self, subnet: usize) -> Ipv4Addr {
        let net = self.subnets[subnet].cidr.network();
        Ipv4Addr::from(u32::from(net) + 1)
    }

    /// Hosts in order of first appearance, each with the ENIs it owns.
    pub fn hosts(&self) -> Vec<(String, Vec<usize>)> {
        let mut hosts: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, eni) in self.enis.iter().enumerate() {
            match hosts.iter_mut().find(|(h, _)| *h == eni.host) {
                Some((_, enis)) => enis.push(i),
                None => hosts.push((eni.host.clone(), vec![i])),
            }
        }
        hosts
    }

    pub fn eni_by_id(&self, id: &str) -> Option<usize> {
        self.enis.iter().position(|e| e.id == id)
    }

    /// The network interfaces AWS services create in a VPC, which get flow
    /// log records of their own: the ENIs of interface endpoints, the nodes
    /// of NLBs, the ENIs of HTTP VPC links and each NAT gateway's ENI (its
    /// private address in its subnet). Endpoints and NLBs a VPC link
    /// implies are not listed: AWS runs them outside the user's VPCs (an
    /// HTTP link's NLB nodes are its link ENIs, listed once).
    pub fn managed_interfaces(&self) -> Vec<ManagedInterface> {
        let mut out = Vec::new();
        let mut add = |kind, owner: &str, vpc, subnet: usize, ip| {
            out.push(ManagedInterface {
                id: self
                    .services
                    .eni_ids
                    .get(&(owner.to_string(), subnet))
                    .cloned()
                    .unwrap_or_else(|| managed_eni_id(owner, &self.subnets[subnet].id)),
                kind,
                owner: owner.to_string(),
                vpc,
                subnet,
                ip,
            })
        };
        let sv = &self.services;
        for ep in sv.vpc_endpoints.iter().filter(|e| e.implied_by.is_none()) {
            for e in &ep.enis {
                add(ManagedKind::Endpoint, &ep.id, ep.vpc, e.subnet, e.ip);
            }
        }
        for nlb in sv.nlbs.iter().filter(|n| n.vpc_link.is_none()) {
            for n in &nlb.nodes {
                add(ManagedKind::NlbNode, &nlb.id, nlb.vpc, n.subnet, n.ip);
            }
        }
        for link in &sv.vpc_links {
            if let VpcLinkKind::Http {
                customer_vpc, enis, ..
            } = &link.kind
            {
                for e in enis {
                    add(
                        ManagedKind::VpcLink,
                        &link.id,
                        *customer_vpc,
                        e.subnet,
                        e.ip,
                    );
                }
            }
        }
        for n in &self.internet.nat_gateways {
            let vpc = self.subnets[n.subnet].vpc;
            add(ManagedKind::NatGateway, &n.id, vpc, n.subnet, n.private_ip);
        }
        out
    }
}

impl Topology {
    /// The managed interface with address `ip` in VPC `vpc` (addresses are
    /// unique per VPC): what a flow's endpoint or SNAT address is.
    pub fn managed_at(&self, vpc: usize, ip: Ipv4Addr) -> Option<ManagedInterface> {
        self.managed_interfaces()
            .into_iter()
            .find(|m| m.vpc == vpc && m.ip == ip)
    }
}

impl ManagedKind {
    /// As `stats` and `explain` name it.
    pub fn name(self) -> &'static str {
        match self {
            ManagedKind::Endpoint => "endpoint ENI",
            ManagedKind::NlbNode => "NLB node",
            ManagedKind::VpcLink => "VPC link ENI",
            ManagedKind::NatGateway => "NAT gateway ENI",
        }
    }
}

/// A network interface an AWS service created (see
/// [`Topology::managed_interfaces`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedInterface {
    /// `eni-` and 17 hex digits, as AWS writes them: the config's `eni_id`,
    /// else [`managed_eni_id`].
    pub id: String,
    pub kind: ManagedKind,
    /// The resource that owns it: the endpoint, NLB or VPC link id.
    pub owner: String,
    /// Indices into `Topology::vpcs` and `Topology::subnets`.
    pub vpc: usize,
    pub subnet: usize,
    pub ip: Ipv4Addr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManagedKind {
    Endpoint,
    NlbNode,
    VpcLink,
    NatGateway,
}

/// The stable id of the interface resource `owner` has in subnet `subnet`:
/// `eni-0` and a 64-bit hash of both ids (FNV-1a, then murmur3's
/// finalizer) in hex: 17 digits after `eni-`, the shape of AWS's ids, the
/// same in every run and on every machine.
pub fn managed_eni_id(owner: &str, subnet: &str) -> String {
    derived_id("eni", owner, subnet)
}

/// The stable id of the instance a lab host stands for in flow logs'
/// `instance-id`: `i-0` and 16 hex digits, as [`managed_eni_id`].
pub fn instance_id(host: &str) -> String {
    derived_id("i", host, "")
}

fn derived_id(prefix: &str, owner: &str, scope: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in owner.bytes().chain([0]).chain(scope.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // murmur3's 64-bit finalizer: ids of neighbouring subnets look unrelated.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    format!("{prefix}-0{h:016x}")
}

/// The MAC an ENI gets when the config gives none: locally administered,
/// unique per (VPC, address).
pub fn default_mac(vpc: usize, ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, (vpc as u8).wrapping_add(1), o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    let m = mac;
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}
