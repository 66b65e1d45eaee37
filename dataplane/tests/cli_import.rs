//! `dataplane import`: a config on stdout or in -o FILE that `check`
//! accepts, the report on stderr, and on bad input an error naming the
//! file and JSON path, exit code 1, nothing written.

use std::path::PathBuf;

mod common;
use common::{bin, tmp};

fn example() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/import/privatelink"
    ))
}

#[test]
fn import_aws_writes_a_config_that_check_accepts() {
    let out = tmp("import-plink.toml");
    let _ = std::fs::remove_file(&out);
    let run = bin()
        .args(["import", "aws"])
        .arg(example().join("aws"))
        .args(["--lab", "plink", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "");
    let err = String::from_utf8_lossy(&run.stderr);
    let lines: Vec<&str> = err.lines().collect();
    // Nine resources not imported (default VPC, subnet and groups, ACLs,
    // route tables), then the summary.
    assert_eq!(lines.len(), 10, "{err}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(": not imported: "))
            .count(),
        9,
        "{err}"
    );
    assert_eq!(
        lines[9],
        format!(
            "imported lab plink: 2 VPCs, 4 subnets, 4 security groups, 3 ENIs on 3 hosts, 1 NLBs, \
             1 endpoint services, 2 endpoints -> {}",
            out.display()
        )
    );
    let check = bin().arg("check").arg(&out).output().unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(check.status.code(), Some(0), "{check:?}");
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        format!(
            "{}: ok (lab plink, 2 VPCs, 4 subnets, 4 security groups, 3 ENIs on 3 hosts)\n",
            out.display()
        )
    );
}

#[test]
fn import_aws_prints_the_config_without_o() {
    let run = bin()
        .args(["import", "aws"])
        .arg(example().join("aws"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let toml = String::from_utf8_lossy(&run.stdout);
    assert!(toml.contains("\n[lab]\nname = \"imported\"\n"), "{toml}");
    assert!(
        toml.contains("\nid = \"eni-web1\"   # instance i-0web100000000001 (Name: web1)\n"),
        "{toml}"
    );
}
