//! `berth kill`.

use crate::ops::{self, Runtime};

/// Arguments of `kill`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Send the signal to every process of the container.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Container ID.
    pub id: String,
    /// Signal: a number (9), a name (KILL) or SIGKILL; 0 only checks that
    /// the container is alive.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let sig = crate::signal::parse(&a.signal).map_err(anyhow::Error::msg)?;
    ops::kill(rt, &a.id, sig, a.all)?;
    Ok(0)
}
