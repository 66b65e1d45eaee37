//! The command line of a lab across nodes (`[[node]]`, `--node`), as a
//! user meets it before anything runs: `check` counts the nodes, and a
//! command that needs one node's view says which nodes there are when it
//! is not told, or told one the file does not have.

mod common;

use common::{bin, tmp};

const TWO_NODES: &str = include_str!("../../tests/fixtures/cli-two-nodes.toml");

#[test]
fn a_lab_across_nodes_checks_and_commands_name_their_node() {
    let file = tmp("two-nodes.toml");
    std::fs::write(&file, TWO_NODES).unwrap();
    let out = bin().arg("check").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{}: ok (lab split, 1 VPCs, 1 subnets, 1 security groups, 2 ENIs on 2 hosts, 2 nodes)\n",
            file.display()
        )
    );
    for (args, msg) in [
        (
            vec!["stats"],
            "error: --node: lab split runs on several nodes (n1, n2): give --node ID\n",
        ),
        (
            vec!["lab", "down"],
            "error: --node: lab split runs on several nodes (n1, n2): give --node ID\n",
        ),
        (
            vec!["stats", "--node", "n3"],
            "error: --node: lab split has no node \"n3\"; its nodes are: n1, n2\n",
        ),
    ] {
        let (cmd, rest) = args.split_at(if args[0] == "lab" { 2 } else { 1 });
        let out = bin().args(cmd).arg(&file).args(rest).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), msg, "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{args:?}");
    }
    let _ = std::fs::remove_file(&file);
}
