//! A reference model of hyperlab's data plane, in plain userspace Rust.
//!
//! Given a [`Topology`] and packets (the sending ENI and the raw frame), it
//! says what the fabric must do with each: forward to which ENI with which
//! bytes, answer ARP, pass, or drop with which [`DropReason`]; and which
//! counters move. It keeps the state that makes that depend on history:
//! tracked flows with their TCP state, the stateful security-group
//! exceptions they grant, and PrivateLink's address/port translations.
//!
//! It is written from the AWS rules the data plane reproduces (docs/DATAPLANE.md,
//! the drop reasons' documentation), not from the kernel or the compiler:
//! security groups are matched by scanning their rules, addresses are found
//! by scanning the topology, checksums are computed from scratch, Maglev
//! tables are built by its own [`maglev`] (held to the agent's in a unit
//! test), the link ENI and groups of an HTTP VPC link call come from
//! [`vpc_link`]'s statement of the AWS rules (against which the config's
//! lowering is checked). The one thing it borrows is the hash that target
//! choice and source-port choice are defined over: [`flow_hash`].
//!
//! What the model takes as the rules (each with the reason a packet is
//! dropped for when it breaks one), in the order a packet meets them:
//!
//! 1. A frame from an interface that is no ENI's is none of the fabric's
//!    business: passed to the stack untouched.
//! 2. Ethernet/IPv4 only, complete headers, no fragments (but UDP's, rule 14); TCP, UDP and ICMP
//!    echo only (the `parse` reasons). ARP requests a host makes for itself
//!    are answered by the VPC router with its MAC for any address (proxy
//!    ARP); other ARP is ignored.
//! 3. AWS's source/destination check: a host sends only from its ENI's
//!    address.
//! 4. A packet of a tracked flow follows the flow's decision (both
//!    directions: that is what makes security groups stateful), except a
//!    closed TCP flow, which only a new SYN from its initiator reopens (then
//!    decided afresh).
//! 5. A new flow goes to the ENI with the destination address in the
//!    sender's VPC (VPCs never see each other's addresses), if the sender's
//!    groups allow it out (egress) and the receiver's allow it in (ingress).
//!    A group rule matches by protocol (`all` = TCP, UDP and ICMP),
//!    destination port range (not for ICMP), and peer: a CIDR, or a group,
//!    whose members are the host ENIs, NLB nodes and endpoint ENIs that
//!    carry it.
//! 6. An interface-endpoint ENI leads through PrivateLink: the connection
//!    must be accepted; the NLB node in the endpoint ENI's AZ (else the
//!    NLB's first) needs a listener for the protocol and port (ICMP echo
//!    uses the NLB's first listener, a lab convenience); the target is
//!    Maglev's choice among the listener's healthy targets in that node's AZ
//!    (any AZ when cross-zone); the target's groups must admit the NLB node's
//!    address; the packet is source-NATed to the node address and a source
//!    port that no live flow to that target holds (probing from a hash-chosen
//!    start, at most `NAT_PORT_TRIES` ports), destination-NATed to the
//!    target, and the reply translated back.
//! 7. Flow state lives in a table of bounded size: a flow takes one entry
//!    per direction, and a full table refuses new flows (never evicts).
//! 8. HTTP VPC links (VPC-to-VPC NAT) ride the PrivateLink path of 6 through
//!    the parts an integration implies (an endpoint at the integration
//!    address, an NLB whose nodes are the link ENIs, a target group), with
//!    four differences: an integration address has no groups, so nothing but
//!    the sender's egress rules stands before it; the packet is source-NATed
//!    to the link ENI in the target's AZ (else the link's first ENI); before
//!    the target's ingress rules, the link's own groups must allow it out
//!    to the target (`link_egress_sg_deny`); and a link ENI, which lives in
//!    the customer VPC, only passes replies: a first packet a customer host
//!    sends to it is `link_reverse_initiated` (before any group is asked).
//! 9. ICMP errors (destination unreachable, time exceeded, parameter
//!    problem; see `icmp_error`) go back along the flow whose packet they
//!    quote, translated back, or are dropped (`icmp_error_no_flow`,
//!    `icmp_error_bad_quote`).
//! 10. Route tables (VPC user guide, "Route tables", "Route priority"): a
//!     new flow meets its source subnet's table (its association, else the
//!     VPC's main table) after the sender's egress groups and the source
//!     subnet's outbound ACL: among the table's routes and its `local`
//!     route (the VPC's CIDR), the longest destination prefix covering the
//!     packet's destination decides: `local` goes on, a blackhole drops
//!     (`route_blackhole`), none is `no_route`; each drop is counted on its
//!     (table, route). A destination that no ENI of the VPC holds meets the
//!     table first (a blackhole says `route_blackhole`, else `no_route`).
//! 11. VPC peering (VPC peering guide): a route whose target is a peering
//!     connection carries a destination inside the peer VPC's CIDR, if the
//!     connection is active, to the ENI with that address in the peer VPC
//!     (none: `no_route`); then the sender's egress groups, the source
//!     subnet's outbound ACL, the receiver's ingress groups and the
//!     destination subnet's inbound ACL, as within a VPC. A connection that
//!     is not active drops (`peering_not_active`); a destination outside
//!     the peer's CIDR too (`peering_not_transitive`: a peering never leads
//!     on to a third VPC); both counted on the route. Replies are routed by
//!     the peer subnet's table (AWS routes every packet by the table of the
//!     subnet it leaves): if it has no route back over a peering to the
//!     sender's VPC, the flow records no reply direction, so each reply is
//!     a first packet in the peer VPC and meets that table.
//! 12. Internet gateways (`internet.rs`): a route to the VPC's gateway
//!     sends a destination no ENI holds to the lab's internet, after the
//!     sender's egress groups and its subnet's outbound ACL, translated 1:1
//!     to the sender's public address (none: `igw_no_public_ip`) and
//!     delivered to the internet host with that address (none:
//!     `internet_no_host`). From the internet, only a public address leads
//!     in (else `no_route`): to its ENI, if that ENI's subnet routes the
//!     host's address to the gateway (the reply's way out), its groups admit
//!     the host and its subnet's inbound ACL does; translated to the private
//!     address. The internet has no subnet and no ACL.
//! 13. NAT gateways (`nat_gateway.rs`): source NAT to the Elastic IP and a
//!     port per unique destination; outside-initiated packets dropped.
//! 14. Fragmented UDP through a NAT gateway (`fragment.rs`): a first
//!     fragment by its ports, later ones by their datagram's
//!     identification; every other fragment dropped.

mod create;
use create::Unbound;
mod flow_log;
mod fragment;
mod icmp_error;
mod internet;
pub mod maglev;
mod nacl;
mod nat_gateway;
mod routes;
mod sg;
pub mod vpc_link;
pub use flow_log::frame_logged_flags;
use flow_log::{logged_flags, WindowFlags};
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_internet;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use dataplane::{
    model::{EndpointState, L4Protocol, Protocol, Topology, VpcLinkKind},
    stats::{self, Snapshot},
};
use dataplane_common::{
    flow_hash, Counter, DropReason, EniCounters, COUNTER_COUNT, DROP_REASON_COUNT,
    HASH_SEED_NAT_PORT, HASH_SEED_TARGET, MAGLEV_SIZE, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};

pub use wire::{parse, Addrs, Checksums, Frag, Frame, Ipv4};

/// Where a frame enters the fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Port {
    /// The fabric port of host ENI `n` (index into `Topology::enis`).
    Eni(usize),
    /// The fabric port of internet host `k` (index into
    /// `Topology::internet.hosts`).
    Internet(usize),
    /// An interface that belongs to no ENI.
    Unknown,
}

/// What the fabric does with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered to host ENI `eni` (a port index: from `enis.len()` on,
    /// internet host `eni - enis.len()`).
    Forward {
        eni: usize,
    },
    /// Sent back out of the port it came from (an ARP answer).
    Reflect,
    /// Handed to the fabric's own stack untouched.
    Pass,
    Drop(DropReason),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The frame as it leaves (unchanged for `Pass` and `Drop`).
    pub out: Vec<u8>,
    /// The packet met at least one network ACL (allowed, or dropped by it).
    pub met_nacl: bool,
    /// The route that decided this first packet, if it met a route table.
    pub met_route: Option<RouteKind>,
    /// The packet opened or rode an untracked flow (EC2 user guide,
    /// "Untracked connections").
    pub untracked: bool,
    /// A security-group decision on this ICMP packet met a rule for some
    /// ICMP types or codes only.
    pub icmp_typed: bool,
}

impl Outcome {
    /// `verdict` with the frame `out`, before [`Model::process`] adds what
    /// the packet met.
    fn new(verdict: Verdict, out: Vec<u8>) -> Outcome {
        Outcome {
            verdict,
            out,
            met_nacl: false,
            met_route: None,
            untracked: false,
            icmp_typed: false,
        }
    }
}

/// TCP connection state of a flow (UDP and ICMP flows stay `New`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TcpState {
    New,
    Established,
    Closing,
    Closed,
}

/// The key a packet is matched to its flow by: its VPC and 5-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub vpc: usize,
    pub proto: u8,
    pub addrs: Addrs,
    /// ICMP echo: a reply's key is not a request's (AWS tracks ICMP by
    /// type: a second request is not a reply).
    pub echo_reply: bool,
}

/// PrivateLink objects a flow counts into (`HL_OBJ_STATS` indices relative
/// to their bases: endpoint, listener, target).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ObjStats {
    endpoint: usize,
    listener: usize,
    target: usize,
}

/// One direction of a tracked flow: the decision its packets follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Direction {
    /// The reply direction (the flow was opened by the other side).
    reply: bool,
    state: TcpState,
    /// Host ENI the packets are delivered to.
    to: usize,
    /// VPC the packets are in after translation.
    out_vpc: usize,
    /// Addresses and ports the packets leave with.
    out: Addrs,
    stats: Option<ObjStats>,
    /// The NAT gateway translating it (its counters, `nat_gateway.rs`).
    nat: Option<usize>,
    /// Subnet boundaries its packets cross: (from, to) as they arrive,
    /// then (from, to) as translated (PrivateLink, links).
    cross: [(usize, usize); 2],
    /// Flow logs' `tcp-flags` of the packets it forwarded in the current
    /// flow-log window, OR-ed ([`logged_flags`]).
    tcp_flags: WindowFlags,
    /// ICMP: this direction carries echo requests (its peer, replies).
    echo_requests: bool,
    /// Untracked at the sending ENI (its egress rules judge every packet of
    /// this direction) and at the receiving one (its ingress rules).
    untracked_sender: bool,
    untracked_receiver: bool,
}

/// "No boundary": both ends the same.
const SAME: (usize, usize) = (0, 0);

impl Direction {
    /// The key of the other direction: replies to what this one sends.
    fn other(&self, proto: u8) -> Tuple {
        Tuple {
            vpc: self.out_vpc,
            proto,
            addrs: self.out.reversed(),
            echo_reply: proto == PROTO_ICMP && self.echo_requests,
        }
    }
}

/// A first packet as the paths that decide a new flow take it: its flow
/// key, the packet and its frame, and whether it reopens a closed flow
/// ([`Model::reopens`]).
#[derive(Clone, Copy)]
struct First<'a>(Tuple, &'a Ipv4, &'a [u8], bool);

/// Why the flow table refused an entry.
enum Refused {
    /// The key is taken (and replacing was not asked for).
    Taken,
    /// No room for another entry.
    Full,
}

/// What the rules choose for the first packet of a new flow through an
/// interface endpoint or an HTTP VPC link integration ([`Model::choose`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Global target index (targets of every target group in order, as
    /// `HL_OBJ_STATS` counts them).
    pub target: usize,
    /// The target's ENI (index into `Topology::enis`) and port.
    pub target_eni: usize,
    pub target_port: u16,
    /// The source the target sees: the NLB node, or for an HTTP VPC link
    /// the link ENI in the target's AZ.
    pub source: Ipv4Addr,
    /// The first source port the NAT tries (ICMP echo: identifier).
    pub nat_port: u16,
}

/// Where a first packet through an endpoint goes ([`Model::route`]).
struct Route {
    /// Listener and target (`HL_OBJ_STATS` indices relative to their bases).
    listener: usize,
    target: usize,
    target_eni: usize,
    target_port: u16,
    /// The VPC the translated packet travels in (the NLB's).
    vpc: usize,
    /// The source the target sees, and the subnet it leaves from (the NLB
    /// node's, or the link ENI's).
    source: [u8; 4],
    via: usize,
    /// The NLB's source-port range (inclusive).
    ports: (u16, u16),
}

/// The object a refused PrivateLink flow is counted at.
enum At {
    Endpoint,
    Listener(usize),
    Target(usize),
}

/// Where the source-port probe for `p` starts: an offset into a range of
/// `range` ports.
fn nat_start(p: &Ipv4, range: u32) -> u32 {
    tuple_hash(p, HASH_SEED_NAT_PORT) % range
}

/// [`flow_hash`] of `p`'s 5-tuple with `seed`.
fn tuple_hash(p: &Ipv4, seed: u32) -> u32 {
    let (sport, dport) = (p.sport.to_be_bytes(), p.dport.to_be_bytes());
    flow_hash(p.src, p.dst, sport, dport, p.proto, seed)
}

/// Where an address leads inside one VPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dest {
    Host(usize),
    /// `(vpc_endpoint, its ENI)`.
    Endpoint(usize, usize),
    /// An HTTP VPC link's ENI (in the link's customer VPC).
    Link,
}

pub struct Model {
    topo: Topology,
    flows: HashMap<Tuple, Direction>,
    /// Entries the flow table holds at most (`None`: unbounded).
    capacity: Option<usize>,
    /// Maglev tables by (NLB, node, listener): slot -> global target index.
    tables: HashMap<(usize, usize, usize), Vec<Option<usize>>>,
    counters: Snapshot,
    /// The rules `counters.nacl_drops` counts, by index.
    nacl_rules: Vec<stats::NaclRuleName>,
    /// This packet met a network ACL.
    met_nacl: bool,
    /// The counters `counters.route_drops` counts, by index.
    route_drops: Vec<stats::RouteDropName>,
    /// What this packet's route decision was, if it met one.
    met_route: Option<RouteKind>,
    /// The last first packet the target's or the link's groups refused
    /// after translation: reason, what the rules chose, the VPC it
    /// travels in ([`Model::rejected_after_nat`]).
    rejected_nat: Option<(DropReason, Choice, usize)>,
    met_untracked: bool,
    met_icmp_typed: bool,
    /// Rule 14: the flow each fragmented datagram's first fragment rode.
    frags: HashMap<fragment::Datagram, Tuple>,
    /// The flow-log window ([`Model::set_window`]).
    window: u32,
    /// Forwarded packets that carried a flag their direction had already
    /// carried in an earlier window ([`Model::flag_repeats`]).
    flag_repeats: u64,
}

/// The kind of route that decided a first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteKind {
    Local,
    Blackhole,
    NoRoute,
    /// Carried over an active peering connection to the peer VPC.
    Peering,
    PeeringNotActive,
    PeeringNotTransitive,
    InternetGateway,
    NatGateway,
}

/// Where rule 10's route sends a first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Routed {
    /// `local`: the destination's ENI in the VPC.
    Local,
    /// Over an active peering connection, to this VPC.
    Peer(usize),
    /// To the VPC's internet gateway.
    Internet,
    /// To this NAT gateway (rule 13, `nat_gateway.rs`).
    NatGateway(usize),
}

impl Model {
    /// A model of the data plane running `topo` with an empty flow table of
    /// `flow_capacity` entries (`None`: never full).
    pub fn new(topo: &Topology, flow_capacity: Option<usize>) -> Model {
        let s = &topo.services;
        let zero = |n: usize| vec![EniCounters::default(); n];
        let counters = Snapshot {
            drops: vec![0; DROP_REASON_COUNT as usize],
            counters: vec![0; COUNTER_COUNT as usize],
            enis: zero(topo.enis.len()),
            endpoints: zero(s.vpc_endpoints.len()),
            listeners: zero(s.nlbs.iter().map(|n| n.listeners.len()).sum()),
            targets: zero(s.target_groups.iter().map(|g| g.targets.len()).sum()),
            nacl_drops: vec![0; stats::nacl_rules(topo).len()],
            route_drops: vec![0; stats::route_drops(topo).len()],
            nat_gateways: vec![Default::default(); topo.internet.nat_gateways.len()],
        };
        Model {
            topo: topo.clone(),
            flows: HashMap::new(),
            capacity: flow_capacity,
            tables: HashMap::new(),
            counters,
            nacl_rules: stats::nacl_rules(topo),
            met_nacl: false,
            route_drops: stats::route_drops(topo),
            met_route: None,
            rejected_nat: None,
            met_untracked: false,
            met_icmp_typed: false,
            frags: HashMap::new(),
            window: 0,
            flag_repeats: 0,
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// Everything counted so far, laid out as the kernel's counters are.
    pub fn counters(&self) -> &Snapshot {
        &self.counters
    }

    /// Flow-table entries in use (two per flow).
    pub fn flow_entries(&self) -> usize {
        self.flows.len()
    }

    /// Forgets every flow (as `Dataplane::clear_flows` does); counters stay.
    pub fn clear_flows(&mut self) {
        self.flows.clear();
        self.frags.clear();
    }

    /// The fate of `frame` arriving on `from`.
    pub fn process(&mut self, from: Port, frame: &[u8]) -> Outcome {
        let eni = match from {
            Port::Eni(e) => e,
            Port::Internet(k) => self.topo.enis.len() + k,
            Port::Unknown => {
                self.count(Counter::UnknownPortPass);
                return Outcome::new(Verdict::Pass, frame.to_vec());
            }
        };
        let len = frame.len() as u64;
        // Internet hosts count nowhere the agent reads.
        if let Some(c) = self.counters.enis.get_mut(eni) {
            c.tx_packets += 1;
            c.tx_bytes += len;
        }
        self.met_nacl = false;
        self.met_route = None;
        self.met_untracked = false;
        self.met_icmp_typed = false;
        match self.decide(eni, frame) {
            Ok(o) => Outcome {
                met_nacl: self.met_nacl,
                met_route: self.met_route,
                untracked: self.met_untracked,
                icmp_typed: self.met_icmp_typed,
                ..o
            },
            Err(reason) => {
                self.counters.drops[reason as usize] += 1;
                if let Some(c) = self.counters.enis.get_mut(eni) {
                    c.drops += 1;
                }
                Outcome {
                    verdict: Verdict::Drop(reason),
                    out: frame.to_vec(),
                    met_nacl: self.met_nacl,
                    met_route: self.met_route,
                    untracked: self.met_untracked,
                    icmp_typed: self.met_icmp_typed,
                }
            }
        }
    }

    fn count(&mut self, c: Counter) {
        self.counters.counters[c as usize] += 1;
    }

    fn decide(&mut self, eni: usize, frame: &[u8]) -> Result<Outcome, DropReason> {
        let p = match wire::parse(frame)? {
            Frame::Arp => {
                let out = wire::arp_answer(frame, self.port_ip(eni))?;
                self.count(Counter::ArpReply);
                return Ok(Outcome::new(Verdict::Reflect, out));
            }
            Frame::Ipv4(p) => p,
            Frame::Fragment(p, f) => {
                if p.src != self.port_ip(eni) {
                    return Err(DropReason::SourceCheck);
                }
                return self.fragment(eni, frame, &p, f);
            }
            Frame::IcmpError(p) => {
                if p.src != self.port_ip(eni) {
                    return Err(DropReason::SourceCheck);
                }
                return self.icmp_error(eni, frame, &p);
            }
        };
        if p.src != self.port_ip(eni) {
            return Err(DropReason::SourceCheck);
        }
        let key = Tuple {
            vpc: self.port_vpc(eni),
            proto: p.proto,
            addrs: Addrs::of(&p),
            echo_reply: p.proto == PROTO_ICMP && p.icmp.0 == 0,
        };
        let mut reopen = false;
        if let Some(d) = self.flows.get(&key).copied() {
            if self.reopens(&d, &p) {
                // A new connection on a finished one's tuple: the old reply
                // direction (and any translation it held) goes, and the
                // packet is decided like a first one.
                self.flows.remove(&d.other(p.proto));
                reopen = true;
            } else {
                self.track(&key, &d, &p)?;
                self.count(Counter::FlowHit);
                let d = self.flows[&key];
                // Rule 11: an untracked direction is judged by the rules
                // on every packet.
                if d.untracked_sender || d.untracked_receiver {
                    self.met_untracked = true;
                    let v = Self::sg_value(&p, p.dport);
                    let sender = self.topo.enis[eni].security_groups.clone();
                    if d.untracked_sender && !self.groups_allow(&sender, false, p.proto, p.dst, v) {
                        return Err(DropReason::UntrackedSgDeny);
                    }
                    let receiver = self.topo.enis[d.to].security_groups.clone();
                    if d.untracked_receiver
                        && !self.groups_allow(&receiver, true, p.proto, p.src, v)
                    {
                        return Err(DropReason::UntrackedSgDeny);
                    }
                }
                // Network ACLs are stateless: every packet meets them.
                let icmp = Self::icmp_of(frame, &p);
                self.crossing(d.cross[0], &p, p.src, p.dst, p.dport, icmp)?;
                self.crossing(d.cross[1], &p, d.out.src, d.out.dst, d.out.dport, icmp)?;
                if let Some(e) = self.flows.get_mut(&key) {
                    if e.tcp_flags.add(self.window, logged_flags(&p)) {
                        self.flag_repeats += 1;
                    }
                }
                return Ok(self.forward(frame, &p, &d));
            }
        }
        self.open(eni, First(key, &p, frame, reopen))
    }

    /// A SYN (without ACK) from either side of a TCP flow that is closing
    /// or closed starts a new connection.
    fn reopens(&self, d: &Direction, p: &Ipv4) -> bool {
        p.proto == PROTO_TCP
            && p.tcp_flags & wire::TCP_SYN != 0
            && p.tcp_flags & wire::TCP_ACK == 0
            && d.state >= TcpState::Closing
    }

    /// TCP state tracking for a packet of a known flow; both directions
    /// share the state. A closed flow passes nothing (but the new SYN of
    /// [`Self::reopens`]).
    fn track(&mut self, key: &Tuple, d: &Direction, p: &Ipv4) -> Result<(), DropReason> {
        if p.proto != PROTO_TCP {
            return Ok(());
        }
        if d.state == TcpState::Closed {
            return Err(DropReason::FlowClosed);
        }
        let f = p.tcp_flags;
        let next = if f & wire::TCP_RST != 0 {
            TcpState::Closed
        } else if f & wire::TCP_FIN != 0 {
            TcpState::Closing
        } else if d.reply
            && d.state == TcpState::New
            && f & (wire::TCP_SYN | wire::TCP_ACK) == wire::TCP_SYN | wire::TCP_ACK
        {
            // The responder's SYN-ACK.
            self.count(Counter::TcpEstablished);
            self.nat_established(d);
            TcpState::Established
        } else {
            return Ok(());
        };
        if next != d.state {
            let other = d.other(p.proto);
            for k in [*key, other] {
                if let Some(e) = self.flows.get_mut(&k) {
                    e.state = next;
                }
            }
        }
        Ok(())
    }

    /// A flow's first packet starts in `New`; TCP without SYN was picked up
    /// mid-stream (the rules allowed it), so it is taken as established.
    fn initial_state(p: &Ipv4) -> TcpState {
        if p.proto == PROTO_TCP && p.tcp_flags & wire::TCP_SYN == 0 {
            TcpState::Established
        } else {
            TcpState::New
        }
    }

    /// Where `ip` leads inside VPC `vpc`: a host ENI or an endpoint ENI.
    fn resolve(&self, vpc: usize, ip: [u8; 4]) -> Option<Dest> {
        let ip = Ipv4Addr::from(ip);
        let t = &self.topo;
        if let Some(i) = (0..t.enis.len()).find(|&i| t.eni_vpc(i) == vpc && t.enis[i].ip == ip) {
            return Some(Dest::Host(i));
        }
        for (e, ep) in t.services.vpc_endpoints.iter().enumerate() {
            if ep.vpc != vpc {
                continue;
            }
            if let Some(k) = ep.enis.iter().position(|x| x.ip == ip) {
                return Some(Dest::Endpoint(e, k));
            }
        }
        let link_eni = t.services.vpc_links.iter().any(|l| match &l.kind {
            VpcLinkKind::Http {
                customer_vpc, enis, ..
            } => *customer_vpc == vpc && enis.iter().any(|x| x.ip == ip),
            VpcLinkKind::Rest { .. } => false,
        });
        link_eni.then_some(Dest::Link)
    }

    /// The HTTP VPC link whose integration endpoint `endpoint` is, if any.
    fn integration_link(&self, endpoint: usize) -> Option<usize> {
        let s = &self.topo.services;
        s.vpc_endpoints[endpoint]
            .implied_by
            .filter(|&l| matches!(s.vpc_links[l].kind, VpcLinkKind::Http { .. }))
    }

    /// Decides a new flow; records both directions and forwards.
    fn open(&mut self, eni: usize, first: First<'_>) -> Result<Outcome, DropReason> {
        let First(key, p, frame, reopen) = first;
        if self.is_internet(eni) {
            return self.in_from_internet(eni, first);
        }
        let (dest, dst_vpc, peered) = match self.resolve(key.vpc, p.dst) {
            Some(d) => (d, key.vpc, false),
            None => match self.route_table(eni, p.dst)? {
                Routed::Internet => return self.out_to_internet(eni, first),
                Routed::NatGateway(g) => return self.out_through_nat_gateway(eni, g, first),
                Routed::Local => return Err(DropReason::NoRoute),
                Routed::Peer(peer) => match self.resolve(peer, p.dst) {
                    Some(d) => (d, peer, true),
                    None => return Err(DropReason::NoRoute),
                },
            },
        };
        // Replies to flows the service side opened matched their entries
        // before this: a first packet to a link ENI tunnels backwards.
        if dest == Dest::Link {
            return Err(DropReason::LinkReverseInitiated);
        }
        self.egress_allowed(eni, p)?;
        let from = self.topo.enis[eni].subnet;
        let to = match dest {
            Dest::Host(d) => self.topo.enis[d].subnet,
            Dest::Endpoint(e, k) => self.topo.services.vpc_endpoints[e].enis[k].subnet,
            Dest::Link => unreachable!("refused above"),
        };
        let icmp = Self::icmp_of(frame, p);
        self.nacl_out((from, to), p, p.dst, p.dport, icmp)?;
        if !peered && self.route_table(eni, p.dst)? != Routed::Local {
            return Err(DropReason::NoRoute);
        }
        // An integration address has no groups: everything the sender's
        // egress rules let out reaches it.
        let receiver = match dest {
            Dest::Host(d) => Some(self.topo.enis[d].security_groups.clone()),
            Dest::Endpoint(e, _) if self.integration_link(e).is_some() => None,
            Dest::Endpoint(e, _) => {
                Some(self.topo.services.vpc_endpoints[e].security_groups.clone())
            }
            Dest::Link => unreachable!("refused above"),
        };
        if let Some(receiver) = receiver {
            if !self.groups_allow(&receiver, true, p.proto, p.src, Self::sg_value(p, p.dport)) {
                return Err(DropReason::IngressSgDeny);
            }
        }
        match dest {
            Dest::Host(to) => {
                self.nacl_in((from, self.topo.enis[to].subnet), p, p.src, p.dport, icmp)?;
                let ts = self.topo.enis[to].subnet;
                // Rule 11: tracked or untracked, at each end.
                let at_sender = self.untracked(&self.topo.enis[eni].security_groups, false, p);
                let at_receiver = self.untracked(&self.topo.enis[to].security_groups, true, p);
                self.met_untracked = at_sender || at_receiver;
                let fwd = Direction {
                    untracked_sender: at_sender,
                    untracked_receiver: at_receiver,
                    ..Direction::first(p, to, dst_vpc, key.addrs, [(from, ts), SAME])
                };
                let rev = Direction {
                    untracked_sender: at_receiver,
                    untracked_receiver: at_sender,
                    ..Direction::reply(p, &key, eni, [(ts, from), SAME])
                };
                // Rule 11: across a peering, no reply direction unless the
                // peer subnet's table routes the sender back over one.
                let routed_back = !peered || self.routes_back(ts, p.src, key.vpc);
                self.create(key, fwd, routed_back.then_some(rev), p, frame, reopen)
            }
            Dest::Endpoint(e, k) => self.privatelink(eni, first, e, k),
            Dest::Link => unreachable!("refused above"),
        }
    }

    /// A first packet through endpoint ENI `ep_eni` of `endpoint`: decided
    /// by [`Self::route`], then bound to a source port and recorded both
    /// ways.
    #[allow(clippy::too_many_arguments)]
    fn privatelink(
        &mut self,
        eni: usize,
        first: First<'_>,
        endpoint: usize,
        ep_eni: usize,
    ) -> Result<Outcome, DropReason> {
        let First(key, p, frame, reopen) = first;
        let r = match self.route(endpoint, ep_eni, p) {
            Ok(r) => r,
            Err((reason, at)) => {
                let c = match at {
                    At::Endpoint => &mut self.counters.endpoints[endpoint],
                    At::Listener(l) => &mut self.counters.listeners[l],
                    At::Target(t) => &mut self.counters.targets[t],
                };
                c.drops += 1;
                return Err(reason);
            }
        };
        // The ACLs of both boundaries: into the endpoint's subnet as sent,
        // then out of the node's (link ENI's) subnet into the target's as
        // translated.
        let from = self.topo.enis[eni].subnet;
        let ep_subnet = self.topo.services.vpc_endpoints[endpoint].enis[ep_eni].subnet;
        let t_subnet = self.topo.enis[r.target_eni].subnet;
        let t_ip = self.port_ip(r.target_eni);
        let icmp = Self::icmp_of(frame, p);
        self.nacl_in((from, ep_subnet), p, p.src, p.dport, icmp)?;
        self.crossing((r.via, t_subnet), p, r.source, t_ip, r.target_port, icmp)?;
        let stats = Some(ObjStats {
            endpoint,
            listener: r.listener,
            target: r.target,
        });
        let rev = Direction {
            stats,
            ..Direction::reply(p, &key, eni, [(t_subnet, r.via), (ep_subnet, from)])
        };
        // The source port: the first in probe order whose reply tuple (from
        // the target to the node) no live flow holds.
        let icmp = p.proto == PROTO_ICMP;
        let reply_at = |nat_port| Tuple {
            vpc: r.vpc,
            proto: p.proto,
            addrs: Addrs {
                src: t_ip,
                dst: r.source,
                // Echo has one identifier for both "ports".
                sport: if icmp { nat_port } else { r.target_port },
                dport: nat_port,
            },
            echo_reply: Self::echo_request(p),
        };
        let cross = [(from, ep_subnet), (r.via, t_subnet)];
        let fwd = |reply: &Tuple| Direction {
            stats,
            ..Direction::first(p, r.target_eni, r.vpc, reply.addrs.reversed(), cross)
        };
        let created = self.bind_nat_port(key, rev, fwd, r.ports, reply_at, (p, frame), reopen);
        created.map_err(|unbound| {
            self.counters.endpoints[endpoint].drops += 1;
            match unbound {
                Unbound::Full => DropReason::FlowTableFull,
                Unbound::Exhausted => DropReason::NatPortsExhausted,
            }
        })
    }

    /// Where the rules send a first packet `p` through endpoint ENI `ep_eni`
    /// of `endpoint` (rule 6, and 8 for an integration address), or why
    /// they refuse it and which object counts the refusal. Needs no flow
    /// state: everything after it (the source port) does.
    fn route(
        &mut self,
        endpoint: usize,
        ep_eni: usize,
        p: &Ipv4,
    ) -> Result<Route, (DropReason, At)> {
        let s = &self.topo.services;
        let ep = &s.vpc_endpoints[endpoint];
        // AWS: nothing passes before the service owner accepts the connection.
        match ep.state {
            EndpointState::Available => {}
            EndpointState::Pending => return Err((DropReason::EndpointPending, At::Endpoint)),
            EndpointState::Rejected => return Err((DropReason::EndpointRejected, At::Endpoint)),
        }
        let nlb_i = s.endpoint_services[ep.service].nlb;
        let nlb = &s.nlbs[nlb_i];
        let az = &self.topo.subnets[ep.enis[ep_eni].subnet].az;
        let node = nlb
            .nodes
            .iter()
            .position(|n| self.topo.subnets[n.subnet].az == *az)
            .unwrap_or(0);
        let listener = if p.proto == PROTO_ICMP {
            // AWS NLBs do not forward ICMP; the lab lets echo ride the first
            // listener so ping through an endpoint works.
            (!nlb.listeners.is_empty()).then_some(0)
        } else {
            nlb.listeners.iter().position(|l| {
                let proto = match l.protocol {
                    L4Protocol::Tcp => PROTO_TCP,
                    L4Protocol::Udp => PROTO_UDP,
                };
                proto == p.proto && l.port == p.dport
            })
        };
        let li = listener.ok_or((DropReason::NoListener, At::Endpoint))?;
        let listener = s.nlbs[..nlb_i]
            .iter()
            .map(|n| n.listeners.len())
            .sum::<usize>()
            + li;
        let (vpc, ports, node_ip) = (nlb.vpc, nlb.source_ports, nlb.nodes[node].ip);
        let mut via = nlb.nodes[node].subnet;
        let target = self
            .pick_target(nlb_i, node, li, p)
            .ok_or((DropReason::NoHealthyTarget, At::Listener(listener)))?;
        let (target_eni, target_port) = self.target(target);
        let t_ip = self.port_ip(target_eni);
        // The source the target sees: the NLB node; for an HTTP VPC link,
        // the link ENI in the target's AZ (else the link's first).
        let mut source = node_ip.octets();
        if let Some(l) = self.integration_link(endpoint) {
            let link_eni = vpc_link::link_eni(&self.topo, l, target_eni);
            (source, via) = (link_eni.ip.octets(), link_eni.subnet);
            // The link's groups govern what it may reach.
            let link_groups = vpc_link::link_groups(&self.topo, l).to_vec();
            if !self.groups_allow(
                &link_groups,
                false,
                p.proto,
                t_ip,
                Self::sg_value(p, target_port),
            ) {
                return Err(self.refused_after_nat(
                    DropReason::LinkEgressSgDeny,
                    p,
                    (target, target_eni, target_port),
                    (source, vpc, ports),
                ));
            }
        }
        // The target sees the translated source: its rules must admit it.
        let t_groups = self.topo.enis[target_eni].security_groups.clone();
        if !self.groups_allow(
            &t_groups,
            true,
            p.proto,
            source,
            Self::sg_value(p, target_port),
        ) {
            return Err(self.refused_after_nat(
                DropReason::TargetIngressSgDeny,
                p,
                (target, target_eni, target_port),
                (source, vpc, ports),
            ));
        }
        Ok(Route {
            listener,
            target,
            target_eni,
            target_port,
            vpc,
            source,
            via,
            ports,
        })
    }

    /// A refusal by the target's or the link's groups, which flow logs
    /// write at the target or link ENI with the tuple as translated:
    /// recorded for [`Model::rejected_after_nat`], the NAT port being the
    /// first the probe would try.
    fn refused_after_nat(
        &mut self,
        reason: DropReason,
        p: &Ipv4,
        (target, target_eni, target_port): (usize, usize, u16),
        (source, vpc, (lo, hi)): ([u8; 4], usize, (u16, u16)),
    ) -> (DropReason, At) {
        let range = u32::from(hi) - u32::from(lo) + 1;
        let choice = Choice {
            target,
            target_eni,
            target_port,
            source: Ipv4Addr::from(source),
            nat_port: (u32::from(lo) + nat_start(p, range)) as u16,
        };
        self.rejected_nat = Some((reason, choice, vpc));
        (reason, At::Target(target))
    }

    /// What the rules choose for `frame`, the first packet of a new flow
    /// from VPC `vpc` to an interface endpoint or integration address, on a
    /// flow table where no flow holds a port it might take: the target, the
    /// source the target sees, and the source port (the first one the
    /// probe tries). Or the reason it is refused. Only the destination's
    /// side is decided: the sender's source check and egress rules and the
    /// endpoint's ingress rules are not asked.
    pub fn choose(&mut self, vpc: usize, frame: &[u8]) -> Result<Choice, DropReason> {
        let Frame::Ipv4(p) = wire::parse(frame)? else {
            panic!("choose: an IPv4 packet, not ARP");
        };
        let Some(Dest::Endpoint(endpoint, ep_eni)) = self.resolve(vpc, p.dst) else {
            return Err(DropReason::NoRoute);
        };
        let r = self
            .route(endpoint, ep_eni, &p)
            .map_err(|(reason, _)| reason)?;
        let (lo, hi) = r.ports;
        let range = u32::from(hi) - u32::from(lo) + 1;
        Ok(Choice {
            target: r.target,
            target_eni: r.target_eni,
            target_port: r.target_port,
            source: Ipv4Addr::from(r.source),
            nat_port: (u32::from(lo) + nat_start(&p, range)) as u16,
        })
    }

    /// `(ENI, port)` of global target index `g`.
    fn target(&self, g: usize) -> (usize, u16) {
        let t = self
            .topo
            .services
            .target_groups
            .iter()
            .flat_map(|tg| tg.targets.iter())
            .nth(g)
            .expect("target index in range");
        (t.eni, t.port)
    }

    /// Maglev's choice of target for a new flow through listener `li` of
    /// node `node` of NLB `nlb`: global target index, or `None` when the
    /// node may use no target.
    fn pick_target(&mut self, nlb: usize, node: usize, li: usize, p: &Ipv4) -> Option<usize> {
        let slot = tuple_hash(p, HASH_SEED_TARGET) % MAGLEV_SIZE;
        if !self.tables.contains_key(&(nlb, node, li)) {
            let table = self.build_table(nlb, node, li);
            self.tables.insert((nlb, node, li), table);
        }
        self.tables[&(nlb, node, li)][slot as usize]
    }

    /// The Maglev table of listener `li` of node `node` of NLB `nlb_i`
    /// ([`maglev`]), built from the topology: slot -> global target index.
    fn build_table(&self, nlb_i: usize, node: usize, li: usize) -> Vec<Option<usize>> {
        let t = &self.topo;
        let s = &t.services;
        let nlb = &s.nlbs[nlb_i];
        let tg_i = nlb.listeners[li].target_group;
        let base: usize = s.target_groups[..tg_i]
            .iter()
            .map(|g| g.targets.len())
            .sum();
        let node_az = &t.subnets[nlb.nodes[node].subnet].az;
        // Every target is healthy here (the model has no health checks).
        let candidates: Vec<(usize, u64)> = s.target_groups[tg_i]
            .targets
            .iter()
            .enumerate()
            .filter(|(_, tt)| nlb.cross_zone || t.subnets[t.enis[tt.eni].subnet].az == *node_az)
            .map(|(i, tt)| (base + i, maglev::backend_key(t.enis[tt.eni].ip, tt.port)))
            .collect();
        let keys: Vec<u64> = candidates.iter().map(|c| c.1).collect();
        maglev::table(&keys, MAGLEV_SIZE as usize)
            .into_iter()
            .map(|owner| owner.map(|i| candidates[i].0))
            .collect()
    }

    /// A first packet `p` (`frame`) leaving ENI `eni`: its groups must let
    /// it out; the subnet it leaves and its ICMP type and code.
    fn leaving(
        &mut self,
        eni: usize,
        p: &Ipv4,
        frame: &[u8],
    ) -> Result<(usize, (u8, u8)), DropReason> {
        self.egress_allowed(eni, p)?;
        Ok((self.topo.enis[eni].subnet, Self::icmp_of(frame, p)))
    }

    /// Rule: the sending ENI's groups must let `p` out.
    fn egress_allowed(&mut self, eni: usize, p: &Ipv4) -> Result<(), DropReason> {
        let sender = self.topo.enis[eni].security_groups.clone();
        if !self.groups_allow(&sender, false, p.proto, p.dst, Self::sg_value(p, p.dport)) {
            return Err(DropReason::EgressSgDeny);
        }
        Ok(())
    }

    /// Adds one direction to the flow table; `replace`: overwrite a taken key.
    fn insert(&mut self, key: Tuple, d: Direction, replace: bool) -> Result<(), Refused> {
        let taken = self.flows.contains_key(&key);
        if taken && !replace {
            return Err(Refused::Taken);
        }
        if !taken && self.capacity.is_some_and(|c| self.flows.len() >= c) {
            return Err(Refused::Full);
        }
        // A new direction's flags belong to the current flow-log window.
        let d = Direction {
            tcp_flags: d.tcp_flags.in_window(self.window),
            ..d
        };
        self.flows.insert(key, d);
        Ok(())
    }

    /// Delivers a packet along direction `d`.
    fn forward(&mut self, frame: &[u8], p: &Ipv4, d: &Direction) -> Outcome {
        let out = wire::rewrite(frame, p, &d.out, self.port_mac(d.to));
        let len = frame.len() as u64;
        self.count(Counter::Forwarded);
        if let Some(c) = self.counters.enis.get_mut(d.to) {
            c.rx_packets += 1;
            c.rx_bytes += len;
        }
        self.nat_forwarded(d, len);
        if let Some(st) = d.stats {
            for c in [
                &mut self.counters.endpoints[st.endpoint],
                &mut self.counters.listeners[st.listener],
                &mut self.counters.targets[st.target],
            ] {
                if d.reply {
                    c.rx_packets += 1;
                    c.rx_bytes += len;
                } else {
                    c.tx_packets += 1;
                    c.tx_bytes += len;
                }
            }
        }
        Outcome::new(Verdict::Forward { eni: d.to }, out)
    }

    /// ICMP type and code of an ICMP packet (what ACL entries match).
    fn icmp_of(frame: &[u8], p: &Ipv4) -> (u8, u8) {
        if p.proto == PROTO_ICMP {
            (frame[p.l4], frame[p.l4 + 1])
        } else {
            (0, 0)
        }
    }
}
