//! `agent`: wires a built lab and the loader together. Nothing here touches
//! the kernel before the config has been validated and compiled, so a bad
//! config never leaves anything half applied.

use std::{
    collections::BTreeSet,
    net::SocketAddrV4,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context, Result};
use aya::maps::{Map, MapData};
use dataplane_common::maps;

use crate::{
    compile::{self, Compiled},
    conntrack, flowlog,
    health::{HealthChecker, Probe},
    lab::{self, LabPlan},
    loader::{self, Dataplane, LoadOptions},
    model::{Hook, Topology},
    stats::{self, Layout, Snapshot},
};

pub struct Agent {
    pub topo: Topology,
    pub plan: LabPlan,
    pub compiled: Compiled,
    pub hook: Hook,
    /// Global indices of the targets currently out of selection.
    pub unhealthy: Arc<Mutex<BTreeSet<u32>>>,
    // Stopped before the data plane is dropped (field order).
    health: Option<HealthSync>,
    sweeper: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    kernel_log: Option<JoinHandle<()>>,
    // After the sweeper (its last removals reach the log): writes the last
    // interval when dropped.
    #[expect(
        dead_code,
        reason = "held for its Drop, which writes the last interval"
    )]
    flow_log: Option<flowlog::FlowLog>,
    pub dataplane: Dataplane,
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
    pub fn start(topo: Topology, obj: &Path, hook: Hook) -> Result<Agent> {
        Self::start_with(topo, obj, hook, &LoadOptions::default())
    }

    pub fn start_with(topo: Topology, obj: &Path, hook: Hook, opts: &LoadOptions) -> Result<Agent> {
        // Root, bpffs and the object first: their messages say how to fix them.
        loader::check_prerequisites(obj)?;
        let plan = lab::plan(&topo);
        let mut ifx = lab::fabric_ifindexes(&plan).with_context(|| {
            format!(
                "reading the fabric ports of lab {}: run `dataplane lab up` first",
                plan.name
            )
        })?;
        ifx.sort();
        let ifindexes: Vec<u32> = ifx.iter().map(|&(_, i)| i).collect();
        let compiled = compile::compile(&topo, &ifindexes)?;
        let mut dataplane = Dataplane::load_with(obj, &with_flow_events(&topo, opts))?;
        dataplane.apply(&compiled)?;
        if hook == Hook::Xdp {
            for p in &plan.ports {
                dataplane.attach_xdp_pass(&p.host_ns, &p.host_iface)?;
            }
        }
        let names: Vec<String> = plan.ports.iter().map(|p| p.name.clone()).collect();
        dataplane.attach(&plan.fabric_ns, &names, hook)?;
        dataplane.pin_maps(&loader::pin_dir(&topo.lab.name))?;
        log::info!(
            "lab {}: {} ports attached ({:?} hook), {} security-group entries, {} ENIs",
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
            loader::pin_dir(&topo.lab.name),
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
        let (flow_log, removed) = start_flow_log(&topo)?;
        let sweep = conntrack::sweeper(
            loader::pin_dir(&topo.lab.name).join(maps::FLOWS),
            opts.conntrack,
            opts.sweep_every.unwrap_or(Duration::from_secs(1)),
            stop.clone(),
            removed,
        )?;
        Ok(Agent {
            topo,
            plan,
            compiled,
            hook,
            unhealthy,
            health,
            sweeper: Some((stop, sweep)),
            kernel_log,
            flow_log,
            dataplane,
        })
    }

    /// Applies a new topology to the running data plane (SIGHUP, `--watch`).
    /// The new config is compiled first; any error leaves everything as it
    /// was. Changes that need the lab rebuilt (hosts, ENIs) are refused.
    /// Flows already tracked keep their actions: AWS does not cut an
    /// established connection when a rule is removed (a removed endpoint,
    /// integration or target stops new flows; its live flows run until they
    /// go idle).
    pub fn reload(&mut self, topo: Topology) -> Result<()> {
        let wiring = |t: &Topology| -> Vec<(String, usize, std::net::Ipv4Addr, [u8; 6], String)> {
            t.enis
                .iter()
                .map(|e| (e.id.clone(), e.subnet, e.ip, e.mac, e.host.clone()))
                .collect()
        };
        if topo.lab.name != self.topo.lab.name
            || wiring(&topo) != wiring(&self.topo)
            || topo.subnets != self.topo.subnets
        {
            anyhow::bail!(
                "the lab's name, subnets or ENIs changed: that needs the lab rebuilt \
                 (`dataplane lab up`) and the agent restarted; nothing was changed"
            );
        }
        let ifindexes: Vec<u32> = self.compiled.ports.iter().map(|(i, _)| *i).collect();
        let next = 1 - self.compiled.generation;
        let compiled = compile::compile(&topo, &ifindexes)?.rebase(next);
        if let Some(h) = self.health.take() {
            h.checker.stop();
            let _ = h.thread.join();
        }
        self.unhealthy.lock().expect("health set").clear();
        self.dataplane.sync(&compiled, Some(&self.compiled))?;
        self.health = start_health(
            &topo,
            &self.plan,
            &compiled,
            loader::pin_dir(&topo.lab.name),
            self.unhealthy.clone(),
        )?;
        log::info!(
            "reloaded: generation {next}, {} security-group entries, {} ENIs, {} listeners",
            compiled.sg_rules.len(),
            compiled.enis.len(),
            compiled.listeners.len()
        );
        self.compiled = compiled;
        self.topo = topo;
        Ok(())
    }

    pub fn layout(&self) -> Layout {
        Layout::of(&self.topo)
    }

    pub fn snapshot(&self) -> Result<Snapshot> {
        stats::read_pinned(
            &loader::pin_dir(&self.topo.lab.name),
            &Layout::of(&self.topo),
        )
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
) -> Result<(Option<flowlog::FlowLog>, Option<conntrack::Removed>)> {
    Ok(
        match flowlog::FlowLog::start(topo, &loader::pin_dir(&topo.lab.name))? {
            Some((log, removed)) => (Some(log), Some(removed)),
            None => (None, None),
        },
    )
}

/// Probes every target of a target group that has a health check, from
/// inside the target's host; on each verdict change recomputes the Maglev
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
            if let Some(check) = &tg.health_check {
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
    let mut tables = compiled.tables.clone();
    let (target_base, table_base) = (compiled.target_base(), compiled.table_base());
    let thread = std::thread::Builder::new()
        .name("health-sync".into())
        .spawn(move || {
            let open = |name: &str| MapData::from_pin(pin_dir.join(name));
            let (mut map, mut flows) = match (open(maps::MAGLEV), open(maps::FLOWS)) {
                (Ok(m), Ok(f)) => (Map::Array(m), Map::HashMap(f)),
                (Err(e), _) | (_, Err(e)) => {
                    log::error!(
                        "health checks cannot open the pinned maps in {}: {e}",
                        pin_dir.display()
                    );
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
                let new = compile::rebase_tables(compile::maglev_tables(&topo, &set), target_base);
                let mut written = 0;
                for (id, (old, new)) in tables.iter().zip(&new).enumerate() {
                    match loader::write_table(&mut map, table_base + id as u32, new, Some(old)) {
                        Ok(n) => written += n,
                        Err(e) => log::error!("updating load-balancer table {id}: {e:#}"),
                    }
                }
                tables = new;
                log::info!(
                    "target {target} is {}: {written} load-balancer slots rewritten",
                    if healthy { "healthy" } else { "unhealthy" }
                );
                if let (false, Some(&(vpc, ip, port, true))) =
                    (healthy, targets.get(target as usize))
                {
                    match loader::end_flows_to(&mut flows, vpc, ip, port) {
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
