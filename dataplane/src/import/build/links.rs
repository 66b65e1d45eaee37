//! API Gateway's VPC links: REST links (PrivateLink to an NLB) and HTTP
//! links with their NLB and Cloud Map integrations. API Gateway's own
//! side (its VPC and the host that calls the links) is in no dump, so
//! import makes it, once, as the shipped configs model it: the VPC
//! `apigateway` (10.255.0.0/16) and the host `apigateway`.

use std::net::Ipv4Addr;

use super::*;

/// API Gateway's VPC and subnet (made up: in no dump).
const API_CIDR: &str = "10.255.0.0/16";
const API_SUBNET: &str = "10.255.1.0/24";
const API_HOST_IP: &str = "10.255.1.10";

impl<'i> B<'i> {
    /// API Gateway's side, made on first use, in the AZ `az`.
    fn api_side(&mut self, az: &str, at: &At) -> (usize, usize, String) {
        if let Some(api) = &self.api {
            return api.clone();
        }
        let vpc = self.out.vpcs.len();
        let id = self.unique_id("apigateway");
        self.out.vpcs.push(OVpc {
            id: id.clone(),
            cidr: API_CIDR.parse().expect("a CIDR"),
            comment: Some("API Gateway's side of the VPC links: in no dump, made by import".into()),
        });
        let subnet = self.out.subnets.len();
        let sid = self.unique_id("apigateway-subnet");
        self.out.subnets.push(OSubnet {
            id: sid,
            vpc,
            cidr: API_SUBNET.parse().expect("a CIDR"),
            az: az.to_string(),
            comment: None,
        });
        let group = self.unique_id("apigateway-host");
        self.out.sgs.push(OSg {
            id: group.clone(),
            vpc,
            ingress: Vec::new(),
            egress: None,
            comment: Some("the API host's group".into()),
        });
        let host = self.unique_host("apigateway", "apigateway");
        let slot = self.want(
            vpc,
            subnet,
            Some((API_HOST_IP.into(), at.clone())),
            "API host".into(),
            at,
        );
        let eni = self.unique_id("apigateway-host");
        self.out.enis.push(OEni {
            id: eni,
            subnet,
            slot,
            groups: vec![group.clone()],
            host: host.clone(),
            comment: Some("API Gateway: the host that calls the VPC links".into()),
        });
        self.line(
            at,
            "note",
            format!(
                "API Gateway's own VPC is in no dump: made {id} ({API_CIDR}) with the host {host} \
                 ({API_HOST_IP}) that calls the VPC links"
            ),
        );
        self.api = Some((vpc, subnet, group.clone()));
        (vpc, subnet, group)
    }

    fn quiet_want(&mut self, vpc: usize, subnet: usize, who: String, at: &At) -> usize {
        let slot = self.want(vpc, subnet, None, who, at);
        self.wants[slot].quiet = true;
        slot
    }

    pub(super) fn links(&mut self) -> Res<()> {
        let inv = self.inv;
        // Cloud Map services an export places in a VPC, in their order.
        let mut maps: Vec<&CloudMap> = inv.cloud_maps.iter().collect();
        maps.sort_by_key(|c| c.index.unwrap_or(i64::MAX));
        for c in maps {
            if let (Some(id), Some(v)) = (&c.id, &c.vpc) {
                if let Ok(vpc) = self.resolve_vpc(v)? {
                    self.cloud_map(id, vpc, &c.at, &format!("Cloud Map service {id}"));
                }
            }
        }
        // An export numbers its links (REST and HTTP in one order).
        let mut links: Vec<&Link> = inv.links.iter().collect();
        links.sort_by_key(|l| l.ext.index.unwrap_or(i64::MAX));
        for l in links {
            match &l.kind {
                LinkKind::Rest { targets } => self.rest_link(l, targets)?,
                LinkKind::Http { subnets, groups } => self.http_link(l, subnets, groups)?,
            }
        }
        for i in &inv.integrations {
            let linked = i
                .link
                .as_ref()
                .is_some_and(|k| inv.links.iter().any(|l| &l.id == k));
            if !linked {
                let why = match &i.link {
                    None => {
                        "not through a VPC link (hyperlab models private integrations)".to_string()
                    }
                    Some(k) => format!("its VPC link {k} is not in the dump"),
                };
                self.not_imported(&i.at, &format!("integration {}", i.id), &why);
            }
        }
        let unnamed = inv.cloud_maps.iter().filter(|c| c.id.is_none()).count();
        for c in &inv.cloud_maps {
            let used = match &c.id {
                Some(id) => self.out.cloud_maps.iter().any(|m| &m.id == id),
                None => unnamed == 1 && !self.out.cloud_maps.is_empty(),
            };
            if !used {
                let what = format!(
                    "Cloud Map instances of {}",
                    c.id.as_deref().unwrap_or("an unnamed service")
                );
                self.not_imported(
                    &c.at,
                    &what,
                    "no imported HTTP VPC link integration uses the service",
                );
            }
        }
        Ok(())
    }

    fn rest_link(&mut self, l: &'i Link, targets: &[Ref]) -> Res<()> {
        let what = format!("REST API VPC link {}", l.id);
        let [target] = targets else {
            self.skip(
                &l.id,
                &l.at,
                &what,
                "a REST VPC link targets one NLB; this one lists another number",
            );
            return Ok(());
        };
        let nlb = match self.resolve_nlb(target)? {
            Ok(n) => n,
            Err(why) => {
                self.skip(&l.id, &l.at, &what, &why);
                return Ok(());
            }
        };
        let nlb_id = self.out.nlbs[nlb].id.clone();
        if let Some(s) = self.out.services.iter().find(|s| s.nlb == nlb_id) {
            let why = format!(
                "its NLB {nlb_id} already fronts endpoint service {} (a hyperlab NLB fronts one)",
                s.id
            );
            self.skip(&l.id, &l.at, &what, &why);
            return Ok(());
        }
        let (vpc, places, groups) = match &l.ext.vpc {
            // An export: the link's endpoint is in a VPC of the topology.
            Some(v) => {
                let vpc = match self.resolve_vpc(v)? {
                    Ok(v) => v,
                    Err(why) => {
                        self.skip(&l.id, &l.at, &what, &why);
                        return Ok(());
                    }
                };
                let mut places = Vec::new();
                for (sref, ip) in &l.ext.places {
                    match self.resolve_subnet(sref)? {
                        Ok(sn) => {
                            let slot = self.want(
                                vpc,
                                sn,
                                ip.clone(),
                                format!("{what} in {}", sref.id),
                                &sref.at,
                            );
                            places.push((sn, slot));
                        }
                        Err(why) => {
                            self.skip(&l.id, &l.at, &what, &why);
                            return Ok(());
                        }
                    }
                }
                let groups = self.group_list(&l.ext.groups, vpc, &what)?;
                (vpc, places, groups)
            }
            None => {
                let az = self.out.subnets[self.out.nlbs[nlb].nodes[0].0].az.clone();
                let (vpc, subnet, host_group) = self.api_side(&az, &l.at);
                let group = self.unique_id(&format!("{}-link", l.id));
                self.out.sgs.push(OSg {
                    id: group.clone(),
                    vpc,
                    ingress: vec![ORule {
                        protocol: "all".into(),
                        ports: None,
                        icmp: None,
                        peer: host_group,
                    }],
                    egress: None,
                    comment: Some(format!("{what}: admits the API host")),
                });
                let slot = self.quiet_want(vpc, subnet, format!("{what} endpoint"), &l.at);
                (vpc, vec![(subnet, slot)], vec![group])
            }
        };
        let id = self.unique_id(&l.id);
        self.out.links.push(OLink {
            id,
            kind: OLinkKind::Rest {
                nlb: nlb_id,
                vpc,
                places,
                groups,
            },
            comment: l.name.as_ref().map(|n| format!("Name: {n}")),
        });
        Ok(())
    }

    fn http_link(&mut self, l: &'i Link, subnet_refs: &[Ref], group_refs: &[Ref]) -> Res<()> {
        let inv = self.inv;
        let what = format!("HTTP API VPC link {}", l.id);
        let mut subnets = Vec::new();
        for s in subnet_refs {
            match self.resolve_subnet(s)? {
                Ok(i) => subnets.push(i),
                Err(why) => {
                    self.skip(&l.id, &l.at, &what, &why);
                    return Ok(());
                }
            }
        }
        let Some(&first) = subnets.first() else {
            self.skip(&l.id, &l.at, &what, "no subnets");
            return Ok(());
        };
        let vpc = self.out.subnets[first].vpc;
        if let Some((s, &i)) = subnet_refs
            .iter()
            .zip(&subnets)
            .find(|(_, &i)| self.out.subnets[i].vpc != vpc)
        {
            return Err(s.at.err(format!(
                "subnet {} is in {}, not in {} like the link's first subnet",
                s.id, self.out.vpcs[self.out.subnets[i].vpc].id, self.out.vpcs[vpc].id
            )));
        }
        let mut groups = self.group_list(group_refs, vpc, &what)?;
        if groups.is_empty() {
            groups.push(self.default_group(vpc, &l.at, &what));
        }
        let mut addresses = None;
        if !l.ext.addresses.is_empty() {
            let mut slots = Vec::new();
            for (&sn, (ip, at)) in subnets.iter().zip(&l.ext.addresses) {
                slots.push(self.want(
                    vpc,
                    sn,
                    Some((ip.clone(), at.clone())),
                    format!("{what} ENI"),
                    at,
                ));
            }
            addresses = Some(slots);
        }
        // API Gateway's side: a VPC of the topology (an export), or made.
        let api_vpc = match &l.ext.vpc {
            Some(v) => match self.resolve_vpc(v)? {
                Ok(v) => v,
                Err(why) => {
                    self.skip(&l.id, &l.at, &what, &why);
                    return Ok(());
                }
            },
            None => {
                let az = self.out.subnets[first].az.clone();
                self.api_side(&az, &l.at).0
            }
        };
        let mut integrations = Vec::new();
        for i in inv
            .integrations
            .iter()
            .filter(|i| i.link.as_deref() == Some(&l.id))
        {
            let iwhat = format!("integration {} of {}", i.id, l.id);
            let Some((uri, uri_at)) = &i.uri else {
                self.not_imported(&i.at, &iwhat, "no IntegrationUri");
                continue;
            };
            // A listener's load balancer says what it is (moto writes
            // `listener/app/...` for an NLB's listeners too).
            let listener = inv.listeners.iter().find(|x| x.arn.as_deref() == Some(uri));
            let target = if let Some(x) = listener {
                let port = x.port.and_then(|p| u16::try_from(p).ok()).unwrap_or(0);
                if let Some(&a) = self.albs.get(x.lb.id.as_str()) {
                    (
                        OIntegrationTarget::Alb(self.out.albs[a].id.clone()),
                        "tcp",
                        port,
                    )
                } else if let Some(&n) = self.nlbs.get(x.lb.id.as_str()) {
                    let nlb = &self.out.nlbs[n];
                    let Some(&(protocol, port, _)) =
                        nlb.listeners.iter().find(|(_, p, _)| *p == port)
                    else {
                        self.not_imported(
                            &i.at,
                            &iwhat,
                            &format!("the listener {uri} is not imported"),
                        );
                        continue;
                    };
                    if self.out.subnets[nlb.nodes[0].0].vpc != vpc {
                        return Err(uri_at.err(format!(
                            "the NLB of {uri} is not in the link's VPC {}",
                            self.out.vpcs[vpc].id
                        )));
                    }
                    (OIntegrationTarget::Nlb(nlb.id.clone()), protocol, port)
                } else {
                    self.not_imported(
                        &i.at,
                        &iwhat,
                        &format!("the load balancer of {uri} is not imported (an ALB is, when its nodes are named lab hosts)"),
                    );
                    continue;
                }
            } else if uri.contains(":listener/") {
                self.not_imported(
                    &i.at,
                    &iwhat,
                    &format!("its listener {uri} is not in the dump (elbv2 describe-listeners)"),
                );
                continue;
            } else if let Some(srv) = uri
                .split_once(":service/")
                .map(|(_, s)| s.to_string())
                .filter(|_| uri.starts_with("arn:aws:servicediscovery:"))
            {
                match self.cloud_map(&srv, vpc, &i.at, &iwhat) {
                    Some((id, port)) => (OIntegrationTarget::CloudMap(id), "tcp", port),
                    None => continue,
                }
            } else {
                self.not_imported(&i.at, &iwhat, &format!("{uri}: hyperlab's integrations are NLB listeners and Cloud Map services (ALBs are not imported)"));
                continue;
            };
            let slot = match &i.address {
                // An export: the address, in the service VPC's subnet that holds it.
                Some((ip, at)) => {
                    let addr: Ipv4Addr = ip
                        .parse()
                        .map_err(|_| at.err(format!("invalid IPv4 address {ip:?}")))?;
                    let Some(sn) = (0..self.out.subnets.len()).find(|&k| {
                        self.out.subnets[k].vpc == api_vpc
                            && self.out.subnets[k].cidr.contains(&addr)
                    }) else {
                        return Err(at.err(format!(
                            "{ip} is in no subnet of {}",
                            self.out.vpcs[api_vpc].id
                        )));
                    };
                    self.want(
                        api_vpc,
                        sn,
                        Some((ip.clone(), at.clone())),
                        iwhat.clone(),
                        at,
                    )
                }
                None => {
                    let sn = match self.api {
                        Some((v, sn, _)) if v == api_vpc => sn,
                        _ => match (0..self.out.subnets.len())
                            .find(|&k| self.out.subnets[k].vpc == api_vpc)
                        {
                            Some(sn) => sn,
                            None => {
                                self.not_imported(&i.at, &iwhat, "the service VPC has no subnet");
                                continue;
                            }
                        },
                    };
                    self.quiet_want(api_vpc, sn, iwhat.clone(), &i.at)
                }
            };
            let protocol = match i.protocol.as_deref() {
                Some("udp") => "udp",
                Some(_) => "tcp",
                None => target.1,
            };
            let port = i
                .port
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(target.2);
            let id = self.unique_id(&i.id);
            integrations.push(OIntegration {
                id,
                target: target.0,
                protocol,
                port,
                slot,
            });
        }
        let id = self.unique_id(&l.id);
        self.out.links.push(OLink {
            id,
            kind: OLinkKind::Http {
                subnets,
                addresses,
                groups,
                service_vpc: api_vpc,
                integrations,
            },
            comment: l.name.as_ref().map(|n| format!("Name: {n}")),
        });
        Ok(())
    }

    /// The Cloud Map service `srv` (made once) and the port to call: its
    /// instances that are lab hosts of `vpc`.
    fn cloud_map(&mut self, srv: &str, vpc: usize, at: &At, what: &str) -> Option<(String, u16)> {
        if let Some(c) = self.out.cloud_maps.iter().find(|c| c.id == srv) {
            return Some((c.id.clone(), c.instances[0].1));
        }
        let inv = self.inv;
        let unnamed: Vec<&CloudMap> = inv.cloud_maps.iter().filter(|c| c.id.is_none()).collect();
        let found = inv
            .cloud_maps
            .iter()
            .find(|c| c.id.as_deref() == Some(srv))
            .or(if unnamed.len() == 1 {
                Some(unnamed[0])
            } else {
                None
            });
        let Some(c) = found else {
            self.not_imported(at, what, &format!("the instances of Cloud Map service {srv} are not in the dump (servicediscovery list-instances-{srv}.json)"));
            return None;
        };
        let mut instances = Vec::new();
        for (ip, port, iat) in &c.instances {
            let eni = ip.parse::<Ipv4Addr>().ok().and_then(|ip| {
                self.out.enis.iter().position(|e| {
                    self.out.subnets[e.subnet].vpc == vpc
                        && self.wants[e.slot]
                            .ip
                            .as_ref()
                            .is_some_and(|(s, _)| s.parse() == Ok(ip))
                })
            });
            match (
                eni,
                port.and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0),
            ) {
                (Some(e), Some(p)) => instances.push((e, p)),
                (None, _) => self.not_imported(
                    iat,
                    &format!("instance {ip} of {srv}"),
                    "not a lab host in the link's VPC",
                ),
                (_, None) => self.not_imported(
                    iat,
                    &format!("instance {ip} of {srv}"),
                    "no AWS_INSTANCE_PORT",
                ),
            }
        }
        let Some(&(_, port)) = instances.first() else {
            self.not_imported(
                at,
                what,
                &format!("Cloud Map service {srv} has no instance that is a lab host"),
            );
            return None;
        };
        let id = self.unique_id(srv);
        self.out.cloud_maps.push(OCloudMap {
            id: id.clone(),
            vpc,
            instances,
        });
        Some((id, port))
    }
}
