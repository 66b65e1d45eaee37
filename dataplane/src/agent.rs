//! `agent`: wires a built lab and the loader together. Nothing here touches
//! the kernel before the config has been validated and compiled, so a bad
//! config never leaves anything half applied.

use std::{
    collections::BTreeSet,
    net::SocketAddrV4,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context, Result};
use aya::maps::Map;
use dataplane_common::maps;

use crate::{
    compile::{self, Compiled},
    conntrack, flowlog,
    health::{HealthChecker, Probe},
    lab::{self, LabPlan},
    loader::{self, Dataplane, KernelObject, LoadOptions},
    model::{ConntrackSettings, Hook, Topology},
    persist::{AgentLock, Applied, ConfigSource, Journal, PortMap},
    pins,
    stats::{self, Layout, Snapshot},
};

pub mod grow;

pub struct Agent {
    pub topo: Topology,
    pub plan: LabPlan,
    pub compiled: Compiled,
    /// Security-group entries of the last compilation, for the next reload.
    memo: compile::Memo,
    pub hook: Hook,
    /// The fabric namespace's cookie when the links were attached.
    fabric_cookie: Option<u64>,
    /// The settings a reload does not apply, as the config file gave them
    /// when this agent started (before command-line overrides).
    started_with: Topology,
    /// What the last reload did not apply.
    not_applied: Vec<String>,
    /// Global indices of the targets currently out of selection.
    pub unhealthy: Arc<Mutex<BTreeSet<u32>>>,
    // Stopped before the data plane is dropped (field order).
    health: Option<HealthSync>,
    sweeper: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    /// What the sweeper applies; replaced on reload.
    conntrack: conntrack::Shared,
    /// `LoadOptions::sweep_every`, kept over reloads.
    sweep_every: Option<Duration>,
    kernel_log: Option<JoinHandle<()>>,
    // After the sweeper (its last removals reach the log): writes the last
    // interval when dropped. A reload that adds hosts gives it their
    // interfaces.
    flow_log: Option<flowlog::FlowLog>,
    /// Dropped by hand in `Drop`, before the lock and run directory go.
    pub dataplane: std::mem::ManuallyDrop<Dataplane>,
    /// The config text applied (persistent agents only).
    source: Option<ConfigSource>,
    /// Released last: the next agent may start only once this one is gone.
    _lock: AgentLock,
}

/// The settings `new` changes from `old` that a reload does not apply: the
/// flow-log writer and the lab's hook and MTU are set up when the agent
/// starts (a restart applies them and keeps every flow).
pub fn not_applied_by_reload(old: &Topology, new: &Topology) -> Vec<String> {
    let mut out = Vec::new();
    if old.flow_logs != new.flow_logs {
        out.push("[flow_logs]".to_string());
    }
    if old.lab.hook != new.lab.hook {
        out.push("[lab] hook".to_string());
    }
    if old.lab.mtu != new.lab.mtu {
        out.push("[lab] mtu".to_string());
    }
    out
}

/// The config file as a command argument (" FILE"), or nothing for the
/// embedded default topology.
fn file_arg(source: Option<&ConfigSource>) -> String {
    match source {
        Some(s) if s.name != crate::persist::DEFAULT_SOURCE => format!(" {}", s.name),
        _ => String::new(),
    }
}

/// Health checks and the thread that turns their verdicts into Maglev
/// table updates.
struct HealthSync {
    checker: HealthChecker,
    thread: JoinHandle<()>,
}

impl Agent {
    /// Compiles `topo` against the running lab, loads the programs, fills the
    /// maps, attaches to every fabric port and pins the maps.
    pub fn start(topo: Topology, obj: &KernelObject, hook: Hook) -> Result<Agent> {
        Self::start_with(topo, obj, hook, &LoadOptions::default())
    }

    /// An agent whose data plane lives as long as it does: whatever an
    /// earlier agent left pinned for the lab is removed first, and dropping
    /// the agent removes everything (tests, the demo).
    pub fn start_with(
        topo: Topology,
        obj: &KernelObject,
        hook: Hook,
        opts: &LoadOptions,
    ) -> Result<Agent> {
        Self::launch(topo, None, obj, hook, opts)
    }

    /// `dataplane run`: an agent whose data plane outlives it. Programs,
    /// links and maps are pinned and `source` is journaled, so killing the
    /// agent (even with SIGKILL) leaves the data plane forwarding, and the
    /// next agent of the lab adopts it: it finishes a reload the last one
    /// was killed in, syncs the maps to its own config exactly like a
    /// reload (flows kept), and swaps its programs into the pinned links
    /// atomically. A second agent of the same lab is refused.
    ///
    /// `topo` is `source` parsed, with what the command line overrides
    /// (flow-log settings) applied; `source` is what is journaled.
    pub fn start_persistent(
        source: ConfigSource,
        topo: Topology,
        obj: &KernelObject,
        hook: Hook,
        opts: &LoadOptions,
    ) -> Result<Agent> {
        Self::launch(topo, Some(source), obj, hook, opts)
    }

    fn launch(
        topo: Topology,
        source: Option<ConfigSource>,
        obj: &KernelObject,
        hook: Hook,
        opts: &LoadOptions,
    ) -> Result<Agent> {
        // Root, bpffs and the object first: their messages say how to fix them.
        loader::check_prerequisites(obj)?;
        let lab_name = topo.lab.name.clone();
        let lock = AgentLock::acquire(&lab_name)?;
        let fabric_ns = lab::plan(&topo).fabric_ns;
        let fabric_cookie = crate::netns::cookie(&fabric_ns).ok();
        let pins = pins::pin_dir(&lab_name);
        // What an earlier agent left, if this one can adopt it: its
        // interface numbers go on (`compile::numbers`).
        let journal = match (&source, Journal::read(&lab_name)?) {
            (Some(_), Some(j)) if pins.exists() => {
                if j.hook != hook.name() {
                    anyhow::bail!(
                        "lab {lab_name}'s data plane runs on the {} hook, this agent asks for \
                         {}: keep the hook, or remove it first with `dataplane down` (live \
                         flows are lost)",
                        j.hook,
                        hook.name()
                    );
                }
                Some(j)
            }
            _ => None,
        };
        let rebuilt = || {
            log::warn!(
                "lab {lab_name} was rebuilt since its data plane was pinned (its fabric \
                 namespace {fabric_ns} is a new one): the old data plane lost its ports and its \
                 flows; attaching afresh"
            );
            None
        };
        // A rebuilt lab has a new fabric namespace, and was built from its
        // file: numbered afresh.
        let journal = match journal {
            Some(j)
                if fabric_cookie.is_some()
                    && j.fabric_cookie.is_some()
                    && j.fabric_cookie != fabric_cookie =>
            {
                rebuilt()
            }
            j => j,
        };
        let previous = journal
            .as_ref()
            .map(|j| j.numbers.clone())
            .unwrap_or_default();
        let numbers = compile::EniNumbers::assign(&topo, &previous)?;
        let plan = lab::plan_numbered(&topo, &numbers.numbering(&topo)?);
        let mut ifx = lab::fabric_ifindexes(&plan).with_context(|| {
            format!(
                "reading the fabric ports of lab {}: run {} first",
                plan.name,
                match source.as_ref() {
                    // A followed endpoint: the lab is built from a file of its state.
                    Some(s) if s.name.starts_with("http://") => format!(
                        "`dataplane import aws --endpoint {} --lab {} -o FILE` and `dataplane lab up FILE`",
                        s.name, plan.name
                    ),
                    _ => format!("`dataplane lab up{}`", file_arg(source.as_ref())),
                }
            )
        })?;
        let fabric_cookie =
            Some(fabric_cookie.map_or_else(|| crate::netns::cookie(&fabric_ns), Ok)?);
        // The file's own settings (`topo` has the command line's overrides).
        let started_with = source
            .as_ref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| topo.clone());
        ifx.sort();
        let ifindexes: Vec<u32> = ifx.iter().map(|&(_, i)| i).collect();
        // Journals of older agents have no cookie (and no numbers): compare
        // the ports.
        let journal = match journal {
            Some(j) if j.fabric_cookie.is_none() && j.ifindexes != ifindexes => rebuilt(),
            j => j,
        };
        let mut memo = compile::Memo::default();
        let fresh = compile::compile_numbered(&topo, &ifindexes, &numbers, &mut memo)?;
        if journal.is_none() {
            if pins::remove_pins(&pins)?.is_some() {
                log::info!(
                    "removed a stale data plane of lab {lab_name} from {}",
                    pins.display()
                );
            }
            Journal::remove(&lab_name)?;
        }
        let mut dataplane = Dataplane::load_pinned(obj, &with_flow_events(&topo, opts), &pins)?;
        dataplane.remove_on_drop(source.is_none());
        let numbers = fresh.numbers.clone();
        let record = |applied: Applied, pending: Option<Applied>| {
            Journal::record(
                &lab_name,
                hook,
                (&ifindexes, fabric_cookie),
                &numbers,
                applied,
                pending,
            )
        };
        let compiled = match (&source, journal) {
            (None, _) => {
                dataplane.apply(&fresh)?;
                fresh
            }
            (Some(src), None) => {
                dataplane.apply(&fresh)?;
                record(
                    Applied {
                        generation: fresh.generation,
                        source: src.clone(),
                    },
                    None,
                )?;
                fresh
            }
            (Some(src), Some(j)) => {
                let ports = PortMap::of(&topo, &ifindexes);
                let mut applied = j.applied.clone();
                let mut held = applied
                    .source
                    .compile(&ports, applied.generation, &j.numbers)?;
                if let Some(p) = j.pending {
                    log::warn!(
                        "the last agent of lab {lab_name} was stopped in the middle of a \
                         reload: finishing it"
                    );
                    let pending = p.source.compile(&ports, p.generation, &j.numbers)?;
                    dataplane.sync(&pending, Some(&held))?;
                    record(p.clone(), None)?;
                    (applied, held) = (p, pending);
                }
                let next = Applied {
                    generation: 1 - applied.generation,
                    source: src.clone(),
                };
                let new = fresh.rebase(next.generation);
                record(applied, Some(next.clone()))?;
                dataplane.sync(&new, Some(&held))?;
                record(next, None)?;
                log::info!(
                    "adopted lab {lab_name}'s pinned data plane ({} flow entries kept), now at \
                     generation {}",
                    dataplane.flows().map(|f| f.len()).unwrap_or(0),
                    new.generation
                );
                new
            }
        };
        if hook == Hook::Xdp {
            for p in &plan.ports {
                dataplane.attach_xdp_pass(&p.host_ns, &p.host_iface)?;
            }
            let on = lab::tx_offload_on(&plan)?;
            if !on.is_empty() {
                log::warn!(
                    "XDP hook: TX checksum offload is on for {}: host TCP and UDP through the \
                     XDP fabric will fail their checksums (ping works). Rebuild the lab with \
                     `dataplane lab up --tx-offload-off{f}` (stop this agent and `dataplane \
                     down{f}` first), or run `ethtool -K IFACE tx off` in each host: `dataplane \
                     lab exec{f} HOST -- ethtool -K eth0 tx off`",
                    on.join(", "),
                    f = file_arg(source.as_ref())
                );
            }
        }
        let mut names: Vec<String> = plan.ports.iter().map(|p| p.name.clone()).collect();
        // A lab across nodes: what other nodes send arrives on the VXLAN device.
        if plan.tunnel.is_some() {
            names.push(lab::TUNNEL_DEVICE.to_string());
        }
        let adopted = dataplane.attach(&plan.fabric_ns, &names, hook)?;
        log::info!(
            "lab {}: {} ports attached ({:?} hook, {adopted} links adopted), {} security-group \
             entries, {} ENIs",
            plan.name,
            names.len(),
            hook,
            compiled.sg_rules.len(),
            compiled.enis.len()
        );
        let unhealthy = Arc::new(Mutex::new(BTreeSet::new()));
        let health = start_health(
            &topo,
            &plan,
            &compiled,
            pins::pin_dir(&topo.lab.name),
            unhealthy.clone(),
        )?;
        let stop = Arc::new(AtomicBool::new(false));
        let kernel_log = match dataplane.take_logger() {
            Some(mut logger) => {
                let stop = stop.clone();
                Some(
                    std::thread::Builder::new()
                        .name("kernel-log".into())
                        .spawn(move || {
                            // aya-log lines from the programs, into env_logger.
                            while !stop.load(Ordering::Relaxed) {
                                logger.flush();
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        })
                        .context("starting the kernel-log thread")?,
                )
            }
            None => None,
        };
        let conntrack = Arc::new(Mutex::new(sweep_settings(&topo, opts.sweep_every)));
        let (flow_log, removed) = start_flow_log(&topo, &compiled.numbers.numbering(&topo)?)?;
        let sweep = conntrack::sweeper(
            &pins::pin_dir(&topo.lab.name),
            conntrack.clone(),
            stop.clone(),
            removed,
        )?;
        Ok(Agent {
            topo,
            plan,
            compiled,
            memo,
            hook,
            fabric_cookie,
            started_with,
            not_applied: Vec::new(),
            unhealthy,
            source,
            health,
            sweeper: Some((stop, sweep)),
            conntrack,
            sweep_every: opts.sweep_every,
            kernel_log,
            flow_log,
            dataplane: std::mem::ManuallyDrop::new(dataplane),
            _lock: lock,
        })
    }

    /// [`Agent::reload`] from config text, journaled so that an agent
    /// killed in the middle of it is finished by the next one.
    pub fn reload_source(&mut self, source: ConfigSource) -> Result<()> {
        let topo = source.parse().map_err(|d| anyhow::anyhow!("{d}"))?;
        self.reload_inner(topo, Some(source))
    }

    /// Applies a new topology to the running data plane (SIGHUP, `--watch`).
    /// The new config is compiled first; any error leaves everything as it
    /// was. New hosts (new ENIs on hosts the lab does not have) are built
    /// into the lab (`grow`); other changes that need the lab rebuilt
    /// (ENIs removed or moved, subnets) are refused.
    /// Flows already tracked keep their actions: AWS does not cut an
    /// established connection when a rule is removed (a removed endpoint,
    /// integration or target stops new flows; its live flows run until they
    /// go idle).
    pub fn reload(&mut self, topo: Topology) -> Result<()> {
        self.reload_inner(topo, None)
    }

    fn reload_inner(&mut self, mut topo: Topology, source: Option<ConfigSource>) -> Result<()> {
        let Some(added) = grow::added_hosts(&self.topo, &topo) else {
            let f = file_arg(source.as_ref().or(self.source.as_ref()));
            anyhow::bail!(
                "the lab's name, subnets, ENIs or internet hosts changed: that needs the lab \
                 rebuilt; nothing \
                 was changed. Stop this agent (`kill -TERM {}`), then run `dataplane lab \
                 down{f}`, `dataplane lab up{f}` and `dataplane run{f}`",
                std::process::id()
            );
        };
        let next = 1 - self.compiled.generation;
        let started = std::time::Instant::now();
        // Compiled first against the ports the lab has (a host to add has
        // none yet): a config the maps cannot take is refused before the
        // lab grows.
        let ports = PortMap::of(&self.topo, &self.compiled.port_ifindexes());
        let mut compiled = compile::compile_numbered(
            &topo,
            &ports.ifindexes_or(&topo, 0),
            &self.compiled.numbers,
            &mut self.memo,
        )?;
        let mut plan = None;
        if !added.is_empty() {
            let p = lab::plan_numbered(&topo, &compiled.numbers.numbering(&topo)?);
            let ifindexes = self.grow(&p, &added)?;
            compiled = match compile::compile_numbered(
                &topo,
                &ifindexes,
                &self.compiled.numbers,
                &mut self.memo,
            ) {
                Ok(c) => c,
                Err(e) => {
                    self.shrink(&p, &added);
                    return Err(e);
                }
            };
            plan = Some(p);
        }
        let compiled = compiled.rebase(next);
        let compile_time = started.elapsed();
        // The grown lab's plan (health checks probe from its hosts).
        let old_plan = plan.map(|p| std::mem::replace(&mut self.plan, p));
        let synced = self.reload_compiled(&topo, compiled, source, compile_time);
        if let Err(e) = synced {
            if let Some(old) = old_plan {
                let grown = std::mem::replace(&mut self.plan, old);
                self.shrink(&grown, &added);
            }
            return Err(e);
        }
        if old_plan.is_some() {
            log::info!(
                "lab {}: host{} {} added",
                self.plan.name,
                if added.len() == 1 { "" } else { "s" },
                added.join(", ")
            );
            if let Some(f) = &self.flow_log {
                f.set_interfaces(flowlog::Interfaces::numbered(
                    &topo,
                    &self.numbering_of(&topo),
                ));
            }
        }
        // What a reload does not apply: the running values stay, and
        // `not_applied` names them until a restart.
        self.not_applied = not_applied_by_reload(&self.started_with, &topo);
        topo.flow_logs = self.topo.flow_logs.clone();
        topo.lab.hook = self.topo.lab.hook;
        topo.lab.mtu = self.topo.lab.mtu;
        self.topo = topo;
        Ok(())
    }

    /// Builds hosts `added` of `plan` (the grown lab's) into the lab and
    /// attaches the data plane to their ports (pinned, like every port);
    /// returns the grown lab's fabric ifindexes. On failure the hosts and
    /// their links are removed again: the lab is as it was.
    fn grow(&mut self, plan: &LabPlan, added: &[String]) -> Result<Vec<u32>> {
        lab::add_hosts(plan, added)?;
        let grown = (|| -> Result<Vec<u32>> {
            let mut ifx = lab::fabric_ifindexes(plan)?;
            ifx.sort();
            let new: Vec<&lab::PortPlan> = new_ports(plan, added);
            if self.hook == Hook::Xdp {
                // As the rest of the lab was built (`lab up --tx-offload-off`).
                let off = lab::tx_offload_on(&self.plan)?.is_empty();
                for p in &new {
                    if off {
                        crate::netns::set_tx_checksum(&p.host_ns, &p.host_iface, false)?;
                    }
                    self.dataplane.attach_xdp_pass(&p.host_ns, &p.host_iface)?;
                }
            }
            let names: Vec<String> = new.iter().map(|p| p.name.clone()).collect();
            self.dataplane.attach(&plan.fabric_ns, &names, self.hook)?;
            Ok(ifx.iter().map(|&(_, i)| i).collect())
        })();
        if grown.is_err() {
            self.shrink(plan, added);
        }
        grown.with_context(|| format!("adding hosts {} to lab {}", added.join(", "), plan.name))
    }

    /// Undoes [`Agent::grow`]: the links of the added hosts' ports, then
    /// the hosts.
    fn shrink(&mut self, plan: &LabPlan, added: &[String]) {
        let new = new_ports(plan, added);
        let names: Vec<String> = new.iter().map(|p| p.name.clone()).collect();
        let hosts: Vec<(String, String)> = new
            .iter()
            .map(|p| (p.host_ns.clone(), p.host_iface.clone()))
            .collect();
        if let Err(e) = self.dataplane.detach(self.hook, &names, &hosts) {
            log::warn!("removing the links of hosts {}: {e:#}", added.join(", "));
        }
        if let Err(e) = lab::remove_hosts(plan, added) {
            log::warn!("{e:#}");
        }
    }

    /// Writes `compiled` (of `topo`) into the data plane as a reload.
    fn reload_compiled(
        &mut self,
        topo: &Topology,
        compiled: Compiled,
        source: Option<ConfigSource>,
        compile_time: Duration,
    ) -> Result<()> {
        let next = compiled.generation;
        // Journal what is about to be written (persistent agents).
        let journal = match (&self.source, source) {
            (Some(old), Some(new)) => Some((
                Applied {
                    generation: self.compiled.generation,
                    source: old.clone(),
                },
                Applied {
                    generation: next,
                    source: new,
                },
            )),
            _ => None,
        };
        if let Some((applied, pending)) = &journal {
            self.journal(
                applied.clone(),
                Some(pending.clone()),
                (&compiled.numbers, &compiled.port_ifindexes()),
            )?;
        }
        if let Some(h) = self.health.take() {
            h.checker.stop();
            let _ = h.thread.join();
        }
        self.unhealthy.lock().expect("health set").clear();
        let applying = std::time::Instant::now();
        crate::fault::arm_for_reload();
        let synced = self.dataplane.sync(&compiled, Some(&self.compiled));
        crate::fault::disarm();
        synced?;
        let (writes, apply_time) = (crate::fault::passed(), applying.elapsed());
        if let Some((_, pending)) = journal {
            self.journal(
                pending.clone(),
                None,
                (&compiled.numbers, &compiled.port_ifindexes()),
            )?;
            self.source = Some(pending.source);
        }
        self.health = start_health(
            topo,
            &self.plan,
            &compiled,
            pins::pin_dir(&topo.lab.name),
            self.unhealthy.clone(),
        )?;
        log::info!(
            "reloaded: generation {next}, {} security-group entries, {} ENIs, {} listeners; \
             compiled in {:.1} ms, {writes} map writes applied in {:.1} ms",
            compiled.sg_rules.len(),
            compiled.enis.len(),
            compiled.listeners.len(),
            compile_time.as_secs_f64() * 1e3,
            apply_time.as_secs_f64() * 1e3
        );
        *self.conntrack.lock().expect("conntrack settings lock") =
            sweep_settings(topo, self.sweep_every);
        self.compiled = compiled;
        Ok(())
    }

    /// The config settings the last reload left unapplied (a restart of the
    /// agent applies them), as "[section] key" texts.
    pub fn not_applied(&self) -> &[String] {
        &self.not_applied
    }

    fn journal(
        &self,
        applied: Applied,
        pending: Option<Applied>,
        (numbers, ifindexes): (&compile::EniNumbers, &[u32]),
    ) -> Result<()> {
        Journal::record(
            &self.topo.lab.name,
            self.hook,
            (ifindexes, self.fabric_cookie),
            numbers,
            applied,
            pending,
        )
    }

    /// The interface numbers of the running topology (`compile::numbers`).
    pub fn numbering(&self) -> compile::Numbering {
        self.numbering_of(&self.topo)
    }

    fn numbering_of(&self, topo: &Topology) -> compile::Numbering {
        self.compiled
            .numbers
            .numbering(topo)
            .expect("the topology was compiled with these numbers")
    }

    /// Waits until no target is out of selection, or fails after `timeout`
    /// naming the targets still out.
    pub fn wait_all_healthy(&self, timeout: Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let out = self.unhealthy.lock().expect("health set").clone();
            if out.is_empty() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("targets still unhealthy after {timeout:?}: {out:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// After servers were started: a probe that failed before a server was
    /// up may still take its target out for a moment, so let the longest
    /// health-check interval pass, then wait (up to `timeout`) until every
    /// target is in selection.
    pub fn settle_health(&self, timeout: Duration) -> Result<()> {
        let longest = self
            .topo
            .services
            .target_groups
            .iter()
            .filter_map(|tg| tg.health_check.as_ref().map(|h| h.interval_ms))
            .max();
        if let Some(ms) = longest {
            std::thread::sleep(Duration::from_millis(u64::from(ms) + 300));
            self.wait_all_healthy(timeout)?;
        }
        Ok(())
    }

    /// The timeouts and sweep interval the sweeper applies now.
    pub fn conntrack(&self) -> ConntrackSettings {
        *self.conntrack.lock().expect("conntrack settings lock")
    }

    pub fn layout(&self) -> Layout {
        Layout::numbered(&self.topo, &self.numbering())
    }

    pub fn snapshot(&self) -> Result<Snapshot> {
        stats::read_pinned(&pins::pin_dir(&self.topo.lab.name), &self.layout())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.sweeper.take() {
            // The same flag stops the kernel-log thread.
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
        if let Some(t) = self.kernel_log.take() {
            let _ = t.join();
        }
        if let Some(h) = self.health.take() {
            // Stopping the checker drops the sender; the sync thread then ends.
            h.checker.stop();
            let _ = h.thread.join();
        }
        // SAFETY: dropped once, here; nothing uses it afterwards.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.dataplane) };
        if self.source.is_none() {
            // An agent whose data plane died with it (just now) leaves no
            // lock file or journal behind; the lock is released after this.
            let _ = std::fs::remove_dir_all(crate::persist::run_dir(&self.topo.lab.name));
        }
    }
}

/// The ports of hosts `added` in `plan`.
fn new_ports<'a>(plan: &'a LabPlan, added: &[String]) -> Vec<&'a lab::PortPlan> {
    let ns: Vec<&str> = plan
        .hosts
        .iter()
        .filter(|h| added.contains(&h.host))
        .map(|h| h.netns.as_str())
        .collect();
    plan.ports
        .iter()
        .filter(|p| ns.contains(&p.host_ns.as_str()))
        .collect()
}

/// The config's `[conntrack]`, with the sweep interval overridden if asked.
fn sweep_settings(topo: &Topology, sweep_every: Option<Duration>) -> ConntrackSettings {
    ConntrackSettings {
        sweep_interval: sweep_every.unwrap_or(topo.conntrack.sweep_interval),
        ..topo.conntrack
    }
}

/// Flow logs need the kernel's flow events: on when the topology has them.
fn with_flow_events(topo: &Topology, opts: &LoadOptions) -> LoadOptions {
    LoadOptions {
        flow_events: opts.flow_events || topo.flow_logs.is_some(),
        ..opts.clone()
    }
}

/// The flow log's reader thread (if the topology has flow logs) and the
/// channel the conntrack sweeper hands removed flows to.
fn start_flow_log(
    topo: &Topology,
    numbering: &compile::Numbering,
) -> Result<(Option<flowlog::FlowLog>, Option<conntrack::Removed>)> {
    Ok(
        match flowlog::FlowLog::start(topo, numbering, &pins::pin_dir(&topo.lab.name))? {
            Some((log, removed)) => (Some(log), Some(removed)),
            None => (None, None),
        },
    )
}

/// Probes every target of a target group that has a health check (of
/// this node, in a lab across nodes), from inside the target's host; on each verdict change recomputes the Maglev
/// tables and rewrites the slots that changed, so new flows avoid an
/// unhealthy target. Its existing flows follow the target group's
/// `connection_termination` (AWS's NLB default: true, they are ended; false:
/// they run on).
fn start_health(
    topo: &Topology,
    plan: &LabPlan,
    compiled: &Compiled,
    pin_dir: PathBuf,
    unhealthy: Arc<Mutex<BTreeSet<u32>>>,
) -> Result<Option<HealthSync>> {
    let mut probes = Vec::new();
    let mut key = 0usize;
    for tg in &topo.services.target_groups {
        for t in &tg.targets {
            // Across nodes each node probes the targets it holds (only it
            // can enter their hosts); another node's target stays healthy
            // here (docs/DATAPLANE.md, "Labs across nodes").
            let here = topo.eni_underlay(t.eni).is_none();
            if let (Some(check), true) = (&tg.health_check, here) {
                let eni = &topo.enis[t.eni];
                let host = plan
                    .host(&eni.host)
                    .with_context(|| format!("target {} has no lab host", eni.id))?;
                probes.push(Probe {
                    key,
                    netns: host.netns.clone(),
                    addr: SocketAddrV4::new(eni.ip, check.port.unwrap_or(t.port)),
                    check: check.clone(),
                });
            }
            key += 1;
        }
    }
    if probes.is_empty() {
        return Ok(None);
    }
    let (tx, rx) = mpsc::channel::<(usize, bool)>();
    // Per global target: (vpc, address, port, terminate connections when unhealthy).
    let targets: Vec<(u32, [u8; 4], u16, bool)> = topo
        .services
        .target_groups
        .iter()
        .flat_map(|tg| {
            tg.targets
                .iter()
                .map(move |t| (tg.vpc as u32, t.eni, t.port, tg.connection_termination))
        })
        .map(|(vpc, eni, port, term)| (vpc, topo.enis[eni].ip.octets(), port, term))
        .collect();
    let topo = topo.clone();
    // Both generations: the standby one mirrors the active one (see
    // `Dataplane::sync`), health verdicts included.
    let mut gens: Vec<(Vec<Vec<u32>>, u32, u32)> = [compiled.generation, 1 - compiled.generation]
        .into_iter()
        .map(|g| {
            let c = compiled.at(g);
            (c.tables.clone(), c.target_base(), c.table_base())
        })
        .collect();
    let thread = std::thread::Builder::new()
        .name("health-sync".into())
        .spawn(move || {
            let open = |name: &str| pins::open_pinned(&pin_dir, name);
            let (mut map, mut flows, mut counts) = match (
                open(maps::MAGLEV),
                open(maps::FLOWS),
                open(maps::FLOW_COUNTS),
            ) {
                (Ok(m), Ok(f), Ok(c)) => (Map::Array(m), Map::HashMap(f), Map::PerCpuHashMap(c)),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    log::error!("health checks stopped: {e:#}");
                    return;
                }
            };
            for (target, healthy) in rx {
                let target = target as u32;
                let set = {
                    let mut u = unhealthy.lock().expect("health set lock");
                    if healthy {
                        u.remove(&target);
                    } else {
                        u.insert(target);
                    }
                    u.clone()
                };
                let healthy_tables = compile::maglev_tables(&topo, &set);
                // Slots rewritten in the active generation (the standby's
                // mirror gets the same).
                let mut written = 0;
                for (k, (tables, target_base, table_base)) in gens.iter_mut().enumerate() {
                    let new = compile::rebase_tables(healthy_tables.clone(), *target_base);
                    for (id, (old, new)) in tables.iter().zip(&new).enumerate() {
                        match loader::write_table(&mut map, *table_base + id as u32, new, Some(old))
                        {
                            Ok(n) if k == 0 => written += n,
                            Ok(_) => {}
                            Err(e) => log::error!("updating load-balancer table {id}: {e:#}"),
                        }
                    }
                    *tables = new;
                }
                log::info!(
                    "target {target} is {}: {written} load-balancer slots rewritten",
                    if healthy { "healthy" } else { "unhealthy" }
                );
                if let (false, Some(&(vpc, ip, port, true))) =
                    (healthy, targets.get(target as usize))
                {
                    match loader::end_flows_to(&mut flows, &mut counts, vpc, ip, port) {
                        Ok(n) => log::info!(
                            "target {target}: connection termination removed {n} flow entries"
                        ),
                        Err(e) => log::error!("ending the flows of target {target}: {e:#}"),
                    }
                }
            }
        })
        .context("starting the health-sync thread")?;
    Ok(Some(HealthSync {
        checker: HealthChecker::start(probes, tx),
        thread,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_names_the_settings_it_does_not_apply() {
        let old = crate::config::parse_str(crate::config::DEFAULT_CONFIG, "d.toml").unwrap();
        assert_eq!(not_applied_by_reload(&old, &old), Vec::<String>::new());
        let text = format!(
            "{}\n[flow_logs]\ninterval = 5\n",
            crate::config::DEFAULT_CONFIG
                .replace("hook = \"tc\"", "hook = \"xdp\"")
                .replace("mtu = 1500", "mtu = 3000")
        );
        let new = crate::config::parse_str(&text, "d.toml").unwrap();
        assert_eq!(
            not_applied_by_reload(&old, &new),
            ["[flow_logs]", "[lab] hook", "[lab] mtu"]
        );
    }
}
