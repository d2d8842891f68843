//! `start`: open the gate of a created container.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::{OpsError, Result, Runtime};
use crate::logging::Phase;
use crate::state::{CONFIG_FILE, FIFO_FILE, SpecState, Status, TransitionError};

/// Starts container `id`: its init runs the startContainer hooks and execs
/// the container program; `start` returns once that happened (or failed),
/// then runs the poststart hooks.
pub fn start(rt: &Runtime, id: &str) -> Result<()> {
    let dir = rt.store.open(id)?;
    let state = dir.load()?;
    state.status(&dir).check_start()?;
    crate::faults::checkpoint("start:locked");
    let fifo = dir.file(FIFO_FILE);
    let gate = Phase::start("gate");
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
    drop(gate);
    let exec = Phase::start("exec");
    let failure = wait_for_exec(&f, &fifo)?;
    drop(exec);
    drop(f);
    crate::faults::checkpoint("start:signalled");
    std::fs::remove_file(&fifo).map_err(OpsError::io(format!("remove {}", fifo.display())))?;
    if let Some(msg) = failure {
        return Err(OpsError::Invalid(format!(
            "unable to start container process: {msg}"
        )));
    }
    if state.has_hooks
        && let Err(e) = run_poststart(&dir, &state)
    {
        // runtime-spec: a failing poststart hook stops the container.
        if let Some(fd) = state.init.and_then(|p| p.pidfd()) {
            let _ = crate::sys::process::pidfd_send_signal(
                fd.as_fd(),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        return Err(e);
    }
    Ok(())
}

/// Waits until the init has closed its end of the gate: at `execve`
/// (success) or on exit. A failure after the gate (a startContainer hook,
/// seccomp, exec) is written into the FIFO first; it is returned.
fn wait_for_exec(w: &std::fs::File, fifo: &std::path::Path) -> Result<Option<String>> {
    // With no events asked for, poll reports only POLLERR: no reader left.
    let mut fds = [PollFd::new(w.as_fd(), PollFlags::empty())];
    loop {
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(OpsError::sys("wait for the container's start")(e)),
            Ok(_) => break,
        }
    }
    // The pipe lives on while `w` is open: what the init wrote is there.
    let mut r = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(fifo)
        .map_err(OpsError::io(format!("open {}", fifo.display())))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break, // EAGAIN: everything read
        }
    }
    let msg = String::from_utf8_lossy(&buf).trim().to_string();
    Ok((!msg.is_empty()).then_some(msg))
}

/// poststart hooks: a failure is an error (runtime-spec 1.2+, runc), and
/// the caller stops the container.
pub(super) fn run_poststart(
    dir: &crate::state::ContainerDir,
    state: &crate::state::ContainerState,
) -> Result<()> {
    let Some(hooks) = saved_hooks(dir) else {
        return Ok(());
    };
    let Some(list) = hooks.poststart().as_deref().filter(|h| !h.is_empty()) else {
        return Ok(());
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
    crate::hooks::run_all("poststart", list, &json).map_err(|e| OpsError::Invalid(e.to_string()))
}

/// The hooks of the configuration saved at create time.
pub(super) fn saved_hooks(dir: &crate::state::ContainerDir) -> Option<oci_spec::runtime::Hooks> {
    let bytes = std::fs::read(dir.file(CONFIG_FILE)).ok()?;
    let spec = crate::spec::parse(&bytes).ok()?;
    spec.hooks().clone()
}
