//! `dataplane import aws DIR`: the JSON the AWS CLI prints, one file per
//! call, in DIR (`describe-vpcs.json`) or one folder per service
//! (`ec2/describe-vpcs.json`), read into an [`Inventory`].
//!
//! Calls that take a resource (`describe-target-health --target-group-arn`,
//! `describe-load-balancer-attributes`) are one file per resource:
//! `CALL-KEY.json`, KEY the resource's name (or the file's own
//! `TargetGroupArn` / `LoadBalancerArn` member); a plain `CALL.json` is
//! enough when there is one such resource.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::gateways;
use super::inventory::*;
use super::json::{parse, At, ImportError, Res, J};

/// A call import reads: its service, its name, the member its output
/// is in, and the kind of resource whose source it is (a file of it, even
/// empty, counts the kind as read: see [`Inventory::read`]).
struct Call {
    service: &'static str,
    name: &'static str,
    key: &'static str,
    marks: Option<Source>,
}

const fn call(service: &'static str, name: &'static str, key: &'static str) -> Call {
    Call {
        service,
        name,
        key,
        marks: None,
    }
}

impl Call {
    const fn marks(self, source: Source) -> Call {
        Call {
            marks: Some(source),
            ..self
        }
    }
}

const CALLS: &[Call] = &[
    call("ec2", "describe-vpcs", "Vpcs").marks(Source::Vpcs),
    call("ec2", "describe-subnets", "Subnets").marks(Source::Subnets),
    call("ec2", "describe-security-groups", "SecurityGroups").marks(Source::SecurityGroups),
    call("ec2", "describe-security-group-rules", "SecurityGroupRules"),
    call("ec2", "describe-network-interfaces", "NetworkInterfaces")
        .marks(Source::NetworkInterfaces),
    call("ec2", "describe-instances", "Reservations").marks(Source::Instances),
    call("ec2", "describe-vpc-endpoints", "VpcEndpoints").marks(Source::Endpoints),
    call(
        "ec2",
        "describe-vpc-endpoint-service-configurations",
        "ServiceConfigurations",
    )
    .marks(Source::Services),
    call(
        "ec2",
        "describe-vpc-endpoint-connections",
        "VpcEndpointConnections",
    ),
    call("ec2", "describe-route-tables", "RouteTables"),
    call("ec2", "describe-network-acls", "NetworkAcls"),
    call(
        "ec2",
        "describe-vpc-peering-connections",
        "VpcPeeringConnections",
    ),
    call("ec2", "describe-nat-gateways", "NatGateways").marks(Source::NatGateways),
    call("ec2", "describe-internet-gateways", "InternetGateways").marks(Source::InternetGateways),
    call("ec2", "describe-addresses", "Addresses").marks(Source::Addresses),
    call("elbv2", "describe-load-balancers", "LoadBalancers").marks(Source::LoadBalancers),
    call("elbv2", "describe-target-groups", "TargetGroups").marks(Source::TargetGroups),
    call("elbv2", "describe-listeners", "Listeners"),
    call(
        "elbv2",
        "describe-target-health",
        "TargetHealthDescriptions",
    ),
    call("elbv2", "describe-load-balancer-attributes", "Attributes"),
    call("elbv2", "describe-target-group-attributes", "Attributes"),
    call(
        "ec2",
        "describe-vpc-endpoint-service-permissions",
        "AllowedPrincipals",
    ),
    call("apigateway", "get-vpc-links", "items"),
    call("apigatewayv2", "get-vpc-links", "Items"),
    call("apigatewayv2", "get-integrations", "Items"),
    call("servicediscovery", "list-instances", "Instances"),
];

/// One file read: its name as shown in messages and its JSON.
struct File {
    name: String,
    /// The KEY of `CALL-KEY.json`, if any.
    suffix: Option<String>,
    json: Value,
}

/// Every call's files, parsed.
#[derive(Default)]
struct Dump {
    files: BTreeMap<(&'static str, &'static str), Vec<File>>,
}

impl Dump {
    fn get(&self, service: &'static str, name: &'static str) -> &[File] {
        self.files
            .get(&(service, name))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// The call a file name stands for, and its KEY.
fn which_call(stem: &str, service: Option<&str>) -> Option<(&'static Call, Option<String>)> {
    let mut best: Option<(&'static Call, Option<String>)> = None;
    for c in CALLS {
        if service.is_some_and(|s| s != c.service) {
            continue;
        }
        let suffix = if stem == c.name {
            None
        } else if let Some(rest) = stem.strip_prefix(c.name).and_then(|r| r.strip_prefix('-')) {
            Some(rest.to_string())
        } else {
            continue;
        };
        // The longest call name wins (`describe-vpc-endpoints` is not a
        // `describe-vpcs` file with a KEY).
        if best
            .as_ref()
            .is_none_or(|(b, _)| b.name.len() < c.name.len())
        {
            best = Some((c, suffix));
        }
    }
    best
}

fn read_dir(dir: &Path, inv: &mut Inventory) -> Res<Dump> {
    let dir_err = |e: std::io::Error| ImportError {
        file: dir.display().to_string(),
        path: String::new(),
        message: format!("cannot read the directory: {e}"),
    };
    let mut paths: Vec<(PathBuf, Option<String>)> = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(dir_err)?
        .collect::<Result<_, _>>()
        .map_err(dir_err)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            let service = e.file_name().to_string_lossy().into_owned();
            let mut sub: Vec<_> = std::fs::read_dir(&p)
                .map_err(dir_err)?
                .collect::<Result<_, _>>()
                .map_err(dir_err)?;
            sub.sort_by_key(|e| e.file_name());
            paths.extend(sub.into_iter().map(|e| (e.path(), Some(service.clone()))));
        } else {
            paths.push((p, None));
        }
    }
    let mut dump = Dump::default();
    for (p, service) in paths {
        let name = p.display().to_string();
        let stem = match (p.extension().and_then(|e| e.to_str()), p.file_stem()) {
            (Some("json"), Some(s)) => s.to_string_lossy().into_owned(),
            _ => {
                inv.notes.push(format!("{name}: ignored: not a .json file"));
                continue;
            }
        };
        let Some((c, suffix)) = which_call(&stem, service.as_deref()) else {
            inv.notes.push(format!(
                "{name}: ignored: not the output of a call import reads (see docs/IMPORT.md)"
            ));
            continue;
        };
        let text = std::fs::read_to_string(&p).map_err(|e| ImportError {
            file: name.clone(),
            path: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        let json = parse(&name, &text)?;
        // A flat `get-vpc-links.json`: API Gateway's REST API (items[].id,
        // targetArns) or its v2 API (Items[].VpcLinkId, SubnetIds).
        let c = if c.name == "get-vpc-links" && service.is_none() {
            let v2 = J::root(&name, &json)
                .arr("Items")
                .ok()
                .and_then(|items| {
                    items
                        .first()
                        .map(|i| i.has("VpcLinkId") || i.has("SubnetIds"))
                })
                .unwrap_or(false);
            CALLS
                .iter()
                .find(|k| k.name == "get-vpc-links" && (k.service == "apigatewayv2") == v2)
                .expect("both are listed")
        } else {
            c
        };
        check_call(c, &name, &json)?;
        dump.files
            .entry((c.service, c.name))
            .or_default()
            .push(File { name, suffix, json });
    }
    Ok(dump)
}

/// A file of the wrong call (or no call's output at all) is refused.
fn check_call(c: &Call, file: &str, json: &Value) -> Res<()> {
    let root = J::root(file, json);
    if !json.is_object() {
        return Err(root.err(format!(
            "not the output of `aws {} {}`: expected an object with a \"{}\" array",
            c.service, c.name, c.key
        )));
    }
    if root.has(c.key) {
        return Ok(());
    }
    let found: Vec<&str> = json
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let other = CALLS
        .iter()
        .find(|o| o.key != c.key && found.contains(&o.key));
    let hint = match other {
        Some(o) => format!(
            " (this looks like the output of `aws {} {}`)",
            o.service, o.name
        ),
        None => String::new(),
    };
    Err(root.err(format!(
        "not the output of `aws {} {}`: no \"{}\" member{hint}",
        c.service, c.name, c.key
    )))
}

/// Reads DIR into an inventory.
pub fn read(dir: &Path) -> Res<Inventory> {
    let mut inv = Inventory::default();
    let dump = read_dir(dir, &mut inv)?;
    fill(dump, inv)
}

/// One call's answer that did not come from a file: from an endpoint.
pub struct Answer {
    pub service: &'static str,
    pub call: &'static str,
    /// The resource a per-resource call was made for (its KEY).
    pub key: Option<String>,
    /// How messages name it (`ENDPOINT ec2 DescribeVpcs`).
    pub name: String,
    pub json: Value,
}

/// The calls import reads, as (service, call, member), for a client.
pub fn calls() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    CALLS.iter().map(|c| (c.service, c.name, c.key))
}

/// Reads answers an endpoint gave (see [`Answer`]) into an inventory.
pub fn read_answers(answers: Vec<Answer>, notes: Vec<String>) -> Res<Inventory> {
    let mut inv = Inventory {
        notes,
        ..Inventory::default()
    };
    let mut dump = Dump::default();
    for a in answers {
        let Some(c) = CALLS
            .iter()
            .find(|c| c.service == a.service && c.name == a.call)
        else {
            inv.notes
                .push(format!("{}: ignored: not a call import reads", a.name));
            continue;
        };
        check_call(c, &a.name, &a.json)?;
        dump.files
            .entry((c.service, c.name))
            .or_default()
            .push(File {
                name: a.name,
                suffix: a.key,
                json: a.json,
            });
    }
    fill(dump, inv)
}

fn fill(dump: Dump, mut inv: Inventory) -> Res<Inventory> {
    let items = |service, name| -> Res<Vec<J<'_>>> {
        let key = CALLS
            .iter()
            .find(|c| c.service == service && c.name == name)
            .expect("fill reads only calls CALLS lists")
            .key;
        let mut out = Vec::new();
        for f in dump.get(service, name) {
            out.extend(J::root(&f.name, &f.json).arr(key)?);
        }
        Ok(out)
    };
    for c in CALLS {
        if let Some(source) = c.marks {
            if !dump.get(c.service, c.name).is_empty() {
                inv.read.insert(source);
            }
        }
    }

    for v in items("ec2", "describe-vpcs")? {
        inv.vpcs.push(vpc(&v)?);
    }
    for s in items("ec2", "describe-subnets")? {
        inv.subnets.push(subnet(&s)?);
    }
    for g in items("ec2", "describe-security-groups")? {
        inv.sgs.push(group(&g)?);
    }
    for r in items("ec2", "describe-security-group-rules")? {
        inv.rules.push(group_rule(&r)?);
    }
    for r in items("ec2", "describe-instances")? {
        for i in r.arr("Instances")? {
            instance(&i, &mut inv)?;
        }
    }
    for n in items("ec2", "describe-network-interfaces")? {
        let e = eni(&n, None)?;
        // describe-network-interfaces is the fuller record.
        inv.enis.retain(|o| o.id != e.id);
        inv.enis.push(e);
    }
    for l in items("elbv2", "describe-load-balancers")? {
        inv.lbs.push(load_balancer(&l)?);
    }
    for f in dump.get("elbv2", "describe-load-balancer-attributes") {
        lb_attributes(f, &mut inv)?;
    }
    for t in items("elbv2", "describe-target-groups")? {
        inv.tgs.push(target_group(&t)?);
    }
    for f in dump.get("elbv2", "describe-target-health") {
        target_health(f, &mut inv)?;
    }
    for f in dump.get("elbv2", "describe-target-group-attributes") {
        let tg = target_group_of(f, &mut inv)?;
        let key = "target_health_state.unhealthy.connection_termination.enabled";
        if let Some(on) = bool_attribute(f, key)? {
            tg.connection_termination = Some(on);
        }
    }
    for l in items("elbv2", "describe-listeners")? {
        inv.listeners.push(listener(&l)?);
    }
    for s in items("ec2", "describe-vpc-endpoint-service-configurations")? {
        inv.services.push(service(&s)?);
    }
    for f in dump.get("ec2", "describe-vpc-endpoint-service-permissions") {
        let root = J::root(&f.name, &f.json);
        let svc = owner_of(
            f,
            "ServiceId",
            &mut inv.services,
            |s| (&s.id, &s.id),
            "endpoint service",
        )?;
        let mut list = Vec::new();
        for p in root.arr("AllowedPrincipals")? {
            list.push(p.req_str("Principal")?);
        }
        svc.principals = Some(list);
    }
    for e in items("ec2", "describe-vpc-endpoints")? {
        inv.endpoints.push(endpoint(&e)?);
    }
    for c in items("ec2", "describe-vpc-endpoint-connections")? {
        connection(&c, &mut inv)?;
    }
    for l in items("apigateway", "get-vpc-links")? {
        inv.links.push(Link {
            id: l.req_str("id")?,
            name: l.str("name")?,
            kind: LinkKind::Rest {
                targets: refs(&l, "targetArns")?,
            },
            ext: link_ext(&l)?,
            at: l.at.clone(),
        });
    }
    for l in items("apigatewayv2", "get-vpc-links")? {
        inv.links.push(Link {
            id: l.req_str("VpcLinkId")?,
            name: l.str("Name")?,
            kind: LinkKind::Http {
                subnets: refs(&l, "SubnetIds")?,
                groups: refs(&l, "SecurityGroupIds")?,
            },
            ext: link_ext(&l)?,
            at: l.at.clone(),
        });
    }
    for i in items("apigatewayv2", "get-integrations")? {
        inv.integrations.push(Integration {
            id: i.req_str("IntegrationId")?,
            link: integration_link(&i, ("ConnectionType", "ConnectionId"))?,
            uri: text(&i, "IntegrationUri")?,
            address: text(&i, "HyperlabAddress")?,
            port: i.int("HyperlabPort")?,
            protocol: i.str("HyperlabProtocol")?,
            at: i.at.clone(),
        });
    }
    for f in dump.get("servicediscovery", "list-instances") {
        let root = J::root(&f.name, &f.json);
        let id = match root.str("ServiceId")? {
            Some(id) => Some(id),
            None => f.suffix.clone(),
        };
        let mut instances = Vec::new();
        for i in root.arr("Instances")? {
            instances.push(cloud_map_instance(&i, "Attributes")?);
        }
        inv.cloud_maps.push(CloudMap {
            id,
            instances,
            vpc: one_ref(&root, "HyperlabVpcId")?,
            index: root.int("HyperlabIndex")?,
            at: root.at.clone(),
        });
    }
    for f in dump.get("ec2", "describe-network-acls") {
        let root = J::root(&f.name, &f.json);
        if let Some(m) = root.int_at("HyperlabNaclEntriesMax")? {
            inv.nacl_entries_max = Some(m);
        }
        for n in root.arr("NetworkAcls")? {
            inv.nacls.push(network_acl(&n)?);
        }
    }
    for r in items("ec2", "describe-route-tables")? {
        inv.route_tables.push(route_table(&r)?);
    }
    for p in items("ec2", "describe-vpc-peering-connections")? {
        inv.peerings.push(peering(&p)?);
    }
    for f in dump.get("ec2", "describe-internet-gateways") {
        gateways::internet_gateways(&J::root(&f.name, &f.json), &mut inv)?;
    }
    for g in items("ec2", "describe-nat-gateways")? {
        inv.nats.push(gateways::nat_gateway(&g)?);
    }
    for a in items("ec2", "describe-addresses")? {
        inv.addresses.push(gateways::address(&a)?);
    }
    Ok(inv)
}

/// The members naming a route's target, as `describe-route-tables` writes
/// them (at most one is set).
const ROUTE_TARGETS: [&str; 10] = [
    "GatewayId",
    "NatGatewayId",
    "VpcPeeringConnectionId",
    "TransitGatewayId",
    "NetworkInterfaceId",
    "InstanceId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "EgressOnlyInternetGatewayId",
    "CoreNetworkArn",
];

/// `describe-vpc-peering-connections`: one connection.
fn peering(p: &J<'_>) -> Res<Peering> {
    let side = |key: &str| -> Res<Ref> {
        let info = p.obj(key)?.ok_or_else(|| {
            p.at.key(key)
                .err("missing (expected an object with a VpcId)")
        })?;
        one_ref(&info, "VpcId")?.ok_or_else(|| info.at.key("VpcId").err("missing"))
    };
    let status = match p.obj("Status")? {
        Some(s) => s.str_at("Code")?,
        None => None,
    };
    Ok(Peering {
        id: p.req_str("VpcPeeringConnectionId")?,
        requester: side("RequesterVpcInfo")?,
        accepter: side("AccepterVpcInfo")?,
        status,
        at: p.at.clone(),
    })
}

/// `describe-route-tables`: one table, its routes and associations.
fn route_table(r: &J<'_>) -> Res<Rtb> {
    let mut routes = Vec::new();
    for x in r.arr("Routes")? {
        let mut target = None;
        for key in ROUTE_TARGETS {
            if let Some(t) = x.str_at(key)? {
                target = Some(t);
                break;
            }
        }
        let other = match x.str("DestinationIpv6CidrBlock")? {
            Some(d) => Some(d),
            None => x.str("DestinationPrefixListId")?,
        };
        routes.push(RtbRoute {
            destination: x.str_at("DestinationCidrBlock")?,
            other_destination: other,
            target,
            blackhole: x.str("State")?.as_deref() == Some("blackhole"),
            at: x.at.clone(),
        });
    }
    let (mut main, mut subnets) = (false, Vec::new());
    for a in r.arr("Associations")? {
        main |= a.bool("Main")?.unwrap_or(false);
        subnets.extend(one_ref(&a, "SubnetId")?);
    }
    Ok(Rtb {
        id: r.req_str("RouteTableId")?,
        name: r.name_tag()?,
        vpc: one_ref(r, "VpcId")?.ok_or_else(|| r.at.key("VpcId").err("missing"))?,
        main,
        routes,
        subnets,
        at: r.at.clone(),
    })
}

/// `describe-network-acls`: one ACL, its entries and associations.
fn network_acl(n: &J<'_>) -> Res<Nacl> {
    let mut entries = Vec::new();
    for e in n.arr("Entries")? {
        let egress = e
            .bool("Egress")?
            .ok_or_else(|| e.at.key("Egress").err("missing (expected a boolean)"))?;
        let ports = e.obj("PortRange")?;
        let icmp = e.obj("IcmpTypeCode")?;
        let int = |j: &Option<J<'_>>, key: &str| -> Res<Option<(i64, At)>> {
            match j {
                Some(j) => j.int_at(key),
                None => Ok(None),
            }
        };
        entries.push(NaclEntry {
            egress,
            rule: e.int_at("RuleNumber")?,
            action: e.str_at("RuleAction")?,
            protocol: e.str_at("Protocol")?,
            cidr: e.str_at("CidrBlock")?,
            ipv6: e.str("Ipv6CidrBlock")?,
            from: int(&ports, "From")?,
            to: int(&ports, "To")?,
            icmp_type: int(&icmp, "Type")?,
            icmp_code: int(&icmp, "Code")?,
            at: e.at.clone(),
        });
    }
    let mut subnets = Vec::new();
    for a in n.arr("Associations")? {
        subnets.extend(one_ref(&a, "SubnetId")?);
    }
    Ok(Nacl {
        id: n.req_str("NetworkAclId")?,
        name: n.name_tag()?,
        vpc: one_ref(n, "VpcId")?.ok_or_else(|| n.at.key("VpcId").err("missing"))?,
        is_default: n.bool("IsDefault")?.unwrap_or(false),
        entries,
        subnets,
        at: n.at.clone(),
    })
}

/// `Groups: [{GroupId}]` (ENIs, endpoints) or `SecurityGroups: [{GroupId}]`
/// (instances).
fn group_refs(j: &J<'_>, key: &str) -> Res<Vec<Ref>> {
    let mut out = Vec::new();
    for g in j.arr(key)? {
        if let Value::String(s) = g.v {
            out.push(Ref {
                id: s.clone(),
                at: g.at.clone(),
            });
        } else if let Some(r) = one_ref(&g, "GroupId")? {
            out.push(r);
        }
    }
    Ok(out)
}

fn text(j: &J<'_>, key: &str) -> Res<Option<(String, At)>> {
    let s = j.str(key)?;
    Ok(s.zip(j.get(key)).map(|(s, at)| (s, at.at)))
}

fn vpc(v: &J<'_>) -> Res<Vpc> {
    let cidr = text(v, "CidrBlock")?;
    let mut secondary = Vec::new();
    for a in v.arr("CidrBlockAssociationSet")? {
        let state = a
            .obj("CidrBlockState")?
            .map(|s| s.str("State"))
            .transpose()?
            .flatten();
        if matches!(
            state.as_deref(),
            Some("disassociated" | "disassociating" | "failed")
        ) {
            continue;
        }
        if let Some(c) = text(&a, "CidrBlock")? {
            if cidr.as_ref().is_none_or(|p| p.0 != c.0) {
                secondary.push(c);
            }
        }
    }
    let mut ipv6 = Vec::new();
    for a in v.arr("Ipv6CidrBlockAssociationSet")? {
        if let Some(c) = text(&a, "Ipv6CidrBlock")? {
            ipv6.push(c);
        }
    }
    Ok(Vpc {
        id: v.req_str("VpcId")?,
        name: v.name_tag()?,
        cidr,
        secondary,
        ipv6,
        is_default: v.bool("IsDefault")?.unwrap_or(false),
        at: v.at.clone(),
    })
}

fn subnet(s: &J<'_>) -> Res<Subnet> {
    let mut ipv6 = Vec::new();
    for a in s.arr("Ipv6CidrBlockAssociationSet")? {
        if let Some(c) = text(&a, "Ipv6CidrBlock")? {
            ipv6.push(c);
        }
    }
    Ok(Subnet {
        id: s.req_str("SubnetId")?,
        name: s.name_tag()?,
        vpc: one_ref(s, "VpcId")?,
        cidr: text(s, "CidrBlock")?,
        az: match s.str("AvailabilityZoneId")? {
            Some(az) => Some(az),
            None => s.str("AvailabilityZone")?,
        },
        ipv6,
        at: s.at.clone(),
    })
}

/// One AWS permission (`IpPermissions[i]`), split per peer.
fn permission(p: &J<'_>, egress: bool) -> Res<Vec<Rule>> {
    let protocol = p.str("IpProtocol")?.unwrap_or_else(|| "-1".into());
    let from = p.int("FromPort")?;
    let to = p.int("ToPort")?;
    let rule = |peer, at: &At| Rule {
        egress,
        protocol: protocol.clone(),
        from,
        to,
        peer,
        at: at.clone(),
    };
    let mut out = Vec::new();
    for r in p.arr("IpRanges")? {
        let c = r.req_str("CidrIp")?;
        out.push(rule(Peer::Cidr(c), &r.at.key("CidrIp")));
    }
    for r in p.arr("Ipv6Ranges")? {
        let c = r.req_str("CidrIpv6")?;
        out.push(rule(Peer::Ipv6(c), &r.at));
    }
    for r in p.arr("PrefixListIds")? {
        let c = r.req_str("PrefixListId")?;
        out.push(rule(Peer::PrefixList(c), &r.at));
    }
    for r in p.arr("UserIdGroupPairs")? {
        let id = r.req_str("GroupId")?;
        if let Some(pcx) = r.str("VpcPeeringConnectionId")? {
            out.push(rule(
                Peer::ForeignGroup(format!("{id} through {pcx}")),
                &r.at,
            ));
        } else {
            out.push(rule(
                Peer::Group(Ref {
                    id,
                    at: r.at.key("GroupId"),
                }),
                &r.at,
            ));
        }
    }
    Ok(out)
}

fn group(g: &J<'_>) -> Res<Sg> {
    let rules = |key, egress| -> Res<Option<Vec<Rule>>> {
        if !g.has(key) {
            return Ok(None);
        }
        let mut out = Vec::new();
        for p in g.arr(key)? {
            out.extend(permission(&p, egress)?);
        }
        Ok(Some(out))
    };
    Ok(Sg {
        id: g.req_str("GroupId")?,
        name: g.name_tag()?,
        group_name: g.str("GroupName")?,
        vpc: one_ref(g, "VpcId")?,
        ingress: rules("IpPermissions", false)?,
        egress: rules("IpPermissionsEgress", true)?,
        at: g.at.clone(),
    })
}

fn group_rule(r: &J<'_>) -> Res<(Ref, Rule)> {
    let group = one_ref(r, "GroupId")?.ok_or_else(|| r.at.key("GroupId").err("missing"))?;
    let peer = if let Some(c) = r.str("CidrIpv4")? {
        Peer::Cidr(c)
    } else if let Some(c) = r.str("CidrIpv6")? {
        Peer::Ipv6(c)
    } else if let Some(p) = r.str("PrefixListId")? {
        Peer::PrefixList(p)
    } else if let Some(g) = r.obj("ReferencedGroupInfo")? {
        match (g.str("VpcPeeringConnectionId")?, one_ref(&g, "GroupId")?) {
            (Some(pcx), Some(id)) => Peer::ForeignGroup(format!("{} through {pcx}", id.id)),
            (None, Some(id)) => Peer::Group(id),
            _ => return Err(g.at.key("GroupId").err("missing")),
        }
    } else {
        return Err(r.err(
            "a rule without a peer (expected CidrIpv4, CidrIpv6, PrefixListId or \
             ReferencedGroupInfo)",
        ));
    };
    let at = match &peer {
        Peer::Cidr(_) => r.at.key("CidrIpv4"),
        _ => r.at.clone(),
    };
    Ok((
        group,
        Rule {
            egress: r.bool("IsEgress")?.unwrap_or(false),
            protocol: r.str("IpProtocol")?.unwrap_or_else(|| "-1".into()),
            from: r.int("FromPort")?,
            to: r.int("ToPort")?,
            peer,
            at,
        },
    ))
}

fn eni(n: &J<'_>, instance: Option<&str>) -> Res<Eni> {
    let kind = n
        .str("InterfaceType")?
        .unwrap_or_else(|| "interface".into());
    let description = n.str("Description")?.unwrap_or_default();
    let requester_managed = n.bool("RequesterManaged")?.unwrap_or(false);
    let managed = if let Some(lb) = description.strip_prefix("ELB ") {
        // "ELB net/NAME/ID" or "ELB app/NAME/ID": the tail of the LB's ARN.
        Managed::Lb(lb.to_string())
    } else if kind == "vpc_endpoint" || description.starts_with("VPC Endpoint Interface") {
        Managed::Endpoint
    } else if kind != "interface" || requester_managed {
        Managed::Other(if description.is_empty() {
            format!("interface type {kind}")
        } else {
            format!("interface type {kind}, \"{description}\"")
        })
    } else {
        Managed::No
    };
    let attached = match n.obj("Attachment")? {
        Some(a) => a.str("InstanceId")?,
        None => None,
    };
    Ok(Eni {
        id: n.req_str("NetworkInterfaceId")?,
        name: n.name_tag()?,
        subnet: one_ref(n, "SubnetId")?,
        ip: text(n, "PrivateIpAddress")?,
        groups: group_refs(n, "Groups")?,
        instance: attached.or(instance.map(str::to_string)),
        managed,
        public_ip: gateways::association(n)?,
        at: n.at.clone(),
    })
}

fn instance(i: &J<'_>, inv: &mut Inventory) -> Res<()> {
    let id = i.req_str("InstanceId")?;
    let state = match i.obj("State")? {
        Some(s) => s.str("Name")?,
        None => None,
    };
    for n in i.arr("NetworkInterfaces")? {
        // An instance's own listing has no SubnetId on some emulators.
        let mut e = eni(&n, Some(&id))?;
        if e.subnet.is_none() {
            e.subnet = one_ref(i, "SubnetId")?;
        }
        inv.enis.retain(|o| o.id != e.id);
        inv.enis.push(e);
    }
    inv.instances.push(Instance {
        id,
        name: i.name_tag()?,
        state,
        subnet: one_ref(i, "SubnetId")?,
        ip: text(i, "PrivateIpAddress")?,
        groups: group_refs(i, "SecurityGroups")?,
        public_ip: text(i, "PublicIpAddress")?,
        at: i.at.clone(),
    });
    Ok(())
}

/// What an export says about a link beyond AWS's fields (see [`LinkExt`]).
fn link_ext(l: &J<'_>) -> Res<LinkExt> {
    let mut places = Vec::new();
    for p in l.arr("HyperlabSubnets")? {
        let s = one_ref(&p, "SubnetId")?.ok_or_else(|| p.at.key("SubnetId").err("missing"))?;
        places.push((s, text(&p, "PrivateIpAddress")?));
    }
    Ok(LinkExt {
        index: l.int("HyperlabIndex")?,
        vpc: one_ref(l, "HyperlabVpcId")?,
        places,
        groups: refs(l, "HyperlabSecurityGroupIds")?,
        addresses: l.strs("HyperlabAddresses")?,
    })
}

fn load_balancer(l: &J<'_>) -> Res<Lb> {
    let mut zones = Vec::new();
    for z in l.arr("AvailabilityZones")? {
        let Some(subnet) = one_ref(&z, "SubnetId")? else {
            return Err(z.at.key("SubnetId").err("missing (expected a subnet id)"));
        };
        let mut ip = None;
        for a in z.arr("LoadBalancerAddresses")? {
            if let Some(p) = text(&a, "PrivateIPv4Address")? {
                ip = Some(p);
            }
        }
        zones.push((subnet, ip));
    }
    Ok(Lb {
        arn: l.req_str("LoadBalancerArn")?,
        name: l.req_str("LoadBalancerName")?,
        kind: l.str("Type")?.unwrap_or_else(|| "application".into()),
        zones,
        groups: refs(l, "SecurityGroups")?,
        cross_zone: None,
        alb_nodes: if l.has("HyperlabNodes") {
            Some(refs(l, "HyperlabNodes")?)
        } else {
            None
        },
        source_ports: match l.arr("HyperlabSourcePorts")?.as_slice() {
            [] => None,
            [lo, hi] => Some((
                lo.v.as_i64().ok_or_else(|| lo.err("expected a port"))?,
                hi.v.as_i64().ok_or_else(|| hi.err("expected a port"))?,
            )),
            _ => return Err(l.at.key("HyperlabSourcePorts").err("expected [low, high]")),
        },
        at: l.at.clone(),
    })
}

/// Finds the resource a per-resource file is about: its KEY, its own
/// `member` (an ARN), or the only one there is.
fn owner_of<'i, T>(
    f: &File,
    member: &str,
    all: &'i mut [T],
    name: impl Fn(&T) -> (&str, &str),
    what: &str,
) -> Res<&'i mut T> {
    let root = J::root(&f.name, &f.json);
    let arn = root.str(member)?;
    let n = all.len();
    let found = all.iter().position(|t| {
        let (nm, a) = name(t);
        match (&f.suffix, &arn) {
            (_, Some(x)) => x == a,
            (Some(s), None) => s == nm || a.ends_with(s.as_str()),
            (None, None) => n == 1,
        }
    });
    match found {
        Some(i) => Ok(&mut all[i]),
        None => Err(root.err(match (&f.suffix, arn) {
            (_, Some(a)) => format!("unknown {what} {a}"),
            (Some(s), None) => format!("unknown {what} {s} (the file name's KEY)"),
            (None, None) => format!(
                "which {what}? There are {n}: name the file CALL-NAME.json after the {what}, \
                 or add a \"{member}\" member"
            ),
        })),
    }
}

fn lb_attributes(f: &File, inv: &mut Inventory) -> Res<()> {
    let lb = owner_of(
        f,
        "LoadBalancerArn",
        &mut inv.lbs,
        |l| (&l.name, &l.arn),
        "load balancer",
    )?;
    if let Some(on) = bool_attribute(f, "load_balancing.cross_zone.enabled")? {
        lb.cross_zone = Some(on);
    }
    Ok(())
}

/// The value of the boolean attribute `key` in a `describe-*-attributes`
/// file (`Attributes[].Key/Value`; the last one wins), if it lists it.
fn bool_attribute(f: &File, key: &str) -> Res<Option<bool>> {
    let mut value = None;
    for a in J::root(&f.name, &f.json).arr("Attributes")? {
        if a.str("Key")?.as_deref() == Some(key) {
            value = Some(a.str("Value")?.as_deref() == Some("true"));
        }
    }
    Ok(value)
}

/// The target group a per-group file (`describe-target-health`,
/// `describe-target-group-attributes`) is about.
fn target_group_of<'i>(f: &File, inv: &'i mut Inventory) -> Res<&'i mut Tg> {
    owner_of(
        f,
        "TargetGroupArn",
        &mut inv.tgs,
        |t| (&t.name, &t.arn),
        "target group",
    )
}

fn target_group(t: &J<'_>) -> Res<Tg> {
    Ok(Tg {
        arn: t.req_str("TargetGroupArn")?,
        name: t.req_str("TargetGroupName")?,
        protocol: t.str("Protocol")?,
        port: t.int("Port")?,
        vpc: one_ref(t, "VpcId")?,
        target_type: t.str("TargetType")?.unwrap_or_else(|| "instance".into()),
        health: Health {
            enabled: t.bool("HealthCheckEnabled")?.unwrap_or(true),
            protocol: t.str("HealthCheckProtocol")?,
            port: t.str("HealthCheckPort")?,
            path: t.str("HealthCheckPath")?,
            interval_s: t.int("HealthCheckIntervalSeconds")?,
            timeout_s: t.int("HealthCheckTimeoutSeconds")?,
            healthy: t.int("HealthyThresholdCount")?,
            unhealthy: t.int("UnhealthyThresholdCount")?,
            interval_ms: t.int("HyperlabHealthCheckIntervalMillis")?,
            timeout_ms: t.int("HyperlabHealthCheckTimeoutMillis")?,
        },
        targets: None,
        connection_termination: None,
        at: t.at.clone(),
    })
}

fn target_health(f: &File, inv: &mut Inventory) -> Res<()> {
    let root = J::root(&f.name, &f.json);
    let tg = target_group_of(f, inv)?;
    let targets = tg.targets.get_or_insert_with(Vec::new);
    for d in root.arr("TargetHealthDescriptions")? {
        let Some(t) = d.obj("Target")? else {
            return Err(d.at.key("Target").err("missing (expected {Id, Port})"));
        };
        let state = match d.obj("TargetHealth")? {
            Some(h) => h.str("State")?,
            None => None,
        };
        if state.as_deref() == Some("draining") {
            continue;
        }
        targets.push(Target {
            id: t.req_str("Id")?,
            port: t.int("Port")?,
            at: t.at.clone(),
        });
    }
    Ok(())
}

/// `describe-listeners`' names for a listener's forward actions.
const FORWARD: ForwardKeys = ForwardKeys {
    kind: "Type",
    tg: "TargetGroupArn",
    forward: "ForwardConfig",
    groups: "TargetGroups",
    arn: "TargetGroupArn",
};

fn listener(l: &J<'_>) -> Res<Listener> {
    let tgs = forward_target_groups(l.arr("DefaultActions")?, &FORWARD, |a, k| a.obj(k))?;
    Ok(Listener {
        arn: l.str("ListenerArn")?,
        lb: one_ref(l, "LoadBalancerArn")?
            .ok_or_else(|| l.at.key("LoadBalancerArn").err("missing"))?,
        protocol: l.str("Protocol")?,
        port: l.int("Port")?,
        tgs,
        at: l.at.clone(),
    })
}

fn service(s: &J<'_>) -> Res<Service> {
    Ok(Service {
        id: s.req_str("ServiceId")?,
        service_name: s.str("ServiceName")?,
        acceptance_required: s.bool("AcceptanceRequired")?,
        nlbs: refs(s, "NetworkLoadBalancerArns")?,
        gwlbs: s.arr("GatewayLoadBalancerArns")?.len(),
        principals: None,
        at: s.at.clone(),
    })
}

fn endpoint(e: &J<'_>) -> Res<Endpoint> {
    Ok(Endpoint {
        id: e.req_str("VpcEndpointId")?,
        name: e.name_tag()?,
        kind: e.str("VpcEndpointType")?,
        vpc: one_ref(e, "VpcId")?,
        service: one_ref(e, "ServiceName")?,
        subnets: refs(e, "SubnetIds")?,
        groups: group_refs(e, "Groups")?,
        enis: refs(e, "NetworkInterfaceIds")?,
        state: e.str("State")?,
        owner: e.str("OwnerId")?,
        principal: e.str("HyperlabPrincipal")?,
        at: e.at.clone(),
    })
}

/// The provider's view of an endpoint: its state (and owner) win.
fn connection(c: &J<'_>, inv: &mut Inventory) -> Res<()> {
    let Some(id) = c.str("VpcEndpointId")? else {
        return Err(c.at.key("VpcEndpointId").err("missing"));
    };
    let Some(e) = inv.endpoints.iter_mut().find(|e| e.id == id) else {
        if inv.read.contains(&Source::Endpoints) {
            return Err(c
                .at
                .key("VpcEndpointId")
                .err(format!("unknown endpoint {id}")));
        }
        inv.notes.push(format!(
            "{}: {}: endpoint connection {id} not used: describe-vpc-endpoints is not in the \
             dump",
            c.at.file, c.at.path
        ));
        return Ok(());
    };
    if let Some(s) = c.str("VpcEndpointState")? {
        e.state = Some(s);
    }
    if let Some(o) = c.str("VpcEndpointOwner")? {
        e.owner = Some(o);
    }
    Ok(())
}
