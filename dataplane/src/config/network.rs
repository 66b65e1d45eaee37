//! The network resources: `[lab]`, `[conntrack]`, `[flow_logs]`, VPCs,
//! subnets, security groups and ENIs. Pass 1 reads each table on its own;
//! pass 2 (`resolve_*`) resolves references and checks cross-resource rules.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::path::Path;

use ipnet::Ipv4Net;

use super::diagnostics::Checker;
use super::peering::actively_peered;
use super::placement::{Claim, MAX_SGS_PER_ENI};
use super::refs::{defined, IdInfo, Kind};
use super::tree::{join, Node, Sp, Tbl, Val};
use super::values::{
    overlaps, parse_cidr, parse_flow_log_destination, parse_mac, parse_peer, parse_ports, reserved,
    valid_name, PeerIn,
};
use crate::model::{
    self, ConntrackSettings, Eni, FlowLogDestination, FlowLogField, FlowLogFileFormat,
    FlowLogSettings, Hook, LabSettings, Peer, Protocol, Rule, SecurityGroup, Subnet, Vpc,
    VpcPeering, FLOW_LOG_ACCOUNT, FLOW_LOG_INTERVAL_RANGE, FLOW_LOG_INTERVAL_S,
};

pub(super) const LAB_KEYS: &[&str] = &["name", "hook", "mtu", "nacl_entries_max"];

pub(super) const CONNTRACK_KEYS: &[&str] = &[
    "tcp_established_timeout",
    "udp_stream_timeout",
    "udp_timeout",
    "tcp_transitory_timeout",
    "other_timeout",
    "other_protocol_timeout",
    "nat_gateway_idle_timeout",
    "sweep_interval",
    "ignore_aws_ranges",
];

/// What any `[conntrack]` timeout may be in the lab (seconds): AWS's
/// largest, 5 days, and down to 1 s for tests.
pub(super) const CONNTRACK_LAB_RANGE: RangeInclusive<i64> = 1..=432_000;

pub(super) const SWEEP_RANGE: RangeInclusive<i64> = 1..=60;

pub(super) const FLOW_LOG_KEYS: &[&str] = &[
    "destination",
    "interval",
    "account_id",
    "format",
    "file_format",
];

pub(super) const VPC_KEYS: &[&str] = &["id", "cidr"];

pub(super) const SUBNET_KEYS: &[&str] = &["id", "vpc", "cidr", "az", "mtu"];

pub(super) const SG_KEYS: &[&str] = &["id", "vpc", "ingress", "egress"];

pub(super) const RULE_KEYS: &[&str] = &["protocol", "ports", "icmp", "peer"];

pub(super) const ENI_KEYS: &[&str] = &[
    "id",
    "subnet",
    "ip",
    "mac",
    "security_groups",
    "host",
    "public_ip",
    "mtu",
    "node",
];

pub(super) const MTU_RANGE: RangeInclusive<i64> = 576..=9000;

/// The largest MTU of a lab whose hook is XDP: a veth refuses a native XDP
/// program without multi-buffer support when its peer's MTU is larger (a
/// page minus XDP headroom and the skb's shared info); measured on kernel
/// 6.18: 3,506 attaches, 3,507 does not.
pub(super) const XDP_MTU_MAX: u32 = 3506;

/// What `[lab] nacl_entries_max` may be: up to AWS's largest quota.
pub(super) const NACL_ENTRIES_MAX_RANGE: RangeInclusive<i64> = 1..=40;

/// AWS's allowed VPC and subnet sizes.
pub(super) const PREFIX_RANGE: RangeInclusive<u8> = 16..=28;

/// What an `[[eni]]` says before references are resolved.
pub(super) struct EniIn<'n> {
    pub(super) tbl_pos: usize,
    pub(super) path: String,
    pub(super) id: String,
    pub(super) subnet: Option<Sp<&'n str>>,
    pub(super) ip: Option<Sp<Ipv4Addr>>,
    pub(super) mac: Option<Sp<[u8; 6]>>,
    pub(super) security_groups: Option<Sp<Vec<Sp<&'n str>>>>,
    pub(super) host: String,
    /// `public_ip` (checked with the internet: `gateways.rs`).
    pub(super) public_ip: Option<Sp<Ipv4Addr>>,
    pub(super) mtu: Option<u32>,
    /// The `[[node]]` its host runs on (`nodes.rs`).
    pub(super) node: Option<Sp<&'n str>>,
}

pub(super) struct RuleIn<'n> {
    pub(super) path: String,
    pub(super) protocol: Option<Protocol>,
    pub(super) ports: (u16, u16),
    pub(super) peer: Option<Sp<PeerIn<'n>>>,
}

pub(super) struct SgIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) vpc: Option<Sp<&'n str>>,
    pub(super) ingress: Vec<RuleIn<'n>>,
    /// `None`: no `egress` key.
    pub(super) egress: Option<Vec<RuleIn<'n>>>,
}

pub(super) struct SubnetIn<'n> {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) vpc: Option<Sp<&'n str>>,
    pub(super) cidr: Option<Sp<Ipv4Net>>,
    pub(super) az: String,
    pub(super) mtu: Option<u32>,
}

pub(super) struct EnisOut {
    pub(super) enis: Vec<Eni>,
    /// Each ENI's VPC, if its subnet resolved.
    pub(super) vpcs: Vec<Option<usize>>,
    /// (vpc, ip) -> ENI, for valid addresses that are unique among ENIs.
    pub(super) at: HashMap<(usize, Ipv4Addr), usize>,
    pub(super) claims: Vec<Claim>,
}

pub(super) const LAB_NAME_RULE: &str =
    "expected 1 to 12 characters from a-z, 0-9 and '-', starting \
                             with a letter or digit; it prefixes the lab's namespace names";

pub(super) const HOST_NAME_RULE: &str =
    "expected 1 to 15 characters from a-z, 0-9 and '-', starting with a letter or digit";

impl<'s> Checker<'s> {
    pub(super) fn lab(&mut self, root: &Tbl<'_>) -> LabSettings {
        let mut lab = LabSettings {
            name: String::new(),
            hook: Hook::Tc,
            mtu: 1500,
            nacl_entries_max: model::NACL_ENTRIES_MAX,
            aws: self.aws(root),
        };
        let mut lab_pos = 0;
        let mut name_given = false;
        if let Some(e) = root.get("lab") {
            lab_pos = e.node.pos;
            if let Some(t) = self.table(&e.node, "lab", "a table ([lab])", LAB_KEYS) {
                name_given = t.get("name").is_some();
                if let Some(name) = self.opt_str(&t, "name", "a lab name such as \"demo\"") {
                    if valid_name(name.v, 12) {
                        lab.name = name.v.to_string();
                    } else {
                        self.err(
                            name.pos,
                            "lab.name",
                            format!("invalid lab name {:?} ({LAB_NAME_RULE})", name.v),
                        );
                    }
                }
                if let Some(hook) = self.opt_str(&t, "hook", "\"tc\" or \"xdp\"") {
                    match hook.v {
                        "tc" => lab.hook = Hook::Tc,
                        "xdp" => {
                            lab.hook = Hook::Xdp;
                            self.xdp = true;
                        }
                        other => self.err(
                            hook.pos,
                            "lab.hook",
                            format!("unknown hook {other:?} (expected \"tc\" or \"xdp\")"),
                        ),
                    }
                }
                if let Some(e) = t.get("nacl_entries_max") {
                    if let Some(n) = self.int(
                        &e.node,
                        "lab.nacl_entries_max",
                        "a number of entries such as 20",
                        "nacl_entries_max",
                        NACL_ENTRIES_MAX_RANGE,
                    ) {
                        lab.nacl_entries_max = n.v as u32;
                    }
                }
                if let Some(e) = t.get("mtu") {
                    match e.node.val {
                        Val::Int(mtu) if MTU_RANGE.contains(&mtu) => {
                            lab.mtu = mtu as u32;
                            self.xdp_mtu(e.node.pos, "lab.mtu", lab.mtu);
                        }
                        Val::Int(mtu) => self.err(
                            e.node.pos,
                            "lab.mtu",
                            format!(
                                "MTU {mtu} is out of range (expected {} to {})",
                                MTU_RANGE.start(),
                                MTU_RANGE.end()
                            ),
                        ),
                        ref other => self.err(
                            e.node.pos,
                            "lab.mtu",
                            format!(
                                "expected an integer MTU such as 1500, found {}",
                                other.type_name()
                            ),
                        ),
                    }
                }
            }
        }
        if !name_given {
            let stem = Path::new(self.file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if valid_name(&stem, 12) {
                lab.name = stem;
            } else {
                self.err(
                    lab_pos,
                    "lab.name",
                    format!(
                        "no lab name is set and the file name's stem {stem:?} is not a valid one \
                         ({LAB_NAME_RULE}); set name in [lab]"
                    ),
                );
            }
        }
        lab
    }

    /// `[conntrack]`: idle timeouts (seconds) and the sweep interval. The
    /// three timeouts AWS lets one set on an ENI keep AWS's names and ranges
    /// unless `ignore_aws_ranges` (a lab knob, for tests with short
    /// timeouts) widens them to [`CONNTRACK_LAB_RANGE`].
    pub(super) fn conntrack(&mut self, root: &Tbl<'_>) -> ConntrackSettings {
        let mut ct = ConntrackSettings::default();
        let Some(e) = root.get("conntrack") else {
            return ct;
        };
        let Some(t) = self.table(
            &e.node,
            "conntrack",
            "a table ([conntrack])",
            CONNTRACK_KEYS,
        ) else {
            return ct;
        };
        let lab_ranges = self.opt_bool(&t, "ignore_aws_ranges").unwrap_or(false);
        let aws = |name, range| Some((name, range));
        let d = &mut ct.timeouts;
        for (key, aws, slot) in [
            (
                "tcp_established_timeout",
                aws("tcpEstablishedTimeout", 60..=432_000),
                &mut d.tcp_established,
            ),
            (
                "udp_stream_timeout",
                aws("udpStreamTimeout", 60..=180),
                &mut d.udp_stream,
            ),
            ("udp_timeout", aws("udpTimeout", 30..=60), &mut d.udp),
            ("tcp_transitory_timeout", None, &mut d.tcp_transitory),
            ("other_timeout", None, &mut d.other),
            ("other_protocol_timeout", None, &mut d.other_protocol),
            // AWS's is fixed at 350 s: the lab knob shrinks it for tests.
            (
                "nat_gateway_idle_timeout",
                aws("a NAT gateway's idle timeout, fixed", 350..=350),
                &mut d.nat_gateway,
            ),
        ] {
            if let Some(e) = t.get(key) {
                if let Some(secs) = self.timeout_secs(&e.node, &t.field(key), key, aws, lab_ranges)
                {
                    *slot = std::time::Duration::from_secs(secs);
                }
            }
        }
        if let Some(e) = t.get("sweep_interval") {
            if let Some(n) = self.int(
                &e.node,
                &t.field("sweep_interval"),
                "an interval in seconds such as 1",
                "sweep_interval",
                SWEEP_RANGE,
            ) {
                ct.sweep_interval = std::time::Duration::from_secs(n.v as u64);
            }
        }
        ct
    }

    /// One `[conntrack]` timeout in seconds. `aws`: AWS's name and range for
    /// it, enforced unless `lab_ranges`.
    pub(super) fn timeout_secs(
        &mut self,
        node: &Node,
        field: &str,
        key: &str,
        aws: Option<(&str, RangeInclusive<i64>)>,
        lab_ranges: bool,
    ) -> Option<u64> {
        let n = match node.val {
            Val::Int(n) => n,
            ref other => {
                self.err(
                    node.pos,
                    field,
                    format!(
                        "expected a timeout in seconds such as 60, found {}",
                        other.type_name()
                    ),
                );
                return None;
            }
        };
        let (lo, hi) = (CONNTRACK_LAB_RANGE.start(), CONNTRACK_LAB_RANGE.end());
        match aws {
            Some((name, range)) if !lab_ranges && !range.contains(&n) => {
                let hint = if CONNTRACK_LAB_RANGE.contains(&n) {
                    format!("; set ignore_aws_ranges = true to allow {lo} to {hi} in the lab")
                } else {
                    String::new()
                };
                self.err(
                    node.pos,
                    field,
                    format!(
                        "{key} {n} is out of range (expected {} to {} seconds, AWS's range \
                         for {name}{hint})",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
            _ if !CONNTRACK_LAB_RANGE.contains(&n) => {
                self.err(
                    node.pos,
                    field,
                    format!("{key} {n} is out of range (expected {lo} to {hi} seconds)"),
                );
                None
            }
            _ => Some(n as u64),
        }
    }

    /// `[flow_logs]`: present means on; every key has a default.
    pub(super) fn flow_logs(&mut self, root: &Tbl<'_>) -> Option<FlowLogSettings> {
        let e = root.get("flow_logs")?;
        let t = self.table(&e.node, "flow_logs", "a table ([flow_logs])", FLOW_LOG_KEYS)?;
        let mut fl = FlowLogSettings {
            destination: FlowLogDestination::Stdout,
            interval_s: FLOW_LOG_INTERVAL_S,
            account_id: FLOW_LOG_ACCOUNT.into(),
            format: FlowLogField::DEFAULT.to_vec(),
            file_format: FlowLogFileFormat::PlainText,
        };
        if let Some(d) = self.opt_str(&t, "destination", "\"stdout\" or a file path") {
            match parse_flow_log_destination(d.v) {
                Ok(dest) => fl.destination = dest,
                Err(m) => self.err(d.pos, "flow_logs.destination", m),
            }
        }
        if let Some(e) = t.get("interval") {
            if let Some(i) = self.int(
                &e.node,
                "flow_logs.interval",
                "a number of seconds such as 60",
                "interval",
                FLOW_LOG_INTERVAL_RANGE,
            ) {
                fl.interval_s = i.v as u32;
            }
        }
        if let Some(a) = self.opt_str(&t, "account_id", "a 12-digit AWS account id") {
            if a.v.len() == 12 && a.v.bytes().all(|b| b.is_ascii_digit()) {
                fl.account_id = a.v.to_string();
            } else {
                self.err(
                    a.pos,
                    "flow_logs.account_id",
                    format!("invalid account id {:?} (expected 12 digits such as \"{FLOW_LOG_ACCOUNT}\")", a.v),
                );
            }
        }
        if let Some(f) = self.opt_str(&t, "format", "fields such as \"${version} ${vpc-id}\"") {
            match crate::model::parse_flow_log_format(f.v) {
                Ok(format) => fl.format = format,
                Err(errs) => {
                    // Point at the token when the string is written as
                    // is (a basic or literal string without escapes).
                    let raw = self.src.get(f.pos + 1..).unwrap_or("");
                    let exact = raw.starts_with(f.v);
                    for (at, m) in errs {
                        let pos = if exact { f.pos + 1 + at } else { f.pos };
                        self.err(pos, "flow_logs.format", m);
                    }
                }
            }
        }
        if let Some(f) = self.opt_str(&t, "file_format", "\"plain-text\" or \"json-lines\"") {
            match f.v {
                "plain-text" => fl.file_format = FlowLogFileFormat::PlainText,
                "json-lines" => fl.file_format = FlowLogFileFormat::JsonLines,
                other => self.err(
                    f.pos,
                    "flow_logs.file_format",
                    format!(
                        "unknown file format {other:?} (expected \"plain-text\" or \"json-lines\")"
                    ),
                ),
            }
        }
        Some(fl)
    }

    pub(super) fn vpc(
        &mut self,
        node: &Node,
        path: &str,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> Vpc {
        let mut vpc = Vpc {
            id: String::new(),
            cidr: Ipv4Net::default(),
        };
        let Some(t) = self.table(node, path, "a table", VPC_KEYS) else {
            return vpc;
        };
        vpc.id = self.id(&t, Kind::Vpc, index, ids);
        if let Some(cidr) = self.network(&t, "cidr") {
            vpc.cidr = cidr.v;
        }
        vpc
    }

    /// A required VPC or subnet CIDR: a network address, prefix /16 to /28.
    pub(super) fn network(&mut self, t: &Tbl<'_>, key: &str) -> Option<Sp<Ipv4Net>> {
        let field = t.field(key);
        let s = self.req_str(t, key, "an IPv4 CIDR such as \"10.0.0.0/16\"")?;
        let net = match parse_cidr(s.v, false) {
            Ok(net) => net,
            Err(msg) => {
                self.err(s.pos, &field, msg);
                return None;
            }
        };
        if !PREFIX_RANGE.contains(&net.prefix_len()) {
            self.err(
                s.pos,
                &field,
                format!(
                    "prefix /{} of {net} is out of range (expected /{} to /{}, as in AWS)",
                    net.prefix_len(),
                    PREFIX_RANGE.start(),
                    PREFIX_RANGE.end()
                ),
            );
            return None;
        }
        Some(Sp { v: net, pos: s.pos })
    }

    pub(super) fn subnet<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> SubnetIn<'n> {
        let mut s = SubnetIn {
            path,
            id: String::new(),
            vpc: None,
            cidr: None,
            az: String::new(),
            mtu: None,
        };
        let Some(t) = self.table(node, &s.path, "a table", SUBNET_KEYS) else {
            return s;
        };
        s.mtu = self.mtu(&t);
        s.id = self.id(&t, Kind::Subnet, index, ids);
        s.vpc = self.req_str(&t, "vpc", "the id of a [[vpc]]");
        s.cidr = self.network(&t, "cidr");
        if let Some(az) = self.req_str(&t, "az", "an availability zone such as \"use1-az1\"") {
            if az.v.trim().is_empty() {
                self.err(
                    az.pos,
                    &t.field("az"),
                    "the availability zone must not be empty (e.g. \"use1-az1\")",
                );
            }
            s.az = az.v.to_string();
        }
        s
    }

    pub(super) fn security_group<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> SgIn<'n> {
        let mut sg = SgIn {
            path,
            id: String::new(),
            vpc: None,
            ingress: Vec::new(),
            egress: None,
        };
        let Some(t) = self.table(node, &sg.path, "a table", SG_KEYS) else {
            return sg;
        };
        sg.id = self.id(&t, Kind::SecurityGroup, index, ids);
        sg.vpc = self.req_str(&t, "vpc", "the id of a [[vpc]]");
        if let Some(e) = t.get("ingress") {
            sg.ingress = self.rules(&e.node, &t.field("ingress"));
        }
        if let Some(e) = t.get("egress") {
            sg.egress = Some(self.rules(&e.node, &t.field("egress")));
        }
        sg
    }

    pub(super) fn rules<'n>(&mut self, node: &'n Node, path: &str) -> Vec<RuleIn<'n>> {
        let Some(items) = self.as_array(node, path, "an array of rule tables") else {
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .map(|(i, n)| self.rule(n, format!("{path}[{i}]")))
            .collect()
    }

    pub(super) fn rule<'n>(&mut self, node: &'n Node, path: String) -> RuleIn<'n> {
        let mut r = RuleIn {
            path,
            protocol: None,
            ports: (0, 65535),
            peer: None,
        };
        let Some(t) = self.table(node, &r.path, "a rule table", RULE_KEYS) else {
            return r;
        };
        r.protocol = self.protocol(&t);
        if let Some(Some(ports)) = self.ports(&t, r.protocol, "a rule") {
            r.ports = ports;
        }
        // AWS's FromPort / ToPort for ICMP: the type and code, -1 for all.
        if let Some(icmp) = self.icmp_key(&t, r.protocol) {
            r.ports = icmp.value_range();
        }
        if let Some(peer) = self.req_str(
            &t,
            "peer",
            "an IPv4 CIDR such as \"10.0.0.0/16\" or a security group id",
        ) {
            match parse_peer(peer.v) {
                Ok(p) => {
                    r.peer = Some(Sp {
                        v: p,
                        pos: peer.pos,
                    })
                }
                Err(msg) => self.err(peer.pos, &t.field("peer"), msg),
            }
        }
        r
    }

    /// An optional `ports` (`None` when absent; `Some(None)` when invalid,
    /// reported), which `protocol` "icmp" and "all" do not allow; `what`
    /// names the table in that message ("a rule", "an entry").
    pub(super) fn ports(
        &mut self,
        t: &Tbl<'_>,
        protocol: Option<Protocol>,
        what: &str,
    ) -> Option<Option<(u16, u16)>> {
        let e = t.get("ports")?;
        let field = t.field("ports");
        let ports = match parse_ports(&e.node.val) {
            Ok(ports) => Some(ports),
            Err(msg) => {
                self.err(e.node.pos, &field, msg);
                None
            }
        };
        if let Some(p @ (Protocol::Icmp | Protocol::All | Protocol::Number(_))) = protocol {
            let name = p.name();
            let why = match p {
                Protocol::Icmp => "ICMP has types and codes, not ports: use icmp = { type, code }",
                Protocol::Number(_) => "this protocol has no ports",
                _ => "it covers every port",
            };
            self.err(
                e.node.pos,
                &field,
                format!(
                    "ports are not allowed for protocol \"{name}\" ({what} for \"{name}\": \
                     {why}; remove ports or use \"tcp\" or \"udp\")"
                ),
            );
        }
        Some(ports)
    }

    pub(super) fn eni<'n>(
        &mut self,
        node: &'n Node,
        path: String,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> EniIn<'n> {
        let mut eni = EniIn {
            tbl_pos: node.pos,
            path,
            id: String::new(),
            subnet: None,
            ip: None,
            mac: None,
            security_groups: None,
            host: String::new(),
            public_ip: None,
            mtu: None,
            node: None,
        };
        let Some(t) = self.table(node, &eni.path, "a table", ENI_KEYS) else {
            return eni;
        };
        eni.node = self.opt_str(&t, "node", "the id of a [[node]] such as \"n1\"");
        eni.mtu = self.mtu(&t);
        eni.id = self.id(&t, Kind::Eni, index, ids);
        eni.subnet = self.req_str(&t, "subnet", "the id of a [[subnet]]");
        eni.ip = self.ipv4(&t, "ip");
        eni.public_ip = self.public_ip(&t);
        if let Some(mac) = self.opt_str(&t, "mac", "a MAC address such as \"02:00:00:00:00:01\"") {
            match parse_mac(mac.v) {
                Ok(m) => eni.mac = Some(Sp { v: m, pos: mac.pos }),
                Err(msg) => self.err(mac.pos, &t.field("mac"), msg),
            }
        }
        const SGS: &str = "an array of 1 to 5 security group ids such as [\"sg-web\"]";
        if let Some(e) = self.require(&t, "security_groups", SGS) {
            let field = t.field("security_groups");
            if let Some(items) = self.as_array(&e.node, &field, SGS) {
                let mut list = Vec::new();
                for (i, n) in items.iter().enumerate() {
                    match &n.val {
                        Val::Str(s) => list.push(Sp {
                            v: s.as_str(),
                            pos: n.pos,
                        }),
                        other => self.err(
                            n.pos,
                            &format!("{field}[{i}]"),
                            format!(
                                "expected a security group id (a string), found {}",
                                other.type_name()
                            ),
                        ),
                    }
                }
                if items.is_empty() || items.len() > MAX_SGS_PER_ENI {
                    self.err(
                        e.node.pos,
                        &field,
                        format!(
                            "an ENI needs 1 to {MAX_SGS_PER_ENI} security groups, found {}",
                            items.len()
                        ),
                    );
                }
                eni.security_groups = Some(Sp {
                    v: list,
                    pos: e.node.pos,
                });
            }
        }
        if let Some(host) = self.req_str(&t, "host", "a lab host name such as \"web\"") {
            if host.v == "fabric" {
                self.err(
                    host.pos,
                    &t.field("host"),
                    "host name \"fabric\" is reserved for the lab's fabric namespace",
                );
            } else if !valid_name(host.v, 15) {
                self.err(
                    host.pos,
                    &t.field("host"),
                    format!("invalid host name {:?} ({HOST_NAME_RULE})", host.v),
                );
            }
            eni.host = host.v.to_string();
        }
        eni
    }

    /// An optional `mtu`: the MTU of the lab veths of a subnet's or an
    /// ENI's hosts (an ENI's wins over its subnet's, which wins over
    /// `[lab] mtu`).
    fn mtu(&mut self, t: &Tbl<'_>) -> Option<u32> {
        let e = t.get("mtu")?;
        let field = t.field("mtu");
        let n = self.int(
            &e.node,
            &field,
            "an integer MTU such as 1500",
            "MTU",
            MTU_RANGE,
        )?;
        self.xdp_mtu(n.pos, &field, n.v as u32);
        Some(n.v as u32)
    }

    /// An MTU above [`XDP_MTU_MAX`] in a lab whose hook is XDP: its veths
    /// would refuse the programs.
    fn xdp_mtu(&mut self, pos: usize, field: &str, mtu: u32) {
        if self.xdp && mtu > XDP_MTU_MAX {
            self.err(
                pos,
                field,
                format!(
                    "MTU {mtu} is above {XDP_MTU_MAX}, the largest a veth takes native XDP programs for (hook = \"xdp\"); use hook = \"tc\" for larger frames"
                ),
            );
        }
    }

    pub(super) fn resolve_subnets(
        &mut self,
        vpcs: &[Vpc],
        subnets: Vec<SubnetIn<'_>>,
        ids: &HashMap<String, IdInfo>,
    ) -> (Vec<Subnet>, Vec<Option<usize>>) {
        let defined = defined(ids, Kind::Vpc, vpcs.iter().map(|v| &v.id));
        // Per VPC: the subnets seen so far with a valid CIDR.
        let mut seen: Vec<(usize, usize, Ipv4Net)> = Vec::new();
        let mut out = Vec::new();
        let mut out_vpcs = Vec::new();
        for (i, s) in subnets.into_iter().enumerate() {
            let vpc = s
                .vpc
                .and_then(|r| self.resolve(r, Kind::Vpc, &join(&s.path, "vpc"), ids, &defined));
            if let (Some(v), Some(cidr)) = (vpc, s.cidr) {
                let vpc = &vpcs[v];
                // A VPC whose own CIDR is invalid has a default (0.0.0.0/0) one
                // here and an error already: do not pile on.
                let vpc_ok = vpc.cidr.prefix_len() != 0;
                if vpc_ok && !vpc.cidr.contains(&cidr.v) {
                    self.err(
                        cidr.pos,
                        &join(&s.path, "cidr"),
                        format!("{} is outside {} ({})", cidr.v, vpc.id, vpc.cidr),
                    );
                } else if let Some((j, _, other)) = seen
                    .iter()
                    .find(|(_, sv, other)| *sv == v && overlaps(other, &cidr.v))
                {
                    self.err(
                        cidr.pos,
                        &join(&s.path, "cidr"),
                        format!(
                            "{} overlaps subnet[{j}] {} ({other}) in {}",
                            cidr.v,
                            out_id(&out, *j),
                            vpc.id
                        ),
                    );
                } else {
                    seen.push((i, v, cidr.v));
                }
            }
            out.push(Subnet {
                id: s.id,
                vpc: vpc.unwrap_or(0),
                cidr: s.cidr.map(|c| c.v).unwrap_or_default(),
                az: s.az,
                mtu: s.mtu,
            });
            out_vpcs.push(vpc);
        }
        (out, out_vpcs)
    }

    pub(super) fn resolve_security_groups(
        &mut self,
        vpcs: &[Vpc],
        peerings: &[VpcPeering],
        sgs: Vec<SgIn<'_>>,
        ids: &HashMap<String, IdInfo>,
    ) -> (Vec<SecurityGroup>, Vec<Option<usize>>) {
        let vpc_ids = defined(ids, Kind::Vpc, vpcs.iter().map(|v| &v.id));
        let sg_ids = defined(ids, Kind::SecurityGroup, sgs.iter().map(|s| &s.id));
        let sg_vpcs: Vec<Option<usize>> = sgs
            .iter()
            .map(|sg| {
                sg.vpc
                    .and_then(|r| self.resolve(r, Kind::Vpc, &join(&sg.path, "vpc"), ids, &vpc_ids))
            })
            .collect();
        let default_egress = || {
            vec![Rule {
                protocol: Protocol::All,
                ports: (0, 65535),
                peer: Peer::Cidr(Ipv4Net::default()),
            }]
        };
        let mut out = Vec::new();
        for (i, sg) in sgs.iter().enumerate() {
            let mut rules = |list: &[RuleIn<'_>]| -> Vec<Rule> {
                list.iter()
                    .map(|r| Rule {
                        protocol: r.protocol.unwrap_or(Protocol::All),
                        ports: r.ports,
                        peer: self
                            .peer(
                                r,
                                i,
                                sgs.as_slice(),
                                &sg_vpcs,
                                (vpcs, peerings),
                                ids,
                                &sg_ids,
                            )
                            .unwrap_or(Peer::Cidr(Ipv4Net::default())),
                    })
                    .collect()
            };
            let ingress = rules(&sg.ingress);
            let egress = match &sg.egress {
                Some(list) => rules(list),
                None => default_egress(),
            };
            out.push(SecurityGroup {
                id: sg.id.clone(),
                vpc: sg_vpcs[i].unwrap_or(0),
                ingress,
                egress,
            });
        }
        (out, sg_vpcs)
    }

    /// A rule's peer; a group peer must be a security group in the same VPC
    /// as the rule's group, or in a VPC an active peering connection joins
    /// to it (VPC peering guide, "Update your security groups to reference
    /// peer security groups").
    #[allow(clippy::too_many_arguments)]
    pub(super) fn peer(
        &mut self,
        r: &RuleIn<'_>,
        sg: usize,
        sgs: &[SgIn<'_>],
        sg_vpcs: &[Option<usize>],
        (vpcs, peerings): (&[Vpc], &[VpcPeering]),
        ids: &HashMap<String, IdInfo>,
        sg_ids: &[&str],
    ) -> Option<Peer> {
        let peer = r.peer.as_ref()?;
        let name = match peer.v {
            PeerIn::Cidr(net) => return Some(Peer::Cidr(net)),
            PeerIn::Group(name) => name,
        };
        let field = join(&r.path, "peer");
        let target = self.resolve(
            Sp {
                v: name,
                pos: peer.pos,
            },
            Kind::SecurityGroup,
            &field,
            ids,
            sg_ids,
        )?;
        if let (Some(mine), Some(theirs)) = (sg_vpcs[sg], sg_vpcs[target]) {
            if mine != theirs && !actively_peered(peerings, mine, theirs) {
                self.err(
                    peer.pos,
                    &field,
                    format!(
                        "security group \"{name}\" is in {}, but {} is in {} \
                         (a rule can only reference groups of its own VPC or of a VPC an \
                         active peering connection joins to it; use a CIDR instead)",
                        vpcs[theirs].id, sgs[sg].id, vpcs[mine].id
                    ),
                );
                return None;
            }
        }
        Some(Peer::SecurityGroup(target))
    }

    pub(super) fn resolve_enis(
        &mut self,
        vpcs: &[Vpc],
        (subnets, subnet_vpcs): (&[Subnet], &[Option<usize>]),
        (sgs, sg_vpcs): (&[SecurityGroup], &[Option<usize>]),
        enis: Vec<EniIn<'_>>,
        ids: &HashMap<String, IdInfo>,
    ) -> EnisOut {
        let subnet_ids = defined(ids, Kind::Subnet, subnets.iter().map(|s| &s.id));
        let sg_ids = defined(ids, Kind::SecurityGroup, sgs.iter().map(|s| &s.id));
        // (vpc, ip) -> ENI index; mac -> (ENI index, explicit?)
        let mut ips: HashMap<(usize, Ipv4Addr), usize> = HashMap::new();
        let mut macs: HashMap<[u8; 6], (usize, bool)> = HashMap::new();
        let mut out: Vec<Eni> = Vec::new();
        let mut eni_vpcs = Vec::new();
        let mut claims = Vec::new();
        for (i, e) in enis.into_iter().enumerate() {
            let subnet = e.subnet.and_then(|r| {
                self.resolve(r, Kind::Subnet, &join(&e.path, "subnet"), ids, &subnet_ids)
            });
            // A subnet with an invalid CIDR has a default one and an error already.
            let subnet_ok = subnet.filter(|&s| subnets[s].cidr.prefix_len() != 0);
            let vpc = subnet.and_then(|s| subnet_vpcs[s]);
            let ip_field = join(&e.path, "ip");
            let mut ip_ok = match (subnet_ok, e.ip) {
                (Some(s), Some(ip)) => self.address_in_subnet(&subnets[s], ip, &ip_field),
                _ => false,
            };
            if let (true, Some(v), Some(ip)) = (ip_ok, vpc, e.ip) {
                if let Some(&j) = ips.get(&(v, ip.v)) {
                    ip_ok = false;
                    self.err(
                        ip.pos,
                        &ip_field,
                        format!(
                            "{} is already used by {} (eni[{j}]) in {}",
                            ip.v, out[j].id, vpcs[v].id
                        ),
                    );
                } else {
                    ips.insert((v, ip.v), i);
                    claims.push(Claim {
                        pos: ip.pos,
                        vpc: v,
                        ip: ip.v,
                        owner: format!("{} ({})", e.id, e.path),
                        field: ip_field.clone(),
                    });
                }
            }
            eni_vpcs.push(vpc);
            // The ENI's MAC: explicit, or derived from a valid, unique
            // address (a duplicate address is reported once, as such).
            let mac = match (e.mac, vpc, e.ip) {
                (Some(m), _, _) => Some((m.v, Some(m.pos))),
                (None, Some(v), Some(ip)) if ip_ok => Some((model::default_mac(v, ip.v), None)),
                _ => None,
            };
            if let Some((m, pos)) = mac {
                if let Some(&(j, explicit)) = macs.get(&m) {
                    let how = if explicit { "" } else { "default " };
                    match pos {
                        Some(pos) => self.err(
                            pos,
                            &join(&e.path, "mac"),
                            format!(
                                "MAC {} is already the {how}MAC of {} (eni[{j}])",
                                model::format_mac(&m),
                                out[j].id
                            ),
                        ),
                        None => self.err(
                            e.tbl_pos,
                            &join(&e.path, "mac"),
                            format!(
                                "the default MAC {} (from the VPC index and IP) is already the \
                                 {how}MAC of {} (eni[{j}]); set mac explicitly",
                                model::format_mac(&m),
                                out[j].id
                            ),
                        ),
                    }
                } else {
                    macs.insert(m, (i, pos.is_some()));
                }
            }
            let mut groups = Vec::new();
            if let Some(list) = &e.security_groups {
                let field = join(&e.path, "security_groups");
                for (k, r) in list.v.iter().enumerate() {
                    let f = format!("{field}[{k}]");
                    if list.v[..k].iter().any(|o| o.v == r.v) {
                        self.err(
                            r.pos,
                            &f,
                            format!("security group \"{}\" is listed twice", r.v),
                        );
                        continue;
                    }
                    let Some(g) = self.resolve(*r, Kind::SecurityGroup, &f, ids, &sg_ids) else {
                        continue;
                    };
                    if let Some(s) = subnet {
                        let same = self.in_same_vpc((r.pos, &f), vpcs, (vpc, sg_vpcs[g]), |gv, v| {
                            format!(
                                "security group \"{}\" is in {gv}, but this ENI's subnet {} is in {v}",
                                r.v, subnets[s].id
                            )
                        });
                        if !same {
                            continue;
                        }
                    }
                    groups.push(g);
                }
            }
            out.push(Eni {
                id: e.id,
                subnet: subnet.unwrap_or(0),
                ip: e.ip.map(|ip| ip.v).unwrap_or(Ipv4Addr::UNSPECIFIED),
                mac: mac.map(|(m, _)| m).unwrap_or_default(),
                security_groups: groups,
                host: e.host,
                mtu: e.mtu,
            });
        }
        EnisOut {
            enis: out,
            vpcs: eni_vpcs,
            at: ips,
            claims,
        }
    }

    /// Whether `ip` is a usable address of `sn` (inside it, not reserved).
    pub(super) fn address_in_subnet(&mut self, sn: &Subnet, ip: Sp<Ipv4Addr>, field: &str) -> bool {
        if !sn.cidr.contains(&ip.v) {
            self.err(
                ip.pos,
                field,
                format!("{} is outside subnet {} ({})", ip.v, sn.id, sn.cidr),
            );
            false
        } else if let Some(what) = reserved(sn.cidr, ip.v) {
            let first = Ipv4Addr::from(u32::from(sn.cidr.network()) + 4);
            let last = Ipv4Addr::from(u32::from(sn.cidr.broadcast()) - 1);
            self.err(
                ip.pos,
                field,
                format!(
                    "{} is {what} of subnet {} ({}); usable addresses are {first} to {last} \
                     (AWS reserves the first four and the last)",
                    ip.v, sn.id, sn.cidr
                ),
            );
            false
        } else {
            true
        }
    }
}

pub(super) fn out_id(subnets: &[Subnet], i: usize) -> &str {
    subnets.get(i).map_or("", |s| s.id.as_str())
}

#[cfg(test)]
mod tests;
