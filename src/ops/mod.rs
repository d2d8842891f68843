//! The operations of the runtime. Each one locks the container's state
//! directory, loads its state, checks the transition, acts, and saves.
//! The CLI only parses arguments and calls these.

mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod exec_cgroup;
mod exec_process;
mod features;
mod foreground;
mod kill;
mod list;
mod pause;
mod pidfd_socket;
mod ps;
mod restore;
mod rootless;
mod run;
mod start;
mod state;
mod update;

use std::path::PathBuf;

pub use checkpoint::{
    CheckpointOptions, CriuOptions, check_lsm, checkpoint, empty_netns, parse_page_server,
};
pub use create::{CreateOptions, create};
pub use delete::delete;
pub use events::{events, parse_duration};
pub use exec::{ExecOptions, exec};
pub use exec_process::ProcessFlags;
pub use features::features;
pub use kill::kill;
pub use list::{ListEntry, list};
pub use pause::{pause, resume};
pub use ps::{pids as ps_pids, table as ps_table};
pub use restore::{RestoreOptions, parse_cgroup_roots, restore};
pub use rootless::{Caller, RootChoice, RootlessFlag, SYSTEM_ROOT, is_initial_map};
pub use run::{RunOptions, run};
pub use start::start;
pub use state::{ContainerStatus, state};
pub use update::{UpdateFlags, read_resources, resources_from_flags, update};

use crate::state::Store;

/// Global settings of one berth invocation.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub store: Store,
    /// `--systemd-cgroup`: refused, berth has only the cgroupfs driver.
    pub systemd_cgroup: bool,
    /// Rootless mode, resolved from `--rootless` (`Caller::rootless`).
    pub rootless: bool,
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>, systemd_cgroup: bool) -> Self {
        Self {
            store: Store::new(root),
            systemd_cgroup,
            rootless: false,
        }
    }
}

/// Failures of an operation. Messages carry runc's wording where callers
/// match it (`container does not exist`, `container not running`...).
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Transition(#[from] crate::state::TransitionError),
    #[error(transparent)]
    Launch(#[from] crate::launch::LaunchError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Criu(#[from] crate::criu::CriuError),
    #[error(transparent)]
    Tty(#[from] crate::tty::TtyError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: crate::sys::Errno,
    },
    /// A request that makes no sense, described in full.
    #[error("{0}")]
    Invalid(String),
}

impl OpsError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> OpsError {
        let what = what.into();
        move |source| OpsError::Io { what, source }
    }

    pub(crate) fn sys(what: impl Into<String>) -> impl FnOnce(crate::sys::Errno) -> OpsError {
        let what = what.into();
        move |source| OpsError::Sys { what, source }
    }
}

/// Result of an operation.
pub type Result<T> = std::result::Result<T, OpsError>;
