//! `dataplane demo`: the embedded default topology end to end (lab up, data
//! plane, real traffic allowed and denied, counters, lab down).

use std::{
    net::SocketAddr,
    process::{Child, ExitCode, Stdio},
    time::Duration,
};

use anyhow::{bail, Context, Result};

use crate::{
    agent::Agent,
    lab,
    loader::{self, KernelObject},
    model::Topology,
    netns, stats,
};

/// A process started inside a lab host, killed (by PID) when dropped.
struct HostProcess(Child);

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_in(plan: &lab::LabPlan, host: &str, argv: &[&str]) -> Result<HostProcess> {
    let h = plan
        .host(host)
        .with_context(|| format!("the demo needs host {host:?} in the config"))?;
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let (mut cmd, _ns) = netns::command(&h.netns, &argv)?;
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} in {host}", argv.join(" ")))?;
    Ok(HostProcess(child))
}

/// Runs a command in a host, capturing output; returns (success, stdout).
fn output_in(plan: &lab::LabPlan, host: &str, argv: &[&str]) -> Result<(bool, String)> {
    let h = plan
        .host(host)
        .with_context(|| format!("the demo needs host {host:?} in the config"))?;
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let (mut cmd, _ns) = netns::command(&h.netns, &argv)?;
    let out = cmd
        .output()
        .with_context(|| format!("running {} in {host}", argv.join(" ")))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// Removes the lab even when the demo fails half way.
struct LabGuard(lab::LabPlan);

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Err(e) = lab::down(&self.0) {
            eprintln!("warning: tearing the lab down: {e:#}");
        }
    }
}

/// `dataplane demo`: builds the lab of `t`, attaches the data plane, sends
/// real traffic (allowed and denied), prints the verdicts and the counters
/// that moved, and removes the lab, also on failure.
pub fn run(t: Topology, obj: &KernelObject) -> Result<ExitCode> {
    loader::check_prerequisites(obj)?;
    let plan = lab::plan(&t);
    println!(
        "[demo] building lab {} ({} hosts, {} ENIs)",
        plan.name,
        plan.hosts.len(),
        t.enis.len()
    );
    lab::up(&plan)?;
    let guard = LabGuard(plan.clone());
    let hook = t.lab.hook;
    let agent = Agent::start(t, obj, hook)?;
    println!(
        "[demo] data plane attached to {} fabric ports ({hook:?} hook)",
        agent.plan.ports.len()
    );
    let plan = &guard.0;
    let web_ip = ip_of(&agent.topo, "eni-web")?;
    let db_ip = ip_of(&agent.topo, "eni-db")?;
    let apigw_ip = ip_of(&agent.topo, "eni-apigw")?;
    let _web = spawn_in(
        plan,
        "web",
        &["python3", "-c", lab::PEER_HTTP_SERVER, &web_ip, "80", "web"],
    )?;
    let _db = spawn_in(
        plan,
        "db",
        &["python3", "-c", lab::PEER_HTTP_SERVER, &db_ip, "5432", "db"],
    )?;
    // The API host forwards to the REST VPC link's endpoint.
    let link_ip = "10.0.1.100";
    let dir = std::env::temp_dir().join(format!("hyperlab-{}-apigw", plan.name));
    let conf = lab::nginx_config(
        &dir,
        SocketAddr::new(apigw_ip.parse()?, 80),
        SocketAddr::new(link_ip.parse()?, 80),
    )?;
    let conf = conf.display().to_string();
    let _apigw = spawn_in(plan, "apigw", &["nginx", "-c", &conf])?;
    for (host, ip, port) in [
        ("web", &web_ip, 80),
        ("db", &db_ip, 5432),
        ("apigw", &apigw_ip, 80),
    ] {
        let addr = SocketAddr::new(ip.parse()?, port);
        lab::wait_listening(plan, host, addr, Duration::from_secs(10))?;
    }
    agent.settle_health(Duration::from_secs(15))?;
    let before = agent.snapshot()?;
    let checks: Vec<(&str, &str, Vec<String>, bool)> = vec![
        (
            "client",
            "ping web (sg-web allows icmp from the VPC)",
            ["ping", "-c", "2", "-W", "1", &web_ip]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
        ),
        (
            "client",
            "curl web:80 (sg-web allows tcp/80 from sg-client)",
            curl(&web_ip, 80),
            true,
        ),
        (
            "client",
            "curl db:5432 (sg-db allows only sg-web)",
            curl(&db_ip, 5432),
            false,
        ),
        (
            "web",
            "curl db:5432 from web (allowed by sg-db)",
            curl(&db_ip, 5432),
            true,
        ),
        (
            "other",
            "curl web:80 from vpc-b (same CIDR, other VPC)",
            curl(&web_ip, 80),
            false,
        ),
        (
            "other",
            "private API: vpc-b -> endpoint -> apigw -> REST link -> web",
            curl("10.0.1.100", 80),
            true,
        ),
        (
            "apigw",
            "HTTP VPC link: apigw -> integration 10.0.1.201 -> web",
            curl("10.0.1.201", 80),
            true,
        ),
    ];
    let mut ok = true;
    for (host, what, argv, expect) in &checks {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (success, out) = output_in(plan, host, &argv)?;
        let verdict = if success { "reached" } else { "blocked" };
        let good = success == *expect;
        ok &= good;
        println!(
            "[demo] {host:>6}: {what:<60} {verdict:<8} {}",
            if good { "as expected" } else { "UNEXPECTED" }
        );
        if success && out.starts_with("server=") {
            println!("[demo]         the backend answered: {}", out.trim());
        }
    }
    let after = agent.snapshot()?;
    // Only what moved: a zero row says nothing here.
    let table = stats::render(&after.since(&before), &agent.layout(), false);
    let moved: Vec<&str> = table
        .lines()
        .filter(|l| !(l.starts_with("  ") && l.split_whitespace().skip(1).all(|v| v == "0")))
        .collect();
    println!(
        "\n[demo] counters moved by the traffic above:\n{}",
        moved.join("\n")
    );
    drop(agent);
    let name = guard.0.name.clone();
    drop(guard);
    println!("[demo] lab {name} removed");
    if !ok {
        bail!("the demo saw traffic it did not expect (see UNEXPECTED above)");
    }
    Ok(ExitCode::SUCCESS)
}

fn curl(ip: &str, port: u16) -> Vec<String> {
    [
        "curl",
        "-sS",
        "--max-time",
        "2",
        &format!("http://{ip}:{port}/"),
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

fn ip_of(t: &Topology, eni: &str) -> Result<String> {
    let i = t
        .eni_by_id(eni)
        .with_context(|| format!("the demo needs ENI {eni} in the config"))?;
    Ok(t.enis[i].ip.to_string())
}
