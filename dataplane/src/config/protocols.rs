//! Protocols and ICMP types in security-group rules and network-ACL
//! entries: `protocol` by name (`tcp`, `udp`, `icmp`, `all`, `gre`,
//! `esp`, `sctp`...) or by number (0 to 255, -1 for all, as AWS's
//! `IpProtocol`), and `icmp = { type, code }` (AWS's FromPort / ToPort for
//! ICMP, -1 for all).

use super::diagnostics::Checker;
use super::network_acls::ICMP_KEYS;
use super::tree::{Node, Tbl, Val};
use crate::model::{IcmpMatch, Protocol, PROTOCOL_NAMES};

const PROTOCOLS: &str =
    "\"tcp\", \"udp\", \"icmp\", \"all\", a protocol name such as \"gre\", or a number 0 to 255 (-1: all)";

/// A protocol as a config's `protocol` string writes it: `tcp`, `udp`,
/// `icmp`, `all` (or "-1"), a name of [`PROTOCOL_NAMES`] (`gre`), or a
/// number 0 to 255 ("47"); any case. `dataplane explain --proto` reads its
/// argument with it too.
pub fn protocol_by_name(name: &str) -> Option<Protocol> {
    match name.to_ascii_lowercase().as_str() {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        "icmp" => Some(Protocol::Icmp),
        "all" | "-1" => Some(Protocol::All),
        other => PROTOCOL_NAMES
            .iter()
            .find(|(n, _)| *n == other)
            .map(|&(_, n)| Protocol::from_number(n))
            .or_else(|| other.parse::<u8>().ok().map(Protocol::from_number)),
    }
}

impl Checker<'_> {
    /// A required `protocol`.
    pub(super) fn protocol(&mut self, t: &Tbl<'_>) -> Option<Protocol> {
        let e = self.require(t, "protocol", PROTOCOLS)?;
        let field = t.field("protocol");
        match &e.node.val {
            Val::Int(-1) => Some(Protocol::All),
            Val::Int(n) if (0..=255).contains(n) => Some(Protocol::from_number(*n as u8)),
            Val::Int(n) => {
                self.err(
                    e.node.pos,
                    &field,
                    format!(
                        "protocol number {n} is out of range (expected 0 to 255, or -1 for all)"
                    ),
                );
                None
            }
            Val::Str(s) => match protocol_by_name(s) {
                Some(p) => Some(p),
                None => {
                    let names: Vec<&str> = ["tcp", "udp", "icmp", "all"]
                        .into_iter()
                        .chain(PROTOCOL_NAMES.iter().map(|(n, _)| *n))
                        .collect();
                    let hint = names
                        .iter()
                        .map(|a| (strsim::levenshtein(s, a), *a))
                        .min_by_key(|(d, _)| *d)
                        .filter(|&(d, a)| d <= (s.len().max(a.len()) / 3).max(1))
                        .map_or(String::new(), |(_, a)| format!("; did you mean \"{a}\"?"));
                    self.err(
                        e.node.pos,
                        &field,
                        format!("unknown protocol {s:?} (expected {PROTOCOLS}{hint})"),
                    );
                    None
                }
            },
            other => {
                self.err(
                    e.node.pos,
                    &field,
                    format!("expected {PROTOCOLS}, found {}", other.type_name()),
                );
                None
            }
        }
    }

    /// An optional `icmp = { type, code }`, only for protocol icmp; `None`
    /// when absent or invalid (reported).
    pub(super) fn icmp_key(
        &mut self,
        t: &Tbl<'_>,
        protocol: Option<Protocol>,
    ) -> Option<IcmpMatch> {
        let e = t.get("icmp")?;
        let m = self.icmp_match(&e.node, &t.field("icmp"));
        if let Some(p) = protocol.filter(|&p| p != Protocol::Icmp) {
            self.err(
                e.node.pos,
                &t.field("icmp"),
                format!(
                    "icmp is only allowed for protocol \"icmp\", not \"{}\" (remove icmp \
                     or use protocol \"icmp\")",
                    p.name()
                ),
            );
        }
        m
    }

    /// `{ type = 8, code = 0 }`: each -1 (AWS's "all", the default) or
    /// 0 to 255.
    fn icmp_match(&mut self, node: &Node, path: &str) -> Option<IcmpMatch> {
        let t = self.table(
            node,
            path,
            "a table such as { type = 8, code = 0 }",
            ICMP_KEYS,
        )?;
        let mut ok = true;
        let mut read = |cx: &mut Checker<'_>, key: &str| -> Option<u8> {
            let e = t.get(key)?;
            let n = cx.int(
                &e.node,
                &t.field(key),
                &format!("an ICMP {key} such as 8, or -1 for all"),
                &format!("ICMP {key}"),
                -1..=255,
            );
            match n {
                Some(n) if n.v >= 0 => Some(n.v as u8),
                Some(_) => None,
                None => {
                    ok = false;
                    None
                }
            }
        };
        let icmp_type = read(self, "type");
        let code = read(self, "code");
        ok.then_some(IcmpMatch { icmp_type, code })
    }
}

#[cfg(test)]
mod tests;
