//! The probe `explain` runs: the packet a person describes (sender,
//! destination, protocol, ports) resolved against the topology and built
//! as the sender's stack would put it on the wire.

use std::net::Ipv4Addr;

use anyhow::{bail, Context, Result};
use dataplane_common::{GATEWAY_MAC, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use serde::{Serialize, Serializer};

use crate::model::{Protocol, Topology, VpcLinkKind, PROTOCOL_NAMES};

/// The IP protocol of the packet to explain: TCP, UDP, ICMP (an echo
/// request), or any other protocol by number (GRE 47, ESP 50, SCTP 132...:
/// an IPv4 packet of that protocol with no ports, as the kernel tracks it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    /// Any protocol but TCP, UDP and ICMP.
    Other(u8),
}

impl Proto {
    /// A protocol as the config's `protocol` field writes it (a name such
    /// as `tcp` or `gre`, or a number 0 to 255), read by the config's own
    /// parser. `all` (-1) is no packet's protocol.
    pub fn parse(s: &str) -> Result<Proto> {
        match crate::config::protocol_by_name(s) {
            Some(Protocol::All) => bail!(
                "--proto {s:?}: a packet has one protocol (`all` is for rules): \
                 give a name such as tcp, udp, icmp, gre, esp, or a number 0 to 255"
            ),
            Some(p) => Ok(Proto::of(p.ip_protocols()[0])),
            None => bail!(
                "--proto {s:?}: unknown protocol (expected tcp, udp, icmp, a name such as gre, \
                 esp, ah, sctp, or a number 0 to 255)"
            ),
        }
    }

    /// The protocol of IP protocol number `n`.
    pub fn of(n: u8) -> Proto {
        match n {
            PROTO_TCP => Proto::Tcp,
            PROTO_UDP => Proto::Udp,
            PROTO_ICMP => Proto::Icmp,
            n => Proto::Other(n),
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => PROTO_TCP,
            Proto::Udp => PROTO_UDP,
            Proto::Icmp => PROTO_ICMP,
            Proto::Other(n) => n,
        }
    }

    /// The name the config uses (`gre`), else the number (`200`).
    pub fn name(self) -> String {
        match self {
            Proto::Tcp => "tcp".into(),
            Proto::Udp => "udp".into(),
            Proto::Icmp => "icmp".into(),
            Proto::Other(n) => PROTOCOL_NAMES
                .iter()
                .find(|&&(_, k)| k == n)
                .map_or_else(|| n.to_string(), |(name, _)| name.to_string()),
        }
    }

    /// Does the packet carry ports (or an echo identifier)?
    pub fn has_ports(self) -> bool {
        !matches!(self, Proto::Other(_))
    }
}

impl Serialize for Proto {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// A packet description as a person gives it.
#[derive(Clone, Debug)]
pub struct Query {
    /// A host name or an ENI id.
    pub from: String,
    /// An IPv4 address, or the id of an ENI, host, VPC endpoint or HTTP VPC
    /// link integration in the sender's VPC.
    pub to: String,
    pub proto: Proto,
    /// Destination port (TCP/UDP; default 80 for TCP, 53 for UDP; none
    /// for ICMP and other protocols).
    pub port: Option<u16>,
    /// Source port, or the ICMP echo identifier (default [`DEFAULT_SPORT`]);
    /// other protocols have none (ignored).
    pub sport: Option<u16>,
}

/// The source port (echo identifier) when none is given. Target choice and
/// the NAT port depend on it, as on every field of the 5-tuple.
pub const DEFAULT_SPORT: u16 = 40000;

/// The packet the query stands for: the first packet of a connection (TCP
/// SYN, a UDP datagram, an ICMP echo request, an IPv4 packet of another
/// protocol with a small payload) from the sender's ENI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Index into `Topology::enis`.
    pub eni: usize,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: Proto,
    pub sport: u16,
    pub dport: u16,
}

impl Probe {
    /// Resolves the names of a query against the topology.
    pub fn resolve(topo: &Topology, q: &Query) -> Result<Probe> {
        let eni = source_eni(topo, q)?;
        let vpc = topo.eni_vpc(eni);
        let dst = destination(topo, vpc, eni, &q.to)?;
        let sport = q.sport.unwrap_or(DEFAULT_SPORT);
        let dport = match q.proto {
            Proto::Icmp => {
                if q.port.is_some() {
                    bail!("--port does not apply to icmp (an echo request has no port; --sport sets its identifier)");
                }
                sport
            }
            Proto::Tcp => q.port.unwrap_or(80),
            Proto::Udp => q.port.unwrap_or(53),
            Proto::Other(_) => {
                if q.port.is_some() {
                    bail!(
                        "--port does not apply to {} (only TCP and UDP have ports)",
                        q.proto.name()
                    );
                }
                0
            }
        };
        // Only addresses and protocol are tracked for other protocols.
        let sport = if q.proto.has_ports() { sport } else { 0 };
        Ok(Probe {
            eni,
            src: topo.enis[eni].ip,
            dst,
            proto: q.proto,
            sport,
            dport,
        })
    }

    /// The probe for a packet already described by its tuple.
    pub fn of(
        topo: &Topology,
        eni: usize,
        dst: Ipv4Addr,
        proto: Proto,
        sport: u16,
        dport: u16,
    ) -> Probe {
        Probe {
            eni,
            src: topo.enis[eni].ip,
            dst,
            proto,
            sport: if proto.has_ports() { sport } else { 0 },
            dport: match proto {
                Proto::Icmp => sport,
                Proto::Other(_) => 0,
                _ => dport,
            },
        }
    }

    /// Ethernet + IPv4 + TCP SYN / UDP / ICMP echo request / the payload
    /// alone (other protocols), with valid checksums, addressed as the sender's stack addresses it (to the
    /// virtual router's MAC).
    pub fn frame(&self, topo: &Topology) -> Vec<u8> {
        let payload: &[u8] = b"hyperlab-explain";
        let l4 = match self.proto {
            Proto::Tcp => {
                let mut t = vec![0u8; 20];
                t[0..2].copy_from_slice(&self.sport.to_be_bytes());
                t[2..4].copy_from_slice(&self.dport.to_be_bytes());
                t[4..8].copy_from_slice(&1000u32.to_be_bytes()); // seq
                t[12] = 5 << 4; // data offset
                t[13] = 0x02; // SYN
                t[14..16].copy_from_slice(&64240u16.to_be_bytes());
                t
            }
            Proto::Udp => {
                let mut u = vec![0u8; 8];
                u[0..2].copy_from_slice(&self.sport.to_be_bytes());
                u[2..4].copy_from_slice(&self.dport.to_be_bytes());
                u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
                u.extend_from_slice(payload);
                u
            }
            Proto::Icmp => {
                let mut i = vec![8u8, 0, 0, 0]; // echo request
                i.extend_from_slice(&self.sport.to_be_bytes()); // identifier
                i.extend_from_slice(&1u16.to_be_bytes()); // sequence
                i.extend_from_slice(payload);
                let c = !fold(sum(&i));
                i[2..4].copy_from_slice(&c.to_be_bytes());
                i
            }
            // No header past IPv4's is assumed (the kernel reads none).
            Proto::Other(_) => payload.to_vec(),
        };
        let mut l4 = l4;
        let proto = self.proto.number();
        if matches!(self.proto, Proto::Tcp | Proto::Udp) {
            // Pseudo-header checksum over addresses, protocol and length.
            let mut pseudo = Vec::with_capacity(12);
            pseudo.extend_from_slice(&self.src.octets());
            pseudo.extend_from_slice(&self.dst.octets());
            pseudo.extend_from_slice(&[0, proto]);
            pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            let c = !fold(sum(&pseudo) + sum(&l4));
            let off = if self.proto == Proto::Tcp { 16 } else { 6 };
            l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
        }
        let mut ip = vec![0x45u8, 0];
        ip.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]); // id 1, DF, TTL 64
        ip.extend_from_slice(&self.src.octets());
        ip.extend_from_slice(&self.dst.octets());
        let c = !fold(sum(&ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut f = GATEWAY_MAC.to_vec();
        f.extend_from_slice(&topo.enis[self.eni].mac);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&l4);
        f
    }
}

fn sum(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn source_eni(topo: &Topology, q: &Query) -> Result<usize> {
    if let Some(i) = topo.eni_by_id(&q.from) {
        return Ok(i);
    }
    let hosts = topo.hosts();
    let Some((_, enis)) = hosts.iter().find(|(h, _)| *h == q.from) else {
        bail!(
            "--from {:?} is neither a host nor an ENI of the topology (hosts: {}; ENIs: {})",
            q.from,
            hosts
                .iter()
                .map(|(h, _)| h.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            topo.enis
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    if enis.len() == 1 {
        return Ok(enis[0]);
    }
    // A host with several ENIs: the one whose VPC holds the destination address.
    if let Ok(ip) = q.to.parse::<Ipv4Addr>() {
        let hits: Vec<usize> = enis
            .iter()
            .copied()
            .filter(|&e| topo.vpcs[topo.eni_vpc(e)].cidr.contains(&ip))
            .collect();
        if hits.len() == 1 {
            return Ok(hits[0]);
        }
    }
    bail!(
        "host {} has {} ENIs ({}): name one with --from ENI-ID",
        q.from,
        enis.len(),
        enis.iter()
            .map(|&e| topo.enis[e].id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `to` as an address in VPC `vpc`, as seen from ENI `from`.
fn destination(topo: &Topology, vpc: usize, from: usize, to: &str) -> Result<Ipv4Addr> {
    if let Ok(ip) = to.parse::<Ipv4Addr>() {
        return Ok(ip);
    }
    if let Some(i) = topo.eni_by_id(to) {
        return Ok(topo.enis[i].ip);
    }
    if let Some(h) = topo.internet.hosts.iter().find(|h| h.name == to) {
        return Ok(h.ip);
    }
    if let Some((_, enis)) = topo.hosts().into_iter().find(|(h, _)| h == to) {
        // The host's ENI in the sender's VPC, else in a VPC an active
        // peering connection joins to it (its addresses are reachable).
        if let Some(&e) = enis.iter().find(|&&e| topo.eni_vpc(e) == vpc) {
            return Ok(topo.enis[e].ip);
        }
        if let Some(&e) = enis
            .iter()
            .find(|&&e| topo.actively_peered(vpc, topo.eni_vpc(e)))
        {
            return Ok(topo.enis[e].ip);
        }
        bail!(
            "host {to} has no ENI in {}: give its address",
            topo.vpcs[vpc].id
        );
    }
    let s = &topo.services;
    if let Some(ep) = s.vpc_endpoints.iter().find(|e| e.id == to) {
        // The endpoint ENI in the sender's AZ, as its zonal DNS name would give.
        let az = &topo.subnets[topo.enis[from].subnet].az;
        let e = ep
            .enis
            .iter()
            .find(|e| topo.subnets[e.subnet].az == *az)
            .or(ep.enis.first())
            .with_context(|| format!("endpoint {to} has no ENI"))?;
        return Ok(e.ip);
    }
    for link in &s.vpc_links {
        if let VpcLinkKind::Http { integrations, .. } = &link.kind {
            if let Some(i) = integrations.iter().find(|i| i.id == to) {
                return Ok(i.address);
            }
        }
    }
    bail!(
        "--to {to:?} is not an IPv4 address, nor an ENI, host, VPC endpoint or HTTP VPC link \
         integration of the topology"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        let text = include_str!("../../../configs/network-acls.toml");
        crate::config::parse_str(text, "network-acls.toml").unwrap()
    }

    fn query(to: &str, proto: Proto, port: Option<u16>) -> Query {
        Query {
            from: "client".into(),
            to: to.into(),
            proto,
            port,
            sport: None,
        }
    }

    #[test]
    fn protocols_are_read_as_the_config_reads_them() {
        let ok = [
            ("tcp", Proto::Tcp),
            ("UDP", Proto::Udp),
            ("icmp", Proto::Icmp),
            ("gre", Proto::Other(47)),
            ("esp", Proto::Other(50)),
            ("ah", Proto::Other(51)),
            ("sctp", Proto::Other(132)),
            ("47", Proto::Other(47)),
            ("6", Proto::Tcp),
            ("0", Proto::Other(0)),
            ("255", Proto::Other(255)),
        ];
        for (s, p) in ok {
            assert_eq!(Proto::parse(s).unwrap(), p, "{s}");
        }
        assert_eq!(Proto::Other(47).name(), "gre");
        assert_eq!(Proto::Other(200).name(), "200");
        assert_eq!(
            serde_json::to_string(&[Proto::Tcp, Proto::Other(50), Proto::Other(253)]).unwrap(),
            r#"["tcp","esp","253"]"#
        );
        for bad in ["all", "-1", "256", "grr", ""] {
            let e = Proto::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--proto {bad:?}: ")), "{e}");
        }
        assert!(Proto::parse("all")
            .unwrap_err()
            .to_string()
            .contains("a packet has one protocol"));
    }

    /// A GRE probe is an IPv4 packet of protocol 47 carrying the payload
    /// alone: no ports, a valid header checksum.
    #[test]
    fn a_probe_of_another_protocol_is_ipv4_with_a_payload_and_no_ports() {
        let topo = topo();
        let probe = Probe::resolve(&topo, &query("web", Proto::Other(47), None)).unwrap();
        let client: Ipv4Addr = "10.0.1.10".parse().unwrap();
        let web: Ipv4Addr = "10.0.2.20".parse().unwrap();
        assert_eq!(
            (probe.src, probe.dst, probe.proto, probe.sport, probe.dport),
            (client, web, Proto::Other(47), 0, 0)
        );
        let f = probe.frame(&topo);
        let mut want = GATEWAY_MAC.to_vec();
        want.extend_from_slice(&topo.enis[probe.eni].mac);
        want.extend_from_slice(&[0x08, 0x00]);
        want.extend_from_slice(&[0x45, 0, 0, 36, 0, 1, 0x40, 0, 64, 47]);
        want.extend_from_slice(&f[24..26]); // checksum, checked below
        want.extend_from_slice(&client.octets());
        want.extend_from_slice(&web.octets());
        want.extend_from_slice(b"hyperlab-explain");
        assert_eq!(f, want);
        assert_eq!(fold(sum(&f[14..34])), 0xffff, "IPv4 header checksum");
        // By number, the same packet.
        let by_number = Probe::resolve(&topo, &query("web", Proto::parse("47").unwrap(), None));
        assert_eq!(by_number.unwrap(), probe);
        // `Probe::of` drops ports the protocol does not have.
        let of = Probe::of(&topo, probe.eni, web, Proto::Other(50), 40000, 80);
        assert_eq!((of.sport, of.dport), (0, 0));
    }

    #[test]
    fn a_port_for_a_protocol_without_ports_is_refused() {
        let e = Probe::resolve(&topo(), &query("web", Proto::Other(50), Some(500)))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--port does not apply to esp (only TCP and UDP have ports)"
        );
    }
}
