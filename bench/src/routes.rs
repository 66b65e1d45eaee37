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
use dataplane::model::Hook;

use super::report::{Check, Report, Target};
use super::two_subnets::{topo, TwoSubnets};
use super::Sizes;

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

pub fn run(opts: &super::Options, sizes: &Sizes, report: &mut Report) -> Result<()> {
    let one = topo(&table(1));
    let thousand = topo(&table(1000));
    let mut lab = TwoSubnets::new(&one, "hlbr");
    let (ack, want) = (lab.ack.clone(), lab.want.clone());
    let mut check = Check::new(format!("route tables: {TABLE}"));
    for rep in 0..opts.reps {
        eprintln!("[bench] route tables: repetition {}/{}", rep + 1, opts.reps);
        for hook in [Hook::Xdp, Hook::Tc] {
            lab.fx.clear_flows();
            lab.reload(&one)?;
            lab.open(hook, &[])?;
            for (label, topo) in [(ONE, &one), (THOUSAND, &thousand)] {
                lab.reload(topo)?;
                lab.time(hook, label, (&ack, &want), sizes, &mut check)?;
            }
        }
    }
    for hook in [Hook::Xdp, Hook::Tc] {
        let (one, thousand) = lab.rows(hook, TABLE, ONE, THOUSAND);
        report.rows.push(one.plot());
        report.rows.push(
            thousand
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
