//! Network ACLs (stated in the module docs' rules 5 to 13): each boundary a
//! packet crosses, outbound from its subnet and inbound to the other.

use super::*;

impl Model {
    /// Both ACLs of one boundary crossing, `src` -> `dst` to `port`.
    pub(super) fn crossing(
        &mut self,
        (from, to): (usize, usize),
        p: &Ipv4,
        src: [u8; 4],
        dst: [u8; 4],
        port: u16,
        icmp: (u8, u8),
    ) -> Result<(), DropReason> {
        self.nacl_out((from, to), p, dst, port, icmp)?;
        self.nacl_in((from, to), p, src, port, icmp)
    }

    /// Leaving subnet `from` for `to`: `from`'s outbound entries on `dst`.
    pub(super) fn nacl_out(
        &mut self,
        (from, to): (usize, usize),
        p: &Ipv4,
        dst: [u8; 4],
        port: u16,
        icmp: (u8, u8),
    ) -> Result<(), DropReason> {
        // The internet has no subnet and no ACL.
        if from == to || from == internet::NO_SUBNET {
            return Ok(());
        }
        self.nacl_check(from, false, p.proto, dst, port, icmp)
            .map_err(|()| DropReason::NaclEgressDeny)
    }

    /// Entering subnet `to` from `from`: `to`'s inbound entries on `src`.
    pub(super) fn nacl_in(
        &mut self,
        (from, to): (usize, usize),
        p: &Ipv4,
        src: [u8; 4],
        port: u16,
        icmp: (u8, u8),
    ) -> Result<(), DropReason> {
        if from == to || to == internet::NO_SUBNET {
            return Ok(());
        }
        self.nacl_check(to, true, p.proto, src, port, icmp)
            .map_err(|()| DropReason::NaclIngressDeny)
    }

    /// The AWS rule: subnet `subnet`'s ACL, entries of one direction in
    /// ascending rule number, the first that matches decides; none: deny
    /// (rule `*`). A deny is counted on its rule.
    pub(super) fn nacl_check(
        &mut self,
        subnet: usize,
        ingress: bool,
        proto: u8,
        peer: [u8; 4],
        port: u16,
        (icmp_type, icmp_code): (u8, u8),
    ) -> Result<(), ()> {
        self.met_nacl = true;
        let t = &self.topo;
        let Some(acl) = t.subnet_nacls.get(subnet).map(|&i| &t.network_acls[i]) else {
            return Ok(()); // no ACLs at all: the default, which allows all
        };
        let mut entries: Vec<_> = if ingress { &acl.ingress } else { &acl.egress }
            .iter()
            .collect();
        entries.sort_by_key(|e| e.rule);
        let peer_ip = Ipv4Addr::from(peer);
        let hit = entries.into_iter().find(|e| {
            let l4 = match e.protocol {
                Protocol::Tcp => proto == PROTO_TCP && e.ports.0 <= port && port <= e.ports.1,
                Protocol::Udp => proto == PROTO_UDP && e.ports.0 <= port && port <= e.ports.1,
                Protocol::Icmp => {
                    proto == PROTO_ICMP
                        && match e.icmp.icmp_type {
                            None => true,
                            Some(ty) => {
                                ty == icmp_type && e.icmp.code.is_none_or(|c| c == icmp_code)
                            }
                        }
                }
                Protocol::All => true,
                Protocol::Number(n) => proto == n,
            };
            l4 && e.cidr.contains(&peer_ip)
        });
        let (allow, rule) = match hit {
            Some(e) => (e.allow, e.rule),
            None => (false, dataplane_common::NACL_RULE_DEFAULT),
        };
        if allow {
            return Ok(());
        }
        let key = dataplane_common::NaclStatKey {
            nacl: dataplane_common::nacl_stat_id(acl.id.as_bytes()),
            rule,
            dir: if ingress {
                dataplane_common::SG_DIR_INGRESS
            } else {
                dataplane_common::SG_DIR_EGRESS
            },
            _pad: 0,
        };
        if let Some(i) = self.nacl_rules.iter().position(|r| r.key == key) {
            self.counters.nacl_drops[i] += 1;
        }
        Err(())
    }
}
