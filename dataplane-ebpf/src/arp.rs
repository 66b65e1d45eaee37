//! Stage `arp`: the virtual VPC router answers every ARP request of a port's
//! host with its own MAC (as the AWS VPC router does), so hosts reach their
//! gateway and same-subnet peers with their normal stacks.

use dataplane_common::{DropReason, PortInfo, GATEWAY_MAC};

use crate::packet::{read, Packet};

const ARP_OFF: usize = 14;
const ARP_LEN: usize = 28;
const SHA_OFF: usize = ARP_OFF + 8;
const SPA_OFF: usize = ARP_OFF + 14;
const THA_OFF: usize = ARP_OFF + 18;
const TPA_OFF: usize = ARP_OFF + 24;

/// Turns the request in place into the router's reply.
#[inline(always)]
pub fn answer<P: Packet>(p: &mut P, port: &PortInfo) -> Result<(), DropReason> {
    // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, oper 1 (request)
    let fixed: [u8; 8] = read(p, ARP_OFF).ok_or(DropReason::ArpIgnored)?;
    if read::<P, [u8; 2]>(p, ARP_OFF + ARP_LEN - 2).is_none()
        || fixed != [0, 1, 0x08, 0x00, 6, 4, 0, 1]
    {
        return Err(DropReason::ArpIgnored);
    }
    let sha_hi: [u8; 4] = read(p, SHA_OFF).ok_or(DropReason::ArpIgnored)?;
    let sha_lo: [u8; 2] = read(p, SHA_OFF + 4).ok_or(DropReason::ArpIgnored)?;
    let spa: [u8; 4] = read(p, SPA_OFF).ok_or(DropReason::ArpIgnored)?;
    let tpa: [u8; 4] = read(p, TPA_OFF).ok_or(DropReason::ArpIgnored)?;
    // Gratuitous ARP announces, it does not ask; a request from another
    // address than the port's ENI is not ours to answer. (0.0.0.0 is a probe.)
    if spa == tpa || (spa != port.ip && spa != [0; 4]) {
        return Err(DropReason::ArpIgnored);
    }
    let gw_hi = [GATEWAY_MAC[0], GATEWAY_MAC[1], GATEWAY_MAC[2], GATEWAY_MAC[3]];
    let gw_lo = [GATEWAY_MAC[4], GATEWAY_MAC[5]];
    let w = |r: Result<(), ()>| r.map_err(|_| DropReason::RewriteFailed);
    w(p.store_4(0, sha_hi))?;
    w(p.store_2(4, sha_lo))?;
    w(p.store_4(6, gw_hi))?;
    w(p.store_2(10, gw_lo))?;
    w(p.store_2(ARP_OFF + 6, [0, 2]))?;
    w(p.store_4(SHA_OFF, gw_hi))?;
    w(p.store_2(SHA_OFF + 4, gw_lo))?;
    w(p.store_4(SPA_OFF, tpa))?;
    w(p.store_4(THA_OFF, sha_hi))?;
    w(p.store_2(THA_OFF + 4, sha_lo))?;
    w(p.store_4(TPA_OFF, spa))
}
