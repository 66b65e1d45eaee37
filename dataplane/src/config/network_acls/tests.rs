//! Tests of `[[network_acl]]`: the topology a valid file gives, and every
//! diagnostic in its exact text.

use crate::config::test_support::{diags, net, network_acl, parsed, vpc_b, BASE};
use crate::model::{AclEntry, IcmpMatch, NetworkAcl, Protocol};

// BASE plus a second subnet (lines 21-26): NACL tests start on line 27.
use crate::config::test_support::with_base_a2 as base2;

/// `base2` with `acl-1` in vpc-a (lines 28-30); `rest` starts with the
/// newline that ends line 30.
fn acl1(rest: &str) -> String {
    base2(&format!(
        "\n[[network_acl]]\nid = \"acl-1\"\nvpc = \"vpc-a\"{rest}"
    ))
}

#[test]
fn network_acl_gives_sorted_entries_and_associations_and_defaults_for_the_rest() {
    let web = network_acl("acl-web", "vpc-a", &["subnet-a2"])
        + r#"ingress = [
  { rule = 200, action = "allow", protocol = "tcp", ports = "1024-65535", cidr = "10.0.0.0/16" },
  { rule = 100, action = "deny", protocol = "tcp", ports = 443, cidr = "10.0.1.0/24" },
  { rule = 150, action = "allow", protocol = "icmp", icmp = { type = 8 }, cidr = "0.0.0.0/0" },
]
"#;
    let t = parsed(&base2(&(web + &network_acl("acl-empty", "vpc-a", &[]))));
    let entry = |rule, allow, protocol, ports, icmp, cidr| AclEntry {
        rule,
        allow,
        protocol,
        ports,
        icmp,
        cidr: net(cidr),
    };
    assert_eq!(
        t.network_acls,
        vec![
            NetworkAcl {
                id: "acl-web".into(),
                vpc: 0,
                default: false,
                ingress: vec![
                    entry(
                        100,
                        false,
                        Protocol::Tcp,
                        (443, 443),
                        IcmpMatch::ALL,
                        "10.0.1.0/24"
                    ),
                    entry(
                        150,
                        true,
                        Protocol::Icmp,
                        (0, 65535),
                        IcmpMatch {
                            icmp_type: Some(8),
                            code: None
                        },
                        "0.0.0.0/0"
                    ),
                    entry(
                        200,
                        true,
                        Protocol::Tcp,
                        (1024, 65535),
                        IcmpMatch::ALL,
                        "10.0.0.0/16"
                    ),
                ],
                egress: vec![],
            },
            NetworkAcl {
                id: "acl-empty".into(),
                vpc: 0,
                default: false,
                ingress: vec![],
                egress: vec![],
            },
            NetworkAcl::default_for(0, "vpc-a"),
        ]
    );
    // subnet-a1 has no association: the VPC's default ACL (index 2).
    assert_eq!(t.subnet_nacls, vec![2, 0]);
    assert_eq!(t.nacl_of(1).unwrap().id, "acl-web");
    assert_eq!(t.nacl_of(0).unwrap().id, "vpc-a (default)");
}

#[test]
fn every_vpc_has_a_default_acl_that_allows_all() {
    let t = parsed(BASE);
    let d = &t.network_acls[0];
    assert!(d.default);
    assert_eq!(d.ingress.len(), 1);
    assert_eq!(d.ingress[0].rule, 100);
    assert!(d.ingress[0].allow && d.egress[0].allow);
    assert_eq!(d.ingress[0].protocol, Protocol::All);
    assert_eq!(d.egress[0].cidr, net("0.0.0.0/0"));
    assert_eq!(t.subnet_nacls, vec![0]);
}

#[test]
fn a_second_association_of_a_subnet_is_rejected() {
    assert_eq!(
        diags(&acl1(
            r#"
subnets = ["subnet-a1", "subnet-a2", "subnet-a2"]

[[network_acl]]
id = "acl-2"
vpc = "vpc-a"
subnets = ["subnet-a1"]
"#
        )),
        vec![
            "t.toml:31:38: network_acl[0].subnets[2]: subnet \"subnet-a2\" is listed twice",
            "t.toml:36:12: network_acl[1].subnets[0]: subnet \"subnet-a1\" is already associated \
             with acl-1 (line 31); a subnet has exactly one network ACL",
        ]
    );
}

#[test]
fn duplicate_and_out_of_range_rule_numbers_are_rejected() {
    assert_eq!(
        diags(&acl1(
            r#"
ingress = [
  { rule = 100, action = "allow", protocol = "all", cidr = "0.0.0.0/0" },
  { rule = 100, action = "deny", protocol = "all", cidr = "0.0.0.0/0" },
  { rule = 0, action = "deny", protocol = "all", cidr = "0.0.0.0/0" },
  { rule = 32767, action = "deny", protocol = "all", cidr = "0.0.0.0/0" },
]
egress = [{ rule = 100, action = "allow", protocol = "all", cidr = "0.0.0.0/0" }]
"#
        )),
        vec![
            "t.toml:33:12: network_acl[0].ingress[1].rule: rule 100 is already used by \
             network_acl[0].ingress[0] (line 32); rule numbers are unique per direction",
            "t.toml:34:12: network_acl[0].ingress[2].rule: rule number 0 is out of range \
             (expected 1 to 32766)",
            "t.toml:35:12: network_acl[0].ingress[3].rule: rule number 32767 is out of range \
             (expected 1 to 32766)",
        ]
    );
}

#[test]
fn more_entries_than_the_quota_are_rejected_and_the_lab_knob_raises_it() {
    let entries: Vec<String> = (1..=21)
        .map(|i| {
            format!(
                "{{ rule = {i}, action = \"allow\", protocol = \"all\", cidr = \"0.0.0.0/0\" }}"
            )
        })
        .collect();
    let acl = acl1(&format!("\negress = [{}]\n", entries.join(", ")));
    assert_eq!(
        diags(&acl),
        vec![
            "t.toml:31:10: network_acl[0].egress: 21 egress entries: a network ACL has at most \
             20 per direction (AWS's default quota is 20; [lab] nacl_entries_max sets the lab's, \
             up to 40)"
        ]
    );
    let raised = format!("[lab]\nnacl_entries_max = 21\n{acl}");
    let t = parsed(&raised);
    assert_eq!(t.lab.nacl_entries_max, 21);
    assert_eq!(t.network_acls[0].egress.len(), 21);
    assert_eq!(
        diags(&format!("[lab]\nnacl_entries_max = 41\n{BASE}")),
        vec!["t.toml:2:20: lab.nacl_entries_max: nacl_entries_max 41 is out of range (expected 1 to 40)"]
    );
}

#[test]
fn entry_fields_are_checked() {
    assert_eq!(
        diags(&acl1(
            r#"
ingress = [
  { rule = 1, action = "permit", protocol = "tcp", cidr = "0.0.0.0/0" },
  { rule = 2, action = "allow", protocol = "grey", cidr = "0.0.0.0/0" },
  { rule = 3, action = "allow", protocol = "icmp", ports = 80, cidr = "0.0.0.0/0" },
  { rule = 4, action = "allow", protocol = "tcp", icmp = { type = 8 }, cidr = "0.0.0.0/0" },
  { rule = 5, action = "allow", protocol = "icmp", icmp = { type = 256, kind = 1 }, cidr = "0.0.0.0/0" },
  { rule = 6, action = "allow", protocol = "udp", cidr = "10.0.0.1/16" },
  { rule = 7, action = "allow", protocol = "udp" },
]
"#
        )),
        vec![
            "t.toml:32:24: network_acl[0].ingress[0].action: unknown action \"permit\" \
             (expected \"allow\" or \"deny\")",
            "t.toml:33:44: network_acl[0].ingress[1].protocol: unknown protocol \"grey\" \
             (expected \"tcp\", \"udp\", \"icmp\", \"all\", a protocol name such as \"gre\", or a \
             number 0 to 255 (-1: all); did you mean \"gre\"?)",
            "t.toml:34:60: network_acl[0].ingress[2].ports: ports are not allowed for protocol \
             \"icmp\" (an entry for \"icmp\": ICMP has types and codes, not ports: use icmp = \
             { type, code }; remove ports or use \"tcp\" or \"udp\")",
            "t.toml:35:58: network_acl[0].ingress[3].icmp: icmp is only allowed for protocol \
             \"icmp\", not \"tcp\" (remove icmp or use protocol \"icmp\")",
            "t.toml:36:68: network_acl[0].ingress[4].icmp.type: ICMP type 256 is out of range \
             (expected -1 to 255)",
            "t.toml:36:73: network_acl[0].ingress[4].icmp.kind: unknown field \"kind\" (allowed: \
             type, code)",
            "t.toml:37:58: network_acl[0].ingress[5].cidr: 10.0.0.1/16 has host bits set \
             (expected a network address: did you mean 10.0.0.0/16?)",
            "t.toml:38:3: network_acl[0].ingress[6].cidr: missing required field \"cidr\" \
             (expected an IPv4 CIDR such as \"0.0.0.0/0\")",
        ]
    );
}

#[test]
fn associations_resolve_within_the_acls_vpc() {
    assert_eq!(
        diags(&base2(
            &(vpc_b() + &network_acl("acl-1", "vpc-a", &["subnet-b1", "subnet-zz", "sg-a"]))
        )),
        vec![
            "t.toml:41:12: network_acl[0].subnets[0]: subnet \"subnet-b1\" is in vpc-b, but \
             acl-1 is in vpc-a (a network ACL is associated with subnets of its own VPC)",
            "t.toml:41:25: network_acl[0].subnets[1]: unknown subnet \"subnet-zz\" (defined: \
             subnet-a1, subnet-a2, subnet-b1)",
            "t.toml:41:38: network_acl[0].subnets[2]: \"sg-a\" is a security group \
             (security_group[0]), not a subnet",
        ]
    );
}

#[test]
fn check_notes_a_subnet_whose_acl_has_no_entries_in_a_direction() {
    let in_only = network_acl("acl-in-only", "vpc-a", &["subnet-a1"])
        + "ingress = [{ rule = 100, action = \"allow\", protocol = \"all\", cidr = \"0.0.0.0/0\" }]\n";
    let t = parsed(&base2(
        &[
            network_acl("acl-closed", "vpc-a", &["subnet-a2"]),
            in_only,
            network_acl("acl-unused", "vpc-a", &[]),
        ]
        .concat(),
    ));
    assert_eq!(
        crate::config::notes(&t),
        vec![
            "network ACL acl-closed has no inbound or outbound entries: inbound and outbound \
             traffic of subnet-a2 is denied (a custom network ACL denies what no entry allows)",
            "network ACL acl-in-only has no outbound entries: outbound traffic of subnet-a1 is \
             denied (a custom network ACL denies what no entry allows)",
        ]
    );
}
