//! Stable interface numbers: the number of every interface a lab has had.
//!
//! A number names an interface in three places that outlive a reload: the
//! fabric port `p<n>` (`lab::plan_numbered`), the kernel's ENI index
//! (`PortInfo::eni`, `EniInfo::eni`, `TargetInfo::eni`, a flow entry's
//! `src_eni`/`dst_eni`, the `HL_ENI_STATS` slot) and the flow logs'
//! interface table. So a number, once given, is never changed or reused:
//! an interface a new configuration adds gets the next free number of its
//! range, wherever the configuration lists it. Three ranges
//! (dataplane-common): host ENIs from 0, managed interfaces (endpoint ENIs,
//! NLB nodes, link ENIs, NAT gateway ENIs) from [`MANAGED_ENI_BASE`],
//! internet hosts from [`INTERNET_ENI_BASE`], so adding host ENIs shifts
//! no managed interface and no internet host.
//!
//! Pure: the previous assignment is an input ([`EniNumbers::assign`]);
//! the agent journals the result (`persist::Journal::numbers`).

use std::collections::HashMap;

use anyhow::{bail, Result};
use dataplane_common::{INTERNET_ENI_BASE, MANAGED_ENI_BASE, MAX_ENIS, MAX_INTERNET_HOSTS};
use serde::{Deserialize, Serialize};

use crate::model::Topology;

/// Every interface a lab has had, by number: `enis[n]` holds number `n`,
/// `managed[k]` number `MANAGED_ENI_BASE + k`, `internet[k]` number
/// `INTERNET_ENI_BASE + k`. Interfaces a later configuration dropped keep
/// their numbers (never given to another one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EniNumbers {
    /// Host ENI ids.
    #[serde(default)]
    pub enis: Vec<String>,
    /// Managed interface ids (`Topology::managed_interfaces`), a repeated
    /// id as `ID#2`, `ID#3`, ...
    #[serde(default)]
    pub managed: Vec<String>,
    /// Internet host names.
    #[serde(default)]
    pub internet: Vec<String>,
}

/// The numbers of one topology's interfaces, by topology index: what
/// compile, the lab plan, stats and flow logs read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Numbering {
    /// By index into `Topology::enis`.
    pub enis: Vec<u32>,
    /// By index into `Topology::managed_interfaces()`.
    pub managed: Vec<u32>,
    /// By index into `Topology::internet.hosts`.
    pub internet: Vec<u32>,
}

/// Room in each range.
const HOST_ROOM: usize = MANAGED_ENI_BASE as usize;
const MANAGED_ROOM: usize = (INTERNET_ENI_BASE - MANAGED_ENI_BASE) as usize;
const INTERNET_ROOM: usize = (MAX_ENIS - INTERNET_ENI_BASE) as usize;

/// The keys of one topology's interfaces, per range, in topology order.
fn keys(topo: &Topology) -> [Vec<String>; 3] {
    let enis = topo.enis.iter().map(|e| e.id.clone()).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let managed = topo
        .managed_interfaces()
        .into_iter()
        .map(|m| {
            let n = seen.entry(m.id.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                m.id
            } else {
                format!("{}#{n}", m.id)
            }
        })
        .collect();
    let internet = topo.internet.hosts.iter().map(|h| h.name.clone()).collect();
    [enis, managed, internet]
}

impl EniNumbers {
    /// `previous` with every interface of `topo` it lacks appended, in
    /// topology order: the numbers `previous` gave keep their interfaces.
    /// Fails only when a range is full (the lab has had more interfaces of
    /// a kind than the kernel maps number).
    pub fn assign(topo: &Topology, previous: &EniNumbers) -> Result<EniNumbers> {
        let mut out = previous.clone();
        let [enis, managed, internet] = keys(topo);
        for (what, list, new, room) in [
            ("host ENIs", &mut out.enis, enis, HOST_ROOM),
            (
                "managed interfaces",
                &mut out.managed,
                managed,
                MANAGED_ROOM,
            ),
            (
                "internet hosts",
                &mut out.internet,
                internet,
                INTERNET_ROOM.min(MAX_INTERNET_HOSTS as usize),
            ),
        ] {
            let mut known: std::collections::HashSet<String> = list.iter().cloned().collect();
            for k in new {
                if known.insert(k.clone()) {
                    list.push(k);
                }
            }
            if list.len() > room {
                bail!(
                    "the lab has had {} {what} (counting those a reload removed, whose \
                     numbers are never reused); the data plane numbers at most {room}: \
                     rebuild the lab (`dataplane lab down`, `lab up`) to number afresh",
                    list.len()
                );
            }
        }
        Ok(out)
    }

    /// The numbers `topo`'s interfaces have here, or the first interface
    /// that has none (call [`EniNumbers::assign`] first).
    pub fn numbering(&self, topo: &Topology) -> Result<Numbering> {
        let [enis, managed, internet] = keys(topo);
        let resolve = |list: &[String], keys: Vec<String>, base: u32, what: &str| {
            let at: HashMap<&str, u32> = list
                .iter()
                .enumerate()
                .map(|(n, k)| (k.as_str(), base + n as u32))
                .collect();
            keys.iter()
                .map(|k| match at.get(k.as_str()) {
                    Some(&n) => Ok(n),
                    None => bail!("{what} {k} has no interface number"),
                })
                .collect::<Result<Vec<u32>>>()
        };
        Ok(Numbering {
            enis: resolve(&self.enis, enis, 0, "ENI")?,
            managed: resolve(
                &self.managed,
                managed,
                MANAGED_ENI_BASE,
                "managed interface",
            )?,
            internet: resolve(&self.internet, internet, INTERNET_ENI_BASE, "internet host")?,
        })
    }
}

impl Numbering {
    /// The numbers a lab built from `topo` alone has: every interface in
    /// topology order from the start of its range (what
    /// [`EniNumbers::assign`] gives with no previous assignment).
    pub fn fresh(topo: &Topology) -> Numbering {
        Numbering {
            enis: (0..topo.enis.len() as u32).collect(),
            managed: (0..topo.managed_interfaces().len() as u32)
                .map(|k| MANAGED_ENI_BASE + k)
                .collect(),
            internet: (0..topo.internet.hosts.len() as u32)
                .map(|k| INTERNET_ENI_BASE + k)
                .collect(),
        }
    }

    /// The number of fabric port `port` (a port index as in
    /// `lab::PortPlan::eni`: an ENI, then from `enis.len()` an internet host).
    pub fn port(&self, port: usize) -> u32 {
        match self.enis.get(port) {
            Some(&n) => n,
            None => self.internet[port - self.enis.len()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{cat, eni, internet_gateway, sg, subnet, vpc};

    fn parsed(text: &str) -> Topology {
        crate::config::parse_str(text, "n.toml").unwrap()
    }

    /// Three hosts, an internet host and a NAT gateway (a managed
    /// interface); `extra` is inserted between the first and second ENI.
    fn lab(extra: &str) -> Topology {
        parsed(&cat(&[
            "\n[lab]\nname = \"num\"\n\n[internet]\n",
            "hosts = [{ name = \"example\", ip = \"203.0.113.10\" }]\n",
            &vpc("vpc-a", "10.0.0.0/16"),
            &subnet("subnet-a", "vpc-a", "10.0.1.0/24", "az1"),
            &sg("sg-a", "vpc-a"),
            &eni("eni-web", "subnet-a", "10.0.1.10", "sg-a", "web"),
            extra,
            &eni("eni-app", "subnet-a", "10.0.1.20", "sg-a", "app"),
            &eni("eni-db", "subnet-a", "10.0.1.30", "sg-a", "db"),
            &internet_gateway("igw-a", "vpc-a"),
            "\n[[nat_gateway]]\nid = \"nat-a\"\nsubnet = \"subnet-a\"\n",
            "private_ip = \"10.0.1.5\"\nelastic_ip = \"203.0.113.50\"\n",
        ]))
    }

    /// The ENI the tests insert between eni-web and eni-app.
    fn inserted() -> String {
        eni("eni-new", "subnet-a", "10.0.1.15", "sg-a", "new")
    }

    #[test]
    fn a_fresh_assignment_numbers_each_range_in_topology_order() {
        let t = lab("");
        let n = EniNumbers::assign(&t, &EniNumbers::default()).unwrap();
        assert_eq!(n.enis, ["eni-web", "eni-app", "eni-db"]);
        assert_eq!(n.managed, [t.managed_interfaces()[0].id.clone()]);
        assert_eq!(n.internet, ["example"]);
        let got = n.numbering(&t).unwrap();
        assert_eq!(
            got,
            Numbering {
                enis: vec![0, 1, 2],
                managed: vec![32_768],
                internet: vec![64_512],
            }
        );
        assert_eq!(got, Numbering::fresh(&t));
        assert_eq!((got.port(0), got.port(2), got.port(3)), (0, 2, 64_512));
    }

    #[test]
    fn an_eni_inserted_in_the_middle_gets_the_next_number_and_shifts_nothing() {
        let before = EniNumbers::assign(&lab(""), &EniNumbers::default()).unwrap();
        let t = lab(&inserted());
        let after = EniNumbers::assign(&t, &before).unwrap();
        assert_eq!(after.enis, ["eni-web", "eni-app", "eni-db", "eni-new"]);
        assert_eq!(
            (&after.managed, &after.internet),
            (&before.managed, &before.internet)
        );
        // Topology order web, new, app, db: new takes 3, the others keep theirs.
        assert_eq!(
            after.numbering(&t).unwrap(),
            Numbering {
                enis: vec![0, 3, 1, 2],
                managed: vec![32_768],
                internet: vec![64_512],
            }
        );
        // Not what the same file numbers afresh.
        assert_eq!(Numbering::fresh(&t).enis, [0, 1, 2, 3]);
        // Assigning again changes nothing (a reload of the same file).
        assert_eq!(EniNumbers::assign(&t, &after).unwrap(), after);
    }

    #[test]
    fn a_removed_interface_keeps_its_number_and_it_is_never_given_again() {
        let full = EniNumbers::assign(&lab(&inserted()), &EniNumbers::default()).unwrap();
        // eni-new (number 1) goes; eni-app, eni-db keep 2 and 3.
        let t = lab("");
        let less = EniNumbers::assign(&t, &full).unwrap();
        assert_eq!(less, full);
        assert_eq!(less.numbering(&t).unwrap().enis, [0, 2, 3]);
        // A different ENI next: number 4, not the freed 1.
        let other = lab(&inserted().replace("eni-new", "eni-other"));
        let more = EniNumbers::assign(&other, &less).unwrap();
        assert_eq!(more.numbering(&other).unwrap().enis, [0, 4, 2, 3]);
        // And eni-new back: its old number.
        assert_eq!(
            EniNumbers::assign(&lab(&inserted()), &more)
                .unwrap()
                .numbering(&lab(&inserted()))
                .unwrap()
                .enis,
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn an_interface_without_a_number_is_named_and_a_full_range_refused() {
        let t = lab(&inserted());
        let short = EniNumbers::assign(&lab(""), &EniNumbers::default()).unwrap();
        assert_eq!(
            short.numbering(&t).unwrap_err().to_string(),
            "ENI eni-new has no interface number"
        );
        let full = EniNumbers {
            enis: (0..HOST_ROOM).map(|n| format!("eni-gone{n}")).collect(),
            ..Default::default()
        };
        assert_eq!(
            EniNumbers::assign(&lab(""), &full).unwrap_err().to_string(),
            "the lab has had 32771 host ENIs (counting those a reload removed, whose numbers \
             are never reused); the data plane numbers at most 32768: rebuild the lab \
             (`dataplane lab down`, `lab up`) to number afresh"
        );
    }

    #[test]
    fn a_compilation_after_an_insert_keeps_every_port_and_eni_entry_on_its_number() {
        use std::collections::BTreeMap;
        let (old, new) = (lab(""), lab(&inserted()));
        // Fabric ifindexes by port: web 10, app 11, db 12, example 13; the
        // new ENI's port is 20.
        let before = super::super::compile(&old, &[10, 11, 12, 13]).unwrap();
        let after = super::super::compile_numbered(
            &new,
            &[10, 20, 11, 12, 13],
            &before.numbers,
            &mut super::super::Memo::default(),
        )
        .unwrap();
        let ports = |c: &super::super::Compiled| -> BTreeMap<u32, u32> {
            c.ports.iter().map(|(ifx, p)| (*ifx, p.eni)).collect()
        };
        let enis = |c: &super::super::Compiled| -> BTreeMap<[u8; 4], u32> {
            c.enis.iter().map(|(k, e)| (k.ip, e.eni)).collect()
        };
        assert_eq!(
            ports(&before),
            BTreeMap::from([(10, 0), (11, 1), (12, 2), (13, 64_512)])
        );
        // Every port of before keeps its number; the new one takes 3.
        assert_eq!(
            ports(&after),
            BTreeMap::from([(10, 0), (11, 1), (12, 2), (13, 64_512), (20, 3)])
        );
        assert_eq!(
            enis(&after),
            BTreeMap::from([
                ([10, 0, 1, 10], 0),
                ([10, 0, 1, 15], 3),
                ([10, 0, 1, 20], 1),
                ([10, 0, 1, 30], 2),
                ([203, 0, 113, 10], 64_512),
            ])
        );
        assert_eq!(
            after.numbers.enis,
            ["eni-web", "eni-app", "eni-db", "eni-new"]
        );
        // The same file compiled afresh numbers by position: app and db move.
        let fresh = super::super::compile(&new, &[10, 20, 11, 12, 13]).unwrap();
        assert_eq!(
            ports(&fresh),
            BTreeMap::from([(10, 0), (20, 1), (11, 2), (12, 3), (13, 64_512)])
        );
    }

    #[test]
    fn numbers_round_trip_through_the_journal_format() {
        let n = EniNumbers::assign(&lab(&inserted()), &EniNumbers::default()).unwrap();
        let text = toml::to_string(&n).unwrap();
        assert_eq!(toml::from_str::<EniNumbers>(&text).unwrap(), n);
    }
}
