//! Stage `sg`: one longest-prefix match per check. The agent compiled every
//! rule into {set, direction, proto, peer prefix} -> port ranges, with the
//! ranges of covering prefixes merged in, so the kernel never scans rules.

use aya_ebpf::maps::lpm_trie::Key;
use dataplane_common::{SgKey, SG_KEY_FIXED_BITS, SG_MAX_RANGES};

use crate::{explain, maps::SG_RULES};

/// Does security-group set `set` allow `proto` to/from `peer` on `port`
/// (host order) in direction `dir`? A dry run records the lookup as
/// trace check `check` (`explain::SG_CHECK_*`).
#[inline(always)]
pub fn allows(check: usize, set: u32, dir: u8, proto: u8, peer: [u8; 4], port: u16) -> bool {
    let key = Key::new(SG_KEY_FIXED_BITS + 32, SgKey::new(set, dir, proto, peer));
    let Some(ports) = SG_RULES.get(&key) else {
        explain::sg_miss(check, set, dir, proto, peer, port, false, 0);
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
            explain::sg(check, set, dir, proto, peer, port, true, ports.count, i as u32, r.lo, r.hi);
            return true;
        }
        i += 1;
    }
    explain::sg_miss(check, set, dir, proto, peer, port, true, ports.count);
    false
}
