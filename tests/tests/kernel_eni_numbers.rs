//! Stable interface numbers through the kernel: a reload whose config
//! inserts an ENI in the middle keeps every tracked flow counting under
//! its own ENI (`HL_ENI_STATS` slots, flow entries' `src_eni`/`dst_eni`),
//! and the inserted ENI counts under the next free number, its fabric port
//! named after it (`compile::numbers`, docs/DATAPLANE.md "Interface
//! numbers").
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use dataplane::{
    compile::{self, Numbering},
    lab,
    model::Hook,
    pins,
    stats::{self, Layout},
};
use dataplane_common::{EniCounters, FlowEntry, FLOW_F_REPLY, GATEWAY_MAC};
use hyperlab_tests::{pkt, topology, Fixture, Verdict, HOOKS};

/// web, app and db in one subnet (db serves tcp/80 to the VPC); `extra`
/// goes between web and app.
fn lab_toml(extra: &str) -> String {
    format!(
        r#"
[lab]
name = "@LAB@"

[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-all"
vpc = "vpc-a"
ingress = [{{ protocol = "tcp", ports = "80", peer = "10.0.0.0/16" }}]
egress = [{{ protocol = "all", peer = "0.0.0.0/0" }}]

[[eni]]
id = "eni-web"
subnet = "subnet-a1"
ip = "10.0.1.10"
security_groups = ["sg-all"]
host = "web"
{extra}
[[eni]]
id = "eni-app"
subnet = "subnet-a1"
ip = "10.0.1.20"
security_groups = ["sg-all"]
host = "app"

[[eni]]
id = "eni-db"
subnet = "subnet-a1"
ip = "10.0.1.30"
security_groups = ["sg-all"]
host = "db"
"#
    )
}

const INSERTED: &str = r#"
[[eni]]
id = "eni-new"
subnet = "subnet-a1"
ip = "10.0.1.40"
security_groups = ["sg-all"]
host = "new"
"#;

fn c(tx: (u64, u64), rx: (u64, u64)) -> EniCounters {
    EniCounters {
        tx_packets: tx.0,
        tx_bytes: tx.1,
        rx_packets: rx.0,
        rx_bytes: rx.1,
        drops: 0,
    }
}

/// The forward entry of the flow from `src` port `sport`.
fn forward(
    flows: &[(dataplane_common::FlowKey, dataplane::conntrack::FlowRow)],
    sport: u16,
) -> FlowEntry {
    flows
        .iter()
        .find(|(k, e)| e.flags & FLOW_F_REPLY == 0 && k.sport == sport.to_be_bytes())
        .unwrap_or_else(|| panic!("no flow from port {sport}"))
        .1
        .entry
}

#[test]
#[ignore = "needs root"]
fn a_reload_that_inserts_an_eni_keeps_every_flow_counting_under_its_own_eni() {
    let mut fx = Fixture::new(&lab_toml(""), "enum");
    let name = fx.agent.topo.lab.name.clone();
    let ip = |id: &str| fx.ip(id);
    let (web, app, db) = (ip("eni-web"), ip("eni-app"), ip("eni-db"));
    let (wmac, amac, dmac) = (fx.mac("eni-web"), fx.mac("eni-app"), fx.mac("eni-db"));
    // Numbered afresh: web 0, app 1, db 2.
    assert_eq!(fx.agent.numbering().enis, [0, 1, 2]);
    fx.clear_flows();
    // Two connections to db, opened before the reload.
    for (from, mac, src, sport) in [("eni-web", wmac, web, 40000), ("eni-app", amac, app, 40001)] {
        let syn = pkt::tcp(mac, GATEWAY_MAC, src, db, sport, 80, "S");
        assert_eq!(fx.run(Hook::Tc, from, &syn).verdict, Verdict::Forward);
        let synack = pkt::tcp(dmac, GATEWAY_MAC, db, src, 80, sport, "SA");
        assert_eq!(
            fx.run(Hook::Tc, "eni-db", &synack).verdict,
            Verdict::Forward
        );
    }
    let flows = fx.flows();
    let (w, a) = (forward(&flows, 40000), forward(&flows, 40001));
    assert_eq!((w.src_eni, w.dst_eni, a.src_eni, a.dst_eni), (0, 2, 1, 2));

    // The config gains eni-new between web and app. Its host's port (a
    // veth in the fabric, as the agent will make for a new host) is
    // named by its number: p3.
    let grown = topology(&lab_toml(INSERTED), &name);
    let numbers = compile::EniNumbers::assign(&grown, &fx.agent.compiled.numbers).unwrap();
    let numbering: Numbering = numbers.numbering(&grown).unwrap();
    assert_eq!(numbering.enis, [0, 3, 1, 2]);
    let plan = lab::plan_numbered(&grown, &numbering);
    let status = std::process::Command::new("ip")
        .args(["-n", &plan.fabric_ns, "link", "add", "p3", "type", "veth"])
        .args(["peer", "name", "p3-peer"])
        .status()
        .unwrap();
    assert!(status.success());
    for dev in ["p3", "p3-peer"] {
        let up = std::process::Command::new("ip")
            .args(["-n", &plan.fabric_ns, "link", "set", dev, "up"])
            .status()
            .unwrap();
        assert!(up.success());
    }
    let mut ifx = lab::fabric_ifindexes(&plan).unwrap();
    ifx.sort();
    let ifindexes: Vec<u32> = ifx.iter().map(|&(_, i)| i).collect();
    // Ports of before keep their ifindexes (and names); eni-new's is p3's.
    let old = fx.agent.compiled.port_ifindexes();
    assert_eq!(
        [ifindexes[0], ifindexes[2], ifindexes[3]],
        [old[0], old[1], old[2]]
    );
    let new_port = ifindexes[1];
    let new = compile::compile_numbered(
        &grown,
        &ifindexes,
        &fx.agent.compiled.numbers,
        &mut compile::Memo::default(),
    )
    .unwrap()
    .rebase(1 - fx.agent.compiled.generation);
    assert_eq!(new.numbers, numbers);
    fx.agent
        .dataplane
        .sync(&new, Some(&fx.agent.compiled))
        .unwrap();

    // Counters in the grown config's order: web, new, app, db.
    let layout = Layout::numbered(&grown, &numbering);
    assert_eq!(layout.eni_slots, [0, 3, 1, 2]);
    let pin_dir = pins::pin_dir(&name);
    let read = || stats::read_pinned(&pin_dir, &layout).unwrap();
    for hook in HOOKS {
        let before = read();
        let frames = [
            (
                fx.port_ifindex("eni-web"),
                pkt::tcp(wmac, GATEWAY_MAC, web, db, 40000, 80, "A"),
            ),
            (
                fx.port_ifindex("eni-db"),
                pkt::tcp(dmac, GATEWAY_MAC, db, web, 80, 40000, "A"),
            ),
            (
                fx.port_ifindex("eni-app"),
                pkt::tcp(amac, GATEWAY_MAC, app, db, 40001, 80, "A"),
            ),
            (
                fx.port_ifindex("eni-db"),
                pkt::tcp(dmac, GATEWAY_MAC, db, app, 80, 40001, "A"),
            ),
        ];
        let len = frames[0].1.len() as u64;
        assert!(frames.iter().all(|(_, f)| f.len() as u64 == len));
        for (port, frame) in &frames {
            let out = fx.run_on(hook, *port, frame);
            assert_eq!(out.verdict, Verdict::Forward, "{hook:?}");
        }
        let d = read().since(&before);
        assert_eq!(
            d.enis,
            [
                c((1, len), (1, len)),
                c((0, 0), (0, 0)),
                c((1, len), (1, len)),
                c((2, 2 * len), (2, 2 * len)),
            ],
            "{hook:?}"
        );
    }
    // The new ENI counts under its own number: a connection it opens to
    // db, and db's answer.
    let before = read();
    let nmac = grown.enis[1].mac;
    let nip = grown.enis[1].ip;
    let syn = pkt::tcp(nmac, GATEWAY_MAC, nip, db, 40002, 80, "S");
    let len = syn.len() as u64;
    assert_eq!(
        fx.run_on(Hook::Tc, new_port, &syn).verdict,
        Verdict::Forward
    );
    let synack = pkt::tcp(dmac, GATEWAY_MAC, db, nip, 80, 40002, "SA");
    assert_eq!(
        fx.run_on(Hook::Xdp, fx.port_ifindex("eni-db"), &synack)
            .verdict,
        Verdict::Forward
    );
    let d = read().since(&before);
    assert_eq!(
        d.enis,
        [
            c((0, 0), (0, 0)),
            c((1, len), (1, len)),
            c((0, 0), (0, 0)),
            c((1, len), (1, len)),
        ]
    );
    // The flows of before kept their entries' numbers; the new one has 3.
    let flows = fx.flows();
    let (w, a, n) = (
        forward(&flows, 40000),
        forward(&flows, 40001),
        forward(&flows, 40002),
    );
    assert_eq!(
        (w.src_eni, w.dst_eni, a.src_eni, a.dst_eni, n.src_eni, n.dst_eni),
        (0, 2, 1, 2, 3, 2)
    );
}
