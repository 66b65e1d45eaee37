//! `eni_id` on managed interfaces: given ids replace the derived ones in
//! `Topology::managed_interfaces` (and so in flow logs, `stats`, `flows`
//! and `explain`); bad or taken ids are refused at their token.

use crate::config::test_support::{diags, parsed, with_pl, HL, PL};
use crate::model::{managed_eni_id, ManagedKind, Topology};

const NODE1: &str = r#"{ subnet = "subnet-p1", ip = "10.1.1.50" }"#;
const NODE2: &str = r#"{ subnet = "subnet-p2", ip = "10.1.2.50" }"#;
const ENDPOINT: &str = r#"{ subnet = "subnet-c1", ip = "10.0.1.100" }"#;

/// `place` (a `{ subnet, ip }` table of the base) with `eni_id = id`.
fn with_id(src: &str, place: &str, id: &str) -> String {
    assert!(src.contains(place), "{place}");
    src.replace(
        place,
        &place.replace(" }", &format!(", eni_id = \"{id}\" }}")),
    )
}

/// (id, kind, owner, subnet id) of every managed interface.
fn managed(t: &Topology) -> Vec<(String, ManagedKind, String, String)> {
    t.managed_interfaces()
        .into_iter()
        .map(|m| (m.id, m.kind, m.owner, t.subnets[m.subnet].id.clone()))
        .collect()
}

#[test]
fn given_ids_replace_the_derived_ones() {
    let src = with_id(
        &with_id(PL, NODE1, "eni-0123456789abcdef0"),
        ENDPOINT,
        "eni-0a1b2c3d",
    );
    let t = parsed(&src);
    let m = |id: &str, kind, owner: &str, subnet: &str| {
        (id.to_string(), kind, owner.to_string(), subnet.to_string())
    };
    assert_eq!(
        managed(&t),
        vec![
            m(
                "eni-0a1b2c3d",
                ManagedKind::Endpoint,
                "vpce-web",
                "subnet-c1"
            ),
            m(
                "eni-0123456789abcdef0",
                ManagedKind::NlbNode,
                "nlb-svc",
                "subnet-p1"
            ),
            m(
                &managed_eni_id("nlb-svc", "subnet-p2"),
                ManagedKind::NlbNode,
                "nlb-svc",
                "subnet-p2"
            ),
        ]
    );
    // Without eni_id every id is derived, stable across runs.
    assert_eq!(
        managed(&parsed(PL))[0].0,
        managed_eni_id("vpce-web", "subnet-c1")
    );
    assert_eq!(
        managed_eni_id("vpce-web", "subnet-c1"),
        managed_eni_id("vpce-web", "subnet-c1")
    );
}

#[test]
fn bad_and_taken_ids_are_refused_at_their_token() {
    // Not AWS's shape: upper case, a wrong length, no prefix.
    for id in ["eni-0A1B2C3D", "eni-0a1b2c", "0a1b2c3d"] {
        assert_eq!(
            diags(&with_id(PL, ENDPOINT, id)),
            [format!(
                "t.toml:70:64: vpc_endpoint[0].subnets[0].eni_id: invalid ENI id {id:?} \
                 (expected \"eni-\" and 8 or 17 lowercase hex digits, as AWS writes them, such \
                 as \"eni-0a1b2c3d4e5f60718\")"
            )],
            "{id}"
        );
    }
    // Taken by a host ENI (ids are one namespace), then by another
    // managed interface.
    let host = "\n[[eni]]\nid = \"eni-0a1b2c3d\"\nsubnet = \"subnet-p1\"\nip = \"10.1.1.30\"\nsecurity_groups = [\"sg-p\"]\nhost = \"web3\"\n";
    let src = format!("{}{host}", with_id(PL, NODE1, "eni-0a1b2c3d"));
    assert_eq!(
        diags(&src),
        [
            "t.toml:58:63: nlb[0].subnets[0].eni_id: ENI id \"eni-0a1b2c3d\" is already used by \
          eni[2] at line 75 (ids are shared by all resource kinds)"
        ]
    );
    let src = with_id(
        &with_id(PL, NODE2, "eni-0a1b2c3d"),
        ENDPOINT,
        "eni-0a1b2c3d",
    );
    assert_eq!(
        diags(&src),
        [
            "t.toml:70:64: vpc_endpoint[0].subnets[0].eni_id: ENI id \"eni-0a1b2c3d\" is already \
          the id of nlb[0].subnets[1].eni_id at line 58"
        ]
    );
}

#[test]
fn http_link_eni_ids_go_one_per_subnet() {
    const SUBNETS: &str = r#"subnets = ["subnet-c1", "subnet-c2"]"#;
    let with_ids = |ids: &str| HL.replace(SUBNETS, &format!("{SUBNETS}\neni_ids = {ids}"));
    let t = parsed(&with_ids(r#"["eni-00000000000000001", "eni-0000000a"]"#));
    let links: Vec<_> = managed(&t)
        .into_iter()
        .filter(|m| m.1 == ManagedKind::VpcLink)
        .map(|m| (m.0, m.3))
        .collect();
    assert_eq!(
        links,
        [
            ("eni-00000000000000001".to_string(), "subnet-c1".to_string()),
            ("eni-0000000a".to_string(), "subnet-c2".to_string())
        ]
    );
    assert_eq!(
        diags(&with_ids(r#"["eni-00000000000000001"]"#)),
        [
            "t.toml:86:11: vpc_link[0].eni_ids: found 1 ENI id for 2 subnets (the link ENIs' ids: \
          one per subnet, in the same order)"
        ]
    );
    assert_eq!(
        diags(&with_ids(r#"["eni-00000000000000001", "eni-web"]"#)),
        [
            "t.toml:86:37: vpc_link[0].eni_ids[1]: invalid ENI id \"eni-web\" (expected \"eni-\" \
          and 8 or 17 lowercase hex digits, as AWS writes them, such as \
          \"eni-0a1b2c3d4e5f60718\")"
        ]
    );
}

#[test]
fn a_rest_link_takes_no_eni_id() {
    let src = with_pl(
        r#"
[[nlb]]
id = "nlb-r"
subnets = [{ subnet = "subnet-p1", ip = "10.1.1.60" }]
listeners = [{ protocol = "tcp", port = 80, target_group = "tg-web" }]

[[vpc_link]]
id = "vpclink-r"
kind = "rest"
nlb = "nlb-r"
vpc = "vpc-c"
subnets = [{ subnet = "subnet-c1", ip = "10.0.1.200", eni_id = "eni-0a1b2c3d" }]
security_groups = ["sg-c"]
"#,
    );
    assert_eq!(
        diags(&src),
        ["t.toml:84:64: vpc_link[0].subnets[0].eni_id: a REST VPC link's network interfaces are \
          AWS's (API Gateway's side of the link), not in your VPC: they write no flow log \
          records and take no eni_id"]
    );
}
