//! `berth resume`.

use crate::ops::{self, Runtime};

/// Arguments of `resume`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Container ID.
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    ops::resume(rt, &a.id)?;
    Ok(0)
}
