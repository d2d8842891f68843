//! `berth restore`.

use std::path::PathBuf;

use super::checkpoint::CgroupsMode;
use crate::ops::{self, RestoreOptions, Runtime};

/// Arguments of `restore`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Container ID.
    pub id: String,
    /// Directory of the image files.
    #[arg(long = "image-path", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Directory for CRIU's log and work files (default: the image path).
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
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
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Cgroup handling by CRIU.
    #[arg(long = "manage-cgroups-mode", value_enum)]
    pub manage_cgroups_mode: Option<CgroupsMode>,
    /// Namespace to create empty (not supported by berth).
    #[arg(long = "empty-ns")]
    pub empty_ns: Option<String>,
    /// Deduplicate against the parent image.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
    /// Restore memory lazily (not supported by berth).
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
    /// LSM profile for the restored process (not supported by berth).
    #[arg(long = "lsm-profile")]
    pub lsm_profile: Option<String>,
    /// LSM mount context (not supported by berth).
    #[arg(long = "lsm-mount-context")]
    pub lsm_mount_context: Option<String>,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    for (set, flag) in [
        (a.empty_ns.is_some(), "--empty-ns"),
        (a.lazy_pages, "--lazy-pages"),
        (a.lsm_profile.is_some(), "--lsm-profile"),
        (a.lsm_mount_context.is_some(), "--lsm-mount-context"),
    ] {
        if set {
            anyhow::bail!("restore {flag} is not supported by berth");
        }
    }
    let opts = RestoreOptions {
        image_path: a.image_path,
        work_path: a.work_path,
        bundle: a.bundle,
        detach: a.detach,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        no_subreaper: a.no_subreaper,
        tcp_established: a.tcp_established,
        ext_unix_sk: a.ext_unix_sk,
        shell_job: a.shell_job,
        file_locks: a.file_locks,
        auto_dedup: a.auto_dedup,
        manage_cgroups_mode: a.manage_cgroups_mode.map(Into::into),
    };
    Ok(ops::restore(rt, &a.id, &opts)?)
}
