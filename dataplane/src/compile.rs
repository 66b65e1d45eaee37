//! `compile`: a validated topology -> the exact kernel map entries.
//!
//! Pure: no kernel, no netlink, no files. The only facts from the running
//! lab are the fabric ifindexes, passed in. Security groups are compiled so
//! the kernel never scans rules: one longest-prefix match per
//! {group set, direction, protocol, peer prefix} returns merged port ranges,
//! with the ranges of every covering (shorter) prefix pushed down.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{bail, Result};
use dataplane_common::{
    in_generation, EndpointInfo, EniInfo, EniKey, ListenerInfo, ListenerKey, PortInfo, PortRange,
    SgKey, SgPorts, TargetInfo, ENDPOINT_STATE_AVAILABLE, ENDPOINT_STATE_PENDING,
    ENDPOINT_STATE_REJECTED, ENI_KIND_ENDPOINT, ENI_KIND_HOST, ENI_KIND_LINK, MAGLEV_SIZE,
    MAX_ENDPOINT_ENIS, MAX_ENIS, MAX_LISTENERS, MAX_MAGLEV_TABLES, MAX_PORTS, MAX_SG_ENTRIES,
    MAX_TARGETS, NO_SG_SET, NO_TARGET, PROTO_ICMP, PROTO_TCP, PROTO_UDP, SG_DIR_ANY_PROTO,
    SG_DIR_EGRESS, SG_DIR_INGRESS, SG_KEY_FIXED_BITS, SG_MAX_RANGES,
};

mod gateways;
mod nacl;
mod nodes;
pub mod numbers;
mod routes;
pub mod sg_track;

pub use gateways::PublicIpEntry;
pub use nacl::{
    class_table, compile_nacl_list, compile_nacls, dir_table, nacl_by_stat, prefix_blocks,
    value_range, ClassTable, DirTable, NaclCidrEntry, NaclMaps, NaclRuleEntry, DEFAULT_DENY,
    NACL_PROTOS,
};
pub use numbers::{EniNumbers, Numbering};
pub use routes::{
    compile_routes, route_info, route_table_by_stat, target_code, RouteEntry, RouteMaps,
};

use crate::{
    maglev,
    model::{EndpointState, Ipv4Net, L4Protocol, Peer, Protocol, Rule, Topology, VpcLinkKind},
};

/// One LPM entry: prefix length (including the fixed bits), key data, value.
pub type SgEntry = (u32, SgKey, SgPorts);

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Compiled {
    /// fabric ifindex -> port
    pub ports: Vec<(u32, PortInfo)>,
    pub enis: Vec<(EniKey, EniInfo)>,
    pub sg_rules: Vec<SgEntry>,
    /// Distinct security-group sets, by set id: the groups' indices.
    pub sg_sets: Vec<Vec<usize>>,
    /// By endpoint-ENI index (the endpoints' ENIs, flattened in order).
    pub endpoints: Vec<EndpointInfo>,
    pub listeners: Vec<(ListenerKey, ListenerInfo)>,
    /// By global target index (the target groups' targets, flattened).
    pub targets: Vec<TargetInfo>,
    /// Maglev tables by id: `MAGLEV_SIZE` slots of global target indices.
    pub tables: Vec<Vec<u32>>,
    /// Network ACLs: each subnet's (by subnet index), and the two LPM
    /// tables of their precomputed decisions.
    pub nacl_subnets: Vec<dataplane_common::SubnetNacls>,
    pub nacl_cidrs: Vec<NaclCidrEntry>,
    pub nacl_rules: Vec<NaclRuleEntry>,
    /// Route tables: each subnet's (by subnet index), and the routes of
    /// every table a subnet uses (`HL_ROUTES`).
    pub route_subnets: Vec<dataplane_common::SubnetRoute>,
    pub routes: Vec<RouteEntry>,
    /// The internet gateways' 1:1 NAT, both directions (`HL_PUBLIC_IPS`).
    pub public_ips: Vec<PublicIpEntry>,
    /// Where this compilation's ids start (see [`Compiled::rebase`]).
    pub generation: u32,
    /// The fabric ifindex of every port (ENIs, then internet hosts) it was
    /// compiled for, untagged: an ENI of another node has the VXLAN
    /// device's, and no `ports` row of its own.
    pub ifindexes: Vec<u32>,
    /// The interface numbers it was compiled with (kernel ENI indices,
    /// port names, flow logs' interfaces): the lab's whole assignment,
    /// what the next reload extends ([`numbers`]).
    pub numbers: EniNumbers,
}

/// Ids of one generation live in their own half of every id space, so a
/// reload writes the new configuration beside the old one and switches the
/// entry points (ports, ENIs, listeners) one atomic map update at a time:
/// no packet ever meets a mix of old and new ids.
pub const SET_GENERATION_STRIDE: u32 = 1 << 20;
pub const ENDPOINT_GENERATION_STRIDE: u32 = MAX_ENDPOINT_ENIS / 2;
pub const TARGET_GENERATION_STRIDE: u32 = dataplane_common::TARGETS_PER_GENERATION;
pub const TABLE_GENERATION_STRIDE: u32 = MAX_MAGLEV_TABLES / 2;
/// Network-ACL direction ids and address-class ids.
pub const NACL_GENERATION_STRIDE: u32 = 1 << 20;
/// Route-table ids.
pub const ROUTE_GENERATION_STRIDE: u32 = 1 << 20;
pub const SUBNET_GENERATION_STRIDE: u32 = dataplane_common::SUBNETS_PER_GENERATION;

/// Index of the first endpoint ENI / target / Maglev table of generation `g`.
pub fn endpoint_base(g: u32) -> u32 {
    g * ENDPOINT_GENERATION_STRIDE
}
pub fn target_base(g: u32) -> u32 {
    g * TARGET_GENERATION_STRIDE
}
pub fn table_base(g: u32) -> u32 {
    g * TABLE_GENERATION_STRIDE
}
pub fn subnet_base(g: u32) -> u32 {
    g * SUBNET_GENERATION_STRIDE
}

impl Compiled {
    /// Index of the first endpoint ENI / target / table of this generation.
    pub fn endpoint_base(&self) -> u32 {
        endpoint_base(self.generation)
    }
    pub fn target_base(&self) -> u32 {
        target_base(self.generation)
    }
    pub fn table_base(&self) -> u32 {
        table_base(self.generation)
    }

    /// The fabric ifindexes of the ports, in order, without the generation
    /// tag (what it was compiled for).
    pub fn port_ifindexes(&self) -> Vec<u32> {
        self.ifindexes.clone()
    }

    /// Moves every id of a generation-0 compilation into generation `g`.
    pub fn rebase(self, g: u32) -> Compiled {
        assert_eq!(self.generation, 0, "rebase a fresh compilation");
        self.shift(g)
    }

    /// The same configuration with its ids in generation `g` (from any
    /// generation).
    pub fn at(&self, g: u32) -> Compiled {
        self.clone().shift(g)
    }

    /// Moves every id from this compilation's generation into `g`.
    fn shift(mut self, g: u32) -> Compiled {
        let s = Shift::new(self.generation, g);
        for x in &mut self.ports {
            *x = s.port(*x);
        }
        for x in &mut self.enis {
            *x = s.eni(*x);
        }
        for x in &mut self.sg_rules {
            *x = s.sg(*x);
        }
        for x in &mut self.endpoints {
            *x = s.endpoint(*x);
        }
        for x in &mut self.listeners {
            *x = s.listener(*x);
        }
        for x in &mut self.targets {
            *x = s.target(*x);
        }
        for t in &mut self.tables {
            for x in t.iter_mut() {
                *x = s.table_slot(*x);
            }
        }
        for x in &mut self.nacl_subnets {
            *x = s.subnet_nacls(*x);
        }
        for x in &mut self.nacl_cidrs {
            *x = s.nacl_cidr(*x);
        }
        for x in &mut self.nacl_rules {
            *x = s.nacl_rule(*x);
        }
        for x in &mut self.route_subnets {
            *x = s.subnet_route(*x);
        }
        for x in &mut self.routes {
            *x = s.route(*x);
        }
        for x in &mut self.public_ips {
            *x = s.public_ip(*x);
        }
        self.generation = g;
        self
    }
}

/// Moves single entries from generation `from` into generation `to`: what
/// [`Compiled::at`] does to a whole compilation, entry by entry (a reload's
/// difference is computed once and moved into the other generation).
#[derive(Clone, Copy, Debug)]
pub struct Shift {
    from: u32,
    to: u32,
}

impl Shift {
    pub fn new(from: u32, to: u32) -> Shift {
        Shift { from, to }
    }

    /// Id `x` of an id space whose generations are `stride` apart.
    fn mv(self, x: u32, stride: u32) -> u32 {
        (x as i64 + (self.to as i64 - self.from as i64) * stride as i64) as u32
    }

    fn set(self, s: u32) -> u32 {
        if s == NO_SG_SET {
            s
        } else {
            self.mv(s, SET_GENERATION_STRIDE)
        }
    }

    // Entry-point keys carry the generation (see `in_generation`).
    pub fn port(self, (ifindex, mut p): (u32, PortInfo)) -> (u32, PortInfo) {
        p.generation = self.to as u16;
        p.sg_set = self.set(p.sg_set);
        (in_generation(ifindex, self.to), p)
    }

    pub fn eni(self, (mut k, mut e): (EniKey, EniInfo)) -> (EniKey, EniInfo) {
        k.vpc = in_generation(k.vpc, self.to);
        e.sg_set = self.set(e.sg_set);
        if e.kind == ENI_KIND_ENDPOINT {
            e.eni = self.mv(e.eni, ENDPOINT_GENERATION_STRIDE);
        }
        (k, e)
    }

    pub fn sg(self, (plen, mut k, v): SgEntry) -> SgEntry {
        k.sg_set = self.set(u32::from_be_bytes(k.sg_set)).to_be_bytes();
        (plen, k, v)
    }

    pub fn endpoint(self, mut ep: EndpointInfo) -> EndpointInfo {
        ep.egress_sg_set = self.set(ep.egress_sg_set);
        ep.node = in_generation(ep.node, self.to);
        ep
    }

    pub fn listener(
        self,
        (mut k, mut l): (ListenerKey, ListenerInfo),
    ) -> (ListenerKey, ListenerInfo) {
        k.node = in_generation(k.node, self.to);
        l.table = self.mv(l.table, TABLE_GENERATION_STRIDE);
        (k, l)
    }

    pub fn target(self, mut t: TargetInfo) -> TargetInfo {
        t.sg_set = self.set(t.sg_set);
        t
    }

    /// An `HL_TARGETS` index (a global target index).
    pub fn target_slot(self, i: u32) -> u32 {
        self.mv(i, TARGET_GENERATION_STRIDE)
    }

    /// An `HL_ENDPOINTS` index (an endpoint-ENI index).
    pub fn endpoint_slot(self, i: u32) -> u32 {
        self.mv(i, ENDPOINT_GENERATION_STRIDE)
    }

    /// A Maglev table id.
    pub fn table_id(self, id: u32) -> u32 {
        self.mv(id, TABLE_GENERATION_STRIDE)
    }

    /// A network-ACL direction or class id (0: none).
    fn nacl_id(self, x: u32) -> u32 {
        if x == 0 {
            x
        } else {
            self.mv(x, NACL_GENERATION_STRIDE)
        }
    }

    pub fn subnet_nacls(
        self,
        mut n: dataplane_common::SubnetNacls,
    ) -> dataplane_common::SubnetNacls {
        n.egress.acl = self.nacl_id(n.egress.acl);
        n.ingress.acl = self.nacl_id(n.ingress.acl);
        n
    }

    pub fn nacl_cidr(self, (plen, mut k, class): NaclCidrEntry) -> NaclCidrEntry {
        k.acl = self.nacl_id(u32::from_be_bytes(k.acl)).to_be_bytes();
        (plen, k, self.nacl_id(class))
    }

    pub fn nacl_rule(self, (plen, mut k, d): NaclRuleEntry) -> NaclRuleEntry {
        k.class = self.nacl_id(u32::from_be_bytes(k.class)).to_be_bytes();
        (plen, k, d)
    }

    /// A route-table id (0: none).
    fn route_id(self, x: u32) -> u32 {
        if x == 0 {
            x
        } else {
            self.mv(x, ROUTE_GENERATION_STRIDE)
        }
    }

    pub fn subnet_route(
        self,
        mut r: dataplane_common::SubnetRoute,
    ) -> dataplane_common::SubnetRoute {
        r.table = self.route_id(r.table);
        r
    }

    pub fn route(self, (plen, mut k, r): RouteEntry) -> RouteEntry {
        k.table = self.route_id(u32::from_be_bytes(k.table)).to_be_bytes();
        (plen, k, r)
    }

    /// An `HL_NACL_SUBNETS` / `HL_RT_SUBNETS` index.
    pub fn subnet_slot(self, i: u32) -> u32 {
        self.mv(i, SUBNET_GENERATION_STRIDE)
    }

    /// A Maglev table slot: a global target index, or empty.
    pub fn table_slot(self, x: u32) -> u32 {
        if x == NO_TARGET {
            x
        } else {
            self.mv(x, TARGET_GENERATION_STRIDE)
        }
    }
}

/// Shifts the target indices in Maglev tables by `base` (empty slots stay empty).
pub fn rebase_tables(tables: Vec<Vec<u32>>, base: u32) -> Vec<Vec<u32>> {
    tables
        .into_iter()
        .map(|t| {
            t.into_iter()
                .map(|x| if x == NO_TARGET { x } else { x + base })
                .collect()
        })
        .collect()
}

/// What each Maglev table is built from: the target group of one listener
/// as one NLB node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    pub target_group: usize,
    /// `Some(az)` when the NLB is not cross-zone: only targets in that AZ.
    pub az: Option<String>,
}

/// Global index of each target group's first target.
fn target_bases(topo: &Topology) -> Vec<u32> {
    let mut bases = Vec::new();
    let mut n = 0u32;
    for tg in &topo.services.target_groups {
        bases.push(n);
        n += tg.targets.len() as u32;
    }
    bases
}

/// One table per (NLB node, listener), in node-major order.
pub fn table_specs(topo: &Topology) -> Vec<TableSpec> {
    let mut specs = Vec::new();
    for nlb in &topo.services.nlbs {
        for node in &nlb.nodes {
            for l in &nlb.listeners {
                specs.push(TableSpec {
                    target_group: l.target_group,
                    az: (!nlb.cross_zone).then(|| topo.subnets[node.subnet].az.clone()),
                });
            }
        }
    }
    specs
}

/// The Maglev tables for the current health of the targets (`unhealthy`
/// holds global target indices). Pure: the agent calls it again whenever a
/// health check flips.
pub fn maglev_tables(topo: &Topology, unhealthy: &BTreeSet<u32>) -> Vec<Vec<u32>> {
    let bases = target_bases(topo);
    table_specs(topo)
        .iter()
        .map(|spec| {
            let tg = &topo.services.target_groups[spec.target_group];
            let candidates: Vec<(u32, u64)> = tg
                .targets
                .iter()
                .enumerate()
                .map(|(i, t)| (bases[spec.target_group] + i as u32, t))
                .filter(|(g, _)| !unhealthy.contains(g))
                .filter(|(_, t)| {
                    spec.az
                        .as_ref()
                        .is_none_or(|az| topo.subnets[topo.enis[t.eni].subnet].az == *az)
                })
                .map(|(g, t)| (g, maglev::backend_key(topo.enis[t.eni].ip, t.port)))
                .collect();
            let keys: Vec<u64> = candidates.iter().map(|&(_, k)| k).collect();
            maglev::table(&keys, MAGLEV_SIZE as usize)
                .into_iter()
                .map(|slot| {
                    if slot == u32::MAX {
                        NO_TARGET
                    } else {
                        candidates[slot as usize].0
                    }
                })
                .collect()
        })
        .collect()
}

/// `ifindexes[i]` is the fabric-side ifindex of ENI `i`. The interfaces
/// are numbered afresh (as a lab built from `topo` alone is).
pub fn compile(topo: &Topology, ifindexes: &[u32]) -> Result<Compiled> {
    compile_with(topo, ifindexes, &mut Memo::default())
}

/// Security-group entries compiled earlier, by what they were compiled from
/// (the agent keeps one across reloads): the entries of a group set in one
/// direction depend only on the set's rules and on the members of the
/// groups those rules name as peers. A reload that changes one rule
/// recompiles the sets holding that rule's group and the sets whose rules
/// reference a group whose members changed; every other set's entries come
/// from here. The memo holds what the last compilation used, no more.
#[derive(Debug, Default)]
pub struct Memo {
    sg: MemoMap,
}

/// Keys are whole rule lists: foldhash hashes them several times faster
/// than std's SipHash (no untrusted keys here, so no HashDoS concern).
type MemoMap = HashMap<SgInput, Vec<SgEntry>, foldhash::fast::RandomState>;

/// Everything [`compile_rules`] reads for one set and direction, compared
/// whole (no fingerprint that could collide).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SgInput {
    dir: u8,
    rules: Vec<Rule>,
    /// The members of each group the rules reference, by group index.
    members: Vec<(usize, Vec<std::net::Ipv4Addr>)>,
}

impl SgInput {
    fn new(dir: u8, rules: &[&Rule], members: &[Vec<std::net::Ipv4Addr>]) -> SgInput {
        let mut refs: Vec<usize> = rules
            .iter()
            .filter_map(|r| match r.peer {
                Peer::SecurityGroup(g) => Some(g),
                Peer::Cidr(_) => None,
            })
            .collect();
        refs.sort_unstable();
        refs.dedup();
        SgInput {
            dir,
            rules: rules.iter().map(|&r| r.clone()).collect(),
            members: refs.into_iter().map(|g| (g, members[g].clone())).collect(),
        }
    }
}

/// The port row of a node's VXLAN device: the VPC says "from another
/// node"; the VNI and the source address name the VPC and ENI
/// (`dataplane-ebpf/src/tunnel.rs`).
fn tunnel_port_info() -> PortInfo {
    PortInfo {
        vpc: dataplane_common::TUNNEL_VPC,
        eni: u32::MAX,
        sg_set: NO_SG_SET,
        ip: [0; 4],
        mac: [0; 6],
        generation: 0,
        subnet: dataplane_common::NO_SUBNET,
        _pad: 0,
    }
}

/// [`compile`], taking each set's security-group entries from `memo` when
/// their inputs are unchanged, and leaving in `memo` what this compilation
/// used. The result is the same as `compile`'s.
pub fn compile_with(topo: &Topology, ifindexes: &[u32], memo: &mut Memo) -> Result<Compiled> {
    compile_numbered(topo, ifindexes, &EniNumbers::default(), memo)
}

/// [`compile_with`] for a lab whose interfaces were numbered before
/// (`previous`, from the last compilation or the journal): they keep their
/// numbers, and interfaces new to the lab get the next free ones
/// ([`EniNumbers::assign`]), so flows tracked before count and log under
/// the same interfaces after.
pub fn compile_numbered(
    topo: &Topology,
    ifindexes: &[u32],
    previous: &EniNumbers,
    memo: &mut Memo,
) -> Result<Compiled> {
    let numbers = EniNumbers::assign(topo, previous)?;
    let numbering = numbers.numbering(topo)?;
    if ifindexes.len() != topo.port_count() {
        bail!(
            "compile: {} fabric ports for {} ENIs and {} internet hosts",
            ifindexes.len(),
            topo.enis.len(),
            topo.internet.hosts.len()
        );
    }
    let (mut sg_sets, holder_set) = sg_sets(topo);
    let (eni_set, rest) = holder_set.split_at(topo.enis.len());
    let n_ep_enis: usize = topo
        .services
        .vpc_endpoints
        .iter()
        .map(|e| e.enis.len())
        .sum();
    let (endpoint_set, link_set) = rest.split_at(n_ep_enis);
    // A set that admits everything, for integration addresses.
    let open_set = sg_sets.len() as u32;
    let mut out = Compiled {
        sg_sets: sg_sets.clone(),
        ifindexes: ifindexes.to_vec(),
        numbers,
        ..Default::default()
    };
    let mut tunnel_port = false;
    for (i, eni) in topo.enis.iter().enumerate() {
        let vpc = topo.eni_vpc(i) as u32;
        let set = eni_set[i];
        let ip = eni.ip.octets();
        // An ENI of another node: reached through this node's VXLAN
        // device, whose one port row takes what other nodes send.
        let underlay = topo.eni_underlay(i).map(|u| u.octets());
        if underlay.is_some() {
            if !tunnel_port {
                out.ports.push((ifindexes[i], tunnel_port_info()));
                tunnel_port = true;
            }
            out.enis.push((
                EniKey { vpc, ip },
                EniInfo {
                    eni: numbering.enis[i],
                    ifindex: ifindexes[i],
                    sg_set: set,
                    kind: ENI_KIND_HOST,
                    underlay: underlay.unwrap_or_default(),
                    mac: eni.mac,
                    subnet: eni.subnet as u16,
                },
            ));
            continue;
        }
        out.ports.push((
            ifindexes[i],
            PortInfo {
                vpc,
                eni: numbering.enis[i],
                sg_set: set,
                ip,
                mac: eni.mac,
                generation: 0,
                subnet: eni.subnet as u16,
                _pad: 0,
            },
        ));
        out.enis.push((
            EniKey { vpc, ip },
            EniInfo {
                eni: numbering.enis[i],
                ifindex: ifindexes[i],
                sg_set: set,
                kind: ENI_KIND_HOST,
                underlay: [0; 4],
                mac: eni.mac,
                subnet: eni.subnet as u16,
            },
        ));
    }
    privatelink(
        topo,
        (ifindexes, &numbering),
        eni_set,
        endpoint_set,
        link_set,
        open_set,
        &mut out,
    )?;
    links(topo, &mut out);
    nodes::rows(topo, &mut out);
    gateways::compile_internet(topo, ifindexes, &numbering, &mut out);
    let members = all_sg_members(topo);
    let mut used = MemoMap::default();
    let mut set_rules = |set: u32, dir: u8, rules: &[&Rule]| -> Result<()> {
        let input = SgInput::new(dir, rules, &members);
        let entries = match memo.sg.remove(&input) {
            Some(e) => e,
            None => match used.get(&input) {
                Some(e) => Vec::clone(e),
                None => compile_rules(topo, &members, set, dir, rules)?,
            },
        };
        // Memoised entries may come from another set id.
        out.sg_rules.extend(entries.iter().map(|&(plen, mut k, v)| {
            k.sg_set = set.to_be_bytes();
            (plen, k, v)
        }));
        used.insert(input, entries);
        Ok(())
    };
    let open = out.enis.iter().any(|(_, e)| e.sg_set == open_set);
    let mut untracked = Vec::new();
    let filled = (|| -> Result<()> {
        for (set_id, groups) in sg_sets.iter().enumerate() {
            let (ingress, egress) = (rules_of(topo, groups, true), rules_of(topo, groups, false));
            set_rules(set_id as u32, SG_DIR_INGRESS, &ingress)?;
            set_rules(set_id as u32, SG_DIR_EGRESS, &egress)?;
            // Tracked or untracked: a cheap scan, not memoised.
            let set = set_id as u32;
            untracked.extend(sg_track::untracked_entries(
                set,
                SG_DIR_INGRESS,
                &ingress,
                &egress,
            )?);
            untracked.extend(sg_track::untracked_entries(
                set,
                SG_DIR_EGRESS,
                &egress,
                &ingress,
            )?);
        }
        if open {
            let all = Rule {
                protocol: Protocol::All,
                ports: (0, 65535),
                peer: Peer::Cidr(Ipv4Net::default()),
            };
            set_rules(open_set, SG_DIR_INGRESS, &[&all])?;
        }
        Ok(())
    })();
    if let Err(e) = filled {
        // A refused configuration leaves the memo as it found it.
        memo.sg.extend(used);
        return Err(e);
    }
    memo.sg = used;
    out.sg_rules.extend(untracked);
    if open {
        sg_sets.push(Vec::new());
    }
    out.sg_sets = sg_sets;
    let nacls = compile_nacls(topo)?;
    out.nacl_subnets = nacls.subnets;
    out.nacl_cidrs = nacls.cidrs;
    out.nacl_rules = nacls.rules;
    let routes = compile_routes(topo)?;
    out.route_subnets = routes.subnets;
    out.routes = routes.routes;
    check_capacity(&out)?;
    Ok(out)
}

/// Refuses a configuration the maps cannot hold, before anything is written.
fn check_capacity(out: &Compiled) -> Result<()> {
    // Two generations share every map during a reload: one configuration
    // gets half of each.
    for (what, n, max) in [
        (
            "fabric ports (ENIs with a host)",
            out.ports.len(),
            MAX_PORTS,
        ),
        ("ENI entries", out.enis.len(), MAX_ENIS),
        ("security-group entries", out.sg_rules.len(), MAX_SG_ENTRIES),
        ("endpoint ENIs", out.endpoints.len(), MAX_ENDPOINT_ENIS),
        ("listener entries", out.listeners.len(), MAX_LISTENERS),
        ("targets", out.targets.len(), MAX_TARGETS),
        (
            "load-balancer tables (NLB nodes x listeners)",
            out.tables.len(),
            MAX_MAGLEV_TABLES,
        ),
        (
            "subnets",
            out.nacl_subnets.len(),
            dataplane_common::MAX_SUBNETS,
        ),
        (
            "network-ACL address entries",
            out.nacl_cidrs.len(),
            dataplane_common::MAX_NACL_CIDRS,
        ),
        (
            "network-ACL rule entries",
            out.nacl_rules.len(),
            dataplane_common::MAX_NACL_RULES,
        ),
        ("routes", out.routes.len(), dataplane_common::MAX_ROUTES),
    ] {
        let max = max / 2;
        if n > max as usize {
            bail!(
                "the topology has {n} {what}; the data plane holds at most {max} per \
                 configuration (the maps keep two side by side during a reload)"
            );
        }
    }
    Ok(())
}

/// HTTP VPC links' ENIs: reachable only by replies (`ENI_KIND_LINK`).
fn links(topo: &Topology, out: &mut Compiled) {
    for link in &topo.services.vpc_links {
        if let VpcLinkKind::Http {
            customer_vpc, enis, ..
        } = &link.kind
        {
            for e in enis {
                out.enis.push((
                    EniKey {
                        vpc: *customer_vpc as u32,
                        ip: e.ip.octets(),
                    },
                    EniInfo {
                        eni: 0,
                        ifindex: 0,
                        sg_set: NO_SG_SET,
                        kind: ENI_KIND_LINK,
                        underlay: [0; 4],
                        mac: [0; 6],
                        subnet: e.subnet as u16,
                    },
                ));
            }
        }
    }
}

/// Endpoint ENIs, listeners, targets and Maglev tables.
fn privatelink(
    topo: &Topology,
    (ifindexes, numbering): (&[u32], &Numbering),
    eni_set: &[u32],
    endpoint_set: &[u32],
    link_set: &[u32],
    open_set: u32,
    out: &mut Compiled,
) -> Result<()> {
    let s = &topo.services;
    // The link-group set of each HTTP-link NLB.
    let mut link_sets = link_set.iter();
    let nlb_egress: Vec<u32> = s
        .nlbs
        .iter()
        .map(|n| match n.vpc_link {
            Some(_) => *link_sets.next().expect("one holder per link NLB"),
            None => NO_SG_SET,
        })
        .collect();
    // Global node index of each NLB's first node.
    let mut node_base = Vec::new();
    let mut n = 0u32;
    for nlb in &s.nlbs {
        node_base.push(n);
        n += nlb.nodes.len() as u32;
    }
    let mut ep_eni = 0usize;
    for (ei, ep) in s.vpc_endpoints.iter().enumerate() {
        let nlb_i = s.endpoint_services[ep.service].nlb;
        let nlb = &s.nlbs[nlb_i];
        // Across nodes, this node's slice of the NLB's source ports.
        let Some((nat_lo, nat_hi, nat_step)) = nodes::local_nat_slice(topo, nlb.source_ports)
        else {
            bail!(
                "NLB {}: source_ports {}-{} hold no port for this node: each of the lab's {} nodes needs one",
                nlb.id,
                nlb.source_ports.0,
                nlb.source_ports.1,
                topo.placement.nodes.len()
            );
        };
        for e in &ep.enis {
            // The NLB node in the endpoint ENI's AZ (else the NLB's first).
            let az = &topo.subnets[e.subnet].az;
            let node = nlb
                .nodes
                .iter()
                .position(|nd| topo.subnets[nd.subnet].az == *az)
                .unwrap_or(0);
            out.enis.push((
                EniKey {
                    vpc: ep.vpc as u32,
                    ip: e.ip.octets(),
                },
                EniInfo {
                    eni: ep_eni as u32,
                    ifindex: 0,
                    sg_set: if is_integration(topo, ep) {
                        open_set
                    } else {
                        endpoint_set[ep_eni]
                    },
                    kind: ENI_KIND_ENDPOINT,
                    underlay: [0; 4],
                    mac: [0; 6],
                    subnet: e.subnet as u16,
                },
            ));
            out.endpoints.push(EndpointInfo {
                state: match ep.state {
                    EndpointState::Pending => ENDPOINT_STATE_PENDING,
                    EndpointState::Available => ENDPOINT_STATE_AVAILABLE,
                    EndpointState::Rejected => ENDPOINT_STATE_REJECTED,
                },
                endpoint: ei as u32,
                node: node_base[nlb_i] + node as u32,
                out_vpc: nlb.vpc as u32,
                node_ip: nlb.nodes[node].ip.octets(),
                nat_lo,
                nat_hi,
                egress_sg_set: nlb_egress[nlb_i],
                node_subnet: nlb.nodes[node].subnet as u16,
                nat_step,
            });
            ep_eni += 1;
        }
    }
    let mut listener = 0u32;
    let mut table = 0u32;
    for (ni, nlb) in s.nlbs.iter().enumerate() {
        for nd in 0..nlb.nodes.len() as u32 {
            for (li, l) in nlb.listeners.iter().enumerate() {
                let proto = match l.protocol {
                    L4Protocol::Tcp => PROTO_TCP,
                    L4Protocol::Udp => PROTO_UDP,
                };
                let info = ListenerInfo {
                    table,
                    listener: listener + li as u32,
                };
                let node = node_base[ni] + nd;
                out.listeners.push((
                    ListenerKey {
                        node,
                        port: l.port.to_be_bytes(),
                        proto,
                        _pad: 0,
                    },
                    info,
                ));
                // ICMP echo rides the first listener's target group: AWS NLBs
                // do not forward ICMP, but a lab wants ping through the endpoint.
                if li == 0 {
                    out.listeners.push((
                        ListenerKey {
                            node,
                            port: [0, 0],
                            proto: PROTO_ICMP,
                            _pad: 0,
                        },
                        info,
                    ));
                }
                table += 1;
            }
        }
        listener += nlb.listeners.len() as u32;
    }
    // HTTP VPC links source-NAT to the link ENI in the target's AZ (else
    // the first): per target group, the link NLB that uses it, if any.
    let mut tg_link: Vec<Option<&crate::model::Nlb>> = vec![None; s.target_groups.len()];
    for nlb in s.nlbs.iter().filter(|n| n.vpc_link.is_some()) {
        for l in &nlb.listeners {
            tg_link[l.target_group] = Some(nlb);
        }
    }
    for (tgi, tg) in s.target_groups.iter().enumerate() {
        for t in &tg.targets {
            let eni = &topo.enis[t.eni];
            let (snat_ip, snat_subnet) = tg_link[tgi].map_or(([0; 4], 0), |nlb| {
                let az = &topo.subnets[eni.subnet].az;
                let node = nlb.nodes.iter().find(|n| topo.subnets[n.subnet].az == *az);
                let node = node.unwrap_or(&nlb.nodes[0]);
                (node.ip.octets(), node.subnet as u16)
            });
            out.targets.push(TargetInfo {
                snat_ip,
                ip: eni.ip.octets(),
                port: t.port.to_be_bytes(),
                subnet: eni.subnet as u16,
                ifindex: ifindexes[t.eni],
                eni: numbering.enis[t.eni],
                sg_set: eni_set[t.eni],
                vpc: tg.vpc as u32,
                mac: eni.mac,
                snat_subnet,
            });
        }
    }
    out.tables = maglev_tables(topo, &BTreeSet::new());
    Ok(())
}

/// Everything that has security groups and an address of its own: host ENIs
/// in order, then endpoint ENIs (each endpoint's groups, once per ENI).
fn sg_holders(topo: &Topology) -> Vec<&[usize]> {
    let mut h: Vec<&[usize]> = topo
        .enis
        .iter()
        .map(|e| e.security_groups.as_slice())
        .collect();
    for ep in &topo.services.vpc_endpoints {
        for _ in &ep.enis {
            h.push(ep.security_groups.as_slice());
        }
    }
    // HTTP VPC links: the link's groups, whose egress rules apply.
    for nlb in topo.services.nlbs.iter().filter(|n| n.vpc_link.is_some()) {
        h.push(nlb.security_groups.as_slice());
    }
    h
}

/// Is this endpoint an HTTP VPC link's integration address? It has no
/// security group of its own: every packet the API host's egress rules let
/// out may reach it.
fn is_integration(topo: &Topology, ep: &crate::model::VpcEndpoint) -> bool {
    ep.implied_by
        .is_some_and(|l| matches!(topo.services.vpc_links[l].kind, VpcLinkKind::Http { .. }))
}

/// Assigns each distinct (sorted) set of groups an id, and each holder
/// ([`sg_holders`] order) its set.
fn sg_sets(topo: &Topology) -> (Vec<Vec<usize>>, Vec<u32>) {
    let mut sets: Vec<Vec<usize>> = Vec::new();
    let mut ids: std::collections::HashMap<Vec<usize>, usize> = std::collections::HashMap::new();
    let mut eni_set = Vec::new();
    for groups in sg_holders(topo) {
        let set: Vec<usize> = groups
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Ids in order of first appearance.
        let id = *ids.entry(set.clone()).or_insert_with(|| {
            sets.push(set);
            sets.len() - 1
        });
        eni_set.push(id as u32);
    }
    (sets, eni_set)
}

fn rules_of<'a>(topo: &'a Topology, groups: &[usize], ingress: bool) -> Vec<&'a Rule> {
    groups
        .iter()
        .flat_map(|&g| {
            let sg = &topo.security_groups[g];
            if ingress {
                sg.ingress.iter()
            } else {
                sg.egress.iter()
            }
        })
        .collect()
}

/// The prefixes a rule's peer stands for: its CIDR, or the addresses of the
/// referenced group's member ENIs.
fn peer_prefixes(members: &[Vec<std::net::Ipv4Addr>], peer: &Peer) -> Vec<Ipv4Net> {
    match peer {
        Peer::Cidr(net) => vec![*net],
        Peer::SecurityGroup(g) => members[*g]
            .iter()
            .map(|ip| Ipv4Net::new(*ip, 32).expect("/32 is a valid prefix"))
            .collect(),
    }
}

/// [`sg_members`] of every group, in one pass over the topology (a group
/// referenced by many rules is resolved once, not once per rule).
fn all_sg_members(topo: &Topology) -> Vec<Vec<std::net::Ipv4Addr>> {
    let mut m = vec![Vec::new(); topo.security_groups.len()];
    let s = &topo.services;
    for e in &topo.enis {
        for &g in &e.security_groups {
            m[g].push(e.ip);
        }
    }
    for n in &s.nlbs {
        for &g in &n.security_groups {
            m[g].extend(n.nodes.iter().map(|node| node.ip));
        }
    }
    for ep in &s.vpc_endpoints {
        for &g in &ep.security_groups {
            m[g].extend(ep.enis.iter().map(|e| e.ip));
        }
    }
    m
}

/// The addresses that are members of group `g`: host ENIs, NLB nodes and
/// endpoint ENIs that carry it.
pub fn sg_members(topo: &Topology, g: usize) -> Vec<std::net::Ipv4Addr> {
    let s = &topo.services;
    let enis = topo
        .enis
        .iter()
        .filter(|e| e.security_groups.contains(&g))
        .map(|e| e.ip);
    let nodes = s
        .nlbs
        .iter()
        .filter(|n| n.security_groups.contains(&g))
        .flat_map(|n| n.nodes.iter().map(|node| node.ip));
    let endpoints = s
        .vpc_endpoints
        .iter()
        .filter(|ep| ep.security_groups.contains(&g))
        .flat_map(|ep| ep.enis.iter().map(|e| e.ip));
    enis.chain(nodes).chain(endpoints).collect()
}

/// Peer prefix -> the port (ICMP: type and code) ranges rules give it.
type PrefixRanges = BTreeMap<Ipv4Net, Vec<(u16, u16)>>;

fn compile_rules(
    topo: &Topology,
    members: &[Vec<std::net::Ipv4Addr>],
    set: u32,
    dir: u8,
    rules: &[&Rule],
) -> Result<Vec<SgEntry>> {
    // Protocols other than TCP, UDP and ICMP that a rule names: each gets
    // entries of its own with the `all` rules merged in (the kernel falls
    // back to the any-protocol entries only when none covers the peer).
    let named: BTreeSet<u8> = rules
        .iter()
        .filter_map(|r| match r.protocol {
            Protocol::Number(n) => Some(n),
            _ => None,
        })
        .collect();
    // (dir bits, proto) -> prefix -> ranges
    let mut by_proto: BTreeMap<(u8, u8), PrefixRanges> = BTreeMap::new();
    for rule in rules {
        let mut protos: Vec<(u8, u8)> = rule
            .protocol
            .ip_protocols()
            .iter()
            .map(|&p| (0, p))
            .collect();
        if rule.protocol == Protocol::All {
            protos.push((SG_DIR_ANY_PROTO, 0));
            protos.extend(named.iter().map(|&n| (0, n)));
        }
        for proto in protos {
            for prefix in peer_prefixes(members, &rule.peer) {
                by_proto
                    .entry(proto)
                    .or_default()
                    .entry(prefix.trunc())
                    .or_default()
                    .push(rule.ports);
            }
        }
    }
    let mut out = Vec::new();
    for ((bits, proto), prefixes) in by_proto {
        // The prefix lengths present: a prefix's supernets can only have these.
        let lens: BTreeSet<u8> = prefixes.keys().map(|p| p.prefix_len()).collect();
        for prefix in prefixes.keys() {
            // Push down: every rule whose peer covers this prefix applies to
            // it. The covering prefixes are its supernets: look each length
            // up instead of scanning every prefix.
            let ranges: Vec<(u16, u16)> = lens
                .range(..=prefix.prefix_len())
                .filter_map(|&len| {
                    let q = Ipv4Net::new(prefix.network(), len)
                        .expect("a length up to the prefix's own")
                        .trunc();
                    prefixes.get(&q)
                })
                .flat_map(|r| r.iter().copied())
                .collect();
            let merged = merge_ranges(ranges);
            if merged.len() > SG_MAX_RANGES {
                bail!(
                    "security groups {} allow {} separate port ranges for protocol {proto} and peer {prefix} \
                     ({}): at most {SG_MAX_RANGES} are supported; merge adjacent ranges",
                    set_name(topo, set),
                    merged.len(),
                    if dir == SG_DIR_INGRESS { "ingress" } else { "egress" },
                );
            }
            let mut ports = SgPorts {
                count: merged.len() as u32,
                ..Default::default()
            };
            for (slot, (lo, hi)) in ports.ranges.iter_mut().zip(merged) {
                *slot = PortRange { lo, hi };
            }
            out.push((
                SG_KEY_FIXED_BITS + prefix.prefix_len() as u32,
                SgKey::new(set, dir | bits, proto, prefix.network().octets()),
                ports,
            ));
        }
    }
    Ok(out)
}

fn set_name(topo: &Topology, set: u32) -> String {
    let (sets, _) = sg_sets(topo);
    sets.get(set as usize)
        .map(|s| {
            s.iter()
                .map(|&g| topo.security_groups[g].id.as_str())
                .collect::<Vec<_>>()
                .join("+")
        })
        .unwrap_or_default()
}

/// Sorts and coalesces overlapping or adjacent inclusive ranges.
pub fn merge_ranges(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
