//! The bench kernel object (`target/bench-ebpf.o`): loading it, its config,
//! its maps, attaching its programs inside a namespace.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aya::{
    maps::{Array, DevMap, HashMap, MapData, PerCpuArray},
    programs::{xdp::XdpLinkId, Program, SchedClassifier, Xdp, XdpMode},
    Ebpf, EbpfLoader,
};
use dataplane::netns;
use dataplane_common::FlowKey;
use hyperlab_bench_common::{
    maps, programs, BenchConfig, NatEntry, NatKey5, NatVal5, Sample, COUNT_SLOTS, SAMPLE_SLOTS,
};

/// Where the bench object is looked for: `$HYPERLAB_BENCH_OBJ`, else next to
/// the data plane's object.
pub fn bench_object_path() -> PathBuf {
    if let Ok(p) = std::env::var("HYPERLAB_BENCH_OBJ") {
        return PathBuf::from(p);
    }
    dataplane::loader::object_path().with_file_name("bench-ebpf.o")
}

const XDP_PROGRAMS: [&str; 9] = [
    programs::XDP_NAT_PAIR,
    programs::GEN,
    programs::SINK,
    programs::XDP_REDIRECT,
    programs::XDP_NAT,
    programs::XDP_NAT5,
    programs::XDP_NATW,
    programs::XDP_NATW_ACCT,
    programs::XDP_PASS,
];
const TC_PROGRAMS: [&str; 4] = [
    programs::TC_REDIRECT,
    programs::TC_NAT,
    programs::TC_NAT5,
    programs::TC_PASS,
];

pub struct BenchObject {
    ebpf: Ebpf,
}

impl BenchObject {
    /// Loads every program (the verifier runs here). `nat_entries` resizes
    /// the minimal NAT's tables (both floors').
    pub fn load(path: &Path, nat_entries: Option<u32>) -> Result<BenchObject> {
        BenchObject::load_sized(path, nat_entries, nat_entries)
    }

    /// As [`BenchObject::load`], each NAT floor's table sized on its own
    /// (1: a floor the caller does not use costs no memory).
    pub fn load_sized(path: &Path, nat: Option<u32>, nat5: Option<u32>) -> Result<BenchObject> {
        BenchObject::load_tables(path, nat, nat5, None)
    }

    /// As [`BenchObject::load_sized`], with the wide-entry table
    /// ([`hyperlab_bench_common::NatWide`], 1 entry unless `natw`) too.
    pub fn load_tables(
        path: &Path,
        nat: Option<u32>,
        nat5: Option<u32>,
        natw: Option<u32>,
    ) -> Result<BenchObject> {
        let mut loader = EbpfLoader::new();
        if let Some(n) = natw {
            loader.map_max_entries(maps::NATW, n);
        }
        if let Some(n) = nat {
            loader.map_max_entries(maps::NAT, n);
        }
        if let Some(n) = nat5 {
            loader.map_max_entries(maps::NAT5, n);
        }
        let mut ebpf = loader.load_file(path).with_context(|| {
            format!(
                "loading the bench object {}: build it with `cargo xtask build-ebpf`",
                path.display()
            )
        })?;
        for name in XDP_PROGRAMS.into_iter().chain(TC_PROGRAMS) {
            let prog = ebpf
                .program_mut(name)
                .with_context(|| format!("program {name} missing from {}", path.display()))?;
            match prog {
                Program::Xdp(p) => p.load(),
                Program::SchedClassifier(p) => p.load(),
                _ => bail!("{name} in {} is neither XDP nor TC", path.display()),
            }
            .with_context(|| format!("verifier rejected {name}"))?;
        }
        Ok(BenchObject { ebpf })
    }

    pub fn xdp(&self, name: &str) -> &Xdp {
        self.ebpf
            .program(name)
            .expect("loaded")
            .try_into()
            .expect("an XDP program")
    }

    pub fn tc(&self, name: &str) -> &SchedClassifier {
        self.ebpf
            .program(name)
            .expect("loaded")
            .try_into()
            .expect("a TC program")
    }

    pub fn set_config(&mut self, cfg: &BenchConfig) -> Result<()> {
        let mut a: Array<&mut MapData, BenchConfig> =
            Array::try_from(self.ebpf.map_mut(maps::CONFIG).context("config map")?)?;
        a.set(0, cfg, 0).context("writing the bench config")?;
        Ok(())
    }

    /// Points the XDP floors' redirect at `ifindex` (resolved in namespace `ns`).
    pub fn set_devmap(&mut self, ns: &str, ifindex: u32) -> Result<()> {
        let map = self.ebpf.map_mut(maps::DEVMAP).context("devmap")?;
        netns::scoped_in(ns, move || {
            let mut d: DevMap<&mut MapData> = DevMap::try_from(map)?;
            d.set(0, ifindex, None, 0).context("writing the devmap")?;
            Ok(())
        })
    }

    pub fn nat_map(&mut self) -> Result<HashMap<&mut MapData, FlowKey, NatEntry>> {
        Ok(HashMap::try_from(
            self.ebpf.map_mut(maps::NAT).context("nat map")?,
        )?)
    }

    pub fn nat_clear(&mut self) -> Result<()> {
        let mut m = self.nat_map()?;
        let keys: Vec<FlowKey> = m.keys().collect::<Result<_, _>>()?;
        for k in keys {
            let _ = m.remove(&k);
        }
        Ok(())
    }

    /// A map of the object by name.
    pub fn map_mut(&mut self, name: &str) -> Result<&mut aya::maps::Map> {
        self.ebpf
            .map_mut(name)
            .with_context(|| format!("map {name}"))
    }

    pub fn nat5_clear(&mut self) -> Result<()> {
        let mut m: HashMap<&mut MapData, NatKey5, NatVal5> =
            HashMap::try_from(self.ebpf.map_mut(maps::NAT5).context("nat5 map")?)?;
        let keys: Vec<NatKey5> = m.keys().collect::<Result<_, _>>()?;
        for k in keys {
            let _ = m.remove(&k);
        }
        Ok(())
    }

    /// The per-CPU counters, summed.
    pub fn counts(&self) -> Result<[u64; COUNT_SLOTS as usize]> {
        let a: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(self.ebpf.map(maps::COUNTS).context("counts")?)?;
        let mut out = [0u64; COUNT_SLOTS as usize];
        for (i, o) in out.iter_mut().enumerate() {
            *o = a.get(&(i as u32), 0)?.iter().sum();
        }
        Ok(out)
    }

    pub fn count(&self, slot: u32) -> Result<u64> {
        let a: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(self.ebpf.map(maps::COUNTS).context("counts")?)?;
        Ok(a.get(&slot, 0)?.iter().sum())
    }

    pub fn reset_samples(&mut self) -> Result<()> {
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        let mut a: PerCpuArray<&mut MapData, Sample> =
            PerCpuArray::try_from(self.ebpf.map_mut(maps::SAMPLES).context("samples")?)?;
        for slot in 0..SAMPLE_SLOTS {
            let v = aya::maps::PerCpuValues::try_from(vec![Sample::default(); cpus])?;
            a.set(slot, v, 0)?;
        }
        Ok(())
    }

    /// Every frame the sink kept since [`Self::reset_samples`].
    pub fn samples(&self) -> Result<Vec<Sample>> {
        let a: PerCpuArray<&MapData, Sample> =
            PerCpuArray::try_from(self.ebpf.map(maps::SAMPLES).context("samples")?)?;
        let mut out = Vec::new();
        for slot in 0..SAMPLE_SLOTS {
            out.extend(a.get(&slot, 0)?.iter().filter(|s| s.seq != 0).copied());
        }
        Ok(out)
    }

    /// Attaches XDP program `name` to `iface` in namespace `ns` (native mode).
    pub fn attach_xdp(&mut self, name: &str, ns: &str, iface: &str) -> Result<XdpLinkId> {
        let p: &mut Xdp = self.ebpf.program_mut(name).expect("loaded").try_into()?;
        let iface = iface.to_string();
        netns::scoped_in(ns, move || {
            p.attach(&iface, XdpMode::Driver)
                .with_context(|| format!("attaching {name} to {iface} in {ns}"))
        })
    }

    pub fn detach_xdp(&mut self, name: &str, link: XdpLinkId) -> Result<()> {
        let p: &mut Xdp = self.ebpf.program_mut(name).expect("loaded").try_into()?;
        p.detach(link).with_context(|| format!("detaching {name}"))
    }
}
