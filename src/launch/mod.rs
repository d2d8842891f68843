//! Launching a container process: one `clone3` into the new namespaces
//! (and straight into the cgroup where the kernel allows it), a typed
//! protocol over one socketpair, and the set-up the init performs before
//! it waits at the gate. See `docs/launch.md` for the sequence.
//!
//! - [`plan`]: which namespaces are created or joined, and where (pure);
//! - [`protocol`]: the messages and their order;
//! - `parent`: the runtime side, up to `Ready`;
//! - `init`: the container side, from `clone3` to `execve`;
//! - `rootfs`, `dev`: the root filesystem;
//! - `identity`, `exec`: user, capabilities, limits and the program;
//! - [`attrs`]: scheduler, I/O priority, personality, memory policy, LSM
//!   labels and CPU affinity;
//! - `idmap`, `copyup`, `netdev`: idmapped mounts (made by the parent),
//!   `tmpcopyup`, and `linux.netDevices`;
//! - [`attach`], `attach_child`: `exec`, a new process in a running
//!   container;
//! - [`stub`]: the sealed exec stub (CVE-2019-5736);
//! - [`procfs`]: the verified host procfs handle every `/proc` write goes
//!   through (CVE-2019-16884 / CVE-2025-52881 class).

pub mod attach;
mod attach_child;
pub mod attrs;
mod copyup;
mod dev;
mod exec;
mod for_children;
mod identity;
mod idmap;
mod init;
mod netdev;
mod parent;
pub mod plan;
pub mod procfs;
pub mod protocol;
mod rootfs;
pub mod stub;
mod usermap;

use std::path::PathBuf;

pub use attach::{ExecRequest, Placement, Spawned, spawn};
pub use exec::look_path;
pub use identity::{IdentityError, apply_identity, apply_rlimits, verify_cwd};
pub use parent::{Gate, LaunchRequest, Launched, launch};
pub use rootfs::RootfsError;

use crate::sys::Errno;

/// Launch failures, as the parent reports them.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The init reported a failure during set-up.
    #[error("unable to start container process: {0}")]
    Init(String),
    /// The init died without reporting why.
    #[error("unable to start container process: container init exited unexpectedly ({0})")]
    InitDied(String),
    #[error(transparent)]
    Channel(#[from] protocol::ChannelError),
    #[error("{what}: {source}")]
    Sys { what: String, source: Errno },
    #[error("linux.namespaces: {kind} namespace path {}: {source}", path.display())]
    NamespacePath {
        kind: &'static str,
        path: PathBuf,
        source: Errno,
    },
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// `newuidmap`/`newgidmap` refused a mapping.
    #[error("{field}: {command}: {msg}")]
    IdMap {
        field: &'static str,
        command: String,
        msg: String,
    },
    #[error("seccomp listener {path}: {source}")]
    Listener {
        path: String,
        source: std::io::Error,
    },
}

impl LaunchError {
    pub(crate) fn sys(what: impl Into<String>) -> impl FnOnce(Errno) -> LaunchError {
        let what = what.into();
        move |source| LaunchError::Sys { what, source }
    }
}
