//! `dataplane explain` as a user meets it: a lab, a running agent
//! (`dataplane run`), real servers, then `explain` for a denied port and a
//! PrivateLink connection, and real clients (curl) to check that the data
//! path does what the explanation said, NAT port included.
//!
//! Needs root: run with `cargo xtask test`.

use std::{
    net::Ipv4Addr,
    path::PathBuf,
    process::{Child, Output, Stdio},
    time::Duration,
};

use dataplane::{lab, netns};

mod common;
use common::{bin, lab_up, root_lab, tmp, AgentProc};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Processes this test started (agent, servers), stopped by PID on drop,
/// then the lab and the files are removed.
struct Session {
    lab_file: PathBuf,
    log: PathBuf,
    agent: Option<AgentProc>,
    servers: Vec<Child>,
}

impl Session {
    fn explain(&self, args: &[&str]) -> Output {
        bin()
            .arg("explain")
            .arg(&self.lab_file)
            .args(args)
            .output()
            .unwrap()
    }

    /// SIGTERM, and wait for it (the session takes the lab down).
    fn stop_agent(&mut self) {
        drop(self.agent.take());
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop_agent();
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = bin().args(["lab", "down"]).arg(&self.lab_file).output();
        let _ = std::fs::remove_file(&self.lab_file);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `argv` as a command inside lab host `host` (its namespace `LAB-HOST`),
/// with the namespace's file, which must stay open until the command starts.
fn in_host(lab: &str, host: &str, argv: &[&str]) -> (std::process::Command, std::fs::File) {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    netns::command(&format!("{lab}-{host}"), &argv).unwrap()
}

/// `curl` inside a lab host: (exit code, body).
fn curl(lab: &str, host: &str, url: &str, local_port: u16) -> (i32, String) {
    let port = local_port.to_string();
    let argv = ["curl", "-sS", "--max-time", "2", "--local-port", &port, url];
    let (mut cmd, _ns) = in_host(lab, host, &argv);
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), text(&out.stdout))
}

#[test]
#[ignore = "needs root"]
fn explain_names_the_rule_of_a_denied_port_and_the_nat_of_a_privatelink_connection_and_traffic_agrees(
) {
    let (lab, file) = root_lab("xe", "default.toml");
    let cfg = dataplane::config::DEFAULT_CONFIG.replacen(
        "name = \"demo\"",
        &format!("name = \"{lab}\""),
        1,
    );
    assert_ne!(
        cfg,
        dataplane::config::DEFAULT_CONFIG,
        "the default config names its lab \"demo\""
    );
    std::fs::write(&file, &cfg).unwrap();
    let mut s = Session {
        lab_file: file.clone(),
        log: tmp("agent.log"),
        agent: None,
        servers: Vec::new(),
    };
    lab_up(&file);

    // No agent yet: explain says how to start one, exit 2.
    let none = s.explain(&["--from", "client", "--to", "db", "--port", "5432"]);
    assert_eq!(none.status.code(), Some(2));
    let err = text(&none.stderr);
    assert!(
        err.contains(&format!("no agent runs lab {lab}")) && err.contains("dataplane run"),
        "{err}"
    );

    // Servers first, so the health checks pass from the start.
    let topo = dataplane::config::parse_str(&cfg, "default.toml").unwrap();
    let plan = lab::plan(&topo);
    for (host, ip, port) in [
        ("web", "10.0.2.20", 80),
        ("db", "10.0.2.30", 5432),
        ("apigw", "10.0.1.20", 80),
    ] {
        let port_s = port.to_string();
        let argv = ["python3", "-c", lab::PEER_HTTP_SERVER, ip, &port_s, host];
        let (mut cmd, _ns) = in_host(&lab, host, &argv);
        s.servers.push(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let addr = (ip.parse::<Ipv4Addr>().unwrap(), port).into();
        lab::wait_listening(&plan, host, addr, Duration::from_secs(10)).unwrap();
    }
    let metrics = format!("127.0.0.1:{}", 30000 + std::process::id() % 20000);
    let _ = std::fs::remove_file(&s.log);
    let mut agent = AgentProc::spawn(&file, &s.log, &metrics, &[]);
    agent.owns_lab = false;
    agent.wait_for("metrics on http://");
    s.agent = Some(agent);

    // A denied port: the security group and the rule, with its line.
    let denied = s.explain(&["--from", "client", "--to", "db", "--port", "5432"]);
    let out = text(&denied.stdout);
    assert_eq!(
        denied.status.code(),
        Some(1),
        "{out}{}",
        text(&denied.stderr)
    );
    let rule_line = cfg
        .lines()
        .position(|l| l.contains("protocol = \"tcp\", ports = \"5432\", peer = \"sg-web\""))
        .unwrap()
        + 1;
    for want in [
        "verdict   DROP (ingress_sg_deny)".to_string(),
        "decided   at stage ingress_sg".to_string(),
        "ingress   eni-db [sg-db]: DENY tcp from 10.0.1.10 port 5432".to_string(),
        format!(
            "sg-db ingress[0] ({}:{rule_line}): tcp 5432 from sg-web (10.0.2.20)",
            file.display()
        ),
        "source 10.0.1.10 is not a member of sg-web".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }
    // ...and the data path drops it.
    let (code, body) = curl(&lab, "client", "http://10.0.2.30:5432/", 41001);
    assert_ne!(code, 0, "client reached db: {body}");

    // The same port from web is allowed, by that rule.
    let allowed = s.explain(&[
        "--from", "web", "--to", "db", "--port", "5432", "--sport", "41002",
    ]);
    let out = text(&allowed.stdout);
    assert_eq!(allowed.status.code(), Some(0), "{out}");
    assert!(
        out.contains("verdict   FORWARD to eni-db (host db)")
            && out.contains("allowed by sg-db ingress[0]"),
        "{out}"
    );
    let (code, body) = curl(&lab, "web", "http://10.0.2.30:5432/", 41002);
    assert_eq!((code, body.trim()), (0, "server=db peer=10.0.2.20:41002"));

    // PrivateLink: explain names the NAT; the API host then sees exactly that source.
    let pl_args = [
        "--from",
        "other",
        "--to",
        "vpce-execute-api",
        "--port",
        "80",
        "--sport",
        "41003",
    ];
    let pl = s.explain(&[&pl_args[..], &["--json"]].concat());
    assert_eq!(pl.status.code(), Some(0), "{}", text(&pl.stderr));
    let j: serde_json::Value = serde_json::from_slice(&pl.stdout).unwrap();
    assert_eq!(j["verdict"], "forward", "{j}");
    assert_eq!(j["nat"]["kind"], "privatelink");
    assert_eq!(j["nat"]["nlb"], "nlb-api");
    assert_eq!(j["nat"]["source"], "10.0.1.50");
    let nat_port = j["nat"]["source_port"].as_u64().unwrap();
    assert_eq!(
        j["leaves_as"],
        format!("tcp 10.0.1.50:{nat_port} -> 10.0.1.20:80 in vpc-api"),
        "{j}"
    );
    let text_pl = text(&s.explain(&pl_args).stdout);
    assert!(
        text_pl.contains("nat       privatelink vpce-execute-api (nlb-api)")
            && text_pl.contains(&format!("source NAT to 10.0.1.50:{nat_port}"))
            && text_pl.contains("target eni-apigw 10.0.1.20:80"),
        "{text_pl}"
    );
    let (code, body) = curl(&lab, "other", "http://10.0.1.100/", 41003);
    assert_eq!(
        (code, body.trim().to_string()),
        (0, format!("server=apigw peer=10.0.1.50:{nat_port}"))
    );

    // An unknown name is an error that lists the choices, exit 2.
    let bad = s.explain(&["--from", "nobody", "--to", "db"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("neither a host nor an ENI")
            && text(&bad.stderr).contains("client")
    );
    s.stop_agent();
}
