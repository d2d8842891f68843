//! The runtime side of `exec`: a new process inside a running container.
//!
//! No re-exec and no namespace paths. berth opens a pidfd of the container's
//! init (the caller hands it over), enters the init's PID and time
//! namespaces for its children, and `clone3`s the new process, straight
//! into the container's cgroup where the host allows it (cgroup v2). The
//! child (`attach_child`) joins the other namespaces with one
//! `setns(pidfd, …)`, which the kernel applies atomically with the user
//! namespace first, then sets up the process and waits for `Start`.
//!
//! ```text
//! parent                                   child
//!   clone3 ─────────────────────────────▶
//!                                          joins its v1 cgroup (`tasks`)
//!   cgroup placement by PID
//!   Proceed ────────────────────────────▶   only if placed by PID
//!                                          rlimits, oom_score_adj, setns,
//!                                          setsid, console, user,
//!                                          capabilities
//!                              ◀─────────  Seccomp+fd   only with a listenerPath
//!   pass the fd to the listener
//!   SeccompDone ────────────────────────▶
//!                              ◀─────────  Ready
//!   Start ──────────────────────────────▶   only with a gate (--pidfd-socket)
//!                                          seccomp, execve (the socket closes)
//!                              ◀─────────  Error        only if execve failed
//! ```
//!
//! Where the parent has nothing to do between the clone and the program
//! (the usual case: a cgroup joined by `tasks` or `CLONE_INTO_CGROUP`, no
//! pidfd socket), the child runs from `clone3` to `execve` without waiting
//! for it: each wait is a round trip through the scheduler, which on a
//! loaded host costs more than the work around it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::LaunchError;
use super::attach_child::{self, ChildCtx};
use super::for_children::ChildNamespaces;
use super::protocol::{self, Channel, ChannelError, FromInit, ToInit};
use crate::seccomp::Compiled;
use crate::spec::{Config, Namespace, NsKind, ProcessConfig};
use crate::sys::clone::{CloneRequest, Forked, clone3};
use crate::sys::{self, Errno};

/// Where the new process's cgroup comes from.
pub struct Placement<'a> {
    /// A cgroup2 directory to `clone3` straight into.
    pub clone_into: Option<BorrowedFd<'a>>,
    /// The v1 cgroup the process joins by itself, first thing (then
    /// neither `clone_into` nor `add` is used).
    pub join: Option<&'a crate::cgroups::SelfJoin>,
    /// Moves the process into its cgroup(s); called when `clone_into` was
    /// absent or refused by the kernel, and there is no `join`.
    pub add: &'a dyn Fn(Pid) -> Result<(), LaunchError>,
}

/// Everything `exec` needs to start a process in a container.
pub struct ExecRequest<'a> {
    pub id: &'a str,
    /// The container's configuration (namespaces, seccomp, oomScoreAdj).
    pub config: &'a Config,
    /// The process to start.
    pub process: &'a ProcessConfig,
    /// The container's init.
    pub init: Pid,
    pub init_pidfd: BorrowedFd<'a>,
    pub placement: Placement<'a>,
    /// A connection that receives the pty master (with `terminal`).
    pub console: Option<BorrowedFd<'a>>,
    /// Descriptors after stdio passed into the process (3..3+n).
    pub preserve_fds: i32,
    /// The container's seccomp filter.
    pub seccomp: Option<Compiled>,
    /// The child waits for `Start` after `Ready` (the caller has something
    /// to do before the program runs); otherwise it goes straight on.
    pub gate: bool,
}

/// A started process waiting for `Start`. Dropped before a successful
/// [`Spawned::start`], it is killed and reaped.
#[derive(Debug)]
pub struct Spawned {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    chan: Option<Channel>,
    reap: bool,
    gate: bool,
}

impl Spawned {
    /// Lets the process exec its program. Returns once the program runs;
    /// an `execve` failure is an error (the process is reaped).
    pub fn start(&mut self) -> Result<(), LaunchError> {
        let Some(chan) = self.chan.take() else {
            return Ok(());
        };
        if self.gate {
            chan.send_to_init(ToInit::Start)?;
        }
        match chan.recv_from_init() {
            // The socket is close-on-exec: EOF means the program runs.
            Err(ChannelError::Closed) => {
                self.reap = false;
                Ok(())
            }
            Ok((FromInit::Error(msg), _)) => Err(LaunchError::Init(msg)),
            Ok((other, _)) => Err(ChannelError::OutOfOrder {
                expected: "EOF or Error",
                got: format!("{other:?}"),
            }
            .into()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.reap {
            let _ = sys::process::pidfd_send_signal(self.pidfd.as_fd(), Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Which of the init's namespaces differ from berth's own, split into those
/// the parent enters for its children (PID, time) and those the child
/// joins. Pure: `differs` answers for each kind.
pub fn split_joins(differs: impl Fn(NsKind) -> bool) -> (CloneFlags, CloneFlags) {
    let mut parent = CloneFlags::empty();
    let mut child = CloneFlags::empty();
    for kind in NsKind::ALL {
        if !differs(kind) {
            continue;
        }
        match kind {
            NsKind::Pid | NsKind::Time => parent |= kind.flag(),
            _ => child |= kind.flag(),
        }
    }
    (parent, child)
}

/// Whether the container made its own namespace of `kind` at `create`
/// (listed without a path): then the init's differs from berth's without
/// asking `/proc` (two nsfs look-ups per kind, a fifth of exec's system
/// calls on Docker's bundle). Never for the user namespace: joining one's
/// own is refused by the kernel, so that one is always compared.
fn made_by_container(namespaces: &[Namespace], kind: NsKind) -> bool {
    kind != NsKind::User
        && namespaces
            .iter()
            .any(|n| n.kind == kind && n.path.is_none())
}

/// Whether process `pid` is in another namespace of `kind` than berth.
/// Joining one's own user namespace is refused by the kernel, so only
/// namespaces that differ are joined.
fn ns_differs(pid: Pid, kind: NsKind) -> Result<bool, LaunchError> {
    let id = |p: String| {
        nix::sys::stat::stat(p.as_str())
            .map(|st| (st.st_dev, st.st_ino))
            .map_err(LaunchError::sys(format!("stat {p}")))
    };
    let theirs = match id(format!("/proc/{pid}/ns/{}", kind.proc_name())) {
        Ok(v) => v,
        // A kernel without this namespace type.
        Err(LaunchError::Sys {
            source: Errno::ENOENT,
            ..
        }) if kind == NsKind::Time => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(theirs != id(format!("/proc/self/ns/{}", kind.proc_name()))?)
}

/// Enters the container's PID and time namespaces (those in `flags`) for
/// berth's next child; the value returned leads back after the clone.
///
/// Rootless (`join_user`): entering a PID namespace needs `CAP_SYS_ADMIN`
/// over the user namespace that owns it, which an unprivileged berth has
/// only inside the container's user namespace. berth joins that one too
/// (the kernel does it first, atomically): it owns it, and there is no way
/// back, so nothing is remembered to leave.
fn enter_for_child(
    init_pidfd: BorrowedFd<'_>,
    flags: CloneFlags,
    join_user: bool,
) -> Result<ChildNamespaces, LaunchError> {
    let mut ns = ChildNamespaces::default();
    if join_user {
        nix::sched::setns(init_pidfd, flags | CloneFlags::CLONE_NEWUSER).map_err(
            LaunchError::sys("enter the container's user, PID and time namespaces (rootless)"),
        )?;
        return Ok(ns);
    }
    for kind in [NsKind::Pid, NsKind::Time] {
        if flags.contains(kind.flag()) {
            ns.remember(kind)?;
        }
    }
    if !flags.is_empty() {
        nix::sched::setns(init_pidfd, flags).map_err(LaunchError::sys(
            "enter the container's PID and time namespaces",
        ))?;
    }
    Ok(ns)
}

/// Starts the process and drives it until it is `Ready` for `Start`.
pub fn spawn(req: &ExecRequest<'_>) -> Result<Spawned, LaunchError> {
    // Read on the host, before any setns: the child resets only these.
    if let Some(mask) = crate::proc::ignored_signals() {
        crate::sys::process::note_ignored_signals(mask);
    }
    let mut differs = [false; NsKind::ALL.len()];
    for (i, kind) in NsKind::ALL.iter().enumerate() {
        differs[i] =
            made_by_container(&req.config.namespaces, *kind) || ns_differs(req.init, *kind)?;
    }
    let (parent_ns, mut child_ns) = split_joins(|k| {
        NsKind::ALL
            .iter()
            .position(|x| *x == k)
            .is_some_and(|i| differs[i])
    });
    // Unprivileged, berth must be in the container's user namespace to
    // enter its PID namespace; the child then inherits it.
    let join_user = !parent_ns.is_empty()
        && child_ns.contains(CloneFlags::CLONE_NEWUSER)
        && !nix::unistd::geteuid().is_root();
    if join_user {
        child_ns.remove(CloneFlags::CLONE_NEWUSER);
    }
    let console = req
        .console
        .map(|fd| fd.try_clone_to_owned())
        .transpose()
        .map_err(|e| LaunchError::Sys {
            what: "duplicate console socket".into(),
            source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)),
        })?;
    let (parent_chan, child_chan) = protocol::pair()?;

    let ns = enter_for_child(req.init_pidfd, parent_ns, join_user)?;
    let mut forked = clone3(&CloneRequest {
        pidfd: true,
        cgroup: req.placement.clone_into,
        ..CloneRequest::default()
    });
    let mut cloned_into = req.placement.clone_into.is_some();
    if cloned_into && forked.is_err() {
        // Kernels or cgroups that refuse CLONE_INTO_CGROUP: place by PID.
        cloned_into = false;
        forked = clone3(&CloneRequest {
            pidfd: true,
            ..CloneRequest::default()
        });
    }
    // berth moves the process by PID (and the child waits for that) when
    // neither the clone nor the child's own `tasks` writes place it, or
    // when the clone into the cgroup2 hierarchy of a hybrid host failed.
    let placed_by_parent = |cloned_into: bool| {
        !cloned_into && (req.placement.join.is_none() || req.placement.clone_into.is_some())
    };
    let (pid, pidfd) = match forked {
        Ok(Forked::Child) => {
            drop(parent_chan);
            attach_child::run(ChildCtx {
                req,
                chan: child_chan,
                namespaces: child_ns,
                console,
                wait_proceed: placed_by_parent(cloned_into),
            })
        }
        Ok(Forked::Parent { pid, pidfd }) => {
            // The code that loaded the state and config and prepared the
            // clone will not run again here: dropping its pages lowers
            // exec's peak resident set (3456 -> 3324 KiB on Docker's
            // bundle; the peak is reached here, and what the parent runs
            // from now on faults back in about 30 windows). The child is
            // unaffected: fork copies no page-table entries of a file
            // mapping never written, so it faults its own code in anyway.
            let _ = sys::mem::release_code();
            (pid, pidfd)
        }
        Err(source) => {
            ns.leave_unless_refused()?;
            return Err(LaunchError::Sys {
                what: "clone3".into(),
                source,
            });
        }
    };
    drop(child_chan);
    drop(console);
    let Some(pidfd) = pidfd.or_else(|| sys::process::pidfd_open(pid).ok()) else {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        return Err(LaunchError::Sys {
            what: "pidfd of the new process".into(),
            source: Errno::EBADF,
        });
    };
    let mut spawned = Spawned {
        pid,
        pidfd,
        chan: None,
        reap: true,
        gate: req.gate,
    };
    ns.leave_unless_refused()?;
    crate::faults::checkpoint("exec:cloned");
    // The child waits for `Proceed` only in this case (`ChildCtx`).
    if placed_by_parent(cloned_into) {
        (req.placement.add)(pid)?;
        parent_chan.send_to_init(ToInit::Proceed)?;
    }
    let mut seccomp_seen = false;
    loop {
        match parent_chan.recv_from_init() {
            Ok((FromInit::Ready, _)) => break,
            Ok((FromInit::Seccomp, fd)) if !seccomp_seen => {
                seccomp_seen = true;
                let fd = fd.ok_or(LaunchError::Sys {
                    what: "seccomp listener descriptor".into(),
                    source: Errno::EBADMSG,
                })?;
                super::parent::send_to_listener(
                    req.config,
                    req.id,
                    "running",
                    (req.init, pid),
                    fd.as_fd(),
                )?;
                parent_chan.send_to_init(ToInit::SeccompDone)?;
            }
            Ok((FromInit::Error(msg), _)) => {
                let _ = waitpid(pid, None);
                spawned.reap = false;
                return Err(LaunchError::Init(msg));
            }
            Ok((other, _)) => {
                return Err(ChannelError::OutOfOrder {
                    expected: "Seccomp or Ready",
                    got: format!("{other:?}"),
                }
                .into());
            }
            Err(ChannelError::Closed) => {
                spawned.reap = false;
                return Err(LaunchError::InitDied(describe_exit(pid)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    spawned.chan = Some(parent_chan);
    Ok(spawned)
}

fn describe_exit(pid: Pid) -> String {
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        Ok(other) => format!("{other:?}"),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_and_time_go_to_the_parent() {
        let (p, c) = split_joins(|_| true);
        assert_eq!(p, NsKind::Pid.flag() | NsKind::Time.flag());
        assert!(c.contains(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS));
        assert!(!c.contains(CloneFlags::CLONE_NEWPID));
    }

    #[test]
    fn only_new_namespaces_other_than_user_skip_the_comparison() {
        let ns = |kind, path: Option<&str>| Namespace {
            kind,
            path: path.map(Into::into),
        };
        let list = [
            ns(NsKind::Net, None),
            ns(NsKind::Ipc, Some("/proc/1/ns/ipc")),
            ns(NsKind::User, None),
        ];
        assert!(made_by_container(&list, NsKind::Net));
        // Joined by path: may be berth's own.
        assert!(!made_by_container(&list, NsKind::Ipc));
        // Joining one's own user namespace fails: always compared.
        assert!(!made_by_container(&list, NsKind::User));
        // Not listed: shared with the creator.
        assert!(!made_by_container(&list, NsKind::Uts));
    }

    #[test]
    fn shared_namespaces_are_not_joined() {
        let (p, c) = split_joins(|k| k == NsKind::Mount || k == NsKind::Uts);
        assert!(p.is_empty());
        assert_eq!(c, CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS);
        let (p, c) = split_joins(|_| false);
        assert!(p.is_empty() && c.is_empty());
    }
}
