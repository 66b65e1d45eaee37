//! The lab that part 1's route-table and network-ACL rows share
//! (`routes.rs`, `nacl.rs`): a client and a server in two subnets of one
//! VPC (tests/fixtures/bench-two-subnets.toml), an established TCP flow
//! between them, and the loop that times one frame of it on one hook.

use anyhow::Result;
use dataplane::{loader::LoadOptions, model::Hook, netns};
use dataplane_common::GATEWAY_MAC;
use hyperlab_tests::{pkt, topology, Fixture, Outcome, Verdict};

use super::{
    kernel::{hook_name, record, Samples},
    report::{Check, Row},
    stats::ratios,
    testrun::{call, Program},
    Section, Sizes,
};

/// The lab; `@EXTRA@` is the TOML a part adds (its route table, its ACLs).
const TOPO: &str = include_str!("../../tests/fixtures/bench-two-subnets.toml");

/// [`TOPO`] with `extra` in place of `@EXTRA@`.
pub fn topo(extra: &str) -> String {
    TOPO.replace("@EXTRA@", extra)
}

/// The lab up (TC, flows never swept during a run) with the bench flow's
/// frames, and the samples taken so far.
pub struct TwoSubnets {
    pub fx: Fixture,
    name: String,
    client: ([u8; 6], std::net::Ipv4Addr, u32),
    server: ([u8; 6], std::net::Ipv4Addr, u32),
    ns: String,
    /// The established ACK client -> server, and what the server receives.
    pub ack: Vec<u8>,
    pub want: Vec<u8>,
    samples: Samples,
}

impl TwoSubnets {
    /// The lab of `toml` (a [`topo`]), its lab name from `prefix`.
    pub fn new(toml: &str, prefix: &str) -> TwoSubnets {
        let fx = Fixture::with_options(
            toml,
            prefix,
            Hook::Tc,
            &LoadOptions {
                sweep_every: Some(std::time::Duration::from_secs(24 * 3600)),
                ..Default::default()
            },
        );
        let end = |id: &str| (fx.mac(id), fx.ip(id), fx.port_ifindex(id));
        let (client, server) = (end("eni-client"), end("eni-server"));
        let ack = pkt::tcp(client.0, GATEWAY_MAC, client.1, server.1, 40000, 5201, "A");
        TwoSubnets {
            name: fx.agent.topo.lab.name.clone(),
            ns: fx.agent.plan.fabric_ns.clone(),
            want: pkt::with_macs(&ack, server.0, GATEWAY_MAC),
            ack,
            client,
            server,
            fx,
            samples: Samples::default(),
        }
    }

    /// The ICMP echo request client -> server (id 7), and what the server
    /// receives.
    pub fn echo(&self) -> (Vec<u8>, Vec<u8>) {
        let (c, s) = (self.client, self.server);
        let echo = pkt::echo(c.0, GATEWAY_MAC, c.1, s.1, 7, true);
        let want = pkt::with_macs(&echo, s.0, GATEWAY_MAC);
        (echo, want)
    }

    /// Reloads the agent with `toml` (a [`topo`]).
    pub fn reload(&mut self, toml: &str) -> Result<()> {
        self.fx.agent.reload(topology(toml, &self.name))
    }

    /// Opens the bench flow on `hook` (SYN, SYN-ACK), then sends `more`
    /// frames from the client; each must be forwarded.
    pub fn open(&self, hook: Hook, more: &[&[u8]]) -> Result<()> {
        let (c, s) = (self.client, self.server);
        let syn = pkt::tcp(c.0, GATEWAY_MAC, c.1, s.1, 40000, 5201, "S");
        let syn_ack = pkt::tcp(s.0, GATEWAY_MAC, s.1, c.1, 5201, 40000, "SA");
        let open = [(c.2, &syn[..]), (s.2, &syn_ack[..])];
        for (port, f) in open.into_iter().chain(more.iter().map(|f| (c.2, *f))) {
            let o = self.fx.run_on(hook, port, f);
            anyhow::ensure!(
                o.verdict == Verdict::Forward,
                "opening the bench flow: {o:?}"
            );
        }
        Ok(())
    }

    /// Times `frame` from the client on `hook` in a loop (its output is
    /// again its input), checks the output is `want` (into `check`), and
    /// keeps the ns per packet as a sample of `label`.
    pub fn time(
        &mut self,
        hook: Hook,
        label: &str,
        (frame, want): (&[u8], &[u8]),
        sizes: &Sizes,
        check: &mut Check,
    ) -> Result<()> {
        let dp = &self.fx.agent.dataplane;
        let prog = match hook {
            Hook::Xdp => Program::Xdp(dp.xdp()),
            Hook::Tc => Program::Tc(dp.tc()),
        };
        let port = self.client.2;
        let (o, ns_per) =
            netns::scoped_in(&self.ns, || call(prog, port, frame, sizes.loop_repeat))?;
        record(check, expect_forward(&o, want));
        self.samples.push(hook, label, ns_per);
        Ok(())
    }

    /// The rows of `base` and `label` on `hook` in `table`, `label`'s
    /// with its ratio to `base`.
    pub fn rows(&self, hook: Hook, table: &'static str, base: &str, label: &str) -> (Row, Row) {
        let (b, v) = (self.samples.get(hook, base), self.samples.get(hook, label));
        let row = |name: &str, v: &[f64]| {
            Row::new(Section::Kernel, table, name, "ns", v.to_vec()).context(hook_name(hook))
        };
        (row(base, &b), row(label, &v).baseline(base, ratios(&v, &b)))
    }
}

fn expect_forward(o: &Outcome, want: &[u8]) -> Result<(), String> {
    if o.verdict != Verdict::Forward {
        return Err(format!("verdict {:?}", o.verdict));
    }
    if o.out != want {
        return Err("output frame differs".into());
    }
    Ok(())
}
