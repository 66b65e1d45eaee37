//! A lab across nodes on one machine, for the e2e tests of labs across
//! nodes (docs/DATAPLANE.md, "Labs across nodes"): network namespaces stand
//! for the machines, joined by an underlay (a bridge in a namespace of its
//! own), each with its own underlay address. In each, `dataplane lab up
//! --node` builds that node's hosts, fabric and VXLAN device, and its own
//! agent process (`dataplane run --node`) serves them.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use dataplane::{
    config, lab, loader,
    model::Topology,
    pins,
    stats::{self, Layout, Snapshot},
};

use crate::{curl, require_root, unique_lab, HostProcess};

/// Two VPCs with one CIDR; in vpc-a, `client` (node n1) and `web` (node
/// n2), whose group admits HTTP from the clients' group and ping from the
/// VPC; in vpc-b, `spy` (n1) with the client's address and `other` (n2)
/// with web's, whose group admits everything.
pub const TOPOLOGY: &str = include_str!("../fixtures/multinode-two-vpcs.toml");

/// The nodes of `TOPOLOGY` and their underlay addresses.
pub const NODES: &[(&str, &str)] = &[("n1", "192.168.213.1"), ("n2", "192.168.213.2")];

/// The agent binary: next to the running executable (the bench runner in
/// `target/release`) or to this test's `deps` directory.
pub fn dataplane_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dirs = [exe.parent(), exe.parent().and_then(Path::parent)];
    let found = dirs
        .iter()
        .flatten()
        .map(|d| d.join("dataplane"))
        .find(|b| b.exists());
    found.unwrap_or_else(|| {
        panic!(
            "no dataplane binary next to {}: run `cargo build -p dataplane` first",
            exe.display()
        )
    })
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dataplane ARGS` inside machine namespace `machine` (only the network
/// namespace: bpffs and /run stay the machine's own, as on a VM).
pub fn in_machine(machine: &str, args: &[&str]) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net=/run/netns/{machine}"))
        .arg(dataplane_bin())
        .args(args);
    c
}

/// Machines (one per node) on one underlay, each with its node of the lab
/// up and its agent running; everything (agents by PID, the labs, the
/// machines, the switch) removed on drop, also when a test fails half-way.
pub struct Nodes {
    pub nodes: &'static [(&'static str, &'static str)],
    pub file: PathBuf,
    pub machines: Vec<String>,
    pub agents: Vec<(Child, PathBuf)>,
    pub lab_up: Vec<bool>,
    /// Each node's view (`Topology::for_node`) and lab plan.
    pub views: Vec<Topology>,
    pub plans: Vec<lab::LabPlan>,
    /// More arguments for every agent (`dataplane run`); `{node}` in one
    /// stands for the node's id.
    pub agent_args: Vec<String>,
}

impl Nodes {
    /// Two nodes of `TOPOLOGY`.
    pub fn new(prefix: &str) -> Nodes {
        Nodes::of(prefix, TOPOLOGY, NODES)
    }

    /// The machines of `nodes` on one underlay (a bridge in a namespace
    /// of its own), each with its node of `toml` up and its agent running.
    pub fn of(prefix: &str, toml: &str, nodes: &'static [(&'static str, &'static str)]) -> Nodes {
        Nodes::with_agent_args(prefix, toml, nodes, &[])
    }

    /// [`Nodes::of`] with `args` added to every agent's command line
    /// (`{node}`: the node's id).
    pub fn with_agent_args(
        prefix: &str,
        toml: &str,
        nodes: &'static [(&'static str, &'static str)],
        args: &[&str],
    ) -> Nodes {
        require_root();
        let obj = loader::object_path();
        assert!(obj.exists(), "run `cargo xtask build-ebpf` first");
        let lab_name = unique_lab(prefix);
        let file = std::env::temp_dir().join(format!("hyperlab-{lab_name}.toml"));
        std::fs::write(&file, toml.replace("@LAB@", &lab_name)).expect("config");
        let topo = config::load(&file).unwrap_or_else(|d| panic!("{d}"));
        let views: Vec<Topology> = nodes
            .iter()
            .map(|(n, _)| topo.clone().for_node(Some(n)).unwrap())
            .collect();
        let plans = views.iter().map(lab::plan).collect();
        let mut t = Nodes {
            nodes,
            file,
            machines: Vec::new(),
            agents: Vec::new(),
            lab_up: vec![false; nodes.len()],
            views,
            plans,
            agent_args: args.iter().map(|a| a.to_string()).collect(),
        };
        // The machines, and their underlay: a bridge in a switch namespace,
        // one veth from each machine's `ul0` to it.
        let sw = format!("{lab_name}-sw");
        run(Command::new("ip").args(["netns", "add", &sw]));
        t.machines.push(sw.clone());
        run(Command::new("ip").args(["-n", &sw, "link", "add", "br0", "type", "bridge"]));
        run(Command::new("ip").args(["-n", &sw, "link", "set", "br0", "up"]));
        for (k, (_, ip)) in nodes.iter().enumerate() {
            let m = format!("{lab_name}-m{k}");
            run(Command::new("ip").args(["netns", "add", &m]));
            t.machines.insert(k, m.clone());
            let port = format!("p{k}");
            run(Command::new("ip").args([
                "link", "add", "ul0", "netns", &m, "type", "veth", "peer", "name", &port, "netns",
                &sw,
            ]));
            run(Command::new("ip").args(["-n", &sw, "link", "set", &port, "master", "br0", "up"]));
            let cidr = format!("{ip}/24");
            run(Command::new("ip").args(["-n", &m, "addr", "add", &cidr, "dev", "ul0"]));
            run(Command::new("ip").args(["-n", &m, "link", "set", "ul0", "up"]));
            run(Command::new("ip").args(["-n", &m, "link", "set", "lo", "up"]));
        }
        let file = t.file.to_string_lossy().into_owned();
        for (k, (node, _)) in nodes.iter().enumerate() {
            let m = t.machines[k].clone();
            t.lab_up[k] = true;
            let up = run(&mut in_machine(&m, &["lab", "up", &file, "--node", node]));
            assert!(up.contains("hl-vxlan"), "lab up --node {node}: {up}");
            t.spawn_agent(k);
        }
        for k in 0..nodes.len() {
            t.wait_ready(k);
        }
        t
    }

    /// Starts node `k`'s agent (`dataplane run --node`) in its machine.
    pub fn spawn_agent(&mut self, k: usize) {
        let node = self.nodes[k].0;
        let log = std::env::temp_dir().join(format!(
            "hyperlab-{}-{}.log",
            self.views[k].lab.name,
            self.agents.len()
        ));
        let out = std::fs::File::create(&log).expect("agent log");
        let obj = loader::object_path();
        let file = self.file.to_string_lossy().into_owned();
        let obj = obj.to_string_lossy().into_owned();
        let mut args = vec!["run", &file, "--node", node, "--ebpf-obj", &obj];
        let extra: Vec<String> = self
            .agent_args
            .iter()
            .map(|a| a.replace("{node}", node))
            .collect();
        args.extend(extra.iter().map(String::as_str));
        let child = in_machine(&self.machines[k], &args)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("agent");
        if k < self.agents.len() {
            self.agents[k] = (child, log);
        } else {
            self.agents.push((child, log));
        }
    }

    /// Waits until node `k`'s agent serves (it prints its metrics address).
    pub fn wait_ready(&mut self, k: usize) {
        let (child, log) = &mut self.agents[k];
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&*log).unwrap_or_default();
            if text.contains("metrics on http://") {
                return;
            }
            if let Ok(Some(st)) = child.try_wait() {
                panic!("agent exited ({st}): {text}");
            }
            assert!(Instant::now() < deadline, "agent not ready in 30 s: {text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn agent_log(&self, k: usize) -> String {
        std::fs::read_to_string(&self.agents[k].1).unwrap_or_default()
    }

    pub fn plan(&self, node: usize) -> &lab::LabPlan {
        &self.plans[node]
    }

    pub fn snapshot(&self, node: usize) -> Snapshot {
        let v = &self.views[node];
        stats::read_pinned(&pins::pin_dir(&v.lab.name), &Layout::of(v)).expect("counters")
    }

    /// Every node's counters, in node order.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        (0..self.views.len()).map(|k| self.snapshot(k)).collect()
    }

    /// What every node counted since `before` ([`Nodes::snapshots`]).
    pub fn since(&self, before: &[Snapshot]) -> Vec<Snapshot> {
        before
            .iter()
            .enumerate()
            .map(|(k, b)| self.snapshot(k).since(b))
            .collect()
    }

    /// Asserts that no node dropped a packet since `before`.
    pub fn assert_no_drops_since(&self, before: &[Snapshot]) {
        for (k, d) in self.since(before).iter().enumerate() {
            assert_eq!(
                d.drops.iter().sum::<u64>(),
                0,
                "node {k} drops: {:?}",
                d.drops
            );
        }
    }

    /// `curl http://ADDR:PORT/` from `host` of node `node`.
    pub fn curl(&self, node: usize, host: &str, addr: &str, port: u16) -> (i32, String) {
        curl(self.plan(node), host, ip(addr), port)
    }

    /// The HTTP server on `host` of node `node` at `addr:port`.
    pub fn server(&self, node: usize, host: &str, addr: &str, port: u16) -> HostProcess {
        HostProcess::http_server(self.plan(node), host, ip(addr), port)
    }

    /// [`Nodes::curl`], and what it moved on each node's counters (in
    /// node order).
    pub fn counted_curl(
        &self,
        node: usize,
        host: &str,
        addr: &str,
        port: u16,
    ) -> ((i32, String), Vec<Snapshot>) {
        let snapshots = || (0..self.nodes.len()).map(|k| self.snapshot(k));
        let before: Vec<Snapshot> = snapshots().collect();
        let out = self.curl(node, host, addr, port);
        let d = snapshots().zip(&before).map(|(n, b)| n.since(b)).collect();
        (out, d)
    }

    pub fn eni(&self, id: &str) -> usize {
        self.views[0].eni_by_id(id).unwrap()
    }
}

impl Nodes {
    /// Stops every agent (SIGTERM by PID, then reaps it): each writes its
    /// last flow-log interval on the way out.
    pub fn stop_agents(&mut self) {
        for (child, _) in &mut self.agents {
            stop(child);
        }
    }
}

/// SIGTERM by PID, up to 10 s to exit, then SIGKILL; reaped. Nothing for
/// a child reaped already (its PID may belong to another process now).
fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for (child, log) in &mut self.agents {
            stop(child);
            let _ = std::fs::remove_file(&*log);
        }
        let file = self.file.to_string_lossy().into_owned();
        for (k, (node, _)) in self.nodes.iter().enumerate() {
            if self.lab_up[k] {
                let _ =
                    in_machine(&self.machines[k], &["lab", "down", &file, "--node", node]).output();
            }
        }
        for m in &self.machines {
            let _ = Command::new("ip").args(["netns", "del", m]).output();
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
