//! The Hyperplane resources: NLBs, target groups and their health checks,
//! endpoint services, VPC endpoints, ALBs and Cloud Map services. Pass 1
//! reads each table; pass 2 (`resolve_*`) resolves references.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use super::diagnostics::Checker;
use super::network::EnisOut;
use super::placement::{AttachIn, Claim, PlaceIn, MAX_SGS_PER_ENI};
use super::refs::{defined, Front, IdInfo, Kind, Net, Who};
use super::tree::{join, Ids, Node, Sp, Val};
use super::values::{
    invalid_principal, l4_name, parse_instance, parse_ports, parse_target, valid_http_path,
    TargetIn,
};
use crate::model::{
    Alb, CloudMapService, EndpointService, EndpointState, HealthCheck, HealthProtocol, L4Protocol,
    Listener, Nlb, NlbNode, Target, TargetGroup, VpcEndpoint,
};

pub(super) const NLB_KEYS: &[&str] = &[
    "id",
    "subnets",
    "cross_zone",
    "security_groups",
    "listeners",
    "source_ports",
];

pub(super) const LISTENER_KEYS: &[&str] = &["protocol", "port", "target_group"];

pub(super) const TG_KEYS: &[&str] = &[
    "id",
    "vpc",
    "protocol",
    "port",
    "targets",
    "health_check",
    "connection_termination",
];

pub(super) const HC_KEYS: &[&str] = &[
    "protocol",
    "path",
    "port",
    "interval_ms",
    "timeout_ms",
    "healthy_threshold",
    "unhealthy_threshold",
];

pub(super) const SERVICE_KEYS: &[&str] =
    &["id", "nlb", "acceptance_required", "allowed_principals"];

pub(super) const ENDPOINT_KEYS: &[&str] = &[
    "id",
    "service",
    "vpc",
    "subnets",
    "security_groups",
    "principal",
    "state",
];

pub(super) const ALB_KEYS: &[&str] = &["id", "nodes", "listener_ports"];

pub(super) const CLOUD_MAP_KEYS: &[&str] = &["id", "vpc", "instances", "health_check"];

pub(super) const INTERVAL_RANGE: RangeInclusive<i64> = 100..=300_000;

pub(super) const MIN_TIMEOUT_MS: i64 = 50;

pub(super) const THRESHOLD_RANGE: RangeInclusive<i64> = 1..=10;

pub(super) struct ListenerIn<'n> {
    pub(super) path: String,
    pub(super) protocol: Option<Sp<L4Protocol>>,
    pub(super) port: Option<Sp<u16>>,
    pub(super) target_group: Option<Sp<&'n str>>,
}

pub(super) struct NlbIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) subnets: Vec<PlaceIn<'n>>,
    pub(super) cross_zone: bool,
    pub(super) security_groups: Ids<'n>,
    pub(super) listeners: Vec<ListenerIn<'n>>,
    pub(super) source_ports: (u16, u16),
}

pub(super) struct TgIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) vpc: Option<Sp<&'n str>>,
    pub(super) protocol: Option<L4Protocol>,
    pub(super) port: Option<u16>,
    /// (index in the array, target)
    pub(super) targets: Vec<(usize, Sp<TargetIn<'n>>)>,
    pub(super) health_check: Option<HealthCheck>,
    pub(super) connection_termination: bool,
}

pub(super) struct ServiceIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) nlb: Option<Sp<&'n str>>,
    pub(super) acceptance_required: bool,
    pub(super) allowed_principals: Vec<String>,
}

pub(super) struct EndpointIn<'n> {
    pub(super) id: String,
    pub(super) service: Option<Sp<&'n str>>,
    pub(super) at: AttachIn<'n>,
    pub(super) principal: Option<Sp<&'n str>>,
    pub(super) state: Option<EndpointState>,
}

pub(super) struct AlbIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) nodes: Ids<'n>,
    pub(super) listener_ports: Vec<u16>,
}

pub(super) struct CloudMapIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) vpc: Option<Sp<&'n str>>,
    /// (index in the array, instance)
    pub(super) instances: Vec<(usize, Sp<TargetIn<'n>>)>,
    pub(super) health_check: Option<HealthCheck>,
}

impl<'s> Checker<'s> {
    pub(super) fn nlb<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> NlbIn<'n> {
        let mut nlb = NlbIn {
            path,
            id: String::new(),
            subnets: Vec::new(),
            cross_zone: false,
            security_groups: Vec::new(),
            listeners: Vec::new(),
            source_ports: crate::model::NLB_SOURCE_PORTS,
        };
        let Some(t) = self.table(node, &nlb.path, "a table", NLB_KEYS) else {
            return nlb;
        };
        nlb.id = self.id(&t, Kind::Nlb, index, ids);
        nlb.subnets = self.places(&t, "an NLB");
        nlb.cross_zone = self.opt_bool(&t, "cross_zone").unwrap_or(false);
        if let Some(e) = t.get("source_ports") {
            match parse_ports(&e.node.val) {
                Ok((lo, _)) if lo < 1 => self.err(
                    e.node.pos,
                    &t.field("source_ports"),
                    "source ports must be 1 or higher",
                ),
                Ok(r) => nlb.source_ports = r,
                Err(m) => self.err(e.node.pos, &t.field("source_ports"), m),
            }
        }
        nlb.security_groups = self.group_list(&t, 0..=MAX_SGS_PER_ENI, "an NLB");
        const LISTENERS: &str = "an array of listener tables such as \
                                 [{ protocol = \"tcp\", port = 80, target_group = \"tg-web\" }]";
        let field = t.field("listeners");
        if let Some(e) = self.require(&t, "listeners", LISTENERS) {
            if let Some(items) = self.as_array(&e.node, &field, LISTENERS) {
                if items.is_empty() {
                    self.err(e.node.pos, &field, "an NLB needs at least one listener");
                }
                for (i, n) in items.iter().enumerate() {
                    let path = format!("{field}[{i}]");
                    let Some(lt) = self.table(n, &path, "a listener table", LISTENER_KEYS) else {
                        continue;
                    };
                    let protocol = self.l4_protocol(&lt, "protocol");
                    let port = self
                        .require(&lt, "port", "a port number such as 80")
                        .and_then(|e| self.port(&e.node, &lt.field("port")));
                    let target_group =
                        self.req_str(&lt, "target_group", "the id of a [[target_group]]");
                    nlb.listeners.push(ListenerIn {
                        path,
                        protocol,
                        port,
                        target_group,
                    });
                }
            }
        }
        nlb
    }

    pub(super) fn target_group<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> TgIn<'n> {
        let mut tg = TgIn {
            path,
            id: String::new(),
            vpc: None,
            protocol: None,
            port: None,
            targets: Vec::new(),
            health_check: None,
            connection_termination: true,
        };
        let Some(t) = self.table(node, &tg.path, "a table", TG_KEYS) else {
            return tg;
        };
        tg.id = self.id(&t, Kind::TargetGroup, index, ids);
        tg.vpc = self.req_str(&t, "vpc", "the id of a [[vpc]]");
        tg.protocol = self.l4_protocol(&t, "protocol").map(|p| p.v);
        tg.port = self
            .require(&t, "port", "a port number such as 80")
            .and_then(|e| self.port(&e.node, &t.field("port")))
            .map(|p| p.v);
        const TARGETS: &str =
            "an array of ENI ids or \"IP:port\" strings such as [\"eni-web\", \"10.0.1.21:8080\"]";
        let field = t.field("targets");
        if let Some(e) = self.require(&t, "targets", TARGETS) {
            if let Some((list, n)) = self.str_list(e, &field, TARGETS, "an ENI id or \"IP:port\"") {
                if n == 0 {
                    self.err(
                        e.node.pos,
                        &field,
                        "a target group needs at least one target",
                    );
                }
                for (i, s) in list {
                    match parse_target(s.v) {
                        Ok(v) => tg.targets.push((i, Sp { v, pos: s.pos })),
                        Err(msg) => self.err(s.pos, &format!("{field}[{i}]"), msg),
                    }
                }
            }
        }
        if let Some(e) = t.get("health_check") {
            tg.health_check = self.health_check(&e.node, &t.field("health_check"));
        }
        tg.connection_termination = self.opt_bool(&t, "connection_termination").unwrap_or(true);
        tg
    }

    pub(super) fn health_check(&mut self, node: &Node, path: &str) -> Option<HealthCheck> {
        let t = self.table(
            node,
            path,
            "a health check table such as { protocol = \"tcp\" }",
            HC_KEYS,
        )?;
        const PROTOCOLS: &str = "\"tcp\" or \"http\"";
        let protocol = self.req_str(&t, "protocol", PROTOCOLS);
        let http_path = self.opt_str(&t, "path", "an HTTP path such as \"/health\"");
        let is_tcp = protocol.is_some_and(|p| p.v == "tcp");
        if let Some(hp) = http_path.filter(|p| !is_tcp && !valid_http_path(p.v)) {
            self.err(
                hp.pos,
                &t.field("path"),
                format!(
                    "invalid health check path {:?} (expected an absolute path without \
                     spaces, such as \"/health\")",
                    hp.v
                ),
            );
        }
        let protocol = match protocol.map(|p| (p.v, p.pos)) {
            Some(("tcp", _)) => {
                if let Some(p) = http_path {
                    self.err(
                        p.pos,
                        &t.field("path"),
                        "path is only for protocol \"http\" (a \"tcp\" health check is a connect)",
                    );
                }
                HealthProtocol::Tcp
            }
            Some(("http", _)) => HealthProtocol::Http {
                path: http_path.map_or("/", |p| p.v).to_string(),
            },
            Some((other, pos)) => {
                self.err(
                    pos,
                    &t.field("protocol"),
                    format!("unknown health check protocol {other:?} (expected {PROTOCOLS})"),
                );
                HealthProtocol::Tcp
            }
            None => HealthProtocol::Tcp,
        };
        let port = t
            .get("port")
            .and_then(|e| self.port(&e.node, &t.field("port")))
            .map(|p| p.v);
        let mut int =
            |key: &str, what: &str, range: RangeInclusive<i64>, default: i64| match t.get(key) {
                Some(e) => self
                    .int(&e.node, &t.field(key), what, key, range)
                    .map(|n| (n.v, Some(n.pos))),
                None => Some((default, None)),
            };
        let interval = int(
            "interval_ms",
            "an interval in milliseconds such as 1000",
            INTERVAL_RANGE,
            1000,
        );
        const THRESHOLD: &str = "a count such as 2";
        let healthy = int("healthy_threshold", THRESHOLD, THRESHOLD_RANGE, 2);
        let unhealthy = int("unhealthy_threshold", THRESHOLD, THRESHOLD_RANGE, 2);
        // 50 ms up to the interval: a probe ends before the next one starts.
        let interval_ms = interval.map(|i| i.0);
        let timeout = match t.get("timeout_ms") {
            None => Some(500.min(interval_ms.unwrap_or(1000))),
            Some(e) => match e.node.val {
                Val::Int(n) => {
                    let hi = interval_ms.unwrap_or(*INTERVAL_RANGE.end());
                    if (MIN_TIMEOUT_MS..=hi).contains(&n) {
                        Some(n)
                    } else {
                        let why = if interval_ms.is_some() {
                            ", at most interval_ms"
                        } else {
                            ""
                        };
                        self.err(
                            e.node.pos,
                            &t.field("timeout_ms"),
                            format!(
                                "timeout_ms {n} is out of range \
                                 (expected {MIN_TIMEOUT_MS} to {hi}{why})"
                            ),
                        );
                        None
                    }
                }
                ref other => {
                    self.err(
                        e.node.pos,
                        &t.field("timeout_ms"),
                        format!(
                            "expected a timeout in milliseconds such as 500, found {}",
                            other.type_name()
                        ),
                    );
                    None
                }
            },
        };
        Some(HealthCheck {
            protocol,
            port,
            interval_ms: interval.map_or(1000, |v| v.0 as u32),
            timeout_ms: timeout.unwrap_or(500) as u32,
            healthy_threshold: healthy.map_or(2, |v| v.0 as u32),
            unhealthy_threshold: unhealthy.map_or(2, |v| v.0 as u32),
        })
    }

    pub(super) fn endpoint_service<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> ServiceIn<'n> {
        let mut svc = ServiceIn {
            path,
            id: String::new(),
            nlb: None,
            acceptance_required: true,
            allowed_principals: Vec::new(),
        };
        let Some(t) = self.table(node, &svc.path, "a table", SERVICE_KEYS) else {
            return svc;
        };
        svc.id = self.id(&t, Kind::EndpointService, index, ids);
        svc.nlb = self.req_str(&t, "nlb", "the id of an [[nlb]]");
        svc.acceptance_required = self.opt_bool(&t, "acceptance_required").unwrap_or(true);
        if let Some(e) = t.get("allowed_principals") {
            const EXPECTED: &str =
                "an array of principals such as [\"arn:aws:iam::111122223333:root\"] or [\"*\"]";
            let field = t.field("allowed_principals");
            if let Some((list, _)) = self.str_list(e, &field, EXPECTED, "a principal") {
                let mut seen: Vec<(usize, &str)> = Vec::new();
                for (i, p) in list {
                    let f = format!("{field}[{i}]");
                    if let Some(msg) = invalid_principal(p.v) {
                        self.err(p.pos, &f, msg);
                    } else if let Some((j, _)) = seen.iter().find(|(_, o)| *o == p.v) {
                        self.err(
                            p.pos,
                            &f,
                            format!("principal {:?} is listed twice (also {field}[{j}])", p.v),
                        );
                    } else {
                        seen.push((i, p.v));
                        svc.allowed_principals.push(p.v.to_string());
                    }
                }
            }
        }
        svc
    }

    pub(super) fn vpc_endpoint<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> EndpointIn<'n> {
        let mut ep = EndpointIn {
            id: String::new(),
            service: None,
            at: AttachIn {
                path,
                vpc: None,
                subnets: Vec::new(),
                security_groups: Vec::new(),
            },
            principal: None,
            state: None,
        };
        let Some(t) = self.table(node, &ep.at.path, "a table", ENDPOINT_KEYS) else {
            return ep;
        };
        ep.id = self.id(&t, Kind::VpcEndpoint, index, ids);
        ep.service = self.req_str(&t, "service", "the id of an [[endpoint_service]]");
        ep.at = self.attach(&t, "a VPC endpoint");
        if let Some(p) = self.req_str(
            &t,
            "principal",
            "a principal such as \"arn:aws:iam::111122223333:root\"",
        ) {
            if p.v == "*" {
                self.err(
                    p.pos,
                    &t.field("principal"),
                    "\"*\" is only a wildcard of allowed_principals; an endpoint's principal is \
                     who requests it (e.g. \"arn:aws:iam::111122223333:root\")",
                );
            } else if let Some(msg) = invalid_principal(p.v) {
                self.err(p.pos, &t.field("principal"), msg);
            } else {
                ep.principal = Some(p);
            }
        }
        const STATES: &str = "\"pending\", \"available\" or \"rejected\"";
        if let Some(st) = self.opt_str(&t, "state", STATES) {
            ep.state = match st.v {
                "pending" => Some(EndpointState::Pending),
                "available" => Some(EndpointState::Available),
                "rejected" => Some(EndpointState::Rejected),
                other => {
                    self.err(
                        st.pos,
                        &t.field("state"),
                        format!("unknown endpoint state {other:?} (expected {STATES})"),
                    );
                    None
                }
            };
        }
        ep
    }

    pub(super) fn alb<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> AlbIn<'n> {
        let mut alb = AlbIn {
            path,
            id: String::new(),
            nodes: Vec::new(),
            listener_ports: Vec::new(),
        };
        let Some(t) = self.table(node, &alb.path, "a table", ALB_KEYS) else {
            return alb;
        };
        alb.id = self.id(&t, Kind::Alb, index, ids);
        const NODES: &str = "an array of ENI ids such as [\"eni-alb1\", \"eni-alb2\"]";
        let field = t.field("nodes");
        if let Some(e) = self.require(&t, "nodes", NODES) {
            if let Some((list, n)) = self.str_list(e, &field, NODES, "an ENI id") {
                if n == 0 {
                    self.err(e.node.pos, &field, "an ALB needs at least one node");
                }
                alb.nodes = list;
            }
        }
        const PORTS: &str = "an array of ports such as [80, 443]";
        let field = t.field("listener_ports");
        if let Some(e) = self.require(&t, "listener_ports", PORTS) {
            if let Some(items) = self.as_array(&e.node, &field, PORTS) {
                if items.is_empty() {
                    self.err(
                        e.node.pos,
                        &field,
                        "an ALB needs at least one listener port",
                    );
                }
                let mut seen: Vec<(usize, u16)> = Vec::new();
                for (i, n) in items.iter().enumerate() {
                    let Some(p) = self.port(n, &format!("{field}[{i}]")) else {
                        continue;
                    };
                    if let Some((j, _)) = seen.iter().find(|(_, o)| *o == p.v) {
                        self.err(
                            p.pos,
                            &format!("{field}[{i}]"),
                            format!("port {} is listed twice (also listener_ports[{j}])", p.v),
                        );
                    } else {
                        seen.push((i, p.v));
                        alb.listener_ports.push(p.v);
                    }
                }
            }
        }
        alb
    }

    pub(super) fn cloud_map_service<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> CloudMapIn<'n> {
        let mut svc = CloudMapIn {
            path,
            id: String::new(),
            vpc: None,
            instances: Vec::new(),
            health_check: None,
        };
        let Some(t) = self.table(node, &svc.path, "a table", CLOUD_MAP_KEYS) else {
            return svc;
        };
        svc.id = self.id(&t, Kind::CloudMapService, index, ids);
        svc.vpc = self.req_str(&t, "vpc", "the id of a [[vpc]]");
        const INSTANCES: &str = "an array of \"ENI-id:port\" or \"IP:port\" strings such as \
                                 [\"eni-web:8080\", \"10.0.1.21:8080\"]";
        let field = t.field("instances");
        if let Some(e) = self.require(&t, "instances", INSTANCES) {
            if let Some((list, n)) =
                self.str_list(e, &field, INSTANCES, "\"ENI-id:port\" or \"IP:port\"")
            {
                if n == 0 {
                    self.err(
                        e.node.pos,
                        &field,
                        "a Cloud Map service needs at least one instance",
                    );
                }
                for (i, s) in list {
                    match parse_instance(s.v) {
                        Ok(v) => svc.instances.push((i, Sp { v, pos: s.pos })),
                        Err(msg) => self.err(s.pos, &format!("{field}[{i}]"), msg),
                    }
                }
            }
        }
        if let Some(e) = t.get("health_check") {
            svc.health_check = self.health_check(&e.node, &t.field("health_check"));
        }
        svc
    }

    pub(super) fn resolve_target_groups(
        &mut self,
        net: &Net<'_>,
        enis: &EnisOut,
        tgs: Vec<TgIn<'_>>,
    ) -> (Vec<TargetGroup>, Vec<Option<usize>>) {
        let eni_ids = defined(net.ids, Kind::Eni, enis.enis.iter().map(|e| &e.id));
        let mut out = Vec::new();
        let mut vpcs = Vec::new();
        for tg in tgs {
            let vpc = tg.vpc.and_then(|r| {
                self.resolve(r, Kind::Vpc, &join(&tg.path, "vpc"), net.ids, &net.vpc_ids)
            });
            let targets = self.resolve_targets(
                (net, enis, &eni_ids),
                vpc,
                tg.port,
                &tg.targets,
                (&tg.path, "targets"),
                ("this target group", "target"),
            );
            out.push(TargetGroup {
                id: tg.id,
                vpc: vpc.unwrap_or(0),
                protocol: tg.protocol.unwrap_or(L4Protocol::Tcp),
                port: tg.port.unwrap_or(0),
                targets,
                health_check: tg.health_check,
                connection_termination: tg.connection_termination,
            });
            vpcs.push(vpc);
        }
        (out, vpcs)
    }

    /// Resolves the targets of a target group or the instances of a Cloud
    /// Map service (`list` in `path`): ENIs of `vpc`, each with its port
    /// (`port` for ENIs given without one), each once. `this` and `what`
    /// name the owner and an element in messages.
    pub(super) fn resolve_targets(
        &mut self,
        (net, enis, eni_ids): (&Net<'_>, &EnisOut, &[&str]),
        vpc: Option<usize>,
        port: Option<u16>,
        items: &[(usize, Sp<TargetIn<'_>>)],
        (path, list): (&str, &str),
        (this, what): (&str, &str),
    ) -> Vec<Target> {
        let mut targets: Vec<(Target, usize)> = Vec::new();
        for (i, t) in items {
            let f = format!("{path}.{list}[{i}]");
            let target = match t.v {
                TargetIn::Eni(name, own_port) => {
                    let r = Sp {
                        v: name,
                        pos: t.pos,
                    };
                    let Some(e) = self.resolve(r, Kind::Eni, &f, net.ids, eni_ids) else {
                        continue;
                    };
                    let same =
                        self.in_same_vpc((t.pos, &f), net.vpcs, (vpc, enis.vpcs[e]), |ev, v| {
                            format!("ENI {name} is in {ev}, but {this} is in {v}")
                        });
                    if !same {
                        continue;
                    }
                    let Some(port) = own_port.or(port) else {
                        continue;
                    };
                    Target { eni: e, port }
                }
                TargetIn::Addr(sa) => {
                    let Some(v) = vpc else {
                        continue;
                    };
                    match enis.at.get(&(v, *sa.ip())) {
                        Some(&e) => Target {
                            eni: e,
                            port: sa.port(),
                        },
                        None => {
                            self.err(
                                t.pos,
                                &f,
                                format!(
                                    "no ENI in {} has the address {} ({} {what} given as \
                                     \"IP:port\" must be a lab host's ENI)",
                                    net.vpcs[v].id,
                                    sa.ip(),
                                    if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
                                        "an"
                                    } else {
                                        "a"
                                    }
                                ),
                            );
                            continue;
                        }
                    }
                }
            };
            if let Some((_, j)) = targets.iter().find(|(o, _)| *o == target) {
                self.err(
                    t.pos,
                    &f,
                    format!(
                        "duplicate {what}: {} port {} is already {list}[{j}]",
                        enis.enis[target.eni].id, target.port
                    ),
                );
                continue;
            }
            targets.push((target, *i));
        }
        targets.into_iter().map(|(t, _)| t).collect()
    }

    pub(super) fn resolve_nlbs(
        &mut self,
        net: &Net<'_>,
        (tgs, tg_vpcs): (&[TargetGroup], &[Option<usize>]),
        nlbs: Vec<NlbIn<'_>>,
        claims: &mut Vec<Claim>,
    ) -> (Vec<Nlb>, Vec<Option<usize>>) {
        let tg_ids = defined(net.ids, Kind::TargetGroup, tgs.iter().map(|g| &g.id));
        let mut out = Vec::new();
        let mut vpcs = Vec::new();
        for n in nlbs {
            let who = Who {
                id: &n.id,
                this: "this NLB",
                a: "an NLB",
            };
            let (vpc, nodes) = self.resolve_places(net, &n.subnets, None, &who, claims);
            let security_groups = self.resolve_groups(
                net,
                &n.security_groups,
                &join(&n.path, "security_groups"),
                vpc,
                "this NLB",
            );
            let mut listeners = Vec::new();
            let mut seen: Vec<(L4Protocol, u16, usize)> = Vec::new();
            for (i, l) in n.listeners.iter().enumerate() {
                if let (Some(p), Some(port)) = (l.protocol, l.port) {
                    if let Some(&(_, _, j)) =
                        seen.iter().find(|(sp, so, _)| *sp == p.v && *so == port.v)
                    {
                        self.err(
                            port.pos,
                            &join(&l.path, "port"),
                            format!(
                                "listener {} {} is already defined by listeners[{j}] \
                                 (an NLB has one listener per protocol and port)",
                                l4_name(p.v),
                                port.v
                            ),
                        );
                    } else {
                        seen.push((p.v, port.v, i));
                    }
                }
                let tf = join(&l.path, "target_group");
                let tg = l
                    .target_group
                    .and_then(|r| self.resolve(r, Kind::TargetGroup, &tf, net.ids, &tg_ids));
                if let (Some(g), Some(r)) = (tg, l.target_group) {
                    self.in_same_vpc((r.pos, &tf), net.vpcs, (vpc, tg_vpcs[g]), |gv, v| {
                        format!(
                            "target group {} is in {gv}, but this NLB is in {v}",
                            tgs[g].id
                        )
                    });
                    if let Some(p) = l.protocol {
                        if p.v != tgs[g].protocol {
                            self.err(
                                r.pos,
                                &tf,
                                format!(
                                    "target group {} has protocol {}, but this listener's is {}",
                                    tgs[g].id,
                                    l4_name(tgs[g].protocol),
                                    l4_name(p.v)
                                ),
                            );
                        }
                    }
                }
                listeners.push(Listener {
                    protocol: l.protocol.map_or(L4Protocol::Tcp, |p| p.v),
                    port: l.port.map_or(0, |p| p.v),
                    target_group: tg.unwrap_or(0),
                });
            }
            out.push(Nlb {
                vpc_link: None,
                id: n.id,
                vpc: vpc.unwrap_or(0),
                nodes: nodes
                    .into_iter()
                    .map(|(subnet, ip)| NlbNode {
                        subnet: subnet.unwrap_or(0),
                        ip,
                    })
                    .collect(),
                cross_zone: n.cross_zone,
                security_groups,
                listeners,
                source_ports: n.source_ports,
            });
            vpcs.push(vpc);
        }
        (out, vpcs)
    }

    pub(super) fn resolve_services(
        &mut self,
        net: &Net<'_>,
        nlb_ids: &[&str],
        services: Vec<ServiceIn<'_>>,
        fronts: &mut Vec<Front>,
    ) -> Vec<EndpointService> {
        let mut out = Vec::new();
        for s in services {
            let field = join(&s.path, "nlb");
            let nlb = s
                .nlb
                .and_then(|r| self.resolve(r, Kind::Nlb, &field, net.ids, nlb_ids));
            if let (Some(n), Some(r)) = (nlb, s.nlb) {
                fronts.push(Front {
                    pos: r.pos,
                    nlb: n,
                    owner: format!("endpoint service {} ({})", s.id, s.path),
                    field,
                });
            }
            out.push(EndpointService {
                id: s.id,
                nlb: nlb.unwrap_or(0),
                acceptance_required: s.acceptance_required,
                allowed_principals: s.allowed_principals,
            });
        }
        out
    }

    pub(super) fn resolve_albs(
        &mut self,
        net: &Net<'_>,
        enis: &EnisOut,
        albs: Vec<AlbIn<'_>>,
    ) -> (Vec<Alb>, Vec<Option<usize>>) {
        let eni_ids = defined(net.ids, Kind::Eni, enis.enis.iter().map(|e| &e.id));
        let (mut out, mut vpcs) = (Vec::new(), Vec::new());
        for a in albs {
            let field = join(&a.path, "nodes");
            let mut vpc = None;
            // (index in `nodes`, ENI)
            let mut nodes: Vec<(usize, usize)> = Vec::new();
            for &(i, r) in &a.nodes {
                let f = format!("{field}[{i}]");
                let Some(e) = self.resolve(r, Kind::Eni, &f, net.ids, &eni_ids) else {
                    continue;
                };
                if let Some((j, _)) = nodes.iter().find(|(_, o)| *o == e) {
                    self.err(
                        r.pos,
                        &f,
                        format!("ENI {} is listed twice (also nodes[{j}])", r.v),
                    );
                    continue;
                }
                match (enis.vpcs[e], vpc, nodes.first()) {
                    (Some(ev), None, _) => vpc = Some(ev),
                    (Some(ev), Some(v), Some(&(j, first))) if ev != v => {
                        self.err(
                            r.pos,
                            &f,
                            format!(
                                "ENI {} is in {}, but this ALB's first node {} (nodes[{j}]) is \
                                 in {} (all of an ALB's nodes must be in one VPC)",
                                r.v, net.vpcs[ev].id, enis.enis[first].id, net.vpcs[v].id
                            ),
                        );
                        continue;
                    }
                    _ => {}
                }
                nodes.push((i, e));
            }
            out.push(Alb {
                id: a.id,
                vpc: vpc.unwrap_or(0),
                nodes: nodes.into_iter().map(|(_, e)| e).collect(),
                listener_ports: a.listener_ports,
            });
            vpcs.push(vpc);
        }
        (out, vpcs)
    }

    pub(super) fn resolve_cloud_maps(
        &mut self,
        net: &Net<'_>,
        enis: &EnisOut,
        services: Vec<CloudMapIn<'_>>,
    ) -> (Vec<CloudMapService>, Vec<Option<usize>>) {
        let eni_ids = defined(net.ids, Kind::Eni, enis.enis.iter().map(|e| &e.id));
        let (mut out, mut vpcs) = (Vec::new(), Vec::new());
        for svc in services {
            let vpc = svc.vpc.and_then(|r| {
                self.resolve(r, Kind::Vpc, &join(&svc.path, "vpc"), net.ids, &net.vpc_ids)
            });
            let instances = self.resolve_targets(
                (net, enis, &eni_ids),
                vpc,
                None,
                &svc.instances,
                (&svc.path, "instances"),
                ("this Cloud Map service", "instance"),
            );
            out.push(CloudMapService {
                id: svc.id,
                vpc: vpc.unwrap_or(0),
                instances,
                health_check: svc.health_check,
            });
            vpcs.push(vpc);
        }
        (out, vpcs)
    }

    pub(super) fn resolve_endpoints(
        &mut self,
        net: &Net<'_>,
        services: &[EndpointService],
        endpoints: Vec<EndpointIn<'_>>,
        claims: &mut Vec<Claim>,
    ) -> Vec<VpcEndpoint> {
        let svc_ids = defined(
            net.ids,
            Kind::EndpointService,
            services.iter().map(|s| &s.id),
        );
        let mut out = Vec::new();
        for e in endpoints {
            let service = e.service.and_then(|r| {
                self.resolve(
                    r,
                    Kind::EndpointService,
                    &join(&e.at.path, "service"),
                    net.ids,
                    &svc_ids,
                )
            });
            let who = Who {
                id: &e.id,
                this: "this endpoint",
                a: "a VPC endpoint",
            };
            let (vpc, enis, security_groups) = self.resolve_attach(net, &e.at, &who, claims);
            if let (Some(s), Some(p)) = (service, e.principal) {
                let svc = &services[s];
                if !svc.allowed_principals.iter().any(|a| a == "*" || a == p.v) {
                    let allowed = svc
                        .allowed_principals
                        .iter()
                        .map(|a| format!("{a:?}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    self.err(
                        p.pos,
                        &join(&e.at.path, "principal"),
                        format!(
                            "principal {:?} is not allowed by endpoint service {} \
                             (allowed_principals: [{allowed}])",
                            p.v, svc.id
                        ),
                    );
                }
            }
            let state = e.state.unwrap_or_else(|| match service {
                Some(s) if services[s].acceptance_required => EndpointState::Pending,
                _ => EndpointState::Available,
            });
            out.push(VpcEndpoint {
                id: e.id,
                service: service.unwrap_or(0),
                vpc,
                enis,
                security_groups,
                principal: e.principal.map_or(String::new(), |p| p.v.to_string()),
                state,
                implied_by: None,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests;
