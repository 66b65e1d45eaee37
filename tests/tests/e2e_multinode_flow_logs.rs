//! VPC Flow Logs of a lab across two nodes (docs/DATAPLANE.md, "Labs across
//! nodes", flow logs): each node's agent writes the records of the
//! interfaces it hosts, as AWS writes each interface's records where it
//! lives; a PrivateLink flow translated on the client's node is written
//! at the client, the endpoint ENI and the NLB node there, and at the
//! target on the target's node, each record exactly once in all.
//!
//! Needs root, the kernel object and the agent binary; run under the shared
//! lock: `flock /tmp/hyperlab-root.lock cargo test -p hyperlab-tests --test
//! e2e_multinode_flow_logs -- --ignored`.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use hyperlab_tests::{
    nodes::{Nodes, NODES},
    run_in_host, HostProcess,
};

/// The two-node PrivateLink lab with a UDP listener: the endpoint's port
/// 53 goes to `tg-dns`, web1's (node n2) port 5353 only, so every flow from
/// `client` (node n1) crosses the nodes.
fn topo() -> String {
    let t = include_str!("../fixtures/multinode-privatelink.toml");
    let vpce = r#"ingress = [{ protocol = "tcp", ports = "80-81", peer = "10.0.0.0/16" }]"#;
    let web = r#"ingress = [{ protocol = "tcp", ports = "8080", peer = "sg-nlb" }]"#;
    let listeners = r#"  { protocol = "tcp", port = 81, target_group = "tg-deny" },"#;
    for s in [vpce, web, listeners] {
        assert!(t.contains(s), "the fixture changed: {s}");
    }
    t.replace(
        vpce,
        r#"ingress = [{ protocol = "tcp", ports = "80-81", peer = "10.0.0.0/16" }, { protocol = "udp", ports = "53", peer = "10.0.0.0/16" }]"#,
    )
    .replace(
        web,
        r#"ingress = [{ protocol = "tcp", ports = "8080", peer = "sg-nlb" }, { protocol = "udp", ports = "5353", peer = "sg-nlb" }]"#,
    )
    .replace(
        listeners,
        &format!("{listeners}\n  {{ protocol = \"udp\", port = 53, target_group = \"tg-dns\" }},"),
    ) + r#"
[[target_group]]
id = "tg-dns"
vpc = "vpc-provider"
protocol = "udp"
port = 5353
targets = ["eni-web1"]
"#
}

/// Echoes every datagram on IP:PORT back to its sender.
const ECHO: &str = "import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print('READY', flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(d, a)
";

/// From SRC:SPORT, 5 datagrams of 100 bytes to DST:PORT, each echoed;
/// prints how many echoes came back.
const SEND: &str = "import socket, sys
src, sport, dst, port = sys.argv[1:5]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, int(sport)))
s.settimeout(2)
got = 0
for _ in range(5):
    s.sendto(b'x' * 100, (dst, int(port)))
    s.recv(65535)
    got += 1
print(got)
";

/// The records of a default-format log (header first), summed over
/// intervals: "account interface src dst sport dport proto action" ->
/// (packets, bytes).
fn totals(log: &str) -> BTreeMap<String, (u64, u64)> {
    let mut lines = log.lines();
    assert_eq!(lines.next(), Some(dataplane::flowlog::HEADER), "{log}");
    let mut out = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.len(), 14, "a version 2 record: {l}");
        assert_eq!(f[13], "OK", "{l}");
        let key = [f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[12]].join(" ");
        let t = out.entry(key).or_insert((0, 0));
        t.0 += f[8].parse::<u64>().unwrap();
        t.1 += f[9].parse::<u64>().unwrap();
    }
    out
}

/// Both directions of a tuple at each (account, interface), 5 packets of
/// 128 IPv4 bytes each way.
fn both_ways(
    at: &[(&str, &str)],
    (src, sport): (&str, &str),
    (dst, dport): (&str, &str),
) -> BTreeMap<String, (u64, u64)> {
    at.iter()
        .flat_map(|(account, iface)| {
            [
                format!("{account} {iface} {src} {dst} {sport} {dport} 17 ACCEPT"),
                format!("{account} {iface} {dst} {src} {dport} {sport} 17 ACCEPT"),
            ]
        })
        .map(|k| (k, (5, 5 * 128)))
        .collect()
}

/// Removes the node logs however the test ends.
struct Logs(Vec<PathBuf>);

impl Drop for Logs {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[test]
#[ignore = "needs root"]
fn a_flow_across_nodes_is_logged_at_each_interface_on_the_node_that_hosts_it() {
    let dir = std::env::temp_dir();
    let pattern = dir.join(format!("hyperlab-mnfl-{}-{{node}}.log", std::process::id()));
    let pattern = pattern.to_string_lossy().into_owned();
    let logs = Logs(
        ["n1", "n2"]
            .iter()
            .map(|n| PathBuf::from(pattern.replace("{node}", n)))
            .collect(),
    );
    let mut t = Nodes::with_agent_args(
        "mnfl",
        &topo(),
        NODES,
        &["--flow-log", &pattern, "--flow-log-interval", "1"],
    );
    let echo = HostProcess::spawn(
        t.plan(1),
        "web1",
        &["python3", "-c", ECHO, "10.1.1.21", "5353"],
    );
    echo.wait_for_output("READY", Duration::from_secs(10));
    // client (n1) 10.0.1.10:41000 -> the endpoint 10.0.1.100:53; n1
    // translates (NLB node 10.1.1.50, a port of its slice: even) and the
    // tunnel carries it to web1 on n2.
    let argv = [
        "python3",
        "-c",
        SEND,
        "10.0.1.10",
        "41000",
        "10.0.1.100",
        "53",
    ];
    let (code, out) = run_in_host(t.plan(0), "client", &argv);
    assert_eq!((code, out.trim()), (0, "5"), "all 5 echoes came back");
    drop(echo);
    t.stop_agents();
    let read = |k: usize| std::fs::read_to_string(&logs.0[k]).expect("the node's flow log");
    let (n1, n2) = (read(0), read(1));
    let (got1, got2) = (totals(&n1), totals(&n2));
    // The NAT port: from n1's record at the NLB node.
    let endpoint = dataplane::model::managed_eni_id("vpce-web", "subnet-c1");
    let node = dataplane::model::managed_eni_id("nlb-web", "subnet-p1");
    let prefix = format!("unknown {node} 10.1.1.50 10.1.1.21 ");
    let nat_port = got1
        .keys()
        .find_map(|k| k.strip_prefix(&prefix))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no request record at the NLB node on n1:\n{n1}"))
        .to_string();
    assert_eq!(
        nat_port.parse::<u16>().unwrap() % 2,
        0,
        "n1 (node 0 of 2) translates with the even ports"
    );
    let acct = "123456789012";
    let client = (("10.0.1.10", "41000"), ("10.0.1.100", "53"));
    let translated = (("10.1.1.50", nat_port.as_str()), ("10.1.1.21", "5353"));
    let want1: BTreeMap<String, (u64, u64)> = both_ways(
        &[(acct, "eni-client"), ("unknown", &endpoint)],
        client.0,
        client.1,
    )
    .into_iter()
    .chain(both_ways(&[("unknown", &node)], translated.0, translated.1))
    .collect();
    assert_eq!(got1, want1, "n1's log:\n{n1}");
    let want2 = both_ways(&[(acct, "eni-web1")], translated.0, translated.1);
    assert_eq!(got2, want2, "n2's log:\n{n2}");
}
