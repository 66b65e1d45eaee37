//! `dataplane explain`'s ABI: the trace a dry run of the pipeline leaves in
//! `HL_EXPLAIN` (an array of one [`ExplainTrace`]).
//!
//! A dry run is the same kernel program loaded a second time with the
//! load-time constant `DRY_RUN` set: it reads the live agent's maps and
//! creates no state (no flow entries, no NAT-port claims, no counters), and
//! records here what each stage saw and decided. The live program (DRY_RUN
//! 0) never writes the trace: the verifier prunes those branches.

/// Stages of the pipeline, in order (bit `1 << n` of [`ExplainTrace::stages`]).
pub const STAGE_PORT: u32 = 0;
pub const STAGE_PARSE: u32 = 1;
pub const STAGE_FLOW: u32 = 2;
pub const STAGE_ENI: u32 = 3;
pub const STAGE_EGRESS_SG: u32 = 4;
pub const STAGE_INGRESS_SG: u32 = 5;
pub const STAGE_ENDPOINT: u32 = 6;
pub const STAGE_LISTENER: u32 = 7;
pub const STAGE_TARGET: u32 = 8;
pub const STAGE_LINK_EGRESS_SG: u32 = 9;
pub const STAGE_TARGET_SG: u32 = 10;
pub const STAGE_NAT: u32 = 11;
pub const STAGE_REWRITE: u32 = 12;
/// A network ACL a subnet boundary crossing meets: leaving the source
/// subnet (outbound entries), entering the destination subnet (inbound).
pub const STAGE_NACL_OUT: u32 = 13;
pub const STAGE_NACL_IN: u32 = 14;
/// The source subnet's route table (first packet of a flow).
pub const STAGE_ROUTE: u32 = 15;
/// The internet gateway's 1:1 NAT (`gateway.rs`).
pub const STAGE_IGW: u32 = 16;
/// An ICMP error matched to the tracked flow it quotes (every such packet).
pub const STAGE_ICMP_ERROR: u32 = 17;
/// A NAT gateway's source NAT (`nat_gateway.rs`).
pub const STAGE_NAT_GATEWAY: u32 = 18;
/// Stage names as the CLI prints them, indexed by stage.
pub const STAGE_NAMES: [&str; 19] = [
    "port",
    "parse",
    "flow",
    "eni",
    "egress_sg",
    "ingress_sg",
    "endpoint",
    "listener",
    "target",
    "link_egress_sg",
    "target_sg",
    "nat",
    "rewrite",
    "nacl_out",
    "nacl_in",
    "route",
    "igw",
    "icmp_error",
    "nat_gateway",
];

/// [`ExplainTrace::flow`]: no flow entry matched the packet.
pub const EXPLAIN_FLOW_NONE: u32 = 0;
/// An existing flow entry matched and decided the packet.
pub const EXPLAIN_FLOW_HIT: u32 = 1;
/// A finished TCP flow matched a new SYN: decided again as a new flow.
pub const EXPLAIN_FLOW_RESTART: u32 = 2;

/// [`SgCheck::range`] when no port range admitted the port.
pub const NO_RANGE: u32 = u32::MAX;

/// Indices into [`ExplainTrace::sg`].
pub const SG_CHECK_EGRESS: usize = 0;
pub const SG_CHECK_INGRESS: usize = 1;
pub const SG_CHECK_LINK_EGRESS: usize = 2;
pub const SG_CHECK_TARGET_INGRESS: usize = 3;
pub const SG_CHECKS: usize = 4;

/// Indices into [`ExplainTrace::nacl`], in the order a packet meets them:
/// the first boundary (as the packet arrives) out and in, then the
/// second (a PrivateLink or VPC-link packet as translated) out and in.
pub const NACL_CHECK_OUT1: usize = 0;
pub const NACL_CHECK_IN1: usize = 1;
pub const NACL_CHECK_OUT2: usize = 2;
pub const NACL_CHECK_IN2: usize = 3;
pub const NACL_CHECKS: usize = 4;

/// One network-ACL decision: which ACL, what it looked up, which rule
/// decided.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NaclCheck {
    /// 1 when the pipeline made this check.
    pub checked: u32,
    /// The subnet (global index) whose ACL this is.
    pub subnet: u32,
    /// The ACL's identity (`NaclRef::nacl`).
    pub nacl: u32,
    /// The address class `HL_NACL_CIDRS` gave (0: uniform, not looked up).
    pub class: u32,
    /// The peer looked up: the destination outbound, the source inbound.
    pub peer: [u8; 4],
    /// Destination port, or ICMP `type << 8 | code`, host order.
    pub value: u16,
    pub dir: u8,
    pub proto: u8,
    /// The deciding rule (`NACL_RULE_DEFAULT`: the final `*` entry).
    pub rule: u16,
    /// 1: allowed.
    pub allow: u8,
    /// 1: the ACL direction is uniform (no lookup was needed).
    pub uniform: u8,
}

/// The route-table decision of a first packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RouteCheck {
    /// 1 when the pipeline made this check.
    pub checked: u32,
    /// The table's identity (`SubnetRoute::stat`; 0: the subnet's slot
    /// was empty).
    pub table: u32,
    /// The destination looked up.
    pub dst: [u8; 4],
    /// The deciding route (`RouteInfo::route`, `ROUTE_LOCAL`), or
    /// `ROUTE_NO_MATCH`.
    pub route: u16,
    /// `ROUTE_TARGET_*`; 0: no route matched.
    pub target: u8,
    pub _pad: u8,
}

/// One security-group lookup: its key and what the LPM trie answered.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SgCheck {
    /// 1 when the pipeline made this check.
    pub checked: u32,
    /// Compiled security-group set id.
    pub set: u32,
    /// The peer looked up: the destination for egress, the source for ingress.
    pub peer: [u8; 4],
    /// Destination port, host order (ICMP: the echo identifier).
    pub port: u16,
    pub dir: u8,
    pub proto: u8,
    /// 1 when an LPM entry covered the peer.
    pub entry_found: u32,
    /// Port ranges in that entry.
    pub range_count: u32,
    /// Index of the range that admitted the port, or [`NO_RANGE`].
    pub range: u32,
    /// That range, inclusive, host order.
    pub lo: u16,
    pub hi: u16,
}

/// What one dry run of the pipeline saw and decided.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ExplainTrace {
    /// Bit `1 << STAGE_*` for every stage the packet reached.
    pub stages: u32,
    /// The last stage reached: on a drop, the one that decided.
    pub last_stage: u32,
    /// 1 when the pipeline dropped the packet, with [`Self::drop_reason`].
    pub dropped: u32,
    pub drop_reason: u32,
    /// The ingress port's VPC, ENI index and security-group set.
    pub vpc: u32,
    pub src_eni: u32,
    pub src_sg_set: u32,
    /// `EXPLAIN_FLOW_*`, and the matched entry's state and flags.
    pub flow: u32,
    pub flow_state: u32,
    pub flow_flags: u32,
    /// The destination ENI (`HL_ENIS`): kind, index, security-group set.
    pub dst_kind: u32,
    pub dst_eni: u32,
    pub dst_sg_set: u32,
    /// PrivateLink / VPC link: the endpoint ENI (`HL_ENDPOINTS` index) and its state, listener, Maglev slot
    /// and table, the target index chosen.
    pub endpoint: u32,
    pub endpoint_state: u32,
    pub listener: u32,
    pub table: u32,
    pub slot: u32,
    pub target: u32,
    /// The source the target sees, and the NAT source port picked (host
    /// order) after `nat_tries` probes.
    pub snat: [u8; 4],
    pub nat_port: u16,
    pub nat_tries: u16,
    /// The action applied (the flow entry's): where the packet goes and
    /// the tuple it leaves with.
    pub out_ifindex: u32,
    pub out_vpc: u32,
    pub out_eni: u32,
    pub out_flags: u32,
    pub new_src: [u8; 4],
    pub new_dst: [u8; 4],
    pub new_sport: [u8; 2],
    pub new_dport: [u8; 2],
    pub sg: [SgCheck; SG_CHECKS],
    pub nacl: [NaclCheck; NACL_CHECKS],
    pub route: RouteCheck,
}
