//! `pins`: where a lab's data plane lives in bpffs, and how its maps are
//! opened from there.
//!
//! The one place that knows the pin layout (`/sys/fs/bpf/hyperlab/<lab>/`:
//! the maps by name, `links/`, `programs/`). The readers (`stats`, `flows`,
//! `flowlog`), the conntrack sweeper and the agent open pinned maps through
//! here; none of them needs the loader, which is the only part that loads
//! programs and fills maps.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use aya::maps::MapData;
use dataplane_common::maps;

pub const BPFFS: &str = "/sys/fs/bpf";

/// Where a lab's maps are pinned (`<dir>/<MAP>`), with its links
/// (`<dir>/links/`) and programs (`<dir>/programs/`).
pub fn pin_dir(lab: &str) -> PathBuf {
    Path::new(BPFFS).join("hyperlab").join(lab)
}

/// Where a lab's links are pinned: `<dir>/links/` (see [`pin_dir`]).
pub fn links_dir(dir: &Path) -> PathBuf {
    dir.join("links")
}

/// Where a lab's programs are pinned: `<dir>/programs/` (see [`pin_dir`]).
pub fn programs_dir(dir: &Path) -> PathBuf {
    dir.join("programs")
}

/// The maps a lab pins: the whole state a restarted agent adopts.
pub const PINNED_MAPS: &[&str] = &[
    maps::ACTIVE,
    maps::PORTS,
    maps::PORT_SLOTS,
    maps::ENIS,
    maps::SG_RULES,
    maps::FLOWS,
    maps::DROPS,
    maps::COUNTERS,
    maps::ENI_STATS,
    maps::ENDPOINTS,
    maps::LISTENERS,
    maps::MAGLEV,
    maps::TARGETS,
    maps::OBJ_STATS,
    maps::FLOW_EVENTS,
    maps::NACL_SUBNETS,
    maps::NACL_CIDRS,
    maps::NACL_RULES,
    maps::NACL_STATS,
];

/// Opens map `name` that a lab's data plane pinned under `dir`, saying what
/// to do when there is none.
pub fn open_pinned(dir: &Path, name: &str) -> Result<MapData> {
    let p = dir.join(name);
    MapData::from_pin(&p).with_context(|| {
        format!(
            "opening pinned map {}: is `dataplane run` running for this lab?",
            p.display()
        )
    })
}

/// Removes a lab's pinned data plane: unpinning its links detaches them
/// (nothing else holds them), then programs and maps go with their last
/// reference. Returns whether there was anything to remove.
pub fn remove_pins(dir: &Path) -> Result<bool> {
    if !dir.exists() {
        return Ok(false);
    }
    fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_per_lab_under_bpffs() {
        let d = pin_dir("demo");
        assert_eq!(d, Path::new("/sys/fs/bpf/hyperlab/demo"));
        assert_eq!(links_dir(&d), Path::new("/sys/fs/bpf/hyperlab/demo/links"));
        assert_eq!(
            programs_dir(&d),
            Path::new("/sys/fs/bpf/hyperlab/demo/programs")
        );
        // Every pinned map is a distinct name (a pin path each).
        let mut names = PINNED_MAPS.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), PINNED_MAPS.len());
    }
}
