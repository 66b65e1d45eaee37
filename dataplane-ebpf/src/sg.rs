//! Stage `sg`: one longest-prefix match per check. The agent compiled every
//! rule into {set, direction, proto, peer prefix} -> port ranges, with the
//! ranges of covering prefixes merged in, so the kernel never scans rules.
//! ICMP rules match `type << 8 | code` (AWS's FromPort / ToPort for ICMP)
//! in place of a port; a protocol without entries of its own (GRE, ESP...)
//! falls back to the set's `all` rules.

use aya_ebpf::maps::lpm_trie::Key;
use dataplane_common::{
    PortRange, SgKey, SgPorts, PROTO_ICMP, PROTO_TCP, PROTO_UDP, SG_DIR_ANY_PROTO, SG_DIR_UNTRACKED, SG_KEY_FIXED_BITS,
    SG_MAX_RANGES,
};

use crate::{explain, maps::SG_RULES, parse::Headers};

/// What a rule's port range matches for this packet: the destination port
/// `port` (host order), or for ICMP `type << 8 | code`.
#[inline(always)]
pub fn value(h: &Headers, port: u16) -> u16 {
    if h.proto == PROTO_ICMP {
        (h.icmp_type as u16) << 8 | h.icmp_code as u16
    } else {
        port
    }
}

#[inline(always)]
fn covers(ports: &SgPorts, port: u16) -> Option<(u32, PortRange)> {
    let n = ports.count as usize;
    let mut i = 0;
    while i < SG_MAX_RANGES {
        if i >= n {
            break;
        }
        let r = ports.ranges[i];
        if port >= r.lo && port <= r.hi {
            // The range itself, not its index: indexing again after the
            // loop needs a bounds check LLVM cannot drop (a panic call).
            return Some((i as u32, r));
        }
        i += 1;
    }
    None
}

/// Does security-group set `set` allow `proto` to/from `peer` on `port`
/// (host order; ICMP: [`value`]) in direction `dir`? A dry run records the
/// lookup as trace check `check` (`explain::SG_CHECK_*`).
#[inline(always)]
pub fn allows(check: usize, set: u32, dir: u8, proto: u8, peer: [u8; 4], port: u16) -> bool {
    let key = Key::new(SG_KEY_FIXED_BITS + 32, SgKey::new(set, dir, proto, peer));
    let mut found = SG_RULES.get(&key);
    if found.is_none() && proto != PROTO_TCP && proto != PROTO_UDP && proto != PROTO_ICMP {
        // No rule names this protocol for this peer: the `all` rules decide.
        let any = Key::new(SG_KEY_FIXED_BITS + 32, SgKey::new(set, dir | SG_DIR_ANY_PROTO, 0, peer));
        found = SG_RULES.get(&any);
    }
    let Some(ports) = found else {
        explain::sg_miss(check, set, dir, proto, peer, port, false, 0);
        return false;
    };
    match covers(ports, port) {
        Some((i, r)) => {
            explain::sg(check, set, dir, proto, peer, port, true, ports.count, i, r.lo, r.hi);
            true
        }
        None => {
            explain::sg_miss(check, set, dir, proto, peer, port, true, ports.count);
            false
        }
    }
}

/// Is a flow of `proto` to `port` (host order) untracked at an ENI with set
/// `set`, in direction `dir`? Compile decided AWS's rule (EC2 user guide,
/// "Untracked connections") and wrote the ports under peer 0.0.0.0/0.
#[inline(always)]
pub fn untracked(set: u32, dir: u8, proto: u8, port: u16) -> bool {
    if proto != PROTO_TCP && proto != PROTO_UDP {
        return false;
    }
    let key = Key::new(SG_KEY_FIXED_BITS + 32, SgKey::new(set, dir | SG_DIR_UNTRACKED, proto, [0; 4]));
    match SG_RULES.get(&key) {
        Some(ports) => covers(ports, port).is_some(),
        None => false,
    }
}
