//! Tests of `[[node]]` and the ENIs' `node`: the placement a valid file
//! gives, and every diagnostic in its exact text.

use crate::config::test_support::{diags, parsed, with_base};
use crate::model::{Node, Placement};

/// `[lab]` (lines 1-3), BASE with its ENI (host "a") on n1 (lines
/// 5-26), two nodes (lines 27-34): tests start on line 35.
fn two_nodes(lab_mtu: u32, extra: &str) -> String {
    format!(
        r#"[lab]
name = "mn"
mtu = {lab_mtu}
{}
[[node]]
id = "n1"
underlay_ip = "192.168.77.1"

[[node]]
id = "n2"
underlay_ip = "192.168.77.2"
mtu = 9000
{extra}"#,
        with_base("\nnode = \"n1\"\n")
    )
}

const SECOND_HOST: &str = r#"
[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.0.1.11"
security_groups = ["sg-a"]
host = "b"
node = "n2"
"#;

#[test]
fn hosts_are_placed_on_their_nodes() {
    let t = parsed(&two_nodes(1450, SECOND_HOST));
    assert_eq!(
        t.placement,
        Placement {
            nodes: vec![
                Node {
                    id: "n1".into(),
                    underlay_ip: "192.168.77.1".parse().unwrap(),
                    mtu: 1500,
                },
                Node {
                    id: "n2".into(),
                    underlay_ip: "192.168.77.2".parse().unwrap(),
                    mtu: 9000,
                },
            ],
            host_nodes: [("a".to_string(), 0), ("b".to_string(), 1)].into(),
            local: None,
        }
    );
    let n2 = t.for_node(Some("n2")).unwrap();
    assert_eq!(n2.lab.name, "mn-n2");
    assert_eq!(n2.eni_underlay(0), Some("192.168.77.1".parse().unwrap()));
    assert_eq!(n2.eni_underlay(1), None);
}

#[test]
fn one_node_is_every_host_s_node_by_default() {
    let t = parsed(&with_base(
        "\n[[node]]\nid = \"solo\"\nunderlay_ip = \"192.168.77.1\"\n",
    ));
    assert_eq!(t.placement.host_nodes, [("a".to_string(), 0)].into());
    // One node: nothing crosses, so the MTU needs no room for VXLAN.
    assert_eq!(t.lab.mtu, 1500);
}

#[test]
fn placement_errors_name_file_line_and_field() {
    let src = two_nodes(
        1450,
        r#"
[[node]]
id = "n1"
underlay_ip = "192.168.77.2"

[[node]]
id = "Node-3"
underlay_ip = "192.168.77.3"

[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.0.1.11"
security_groups = ["sg-a"]
host = "b"
node = "n9"

[[eni]]
id = "eni-c"
subnet = "subnet-a1"
ip = "10.0.1.12"
security_groups = ["sg-a"]
host = "c"

[[eni]]
id = "eni-a2"
subnet = "subnet-a1"
ip = "10.0.1.13"
security_groups = ["sg-a"]
host = "a"
node = "n2"
"#,
    );
    assert_eq!(
        diags(&src),
        [
            "t.toml:37:6: node[2].id: node id \"n1\" is already node[0]'s",
            "t.toml:38:15: node[2].underlay_ip: underlay address 192.168.77.2 is already node[1]'s: each node needs its own",
            "t.toml:41:6: node[3].id: invalid node id \"Node-3\" (1 to 8 characters from a-z, 0-9 and '-', starting with a letter or digit)",
            "t.toml:50:8: eni[1].node: unknown node \"n9\" (the lab's nodes: n1, n2)",
            "t.toml:52:1: eni[2].node: missing: the lab runs on several nodes (n1, n2); say which runs host \"c\"",
            "t.toml:65:8: eni[3].node: host \"a\" runs on node n1 (eni[0]): every ENI of a host is on its node",
        ]
    );
}

#[test]
fn the_lab_mtu_and_vxlan_must_fit_each_underlay() {
    assert_eq!(
        diags(&two_nodes(1500, SECOND_HOST)),
        ["t.toml:27:1: node[0].mtu: the lab's mtu 1500 plus VXLAN's 50 bytes is 1550, over this node's underlay MTU 1500 (the default): lower [lab] mtu to 1450 or raise the underlay's"]
    );
}

#[test]
fn a_lab_across_nodes_runs_the_tc_hook_and_no_constructs_yet() {
    let src = two_nodes(1450, SECOND_HOST).replacen("[lab]\n", "[lab]\nhook = \"xdp\"\n", 1)
        + "\n[[internet_gateway]]\nid = \"igw-a\"\nvpc = \"vpc-a\"\n";
    let d = diags(&src);
    assert_eq!(
        d[..2],
        [
            "t.toml:2:8: lab.hook: a lab across several nodes needs hook = \"tc\": an XDP frame cannot carry the VXLAN tunnel key",
            "t.toml:45:3: internet_gateway: not built across nodes yet: a lab with several [[node]]s holds VPCs, subnets, security groups, network ACLs, route tables, peering, ENIs, PrivateLink and VPC links to NLBs; keep internet_gateway in a one-node lab",
        ]
    );
}

#[test]
fn a_node_without_nodes_is_an_error() {
    assert_eq!(
        diags(&with_base("\nnode = \"n1\"\n")),
        ["t.toml:22:8: eni[0].node: no [[node]] in this file, so no node \"n1\": add the [[node]] entries or leave node out"]
    );
}

/// An NLB (node n1's ENI a and n2's ENI b as targets) and an endpoint of
/// its service, with `source_ports` PORTS.
fn privatelink(ports: &str) -> String {
    format!(
        r#"
[[target_group]]
id = "tg-a"
vpc = "vpc-a"
protocol = "tcp"
port = 8080
targets = ["eni-a", "eni-b"]

[[nlb]]
id = "nlb-a"
subnets = [{{ subnet = "subnet-a1", ip = "10.0.1.50" }}]
listeners = [{{ protocol = "tcp", port = 80, target_group = "tg-a" }}]
source_ports = "{ports}"

[[endpoint_service]]
id = "vpce-svc-a"
nlb = "nlb-a"
acceptance_required = false
allowed_principals = ["*"]

[[vpc_endpoint]]
id = "vpce-a"
vpc = "vpc-a"
service = "vpce-svc-a"
subnets = [{{ subnet = "subnet-a1", ip = "10.0.1.100" }}]
security_groups = ["sg-a"]
principal = "arn:aws:iam::111122223333:root"
"#
    )
}

#[test]
fn privatelink_spans_nodes_when_each_node_has_a_nat_port() {
    let t = parsed(&two_nodes(
        1450,
        &(SECOND_HOST.to_string() + &privatelink("2000-2001")),
    ));
    assert_eq!(t.services.nlbs[0].source_ports, (2000, 2001));
    assert_eq!(
        diags(&two_nodes(1450, &(SECOND_HOST.to_string() + &privatelink("2000")))),
        ["t.toml:55:16: nlb[0].source_ports: 2000-2000 is 1 port for the lab's 2 nodes: each node translates with its own slice (node k of n takes the ports p with p % n == k), so give at least 2"]
    );
}
