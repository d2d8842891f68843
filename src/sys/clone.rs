//! `clone3(2)`: the one call that creates every container process.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::unistd::Pid;

use super::{Result, check};

/// What `clone3` should do besides creating the process.
#[derive(Debug)]
pub struct CloneRequest<'a> {
    /// Namespace flags (`CLONE_NEW*`) for the child.
    pub namespaces: CloneFlags,
    /// Ask for a pidfd of the child (`CLONE_PIDFD`).
    pub pidfd: bool,
    /// Place the child straight into this cgroup2 directory (`CLONE_INTO_CGROUP`).
    pub cgroup: Option<BorrowedFd<'a>>,
    /// Make the child a sibling of the caller (`CLONE_PARENT`), so that the
    /// caller's parent reaps it.
    pub parent: bool,
}

impl Default for CloneRequest<'_> {
    fn default() -> Self {
        Self {
            namespaces: CloneFlags::empty(),
            pidfd: false,
            cgroup: None,
            parent: false,
        }
    }
}

/// `CLONE_INTO_CGROUP` (Linux 5.7); libc's constant is an `i32` that
/// cannot hold it.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Which side of the clone the caller is on.
#[derive(Debug)]
pub enum Forked {
    /// The original process; holds the child's PID (and pidfd if requested).
    Parent { pid: Pid, pidfd: Option<OwnedFd> },
    /// The new process.
    Child,
}

/// Creates a process with fork semantics (the child continues from this call
/// on a copy of the caller's stack and memory).
///
/// The caller must be single-threaded: the child gets only the calling
/// thread, so locks held by other threads would stay locked forever. berth
/// never starts a thread before launching a container.
pub fn clone3(req: &CloneRequest<'_>) -> Result<Forked> {
    let mut pidfd: libc::c_int = -1;
    let mut flags = req.namespaces.bits() as u64;
    if req.pidfd {
        flags |= libc::CLONE_PIDFD as u64;
    }
    if req.parent {
        flags |= libc::CLONE_PARENT as u64;
    }
    let mut cgroup = 0u64;
    if let Some(fd) = req.cgroup {
        flags |= CLONE_INTO_CGROUP;
        cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: clone_args is a plain C struct; all-zero is its documented
    // "no options" value.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags;
    args.pidfd = &mut pidfd as *mut libc::c_int as u64;
    // clone3 refuses an exit signal with CLONE_PARENT: the sibling then
    // inherits the caller's own (SIGCHLD, since berth created the caller).
    // Otherwise deliver SIGCHLD as fork does.
    args.exit_signal = if req.parent { 0 } else { libc::SIGCHLD as u64 };
    args.cgroup = cgroup;
    // SAFETY: `args` is valid for the duration of the call and its size is
    // passed alongside. With stack = 0 the kernel duplicates the caller's
    // stack (fork semantics), so both sides return here normally. The
    // function documents that the process must be single-threaded.
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    })?;
    if ret == 0 {
        return Ok(Forked::Child);
    }
    let pidfd = if req.pidfd && pidfd >= 0 {
        // SAFETY: the kernel stored a new pidfd that nothing else owns.
        Some(unsafe { OwnedFd::from_raw_fd(pidfd) })
    } else {
        None
    };
    Ok(Forked::Parent {
        pid: Pid::from_raw(ret as libc::pid_t),
        pidfd,
    })
}
