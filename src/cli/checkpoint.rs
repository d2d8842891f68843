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
    /// Create this namespace without its properties (only `network`).
    #[arg(long = "empty-ns", value_name = "NAMESPACE")]
    pub empty_ns: Vec<String>,
    /// Deduplicate against the parent image.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
    /// Migrate memory lazily (userfaultfd): serve or fetch pages on demand.
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
}

impl CriuArgs {
    pub fn options(self) -> anyhow::Result<CriuOptions> {
        Ok(CriuOptions {
            empty_netns: ops::empty_netns(&self.empty_ns)?,
            lazy_pages: self.lazy_pages,
            image_path: self.image_path,
            work_path: self.work_path,
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            auto_dedup: self.auto_dedup,
            manage_cgroups_mode: self.manage_cgroups_mode.map(Into::into),
        })
    }
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
    /// Send memory pages to the CRIU page server at ADDRESS:PORT.
    #[arg(long = "page-server", value_name = "ADDRESS:PORT")]
    pub page_server: Option<String>,
    /// Descriptor to write a byte to when the lazy page server is ready.
    #[arg(long = "status-fd", value_name = "FD")]
    pub status_fd: Option<i32>,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let opts = CheckpointOptions {
        page_server: a
            .page_server
            .as_deref()
            .map(ops::parse_page_server)
            .transpose()?,
        status_fd: a.status_fd,
        criu: a.criu.options()?,
        parent_path: a.parent_path,
        leave_running: a.leave_running,
        tcp_skip_in_flight: a.tcp_skip_in_flight,
        link_remap: a.link_remap,
        pre_dump: a.pre_dump,
    };
    ops::checkpoint(rt, &a.id, &opts)?;
    Ok(0)
}
