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

/// A dump of one bad file (`sgs` names an unknown group), in a temp dir.
fn bad_dump(name: &str) -> PathBuf {
    let dir = tmp(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("ec2")).unwrap();
    std::fs::write(
        dir.join("ec2/describe-vpcs.json"),
        r#"{"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("ec2/describe-security-groups.json"),
        r#"{"SecurityGroups": [{"GroupId": "sg-1", "VpcId": "vpc-1", "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
             "UserIdGroupPairs": [{"GroupId": "sg-123"}]}]}]}"#,
    )
    .unwrap();
    dir
}

#[test]
fn import_errors_exit_1_name_file_and_path_and_write_nothing() {
    let dir = bad_dump("import-bad");
    let want = format!(
        "{}: SecurityGroups[0].IpPermissions[0].UserIdGroupPairs[0].GroupId: unknown group sg-123\n",
        dir.join("ec2/describe-security-groups.json").display()
    );
    // -o FILE that does not exist: not created.
    let out = tmp("import-bad-new.toml");
    let _ = std::fs::remove_file(&out);
    let run = bin()
        .args(["import", "aws"])
        .arg(&dir)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&run.stderr), want);
    assert_eq!(String::from_utf8_lossy(&run.stdout), "");
    assert!(!out.exists());
    // -o FILE that exists: left as it was.
    std::fs::write(&out, "# my config\n").unwrap();
    let run = bin()
        .args(["import", "aws"])
        .arg(&dir)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&run.stderr), want);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "# my config\n");
    // stdout: nothing printed.
    let run = bin().args(["import", "aws"]).arg(&dir).output().unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&run.stdout), "");
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn import_refuses_a_missing_directory_and_a_bad_lab_name() {
    let run = bin()
        .args(["import", "aws", "/nonexistent/dump"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&run.stderr),
        "/nonexistent/dump: cannot read the directory: No such file or directory (os error 2)\n"
    );
    let run = bin()
        .args(["import", "aws"])
        .arg(example().join("aws"))
        .args(["--lab", "My Lab"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&run.stderr),
        "--lab: invalid lab name \"My Lab\" (expected 1 to 12 characters from a-z, 0-9 and '-', \
         starting with a letter or digit)\n"
    );
}

#[test]
fn import_terraform_writes_the_same_config_check_accepts() {
    let out = tmp("import-tf.toml");
    let _ = std::fs::remove_file(&out);
    let run = bin()
        .args(["import", "terraform"])
        .arg(example().join("terraform.json"))
        .args(["--lab", "plink", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains(": not imported: "))
            .count(),
        2,
        "{err}"
    );
    let check = bin().arg("check").arg(&out).output().unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        format!(
            "{}: ok (lab plink, 2 VPCs, 4 subnets, 4 security groups, 3 ENIs on 3 hosts)\n",
            out.display()
        )
    );
    let bad = tmp("import-tf-bad.json");
    std::fs::write(
        &bad,
        "{\"values\": {\"root_module\": {\"resources\": [{\"type\": \"aws_vpc\"}]}}}",
    )
    .unwrap();
    let run = bin()
        .args(["import", "terraform"])
        .arg(&bad)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&bad);
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&run.stderr),
        format!(
            "{}: values.root_module.resources[0].values: missing (expected the resource's attributes)\n",
            bad.display()
        )
    );
}

#[test]
fn export_aws_writes_what_import_aws_reads_back_and_refuses_a_full_directory() {
    let dir = tmp("export-plink");
    let _ = std::fs::remove_dir_all(&dir);
    let config = example().join("../../privatelink.toml");
    let run = bin()
        .args(["export", "aws"])
        .arg(&config)
        .arg("-o")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    assert_eq!(
        String::from_utf8_lossy(&run.stderr),
        format!(
            "not exported: [lab], [conntrack] and [flow_logs]: lab settings, not AWS state\n\
             exported lab plink: 19 files -> {}\n",
            dir.display()
        )
    );
    let out = tmp("export-plink.toml");
    let run = bin()
        .args(["import", "aws"])
        .arg(&dir)
        .args(["--lab", "plink", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let check = bin().arg("check").arg(&out).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        format!(
            "{}: ok (lab plink, 2 VPCs, 4 subnets, 4 security groups, 3 ENIs on 3 hosts)\n",
            out.display()
        )
    );
    // A second export into the same directory is refused.
    let again = bin()
        .args(["export", "aws"])
        .arg(&config)
        .arg("-o")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&again.stderr),
        format!(
            "error: {} is not empty: export writes a directory of its own (stale files would be \
             imported with the new ones)\n",
            dir.display()
        )
    );
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_dir_all(&dir);
}
