//! The bench topology: one VPC with a client and a server host, and an
//! interface endpoint in the same VPC whose NLB targets the server. The
//! same two veths then carry the intra-VPC path and the PrivateLink path.

use std::net::Ipv4Addr;

use dataplane::model::{Peer, Protocol, Rule, Topology};
use dataplane_common::{EniInfo, PortInfo};

use crate::Fixture;

pub const TOPO: &str = r#"
[lab]
name = "@LAB@"

[[vpc]]
id = "vpc-bench"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-bench"
vpc = "vpc-bench"
cidr = "10.0.1.0/24"
az = "use1-az1"

# No ingress; AWS's default egress (everything, anywhere).
[[security_group]]
id = "sg-client"
vpc = "vpc-bench"
ingress = []

# The server admits the bench ports from the VPC (the client and the NLB
# node); tcp/9999 stays closed for the deny path.
[[security_group]]
id = "sg-server"
vpc = "vpc-bench"
ingress = [
  { protocol = "tcp", ports = "5201", peer = "10.0.0.0/16" },
  { protocol = "udp", ports = "5201", peer = "10.0.0.0/16" },
  { protocol = "udp", ports = "5353-5354", peer = "10.0.0.0/16" },
]

[[security_group]]
id = "sg-vpce"
vpc = "vpc-bench"
ingress = [
  { protocol = "tcp", ports = "80", peer = "10.0.0.0/16" },
  { protocol = "tcp", ports = "5201", peer = "10.0.0.0/16" },
  { protocol = "udp", ports = "53", peer = "10.0.0.0/16" },
  { protocol = "udp", ports = "5201", peer = "10.0.0.0/16" },
]

[[security_group]]
id = "sg-nlb"
vpc = "vpc-bench"
ingress = []

[[eni]]
id = "eni-client"
subnet = "subnet-bench"
ip = "10.0.1.10"
security_groups = ["sg-client"]
host = "client"

[[eni]]
id = "eni-server"
subnet = "subnet-bench"
ip = "10.0.1.21"
security_groups = ["sg-server"]
host = "server"

[[target_group]]
id = "tg-tcp"
vpc = "vpc-bench"
protocol = "tcp"
port = 5201
targets = ["eni-server"]

[[target_group]]
id = "tg-iperf-udp"
vpc = "vpc-bench"
protocol = "udp"
port = 5201
targets = ["eni-server"]

# Two targets on one host: 65,536 flows from one client address need more
# source ports than one target's NAT space (1024-65535) holds.
[[target_group]]
id = "tg-udp"
vpc = "vpc-bench"
protocol = "udp"
port = 5353
targets = ["10.0.1.21:5353", "10.0.1.21:5354"]

[[nlb]]
id = "nlb-bench"
subnets = [ { subnet = "subnet-bench", ip = "10.0.1.50" } ]
security_groups = ["sg-nlb"]
listeners = [
  { protocol = "tcp", port = 80, target_group = "tg-tcp" },
  { protocol = "tcp", port = 5201, target_group = "tg-tcp" },
  { protocol = "udp", port = 5201, target_group = "tg-iperf-udp" },
  { protocol = "udp", port = 53, target_group = "tg-udp" },
]

[[endpoint_service]]
id = "vpce-svc-bench"
nlb = "nlb-bench"
acceptance_required = false
allowed_principals = ["*"]

[[vpc_endpoint]]
id = "vpce-bench"
service = "vpce-svc-bench"
vpc = "vpc-bench"
subnets = [ { subnet = "subnet-bench", ip = "10.0.1.100" } ]
security_groups = ["sg-vpce"]
principal = "arn:aws:iam::111122223333:root"
"#;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 21);
pub const ENDPOINT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
pub const NLB: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 50);
/// NLB source ports (the model's default range).
pub const NAT_PORTS: (u16, u16) = dataplane::model::NLB_SOURCE_PORTS;

/// Addresses, MACs and fabric ports of a loaded bench topology.
#[derive(Clone, Debug)]
pub struct Net {
    pub client_mac: [u8; 6],
    pub server_mac: [u8; 6],
    pub client_port: u32,
    pub server_port: u32,
    pub vpc: u32,
}

impl Net {
    pub fn of(fx: &Fixture) -> Net {
        Net {
            client_mac: fx.mac("eni-client"),
            server_mac: fx.mac("eni-server"),
            client_port: fx.port_ifindex("eni-client"),
            server_port: fx.port_ifindex("eni-server"),
            vpc: fx.agent.compiled.ports[fx.eni("eni-client")].1.vpc,
        }
    }

    /// The same facts from a compiled config (no agent).
    pub fn from_compiled(
        ports: &[(u32, PortInfo)],
        enis: &[(dataplane_common::EniKey, EniInfo)],
    ) -> Net {
        let find = |ip: Ipv4Addr| {
            let (_, e) = enis
                .iter()
                .find(|(k, _)| k.ip == ip.octets())
                .expect("bench ENI");
            e.eni as usize
        };
        let (c, s) = (find(CLIENT), find(SERVER));
        Net {
            client_mac: ports[c].1.mac,
            server_mac: ports[s].1.mac,
            client_port: ports[c].0,
            server_port: ports[s].0,
            vpc: ports[c].1.vpc,
        }
    }
}

/// `topo` with the server's group holding `n` tcp rules: peers are /32s
/// around the client's address (`client XOR j`, j < n), so the client's
/// lookup walks a trie as deep as `n` makes it; the client's own rule admits
/// tcp/5201, the others one port each.
pub fn with_server_rules(topo: &Topology, n: usize) -> Topology {
    let mut t = topo.clone();
    let g = t
        .security_groups
        .iter()
        .position(|g| g.id == "sg-server")
        .expect("sg-server");
    let client = u32::from(CLIENT);
    t.security_groups[g].ingress = (0..n as u32)
        .map(|j| Rule {
            protocol: Protocol::Tcp,
            ports: if j == 0 {
                (5201, 5201)
            } else {
                let p = 10_000 + (j % 50_000) as u16;
                (p, p)
            },
            peer: Peer::Cidr(
                dataplane::model::Ipv4Net::new(Ipv4Addr::from(client ^ j), 32).expect("/32"),
            ),
        })
        .collect();
    t
}
