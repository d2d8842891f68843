//! `berth run`.

use crate::ops::{self, RunOptions, Runtime};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    #[command(flatten)]
    pub create: super::create::Args,
    /// Detach: return once the container has started.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container's state after it exits.
    #[arg(long)]
    pub keep: bool,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let opts = RunOptions {
        create: a.create.opts.into(),
        detach: a.detach,
        keep: a.keep,
    };
    Ok(ops::run(rt, &a.create.id, &opts)?)
}
