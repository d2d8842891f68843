//! What berth remembers about each container between invocations.
//!
//! `<root>/<id>/` holds `state.json` (the [`ContainerState`] record),
//! `config.json` (the configuration as it was at create time), and, until
//! `start`, the `exec.fifo` gate. Mutating commands hold an exclusive
//! `flock` on the directory; readers need no lock because every write is an
//! atomic rename.

mod id;
pub mod status;
mod store;

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use id::validate_id;
pub use status::{DeleteAction, Status, TransitionError};
pub use store::{CONFIG_FILE, ContainerDir, FIFO_FILE, STATE_FILE, StateError, Store};

use crate::cgroups::CgroupRecord;
use crate::proc::ProcessId;

/// The record saved in `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub oci_version: String,
    pub id: String,
    /// The last status a command recorded: `creating`, `created` or
    /// `paused`. `running` and `stopped` are derived from the init process
    /// and the gate, see [`ContainerState::status`].
    pub status: Status,
    /// The container's init process, once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<ProcessId>,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time with nanoseconds, UTC.
    pub created: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup, when berth manages one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupRecord>,
    /// Whether the init is the first process of its own PID namespace, so
    /// killing it ends every process of the container.
    #[serde(default)]
    pub own_pid_ns: bool,
    /// Whether the config has hooks that `start` or `delete` must run.
    #[serde(default)]
    pub has_hooks: bool,
}

impl ContainerState {
    /// The current status: the recorded one, corrected by what is observed.
    /// A dead (or replaced) init means `stopped`; a started gate means
    /// `running`.
    pub fn status(&self, dir: &ContainerDir) -> Status {
        let alive = self.init.as_ref().is_some_and(ProcessId::is_alive);
        match self.status {
            Status::Creating if self.init.is_none() => Status::Creating,
            _ if !alive => Status::Stopped,
            Status::Paused => Status::Paused,
            Status::Creating => Status::Creating,
            _ if dir.gate_exists() => Status::Created,
            _ => Status::Running,
        }
    }
}

/// The state object of the runtime spec, as hooks receive it on stdin.
#[derive(Debug, Clone, Serialize)]
pub struct SpecState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: Status,
    pub pid: i32,
    pub bundle: &'a std::path::Path,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

impl SpecState<'_> {
    /// The JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
