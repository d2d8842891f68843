//! `delete`: release everything a container holds.

use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;

use super::{OpsError, Result, Runtime};
use crate::cgroups;
use crate::state::{ContainerDir, ContainerState, DeleteAction, SpecState, StateError, Status};
use crate::sys;

/// Deletes container `id`. A created container is killed first (as runc
/// does); a running one only with `force`. `force` on a missing container
/// succeeds.
pub fn delete(rt: &Runtime, id: &str, force: bool) -> Result<()> {
    let dir = match rt.store.open(id) {
        Ok(d) => d,
        Err(StateError::NotExist) if force => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let state = match dir.load() {
        Ok(s) => s,
        // A create that died before recording anything: only the directory.
        Err(StateError::NotExist) if force => return dir.remove().map_err(Into::into),
        Err(e) => return Err(e.into()),
    };
    let action = state.status(&dir).check_delete(id, force)?;
    destroy(&state, action)?;
    crate::faults::checkpoint("delete:cgroup");
    if state.has_hooks {
        run_poststop(&dir, &state);
    }
    dir.remove()?;
    Ok(())
}

/// Kills what still runs and removes the cgroup.
pub(super) fn destroy(state: &ContainerState, action: DeleteAction) -> Result<()> {
    let cgroup = state.cgroup.as_ref().map(cgroups::from_record);
    if action == DeleteAction::KillThenRelease {
        // A paused container's init cannot exit while frozen (v1): the
        // cgroup's kill thaws what it kills.
        if let Some(cg) = &cgroup
            && cg.is_frozen().unwrap_or(false)
        {
            cg.destroy()?;
        }
        kill_init(state)?;
    }
    crate::faults::checkpoint("delete:killed");
    if let Some(cg) = &cgroup {
        // Also kills processes left behind by a container without its own
        // PID namespace, then removes the directories.
        cg.destroy()?;
    }
    Ok(())
}

/// SIGKILLs the init and waits until it has exited (it may not be our
/// child, so its pidfd is polled rather than waited for).
fn kill_init(state: &ContainerState) -> Result<()> {
    let Some(fd) = state.init.and_then(|p| p.pidfd()) else {
        return Ok(());
    };
    match sys::process::pidfd_send_signal(fd.as_fd(), Signal::SIGKILL) {
        Ok(()) | Err(sys::Errno::ESRCH) => {}
        Err(e) => return Err(OpsError::sys("kill init")(e)),
    }
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, PollTimeout::from(10_000u16)) {
            Ok(0) => {
                return Err(OpsError::Invalid(
                    "the container's init did not exit within 10s of SIGKILL".into(),
                ));
            }
            Ok(_) => return Ok(()),
            Err(sys::Errno::EINTR) => continue,
            Err(e) => return Err(OpsError::sys("wait for init")(e)),
        }
    }
}

/// poststop hooks: failures are warnings.
pub(super) fn run_poststop(dir: &ContainerDir, state: &ContainerState) {
    let Some(hooks) = super::start::saved_hooks(dir) else {
        return;
    };
    let Some(list) = hooks.poststop().as_deref().filter(|h| !h.is_empty()) else {
        return;
    };
    let json = SpecState {
        oci_version: &state.oci_version,
        id: &state.id,
        status: Status::Stopped,
        pid: 0,
        bundle: &state.bundle,
        annotations: &state.annotations,
    }
    .to_json();
    crate::hooks::run_all_warn("poststop", list, &json);
}
