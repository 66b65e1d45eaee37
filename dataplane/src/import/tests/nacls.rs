//! Network ACLs: `describe-network-acls`, Terraform's four resources and
//! `export aws`, with every report line and error's exact text.

use serde_json::json;

use super::{between, vpc_dump, Dump, State, SUBNET, TF_VPC, VPC};
use crate::config;

const SUBNETS: &str = r#"{"Subnets": [
    {"SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24", "AvailabilityZone": "us-east-1a"},
    {"SubnetId": "subnet-2", "VpcId": "vpc-1", "CidrBlock": "10.0.2.0/24", "AvailabilityZone": "us-east-1a"},
    {"SubnetId": "subnet-3", "VpcId": "vpc-1", "CidrBlock": "10.0.3.0/24", "AvailabilityZone": "us-east-1a"}]}"#;

/// AWS's default ACL of vpc-1, its entries in the order AWS lists them.
const AWS_DEFAULT: &str = r#"{"NetworkAclId": "acl-def", "VpcId": "vpc-1", "IsDefault": true,
    "Entries": [
      {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": true, "CidrBlock": "0.0.0.0/0"},
      {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": true, "CidrBlock": "0.0.0.0/0"},
      {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": false, "CidrBlock": "0.0.0.0/0"},
      {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": false, "CidrBlock": "0.0.0.0/0"}],
    "Associations": [{"NetworkAclId": "acl-def", "SubnetId": "subnet-3"}]}"#;

/// The `[[network_acl]]` tables of a written config.
fn acl_tables(toml: &str) -> String {
    between(toml, "[[network_acl]]", "# ENIs").to_string()
}

fn acls(name: &str, list: &[&str]) -> Dump {
    let file = ("describe-network-acls.json", "NetworkAcls");
    vpc_dump(name, SUBNETS, file, list)
}

#[test]
fn describe_network_acls_map_to_network_acl_tables_sorted_with_awss_own_entries_implied() {
    let d = acls(
        "nacl-map",
        &[
            AWS_DEFAULT,
            r#"{"NetworkAclId": "acl-web", "VpcId": "vpc-1", "IsDefault": false,
              "Tags": [{"Key": "Name", "Value": "web tier"}],
              "Entries": [
                {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": false, "CidrBlock": "0.0.0.0/0"},
                {"RuleNumber": 200, "Protocol": "-1", "RuleAction": "allow", "Egress": false, "CidrBlock": "10.0.0.0/16"},
                {"RuleNumber": 90, "Protocol": "6", "RuleAction": "deny", "Egress": false, "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 22, "To": 22}},
                {"RuleNumber": 120, "Protocol": "1", "RuleAction": "allow", "Egress": false, "CidrBlock": "10.0.0.0/16", "IcmpTypeCode": {"Type": 8, "Code": -1}},
                {"RuleNumber": 130, "Protocol": "17", "RuleAction": "allow", "Egress": false, "CidrBlock": "10.0.0.2/32", "PortRange": {"From": 53, "To": 53}},
                {"RuleNumber": 101, "Protocol": "-1", "RuleAction": "allow", "Egress": false, "Ipv6CidrBlock": "::/0"},
                {"RuleNumber": 140, "Protocol": "50", "RuleAction": "allow", "Egress": false, "CidrBlock": "10.0.0.0/16"},
                {"RuleNumber": 100, "Protocol": "6", "RuleAction": "allow", "Egress": true, "CidrBlock": "10.0.0.0/16", "PortRange": {"From": 1024, "To": 65535}},
                {"RuleNumber": 110, "Protocol": "6", "RuleAction": "allow", "Egress": true, "CidrBlock": "10.0.0.0/16", "PortRange": {"From": 0, "To": 65535}},
                {"RuleNumber": 120, "Protocol": "1", "RuleAction": "allow", "Egress": true, "CidrBlock": "10.0.0.0/16", "IcmpTypeCode": {"Type": -1, "Code": -1}},
                {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": true, "CidrBlock": "0.0.0.0/0"}],
              "Associations": [{"NetworkAclId": "acl-web", "SubnetId": "subnet-1"}]}"#,
            r#"{"NetworkAclId": "acl-closed", "VpcId": "vpc-1", "IsDefault": false, "Entries": [
                {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": false, "CidrBlock": "0.0.0.0/0"}],
              "Associations": []}"#,
        ],
    );
    assert_eq!(
        d.report(),
        [
            "DIR/describe-network-acls.json: NetworkAcls[1].Entries[5]: not imported: inbound entry 101 of network ACL acl-web (::/0): hyperlab is IPv4 only",
        ]
    );
    let i = d.import().unwrap();
    assert_eq!(
        acl_tables(&i.toml),
        r#"[[network_acl]]
id = "acl-web"   # Name: web tier
vpc = "vpc-1"
subnets = ["subnet-1"]
ingress = [
  { rule = 90, action = "deny", protocol = "tcp", ports = 22, cidr = "0.0.0.0/0" },
  { rule = 120, action = "allow", protocol = "icmp", icmp = { type = 8, code = -1 }, cidr = "10.0.0.0/16" },
  { rule = 130, action = "allow", protocol = "udp", ports = 53, cidr = "10.0.0.2/32" },
  { rule = 140, action = "allow", protocol = "50", cidr = "10.0.0.0/16" },
  { rule = 200, action = "allow", protocol = "all", cidr = "10.0.0.0/16" },
]
egress = [
  { rule = 100, action = "allow", protocol = "tcp", ports = "1024-65535", cidr = "10.0.0.0/16" },
  { rule = 110, action = "allow", protocol = "tcp", cidr = "10.0.0.0/16" },
  { rule = 120, action = "allow", protocol = "icmp", cidr = "10.0.0.0/16" },
]

[[network_acl]]
id = "acl-closed"
vpc = "vpc-1"
subnets = []
ingress = []
egress = []

"#
    );
    // AWS's default ACL is the VPC's implied one: subnet-2 (no association)
    // and subnet-3 (associated with it) use it.
    let t = &i.topology;
    let names: Vec<&str> = t
        .subnet_nacls
        .iter()
        .map(|&n| t.network_acls[n].id.as_str())
        .collect();
    assert_eq!(names, ["acl-web", "vpc-1 (default)", "vpc-1 (default)"]);
    assert!(!i.toml.contains("nacl_entries_max"));
}

#[test]
fn a_changed_default_acl_is_written_as_a_custom_acl_for_the_subnets_it_serves() {
    let d = acls(
        "nacl-default",
        &[
            r#"{"NetworkAclId": "acl-c", "VpcId": "vpc-1", "Entries": [],
               "Associations": [{"SubnetId": "subnet-2"}]}"#,
            r#"{"NetworkAclId": "acl-d", "VpcId": "vpc-1", "IsDefault": true, "Entries": [
                {"RuleNumber": 100, "Protocol": "6", "RuleAction": "deny", "Egress": false, "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 22, "To": 22}},
                {"RuleNumber": 200, "Protocol": "-1", "RuleAction": "allow", "Egress": false, "CidrBlock": "0.0.0.0/0"},
                {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": true, "CidrBlock": "0.0.0.0/0"}],
               "Associations": [{"SubnetId": "subnet-1"}]}"#,
        ],
    );
    assert_eq!(
        d.report(),
        ["DIR/describe-network-acls.json: NetworkAcls[1]: note: default network ACL acl-d of vpc-1: its entries are not AWS's default (rule 100 allowing all traffic both ways); written as a custom ACL associated with the subnets it serves (subnet-1, subnet-3)"]
    );
    let i = d.import().unwrap();
    assert_eq!(
        acl_tables(&i.toml),
        r#"[[network_acl]]
id = "acl-c"
vpc = "vpc-1"
subnets = ["subnet-2"]
ingress = []
egress = []

[[network_acl]]
id = "acl-d"
vpc = "vpc-1"
subnets = ["subnet-1", "subnet-3"]
ingress = [
  { rule = 100, action = "deny", protocol = "tcp", ports = 22, cidr = "0.0.0.0/0" },
  { rule = 200, action = "allow", protocol = "all", cidr = "0.0.0.0/0" },
]
egress = [
  { rule = 100, action = "allow", protocol = "all", cidr = "0.0.0.0/0" },
]

"#
    );
}

#[test]
fn more_entries_than_awss_default_quota_raise_nacl_entries_max() {
    let entries = |n: usize| -> String {
        (1..=n)
            .map(|k| format!(r#"{{"RuleNumber": {k}, "Protocol": "-1", "RuleAction": "allow", "Egress": false, "CidrBlock": "10.0.{k}.0/24"}}"#))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let acl = format!(
        r#"{{"NetworkAclId": "acl-big", "VpcId": "vpc-1", "Entries": [{}]}}"#,
        entries(25)
    );
    let d = acls("nacl-quota", &[&acl]);
    assert_eq!(
        d.report(),
        ["DIR/describe-network-acls.json: NetworkAcls[0]: note: network ACL acl-big has 25 inbound entries, over 20 (AWS's default quota is 20; yours was raised): written [lab] nacl_entries_max = 25"]
    );
    let i = d.import().unwrap();
    assert!(i
        .toml
        .contains("[lab]\nname = \"t\"\nnacl_entries_max = 25\n\n"));
    assert_eq!(i.topology.lab.nacl_entries_max, 25);

    // An export says its lab's own quota.
    let file = format!(
        r#"{{"HyperlabNaclEntriesMax": 30, "NetworkAcls": [{}]}}"#,
        acl
    );
    let d = Dump::new(
        "nacl-quota-export",
        &[
            ("describe-vpcs.json", VPC),
            ("describe-network-acls.json", &file),
        ],
    );
    assert_eq!(d.report(), Vec::<String>::new());
    assert_eq!(d.import().unwrap().topology.lab.nacl_entries_max, 30);
}

#[test]
fn network_acl_errors_name_the_file_and_json_path() {
    let entry =
        |e: &str| format!(r#"{{"NetworkAclId": "acl-1", "VpcId": "vpc-1", "Entries": [{e}]}}"#);
    let all =
        r#""Protocol": "-1", "RuleAction": "allow", "Egress": false, "CidrBlock": "0.0.0.0/0""#;
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![entry(&format!(r#"{{"RuleNumber": 0, {all}}}"#))],
            "DIR/describe-network-acls.json: NetworkAcls[0].Entries[0].RuleNumber: AWS refuses rule number 0 (expected 1 to 32766)",
        ),
        (
            vec![entry(r#"{"Protocol": "-1", "RuleAction": "allow", "Egress": false, "CidrBlock": "0.0.0.0/0"}"#)],
            "DIR/describe-network-acls.json: NetworkAcls[0].Entries[0]: an entry without a rule number",
        ),
        (
            vec![entry(r#"{"RuleNumber": 1, "Protocol": "-1", "RuleAction": "allow", "CidrBlock": "0.0.0.0/0"}"#)],
            "DIR/describe-network-acls.json: NetworkAcls[0].Entries[0].Egress: missing (expected a boolean)",
        ),
        (
            vec![entry(r#"{"RuleNumber": 1, "Protocol": "-1", "RuleAction": "permit", "Egress": false, "CidrBlock": "0.0.0.0/0"}"#)],
            "DIR/describe-network-acls.json: NetworkAcls[0].Entries[0].RuleAction: unknown action \"permit\" (expected \"allow\" or \"deny\")",
        ),
        (
            vec![entry(r#"{"RuleNumber": 1, "Protocol": "gre", "RuleAction": "allow", "Egress": false, "CidrBlock": "0.0.0.0/0"}"#)],
            "DIR/describe-network-acls.json: NetworkAcls[0].Entries[0].Protocol: unknown protocol \"gre\" (expected -1, a protocol number, tcp, udp or icmp)",
        ),
        (
            vec![entry(r#"{"RuleNumber": 1, "Protocol": "-1", "RuleAction": "allow", "Egress": false}"#)],
            "DIR/describe-network-acls.json: NetworkAcls[0].Entries[0]: an entry without a CIDR block",
        ),
        (
            vec![entry(r#"{"RuleNumber": 1, "Protocol": "-1", "RuleAction": "allow", "Egress": false, "CidrBlock": "10.0.0.1/16"}"#)],
            "DIR/describe-network-acls.json: NetworkAcls[0].Entries[0].CidrBlock: AWS refuses 10.0.0.1/16: host bits are set (the network is 10.0.0.0/16)",
        ),
        (
            vec![entry(r#"{"RuleNumber": 1, "Protocol": "6", "RuleAction": "allow", "Egress": false, "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 90, "To": 80}}"#)],
            "DIR/describe-network-acls.json: NetworkAcls[0].Entries[0].PortRange.From: AWS refuses the port range 90-80 (from is above to)",
        ),
        (
            vec![entry(r#"{"RuleNumber": 1, "Protocol": "17", "RuleAction": "allow", "Egress": false, "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 53, "To": 70000}}"#)],
            "DIR/describe-network-acls.json: NetworkAcls[0].Entries[0].PortRange.To: AWS refuses port 70000 (expected 0 to 65535)",
        ),
        (
            vec![entry(r#"{"RuleNumber": 1, "Protocol": "1", "RuleAction": "allow", "Egress": false, "CidrBlock": "0.0.0.0/0", "IcmpTypeCode": {"Type": 300}}"#)],
            "DIR/describe-network-acls.json: NetworkAcls[0].Entries[0].IcmpTypeCode.Type: AWS refuses ICMP type 300 (expected -1 for all, or 0 to 255)",
        ),
        (
            vec![entry(&format!(r#"{{"RuleNumber": 5, {all}}}, {{"RuleNumber": 5, {all}}}"#))],
            "DIR/describe-network-acls.json: NetworkAcls[0].Entries[1].RuleNumber: duplicate inbound rule number 5 in network ACL acl-1",
        ),
        (
            vec![r#"{"NetworkAclId": "acl-1", "Entries": []}"#.into()],
            "DIR/describe-network-acls.json: NetworkAcls[0].VpcId: missing",
        ),
        (
            vec![r#"{"NetworkAclId": "acl-1", "VpcId": "vpc-9", "Entries": []}"#.into()],
            "DIR/describe-network-acls.json: NetworkAcls[0].VpcId: unknown VPC vpc-9",
        ),
        (
            vec![r#"{"NetworkAclId": "acl-1", "VpcId": "vpc-1", "Associations": [{"SubnetId": "subnet-9"}]}"#.into()],
            "DIR/describe-network-acls.json: NetworkAcls[0].Associations[0].SubnetId: unknown subnet subnet-9",
        ),
        (
            vec![
                r#"{"NetworkAclId": "acl-1", "VpcId": "vpc-1", "Associations": [{"SubnetId": "subnet-1"}]}"#.into(),
                r#"{"NetworkAclId": "acl-2", "VpcId": "vpc-1", "Associations": [{"SubnetId": "subnet-1"}]}"#.into(),
            ],
            "DIR/describe-network-acls.json: NetworkAcls[1].Associations[0].SubnetId: subnet subnet-1 is already associated with network ACL acl-1 (a subnet has exactly one)",
        ),
        (
            vec![
                r#"{"NetworkAclId": "acl-1", "VpcId": "vpc-1"}"#.into(),
                r#"{"NetworkAclId": "acl-1", "VpcId": "vpc-1"}"#.into(),
            ],
            "DIR/describe-network-acls.json: NetworkAcls[1]: duplicate network ACL acl-1",
        ),
        (
            vec![
                r#"{"NetworkAclId": "acl-1", "VpcId": "vpc-1", "IsDefault": true}"#.into(),
                r#"{"NetworkAclId": "acl-2", "VpcId": "vpc-1", "IsDefault": true}"#.into(),
            ],
            "DIR/describe-network-acls.json: NetworkAcls[1]: a second default network ACL of vpc-1 (the first is acl-1)",
        ),
        (
            vec![entry(
                &(1..=41)
                    .map(|k| format!(r#"{{"RuleNumber": {k}, {all}}}"#))
                    .collect::<Vec<_>>()
                    .join(", "),
            )],
            "DIR/describe-network-acls.json: NetworkAcls[0]: 41 inbound entries: AWS allows at most 40 per direction",
        ),
    ];
    for (k, (list, want)) in cases.into_iter().enumerate() {
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        let d = acls(&format!("nacl-err-{k}"), &refs);
        assert_eq!(d.error(), want);
    }
    // A subnet of another VPC; an export's quota AWS would not allow.
    let d = Dump::new(
        "nacl-err-vpc",
        &[
            (
                "describe-vpcs.json",
                r#"{"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"}, {"VpcId": "vpc-2", "CidrBlock": "10.1.0.0/16"}]}"#,
            ),
            ("describe-subnets.json", SUBNET),
            (
                "describe-network-acls.json",
                r#"{"NetworkAcls": [{"NetworkAclId": "acl-1", "VpcId": "vpc-2", "Associations": [{"SubnetId": "subnet-1"}]}]}"#,
            ),
        ],
    );
    assert_eq!(
        d.error(),
        "DIR/describe-network-acls.json: NetworkAcls[0].Associations[0].SubnetId: subnet subnet-1 is in vpc-1, not in vpc-2 (a network ACL is associated with subnets of its own VPC)"
    );
    let d = Dump::new(
        "nacl-err-max",
        &[
            ("describe-vpcs.json", VPC),
            (
                "describe-network-acls.json",
                r#"{"HyperlabNaclEntriesMax": 41, "NetworkAcls": []}"#,
            ),
        ],
    );
    assert_eq!(
        d.error(),
        "DIR/describe-network-acls.json: HyperlabNaclEntriesMax: 41 entries per direction: expected 1 to 40"
    );
}

#[test]
fn terraform_network_acls_inline_rules_associations_and_the_default() {
    let s = State::new(
        "tf-nacl",
        &[
            TF_VPC,
            (
                "aws_subnet",
                r#"{"id": "subnet-1", "vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a"}"#,
            ),
            (
                "aws_subnet",
                r#"{"id": "subnet-2", "vpc_id": "vpc-1", "cidr_block": "10.0.2.0/24", "availability_zone": "us-east-1a"}"#,
            ),
            (
                "aws_network_acl",
                r#"{"id": "acl-web", "vpc_id": "vpc-1", "subnet_ids": ["subnet-1"], "tags": {"Name": "web"},
                   "ingress": [
                     {"rule_no": 200, "action": "allow", "protocol": "-1", "from_port": 0, "to_port": 0, "cidr_block": "10.0.0.0/16", "ipv6_cidr_block": "", "icmp_type": 0, "icmp_code": 0},
                     {"rule_no": 100, "action": "allow", "protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_block": "0.0.0.0/0", "ipv6_cidr_block": "", "icmp_type": 0, "icmp_code": 0}],
                   "egress": [
                     {"rule_no": 100, "action": "allow", "protocol": "6", "from_port": 1024, "to_port": 65535, "cidr_block": "0.0.0.0/0", "ipv6_cidr_block": "", "icmp_type": 0, "icmp_code": 0},
                     {"rule_no": 110, "action": "allow", "protocol": "-1", "from_port": 0, "to_port": 0, "cidr_block": "", "ipv6_cidr_block": "::/0", "icmp_type": 0, "icmp_code": 0}]}"#,
            ),
            (
                "aws_network_acl_rule",
                r#"{"network_acl_id": "acl-web", "rule_number": 120, "egress": false, "protocol": "icmp", "rule_action": "allow", "cidr_block": "10.0.0.0/16", "from_port": 0, "to_port": 0, "icmp_type": 8, "icmp_code": -1}"#,
            ),
            (
                "aws_network_acl",
                r#"{"id": "acl-db", "vpc_id": "vpc-1", "subnet_ids": [], "ingress": [], "egress": []}"#,
            ),
            (
                "aws_network_acl_association",
                r#"{"id": "aclassoc-1", "network_acl_id": "acl-db", "subnet_id": "subnet-2"}"#,
            ),
            (
                "aws_default_network_acl",
                r#"{"id": "acl-def", "default_network_acl_id": "acl-def", "vpc_id": "vpc-1", "subnet_ids": [],
                   "ingress": [{"rule_no": 100, "action": "allow", "protocol": "-1", "from_port": 0, "to_port": 0, "cidr_block": "0.0.0.0/0"}],
                   "egress": [{"rule_no": 100, "action": "allow", "protocol": "-1", "from_port": 0, "to_port": 0, "cidr_block": "0.0.0.0/0"}]}"#,
            ),
        ],
    );
    let i = s.import().unwrap();
    assert_eq!(
        i.report
            .iter()
            .map(|l| l.replace(&s.0.display().to_string(), "STATE"))
            .collect::<Vec<_>>(),
        ["STATE: values.root_module.resources[3].values.egress[1]: not imported: outbound entry 110 of network ACL acl-web (::/0): hyperlab is IPv4 only"]
    );
    assert_eq!(
        acl_tables(&i.toml),
        r#"[[network_acl]]
id = "acl-web"   # Name: web
vpc = "vpc-1"
subnets = ["subnet-1"]
ingress = [
  { rule = 100, action = "allow", protocol = "tcp", ports = 80, cidr = "0.0.0.0/0" },
  { rule = 120, action = "allow", protocol = "icmp", icmp = { type = 8, code = -1 }, cidr = "10.0.0.0/16" },
  { rule = 200, action = "allow", protocol = "all", cidr = "10.0.0.0/16" },
]
egress = [
  { rule = 100, action = "allow", protocol = "tcp", ports = "1024-65535", cidr = "0.0.0.0/0" },
]

[[network_acl]]
id = "acl-db"
vpc = "vpc-1"
subnets = ["subnet-2"]
ingress = []
egress = []

"#
    );
    let s = State::new(
        "tf-nacl-err",
        &[
            TF_VPC,
            (
                "aws_network_acl_rule",
                r#"{"network_acl_id": "acl-9", "rule_number": 1, "egress": false, "protocol": "-1", "rule_action": "allow", "cidr_block": "0.0.0.0/0"}"#,
            ),
        ],
    );
    assert_eq!(
        s.error(),
        "STATE: values.root_module.resources[1].values.network_acl_id: unknown network ACL acl-9"
    );
    let s = State::new(
        "tf-nacl-err2",
        &[
            TF_VPC,
            (
                "aws_network_acl",
                r#"{"id": "acl-1", "vpc_id": "vpc-1", "ingress": [{"rule_no": 1, "action": "allow", "protocol": "-1", "cidr_block": "0.0.0.0/0"}],
                   "egress": []}"#,
            ),
            (
                "aws_network_acl_rule",
                r#"{"network_acl_id": "acl-1", "rule_number": 1, "egress": false, "protocol": "-1", "rule_action": "deny", "cidr_block": "0.0.0.0/0"}"#,
            ),
        ],
    );
    assert_eq!(
        s.error(),
        "STATE: values.root_module.resources[2].values.rule_number: duplicate inbound rule number 1 in network ACL acl-1"
    );
}

#[test]
fn export_writes_describe_network_acls_with_awss_own_entries_and_the_defaults() {
    let t = config::parse_str(
        r#"
[lab]
name = "x"
nacl_entries_max = 30

[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-1"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-2"
vpc = "vpc-a"
cidr = "10.0.2.0/24"
az = "use1-az1"

[[network_acl]]
id = "acl-1"
vpc = "vpc-a"
subnets = ["subnet-1"]
ingress = [
  { rule = 100, action = "allow", protocol = "tcp", ports = 80, cidr = "10.0.0.0/16" },
  { rule = 110, action = "deny", protocol = "icmp", icmp = { type = 8, code = -1 }, cidr = "0.0.0.0/0" },
]
egress = [{ rule = 100, action = "allow", protocol = "all", cidr = "0.0.0.0/0" }]
"#,
        "x.toml",
    )
    .unwrap();
    let files = super::super::export::aws(&t).files;
    let (_, acls) = files
        .iter()
        .find(|(p, _)| p == "ec2/describe-network-acls.json")
        .unwrap();
    let star = |egress: bool| json!({"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": egress, "CidrBlock": "0.0.0.0/0"});
    let all = |egress: bool| json!({"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": egress, "CidrBlock": "0.0.0.0/0"});
    assert_eq!(
        acls,
        &json!({
            "HyperlabNaclEntriesMax": 30,
            "NetworkAcls": [
                {
                    "NetworkAclId": "acl-1", "VpcId": "vpc-a", "IsDefault": false, "OwnerId": "123456789012", "Tags": [],
                    "Entries": [
                        {"RuleNumber": 100, "Protocol": "6", "RuleAction": "allow", "Egress": false, "CidrBlock": "10.0.0.0/16", "PortRange": {"From": 80, "To": 80}},
                        {"RuleNumber": 110, "Protocol": "1", "RuleAction": "deny", "Egress": false, "CidrBlock": "0.0.0.0/0", "IcmpTypeCode": {"Type": 8, "Code": -1}},
                        star(false),
                        all(true),
                        star(true),
                    ],
                    "Associations": [{"NetworkAclAssociationId": "aclassoc-subnet-1", "NetworkAclId": "acl-1", "SubnetId": "subnet-1"}],
                },
                {
                    "NetworkAclId": "acl-default-vpc-a", "VpcId": "vpc-a", "IsDefault": true, "OwnerId": "123456789012", "Tags": [],
                    "Entries": [all(false), star(false), all(true), star(true)],
                    "Associations": [{"NetworkAclAssociationId": "aclassoc-subnet-2", "NetworkAclId": "acl-default-vpc-a", "SubnetId": "subnet-2"}],
                },
            ],
        })
    );
    let (got, report) = super::round_trip(&t, "nacl-export");
    assert_eq!(report, Vec::<String>::new());
    assert_eq!(got, t);
}
