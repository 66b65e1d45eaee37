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
    let place = format!("namespace {ns}");
    netns::run_in(ns, move || netlink_session(&place, f))
}

/// Runs `f` with a netlink handle whose socket lives in this thread's
/// namespace (`place` names it in errors), on a single-threaded runtime
/// of its own.
pub(crate) fn netlink_session<T, F, Fut>(place: &str, f: F) -> Result<T>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("starting a tokio runtime for netlink")?;
    rt.block_on(async move {
        let (conn, handle, _) = rtnetlink::new_connection()
            .with_context(|| format!("opening a netlink socket in {place}"))?;
        let conn = tokio::spawn(conn);
        let out = f(handle).await;
        conn.abort();
        out
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
mod tests;
