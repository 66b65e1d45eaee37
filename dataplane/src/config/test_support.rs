//! What the config tests share: rendering diagnostics, and the base
//! topologies (files under `tests/fixtures/`) that tests append to.

use ipnet::Ipv4Net;

use crate::config::parse_str;
use crate::model::Topology;

pub(crate) fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

/// The topology of a valid `src` read as `t.toml`.
pub(crate) fn parsed(src: &str) -> Topology {
    parse_str(src, "t.toml").unwrap()
}

/// The rendered diagnostics for `src` read as `t.toml`.
pub(crate) fn diags(src: &str) -> Vec<String> {
    match parse_str(src, "t.toml") {
        Ok(t) => panic!("expected errors, got {t:#?}"),
        Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
    }
}

/// A valid base: a VPC, a subnet, a group and an ENI (20 lines). Tests
/// append to it, so their errors are on line 21 and below.
pub(crate) const BASE: &str = include_str!("../../../tests/fixtures/config-base.toml");

pub(crate) fn with_base(extra: &str) -> String {
    format!("{BASE}{extra}")
}

/// Two VPCs, three subnets (two AZs in vpc-p), a group each, two target
/// hosts, a target group, an NLB, a service and an endpoint (72 lines).
/// Tests append to it, so their errors are on line 73 and below.
pub(crate) const PL: &str = include_str!("../../../tests/fixtures/config-privatelink.toml");

pub(crate) fn with_pl(extra: &str) -> String {
    format!("{PL}{extra}")
}

/// Two VPCs (vpc-api; vpc-cust with two AZs), a group each and one for
/// the link, the API host, two customer hosts, an ALB, an NLB with its
/// target group, a Cloud Map service and a link with one integration of
/// each kind (92 lines). Tests append to it, so their errors are on
/// line 93 and below.
pub(crate) const HL: &str = include_str!("../../../tests/fixtures/config-http-link.toml");

pub(crate) fn with_hl(extra: &str) -> String {
    format!("{HL}{extra}")
}
