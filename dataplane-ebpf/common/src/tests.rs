//! Layout and naming checks of the shared types.

use super::*;
use core::mem::{offset_of, size_of};

#[test]
fn abi_sizes_and_offsets_are_pinned() {
    assert_eq!(size_of::<PortInfo>(), 28);
    assert_eq!(offset_of!(PortInfo, subnet), 24);
    assert_eq!(size_of::<PortSlot>(), 36);
    assert_eq!(offset_of!(PortSlot, present), 28);
    assert_eq!(size_of::<EniKey>(), 8);
    assert_eq!(size_of::<EniInfo>(), 28);
    assert_eq!(offset_of!(EniInfo, underlay), 16);
    assert_eq!(size_of::<SgKey>(), 12);
    assert_eq!(size_of::<SgPorts>(), 4 + 4 * SG_MAX_RANGES);
    assert_eq!(size_of::<FlowKey>(), 20);
    assert_eq!(offset_of!(FlowKey, proto), 16);
    assert_eq!(size_of::<FlowEntry>(), 88);
    assert_eq!(offset_of!(FlowEntry, cross1_from), 72);
    assert_eq!(offset_of!(FlowEntry, nacl_epoch), 80);
    assert_eq!(offset_of!(FlowEntry, nat_gateway), 86);
    assert_eq!(size_of::<NaclRef>(), 12);
    assert_eq!(size_of::<SubnetNacls>(), 24);
    assert_eq!(size_of::<NaclCidrKey>(), 8);
    assert_eq!(size_of::<NaclRuleKey>(), 8);
    assert_eq!(offset_of!(NaclRuleKey, value), 5);
    assert_eq!(size_of::<NaclDecision>(), 4);
    assert_eq!(size_of::<NaclStatKey>(), 8);
    assert_eq!(size_of::<SubnetRoute>(), 8);
    assert_eq!(size_of::<RouteKey>(), 8);
    assert_eq!(size_of::<RouteInfo>(), 28);
    assert_eq!(offset_of!(RouteInfo, nat_ip), 16);
    assert_eq!(offset_of!(RouteInfo, nat_gateway), 26);
    assert_eq!(offset_of!(RouteInfo, route), 2);
    assert_eq!(size_of::<RouteStatKey>(), 8);
    assert_eq!(size_of::<PublicIp>(), 12);
    assert_eq!(size_of::<NatGatewayCounters>(), 13 * 8);
    assert_eq!(size_of::<FragKey>(), 16);
    assert_eq!(offset_of!(FragKey, id), 12);
    assert_eq!(size_of::<FragEntry>(), 32);
    assert_eq!(offset_of!(FragEntry, first_ns), 24);
    assert_eq!(offset_of!(FlowEntry, out_ifindex), 12);
    assert_eq!(offset_of!(FlowEntry, created_ns), 64);
    assert_eq!(size_of::<FlowEvent>(), 40);
    assert_eq!(offset_of!(FlowEvent, key), 16);
    assert_eq!(offset_of!(FlowEvent, len), 36);
    assert_eq!(offset_of!(FlowEvent, tcp_flags), 38);
    assert_eq!(size_of::<EndpointInfo>(), 32);
    assert_eq!(size_of::<ListenerKey>(), 8);
    assert_eq!(size_of::<ListenerInfo>(), 8);
    assert_eq!(size_of::<TargetInfo>(), 36);
    assert_eq!(size_of::<EniCounters>(), 40);
    assert_eq!(size_of::<explain::SgCheck>(), 32);
    assert_eq!(size_of::<explain::NaclCheck>(), 28);
    assert_eq!(
        size_of::<explain::ExplainTrace>(),
        112 + 4 * 32 + explain::NACL_CHECKS * 28 + 16
    );
    assert_eq!(size_of::<explain::RouteCheck>(), 16);
    assert_eq!(
        offset_of!(explain::ExplainTrace, route),
        112 + 4 * 32 + explain::NACL_CHECKS * 28
    );
    assert_eq!(offset_of!(explain::ExplainTrace, sg), 112);
    assert_eq!(offset_of!(explain::ExplainTrace, nacl), 112 + 4 * 32);
}

#[test]
fn tcp_flags_count_as_flow_logs_do() {
    // FIN 1, SYN 2, RST 4, SYN-ACK 18; ACK, PSH, URG, ECE, CWR alone 0.
    let cases = [
        (0x02, 2),
        (0x12, 18),
        (0x11, 1),
        (0x14, 4),
        (0x10, 0),
        (0x18, 0),
        (0xe8, 0),
        (0x03, 3),
        (0x13, 19),
        (0xff, 23),
    ];
    for (f, want) in cases {
        assert_eq!(aws_tcp_flags(f), want, "{f:#04x}");
    }
}

#[test]
fn reversed_key_swaps_addresses_and_ports() {
    let k = FlowKey::new(
        7,
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        [0x12, 0x34],
        [0, 80],
        PROTO_TCP,
    );
    let r = k.reversed();
    assert_eq!(
        (r.src, r.dst, r.sport, r.dport),
        (k.dst, k.src, k.dport, k.sport)
    );
    assert_eq!(r.reversed(), k);
}

#[test]
fn flow_hash_depends_on_every_field() {
    let base = flow_hash([10, 0, 0, 1], [10, 0, 0, 2], [0, 1], [0, 80], 6, 1);
    let one_field_changed = [
        (
            "src",
            flow_hash([10, 0, 0, 3], [10, 0, 0, 2], [0, 1], [0, 80], 6, 1),
        ),
        (
            "dst",
            flow_hash([10, 0, 0, 1], [10, 0, 0, 3], [0, 1], [0, 80], 6, 1),
        ),
        (
            "sport",
            flow_hash([10, 0, 0, 1], [10, 0, 0, 2], [0, 2], [0, 80], 6, 1),
        ),
        (
            "dport",
            flow_hash([10, 0, 0, 1], [10, 0, 0, 2], [0, 1], [0, 81], 6, 1),
        ),
        (
            "proto",
            flow_hash([10, 0, 0, 1], [10, 0, 0, 2], [0, 1], [0, 80], 17, 1),
        ),
        (
            "seed",
            flow_hash([10, 0, 0, 1], [10, 0, 0, 2], [0, 1], [0, 80], 6, 2),
        ),
    ];
    for (field, h) in one_field_changed {
        assert_ne!(base, h, "{field} changed, the hash did not");
    }
    // Pinned value: the kernel and the tools must agree forever.
    assert_eq!(
        flow_hash(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            [0, 1],
            [0, 80],
            6,
            HASH_SEED_TARGET
        ),
        254022619
    );
}

#[test]
fn port_slots_split_by_generation_and_stop_at_the_bound() {
    assert_eq!(port_slot(0, 0), Some(0));
    assert_eq!(port_slot(7, 1), Some(PORT_SLOTS + 7));
    assert_eq!(port_slot(PORT_SLOTS - 1, 1), Some(2 * PORT_SLOTS - 1));
    assert_eq!(port_slot(PORT_SLOTS, 0), None);
}

#[test]
fn code_names_are_indexed_by_code() {
    for r in DropReason::ALL {
        assert_eq!(DROP_REASON_NAMES[r as usize], r.name());
    }
    assert_eq!(DropReason::FlowTableFull.name(), "flow_table_full");
    assert_eq!(Counter::ArpReply.name(), "arp_reply");
}

#[test]
fn active_value_carries_the_generation_and_counts_switches() {
    assert_eq!(active_generation(next_active(0, 1)), 1);
    assert_eq!(next_active(0, 0), 2);
    assert_eq!(next_active(2, 1), 5);
    assert_eq!(active_generation(next_active(5, 0)), 0);
    // The count wraps past 0: the value is never the unset one.
    assert_eq!(next_active(u32::MAX, 0), 2);
}

#[test]
fn nacl_stat_id_is_fnv1a_and_pinned() {
    // Pinned: counters keep their keys across builds.
    assert_eq!(nacl_stat_id(b""), 0x811c_9dc5);
    assert_eq!(nacl_stat_id(b"a"), 0xe40c_292c);
    assert_ne!(nacl_stat_id(b"acl-a"), nacl_stat_id(b"acl-b"));
}
