//! stub
use super::{Options, Report, Sizes};
use anyhow::Result;
#[allow(unused)]
pub fn run(opts: &Options, sizes: &Sizes, report: &mut Report) -> Result<()> {
    Ok(())
}
