//! What the config tests share: rendering diagnostics, the base
//! topologies (files under `tests/fixtures/`) that tests append to, and
//! one text builder per table the tests add to them.

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

/// The shipped example topologies: the `.toml` files of `configs/`,
/// sorted by path.
pub(crate) fn shipped_configs() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// A valid base: a VPC, a subnet, a group and an ENI (20 lines). Tests
/// append to it, so their errors are on line 21 and below.
pub(crate) const BASE: &str = include_str!("../../../tests/fixtures/config-base.toml");

pub(crate) fn with_base(extra: &str) -> String {
    format!("{BASE}{extra}")
}

/// BASE plus subnet-a2 (10.0.2.0/24, use1-az1) on lines 21-26: `extra`
/// starts on line 27.
pub(crate) fn with_base_a2(extra: &str) -> String {
    with_base(&(subnet("subnet-a2", "vpc-a", "10.0.2.0/24", "use1-az1") + extra))
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

// One home for the text of each resource as the tests write it: a blank
// line, then the table and its keys, one a line. A test that assembles a
// topology from these reads the same file (and so the same line numbers
// in its diagnostics) as one that spells the tables out.

/// `parts` joined: a topology assembled from the builders below and
/// literal tables.
pub(crate) fn cat(parts: &[&str]) -> String {
    parts.concat()
}

/// `[[vpc]]` (3 lines after the blank one).
pub(crate) fn vpc(id: &str, cidr: &str) -> String {
    format!("\n[[vpc]]\nid = \"{id}\"\ncidr = \"{cidr}\"\n")
}

/// `[[subnet]]` (5 lines after the blank one).
pub(crate) fn subnet(id: &str, vpc: &str, cidr: &str, az: &str) -> String {
    format!("\n[[subnet]]\nid = \"{id}\"\nvpc = \"{vpc}\"\ncidr = \"{cidr}\"\naz = \"{az}\"\n")
}

/// `[[security_group]]` without rules (3 lines after the blank one).
pub(crate) fn sg(id: &str, vpc: &str) -> String {
    format!("\n[[security_group]]\nid = \"{id}\"\nvpc = \"{vpc}\"\n")
}

/// `[[vpc_peering]]` (5 lines after the blank one).
pub(crate) fn peering(id: &str, requester: &str, accepter: &str, status: &str) -> String {
    format!(
        "\n[[vpc_peering]]\nid = \"{id}\"\nrequester = \"{requester}\"\naccepter = \
         \"{accepter}\"\nstatus = \"{status}\"\n"
    )
}

/// `[[eni]]` in one group (6 lines after the blank one).
pub(crate) fn eni(id: &str, subnet: &str, ip: &str, group: &str, host: &str) -> String {
    format!(
        "\n[[eni]]\nid = \"{id}\"\nsubnet = \"{subnet}\"\nip = \"{ip}\"\nsecurity_groups = \
         [\"{group}\"]\nhost = \"{host}\"\n"
    )
}

/// `[[internet_gateway]]` (3 lines after the blank one).
pub(crate) fn internet_gateway(id: &str, vpc: &str) -> String {
    format!("\n[[internet_gateway]]\nid = \"{id}\"\nvpc = \"{vpc}\"\n")
}

/// `[[network_acl]]` with its associations and no entries yet (3 or 4
/// lines after the blank one): a test appends the entry lines.
pub(crate) fn network_acl(id: &str, vpc: &str, subnets: &[&str]) -> String {
    let subnets = match subnets {
        [] => String::new(),
        some => format!("subnets = {}\n", list(some)),
    };
    format!("\n[[network_acl]]\nid = \"{id}\"\nvpc = \"{vpc}\"\n{subnets}")
}

/// The second VPC most tests add to BASE: vpc-b (10.1.0.0/16) with
/// subnet-b1 (10.1.1.0/24, use1-az1), 8 lines after the blank one.
pub(crate) fn vpc_b() -> String {
    vpc("vpc-b", "10.1.0.0/16") + &subnet("subnet-b1", "vpc-b", "10.1.1.0/24", "use1-az1")
}

/// `vpc_b` and its group sg-b (12 lines after the blank one).
pub(crate) fn vpc_b_with_sg() -> String {
    vpc_b() + &sg("sg-b", "vpc-b")
}

/// `[[route_table]]`: `keys` are whole lines between `vpc` and `routes`
/// (`main = true\n`, `subnets = [...]\n`); one route is written on the
/// `routes` line, more one a line, none leaves `routes` out.
pub(crate) fn route_table(id: &str, vpc: &str, keys: &str, routes: &[(&str, &str)]) -> String {
    let route = |(destination, target): &(&str, &str)| {
        format!("{{ destination = \"{destination}\", target = \"{target}\" }}")
    };
    let routes = match routes {
        [] => String::new(),
        [one] => format!("routes = [{}]\n", route(one)),
        many => {
            let lines: String = many.iter().map(|r| format!("  {},\n", route(r))).collect();
            format!("routes = [\n{lines}]\n")
        }
    };
    format!("\n[[route_table]]\nid = \"{id}\"\nvpc = \"{vpc}\"\n{keys}{routes}")
}

/// `[[vpc_link]]` of a REST link (or a misspelt `kind`) with one place
/// and one group (7 lines after the blank one).
pub(crate) fn rest_link(
    id: &str,
    kind: &str,
    nlb: &str,
    vpc: &str,
    (subnet, ip): (&str, &str),
    group: &str,
) -> String {
    format!(
        "\n[[vpc_link]]\nid = \"{id}\"\nkind = \"{kind}\"\nnlb = \"{nlb}\"\nvpc = \"{vpc}\"\nsubnets \
         = [{{ subnet = \"{subnet}\", ip = \"{ip}\" }}]\nsecurity_groups = [\"{group}\"]\n"
    )
}

/// `[[vpc_endpoint]]` with one place (7 lines after the blank one).
pub(crate) fn endpoint(
    id: &str,
    service: &str,
    vpc: &str,
    (subnet, ip): (&str, &str),
    groups: &[&str],
    principal: &str,
) -> String {
    format!(
        "\n[[vpc_endpoint]]\nid = \"{id}\"\nservice = \"{service}\"\nvpc = \"{vpc}\"\nsubnets = \
         [{{ subnet = \"{subnet}\", ip = \"{ip}\" }}]\nsecurity_groups = {}\nprincipal = \
         \"{principal}\"\n",
        list(groups)
    )
}

/// `[[vpc_link]]` of an HTTP link (or a misspelt `kind`) with allocated
/// addresses and no integrations (6 lines after the blank one).
pub(crate) fn http_link(
    id: &str,
    kind: &str,
    subnets: &[&str],
    groups: &[&str],
    service_vpc: &str,
) -> String {
    format!(
        "\n[[vpc_link]]\nid = \"{id}\"\nkind = \"{kind}\"\nsubnets = {}\nsecurity_groups = \
         {}\nservice_vpc = \"{service_vpc}\"\n",
        list(subnets),
        list(groups)
    )
}

/// `[[nlb]]` with one node and one listener (4 lines after the blank one).
pub(crate) fn nlb(
    id: &str,
    (subnet, ip): (&str, &str),
    (protocol, port, target_group): (&str, u16, &str),
) -> String {
    format!(
        "\n[[nlb]]\nid = \"{id}\"\nsubnets = [{{ subnet = \"{subnet}\", ip = \"{ip}\" }}]\nlisteners \
         = [{{ protocol = \"{protocol}\", port = {port}, target_group = \"{target_group}\" }}]\n"
    )
}

/// `[[target_group]]` without a health check (6 lines after the blank one).
pub(crate) fn target_group(
    id: &str,
    vpc: &str,
    protocol: &str,
    port: u32,
    targets: &[&str],
) -> String {
    format!(
        "\n[[target_group]]\nid = \"{id}\"\nvpc = \"{vpc}\"\nprotocol = \"{protocol}\"\nport = \
         {port}\ntargets = {}\n",
        list(targets)
    )
}

/// A TOML array of strings on one line: `["a", "b"]`.
fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

#[test]
fn builders_write_the_tables_as_the_tests_spell_them() {
    assert_eq!(
        vpc_b_with_sg(),
        "\n[[vpc]]\nid = \"vpc-b\"\ncidr = \"10.1.0.0/16\"\n\
         \n[[subnet]]\nid = \"subnet-b1\"\nvpc = \"vpc-b\"\ncidr = \"10.1.1.0/24\"\naz = \"use1-az1\"\n\
         \n[[security_group]]\nid = \"sg-b\"\nvpc = \"vpc-b\"\n"
    );
    assert_eq!(
        route_table("rtb-1", "vpc-a", "main = true\n", &[("0.0.0.0/0", "igw-a")]),
        "\n[[route_table]]\nid = \"rtb-1\"\nvpc = \"vpc-a\"\nmain = true\n\
         routes = [{ destination = \"0.0.0.0/0\", target = \"igw-a\" }]\n"
    );
    assert_eq!(
        route_table("rtb-1", "vpc-a", "", &[("a", "b"), ("c", "d")]),
        "\n[[route_table]]\nid = \"rtb-1\"\nvpc = \"vpc-a\"\nroutes = [\n\
         \x20 { destination = \"a\", target = \"b\" },\n\
         \x20 { destination = \"c\", target = \"d\" },\n]\n"
    );
    assert_eq!(
        network_acl("acl-1", "vpc-a", &[]),
        "\n[[network_acl]]\nid = \"acl-1\"\nvpc = \"vpc-a\"\n"
    );
    assert_eq!(
        target_group("tg", "vpc-p", "tcp", 80, &[]),
        "\n[[target_group]]\nid = \"tg\"\nvpc = \"vpc-p\"\nprotocol = \"tcp\"\nport = 80\ntargets = []\n"
    );
    // Their line counts, which the tests' expected positions rely on.
    let lines = |s: String| s.lines().count();
    assert_eq!(
        [
            lines(vpc("v", "c")),
            lines(subnet("s", "v", "c", "a")),
            lines(sg("g", "v")),
            lines(eni("e", "s", "i", "g", "h")),
            lines(peering("p", "a", "b", "s")),
            lines(internet_gateway("i", "v")),
            lines(nlb("n", ("s", "i"), ("tcp", 80, "t"))),
            lines(endpoint("e", "s", "v", ("s", "i"), &["g"], "p")),
            lines(rest_link("l", "rest", "n", "v", ("s", "i"), "g")),
            lines(http_link("l", "http", &["s"], &["g"], "v")),
        ],
        [4, 6, 4, 7, 6, 4, 5, 8, 8, 7]
    );
}
