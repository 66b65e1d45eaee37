//! Recording a new flow in the model's flow table: the two directions of
//! a first packet ([`Direction::first`], [`Direction::reply`]), both
//! entries at once ([`Model::create`]), and a source port bound from a
//! pool before the forward entry goes in ([`Model::bind_nat_port`], the
//! PrivateLink and NAT gateway paths).

use dataplane_common::{Counter, DropReason, NAT_PORT_TRIES};

use super::{
    flow_log::{logged_flags, WindowFlags},
    nat_start, Addrs, Direction, Ipv4, Model, Outcome, Refused, Tuple,
};

/// Why [`Model::bind_nat_port`] bound no source port.
pub(super) enum Unbound {
    /// The flow table had no room for an entry.
    Full,
    /// Every port it may try is taken.
    Exhausted,
}

impl Direction {
    /// The direction of a new flow's first packet `p`: delivered to `to`
    /// in `out_vpc` with `out`, crossing `cross`; no object stats, no NAT
    /// gateway, tracked at both ends (struct update for the rest); its
    /// flags are the first packet's, in the window [`Model::insert`] gives.
    pub(super) fn first(
        p: &Ipv4,
        to: usize,
        out_vpc: usize,
        out: Addrs,
        cross: [(usize, usize); 2],
    ) -> Self {
        Direction {
            reply: false,
            tcp_flags: WindowFlags::first(0, logged_flags(p)),
            state: Model::initial_state(p),
            to,
            out_vpc,
            out,
            stats: None,
            nat: None,
            cross,
            echo_requests: Model::echo_request(p),
            untracked_sender: false,
            untracked_receiver: false,
        }
    }

    /// The reply direction of a new flow keyed `key` (its first packet `p`
    /// from `to`): back to `to` in the key's VPC, the key's addresses
    /// reversed, crossing `cross`; otherwise as [`Direction::first`].
    pub(super) fn reply(p: &Ipv4, key: &Tuple, to: usize, cross: [(usize, usize); 2]) -> Self {
        Direction {
            reply: true,
            tcp_flags: WindowFlags::first(0, 0),
            echo_requests: !Model::echo_request(p),
            ..Direction::first(p, to, key.vpc, key.addrs.reversed(), cross)
        }
    }
}

impl Model {
    /// Binds a flow's source port: the first of `lo ..= hi` in probe order
    /// ([`nat_start`]) whose reply tuple `reply_at(port)` no live flow
    /// holds gets `rev`; then the forward direction `fwd(reply tuple)`
    /// goes in under `key` and `frame` (`p`) is forwarded. A concurrent
    /// creator's forward entry wins (the reply entry goes again, its flow
    /// carries the packet); a full table takes the reply entry out again.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn bind_nat_port(
        &mut self,
        key: Tuple,
        rev: Direction,
        fwd: impl Fn(&Tuple) -> Direction,
        (lo, hi): (u16, u16),
        reply_at: impl Fn(u16) -> Tuple,
        (p, frame): (&Ipv4, &[u8]),
        reopen: bool,
    ) -> Result<Outcome, Unbound> {
        let range = u32::from(hi) - u32::from(lo) + 1;
        let start = nat_start(p, range);
        let mut bound = None;
        for i in 0..NAT_PORT_TRIES.min(range) {
            let reply_key = reply_at((u32::from(lo) + (start + i) % range) as u16);
            match self.insert(reply_key, rev, false) {
                Ok(()) => {
                    bound = Some(reply_key);
                    break;
                }
                Err(Refused::Taken) => {}
                Err(Refused::Full) => return Err(Unbound::Full),
            }
        }
        let reply_key = bound.ok_or(Unbound::Exhausted)?;
        let fwd = fwd(&reply_key);
        match self.insert(key, fwd, reopen) {
            Ok(()) => {}
            Err(Refused::Taken) => {
                self.flows.remove(&reply_key);
                let theirs = self.flows[&key];
                return Ok(self.forward(frame, p, &theirs));
            }
            Err(Refused::Full) => {
                self.flows.remove(&reply_key);
                return Err(Unbound::Full);
            }
        }
        self.count(Counter::FlowCreated);
        Ok(self.forward(frame, p, &fwd))
    }

    /// Records a new flow, `fwd` under `key` and `rev` (if any: across a
    /// peering without a route back there is none) under the translated
    /// tuple, reversed, and forwards. A forward key taken can only be a
    /// concurrent creator's: its flow is used. A reply key taken is a flow
    /// whose two keys coincide (a host talking to itself on one port): one
    /// entry.
    pub(super) fn create(
        &mut self,
        key: Tuple,
        fwd: Direction,
        rev: Option<Direction>,
        p: &Ipv4,
        frame: &[u8],
        reopen: bool,
    ) -> Result<Outcome, DropReason> {
        match self.insert(key, fwd, reopen) {
            Ok(()) => {}
            Err(Refused::Taken) => return Ok(self.forward(frame, p, &fwd)),
            Err(Refused::Full) => return Err(DropReason::FlowTableFull),
        }
        let rev_key = fwd.other(p.proto);
        // A host talking to itself on one port: the reply direction is
        // the forward one's key. Reopened, its entry is the reply's, but
        // the kernel's per-CPU counters (inserted once per key) keep the
        // first packet's flags in the window.
        let rev = rev.map(|r| match rev_key == key {
            true => Direction {
                tcp_flags: fwd.tcp_flags,
                ..r
            },
            false => r,
        });
        let inserted = rev.map_or(Ok(()), |rev| self.insert(rev_key, rev, reopen));
        match inserted {
            Ok(()) | Err(Refused::Taken) => {}
            Err(Refused::Full) => {
                self.flows.remove(&key);
                return Err(DropReason::FlowTableFull);
            }
        }
        self.count(Counter::FlowCreated);
        Ok(self.forward(frame, p, &fwd))
    }
}
