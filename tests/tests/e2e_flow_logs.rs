//! VPC Flow Logs end to end: a lab, the agent with `[flow_logs]` on a 1 s
//! interval, a real UDP echo server and client, a probe web's inbound rules
//! reject and one client's outbound rules reject; the records in the log
//! file must match the traffic exactly, at every ENI AWS writes them at.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use hyperlab_tests::flow_log_file::{every_second, logged_lab, LogFile};
use hyperlab_tests::{fixtures, run_in_host, Fixture, HostProcess};

/// web admits UDP 5000 from client's group and nothing else; client may
/// send UDP 5000-5001 and nothing else.
fn topo() -> String {
    let client_group = "id = \"sg-client\"\nvpc = \"vpc-a\"\ningress = []\n";
    let t = fixtures::client_web(r#"{ protocol = "udp", ports = 5000, peer = "sg-client" }"#);
    assert!(t.contains(client_group), "the fixture's sg-client changed");
    t.replace(
        client_group,
        &format!(
            "{client_group}egress = [{{ protocol = \"udp\", ports = \"5000-5001\", peer = \"10.0.0.0/16\" }}]\n"
        ),
    ) + &logs()
}

/// Short UDP timeouts (see the test) and a flow log every second.
fn logs() -> String {
    every_second(&["udp_timeout", "udp_stream_timeout"], &[])
}

/// Echoes every datagram on IP:PORT back to its sender.
const ECHO: &str = "import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print('READY', flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(d, a)
";

/// From SPORT, sends COUNT datagrams of SIZE bytes to DST:PORT; with
/// `echo`, waits for each one's echo. Prints how many echoes came back.
const SEND: &str = "import socket, sys
src, sport, dst, port, count, size, echo = sys.argv[1:8]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, int(sport)))
s.settimeout(2)
got = 0
for _ in range(int(count)):
    s.sendto(b'x' * int(size), (dst, int(port)))
    if echo == 'echo':
        s.recv(65535)
        got += 1
print(got)
";

/// AWS's flow log fields with the version that introduced each (VPC user
/// guide, "Flow log records", "Available fields"), written out here
/// independently of the agent's table.
const AWS_FIELDS: &[(&str, u8)] = &[
    ("version", 2),
    ("account-id", 2),
    ("interface-id", 2),
    ("srcaddr", 2),
    ("dstaddr", 2),
    ("srcport", 2),
    ("dstport", 2),
    ("protocol", 2),
    ("packets", 2),
    ("bytes", 2),
    ("start", 2),
    ("end", 2),
    ("action", 2),
    ("log-status", 2),
    ("vpc-id", 3),
    ("subnet-id", 3),
    ("instance-id", 3),
    ("tcp-flags", 3),
    ("type", 3),
    ("pkt-srcaddr", 3),
    ("pkt-dstaddr", 3),
    ("region", 4),
    ("az-id", 4),
    ("sublocation-type", 4),
    ("sublocation-id", 4),
    ("pkt-src-aws-service", 5),
    ("pkt-dst-aws-service", 5),
    ("flow-direction", 5),
    ("traffic-path", 5),
    ("reject-reason", 8),
];

/// Reads a flow log file by AWS's documented rules: a header of field
/// names, then one record a line, values separated by single spaces, one
/// per field, `-` where a field does not apply; `version` is 2 for the
/// default format, else the highest version among the fields; each value
/// of the kind its field documents. Returns each record as name -> value.
fn parse_log(log: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = log.lines();
    let names: Vec<&str> = lines.next().expect("a header line").split(' ').collect();
    let version = names
        .iter()
        .map(|n| match AWS_FIELDS.iter().find(|(f, _)| f == n) {
            Some((_, v)) => *v,
            None => panic!("{n:?} is not an AWS flow log field:\n{log}"),
        })
        .max()
        .unwrap();
    let ip = |v: &str| v.parse::<std::net::Ipv4Addr>().is_ok();
    let num = |v: &str| v.parse::<u64>().is_ok();
    lines
        .map(|l| {
            let values: Vec<&str> = l.split(' ').collect();
            assert_eq!(values.len(), names.len(), "one value a field: {l}");
            let mut r = BTreeMap::new();
            for (n, v) in names.iter().zip(&values) {
                let ok = match *n {
                    "version" => *v == version.to_string(),
                    "account-id" => {
                        *v == "unknown" || (v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()))
                    }
                    "interface-id" => v.starts_with("eni-"),
                    "srcaddr" | "dstaddr" | "pkt-srcaddr" | "pkt-dstaddr" => ip(v),
                    "srcport" | "dstport" | "protocol" | "packets" | "bytes" | "start" | "end" => {
                        num(v)
                    }
                    "action" => ["ACCEPT", "REJECT"].contains(v),
                    "log-status" => ["OK", "NODATA", "SKIPDATA"].contains(v),
                    "vpc-id" => v.starts_with("vpc-"),
                    "subnet-id" => v.starts_with("subnet-"),
                    "instance-id" => *v == "-" || v.starts_with("i-"),
                    "type" => ["IPv4", "IPv6", "EFA"].contains(v),
                    "flow-direction" => ["ingress", "egress"].contains(v),
                    "traffic-path" => *v == "-" || ("1".."9").contains(v),
                    _ => !v.is_empty(),
                };
                assert!(ok, "{n} = {v:?} is not a valid value: {l}");
                r.insert(n.to_string(), v.to_string());
            }
            if let (Some(s), Some(e)) = (r.get("start"), r.get("end")) {
                let (s, e): (u64, u64) = (s.parse().unwrap(), e.parse().unwrap());
                assert!(e >= s && e - s <= 1, "a 1 s interval: {l}");
            }
            r
        })
        .collect()
}

/// Records summed over intervals: the values of the `key` fields, joined
/// by spaces -> (packets, bytes).
fn sum_by(log: &str, key: &[&str]) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    for r in parse_log(log) {
        let k = key
            .iter()
            .map(|f| r[*f].as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let t = out.entry(k).or_insert((0, 0));
        t.0 += r["packets"].parse::<u64>().unwrap();
        t.1 += r["bytes"].parse::<u64>().unwrap();
    }
    out
}

/// Records of the default format summed over intervals: (account,
/// interface, src, dst, sport, dport, proto, action) -> (packets, bytes);
/// the account is the lab's, or `unknown` for the interfaces a service
/// created (their ids start `eni-0`).
fn totals(log: &str) -> BTreeMap<String, (u64, u64)> {
    assert_eq!(
        log.lines().next(),
        Some(dataplane::flowlog::HEADER),
        "the default header first:\n{log}"
    );
    for r in parse_log(log) {
        let managed = r["interface-id"].starts_with("eni-0");
        let account = if managed { "unknown" } else { "123456789012" };
        assert_eq!(
            (r["account-id"].as_str(), r["log-status"].as_str()),
            (account, "OK")
        );
    }
    sum_by(
        log,
        &[
            "account-id",
            "interface-id",
            "srcaddr",
            "dstaddr",
            "srcport",
            "dstport",
            "protocol",
            "action",
        ],
    )
}

#[test]
#[ignore = "needs root"]
fn flow_log_records_match_the_udp_traffic_sent_and_the_denied_probe() {
    // Short UDP timeouts: the flow is swept before the agent stops, so its
    // final counts reach the log through the sweeper's hand-over.
    let (fx, log_file) = logged_lab(&topo(), "efl");
    let path = log_file.0.clone();
    let plan = &fx.agent.plan;
    let echo = echo_servers(&fx, &[("web", "10.0.1.20")], "5000");
    let unix = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let sending = unix();

    // SEND from client 10.0.1.10:SPORT to web 10.0.1.20:DPORT.
    let send = |sport: &str, dport: &str, count: &str, size: &str, mode: &str| {
        let argv = [
            "python3",
            "-c",
            SEND,
            "10.0.1.10",
            sport,
            "10.0.1.20",
            dport,
            count,
            size,
            mode,
        ];
        run_in_host(plan, "client", &argv)
    };
    // 10 datagrams of 100 bytes, each echoed: 128 IPv4 bytes apiece.
    let (code, out) = send("40000", "5000", "10", "100", "echo");
    assert_eq!((code, out.trim()), (0, "10"), "all 10 echoes came back");
    // 3 datagrams of 50 bytes to a port sg-web does not admit.
    let (code, _) = send("40001", "5001", "3", "50", "none");
    assert_eq!(code, 0);
    // 2 datagrams of 20 bytes to a port sg-client may not send to.
    let (code, _) = send("40002", "5002", "2", "20", "none");
    assert_eq!(code, 0);

    let sent = unix();
    // Records arrive while the agent runs, interval by interval.
    let accept = "eni-client 10.0.1.10 10.0.1.20 40000 5000 17 ACCEPT";
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if log
            .lines()
            .any(|l| l.contains(" 10.0.1.10 10.0.1.20 40000 5000 17 "))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no record of {accept} yet:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The idle flow is swept (1 s UDP timeout) and the agent stops: the
    // last interval is written.
    let log = final_log(fx, &log_file, echo);
    // start/end are the first and last packet times in the window (AWS),
    // not the window's bounds: all within the seconds the client sent in.
    for r in parse_log(&log) {
        let (start, end): (f64, f64) = (r["start"].parse().unwrap(), r["end"].parse().unwrap());
        assert!(
            start >= sending.floor() && end <= sent.ceil(),
            "{r:?} outside the sending time {sending}-{sent}:\n{log}"
        );
    }
    let got = totals(&log);
    // AWS writes each direction at both ENIs, and a packet the receiver's
    // inbound rules reject as REJECT at the receiver (the sender's outbound
    // rules let it go: ACCEPT there).
    let want: BTreeMap<String, (u64, u64)> = [
        (accept, (10, 10 * 128)),
        (
            "eni-client 10.0.1.20 10.0.1.10 5000 40000 17 ACCEPT",
            (10, 10 * 128),
        ),
        (
            "eni-web 10.0.1.10 10.0.1.20 40000 5000 17 ACCEPT",
            (10, 10 * 128),
        ),
        (
            "eni-web 10.0.1.20 10.0.1.10 5000 40000 17 ACCEPT",
            (10, 10 * 128),
        ),
        (
            "eni-client 10.0.1.10 10.0.1.20 40001 5001 17 ACCEPT",
            (3, 3 * 78),
        ),
        (
            "eni-web 10.0.1.10 10.0.1.20 40001 5001 17 REJECT",
            (3, 3 * 78),
        ),
        (
            "eni-client 10.0.1.10 10.0.1.20 40002 5002 17 REJECT",
            (2, 2 * 48),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (format!("123456789012 {k}"), v))
    .collect();
    assert_eq!(got, want, "the log:\n{log}");
}

/// Waits for the lab's flows to be swept, stops the agent (the last
/// interval is written) and returns the log.
fn final_log(fx: Fixture, log: &LogFile, servers: Vec<HostProcess>) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !fx.flows().is_empty() {
        assert!(Instant::now() < deadline, "the flow was not swept");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(servers);
    drop(fx);
    std::fs::read_to_string(&log.0).expect("the flow log")
}

/// UDP echo servers on (host, address) at `port`, ready.
fn echo_servers(fx: &Fixture, at: &[(&str, &str)], port: &str) -> Vec<HostProcess> {
    at.iter()
        .map(|(h, ip)| {
            let e = HostProcess::spawn(&fx.agent.plan, h, &["python3", "-c", ECHO, ip, port]);
            e.wait_for_output("READY", Duration::from_secs(10));
            e
        })
        .collect()
}

/// From `host` SRC:SPORT, 5 datagrams of 100 bytes (128 IPv4 bytes) to
/// DST:PORT, each echoed.
fn five_echoed(fx: &Fixture, host: &str, src: &str, sport: &str, dst: &str, port: &str) {
    let argv = [
        "python3", "-c", SEND, src, sport, dst, port, "5", "100", "echo",
    ];
    let (code, out) = run_in_host(&fx.agent.plan, host, &argv);
    assert_eq!((code, out.trim()), (0, "5"), "all 5 echoes came back");
}

/// The request and reply records of one tuple at each interface given, by
/// account, each with 5 packets of 128 bytes.
fn both_ways(
    at: &[(&str, &str)],
    src: &str,
    dst: &str,
    sport: &str,
    dport: &str,
) -> Vec<(String, (u64, u64))> {
    at.iter()
        .flat_map(|(account, iface)| {
            [
                format!("{account} {iface} {src} {dst} {sport} {dport} 17 ACCEPT"),
                format!("{account} {iface} {dst} {src} {dport} {sport} 17 ACCEPT"),
            ]
        })
        .map(|k| (k, (5, 5 * 128)))
        .collect()
}

/// The NAT source port a managed interface (`unknown {iface} {addr} ...`)
/// sent from, and the address it sent to.
fn translated(
    got: &BTreeMap<String, (u64, u64)>,
    iface: &str,
    addr: &str,
    log: &str,
) -> (String, String) {
    let k = got
        .keys()
        .find(|k| k.starts_with(&format!("unknown {iface} {addr} ")))
        .unwrap_or_else(|| panic!("no request record at {iface} from {addr}:\n{log}"));
    let f: Vec<&str> = k.split(' ').collect();
    (f[3].to_string(), f[4].to_string())
}

/// The shipped PrivateLink example with flow logs on.
fn privatelink_topo() -> String {
    hyperlab_tests::shipped_config("privatelink.toml", "plink") + &logs()
}

#[test]
#[ignore = "needs root"]
fn a_privatelink_flow_is_logged_at_client_endpoint_eni_nlb_node_and_target() {
    let (fx, log) = logged_lab(&privatelink_topo(), "eflp");
    let servers = echo_servers(&fx, &[("web1", "10.0.1.21"), ("web2", "10.0.2.22")], "5353");
    // consumer 10.0.1.10:41000 -> the endpoint ENI in az1, 10.0.1.100:53;
    // the NLB node in az1 (10.0.1.50) picks a target.
    five_echoed(&fx, "consumer", "10.0.1.10", "41000", "10.0.1.100", "53");
    let log = final_log(fx, &log, servers);
    let got = totals(&log);
    // The target and the node's source port are the NLB's choice: read
    // from the node's request record, then every record is expected.
    let endpoint = dataplane::model::managed_eni_id("vpce-web", "subnet-consumer1");
    let node = dataplane::model::managed_eni_id("nlb-web", "subnet-provider1");
    let (target_ip, nat_port) = translated(&got, &node, "10.0.1.50", &log);
    let target = match target_ip.as_str() {
        "10.0.1.21" => "eni-web1",
        "10.0.2.22" => "eni-web2",
        other => panic!("the node sent to {other}, not a target:\n{log}"),
    };
    let acct = "123456789012";
    let want: BTreeMap<String, (u64, u64)> = both_ways(
        &[(acct, "eni-consumer"), ("unknown", &endpoint)],
        "10.0.1.10",
        "10.0.1.100",
        "41000",
        "53",
    )
    .into_iter()
    .chain(both_ways(
        &[("unknown", &node), (acct, target)],
        "10.0.1.50",
        &target_ip,
        &nat_port,
        "5353",
    ))
    .collect();
    assert_eq!(got, want, "the log:\n{log}");
}

/// A custom version 5 format: the v2 tuple and counts with the interface,
/// direction and path fields.
const V5: &str = "${version} ${account-id} ${interface-id} ${vpc-id} ${subnet-id} \
                  ${instance-id} ${az-id} ${type} ${srcaddr} ${dstaddr} ${srcport} \
                  ${dstport} ${protocol} ${pkt-srcaddr} ${pkt-dstaddr} ${packets} ${bytes} \
                  ${start} ${end} ${action} ${flow-direction} ${traffic-path} \
                  ${pkt-src-aws-service} ${log-status}";

/// The shipped HTTP VPC link example with flow logs on, in the custom v5
/// format, and one more integration: Cloud Map's svc-users over UDP at
/// 10.1.1.205:9000.
fn http_link_topo() -> String {
    http_link_base() + &format!("format = \"{V5}\"\n")
}

/// [`http_link_topo`] in the default format.
fn http_link_base() -> String {
    let t = hyperlab_tests::shipped_config("http-vpc-link.toml", "httplink");
    let users = r#"ingress = [ { protocol = "tcp", ports = "9000", peer = "sg-link" } ]"#;
    let list = "integrations = [\n";
    assert!(t.contains(users) && t.contains(list), "the example changed");
    t.replacen(
        users,
        r#"ingress = [ { protocol = "tcp", ports = "9000", peer = "sg-link" }, { protocol = "udp", ports = "9000", peer = "sg-link" } ]"#,
        1,
    )
    .replacen(
        list,
        &format!(
            "{list}  {{ id = \"int-udp\", cloud_map = \"svc-users\", port = 9000, protocol = \"udp\", address = \"10.1.1.205\" }},\n"
        ),
        1,
    ) + &logs()
}

#[test]
#[ignore = "needs root"]
fn an_http_vpc_link_flow_is_logged_at_api_host_link_eni_and_target_in_a_v5_format() {
    let (fx, log) = logged_lab(&http_link_topo(), "eflh");
    let servers = echo_servers(&fx, &[("users1", "10.0.2.41")], "9000");
    five_echoed(&fx, "apigw", "10.1.1.20", "41000", "10.1.1.205", "9000");
    let log = final_log(fx, &log, servers);
    assert_eq!(
        log.lines().next(),
        Some(V5.replace("${", "").replace('}', "").as_str()),
        "the format's field names first"
    );
    // Every field but the counts and times, as the key.
    let fields: Vec<&str> = V5
        .split(' ')
        .map(|t| t.trim_start_matches("${").trim_end_matches('}'))
        .filter(|f| !["packets", "bytes", "start", "end"].contains(f))
        .collect();
    let got = sum_by(&log, &fields);
    // users1 is in az2: the link ENI there (10.0.2.4) translates. The
    // integration address is API Gateway's side, not an interface.
    let link = dataplane::model::managed_eni_id("vpclink-http", "subnet-cust2");
    let nat_port = got
        .keys()
        .find_map(|k| {
            let f: Vec<&str> = k.split(' ').collect();
            (f[2] == link && f[8] == "10.0.2.4").then(|| f[10].to_string())
        })
        .unwrap_or_else(|| panic!("no request record at the link ENI {link}:\n{log}"));
    let apigw = dataplane::model::instance_id("apigw");
    let users1 = dataplane::model::instance_id("users1");
    let api = format!("123456789012 eni-apigw vpc-api subnet-api1 {apigw} use1-az1 IPv4");
    let at_link = format!("unknown {link} vpc-cust subnet-cust2 - use1-az2 IPv4");
    let at_target = format!("123456789012 eni-users1 vpc-cust subnet-cust2 {users1} use1-az2 IPv4");
    // (interface fields, src, dst, sport, dport, direction, path)
    let rec = |at: &str, src: &str, dst: &str, sp: &str, dp: &str, dir: &str, path: &str| {
        (
            format!("5 {at} {src} {dst} {sp} {dp} 17 {src} {dst} ACCEPT {dir} {path} - OK"),
            (5, 5 * 128),
        )
    };
    let (host, int, lk, tg) = ("10.1.1.20", "10.1.1.205", "10.0.2.4", "10.0.2.41");
    let want: BTreeMap<String, (u64, u64)> = [
        rec(&api, host, int, "41000", "9000", "egress", "1"),
        rec(&api, int, host, "9000", "41000", "ingress", "-"),
        rec(&at_link, lk, tg, &nat_port, "9000", "egress", "1"),
        rec(&at_link, tg, lk, "9000", &nat_port, "ingress", "-"),
        rec(&at_target, lk, tg, &nat_port, "9000", "ingress", "-"),
        rec(&at_target, tg, lk, "9000", &nat_port, "egress", "1"),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "the log:\n{log}");
}

/// An interface as a record names it: account, id, VPC, subnet, AZ,
/// instance (`-` for a managed one).
struct At {
    account: &'static str,
    id: String,
    vpc: &'static str,
    subnet: &'static str,
    az: &'static str,
    instance: String,
}

fn host_eni(id: &str, host: &str, vpc: &'static str, subnet: &'static str, az: &'static str) -> At {
    At {
        account: "123456789012",
        id: id.into(),
        vpc,
        subnet,
        az,
        instance: dataplane::model::instance_id(host),
    }
}

fn managed(owner: &str, vpc: &'static str, subnet: &'static str, az: &'static str) -> At {
    At {
        account: "unknown",
        id: dataplane::model::managed_eni_id(owner, subnet),
        vpc,
        subnet,
        az,
        instance: "-".into(),
    }
}

/// Every field of the default and the v5 format a record of 5 echoed
/// datagrams (128 IPv4 bytes each) at `at` should carry, by AWS name, for
/// the tuple `src:sp -> dst:dp` seen `dir` ("ingress"/"egress") there;
/// `version` is the format's.
fn expected(
    at: &At,
    (src, dst, sp, dp): (&str, &str, &str, &str),
    dir: &str,
    version: &str,
) -> BTreeMap<&'static str, String> {
    let path = if dir == "egress" { "1" } else { "-" };
    [
        ("version", version),
        ("account-id", at.account),
        ("interface-id", &at.id),
        ("vpc-id", at.vpc),
        ("subnet-id", at.subnet),
        ("instance-id", &at.instance),
        ("az-id", at.az),
        ("type", "IPv4"),
        ("srcaddr", src),
        ("dstaddr", dst),
        ("srcport", sp),
        ("dstport", dp),
        ("protocol", "17"),
        ("pkt-srcaddr", src),
        ("pkt-dstaddr", dst),
        ("packets", "5"),
        ("bytes", "640"),
        ("action", "ACCEPT"),
        ("flow-direction", dir),
        ("traffic-path", path),
        ("pkt-src-aws-service", "-"),
        ("log-status", "OK"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// The records of `log` (summed over windows, times left out) as lines of
/// their fields in the header's order.
fn summed_records(log: &str) -> Vec<String> {
    let names: Vec<String> = log
        .lines()
        .next()
        .unwrap()
        .split(' ')
        .map(String::from)
        .collect();
    let mut sums: BTreeMap<Vec<String>, (u64, u64)> = BTreeMap::new();
    for r in parse_log(log) {
        let key: Vec<String> = names
            .iter()
            .filter(|n| !["packets", "bytes", "start", "end"].contains(&n.as_str()))
            .map(|n| r[n].clone())
            .collect();
        let t = sums.entry(key).or_default();
        t.0 += r["packets"].parse::<u64>().unwrap();
        t.1 += r["bytes"].parse::<u64>().unwrap();
    }
    let mut out: Vec<String> = sums
        .into_iter()
        .map(|(key, (p, b))| {
            let mut key = key.into_iter();
            names
                .iter()
                .filter(|n| !["start", "end"].contains(&n.as_str()))
                .map(|n| match n.as_str() {
                    "packets" => p.to_string(),
                    "bytes" => b.to_string(),
                    _ => key.next().unwrap(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    out.sort();
    out
}

#[test]
#[ignore = "needs root"]
fn each_path_is_logged_exactly_in_the_default_and_a_custom_v5_format() {
    // (name, topology without a format, echo servers, their port, then
    // sender, source, destination address and port)
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a str);
    let paths: [(Case, [&str; 4]); 3] = [
        (
            ("intra-VPC", topo(), vec![("web", "10.0.1.20")], "5000"),
            ["client", "10.0.1.10", "10.0.1.20", "5000"],
        ),
        (
            (
                "PrivateLink",
                privatelink_topo(),
                vec![("web1", "10.0.1.21"), ("web2", "10.0.2.22")],
                "5353",
            ),
            ["consumer", "10.0.1.10", "10.0.1.100", "53"],
        ),
        (
            (
                "HTTP VPC link",
                http_link_base(),
                vec![("users1", "10.0.2.41")],
                "9000",
            ),
            ["apigw", "10.1.1.20", "10.1.1.205", "9000"],
        ),
    ];
    for ((name, base, servers_at, server_port), [sender, src, dst, dport]) in paths {
        for custom in [false, true] {
            let t = if custom {
                format!("{base}format = \"{V5}\"\n")
            } else {
                base.clone()
            };
            let (fx, log_file) = logged_lab(&t, "eflt");
            let servers = echo_servers(&fx, &servers_at, server_port);
            five_echoed(&fx, sender, src, "41000", dst, dport);
            let log = final_log(fx, &log_file, servers);
            let what = format!("{name}, {} format", if custom { "v5" } else { "default" });
            let header = log.lines().next().unwrap_or_default().to_string();
            let names: Vec<&str> = header.split(' ').collect();
            if custom {
                assert_eq!(header, V5.replace("${", "").replace('}', ""), "{what}");
            } else {
                assert_eq!(header, dataplane::flowlog::HEADER, "{what}");
            }
            let version = if custom { "5" } else { "2" };
            let got = summed_records(&log);
            // The translated tuple's NAT port and target: the NLB's choice,
            // read from the translating interface's request record.
            let nat = |iface: &str| -> (String, String) {
                parse_log(&log)
                    .into_iter()
                    .find(|r| {
                        r["interface-id"] == iface
                            && r["dstport"] != "41000"
                            && r["srcport"] != server_port
                    })
                    .map(|r| (r["dstaddr"].clone(), r["srcport"].clone()))
                    .unwrap_or_else(|| panic!("{what}: no request record at {iface}:\n{log}"))
            };
            // (interface, request tuple as it saw it)
            let hops: Vec<(At, (String, String, String, String))> = match name {
                "intra-VPC" => {
                    let t = (src.into(), dst.into(), "41000".into(), dport.into());
                    vec![
                        (
                            host_eni("eni-client", "client", "vpc-a", "subnet-a1", "use1-az1"),
                            t.clone(),
                        ),
                        (
                            host_eni("eni-web", "web", "vpc-a", "subnet-a1", "use1-az1"),
                            t,
                        ),
                    ]
                }
                "PrivateLink" => {
                    let node = managed("nlb-web", "vpc-provider", "subnet-provider1", "use1-az1");
                    let (target_ip, port) = nat(&node.id);
                    let target = match target_ip.as_str() {
                        "10.0.1.21" => host_eni(
                            "eni-web1",
                            "web1",
                            "vpc-provider",
                            "subnet-provider1",
                            "use1-az1",
                        ),
                        _ => host_eni(
                            "eni-web2",
                            "web2",
                            "vpc-provider",
                            "subnet-provider2",
                            "use1-az2",
                        ),
                    };
                    let sent = (
                        src.to_string(),
                        dst.to_string(),
                        "41000".to_string(),
                        dport.to_string(),
                    );
                    let seen = (
                        "10.0.1.50".to_string(),
                        target_ip,
                        port,
                        server_port.to_string(),
                    );
                    vec![
                        (
                            host_eni(
                                "eni-consumer",
                                "consumer",
                                "vpc-consumer",
                                "subnet-consumer1",
                                "use1-az1",
                            ),
                            sent.clone(),
                        ),
                        (
                            managed("vpce-web", "vpc-consumer", "subnet-consumer1", "use1-az1"),
                            sent,
                        ),
                        (node, seen.clone()),
                        (target, seen),
                    ]
                }
                _ => {
                    let link = managed("vpclink-http", "vpc-cust", "subnet-cust2", "use1-az2");
                    let (_, port) = nat(&link.id);
                    let seen = (
                        "10.0.2.4".to_string(),
                        "10.0.2.41".to_string(),
                        port,
                        server_port.to_string(),
                    );
                    vec![
                        (
                            host_eni("eni-apigw", "apigw", "vpc-api", "subnet-api1", "use1-az1"),
                            (src.into(), dst.into(), "41000".into(), dport.into()),
                        ),
                        (link, seen.clone()),
                        (
                            host_eni(
                                "eni-users1",
                                "users1",
                                "vpc-cust",
                                "subnet-cust2",
                                "use1-az2",
                            ),
                            seen,
                        ),
                    ]
                }
            };
            let n = hops.len();
            let mut want: Vec<String> = Vec::new();
            for (i, (at, (s, d, sp, dp))) in hops.iter().enumerate() {
                // The request leaves the sender, and the interface that
                // translates it (a managed one sending from its own
                // address); it enters the others. The reply the other way.
                let leaves = i == 0 || (at.account == "unknown" && s != src);
                let (req_dir, rep_dir) = if leaves {
                    ("egress", "ingress")
                } else {
                    ("ingress", "egress")
                };
                for (tuple, dir) in [((s, d, sp, dp), req_dir), ((d, s, dp, sp), rep_dir)] {
                    let e = expected(at, (tuple.0, tuple.1, tuple.2, tuple.3), dir, version);
                    want.push(
                        names
                            .iter()
                            .filter(|f| !["start", "end"].contains(f))
                            .map(|f| e[f].clone())
                            .collect::<Vec<_>>()
                            .join(" "),
                    );
                }
            }
            want.sort();
            assert_eq!(got, want, "{what} ({n} interfaces), the log:\n{log}");
        }
    }
}
