//! `loader`: the typed handle through which the agent owns the kernel side:
//! load the object, fill the maps from a [`Compiled`] config, attach to the
//! fabric ports, pin the maps for `dataplane stats` (where: [`crate::pins`]).

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use aya::{
    maps::{lpm_trie::Key, Array, HashMap, LpmTrie, MapData, MapInfo, ProgramArray},
    programs::{
        links::{FdLink, LinkError, PinnedLink},
        tc::TcAttachType,
        xdp::XdpLink,
        Program, ProgramError, SchedClassifier, Xdp, XdpMode,
    },
    Ebpf, EbpfLoader,
};
use dataplane_common::{
    maps, port_slot, programs, FlowEntry, FlowKey, FragEntry, FragKey, NaclCidrKey, NaclDecision,
    NaclRuleKey, PortInfo, PortSlot, RouteInfo, RouteKey, SgKey, SgPorts, GENERATION_BIT,
    MAGLEV_SIZE,
};

use crate::{
    compile::Compiled,
    delta::{self, Delta, Keyed, Step},
    model::Hook,
    netns,
    pins::{self, BPFFS, PINNED_MAPS},
};

/// The kernel object a data plane loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelObject {
    /// The one built with this binary (`build.rs`) and embedded in it: a
    /// `dataplane` binary needs no file beside it.
    Embedded,
    /// A file: `--ebpf-obj`, `$HYPERLAB_EBPF_OBJ`, the tests' build.
    File(PathBuf),
}

/// The kernel object `build.rs` built, aligned for the ELF parser.
static EMBEDDED_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/dataplane-ebpf.o"));

impl KernelObject {
    /// The object `dataplane` runs by default: `$HYPERLAB_EBPF_OBJ` if
    /// set, else the embedded one.
    pub fn from_env() -> KernelObject {
        match std::env::var_os("HYPERLAB_EBPF_OBJ").filter(|p| !p.is_empty()) {
            Some(p) => KernelObject::File(PathBuf::from(p)),
            None => KernelObject::Embedded,
        }
    }

    /// The object's bytes (a file is read).
    pub fn bytes(&self) -> Result<std::borrow::Cow<'static, [u8]>> {
        match self {
            KernelObject::Embedded => Ok(EMBEDDED_OBJECT.into()),
            KernelObject::File(p) => fs::read(p)
                .map(Into::into)
                .with_context(|| format!("reading {}", p.display())),
        }
    }

    /// For messages: the file's path, or that the object is built in.
    pub fn display(&self) -> impl std::fmt::Display + '_ {
        struct D<'a>(&'a KernelObject);
        impl std::fmt::Display for D<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.0 {
                    KernelObject::Embedded => f.write_str("(embedded in this binary)"),
                    KernelObject::File(p) => write!(f, "{}", p.display()),
                }
            }
        }
        D(self)
    }
}

impl From<PathBuf> for KernelObject {
    fn from(p: PathBuf) -> Self {
        KernelObject::File(p)
    }
}

impl From<&Path> for KernelObject {
    fn from(p: &Path) -> Self {
        KernelObject::File(p.to_path_buf())
    }
}

/// The kernel object file the tests and the bench load, in order:
/// `$HYPERLAB_EBPF_OBJ`, next to the running binary's target dir
/// (`target/dataplane-ebpf.o`, from `cargo xtask build-ebpf`), and the
/// workspace's `target/` at build time. `dataplane` itself runs
/// [`KernelObject::from_env`].
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

/// Pure: why a pinned map cannot be reused by the object's definition of
/// it (a build with another layout), if it cannot. `(type, key size, value
/// size, max entries)` of the pin and of the object.
pub fn pin_mismatch(
    name: &str,
    pinned: (u32, u32, u32, u32),
    object: (u32, u32, u32, u32),
) -> Option<String> {
    let what = ["type", "key size", "value size", "size (max entries)"];
    let p = [pinned.0, pinned.1, pinned.2, pinned.3];
    let o = [object.0, object.1, object.2, object.3];
    let diffs: Vec<String> = (0..4)
        .filter(|&i| p[i] != o[i])
        .map(|i| format!("{} {} pinned, {} in this build", what[i], p[i], o[i]))
        .collect();
    (!diffs.is_empty()).then(|| format!("pinned map {name} differs: {}", diffs.join(", ")))
}

/// Checks every existing pin under `dir` against the object's maps (with
/// `opts`' sizes), so an incompatible upgrade is refused before anything
/// is loaded, with a message that says how to start over.
fn check_pins(obj: &KernelObject, dir: &Path, opts: &LoadOptions) -> Result<()> {
    let data = obj.bytes()?;
    let parsed = aya_obj::Object::parse(&data)
        .with_context(|| format!("parsing kernel object {}", obj.display()))?;
    let mut problems = Vec::new();
    for name in PINNED_MAPS {
        let pin = dir.join(name);
        if !pin.exists() {
            continue;
        }
        let Some(def) = parsed.maps.get(*name) else {
            problems.push(format!("pinned map {name} is not in this build"));
            continue;
        };
        let info = MapInfo::from_pin(&pin).with_context(|| format!("reading {}", pin.display()))?;
        let max = match (*name, opts.flow_table_size) {
            (maps::FLOWS | maps::FLOW_COUNTS, Some(n)) => n,
            _ => def.max_entries(),
        };
        let pinned = (
            info.map_type().map(|t| t as u32).unwrap_or(u32::MAX),
            info.key_size(),
            info.value_size(),
            info.max_entries(),
        );
        let object = (def.map_type(), def.key_size(), def.value_size(), max);
        if let Some(p) = pin_mismatch(name, pinned, object) {
            problems.push(p);
        }
    }
    if !problems.is_empty() {
        bail!(
            "the data plane pinned in {} cannot be adopted by this build: {}; \
             `dataplane down` removes it (live flows are lost)",
            dir.display(),
            problems.join("; ")
        );
    }
    Ok(())
}

/// Root, bpffs and the kernel object: say what is missing and how to fix it.
pub fn check_prerequisites(obj: &KernelObject) -> Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!("the data plane needs root (CAP_BPF, CAP_NET_ADMIN): run it with sudo or as root");
    }
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    if !mounts.lines().any(|l| {
        l.split_whitespace().nth(1) == Some(BPFFS) && l.split_whitespace().nth(2) == Some("bpf")
    }) {
        bail!("bpffs is not mounted at {BPFFS}: run `mount -t bpf bpf {BPFFS}` (or `cargo xtask setup`)");
    }
    if let KernelObject::File(p) = obj {
        if !p.exists() {
            bail!(
                "the kernel object {} does not exist: build it with `cargo xtask build-ebpf` \
                 (or point HYPERLAB_EBPF_OBJ at it)",
                p.display()
            );
        }
    }
    Ok(())
}

/// Load-time knobs.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Entries in the flow table (each flow takes two); default
    /// `dataplane_common::MAX_FLOWS`.
    pub flow_table_size: Option<u32>,
    /// How often expired flows are swept, overriding the config's
    /// `[conntrack] sweep_interval` (tests sweep faster, benchmarks never).
    /// The timeouts themselves come from the config only.
    pub sweep_every: Option<std::time::Duration>,
    /// Emit flow events into `HL_FLOW_EVENTS` (flow logs). The agent turns
    /// it on when flow logs are configured; off, the verifier prunes the code.
    pub flow_events: bool,
}

pub struct Dataplane {
    ebpf: Ebpf,
    /// The pin directory, and whether dropping the data plane removes it
    /// (and with it links, programs and maps).
    pinned: Option<PathBuf>,
    remove_on_drop: bool,
    /// Links of an unpinned data plane (tests): detached when it is dropped.
    links: Vec<FdLink>,
    /// The kernel programs' aya-log ring buffer, until the agent takes it
    /// to drain on its own thread.
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
}

impl Dataplane {
    /// Loads the object and all its programs (this is where the verifier runs).
    pub fn load(obj: &KernelObject) -> Result<Self> {
        Self::load_with(obj, &LoadOptions::default())
    }

    pub fn load_with(obj: &KernelObject, opts: &LoadOptions) -> Result<Self> {
        Self::load_inner(obj, opts, None)
    }

    /// Loads the programs on the maps pinned in `dir`: maps already pinned
    /// there (by an earlier agent) are reused with their contents, missing
    /// ones are created and pinned. Dropping the result leaves everything
    /// in place unless [`Dataplane::remove_on_drop`] says otherwise.
    pub fn load_pinned(obj: &KernelObject, opts: &LoadOptions, dir: &Path) -> Result<Self> {
        Self::load_inner(obj, opts, Some(dir))
    }

    fn load_inner(obj: &KernelObject, opts: &LoadOptions, pins: Option<&Path>) -> Result<Self> {
        check_prerequisites(obj)?;
        let mut loader = EbpfLoader::new();
        if let Some(n) = opts.flow_table_size {
            loader.map_max_entries(maps::FLOWS, n);
            loader.map_max_entries(maps::FLOW_COUNTS, n);
        }
        // Adopting the maps of a build before `HL_PORT_SLOTS`: the new
        // array starts empty and is filled from `HL_PORTS` below.
        let fill_slots = pins
            .is_some_and(|d| d.join(maps::PORTS).exists() && !d.join(maps::PORT_SLOTS).exists());
        let pin_paths: Vec<(&str, PathBuf)> = match pins {
            Some(dir) => {
                check_pins(obj, dir, opts)?;
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                PINNED_MAPS.iter().map(|n| (*n, dir.join(n))).collect()
            }
            None => Vec::new(),
        };
        for (name, path) in &pin_paths {
            loader.map_pin_path(name, path.as_path());
        }
        // The kernel logs only what the agent's logger lets through: a
        // disabled level is read-only data the verifier prunes, so a first
        // packet formats and queues no record nobody reads.
        let log_level = kernel_log_level(log::max_level());
        loader.override_global(aya_log::LEVEL, &log_level, false);
        let flow_events = u32::from(opts.flow_events);
        loader.override_global(
            dataplane_common::globals::FLOW_EVENTS_ON,
            &flow_events,
            true,
        );
        let mut ebpf = loader
            .load(&obj.bytes()?)
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
        load_slow_paths(&mut ebpf)?;
        let mut dp = Dataplane {
            ebpf,
            pinned: pins.map(Path::to_path_buf),
            remove_on_drop: false,
            links: Vec::new(),
            logger,
        };
        if fill_slots {
            dp.fill_port_slots()?;
            log::info!(
                "the pinned maps predate {}: made it and filled it from {}",
                maps::PORT_SLOTS,
                maps::PORTS
            );
        }
        if let Some(dir) = pins {
            dp.pin_programs(dir)?;
        }
        Ok(dp)
    }

    /// Writes every `HL_PORTS` entry that has a slot into `HL_PORT_SLOTS`.
    fn fill_port_slots(&mut self) -> Result<()> {
        let ports: Vec<(u32, PortInfo)> = {
            let map = self
                .ebpf
                .map(maps::PORTS)
                .with_context(|| format!("map {} missing", maps::PORTS))?;
            let h: HashMap<&MapData, u32, PortInfo> = HashMap::try_from(map)?;
            h.iter()
                .collect::<Result<_, _>>()
                .with_context(|| format!("reading {}", maps::PORTS))?
        };
        self.write_port_slots(&Keyed {
            ups: ports,
            gone: Vec::new(),
        })
    }

    /// Whether dropping this data plane removes its pins (links, programs,
    /// maps): yes for tests and the demo, no for `dataplane run`, whose
    /// data plane outlives it.
    pub fn remove_on_drop(&mut self, yes: bool) {
        self.remove_on_drop = yes;
    }

    /// Pins the programs under `dir/programs/` (replacing an earlier
    /// agent's: those stay loaded while a link still runs them).
    fn pin_programs(&mut self, dir: &Path) -> Result<()> {
        let pdir = pins::programs_dir(dir);
        fs::create_dir_all(&pdir).with_context(|| format!("creating {}", pdir.display()))?;
        for name in [programs::TC, programs::XDP, programs::XDP_PASS] {
            let path = pdir.join(name);
            let _ = fs::remove_file(&path);
            self.ebpf
                .program_mut(name)
                .with_context(|| format!("program {name} missing"))?
                .pin(&path)
                .with_context(|| format!("pinning {name} at {}", path.display()))?;
        }
        Ok(())
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
    /// Program `name` of the object (every program is loaded by
    /// [`Dataplane::load`]), for its kernel info.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.ebpf.program(name)
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

    /// Writes a compiled config into empty maps: into both generations (the
    /// standby one mirrors the active one), then makes it active.
    pub fn apply(&mut self, c: &Compiled) -> Result<()> {
        self.sync(c, None)
    }

    /// Brings the maps from `old` (what they hold, in both generations: the
    /// standby generation mirrors the active one) to `new`, which must be of
    /// the other generation:
    ///
    /// 1. the standby generation goes from `old` to `new` (only the entries
    ///    that differ are written: it is not live);
    /// 2. one write of `HL_ACTIVE` switches the pipeline to it: the kernel
    ///    runs the old configuration or the new one, never a mix;
    /// 3. the former active generation goes from `old` to `new` too, so it
    ///    mirrors the new active one for the next reload.
    ///
    /// The difference is computed once and written in each generation's ids
    /// (see [`crate::delta`]): a one-rule change writes a handful of
    /// entries, twice. Flows already in the flow table keep their
    /// precompiled actions (AWS: removing a rule does not cut a tracked
    /// connection). Re-running a sync that was interrupted (a killed agent)
    /// completes it: each step writes what its target lacks, idempotently,
    /// and removals of entries already gone are fine.
    pub fn sync(&mut self, new: &Compiled, old: Option<&Compiled>) -> Result<()> {
        for step in delta::steps(new, old)? {
            match step {
                Step::Write(d) => self.write_delta(&d)?,
                Step::Activate(g) => self.activate(g)?,
            }
        }
        Ok(())
    }

    /// The switch: the pipeline looks entry points up in generation `g`.
    fn activate(&mut self, g: u32) -> Result<()> {
        let mut active: Array<&mut MapData, u32> = Array::try_from(self.map_mut(maps::ACTIVE)?)?;
        // One write switches the generation and counts the switch: flows
        // that passed the network ACLs under the old value meet them again.
        let prev = active.get(&0, 0).unwrap_or(0);
        active
            .set(0, dataplane_common::next_active(prev, g), 0)
            .with_context(|| format!("switching HL_ACTIVE to generation {g}"))?;
        crate::fault::write_point();
        Ok(())
    }

    /// Writes one generation's difference: upserts, then removals, map by
    /// map; entry points (listeners, ENIs, ports) last (in a standby
    /// generation the order is free; it reads well).
    fn write_delta(&mut self, d: &Delta) -> Result<()> {
        {
            let map = self.map_mut(maps::SG_RULES)?;
            let mut sg: LpmTrie<&mut MapData, SgKey, SgPorts> = LpmTrie::try_from(map)?;
            for (plen, key, ports) in &d.sg_rules.ups {
                sg.insert(&Key::new(*plen, *key), ports, 0)
                    .with_context(|| format!("writing security-group entry {key:?}/{plen}"))?;
                crate::fault::write_point();
            }
            for (plen, key, _) in &d.sg_rules.gone {
                sg.remove(&Key::new(*plen, *key))
                    .or_else(gone_ok)
                    .with_context(|| format!("removing security-group entry {key:?}/{plen}"))?;
                crate::fault::write_point();
            }
        }
        self.write_lpm::<NaclRuleKey, NaclDecision>(maps::NACL_RULES, &d.nacl_rules)?;
        self.write_lpm::<NaclCidrKey, u32>(maps::NACL_CIDRS, &d.nacl_cidrs)?;
        self.write_slots(maps::NACL_SUBNETS, &d.nacl_subnets)?;
        self.write_lpm::<RouteKey, RouteInfo>(maps::ROUTES, &d.routes)?;
        self.write_slots(maps::ROUTE_SUBNETS, &d.route_subnets)?;
        self.write_slots(maps::TARGETS, &d.targets)?;
        for (id, table) in &d.tables {
            self.write_table(*id, table, None)?;
            crate::fault::write_point();
        }
        self.write_slots(maps::ENDPOINTS, &d.endpoints)?;
        self.write_keyed(maps::LISTENERS, &d.listeners)?;
        self.write_keyed(maps::PUBLIC_IPS, &d.public_ips)?;
        self.write_keyed(maps::ENIS, &d.enis)?;
        self.write_keyed(maps::PORTS, &d.ports)?;
        self.write_port_slots(&d.ports)?;
        Ok(())
    }

    /// Writes and removes the entries of LPM trie `name`.
    fn write_lpm<K, V>(&mut self, name: &str, d: &Keyed<(u32, K, V)>) -> Result<()>
    where
        K: aya::Pod + std::fmt::Debug,
        V: aya::Pod,
    {
        let mut trie: LpmTrie<&mut MapData, K, V> = LpmTrie::try_from(self.map_mut(name)?)?;
        for (plen, key, v) in &d.ups {
            trie.insert(&Key::new(*plen, *key), v, 0)
                .with_context(|| format!("writing {name} entry {key:?}/{plen}"))?;
            crate::fault::write_point();
        }
        for (plen, key, _) in &d.gone {
            trie.remove(&Key::new(*plen, *key))
                .or_else(gone_ok)
                .with_context(|| format!("removing {name} entry {key:?}/{plen}"))?;
            crate::fault::write_point();
        }
        Ok(())
    }

    /// Mirrors `HL_PORTS`' difference into `HL_PORT_SLOTS` (the per-packet
    /// array for small ifindexes): writes the slots of written ports, clears
    /// those of removed ones.
    fn write_port_slots(&mut self, d: &Keyed<(u32, PortInfo)>) -> Result<()> {
        let mut arr: Array<&mut MapData, PortSlot> =
            Array::try_from(self.map_mut(maps::PORT_SLOTS)?)?;
        let ups = port_slots(&d.ups);
        let clear = port_slots(&d.gone).map(|(i, _)| (i, PortSlot::default()));
        for (i, slot) in ups.chain(clear) {
            arr.set(i, slot, 0)
                .with_context(|| format!("writing {}[{i}]", maps::PORT_SLOTS))?;
            crate::fault::write_point();
        }
        Ok(())
    }

    /// Writes and removes the entries of hash map `name`.
    fn write_keyed<K, V>(&mut self, name: &str, d: &Keyed<(K, V)>) -> Result<()>
    where
        K: aya::Pod + std::fmt::Debug,
        V: aya::Pod,
    {
        let mut map = self.hash::<K, V>(name)?;
        for (k, v) in &d.ups {
            map.insert(k, v, 0)
                .with_context(|| format!("writing {name} entry {k:?}"))?;
            crate::fault::write_point();
        }
        for (k, _) in &d.gone {
            map.remove(k)
                .or_else(gone_ok)
                .with_context(|| format!("removing {name} entry {k:?}"))?;
            crate::fault::write_point();
        }
        Ok(())
    }

    /// Writes slots `i` of array `name`.
    fn write_slots<V: aya::Pod>(&mut self, name: &str, slots: &[(u32, V)]) -> Result<()> {
        let mut arr: Array<&mut MapData, V> = Array::try_from(self.map_mut(name)?)?;
        for (i, v) in slots {
            arr.set(*i, v, 0)
                .with_context(|| format!("writing {name}[{i}]"))?;
            crate::fault::write_point();
        }
        Ok(())
    }

    /// Writes Maglev table `id`; with `old`, only the slots that differ.
    pub fn write_table(&mut self, id: u32, table: &[u32], old: Option<&[u32]>) -> Result<usize> {
        write_table(self.map_mut(maps::MAGLEV)?, id, table, old)
    }

    /// See [`end_flows_to`].
    pub fn end_flows_to(&mut self, vpc: u32, ip: [u8; 4], port: u16) -> Result<usize> {
        let [flows, counts] = self
            .ebpf
            .maps_disjoint_mut([maps::FLOWS, maps::FLOW_COUNTS]);
        let (Some(flows), Some(counts)) = (flows, counts) else {
            anyhow::bail!("map HL_FLOWS or HL_FLOW_COUNTS missing");
        };
        end_flows_to(flows, counts, vpc, ip, port)
    }

    /// Attaches the pipeline to the named fabric ports inside `ns`. With a
    /// pin directory, each port's link is pinned (`links/<hook>-<port>`) so
    /// it outlives the agent, and a link an earlier agent pinned there is
    /// adopted: its program is replaced by this one in one atomic
    /// `BPF_LINK_UPDATE`, so the port never runs without a program.
    /// Returns how many links were adopted.
    pub fn attach(&mut self, ns: &str, ports: &[String], hook: Hook) -> Result<usize> {
        let links = self.links_dir()?;
        let mut adopted = 0;
        for port in ports {
            let pin = links
                .as_ref()
                .map(|d| d.join(format!("{}-{port}", hook.name())));
            if let Some(link) = pin.as_deref().map(adopt_link).transpose()?.flatten() {
                let (ebpf, port) = (&mut self.ebpf, port.as_str());
                match hook {
                    Hook::Tc => {
                        let attach = SchedClassifier::attach_to_link;
                        replace_on_link(ebpf, programs::TC, link, (port, "tcx"), attach)?
                    }
                    Hook::Xdp => {
                        let attach = Xdp::attach_to_link;
                        replace_on_link(ebpf, programs::XDP, link, (port, "XDP"), attach)?
                    }
                }
                adopted += 1;
                continue;
            }
            let ebpf = &mut self.ebpf;
            let link: FdLink = netns::scoped_in(ns, || match hook {
                Hook::Tc => {
                    let tc: &mut SchedClassifier =
                        ebpf.program_mut(programs::TC).unwrap().try_into()?;
                    let id = tc.attach(port, TcAttachType::Ingress).with_context(|| {
                        format!("attaching hyperlab_tc (tcx ingress) to {port} in {ns}")
                    })?;
                    Ok(tc.take_link(id)?.try_into()?)
                }
                Hook::Xdp => {
                    let xdp: &mut Xdp = ebpf.program_mut(programs::XDP).unwrap().try_into()?;
                    let id = xdp.attach(port, XdpMode::Driver).with_context(|| {
                        format!("attaching hyperlab_xdp (native) to {port} in {ns}")
                    })?;
                    Ok(xdp.take_link(id)?.try_into()?)
                }
            })?;
            self.keep_link(link, pin.as_deref())?;
        }
        Ok(adopted)
    }

    /// XDP labs: give a host-side veth NAPI so it receives redirected frames
    /// (pinned and adopted like the fabric links).
    pub fn attach_xdp_pass(&mut self, ns: &str, iface: &str) -> Result<()> {
        let pin = self
            .links_dir()?
            .map(|d| d.join(format!("xdp-pass-{ns}-{iface}")));
        if let Some(link) = pin.as_deref().map(adopt_link).transpose()?.flatten() {
            let xdp: &mut Xdp = self
                .ebpf
                .program_mut(programs::XDP_PASS)
                .unwrap()
                .try_into()?;
            let link = XdpLink::try_from(link)
                .with_context(|| format!("the link pinned for {iface} in {ns} is not XDP"))?;
            xdp.attach_to_link(link)
                .with_context(|| format!("replacing the program on {iface}'s link in {ns}"))?;
            return Ok(());
        }
        let ebpf = &mut self.ebpf;
        let link: FdLink = netns::scoped_in(ns, || {
            let xdp: &mut Xdp = ebpf.program_mut(programs::XDP_PASS).unwrap().try_into()?;
            let id = xdp
                .attach(iface, XdpMode::Driver)
                .with_context(|| format!("attaching hyperlab_xdp_pass to {iface} in {ns}"))?;
            Ok(xdp.take_link(id)?.try_into()?)
        })?;
        self.keep_link(link, pin.as_deref())
    }

    /// Undoes [`Dataplane::attach`] of `ports` and [`Dataplane::attach_xdp_pass`]
    /// of `host_ifaces` (namespace, interface) for a pinned data plane:
    /// removes their pinned links (a reload that added hosts and failed;
    /// the ports themselves go with their hosts). An unpinned data plane
    /// keeps its links until dropped; they end with their devices.
    pub fn detach(
        &mut self,
        hook: Hook,
        ports: &[String],
        host_ifaces: &[(String, String)],
    ) -> Result<()> {
        let Some(links) = self.links_dir()? else {
            return Ok(());
        };
        let pins = ports.iter().map(|p| format!("{}-{p}", hook.name())).chain(
            host_ifaces
                .iter()
                .map(|(ns, iface)| format!("xdp-pass-{ns}-{iface}")),
        );
        for name in pins {
            let path = links.join(name);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", path.display()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `<pins>/links/`, created, when this data plane is pinned.
    fn links_dir(&self) -> Result<Option<PathBuf>> {
        let Some(dir) = &self.pinned else {
            return Ok(None);
        };
        let links = pins::links_dir(dir);
        fs::create_dir_all(&links).with_context(|| format!("creating {}", links.display()))?;
        Ok(Some(links))
    }

    /// Pins a new link at `pin`, or (unpinned data planes) keeps it for the
    /// data plane's lifetime.
    fn keep_link(&mut self, link: FdLink, pin: Option<&Path>) -> Result<()> {
        match pin {
            Some(path) => {
                link.pin(path)
                    .with_context(|| format!("pinning the link at {}", path.display()))?;
            }
            None => self.links.push(link),
        }
        Ok(())
    }

    /// Every flow-table entry (both directions of each flow), with its
    /// counters.
    pub fn flows(&self) -> Result<Vec<(FlowKey, crate::conntrack::FlowRow)>> {
        crate::conntrack::read_rows(self.map(maps::FLOWS)?, self.map(maps::FLOW_COUNTS)?)
    }

    pub fn map(&self, name: &str) -> Result<&aya::maps::Map> {
        self.ebpf
            .map(name)
            .with_context(|| format!("map {name} missing"))
    }

    /// Empties the flow table and the fragmented datagrams' (tests start
    /// each case from no state).
    pub fn clear_flows(&mut self) -> Result<()> {
        let mut counts: aya::maps::PerCpuHashMap<
            &mut MapData,
            FlowKey,
            dataplane_common::FlowCounters,
        > = aya::maps::PerCpuHashMap::try_from(self.map_mut(maps::FLOW_COUNTS)?)?;
        let keys: Vec<FlowKey> = counts.keys().collect::<Result<_, _>>()?;
        for k in keys {
            counts.remove(&k)?;
        }
        let mut flows = self.hash::<FlowKey, FlowEntry>(maps::FLOWS)?;
        let keys: Vec<FlowKey> = flows.keys().collect::<Result<_, _>>()?;
        for k in keys {
            flows.remove(&k)?;
        }
        // The fragmented datagrams' flows go with them (`HL_FRAGS`).
        let mut frags = self.hash::<FragKey, FragEntry>(maps::FRAGS)?;
        let keys: Vec<FragKey> = frags.keys().collect::<Result<_, _>>()?;
        for k in keys {
            frags.remove(&k)?;
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
/// from HL_FLOWS, owned or opened from its pin), with their counters
/// (`counts`: HL_FLOW_COUNTS). Packets of those flows are then decided
/// anew, like the first packet of a flow. Returns the entries removed.
pub fn end_flows_to(
    map: &mut aya::maps::Map,
    counts: &mut aya::maps::Map,
    vpc: u32,
    ip: [u8; 4],
    port: u16,
) -> Result<usize> {
    use dataplane_common::{FLOW_F_DNAT, FLOW_F_REPLY};
    let flows: HashMap<&MapData, FlowKey, FlowEntry> = HashMap::try_from(&*map)?;
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
        crate::conntrack::remove_flow(map, counts, k)?;
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

/// Pure: the kernel programs' `AYA_LOG_LEVEL` for the agent's log filter
/// (0: no kernel log statement runs).
pub fn kernel_log_level(max: log::LevelFilter) -> u8 {
    use aya_log::Level;
    match max {
        log::LevelFilter::Off => 0,
        log::LevelFilter::Error => Level::Error as u8,
        log::LevelFilter::Warn => Level::Warn as u8,
        log::LevelFilter::Info => Level::Info as u8,
        log::LevelFilter::Debug => Level::Debug as u8,
        log::LevelFilter::Trace => Level::Trace as u8,
    }
}

/// Pure: the `HL_PORT_SLOTS` slots of `HL_PORTS` entries (those whose
/// ifindex has one).
pub fn port_slots(ports: &[(u32, PortInfo)]) -> impl Iterator<Item = (u32, PortSlot)> + Clone + '_ {
    ports.iter().filter_map(|(key, p)| {
        port_slot(key & !GENERATION_BIT, key >> 31).map(|i| (i, PortSlot::of(*p)))
    })
}

/// A removal that finds nothing left to remove is done: a restarted agent
/// re-runs an interrupted sync, part of which already happened.
fn gone_ok(e: aya::maps::MapError) -> Result<(), aya::maps::MapError> {
    match &e {
        aya::maps::MapError::KeyNotFound => Ok(()),
        aya::maps::MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::ENOENT) => {
            Ok(())
        }
        _ => Err(e),
    }
}

/// Replaces the program on `link` (the one pinned for `port`, of the link
/// type `kind`) with program `name` (of type `P`): one `BPF_LINK_UPDATE`,
/// the port never runs without a program.
fn replace_on_link<'a, P: 'a, L, Id>(
    ebpf: &'a mut Ebpf,
    name: &str,
    link: FdLink,
    (port, kind): (&str, &str),
    attach: fn(&mut P, L) -> Result<Id, ProgramError>,
) -> Result<()>
where
    &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
    L: TryFrom<FdLink, Error = LinkError>,
{
    let prog: &mut P = ebpf.program_mut(name).unwrap().try_into()?;
    let link =
        L::try_from(link).with_context(|| format!("the link pinned for {port} is not {kind}"))?;
    attach(prog, link).with_context(|| format!("replacing the program on {port}'s link"))?;
    Ok(())
}

/// Loads each hook's slow-path program (a flow's first packet) and puts it
/// in the program array its fast path tail-calls (docs/DATAPLANE.md, "Two
/// programs per hook"). Every loader of the object calls this after
/// loading the fast paths: an empty array drops every first packet as
/// `slow_path_failed`. A pinned array (the agent's) keeps its program when
/// the agent exits; a new agent's load replaces it in one update.
pub fn load_slow_paths(ebpf: &mut Ebpf) -> Result<()> {
    for (_, _, name) in maps::SLOW_PATHS {
        let prog = ebpf
            .program_mut(name)
            .with_context(|| format!("program {name} missing from the object"))?;
        match prog {
            Program::SchedClassifier(p) => p.load(),
            Program::Xdp(p) => p.load(),
            _ => bail!("program {name} is neither a classifier nor an XDP program"),
        }
        .with_context(|| format!("verifier rejected {name}"))?;
    }
    for (map, index, prog) in maps::SLOW_PATHS {
        let fd = ebpf
            .program(prog)
            .with_context(|| format!("program {prog} missing from the object"))?
            .fd()?
            .try_clone()?;
        let mut array = ProgramArray::try_from(
            ebpf.map_mut(map)
                .with_context(|| format!("map {map} missing from the object"))?,
        )?;
        array
            .set(index, &fd, 0)
            .with_context(|| format!("putting {prog} into {map}[{index}]"))?;
    }
    Ok(())
}

/// Opens the link pinned at `path`, if there is one.
fn adopt_link(path: &Path) -> Result<Option<FdLink>> {
    if !path.exists() {
        return Ok(None);
    }
    let link = PinnedLink::from_pin(path)
        .with_context(|| format!("opening the pinned link {}", path.display()))?;
    Ok(Some(FdLink::from(link)))
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        // Unpinned links die with their fds; pinned ones (and the maps)
        // only when their pins are removed.
        if let (true, Some(dir)) = (self.remove_on_drop, self.pinned.take()) {
            if let Err(e) = crate::pins::remove_pins(&dir) {
                log::warn!("removing the data plane pinned in {}: {e:#}", dir.display());
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_embeds_the_kernel_object_with_its_programs_and_pinned_maps() {
        let bytes = KernelObject::Embedded.bytes().unwrap();
        let obj = aya_obj::Object::parse(&bytes).expect("the embedded object is an eBPF ELF");
        for p in [programs::TC, programs::XDP, programs::XDP_PASS] {
            assert!(obj.programs.contains_key(p), "{p} missing");
        }
        for m in PINNED_MAPS {
            assert!(obj.maps.contains_key(*m), "{m} missing");
        }
        assert_eq!(
            KernelObject::Embedded.display().to_string(),
            "(embedded in this binary)"
        );
        let file = KernelObject::from(Path::new("/x/dataplane-ebpf.o"));
        assert_eq!(file.display().to_string(), "/x/dataplane-ebpf.o");
    }

    #[test]
    fn the_kernel_logs_what_the_agent_logger_lets_through() {
        // aya-log's levels: Error 1 .. Trace 5; a statement runs when its
        // level is at most AYA_LOG_LEVEL.
        assert_eq!(kernel_log_level(log::LevelFilter::Off), 0);
        assert_eq!(kernel_log_level(log::LevelFilter::Error), 1);
        assert_eq!(kernel_log_level(log::LevelFilter::Info), 3);
        assert_eq!(kernel_log_level(log::LevelFilter::Debug), 4);
        assert_eq!(kernel_log_level(log::LevelFilter::Trace), 5);
    }
}
