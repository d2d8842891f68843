//! `berth events`.

use crate::ops::{self, Runtime};

/// Arguments of `events`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats events (Go duration syntax: 5s, 100ms, 1m).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Container ID.
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let interval = ops::parse_duration(&a.interval)
        .map_err(|e| anyhow::anyhow!("invalid value {:?} for --interval: {e}", a.interval))?;
    ops::events(rt, &a.id, a.stats, interval, &mut std::io::stdout().lock())?;
    Ok(0)
}
