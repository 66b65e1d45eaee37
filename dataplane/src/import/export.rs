//! `dataplane export aws`: a topology as the JSON the AWS CLI prints (the
//! inverse of `import aws`), so a lab written in TOML can be loaded into an
//! emulator, and `import aws` of the files gives the topology back.
//!
//! Where AWS has no field for what hyperlab models (API Gateway's side of a
//! VPC link is a VPC of the topology; health-check times in milliseconds;
//! an ALB's nodes are lab hosts; an NLB's SNAT source ports; the order of
//! VPC links and Cloud Map services), the files carry members named
//! `Hyperlab...`, which AWS tools ignore and `import` reads.

use std::collections::BTreeSet;

mod gateways;
use gateways::association;

use serde_json::{json, Value};

use crate::model::{
    AclEntry, EndpointState, HealthProtocol, IntegrationKind, L4Protocol, Peer, Protocol,
    RouteTarget, Rule, Topology, VpcLinkKind, NACL_ENTRIES_MAX, NLB_SOURCE_PORTS,
};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// The files (`SERVICE/CALL[-KEY].json`, JSON) and what they leave out.
pub struct Exported {
    pub files: Vec<(String, Value)>,
    /// What the files do not carry (lab settings, flow logs, ...), one
    /// line each.
    pub left_out: Vec<String>,
}

fn lb_arn(kind: &str, id: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/{kind}/{id}/0000000000000000"
    )
}

fn tg_arn(id: &str) -> String {
    format!("arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{id}/0000000000000000")
}

fn listener_arn(kind: &str, lb: &str, tail: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/{kind}/{lb}/0000000000000000/{tail}"
    )
}

fn l4(p: L4Protocol) -> &'static str {
    match p {
        L4Protocol::Tcp => "TCP",
        L4Protocol::Udp => "UDP",
    }
}

fn service_name(id: &str) -> String {
    format!("com.amazonaws.vpce.{REGION}.{id}")
}

/// The account of `arn:aws:iam::ACCOUNT:root`, if that is what `p` is.
fn root_account(p: &str) -> Option<&str> {
    let a = p.strip_prefix("arn:aws:iam::")?.strip_suffix(":root")?;
    (a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())).then_some(a)
}

fn permission(t: &Topology, r: &Rule) -> Value {
    let mut p = json!({
        "IpProtocol": match r.protocol {
            Protocol::All => "-1".to_string(),
            Protocol::Tcp => "tcp".to_string(),
            Protocol::Udp => "udp".to_string(),
            Protocol::Icmp => "icmp".to_string(),
            Protocol::Number(n) => n.to_string(),
        },
        "IpRanges": [],
        "Ipv6Ranges": [],
        "PrefixListIds": [],
        "UserIdGroupPairs": [],
    });
    match r.protocol {
        Protocol::Tcp | Protocol::Udp => {
            p["FromPort"] = json!(r.ports.0);
            p["ToPort"] = json!(r.ports.1);
        }
        Protocol::Icmp => {
            // AWS's FromPort / ToPort for ICMP: the type and code, -1 for all.
            let m = crate::model::IcmpMatch::of_range(r.ports);
            let n = |x: Option<u8>| x.map_or(-1, i32::from);
            p["FromPort"] = json!(n(m.icmp_type));
            p["ToPort"] = json!(if m.icmp_type.is_none() { -1 } else { n(m.code) });
        }
        Protocol::All | Protocol::Number(_) => {}
    }
    match &r.peer {
        Peer::Cidr(c) => p["IpRanges"] = json!([{ "CidrIp": c.to_string() }]),
        Peer::SecurityGroup(g) => {
            p["UserIdGroupPairs"] =
                json!([{ "GroupId": t.security_groups[*g].id, "UserId": ACCOUNT }])
        }
    }
    p
}

fn acl_entry(e: &AclEntry, egress: bool) -> Value {
    let mut v = json!({
        "RuleNumber": e.rule,
        "Protocol": match e.protocol {
            Protocol::All => "-1".to_string(),
            Protocol::Tcp => "6".to_string(),
            Protocol::Udp => "17".to_string(),
            Protocol::Icmp => "1".to_string(),
            Protocol::Number(n) => n.to_string(),
        },
        "RuleAction": if e.allow { "allow" } else { "deny" },
        "Egress": egress,
        "CidrBlock": e.cidr.to_string(),
    });
    match e.protocol {
        Protocol::Tcp | Protocol::Udp => {
            v["PortRange"] = json!({ "From": e.ports.0, "To": e.ports.1 });
        }
        Protocol::Icmp => {
            let n = |x: Option<u8>| x.map_or(-1, i32::from);
            v["IcmpTypeCode"] = json!({ "Type": n(e.icmp.icmp_type), "Code": n(e.icmp.code) });
        }
        Protocol::All | Protocol::Number(_) => {}
    }
    v
}

/// `describe-network-acls`: the custom ACLs, then each VPC's default, as
/// AWS lists them (with its final `*` entries); `[lab] nacl_entries_max`
/// as `HyperlabNaclEntriesMax` when it is not AWS's default quota.
fn network_acls(t: &Topology) -> Value {
    let mut acls = Vec::new();
    for (i, n) in t.network_acls.iter().enumerate() {
        let id = if n.default {
            let base = format!("acl-default-{}", t.vpcs[n.vpc].id);
            let mut id = base.clone();
            let mut k = 2;
            while t.network_acls.iter().any(|o| o.id == id) {
                id = format!("{base}-{k}");
                k += 1;
            }
            id
        } else {
            n.id.clone()
        };
        let mut entries: Vec<Value> = Vec::new();
        for (list, egress) in [(&n.ingress, false), (&n.egress, true)] {
            entries.extend(list.iter().map(|e| acl_entry(e, egress)));
            entries.push(json!({
                "RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": egress,
                "CidrBlock": "0.0.0.0/0",
            }));
        }
        let associations: Vec<Value> = (0..t.subnets.len())
            .filter(|&s| t.subnet_nacls.get(s) == Some(&i))
            .map(|s| {
                json!({
                    "NetworkAclAssociationId": format!("aclassoc-{}", t.subnets[s].id),
                    "NetworkAclId": id, "SubnetId": t.subnets[s].id,
                })
            })
            .collect();
        acls.push(json!({
            "NetworkAclId": id, "VpcId": t.vpcs[n.vpc].id, "IsDefault": n.default,
            "OwnerId": ACCOUNT, "Entries": entries, "Associations": associations, "Tags": [],
        }));
    }
    let mut v = json!({ "NetworkAcls": acls });
    if t.lab.nacl_entries_max != NACL_ENTRIES_MAX {
        v["HyperlabNaclEntriesMax"] = json!(t.lab.nacl_entries_max);
    }
    v
}

/// `describe-vpc-peering-connections`: each connection, its two VPCs
/// (with their CIDRs) and its status.
fn peerings(t: &Topology) -> Value {
    let side = |v: usize| {
        json!({
            "VpcId": t.vpcs[v].id, "CidrBlock": t.vpcs[v].cidr.to_string(), "OwnerId": ACCOUNT,
            "Region": REGION,
        })
    };
    let list: Vec<Value> = t
        .vpc_peerings
        .iter()
        .map(|p| {
            json!({
                "VpcPeeringConnectionId": p.id, "RequesterVpcInfo": side(p.requester),
                "AccepterVpcInfo": side(p.accepter), "Status": { "Code": p.status.name() },
                "Tags": [],
            })
        })
        .collect();
    json!({ "VpcPeeringConnections": list })
}

/// `describe-route-tables`: every table with its `local` route first, its
/// blackhole routes, its main association and its subnets' associations.
/// A VPC's implied main table goes out untagged under hyperlab's name for
/// it (`<VPC id> (main)`), which import gives back as the implied table;
/// a table the config writes carries its id as its `Name` tag, so that
/// import writes it even when it routes nothing.
fn route_tables(t: &Topology) -> Value {
    let mut tables = Vec::new();
    for (i, r) in t.route_tables.iter().enumerate() {
        let mut routes = vec![json!({
            "DestinationCidrBlock": t.vpcs[r.vpc].cidr.to_string(), "GatewayId": "local",
            "Origin": "CreateRouteTable", "State": "active",
        })];
        for x in &r.routes {
            routes.push(match x.target {
                RouteTarget::Local => continue,
                RouteTarget::Blackhole => json!({
                    "DestinationCidrBlock": x.destination.to_string(),
                    "Origin": "CreateRoute", "State": "blackhole",
                }),
                RouteTarget::Peering(p) => json!({
                    "DestinationCidrBlock": x.destination.to_string(),
                    "VpcPeeringConnectionId": t.vpc_peerings[p].id,
                    "Origin": "CreateRoute", "State": "active",
                }),
                RouteTarget::InternetGateway(g) => json!({
                    "DestinationCidrBlock": x.destination.to_string(),
                    "GatewayId": t.internet.gateways[g].id,
                    "Origin": "CreateRoute", "State": "active",
                }),
                RouteTarget::NatGateway(g) => json!({
                    "DestinationCidrBlock": x.destination.to_string(),
                    "NatGatewayId": t.internet.nat_gateways[g].id,
                    "Origin": "CreateRoute", "State": "active",
                }),
            });
        }
        let mut associations = Vec::new();
        if r.main {
            associations.push(json!({
                "Main": true, "RouteTableAssociationId": format!("rtbassoc-main-{}", r.id),
                "RouteTableId": r.id, "AssociationState": { "State": "associated" },
            }));
        }
        // A main table's subnets use it without an association.
        for s in (0..t.subnets.len()).filter(|&s| !r.main && t.subnet_routes.get(s) == Some(&i)) {
            associations.push(json!({
                "Main": false, "RouteTableAssociationId": format!("rtbassoc-{}", t.subnets[s].id),
                "RouteTableId": r.id, "SubnetId": t.subnets[s].id,
                "AssociationState": { "State": "associated" },
            }));
        }
        let implied = *r == crate::model::RouteTable::implied_main(r.vpc, &t.vpcs[r.vpc].id);
        let tags = if implied {
            json!([])
        } else {
            json!([{ "Key": "Name", "Value": r.id }])
        };
        tables.push(json!({
            "RouteTableId": r.id, "VpcId": t.vpcs[r.vpc].id, "OwnerId": ACCOUNT,
            "Routes": routes, "Associations": associations, "PropagatingVgws": [], "Tags": tags,
        }));
    }
    json!({ "RouteTables": tables })
}

pub fn aws(t: &Topology) -> Exported {
    let mut files: Vec<(String, Value)> = Vec::new();
    let mut left_out = vec![
        "[lab] (but nacl_entries_max), [conntrack] and [flow_logs]: lab settings, not AWS state"
            .to_string(),
    ];
    // What VPC links imply is theirs: exported as the links.
    let (mut tgs_implied, mut nlbs_implied, mut svcs_implied, mut eps_implied) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for l in &t.services.vpc_links {
        match &l.kind {
            VpcLinkKind::Rest {
                service, endpoint, ..
            } => {
                svcs_implied.insert(*service);
                eps_implied.insert(*endpoint);
            }
            VpcLinkKind::Http { integrations, .. } => {
                for i in integrations {
                    tgs_implied.insert(i.target_group);
                    nlbs_implied.insert(i.nlb);
                    svcs_implied.insert(i.service);
                    eps_implied.insert(i.endpoint);
                }
            }
        }
    }
    let vpc_id = |v: usize| t.vpcs[v].id.as_str();
    let subnet_id = |s: usize| t.subnets[s].id.as_str();
    let groups = |list: &[usize]| -> Value {
        Value::Array(
            list.iter()
                .map(|&g| json!({ "GroupId": t.security_groups[g].id, "GroupName": t.security_groups[g].id }))
                .collect(),
        )
    };

    files.push((
        "ec2/describe-vpcs.json".into(),
        json!({ "Vpcs": t.vpcs.iter().map(|v| json!({
            "VpcId": v.id, "CidrBlock": v.cidr.to_string(), "State": "available", "IsDefault": false,
            "OwnerId": ACCOUNT, "InstanceTenancy": "default",
            "CidrBlockAssociationSet": [{ "CidrBlock": v.cidr.to_string(), "CidrBlockState": { "State": "associated" } }],
        })).collect::<Vec<_>>() }),
    ));
    files.push((
        "ec2/describe-subnets.json".into(),
        json!({ "Subnets": t.subnets.iter().map(|s| json!({
            "SubnetId": s.id, "VpcId": vpc_id(s.vpc), "CidrBlock": s.cidr.to_string(),
            "AvailabilityZoneId": s.az, "State": "available", "OwnerId": ACCOUNT,
        })).collect::<Vec<_>>() }),
    ));
    files.push((
        "ec2/describe-security-groups.json".into(),
        json!({ "SecurityGroups": t.security_groups.iter().map(|g| json!({
            "GroupId": g.id, "GroupName": g.id, "Description": g.id, "VpcId": vpc_id(g.vpc), "OwnerId": ACCOUNT,
            "IpPermissions": g.ingress.iter().map(|r| permission(t, r)).collect::<Vec<_>>(),
            "IpPermissionsEgress": g.egress.iter().map(|r| permission(t, r)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>() }),
    ));
    files.push(("ec2/describe-network-acls.json".into(), network_acls(t)));
    files.push(("ec2/describe-route-tables.json".into(), route_tables(t)));
    files.push((
        "ec2/describe-vpc-peering-connections.json".into(),
        peerings(t),
    ));

    // Host ENIs, one instance per host; then the managed ENIs.
    let instance_of = |host: &str| format!("i-{host}");
    let mut enis: Vec<Value> = Vec::new();
    for (i, e) in t.enis.iter().enumerate() {
        let index = t
            .hosts()
            .into_iter()
            .find(|(h, _)| *h == e.host)
            .and_then(|(_, list)| list.iter().position(|&i| t.enis[i].id == e.id))
            .unwrap_or(0);
        enis.push(json!({
            "NetworkInterfaceId": e.id, "SubnetId": subnet_id(e.subnet), "VpcId": vpc_id(t.subnets[e.subnet].vpc),
            "AvailabilityZone": t.subnets[e.subnet].az, "PrivateIpAddress": e.ip.to_string(),
            "PrivateIpAddresses": [{ "Primary": true, "PrivateIpAddress": e.ip.to_string() }],
            "MacAddress": crate::model::format_mac(&e.mac), "Groups": groups(&e.security_groups),
            "InterfaceType": "interface", "RequesterManaged": false, "Status": "in-use", "OwnerId": ACCOUNT,
            "Attachment": { "InstanceId": instance_of(&e.host), "DeviceIndex": index, "Status": "attached" },
            "TagSet": [],
        }));
        if let Some(ip) = t.internet.public_ip_of(i) {
            enis.last_mut().expect("just pushed")["Association"] = association(&e.id, ip);
        }
    }
    gateways::nat_enis(t, &mut enis);
    for (n, nlb) in t.services.nlbs.iter().enumerate() {
        if nlbs_implied.contains(&n) {
            continue;
        }
        for (k, node) in nlb.nodes.iter().enumerate() {
            enis.push(json!({
                "NetworkInterfaceId": format!("eni-{}-{k}", nlb.id), "SubnetId": subnet_id(node.subnet),
                "VpcId": vpc_id(nlb.vpc), "PrivateIpAddress": node.ip.to_string(),
                "Groups": groups(&nlb.security_groups), "InterfaceType": "network_load_balancer",
                "Description": format!("ELB net/{}/0000000000000000", nlb.id), "RequesterManaged": true,
                "Status": "in-use", "TagSet": [],
            }));
        }
    }
    let mut endpoints = Vec::new();
    for (i, e) in t.services.vpc_endpoints.iter().enumerate() {
        if eps_implied.contains(&i) {
            continue;
        }
        let mut ids = Vec::new();
        for (k, n) in e.enis.iter().enumerate() {
            let id = format!("eni-{}-{k}", e.id);
            enis.push(json!({
                "NetworkInterfaceId": id, "SubnetId": subnet_id(n.subnet), "VpcId": vpc_id(e.vpc),
                "PrivateIpAddress": n.ip.to_string(), "Groups": groups(&e.security_groups),
                "InterfaceType": "vpc_endpoint", "Description": format!("VPC Endpoint Interface {}", e.id),
                "RequesterManaged": true, "Status": "in-use", "TagSet": [],
            }));
            ids.push(id);
        }
        let svc = &t.services.endpoint_services[e.service];
        let mut v = json!({
            "VpcEndpointId": e.id, "VpcEndpointType": "Interface", "VpcId": vpc_id(e.vpc),
            "ServiceName": service_name(&svc.id),
            "State": match e.state {
                EndpointState::Available => "available",
                EndpointState::Pending => "pendingAcceptance",
                EndpointState::Rejected => "rejected",
            },
            "SubnetIds": e.enis.iter().map(|n| subnet_id(n.subnet)).collect::<Vec<_>>(),
            "Groups": groups(&e.security_groups), "NetworkInterfaceIds": ids,
        });
        match root_account(&e.principal) {
            Some(a) => v["OwnerId"] = json!(a),
            None => v["HyperlabPrincipal"] = json!(e.principal),
        }
        endpoints.push(v);
    }
    files.push((
        "ec2/describe-network-interfaces.json".into(),
        json!({ "NetworkInterfaces": enis }),
    ));
    let reservations: Vec<Value> = t
        .hosts()
        .into_iter()
        .map(|(host, list)| {
            let first = &t.enis[list[0]];
            let mut v = json!({ "ReservationId": format!("r-{host}"), "OwnerId": ACCOUNT, "Instances": [{
                "InstanceId": instance_of(&host), "State": { "Name": "running" },
                "SubnetId": subnet_id(first.subnet), "VpcId": vpc_id(t.subnets[first.subnet].vpc),
                "PrivateIpAddress": first.ip.to_string(), "SecurityGroups": groups(&first.security_groups),
                "Tags": [{ "Key": "Name", "Value": host }],
                "NetworkInterfaces": list.iter().map(|&i| {
                    let e = &t.enis[i];
                    let mut n = json!({ "NetworkInterfaceId": e.id, "SubnetId": subnet_id(e.subnet),
                            "PrivateIpAddress": e.ip.to_string(), "Groups": groups(&e.security_groups) });
                    if let Some(ip) = t.internet.public_ip_of(i) {
                        n["Association"] = association(&e.id, ip);
                    }
                    n
                }).collect::<Vec<_>>(),
            }]});
            if let Some(ip) = t.internet.public_ip_of(list[0]) {
                v["Instances"][0]["PublicIpAddress"] = json!(ip.to_string());
            }
            v
        })
        .collect();
    files.push((
        "ec2/describe-instances.json".into(),
        json!({ "Reservations": reservations }),
    ));

    // Load balancers, their listeners and target groups.
    let mut lbs = Vec::new();
    let mut listeners = Vec::new();
    for (n, nlb) in t.services.nlbs.iter().enumerate() {
        if nlbs_implied.contains(&n) {
            continue;
        }
        let arn = lb_arn("net", &nlb.id);
        let mut v = json!({
            "LoadBalancerArn": arn, "LoadBalancerName": nlb.id, "Type": "network", "Scheme": "internal",
            "VpcId": vpc_id(nlb.vpc), "State": { "Code": "active" },
            "AvailabilityZones": nlb.nodes.iter().map(|node| json!({
                "ZoneName": t.subnets[node.subnet].az, "SubnetId": subnet_id(node.subnet),
                "LoadBalancerAddresses": [{ "PrivateIPv4Address": node.ip.to_string() }],
            })).collect::<Vec<_>>(),
            "SecurityGroups": nlb.security_groups.iter().map(|&g| &t.security_groups[g].id).collect::<Vec<_>>(),
        });
        if nlb.source_ports != NLB_SOURCE_PORTS {
            v["HyperlabSourcePorts"] = json!([nlb.source_ports.0, nlb.source_ports.1]);
        }
        lbs.push(v);
        files.push((
            format!("elbv2/describe-load-balancer-attributes-{}.json", nlb.id),
            json!({ "LoadBalancerArn": arn, "Attributes": [
                { "Key": "load_balancing.cross_zone.enabled", "Value": nlb.cross_zone.to_string() },
            ]}),
        ));
        for l in &nlb.listeners {
            listeners.push(json!({
                "ListenerArn": listener_arn("net", &nlb.id, &format!("{}-{}", l4(l.protocol), l.port)),
                "LoadBalancerArn": arn, "Port": l.port, "Protocol": l4(l.protocol),
                "DefaultActions": [{ "Type": "forward",
                    "TargetGroupArn": tg_arn(&t.services.target_groups[l.target_group].id) }],
            }));
        }
    }
    for a in &t.services.albs {
        let arn = lb_arn("app", &a.id);
        lbs.push(json!({
            "LoadBalancerArn": arn, "LoadBalancerName": a.id, "Type": "application", "Scheme": "internal",
            "VpcId": vpc_id(a.vpc), "State": { "Code": "active" },
            "AvailabilityZones": a.nodes.iter().map(|&e| json!({
                "ZoneName": t.subnets[t.enis[e].subnet].az, "SubnetId": subnet_id(t.enis[e].subnet),
            })).collect::<Vec<_>>(),
            "HyperlabNodes": a.nodes.iter().map(|&e| &t.enis[e].id).collect::<Vec<_>>(),
        }));
        for p in &a.listener_ports {
            listeners.push(json!({
                "ListenerArn": listener_arn("app", &a.id, &p.to_string()),
                "LoadBalancerArn": arn, "Port": p, "Protocol": "HTTP", "DefaultActions": [],
            }));
        }
    }
    files.push((
        "elbv2/describe-load-balancers.json".into(),
        json!({ "LoadBalancers": lbs }),
    ));
    files.push((
        "elbv2/describe-listeners.json".into(),
        json!({ "Listeners": listeners }),
    ));
    let mut tgs = Vec::new();
    for (i, tg) in t.services.target_groups.iter().enumerate() {
        if tgs_implied.contains(&i) {
            continue;
        }
        let arn = tg_arn(&tg.id);
        let mut v = json!({
            "TargetGroupArn": arn, "TargetGroupName": tg.id, "Protocol": l4(tg.protocol), "Port": tg.port,
            "VpcId": vpc_id(tg.vpc), "TargetType": "ip", "HealthCheckEnabled": tg.health_check.is_some(),
        });
        if let Some(h) = &tg.health_check {
            let (protocol, path) = match &h.protocol {
                HealthProtocol::Tcp => ("TCP", None),
                HealthProtocol::Http { path } => ("HTTP", Some(path.clone())),
            };
            v["HealthCheckProtocol"] = json!(protocol);
            if let Some(p) = path {
                v["HealthCheckPath"] = json!(p);
            }
            v["HealthCheckPort"] = match h.port {
                Some(p) => json!(p.to_string()),
                None => json!("traffic-port"),
            };
            v["HealthCheckIntervalSeconds"] = json!(h.interval_ms.div_ceil(1000));
            v["HealthCheckTimeoutSeconds"] = json!(h.timeout_ms.div_ceil(1000));
            v["HyperlabHealthCheckIntervalMillis"] = json!(h.interval_ms);
            v["HyperlabHealthCheckTimeoutMillis"] = json!(h.timeout_ms);
            v["HealthyThresholdCount"] = json!(h.healthy_threshold);
            v["UnhealthyThresholdCount"] = json!(h.unhealthy_threshold);
        }
        tgs.push(v);
        files.push((
            format!("elbv2/describe-target-health-{}.json", tg.id),
            json!({ "TargetGroupArn": arn, "TargetHealthDescriptions": tg.targets.iter().map(|x| json!({
                "Target": { "Id": t.enis[x.eni].ip.to_string(), "Port": x.port },
                "TargetHealth": { "State": "healthy" },
            })).collect::<Vec<_>>() }),
        ));
        files.push((
            format!("elbv2/describe-target-group-attributes-{}.json", tg.id),
            json!({ "TargetGroupArn": arn, "Attributes": [{
                "Key": "target_health_state.unhealthy.connection_termination.enabled",
                "Value": tg.connection_termination.to_string(),
            }]}),
        ));
    }
    files.push((
        "elbv2/describe-target-groups.json".into(),
        json!({ "TargetGroups": tgs }),
    ));

    // PrivateLink.
    let mut services = Vec::new();
    for (i, s) in t.services.endpoint_services.iter().enumerate() {
        if svcs_implied.contains(&i) {
            continue;
        }
        services.push(json!({
            "ServiceId": s.id, "ServiceName": service_name(&s.id), "ServiceState": "Available",
            "ServiceType": [{ "ServiceType": "Interface" }], "AcceptanceRequired": s.acceptance_required,
            "NetworkLoadBalancerArns": [lb_arn("net", &t.services.nlbs[s.nlb].id)],
        }));
        files.push((
            format!("ec2/describe-vpc-endpoint-service-permissions-{}.json", s.id),
            json!({ "ServiceId": s.id, "AllowedPrincipals": s.allowed_principals.iter().map(|p| json!({
                "PrincipalType": if p == "*" { "All" } else { "Account" }, "Principal": p,
            })).collect::<Vec<_>>() }),
        ));
    }
    files.push((
        "ec2/describe-vpc-endpoint-service-configurations.json".into(),
        json!({ "ServiceConfigurations": services }),
    ));
    files.push((
        "ec2/describe-vpc-endpoints.json".into(),
        json!({ "VpcEndpoints": endpoints }),
    ));

    // API Gateway: VPC links, integrations, Cloud Map.
    let (mut rest, mut http, mut integrations) = (Vec::new(), Vec::new(), Vec::new());
    for (index, l) in t.services.vpc_links.iter().enumerate() {
        match &l.kind {
            VpcLinkKind::Rest { nlb, endpoint, .. } => {
                let e = &t.services.vpc_endpoints[*endpoint];
                rest.push(json!({
                    "id": l.id, "name": l.id, "status": "AVAILABLE",
                    "targetArns": [lb_arn("net", &t.services.nlbs[*nlb].id)],
                    "HyperlabIndex": index, "HyperlabVpcId": vpc_id(e.vpc),
                    "HyperlabSubnets": e.enis.iter().map(|n| json!({
                        "SubnetId": subnet_id(n.subnet), "PrivateIpAddress": n.ip.to_string(),
                    })).collect::<Vec<_>>(),
                    "HyperlabSecurityGroupIds": e.security_groups.iter().map(|&g| &t.security_groups[g].id).collect::<Vec<_>>(),
                }));
            }
            VpcLinkKind::Http {
                service_vpc,
                enis,
                security_groups,
                integrations: ints,
                ..
            } => {
                http.push(json!({
                    "VpcLinkId": l.id, "Name": l.id, "VpcLinkStatus": "AVAILABLE",
                    "SubnetIds": enis.iter().map(|n| subnet_id(n.subnet)).collect::<Vec<_>>(),
                    "SecurityGroupIds": security_groups.iter().map(|&g| &t.security_groups[g].id).collect::<Vec<_>>(),
                    "HyperlabIndex": index, "HyperlabVpcId": vpc_id(*service_vpc),
                    "HyperlabAddresses": enis.iter().map(|n| n.ip.to_string()).collect::<Vec<_>>(),
                }));
                for i in ints {
                    let uri = match &i.kind {
                        IntegrationKind::Alb { alb } => {
                            listener_arn("app", &t.services.albs[*alb].id, &i.port.to_string())
                        }
                        IntegrationKind::Nlb { nlb } => listener_arn(
                            "net",
                            &t.services.nlbs[*nlb].id,
                            &format!("{}-{}", l4(i.protocol), i.port),
                        ),
                        IntegrationKind::CloudMap { service } => format!(
                            "arn:aws:servicediscovery:{REGION}:{ACCOUNT}:service/{}",
                            t.services.cloud_map_services[*service].id
                        ),
                    };
                    integrations.push(json!({
                        "IntegrationId": i.id, "ConnectionType": "VPC_LINK", "ConnectionId": l.id,
                        "IntegrationType": "HTTP_PROXY", "IntegrationMethod": "ANY", "IntegrationUri": uri,
                        "HyperlabAddress": i.address.to_string(), "HyperlabPort": i.port,
                        "HyperlabProtocol": match i.protocol { L4Protocol::Tcp => "tcp", L4Protocol::Udp => "udp" },
                    }));
                }
            }
        }
    }
    files.push((
        "apigateway/get-vpc-links.json".into(),
        json!({ "items": rest }),
    ));
    files.push((
        "apigatewayv2/get-vpc-links.json".into(),
        json!({ "Items": http }),
    ));
    files.push((
        "apigatewayv2/get-integrations.json".into(),
        json!({ "Items": integrations }),
    ));
    for (index, c) in t.services.cloud_map_services.iter().enumerate() {
        if c.health_check.is_some() {
            left_out.push(format!(
                "the health check of Cloud Map service {}: Cloud Map's are Route 53's, not modelled",
                c.id
            ));
        }
        files.push((
            format!("servicediscovery/list-instances-{}.json", c.id),
            json!({ "ServiceId": c.id, "HyperlabIndex": index, "HyperlabVpcId": vpc_id(c.vpc),
                "Instances": c.instances.iter().map(|x| json!({
                    "Id": t.enis[x.eni].id,
                    "Attributes": { "AWS_INSTANCE_IPV4": t.enis[x.eni].ip.to_string(), "AWS_INSTANCE_PORT": x.port.to_string() },
                })).collect::<Vec<_>>() }),
        ));
    }
    for e in &t.enis {
        if e.mac != crate::model::default_mac(t.subnets[e.subnet].vpc, e.ip) {
            left_out.push(format!(
                "the MAC of {} ({}): import gives ENIs hyperlab's own MACs",
                e.id,
                crate::model::format_mac(&e.mac)
            ));
        }
    }
    gateways::files(t, &mut files);
    Exported { files, left_out }
}
