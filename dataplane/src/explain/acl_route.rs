//! The network-ACL and route-table parts of an explanation: which ACL and
//! entry, which table and route decided, with their lines in the config,
//! and where the config's own answer differs from the kernel's.

use super::*;
use dataplane_common::{ROUTE_TARGET_IGW, ROUTE_TARGET_NAT};

/// The ACL a check consulted and the direction's name.
pub(super) fn nacl_of_check(
    topo: &Topology,
    c: &NaclCheck,
) -> Option<(crate::model::NetworkAcl, &'static str)> {
    let acl = compile::nacl_by_stat(topo, c.nacl)?;
    let dir = if c.dir == dataplane_common::SG_DIR_INGRESS {
        "ingress"
    } else {
        "egress"
    };
    Some((acl, dir))
}

/// A rule's protocol and what it covers: `tcp 80`, `tcp 8000-8100`,
/// `icmp type 8`, `icmp type 3 code 4`, `all`, `gre (47)`.
pub(super) fn rule_values(p: Protocol, ports: (u16, u16)) -> String {
    match p {
        Protocol::Icmp => match crate::model::IcmpMatch::of_range(ports) {
            crate::model::IcmpMatch {
                icmp_type: None, ..
            } => "icmp".to_string(),
            crate::model::IcmpMatch {
                icmp_type: Some(ty),
                code: None,
            } => format!("icmp type {ty}"),
            crate::model::IcmpMatch {
                icmp_type: Some(ty),
                code: Some(c),
            } => {
                format!("icmp type {ty} code {c}")
            }
        },
        Protocol::Tcp | Protocol::Udp => match ports {
            (0, 65535) => p.name(),
            (lo, hi) if lo == hi => format!("{} {lo}", p.name()),
            (lo, hi) => format!("{} {lo}-{hi}", p.name()),
        },
        Protocol::All | Protocol::Number(_) => p.name(),
    }
}

pub(super) fn describe_entry(e: &AclEntry, ingress: bool) -> String {
    let what = match e.protocol {
        Protocol::Tcp | Protocol::Udp => {
            let ports = if e.ports == (0, 65535) {
                "all ports".to_string()
            } else if e.ports.0 == e.ports.1 {
                e.ports.0.to_string()
            } else {
                format!("{}-{}", e.ports.0, e.ports.1)
            };
            format!("{} {ports}", e.protocol.name())
        }
        Protocol::Icmp => rule_values(Protocol::Icmp, e.icmp.value_range()),
        Protocol::All | Protocol::Number(_) => e.protocol.name(),
    };
    format!(
        "{} {what} {} {}",
        if e.allow { "allow" } else { "deny" },
        if ingress { "from" } else { "to" },
        e.cidr
    )
}

pub(super) fn nacl_verdict(
    topo: &Topology,
    src: Option<&Source<'_>>,
    c: &NaclCheck,
) -> NaclVerdict {
    let ingress = c.dir == dataplane_common::SG_DIR_INGRESS;
    let found = nacl_of_check(topo, c);
    let (nacl, entry, location) = match &found {
        Some((acl, dir)) => {
            let entries = if ingress { &acl.ingress } else { &acl.egress };
            let e = entries.iter().find(|e| e.rule == c.rule);
            let location = match (e, src) {
                (Some(e), Some(s)) if !acl.default => {
                    acl_entry_line(s.text, &acl.id, dir, e.rule).map(|l| format!("{}:{l}", s.file))
                }
                _ => None,
            };
            (
                acl.id.clone(),
                e.map(|e| describe_entry(e, ingress)),
                location,
            )
        }
        None => (format!("{:#x}", c.nacl), None, None),
    };
    let matched = if c.proto == PROTO_ICMP {
        format!("icmp type {} code {}", c.value >> 8, c.value & 0xff)
    } else if c.proto == PROTO_TCP || c.proto == PROTO_UDP {
        format!("port {}", c.value)
    } else {
        // Other protocols have no ports: the protocol alone matched.
        format!("protocol {}", c.proto)
    };
    NaclVerdict {
        check: if ingress { "in" } else { "out" },
        subnet: topo
            .subnets
            .get(c.subnet as usize)
            .map_or_else(|| c.subnet.to_string(), |s| s.id.clone()),
        nacl,
        peer: Ipv4Addr::from(c.peer),
        matched,
        allowed: c.allow != 0,
        rule: if c.rule == dataplane_common::NACL_RULE_DEFAULT {
            "*".to_string()
        } else {
            c.rule.to_string()
        },
        entry,
        location,
    }
}

/// The config's own answer for a check (the first entry, in rule order,
/// that matches); a note when the kernel decided otherwise.
pub(super) fn config_nacl_disagrees(topo: &Topology, c: &NaclCheck) -> Option<String> {
    let (acl, dir) = nacl_of_check(topo, c)?;
    let entries = if dir == "ingress" {
        &acl.ingress
    } else {
        &acl.egress
    };
    let (rule, allow) = entries
        .iter()
        .find(|e| e.matches(c.proto, Ipv4Addr::from(c.peer), c.value))
        .map_or((dataplane_common::NACL_RULE_DEFAULT, false), |e| {
            (e.rule, e.allow)
        });
    (rule != c.rule || allow != (c.allow != 0)).then(|| {
        format!(
            "the running agent's {} {dir} decision (rule {}) disagrees with the config's \
             entries (rule {rule}): does the agent run another version of this file?",
            acl.id, c.rule
        )
    })
}

/// The table a route check consulted (by its counter identity).
pub(super) fn route_table_of_check(topo: &Topology, c: &RouteCheck) -> Option<RouteTable> {
    compile::route_table_by_stat(topo, c.table)
}

pub(super) fn route_verdict(
    topo: &Topology,
    src: Option<&Source<'_>>,
    probe: &Probe,
    c: &RouteCheck,
) -> RouteVerdict {
    let subnet = topo.enis[probe.eni].subnet;
    let table = route_table_of_check(topo, c);
    let (route, location) = match (&table, c.route) {
        (Some(t), ROUTE_LOCAL) => (format!("local {}", topo.vpcs[t.vpc].cidr), None),
        (_, ROUTE_NO_MATCH) => ("no route".to_string(), None),
        (Some(t), i) => match t.routes.get(i as usize) {
            Some(r) => {
                let location = src.and_then(|s| {
                    route_line(s.text, &t.id, r.destination).map(|l| format!("{}:{l}", s.file))
                });
                (describe_route(topo, r), location)
            }
            None => (format!("route {i}"), None),
        },
        (None, i) => (format!("route {i}"), None),
    };
    let allowed = c.target == ROUTE_TARGET_LOCAL
        || (c.target == ROUTE_TARGET_PEERING && peering_carries(topo, table.as_ref(), c));
    RouteVerdict {
        subnet: topo.subnets[subnet].id.clone(),
        table: table.map_or_else(|| format!("{:#x}", c.table), |t| t.id),
        destination: Ipv4Addr::from(c.dst),
        route,
        allowed: allowed || c.target == ROUTE_TARGET_IGW || c.target == ROUTE_TARGET_NAT,
        location,
    }
}

/// Whether the active peering connection of the route `c` names carries
/// its destination (it is in the peer VPC's CIDR: peering is not
/// transitive).
fn peering_carries(topo: &Topology, table: Option<&RouteTable>, c: &RouteCheck) -> bool {
    let Some(t) = table else { return false };
    match t.routes.get(c.route as usize).map(|r| r.target) {
        Some(RouteTarget::Peering(p)) => topo.vpc_peerings[p]
            .peer_of(t.vpc)
            .is_some_and(|v| topo.vpcs[v].cidr.contains(&Ipv4Addr::from(c.dst))),
        _ => false,
    }
}

pub(super) fn describe_route(topo: &Topology, r: &Route) -> String {
    match r.target {
        RouteTarget::Local => format!("local {}", r.destination),
        RouteTarget::Blackhole => format!("blackhole {}", r.destination),
        RouteTarget::Peering(p) => {
            let pc = &topo.vpc_peerings[p];
            format!(
                "{} {} (peering {} <-> {}, {})",
                pc.id,
                r.destination,
                topo.vpcs[pc.requester].id,
                topo.vpcs[pc.accepter].id,
                pc.status.name()
            )
        }
        RouteTarget::InternetGateway(g) => match topo.internet.gateways.get(g) {
            Some(igw) => format!("{} {}", igw.id, r.destination),
            None => format!("internet gateway {}", r.destination),
        },
        RouteTarget::NatGateway(g) => match topo.internet.nat_gateways.get(g) {
            Some(n) => format!(
                "{} {} (NAT gateway, Elastic IP {})",
                n.id, r.destination, n.elastic_ip
            ),
            None => format!("NAT gateway {}", r.destination),
        },
    }
}

/// The config's own answer (the longest prefix among the source subnet's
/// table and the VPC's local route); a note when the kernel decided
/// otherwise.
pub(super) fn config_route_disagrees(
    topo: &Topology,
    probe: &Probe,
    c: &RouteCheck,
) -> Option<String> {
    let subnet = topo.enis[probe.eni].subnet;
    let vpc = topo.subnets[subnet].vpc;
    let table = topo
        .route_table_of(subnet)
        .cloned()
        .unwrap_or_else(|| RouteTable::implied_main(vpc, &topo.vpcs[vpc].id));
    let dst = Ipv4Addr::from(c.dst);
    let local = topo.vpcs[vpc].cidr;
    let mut best: Option<(u8, u16, u8)> =
        local
            .contains(&dst)
            .then_some((local.prefix_len(), ROUTE_LOCAL, ROUTE_TARGET_LOCAL));
    for (i, r) in table.routes.iter().enumerate() {
        if r.destination.contains(&dst)
            && best.is_none_or(|(len, _, _)| r.destination.prefix_len() > len)
        {
            best = Some((
                r.destination.prefix_len(),
                i as u16,
                compile::target_code(topo, r.target),
            ));
        }
    }
    let (_, route, target) = best.unwrap_or((0, ROUTE_NO_MATCH, 0));
    let same_table = dataplane_common::nacl_stat_id(table.id.as_bytes()) == c.table;
    (!same_table || route != c.route || target != c.target).then(|| {
        format!(
            "the running agent's route decision disagrees with {}'s routes in the config: \
             does the agent run another version of this file?",
            table.id
        )
    })
}

/// The 1-based line of the route to `destination` in route table `id`.
pub(super) fn route_line(text: &str, id: &str, destination: Ipv4Net) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let t = doc
        .get("route_table")?
        .as_array_of_tables()?
        .iter()
        .find(|t| t.get("id").and_then(|v| v.as_str()) == Some(id))?;
    let item = t.get("routes")?;
    let is_dest = |v: Option<&toml_edit::Value>| {
        v.and_then(|v| v.as_str())
            .and_then(|s| s.parse::<Ipv4Net>().ok())
            == Some(destination)
    };
    let span = if let Some(a) = item.as_array() {
        a.iter()
            .find(|v| is_dest(v.as_inline_table().and_then(|t| t.get("destination"))))?
            .span()?
    } else {
        item.as_array_of_tables()?
            .iter()
            .find(|t| is_dest(t.get("destination").and_then(|i| i.as_value())))?
            .span()?
    };
    Some(text[..span.start.min(text.len())].matches('\n').count() + 1)
}

/// The 1-based line of the entry numbered `rule` in `direction` of ACL `id`.
pub(super) fn acl_entry_line(text: &str, id: &str, direction: &str, rule: u16) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let t = doc
        .get("network_acl")?
        .as_array_of_tables()?
        .iter()
        .find(|t| t.get("id").and_then(|v| v.as_str()) == Some(id))?;
    let item = t.get(direction)?;
    let is_rule =
        |v: Option<&toml_edit::Value>| v.and_then(|v| v.as_integer()) == Some(rule as i64);
    let span = if let Some(a) = item.as_array() {
        a.iter()
            .find(|v| is_rule(v.as_inline_table().and_then(|t| t.get("rule"))))?
            .span()?
    } else {
        item.as_array_of_tables()?
            .iter()
            .find(|t| is_rule(t.get("rule").and_then(|i| i.as_value())))?
            .span()?
    };
    Some(text[..span.start.min(text.len())].matches('\n').count() + 1)
}

/// An internet host reached through VPC `vpc`'s internet gateway (after a
/// NAT gateway when the route was one).
pub(super) fn internet_destination(topo: &Topology, vpc: usize, t: &ExplainTrace) -> String {
    let k = t.dst_eni.wrapping_sub(dataplane_common::INTERNET_ENI_BASE) as usize;
    let igw = topo
        .internet
        .gateway_of(vpc)
        .map_or("?", |g| topo.internet.gateways[g].id.as_str());
    let nat = (t.route.target == ROUTE_TARGET_NAT)
        .then(|| route_table_of_check(topo, &t.route))
        .flatten()
        .and_then(|tb| match tb.routes.get(t.route.route as usize)?.target {
            RouteTarget::NatGateway(g) => Some(topo.internet.nat_gateways[g].id.clone()),
            _ => None,
        });
    let gw = match nat {
        Some(n) => format!("NAT gateway {n} and internet gateway {igw}"),
        None => format!("internet gateway {igw}"),
    };
    match topo.internet.hosts.get(k) {
        Some(h) => format!("internet host {} through {gw}", h.name),
        None => format!("internet host #{k} through {gw}"),
    }
}

/// A packet forwarded to an ENI of another node (labs across nodes): the
/// note that says where it goes and who decides the rest, or `None`.
pub(super) fn other_node(topo: &Topology, vpc: usize, t: &ExplainTrace) -> Option<String> {
    if t.dst_kind != dataplane_common::ENI_KIND_HOST {
        return None;
    }
    let eni = t.dst_eni as usize;
    let underlay = topo.enis.get(eni).and(topo.eni_underlay(eni))?;
    let e = &topo.enis[eni];
    let node = topo
        .placement
        .host_nodes
        .get(&e.host)
        .map_or("?", |&n| topo.placement.nodes[n].id.as_str());
    Some(format!(
        "{} lives on node {node} ({underlay}): the packet leaves through hl-vxlan with VNI {}; \
         node {node} evaluates {}'s ingress groups and its subnet's inbound network ACL",
        e.id,
        dataplane_common::vni_of(vpc as u32),
        e.id
    ))
}

/// A translated packet (PrivateLink, an HTTP VPC link) whose target lives
/// on another node (labs across nodes): this node translated it and judged
/// the target's ingress groups and both boundaries' ACLs; the note says
/// where it goes and what that node checks again, or `None`.
pub(super) fn translated_to_other_node(topo: &Topology, t: &ExplainTrace) -> Option<String> {
    if t.out_flags & dataplane_common::FLOW_F_TUNNEL == 0 {
        return None;
    }
    let ip = std::net::Ipv4Addr::from(t.new_dst);
    let eni = (0..topo.enis.len())
        .find(|&i| topo.enis[i].ip == ip && topo.eni_vpc(i) == t.out_vpc as usize)?;
    let underlay = topo.eni_underlay(eni)?;
    let e = &topo.enis[eni];
    let node = topo
        .placement
        .host_nodes
        .get(&e.host)
        .map_or("?", |&n| topo.placement.nodes[n].id.as_str());
    Some(format!(
        "target {} lives on node {node} ({underlay}): translated here, the packet leaves \
         through hl-vxlan with VNI {}; node {node} checks {}'s ingress groups and its subnet's \
         inbound network ACL again (the same rules decide the same) and records the flow; \
         the target's replies come back to this node by their destination port (this node's \
         slice of the NAT ports)",
        e.id,
        dataplane_common::vni_of(t.out_vpc),
        e.id
    ))
}
