//! The bench topology: one VPC with a client and a server host, and an
//! interface endpoint in the same VPC whose NLB targets the server; an API
//! service VPC whose API host reaches the same NLB's targets through an
//! HTTP API VPC link (VPC-to-VPC NAT). The client's and the server's veths
//! carry the intra-VPC path and the PrivateLink path; the API host's veth
//! and the server's carry the VPC-link path. The client reaches the lab's
//! internet host `example` through a NAT gateway (the NAT gateway path).

use std::net::Ipv4Addr;

use dataplane::model::{Peer, Protocol, Rule, Topology};
use dataplane_common::{EniInfo, PortInfo, GATEWAY_MAC};

use hyperlab_tests::{pkt, Fixture};

/// The topology above (`@LAB@` is replaced).
pub const TOPO: &str = include_str!("topo.toml");

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
/// The lab's internet host and the NAT gateway's Elastic IP (part 3's NAT
/// gateway path: client -> nat-bench -> example).
pub const EXAMPLE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
pub const EIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 50);
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
    /// The internet host `example`'s MAC (what the NAT gateway path
    /// delivers to).
    pub example_mac: [u8; 6],
}

impl Net {
    /// A TCP segment from the client to `dst`, through the gateway.
    pub fn from_client(&self, dst: Ipv4Addr, sport: u16, dport: u16, flags: &str) -> Vec<u8> {
        pkt::tcp(
            self.client_mac,
            GATEWAY_MAC,
            CLIENT,
            dst,
            sport,
            dport,
            flags,
        )
    }

    /// A TCP segment from the server to `dst`, through the gateway.
    pub fn from_server(&self, dst: Ipv4Addr, sport: u16, dport: u16, flags: &str) -> Vec<u8> {
        pkt::tcp(
            self.server_mac,
            GATEWAY_MAC,
            SERVER,
            dst,
            sport,
            dport,
            flags,
        )
    }

    pub fn of(fx: &Fixture) -> Net {
        Net {
            client_mac: fx.mac("eni-client"),
            server_mac: fx.mac("eni-server"),
            client_port: fx.port_ifindex("eni-client"),
            server_port: fx.port_ifindex("eni-server"),
            vpc: fx.agent.compiled.ports[fx.eni("eni-client")].1.vpc,
            api_mac: fx.mac("eni-apigw"),
            api_port: fx.port_ifindex("eni-apigw"),
            example_mac: Self::internet_mac(&fx.agent.compiled.ports),
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
            example_mac: Self::internet_mac(ports),
        }
    }

    /// The internet host's MAC: its fabric port's.
    fn internet_mac(ports: &[(u32, PortInfo)]) -> [u8; 6] {
        ports
            .iter()
            .find(|(_, p)| p.ip == EXAMPLE.octets())
            .expect("the internet host's port")
            .1
            .mac
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
