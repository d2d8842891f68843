//! Process-level calls that `nix` does not wrap: pidfds, signal-state
//! reset, domain name, scheduling attributes, I/O priority, memory policy
//! and `execve` with pre-built argument vectors.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{Errno, Result, check};

/// Opens a pidfd for `pid` (`pidfd_open(2)`).
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) })?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Sends `sig` to the process behind `pidfd`; immune to PID reuse.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: Signal) -> Result<()> {
    // SAFETY: NULL siginfo asks the kernel to fill in a default one.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig as libc::c_int,
            std::ptr::null::<u8>(),
            0,
        )
    })
    .map(drop)
}

/// Sends a raw signal number (real-time signals have no `Signal` variant).
pub fn pidfd_send_signal_raw(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> Result<()> {
    // SAFETY: as above.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0,
        )
    })
    .map(drop)
}

/// Sends a raw signal number to a PID (`kill(2)`).
pub fn kill_raw(pid: Pid, sig: libc::c_int) -> Result<()> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::kill(pid.as_raw(), sig) } as libc::c_long).map(drop)
}

/// The signals known to be ignored in the process about to be cloned, one
/// bit per signal (bit `n - 1` for signal `n`); all ones when unknown.
static IGNORED: AtomicU64 = AtomicU64::new(u64::MAX);

/// Records, in the parent before a clone, which signals it ignores (the
/// `SigIgn` mask of its status); the child copies this memory, and
/// [`reset_signals`] then resets only those (SIGPIPE always: the children
/// ignore it themselves).
pub fn note_ignored_signals(mask: u64) {
    IGNORED.store(mask | 1 << (libc::SIGPIPE - 1), Ordering::Relaxed);
}

/// Restores every ignored signal to its default disposition and unblocks
/// them all, so the container program starts with a clean signal state
/// (Rust's runtime ignores SIGPIPE, and `exec` keeps ignored signals
/// ignored). Caught signals need nothing: `execve` resets their handlers.
/// Which are ignored comes from [`note_ignored_signals`]; without it, all
/// 64 are reset.
pub fn reset_signals() -> Result<()> {
    let ignored = IGNORED.load(Ordering::Relaxed);
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || ignored & (1 << (sig - 1)) == 0 {
            continue;
        }
        // SAFETY: installs SIG_DFL, which needs no handler memory. Signals
        // reserved by libc yield EINVAL, which is ignored.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: an empty, properly initialised set is passed by pointer.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        check(libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) as libc::c_long)?;
    }
    Ok(())
}

/// Ignores SIGPIPE again (after [`reset_signals`]), so a write to a
/// closed pipe or socket fails with EPIPE instead of killing the caller.
pub fn ignore_sigpipe() {
    // SAFETY: installs SIG_IGN, which needs no handler memory.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Sets the NIS domain name of the current UTS namespace.
pub fn set_domainname(name: &str) -> Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } as libc::c_long)
        .map(drop)
}

/// `sched_setattr(2)` for the calling thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// Applies scheduling attributes to the calling thread.
pub fn sched_setattr(a: &SchedAttr) -> Result<()> {
    // SAFETY: sched_attr is a plain C struct; zero is a valid start.
    let mut attr: libc::sched_attr = unsafe { std::mem::zeroed() };
    attr.size = std::mem::size_of::<libc::sched_attr>() as u32;
    attr.sched_policy = a.policy;
    attr.sched_flags = a.flags;
    attr.sched_nice = a.nice;
    attr.sched_priority = a.priority;
    attr.sched_runtime = a.runtime;
    attr.sched_deadline = a.deadline;
    attr.sched_period = a.period;
    // SAFETY: the struct is valid for the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            &mut attr as *mut libc::sched_attr,
            0,
        )
    })
    .map(drop)
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level)`.
pub fn ioprio_set(class: u32, level: u32) -> Result<()> {
    let value = (class << 13) | (level & 0x1fff);
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) }).map(drop)
}

/// `set_mempolicy(mode | flags, nodemask)` for the calling thread.
pub fn set_mempolicy(mode: i32, nodemask: &[libc::c_ulong]) -> Result<()> {
    let maxnode = (nodemask.len() * libc::c_ulong::BITS as usize) as libc::c_ulong;
    let ptr = if nodemask.is_empty() {
        std::ptr::null()
    } else {
        nodemask.as_ptr()
    };
    // SAFETY: `ptr` covers `maxnode` bits (or is NULL with maxnode 0).
    check(unsafe {
        libc::syscall(
            libc::SYS_set_mempolicy,
            mode,
            ptr,
            if nodemask.is_empty() { 0 } else { maxnode + 1 },
        )
    })
    .map(drop)
}

/// `personality(2)`.
pub fn set_personality(persona: libc::c_ulong) -> Result<()> {
    // SAFETY: plain integer argument.
    check(unsafe { libc::personality(persona) } as libc::c_long).map(drop)
}

/// Replaces the process image. `argv` and `envp` must be NULL-terminated
/// pointer arrays into the given `CString`s, which [`ExecArgs`] guarantees.
pub fn execve(args: &ExecArgs) -> Errno {
    // SAFETY: ExecArgs keeps the strings alive and the arrays terminated.
    unsafe {
        libc::execve(
            args.path.as_ptr(),
            args.argv_ptrs.as_ptr(),
            args.envp_ptrs.as_ptr(),
        )
    };
    Errno::last()
}

/// Replaces the process image with the file behind `fd` (`execveat` with
/// `AT_EMPTY_PATH`), passing the argument vectors of `args`.
pub fn execveat_fd(fd: BorrowedFd<'_>, args: &ExecArgs) -> Errno {
    let empty = c"";
    // SAFETY: as for `execve`.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            args.argv_ptrs.as_ptr(),
            args.envp_ptrs.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}

/// Argument and environment vectors prepared before the final `execve`, so
/// that nothing needs to allocate after the seccomp filter is in place.
#[derive(Debug)]
pub struct ExecArgs {
    path: CString,
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
}

impl ExecArgs {
    /// Builds the vectors; fails with `EINVAL` when a string holds a NUL byte.
    pub fn new(path: &str, argv: &[String], envp: &[String]) -> Result<Self> {
        let to_c = |s: &String| CString::new(s.as_bytes()).map_err(|_| Errno::EINVAL);
        let path = CString::new(path).map_err(|_| Errno::EINVAL)?;
        let argv: Vec<CString> = argv.iter().map(to_c).collect::<Result<_>>()?;
        let envp: Vec<CString> = envp.iter().map(to_c).collect::<Result<_>>()?;
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
        envp_ptrs.push(std::ptr::null());
        Ok(Self {
            path,
            _argv: argv,
            _envp: envp,
            argv_ptrs,
            envp_ptrs,
        })
    }

    /// The program path.
    pub fn path(&self) -> &CStr {
        &self.path
    }
}

/// Joins a new anonymous session keyring, so the container does not share
/// the caller's (runc does the same unless `--no-new-keyring`).
pub fn join_new_session_keyring() -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: a NULL name asks for a new anonymous keyring.
    check(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    })
    .map(drop)
}

/// Exits the process at once, without running destructors or atexit
/// handlers (a forked child must not flush or free its parent's state).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no memory of ours.
    unsafe { libc::_exit(code) }
}
