//! Route tables in generated topologies (docs/DATAPLANE.md, "Route
//! tables"): blackholes and written `local` routes as `check` accepts them.

use dataplane::model::Ipv4Net;

use super::rng::Rng;
use super::topo_gen::{net, RouteTableSpec, TopoSpec};

/// Route tables for some subnets (the rest use their VPC's main table, the
/// implied one unless a drawn table is main). Routes are what AWS accepts
/// (docs/DATAPLANE.md, "Route tables"): blackholes broader than the local
/// route (0.0.0.0/0, 10.0.0.0/8), outside it (another VPC's CIDR or
/// subnet, 192.168.0.0/16, a /24 of the 10.x space the packet generator
/// also aims at), or more specific than it only as a whole subnet's CIDR
/// of the VPC; sometimes the local route written out.
pub fn route_tables(rng: &mut Rng, t: &mut TopoSpec) {
    for v in 0..t.vpcs.len() {
        let local = t.vpcs[v].cidr;
        let mut free: Vec<usize> = (0..t.subnets.len())
            .filter(|&s| t.subnets[s].vpc == v)
            .collect();
        let mut has_main = false;
        for _ in 0..rng.range(0, 2) {
            let mut subnets = Vec::new();
            for _ in 0..rng.range(0, 2) {
                if !free.is_empty() {
                    subnets.push(free.remove(rng.below(free.len())));
                }
            }
            let main = !has_main && rng.chance(40);
            has_main |= main;
            let own: Vec<Ipv4Net> = t
                .subnets
                .iter()
                .filter(|s| s.vpc == v)
                .map(|s| s.cidr)
                .collect();
            let others: Vec<Ipv4Net> = t
                .vpcs
                .iter()
                .map(|x| x.cidr)
                .chain(t.subnets.iter().map(|s| s.cidr))
                .collect();
            let mut routes: Vec<(Ipv4Net, bool)> = Vec::new();
            for _ in 0..rng.range(0, 3) {
                let (dest, hole) = match rng.weighted(&[4, 2, 2, 1, 2, 1]) {
                    0 => (*rng.pick(&own), true),
                    1 => {
                        let wide: &[&str] = &["0.0.0.0/0", "10.0.0.0/8"];
                        let d: &&str = rng.pick(wide);
                        (net(d), true)
                    }
                    2 => (*rng.pick(&others), true),
                    3 => (net("192.168.0.0/16"), true),
                    4 => (
                        format!("10.{}.{}.0/24", rng.below(2), rng.below(4))
                            .parse()
                            .expect("valid /24"),
                        true,
                    ),
                    _ => (local, false),
                };
                // What AWS refuses: replacing local, or a route inside it
                // that is not a whole subnet of the VPC; one per destination.
                let inside =
                    local.contains(&dest.network()) && dest.prefix_len() >= local.prefix_len();
                let refused =
                    (hole && dest == local) || (inside && dest != local && !own.contains(&dest));
                if refused || routes.iter().any(|(d, _)| *d == dest) {
                    continue;
                }
                routes.push((dest, hole));
            }
            let n = t.route_tables.len();
            t.route_tables.push(RouteTableSpec {
                subnets,
                routes,
                ..RouteTableSpec::empty(n, v, main)
            });
        }
    }
}
