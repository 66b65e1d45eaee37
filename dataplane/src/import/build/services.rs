//! Target groups, network load balancers, endpoint services and
//! endpoints (PrivateLink).

use std::{collections::HashMap, net::Ipv4Addr};

use super::*;

/// An endpoint ENI: its subnet, its address if the dump gives it, and
/// its groups.
type Place = (Ref, Option<(String, At)>, Vec<Ref>);

/// An NLB protocol as the config writes it ("tcp", "udp"), from AWS's in
/// any case; else the protocol upper-cased (`None`: none given).
fn tcp_or_udp(protocol: &Option<String>) -> Result<&'static str, Option<String>> {
    match protocol.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("TCP") => Ok("tcp"),
        Some("UDP") => Ok("udp"),
        p => Err(p.map(str::to_string)),
    }
}

impl<'i> B<'i> {
    pub(super) fn target_groups(&mut self) -> Res<()> {
        let inv = self.inv;
        for t in &inv.tgs {
            let what = format!("target group {}", t.name);
            let protocol = match tcp_or_udp(&t.protocol) {
                Ok(p) => p,
                Err(Some(p)) => {
                    self.skip(
                        &t.arn,
                        &t.at,
                        &what,
                        &format!(
                            "protocol {p}: hyperlab's target groups are TCP or UDP (an NLB's)"
                        ),
                    );
                    continue;
                }
                Err(None) => {
                    self.skip(&t.arn, &t.at, &what, "no protocol (a Lambda target group)");
                    continue;
                }
            };
            if !matches!(t.target_type.as_str(), "instance" | "ip") {
                self.skip(
                    &t.arn,
                    &t.at,
                    &what,
                    &format!(
                        "target type {}: hyperlab's targets are lab hosts",
                        t.target_type
                    ),
                );
                continue;
            }
            let Some(vpc) = self.required_vpc(&t.vpc, &t.at, (&t.arn, &what))? else {
                continue;
            };
            let port = match t.port.map(u16::try_from) {
                Some(Ok(p)) if p > 0 => p,
                Some(_) => {
                    return Err(t
                        .at
                        .key("Port")
                        .err(format!("AWS refuses port {}", t.port.unwrap_or(0))))
                }
                None => return Err(t.at.key("Port").err("missing")),
            };
            let Some(list) = &t.targets else {
                self.skip(
                    &t.arn,
                    &t.at,
                    &what,
                    "its targets are not in the dump (elbv2 describe-target-health)",
                );
                continue;
            };
            let mut targets = Vec::new();
            for x in list {
                let tport = match x.port.map(u16::try_from) {
                    None => port,
                    Some(Ok(p)) if p > 0 => p,
                    Some(_) => {
                        return Err(x
                            .at
                            .key("Port")
                            .err(format!("AWS refuses port {}", x.port.unwrap_or(0))))
                    }
                };
                let eni = if t.target_type == "instance" {
                    match self.instance_eni.get(x.id.as_str()) {
                        Some(&e) => Some(e),
                        None if self.skipped.contains_key(&x.id)
                            || !inv.read.contains(&Source::Instances) =>
                        {
                            None
                        }
                        None => {
                            return Err(x.at.key("Id").err(format!("unknown instance {}", x.id)))
                        }
                    }
                } else {
                    let ip: Ipv4Addr = x.id.parse().map_err(|_| {
                        x.at.key("Id")
                            .err(format!("invalid IPv4 address {:?}", x.id))
                    })?;
                    self.wants.iter().enumerate().find_map(|(slot, w)| {
                        (w.vpc == vpc && w.ip.as_ref().is_some_and(|(s, _)| s.parse() == Ok(ip)))
                            .then(|| self.out.enis.iter().position(|e| e.slot == slot))
                            .flatten()
                    })
                };
                match eni {
                    Some(e) if self.out.subnets[self.out.enis[e].subnet].vpc == vpc => targets
                        .push(OTarget {
                            eni: e,
                            port: tport,
                        }),
                    _ => self.not_imported(
                        &x.at,
                        &format!("target {} of {}", x.id, t.name),
                        "not a lab host in the target group's VPC",
                    ),
                }
            }
            if targets.is_empty() {
                self.skip(
                    &t.arn,
                    &t.at,
                    &what,
                    "no registered targets that are lab hosts",
                );
                continue;
            }
            let h = &t.health;
            let health = if h.enabled {
                let protocol = match h
                    .protocol
                    .as_deref()
                    .map(str::to_ascii_uppercase)
                    .as_deref()
                {
                    Some("HTTP" | "HTTPS") => "http",
                    _ => "tcp",
                };
                let ms = |s: Option<i64>| s.and_then(|s| u32::try_from(s * 1000).ok());
                Some(OHealth {
                    protocol,
                    path: if protocol == "http" {
                        h.path.clone()
                    } else {
                        None
                    },
                    port: h.port.as_deref().and_then(|p| p.parse().ok()),
                    interval_ms: h
                        .interval_ms
                        .and_then(|m| u32::try_from(m).ok())
                        .or(ms(h.interval_s)),
                    timeout_ms: h
                        .timeout_ms
                        .and_then(|m| u32::try_from(m).ok())
                        .or(ms(h.timeout_s)),
                    healthy: h.healthy.and_then(|n| u32::try_from(n).ok()),
                    unhealthy: h.unhealthy.and_then(|n| u32::try_from(n).ok()),
                })
            } else {
                None
            };
            let id = self.unique_id(&t.name);
            self.tgs.insert(&t.arn, self.out.tgs.len());
            self.out.tgs.push(OTg {
                id,
                vpc,
                protocol,
                port,
                targets,
                health,
                connection_termination: t.connection_termination,
                comment: Some(t.arn.clone()),
            });
        }
        Ok(())
    }

    pub(super) fn load_balancers(&mut self) -> Res<()> {
        let inv = self.inv;
        for l in &inv.lbs {
            let what = format!("load balancer {}", l.name);
            if let (true, Some(nodes)) = (l.kind == "application", &l.alb_nodes) {
                self.alb(l, nodes)?;
                continue;
            }
            if l.kind != "network" {
                self.skip(&l.arn, &l.at, &what, &format!("type {}: hyperlab imports network load balancers (ALBs are lab hosts running a proxy: write them by hand)", l.kind));
                continue;
            }
            // `arn:...:loadbalancer/net/NAME/ID` -> `net/NAME/ID`, as its ENIs say.
            let tail = l
                .arn
                .split_once(":loadbalancer/")
                .map(|(_, t)| t)
                .unwrap_or(&l.arn);
            let mut nodes = Vec::new();
            let mut vpc = None;
            let mut skip = None;
            for (sref, ip) in &l.zones {
                let subnet = match self.resolve_subnet(sref)? {
                    Ok(s) => s,
                    Err(why) => {
                        skip = Some(why);
                        break;
                    }
                };
                let v = self.out.subnets[subnet].vpc;
                if vpc.is_some_and(|o| o != v) {
                    return Err(sref.at.err(format!(
                        "subnet {} is in another VPC than the load balancer's other subnets",
                        sref.id
                    )));
                }
                vpc = Some(v);
                let ip = ip.clone().or_else(|| {
                    inv.enis
                        .iter()
                        .find(|e| {
                            e.managed == Managed::Lb(tail.to_string())
                                && e.subnet.as_ref().is_some_and(|s| s.id == sref.id)
                        })
                        .and_then(|e| e.ip.clone())
                });
                let slot = self.want(
                    v,
                    subnet,
                    ip,
                    format!("{what} node in {}", sref.id),
                    &sref.at,
                );
                nodes.push((subnet, slot));
            }
            if let Some(why) = skip {
                self.skip(&l.arn, &l.at, &what, &why);
                continue;
            }
            let Some(vpc) = vpc else {
                self.skip(
                    &l.arn,
                    &l.at,
                    &what,
                    "no subnets (AvailabilityZones is empty)",
                );
                continue;
            };
            let groups = self.group_list(&l.groups, vpc, &what)?;
            let mut listeners = Vec::new();
            for x in inv.listeners.iter().filter(|x| x.lb.id == l.arn) {
                let lwhat = format!(
                    "listener {} {} of {}",
                    x.protocol.as_deref().unwrap_or("?"),
                    x.port.unwrap_or(0),
                    l.name
                );
                let protocol = match tcp_or_udp(&x.protocol) {
                    Ok(p) => p,
                    Err(p) => {
                        self.not_imported(
                            &x.at,
                            &lwhat,
                            &format!(
                                "protocol {}: hyperlab's listeners are TCP or UDP",
                                p.as_deref().unwrap_or("(none)")
                            ),
                        );
                        continue;
                    }
                };
                let port = match x.port.map(u16::try_from) {
                    Some(Ok(p)) if p > 0 => p,
                    _ => {
                        return Err(x
                            .at
                            .key("Port")
                            .err("missing or out of range (expected 1 to 65535)"))
                    }
                };
                let [tg] = x.tgs.as_slice() else {
                    self.not_imported(
                        &x.at,
                        &lwhat,
                        "a listener that does not forward to exactly one target group",
                    );
                    continue;
                };
                match self.resolve_tg(tg)? {
                    Ok(i) => listeners.push((protocol, port, self.out.tgs[i].id.clone())),
                    Err(why) => self.not_imported(&x.at, &lwhat, &why),
                }
            }
            if listeners.is_empty() {
                self.skip(
                    &l.arn,
                    &l.at,
                    &what,
                    "no listener forwarding to an imported target group (elbv2 describe-listeners)",
                );
                continue;
            }
            let id = self.unique_id(&l.name);
            self.nlbs.insert(&l.arn, self.out.nlbs.len());
            self.out.nlbs.push(ONlb {
                id,
                nodes,
                cross_zone: l.cross_zone.unwrap_or(false),
                groups,
                listeners,
                source_ports: l.source_ports.map(|(lo, hi)| {
                    (
                        u16::try_from(lo).unwrap_or(0),
                        u16::try_from(hi).unwrap_or(0),
                    )
                }),
                comment: Some(l.arn.clone()),
            });
        }
        for x in &inv.listeners {
            if !inv.lbs.iter().any(|l| l.arn == x.lb.id)
                && inv.read.contains(&Source::LoadBalancers)
            {
                return Err(x.lb.at.err(format!("unknown load balancer {}", x.lb.id)));
            }
        }
        Ok(())
    }

    pub(super) fn services_and_endpoints(&mut self) -> Res<()> {
        let inv = self.inv;
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for s in &inv.services {
            let what = format!("endpoint service {}", s.id);
            let nlb = match s.nlbs.as_slice() {
                [] if s.gwlbs > 0 => {
                    self.skip(
                        &s.id,
                        &s.at,
                        &what,
                        "fronted by a Gateway Load Balancer, which hyperlab does not model",
                    );
                    continue;
                }
                [] => {
                    self.skip(&s.id, &s.at, &what, "no network load balancer");
                    continue;
                }
                [n] => n,
                _ => {
                    self.skip(
                        &s.id,
                        &s.at,
                        &what,
                        "fronted by several NLBs: a hyperlab endpoint service fronts one",
                    );
                    continue;
                }
            };
            let nlb = match self.resolve_nlb(nlb)? {
                Ok(i) => self.out.nlbs[i].id.clone(),
                Err(why) => {
                    self.skip(&s.id, &s.at, &what, &why);
                    continue;
                }
            };
            if let Some(n) = &s.service_name {
                by_name.insert(n, self.out.services.len());
            }
            by_name.insert(&s.id, self.out.services.len());
            let id = self.unique_id(&s.id);
            self.out.services.push(OService {
                id,
                nlb,
                acceptance_required: s.acceptance_required,
                principals: s.principals.clone().unwrap_or_default(),
                principals_given: s.principals.is_some(),
                comment: s.service_name.clone(),
            });
        }
        let eni_of: HashMap<&str, &Eni> = inv.enis.iter().map(|e| (e.id.as_str(), e)).collect();
        for e in &inv.endpoints {
            let what = format!("VPC endpoint {}", e.id);
            match e.kind.as_deref() {
                None | Some("Interface") => {}
                Some(k) => {
                    self.skip(
                        &e.id,
                        &e.at,
                        &what,
                        &format!("a {k} endpoint: hyperlab models interface endpoints"),
                    );
                    continue;
                }
            }
            let state = match e.state.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None => None,
                Some("available") => Some("available"),
                Some("pendingacceptance" | "pending") => Some("pending"),
                Some("rejected") => Some("rejected"),
                Some(s) => {
                    self.skip(&e.id, &e.at, &what, &format!("its state is {s}"));
                    continue;
                }
            };
            let Some(sref) = &e.service else {
                return Err(e.at.key("ServiceName").err("missing"));
            };
            let Some(&service) = by_name.get(sref.id.as_str()) else {
                let why = match self.skipped.get(&sref.id) {
                    Some(why) => why.clone(),
                    None => format!(
                        "its service {} is not in the dump (an AWS service, or another account's)",
                        sref.id
                    ),
                };
                self.skip(&e.id, &e.at, &what, &why);
                continue;
            };
            let Some(vpc) = self.required_vpc(&e.vpc, &e.at, (&e.id, &what))? else {
                continue;
            };
            // One ENI per subnet: the dump's ENIs where it has them.
            let mut places: Vec<Place> = Vec::new();
            for r in &e.enis {
                match eni_of.get(r.id.as_str()) {
                    Some(n) => match &n.subnet {
                        Some(s) => places.push((s.clone(), n.ip.clone(), n.groups.clone())),
                        None => return Err(n.at.key("SubnetId").err("missing")),
                    },
                    None if inv.read.contains(&Source::NetworkInterfaces) => {
                        return Err(r.at.err(format!("unknown network interface {}", r.id)))
                    }
                    None => {}
                }
            }
            for s in &e.subnets {
                if !places.iter().any(|(p, _, _)| p.id == s.id) {
                    places.push((s.clone(), None, Vec::new()));
                }
            }
            let mut nodes = Vec::new();
            let mut skip = None;
            for (sref, ip, _) in &places {
                match self.resolve_subnet(sref)? {
                    Ok(s) => {
                        let slot = self.want(
                            vpc,
                            s,
                            ip.clone(),
                            format!("{what} in {}", sref.id),
                            &sref.at,
                        );
                        nodes.push((s, slot));
                    }
                    Err(why) => skip = Some(why),
                }
            }
            if let Some(why) = skip {
                self.skip(&e.id, &e.at, &what, &why);
                continue;
            }
            if nodes.is_empty() {
                self.skip(&e.id, &e.at, &what, "no subnets");
                continue;
            }
            let mut group_refs = e.groups.clone();
            if group_refs.is_empty() {
                group_refs = places.iter().flat_map(|(_, _, g)| g.clone()).collect();
            }
            let mut groups = self.group_list(&group_refs, vpc, &what)?;
            if groups.is_empty() {
                // AWS: an endpoint created without groups gets the VPC's default group.
                let default = inv.sgs.iter().find(|g| {
                    g.group_name.as_deref() == Some("default")
                        && g.vpc
                            .as_ref()
                            .is_some_and(|v| e.vpc.as_ref().is_some_and(|r| r.id == v.id))
                });
                match default.and_then(|g| self.sgs.get(g.id.as_str())) {
                    Some(&i) => groups.push(self.out.sgs[i].id.clone()),
                    None => {
                        self.skip(
                            &e.id,
                            &e.at,
                            &what,
                            "no security groups, and the VPC's default group is not in the dump",
                        );
                        continue;
                    }
                }
            }
            let principal = match (&e.principal, &e.owner) {
                (Some(p), _) => p.clone(),
                (None, Some(o)) => format!("arn:aws:iam::{o}:root"),
                (None, None) => {
                    self.line(&e.at, "warning", format!("{what}: no OwnerId in the dump; principal arn:aws:iam::{DEFAULT_ACCOUNT}:root"));
                    format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root")
                }
            };
            let svc = &mut self.out.services[service];
            if !svc.principals.contains(&principal) && !svc.principals.iter().any(|p| p == "*") {
                svc.principals.push(principal.clone());
                if svc.principals_given {
                    // The connection exists: AWS keeps an endpoint's connection
                    // when its principal is removed from the permissions later.
                    let sid = svc.id.clone();
                    self.line(
                        &e.at,
                        "warning",
                        format!(
                            "{what}: its principal {principal} is not in the permissions of {sid}; \
                             added to its allowed_principals, as the connection exists"
                        ),
                    );
                }
            }
            let id = self.unique_id(&e.id);
            self.out.endpoints.push(OEndpoint {
                id,
                service,
                vpc,
                nodes,
                groups,
                principal,
                state,
                comment: comment(&e.name),
            });
        }
        Ok(())
    }

    /// An ALB an export describes: its nodes are lab hosts' ENIs, its
    /// listener ports its listeners'.
    fn alb(&mut self, l: &'i Lb, nodes: &[Ref]) -> Res<()> {
        let what = format!("load balancer {}", l.name);
        let mut out = Vec::new();
        for n in nodes {
            match self.enis.get(&n.id) {
                Some(&e) => out.push(e),
                None if self.skipped.contains_key(&n.id) => {
                    self.skip(
                        &l.arn,
                        &l.at,
                        &what,
                        &format!("its node {} is not imported", n.id),
                    );
                    return Ok(());
                }
                None => return Err(n.at.err(format!("unknown network interface {}", n.id))),
            }
        }
        let mut ports = Vec::new();
        for x in self.inv.listeners.iter().filter(|x| x.lb.id == l.arn) {
            match x.port.map(u16::try_from) {
                Some(Ok(p)) if p > 0 => ports.push(p),
                _ => {
                    return Err(x
                        .at
                        .key("Port")
                        .err("missing or out of range (expected 1 to 65535)"))
                }
            }
        }
        if ports.is_empty() {
            self.skip(
                &l.arn,
                &l.at,
                &what,
                "no listeners (elbv2 describe-listeners)",
            );
            return Ok(());
        }
        let id = self.unique_id(&l.name);
        self.albs.insert(&l.arn, self.out.albs.len());
        self.out.albs.push(OAlb {
            id,
            nodes: out,
            listener_ports: ports,
            comment: Some(l.arn.clone()),
        });
        Ok(())
    }
}
