//! The internet's exact entries: ports and ENI entries of the internet
//! hosts, both `HL_PUBLIC_IPS` directions, and their generation shift.

use dataplane_common::{
    in_generation, EniInfo, EniKey, PortInfo, PublicIp, ENI_KIND_INTERNET, INTERNET_ENI_BASE,
    INTERNET_VPC, NAT_GATEWAY_VPC, NO_NAT_GATEWAY, NO_SG_SET, NO_SUBNET,
};

use crate::compile::compile;

const TOML: &str = r#"
[internet]
hosts = [{ name = "example", ip = "203.0.113.10" }]

[[vpc]]
id = "vpc-a"
cidr = "10.0.0.0/16"

[[internet_gateway]]
id = "igw-a"
vpc = "vpc-a"

[[subnet]]
id = "s0"
vpc = "vpc-a"
cidr = "10.0.1.0/24"
az = "use1-az1"

[[security_group]]
id = "sg-a"
vpc = "vpc-a"

[[eni]]
id = "eni-web"
subnet = "s0"
ip = "10.0.1.20"
public_ip = "203.0.113.20"
security_groups = ["sg-a"]
host = "web"
"#;

#[test]
fn internet_hosts_are_ports_and_public_ips_map_both_ways() {
    let topo = crate::config::parse_str(TOML, "t.toml").unwrap();
    let c = compile(&topo, &[11, 12]).unwrap();
    let host_mac = [0x06, 0, 203, 0, 113, 10];
    assert_eq!(
        c.ports[1],
        (
            12,
            PortInfo {
                vpc: INTERNET_VPC,
                eni: INTERNET_ENI_BASE,
                sg_set: NO_SG_SET,
                ip: [203, 0, 113, 10],
                mac: host_mac,
                generation: 0,
                subnet: NO_SUBNET,
                _pad: 0,
            }
        )
    );
    assert_eq!(
        c.enis[1],
        (
            EniKey {
                vpc: INTERNET_VPC,
                ip: [203, 0, 113, 10]
            },
            EniInfo {
                eni: INTERNET_ENI_BASE,
                ifindex: 12,
                sg_set: NO_SG_SET,
                kind: ENI_KIND_INTERNET,
                underlay: [0; 4],
                mac: host_mac,
                subnet: NO_SUBNET,
            }
        )
    );
    let expected = vec![
        (
            EniKey {
                vpc: 0,
                ip: [10, 0, 1, 20],
            },
            PublicIp {
                ip: [203, 0, 113, 20],
                vpc: INTERNET_VPC,
                nat_gateway: NO_NAT_GATEWAY,
                _pad: 0,
            },
        ),
        (
            EniKey {
                vpc: INTERNET_VPC,
                ip: [203, 0, 113, 20],
            },
            PublicIp {
                ip: [10, 0, 1, 20],
                vpc: 0,
                nat_gateway: NO_NAT_GATEWAY,
                _pad: 0,
            },
        ),
    ];
    assert_eq!(c.public_ips, expected);
    // Generation 1: keys tagged, values (untagged VPCs) unchanged.
    let g1 = c.rebase(1);
    assert_eq!(
        g1.public_ips,
        expected
            .iter()
            .map(|&(k, v)| (
                EniKey {
                    vpc: in_generation(k.vpc, 1),
                    ..k
                },
                v
            ))
            .collect::<Vec<_>>()
    );
    assert_eq!(g1.ports[1].0, in_generation(12, 1));
    assert!(compile(&topo, &[11])
        .unwrap_err()
        .to_string()
        .contains("1 fabric ports for 1 ENIs and 1 internet hosts"));
}

/// Each NAT gateway's Elastic IP is one entry that names the gateway's
/// index: its counters' slot (`HL_NAT_STATS`) for what the gateway drops
/// of the internet's packets.
#[test]
fn a_nat_gateways_elastic_ip_names_its_index() {
    let two = format!(
        "{TOML}\n[[nat_gateway]]\nid = \"nat-a\"\nsubnet = \"s0\"\nprivate_ip = \"10.0.1.100\"\n\
         elastic_ip = \"203.0.113.50\"\n\n[[nat_gateway]]\nid = \"nat-b\"\nsubnet = \"s0\"\n\
         private_ip = \"10.0.1.101\"\nelastic_ip = \"203.0.113.51\"\n"
    );
    let topo = crate::config::parse_str(&two, "nat.toml").unwrap();
    let c = compile(&topo, &[11, 12]).unwrap();
    let eips: Vec<_> = c
        .public_ips
        .iter()
        .filter(|(_, v)| v.vpc == NAT_GATEWAY_VPC)
        .copied()
        .collect();
    let entry = |eip: [u8; 4], private: [u8; 4], g: u16| {
        (
            EniKey {
                vpc: INTERNET_VPC,
                ip: eip,
            },
            PublicIp {
                ip: private,
                vpc: NAT_GATEWAY_VPC,
                nat_gateway: g,
                _pad: 0,
            },
        )
    };
    assert_eq!(
        eips,
        vec![
            entry([203, 0, 113, 50], [10, 0, 1, 100], 0),
            entry([203, 0, 113, 51], [10, 0, 1, 101], 1),
        ]
    );
}
