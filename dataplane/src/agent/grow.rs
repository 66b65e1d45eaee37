//! Which wiring changes a reload applies: none, or hosts added.
//!
//! The lab's namespaces and veths are built from the config's subnets,
//! ENIs and internet hosts. A reload may add hosts (new ENIs on hosts the
//! lab does not have, as an instance launched in a followed account
//! brings): the agent builds them (`lab::add_hosts`) and numbers their
//! ports after every port the lab has (`compile::numbers`), so nothing
//! that runs is renamed or renumbered. Any other wiring change needs the
//! lab rebuilt. Pure.

use crate::model::Topology;

/// One ENI's wiring: what its lab interface is built from (its MTU is a
/// setting a reload does not apply: `not_applied_by_reload`).
fn wiring(t: &Topology, i: usize) -> (&str, &str, std::net::Ipv4Addr, [u8; 6], &str) {
    let e = &t.enis[i];
    (
        e.id.as_str(),
        t.subnets[e.subnet].id.as_str(),
        e.ip,
        e.mac,
        e.host.as_str(),
    )
}

/// The hosts `new` adds to `old`'s lab, in config order (empty: the
/// wiring is the same), or `None` when the change needs the lab rebuilt:
/// the lab's name, its subnets or internet hosts changed, an ENI of `old`
/// was removed or rewired (or the ENIs of a host were reordered), or an
/// added ENI is on a host the lab has. A lab across nodes takes no new
/// host by reload.
pub fn added_hosts(old: &Topology, new: &Topology) -> Option<Vec<String>> {
    if old.lab.name != new.lab.name
        || old.subnets != new.subnets
        || old.internet.hosts != new.internet.hosts
    {
        return None;
    }
    let kept: Vec<usize> = (0..new.enis.len())
        .filter(|&i| old.eni_by_id(&new.enis[i].id).is_some())
        .collect();
    let same = kept.len() == old.enis.len()
        && kept
            .iter()
            .enumerate()
            .all(|(o, &n)| wiring(old, o) == wiring(new, n));
    if !same {
        return None;
    }
    let mut added: Vec<String> = Vec::new();
    for e in new.enis.iter().filter(|e| old.eni_by_id(&e.id).is_none()) {
        if old.enis.iter().any(|o| o.host == e.host) {
            return None;
        }
        if !added.contains(&e.host) {
            added.push(e.host.clone());
        }
    }
    if !added.is_empty() && (old.placement.nodes.len() > 1 || new.placement.nodes.len() > 1) {
        return None;
    }
    Some(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{self as text, cat, sg, subnet, vpc};

    fn parsed(enis: &str) -> Topology {
        let src = cat(&[
            "\n[lab]\nname = \"grow\"\n",
            &vpc("vpc-a", "10.0.0.0/16"),
            &subnet("subnet-a", "vpc-a", "10.0.1.0/24", "az1"),
            &sg("sg-a", "vpc-a"),
            enis,
        ]);
        crate::config::parse_str(&src, "g.toml").unwrap()
    }

    fn eni(id: &str, ip: &str, host: &str) -> String {
        text::eni(id, "subnet-a", ip, "sg-a", host)
    }

    #[test]
    fn new_enis_on_new_hosts_anywhere_in_the_config_are_hosts_added() {
        let (web, app) = (
            eni("eni-web", "10.0.1.10", "web"),
            eni("eni-app", "10.0.1.20", "app"),
        );
        let old = parsed(&(web.clone() + &app));
        assert_eq!(added_hosts(&old, &old), Some(vec![]));
        let (n1, n2) = (
            eni("eni-n1", "10.0.1.30", "new"),
            eni("eni-n2", "10.0.1.31", "new"),
        );
        let other = eni("eni-o", "10.0.1.40", "other");
        let grown = parsed(&(web.clone() + &n1 + &app + &other + &n2));
        assert_eq!(
            added_hosts(&old, &grown),
            Some(vec!["new".to_string(), "other".to_string()])
        );
        // A rule or group change is no wiring change.
        let mut ruled = old.clone();
        ruled.security_groups[0].ingress.clear();
        assert_eq!(added_hosts(&old, &ruled), Some(vec![]));
    }

    #[test]
    fn any_other_wiring_change_needs_the_lab_rebuilt() {
        let (web, app) = (
            eni("eni-web", "10.0.1.10", "web"),
            eni("eni-app", "10.0.1.20", "app"),
        );
        let old = parsed(&(web.clone() + &app));
        let rebuilt = |new: &str| added_hosts(&old, &parsed(new));
        // An ENI removed, moved to another address or host, or added to a
        // host the lab has.
        assert_eq!(rebuilt(&web), None);
        assert_eq!(
            rebuilt(&(web.clone() + &eni("eni-app", "10.0.1.21", "app"))),
            None
        );
        assert_eq!(
            rebuilt(&(web.clone() + &eni("eni-app", "10.0.1.20", "web"))),
            None
        );
        assert_eq!(
            rebuilt(&(web.clone() + &app + &eni("eni-2", "10.0.1.30", "web"))),
            None
        );
        // The lab's ENIs reordered.
        assert_eq!(rebuilt(&(app.clone() + &web)), None);
        // The lab renamed, a subnet changed.
        let mut renamed = old.clone();
        renamed.lab.name = "other".into();
        assert_eq!(added_hosts(&old, &renamed), None);
        let mut resized = old.clone();
        resized.subnets[0].mtu = Some(9000);
        assert_eq!(added_hosts(&old, &resized), None);
    }
}
