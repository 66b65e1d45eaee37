//! Stage `nat_gateway`: a public NAT gateway (VPC user guide, "NAT
//! gateways"), a Hyperplane construct like PrivateLink's NLB. A private
//! subnet's table routes a destination to the gateway; the gateway, in a
//! public subnet, translates the source to its Elastic IP and a source
//! port of its own and sends the packet on through the VPC's internet
//! gateway; replies come back by the same translation. Connections
//! initiated from outside are dropped (`gateway::from_internet`:
//! `nat_gateway_outside_initiated`).
//!
//! First packet (`to_internet`): the sender's egress groups -> out of the
//! sender's subnet and into the gateway's (its network ACLs; the gateway
//! has no security groups) -> the gateway carries TCP, UDP and ICMP only
//! (`unsupported_protocol` for any other protocol) -> the gateway's subnet's table must send the
//! destination to the internet gateway (`no_route` otherwise) -> out of
//! the gateway's subnet -> the internet host (none: a public address of
//! the lab, `hairpin`; else `internet_no_host`) -> a
//! source port claimed with the reply entry (`flow::claim` on {internet,
//! host, Elastic IP, host port, port}: one pool of ports per unique
//! destination, as AWS's 55,000 connections per destination; every port
//! tried bound: `nat_gateway_error_port_allocation`, live flows untouched).
//! Every later packet meets the same network ACLs from its flow entry.
//!
//! A TCP segment other than a SYN with no flow behind it (the connection
//! timed out: the agent's sweeper removes a gateway's flows after 350 s
//! idle, `conntrack::timeout`) is answered with a RST (`no_connection`).
//! Each gateway counts its CloudWatch metrics (`counters::nat`).

use dataplane_common::{
    explain::{
        EXPLAIN_FLOW_HIT, NACL_CHECK_IN1, NACL_CHECK_IN2, NACL_CHECK_OUT1, NACL_CHECK_OUT2, SG_CHECK_EGRESS, STAGE_EGRESS_SG,
        SG_CHECK_INGRESS, STAGE_IGW, STAGE_INGRESS_SG, STAGE_NAT_GATEWAY,
    },
    flow_hash, in_generation, Counter, DropReason, EniInfo, EniKey, FlowEntry, FlowKey, FragEntry, FragKey, PortInfo,
    ENI_KIND_INTERNET, FLOW_F_DNAT, FLOW_F_REPLY, FLOW_F_SNAT, FRAGMENT_TIMEOUT_NS, HASH_SEED_NAT_PORT, INTERNET_VPC,
    NAT_GATEWAY_VPC, NAT_PORT_TRIES, NO_NAT_GATEWAY, NO_SUBNET, PROTO_ICMP, PROTO_TCP, PROTO_UDP, RouteInfo, ENI_KIND_HOST, SG_DIR_EGRESS, SG_DIR_INGRESS,
};

use crate::{
    counters,
    explain::{self, dry_run},
    flow::{self, Created, Crossings, Hop, Reply, Tuple},
    forward::{self, Verdict},
    maps::{ENIS, FRAGS, PUBLIC_IPS},
    nacl,
    packet::Packet,
    parse::{Frag, Headers, TCP_ACK, TCP_RST, TCP_SYN},
    reset::{self, RST_LEN},
    route, sg,
};

/// The first packet of a flow from a VPC ENI whose route table sent the
/// destination to a NAT gateway.
#[inline(always)]
pub fn to_internet<P: Packet>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    key: &FlowKey,
    len: u64,
    restart: bool,
) -> Result<Verdict, DropReason> {
    let gen = port.generation as u32;
    let Some(r) = route::nat_route(gen, port.subnet, h.dst) else {
        // The table changed under us (a reload between the two lookups).
        return Err(DropReason::NoRoute);
    };
    // ICMP rules match `type << 8 | code`, as on every other path.
    let sv = sg::value(h, u16::from_be_bytes(h.dport));
    explain::stage(STAGE_EGRESS_SG);
    if !sg::allows(SG_CHECK_EGRESS, port.sg_set, SG_DIR_EGRESS, h.proto, h.dst, sv) {
        return Err(DropReason::EgressSgDeny);
    }
    // To the gateway (its subnet's ACLs; no security groups), then on out
    // of its subnet: the order a tracked packet meets them (`nacl::tracked`).
    let value = nacl::value(h, h.dport);
    nacl::out(NACL_CHECK_OUT1, gen, port.subnet, r.nat_subnet, h.dst, h.proto, value)?;
    nacl::inbound(NACL_CHECK_IN1, gen, port.subnet, r.nat_subnet, h.src, h.proto, value)?;
    // The packet reached the gateway: from here on it counts as the
    // gateway's (CloudWatch's metrics), sent on or dropped by it.
    if h.proto == PROTO_TCP && h.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN {
        counters::nat(r.nat_gateway, |c| unsafe { (*c).connection_attempts += 1 });
    }
    let mut sent = false;
    match at_gateway(p, port, h, key, len, restart, &r, &mut sent) {
        Ok(v) => Ok(v),
        Err(reason) => {
            // PacketsDropCount: "packets dropped by the NAT gateway". What
            // the gateway sent on and its subnet's outbound ACL, or a
            // hairpin's receiver, refused is that ACL's or group's drop:
            // the gateway counts it in and out.
            counters::nat_packet(r.nat_gateway, false, len, sent);
            if reason == DropReason::NatGatewayErrorPortAllocation {
                counters::nat(r.nat_gateway, |c| unsafe { (*c).error_port_allocation += 1 });
            }
            Err(reason)
        }
    }
}

/// A drop past the gateway, of what it sent on: its subnet's outbound ACL,
/// or a hairpin's receiver (its table, groups, inbound ACL). `sent` says
/// so to [`to_internet`]; any other drop is the gateway's own (counted
/// `PacketsDropCount`). A flag beside the reason rather than a pair in the
/// error: a `(DropReason, bool)` error packs into the padding of `Verdict`
/// in the `Result`, and LLVM then merged an undefined pointer's bytes into
/// a verdict (`math between map_value pointer ...`, refused).
#[inline(always)]
fn past(sent: &mut bool, reason: DropReason) -> DropReason {
    *sent = true;
    reason
}

/// The gateway's part of [`to_internet`]: its subnet's route and ACL, the
/// host, the port, the flow. A drop says whether the gateway had sent the
/// packet on ([`past`], `sent`) or dropped it itself.
#[inline(always)]
fn at_gateway<P: Packet>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    key: &FlowKey,
    len: u64,
    restart: bool,
    r: &RouteInfo,
    sent: &mut bool,
) -> Result<Verdict, DropReason> {
    let gen = port.generation as u32;
    explain::stage(STAGE_NAT_GATEWAY);
    // "NAT gateways support the following protocols: TCP, UDP, and ICMP"
    // (VPC user guide, "NAT gateway basics"): GRE, ESP, SCTP... end here.
    if h.proto != PROTO_TCP && h.proto != PROTO_UDP && h.proto != PROTO_ICMP {
        return Err(DropReason::UnsupportedProtocol);
    }
    if h.proto == PROTO_TCP && h.tcp_flags & (TCP_SYN | TCP_ACK) != TCP_SYN {
        return no_connection(p, port, h, len, r);
    }
    let value = nacl::value(h, h.dport);
    if !route::to_igw(gen, r.nat_subnet, h.dst) {
        // The gateway's subnet is not public (no route to an internet gateway).
        return Err(DropReason::NoRoute);
    }
    nacl::out(NACL_CHECK_OUT2, gen, r.nat_subnet, NO_SUBNET, h.dst, h.proto, value).map_err(|e| past(sent, e))?;
    // Back at the gateway: the host and the port (`explain` names the stage).
    explain::stage(STAGE_NAT_GATEWAY);
    let host_key = EniKey { vpc: in_generation(INTERNET_VPC, gen), ip: h.dst };
    // SAFETY: read-only map value.
    let to: Far = match unsafe { ENIS.get(&host_key) } {
        Some(d) if d.kind == ENI_KIND_INTERNET => Far { eni: d, vpc: INTERNET_VPC, ip: h.dst, subnet: NO_SUBNET, hairpin: 0 },
        _ => hairpin(gen, h, r, sent)?,
    };
    let host = to.eni;
    explain::destination(host);
    let mut b = flow::Birth::of(h);
    b.nat_gateway = r.nat_gateway;
    let rev = flow::scratch(1)?;
    let back = Hop { mac: &port.mac, ifindex: p.ingress_ifindex(), vpc: port.vpc, eni: port.eni };
    let rx = Crossings { from1: to.subnet, to1: r.nat_subnet, from2: r.nat_subnet, to2: port.subnet };
    // Through a public address of the lab the reply's source is translated
    // back too (the far ENI's internet gateway: its private address to the
    // public one the sender addressed).
    flow::build(rev, &b, FLOW_F_REPLY | FLOW_F_DNAT | (to.hairpin & FLOW_F_SNAT), host.eni, &back, Tuple::reply_to(h), &rx);
    let (rev_key, bound) = claim(h, r, rev, b.echo_request as u8, to.vpc, to.ip)?;
    if !bound {
        return Err(DropReason::NatGatewayErrorPortAllocation);
    }
    let fwd = flow::scratch(0)?;
    let to_host = Hop { mac: &host.mac, ifindex: host.ifindex, vpc: to.vpc, eni: host.eni };
    let out = Tuple { src: r.nat_ip, dst: to.ip, sport: rev_key.dport, dport: rev_key.sport };
    let fx = Crossings { from1: port.subnet, to1: r.nat_subnet, from2: r.nat_subnet, to2: to.subnet };
    flow::build(fwd, &b, FLOW_F_SNAT | (to.hairpin & FLOW_F_DNAT), port.eni, &to_host, out, &fx);
    let c = if dry_run() {
        // A dry run (`dataplane explain`) claimed no port and creates nothing.
        Created::New
    } else {
        flow::create(key, fwd, &rev_key, rev, restart, Reply::Claimed)?
    };
    forward::created(p, h, key, c, fwd, len)
}

/// Where the gateway sends a flow: an internet host, or through the
/// internet gateway back into the lab (`hairpin`).
struct Far {
    /// The internet host's or the far ENI's port.
    eni: &'static EniInfo,
    /// Its VPC (`INTERNET_VPC` for a host) and address: the reply's key.
    vpc: u32,
    ip: [u8; 4],
    /// Its subnet (`NO_SUBNET`: a host's), the entries' second boundary.
    subnet: u16,
    /// All ones through a public address of the lab (both entries
    /// translate both addresses), else 0.
    hairpin: u32,
}

/// No internet host holds the destination: an address of the lab's own
/// behind an internet gateway (VPC user guide, "NAT gateways" and
/// "Enable internet access for a VPC using an internet gateway": the
/// gateway sends the packet, from its Elastic IP, to the internet gateway;
/// a public address is the internet gateway's 1:1 NAT of an ENI's private
/// one). An ENI's public IP: the packet enters the far ENI's VPC as any
/// packet from the internet does (`gateway::from_internet`): its subnet's
/// table must route the Elastic IP to the internet gateway (the reply's
/// route), its ingress groups and its subnet's inbound ACL judge the
/// Elastic IP. A NAT gateway's Elastic IP (its own included): the packet
/// comes back to a gateway that holds no connection for it, an
/// unsolicited inbound packet, dropped (`nat_gateway_hairpin`). Anything
/// else: `internet_no_host`.
#[inline(always)]
fn hairpin(gen: u32, h: &Headers, r: &RouteInfo, sent: &mut bool) -> Result<Far, DropReason> {
    let public_key = EniKey { vpc: in_generation(INTERNET_VPC, gen), ip: h.dst };
    // SAFETY: read-only map value.
    let Some(private) = (unsafe { PUBLIC_IPS.get(&public_key) }) else {
        return Err(DropReason::InternetNoHost);
    };
    if private.vpc == NAT_GATEWAY_VPC {
        return Err(DropReason::NatGatewayHairpin);
    }
    let (vpc, ip) = (private.vpc, private.ip);
    let dst_key = EniKey { vpc: in_generation(vpc, gen), ip };
    // SAFETY: read-only map value.
    let dst: &EniInfo = match unsafe { ENIS.get(&dst_key) } {
        // Gateways are not built across nodes (`check` refuses them).
        Some(d) if d.kind == ENI_KIND_HOST && !d.is_remote() => d,
        _ => return Err(DropReason::NoRoute),
    };
    // From here on the gateway has sent the packet: the receiver's side
    // refuses it (`past`).
    explain::stage(STAGE_IGW);
    if route::decide(gen, dst.subnet, r.nat_ip).map_err(|e| past(sent, e))? != route::IGW {
        return Err(past(sent, DropReason::NoRoute));
    }
    explain::stage(STAGE_INGRESS_SG);
    let sv = sg::value(h, u16::from_be_bytes(h.dport));
    if !sg::allows(SG_CHECK_INGRESS, dst.sg_set, SG_DIR_INGRESS, h.proto, r.nat_ip, sv) {
        return Err(past(sent, DropReason::IngressSgDeny));
    }
    let value = nacl::value(h, h.dport);
    nacl::inbound(NACL_CHECK_IN2, gen, NO_SUBNET, dst.subnet, r.nat_ip, h.proto, value).map_err(|e| past(sent, e))?;
    explain::stage(STAGE_NAT_GATEWAY);
    Ok(Far { eni: dst, vpc, ip, subnet: dst.subnet, hairpin: u32::MAX })
}

/// A TCP segment other than a SYN, with no flow: the gateway holds no
/// connection for it (it timed out after 350 s idle and the sweeper
/// removed it, or it never was). A RST is dropped
/// (`nat_gateway_no_connection`); anything else is answered with a RST
/// from the destination (`reset::answer`), which travels back like a reply
/// (out of the gateway's subnet, into the sender's: their ACLs; the
/// sender's groups admit it as a response, a NAT gateway's connections
/// being automatically tracked, so no rule is asked). The
/// segment counts as dropped by the gateway, the RST as sent to the source.
#[inline(always)]
fn no_connection<P: Packet>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    len: u64,
    r: &RouteInfo,
) -> Result<Verdict, DropReason> {
    if h.tcp_flags & TCP_RST != 0 {
        return Err(DropReason::NatGatewayNoConnection);
    }
    let gen = port.generation as u32;
    let value = nacl::value(h, h.sport);
    nacl::out(NACL_CHECK_OUT2, gen, r.nat_subnet, port.subnet, h.src, PROTO_TCP, value)?;
    nacl::inbound(NACL_CHECK_IN2, gen, r.nat_subnet, port.subnet, h.dst, PROTO_TCP, value)?;
    explain::stage(STAGE_NAT_GATEWAY);
    reset::answer(p, h, &port.mac)?;
    counters::count(Counter::NatGatewayRstSent);
    counters::nat_packet(r.nat_gateway, false, len, false);
    counters::nat(r.nat_gateway, |c| unsafe {
        (*c).packets_out_to_source += 1;
        (*c).bytes_out_to_source += RST_LEN as u64;
    });
    Ok(Verdict::Reflect)
}

/// Claims a source port of the gateway's pool for the flow's destination
/// with the reply entry `rev`, keyed {`vpc`, `src`, Elastic IP, ...} (the
/// far end as its replies come: an internet host, or a hairpin's ENI): the pool's ports from a hash of the flow
/// on, at most `NAT_PORT_TRIES` of them. The reply key, and whether a port
/// was bound. `icmp_reply`: the reply key's mark (1 when the flow's first
/// packet is an echo request, whose replies come back).
#[inline(always)]
fn claim(
    h: &Headers,
    r: &RouteInfo,
    rev: &FlowEntry,
    icmp_reply: u8,
    vpc: u32,
    src: [u8; 4],
) -> Result<(FlowKey, bool), DropReason> {
    let icmp = h.proto == PROTO_ICMP;
    let mut rev_key = FlowKey {
        vpc,
        src,
        dst: r.nat_ip,
        sport: h.dport,
        dport: [0, 0],
        proto: h.proto,
        icmp_reply,
        _pad1: 0,
    };
    let range = (r.nat_hi as u32).wrapping_sub(r.nat_lo as u32).wrapping_add(1);
    if range == 0 || range > 65536 {
        // The agent never writes such a range; the check also spares the
        // verifier a division by zero.
        return Ok((rev_key, false));
    }
    let start = flow_hash(h.src, h.dst, h.sport, h.dport, h.proto, HASH_SEED_NAT_PORT) % range;
    let mut i = 0;
    let mut bound = false;
    while i < NAT_PORT_TRIES && i < range {
        let nport = (r.nat_lo as u32 + (start + i) % range) as u16;
        rev_key.dport = nport.to_be_bytes();
        if icmp {
            // Echo has one identifier: it plays both ports.
            rev_key.sport = rev_key.dport;
        }
        if flow::claim(&rev_key, rev)? {
            bound = true;
            break;
        }
        i += 1;
    }
    explain::nat(u16::from_be_bytes(rev_key.dport), i + 1);
    Ok((rev_key, bound))
}

/// What `rewrite` sees of a later fragment: a protocol none of whose
/// header it owns (255, IANA's reserved number), so only the addresses
/// (and the IPv4 checksum) change: the UDP header is in the first fragment.
const PROTO_IP_ONLY: u8 = 255;

/// A first fragment of a UDP datagram on a flow `e` (key `key`): only a
/// NAT gateway's flows carry fragments (else `fragment`). It rides the flow
/// as any packet; the gateway remembers the datagram for its later
/// fragments.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn first_fragment<P: Packet>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    f: Frag,
    key: &FlowKey,
    e: *mut FlowEntry,
    active: u32,
    len: u64,
) -> Result<Verdict, DropReason> {
    // SAFETY: `e` points into a live map value.
    if unsafe { (*e).nat_gateway } == NO_NAT_GATEWAY {
        return Err(DropReason::Fragment);
    }
    let v = ride(p, h, h, (key, e), active, len)?;
    remember(port.vpc, h, f, key);
    Ok(v)
}

/// A later fragment (no ports): the flow its datagram's first fragment
/// rode through a NAT gateway (`HL_FRAGS`), judged by the network ACLs
/// with that flow's ports and translated in its addresses only. No first
/// fragment seen: `fragment`; seen more than `FRAGMENT_TIMEOUT_NS` ago, or
/// its flow ended since: `nat_gateway_fragment_expired`.
#[inline(always)]
pub fn later_fragment<P: Packet>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    f: Frag,
    active: u32,
    len: u64,
) -> Result<Verdict, DropReason> {
    explain::stage(STAGE_NAT_GATEWAY);
    let fk = FragKey { vpc: port.vpc, src: h.src, dst: h.dst, id: f.id, proto: h.proto, _pad: 0 };
    // SAFETY: a read-only map value, copied out at once.
    let Some((k, first_ns)) = (unsafe { FRAGS.get(&fk) }).map(|fe| (fe.flow, fe.first_ns)) else {
        return Err(DropReason::Fragment);
    };
    // Signed: another CPU's clock copy may be a tick behind.
    if flow::now().wrapping_sub(first_ns) as i64 > FRAGMENT_TIMEOUT_NS as i64 {
        return Err(DropReason::NatGatewayFragmentExpired);
    }
    let Some(e) = flow::lookup(&k) else {
        return Err(DropReason::NatGatewayFragmentExpired);
    };
    // SAFETY: `e` points into a live map value.
    if unsafe { (*e).nat_gateway } == NO_NAT_GATEWAY {
        return Err(DropReason::NatGatewayFragmentExpired);
    }
    let mut ports = *h;
    ports.sport = k.sport;
    ports.dport = k.dport;
    let mut ip_only = ports;
    ip_only.proto = PROTO_IP_ONLY;
    ride(p, &ports, &ip_only, (&k, e), active, len)
}

/// A fragment along flow `e` (keyed `key`): the ACLs its entry records
/// (judged with the headers `acl`), then forwarded (rewritten as `rw`
/// says) and counted into the flow's counters.
#[inline(always)]
fn ride<P: Packet>(
    p: &mut P,
    acl: &Headers,
    rw: &Headers,
    (key, e): (&FlowKey, *mut FlowEntry),
    active: u32,
    len: u64,
) -> Result<Verdict, DropReason> {
    flow::track(e, acl)?;
    explain::flow(EXPLAIN_FLOW_HIT, e);
    counters::count(Counter::FlowHit);
    nacl::tracked(active, e, acl)?;
    // SAFETY: `e` points into a live map value.
    let v = forward::forward(p, rw, unsafe { &*e }, len)?;
    flow::account(key, len, 0);
    Ok(v)
}

/// Remembers that the datagram whose first fragment `h` (from a port of
/// VPC `vpc`) is rode flow `key`, for its later fragments. A dry run
/// records nothing.
#[inline(always)]
pub fn remember(vpc: u32, h: &Headers, f: Frag, key: &FlowKey) {
    if dry_run() {
        return;
    }
    let fk = FragKey { vpc, src: h.src, dst: h.dst, id: f.id, proto: h.proto, _pad: 0 };
    let flow = FlowKey {
        vpc: key.vpc,
        src: key.src,
        dst: key.dst,
        sport: key.sport,
        dport: key.dport,
        proto: key.proto,
        icmp_reply: key.icmp_reply,
        _pad1: 0,
    };
    // An LRU: the insert makes room by dropping the oldest datagram.
    let _ = FRAGS.insert(&fk, &FragEntry { flow, _pad: 0, first_ns: flow::now() }, 0);
}
