//! `dataplane import terraform FILE`: the JSON `terraform show -json`
//! prints (its documented format: `values.root_module`, its `resources`
//! and `child_modules`), read into an [`Inventory`]. Each resource's
//! attributes are under `values`, as the AWS provider names them; nested
//! blocks are arrays of objects.

use std::path::Path;

use super::inventory::*;
use super::json::{parse, At, ImportError, Res, J};
use super::{gateways, unsupported};

/// Every resource of the module and its children, depth first.
fn resources<'a>(module: &J<'a>, out: &mut Vec<J<'a>>) -> Res<()> {
    out.extend(module.arr("resources")?);
    for child in module.arr("child_modules")? {
        resources(&child, out)?;
    }
    Ok(())
}

/// The first block of a nested block list (`health_check = [{...}]`).
fn block<'a>(j: &J<'a>, key: &str) -> Res<Option<J<'a>>> {
    Ok(j.arr(key)?.into_iter().next())
}

/// `aws_lb_listener`'s names for its forward actions.
const FORWARD: ForwardKeys = ForwardKeys {
    kind: "type",
    tg: "target_group_arn",
    forward: "forward",
    groups: "target_group",
    arn: "arn",
};

/// The attributes of the resource at `r` (`values`).
fn values<'a>(r: &J<'a>) -> Res<J<'a>> {
    r.obj("values")?.ok_or_else(|| {
        r.at.key("values")
            .err("missing (expected the resource's attributes)")
    })
}

pub fn read(file: &Path) -> Res<Inventory> {
    let name = file.display().to_string();
    let src = std::fs::read_to_string(file).map_err(|e| ImportError {
        file: name.clone(),
        path: String::new(),
        message: format!("cannot read the file: {e}"),
    })?;
    let json = parse(&name, &src)?;
    let root = J::root(&name, &json);
    if !json.is_object() {
        return Err(root.err("not `terraform show -json` output: expected an object"));
    }
    let Some(module) = root
        .obj("values")?
        .map(|v| v.obj("root_module"))
        .transpose()?
        .flatten()
    else {
        let hint = if root.has("resources") && root.has("version") {
            " (this is a raw state file: run `terraform show -json` and import its output)"
        } else {
            ""
        };
        return Err(root.err(format!(
            "not `terraform show -json` output: no values.root_module{hint}"
        )));
    };
    let mut all = Vec::new();
    resources(&module, &mut all)?;
    let mut inv = Inventory::default();
    // The state holds every kind it has: a reference to a missing resource is an error.
    inv.read.extend([
        Source::Vpcs,
        Source::Subnets,
        Source::SecurityGroups,
        Source::NetworkInterfaces,
        Source::Instances,
        Source::LoadBalancers,
        Source::TargetGroups,
        Source::Services,
        Source::Endpoints,
    ]);
    // Resources first, then what attaches to them.
    let mut later = Vec::new();
    // The VPCs' `main_route_table_id`s.
    let mut vpc_mains: Vec<String> = Vec::new();
    for r in all {
        let kind = r.req_str("type")?;
        let address = r.str("address")?.unwrap_or_else(|| kind.clone());
        if r.str("mode")?.as_deref() == Some("data") {
            inv.notes.push(format!(
                "{}: {}: ignored: data source {address}",
                r.at.file, r.at.path
            ));
            continue;
        }
        if !kind.starts_with("aws_") {
            inv.notes.push(format!(
                "{}: {}: ignored: {address} is not an AWS resource",
                r.at.file, r.at.path
            ));
            continue;
        }
        let v = values(&r)?;
        match kind.as_str() {
            "aws_vpc" | "aws_default_vpc" => {
                // The VPC's main table, by id (an `aws_route_table` that
                // is the main one has no other mark).
                if let Some(t) = v.str("main_route_table_id")? {
                    vpc_mains.push(t);
                }
                inv.vpcs.push(Vpc {
                    id: v.req_str("id")?,
                    name: v.name_tag()?,
                    cidr: v.str_at("cidr_block")?,
                    secondary: Vec::new(),
                    ipv6: v.str_at("ipv6_cidr_block")?.into_iter().collect(),
                    is_default: kind == "aws_default_vpc",
                    at: r.at.clone(),
                })
            }
            "aws_subnet" | "aws_default_subnet" => inv.subnets.push(Subnet {
                id: v.req_str("id")?,
                name: v.name_tag()?,
                vpc: one_ref(&v, "vpc_id")?,
                cidr: v.str_at("cidr_block")?,
                az: match v.str("availability_zone_id")? {
                    Some(az) => Some(az),
                    None => v.str("availability_zone")?,
                },
                ipv6: v.str_at("ipv6_cidr_block")?.into_iter().collect(),
                at: r.at.clone(),
            }),
            "aws_security_group" | "aws_default_security_group" => {
                let id = v.req_str("id")?;
                let rules = |key, egress| -> Res<Option<Vec<Rule>>> {
                    if !v.has(key) {
                        return Ok(None);
                    }
                    let mut out = Vec::new();
                    for b in v.arr(key)? {
                        out.extend(sg_block(&b, &id, egress)?);
                    }
                    Ok(Some(out))
                };
                inv.sgs.push(Sg {
                    name: v.name_tag()?,
                    group_name: if kind == "aws_default_security_group" {
                        Some("default".into())
                    } else {
                        v.str("name")?
                    },
                    vpc: one_ref(&v, "vpc_id")?,
                    ingress: rules("ingress", false)?,
                    egress: rules("egress", true)?,
                    at: r.at.clone(),
                    id,
                });
            }
            "aws_instance" => {
                let id = v.req_str("id")?;
                let state = v.str("instance_state")?;
                let eni = v.str("primary_network_interface_id")?;
                let groups = refs(&v, "vpc_security_group_ids")?;
                let public_ip = v.str_at("public_ip")?;
                if let Some(e) = eni {
                    inv.enis.push(Eni {
                        id: e,
                        name: None,
                        subnet: one_ref(&v, "subnet_id")?,
                        ip: v.str_at("private_ip")?,
                        groups: groups.clone(),
                        instance: Some(id.clone()),
                        managed: Managed::No,
                        public_ip: public_ip.clone(),
                        at: r.at.clone(),
                    });
                }
                inv.instances.push(Instance {
                    name: v.name_tag()?,
                    state,
                    subnet: one_ref(&v, "subnet_id")?,
                    ip: v.str_at("private_ip")?,
                    groups,
                    public_ip,
                    at: r.at.clone(),
                    id,
                });
            }
            "aws_lb" | "aws_alb" => {
                let mut zones = Vec::new();
                for m in v.arr("subnet_mapping")? {
                    let s = one_ref(&m, "subnet_id")?
                        .ok_or_else(|| m.at.key("subnet_id").err("missing"))?;
                    zones.push((s, m.str_at("private_ipv4_address")?));
                }
                if zones.is_empty() {
                    zones = refs(&v, "subnets")?
                        .into_iter()
                        .map(|s| (s, None))
                        .collect();
                }
                inv.lbs.push(Lb {
                    arn: v.req_str("arn")?,
                    name: v.req_str("name")?,
                    kind: v
                        .str("load_balancer_type")?
                        .unwrap_or_else(|| "application".into()),
                    zones,
                    groups: refs(&v, "security_groups")?,
                    cross_zone: v.bool("enable_cross_zone_load_balancing")?,
                    alb_nodes: None,
                    source_ports: None,
                    at: r.at.clone(),
                });
            }
            "aws_lb_target_group" | "aws_alb_target_group" => {
                let h = block(&v, "health_check")?;
                let hv = |key: &str| -> Res<Option<i64>> {
                    match &h {
                        Some(h) => h.int(key),
                        None => Ok(None),
                    }
                };
                let hs = |key: &str| -> Res<Option<String>> {
                    match &h {
                        Some(h) => h.str(key),
                        None => Ok(None),
                    }
                };
                inv.tgs.push(Tg {
                    arn: v.req_str("arn")?,
                    name: v.req_str("name")?,
                    protocol: v.str("protocol")?,
                    port: v.int("port")?,
                    vpc: one_ref(&v, "vpc_id")?,
                    target_type: v.str("target_type")?.unwrap_or_else(|| "instance".into()),
                    health: Health {
                        enabled: match &h {
                            Some(h) => h.bool("enabled")?.unwrap_or(true),
                            None => true,
                        },
                        protocol: hs("protocol")?,
                        port: hs("port")?,
                        path: hs("path")?,
                        interval_s: hv("interval")?,
                        timeout_s: hv("timeout")?,
                        healthy: hv("healthy_threshold")?,
                        unhealthy: hv("unhealthy_threshold")?,
                        interval_ms: None,
                        timeout_ms: None,
                    },
                    targets: Some(Vec::new()),
                    // Not `connection_termination` (that one is about deregistration).
                    connection_termination: match block(&v, "target_health_state")? {
                        Some(t) => t.bool("enable_unhealthy_connection_termination")?,
                        None => None,
                    },
                    at: r.at.clone(),
                });
            }
            "aws_vpc_endpoint_service" => inv.services.push(Service {
                id: v.req_str("id")?,
                service_name: v.str("service_name")?,
                acceptance_required: v.bool("acceptance_required")?,
                nlbs: refs(&v, "network_load_balancer_arns")?,
                gwlbs: v.arr("gateway_load_balancer_arns")?.len(),
                principals: Some(
                    v.strs("allowed_principals")?
                        .into_iter()
                        .map(|p| p.0)
                        .collect(),
                ),
                at: r.at.clone(),
            }),
            "aws_vpc_endpoint" => {
                let id = v.req_str("id")?;
                let mut enis = Vec::new();
                for c in v.arr("subnet_configuration")? {
                    let Some(s) = one_ref(&c, "subnet_id")? else {
                        continue;
                    };
                    let eni = format!("{id}/{}", s.id);
                    enis.push(Ref {
                        id: eni.clone(),
                        at: c.at.clone(),
                    });
                    inv.enis.push(Eni {
                        id: eni,
                        name: None,
                        subnet: Some(s),
                        ip: c.str_at("ipv4")?,
                        groups: Vec::new(),
                        instance: None,
                        managed: Managed::Endpoint,
                        public_ip: None,
                        at: c.at.clone(),
                    });
                }
                inv.endpoints.push(Endpoint {
                    name: v.name_tag()?,
                    kind: v.str("vpc_endpoint_type")?,
                    vpc: one_ref(&v, "vpc_id")?,
                    service: one_ref(&v, "service_name")?,
                    subnets: refs(&v, "subnet_ids")?,
                    groups: refs(&v, "security_group_ids")?,
                    enis,
                    state: v.str("state")?,
                    owner: v.str("owner_id")?,
                    principal: None,
                    at: r.at.clone(),
                    id,
                });
            }
            "aws_api_gateway_vpc_link" => inv.links.push(Link {
                id: v.req_str("id")?,
                name: v.str("name")?,
                kind: LinkKind::Rest {
                    targets: refs(&v, "target_arns")?,
                },
                ext: LinkExt::default(),
                at: r.at.clone(),
            }),
            "aws_apigatewayv2_vpc_link" => inv.links.push(Link {
                id: v.req_str("id")?,
                name: v.str("name")?,
                kind: LinkKind::Http {
                    subnets: refs(&v, "subnet_ids")?,
                    groups: refs(&v, "security_group_ids")?,
                },
                ext: LinkExt::default(),
                at: r.at.clone(),
            }),
            "aws_vpc_peering_connection" => {
                let req = |key: &str| -> Res<Ref> {
                    one_ref(&v, key)?.ok_or_else(|| v.at.key(key).err("missing"))
                };
                inv.peerings.push(Peering {
                    id: v.req_str("id")?,
                    requester: req("vpc_id")?,
                    accepter: req("peer_vpc_id")?,
                    status: v.str_at("accept_status")?,
                    at: r.at.clone(),
                });
            }
            "aws_internet_gateway" => inv.igws.push(gateways::tf_internet_gateway(&v, &r.at)?),
            "aws_nat_gateway" => inv.nats.push(gateways::tf_nat_gateway(&v, &r.at)?),
            "aws_eip" => inv.addresses.push(gateways::tf_eip(&v, &r.at)?),
            _ => later.push((kind, address, r)),
        }
    }
    for (kind, address, r) in later {
        let v = values(&r)?;
        match kind.as_str() {
            "aws_internet_gateway_attachment" => {
                gateways::tf_internet_gateway_attachment(&v, &mut inv)?
            }
            "aws_eip_association" => gateways::tf_eip_association(&v, &mut inv)?,
            "aws_network_interface" => {
                let instance = match block(&v, "attachment")? {
                    Some(a) => a.str("instance")?,
                    None => None,
                };
                let id = v.req_str("id")?;
                let ip = match v.str_at("private_ip")? {
                    Some(ip) => Some(ip),
                    None => v.strs("private_ips")?.into_iter().next(),
                };
                let managed = match v.str("interface_type")?.as_deref() {
                    None | Some("interface") => Managed::No,
                    Some(t) => Managed::Other(format!("interface type {t}")),
                };
                // An instance's public address stays with its primary ENI.
                let public_ip = inv
                    .enis
                    .iter()
                    .find(|e| e.id == id)
                    .and_then(|e| e.public_ip.clone());
                inv.enis.retain(|e| e.id != id);
                inv.enis.push(Eni {
                    name: v.name_tag()?,
                    subnet: one_ref(&v, "subnet_id")?,
                    ip,
                    groups: refs(&v, "security_groups")?,
                    instance,
                    managed,
                    public_ip,
                    at: r.at.clone(),
                    id,
                });
            }
            "aws_vpc_security_group_ingress_rule" | "aws_vpc_security_group_egress_rule" => {
                let group = one_ref(&v, "security_group_id")?
                    .ok_or_else(|| v.at.key("security_group_id").err("missing"))?;
                let (peer, at) = if let Some((c, at)) = v.str_at("cidr_ipv4")? {
                    (Peer::Cidr(c), at)
                } else if let Some((c, _)) = v.str_at("cidr_ipv6")? {
                    (Peer::Ipv6(c), v.at.clone())
                } else if let Some((p, _)) = v.str_at("prefix_list_id")? {
                    (Peer::PrefixList(p), v.at.clone())
                } else if let Some(g) = one_ref(&v, "referenced_security_group_id")? {
                    let at = g.at.clone();
                    (Peer::Group(g), at)
                } else {
                    return Err(v.err(
                        "a rule without a peer (expected cidr_ipv4, cidr_ipv6, prefix_list_id \
                         or referenced_security_group_id)",
                    ));
                };
                inv.rules.push((
                    group,
                    Rule {
                        egress: kind.ends_with("egress_rule"),
                        protocol: v.str("ip_protocol")?.unwrap_or_else(|| "-1".into()),
                        from: v.int("from_port")?,
                        to: v.int("to_port")?,
                        peer,
                        at,
                    },
                ));
            }
            "aws_security_group_rule" => {
                let group = one_ref(&v, "security_group_id")?
                    .ok_or_else(|| v.at.key("security_group_id").err("missing"))?;
                let egress = v.str("type")?.as_deref() == Some("egress");
                let id = group.id.clone();
                for rule in sg_block(&v, &id, egress)? {
                    inv.rules.push((group.clone(), rule));
                }
                if let Some(g) = one_ref(&v, "source_security_group_id")? {
                    inv.rules.push((
                        group.clone(),
                        Rule {
                            egress,
                            protocol: v.str("protocol")?.unwrap_or_else(|| "-1".into()),
                            from: v.int("from_port")?,
                            to: v.int("to_port")?,
                            at: g.at.clone(),
                            peer: Peer::Group(g),
                        },
                    ));
                }
            }
            "aws_network_acl" | "aws_default_network_acl" => {
                let mut entries = Vec::new();
                for (key, egress) in [("ingress", false), ("egress", true)] {
                    for b in v.arr(key)? {
                        entries.push(nacl_entry(&b, egress, "rule_no", "action")?);
                    }
                }
                inv.nacls.push(Nacl {
                    id: v.req_str("id")?,
                    name: v.name_tag()?,
                    vpc: one_ref(&v, "vpc_id")?.ok_or_else(|| v.at.key("vpc_id").err("missing"))?,
                    is_default: kind == "aws_default_network_acl",
                    entries,
                    subnets: refs(&v, "subnet_ids")?,
                    at: r.at.clone(),
                });
            }
            "aws_route_table" | "aws_default_route_table" => {
                let mut routes = Vec::new();
                for b in v.arr("route")? {
                    routes.push(tf_route(&b, "cidr_block", "ipv6_cidr_block")?);
                }
                inv.route_tables.push(Rtb {
                    id: v.req_str("id")?,
                    name: v.name_tag()?,
                    vpc: one_ref(&v, "vpc_id")?.ok_or_else(|| v.at.key("vpc_id").err("missing"))?,
                    main: kind == "aws_default_route_table",
                    routes,
                    subnets: Vec::new(),
                    at: r.at.clone(),
                });
            }
            "aws_vpc_peering_connection_accepter" => {
                let p = one_ref(&v, "vpc_peering_connection_id")?
                    .ok_or_else(|| v.at.key("vpc_peering_connection_id").err("missing"))?;
                let Some(x) = inv.peerings.iter_mut().find(|x| x.id == p.id) else {
                    return Err(p.at.err(format!("unknown VPC peering connection {}", p.id)));
                };
                if let Some(s) = v.str_at("accept_status")? {
                    x.status = Some(s);
                }
            }
            "aws_route" => {
                let table = one_ref(&v, "route_table_id")?
                    .ok_or_else(|| v.at.key("route_table_id").err("missing"))?;
                let route = tf_route(&v, "destination_cidr_block", "destination_ipv6_cidr_block")?;
                inv.routes.push((table, route));
            }
            "aws_route_table_association" => {
                let table = one_ref(&v, "route_table_id")?
                    .ok_or_else(|| v.at.key("route_table_id").err("missing"))?;
                match one_ref(&v, "subnet_id")? {
                    Some(subnet) => inv.route_associations.push((table, subnet)),
                    None => inv.unsupported.push(Unsupported {
                        what: format!("{address} (gateway association of {})", table.id),
                        reason: "gateway route tables (edge associations) are not modelled"
                            .to_string(),
                        at: r.at.clone(),
                    }),
                }
            }
            "aws_main_route_table_association" => {
                let table = one_ref(&v, "route_table_id")?
                    .ok_or_else(|| v.at.key("route_table_id").err("missing"))?;
                let vpc =
                    one_ref(&v, "vpc_id")?.ok_or_else(|| v.at.key("vpc_id").err("missing"))?;
                inv.main_route_tables.push((table, vpc));
            }
            "aws_network_acl_rule" => {
                let acl = one_ref(&v, "network_acl_id")?
                    .ok_or_else(|| v.at.key("network_acl_id").err("missing"))?;
                let egress = v.bool("egress")?.unwrap_or(false);
                inv.nacl_entries
                    .push((acl, nacl_entry(&v, egress, "rule_number", "rule_action")?));
            }
            "aws_network_acl_association" => {
                let acl = one_ref(&v, "network_acl_id")?
                    .ok_or_else(|| v.at.key("network_acl_id").err("missing"))?;
                let subnet = one_ref(&v, "subnet_id")?
                    .ok_or_else(|| v.at.key("subnet_id").err("missing"))?;
                inv.nacl_associations.push((acl, subnet));
            }
            "aws_lb_target_group_attachment" => {
                let tg = one_ref(&v, "target_group_arn")?
                    .ok_or_else(|| v.at.key("target_group_arn").err("missing"))?;
                let Some(t) = inv.tgs.iter_mut().find(|t| t.arn == tg.id) else {
                    return Err(tg.at.err(format!("unknown target group {}", tg.id)));
                };
                t.targets.get_or_insert_with(Vec::new).push(Target {
                    id: v.req_str("target_id")?,
                    port: v.int("port")?,
                    at: v.at.clone(),
                });
            }
            "aws_lb_listener" | "aws_alb_listener" => {
                let tgs = forward_target_groups(v.arr("default_action")?, &FORWARD, block)?;
                inv.listeners.push(Listener {
                    arn: v.str("arn")?,
                    lb: one_ref(&v, "load_balancer_arn")?
                        .ok_or_else(|| v.at.key("load_balancer_arn").err("missing"))?,
                    protocol: v.str("protocol")?,
                    port: v.int("port")?,
                    tgs,
                    at: r.at.clone(),
                });
            }
            "aws_apigatewayv2_integration" => {
                inv.integrations.push(Integration {
                    id: v.req_str("id")?,
                    link: integration_link(&v, ("connection_type", "connection_id"))?,
                    uri: v.str_at("integration_uri")?,
                    address: None,
                    port: None,
                    protocol: None,
                    at: r.at.clone(),
                });
            }
            "aws_service_discovery_instance" => {
                let service = v.str("service_id")?;
                let (ip, port, at) = cloud_map_instance(&v, "attributes")?;
                match inv.cloud_maps.iter_mut().find(|c| c.id == service) {
                    Some(c) => c.instances.push((ip, port, at)),
                    None => inv.cloud_maps.push(CloudMap {
                        id: service,
                        instances: vec![(ip, port, at)],
                        vpc: None,
                        index: None,
                        at: r.at.clone(),
                    }),
                }
            }
            "aws_vpc_endpoint_service_allowed_principal" => {
                let s = one_ref(&v, "vpc_endpoint_service_id")?
                    .ok_or_else(|| v.at.key("vpc_endpoint_service_id").err("missing"))?;
                let Some(svc) = inv.services.iter_mut().find(|x| x.id == s.id) else {
                    return Err(s.at.err(format!("unknown endpoint service {}", s.id)));
                };
                let p = v.req_str("principal_arn")?;
                let list = svc.principals.get_or_insert_with(Vec::new);
                if !list.contains(&p) {
                    list.push(p);
                }
            }
            "aws_vpc_endpoint_connection_accepter" => {
                let e = one_ref(&v, "vpc_endpoint_id")?
                    .ok_or_else(|| v.at.key("vpc_endpoint_id").err("missing"))?;
                let Some(ep) = inv.endpoints.iter_mut().find(|x| x.id == e.id) else {
                    return Err(e.at.err(format!("unknown endpoint {}", e.id)));
                };
                ep.state = v.str("vpc_endpoint_state")?.or(Some("available".into()));
            }
            k => {
                let id = v.str("id")?.unwrap_or_default();
                let reason = match k {
                    "aws_egress_only_internet_gateway" => {
                        unsupported::EGRESS_ONLY_INTERNET_GATEWAY.to_string()
                    }
                    "aws_vpc_ipv4_cidr_block_association" => {
                        "a hyperlab VPC has one CIDR (its subnets in this one are not imported)"
                            .to_string()
                    }
                    k => format!("resource type {k} is not imported"),
                };
                let what = if id.is_empty() {
                    address
                } else {
                    format!("{address} ({id})")
                };
                inv.unsupported.push(Unsupported {
                    what,
                    reason,
                    at: r.at.clone(),
                });
            }
        }
    }
    for t in &mut inv.route_tables {
        t.main |= vpc_mains.contains(&t.id);
    }
    // A state without gateways or Elastic IPs (they may live in another
    // state): what names one is listed, not an error.
    for (has, src) in [
        (!inv.igws.is_empty(), Source::InternetGateways),
        (!inv.nats.is_empty(), Source::NatGateways),
        (!inv.addresses.is_empty(), Source::Addresses),
    ] {
        if has {
            inv.read.insert(src);
        }
    }
    Ok(inv)
}

/// The members naming a route's target in the AWS provider (at most one
/// is set; Terraform writes "" for the others).
const ROUTE_TARGETS: [&str; 10] = [
    "gateway_id",
    "nat_gateway_id",
    "vpc_peering_connection_id",
    "transit_gateway_id",
    "network_interface_id",
    "vpc_endpoint_id",
    "carrier_gateway_id",
    "local_gateway_id",
    "egress_only_gateway_id",
    "core_network_arn",
];

/// A route table's `route` block, or an `aws_route` (whose destination
/// members are named differently).
fn tf_route(b: &J<'_>, cidr: &str, ipv6: &str) -> Res<RtbRoute> {
    let mut target = None;
    for key in ROUTE_TARGETS {
        if let Some(t) = b.str_at(key)? {
            target = Some(t);
            break;
        }
    }
    let other = match b.str(ipv6)? {
        Some(d) => Some(d),
        None => b.str("destination_prefix_list_id")?,
    };
    Ok(RtbRoute {
        destination: b.str_at(cidr)?,
        other_destination: other,
        target,
        blackhole: b.str("state")?.as_deref() == Some("blackhole"),
        at: b.at.clone(),
    })
}

/// A network ACL's `ingress`/`egress` block, or an `aws_network_acl_rule`
/// (whose rule number and action are named differently).
fn nacl_entry(b: &J<'_>, egress: bool, rule: &str, action: &str) -> Res<NaclEntry> {
    Ok(NaclEntry {
        egress,
        rule: b.int_at(rule)?,
        action: b.str_at(action)?,
        protocol: b.str_at("protocol")?,
        cidr: b.str_at("cidr_block")?,
        ipv6: b.str("ipv6_cidr_block")?,
        from: b.int_at("from_port")?,
        to: b.int_at("to_port")?,
        icmp_type: b.int_at("icmp_type")?,
        icmp_code: b.int_at("icmp_code")?,
        at: b.at.clone(),
    })
}

/// A security group's nested `ingress`/`egress` block (or an
/// `aws_security_group_rule`), split per peer.
fn sg_block(b: &J<'_>, group: &str, egress: bool) -> Res<Vec<Rule>> {
    let protocol = b.str("protocol")?.unwrap_or_else(|| "-1".into());
    let (from, to) = (b.int("from_port")?, b.int("to_port")?);
    // Terraform writes 0-0 for protocol -1.
    let (from, to) = if protocol == "-1" {
        (None, None)
    } else {
        (from, to)
    };
    let rule = |peer, at: At| Rule {
        egress,
        protocol: protocol.clone(),
        from,
        to,
        peer,
        at,
    };
    let mut out = Vec::new();
    for (c, at) in b.strs("cidr_blocks")? {
        out.push(rule(Peer::Cidr(c), at));
    }
    for (c, at) in b.strs("ipv6_cidr_blocks")? {
        out.push(rule(Peer::Ipv6(c), at));
    }
    for (p, at) in b.strs("prefix_list_ids")? {
        out.push(rule(Peer::PrefixList(p), at));
    }
    for (g, at) in b.strs("security_groups")? {
        out.push(rule(
            Peer::Group(Ref {
                id: g,
                at: at.clone(),
            }),
            at,
        ));
    }
    if b.bool("self")?.unwrap_or(false) {
        let at = b.at.key("self");
        out.push(rule(
            Peer::Group(Ref {
                id: group.to_string(),
                at: at.clone(),
            }),
            at,
        ));
    }
    Ok(out)
}
