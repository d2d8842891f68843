//! `berth features`.

/// Arguments of `features` (none).
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {}

pub fn run(_: Args) -> anyhow::Result<i32> {
    println!("{}", serde_json::to_string_pretty(&crate::ops::features())?);
    Ok(0)
}
