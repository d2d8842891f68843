//! `start`: open the gate of a created container.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use super::{OpsError, Result, Runtime};
use crate::state::{CONFIG_FILE, FIFO_FILE, SpecState, Status, TransitionError};

/// Starts container `id`: its init execs the container program.
pub fn start(rt: &Runtime, id: &str) -> Result<()> {
    let dir = rt.store.open(id)?;
    let state = dir.load()?;
    state.status(&dir).check_start()?;
    crate::faults::checkpoint("start:locked");
    let fifo = dir.file(FIFO_FILE);
    // Non-blocking: with no reader (the init is gone) this fails at once
    // with ENXIO instead of waiting forever.
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Err(TransitionError::StartStopped.into());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TransitionError::StartRunning.into());
        }
        Err(e) => return Err(OpsError::io(format!("open {}", fifo.display()))(e)),
    };
    f.write_all(b"0")
        .map_err(OpsError::io(format!("write {}", fifo.display())))?;
    drop(f);
    crate::faults::checkpoint("start:signalled");
    std::fs::remove_file(&fifo).map_err(OpsError::io(format!("remove {}", fifo.display())))?;
    if state.has_hooks {
        run_poststart(&dir, &state);
    }
    Ok(())
}

/// poststart hooks: failures are warnings.
pub(super) fn run_poststart(
    dir: &crate::state::ContainerDir,
    state: &crate::state::ContainerState,
) {
    let Some(hooks) = saved_hooks(dir) else {
        return;
    };
    let Some(list) = hooks.poststart().as_deref().filter(|h| !h.is_empty()) else {
        return;
    };
    let json = SpecState {
        oci_version: &state.oci_version,
        id: &state.id,
        status: Status::Running,
        pid: state.init.map_or(0, |p| p.pid),
        bundle: &state.bundle,
        annotations: &state.annotations,
    }
    .to_json();
    crate::hooks::run_all_warn("poststart", list, &json);
}

/// The hooks of the configuration saved at create time.
pub(super) fn saved_hooks(dir: &crate::state::ContainerDir) -> Option<oci_spec::runtime::Hooks> {
    let bytes = std::fs::read(dir.file(CONFIG_FILE)).ok()?;
    let spec = crate::spec::parse(&bytes).ok()?;
    spec.hooks().clone()
}
