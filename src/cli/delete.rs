//! `berth delete`.

use crate::ops::{self, Runtime};

/// Arguments of `delete`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Kill the container if it still runs; succeed if it does not exist.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container ID.
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    ops::delete(rt, &a.id, a.force)?;
    Ok(0)
}
