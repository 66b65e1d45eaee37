//! Tests of the network resources: lab, conntrack, flow logs, VPCs,
//! subnets, security groups and ENIs.

use std::net::Ipv4Addr;

use crate::config::parse_str;
use crate::config::test_support::{self as text, diags, net, parsed, with_base, BASE};
use crate::model::test_support::{rule, sg, subnet, vpc};
use crate::model::{
    self, ConntrackSettings, Eni, FlowLogDestination, FlowLogField, FlowLogFileFormat,
    FlowLogSettings, Hook, LabSettings, Peer, Protocol, Topology,
};

#[test]
fn valid_config_gives_the_exact_topology() {
    let src = text::cat(&[
        r#"
[lab]
name = "lab1"
hook = "xdp"
mtu = 3000
"#,
        &text::vpc("vpc-a", "10.0.0.0/16"),
        &text::vpc("vpc-b", "10.0.0.0/16"),
        &text::subnet("subnet-a1", "vpc-a", "10.0.1.0/24", "use1-az1"),
        &text::subnet("subnet-b1", "vpc-b", "10.0.1.0/28", "use1-az2"),
        r#"
[[security_group]]
id = "sg-web"
vpc = "vpc-a"
ingress = [
  { protocol = "tcp", ports = "80", peer = "sg-client" },
  { protocol = "udp", ports = "8000-8100", peer = "10.0.1.5" },
  { protocol = "tcp", ports = 443, peer = "192.168.0.0/16" },
  { protocol = "tcp", peer = "10.0.0.0/8" },
  { protocol = "icmp", peer = "10.0.0.0/16" },
]
egress = []
"#,
        &text::sg("sg-client", "vpc-a"),
        r#"
[[security_group]]
id = "sg-b"
vpc = "vpc-b"
egress = [{ protocol = "all", peer = "sg-b" }]

[[security_group.ingress]]
protocol = "all"
peer = "0.0.0.0/0"

[[eni]]
id = "eni-web"
subnet = "subnet-a1"
ip = "10.0.1.20"
security_groups = ["sg-web", "sg-client"]
host = "web"

[[eni]]
id = "eni-web2"
subnet = "subnet-a1"
ip = "10.0.1.21"
mac = "02:AB:cd:00:00:01"
security_groups = ["sg-web"]
host = "web"
"#,
        &text::eni("eni-b", "subnet-b1", "10.0.1.14", "sg-b", "b-1"),
    ]);
    let t = parse_str(&src, "whatever.toml").unwrap();
    let all = rule(Protocol::All, (0, 65535), Peer::Cidr(net("0.0.0.0/0")));
    let expected = Topology {
        network_acls: vec![
            model::NetworkAcl::default_for(0, "vpc-a"),
            model::NetworkAcl::default_for(1, "vpc-b"),
        ],
        subnet_nacls: vec![0, 1],
        route_tables: vec![
            model::RouteTable::implied_main(0, "vpc-a"),
            model::RouteTable::implied_main(1, "vpc-b"),
        ],
        subnet_routes: vec![0, 1],
        vpc_peerings: Vec::new(),
        vpcs: vec![vpc("vpc-a", "10.0.0.0/16"), vpc("vpc-b", "10.0.0.0/16")],
        subnets: vec![
            subnet("subnet-a1", 0, "10.0.1.0/24", "use1-az1"),
            subnet("subnet-b1", 1, "10.0.1.0/28", "use1-az2"),
        ],
        security_groups: vec![
            sg(
                "sg-web",
                0,
                vec![
                    rule(Protocol::Tcp, (80, 80), Peer::SecurityGroup(1)),
                    rule(Protocol::Udp, (8000, 8100), Peer::Cidr(net("10.0.1.5/32"))),
                    rule(Protocol::Tcp, (443, 443), Peer::Cidr(net("192.168.0.0/16"))),
                    rule(Protocol::Tcp, (0, 65535), Peer::Cidr(net("10.0.0.0/8"))),
                    rule(Protocol::Icmp, (0, 65535), Peer::Cidr(net("10.0.0.0/16"))),
                ],
                vec![],
            ),
            sg("sg-client", 0, vec![], vec![all.clone()]),
            sg(
                "sg-b",
                1,
                vec![all.clone()],
                vec![rule(Protocol::All, (0, 65535), Peer::SecurityGroup(2))],
            ),
        ],
        enis: vec![
            Eni {
                id: "eni-web".into(),
                subnet: 0,
                ip: Ipv4Addr::new(10, 0, 1, 20),
                mac: [0x02, 0x01, 10, 0, 1, 20],
                security_groups: vec![0, 1],
                host: "web".into(),
                mtu: None,
            },
            Eni {
                id: "eni-web2".into(),
                subnet: 0,
                ip: Ipv4Addr::new(10, 0, 1, 21),
                mac: [0x02, 0xab, 0xcd, 0, 0, 1],
                security_groups: vec![0],
                host: "web".into(),
                mtu: None,
            },
            Eni {
                id: "eni-b".into(),
                subnet: 1,
                ip: Ipv4Addr::new(10, 0, 1, 14),
                mac: [0x02, 0x02, 10, 0, 1, 14],
                security_groups: vec![2],
                host: "b-1".into(),
                mtu: None,
            },
        ],
        ..Topology::empty(LabSettings::new("lab1", Hook::Xdp, 3000))
    };
    assert_eq!(t, expected);
    assert_eq!(t.enis[0].mac, model::default_mac(0, t.enis[0].ip));
}

#[test]
fn one_host_may_have_two_enis_in_a_subnet() {
    let t = parsed(&with_base(&text::eni(
        "eni-a2",
        "subnet-a1",
        "10.0.1.11",
        "sg-a",
        "a",
    )));
    assert_eq!(t.hosts(), vec![("a".to_string(), vec![0, 1])]);
}

#[test]
fn flow_logs_table_gives_the_settings_and_defaults() {
    let t = parsed(&with_base("\n[flow_logs]\ndestination = \"/var/log/flows.log\"\ninterval = 10\naccount_id = \"000011112222\"\n"));
    assert_eq!(
        t.flow_logs,
        Some(FlowLogSettings {
            destination: FlowLogDestination::File("/var/log/flows.log".into()),
            interval_s: 10,
            account_id: "000011112222".into(),
            format: FlowLogField::DEFAULT.to_vec(),
            file_format: Default::default(),
        })
    );
    let t = parsed(&with_base("\n[flow_logs]\n"));
    assert_eq!(
        t.flow_logs,
        Some(FlowLogSettings {
            destination: FlowLogDestination::Stdout,
            interval_s: 60,
            account_id: "123456789012".into(),
            format: FlowLogField::DEFAULT.to_vec(),
            file_format: Default::default(),
        })
    );
    assert_eq!(parsed(BASE).flow_logs, None);
}

#[test]
fn file_format_is_plain_text_or_json_lines() {
    let t = parsed(&with_base("\n[flow_logs]\nfile_format = \"json-lines\"\n"));
    assert_eq!(
        t.flow_logs.unwrap().file_format,
        FlowLogFileFormat::JsonLines
    );
    assert_eq!(
        diags(&with_base("\n[flow_logs]\nfile_format = \"parquet\"\n")),
        ["t.toml:23:15: flow_logs.file_format: unknown file format \"parquet\" (expected \"plain-text\" or \"json-lines\")"]
    );
}

#[test]
fn a_custom_format_gives_its_fields_in_order() {
    use FlowLogField::*;
    let t = parsed(&with_base(
        "\n[flow_logs]\nformat = \"${version} ${vpc-id} ${flow-direction} ${pkt-dst-aws-service} ${srcaddr}\"\n",
    ));
    assert_eq!(
        t.flow_logs.unwrap().format,
        [
            Version,
            VpcId,
            FlowDirection,
            NotApplicable("pkt-dst-aws-service"),
            Srcaddr
        ]
    );
}

#[test]
fn a_format_field_a_lab_cannot_fill_or_aws_does_not_define_is_refused_at_its_token() {
    assert_eq!(
        diags(&with_base(
            "\n[flow_logs]\nformat = \"${version} ${tcp_flags} ${region} ${vpc_id} srcaddr\"\n"
        )),
        [
            "t.toml:23:22: flow_logs.format: unknown field ${tcp_flags} (AWS's flow log fields are listed in docs/DATAPLANE.md, \"Flow logs\"); did you mean \"tcp-flags\"?",
            "t.toml:23:35: flow_logs.format: ${region} cannot be filled in a lab: a lab has no AWS Region (its subnets name AZ ids: use az-id)",
            "t.toml:23:45: flow_logs.format: unknown field ${vpc_id} (AWS's flow log fields are listed in docs/DATAPLANE.md, \"Flow logs\"); did you mean \"vpc-id\"?",
            "t.toml:23:55: flow_logs.format: \"srcaddr\" is not a field (expected ${name} tokens separated by single spaces, such as \"${version} ${vpc-id}\")",
        ]
    );
}

#[test]
fn bad_flow_log_settings_are_located() {
    assert_eq!(
            diags(&with_base(
                "\n[flow_logs]\ndestination = \"\"\ninterval = 0\naccount_id = \"12345\"\nintervall = 5\n"
            )),
            [
                "t.toml:23:15: flow_logs.destination: empty flow log destination (expected \"stdout\" or a file path)",
                "t.toml:24:12: flow_logs.interval: interval 0 is out of range (expected 1 to 600)",
                "t.toml:25:14: flow_logs.account_id: invalid account id \"12345\" (expected 12 digits such as \"123456789012\")",
                "t.toml:26:1: flow_logs.intervall: unknown field \"intervall\" (allowed: destination, interval, account_id, format, file_format; did you mean \"interval\"?)",
            ]
        );
    assert_eq!(
            diags(&with_base(
                "\n[flow_logs]\ndestination = \"/tmp/\"\ninterval = \"60\"\n"
            )),
            [
                "t.toml:23:15: flow_logs.destination: flow log destination \"/tmp/\" is a directory (expected \"stdout\" or a file path)",
                "t.toml:24:12: flow_logs.interval: expected a number of seconds such as 60, found a string",
            ]
        );
    assert_eq!(
        diags("flow_logs = \"stdout\"\n"),
        ["t.toml:1:13: flow_logs: expected a table ([flow_logs]), found a string"]
    );
}

#[test]
fn addresses_in_subnets() {
    let extra = [
        ("eni-b", "10.1.0.5", "b"),
        ("eni-c", "10.0.1.1", "c"),
        ("eni-d", "10.0.1.255", "d"),
        ("eni-e", "10.0.1.10", "e"),
        ("eni-f", "10.0.1.300", "f"),
    ]
    .map(|(id, ip, host)| text::eni(id, "subnet-a1", ip, "sg-a", host))
    .concat();
    assert_eq!(diags(&with_base(&extra)), [
                "t.toml:25:6: eni[1].ip: 10.1.0.5 is outside subnet subnet-a1 (10.0.1.0/24)",
                "t.toml:32:6: eni[2].ip: 10.0.1.1 is reserved for the VPC router (the gateway) of subnet subnet-a1 (10.0.1.0/24); usable addresses are 10.0.1.4 to 10.0.1.254 (AWS reserves the first four and the last)",
                "t.toml:39:6: eni[3].ip: 10.0.1.255 is the broadcast address of subnet subnet-a1 (10.0.1.0/24); usable addresses are 10.0.1.4 to 10.0.1.254 (AWS reserves the first four and the last)",
                "t.toml:46:6: eni[4].ip: 10.0.1.10 is already used by eni-a (eni[0]) in vpc-a",
                "t.toml:53:6: eni[5].ip: invalid IPv4 address \"10.0.1.300\" (expected an address without prefix, such as \"10.0.1.10\")",
            ]);
}

#[test]
fn bad_cidrs() {
    let src = r#"[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0"

[[vpc]]
id = "vpc-b"
cidr = "10.0.1.0/16"

[[vpc]]
id = "vpc-c"
cidr = "10.0.0.0/8"

[[vpc]]
id = "vpc-d"
cidr = "10.0.0/16"

[[security_group]]
id = "sg-a"
vpc = "vpc-c"
ingress = [
  { protocol = "all", peer = "10.0.1.5/24" },
  { protocol = "all", peer = "10.0.1.5/33" },
  { protocol = "all", peer = "10.0.1" },
]
"#;
    assert_eq!(diags(src), [
                "t.toml:3:8: vpc[0].cidr: \"10.0.0.0\" has no prefix length (expected a CIDR such as \"10.0.0.0/16\")",
                "t.toml:7:8: vpc[1].cidr: 10.0.1.0/16 has host bits set (expected a network address: did you mean 10.0.0.0/16?)",
                "t.toml:11:8: vpc[2].cidr: prefix /8 of 10.0.0.0/8 is out of range (expected /16 to /28, as in AWS)",
                "t.toml:15:8: vpc[3].cidr: invalid CIDR \"10.0.0/16\" (expected an IPv4 network such as \"10.0.0.0/16\")",
                "t.toml:21:30: security_group[0].ingress[0].peer: 10.0.1.5/24 has host bits set (expected a network address: did you mean 10.0.1.0/24?)",
                "t.toml:22:30: security_group[0].ingress[1].peer: invalid CIDR \"10.0.1.5/33\" (expected an IPv4 network such as \"10.0.0.0/16\")",
                "t.toml:23:30: security_group[0].ingress[2].peer: invalid IPv4 address \"10.0.1\" (expected an address such as \"10.0.1.5\", a CIDR such as \"10.0.0.0/16\" or a security group id)",
            ]);
}

#[test]
fn subnets_inside_their_vpc_without_overlap() {
    let extra = [
        ("subnet-a2", "10.1.0.0/24"),
        ("subnet-a3", "10.0.1.128/25"),
        ("subnet-a4", "10.0.0.0/16"),
    ]
    .map(|(id, cidr)| text::subnet(id, "vpc-a", cidr, "use1-az1"))
    .concat();
    assert_eq!(diags(&with_base(&extra)), [
                "t.toml:25:8: subnet[1].cidr: 10.1.0.0/24 is outside vpc-a (10.0.0.0/16)",
                "t.toml:31:8: subnet[2].cidr: 10.0.1.128/25 overlaps subnet[0] subnet-a1 (10.0.1.0/24) in vpc-a",
                "t.toml:37:8: subnet[3].cidr: 10.0.0.0/16 overlaps subnet[0] subnet-a1 (10.0.1.0/24) in vpc-a",
            ]);
}

#[test]
fn port_ranges() {
    let extra = r#"
[[security_group]]
id = "sg-b"
vpc = "vpc-a"
ingress = [
  { protocol = "tcp", ports = "9000-80", peer = "0.0.0.0/0" },
  { protocol = "tcp", ports = "80-70000", peer = "0.0.0.0/0" },
  { protocol = "udp", ports = 65536, peer = "0.0.0.0/0" },
  { protocol = "udp", ports = "http", peer = "0.0.0.0/0" },
  { protocol = "udp", ports = "1-2-3", peer = "0.0.0.0/0" },
  { protocol = "udp", ports = true, peer = "0.0.0.0/0" },
]
egress = [
  { protocol = "icmp", ports = "0", peer = "0.0.0.0/0" },
  { protocol = "all", ports = "1-100", peer = "0.0.0.0/0" },
  { protocol = "sctpp", peer = "0.0.0.0/0" },
  { protocol = 300, peer = "0.0.0.0/0" },
  { protocol = "gre", ports = "1", peer = "0.0.0.0/0" },
  { protocol = "tcp", icmp = { type = 8 }, peer = "0.0.0.0/0" },
  { protocol = "icmp", icmp = { type = 8, code = 256 }, peer = "0.0.0.0/0" },
]
"#;
    assert_eq!(diags(&with_base(extra)), [
                "t.toml:26:31: security_group[1].ingress[0].ports: port range \"9000-80\" is reversed (expected low-high with low <= high, e.g. \"80-9000\")",
                "t.toml:27:31: security_group[1].ingress[1].ports: port 70000 is out of range (expected 0 to 65535)",
                "t.toml:28:31: security_group[1].ingress[2].ports: port 65536 is out of range (expected 0 to 65535)",
                "t.toml:29:31: security_group[1].ingress[3].ports: invalid port range \"http\" (expected a port such as 80 or \"80\", or a range such as \"8000-8100\")",
                "t.toml:30:31: security_group[1].ingress[4].ports: invalid port range \"1-2-3\" (expected a port such as 80 or \"80\", or a range such as \"8000-8100\")",
                "t.toml:31:31: security_group[1].ingress[5].ports: expected a port such as 80 or \"80\", or a range such as \"8000-8100\", found a boolean",
                "t.toml:34:32: security_group[1].egress[0].ports: ports are not allowed for protocol \"icmp\" (a rule for \"icmp\": ICMP has types and codes, not ports: use icmp = { type, code }; remove ports or use \"tcp\" or \"udp\")",
                "t.toml:35:31: security_group[1].egress[1].ports: ports are not allowed for protocol \"all\" (a rule for \"all\": it covers every port; remove ports or use \"tcp\" or \"udp\")",
                "t.toml:36:16: security_group[1].egress[2].protocol: unknown protocol \"sctpp\" (expected \"tcp\", \"udp\", \"icmp\", \"all\", a protocol name such as \"gre\", or a number 0 to 255 (-1: all); did you mean \"sctp\"?)",
                "t.toml:37:16: security_group[1].egress[3].protocol: protocol number 300 is out of range (expected 0 to 255, or -1 for all)",
                "t.toml:38:31: security_group[1].egress[4].ports: ports are not allowed for protocol \"gre (47)\" (a rule for \"gre (47)\": this protocol has no ports; remove ports or use \"tcp\" or \"udp\")",
                "t.toml:39:30: security_group[1].egress[5].icmp: icmp is only allowed for protocol \"icmp\", not \"tcp\" (remove icmp or use protocol \"icmp\")",
                "t.toml:40:50: security_group[1].egress[6].icmp.code: ICMP code 256 is out of range (expected -1 to 255)",
            ]);
}

#[test]
fn macs() {
    let extra = r#"mac = "02:00:00:00:00:01"

[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.0.1.11"
mac = "02:00:00:00:00:01"
security_groups = ["sg-a"]
host = "b"

[[eni]]
id = "eni-c"
subnet = "subnet-a1"
ip = "10.0.1.12"
mac = "01:00:5e:00:00:01"
security_groups = ["sg-a"]
host = "c"

[[eni]]
id = "eni-d"
subnet = "subnet-a1"
ip = "10.0.1.13"
mac = "02:00:00:00:01"
security_groups = ["sg-a"]
host = "d"

[[eni]]
id = "eni-e"
subnet = "subnet-a1"
ip = "10.0.1.14"
mac = "02:01:0a:00:01:0f"
security_groups = ["sg-a"]
host = "e"

[[eni]]
id = "eni-f"
subnet = "subnet-a1"
ip = "10.0.1.15"
security_groups = ["sg-a"]
host = "f"
"#;
    assert_eq!(diags(&with_base(extra)), [
                "t.toml:27:7: eni[1].mac: MAC 02:00:00:00:00:01 is already the MAC of eni-a (eni[0])",
                "t.toml:35:7: eni[2].mac: MAC 01:00:5e:00:00:01 is a multicast address (the first octet's lowest bit is set); an ENI needs a unicast MAC such as \"02:00:00:00:00:01\"",
                "t.toml:43:7: eni[3].mac: invalid MAC address \"02:00:00:00:01\" (expected six hex octets such as \"02:00:00:00:00:01\")",
                "t.toml:55:1: eni[5].mac: the default MAC 02:01:0a:00:01:0f (from the VPC index and IP) is already the MAC of eni-e (eni[4]); set mac explicitly",
            ]);
}

#[test]
fn conntrack_defaults_are_aws_and_every_key_is_read() {
    let secs = std::time::Duration::from_secs;
    let t = parsed("");
    assert_eq!(t.conntrack, ConntrackSettings::default());
    assert_eq!(
        (
            t.conntrack.timeouts.tcp_established,
            t.conntrack.timeouts.udp_stream,
            t.conntrack.timeouts.udp,
            t.conntrack.sweep_interval
        ),
        (secs(432_000), secs(180), secs(30), secs(1))
    );
    let src = "[conntrack]\ntcp_established_timeout = 3600\nudp_stream_timeout = 60\n\
                   udp_timeout = 60\ntcp_transitory_timeout = 5\nother_timeout = 7\n\
                   sweep_interval = 2\n";
    let t = parsed(src);
    assert_eq!(
        t.conntrack,
        ConntrackSettings {
            timeouts: crate::model::Timeouts {
                tcp_established: secs(3600),
                tcp_transitory: secs(5),
                udp_stream: secs(60),
                udp: secs(60),
                other: secs(7),
                other_protocol: secs(600),
                nat_gateway: secs(350),
            },
            sweep_interval: secs(2),
        }
    );
    // The lab knob lets the AWS-settable ones go down to 1 s.
    let src = "[conntrack]\nignore_aws_ranges = true\ntcp_established_timeout = 1\n\
                   udp_stream_timeout = 2\nudp_timeout = 1\n";
    let t = parsed(src).conntrack.timeouts;
    assert_eq!(
        (t.tcp_established, t.udp_stream, t.udp, t.tcp_transitory),
        (secs(1), secs(2), secs(1), secs(60))
    );
}

#[test]
fn conntrack_values_outside_their_ranges_are_located() {
    assert_eq!(
            diags(
                "[conntrack]\ntcp_established_timeout = 30\nudp_stream_timeout = 600\n\
                 udp_timeout = 0\ntcp_transitory_timeout = 500000\nother_timeout = \"60s\"\n\
                 sweep_interval = 0\nudp_timout = 30\n"
            ),
            [
                "t.toml:2:27: conntrack.tcp_established_timeout: tcp_established_timeout 30 is out of range (expected 60 to 432000 seconds, AWS's range for tcpEstablishedTimeout; set ignore_aws_ranges = true to allow 1 to 432000 in the lab)",
                "t.toml:3:22: conntrack.udp_stream_timeout: udp_stream_timeout 600 is out of range (expected 60 to 180 seconds, AWS's range for udpStreamTimeout; set ignore_aws_ranges = true to allow 1 to 432000 in the lab)",
                "t.toml:4:15: conntrack.udp_timeout: udp_timeout 0 is out of range (expected 30 to 60 seconds, AWS's range for udpTimeout)",
                "t.toml:5:26: conntrack.tcp_transitory_timeout: tcp_transitory_timeout 500000 is out of range (expected 1 to 432000 seconds)",
                "t.toml:6:17: conntrack.other_timeout: expected a timeout in seconds such as 60, found a string",
                "t.toml:7:18: conntrack.sweep_interval: sweep_interval 0 is out of range (expected 1 to 60)",
                "t.toml:8:1: conntrack.udp_timout: unknown field \"udp_timout\" (allowed: tcp_established_timeout, udp_stream_timeout, udp_timeout, tcp_transitory_timeout, other_timeout, other_protocol_timeout, nat_gateway_idle_timeout, sweep_interval, ignore_aws_ranges; did you mean \"udp_timeout\"?)",
            ]
        );
    assert_eq!(
            diags("[conntrack]\nignore_aws_ranges = \"yes\"\nudp_timeout = 0\n"),
            [
                "t.toml:2:21: conntrack.ignore_aws_ranges: expected true or false, found a string",
                "t.toml:3:15: conntrack.udp_timeout: udp_timeout 0 is out of range (expected 30 to 60 seconds, AWS's range for udpTimeout)",
            ]
        );
    assert_eq!(
            diags("[conntrack]\nignore_aws_ranges = true\nudp_timeout = 0\n"),
            ["t.toml:3:15: conntrack.udp_timeout: udp_timeout 0 is out of range (expected 1 to 432000 seconds)"]
        );
    // A NAT gateway's idle timeout is AWS's fixed 350 s; the lab knob
    // shrinks it (tests of the RST after the timeout with real clients).
    assert_eq!(
        diags("[conntrack]\nnat_gateway_idle_timeout = 5\n"),
        ["t.toml:2:28: conntrack.nat_gateway_idle_timeout: nat_gateway_idle_timeout 5 is out of range (expected 350 to 350 seconds, AWS's range for a NAT gateway's idle timeout, fixed; set ignore_aws_ranges = true to allow 1 to 432000 in the lab)"]
    );
    let ok = "[conntrack]\nnat_gateway_idle_timeout = 350\n";
    let secs = std::time::Duration::from_secs;
    assert_eq!(parsed(ok).conntrack.timeouts.nat_gateway, secs(350));
    let short = "[conntrack]\nignore_aws_ranges = true\nnat_gateway_idle_timeout = 2\n";
    assert_eq!(parsed(short).conntrack.timeouts.nat_gateway, secs(2));
    assert_eq!(
        diags("conntrack = 5\n"),
        ["t.toml:1:13: conntrack: expected a table ([conntrack]), found an integer"]
    );
}

#[test]
fn lab_settings() {
    assert_eq!(
            diags("[lab]\nname = \"Demo_1\"\nhook = \"tcx\"\nmtu = 100\n"),
            [
                "t.toml:2:8: lab.name: invalid lab name \"Demo_1\" (expected 1 to 12 characters from a-z, 0-9 and '-', starting with a letter or digit; it prefixes the lab's namespace names)",
                "t.toml:3:8: lab.hook: unknown hook \"tcx\" (expected \"tc\" or \"xdp\")",
                "t.toml:4:7: lab.mtu: MTU 100 is out of range (expected 576 to 9000)",
            ]
        );
    assert_eq!(
        diags("[lab]\nname = 5\nhook = \"XDP\"\n"),
        [
            "t.toml:2:8: lab.name: expected a lab name such as \"demo\", found an integer",
            "t.toml:3:8: lab.hook: unknown hook \"XDP\" (expected \"tc\" or \"xdp\")",
        ]
    );
    assert_eq!(
        parse_str("[lab]\nmtu = 576\n", "lab-1.toml")
            .unwrap()
            .lab
            .mtu,
        576
    );
    let d = parse_str("", "a-very-long-lab-name.toml").unwrap_err();
    assert_eq!(
        d.to_string(),
        "a-very-long-lab-name.toml:1:1: lab.name: no lab name is set and the file name's \
             stem \"a-very-long-lab-name\" is not a valid one (expected 1 to 12 characters \
             from a-z, 0-9 and '-', starting with a letter or digit; it prefixes the lab's \
             namespace names); set name in [lab]"
    );
}

#[test]
fn security_groups_of_another_vpc() {
    let extra = text::cat(&[
        &text::vpc("vpc-b", "10.0.0.0/16"),
        r#"
[[security_group]]
id = "sg-b"
vpc = "vpc-b"
ingress = [{ protocol = "tcp", ports = "22", peer = "sg-a" }]

[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.0.1.11"
security_groups = ["sg-a", "sg-b", "sg-a"]
host = "b"
"#,
    ]);
    assert_eq!(diags(&with_base(&extra)), [
                "t.toml:29:53: security_group[1].ingress[0].peer: security group \"sg-a\" is in vpc-a, but sg-b is in vpc-b (a rule can only reference groups of its own VPC or of a VPC an active peering connection joins to it; use a CIDR instead)",
                "t.toml:35:28: eni[1].security_groups[1]: security group \"sg-b\" is in vpc-b, but this ENI's subnet subnet-a1 is in vpc-a",
                "t.toml:35:36: eni[1].security_groups[2]: security group \"sg-a\" is listed twice",
            ]);
}

#[test]
fn security_group_count_and_hosts() {
    let extra = r#"
[[eni]]
id = "eni-b"
subnet = "subnet-a1"
ip = "10.0.1.11"
security_groups = []
host = "fabric"

[[eni]]
id = "eni-c"
subnet = "subnet-a1"
ip = "10.0.1.12"
security_groups = ["sg-a", "sg-a", "sg-a", "sg-a", "sg-a", "sg-a"]
host = "Host_C"
"#;
    assert_eq!(diags(&with_base(extra)), [
                "t.toml:26:19: eni[1].security_groups: an ENI needs 1 to 5 security groups, found 0",
                "t.toml:27:8: eni[1].host: host name \"fabric\" is reserved for the lab's fabric namespace",
                "t.toml:33:19: eni[2].security_groups: an ENI needs 1 to 5 security groups, found 6",
                "t.toml:33:28: eni[2].security_groups[1]: security group \"sg-a\" is listed twice",
                "t.toml:33:36: eni[2].security_groups[2]: security group \"sg-a\" is listed twice",
                "t.toml:33:44: eni[2].security_groups[3]: security group \"sg-a\" is listed twice",
                "t.toml:33:52: eni[2].security_groups[4]: security group \"sg-a\" is listed twice",
                "t.toml:33:60: eni[2].security_groups[5]: security group \"sg-a\" is listed twice",
                "t.toml:34:8: eni[2].host: invalid host name \"Host_C\" (expected 1 to 15 characters from a-z, 0-9 and '-', starting with a letter or digit)",
            ]);
}

/// `mtu` per subnet and per ENI: an ENI's wins over its subnet's, which
/// wins over `[lab] mtu`; both take `[lab] mtu`'s range, and an error names
/// the file, line, column and field.
#[test]
fn mtu_per_subnet_and_eni() {
    let src = with_base(
        "\n[[subnet]]\nid = \"subnet-a2\"\nvpc = \"vpc-a\"\ncidr = \"10.0.2.0/24\"\naz = \"use1-az1\"\nmtu = 9000\n\n\
         [[eni]]\nid = \"eni-b\"\nsubnet = \"subnet-a2\"\nip = \"10.0.2.10\"\nsecurity_groups = [\"sg-a\"]\nhost = \"b\"\n\n\
         [[eni]]\nid = \"eni-c\"\nsubnet = \"subnet-a2\"\nip = \"10.0.2.11\"\nsecurity_groups = [\"sg-a\"]\nhost = \"c\"\nmtu = 1400\n",
    );
    let t = parsed(&src);
    assert_eq!((t.subnets[0].mtu, t.subnets[1].mtu), (None, Some(9000)));
    assert_eq!(
        (t.enis[0].mtu, t.enis[1].mtu, t.enis[2].mtu),
        (None, None, Some(1400))
    );
    assert_eq!(
        (0..3).map(|e| t.eni_mtu(e)).collect::<Vec<_>>(),
        [1500, 9000, 1400]
    );
    assert_eq!(
        diags(&with_base(
            "\n[[subnet]]\nid = \"subnet-a2\"\nvpc = \"vpc-a\"\ncidr = \"10.0.2.0/24\"\naz = \"use1-az1\"\nmtu = 9001\n\n\
             [[eni]]\nid = \"eni-b\"\nsubnet = \"subnet-a2\"\nip = \"10.0.2.10\"\nsecurity_groups = [\"sg-a\"]\nhost = \"b\"\nmtu = \"jumbo\"\n"
        )),
        [
            "t.toml:27:7: subnet[1].mtu: MTU 9001 is out of range (expected 576 to 9000)",
            "t.toml:35:7: eni[1].mtu: expected an integer MTU such as 1500, found a string",
        ]
    );
}

/// With hook = "xdp", no MTU may exceed what a veth takes native XDP
/// programs for (3,506): the lab's, a subnet's or an ENI's.
#[test]
fn xdp_labs_refuse_mtus_veths_cannot_carry() {
    assert_eq!(
        diags(&with_base(
            "\n[lab]\nhook = \"xdp\"\nmtu = 3507\n\n[[subnet]]\nid = \"subnet-a2\"\nvpc = \"vpc-a\"\ncidr = \"10.0.2.0/24\"\naz = \"use1-az1\"\nmtu = 9000\n"
        )),
        [
            "t.toml:24:7: lab.mtu: MTU 3507 is above 3506, the largest a veth takes native XDP programs for (hook = \"xdp\"); use hook = \"tc\" for larger frames",
            "t.toml:31:7: subnet[1].mtu: MTU 9000 is above 3506, the largest a veth takes native XDP programs for (hook = \"xdp\"); use hook = \"tc\" for larger frames",
        ]
    );
    let t = parsed(&with_base("\n[lab]\nhook = \"xdp\"\nmtu = 3506\n"));
    assert_eq!((t.lab.hook, t.eni_mtu(0)), (Hook::Xdp, 3506));
}
