//! Network ACLs (docs/DATAPLANE.md, "Network ACLs"). A packet that crosses
//! a subnet boundary meets the source subnet's outbound entries and the
//! destination subnet's inbound entries. The agent precomputes each ACL
//! direction's first-match decisions into two LPM tries, so the kernel
//! never scans entries: `HL_NACL_CIDRS` maps (ACL direction, peer address)
//! to an address class, `HL_NACL_RULES` maps (class, protocol, port or
//! ICMP type<<8|code) to the deciding rule.

/// Subnets of one configuration generation (`HL_NACL_SUBNETS` holds two).
pub const SUBNETS_PER_GENERATION: u32 = 2048;
pub const MAX_SUBNETS: u32 = 2 * SUBNETS_PER_GENERATION;
pub const MAX_NACL_CIDRS: u32 = 65_536;
pub const MAX_NACL_RULES: u32 = 262_144;
pub const MAX_NACL_STATS: u32 = 16_384;
/// A flow entry's subnet field with no subnet (no second crossing).
pub const NO_SUBNET: u16 = u16::MAX;
/// The rule number of every ACL's final `*` entry (AWS lists it as `*`;
/// its API shows 32767): deny whatever no numbered entry matched.
pub const NACL_RULE_DEFAULT: u16 = 32767;
/// Leading bits of an [`NaclCidrKey`] before the address prefix.
pub const NACL_CIDR_FIXED_BITS: u32 = 32;
/// Leading bits of an [`NaclRuleKey`] before the port prefix: class and
/// protocol. A class-level entry (any protocol) has only the class's 32.
pub const NACL_RULE_FIXED_BITS: u32 = 40;

/// The `HL_NACL_SUBNETS` index of subnet `subnet` in generation `gen`.
#[inline(always)]
pub const fn subnet_slot(subnet: u16, gen: u32) -> u32 {
    (gen & 1) * SUBNETS_PER_GENERATION + subnet as u32
}

/// One direction of a subnet's network ACL.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NaclRef {
    /// The ACL direction's id in `HL_NACL_CIDRS` (generation-specific; 0:
    /// none, the direction is uniform).
    pub acl: u32,
    /// The ACL's stable identity ([`nacl_stat_id`] of its config id): the
    /// `HL_NACL_STATS` key and what explain names.
    pub nacl: u32,
    /// Non-zero: every packet meets this rule (`uniform_allow` says how it
    /// ends), so no lookup is needed: the default ACL's allow-all rule 100,
    /// or the `*` deny of an ACL with no entries.
    pub uniform_rule: u16,
    pub uniform_allow: u8,
    pub _pad: u8,
}

/// A subnet's network ACL: the outbound and inbound directions.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SubnetNacls {
    pub egress: NaclRef,
    pub ingress: NaclRef,
}

/// The data of an `HL_NACL_CIDRS` LPM key: the prefix covers `acl`
/// ([`NACL_CIDR_FIXED_BITS`]) plus the address prefix length.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NaclCidrKey {
    /// Big-endian so the trie's leading bits are the id.
    pub acl: [u8; 4],
    pub addr: [u8; 4],
}

impl NaclCidrKey {
    pub const fn new(acl: u32, addr: [u8; 4]) -> Self {
        NaclCidrKey {
            acl: acl.to_be_bytes(),
            addr,
        }
    }
}

/// The data of an `HL_NACL_RULES` LPM key: class, protocol, then the
/// port (TCP/UDP destination port; ICMP `type << 8 | code`), big-endian.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NaclRuleKey {
    pub class: [u8; 4],
    pub proto: u8,
    pub value: [u8; 2],
    pub _pad: u8,
}

impl NaclRuleKey {
    pub const fn new(class: u32, proto: u8, value: u16) -> Self {
        NaclRuleKey {
            class: class.to_be_bytes(),
            proto,
            value: value.to_be_bytes(),
            _pad: 0,
        }
    }
}

/// The first entry of an ACL direction that matches a class, protocol and
/// port: its rule number and action.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NaclDecision {
    pub rule: u16,
    /// 1: allow, 0: deny.
    pub allow: u8,
    pub _pad: u8,
}

/// `HL_NACL_STATS` key: packets dropped by one rule of one ACL direction.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NaclStatKey {
    /// [`NaclRef::nacl`].
    pub nacl: u32,
    pub rule: u16,
    /// `SG_DIR_INGRESS` or `SG_DIR_EGRESS`.
    pub dir: u8,
    pub _pad: u8,
}

/// A network ACL's stable identity: FNV-1a of its config id. Counters are
/// keyed by it, so they keep their meaning across reloads that add,
/// remove or reorder ACLs.
pub const fn nacl_stat_id(id: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < id.len() {
        h ^= id[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    h
}
