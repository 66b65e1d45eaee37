//! Tests of the config core: entry points, syntax and structure errors, ids
//! and references across kinds, the shipped configs.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::config::test_support::{diags, net, parsed, with_base, BASE};
use crate::config::{lab_name_of, load, parse_str, DEFAULT_CONFIG};
use crate::model::{
    ConntrackSettings, EndpointState, Hook, LabSettings, Peer, Protocol, Rule, Target, VpcLinkKind,
};

#[test]
fn base_is_valid() {
    let t = parsed(BASE);
    assert_eq!(t.lab.name, "t");
    assert_eq!(BASE.lines().count(), 20);
}

#[test]
fn lab_defaults_come_from_the_file_stem() {
    let t = parse_str("", "/some/dir/my-lab.toml").unwrap();
    assert_eq!(
        t.lab,
        LabSettings {
            name: "my-lab".into(),
            hook: Hook::Tc,
            mtu: 1500,
            nacl_entries_max: 20,
            aws: None,
        }
    );
    assert!(t.vpcs.is_empty() && t.enis.is_empty());
}

#[test]
fn default_config_is_the_demo() {
    let t = parse_str(DEFAULT_CONFIG, "default.toml").unwrap();
    assert_eq!(t.lab.name, "demo");
    assert_eq!(t.lab.hook, Hook::Tc);
    // Its [conntrack] spells out the defaults (AWS's).
    assert_eq!(t.conntrack, ConntrackSettings::default());
    let ids = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
    assert_eq!(
        t.enis.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        ids(vec![
            "eni-client",
            "eni-web",
            "eni-db",
            "eni-other",
            "eni-apigw"
        ])
    );
    // The private API: one user endpoint plus the REST link's implied
    // one; the HTTP link's integration adds a third, at 10.0.1.201.
    let s = &t.services;
    assert_eq!(
        s.vpc_endpoints
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        [
            "vpce-execute-api",
            "vpclink-rest-endpoint",
            "vpclink-http-int-web-endpoint"
        ]
    );
    assert_eq!(s.vpc_links.len(), 2);
    let VpcLinkKind::Http { enis, .. } = &s.vpc_links[1].kind else {
        panic!("vpclink-http is an HTTP link")
    };
    let link_ips: Vec<String> = enis.iter().map(|e| e.ip.to_string()).collect();
    assert_eq!(link_ips, ["10.0.1.4", "10.0.2.4"]);
    let client = t.eni_by_id("eni-client").unwrap();
    let other = t.eni_by_id("eni-other").unwrap();
    assert_eq!(t.enis[client].ip, t.enis[other].ip);
    assert_ne!(t.eni_vpc(client), t.eni_vpc(other));
    assert_eq!(t.vpcs[0].cidr, t.vpcs[1].cidr);
    let sg = |id: &str| t.security_groups.iter().position(|g| g.id == id).unwrap();
    assert_eq!(
        t.security_groups[sg("sg-db")].ingress,
        vec![Rule {
            protocol: Protocol::Tcp,
            ports: (5432, 5432),
            peer: Peer::SecurityGroup(sg("sg-web")),
        }]
    );
    assert_eq!(
        t.security_groups[sg("sg-web")].ingress,
        vec![
            Rule {
                protocol: Protocol::Tcp,
                ports: (80, 80),
                peer: Peer::SecurityGroup(sg("sg-client")),
            },
            Rule {
                protocol: Protocol::Tcp,
                ports: (80, 80),
                peer: Peer::SecurityGroup(sg("sg-nlb-web")),
            },
            Rule {
                protocol: Protocol::Tcp,
                ports: (80, 80),
                peer: Peer::SecurityGroup(sg("sg-link")),
            },
            Rule {
                protocol: Protocol::Icmp,
                ports: (0, 65535),
                peer: Peer::Cidr(net("10.0.0.0/16")),
            },
        ]
    );
    assert!(t.security_groups[sg("sg-client")].ingress.is_empty());
    assert_eq!(
        t.hosts().into_iter().map(|(h, _)| h).collect::<Vec<_>>(),
        ids(vec!["client", "web", "db", "other", "apigw"])
    );
}

#[test]
fn every_file_in_configs_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut n = 0;
    for path in crate::config::test_support::shipped_configs() {
        if let Err(d) = load(&path) {
            panic!("{d}");
        }
        n += 1;
    }
    assert!(n >= 2, "only {n} configs in {}", dir.display());
    let t = load(&dir.join("two-vpcs-same-cidr.toml")).unwrap();
    assert_eq!(t.lab.name, "overlap");
    let t = load(&dir.join("privatelink.toml")).unwrap();
    assert_eq!(t.lab.name, "plink");
    let svc = &t.services;
    assert_eq!(svc.nlbs.len(), 1);
    assert_eq!(svc.nlbs[0].listeners.len(), 2);
    assert!(svc.nlbs[0].cross_zone);
    assert_eq!(
        svc.target_groups[1].targets,
        svc.target_groups[0]
            .targets
            .iter()
            .map(|t| Target {
                eni: t.eni,
                port: 5353
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(
        svc.vpc_endpoints
            .iter()
            .map(|e| (e.id.as_str(), e.state))
            .collect::<Vec<_>>(),
        [
            ("vpce-web", EndpointState::Available),
            ("vpce-pending", EndpointState::Pending),
        ]
    );
    assert_eq!(t.vpcs[0].cidr, t.vpcs[1].cidr);
    let t = load(&dir.join("http-vpc-link.toml")).unwrap();
    assert_eq!(t.lab.name, "httplink");
    let svc = &t.services;
    let VpcLinkKind::Http {
        enis, integrations, ..
    } = &svc.vpc_links[0].kind
    else {
        panic!("not an HTTP link");
    };
    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    assert_eq!(
        enis.iter().map(|e| e.ip).collect::<Vec<_>>(),
        [ip("10.0.1.4"), ip("10.0.2.4")],
        "allocated: each subnet's first usable address"
    );
    assert_eq!(
        integrations
            .iter()
            .map(|g| (g.id.as_str(), g.address, g.port))
            .collect::<Vec<_>>(),
        [
            ("int-alb", ip("10.1.1.201"), 80),
            ("int-nlb", ip("10.1.1.202"), 80),
            ("int-users", ip("10.1.1.203"), 9000),
            ("int-locked", ip("10.1.1.204"), 9000),
        ]
    );
    let eni = |id: &str| t.eni_by_id(id).unwrap();
    let targets = |g: usize| &svc.target_groups[integrations[g].target_group].targets;
    assert_eq!(
        *targets(0),
        [
            Target {
                eni: eni("eni-alb1"),
                port: 80
            },
            Target {
                eni: eni("eni-alb2"),
                port: 80
            }
        ]
    );
    assert_eq!(
        *targets(1),
        [Target {
            eni: eni("eni-orders1"),
            port: 8080
        }]
    );
    assert_eq!(
        *targets(2),
        [Target {
            eni: eni("eni-users1"),
            port: 9000
        }]
    );
    assert_eq!(
        *targets(3),
        [Target {
            eni: eni("eni-locked"),
            port: 9000
        }]
    );
    assert_eq!(svc.nlbs.len(), 5);
    assert!(svc.nlbs[1..].iter().all(|n| n.vpc_link == Some(0)
        && n.nodes.iter().map(|n| n.ip).collect::<Vec<_>>() == [ip("10.0.1.4"), ip("10.0.2.4")]));
}

#[test]
fn unreadable_file() {
    let d = load(Path::new("/nonexistent/x.toml")).unwrap_err();
    assert_eq!(d.0.len(), 1);
    assert!(d
        .to_string()
        .starts_with("/nonexistent/x.toml:1:1: cannot read the config file: "));
}

#[test]
fn syntax_error() {
    assert_eq!(
        diags("[[vpc]]\nid = \"vpc-a\"\ncidr = 10.0.0.0/16\n"),
        ["t.toml:3:12: TOML syntax error: expected newline, `#`",]
    );
}

/// The syntax error of `src` read as `file`, as rendered.
fn syntax_diags(src: &str, file: &str) -> String {
    parse_str(src, file).unwrap_err().to_string()
}

#[test]
fn yaml_gets_a_hint_that_configs_are_toml() {
    const HINT: &str = "\nhint: hyperlab configs are TOML (see README), not YAML";
    // A mapping, after a comment: the hint whatever the file's name.
    let yaml = "# my lab\nlab:\n  name: demo\nvpc:\n  - id: vpc-a\n";
    let got = syntax_diags(yaml, "lab.toml");
    assert!(
        got.starts_with("lab.toml:2:4: TOML syntax error: "),
        "{got}"
    );
    assert!(got.ends_with(HINT), "{got}");
    assert_eq!(got.matches("hint:").count(), 1, "{got}");
    // A document start, a list, a quoted key, a key with a value.
    for src in [
        "---\nlab:\n  name: demo\n",
        "- id: vpc-a\n  cidr: 10.0.0.0/16\n",
        "\"lab\": {}\n",
        "name: demo\n",
    ] {
        let got = syntax_diags(src, "t.toml");
        assert!(got.ends_with(HINT), "{src:?}: {got}");
    }
    // Any syntax error in a file named .yaml or .yml.
    for file in ["lab.yaml", "LAB.YML"] {
        let got = syntax_diags("[[vpc]]\nid = \"vpc-a\"\ncidr = 10.0.0.0/16\n", file);
        assert_eq!(
            got,
            format!("{file}:3:12: TOML syntax error: expected newline, `#`{HINT}")
        );
    }
    // TOML with a syntax error gets no hint (see also `syntax_error`), nor
    // does a value that holds a colon.
    for src in [
        "[lab]\nname = \"a:b\" x\n",
        "mtu = 1500:\n",
        "[lab]\nname:\n",
    ] {
        let got = syntax_diags(src, "t.toml");
        assert!(!got.contains("hint:"), "{src:?}: {got}");
    }
}

#[test]
fn duplicate_key_is_a_syntax_error() {
    assert_eq!(
        diags("[[vpc]]\nid = \"vpc-a\"\nid = \"vpc-b\"\n"),
        ["t.toml:3:1: TOML syntax error: duplicate key `id` in table `vpc`",]
    );
}

#[test]
fn unknown_fields() {
    assert_eq!(
            diags(&with_base(
                "adress = \"x\"\nsecuritygroups = []\n\n[[vpcs]]\nid = \"v\"\n"
            )),
            [
                "t.toml:21:1: eni[0].adress: unknown field \"adress\" (allowed: id, subnet, ip, mac, security_groups, host, public_ip, mtu, node)",
                "t.toml:22:1: eni[0].securitygroups: unknown field \"securitygroups\" (allowed: id, subnet, ip, mac, security_groups, host, public_ip, mtu, node; did you mean \"security_groups\"?)",
                "t.toml:24:3: vpcs: unknown field \"vpcs\" (allowed: lab, flow_logs, vpc, subnet, security_group, network_acl, route_table, vpc_peering, internet_gateway, internet, nat_gateway, eni, nlb, target_group, alb, cloud_map_service, endpoint_service, vpc_endpoint, vpc_link, conntrack, aws, node; did you mean \"vpc\"?)",
            ]
        );
}

#[test]
fn missing_fields() {
    assert_eq!(
            diags(&with_base("\n[[vpc]]\n\n[[security_group]]\nid = \"sg-b\"\ningress = [{ protocol = \"tcp\" }]\n")),
            [
                "t.toml:22:1: vpc[1].id: missing required field \"id\" (expected a string id such as \"vpc-a\")",
                "t.toml:22:1: vpc[1].cidr: missing required field \"cidr\" (expected an IPv4 CIDR such as \"10.0.0.0/16\")",
                "t.toml:24:1: security_group[1].vpc: missing required field \"vpc\" (expected the id of a [[vpc]])",
                "t.toml:26:12: security_group[1].ingress[0].peer: missing required field \"peer\" (expected an IPv4 CIDR such as \"10.0.0.0/16\" or a security group id)",
            ]
        );
}

#[test]
fn wrong_types() {
    assert_eq!(
            diags(&with_base(
                "\n[lab]\nmtu = \"1500\"\n\n[[vpc]]\nid = 7\ncidr = [\"10.1.0.0/16\"]\n"
            )),
            [
                "t.toml:23:7: lab.mtu: expected an integer MTU such as 1500, found a string",
                "t.toml:26:6: vpc[1].id: expected a string id such as \"vpc-a\", found an integer",
                "t.toml:27:8: vpc[1].cidr: expected an IPv4 CIDR such as \"10.0.0.0/16\", found an array",
            ]
        );
}

#[test]
fn section_must_be_an_array_of_tables() {
    assert_eq!(
        diags("lab = 1\n[vpc]\nid = \"vpc-a\"\n"),
        [
            "t.toml:1:7: lab: expected a table ([lab]), found an integer",
            "t.toml:2:1: vpc: expected an array of tables ([[vpc]]), found a table",
        ]
    );
}

#[test]
fn duplicate_ids_across_kinds() {
    assert_eq!(
            diags(&with_base(
                "\n[[security_group]]\nid = \"vpc-a\"\nvpc = \"vpc-a\"\n\n[[eni]]\nid = \"eni-a\"\nsubnet = \"subnet-a1\"\nip = \"10.0.1.11\"\nsecurity_groups = [\"sg-a\"]\nhost = \"a\"\n"
            )),
            [
                "t.toml:23:6: security_group[1].id: duplicate id \"vpc-a\": already used by vpc[0] at line 2 (ids are shared by all resource kinds)",
                "t.toml:27:6: eni[1].id: duplicate id \"eni-a\": already used by eni[0] at line 16 (ids are shared by all resource kinds)",
            ]
        );
}

#[test]
fn dangling_references() {
    let src = r#"[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-x"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-a2"
vpc = "subnet-a1"
cidr = "10.0.2.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-web"
vpc = "vpc-a"
ingress = [{ protocol = "tcp", ports = 80, peer = "sg-client" }]

[[security_group]]
id = "sg-db"
vpc = "vpc-b"

[[eni]]
id = "eni-a"
subnet = "subnet-zz"
ip = "10.0.1.10"
security_groups = ["sg-x", "eni-a"]
host = "a"
"#;
    assert_eq!(diags(src), [
                "t.toml:7:7: subnet[0].vpc: unknown VPC \"vpc-x\" (defined: vpc-a)",
                "t.toml:13:7: subnet[1].vpc: \"subnet-a1\" is a subnet (subnet[0]), not a VPC",
                "t.toml:20:51: security_group[0].ingress[0].peer: unknown security group \"sg-client\" (defined: sg-web, sg-db)",
                "t.toml:24:7: security_group[1].vpc: unknown VPC \"vpc-b\" (defined: vpc-a)",
                "t.toml:28:10: eni[0].subnet: unknown subnet \"subnet-zz\" (defined: subnet-a1, subnet-a2)",
                "t.toml:30:20: eni[0].security_groups[0]: unknown security group \"sg-x\" (defined: sg-web, sg-db)",
                "t.toml:30:28: eni[0].security_groups[1]: \"eni-a\" is an ENI (eni[0]), not a security group",
            ]);
}

#[test]
fn reports_every_error_at_once() {
    let src = r#"[[vpc]]
id = "vpc-a"
cidr = "10.0.0.1/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[eni]]
id = "eni-a"
subnet = "subnet-a1"
ip = "10.0.2.10"
security_groups = ["sg-nope"]
host = "a"
"#;
    assert_eq!(diags(src), [
                "t.toml:3:8: vpc[0].cidr: 10.0.0.1/16 has host bits set (expected a network address: did you mean 10.0.0.0/16?)",
                "t.toml:14:6: eni[0].ip: 10.0.2.10 is outside subnet subnet-a1 (10.0.1.0/24)",
                "t.toml:15:20: eni[0].security_groups[0]: unknown security group \"sg-nope\" (no security groups are defined)",
            ]);
}

#[test]
fn odd_values_are_located_too() {
    let src = "[[vpc]]\nid = 1979-05-27\ncidr = \"10.0.0.0/16\"\n\n[[vpc]]\nid = \"vpc b\"\ncidr = \"10.1.0.0/16\"\n\n[foo.bar]\nx = 1\n";
    let d = parse_str(src, "t.toml").unwrap_err();
    assert_eq!(d.0.len(), 3);
    assert_eq!(
            d.to_string(),
            "t.toml:2:6: vpc[0].id: expected a string id such as \"vpc-a\", found a datetime\n\
             t.toml:6:6: vpc[1].id: invalid id \"vpc b\" (expected a non-empty string without \
             spaces, such as \"vpc-a\")\n\
             t.toml:9:2: foo: unknown field \"foo\" (allowed: lab, flow_logs, vpc, subnet, security_group, network_acl, route_table, vpc_peering, internet_gateway, internet, nat_gateway, eni, nlb, \
             target_group, alb, cloud_map_service, endpoint_service, vpc_endpoint, vpc_link, conntrack, aws, node)"
        );
}

#[test]
fn the_lab_name_is_read_from_text_that_does_not_check_or_parse() {
    assert_eq!(
        lab_name_of("[lab]\nname = \"edit\"\n[[vpc]]\nid = 3\n").as_deref(),
        Some("edit")
    );
    // Mid-edit: not TOML at all below the lab table.
    assert_eq!(
        lab_name_of("[lab]  # the lab\nname = \"half\" # x\n[[eni]\nid = \n").as_deref(),
        Some("half")
    );
    assert_eq!(lab_name_of("[[vpc]]\nname = \"no\"\n[[eni"), None);
    assert_eq!(lab_name_of("[lab]\nhook = \"tc\"\n"), None);
}

#[test]
fn aws_section_is_read_and_its_errors_name_file_line_and_field() {
    let t = parse_str(
        "[aws]\nendpoint = \"http://127.0.0.1:5000\"\nregion = \"eu-west-2\"\nprofile = \"moto\"\n",
        "a.toml",
    )
    .unwrap();
    assert_eq!(
        t.lab.aws,
        Some(crate::model::AwsSource {
            endpoint: Some("http://127.0.0.1:5000".into()),
            region: Some("eu-west-2".into()),
            profile: Some("moto".into()),
        })
    );
    let t = parse_str("[aws]\nprofile = \"localstack\"\n", "a.toml").unwrap();
    assert_eq!(t.lab.aws.unwrap().endpoint, None);
    assert_eq!(parse_str("", "a.toml").unwrap().lab.aws, None);
    let err = parse_str(
        "[lab]\nname = \"x\"\n\n[aws]\nendpoint = \"https://127.0.0.1:5000\"\nregion = \"Mars\"\nprofile = \"my profile\"\nkey = 1\n",
        "bad.toml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "bad.toml:5:12: aws.endpoint: https://127.0.0.1:5000: https is not supported (an emulator on this machine speaks http)\n\
         bad.toml:6:10: aws.region: invalid region \"Mars\" (expected a region such as \"us-east-1\")\n\
         bad.toml:7:11: aws.profile: invalid profile name \"my profile\" (expected 1 to 64 characters from A-Z, a-z, 0-9 and -_.+@)\n\
         bad.toml:8:1: aws.key: unknown field \"key\" (allowed: endpoint, region, profile)"
    );
    let err = parse_str("[aws]\nregion = \"us-east-1\"\n", "bad.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "bad.toml:1:1: aws: [aws] needs `endpoint` (an emulator's http://HOST:PORT), or a `profile` whose endpoint_url names one"
    );
    let err = parse_str("[aws]\nendpoint = \"http://127.0.0.1/x\"\n", "bad.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "bad.toml:2:12: aws.endpoint: http://127.0.0.1/x: expected http://HOST:PORT (a port, no path)"
    );
}
