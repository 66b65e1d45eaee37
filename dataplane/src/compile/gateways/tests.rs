//! The internet's exact entries: ports and ENI entries of the internet
//! hosts, both `HL_PUBLIC_IPS` directions, and their generation shift.

use dataplane_common::{
    in_generation, EniInfo, EniKey, PortInfo, PublicIp, ENI_KIND_INTERNET, INTERNET_ENI_BASE,
    INTERNET_VPC, NO_SG_SET, NO_SUBNET,
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
