//! Route tables: `describe-route-tables`, Terraform's five resources and
//! `export aws`, with every report line and error's exact text.

use super::{between, vpc_dump, Dump, State, TF_VPC};

const SUBNETS: &str = r#"{"Subnets": [
    {"SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24", "AvailabilityZone": "us-east-1a"},
    {"SubnetId": "subnet-2", "VpcId": "vpc-1", "CidrBlock": "10.0.2.0/24", "AvailabilityZone": "us-east-1a"}]}"#;

/// The `[[route_table]]` tables of a written config.
fn route_tables(toml: &str) -> String {
    between(toml, "[[route_table]]", "# ENIs").to_string()
}

fn tables(name: &str, list: &[&str]) -> Dump {
    let file = ("describe-route-tables.json", "RouteTables");
    vpc_dump(name, SUBNETS, file, list)
}

/// AWS's main table of vpc-1 as it creates it: the local route only.
const AWS_MAIN: &str = r#"{"RouteTableId": "rtb-main", "VpcId": "vpc-1",
    "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"}],
    "Associations": [{"Main": true, "RouteTableId": "rtb-main"}]}"#;

#[test]
fn describe_route_tables_map_blackholes_and_associations_and_report_other_targets() {
    let d = tables(
        "rtb-map",
        &[
            AWS_MAIN,
            r#"{"RouteTableId": "rtb-app", "VpcId": "vpc-1", "Tags": [{"Key": "Name", "Value": "app"}],
              "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active"},
                {"DestinationCidrBlock": "192.168.0.0/16", "NatGatewayId": "nat-gone", "State": "blackhole"},
                {"DestinationCidrBlock": "10.0.2.0/24", "NetworkInterfaceId": "eni-fw", "State": "active"},
                {"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-1", "State": "active"},
                {"DestinationCidrBlock": "172.16.0.0/12", "VpcPeeringConnectionId": "pcx-1", "State": "blackhole"}],
              "Associations": [{"Main": false, "RouteTableId": "rtb-app", "SubnetId": "subnet-1"}]}"#,
        ],
    );
    assert_eq!(
        d.report(),
        [
            "DIR/describe-route-tables.json: RouteTables[1].Routes[1]: not imported: route 0.0.0.0/0 -> igw-1 in rtb-app: the internet gateway is not in the input (no describe-internet-gateways, no aws_internet_gateway); packets for 0.0.0.0/0 follow the table's other routes",
            "DIR/describe-route-tables.json: RouteTables[1].Routes[3]: not imported: route 10.0.2.0/24 -> eni-fw in rtb-app: routes to a network interface (a middlebox) are not modelled by hyperlab; packets for 10.0.2.0/24 follow the table's other routes",
            "DIR/describe-route-tables.json: RouteTables[1].Routes[4]: not imported: route ::/0 in rtb-app: IPv6 and prefix-list routes are not modelled by hyperlab",
        ]
    );
    let i = d.import().unwrap();
    // AWS's untouched main table is the implied one: only rtb-app is written.
    assert_eq!(
        route_tables(&i.toml),
        r#"[[route_table]]
id = "rtb-app"   # Name: app
vpc = "vpc-1"
main = false
subnets = ["subnet-1"]
routes = [{ destination = "192.168.0.0/16", target = "blackhole" }, { destination = "172.16.0.0/12", target = "blackhole" }]

"#
    );
    let t = &i.topology;
    let ids: Vec<&str> = t.route_tables.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["rtb-app", "vpc-1 (main)"]);
    assert_eq!(t.subnet_routes, [0, 1]);
}

#[test]
fn a_main_table_with_routes_or_a_name_is_written_under_its_aws_id() {
    let d = tables(
        "rtb-main",
        &[r#"{"RouteTableId": "rtb-main", "VpcId": "vpc-1",
              "Routes": [
                {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "blackhole"}],
              "Associations": [{"Main": true, "RouteTableId": "rtb-main"},
                               {"Main": false, "RouteTableId": "rtb-main", "SubnetId": "subnet-2"}]}"#],
    );
    assert_eq!(d.report(), Vec::<String>::new());
    let i = d.import().unwrap();
    assert_eq!(
        route_tables(&i.toml),
        r#"[[route_table]]
id = "rtb-main"
vpc = "vpc-1"
main = true
subnets = ["subnet-2"]
routes = [{ destination = "0.0.0.0/0", target = "blackhole" }]

"#
    );
    assert_eq!(i.topology.subnet_routes, [0, 0]);
}

#[test]
fn route_table_errors_name_the_file_and_json_path() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[r#"{"RouteTableId": "rtb-1", "VpcId": "vpc-9", "Routes": [], "Associations": [{"Main": false, "SubnetId": "subnet-1"}]}"#],
            "DIR/describe-route-tables.json: RouteTables[0].VpcId: unknown VPC vpc-9",
        ),
        (
            &[r#"{"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Routes": [], "Associations": [{"Main": false, "SubnetId": "subnet-7"}]}"#],
            "DIR/describe-route-tables.json: RouteTables[0].Associations[0].SubnetId: unknown subnet subnet-7",
        ),
        (
            &[
                r#"{"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Routes": [], "Associations": [{"Main": false, "SubnetId": "subnet-1"}]}"#,
                r#"{"RouteTableId": "rtb-2", "VpcId": "vpc-1", "Routes": [], "Associations": [{"Main": false, "SubnetId": "subnet-1"}]}"#,
            ],
            "DIR/describe-route-tables.json: RouteTables[1].Associations[0].SubnetId: subnet subnet-1 is already associated with route table rtb-1 (a subnet has one at most)",
        ),
        (
            &[r#"{"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Routes": [{"DestinationCidrBlock": "10.0.0/8", "State": "blackhole"}], "Associations": []}"#],
            "DIR/describe-route-tables.json: RouteTables[0].Routes[0].DestinationCidrBlock: invalid CIDR \"10.0.0/8\"",
        ),
    ];
    for (k, (list, want)) in cases.iter().enumerate() {
        assert_eq!(
            tables(&format!("rtb-err{k}"), list).error(),
            *want,
            "case {k}"
        );
    }
}

#[test]
fn terraform_route_tables_routes_associations_and_the_main_table() {
    let s = State::new(
        "tf-rtb",
        &[
            (
                "aws_vpc",
                r#"{"id": "vpc-1", "cidr_block": "10.0.0.0/16", "main_route_table_id": "rtb-app"}"#,
            ),
            (
                "aws_subnet",
                r#"{"id": "subnet-1", "vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a"}"#,
            ),
            (
                "aws_subnet",
                r#"{"id": "subnet-2", "vpc_id": "vpc-1", "cidr_block": "10.0.2.0/24", "availability_zone": "us-east-1a"}"#,
            ),
            (
                "aws_route_table",
                r#"{"id": "rtb-app", "vpc_id": "vpc-1", "tags": {"Name": "app"},
                   "route": [{"cidr_block": "0.0.0.0/0", "ipv6_cidr_block": "", "gateway_id": "igw-1", "nat_gateway_id": ""}]}"#,
            ),
            (
                "aws_route",
                r#"{"route_table_id": "rtb-app", "destination_cidr_block": "192.168.0.0/16", "nat_gateway_id": "nat-1", "state": "blackhole"}"#,
            ),
            (
                "aws_route_table",
                r#"{"id": "rtb-db", "vpc_id": "vpc-1", "route": []}"#,
            ),
            (
                "aws_route_table_association",
                r#"{"id": "rtbassoc-1", "route_table_id": "rtb-db", "subnet_id": "subnet-2", "gateway_id": ""}"#,
            ),
            (
                "aws_route_table_association",
                r#"{"id": "rtbassoc-2", "route_table_id": "rtb-db", "subnet_id": "", "gateway_id": "igw-1"}"#,
            ),
        ],
    );
    let i = s.import().unwrap();
    let state = s.0.display().to_string();
    let report: Vec<String> = i
        .report
        .iter()
        .map(|l| l.replace(&state, "STATE"))
        .collect();
    assert_eq!(
        report,
        [
            "STATE: values.root_module.resources[3].values.route[0]: not imported: route 0.0.0.0/0 -> igw-1 in rtb-app: the internet gateway is not in the input (no describe-internet-gateways, no aws_internet_gateway); packets for 0.0.0.0/0 follow the table's other routes",
            "STATE: values.root_module.resources[7]: not imported: aws_route_table_association.r7 (gateway association of rtb-db): gateway route tables (edge associations) are not modelled",
        ]
    );
    assert_eq!(
        route_tables(&i.toml),
        r#"[[route_table]]
id = "rtb-app"   # Name: app
vpc = "vpc-1"
main = true
subnets = []
routes = [{ destination = "192.168.0.0/16", target = "blackhole" }]

[[route_table]]
id = "rtb-db"
vpc = "vpc-1"
main = false
subnets = ["subnet-2"]
routes = []

"#
    );
    assert_eq!(i.topology.subnet_routes, [0, 1]);
    // An explicit main association moves the main table.
    let s = State::new(
        "tf-rtb-main",
        &[
            TF_VPC,
            (
                "aws_route_table",
                r#"{"id": "rtb-db", "vpc_id": "vpc-1", "route": []}"#,
            ),
            (
                "aws_main_route_table_association",
                r#"{"id": "rtbassoc-m", "vpc_id": "vpc-1", "route_table_id": "rtb-db"}"#,
            ),
        ],
    );
    let i = s.import().unwrap();
    // Untouched (no route, no subnet, no name): the implied main table.
    assert!(!i.toml.contains("[[route_table]]"), "{}", i.toml);
    let s = State::new(
        "tf-rtb-bad",
        &[
            TF_VPC,
            (
                "aws_route_table_association",
                r#"{"id": "rtbassoc-1", "route_table_id": "rtb-nope", "subnet_id": "subnet-1"}"#,
            ),
        ],
    );
    assert_eq!(
        s.error(),
        "STATE: values.root_module.resources[1].values.route_table_id: unknown route table rtb-nope"
    );
}

const TWO_VPCS: &str = r#"{"Vpcs": [
    {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16", "IsDefault": false},
    {"VpcId": "vpc-2", "CidrBlock": "10.1.0.0/16", "IsDefault": false},
    {"VpcId": "vpc-3", "CidrBlock": "10.2.0.0/16", "IsDefault": false}]}"#;

#[test]
fn peering_connections_map_by_status_and_routes_name_them() {
    let d = Dump::new(
        "pcx-map",
        &[
            ("describe-vpcs.json", TWO_VPCS),
            ("describe-subnets.json", SUBNETS),
            (
                "describe-vpc-peering-connections.json",
                r#"{"VpcPeeringConnections": [
                  {"VpcPeeringConnectionId": "pcx-a", "RequesterVpcInfo": {"VpcId": "vpc-1"}, "AccepterVpcInfo": {"VpcId": "vpc-2"}, "Status": {"Code": "active"}},
                  {"VpcPeeringConnectionId": "pcx-b", "RequesterVpcInfo": {"VpcId": "vpc-1"}, "AccepterVpcInfo": {"VpcId": "vpc-3"}, "Status": {"Code": "pending-acceptance"}},
                  {"VpcPeeringConnectionId": "pcx-c", "RequesterVpcInfo": {"VpcId": "vpc-2"}, "AccepterVpcInfo": {"VpcId": "vpc-3"}, "Status": {"Code": "deleted"}}]}"#,
            ),
            (
                "describe-route-tables.json",
                r#"{"RouteTables": [{"RouteTableId": "rtb-1", "VpcId": "vpc-1",
                  "Routes": [
                    {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                    {"DestinationCidrBlock": "10.1.0.0/16", "VpcPeeringConnectionId": "pcx-a", "State": "active"},
                    {"DestinationCidrBlock": "10.2.0.0/16", "VpcPeeringConnectionId": "pcx-b", "State": "active"}],
                  "Associations": [{"Main": true, "RouteTableId": "rtb-1"}]},
                  {"RouteTableId": "rtb-2", "VpcId": "vpc-2",
                  "Routes": [{"DestinationCidrBlock": "10.2.0.0/16", "VpcPeeringConnectionId": "pcx-c", "State": "active"}],
                  "Associations": [{"Main": true, "RouteTableId": "rtb-2"}]}]}"#,
            ),
        ],
    );
    assert_eq!(
        d.report(),
        [
            "DIR/describe-vpc-peering-connections.json: VpcPeeringConnections[2].Status.Code: not imported: VPC peering connection pcx-c: its status is deleted: it carries nothing",
            "DIR/describe-route-tables.json: RouteTables[1].Routes[0]: not imported: route 10.2.0.0/16 -> pcx-c in rtb-2: its VPC peering connection pcx-c: VPC peering connection pcx-c is not imported; packets for 10.2.0.0/16 follow the table's other routes",
        ]
    );
    let i = d.import().unwrap();
    let start = i.toml.find("[[vpc_peering]]").expect("peerings written");
    assert_eq!(
        &i.toml[start..i.toml.find("# ENIs").unwrap()],
        r#"[[vpc_peering]]
id = "pcx-a"
requester = "vpc-1"
accepter = "vpc-2"
status = "active"

[[vpc_peering]]
id = "pcx-b"
requester = "vpc-1"
accepter = "vpc-3"
status = "pending-acceptance"

# route tables ---------------------------------------------------------

[[route_table]]
id = "rtb-1"
vpc = "vpc-1"
main = true
subnets = []
routes = [{ destination = "10.1.0.0/16", target = "pcx-a" }, { destination = "10.2.0.0/16", target = "pcx-b" }]

[[route_table]]
id = "rtb-2"
vpc = "vpc-2"
main = true
subnets = []
routes = []

"#
    );
    assert_eq!(i.topology.vpc_peerings.len(), 2);
}

#[test]
fn terraform_peering_connections_and_their_accepters() {
    let s = State::new(
        "tf-pcx",
        &[
            TF_VPC,
            ("aws_vpc", r#"{"id": "vpc-2", "cidr_block": "10.1.0.0/16"}"#),
            (
                "aws_vpc_peering_connection_accepter",
                r#"{"vpc_peering_connection_id": "pcx-1", "accept_status": "active"}"#,
            ),
            (
                "aws_vpc_peering_connection",
                r#"{"id": "pcx-1", "vpc_id": "vpc-1", "peer_vpc_id": "vpc-2", "accept_status": "pending-acceptance"}"#,
            ),
        ],
    );
    let i = s.import().unwrap();
    assert_eq!(i.report, Vec::<String>::new());
    assert!(
        i.toml.contains(
            "[[vpc_peering]]\nid = \"pcx-1\"\nrequester = \"vpc-1\"\naccepter = \"vpc-2\"\nstatus = \"active\"\n"
        ),
        "{}",
        i.toml
    );
    let s = State::new(
        "tf-pcx-bad",
        &[
            TF_VPC,
            (
                "aws_vpc_peering_connection_accepter",
                r#"{"vpc_peering_connection_id": "pcx-9", "accept_status": "active"}"#,
            ),
        ],
    );
    assert_eq!(
        s.error(),
        "STATE: values.root_module.resources[1].values.vpc_peering_connection_id: unknown VPC peering connection pcx-9"
    );
}
