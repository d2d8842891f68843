//! `berth features`.

/// Arguments of `features` (none).
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {}

pub fn run(rt: &crate::ops::Runtime, _: Args) -> anyhow::Result<i32> {
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::ops::features(rt.rootless))?
    );
    Ok(0)
}
