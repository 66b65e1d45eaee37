use super::*;
use dataplane_common::{FlowCounters, FLOW_F_DNAT, FLOW_F_SNAT, PROTO_TCP, PROTO_UDP};

pub(super) fn key(
    vpc: u32,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    proto: u8,
) -> FlowKey {
    FlowKey {
        vpc,
        src,
        dst,
        sport: sport.to_be_bytes(),
        dport: dport.to_be_bytes(),
        proto,
        icmp_reply: 0,
        _pad1: 0,
    }
}

/// An entry with these totals, counted on one CPU.
fn row(entry: FlowEntry, (packets, bytes): (u64, u64)) -> FlowRow {
    FlowRow::one_cpu(
        entry,
        FlowCounters {
            packets,
            bytes,
            ..Default::default()
        },
    )
}

/// `a` reads the entries of flow `k` (`f`, and `r` under `rk`), summed as
/// of its window, as the reader does.
fn read(a: &mut Aggregator, k: &FlowKey, f: &FlowRow, rk: &FlowKey, r: &FlowRow) {
    let w = a.window;
    a.observe(
        k,
        Some((&f.entry, FlowTotals::of(&f.cpus, w))),
        Some((rk, &r.entry, FlowTotals::of(&r.cpus, w))),
    );
}

/// A flow's forward and reply entries, client ENI 0 -> server ENI 1.
fn entries(k: &FlowKey, fwd: (u64, u64), rev: (u64, u64)) -> (FlowRow, FlowKey, FlowRow) {
    let f = FlowEntry {
        out_vpc: k.vpc,
        new_src: k.src,
        new_dst: k.dst,
        new_sport: k.sport,
        new_dport: k.dport,
        src_eni: 0,
        dst_eni: 1,
        ..Default::default()
    };
    let rk = f.peer_key(k.proto);
    let r = FlowEntry {
        flags: FLOW_F_REPLY,
        out_vpc: k.vpc,
        new_src: rk.src,
        new_dst: rk.dst,
        new_sport: rk.sport,
        new_dport: rk.dport,
        src_eni: 1,
        dst_eni: 0,
        ..Default::default()
    };
    (row(f, fwd), rk, row(r, rev))
}

/// [`entries`] as the table holds them, read by `a`; returned for more.
fn observe(
    a: &mut Aggregator,
    k: &FlowKey,
    fwd: (u64, u64),
    rev: (u64, u64),
) -> (FlowRow, FlowKey, FlowRow) {
    let (f, rk, r) = entries(k, fwd, rev);
    read(a, k, &f, &rk, &r);
    (f, rk, r)
}

/// An aggregator that saw flow `k` start with these counts and logged
/// its first interval (0 to 60).
fn logged_once(k: &FlowKey, fwd: (u64, u64), rev: (u64, u64)) -> Aggregator {
    let mut a = agg();
    a.event(&new_event(k));
    observe(&mut a, k, fwd, rev);
    a.close(0, 60);
    a
}

pub(super) fn new_event(k: &FlowKey) -> FlowEvent {
    FlowEvent {
        kind: FLOW_EVENT_NEW,
        eni: 0,
        dst_eni: 1,
        reason: 0,
        key: *k,
        len: 0,
        tcp_flags: 0,
        _pad: 0,
    }
}

fn lines(recs: &[Record]) -> Vec<String> {
    recs.iter().map(|r| r.line("123456789012")).collect()
}

fn agg() -> Aggregator {
    Aggregator::new(Interfaces::hosts([
        ("eni-client".into(), 0, Ipv4Addr::new(10, 0, 1, 10)),
        ("eni-web".into(), 0, Ipv4Addr::new(10, 0, 2, 20)),
    ]))
}

/// A fresh `agg()` and the key of a flow from eni-client to eni-web.
fn client_to_web(sport: u16, dport: u16, proto: u8) -> (Aggregator, FlowKey) {
    (
        agg(),
        key(0, [10, 0, 1, 10], [10, 0, 2, 20], sport, dport, proto),
    )
}

#[test]
fn an_accepted_flow_is_logged_at_both_enis_in_each_direction_as_deltas() {
    let (mut a, k) = client_to_web(40000, 80, PROTO_TCP);
    a.event(&new_event(&k));
    observe(&mut a, &k, (5, 400), (4, 3000));
    assert_eq!(
        lines(&a.close(100, 160)),
        [
            "2 123456789012 eni-client 10.0.1.10 10.0.2.20 40000 80 6 5 400 100 100 ACCEPT OK",
            "2 123456789012 eni-client 10.0.2.20 10.0.1.10 80 40000 6 4 3000 100 100 ACCEPT OK",
            "2 123456789012 eni-web 10.0.1.10 10.0.2.20 40000 80 6 5 400 100 100 ACCEPT OK",
            "2 123456789012 eni-web 10.0.2.20 10.0.1.10 80 40000 6 4 3000 100 100 ACCEPT OK",
        ]
    );
    // Next interval: only what moved since; an idle direction is silent.
    let (f, rk, r) = observe(&mut a, &k, (7, 500), (4, 3000));
    assert_eq!(
        lines(&a.close(160, 220)),
        [
            "2 123456789012 eni-client 10.0.1.10 10.0.2.20 40000 80 6 2 100 160 160 ACCEPT OK",
            "2 123456789012 eni-web 10.0.1.10 10.0.2.20 40000 80 6 2 100 160 160 ACCEPT OK",
        ]
    );
    read(&mut a, &k, &f, &rk, &r);
    assert!(a.close(220, 280).is_empty(), "no traffic, no record");
}

#[test]
fn tcp_flags_are_the_or_of_each_windows_packets_on_every_cpu_per_direction() {
    let format = crate::model::parse_flow_log_format(
        "${interface-id} ${srcport} ${dstport} ${packets} ${tcp-flags} ${action}",
    )
    .unwrap();
    let (mut a, k) = client_to_web(40000, 80, PROTO_TCP);
    a.event(&new_event(&k));
    let (f, rk, r) = entries(&k, (0, 0), (0, 0));
    // Each direction counted on two CPUs, as the kernel does (60 bytes a
    // packet); `w`: the kernel's window.
    let (mut fc, mut rc) = ([FlowCounters::default(); 2], [FlowCounters::default(); 2]);
    let render = |recs: Vec<Record>| -> Vec<String> {
        recs.iter().map(|r| r.render(&format, "1")).collect()
    };
    // Closes window `w` as the reader does: the kernel is already in
    // `w + 1` (packets counted there are the next window's), `a` reads `w`.
    let close = |a: &mut Aggregator, w: u32, fc: &[FlowCounters; 2], rc: &[FlowCounters; 2]| {
        a.set_window(w);
        let f = FlowRow::new(f.entry, fc.to_vec());
        let r = FlowRow::new(r.entry, rc.to_vec());
        read(a, &k, &f, &rk, &r);
        let start = w as u64 * 60;
        let recs = render(a.close(start, start + 60));
        a.set_window(w + 1);
        recs
    };
    let both = |out: &str, back: &str| {
        [
            format!("eni-client 40000 80 {out} ACCEPT"),
            format!("eni-client 80 40000 {back} ACCEPT"),
            format!("eni-web 40000 80 {out} ACCEPT"),
            format!("eni-web 80 40000 {back} ACCEPT"),
        ]
    };
    // Window 0: SYN (CPU 0) and 2 ACKs (CPU 1) out, SYN-ACK (CPU 1) and
    // an ACK (CPU 0) back.
    fc[0] = FlowCounters::first(1, 0, 1, 60, 2);
    fc[1].count(2, 0, 60, 0);
    fc[1].count(2, 0, 60, 0);
    rc[1].count(2, 0, 60, 18);
    rc[0].count(2, 0, 60, 0);
    assert_eq!(close(&mut a, 0, &fc, &rc), both("3 2", "2 18"));
    // Window 1: data only; the client's FIN (CPU 1) already counts in
    // window 2 when window 1 is read: not in window 1's record.
    fc[0].count(3, 1, 60, 0);
    rc[0].count(3, 1, 60, 0);
    fc[1].count(4, 2, 60, 1);
    assert_eq!(close(&mut a, 1, &fc, &rc), both("1 0", "1 0"));
    // Window 2: that FIN, the server's RST (CPU 0).
    rc[0].count(5, 2, 60, 4);
    assert_eq!(close(&mut a, 2, &fc, &rc), both("1 1", "1 4"));
    // Window 3: the FIN again (CPU 0), a flag window 2 saw: reported again.
    fc[0].count(6, 3, 60, 1);
    assert_eq!(
        close(&mut a, 3, &fc, &rc),
        [
            "eni-client 40000 80 1 1 ACCEPT",
            "eni-web 40000 80 1 1 ACCEPT",
        ]
    );
    // A rejected SYN carries its own flags; UDP has none.
    let syn = key(0, [10, 0, 1, 10], [10, 0, 2, 20], 40001, 22, PROTO_TCP);
    a.event(&FlowEvent {
        tcp_flags: 2,
        ..rej(&syn, DropReason::IngressSgDeny, 60)
    });
    let udp = key(0, [10, 0, 1, 10], [10, 0, 2, 20], 40002, 53, PROTO_UDP);
    a.event(&rej(&udp, DropReason::EgressSgDeny, 40));
    assert_eq!(
        render(a.close(180, 240)),
        [
            "eni-client 40001 22 1 2 ACCEPT",
            "eni-client 40002 53 1 0 REJECT",
            "eni-web 40001 22 1 2 REJECT",
        ]
    );
}

pub(super) fn rej(k: &FlowKey, reason: DropReason, len: u16) -> FlowEvent {
    FlowEvent {
        kind: FLOW_EVENT_REJECT,
        eni: 0,
        dst_eni: NO_ENI,
        reason: reason as u32,
        key: *k,
        len,
        tcp_flags: 0,
        _pad: 0,
    }
}

#[test]
fn an_inbound_reject_is_logged_at_the_receiver_and_the_sender_accepts_what_it_sent() {
    let (mut a, k) = client_to_web(40001, 5432, PROTO_TCP);
    for _ in 0..2 {
        a.event(&rej(&k, DropReason::IngressSgDeny, 60));
    }
    a.event(&rej(&k, DropReason::NaclIngressDeny, 60));
    assert_eq!(
        lines(&a.close(0, 60)),
        [
            "2 123456789012 eni-client 10.0.1.10 10.0.2.20 40001 5432 6 3 180 0 0 ACCEPT OK",
            "2 123456789012 eni-web 10.0.1.10 10.0.2.20 40001 5432 6 3 180 0 0 REJECT OK",
        ]
    );
}

#[test]
fn an_outbound_reject_is_logged_at_the_sender_and_icmp_has_port_zero() {
    let (mut a, k) = client_to_web(40001, 5432, PROTO_TCP);
    a.event(&rej(&k, DropReason::EgressSgDeny, 60));
    a.event(&rej(&k, DropReason::NaclEgressDeny, 60));
    let ping = key(0, [10, 0, 1, 10], [10, 0, 2, 20], 77, 77, PROTO_ICMP);
    a.event(&rej(&ping, DropReason::EgressSgDeny, 84));
    // An inbound reason with no interface at the destination: the
    // sender is the only interface left to log it.
    let nowhere = key(0, [10, 0, 1, 10], [10, 0, 2, 99], 1, 2, PROTO_UDP);
    a.event(&rej(&nowhere, DropReason::IngressSgDeny, 30));
    assert_eq!(
        lines(&a.close(0, 60)),
        [
            "2 123456789012 eni-client 10.0.1.10 10.0.2.20 0 0 1 1 84 0 0 REJECT OK",
            "2 123456789012 eni-client 10.0.1.10 10.0.2.20 40001 5432 6 2 120 0 0 REJECT OK",
            "2 123456789012 eni-client 10.0.1.10 10.0.2.99 1 2 17 1 30 0 0 REJECT OK",
        ]
    );
}

#[test]
fn a_privatelink_flow_is_logged_at_client_endpoint_nlb_node_and_target() {
    let ip = Ipv4Addr::new;
    let mut a = Aggregator::new(
        Interfaces::hosts([
            ("eni-client".into(), 0, ip(10, 0, 1, 10)),
            ("eni-target".into(), 1, ip(10, 1, 1, 20)),
        ])
        .with_managed("eni-0endpoint".into(), 0, ip(10, 0, 1, 100))
        .with_managed("eni-0node".into(), 1, ip(10, 1, 1, 50)),
    );
    let k = key(0, [10, 0, 1, 10], [10, 0, 1, 100], 40000, 80, PROTO_TCP);
    let (pk, rk) = (2000u16.to_be_bytes(), 8080u16.to_be_bytes());
    let f = FlowEntry {
        flags: FLOW_F_SNAT | FLOW_F_DNAT,
        out_vpc: 1,
        new_src: [10, 1, 1, 50],
        new_dst: [10, 1, 1, 20],
        new_sport: pk,
        new_dport: rk,
        src_eni: 0,
        dst_eni: 1,
        ..Default::default()
    };
    let rkey = f.peer_key(PROTO_TCP);
    let r = FlowEntry {
        flags: FLOW_F_REPLY | FLOW_F_SNAT | FLOW_F_DNAT,
        out_vpc: 0,
        new_src: k.dst,
        new_dst: k.src,
        new_sport: k.dport,
        new_dport: k.sport,
        src_eni: 1,
        dst_eni: 0,
        ..Default::default()
    };
    let (f, r) = (row(f, (3, 300)), row(r, (2, 1000)));
    a.event(&new_event(&k));
    read(&mut a, &k, &f, &rkey, &r);
    assert_eq!(
        lines(&a.close(0, 60)),
        [
            "2 123456789012 eni-client 10.0.1.10 10.0.1.100 40000 80 6 3 300 0 0 ACCEPT OK",
            "2 123456789012 eni-client 10.0.1.100 10.0.1.10 80 40000 6 2 1000 0 0 ACCEPT OK",
            "2 123456789012 eni-target 10.1.1.20 10.1.1.50 8080 2000 6 2 1000 0 0 ACCEPT OK",
            "2 123456789012 eni-target 10.1.1.50 10.1.1.20 2000 8080 6 3 300 0 0 ACCEPT OK",
            "2 unknown eni-0endpoint 10.0.1.10 10.0.1.100 40000 80 6 3 300 0 0 ACCEPT OK",
            "2 unknown eni-0endpoint 10.0.1.100 10.0.1.10 80 40000 6 2 1000 0 0 ACCEPT OK",
            "2 unknown eni-0node 10.1.1.20 10.1.1.50 8080 2000 6 2 1000 0 0 ACCEPT OK",
            "2 unknown eni-0node 10.1.1.50 10.1.1.20 2000 8080 6 3 300 0 0 ACCEPT OK",
        ]
    );
}

#[test]
fn start_and_end_are_the_first_and_last_packet_times_in_each_window() {
    let (mut a, k) = client_to_web(40000, 80, PROTO_UDP);
    // Entry times are CLOCK_MONOTONIC: Unix = monotonic + 1000 s.
    let wall = 1_000_000_000_000i128;
    let ns = |unix_s: u64| unix_s * 1_000_000_000 - 1_000_000_000_000;
    let (mut f, rk, mut r) = entries(&k, (2, 200), (0, 0));
    f.entry.created_ns = ns(1003);
    f.cpus[0].last_seen_ns = ns(1005) + 400_000_000;
    r.entry.created_ns = f.created_ns;
    // Window 1000-1060, read at 1006: the flow began at 1003.
    a.set_clock(1006, 1005, wall);
    a.event(&new_event(&k));
    read(&mut a, &k, &f, &rk, &r);
    // Read at 1061 (in the next window) with nothing new: no record.
    a.set_clock(1061, 1060, wall);
    read(&mut a, &k, &f, &rk, &r);
    let w1 = a.close(1000, 1060);
    // Window 1060-1120: more at 1070-1090, the first reply at 1089;
    // the reads before saw nothing since 1069.
    (f.cpus[0].packets, f.cpus[0].bytes, f.cpus[0].last_seen_ns) = (5, 500, ns(1090));
    (r.cpus[0].packets, r.cpus[0].bytes, r.cpus[0].last_seen_ns) = (1, 100, ns(1089));
    a.set_clock(1091, 1069, wall);
    read(&mut a, &k, &f, &rk, &r);
    // A reject drained at 1100.
    a.set_clock(1100, 1091, wall);
    a.event(&rej(&k, DropReason::EgressSgDeny, 30));
    let w2 = a.close(1060, 1120);
    let times = |recs: &[Record]| -> Vec<String> {
        recs.iter()
            .map(|r| {
                format!(
                    "{} {} {} {}",
                    r.interface.id,
                    r.action.name(),
                    r.start,
                    r.end
                )
            })
            .collect()
    };
    assert_eq!(
        times(&w1),
        ["eni-client ACCEPT 1003 1005", "eni-web ACCEPT 1003 1005"]
    );
    assert_eq!(
        times(&w2),
        [
            "eni-client ACCEPT 1069 1090",
            "eni-client ACCEPT 1069 1089",
            "eni-client REJECT 1100 1100",
            "eni-web ACCEPT 1069 1090",
            "eni-web ACCEPT 1069 1089",
        ]
    );
}

#[test]
fn an_adopted_flow_logs_only_what_came_after_its_adoption() {
    let (mut a, k) = client_to_web(40000, 80, 6);
    let (f, rk, r) = entries(&k, (7, 700), (5, 500));
    a.adopt(&k, &f.totals, Some(&r.totals));
    let (f2, _, r2) = entries(&k, (9, 900), (5, 500));
    read(&mut a, &k, &f2, &rk, &r2);
    let recs = a.close(100, 160);
    assert_eq!(
        recs.iter()
            .map(|r| (r.interface.id.as_str(), r.packets, r.bytes))
            .collect::<Vec<_>>(),
        [("eni-client", 2, 200), ("eni-web", 2, 200)]
    );
}

#[test]
fn a_swept_flow_logs_its_final_counts_once_and_is_forgotten() {
    let k = key(0, [10, 0, 1, 10], [10, 0, 2, 20], 5000, 53, PROTO_UDP);
    let mut a = logged_once(&k, (2, 100), (2, 200));
    // More traffic, then the sweeper removes both entries.
    let (f, rk, r) = entries(&k, (3, 150), (2, 200));
    a.removed(&[(k, f), (rk, r)]);
    assert!(a.tracked().is_empty());
    // The table no longer has it: nothing more, and no double count.
    a.observe(&k, None, None);
    assert_eq!(
        lines(&a.close(60, 120)),
        [
            "2 123456789012 eni-client 10.0.1.10 10.0.2.20 5000 53 17 1 50 60 60 ACCEPT OK",
            "2 123456789012 eni-web 10.0.1.10 10.0.2.20 5000 53 17 1 50 60 60 ACCEPT OK",
        ]
    );
}

#[test]
fn a_flow_gone_without_final_counts_is_forgotten_after_two_reads() {
    let (mut a, k) = client_to_web(5000, 53, PROTO_UDP);
    a.event(&new_event(&k));
    a.observe(&k, None, None);
    assert_eq!(
        a.tracked(),
        [k],
        "kept: the sweeper's batch may be on its way"
    );
    // It arrives late: still counted.
    let (f, rk, r) = entries(&k, (1, 40), (0, 0));
    a.removed(&[(k, f), (rk, r)]);
    assert_eq!(a.close(0, 1).len(), 2, "at both ENIs");
    a.event(&new_event(&k));
    a.observe(&k, None, None);
    a.observe(&k, None, None);
    assert!(a.tracked().is_empty());
}

#[test]
fn a_reused_tuple_counts_the_new_connection_from_zero() {
    let k = key(0, [10, 0, 1, 10], [10, 0, 2, 20], 40000, 80, PROTO_TCP);
    let mut a = logged_once(&k, (10, 1000), (8, 900));
    // The kernel replaced both entries (SYN on a closed flow).
    a.event(&new_event(&k));
    observe(&mut a, &k, (12, 1100), (9, 950));
    let recs = a.close(60, 120);
    assert_eq!(
        recs.iter()
            .map(|r| (r.packets, r.bytes))
            .collect::<Vec<_>>(),
        [(12, 1100), (9, 950), (12, 1100), (9, 950)]
    );
}

#[test]
fn command_line_overrides_the_config() {
    let file = FlowLogSettings {
        destination: FlowLogDestination::File("a.log".into()),
        interval_s: 600,
        account_id: "000000000001".into(),
        format: FlowLogField::DEFAULT.to_vec(),
        file_format: Default::default(),
    };
    assert_eq!(with_overrides(None, None, None), Ok(None));
    assert_eq!(
        with_overrides(Some(file.clone()), None, None),
        Ok(Some(file.clone()))
    );
    assert_eq!(
        with_overrides(Some(file.clone()), Some("-"), Some(2)),
        Ok(Some(FlowLogSettings {
            destination: FlowLogDestination::Stdout,
            interval_s: 2,
            ..file.clone()
        }))
    );
    assert_eq!(
        with_overrides(None, Some("/tmp/f.log"), None),
        Ok(Some(FlowLogSettings {
            destination: FlowLogDestination::File("/tmp/f.log".into()),
            interval_s: 60,
            account_id: "123456789012".into(),
            format: FlowLogField::DEFAULT.to_vec(),
            file_format: Default::default(),
        }))
    );
    assert_eq!(
        with_overrides(None, None, Some(5)),
        Err(
            "--flow-log-interval needs flow logs on: add --flow-log FILE (or - for \
             stdout), or a [flow_logs] table to the config"
                .into()
        )
    );
    assert_eq!(
        with_overrides(Some(file), None, Some(601)),
        Err("--flow-log-interval 601 is out of range (expected 1 to 600 seconds)".into())
    );
    assert_eq!(
        with_overrides(None, Some(""), None),
        Err("--flow-log: empty flow log destination (expected \"stdout\" or a file path)".into())
    );
}

#[test]
fn follow_prints_the_lines_appended_after_it_started_that_match_the_filter() {
    let path = std::env::temp_dir().join(format!("hl-follow-{}.log", std::process::id()));
    std::fs::write(&path, format!("{HEADER}\nold line eni-a\n")).unwrap();
    let settings = FlowLogSettings {
        destination: FlowLogDestination::File(path.clone()),
        interval_s: 1,
        account_id: FLOW_LOG_ACCOUNT.into(),
        format: FlowLogField::DEFAULT.to_vec(),
        file_format: FlowLogFileFormat::PlainText,
    };
    let done = Arc::new(AtomicBool::new(false));
    let t = {
        let (done, settings) = (done.clone(), settings.clone());
        std::thread::spawn(move || {
            let mut out = Vec::new();
            follow(&settings, Some("eni-a"), &mut out, &|| {
                done.load(Ordering::Relaxed)
            })
            .unwrap();
            String::from_utf8(out).unwrap()
        })
    };
    // Appended in two writes, the first ending mid-line.
    std::thread::sleep(Duration::from_millis(300));
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    write!(f, "new eni-a 1\nnew eni-b 2\nnew eni").unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    writeln!(f, "-a 3").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    done.store(true, Ordering::Relaxed);
    let out = t.join().unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(out, format!("{HEADER}\nnew eni-a 1\nnew eni-a 3\n"));
    let stdout = FlowLogSettings {
        destination: FlowLogDestination::Stdout,
        ..settings
    };
    let err = follow(&stdout, None, &mut Vec::new(), &|| true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow logs go to the agent's standard output: set [flow_logs] destination to a \
         file to follow them"
    );
}

#[test]
fn an_eni_index_outside_the_topology_logs_a_dash() {
    let mut a = Aggregator::new(Interfaces::hosts([]));
    let k = key(0, [10, 0, 1, 10], [10, 0, 2, 20], 1, 2, PROTO_UDP);
    a.event(&FlowEvent {
        kind: FLOW_EVENT_REJECT,
        eni: 9,
        dst_eni: NO_ENI,
        reason: DropReason::EgressSgDeny as u32,
        key: k,
        len: 28,
        tcp_flags: 0,
        _pad: 0,
    });
    assert_eq!(a.close(0, 1)[0].interface.id, "-");
    assert!(HEADER.starts_with("version account-id interface-id srcaddr"));
    assert_eq!(HEADER.split(' ').count(), 14);
}

#[test]
fn a_flow_to_the_internet_is_logged_at_the_eni_only_with_its_private_address() {
    let mut a = agg();
    let host = dataplane_common::INTERNET_ENI_BASE;
    let k = key(0, [10, 0, 1, 10], [203, 0, 113, 10], 40000, 80, PROTO_TCP);
    let f = FlowEntry {
        flags: FLOW_F_SNAT,
        out_vpc: dataplane_common::INTERNET_VPC,
        new_src: [203, 0, 113, 20],
        new_dst: k.dst,
        new_sport: k.sport,
        new_dport: k.dport,
        src_eni: 0,
        dst_eni: host,
        ..Default::default()
    };
    let rk = f.peer_key(k.proto);
    let r = FlowEntry {
        flags: FLOW_F_REPLY | FLOW_F_DNAT,
        out_vpc: 0,
        new_src: k.dst,
        new_dst: k.src,
        new_sport: k.dport,
        new_dport: k.sport,
        src_eni: host,
        dst_eni: 0,
        ..Default::default()
    };
    let (f, r) = (row(f, (3, 180)), row(r, (2, 1500)));
    a.event(&FlowEvent {
        dst_eni: host,
        ..new_event(&k)
    });
    read(&mut a, &k, &f, &rk, &r);
    assert_eq!(
        lines(&a.close(100, 160)),
        [
            "2 123456789012 eni-client 10.0.1.10 203.0.113.10 40000 80 6 3 180 100 100 ACCEPT OK",
            "2 123456789012 eni-client 203.0.113.10 10.0.1.10 80 40000 6 2 1500 100 100 ACCEPT OK",
        ]
    );
}

/// The interfaces a flow's records are written at (managed ones included).
mod interfaces {
    use super::super::*;
    use super::{key, rej};
    use dataplane_common::PROTO_TCP;

    fn shipped(name: &str) -> Topology {
        let path = format!("{}/../configs/{name}", env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(&path).unwrap();
        crate::config::parse_str(&src, &path).unwrap_or_else(|d| panic!("{d}"))
    }

    /// A shipped config's managed interfaces, one `ID KIND OWNER IP` each.
    fn managed(name: &str) -> Vec<String> {
        shipped(name)
            .managed_interfaces()
            .into_iter()
            .map(|m| format!("{} {:?} {} {}", m.id, m.kind, m.owner, m.ip))
            .collect()
    }

    #[test]
    fn endpoint_enis_and_nlb_nodes_get_stable_ids_of_the_aws_shape() {
        assert_eq!(
            managed("privatelink.toml"),
            [
                "eni-02bb80f9c99df8bef Endpoint vpce-web 10.0.1.100",
                "eni-014309e22bf34de74 Endpoint vpce-web 10.0.2.100",
                "eni-0843a4e50ff566512 Endpoint vpce-pending 10.0.1.101",
                "eni-0ac757f720265a12e NlbNode nlb-web 10.0.1.50",
                "eni-0cb918d89d8d41e99 NlbNode nlb-web 10.0.2.50",
            ]
        );
    }

    /// The two events of a packet rejected after translation: the REJECT
    /// with the tuple as sent (from ENI `from`), and the kernel's
    /// REJECT_TRANSLATED with the tuple the target would have seen.
    fn rejected_after_nat(
        a: &mut Aggregator,
        (from, sent): (u32, FlowKey),
        (target, seen): (u32, FlowKey),
        reason: DropReason,
    ) {
        a.event(&FlowEvent {
            eni: from,
            ..rej(&sent, reason, 60)
        });
        a.event(&FlowEvent {
            kind: FLOW_EVENT_REJECT_TRANSLATED,
            eni: target,
            ..rej(&seen, reason, 60)
        });
    }

    #[test]
    fn a_target_reject_is_logged_at_the_target_with_the_translated_tuple() {
        let t = shipped("privatelink.toml");
        let mut a = Aggregator::new(Interfaces::of(&t));
        let web1 = t.eni_by_id("eni-web1").unwrap() as u32;
        // consumer -> vpce-web 10.0.1.100:80, translated to node 10.0.1.50
        // port 1234 -> web1 10.0.1.21:8080 (provider VPC, index 1), whose
        // group refuses it.
        let sent = key(0, [10, 0, 1, 10], [10, 0, 1, 100], 40000, 80, PROTO_TCP);
        let seen = key(1, [10, 0, 1, 50], [10, 0, 1, 21], 1234, 8080, PROTO_TCP);
        rejected_after_nat(
            &mut a,
            (0, sent),
            (web1, seen),
            DropReason::TargetIngressSgDeny,
        );
        let endpoint = crate::model::managed_eni_id("vpce-web", "subnet-consumer1");
        let node = crate::model::managed_eni_id("nlb-web", "subnet-provider1");
        assert_eq!(
            super::lines(&a.close(0, 60)),
            [
                "2 123456789012 eni-consumer 10.0.1.10 10.0.1.100 40000 80 6 1 60 0 0 ACCEPT OK"
                    .to_string(),
                "2 123456789012 eni-web1 10.0.1.50 10.0.1.21 1234 8080 6 1 60 0 0 REJECT OK"
                    .to_string(),
                format!("2 unknown {endpoint} 10.0.1.10 10.0.1.100 40000 80 6 1 60 0 0 ACCEPT OK"),
                format!("2 unknown {node} 10.0.1.50 10.0.1.21 1234 8080 6 1 60 0 0 ACCEPT OK"),
            ]
        );
    }

    #[test]
    fn a_link_egress_reject_is_logged_at_the_link_eni_with_the_translated_tuple() {
        let t = shipped("http-vpc-link.toml");
        let mut a = Aggregator::new(Interfaces::of(&t));
        let apigw = t.eni_by_id("eni-apigw").unwrap() as u32;
        let locked = t.eni_by_id("eni-locked").unwrap() as u32;
        let (api, cust) = (
            t.eni_vpc(apigw as usize) as u32,
            t.eni_vpc(locked as usize) as u32,
        );
        // apigw -> int-locked 10.1.1.204:9000 (AWS's side: no record),
        // translated to the link ENI 10.0.1.4 -> 10.0.1.60:9000, which the
        // link's own groups refuse to send.
        let sent = key(api, [10, 1, 1, 20], [10, 1, 1, 204], 40000, 9000, PROTO_TCP);
        let seen = key(cust, [10, 0, 1, 4], [10, 0, 1, 60], 1234, 9000, PROTO_TCP);
        rejected_after_nat(
            &mut a,
            (apigw, sent),
            (locked, seen),
            DropReason::LinkEgressSgDeny,
        );
        let link = crate::model::managed_eni_id("vpclink-http", "subnet-cust1");
        assert_eq!(
            super::lines(&a.close(0, 60)),
            [
                "2 123456789012 eni-apigw 10.1.1.20 10.1.1.204 40000 9000 6 1 60 0 0 ACCEPT OK"
                    .to_string(),
                format!("2 unknown {link} 10.0.1.4 10.0.1.60 1234 9000 6 1 60 0 0 REJECT OK"),
            ]
        );
    }

    #[test]
    fn a_custom_v5_format_fills_the_interface_and_direction_fields_and_dashes_the_rest() {
        let t = shipped("privatelink.toml");
        let format = crate::model::parse_flow_log_format(
            "${version} ${account-id} ${interface-id} ${vpc-id} ${subnet-id} ${instance-id} \
             ${az-id} ${type} ${srcaddr} ${pkt-srcaddr} ${dstport} ${flow-direction} \
             ${traffic-path} ${pkt-dst-aws-service} ${sublocation-id} ${action}",
        )
        .unwrap();
        let mut a = Aggregator::new(Interfaces::of(&t));
        // consumer (ENI 0) -> endpoint ENI 10.0.1.100, sent and rejected by
        // the endpoint's inbound rules: ACCEPT out, REJECT in.
        let k = key(0, [10, 0, 1, 10], [10, 0, 1, 100], 40000, 80, PROTO_TCP);
        a.event(&rej(&k, DropReason::IngressSgDeny, 60));
        let got: Vec<String> = a
            .close(0, 60)
            .iter()
            .map(|r| r.render(&format, "111122223333"))
            .collect();
        let host = crate::model::instance_id("consumer");
        let endpoint = crate::model::managed_eni_id("vpce-web", "subnet-consumer1");
        assert_eq!(
            got,
            [
                format!(
                    "5 111122223333 eni-consumer vpc-consumer subnet-consumer1 {host} use1-az1 \
                     IPv4 10.0.1.10 10.0.1.10 80 egress 1 - - ACCEPT"
                ),
                format!(
                    "5 unknown {endpoint} vpc-consumer subnet-consumer1 - use1-az1 \
                     IPv4 10.0.1.10 10.0.1.10 80 ingress - - - REJECT"
                ),
            ]
        );
        assert_eq!(
            header(&format),
            "version account-id interface-id vpc-id subnet-id instance-id az-id type srcaddr \
             pkt-srcaddr dstport flow-direction traffic-path pkt-dst-aws-service sublocation-id \
             action"
        );
    }

    #[test]
    fn json_lines_carry_the_same_fields_by_name_with_numbers_as_numbers() {
        let t = shipped("privatelink.toml");
        let mut a = Aggregator::new(Interfaces::of(&t));
        let k = key(0, [10, 0, 1, 10], [10, 0, 1, 100], 40000, 80, PROTO_TCP);
        a.event(&rej(&k, DropReason::EgressSgDeny, 60));
        let r = &a.close(10, 70)[0];
        let mut s = FlowLogSettings {
            destination: FlowLogDestination::Stdout,
            interval_s: 60,
            account_id: "111122223333".into(),
            format: crate::model::parse_flow_log_format(
                "${version} ${interface-id} ${srcaddr} ${srcport} ${packets} ${start} \
                 ${flow-direction} ${traffic-path} ${reject-reason}",
            )
            .unwrap(),
            file_format: FlowLogFileFormat::JsonLines,
        };
        assert_eq!(
            r.write_as(&s),
            r#"{"version":8,"interface-id":"eni-consumer","srcaddr":"10.0.1.10","srcport":40000,"packets":1,"start":10,"flow-direction":"egress","traffic-path":"1","reject-reason":"-"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&r.write_as(&s)).unwrap();
        assert_eq!(v["packets"], 1);
        s.file_format = FlowLogFileFormat::PlainText;
        assert_eq!(
            r.write_as(&s),
            "8 eni-consumer 10.0.1.10 40000 1 10 egress 1 -"
        );
    }

    #[test]
    fn http_link_enis_are_listed_once_and_its_implied_parts_not_at_all() {
        // The NLB the integrations imply is the link's ENIs; nlb-orders is
        // the user's own NLB behind the NLB integration.
        assert_eq!(
            managed("http-vpc-link.toml"),
            [
                "eni-01aa0c08b189bc1d2 NlbNode nlb-orders 10.0.1.50",
                "eni-0b01c9bd63b0f0a4d VpcLink vpclink-http 10.0.1.4",
                "eni-0c51634e97982c09c VpcLink vpclink-http 10.0.2.4",
            ]
        );
    }
}

/// A NAT gateway's own interface logs both directions of a flow through
/// it, in and out, as AWS's example "Traffic through a NAT gateway" shows
/// (custom format `interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr`,
/// here with ports, direction and packets): the gateway's private address
/// as its end of the record, the packet's own ends in `pkt-*`; the
/// instance's ENI logs its side with the packet's addresses.
mod nat_gateway {
    use super::super::*;
    use super::{key, new_event};
    use crate::model::{FlowLogField as F, ManagedKind};
    use dataplane_common::{FLOW_F_DNAT, FLOW_F_SNAT, INTERNET_ENI_BASE, INTERNET_VPC, PROTO_TCP};

    /// The entries as the kernel builds them (stages_nat_gateway.rs) for
    /// a TCP flow from ENI number `app` (10.0.2.30:40000) to
    /// 203.0.113.10:8080 through nat-a (203.0.113.50, port 1500): the
    /// flow's key and entry, the reply's key and entry.
    fn through_nat_a(app: u32) -> (FlowKey, FlowEntry, FlowKey, FlowEntry) {
        let (appip, host, eip) = ([10, 0, 2, 30], [203, 0, 113, 10], [203, 0, 113, 50]);
        let entry = |flags, out_vpc, (new_src, new_dst), (sport, dport): (u16, u16), enis| {
            let (src_eni, dst_eni) = enis;
            FlowEntry {
                flags,
                out_vpc,
                new_src,
                new_dst,
                new_sport: sport.to_be_bytes(),
                new_dport: dport.to_be_bytes(),
                src_eni,
                dst_eni,
                nat_gateway: 0,
                ..Default::default()
            }
        };
        (
            key(0, appip, host, 40000, 8080, PROTO_TCP),
            entry(
                FLOW_F_SNAT,
                INTERNET_VPC,
                (eip, host),
                (1500, 8080),
                (app, INTERNET_ENI_BASE),
            ),
            key(INTERNET_VPC, host, eip, 8080, 1500, PROTO_TCP),
            entry(
                FLOW_F_REPLY | FLOW_F_DNAT,
                0,
                (host, appip),
                (8080, 40000),
                (INTERNET_ENI_BASE, app),
            ),
        )
    }

    #[test]
    fn the_gateways_interface_logs_the_gateways_address_and_the_packets() {
        let path = format!("{}/../configs/nat-gateway.toml", env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(&path).unwrap();
        let t = crate::config::parse_str(&src, &path).unwrap();
        let nat = t
            .managed_interfaces()
            .into_iter()
            .find(|m| m.kind == ManagedKind::NatGateway)
            .expect("nat-a's interface");
        assert_eq!(
            (
                nat.owner.as_str(),
                nat.ip,
                t.subnets[nat.subnet].id.as_str()
            ),
            ("nat-a", Ipv4Addr::new(10, 0, 1, 100), "subnet-public")
        );
        let app = t.eni_by_id("eni-app").unwrap() as u32;
        let (fk, f, rk, r) = through_nat_a(app);
        let (f, r) = (super::row(f, (3, 180)), super::row(r, (2, 120)));
        let mut a = Aggregator::new(Interfaces::of(&t));
        a.event(&new_event(&fk));
        super::read(&mut a, &fk, &f, &rk, &r);
        let format = [
            F::InterfaceId,
            F::Srcaddr,
            F::Dstaddr,
            F::PktSrcaddr,
            F::PktDstaddr,
            F::Srcport,
            F::Dstport,
            F::FlowDirection,
            F::Packets,
        ];
        let got: Vec<String> = a
            .close(0, 60)
            .iter()
            .map(|rec| rec.render(&format, "123456789012"))
            .collect();
        let n = &nat.id;
        let mut want = vec![
            "eni-app 10.0.2.30 203.0.113.10 10.0.2.30 203.0.113.10 40000 8080 egress 3".to_string(),
            "eni-app 203.0.113.10 10.0.2.30 203.0.113.10 10.0.2.30 8080 40000 ingress 2".into(),
            format!("{n} 10.0.2.30 10.0.1.100 10.0.2.30 203.0.113.10 40000 8080 ingress 3"),
            format!("{n} 10.0.1.100 203.0.113.10 10.0.1.100 203.0.113.10 1500 8080 egress 3"),
            format!("{n} 203.0.113.10 10.0.1.100 203.0.113.10 10.0.1.100 8080 1500 ingress 2"),
            format!("{n} 10.0.1.100 10.0.2.30 203.0.113.10 10.0.2.30 8080 40000 egress 2"),
        ];
        let mut got = got;
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    /// A reload inserted eni-new before eni-app: app's flow, created
    /// before, still logs at eni-app and at the gateway's interface (the
    /// numbers its entries carry are the lab's, `compile::numbers`).
    #[test]
    fn a_flow_of_before_an_inserted_eni_logs_at_its_own_interfaces() {
        use crate::compile::{EniNumbers, Numbering};
        let path = format!("{}/../configs/nat-gateway.toml", env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(&path).unwrap();
        let before = crate::config::parse_str(&src, &path).unwrap();
        let app_block = "[[eni]]\nid = \"eni-app\"";
        assert!(src.contains(app_block));
        let grown_src = src.replace(
            app_block,
            &format!(
                "[[eni]]\nid = \"eni-new\"\nsubnet = \"subnet-private\"\nip = \"10.0.2.40\"\n\
                 security_groups = [\"sg-app\"]\nhost = \"new\"\n\n{app_block}"
            ),
        );
        let grown = crate::config::parse_str(&grown_src, &path).unwrap();
        let numbers = EniNumbers::assign(
            &grown,
            &EniNumbers::assign(&before, &Default::default()).unwrap(),
        )
        .unwrap();
        let numbering = numbers.numbering(&grown).unwrap();
        // web 0, new 2, app 1; the gateway's interface keeps its number.
        assert_eq!(numbering.enis, [0, 2, 1]);
        assert_eq!(numbering.managed, Numbering::fresh(&before).managed);
        let (fk, f, _, _) = through_nat_a(1);
        let counted = FlowTotals {
            packets: 3,
            bytes: 180,
            ..Default::default()
        };
        let logged = |ifaces: Interfaces| -> Vec<String> {
            let mut a = Aggregator::new(ifaces);
            a.event(&new_event(&fk));
            a.observe(&fk, Some((&f, counted)), None);
            let mut v: Vec<String> = a
                .close(0, 60)
                .iter()
                .map(|rec| rec.render(&[F::InterfaceId, F::FlowDirection, F::Packets], "1"))
                .collect();
            v.sort();
            v
        };
        let n = &grown.managed_interfaces()[0].id;
        let mut want = vec![
            "eni-app egress 3".to_string(),
            format!("{n} ingress 3"),
            format!("{n} egress 3"),
        ];
        want.sort();
        assert_eq!(logged(Interfaces::numbered(&grown, &numbering)), want);
        // Numbered afresh, the same entry would log at eni-new.
        assert_eq!(
            logged(Interfaces::of(&grown))
                .iter()
                .filter(|r| r.starts_with("eni-new"))
                .count(),
            1
        );
    }
}

/// Labs across nodes: each node writes the records of the host ENIs it
/// runs, and a translated flow's managed interfaces are written once, by
/// the node that translates.
mod across_nodes {
    use super::super::*;
    use super::{key, lines, new_event, read, row};
    use crate::model::{Node, Placement};
    use dataplane_common::{FLOW_F_DNAT, FLOW_F_SNAT, PROTO_TCP};

    /// The shipped PrivateLink lab with `consumer` on node n1 and the
    /// targets on n2, as node `local` (0: n1) sees it.
    fn placed(local: usize) -> Topology {
        let path = format!("{}/../configs/privatelink.toml", env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(&path).unwrap();
        let mut t = crate::config::parse_str(&src, &path).unwrap_or_else(|d| panic!("{d}"));
        let node = |id: &str, ip| Node {
            id: id.into(),
            underlay_ip: ip,
            mtu: 1500,
        };
        t.placement = Placement {
            nodes: vec![
                node("n1", Ipv4Addr::new(192, 168, 50, 1)),
                node("n2", Ipv4Addr::new(192, 168, 50, 2)),
            ],
            host_nodes: [
                ("consumer".to_string(), 0),
                ("web1".to_string(), 1),
                ("web2".to_string(), 1),
            ]
            .into(),
            local: Some(local),
        };
        t
    }

    fn entry(flags: u32, out: &FlowKey, src_eni: u32, dst_eni: u32) -> FlowEntry {
        FlowEntry {
            flags,
            out_vpc: out.vpc,
            new_src: out.src,
            new_dst: out.dst,
            new_sport: out.sport,
            new_dport: out.dport,
            src_eni,
            dst_eni,
            ..Default::default()
        }
    }

    #[test]
    fn each_node_logs_its_own_enis_and_the_translating_node_the_managed_ones() {
        let nat = FLOW_F_SNAT | FLOW_F_DNAT;
        let (n1, n2) = (placed(0), placed(1));
        let web1 = n1.eni_by_id("eni-web1").unwrap() as u32;
        let consumer = n1.eni_by_id("eni-consumer").unwrap() as u32;
        // consumer 10.0.1.10 -> endpoint 10.0.1.100:80 on n1, translated
        // there to NLB node 10.0.1.50 port 1234 -> web1 10.0.1.21:8080
        // (provider VPC, index 1) on n2.
        let sent = key(0, [10, 0, 1, 10], [10, 0, 1, 100], 40000, 80, PROTO_TCP);
        let seen = key(1, [10, 0, 1, 50], [10, 0, 1, 21], 1234, 8080, PROTO_TCP);
        let back = key(1, [10, 0, 1, 21], [10, 0, 1, 50], 8080, 1234, PROTO_TCP);
        let home = key(0, [10, 0, 1, 100], [10, 0, 1, 10], 80, 40000, PROTO_TCP);
        // n1: the translation; its forward entry leads into the tunnel.
        let mut a = Aggregator::new(Interfaces::of(&n1));
        a.event(&new_event(&sent));
        let f = row(entry(nat | FLOW_F_TUNNEL, &seen, consumer, web1), (5, 400));
        let r = row(entry(FLOW_F_REPLY | nat, &home, web1, consumer), (4, 3000));
        read(&mut a, &sent, &f, &back, &r);
        let endpoint = crate::model::managed_eni_id("vpce-web", "subnet-consumer1");
        let node = crate::model::managed_eni_id("nlb-web", "subnet-provider1");
        let acc =
            |id: &str, k: &str, n: &str| format!("2 123456789012 {id} {k} 6 {n} 100 100 ACCEPT OK");
        // Managed interfaces' records name no account (AWS: `unknown`).
        let managed =
            |id: &str, k: &str, n: &str| format!("2 unknown {id} {k} 6 {n} 100 100 ACCEPT OK");
        assert_eq!(
            lines(&a.close(100, 160)),
            [
                acc("eni-consumer", "10.0.1.10 10.0.1.100 40000 80", "5 400"),
                acc("eni-consumer", "10.0.1.100 10.0.1.10 80 40000", "4 3000"),
                managed(&endpoint, "10.0.1.10 10.0.1.100 40000 80", "5 400"),
                managed(&endpoint, "10.0.1.100 10.0.1.10 80 40000", "4 3000"),
                managed(&node, "10.0.1.21 10.0.1.50 8080 1234", "4 3000"),
                managed(&node, "10.0.1.50 10.0.1.21 1234 8080", "5 400"),
            ]
        );
        // n2: the flow from the tunnel (sender: the NLB node, no ENI); its
        // reply entry carries the reply back into the tunnel untranslated.
        let mut a = Aggregator::new(Interfaces::of(&n2));
        a.event(&new_event(&seen));
        let f = row(entry(0, &seen, NO_ENI, web1), (5, 400));
        let r = row(
            entry(FLOW_F_REPLY | FLOW_F_TUNNEL, &back, web1, NO_ENI),
            (4, 3000),
        );
        read(&mut a, &seen, &f, &back, &r);
        assert_eq!(
            lines(&a.close(100, 160)),
            [
                acc("eni-web1", "10.0.1.21 10.0.1.50 8080 1234", "4 3000"),
                acc("eni-web1", "10.0.1.50 10.0.1.21 1234 8080", "5 400"),
            ]
        );
    }

    #[test]
    fn a_rejection_decided_here_for_another_nodes_target_is_written_here() {
        let n1 = placed(0);
        let web1 = n1.eni_by_id("eni-web1").unwrap() as u32;
        let mut a = Aggregator::new(Interfaces::of(&n1));
        let seen = key(1, [10, 0, 1, 50], [10, 0, 1, 21], 1234, 8080, PROTO_TCP);
        a.event(&FlowEvent {
            kind: FLOW_EVENT_REJECT_TRANSLATED,
            eni: web1,
            dst_eni: 0,
            reason: DropReason::TargetIngressSgDeny as u32,
            key: seen,
            len: 60,
            tcp_flags: 0,
            _pad: 0,
        });
        let node = crate::model::managed_eni_id("nlb-web", "subnet-provider1");
        assert_eq!(
            lines(&a.close(0, 60)),
            [
                "2 123456789012 eni-web1 10.0.1.50 10.0.1.21 1234 8080 6 1 60 0 0 REJECT OK"
                    .to_string(),
                format!("2 unknown {node} 10.0.1.50 10.0.1.21 1234 8080 6 1 60 0 0 ACCEPT OK"),
            ]
        );
    }
}
