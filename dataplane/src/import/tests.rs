//! Tests of `import`: the worked example against the shipped config it
//! stands for, the tolerances real dumps need, and every error's exact text.

use std::path::{Path, PathBuf};

use super::{aws_dir, terraform_file, ImportError, Imported};
use crate::config;
use crate::model::HealthProtocol;

mod gateways;
mod nacls;
mod routes;

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

/// A dump directory of `(relative path, JSON)` files, removed on drop.
struct Dump(PathBuf);

impl Dump {
    fn new(name: &str, files: &[(&str, &str)]) -> Dump {
        let dir =
            std::env::temp_dir().join(format!("hyperlab-import-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (rel, json) in files {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, json).unwrap();
        }
        Dump(dir)
    }

    fn import(&self) -> Result<Imported, ImportError> {
        aws_dir(&self.0, "t")
    }

    /// The error's text, with the directory shown as `DIR`.
    fn error(&self) -> String {
        match self.import() {
            Ok(i) => panic!("expected an error, got\n{}", i.toml),
            Err(e) => e.to_string().replace(&self.0.display().to_string(), "DIR"),
        }
    }

    /// The report, with the directory shown as `DIR`.
    fn report(&self) -> Vec<String> {
        match self.import() {
            Ok(i) => i
                .report
                .iter()
                .map(|l| l.replace(&self.0.display().to_string(), "DIR"))
                .collect(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// A dump of vpc-1 (`VPC`), `subnets` (a `describe-subnets` answer) and
/// the EC2 call `file` listing `list` under `key`.
fn vpc_dump(name: &str, subnets: &str, (file, key): (&str, &str), list: &[&str]) -> Dump {
    let listed = format!(r#"{{"{key}": [{}]}}"#, list.join(", "));
    Dump::new(
        name,
        &[
            ("describe-vpcs.json", VPC),
            ("describe-subnets.json", subnets),
            (file, &listed),
        ],
    )
}

/// The text of a written config from the first `from` to the next `to`.
fn between<'t>(toml: &'t str, from: &str, to: &str) -> &'t str {
    let start = toml.find(from).expect("written");
    let end = toml[start..].find(to).expect("then the next") + start;
    &toml[start..end]
}

impl Drop for Dump {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// configs/privatelink.toml as AWS would hold it: AWS counts health-check
/// time in whole seconds (an NLB's TCP check: every 10 s, 10 s to answer),
/// where the TOML checks every second.
fn privatelink_as_in_aws() -> crate::model::Topology {
    let mut want = config::load(&configs().join("privatelink.toml")).unwrap();
    let hc = want.services.target_groups[0]
        .health_check
        .as_mut()
        .unwrap();
    assert_eq!(hc.protocol, HealthProtocol::Tcp);
    (hc.interval_ms, hc.timeout_ms) = (10_000, 10_000);
    want
}

#[test]
fn the_privatelink_describe_dump_imports_to_the_shipped_privatelink_topology() {
    let dir = configs().join("import/privatelink/aws");
    let got = aws_dir(&dir, "plink").unwrap();
    assert_eq!(got.topology, privatelink_as_in_aws());
    let d = dir.display();
    assert_eq!(
        got.report,
        [
            format!("{d}/ec2/describe-vpcs.json: Vpcs[2]: not imported: VPC vpc-0d3f5c1e9a7b2c4d6: the account's default VPC, with nothing in it"),
            format!("{d}/ec2/describe-subnets.json: Subnets[4]: not imported: subnet subnet-0a9d2e4c6b8f1a3c5: in vpc-0d3f5c1e9a7b2c4d6, the account's default VPC, with nothing in it"),
            format!("{d}/ec2/describe-security-groups.json: SecurityGroups[0]: not imported: security group sg-0c1d2e3f4a5b6c7d8: the VPC's default group, used by nothing"),
            format!("{d}/ec2/describe-security-groups.json: SecurityGroups[3]: not imported: security group sg-0f9e8d7c6b5a4f3e2: the VPC's default group, used by nothing"),
            format!("{d}/ec2/describe-security-groups.json: SecurityGroups[6]: not imported: security group sg-0a7b6c5d4e3f2a1b0: its VPC vpc-0d3f5c1e9a7b2c4d6: VPC vpc-0d3f5c1e9a7b2c4d6 is not imported"),
        ]
    );
    // What is written is what was checked.
    assert_eq!(
        config::parse_str(&got.toml, "x.toml").unwrap(),
        got.topology
    );
}

const VPC: &str =
    r#"{"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16", "IsDefault": false}]}"#;
const SUBNET: &str = r#"{"Subnets": [{"SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24", "AvailabilityZone": "us-east-1a"}]}"#;

#[test]
fn emulator_quirks_are_tolerated_lower_camel_keys_tagset_and_empty_strings() {
    let d = Dump::new(
        "quirks",
        &[
            (
                "describe-vpcs.json",
                r#"{"vpcs": [{"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/16", "tags": [{"key": "Name", "value": "main"}], "ipv6CidrBlockAssociationSet": []}]}"#,
            ),
            (
                "describe-subnets.json",
                r#"{"Subnets": [{"SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24", "AvailabilityZone": "us-east-1a", "AvailabilityZoneId": ""}]}"#,
            ),
            (
                "describe-security-groups.json",
                r#"{"SecurityGroups": [{"GroupId": "sg-1", "VpcId": "vpc-1", "GroupName": "web", "IpPermissions": [{"IpProtocol": "tcp", "FromPort": "80", "ToPort": "80", "IpRanges": [{"CidrIp": "10.0.0.0/16"}], "UserIdGroupPairs": [{"GroupId": "sg-1", "VpcPeeringConnectionId": ""}]}]}]}"#,
            ),
            (
                "describe-network-interfaces.json",
                r#"{"NetworkInterfaces": [{"NetworkInterfaceId": "eni-1", "SubnetId": "subnet-1", "PrivateIpAddress": "10.0.1.9", "Groups": [{"GroupId": "sg-1"}], "TagSet": [{"Key": "Name", "Value": "Web Server #1"}], "Attachment": {"InstanceId": ""}}]}"#,
            ),
        ],
    );
    let i = d.import().unwrap();
    assert_eq!(i.report, Vec::<String>::new());
    let t = &i.topology;
    assert_eq!(t.vpcs[0].id, "vpc-1");
    assert_eq!(t.subnets[0].az, "us-east-1a");
    assert_eq!(t.enis[0].host, "web-server-1");
    assert_eq!(t.security_groups[0].ingress.len(), 2);
    assert!(
        i.toml.contains("id = \"vpc-1\"   # Name: main\n"),
        "{}",
        i.toml
    );
    // No egress in the dump: AWS's default.
    assert!(
        i.toml.contains("# no egress in the dump: AWS's default"),
        "{}",
        i.toml
    );
}

#[test]
fn loopback_and_outside_addresses_are_moved_into_the_subnet_with_a_warning() {
    let d = Dump::new(
        "readdress",
        &[
            ("ec2/describe-vpcs.json", VPC),
            ("ec2/describe-subnets.json", SUBNET),
            (
                "ec2/describe-network-interfaces.json",
                r#"{"NetworkInterfaces": [
                {"NetworkInterfaceId": "eni-a", "SubnetId": "subnet-1", "PrivateIpAddress": "127.0.0.1"},
                {"NetworkInterfaceId": "eni-b", "SubnetId": "subnet-1", "PrivateIpAddress": "10.0.1.4"},
                {"NetworkInterfaceId": "eni-c", "SubnetId": "subnet-1", "PrivateIpAddress": "10.9.9.9"},
                {"NetworkInterfaceId": "eni-d", "SubnetId": "subnet-1", "PrivateIpAddress": "10.0.1.4"},
                {"NetworkInterfaceId": "eni-e", "SubnetId": "subnet-1", "PrivateIpAddress": "10.0.1.1"}]}"#,
            ),
        ],
    );
    assert_eq!(
        d.report(),
        [
            "DIR/ec2/describe-network-interfaces.json: NetworkInterfaces[0]: warning: network interface eni-a: no security groups, and the dump has no default group for vpc-1: made vpc-1-default as AWS makes one (all traffic from its members)",
            "DIR/ec2/describe-network-interfaces.json: NetworkInterfaces[0]: warning: network interface eni-a: 127.0.0.1 is a loopback address; re-addressed to 10.0.1.5 in subnet-1 (10.0.1.0/24)",
            "DIR/ec2/describe-network-interfaces.json: NetworkInterfaces[2]: warning: network interface eni-c: 10.9.9.9 is outside subnet-1 (10.0.1.0/24); re-addressed to 10.0.1.6 in subnet-1 (10.0.1.0/24)",
            "DIR/ec2/describe-network-interfaces.json: NetworkInterfaces[3]: warning: network interface eni-d: 10.0.1.4 is already used in vpc-1; re-addressed to 10.0.1.7 in subnet-1 (10.0.1.0/24)",
            "DIR/ec2/describe-network-interfaces.json: NetworkInterfaces[4]: warning: network interface eni-e: 10.0.1.1 is reserved by AWS in 10.0.1.0/24; re-addressed to 10.0.1.8 in subnet-1 (10.0.1.0/24)",
        ]
    );
    let ips: Vec<String> = d
        .import()
        .unwrap()
        .topology
        .enis
        .iter()
        .map(|e| e.ip.to_string())
        .collect();
    assert_eq!(
        ips,
        ["10.0.1.5", "10.0.1.4", "10.0.1.6", "10.0.1.7", "10.0.1.8"]
    );
}

#[test]
fn instances_name_hosts_and_an_instance_without_listed_enis_gets_one() {
    let d = Dump::new(
        "instances",
        &[
            ("describe-vpcs.json", VPC),
            ("describe-subnets.json", SUBNET),
            (
                "describe-instances.json",
                r#"{"Reservations": [{"Instances": [
                {"InstanceId": "i-0123456789abcdef0", "SubnetId": "subnet-1", "PrivateIpAddress": "10.0.1.10", "State": {"Name": "running"}},
                {"InstanceId": "i-1", "SubnetId": "subnet-1", "PrivateIpAddress": "10.0.1.11", "Tags": [{"Key": "Name", "Value": "API"}]},
                {"InstanceId": "i-2", "SubnetId": "subnet-1", "PrivateIpAddress": "10.0.1.12", "Tags": [{"Key": "Name", "Value": "api"}]},
                {"InstanceId": "i-3", "SubnetId": "subnet-1", "PrivateIpAddress": "10.0.1.13", "State": {"Name": "terminated"}}]}]}"#,
            ),
        ],
    );
    let i = d.import().unwrap();
    let hosts: Vec<(&str, &str)> = i
        .topology
        .enis
        .iter()
        .map(|e| (e.id.as_str(), e.host.as_str()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("i-0123456789abcdef0", "i-0123456789abc"),
            ("i-1", "api"),
            ("i-2", "api-2")
        ]
    );
    assert_eq!(
        d.report(),
        [
            "DIR/describe-instances.json: Reservations[0].Instances[3]: not imported: instance i-3: it is terminated",
            "DIR/describe-instances.json: Reservations[0].Instances[0]: warning: network interface i-0123456789abcdef0: no security groups, and the dump has no default group for vpc-1: made vpc-1-default as AWS makes one (all traffic from its members)",
        ]
    );
    // Every host is a member of the group AWS would have given it.
    let t = &i.topology;
    assert_eq!(t.security_groups[0].id, "vpc-1-default");
    assert!(t.enis.iter().all(|e| e.security_groups == [0]));
}

#[test]
fn rules_hyperlab_cannot_express_are_listed_not_widened() {
    let d = Dump::new(
        "rules",
        &[
            ("describe-vpcs.json", VPC),
            (
                "describe-security-groups.json",
                r#"{"SecurityGroups": [{"GroupId": "sg-1", "VpcId": "vpc-1", "IpPermissions": [
                {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
                {"IpProtocol": "50", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "Ipv6Ranges": [{"CidrIpv6": "::/0"}], "PrefixListIds": [{"PrefixListId": "pl-1"}]},
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": "sg-9", "UserId": "999", "VpcPeeringConnectionId": "pcx-1"}]}],
                "IpPermissionsEgress": []}]}"#,
            ),
        ],
    );
    assert_eq!(
        d.report(),
        [
            "DIR/describe-security-groups.json: SecurityGroups[0].IpPermissions[2].Ipv6Ranges[0]: not imported: ingress rule of sg-1 (tcp ::/0): hyperlab is IPv4 only",
            "DIR/describe-security-groups.json: SecurityGroups[0].IpPermissions[2].PrefixListIds[0]: not imported: ingress rule of sg-1 (tcp pl-1): prefix list pl-1: prefix lists are not modelled by hyperlab",
            "DIR/describe-security-groups.json: SecurityGroups[0].IpPermissions[3].UserIdGroupPairs[0]: not imported: ingress rule of sg-1 (tcp sg-9 through pcx-1): group sg-9 through pcx-1: peering is not modelled by hyperlab yet",
        ]
    );
    // ICMP type 8 (any code) and ESP by number are imported as such.
    let g = &d.import().unwrap().topology.security_groups[0];
    let any = crate::model::Peer::Cidr("10.0.0.0/8".parse().unwrap());
    assert_eq!(
        g.ingress,
        [
            crate::model::test_support::rule(
                crate::model::Protocol::Icmp,
                (0x0800, 0x08ff),
                any.clone()
            ),
            crate::model::test_support::rule(crate::model::Protocol::Number(50), (0, 65535), any),
        ]
    );
    assert!(g.egress.is_empty());
}

#[test]
fn a_kind_not_in_the_dump_skips_what_needs_it() {
    // Subnets without describe-vpcs: nothing to put them in, but no error.
    let d = Dump::new("subset", &[("describe-subnets.json", SUBNET)]);
    assert_eq!(
        d.report(),
        ["DIR/describe-subnets.json: Subnets[0]: not imported: subnet subnet-1: its VPC vpc-1 is not in the dump (no describe-vpcs)"]
    );
}

#[test]
fn unknown_files_are_listed_and_gateways_and_peerings_of_missing_vpcs_are_not_imported() {
    // Neither VPC nor subnet is in the dump: the gateways are listed with
    // what they miss.
    let d = Dump::new(
        "gateways",
        &[
            ("notes.txt", "hello"),
            ("ec2/describe-things.json", "{}"),
            (
                "ec2/describe-nat-gateways.json",
                r#"{"NatGateways": [{"NatGatewayId": "nat-1", "SubnetId": "subnet-1"}]}"#,
            ),
            (
                "ec2/describe-internet-gateways.json",
                r#"{"InternetGateways": [{"InternetGatewayId": "igw-1", "Attachments": [{"VpcId": "vpc-1", "State": "available"}]}]}"#,
            ),
            (
                "ec2/describe-vpc-peering-connections.json",
                r#"{"VpcPeeringConnections": [{"VpcPeeringConnectionId": "pcx-1", "RequesterVpcInfo": {"VpcId": "vpc-1"}, "AccepterVpcInfo": {"VpcId": "vpc-2"}}]}"#,
            ),
        ],
    );
    assert_eq!(
        d.report(),
        [
            "DIR/ec2/describe-things.json: ignored: not the output of a call import reads (see docs/IMPORT.md)",
            "DIR/notes.txt: ignored: not a .json file",
            "DIR/ec2/describe-vpc-peering-connections.json: VpcPeeringConnections[0]: not imported: VPC peering connection pcx-1: its VPC vpc-2 is not in the dump (no describe-vpcs)",
            "DIR/ec2/describe-internet-gateways.json: InternetGateways[0]: not imported: internet gateway igw-1: its VPC vpc-1 is not in the dump (no describe-vpcs)",
            "DIR/ec2/describe-nat-gateways.json: NatGateways[0]: not imported: NAT gateway nat-1: its subnet subnet-1 is not in the dump (no describe-subnets)",
        ]
    );
}

#[test]
fn malformed_json_names_the_file_line_and_column() {
    let d = Dump::new(
        "malformed",
        &[(
            "ec2/describe-vpcs.json",
            "{\"Vpcs\": [\n  {\"VpcId\": \"vpc-1\",}\n]}",
        )],
    );
    assert_eq!(
        d.error(),
        "DIR/ec2/describe-vpcs.json: malformed JSON at line 2 column 21: trailing comma"
    );
    // What a failed `aws ... > file.json` leaves.
    let d = Dump::new("empty", &[("ec2/describe-vpcs.json", "")]);
    assert_eq!(
        d.error(),
        "DIR/ec2/describe-vpcs.json: empty file (did the call that wrote it fail?)"
    );
}

#[test]
fn a_file_of_another_call_is_refused_and_named() {
    let d = Dump::new("wrong-call", &[("ec2/describe-subnets.json", VPC)]);
    assert_eq!(
        d.error(),
        "DIR/ec2/describe-subnets.json: not the output of `aws ec2 describe-subnets`: no \"Subnets\" member (this looks like the output of `aws ec2 describe-vpcs`)"
    );
    let d = Dump::new("not-an-object", &[("describe-vpcs.json", "[]")]);
    assert_eq!(
        d.error(),
        "DIR/describe-vpcs.json: not the output of `aws ec2 describe-vpcs`: expected an object with a \"Vpcs\" array"
    );
}

#[test]
fn a_reference_to_a_missing_group_names_its_json_path() {
    let d = Dump::new(
        "missing-group",
        &[
            ("describe-vpcs.json", VPC),
            (
                "describe-security-groups.json",
                r#"{"SecurityGroups": [{"GroupId": "sg-1", "VpcId": "vpc-1", "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": "sg-123"}]}]}]}"#,
            ),
        ],
    );
    assert_eq!(
        d.error(),
        "DIR/describe-security-groups.json: SecurityGroups[0].IpPermissions[0].UserIdGroupPairs[0].GroupId: unknown group sg-123"
    );
}

/// A dump's files: (relative path, JSON).
type Files<'a> = &'a [(&'a str, &'a str)];

#[test]
fn references_to_missing_vpcs_subnets_instances_and_enis_are_errors() {
    let cases: &[(&str, Files, &str)] = &[
        (
            "missing-vpc",
            &[("describe-vpcs.json", VPC), ("describe-subnets.json", r#"{"Subnets": [{"SubnetId": "subnet-1", "VpcId": "vpc-9", "CidrBlock": "10.0.1.0/24"}]}"#)],
            "DIR/describe-subnets.json: Subnets[0].VpcId: unknown VPC vpc-9",
        ),
        (
            "missing-subnet",
            &[("describe-vpcs.json", VPC), ("describe-subnets.json", SUBNET), ("describe-network-interfaces.json", r#"{"NetworkInterfaces": [{"NetworkInterfaceId": "eni-1", "SubnetId": "subnet-2", "PrivateIpAddress": "10.0.1.9"}]}"#)],
            "DIR/describe-network-interfaces.json: NetworkInterfaces[0].SubnetId: unknown subnet subnet-2",
        ),
        (
            "missing-eni-group",
            &[("describe-vpcs.json", VPC), ("describe-subnets.json", SUBNET), ("describe-security-groups.json", r#"{"SecurityGroups": []}"#), ("describe-network-interfaces.json", r#"{"NetworkInterfaces": [{"NetworkInterfaceId": "eni-1", "SubnetId": "subnet-1", "PrivateIpAddress": "10.0.1.9", "Groups": [{"GroupId": "sg-7"}]}]}"#)],
            "DIR/describe-network-interfaces.json: NetworkInterfaces[0].Groups[0].GroupId: unknown security group sg-7",
        ),
        (
            "missing-endpoint-eni",
            &[("describe-network-interfaces.json", r#"{"NetworkInterfaces": []}"#), ("describe-vpc-endpoint-service-configurations.json", r#"{"ServiceConfigurations": []}"#), ("describe-vpc-endpoints.json", r#"{"VpcEndpoints": [{"VpcEndpointId": "vpce-1", "VpcId": "vpc-1", "ServiceName": "svc", "NetworkInterfaceIds": ["eni-404"]}]}"#)],
            "",
        ),
        (
            "missing-connection-endpoint",
            &[("describe-vpc-endpoints.json", r#"{"VpcEndpoints": []}"#), ("describe-vpc-endpoint-connections.json", r#"{"VpcEndpointConnections": [{"VpcEndpointId": "vpce-404"}]}"#)],
            "DIR/describe-vpc-endpoint-connections.json: VpcEndpointConnections[0].VpcEndpointId: unknown endpoint vpce-404",
        ),
    ];
    for (name, files, want) in cases {
        let d = Dump::new(name, files);
        if want.is_empty() {
            // The service is not in the dump: the endpoint is listed, not an error.
            assert_eq!(
                d.report(),
                ["DIR/describe-vpc-endpoints.json: VpcEndpoints[0]: not imported: VPC endpoint vpce-1: its service svc is not in the dump (an AWS service, or another account's)"],
                "{name}"
            );
        } else {
            assert_eq!(d.error(), *want, "{name}");
        }
    }
}

#[test]
fn cidrs_aws_would_refuse_are_errors() {
    let cases = [
        (
            r#"{"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/8"}]}"#,
            SUBNET,
            "DIR/describe-vpcs.json: Vpcs[0].CidrBlock: AWS refuses 10.0.0.0/8: the prefix must be /16 to /28",
        ),
        (
            r#"{"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.1/16"}]}"#,
            SUBNET,
            "DIR/describe-vpcs.json: Vpcs[0].CidrBlock: AWS refuses 10.0.0.1/16: host bits are set (the network is 10.0.0.0/16)",
        ),
        (
            r#"{"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/33"}]}"#,
            SUBNET,
            "DIR/describe-vpcs.json: Vpcs[0].CidrBlock: invalid CIDR \"10.0.0.0/33\" (expected an IPv4 network such as 10.0.0.0/16)",
        ),
        (
            VPC,
            r#"{"Subnets": [{"SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.1.1.0/24"}]}"#,
            "DIR/describe-subnets.json: Subnets[0].CidrBlock: AWS refuses 10.1.1.0/24: it is outside the CIDR of vpc-1 (10.0.0.0/16)",
        ),
        (
            VPC,
            r#"{"Subnets": [{"SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/29"}]}"#,
            "DIR/describe-subnets.json: Subnets[0].CidrBlock: AWS refuses 10.0.1.0/29: the prefix must be /16 to /28",
        ),
    ];
    for (i, (vpcs, subnets, want)) in cases.iter().enumerate() {
        let d = Dump::new(
            &format!("cidr{i}"),
            &[
                ("describe-vpcs.json", vpcs),
                ("describe-subnets.json", subnets),
            ],
        );
        assert_eq!(d.error(), *want);
    }
    let d = Dump::new(
        "cidr-rule",
        &[
            ("describe-vpcs.json", VPC),
            (
                "describe-security-groups.json",
                r#"{"SecurityGroups": [{"GroupId": "sg-1", "VpcId": "vpc-1", "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.5/16"}]}]}]}"#,
            ),
        ],
    );
    assert_eq!(
        d.error(),
        "DIR/describe-security-groups.json: SecurityGroups[0].IpPermissions[0].IpRanges[0].CidrIp: AWS refuses 10.0.0.5/16: host bits are set (the network is 10.0.0.0/16)"
    );
}

#[test]
fn wrong_types_and_missing_ids_name_their_json_path() {
    let cases = [
        (
            r#"{"Vpcs": {}}"#,
            "DIR/describe-vpcs.json: Vpcs: expected an array, found an object",
        ),
        (
            r#"{"Vpcs": [{"CidrBlock": "10.0.0.0/16"}]}"#,
            "DIR/describe-vpcs.json: Vpcs[0].VpcId: missing (expected a string)",
        ),
        (
            r#"{"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16", "IsDefault": [true]}]}"#,
            "DIR/describe-vpcs.json: Vpcs[0].IsDefault: expected a boolean, found an array",
        ),
        (
            r#"{"vpcs": [{"vpcId": 7}]}"#,
            "DIR/describe-vpcs.json: vpcs[0].vpcId: expected a string, found a number",
        ),
    ];
    for (i, (json, want)) in cases.iter().enumerate() {
        let d = Dump::new(&format!("types{i}"), &[("describe-vpcs.json", json)]);
        assert_eq!(d.error(), *want);
    }
}

#[test]
fn the_privatelink_terraform_state_imports_to_the_same_topology_as_its_describe_dump() {
    let file = configs().join("import/privatelink/terraform.json");
    let got = terraform_file(&file, "plink").unwrap();
    assert_eq!(got.topology, privatelink_as_in_aws());
    let aws = aws_dir(&configs().join("import/privatelink/aws"), "plink").unwrap();
    assert_eq!(got.topology, aws.topology);
    let f = file.display();
    assert_eq!(
        got.report,
        [
            format!("{f}: values.root_module.child_modules[0].resources[20]: not imported: module.provider.aws_egress_only_internet_gateway.provider (eigw-0provider): egress-only internet gateways (IPv6) are not modelled by hyperlab"),
        ]
    );
}

/// A `terraform show -json` document of `resources` (JSON objects of
/// `type` and `values`) in the root module, written to a temp file.
struct State(PathBuf);

impl State {
    fn new(name: &str, resources: &[(&str, &str)]) -> State {
        let list: Vec<String> = resources
            .iter()
            .enumerate()
            .map(|(i, (t, v))| {
                format!(r#"{{"address": "{t}.r{i}", "mode": "managed", "type": "{t}", "name": "r{i}", "values": {v}}}"#)
            })
            .collect();
        let text = format!(
            r#"{{"format_version": "1.0", "values": {{"root_module": {{"resources": [{}]}}}}}}"#,
            list.join(", ")
        );
        State::raw(name, &text)
    }

    fn raw(name: &str, text: &str) -> State {
        let f = std::env::temp_dir().join(format!(
            "hyperlab-import-{}-{name}.json",
            std::process::id()
        ));
        std::fs::write(&f, text).unwrap();
        State(f)
    }

    fn import(&self) -> Result<Imported, ImportError> {
        terraform_file(&self.0, "t")
    }

    fn error(&self) -> String {
        match self.import() {
            Ok(i) => panic!("expected an error, got\n{}", i.toml),
            Err(e) => e
                .to_string()
                .replace(&self.0.display().to_string(), "STATE"),
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const TF_VPC: (&str, &str) = (
    "aws_vpc",
    r#"{"id": "vpc-1", "cidr_block": "10.0.0.0/16", "tags": {"Name": "main"}}"#,
);

#[test]
fn terraform_errors_name_the_file_and_json_path() {
    let cases: Vec<(State, &str)> = vec![
        (State::raw("tf-malformed", "{\"values\": "), "STATE: malformed JSON at line 1 column 11: EOF while parsing a value"),
        (
            State::raw("tf-raw", r#"{"version": 4, "terraform_version": "1.5.7", "resources": []}"#),
            "STATE: not `terraform show -json` output: no values.root_module (this is a raw state file: run `terraform show -json` and import its output)",
        ),
        (State::raw("tf-describe", VPC), "STATE: not `terraform show -json` output: no values.root_module"),
        (
            State::new("tf-subnet", &[TF_VPC, ("aws_subnet", r#"{"id": "subnet-1", "vpc_id": "vpc-9", "cidr_block": "10.0.1.0/24"}"#)]),
            "STATE: values.root_module.resources[1].values.vpc_id: unknown VPC vpc-9",
        ),
        (
            State::new("tf-cidr", &[("aws_vpc", r#"{"id": "vpc-1", "cidr_block": "10.0.0.0/12"}"#)]),
            "STATE: values.root_module.resources[0].values.cidr_block: AWS refuses 10.0.0.0/12: the prefix must be /16 to /28",
        ),
        (
            State::new("tf-rule", &[TF_VPC, ("aws_security_group", r#"{"id": "sg-1", "vpc_id": "vpc-1", "ingress": []}"#), ("aws_vpc_security_group_ingress_rule", r#"{"security_group_id": "sg-1", "ip_protocol": "tcp", "from_port": 22, "to_port": 22, "referenced_security_group_id": "sg-123"}"#)]),
            "STATE: values.root_module.resources[2].values.referenced_security_group_id: unknown group sg-123",
        ),
        (
            State::new("tf-attach", &[("aws_lb_target_group_attachment", r#"{"target_group_arn": "arn:tg/404", "target_id": "i-1"}"#)]),
            "STATE: values.root_module.resources[0].values.target_group_arn: unknown target group arn:tg/404",
        ),
        (
            State::new("tf-type", &[("aws_vpc", r#"{"id": ["vpc-1"]}"#)]),
            "STATE: values.root_module.resources[0].values.id: expected a string, found an array",
        ),
    ];
    for (state, want) in cases {
        assert_eq!(state.error(), want);
    }
}

#[test]
fn terraform_inline_and_separate_rules_merge_and_self_names_the_group() {
    let s = State::new(
        "tf-rules",
        &[
            TF_VPC,
            (
                "aws_security_group",
                r#"{"id": "sg-1", "vpc_id": "vpc-1", "name": "web",
               "ingress": [{"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["10.0.0.0/8"], "self": true, "security_groups": [], "ipv6_cidr_blocks": [], "prefix_list_ids": []}],
               "egress": []}"#,
            ),
            (
                "aws_vpc_security_group_ingress_rule",
                r#"{"security_group_id": "sg-1", "ip_protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_ipv4": "10.0.0.0/8"}"#,
            ),
            (
                "aws_security_group_rule",
                r#"{"type": "egress", "security_group_id": "sg-1", "protocol": "udp", "from_port": 53, "to_port": 53, "cidr_blocks": ["10.0.0.2/32"]}"#,
            ),
            ("random_id", r#"{"id": "x"}"#),
        ],
    );
    let i = s.import().unwrap();
    let g = &i.topology.security_groups[0];
    use crate::model::{Peer, Protocol, Rule};
    let cidr = |c: &str| Peer::Cidr(c.parse().unwrap());
    assert_eq!(
        g.ingress,
        [
            Rule {
                protocol: Protocol::Tcp,
                ports: (80, 80),
                peer: cidr("10.0.0.0/8")
            },
            Rule {
                protocol: Protocol::Tcp,
                ports: (80, 80),
                peer: Peer::SecurityGroup(0)
            },
        ]
    );
    assert_eq!(
        g.egress,
        [Rule {
            protocol: Protocol::Udp,
            ports: (53, 53),
            peer: cidr("10.0.0.2/32")
        }]
    );
    assert_eq!(
        i.report
            .iter()
            .map(|l| l.replace(&s.0.display().to_string(), "STATE"))
            .collect::<Vec<_>>(),
        ["STATE: values.root_module.resources[4]: ignored: random_id.r4 is not an AWS resource"]
    );
}

#[test]
fn vpc_links_import_with_api_gateways_side_made_up() {
    let d = Dump::new(
        "links",
        &[
            ("ec2/describe-vpcs.json", VPC),
            (
                "ec2/describe-subnets.json",
                r#"{"Subnets": [
                {"SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24", "AvailabilityZoneId": "use1-az1"},
                {"SubnetId": "subnet-2", "VpcId": "vpc-1", "CidrBlock": "10.0.2.0/24", "AvailabilityZoneId": "use1-az2"}]}"#,
            ),
            (
                "ec2/describe-security-groups.json",
                r#"{"SecurityGroups": [
                {"GroupId": "sg-link", "VpcId": "vpc-1", "IpPermissions": []},
                {"GroupId": "sg-app", "VpcId": "vpc-1", "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": "sg-link"}]}]}]}"#,
            ),
            (
                "ec2/describe-instances.json",
                r#"{"Reservations": [{"Instances": [
                {"InstanceId": "i-1", "SubnetId": "subnet-1", "PrivateIpAddress": "10.0.1.31", "SecurityGroups": [{"GroupId": "sg-app"}], "Tags": [{"Key": "Name", "Value": "orders"}]},
                {"InstanceId": "i-2", "SubnetId": "subnet-2", "PrivateIpAddress": "10.0.2.41", "SecurityGroups": [{"GroupId": "sg-app"}], "Tags": [{"Key": "Name", "Value": "users"}]}]}]}"#,
            ),
            (
                "elbv2/describe-load-balancers.json",
                r#"{"LoadBalancers": [
                {"LoadBalancerArn": "arn:aws:elasticloadbalancing:r:1:loadbalancer/net/nlb-orders/1", "LoadBalancerName": "nlb-orders", "Type": "network",
                 "AvailabilityZones": [{"SubnetId": "subnet-1", "LoadBalancerAddresses": [{"PrivateIPv4Address": "10.0.1.50"}]}]},
                {"LoadBalancerArn": "arn:aws:elasticloadbalancing:r:1:loadbalancer/net/nlb-rest/2", "LoadBalancerName": "nlb-rest", "Type": "network",
                 "AvailabilityZones": [{"SubnetId": "subnet-2", "LoadBalancerAddresses": [{"PrivateIPv4Address": "10.0.2.50"}]}]}]}"#,
            ),
            (
                "elbv2/describe-target-groups.json",
                r#"{"TargetGroups": [
                {"TargetGroupArn": "arn:tg/orders", "TargetGroupName": "tg-orders", "Protocol": "TCP", "Port": 8080, "VpcId": "vpc-1", "TargetType": "instance", "HealthCheckEnabled": false}]}"#,
            ),
            (
                "elbv2/describe-target-health.json",
                r#"{"TargetHealthDescriptions": [{"Target": {"Id": "i-1", "Port": 8080}}]}"#,
            ),
            (
                "elbv2/describe-listeners.json",
                r#"{"Listeners": [
                {"ListenerArn": "arn:aws:elasticloadbalancing:r:1:listener/net/nlb-orders/1/a", "LoadBalancerArn": "arn:aws:elasticloadbalancing:r:1:loadbalancer/net/nlb-orders/1", "Protocol": "TCP", "Port": 80, "DefaultActions": [{"Type": "forward", "TargetGroupArn": "arn:tg/orders"}]},
                {"ListenerArn": "arn:aws:elasticloadbalancing:r:1:listener/net/nlb-rest/2/b", "LoadBalancerArn": "arn:aws:elasticloadbalancing:r:1:loadbalancer/net/nlb-rest/2", "Protocol": "TCP", "Port": 80, "DefaultActions": [{"Type": "forward", "TargetGroupArn": "arn:tg/orders"}]}]}"#,
            ),
            (
                "apigateway/get-vpc-links.json",
                r#"{"items": [{"id": "rest01", "name": "orders-rest", "targetArns": ["arn:aws:elasticloadbalancing:r:1:loadbalancer/net/nlb-rest/2"], "status": "AVAILABLE"}]}"#,
            ),
            (
                "apigatewayv2/get-vpc-links.json",
                r#"{"Items": [{"VpcLinkId": "http01", "Name": "orders-http", "SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-link"], "VpcLinkStatus": "AVAILABLE"}]}"#,
            ),
            (
                "apigatewayv2/get-integrations.json",
                r#"{"Items": [
                {"IntegrationId": "int-nlb", "ConnectionType": "VPC_LINK", "ConnectionId": "http01", "IntegrationUri": "arn:aws:elasticloadbalancing:r:1:listener/net/nlb-orders/1/a"},
                {"IntegrationId": "int-map", "ConnectionType": "VPC_LINK", "ConnectionId": "http01", "IntegrationUri": "arn:aws:servicediscovery:r:1:service/srv-users"},
                {"IntegrationId": "int-alb", "ConnectionType": "VPC_LINK", "ConnectionId": "http01", "IntegrationUri": "arn:aws:elasticloadbalancing:r:1:listener/app/alb/3/c"},
                {"IntegrationId": "int-web", "ConnectionType": "INTERNET", "IntegrationUri": "https://example.com"}]}"#,
            ),
            (
                "servicediscovery/list-instances-srv-users.json",
                r#"{"Instances": [{"Id": "i-2", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.2.41", "AWS_INSTANCE_PORT": "8080"}}]}"#,
            ),
        ],
    );
    let i = d.import().unwrap();
    assert!(
        i.toml.contains(
            "[[vpc_link]]\nid = \"rest01\"   # Name: orders-rest\nkind = \"rest\"\nnlb = \"nlb-rest\"\nvpc = \"apigateway\"\n\
             subnets = [{ subnet = \"apigateway-subnet\", ip = \"10.255.1.4\" }]\nsecurity_groups = [\"rest01-link\"]\n"
        ),
        "{}",
        i.toml
    );
    assert!(
        i.toml.contains(
            "[[vpc_link]]\nid = \"http01\"   # Name: orders-http\nkind = \"http\"\nsubnets = [\"subnet-1\", \"subnet-2\"]\n\
             security_groups = [\"sg-link\"]\nservice_vpc = \"apigateway\"\nintegrations = [\n\
             \x20 { id = \"int-nlb\", nlb = \"nlb-orders\", port = 80, protocol = \"tcp\", address = \"10.255.1.5\" },\n\
             \x20 { id = \"int-map\", cloud_map = \"srv-users\", port = 8080, protocol = \"tcp\", address = \"10.255.1.6\" },\n]\n"
        ),
        "{}",
        i.toml
    );
    let t = &i.topology;
    assert_eq!(t.services.vpc_links.len(), 2);
    assert_eq!(t.services.cloud_map_services[0].instances[0].port, 8080);
    assert_eq!(
        d.report(),
        [
            "DIR/apigateway/get-vpc-links.json: items[0]: note: API Gateway's own VPC is in no dump: made apigateway (10.255.0.0/16) with the host apigateway (10.255.1.10) that calls the VPC links",
            "DIR/apigatewayv2/get-integrations.json: Items[2]: not imported: integration int-alb of http01: its listener arn:aws:elasticloadbalancing:r:1:listener/app/alb/3/c is not in the dump (elbv2 describe-listeners)",
            "DIR/apigatewayv2/get-integrations.json: Items[3]: not imported: integration int-web: not through a VPC link (hyperlab models private integrations)",
        ]
    );
}

/// `import aws` of `export aws` of `t`, with the lab settings (not AWS
/// state) taken from `t`; and the import's report.
pub(crate) fn round_trip(
    t: &crate::model::Topology,
    name: &str,
) -> (crate::model::Topology, Vec<String>) {
    let exported = super::export::aws(t);
    let files: Vec<(String, String)> = exported
        .files
        .iter()
        .map(|(p, v)| (p.clone(), serde_json::to_string_pretty(v).unwrap()))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, v)| (p.as_str(), v.as_str()))
        .collect();
    let d = Dump::new(name, &refs);
    let mut got = match aws_dir(&d.0, &t.lab.name) {
        Ok(i) => i,
        Err(e) => panic!("{name}: {e}"),
    };
    got.topology.lab = t.lab.clone();
    got.topology.conntrack = t.conntrack;
    got.topology.flow_logs = t.flow_logs.clone();
    (got.topology, got.report)
}

#[test]
fn import_of_export_reproduces_every_shipped_config() {
    let files = crate::config::test_support::shipped_configs();
    assert_eq!(files.len(), 10);
    for f in files {
        let t = config::load(&f).unwrap();
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let left = super::export::aws(&t).left_out;
        assert_eq!(left.len(), 1, "{name}: {left:?}");
        let (got, report) = round_trip(&t, &format!("rt-{name}"));
        assert_eq!(report, Vec::<String>::new(), "{name}");
        assert_eq!(got, t, "{name}");
    }
}

#[test]
fn a_moto_dump_imports_with_what_moto_does_differently_reported_and_mended() {
    // tests/fixtures/import/moto-5.2.6-privatelink: what the AWS CLI printed
    // for a PrivateLink network built in moto 5.2.6 (its README says how).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/import/moto-5.2.6-privatelink/cli");
    let got = aws_dir(&dir, "moto").unwrap();
    let shown = dir.display().to_string();
    let report: Vec<String> = got
        .report
        .iter()
        .map(|l| l.replace(&shown, "DIR"))
        .collect();
    assert_eq!(
        report,
        [
            "DIR/ec2/describe-vpcs.json: Vpcs[0]: not imported: VPC vpc-5facb3748af11d056: the account's default VPC, with nothing in it",
            "DIR/ec2/describe-subnets.json: Subnets[0]: not imported: subnet subnet-6eb45d9050f770d53: in vpc-5facb3748af11d056, the account's default VPC, with nothing in it",
            "DIR/ec2/describe-subnets.json: Subnets[3]: not imported: subnet subnet-0be1b5efd772ecc32: in vpc-5facb3748af11d056, the account's default VPC, with nothing in it",
            "DIR/ec2/describe-subnets.json: Subnets[6]: not imported: subnet subnet-bf75ac02ce9dcf547: in vpc-5facb3748af11d056, the account's default VPC, with nothing in it",
            "DIR/ec2/describe-subnets.json: Subnets[7]: not imported: subnet subnet-6050824fce7c1f42e: in vpc-5facb3748af11d056, the account's default VPC, with nothing in it",
            "DIR/ec2/describe-subnets.json: Subnets[8]: not imported: subnet subnet-ccb2be57c279a22bd: in vpc-5facb3748af11d056, the account's default VPC, with nothing in it",
            "DIR/ec2/describe-subnets.json: Subnets[9]: not imported: subnet subnet-66ac9207631c3882d: in vpc-5facb3748af11d056, the account's default VPC, with nothing in it",
            "DIR/ec2/describe-security-groups.json: SecurityGroups[0]: not imported: security group sg-726ec18b94ee629eb: its VPC vpc-5facb3748af11d056: VPC vpc-5facb3748af11d056 is not imported",
            "DIR/ec2/describe-security-groups.json: SecurityGroups[1]: not imported: security group sg-e8cd4676b9b04e3f0: the VPC's default group, used by nothing",
            "DIR/ec2/describe-security-groups.json: SecurityGroups[4]: not imported: security group sg-b8f7475a8fb2b1f3a: the VPC's default group, used by nothing",
            "DIR/ec2/describe-security-group-rules.json: SecurityGroupRules[0].GroupId: not imported: a rule of sg-726ec18b94ee629eb: its security group sg-726ec18b94ee629eb: security group sg-726ec18b94ee629eb is not imported",
            "DIR/ec2/describe-security-group-rules.json: SecurityGroupRules[1].GroupId: not imported: a rule of sg-e8cd4676b9b04e3f0: its security group sg-e8cd4676b9b04e3f0: security group sg-e8cd4676b9b04e3f0 is not imported",
            "DIR/ec2/describe-security-group-rules.json: SecurityGroupRules[5].GroupId: not imported: a rule of sg-b8f7475a8fb2b1f3a: its security group sg-b8f7475a8fb2b1f3a: security group sg-b8f7475a8fb2b1f3a is not imported",
            "DIR/ec2/describe-vpc-endpoints.json: VpcEndpoints[0]: warning: VPC endpoint vpce-8f1ad652458f45ddd: its principal arn:aws:iam::123456789012:root is not in the permissions of vpce-svc-48a0d9ce; added to its allowed_principals, as the connection exists",
            "DIR/apigateway/get-vpc-links.json: items[0]: not imported: REST API VPC link vi0bni1sw0: its NLB nlb-web already fronts endpoint service vpce-svc-48a0d9ce (a hyperlab NLB fronts one)",
            "DIR/apigatewayv2/get-vpc-links.json: Items[0]: note: API Gateway's own VPC is in no dump: made apigateway (10.255.0.0/16) with the host apigateway (10.255.1.10) that calls the VPC links",
            "DIR/elbv2/describe-load-balancers.json: LoadBalancers[0].AvailabilityZones[0].SubnetId: warning: load balancer nlb-web node in subnet-6fbd08b4b2f82e12d: the dump gives no address; given 10.1.1.4 in subnet-6fbd08b4b2f82e12d (10.1.1.0/24)",
            "DIR/elbv2/describe-load-balancers.json: LoadBalancers[0].AvailabilityZones[1].SubnetId: warning: load balancer nlb-web node in subnet-3886e3f9f49b28d4c: the dump gives no address; given 10.1.2.4 in subnet-3886e3f9f49b28d4c (10.1.2.0/24)",
            "DIR/ec2/describe-network-interfaces.json: NetworkInterfaces[3].SubnetId: warning: VPC endpoint vpce-8f1ad652458f45ddd in subnet-79d3ec5923676b07a: 10.154.199.135 is outside subnet-79d3ec5923676b07a (10.0.1.0/24); re-addressed to 10.0.1.4 in subnet-79d3ec5923676b07a (10.0.1.0/24)",
            "DIR/ec2/describe-network-interfaces.json: NetworkInterfaces[4].SubnetId: warning: VPC endpoint vpce-8f1ad652458f45ddd in subnet-5bd408de7b3f61fce: 10.236.221.90 is outside subnet-5bd408de7b3f61fce (10.0.2.0/24); re-addressed to 10.0.2.4 in subnet-5bd408de7b3f61fce (10.0.2.0/24)",
        ]
    );
    let t = &got.topology;
    let hosts: Vec<(&str, String)> = t
        .enis
        .iter()
        .map(|e| (e.host.as_str(), e.ip.to_string()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("client", "10.0.1.10".into()),
            ("web1", "10.1.1.21".into()),
            ("web2", "10.1.2.22".into()),
            ("apigateway", "10.255.1.10".into()),
        ]
    );
    // The HTTP link reaches the NLB's listener (moto names it listener/app/...).
    use crate::model::{IntegrationKind, VpcLinkKind};
    let VpcLinkKind::Http { integrations, .. } = &t.services.vpc_links[0].kind else {
        panic!("an HTTP link")
    };
    assert_eq!(integrations[0].kind, IntegrationKind::Nlb { nlb: 0 });
    let s = &t.services;
    let listener = &s.nlbs[0].listeners[0];
    assert_eq!(
        (
            listener.port,
            s.target_groups[listener.target_group].id.as_str()
        ),
        (80, "tg-web")
    );
    let targets: Vec<(&str, u16)> = s.target_groups[0]
        .targets
        .iter()
        .map(|x| (t.enis[x.eni].host.as_str(), x.port))
        .collect();
    assert_eq!(targets, [("web1", 8080), ("web2", 8080)]);
    let e = &s.vpc_endpoints[0];
    let ips: Vec<String> = e.enis.iter().map(|n| n.ip.to_string()).collect();
    assert_eq!(
        (e.state, ips),
        (
            crate::model::EndpointState::Available,
            vec!["10.0.1.4".to_string(), "10.0.2.4".to_string()]
        )
    );
    assert_eq!(t.security_groups[e.security_groups[0]].ingress.len(), 1);
}

#[test]
fn moto_query_xml_converted_imports_to_what_the_cli_json_imports_to() {
    // The same moto state, recorded both ways: xml/SERVICE/CALL.xml (the
    // raw answers an endpoint sends) and cli/SERVICE/CALL.json (what the AWS
    // CLI printed for them).
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/import/moto-5.2.6-privatelink");
    let mut files = Vec::new();
    for service in ["ec2", "elbv2"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(fixture.join("xml").join(service))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let xml = std::fs::read_to_string(&p).unwrap();
            let json =
                super::query_xml::cli_json(&xml).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            files.push((
                format!("{service}/{stem}.json"),
                serde_json::to_string(&json).unwrap(),
            ));
        }
    }
    assert_eq!(files.len(), 21);
    // API Gateway answers JSON: the CLI's files as they are.
    for (service, call) in [
        ("apigateway", "get-vpc-links"),
        ("apigatewayv2", "get-vpc-links"),
        ("apigatewayv2", "get-integrations"),
    ] {
        let text =
            std::fs::read_to_string(fixture.join(format!("cli/{service}/{call}.json"))).unwrap();
        files.push((format!("{service}/{call}.json"), text));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, v)| (p.as_str(), v.as_str()))
        .collect();
    let from_xml = Dump::new("moto-xml", &refs);
    let got = from_xml.import().unwrap();
    let want = aws_dir(&fixture.join("cli"), "t").unwrap();
    assert_eq!(got.topology, want.topology);
    assert_eq!(
        got.toml,
        want.toml.replace(
            &fixture.join("cli").display().to_string(),
            &from_xml.0.display().to_string()
        )
    );
    let shown = fixture.join("cli").display().to_string();
    let want_report: Vec<String> = want
        .report
        .iter()
        .map(|l| l.replace(&shown, "DIR"))
        .collect();
    assert_eq!(from_xml.report(), want_report);
}

#[test]
fn query_xml_errors_and_html_are_refused_with_what_they_say() {
    use super::query_xml::cli_json;
    assert_eq!(
        cli_json("<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code><Message>The vpc ID 'vpc-1' does not exist</Message></Error></Errors></Response>"),
        Err("the endpoint answered an error: InvalidVpcID.NotFound: The vpc ID 'vpc-1' does not exist".into())
    );
    assert_eq!(
        cli_json("<!doctype html>\n<html lang=en><title>500 Internal Server Error</title></html>"),
        Err("not an AWS Query answer: the document is <html>, not <...Response>".into())
    );
    assert_eq!(
        cli_json(
            r#"<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><requestId>r</requestId><vpcSet><item><vpcId>vpc-1</vpcId><isDefault>false</isDefault><tagSet><item><key>Name</key><value>a &amp; b</value></item></tagSet></item></vpcSet></DescribeVpcsResponse>"#
        ),
        Ok(
            serde_json::json!({"Vpcs": [{"VpcId": "vpc-1", "IsDefault": "false", "Tags": [{"Key": "Name", "Value": "a & b"}]}]})
        )
    );
}
