//! The bench topology: one VPC with a client and a server host, and an
//! interface endpoint in the same VPC whose NLB targets the server; an API
//! service VPC whose API host reaches the same NLB's targets through an
//! HTTP API VPC link (VPC-to-VPC NAT). The client's and the server's veths
//! carry the intra-VPC path and the PrivateLink path; the API host's veth
//! and the server's carry the VPC-link path.

use std::net::Ipv4Addr;

use dataplane::model::{Peer, Protocol, Rule, Topology};
use dataplane_common::{EniInfo, PortInfo};

use hyperlab_tests::Fixture;

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

# The API service VPC and its API host.
[[vpc]]
id = "vpc-api"
cidr = "10.1.0.0/16"

[[subnet]]
id = "subnet-api"
vpc = "vpc-api"
cidr = "10.1.1.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-apigw"
vpc = "vpc-api"
ingress = []

[[eni]]
id = "eni-apigw"
subnet = "subnet-api"
ip = "10.1.1.20"
security_groups = ["sg-apigw"]
host = "apigw"

# AWS's default egress: the link may reach whatever the targets admit (the
# server's group admits the VPC's range, the link ENI's included).
[[security_group]]
id = "sg-link"
vpc = "vpc-bench"
ingress = []

# An HTTP API VPC link into vpc-bench: the API host calls an integration
# address, the link ENI source-NATs into the NLB listener's targets. One
# protocol per integration address.
[[vpc_link]]
id = "vpclink-bench"
kind = "http"
subnets = ["subnet-bench"]
addresses = ["10.0.1.4"]
security_groups = ["sg-link"]
service_vpc = "vpc-api"
integrations = [
  { id = "int-tcp", nlb = "nlb-bench", port = 5201, address = "10.1.1.201" },
  { id = "int-udp", nlb = "nlb-bench", port = 53, address = "10.1.1.202", protocol = "udp" },
]
"#;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 21);
pub const ENDPOINT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
pub const NLB: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 50);
/// The API host (API service VPC) and the VPC link's ENI (vpc-bench).
pub const API: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 20);
pub const LINK: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 4);
/// The link's integration addresses: TCP 5201 and UDP 53 (NLB listeners).
pub const INT_TCP: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 201);
pub const INT_UDP: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 202);
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
    pub api_mac: [u8; 6],
    pub api_port: u32,
}

impl Net {
    pub fn of(fx: &Fixture) -> Net {
        Net {
            client_mac: fx.mac("eni-client"),
            server_mac: fx.mac("eni-server"),
            client_port: fx.port_ifindex("eni-client"),
            server_port: fx.port_ifindex("eni-server"),
            vpc: fx.agent.compiled.ports[fx.eni("eni-client")].1.vpc,
            api_mac: fx.mac("eni-apigw"),
            api_port: fx.port_ifindex("eni-apigw"),
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
        let (c, s, a) = (find(CLIENT), find(SERVER), find(API));
        Net {
            client_mac: ports[c].1.mac,
            server_mac: ports[s].1.mac,
            client_port: ports[c].0,
            server_port: ports[s].0,
            vpc: ports[c].1.vpc,
            api_mac: ports[a].1.mac,
            api_port: ports[a].0,
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
