//! `explain`'s text: the explanation as a network engineer reads it.

use std::fmt::Write as _;

use dataplane_common::explain::EXPLAIN_FLOW_HIT;

use super::{Explanation, Proto, RuleRef, SgVerdict};

/// The explanation as a network engineer reads it.
pub fn render(e: &Explanation) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "packet    {} from {} in {}", e.packet, e.from, e.vpc);
    match e.verdict {
        "forward" => {
            let _ = writeln!(o, "verdict   FORWARD to {}", e.to.as_deref().unwrap_or("?"));
        }
        "drop" => {
            let _ = writeln!(o, "verdict   DROP ({})", e.drop_reason.unwrap_or("?"));
        }
        "pass" => {
            let _ = writeln!(
                o,
                "verdict   PASS to the fabric's kernel stack (not a fabric port of this lab)"
            );
        }
        v => {
            let _ = writeln!(o, "verdict   {v}");
        }
    }
    let _ = writeln!(o, "decided   at stage {}", e.decided_by);
    let _ = writeln!(o, "path      {}", e.stages.join(" -> "));
    if let Some(d) = &e.destination {
        let _ = writeln!(o, "dest      {d}");
    }
    if let Some(f) = &e.flow {
        let _ = writeln!(o, "flow      {f}");
    } else if e.stages.contains(&"flow") {
        let _ = writeln!(o, "flow      no tracked flow: decided as a new connection");
    }
    if let Some(t) = tracking(e) {
        let _ = writeln!(o, "tracking  {t}");
    }
    for s in &e.security_groups {
        let label = match s.check {
            "link egress" => "link sg",
            "target ingress" => "target sg",
            c => c,
        };
        let port = match e.proto {
            Proto::Icmp => format!(" type {} code {}", s.port >> 8, s.port & 0xff),
            Proto::Other(_) => String::new(),
            _ => format!(" port {}", s.port),
        };
        let _ = writeln!(
            o,
            "{label:<9} {} [{}]: {} {} {} {}{port}",
            s.holder,
            if s.groups.is_empty() {
                "no groups".to_string()
            } else {
                s.groups.join(", ")
            },
            if s.allowed { "ALLOW" } else { "DENY" },
            e.proto.name(),
            if s.check.contains("ingress") {
                "from"
            } else {
                "to"
            },
            s.peer,
        );
        let kernel = kernel_lookup(s, e.proto);
        let _ = writeln!(o, "          kernel: {kernel}");
        let matching: Vec<&RuleRef> = s.rules.iter().filter(|r| r.matches).collect();
        if s.groups.is_empty() {
            let _ = writeln!(o, "          (no security groups: the address admits what the sender's rules let out)");
        } else if matching.is_empty() {
            let _ = writeln!(
                o,
                "          no rule of {} admits it{}",
                s.groups.join(", "),
                if s.rules.is_empty() { "" } else { "; closest:" }
            );
            for r in &s.rules {
                let _ = writeln!(
                    o,
                    "            {}: {}",
                    rule_label(r),
                    r.mismatch.as_deref().unwrap_or("")
                );
            }
        } else {
            for r in matching {
                let _ = writeln!(o, "          allowed by {}", rule_label(r));
            }
        }
    }
    for n in &e.nacls {
        let _ = writeln!(
            o,
            "nacl {:<4} {} [{}]: {} {} {} {} {}: rule {}{}{}",
            n.check,
            n.subnet,
            n.nacl,
            if n.allowed { "ALLOW" } else { "DENY" },
            e.proto.name(),
            if n.check == "in" { "from" } else { "to" },
            n.peer,
            n.matched,
            n.rule,
            n.location
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default(),
            match (&n.entry, n.rule.as_str()) {
                (Some(en), _) => format!(": {en}"),
                (None, "*") => ": no entry matches, the final * denies".to_string(),
                (None, _) => String::new(),
            }
        );
    }
    if let Some(r) = &e.route {
        let _ = writeln!(
            o,
            "route     {} [{}]: {} to {}: {}{}",
            r.subnet,
            r.table,
            match (
                r.allowed,
                r.route.starts_with("pcx-"),
                r.route.starts_with("local ")
            ) {
                (false, _, _) => "DROP",
                (true, true, _) => "PEERING",
                (true, false, true) => "LOCAL",
                (true, false, false) => "GATEWAY",
            },
            r.destination,
            r.route,
            r.location
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default(),
        );
    }
    if let Some(n) = &e.nat {
        let _ = writeln!(o, "nat       {} {} ({})", n.kind, n.endpoint, n.nlb);
        if !n.interfaces.is_empty() {
            let _ = writeln!(o, "          via {}", n.interfaces.join(", "));
        }
        if let Some(l) = &n.listener {
            let _ = writeln!(o, "          listener {l}");
        }
        match (&n.target, n.maglev_slot) {
            (Some(t), Some(slot)) => {
                let _ = writeln!(o, "          target {t}, Maglev slot {slot}");
            }
            (None, Some(slot)) => {
                let _ = writeln!(o, "          Maglev slot {slot}: no healthy target");
            }
            _ => {}
        }
        if let (Some(ip), Some(port), Some(tries)) = (n.source, n.source_port, n.ports_probed) {
            let _ = writeln!(
                o,
                "          source NAT to {ip}:{port} (the first free port of {tries} probed)"
            );
        } else if let Some(ip) = n.source {
            let _ = writeln!(o, "          the target would see source {ip}");
        }
    }
    if let Some(l) = &e.leaves_as {
        let _ = writeln!(o, "leaves as {l}");
    }
    for n in &e.notes {
        let _ = writeln!(o, "note      {n}");
    }
    o
}

/// What the kernel's security-group lookup found, in the config's terms
/// (the compiled set id is internal: it is in `--json` only).
/// Tracked or untracked (EC2 user guide, "Untracked connections"), for a
/// packet that matched a flow or created one: the flow entry's flags.
fn tracking(e: &Explanation) -> Option<String> {
    use dataplane_common::{FLOW_F_UNTRACKED, FLOW_F_UNTRACKED_RECEIVER, FLOW_F_UNTRACKED_SENDER};
    let t = &e.trace;
    let flags = if t.flow == EXPLAIN_FLOW_HIT {
        t.flow_flags
    } else if e.forwarded() {
        t.out_flags
    } else {
        return None;
    };
    Some(
        match flags & FLOW_F_UNTRACKED {
            0 => "tracked: a removed security-group rule does not cut it",
            FLOW_F_UNTRACKED_RECEIVER => {
                "untracked at the receiver: its rules judge every packet (a removed rule cuts it at once)"
            }
            FLOW_F_UNTRACKED_SENDER => {
                "untracked at the sender: its rules judge every packet (a removed rule cuts it at once)"
            }
            _ => "untracked at both ends: their rules judge every packet (a removed rule cuts it at once)",
        }
        .to_string(),
    )
}

fn kernel_lookup(s: &SgVerdict, proto: Proto) -> String {
    if !proto.has_ports() {
        // Other protocols: the protocol's own entries (or the `all`
        // rules') for the peer decide, with no port.
        return if s.range.is_some() {
            format!(
                "the {} lookup found the entry covering {} for protocol {}",
                s.check,
                s.peer,
                proto.number()
            )
        } else {
            format!(
                "the {} lookup found no entry covering {} for protocol {} (nor `all`)",
                s.check,
                s.peer,
                proto.number()
            )
        };
    }
    match (s.entry_found, s.range) {
        (_, Some((lo, hi))) => format!(
            "the {} lookup found the entry covering {}; its ports {lo}-{hi} hold {}",
            s.check, s.peer, s.port
        ),
        (true, None) => format!(
            "the {} lookup found an entry covering {}; none of its port ranges holds {}",
            s.check, s.peer, s.port
        ),
        (false, None) => format!("the {} lookup found no entry covering {}", s.check, s.peer),
    }
}

fn rule_label(r: &RuleRef) -> String {
    let at = r
        .location
        .as_deref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    match r.index {
        Some(i) => format!("{} {}[{i}]{at}: {}", r.group, r.direction, r.rule),
        None => format!("{} {}{at}: {}", r.group, r.direction, r.rule),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn the_kernel_line_speaks_of_the_lookup_not_of_internal_set_numbers() {
        let mut v = SgVerdict {
            check: "ingress",
            holder: "eni-web".into(),
            groups: vec!["sg-web".into()],
            peer: Ipv4Addr::new(10, 0, 1, 10),
            port: 8080,
            allowed: true,
            set: 1 << 20,
            entry_found: true,
            range: Some((8000, 8100)),
            rules: vec![],
        };
        assert_eq!(
            kernel_lookup(&v, Proto::Tcp),
            "the ingress lookup found the entry covering 10.0.1.10; its ports 8000-8100 hold 8080"
        );
        v.range = None;
        assert_eq!(
            kernel_lookup(&v, Proto::Tcp),
            "the ingress lookup found an entry covering 10.0.1.10; none of its port ranges holds 8080"
        );
        v.entry_found = false;
        assert_eq!(
            kernel_lookup(&v, Proto::Tcp),
            "the ingress lookup found no entry covering 10.0.1.10"
        );
    }

    #[test]
    fn other_protocols_are_looked_up_by_protocol_without_a_port() {
        let mut v = SgVerdict {
            check: "ingress",
            holder: "eni-web".into(),
            groups: vec!["sg-web".into()],
            peer: Ipv4Addr::new(10, 0, 1, 10),
            port: 0,
            allowed: true,
            set: 1 << 20,
            entry_found: true,
            range: Some((0, 65535)),
            rules: vec![],
        };
        assert_eq!(
            kernel_lookup(&v, Proto::Other(47)),
            "the ingress lookup found the entry covering 10.0.1.10 for protocol 47"
        );
        v.range = None;
        v.entry_found = false;
        assert_eq!(
            kernel_lookup(&v, Proto::Other(50)),
            "the ingress lookup found no entry covering 10.0.1.10 for protocol 50 (nor `all`)"
        );
    }
}
