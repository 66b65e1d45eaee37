//! `import aws` of `export aws` reproduces a topology: the differential
//! generator's random topologies (VPCs sharing CIDRs, every rule shape,
//! PrivateLink in every state, small source-port pools, HTTP VPC links to
//! ALBs, NLBs and Cloud Map services, network ACLs, route tables with
//! blackhole routes, explicit main tables and associations) go out as
//! describe JSON and come back as the same `Topology` (lab settings aside:
//! they are not AWS state).
//! The shipped configs' round trip is a unit test of `dataplane::import`.
//! Internet gateways, NAT gateways, public IPs and the lab's internet
//! hosts go through too (`describe-internet-gateways`,
//! `describe-nat-gateways`, `describe-addresses`): the import gives back
//! the very topology, with an empty report.

use dataplane::import;
use hyperlab_tests::differential::{generate_topology, parse};

/// How many random topologies (`HYPERLAB_ROUND_TRIPS` overrides).
fn count() -> u64 {
    std::env::var("HYPERLAB_ROUND_TRIPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

#[test]
fn import_of_export_reproduces_random_topologies() {
    let dir = std::env::temp_dir().join(format!("hyperlab-round-trip-{}", std::process::id()));
    // How many topologies had each construct: the round trip covered them.
    let mut seen = [0u32; 11];
    for seed in 0..count() {
        let g = generate_topology(seed);
        let t = parse(&g.toml()).expect("the generator writes valid configs");
        let s = &t.services;
        for (k, n) in [
            s.vpc_endpoints.len(),
            s.vpc_links.len(),
            s.albs.len(),
            s.cloud_map_services.len(),
            s.nlbs
                .iter()
                .filter(|n| n.source_ports != dataplane::model::NLB_SOURCE_PORTS)
                .count(),
            t.network_acls.iter().filter(|n| !n.default).count(),
            t.route_tables
                .iter()
                .filter(|r| !r.routes.is_empty())
                .count(),
            t.internet.gateways.len(),
            t.internet.nat_gateways.len(),
            t.internet.public_ips.len(),
            t.internet.hosts.len(),
        ]
        .into_iter()
        .enumerate()
        {
            seen[k] += u32::from(n > 0);
        }
        let _ = std::fs::remove_dir_all(&dir);
        for (rel, json) in import::export::aws(&t).files {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, serde_json::to_string(&json).unwrap()).unwrap();
        }
        let got = import::aws_dir(&dir, &t.lab.name)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", g.toml()));
        assert_eq!(
            got.report,
            Vec::<String>::new(),
            "seed {seed}: {:?}\n{}",
            got.report,
            g.toml()
        );
        let mut topo = got.topology;
        (topo.lab, topo.conntrack, topo.flow_logs) =
            (t.lab.clone(), t.conntrack, t.flow_logs.clone());
        assert_eq!(
            topo,
            t,
            "seed {seed}: the import differs\n{}\n{}",
            g.toml(),
            got.toml
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "{} round trips; with endpoints, links, ALBs, Cloud Map, small source-port pools, \
         network ACLs, routes, internet gateways, NAT gateways, public IPs, internet hosts: \
         {seen:?}",
        count()
    );
    if count() >= 100 {
        assert!(
            seen.iter().all(|&n| n > 0),
            "endpoints, links, ALBs, Cloud Map, source ports, network ACLs, routes, internet \
             gateways, NAT gateways, public IPs, internet hosts: {seen:?}"
        );
    }
}
