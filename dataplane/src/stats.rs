//! Counter snapshots: per-CPU sums of drops by reason, pipeline counters and
//! per-ENI traffic, read from a loaded [`Dataplane`] or from pinned maps.

use std::path::Path;

use anyhow::{Context, Result};
use aya::maps::{Map, MapData, PerCpuArray};
use dataplane_common::{
    maps, Counter, DropReason, EniCounters, COUNTER_COUNT, COUNTER_NAMES, DROP_REASON_COUNT,
    DROP_REASON_NAMES,
};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub drops: Vec<u64>,
    pub counters: Vec<u64>,
    /// Per ENI index.
    pub enis: Vec<EniCounters>,
}

impl Snapshot {
    pub fn drop_count(&self, r: DropReason) -> u64 {
        self.drops[r as usize]
    }
    pub fn count(&self, c: Counter) -> u64 {
        self.counters[c as usize]
    }
    /// Counters that moved from `before` to `self`.
    pub fn since(&self, before: &Snapshot) -> Snapshot {
        let sub = |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(x, y)| x - y).collect();
        Snapshot {
            drops: sub(&self.drops, &before.drops),
            counters: sub(&self.counters, &before.counters),
            enis: self
                .enis
                .iter()
                .zip(&before.enis)
                .map(|(a, b)| EniCounters {
                    tx_packets: a.tx_packets - b.tx_packets,
                    tx_bytes: a.tx_bytes - b.tx_bytes,
                    rx_packets: a.rx_packets - b.rx_packets,
                    rx_bytes: a.rx_bytes - b.rx_bytes,
                    drops: a.drops - b.drops,
                })
                .collect(),
        }
    }
}

fn sum_u64(map: &Map, n: u32, name: &str) -> Result<Vec<u64>> {
    let arr: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(map).with_context(|| format!("map {name}"))?;
    (0..n)
        .map(|i| {
            Ok(arr
                .get(&i, 0)
                .with_context(|| format!("reading {name}[{i}]"))?
                .iter()
                .sum())
        })
        .collect()
}

fn sum_enis(map: &Map, n: usize) -> Result<Vec<EniCounters>> {
    let arr: PerCpuArray<&MapData, EniCounters> =
        PerCpuArray::try_from(map).with_context(|| format!("map {}", maps::ENI_STATS))?;
    (0..n as u32)
        .map(|i| {
            let per_cpu = arr
                .get(&i, 0)
                .with_context(|| format!("reading {}[{i}]", maps::ENI_STATS))?;
            Ok(per_cpu
                .iter()
                .fold(EniCounters::default(), |a, c| EniCounters {
                    tx_packets: a.tx_packets + c.tx_packets,
                    tx_bytes: a.tx_bytes + c.tx_bytes,
                    rx_packets: a.rx_packets + c.rx_packets,
                    rx_bytes: a.rx_bytes + c.rx_bytes,
                    drops: a.drops + c.drops,
                }))
        })
        .collect()
}

/// Reads the counters of a loaded data plane (`n_enis` ENIs).
pub fn read(dp: &crate::loader::Dataplane, n_enis: usize) -> Result<Snapshot> {
    Ok(Snapshot {
        drops: sum_u64(dp.map(maps::DROPS)?, DROP_REASON_COUNT, maps::DROPS)?,
        counters: sum_u64(dp.map(maps::COUNTERS)?, COUNTER_COUNT, maps::COUNTERS)?,
        enis: sum_enis(dp.map(maps::ENI_STATS)?, n_enis)?,
    })
}

/// Reads the counters a running agent pinned under `dir`.
pub fn read_pinned(dir: &Path, n_enis: usize) -> Result<Snapshot> {
    let open = |name: &str| -> Result<Map> {
        let p = dir.join(name);
        let data = MapData::from_pin(&p).with_context(|| {
            format!(
                "opening pinned map {}: is `dataplane run` running for this lab?",
                p.display()
            )
        })?;
        Ok(Map::PerCpuArray(data))
    };
    Ok(Snapshot {
        drops: sum_u64(&open(maps::DROPS)?, DROP_REASON_COUNT, maps::DROPS)?,
        counters: sum_u64(&open(maps::COUNTERS)?, COUNTER_COUNT, maps::COUNTERS)?,
        enis: sum_enis(&open(maps::ENI_STATS)?, n_enis)?,
    })
}

/// A readable table: pipeline counters, drops by reason, then per ENI.
pub fn render(s: &Snapshot, eni_ids: &[String]) -> String {
    let mut out = String::new();
    out.push_str("PIPELINE\n");
    for (name, v) in COUNTER_NAMES.iter().zip(&s.counters) {
        out.push_str(&format!("  {name:<24} {v:>12}\n"));
    }
    out.push_str("DROPS\n");
    for (name, v) in DROP_REASON_NAMES.iter().zip(&s.drops) {
        out.push_str(&format!("  {name:<24} {v:>12}\n"));
    }
    out.push_str(&format!(
        "ENIS\n  {:<20} {:>10} {:>12} {:>10} {:>12} {:>8}\n",
        "eni", "tx_pkts", "tx_bytes", "rx_pkts", "rx_bytes", "drops"
    ));
    for (id, c) in eni_ids.iter().zip(&s.enis) {
        out.push_str(&format!(
            "  {id:<20} {:>10} {:>12} {:>10} {:>12} {:>8}\n",
            c.tx_packets, c.tx_bytes, c.rx_packets, c.rx_bytes, c.drops
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_every_reason_and_eni() {
        let mut s = Snapshot {
            drops: vec![0; DROP_REASON_COUNT as usize],
            counters: vec![0; COUNTER_COUNT as usize],
            enis: vec![EniCounters {
                tx_packets: 3,
                tx_bytes: 300,
                rx_packets: 2,
                rx_bytes: 200,
                drops: 1,
            }],
        };
        s.drops[DropReason::IngressSgDeny as usize] = 7;
        let text = render(&s, &["eni-a".to_string()]);
        assert!(
            text.contains("  ingress_sg_deny                     7\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  eni-a                         3          300          2          200        1\n"
            ),
            "{text}"
        );
        assert_eq!(
            text.lines().count(),
            1 + COUNTER_COUNT as usize + 1 + DROP_REASON_COUNT as usize + 2 + 1
        );
    }

    #[test]
    fn since_subtracts_fieldwise() {
        let a = Snapshot {
            drops: vec![5, 1],
            counters: vec![9],
            enis: vec![EniCounters {
                tx_packets: 4,
                ..Default::default()
            }],
        };
        let b = Snapshot {
            drops: vec![2, 1],
            counters: vec![3],
            enis: vec![EniCounters {
                tx_packets: 1,
                ..Default::default()
            }],
        };
        let d = a.since(&b);
        assert_eq!(d.drops, vec![3, 0]);
        assert_eq!(d.counters, vec![6]);
        assert_eq!(d.enis[0].tx_packets, 3);
    }
}
