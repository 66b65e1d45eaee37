//! Hot reload: a new config is applied to the running data plane beside the
//! old one (disjoint ids) and switched entry point by entry point. Tracked
//! flows keep their actions; new flows follow the new config; a bad config
//! changes nothing.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use dataplane::model::Hook;
use dataplane_common::{DropReason, GATEWAY_MAC};
use hyperlab_tests::{fixtures, open_through_endpoint, pkt, topology, Fixture, Verdict, HOOKS};

const ALLOW_80: &str = r#"{ protocol = "tcp", ports = "80", peer = "sg-client" }"#;
const ALLOW_8080: &str = r#"{ protocol = "tcp", ports = "8080", peer = "sg-client" }"#;

/// client -> web tcp/80 allowed by an SG reference.
fn with_rule(rule: &str) -> String {
    fixtures::client_web(rule)
}

#[test]
#[ignore = "needs root"]
fn a_removed_rule_stops_new_flows_and_keeps_established_ones() {
    let mut fx = Fixture::new(&with_rule(ALLOW_80), "rla");
    let name = fx.agent.topo.lab.name.clone();
    let (c, w) = (fx.ip("eni-client"), fx.ip("eni-web"));
    let (cmac, wmac) = (fx.mac("eni-client"), fx.mac("eni-web"));
    let fwd = |o: &hyperlab_tests::Outcome| o.verdict;
    fx.clear_flows();
    assert_eq!(
        fwd(&fx.run(
            Hook::Tc,
            "eni-client",
            &pkt::tcp(cmac, GATEWAY_MAC, c, w, 40000, 80, "S")
        )),
        Verdict::Forward
    );
    // Generation 0 -> 1: tcp/80 no longer allowed, 8080 is.
    fx.agent
        .reload(topology(&with_rule(ALLOW_8080), &name))
        .expect("reload");
    assert_eq!(fx.agent.compiled.generation, 1);
    for hook in HOOKS {
        // The tracked connection goes on, both ways (AWS semantics).
        let a = fx.run(
            hook,
            "eni-client",
            &pkt::tcp(cmac, GATEWAY_MAC, c, w, 40000, 80, "A"),
        );
        assert_eq!(
            a.out,
            pkt::with_macs(
                &pkt::tcp(cmac, GATEWAY_MAC, c, w, 40000, 80, "A"),
                wmac,
                GATEWAY_MAC
            ),
            "{hook:?}"
        );
        let r = fx.run(
            hook,
            "eni-web",
            &pkt::tcp(wmac, GATEWAY_MAC, w, c, 80, 40000, "A"),
        );
        assert_eq!(r.verdict, Verdict::Forward, "{hook:?}");
        // A new connection to 80 is refused, to 8080 allowed.
        let before = fx.snapshot();
        let n = fx.run(
            hook,
            "eni-client",
            &pkt::tcp(cmac, GATEWAY_MAC, c, w, 40001, 80, "S"),
        );
        assert_eq!(n.verdict, Verdict::Drop, "{hook:?}");
        assert_eq!(
            fx.snapshot()
                .since(&before)
                .drop_count(DropReason::IngressSgDeny),
            1
        );
        let m = fx.run(
            hook,
            "eni-client",
            &pkt::tcp(cmac, GATEWAY_MAC, c, w, 40002 + hook as u16, 8080, "S"),
        );
        assert_eq!(m.verdict, Verdict::Forward, "{hook:?}");
    }
    // Generation 1 -> 0 again: the old generation's entries were cleaned up
    // and are rewritten; 80 is back.
    fx.agent
        .reload(topology(&with_rule(ALLOW_80), &name))
        .expect("reload");
    assert_eq!(fx.agent.compiled.generation, 0);
    let n = fx.run(
        Hook::Tc,
        "eni-client",
        &pkt::tcp(cmac, GATEWAY_MAC, c, w, 40010, 80, "S"),
    );
    assert_eq!(n.verdict, Verdict::Forward);
    let m = fx.run(
        Hook::Tc,
        "eni-client",
        &pkt::tcp(cmac, GATEWAY_MAC, c, w, 40011, 8080, "S"),
    );
    assert_eq!(m.verdict, Verdict::Drop);
}

#[test]
#[ignore = "needs root"]
fn a_config_the_lab_cannot_take_is_refused_and_changes_nothing() {
    let mut fx = Fixture::new(&with_rule(ALLOW_80), "rlb");
    let name = fx.agent.topo.lab.name.clone();
    let before = fx.agent.compiled.clone();
    // A new ENI on a host the lab has needs a new veth in a running host
    // (a new host the agent builds, `dataplane/tests/cli_hosts_added.rs`):
    // the agent refuses instead of half-applying.
    let grown = with_rule(ALLOW_8080).replace(
        "host = \"web\"\n",
        "host = \"web\"\n\n[[eni]]\nid = \"eni-new\"\nsubnet = \"subnet-a1\"\nip = \"10.0.1.30\"\nsecurity_groups = [\"sg-web\"]\nhost = \"web\"\n",
    );
    let err = fx
        .agent
        .reload(topology(&grown, &name))
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs the lab rebuilt"), "{err}");
    assert_eq!(fx.agent.compiled, before, "nothing changed");
    let (c, w, cmac) = (fx.ip("eni-client"), fx.ip("eni-web"), fx.mac("eni-client"));
    fx.clear_flows();
    let o = fx.run(
        Hook::Tc,
        "eni-client",
        &pkt::tcp(cmac, GATEWAY_MAC, c, w, 41000, 80, "S"),
    );
    assert_eq!(o.verdict, Verdict::Forward, "the old rules still apply");
}

#[test]
#[ignore = "needs root"]
fn removing_a_vpc_link_integration_stops_new_flows_only() {
    let src = std::fs::read_to_string(hyperlab_tests::config_path("http-vpc-link.toml")).unwrap();
    let src = src.replacen("name = \"httplink\"", "name = \"@LAB@\"", 1);
    let mut fx = Fixture::new(&src, "rlc");
    let name = fx.agent.topo.lab.name.clone();
    let (a, dst) = ("10.1.1.20".parse().unwrap(), "10.1.1.203".parse().unwrap());
    let amac = fx.mac("eni-apigw");
    let e = open_through_endpoint(&mut fx, "eni-apigw", (a, 42000), (dst, 9000));
    // Remove int-users.
    let without: String = src
        .lines()
        .filter(|l| !l.contains("id = \"int-users\""))
        .collect::<Vec<_>>()
        .join("\n");
    fx.agent.reload(topology(&without, &name)).expect("reload");
    // The live flow still goes to users1...
    let l = fx.run(
        Hook::Tc,
        "eni-apigw",
        &pkt::tcp(amac, GATEWAY_MAC, a, dst, 42000, 9000, "A"),
    );
    assert_eq!(l.verdict, Verdict::Forward);
    assert_eq!(&l.out[30..34], &e.target.ip);
    // ...a new one finds no integration at that address any more.
    let before = fx.snapshot();
    let n = fx.run(
        Hook::Tc,
        "eni-apigw",
        &pkt::tcp(amac, GATEWAY_MAC, a, dst, 42001, 9000, "S"),
    );
    assert_eq!(n.verdict, Verdict::Drop);
    assert_eq!(
        fx.snapshot().since(&before).drop_count(DropReason::NoRoute),
        1
    );
    // The other integrations are untouched.
    let alb = fx.run(
        Hook::Tc,
        "eni-apigw",
        &pkt::tcp(
            amac,
            GATEWAY_MAC,
            a,
            "10.1.1.201".parse().unwrap(),
            42002,
            80,
            "S",
        ),
    );
    assert_eq!(alb.verdict, Verdict::Forward);
}
