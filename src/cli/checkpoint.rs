//! `berth checkpoint`, and the CRIU flags it shares with `restore`.

use std::path::PathBuf;

use crate::criu::CgMode;
use crate::ops::{self, CheckpointOptions, CriuOptions, Runtime};

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

/// runc's CRIU flags that `checkpoint` and `restore` both take.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct CriuArgs {
    /// Directory of the image files.
    #[arg(long = "image-path", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Directory for CRIU's log and work files (default: the image path).
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
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
    /// Namespace CRIU leaves out (not supported by berth).
    #[arg(long = "empty-ns")]
    pub empty_ns: Option<String>,
    /// Deduplicate against the parent image.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
    /// Restore memory lazily (not supported by berth).
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
}

impl CriuArgs {
    /// Refuses, by name, the shared flags berth does not implement.
    pub fn refuse_unsupported(&self, command: &str) -> anyhow::Result<()> {
        refuse(
            command,
            &[
                (self.empty_ns.is_some(), "--empty-ns"),
                (self.lazy_pages, "--lazy-pages"),
            ],
        )
    }

    pub fn options(self) -> CriuOptions {
        CriuOptions {
            image_path: self.image_path,
            work_path: self.work_path,
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            auto_dedup: self.auto_dedup,
            manage_cgroups_mode: self.manage_cgroups_mode.map(Into::into),
        }
    }
}

/// `<command> <flag> is not supported by berth` for the first flag set.
pub fn refuse(command: &str, flags: &[(bool, &str)]) -> anyhow::Result<()> {
    if let Some((_, flag)) = flags.iter().find(|(set, _)| *set) {
        anyhow::bail!("{command} {flag} is not supported by berth");
    }
    Ok(())
}

/// Arguments of `checkpoint`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Container ID.
    pub id: String,
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Image of a previous pre-dump to build on.
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Skip in-flight TCP connections.
    #[arg(long = "tcp-skip-in-flight")]
    pub tcp_skip_in_flight: bool,
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
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    refuse(
        "checkpoint",
        &[
            (a.page_server.is_some(), "--page-server"),
            (a.status_fd.is_some(), "--status-fd"),
        ],
    )?;
    a.criu.refuse_unsupported("checkpoint")?;
    let opts = CheckpointOptions {
        criu: a.criu.options(),
        parent_path: a.parent_path,
        leave_running: a.leave_running,
        tcp_skip_in_flight: a.tcp_skip_in_flight,
        link_remap: a.link_remap,
        pre_dump: a.pre_dump,
    };
    ops::checkpoint(rt, &a.id, &opts)?;
    Ok(0)
}
