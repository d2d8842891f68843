//! `berth checkpoint`.

use std::path::PathBuf;

use crate::criu::CgMode;
use crate::ops::{self, CheckpointOptions, Runtime};

/// Values of `--manage-cgroups-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CgroupsMode {
    Soft,
    Full,
    Strict,
    Ignore,
}

impl From<CgroupsMode> for CgMode {
    fn from(m: CgroupsMode) -> Self {
        match m {
            CgroupsMode::Soft => CgMode::Soft,
            CgroupsMode::Full => CgMode::Full,
            CgroupsMode::Strict => CgMode::Strict,
            CgroupsMode::Ignore => CgMode::Ignore,
        }
    }
}

/// Arguments of `checkpoint`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Container ID.
    pub id: String,
    /// Directory for the image files.
    #[arg(long = "image-path", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Directory for CRIU's log and work files (default: the image path).
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Image of a previous pre-dump to build on.
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Skip in-flight TCP connections.
    #[arg(long = "tcp-skip-in-flight")]
    pub tcp_skip_in_flight: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Allow link remapping (open unlinked files).
    #[arg(long = "link-remap")]
    pub link_remap: bool,
    /// Dump memory only, leaving the container running (iterative migration).
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    /// CRIU page server address:port (not supported by berth).
    #[arg(long = "page-server")]
    pub page_server: Option<String>,
    /// Descriptor CRIU notifies when the lazy-pages server is ready (not supported).
    #[arg(long = "status-fd")]
    pub status_fd: Option<i32>,
    /// Restore memory lazily (not supported by berth).
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
    /// Cgroup handling by CRIU.
    #[arg(long = "manage-cgroups-mode", value_enum)]
    pub manage_cgroups_mode: Option<CgroupsMode>,
    /// Namespace to leave out of the image (not supported by berth).
    #[arg(long = "empty-ns")]
    pub empty_ns: Option<String>,
    /// Deduplicate against the parent image.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    for (set, flag) in [
        (a.page_server.is_some(), "--page-server"),
        (a.status_fd.is_some(), "--status-fd"),
        (a.lazy_pages, "--lazy-pages"),
        (a.empty_ns.is_some(), "--empty-ns"),
    ] {
        if set {
            anyhow::bail!("checkpoint {flag} is not supported by berth");
        }
    }
    let opts = CheckpointOptions {
        image_path: a.image_path,
        work_path: a.work_path,
        parent_path: a.parent_path,
        leave_running: a.leave_running,
        tcp_established: a.tcp_established,
        tcp_skip_in_flight: a.tcp_skip_in_flight,
        ext_unix_sk: a.ext_unix_sk,
        shell_job: a.shell_job,
        file_locks: a.file_locks,
        link_remap: a.link_remap,
        pre_dump: a.pre_dump,
        auto_dedup: a.auto_dedup,
        manage_cgroups_mode: a.manage_cgroups_mode.map(Into::into),
    };
    ops::checkpoint(rt, &a.id, &opts)?;
    Ok(0)
}
