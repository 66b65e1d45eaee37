//! HTTP VPC link (VPC-to-VPC NAT) end to end on the shipped example
//! `configs/http-vpc-link.toml`: the API host in vpc-api calls an ALB, an
//! NLB and a Cloud Map integration on one link with curl; each server logs
//! the link ENI (in its own AZ) as the peer.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::net::Ipv4Addr;

use dataplane::model::VpcLinkKind;
use dataplane_common::DropReason;
use hyperlab_tests::{curl, ip, run_in_host, shipped_config, Fixture};

fn topology() -> String {
    shipped_config("http-vpc-link.toml", "httplink")
}

/// The link ENIs' (allocated) addresses, by AZ.
fn link_enis(fx: &Fixture) -> Vec<(String, Ipv4Addr)> {
    let t = &fx.agent.topo;
    let VpcLinkKind::Http { enis, .. } = &t.services.vpc_links[0].kind else {
        panic!("the example's first link is an HTTP link")
    };
    enis.iter()
        .map(|e| (t.subnets[e.subnet].az.clone(), e.ip))
        .collect()
}

#[test]
#[ignore = "needs root"]
fn alb_nlb_and_cloud_map_integrations_see_the_link_eni_as_the_peer() {
    let fx = Fixture::new(&topology(), "lka");
    let plan = &fx.agent.plan;
    let links = link_enis(&fx);
    assert_eq!(
        links,
        vec![
            ("use1-az1".into(), ip("10.0.1.4")),
            ("use1-az2".into(), ip("10.0.2.4"))
        ]
    );
    let alb1 = fx.http_server("alb1", "10.0.1.11", 80);
    let alb2 = fx.http_server("alb2", "10.0.2.12", 80);
    let orders = fx.http_server("orders1", "10.0.1.31", 8080);
    let users = fx.http_server("users1", "10.0.2.41", 9000);
    fx.settle_health();
    // (server name, the link ENI of its AZ)
    let cases = [
        ("10.1.1.201", 80, &["alb1", "alb2"][..]),
        ("10.1.1.202", 80, &["orders1"][..]),
        ("10.1.1.203", 9000, &["users1"][..]),
    ];
    for (addr, port, servers) in cases {
        for _ in 0..6 {
            let (code, body) = curl(plan, "apigw", ip(addr), port);
            assert_eq!(code, 0, "curl {addr}:{port}: {body}");
            let server = body
                .split_whitespace()
                .find_map(|f| f.strip_prefix("server="))
                .unwrap();
            let peer = body
                .split_whitespace()
                .find_map(|f| f.strip_prefix("peer="))
                .unwrap();
            assert!(servers.contains(&server), "{addr} answered by {server}");
            let want = if ["alb2", "users1"].contains(&server) {
                "10.0.2.4:"
            } else {
                "10.0.1.4:"
            };
            assert!(
                peer.starts_with(want),
                "{server} saw {peer}, expected the link ENI of its AZ ({want})"
            );
        }
    }
    for (srv, name) in [(&alb1, "alb1"), (&orders, "orders1")] {
        assert!(
            srv.peers().iter().all(|p| p.starts_with("10.0.1.4:")),
            "{name}: {:?}",
            srv.peers()
        );
    }
    for (srv, name) in [(&alb2, "alb2"), (&users, "users1")] {
        assert!(
            srv.peers().iter().all(|p| p.starts_with("10.0.2.4:")),
            "{name}: {:?}",
            srv.peers()
        );
    }
    assert_eq!(alb1.peers().len() + alb2.peers().len(), 6);
    assert_eq!(orders.peers().len(), 6);
    assert_eq!(users.peers().len(), 6);
}

#[test]
#[ignore = "needs root"]
fn a_target_whose_group_does_not_admit_the_link_never_receives_a_packet() {
    let fx = Fixture::new(&topology(), "lkb");
    let locked = fx.http_server("locked", "10.0.1.60", 9000);
    let locked_eni = fx.eni("eni-locked");
    let before = fx.snapshot();
    let (code, _) = fx.curl("apigw", "10.1.1.204", 9000);
    assert_eq!(code, 28, "curl times out: every SYN is dropped");
    let d = fx.snapshot().since(&before);
    assert!(locked.peers().is_empty());
    assert_eq!(
        d.enis[locked_eni].rx_packets, 0,
        "not one packet delivered to locked"
    );
    assert!(d.drop_count(DropReason::TargetIngressSgDeny) >= 1);
    assert_eq!(
        d.drops.iter().sum::<u64>(),
        d.drop_count(DropReason::TargetIngressSgDeny)
    );
}

#[test]
#[ignore = "needs root"]
fn customer_hosts_cannot_tunnel_back_through_the_link() {
    let fx = Fixture::new(&topology(), "lkc");
    let _apigw = fx.http_server("apigw", "10.1.1.20", 80);
    let before = fx.snapshot();
    // users1 aims at the link ENI of its AZ, the only address of the link it can see.
    let (code, _) = run_in_host(
        &fx.agent.plan,
        "users1",
        &["curl", "-sS", "--max-time", "1", "http://10.0.2.4/"],
    );
    assert_ne!(code, 0);
    let d = fx.snapshot().since(&before);
    assert!(
        d.drop_count(DropReason::LinkReverseInitiated) >= 1,
        "{:?}",
        d.drops
    );
}
