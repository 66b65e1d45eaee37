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
    maps::FLOW_COUNTS,
    maps::FLOW_WINDOW,
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
    maps::ROUTE_SUBNETS,
    maps::ROUTES,
    maps::ROUTE_STATS,
    maps::PUBLIC_IPS,
    maps::SLOW_TC,
    maps::SLOW_XDP,
    maps::NAT_STATS,
    maps::FRAGS,
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

/// Removes a lab's pinned data plane: first detaches every pinned link
/// ([`detach_links`]: no packet meets a program once this returns), then
/// removes the pins; programs and maps go with their last reference.
/// Returns how many links it detached, or None when there was nothing.
pub fn remove_pins(dir: &Path) -> Result<Option<usize>> {
    if !dir.exists() {
        return Ok(None);
    }
    let detached = detach_links(dir)?;
    fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(Some(detached))
}

/// Detaches every link pinned under `<dir>/links/` with BPF_LINK_DETACH,
/// which takes the program off its interface at once. Only removing a pin
/// leaves the detach to the release of the link's last reference, which
/// the kernel defers: packets crossed the fabric for 13-14 ms after it.
/// Returns how many links it detached. A link whose interface (or
/// namespace) is already gone is detached already (ENOLINK) and counts.
pub fn detach_links(dir: &Path) -> Result<usize> {
    let links = links_dir(dir);
    let Ok(entries) = fs::read_dir(&links) else {
        return Ok(0);
    };
    let mut n = 0;
    for e in entries {
        let path = e
            .with_context(|| format!("reading {}", links.display()))?
            .path();
        bpf::link_detach(&path).with_context(|| format!("detaching link {}", path.display()))?;
        n += 1;
    }
    Ok(n)
}

/// The two bpf(2) commands aya 0.14 does not wrap: BPF_OBJ_GET (open a
/// pinned object) and BPF_LINK_DETACH.
mod bpf {
    use std::{
        ffi::CString,
        io,
        os::{
            fd::{FromRawFd, OwnedFd},
            unix::ffi::OsStrExt,
        },
        path::Path,
    };

    use aya_obj::generated::{bpf_attr, bpf_cmd};

    fn sys_bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<i64> {
        // SAFETY: `attr` is a fully initialised bpf_attr of the size passed;
        // the kernel reads (and for some commands writes) only that.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd as libc::c_long,
                attr as *mut bpf_attr,
                std::mem::size_of::<bpf_attr>(),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// Opens the link pinned at `path` and detaches it.
    pub(super) fn link_detach(path: &Path) -> io::Result<()> {
        let name = CString::new(path.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: all-zero is a valid bpf_attr (a union of plain integers).
        let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
        attr.__bindgen_anon_4.pathname = name.as_ptr() as u64;
        let fd = sys_bpf(bpf_cmd::BPF_OBJ_GET, &mut attr)?;
        // SAFETY: BPF_OBJ_GET returned a new file descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
        attr.link_detach.link_fd = std::os::fd::AsRawFd::as_raw_fd(&fd) as u32;
        match sys_bpf(bpf_cmd::BPF_LINK_DETACH, &mut attr) {
            Ok(_) => Ok(()),
            // The link's interface is gone: detached already.
            Err(e) if e.raw_os_error() == Some(libc::ENOLINK) => Ok(()),
            Err(e) => Err(e),
        }
    }
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
