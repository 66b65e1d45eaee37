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
use dataplane::model::Hook;

use super::report::{Check, Report, Target};
use super::two_subnets::{topo, TwoSubnets};
use super::Sizes;

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

pub fn run(opts: &super::Options, sizes: &Sizes, report: &mut Report) -> Result<()> {
    let plain = topo("");
    let with = topo(&acls());
    let mut lab = TwoSubnets::new(&plain, "hlbn");
    let (ack, want) = (lab.ack.clone(), lab.want.clone());
    let (echo, want_echo) = lab.echo();
    let mut check = Check::new(format!("network ACLs: {TABLE}"));
    for rep in 0..opts.reps {
        eprintln!("[bench] network ACLs: repetition {}/{}", rep + 1, opts.reps);
        for hook in [Hook::Xdp, Hook::Tc] {
            lab.fx.clear_flows();
            lab.open(hook, &[&echo])?;
            for (labels, topo) in [
                ((WITHOUT, ICMP_WITHOUT), &plain),
                ((WITH, ICMP_WITH), &with),
            ] {
                lab.reload(topo)?;
                for (label, frame, want) in [(labels.0, &ack, &want), (labels.1, &echo, &want_echo)]
                {
                    lab.time(hook, label, (frame, want), sizes, &mut check)?;
                }
            }
        }
    }
    for hook in [Hook::Xdp, Hook::Tc] {
        let (without, with) = lab.rows(hook, TABLE, WITHOUT, WITH);
        report.rows.push(without.plot());
        report.rows.push(
            with.target(Target::ratio_at_most(
                1.10,
                "<= 1.10x without ACLs (issue 16)",
            ))
            .note(
                "a TCP/UDP flow that passed its ACLs under the running configuration \
                 is not looked up again until the next reload (FlowEntry::nacl_epoch)",
            )
            .plot(),
        );
        let (icmp_without, icmp_with) = lab.rows(hook, TABLE, ICMP_WITHOUT, ICMP_WITH);
        report.rows.push(icmp_without);
        report.rows.push(
            icmp_with.note("the lookups themselves: 2 ACL checks x 2 LPM lookups per packet"),
        );
    }
    report.checks.push(check);
    Ok(())
}
