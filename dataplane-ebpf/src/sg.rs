//! Stage `sg`: one longest-prefix match per check. The agent compiled every
//! rule into {set, direction, proto, peer prefix} -> port ranges, with the
//! ranges of covering prefixes merged in, so the kernel never scans rules.

use aya_ebpf::maps::lpm_trie::Key;
use dataplane_common::{SgKey, SG_KEY_FIXED_BITS, SG_MAX_RANGES};

use crate::maps::SG_RULES;

/// Does security-group set `set` allow `proto` to/from `peer` on `port`
/// (host order) in direction `dir`?
#[inline(always)]
pub fn allows(set: u32, dir: u8, proto: u8, peer: [u8; 4], port: u16) -> bool {
    let key = Key::new(SG_KEY_FIXED_BITS + 32, SgKey::new(set, dir, proto, peer));
    let Some(ports) = SG_RULES.get(&key) else {
        return false;
    };
    let n = ports.count as usize;
    let mut i = 0;
    while i < SG_MAX_RANGES {
        if i >= n {
            break;
        }
        let r = ports.ranges[i];
        if port >= r.lo && port <= r.hi {
            return true;
        }
        i += 1;
    }
    false
}
