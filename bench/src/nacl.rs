//! Part 1, network ACLs: what 20-entry ACLs on both sides of a path cost
//! the established path (issue 16: at most 10% over the same path without
//! ACLs, in the same run).
//!
//! The main bench topology keeps its client and server in one subnet (no
//! ACL applies there), so this part has its own: the client and the server
//! in two subnets of one VPC. Each repetition times, on each hook, the
//! established intra-VPC ACK in a loop (its output is again its input)
//! with both subnets on the default ACL (allow-all: no lookup), then after
//! a reload that gives each subnet a 20-entry ACL per direction whose
//! allowing entry is the last (every packet pays for the lookups); the next
//! repetition reloads the default again. The flow stays tracked across the
//! reloads: only the ACL checks change. A TCP flow that passed its ACLs is
//! not looked up again until the next reload (`FlowEntry::nacl_epoch`), so
//! an ICMP echo flow, whose ACLs are looked up on every packet, is timed
//! the same way: it shows what the lookups themselves cost.

use anyhow::Result;
use dataplane::{loader::LoadOptions, model::Hook, netns};
use dataplane_common::GATEWAY_MAC;
use hyperlab_tests::{pkt, topology, Fixture, Outcome, Verdict};

use super::{
    report::{Check, Report, Row, Target},
    testrun::{call, Program},
    Section, Sizes,
};

const TOPO: &str = r#"
[lab]
name = "@LAB@"

[[vpc]]
id = "vpc-bench"
cidr = "10.0.0.0/16"

[[subnet]]
id = "subnet-client"
vpc = "vpc-bench"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[subnet]]
id = "subnet-server"
vpc = "vpc-bench"
cidr = "10.0.2.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-any"
vpc = "vpc-bench"
ingress = [{ protocol = "all", peer = "10.0.0.0/16" }]

[[eni]]
id = "eni-client"
subnet = "subnet-client"
ip = "10.0.1.10"
security_groups = ["sg-any"]
host = "client"

[[eni]]
id = "eni-server"
subnet = "subnet-server"
ip = "10.0.2.21"
security_groups = ["sg-any"]
host = "server"
@ACLS@
"#;

const TABLE: &str =
    "Network ACLs: intra-VPC across two subnets, established (TCP ACK), ns per packet";
const WITHOUT: &str = "default ACLs (allow all, no lookup) [loop]";
const WITH: &str = "20-entry ACLs on both subnets, both directions [loop]";
const ICMP_WITHOUT: &str = "ICMP echo flow, default ACLs [loop]";
const ICMP_WITH: &str =
    "ICMP echo flow, 20-entry ACLs on both subnets (looked up on every packet) [loop]";

/// 20 entries: 19 that never match the bench flows (other ports, other
/// CIDRs, denies and allows, overlapping), then the allow they meet.
fn entries() -> String {
    let mut v = Vec::new();
    for i in 0..19u16 {
        let (action, cidr) = match i % 3 {
            0 => ("deny", format!("10.0.{}.0/24", 100 + i)),
            1 => ("allow", format!("172.16.{i}.0/24")),
            _ => ("deny", "192.168.0.0/16".to_string()),
        };
        v.push(format!(
            "  {{ rule = {}, action = \"{action}\", protocol = \"tcp\", ports = \"{}-{}\", cidr = \"{cidr}\" }},",
            10 + i * 10,
            1000 + i * 50,
            1040 + i * 50
        ));
    }
    v.push(
        "  { rule = 500, action = \"allow\", protocol = \"all\", cidr = \"10.0.0.0/16\" },"
            .to_string(),
    );
    format!("[\n{}\n]", v.join("\n"))
}

fn acls() -> String {
    let acl = |id: &str, subnet: &str| {
        format!(
            "\n[[network_acl]]\nid = \"{id}\"\nvpc = \"vpc-bench\"\nsubnets = [\"{subnet}\"]\n\
             ingress = {}\negress = {}\n",
            entries(),
            entries()
        )
    };
    acl("acl-client", "subnet-client") + &acl("acl-server", "subnet-server")
}

fn expect_forward(o: &Outcome, want: &[u8]) -> Result<(), String> {
    if o.verdict != Verdict::Forward {
        return Err(format!("verdict {:?}", o.verdict));
    }
    if o.out != want {
        return Err("output frame differs".into());
    }
    Ok(())
}

pub fn run(opts: &super::Options, sizes: &Sizes, report: &mut Report) -> Result<()> {
    let plain = TOPO.replace("@ACLS@", "");
    let with = TOPO.replace("@ACLS@", &acls());
    let mut fx = Fixture::with_options(
        &plain,
        "hlbn",
        Hook::Tc,
        &LoadOptions {
            sweep_every: Some(std::time::Duration::from_secs(24 * 3600)),
            ..Default::default()
        },
    );
    let name = fx.agent.topo.lab.name.clone();
    let (cmac, smac) = (fx.mac("eni-client"), fx.mac("eni-server"));
    let (c, s) = (fx.ip("eni-client"), fx.ip("eni-server"));
    let (cport, sport) = (fx.port_ifindex("eni-client"), fx.port_ifindex("eni-server"));
    let ns = fx.agent.plan.fabric_ns.clone();
    let ack = pkt::tcp(cmac, GATEWAY_MAC, c, s, 40000, 5201, "A");
    let want = pkt::with_macs(&ack, smac, GATEWAY_MAC);
    let echo = pkt::echo(cmac, GATEWAY_MAC, c, s, 7, true);
    let want_echo = pkt::with_macs(&echo, smac, GATEWAY_MAC);
    let mut samples: Vec<(Hook, &str, Vec<f64>)> = Vec::new();
    let mut check = Check::new(format!("network ACLs: {TABLE}"));
    for rep in 0..opts.reps {
        eprintln!("[bench] network ACLs: repetition {}/{}", rep + 1, opts.reps);
        for hook in [Hook::Xdp, Hook::Tc] {
            fx.clear_flows();
            let open = [
                (cport, pkt::tcp(cmac, GATEWAY_MAC, c, s, 40000, 5201, "S")),
                (sport, pkt::tcp(smac, GATEWAY_MAC, s, c, 5201, 40000, "SA")),
                (cport, echo.clone()),
            ];
            for (port, f) in &open {
                let o = fx.run_on(hook, *port, f);
                anyhow::ensure!(
                    o.verdict == Verdict::Forward,
                    "opening the bench flow: {o:?}"
                );
            }
            for (labels, topo) in [
                ((WITHOUT, ICMP_WITHOUT), &plain),
                ((WITH, ICMP_WITH), &with),
            ] {
                fx.agent.reload(topology(topo, &name))?;
                for (label, frame, want) in [(labels.0, &ack, &want), (labels.1, &echo, &want_echo)]
                {
                    let dp = &fx.agent.dataplane;
                    let prog = match hook {
                        Hook::Xdp => Program::Xdp(dp.xdp()),
                        Hook::Tc => Program::Tc(dp.tc()),
                    };
                    let (o, ns_per) =
                        netns::scoped_in(&ns, || call(prog, cport, frame, sizes.loop_repeat))?;
                    super::kernel::record(&mut check, expect_forward(&o, want));
                    match samples
                        .iter_mut()
                        .find(|(h, l, _)| *h == hook && *l == label)
                    {
                        Some((_, _, v)) => v.push(ns_per),
                        None => samples.push((hook, label, vec![ns_per])),
                    }
                }
            }
        }
    }
    for hook in [Hook::Xdp, Hook::Tc] {
        let get = |l: &str| {
            samples
                .iter()
                .find(|(h, x, _)| *h == hook && *x == l)
                .map(|(_, _, v)| v.clone())
                .unwrap_or_default()
        };
        let (without, with) = (get(WITHOUT), get(WITH));
        let ctx = match hook {
            Hook::Tc => "TC",
            Hook::Xdp => "XDP",
        };
        report.rows.push(
            Row::new(Section::Kernel, TABLE, WITHOUT, "ns", without.clone())
                .context(ctx)
                .plot(),
        );
        report.rows.push(
            Row::new(Section::Kernel, TABLE, WITH, "ns", with.clone())
                .context(ctx)
                .baseline(WITHOUT, super::stats::ratios(&with, &without))
                .target(Target::ratio_at_most(
                    1.10,
                    "<= 1.10x without ACLs (issue 16)",
                ))
                .note(
                    "a TCP/UDP flow that passed its ACLs under the running configuration \
                     is not looked up again until the next reload (FlowEntry::nacl_epoch)",
                )
                .plot(),
        );
        let (icmp_without, icmp_with) = (get(ICMP_WITHOUT), get(ICMP_WITH));
        report.rows.push(
            Row::new(
                Section::Kernel,
                TABLE,
                ICMP_WITHOUT,
                "ns",
                icmp_without.clone(),
            )
            .context(ctx),
        );
        report.rows.push(
            Row::new(Section::Kernel, TABLE, ICMP_WITH, "ns", icmp_with.clone())
                .context(ctx)
                .baseline(
                    ICMP_WITHOUT,
                    super::stats::ratios(&icmp_with, &icmp_without),
                )
                .note("the lookups themselves: 2 ACL checks x 2 LPM lookups per packet"),
        );
    }
    report.checks.push(check);
    Ok(())
}
