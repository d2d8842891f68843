//! `pause` and `resume`: freeze and thaw every process of a container.

use super::{OpsError, Result, Runtime};
use crate::cgroups;
use crate::state::Status;

/// Freezes container `id` (a running or created one); `state` then shows
/// `paused`.
pub fn pause(rt: &Runtime, id: &str) -> Result<()> {
    let dir = rt.store.open(id)?;
    let mut state = dir.load()?;
    state.status(&dir).check_pause()?;
    cgroup_of(&state, id)?.freeze(true)?;
    state.status = Status::Paused;
    dir.save(&state)?;
    Ok(())
}

/// Thaws a paused container `id`.
pub fn resume(rt: &Runtime, id: &str) -> Result<()> {
    let dir = rt.store.open(id)?;
    let mut state = dir.load()?;
    state.status(&dir).check_resume()?;
    cgroup_of(&state, id)?.freeze(false)?;
    // `created` until `start` opens the gate; `state` derives the rest.
    state.status = if dir.gate_exists() {
        Status::Created
    } else {
        Status::Running
    };
    dir.save(&state)?;
    Ok(())
}

fn cgroup_of(state: &crate::state::ContainerState, id: &str) -> Result<Box<dyn cgroups::Manager>> {
    state
        .cgroup
        .as_ref()
        .map(cgroups::from_record)
        .ok_or_else(|| OpsError::Invalid(format!("container {id} has no cgroup to freeze")))
}
