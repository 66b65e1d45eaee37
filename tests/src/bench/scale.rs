//! stub
use super::{Options, Report, Sizes};
use anyhow::Result;
#[allow(unused)]
pub fn run(
    fx: &mut crate::Fixture,
    opts: &Options,
    sizes: &Sizes,
    report: &mut Report,
) -> Result<()> {
    Ok(())
}
