//! `persist`: what lets the data plane outlive its agent.
//!
//! - Programs, links and maps are pinned under `/sys/fs/bpf/hyperlab/<lab>/`
//!   (see [`crate::loader`]); killing the agent, even with SIGKILL, leaves
//!   the links attached and the data plane forwarding.
//! - `/run/hyperlab/<lab>/agent.lock` is held (flock) by the one agent of a
//!   lab; the kernel drops the lock when that process dies however it dies,
//!   so a second agent is refused while the first lives and a restart after
//!   a crash is never blocked by a stale lock file.
//! - `/run/hyperlab/<lab>/state.toml` is the journal of what the maps hold:
//!   the config text and generation last applied and, while a reload is
//!   being written, the one being applied. A restarted agent recompiles
//!   them (compilation is pure), finishes an interrupted reload, and then
//!   syncs to its own config like a reload: no flow is dropped.

use std::{
    fs::{self, File},
    io::{Read, Write},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::{
    compile, config,
    model::{Hook, Topology},
};

pub const RUN_DIR: &str = "/run/hyperlab";

/// The name diagnostics give the embedded default topology.
pub const DEFAULT_SOURCE: &str = "default.toml";

/// Where a lab's lock and journal live.
pub fn run_dir(lab: &str) -> PathBuf {
    Path::new(RUN_DIR).join(lab)
}

/// The exclusive lock of a lab's agent; released when dropped or when the
/// process dies. Dropping it removes the lock file (and the run directory
/// when nothing else is left in it), so a stopped or failed agent leaves
/// nothing behind in `/run/hyperlab`.
#[derive(Debug)]
pub struct AgentLock {
    lock: Option<Flock<File>>,
    path: PathBuf,
}

/// Says who runs lab `lab`: the message every command that needs the lab's
/// agent stopped starts with.
pub fn running_agent(lab: &str, pid: &str) -> String {
    format!("lab {lab} is run by an agent (pid {pid})")
}

impl AgentLock {
    /// Where lab `lab`'s lock file lives.
    pub fn path(lab: &str) -> PathBuf {
        run_dir(lab).join("agent.lock")
    }

    /// Takes the lab's lock, or says which process holds it.
    pub fn acquire(lab: &str) -> Result<AgentLock> {
        let dir = run_dir(lab);
        let path = Self::path(lab);
        // A lock file may be unlinked by the agent that held it between our
        // open and our flock: then the lock we took guards nothing. Retry
        // until the file we locked is the one at the path.
        loop {
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(l) => l,
                Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                    let mut pid = String::new();
                    let _ = file.read_to_string(&mut pid);
                    let pid = pid.trim();
                    bail!(
                        "{}, which holds {}: stop it first with `kill -TERM {pid}` (SIGTERM \
                         leaves the data plane forwarding for the next agent)",
                        running_agent(lab, pid),
                        path.display()
                    );
                }
                Err((_, e)) => bail!("locking {}: {e}", path.display()),
            };
            if !same_file(&lock, &path) {
                continue;
            }
            lock.set_len(0)?;
            write!(&*lock, "{}", std::process::id())?;
            return Ok(AgentLock {
                lock: Some(lock),
                path,
            });
        }
    }

    /// The PID of the agent that runs lab `lab`, if one does.
    pub fn holder(lab: &str) -> Option<String> {
        let path = Self::path(lab);
        let file = File::options().read(true).write(true).open(&path).ok()?;
        match Flock::lock(file, FlockArg::LockSharedNonblock) {
            Ok(_) => None,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                Some(pid.trim().to_string())
            }
            Err(_) => None,
        }
    }
}

/// Whether the open `file` is still the file at `path` (same device and
/// inode).
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl Drop for AgentLock {
    fn drop(&mut self) {
        // Unlink while holding the lock: an agent waiting on the old file
        // sees it is no longer at the path and retries on a new one.
        let _ = fs::remove_file(&self.path);
        drop(self.lock.take());
        if let Some(dir) = self.path.parent() {
            // Only when empty: a journal means a data plane is pinned.
            let _ = fs::remove_dir(dir);
        }
    }
}

/// A config as text, so a later agent can compile exactly what this one
/// applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSource {
    /// File name for diagnostics.
    pub name: String,
    pub text: String,
    /// The node of a lab across nodes this agent serves (`--node`):
    /// [`ConfigSource::parse`] gives that node's view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl ConfigSource {
    /// Reads FILE, or the embedded default topology.
    pub fn read(file: Option<&Path>) -> Result<ConfigSource> {
        Ok(match file {
            Some(f) => ConfigSource {
                name: f.display().to_string(),
                text: fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
                node: None,
            },
            None => ConfigSource {
                name: DEFAULT_SOURCE.into(),
                text: config::DEFAULT_CONFIG.into(),
                node: None,
            },
        })
    }

    /// The topology, as the node this source is for serves it
    /// (`Topology::for_node`); a node the file does not have is reported
    /// as a diagnostic of the `--node` argument.
    pub fn parse(&self) -> Result<Topology, config::Diagnostics> {
        let t = config::parse_str(&self.text, &self.name)?;
        t.for_node(self.node.as_deref()).map_err(|message| {
            config::Diagnostics(vec![config::Diagnostic {
                file: self.name.clone(),
                line: 1,
                column: 1,
                field: "--node".into(),
                message,
            }])
        })
    }

    /// Compiles this source for the lab's fabric ports `ports` into
    /// generation `g`, its interfaces numbered as `numbers` numbered them.
    pub fn compile(
        &self,
        ports: &PortMap,
        g: u32,
        numbers: &compile::EniNumbers,
    ) -> Result<compile::Compiled> {
        let topo = self
            .parse()
            .map_err(|d| anyhow::anyhow!("the journaled config no longer parses:\n{d}"))?;
        let ifindexes = ports.ifindexes(&topo)?;
        Ok(
            compile::compile_numbered(&topo, &ifindexes, numbers, &mut compile::Memo::default())?
                .rebase(g),
        )
    }
}

/// A lab's fabric ifindexes by interface (an ENI's id, an internet host's
/// name), whatever the order of the config that lists them: what a
/// journaled config is compiled against when the lab has grown since.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortMap(std::collections::HashMap<(bool, String), u32>);

impl PortMap {
    /// The ports of `topo`, whose fabric ifindexes are `ifindexes` (ENIs
    /// then internet hosts, as `compile` takes them).
    pub fn of(topo: &Topology, ifindexes: &[u32]) -> PortMap {
        PortMap(
            Self::keys(topo)
                .into_iter()
                .zip(ifindexes.iter().copied())
                .collect(),
        )
    }

    fn keys(topo: &Topology) -> Vec<(bool, String)> {
        let enis = topo.enis.iter().map(|e| (false, e.id.clone()));
        let hosts = topo.internet.hosts.iter().map(|h| (true, h.name.clone()));
        enis.chain(hosts).collect()
    }

    /// `topo`'s fabric ifindexes in `compile`'s order, or the first
    /// interface the lab has no port for.
    pub fn ifindexes(&self, topo: &Topology) -> Result<Vec<u32>> {
        Self::keys(topo)
            .into_iter()
            .map(|k| match self.0.get(&k) {
                Some(&i) => Ok(i),
                None if k.0 => bail!("internet host {} has no fabric port in the lab", k.1),
                None => bail!("ENI {} has no fabric port in the lab", k.1),
            })
            .collect()
    }

    /// [`PortMap::ifindexes`], with `missing` for the interfaces the lab
    /// has no port for yet (hosts a reload is about to add).
    pub fn ifindexes_or(&self, topo: &Topology, missing: u32) -> Vec<u32> {
        Self::keys(topo)
            .into_iter()
            .map(|k| self.0.get(&k).copied().unwrap_or(missing))
            .collect()
    }
}

/// One journal entry: a config and the generation it was written into.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub generation: u32,
    pub source: ConfigSource,
}

/// The journal of what a lab's pinned maps hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// `tc` or `xdp`: the hook the pinned links are of.
    pub hook: String,
    /// The fabric ports (sorted ifindexes) the config was compiled for; a
    /// rebuilt lab has new ones and its old pins are stale.
    pub ifindexes: Vec<u32>,
    /// The network-namespace cookie of the lab's fabric namespace when the
    /// links were attached: a rebuilt lab has a new namespace, and may
    /// reuse the old ifindexes (absent in journals of older agents).
    #[serde(default)]
    pub fabric_cookie: Option<u64>,
    /// What the maps hold.
    pub applied: Applied,
    /// Set while a reload is being written: what it writes.
    pub pending: Option<Applied>,
    /// The lab's interface numbers (`compile::numbers`): what `applied`
    /// and `pending` were compiled with, and what the next agent numbers
    /// from. Absent in journals of older agents, which numbered afresh.
    #[serde(default)]
    pub numbers: compile::EniNumbers,
}

impl Journal {
    /// Writes what lab `lab`'s maps hold: `applied` (and `pending`, while
    /// a reload writes it), for the links of `hook` on ports `ifindexes`,
    /// with the interface numbers `numbers` (those of the later of the two).
    pub fn record(
        lab: &str,
        hook: Hook,
        (ifindexes, fabric_cookie): (&[u32], Option<u64>),
        numbers: &compile::EniNumbers,
        applied: Applied,
        pending: Option<Applied>,
    ) -> Result<()> {
        Journal {
            hook: hook.name().into(),
            ifindexes: ifindexes.to_vec(),
            fabric_cookie,
            applied,
            pending,
            numbers: numbers.clone(),
        }
        .write(lab)
    }

    pub fn path(lab: &str) -> PathBuf {
        run_dir(lab).join("state.toml")
    }

    /// The interface numbers of `topo` in its lab: those its journal holds
    /// (an agent runs or ran it; interfaces the journal lacks get the next
    /// free numbers), else afresh (a lab built from the file alone).
    pub fn numbering_of(topo: &Topology) -> Result<compile::Numbering> {
        match Self::read(&topo.lab.name)? {
            Some(j) => compile::EniNumbers::assign(topo, &j.numbers)?.numbering(topo),
            None => Ok(compile::Numbering::fresh(topo)),
        }
    }

    pub fn read(lab: &str) -> Result<Option<Journal>> {
        let path = Self::path(lab);
        match fs::read_to_string(&path) {
            Ok(s) => toml::from_str(&s).map(Some).with_context(|| {
                format!("{} is corrupt: `dataplane down` resets it", path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Replaces the journal atomically (write aside, fsync, rename).
    pub fn write(&self, lab: &str) -> Result<()> {
        let path = Self::path(lab);
        let tmp = path.with_extension("toml.new");
        let text = toml::to_string(self).context("encoding the journal")?;
        {
            let mut f = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))
    }

    pub fn remove(lab: &str) -> Result<()> {
        match fs::remove_file(Self::path(lab)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", Self::path(lab).display()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_round_trips_through_toml() {
        let j = Journal {
            hook: "tc".into(),
            ifindexes: vec![3, 5, 9],
            fabric_cookie: Some(4097),
            applied: Applied {
                generation: 1,
                source: ConfigSource {
                    name: "a.toml".into(),
                    text: "[lab]\nname = \"x\"\n# \"quoted\" 'and' \\ escaped\n".into(),
                    node: None,
                },
            },
            pending: Some(Applied {
                generation: 0,
                source: ConfigSource {
                    name: "default.toml".into(),
                    text: config::DEFAULT_CONFIG.into(),
                    node: None,
                },
            }),
            numbers: compile::EniNumbers {
                enis: vec!["eni-a".into(), "eni-c".into(), "eni-b".into()],
                managed: vec!["eni-0123456789abcdef0".into()],
                internet: vec!["example".into()],
            },
        };
        let text = toml::to_string(&j).unwrap();
        assert_eq!(toml::from_str::<Journal>(&text).unwrap(), j);
        // A journal of an older agent (no numbers): numbered afresh.
        let old = text[..text.find("[numbers]").expect(&text)].to_string();
        let read = toml::from_str::<Journal>(&old).unwrap();
        assert_eq!(read.numbers, compile::EniNumbers::default());
        assert_eq!(read.applied, j.applied);
    }

    #[test]
    fn a_journaled_source_compiles_to_the_same_maps_as_the_first_time() {
        let src = ConfigSource::read(None).unwrap();
        let topo = src.parse().unwrap();
        let n = crate::lab::plan(&topo).ports.len() as u32;
        let ifx: Vec<u32> = (10..10 + n).collect();
        let a = src
            .compile(&PortMap::of(&topo, &ifx), 1, &Default::default())
            .unwrap();
        let b = compile::compile(&topo, &ifx).unwrap().rebase(1);
        assert_eq!(a.generation, 1);
        assert_eq!(a.ports, b.ports);
        assert_eq!(a.enis, b.enis);
        assert_eq!(a.sg_rules, b.sg_rules);
        assert_eq!(a.listeners, b.listeners);
        assert_eq!(a.tables, b.tables);
    }
}
