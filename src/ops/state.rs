//! `state`: the container's state, in runc's JSON shape.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use super::{Result, Runtime};
use crate::state::{ContainerDir, ContainerState, Status};

/// What `state` prints (runc's `containerState`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContainerStatus {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    pub owner: String,
}

impl ContainerStatus {
    /// Combines the saved record with what is observed now.
    pub fn observe(state: &ContainerState, dir: &ContainerDir) -> Self {
        let status = state.status(dir);
        let pid = match status {
            Status::Stopped => 0,
            _ => state.init.map_or(0, |p| p.pid),
        };
        Self {
            oci_version: state.oci_version.clone(),
            id: state.id.clone(),
            pid,
            status,
            bundle: state.bundle.clone(),
            rootfs: state.rootfs.clone(),
            created: state.created.clone(),
            annotations: state.annotations.clone(),
            owner: String::new(),
        }
    }
}

/// Reads container `id`'s state. Needs no lock: state files are replaced
/// atomically.
pub fn state(rt: &Runtime, id: &str) -> Result<ContainerStatus> {
    let dir = rt.store.open_unlocked(id)?;
    let st = dir.load()?;
    Ok(ContainerStatus::observe(&st, &dir))
}
