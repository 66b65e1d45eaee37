//! `dataplane explain` against the data path: for allowed and denied
//! packets on the shipped configs, the dry run's verdict and output frame
//! equal what the live program does with the same packet over the same
//! maps, the dry run creates no flow and moves no counter, and its
//! explanation names the deciding stage, the security-group rule and the
//! NAT the live flow got.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use dataplane::{
    explain::{self, DryRun, Explanation, Probe, Proto, Query, Source},
    loader,
    model::Hook,
};
use dataplane_common::{explain::STAGE_NAMES, DropReason, FLOW_F_REPLY};
use hyperlab_tests::{config_path, Fixture, Verdict};

/// A shipped config with its lab renamed (`@LAB@`) and its health checks
/// left out: no servers run here, and a target failing its checks mid-test
/// would change the answer between the dry run and the live run.
fn shipped(name: &str) -> String {
    let text = std::fs::read_to_string(config_path(name)).unwrap();
    let mut renamed = false;
    text.lines()
        .filter(|l| !l.trim_start().starts_with("health_check"))
        .map(|l| {
            if !renamed && l.starts_with("name = ") {
                renamed = true;
                "name = \"@LAB@\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct Case {
    from: &'static str,
    to: &'static str,
    proto: Proto,
    port: Option<u16>,
    /// `None`: forwarded; else the drop reason.
    drop: Option<DropReason>,
    /// The stage that decides.
    stage: &'static str,
    /// A rule text the explanation must quote (allowing, or closest denying).
    rule: Option<&'static str>,
    /// Forwarded: the tuple the packet leaves with (from the live flow).
    leaves_as: Option<&'static str>,
}

fn tcp(from: &'static str, to: &'static str, port: u16) -> Case {
    Case {
        from,
        to,
        proto: Proto::Tcp,
        port: Some(port),
        drop: None,
        stage: "ingress_sg",
        rule: None,
        leaves_as: None,
    }
}

impl Case {
    fn drops(mut self, r: DropReason, stage: &'static str) -> Case {
        self.drop = Some(r);
        self.stage = stage;
        self
    }
    fn rule(mut self, r: &'static str) -> Case {
        self.rule = Some(r);
        self
    }
    fn via(mut self, stage: &'static str) -> Case {
        self.stage = stage;
        self
    }
    fn leaves(mut self, stage: &'static str, tuple: &'static str) -> Case {
        self.stage = stage;
        self.leaves_as = Some(tuple);
        self
    }
}

/// Explains `case`, then runs the same packet through the live program and
/// asserts they agree; returns the explanation.
fn agree(fx: &mut Fixture, dry: &mut DryRun, text: &str, case: &Case) -> Explanation {
    fx.clear_flows();
    let topo = fx.agent.topo.clone();
    let q = Query {
        from: case.from.into(),
        to: case.to.into(),
        proto: case.proto,
        port: case.port,
        sport: None,
    };
    let what = format!(
        "{} -> {} {:?} {:?}",
        case.from, case.to, case.proto, case.port
    );
    let probe = Probe::resolve(&topo, &q).unwrap();
    let src = Source {
        file: "cfg.toml",
        text,
    };
    let counters = fx.snapshot();
    let e = explain::explain(&topo, Some(&src), dry, &probe).unwrap();
    let rendered = explain::render(&e);
    // The dry run left nothing behind.
    assert!(fx.flows().is_empty(), "{what}: explain created flows");
    assert_eq!(fx.snapshot(), counters, "{what}: explain moved counters");

    // The live program, same maps, same packet.
    let ifindex = fx.port_ifindex(&topo.enis[probe.eni].id);
    let live = fx.run_on(Hook::Tc, ifindex, &probe.frame(&topo));
    assert_eq!(
        e.outcome, live,
        "{what}: dry run and live run differ\n{rendered}"
    );
    let moved = fx.snapshot().since(&counters);
    match case.drop {
        None => {
            assert_eq!(live.verdict, Verdict::Forward, "{what}\n{rendered}");
            assert_eq!(
                (e.verdict, e.drop_reason),
                ("forward", None),
                "{what}\n{rendered}"
            );
            // The live flow's action is the one the explanation reports.
            let flows = fx.flows();
            let (_, fwd) = flows
                .iter()
                .find(|(k, e)| e.flags & FLOW_F_REPLY == 0 && k.src == probe.src.octets())
                .unwrap_or_else(|| panic!("{what}: no live flow"));
            let t = &e.trace;
            assert_eq!(
                (
                    t.new_src,
                    t.new_dst,
                    t.new_sport,
                    t.new_dport,
                    t.out_ifindex,
                    t.out_eni
                ),
                (
                    fwd.new_src,
                    fwd.new_dst,
                    fwd.new_sport,
                    fwd.new_dport,
                    fwd.out_ifindex,
                    fwd.dst_eni
                ),
                "{what}: the live flow's action\n{rendered}"
            );
        }
        Some(r) => {
            assert_eq!(live.verdict, Verdict::Drop, "{what}\n{rendered}");
            assert_eq!(
                (e.verdict, e.drop_reason),
                ("drop", Some(r.name())),
                "{what}\n{rendered}"
            );
            assert_eq!(
                moved.drops[r as usize],
                1,
                "{what}: the live run counted {}",
                r.name()
            );
            assert!(fx.flows().is_empty(), "{what}: no live flow for a drop");
        }
    }
    assert_eq!(e.decided_by, case.stage, "{what}\n{rendered}");
    assert!(
        STAGE_NAMES.contains(&e.decided_by),
        "{what}: a kernel stage name"
    );
    if let Some(rule) = case.rule {
        assert!(
            rendered.contains(rule),
            "{what}: names {rule:?}\n{rendered}"
        );
    }
    if let Some(tuple) = case.leaves_as {
        assert_eq!(e.leaves_as.as_deref(), Some(tuple), "{what}\n{rendered}");
    }
    e
}

/// A shipped config's lab with its agent, the config text and a dry run of
/// the same maps (dropped first, before the lab, as locals would be).
struct Lab {
    dry: DryRun,
    fx: Fixture,
    text: String,
}

impl Lab {
    fn new(config: &str, prefix: &str) -> Lab {
        Lab::of_text(shipped(config), prefix)
    }

    fn of_text(text: String, prefix: &str) -> Lab {
        let fx = Fixture::new(&text, prefix);
        let dry = DryRun::for_lab(&fx.agent.topo, &loader::object_path().into(), Hook::Tc)
            .expect("dry run loads");
        Lab { dry, fx, text }
    }

    /// [`agree`] on this lab.
    fn agree(&mut self, case: &Case) -> Explanation {
        agree(&mut self.fx, &mut self.dry, &self.text, case)
    }
}

#[test]
#[ignore = "needs root"]
fn explain_agrees_with_the_data_path_on_the_default_topology() {
    let mut lab = Lab::new("default.toml", "xa");
    let cases = [
        tcp("client", "web", 80).rule("sg-web ingress[0] (cfg.toml:"),
        tcp("client", "10.0.2.30", 5432)
            .drops(DropReason::IngressSgDeny, "ingress_sg")
            .rule("sg-db ingress[0] (cfg.toml:")
            .rule("source 10.0.1.10 is not a member of sg-web"),
        Case {
            proto: Proto::Icmp,
            port: None,
            ..tcp("client", "web", 0)
        }
        .rule("icmp from 10.0.0.0/16"),
        // vpc-b shares vpc-a's CIDR but nothing routes between them.
        tcp("other", "10.0.2.20", 80).drops(DropReason::NoRoute, "eni"),
        // PrivateLink: the consumer's packet leaves from nlb-api's node to the API host.
        tcp("other", "vpce-execute-api", 80)
            .leaves(
                "target_sg",
                "tcp 10.0.1.50:18718 -> 10.0.1.20:80 in vpc-api",
            )
            .rule("sg-apigw ingress[0] (cfg.toml:"),
        tcp("other", "vpce-execute-api", 81)
            .drops(DropReason::IngressSgDeny, "ingress_sg")
            .rule("port 81 is outside 80-80"),
        // REST VPC link: PrivateLink to nlb-web, whose node in the endpoint's AZ is the source.
        tcp("apigw", "10.0.1.100", 80)
            .leaves("target_sg", "tcp 10.0.1.50:50938 -> 10.0.2.20:80 in vpc-a"),
        // HTTP VPC link: source NAT to the link ENI in web's AZ.
        tcp("apigw", "int-web", 80)
            .leaves("target_sg", "tcp 10.0.2.4:17913 -> 10.0.2.20:80 in vpc-a"),
    ];
    for case in &cases {
        lab.agree(case);
    }
}

#[test]
#[ignore = "needs root"]
fn explain_agrees_with_the_data_path_through_privatelink() {
    let mut lab = Lab::new("privatelink.toml", "xb");
    let pl = lab.agree(&tcp("consumer", "vpce-web", 80).via("target_sg"));
    let nat = pl.nat.as_ref().expect("a NAT section");
    assert_eq!(nat.kind, "privatelink");
    assert!(nat.target.as_deref().unwrap().contains("tg-web"), "{nat:?}");
    // The managed interfaces passed, by their flow-log ids.
    let id = dataplane::model::managed_eni_id;
    assert_eq!(
        nat.interfaces,
        [
            format!(
                "endpoint ENI {} 10.0.1.100",
                id("vpce-web", "subnet-consumer1")
            ),
            format!("NLB node {} 10.0.1.50", id("nlb-web", "subnet-provider1")),
        ]
    );
    lab.agree(&tcp("consumer", "vpce-pending", 80).drops(DropReason::EndpointPending, "endpoint"));
}

#[test]
#[ignore = "needs root"]
fn explain_agrees_with_the_data_path_through_an_http_vpc_link() {
    let mut lab = Lab::new("http-vpc-link.toml", "xc");
    let e = lab.agree(&tcp("apigw", "int-users", 9000).leaves(
        "target_sg",
        "tcp 10.0.2.4:35206 -> 10.0.2.41:9000 in vpc-cust",
    ));
    assert_eq!(e.nat.as_ref().unwrap().kind, "http vpc link");
    // The integration's endpoint is AWS's: only the link ENI is the user's.
    assert_eq!(
        e.nat.as_ref().unwrap().interfaces,
        [format!(
            "VPC link ENI {} 10.0.2.4",
            dataplane::model::managed_eni_id("vpclink-http", "subnet-cust2")
        )]
    );
    lab.agree(
        &tcp("apigw", "int-locked", 9000)
            .drops(DropReason::TargetIngressSgDeny, "target_sg")
            .rule("sg-locked ingress[0] (cfg.toml:")
            .rule("source 10.0.1.4 is outside 10.99.0.0/16"),
    );
}

#[test]
#[ignore = "needs root"]
fn explain_of_a_tracked_flow_names_it_and_leaves_it_untouched() {
    let mut lab = Lab::new("default.toml", "xd");
    let through_privatelink = tcp("other", "vpce-execute-api", 80).leaves(
        "target_sg",
        "tcp 10.0.1.50:18718 -> 10.0.1.20:80 in vpc-api",
    );
    let first = lab.agree(&through_privatelink);
    // The live run above left its flow: the same packet now hits it.
    let topo = lab.fx.agent.topo.clone();
    let probe = Probe::of(
        &topo,
        lab.fx.eni("eni-other"),
        "10.0.1.100".parse().unwrap(),
        Proto::Tcp,
        explain::DEFAULT_SPORT,
        80,
    );
    let flows = lab.fx.flows();
    let counters = lab.fx.snapshot();
    let e = explain::explain(&topo, None, &mut lab.dry, &probe).unwrap();
    assert_eq!(lab.fx.flows(), flows, "state, timestamps untouched");
    assert_eq!(lab.fx.snapshot(), counters);
    assert_eq!(e.decided_by, "flow");
    assert!(
        e.flow
            .as_deref()
            .unwrap()
            .contains("existing flow matched (new)"),
        "{:?}",
        e.flow
    );
    assert!(
        e.security_groups.is_empty(),
        "a tracked flow is not checked again"
    );
    assert_eq!(e.leaves_as, first.leaves_as);
    let live = lab.fx.run(Hook::Tc, "eni-other", &probe.frame(&topo));
    assert_eq!(e.outcome, live);
}

#[test]
#[ignore = "needs root"]
fn explain_agrees_with_the_data_path_through_network_acls() {
    let mut lab = Lab::new("network-acls.toml", "xn");
    let ok = lab.agree(&tcp("client", "web", 80));
    let rules: Vec<(&str, &str, &str)> = ok
        .nacls
        .iter()
        .map(|n| (n.check, n.nacl.as_str(), n.rule.as_str()))
        .collect();
    assert_eq!(rules, [("out", "acl-app", "100"), ("in", "acl-web", "100")]);
    // Rule 90's deny, numbered below the allow-all 200, decides.
    lab.agree(
        &tcp("client", "web", 22)
            .drops(DropReason::NaclIngressDeny, "nacl_in")
            .rule("acl-web]: DENY tcp from 10.0.1.10 port 22: rule 90 (cfg.toml:")
            .rule("deny tcp 22 from 0.0.0.0/0"),
    );
    // acl-db has no entries: its final `*` denies.
    lab.agree(
        &tcp("web", "db", 5432)
            .drops(DropReason::NaclIngressDeny, "nacl_in")
            .rule("[acl-db]: DENY tcp from 10.0.2.20 port 5432: rule *: no entry matches"),
    );
    // Out of subnet-web only the ephemeral range (and 5432 to the db).
    lab.agree(
        &tcp("web", "client", 80)
            .drops(DropReason::NaclEgressDeny, "nacl_out")
            .rule("[acl-web]: DENY tcp to 10.0.1.10 port 80: rule *"),
    );
    // Same subnet: no ACL at all.
    let same = lab.agree(&tcp("client", "client2", 80));
    assert!(same.nacls.is_empty(), "{:?}", same.nacls);
}

#[test]
#[ignore = "needs root"]
fn explain_without_a_running_agent_says_how_to_start_one() {
    hyperlab_tests::require_root();
    let topo = hyperlab_tests::topology(&shipped("default.toml"), "xnone");
    let err = DryRun::for_lab(&topo, &loader::object_path().into(), Hook::Tc)
        .err()
        .expect("no agent runs lab xnone");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("no agent runs lab xnone") && msg.contains("dataplane run"),
        "{msg}"
    );
}

#[test]
#[ignore = "needs root"]
fn explain_agrees_with_the_data_path_through_route_tables() {
    let mut lab = Lab::new("route-tables.toml", "xr");
    // rtb-app's 0.0.0.0/0 blackhole is broader than local: local decides.
    let ok = lab.agree(&tcp("client", "web", 80));
    let r = ok.route.as_ref().expect("a first packet meets its table");
    assert_eq!(
        (
            r.subnet.as_str(),
            r.table.as_str(),
            r.route.as_str(),
            r.allowed
        ),
        ("subnet-app", "rtb-app", "local 10.0.0.0/16", true)
    );
    // The whole quarantine subnet is blackholed in rtb-app (line 69).
    lab.agree(
        &tcp("client", "quarantine", 80)
            .drops(DropReason::RouteBlackhole, "route")
            .rule("route     subnet-app [rtb-app]: DROP to 10.0.3.30: blackhole 10.0.3.0/24 (cfg.toml:69)"),
    );
    // subnet-web uses the main table, which leaves 10.0.3.0/24 local.
    lab.agree(
        &tcp("web", "quarantine", 80)
            .rule("route     subnet-web [rtb-main]: LOCAL to 10.0.3.30: local 10.0.0.0/16"),
    );
    // Outside the VPC: rtb-app's 0.0.0.0/0 blackhole, rtb-main no route.
    lab.agree(
        &tcp("client", "198.51.100.7", 80)
            .drops(DropReason::RouteBlackhole, "route")
            .rule("blackhole 0.0.0.0/0 (cfg.toml:70)"),
    );
    lab.agree(
        &tcp("web", "198.51.100.7", 80)
            .drops(DropReason::NoRoute, "route")
            .rule("route     subnet-web [rtb-main]: DROP to 198.51.100.7: no route"),
    );
    lab.agree(
        &tcp("web", "192.168.1.1", 80)
            .drops(DropReason::RouteBlackhole, "route")
            .rule("blackhole 192.168.0.0/16 (cfg.toml:61)"),
    );
}

#[test]
#[ignore = "needs root"]
fn explain_agrees_with_the_data_path_through_the_internet_gateway() {
    let mut lab = Lab::new("internet-gateway.toml", "xi");
    // web's subnet routes 0.0.0.0/0 to igw-a (line 65); web has a public IP.
    let out = lab.agree(
        &tcp("web", "example", 8080)
            .rule("route     subnet-public [rtb-public]: GATEWAY to 203.0.113.10: igw-a 0.0.0.0/0 (cfg.toml:65)")
            .rule("internet host example through internet gateway igw-a"),
    );
    assert!(out.route.as_ref().is_some_and(|r| r.allowed));
    // No internet host has the address: decided at the gateway.
    lab.agree(&tcp("web", "198.51.100.99", 80).drops(DropReason::InternetNoHost, "igw"));
    // The private subnet's main table has no route out.
    lab.agree(
        &tcp("app", "example", 8080)
            .drops(DropReason::NoRoute, "route")
            .rule("route     subnet-private [rtb-private]: DROP to 203.0.113.10: no route"),
    );
}

#[test]
#[ignore = "needs root"]
fn explain_agrees_with_the_data_path_through_the_nat_gateway() {
    let mut lab = Lab::new("nat-gateway.toml", "xn");
    // app's subnet routes 0.0.0.0/0 to nat-a (line 75), which sits in the
    // public subnet.
    let out = lab.agree(&tcp("app", "example", 8080).rule(
        "route     subnet-private [rtb-private]: GATEWAY to 203.0.113.10: nat-a 0.0.0.0/0 \
         (NAT gateway, Elastic IP 203.0.113.50) (cfg.toml:75)",
    ));
    assert!(out.route.as_ref().is_some_and(|r| r.allowed));
    lab.agree(
        &tcp("app", "example", 8080)
            .rule("internet host example through NAT gateway nat-a and internet gateway igw-a"),
    );
    // No internet host has the address: decided at the NAT gateway.
    lab.agree(&tcp("app", "198.51.100.99", 80).drops(DropReason::InternetNoHost, "nat_gateway"));
}

#[test]
#[ignore = "needs root"]
fn explain_agrees_with_the_data_path_across_vpc_peering() {
    let mut lab = Lab::new("peering.toml", "xp");
    // rtb-app sends vpc-shared's CIDR over the active pcx-app-shared.
    let ok = lab.agree(&tcp("app", "db", 5432));
    let r = ok.route.as_ref().expect("a first packet meets its table");
    assert_eq!(
        (r.table.as_str(), r.route.as_str(), r.allowed),
        (
            "rtb-app",
            "pcx-app-shared 10.1.0.0/16 (peering vpc-app <-> vpc-shared, active)",
            true
        )
    );
    lab.agree(&tcp("app", "db", 5432).rule(
        "route     subnet-app [rtb-app]: PEERING to 10.1.1.20: pcx-app-shared 10.1.0.0/16 \
         (peering vpc-app <-> vpc-shared, active) (cfg.toml:95)",
    ));
    // Not transitive: rtb-partner's 10.0.0.0/8 over pcx-partner-shared.
    lab.agree(
        &tcp("partner", "10.0.1.10", 80)
            .drops(DropReason::PeeringNotTransitive, "route")
            .rule("DROP to 10.0.1.10: pcx-partner-shared 10.0.0.0/8"),
    );
    // Pending: nothing crosses pcx-app-newco.
    lab.agree(
        &tcp("app", "10.3.1.40", 80)
            .drops(DropReason::PeeringNotActive, "route")
            .rule("pending-acceptance) (cfg.toml:96)"),
    );
}

/// Other IP protocols, by name or number as the config writes them: GRE
/// from client to web is admitted by sg-any's `all` rule and acl-web's
/// allow-all rule 200 (a tracked flow, leaving with its addresses only);
/// ESP (protocol 50, given by number) to db is refused by sg-db, whose only
/// rule is TCP 5432; GRE out of subnet-web meets acl-web's final `*`.
/// With a deny entry for protocol 50 added at rule 80, ESP to web is
/// refused by that entry, named with its line.
#[test]
#[ignore = "needs root"]
fn explain_agrees_with_the_data_path_for_other_ip_protocols() {
    let mut lab = Lab::new("network-acls.toml", "xo");
    let other = |to: &'static str, proto: &str| Case {
        proto: Proto::parse(proto).unwrap(),
        port: None,
        ..tcp("client", to, 0)
    };
    let gre = lab.agree(
        &other("web", "gre")
            .leaves("ingress_sg", "gre 10.0.1.10 -> 10.0.2.20 in vpc-a")
            .rule("sg-any ingress[0] (cfg.toml:")
            .rule("ingress   eni-web [sg-any]: ALLOW gre from 10.0.1.10\n")
            .rule("the ingress lookup found the entry covering 10.0.1.10 for protocol 47")
            .rule("acl-web]: ALLOW gre from 10.0.1.10 protocol 47: rule 200 (cfg.toml:")
            .rule("tracking  tracked: a removed security-group rule does not cut it"),
    );
    assert_eq!(
        gre.packet,
        "gre 10.0.1.10 -> 10.0.2.20 [protocol 47, no ports]"
    );
    let rules: Vec<(&str, &str, &str)> = gre
        .nacls
        .iter()
        .map(|n| (n.check, n.nacl.as_str(), n.rule.as_str()))
        .collect();
    assert_eq!(rules, [("out", "acl-app", "100"), ("in", "acl-web", "200")]);
    let esp = lab.agree(
        &other("db", "50")
            .drops(DropReason::IngressSgDeny, "ingress_sg")
            .rule("ingress   eni-db [sg-db]: DENY esp from 10.0.1.10\n")
            .rule("no rule of sg-db admits it\n")
            .rule(
                "the ingress lookup found no entry covering 10.0.1.10 for protocol 50 (nor `all`)",
            ),
    );
    assert_eq!(esp.security_groups.last().unwrap().rules, []);
    lab.agree(&Case {
        from: "web",
        ..other("client", "gre")
            .drops(DropReason::NaclEgressDeny, "nacl_out")
            .rule("[acl-web]: DENY gre to 10.0.1.10 protocol 47: rule *: no entry matches")
    });
    drop(lab);
    // A deny entry by protocol number, numbered below acl-web's allow-all
    // rule 200: ESP (50) from client to web is refused by rule 80, named
    // with its line; GRE still passes at rule 200.
    let text = shipped("network-acls.toml");
    let deny = r#"  { rule = 80, action = "deny", protocol = 50, cidr = "10.0.1.0/24" },
  { rule = 90, action = "deny", protocol = "tcp", ports = 22"#;
    let text = text.replacen(
        r#"  { rule = 90, action = "deny", protocol = "tcp", ports = 22"#,
        deny,
        1,
    );
    assert!(text.contains("rule = 80"));
    let mut lab = Lab::of_text(text, "xq");
    let esp = lab.agree(
        &other("web", "esp")
            .drops(DropReason::NaclIngressDeny, "nacl_in")
            .rule("[acl-web]: DENY esp from 10.0.1.10 protocol 50: rule 80 (cfg.toml:")
            .rule("deny esp (50) from 10.0.1.0/24"),
    );
    assert_eq!(esp.nacls.last().map(|n| n.rule.as_str()), Some("80"));
    lab.agree(&other("web", "47").rule("acl-web]: ALLOW gre from 10.0.1.10 protocol 47: rule 200"));
}
