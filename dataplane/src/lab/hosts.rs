//! Hosts added to a running lab: what a reload that only adds hosts builds
//! (`Agent::reload_inner`), and removes again when the reload fails.

use anyhow::{anyhow, bail, Result};

use super::{build_hosts, LabPlan};
use crate::netns;

/// Adds hosts `names` of `plan` (the plan of the grown lab, its ports
/// named by the lab's interface numbers) to the running lab: each host's
/// namespace, the veth of each of its ENIs (the fabric end `p<n>` in the
/// fabric namespace), addresses and default route, as `up` builds them.
/// Each must be in `plan` and not in the lab yet. On failure everything it
/// made is removed again: the lab is as it was.
pub fn add_hosts(plan: &LabPlan, names: &[String]) -> Result<()> {
    if !netns::exists(&plan.fabric_ns) {
        bail!(
            "lab {} is not up (no namespace {})",
            plan.name,
            plan.fabric_ns
        );
    }
    for n in names {
        let h = plan
            .host(n)
            .ok_or_else(|| anyhow!("lab {} has no host {n:?} in its plan", plan.name))?;
        netns::validate_name(&h.netns)?;
        if netns::exists(&h.netns) {
            bail!(
                "lab {} has host {n} already (namespace {})",
                plan.name,
                h.netns
            );
        }
    }
    if let Err(e) = build_hosts(plan, names) {
        if let Err(cleanup) = remove_hosts(plan, names) {
            log::warn!(
                "removing the half-built hosts of lab {}: {cleanup:#}",
                plan.name
            );
        }
        return Err(e.context(format!(
            "adding host{} {} to lab {}",
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            plan.name
        )));
    }
    Ok(())
}

/// Removes hosts `names` of `plan` from the lab: their namespaces, and
/// with them their veths (both ends). A host that is not there is fine.
pub fn remove_hosts(plan: &LabPlan, names: &[String]) -> Result<()> {
    let mut first_err = None;
    for h in plan.hosts.iter().filter(|h| names.contains(&h.host)) {
        if let Err(e) = netns::delete(&h.netns) {
            log::warn!("{e:#}");
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        None => Ok(()),
        Some(e) => Err(e.context(format!("removing hosts from lab {}", plan.name))),
    }
}
