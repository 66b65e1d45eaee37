//! Random packet sequences biased toward what can go wrong: addresses and
//! ports taken from the topology (ENIs, endpoints, NLB nodes, rule edges,
//! listener and target ports), replies to earlier packets (including the
//! translated replies targets send to NLB node addresses), continuations of
//! earlier flows with TCP flag sequences (RST, FIN, a new SYN on a closed
//! tuple), ARP of every kind, spoofed sources, and plain garbage or
//! mutated headers. With an HTTP VPC link: requests from the API service
//! VPC's hosts to integration addresses, replies from targets to the link
//! ENIs, and first packets customer hosts send to link ENIs.
//!
//! The generator feeds every packet to its own [`Model`] and draws replies
//! from the model's outcomes, so a sequence depends on its seed alone, never
//! on what the kernel did.

use std::collections::{BTreeSet, VecDeque};

mod fragments;

use dataplane::model::{Hook, L4Protocol, Topology, VpcLinkKind};
use dataplane_common::GATEWAY_MAC;

use super::{
    frames::{self, Ip, L4},
    rng::Rng,
};
use crate::reference::{parse, Frame, Ipv4, Model, Port, Verdict};

/// Where a generated frame is sent from: an ENI by id (ids survive
/// shrinking the topology), or an interface that is no ENI's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Eni(String),
    /// An internet host of the lab, by name.
    Internet(String),
    Unknown,
}

/// One packet of a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub from: Source,
    pub hook: Hook,
    pub frame: Vec<u8>,
}

/// Which program a sequence runs through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookMode {
    Tc,
    Xdp,
    /// Each packet picks one; both share the flow table, as in a lab
    /// whose hosts are reached through both.
    Mixed,
}

/// The skb test runner refuses frames whose EtherType promises a network
/// header the frame is too short for (EINVAL, before the program runs):
/// IPv4 shorter than an IPv4 header, IPv6 shorter than an IPv6 header.
/// Those can only go through XDP.
pub fn tc_can_run(frame: &[u8]) -> bool {
    match [frame[12], frame[13]] {
        [0x08, 0x00] => frame.len() >= 14 + 20,
        [0x86, 0xdd] => frame.len() >= 14 + 40,
        _ => true,
    }
}

/// An endpoint ENI address and its NLB's listeners as (protocol, port)
/// (ICMP echo as (1, 0)).
type Service = ([u8; 4], Vec<(u8, u16)>);

/// What the generator draws addresses and ports from.
struct Pools {
    /// Per VPC: its ENIs, endpoint ENIs, NLB nodes, gateways and a few
    /// unused addresses.
    vpc: Vec<Vec<[u8; 4]>>,
    /// Per VPC: endpoint ENI addresses.
    endpoints: Vec<Vec<[u8; 4]>>,
    /// Per VPC: (endpoint ENI address, its NLB's listeners as (protocol, port)).
    services: Vec<Vec<Service>>,
    all: Vec<[u8; 4]>,
    /// Per VPC: the host ENI addresses of the VPCs a peering connection (in
    /// any status) joins to it.
    peers: Vec<Vec<[u8; 4]>>,
    ports: Vec<u16>,
    /// HTTP VPC link ENIs: (customer VPC, address).
    links: Vec<(usize, [u8; 4])>,
    /// HTTP VPC link integrations: (service VPC, address, protocol, port).
    integrations: Vec<(usize, [u8; 4], u8, u16)>,
    /// The lab's internet: internet hosts, public addresses, and an
    /// address of each documentation range nobody holds.
    internet: Vec<[u8; 4]>,
}

impl Pools {
    fn of(t: &Topology) -> Pools {
        let n = t.vpcs.len();
        let mut vpc = vec![Vec::new(); n];
        let mut endpoints = vec![Vec::new(); n];
        let mut services = vec![Vec::new(); n];
        for (i, e) in t.enis.iter().enumerate() {
            vpc[t.eni_vpc(i)].push(e.ip.octets());
        }
        for ep in &t.services.vpc_endpoints {
            let nlb = &t.services.nlbs[t.services.endpoint_services[ep.service].nlb];
            let listeners: Vec<(u8, u16)> = nlb
                .listeners
                .iter()
                .map(|l| match l.protocol {
                    L4Protocol::Tcp => (6, l.port),
                    L4Protocol::Udp => (17, l.port),
                })
                .chain(std::iter::once((1, 0)))
                .collect();
            for e in &ep.enis {
                vpc[ep.vpc].push(e.ip.octets());
                endpoints[ep.vpc].push(e.ip.octets());
                services[ep.vpc].push((e.ip.octets(), listeners.clone()));
            }
        }
        for nlb in &t.services.nlbs {
            for node in &nlb.nodes {
                vpc[nlb.vpc].push(node.ip.octets());
            }
        }
        for (s, sn) in t.subnets.iter().enumerate() {
            vpc[sn.vpc].push(t.gateway(s).octets());
            let net = u32::from(sn.cidr.network());
            vpc[sn.vpc].push((net + 200).to_be_bytes());
            vpc[sn.vpc].push((net + 255).to_be_bytes());
        }
        let mut internet: Vec<[u8; 4]> = Vec::new();
        if !t.internet.hosts.is_empty() || !t.internet.public_ips.is_empty() {
            internet.extend(t.internet.hosts.iter().map(|h| h.ip.octets()));
            internet.extend(t.internet.public_ips.iter().map(|p| p.ip.octets()));
            let eips = t
                .internet
                .nat_gateways
                .iter()
                .map(|n| n.elastic_ip.octets());
            internet.extend(eips);
            internet.extend([[203, 0, 113, 99], [198, 51, 100, 99]]);
        }
        let all: Vec<[u8; 4]> = vpc.iter().flatten().chain(&internet).copied().collect();
        let mut peers = vec![Vec::new(); n];
        for p in &t.vpc_peerings {
            for (a, b) in [(p.requester, p.accepter), (p.accepter, p.requester)] {
                let hosts = (0..t.enis.len()).filter(|&i| t.eni_vpc(i) == b);
                peers[a].extend(hosts.map(|i| t.enis[i].ip.octets()));
            }
        }
        let mut ports: BTreeSet<u16> = [0, 1, 22, 53, 80, 443, 1024, 8080, 65535].into();
        for sg in &t.security_groups {
            for r in sg.ingress.iter().chain(&sg.egress) {
                let (lo, hi) = r.ports;
                ports.extend([lo.saturating_sub(1), lo, hi, hi.saturating_add(1)]);
            }
        }
        for nlb in &t.services.nlbs {
            ports.extend(nlb.listeners.iter().map(|l| l.port));
            let (lo, hi) = nlb.source_ports;
            ports.extend([lo, hi]);
        }
        for tg in &t.services.target_groups {
            ports.extend(tg.targets.iter().map(|x| x.port));
        }
        let mut links = Vec::new();
        let mut integrations = Vec::new();
        for l in &t.services.vpc_links {
            if let VpcLinkKind::Http {
                customer_vpc,
                service_vpc,
                enis,
                integrations: ints,
                ..
            } = &l.kind
            {
                links.extend(enis.iter().map(|e| (*customer_vpc, e.ip.octets())));
                for i in ints {
                    let proto = match i.protocol {
                        L4Protocol::Tcp => 6,
                        L4Protocol::Udp => 17,
                    };
                    integrations.push((*service_vpc, i.address.octets(), proto, i.port));
                }
            }
        }
        Pools {
            vpc,
            endpoints,
            services,
            all,
            peers,
            ports: ports.into_iter().collect(),
            links,
            integrations,
            internet,
        }
    }
}

/// A packet the model forwarded: where to, and what it looked like.
#[derive(Clone, Debug)]
struct Delivered {
    to: usize,
    p: Ipv4,
    /// The frame as delivered (what an ICMP error about it quotes).
    frame: Vec<u8>,
}

pub struct PacketGen<'t> {
    topo: &'t Topology,
    model: Model,
    rng: Rng,
    pools: Pools,
    mode: HookMode,
    delivered: VecDeque<Delivered>,
    /// Accepted packets, for continuing their flows: (sender ENI, packet).
    accepted: VecDeque<(usize, Ipv4)>,
    /// The later fragments of a fragmented datagram, sent next.
    pending: VecDeque<(Port, Vec<u8>)>,
}

const MEMORY: usize = 48;

impl<'t> PacketGen<'t> {
    pub fn new(topo: &'t Topology, flow_capacity: Option<usize>, rng: Rng, mode: HookMode) -> Self {
        PacketGen {
            topo,
            model: Model::new(topo, flow_capacity),
            rng,
            pools: Pools::of(topo),
            mode,
            delivered: VecDeque::new(),
            accepted: VecDeque::new(),
            pending: VecDeque::new(),
        }
    }

    /// `n` packets.
    pub fn sequence(mut self, n: usize) -> Vec<Sent> {
        (0..n).map(|_| self.next_packet()).collect()
    }

    fn next_packet(&mut self) -> Sent {
        let link_weight = if self.pools.links.is_empty() { 0 } else { 14 };
        let nat_weight = if self.topo.internet.nat_gateways.is_empty() {
            0
        } else {
            16
        };
        let frag_weight = nat_weight / 4;
        let pending = self.pending.pop_front();
        let (port, frame) = if let Some(next) = pending {
            next
        } else {
            match self.rng.weighted(&[
                22,
                24,
                14,
                5,
                13,
                1,
                12,
                link_weight,
                4,
                nat_weight,
                frag_weight,
            ]) {
                0 => self.new_flow(),
                10 => self.fragmented().unwrap_or_else(|| self.new_flow()),
                9 => self
                    .through_nat_gateway()
                    .unwrap_or_else(|| self.new_flow()),
                8 => self.icmp_error().unwrap_or_else(|| self.new_flow()),
                7 => self.through_link().unwrap_or_else(|| self.new_flow()),
                6 => self.through_endpoint().unwrap_or_else(|| self.new_flow()),
                1 => self.reply().unwrap_or_else(|| self.new_flow()),
                2 => self.continuation().unwrap_or_else(|| self.new_flow()),
                3 => self.arp(),
                4 => self.mutated(),
                _ => {
                    let (_, f) = self.new_flow();
                    (Port::Unknown, f)
                }
            }
        };
        let o = self.model.process(port, &frame);
        if let (Verdict::Forward { eni }, Ok(Frame::Ipv4(p))) = (o.verdict, parse(&o.out)) {
            self.delivered.push_back(Delivered {
                to: eni,
                p,
                frame: o.out.clone(),
            });
            if let (Some(from), Ok(Frame::Ipv4(sent))) = (self.port_index(port), parse(&frame)) {
                self.accepted.push_back((from, sent));
            }
        }
        while self.delivered.len() > MEMORY {
            self.delivered.pop_front();
        }
        while self.accepted.len() > MEMORY {
            self.accepted.pop_front();
        }
        let hook = match self.mode {
            HookMode::Tc => Hook::Tc,
            HookMode::Xdp => Hook::Xdp,
            HookMode::Mixed => *self.rng.pick(&[Hook::Tc, Hook::Xdp]),
        };
        Sent {
            from: match port {
                Port::Eni(e) => Source::Eni(self.topo.enis[e].id.clone()),
                Port::Internet(k) => Source::Internet(self.topo.internet.hosts[k].name.clone()),
                Port::Unknown => Source::Unknown,
            },
            hook: if tc_can_run(&frame) { hook } else { Hook::Xdp },
            frame,
        }
    }

    /// The address behind port `e` (ENIs, then internet hosts).
    fn eni_ip(&self, e: usize) -> [u8; 4] {
        match self.topo.enis.get(e) {
            Some(x) => x.ip.octets(),
            None => self.topo.internet.hosts[e - self.topo.enis.len()]
                .ip
                .octets(),
        }
    }

    /// The port `e` stands for: an ENI's, or from `enis.len()` on an
    /// internet host's.
    fn port_of(&self, e: usize) -> Port {
        match e.checked_sub(self.topo.enis.len()) {
            Some(k) => Port::Internet(k),
            None => Port::Eni(e),
        }
    }

    fn port_index(&self, p: Port) -> Option<usize> {
        match p {
            Port::Eni(e) => Some(e),
            Port::Internet(k) => Some(self.topo.enis.len() + k),
            Port::Unknown => None,
        }
    }

    /// An ICMP error (destination unreachable, fragmentation needed, time
    /// exceeded, parameter problem; now and then a redirect, which is not
    /// one) that a host sends about a packet delivered to it, quoting its
    /// IPv4 header and 8 bytes, its whole TCP header, or all of it; some
    /// quote nothing tracked: another tuple, a cut or broken quote, an
    /// error to another address.
    fn icmp_error(&mut self) -> Option<(Port, Vec<u8>)> {
        if self.delivered.is_empty() {
            return None;
        }
        let i = self.rng.below(self.delivered.len());
        // Internet hosts send errors too (about what the internet gateway
        // or a NAT gateway delivered them), and VPC hosts about what came
        // from the internet.
        let d = self.delivered[i].clone();
        let ip_part = &d.frame[14..14 + d.p.tot_len];
        let cut = match self.rng.weighted(&[3, 3, 3, 1]) {
            0 => d.p.ihl + 8,
            1 => d.p.ihl + 20,
            2 => 548,
            _ => self.rng.below(d.p.ihl + 12),
        };
        let mut quote = ip_part[..cut.min(ip_part.len())].to_vec();
        match self.rng.weighted(&[20, 1, 1, 1]) {
            0 => {}
            1 if quote.len() > d.p.ihl + 3 => {
                // Another source port: a tuple no flow holds (mostly).
                quote[d.p.ihl] ^= 0x5a;
            }
            2 if !quote.is_empty() => quote[0] = 0x65,
            _ if quote.len() > 7 => quote[6] |= 0x01,
            _ => {}
        }
        let (kind, code) = *self.rng.pick(&[
            (3u8, 4u8),
            (3, 4),
            (3, 3),
            (3, 1),
            (3, 13),
            (11, 0),
            (12, 0),
            (5, 1),
        ]);
        let dst = if self.rng.chance(95) {
            d.p.src
        } else {
            *self.rng.pick(&self.pools.all)
        };
        let src = self.eni_ip(d.to);
        let ip = self.ip(src, dst);
        let (dmac, smac) = self.macs(d.to);
        let l4 = L4::Icmp {
            kind,
            code,
            id: 0,
            seq: if (kind, code) == (3, 4) {
                *self.rng.pick(&[1280u16, 1400, 1500])
            } else {
                0
            },
            payload: quote,
        };
        Some((self.port_of(d.to), frames::ipv4(dmac, smac, &ip, &l4)))
    }

    fn macs(&mut self, e: usize) -> ([u8; 6], [u8; 6]) {
        let own = match self.topo.enis.get(e) {
            Some(x) => x.mac,
            None => self.topo.internet.hosts[e - self.topo.enis.len()].mac,
        };
        let src = if self.rng.chance(97) {
            own
        } else {
            [2, self.rng.u8(), 0, 0, 0, 9]
        };
        let dst = if self.rng.chance(95) {
            GATEWAY_MAC
        } else {
            *self.rng.pick(&[[0xff; 6], [2, 0, 0, 0, 0, 7]])
        };
        (dst, src)
    }

    fn port(&mut self) -> u16 {
        match self.rng.weighted(&[6, 2, 2]) {
            0 => *self.rng.pick(&self.pools.ports),
            1 => self.rng.range(40000, 40007) as u16,
            _ => self.rng.u16(),
        }
    }

    fn ephemeral(&mut self) -> u16 {
        match self.rng.weighted(&[5, 3, 2]) {
            0 => self.rng.range(1024, 65535) as u16,
            1 => self.rng.range(40000, 40007) as u16,
            _ => *self.rng.pick(&self.pools.ports),
        }
    }

    /// One of the ENIs `e` for which `fits(self, e)`, if any.
    fn pick_eni(&mut self, fits: impl Fn(&Self, usize) -> bool) -> Option<usize> {
        let senders: Vec<usize> = (0..self.topo.enis.len())
            .filter(|&e| fits(self, e))
            .collect();
        if senders.is_empty() {
            return None;
        }
        Some(*self.rng.pick(&senders))
    }

    /// A first packet's TCP flags: mostly a plain SYN.
    fn new_flow_flags(&mut self) -> u8 {
        if self.rng.chance(80) {
            0x02
        } else {
            self.tcp_flags()
        }
    }

    /// The frame ENI `e`'s port receives: its IP header, L4 header and MACs
    /// drawn in that order.
    fn frame(
        &mut self,
        e: usize,
        (src, dst): ([u8; 4], [u8; 4]),
        proto: u8,
        (sport, dport): (u16, u16),
        flags: u8,
        icmp_type: u8,
    ) -> (Port, Vec<u8>) {
        let ip = self.ip(src, dst);
        let l4 = self.l4(proto, sport, dport, flags, icmp_type);
        let (dmac, smac) = self.macs(e);
        (self.port_of(e), frames::ipv4(dmac, smac, &ip, &l4))
    }

    fn tcp_flags(&mut self) -> u8 {
        const S: u8 = 0x02;
        const A: u8 = 0x10;
        const F: u8 = 0x01;
        const R: u8 = 0x04;
        const P: u8 = 0x08;
        let choices = [S, S, S, A, P | A, S | A, F | A, R, R | A, F, 0];
        if self.rng.chance(5) {
            self.rng.u8()
        } else {
            *self.rng.pick(&choices)
        }
    }

    fn payload(&mut self) -> Vec<u8> {
        let n = if self.rng.chance(90) {
            self.rng.below(41)
        } else {
            self.rng.below(300)
        };
        self.rng.bytes(n)
    }

    fn ip(&mut self, src: [u8; 4], dst: [u8; 4]) -> Ip {
        let mut ip = Ip::new(src, dst);
        ip.ttl = self.rng.u8();
        ip.id = self.rng.u16();
        ip.dont_fragment = self.rng.chance(50);
        if self.rng.chance(5) {
            let n = self.rng.range(1, 12) as usize;
            ip.options = (0..n)
                .map(|_| {
                    let any = self.rng.u8();
                    *self.rng.pick(&[0u8, 1, 1, 1, 7, 0x44, any])
                })
                .collect();
        }
        ip
    }

    /// An L4 header of `proto` between the given ports (ICMP: `sport` is
    /// the echo identifier).
    fn l4(&mut self, proto: u8, sport: u16, dport: u16, tcp_flags: u8, icmp_type: u8) -> L4 {
        let payload = self.payload();
        match proto {
            6 => L4::Tcp {
                sport,
                dport,
                seq: self.rng.next_u64() as u32,
                ack: self.rng.next_u64() as u32,
                flags: tcp_flags,
                options: if self.rng.chance(10) {
                    vec![2, 4, 5, 0xb4, 1, 3, 3, 7]
                } else {
                    Vec::new()
                },
                payload,
            },
            17 => L4::Udp {
                sport,
                dport,
                payload,
                checksum: self.rng.chance(90),
            },
            1 => L4::Icmp {
                kind: icmp_type,
                code: 0,
                id: sport,
                seq: self.rng.u16(),
                payload,
            },
            // GRE, ESP...: tracked by addresses and protocol only.
            proto => L4::Raw { proto, payload },
        }
    }

    fn random_eni(&mut self) -> usize {
        self.rng.below(self.topo.enis.len())
    }

    /// The first packet of a (probably) new flow from a random ENI (or
    /// internet host).
    fn new_flow(&mut self) -> (Port, Vec<u8>) {
        let hosts = self.topo.internet.hosts.len();
        let e = if hosts > 0 && self.rng.chance(15) {
            self.topo.enis.len() + self.rng.below(hosts)
        } else {
            self.random_eni()
        };
        let own = self.eni_ip(e);
        let src = if self.rng.chance(95) {
            own
        } else {
            *self.rng.pick(&self.pools.all)
        };
        let internet = !self.pools.internet.is_empty();
        if e >= self.topo.enis.len() || (internet && self.rng.chance(20)) {
            let hosts = &self.topo.internet.hosts;
            let dst = if !hosts.is_empty() && self.rng.chance(40) {
                // An internet host itself: repeated destinations (a NAT
                // gateway's pools fill).
                hosts[self.rng.below(hosts.len())].ip.octets()
            } else if self.rng.chance(85) {
                *self.rng.pick(&self.pools.internet)
            } else {
                *self.rng.pick(&self.pools.all)
            };
            let proto = *self.rng.pick(&[6, 6, 17, 1]);
            let s = self.ephemeral();
            // Often port 80: many connections to one unique destination
            // fill a NAT gateway's (shrunk) pool.
            let d = if proto == 1 {
                s
            } else if self.rng.chance(50) {
                80
            } else {
                self.port()
            };
            let flags = self.new_flow_flags();
            return self.frame(e, (src, dst), proto, (s, d), flags, 8);
        }
        let v = self.topo.eni_vpc(e);
        let dst = match self.rng.weighted(&[5, 3, 1, 2, 1, 3]) {
            0 => *self.rng.pick(&self.pools.vpc[v]),
            1 if !self.pools.endpoints[v].is_empty() => *self.rng.pick(&self.pools.endpoints[v]),
            2 => own,
            3 => *self.rng.pick(&self.pools.all),
            5 if !self.pools.peers[v].is_empty() => *self.rng.pick(&self.pools.peers[v]),
            _ => [10, self.rng.u8() % 2, self.rng.u8() % 4, self.rng.u8()],
        };
        let proto = *self.rng.pick(&[6, 6, 6, 17, 17, 1, 1, 47, 50]);
        let (sport, dport) = if !matches!(proto, 1 | 6 | 17) {
            (0, 0)
        } else if proto == 1 {
            let id = if self.rng.chance(50) {
                self.rng.range(1, 8) as u16
            } else {
                self.rng.u16()
            };
            (id, id)
        } else {
            let s = self.ephemeral();
            (s, self.port())
        };
        let flags = self.tcp_flags();
        let icmp_type = match self.rng.weighted(&[16, 3, 1]) {
            0 => 8,
            1 => 0,
            _ => *self.rng.pick(&[3, 5, 11, 13]),
        };
        self.frame(e, (src, dst), proto, (sport, dport), flags, icmp_type)
    }

    /// A new flow from an ENI of a VPC with a NAT gateway to an internet
    /// host, mostly TCP to port 80 (one unique destination: shrunk pools
    /// fill, `nat_gateway_error_port_allocation`), or (25 %) to a public
    /// address of the lab (a hairpin, `nat_gateway_hairpin`).
    fn through_nat_gateway(&mut self) -> Option<(Port, Vec<u8>)> {
        let (e, dst) = self.behind_nat_gateway(true)?;
        let proto = *self.rng.pick(&[6, 6, 6, 17, 1]);
        let sport = self.ephemeral();
        let dport = match proto {
            1 => sport,
            17 => 53,
            _ => 80,
        };
        let flags = self.new_flow_flags();
        Some(self.frame(e, (self.eni_ip(e), dst), proto, (sport, dport), flags, 8))
    }

    /// An ENI of a VPC with a NAT gateway and a destination for it to send
    /// to through the gateway, or `None` when the topology has neither: an
    /// internet host, or with `hairpin` (25 %, or always when the lab's
    /// internet has no host) a public address of the lab (an ENI's public
    /// IP, a NAT gateway's Elastic IP): the gateway's hairpin through the
    /// internet gateway.
    pub(super) fn behind_nat_gateway(&mut self, hairpin: bool) -> Option<(usize, [u8; 4])> {
        let t = self.topo;
        let e = self.pick_eni(|g, e| {
            let v = g.topo.eni_vpc(e);
            t.internet
                .nat_gateways
                .iter()
                .any(|n| g.topo.subnets[n.subnet].vpc == v)
        })?;
        let lab: Vec<[u8; 4]> = if hairpin {
            t.internet
                .public_ips
                .iter()
                .map(|p| p.ip.octets())
                .chain(
                    t.internet
                        .nat_gateways
                        .iter()
                        .map(|n| n.elastic_ip.octets()),
                )
                .collect()
        } else {
            Vec::new()
        };
        let dst = if !lab.is_empty() && (t.internet.hosts.is_empty() || self.rng.chance(25)) {
            *self.rng.pick(&lab)
        } else if t.internet.hosts.is_empty() {
            return None;
        } else {
            t.internet.hosts[self.rng.below(t.internet.hosts.len())]
                .ip
                .octets()
        };
        Some((e, dst))
    }

    /// A new flow to an endpoint ENI of the sender's VPC, on one of its
    /// NLB's listeners (or ICMP echo): the PrivateLink path.
    fn through_endpoint(&mut self) -> Option<(Port, Vec<u8>)> {
        let e = self.pick_eni(|g, e| !g.pools.services[g.topo.eni_vpc(e)].is_empty())?;
        let (dst, listeners) = self
            .rng
            .pick(&self.pools.services[self.topo.eni_vpc(e)])
            .clone();
        let (proto, dport) = *self.rng.pick(&listeners);
        let sport = self.ephemeral();
        let (sport, dport) = if proto == 1 {
            (sport, sport)
        } else {
            (sport, dport)
        };
        let flags = self.new_flow_flags();
        Some(self.frame(e, (self.eni_ip(e), dst), proto, (sport, dport), flags, 8))
    }

    /// HTTP VPC link traffic: a request from a host of the API service VPC
    /// to an integration address (mostly on its protocol and port), a reply
    /// from a target to the link ENI it saw, or a first packet from a
    /// customer host to a link ENI (which must not pass).
    fn through_link(&mut self) -> Option<(Port, Vec<u8>)> {
        match self.rng.weighted(&[6, 3, 3]) {
            0 => {
                if self.pools.integrations.is_empty() {
                    return None;
                }
                let (sv, dst, proto, port) = *self.rng.pick(&self.pools.integrations.clone());
                let e = self.pick_eni(|g, e| g.topo.eni_vpc(e) == sv)?;
                let (proto, dport) = match self.rng.weighted(&[8, 1, 1]) {
                    0 => (proto, port),
                    1 => (1, 0),
                    _ => (*self.rng.pick(&[6, 17]), self.port()),
                };
                let sport = self.ephemeral();
                let dport = if proto == 1 { sport } else { dport };
                let flags = self.new_flow_flags();
                Some(self.frame(e, (self.eni_ip(e), dst), proto, (sport, dport), flags, 8))
            }
            1 => {
                let to_link: Vec<Delivered> = self
                    .delivered
                    .iter()
                    .filter(|d| self.pools.links.iter().any(|l| l.1 == d.p.src))
                    .cloned()
                    .collect();
                if to_link.is_empty() {
                    return None;
                }
                let d = self.rng.pick(&to_link).clone();
                Some(self.reply_to(d))
            }
            _ => {
                let (cv, dst) = *self.rng.pick(&self.pools.links);
                let e = self.pick_eni(|g, e| g.topo.eni_vpc(e) == cv)?;
                let proto = *self.rng.pick(&[6, 6, 17, 1]);
                let sport = self.port();
                let dport = if proto == 1 { sport } else { self.port() };
                let flags = self.tcp_flags();
                Some(self.frame(e, (self.eni_ip(e), dst), proto, (sport, dport), flags, 8))
            }
        }
    }

    /// A reply from the host a packet was delivered to (to what it saw:
    /// for a translated packet, to the NLB node's address and port).
    fn reply(&mut self) -> Option<(Port, Vec<u8>)> {
        if self.delivered.is_empty() {
            return None;
        }
        let d = self.rng.pick(self.delivered.make_contiguous()).clone();
        Some(self.reply_to(d))
    }

    fn reply_to(&mut self, d: Delivered) -> (Port, Vec<u8>) {
        let p = d.p;
        let (mut sport, mut dport) = (p.dport, p.sport);
        if self.rng.chance(8) {
            // A near miss: the reply tuple off by one.
            dport = dport.wrapping_add(1);
        }
        let flags = if p.proto == 6 && p.tcp_flags & 0x12 == 0x02 && self.rng.chance(70) {
            *self.rng.pick(&[0x12, 0x12, 0x12, 0x14])
        } else {
            self.tcp_flags()
        };
        let icmp_type = if self.rng.chance(80) { 0 } else { 8 };
        if p.proto == 1 {
            sport = p.sport;
            dport = sport;
        }
        if !matches!(p.proto, 1 | 6 | 17) {
            (sport, dport) = (0, 0);
        }
        self.frame(
            d.to,
            (p.dst, p.src),
            p.proto,
            (sport, dport),
            flags,
            icmp_type,
        )
    }

    /// Another packet of an accepted flow, from its sender.
    fn continuation(&mut self) -> Option<(Port, Vec<u8>)> {
        if self.accepted.is_empty() {
            return None;
        }
        let (e, p) = *self.rng.pick(self.accepted.make_contiguous());
        let flags = self.tcp_flags();
        let icmp_type = if self.rng.chance(85) { 8 } else { 0 };
        Some(self.frame(
            e,
            (p.src, p.dst),
            p.proto,
            (p.sport, p.dport),
            flags,
            icmp_type,
        ))
    }

    fn arp(&mut self) -> (Port, Vec<u8>) {
        let e = self.random_eni();
        let v = self.topo.eni_vpc(e);
        let own = self.eni_ip(e);
        let mac = self.topo.enis[e].mac;
        let spa = match self.rng.weighted(&[8, 1, 1]) {
            0 => own,
            1 => [0; 4],
            _ => *self.rng.pick(&self.pools.all),
        };
        let tpa = match self.rng.weighted(&[4, 4, 1, 1]) {
            0 => self.topo.gateway(self.topo.enis[e].subnet).octets(),
            1 => *self.rng.pick(&self.pools.vpc[v]),
            2 => spa,
            _ => [self.rng.u8(), self.rng.u8(), self.rng.u8(), self.rng.u8()],
        };
        let op = if self.rng.chance(90) { 1 } else { 2 };
        let mut f = frames::arp([0xff; 6], mac, op, mac, spa, [0; 6], tpa);
        match self.rng.weighted(&[12, 2, 2, 1]) {
            0 => {}
            1 => f.extend(std::iter::repeat_n(0, 18)), // padded to 60 bytes
            2 => f.truncate(self.rng.range(14, 41) as usize),
            _ => {
                let i = 14 + self.rng.below(8);
                f[i] ^= 1 << self.rng.below(8);
            }
        }
        (Port::Eni(e), f)
    }

    /// A valid packet with something broken, or garbage.
    fn mutated(&mut self) -> (Port, Vec<u8>) {
        let (port, mut f) = match self.rng.weighted(&[5, 3, 2]) {
            0 => self.new_flow(),
            1 => self.reply().unwrap_or_else(|| self.new_flow()),
            _ => self.continuation().unwrap_or_else(|| self.new_flow()),
        };
        let l4 = frames::l4_offset(&f);
        let mut fix = self.rng.chance(50);
        match self.rng.weighted(&[4, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1]) {
            0 => {
                // Flip bits, mostly in the headers.
                for _ in 0..self.rng.range(1, 3) {
                    let i = if self.rng.chance(85) {
                        self.rng.below(f.len().min(60))
                    } else {
                        self.rng.below(f.len())
                    };
                    f[i] ^= 1 << self.rng.below(8);
                }
            }
            1 => {
                let t = *self.rng.pick(&[
                    [0x86, 0xdd],
                    [0x81, 0x00],
                    [0x88, 0xa8],
                    [0x08, 0x06],
                    [0x00, 0x2e],
                    [0xff, 0xff],
                ]);
                f[12..14].copy_from_slice(&t);
            }
            2 => f[14] = (*self.rng.pick(&[4u8, 6, 0, 15]) << 4) | (f[14] & 0x0f),
            3 => f[14] = 0x40 | self.rng.range(0, 15) as u8,
            4 => {
                let tot = u16::from_be_bytes([f[16], f[17]]);
                let new = match self.rng.weighted(&[2, 2, 1, 1]) {
                    0 => tot.wrapping_add(self.rng.range(1, 8) as u16),
                    1 => tot.wrapping_sub(self.rng.range(1, 30) as u16),
                    2 => self.rng.range(0, 19) as u16,
                    _ => self.rng.u16(),
                };
                f[16..18].copy_from_slice(&new.to_be_bytes());
            }
            5 => {
                let flags = *self.rng.pick(&[0x20u8, 0x00, 0x40, 0x80, 0x3f]);
                f[20] = flags;
                f[21] = *self.rng.pick(&[0u8, 1, 0xb9]);
            }
            6 => {
                let any = self.rng.u8();
                f[23] = *self.rng.pick(&[0u8, 2, 47, 50, 132, any]);
            }
            7 if l4 + 13 < f.len() => f[l4 + 12] = self.rng.u8() & 0xf0 | (f[l4 + 12] & 0x0f),
            8 if l4 + 6 < f.len() => {
                let v = self.rng.range(0, 80) as u16;
                f[l4 + 4..l4 + 6].copy_from_slice(&v.to_be_bytes());
            }
            9 => {
                let n = self.rng.range(14, f.len() as u64) as usize;
                f.truncate(n);
                fix = false;
            }
            10 => {
                let n = self.rng.range(1, 30) as usize;
                let pad = self.rng.bytes(n);
                f.extend_from_slice(&pad);
            }
            _ => {
                let n = self.rng.range(14, 90) as usize;
                f = self.rng.bytes(n);
                if f.len() > 14 && self.rng.chance(50) {
                    f[12..14].copy_from_slice(&[0x08, 0x00]);
                    f[14] = 0x45;
                }
                fix = false;
            }
        }
        if fix {
            frames::fix_ip_checksum(&mut f);
        }
        (port, f)
    }
}
