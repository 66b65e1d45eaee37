//! The per-packet pipeline, stage by stage, as in docs/DESIGN:
//! port -> parse -> flow (fast path) -> [eni -> egress SG -> ingress SG ->
//! create flow] -> rewrite -> redirect. Every `Err` is a counted drop.

use dataplane_common::{
    explain::{
        EXPLAIN_FLOW_HIT, EXPLAIN_FLOW_RESTART, SG_CHECK_EGRESS, SG_CHECK_INGRESS, STAGE_EGRESS_SG, STAGE_ENI,
        STAGE_FLOW, STAGE_INGRESS_SG, STAGE_PARSE,
    },
    in_generation, port_slot, Counter, DropReason, EniInfo, EniKey, FlowEntry, PortInfo, ENI_KIND_ENDPOINT,
    ENI_KIND_LINK, FLOW_F_REPLY, NO_STAT, SG_DIR_EGRESS, SG_DIR_INGRESS,
};

use crate::{
    arp, counters, events,
    explain::{self, dry_run},
    flow::{self, eth, Track},
    forward::{forward, Verdict},
    maps::{ACTIVE, ENIS, FLOWS, PORTS, PORT_SLOTS},
    packet::Packet,
    parse::{self, Frame, Headers},
    privatelink, sg,
};

#[inline(always)]
pub fn process<P: Packet>(p: &mut P) -> Verdict {
    let ifindex = p.ingress_ifindex();
    // Stage `port`: which ENI's veth did this come from, in the active
    // configuration generation?
    let gen = match ACTIVE.get(0) {
        Some(g) => *g,
        None => 0,
    };
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
    match stages(p, port, len) {
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
fn stages<P: Packet>(p: &mut P, port: &PortInfo, len: u64) -> Result<Verdict, DropReason> {
    explain::stage(STAGE_PARSE);
    let h = match parse::parse(p)? {
        Frame::Arp => {
            arp::answer(p, port)?;
            counters::count(Counter::ArpReply);
            return Ok(Verdict::Reflect);
        }
        Frame::Ipv4(h) => h,
    };
    // AWS's source/destination check: an ENI only sends from its own address.
    if h.src != port.ip {
        return Err(DropReason::SourceCheck);
    }
    explain::stage(STAGE_FLOW);
    let key = h.key(port.vpc);
    let restart = match flow::lookup(&key) {
        Some(e) => match flow::track(e, &h)? {
            Track::Continue => {
                explain::flow(EXPLAIN_FLOW_HIT, e);
                counters::count(Counter::FlowHit);
                // SAFETY: `e` points into a live map value.
                let v = forward(p, &h, unsafe { &*e }, len)?;
                flow::account(e, len);
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
    events::rejected(first_packet(p, port, &h, len, restart), port, &h, len)
}

/// Slow path: decide a new flow, record both directions, forward.
#[inline(always)]
fn first_packet<P: Packet>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    len: u64,
    restart: bool,
) -> Result<Verdict, DropReason> {
    // Stage `eni`: traffic never leaves its VPC here; NAT constructs add the ways across.
    explain::stage(STAGE_ENI);
    let dst_key = EniKey {
        vpc: in_generation(port.vpc, port.generation as u32),
        ip: h.dst,
    };
    // SAFETY: read-only map value.
    let dst: &EniInfo = unsafe { ENIS.get(&dst_key) }.ok_or(DropReason::NoRoute)?;
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
    explain::stage(STAGE_INGRESS_SG);
    if !sg::allows(SG_CHECK_INGRESS, dst.sg_set, SG_DIR_INGRESS, h.proto, h.src, dport) {
        return Err(DropReason::IngressSgDeny);
    }
    if dst.kind == ENI_KIND_ENDPOINT {
        return privatelink::first_packet(p, port, h, dst, len, restart);
    }
    let t = flow::now();
    let state = flow::initial_state(h);
    let fwd = flow::scratch(0)?;
    *fwd = FlowEntry {
        eth: eth(&dst.mac),
        out_ifindex: dst.ifindex,
        state,
        flags: 0,
        out_vpc: port.vpc,
        new_src: h.src,
        new_dst: h.dst,
        new_sport: h.sport,
        new_dport: h.dport,
        src_eni: port.eni,
        dst_eni: dst.eni,
        stat_endpoint: NO_STAT,
        stat_listener: NO_STAT,
        stat_target: NO_STAT,
        created_ns: t,
        last_seen_ns: t,
        // The entry is created with its first packet counted.
        packets: 1,
        bytes: events::ip_len(len),
    };
    let rev = flow::scratch(1)?;
    *rev = FlowEntry {
        eth: eth(&port.mac),
        out_ifindex: p.ingress_ifindex(),
        state,
        flags: FLOW_F_REPLY,
        out_vpc: port.vpc,
        new_src: h.dst,
        new_dst: h.src,
        new_sport: h.dport,
        new_dport: h.sport,
        src_eni: dst.eni,
        dst_eni: port.eni,
        stat_endpoint: NO_STAT,
        stat_listener: NO_STAT,
        stat_target: NO_STAT,
        created_ns: t,
        last_seen_ns: t,
        packets: 0,
        bytes: 0,
    };
    let key = h.key(port.vpc);
    let rev_key = fwd.peer_key(h.proto);
    // A dry run (`dataplane explain`) decides and rewrites, creates nothing.
    if dry_run() {
        return forward(p, h, &fwd, len);
    }
    if !flow::create(&key, &fwd, &rev_key, &rev, restart)? {
        flow::account_key(&key, len);
    }
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
    forward(p, h, &fwd, len)
}
