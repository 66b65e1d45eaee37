//! The VPC-link lowering checked on its own: for the shipped example and a
//! two-AZ, two-link topology, which targets, link ENI and groups each call
//! must use is written down by hand from the AWS rules, [`calls`] must say
//! the same, `config::parse_str`'s lowering (the implied endpoint, endpoint
//! service, NLB and target group of each integration) must implement it,
//! and the model must translate every call from that link ENI.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use dataplane::model::{EndpointState, L4Protocol, Listener, Topology};
use dataplane_common::{DropReason, GATEWAY_MAC};

use super::{calls, Call};
use crate::reference::Model;
use crate::{ip, pkt, topology};

const SHIPPED: &str = include_str!("../../../../configs/http-vpc-link.toml");
const TWO_AZ: &str = include_str!("two-az.toml");

/// `calls` as one line each, as the tests state them by hand:
/// `INTEGRATION ADDRESS PROTOCOL/PORT -> ENI:PORT via LINK-ENI, ...; groups
/// GROUP, ...` (targets in the order the rules list them).
fn named(topo: &Topology, calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .map(|c| {
            let targets: Vec<String> = c
                .targets
                .iter()
                .map(|t| format!("{}:{} via {}", topo.enis[t.eni].id, t.port, t.link_eni))
                .collect();
            let groups: Vec<&str> = c
                .groups
                .iter()
                .map(|&g| topo.security_groups[g].id.as_str())
                .collect();
            format!(
                "{} {} {}/{} -> {}; groups {}",
                c.integration,
                c.address,
                format!("{:?}", c.protocol).to_lowercase(),
                c.port,
                targets.join(", "),
                groups.join(", ")
            )
        })
        .collect()
}

/// Where `config`'s lowering departs from `calls`: one line per difference.
fn lowering_differences(topo: &Topology, calls: &[Call]) -> Vec<String> {
    let s = &topo.services;
    let mut d = Vec::new();
    let implied = s.nlbs.iter().filter(|n| n.vpc_link.is_some()).count();
    if implied != calls.len() {
        d.push(format!("{implied} link NLBs for {} calls", calls.len()));
    }
    for c in calls {
        let mut diff = |what: String| d.push(format!("{} ({}): {what}", c.integration, c.address));
        let at: Vec<usize> = (0..s.vpc_endpoints.len())
            .filter(|&e| {
                let ep = &s.vpc_endpoints[e];
                ep.vpc == c.service_vpc && ep.enis.iter().any(|x| x.ip == c.address)
            })
            .collect();
        let [e] = at[..] else {
            diff(format!("{} endpoints at the address, want 1", at.len()));
            continue;
        };
        let ep = &s.vpc_endpoints[e];
        if ep.enis.len() != 1 {
            diff(format!("the endpoint has {} ENIs, want 1", ep.enis.len()));
        }
        if !ep.security_groups.is_empty() {
            diff(format!("the address has groups {:?}", ep.security_groups));
        }
        if ep.state != EndpointState::Available || ep.implied_by != Some(c.link) {
            diff(format!(
                "endpoint {:?} implied by {:?}",
                ep.state, ep.implied_by
            ));
        }
        let service = &s.endpoint_services[ep.service];
        if service.acceptance_required {
            diff("the service requires acceptance".into());
        }
        let nlb = &s.nlbs[service.nlb];
        if nlb.vpc != c.customer_vpc || nlb.vpc_link != Some(c.link) || !nlb.cross_zone {
            diff(format!(
                "NLB {} in VPC {} of link {:?}, cross-zone {}",
                nlb.id, nlb.vpc, nlb.vpc_link, nlb.cross_zone
            ));
        }
        let nodes: Vec<(usize, Ipv4Addr)> = nlb.nodes.iter().map(|n| (n.subnet, n.ip)).collect();
        let link: Vec<(usize, Ipv4Addr)> = c.link_enis.iter().map(|x| (x.subnet, x.ip)).collect();
        if nodes != link {
            diff(format!(
                "NAT sources {nodes:?}, want the link ENIs {link:?}"
            ));
        }
        for t in &c.targets {
            if !nodes.iter().any(|n| n.1 == t.link_eni) {
                diff(format!("{} is not a NAT source", t.link_eni));
            }
        }
        let (mut groups, mut want) = (nlb.security_groups.clone(), c.groups.clone());
        groups.sort_unstable();
        want.sort_unstable();
        if groups != want {
            diff(format!("groups {groups:?}, want the link's {want:?}"));
        }
        let [Listener {
            protocol,
            port,
            target_group,
        }] = nlb.listeners[..]
        else {
            diff(format!("listeners {:?}, want one", nlb.listeners));
            continue;
        };
        if (protocol, port) != (c.protocol, c.port) {
            diff(format!("listener {protocol:?}/{port}"));
        }
        let tg = &s.target_groups[target_group];
        let mut got: Vec<(usize, u16)> = tg.targets.iter().map(|t| (t.eni, t.port)).collect();
        let mut want: Vec<(usize, u16)> = c.targets.iter().map(|t| (t.eni, t.port)).collect();
        got.sort_unstable();
        want.sort_unstable();
        if tg.vpc != c.customer_vpc || tg.protocol != c.protocol || got != want {
            diff(format!(
                "target group {} in VPC {} ({:?}): {got:?}, want {want:?}",
                tg.id, tg.vpc, tg.protocol
            ));
        }
    }
    d
}

/// Asks the model for each call from the API host over 200 source ports:
/// every target is chosen, each always from its link ENI on its port.
/// `refused` calls are refused for that reason instead.
fn assert_model_follows(topo: &Topology, calls: &[Call], refused: &[(&str, DropReason)]) {
    let mut m = Model::new(topo, None);
    let (api, amac) = (ip("10.1.1.20"), [2, 0, 0, 0, 0, 1]);
    for c in calls {
        let no = refused.iter().find(|r| r.0 == c.integration).map(|r| r.1);
        let mut seen = BTreeSet::new();
        for sport in 20000..20200 {
            let frame = match c.protocol {
                L4Protocol::Tcp => pkt::tcp(amac, GATEWAY_MAC, api, c.address, sport, c.port, "S"),
                L4Protocol::Udp => pkt::udp(amac, GATEWAY_MAC, api, c.address, sport, c.port),
            };
            let choice = m.choose(c.service_vpc, &frame);
            if let Some(reason) = no {
                assert_eq!(choice, Err(reason), "{}", c.integration);
                continue;
            }
            let choice = choice.unwrap_or_else(|r| panic!("{}: {r:?}", c.integration));
            let t = c
                .targets
                .iter()
                .find(|t| t.eni == choice.target_eni)
                .unwrap_or_else(|| panic!("{}: chose {choice:?}", c.integration));
            assert_eq!(
                (choice.source, choice.target_port),
                (t.link_eni, t.port),
                "{} sport {sport}",
                c.integration
            );
            seen.insert(t.eni);
        }
        if no.is_none() {
            assert_eq!(
                seen.len(),
                c.targets.len(),
                "{}: every target",
                c.integration
            );
        }
    }
}

/// The rules' calls are `stated`, the lowering follows them exactly, and
/// the model routes each one as they say (`refused`: integrations whose
/// calls the rules refuse, with the reason).
fn assert_calls(topo: &Topology, stated: &[&str], refused: &[(&str, DropReason)]) {
    let calls = calls(topo);
    assert_eq!(named(topo, &calls), stated);
    assert_eq!(lowering_differences(topo, &calls), Vec::<String>::new());
    assert_model_follows(topo, &calls, refused);
}

#[test]
fn the_shipped_http_link_calls_use_the_link_eni_in_the_targets_az_and_the_links_group() {
    let topo = topology(SHIPPED, "model");
    // The link ENIs are allocated: each subnet's lowest usable address
    // (AWS reserves .0 to .3), none taken: 10.0.1.4 (az1), 10.0.2.4 (az2).
    let stated = [
        // The ALB's nodes, on the integration's port.
        "int-alb 10.1.1.201 tcp/80 -> eni-alb1:80 via 10.0.1.4, eni-alb2:80 via 10.0.2.4; groups sg-link",
        // The tcp/80 listener's targets, on their port; not the NLB node.
        "int-nlb 10.1.1.202 tcp/80 -> eni-orders1:8080 via 10.0.1.4; groups sg-link",
        "int-users 10.1.1.203 tcp/9000 -> eni-users1:9000 via 10.0.2.4; groups sg-link",
        "int-locked 10.1.1.204 tcp/9000 -> eni-locked:9000 via 10.0.1.4; groups sg-link",
    ];
    // locked's group admits an office range only, not the link.
    assert_calls(
        &topo,
        &stated,
        &[("int-locked", DropReason::TargetIngressSgDeny)],
    );
}

#[test]
fn two_az_links_use_the_link_eni_in_the_targets_az_else_their_first() {
    let topo = topology(TWO_AZ, "model");
    let stated = [
        "int-web 10.1.2.50 tcp/8080 -> eni-web-a:8080 via 10.0.1.9, eni-web-b:8080 via 10.0.2.9; groups sg-link, sg-audit",
        // The udp/53 listener's group, not the tcp/53 one's.
        "int-dns 10.1.1.53 udp/53 -> eni-dns-a:5353 via 10.0.1.9, eni-dns-b:5353 via 10.0.2.9; groups sg-link, sg-audit",
        "int-cat 10.1.1.60 tcp/9000 -> eni-cat-b:9000 via 10.0.2.9, eni-cat-a:9001 via 10.0.1.9; groups sg-link, sg-audit",
        // link-solo has no ENI in az1: cat-a sees its first (and only),
        // allocated past probe's 10.0.2.4.
        "int-cat2 10.1.2.61 tcp/9000 -> eni-cat-b:9000 via 10.0.2.5, eni-cat-a:9001 via 10.0.2.5; groups sg-solo",
    ];
    assert_calls(&topo, &stated, &[]);
}

/// The comparison has teeth: a lowering that strays in any one part is
/// reported.
#[test]
fn a_lowering_that_strays_from_the_rules_is_reported() {
    let topo = topology(TWO_AZ, "model");
    let calls = calls(&topo);
    fn nlb(t: &Topology, int: &str) -> usize {
        t.services
            .nlbs
            .iter()
            .position(|n| n.id == format!("link-main-{int}"))
            .unwrap()
    }
    type Stray = Box<dyn Fn(&mut Topology)>;
    let strays: Vec<(&str, Stray)> = vec![
        (
            "a target dropped",
            Box::new(|t| {
                let n = nlb(t, "int-web");
                let tg = t.services.nlbs[n].listeners[0].target_group;
                t.services.target_groups[tg].targets.pop();
            }),
        ),
        (
            "the NAT sources swapped",
            Box::new(|t| {
                let n = nlb(t, "int-cat");
                t.services.nlbs[n].nodes.reverse()
            }),
        ),
        (
            "one of the link's groups lost",
            Box::new(|t| {
                let n = nlb(t, "int-dns");
                t.services.nlbs[n].security_groups.pop();
            }),
        ),
        (
            "the address given a group",
            Box::new(|t| {
                let e = t.services.vpc_endpoints.len() - 1;
                t.services.vpc_endpoints[e].security_groups.push(0);
            }),
        ),
        (
            "the other listener's targets",
            Box::new(|t| {
                let n = nlb(t, "int-dns");
                let tcp = t
                    .services
                    .target_groups
                    .iter()
                    .position(|g| g.id == "tg-dns-tcp");
                t.services.nlbs[n].listeners[0].target_group = tcp.unwrap();
            }),
        ),
        (
            "not cross-zone",
            Box::new(|t| {
                let n = nlb(t, "int-web");
                t.services.nlbs[n].cross_zone = false
            }),
        ),
    ];
    for (what, stray) in strays {
        let mut t = topo.clone();
        stray(&mut t);
        let d = lowering_differences(&t, &calls);
        assert_eq!(d.len(), 1, "{what}: {d:?}");
    }
}
