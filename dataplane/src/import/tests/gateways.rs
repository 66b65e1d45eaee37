//! The gateway layer: `describe-internet-gateways`,
//! `describe-nat-gateways`, `describe-addresses` and ENIs' public
//! addresses, with every report line and error's exact text.

use super::{between, Dump};

const VPCS: &str = r#"{"Vpcs": [
    {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16", "IsDefault": false},
    {"VpcId": "vpc-2", "CidrBlock": "10.1.0.0/16", "IsDefault": false}]}"#;

const SUBNETS: &str = r#"{"Subnets": [
    {"SubnetId": "subnet-pub", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24", "AvailabilityZoneId": "use1-az1"},
    {"SubnetId": "subnet-priv", "VpcId": "vpc-1", "CidrBlock": "10.0.2.0/24", "AvailabilityZoneId": "use1-az1"},
    {"SubnetId": "subnet-2", "VpcId": "vpc-2", "CidrBlock": "10.1.1.0/24", "AvailabilityZoneId": "use1-az1"}]}"#;

const GROUPS: &str = r#"{"SecurityGroups": [
    {"GroupId": "sg-1", "VpcId": "vpc-1", "GroupName": "web", "IpPermissions": [], "IpPermissionsEgress": []},
    {"GroupId": "sg-2", "VpcId": "vpc-2", "GroupName": "b", "IpPermissions": [], "IpPermissionsEgress": []}]}"#;

const IGWS: &str = r#"{"InternetGateways": [
    {"InternetGatewayId": "igw-1", "Tags": [{"Key": "Name", "Value": "main"}],
     "Attachments": [{"VpcId": "vpc-1", "State": "available"}]},
    {"InternetGatewayId": "igw-2", "Attachments": []},
    {"InternetGatewayId": "igw-3", "Attachments": [{"VpcId": "vpc-2", "State": "detached"}]}]}"#;

const NATS: &str = r#"{"NatGateways": [
    {"NatGatewayId": "nat-1", "SubnetId": "subnet-pub", "VpcId": "vpc-1", "State": "available",
     "ConnectivityType": "public", "Tags": [{"Key": "Name", "Value": "egress"}],
     "NatGatewayAddresses": [
       {"AllocationId": "eipalloc-9", "NetworkInterfaceId": "eni-nat1x", "PrivateIp": "10.0.1.101", "PublicIp": "203.0.113.77", "IsPrimary": false},
       {"AllocationId": "eipalloc-1", "NetworkInterfaceId": "eni-nat1", "PrivateIp": "10.0.1.100", "PublicIp": "54.1.2.3", "IsPrimary": true}]},
    {"NatGatewayId": "nat-2", "SubnetId": "subnet-pub", "State": "deleted", "NatGatewayAddresses": []},
    {"NatGatewayId": "nat-3", "SubnetId": "subnet-priv", "State": "available", "ConnectivityType": "private",
     "NatGatewayAddresses": [{"PrivateIp": "10.0.2.50"}]},
    {"NatGatewayId": "nat-4", "SubnetId": "subnet-2", "State": "available",
     "NatGatewayAddresses": [{"AllocationId": "eipalloc-4"}]}]}"#;

const ENIS: &str = r#"{"NetworkInterfaces": [
    {"NetworkInterfaceId": "eni-web", "SubnetId": "subnet-pub", "PrivateIpAddress": "10.0.1.20",
     "Groups": [{"GroupId": "sg-1"}], "InterfaceType": "interface",
     "Association": {"PublicIp": "203.0.113.20", "IpOwnerId": "amazon"}},
    {"NetworkInterfaceId": "eni-app", "SubnetId": "subnet-priv", "PrivateIpAddress": "10.0.2.30",
     "Groups": [{"GroupId": "sg-1"}], "InterfaceType": "interface"},
    {"NetworkInterfaceId": "eni-nat1", "SubnetId": "subnet-pub", "PrivateIpAddress": "10.0.1.100",
     "InterfaceType": "nat_gateway", "RequesterManaged": true,
     "Association": {"PublicIp": "54.1.2.3"}},
    {"NetworkInterfaceId": "eni-stray", "SubnetId": "subnet-pub", "PrivateIpAddress": "10.0.1.200",
     "InterfaceType": "nat_gateway", "RequesterManaged": true},
    {"NetworkInterfaceId": "eni-b", "SubnetId": "subnet-2", "PrivateIpAddress": "10.1.1.10",
     "Groups": [{"GroupId": "sg-2"}], "InterfaceType": "interface",
     "Association": {"PublicIp": "198.51.100.9"}}]}"#;

const ADDRESSES: &str = r#"{"Addresses": [
    {"PublicIp": "54.1.2.3", "AllocationId": "eipalloc-1", "NetworkInterfaceId": "eni-nat1", "PrivateIpAddress": "10.0.1.100", "Domain": "vpc"},
    {"PublicIp": "52.0.0.1", "AllocationId": "eipalloc-2", "Domain": "vpc"},
    {"PublicIp": "3.3.3.3", "AllocationId": "eipalloc-3", "NetworkInterfaceId": "eni-app", "PrivateIpAddress": "10.0.2.30", "Domain": "vpc"},
    {"PublicIp": "3.3.3.4", "AllocationId": "eipalloc-5", "NetworkInterfaceId": "eni-web", "PrivateIpAddress": "10.0.1.21", "Domain": "vpc"}]}"#;

const TABLES: &str = r#"{"RouteTables": [
    {"RouteTableId": "rtb-pub", "VpcId": "vpc-1",
     "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active"}],
     "Associations": [{"Main": false, "SubnetId": "subnet-pub"}]},
    {"RouteTableId": "rtb-priv", "VpcId": "vpc-1",
     "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"},
                {"DestinationCidrBlock": "192.168.0.0/16", "NatGatewayId": "nat-3", "State": "active"}],
     "Associations": [{"Main": false, "SubnetId": "subnet-priv"}]}]}"#;

fn dump(name: &str, extra: &[(&str, &str)]) -> Dump {
    let mut files = vec![
        ("ec2/describe-vpcs.json", VPCS),
        ("ec2/describe-subnets.json", SUBNETS),
        ("ec2/describe-security-groups.json", GROUPS),
        ("ec2/describe-internet-gateways.json", IGWS),
        ("ec2/describe-nat-gateways.json", NATS),
        ("ec2/describe-network-interfaces.json", ENIS),
        ("ec2/describe-addresses.json", ADDRESSES),
        ("ec2/describe-route-tables.json", TABLES),
    ];
    files.extend_from_slice(extra);
    Dump::new(name, &files)
}

/// The text of a written config from `from` up to `to`.
/// Every route of `t`'s tables as `TABLE DESTINATION TARGET`.
fn route_lines(t: &crate::model::Topology) -> Vec<String> {
    let mut out = Vec::new();
    for r in &t.route_tables {
        for x in &r.routes {
            out.push(format!("{} {} {:?}", r.id, x.destination, x.target));
        }
    }
    out
}

#[test]
fn gateways_elastic_ips_and_public_ips_import_with_what_is_left_out_reported() {
    let d = dump("gw-map", &[]);
    assert_eq!(
        d.report(),
        [
            "DIR/ec2/describe-network-interfaces.json: NetworkInterfaces[3]: not imported: network interface eni-stray: a NAT gateway's interface, but no NAT gateway in the dump lists it",
            "DIR/ec2/describe-internet-gateways.json: InternetGateways[1]: not imported: internet gateway igw-2: it is not attached to a VPC: it carries nothing",
            "DIR/ec2/describe-internet-gateways.json: InternetGateways[2]: not imported: internet gateway igw-3: its attachment to vpc-2 is detached: it carries nothing",
            "DIR/ec2/describe-addresses.json: Addresses[1]: not imported: Elastic IP 52.0.0.1 (eipalloc-2): it is not associated with a network interface: it carries nothing",
            "DIR/ec2/describe-addresses.json: Addresses[3]: not imported: Elastic IP 3.3.3.4 (eipalloc-5): it is associated with 10.0.1.21, a secondary address of eni-web (a hyperlab ENI has one address)",
            "DIR/ec2/describe-network-interfaces.json: NetworkInterfaces[4].Association.PublicIp: not imported: public IP 198.51.100.9 of network interface eni-b: vpc-2 has no internet gateway attached (in the dump): the address carries nothing",
            "DIR/ec2/describe-nat-gateways.json: NatGateways[0].NatGatewayAddresses[0]: not imported: secondary address 203.0.113.77 of NAT gateway nat-1: a hyperlab NAT gateway has one address",
            "DIR/ec2/describe-nat-gateways.json: NatGateways[1].State: not imported: NAT gateway nat-2: its state is deleted: it carries nothing",
            "DIR/ec2/describe-nat-gateways.json: NatGateways[2].ConnectivityType: not imported: NAT gateway nat-3: a private NAT gateway (ConnectivityType private) reaches other networks through transit gateways, which hyperlab does not model",
            "DIR/ec2/describe-nat-gateways.json: NatGateways[3]: not imported: NAT gateway nat-4: vpc-2 has no internet gateway attached (in the dump): a public NAT gateway's Elastic IP works only through one",
            "DIR/ec2/describe-internet-gateways.json: InternetGateways[0]: note: the lab's internet has no hosts (no AWS call lists them): add `[internet] hosts = [{ name = \"example\", ip = \"203.0.113.10\" }]` (documentation addresses only) to reach them through the internet gateways",
            "DIR/ec2/describe-route-tables.json: RouteTables[1].Routes[2]: not imported: route 192.168.0.0/16 -> nat-3 in rtb-priv: its NAT gateway nat-3: NAT gateway nat-3 is not imported; packets for 192.168.0.0/16 follow the table's other routes",
            "DIR/ec2/describe-addresses.json: Addresses[2].PublicIp: warning: public IP 3.3.3.3 of network interface eni-app: 3.3.3.3 is not a documentation address (the lab's internet uses only 198.51.100.0/24 and 203.0.113.0/24, never a real public address); re-addressed to 198.51.100.2",
            "DIR/ec2/describe-nat-gateways.json: NatGateways[0].NatGatewayAddresses[1].PublicIp: warning: Elastic IP of NAT gateway nat-1: 54.1.2.3 is not a documentation address (the lab's internet uses only 198.51.100.0/24 and 203.0.113.0/24, never a real public address); re-addressed to 198.51.100.3",
        ]
    );
    let i = d.import().unwrap();
    assert_eq!(
        between(&i.toml, "[[internet_gateway]]", "# ENIs"),
        r#"[[internet_gateway]]
id = "igw-1"   # Name: main
vpc = "vpc-1"

[[nat_gateway]]
id = "nat-1"   # Name: egress
subnet = "subnet-pub"
private_ip = "10.0.1.100"
elastic_ip = "198.51.100.3"

# route tables ---------------------------------------------------------

[[route_table]]
id = "rtb-pub"
vpc = "vpc-1"
main = false
subnets = ["subnet-pub"]
routes = [{ destination = "0.0.0.0/0", target = "igw-1" }]

[[route_table]]
id = "rtb-priv"
vpc = "vpc-1"
main = false
subnets = ["subnet-priv"]
routes = [{ destination = "0.0.0.0/0", target = "nat-1" }]

"#
    );
    assert_eq!(
        between(&i.toml, "[[eni]]", "\n\n[[eni]]\nid = \"eni-b\""),
        r#"[[eni]]
id = "eni-web"
subnet = "subnet-pub"
ip = "10.0.1.20"
public_ip = "203.0.113.20"
security_groups = ["sg-1"]
host = "eni-web"

[[eni]]
id = "eni-app"
subnet = "subnet-priv"
ip = "10.0.2.30"
public_ip = "198.51.100.2"
security_groups = ["sg-1"]
host = "eni-app""#
    );
    // The managed ENIs are no lab hosts.
    let t = &i.topology;
    let enis: Vec<&str> = t.enis.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(enis, ["eni-web", "eni-app", "eni-b"]);
    let n = &t.internet.nat_gateways[0];
    assert_eq!(
        (n.private_ip, n.elastic_ip, n.ports),
        (
            "10.0.1.100".parse().unwrap(),
            "198.51.100.3".parse().unwrap(),
            crate::model::NAT_GATEWAY_PORTS
        )
    );
    let public: Vec<(usize, String)> = t
        .internet
        .public_ips
        .iter()
        .map(|p| (p.eni, p.ip.to_string()))
        .collect();
    assert_eq!(
        public,
        [(0, "203.0.113.20".into()), (1, "198.51.100.2".into())]
    );
}

#[test]
fn a_nat_gateway_without_addresses_in_its_record_takes_its_enis_and_elastic_ip() {
    // moto's and real dumps may leave NatGatewayAddresses thin: the private
    // address comes from the gateway's ENI, the public one from
    // describe-addresses (by allocation); with neither, both are given.
    let nats = r#"{"NatGateways": [
        {"NatGatewayId": "nat-1", "SubnetId": "subnet-pub", "State": "pending",
         "NatGatewayAddresses": [{"AllocationId": "eipalloc-1", "NetworkInterfaceId": "eni-nat1"}]},
        {"NatGatewayId": "nat-5", "SubnetId": "subnet-pub", "NatGatewayAddresses": []}]}"#;
    let d = dump(
        "gw-thin",
        &[
            ("ec2/describe-nat-gateways.json", nats),
            ("ec2/describe-route-tables.json", r#"{"RouteTables": []}"#),
        ],
    );
    let i = d.import().unwrap();
    let got: Vec<(String, String, String)> = i
        .topology
        .internet
        .nat_gateways
        .iter()
        .map(|n| {
            (
                n.id.clone(),
                n.private_ip.to_string(),
                n.elastic_ip.to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("nat-1".into(), "10.0.1.100".into(), "198.51.100.3".into()),
            ("nat-5".into(), "10.0.1.4".into(), "198.51.100.4".into()),
        ]
    );
    let report = d.report();
    assert_eq!(
        report[report.len() - 4..],
        [
            "DIR/ec2/describe-nat-gateways.json: NatGateways[1]: warning: NAT gateway nat-5: the dump gives no address; given 10.0.1.4 in subnet-pub (10.0.1.0/24)",
            "DIR/ec2/describe-addresses.json: Addresses[2].PublicIp: warning: public IP 3.3.3.3 of network interface eni-app: 3.3.3.3 is not a documentation address (the lab's internet uses only 198.51.100.0/24 and 203.0.113.0/24, never a real public address); re-addressed to 198.51.100.2",
            "DIR/ec2/describe-addresses.json: Addresses[0].PublicIp: warning: Elastic IP of NAT gateway nat-1: 54.1.2.3 is not a documentation address (the lab's internet uses only 198.51.100.0/24 and 203.0.113.0/24, never a real public address); re-addressed to 198.51.100.3",
            "DIR/ec2/describe-nat-gateways.json: NatGateways[1]: warning: Elastic IP of NAT gateway nat-5: the dump gives no address; given 198.51.100.4",
        ]
    );
}

#[test]
fn gateway_errors_name_the_file_and_json_path() {
    let two = r#"{"InternetGateways": [
        {"InternetGatewayId": "igw-1", "Attachments": [{"VpcId": "vpc-1", "State": "available"}]},
        {"InternetGatewayId": "igw-9", "Attachments": [{"VpcId": "vpc-1", "State": "attached"}]}]}"#;
    let d = dump(
        "gw-err-two",
        &[("ec2/describe-internet-gateways.json", two)],
    );
    assert_eq!(
        d.error(),
        "DIR/ec2/describe-internet-gateways.json: InternetGateways[1].Attachments[0].VpcId: vpc-1 already has internet gateway igw-1 attached; a VPC has one at most"
    );
    let route = TABLES.replace("\"GatewayId\": \"igw-1\"", "\"GatewayId\": \"igw-404\"");
    let d = dump(
        "gw-err-route",
        &[("ec2/describe-route-tables.json", &route)],
    );
    assert_eq!(
        d.error(),
        "DIR/ec2/describe-route-tables.json: RouteTables[0].Routes[1].GatewayId: unknown internet gateway igw-404"
    );
    let nats = r#"{"NatGateways": [{"NatGatewayId": "nat-1", "SubnetId": "subnet-404"}]}"#;
    let d = dump("gw-err-subnet", &[("ec2/describe-nat-gateways.json", nats)]);
    assert_eq!(
        d.error(),
        "DIR/ec2/describe-nat-gateways.json: NatGateways[0].SubnetId: unknown subnet subnet-404"
    );
    let addrs = r#"{"Addresses": [{"PublicIp": "203.0.113.5", "NetworkInterfaceId": "eni-404"}]}"#;
    let d = dump("gw-err-eni", &[("ec2/describe-addresses.json", addrs)]);
    assert_eq!(
        d.error(),
        "DIR/ec2/describe-addresses.json: Addresses[0].NetworkInterfaceId: unknown network interface eni-404"
    );
    let addrs =
        r#"{"Addresses": [{"PublicIp": "203.0.113.300", "NetworkInterfaceId": "eni-app"}]}"#;
    let d = dump("gw-err-ip", &[("ec2/describe-addresses.json", addrs)]);
    assert_eq!(
        d.error(),
        "DIR/ec2/describe-addresses.json: Addresses[0].PublicIp: invalid IPv4 address \"203.0.113.300\""
    );
}

#[test]
fn export_writes_the_gateway_calls_and_import_reads_them_back() {
    let t = crate::config::load(&super::configs().join("nat-gateway.toml")).unwrap();
    let mut t = t;
    t.internet.nat_gateways[0].ports = (2000, 2999);
    let e = crate::import::export::aws(&t);
    let file = |name: &str| -> String {
        let (_, v) = e.files.iter().find(|(n, _)| n == name).expect(name);
        serde_json::to_string(v).unwrap()
    };
    assert_eq!(
        file("ec2/describe-nat-gateways.json"),
        r#"{"NatGateways":[{"ConnectivityType":"public","HyperlabPorts":[2000,2999],"NatGatewayAddresses":[{"AllocationId":"eipalloc-eni-nat-a","IsPrimary":true,"NetworkInterfaceId":"eni-nat-a","PrivateIp":"10.0.1.100","PublicIp":"203.0.113.50","Status":"succeeded"}],"NatGatewayId":"nat-a","State":"available","SubnetId":"subnet-public","Tags":[],"VpcId":"vpc-a"}]}"#
    );
    assert_eq!(
        file("ec2/describe-internet-gateways.json"),
        r#"{"HyperlabInternetHosts":[{"Ip":"203.0.113.10","Name":"example"}],"InternetGateways":[{"Attachments":[{"State":"available","VpcId":"vpc-a"}],"InternetGatewayId":"igw-a","OwnerId":"123456789012","Tags":[]}]}"#
    );
    assert_eq!(
        file("ec2/describe-addresses.json"),
        r#"{"Addresses":[{"AllocationId":"eipalloc-eni-web","AssociationId":"eipassoc-eni-web","Domain":"vpc","NetworkInterfaceId":"eni-web","NetworkInterfaceOwnerId":"123456789012","PrivateIpAddress":"10.0.1.20","PublicIp":"203.0.113.20"},{"AllocationId":"eipalloc-eni-nat-a","AssociationId":"eipassoc-eni-nat-a","Domain":"vpc","NetworkInterfaceId":"eni-nat-a","NetworkInterfaceOwnerId":"123456789012","PrivateIpAddress":"10.0.1.100","PublicIp":"203.0.113.50"}]}"#
    );
    assert_eq!(e.left_out.len(), 1, "{:?}", e.left_out);
    let (got, report) = super::round_trip(&t, "rt-gw-ports");
    assert_eq!(report, Vec::<String>::new());
    assert_eq!(got, t);
}

#[test]
fn a_moto_gateway_network_imports_with_what_moto_does_differently_mended() {
    // tests/fixtures/import/moto-5.2.6-gateways: a public and a private
    // subnet, an internet gateway, a NAT gateway with an Elastic IP, an
    // instance with an Elastic IP, as moto 5.2.6 describes them (its
    // README says how). moto puts the NAT gateway's address outside its
    // subnet, its ENI looks like a plain one, and every public address is
    // a loopback one: re-addressed, with a warning each.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/import/moto-5.2.6-gateways");
    let got = crate::import::aws_dir(&fixture.join("cli"), "gw").unwrap();
    let shown = fixture.join("cli").display().to_string();
    let report: Vec<String> = got
        .report
        .iter()
        .map(|l| l.replace(&shown, "DIR"))
        .filter(|l| !l.contains("the account's default VPC") && !l.contains("sg-94626e761c5e45d2a"))
        .collect();
    assert_eq!(
        report,
        [
            "DIR/ec2/describe-addresses.json: Addresses[2]: not imported: Elastic IP 127.46.98.52 (eipalloc-f6868e55e6ad988d9): it is not associated with a network interface: it carries nothing",
            "DIR/ec2/describe-internet-gateways.json: InternetGateways[0]: note: the lab's internet has no hosts (no AWS call lists them): add `[internet] hosts = [{ name = \"example\", ip = \"203.0.113.10\" }]` (documentation addresses only) to reach them through the internet gateways",
            "DIR/ec2/describe-nat-gateways.json: NatGateways[0].NatGatewayAddresses[0]: warning: NAT gateway nat-bfb6d6c55391ba6da: 10.66.115.206 is outside subnet-baaede155628ac6ea (10.0.1.0/24); re-addressed to 10.0.1.4 in subnet-baaede155628ac6ea (10.0.1.0/24)",
            "DIR/ec2/describe-network-interfaces.json: NetworkInterfaces[1].Association.PublicIp: warning: public IP 127.70.96.36 of network interface eni-87a52f4a3700540e8: 127.70.96.36 is a loopback address, not a documentation address (the lab's internet uses only 198.51.100.0/24 and 203.0.113.0/24, never a real public address); re-addressed to 198.51.100.2",
            "DIR/ec2/describe-nat-gateways.json: NatGateways[0].NatGatewayAddresses[0].PublicIp: warning: Elastic IP of NAT gateway nat-bfb6d6c55391ba6da: 127.55.161.146 is a loopback address, not a documentation address (the lab's internet uses only 198.51.100.0/24 and 203.0.113.0/24, never a real public address); re-addressed to 198.51.100.3",
        ]
    );
    assert_eq!(
        between(&got.toml, "[[internet_gateway]]", "# route tables"),
        r#"[[internet_gateway]]
id = "igw-c4c7170fc07996b2b"   # Name: lab-igw
vpc = "vpc-1b0dc4fce69104626"

[[nat_gateway]]
id = "nat-bfb6d6c55391ba6da"   # Name: lab-nat
subnet = "subnet-baaede155628ac6ea"
private_ip = "10.0.1.4"
elastic_ip = "198.51.100.3"

"#
    );
    let t = &got.topology;
    let routes = route_lines(t);
    assert_eq!(
        routes,
        [
            "rtb-29017a05e48c56fa2 0.0.0.0/0 InternetGateway(0)",
            "rtb-4d1f546a440fb2407 0.0.0.0/0 NatGateway(0)",
        ]
    );
    let hosts: Vec<(&str, Option<String>)> = t
        .enis
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                e.host.as_str(),
                t.internet.public_ip_of(i).map(|p| p.to_string()),
            )
        })
        .collect();
    assert_eq!(hosts, [("web", Some("198.51.100.2".into())), ("app", None)]);

    // The raw Query-protocol answers of the same state, converted, import
    // to the very same config and report.
    let mut files = Vec::new();
    for e in std::fs::read_dir(fixture.join("xml/ec2")).unwrap() {
        let p = e.unwrap().path();
        let xml = std::fs::read_to_string(&p).unwrap();
        let json = crate::import::query_xml::cli_json(&xml).unwrap();
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        files.push((
            format!("ec2/{stem}.json"),
            serde_json::to_string(&json).unwrap(),
        ));
    }
    assert_eq!(files.len(), 11);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, v)| (p.as_str(), v.as_str()))
        .collect();
    let from_xml = Dump::new("moto-gw-xml", &refs);
    let x = crate::import::aws_dir(&from_xml.0, "gw").unwrap();
    assert_eq!(x.topology, got.topology);
    assert_eq!(
        x.toml,
        got.toml.replace(&shown, &from_xml.0.display().to_string())
    );
    let all: Vec<String> = got
        .report
        .iter()
        .map(|l| l.replace(&shown, "DIR"))
        .collect();
    assert_eq!(from_xml.report(), all);
}

#[test]
fn terraform_gateways_elastic_ips_and_their_routes_import_as_from_the_cli() {
    // The same network as the describe dump's core: an internet gateway
    // (attached by an attachment resource), a NAT gateway with an Elastic
    // IP, an instance's public IP through aws_eip_association.
    let s = super::State::new(
        "tf-gw",
        &[
            ("aws_vpc", r#"{"id": "vpc-1", "cidr_block": "10.0.0.0/16"}"#),
            (
                "aws_subnet",
                r#"{"id": "subnet-pub", "vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24", "availability_zone_id": "use1-az1"}"#,
            ),
            (
                "aws_subnet",
                r#"{"id": "subnet-priv", "vpc_id": "vpc-1", "cidr_block": "10.0.2.0/24", "availability_zone_id": "use1-az1"}"#,
            ),
            (
                "aws_security_group",
                r#"{"id": "sg-1", "vpc_id": "vpc-1", "name": "web", "ingress": [], "egress": []}"#,
            ),
            (
                "aws_internet_gateway",
                r#"{"id": "igw-1", "vpc_id": "", "tags": {"Name": "main"}}"#,
            ),
            (
                "aws_internet_gateway_attachment",
                r#"{"id": "igw-1:vpc-1", "internet_gateway_id": "igw-1", "vpc_id": "vpc-1"}"#,
            ),
            (
                "aws_eip",
                r#"{"id": "eipalloc-1", "public_ip": "203.0.113.50", "domain": "vpc", "network_interface": "", "instance": ""}"#,
            ),
            (
                "aws_eip",
                r#"{"id": "eipalloc-2", "public_ip": "54.1.2.3", "domain": "vpc", "network_interface": "", "instance": ""}"#,
            ),
            (
                "aws_nat_gateway",
                r#"{"id": "nat-1", "subnet_id": "subnet-pub", "allocation_id": "eipalloc-1", "connectivity_type": "public", "private_ip": "10.0.1.100", "public_ip": "203.0.113.50", "network_interface_id": "eni-nat1"}"#,
            ),
            (
                "aws_instance",
                r#"{"id": "i-web", "subnet_id": "subnet-pub", "private_ip": "10.0.1.20", "vpc_security_group_ids": ["sg-1"], "primary_network_interface_id": "eni-web", "public_ip": "", "tags": {"Name": "web"}}"#,
            ),
            (
                "aws_instance",
                r#"{"id": "i-app", "subnet_id": "subnet-priv", "private_ip": "10.0.2.30", "vpc_security_group_ids": ["sg-1"], "primary_network_interface_id": "eni-app", "tags": {"Name": "app"}}"#,
            ),
            (
                "aws_eip_association",
                r#"{"id": "eipassoc-2", "allocation_id": "eipalloc-2", "instance_id": "i-web", "network_interface_id": ""}"#,
            ),
            (
                "aws_route_table",
                r#"{"id": "rtb-pub", "vpc_id": "vpc-1", "route": [{"cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"}]}"#,
            ),
            (
                "aws_route_table",
                r#"{"id": "rtb-priv", "vpc_id": "vpc-1", "route": [{"cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1"}]}"#,
            ),
            (
                "aws_route_table_association",
                r#"{"route_table_id": "rtb-pub", "subnet_id": "subnet-pub"}"#,
            ),
            (
                "aws_route_table_association",
                r#"{"route_table_id": "rtb-priv", "subnet_id": "subnet-priv"}"#,
            ),
        ],
    );
    let i = s.import().unwrap();
    let shown = s.0.display().to_string();
    let report: Vec<String> = i
        .report
        .iter()
        .map(|l| l.replace(&shown, "STATE"))
        .collect();
    assert_eq!(
        report,
        [
            "STATE: values.root_module.resources[4]: note: the lab's internet has no hosts (no AWS call lists them): add `[internet] hosts = [{ name = \"example\", ip = \"203.0.113.10\" }]` (documentation addresses only) to reach them through the internet gateways",
            "STATE: values.root_module.resources[7].values.public_ip: warning: public IP 54.1.2.3 of network interface eni-web: 54.1.2.3 is not a documentation address (the lab's internet uses only 198.51.100.0/24 and 203.0.113.0/24, never a real public address); re-addressed to 198.51.100.2",
        ]
    );
    assert_eq!(
        between(&i.toml, "[[internet_gateway]]", "# route tables"),
        r#"[[internet_gateway]]
id = "igw-1"   # Name: main
vpc = "vpc-1"

[[nat_gateway]]
id = "nat-1"
subnet = "subnet-pub"
private_ip = "10.0.1.100"
elastic_ip = "203.0.113.50"

"#
    );
    let t = &i.topology;
    let routes = route_lines(t);
    assert_eq!(
        routes,
        [
            "rtb-pub 0.0.0.0/0 InternetGateway(0)",
            "rtb-priv 0.0.0.0/0 NatGateway(0)"
        ]
    );
    assert_eq!(
        t.internet.public_ip_of(0),
        Some("198.51.100.2".parse().unwrap())
    );
    assert_eq!(t.internet.public_ip_of(1), None);
}
