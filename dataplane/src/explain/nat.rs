//! The NAT part of an explanation: which endpoint, listener, target and
//! source NAT a PrivateLink or HTTP VPC link packet met, and the managed
//! interfaces it passed.

use std::net::Ipv4Addr;

use dataplane_common::explain::{ExplainTrace, STAGE_NAT, STAGE_TARGET};

use super::{endpoint_enis, http_link_of, targets, Nat};
use crate::{
    compile::{ENDPOINT_GENERATION_STRIDE, TARGET_GENERATION_STRIDE},
    model::{ManagedInterface, Topology},
};

pub(super) fn nat(topo: &Topology, t: &ExplainTrace) -> Nat {
    let s = &topo.services;
    let ep_i = (t.endpoint % ENDPOINT_GENERATION_STRIDE) as usize;
    let mut interfaces = Vec::new();
    let mut name_of = |m: Option<ManagedInterface>| {
        if let Some(m) = m {
            interfaces.push(format!("{} {} {}", m.kind.name(), m.id, m.ip));
        }
    };
    let mut nlb_vpc = None;
    let (endpoint, nlb, kind) = match endpoint_enis(topo).get(ep_i) {
        Some(&(ep, k)) => {
            let e = &s.vpc_endpoints[ep];
            let nlb = &s.nlbs[s.endpoint_services[e.service].nlb];
            name_of(topo.managed_at(e.vpc, e.enis[k].ip));
            nlb_vpc = Some(nlb.vpc);
            let kind = if http_link_of(topo, ep).is_some() {
                "http vpc link"
            } else {
                "privatelink"
            };
            let name = match http_link_of(topo, ep) {
                Some(l) => format!("{} (integration of {})", e.id, s.vpc_links[l].id),
                None => e.id.clone(),
            };
            (name, nlb.id.clone(), kind)
        }
        None => (format!("endpoint ENI #{ep_i}"), "?".into(), "privatelink"),
    };
    let reached = |stage: u32| t.stages & (1 << stage) != 0;
    // Listener indices count every NLB's listeners in order.
    let mut listener = format!("#{}", t.listener);
    let mut n = 0usize;
    for nlb in &s.nlbs {
        if (t.listener as usize) < n + nlb.listeners.len() {
            let l = &nlb.listeners[t.listener as usize - n];
            listener = format!(
                "{} {}/{} -> {}",
                nlb.id,
                match l.protocol {
                    crate::model::L4Protocol::Tcp => "tcp",
                    crate::model::L4Protocol::Udp => "udp",
                },
                l.port,
                s.target_groups[l.target_group].id
            );
            break;
        }
        n += nlb.listeners.len();
    }
    let ti = (t.target % TARGET_GENERATION_STRIDE) as usize;
    let target = match targets(topo).get(ti) {
        Some(&(tg, k)) => {
            let tgt = &s.target_groups[tg].targets[k];
            let e = &topo.enis[tgt.eni];
            format!(
                "{} {}:{} (host {}, target group {})",
                e.id, e.ip, tgt.port, e.host, s.target_groups[tg].id
            )
        }
        None => format!("target #{ti}"),
    };
    // The listener stage was passed once the target stage was reached.
    let picked = reached(STAGE_TARGET) && !(t.dropped != 0 && t.last_stage == STAGE_TARGET);
    let natted = reached(STAGE_NAT) && t.dropped == 0;
    if picked {
        name_of(nlb_vpc.and_then(|v| topo.managed_at(v, Ipv4Addr::from(t.snat))));
    }
    Nat {
        endpoint,
        nlb,
        kind,
        listener: reached(STAGE_TARGET).then_some(listener),
        maglev_slot: reached(STAGE_TARGET).then_some(t.slot),
        target: picked.then_some(target),
        source: picked.then(|| Ipv4Addr::from(t.snat)),
        source_port: natted.then_some(t.nat_port),
        ports_probed: natted.then_some(t.nat_tries),
        interfaces,
    }
}
