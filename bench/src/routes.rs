//! Part 1, route tables: what a 1,000-route table costs the established
//! path against a 1-route table (issue 17: at most 10% over, in the same
//! run). The route is decided at flow creation and kept in the flow entry
//! (docs/DATAPLANE.md, "Route tables": first packets only), so the
//! established path never looks a route up and the ratio should be 1.00x.
//!
//! The client and the server are in two subnets of one VPC; the client's
//! subnet uses the VPC's main table. Each repetition times, on each hook,
//! the established intra-VPC ACK in a loop (its output is again its
//! input) with a main table of one route, then after a reload that gives
//! it 1,000 (blackholes for /24s outside the VPC: the local route still
//! decides the bench flow); the next repetition reloads the 1-route table
//! again. The flow stays tracked across the reloads.

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
@ROUTES@
"#;

const TABLE: &str =
    "Route tables: intra-VPC across two subnets, established (TCP ACK), ns per packet";
const ONE: &str = "main table with 1 route [loop]";
const THOUSAND: &str = "main table with 1,000 routes [loop]";

/// The main table with `n` blackhole routes for /24s outside the VPC
/// (10.1.0.0/24, 10.1.1.0/24, ...): the bench flow meets the local route.
fn table(n: u32) -> String {
    let routes: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "  {{ destination = \"10.{}.{}.0/24\", target = \"blackhole\" }},",
                1 + i / 256,
                i % 256
            )
        })
        .collect();
    format!(
        "\n[[route_table]]\nid = \"rtb-main\"\nvpc = \"vpc-bench\"\nmain = true\nroutes = [\n{}\n]\n",
        routes.join("\n")
    )
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
    let one = TOPO.replace("@ROUTES@", &table(1));
    let thousand = TOPO.replace("@ROUTES@", &table(1000));
    let mut fx = Fixture::with_options(
        &one,
        "hlbr",
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
    let mut samples: Vec<(Hook, &str, Vec<f64>)> = Vec::new();
    let mut check = Check::new(format!("route tables: {TABLE}"));
    for rep in 0..opts.reps {
        eprintln!("[bench] route tables: repetition {}/{}", rep + 1, opts.reps);
        for hook in [Hook::Xdp, Hook::Tc] {
            fx.clear_flows();
            fx.agent.reload(topology(&one, &name))?;
            let open = [
                (cport, pkt::tcp(cmac, GATEWAY_MAC, c, s, 40000, 5201, "S")),
                (sport, pkt::tcp(smac, GATEWAY_MAC, s, c, 5201, 40000, "SA")),
            ];
            for (port, f) in &open {
                let o = fx.run_on(hook, *port, f);
                anyhow::ensure!(
                    o.verdict == Verdict::Forward,
                    "opening the bench flow: {o:?}"
                );
            }
            for (label, topo) in [(ONE, &one), (THOUSAND, &thousand)] {
                fx.agent.reload(topology(topo, &name))?;
                let dp = &fx.agent.dataplane;
                let prog = match hook {
                    Hook::Xdp => Program::Xdp(dp.xdp()),
                    Hook::Tc => Program::Tc(dp.tc()),
                };
                let (o, ns_per) =
                    netns::scoped_in(&ns, || call(prog, cport, &ack, sizes.loop_repeat))?;
                super::kernel::record(&mut check, expect_forward(&o, &want));
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
    for hook in [Hook::Xdp, Hook::Tc] {
        let get = |l: &str| {
            samples
                .iter()
                .find(|(h, x, _)| *h == hook && *x == l)
                .map(|(_, _, v)| v.clone())
                .unwrap_or_default()
        };
        let (one, thousand) = (get(ONE), get(THOUSAND));
        let ctx = match hook {
            Hook::Tc => "TC",
            Hook::Xdp => "XDP",
        };
        report.rows.push(
            Row::new(Section::Kernel, TABLE, ONE, "ns", one.clone())
                .context(ctx)
                .plot(),
        );
        report.rows.push(
            Row::new(Section::Kernel, TABLE, THOUSAND, "ns", thousand.clone())
                .context(ctx)
                .baseline(ONE, super::stats::ratios(&thousand, &one))
                .target(Target::ratio_at_most(
                    1.10,
                    "<= 1.10x a 1-route table (issue 17)",
                ))
                .note(
                    "the route is decided on the first packet and kept in the flow entry: \
                     the established path does no route lookup",
                )
                .plot(),
        );
    }
    report.checks.push(check);
    Ok(())
}
