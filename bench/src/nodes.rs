//! Part 5: a lab across two nodes (docs/DATAPLANE.md, "Labs across
//! nodes"): iperf3 between a host on node n1 and one on node n2 through
//! hyperlab (each node's TC programs, the kernel's VXLAN between them),
//! against the same kind of two namespaces joined by a bare kernel VXLAN
//! pair over the same kind of underlay, in the same run. The nodes are
//! network namespaces of this machine on a bridge
//! (`hyperlab_tests::nodes`, as in tests/tests/e2e_multinode.rs), each with
//! its own agent process (`dataplane run --node`).

use std::{collections::HashMap, net::Ipv4Addr};

use anyhow::{Context, Result};
use hyperlab_tests::nodes::Nodes;

use super::{
    host::{checked_iperf, Kind, Path, Test},
    report::{Check, Report, Row},
    stats::ratios,
    sys::{ip, ns_name, Netns},
    Options, Section, Sizes,
};

/// `client` on n1 and `server` on n2 in one subnet; the groups admit TCP
/// and UDP 5201 (iperf3) and the connect-rate port from the VPC.
const TOPO: &str = r#"
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
id = "vpc-a"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-a1"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-bench"
vpc = "vpc-a"
ingress = [
  { protocol = "tcp", ports = "5201", peer = "10.0.0.0/16" },
  { protocol = "udp", ports = "5201", peer = "10.0.0.0/16" },
]

[[eni]]
id = "eni-client"
subnet = "subnet-a1"
ip = "10.0.1.10"
security_groups = ["sg-bench"]
host = "client"
node = "n1"

[[eni]]
id = "eni-server"
subnet = "subnet-a1"
ip = "10.0.1.20"
security_groups = ["sg-bench"]
host = "server"
node = "n2"
"#;

const NODES: &[(&str, &str)] = &[("n1", "192.168.213.1"), ("n2", "192.168.213.2")];

/// The bare pair: namespaces `xa` and `xb`, a veth between them as the
/// underlay (192.168.219.1/.2, MTU 1500), and in each a VXLAN device (VNI
/// 42, UDP 4789, the other end's underlay address as remote) with the
/// host's address (10.9.7.1/.2) and the lab's MTU, 1450.
fn vxlan_pair() -> Result<(Vec<Netns>, Path)> {
    let (xa, xb) = (
        Netns::create(&ns_name("xa"))?,
        Netns::create(&ns_name("xb"))?,
    );
    ip(
        &xa.name,
        &[
            "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", &xb.name,
        ],
    )?;
    for (ns, under, remote, addr) in [
        (&xa, "192.168.219.1/24", "192.168.219.2", "10.9.7.1/24"),
        (&xb, "192.168.219.2/24", "192.168.219.1", "10.9.7.2/24"),
    ] {
        ip(&ns.name, &["addr", "add", under, "dev", "ul0"])?;
        ip(&ns.name, &["link", "set", "ul0", "up"])?;
        ip(&ns.name, &["link", "set", "lo", "up"])?;
        ip(
            &ns.name,
            &[
                "link", "add", "vx0", "type", "vxlan", "id", "42", "remote", remote, "dstport",
                "4789", "dev", "ul0",
            ],
        )?;
        ip(&ns.name, &["link", "set", "vx0", "mtu", "1450"])?;
        ip(&ns.name, &["addr", "add", addr, "dev", "vx0"])?;
        ip(&ns.name, &["link", "set", "vx0", "up"])?;
    }
    let path = Path {
        name: "bare kernel VXLAN pair (two namespaces, veth underlay)",
        client_ns: xa.name.clone(),
        server_ns: xb.name.clone(),
        target: Ipv4Addr::new(10, 9, 7, 2),
        peer: Ipv4Addr::new(10, 9, 7, 1),
        kind: Kind::VxlanPair,
        udp: true,
    };
    Ok((vec![xa, xb], path))
}

pub fn run(opts: &Options, sizes: &Sizes, report: &mut Report) -> Result<()> {
    let (_ns, bare) = vxlan_pair().context("the bare VXLAN pair")?;
    let lab = Nodes::of("hlbn", TOPO, NODES);
    let host_ns = |k: usize, h: &str| -> Result<String> {
        Ok(lab
            .plan(k)
            .host(h)
            .with_context(|| format!("host {h}"))?
            .netns
            .clone())
    };
    let hyperlab = Path {
        name: "hyperlab TC: client on n1 -> server on n2 (VXLAN between the nodes)",
        client_ns: host_ns(0, "client")?,
        server_ns: host_ns(1, "server")?,
        target: Ipv4Addr::new(10, 0, 1, 20),
        peer: Ipv4Addr::new(10, 0, 1, 10),
        kind: Kind::HyperlabNodes,
        udp: true,
    };
    let paths = [bare, hyperlab];
    let mut checks: Vec<Check> = paths
        .iter()
        .map(|p| Check::new(format!("nodes: {}", p.name)))
        .collect();
    let mut data: HashMap<(usize, Test), Vec<f64>> = HashMap::new();
    let tests = [Test::TcpForward, Test::Udp64];
    for rep in 0..opts.reps {
        for t in tests {
            for (pi, p) in paths.iter().enumerate() {
                eprintln!(
                    "[bench] nodes: {} {t:?}, repetition {}/{}",
                    p.name,
                    rep + 1,
                    opts.reps
                );
                let value = checked_iperf("nodes", p, t, sizes, &mut checks[pi])?;
                data.entry((pi, t)).or_default().push(value);
            }
        }
    }
    report.checks.extend(checks);
    for t in tests {
        let base = data.get(&(0, t)).cloned().unwrap_or_default();
        for (pi, p) in paths.iter().enumerate() {
            let v = data.get(&(pi, t)).cloned().unwrap_or_default();
            let mut r = Row::new(Section::Nodes, t.table(), p.name, t.unit(), v.clone())
                .context(t.short())
                .plot();
            if pi != 0 {
                r = r.baseline(paths[0].name, ratios(&v, &base));
            }
            report.rows.push(r);
        }
    }
    report.note(
        Section::Nodes,
        "Two nodes on one machine: each node is a network namespace with its own underlay \
         address (192.168.213.1 and .2 on a bridge), its node of the lab (`dataplane lab up \
         --node`: hosts, fabric, a collect-metadata VXLAN device) and its own agent process \
         (`dataplane run --node`); `client` (10.0.1.10, node n1) sends to `server` \
         (10.0.1.20, node n2): n1's TC program forwards into its VXLAN device with the tunnel \
         key, the kernel encapsulates, n2's VXLAN device decapsulates and n2's program \
         delivers. The baseline, in the same run: two namespaces joined by a veth underlay \
         (192.168.219.1 and .2), each with a plain VXLAN device (VNI 42, port 4789, MTU 1450 \
         like the lab's hosts) and the host's address on it, no bridge or program in the \
         way. The same iperf3 runs as in part 4 (TCP client -> server and UDP with 64-byte \
         payloads); the server's logged peer address must be the client's own.",
    );
    drop(lab);
    Ok(())
}
