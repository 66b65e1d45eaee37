//! Stage tests: one kernel mechanism at a time, in the spirit of Cilium's
//! BPF unit tests (PKTGEN / SETUP / CHECK).
//!
//! - SETUP: [`Stage::load`] loads the kernel object with aya directly (no
//!   lab, no agent, no pinning: every `Stage` has fresh, empty maps of its
//!   own) and the `set_*` methods write only the map entries the mechanism
//!   under test reads.
//! - PKTGEN: the frame builders of [`crate::pkt`] (etherparse: checksums
//!   computed from scratch).
//! - CHECK: [`Stage::run`] runs one frame through one hook's program with
//!   BPF_PROG_TEST_RUN; the test compares the verdict and the frame as the
//!   program left it byte for byte, and the counters ([`Stage::drops`],
//!   [`Stage::counter`]) and flow entries ([`Stage::flows`]) it changed.
//!   Expected values come from first principles (the AWS rule, RFC 1071
//!   checksums, the spec functions `flow_hash` and Maglev), never from the
//!   agent's compiler.
//!
//! Frames "arrive" on [`PORT_IFINDEX`], the loopback device of the calling
//! thread's namespace: BPF_PROG_TEST_RUN resolves a context ifindex and
//! needs an existing device. Nothing is sent anywhere (a redirect only sets
//! the return code). Other ifindexes only appear in map values (where a
//! packet would leave) and are never resolved.

use std::net::Ipv4Addr;

use aya::{
    maps::{
        lpm_trie::Key, Array, HashMap, LpmTrie, MapData, PerCpuArray, PerCpuHashMap, PerCpuValues,
    },
    programs::{Program, ProgramError, SchedClassifier, Xdp},
    Ebpf, EbpfLoader,
};
use dataplane::{
    compile::{compile_nacl_list, compile_routes},
    conntrack::FlowRow,
    model::{Hook, NetworkAcl, Topology},
};
use dataplane_common::{
    in_generation, maps, port_slot, programs, subnet_slot, Counter, DropReason, EndpointInfo,
    EniCounters, EniInfo, EniKey, FlowCounters, FlowEntry, FlowKey, FlowTotals, ListenerInfo,
    ListenerKey, NaclCidrKey, NaclDecision, NaclRuleKey, NaclStatKey, PortInfo, PortRange,
    PortSlot, PublicIp, RouteInfo, RouteKey, RouteStatKey, SgKey, SgPorts, SubnetNacls,
    SubnetRoute, TargetInfo, GATEWAY_MAC, INTERNET_VPC, MAGLEV_SIZE, ROUTE_LOCAL,
    ROUTE_TARGET_LOCAL, SG_KEY_FIXED_BITS, SG_MAX_RANGES,
};

use crate::testrun::{self, Outcome};

/// The ifindex frames arrive on: the loopback device (see the module docs).
pub const PORT_IFINDEX: u32 = 1;

/// The kernel object loaded on its own, with both pipeline programs.
pub struct Stage {
    ebpf: Ebpf,
}

impl Stage {
    /// Loads the kernel object with its default map sizes.
    pub fn load() -> Stage {
        Self::load_with(None)
    }

    /// Loads the kernel object with a flow table of `n` entries (one per
    /// direction of a flow), to fill it with a few packets.
    pub fn with_flow_table(n: u32) -> Stage {
        Self::load_with(Some(n))
    }

    fn load_with(flow_table: Option<u32>) -> Stage {
        let obj = crate::require_root_and_object(
            "stage tests load BPF programs and need root: run them as root with `-- --ignored`",
            "",
        );
        let mut l = EbpfLoader::new();
        if let Some(n) = flow_table {
            l.map_max_entries(maps::FLOWS, n);
            l.map_max_entries(maps::FLOW_COUNTS, n);
        }
        let mut ebpf = l
            .load_file(&obj)
            .unwrap_or_else(|e| panic!("loading {}: {e}", obj.display()));
        load_program(
            &mut ebpf,
            programs::TC,
            "a classifier",
            SchedClassifier::load,
        );
        load_program(&mut ebpf, programs::XDP, "an XDP program", Xdp::load);
        dataplane::loader::load_slow_paths(&mut ebpf)
            .unwrap_or_else(|e| panic!("the verifier accepts the slow paths: {e:?}"));
        let mut st = Stage { ebpf };
        st.route_everything_locally();
        st
    }

    /// SETUP default: an empty subnet slot names table 0, and table 0
    /// routes 0.0.0.0/0 locally, so every first packet meets a `local`
    /// route unless a test sets its subnets' tables (`set_route_tables`,
    /// whose ids start at 1). The agent never writes table 0.
    fn route_everything_locally(&mut self) {
        let mut t: LpmTrie<&mut MapData, RouteKey, RouteInfo> =
            LpmTrie::try_from(self.map(maps::ROUTES)).unwrap();
        let local = RouteInfo {
            target: ROUTE_TARGET_LOCAL,
            route: ROUTE_LOCAL,
            ..RouteInfo::default()
        };
        t.insert(&Key::new(32, RouteKey::new(0, [0, 0, 0, 0])), local, 0)
            .unwrap();
    }

    /// PKTGEN -> CHECK: runs `frame` through `hook`'s program as if it
    /// arrived on [`PORT_IFINDEX`].
    pub fn run(&self, hook: Hook, frame: &[u8]) -> Outcome {
        let prog = match hook {
            Hook::Tc => testrun::Program::Tc(loaded(&self.ebpf, programs::TC, "classifier")),
            Hook::Xdp => testrun::Program::Xdp(loaded(&self.ebpf, programs::XDP, "xdp")),
        };
        testrun::call(prog, PORT_IFINDEX, frame, 1)
            .expect("BPF_PROG_TEST_RUN")
            .0
    }

    fn map(&mut self, name: &str) -> &mut aya::maps::Map {
        self.ebpf
            .map_mut(name)
            .unwrap_or_else(|| panic!("map {name} in the object"))
    }

    /// Empties both hooks' slow-path program arrays (`HL_SLOW_*`), as a
    /// loader that forgot them would leave them.
    pub fn empty_slow_paths(&mut self) {
        for (map, index, _) in maps::SLOW_PATHS {
            let mut a = aya::maps::ProgramArray::try_from(self.map(map)).unwrap();
            a.clear_index(&index).unwrap();
        }
    }

    // SETUP: one writer per map a mechanism reads. Everything is written in
    // configuration generation 0 (`HL_ACTIVE` starts at 0).

    /// The port frames arrive on belongs to the ENI `info` describes.
    pub fn set_port(&mut self, info: PortInfo) {
        let slot = port_slot(PORT_IFINDEX, 0).expect("a small ifindex has a slot");
        let mut a: Array<&mut MapData, PortSlot> =
            Array::try_from(self.map(maps::PORT_SLOTS)).unwrap();
        a.set(slot, PortSlot::of(info), 0).unwrap();
    }

    /// The ENI with address `ip` in VPC `vpc`.
    pub fn set_eni(&mut self, vpc: u32, ip: Ipv4Addr, info: EniInfo) {
        let mut m: HashMap<&mut MapData, EniKey, EniInfo> =
            HashMap::try_from(self.map(maps::ENIS)).unwrap();
        let key = EniKey {
            vpc: in_generation(vpc, 0),
            ip: ip.octets(),
        };
        m.insert(key, info, 0).unwrap();
    }

    /// The security-group LPM entry {`set`, `dir`, `proto`, `peer`/`len`}
    /// with the port ranges `ranges` (inclusive, host order).
    pub fn set_sg(
        &mut self,
        set: u32,
        dir: u8,
        proto: u8,
        peer: (Ipv4Addr, u32),
        ranges: &[(u16, u16)],
    ) {
        assert!(ranges.len() <= SG_MAX_RANGES);
        let mut ports = SgPorts {
            count: ranges.len() as u32,
            ..Default::default()
        };
        for (i, &(lo, hi)) in ranges.iter().enumerate() {
            ports.ranges[i] = PortRange { lo, hi };
        }
        let mut m: LpmTrie<&mut MapData, SgKey, SgPorts> =
            LpmTrie::try_from(self.map(maps::SG_RULES)).unwrap();
        let key = Key::new(
            SG_KEY_FIXED_BITS + peer.1,
            SgKey::new(set, dir, proto, peer.0.octets()),
        );
        m.insert(&key, ports, 0).unwrap();
    }

    /// Removes the security-group LPM entry {`set`, `dir`, `proto`,
    /// `peer`/`len`} (a rule removed by a reload).
    pub fn remove_sg(&mut self, set: u32, dir: u8, proto: u8, peer: (Ipv4Addr, u32)) {
        let mut m: LpmTrie<&mut MapData, SgKey, SgPorts> =
            LpmTrie::try_from(self.map(maps::SG_RULES)).unwrap();
        let key = Key::new(
            SG_KEY_FIXED_BITS + peer.1,
            SgKey::new(set, dir, proto, peer.0.octets()),
        );
        m.remove(&key).unwrap();
    }

    /// A flow-table entry (a flow some earlier packet created), with
    /// counters at zero on every CPU.
    pub fn set_flow(&mut self, key: FlowKey, e: FlowEntry) {
        let mut m: HashMap<&mut MapData, FlowKey, FlowEntry> =
            HashMap::try_from(self.map(maps::FLOWS)).unwrap();
        m.insert(key, e, 0).unwrap();
        let n = aya::util::nr_cpus().unwrap();
        self.set_flow_counters(key, vec![FlowCounters::default(); n]);
    }

    /// The per-CPU counters of direction `key` (`HL_FLOW_COUNTS`), one per
    /// possible CPU.
    pub fn set_flow_counters(&mut self, key: FlowKey, cpus: Vec<FlowCounters>) {
        let mut m: PerCpuHashMap<&mut MapData, FlowKey, FlowCounters> =
            PerCpuHashMap::try_from(self.map(maps::FLOW_COUNTS)).unwrap();
        m.insert(key, PerCpuValues::try_from(cpus).unwrap(), 0)
            .unwrap();
    }

    /// The per-CPU counters of direction `key` (none: no record).
    pub fn flow_counters(&self, key: &FlowKey) -> Vec<FlowCounters> {
        let m = self.ebpf.map(maps::FLOW_COUNTS).expect("HL_FLOW_COUNTS");
        dataplane::conntrack::counters_of(m, key).unwrap()
    }

    /// The flow-log window the kernel counts TCP flags in (`HL_FLOW_WINDOW`),
    /// as the flow log writes it when it closes a window.
    pub fn set_flow_window(&mut self, w: u32) {
        let mut a: Array<&mut MapData, u32> = Array::try_from(self.map(maps::FLOW_WINDOW)).unwrap();
        a.set(0, w, 0).unwrap();
    }

    /// Endpoint ENI `index` (an `EniInfo::eni` of kind endpoint).
    pub fn set_endpoint(&mut self, index: u32, info: EndpointInfo) {
        let mut a: Array<&mut MapData, EndpointInfo> =
            Array::try_from(self.map(maps::ENDPOINTS)).unwrap();
        a.set(index, info, 0).unwrap();
    }

    pub fn set_listener(&mut self, key: ListenerKey, info: ListenerInfo) {
        let mut m: HashMap<&mut MapData, ListenerKey, ListenerInfo> =
            HashMap::try_from(self.map(maps::LISTENERS)).unwrap();
        m.insert(key, info, 0).unwrap();
    }

    /// Maglev table `table`: slot `i` holds target index `slots[i]`.
    pub fn set_maglev(&mut self, table: u32, slots: &[u32]) {
        assert_eq!(slots.len(), MAGLEV_SIZE as usize);
        let mut a: Array<&mut MapData, u32> = Array::try_from(self.map(maps::MAGLEV)).unwrap();
        for (i, &t) in slots.iter().enumerate() {
            a.set(table * MAGLEV_SIZE + i as u32, t, 0).unwrap();
        }
    }

    pub fn set_target(&mut self, index: u32, info: TargetInfo) {
        let mut a: Array<&mut MapData, TargetInfo> =
            Array::try_from(self.map(maps::TARGETS)).unwrap();
        a.set(index, info, 0).unwrap();
    }

    // CHECK: what the program left behind.

    /// Every drop reason counted so far, with its count (summed over CPUs).
    /// Network ACLs: `acls[s]` becomes subnet `s`'s, compiled into the
    /// generation-0 entries the kernel reads (`HL_NACL_*`). The expected
    /// outcomes of the tests that use it come from the AWS rule.
    pub fn set_nacls(&mut self, acls: &[&NetworkAcl]) {
        let m = compile_nacl_list(acls).expect("compiling the ACLs");
        {
            let mut a: Array<&mut MapData, SubnetNacls> =
                Array::try_from(self.map(maps::NACL_SUBNETS)).unwrap();
            for (s, n) in m.subnets.iter().enumerate() {
                a.set(subnet_slot(s as u16, 0), n, 0).unwrap();
            }
        }
        {
            let mut t: LpmTrie<&mut MapData, NaclCidrKey, u32> =
                LpmTrie::try_from(self.map(maps::NACL_CIDRS)).unwrap();
            for (plen, k, class) in &m.cidrs {
                t.insert(&Key::new(*plen, *k), class, 0).unwrap();
            }
        }
        {
            let mut t: LpmTrie<&mut MapData, NaclRuleKey, NaclDecision> =
                LpmTrie::try_from(self.map(maps::NACL_RULES)).unwrap();
            for (plen, k, d) in &m.rules {
                t.insert(&Key::new(*plen, *k), d, 0).unwrap();
            }
        }
    }

    /// Route tables: `topo`'s subnets (by index) get their tables (their
    /// association, else their VPC's main table), compiled into the
    /// generation-0 entries the kernel reads (`HL_RT_SUBNETS`,
    /// `HL_ROUTES`). The expected outcomes of the tests that use it come
    /// from the AWS rule.
    pub fn set_route_tables(&mut self, topo: &Topology) {
        let m = compile_routes(topo).expect("compiling the route tables");
        {
            let mut a: Array<&mut MapData, SubnetRoute> =
                Array::try_from(self.map(maps::ROUTE_SUBNETS)).unwrap();
            for (s, r) in m.subnets.iter().enumerate() {
                a.set(subnet_slot(s as u16, 0), r, 0).unwrap();
            }
        }
        let mut t: LpmTrie<&mut MapData, RouteKey, RouteInfo> =
            LpmTrie::try_from(self.map(maps::ROUTES)).unwrap();
        for (plen, k, r) in &m.routes {
            t.insert(&Key::new(*plen, *k), r, 0).unwrap();
        }
    }

    /// NAT gateway `gateway`'s Elastic IP `eip` (private address
    /// `private`): the `HL_PUBLIC_IPS` entry that marks it
    /// (`NAT_GATEWAY_VPC`, the gateway's counters' slot).
    pub fn set_nat_gateway_eip(&mut self, gateway: u16, eip: Ipv4Addr, private: Ipv4Addr) {
        let mut m: HashMap<&mut MapData, EniKey, PublicIp> =
            HashMap::try_from(self.map(maps::PUBLIC_IPS)).unwrap();
        let key = EniKey {
            vpc: in_generation(INTERNET_VPC, 0),
            ip: eip.octets(),
        };
        let value = PublicIp {
            ip: private.octets(),
            vpc: dataplane_common::NAT_GATEWAY_VPC,
            nat_gateway: gateway,
            _pad: 0,
        };
        m.insert(key, value, 0).unwrap();
    }

    /// The internet gateway's 1:1 NAT for ENI `private` of VPC `vpc`:
    /// both `HL_PUBLIC_IPS` entries.
    pub fn set_public_ip(&mut self, vpc: u32, private: Ipv4Addr, public: Ipv4Addr) {
        let mut m: HashMap<&mut MapData, EniKey, PublicIp> =
            HashMap::try_from(self.map(maps::PUBLIC_IPS)).unwrap();
        let out = EniKey {
            vpc: in_generation(vpc, 0),
            ip: private.octets(),
        };
        let back = EniKey {
            vpc: in_generation(INTERNET_VPC, 0),
            ip: public.octets(),
        };
        m.insert(
            out,
            PublicIp {
                ip: public.octets(),
                vpc: INTERNET_VPC,
                nat_gateway: dataplane_common::NO_NAT_GATEWAY,
                _pad: 0,
            },
            0,
        )
        .unwrap();
        m.insert(
            back,
            PublicIp {
                ip: private.octets(),
                vpc,
                nat_gateway: dataplane_common::NO_NAT_GATEWAY,
                _pad: 0,
            },
            0,
        )
        .unwrap();
    }

    /// Packets each route table dropped: (table id hash, route) -> count.
    pub fn route_drops(&self) -> Vec<(RouteStatKey, u64)> {
        let m = self.ebpf.map(maps::ROUTE_STATS).expect("HL_ROUTE_STATS");
        let h: PerCpuHashMap<&MapData, RouteStatKey, u64> = PerCpuHashMap::try_from(m).unwrap();
        let mut v: Vec<(RouteStatKey, u64)> = h
            .iter()
            .map(|r| {
                let (k, per_cpu) = r.unwrap();
                (k, per_cpu.iter().sum())
            })
            .collect();
        v.sort_by_key(|(k, _)| (k.table, k.route));
        v
    }

    /// What the agent's switch does to `HL_ACTIVE` (generation 0 stays
    /// active): counts one more switch, so tracked flows meet changed
    /// network ACLs on their next packet. Returns the new value.
    pub fn switch(&mut self) -> u32 {
        let mut a: Array<&mut MapData, u32> = Array::try_from(self.map(maps::ACTIVE)).unwrap();
        let v = dataplane_common::next_active(a.get(&0, 0).unwrap(), 0);
        a.set(0, v, 0).unwrap();
        v
    }

    /// Packets each network-ACL rule dropped: (ACL id hash, rule, dir) -> count.
    pub fn nacl_drops(&self) -> Vec<(NaclStatKey, u64)> {
        let m = self.ebpf.map(maps::NACL_STATS).expect("HL_NACL_STATS");
        let h: PerCpuHashMap<&MapData, NaclStatKey, u64> = PerCpuHashMap::try_from(m).unwrap();
        let mut v: Vec<(NaclStatKey, u64)> = h
            .iter()
            .map(|r| {
                let (k, per_cpu) = r.unwrap();
                (k, per_cpu.iter().sum())
            })
            .collect();
        v.sort_by_key(|(k, _)| (k.nacl, k.rule, k.dir));
        v
    }

    pub fn drops(&self) -> Vec<(DropReason, u64)> {
        let m = self.ebpf.map(maps::DROPS).expect("HL_DROPS");
        let a: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(m).unwrap();
        DropReason::ALL
            .iter()
            .map(|&r| (r, a.get(&(r as u32), 0).unwrap().iter().sum()))
            .filter(|&(_, n)| n != 0)
            .collect()
    }

    /// Counter `c` (summed over CPUs).
    pub fn counter(&self, c: Counter) -> u64 {
        let m = self.ebpf.map(maps::COUNTERS).expect("HL_COUNTERS");
        let a: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(m).unwrap();
        a.get(&(c as u32), 0).unwrap().iter().sum()
    }

    /// ENI `eni`'s traffic counters (summed over CPUs).
    pub fn eni_counters(&self, eni: u32) -> EniCounters {
        self.per_cpu_counters(maps::ENI_STATS, eni)
    }

    /// `HL_NAT_STATS` slot `slot` (NAT gateway `slot`'s kernel counters;
    /// from `MAX_NAT_GATEWAYS` on, the sweeper's), summed over CPUs.
    pub fn nat_counters(&self, slot: u32) -> dataplane_common::NatGatewayCounters {
        let m = self.ebpf.map(maps::NAT_STATS).expect("HL_NAT_STATS");
        let a: PerCpuArray<&MapData, dataplane_common::NatGatewayCounters> =
            PerCpuArray::try_from(m).unwrap();
        a.get(&slot, 0)
            .unwrap()
            .iter()
            .fold(Default::default(), |s, c| s.combine(c, 1))
    }

    /// `HL_OBJ_STATS` slot `index` (endpoints, listeners, targets).
    pub fn obj_counters(&self, index: u32) -> EniCounters {
        self.per_cpu_counters(maps::OBJ_STATS, index)
    }

    fn per_cpu_counters(&self, map: &str, index: u32) -> EniCounters {
        let m = self.ebpf.map(map).expect("counter map");
        let a: PerCpuArray<&MapData, EniCounters> = PerCpuArray::try_from(m).unwrap();
        a.get(&index, 0)
            .unwrap()
            .iter()
            .fold(EniCounters::default(), |s, c| EniCounters {
                tx_packets: s.tx_packets + c.tx_packets,
                tx_bytes: s.tx_bytes + c.tx_bytes,
                rx_packets: s.rx_packets + c.rx_packets,
                rx_bytes: s.rx_bytes + c.rx_bytes,
                drops: s.drops + c.drops,
            })
    }

    /// Moves every flow direction's `last_seen_ns` (on every CPU) and
    /// creation time `secs` seconds back (as if the flows had been idle
    /// that long).
    pub fn age_flows(&mut self, secs: u64) {
        for (k, row) in self.flows() {
            let entry = FlowEntry {
                created_ns: row.entry.created_ns.saturating_sub(secs * 1_000_000_000),
                ..row.entry
            };
            let mut m: HashMap<&mut MapData, FlowKey, FlowEntry> =
                HashMap::try_from(self.map(maps::FLOWS)).unwrap();
            m.insert(k, entry, 0).unwrap();
            let aged = row
                .cpus
                .iter()
                .map(|c| FlowCounters {
                    last_seen_ns: c.last_seen_ns.saturating_sub(secs * 1_000_000_000),
                    ..*c
                })
                .collect();
            self.set_flow_counters(k, aged);
        }
    }

    /// Moves every `HL_FRAGS` entry's `first_ns` `secs` seconds back (as if
    /// its datagram's first fragment had passed that long ago).
    pub fn age_fragments(&mut self, secs: u64) {
        let m = self.ebpf.map_mut(maps::FRAGS).expect("HL_FRAGS");
        let mut h: HashMap<&mut MapData, dataplane_common::FragKey, dataplane_common::FragEntry> =
            HashMap::try_from(m).unwrap();
        let all: Vec<_> = h.iter().map(|r| r.unwrap()).collect();
        for (k, mut e) in all {
            e.first_ns -= secs * 1_000_000_000;
            h.insert(k, e, 0).unwrap();
        }
    }

    /// One pass of the agent's conntrack sweeper with `timeouts`
    /// (`conntrack::sweep_returning`, then the NAT gateways' idle timeouts
    /// into `HL_NAT_STATS`): the entries it removed.
    pub fn sweep(&mut self, timeouts: &dataplane::model::Timeouts) -> Vec<(FlowKey, FlowRow)> {
        let [flows, counts] = self
            .ebpf
            .maps_disjoint_mut([maps::FLOWS, maps::FLOW_COUNTS]);
        let tables = dataplane::conntrack::Tables {
            flows: flows.unwrap(),
            counts: counts.unwrap(),
        };
        let (gone, _) = dataplane::conntrack::sweep_returning(tables, timeouts, None).unwrap();
        let idle = dataplane::conntrack::idle_timeouts(&gone);
        dataplane::conntrack::count_idle_timeouts(self.map(maps::NAT_STATS), &idle).unwrap();
        gone
    }

    /// The flow table with each direction's counters, sorted by key.
    pub fn flows(&self) -> Vec<(FlowKey, FlowRow)> {
        let m = self.ebpf.map(maps::FLOWS).expect("HL_FLOWS");
        let c = self.ebpf.map(maps::FLOW_COUNTS).expect("HL_FLOW_COUNTS");
        let mut v = dataplane::conntrack::read_rows(m, c).unwrap();
        v.sort_by_key(|(k, _)| (k.vpc, k.src, k.dst, k.sport, k.dport, k.proto));
        v
    }

    /// The flow table, each direction's counters summed over CPUs as of
    /// the current flow-log window (`FlowTotals::of`: packets and bytes so
    /// far, the window's TCP flags), sorted by key.
    pub fn flows_summed(&self) -> Vec<(FlowKey, FlowEntry, FlowTotals)> {
        let m = self.ebpf.map(maps::FLOW_WINDOW).expect("HL_FLOW_WINDOW");
        let a: Array<&MapData, u32> = Array::try_from(m).unwrap();
        let w = a.get(&0, 0).unwrap();
        self.flows()
            .into_iter()
            .map(|(k, r)| (k, r.entry, FlowTotals::of(&r.cpus, w)))
            .collect()
    }

    /// The flow table's entries alone, sorted by key.
    pub fn flow_entries(&self) -> Vec<(FlowKey, FlowEntry)> {
        self.flows()
            .into_iter()
            .map(|(k, r)| (k, r.entry))
            .collect()
    }

    /// Empties the flow table and its counters (counters first, as the
    /// agent removes them).
    pub fn clear_flows(&mut self) {
        let keys: Vec<FlowKey> = self.flows().into_iter().map(|(k, _)| k).collect();
        let mut c: PerCpuHashMap<&mut MapData, FlowKey, FlowCounters> =
            PerCpuHashMap::try_from(self.map(maps::FLOW_COUNTS)).unwrap();
        for k in &keys {
            let _ = c.remove(k);
        }
        let mut m: HashMap<&mut MapData, FlowKey, FlowEntry> =
            HashMap::try_from(self.map(maps::FLOWS)).unwrap();
        for k in keys {
            m.remove(&k).unwrap();
        }
    }
}

/// Loads program `name` (of the type `P`, which the panic calls `kind`)
/// through the verifier.
fn load_program<'a, P: 'a>(
    ebpf: &'a mut Ebpf,
    name: &str,
    kind: &str,
    load: fn(&mut P) -> Result<(), ProgramError>,
) where
    &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
{
    let prog: &mut P = ebpf
        .program_mut(name)
        .unwrap_or_else(|| panic!("{name} in the object"))
        .try_into()
        .unwrap_or_else(|e| panic!("{name} is {kind}: {e:?}"));
    load(prog).unwrap_or_else(|e| panic!("verifier accepts {name}: {e:?}"));
}

/// Program `name`, of the type `P` (`kind` in the panic), as loaded.
fn loaded<'a, P: 'a>(ebpf: &'a Ebpf, name: &str, kind: &str) -> &'a P
where
    &'a P: TryFrom<&'a Program, Error = ProgramError>,
{
    ebpf.program(name)
        .expect(name)
        .try_into()
        .unwrap_or_else(|e| panic!("{kind}: {e:?}"))
}

/// A flow key from host-order parts (ICMP echo: the identifier as both
/// ports).
pub fn flow_key(
    vpc: u32,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    proto: u8,
) -> FlowKey {
    FlowKey::new(
        vpc,
        src.octets(),
        dst.octets(),
        sport.to_be_bytes(),
        dport.to_be_bytes(),
        proto,
    )
}

/// A flow entry's Ethernet header: to `dst`, from the VPC router.
pub fn eth_to(dst: [u8; 6]) -> [u8; 12] {
    let mut e = [0u8; 12];
    e[..6].copy_from_slice(&dst);
    e[6..].copy_from_slice(&GATEWAY_MAC);
    e
}

/// The generation-0 port of ENI `eni` (groups `sg_set`, address `ip`,
/// `mac`) in `vpc`'s subnet `subnet`: where a test's frames arrive.
pub fn port_info(
    vpc: u32,
    eni: u32,
    sg_set: u32,
    ip: Ipv4Addr,
    mac: [u8; 6],
    subnet: u16,
) -> PortInfo {
    PortInfo {
        vpc,
        eni,
        sg_set,
        ip: ip.octets(),
        mac,
        generation: 0,
        subnet,
        _pad: 0,
    }
}

/// ENI `eni` of `kind` on this node (no underlay address) behind
/// `ifindex`, with groups `sg_set`, `mac`, in subnet `subnet`.
pub fn eni_info(
    eni: u32,
    ifindex: u32,
    sg_set: u32,
    kind: u32,
    mac: [u8; 6],
    subnet: u16,
) -> EniInfo {
    EniInfo {
        eni,
        ifindex,
        sg_set,
        kind,
        underlay: [0; 4],
        mac,
        subnet,
    }
}
