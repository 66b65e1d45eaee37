//! Issue 19's real producer, end to end (root): moto's server on 127.0.0.1
//! (from the venv `cargo xtask setup` made), a PrivateLink network built in
//! it with boto3 (tests/fixtures/import/moto-5.2.6-privatelink/build.py),
//! then one lab at a time: (a) the describe JSON dumped with boto3
//! (`dump.py`), imported, run from the file; (b) the agent following the
//! endpoint (`run --aws-endpoint`). Both must behave the same; then a rule
//! revoked through the API (`revoke.py`) refuses new connections within 2 s
//! while one opened before goes on. And the gateway layer (no root): a
//! network with an internet gateway, a NAT gateway and Elastic IPs built in
//! moto (tests/fixtures/import/moto-5.2.6-gateways/build.py) imports the
//! same dumped or asked, gateways, routes and public IPs included; followed
//! from a file (`[aws]`), an instance launched through the API becomes a
//! new lab host on the next poll that reaches a server within 2 s, while a
//! connection on another host goes on, and `lab down FILE` removes it too.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

mod common;
use common::{bin, echo, lab_up, root_lab, tmp, AgentProc};
use dataplane::lab::{LabPlan, PEER_HTTP_SERVER};

fn fixture() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/import/moto-5.2.6-privatelink"
    ))
}

/// The venv with moto and boto3: `HYPERLAB_MOTO_VENV` (set by `cargo xtask
/// test`), else the workspace's `target/moto-venv`, where `cargo xtask
/// setup` puts it.
fn venv() -> PathBuf {
    std::env::var_os("HYPERLAB_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/moto-venv"))
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `moto_server` on 127.0.0.1 (only), killed by PID when dropped.
struct Moto {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Moto {
    fn start() -> Moto {
        let server = venv().join("bin/moto_server");
        assert!(
            server.is_file(),
            "{} is missing: run `cargo xtask setup` (as root), which installs moto[server] and \
             boto3 into {}",
            server.display(),
            venv().display()
        );
        let port = free_port();
        let log = tmp("moto.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = moto.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "moto_server did not listen on {} ({exited:?}): {}",
                moto.url,
                std::fs::read_to_string(&moto.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// The fixture's boto3 script `name` against this moto, with `args`.
    fn script(&self, name: &str, args: &[&str]) {
        self.script_in(&fixture(), name, args);
    }

    /// The boto3 script `name` of fixture `dir` against this moto.
    fn script_in(&self, dir: &Path, name: &str, args: &[&str]) {
        let out = Command::new(venv().join("bin/python"))
            .arg(dir.join(name))
            .arg(&self.url)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A command inside lab host `host` (its network namespace).
fn in_host(lab: &str, host: &str, argv: &[&str]) -> (Command, std::fs::File) {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    dataplane::netns::command(&format!("{lab}-{host}"), &argv).unwrap()
}

/// The lab's HTTP server (`server=HOST peer=IP:PORT`) on `ip`:8080 in lab
/// host `host`, started.
fn http_server(lab: &str, host: &str, ip: &str) -> Child {
    let argv = ["python3", "-c", PEER_HTTP_SERVER, ip, "8080", host];
    let (mut cmd, _ns) = in_host(lab, host, &argv);
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (10 s at most) until [`http_server`]'s server listens.
fn http_listening(plan: &LabPlan, host: &str, ip: &str) {
    let addr = (ip.parse::<std::net::Ipv4Addr>().unwrap(), 8080).into();
    dataplane::lab::wait_listening(plan, host, addr, Duration::from_secs(10)).unwrap();
}

/// `curl` inside a lab host: (exit code, body).
fn curl(lab: &str, host: &str, url: &str) -> (i32, String) {
    let (mut cmd, _ns) = in_host(lab, host, &["curl", "-sS", "--max-time", "1", url]);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Whether the answer came from a target with the NLB's node in the
/// target's subnet as its source.
fn from_the_nlb(body: &str) -> bool {
    body.starts_with("server=web1 peer=10.1.1.4:") || body.starts_with("server=web2 peer=10.1.2.4:")
}

/// A lab up, the targets serving on 8080, an agent running. Dropped (also
/// on a failure): the servers killed, the agent stopped, the lab down.
struct Lab {
    name: String,
    file: PathBuf,
    servers: Vec<Child>,
    agent: Option<AgentProc>,
}

impl Lab {
    /// `lab up FILE`, the targets (first, so their health checks pass from
    /// the start), then `dataplane ARGS --metrics ...`.
    fn up(name: &str, file: &Path, args: &[&str]) -> Lab {
        lab_up(file);
        let mut lab = Lab {
            name: name.to_string(),
            file: file.to_path_buf(),
            servers: Vec::new(),
            agent: None,
        };
        let plan = dataplane::lab::plan(&dataplane::config::load(file).unwrap());
        for (host, ip) in [("web1", "10.1.1.21"), ("web2", "10.1.2.22")] {
            lab.servers.push(http_server(name, host, ip));
            http_listening(&plan, host, ip);
        }
        let log = tmp(&format!("{name}-agent.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = bin()
            .args(args)
            .args(["--metrics", &format!("127.0.0.1:{}", free_port())])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let agent = lab.agent.insert(AgentProc {
            child,
            file: file.to_path_buf(),
            log,
            owns_lab: false,
        });
        agent.wait_for("running on");
        lab
    }

    fn agent(&self) -> &AgentProc {
        self.agent.as_ref().unwrap()
    }

    /// What real clients see, one line per probe.
    fn probe(&self) -> Vec<String> {
        let lab = &self.name;
        let mut seen = Vec::new();
        // client (sg client) -> the endpoint (sg vpce admits tcp 80 from sg
        // client) -> the NLB -> web1 or web2 (sg web admits 8080 from sg nlb).
        let (code, body) = curl(lab, "client", "http://10.0.1.4/");
        seen.push(if code == 0 && from_the_nlb(&body) {
            "client -> endpoint:80: a target answered, from the NLB's node".to_string()
        } else {
            format!("client -> endpoint:80: curl exit {code}: {body}")
        });
        // sg vpce admits only tcp 80; sg web admits 8080 only from sg nlb
        // (web2 serves there): nothing answers, not even a reset (curl 28).
        let (code, _) = curl(lab, "client", "http://10.0.1.4:443/");
        seen.push(format!("client -> endpoint:443: curl exit {code}"));
        let (code, _) = curl(lab, "web1", "http://10.1.2.22:8080/");
        seen.push(format!("web1 -> web2:8080: curl exit {code}"));
        // sg web admits icmp from 10.1.0.0/16 (a CIDR peer).
        let (mut ping, _ns) = in_host(lab, "web1", &["ping", "-c1", "-W1", "10.1.2.22"]);
        let code = ping.output().unwrap().status.code().unwrap_or(-1);
        seen.push(format!("web1 -> web2 ping: exit {code}"));
        seen
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        if let Some(agent) = self.agent.take() {
            let _ = std::fs::remove_file(&agent.log);
            drop(agent); // SIGTERM, and waits for it
        }
        let _ = bin().args(["lab", "down"]).arg(&self.file).output();
    }
}

const EXPECTED: [&str; 4] = [
    "client -> endpoint:80: a target answered, from the NLB's node",
    "client -> endpoint:443: curl exit 28",
    "web1 -> web2:8080: curl exit 28",
    "web1 -> web2 ping: exit 0",
];

/// `dataplane ARGS` (an import), which must succeed; the config it wrote
/// to `file`, without its header line naming the source.
fn import(args: &[&str], file: &Path) -> String {
    let out = bin().args(args).arg("-o").arg(file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .filter(|l| !l.starts_with("# Imported from "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
#[ignore = "needs root"]
fn a_network_built_in_moto_runs_the_same_dumped_or_followed_and_a_revoke_refuses_new_connections_within_2_s(
) {
    let (lab, file) = root_lab("moto", "moto.toml");
    let moto = Moto::start();
    moto.script("build.py", &[]);

    // (a) The describe JSON, dumped with boto3, imported and run.
    let dump = tmp("moto-dump");
    let _ = std::fs::remove_dir_all(&dump);
    moto.script("dump.py", &[dump.to_str().unwrap()]);
    let dumped = import(
        &["import", "aws", dump.to_str().unwrap(), "--lab", &lab],
        &file,
    );
    let _ = std::fs::remove_dir_all(&dump);
    let a = Lab::up(&lab, &file, &["run", file.to_str().unwrap()]);
    assert_eq!(a.probe(), EXPECTED, "{}", a.agent().output());
    drop(a);

    // (b) The agent follows the endpoint (the lab is built from what the
    // endpoint says, which is what the dump said).
    let url = moto.url.clone();
    let asked = import(&["import", "aws", "--endpoint", &url, "--lab", &lab], &file);
    assert_eq!(asked, dumped);
    let b = Lab::up(&lab, &file, &["run", "--aws-endpoint", &url, "--lab", &lab]);
    assert_eq!(b.probe(), EXPECTED, "{}", b.agent().output());

    // A connection opened before the revoke asks after it.
    let held = "import socket, time\n\
                s = socket.create_connection(('10.0.1.4', 80), timeout=10)\n\
                time.sleep(4)\n\
                s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n\
                data = b''\n\
                while not (b'\\r\\n\\r\\n' in data and data.split(b'\\r\\n\\r\\n', 1)[1].endswith(b'\\n')):\n\
                \x20   more = s.recv(4096)\n\
                \x20   if not more: break\n\
                \x20   data += more\n\
                print(data.decode().splitlines()[-1])\n";
    let (mut cmd, _ns) = in_host(&lab, "client", &["python3", "-c", held]);
    let established = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500)); // lets it connect first
                                                    // sg web no longer admits sg nlb on 8080, through moto's API.
    let reloads = b.agent().output().matches("hyperlab: reloaded ").count();
    moto.script("revoke.py", &[]);
    let t0 = Instant::now();
    b.agent().wait_for_n("hyperlab: reloaded ", reloads + 1);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let (code, body) = curl(&lab, "client", "http://10.0.1.4/");
    assert_eq!(code, 28, "a new connection passed the revoked rule: {body}");
    let done = established.wait_with_output().unwrap();
    let line = String::from_utf8_lossy(&done.stdout).trim().to_string();
    assert!(
        from_the_nlb(&line),
        "the established connection: {line:?} {}",
        String::from_utf8_lossy(&done.stderr)
    );
    drop(b);
    drop(moto);
    let _ = std::fs::remove_file(&file);
}

#[test]
#[ignore = "needs moto (cargo xtask setup)"]
fn gateways_built_in_moto_import_the_same_dumped_or_asked_with_routes_and_public_ips() {
    let moto = Moto::start();
    let gateways = fixture().join("../moto-5.2.6-gateways");
    moto.script_in(&gateways, "build.py", &[]);
    let dump = tmp("moto-gw-dump");
    let _ = std::fs::remove_dir_all(&dump);
    moto.script("dump.py", &[dump.to_str().unwrap()]);
    let file = tmp("moto-gw.toml");
    let dumped = import(
        &["import", "aws", dump.to_str().unwrap(), "--lab", "gw"],
        &file,
    );
    let _ = std::fs::remove_dir_all(&dump);
    let asked = import(
        &["import", "aws", "--endpoint", &moto.url, "--lab", "gw"],
        &file,
    );
    assert_eq!(asked, dumped);
    let t = dataplane::config::load(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    drop(moto);

    // moto's ids are random: the topology is checked by what it holds.
    let subnet = |cidr: &str| {
        t.subnets
            .iter()
            .position(|s| s.cidr.to_string() == cidr)
            .unwrap()
    };
    let (public, private) = (subnet("10.0.1.0/24"), subnet("10.0.2.0/24"));
    let i = &t.internet;
    assert_eq!(i.gateways.len(), 1);
    assert_eq!(i.gateways[0].vpc, t.subnets[public].vpc);
    assert_eq!(i.nat_gateways.len(), 1);
    let nat = &i.nat_gateways[0];
    assert_eq!(nat.subnet, public);
    assert!(t.subnets[public].cidr.contains(&nat.private_ip), "{nat:?}");
    assert!(
        dataplane::model::internet_range(nat.elastic_ip).is_some(),
        "{nat:?}"
    );
    let routes: Vec<(usize, String, dataplane::model::RouteTarget)> = (0..t.subnets.len())
        .filter_map(|s| t.route_table_of(s).map(|r| (s, r)))
        .flat_map(|(s, r)| {
            r.routes
                .iter()
                .map(move |x| (s, x.destination.to_string(), x.target))
        })
        .collect();
    use dataplane::model::RouteTarget::{InternetGateway, NatGateway};
    assert_eq!(
        routes,
        [
            (public, "0.0.0.0/0".to_string(), InternetGateway(0)),
            (private, "0.0.0.0/0".to_string(), NatGateway(0)),
        ]
    );
    let hosts: Vec<(&str, bool)> = t
        .enis
        .iter()
        .enumerate()
        .map(|(k, e)| (e.host.as_str(), i.public_ip_of(k).is_some()))
        .collect();
    assert_eq!(hosts, [("web", true), ("app", false)]);
}

/// The network of tests/fixtures/import/moto-5.2.6-gateways built in a
/// fresh moto and imported from it with --follow into `file` (its [aws]
/// section names moto) for the lab named from `prefix`.
fn followed_gateways(prefix: &str, file: &str) -> (String, PathBuf, Moto) {
    let (lab, file) = root_lab(prefix, file);
    let moto = Moto::start();
    moto.script_in(&fixture().join("../moto-5.2.6-gateways"), "build.py", &[]);
    let args = [
        "import",
        "aws",
        "--endpoint",
        &moto.url,
        "--follow",
        "--lab",
        &lab,
    ];
    import(&args, &file);
    (lab, file, moto)
}

#[test]
#[ignore = "needs root"]
fn a_gateway_network_built_in_moto_and_followed_through_aws_runs_nat_and_public_ips() {
    // The network of tests/fixtures/import/moto-5.2.6-gateways, imported
    // from moto with --follow (an [aws] section naming moto, so `run FILE`
    // follows it); the file adds the lab's internet (no AWS call lists it).
    let (lab, file, moto) = followed_gateways("motogw", "motogw.toml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&format!("\n[aws]\nendpoint = \"{}\"\n", moto.url)));
    text.push_str("\n[internet]\nhosts = [{ name = \"example\", ip = \"203.0.113.10\" }]\n");
    std::fs::write(&file, text).unwrap();
    lab_up(&file);
    let plan = dataplane::lab::plan(&dataplane::config::load(&file).unwrap());
    let mut server = http_server(&lab, "example", "203.0.113.10");
    http_listening(&plan, "example", "203.0.113.10");
    let log = tmp("motogw-agent.log");
    let agent = AgentProc::spawn(&file, &log, &format!("127.0.0.1:{}", free_port()), &[]);
    agent.wait_for("running on");
    let seen: Vec<(i32, String)> = ["app", "web"]
        .iter()
        .map(|h| {
            let (code, body) = curl(&lab, h, "http://203.0.113.10:8080/");
            // "server=example peer=IP:PORT": the source the internet saw.
            let peer = body
                .strip_prefix("server=example peer=")
                .and_then(|p| p.split(':').next())
                .unwrap_or(&body)
                .trim()
                .to_string();
            (code, peer)
        })
        .collect();
    let output = agent.output();
    let url = moto.url.clone();
    let _ = server.kill();
    let _ = server.wait();
    drop(agent);
    drop(moto);
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&file);
    // The private instance goes out through the NAT gateway (its Elastic
    // IP, re-addressed by import), the public one with its own public IP.
    assert_eq!(
        seen,
        [
            (0, "198.51.100.3".to_string()),
            (0, "198.51.100.2".to_string())
        ],
        "{output}"
    );
    assert!(
        output.contains(&format!("{url} ec2 DescribeNatGateways")),
        "the agent followed moto: {output}"
    );
}

/// Launches instance `worker` (10.0.2.40, group `app`) in the gateway
/// network's private subnet, as a user's `aws ec2 run-instances` would.
const LAUNCH_WORKER: &str = r#"
import sys, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ec2 = boto3.client("ec2", **kw)
subnet = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": ["private"]}])["Subnets"][0]["SubnetId"]
sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["app"]}])["SecurityGroups"][0]["GroupId"]
ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnet,
                  PrivateIpAddress="10.0.2.40", SecurityGroupIds=[sg],
                  TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "worker"}]}])
"#;

#[test]
#[ignore = "needs root"]
fn an_instance_launched_in_a_followed_account_becomes_a_host_that_reaches_a_server() {
    // The gateway network of moto-5.2.6-gateways, imported with --follow
    // and run from the file (its [aws] section: the agent follows moto).
    let (lab, file, moto) = followed_gateways("mhost", "motohost.toml");
    lab_up(&file);
    let log = tmp("motohost-agent.log");
    let _ = std::fs::remove_file(&log);
    let agent = AgentProc::spawn(&file, &log, &format!("127.0.0.1:{}", free_port()), &[]);
    agent.wait_for("running on");
    // app (10.0.2.30) serves; web holds a connection to it.
    let server = echo::InHost::python(&lab, "app", echo::ECHO_SERVER, "10.0.2.30");
    server.wait_lines(1, "echo server");
    let long = echo::InHost::python(&lab, "web", echo::LONG_CLIENT, "10.0.2.30");
    long.wait_lines(5, "the long connection");
    let before = long.lines().len();

    // An instance launched through the API: on the next poll the agent
    // builds its host, and it reaches app.
    let launched = Instant::now();
    let out = Command::new(venv().join("bin/python"))
        .args(["-c", LAUNCH_WORKER, &moto.url])
        .output()
        .unwrap();
    assert!(out.status.success(), "run_instances: {out:?}");
    echo::wait_echoes(&lab, "worker", "10.0.2.30", Duration::from_secs(2));
    eprintln!(
        "worker reached app {:?} after run_instances was called",
        launched.elapsed()
    );
    agent.wait_for(&format!("lab {lab}: host worker added"));
    // The connection from web went on, without an error.
    long.went_on(before, "the long connection after the host was added");
    drop((long, server));

    // `lab down FILE` (the agent's drop) removes every host, the one
    // the file does not list included.
    let output = agent.output();
    drop(agent);
    drop(moto);
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&file);
    for host in ["fabric", "web", "app", "worker"] {
        let ns = format!("{lab}-{host}");
        assert!(
            !dataplane::netns::exists(&ns),
            "{ns} left behind:\n{output}"
        );
    }
}
