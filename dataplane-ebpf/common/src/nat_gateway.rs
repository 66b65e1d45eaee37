//! The NAT gateway's per-gateway counters (`HL_NAT_STATS`): the gateway's
//! CloudWatch metrics (VPC user guide, "Monitor NAT gateways with Amazon
//! CloudWatch"), counted by the kernel per CPU and summed by the agent,
//! which serves them as `hyperlab_nat_gateway_*` series labelled with the
//! gateway's id.

/// NAT gateways a configuration may declare (the index of
/// `Internet::nat_gateways` is the counter slot; `RouteInfo::nat_gateway`,
/// `FlowEntry::nat_gateway`).
pub const MAX_NAT_GATEWAYS: u32 = 1024;

/// `HL_NAT_STATS` entries: the kernel counts gateway `g` at slot `g`; the
/// agent's conntrack sweeper, the only writer of the slots from
/// [`MAX_NAT_GATEWAYS`] on, counts the connections it finds idle at
/// `MAX_NAT_GATEWAYS + g` (a per-CPU array's update writes a whole slot,
/// so the two writers never share one).
pub const NAT_STATS_SLOTS: u32 = 2 * MAX_NAT_GATEWAYS;

/// [`crate::FlowEntry::nat_gateway`] of a flow that no NAT gateway
/// translates.
pub const NO_NAT_GATEWAY: u16 = u16::MAX;

/// AWS's idle timeout of a NAT gateway's connections: 350 seconds ("If a
/// connection that's using a NAT gateway is idle for 350 seconds or more,
/// the connection times out"). Fixed by AWS, not a setting.
pub const NAT_GATEWAY_IDLE_TIMEOUT_S: u64 = 350;

/// Fragmented UDP through a NAT gateway ("NAT gateway basics": the gateway
/// forwards fragmented UDP; fragmented TCP and ICMP it drops). Only a
/// first fragment carries the ports a flow is found by; the gateway
/// remembers, per datagram, which flow it rode, and a later fragment of
/// the datagram finds it by [`FragKey`] (RFC 791: source, destination,
/// protocol and identification name a datagram). Entries of `HL_FRAGS`, an
/// LRU hash (an old datagram's entry makes room for a new one; nothing else
/// removes them).
pub const MAX_FRAGS: u32 = 16_384;

/// How long after its first fragment a datagram's later fragments are
/// forwarded: 30 s, Linux's `ipfrag_time` (the receiver drops a datagram it
/// could not reassemble in that time, so a later fragment after it is of
/// no use; AWS documents no figure).
pub const FRAGMENT_TIMEOUT_NS: u64 = 30_000_000_000;

/// `HL_FRAGS` key: a datagram, in the VPC of the port its fragments come
/// in on (`INTERNET_VPC` for an internet host's), network order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FragKey {
    pub vpc: u32,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    /// The IPv4 identification field.
    pub id: [u8; 2],
    pub proto: u8,
    pub _pad: u8,
}

/// `HL_FRAGS` value: the flow the datagram's first fragment rode (the key
/// of its direction) and when the fragment passed (`flow::now`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FragEntry {
    pub flow: crate::FlowKey,
    pub _pad: u32,
    pub first_ns: u64,
}

/// One gateway's counters, named after its CloudWatch metrics. "Source":
/// the clients in the VPC; "destination": the internet hosts. Bytes are
/// whole frames, as every counter of the data plane counts them.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NatGatewayCounters {
    /// `PacketsInFromSource` / `BytesInFromSource`: packets from the VPC
    /// that reached the gateway (forwarded or dropped by it).
    pub packets_in_from_source: u64,
    pub bytes_in_from_source: u64,
    /// `PacketsOutToDestination` / `BytesOutToDestination`.
    pub packets_out_to_destination: u64,
    pub bytes_out_to_destination: u64,
    /// `PacketsInFromDestination` / `BytesInFromDestination`: packets from
    /// the internet to the Elastic IP (replies, and what the gateway drops).
    pub packets_in_from_destination: u64,
    pub bytes_in_from_destination: u64,
    /// `PacketsOutToSource` / `BytesOutToSource`: replies translated back,
    /// and the RSTs the gateway sends for connections it timed out.
    pub packets_out_to_source: u64,
    pub bytes_out_to_source: u64,
    /// `ConnectionAttemptCount`: TCP SYNs that opened a connection through
    /// the gateway (port claimed or not).
    pub connection_attempts: u64,
    /// `ConnectionEstablishedCount`: connections whose SYN-ACK came back.
    pub connections_established: u64,
    /// `PacketsDropCount`: packets that reached the gateway and that it
    /// did not send on.
    pub packets_dropped: u64,
    /// `ErrorPortAllocation`: new connections refused for want of a port.
    pub error_port_allocation: u64,
    /// `IdleTimeoutCount`: connections that went idle for the idle timeout
    /// without being closed (counted by the agent's sweeper).
    pub idle_timeouts: u64,
}

/// The CloudWatch names of [`NatGatewayCounters`]' fields, in the order of
/// [`NatGatewayCounters::values`].
pub const NAT_GATEWAY_METRICS: [&str; 13] = [
    "PacketsInFromSource",
    "BytesInFromSource",
    "PacketsOutToDestination",
    "BytesOutToDestination",
    "PacketsInFromDestination",
    "BytesInFromDestination",
    "PacketsOutToSource",
    "BytesOutToSource",
    "ConnectionAttemptCount",
    "ConnectionEstablishedCount",
    "PacketsDropCount",
    "ErrorPortAllocation",
    "IdleTimeoutCount",
];

impl NatGatewayCounters {
    /// Every field, in the order of [`NAT_GATEWAY_METRICS`].
    pub const fn values(&self) -> [u64; 13] {
        [
            self.packets_in_from_source,
            self.bytes_in_from_source,
            self.packets_out_to_destination,
            self.bytes_out_to_destination,
            self.packets_in_from_destination,
            self.bytes_in_from_destination,
            self.packets_out_to_source,
            self.bytes_out_to_source,
            self.connection_attempts,
            self.connections_established,
            self.packets_dropped,
            self.error_port_allocation,
            self.idle_timeouts,
        ]
    }

    /// The counters whose [`Self::values`] are `v`.
    pub const fn from_values(v: [u64; 13]) -> NatGatewayCounters {
        NatGatewayCounters {
            packets_in_from_source: v[0],
            bytes_in_from_source: v[1],
            packets_out_to_destination: v[2],
            bytes_out_to_destination: v[3],
            packets_in_from_destination: v[4],
            bytes_in_from_destination: v[5],
            packets_out_to_source: v[6],
            bytes_out_to_source: v[7],
            connection_attempts: v[8],
            connections_established: v[9],
            packets_dropped: v[10],
            error_port_allocation: v[11],
            idle_timeouts: v[12],
        }
    }

    /// Field by field: `self + o` (`sign` 1) or `self - o` (`sign` -1,
    /// wrapping).
    pub fn combine(&self, o: &NatGatewayCounters, sign: i8) -> NatGatewayCounters {
        let (a, b) = (self.values(), o.values());
        let mut v = [0u64; 13];
        let mut i = 0;
        while i < 13 {
            v[i] = if sign < 0 {
                a[i].wrapping_sub(b[i])
            } else {
                a[i].wrapping_add(b[i])
            };
            i += 1;
        }
        NatGatewayCounters::from_values(v)
    }
}

/// A flow entry of no flow: zeroes, translated by no NAT gateway.
impl Default for crate::FlowEntry {
    fn default() -> Self {
        crate::FlowEntry {
            eth: [0; 12],
            out_ifindex: 0,
            state: 0,
            flags: 0,
            out_vpc: 0,
            new_src: [0; 4],
            new_dst: [0; 4],
            new_sport: [0; 2],
            new_dport: [0; 2],
            src_eni: 0,
            dst_eni: 0,
            stat_endpoint: 0,
            stat_listener: 0,
            stat_target: 0,
            created_ns: 0,
            cross1_from: 0,
            cross1_to: 0,
            cross2_from: 0,
            cross2_to: 0,
            nacl_epoch: 0,
            _pad2: 0,
            nat_gateway: NO_NAT_GATEWAY,
        }
    }
}
