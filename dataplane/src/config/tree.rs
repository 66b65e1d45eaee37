//! The positioned TOML tree: `toml_edit`'s document turned into [`Node`]s
//! that keep the byte offset of every key, value and table header, and the
//! `Checker`'s typed readers over it (tables with their allowed keys,
//! required fields, strings, addresses, integers in a range, arrays,
//! `[[section]]`s), with "did you mean" for unknown keys.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use toml_edit::{Item, Table, Value};

use super::diagnostics::Checker;
use super::IdInfo;
use crate::model::L4Protocol;

/// Strings of an array with their indices in it (for `field[i]` paths).
pub(super) type Ids<'n> = Vec<(usize, Sp<&'n str>)>;

/// What a port number may be.
pub(super) const PORT_RANGE: RangeInclusive<i64> = 1..=65535;

/// A TOML value with the byte offset where it starts (for a `[table]` or
/// `[[table]]`: its header).
pub(super) struct Node {
    pub(super) pos: usize,
    pub(super) val: Val,
}

pub(super) enum Val {
    Str(String),
    Int(i64),
    Float,
    Bool(bool),
    Datetime,
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

pub(super) struct Entry {
    pub(super) key: String,
    /// Where the key is written.
    pub(super) pos: usize,
    pub(super) node: Node,
}

impl Val {
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Int(_) => "an integer",
            Val::Float => "a float",
            Val::Bool(_) => "a boolean",
            Val::Datetime => "a datetime",
            Val::Array(_) => "an array",
            Val::Table(_) => "a table",
        }
    }
}

/// A value and where it is written.
#[derive(Clone, Copy)]
pub(super) struct Sp<T> {
    pub(super) v: T,
    pub(super) pos: usize,
}

/// A table being read: its position (for "missing field") and field path.
pub(super) struct Tbl<'n> {
    pub(super) pos: usize,
    pub(super) path: String,
    pub(super) entries: &'n [Entry],
}

impl<'n> Tbl<'n> {
    pub(super) fn get(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    pub(super) fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

impl<'s> Checker<'s> {
    /// `node` as a table whose keys are all in `allowed`.
    pub(super) fn table<'n>(
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

    pub(super) fn require<'n>(
        &mut self,
        t: &Tbl<'n>,
        key: &str,
        expected: &str,
    ) -> Option<&'n Entry> {
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

    pub(super) fn as_str<'n>(
        &mut self,
        e: &'n Entry,
        field: &str,
        expected: &str,
    ) -> Option<Sp<&'n str>> {
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

    pub(super) fn req_str<'n>(
        &mut self,
        t: &Tbl<'n>,
        key: &str,
        expected: &str,
    ) -> Option<Sp<&'n str>> {
        let e = self.require(t, key, expected)?;
        self.as_str(e, &t.field(key), expected)
    }

    pub(super) fn opt_str<'n>(
        &mut self,
        t: &Tbl<'n>,
        key: &str,
        expected: &str,
    ) -> Option<Sp<&'n str>> {
        let e = t.get(key)?;
        self.as_str(e, &t.field(key), expected)
    }

    /// A required IPv4 address (no prefix).
    pub(super) fn ipv4(&mut self, t: &Tbl<'_>, key: &str) -> Option<Sp<Ipv4Addr>> {
        let ip = self.req_str(t, key, "an IPv4 address such as \"10.0.1.10\"")?;
        self.parse_ipv4(ip, &t.field(key))
    }

    /// An IPv4 address (no prefix) written as a string.
    pub(super) fn parse_ipv4(&mut self, ip: Sp<&str>, field: &str) -> Option<Sp<Ipv4Addr>> {
        match ip.v.parse::<Ipv4Addr>() {
            Ok(addr) => Some(Sp {
                v: addr,
                pos: ip.pos,
            }),
            Err(_) => {
                self.err(
                    ip.pos,
                    field,
                    format!(
                        "invalid IPv4 address {:?} (expected an address without prefix, such as \"10.0.1.10\")",
                        ip.v
                    ),
                );
                None
            }
        }
    }

    /// An integer in `range`; `what` names it in the range error.
    pub(super) fn int(
        &mut self,
        node: &Node,
        field: &str,
        expected: &str,
        what: &str,
        range: RangeInclusive<i64>,
    ) -> Option<Sp<i64>> {
        match node.val {
            Val::Int(n) if range.contains(&n) => Some(Sp {
                v: n,
                pos: node.pos,
            }),
            Val::Int(n) => {
                self.err(
                    node.pos,
                    field,
                    format!(
                        "{what} {n} is out of range (expected {} to {})",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
            ref other => {
                self.err(
                    node.pos,
                    field,
                    format!("expected {expected}, found {}", other.type_name()),
                );
                None
            }
        }
    }

    /// A port number 1..=65535.
    pub(super) fn port(&mut self, node: &Node, field: &str) -> Option<Sp<u16>> {
        self.int(node, field, "a port number such as 80", "port", PORT_RANGE)
            .map(|p| Sp {
                v: p.v as u16,
                pos: p.pos,
            })
    }

    pub(super) fn opt_bool(&mut self, t: &Tbl<'_>, key: &str) -> Option<bool> {
        let e = t.get(key)?;
        match e.node.val {
            Val::Bool(b) => Some(b),
            ref other => {
                self.err(
                    e.node.pos,
                    &t.field(key),
                    format!("expected true or false, found {}", other.type_name()),
                );
                None
            }
        }
    }

    /// `"tcp"` or `"udp"`.
    pub(super) fn l4_protocol(&mut self, t: &Tbl<'_>, key: &str) -> Option<Sp<L4Protocol>> {
        const EXPECTED: &str = "\"tcp\" or \"udp\"";
        let p = self.req_str(t, key, EXPECTED)?;
        let v = match p.v {
            "tcp" => L4Protocol::Tcp,
            "udp" => L4Protocol::Udp,
            other => {
                self.err(
                    p.pos,
                    &t.field(key),
                    format!("unknown protocol {other:?} (expected {EXPECTED})"),
                );
                return None;
            }
        };
        Some(Sp { v, pos: p.pos })
    }

    /// An array of strings (ids, principals); other elements are reported.
    /// Returns the strings with their indices, and the array's length.
    pub(super) fn str_list<'n>(
        &mut self,
        e: &'n Entry,
        field: &str,
        expected: &str,
        element: &str,
    ) -> Option<(Ids<'n>, usize)> {
        let items = self.as_array(&e.node, field, expected)?;
        let mut list = Vec::new();
        for (i, n) in items.iter().enumerate() {
            match &n.val {
                Val::Str(s) => list.push((
                    i,
                    Sp {
                        v: s.as_str(),
                        pos: n.pos,
                    },
                )),
                other => self.err(
                    n.pos,
                    &format!("{field}[{i}]"),
                    format!("expected {element} (a string), found {}", other.type_name()),
                ),
            }
        }
        Some((list, items.len()))
    }

    /// The elements of an array (inline, or an array of tables).
    pub(super) fn as_array<'n>(
        &mut self,
        node: &'n Node,
        field: &str,
        expected: &str,
    ) -> Option<&'n [Node]> {
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
    /// Pass 1 of one section: `read` each item of `section(root, key)`,
    /// given its node, path and index, registering its ids in `ids`.
    pub(super) fn each<'n, T>(
        &mut self,
        root: &Tbl<'n>,
        key: &str,
        ids: &mut HashMap<String, IdInfo>,
        mut read: impl FnMut(&mut Self, &'n Node, String, usize, &mut HashMap<String, IdInfo>) -> T,
    ) -> Vec<T> {
        let items = self.section(root, key);
        let mut out = Vec::with_capacity(items.len());
        for (i, (path, node)) in items.into_iter().enumerate() {
            out.push(read(self, node, path, i, ids));
        }
        out
    }

    pub(super) fn section<'n>(&mut self, root: &Tbl<'n>, key: &str) -> Vec<(String, &'n Node)> {
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
}

/// Tables without a span of their own (implicit ones, e.g. `a` in `[a.b]`)
/// take `fallback`: the position of the key that names them.
pub(super) fn table_node(t: &Table, fallback: usize) -> Node {
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

pub(super) fn item_node(item: &Item, fallback: usize) -> Option<Node> {
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

pub(super) fn value_node(v: &Value, fallback: usize) -> Node {
    let pos = v.span().map_or(fallback, |s| s.start);
    let val = match v {
        Value::String(s) => Val::Str(s.value().clone()),
        Value::Integer(i) => Val::Int(*i.value()),
        Value::Float(_) => Val::Float,
        Value::Boolean(b) => Val::Bool(*b.value()),
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

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn unknown_key(key: &str, allowed: &[&str]) -> String {
    let mut msg = format!("unknown field \"{key}\" (allowed: {}", allowed.join(", "));
    let best = allowed
        .iter()
        .map(|a| (strsim::levenshtein(key, a), *a))
        .min_by_key(|(d, _)| *d);
    if let Some((d, a)) = best {
        if d <= (key.len().max(a.len()) / 3).max(1) {
            msg.push_str(&format!("; did you mean \"{a}\"?"));
        }
    }
    msg.push(')');
    msg
}
