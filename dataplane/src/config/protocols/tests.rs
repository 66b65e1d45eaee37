//! Tests of `protocol` and `icmp` in security-group rules and ACL entries.

use crate::config::test_support::{net, parsed, with_base};
use crate::model::test_support::rule;
use crate::model::{Peer, Protocol};

/// Names, numbers (as integers and as strings) and -1 give the protocols
/// AWS's `IpProtocol` means; `icmp = { type, code }` becomes the
/// `type << 8 | code` range (type 8, all codes: 0x0800-0x08ff).
#[test]
fn protocols_by_name_and_number_and_icmp_by_type_and_code() {
    let extra = r#"
[[security_group]]
id = "sg-p"
vpc = "vpc-a"
ingress = [
  { protocol = "gre", peer = "0.0.0.0/0" },
  { protocol = 50, peer = "0.0.0.0/0" },
  { protocol = "132", peer = "0.0.0.0/0" },
  { protocol = "SCTP", peer = "0.0.0.0/0" },
  { protocol = 6, ports = 80, peer = "0.0.0.0/0" },
  { protocol = -1, peer = "0.0.0.0/0" },
  { protocol = "icmp", icmp = { type = 8 }, peer = "0.0.0.0/0" },
  { protocol = "icmp", icmp = { type = 3, code = 4 }, peer = "0.0.0.0/0" },
  { protocol = "icmp", icmp = { type = -1, code = 4 }, peer = "0.0.0.0/0" },
  { protocol = 1, peer = "0.0.0.0/0" },
]
egress = []
"#;
    let t = parsed(&with_base(extra));
    let sg = t.security_groups.iter().find(|g| g.id == "sg-p").unwrap();
    let any = || Peer::Cidr(net("0.0.0.0/0"));
    assert_eq!(
        sg.ingress,
        vec![
            rule(Protocol::Number(47), (0, 65535), any()),
            rule(Protocol::Number(50), (0, 65535), any()),
            rule(Protocol::Number(132), (0, 65535), any()),
            rule(Protocol::Number(132), (0, 65535), any()),
            rule(Protocol::Tcp, (80, 80), any()),
            rule(Protocol::All, (0, 65535), any()),
            rule(Protocol::Icmp, (0x0800, 0x08ff), any()),
            rule(Protocol::Icmp, (0x0304, 0x0304), any()),
            rule(Protocol::Icmp, (0, 65535), any()),
            rule(Protocol::Icmp, (0, 65535), any()),
        ]
    );
    assert!(sg.egress.is_empty());
}
