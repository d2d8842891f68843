//! `kill`: signal a container's init, or every process in it.

use super::{OpsError, Result, Runtime};
use crate::cgroups;
use crate::sys::{self, Errno};

/// Sends signal number `sig` to container `id`'s init, or with `all` to
/// every process in its cgroup.
pub fn kill(rt: &Runtime, id: &str, sig: i32, all: bool) -> Result<()> {
    let dir = rt.store.open(id)?;
    let state = dir.load()?;
    state.status(&dir).check_kill(all)?;
    if all && let Some(rec) = &state.cgroup {
        let cg = cgroups::from_record(rec);
        for pid in cg.pids()? {
            match sys::process::kill_raw(pid, sig) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(OpsError::sys(format!("kill {pid}"))(e)),
            }
        }
        return Ok(());
    }
    let fd = state
        .init
        .and_then(|p| p.pidfd())
        .ok_or(crate::state::TransitionError::NotRunning)?;
    match sys::process::pidfd_send_signal_raw(std::os::fd::AsFd::as_fd(&fd), sig) {
        Ok(()) => Ok(()),
        // runc's wording, which containerd matches.
        Err(Errno::ESRCH) => Err(OpsError::Invalid("no such process".into())),
        Err(e) => Err(OpsError::sys("kill")(e)),
    }
}
