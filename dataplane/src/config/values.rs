//! Value parsers: CIDRs, rule peers, port ranges, MACs, targets and Cloud
//! Map instances, names, HTTP paths, principals, and the addresses AWS
//! reserves in a subnet. Pure functions: text in, value or message out.

use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;

use super::tree::Val;
use crate::model::{FlowLogDestination, L4Protocol};

/// A rule peer before it is resolved: a CIDR or a security group id.
pub(super) enum PeerIn<'n> {
    Cidr(Ipv4Net),
    Group(&'n str),
}

/// A target (or Cloud Map instance) before it is resolved.
pub(super) enum TargetIn<'n> {
    /// An ENI id, with a port (a Cloud Map instance's) or without (a target
    /// group's target: the group's port).
    Eni(&'n str, Option<u16>),
    Addr(SocketAddrV4),
}

/// `"stdout"` (or `"-"`) or a file path; shared with `dataplane run --flow-log`.
pub fn parse_flow_log_destination(s: &str) -> Result<FlowLogDestination, String> {
    match s {
        "stdout" | "-" => Ok(FlowLogDestination::Stdout),
        "" => Err("empty flow log destination (expected \"stdout\" or a file path)".into()),
        p if p.ends_with('/') => Err(format!(
            "flow log destination {p:?} is a directory (expected \"stdout\" or a file path)"
        )),
        p => Ok(FlowLogDestination::File(p.into())),
    }
}

/// `^[a-z0-9][a-z0-9-]{0,max-1}$`
pub(super) fn valid_name(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

pub(super) fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A CIDR with a prefix length (or, if `bare_ok`, a bare address meaning
/// /32), host bits zero.
pub(super) fn parse_cidr(s: &str, bare_ok: bool) -> Result<Ipv4Net, String> {
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
pub(super) fn parse_peer(s: &str) -> Result<PeerIn<'_>, String> {
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
pub(super) fn parse_ports(v: &Val) -> Result<(u16, u16), String> {
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

pub(super) fn parse_mac(s: &str) -> Result<[u8; 6], String> {
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

pub(super) fn l4_name(p: L4Protocol) -> &'static str {
    match p {
        L4Protocol::Tcp => "tcp",
        L4Protocol::Udp => "udp",
    }
}

/// A target group target: `"IP:port"` or an ENI id.
pub(super) fn parse_target(s: &str) -> Result<TargetIn<'_>, String> {
    const EXPECTED: &str = "expected an ENI id or \"IP:port\" such as \"10.0.1.21:8080\"";
    if let Ok(sa) = s.parse::<SocketAddrV4>() {
        if sa.port() == 0 {
            return Err(format!(
                "port 0 of target {s:?} is out of range (expected 1 to 65535)"
            ));
        }
        return Ok(TargetIn::Addr(sa));
    }
    if let Some((addr, port)) = s.rsplit_once(':') {
        if addr.parse::<Ipv4Addr>().is_ok() {
            return Err(format!(
                "invalid port {port:?} in target {s:?} (expected 1 to 65535)"
            ));
        }
    }
    if s.parse::<Ipv4Addr>().is_ok() {
        return Err(format!(
            "target {s:?} has no port (expected \"IP:port\" such as \"{s}:8080\", or an ENI id)"
        ));
    }
    let looks_numeric = s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ':');
    if s.is_empty() || looks_numeric || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("invalid target {s:?} ({EXPECTED})"));
    }
    Ok(TargetIn::Eni(s, None))
}

/// A Cloud Map instance: `"ENI-id:port"` or `"IP:port"`.
pub(super) fn parse_instance(s: &str) -> Result<TargetIn<'_>, String> {
    const EXPECTED: &str =
        "expected \"ENI-id:port\" or \"IP:port\" such as \"eni-web:8080\" or \"10.0.1.21:8080\"";
    if let Ok(sa) = s.parse::<SocketAddrV4>() {
        if sa.port() == 0 {
            return Err(format!(
                "port 0 of instance {s:?} is out of range (expected 1 to 65535)"
            ));
        }
        return Ok(TargetIn::Addr(sa));
    }
    // An ENI id, or something that looks like an address (but is not one).
    let name_ok = |n: &str| {
        let blank = n.is_empty() || n.chars().any(|c| c.is_whitespace() || c.is_control());
        let numeric = n.starts_with(|c: char| c.is_ascii_digit())
            && n.chars().all(|c| c.is_ascii_digit() || c == '.');
        let address = n.parse::<Ipv4Addr>().is_ok();
        !blank && (address || !numeric)
    };
    match s.rsplit_once(':') {
        Some((name, port)) if name_ok(name) => match port.parse::<u16>() {
            Ok(p) if p > 0 && name.parse::<Ipv4Addr>().is_err() => Ok(TargetIn::Eni(name, Some(p))),
            _ => Err(format!(
                "invalid port {port:?} in instance {s:?} (expected 1 to 65535)"
            )),
        },
        None if name_ok(s) => Err(format!(
            "instance {s:?} has no port (expected \"ENI-id:port\" or \"IP:port\" such as \"{s}:8080\")"
        )),
        _ => Err(format!("invalid instance {s:?} ({EXPECTED})")),
    }
}

pub(super) fn valid_http_path(p: &str) -> bool {
    p.starts_with('/') && !p.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Why a principal is unusable, if it is: empty, or with spaces.
pub(super) fn invalid_principal(p: &str) -> Option<String> {
    if p.is_empty() || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some(format!(
            "invalid principal {p:?} (expected an ARN such as \
             \"arn:aws:iam::111122223333:root\", a service principal or \"*\")"
        ))
    } else {
        None
    }
}

/// Why AWS would refuse `ip` in `net`, if it would.
pub(super) fn reserved(net: Ipv4Net, ip: Ipv4Addr) -> Option<&'static str> {
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
