//! VPCs, subnets, security groups and their rules, ENIs and the hosts
//! they belong to.

use std::collections::{HashMap, HashSet};

use ipnet::Ipv4Net;

use super::*;

impl<'i> B<'i> {
    pub(super) fn vpcs_and_subnets(&mut self) -> Res<()> {
        let inv = self.inv;
        let used = used_subnets(inv);
        let mut seen = HashSet::new();
        for v in &inv.vpcs {
            if !seen.insert(v.id.as_str()) {
                return Err(v.at.err(format!("duplicate VPC {}", v.id)));
            }
            let in_use = inv.subnets.iter().any(|s| {
                s.vpc.as_ref().is_some_and(|r| r.id == v.id) && used.contains(s.id.as_str())
            }) || inv
                .endpoints
                .iter()
                .any(|e| e.vpc.as_ref().is_some_and(|r| r.id == v.id));
            if v.is_default && !in_use {
                self.skip(
                    &v.id,
                    &v.at,
                    &format!("VPC {}", v.id),
                    "the account's default VPC, with nothing in it",
                );
                continue;
            }
            let Some((cidr, at)) = &v.cidr else {
                return Err(v
                    .at
                    .key("CidrBlock")
                    .err("missing (expected the VPC's IPv4 CIDR)"));
            };
            let cidr = aws_network(cidr).map_err(|m| at.err(m))?;
            for (c, at) in &v.secondary {
                self.not_imported(
                    at,
                    &format!("secondary CIDR {c} of {}", v.id),
                    "a hyperlab VPC has one CIDR (its subnets in this one are not imported)",
                );
            }
            for (c, at) in &v.ipv6 {
                self.not_imported(
                    at,
                    &format!("IPv6 CIDR {c} of {}", v.id),
                    "hyperlab is IPv4 only",
                );
            }
            let id = self.unique_id(&v.id);
            self.vpcs.insert(&v.id, self.out.vpcs.len());
            self.out.vpcs.push(OVpc {
                id,
                cidr,
                comment: comment(&v.name),
            });
        }
        let mut seen = HashSet::new();
        for s in &inv.subnets {
            if !seen.insert(s.id.as_str()) {
                return Err(s.at.err(format!("duplicate subnet {}", s.id)));
            }
            let what = format!("subnet {}", s.id);
            let Some(vref) = &s.vpc else {
                return Err(s.at.key("VpcId").err("missing"));
            };
            let vpc = match self.resolve_vpc(vref)? {
                Ok(v) => v,
                Err(why) => {
                    let why =
                        if self.skipped.contains_key(&vref.id) && !used.contains(s.id.as_str()) {
                            format!(
                                "in {}, the account's default VPC, with nothing in it",
                                vref.id
                            )
                        } else {
                            why
                        };
                    self.skip(&s.id, &s.at, &what, &why);
                    continue;
                }
            };
            let Some((cidr, at)) = &s.cidr else {
                return Err(s
                    .at
                    .key("CidrBlock")
                    .err("missing (expected the subnet's IPv4 CIDR)"));
            };
            let cidr = aws_network(cidr).map_err(|m| at.err(m))?;
            let vcidr = self.out.vpcs[vpc].cidr;
            if !vcidr.contains(&cidr) {
                let v = inv.vpcs.iter().find(|v| v.id == vref.id).expect("resolved");
                if v.secondary
                    .iter()
                    .any(|(c, _)| c.parse::<Ipv4Net>().is_ok_and(|n| n.contains(&cidr)))
                {
                    self.skip(
                        &s.id,
                        &s.at,
                        &what,
                        &format!("in a secondary CIDR of {} (hyperlab VPCs have one)", v.id),
                    );
                    continue;
                }
                return Err(at.err(format!(
                    "AWS refuses {cidr}: it is outside the CIDR of {} ({vcidr})",
                    vref.id
                )));
            }
            for (c, at) in &s.ipv6 {
                self.not_imported(
                    at,
                    &format!("IPv6 CIDR {c} of {}", s.id),
                    "hyperlab is IPv4 only",
                );
            }
            let az = match &s.az {
                Some(az) => az.clone(),
                None => {
                    self.line(
                        &s.at,
                        "warning",
                        format!("{what}: no availability zone in the dump; using \"az1\""),
                    );
                    "az1".into()
                }
            };
            let id = self.unique_id(&s.id);
            self.subnets.insert(&s.id, self.out.subnets.len());
            self.out.subnets.push(OSubnet {
                id,
                vpc,
                cidr,
                az,
                comment: comment(&s.name),
            });
        }
        Ok(())
    }

    pub(super) fn groups(&mut self) -> Res<()> {
        let inv = self.inv;
        let mut seen = HashSet::new();
        let mut kept = Vec::new();
        for g in &inv.sgs {
            if !seen.insert(g.id.as_str()) {
                return Err(g.at.err(format!("duplicate security group {}", g.id)));
            }
            let what = format!("security group {}", g.id);
            let Some(vref) = &g.vpc else {
                self.skip(&g.id, &g.at, &what, "not in a VPC (an EC2-Classic group)");
                continue;
            };
            let vpc = match self.resolve_vpc(vref)? {
                Ok(v) => v,
                Err(why) => {
                    self.skip(&g.id, &g.at, &what, &why);
                    continue;
                }
            };
            if g.group_name.as_deref() == Some("default")
                && !group_used(inv, &g.id)
                && !needs_default_group(inv, &vref.id)
            {
                self.skip(
                    &g.id,
                    &g.at,
                    &what,
                    "the VPC's default group, used by nothing",
                );
                continue;
            }
            let id = self.unique_id(&g.id);
            let name = match (&g.name, &g.group_name) {
                (Some(n), _) => Some(format!("Name: {n}")),
                (None, Some(n)) => Some(format!("GroupName: {n}")),
                _ => None,
            };
            self.sgs.insert(&g.id, self.out.sgs.len());
            self.out.sgs.push(OSg {
                id,
                vpc,
                ingress: Vec::new(),
                egress: None,
                comment: name,
            });
            kept.push(g);
        }
        // Rules, once every group has its index (rules name other groups).
        for (i, g) in kept.into_iter().enumerate() {
            let vpc = self.out.sgs[i].vpc;
            let mut ingress = Vec::new();
            for r in g.ingress.iter().flatten() {
                self.rule(&g.id, vpc, r, &mut ingress, false)?;
            }
            self.out.sgs[i].ingress = ingress;
            if let Some(rules) = &g.egress {
                let mut egress = Vec::new();
                for r in rules {
                    self.rule(&g.id, vpc, r, &mut egress, false)?;
                }
                self.out.sgs[i].egress = Some(egress);
            }
        }
        for (gref, r) in &inv.rules {
            let i = match self.resolve_sg(gref)? {
                Ok(i) => i,
                Err(why) => {
                    self.not_imported(&gref.at, &format!("a rule of {}", gref.id), &why);
                    continue;
                }
            };
            let vpc = self.out.sgs[i].vpc;
            let mut list = if r.egress {
                self.out.sgs[i].egress.take().unwrap_or_default()
            } else {
                std::mem::take(&mut self.out.sgs[i].ingress)
            };
            self.rule(&gref.id, vpc, r, &mut list, true)?;
            if r.egress {
                self.out.sgs[i].egress = Some(list);
            } else {
                self.out.sgs[i].ingress = list;
            }
        }
        Ok(())
    }

    /// One AWS rule (one peer) into `list`, or a line saying why not.
    pub(super) fn rule(
        &mut self,
        group: &str,
        vpc: usize,
        r: &Rule,
        list: &mut Vec<ORule>,
        merged: bool,
    ) -> Res<()> {
        let dir = if r.egress { "egress" } else { "ingress" };
        let what = format!(
            "{dir} rule of {group} ({} {})",
            r.protocol,
            peer_text(&r.peer)
        );
        let ports = |lo: Option<i64>, hi: Option<i64>| -> Res<Option<(u16, u16)>> {
            match (lo, hi) {
                (None | Some(-1), None | Some(-1)) => Ok(None),
                (Some(0), Some(65535)) => Ok(None),
                (lo, hi) => {
                    let lo = lo.unwrap_or(0);
                    let hi = hi.unwrap_or(lo);
                    let ok = |p: i64| u16::try_from(p).ok();
                    match (ok(lo), ok(hi)) {
                        (Some(a), Some(b)) if a <= b => Ok(Some((a, b))),
                        _ => Err(r.at.err(format!("AWS refuses the port range {lo}-{hi}"))),
                    }
                }
            }
        };
        let mut icmp = None;
        let (protocol, ports) = match r.protocol.to_ascii_lowercase().as_str() {
            "-1" | "all" => ("all".to_string(), None),
            "tcp" | "6" => ("tcp".to_string(), ports(r.from, r.to)?),
            "udp" | "17" => ("udp".to_string(), ports(r.from, r.to)?),
            "icmp" | "1" => {
                // AWS's FromPort / ToPort for ICMP: the type and code.
                let v = |n: Option<i64>, what: &str| -> Res<i16> {
                    match n {
                        None => Ok(-1),
                        Some(n) if (-1..=255).contains(&n) => Ok(n as i16),
                        Some(n) => Err(r.at.err(format!("AWS refuses ICMP {what} {n}"))),
                    }
                };
                let tc = (v(r.from, "type")?, v(r.to, "code")?);
                icmp = (tc.0 != -1).then_some(tc);
                ("icmp".to_string(), None)
            }
            p if p.parse::<u8>().is_ok() => (p.to_string(), None),
            p => {
                self.not_imported(
                    &r.at,
                    &what,
                    &format!("IP protocol {p}: not a protocol number or name AWS takes"),
                );
                return Ok(());
            }
        };
        let peer = match &r.peer {
            Peer::Cidr(c) => aws_peer(c).map_err(|m| r.at.err(m))?.to_string(),
            Peer::Group(g) => {
                match self.resolve(
                    g,
                    &self.sgs,
                    "group",
                    Source::SecurityGroups,
                    "describe-security-groups",
                )? {
                    Ok(i)
                        if self.out.sgs[i].vpc == vpc || self.peered(vpc, self.out.sgs[i].vpc) =>
                    {
                        self.out.sgs[i].id.clone()
                    }
                    Ok(i) => {
                        let other = self.out.vpcs[self.out.sgs[i].vpc].id.clone();
                        self.not_imported(
                            &r.at,
                            &what,
                            &format!(
                                "{} is in {other}: a rule names a group of its own VPC or of one peered \
                                 with it by an active connection",
                                g.id
                            ),
                        );
                        return Ok(());
                    }
                    Err(why) => {
                        self.not_imported(&r.at, &what, &why);
                        return Ok(());
                    }
                }
            }
            Peer::ForeignGroup(g) => {
                self.not_imported(
                    &r.at,
                    &what,
                    &format!("group {g}: peering is not modelled by hyperlab yet"),
                );
                return Ok(());
            }
            Peer::Ipv6(_) => {
                self.not_imported(&r.at, &what, "hyperlab is IPv4 only");
                return Ok(());
            }
            Peer::PrefixList(p) => {
                self.not_imported(
                    &r.at,
                    &what,
                    &format!("prefix list {p}: prefix lists are not modelled by hyperlab"),
                );
                return Ok(());
            }
        };
        let rule = ORule {
            protocol,
            ports,
            icmp,
            peer,
        };
        // A rule both a group and the rules file list is written once.
        if !(merged && list.contains(&rule)) {
            list.push(rule);
        }
        Ok(())
    }

    pub(super) fn enis(&mut self) -> Res<()> {
        let inv = self.inv;
        // Instances: skipped ones take their ENIs with them; an instance
        // the dump lists without ENIs gets one from its own fields.
        let mut instances: HashMap<&str, &Instance> = HashMap::new();
        let mut enis: Vec<Eni> = Vec::new();
        let mut seen = HashSet::new();
        for i in &inv.instances {
            if !seen.insert(i.id.as_str()) {
                return Err(i.at.err(format!("duplicate instance {}", i.id)));
            }
            if let Some(s @ ("terminated" | "shutting-down")) = i.state.as_deref() {
                self.skip(
                    &i.id,
                    &i.at,
                    &format!("instance {}", i.id),
                    &format!("it is {s}"),
                );
                continue;
            }
            instances.insert(&i.id, i);
            if !inv
                .enis
                .iter()
                .any(|e| e.instance.as_deref() == Some(&i.id))
            {
                enis.push(Eni {
                    id: i.id.clone(),
                    name: None,
                    subnet: i.subnet.clone(),
                    ip: i.ip.clone(),
                    groups: i.groups.clone(),
                    instance: Some(i.id.clone()),
                    managed: Managed::No,
                    public_ip: i.public_ip.clone(),
                    at: i.at.clone(),
                });
            }
        }
        // The dump's ENIs first, in its order; synthesized ones after.
        let mut all: Vec<Eni> = inv.enis.clone();
        all.extend(enis);
        let endpoint_enis: HashSet<&str> = inv
            .endpoints
            .iter()
            .flat_map(|e| e.enis.iter().map(|r| r.id.as_str()))
            .collect();
        let nat_enis = self.nat_enis();
        let mut seen = HashSet::new();
        for e in &all {
            if !seen.insert(e.id.clone()) {
                return Err(e.at.err(format!("duplicate network interface {}", e.id)));
            }
            let what = format!("network interface {}", e.id);
            if let Some(i) = &e.instance {
                if let Some(why) = self.skipped.get(i).cloned() {
                    self.skip(&e.id, &e.at, &what, &format!("its instance {i}: {why}"));
                    continue;
                }
            }
            match &e.managed {
                Managed::No if endpoint_enis.contains(e.id.as_str()) => continue,
                Managed::No if nat_enis.contains(e.id.as_str()) => continue,
                Managed::No => {}
                // Read through their owners: load balancers, endpoints.
                Managed::Lb(_) => continue,
                Managed::Endpoint => {
                    if !endpoint_enis.contains(e.id.as_str()) {
                        self.not_imported(
                            &e.at,
                            &what,
                            "an endpoint's interface, but no endpoint in the dump lists it",
                        );
                    }
                    continue;
                }
                // Read through its NAT gateway.
                Managed::Other(_) if nat_enis.contains(e.id.as_str()) => continue,
                Managed::Other(desc) if desc.starts_with("interface type nat_gateway") => {
                    self.not_imported(
                        &e.at,
                        &what,
                        "a NAT gateway's interface, but no NAT gateway in the dump lists it",
                    );
                    continue;
                }
                Managed::Other(desc) => {
                    self.not_imported(
                        &e.at,
                        &what,
                        &format!("managed by a service hyperlab does not model ({desc})"),
                    );
                    continue;
                }
            }
            let Some(subnet) = self.required_subnet(&e.subnet, &e.at, (&e.id, &what))? else {
                continue;
            };
            let vpc = self.out.subnets[subnet].vpc;
            let mut groups = self.group_list(&e.groups, vpc, &what)?;
            if groups.is_empty() {
                groups.push(self.default_group(vpc, &e.at, &what));
            }
            if groups.len() > 5 {
                let extra = groups.split_off(5);
                self.not_imported(
                    &e.at,
                    &format!("security groups {} of {what}", extra.join(", ")),
                    "a hyperlab ENI has 1 to 5 groups (AWS's default quota)",
                );
            }
            let (host, comment) = match e.instance.as_deref().and_then(|i| instances.get(i)) {
                Some(i) => {
                    let host = match self.instance_eni.get(i.id.as_str()) {
                        Some(&first) => self.out.enis[first].host.clone(),
                        None => self.unique_host(i.name.as_deref().unwrap_or(&i.id), &i.id),
                    };
                    let mut c = format!("instance {}", i.id);
                    if let Some(n) = &i.name {
                        c.push_str(&format!(" (Name: {n})"));
                    }
                    (host, Some(c))
                }
                None => (
                    self.unique_host(e.name.as_deref().unwrap_or(&e.id), &e.id),
                    comment(&e.name),
                ),
            };
            let slot = self.want(vpc, subnet, e.ip.clone(), what.clone(), &e.at);
            let id = self.unique_id(&e.id);
            let index = self.out.enis.len();
            if let Some(i) = &e.instance {
                if let Some(i) = instances.get(i.as_str()) {
                    self.instance_eni.entry(&i.id).or_insert(index);
                }
            }
            self.enis.insert(e.id.clone(), index);
            if let Some(p) = &e.public_ip {
                self.eni_public.push((index, p.clone()));
            }
            self.out.enis.push(OEni {
                id,
                subnet,
                slot,
                groups,
                host,
                comment,
            });
        }
        Ok(())
    }

    /// AWS gives an ENI created without groups its VPC's default group:
    /// the dump's, or (when the dump has none) one made as AWS makes it
    /// (all traffic from its members; AWS's default egress).
    pub(super) fn default_group(&mut self, vpc: usize, at: &At, what: &str) -> String {
        let aws_vpc = self.out.vpcs[vpc].id.clone();
        let found = self.inv.sgs.iter().find(|g| {
            g.group_name.as_deref() == Some("default")
                && g.vpc.as_ref().is_some_and(|v| v.id == aws_vpc)
        });
        if let Some(&i) = found.and_then(|g| self.sgs.get(g.id.as_str())) {
            return self.out.sgs[i].id.clone();
        }
        let made = format!("{aws_vpc}-default");
        if let Some(g) = self.out.sgs.iter().find(|g| g.id == made) {
            return g.id.clone();
        }
        let id = self.unique_id(&made);
        self.line(
            at,
            "warning",
            format!(
                "{what}: no security groups, and the dump has no default group for {aws_vpc}: \
                 made {id} as AWS makes one (all traffic from its members)"
            ),
        );
        self.out.sgs.push(OSg {
            id: id.clone(),
            vpc,
            ingress: vec![ORule {
                protocol: "all".into(),
                ports: None,
                icmp: None,
                peer: id.clone(),
            }],
            egress: None,
            comment: Some(format!("the default group of {aws_vpc}, not in the dump")),
        });
        id
    }

    /// An ENI's (or endpoint's, NLB's) groups: known, and of its VPC.
    pub(super) fn group_list(&mut self, refs: &[Ref], vpc: usize, what: &str) -> Res<Vec<String>> {
        let mut out = Vec::new();
        for g in refs {
            match self.resolve_sg(g)? {
                Ok(i) if self.out.sgs[i].vpc == vpc => {
                    if !out.contains(&self.out.sgs[i].id) {
                        out.push(self.out.sgs[i].id.clone());
                    }
                }
                Ok(i) => {
                    return Err(g.at.err(format!(
                        "security group {} is in {}, not in the VPC of {what} ({})",
                        g.id, self.out.vpcs[self.out.sgs[i].vpc].id, self.out.vpcs[vpc].id
                    )))
                }
                Err(why) => self.not_imported(&g.at, &format!("{} of {what}", g.id), &why),
            }
        }
        Ok(out)
    }
}

/// Whether a plain ENI (or an instance listed without ENIs) in `vpc` has
/// no groups, and so gets the VPC's default group.
fn needs_default_group(inv: &Inventory, vpc: &str) -> bool {
    let in_vpc = |s: &Option<Ref>| {
        s.as_ref().is_some_and(|s| {
            inv.subnets
                .iter()
                .any(|n| n.id == s.id && n.vpc.as_ref().is_some_and(|v| v.id == vpc))
        })
    };
    inv.enis
        .iter()
        .any(|e| e.managed == Managed::No && e.groups.is_empty() && in_vpc(&e.subnet))
        || inv.instances.iter().any(|i| {
            i.groups.is_empty()
                && !inv
                    .enis
                    .iter()
                    .any(|e| e.instance.as_deref() == Some(&i.id))
                && in_vpc(&i.subnet)
        })
}

/// Whether anything names group `id`: an ENI, instance, load balancer,
/// endpoint, VPC link, or another group's rule.
fn group_used(inv: &Inventory, id: &str) -> bool {
    let named = |refs: &[Ref]| refs.iter().any(|r| r.id == id);
    let in_rules = |rules: &Option<Vec<Rule>>| {
        rules
            .iter()
            .flatten()
            .any(|r| matches!(&r.peer, Peer::Group(g) if g.id == id))
    };
    // An endpoint's ENIs take the endpoint's groups (some emulators give
    // them the VPC's default group); managed ENIs are no hosts.
    let endpoint_eni = |e: &Eni| {
        inv.endpoints
            .iter()
            .any(|p| p.enis.iter().any(|r| r.id == e.id))
    };
    inv.enis
        .iter()
        .any(|e| e.managed == Managed::No && !endpoint_eni(e) && named(&e.groups))
        || inv.instances.iter().any(|i| named(&i.groups))
        || inv.lbs.iter().any(|l| named(&l.groups))
        || inv.endpoints.iter().any(|e| named(&e.groups))
        || inv
            .links
            .iter()
            .any(|l| matches!(&l.kind, LinkKind::Http { groups, .. } if named(groups)))
        || inv
            .sgs
            .iter()
            .any(|g| g.id != id && (in_rules(&g.ingress) || in_rules(&g.egress)))
        || inv
            .rules
            .iter()
            .any(|(g, r)| g.id != id && matches!(&r.peer, Peer::Group(p) if p.id == id))
}

fn peer_text(p: &Peer) -> String {
    match p {
        Peer::Cidr(c) | Peer::Ipv6(c) | Peer::PrefixList(c) | Peer::ForeignGroup(c) => c.clone(),
        Peer::Group(g) => g.id.clone(),
    }
}
