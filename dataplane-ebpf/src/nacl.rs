//! Stage `nacl`: the network ACLs a packet meets where it crosses a subnet
//! boundary, on every packet (a flow hit included: a changed ACL cuts a
//! live connection on its next packet, as in AWS). Leaving a subnet, its
//! outbound entries decide on the destination; entering one, its inbound
//! entries decide on the source (VPC user guide, "Network ACLs").
//!
//! The agent precomputed every first match (`compile/nacl.rs`): one lookup
//! in `HL_NACL_CIDRS` gives the peer's address class, one in
//! `HL_NACL_RULES` the deciding rule for the class, protocol and port (ICMP
//! type and code). A uniform direction (the default ACL's allow-all, an
//! empty custom ACL's deny) needs neither.

use aya_ebpf::{bindings::BPF_NOEXIST, maps::lpm_trie::Key};
use dataplane_common::{
    explain::{NACL_CHECK_IN1, NACL_CHECK_IN2, NACL_CHECK_OUT1, NACL_CHECK_OUT2, STAGE_NACL_IN, STAGE_NACL_OUT},
    active_generation, subnet_slot, DropReason, FlowEntry, NaclCidrKey, NaclRef, NaclRuleKey, NaclStatKey, NACL_CIDR_FIXED_BITS,
    NACL_RULE_DEFAULT, NACL_RULE_FIXED_BITS, NO_SUBNET, PROTO_ICMP, SG_DIR_EGRESS, SG_DIR_INGRESS,
};

use crate::{
    explain::{self, dry_run},
    maps::{NACL_CIDRS, NACL_RULES, NACL_STATS, NACL_SUBNETS},
    parse::Headers,
};

/// What the entries' port ranges match: the destination port, or for ICMP
/// `type << 8 | code` (network order either way, as the LPM key wants).
#[inline(always)]
pub fn value(h: &Headers, dport: [u8; 2]) -> [u8; 2] {
    if h.proto == PROTO_ICMP {
        [h.icmp_type, h.icmp_code]
    } else {
        dport
    }
}

/// Leaving subnet `from` for subnet `to` (global indices, generation
/// `gen`): `from`'s outbound entries decide on destination `dst`. No
/// boundary, no ACL. `check`: the trace slot (`explain::NACL_CHECK_*`).
#[inline(always)]
pub fn out(check: usize, gen: u32, from: u16, to: u16, dst: [u8; 4], proto: u8, value: [u8; 2]) -> Result<(), DropReason> {
    // The lab's internet (`NO_SUBNET`) has no subnet and no ACL.
    if from == to || from == NO_SUBNET {
        return Ok(());
    }
    explain::stage(STAGE_NACL_OUT);
    match NACL_SUBNETS.get(subnet_slot(from, gen)) {
        Some(n) if allows(check, from, &n.egress, SG_DIR_EGRESS, dst, proto, value) => Ok(()),
        _ => Err(DropReason::NaclEgressDeny),
    }
}

/// Entering subnet `to` from subnet `from`: `to`'s inbound entries decide
/// on source `src`.
#[inline(always)]
pub fn inbound(check: usize, gen: u32, from: u16, to: u16, src: [u8; 4], proto: u8, value: [u8; 2]) -> Result<(), DropReason> {
    if from == to || to == NO_SUBNET {
        return Ok(());
    }
    explain::stage(STAGE_NACL_IN);
    match NACL_SUBNETS.get(subnet_slot(to, gen)) {
        Some(n) if allows(check, to, &n.ingress, SG_DIR_INGRESS, src, proto, value) => Ok(()),
        _ => Err(DropReason::NaclIngressDeny),
    }
}

/// A packet of a tracked flow: the boundaries its entry `e` recorded, in
/// the order the packet crosses them (docs/DATAPLANE.md, stage order): the
/// packet as it arrived, then as translated (PrivateLink, VPC links).
/// `active`: `HL_ACTIVE`'s value for this packet. A TCP/UDP entry that
/// passed under the same value passes again (same configuration, same
/// addresses and port: same decision), so an unchanged configuration costs
/// one comparison; any switch makes the next packet meet every ACL again.
/// A dry run always checks, and records nothing.
#[inline(always)]
pub fn tracked(active: u32, e: *mut FlowEntry, h: &Headers) -> Result<(), DropReason> {
    // SAFETY: `e` points into a live map value; `nacl_epoch` is a whole
    // u32, stored by any CPU that checked (they store the same value).
    let e = unsafe { &mut *e };
    let memo = h.proto != PROTO_ICMP;
    if memo && e.nacl_epoch == active && !dry_run() {
        return Ok(());
    }
    crossings(active_generation(active), e, h)?;
    if memo && !dry_run() {
        e.nacl_epoch = active;
    }
    Ok(())
}

#[inline(always)]
fn crossings(gen: u32, e: &FlowEntry, h: &Headers) -> Result<(), DropReason> {
    let v1 = value(h, h.dport);
    out(NACL_CHECK_OUT1, gen, e.cross1_from, e.cross1_to, h.dst, h.proto, v1)?;
    inbound(NACL_CHECK_IN1, gen, e.cross1_from, e.cross1_to, h.src, h.proto, v1)?;
    let v2 = value(h, e.new_dport);
    out(NACL_CHECK_OUT2, gen, e.cross2_from, e.cross2_to, e.new_dst, h.proto, v2)?;
    inbound(NACL_CHECK_IN2, gen, e.cross2_from, e.cross2_to, e.new_src, h.proto, v2)
}

/// Does ACL direction `r` (of subnet `subnet`) allow `proto`/`value`
/// to/from `peer`? A denying rule counts the packet (`HL_NACL_STATS`).
#[inline(always)]
fn allows(check: usize, subnet: u16, r: &NaclRef, dir: u8, peer: [u8; 4], proto: u8, value: [u8; 2]) -> bool {
    let uniform = r.uniform_rule != 0;
    let (rule, allow, class) = if uniform {
        (r.uniform_rule, r.uniform_allow, 0)
    } else {
        let ck = Key::new(NACL_CIDR_FIXED_BITS + 32, NaclCidrKey { acl: r.acl.to_be_bytes(), addr: peer });
        match NACL_CIDRS.get(&ck) {
            Some(&class) => {
                let rk = Key::new(
                    NACL_RULE_FIXED_BITS + 16,
                    NaclRuleKey { class: class.to_be_bytes(), proto, value, _pad: 0 },
                );
                match NACL_RULES.get(&rk) {
                    Some(d) => (d.rule, d.allow, class),
                    None => (NACL_RULE_DEFAULT, 0, class),
                }
            }
            // The agent writes 0.0.0.0/0 for every direction it compiles:
            // a miss is an entry being rewritten; deny, as the final `*`.
            None => (NACL_RULE_DEFAULT, 0, 0),
        }
    };
    explain::nacl(check, subnet, r.nacl, class, peer, u16::from_be_bytes(value), dir, proto, rule, allow, uniform);
    if allow == 0 && !dry_run() {
        count(r.nacl, rule, dir);
    }
    allow != 0
}

/// One more packet dropped by rule `rule` of ACL `nacl`, direction `dir`.
#[inline(always)]
fn count(nacl: u32, rule: u16, dir: u8) {
    let k = NaclStatKey { nacl, rule, dir, _pad: 0 };
    if let Some(c) = NACL_STATS.get_ptr_mut(&k) {
        // SAFETY: this CPU's value; nothing else runs on this CPU meanwhile.
        unsafe { *c += 1 };
        return;
    }
    // First drop of this rule on any CPU: create the key (a racing CPU may
    // have just done so: then count into its entry).
    if NACL_STATS.insert(&k, &1, BPF_NOEXIST as u64).is_err() {
        if let Some(c) = NACL_STATS.get_ptr_mut(&k) {
            // SAFETY: as above.
            unsafe { *c += 1 };
        }
    }
}
