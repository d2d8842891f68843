//! `berth spec`.

use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `spec`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Bundle directory to write config.json into.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write a config for a rootless container.
    #[arg(long)]
    pub rootless: bool,
}

pub fn run(a: Args) -> anyhow::Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("File {} exists. Remove it first", path.display());
    }
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let mode = crate::cgroups::detect_mode();
    let value = crate::spec::template::for_host(a.rootless, uid, gid, mode);
    let mut text = serde_json::to_string_pretty(&value)?;
    text.push('\n');
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    Ok(0)
}
