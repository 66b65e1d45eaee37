//! VPC Flow Logs end to end with TCP and real clients (curl): a JSON Lines
//! destination with `tcp-flags`, read while the agent writes it by
//! `dataplane flows --follow`'s function, through PrivateLink; and a
//! connection an HTTP VPC link target's group refuses, logged REJECT at the
//! target with the tuple the target would have seen.
//!
//! Needs root: run with `cargo xtask test` (or `cargo test -- --include-ignored`).

use std::{
    collections::BTreeMap,
    io::Write,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use dataplane::flowlog;
use dataplane_common::GATEWAY_MAC;
use hyperlab_tests::flow_log_file::{every_second, logged_lab};
use hyperlab_tests::{pkt, reference::Model, run_in_host, shipped_config, Fixture};

/// Flow logs every second; closed and idle flows swept within a second, so
/// their final counts reach the log before the agent stops.
fn logs(format: &str, file_format: &str) -> String {
    let timeouts = [
        "tcp_transitory_timeout",
        "udp_timeout",
        "udp_stream_timeout",
    ];
    every_second(
        &timeouts,
        &[("format", format), ("file_format", file_format)],
    )
}

/// Waits until the flow table is empty (swept), then stops the agent (the
/// last interval is written).
fn stop(fx: Fixture) {
    let deadline = Instant::now() + Duration::from_secs(8);
    while !fx.flows().is_empty() {
        assert!(Instant::now() < deadline, "the flows were not swept");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(fx);
}

/// A `Write` the follower thread shares with the test.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const JSON_FORMAT: &str = "${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} \
                           ${protocol} ${packets} ${bytes} ${tcp-flags} ${action} ${flow-direction}";

/// JSON Lines records summed over windows: (interface, src, dst, sport,
/// dport, action, direction) -> (packets, bytes, OR of tcp-flags).
fn json_totals(log: &str) -> BTreeMap<String, (u64, u64, u64)> {
    let mut out = BTreeMap::new();
    for l in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        let o = v.as_object().expect("one object a line");
        let names: Vec<&str> = o.keys().map(String::as_str).collect();
        let mut want: Vec<&str> = JSON_FORMAT
            .split(' ')
            .map(|t| t.trim_start_matches("${").trim_end_matches('}'))
            .collect();
        want.sort();
        let mut names = names.clone();
        names.sort();
        assert_eq!(names, want, "the format's fields, by AWS name: {l}");
        for n in [
            "srcport",
            "dstport",
            "protocol",
            "packets",
            "bytes",
            "tcp-flags",
        ] {
            assert!(o[n].is_u64(), "{n} is a number: {l}");
        }
        assert_eq!(o["protocol"], 6, "{l}");
        let s = |n: &str| o[n].as_str().unwrap().to_string();
        let k = format!(
            "{} {} {} {} {} {} {}",
            s("interface-id"),
            s("srcaddr"),
            s("dstaddr"),
            o["srcport"],
            o["dstport"],
            s("action"),
            s("flow-direction")
        );
        let t = out.entry(k).or_insert((0, 0, 0));
        t.0 += o["packets"].as_u64().unwrap();
        t.1 += o["bytes"].as_u64().unwrap();
        t.2 |= o["tcp-flags"].as_u64().unwrap();
    }
    out
}

#[test]
#[ignore = "needs root"]
fn curl_through_privatelink_in_json_lines_with_tcp_flags_as_followed() {
    let topo = shipped_config("privatelink.toml", "plink") + &logs(JSON_FORMAT, "json-lines");
    let (fx, log) = logged_lab(&topo, "eflj");
    let _servers = (
        fx.http_server("web1", "10.0.1.21", 8080),
        fx.http_server("web2", "10.0.2.22", 8080),
    );
    fx.settle_health();
    // `dataplane flows --follow` on the config's file, from before any
    // record is written to after the last.
    let settings = fx.agent.topo.flow_logs.clone().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let followed = Shared::default();
    let follower = {
        let (done, mut out) = (done.clone(), followed.clone());
        std::thread::spawn(move || {
            flowlog::follow(&settings, None, &mut out, &|| done.load(Ordering::Relaxed))
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // One HTTP exchange from a known port: SYN, SYN-ACK, data, FINs.
    let (code, body) = run_in_host(
        &fx.agent.plan,
        "consumer",
        &[
            "curl",
            "-sS",
            "--max-time",
            "3",
            "--local-port",
            "41000",
            "http://10.0.1.100:80/",
        ],
    );
    assert_eq!(code, 0, "curl: {body}");
    stop(fx);
    std::thread::sleep(Duration::from_millis(500));
    done.store(true, Ordering::Relaxed);
    follower.join().unwrap().expect("follow");
    let file = std::fs::read_to_string(&log.0).expect("the flow log");
    let seen = String::from_utf8(followed.0.lock().unwrap().clone()).unwrap();
    assert!(!file.is_empty());
    assert_eq!(
        seen, file,
        "--follow printed every line the agent wrote, as written"
    );

    let got = json_totals(&file);
    let endpoint = dataplane::model::managed_eni_id("vpce-web", "subnet-consumer1");
    let node = dataplane::model::managed_eni_id("nlb-web", "subnet-provider1");
    // The NLB's choices (target, NAT port) from the node's request record.
    let (target_ip, nat_port) = got
        .keys()
        .find_map(|k| {
            let f: Vec<&str> = k.split(' ').collect();
            (f[0] == node && f[1] == "10.0.1.50").then(|| (f[2].to_string(), f[3].to_string()))
        })
        .unwrap_or_else(|| panic!("no record at the NLB node {node}:\n{file}"));
    let target = match target_ip.as_str() {
        "10.0.1.21" => "eni-web1",
        "10.0.2.22" => "eni-web2",
        other => panic!("the node sent to {other}:\n{file}"),
    };
    let (c, e, n, t) = ("10.0.1.10", "10.0.1.100", "10.0.1.50", target_ip.as_str());
    let np = nat_port.as_str();
    // (interface, src, dst, sport, dport, direction): both directions at
    // each of the four interfaces, with the tuple each one saw.
    let request = [
        ("eni-consumer", c, e, "41000", "80", "egress"),
        (endpoint.as_str(), c, e, "41000", "80", "ingress"),
        (node.as_str(), n, t, np, "8080", "egress"),
        (target, n, t, np, "8080", "ingress"),
    ];
    let reply = [
        ("eni-consumer", e, c, "80", "41000", "ingress"),
        (endpoint.as_str(), e, c, "80", "41000", "egress"),
        (node.as_str(), t, n, "8080", np, "ingress"),
        (target, t, n, "8080", np, "egress"),
    ];
    let key = |r: &(&str, &str, &str, &str, &str, &str)| {
        format!("{} {} {} {} {} ACCEPT {}", r.0, r.1, r.2, r.3, r.4, r.5)
    };
    let mut want_keys: Vec<String> = request.iter().chain(&reply).map(key).collect();
    want_keys.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want_keys, "{file}");
    // The same packets at every interface of a direction; the flags of a
    // whole short connection: SYN and FIN out (3), SYN-ACK and FIN back
    // (19), as AWS's own example of a short connection shows.
    for (dir, records, flags) in [("request", &request, 3), ("reply", &reply, 19)] {
        let counts: Vec<(u64, u64, u64)> = records.iter().map(|r| got[&key(r)]).collect();
        assert!(counts[0].0 >= 3, "{dir}: at least 3 segments: {counts:?}");
        assert!(
            counts
                .iter()
                .all(|x| *x == (counts[0].0, counts[0].1, flags)),
            "{dir}: {counts:?} (tcp-flags {flags} at every interface)\n{file}"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn a_target_reject_is_logged_at_the_target_with_the_translated_tuple() {
    const FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} \
                          ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} \
                          ${end} ${action} ${log-status} ${tcp-flags} ${flow-direction}";
    let topo = shipped_config("http-vpc-link.toml", "httplink") + &logs(FORMAT, "plain-text");
    let (fx, log) = logged_lab(&topo, "eflr");
    // apigw -> int-locked 10.1.1.204:9000: locked's group admits an office
    // range only, so the link ENI's connection attempts are refused there.
    let (code, _) = run_in_host(
        &fx.agent.plan,
        "apigw",
        &[
            "curl",
            "-sS",
            "--max-time",
            "2",
            "--local-port",
            "42000",
            "http://10.1.1.204:9000/",
        ],
    );
    assert_ne!(code, 0, "refused");
    // The tuple locked would have seen, from the reference model: the link
    // ENI in its AZ and the first NAT port the flow would probe.
    let topo_now = fx.agent.topo.clone();
    let api_vpc = topo_now.eni_vpc(fx.eni("eni-apigw"));
    let syn = pkt::tcp(
        fx.mac("eni-apigw"),
        GATEWAY_MAC,
        fx.ip("eni-apigw"),
        "10.1.1.204".parse().unwrap(),
        42000,
        9000,
        "S",
    );
    let (_, choice, _) = Model::new(&topo_now, None)
        .rejected_after_nat(api_vpc, &syn)
        .expect("refused after translation");
    stop(fx);
    let text = std::fs::read_to_string(&log.0).expect("the flow log");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(FORMAT.replace("${", "").replace('}', "").as_str())
    );
    // (interface, src, dst, sport, dport, action, flags, direction) ->
    // packets: each SYN curl sent (its retransmissions included).
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.len(), 16, "{l}");
        // Version 5: the highest of the fields (flow-direction).
        assert_eq!((f[0], f[7], f[13]), ("5", "6", "OK"), "{l}");
        let k = [f[1], f[2], f[3], f[4], f[5], f[6], f[12], f[14], f[15]].join(" ");
        *got.entry(k).or_default() += f[8].parse::<u64>().unwrap();
    }
    let link = dataplane::model::managed_eni_id("vpclink-http", "subnet-cust1");
    let (src, port) = (choice.source.to_string(), choice.nat_port.to_string());
    assert_eq!(src, "10.0.1.4", "the link ENI in locked's AZ");
    let keys = [
        "123456789012 eni-apigw 10.1.1.20 10.1.1.204 42000 9000 ACCEPT 2 egress".to_string(),
        format!("unknown {link} {src} 10.0.1.60 {port} 9000 ACCEPT 2 egress"),
        format!("123456789012 eni-locked {src} 10.0.1.60 {port} 9000 REJECT 2 ingress"),
    ];
    let mut want_keys = keys.to_vec();
    want_keys.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want_keys, "{text}");
    let sent = got[&keys[0]];
    assert!(sent >= 2, "curl retried its SYN within 2 s: {text}");
    assert!(keys.iter().all(|k| got[k] == sent), "{got:?}");
}
