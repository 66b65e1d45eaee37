//! [`Out`] -> hyperlab TOML, in the shipped configs' layout: per VPC its
//! subnets, groups and ENIs, then the load balancers and PrivateLink. AWS
//! ids stay ids; Name tags and ARNs become comments.

use std::fmt::Write as _;

use super::build::{OAclEntry, OIntegrationTarget, OLinkKind, ORule, Out};

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", items.join(", "))
}

/// A comment on one line (a Name tag may hold anything).
fn note(c: &Option<String>) -> String {
    match c {
        Some(c) => format!(
            "   # {}",
            c.chars()
                .map(|ch| if ch.is_control() { ' ' } else { ch })
                .collect::<String>()
        ),
        None => String::new(),
    }
}

fn rules(r: &[ORule]) -> String {
    if r.is_empty() {
        return "[]".into();
    }
    let mut s = "[\n".to_string();
    for r in r {
        let ports = match r.ports {
            Some((a, b)) if a == b => format!(", ports = {a}"),
            Some((a, b)) => format!(", ports = \"{a}-{b}\""),
            None => String::new(),
        };
        let icmp = match r.icmp {
            Some((t, c)) => format!(", icmp = {{ type = {t}, code = {c} }}"),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "  {{ protocol = {}{ports}{icmp}, peer = {} }},",
            q(&r.protocol),
            q(&r.peer)
        );
    }
    s.push(']');
    s
}

fn acl_entries(list: &[OAclEntry]) -> String {
    if list.is_empty() {
        return "[]".into();
    }
    let mut s = "[\n".to_string();
    for e in list {
        let ports = match e.ports {
            Some((a, b)) if a == b => format!(", ports = {a}"),
            Some((a, b)) => format!(", ports = \"{a}-{b}\""),
            None => String::new(),
        };
        let icmp = match e.icmp {
            Some((t, c)) => format!(", icmp = {{ type = {t}, code = {c} }}"),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "  {{ rule = {}, action = {}, protocol = {}{ports}{icmp}, cidr = {} }},",
            e.rule,
            q(if e.allow { "allow" } else { "deny" }),
            q(&e.protocol),
            q(&e.cidr.to_string())
        );
    }
    s.push(']');
    s
}

fn places(out: &Out, list: &[(usize, usize)]) -> String {
    let v: Vec<String> = list
        .iter()
        .map(|&(sn, slot)| {
            format!(
                "{{ subnet = {}, ip = {} }}",
                q(&out.subnets[sn].id),
                q(&out.addrs[slot].to_string())
            )
        })
        .collect();
    format!("[{}]", v.join(", "))
}

fn section(s: &mut String, title: &str) {
    let _ = writeln!(s, "# {:-<70}\n", format!("{title} "));
}

/// The config, kind by kind, each in the dump's order (a topology's order
/// is its file's, per kind).
pub fn render(out: &Out, lab: &str, source: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Imported from {source} by `dataplane import`.");
    let _ = writeln!(
        s,
        "# AWS ids are the ids; Name tags and ARNs are comments.\n"
    );
    let _ = writeln!(s, "[lab]\nname = {}", q(lab));
    if let Some(m) = out.nacl_entries_max {
        let _ = writeln!(s, "nacl_entries_max = {m}");
    }
    s.push('\n');
    if !out.internet_hosts.is_empty() {
        let hosts: Vec<String> = out
            .internet_hosts
            .iter()
            .map(|(name, slot)| {
                format!(
                    "  {{ name = {}, ip = {} }},\n",
                    q(name),
                    q(&out.public_addrs[*slot].to_string())
                )
            })
            .collect();
        let _ = writeln!(s, "[internet]\nhosts = [\n{}]\n", hosts.concat());
    }
    section(&mut s, "VPCs and subnets");
    for vpc in &out.vpcs {
        let _ = writeln!(
            s,
            "[[vpc]]\nid = {}{}\ncidr = {}\n",
            q(&vpc.id),
            note(&vpc.comment),
            q(&vpc.cidr.to_string())
        );
    }
    for sn in &out.subnets {
        let _ = writeln!(
            s,
            "[[subnet]]\nid = {}{}\nvpc = {}\ncidr = {}\naz = {}\n",
            q(&sn.id),
            note(&sn.comment),
            q(&out.vpcs[sn.vpc].id),
            q(&sn.cidr.to_string()),
            q(&sn.az)
        );
    }
    section(&mut s, "security groups");
    for g in &out.sgs {
        let _ = writeln!(
            s,
            "[[security_group]]\nid = {}{}\nvpc = {}\ningress = {}",
            q(&g.id),
            note(&g.comment),
            q(&out.vpcs[g.vpc].id),
            rules(&g.ingress)
        );
        match &g.egress {
            Some(e) => {
                let _ = writeln!(s, "egress = {}\n", rules(e));
            }
            None => s.push_str("# no egress in the dump: AWS's default (all to 0.0.0.0/0)\n\n"),
        }
    }
    if !out.nacls.is_empty() {
        section(&mut s, "network ACLs");
    }
    for n in &out.nacls {
        let subnets: Vec<String> = n
            .subnets
            .iter()
            .map(|&i| out.subnets[i].id.clone())
            .collect();
        let _ = writeln!(
            s,
            "[[network_acl]]\nid = {}{}\nvpc = {}\nsubnets = {}\ningress = {}\negress = {}\n",
            q(&n.id),
            note(&n.comment),
            q(&out.vpcs[n.vpc].id),
            list(&subnets),
            acl_entries(&n.ingress),
            acl_entries(&n.egress)
        );
    }
    if !out.igws.is_empty() || !out.nats.is_empty() {
        section(&mut s, "internet and NAT gateways");
    }
    for g in &out.igws {
        let _ = writeln!(
            s,
            "[[internet_gateway]]\nid = {}{}\nvpc = {}\n",
            q(&g.id),
            note(&g.comment),
            q(&out.vpcs[g.vpc].id)
        );
    }
    for g in &out.nats {
        let ports = match g.ports {
            Some((a, b)) => format!("ports = \"{a}-{b}\"\n"),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "[[nat_gateway]]\nid = {}{}\nsubnet = {}\nprivate_ip = {}\nelastic_ip = {}\n{ports}",
            q(&g.id),
            note(&g.comment),
            q(&out.subnets[g.subnet].id),
            q(&out.addrs[g.slot].to_string()),
            q(&out.public_addrs[g.public].to_string())
        );
    }
    if !out.peerings.is_empty() {
        section(&mut s, "VPC peering connections");
    }
    for p in &out.peerings {
        let _ = writeln!(
            s,
            "[[vpc_peering]]\nid = {}\nrequester = {}\naccepter = {}\nstatus = {}\n",
            q(&p.id),
            q(&out.vpcs[p.requester].id),
            q(&out.vpcs[p.accepter].id),
            q(p.status)
        );
    }
    if !out.route_tables.is_empty() {
        section(&mut s, "route tables");
    }
    for r in &out.route_tables {
        let subnets: Vec<String> = r
            .subnets
            .iter()
            .map(|&i| out.subnets[i].id.clone())
            .collect();
        let routes: Vec<String> = r
            .routes
            .iter()
            .map(|(d, to)| {
                format!(
                    "{{ destination = {}, target = {} }}",
                    q(&d.to_string()),
                    q(to)
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "[[route_table]]\nid = {}{}\nvpc = {}\nmain = {}\nsubnets = {}\nroutes = [{}]\n",
            q(&r.id),
            note(&r.comment),
            q(&out.vpcs[r.vpc].id),
            r.main,
            list(&subnets),
            routes.join(", ")
        );
    }
    section(&mut s, "ENIs (hosts)");
    for (i, e) in out.enis.iter().enumerate() {
        let public = match out.public_ips.iter().find(|(x, _)| *x == i) {
            Some((_, slot)) => format!("public_ip = {}\n", q(&out.public_addrs[*slot].to_string())),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "[[eni]]\nid = {}{}\nsubnet = {}\nip = {}\n{public}security_groups = {}\nhost = {}\n",
            q(&e.id),
            note(&e.comment),
            q(&out.subnets[e.subnet].id),
            q(&out.addrs[e.slot].to_string()),
            list(&e.groups),
            q(&e.host)
        );
    }
    if !out.tgs.is_empty() || !out.nlbs.is_empty() || !out.albs.is_empty() {
        section(&mut s, "load balancers");
    }
    for t in &out.tgs {
        let targets: Vec<String> = t
            .targets
            .iter()
            .map(|x| {
                let e = &out.enis[x.eni];
                if x.port == t.port {
                    e.id.clone()
                } else {
                    format!("{}:{}", out.addrs[e.slot], x.port)
                }
            })
            .collect();
        let _ = writeln!(
            s,
            "[[target_group]]\nid = {}{}\nvpc = {}\nprotocol = {}\nport = {}\ntargets = {}",
            q(&t.id),
            note(&t.comment),
            q(&out.vpcs[t.vpc].id),
            q(t.protocol),
            t.port,
            list(&targets)
        );
        if let Some(h) = &t.health {
            let mut parts = vec![format!("protocol = {}", q(h.protocol))];
            if let Some(p) = &h.path {
                parts.push(format!("path = {}", q(p)));
            }
            if let Some(p) = h.port {
                parts.push(format!("port = {p}"));
            }
            if let Some(i) = h.interval_ms {
                parts.push(format!("interval_ms = {i}"));
            }
            if let Some(i) = h.timeout_ms {
                parts.push(format!("timeout_ms = {i}"));
            }
            if let Some(n) = h.healthy {
                parts.push(format!("healthy_threshold = {n}"));
            }
            if let Some(n) = h.unhealthy {
                parts.push(format!("unhealthy_threshold = {n}"));
            }
            let _ = writeln!(s, "health_check = {{ {} }}", parts.join(", "));
        }
        if let Some(c) = t.connection_termination {
            let _ = writeln!(s, "connection_termination = {c}");
        }
        s.push('\n');
    }
    for n in &out.nlbs {
        let listeners: Vec<String> = n
            .listeners
            .iter()
            .map(|(p, port, tg)| {
                format!(
                    "{{ protocol = {}, port = {port}, target_group = {} }}",
                    q(p),
                    q(tg)
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "[[nlb]]\nid = {}{}\nsubnets = {}\ncross_zone = {}\nsecurity_groups = {}\nlisteners = [{}]",
            q(&n.id),
            note(&n.comment),
            places(out, &n.nodes),
            n.cross_zone,
            list(&n.groups),
            listeners.join(", ")
        );
        if let Some((lo, hi)) = n.source_ports {
            let _ = writeln!(s, "source_ports = \"{lo}-{hi}\"");
        }
        s.push('\n');
    }
    for a in &out.albs {
        let nodes: Vec<String> = a.nodes.iter().map(|&e| out.enis[e].id.clone()).collect();
        let ports: Vec<String> = a.listener_ports.iter().map(u16::to_string).collect();
        let _ = writeln!(
            s,
            "[[alb]]\nid = {}{}\nnodes = {}\nlistener_ports = [{}]\n",
            q(&a.id),
            note(&a.comment),
            list(&nodes),
            ports.join(", ")
        );
    }
    if !out.services.is_empty() || !out.endpoints.is_empty() {
        section(&mut s, "PrivateLink");
    }
    for v in &out.services {
        let _ = writeln!(
            s,
            "[[endpoint_service]]\nid = {}{}\nnlb = {}",
            q(&v.id),
            note(&v.comment),
            q(&v.nlb)
        );
        if let Some(a) = v.acceptance_required {
            let _ = writeln!(s, "acceptance_required = {a}");
        }
        if !v.principals_given {
            s.push_str("# the principals of the endpoints that connected (not in the dump)\n");
        }
        let _ = writeln!(s, "allowed_principals = {}\n", list(&v.principals));
    }
    for e in &out.endpoints {
        let _ = writeln!(
            s,
            "[[vpc_endpoint]]\nid = {}{}\nservice = {}\nvpc = {}\nsubnets = {}\nsecurity_groups = {}\nprincipal = {}",
            q(&e.id),
            note(&e.comment),
            q(&out.services[e.service].id),
            q(&out.vpcs[e.vpc].id),
            places(out, &e.nodes),
            list(&e.groups),
            q(&e.principal)
        );
        if let Some(st) = e.state {
            let _ = writeln!(s, "state = {}", q(st));
        }
        s.push('\n');
    }
    if !out.cloud_maps.is_empty() || !out.links.is_empty() {
        section(&mut s, "API Gateway VPC links");
    }
    for c in &out.cloud_maps {
        let instances: Vec<String> = c
            .instances
            .iter()
            .map(|&(e, p)| format!("{}:{p}", out.addrs[out.enis[e].slot]))
            .collect();
        let _ = writeln!(
            s,
            "[[cloud_map_service]]\nid = {}\nvpc = {}\ninstances = {}\n",
            q(&c.id),
            q(&out.vpcs[c.vpc].id),
            list(&instances)
        );
    }
    for l in &out.links {
        let _ = writeln!(s, "[[vpc_link]]\nid = {}{}", q(&l.id), note(&l.comment));
        match &l.kind {
            OLinkKind::Rest {
                nlb,
                vpc,
                places: at,
                groups,
            } => {
                let _ = writeln!(
                    s,
                    "kind = \"rest\"\nnlb = {}\nvpc = {}\nsubnets = {}\nsecurity_groups = {}\n",
                    q(nlb),
                    q(&out.vpcs[*vpc].id),
                    places(out, at),
                    list(groups)
                );
            }
            OLinkKind::Http {
                subnets,
                addresses,
                groups,
                service_vpc,
                integrations,
            } => {
                let subnets: Vec<String> =
                    subnets.iter().map(|&i| out.subnets[i].id.clone()).collect();
                let ints: Vec<String> = integrations
                    .iter()
                    .map(|i| {
                        let target = match &i.target {
                            OIntegrationTarget::Alb(a) => format!("alb = {}", q(a)),
                            OIntegrationTarget::Nlb(n) => format!("nlb = {}", q(n)),
                            OIntegrationTarget::CloudMap(c) => format!("cloud_map = {}", q(c)),
                        };
                        format!(
                            "  {{ id = {}, {target}, port = {}, protocol = {}, address = {} }},\n",
                            q(&i.id),
                            i.port,
                            q(i.protocol),
                            q(&out.addrs[i.slot].to_string())
                        )
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    "kind = \"http\"\nsubnets = {}\nsecurity_groups = {}\nservice_vpc = {}\nintegrations = [\n{}]",
                    list(&subnets),
                    list(groups),
                    q(&out.vpcs[*service_vpc].id),
                    ints.concat()
                );
                if let Some(a) = addresses {
                    let a: Vec<String> =
                        a.iter().map(|&slot| out.addrs[slot].to_string()).collect();
                    let _ = writeln!(s, "addresses = {}", list(&a));
                }
                s.push('\n');
            }
        }
    }
    s
}
