//! What flow logs read from the data plane, stated by the model: the TCP
//! flags a record counts (each flow direction's OR over the packets of a
//! flow-log window, which the soak compares with the kernel's per-CPU
//! counters summed) and the tuple a target would have seen of a packet
//! refused after translation.

use super::{wire, Addrs, Choice, Dest, DropReason, Frame, Ipv4, Model, Tuple, PROTO_TCP};

/// [`logged_flags`] of an Ethernet frame (0 if it is not IPv4).
pub fn frame_logged_flags(frame: &[u8]) -> u8 {
    match wire::parse(frame) {
        Ok(Frame::Ipv4(p)) => logged_flags(&p),
        _ => 0,
    }
}

/// The TCP flags a flow log record counts, stated from the VPC user
/// guide's field reference ("Flow log records", `tcp-flags`): FIN is 1,
/// SYN 2, RST 4, and a SYN-ACK 18; nothing else is recorded (a plain ACK,
/// PSH, URG: 0). UDP and ICMP: 0.
pub(super) fn logged_flags(p: &Ipv4) -> u8 {
    if p.proto != PROTO_TCP {
        return 0;
    }
    let f = p.tcp_flags;
    let has = |bit: u8| f & bit != 0;
    let mut v = 0;
    if has(wire::TCP_FIN) {
        v += 1;
    }
    if has(wire::TCP_SYN) {
        v += if has(wire::TCP_ACK) { 18 } else { 2 };
    }
    if has(wire::TCP_RST) {
        v += 4;
    }
    v
}

/// One flow direction's `tcp-flags` by flow-log window (AWS: a record's
/// `tcp-flags` is the OR of the flags of the packets in its window): the
/// window of its last packet and their OR there, and what earlier windows
/// saw (a flag seen again in a later window is that window's too).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct WindowFlags {
    window: u32,
    flags: u8,
    earlier: u8,
}

impl WindowFlags {
    /// A direction created in `window` by a packet with `flags`.
    pub(super) fn first(window: u32, flags: u8) -> WindowFlags {
        WindowFlags {
            window,
            flags,
            earlier: 0,
        }
    }

    /// These flags, as of `window` (a new direction's: [`Model::insert`]).
    pub(super) fn in_window(self, window: u32) -> WindowFlags {
        WindowFlags { window, ..self }
    }

    /// A packet with `flags` in `window`; true if it carries a flag an
    /// earlier window of this direction saw.
    pub(super) fn add(&mut self, window: u32, flags: u8) -> bool {
        if window != self.window {
            self.earlier |= self.flags;
            self.flags = 0;
            self.window = window;
        }
        self.flags |= flags;
        flags & self.earlier != 0
    }

    /// The OR of the flags of this direction's packets in `window`.
    pub(super) fn of(&self, window: u32) -> u8 {
        if window == self.window {
            self.flags
        } else {
            0
        }
    }
}

impl Model {
    /// Moves to flow-log window `w` (the flow log closed the one before).
    pub fn set_window(&mut self, w: u32) {
        self.window = w;
    }

    /// Forwarded packets so far that carried a flag their direction had
    /// carried in an earlier window (which flow logs used to leave out of
    /// the later window's record).
    pub fn flag_repeats(&self) -> u64 {
        self.flag_repeats
    }

    /// Flow logs' `tcp-flags` in window `w` of the flow direction the
    /// kernel keys by `k`, if the model tracks it.
    pub fn tcp_flags_of(&self, k: &dataplane_common::FlowKey, w: u32) -> Option<u8> {
        let key = Tuple {
            vpc: k.vpc as usize,
            proto: k.proto,
            addrs: Addrs {
                src: k.src,
                dst: k.dst,
                sport: u16::from_be_bytes(k.sport),
                dport: u16::from_be_bytes(k.dport),
            },
            echo_reply: k.icmp_reply != 0,
        };
        self.flows.get(&key).map(|d| d.tcp_flags.of(w))
    }

    /// For `frame`, a first packet from VPC `vpc` to an interface endpoint
    /// or integration address that the target's ingress rules or the
    /// link's egress rules refuse: the reason, the translated packet the
    /// target would have seen (its source and first NAT port, the target
    /// and port) and the VPC it travels in. `None` if it is not refused
    /// there. Like [`Model::choose`], asks only the destination's side.
    pub fn rejected_after_nat(
        &mut self,
        vpc: usize,
        frame: &[u8],
    ) -> Option<(DropReason, Choice, usize)> {
        let Ok(Frame::Ipv4(p)) = wire::parse(frame) else {
            return None;
        };
        let Some(Dest::Endpoint(endpoint, ep_eni)) = self.resolve(vpc, p.dst) else {
            return None;
        };
        self.rejected_nat = None;
        let _ = self.route(endpoint, ep_eni, &p);
        self.rejected_nat.take()
    }
}
