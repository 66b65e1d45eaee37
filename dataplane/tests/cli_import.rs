//! `dataplane import`: a config on stdout or in -o FILE that `check`
//! accepts, the report on stderr, and on bad input an error naming the
//! file and JSON path, exit code 1, nothing written. `import aws
//! --endpoint` and the follower against a replay of moto's recorded answers
//! (offline; `cli_import_moto.rs` runs a real moto, as root).

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Output,
};

mod common;
use common::{bin, tmp};

fn example() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/import/privatelink"
    ))
}

/// `tmp(name)` with nothing there yet (a file or directory a failed run
/// left is removed).
fn fresh(name: &str) -> PathBuf {
    let path = tmp(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&path);
    path
}

/// `dataplane ARGS`' output.
fn dataplane(args: &[&dyn AsRef<OsStr>]) -> Output {
    bin().args(args).output().unwrap()
}

/// `run` exited with `code` and wrote exactly `stderr`.
fn assert_exit(run: &Output, code: i32, stderr: &str) {
    assert_eq!(run.status.code(), Some(code), "{run:?}");
    assert_eq!(String::from_utf8_lossy(&run.stderr), stderr);
}

/// `dataplane import aws --endpoint URL ARGS`.
fn import_from(url: &str, args: &[&dyn AsRef<OsStr>]) -> Output {
    let head: [&dyn AsRef<OsStr>; 4] = [&"import", &"aws", &"--endpoint", &url];
    dataplane(&[&head[..], args].concat())
}

/// `dataplane import KIND SRC --lab plink -o OUT`.
fn import_plink(kind: &str, src: &Path, out: &Path) -> Output {
    dataplane(&[&"import", &kind, &src, &"--lab", &"plink", &"-o", &out])
}

/// `dataplane check OUT` accepts the plink lab as the shipped example has it.
fn assert_checks_as_plink(out: &Path) {
    let check = dataplane(&[&"check", &out]);
    assert_eq!(check.status.code(), Some(0), "{check:?}");
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        format!(
            "{}: ok (lab plink, 2 VPCs, 4 subnets, 4 security groups, 3 ENIs on 3 hosts)\n",
            out.display()
        )
    );
}

#[test]
fn import_aws_writes_a_config_that_check_accepts() {
    let out = fresh("import-plink.toml");
    let run = import_plink("aws", &example().join("aws"), &out);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "");
    let err = String::from_utf8_lossy(&run.stderr);
    let lines: Vec<&str> = err.lines().collect();
    // Five resources not imported (default VPC, subnet and groups; the
    // default ACLs and main route tables are AWS's, hyperlab's implied
    // ones), then the summary.
    assert_eq!(lines.len(), 6, "{err}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(": not imported: "))
            .count(),
        5,
        "{err}"
    );
    assert_eq!(
        lines[5],
        format!(
            "imported lab plink: 2 VPCs, 4 subnets, 4 security groups, 3 ENIs on 3 hosts, 1 NLBs, \
             1 endpoint services, 2 endpoints -> {}",
            out.display()
        )
    );
    assert_checks_as_plink(&out);
    let _ = std::fs::remove_file(&out);
}

#[test]
fn import_aws_prints_the_config_without_o() {
    let run = dataplane(&[&"import", &"aws", &example().join("aws")]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let toml = String::from_utf8_lossy(&run.stdout);
    assert!(toml.contains("\n[lab]\nname = \"imported\"\n"), "{toml}");
    assert!(
        toml.contains("\nid = \"eni-web1\"   # instance i-0web100000000001 (Name: web1)\n"),
        "{toml}"
    );
}

/// A dump of one bad file (`sgs` names an unknown group), in a temp dir.
fn bad_dump(name: &str) -> PathBuf {
    let dir = fresh(name);
    std::fs::create_dir_all(dir.join("ec2")).unwrap();
    std::fs::write(
        dir.join("ec2/describe-vpcs.json"),
        r#"{"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("ec2/describe-security-groups.json"),
        r#"{"SecurityGroups": [{"GroupId": "sg-1", "VpcId": "vpc-1", "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
             "UserIdGroupPairs": [{"GroupId": "sg-123"}]}]}]}"#,
    )
    .unwrap();
    dir
}

#[test]
fn import_errors_exit_1_name_file_and_path_and_write_nothing() {
    let dir = bad_dump("import-bad");
    let want = format!(
        "{}: SecurityGroups[0].IpPermissions[0].UserIdGroupPairs[0].GroupId: unknown group sg-123\n",
        dir.join("ec2/describe-security-groups.json").display()
    );
    // -o FILE that does not exist: not created.
    let out = fresh("import-bad-new.toml");
    let run = dataplane(&[&"import", &"aws", &dir, &"-o", &out]);
    assert_exit(&run, 1, &want);
    assert_eq!(String::from_utf8_lossy(&run.stdout), "");
    assert!(!out.exists());
    // -o FILE that exists: left as it was.
    std::fs::write(&out, "# my config\n").unwrap();
    let run = dataplane(&[&"import", &"aws", &dir, &"-o", &out]);
    assert_exit(&run, 1, &want);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "# my config\n");
    // stdout: nothing printed.
    let run = dataplane(&[&"import", &"aws", &dir]);
    assert_exit(&run, 1, &want);
    assert_eq!(String::from_utf8_lossy(&run.stdout), "");
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn import_refuses_a_missing_directory_and_a_bad_lab_name() {
    assert_exit(
        &dataplane(&[&"import", &"aws", &"/nonexistent/dump"]),
        1,
        "/nonexistent/dump: cannot read the directory: No such file or directory (os error 2)\n",
    );
    assert_exit(
        &dataplane(&[
            &"import",
            &"aws",
            &example().join("aws"),
            &"--lab",
            &"My Lab",
        ]),
        1,
        "--lab: invalid lab name \"My Lab\" (expected 1 to 12 characters from a-z, 0-9 and '-', \
         starting with a letter or digit)\n",
    );
}

#[test]
fn import_terraform_writes_the_same_config_check_accepts() {
    let out = fresh("import-tf.toml");
    let run = import_plink("terraform", &example().join("terraform.json"), &out);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains(": not imported: "))
            .count(),
        1,
        "{err}"
    );
    assert_checks_as_plink(&out);
    let _ = std::fs::remove_file(&out);
    let bad = tmp("import-tf-bad.json");
    std::fs::write(
        &bad,
        "{\"values\": {\"root_module\": {\"resources\": [{\"type\": \"aws_vpc\"}]}}}",
    )
    .unwrap();
    let run = dataplane(&[&"import", &"terraform", &bad]);
    let _ = std::fs::remove_file(&bad);
    assert_exit(
        &run,
        1,
        &format!(
            "{}: values.root_module.resources[0].values: missing (expected the resource's attributes)\n",
            bad.display()
        ),
    );
}

#[test]
fn export_and_import_carry_internet_and_nat_gateways_and_public_ips() {
    let dir = fresh("export-natgw");
    let config = example().join("../../nat-gateway.toml");
    assert_exit(
        &dataplane(&[&"export", &"aws", &config, &"-o", &dir]),
        0,
        &format!(
            "not exported: [lab] (but nacl_entries_max), [conntrack] and [flow_logs]: lab settings, not AWS state\n\
             exported lab natgw: 19 files -> {}\n",
            dir.display()
        ),
    );
    let out = tmp("export-natgw.toml");
    assert_exit(
        &dataplane(&[&"import", &"aws", &dir, &"--lab", &"natgw", &"-o", &out]),
        0,
        &format!(
            "imported lab natgw: 1 VPCs, 2 subnets, 2 security groups, 2 ENIs on 2 hosts, 0 NLBs, \
             0 endpoint services, 0 endpoints, 1 internet gateways, 1 NAT gateways, 1 public IPs -> {}\n",
            out.display()
        ),
    );
    let text = std::fs::read_to_string(&out).unwrap();
    for want in [
        "[internet]\nhosts = [\n  { name = \"example\", ip = \"203.0.113.10\" },\n]\n",
        "[[internet_gateway]]\nid = \"igw-a\"\nvpc = \"vpc-a\"\n",
        "[[nat_gateway]]\nid = \"nat-a\"\nsubnet = \"subnet-public\"\nprivate_ip = \"10.0.1.100\"\nelastic_ip = \"203.0.113.50\"\n",
        "routes = [{ destination = \"0.0.0.0/0\", target = \"nat-a\" }]",
        "ip = \"10.0.1.20\"\npublic_ip = \"203.0.113.20\"\n",
    ] {
        assert!(text.contains(want), "{want}\nnot in\n{text}");
    }
    let mut got = dataplane::config::load(&out).unwrap();
    let want = dataplane::config::load(&config).unwrap();
    got.lab = want.lab.clone();
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&out);
}

#[test]
fn export_aws_writes_what_import_aws_reads_back_and_refuses_a_full_directory() {
    let dir = fresh("export-plink");
    let config = example().join("../../privatelink.toml");
    let export = || dataplane(&[&"export", &"aws", &config, &"-o", &dir]);
    assert_exit(
        &export(),
        0,
        &format!(
            "not exported: [lab] (but nacl_entries_max), [conntrack] and [flow_logs]: lab settings, not AWS state\n\
             exported lab plink: 25 files -> {}\n",
            dir.display()
        ),
    );
    let out = tmp("export-plink.toml");
    let run = import_plink("aws", &dir, &out);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_checks_as_plink(&out);
    // A second export into the same directory is refused.
    assert_exit(
        &export(),
        1,
        &format!(
            "error: {} is not empty: export writes a directory of its own (stale files would be \
             imported with the new ones)\n",
            dir.display()
        ),
    );
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stand-in for moto on 127.0.0.1: it answers each Query-protocol call
/// with moto's recorded answer (tests/fixtures/import/moto-5.2.6-privatelink/
/// xml/SERVICE/CALL[-KEY].xml; ELBv2 chunked, EC2 with a length) and a call
/// it has no answer for with moto's HTTP 500 page. Returns its URL.
fn replay_moto() -> String {
    replay_moto_switchable().0
}

/// [`replay_moto`], and a switch: set, the answers recorded after the web
/// group's tcp 8080 rule was revoked (`xml-revoked/`, over `xml/`).
fn replay_moto_switchable() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let fixture = example().join("../../../tests/fixtures/import/moto-5.2.6-privatelink");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let revoked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let switch = revoked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            // API Gateway: REST-JSON GETs, answered from rest/SERVICE/PATH.json.
            if let Some(path) = request_line.strip_prefix("GET ") {
                let path = path
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .split('?')
                    .next()
                    .unwrap();
                let (service, rest) = match path.strip_prefix("/v2/") {
                    Some(r) => ("apigatewayv2", r),
                    None => ("apigateway", path.trim_start_matches('/')),
                };
                let file = fixture
                    .join("rest")
                    .join(service)
                    .join(format!("{}.json", rest.replace('/', "-")));
                let answer = match std::fs::read_to_string(&file) {
                    Ok(text) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
                        text.len()
                    ),
                    Err(_) => "HTTP/1.1 404 NOT FOUND\r\nContent-Length: 0\r\n\r\n".to_string(),
                };
                stream.write_all(answer.as_bytes()).unwrap();
                continue;
            }
            let form: Vec<(String, String)> = String::from_utf8(body)
                .unwrap()
                .split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    let mut out = Vec::new();
                    let b = v.as_bytes();
                    let mut i = 0;
                    while i < b.len() {
                        if b[i] == b'%' {
                            out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                            i += 3;
                        } else {
                            out.push(b[i]);
                            i += 1;
                        }
                    }
                    (k.to_string(), String::from_utf8(out).unwrap())
                })
                .collect();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let action = get("Action").unwrap();
            let mut call = String::new();
            for c in action.chars() {
                if c.is_ascii_uppercase() {
                    if !call.is_empty() {
                        call.push('-');
                    }
                    call.push(c.to_ascii_lowercase());
                } else {
                    call.push(c);
                }
            }
            let service = if get("Version").as_deref() == Some("2016-11-15") {
                "ec2"
            } else {
                "elbv2"
            };
            let key = get("TargetGroupArn")
                .map(|a| a.split('/').nth(1).unwrap().to_string())
                .or_else(|| {
                    get("LoadBalancerArn").map(|a| a.split('/').nth(2).unwrap().to_string())
                })
                .or_else(|| get("ServiceId"));
            let name = match key {
                Some(k) => format!("{service}/{call}-{k}.xml"),
                None => format!("{service}/{call}.xml"),
            };
            let over = fixture.join("xml-revoked").join(&name);
            let file = if switch.load(std::sync::atomic::Ordering::SeqCst) && over.exists() {
                over
            } else {
                fixture.join("xml").join(&name)
            };
            let answer = match std::fs::read_to_string(&file) {
                Ok(text) if service == "elbv2" => format!(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{text}\r\n0\r\n\r\n",
                    text.len()
                ),
                Ok(text) => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}", text.len()),
                Err(_) => {
                    let page = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n";
                    format!("HTTP/1.1 500 INTERNAL SERVER ERROR\r\nContent-Length: {}\r\n\r\n{page}", page.len())
                }
            };
            stream.write_all(answer.as_bytes()).unwrap();
        }
    });
    (url, revoked)
}

#[test]
fn following_an_endpoint_gives_a_new_config_when_its_state_changes() {
    use dataplane::aws_endpoint::{Endpoint, Follow};
    let (url, revoked) = replay_moto_switchable();
    let mut f = Follow::new(Endpoint::new(&url, "us-east-1").unwrap(), "moto");
    let first = f
        .poll()
        .unwrap()
        .changed
        .expect("the first poll is a change");
    assert_eq!(f.poll().unwrap().changed, None, "nothing changed");
    revoked.store(true, std::sync::atomic::Ordering::SeqCst);
    let after = f
        .poll()
        .unwrap()
        .changed
        .expect("the revoked rule is a change");
    assert_eq!(f.poll().unwrap().changed, None);
    let web = |text: &str| {
        let t = dataplane::config::parse_str(text, "x.toml").unwrap();
        let g = t
            .security_groups
            .iter()
            .find(|g| g.id == "sg-8b321c0bef5e2aa57")
            .unwrap()
            .clone();
        (t.security_groups.clone(), g)
    };
    let (groups, before) = web(&first);
    let (_, now) = web(&after);
    let nlb = groups
        .iter()
        .position(|g| g.id == "sg-e49fce01c5dbca17d")
        .unwrap();
    use dataplane::model::{Peer, Protocol, Rule};
    let http = Rule {
        protocol: Protocol::Tcp,
        ports: (8080, 8080),
        peer: Peer::SecurityGroup(nlb),
    };
    assert!(before.ingress.contains(&http), "{before:?}");
    let mut want = before.ingress.clone();
    want.retain(|r| *r != http);
    assert_eq!(now.ingress, want);
}

#[test]
fn import_aws_endpoint_asks_an_emulator_what_the_cli_would_dump() {
    let url = replay_moto();
    let files = example().join("../../../tests/fixtures/import/moto-5.2.6-privatelink/cli");
    let by_files = dataplane(&[&"import", &"aws", &files, &"--lab", &"moto"]);
    assert_eq!(by_files.status.code(), Some(0), "{by_files:?}");
    let saved = fresh("import-endpoint-saved");
    let live = import_from(&url, &[&"--lab", &"moto", &"--save", &saved]);
    assert_eq!(live.status.code(), Some(0), "{live:?}");
    // The same config (but for the header naming its source).
    let body = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with("# Imported from "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&live), body(&by_files));
    let err = String::from_utf8_lossy(&live.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        format!("{url} ec2 DescribeVpcEndpointConnections: not read: HTTP 500")
    );
    assert!(
        lines[1].starts_with(&format!(
            "{url} ec2 DescribeVpcs: Vpcs[0]: not imported: VPC "
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{url} apigatewayv2 GET /v2/vpclinks: Items[0]: note: API Gateway's own VPC is in no dump"
        )),
        "{err}"
    );
    // What --save wrote imports to the same config again.
    let again = dataplane(&[&"import", &"aws", &saved, &"--lab", &"moto"]);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert_eq!(body(&again), body(&by_files));
    let _ = std::fs::remove_dir_all(&saved);
    // Nobody there: an error, exit 1.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let refused = dataplane(&[&"import", &"aws", &"--endpoint", &dead]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .starts_with(&format!("error: cannot reach {dead}: Connection refused")),
        "{refused:?}"
    );
}

/// `dataplane run ARGS` with `env`, which must fail (no lab is up): its
/// exit code and stderr.
fn run_without_a_lab(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = bin();
    cmd.arg("run").args(args).args(["--metrics", "127.0.0.1:0"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_follows_the_endpoint_an_aws_section_names_and_the_command_line_overrides_it() {
    let url = replay_moto();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let file = tmp("aws-section.toml");
    let write = |aws: &str| {
        std::fs::write(&file, format!("[lab]\nname = \"awsfollow\"\n\n{aws}")).unwrap();
    };
    let f = file.to_str().unwrap();
    // The file's [aws] endpoint is asked (moto's HTTP 500 for a call it
    // lacks is the sign), before the agent finds no lab.
    write(&format!(
        "[aws]\nendpoint = \"{url}\"\nregion = \"us-east-1\"\n"
    ));
    let (code, err) = run_without_a_lab(&[f], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{url} ec2 DescribeVpcEndpointConnections: not read: HTTP 500"
        )),
        "{err}"
    );
    // --aws-endpoint overrides it (the file's is dead).
    write(&format!("[aws]\nendpoint = \"{dead}\"\n"));
    let (code, err) = run_without_a_lab(&[f, "--aws-endpoint", &url], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{url} ec2 DescribeVpcEndpointConnections: not read"
        )),
        "{err}"
    );
    assert!(!err.contains(&dead), "{err}");
    // A profile of the AWS CLI's config file gives the endpoint.
    let config = tmp("aws-config");
    std::fs::write(
        &config,
        format!("[profile moto]\nendpoint_url = {url}\nregion = us-east-1\n"),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    write("[aws]\nprofile = \"moto\"\n");
    let (code, err) = run_without_a_lab(&[f], &[("AWS_CONFIG_FILE", c)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{url} ec2 DescribeVpcEndpointConnections: not read"
        )),
        "{err}"
    );
    // A profile the file does not have, --region without an endpoint.
    write("[aws]\nprofile = \"nope\"\n");
    let (code, err) = run_without_a_lab(&[f], &[("AWS_CONFIG_FILE", c)]);
    assert_eq!(
        (code, err),
        (
            Some(1),
            format!("error: [aws] profile \"nope\": no such profile in {c}\n")
        )
    );
    write("");
    let (code, err) = run_without_a_lab(&[f, "--region", "eu-west-1"], &[]);
    assert_eq!(
        (code, err),
        (
            Some(1),
            "error: --region needs an endpoint to ask: --aws-endpoint URL, or an [aws] section in FILE\n"
                .to_string()
        )
    );
    // `check` names file, line and field.
    write("[aws]\nendpoint = \"https://127.0.0.1:5000\"\n");
    assert_exit(
        &dataplane(&[&"check", &file]),
        1,
        &format!(
            "{f}:5:12: aws.endpoint: https://127.0.0.1:5000: https is not supported (an emulator on this machine speaks http)\n"
        ),
    );
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&config);
}

#[test]
fn following_from_a_file_keeps_its_internet_hosts_in_every_config() {
    use dataplane::aws_endpoint::{Endpoint, Follow};
    let url = replay_moto();
    let hosts = dataplane::config::parse_str(
        "[internet]\nhosts = [{ name = \"example\", ip = \"203.0.113.10\" }]\n",
        "f.toml",
    )
    .unwrap()
    .internet
    .hosts;
    let mut f =
        Follow::new(Endpoint::new(&url, "us-east-1").unwrap(), "moto").keep_internet_hosts(&hosts);
    let polled = f.poll().unwrap();
    let text = polled.changed.expect("the first poll is a change");
    assert!(
        text.ends_with(
            "\n[internet]\nhosts = [\n  { name = \"example\", ip = \"203.0.113.10\" },\n]\n"
        ),
        "{text}"
    );
    let t = dataplane::config::parse_str(&text, "x.toml").unwrap();
    assert_eq!(t.internet.hosts, hosts);
    assert_eq!(t.lab.name, "moto");
    assert!(!polled
        .report
        .iter()
        .any(|l| l.contains("the lab's internet has no hosts")));
    assert_eq!(f.poll().unwrap().changed, None, "nothing changed");
}

#[test]
fn import_aws_endpoint_follow_writes_the_aws_section_run_follows() {
    let url = replay_moto();
    let out = tmp("follow.toml");
    let run = import_from(&url, &[&"--follow", &"--lab", &"moto", &"-o", &out]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.ends_with(&format!(
            "\n[aws]\nendpoint = \"{url}\"\nregion = \"us-east-1\"\n"
        )),
        "{text}"
    );
    let t = dataplane::config::load(&out).unwrap();
    let aws = t.lab.aws.unwrap();
    assert_eq!(
        (aws.endpoint.as_deref(), aws.region.as_deref(), aws.profile),
        (Some(url.as_str()), Some("us-east-1"), None)
    );
    // Without --endpoint there is nothing to follow.
    assert_exit(
        &dataplane(&[&"import", &"aws", &"--follow", &"somewhere"]),
        1,
        "error: --follow needs --endpoint URL: a directory of files is nothing to follow\n",
    );
    let _ = std::fs::remove_file(&out);
}
