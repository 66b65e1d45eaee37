//! Every map of the data plane, in one place. Names and types come from
//! `dataplane_common`, which the agent shares.

use aya_ebpf::{
    macros::map,
    maps::{lpm_trie::LpmTrie, HashMap, PerCpuArray},
};
use dataplane_common::{
    EniCounters, EniInfo, EniKey, FlowEntry, FlowKey, PortInfo, SgKey, SgPorts, COUNTER_COUNT,
    DROP_REASON_COUNT, MAX_ENIS, MAX_FLOWS, MAX_PORTS, MAX_SG_ENTRIES,
};

#[map(name = "HL_PORTS")]
pub static PORTS: HashMap<u32, PortInfo> = HashMap::with_max_entries(MAX_PORTS, 0);

#[map(name = "HL_ENIS")]
pub static ENIS: HashMap<EniKey, EniInfo> = HashMap::with_max_entries(MAX_ENIS, 0);

#[map(name = "HL_SG_RULES")]
pub static SG_RULES: LpmTrie<SgKey, SgPorts> = LpmTrie::with_max_entries(MAX_SG_ENTRIES, 0);

/// A preallocated hash, not an LRU: when it is full a new flow is refused
/// (and counted) instead of evicting a live one, as AWS does
/// (conntrack_allowance_exceeded).
#[map(name = "HL_FLOWS")]
pub static FLOWS: HashMap<FlowKey, FlowEntry> = HashMap::with_max_entries(MAX_FLOWS, 0);

#[map(name = "HL_DROPS")]
pub static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(DROP_REASON_COUNT, 0);

#[map(name = "HL_COUNTERS")]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_COUNT, 0);

#[map(name = "HL_ENI_STATS")]
pub static ENI_STATS: PerCpuArray<EniCounters> = PerCpuArray::with_max_entries(MAX_ENIS, 0);
