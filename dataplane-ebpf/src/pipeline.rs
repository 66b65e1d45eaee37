//! The per-packet pipeline, stage by stage (docs/DATAPLANE.md, "Stages"):
//! port -> parse (arp) -> source check -> [icmp error: the flow it quotes,
//! translated back] -> flow (fast path: forward) ->
//! [eni (-> route, peering) -> egress SG -> nacl out -> route -> ingress SG -> (privatelink) ->
//! nacl in -> create flow; or route -> igw: `gateway`; or route -> nat gateway: `nat_gateway`] -> forward (rewrite, count) -> the hook
//! redirects. A flow hit meets the network ACLs its entry records, then forwards. Every `Err`
//! is a counted drop.
//!
//! Labs across nodes (`tunnel`): a packet from this node's VXLAN device is taken as its
//! sender's (`tunnel::sender`) and meets only the receiver's half (ingress SG, nacl in);
//! a first packet for another node's ENI meets only the sender's half (egress SG, nacl
//! out, route), and `tunnel::encap` gives it the tunnel key after forward.
//!
//! Layering, top to bottom; a module imports only from layers below its
//! own (checked by tests/tests/kernel_layers.rs): `main` (hooks) ->
//! `pipeline` -> constructs (`privatelink`, `gateway`, `nat_gateway`, `icmp_error`) -> `forward` -> `flow`, `sg`,
//! `nacl`, `route`, `arp`, `rewrite`, `tunnel`, `reset` -> `events` -> `parse` -> `packet`, `counters` ->
//! `explain` -> `maps`.

use dataplane_common::{
    explain::{
        EXPLAIN_FLOW_HIT, EXPLAIN_FLOW_RESTART, NACL_CHECK_IN1, NACL_CHECK_OUT1, SG_CHECK_EGRESS, SG_CHECK_INGRESS,
        STAGE_EGRESS_SG, STAGE_ENI, STAGE_FLOW, STAGE_INGRESS_SG, STAGE_PARSE,
    },
    active_generation, in_generation, port_slot, Counter, DropReason, EniInfo, EniKey, FlowKey, PortInfo, ENI_KIND_ENDPOINT,
    ENI_KIND_HOST, ENI_KIND_LINK, ENI_KIND_NLB_NODE, FLOW_F_REPLY, FLOW_F_TUNNEL, FLOW_F_UNTRACKED, FLOW_F_UNTRACKED_RECEIVER,
    FLOW_F_UNTRACKED_SENDER, INTERNET_VPC, SG_DIR_EGRESS, SG_DIR_INGRESS,
    maps::{SLOW_FRAGMENT, SLOW_TRANSLATE},
};

use crate::{
    arp, counters, events,
    explain::{self, dry_run},
    flow::{self, Created, Crossings, Hop, Reply, Track, Tuple},
    forward::{self, forward, Verdict},
    maps::{ACTIVE, ENIS, FLOWS, FLOW_COUNTS, PORTS, PORT_SLOTS, SLOW_ARGS},
    packet::Packet,
    parse::{self, Frag, Frame, Headers},
    gateway, icmp_error, nacl, nat_gateway, privatelink, route, sg, tunnel,
};

#[inline(always)]
pub fn process<P: Packet>(p: &mut P) -> Verdict {
    let Some((port, active)) = port_of(p) else {
        counters::count(Counter::UnknownPortPass);
        return Verdict::Pass;
    };
    explain::port(port);
    let len = p.len() as u64;
    // The sending node counted a packet from another node as its ENI's.
    let from_tunnel = tunnel::is_tunnel(port);
    if !from_tunnel {
        counters::eni_tx(port.eni, len);
    }
    let r = stages(p, port, len, active);
    finish(p, r, port, active, from_tunnel)
}

/// Stage `port`: which ENI's veth did this come from, in the active
/// configuration generation? The port and the active generation word.
#[inline(always)]
fn port_of<P: Packet>(p: &P) -> Option<(&'static PortInfo, u32)> {
    let ifindex = p.ingress_ifindex();
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
    port.map(|port| (port, active))
}

/// The verdict of a packet from `port` (either program): one for another
/// node gets its tunnel key (`tunnel::encap`); a drop is counted (per
/// reason and, unless another node's ENI sent it, per ENI) and traced.
#[inline(always)]
fn finish<P: Packet>(
    p: &mut P,
    r: Result<Verdict, DropReason>,
    port: &PortInfo,
    active: u32,
    from_tunnel: bool,
) -> Verdict {
    let done = match r {
        // A packet from another node is delivered here, never sent on.
        Ok(Verdict::Tunnel(_)) if from_tunnel => Err(DropReason::SourceCheck),
        Ok(Verdict::Tunnel(t)) => tunnel::encap(p, active_generation(active), port.vpc, &t).map(|()| {
            // A flow's packet was counted by `forward`.
            if t.stateless {
                counters::count(Counter::Forwarded);
            }
            Verdict::Tunnel(t)
        }),
        other => other,
    };
    match done {
        Ok(v) => v,
        Err(reason) => {
            explain::dropped(reason);
            counters::drop(reason);
            if !from_tunnel {
                counters::eni_drop(port.eni);
            }
            Verdict::Drop
        }
    }
}

/// The slow-path programs (`hyperlab_tc_slow`, `hyperlab_xdp_slow`;
/// `TUNNEL`: `hyperlab_tc_slow_tunnel`, for a packet from another node;
/// `TRANSLATE`: `hyperlab_tc_translate`, `hyperlab_xdp_translate`, a
/// PrivateLink or VPC link translation): a
/// first packet the fast path handed over by tail call ([`slow_path`]),
/// unchanged, so it parses as it did there. The fast path counted it on
/// its ENI already. Built once per variant, each holds a part of the
/// branches and stays under the verifier's budget.
#[inline(always)]
pub fn process_slow<P: Packet, const TUNNEL: bool, const TRANSLATE: bool>(p: &mut P) -> Verdict {
    let port = match port_of(p) {
        Some((port, active)) if tunnel::is_tunnel(port) == TUNNEL => Some((port, active)),
        _ => None,
    };
    let Some((port, active)) = port else {
        counters::drop(DropReason::SlowPathFailed);
        return Verdict::Drop;
    };
    let len = p.len() as u64;
    let restart = matches!(SLOW_ARGS.get(0), Some(&a) if a != 0);
    let r = match parse::parse(p) {
        Ok(Frame::Ipv4(h)) => slow_stages::<P, TRANSLATE>(p, port, &h, active, len, restart, TUNNEL),
        Ok(_) => Err(DropReason::SlowPathFailed),
        Err(reason) => Err(reason),
    };
    finish(p, r, port, active, TUNNEL)
}

/// The fragment programs (`hyperlab_tc_fragment`, `hyperlab_xdp_fragment`):
/// a fragment of a UDP datagram the fast path handed over by tail call
/// (`fragment`), a program of its own so that its NAT gateway stages and a
/// first packet's never share one verifier budget.
#[inline(always)]
pub fn process_fragment<P: Packet>(p: &mut P) -> Verdict {
    let port = match port_of(p) {
        Some((port, active)) if !tunnel::is_tunnel(port) => Some((port, active)),
        _ => None,
    };
    let Some((port, active)) = port else {
        counters::drop(DropReason::SlowPathFailed);
        return Verdict::Drop;
    };
    let len = p.len() as u64;
    let r = match parse::parse(p) {
        // Only a NAT gateway's flows carry fragments, and gateways are not
        // built across nodes (`check`): no entry of theirs leads into the
        // tunnel, and the fragment programs carry no tunnel code (with it,
        // LLVM's code for the XDP one read a register the verifier saw
        // uninitialised on one path: refused, `R3 !read_ok`).
        Ok(Frame::Fragment(h, f)) => match fragment(p, port, &h, f, active, len) {
            Ok(Verdict::Tunnel(_)) => Err(DropReason::RedirectFailed),
            other => other,
        },
        Ok(_) => Err(DropReason::SlowPathFailed),
        Err(reason) => Err(reason),
    };
    finish(p, r, port, active, false)
}

/// The slow path of a parsed IPv4 packet from `port` (from another node:
/// its sender's port again, as the fast path took it).
#[inline(always)]
fn slow_stages<P: Packet, const TRANSLATE: bool>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    active: u32,
    len: u64,
    restart: bool,
    from_tunnel: bool,
) -> Result<Verdict, DropReason> {
    let sender;
    let port = if from_tunnel {
        sender = tunnel::sender(p, active_generation(active), h)?;
        &sender
    } else {
        port
    };
    let key = h.key(port.vpc);
    // Policy drops of a parsed IPv4 packet are flow-log REJECTs.
    events::rejected(first_packet::<P, TRANSLATE>(p, port, h, &key, len, restart, from_tunnel), port, h, &key, len)
}

/// Hands a first packet to the slow path: a program of its own (entered by
/// tail call), which the verifier checks with its own instruction budget;
/// the fast path alone (flow hits: the ACLs and untracked rules an entry
/// meets, rewrite, forward) stays small. Returns only if the call failed.
#[inline(always)]
fn slow_path<P: Packet>(p: &mut P, restart: bool, index: u32) -> Result<Verdict, DropReason> {
    let Some(a) = SLOW_ARGS.get_ptr_mut(0) else {
        return Err(DropReason::SlowPathFailed);
    };
    // SAFETY: this CPU's slot; the tail call runs on this CPU next.
    unsafe { *a = restart as u32 };
    // Index 1: the variant for a packet from another node (TC only);
    // `SLOW_FRAGMENT`: a fragment's program; `SLOW_TRANSLATE` (from the
    // slow path): a translation's.
    p.slow_path(index);
    Err(DropReason::SlowPathFailed)
}

#[inline(always)]
fn stages<P: Packet>(p: &mut P, port: &PortInfo, len: u64, active: u32) -> Result<Verdict, DropReason> {
    explain::stage(STAGE_PARSE);
    let (h, error) = match parse::parse(p)? {
        // ARP never crosses nodes: each node answers its own hosts.
        Frame::Arp if tunnel::is_tunnel(port) => return Err(DropReason::ArpIgnored),
        Frame::Arp => {
            arp::answer(p, port)?;
            counters::count(Counter::ArpReply);
            return Ok(Verdict::Reflect);
        }
        Frame::Ipv4(h) => (h, false),
        Frame::IcmpError(h) => (h, true),
        // A fragment of a UDP datagram: the slow path's (`fragment`).
        Frame::Fragment(h, _) => {
            // Gateways are not built across nodes (`check` refuses them).
            if tunnel::is_tunnel(port) {
                return Err(DropReason::Fragment);
            }
            if h.src != port.ip {
                return Err(DropReason::SourceCheck);
            }
            // A first fragment may start a NAT gateway's flow.
            flow::prepare_counters(&h, len);
            return slow_path(p, false, SLOW_FRAGMENT);
        }
    };
    // From another node: the sending ENI's port, as if it had entered
    // here (its node did the source check).
    let from_tunnel = tunnel::is_tunnel(port);
    let sender;
    let port = if from_tunnel {
        sender = tunnel::sender(p, active_generation(active), &h)?;
        &sender
    } else {
        port
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
                // An untracked flow meets the security groups on every
                // packet: a removed rule cuts it at once.
                // SAFETY: `e` points into a live map value.
                let (flags, out_vpc) = unsafe { ((*e).flags, (*e).out_vpc) };
                if flags & FLOW_F_UNTRACKED != 0 {
                    events::rejected(untracked(port, &h, flags, out_vpc), port, &h, &key, len)?;
                }
                // Network ACLs are stateless: every packet meets them.
                events::rejected(nacl::tracked(active, e, &h), port, &h, &key, len)?;
                // SAFETY: `e` points into a live map value.
                let v = forward(p, &h, unsafe { &*e }, len)?;
                flow::account(&key, len, h.tcp_flags);
                return Ok(v);
            }
            Track::Restart => {
                // A new connection on a finished flow's tuple: drop the old
                // reply entry (and with it any NAT port it held).
                explain::flow(EXPLAIN_FLOW_RESTART, e);
                if !dry_run() {
                    // SAFETY: `e` points into a live map value.
                    let peer = unsafe { &*e }.peer_key(h.proto);
                    // Its counters first: a record never outlives its entry.
                    let _ = FLOW_COUNTS.remove(&peer);
                    let _ = FLOWS.remove(&peer);
                }
                true
            }
        },
        None => false,
    };
    // The new flow's counters, built here where the fast path has room:
    // the slow path only inserts them (`flow::create`).
    flow::prepare_counters(&h, len);
    slow_path(p, restart, from_tunnel as u32)
}

/// A fragment of a UDP datagram from `port` (the fast path checked its
/// source): only a NAT gateway's flows carry fragments ("NAT gateway
/// basics"). A first fragment rides its flow like any packet, or, with no
/// flow, starts one if no ENI of the VPC holds the destination and the
/// sender's table routes it to a NAT gateway (then as an unfragmented
/// first packet, `nat_gateway::to_internet`); the gateway remembers the
/// datagram for its later fragments (`nat_gateway::fragment`). Anything
/// else is `fragment`.
#[inline(always)]
fn fragment<P: Packet>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    f: Frag,
    active: u32,
    len: u64,
) -> Result<Verdict, DropReason> {
    if !f.first {
        return nat_gateway::later_fragment(p, port, h, f, active, len);
    }
    let key = h.key(port.vpc);
    let r = match flow::lookup(&key) {
        Some(e) => nat_gateway::first_fragment(p, port, h, f, &key, e, active, len),
        None => {
            let gen = port.generation as u32;
            let dst_key = EniKey { vpc: in_generation(port.vpc, gen), ip: h.dst };
            // SAFETY: read-only map value.
            let held = unsafe { ENIS.get(&dst_key) }.is_some();
            if port.vpc == INTERNET_VPC || held || route::nat_route(gen, port.subnet, h.dst).is_none() {
                return Err(DropReason::Fragment);
            }
            let v = nat_gateway::to_internet(p, port, h, &key, len, false);
            if v.is_ok() {
                nat_gateway::remember(port.vpc, h, f, &key);
            }
            v
        }
    };
    events::rejected(r, port, h, &key, len)
}

/// Slow path: decide a new flow, record both directions, forward.
/// `from_tunnel`: the packet came from another node (`port` is its
/// sender's), whose node decided the sender's half: its egress groups,
/// outbound ACL and route. `TRANSLATE` (the translation programs, entered
/// from the slow path by [`slow_path`] at `SLOW_TRANSLATE`): only a first
/// packet to an endpoint ENI, or (TC) on to the node of a translation, the
/// same stages again up to it; anything else (a reload changed the
/// decision in between) is `slow_path_failed`.
#[inline(always)]
fn first_packet<P: Packet, const TRANSLATE: bool>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    key: &FlowKey,
    len: u64,
    restart: bool,
    from_tunnel: bool,
) -> Result<Verdict, DropReason> {
    // The lab's internet reaches a VPC only through an internet gateway.
    if TRANSLATE && port.vpc == INTERNET_VPC {
        return Err(DropReason::SlowPathFailed);
    }
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
            // Gateways are not built across nodes (`check` refuses them).
            if from_tunnel && (peer == route::IGW || peer == route::NAT) {
                return Err(DropReason::NoRoute);
            }
            if TRANSLATE && (peer == route::IGW || peer == route::NAT) {
                return Err(DropReason::SlowPathFailed);
            }
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
    if TRANSLATE && dst.kind != ENI_KIND_ENDPOINT && !tunnel::translates(dst.kind) {
        return Err(DropReason::SlowPathFailed);
    }
    // Replies to the service side matched their flow entry before this. An
    // NLB node's address or a link ENI's (labs across nodes): a target's
    // reply that no flow of this node holds, so another node translated
    // it; on to the node whose NAT slice holds its port, statelessly: that
    // node's flow admits it, or it is dropped there (`tunnel::owner`).
    // (A link ENI on one node, or of this node's slice, which no node's
    // translation holds: a first packet toward it is an attempt to tunnel
    // backwards, `link_reverse_initiated`, decided in `tunnel::encap`.)
    if dst.kind == ENI_KIND_NLB_NODE || dst.kind == ENI_KIND_LINK {
        // Such a row carries the lab's node count (0 for a link ENI on one
        // node, whose packets never leave this node).
        if from_tunnel || !P::TUNNELS || dst.eni < 2 {
            return Err(if dst.kind == ENI_KIND_LINK { DropReason::LinkReverseInitiated } else { DropReason::NoRoute });
        }
        // Into the tunnel: the translation program's.
        if !TRANSLATE {
            return slow_path(p, restart, SLOW_TRANSLATE);
        }
        return Ok(Verdict::Tunnel(tunnel::Encap {
            ifindex: dst.ifindex,
            vpc: dst_vpc,
            dst: h.dst,
            dport: h.dport,
            translated: false,
            stateless: true,
        }));
    }
    // A packet from another node is for a host of this one.
    if from_tunnel && (dst.is_remote() || dst.kind != ENI_KIND_HOST) {
        return Err(DropReason::NoRoute);
    }
    let dport = u16::from_be_bytes(h.dport);
    // ICMP rules match type and code, not a port.
    let sv = sg::value(h, dport);
    let value = nacl::value(h, h.dport);
    if !from_tunnel {
        // Stage `sg`: sender's egress, then receiver's ingress.
        explain::stage(STAGE_EGRESS_SG);
        if !sg::allows(SG_CHECK_EGRESS, port.sg_set, SG_DIR_EGRESS, h.proto, h.dst, sv) {
            return Err(DropReason::EgressSgDeny);
        }
        // Stage `nacl out`: leaving the source subnet.
        nacl::out(NACL_CHECK_OUT1, gen, port.subnet, dst.subnet, h.dst, h.proto, value)?;
        // Stage `route`: the source subnet's route table (a peered destination
        // met it above). Config refuses peering and gateway routes inside the
        // VPC's CIDR, so an address of the VPC's own is `local` or a blackhole
        // here; anything else would be a broken table.
        if !peered && route::decide(gen, port.subnet, h.dst)? != route::LOCAL {
            return Err(DropReason::NoRoute);
        }
    }
    // The receiver lives on another node: its node evaluates its ingress
    // groups and the inbound ACL (`tunnel.rs`).
    let to_node = dst.is_remote();
    // An XDP frame cannot carry a tunnel key (`check` refuses the XDP hook
    // in a lab across nodes): refused before any state is created.
    if to_node && !P::TUNNELS {
        return Err(DropReason::RedirectFailed);
    }
    if !to_node {
        explain::stage(STAGE_INGRESS_SG);
        if !sg::allows(SG_CHECK_INGRESS, dst.sg_set, SG_DIR_INGRESS, h.proto, h.src, sv) {
            return Err(DropReason::IngressSgDeny);
        }
        if dst.kind == ENI_KIND_ENDPOINT {
            // Through an endpoint (and so an NLB, a Hyperplane ENI) a flow is
            // always tracked (EC2 user guide, "Automatically tracked
            // connections"): the translation program's (`privatelink`).
            if !TRANSLATE {
                return slow_path(p, restart, SLOW_TRANSLATE);
            }
            return privatelink::first_packet(p, port, h, key, dst, len, restart);
        }
        // Stage `nacl in`: entering the destination subnet.
        nacl::inbound(NACL_CHECK_IN1, gen, port.subnet, dst.subnet, h.src, h.proto, value)?;
    }
    if TRANSLATE {
        return Err(DropReason::SlowPathFailed);
    }
    // Tracked or untracked, at each end (compile decided AWS's rule per
    // set, protocol and port): an untracked end's rules judge every packet
    // of the flow, in both directions. Across nodes each node decides for
    // the end that lives on it.
    let mut fwd_flags = 0;
    let mut rev_flags = FLOW_F_REPLY;
    if !from_tunnel && sg::untracked(port.sg_set, SG_DIR_EGRESS, h.proto, dport) {
        fwd_flags |= FLOW_F_UNTRACKED_SENDER;
        rev_flags |= FLOW_F_UNTRACKED_RECEIVER;
    }
    // A flow an NLB translated on another node is always tracked.
    if !to_node && !(from_tunnel && tunnel::is_translated(port)) && sg::untracked(dst.sg_set, SG_DIR_INGRESS, h.proto, dport) {
        fwd_flags |= FLOW_F_UNTRACKED_RECEIVER;
        rev_flags |= FLOW_F_UNTRACKED_SENDER;
    }
    // The entries' boundaries each direction checks here, and which one
    // leaves through the tunnel: between nodes, each node checks the half
    // of a boundary on its side.
    let (s, d) = (port.subnet, dst.subnet);
    let (fwd_x, rev_x) = if to_node {
        ((fwd_flags | FLOW_F_TUNNEL, Crossings::half(s, d, true)), (rev_flags, Crossings::half(d, s, false)))
    } else if from_tunnel {
        ((fwd_flags, Crossings::half(s, d, false)), (rev_flags | FLOW_F_TUNNEL, Crossings::half(d, s, true)))
    } else {
        ((fwd_flags, Crossings::one(s, d)), (rev_flags, Crossings::one(d, s)))
    };
    create_and_forward(p, port, h, key, dst, dst_vpc, peered, len, restart, fwd_x, rev_x, !from_tunnel)
}

/// Records both directions of a new flow (forward entry flags and
/// boundaries `fwd_x`, reply entry's `rev_x`) and forwards its first packet;
/// `log`: write the debug line (not for a packet from another node).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn create_and_forward<P: Packet>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    key: &FlowKey,
    dst: &EniInfo,
    dst_vpc: u32,
    peered: bool,
    len: u64,
    restart: bool,
    fwd_x: (u32, Crossings),
    rev_x: (u32, Crossings),
    log: bool,
) -> Result<Verdict, DropReason> {
    let gen = port.generation as u32;
    let b = flow::Birth::of(h);
    let fwd = flow::scratch(0)?;
    let to_dst = Hop { mac: &dst.mac, ifindex: dst.ifindex, vpc: dst_vpc, eni: dst.eni };
    flow::build(fwd, &b, fwd_x.0, port.eni, &to_dst, Tuple::of(h), &fwd_x.1);
    let rev = flow::scratch(1)?;
    let back = Hop { mac: &port.mac, ifindex: p.ingress_ifindex(), vpc: port.vpc, eni: port.eni };
    flow::build(rev, &b, rev_x.0, dst.eni, &back, Tuple::reply_to(h), &rev_x.1);
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
        // Slow path only: one line per new flow when the agent logs at debug,
        // on the node the flow starts from (the other node's copy of the
        // log statement would be a second, out-of-line copy in the object).
        if log {
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
        }
        c
    };
    forward::created(p, h, key, c, fwd, len)
}

/// A packet of an untracked flow (entry flags `flags`): the sender's egress
/// rules and the receiver's ingress rules, as the active configuration has
/// them, judge it as they would a first packet, at each end the flow is
/// untracked at. Only plain host flows (in a VPC or across a peering) are
/// ever untracked, so the receiver is the ENI with the destination address in `out_vpc`, the VPC
/// the flow entry delivers to (the peer VPC across a peering).
#[inline(always)]
fn untracked(port: &PortInfo, h: &Headers, flags: u32, out_vpc: u32) -> Result<(), DropReason> {
    let sv = sg::value(h, u16::from_be_bytes(h.dport));
    if flags & FLOW_F_UNTRACKED_SENDER != 0 {
        explain::stage(STAGE_EGRESS_SG);
        if !sg::allows(SG_CHECK_EGRESS, port.sg_set, SG_DIR_EGRESS, h.proto, h.dst, sv) {
            return Err(DropReason::UntrackedSgDeny);
        }
    }
    if flags & FLOW_F_UNTRACKED_RECEIVER != 0 {
        explain::stage(STAGE_INGRESS_SG);
        let dst_key = EniKey { vpc: in_generation(out_vpc, port.generation as u32), ip: h.dst };
        // SAFETY: read-only map value.
        let set = match unsafe { ENIS.get(&dst_key) } {
            Some(d) => d.sg_set,
            None => return Err(DropReason::UntrackedSgDeny),
        };
        if !sg::allows(SG_CHECK_INGRESS, set, SG_DIR_INGRESS, h.proto, h.src, sv) {
            return Err(DropReason::UntrackedSgDeny);
        }
    }
    Ok(())
}
