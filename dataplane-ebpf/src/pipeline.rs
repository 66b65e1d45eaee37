//! The per-packet pipeline, stage by stage (docs/DATAPLANE.md, "Stages"):
//! port -> parse (arp) -> source check -> [icmp error: the flow it quotes,
//! translated back] -> flow (fast path: forward) ->
//! [eni (-> route, peering) -> egress SG -> nacl out -> route -> ingress SG -> (privatelink) ->
//! nacl in -> create flow; or route -> igw: `gateway`; or route -> nat gateway: `nat_gateway`] -> forward (rewrite, count) -> the hook
//! redirects. A flow hit meets the network ACLs its entry records, then forwards. Every `Err`
//! is a counted drop.
//!
//! Layering, top to bottom; a module imports only from layers below its
//! own (checked by tests/tests/kernel_layers.rs): `main` (hooks) ->
//! `pipeline` -> constructs (`privatelink`, `gateway`, `nat_gateway`, `icmp_error`) -> `forward` -> `flow`, `sg`,
//! `nacl`, `route`, `arp`, `rewrite`, `reset` -> `events` -> `parse` -> `packet`, `counters` ->
//! `explain` -> `maps`.

use dataplane_common::{
    explain::{
        EXPLAIN_FLOW_HIT, EXPLAIN_FLOW_RESTART, NACL_CHECK_IN1, NACL_CHECK_OUT1, SG_CHECK_EGRESS, SG_CHECK_INGRESS,
        STAGE_EGRESS_SG, STAGE_ENI, STAGE_FLOW, STAGE_INGRESS_SG, STAGE_PARSE,
    },
    active_generation, in_generation, port_slot, Counter, DropReason, EniInfo, EniKey, FlowKey, PortInfo, ENI_KIND_ENDPOINT,
    ENI_KIND_LINK, FLOW_F_REPLY, INTERNET_VPC, SG_DIR_EGRESS, SG_DIR_INGRESS,
};

use crate::{
    arp, counters, events,
    explain::{self, dry_run},
    flow::{self, Created, Crossings, Hop, Reply, Track, Tuple},
    forward::{self, forward, Verdict},
    maps::{ACTIVE, ENIS, FLOWS, PORTS, PORT_SLOTS},
    packet::Packet,
    parse::{self, Frame, Headers},
    gateway, icmp_error, nacl, nat_gateway, privatelink, route, sg,
};

#[inline(always)]
pub fn process<P: Packet>(p: &mut P) -> Verdict {
    let ifindex = p.ingress_ifindex();
    // Stage `port`: which ENI's veth did this come from, in the active
    // configuration generation?
    let active = match ACTIVE.get(0) {
        Some(g) => *g,
        None => 0,
    };
    let gen = active_generation(active);
    let port = match port_slot(ifindex, gen) {
        // An array index the verifier inlines; the slot mirrors `HL_PORTS`.
        Some(i) => match PORT_SLOTS.get(i) {
            Some(s) if s.present != 0 => Some(&s.info),
            _ => None,
        },
        // SAFETY: map values are read-only here and outlive the program run.
        None => unsafe { PORTS.get(&in_generation(ifindex, gen)) },
    };
    let Some(port) = port else {
        counters::count(Counter::UnknownPortPass);
        return Verdict::Pass;
    };
    explain::port(port);
    let len = p.len() as u64;
    counters::eni_tx(port.eni, len);
    match stages(p, port, len, active) {
        Ok(v) => v,
        Err(reason) => {
            explain::dropped(reason);
            counters::drop(reason);
            counters::eni_drop(port.eni);
            Verdict::Drop
        }
    }
}

#[inline(always)]
fn stages<P: Packet>(p: &mut P, port: &PortInfo, len: u64, active: u32) -> Result<Verdict, DropReason> {
    explain::stage(STAGE_PARSE);
    let (h, error) = match parse::parse(p)? {
        Frame::Arp => {
            arp::answer(p, port)?;
            counters::count(Counter::ArpReply);
            return Ok(Verdict::Reflect);
        }
        Frame::Ipv4(h) => (h, false),
        Frame::IcmpError(h) => (h, true),
    };
    // AWS's source/destination check: an ENI only sends from its own address.
    if h.src != port.ip {
        return Err(DropReason::SourceCheck);
    }
    if error {
        // An ICMP error rides the flow it quotes, or goes nowhere.
        let key = h.key(port.vpc);
        return events::rejected(icmp_error::deliver(p, port, &h, active, len), port, &h, &key, len);
    }
    explain::stage(STAGE_FLOW);
    let key = h.key(port.vpc);
    let restart = match flow::lookup(&key) {
        Some(e) => match flow::track(e, &h)? {
            Track::Continue => {
                explain::flow(EXPLAIN_FLOW_HIT, e);
                counters::count(Counter::FlowHit);
                // Network ACLs are stateless: every packet meets them.
                events::rejected(nacl::tracked(active, e, &h), port, &h, &key, len)?;
                // SAFETY: `e` points into a live map value.
                let v = forward(p, &h, unsafe { &*e }, len)?;
                flow::account(e, len, h.tcp_flags);
                return Ok(v);
            }
            Track::Restart => {
                // A new connection on a finished flow's tuple: drop the old
                // reply entry (and with it any NAT port it held).
                explain::flow(EXPLAIN_FLOW_RESTART, e);
                if !dry_run() {
                    // SAFETY: `e` points into a live map value.
                    let _ = FLOWS.remove(&unsafe { &*e }.peer_key(h.proto));
                }
                true
            }
        },
        None => false,
    };
    // Policy drops of a parsed IPv4 packet are flow-log REJECTs.
    events::rejected(first_packet(p, port, &h, &key, len, restart), port, &h, &key, len)
}

/// Slow path: decide a new flow, record both directions, forward.
#[inline(always)]
fn first_packet<P: Packet>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    key: &FlowKey,
    len: u64,
    restart: bool,
) -> Result<Verdict, DropReason> {
    // The lab's internet reaches a VPC only through an internet gateway.
    if port.vpc == INTERNET_VPC {
        return gateway::from_internet(p, port, h, key, len, restart);
    }
    // Stage `eni`: the destination's ENI in the sender's VPC; NAT
    // constructs, peering connections and gateways add the ways across.
    explain::stage(STAGE_ENI);
    let dst_key = EniKey {
        vpc: in_generation(port.vpc, port.generation as u32),
        ip: h.dst,
    };
    let gen = port.generation as u32;
    // SAFETY: read-only map values.
    let (dst, dst_vpc, peered): (&EniInfo, u32, bool) = match unsafe { ENIS.get(&dst_key) } {
        Some(d) => (d, port.vpc, false),
        // No such address in the VPC: the route table decides at once (a
        // blackhole, no route at all, or a peering connection to the VPC
        // that holds it); `local` finds nothing there.
        None => {
            let peer = route::decide(gen, port.subnet, h.dst)?;
            if peer == route::IGW {
                return gateway::to_internet(p, port, h, key, len, restart);
            }
            if peer == route::NAT {
                return nat_gateway::to_internet(p, port, h, key, len, restart);
            }
            explain::stage(STAGE_ENI);
            if peer == route::LOCAL {
                return Err(DropReason::NoRoute);
            }
            let peer_key = EniKey { vpc: in_generation(peer, gen), ip: h.dst };
            match unsafe { ENIS.get(&peer_key) } {
                Some(d) => (d, peer, true),
                None => return Err(DropReason::NoRoute),
            }
        }
    };
    explain::destination(dst);
    // Replies to the service side matched their flow entry before this: a
    // first packet toward a link ENI is an attempt to tunnel backwards.
    if dst.kind == ENI_KIND_LINK {
        return Err(DropReason::LinkReverseInitiated);
    }
    let dport = u16::from_be_bytes(h.dport);
    // Stage `sg`: sender's egress, then receiver's ingress.
    explain::stage(STAGE_EGRESS_SG);
    if !sg::allows(SG_CHECK_EGRESS, port.sg_set, SG_DIR_EGRESS, h.proto, h.dst, dport) {
        return Err(DropReason::EgressSgDeny);
    }
    // Stage `nacl out`: leaving the source subnet.
    let value = nacl::value(h, h.dport);
    nacl::out(NACL_CHECK_OUT1, gen, port.subnet, dst.subnet, h.dst, h.proto, value)?;
    // Stage `route`: the source subnet's route table (a peered destination
    // met it above). Config refuses peering and gateway routes inside the
    // VPC's CIDR, so an address of the VPC's own is `local` or a blackhole
    // here; anything else would be a broken table.
    if !peered && route::decide(gen, port.subnet, h.dst)? != route::LOCAL {
        return Err(DropReason::NoRoute);
    }
    explain::stage(STAGE_INGRESS_SG);
    if !sg::allows(SG_CHECK_INGRESS, dst.sg_set, SG_DIR_INGRESS, h.proto, h.src, dport) {
        return Err(DropReason::IngressSgDeny);
    }
    if dst.kind == ENI_KIND_ENDPOINT {
        return privatelink::first_packet(p, port, h, key, dst, len, restart);
    }
    // Stage `nacl in`: entering the destination subnet.
    nacl::inbound(NACL_CHECK_IN1, gen, port.subnet, dst.subnet, h.src, h.proto, value)?;
    let b = flow::Birth::of(h, len);
    let fwd = flow::scratch(0)?;
    let to_dst = Hop { mac: &dst.mac, ifindex: dst.ifindex, vpc: dst_vpc, eni: dst.eni };
    flow::build(fwd, &b, 0, port.eni, &to_dst, Tuple::of(h), &Crossings::one(port.subnet, dst.subnet));
    let rev = flow::scratch(1)?;
    let back = Hop { mac: &port.mac, ifindex: p.ingress_ifindex(), vpc: port.vpc, eni: port.eni };
    flow::build(rev, &b, FLOW_F_REPLY, dst.eni, &back, Tuple::reply_to(h), &Crossings::one(dst.subnet, port.subnet));
    let rev_key = fwd.peer_key(h.proto);
    let c = if dry_run() {
        // A dry run (`dataplane explain`) decides and rewrites, creates nothing.
        Created::New
    } else {
        // Across a peering, AWS routes the reply by the table of the
        // subnet it leaves: without a route back over the connection, no
        // reply entry; each reply is then a first packet in the peer VPC
        // and meets that table (`no_route`, a blackhole, ...).
        let reply = if peered && !route::back(gen, dst.subnet, h.src, port.vpc) {
            Reply::Skip
        } else {
            Reply::Insert
        };
        let c = flow::create(key, fwd, &rev_key, rev, restart, reply)?;
        // Slow path only: one line per new flow when the agent logs at debug.
        aya_log_ebpf::debug!(
            p.ctx(),
            "new flow vpc {} proto {} {:i}:{} -> {:i}:{}",
            port.vpc,
            h.proto,
            u32::from_be_bytes(h.src),
            u16::from_be_bytes(h.sport),
            u32::from_be_bytes(h.dst),
            u16::from_be_bytes(h.dport)
        );
        c
    };
    forward::created(p, h, c, fwd, len)
}
