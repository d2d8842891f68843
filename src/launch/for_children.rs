//! The PID and time namespaces berth's next child is born into.
//!
//! Both kinds apply only to children (`/proc/self/ns/pid_for_children`,
//! `time_for_children`): berth enters them (`setns` or `unshare`) just
//! before a `clone3` and returns to its own right after it. `create` does
//! so for namespaces given by path and a new time namespace, `exec` for
//! the container's.

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

use super::LaunchError;
use crate::spec::NsKind;
use crate::sys::Errno;

/// The namespaces berth's children got before it changed them, to return to.
#[derive(Default)]
pub(super) struct ChildNamespaces {
    restore: Vec<(CloneFlags, OwnedFd)>,
}

impl ChildNamespaces {
    /// Remembers the `kind` namespace (PID or time) berth's children get
    /// now. Call it before changing that namespace; `leave` returns to it.
    pub fn remember(&mut self, kind: NsKind) -> Result<(), LaunchError> {
        let name = match kind {
            NsKind::Pid => "pid_for_children",
            NsKind::Time => "time_for_children",
            other => {
                return Err(LaunchError::sys(format!(
                    "{} namespaces are not chosen per child",
                    other.spec_name()
                ))(Errno::EINVAL));
            }
        };
        let path = format!("/proc/self/ns/{name}");
        let fd = nix::fcntl::open(
            path.as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(LaunchError::sys(format!("open {path}")))?;
        self.restore.push((kind.flag(), fd));
        Ok(())
    }

    /// Returns berth's children to the namespaces remembered.
    pub fn leave(self) -> Result<(), LaunchError> {
        for (flag, fd) in self.restore {
            nix::sched::setns(fd.as_fd(), flag)
                .map_err(LaunchError::sys("restore the runtime's namespaces"))?;
        }
        Ok(())
    }

    /// Like [`leave`](Self::leave), for `exec`, which clones nothing after
    /// its one process: a namespace berth may not return to is kept. That
    /// is the case under rootless podman, where berth is root only in
    /// podman's user namespace while its own PID namespace belongs to the
    /// initial one (`setns` back needs `CAP_SYS_ADMIN` there: `EPERM`).
    /// Only berth's later children would be born in the container's
    /// namespaces, and there are none.
    pub fn leave_unless_refused(self) -> Result<(), LaunchError> {
        for (flag, fd) in self.restore {
            match nix::sched::setns(fd.as_fd(), flag) {
                Ok(()) | Err(Errno::EPERM) => {}
                Err(e) => return Err(LaunchError::sys("restore the runtime's namespaces")(e)),
            }
        }
        Ok(())
    }
}
