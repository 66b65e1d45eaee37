//! `agent`: wires a built lab and the loader together. Nothing here touches
//! the kernel before the config has been validated and compiled, so a bad
//! config never leaves anything half applied.

use std::path::Path;

use anyhow::{Context, Result};

use crate::{
    compile::{self, Compiled},
    lab::{self, LabPlan},
    loader::{self, Dataplane, LoadOptions},
    model::{Hook, Topology},
    stats::{self, Snapshot},
};

pub struct Agent {
    pub topo: Topology,
    pub plan: LabPlan,
    pub compiled: Compiled,
    pub dataplane: Dataplane,
    pub hook: Hook,
}

impl Agent {
    /// Compiles `topo` against the running lab, loads the programs, fills the
    /// maps, attaches to every fabric port and pins the maps.
    pub fn start(topo: Topology, obj: &Path, hook: Hook) -> Result<Agent> {
        Self::start_with(topo, obj, hook, &LoadOptions::default())
    }

    pub fn start_with(topo: Topology, obj: &Path, hook: Hook, opts: &LoadOptions) -> Result<Agent> {
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
        let mut dataplane = Dataplane::load_with(obj, opts)?;
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
        Ok(Agent {
            topo,
            plan,
            compiled,
            dataplane,
            hook,
        })
    }

    pub fn eni_ids(&self) -> Vec<String> {
        self.topo.enis.iter().map(|e| e.id.clone()).collect()
    }

    pub fn snapshot(&self) -> Result<Snapshot> {
        stats::read(&self.dataplane, self.topo.enis.len())
    }
}
