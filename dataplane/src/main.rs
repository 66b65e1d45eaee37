//! `dataplane`: the hyperlab agent and its tools.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use dataplane::{
    agent::Agent,
    config::{self, DEFAULT_CONFIG},
    lab,
    loader::{self, KernelObject},
    model::{Hook, Topology},
    netns, persist, pins, stats,
};

/// hyperlab: AWS Hyperplane's VPC constructs as an eBPF data plane for Linux labs.
///
/// A topology config (TOML) describes VPCs, subnets, security groups and
/// ENIs. `lab up` builds it as network namespaces and veths, `run` loads the
/// TC/XDP pipeline onto the fabric and enforces it on every packet.
/// Commands that take an optional FILE use the embedded default topology
/// (lab "demo") when it is omitted.
#[derive(Parser)]
#[command(name = "dataplane", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate config files; print every error as FILE:LINE:COLUMN: FIELD: MESSAGE (exit 1 on errors).
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Build, run commands in, or remove a lab (network namespaces + veths).
    Lab {
        #[command(subcommand)]
        cmd: LabCmd,
    },
    /// Load and attach the data plane for a lab that is up, serve metrics, run until SIGINT/SIGTERM.
    ///
    /// Programs, links and maps are pinned under /sys/fs/bpf/hyperlab/<lab>: when the agent
    /// exits (SIGINT, SIGTERM, or killed) the data plane keeps forwarding, and the next `run`
    /// of the lab adopts it without dropping a flow (an upgrade swaps the programs atomically).
    /// `dataplane down` removes it. One agent per lab: a second one is refused.
    Run {
        /// Topology config (default: the embedded default topology). With an
        /// `[aws]` section, `run` follows that endpoint (as --aws-endpoint) as
        /// lab FILE's `[lab] name`.
        file: Option<PathBuf>,
        /// Follow an AWS-compatible endpoint (an emulator such as moto, at
        /// http://HOST:PORT): its state, imported as `import aws --endpoint`
        /// does, is the config; it is asked again every 500 ms and a change is
        /// reloaded (validated first, nothing half applied, tracked flows
        /// kept). Overrides FILE's `[aws] endpoint`. The lab must be up:
        /// `dataplane import aws --endpoint URL -o lab.toml` and `dataplane lab
        /// up lab.toml` first.
        #[arg(long, value_name = "URL")]
        aws_endpoint: Option<String>,
        /// The region to ask the endpoint about (default: FILE's `[aws] region`,
        /// its profile's, else us-east-1).
        #[arg(long)]
        region: Option<String>,
        /// The lab name of the endpoint's config (as `import --lab`), without FILE.
        #[arg(long, default_value = dataplane::import::DEFAULT_LAB, requires = "aws_endpoint", conflicts_with = "file")]
        lab: String,
        /// Hook to attach to the fabric ports (default: the config's `lab.hook`, else tc).
        #[arg(long, value_enum)]
        hook: Option<HookArg>,
        /// Address of the Prometheus metrics endpoint (GET /metrics;
        /// default 127.0.0.1:9477, for node K of a lab across nodes,
        /// counted from 0 in file order, port 9477 + K).
        #[arg(long)]
        metrics: Option<SocketAddr>,
        /// Kernel object to load (default: $HYPERLAB_EBPF_OBJ, else the one built into this binary).
        #[arg(long)]
        ebpf_obj: Option<PathBuf>,
        /// Reload FILE whenever it changes (SIGHUP always reloads it).
        #[arg(long)]
        watch: bool,
        /// Write VPC Flow Logs records to FILE (appended; "-": stdout); turns
        /// flow logs on and overrides the config's [flow_logs] destination.
        #[arg(long, value_name = "FILE|-")]
        flow_log: Option<String>,
        /// Flow log aggregation interval in seconds (1 to 600); overrides
        /// the config's [flow_logs] interval.
        #[arg(long, value_name = "SECS")]
        flow_log_interval: Option<u32>,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Remove a lab's data plane: detach its programs and drop its pinned maps and flows.
    ///
    /// The data plane outlives `dataplane run` (SIGTERM, SIGINT, even SIGKILL leave it
    /// forwarding, and the next `run` adopts it). This removes it; it refuses while an
    /// agent of the lab runs. `lab down` does it too.
    Down {
        /// Topology config of the lab (default: the embedded default topology).
        file: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Print the counters of a running agent: pipeline events, drops by reason, per-ENI traffic, flow-table fill.
    Stats {
        /// Topology config of the running lab (default: the embedded default topology).
        file: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArg,
        /// List every drop reason, also those at 0 (default: the ones that dropped something).
        #[arg(long)]
        all: bool,
    },
    /// List the flows a running agent tracks: original and translated tuples, state, age, idle time.
    Flows {
        /// Topology config of the running lab (default: the embedded default topology).
        file: Option<PathBuf>,
        /// Only rows containing this text (an address, "tcp", "established", a VPC id, ...).
        #[arg(long)]
        filter: Option<String>,
        /// Instead of the table, print the flow log records the agent writes to the
        /// config's `[flow_logs]` file as they are written (Ctrl-C ends it).
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Say what the running data plane would do with a packet, and why.
    ///
    /// Builds the first packet of a connection (TCP SYN, UDP datagram, ICMP
    /// echo request) from the sender's ENI and runs it through the real
    /// kernel program, loaded as a dry run over the running agent's maps
    /// (BPF_PROG_TEST_RUN): no flow, NAT port or counter is created. Prints
    /// the verdict, the stage that decided, the security groups and config
    /// rules that allow or deny it, and the NAT it gets.
    ///
    /// Exit codes: 0 forwarded, 1 dropped (or passed to the fabric's stack),
    /// 2 error (no agent running, unknown names, invalid config).
    #[command(
        after_help = "Examples:\n  dataplane explain --from client --to 10.0.2.30 --proto tcp --port 5432\n  \
        dataplane explain configs/privatelink.toml --from consumer --to vpce-web --port 80 --json"
    )]
    Explain {
        /// Topology config the agent runs (default: the embedded default topology).
        file: Option<PathBuf>,
        /// Sender: a host name or an ENI id.
        #[arg(long)]
        from: String,
        /// Destination: an IPv4 address, or an ENI, host, VPC endpoint or
        /// HTTP VPC link integration id (resolved in the sender's VPC).
        #[arg(long)]
        to: String,
        /// IP protocol, as a config's `protocol` field writes it: tcp, udp,
        /// icmp (an echo request), a name such as gre, esp, ah, sctp, or a
        /// number 0 to 255 (an IPv4 packet of that protocol, no ports).
        #[arg(long, default_value = "tcp", value_parser = dataplane::explain::Proto::parse)]
        proto: dataplane::explain::Proto,
        /// Destination port (default 80 for tcp, 53 for udp; only tcp and udp).
        #[arg(long)]
        port: Option<u16>,
        /// Source port, or the ICMP echo identifier. The load-balancer target
        /// and the NAT port depend on it.
        #[arg(long, default_value_t = dataplane::explain::DEFAULT_SPORT)]
        sport: u16,
        /// Run the XDP build of the pipeline instead of the TC one (the same
        /// pipeline; use it for labs that run `--hook xdp`).
        #[arg(long, value_enum, default_value = "tc")]
        hook: HookArg,
        /// Kernel object to load (default: $HYPERLAB_EBPF_OBJ, else the one built into this binary).
        #[arg(long)]
        ebpf_obj: Option<PathBuf>,
        /// Print the explanation as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a topology config from the network you already have: AWS CLI describe JSON or Terraform state.
    ///
    /// The config goes to stdout (or -o FILE) and passes `check`. AWS ids stay
    /// the ids, Name tags become comments, hosts are named after instances.
    /// Every resource that is not imported is listed on stderr with the
    /// reason, one line each, as are addresses moved into their subnet. Bad
    /// input (malformed JSON, a file of the wrong call, a reference to a
    /// missing resource, a CIDR AWS would refuse) is an error naming the file
    /// and JSON path: exit code 1, nothing written. docs/IMPORT.md maps each
    /// AWS field.
    Import {
        #[command(subcommand)]
        cmd: ImportCmd,
    },
    /// Write a topology as AWS would describe it: the inverse of `import`.
    Export {
        #[command(subcommand)]
        cmd: ExportCmd,
    },
    /// Run the embedded default topology end to end: lab up, data plane, real
    /// traffic (allowed and denied), counters, lab down.
    Demo {
        /// Use this config instead of the embedded default (it must have the demo's hosts).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Kernel object to load (default: $HYPERLAB_EBPF_OBJ, else the one built into this binary).
        #[arg(long)]
        ebpf_obj: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Read the AWS CLI's JSON: one file per call, in DIR or in one folder per service.
    ///
    /// The files are the output of `aws ec2 describe-vpcs`, `describe-subnets`,
    /// `describe-security-groups`, `describe-security-group-rules`,
    /// `describe-network-interfaces`, `describe-instances`,
    /// `describe-vpc-endpoints`, `describe-vpc-endpoint-service-configurations`,
    /// `describe-vpc-endpoint-connections`, `describe-route-tables`,
    /// `describe-network-acls`, `describe-vpc-peering-connections`,
    /// `describe-internet-gateways`, `describe-nat-gateways`, `describe-addresses`;
    /// `aws elbv2 describe-load-balancers`, `describe-target-groups`,
    /// `describe-listeners`, `describe-target-health` and
    /// `describe-load-balancer-attributes` (one file per resource:
    /// CALL-NAME.json); `aws apigateway get-vpc-links`, `aws apigatewayv2
    /// get-vpc-links`, `get-integrations` and `aws servicediscovery
    /// list-instances`, named CALL.json (`describe-vpcs.json`) in DIR, or in
    /// DIR/SERVICE/ (`ec2/describe-vpcs.json`). Any subset will do.
    #[command(
        after_help = "Example:\n  dataplane import aws configs/import/privatelink/aws --lab plink -o plink.toml"
    )]
    Aws {
        /// The directory of JSON files (or give --endpoint).
        #[arg(required_unless_present = "endpoint", conflicts_with = "endpoint")]
        dir: Option<PathBuf>,
        /// Ask an AWS-compatible endpoint (an emulator such as moto, at
        /// http://HOST:PORT) instead of reading files: the EC2 and ELBv2 calls
        /// above; calls it cannot answer are listed and left out.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// The region to ask the endpoint about.
        #[arg(long, default_value = "us-east-1", requires = "endpoint")]
        region: String,
        /// Also write the endpoint's answers as files (SERVICE/CALL[-KEY].json)
        /// in DIR, which `import aws DIR` reads again.
        #[arg(long, value_name = "DIR", requires = "endpoint")]
        save: Option<PathBuf>,
        /// Also write an `[aws]` section naming the endpoint and region, so that
        /// `dataplane run FILE` follows it.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        out: ImportOut,
    },
    /// Read Terraform state: the JSON `terraform show -json` prints.
    ///
    /// Its `values.root_module` and every `child_modules` are read: aws_vpc,
    /// aws_subnet, aws_security_group (and aws_default_*), the
    /// aws_vpc_security_group_ingress_rule / _egress_rule and
    /// aws_security_group_rule resources, aws_instance,
    /// aws_network_interface, aws_lb, aws_lb_target_group,
    /// aws_lb_target_group_attachment, aws_lb_listener,
    /// aws_vpc_endpoint_service (and _allowed_principal), aws_vpc_endpoint
    /// (its subnet_configuration gives the ENI addresses),
    /// aws_vpc_endpoint_connection_accepter, aws_api_gateway_vpc_link and
    /// aws_apigatewayv2_vpc_link, the route-table, network-ACL and peering
    /// resources, aws_internet_gateway (and _attachment), aws_nat_gateway,
    /// aws_eip (and _association). Anything else is listed as not imported.
    #[command(after_help = "Example:\n  terraform show -json > state.json\n  \
        dataplane import terraform configs/import/privatelink/terraform.json --lab plink -o plink.toml")]
    Terraform {
        /// The output of `terraform show -json`.
        file: PathBuf,
        #[command(flatten)]
        out: ImportOut,
    },
}

#[derive(Subcommand)]
enum ExportCmd {
    /// Write the JSON the AWS CLI prints for FILE's resources, one file per call, in DIR/SERVICE/.
    ///
    /// `ec2` (VPCs, subnets, security groups, ENIs, instances: one per host,
    /// endpoint services and their permissions, endpoints), `elbv2` (load
    /// balancers, attributes, listeners, target groups, target health and
    /// attributes), `apigateway`/`apigatewayv2` (VPC links, integrations),
    /// `servicediscovery` (Cloud Map instances). What AWS has no field for is
    /// in members named Hyperlab... (AWS tools ignore them), so `import aws
    /// DIR` gives the topology back; lab settings are not AWS state and are
    /// left out. DIR must not exist or be empty.
    #[command(
        after_help = "Example:\n  dataplane export aws configs/privatelink.toml -o /tmp/plink-aws\n  \
        dataplane import aws /tmp/plink-aws --lab plink"
    )]
    Aws {
        /// Topology config (default: the embedded default topology).
        file: Option<PathBuf>,
        /// The directory to write (created).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
    },
}

/// `--node`: which node of a lab across nodes (`[[node]]`) this command is
/// for. Its namespaces, pins and run files are named `<lab>-<node>`.
#[derive(clap::Args)]
struct NodeArg {
    /// The node of the lab (its `[[node]]` id) to build, run or remove:
    /// only its hosts, its fabric and its VXLAN device (default: the only
    /// node).
    #[arg(long, value_name = "ID")]
    node: Option<String>,
}

#[derive(clap::Args)]
struct ImportOut {
    /// Write the config to FILE (default: stdout). On an error FILE is left as it was.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The config's lab name (`[lab] name`: 1 to 12 of a-z, 0-9, '-').
    #[arg(long, default_value = dataplane::import::DEFAULT_LAB)]
    lab: String,
}

#[derive(Subcommand)]
enum LabCmd {
    /// Create one namespace per host, a fabric namespace and a veth per ENI (rebuilds if present).
    ///
    /// For the XDP hook (`[lab] hook = "xdp"`, or with --tx-offload-off) the
    /// hosts' veths get TX checksum offload off, and the output says so:
    /// host TCP and UDP through an XDP fabric need it (ping does not).
    Up {
        file: Option<PathBuf>,
        /// Turn TX checksum offload off on the hosts' veths (`ethtool -K
        /// IFACE tx off`), for a lab to be run with `run --hook xdp`.
        #[arg(long)]
        tx_offload_off: bool,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Remove every namespace the lab created.
    Down {
        file: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Run a command inside a host's namespace: `dataplane lab exec [FILE] HOST -- CMD...`.
    ///
    /// The command replaces this process (as with `ip netns exec`): its exit
    /// code, signals and stdio are the command's. It also runs while FILE is
    /// being edited and does not check, as long as the lab it names is up.
    #[command(
        after_help = "Examples:\n  dataplane lab exec client -- curl http://10.0.2.20/\n  \
        dataplane lab exec configs/privatelink.toml consumer -- curl http://10.1.1.100/"
    )]
    Exec {
        /// [FILE] HOST: the topology config (default: the embedded default
        /// topology) and the host to run in.
        #[arg(value_names = ["FILE", "HOST"], num_args = 1..=2, required = true)]
        args: Vec<String>,
        /// Topology config, as an option (same as the positional FILE).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum HookArg {
    Tc,
    Xdp,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    if !matches!(cli.cmd, Cmd::Run { .. } | Cmd::Demo { .. }) {
        // A command that prints ends quietly when its reader goes away
        // (`dataplane stats | head`), as Unix tools do. The agent and the
        // demo keep Rust's default (SIGPIPE ignored): a metrics client that
        // hangs up must not kill the agent.
        // SAFETY: restoring the default disposition, before any thread.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match dispatch(cli.cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `export aws`: the files under `dir` (a new or empty directory), what
/// they leave out on stderr.
fn export_aws(t: &Topology, dir: &Path) -> Result<ExitCode> {
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} is not empty: export writes a directory of its own (stale files would be imported \
             with the new ones)",
            dir.display()
        );
    }
    let exported = dataplane::import::export::aws(t);
    for (rel, json) in &exported.files {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut text = serde_json::to_string_pretty(json).expect("JSON values serialize");
        text.push('\n');
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    for line in &exported.left_out {
        eprintln!("not exported: {line}");
    }
    eprintln!(
        "exported lab {}: {} files -> {}",
        t.lab.name,
        exported.files.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints an import's report to stderr and writes its config to `output`
/// (through a temporary file, so a failed write leaves FILE as it was) or
/// stdout. An import error is printed as it is, exit code 1.
fn import_output(
    res: Result<dataplane::import::Imported, dataplane::import::ImportError>,
    output: Option<&Path>,
) -> Result<ExitCode> {
    let imported = match res {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for line in &imported.report {
        eprintln!("{line}");
    }
    let t = &imported.topology;
    let mut summary = format!(
        "imported lab {}: {} VPCs, {} subnets, {} security groups, {} ENIs on {} hosts, {} NLBs, \
         {} endpoint services, {} endpoints",
        t.lab.name,
        t.vpcs.len(),
        t.subnets.len(),
        t.security_groups.len(),
        t.enis.len(),
        t.hosts().len(),
        t.services.nlbs.len(),
        t.services.endpoint_services.len(),
        t.services.vpc_endpoints.len()
    );
    let i = &t.internet;
    if !i.gateways.is_empty() || !i.nat_gateways.is_empty() || !i.public_ips.is_empty() {
        summary.push_str(&format!(
            ", {} internet gateways, {} NAT gateways, {} public IPs",
            i.gateways.len(),
            i.nat_gateways.len(),
            i.public_ips.len()
        ));
    }
    match output {
        Some(f) => {
            let mut tmp = f.as_os_str().to_owned();
            tmp.push(".import-tmp");
            let tmp = PathBuf::from(tmp);
            std::fs::write(&tmp, &imported.toml)
                .with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, f).with_context(|| format!("writing {}", f.display()))?;
            eprintln!("{summary} -> {}", f.display());
        }
        None => {
            print!("{}", imported.toml);
            eprintln!("{summary}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads FILE (or the embedded default) as node `node` serves it
/// (`Topology::for_node`); config errors are printed as diagnostics and
/// end the command with exit code 1.
fn topology(file: Option<&Path>, node: Option<&str>) -> Result<Topology, ExitCode> {
    let res = match file {
        Some(f) => config::load(f),
        None => config::parse_str(DEFAULT_CONFIG, persist::DEFAULT_SOURCE),
    };
    let t = res.map_err(|d| {
        eprintln!("{d}");
        ExitCode::FAILURE
    })?;
    t.for_node(node).map_err(|e| {
        eprintln!("error: --node: {e}");
        ExitCode::FAILURE
    })
}

macro_rules! topo {
    ($file:expr) => {
        topo!($file, None)
    };
    ($file:expr, $node:expr) => {
        match topology($file, $node) {
            Ok(t) => t,
            Err(code) => return Ok(code),
        }
    };
}

fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Check { files } => {
            let mut failed = false;
            for f in &files {
                match config::load(f) {
                    Ok(t) => {
                        let i = &t.internet;
                        let internet = if i.hosts.is_empty() && i.gateways.is_empty() {
                            String::new()
                        } else {
                            format!(
                                ", {} internet gateways, {} NAT gateways, {} public IPs, {} internet hosts",
                                i.gateways.len(),
                                i.nat_gateways.len(),
                                i.public_ips.len(),
                                i.hosts.len()
                            )
                        };
                        let nodes = match t.placement.nodes.len() {
                            0 => String::new(),
                            n => format!(", {n} nodes"),
                        };
                        println!(
                            "{}: ok (lab {}, {} VPCs, {} subnets, {} security groups, {} ENIs on {} hosts{internet}{nodes})",
                            f.display(),
                            t.lab.name,
                            t.vpcs.len(),
                            t.subnets.len(),
                            t.security_groups.len(),
                            t.enis.len(),
                            t.hosts().len()
                        );
                        for note in config::notes(&t) {
                            eprintln!("{}: note: {note}", f.display());
                        }
                    }
                    Err(d) => {
                        eprintln!("{d}");
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Lab { cmd } => match cmd {
            LabCmd::Up {
                file,
                tx_offload_off,
                node,
            } => {
                let t = topo!(file.as_deref(), node.node.as_deref());
                let plan = lab::plan(&t);
                if let Some(why) = dataplane_in_the_way(&t.lab.name, file.as_deref()) {
                    anyhow::bail!(why);
                }
                lab::up(&plan)?;
                println!("lab {} is up: {}", plan.name, plan.namespaces().join(" "));
                if let (Some(tun), Some(n)) = (&plan.tunnel, t.local_node()) {
                    println!(
                        "lab {}: node {} ({}) reaches {} ENIs of other nodes through {} in {} \
                         (VXLAN, UDP port {}, mtu {})",
                        plan.name,
                        n.id,
                        tun.local,
                        tun.remote_enis.len(),
                        lab::TUNNEL_DEVICE,
                        plan.fabric_ns,
                        dataplane_common::VXLAN_PORT,
                        tun.mtu
                    );
                }
                if tx_offload_off || t.lab.hook == Hook::Xdp {
                    let done = lab::tx_offload_off(&plan)?;
                    println!(
                        "lab {}: TX checksum offload is off on the hosts' veths, as the XDP hook \
                         needs for host TCP and UDP ({})",
                        plan.name,
                        done.join(", ")
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            LabCmd::Down { file, node } => {
                let t = topo!(file.as_deref(), node.node.as_deref());
                let mut plan = lab::plan(&t);
                // And the hosts a reload added (the journal's configs).
                for a in persist::Journal::read(&t.lab.name)
                    .ok()
                    .flatten()
                    .iter()
                    .flat_map(|j| std::iter::once(&j.applied).chain(&j.pending))
                {
                    if let Ok(applied) = a.source.parse() {
                        plan.add_hosts_of(&lab::plan(&applied));
                    }
                }
                if let Some(msg) = remove_dataplane(&t.lab.name)? {
                    println!("{msg}");
                }
                lab::down(&plan)?;
                println!("lab {} is down", plan.name);
                Ok(ExitCode::SUCCESS)
            }
            LabCmd::Exec { args, config, cmd } => {
                let (file, host) = match (&args[..], config) {
                    ([host], file) => (file, host),
                    ([file, host], None) => (Some(PathBuf::from(file)), host),
                    (_, Some(_)) => bail!(
                        "give the config once: as FILE before HOST, or with -c FILE, not both"
                    ),
                    _ => unreachable!("clap takes one or two values"),
                };
                let ns = match exec_netns(file.as_deref(), host)? {
                    Ok(ns) => ns,
                    Err(code) => return Ok(code),
                };
                Err(lab::exec_in(&ns, &cmd))
            }
        },
        Cmd::Run {
            file,
            aws_endpoint,
            region,
            lab,
            hook,
            metrics,
            ebpf_obj,
            watch,
            flow_log,
            flow_log_interval,
            node,
        } => {
            // FILE (its `[aws]` and lab name), unless only an endpoint is given.
            let from_file = match (&file, &aws_endpoint) {
                (None, Some(_)) => None,
                _ => {
                    // As the node it runs serves it (a lab across nodes).
                    let s = persist::ConfigSource {
                        node: node.node.clone(),
                        ..persist::ConfigSource::read(file.as_deref())?
                    };
                    match s.parse() {
                        Ok(t) => Some((s, t)),
                        Err(d) => {
                            eprintln!("{d}");
                            return Ok(ExitCode::FAILURE);
                        }
                    }
                }
            };
            let aws = from_file.as_ref().and_then(|(_, t)| t.lab.aws.as_ref());
            let mut follow = match dataplane::aws_endpoint::resolve(aws, aws_endpoint, region)
                .map_err(anyhow::Error::msg)?
            {
                Some((url, region)) => {
                    let lab = from_file.as_ref().map_or(lab, |(_, t)| t.lab.name.clone());
                    let ep = dataplane::aws_endpoint::Endpoint::new(&url, &region)
                        .map_err(anyhow::Error::msg)?;
                    let hosts = from_file
                        .as_ref()
                        .map_or(&[][..], |(_, t)| &t.internet.hosts);
                    Some(dataplane::aws_endpoint::Follow::new(ep, &lab).keep_internet_hosts(hosts))
                }
                None => None,
            };
            // Read once: what is parsed is what the journal keeps.
            let source = match follow.as_mut() {
                Some(f) => {
                    let polled = f.poll().map_err(anyhow::Error::msg)?;
                    for line in &polled.report {
                        eprintln!("{line}");
                    }
                    persist::ConfigSource {
                        name: f.url().to_string(),
                        text: polled.changed.expect("the first poll is a change"),
                        node: None,
                    }
                }
                None => from_file.expect("read unless only an endpoint is given").0,
            };
            let source = persist::ConfigSource {
                node: node.node,
                ..source
            };
            let mut t = match source.parse() {
                Ok(t) => t,
                Err(d) => {
                    eprintln!("{d}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            t.flow_logs = dataplane::flowlog::with_overrides(
                t.flow_logs.take(),
                flow_log.as_deref(),
                flow_log_interval,
            )
            .map_err(anyhow::Error::msg)?;
            let hook = hook.map(Into::into).unwrap_or(t.lab.hook);
            let metrics = metrics.unwrap_or_else(|| {
                let k = t.placement.local.unwrap_or(0) as u16;
                SocketAddr::from(([127, 0, 0, 1], 9477 + k))
            });
            let obj = ebpf_obj
                .map(KernelObject::File)
                .unwrap_or_else(KernelObject::from_env);
            let reloads = Reloads {
                // What is followed is the endpoint, not the file.
                file: file.as_deref().filter(|_| follow.is_none()),
                watch,
                follow,
            };
            run(source, t, &obj, hook, metrics, reloads)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Down { file, node } => {
            let t = topo!(file.as_deref(), node.node.as_deref());
            match remove_dataplane(&t.lab.name)? {
                Some(msg) => println!("{msg}"),
                None => println!("lab {}: no data plane to remove", t.lab.name),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Stats { file, all, node } => {
            let t = topo!(file.as_deref(), node.node.as_deref());
            let layout = stats::Layout::numbered(&t, &persist::Journal::numbering_of(&t)?);
            let s = stats::read_pinned(&pins::pin_dir(&t.lab.name), &layout)?;
            print!("{}", stats::render(&s, &layout, all));
            let flows = stats::read_flow_table(&pins::pin_dir(&t.lab.name))?;
            print!("{}", stats::render_flow_table(&flows));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Flows {
            file,
            filter,
            follow: true,
            node,
        } => {
            let t = topo!(file.as_deref(), node.node.as_deref());
            let Some(settings) = t.flow_logs.as_ref() else {
                anyhow::bail!(
                    "{} has no [flow_logs]: flow logs are off, there is nothing to follow",
                    file.as_deref()
                        .map_or("the default topology".into(), |f| f.display().to_string())
                );
            };
            let mut out = std::io::stdout();
            dataplane::flowlog::follow(settings, filter.as_deref(), &mut out, &|| false)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Flows {
            file, filter, node, ..
        } => {
            let t = topo!(file.as_deref(), node.node.as_deref());
            print!(
                "{}",
                dataplane::flows::show(&t, &pins::pin_dir(&t.lab.name), filter.as_deref())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Explain {
            file,
            from,
            to,
            proto,
            port,
            sport,
            hook,
            ebpf_obj,
            json,
        } => {
            let query = dataplane::explain::Query {
                from,
                to,
                proto,
                port,
                sport: Some(sport),
            };
            let obj = ebpf_obj
                .map(KernelObject::File)
                .unwrap_or_else(KernelObject::from_env);
            Ok(explain(file.as_deref(), &query, hook.into(), &obj, json))
        }
        Cmd::Import { cmd } => {
            let (res, out) = match cmd {
                ImportCmd::Aws {
                    dir: Some(dir),
                    out,
                    follow,
                    ..
                } => {
                    if follow {
                        bail!("--follow needs --endpoint URL: a directory of files is nothing to follow");
                    }
                    (dataplane::import::aws_dir(&dir, &out.lab), out)
                }
                ImportCmd::Aws {
                    dir: None,
                    endpoint,
                    region,
                    save,
                    follow,
                    out,
                } => {
                    let url = endpoint.expect("clap: DIR or --endpoint");
                    let ep = dataplane::aws_endpoint::Endpoint::new(&url, &region)
                        .map_err(anyhow::Error::msg)?;
                    let (answers, notes) =
                        dataplane::aws_endpoint::fetch(&ep).map_err(anyhow::Error::msg)?;
                    if let Some(dir) = save {
                        for a in &answers {
                            let name = match &a.key {
                                Some(k) => format!("{}/{}-{k}.json", a.service, a.call),
                                None => format!("{}/{}.json", a.service, a.call),
                            };
                            let p = dir.join(name);
                            std::fs::create_dir_all(p.parent().expect("a file in a folder"))?;
                            let mut text = serde_json::to_string_pretty(&a.json)?;
                            text.push('\n');
                            std::fs::write(&p, text)
                                .with_context(|| format!("writing {}", p.display()))?;
                        }
                    }
                    let source = ep.url().to_string();
                    let mut res = dataplane::import::aws_answers(answers, notes, &out.lab, &source);
                    if let (true, Ok(i)) = (follow, res.as_mut()) {
                        let section =
                            format!("\n[aws]\nendpoint = \"{source}\"\nregion = \"{region}\"\n");
                        i.toml.push_str(&section);
                        if let Err(d) = config::parse_str(&i.toml, "imported.toml") {
                            anyhow::bail!("--region {region:?}: {d}");
                        }
                    }
                    (res, out)
                }
                ImportCmd::Terraform { file, out } => {
                    (dataplane::import::terraform_file(&file, &out.lab), out)
                }
            };
            import_output(res, out.output.as_deref())
        }
        Cmd::Export {
            cmd: ExportCmd::Aws { file, output },
        } => {
            let t = topo!(file.as_deref());
            export_aws(&t, &output)
        }
        Cmd::Demo { config, ebpf_obj } => {
            let t = topo!(config.as_deref());
            let obj = ebpf_obj
                .map(KernelObject::File)
                .unwrap_or_else(KernelObject::from_env);
            dataplane::demo::run(t, &obj)
        }
    }
}

impl From<HookArg> for Hook {
    fn from(h: HookArg) -> Hook {
        match h {
            HookArg::Tc => Hook::Tc,
            HookArg::Xdp => Hook::Xdp,
        }
    }
}

/// The namespace `lab exec` runs in. A FILE that does not check (being
/// edited) still names its lab: if that lab is up with HOST, run there and
/// say so; else print the diagnostics (exit 1).
fn exec_netns(file: Option<&Path>, host: &str) -> Result<Result<String, ExitCode>> {
    let diagnostics = match file {
        Some(f) => match config::load(f) {
            Ok(t) => {
                let t = t.for_host(host);
                return lab::host_netns(&lab::plan(&t), host).map(|n| Ok(n.to_string()));
            }
            Err(d) => d,
        },
        None => {
            let t = config::parse_str(DEFAULT_CONFIG, persist::DEFAULT_SOURCE)
                .map_err(|d| anyhow::anyhow!("{d}"))?;
            return lab::host_netns(&lab::plan(&t), host).map(|n| Ok(n.to_string()));
        }
    };
    let f = file.expect("the default config checks");
    let lab = std::fs::read_to_string(f)
        .ok()
        .and_then(|text| config::lab_name_of(&text))
        .or_else(|| f.file_stem().map(|s| s.to_string_lossy().into_owned()));
    if let Some(lab) = lab {
        let ns = format!("{lab}-{host}");
        if netns::validate_name(&ns).is_ok() && netns::exists(&ns) {
            eprintln!(
                "warning: {} does not check (`dataplane check {}` lists why); running in lab \
                 {lab}'s namespace {ns}, which is up",
                f.display(),
                f.display()
            );
            return Ok(Ok(ns));
        }
    }
    eprintln!("{diagnostics}");
    Ok(Err(ExitCode::FAILURE))
}

/// Why `lab up` must not rebuild lab `lab` now: an agent runs it, or a
/// data plane is pinned on its ports (new namespaces would cut it off them).
fn dataplane_in_the_way(lab: &str, file: Option<&Path>) -> Option<String> {
    let f = file
        .map(|f| format!(" {}", f.display()))
        .unwrap_or_default();
    if let Some(pid) = persist::AgentLock::holder(lab) {
        return Some(format!(
            "{}: rebuilding its namespaces would cut the data plane off the lab's ports; \
             nothing was changed. To rebuild: `kill -TERM {pid}`, then `dataplane lab down{f}` \
             (removes the data plane and the lab), `dataplane lab up{f}`, `dataplane run{f}`",
            persist::running_agent(lab, &pid)
        ));
    }
    let pins = pins::pin_dir(lab);
    if pins.exists() {
        return Some(format!(
            "lab {lab} has a data plane pinned in {} (no agent runs it; it still forwards): \
             rebuilding its namespaces would cut it off the lab's ports; nothing was changed. \
             Restart its agent with `dataplane run{f}` to keep the lab, or remove the data \
             plane and the lab with `dataplane lab down{f}`, then `dataplane lab up{f}`",
            pins.display()
        ));
    }
    None
}

/// Removes a lab's pinned data plane and journal, unless an agent runs it;
/// also a run directory a failed agent of an older build left behind.
fn remove_dataplane(lab: &str) -> Result<Option<String>> {
    let pins = pins::pin_dir(lab);
    let journal = persist::Journal::path(lab);
    if !pins.exists() && !journal.exists() {
        if persist::run_dir(lab).exists() {
            // Taking the lock proves no agent runs; dropping it cleans up.
            drop(
                persist::AgentLock::acquire(lab)
                    .context("refusing to remove the run directory of a running agent")?,
            );
            let _ = std::fs::remove_dir(persist::run_dir(lab));
        }
        return Ok(None);
    }
    let lock = persist::AgentLock::acquire(lab)
        .context("refusing to remove the data plane of a running agent")?;
    let links = pins::remove_pins(&pins)?.unwrap_or(0);
    persist::Journal::remove(lab)?;
    drop(lock);
    let _ = std::fs::remove_dir_all(persist::run_dir(lab));
    Ok(Some(format!(
        "lab {lab}: data plane removed ({links} links detached, maps and flows dropped)"
    )))
}

/// Where `run`'s reloads come from: FILE (on SIGHUP, or on a change with
/// `--watch`), or an AWS-compatible endpoint it follows.
struct Reloads<'a> {
    file: Option<&'a Path>,
    watch: bool,
    follow: Option<dataplane::aws_endpoint::Follow>,
}

fn run(
    source: persist::ConfigSource,
    t: Topology,
    obj: &KernelObject,
    hook: Hook,
    metrics: SocketAddr,
    reloads: Reloads<'_>,
) -> Result<()> {
    let Reloads {
        file,
        watch,
        mut follow,
    } = reloads;
    let mut agent = Agent::start_persistent(source, t, obj, hook, &loader::LoadOptions::default())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pin_dir = pins::pin_dir(&agent.topo.lab.name);
    // Shared with the scrape handler: a reload may add or remove endpoints.
    let layout = std::sync::Arc::new(std::sync::Mutex::new(agent.layout()));
    let scrape_layout = layout.clone();
    let scrape = move || {
        let layout = scrape_layout.lock().expect("layout lock").clone();
        let s = stats::read_pinned(&pin_dir, &layout)?;
        let flows = stats::read_flow_table(&pin_dir)?;
        let active = stats::read_nat_active_connections(&pin_dir, layout.nat_gateways.len())?;
        Ok(dataplane::metrics::render(&s, &flows, &active, &layout))
    };
    println!(
        "hyperlab: lab {} running on {} ports ({:?}); metrics on http://{metrics}/metrics; Ctrl-C to stop",
        agent.plan.name,
        agent.plan.ports.len(),
        hook
    );
    rt.block_on(async {
        let server = tokio::spawn(dataplane::metrics::serve(metrics, scrape));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut seen = file.and_then(mtime);
        tokio::pin!(server);
        loop {
            let reload = tokio::select! {
                r = &mut server => { r.context("metrics server task")??; break }
                _ = tokio::signal::ctrl_c() => { log::info!("SIGINT: stopping the agent"); break }
                _ = term.recv() => { log::info!("SIGTERM: stopping the agent"); break }
                // Following an endpoint, it is asked every tick anyway.
                _ = hup.recv() => follow.is_none(),
                _ = tick.tick() => {
                    if let Some(f) = follow.as_mut() {
                        // The endpoint is on this machine: a poll takes
                        // milliseconds, so it runs on this thread.
                        match f.poll() {
                            Ok(p) => {
                                if let Some(text) = p.changed {
                                    for line in &p.report {
                                        eprintln!("{line}");
                                    }
                                    let node = agent.topo.local_node().map(|n| n.id.clone());
                                    let source = persist::ConfigSource { name: f.url().to_string(), text, node };
                                    reload_source(&mut agent, source, f.url());
                                    *layout.lock().expect("layout lock") = agent.layout();
                                }
                            }
                            Err(e) => log::warn!("{}: not followed this time, the running state is unchanged: {e}", f.url()),
                        }
                    }
                    let now = file.and_then(mtime);
                    let changed = watch && now != seen;
                    seen = now;
                    changed
                }
            };
            if reload {
                reload_from(&mut agent, file);
                *layout.lock().expect("layout lock") = agent.layout();
            }
        }
        anyhow::Ok(())
    })?;
    let lab = agent.topo.lab.name.clone();
    drop(agent);
    println!(
        "hyperlab: agent stopped; the data plane of lab {lab} keeps forwarding (pinned in {}); \
         the next `dataplane run` adopts it, `dataplane down` removes it",
        pins::pin_dir(&lab).display()
    );
    Ok(())
}

/// `dataplane explain`: exit 0 forwarded, 1 dropped or passed, 2 error.
fn explain(
    file: Option<&Path>,
    query: &dataplane::explain::Query,
    hook: Hook,
    obj: &KernelObject,
    json: bool,
) -> ExitCode {
    use dataplane::explain::{self as ex, DryRun, Probe, Source};
    let (name, text) = match file {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) => (f.display().to_string(), t),
            Err(e) => {
                eprintln!("error: cannot read the config file {}: {e}", f.display());
                return ExitCode::from(2);
            }
        },
        None => ("default.toml".to_string(), DEFAULT_CONFIG.to_string()),
    };
    let topo = match config::parse_str(&text, &name) {
        Ok(t) => t,
        Err(d) => {
            eprintln!("{d}");
            return ExitCode::from(2);
        }
    };
    // A lab across nodes: the sender's node runs the packet.
    let sender = topo
        .eni_by_id(&query.from)
        .map_or_else(|| query.from.clone(), |e| topo.enis[e].host.clone());
    let topo = topo.for_host(&sender);
    let run = || -> Result<ex::Explanation> {
        let probe = Probe::resolve(&topo, query)?;
        let mut dry = DryRun::for_lab(&topo, obj, hook)?;
        let src = Source {
            file: &name,
            text: &text,
        };
        ex::explain(&topo, Some(&src), &mut dry, &probe)
    };
    match run() {
        Ok(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&e).expect("explanations serialize")
                );
            } else {
                print!("{}", ex::render(&e));
            }
            if e.forwarded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Re-reads the config and applies it; a bad config is reported with the
/// same diagnostics as `dataplane check` and changes nothing.
fn reload_from(agent: &mut Agent, file: Option<&Path>) {
    let source = match persist::ConfigSource::read(file) {
        // The node this agent serves.
        Ok(s) => persist::ConfigSource {
            node: agent.topo.local_node().map(|n| n.id.clone()),
            ..s
        },
        Err(e) => {
            eprintln!("hyperlab: reload refused, the running state is unchanged: {e:#}");
            return;
        }
    };
    let what = file.map_or("the default topology".into(), |f| f.display().to_string());
    reload_source(agent, source, &what);
}

/// Reloads `source` (`what` names it), or says why not and keeps what runs.
fn reload_source(agent: &mut Agent, source: persist::ConfigSource, what: &str) {
    let file = (what != "the default topology").then_some(what);
    match source.parse() {
        Ok(_) => match agent.reload_source(source) {
            Ok(()) => {
                println!("hyperlab: reloaded {what}");
                if !agent.not_applied().is_empty() {
                    println!(
                        "hyperlab: a reload does not apply {} (changed since this agent \
                         started): restart the agent to apply it (`kill -TERM {}`, then \
                         `dataplane run{}`; the data plane and its flows are kept)",
                        agent.not_applied().join(", "),
                        std::process::id(),
                        match file {
                            Some(u) if u.starts_with("http://") => format!(" --aws-endpoint {u}"),
                            Some(f) => format!(" {f}"),
                            None => String::new(),
                        }
                    );
                }
            }
            Err(e) => eprintln!("hyperlab: reload refused, the running state is unchanged: {e:#}"),
        },
        Err(d) => eprintln!("hyperlab: reload refused, the running state is unchanged:\n{d}"),
    }
}
