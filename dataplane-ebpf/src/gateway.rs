//! Stage `igw`: the internet gateway, a 1:1 static NAT between an ENI's
//! private address and its public address (VPC user guide, "Enable
//! internet access for a VPC using an internet gateway": the gateway
//! "performs network address translation for instances that have been
//! assigned public IPv4 addresses"). The lab's internet is a VPC of its
//! own (`INTERNET_VPC`), whose hosts are fabric ports like any ENI.
//!
//! Out (`to_internet`): the source subnet's table routed the destination
//! to the gateway -> the sender's egress groups -> the source subnet's
//! outbound ACL -> the sender's public address (none: `igw_no_public_ip`)
//! -> the internet host (none: `internet_no_host`) -> SNAT to the public
//! address. In (`from_internet`): the public address -> the ENI behind it
//! -> its subnet's table must route the internet host's address to the
//! gateway (the reply's route) -> the ENI's ingress groups -> its subnet's
//! inbound ACL -> DNAT to the private address. Both record the flow both
//! ways (`flow::create`, no port claim: the mapping is 1:1).

use dataplane_common::{
    explain::{NACL_CHECK_IN1, NACL_CHECK_OUT1, SG_CHECK_EGRESS, SG_CHECK_INGRESS, STAGE_EGRESS_SG, STAGE_IGW, STAGE_INGRESS_SG, STAGE_NAT_GATEWAY},
    in_generation, DropReason, EniInfo, EniKey, FlowKey, PortInfo, ENI_KIND_HOST, ENI_KIND_INTERNET, FLOW_F_DNAT,
    FLOW_F_REPLY, FLOW_F_SNAT, INTERNET_VPC, NAT_GATEWAY_VPC, NO_SUBNET, SG_DIR_EGRESS, SG_DIR_INGRESS,
};

use crate::{
    counters,
    explain::{self, dry_run},
    flow::{self, Created, Crossings, Hop, Reply, Tuple},
    forward::{self, Verdict},
    maps::{ENIS, PUBLIC_IPS},
    nacl,
    packet::Packet,
    parse::Headers,
    route, sg,
};

/// The first packet of a flow from a VPC ENI whose route table sent the
/// destination to the internet gateway.
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
    // ICMP rules match `type << 8 | code`, as on every other path.
    let sv = sg::value(h, u16::from_be_bytes(h.dport));
    explain::stage(STAGE_EGRESS_SG);
    if !sg::allows(SG_CHECK_EGRESS, port.sg_set, SG_DIR_EGRESS, h.proto, h.dst, sv) {
        return Err(DropReason::EgressSgDeny);
    }
    // Leaving the subnet for the internet: its outbound entries decide.
    let value = nacl::value(h, h.dport);
    nacl::out(NACL_CHECK_OUT1, gen, port.subnet, NO_SUBNET, h.dst, h.proto, value)?;
    explain::stage(STAGE_IGW);
    let own = EniKey { vpc: in_generation(port.vpc, gen), ip: h.src };
    // SAFETY: read-only map value.
    let Some(public) = (unsafe { PUBLIC_IPS.get(&own) }) else {
        return Err(DropReason::IgwNoPublicIp);
    };
    let host_key = EniKey { vpc: in_generation(INTERNET_VPC, gen), ip: h.dst };
    // SAFETY: read-only map value.
    let host: &EniInfo = match unsafe { ENIS.get(&host_key) } {
        Some(d) if d.kind == ENI_KIND_INTERNET => d,
        _ => return Err(DropReason::InternetNoHost),
    };
    explain::destination(host);
    let b = flow::Birth::of(h);
    let fwd = flow::scratch(0)?;
    let to_host = Hop { mac: &host.mac, ifindex: host.ifindex, vpc: INTERNET_VPC, eni: host.eni };
    let out = Tuple { src: public.ip, dst: h.dst, sport: h.sport, dport: h.dport };
    flow::build(fwd, &b, FLOW_F_SNAT, port.eni, &to_host, out, &Crossings::one(port.subnet, NO_SUBNET));
    let rev = flow::scratch(1)?;
    let back = Hop { mac: &port.mac, ifindex: p.ingress_ifindex(), vpc: port.vpc, eni: port.eni };
    let flags = FLOW_F_REPLY | FLOW_F_DNAT;
    flow::build(rev, &b, flags, host.eni, &back, Tuple::reply_to(h), &Crossings::one(NO_SUBNET, port.subnet));
    create(p, h, key, fwd, rev, len, restart)
}

/// The first packet of a flow from a host of the lab's internet: only a
/// public address leads anywhere.
#[inline(always)]
pub fn from_internet<P: Packet>(
    p: &mut P,
    port: &PortInfo,
    h: &Headers,
    key: &FlowKey,
    len: u64,
    restart: bool,
) -> Result<Verdict, DropReason> {
    let gen = port.generation as u32;
    explain::stage(STAGE_IGW);
    let public_key = EniKey { vpc: in_generation(INTERNET_VPC, gen), ip: h.dst };
    // SAFETY: read-only map value.
    let Some(private) = (unsafe { PUBLIC_IPS.get(&public_key) }) else {
        // No such public address: the internet has no route to it here.
        return Err(DropReason::NoRoute);
    };
    if private.vpc == NAT_GATEWAY_VPC {
        // A NAT gateway's Elastic IP: its replies matched their flow before
        // this; a first packet is a connection initiated from outside.
        explain::stage(STAGE_NAT_GATEWAY);
        counters::nat_packet(private.nat_gateway, true, len, false);
        return Err(DropReason::NatGatewayOutsideInitiated);
    }
    let dst_key = EniKey { vpc: in_generation(private.vpc, gen), ip: private.ip };
    // SAFETY: read-only map value.
    let dst: &EniInfo = match unsafe { ENIS.get(&dst_key) } {
        Some(d) if d.kind == ENI_KIND_HOST => d,
        _ => return Err(DropReason::NoRoute),
    };
    explain::destination(dst);
    // The reply leaves through the ENI's subnet's table: without a route
    // to the gateway the connection cannot work (docs/DATAPLANE.md).
    if route::decide(gen, dst.subnet, h.src)? != route::IGW {
        return Err(DropReason::NoRoute);
    }
    explain::stage(STAGE_INGRESS_SG);
    if !sg::allows(SG_CHECK_INGRESS, dst.sg_set, SG_DIR_INGRESS, h.proto, h.src, sg::value(h, u16::from_be_bytes(h.dport))) {
        return Err(DropReason::IngressSgDeny);
    }
    let value = nacl::value(h, h.dport);
    nacl::inbound(NACL_CHECK_IN1, gen, NO_SUBNET, dst.subnet, h.src, h.proto, value)?;
    let b = flow::Birth::of(h);
    let fwd = flow::scratch(0)?;
    let to_dst = Hop { mac: &dst.mac, ifindex: dst.ifindex, vpc: private.vpc, eni: dst.eni };
    let inward = Tuple { src: h.src, dst: private.ip, sport: h.sport, dport: h.dport };
    flow::build(fwd, &b, FLOW_F_DNAT, port.eni, &to_dst, inward, &Crossings::one(NO_SUBNET, dst.subnet));
    let rev = flow::scratch(1)?;
    let back = Hop { mac: &port.mac, ifindex: p.ingress_ifindex(), vpc: INTERNET_VPC, eni: port.eni };
    let flags = FLOW_F_REPLY | FLOW_F_SNAT;
    flow::build(rev, &b, flags, dst.eni, &back, Tuple::reply_to(h), &Crossings::one(dst.subnet, NO_SUBNET));
    create(p, h, key, fwd, rev, len, restart)
}

/// Records both entries (the reply one under the translated tuple,
/// reversed) and forwards the first packet.
#[inline(always)]
fn create<P: Packet>(
    p: &mut P,
    h: &Headers,
    key: &FlowKey,
    fwd: &mut dataplane_common::FlowEntry,
    rev: &mut dataplane_common::FlowEntry,
    len: u64,
    restart: bool,
) -> Result<Verdict, DropReason> {
    let rev_key = fwd.peer_key(h.proto);
    let c = if dry_run() {
        // A dry run (`dataplane explain`) decides and rewrites, creates nothing.
        Created::New
    } else {
        flow::create(key, fwd, &rev_key, rev, restart, Reply::Insert)?
    };
    forward::created(p, h, key, c, fwd, len)
}
