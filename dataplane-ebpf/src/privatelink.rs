//! Stage `privatelink`: the first packet to an interface-endpoint ENI.
//! endpoint state -> NLB listener (the node in the endpoint's AZ) -> target
//! by Maglev over the flow hash -> the target's ingress SG with the NLB's
//! address as source -> the network ACLs of both subnet boundaries
//! (entering the endpoint's subnet; leaving the NLB node's or link ENI's,
//! entering the target's) -> SNAT to the NLB node (a source port no live
//! flow holds) + DNAT to the target -> both directions recorded.

use dataplane_common::{
    explain::{
        NACL_CHECK_IN1, NACL_CHECK_IN2, NACL_CHECK_OUT2, SG_CHECK_LINK_EGRESS, SG_CHECK_TARGET_INGRESS, STAGE_ENDPOINT, STAGE_LINK_EGRESS_SG, STAGE_LISTENER,
        STAGE_NAT, STAGE_TARGET, STAGE_TARGET_SG,
    },
    flow_hash, nat_ports, DropReason, EndpointInfo, EniInfo, FlowKey, ListenerKey, PortInfo,
    ENDPOINT_STATE_AVAILABLE, ENDPOINT_STATE_PENDING, FLOW_F_DNAT, FLOW_F_REPLY, FLOW_F_SNAT, FLOW_F_TUNNEL,
    HASH_SEED_NAT_PORT, HASH_SEED_TARGET, MAGLEV_SIZE, NAT_PORT_TRIES, NO_SG_SET, NO_TARGET,
    PROTO_ICMP, SG_DIR_EGRESS, SG_DIR_INGRESS, STAT_ENDPOINT_BASE, STAT_LISTENER_BASE,
    STAT_TARGET_BASE, TARGETS_PER_GENERATION,
};

use crate::{
    counters, events,
    explain::{self, dry_run},
    flow::{self, Created, Crossings, Hop, Reply, Tuple},
    forward::{self, Verdict},
    maps::{ENDPOINTS, LISTENERS, MAGLEV, TARGETS},
    packet::Packet,
    nacl,
    parse::Headers,
    sg, tunnel,
};

/// The `i`-th port of the endpoint's NAT slice (`i` below its
/// `nat_ports`): every port on one node, every `nat_step`-th across nodes.
#[inline(always)]
fn nat_port(ep: &EndpointInfo, i: u32) -> u16 {
    let step = if ep.nat_step == 0 { 1 } else { ep.nat_step as u32 };
    (ep.nat_lo as u32 + i * step) as u16
}

#[inline(always)]
pub fn first_packet<P: Packet>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    key: &FlowKey,
    ep_eni: &EniInfo,
    len: u64,
    restart: bool,
) -> Result<Verdict, DropReason> {
    explain::stage(STAGE_ENDPOINT);
    let ep = ENDPOINTS.get(ep_eni.eni).ok_or(DropReason::NoRoute)?;
    explain::endpoint(ep_eni.eni, ep.state);
    let ep_stat = STAT_ENDPOINT_BASE + ep.endpoint;
    // AWS: no traffic passes before the service owner accepts the connection.
    if ep.state != ENDPOINT_STATE_AVAILABLE {
        counters::obj_drop(ep_stat);
        return Err(if ep.state == ENDPOINT_STATE_PENDING {
            DropReason::EndpointPending
        } else {
            DropReason::EndpointRejected
        });
    }
    explain::stage(STAGE_LISTENER);
    let icmp = h.proto == PROTO_ICMP;
    let lk = ListenerKey {
        node: ep.node,
        port: if icmp { [0, 0] } else { h.dport },
        proto: h.proto,
        _pad: 0,
    };
    // SAFETY: read-only map value.
    let Some(l) = (unsafe { LISTENERS.get(&lk) }) else {
        counters::obj_drop(ep_stat);
        return Err(DropReason::NoListener);
    };
    explain::listener(l.listener, l.table);
    explain::stage(STAGE_TARGET);
    let l_stat = STAT_LISTENER_BASE + l.listener;
    // Maglev: same 5-tuple, same slot; the table holds only healthy targets.
    let slot = flow_hash(h.src, h.dst, h.sport, h.dport, h.proto, HASH_SEED_TARGET) % MAGLEV_SIZE;
    explain::target(slot, NO_TARGET, [0; 4]);
    let ti = match MAGLEV.get(l.table * MAGLEV_SIZE + slot) {
        Some(&t) if t != NO_TARGET => t,
        _ => {
            counters::obj_drop(l_stat);
            return Err(DropReason::NoHealthyTarget);
        }
    };
    let Some(t) = TARGETS.get(ti) else {
        counters::obj_drop(l_stat);
        return Err(DropReason::NoHealthyTarget);
    };
    // Same counter slot for a target in either configuration generation.
    let t_stat = STAT_TARGET_BASE + ti % TARGETS_PER_GENERATION;
    // The source the target sees: the NLB node, or for an HTTP VPC link
    // the link ENI in the target's AZ.
    let snat = if t.snat_ip != [0; 4] { t.snat_ip } else { ep.node_ip };
    let tport = u16::from_be_bytes(t.port);
    explain::target(slot, ti, snat);
    // An HTTP VPC link's security groups govern what it may reach.
    if ep.egress_sg_set != NO_SG_SET {
        explain::stage(STAGE_LINK_EGRESS_SG);
    }
    let mut deny = None;
    if ep.egress_sg_set != NO_SG_SET
        && !sg::allows(SG_CHECK_LINK_EGRESS, ep.egress_sg_set, SG_DIR_EGRESS, h.proto, t.ip, sg::value(h, tport))
    {
        deny = Some(DropReason::LinkEgressSgDeny);
    } else {
        // Targets see the translated source, so their rules name it (or a
        // group it belongs to).
        explain::stage(STAGE_TARGET_SG);
        if !sg::allows(SG_CHECK_TARGET_INGRESS, t.sg_set, SG_DIR_INGRESS, h.proto, snat, sg::value(h, tport)) {
            deny = Some(DropReason::TargetIngressSgDeny);
        }
    }
    if let Some(reason) = deny {
        counters::obj_drop(t_stat);
        // Flow logs write it at the link ENI / the target, with the tuple
        // they would have seen: the first NAT port the flow would probe.
        let range = nat_ports(ep.nat_lo, ep.nat_hi, ep.nat_step);
        let first = if range == 0 {
            ep.nat_lo
        } else {
            nat_port(ep, flow_hash(h.src, h.dst, h.sport, h.dport, h.proto, HASH_SEED_NAT_PORT) % range)
        };
        let nport = first.to_be_bytes();
        let out = FlowKey {
            vpc: ep.out_vpc,
            src: snat,
            dst: t.ip,
            sport: nport,
            dport: if icmp { nport } else { t.port },
            proto: h.proto,
            icmp_reply: 0,
            _pad1: 0,
        };
        events::rejected_translated(reason, t.eni, h, &out, len);
        return Err(reason);
    }
    // The network ACLs of both boundaries, in the order the packet crosses
    // them: into the endpoint's subnet as sent, then out of the NLB node's
    // (or link ENI's) subnet and into the target's as translated. Only
    // addresses and destination ports matter: the NAT port comes later.
    let gen = port.generation as u32;
    let v1 = nacl::value(h, h.dport);
    nacl::inbound(NACL_CHECK_IN1, gen, port.subnet, ep_eni.subnet, h.src, h.proto, v1)?;
    let via = if t.snat_ip != [0; 4] { t.snat_subnet } else { ep.node_subnet };
    let v2 = nacl::value(h, t.port);
    nacl::out(NACL_CHECK_OUT2, gen, via, t.subnet, t.ip, h.proto, v2)?;
    nacl::inbound(NACL_CHECK_IN2, gen, via, t.subnet, snat, h.proto, v2)?;
    // `check` refuses the XDP hook across nodes: a target on another node
    // is refused before any state.
    if !P::TUNNELS && tunnel::is_remote(gen, ep.out_vpc, t.ip) {
        return Err(DropReason::RedirectFailed);
    }
    let b = flow::Birth {
        stat_endpoint: ep_stat,
        stat_listener: l_stat,
        stat_target: t_stat,
        ..flow::Birth::of(h)
    };
    let nat = FLOW_F_SNAT | FLOW_F_DNAT;
    let rev = flow::scratch(1)?;
    let back = Hop { mac: &port.mac, ifindex: p.ingress_ifindex(), vpc: port.vpc, eni: port.eni };
    let rx = Crossings { from1: t.subnet, to1: via, from2: ep_eni.subnet, to2: port.subnet };
    flow::build(rev, &b, FLOW_F_REPLY | nat, t.eni, &back, Tuple::reply_to(h), &rx);
    // Claim a source port with the reply entry (`flow::claim`): a port held
    // by any live flow is skipped.
    explain::stage(STAGE_NAT);
    let range = nat_ports(ep.nat_lo, ep.nat_hi, ep.nat_step);
    if range == 0 {
        // The agent never writes such a range; the check also spares the
        // verifier a division by zero.
        return Err(DropReason::NatPortsExhausted);
    }
    let start = flow_hash(h.src, h.dst, h.sport, h.dport, h.proto, HASH_SEED_NAT_PORT) % range;
    let mut rev_key = FlowKey {
        vpc: ep.out_vpc,
        src: t.ip,
        dst: snat,
        sport: t.port,
        dport: [0, 0],
        proto: h.proto,
        // The reply entry of an echo request carries the replies.
        icmp_reply: b.echo_request as u8,
        _pad1: 0,
    };
    let mut i = 0;
    let mut bound = false;
    while i < NAT_PORT_TRIES && i < range {
        let nport = nat_port(ep, (start + i) % range);
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
    if !bound {
        counters::obj_drop(ep_stat);
        return Err(DropReason::NatPortsExhausted);
    }
    let fwd = flow::scratch(0)?;
    let to_target = Hop { mac: &t.mac, ifindex: t.ifindex, vpc: ep.out_vpc, eni: t.eni };
    let translated = Tuple { src: snat, dst: t.ip, sport: rev_key.dport, dport: rev_key.sport };
    let fx = Crossings { from1: port.subnet, to1: ep_eni.subnet, from2: via, to2: t.subnet };
    // A target on another node (labs across nodes): the translated packet
    // goes into the tunnel. This node checks both boundaries whole, as on
    // one node; the target's node checks the target subnet's half again
    // (the same configuration decides the same), so nothing is skipped.
    let into_tunnel = if P::TUNNELS && tunnel::is_remote(gen, ep.out_vpc, t.ip) { FLOW_F_TUNNEL } else { 0 };
    flow::build(fwd, &b, nat | into_tunnel, port.eni, &to_target, translated, &fx);
    let c = if dry_run() {
        // A dry run (`dataplane explain`) claimed no port and creates nothing.
        Created::New
    } else {
        flow::create(key, fwd, &rev_key, rev, restart, Reply::Claimed)?
    };
    forward::created(p, h, key, c, fwd, len)
}
