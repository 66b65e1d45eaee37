use super::*;
use crate::model::test_support::{subnet, vpc};
use crate::model::{default_mac, Eni, Hook, LabSettings, Topology};

/// Two VPCs; host `db` has two ENIs in two subnets, hosts appear interleaved.
fn two_vpc_topology(name: &str) -> Topology {
    let eni = |id: &str, subnet: usize, vpc: usize, ip: &str, host: &str| {
        let ip: Ipv4Addr = ip.parse().unwrap();
        Eni {
            id: id.into(),
            subnet,
            ip,
            mac: default_mac(vpc, ip),
            security_groups: vec![],
            host: host.into(),
            mtu: None,
        }
    };
    let mut topo = Topology {
        vpcs: vec![vpc("vpc-a", "10.0.0.0/16"), vpc("vpc-b", "10.1.0.0/16")],
        subnets: vec![
            subnet("a-1", 0, "10.0.1.0/24", "az1"),
            subnet("b-1", 1, "10.1.1.0/24", "az1"),
            subnet("b-2", 1, "10.1.2.0/25", "az2"),
        ],
        security_groups: vec![],
        enis: vec![
            eni("eni-web", 0, 0, "10.0.1.10", "web"),
            eni("eni-db1", 1, 1, "10.1.1.20", "db"),
            eni("eni-cli", 0, 0, "10.0.1.11", "cli"),
            eni("eni-db2", 2, 1, "10.1.2.30", "db"),
        ],
        ..Topology::empty(LabSettings::new(name, Hook::Tc, 1500))
    };
    // MTUs: the lab's 1500, subnets b-1 and b-2 9000, eni-db2's own 1280.
    topo.subnets[1].mtu = Some(9000);
    topo.subnets[2].mtu = Some(9000);
    topo.enis[3].mtu = Some(1280);
    topo
}

#[test]
fn plan_names_addresses_and_gateways() {
    let topo = two_vpc_topology("lab1");
    let p = plan(&topo);
    assert_eq!(p.name, "lab1");
    assert_eq!(p.fabric_ns, "lab1-fabric");
    assert_eq!(p.mtu, 1500);
    assert_eq!(
        p.namespaces(),
        ["lab1-fabric", "lab1-web", "lab1-db", "lab1-cli"]
    );

    let hosts: Vec<&str> = p.hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(hosts, ["web", "db", "cli"]);

    let db = p.host("db").unwrap();
    assert_eq!(db.netns, "lab1-db");
    assert_eq!(
        db.ifaces,
        vec![
            IfacePlan {
                eni: 1,
                name: "eth0".into(),
                mac: topo.enis[1].mac,
                addr: "10.1.1.20/24".parse().unwrap(),
                // Its subnet's MTU.
                mtu: 9000,
            },
            IfacePlan {
                eni: 3,
                name: "eth1".into(),
                mac: topo.enis[3].mac,
                addr: "10.1.2.30/25".parse().unwrap(),
                // Its own MTU, over its subnet's.
                mtu: 1280,
            },
        ]
    );
    // Default route only through the first ENI's subnet gateway.
    assert_eq!(db.default_gateway, Some("10.1.1.1".parse().unwrap()));

    let web = p.host("web").unwrap();
    assert_eq!(web.ifaces.len(), 1);
    assert_eq!(web.ifaces[0].name, "eth0");
    assert_eq!(web.ifaces[0].addr, "10.0.1.10/24".parse().unwrap());
    // Neither its own nor its subnet's: the lab's.
    assert_eq!(web.ifaces[0].mtu, 1500);
    assert_eq!(web.default_gateway, Some("10.0.1.1".parse().unwrap()));
    assert_eq!(p.host("cli").unwrap().ifaces[0].eni, 2);
}

#[test]
fn plan_puts_internet_hosts_behind_the_fabric_after_the_enis() {
    let mut topo = two_vpc_topology("lab1");
    topo.internet.hosts = vec![crate::model::InternetHost {
        name: "example".into(),
        ip: "203.0.113.10".parse().unwrap(),
        mac: [6, 0, 203, 0, 113, 10],
    }];
    let p = plan(&topo);
    assert_eq!(
        p.namespaces(),
        [
            "lab1-fabric",
            "lab1-web",
            "lab1-db",
            "lab1-cli",
            "lab1-example"
        ]
    );
    let h = p.host("example").unwrap();
    assert_eq!(
        h.ifaces,
        vec![IfacePlan {
            eni: 4,
            name: "eth0".into(),
            mac: [6, 0, 203, 0, 113, 10],
            addr: "203.0.113.10/24".parse().unwrap(),
            mtu: 1500,
        }]
    );
    assert_eq!(h.default_gateway, Some("203.0.113.1".parse().unwrap()));
    let last = p.ports.last().unwrap();
    assert_eq!(
        (last.eni, last.name.as_str(), last.host_ns.as_str()),
        // Internet hosts number from their own range: an added ENI
        // renames no port.
        (4, "p64512", "lab1-example")
    );
}

#[test]
fn plan_names_ports_by_their_numbers_so_an_inserted_eni_renames_none() {
    let topo = two_vpc_topology("x");
    let before = crate::compile::EniNumbers::assign(&topo, &Default::default()).unwrap();
    // eni-new inserted second, on a new host.
    let mut grown = topo.clone();
    let mut new = topo.enis[0].clone();
    (new.id, new.host, new.ip) = ("eni-new".into(), "new".into(), "10.0.1.12".parse().unwrap());
    grown.enis.insert(1, new);
    let numbers = crate::compile::EniNumbers::assign(&grown, &before).unwrap();
    let p = plan_numbered(&grown, &numbers.numbering(&grown).unwrap());
    let ports: Vec<(usize, &str, &str)> = p
        .ports
        .iter()
        .map(|q| (q.eni, q.name.as_str(), q.host_ns.as_str()))
        .collect();
    assert_eq!(
        ports,
        [
            (0, "p0", "x-web"),
            (1, "p4", "x-new"),
            (2, "p1", "x-db"),
            (3, "p2", "x-cli"),
            (4, "p3", "x-db"),
        ]
    );
    // Afresh, the same topology would have renamed three ports.
    let fresh: Vec<String> = plan(&grown).ports.into_iter().map(|q| q.name).collect();
    assert_eq!(fresh, ["p0", "p1", "p2", "p3", "p4"]);
}

#[test]
fn plan_ports_in_eni_order() {
    let p = plan(&two_vpc_topology("x"));
    let ports: Vec<(usize, &str, &str, &str)> = p
        .ports
        .iter()
        .map(|q| {
            (
                q.eni,
                q.name.as_str(),
                q.host_ns.as_str(),
                q.host_iface.as_str(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            (0, "p0", "x-web", "eth0"),
            (1, "p1", "x-db", "eth0"),
            (2, "p2", "x-cli", "eth0"),
            (3, "p3", "x-db", "eth1"),
        ]
    );
}

#[test]
fn exec_unknown_host_lists_hosts() {
    let p = plan(&two_vpc_topology("x"));
    let err = host_netns(&p, "nope").unwrap_err().to_string();
    assert_eq!(
        err,
        "lab x has no host \"nope\"; its hosts are: web, db, cli"
    );
    assert_eq!(host_netns(&p, "db").unwrap(), "x-db");
    assert!(host_ifindex(&p, 9).is_err());
}

#[test]
fn down_of_a_lab_that_does_not_exist_succeeds() {
    // Touches nothing: no namespace of this name exists.
    let p = plan(&two_vpc_topology(&format!("hlnone{}", std::process::id())));
    assert!(p.namespaces().iter().all(|n| !netns::exists(n)));
    down(&p).unwrap();
}

// ---- root tests: real namespaces, cleaned up by `Guard` even on failure ----

use rtnetlink::packet_route::{
    address::AddressAttribute,
    link::LinkFlags,
    route::{RouteAddress, RouteAttribute},
};

/// Tears the lab down when the test ends, however it ends.
struct Guard(LabPlan);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = down(&self.0) {
            eprintln!("cleanup of lab {}: {e:#}", self.0.name);
        }
    }
}

fn lab_name(tag: &str) -> String {
    format!("hlt{}{tag}", std::process::id())
}

#[derive(Debug)]
struct LinkInfo {
    index: u32,
    mac: Vec<u8>,
    mtu: u32,
    up: bool,
    addrs: Vec<(IpAddr, u8)>,
}

/// (destination, prefix length, gateway, output ifindex).
type RouteInfo = (Option<Ipv4Addr>, u8, Option<Ipv4Addr>, Option<u32>);

#[derive(Debug)]
struct NsState {
    links: Vec<(String, LinkInfo)>,
    /// (destination, prefix length, gateway, output ifindex), main table.
    routes: Vec<RouteInfo>,
    ipv6_disabled: (String, String),
}

impl NsState {
    fn link(&self, name: &str) -> &LinkInfo {
        &self
            .links
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.links))
            .1
    }
}

fn read_ns(ns: &str) -> NsState {
    with_netlink(ns, |handle| async move {
        let mut links = Vec::new();
        let msgs: Vec<LinkMessage> = handle.link().get().execute().try_collect().await?;
        for m in msgs {
            let mut name = String::new();
            let mut mac = Vec::new();
            let mut mtu = 0;
            for a in &m.attributes {
                match a {
                    LinkAttribute::IfName(n) => name = n.clone(),
                    LinkAttribute::Address(a) => mac = a.clone(),
                    LinkAttribute::Mtu(v) => mtu = *v,
                    _ => {}
                }
            }
            let addrs: Vec<_> = handle
                .address()
                .get()
                .set_link_index_filter(m.header.index)
                .execute()
                .try_collect()
                .await?;
            let addrs = addrs
                .into_iter()
                .filter_map(|a| {
                    a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Address(ip) => Some((*ip, a.header.prefix_len)),
                        _ => None,
                    })
                })
                .collect();
            links.push((
                name,
                LinkInfo {
                    index: m.header.index,
                    mac,
                    mtu,
                    up: m.header.flags.contains(LinkFlags::Up),
                    addrs,
                },
            ));
        }
        let msgs: Vec<_> = handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await?;
        let routes = msgs
            .into_iter()
            .filter(|r| r.header.table == 254)
            .map(|r| {
                let (mut dst, mut gw, mut oif) = (None, None, None);
                for a in &r.attributes {
                    match a {
                        RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = Some(*d),
                        RouteAttribute::Gateway(RouteAddress::Inet(g)) => gw = Some(*g),
                        RouteAttribute::Oif(i) => oif = Some(*i),
                        _ => {}
                    }
                }
                (dst, r.header.destination_prefix_length, gw, oif)
            })
            .collect();
        let ipv6_disabled = (
            netns::read_net_sysctl("ipv6/conf/all/disable_ipv6")?,
            netns::read_net_sysctl("ipv6/conf/default/disable_ipv6")?,
        );
        Ok(NsState {
            links,
            routes,
            ipv6_disabled,
        })
    })
    .unwrap()
}

fn root_link_names() -> Vec<String> {
    let names = std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        rt.block_on(async {
            let (conn, handle, _) = rtnetlink::new_connection().unwrap();
            tokio::spawn(conn);
            link_indexes(&handle).await.unwrap()
        })
    })
    .join()
    .unwrap();
    names.into_iter().map(|(n, _)| n).collect()
}

fn check_lab(p: &LabPlan, topo: &Topology) {
    for ns in p.namespaces() {
        assert!(netns::exists(&ns), "{ns} missing");
    }

    let fabric = read_ns(&p.fabric_ns);
    assert_eq!(fabric.ipv6_disabled, ("1".into(), "1".into()));
    assert!(fabric.link("lo").up);
    let fabric_idx = fabric_ifindexes(p).unwrap();
    assert_eq!(
        fabric_idx.iter().map(|x| x.0).collect::<Vec<_>>(),
        (0..topo.enis.len()).collect::<Vec<_>>()
    );
    // lo and the ports, nothing else.
    assert_eq!(fabric.links.len(), p.ports.len() + 1, "{:?}", fabric.links);
    for ((eni, idx), port) in fabric_idx.iter().zip(&p.ports) {
        let l = fabric.link(&port.name);
        assert_eq!(l.index, *idx);
        assert_eq!(l.mtu, p.iface(*eni).unwrap().1.mtu);
        assert!(l.up, "{} down", port.name);
        assert!(
            l.addrs.is_empty(),
            "{} has addresses {:?}",
            port.name,
            l.addrs
        );
    }

    for host in &p.hosts {
        let st = read_ns(&host.netns);
        assert_eq!(st.ipv6_disabled, ("1".into(), "1".into()), "{}", host.netns);
        assert!(st.link("lo").up);
        // lo, plus one interface per ENI and nothing else.
        assert_eq!(st.links.len(), host.ifaces.len() + 1, "{:?}", st.links);
        for (k, iface) in host.ifaces.iter().enumerate() {
            let l = st.link(&format!("eth{k}"));
            assert_eq!(l.mac, topo.enis[iface.eni].mac.to_vec());
            assert_eq!(l.mtu, iface.mtu);
            assert!(l.up);
            // Exactly the ENI's address: no IPv6 link-local either.
            assert_eq!(
                l.addrs,
                [(IpAddr::V4(topo.enis[iface.eni].ip), iface.addr.prefix_len())]
            );
            assert_eq!(host_ifindex(p, iface.eni).unwrap(), l.index);
            // The subnet route came with the address.
            let subnet = topo.subnets[topo.enis[iface.eni].subnet].cidr;
            assert!(
                st.routes.iter().any(|r| r.0 == Some(subnet.network())
                    && r.1 == subnet.prefix_len()
                    && r.3 == Some(l.index)),
                "{:?}",
                st.routes
            );
        }
        let defaults: Vec<_> = st.routes.iter().filter(|r| r.1 == 0).collect();
        let eth0 = st.link("eth0").index;
        assert_eq!(
            defaults,
            [&(None, 0, host.default_gateway, Some(eth0))],
            "{}",
            host.netns
        );
    }
}

fn argv(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

#[test]
#[ignore = "needs root"]
fn root_lab_up_exec_down() {
    let topo = two_vpc_topology(&lab_name("a"));
    let p = plan(&topo);
    let _guard = Guard(p.clone());
    let root_before = root_link_names();
    let root_v6 = std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6").unwrap();

    up(&p).unwrap();
    check_lab(&p, &topo);
    // Idempotent: a second `up` rebuilds the same lab.
    up(&p).unwrap();
    check_lab(&p, &topo);

    // Nothing was made in, or changed about, the root namespace.
    assert_eq!(root_link_names(), root_before);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6").unwrap(),
        root_v6
    );

    // What `lab exec` runs, as a child here (it replaces its process).
    let exec = |p: &LabPlan, host: &str, cmd: &[String]| {
        let (mut c, ns) = netns::command(host_netns(p, host)?, cmd)?;
        let status = c.status();
        drop(ns);
        anyhow::Ok(status?)
    };
    let ok = exec(&p, "db", &argv(&["ip", "-br", "addr"])).unwrap();
    assert_eq!(ok.code(), Some(0));
    assert_eq!(exec(&p, "web", &argv(&["true"])).unwrap().code(), Some(0));
    assert_eq!(exec(&p, "web", &argv(&["false"])).unwrap().code(), Some(1));
    // The command sees its namespace, /sys included (as under `ip netns exec`).
    let sees = argv(&[
        "sh",
        "-c",
        "test -e /sys/class/net/eth1 && ip -4 -o addr show dev eth1 | grep -q 10.1.2.30/25",
    ]);
    assert_eq!(exec(&p, "db", &sees).unwrap().code(), Some(0));
    assert_eq!(exec(&p, "web", &sees).unwrap().code(), Some(1));
    // The caller's own /sys is untouched.
    assert!(!std::path::Path::new("/sys/class/net/p0").exists());
    assert!(exec(&p, "db", &argv(&["/nonexistent/cmd"])).is_err());

    down(&p).unwrap();
    for ns in p.namespaces() {
        assert!(!netns::exists(&ns), "{ns} left behind");
    }
    // And again: nothing to remove is fine.
    down(&p).unwrap();
    assert!(fabric_ifindexes(&p).is_err());
}

#[test]
#[ignore = "needs root"]
fn root_hosts_added_to_a_running_lab_are_built_like_up_and_a_failed_add_leaves_nothing() {
    let topo = two_vpc_topology(&lab_name("d"));
    let p = plan(&topo);
    let _guard = Guard(p.clone());
    up(&p).unwrap();
    // Host `new` (one ENI) inserted second, and host `bad` whose MTU
    // no veth takes.
    let mut grown = topo.clone();
    let mut new = topo.enis[0].clone();
    (new.id, new.host, new.ip) = ("eni-new".into(), "new".into(), "10.0.1.12".parse().unwrap());
    grown.enis.insert(1, new.clone());
    (new.id, new.host, new.ip, new.mtu) = (
        "eni-bad".into(),
        "bad".into(),
        "10.0.1.13".parse().unwrap(),
        Some(10),
    );
    grown.enis.push(new);
    let numbers = crate::compile::EniNumbers::assign(
        &grown,
        &crate::compile::EniNumbers::assign(&topo, &Default::default()).unwrap(),
    )
    .unwrap();
    let g = plan_numbered(&grown, &numbers.numbering(&grown).unwrap());
    let _guard_grown = Guard(g.clone());
    let before = fabric_ifindexes(&p).unwrap();

    // A failed add: an error naming the host and its port, nothing left.
    let err = format!(
        "{:#}",
        add_hosts(&g, &["new".into(), "bad".into()]).unwrap_err()
    );
    assert!(
        err.starts_with(&format!("adding hosts new, bad to lab {}", p.name)) && err.contains("p5"),
        "{err}"
    );
    for ns in [&g.host("new").unwrap().netns, &g.host("bad").unwrap().netns] {
        assert!(!netns::exists(ns), "{ns} left behind");
    }
    // The fabric ends go with their namespaces (the kernel frees them
    // when the namespace goes): poll.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while read_ns(&p.fabric_ns).links.len() != p.ports.len() + 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            read_ns(&p.fabric_ns).links
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    check_lab(&p, &topo);
    assert_eq!(fabric_ifindexes(&p).unwrap(), before);

    // Host `new` alone: built as `up` builds it, its port p4; the
    // ports of before keep their names and ifindexes.
    grown.enis.pop();
    let g = plan_numbered(&grown, &numbers.numbering(&grown).unwrap());
    add_hosts(&g, &["new".into()]).unwrap();
    check_lab(&g, &grown);
    let after = fabric_ifindexes(&g).unwrap();
    assert_eq!(g.ports[1].name, "p4");
    assert_eq!(
        [after[0], after[2], after[3], after[4]]
            .map(|(_, i)| i)
            .to_vec(),
        before.iter().map(|&(_, i)| i).collect::<Vec<_>>()
    );
    // A host that is there already is refused, and changes nothing.
    let err = add_hosts(&g, &["new".into()]).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "lab {} has host new already (namespace {}-new)",
            p.name, p.name
        )
    );
    check_lab(&g, &grown);
    remove_hosts(&g, &["new".into()]).unwrap();
    assert!(!netns::exists(&g.host("new").unwrap().netns));
    down(&g).unwrap();
}

#[test]
#[ignore = "needs root"]
fn root_lab_failed_up_rolls_back() {
    let mut topo = two_vpc_topology(&lab_name("b"));
    topo.lab.mtu = 10; // below the minimum: the first veth fails
    let p = plan(&topo);
    let _guard = Guard(p.clone());
    let err = format!("{:#}", up(&p).unwrap_err());
    eprintln!("expected error: {err}");
    assert!(err.contains("p0") && err.contains(&p.fabric_ns), "{err}");
    for ns in p.namespaces() {
        assert!(!netns::exists(&ns), "{ns} left behind");
    }
}

#[test]
#[ignore = "needs root"]
fn root_lab_proc_sys_net_follows_the_thread() {
    // Read-only: a fresh namespace's /proc/sys/net shows only its own `lo`.
    let ns = format!("{}-probe", lab_name("c"));
    struct NsGuard(String);
    impl Drop for NsGuard {
        fn drop(&mut self) {
            let _ = netns::delete(&self.0);
        }
    }
    netns::create(&ns).unwrap();
    let _g = NsGuard(ns.clone());
    let inside = netns::run_in(&ns, sysctl_conf_names).unwrap();
    assert_eq!(inside, ["all", "default", "lo"]);
    netns::delete(&ns).unwrap();
    assert!(!netns::exists(&ns));
}
