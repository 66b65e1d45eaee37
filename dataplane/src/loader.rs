//! `loader`: the typed handle through which the agent owns the kernel side:
//! load the object, fill the maps from a [`Compiled`] config, attach to the
//! fabric ports, pin the maps for `dataplane stats`.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use aya::{
    maps::{lpm_trie::Key, Array, HashMap, LpmTrie, MapData},
    programs::{tc::TcAttachType, SchedClassifier, Xdp, XdpMode},
    Ebpf, EbpfLoader,
};
use dataplane_common::{
    maps, programs, EndpointInfo, EniInfo, EniKey, FlowEntry, FlowKey, ListenerInfo, ListenerKey,
    PortInfo, SgKey, SgPorts, TargetInfo, MAGLEV_SIZE,
};

use crate::{compile::Compiled, model::Hook, netns};

/// Where the built kernel object is looked for, in order: `$HYPERLAB_EBPF_OBJ`,
/// next to the agent binary's target dir (`target/dataplane-ebpf.o`), and the
/// workspace's `target/` at build time.
pub fn object_path() -> PathBuf {
    if let Ok(p) = std::env::var("HYPERLAB_EBPF_OBJ") {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe() {
        // target/{release,debug}/dataplane or target/debug/deps/<test>
        for anc in exe.ancestors().skip(1).take(3) {
            let cand = anc.join("dataplane-ebpf.o");
            if cand.exists() {
                return cand;
            }
        }
    }
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/dataplane-ebpf.o"
    ))
}

pub const BPFFS: &str = "/sys/fs/bpf";

/// Where a lab's maps are pinned.
pub fn pin_dir(lab: &str) -> PathBuf {
    Path::new(BPFFS).join("hyperlab").join(lab)
}

/// Root, bpffs and the kernel object: say what is missing and how to fix it.
pub fn check_prerequisites(obj: &Path) -> Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!("the data plane needs root (CAP_BPF, CAP_NET_ADMIN): run it with sudo or as root");
    }
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    if !mounts.lines().any(|l| {
        l.split_whitespace().nth(1) == Some(BPFFS) && l.split_whitespace().nth(2) == Some("bpf")
    }) {
        bail!("bpffs is not mounted at {BPFFS}: run `mount -t bpf bpf {BPFFS}` (or `cargo xtask setup`)");
    }
    if !obj.exists() {
        bail!(
            "the kernel object {} does not exist: build it with `cargo xtask build-ebpf` \
             (or point HYPERLAB_EBPF_OBJ at it)",
            obj.display()
        );
    }
    Ok(())
}

/// Load-time knobs.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Entries in the flow table (each flow takes two); default
    /// `dataplane_common::MAX_FLOWS`.
    pub flow_table_size: Option<u32>,
    /// Connection-tracking idle timeouts (default: AWS's).
    pub conntrack: crate::conntrack::Timeouts,
    /// How often expired flows are swept (default 1 s).
    pub sweep_every: Option<std::time::Duration>,
    /// Emit flow events into `HL_FLOW_EVENTS` (flow logs). The agent turns
    /// it on when flow logs are configured; off, the verifier prunes the code.
    pub flow_events: bool,
}

pub struct Dataplane {
    ebpf: Ebpf,
    pinned: Option<PathBuf>,
    /// The kernel programs' aya-log ring buffer, until the agent takes it
    /// to drain on its own thread.
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
}

impl Dataplane {
    /// Loads the object and all its programs (this is where the verifier runs).
    pub fn load(obj: &Path) -> Result<Self> {
        Self::load_with(obj, &LoadOptions::default())
    }

    pub fn load_with(obj: &Path, opts: &LoadOptions) -> Result<Self> {
        check_prerequisites(obj)?;
        let mut loader = EbpfLoader::new();
        if let Some(n) = opts.flow_table_size {
            loader.map_max_entries(maps::FLOWS, n);
        }
        let flow_events = u32::from(opts.flow_events);
        loader.override_global(
            dataplane_common::globals::FLOW_EVENTS_ON,
            &flow_events,
            true,
        );
        let mut ebpf = loader
            .load_file(obj)
            .with_context(|| format!("loading kernel object {}", obj.display()))?;
        // Before the programs load: they refer to its map, and it must stay
        // alive (dropping it closed the map under the next program's load).
        let logger = aya_log::EbpfLogger::init(&mut ebpf)
            .map_err(|e| log::warn!("kernel logging unavailable: {e}"))
            .ok();
        {
            let tc: &mut SchedClassifier = ebpf
                .program_mut(programs::TC)
                .context("program hyperlab_tc missing from the object")?
                .try_into()?;
            tc.load().context("verifier rejected hyperlab_tc")?;
        }
        for name in [programs::XDP, programs::XDP_PASS] {
            let xdp: &mut Xdp = ebpf
                .program_mut(name)
                .with_context(|| format!("program {name} missing from the object"))?
                .try_into()?;
            xdp.load()
                .with_context(|| format!("verifier rejected {name}"))?;
        }
        Ok(Dataplane {
            ebpf,
            pinned: None,
            logger,
        })
    }

    /// The kernel programs' log stream; drain it with `flush()`.
    pub fn take_logger(&mut self) -> Option<aya_log::EbpfLogger<&'static dyn log::Log>> {
        self.logger.take()
    }

    pub fn tc(&self) -> &SchedClassifier {
        self.ebpf
            .program(programs::TC)
            .expect("loaded in Dataplane::load")
            .try_into()
            .expect("hyperlab_tc is a classifier")
    }

    pub fn xdp(&self) -> &Xdp {
        self.ebpf
            .program(programs::XDP)
            .expect("loaded in Dataplane::load")
            .try_into()
            .expect("hyperlab_xdp is an XDP program")
    }

    fn hash<K: aya::Pod, V: aya::Pod>(
        &mut self,
        name: &str,
    ) -> Result<HashMap<&mut MapData, K, V>> {
        let map = self
            .ebpf
            .map_mut(name)
            .with_context(|| format!("map {name} missing"))?;
        HashMap::try_from(map).with_context(|| format!("map {name} has an unexpected type"))
    }

    /// Writes a compiled config into empty maps.
    pub fn apply(&mut self, c: &Compiled) -> Result<()> {
        self.sync(c, None)
    }

    /// Brings the maps from `old` (what they hold) to `new`, which must be
    /// of the other generation: first everything the new entry points will
    /// refer to is written beside the old (its ids are disjoint), then the
    /// entry points (ports, ENIs, listeners) are switched one atomic update
    /// at a time (ports last: until a port is known its packets pass
    /// untouched), then what only the old generation used is removed. No
    /// packet meets a mix of the two, and flows already in the flow table
    /// keep their precompiled actions (AWS: removing a rule does not cut a
    /// tracked connection).
    pub fn sync(&mut self, new: &Compiled, old: Option<&Compiled>) -> Result<()> {
        if let Some(old) = old {
            if old.generation == new.generation {
                bail!("sync: the new configuration must be of the other generation");
            }
        }
        {
            let map = self.map_mut(maps::SG_RULES)?;
            let mut sg: LpmTrie<&mut MapData, SgKey, SgPorts> = LpmTrie::try_from(map)?;
            for (plen, key, ports) in &new.sg_rules {
                sg.insert(&Key::new(*plen, *key), ports, 0)
                    .with_context(|| format!("writing security-group entry {key:?}/{plen}"))?;
            }
        }
        {
            let mut targets: Array<&mut MapData, TargetInfo> =
                Array::try_from(self.map_mut(maps::TARGETS)?)?;
            for (i, t) in new.targets.iter().enumerate() {
                let i = new.target_base() + i as u32;
                targets
                    .set(i, t, 0)
                    .with_context(|| format!("writing target {i}"))?;
            }
        }
        for (id, table) in new.tables.iter().enumerate() {
            self.write_table(new.table_base() + id as u32, table, None)?;
        }
        {
            let mut eps: Array<&mut MapData, EndpointInfo> =
                Array::try_from(self.map_mut(maps::ENDPOINTS)?)?;
            for (i, e) in new.endpoints.iter().enumerate() {
                let i = new.endpoint_base() + i as u32;
                eps.set(i, e, 0)
                    .with_context(|| format!("writing endpoint ENI {i}"))?;
            }
        }
        // Entry points: switch, then remove the ones that are gone.
        {
            let mut listeners = self.hash::<ListenerKey, ListenerInfo>(maps::LISTENERS)?;
            for (k, v) in &new.listeners {
                listeners
                    .insert(k, v, 0)
                    .with_context(|| format!("writing listener {k:?}"))?;
            }
        }
        {
            let mut enis = self.hash::<EniKey, EniInfo>(maps::ENIS)?;
            for (k, v) in &new.enis {
                enis.insert(k, v, 0)
                    .with_context(|| format!("writing ENI {k:?}"))?;
            }
        }
        {
            let mut ports = self.hash::<u32, PortInfo>(maps::PORTS)?;
            for (ifindex, p) in &new.ports {
                ports
                    .insert(ifindex, p, 0)
                    .with_context(|| format!("writing port ifindex {ifindex}"))?;
            }
        }
        let Some(old) = old else { return Ok(()) };
        {
            let mut ports = self.hash::<u32, PortInfo>(maps::PORTS)?;
            for (ifindex, _) in old
                .ports
                .iter()
                .filter(|(i, _)| !new.ports.iter().any(|(n, _)| n == i))
            {
                ports
                    .remove(ifindex)
                    .with_context(|| format!("removing port ifindex {ifindex}"))?;
            }
        }
        {
            let mut enis = self.hash::<EniKey, EniInfo>(maps::ENIS)?;
            for (k, _) in old
                .enis
                .iter()
                .filter(|(k, _)| !new.enis.iter().any(|(n, _)| n == k))
            {
                enis.remove(k)
                    .with_context(|| format!("removing ENI {k:?}"))?;
            }
        }
        {
            let mut listeners = self.hash::<ListenerKey, ListenerInfo>(maps::LISTENERS)?;
            for (k, _) in old
                .listeners
                .iter()
                .filter(|(k, _)| !new.listeners.iter().any(|(n, _)| n == k))
            {
                listeners
                    .remove(k)
                    .with_context(|| format!("removing listener {k:?}"))?;
            }
        }
        {
            let map = self.map_mut(maps::SG_RULES)?;
            let mut sg: LpmTrie<&mut MapData, SgKey, SgPorts> = LpmTrie::try_from(map)?;
            for (plen, key, _) in &old.sg_rules {
                sg.remove(&Key::new(*plen, *key))
                    .with_context(|| format!("removing security-group entry {key:?}/{plen}"))?;
            }
        }
        // The old generation's tables no longer have a listener; empty them
        // so nothing stale is left to read.
        for id in 0..old.tables.len() as u32 {
            let empty = vec![dataplane_common::NO_TARGET; MAGLEV_SIZE as usize];
            self.write_table(old.table_base() + id, &empty, None)?;
        }
        Ok(())
    }

    /// Writes Maglev table `id`; with `old`, only the slots that differ.
    pub fn write_table(&mut self, id: u32, table: &[u32], old: Option<&[u32]>) -> Result<usize> {
        write_table(self.map_mut(maps::MAGLEV)?, id, table, old)
    }

    /// See [`end_flows_to`].
    pub fn end_flows_to(&mut self, vpc: u32, ip: [u8; 4], port: u16) -> Result<usize> {
        end_flows_to(self.map_mut(maps::FLOWS)?, vpc, ip, port)
    }

    /// Attaches the pipeline to the named fabric ports inside `ns`.
    pub fn attach(&mut self, ns: &str, ports: &[String], hook: Hook) -> Result<()> {
        let ebpf = &mut self.ebpf;
        netns::scoped_in(ns, || {
            match hook {
                Hook::Tc => {
                    let tc: &mut SchedClassifier =
                        ebpf.program_mut(programs::TC).unwrap().try_into()?;
                    for port in ports {
                        tc.attach(port, TcAttachType::Ingress).with_context(|| {
                            format!("attaching hyperlab_tc (tcx ingress) to {port} in {ns}")
                        })?;
                    }
                }
                Hook::Xdp => {
                    let xdp: &mut Xdp = ebpf.program_mut(programs::XDP).unwrap().try_into()?;
                    for port in ports {
                        xdp.attach(port, XdpMode::Driver).with_context(|| {
                            format!("attaching hyperlab_xdp (native) to {port} in {ns}")
                        })?;
                    }
                }
            }
            Ok(())
        })
    }

    /// XDP labs: give a host-side veth NAPI so it receives redirected frames.
    pub fn attach_xdp_pass(&mut self, ns: &str, iface: &str) -> Result<()> {
        let ebpf = &mut self.ebpf;
        netns::scoped_in(ns, || {
            let xdp: &mut Xdp = ebpf.program_mut(programs::XDP_PASS).unwrap().try_into()?;
            xdp.attach(iface, XdpMode::Driver)
                .with_context(|| format!("attaching hyperlab_xdp_pass to {iface} in {ns}"))?;
            Ok(())
        })
    }

    /// Pins the maps under `dir` (replacing stale pins of an earlier run) so
    /// `dataplane stats` and the metrics can read them.
    pub fn pin_maps(&mut self, dir: &Path) -> Result<()> {
        if dir.exists() {
            fs::remove_dir_all(dir)
                .with_context(|| format!("removing stale pins in {}", dir.display()))?;
        }
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for name in [
            maps::PORTS,
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
        ] {
            let map = self
                .ebpf
                .map(name)
                .with_context(|| format!("map {name} missing"))?;
            map.pin(dir.join(name))
                .with_context(|| format!("pinning {name} in {}", dir.display()))?;
        }
        self.pinned = Some(dir.to_path_buf());
        Ok(())
    }

    /// Every flow-table entry (both directions of each flow).
    pub fn flows(&self) -> Result<Vec<(FlowKey, FlowEntry)>> {
        let map = self.ebpf.map(maps::FLOWS).context("map HL_FLOWS missing")?;
        let flows: HashMap<&MapData, FlowKey, FlowEntry> = HashMap::try_from(map)?;
        flows
            .iter()
            .map(|r| r.context("reading HL_FLOWS"))
            .collect()
    }

    pub fn map(&self, name: &str) -> Result<&aya::maps::Map> {
        self.ebpf
            .map(name)
            .with_context(|| format!("map {name} missing"))
    }

    /// Empties the flow table (tests start each case from no state).
    pub fn clear_flows(&mut self) -> Result<()> {
        let mut flows = self.hash::<FlowKey, FlowEntry>(maps::FLOWS)?;
        let keys: Vec<FlowKey> = flows.keys().collect::<Result<_, _>>()?;
        for k in keys {
            flows.remove(&k)?;
        }
        Ok(())
    }

    pub fn map_mut(&mut self, name: &str) -> Result<&mut aya::maps::Map> {
        self.ebpf
            .map_mut(name)
            .with_context(|| format!("map {name} missing"))
    }
}

/// Ends the connections of a load-balancer target: deletes both entries of
/// every flow whose forward action goes to `ip:port` in VPC `vpc` (taken
/// from HL_FLOWS, owned or opened from its pin). Packets of those flows are
/// then decided anew, like the first packet of a flow. Returns the entries
/// removed.
pub fn end_flows_to(map: &mut aya::maps::Map, vpc: u32, ip: [u8; 4], port: u16) -> Result<usize> {
    use dataplane_common::{FLOW_F_DNAT, FLOW_F_REPLY};
    let mut flows: HashMap<&mut MapData, FlowKey, FlowEntry> = HashMap::try_from(map)?;
    let port = port.to_be_bytes();
    let mut doomed = Vec::new();
    for r in flows.iter() {
        let (k, e) = r.context("reading HL_FLOWS")?;
        let forward = e.flags & FLOW_F_REPLY == 0
            && e.flags & FLOW_F_DNAT != 0
            && e.out_vpc == vpc
            && e.new_dst == ip
            && e.new_dport == port;
        let reply = e.flags & FLOW_F_REPLY != 0 && k.vpc == vpc && k.src == ip && k.sport == port;
        if forward || reply {
            doomed.push(k);
        }
    }
    for k in &doomed {
        // Gone already (expired or raced with the pipeline) is fine.
        let _ = flows.remove(k);
    }
    Ok(doomed.len())
}

/// Writes Maglev table `id` into `map` (HL_MAGLEV, owned or opened from its
/// pin); with `old`, only the slots that differ. Returns the slots written.
pub fn write_table(
    map: &mut aya::maps::Map,
    id: u32,
    table: &[u32],
    old: Option<&[u32]>,
) -> Result<usize> {
    let mut arr: Array<&mut MapData, u32> = Array::try_from(map)?;
    let mut n = 0;
    for (slot, &t) in table.iter().enumerate() {
        if old.is_some_and(|o| o.get(slot) == Some(&t)) {
            continue;
        }
        arr.set(id * MAGLEV_SIZE + slot as u32, t, 0)
            .with_context(|| format!("writing load-balancer table {id} slot {slot}"))?;
        n += 1;
    }
    Ok(n)
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        // Links die with the process; pins would keep the maps alive.
        if let Some(dir) = self.pinned.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}
