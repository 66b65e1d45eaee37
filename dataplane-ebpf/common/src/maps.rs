/// fabric ifindex -> [`super::PortInfo`]
pub const PORTS: &str = "HL_PORTS";
/// array of [`super::PortSlot`] at [`super::port_slot`]: the ports of
/// `HL_PORTS` whose ifindex is below [`super::PORT_SLOTS`], for the
/// per-packet lookup
pub const PORT_SLOTS: &str = "HL_PORT_SLOTS";
/// [`super::EniKey`] -> [`super::EniInfo`]
pub const ENIS: &str = "HL_ENIS";
/// [`super::SgKey`] (LPM) -> [`super::SgPorts`]
pub const SG_RULES: &str = "HL_SG_RULES";
/// [`super::FlowKey`] -> [`super::FlowEntry`]
pub const FLOWS: &str = "HL_FLOWS";
/// per-CPU hash [`super::FlowKey`] -> [`super::FlowCounters`]: each
/// direction's packets, bytes, last packet and per-window TCP flags, one
/// record per CPU, created and removed with its `HL_FLOWS` entry
pub const FLOW_COUNTS: &str = "HL_FLOW_COUNTS";
/// array of one u32: the flow-log window the kernel counts TCP flags in
/// (the flow log writes the next one when it closes a window)
pub const FLOW_WINDOW: &str = "HL_FLOW_WINDOW";
/// per-CPU array of u64 indexed by [`super::DropReason`] codes
pub const DROPS: &str = "HL_DROPS";
/// per-CPU array of u64 indexed by [`super::Counter`] codes
pub const COUNTERS: &str = "HL_COUNTERS";
/// per-CPU array of [`super::EniCounters`] indexed by ENI index
pub const ENI_STATS: &str = "HL_ENI_STATS";
/// endpoint-ENI index -> [`super::EndpointInfo`]
pub const ENDPOINTS: &str = "HL_ENDPOINTS";
/// [`super::ListenerKey`] -> [`super::ListenerInfo`]
pub const LISTENERS: &str = "HL_LISTENERS";
/// array of u32: `table * MAGLEV_SIZE + slot` -> target index
pub const MAGLEV: &str = "HL_MAGLEV";
/// target index -> [`super::TargetInfo`]
pub const TARGETS: &str = "HL_TARGETS";
/// per-CPU array of [`super::EniCounters`] for endpoints, listeners and
/// targets at [`super::STAT_ENDPOINT_BASE`] etc.
pub const OBJ_STATS: &str = "HL_OBJ_STATS";
/// array of one u32: the configuration generation the pipeline runs
/// (see [`super::in_generation`]) and the count of switches
/// ([`super::active_generation`], [`super::next_active`])
pub const ACTIVE: &str = "HL_ACTIVE";
/// ring buffer of [`super::FlowEvent`]s (new flows, rejected packets)
pub const FLOW_EVENTS: &str = "HL_FLOW_EVENTS";
/// array of one [`super::explain::ExplainTrace`]: written only by a dry
/// run (`dataplane explain`), never pinned
pub const EXPLAIN: &str = "HL_EXPLAIN";
/// array of [`super::SubnetNacls`] at [`super::subnet_slot`]: each
/// subnet's network ACL, per direction, per generation
pub const NACL_SUBNETS: &str = "HL_NACL_SUBNETS";
/// [`super::NaclCidrKey`] (LPM) -> u32 address class: the first stage
/// of a network-ACL decision
pub const NACL_CIDRS: &str = "HL_NACL_CIDRS";
/// [`super::NaclRuleKey`] (LPM) -> [`super::NaclDecision`]: the
/// precomputed first match of a class, protocol and port (ICMP type/code)
pub const NACL_RULES: &str = "HL_NACL_RULES";
/// per-CPU hash [`super::NaclStatKey`] -> u64: packets each network-ACL
/// rule dropped
pub const NACL_STATS: &str = "HL_NACL_STATS";
/// array of [`super::SubnetRoute`] at [`super::subnet_slot`]: each
/// subnet's route table, per generation
pub const ROUTE_SUBNETS: &str = "HL_RT_SUBNETS";
/// [`super::RouteKey`] (LPM) -> [`super::RouteInfo`]: every route of
/// every table a subnet uses, the `local` route included
pub const ROUTES: &str = "HL_ROUTES";
/// per-CPU hash [`super::RouteStatKey`] -> u64: packets each route
/// table dropped, per route (`no_route`: [`super::ROUTE_NO_MATCH`])
pub const ROUTE_STATS: &str = "HL_ROUTE_STATS";
/// [`super::EniKey`] -> [`super::PublicIp`]: the internet gateway's
/// 1:1 NAT, both ways ({VPC, private address} -> public address;
/// {[`super::INTERNET_VPC`], public address} -> VPC and private address)
pub const PUBLIC_IPS: &str = "HL_PUBLIC_IPS";
/// program array of four, the TC fast path's tail calls for first
/// packets: [`super::programs::TC_SLOW`] at 0,
/// [`super::programs::TC_SLOW_TUNNEL`] (a packet from another node) at 1,
/// [`super::programs::TC_FRAGMENT`] (a UDP fragment) at [`SLOW_FRAGMENT`],
/// [`super::programs::TC_TRANSLATE`] (a PrivateLink or VPC link
/// translation, entered from the slow path) at [`SLOW_TRANSLATE`]
pub const SLOW_TC: &str = "HL_SLOW_TC";
/// program array of four: [`super::programs::XDP_SLOW`] at 0; 1 stays
/// empty (an XDP frame cannot come through a tunnel);
/// [`super::programs::XDP_FRAGMENT`] at [`SLOW_FRAGMENT`],
/// [`super::programs::XDP_TRANSLATE`] at [`SLOW_TRANSLATE`]
pub const SLOW_XDP: &str = "HL_SLOW_XDP";
/// The index of each hook's fragment program in its array.
pub const SLOW_FRAGMENT: u32 = 2;
/// The index of each hook's translation program in its array (entered
/// from the slow path, not the fast path).
pub const SLOW_TRANSLATE: u32 = 3;
/// The program arrays, which the loader fills after loading the
/// programs (a dry run fills its own: never the pinned ones).
/// Each slow-path program's (array, index): the loader fills these.
pub const SLOW_PATHS: [(&str, u32, &str); 7] = [
    (SLOW_TC, 0, super::programs::TC_SLOW),
    (SLOW_TC, 1, super::programs::TC_SLOW_TUNNEL),
    (SLOW_TC, SLOW_FRAGMENT, super::programs::TC_FRAGMENT),
    (SLOW_TC, SLOW_TRANSLATE, super::programs::TC_TRANSLATE),
    (SLOW_XDP, 0, super::programs::XDP_SLOW),
    (SLOW_XDP, SLOW_FRAGMENT, super::programs::XDP_FRAGMENT),
    (SLOW_XDP, SLOW_TRANSLATE, super::programs::XDP_TRANSLATE),
];
/// per-CPU array of [`super::NatGatewayCounters`] by gateway index
/// ([`super::NAT_STATS_SLOTS`])
pub const NAT_STATS: &str = "HL_NAT_STATS";
/// LRU hash [`super::FragKey`] -> [`super::FragEntry`]: the flow each
/// fragmented UDP datagram through a NAT gateway rode with its first
/// fragment, for its later fragments
pub const FRAGS: &str = "HL_FRAGS";
