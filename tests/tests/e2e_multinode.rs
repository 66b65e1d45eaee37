//! End-to-end tests of a lab across two and three nodes (docs/DATAPLANE.md,
//! "Labs across nodes"), on one machine (`hyperlab_tests::nodes`: network
//! namespaces stand for the machines, each node's agent serves its part);
//! real clients (curl, ping) talk across the nodes.
//!
//! Needs root, the kernel object (`cargo xtask build-ebpf`) and the agent
//! binary (`cargo build -p dataplane`); run under the shared lock:
//! `flock /tmp/hyperlab-root.lock cargo test -p hyperlab-tests --test
//! e2e_multinode -- --ignored`.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use dataplane::{loader, stats::Snapshot};
use dataplane_common::{Counter, DropReason};
use hyperlab_tests::{
    assert_ping, curl,
    nodes::{in_machine, ip, Nodes, NODES},
    HostProcess,
};

/// Asserts that `node` (its counters `d`) dropped nothing.
fn assert_no_drops(d: &Snapshot, node: &str) {
    assert_eq!(
        d.drops.iter().sum::<u64>(),
        0,
        "{node} drops: {:?}",
        d.drops
    );
}

#[test]
#[ignore = "needs root"]
fn curl_and_ping_cross_nodes_and_the_server_sees_the_client_address() {
    let t = Nodes::new("mna");
    let web = t.server(1, "web", "10.0.2.20", 80);
    let ((code, body), d) = t.counted_curl(0, "client", "10.0.2.20", 80);
    assert_eq!(code, 0, "curl exit code: {body}");
    let peers = web.peers();
    assert_eq!(peers.len(), 1, "{peers:?}");
    assert!(peers[0].starts_with("10.0.1.10:"), "{peers:?}");
    assert_eq!(body, format!("server=web peer={}\n", peers[0]));
    // One flow, tracked on each node: created once on each.
    assert_eq!(d[0].count(Counter::FlowCreated), 1);
    assert_eq!(d[1].count(Counter::FlowCreated), 1);
    for (k, d) in d.iter().enumerate() {
        assert_no_drops(d, &format!("node {k}"));
    }
    // The client's packets left n1, the server's n2; each is counted, and
    // delivered, on its own ENI's node only.
    let (client, web_eni) = (t.eni("eni-client"), t.eni("eni-web"));
    assert!(d[0].enis[client].tx_packets > 0 && d[0].enis[client].rx_packets > 0);
    assert!(d[1].enis[web_eni].tx_packets > 0 && d[1].enis[web_eni].rx_packets > 0);
    assert_eq!(
        (d[0].enis[web_eni].tx_packets, d[0].enis[web_eni].rx_packets),
        (0, 0)
    );
    assert_eq!(
        (d[1].enis[client].tx_packets, d[1].enis[client].rx_packets),
        (0, 0)
    );
    assert_ping(t.plan(0), "client", "10.0.2.20");
}

#[test]
#[ignore = "needs root"]
fn a_port_the_receivers_groups_deny_never_arrives_and_is_dropped_on_its_node() {
    let t = Nodes::new("mnb");
    let alt = t.server(1, "web", "10.0.2.20", 8080);
    let ((code, _), d) = t.counted_curl(0, "client", "10.0.2.20", 8080);
    assert_eq!(
        code, 28,
        "curl times out (exit 28): the SYN is dropped, not refused"
    );
    assert!(alt.peers().is_empty(), "web saw: {:?}", alt.peers());
    let web = t.eni("eni-web");
    // The sender's node let it out (its groups allow all egress) ...
    assert_no_drops(&d[0], "n1");
    let syns = d[0].count(Counter::Forwarded);
    assert!(syns >= 1);
    // ... and the receiver's node dropped every one on web's ingress groups.
    assert_eq!(d[1].drop_count(DropReason::IngressSgDeny), syns);
    assert_eq!(d[1].drops.iter().sum::<u64>(), syns);
    assert_eq!(d[1].enis[web].rx_packets, 0, "nothing was delivered to web");
    assert_eq!(d[1].count(Counter::FlowCreated), 0);
}

#[test]
#[ignore = "needs root"]
fn two_vpcs_with_one_cidr_stay_apart_across_nodes() {
    let t = Nodes::new("mnc");
    let web = t.server(1, "web", "10.0.2.20", 80);
    let other = t.server(1, "other", "10.0.2.20", 80);
    // The same addresses on both sides: the VNI keeps the VPCs apart.
    let (code, body) = t.curl(0, "spy", "10.0.2.20", 80);
    assert_eq!(code, 0, "{body}");
    let (code2, body2) = t.curl(0, "client", "10.0.2.20", 80);
    assert_eq!(code2, 0, "{body2}");
    let (o, w) = (other.peers(), web.peers());
    assert_eq!((o.len(), w.len()), (1, 1), "other {o:?}, web {w:?}");
    assert_eq!(body, format!("server=other peer={}\n", o[0]));
    assert_eq!(body2, format!("server=web peer={}\n", w[0]));
    assert!(o[0].starts_with("10.0.1.10:") && w[0].starts_with("10.0.1.10:"));
    assert_ping(t.plan(0), "spy", "10.0.2.20");
}

/// A client in host `client` that sends two requests over one TCP
/// connection to 10.0.2.20:80, the second only once the file named by its
/// argument exists, printing each response body.
const TWO_REQUESTS: &str = r#"
import os, socket, sys, time
flag = sys.argv[1]
s = socket.create_connection(("10.0.2.20", 80), timeout=30)
def get():
    s.sendall(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0]
    while len(body) < n:
        body += s.recv(4096)
    print(body.decode().strip(), flush=True)
get()
while not os.path.exists(flag):
    time.sleep(0.05)
get()
"#;

/// Starts `TWO_REQUESTS` in host `client` of `t` and waits for its first
/// answer; returns the client and the file that lets it send the second.
fn first_request(t: &Nodes) -> (HostProcess, PathBuf) {
    let flag = std::env::temp_dir().join(format!("hyperlab-{}-go", t.views[0].lab.name));
    let _ = std::fs::remove_file(&flag);
    let client = HostProcess::spawn(
        t.plan(0),
        "client",
        &["python3", "-c", TWO_REQUESTS, &flag.to_string_lossy()],
    );
    client.wait_for_output("server=web", Duration::from_secs(10));
    (client, flag)
}

/// Lets `client` (of [`first_request`]) send its second request and waits
/// for its answer; asserts web saw both requests from one peer (one
/// connection, one flow) and returns web's two peers.
fn second_request(client: &HostProcess, web: &HostProcess, flag: &Path) -> Vec<String> {
    std::fs::write(flag, b"go").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.output().lines().count() < 2 {
        assert!(
            Instant::now() < deadline,
            "second answer: {}",
            client.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(flag);
    // web logs a request's peer after it answered: the client can hold
    // the second answer a moment before web's log has its line.
    let deadline = Instant::now() + Duration::from_secs(5);
    while web.peers().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let peers = web.peers();
    assert_eq!(peers.len(), 2, "{peers:?}");
    assert_eq!(peers[0], peers[1], "one connection, one flow");
    peers
}

/// SIGKILL of the receiving node's agent: its pinned data plane keeps
/// forwarding, and the agent started again (`run --node n2`) adopts it
/// from its own node's pins and journal: a connection opened before
/// goes on over the same flow (same client port, both requests
/// answered). `explain` on the sender's node runs the sender's half.
#[test]
#[ignore = "needs root"]
fn a_sigkilled_node_agent_restarts_without_losing_the_crossing_flow() {
    let mut t = Nodes::new("mnd");
    let web = t.server(1, "web", "10.0.2.20", 80);
    let (client, flag) = first_request(&t);
    // SIGKILL by PID: no cleanup at all.
    let pid = t.agents[1].0.id() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = t.agents[1].0.wait();
    t.spawn_agent(1);
    t.wait_ready(1);
    assert!(
        t.agent_log(1).contains("adopted lab"),
        "the new agent adopts n2's pinned data plane: {}",
        t.agent_log(1)
    );
    let peers = second_request(&client, &web, &flag);
    let line = format!("server=web peer={}", peers[0]);
    assert_eq!(client.output(), format!("{line}\n{line}\n"));

    let file = t.file.to_string_lossy().into_owned();
    let obj = loader::object_path().to_string_lossy().into_owned();
    let out = in_machine(
        &t.machines[0],
        &[
            "explain",
            &file,
            "--from",
            "client",
            "--to",
            "10.0.2.20",
            "--port",
            "80",
            "--ebpf-obj",
            &obj,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "explain on n1: forwarded into the tunnel: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("decided   at stage route\n")
            && text.contains(
                "eni-web lives on node n2 (192.168.213.2): the packet leaves through hl-vxlan \
                 with VNI 1; node n2 evaluates eni-web's ingress groups and its subnet's \
                 inbound network ACL"
            ),
        "{text}"
    );
}

/// A reload on the receiving node only (SIGHUP to n2's agent, after the
/// file gained a rule admitting port 8080 to web's group): the connection
/// that crosses the nodes goes on over its flow, and the new rule is in
/// force at once although n1 never reloaded: ingress groups are evaluated
/// on the receiver's node.
#[test]
#[ignore = "needs root"]
fn a_reload_on_the_receiving_node_keeps_the_flow_and_applies_its_rules() {
    let t = Nodes::new("mne");
    let web = t.server(1, "web", "10.0.2.20", 80);
    let alt = t.server(1, "web", "10.0.2.20", 8080);
    let (client, flag) = first_request(&t);
    let (code, _) = t.curl(0, "client", "10.0.2.20", 8080);
    assert_eq!(
        code, 28,
        "before the reload, web's groups do not admit 8080"
    );
    let text = std::fs::read_to_string(&t.file).unwrap();
    let rule = "  { protocol = \"tcp\", ports = \"80\", peer = \"sg-client\" },\n";
    assert!(text.contains(rule));
    let more =
        format!("{rule}  {{ protocol = \"tcp\", ports = \"8080\", peer = \"sg-client\" }},\n");
    std::fs::write(&t.file, text.replacen(rule, &more, 1)).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(t.agents[1].0.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !t.agent_log(1).contains("hyperlab: reloaded") {
        assert!(
            Instant::now() < deadline,
            "n2 did not reload: {}",
            t.agent_log(1)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!t.agent_log(0).contains("reloaded"), "n1 was not reloaded");
    second_request(&client, &web, &flag);
    let (code, body) = t.curl(0, "client", "10.0.2.20", 8080);
    assert_eq!(code, 0, "after n2's reload 8080 is admitted: {body}");
    assert_eq!(body, format!("server=web peer={}\n", alt.peers()[0]));
}

/// Three nodes, one host each, in one VPC: `client` (n1), `web` (n2,
/// admits HTTP from the clients' group), `db` (n3, admits 5432 only from
/// web's group).
const THREE: &str = include_str!("../fixtures/multinode-three.toml");

const THREE_NODES: &[(&str, &str)] = &[
    ("n1", "192.168.213.1"),
    ("n2", "192.168.213.2"),
    ("n3", "192.168.213.3"),
];

/// Each node sends to the node that holds the destination: client (n1)
/// reaches web (n2), web reaches db (n3) on the port db's group admits
/// for web's group, and client's attempt at db is dropped on n3 by db's
/// groups, never delivered, while n2 saw none of it.
#[test]
#[ignore = "needs root"]
fn three_nodes_each_packet_goes_to_the_node_of_its_destination() {
    let t = Nodes::of("mnf", THREE, THREE_NODES);
    let web = t.server(1, "web", "10.0.2.20", 80);
    let db = t.server(2, "db", "10.0.2.30", 5432);
    let (code, body) = t.curl(0, "client", "10.0.2.20", 80);
    assert_eq!(code, 0, "{body}");
    assert_eq!(body, format!("server=web peer={}\n", web.peers()[0]));
    assert!(web.peers()[0].starts_with("10.0.1.10:"));
    let (code, body) = t.curl(1, "web", "10.0.2.30", 5432);
    assert_eq!(code, 0, "{body}");
    assert_eq!(body, format!("server=db peer={}\n", db.peers()[0]));
    assert!(db.peers()[0].starts_with("10.0.2.20:"));
    // curl returns before web's connection to db has fully closed (its
    // last ACK can still be on the way): wait until db's ENI is quiet, so
    // the window below holds only client's attempt.
    let db_rx = |t: &Nodes| t.snapshot(2).enis[t.eni("eni-db")].rx_packets;
    let quiet_by = Instant::now() + Duration::from_secs(5);
    let mut last = db_rx(&t);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = db_rx(&t);
        if now == last || Instant::now() > quiet_by {
            break;
        }
        last = now;
    }
    let ((code, _), d) = t.counted_curl(0, "client", "10.0.2.30", 5432);
    assert_eq!(code, 28, "client -> db:5432 times out");
    assert_eq!(db.peers().len(), 1, "db saw only web: {:?}", db.peers());
    let syns = d[0].count(Counter::Forwarded);
    assert!(syns >= 1);
    assert_no_drops(&d[0], "n1");
    assert_eq!(d[2].drop_count(DropReason::IngressSgDeny), syns);
    assert_eq!(d[2].enis[t.eni("eni-db")].rx_packets, 0);
    assert_eq!(
        (
            d[1].count(Counter::Forwarded),
            d[1].drops.iter().sum::<u64>()
        ),
        (0, 0),
        "n2 saw nothing of it"
    );
}

/// Two VPCs joined by an active peering connection with routes both
/// ways: `client` (vpc-a, n1) and `peer` (vpc-b, n2).
const PEERED: &str = include_str!("../fixtures/multinode-peered.toml");

/// VPC peering across nodes: the client's node routes over the
/// connection into vpc-b and tunnels the packet to n2, which repeats the
/// route lookup into the peer VPC and delivers it; the reply comes back
/// over its own flow. A port vpc-b's group does not admit is dropped on
/// n2.
#[test]
#[ignore = "needs root"]
fn vpc_peering_carries_a_connection_across_nodes() {
    let t = Nodes::of("mng", PEERED, NODES);
    let peer = t.server(1, "peer", "10.1.1.20", 80);
    let (code, body) = t.curl(0, "client", "10.1.1.20", 80);
    assert_eq!(code, 0, "{body}");
    assert_eq!(body, format!("server=peer peer={}\n", peer.peers()[0]));
    assert!(peer.peers()[0].starts_with("10.0.1.10:"));
    let before = t.snapshot(1);
    let (code, _) = t.curl(0, "client", "10.1.1.20", 81);
    assert_eq!(code, 28, "port 81 is not admitted by sg-b");
    let d = t.snapshot(1).since(&before);
    assert!(
        d.drop_count(DropReason::IngressSgDeny) >= 1,
        "{:?}",
        d.drops
    );
    assert_eq!(
        d.drops.iter().sum::<u64>(),
        d.drop_count(DropReason::IngressSgDeny)
    );
}

/// PrivateLink across two nodes (the fixture says who is where).
const PRIVATELINK: &str = include_str!("../fixtures/multinode-privatelink.toml");

/// The NAT source port a target saw in peer `peer` ("10.1.1.50:PORT"),
/// which must be the NLB node's address exactly.
fn nlb_port(peer: &str) -> u16 {
    let port = peer
        .strip_prefix("10.1.1.50:")
        .unwrap_or_else(|| panic!("the target saw {peer}, not the NLB node 10.1.1.50"));
    port.parse().unwrap()
}

#[test]
#[ignore = "needs root"]
fn privatelink_translates_on_the_clients_node_and_replies_find_it_by_port() {
    let t = Nodes::of("mnp", PRIVATELINK, NODES);
    let web1 = HostProcess::http_server(t.plan(1), "web1", ip("10.1.1.21"), 8080);
    let web2 = HostProcess::http_server(t.plan(0), "web2", ip("10.1.1.22"), 8080);
    let denied = HostProcess::http_server(t.plan(1), "web1", ip("10.1.1.21"), 8081);
    // Both nodes' health checks have passed (each probes its own target;
    // 300 ms apart, 2 to be healthy) before the window: nothing flaps.
    std::thread::sleep(Duration::from_millis(1500));
    let before = t.snapshots();
    // From each client's node: node n1 (k = 0 of 2) translates with the
    // even ports, n2 with the odd ones. Maglev spreads the connections
    // over web1 (n2) and web2 (n1), so both nodes' replies cross the tunnel
    // for some of them.
    let mut served = [0usize; 2];
    for (k, client) in [(0usize, "client"), (1, "client2")] {
        for _ in 0..10 {
            let (code, body) = curl(t.plan(k), client, ip("10.0.1.100"), 80);
            assert_eq!(code, 0, "curl from {client} exit code: {body}");
            let (server, peer) = body
                .trim_end()
                .strip_prefix("server=")
                .and_then(|b| b.split_once(" peer="))
                .unwrap_or_else(|| panic!("{body}"));
            let port = nlb_port(peer);
            assert_eq!(
                port as usize % 2,
                k,
                "{client}'s node translates with its own slice: {peer}"
            );
            served[usize::from(server == "web2")] += 1;
        }
    }
    assert!(
        served[0] > 0 && served[1] > 0,
        "both targets served: {served:?}"
    );
    assert_eq!(web1.peers().len() + web2.peers().len(), 20);
    t.assert_no_drops_since(&before);
    // The target's groups do not admit 8081: refused on the client's node
    // (the NLB's translation happens there); nothing reaches web1.
    let before = t.snapshots();
    let (code, _) = curl(t.plan(0), "client", ip("10.0.1.100"), 81);
    assert_eq!(code, 28, "the SYN is dropped, not refused");
    assert!(
        denied.peers().is_empty(),
        "web1:8081 saw {:?}",
        denied.peers()
    );
    let d = t.since(&before);
    let syns = d[0].drop_count(DropReason::TargetIngressSgDeny);
    assert!(syns >= 1, "{:?}", d[0].drops);
    assert_eq!(d[0].drops.iter().sum::<u64>(), syns);
    assert_eq!(d[1].drops.iter().sum::<u64>(), 0, "{:?}", d[1].drops);
    assert_eq!(d[1].enis[t.eni("eni-web1")].rx_packets, 0);
}

/// `dataplane explain` on the client's node (n1) for a connection to the
/// endpoint: whichever target the NLB picks for a source port, the
/// translation is made here; when it is web1, on node n2, the explanation
/// says the packet leaves through the tunnel to n2 and what n2 checks
/// again; for web2, on n1, it says nothing of the kind.
#[test]
#[ignore = "needs root"]
fn explain_on_the_clients_node_says_a_translated_flow_goes_on_to_the_targets_node() {
    let t = Nodes::of("mnx", PRIVATELINK, NODES);
    // n1 probes web2, its own target: it must answer to stay selected
    // (web1, on n2, stays healthy on n1). As in the test above, the checks
    // have passed after 1.5 s.
    let _web2 = HostProcess::http_server(t.plan(0), "web2", ip("10.1.1.22"), 8080);
    std::thread::sleep(Duration::from_millis(1500));
    let file = t.file.to_string_lossy().into_owned();
    let mut seen = [false; 2];
    for sport in 40000..40040u16 {
        let sport = sport.to_string();
        let argv = [
            "explain",
            &file,
            "--from",
            "client",
            "--to",
            "10.0.1.100",
            "--port",
            "80",
            "--sport",
            &sport,
            "--json",
        ];
        let out = in_machine(&t.machines[0], &argv)
            .output()
            .expect("dataplane explain");
        assert_eq!(out.status.code(), Some(0), "forwarded: {out:?}");
        let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let notes: Vec<&str> = e["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let tunnel: Vec<&&str> = notes.iter().filter(|n| n.contains("hl-vxlan")).collect();
        let leaves = e["leaves_as"].as_str().unwrap_or_default().to_string();
        if leaves.contains("10.1.1.21") {
            seen[0] = true;
            assert_eq!(
                tunnel,
                [&format!(
                    "target eni-web1 lives on node n2 (192.168.213.2): translated here, the \
                     packet leaves through hl-vxlan with VNI {}; node n2 checks eni-web1's \
                     ingress groups and its subnet's inbound network ACL again (the same rules \
                     decide the same) and records the flow; the target's replies come back to \
                     this node by their destination port (this node's slice of the NAT ports)",
                    dataplane_common::vni_of(1)
                )
                .as_str()],
                "{e:#}"
            );
        } else {
            assert!(leaves.contains("10.1.1.22"), "web1 or web2: {e:#}");
            seen[1] = true;
            assert!(tunnel.is_empty(), "web2 is on this node: {e:#}");
        }
        assert_eq!(e["decided_by"], "target_sg", "{e:#}");
    }
    assert_eq!(seen, [true, true], "40 source ports reach both targets");
}

/// An HTTP VPC link across two nodes: `apigw` (n1, vpc-api) calls
/// integration 10.1.1.202 (nlb-web's port 80: web1 on n2, port 8080) and
/// 10.1.1.203 (port 81: web1's 8081, which its group does not admit); the
/// link's ENIs are 10.0.1.4 (use1-az1, web1's AZ) and 10.0.2.4.
const VPC_LINK: &str = r#"
[lab]
name = "@LAB@"
mtu = 1450

[[node]]
id = "n1"
underlay_ip = "192.168.213.1"

[[node]]
id = "n2"
underlay_ip = "192.168.213.2"

[[vpc]]
id = "vpc-api"
cidr = "10.1.0.0/16"

[[vpc]]
id = "vpc-cust"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-api1"
vpc = "vpc-api"
cidr = "10.1.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-c1"
vpc = "vpc-cust"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-c2"
vpc = "vpc-cust"
cidr = "10.0.2.0/24"
az = "use1-az2"

[[security_group]]
id = "sg-api"
vpc = "vpc-api"

[[security_group]]
id = "sg-link"
vpc = "vpc-cust"

[[security_group]]
id = "sg-cust"
vpc = "vpc-cust"
ingress = [{ protocol = "tcp", ports = "8080", peer = "sg-link" }]

[[eni]]
id = "eni-apigw"
subnet = "subnet-api1"
ip = "10.1.1.20"
security_groups = ["sg-api"]
host = "apigw"
node = "n1"

[[eni]]
id = "eni-web1"
subnet = "subnet-c1"
ip = "10.0.1.11"
security_groups = ["sg-cust"]
host = "web1"
node = "n2"

[[target_group]]
id = "tg-web"
vpc = "vpc-cust"
protocol = "tcp"
port = 8080
targets = ["eni-web1"]

[[target_group]]
id = "tg-deny"
vpc = "vpc-cust"
protocol = "tcp"
port = 8081
targets = ["eni-web1"]

[[nlb]]
id = "nlb-web"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.50" }]
listeners = [
  { protocol = "tcp", port = 80, target_group = "tg-web" },
  { protocol = "tcp", port = 81, target_group = "tg-deny" },
]

[[vpc_link]]
id = "vpclink-http"
kind = "http"
subnets = ["subnet-c1", "subnet-c2"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
integrations = [
  { id = "int-nlb", nlb = "nlb-web", port = 80, address = "10.1.1.202" },
  { id = "int-deny", nlb = "nlb-web", port = 81, address = "10.1.1.203" },
]
"#;

#[test]
#[ignore = "needs root"]
fn an_http_vpc_link_reaches_a_target_on_another_node_from_its_link_eni() {
    let t = Nodes::of("mnl", VPC_LINK, NODES);
    let web1 = HostProcess::http_server(t.plan(1), "web1", ip("10.0.1.11"), 8080);
    let denied = HostProcess::http_server(t.plan(1), "web1", ip("10.0.1.11"), 8081);
    let before = t.snapshots();
    for _ in 0..3 {
        let (code, body) = curl(t.plan(0), "apigw", ip("10.1.1.202"), 80);
        assert_eq!(code, 0, "{body}");
        let peer = body
            .trim_end()
            .strip_prefix("server=web1 peer=10.0.1.4:")
            .unwrap_or_else(|| panic!("web1 sees the link ENI of its AZ: {body}"));
        let port: u16 = peer.parse().unwrap();
        assert_eq!(
            port % 2,
            0,
            "n1 (node 0 of 2) translates with the even ports"
        );
    }
    assert_eq!(web1.peers().len(), 3);
    t.assert_no_drops_since(&before);
    let before = t.snapshot(0);
    let (code, _) = curl(t.plan(0), "apigw", ip("10.1.1.203"), 81);
    assert_eq!(code, 28, "the SYN is dropped on apigw's node");
    assert!(denied.peers().is_empty(), "{:?}", denied.peers());
    let d = t.snapshot(0).since(&before);
    let syns = d.drop_count(DropReason::TargetIngressSgDeny);
    assert!(syns >= 1, "{:?}", d.drops);
    assert_eq!(d.drops.iter().sum::<u64>(), syns);
}
