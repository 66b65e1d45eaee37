//! Every map of the data plane, in one place. Names and types come from
//! `dataplane_common`, which the agent shares.

use aya_ebpf::{
    macros::map,
    maps::{lpm_trie::LpmTrie, Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, ProgramArray, RingBuf},
};
use dataplane_common::{
    EndpointInfo, EniCounters, FlowCounters, EniInfo, EniKey, FlowEntry, FlowKey, ListenerInfo, ListenerKey,
    PortInfo, PortSlot, SgKey, SgPorts, TargetInfo, COUNTER_COUNT, DROP_REASON_COUNT, MAGLEV_SIZE,
    MAX_ENDPOINT_ENIS, MAX_ENIS, MAX_FLOWS, MAX_LISTENERS, MAX_MAGLEV_TABLES, MAX_OBJ_STATS,
    MAX_PORTS, MAX_SG_ENTRIES, MAX_NACL_CIDRS, MAX_NACL_RULES, MAX_NACL_STATS, MAX_SUBNETS,
    NaclCidrKey, NaclDecision, NaclRuleKey, NaclStatKey, SubnetNacls, RouteInfo, RouteKey, RouteStatKey, SubnetRoute,
    MAX_ROUTES, MAX_ROUTE_STATS, MAX_PUBLIC_IPS, PublicIp, NatGatewayCounters, NAT_STATS_SLOTS, FragKey, FragEntry, MAX_FRAGS, PORT_SLOTS as PORT_SLOTS_PER_GENERATION, MAX_TARGETS, FLOW_EVENTS_BYTES,
};

#[map(name = "HL_PORTS")]
pub static PORTS: HashMap<u32, PortInfo> = HashMap::with_max_entries(MAX_PORTS, 0);

/// `HL_PORTS` again, as an array for small ifindexes (`port_slot`).
#[map(name = "HL_PORT_SLOTS")]
pub static PORT_SLOTS: Array<PortSlot> = Array::with_max_entries(2 * PORT_SLOTS_PER_GENERATION, 0);

#[map(name = "HL_ENIS")]
pub static ENIS: HashMap<EniKey, EniInfo> = HashMap::with_max_entries(MAX_ENIS, 0);

#[map(name = "HL_SG_RULES")]
pub static SG_RULES: LpmTrie<SgKey, SgPorts> = LpmTrie::with_max_entries(MAX_SG_ENTRIES, 0);

/// Each subnet's network ACL per generation (`subnet_slot`).
#[map(name = "HL_NACL_SUBNETS")]
pub static NACL_SUBNETS: Array<SubnetNacls> = Array::with_max_entries(MAX_SUBNETS, 0);

/// (ACL direction, peer prefix) -> address class (`nacl.rs`).
#[map(name = "HL_NACL_CIDRS")]
pub static NACL_CIDRS: LpmTrie<NaclCidrKey, u32> = LpmTrie::with_max_entries(MAX_NACL_CIDRS, 0);

/// (class, protocol, port prefix) -> the precomputed first match.
#[map(name = "HL_NACL_RULES")]
pub static NACL_RULES: LpmTrie<NaclRuleKey, NaclDecision> = LpmTrie::with_max_entries(MAX_NACL_RULES, 0);

/// Packets each network-ACL rule dropped, per CPU.
#[map(name = "HL_NACL_STATS")]
pub static NACL_STATS: PerCpuHashMap<NaclStatKey, u64> = PerCpuHashMap::with_max_entries(MAX_NACL_STATS, 0);

/// Each subnet's route table per generation (`subnet_slot`).
#[map(name = "HL_RT_SUBNETS")]
pub static ROUTE_SUBNETS: Array<SubnetRoute> = Array::with_max_entries(MAX_SUBNETS, 0);

/// (table, destination prefix) -> the route (`route.rs`).
#[map(name = "HL_ROUTES")]
pub static ROUTES: LpmTrie<RouteKey, RouteInfo> = LpmTrie::with_max_entries(MAX_ROUTES, 0);

/// Packets each route table dropped, per route, per CPU.
#[map(name = "HL_ROUTE_STATS")]
pub static ROUTE_STATS: PerCpuHashMap<RouteStatKey, u64> = PerCpuHashMap::with_max_entries(MAX_ROUTE_STATS, 0);

/// The internet gateway's 1:1 NAT, both ways (`gateway.rs`).
#[map(name = "HL_PUBLIC_IPS")]
pub static PUBLIC_IPS: HashMap<EniKey, PublicIp> = HashMap::with_max_entries(MAX_PUBLIC_IPS, 0);

/// Each NAT gateway's CloudWatch-named counters, per CPU (`counters::nat`;
/// the agent's sweeper owns the upper half, `NAT_STATS_SLOTS`).
#[map(name = "HL_NAT_STATS")]
pub static NAT_STATS: PerCpuArray<NatGatewayCounters> = PerCpuArray::with_max_entries(NAT_STATS_SLOTS, 0);

/// The flow each fragmented UDP datagram through a NAT gateway rode with
/// its first fragment, for its later fragments (`nat_gateway::fragment`).
/// An LRU: an old datagram's entry makes room for a new one.
#[map(name = "HL_FRAGS")]
pub static FRAGS: LruHashMap<FragKey, FragEntry> = LruHashMap::with_max_entries(MAX_FRAGS, 0);

/// A preallocated hash, not an LRU: when it is full a new flow is refused
/// (and counted) instead of evicting a live one, as AWS does
/// (conntrack_allowance_exceeded).
#[map(name = "HL_FLOWS")]
pub static FLOWS: HashMap<FlowKey, FlowEntry> = HashMap::with_max_entries(MAX_FLOWS, 0);

/// Each flow direction's counters, one record per CPU (`flow::account`):
/// keyed and sized like `HL_FLOWS`; a record is created after its entry
/// and removed before it, so it never holds more than the flow table.
#[map(name = "HL_FLOW_COUNTS")]
pub static FLOW_COUNTS: PerCpuHashMap<FlowKey, FlowCounters> = PerCpuHashMap::with_max_entries(MAX_FLOWS, 0);

/// The flow-log window (`dataplane_common::FlowCounters`), written by the
/// agent's flow log at each window's close.
#[map(name = "HL_FLOW_WINDOW")]
pub static FLOW_WINDOW: Array<u32> = Array::with_max_entries(1, 0);

#[map(name = "HL_DROPS")]
pub static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(DROP_REASON_COUNT, 0);

#[map(name = "HL_COUNTERS")]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_COUNT, 0);

#[map(name = "HL_ENI_STATS")]
pub static ENI_STATS: PerCpuArray<EniCounters> = PerCpuArray::with_max_entries(MAX_ENIS, 0);

#[map(name = "HL_ENDPOINTS")]
pub static ENDPOINTS: Array<EndpointInfo> = Array::with_max_entries(MAX_ENDPOINT_ENIS, 0);

#[map(name = "HL_LISTENERS")]
pub static LISTENERS: HashMap<ListenerKey, ListenerInfo> = HashMap::with_max_entries(MAX_LISTENERS, 0);

#[map(name = "HL_MAGLEV")]
pub static MAGLEV: Array<u32> = Array::with_max_entries(MAX_MAGLEV_TABLES * MAGLEV_SIZE, 0);

#[map(name = "HL_TARGETS")]
pub static TARGETS: Array<TargetInfo> = Array::with_max_entries(MAX_TARGETS, 0);

#[map(name = "HL_OBJ_STATS")]
pub static OBJ_STATS: PerCpuArray<EniCounters> = PerCpuArray::with_max_entries(MAX_OBJ_STATS, 0);

/// The generation the pipeline runs (`dataplane_common::in_generation`).
#[map(name = "HL_ACTIVE")]
pub static ACTIVE: Array<u32> = Array::with_max_entries(1, 0);
/// New flows and rejected packets, for the agent's flow logs (`events`).
#[map(name = "HL_FLOW_EVENTS")]
pub static FLOW_EVENTS: RingBuf = RingBuf::with_byte_size(FLOW_EVENTS_BYTES, 0);
/// `dataplane explain`'s trace: written only by the dry-run build (see
/// `explain.rs`), never pinned, so every load has its own.
#[map(name = "HL_EXPLAIN")]
pub static EXPLAIN: Array<dataplane_common::explain::ExplainTrace> = Array::with_max_entries(1, 0);

/// Per-CPU scratch space where the slow path builds a new flow's two
/// entries (0: forward, 1: reply) before inserting them: two entries on
/// the stack would take a third of the program's 512 bytes.
#[map(name = "HL_SCRATCH")]
pub static SCRATCH: PerCpuArray<FlowEntry> = PerCpuArray::with_max_entries(2, 0);

/// Per CPU: a new flow's counters (0: forward, with its first packet; 1:
/// reply), built by the fast path before its tail call
/// (`flow::prepare_counters`) and inserted by the slow path
/// (`flow::create`): built there, they cost the slow path's verifier
/// budget once per construct.
#[map(name = "HL_COUNT_SCRATCH")]
pub static COUNT_SCRATCH: PerCpuArray<FlowCounters> = PerCpuArray::with_max_entries(2, 0);

/// This CPU's copy of the coarse clock and the jiffies it was read at
/// (`flow::now`). Not pinned: a fresh one just reads the clock once.
#[map(name = "HL_CLOCK")]
pub static CLOCK: PerCpuArray<ClockCache> = PerCpuArray::with_max_entries(1, 0);

/// The slow path of each hook, entered by tail call (`pipeline::slow_path`):
/// verified as a program of its own, it has its own instruction budget.
#[map(name = "HL_SLOW_TC")]
pub static SLOW_TC: ProgramArray = ProgramArray::with_max_entries(4, 0);
#[map(name = "HL_SLOW_XDP")]
pub static SLOW_XDP: ProgramArray = ProgramArray::with_max_entries(4, 0);

/// Per CPU: what the fast path hands the slow path with a first packet
/// (1: it restarts a finished flow's tuple). A tail call stays on its CPU.
#[map(name = "HL_SLOW_ARGS")]
pub static SLOW_ARGS: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

#[repr(C)]
pub struct ClockCache {
    pub jiffies: u64,
    pub ns: u64,
}
