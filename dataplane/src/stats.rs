//! Counter snapshots: per-CPU sums of drops by reason, pipeline counters,
//! per-ENI traffic and per endpoint / listener / target traffic, read from
//! the maps a running agent pinned.

use std::path::Path;

use anyhow::{Context, Result};
use aya::maps::{HashMap, Map, MapData, PerCpuArray, PerCpuHashMap};
use dataplane_common::{
    maps, nacl_stat_id, Counter, DropReason, EniCounters, FlowEntry, FlowKey, NaclStatKey,
    NatGatewayCounters, RouteStatKey, COUNTER_COUNT, COUNTER_NAMES, DROP_REASON_COUNT,
    DROP_REASON_NAMES, FLOW_F_REPLY, FLOW_STATE_CLOSING, MAX_NAT_GATEWAYS, NACL_RULE_DEFAULT,
    NAT_GATEWAY_METRICS, PROTO_TCP, ROUTE_NO_MATCH, SG_DIR_EGRESS, SG_DIR_INGRESS,
    STAT_ENDPOINT_BASE, STAT_LISTENER_BASE, STAT_TARGET_BASE,
};

use crate::model::{L4Protocol, NetworkAcl, RouteTable, RouteTarget, Topology};

/// One route-table drop counter (`HL_ROUTE_STATS`): a blackhole route, or
/// the table's "no route".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteDropName {
    /// The table's id ("vpc-a (main)" for a VPC's implied main table).
    pub table: String,
    /// The route's destination ("blackhole 192.168.0.0/16"), or "no route".
    pub route: String,
    pub key: RouteStatKey,
}

/// Every drop counter of every table (the user's, then each VPC's implied
/// main table): its blackhole and peering routes in order (a peering
/// route drops what its connection does not carry: not active, or not in
/// the peer VPC), then its "no route".
pub fn route_drops(t: &Topology) -> Vec<RouteDropName> {
    let mut tables: Vec<RouteTable> = t.route_tables.clone();
    for (v, vpc) in t.vpcs.iter().enumerate() {
        let m = RouteTable::implied_main(v, &vpc.id);
        if !tables.iter().any(|x| x.id == m.id) {
            tables.push(m);
        }
    }
    let mut out = Vec::new();
    for tb in &tables {
        let table = nacl_stat_id(tb.id.as_bytes());
        let holes = tb
            .routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r.target {
                RouteTarget::Blackhole => Some((i as u16, format!("blackhole {}", r.destination))),
                RouteTarget::Peering(p) => Some((
                    i as u16,
                    format!("{} {}", t.vpc_peerings[p].id, r.destination),
                )),
                RouteTarget::Local
                | RouteTarget::InternetGateway(_)
                | RouteTarget::NatGateway(_) => None,
            });
        for (route, name) in holes.chain([(ROUTE_NO_MATCH, "no route".to_string())]) {
            out.push(RouteDropName {
                table: tb.id.clone(),
                route: name,
                key: RouteStatKey {
                    table,
                    route,
                    _pad: 0,
                },
            });
        }
    }
    out
}

/// One network-ACL rule whose drops are counted (`HL_NACL_STATS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NaclRuleName {
    /// The ACL's id ("vpc-a (default)" for a VPC's default ACL).
    pub nacl: String,
    /// "ingress" or "egress".
    pub direction: &'static str,
    /// The rule number, or "*" for the final deny.
    pub rule: String,
    pub key: NaclStatKey,
}

/// Every rule of every ACL (the user's, then each VPC's default), each
/// direction in rule order, its final `*` last.
pub fn nacl_rules(t: &Topology) -> Vec<NaclRuleName> {
    let defaults = t
        .vpcs
        .iter()
        .enumerate()
        .map(|(v, vpc)| NetworkAcl::default_for(v, &vpc.id));
    let mut acls: Vec<NetworkAcl> = t.network_acls.clone();
    for d in defaults {
        if !acls.iter().any(|a| a.id == d.id) {
            acls.push(d);
        }
    }
    let mut out = Vec::new();
    for a in &acls {
        let nacl = nacl_stat_id(a.id.as_bytes());
        for (direction, dir, entries) in [
            ("ingress", SG_DIR_INGRESS, &a.ingress),
            ("egress", SG_DIR_EGRESS, &a.egress),
        ] {
            let rules = entries
                .iter()
                .map(|e| (e.rule, e.rule.to_string()))
                .chain([(NACL_RULE_DEFAULT, "*".to_string())]);
            for (rule, name) in rules {
                out.push(NaclRuleName {
                    nacl: a.id.clone(),
                    direction,
                    rule: name,
                    key: NaclStatKey {
                        nacl,
                        rule,
                        dir,
                        _pad: 0,
                    },
                });
            }
        }
    }
    out
}

/// The names of everything counted, in counter-index order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub enis: Vec<String>,
    /// Each ENI's `HL_ENI_STATS` slot, its interface number
    /// (`compile::Numbering::enis`), by the index of `enis`: the
    /// snapshot's `enis` are in `enis`' order whatever the numbers.
    pub eni_slots: Vec<u32>,
    pub endpoints: Vec<String>,
    /// `nlb-id:tcp/80`
    pub listeners: Vec<String>,
    /// `tg-id:eni-id:port`
    pub targets: Vec<String>,
    /// Network-ACL rules ([`nacl_rules`]).
    pub nacl_rules: Vec<NaclRuleName>,
    /// Route-table drop counters ([`route_drops`]).
    pub route_drops: Vec<RouteDropName>,
    /// The managed interfaces (`Topology::managed_interfaces`): id, kind,
    /// owner, subnet, address.
    pub managed: Vec<[String; 5]>,
    /// NAT gateway ids by gateway index (`HL_NAT_STATS` slot).
    pub nat_gateways: Vec<String>,
}

impl Layout {
    /// The layout of a lab built from `t` alone (interfaces numbered afresh).
    pub fn of(t: &Topology) -> Layout {
        Self::numbered(t, &crate::compile::Numbering::fresh(t))
    }

    /// The layout of `t` with the interface numbers `n` (the running
    /// agent's, `Compiled::numbers`).
    pub fn numbered(t: &Topology, n: &crate::compile::Numbering) -> Layout {
        let s = &t.services;
        Layout {
            enis: t.enis.iter().map(|e| e.id.clone()).collect(),
            eni_slots: n.enis.clone(),
            endpoints: s.vpc_endpoints.iter().map(|e| e.id.clone()).collect(),
            listeners: s
                .nlbs
                .iter()
                .flat_map(|n| {
                    n.listeners.iter().map(move |l| {
                        let p = match l.protocol {
                            L4Protocol::Tcp => "tcp",
                            L4Protocol::Udp => "udp",
                        };
                        format!("{}:{p}/{}", n.id, l.port)
                    })
                })
                .collect(),
            targets: s
                .target_groups
                .iter()
                .flat_map(|tg| {
                    tg.targets
                        .iter()
                        .map(move |tt| format!("{}:{}:{}", tg.id, t.enis[tt.eni].id, tt.port))
                })
                .collect(),
            nacl_rules: nacl_rules(t),
            route_drops: route_drops(t),
            nat_gateways: t
                .internet
                .nat_gateways
                .iter()
                .map(|n| n.id.clone())
                .collect(),
            managed: t
                .managed_interfaces()
                .into_iter()
                .map(|m| {
                    [
                        m.id,
                        m.kind.name().to_string(),
                        m.owner,
                        t.subnets[m.subnet].id.clone(),
                        m.ip.to_string(),
                    ]
                })
                .collect(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub drops: Vec<u64>,
    pub counters: Vec<u64>,
    /// By ENI index; tx = sent by the host, rx = delivered to it.
    pub enis: Vec<EniCounters>,
    /// By endpoint / listener / target index; tx = forward direction,
    /// rx = replies, drops = new flows refused at that object.
    pub endpoints: Vec<EniCounters>,
    pub listeners: Vec<EniCounters>,
    pub targets: Vec<EniCounters>,
    /// Packets each network-ACL rule dropped, by `Layout::nacl_rules` index.
    pub nacl_drops: Vec<u64>,
    /// Packets each route table dropped, by `Layout::route_drops` index.
    pub route_drops: Vec<u64>,
    /// Each NAT gateway's CloudWatch-named counters, by gateway index (the
    /// kernel's and the sweeper's slots summed).
    pub nat_gateways: Vec<NatGatewayCounters>,
}

fn sub(a: &EniCounters, b: &EniCounters) -> EniCounters {
    EniCounters {
        tx_packets: a.tx_packets - b.tx_packets,
        tx_bytes: a.tx_bytes - b.tx_bytes,
        rx_packets: a.rx_packets - b.rx_packets,
        rx_bytes: a.rx_bytes - b.rx_bytes,
        drops: a.drops - b.drops,
    }
}

fn add(a: EniCounters, c: &EniCounters) -> EniCounters {
    EniCounters {
        tx_packets: a.tx_packets + c.tx_packets,
        tx_bytes: a.tx_bytes + c.tx_bytes,
        rx_packets: a.rx_packets + c.rx_packets,
        rx_bytes: a.rx_bytes + c.rx_bytes,
        drops: a.drops + c.drops,
    }
}

impl Snapshot {
    pub fn drop_count(&self, r: DropReason) -> u64 {
        self.drops[r as usize]
    }
    pub fn count(&self, c: Counter) -> u64 {
        self.counters[c as usize]
    }
    /// The drop reasons with a non-zero count, as (reason code, count).
    pub fn nonzero_drops(&self) -> Vec<(usize, u64)> {
        self.drops
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, n)| n != 0)
            .collect()
    }
    /// Counters that moved from `before` to `self`.
    pub fn since(&self, before: &Snapshot) -> Snapshot {
        let subv = |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(x, y)| x - y).collect();
        let subc = |a: &[EniCounters], b: &[EniCounters]| {
            a.iter().zip(b).map(|(x, y)| sub(x, y)).collect()
        };
        Snapshot {
            drops: subv(&self.drops, &before.drops),
            counters: subv(&self.counters, &before.counters),
            enis: subc(&self.enis, &before.enis),
            endpoints: subc(&self.endpoints, &before.endpoints),
            listeners: subc(&self.listeners, &before.listeners),
            targets: subc(&self.targets, &before.targets),
            nacl_drops: subv(&self.nacl_drops, &before.nacl_drops),
            route_drops: subv(&self.route_drops, &before.route_drops),
            nat_gateways: self
                .nat_gateways
                .iter()
                .zip(&before.nat_gateways)
                .map(|(a, b)| a.combine(b, -1))
                .collect(),
        }
    }
}

fn sum_u64(map: &Map, n: u32, name: &str) -> Result<Vec<u64>> {
    let arr: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(map).with_context(|| format!("map {name}"))?;
    (0..n)
        .map(|i| {
            Ok(arr
                .get(&i, 0)
                .with_context(|| format!("reading {name}[{i}]"))?
                .iter()
                .sum())
        })
        .collect()
}

fn sum_counters(map: &Map, base: u32, n: usize, name: &str) -> Result<Vec<EniCounters>> {
    sum_slots(map, base..base + n as u32, name)
}

/// The counters of `slots`, in their order, summed over CPUs.
fn sum_slots(map: &Map, slots: impl Iterator<Item = u32>, name: &str) -> Result<Vec<EniCounters>> {
    let arr: PerCpuArray<&MapData, EniCounters> =
        PerCpuArray::try_from(map).with_context(|| format!("map {name}"))?;
    slots
        .map(|i| {
            let per_cpu = arr
                .get(&i, 0)
                .with_context(|| format!("reading {name}[{i}]"))?;
            Ok(per_cpu.iter().fold(EniCounters::default(), add))
        })
        .collect()
}

/// Each NAT gateway's counters: the kernel's slot plus the sweeper's
/// (`NAT_STATS_SLOTS`), summed over CPUs.
fn sum_nat(map: &Map, n: usize) -> Result<Vec<NatGatewayCounters>> {
    let name = maps::NAT_STATS;
    let arr: PerCpuArray<&MapData, NatGatewayCounters> =
        PerCpuArray::try_from(map).with_context(|| format!("map {name}"))?;
    (0..n as u32)
        .map(|g| {
            let mut sum = NatGatewayCounters::default();
            for i in [g, MAX_NAT_GATEWAYS + g] {
                let per_cpu = arr
                    .get(&i, 0)
                    .with_context(|| format!("reading {name}[{i}]"))?;
                sum = per_cpu.iter().fold(sum, |a, c| a.combine(c, 1));
            }
            Ok(sum)
        })
        .collect()
}

/// CloudWatch's `ActiveConnectionCount` of each of `n` NAT gateways: the
/// TCP connections through it in the flow table (HL_FLOWS, owned or
/// opened from its pin) neither closing nor closed, counted on their
/// forward entries. Walks the table (one syscall per entry), so only when
/// there is a gateway.
pub fn nat_active_connections(map: &Map, n: usize) -> Result<Vec<u64>> {
    let mut out = vec![0; n];
    if n == 0 {
        return Ok(out);
    }
    let flows: HashMap<&MapData, FlowKey, FlowEntry> =
        HashMap::try_from(map).with_context(|| format!("map {}", maps::FLOWS))?;
    for (k, e) in flows.iter().filter_map(|r| r.ok()) {
        let g = e.nat_gateway as usize;
        if k.proto == PROTO_TCP
            && e.flags & FLOW_F_REPLY == 0
            && e.state < FLOW_STATE_CLOSING
            && g < n
        {
            out[g] += 1;
        }
    }
    Ok(out)
}

/// [`nat_active_connections`] of the flow table a running agent pinned.
pub fn read_nat_active_connections(dir: &Path, n: usize) -> Result<Vec<u64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    nat_active_connections(
        &Map::HashMap(crate::pins::open_pinned(dir, maps::FLOWS)?),
        n,
    )
}

fn read_maps(get: &dyn Fn(&str) -> Result<Map>, l: &Layout) -> Result<Snapshot> {
    let objs = get(maps::OBJ_STATS)?;
    Ok(Snapshot {
        nat_gateways: sum_nat(&get(maps::NAT_STATS)?, l.nat_gateways.len())?,
        drops: sum_u64(&get(maps::DROPS)?, DROP_REASON_COUNT, maps::DROPS)?,
        counters: sum_u64(&get(maps::COUNTERS)?, COUNTER_COUNT, maps::COUNTERS)?,
        enis: sum_slots(
            &get(maps::ENI_STATS)?,
            l.eni_slots.iter().copied(),
            maps::ENI_STATS,
        )?,
        endpoints: sum_counters(
            &objs,
            STAT_ENDPOINT_BASE,
            l.endpoints.len(),
            maps::OBJ_STATS,
        )?,
        listeners: sum_counters(
            &objs,
            STAT_LISTENER_BASE,
            l.listeners.len(),
            maps::OBJ_STATS,
        )?,
        targets: sum_counters(&objs, STAT_TARGET_BASE, l.targets.len(), maps::OBJ_STATS)?,
        nacl_drops: keyed_drops(
            &get(maps::NACL_STATS)?,
            maps::NACL_STATS,
            l.nacl_rules.iter().map(|r| r.key),
        )?,
        route_drops: keyed_drops(
            &get(maps::ROUTE_STATS)?,
            maps::ROUTE_STATS,
            l.route_drops.iter().map(|r| r.key),
        )?,
    })
}

/// Each key's drops in per-CPU hash `name`, summed over CPUs (a key that
/// never dropped is absent: 0).
fn keyed_drops<K: aya::Pod>(
    map: &Map,
    name: &str,
    keys: impl Iterator<Item = K>,
) -> Result<Vec<u64>> {
    let h: PerCpuHashMap<&MapData, K, u64> =
        PerCpuHashMap::try_from(map).with_context(|| format!("map {name}"))?;
    keys.map(|k| match h.get(&k, 0) {
        Ok(v) => Ok(v.iter().sum()),
        Err(aya::maps::MapError::KeyNotFound) => Ok(0),
        Err(e) => Err(e).with_context(|| format!("reading {name}")),
    })
    .collect()
}

/// Reads the counters a running agent pinned under `dir`.
pub fn read_pinned(dir: &Path, l: &Layout) -> Result<Snapshot> {
    read_maps(
        &|name| {
            let m = crate::pins::open_pinned(dir, name)?;
            Ok(if name == maps::NACL_STATS || name == maps::ROUTE_STATS {
                Map::PerCpuHashMap(m)
            } else {
                Map::PerCpuArray(m)
            })
        },
        l,
    )
}

/// The flow table's fill level: a gauge, so it is read apart from the
/// counters of a [`Snapshot`] (which subtract).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowTable {
    /// Entries in use: two per tracked flow (forward and reply).
    pub entries: u64,
    /// The table's `max_entries`.
    pub capacity: u64,
}

/// Counts the entries of HL_FLOWS (owned, or opened from its pin). The
/// kernel keeps no count, so this walks the keys (one syscall each, well
/// under a second for a full 262,144-entry table; no values are copied).
/// Under churn the count is as of the walk, capped at the capacity.
pub fn flow_table(map: &Map) -> Result<FlowTable> {
    let Map::HashMap(data) = map else {
        anyhow::bail!("map {} is not a hash map", maps::FLOWS);
    };
    let capacity = data
        .info()
        .with_context(|| format!("reading the size of {}", maps::FLOWS))?
        .max_entries() as u64;
    let flows: HashMap<&MapData, FlowKey, FlowEntry> =
        HashMap::try_from(map).with_context(|| format!("map {}", maps::FLOWS))?;
    // A key deleted under the walk restarts it; the cap keeps a restarted
    // walk from reporting more than can be there.
    let entries = (flows.keys().filter(|k| k.is_ok()).count() as u64).min(capacity);
    Ok(FlowTable { entries, capacity })
}

/// The fill level of the flow table a running agent pinned under `dir`.
pub fn read_flow_table(dir: &Path) -> Result<FlowTable> {
    flow_table(&Map::HashMap(crate::pins::open_pinned(dir, maps::FLOWS)?))
}

/// The `FLOW TABLE` section of `dataplane stats`.
pub fn render_flow_table(f: &FlowTable) -> String {
    let pct = if f.capacity == 0 {
        0.0
    } else {
        100.0 * f.entries as f64 / f.capacity as f64
    };
    format!(
        "FLOW TABLE\n  {:<28} {:>12}\n  {:<28} {:>12}\n  {:<28} {:>11.1}%\n",
        "entries", f.entries, "capacity_entries", f.capacity, "fill", pct
    )
}

fn table(
    out: &mut String,
    title: &str,
    names: &[String],
    rows: &[EniCounters],
    tx: &str,
    rx: &str,
) {
    if names.is_empty() {
        return;
    }
    // The name column fits the longest name (28 at least), so long ids
    // (an HTTP link's implied target group) keep the numbers in line.
    let w = names.iter().map(String::len).fold(28, usize::max);
    out.push_str(&format!(
        "{title}\n  {:<w$} {:>10} {:>12} {:>10} {:>12} {:>8}\n",
        "",
        format!("{tx}_pkts"),
        format!("{tx}_bytes"),
        format!("{rx}_pkts"),
        format!("{rx}_bytes"),
        "drops"
    ));
    for (id, c) in names.iter().zip(rows) {
        out.push_str(&format!(
            "  {id:<w$} {:>10} {:>12} {:>10} {:>12} {:>8}\n",
            c.tx_packets, c.tx_bytes, c.rx_packets, c.rx_bytes, c.drops
        ));
    }
}

/// A readable table: pipeline counters, drops by reason (the reasons that
/// dropped something, or every reason with `all_drops`), per ENI, then per
/// endpoint, listener and target.
pub fn render(s: &Snapshot, l: &Layout, all_drops: bool) -> String {
    let mut out = String::new();
    out.push_str("PIPELINE\n");
    for (name, v) in COUNTER_NAMES.iter().zip(&s.counters) {
        out.push_str(&format!("  {name:<28} {v:>12}\n"));
    }
    out.push_str("DROPS\n");
    let mut shown = 0;
    // A code no reason uses (a gap) has no name and is not listed.
    let named = DROP_REASON_NAMES.iter().filter(|n| !n.is_empty()).count();
    for (name, v) in DROP_REASON_NAMES.iter().zip(&s.drops) {
        if !name.is_empty() && (all_drops || *v != 0) {
            out.push_str(&format!("  {name:<28} {v:>12}\n"));
            shown += 1;
        }
    }
    if shown < named {
        out.push_str(&format!(
            "  ({} reasons at 0{})\n",
            named - shown,
            if all_drops { "" } else { "; --all lists them" }
        ));
    }
    table(&mut out, "ENIS", &l.enis, &s.enis, "tx", "rx");
    table(
        &mut out,
        "ENDPOINTS",
        &l.endpoints,
        &s.endpoints,
        "fwd",
        "reply",
    );
    table(
        &mut out,
        "LISTENERS",
        &l.listeners,
        &s.listeners,
        "fwd",
        "reply",
    );
    table(&mut out, "TARGETS", &l.targets, &s.targets, "fwd", "reply");
    // Network-ACL rules that dropped something (the deciding rule of each
    // nacl_ingress_deny / nacl_egress_deny).
    let dropped: Vec<(&NaclRuleName, u64)> = l
        .nacl_rules
        .iter()
        .zip(&s.nacl_drops)
        .filter(|(_, &n)| n != 0)
        .map(|(r, &n)| (r, n))
        .collect();
    if !dropped.is_empty() {
        out.push_str("NACL DROPS\n");
        for (r, n) in dropped {
            let name = format!("{} {} rule {}", r.nacl, r.direction, r.rule);
            let w = name.len().max(28);
            out.push_str(&format!("  {name:<w$} {n:>12}\n"));
        }
    }
    // Route tables that dropped something (route_blackhole per route,
    // no_route per table).
    let dropped: Vec<(&RouteDropName, u64)> = l
        .route_drops
        .iter()
        .zip(&s.route_drops)
        .filter(|(_, &n)| n != 0)
        .map(|(r, &n)| (r, n))
        .collect();
    if !dropped.is_empty() {
        out.push_str("ROUTE DROPS\n");
        for (r, n) in dropped {
            let name = format!("{} {}", r.table, r.route);
            let w = name.len().max(28);
            out.push_str(&format!("  {name:<w$} {n:>12}\n"));
        }
    }
    nat_section(&mut out, &l.nat_gateways, &s.nat_gateways);
    managed_section(&mut out, &l.managed);
    out
}

/// The `NAT GATEWAYS` section: each gateway's counters by CloudWatch name.
fn nat_section(out: &mut String, names: &[String], rows: &[NatGatewayCounters]) {
    if names.is_empty() {
        return;
    }
    out.push_str("NAT GATEWAYS\n");
    for (id, c) in names.iter().zip(rows) {
        out.push_str(&format!("  {id}\n"));
        for (metric, v) in NAT_GATEWAY_METRICS.iter().zip(c.values()) {
            out.push_str(&format!("    {metric:<26} {v:>12}\n"));
        }
    }
}

/// The `MANAGED INTERFACES` section: the interfaces AWS services create
/// (endpoint ENIs, NLB nodes, HTTP VPC link ENIs) with the ids their flow
/// log records carry; the kernel counts their traffic on their endpoint,
/// listener or target, so there are no numbers here.
fn managed_section(out: &mut String, rows: &[[String; 5]]) {
    if rows.is_empty() {
        return;
    }
    let head = ["id", "kind", "owner", "subnet", "ip"];
    let w: Vec<usize> = (0..5)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .fold(head[c].len(), usize::max)
        })
        .collect();
    out.push_str("MANAGED INTERFACES\n");
    for r in std::iter::once(&head.map(String::from)).chain(rows) {
        let line = format!(
            "  {:<w0$} {:<w1$} {:<w2$} {:<w3$} {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            drops: vec![0; DROP_REASON_COUNT as usize],
            counters: vec![0; COUNTER_COUNT as usize],
            enis: vec![EniCounters {
                tx_packets: 3,
                tx_bytes: 300,
                rx_packets: 2,
                rx_bytes: 200,
                drops: 1,
            }],
            endpoints: vec![EniCounters {
                tx_packets: 5,
                ..Default::default()
            }],
            listeners: vec![],
            targets: vec![],
            nacl_drops: vec![],
            route_drops: vec![],
            nat_gateways: vec![],
        }
    }

    /// The layout of vpc-a (10.0.0.0/16) with subnet s1 (10.0.1.0/24) and
    /// `table`, a route table or network ACL of s1.
    fn layout_with(table: &str) -> Layout {
        use crate::config::test_support::{parsed, subnet, vpc};
        let src = vpc("vpc-a", "10.0.0.0/16") + &subnet("s1", "vpc-a", "10.0.1.0/24", "az1");
        Layout::of(&parsed(&(src + table)))
    }

    /// `render`'s section `title` (to the end) for `snap()` changed by `set`.
    fn section(l: &Layout, title: &str, set: impl FnOnce(&mut Snapshot)) -> String {
        let mut s = snap();
        set(&mut s);
        let text = render(&s, l, false);
        text[text.find(&format!("{title}\n")).expect(&text)..].to_string()
    }

    /// `NAT GATEWAYS`: each gateway's counters under their CloudWatch
    /// names, after the other sections but the managed interfaces.
    #[test]
    fn nat_gateways_are_listed_with_their_cloudwatch_names() {
        let mut s = snap();
        s.nat_gateways = vec![NatGatewayCounters::from_values([
            10, 1000, 9, 900, 8, 800, 7, 700, 3, 2, 1, 1, 4,
        ])];
        let l = Layout {
            nat_gateways: vec!["nat-a".into()],
            ..Default::default()
        };
        let text = render(&s, &l, false);
        let section = &text[text.find("NAT GATEWAYS\n").expect("the section")..];
        assert_eq!(
            section,
            "NAT GATEWAYS\n  nat-a\n\
             \x20   PacketsInFromSource                  10\n\
             \x20   BytesInFromSource                  1000\n\
             \x20   PacketsOutToDestination               9\n\
             \x20   BytesOutToDestination               900\n\
             \x20   PacketsInFromDestination              8\n\
             \x20   BytesInFromDestination              800\n\
             \x20   PacketsOutToSource                    7\n\
             \x20   BytesOutToSource                    700\n\
             \x20   ConnectionAttemptCount                3\n\
             \x20   ConnectionEstablishedCount            2\n\
             \x20   PacketsDropCount                      1\n\
             \x20   ErrorPortAllocation                   1\n\
             \x20   IdleTimeoutCount                      4\n"
        );
        // No gateway, no section.
        assert!(!render(&s, &Layout::default(), true).contains("NAT GATEWAYS"));
    }

    #[test]
    fn nacl_drops_are_listed_by_acl_direction_and_rule() {
        let l = layout_with(
            r#"
[[network_acl]]
id = "acl-web"
vpc = "vpc-a"
subnets = ["s1"]
ingress = [{ rule = 100, action = "deny", protocol = "tcp", ports = 22, cidr = "0.0.0.0/0" }]
"#,
        );
        let names: Vec<String> = l
            .nacl_rules
            .iter()
            .map(|r| format!("{} {} {}", r.nacl, r.direction, r.rule))
            .collect();
        assert_eq!(
            names,
            [
                "acl-web ingress 100",
                "acl-web ingress *",
                "acl-web egress *",
                "vpc-a (default) ingress 100",
                "vpc-a (default) ingress *",
                "vpc-a (default) egress 100",
                "vpc-a (default) egress *",
            ]
        );
        assert_eq!(
            section(&l, "NACL DROPS", |s| s.nacl_drops = vec![3, 0, 1, 0, 0, 0, 0]),
            "NACL DROPS\n  acl-web ingress rule 100                3\n  acl-web egress rule *                   1\n"
        );
    }

    #[test]
    fn route_drops_are_listed_by_table_and_route() {
        let l = layout_with(&crate::config::test_support::route_table(
            "rtb-1",
            "vpc-a",
            "subnets = [\"s1\"]\n",
            &[("10.0.0.0/16", "local"), ("192.168.0.0/16", "blackhole")],
        ));
        let names: Vec<String> = l
            .route_drops
            .iter()
            .map(|r| format!("{} {} {:#x}", r.table, r.route, r.key.route))
            .collect();
        // The written local route is not kept: the blackhole is route 0.
        assert_eq!(
            names,
            [
                "rtb-1 blackhole 192.168.0.0/16 0x0",
                "rtb-1 no route 0xfffe",
                "vpc-a (main) no route 0xfffe",
            ]
        );
        assert_eq!(
            section(&l, "ROUTE DROPS", |s| s.route_drops = vec![4, 0, 2]),
            "ROUTE DROPS\n  rtb-1 blackhole 192.168.0.0/16            4\n  vpc-a (main) no route                   2\n"
        );
    }

    #[test]
    fn render_lists_every_reason_eni_and_endpoint() {
        let mut s = snap();
        s.drops[DropReason::IngressSgDeny as usize] = 7;
        let l = Layout {
            enis: vec!["eni-a".into()],
            endpoints: vec!["vpce-1".into()],
            ..Default::default()
        };
        let text = render(&s, &l, true);
        assert!(
            text.contains("\n  ingress_sg_deny                         7\n"),
            "{text}"
        );
        // By default only the reasons that dropped something.
        let short = render(&s, &l, false);
        let drops = &short[short.find("DROPS\n").unwrap()..short.find("ENIS\n").unwrap()];
        assert_eq!(
            drops,
            format!(
                "DROPS\n  ingress_sg_deny                         7\n  ({} reasons at 0; \
                 --all lists them)\n",
                DropReason::ALL.len() - 1
            )
        );
        assert!(
            text.contains("\n  eni-a                                 3          300          2          200        1\n"),
            "{text}"
        );
        assert!(text.contains("ENDPOINTS\n"), "{text}");
        assert!(
            text.contains("\n  vpce-1                                5            0"),
            "{text}"
        );
        assert!(
            !text.contains("LISTENERS") && !text.contains("NACL DROPS"),
            "empty sections are left out: {text}"
        );
        // A name longer than the column widens it for every row.
        let long = Layout {
            enis: vec![
                "eni-a".into(),
                "vpclink-http-int-web-targets:eni-web:80".into(),
            ],
            ..Default::default()
        };
        let mut s2 = snap();
        s2.enis.push(s2.enis[0]);
        let wide = render(&s2, &long, false);
        let ends: Vec<usize> = wide
            .lines()
            .skip_while(|l| *l != "ENIS")
            .skip(1)
            .take(3)
            .map(str::len)
            .collect();
        assert_eq!(ends, [98, 98, 98], "{wide}");
        assert_eq!(
            text.lines().count(),
            1 + COUNTER_COUNT as usize + 1 + DropReason::ALL.len() + 2 + 1 + 2 + 1
        );
    }

    #[test]
    fn managed_interfaces_are_listed_with_their_ids() {
        let topo = crate::config::parse_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../configs/privatelink.toml"
            ))
            .unwrap(),
            "privatelink.toml",
        )
        .unwrap();
        let l = Layout::of(&topo);
        let text = render(&snap(), &l, false);
        let section = &text[text.find("MANAGED INTERFACES\n").unwrap()..];
        let id = crate::model::managed_eni_id;
        let (e1, e2, e3) = (
            id("vpce-web", "subnet-consumer1"),
            id("vpce-web", "subnet-consumer2"),
            id("vpce-pending", "subnet-consumer1"),
        );
        let (n1, n2) = (
            id("nlb-web", "subnet-provider1"),
            id("nlb-web", "subnet-provider2"),
        );
        assert_eq!(
            section,
            format!(
                "MANAGED INTERFACES\n\
                 \x20 id                    kind         owner        subnet           ip\n\
                 \x20 {e1} endpoint ENI vpce-web     subnet-consumer1 10.0.1.100\n\
                 \x20 {e2} endpoint ENI vpce-web     subnet-consumer2 10.0.2.100\n\
                 \x20 {e3} endpoint ENI vpce-pending subnet-consumer1 10.0.1.101\n\
                 \x20 {n1} NLB node     nlb-web      subnet-provider1 10.0.1.50\n\
                 \x20 {n2} NLB node     nlb-web      subnet-provider2 10.0.2.50\n"
            )
        );
    }

    #[test]
    fn flow_table_section_shows_entries_capacity_and_fill() {
        let text = render_flow_table(&FlowTable {
            entries: 6,
            capacity: 262_144,
        });
        assert_eq!(
            text,
            "FLOW TABLE\n  entries                                 6\n  capacity_entries                   262144\n  fill                                 0.0%\n"
        );
        let text = render_flow_table(&FlowTable {
            entries: 3,
            capacity: 4,
        });
        assert!(
            text.ends_with("\n  fill                                75.0%\n"),
            "{text}"
        );
    }

    #[test]
    fn since_subtracts_fieldwise() {
        let a = snap();
        let mut b = snap();
        b.enis[0].tx_packets = 1;
        b.endpoints[0].tx_packets = 2;
        let d = a.since(&b);
        assert_eq!(d.enis[0].tx_packets, 2);
        assert_eq!(d.endpoints[0].tx_packets, 3);
        assert_eq!(d.enis[0].rx_packets, 0);
    }
}
