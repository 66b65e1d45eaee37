//! Config files: TOML text -> validated [`model::Topology`], every error located.
//!
//! The file is parsed with `toml_edit` (the parser under `toml` 0.8), which
//! keeps the byte span of every key, value and table header. The document is
//! turned into a small spanned tree and then walked by hand, so structural
//! errors (unknown keys, missing fields, wrong types) and semantic errors
//! (references, addresses, duplicates, ranges) are all collected in one pass
//! and reported together, sorted by position.
//!
//! Format (one array of tables per resource kind; ids are a single namespace):
//!
//! ```toml
//! [lab]                      # optional
//! name = "demo"              # default: the file stem
//! hook = "tc"                # "tc" (default) or "xdp"
//! mtu = 1500                 # 576..=9000
//!
//! [[vpc]]
//! id = "vpc-a"
//! cidr = "10.0.0.0/16"
//!
//! [[subnet]]
//! id = "subnet-a1"
//! vpc = "vpc-a"
//! cidr = "10.0.1.0/24"
//! az = "use1-az1"
//!
//! [[security_group]]
//! id = "sg-web"
//! vpc = "vpc-a"
//! ingress = [{ protocol = "tcp", ports = "80", peer = "sg-client" }]
//! # no `egress` key: AWS's default (all protocols to 0.0.0.0/0)
//!
//! [[eni]]
//! id = "eni-web"
//! subnet = "subnet-a1"
//! ip = "10.0.1.20"
//! security_groups = ["sg-web"]
//! host = "web"
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;
use toml_edit::{ImDocument, Item, Table, Value};

use crate::model::{
    self, Eni, Hook, LabSettings, Peer, Protocol, Rule, SecurityGroup, Subnet, Topology, Vpc,
};

/// The demo topology `dataplane` runs when no config is given.
pub const DEFAULT_CONFIG: &str = include_str!("../../configs/default.toml");

/// One problem in a config file, at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Path of the offending field, e.g. `eni[2].ip`; empty for file-level
    /// problems (unreadable file, TOML syntax).
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: field: message` (the `field: ` part is left out
    /// when `field` is empty).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a config file, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Reads and validates a config file. An unreadable file is one diagnostic at 1:1.
pub fn load(path: &Path) -> Result<Topology, Diagnostics> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(src) => parse_str(&src, &file),
        Err(e) => Err(Diagnostics(vec![Diagnostic {
            file,
            line: 1,
            column: 1,
            field: String::new(),
            message: format!("cannot read the config file: {e}"),
        }])),
    }
}

/// Validates config text. `file` names it in diagnostics, and its stem is the
/// default lab name.
pub fn parse_str(src: &str, file: &str) -> Result<Topology, Diagnostics> {
    let mut cx = Checker {
        src,
        file,
        diags: Vec::new(),
    };
    let topology = match ImDocument::parse(src) {
        Ok(doc) => {
            let root = table_node(doc.as_table(), 0);
            Some(cx.topology(&root))
        }
        Err(e) => {
            let message = e
                .message()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            cx.err(
                e.span().map_or(0, |s| s.start),
                "",
                format!("TOML syntax error: {message}"),
            );
            None
        }
    };
    match topology {
        Some(t) if cx.diags.is_empty() => Ok(t),
        _ => Err(cx.finish()),
    }
}

// ---------------------------------------------------------------------------
// Spanned tree

/// A TOML value with the byte offset where it starts (for a `[table]` or
/// `[[table]]`: its header).
struct Node {
    pos: usize,
    val: Val,
}

enum Val {
    Str(String),
    Int(i64),
    Float,
    Bool,
    Datetime,
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

struct Entry {
    key: String,
    /// Where the key is written.
    pos: usize,
    node: Node,
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Int(_) => "an integer",
            Val::Float => "a float",
            Val::Bool => "a boolean",
            Val::Datetime => "a datetime",
            Val::Array(_) => "an array",
            Val::Table(_) => "a table",
        }
    }
}

/// Tables without a span of their own (implicit ones, e.g. `a` in `[a.b]`)
/// take `fallback`: the position of the key that names them.
fn table_node(t: &Table, fallback: usize) -> Node {
    let pos = t.span().map_or(fallback, |s| s.start);
    let entries = t
        .iter()
        .filter_map(|(k, item)| {
            let kpos = t.key(k).and_then(|k| k.span()).map_or(pos, |s| s.start);
            item_node(item, kpos).map(|node| Entry {
                key: k.to_string(),
                pos: kpos,
                node,
            })
        })
        .collect();
    Node {
        pos,
        val: Val::Table(entries),
    }
}

fn item_node(item: &Item, fallback: usize) -> Option<Node> {
    match item {
        Item::None => None,
        Item::Value(v) => Some(value_node(v, fallback)),
        Item::Table(t) => Some(table_node(t, fallback)),
        Item::ArrayOfTables(a) => {
            let pos = a.span().map_or(fallback, |s| s.start);
            Some(Node {
                pos,
                val: Val::Array(a.iter().map(|t| table_node(t, pos)).collect()),
            })
        }
    }
}

fn value_node(v: &Value, fallback: usize) -> Node {
    let pos = v.span().map_or(fallback, |s| s.start);
    let val = match v {
        Value::String(s) => Val::Str(s.value().clone()),
        Value::Integer(i) => Val::Int(*i.value()),
        Value::Float(_) => Val::Float,
        Value::Boolean(_) => Val::Bool,
        Value::Datetime(_) => Val::Datetime,
        Value::Array(a) => Val::Array(a.iter().map(|x| value_node(x, pos)).collect()),
        Value::InlineTable(t) => Val::Table(
            t.iter()
                .map(|(k, x)| {
                    let kpos = t.key(k).and_then(|k| k.span()).map_or(pos, |s| s.start);
                    Entry {
                        key: k.to_string(),
                        pos: kpos,
                        node: value_node(x, kpos),
                    }
                })
                .collect(),
        ),
    };
    Node { pos, val }
}

// ---------------------------------------------------------------------------
// Checker

/// A value and where it is written.
#[derive(Clone, Copy)]
struct Sp<T> {
    v: T,
    pos: usize,
}

/// A table being read: its position (for "missing field") and field path.
struct Tbl<'n> {
    pos: usize,
    path: String,
    entries: &'n [Entry],
}

impl<'n> Tbl<'n> {
    fn get(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

const ROOT_KEYS: &[&str] = &["lab", "vpc", "subnet", "security_group", "eni"];
const LAB_KEYS: &[&str] = &["name", "hook", "mtu"];
const VPC_KEYS: &[&str] = &["id", "cidr"];
const SUBNET_KEYS: &[&str] = &["id", "vpc", "cidr", "az"];
const SG_KEYS: &[&str] = &["id", "vpc", "ingress", "egress"];
const RULE_KEYS: &[&str] = &["protocol", "ports", "peer"];
const ENI_KEYS: &[&str] = &["id", "subnet", "ip", "mac", "security_groups", "host"];

const MAX_SGS_PER_ENI: usize = 5;
const MTU_RANGE: std::ops::RangeInclusive<i64> = 576..=9000;
/// AWS's allowed VPC and subnet sizes.
const PREFIX_RANGE: std::ops::RangeInclusive<u8> = 16..=28;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Vpc,
    Subnet,
    SecurityGroup,
    Eni,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Vpc => "VPC",
            Kind::Subnet => "subnet",
            Kind::SecurityGroup => "security group",
            Kind::Eni => "ENI",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Vpc => "VPCs",
            Kind::Subnet => "subnets",
            Kind::SecurityGroup => "security groups",
            Kind::Eni => "ENIs",
        }
    }

    fn an(self) -> &'static str {
        match self {
            Kind::Eni => "an",
            Kind::Vpc | Kind::Subnet | Kind::SecurityGroup => "a",
        }
    }
}

struct IdInfo {
    kind: Kind,
    index: usize,
    path: String,
    pos: usize,
}

struct Checker<'s> {
    src: &'s str,
    file: &'s str,
    /// (byte offset, diagnostic); sorted by offset at the end.
    diags: Vec<(usize, Diagnostic)>,
}

/// What an `[[eni]]` says before references are resolved.
struct EniIn<'n> {
    tbl_pos: usize,
    path: String,
    id: String,
    subnet: Option<Sp<&'n str>>,
    ip: Option<Sp<Ipv4Addr>>,
    mac: Option<Sp<[u8; 6]>>,
    security_groups: Option<Sp<Vec<Sp<&'n str>>>>,
    host: String,
}

struct RuleIn<'n> {
    path: String,
    protocol: Option<Protocol>,
    ports: (u16, u16),
    peer: Option<Sp<PeerIn<'n>>>,
}

enum PeerIn<'n> {
    Cidr(Ipv4Net),
    Group(&'n str),
}

struct SgIn<'n> {
    path: String,
    id: String,
    vpc: Option<Sp<&'n str>>,
    ingress: Vec<RuleIn<'n>>,
    /// `None`: no `egress` key.
    egress: Option<Vec<RuleIn<'n>>>,
}

struct SubnetIn<'n> {
    path: String,
    id: String,
    vpc: Option<Sp<&'n str>>,
    cidr: Option<Sp<Ipv4Net>>,
    az: String,
}

impl<'s> Checker<'s> {
    fn err(&mut self, pos: usize, field: &str, message: impl Into<String>) {
        let (line, column) = line_col(self.src, pos);
        self.diags.push((
            pos,
            Diagnostic {
                file: self.file.to_string(),
                line,
                column,
                field: field.to_string(),
                message: message.into(),
            },
        ));
    }

    fn finish(mut self) -> Diagnostics {
        self.diags.sort_by_key(|(pos, _)| *pos);
        Diagnostics(self.diags.into_iter().map(|(_, d)| d).collect())
    }

    fn line_of(&self, pos: usize) -> usize {
        line_col(self.src, pos).0
    }

    // -- structural helpers --------------------------------------------------

    /// `node` as a table whose keys are all in `allowed`.
    fn table<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        what: &str,
        allowed: &[&str],
    ) -> Option<Tbl<'n>> {
        let Val::Table(entries) = &node.val else {
            self.err(
                node.pos,
                path,
                format!("expected {what}, found {}", node.val.type_name()),
            );
            return None;
        };
        for e in entries {
            if !allowed.contains(&e.key.as_str()) {
                self.err(e.pos, &join(path, &e.key), unknown_key(&e.key, allowed));
            }
        }
        Some(Tbl {
            pos: node.pos,
            path: path.to_string(),
            entries,
        })
    }

    fn require<'n>(&mut self, t: &Tbl<'n>, key: &str, expected: &str) -> Option<&'n Entry> {
        let e = t.get(key);
        if e.is_none() {
            self.err(
                t.pos,
                &t.field(key),
                format!("missing required field \"{key}\" (expected {expected})"),
            );
        }
        e
    }

    fn as_str<'n>(&mut self, e: &'n Entry, field: &str, expected: &str) -> Option<Sp<&'n str>> {
        match &e.node.val {
            Val::Str(s) => Some(Sp {
                v: s.as_str(),
                pos: e.node.pos,
            }),
            other => {
                self.err(
                    e.node.pos,
                    field,
                    format!("expected {expected}, found {}", other.type_name()),
                );
                None
            }
        }
    }

    fn req_str<'n>(&mut self, t: &Tbl<'n>, key: &str, expected: &str) -> Option<Sp<&'n str>> {
        let e = self.require(t, key, expected)?;
        self.as_str(e, &t.field(key), expected)
    }

    fn opt_str<'n>(&mut self, t: &Tbl<'n>, key: &str, expected: &str) -> Option<Sp<&'n str>> {
        let e = t.get(key)?;
        self.as_str(e, &t.field(key), expected)
    }

    /// The elements of an array (inline, or an array of tables).
    fn as_array<'n>(&mut self, node: &'n Node, field: &str, expected: &str) -> Option<&'n [Node]> {
        match &node.val {
            Val::Array(items) => Some(items),
            other => {
                self.err(
                    node.pos,
                    field,
                    format!("expected {expected}, found {}", other.type_name()),
                );
                None
            }
        }
    }

    /// A top-level `[[kind]]` section: its tables with their field paths.
    fn section<'n>(&mut self, root: &Tbl<'n>, key: &str) -> Vec<(String, &'n Node)> {
        let Some(e) = root.get(key) else {
            return Vec::new();
        };
        let expected = format!("an array of tables ([[{key}]])");
        let Some(items) = self.as_array(&e.node, key, &expected) else {
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("{key}[{i}]"), n))
            .collect()
    }

    /// A resource id: a non-empty string without whitespace. Registered in
    /// the shared namespace unless it is a duplicate.
    fn id(
        &mut self,
        t: &Tbl<'_>,
        kind: Kind,
        index: usize,
        ids: &mut HashMap<String, IdInfo>,
    ) -> String {
        let field = t.field("id");
        let Some(id) = self.req_str(t, "id", "a string id such as \"vpc-a\"") else {
            return String::new();
        };
        if id.v.is_empty() || id.v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.err(
                id.pos,
                &field,
                format!(
                    "invalid id {:?} (expected a non-empty string without spaces, such as \"{}-a\")",
                    id.v,
                    match kind {
                        Kind::Vpc => "vpc",
                        Kind::Subnet => "subnet",
                        Kind::SecurityGroup => "sg",
                        Kind::Eni => "eni",
                    }
                ),
            );
            return String::new();
        }
        if let Some(prev) = ids.get(id.v) {
            let msg = format!(
                "duplicate id \"{}\": already used by {} at line {} (ids are shared by all resource kinds)",
                id.v,
                prev.path,
                self.line_of(prev.pos)
            );
            self.err(id.pos, &field, msg);
        } else {
            ids.insert(
                id.v.to_string(),
                IdInfo {
                    kind,
                    index,
                    path: t.path.clone(),
                    pos: id.pos,
                },
            );
        }
        id.v.to_string()
    }

    /// Resolves a reference to a resource of kind `want`.
    fn resolve(
        &mut self,
        r: Sp<&str>,
        want: Kind,
        field: &str,
        ids: &HashMap<String, IdInfo>,
        defined: &[&str],
    ) -> Option<usize> {
        match ids.get(r.v) {
            Some(info) if info.kind == want => Some(info.index),
            Some(info) => {
                self.err(
                    r.pos,
                    field,
                    format!(
                        "\"{}\" is {} {} ({}), not {} {}",
                        r.v,
                        info.kind.an(),
                        info.kind.name(),
                        info.path,
                        want.an(),
                        want.name()
                    ),
                );
                None
            }
            None => {
                let known = if defined.is_empty() {
                    format!("no {} are defined", want.plural())
                } else {
                    format!("defined: {}", defined.join(", "))
                };
                self.err(
                    r.pos,
                    field,
                    format!("unknown {} \"{}\" ({known})", want.name(), r.v),
                );
                None
            }
        }
    }

    // -- sections ------------------------------------------------------------

    fn topology(&mut self, root: &Node) -> Topology {
        let empty = Topology {
            lab: LabSettings {
                name: String::new(),
                hook: Hook::Tc,
                mtu: 1500,
            },
            vpcs: Vec::new(),
            subnets: Vec::new(),
            security_groups: Vec::new(),
            enis: Vec::new(),
        };
        let Some(root) = self.table(root, "", "a table", ROOT_KEYS) else {
            return empty;
        };
        let lab = self.lab(&root);
        let mut ids: HashMap<String, IdInfo> = HashMap::new();

        // Pass 1: every resource's own fields; ids registered.
        let mut vpcs = Vec::new();
        for (i, (path, node)) in self.section(&root, "vpc").into_iter().enumerate() {
            vpcs.push(self.vpc(node, &path, i, &mut ids));
        }
        let mut subnets = Vec::new();
        for (i, (path, node)) in self.section(&root, "subnet").into_iter().enumerate() {
            subnets.push(self.subnet(node, path, i, &mut ids));
        }
        let mut sgs = Vec::new();
        for (i, (path, node)) in self
            .section(&root, "security_group")
            .into_iter()
            .enumerate()
        {
            sgs.push(self.security_group(node, path, i, &mut ids));
        }
        let mut enis = Vec::new();
        for (i, (path, node)) in self.section(&root, "eni").into_iter().enumerate() {
            enis.push(self.eni(node, path, i, &mut ids));
        }

        // Pass 2: references and cross-resource rules.
        let (subnets, subnet_vpcs) = self.resolve_subnets(&vpcs, subnets, &ids);
        let (security_groups, sg_vpcs) = self.resolve_security_groups(&vpcs, sgs, &ids);
        let enis = self.resolve_enis(
            &vpcs,
            (&subnets, &subnet_vpcs),
            (&security_groups, &sg_vpcs),
            enis,
            &ids,
        );

        Topology {
            lab,
            vpcs,
            subnets,
            security_groups,
            enis,
        }
    }

    fn lab(&mut self, root: &Tbl<'_>) -> LabSettings {
        let mut lab = LabSettings {
            name: String::new(),
            hook: Hook::Tc,
            mtu: 1500,
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
                        "xdp" => lab.hook = Hook::Xdp,
                        other => self.err(
                            hook.pos,
                            "lab.hook",
                            format!("unknown hook {other:?} (expected \"tc\" or \"xdp\")"),
                        ),
                    }
                }
                if let Some(e) = t.get("mtu") {
                    match e.node.val {
                        Val::Int(mtu) if MTU_RANGE.contains(&mtu) => lab.mtu = mtu as u32,
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

    fn vpc(
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
    fn network(&mut self, t: &Tbl<'_>, key: &str) -> Option<Sp<Ipv4Net>> {
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

    fn subnet<'n>(
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
        };
        let Some(t) = self.table(node, &s.path, "a table", SUBNET_KEYS) else {
            return s;
        };
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

    fn security_group<'n>(
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

    fn rules<'n>(&mut self, node: &'n Node, path: &str) -> Vec<RuleIn<'n>> {
        let Some(items) = self.as_array(node, path, "an array of rule tables") else {
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .map(|(i, n)| self.rule(n, format!("{path}[{i}]")))
            .collect()
    }

    fn rule<'n>(&mut self, node: &'n Node, path: String) -> RuleIn<'n> {
        let mut r = RuleIn {
            path,
            protocol: None,
            ports: (0, 65535),
            peer: None,
        };
        let Some(t) = self.table(node, &r.path, "a rule table", RULE_KEYS) else {
            return r;
        };
        const PROTOCOLS: &str = "\"tcp\", \"udp\", \"icmp\" or \"all\"";
        if let Some(p) = self.req_str(&t, "protocol", PROTOCOLS) {
            r.protocol = match p.v {
                "tcp" => Some(Protocol::Tcp),
                "udp" => Some(Protocol::Udp),
                "icmp" => Some(Protocol::Icmp),
                "all" => Some(Protocol::All),
                other => {
                    self.err(
                        p.pos,
                        &t.field("protocol"),
                        format!("unknown protocol {other:?} (expected {PROTOCOLS})"),
                    );
                    None
                }
            };
        }
        if let Some(e) = t.get("ports") {
            let field = t.field("ports");
            match parse_ports(&e.node.val) {
                Ok(ports) => r.ports = ports,
                Err(msg) => self.err(e.node.pos, &field, msg),
            }
            if let Some(p @ (Protocol::Icmp | Protocol::All)) = r.protocol {
                let name = if p == Protocol::Icmp { "icmp" } else { "all" };
                self.err(
                    e.node.pos,
                    &field,
                    format!(
                        "ports are not allowed for protocol \"{name}\" (a rule for \"{name}\" \
                         covers every port; remove ports or use \"tcp\" or \"udp\")"
                    ),
                );
            }
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

    fn eni<'n>(
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
        };
        let Some(t) = self.table(node, &eni.path, "a table", ENI_KEYS) else {
            return eni;
        };
        eni.id = self.id(&t, Kind::Eni, index, ids);
        eni.subnet = self.req_str(&t, "subnet", "the id of a [[subnet]]");
        if let Some(ip) = self.req_str(&t, "ip", "an IPv4 address such as \"10.0.1.10\"") {
            match ip.v.parse::<Ipv4Addr>() {
                Ok(addr) => {
                    eni.ip = Some(Sp {
                        v: addr,
                        pos: ip.pos,
                    })
                }
                Err(_) => self.err(
                    ip.pos,
                    &t.field("ip"),
                    format!(
                        "invalid IPv4 address {:?} (expected an address without prefix, such as \"10.0.1.10\")",
                        ip.v
                    ),
                ),
            }
        }
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

    // -- pass 2 --------------------------------------------------------------

    fn resolve_subnets(
        &mut self,
        vpcs: &[Vpc],
        subnets: Vec<SubnetIn<'_>>,
        ids: &HashMap<String, IdInfo>,
    ) -> (Vec<Subnet>, Vec<Option<usize>>) {
        let defined = defined(
            ids,
            Kind::Vpc,
            &vpcs.iter().map(|v| &v.id).collect::<Vec<_>>(),
        );
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
            });
            out_vpcs.push(vpc);
        }
        (out, out_vpcs)
    }

    fn resolve_security_groups(
        &mut self,
        vpcs: &[Vpc],
        sgs: Vec<SgIn<'_>>,
        ids: &HashMap<String, IdInfo>,
    ) -> (Vec<SecurityGroup>, Vec<Option<usize>>) {
        let vpc_ids = defined(
            ids,
            Kind::Vpc,
            &vpcs.iter().map(|v| &v.id).collect::<Vec<_>>(),
        );
        let sg_ids = defined(
            ids,
            Kind::SecurityGroup,
            &sgs.iter().map(|s| &s.id).collect::<Vec<_>>(),
        );
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
                            .peer(r, i, sgs.as_slice(), &sg_vpcs, vpcs, ids, &sg_ids)
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
    /// as the rule's group.
    #[allow(clippy::too_many_arguments)]
    fn peer(
        &mut self,
        r: &RuleIn<'_>,
        sg: usize,
        sgs: &[SgIn<'_>],
        sg_vpcs: &[Option<usize>],
        vpcs: &[Vpc],
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
            if mine != theirs {
                self.err(
                    peer.pos,
                    &field,
                    format!(
                        "security group \"{name}\" is in {}, but {} is in {} \
                         (a rule can only reference groups of its own VPC; use a CIDR instead)",
                        vpcs[theirs].id, sgs[sg].id, vpcs[mine].id
                    ),
                );
                return None;
            }
        }
        Some(Peer::SecurityGroup(target))
    }

    fn resolve_enis(
        &mut self,
        vpcs: &[Vpc],
        (subnets, subnet_vpcs): (&[Subnet], &[Option<usize>]),
        (sgs, sg_vpcs): (&[SecurityGroup], &[Option<usize>]),
        enis: Vec<EniIn<'_>>,
        ids: &HashMap<String, IdInfo>,
    ) -> Vec<Eni> {
        let subnet_ids = defined(
            ids,
            Kind::Subnet,
            &subnets.iter().map(|s| &s.id).collect::<Vec<_>>(),
        );
        let sg_ids = defined(
            ids,
            Kind::SecurityGroup,
            &sgs.iter().map(|s| &s.id).collect::<Vec<_>>(),
        );
        // (vpc, ip) -> ENI index; mac -> (ENI index, explicit?)
        let mut ips: HashMap<(usize, Ipv4Addr), usize> = HashMap::new();
        let mut macs: HashMap<[u8; 6], (usize, bool)> = HashMap::new();
        let mut out: Vec<Eni> = Vec::new();
        for (i, e) in enis.into_iter().enumerate() {
            let subnet = e.subnet.and_then(|r| {
                self.resolve(r, Kind::Subnet, &join(&e.path, "subnet"), ids, &subnet_ids)
            });
            // A subnet with an invalid CIDR has a default one and an error already.
            let subnet_ok = subnet.filter(|&s| subnets[s].cidr.prefix_len() != 0);
            let vpc = subnet.and_then(|s| subnet_vpcs[s]);
            let ip_field = join(&e.path, "ip");
            let mut ip_ok = false;
            if let (Some(s), Some(ip)) = (subnet_ok, e.ip) {
                let sn = &subnets[s];
                if !sn.cidr.contains(&ip.v) {
                    self.err(
                        ip.pos,
                        &ip_field,
                        format!("{} is outside subnet {} ({})", ip.v, sn.id, sn.cidr),
                    );
                } else if let Some(what) = reserved(sn.cidr, ip.v) {
                    let first = Ipv4Addr::from(u32::from(sn.cidr.network()) + 4);
                    let last = Ipv4Addr::from(u32::from(sn.cidr.broadcast()) - 1);
                    self.err(
                        ip.pos,
                        &ip_field,
                        format!(
                            "{} is {what} of subnet {} ({}); usable addresses are {first} to {last} \
                             (AWS reserves the first four and the last)",
                            ip.v, sn.id, sn.cidr
                        ),
                    );
                } else {
                    ip_ok = true;
                }
            }
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
                }
            }
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
                    if let (Some(v), Some(s), Some(gv)) = (vpc, subnet, sg_vpcs[g]) {
                        if gv != v {
                            self.err(
                                r.pos,
                                &f,
                                format!(
                                    "security group \"{}\" is in {}, but this ENI's subnet {} is in {}",
                                    r.v, vpcs[gv].id, subnets[s].id, vpcs[v].id
                                ),
                            );
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
            });
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Value parsers and small helpers

const LAB_NAME_RULE: &str = "expected 1 to 12 characters from a-z, 0-9 and '-', starting \
                             with a letter or digit; it prefixes the lab's namespace names";
const HOST_NAME_RULE: &str =
    "expected 1 to 15 characters from a-z, 0-9 and '-', starting with a letter or digit";

/// `^[a-z0-9][a-z0-9-]{0,max-1}$`
fn valid_name(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(src.len());
    while !src.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &src[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn unknown_key(key: &str, allowed: &[&str]) -> String {
    let mut msg = format!("unknown field \"{key}\" (allowed: {}", allowed.join(", "));
    let best = allowed
        .iter()
        .map(|a| (levenshtein(key, a), *a))
        .min_by_key(|(d, _)| *d);
    if let Some((d, a)) = best {
        if d <= (key.len().max(a.len()) / 3).max(1) {
            msg.push_str(&format!("; did you mean \"{a}\"?"));
        }
    }
    msg.push(')');
    msg
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Ids of one kind in file order, for "defined: ..." hints.
fn defined<'a>(ids: &HashMap<String, IdInfo>, kind: Kind, names: &[&'a String]) -> Vec<&'a str> {
    names
        .iter()
        .enumerate()
        .filter(|(i, n)| {
            ids.get(n.as_str())
                .is_some_and(|info| info.kind == kind && info.index == *i)
        })
        .map(|(_, n)| n.as_str())
        .collect()
}

fn out_id(subnets: &[Subnet], i: usize) -> &str {
    subnets.get(i).map_or("", |s| s.id.as_str())
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A CIDR with a prefix length (or, if `bare_ok`, a bare address meaning
/// /32), host bits zero.
fn parse_cidr(s: &str, bare_ok: bool) -> Result<Ipv4Net, String> {
    if !s.contains('/') {
        if bare_ok {
            if let Ok(addr) = s.parse::<Ipv4Addr>() {
                return Ok(Ipv4Net::from(addr));
            }
        }
        if s.parse::<Ipv4Addr>().is_ok() {
            return Err(format!(
                "{s:?} has no prefix length (expected a CIDR such as \"10.0.0.0/16\")"
            ));
        }
    }
    let net: Ipv4Net = s.parse().map_err(|_| {
        format!("invalid CIDR {s:?} (expected an IPv4 network such as \"10.0.0.0/16\")")
    })?;
    if net.trunc() != net {
        return Err(format!(
            "{net} has host bits set (expected a network address: did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A rule peer: a CIDR, a bare address (/32) or a security group id.
fn parse_peer(s: &str) -> Result<PeerIn<'_>, String> {
    let looks_numeric = s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '/');
    if s.contains('/') {
        parse_cidr(s, true).map(PeerIn::Cidr)
    } else if looks_numeric {
        match s.parse::<Ipv4Addr>() {
            Ok(addr) => Ok(PeerIn::Cidr(Ipv4Net::from(addr))),
            Err(_) => Err(format!(
                "invalid IPv4 address {s:?} (expected an address such as \"10.0.1.5\", \
                 a CIDR such as \"10.0.0.0/16\" or a security group id)"
            )),
        }
    } else if s.is_empty() {
        Err(
            "empty peer (expected an IPv4 CIDR such as \"10.0.0.0/16\" or a security group id)"
                .to_string(),
        )
    } else {
        Ok(PeerIn::Group(s))
    }
}

/// `80`, `"80"` or `"8000-8100"`.
fn parse_ports(v: &Val) -> Result<(u16, u16), String> {
    const EXPECTED: &str = "expected a port such as 80 or \"80\", or a range such as \"8000-8100\"";
    let port = |n: i64| -> Result<u16, String> {
        u16::try_from(n).map_err(|_| format!("port {n} is out of range (expected 0 to 65535)"))
    };
    match v {
        Val::Int(n) => port(*n).map(|p| (p, p)),
        Val::Str(s) => {
            let num = |t: &str| -> Result<u16, String> {
                let t = t.trim();
                if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("invalid port range {s:?} ({EXPECTED})"));
                }
                match t.parse::<i64>() {
                    Ok(n) => port(n),
                    Err(_) => Err(format!("port {t} is out of range (expected 0 to 65535)")),
                }
            };
            let (lo, hi) = match s.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None => {
                    let p = num(s)?;
                    (p, p)
                }
            };
            if lo > hi {
                return Err(format!(
                    "port range {s:?} is reversed (expected low-high with low <= high, e.g. \"{hi}-{lo}\")"
                ));
            }
            Ok((lo, hi))
        }
        other => Err(format!("{EXPECTED}, found {}", other.type_name())),
    }
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bad = || {
        format!("invalid MAC address {s:?} (expected six hex octets such as \"02:00:00:00:00:01\")")
    };
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if mac[0] & 1 != 0 {
        return Err(format!(
            "MAC {s} is a multicast address (the first octet's lowest bit is set); \
             an ENI needs a unicast MAC such as \"02:00:00:00:00:01\""
        ));
    }
    if mac == [0; 6] {
        return Err(format!(
            "MAC {s} is all zeros (expected a unicast MAC such as \"02:00:00:00:00:01\")"
        ));
    }
    Ok(mac)
}

/// Why AWS would refuse `ip` in `net`, if it would.
fn reserved(net: Ipv4Net, ip: Ipv4Addr) -> Option<&'static str> {
    let off = u32::from(ip) - u32::from(net.network());
    if ip == net.broadcast() {
        return Some("the broadcast address");
    }
    match off {
        0 => Some("the network address"),
        1 => Some("reserved for the VPC router (the gateway)"),
        2 => Some("reserved for the Amazon DNS server"),
        3 => Some("reserved by AWS for future use"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    /// The rendered diagnostics for `src` read as `t.toml`.
    fn diags(src: &str) -> Vec<String> {
        match parse_str(src, "t.toml") {
            Ok(t) => panic!("expected errors, got {t:#?}"),
            Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// A valid base: a VPC, a subnet, a group and an ENI (20 lines). Tests
    /// append to it, so their errors are on line 21 and below.
    const BASE: &str = r#"[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-a"
vpc = "vpc-a"

[[eni]]
id = "eni-a"
subnet = "subnet-a1"
ip = "10.0.1.10"
security_groups = ["sg-a"]
host = "a"
"#;

    fn with_base(extra: &str) -> String {
        format!("{BASE}{extra}")
    }

    #[test]
    fn base_is_valid() {
        let t = parse_str(BASE, "t.toml").unwrap();
        assert_eq!(t.lab.name, "t");
        assert_eq!(BASE.lines().count(), 20);
    }

    #[test]
    fn valid_config_gives_the_exact_topology() {
        let src = r#"
[lab]
name = "lab1"
hook = "xdp"
mtu = 9000

[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

[[vpc]]
id = "vpc-b"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-b1"
vpc = "vpc-b"
cidr = "10.0.1.0/28"
az = "use1-az2"

[[security_group]]
id = "sg-web"
vpc = "vpc-a"
ingress = [
  { protocol = "tcp", ports = "80", peer = "sg-client" },
  { protocol = "udp", ports = "8000-8100", peer = "10.0.1.5" },
  { protocol = "tcp", ports = 443, peer = "192.168.0.0/16" },
  { protocol = "tcp", peer = "10.0.0.0/8" },
  { protocol = "icmp", peer = "10.0.0.0/16" },
]
egress = []

[[security_group]]
id = "sg-client"
vpc = "vpc-a"

[[security_group]]
id = "sg-b"
vpc = "vpc-b"
egress = [{ protocol = "all", peer = "sg-b" }]

[[security_group.ingress]]
protocol = "all"
peer = "0.0.0.0/0"

[[eni]]
id = "eni-web"
subnet = "subnet-a1"
ip = "10.0.1.20"
security_groups = ["sg-web", "sg-client"]
host = "web"

[[eni]]
id = "eni-web2"
subnet = "subnet-a1"
ip = "10.0.1.21"
mac = "02:AB:cd:00:00:01"
security_groups = ["sg-web"]
host = "web"

[[eni]]
id = "eni-b"
subnet = "subnet-b1"
ip = "10.0.1.14"
security_groups = ["sg-b"]
host = "b-1"
"#;
        let t = parse_str(src, "whatever.toml").unwrap();
        let all = Rule {
            protocol: Protocol::All,
            ports: (0, 65535),
            peer: Peer::Cidr(net("0.0.0.0/0")),
        };
        let expected = Topology {
            lab: LabSettings {
                name: "lab1".into(),
                hook: Hook::Xdp,
                mtu: 9000,
            },
            vpcs: vec![
                Vpc {
                    id: "vpc-a".into(),
                    cidr: net("10.0.0.0/16"),
                },
                Vpc {
                    id: "vpc-b".into(),
                    cidr: net("10.0.0.0/16"),
                },
            ],
            subnets: vec![
                Subnet {
                    id: "subnet-a1".into(),
                    vpc: 0,
                    cidr: net("10.0.1.0/24"),
                    az: "use1-az1".into(),
                },
                Subnet {
                    id: "subnet-b1".into(),
                    vpc: 1,
                    cidr: net("10.0.1.0/28"),
                    az: "use1-az2".into(),
                },
            ],
            security_groups: vec![
                SecurityGroup {
                    id: "sg-web".into(),
                    vpc: 0,
                    ingress: vec![
                        Rule {
                            protocol: Protocol::Tcp,
                            ports: (80, 80),
                            peer: Peer::SecurityGroup(1),
                        },
                        Rule {
                            protocol: Protocol::Udp,
                            ports: (8000, 8100),
                            peer: Peer::Cidr(net("10.0.1.5/32")),
                        },
                        Rule {
                            protocol: Protocol::Tcp,
                            ports: (443, 443),
                            peer: Peer::Cidr(net("192.168.0.0/16")),
                        },
                        Rule {
                            protocol: Protocol::Tcp,
                            ports: (0, 65535),
                            peer: Peer::Cidr(net("10.0.0.0/8")),
                        },
                        Rule {
                            protocol: Protocol::Icmp,
                            ports: (0, 65535),
                            peer: Peer::Cidr(net("10.0.0.0/16")),
                        },
                    ],
                    egress: vec![],
                },
                SecurityGroup {
                    id: "sg-client".into(),
                    vpc: 0,
                    ingress: vec![],
                    egress: vec![all.clone()],
                },
                SecurityGroup {
                    id: "sg-b".into(),
                    vpc: 1,
                    ingress: vec![all.clone()],
                    egress: vec![Rule {
                        protocol: Protocol::All,
                        ports: (0, 65535),
                        peer: Peer::SecurityGroup(2),
                    }],
                },
            ],
            enis: vec![
                Eni {
                    id: "eni-web".into(),
                    subnet: 0,
                    ip: Ipv4Addr::new(10, 0, 1, 20),
                    mac: [0x02, 0x01, 10, 0, 1, 20],
                    security_groups: vec![0, 1],
                    host: "web".into(),
                },
                Eni {
                    id: "eni-web2".into(),
                    subnet: 0,
                    ip: Ipv4Addr::new(10, 0, 1, 21),
                    mac: [0x02, 0xab, 0xcd, 0, 0, 1],
                    security_groups: vec![0],
                    host: "web".into(),
                },
                Eni {
                    id: "eni-b".into(),
                    subnet: 1,
                    ip: Ipv4Addr::new(10, 0, 1, 14),
                    mac: [0x02, 0x02, 10, 0, 1, 14],
                    security_groups: vec![2],
                    host: "b-1".into(),
                },
            ],
        };
        assert_eq!(t, expected);
        assert_eq!(t.enis[0].mac, model::default_mac(0, t.enis[0].ip));
    }

    #[test]
    fn lab_defaults_come_from_the_file_stem() {
        let t = parse_str("", "/some/dir/my-lab.toml").unwrap();
        assert_eq!(
            t.lab,
            LabSettings {
                name: "my-lab".into(),
                hook: Hook::Tc,
                mtu: 1500,
            }
        );
        assert!(t.vpcs.is_empty() && t.enis.is_empty());
    }

    #[test]
    fn default_config_is_the_demo() {
        let t = parse_str(DEFAULT_CONFIG, "default.toml").unwrap();
        assert_eq!(t.lab.name, "demo");
        assert_eq!(t.lab.hook, Hook::Tc);
        let ids = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            t.enis.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            ids(vec!["eni-client", "eni-web", "eni-db", "eni-other"])
        );
        let client = t.eni_by_id("eni-client").unwrap();
        let other = t.eni_by_id("eni-other").unwrap();
        assert_eq!(t.enis[client].ip, t.enis[other].ip);
        assert_ne!(t.eni_vpc(client), t.eni_vpc(other));
        assert_eq!(t.vpcs[0].cidr, t.vpcs[1].cidr);
        let sg = |id: &str| t.security_groups.iter().position(|g| g.id == id).unwrap();
        assert_eq!(
            t.security_groups[sg("sg-db")].ingress,
            vec![Rule {
                protocol: Protocol::Tcp,
                ports: (5432, 5432),
                peer: Peer::SecurityGroup(sg("sg-web")),
            }]
        );
        assert_eq!(
            t.security_groups[sg("sg-web")].ingress,
            vec![
                Rule {
                    protocol: Protocol::Tcp,
                    ports: (80, 80),
                    peer: Peer::SecurityGroup(sg("sg-client")),
                },
                Rule {
                    protocol: Protocol::Icmp,
                    ports: (0, 65535),
                    peer: Peer::Cidr(net("10.0.0.0/16")),
                },
            ]
        );
        assert!(t.security_groups[sg("sg-client")].ingress.is_empty());
        assert_eq!(
            t.hosts().into_iter().map(|(h, _)| h).collect::<Vec<_>>(),
            ids(vec!["client", "web", "db", "other"])
        );
    }

    #[test]
    fn every_file_in_configs_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                if let Err(d) = load(&path) {
                    panic!("{d}");
                }
                n += 1;
            }
        }
        assert!(n >= 2, "only {n} configs in {}", dir.display());
        let t = load(&dir.join("two-vpcs-same-cidr.toml")).unwrap();
        assert_eq!(t.lab.name, "overlap");
    }

    #[test]
    fn one_host_may_have_two_enis_in_a_subnet() {
        let t = parse_str(
            &with_base(
                r#"
[[eni]]
id = "eni-a2"
subnet = "subnet-a1"
ip = "10.0.1.11"
security_groups = ["sg-a"]
host = "a"
"#,
            ),
            "t.toml",
        )
        .unwrap();
        assert_eq!(t.hosts(), vec![("a".to_string(), vec![0, 1])]);
    }

    #[test]
    fn unreadable_file() {
        let d = load(Path::new("/nonexistent/x.toml")).unwrap_err();
        assert_eq!(d.0.len(), 1);
        assert!(d
            .to_string()
            .starts_with("/nonexistent/x.toml:1:1: cannot read the config file: "));
    }

    #[test]
    fn syntax_error() {
        assert_eq!(
            diags("[[vpc]]\nid = \"vpc-a\"\ncidr = 10.0.0.0/16\n"),
            ["t.toml:3:12: TOML syntax error: expected newline, `#`",]
        );
    }

    #[test]
    fn duplicate_key_is_a_syntax_error() {
        assert_eq!(
            diags("[[vpc]]\nid = \"vpc-a\"\nid = \"vpc-b\"\n"),
            ["t.toml:3:1: TOML syntax error: duplicate key `id` in table `vpc`",]
        );
    }

    #[test]
    fn unknown_fields() {
        assert_eq!(
            diags(&with_base(
                "adress = \"x\"\nsecuritygroups = []\n\n[[vpcs]]\nid = \"v\"\n"
            )),
            [
                "t.toml:21:1: eni[0].adress: unknown field \"adress\" (allowed: id, subnet, ip, mac, security_groups, host)",
                "t.toml:22:1: eni[0].securitygroups: unknown field \"securitygroups\" (allowed: id, subnet, ip, mac, security_groups, host; did you mean \"security_groups\"?)",
                "t.toml:24:3: vpcs: unknown field \"vpcs\" (allowed: lab, vpc, subnet, security_group, eni; did you mean \"vpc\"?)",
            ]
        );
    }

    #[test]
    fn missing_fields() {
        assert_eq!(
            diags(&with_base("\n[[vpc]]\n\n[[security_group]]\nid = \"sg-b\"\ningress = [{ protocol = \"tcp\" }]\n")),
            [
                "t.toml:22:1: vpc[1].id: missing required field \"id\" (expected a string id such as \"vpc-a\")",
                "t.toml:22:1: vpc[1].cidr: missing required field \"cidr\" (expected an IPv4 CIDR such as \"10.0.0.0/16\")",
                "t.toml:24:1: security_group[1].vpc: missing required field \"vpc\" (expected the id of a [[vpc]])",
                "t.toml:26:12: security_group[1].ingress[0].peer: missing required field \"peer\" (expected an IPv4 CIDR such as \"10.0.0.0/16\" or a security group id)",
            ]
        );
    }

    #[test]
    fn wrong_types() {
        assert_eq!(
            diags(&with_base(
                "\n[lab]\nmtu = \"1500\"\n\n[[vpc]]\nid = 7\ncidr = [\"10.1.0.0/16\"]\n"
            )),
            [
                "t.toml:23:7: lab.mtu: expected an integer MTU such as 1500, found a string",
                "t.toml:26:6: vpc[1].id: expected a string id such as \"vpc-a\", found an integer",
                "t.toml:27:8: vpc[1].cidr: expected an IPv4 CIDR such as \"10.0.0.0/16\", found an array",
            ]
        );
    }

    #[test]
    fn section_must_be_an_array_of_tables() {
        assert_eq!(
            diags("lab = 1\n[vpc]\nid = \"vpc-a\"\n"),
            [
                "t.toml:1:7: lab: expected a table ([lab]), found an integer",
                "t.toml:2:1: vpc: expected an array of tables ([[vpc]]), found a table",
            ]
        );
    }

    #[test]
    fn duplicate_ids_across_kinds() {
        assert_eq!(
            diags(&with_base(
                "\n[[security_group]]\nid = \"vpc-a\"\nvpc = \"vpc-a\"\n\n[[eni]]\nid = \"eni-a\"\nsubnet = \"subnet-a1\"\nip = \"10.0.1.11\"\nsecurity_groups = [\"sg-a\"]\nhost = \"a\"\n"
            )),
            [
                "t.toml:23:6: security_group[1].id: duplicate id \"vpc-a\": already used by vpc[0] at line 2 (ids are shared by all resource kinds)",
                "t.toml:27:6: eni[1].id: duplicate id \"eni-a\": already used by eni[0] at line 16 (ids are shared by all resource kinds)",
            ]
        );
    }

    #[test]
    fn dangling_references() {
        let src = r#"[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-x"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-a2"
vpc = "subnet-a1"
cidr = "10.0.2.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-web"
vpc = "vpc-a"
ingress = [{ protocol = "tcp", ports = 80, peer = "sg-client" }]

[[security_group]]
id = "sg-db"
vpc = "vpc-b"

[[eni]]
id = "eni-a"
subnet = "subnet-zz"
ip = "10.0.1.10"
security_groups = ["sg-x", "eni-a"]
host = "a"
"#;
        assert_eq!(diags(src), [
                "t.toml:7:7: subnet[0].vpc: unknown VPC \"vpc-x\" (defined: vpc-a)",
                "t.toml:13:7: subnet[1].vpc: \"subnet-a1\" is a subnet (subnet[0]), not a VPC",
                "t.toml:20:51: security_group[0].ingress[0].peer: unknown security group \"sg-client\" (defined: sg-web, sg-db)",
                "t.toml:24:7: security_group[1].vpc: unknown VPC \"vpc-b\" (defined: vpc-a)",
                "t.toml:28:10: eni[0].subnet: unknown subnet \"subnet-zz\" (defined: subnet-a1, subnet-a2)",
                "t.toml:30:20: eni[0].security_groups[0]: unknown security group \"sg-x\" (defined: sg-web, sg-db)",
                "t.toml:30:28: eni[0].security_groups[1]: \"eni-a\" is an ENI (eni[0]), not a security group",
            ]);
    }

    #[test]
    fn addresses_in_subnets() {
        let extra = r#"
[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.1.0.5"
security_groups = ["sg-a"]
host = "b"

[[eni]]
id = "eni-c"
subnet = "subnet-a1"
ip = "10.0.1.1"
security_groups = ["sg-a"]
host = "c"

[[eni]]
id = "eni-d"
subnet = "subnet-a1"
ip = "10.0.1.255"
security_groups = ["sg-a"]
host = "d"

[[eni]]
id = "eni-e"
subnet = "subnet-a1"
ip = "10.0.1.10"
security_groups = ["sg-a"]
host = "e"

[[eni]]
id = "eni-f"
subnet = "subnet-a1"
ip = "10.0.1.300"
security_groups = ["sg-a"]
host = "f"
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:25:6: eni[1].ip: 10.1.0.5 is outside subnet subnet-a1 (10.0.1.0/24)",
                "t.toml:32:6: eni[2].ip: 10.0.1.1 is reserved for the VPC router (the gateway) of subnet subnet-a1 (10.0.1.0/24); usable addresses are 10.0.1.4 to 10.0.1.254 (AWS reserves the first four and the last)",
                "t.toml:39:6: eni[3].ip: 10.0.1.255 is the broadcast address of subnet subnet-a1 (10.0.1.0/24); usable addresses are 10.0.1.4 to 10.0.1.254 (AWS reserves the first four and the last)",
                "t.toml:46:6: eni[4].ip: 10.0.1.10 is already used by eni-a (eni[0]) in vpc-a",
                "t.toml:53:6: eni[5].ip: invalid IPv4 address \"10.0.1.300\" (expected an address without prefix, such as \"10.0.1.10\")",
            ]);
    }

    #[test]
    fn bad_cidrs() {
        let src = r#"[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0"

[[vpc]]
id = "vpc-b"
cidr = "10.0.1.0/16"

[[vpc]]
id = "vpc-c"
cidr = "10.0.0.0/8"

[[vpc]]
id = "vpc-d"
cidr = "10.0.0/16"

[[security_group]]
id = "sg-a"
vpc = "vpc-c"
ingress = [
  { protocol = "all", peer = "10.0.1.5/24" },
  { protocol = "all", peer = "10.0.1.5/33" },
  { protocol = "all", peer = "10.0.1" },
]
"#;
        assert_eq!(diags(src), [
                "t.toml:3:8: vpc[0].cidr: \"10.0.0.0\" has no prefix length (expected a CIDR such as \"10.0.0.0/16\")",
                "t.toml:7:8: vpc[1].cidr: 10.0.1.0/16 has host bits set (expected a network address: did you mean 10.0.0.0/16?)",
                "t.toml:11:8: vpc[2].cidr: prefix /8 of 10.0.0.0/8 is out of range (expected /16 to /28, as in AWS)",
                "t.toml:15:8: vpc[3].cidr: invalid CIDR \"10.0.0/16\" (expected an IPv4 network such as \"10.0.0.0/16\")",
                "t.toml:21:30: security_group[0].ingress[0].peer: 10.0.1.5/24 has host bits set (expected a network address: did you mean 10.0.1.0/24?)",
                "t.toml:22:30: security_group[0].ingress[1].peer: invalid CIDR \"10.0.1.5/33\" (expected an IPv4 network such as \"10.0.0.0/16\")",
                "t.toml:23:30: security_group[0].ingress[2].peer: invalid IPv4 address \"10.0.1\" (expected an address such as \"10.0.1.5\", a CIDR such as \"10.0.0.0/16\" or a security group id)",
            ]);
    }

    #[test]
    fn subnets_inside_their_vpc_without_overlap() {
        let extra = r#"
[[subnet]]
id = "subnet-a2"
vpc = "vpc-a"
cidr = "10.1.0.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-a3"
vpc = "vpc-a"
cidr = "10.0.1.128/25"
az = "use1-az1"

[[subnet]]
id = "subnet-a4"
vpc = "vpc-a"
cidr = "10.0.0.0/16"
az = "use1-az1"
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:25:8: subnet[1].cidr: 10.1.0.0/24 is outside vpc-a (10.0.0.0/16)",
                "t.toml:31:8: subnet[2].cidr: 10.0.1.128/25 overlaps subnet[0] subnet-a1 (10.0.1.0/24) in vpc-a",
                "t.toml:37:8: subnet[3].cidr: 10.0.0.0/16 overlaps subnet[0] subnet-a1 (10.0.1.0/24) in vpc-a",
            ]);
    }

    #[test]
    fn port_ranges() {
        let extra = r#"
[[security_group]]
id = "sg-b"
vpc = "vpc-a"
ingress = [
  { protocol = "tcp", ports = "9000-80", peer = "0.0.0.0/0" },
  { protocol = "tcp", ports = "80-70000", peer = "0.0.0.0/0" },
  { protocol = "udp", ports = 65536, peer = "0.0.0.0/0" },
  { protocol = "udp", ports = "http", peer = "0.0.0.0/0" },
  { protocol = "udp", ports = "1-2-3", peer = "0.0.0.0/0" },
  { protocol = "udp", ports = true, peer = "0.0.0.0/0" },
]
egress = [
  { protocol = "icmp", ports = "0", peer = "0.0.0.0/0" },
  { protocol = "all", ports = "1-100", peer = "0.0.0.0/0" },
  { protocol = "sctp", peer = "0.0.0.0/0" },
]
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:26:31: security_group[1].ingress[0].ports: port range \"9000-80\" is reversed (expected low-high with low <= high, e.g. \"80-9000\")",
                "t.toml:27:31: security_group[1].ingress[1].ports: port 70000 is out of range (expected 0 to 65535)",
                "t.toml:28:31: security_group[1].ingress[2].ports: port 65536 is out of range (expected 0 to 65535)",
                "t.toml:29:31: security_group[1].ingress[3].ports: invalid port range \"http\" (expected a port such as 80 or \"80\", or a range such as \"8000-8100\")",
                "t.toml:30:31: security_group[1].ingress[4].ports: invalid port range \"1-2-3\" (expected a port such as 80 or \"80\", or a range such as \"8000-8100\")",
                "t.toml:31:31: security_group[1].ingress[5].ports: expected a port such as 80 or \"80\", or a range such as \"8000-8100\", found a boolean",
                "t.toml:34:32: security_group[1].egress[0].ports: ports are not allowed for protocol \"icmp\" (a rule for \"icmp\" covers every port; remove ports or use \"tcp\" or \"udp\")",
                "t.toml:35:31: security_group[1].egress[1].ports: ports are not allowed for protocol \"all\" (a rule for \"all\" covers every port; remove ports or use \"tcp\" or \"udp\")",
                "t.toml:36:16: security_group[1].egress[2].protocol: unknown protocol \"sctp\" (expected \"tcp\", \"udp\", \"icmp\" or \"all\")",
            ]);
    }

    #[test]
    fn macs() {
        let extra = r#"mac = "02:00:00:00:00:01"

[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.0.1.11"
mac = "02:00:00:00:00:01"
security_groups = ["sg-a"]
host = "b"

[[eni]]
id = "eni-c"
subnet = "subnet-a1"
ip = "10.0.1.12"
mac = "01:00:5e:00:00:01"
security_groups = ["sg-a"]
host = "c"

[[eni]]
id = "eni-d"
subnet = "subnet-a1"
ip = "10.0.1.13"
mac = "02:00:00:00:01"
security_groups = ["sg-a"]
host = "d"

[[eni]]
id = "eni-e"
subnet = "subnet-a1"
ip = "10.0.1.14"
mac = "02:01:0a:00:01:0f"
security_groups = ["sg-a"]
host = "e"

[[eni]]
id = "eni-f"
subnet = "subnet-a1"
ip = "10.0.1.15"
security_groups = ["sg-a"]
host = "f"
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:27:7: eni[1].mac: MAC 02:00:00:00:00:01 is already the MAC of eni-a (eni[0])",
                "t.toml:35:7: eni[2].mac: MAC 01:00:5e:00:00:01 is a multicast address (the first octet's lowest bit is set); an ENI needs a unicast MAC such as \"02:00:00:00:00:01\"",
                "t.toml:43:7: eni[3].mac: invalid MAC address \"02:00:00:00:01\" (expected six hex octets such as \"02:00:00:00:00:01\")",
                "t.toml:55:1: eni[5].mac: the default MAC 02:01:0a:00:01:0f (from the VPC index and IP) is already the MAC of eni-e (eni[4]); set mac explicitly",
            ]);
    }

    #[test]
    fn lab_settings() {
        assert_eq!(
            diags("[lab]\nname = \"Demo_1\"\nhook = \"tcx\"\nmtu = 100\n"),
            [
                "t.toml:2:8: lab.name: invalid lab name \"Demo_1\" (expected 1 to 12 characters from a-z, 0-9 and '-', starting with a letter or digit; it prefixes the lab's namespace names)",
                "t.toml:3:8: lab.hook: unknown hook \"tcx\" (expected \"tc\" or \"xdp\")",
                "t.toml:4:7: lab.mtu: MTU 100 is out of range (expected 576 to 9000)",
            ]
        );
        assert_eq!(
            diags("[lab]\nname = 5\nhook = \"XDP\"\n"),
            [
                "t.toml:2:8: lab.name: expected a lab name such as \"demo\", found an integer",
                "t.toml:3:8: lab.hook: unknown hook \"XDP\" (expected \"tc\" or \"xdp\")",
            ]
        );
        assert_eq!(
            parse_str("[lab]\nmtu = 576\n", "lab-1.toml")
                .unwrap()
                .lab
                .mtu,
            576
        );
        let d = parse_str("", "a-very-long-lab-name.toml").unwrap_err();
        assert_eq!(
            d.to_string(),
            "a-very-long-lab-name.toml:1:1: lab.name: no lab name is set and the file name's \
             stem \"a-very-long-lab-name\" is not a valid one (expected 1 to 12 characters \
             from a-z, 0-9 and '-', starting with a letter or digit; it prefixes the lab's \
             namespace names); set name in [lab]"
        );
    }

    #[test]
    fn security_groups_of_another_vpc() {
        let extra = r#"
[[vpc]]
id = "vpc-b"
cidr = "10.0.0.0/16"

[[security_group]]
id = "sg-b"
vpc = "vpc-b"
ingress = [{ protocol = "tcp", ports = "22", peer = "sg-a" }]

[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.0.1.11"
security_groups = ["sg-a", "sg-b", "sg-a"]
host = "b"
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:29:53: security_group[1].ingress[0].peer: security group \"sg-a\" is in vpc-a, but sg-b is in vpc-b (a rule can only reference groups of its own VPC; use a CIDR instead)",
                "t.toml:35:28: eni[1].security_groups[1]: security group \"sg-b\" is in vpc-b, but this ENI's subnet subnet-a1 is in vpc-a",
                "t.toml:35:36: eni[1].security_groups[2]: security group \"sg-a\" is listed twice",
            ]);
    }

    #[test]
    fn security_group_count_and_hosts() {
        let extra = r#"
[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.0.1.11"
security_groups = []
host = "fabric"

[[eni]]
id = "eni-c"
subnet = "subnet-a1"
ip = "10.0.1.12"
security_groups = ["sg-a", "sg-a", "sg-a", "sg-a", "sg-a", "sg-a"]
host = "Host_C"
"#;
        assert_eq!(diags(&with_base(extra)), [
                "t.toml:26:19: eni[1].security_groups: an ENI needs 1 to 5 security groups, found 0",
                "t.toml:27:8: eni[1].host: host name \"fabric\" is reserved for the lab's fabric namespace",
                "t.toml:33:19: eni[2].security_groups: an ENI needs 1 to 5 security groups, found 6",
                "t.toml:33:28: eni[2].security_groups[1]: security group \"sg-a\" is listed twice",
                "t.toml:33:36: eni[2].security_groups[2]: security group \"sg-a\" is listed twice",
                "t.toml:33:44: eni[2].security_groups[3]: security group \"sg-a\" is listed twice",
                "t.toml:33:52: eni[2].security_groups[4]: security group \"sg-a\" is listed twice",
                "t.toml:33:60: eni[2].security_groups[5]: security group \"sg-a\" is listed twice",
                "t.toml:34:8: eni[2].host: invalid host name \"Host_C\" (expected 1 to 15 characters from a-z, 0-9 and '-', starting with a letter or digit)",
            ]);
    }

    #[test]
    fn reports_every_error_at_once() {
        let src = r#"[[vpc]]
id = "vpc-a"
cidr = "10.0.0.1/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[eni]]
id = "eni-a"
subnet = "subnet-a1"
ip = "10.0.2.10"
security_groups = ["sg-nope"]
host = "a"
"#;
        assert_eq!(diags(src), [
                "t.toml:3:8: vpc[0].cidr: 10.0.0.1/16 has host bits set (expected a network address: did you mean 10.0.0.0/16?)",
                "t.toml:14:6: eni[0].ip: 10.0.2.10 is outside subnet subnet-a1 (10.0.1.0/24)",
                "t.toml:15:20: eni[0].security_groups[0]: unknown security group \"sg-nope\" (no security groups are defined)",
            ]);
    }

    #[test]
    fn odd_values_are_located_too() {
        let src = "[[vpc]]\nid = 1979-05-27\ncidr = \"10.0.0.0/16\"\n\n[[vpc]]\nid = \"vpc b\"\ncidr = \"10.1.0.0/16\"\n\n[foo.bar]\nx = 1\n";
        let d = parse_str(src, "t.toml").unwrap_err();
        assert_eq!(d.0.len(), 3);
        assert_eq!(
            d.to_string(),
            "t.toml:2:6: vpc[0].id: expected a string id such as \"vpc-a\", found a datetime\n\
             t.toml:6:6: vpc[1].id: invalid id \"vpc b\" (expected a non-empty string without \
             spaces, such as \"vpc-a\")\n\
             t.toml:9:2: foo: unknown field \"foo\" (allowed: lab, vpc, subnet, security_group, eni)"
        );
    }
}
