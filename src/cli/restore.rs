//! `berth restore`.

use std::path::PathBuf;

use super::checkpoint::CriuArgs;
use crate::ops::{self, RestoreOptions, Runtime};

/// Arguments of `restore`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Container ID.
    pub id: String,
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Path to the bundle directory.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Detach from the restored container.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the restored init's PID to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (with `terminal: true`).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Do not make berth a child subreaper (containerd passes `-no-subreaper`).
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Accepted for runc compatibility (CRIU restores the root itself).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// LSM profile for the restored processes (apparmor:NAME or selinux:LABEL).
    #[arg(long = "lsm-profile", value_name = "TYPE:NAME")]
    pub lsm_profile: Option<String>,
    /// SELinux mount context for the restored mounts.
    #[arg(long = "lsm-mount-context", value_name = "CONTEXT")]
    pub lsm_mount_context: Option<String>,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let opts = RestoreOptions {
        lsm_profile: a.lsm_profile,
        lsm_mount_context: a.lsm_mount_context,
        criu: a.criu.options()?,
        bundle: a.bundle,
        detach: a.detach,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        no_subreaper: a.no_subreaper,
    };
    Ok(ops::restore(rt, &a.id, &opts)?)
}
