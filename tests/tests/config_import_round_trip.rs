//! `import aws` of `export aws` reproduces a topology: the differential
//! generator's random topologies (VPCs sharing CIDRs, every rule shape,
//! PrivateLink in every state, small source-port pools, HTTP VPC links to
//! ALBs, NLBs and Cloud Map services, network ACLs) go out as describe JSON and come back
//! as the same `Topology` (lab settings aside: they are not AWS state).
//! The shipped configs' round trip is a unit test of `dataplane::import`.
//! Route tables are not exported yet (`export aws` lists them as left
//! out): the import must give back everything else, with each VPC's
//! implied main table. VPC peering connections are not exported either:
//! the import gives the VPCs back unpeered, and reports each group rule
//! that names a group across a connection as not imported (such a
//! topology's report is checked line by line, not its topology).

use dataplane::import;
use hyperlab_tests::differential::{generate_topology, parse};

/// How many random topologies (`HYPERLAB_ROUND_TRIPS` overrides).
fn count() -> u64 {
    std::env::var("HYPERLAB_ROUND_TRIPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

/// `t` with the route tables an import gives back: each VPC's implied
/// main table (only the local route).
fn without_route_tables(mut t: dataplane::model::Topology) -> dataplane::model::Topology {
    t.route_tables = t
        .vpcs
        .iter()
        .enumerate()
        .map(|(v, vpc)| dataplane::model::RouteTable::implied_main(v, &vpc.id))
        .collect();
    t.subnet_routes = t.subnets.iter().map(|s| s.vpc).collect();
    t.vpc_peerings.clear();
    t
}

/// The group rules of `t` that name a group of another VPC (across a
/// peering connection): what the import reports as not imported.
fn rules_across_vpcs(t: &dataplane::model::Topology) -> usize {
    let g = &t.security_groups;
    g.iter()
        .flat_map(|sg| {
            sg.ingress
                .iter()
                .chain(&sg.egress)
                .map(move |r| (sg.vpc, r))
        })
        .filter(
            |(v, r)| matches!(r.peer, dataplane::model::Peer::SecurityGroup(o) if g[o].vpc != *v),
        )
        .count()
}

#[test]
fn import_of_export_reproduces_random_topologies() {
    let dir = std::env::temp_dir().join(format!("hyperlab-round-trip-{}", std::process::id()));
    // How many topologies had each construct: the round trip covered them.
    let mut seen = [0u32; 6];
    // Topologies whose group rules name groups across a peering.
    let mut peered_groups = 0;
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
        let across = rules_across_vpcs(&t);
        if across > 0 {
            let own_vpc = "hyperlab's rules name groups of their own VPC";
            assert_eq!(
                got.report.iter().filter(|l| l.contains(own_vpc)).count(),
                across,
                "seed {seed}: {:?}",
                got.report
            );
            assert_eq!(got.report.len(), across, "seed {seed}: {:?}", got.report);
            peered_groups += 1;
            continue;
        }
        assert_eq!(
            got.report,
            Vec::<String>::new(),
            "seed {seed}\n{}",
            g.toml()
        );
        let mut topo = got.topology;
        (topo.lab, topo.conntrack, topo.flow_logs) =
            (t.lab.clone(), t.conntrack, t.flow_logs.clone());
        assert_eq!(
            topo,
            without_route_tables(t),
            "seed {seed}: the import differs\n{}\n{}",
            g.toml(),
            got.toml
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "{} round trips; with endpoints, links, ALBs, Cloud Map, small source-port pools, \
         network ACLs: {seen:?}; {peered_groups} with group rules across a peering (report checked)",
        count()
    );
    if count() >= 100 {
        assert!(
            seen.iter().all(|&n| n > 0),
            "endpoints, links, ALBs, Cloud Map, source ports, network ACLs: {seen:?}"
        );
    }
}
