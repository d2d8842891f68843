//! `--pidfd-socket`: hands the caller a pidfd of the container's init
//! (`create`, `run`) or of an exec'd process. The framing is the console
//! socket's: one message whose data names the kind of process (`standard`
//! for an init, `setns` for a process joined to a container, as runc
//! names them) and whose only `SCM_RIGHTS` descriptor is the pidfd.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::{OpsError, Result};

/// Connects to the socket before anything is created, so a bad path fails
/// early.
pub(super) fn connect(path: &Path) -> Result<OwnedFd> {
    UnixStream::connect(path)
        .map(OwnedFd::from)
        .map_err(OpsError::io(format!("pidfd socket {}", path.display())))
}

/// Sends `pidfd` with the payload `kind`.
pub(super) fn send(conn: BorrowedFd<'_>, kind: &str, pidfd: BorrowedFd<'_>) -> Result<()> {
    crate::sys::fd::send_fd(conn, kind.as_bytes(), pidfd)
        .map_err(OpsError::sys("send pidfd to the pidfd socket"))
}
