//! What both readers (AWS describe JSON, Terraform state) produce: the
//! resources in AWS's own terms, each with the place it was read from, so
//! that `build` can name the file and JSON path of any reference it cannot
//! resolve. Nothing here is checked yet.

use super::json::{At, Res, J};

/// A reference to another resource by id (or ARN), where it is written.
#[derive(Clone, Debug)]
pub struct Ref {
    pub id: String,
    pub at: At,
}

/// The reference in the string member `key`, if present.
pub fn one_ref(j: &J<'_>, key: &str) -> Res<Option<Ref>> {
    Ok(j.str_at(key)?.map(|(id, at)| Ref { id, at }))
}

/// A Cloud Map instance's address, port and where they are written: the
/// `AWS_INSTANCE_IPV4` and `AWS_INSTANCE_PORT` attributes of the object
/// `key` (`Attributes` in AWS's answer, `attributes` in Terraform's state).
pub fn cloud_map_instance(j: &J<'_>, key: &str) -> Res<(String, Option<i64>, At)> {
    let Some(a) = j.obj(key)? else {
        return Err(j.at.key(key).err("missing (expected AWS_INSTANCE_IPV4)"));
    };
    let Some(ip) = a.str("AWS_INSTANCE_IPV4")? else {
        return Err(a.at.key("AWS_INSTANCE_IPV4").err("missing"));
    };
    Ok((ip, a.int("AWS_INSTANCE_PORT")?, a.at.clone()))
}

/// An integration's VPC link: the member `id` (`ConnectionId`) when the
/// member `kind` (`ConnectionType`) is `VPC_LINK`.
pub fn integration_link(j: &J<'_>, (kind, id): (&str, &str)) -> Res<Option<String>> {
    if j.str(kind)?.as_deref() == Some("VPC_LINK") {
        j.str(id)
    } else {
        Ok(None)
    }
}

/// The keys a format names a listener's forward actions by: an action's
/// type, its target group, its forward block, the block's groups and a
/// group's ARN.
pub struct ForwardKeys {
    pub kind: &'static str,
    pub tg: &'static str,
    pub forward: &'static str,
    pub groups: &'static str,
    pub arn: &'static str,
}

/// The target groups of a listener's forward `actions` (other actions
/// ignored), read with the keys `k`; `forward` reads an action's forward
/// block (an object in AWS's answer, a one-element block in Terraform's
/// state).
pub fn forward_target_groups<'a>(
    actions: Vec<J<'a>>,
    k: &ForwardKeys,
    forward: impl Fn(&J<'a>, &str) -> Res<Option<J<'a>>>,
) -> Res<Vec<Ref>> {
    let mut tgs = Vec::new();
    for a in actions {
        if a.str(k.kind)?.as_deref() != Some("forward") {
            continue;
        }
        if let Some(r) = one_ref(&a, k.tg)? {
            tgs.push(r);
        } else if let Some(f) = forward(&a, k.forward)? {
            for t in f.arr(k.groups)? {
                tgs.extend(one_ref(&t, k.arn)?);
            }
        }
    }
    Ok(tgs)
}

/// The references in the string array `key` (absent: none).
pub fn refs(j: &J<'_>, key: &str) -> Res<Vec<Ref>> {
    Ok(j.strs(key)?
        .into_iter()
        .map(|(id, at)| Ref { id, at })
        .collect())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Vpcs,
    Subnets,
    SecurityGroups,
    NetworkInterfaces,
    Instances,
    LoadBalancers,
    TargetGroups,
    Services,
    Endpoints,
    InternetGateways,
    NatGateways,
    Addresses,
}

#[derive(Debug, Default)]
pub struct Inventory {
    /// The kinds whose source was read (a call's file, or Terraform state):
    /// a reference to a kind that was not read skips the resource; one to a
    /// missing resource of a kind that was read is an error.
    pub read: std::collections::BTreeSet<Source>,
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    pub sgs: Vec<Sg>,
    /// Rules given on their own (`describe-security-group-rules`,
    /// `aws_vpc_security_group_*_rule`), merged into their groups.
    pub rules: Vec<(Ref, Rule)>,
    pub enis: Vec<Eni>,
    pub instances: Vec<Instance>,
    pub lbs: Vec<Lb>,
    pub tgs: Vec<Tg>,
    pub listeners: Vec<Listener>,
    pub services: Vec<Service>,
    pub endpoints: Vec<Endpoint>,
    pub links: Vec<Link>,
    /// API Gateway v2 integrations (`get-integrations`).
    pub integrations: Vec<Integration>,
    /// Cloud Map services' instances (`list-instances`), by service.
    pub cloud_maps: Vec<CloudMap>,
    /// Network ACLs (`describe-network-acls`, `aws_network_acl`,
    /// `aws_default_network_acl`).
    pub nacls: Vec<Nacl>,
    /// Entries given on their own (`aws_network_acl_rule`), by ACL.
    pub nacl_entries: Vec<(Ref, NaclEntry)>,
    /// Associations given on their own (`aws_network_acl_association`):
    /// (ACL, subnet).
    pub nacl_associations: Vec<(Ref, Ref)>,
    /// hyperlab's own member (an export): `[lab] nacl_entries_max`.
    pub nacl_entries_max: Option<(i64, At)>,
    /// Route tables (`describe-route-tables`, `aws_route_table`,
    /// `aws_default_route_table`).
    pub route_tables: Vec<Rtb>,
    /// Routes given on their own (`aws_route`), by table.
    pub routes: Vec<(Ref, RtbRoute)>,
    /// Associations given on their own: (table, subnet)
    /// (`aws_route_table_association`).
    pub route_associations: Vec<(Ref, Ref)>,
    /// Main-table associations given on their own: (table, VPC)
    /// (`aws_main_route_table_association`).
    pub main_route_tables: Vec<(Ref, Ref)>,
    /// VPC peering connections (`describe-vpc-peering-connections`,
    /// `aws_vpc_peering_connection`).
    pub peerings: Vec<Peering>,
    /// Internet gateways (`describe-internet-gateways`).
    pub igws: Vec<Igw>,
    /// NAT gateways (`describe-nat-gateways`).
    pub nats: Vec<Nat>,
    /// Elastic IPs (`describe-addresses`).
    pub addresses: Vec<Address>,
    /// hyperlab's own member (an export): the lab's `[internet]` hosts
    /// (name, address), which no AWS call lists.
    pub internet_hosts: Option<Vec<(String, (String, At))>>,
    /// What hyperlab does not model (yet), one line per resource.
    pub unsupported: Vec<Unsupported>,
    /// Files or entries read but not used, and other remarks.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Unsupported {
    /// The resource: its id, and its kind in AWS's words.
    pub what: String,
    pub reason: String,
    pub at: At,
}

#[derive(Clone, Debug)]
pub struct Vpc {
    pub id: String,
    pub name: Option<String>,
    pub cidr: Option<(String, At)>,
    /// More IPv4 CIDR blocks (not the primary), as strings.
    pub secondary: Vec<(String, At)>,
    pub ipv6: Vec<(String, At)>,
    pub is_default: bool,
    pub at: At,
}

#[derive(Clone, Debug)]
pub struct Subnet {
    pub id: String,
    pub name: Option<String>,
    pub vpc: Option<Ref>,
    pub cidr: Option<(String, At)>,
    /// The AZ id (`use1-az1`) if given, else the AZ name (`us-east-1a`).
    pub az: Option<String>,
    pub ipv6: Vec<(String, At)>,
    pub at: At,
}

#[derive(Clone, Debug)]
pub struct Sg {
    pub id: String,
    pub name: Option<String>,
    pub group_name: Option<String>,
    pub vpc: Option<Ref>,
    /// `None`: not given (an emulator, or rules given on their own).
    pub ingress: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
    pub at: At,
}

/// One rule with one peer (AWS's permissions are split per peer).
#[derive(Clone, Debug)]
pub struct Rule {
    pub egress: bool,
    /// AWS's `IpProtocol`: "-1", "tcp", "6", "icmp", ...
    pub protocol: String,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub peer: Peer,
    pub at: At,
}

#[derive(Clone, Debug)]
pub enum Peer {
    Cidr(String),
    Group(Ref),
    /// A group of another account or behind a peering connection.
    ForeignGroup(String),
    Ipv6(String),
    PrefixList(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Managed {
    /// A plain ENI (an instance's, or on its own).
    No,
    /// A load balancer's node: `ELB net/NAME/ID` or `ELB app/NAME/ID`.
    Lb(String),
    /// Listed by an endpoint in `NetworkInterfaceIds`, or typed `vpc_endpoint`.
    Endpoint,
    /// Some other AWS service's ENI: the interface type or description.
    Other(String),
}

#[derive(Clone, Debug)]
pub struct Eni {
    pub id: String,
    pub name: Option<String>,
    pub subnet: Option<Ref>,
    pub ip: Option<(String, At)>,
    pub groups: Vec<Ref>,
    pub instance: Option<String>,
    pub managed: Managed,
    /// `Association.PublicIp`: its public IPv4 address.
    pub public_ip: Option<(String, At)>,
    pub at: At,
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub id: String,
    pub name: Option<String>,
    pub state: Option<String>,
    /// Its primary ENI when the dump lists none: subnet, address, groups.
    pub subnet: Option<Ref>,
    pub ip: Option<(String, At)>,
    pub groups: Vec<Ref>,
    /// `PublicIpAddress` (of that primary ENI).
    pub public_ip: Option<(String, At)>,
    pub at: At,
}

#[derive(Clone, Debug)]
pub struct Lb {
    pub arn: String,
    pub name: String,
    /// "network", "application", "gateway".
    pub kind: String,
    /// (subnet, private address if the dump gives one)
    pub zones: Vec<(Ref, Option<(String, At)>)>,
    pub groups: Vec<Ref>,
    pub cross_zone: Option<bool>,
    /// hyperlab's own members (an export): an ALB's node ENIs, an NLB's
    /// SNAT source ports.
    pub alb_nodes: Option<Vec<Ref>>,
    pub source_ports: Option<(i64, i64)>,
    pub at: At,
}

#[derive(Clone, Debug)]
pub struct Health {
    pub enabled: bool,
    pub protocol: Option<String>,
    /// A number, or "traffic-port".
    pub port: Option<String>,
    pub path: Option<String>,
    pub interval_s: Option<i64>,
    pub timeout_s: Option<i64>,
    pub healthy: Option<i64>,
    pub unhealthy: Option<i64>,
    /// hyperlab's own members (an export): the times in milliseconds.
    pub interval_ms: Option<i64>,
    pub timeout_ms: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Target {
    /// An instance id or an IP address.
    pub id: String,
    pub port: Option<i64>,
    pub at: At,
}

#[derive(Clone, Debug)]
pub struct Tg {
    pub arn: String,
    pub name: String,
    pub protocol: Option<String>,
    pub port: Option<i64>,
    pub vpc: Option<Ref>,
    /// "instance", "ip", "lambda", "alb".
    pub target_type: String,
    pub health: Health,
    /// `None`: the registered targets are not in the dump.
    pub targets: Option<Vec<Target>>,
    /// `target_health_state.unhealthy.connection_termination.enabled`.
    pub connection_termination: Option<bool>,
    pub at: At,
}

#[derive(Clone, Debug)]
pub struct Listener {
    pub arn: Option<String>,
    pub lb: Ref,
    pub protocol: Option<String>,
    pub port: Option<i64>,
    /// The forward action's target groups (ARNs).
    pub tgs: Vec<Ref>,
    pub at: At,
}

#[derive(Clone, Debug)]
pub struct Service {
    pub id: String,
    pub service_name: Option<String>,
    pub acceptance_required: Option<bool>,
    pub nlbs: Vec<Ref>,
    pub gwlbs: usize,
    /// Given by Terraform, or `describe-vpc-endpoint-service-permissions`.
    pub principals: Option<Vec<String>>,
    pub at: At,
}

#[derive(Clone, Debug)]
pub struct Endpoint {
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub vpc: Option<Ref>,
    /// `ServiceName` (or a service id, from Terraform).
    pub service: Option<Ref>,
    pub subnets: Vec<Ref>,
    pub groups: Vec<Ref>,
    pub enis: Vec<Ref>,
    pub state: Option<String>,
    pub owner: Option<String>,
    /// hyperlab's own member (an export): a principal that is no
    /// account's root.
    pub principal: Option<String>,
    pub at: At,
}

#[derive(Clone, Debug)]
pub enum LinkKind {
    /// API Gateway (REST) VPC link: NLB ARNs.
    Rest { targets: Vec<Ref> },
    /// API Gateway v2 (HTTP) VPC link.
    Http { subnets: Vec<Ref>, groups: Vec<Ref> },
}

#[derive(Clone, Debug)]
pub struct Link {
    pub id: String,
    pub name: Option<String>,
    pub kind: LinkKind,
    /// hyperlab's own members (an export), where API Gateway's side is a
    /// VPC of the topology: see [`LinkExt`].
    pub ext: LinkExt,
    pub at: At,
}

/// What an export of a hyperlab topology says about a link that AWS does
/// not (API Gateway's side is AWS's): its place among the links, the VPC,
/// subnets and groups of a REST link's endpoint, an HTTP link's service
/// VPC and ENI addresses.
#[derive(Clone, Debug, Default)]
pub struct LinkExt {
    pub index: Option<i64>,
    pub vpc: Option<Ref>,
    pub places: Vec<(Ref, Option<(String, At)>)>,
    pub groups: Vec<Ref>,
    pub addresses: Vec<(String, At)>,
}

/// An HTTP API's integration: through a VPC link to an NLB or ALB
/// listener, or a Cloud Map service.
#[derive(Clone, Debug)]
pub struct Integration {
    pub id: String,
    /// `ConnectionId` when `ConnectionType` is `VPC_LINK`.
    pub link: Option<String>,
    /// A listener ARN or a Cloud Map service ARN.
    pub uri: Option<(String, At)>,
    /// hyperlab's own members (an export): the address the API host
    /// calls, its port and protocol.
    pub address: Option<(String, At)>,
    pub port: Option<i64>,
    pub protocol: Option<String>,
    pub at: At,
}

#[derive(Clone, Debug)]
pub struct CloudMap {
    /// The service id (`srv-...`), if the file says which.
    pub id: Option<String>,
    /// (IPv4, port) of each instance.
    pub instances: Vec<(String, Option<i64>, At)>,
    /// hyperlab's own members (an export): the service's VPC and its
    /// place among the services.
    pub vpc: Option<Ref>,
    pub index: Option<i64>,
    pub at: At,
}

/// A network ACL: its entries as AWS lists them (any order, AWS's final
/// `*` entries included) and the subnets associated with it.
#[derive(Clone, Debug)]
pub struct Nacl {
    pub id: String,
    pub name: Option<String>,
    pub vpc: Ref,
    pub is_default: bool,
    pub entries: Vec<NaclEntry>,
    pub subnets: Vec<Ref>,
    pub at: At,
}

/// One network-ACL entry, unchecked.
#[derive(Clone, Debug)]
pub struct NaclEntry {
    pub egress: bool,
    pub rule: Option<(i64, At)>,
    /// "allow" or "deny".
    pub action: Option<(String, At)>,
    /// AWS's protocol: "-1", "6", "17", "1", another number, or a name
    /// (Terraform's "tcp", "all").
    pub protocol: Option<(String, At)>,
    pub cidr: Option<(String, At)>,
    pub ipv6: Option<String>,
    pub from: Option<(i64, At)>,
    pub to: Option<(i64, At)>,
    pub icmp_type: Option<(i64, At)>,
    pub icmp_code: Option<(i64, At)>,
    pub at: At,
}

/// A route table: its routes as AWS lists them (the `local` one
/// included), whether it is its VPC's main table, and its subnets.
#[derive(Clone, Debug)]
pub struct Rtb {
    pub id: String,
    pub name: Option<String>,
    pub vpc: Ref,
    pub main: bool,
    pub routes: Vec<RtbRoute>,
    pub subnets: Vec<Ref>,
    pub at: At,
}

/// One route, unchecked.
#[derive(Clone, Debug)]
pub struct RtbRoute {
    /// The IPv4 destination (`None`: the route has another kind).
    pub destination: Option<(String, At)>,
    /// An IPv6 destination or a prefix list, as written.
    pub other_destination: Option<String>,
    /// The target's id (`local`, `igw-...`, `nat-...`, `pcx-...`, ...).
    pub target: Option<(String, At)>,
    /// AWS's `State`: `blackhole` when the target is gone.
    pub blackhole: bool,
    pub at: At,
}

/// A VPC peering connection, unchecked.
#[derive(Clone, Debug)]
pub struct Peering {
    pub id: String,
    pub requester: Ref,
    pub accepter: Ref,
    /// AWS's `Status.Code` (`active`, `pending-acceptance`, ...).
    pub status: Option<(String, At)>,
    pub at: At,
}

/// An internet gateway and the VPCs it is attached to.
#[derive(Clone, Debug)]
pub struct Igw {
    pub id: String,
    pub name: Option<String>,
    /// (VPC, the attachment's `State`: `available` / `attached` when
    /// attached, `attaching`, `detaching`, `detached`).
    pub attachments: Vec<(Ref, Option<String>)>,
    pub at: At,
}

/// A NAT gateway, unchecked.
#[derive(Clone, Debug)]
pub struct Nat {
    pub id: String,
    pub name: Option<String>,
    pub subnet: Option<Ref>,
    /// `pending`, `available`, `deleting`, `deleted`, `failed` (where written).
    pub state: Option<(String, At)>,
    /// `public` (AWS's default) or `private` (where written).
    pub connectivity: Option<(String, At)>,
    pub addresses: Vec<NatAddress>,
    /// hyperlab's own member (an export): the lab's `ports` knob.
    pub ports: Option<(i64, i64)>,
    pub at: At,
}

/// One of a NAT gateway's `NatGatewayAddresses`.
#[derive(Clone, Debug)]
pub struct NatAddress {
    pub allocation: Option<String>,
    /// Its network interface (a managed ENI, `InterfaceType` `nat_gateway`).
    pub eni: Option<String>,
    pub private_ip: Option<(String, At)>,
    pub public_ip: Option<(String, At)>,
    pub primary: Option<bool>,
    pub at: At,
}

/// An Elastic IP (`describe-addresses`).
#[derive(Clone, Debug)]
pub struct Address {
    pub public_ip: (String, At),
    pub allocation: Option<String>,
    /// The network interface it is associated with, if any.
    pub eni: Option<Ref>,
    /// The instance it is associated with (its primary ENI), when no
    /// network interface is named.
    pub instance: Option<Ref>,
    /// The private address it is associated with (an ENI's primary, or
    /// a secondary one).
    pub private_ip: Option<String>,
    pub at: At,
}
