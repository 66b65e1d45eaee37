//! The lab builder: network namespaces and veths for a topology.
//!
//! Wiring (README.md, "The lab"): namespace `<lab>-fabric` holds the
//! fabric end `p<n>` of every ENI's veth (`n` the interface's number,
//! `compile::numbers`: stable for the lab's life); each host gets namespace
//! `<lab>-<host>` holding the host ends `eth0`, `eth1`, ... (its ENIs in
//! topology order) with the ENI's MAC and address; the host's first ENI carries
//! its default route via the subnet's gateway. IPv6 is off in every namespace
//! of the lab so hosts emit no router solicitations or DAD probes.
//!
//! Everything is made inside the lab's own namespaces: each veth pair is
//! created by a netlink socket opened in the fabric namespace, its peer placed
//! straight into the host namespace (`IFLA_NET_NS_FD`), so nothing ever
//! appears in the root namespace.

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr},
    os::fd::AsRawFd,
};

use anyhow::{anyhow, bail, Context, Result};
use futures::TryStreamExt;
use rtnetlink::{
    packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage},
    Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::{compile::Numbering, model::Topology, netns};

pub use ipnet::Ipv4Net;

mod hosts;
mod vxlan;
pub use hosts::{add_hosts, remove_hosts};
pub use vxlan::{TunnelPlan, TUNNEL_DEVICE};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabPlan {
    pub name: String,
    pub fabric_ns: String,
    pub hosts: Vec<HostPlan>,
    /// One per ENI of this node, in ENI order.
    pub ports: Vec<PortPlan>,
    pub mtu: u32,
    /// A lab across nodes: this node's VXLAN device in the fabric, and
    /// the ENIs of other nodes it leads to.
    pub tunnel: Option<TunnelPlan>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPlan {
    pub host: String,
    pub netns: String,
    /// The host's ENIs in topology order: `ifaces[k]` is `eth<k>`.
    pub ifaces: Vec<IfacePlan>,
    /// Default route, via `ifaces[0]`: the gateway of its subnet.
    pub default_gateway: Option<Ipv4Addr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfacePlan {
    /// The port index: into `Topology::enis`, then (from `enis.len()`)
    /// into the internet hosts.
    pub eni: usize,
    /// `eth<k>`.
    pub name: String,
    pub mac: [u8; 6],
    /// The ENI's address with its subnet's prefix length.
    pub addr: Ipv4Net,
    /// The MTU of both ends of its veth: the ENI's `mtu`, else its
    /// subnet's, else `[lab] mtu`.
    pub mtu: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortPlan {
    /// The port index (see `IfacePlan::eni`).
    pub eni: usize,
    /// `p<n>`, in the fabric namespace: `n` is the interface's number
    /// (`compile::Numbering::port`), which never changes once given, so
    /// a lab that gains ENIs renames no port.
    pub name: String,
    pub host_ns: String,
    pub host_iface: String,
}

impl LabPlan {
    /// Every namespace of the lab, fabric first.
    pub fn namespaces(&self) -> Vec<String> {
        std::iter::once(self.fabric_ns.clone())
            .chain(self.hosts.iter().map(|h| h.netns.clone()))
            .collect()
    }

    pub fn host(&self, host: &str) -> Option<&HostPlan> {
        self.hosts.iter().find(|h| h.host == host)
    }

    /// Adds the hosts of `other` (a plan of the same lab) this plan lacks:
    /// what `lab down` removes besides its file's hosts (hosts a reload
    /// added, as an instance launched in a followed account).
    pub fn add_hosts_of(&mut self, other: &LabPlan) {
        for h in &other.hosts {
            if self.host(&h.host).is_none() {
                self.hosts.push(h.clone());
            }
        }
    }

    fn iface(&self, eni: usize) -> Option<(&HostPlan, &IfacePlan)> {
        self.hosts
            .iter()
            .find_map(|h| h.ifaces.iter().find(|i| i.eni == eni).map(|i| (h, i)))
    }
}

/// The namespaces and interfaces `topo` needs, its interfaces numbered
/// afresh (a lab built from `topo` alone). Pure.
pub fn plan(topo: &Topology) -> LabPlan {
    plan_numbered(topo, &Numbering::fresh(topo))
}

/// [`plan`] with the interface numbers `numbering` (a lab whose numbers
/// were given before: the agent's, `Compiled::numbers`). Pure.
pub fn plan_numbered(topo: &Topology, numbering: &Numbering) -> LabPlan {
    let lab = &topo.lab.name;
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    for (host, enis) in topo.hosts() {
        // Another node builds and serves it.
        if !topo.is_local_host(&host) {
            continue;
        }
        let netns = format!("{lab}-{host}");
        let ifaces: Vec<IfacePlan> = enis
            .iter()
            .enumerate()
            .map(|(k, &eni)| {
                let e = &topo.enis[eni];
                let prefix = topo.subnets[e.subnet].cidr.prefix_len();
                IfacePlan {
                    eni,
                    name: format!("eth{k}"),
                    mac: e.mac,
                    addr: Ipv4Net::new(e.ip, prefix).expect("a subnet's prefix length is valid"),
                    mtu: topo.eni_mtu(eni),
                }
            })
            .collect();
        for iface in &ifaces {
            ports.push(PortPlan {
                eni: iface.eni,
                name: format!("p{}", numbering.port(iface.eni)),
                host_ns: netns.clone(),
                host_iface: iface.name.clone(),
            });
        }
        let default_gateway = enis.first().map(|&e| topo.gateway(topo.enis[e].subnet));
        hosts.push(HostPlan {
            host,
            netns,
            ifaces,
            default_gateway,
        });
    }
    // The lab's internet: one host namespace per `[internet]` host, its
    // port after every ENI's (`Topology::port_count`).
    for (k, h) in topo.internet.hosts.iter().enumerate() {
        let netns = format!("{lab}-{}", h.name);
        let port = topo.enis.len() + k;
        let iface = IfacePlan {
            eni: port,
            name: "eth0".into(),
            mac: h.mac,
            addr: Ipv4Net::new(h.ip, h.net().prefix_len()).expect("a /24 is valid"),
            mtu: topo.lab.mtu,
        };
        ports.push(PortPlan {
            eni: port,
            name: format!("p{}", numbering.port(port)),
            host_ns: netns.clone(),
            host_iface: iface.name.clone(),
        });
        hosts.push(HostPlan {
            host: h.name.clone(),
            netns,
            ifaces: vec![iface],
            default_gateway: Some(h.gateway()),
        });
    }
    ports.sort_by_key(|p| p.eni);
    LabPlan {
        name: lab.clone(),
        fabric_ns: format!("{lab}-fabric"),
        hosts,
        ports,
        mtu: topo.lab.mtu,
        tunnel: TunnelPlan::of(topo),
    }
}

/// Builds the lab. Anything left from an earlier `up` of the same plan is torn
/// down first; on failure everything built so far is torn down again.
pub fn up(plan: &LabPlan) -> Result<()> {
    for ns in plan.namespaces() {
        netns::validate_name(&ns).with_context(|| format!("lab {}", plan.name))?;
    }
    down(plan).with_context(|| format!("clearing an earlier instance of lab {}", plan.name))?;
    if let Err(e) = build(plan) {
        if let Err(cleanup) = down(plan) {
            log::warn!("tearing down the half-built lab {}: {cleanup:#}", plan.name);
        }
        return Err(e.context(format!("building lab {}", plan.name)));
    }
    Ok(())
}

/// Removes every namespace of the lab (and with them every veth). Succeeds if
/// none exists.
pub fn down(plan: &LabPlan) -> Result<()> {
    let mut first_err = None;
    // Hosts first, then the fabric: either way every veth pair goes with it.
    for ns in plan.namespaces().iter().rev() {
        if let Err(e) = netns::delete(ns) {
            log::warn!("{e:#}");
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        None => Ok(()),
        Some(e) => Err(e.context(format!("tearing down lab {}", plan.name))),
    }
}

/// The hosts' veths (as "NAMESPACE IFACE") whose TX checksum offload is
/// on: host TCP and UDP through an XDP fabric fail their checksums there
/// (an XDP redirect cannot carry a partial checksum).
pub fn tx_offload_on(plan: &LabPlan) -> Result<Vec<String>> {
    let mut on = Vec::new();
    for p in &plan.ports {
        if netns::tx_checksum(&p.host_ns, &p.host_iface)? {
            on.push(format!("{} {}", p.host_ns, p.host_iface));
        }
    }
    Ok(on)
}

/// Turns TX checksum offload off on every host veth of the lab (for the
/// XDP hook); returns them as "NAMESPACE IFACE".
pub fn tx_offload_off(plan: &LabPlan) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for p in &plan.ports {
        netns::set_tx_checksum(&p.host_ns, &p.host_iface, false)?;
        done.push(format!("{} {}", p.host_ns, p.host_iface));
    }
    Ok(done)
}

/// The namespace of `host` in the lab, or an error naming the lab's hosts.
pub fn host_netns<'a>(plan: &'a LabPlan, host: &str) -> Result<&'a str> {
    plan.host(host).map(|h| h.netns.as_str()).ok_or_else(|| {
        let names: Vec<&str> = plan.hosts.iter().map(|h| h.host.as_str()).collect();
        anyhow!(
            "lab {} has no host {host:?}; its hosts are: {}",
            plan.name,
            names.join(", ")
        )
    })
}

/// Replaces this process with `cmd` run inside namespace `ns`, as `ip netns
/// exec` does: stdio, PID and signals are the command's. Returns only on
/// failure. Call it from a single-threaded process (it unshares the mount
/// namespace).
pub fn exec_in(ns: &str, cmd: &[String]) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    match netns::command(ns, cmd) {
        Ok((mut command, ns_file)) => {
            let err = command.exec();
            drop(ns_file);
            anyhow::Error::new(err).context(format!("running {:?} in {ns}", cmd.join(" ")))
        }
        Err(e) => e,
    }
}

/// `(eni, ifindex of p<eni> in the fabric namespace)` for every port, in ENI order.
/// The ENIs of other nodes have the VXLAN device's.
pub fn fabric_ifindexes(plan: &LabPlan) -> Result<Vec<(usize, u32)>> {
    let mut names: Vec<(usize, String)> =
        plan.ports.iter().map(|p| (p.eni, p.name.clone())).collect();
    if let Some(t) = &plan.tunnel {
        names.extend(
            t.remote_enis
                .iter()
                .map(|&e| (e, TUNNEL_DEVICE.to_string())),
        );
    }
    let fabric = plan.fabric_ns.clone();
    with_netlink(&plan.fabric_ns, move |handle| async move {
        let links = link_indexes(&handle).await?;
        names
            .into_iter()
            .map(|(eni, name)| {
                links
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|&(_, idx)| (eni, idx))
                    .ok_or_else(|| anyhow!("no interface {name} in namespace {fabric}"))
            })
            .collect()
    })
}

/// The ifindex of ENI `eni`'s host end, inside its host namespace.
pub fn host_ifindex(plan: &LabPlan, eni: usize) -> Result<u32> {
    let (host, iface) = plan
        .iface(eni)
        .ok_or_else(|| anyhow!("lab {} has no ENI {eni}", plan.name))?;
    let name = iface.name.clone();
    let ns = host.netns.clone();
    with_netlink(&host.netns, move |handle| async move {
        link_index(&handle, &name)
            .await
            .with_context(|| format!("interface {name} in namespace {ns}"))
    })
}

fn build(plan: &LabPlan) -> Result<()> {
    netns::create(&plan.fabric_ns)?;
    prepare_namespace(&plan.fabric_ns)?;
    let all: Vec<String> = plan.hosts.iter().map(|h| h.host.clone()).collect();
    build_hosts(plan, &all)?;
    if let Some(t) = &plan.tunnel {
        vxlan::create(&plan.fabric_ns, t)?;
    }
    Ok(())
}

/// Builds hosts `names` of `plan` into its fabric (which exists): their
/// namespaces, the veth of each of their ports (the fabric end `p<n>`),
/// addresses and default routes.
fn build_hosts(plan: &LabPlan, names: &[String]) -> Result<()> {
    let hosts: Vec<&HostPlan> = plan
        .hosts
        .iter()
        .filter(|h| names.contains(&h.host))
        .collect();
    for host in &hosts {
        netns::create(&host.netns)?;
        prepare_namespace(&host.netns)?;
    }

    // Veth pairs: made in the fabric namespace, the peer born in the host's.
    let mut ports = Vec::new();
    for port in plan
        .ports
        .iter()
        .filter(|p| hosts.iter().any(|h| h.netns == p.host_ns))
    {
        let (_, iface) = plan
            .iface(port.eni)
            .ok_or_else(|| anyhow!("port {} has no host interface in the plan", port.name))?;
        ports.push((
            port.clone(),
            iface.mac,
            iface.mtu,
            netns::open(&port.host_ns)?,
        ));
    }
    let fabric = plan.fabric_ns.clone();
    with_netlink(&plan.fabric_ns, move |handle| async move {
        for (port, mac, mtu, host_ns) in ports {
            let peer = LinkMessageBuilder::<LinkUnspec>::new()
                .name(port.host_iface.clone())
                .address(mac.to_vec())
                .mtu(mtu)
                .setns_by_fd(host_ns.as_raw_fd())
                .build();
            let veth = LinkVeth::new(&port.name, &port.host_iface)
                .mtu(mtu)
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .build();
            handle.link().add(veth).execute().await.with_context(|| {
                format!(
                    "creating veth {}@{fabric} <-> {}@{} (mtu {mtu})",
                    port.name, port.host_iface, port.host_ns
                )
            })?;
            drop(host_ns);
            let idx = link_index(&handle, &port.name).await?;
            set_up(&handle, idx)
                .await
                .with_context(|| format!("setting {} up in {fabric}", port.name))?;
        }
        Ok(())
    })?;

    for host in hosts {
        let host = host.clone();
        with_netlink(&host.netns.clone(), move |handle| async move {
            for (k, iface) in host.ifaces.iter().enumerate() {
                let what = format!("interface {} in namespace {}", iface.name, host.netns);
                // Already off through `default`; explicit, in case it was not.
                write_sysctl_if_ipv6(&format!("ipv6/conf/{}/disable_ipv6", iface.name), "1")
                    .with_context(|| what.clone())?;
                let idx = link_index(&handle, &iface.name)
                    .await
                    .with_context(|| what.clone())?;
                set_up(&handle, idx)
                    .await
                    .with_context(|| format!("setting {what} up"))?;
                handle
                    .address()
                    .add(idx, IpAddr::V4(iface.addr.addr()), iface.addr.prefix_len())
                    .execute()
                    .await
                    .with_context(|| format!("adding address {} to {what}", iface.addr))?;
                if k == 0 {
                    if let Some(gw) = host.default_gateway {
                        let route = RouteMessageBuilder::<Ipv4Addr>::new()
                            .destination_prefix(Ipv4Addr::UNSPECIFIED, 0)
                            .gateway(gw)
                            .output_interface(idx)
                            .build();
                        handle
                            .route()
                            .add(route)
                            .execute()
                            .await
                            .with_context(|| format!("adding default route via {gw} on {what}"))?;
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// IPv6 off (before any veth arrives, so new interfaces inherit it) and `lo` up.
/// `ns` must be freshly created (only `lo` in it).
fn prepare_namespace(ns: &str) -> Result<()> {
    let name = ns.to_string();
    with_netlink(ns, move |handle| async move {
        // The sysctl writes below go to the namespace that /proc/sys/net shows
        // this thread: make sure it is the new one, never the caller's.
        let links = link_indexes(&handle).await?;
        let view = sysctl_conf_names()?;
        if links.len() != 1 || links[0].0 != "lo" || view != ["all", "default", "lo"] {
            bail!(
                "namespace {name} is not fresh, or /proc/sys/net does not show it \
                 (interfaces {links:?}, /proc/sys/net/ipv4/conf {view:?}): refusing to write sysctls"
            );
        }
        for key in [
            "ipv6/conf/all/disable_ipv6",
            "ipv6/conf/default/disable_ipv6",
        ] {
            write_sysctl_if_ipv6(key, "1").with_context(|| format!("namespace {name}"))?;
        }
        let lo = link_index(&handle, "lo").await?;
        set_up(&handle, lo)
            .await
            .with_context(|| format!("setting lo up in {name}"))
    })
}

/// The entries of `/proc/sys/net/ipv4/conf` as this thread sees them, sorted.
fn sysctl_conf_names() -> Result<Vec<String>> {
    let dir = "/proc/sys/net/ipv4/conf";
    let mut names = std::fs::read_dir(dir)
        .with_context(|| format!("listing {dir}"))?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("listing {dir}"))?;
    names.sort();
    Ok(names)
}

/// Writes an IPv6 sysctl; a kernel without IPv6 has nothing to disable.
fn write_sysctl_if_ipv6(key: &str, value: &str) -> Result<()> {
    if !std::path::Path::new("/proc/sys/net/ipv6").exists() {
        return Ok(());
    }
    netns::write_net_sysctl(key, value)
}

/// Runs `f` with a netlink handle whose socket lives in namespace `ns`, on a
/// thread inside it with its own single-threaded runtime.
pub(crate) fn with_netlink<T, F, Fut>(ns: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    let ns_name = ns.to_string();
    netns::run_in(ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("starting a tokio runtime for netlink")?;
        rt.block_on(async move {
            let (conn, handle, _) = rtnetlink::new_connection()
                .with_context(|| format!("opening a netlink socket in namespace {ns_name}"))?;
            let conn = tokio::spawn(conn);
            let out = f(handle).await;
            conn.abort();
            out
        })
    })
}

pub(crate) async fn set_up(handle: &Handle, index: u32) -> Result<()> {
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await?;
    Ok(())
}

pub(crate) async fn link_index(handle: &Handle, name: &str) -> Result<u32> {
    let msg: Option<LinkMessage> = handle
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
        .with_context(|| format!("looking up interface {name}"))?;
    match msg {
        Some(m) => Ok(m.header.index),
        None => bail!("no interface {name}"),
    }
}

async fn link_indexes(handle: &Handle) -> Result<Vec<(String, u32)>> {
    let links: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .context("listing interfaces")?;
    Ok(links
        .into_iter()
        .filter_map(|m| {
            m.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some((n.clone(), m.header.index)),
                _ => None,
            })
        })
        .collect())
}

/// A small HTTP server (Python) for lab hosts that answers with, and logs,
/// the peer address it saw. Run it as
/// `python3 -c PEER_HTTP_SERVER BIND_IP PORT NAME`.
pub const PEER_HTTP_SERVER: &str = include_str!("../assets/peer_http.py");

/// Writes an nginx config for an API host that listens on `listen` and
/// proxies to `upstream` (e.g. a REST VPC link's endpoint), with its pid,
/// logs and temp files under `dir`; returns the config's path. Run it with
/// `nginx -c PATH` inside the host.
pub fn nginx_config(
    dir: &std::path::Path,
    listen: std::net::SocketAddr,
    upstream: std::net::SocketAddr,
) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let conf = include_str!("../assets/apigw-nginx.conf")
        .replace("@LISTEN@", &listen.to_string())
        .replace("@UPSTREAM@", &upstream.to_string())
        .replace("@DIR@", &dir.display().to_string());
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Waits until something in `host` accepts TCP connections on `addr`
/// (checked from inside the host, so the probe never crosses the fabric).
pub fn wait_listening(
    plan: &LabPlan,
    host: &str,
    addr: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> Result<()> {
    let h = plan
        .host(host)
        .ok_or_else(|| anyhow!("lab {} has no host {host:?}", plan.name))?;
    netns::run_in(&h.netns, move || {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200))
                .is_ok()
            {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                bail!("nothing listens on {addr} after {timeout:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    })
    .with_context(|| format!("waiting for a listener in host {host}"))
}

#[cfg(test)]
mod tests {
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
            err.starts_with(&format!("adding hosts new, bad to lab {}", p.name))
                && err.contains("p5"),
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
}
