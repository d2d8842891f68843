//! `berth state`.

use crate::ops::{self, Runtime};

/// Arguments of `state`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Container ID.
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let st = ops::state(rt, &a.id)?;
    println!("{}", serde_json::to_string_pretty(&st)?);
    Ok(0)
}
