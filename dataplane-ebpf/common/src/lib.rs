//! The ABI between the hyperlab kernel programs and the agent.
//!
//! Every map key and value lives here, once, as an explicit `#[repr(C)]` struct
//! with its padding spelled out. Network-order fields are byte arrays; the
//! helpers below turn them into host values. No enums or `Option`s cross the
//! boundary: codes are `u32` constants with names shared by both sides, so
//! `dataplane stats` prints the same words the kernel counts with.
#![no_std]

/// `dataplane explain`: the dry run's trace.
pub mod explain;
mod tunnel;
pub use tunnel::*;
/// The NAT gateway's CloudWatch-named counters.
pub mod nat_gateway;
pub use nat_gateway::*;
mod flow_counters;
pub use flow_counters::*;
mod nacl;
pub use nacl::*;

/// What every kernel object (the data plane's, the bench's) defines once:
/// the panic handler and the license the kernel requires of GPL helpers.
#[macro_export]
macro_rules! bpf_object_items {
    () => {
        #[cfg(not(test))]
        #[panic_handler]
        fn panic(_info: &core::panic::PanicInfo) -> ! {
            // Unreachable in a verified program: the verifier rejects reachable panics.
            loop {}
        }

        #[unsafe(link_section = "license")]
        #[unsafe(no_mangle)]
        static LICENSE: [u8; 4] = *b"GPL\0";
    };
}

/// Map names (at most 15 bytes: the kernel truncates longer ones).
pub mod maps;

/// Load-time globals of the kernel object (`EbpfLoader::set_global`).
pub mod globals {
    /// u32: non-zero makes the pipeline emit [`super::FlowEvent`]s. Off, the
    /// verifier prunes the emitting code and the ring stays empty.
    pub const FLOW_EVENTS_ON: &str = "HL_FLOW_EVENTS_ON";
}

/// The top bit of the first field of every entry-point key (`HL_PORTS`'s
/// ifindex, [`EniKey::vpc`], [`ListenerKey::node`]) names the configuration
/// generation the entry belongs to. Both generations' entry points coexist
/// in the maps during a reload, and the pipeline looks up only those of the
/// generation in `HL_ACTIVE`: one map write switches every entry point at
/// once, so the kernel runs either the old configuration or the new one,
/// never a mix.
pub const GENERATION_BIT: u32 = 1 << 31;

/// The generation in `HL_ACTIVE`'s value: its bit 0. The bits above count
/// the switches, so the value names one configuration as applied: a flow
/// entry that passed the network ACLs under it (`FlowEntry::nacl_epoch`)
/// need not be checked again until the next switch.
#[inline(always)]
pub const fn active_generation(v: u32) -> u32 {
    v & 1
}

/// `HL_ACTIVE`'s next value: generation `gen`, one switch more than `prev`
/// (never 0, the value of maps nothing has activated yet).
pub const fn next_active(prev: u32, gen: u32) -> u32 {
    let n = (prev >> 1).wrapping_add(1) & (u32::MAX >> 1);
    let n = if n == 0 { 1 } else { n };
    (n << 1) | (gen & 1)
}

/// `id` tagged with generation `gen` (0 or 1).
#[inline(always)]
pub const fn in_generation(id: u32, gen: u32) -> u32 {
    (id & !GENERATION_BIT) | ((gen & 1) << 31)
}

/// Program names as they appear in the object file.
pub mod programs {
    pub const TC: &str = "hyperlab_tc";
    pub const XDP: &str = "hyperlab_xdp";
    /// A pass-through XDP program for host-side veths: gives them NAPI so
    /// XDP-redirected frames are received (docs/DATAPLANE.md, "One pipeline,
    /// two hooks").
    pub const XDP_PASS: &str = "hyperlab_xdp_pass";
    /// The slow path (a flow's first packet) of each hook, a program of
    /// its own entered by tail call from [`TC`] / [`XDP`] through
    /// [`super::maps::SLOW_TC`] / [`super::maps::SLOW_XDP`]
    /// (docs/DATAPLANE.md, "Two programs per hook").
    pub const TC_SLOW: &str = "hyperlab_tc_slow";
    /// TC's slow path for a packet from another node (labs across nodes):
    /// built apart so that each variant stays under the verifier's budget.
    pub const TC_SLOW_TUNNEL: &str = "hyperlab_tc_slow_tunnel";
    pub const XDP_SLOW: &str = "hyperlab_xdp_slow";
    /// Each hook's program for a fragment of a UDP datagram (through a NAT
    /// gateway), at [`super::maps::SLOW_FRAGMENT`] of its array: built
    /// apart so that no slow path carries both a first packet's stages and
    /// a fragment's under one verifier budget.
    pub const TC_FRAGMENT: &str = "hyperlab_tc_fragment";
    pub const XDP_FRAGMENT: &str = "hyperlab_xdp_fragment";
    /// Each hook's translation program: a first packet to an endpoint ENI
    /// (PrivateLink, an HTTP VPC link: endpoint, listener, Maglev, the
    /// target's groups, both boundaries' ACLs, the NAT port, both
    /// directions) and, on TC, a packet on to the node that translated its
    /// flow (labs across nodes). Entered by tail call from the slow path
    /// ([`TC_SLOW`], [`XDP_SLOW`]) at [`super::maps::SLOW_TRANSLATE`]:
    /// built apart so that no slow path carries a translation's stages and
    /// every other construct's under one verifier budget.
    pub const TC_TRANSLATE: &str = "hyperlab_tc_translate";
    pub const XDP_TRANSLATE: &str = "hyperlab_xdp_translate";
}

// Map sizes. Every configuration-derived map holds two generations side by
// side during a reload, so a configuration may use half of each (the
// compiler checks).
pub const MAX_PORTS: u32 = 32_768;
pub const MAX_ENIS: u32 = 65536;
pub const MAX_SG_ENTRIES: u32 = 524_288;
pub const MAX_FLOWS: u32 = 262_144;
pub const MAX_ENDPOINT_ENIS: u32 = 4096;
pub const MAX_LISTENERS: u32 = 16_384;
pub const MAX_TARGETS: u32 = 4096;
/// Targets of one configuration generation (the agent keeps two side by
/// side across a reload); a target's counter slot is its index modulo this.
pub const TARGETS_PER_GENERATION: u32 = MAX_TARGETS / 2;
/// Slots of one Maglev table (a prime, as the algorithm needs).
pub const MAGLEV_SIZE: u32 = 1021;
pub const MAX_MAGLEV_TABLES: u32 = 256;
/// A Maglev slot with no target (no healthy target in the set).
pub const NO_TARGET: u32 = u32::MAX;
/// `HL_OBJ_STATS` layout: endpoints, then listeners, then targets.
pub const STAT_ENDPOINT_BASE: u32 = 0;
pub const STAT_LISTENER_BASE: u32 = 4096;
pub const STAT_TARGET_BASE: u32 = 8192;
pub const MAX_OBJ_STATS: u32 = 12288;
/// A flow entry field that counts into no object.
pub const NO_STAT: u32 = u32::MAX;
/// `EEXIST`: the errno (negated) a map update with `BPF_NOEXIST` returns
/// when the key is already present. The kernel's one definition for every
/// program in the object (the pipeline's flow table, the bench floors).
pub const EEXIST: i32 = 17;
/// Source ports tried for one new NAT binding before the flow is refused.
pub const NAT_PORT_TRIES: u32 = 16;
/// Port ranges one SG lookup can return. The compiler merges overlapping and
/// adjacent ranges first and rejects a config that still needs more.
pub const SG_MAX_RANGES: usize = 16;

/// The MAC the virtual VPC router answers ARP with and sends frames from.
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0x68, 0x6c, 0x00, 0x00, 0x01];

pub const SG_DIR_INGRESS: u8 = 1;
pub const SG_DIR_EGRESS: u8 = 2;
/// [`SgKey::dir`] bit: the set's `all`-protocol rules, under protocol 0,
/// which answer any IP protocol other than TCP, UDP and ICMP that has no
/// entry of its own (an entry of its own already has them merged in).
pub const SG_DIR_ANY_PROTO: u8 = 0x10;
/// [`SgKey::dir`] bit: under peer 0.0.0.0/0 (prefix length 0), the ports
/// (ICMP: none) for which a flow of this protocol, in this direction, is
/// untracked at an ENI with this set (compile decides AWS's rule; EC2 user
/// guide, "Untracked connections").
pub const SG_DIR_UNTRACKED: u8 = 0x20;

pub const PROTO_ICMP: u8 = 1;

// Route tables (docs/DATAPLANE.md, "Route tables"). The first packet of
// a flow meets its source subnet's table: one LPM lookup in `HL_ROUTES`
// by (table, destination) gives the route that decides.

pub const MAX_ROUTES: u32 = 65_536;
pub const MAX_ROUTE_STATS: u32 = 16_384;
/// Leading bits of a [`RouteKey`] before the destination prefix.
pub const ROUTE_FIXED_BITS: u32 = 32;
/// [`RouteInfo::target`]: on to the destination's ENI in the VPC.
pub const ROUTE_TARGET_LOCAL: u8 = 1;
/// [`RouteInfo::target`]: dropped (`route_blackhole`).
pub const ROUTE_TARGET_BLACKHOLE: u8 = 2;
/// [`RouteInfo::target`]: over an active VPC peering connection to the
/// peer VPC ([`RouteInfo::peer_vpc`]); only destinations inside the peer
/// VPC's CIDR cross (`peering_not_transitive` otherwise).
pub const ROUTE_TARGET_PEERING: u8 = 3;
/// [`RouteInfo::target`]: a peering connection that is not active
/// (`pending-acceptance` or `rejected`): dropped (`peering_not_active`).
pub const ROUTE_TARGET_PEERING_INACTIVE: u8 = 4;
/// [`RouteInfo::target`]: to the VPC's internet gateway (`gateway.rs`).
pub const ROUTE_TARGET_IGW: u8 = 5;
/// [`RouteInfo::target`]: to a NAT gateway (`nat_gateway.rs`), whose
/// subnet, Elastic IP and port pool the route carries
/// ([`RouteInfo::nat_subnet`], [`RouteInfo::nat_ip`], [`RouteInfo::nat_lo`]
/// ..= [`RouteInfo::nat_hi`]).
pub const ROUTE_TARGET_NAT: u8 = 6;
/// [`RouteInfo::route`] of the implicit `local` route (the VPC's CIDR).
pub const ROUTE_LOCAL: u16 = u16::MAX;
/// [`RouteStatKey::route`] of a destination no route covers (`no_route`).
pub const ROUTE_NO_MATCH: u16 = u16::MAX - 1;

/// A subnet's route table, in one generation.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SubnetRoute {
    /// The table's id in `HL_ROUTES` (generation-specific; 0: the slot is
    /// empty, every destination is `no_route`).
    pub table: u32,
    /// The table's stable identity ([`nacl_stat_id`] of its config id):
    /// the `HL_ROUTE_STATS` key and what explain names.
    pub stat: u32,
}

/// The data of an `HL_ROUTES` LPM key: the prefix covers `table`
/// ([`ROUTE_FIXED_BITS`]) plus the destination prefix length.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RouteKey {
    /// Big-endian so the trie's leading bits are the id.
    pub table: [u8; 4],
    pub addr: [u8; 4],
}

impl RouteKey {
    pub const fn new(table: u32, addr: [u8; 4]) -> Self {
        RouteKey {
            table: table.to_be_bytes(),
            addr,
        }
    }
}

/// The route a destination meets: its target and which route it is.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RouteInfo {
    /// [`ROUTE_TARGET_LOCAL`], [`ROUTE_TARGET_BLACKHOLE`],
    /// [`ROUTE_TARGET_PEERING`], [`ROUTE_TARGET_PEERING_INACTIVE`],
    /// [`ROUTE_TARGET_IGW`] or [`ROUTE_TARGET_NAT`].
    pub target: u8,
    pub _pad: u8,
    /// The route's index in its table's `routes` (the config's order), or
    /// [`ROUTE_LOCAL`].
    pub route: u16,
    /// Peering routes: the peer VPC (its index, as `PortInfo::vpc`).
    pub peer_vpc: u32,
    /// Peering routes: the peer VPC's CIDR, network and mask (what the
    /// peering carries; 0/0 for other routes).
    pub peer_net: [u8; 4],
    pub peer_mask: [u8; 4],
    /// NAT gateway routes: the gateway's Elastic IP (the translated source).
    pub nat_ip: [u8; 4],
    /// NAT gateway routes: the source ports the gateway binds, `nat_lo
    /// ..= nat_hi` (AWS: 55,000 per unique destination; a lab may shrink it).
    pub nat_lo: u16,
    pub nat_hi: u16,
    /// NAT gateway routes: the gateway's subnet (global index), whose
    /// network ACLs and route table the translated packet meets.
    pub nat_subnet: u16,
    /// NAT gateway routes: the gateway's index (`Internet::nat_gateways`).
    pub nat_gateway: u16,
}

/// `HL_ROUTE_STATS` key: packets one route of one table dropped.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RouteStatKey {
    /// [`SubnetRoute::stat`].
    pub table: u32,
    /// [`RouteInfo::route`], or [`ROUTE_NO_MATCH`].
    pub route: u16,
    pub _pad: u16,
}

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

// The internet gateway and the lab's internet (docs/DATAPLANE.md,
// "Internet gateway"). The lab's internet hosts are fabric ports in a VPC
// of their own, [`INTERNET_VPC`]: their `HL_PORTS` entries and `HL_ENIS`
// entries (kind [`ENI_KIND_INTERNET`]) use it, and so do the flow keys of
// their packets. The gateway translates between an ENI's private address
// in its VPC and its public address on the internet (`HL_PUBLIC_IPS`).

/// The VPC id of the lab's internet (below [`GENERATION_BIT`], above any
/// VPC index a configuration may have).
pub const INTERNET_VPC: u32 = 0x7fff_fff0;
/// [`PublicIp::vpc`] of the `HL_PUBLIC_IPS` entry {[`INTERNET_VPC`], a NAT
/// gateway's Elastic IP}: the address leads to no ENI; a first packet to it
/// is an outside-initiated connection (`nat_gateway_outside_initiated`).
pub const NAT_GATEWAY_VPC: u32 = 0x7fff_fff1;
/// Interface numbers (the kernel ENI index of counters and flow entries,
/// the fabric port name `p<n>`) come in three ranges, so that a lab that
/// gains host ENIs shifts nothing: host ENIs below [`MANAGED_ENI_BASE`],
/// then the managed interfaces (endpoint ENIs, NLB nodes, link ENIs, NAT
/// gateway ENIs: numbered by the agent for flow logs, never counted by the
/// kernel), then the internet hosts from [`INTERNET_ENI_BASE`]. A number,
/// once given to an interface, stays its own for the lab's life
/// (`dataplane/src/compile/numbers.rs`).
pub const MANAGED_ENI_BASE: u32 = MAX_ENIS / 2;
/// The kernel ENI index (counters, flow entries) of an internet host is
/// `INTERNET_ENI_BASE + k`: above every VPC ENI and managed interface, so
/// the agent never mistakes one for an interface of a VPC.
pub const INTERNET_ENI_BASE: u32 = MAX_ENIS - 1024;
/// Internet hosts a configuration may declare.
pub const MAX_INTERNET_HOSTS: u32 = 512;
/// Entries of `HL_PUBLIC_IPS` (two per public address, two generations).
pub const MAX_PUBLIC_IPS: u32 = 16_384;

/// One direction of an internet gateway's 1:1 NAT: the address on the
/// other side and the VPC it is in.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PublicIp {
    pub ip: [u8; 4],
    /// Untagged: [`INTERNET_VPC`] for a public address, else the ENI's VPC.
    pub vpc: u32,
    /// A NAT gateway's Elastic IP ([`NAT_GATEWAY_VPC`]): the gateway's
    /// index, its counters' slot; else [`NO_NAT_GATEWAY`].
    pub nat_gateway: u16,
    pub _pad: u16,
}

/// Where a packet entered the fabric: one row per fabric-side veth.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortInfo {
    pub vpc: u32,
    /// ENI index (into `HL_ENI_STATS`).
    pub eni: u32,
    /// Compiled security-group set of the ENI (key prefix in `HL_SG_RULES`).
    pub sg_set: u32,
    /// The ENI's private IP: the source/destination check drops anything else.
    pub ip: [u8; 4],
    /// The host-side MAC of the ENI (the fabric answers ARP to it).
    pub mac: [u8; 6],
    /// The configuration generation this port entry belongs to (the same
    /// as its key's tag): the later lookups of a packet use it, so one
    /// packet never sees two generations.
    pub generation: u16,
    /// The ENI's subnet (global index): its network ACL applies when the
    /// packet leaves it.
    pub subnet: u16,
    pub _pad: u16,
}

/// Fabric ifindexes below this have a slot in `HL_PORT_SLOTS` per
/// generation (as many as ports a generation may have): the per-packet port
/// lookup is then an array index the verifier inlines instead of a hash
/// lookup, a kernel call. Larger ifindexes are looked up in `HL_PORTS`.
pub const PORT_SLOTS: u32 = MAX_PORTS / 2;

/// The `HL_PORT_SLOTS` index of fabric ifindex `ifindex` (untagged) in
/// generation `gen`, if it has one.
#[inline(always)]
pub const fn port_slot(ifindex: u32, gen: u32) -> Option<u32> {
    if ifindex < PORT_SLOTS {
        Some((gen & 1) * PORT_SLOTS + ifindex)
    } else {
        None
    }
}

/// One `HL_PORT_SLOTS` slot: an `HL_PORTS` entry, or an unused slot
/// (`present` 0: the port is unknown in that generation).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortSlot {
    pub info: PortInfo,
    pub present: u32,
    pub _pad: u32,
}

impl PortSlot {
    pub const fn of(info: PortInfo) -> Self {
        PortSlot {
            info,
            present: 1,
            _pad: 0,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct EniKey {
    pub vpc: u32,
    pub ip: [u8; 4],
}

/// A host's ENI: its fabric port leads to the host.
pub const ENI_KIND_HOST: u32 = 0;
/// An interface-endpoint ENI (or an HTTP VPC link integration address):
/// virtual, it leads into PrivateLink / the link's NAT.
pub const ENI_KIND_ENDPOINT: u32 = 1;
/// An HTTP VPC link's Hyperplane ENI in a customer subnet: only replies of
/// flows the service side opened may reach it.
pub const ENI_KIND_LINK: u32 = 2;
/// A host on the lab's internet ([`INTERNET_VPC`]): no security groups,
/// no subnet.
pub const ENI_KIND_INTERNET: u32 = 3;
/// No security-group set (the check is skipped).
pub const NO_SG_SET: u32 = u32::MAX;

/// Where a packet for an ENI goes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EniInfo {
    /// ENI index, or for [`ENI_KIND_ENDPOINT`] the endpoint-ENI index.
    pub eni: u32,
    /// Fabric-side veth of the ENI: TC redirects into its peer, XDP out of it.
    pub ifindex: u32,
    pub sg_set: u32,
    pub kind: u32,
    /// The underlay IPv4 address of the node the ENI lives on when that is
    /// another node of the lab (`ifindex` is then this node's VXLAN
    /// device); 0.0.0.0 for an ENI of this node (docs/DATAPLANE.md,
    /// "Labs across nodes").
    pub underlay: [u8; 4],
    pub mac: [u8; 6],
    /// The subnet the address is in (global index): its network ACL
    /// applies to packets that enter it from another subnet.
    pub subnet: u16,
}

impl EniInfo {
    /// Does the ENI live on another node (behind the VXLAN device)?
    #[inline(always)]
    pub const fn is_remote(&self) -> bool {
        u32::from_ne_bytes(self.underlay) != 0
    }
}

/// The data of an LPM key (the map's key is this behind a `u32` prefix
/// length, as aya's `lpm_trie::Key` lays it out). The prefix always covers
/// `sg_set`, `dir`, `proto` and `_pad` ([`SG_KEY_FIXED_BITS`]) plus the peer
/// prefix length.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SgKey {
    /// Big-endian so the trie's leading bits are the set id.
    pub sg_set: [u8; 4],
    pub dir: u8,
    pub proto: u8,
    pub _pad: u16,
    pub addr: [u8; 4],
}

pub const SG_KEY_FIXED_BITS: u32 = 64;

impl SgKey {
    pub const fn new(sg_set: u32, dir: u8, proto: u8, addr: [u8; 4]) -> Self {
        SgKey {
            sg_set: sg_set.to_be_bytes(),
            dir,
            proto,
            _pad: 0,
            addr,
        }
    }
}

/// Inclusive port range in host order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

/// The allowed destination-port ranges for one {set, direction, proto, peer
/// prefix}. Ranges of shorter prefixes are already merged in, so one
/// longest-prefix match answers the whole question.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SgPorts {
    pub count: u32,
    pub ranges: [PortRange; SG_MAX_RANGES],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    pub vpc: u32,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    /// Network order. ICMP echo uses the identifier for both ports.
    pub sport: [u8; 2],
    pub dport: [u8; 2],
    pub proto: u8,
    /// ICMP echo: 1 for an echo reply, 0 for a request (AWS tracks ICMP by
    /// type, so a second request in the other direction is not a reply:
    /// its key differs from the reply entry's). 0 for every other protocol.
    pub icmp_reply: u8,
    // Scalars, not byte arrays: zeroing an array compiles to a memset call.
    pub _pad1: u16,
}

impl FlowKey {
    /// A key from its parts (ports in network order), padding zeroed.
    pub const fn new(
        vpc: u32,
        src: [u8; 4],
        dst: [u8; 4],
        sport: [u8; 2],
        dport: [u8; 2],
        proto: u8,
    ) -> Self {
        FlowKey {
            vpc,
            src,
            dst,
            sport,
            dport,
            proto,
            icmp_reply: 0,
            _pad1: 0,
        }
    }

    /// The same key marked as an ICMP echo reply's ([`FlowKey::icmp_reply`]).
    pub const fn echo_reply(mut self) -> Self {
        self.icmp_reply = 1;
        self
    }

    /// The key the other direction of this flow is looked up with (an
    /// echo request's is the reply's, and back).
    pub const fn reversed(&self) -> Self {
        FlowKey {
            vpc: self.vpc,
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            proto: self.proto,
            icmp_reply: if self.proto == PROTO_ICMP {
                self.icmp_reply ^ 1
            } else {
                0
            },
            _pad1: 0,
        }
    }
}

pub const FLOW_STATE_NEW: u32 = 1;
pub const FLOW_STATE_ESTABLISHED: u32 = 2;
pub const FLOW_STATE_CLOSING: u32 = 3;
pub const FLOW_STATE_CLOSED: u32 = 4;

pub const FLOW_STATE_NAMES: [&str; 5] = ["none", "new", "established", "closing", "closed"];

/// This entry is the reply direction of a flow.
pub const FLOW_F_REPLY: u32 = 1;
/// Rewrite the source address/port to `new_src`/`new_sport`.
pub const FLOW_F_SNAT: u32 = 2;
/// Rewrite the destination address/port to `new_dst`/`new_dport`.
pub const FLOW_F_DNAT: u32 = 4;
/// ICMP: this direction carries echo requests, so its peer entry (the
/// other direction) is keyed as replies ([`FlowKey::icmp_reply`]).
pub const FLOW_F_ECHO_REQUESTS: u32 = 8;
/// Untracked at the sender (EC2 user guide, "Untracked connections"): its
/// security groups judge every packet of this direction (egress rules).
pub const FLOW_F_UNTRACKED_SENDER: u32 = 16;
/// Untracked at the receiver: its ingress rules judge every packet.
pub const FLOW_F_UNTRACKED_RECEIVER: u32 = 32;
/// Either untracked bit.
pub const FLOW_F_UNTRACKED: u32 = FLOW_F_UNTRACKED_SENDER | FLOW_F_UNTRACKED_RECEIVER;
/// The entry's destination lives on another node: the packet leaves
/// through the VXLAN device `out_ifindex` to the node that holds the ENI
/// with address `new_dst` in VPC `out_vpc`.
pub const FLOW_F_TUNNEL: u32 = 64;

/// The precompiled action of one direction of a tracked flow.
/// `Default`: every field 0 but `nat_gateway` ([`NO_NAT_GATEWAY`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowEntry {
    /// The first 12 bytes of the outgoing Ethernet header (dst MAC, src MAC),
    /// kept contiguous so one store writes both.
    pub eth: [u8; 12],
    pub out_ifindex: u32,
    pub state: u32,
    pub flags: u32,
    /// VPC the packet is in after translation: the reverse entry's key vpc.
    pub out_vpc: u32,
    pub new_src: [u8; 4],
    pub new_dst: [u8; 4],
    pub new_sport: [u8; 2],
    pub new_dport: [u8; 2],
    /// ENI the packet came from and ENI it goes to (counter indices).
    pub src_eni: u32,
    pub dst_eni: u32,
    /// `HL_OBJ_STATS` indices this flow counts into ([`NO_STAT`] for none):
    /// its endpoint, listener and target.
    pub stat_endpoint: u32,
    pub stat_listener: u32,
    pub stat_target: u32,
    pub created_ns: u64,
    /// The subnet boundaries this direction crosses, as global subnet
    /// indices, for the network ACLs every packet meets (a flow hit
    /// included): the packet as it arrives leaves `cross1_from` and enters
    /// `cross1_to`; a PrivateLink or VPC-link packet, as translated, then
    /// leaves `cross2_from` (the NLB node's or link ENI's subnet) and
    /// enters `cross2_to`. Equal subnets (or [`NO_SUBNET`]): no boundary.
    pub cross1_from: u16,
    pub cross1_to: u16,
    pub cross2_from: u16,
    pub cross2_to: u16,
    /// The `HL_ACTIVE` value under which this direction's TCP/UDP packets
    /// last passed the network ACLs of its boundaries (0: not yet). Their
    /// decision depends only on the configuration and on the entry's
    /// addresses and destination port, so until the next switch a hit
    /// needs no lookup; every switch (a reload) makes the next packet meet
    /// the ACLs again. ICMP is always checked (its type may vary).
    pub nacl_epoch: u32,
    pub _pad2: u16,
    /// The NAT gateway that translates this flow (its counters' slot), or
    /// [`NO_NAT_GATEWAY`].
    pub nat_gateway: u16,
}

/// The TCP flags flow logs record (VPC user guide, "Flow log records",
/// `tcp-flags`): FIN 1, SYN 2, RST 4, and ACK (16) only together with SYN,
/// so a SYN-ACK is 18; PSH, URG, ECE, CWR and a plain ACK count nothing.
#[inline(always)]
pub const fn aws_tcp_flags(f: u8) -> u8 {
    const FIN: u8 = 0x01;
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;
    const ACK: u8 = 0x10;
    // Branch-free (the kernel's verifier budget counts every branch): SYN
    // shifted onto ACK's bit keeps ACK only with SYN.
    (f & (FIN | SYN | RST)) | (f & ACK & ((f & SYN) << 3))
}

pub const ENDPOINT_STATE_PENDING: u32 = 0;
pub const ENDPOINT_STATE_AVAILABLE: u32 = 1;
pub const ENDPOINT_STATE_REJECTED: u32 = 2;

/// An interface-endpoint ENI: its connection state and the NLB node it
/// reaches (the node in its AZ).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EndpointInfo {
    pub state: u32,
    /// VPC endpoint index (its counters live at `STAT_ENDPOINT_BASE + endpoint`).
    pub endpoint: u32,
    /// Global NLB node index (part of the listener key).
    pub node: u32,
    /// The provider VPC.
    pub out_vpc: u32,
    /// The NLB node's address: what targets see as the source.
    pub node_ip: [u8; 4],
    /// Source ports for the NLB's SNAT, inclusive, host order.
    pub nat_lo: u16,
    pub nat_hi: u16,
    /// HTTP VPC links: the link's groups, whose egress rules the translated
    /// packet must pass; [`NO_SG_SET`] for PrivateLink.
    pub egress_sg_set: u32,
    /// The NLB node's subnet: the translated packet leaves it.
    pub node_subnet: u16,
    /// Every `nat_step`-th port from `nat_lo` is this node's: 1 on one
    /// node; across nodes the number of nodes (`nat_slice`, tunnel.rs).
    pub nat_step: u16,
}

/// A listener as one NLB node serves it. ICMP echo uses port 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ListenerKey {
    pub node: u32,
    /// Network order.
    pub port: [u8; 2],
    pub proto: u8,
    pub _pad: u8,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ListenerInfo {
    /// Maglev table of the healthy targets this node may pick.
    pub table: u32,
    /// Listener index (counters at `STAT_LISTENER_BASE + listener`).
    pub listener: u32,
}

/// A load-balancer target: a host ENI and the port it serves on.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TargetInfo {
    pub ip: [u8; 4],
    /// Network order.
    pub port: [u8; 2],
    /// The target ENI's subnet.
    pub subnet: u16,
    /// Fabric port of the target's ENI.
    pub ifindex: u32,
    pub eni: u32,
    pub sg_set: u32,
    pub vpc: u32,
    pub mac: [u8; 6],
    /// The subnet of `snat_ip` (HTTP VPC links' link ENI); unused otherwise.
    pub snat_subnet: u16,
    /// HTTP VPC links: the link ENI (in the target's AZ) to source-NAT to;
    /// all zero: the NLB node's address.
    pub snat_ip: [u8; 4],
}

/// The flow hash both the kernel (target choice) and tools (predicting it)
/// use: murmur3's finalizer over the 5-tuple, addresses and ports as they
/// sit in the packet (native loads of network-order bytes).
#[inline(always)]
pub const fn flow_hash(
    src: [u8; 4],
    dst: [u8; 4],
    sport: [u8; 2],
    dport: [u8; 2],
    proto: u8,
    seed: u32,
) -> u32 {
    let mut h = seed ^ u32::from_le_bytes(src);
    h = fmix(h);
    h ^= u32::from_le_bytes(dst);
    h = fmix(h);
    h ^= u32::from_le_bytes([sport[0], sport[1], dport[0], dport[1]]);
    h = fmix(h);
    h ^= proto as u32;
    fmix(h)
}

#[inline(always)]
const fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// Seeds of [`flow_hash`]: target choice and the NAT port probe start.
pub const HASH_SEED_TARGET: u32 = 0x6879_7065; // "hype"
pub const HASH_SEED_NAT_PORT: u32 = 0x706c_616e; // "plan"

impl FlowEntry {
    /// The key of the other direction of the flow this entry belongs to:
    /// the translated tuple, reversed, in the VPC the packet leaves into.
    pub const fn peer_key(&self, proto: u8) -> FlowKey {
        FlowKey {
            vpc: self.out_vpc,
            src: self.new_dst,
            dst: self.new_src,
            sport: self.new_dport,
            dport: self.new_sport,
            proto,
            icmp_reply: (proto == PROTO_ICMP && self.flags & FLOW_F_ECHO_REQUESTS != 0) as u8,
            _pad1: 0,
        }
    }
}

/// Per-ENI traffic, seen from the ENI: `tx` = the host sent it into the
/// fabric, `rx` = the fabric delivered it to the host.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EniCounters {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub drops: u64,
}

/// Bytes of the ring buffer of flow events (a power of two multiple of the
/// page size). 256 KiB holds 5,461 events of 48 bytes (with the ring's
/// 8-byte record header): the agent drains it every 20 ms.
pub const FLOW_EVENTS_BYTES: u32 = 256 * 1024;

/// [`FlowEvent::kind`]: a flow was created (its first packet was accepted
/// and both entries recorded).
pub const FLOW_EVENT_NEW: u32 = 1;
/// [`FlowEvent::kind`]: a packet was dropped by a policy decision
/// ([`DropReason::is_reject`]).
pub const FLOW_EVENT_REJECT: u32 = 2;
/// [`FlowEvent::kind`]: a PrivateLink or HTTP VPC link packet that the
/// target's ingress rules (`target_ingress_sg_deny`) or the link's egress
/// rules (`link_egress_sg_deny`) rejected, with the tuple as translated
/// (NLB node or link ENI -> target, the NAT source port the flow would
/// have been given first, in the provider VPC): what the target ENI or the
/// link ENI logs. `eni` is the target's ENI index. It follows the
/// [`FLOW_EVENT_REJECT`] of the same packet (with the tuple as sent, which
/// the sender and the endpoint ENI log).
pub const FLOW_EVENT_REJECT_TRANSLATED: u32 = 3;
/// [`FlowEvent::dst_eni`] when the packet has no destination host ENI.
pub const NO_ENI: u32 = u32::MAX;

/// One record of `HL_FLOW_EVENTS`: what the flow-log aggregator needs that
/// the flow table cannot tell it. Counts of accepted flows come from the
/// entries' own `packets`/`bytes`, read by `key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowEvent {
    /// [`FLOW_EVENT_NEW`], [`FLOW_EVENT_REJECT`] or
    /// [`FLOW_EVENT_REJECT_TRANSLATED`].
    pub kind: u32,
    /// ENI index the packet entered the fabric from (`PortInfo::eni`);
    /// REJECT_TRANSLATED: the target's.
    pub eni: u32,
    /// NEW: the ENI index the forward direction is delivered to (for
    /// PrivateLink, the target's); REJECT: [`NO_ENI`].
    pub dst_eni: u32,
    /// REJECT: the [`DropReason`] code; NEW: 0.
    pub reason: u32,
    /// The packet's tuple as it entered, with its VPC: for NEW the key of
    /// the forward entry; REJECT_TRANSLATED: as translated (see there).
    pub key: FlowKey,
    /// IPv4 bytes of the packet (frame length minus the Ethernet header):
    /// at most 65,535, an IPv4 total length.
    pub len: u16,
    /// REJECT, REJECT_TRANSLATED: the packet's TCP flags as flow logs count
    /// them ([`aws_tcp_flags`]); NEW: 0 (the entry counts its own).
    pub tcp_flags: u8,
    pub _pad: u8,
}

macro_rules! codes {
    ($(#[$m:meta])* $ty:ident, $count:ident, $names:ident { $($(#[$vm:meta])* $name:ident = $code:literal, $text:literal;)* }) => {
        $(#[$m])*
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $ty { $($(#[$vm])* $name = $code,)* }
        /// One past the highest code: the size of the per-code counter
        /// arrays. Codes may leave gaps (a code another branch takes).
        pub const $count: u32 = codes_end(&[$($code),*]);
        /// Names used by the CLI and the metrics, indexed by code; a gap
        /// has the empty name (listings skip it).
        pub const $names: [&str; $count as usize] = {
            let mut n = [""; $count as usize];
            $(n[$code] = $text;)*
            n
        };
        impl $ty {
            /// Every code in use, in code order.
            pub const ALL: [$ty; [$($code),*].len()] = [$($ty::$name),*];
            pub const fn name(self) -> &'static str { $names[self as usize] }
        }
    };
}

/// One past the highest of `codes`.
const fn codes_end(codes: &[u32]) -> u32 {
    let mut i = 0;
    let mut end = 0;
    while i < codes.len() {
        if codes[i] + 1 > end {
            end = codes[i] + 1;
        }
        i += 1;
    }
    end
}

codes! {
    /// Why a packet was dropped. Every early return of the pipeline carries one.
    DropReason, DROP_REASON_COUNT, DROP_REASON_NAMES {
        /// Frame shorter than an Ethernet header.
        TruncatedEthernet = 0, "truncated_ethernet";
        /// EtherType is neither IPv4 nor ARP (IPv6, VLAN tags, ...).
        NotIpv4 = 1, "not_ipv4";
        TruncatedIpv4 = 2, "truncated_ipv4";
        /// IHL below 5 or a header running past the frame.
        BadIhl = 3, "bad_ihl";
        /// IPv4 version field is not 4.
        BadIpVersion = 4, "bad_ip_version";
        /// Total length larger than the frame or smaller than the header.
        BadTotalLength = 5, "bad_total_length";
        /// A fragment the fabric does not carry: any fragment but of UDP
        /// through a NAT gateway (it tracks flows by ports, which only the
        /// first fragment carries; AWS's NAT gateway forwards fragmented
        /// UDP, `nat_gateway.rs`).
        Fragment = 6, "fragment";
        TruncatedL4 = 7, "truncated_l4";
        /// TCP data offset below 5 or past the packet.
        BadTcpDataOffset = 8, "bad_tcp_data_offset";
        /// An IP protocol other than TCP, UDP and ICMP at a NAT gateway,
        /// which carries those three only (every protocol is parsed and
        /// judged by the security groups elsewhere).
        UnsupportedProtocol = 9, "unsupported_protocol";
        /// ICMP other than echo request/reply.
        UnsupportedIcmp = 10, "unsupported_icmp";
        /// Source address is not the sending ENI's (AWS source/destination check).
        SourceCheck = 11, "source_check";
        /// No route in the source subnet's table covers the destination, or
        /// the `local` route does but no ENI has that address in the VPC.
        NoRoute = 12, "no_route";
        /// The sender's security groups do not allow the packet out.
        EgressSgDeny = 13, "egress_sg_deny";
        /// The receiver's security groups do not allow the packet in.
        IngressSgDeny = 14, "ingress_sg_deny";
        /// The flow table is full: the new flow is refused, live ones are kept
        /// (AWS: conntrack_allowance_exceeded).
        FlowTableFull = 15, "flow_table_full";
        /// ARP the virtual router does not answer: not an Ethernet/IPv4
        /// request, gratuitous, or from an address that is not the port's.
        ArpIgnored = 16, "arp_ignored";
        /// A packet of a closed TCP flow that is not a new SYN.
        FlowClosed = 17, "flow_closed";
        /// The redirect helper refused the packet.
        RedirectFailed = 18, "redirect_failed";
        /// A checksum or store helper failed while rewriting.
        RewriteFailed = 19, "rewrite_failed";
        /// The endpoint's connection request has not been accepted yet.
        EndpointPending = 20, "endpoint_pending";
        /// The service owner rejected the endpoint's connection.
        EndpointRejected = 21, "endpoint_rejected";
        /// The NLB has no listener for this protocol and port.
        NoListener = 22, "no_listener";
        /// The listener's target group has no healthy target this node may use.
        NoHealthyTarget = 23, "no_healthy_target";
        /// The target's security groups do not allow the NLB's address in.
        TargetIngressSgDeny = 24, "target_ingress_sg_deny";
        /// Every NAT source port tried is bound to a live flow.
        NatPortsExhausted = 25, "nat_ports_exhausted";
        /// The HTTP VPC link's security groups do not allow the packet out.
        LinkEgressSgDeny = 26, "link_egress_sg_deny";
        /// A customer-side host tried to open a connection through a VPC
        /// link's ENI: the tunnel is initiated from the service side only.
        LinkReverseInitiated = 27, "link_reverse_initiated";
        /// The destination subnet's network ACL denies the packet in.
        NaclIngressDeny = 28, "nacl_ingress_deny";
        /// The source subnet's network ACL denies the packet out.
        NaclEgressDeny = 29, "nacl_egress_deny";
        /// The source subnet's route table sends the destination to a
        /// blackhole route.
        RouteBlackhole = 30, "route_blackhole";
        /// The route's target is a VPC peering connection that is not
        /// active (`pending-acceptance` or `rejected`).
        PeeringNotActive = 31, "peering_not_active";
        /// The route sends the destination over a peering connection but
        /// the destination is not in the peer VPC: peering is not
        /// transitive (no path to a third VPC or through the peer).
        PeeringNotTransitive = 32, "peering_not_transitive";
        /// The route sends the packet to the internet gateway, but the
        /// sender has no public IP: the gateway translates only addresses
        /// that have one (AWS: such an ENI needs a NAT gateway).
        IgwNoPublicIp = 33, "igw_no_public_ip";
        /// Through the internet gateway to an address no host of the lab's
        /// `[internet]` has.
        InternetNoHost = 34, "internet_no_host";
        /// An ICMP error (destination unreachable, time exceeded, parameter
        /// problem) whose quoted packet belongs to no tracked flow, or that
        /// is not addressed to the quoted packet's sender.
        IcmpErrorNoFlow = 35, "icmp_error_no_flow";
        /// An ICMP error whose quoted packet is cut short or malformed (not
        /// IPv4, IHL below 5, a later fragment, under 8 bytes of its L4
        /// header, an ICMP message other than echo).
        IcmpErrorBadQuote = 36, "icmp_error_bad_quote";
        /// A NAT gateway found every source port it tried for the flow's
        /// unique destination (address, port, protocol) bound to a live
        /// connection: the new connection fails, live ones go on (AWS's
        /// CloudWatch metric `ErrorPortAllocation`).
        NatGatewayErrorPortAllocation = 37, "nat_gateway_error_port_allocation";
        /// A first packet from the internet to a NAT gateway's Elastic IP: a
        /// NAT gateway carries only connections initiated from the VPC.
        NatGatewayOutsideInitiated = 38, "nat_gateway_outside_initiated";
        /// A packet of an untracked flow (EC2 user guide, "Untracked
        /// connections") that the security groups, which judge every such
        /// packet, no longer admit: a removed rule cuts it at once.
        UntrackedSgDeny = 39, "untracked_sg_deny";
        /// The fast path could not hand a flow's first packet to the
        /// slow-path program: its tail call failed (no program in the
        /// `HL_SLOW_*` array: a loader bug), or the packet no longer parsed
        /// as an IPv4 packet there.
        SlowPathFailed = 40, "slow_path_failed";
        /// A TCP RST from the VPC through a NAT gateway that holds no
        /// connection for it (timed out after 350 s idle, or never opened
        /// there): dropped. Any other segment but a SYN gets the gateway's
        /// RST instead (`nat_gateway_rst_sent`).
        NatGatewayNoConnection = 41, "nat_gateway_no_connection";
        /// A later fragment (offset above zero) of a UDP datagram through a
        /// NAT gateway that came more than 30 s after its first fragment
        /// (`FRAGMENT_TIMEOUT_NS`), or after the flow that fragment rode
        /// ended: without ports it has nothing to ride. A later fragment of
        /// a datagram no NAT gateway forwarded the first fragment of is
        /// `fragment`.
        NatGatewayFragmentExpired = 42, "nat_gateway_fragment_expired";
        /// Through a NAT gateway to a NAT gateway's Elastic IP (its own or
        /// another's): the packet leaves through the internet gateway and
        /// comes back in to a gateway that holds no connection for it, an
        /// unsolicited inbound packet. Counted by the sending gateway as in
        /// from the source and dropped. (To an ENI's public IP the gateway
        /// does carry the flow: a hairpin through the internet gateway.)
        NatGatewayHairpin = 47, "nat_gateway_hairpin";
    }
}

codes! {
    /// Things the pipeline does that are not drops.
    Counter, COUNTER_COUNT, COUNTER_NAMES {
        /// Packets redirected to a destination ENI.
        Forwarded = 0, "forwarded";
        /// Packets that hit an existing flow entry.
        FlowHit = 1, "flow_hit";
        /// Flows created (each creates a forward and a reply entry).
        FlowCreated = 2, "flow_created";
        /// ARP requests answered by the virtual router.
        ArpReply = 3, "arp_reply";
        /// Packets from an interface the fabric does not know: handed to the stack.
        UnknownPortPass = 4, "unknown_port_pass";
        /// Established TCP flows (SYN-ACK seen).
        TcpEstablished = 5, "tcp_established";
        /// Flow events not recorded because the ring buffer was full (the
        /// packet itself was handled as usual).
        FlowEventsLost = 6, "flow_events_lost";
        /// [`super::FLOW_EVENT_REJECT_TRANSLATED`] events emitted: packets a
        /// target's or an HTTP VPC link's security groups rejected after
        /// translation, reported with the tuple the target would have seen.
        FlowRejectsTranslated = 7, "flow_rejects_translated";
        /// ICMP errors quoting a tracked flow, translated back through its
        /// NAT and delivered to the quoted packet's sender.
        IcmpErrorForwarded = 8, "icmp_error_forwarded";
        /// TCP RSTs a NAT gateway sent back to a sender in the VPC for a
        /// segment (not a SYN) of a connection it does not hold: AWS's
        /// answer to a connection that timed out after 350 s idle.
        NatGatewayRstSent = 9, "nat_gateway_rst_sent";
    }
}

impl DropReason {
    /// A policy decision: what AWS VPC Flow Logs record as REJECT (security
    /// groups, and the Hyperplane admission checks that play their part).
    /// Malformed packets, routing failures and resource limits are not.
    pub const fn is_reject(self) -> bool {
        matches!(
            self,
            DropReason::EgressSgDeny
                | DropReason::IngressSgDeny
                | DropReason::TargetIngressSgDeny
                | DropReason::LinkEgressSgDeny
                | DropReason::LinkReverseInitiated
                | DropReason::EndpointPending
                | DropReason::EndpointRejected
                | DropReason::NaclIngressDeny
                | DropReason::NaclEgressDeny
                | DropReason::UntrackedSgDeny
        )
    }
}

/// IPv4 address bytes -> `core::net::Ipv4Addr`-style u32 in host order.
pub const fn ip_u32(b: [u8; 4]) -> u32 {
    u32::from_be_bytes(b)
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all of these are #[repr(C)] with explicit padding and only
    // integer/byte-array fields, so every bit pattern is valid.
    unsafe impl aya::Pod for PortInfo {}
    unsafe impl aya::Pod for PortSlot {}
    unsafe impl aya::Pod for EniKey {}
    unsafe impl aya::Pod for EniInfo {}
    unsafe impl aya::Pod for SgKey {}
    unsafe impl aya::Pod for PortRange {}
    unsafe impl aya::Pod for SgPorts {}
    unsafe impl aya::Pod for FlowKey {}
    unsafe impl aya::Pod for FlowEntry {}
    unsafe impl aya::Pod for FlowCounters {}
    unsafe impl aya::Pod for EniCounters {}
    unsafe impl aya::Pod for EndpointInfo {}
    unsafe impl aya::Pod for ListenerKey {}
    unsafe impl aya::Pod for ListenerInfo {}
    unsafe impl aya::Pod for TargetInfo {}
    unsafe impl aya::Pod for FlowEvent {}
    unsafe impl aya::Pod for NaclRef {}
    unsafe impl aya::Pod for SubnetNacls {}
    unsafe impl aya::Pod for NaclCidrKey {}
    unsafe impl aya::Pod for NaclRuleKey {}
    unsafe impl aya::Pod for NaclDecision {}
    unsafe impl aya::Pod for NaclStatKey {}
    unsafe impl aya::Pod for SubnetRoute {}
    unsafe impl aya::Pod for explain::RouteCheck {}
    unsafe impl aya::Pod for RouteKey {}
    unsafe impl aya::Pod for RouteInfo {}
    unsafe impl aya::Pod for RouteStatKey {}
    unsafe impl aya::Pod for PublicIp {}
    unsafe impl aya::Pod for NatGatewayCounters {}
    unsafe impl aya::Pod for FragKey {}
    unsafe impl aya::Pod for FragEntry {}
    unsafe impl aya::Pod for explain::ExplainTrace {}
}

#[cfg(test)]
mod tests;
