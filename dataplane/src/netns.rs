//! Named network namespaces (`/run/netns/<name>`): creating, deleting, and
//! running code or commands inside one.
//!
//! `setns` changes only the calling thread, so every entry runs the closure on
//! a fresh thread and the caller's namespace is never touched. Creation and
//! deletion follow what iproute2's `ip netns add` / `ip netns del` do, so the
//! namespaces are interchangeable with `ip netns`.

use std::{
    ffi::CString,
    fs::{File, OpenOptions},
    io,
    os::{
        fd::AsRawFd,
        unix::{fs::OpenOptionsExt, process::CommandExt},
    },
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

use anyhow::{bail, Context, Result};
use nix::{
    errno::Errno,
    mount::{mount, umount2, MntFlags, MsFlags},
    sched::{setns, unshare, CloneFlags},
};

pub const NETNS_DIR: &str = "/run/netns";

/// Serialises the one-time setup of `/run/netns` between threads.
static RUN_DIR_SETUP: Mutex<()> = Mutex::new(());

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Checks that `name` is usable as a file name under `/run/netns`.
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\0')
        || name.len() > 255
    {
        bail!("invalid network namespace name {name:?}");
    }
    Ok(())
}

/// Runs `f` on a new thread that has entered network namespace `name`.
pub fn run_in<T, F>(name: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let file = open(name)?;
    let name = name.to_string();
    std::thread::spawn(move || {
        setns(&file, CloneFlags::CLONE_NEWNET)
            .with_context(|| format!("setns into network namespace {name}"))?;
        drop(file);
        f()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("thread inside a network namespace panicked"))?
}

/// A UDP socket in the calling thread's namespace, which is network
/// namespace `ns` (named in the error).
fn udp_socket(ns: &str) -> Result<std::os::fd::OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("opening a socket in network namespace {ns}"));
    }
    // SAFETY: `fd` is a new descriptor nothing else owns.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// The kernel's cookie of network namespace `name` (`SO_NETNS_COOKIE`):
/// unique for the life of the system, never reused, unlike ifindexes and
/// namespace inode numbers. Tells a rebuilt namespace from the one it
/// replaced.
pub fn cookie(name: &str) -> Result<u64> {
    let name_ = name.to_string();
    run_in(name, move || {
        let sock = udp_socket(&name_)?;
        let mut cookie: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        // SAFETY: `cookie` is a valid u64 out-buffer of `len` bytes.
        let r = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_NETNS_COOKIE,
                (&mut cookie as *mut u64).cast(),
                &mut len,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("reading the cookie of network namespace {name_}"));
        }
        Ok(cookie)
    })
}

/// Whether TX checksum offload is on for interface `iface` of namespace
/// `ns` (`ethtool -k IFACE`: tx-checksumming).
pub fn tx_checksum(ns: &str, iface: &str) -> Result<bool> {
    ethtool_value(ns, iface, ETHTOOL_GTXCSUM, 0).map(|v| v != 0)
}

/// Turns TX checksum offload on or off for `iface` of namespace `ns`
/// (`ethtool -K IFACE tx on|off`; the kernel drops the features that need
/// it, such as TSO, with it).
pub fn set_tx_checksum(ns: &str, iface: &str, on: bool) -> Result<()> {
    ethtool_value(ns, iface, ETHTOOL_STXCSUM, on as u32).map(|_| ())
}

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GTXCSUM: u32 = 0x16;
const ETHTOOL_STXCSUM: u32 = 0x17;

/// `struct ifreq` with the `ifr_data` member of its union (40 bytes).
#[repr(C)]
struct IfreqData {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// One `struct ethtool_value` command (get or set) through SIOCETHTOOL.
fn ethtool_value(ns: &str, iface: &str, cmd: u32, data: u32) -> Result<u32> {
    if iface.is_empty() || iface.len() >= libc::IFNAMSIZ {
        bail!("invalid interface name {iface:?}");
    }
    let (ns_, iface) = (ns.to_string(), iface.to_string());
    run_in(ns, move || {
        let sock = udp_socket(&ns_)?;
        #[repr(C)]
        struct EthtoolValue {
            cmd: u32,
            data: u32,
        }
        let mut value = EthtoolValue { cmd, data };
        let mut req = IfreqData {
            name: [0; libc::IFNAMSIZ],
            data: (&mut value as *mut EthtoolValue).cast(),
            _pad: [0; 16],
        };
        req.name[..iface.len()].copy_from_slice(iface.as_bytes());
        // SAFETY: `req` points at `value`, both live for the call.
        let r = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &mut req) };
        if r < 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("ethtool on {iface} in network namespace {ns_}"));
        }
        Ok(value.data)
    })
}

/// Opens the namespace file of `name` (usable with `setns` or `IFLA_NET_NS_FD`).
pub fn open(name: &str) -> Result<File> {
    let p = path(name);
    File::open(&p).with_context(|| {
        format!(
            "network namespace {name} ({}) does not exist: is the lab up?",
            p.display()
        )
    })
}

/// Makes `/run/netns` exist and be a shared mount point, as iproute2 does, so
/// namespace mounts made later propagate to every mount namespace that sees it.
fn ensure_run_dir() -> Result<()> {
    let _guard = RUN_DIR_SETUP.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::create_dir_all(NETNS_DIR).with_context(|| format!("creating {NETNS_DIR}"))?;
    let dir = Path::new(NETNS_DIR);
    let mut bound = false;
    loop {
        match mount(
            Some(""),
            dir,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            // Not a mount point yet: bind it onto itself once, then retry.
            Err(Errno::EINVAL) if !bound => {
                mount(
                    Some(dir),
                    dir,
                    Some("none"),
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .with_context(|| format!("bind-mounting {NETNS_DIR} onto itself"))?;
                bound = true;
            }
            Err(e) => return Err(e).with_context(|| format!("making {NETNS_DIR} a shared mount")),
        }
    }
}

/// Creates network namespace `name` (like `ip netns add`): a new namespace
/// bind-mounted on `/run/netns/<name>`. Fails if the name is taken.
pub fn create(name: &str) -> Result<()> {
    validate_name(name)?;
    ensure_run_dir()?;
    let p = path(name);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(&p)
        .with_context(|| format!("creating {}", p.display()))?;
    let target = p.clone();
    let made = std::thread::spawn(move || -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            Some("none"),
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind-mounting the new namespace on {}", target.display()))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("namespace-creating thread panicked"))
    .and_then(|r| r);
    if let Err(e) = made {
        let _ = std::fs::remove_file(&p);
        return Err(e.context(format!("creating network namespace {name}")));
    }
    Ok(())
}

/// Deletes network namespace `name` (like `ip netns del`). The kernel frees the
/// namespace, and destroys its interfaces, once nothing else holds it.
/// Succeeds if it does not exist.
pub fn delete(name: &str) -> Result<()> {
    validate_name(name)?;
    let p = path(name);
    if std::fs::symlink_metadata(&p).is_err() {
        return Ok(());
    }
    match umount2(&p, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (a file left by an interrupted create).
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => {
            return Err(e).with_context(|| format!("unmounting network namespace {name}"));
        }
    }
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", p.display())),
    }
}

/// Writes a sysctl under `/proc/sys/net` from a thread inside namespace `ns`
/// (`/proc/sys/net` shows the namespace of the thread that reads it).
/// `key` is relative to `/proc/sys/net`, e.g. `ipv6/conf/all/disable_ipv6`.
pub fn write_sysctl_in(ns: &str, key: &str, value: &str) -> Result<()> {
    let key = key.to_string();
    let value = value.to_string();
    run_in(ns, move || write_net_sysctl(&key, &value))
}

/// Writes `/proc/sys/net/<key>` in the calling thread's namespace.
pub fn write_net_sysctl(key: &str, value: &str) -> Result<()> {
    let p = Path::new("/proc/sys/net").join(key);
    std::fs::write(&p, value).with_context(|| format!("writing {value} to {}", p.display()))
}

/// Reads `/proc/sys/net/<key>` in the calling thread's namespace.
pub fn read_net_sysctl(key: &str) -> Result<String> {
    let p = Path::new("/proc/sys/net").join(key);
    Ok(std::fs::read_to_string(&p)
        .with_context(|| format!("reading {}", p.display()))?
        .trim()
        .to_string())
}

/// A `Command` for `argv` that runs inside namespace `ns` the way
/// `ip netns exec` does: the child enters the network namespace, gets a
/// private mount namespace and a `/sys` that describes its network namespace.
/// The returned `File` must stay open until the command has been spawned.
pub fn command(ns: &str, argv: &[String]) -> Result<(Command, File)> {
    let (prog, args) = argv
        .split_first()
        .context("no command given to run in the namespace")?;
    let file = open(ns)?;
    let fd = file.as_raw_fd();
    let sysfs_source = CString::new(ns).context("namespace name contains NUL")?;
    let mut cmd = Command::new(prog);
    cmd.args(args);
    // SAFETY: the closure calls only async-signal-safe syscalls on memory
    // prepared before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || enter_for_exec(fd, &sysfs_source));
    }
    Ok((cmd, file))
}

fn enter_for_exec(fd: i32, sysfs_source: &CString) -> io::Result<()> {
    fn check(r: libc::c_int) -> io::Result<()> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
    const ROOT: &[u8] = b"/\0";
    const SYS: &[u8] = b"/sys\0";
    const SYSFS: &[u8] = b"sysfs\0";
    const NONE: &[u8] = b"none\0";
    const EMPTY: &[u8] = b"\0";
    // SAFETY: plain syscalls on NUL-terminated static strings and a live fd.
    unsafe {
        check(libc::setns(fd, libc::CLONE_NEWNET))?;
        check(libc::unshare(libc::CLONE_NEWNS))?;
        // Keep our mounts from propagating back to the parent.
        check(libc::mount(
            EMPTY.as_ptr().cast(),
            ROOT.as_ptr().cast(),
            NONE.as_ptr().cast(),
            libc::MS_SLAVE | libc::MS_REC,
            std::ptr::null(),
        ))?;
        let mut flags: libc::c_ulong = 0;
        if libc::umount2(SYS.as_ptr().cast(), libc::MNT_DETACH) < 0 {
            // Could not unmount it: overlay it, read-only if it was.
            let mut st: libc::statvfs = std::mem::zeroed();
            if libc::statvfs(SYS.as_ptr().cast(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0
            {
                flags = libc::MS_RDONLY;
            }
        }
        check(libc::mount(
            sysfs_source.as_ptr(),
            SYS.as_ptr().cast(),
            SYSFS.as_ptr().cast(),
            flags,
            std::ptr::null(),
        ))?;
    }
    Ok(())
}

/// Like [`run_in`], but the closure may borrow from the caller (a scoped
/// thread), e.g. to attach programs the caller owns.
pub fn scoped_in<T, F>(name: &str, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    let p = path(name);
    let file = File::open(&p).with_context(|| {
        format!(
            "network namespace {name} ({}) does not exist: is the lab up?",
            p.display()
        )
    })?;
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(&file, CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("setns into network namespace {name}"))?;
            f()
        })
        .join()
        .map_err(|_| anyhow::anyhow!("thread inside network namespace {name} panicked"))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("lab-fabric").is_ok());
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
