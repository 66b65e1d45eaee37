//! `dataplane import`: the network a user already has, as AWS describes it
//! (the AWS CLI's describe JSON, `aws.rs`) or as Terraform recorded it
//! (`terraform show -json`, `terraform.rs`), into a hyperlab topology
//! config (TOML) that `config` parses like any other.
//!
//! Readers -> [`inventory::Inventory`] (AWS's resources, each with its file
//! and JSON path) -> `build` (resolve, skip what hyperlab does not model,
//! re-address what AWS would not have placed) -> `render` (TOML) -> the
//! config parser, so what is written always checks. Every resource not
//! mapped is a line of the report, with the reason; bad input is one
//! [`ImportError`] naming the file and JSON path. docs/IMPORT.md maps each
//! AWS field.

mod aws;
mod build;
pub mod export;
mod gateways;
mod inventory;
mod json;
pub mod query_xml;
mod render;
mod terraform;
mod unsupported;

use std::path::Path;

pub use json::ImportError;

use crate::config;
use crate::model::Topology;

/// What an import gives: the config text, the topology it parses to, and
/// the report (what was not imported and why, warnings), one line each.
#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    pub topology: Topology,
    pub report: Vec<String>,
}

/// The lab name an import writes unless told otherwise.
pub const DEFAULT_LAB: &str = "imported";

fn finish(inv: inventory::Inventory, lab: &str, source: &str) -> Result<Imported, ImportError> {
    let b = lab.as_bytes();
    let valid = !b.is_empty()
        && b.len() <= 12
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    if !valid {
        return Err(ImportError {
            file: "--lab".into(),
            path: String::new(),
            message: format!(
                "invalid lab name {lab:?} (expected 1 to 12 characters from a-z, 0-9 and '-', \
                 starting with a letter or digit)"
            ),
        });
    }
    let (out, report) = build::build(&inv)?;
    let toml = render::render(&out, lab, source);
    let topology = config::parse_str(&toml, "imported.toml").map_err(|d| ImportError {
        file: source.to_string(),
        path: String::new(),
        message: format!(
            "the imported topology does not check (a bug in import; please report it):\n{d}"
        ),
    })?;
    Ok(Imported {
        toml,
        topology,
        report,
    })
}

/// `dataplane import aws DIR`.
pub fn aws_dir(dir: &Path, lab: &str) -> Result<Imported, ImportError> {
    let inv = aws::read(dir)?;
    finish(inv, lab, &dir.display().to_string())
}

/// `dataplane import aws --endpoint`: answers a client got from an
/// AWS-compatible endpoint (named `source` in messages), with what it could
/// not read as report lines.
pub fn aws_answers(
    answers: Vec<aws::Answer>,
    notes: Vec<String>,
    lab: &str,
    source: &str,
) -> Result<Imported, ImportError> {
    let inv = aws::read_answers(answers, notes)?;
    finish(inv, lab, source)
}

pub use aws::{calls, Answer};

/// `dataplane import terraform FILE`.
pub fn terraform_file(file: &Path, lab: &str) -> Result<Imported, ImportError> {
    let inv = terraform::read(file)?;
    finish(inv, lab, &file.display().to_string())
}

#[cfg(test)]
mod tests;
