//! `delta`: what a reload writes, computed once.
//!
//! Pure: two compilations in, the entries to write and remove out. A reload
//! brings the standby generation from the old configuration to the new one,
//! switches, then brings the former active generation along too (see
//! `Dataplane::sync`). Both steps write the same difference, once in each
//! generation's ids, so it is computed once ([`Delta::between`]) and moved
//! into the other generation ([`Delta::at`]) instead of diffing two whole
//! copies of the configuration per step.
//!
//! Every entry of a [`Delta`] is final: its keys, values and array slots
//! are already in the generation's ids, so the loader writes them as they
//! are ([`steps`] says in which order) and never computes an id itself.

use std::collections::HashMap;

use anyhow::{bail, Result};
use std::hash::Hash;

use dataplane_common::{
    EndpointInfo, EniInfo, EniKey, ListenerInfo, ListenerKey, PortInfo, SubnetNacls, SubnetRoute,
    TargetInfo, MAGLEV_SIZE, NO_TARGET,
};

use crate::compile::{
    self, Compiled, NaclCidrEntry, NaclRuleEntry, PublicIpEntry, RouteEntry, SgEntry, Shift,
};

/// Entries of one keyed map (hash or LPM trie) to write, and to remove.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Keyed<T> {
    pub ups: Vec<T>,
    /// The removed entries as the map held them (their keys are removed).
    pub gone: Vec<T>,
}

impl<T: Copy> Keyed<T> {
    fn map(&self, f: impl Fn(T) -> T) -> Keyed<T> {
        Keyed {
            ups: self.ups.iter().map(|&x| f(x)).collect(),
            gone: self.gone.iter().map(|&x| f(x)).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.ups.len() + self.gone.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What brings one generation's map entries from one configuration to
/// another.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Delta {
    /// The generation whose ids the entries carry.
    pub generation: u32,
    pub sg_rules: Keyed<SgEntry>,
    /// Array slots (`HL_TARGETS` indices, in the generation's half) with
    /// their new values (the default value clears a slot).
    pub targets: Vec<(u32, TargetInfo)>,
    /// `HL_ENDPOINTS` slots, likewise.
    pub endpoints: Vec<(u32, EndpointInfo)>,
    /// Every Maglev table of the generation by table id (`HL_MAGLEV` table,
    /// in the generation's half), written whole (health checks rewrite
    /// slots of both generations between reloads); a removed table is all
    /// empty.
    pub tables: Vec<(u32, Vec<u32>)>,
    pub listeners: Keyed<(ListenerKey, ListenerInfo)>,
    pub enis: Keyed<(EniKey, EniInfo)>,
    pub ports: Keyed<(u32, PortInfo)>,
    /// `HL_NACL_SUBNETS` slots (in the generation's half) with their new values.
    pub nacl_subnets: Vec<(u32, SubnetNacls)>,
    pub nacl_cidrs: Keyed<NaclCidrEntry>,
    pub nacl_rules: Keyed<NaclRuleEntry>,
    /// `HL_RT_SUBNETS` slots (in the generation's half) with their new values.
    pub route_subnets: Vec<(u32, SubnetRoute)>,
    pub routes: Keyed<RouteEntry>,
    pub public_ips: Keyed<PublicIpEntry>,
}

impl Delta {
    /// From `old` (`None`: empty maps; any generation) to `new`, in `new`'s
    /// generation.
    pub fn between(old: Option<&Compiled>, new: &Compiled) -> Delta {
        let empty = Compiled {
            generation: new.generation,
            ..Default::default()
        };
        let old = old.unwrap_or(&empty);
        let s = Shift::new(old.generation, new.generation);
        let g = new.generation;
        let tables = (0..old.tables.len().max(new.tables.len()))
            .map(|id| {
                let table = new
                    .tables
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| vec![NO_TARGET; MAGLEV_SIZE as usize]);
                (compile::table_base(g) + id as u32, table)
            })
            .collect();
        Delta {
            generation: g,
            sg_rules: keyed_diff(&old.sg_rules, &new.sg_rules, |e| (e.0, e.1), |e| s.sg(e)),
            targets: array_diff(&old.targets, &new.targets, |t| s.target(t))
                .into_iter()
                .map(|(i, t)| (compile::target_base(g) + i, t))
                .collect(),
            endpoints: array_diff(&old.endpoints, &new.endpoints, |e| s.endpoint(e))
                .into_iter()
                .map(|(i, e)| (compile::endpoint_base(g) + i, e))
                .collect(),
            tables,
            listeners: keyed_diff(&old.listeners, &new.listeners, |e| e.0, |e| s.listener(e)),
            enis: keyed_diff(&old.enis, &new.enis, |e| e.0, |e| s.eni(e)),
            ports: keyed_diff(&old.ports, &new.ports, |e| e.0, |e| s.port(e)),
            nacl_subnets: array_diff(&old.nacl_subnets, &new.nacl_subnets, |n| s.subnet_nacls(n))
                .into_iter()
                .map(|(i, n)| (compile::subnet_base(g) + i, n))
                .collect(),
            nacl_cidrs: keyed_diff(
                &old.nacl_cidrs,
                &new.nacl_cidrs,
                |e| (e.0, e.1),
                |e| s.nacl_cidr(e),
            ),
            nacl_rules: keyed_diff(
                &old.nacl_rules,
                &new.nacl_rules,
                |e| (e.0, e.1),
                |e| s.nacl_rule(e),
            ),
            route_subnets: array_diff(&old.route_subnets, &new.route_subnets, |r| {
                s.subnet_route(r)
            })
            .into_iter()
            .map(|(i, r)| (compile::subnet_base(g) + i, r))
            .collect(),
            routes: keyed_diff(&old.routes, &new.routes, |e| (e.0, e.1), |e| s.route(e)),
            public_ips: keyed_diff(
                &old.public_ips,
                &new.public_ips,
                |e| e.0,
                |e| s.public_ip(e),
            ),
        }
    }

    /// The same difference in generation `g`'s ids. A cleared array slot
    /// (the default value) stays cleared: it holds no id to move.
    pub fn at(&self, g: u32) -> Delta {
        let s = Shift::new(self.generation, g);
        let target = |t: TargetInfo| {
            if t == TargetInfo::default() {
                t
            } else {
                s.target(t)
            }
        };
        let endpoint = |e: EndpointInfo| {
            if e == EndpointInfo::default() {
                e
            } else {
                s.endpoint(e)
            }
        };
        Delta {
            generation: g,
            sg_rules: self.sg_rules.map(|e| s.sg(e)),
            targets: self
                .targets
                .iter()
                .map(|&(i, t)| (s.target_slot(i), target(t)))
                .collect(),
            endpoints: self
                .endpoints
                .iter()
                .map(|&(i, e)| (s.endpoint_slot(i), endpoint(e)))
                .collect(),
            tables: self
                .tables
                .iter()
                .map(|(id, t)| {
                    (
                        s.table_id(*id),
                        t.iter().map(|&x| s.table_slot(x)).collect(),
                    )
                })
                .collect(),
            listeners: self.listeners.map(|e| s.listener(e)),
            enis: self.enis.map(|e| s.eni(e)),
            ports: self.ports.map(|e| s.port(e)),
            nacl_subnets: self
                .nacl_subnets
                .iter()
                .map(|&(i, n)| (s.subnet_slot(i), s.subnet_nacls(n)))
                .collect(),
            nacl_cidrs: self.nacl_cidrs.map(|e| s.nacl_cidr(e)),
            nacl_rules: self.nacl_rules.map(|e| s.nacl_rule(e)),
            route_subnets: self
                .route_subnets
                .iter()
                .map(|&(i, r)| (s.subnet_slot(i), s.subnet_route(r)))
                .collect(),
            routes: self.routes.map(|e| s.route(e)),
            public_ips: self.public_ips.map(|e| s.public_ip(e)),
        }
    }

    /// Keyed entries and array slots to write or remove (tables not counted).
    pub fn entries(&self) -> usize {
        self.sg_rules.len()
            + self.targets.len()
            + self.endpoints.len()
            + self.listeners.len()
            + self.enis.len()
            + self.ports.len()
            + self.nacl_subnets.len()
            + self.nacl_cidrs.len()
            + self.nacl_rules.len()
            + self.route_subnets.len()
            + self.routes.len()
            + self.public_ips.len()
    }
}

/// One step of bringing the maps to a new configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Write one generation's difference (entries in its ids).
    Write(Box<Delta>),
    /// Switch `HL_ACTIVE` to this generation.
    Activate(u32),
}

/// Pure: the steps that bring maps holding `old` (in both generations: the
/// standby one mirrors the active one; `None`: empty maps) to `new`, with
/// the standby mirroring the new active one afterwards. `new` must be of
/// the other generation than `old`.
///
/// From empty maps: write the standby generation, then the new one, then
/// switch. A reload: bring the standby generation (`new`'s) to `new`,
/// switch to it, then bring the former active one along. The difference is
/// computed once ([`Delta::between`]) and moved ([`Delta::at`]).
pub fn steps(new: &Compiled, old: Option<&Compiled>) -> Result<Vec<Step>> {
    let Some(old) = old else {
        let d = Delta::between(None, new);
        return Ok(vec![
            Step::Write(Box::new(d.at(1 - new.generation))),
            Step::Write(Box::new(d)),
            Step::Activate(new.generation),
        ]);
    };
    if old.generation == new.generation {
        bail!("sync: the new configuration must be of the other generation");
    }
    let d = Delta::between(Some(old), new);
    let back = d.at(old.generation);
    Ok(vec![
        Step::Write(Box::new(d)),
        Step::Activate(new.generation),
        Step::Write(Box::new(back)),
    ])
}

/// The slots of array `to` that differ from `from` (moved by `shift` into
/// `to`'s generation), and the default value for slots `to` no longer uses.
fn array_diff<V: Copy + PartialEq + Default>(
    from: &[V],
    to: &[V],
    shift: impl Fn(V) -> V,
) -> Vec<(u32, V)> {
    (0..from.len().max(to.len()))
        .filter_map(|i| {
            let want = to.get(i).copied().unwrap_or_default();
            (from.get(i).map(|&v| shift(v)) != Some(want)).then_some((i as u32, want))
        })
        .collect()
}

/// Pure: what turns keyed entries `from` (moved by `shift` into `to`'s
/// generation) into `to`: the entries to write (new, or with another value)
/// and those whose keys to remove. Keys are unique on each side. The common
/// head and tail (compilations list entries in a stable order: a reload
/// that changes one rule changes a few entries in the middle) are compared
/// in place; only what lies between is matched by key.
pub fn keyed_diff<T, K>(
    from: &[T],
    to: &[T],
    key: impl Fn(&T) -> K,
    shift: impl Fn(T) -> T,
) -> Keyed<T>
where
    T: Copy + PartialEq,
    K: Eq + Hash,
{
    let mut out = Keyed {
        ups: Vec::new(),
        gone: Vec::new(),
    };
    let n = from.len().min(to.len());
    let mut head = 0;
    while head < n {
        let (a, b) = (shift(from[head]), to[head]);
        if key(&a) != key(&b) {
            break;
        }
        if a != b {
            out.ups.push(b);
        }
        head += 1;
    }
    let mut tail = 0;
    while tail < n - head {
        let (a, b) = (shift(from[from.len() - 1 - tail]), to[to.len() - 1 - tail]);
        if key(&a) != key(&b) {
            break;
        }
        if a != b {
            out.ups.push(b);
        }
        tail += 1;
    }
    let (from, to) = (&from[head..from.len() - tail], &to[head..to.len() - tail]);
    if from.is_empty() && to.is_empty() {
        return out;
    }
    let before: HashMap<K, T> = from
        .iter()
        .map(|&e| shift(e))
        .map(|e| (key(&e), e))
        .collect();
    let after: HashMap<K, &T> = to.iter().map(|e| (key(e), e)).collect();
    out.ups.extend(
        to.iter()
            .filter(|e| before.get(&key(e)) != Some(e))
            .copied(),
    );
    out.gone.extend(
        from.iter()
            .map(|&e| shift(e))
            .filter(|e| !after.contains_key(&key(e))),
    );
    out
}

#[cfg(test)]
mod tests {
    use dataplane_common::{
        PortRange, SgKey, SgPorts, PROTO_TCP, SG_DIR_INGRESS, SG_KEY_FIXED_BITS,
    };

    use super::*;
    use crate::compile;
    use crate::model::{Ipv4Net, Peer, Protocol, Rule};

    fn diff(from: &[(u32, u32)], to: &[(u32, u32)]) -> (Vec<(u32, u32)>, Vec<u32>) {
        let d = keyed_diff(from, to, |e| e.0, |e| e);
        let mut ups = d.ups;
        let mut gone: Vec<u32> = d.gone.iter().map(|e| e.0).collect();
        ups.sort();
        gone.sort();
        (ups, gone)
    }

    #[test]
    fn keyed_diff_writes_what_differs_and_removes_what_is_gone() {
        // Same keys in the same order: values only.
        assert_eq!(
            diff(&[(1, 10), (2, 20), (3, 30)], &[(1, 10), (2, 21), (3, 30)]),
            (vec![(2, 21)], vec![])
        );
        // Keys added, removed and changed, in another order.
        assert_eq!(
            diff(&[(1, 10), (2, 20), (3, 30)], &[(3, 31), (4, 40), (1, 10)]),
            (vec![(3, 31), (4, 40)], vec![2])
        );
        // One entry inserted in the middle, one changed in the head and
        // one in the tail.
        assert_eq!(
            diff(
                &[(1, 10), (2, 20), (3, 30), (4, 40)],
                &[(1, 11), (2, 20), (9, 90), (3, 30), (4, 41)]
            ),
            (vec![(1, 11), (4, 41), (9, 90)], vec![])
        );
        // One removed from the middle.
        assert_eq!(
            diff(&[(1, 10), (2, 20), (3, 30)], &[(1, 10), (3, 30)]),
            (vec![], vec![2])
        );
        // From nothing: everything is written; to nothing: all removed.
        assert_eq!(diff(&[], &[(7, 1)]), (vec![(7, 1)], vec![]));
        assert_eq!(diff(&[(7, 1)], &[]), (vec![], vec![7]));
        assert_eq!(diff(&[], &[]), (vec![], vec![]));
    }

    #[test]
    fn keyed_diff_compares_entries_moved_into_the_new_generation() {
        // `shift` adds 100 to keys and values: equal after the move.
        let d = keyed_diff(
            &[(1u32, 10u32), (2, 20)],
            &[(101, 110), (102, 121)],
            |e| e.0,
            |e| (e.0 + 100, e.1 + 100),
        );
        assert_eq!(d.ups, vec![(102, 121)]);
        assert!(d.gone.is_empty());
    }

    /// The difference computed once and moved into the other generation is
    /// what diffing whole copies in each generation gives.
    #[test]
    fn delta_at_the_other_generation_equals_the_diff_computed_there() {
        let t = compile::tests::topo();
        let mut changed = t.clone();
        changed.security_groups[0].ingress.push(Rule {
            protocol: Protocol::Tcp,
            ports: (8080, 8081),
            peer: Peer::Cidr("192.168.7.0/24".parse::<Ipv4Net>().unwrap()),
        });
        let old = compile::compile(&t, &[11, 12, 13]).unwrap();
        let new = compile::compile(&changed, &[11, 12, 13]).unwrap().rebase(1);
        let d = Delta::between(Some(&old), &new);
        // Exactly one new LPM entry: the client's set (in generation 1),
        // ingress, tcp, 192.168.7.0/24, ports 8080-8081; nothing else.
        let mut ports = SgPorts {
            count: 1,
            ..Default::default()
        };
        ports.ranges[0] = PortRange { lo: 8080, hi: 8081 };
        let client_set = new.ports[0].1.sg_set;
        assert_eq!(
            d.sg_rules.ups,
            vec![(
                SG_KEY_FIXED_BITS + 24,
                SgKey::new(client_set, SG_DIR_INGRESS, PROTO_TCP, [192, 168, 7, 0]),
                ports
            )]
        );
        assert!(d.sg_rules.gone.is_empty());
        assert_eq!(d.entries(), 1);
        assert_eq!(d.generation, 1);
        // The reference: diff of whole copies, in each generation.
        assert_eq!(d, Delta::between(Some(&old.at(1)), &new));
        assert_eq!(d.at(0), Delta::between(Some(&old), &new.at(0)));
        // No change: nothing but the (whole) tables to write.
        let same = Delta::between(Some(&old), &old.at(1));
        assert_eq!(same.entries(), 0);
        assert_eq!(same.tables.len(), old.tables.len());
        // From empty maps: every entry.
        let full = Delta::between(None, &old);
        assert_eq!(full.sg_rules.ups.len(), old.sg_rules.len());
        assert_eq!(full.ports.ups.len(), old.ports.len());
        assert_eq!(full.targets.len(), old.targets.len());
    }

    /// A network-ACL change: the subnet slot (in the new generation's
    /// half, with the new generation's ids) and the new LPM entries are
    /// written; moved into the other generation it equals diffing there.
    #[test]
    fn a_network_acl_change_moves_its_entries_and_subnet_slots_between_generations() {
        use crate::model::{AclEntry, NetworkAcl};
        let mut t = compile::tests::topo();
        t.network_acls = vec![
            NetworkAcl::default_for(0, "vpc-a"),
            NetworkAcl::default_for(1, "vpc-b"),
        ];
        t.subnet_nacls = vec![0, 1];
        let mut changed = t.clone();
        changed.network_acls.push(NetworkAcl {
            id: "acl-1".into(),
            vpc: 0,
            default: false,
            ingress: vec![AclEntry::new(
                100,
                true,
                Protocol::Tcp,
                (443, 443),
                "10.0.0.0/16".parse().unwrap(),
            )],
            egress: vec![],
        });
        changed.subnet_nacls = vec![2, 1];
        let old = compile::compile(&t, &[11, 12, 13]).unwrap();
        let new = compile::compile(&changed, &[11, 12, 13]).unwrap().rebase(1);
        assert!(old.nacl_cidrs.is_empty(), "default ACLs need no entries");
        let d = Delta::between(Some(&old), &new);
        assert_eq!(d.nacl_subnets.len(), 1, "only subnet 0 changed");
        let (slot, n) = d.nacl_subnets[0];
        assert_eq!(slot, compile::subnet_base(1));
        assert_eq!(n.ingress.acl, compile::NACL_GENERATION_STRIDE + 1);
        assert_eq!(d.nacl_cidrs.ups.len(), new.nacl_cidrs.len());
        assert_eq!(d.nacl_rules.ups.len(), new.nacl_rules.len());
        assert!(d
            .nacl_cidrs
            .ups
            .iter()
            .all(
                |(_, k, c)| u32::from_be_bytes(k.acl) > compile::NACL_GENERATION_STRIDE
                    && *c > compile::NACL_GENERATION_STRIDE
            ));
        assert_eq!(d, Delta::between(Some(&old.at(1)), &new));
        assert_eq!(d.at(0), Delta::between(Some(&old), &new.at(0)));
        // Back: the entries go, the slot returns to the default.
        let back = Delta::between(Some(&new), &old.at(0));
        assert_eq!(back.nacl_cidrs.gone.len(), new.nacl_cidrs.len());
        assert_eq!(back.nacl_subnets, vec![(0, old.nacl_subnets[0])]);
    }

    /// A route-table change: the subnet slot and the new table's routes
    /// are written in the new generation's ids, the old table's removed;
    /// moved into the other generation it equals diffing there.
    #[test]
    fn a_route_table_change_moves_its_routes_and_subnet_slots_between_generations() {
        use crate::model::{Route, RouteTable, RouteTarget};
        use dataplane_common::{RouteInfo, RouteKey, ROUTE_TARGET_BLACKHOLE};
        let t = compile::tests::topo();
        let mut changed = t.clone();
        changed.route_tables = vec![
            RouteTable {
                id: "rtb-1".into(),
                vpc: 0,
                main: true,
                routes: vec![Route {
                    destination: "192.168.0.0/16".parse().unwrap(),
                    target: RouteTarget::Blackhole,
                }],
            },
            RouteTable::implied_main(1, "vpc-b"),
        ];
        changed.subnet_routes = vec![0, 1];
        let old = compile::compile(&t, &[11, 12, 13]).unwrap();
        let new = compile::compile(&changed, &[11, 12, 13]).unwrap().rebase(1);
        let d = Delta::between(Some(&old), &new);
        let id = compile::ROUTE_GENERATION_STRIDE + 1;
        assert_eq!(
            d.route_subnets,
            vec![(
                compile::subnet_base(1),
                SubnetRoute {
                    table: id,
                    stat: dataplane_common::nacl_stat_id(b"rtb-1"),
                }
            )],
            "only subnet 0 changed table"
        );
        let blackhole = (
            48,
            RouteKey::new(id, [192, 168, 0, 0]),
            RouteInfo {
                target: ROUTE_TARGET_BLACKHOLE,
                route: 0,
                ..RouteInfo::default()
            },
        );
        // Table 1's local route is the same entry in both (same id, same
        // CIDR, same target): only the blackhole route is new.
        assert_eq!(d.routes.ups, vec![blackhole]);
        assert!(d.routes.gone.is_empty());
        assert_eq!(d, Delta::between(Some(&old.at(1)), &new));
        assert_eq!(d.at(0), Delta::between(Some(&old), &new.at(0)));
        let back = Delta::between(Some(&new), &old.at(0));
        assert_eq!(back.routes.gone.len(), 1);
        assert_eq!(back.route_subnets, vec![(0, old.route_subnets[0])]);
    }

    /// The default topology (load balancers, PrivateLink): every kind of
    /// array slot and Maglev table is used.
    fn default_compiled() -> Compiled {
        let t = crate::config::parse_str(crate::config::DEFAULT_CONFIG, "default.toml").unwrap();
        let n = crate::lab::plan(&t).ports.len() as u32;
        let ifx: Vec<u32> = (10..10 + n).collect();
        compile::compile(&t, &ifx).unwrap()
    }

    /// Every slot and table id of a delta lies in its generation's half
    /// of its map: the loader writes them as they are.
    fn assert_in_own_half(d: &Delta) {
        let g = d.generation;
        let half = |base: u32, stride: u32| base..base + stride;
        let targets = half(compile::target_base(g), compile::TARGET_GENERATION_STRIDE);
        let endpoints = half(
            compile::endpoint_base(g),
            compile::ENDPOINT_GENERATION_STRIDE,
        );
        let tables = half(compile::table_base(g), compile::TABLE_GENERATION_STRIDE);
        assert!(d.targets.iter().all(|(i, _)| targets.contains(i)), "{g}");
        assert!(d.endpoints.iter().all(|(i, _)| endpoints.contains(i)));
        assert!(d.tables.iter().all(|(id, _)| tables.contains(id)));
    }

    #[test]
    fn a_delta_carries_the_slots_and_table_ids_of_its_generation() {
        let c0 = default_compiled();
        assert!(!c0.targets.is_empty() && !c0.endpoints.is_empty() && !c0.tables.is_empty());
        let c1 = c0.at(1);
        for (d, c) in [
            (Delta::between(None, &c0), &c0),
            (Delta::between(None, &c1), &c1),
        ] {
            assert_in_own_half(&d);
            // From empty maps: slot i of the compilation at base + i.
            let want: Vec<(u32, TargetInfo)> = c
                .targets
                .iter()
                .enumerate()
                .map(|(i, t)| (c.target_base() + i as u32, *t))
                .collect();
            assert_eq!(d.targets, want);
            let ids: Vec<u32> = d.tables.iter().map(|(id, _)| *id).collect();
            let want: Vec<u32> = (0..c.tables.len() as u32)
                .map(|id| c.table_base() + id)
                .collect();
            assert_eq!(ids, want);
            let tables: Vec<Vec<u32>> = d.tables.iter().map(|(_, t)| t.clone()).collect();
            assert_eq!(tables, c.tables);
            assert_eq!(d.endpoints.len(), c.endpoints.len());
            assert_eq!(d.endpoints[0].0, c.endpoint_base());
        }
        // Moved, slots and ids move with the values.
        let d = Delta::between(None, &c0);
        assert_eq!(d.at(1), Delta::between(None, &c1));
        assert_eq!(d.at(1).at(0), d);
    }

    #[test]
    fn steps_write_the_standby_switch_then_bring_the_former_active_along() {
        let c0 = default_compiled();
        // From empty maps: both generations, then the switch.
        let s = steps(&c0, None).unwrap();
        let full = Delta::between(None, &c0);
        assert_eq!(
            s,
            vec![
                Step::Write(Box::new(full.at(1))),
                Step::Write(Box::new(full.clone())),
                Step::Activate(0)
            ]
        );
        // A reload into generation 1: one target leaves the first group.
        let mut t =
            crate::config::parse_str(crate::config::DEFAULT_CONFIG, "default.toml").unwrap();
        let n = crate::lab::plan(&t).ports.len() as u32;
        let ifx: Vec<u32> = (10..10 + n).collect();
        t.services.target_groups[0].targets.pop();
        let c1 = compile::compile(&t, &ifx).unwrap().rebase(1);
        let s = steps(&c1, Some(&c0)).unwrap();
        let d = Delta::between(Some(&c0), &c1);
        assert!(d.entries() > 0);
        assert_eq!(
            s,
            vec![
                Step::Write(Box::new(d.clone())),
                Step::Activate(1),
                Step::Write(Box::new(d.at(0)))
            ]
        );
        for step in &s {
            if let Step::Write(d) = step {
                assert_in_own_half(d);
            }
        }
        // The former active generation ends equal to the new one, moved:
        // the difference written there is the whole-copy diff.
        assert_eq!(d.at(0), Delta::between(Some(&c0), &c1.at(0)));
        // Same generation on both sides: refused before anything is written.
        let err = steps(&c0, Some(&c0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sync: the new configuration must be of the other generation"
        );
    }
}
