//! The interfaces that get flow-log records (host ENIs, managed interfaces,
//! internet hosts), numbered as the data plane counts them.

use std::collections::HashSet;

use super::*;

/// An interface that gets records: a host ENI or one a service created,
/// with what the version 3+ fields say about it (`-` where unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub id: String,
    pub service_created: bool,
    pub vpc_id: String,
    pub subnet_id: String,
    pub az_id: String,
    /// `-` for an interface a service created (AWS: requester-managed).
    pub instance_id: String,
}

impl Interface {
    /// An interface known by its id only.
    pub(super) fn bare(id: String, service_created: bool) -> Interface {
        Interface {
            id,
            service_created,
            vpc_id: "-".into(),
            subnet_id: "-".into(),
            az_id: "-".into(),
            instance_id: "-".into(),
        }
    }
}

/// Every interface that gets records, by its number (`compile::numbers`):
/// the host ENIs at their kernel ENI indices, the managed ones from
/// `MANAGED_ENI_BASE`; and each by (VPC index, address), which is how a
/// flow's tuples name them. Numbers never move, so records pending when a
/// reload adds interfaces stay with theirs.
pub struct Interfaces {
    pub(super) list: HashMap<u32, Interface>,
    by_addr: HashMap<(u32, [u8; 4]), u32>,
    /// Each NAT gateway's interface (its number) and private address, by
    /// gateway index (`FlowEntry::nat_gateway`).
    nat: Vec<(u32, [u8; 4])>,
    /// Host ENIs of other nodes (labs across nodes): their node writes
    /// their accepted traffic, as AWS writes each interface's records
    /// where it lives.
    pub(super) remote: HashSet<u32>,
}

impl Interfaces {
    pub(super) fn empty() -> Interfaces {
        Interfaces {
            list: HashMap::new(),
            by_addr: HashMap::new(),
            nat: Vec::new(),
            remote: HashSet::new(),
        }
    }

    /// Host ENIs only (numbered from 0 in order), with their (VPC, address).
    pub fn hosts(enis: impl IntoIterator<Item = (String, u32, Ipv4Addr)>) -> Interfaces {
        let mut i = Interfaces::empty();
        for (n, (id, vpc, ip)) in enis.into_iter().enumerate() {
            i.push(n as u32, Interface::bare(id, false), vpc, ip);
        }
        i
    }

    /// Adds an interface a service created (the next managed number).
    pub fn with_managed(mut self, id: String, vpc: u32, ip: Ipv4Addr) -> Interfaces {
        let n = dataplane_common::MANAGED_ENI_BASE
            + self.list.values().filter(|i| i.service_created).count() as u32;
        self.push(n, Interface::bare(id, true), vpc, ip);
        self
    }

    pub(super) fn push(&mut self, number: u32, iface: Interface, vpc: u32, ip: Ipv4Addr) {
        self.by_addr.insert((vpc, ip.octets()), number);
        self.list.insert(number, iface);
    }

    /// The interfaces of a lab built from `topo` alone (numbered afresh).
    pub fn of(topo: &Topology) -> Interfaces {
        Self::numbered(topo, &crate::compile::Numbering::fresh(topo))
    }

    /// The interfaces of `topo`, with the numbers `numbering` (the running
    /// agent's).
    pub fn numbered(topo: &Topology, numbering: &crate::compile::Numbering) -> Interfaces {
        let mut out = Interfaces::empty();
        let iface = |id: &str, service_created, subnet: usize, instance_id| {
            let sn = &topo.subnets[subnet];
            Interface {
                id: id.to_string(),
                service_created,
                vpc_id: topo.vpcs[sn.vpc].id.clone(),
                subnet_id: sn.id.clone(),
                az_id: sn.az.clone(),
                instance_id,
            }
        };
        for (i, e) in topo.enis.iter().enumerate() {
            if !topo.is_local_host(&e.host) {
                out.remote.insert(numbering.enis[i]);
            }
            let host = crate::model::instance_id(&e.host);
            out.push(
                numbering.enis[i],
                iface(&e.id, false, e.subnet, host),
                topo.eni_vpc(i) as u32,
                e.ip,
            );
        }
        for (m, &n) in topo
            .managed_interfaces()
            .into_iter()
            .zip(&numbering.managed)
        {
            if m.kind == crate::model::ManagedKind::NatGateway {
                out.nat.push((n, m.ip.octets()));
            }
            out.push(
                n,
                iface(&m.id, true, m.subnet, "-".into()),
                m.vpc as u32,
                m.ip,
            );
        }
        out
    }

    /// The interface with address `ip` in VPC `vpc`.
    pub(super) fn at(&self, vpc: u32, ip: [u8; 4]) -> Option<u32> {
        self.by_addr.get(&(vpc, ip)).copied()
    }

    /// The managed interface with address `ip` in VPC `vpc`.
    pub(super) fn managed_at(&self, vpc: u32, ip: [u8; 4]) -> Option<u32> {
        self.at(vpc, ip)
            .filter(|i| self.list.get(i).is_some_and(|x| x.service_created))
    }

    /// Where one direction of a flow is logged, in path order, each with
    /// the tuple that interface saw: the ENI it entered the fabric from
    /// (`key`), the managed interface it was addressed to (an endpoint ENI:
    /// `key`), the managed interface that translated it (an NLB node or a
    /// link ENI: the translated tuple) and the ENI it was delivered to (the
    /// translated tuple).
    ///
    /// A NAT gateway's flow also passes the gateway's interface, in and
    /// out, as AWS logs it ("Flow log record examples", "Traffic through
    /// a NAT gateway"): its private address stands for the gateway's end
    /// (`srcaddr`/`dstaddr`), the packet's addresses are the ends beyond
    /// it (`pkt-srcaddr`/`pkt-dstaddr`); the ports are the packet's on
    /// each side of the translation.
    pub(super) fn path(&self, key: &FlowKey, e: &FlowEntry) -> Vec<Hop> {
        let out = FlowKey::new(
            e.out_vpc,
            e.new_src,
            e.new_dst,
            e.new_sport,
            e.new_dport,
            key.proto,
        );
        let mut p = vec![Hop::seen(e.src_eni, Direction::Egress, *key)];
        // Into the tunnel untranslated (a target's reply to an NLB node or
        // link ENI, labs across nodes): it reaches that interface on the
        // node that holds the translation, which logs it there.
        let carried = e.flags & FLOW_F_TUNNEL != 0 && out == *key;
        if let Some(m) = self.managed_at(key.vpc, key.dst).filter(|_| !carried) {
            p.push(Hop::seen(m, Direction::Ingress, *key));
        }
        if out != *key {
            if let Some(m) = self.managed_at(out.vpc, out.src) {
                p.push(Hop::seen(m, Direction::Egress, out));
            }
        }
        if let Some(&(m, nat_ip)) = self.nat.get(e.nat_gateway as usize) {
            let into = FlowKey {
                dst: nat_ip,
                ..*key
            };
            let from = FlowKey { src: nat_ip, ..out };
            // Out: the instance's packet is for the internet host, and
            // leaves from the gateway's address. Back: the host's reply
            // (to the gateway's address, whose Elastic IP the internet
            // gateway translated) leaves for the instance still from it.
            let (into_pkt, from_pkt) = if e.flags & FLOW_F_REPLY != 0 {
                ((key.src, nat_ip), (key.src, out.dst))
            } else {
                ((key.src, key.dst), (nat_ip, out.dst))
            };
            p.push(Hop {
                iface: m,
                dir: Direction::Ingress,
                seen: into,
                pkt: into_pkt,
            });
            p.push(Hop {
                iface: m,
                dir: Direction::Egress,
                seen: from,
                pkt: from_pkt,
            });
        }
        if e.dst_eni != NO_ENI {
            p.push(Hop::seen(e.dst_eni, Direction::Ingress, out));
        }
        p
    }
}
