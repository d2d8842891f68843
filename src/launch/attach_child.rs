//! The container side of `exec`: runs in the process `attach::spawn`
//! cloned, from the first instruction after `clone3` to `execve`. It never
//! returns: it execs the program or reports an error and exits 255.
//!
//! The steps, in order:
//! 1. guard: parent-death signal, non-dumpable; join a v1 cgroup (its
//!    `tasks` files); wait for `Proceed` only if the parent places it in
//!    its cgroup by PID;
//! 2. rlimits and the container's `oomScoreAdj`, while berth's own
//!    privileges still apply (a user namespace would take away the right
//!    to raise them);
//! 3. `setns` through the init's pidfd into every namespace that differs
//!    from berth's (user first, as the kernel applies them), the user
//!    namespace's root, `setsid`, a new session keyring;
//! 4. console, `no_new_privs`, umask, environment and program path;
//! 5. user, groups, capabilities, cwd (seccomp before them when it needs
//!    privileges), the LSM labels for exec;
//! 6. `Ready`, `Start` (only with a gate), then signals, descriptors,
//!    seccomp and `execve`.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;

use super::attach::ExecRequest;
use super::attrs;
use super::protocol::{Channel, ChannelError, FromInit, ToInit};
use super::stub::PreparedExec;
use super::{exec, identity};
use crate::seccomp::{self, LoadPoint};
use crate::sys;

/// What the child gets from the parent (by memory, as `clone3` copies it).
pub(super) struct ChildCtx<'a> {
    pub req: &'a ExecRequest<'a>,
    pub chan: Channel,
    /// The namespaces to join through the init's pidfd.
    pub namespaces: CloneFlags,
    pub console: Option<OwnedFd>,
    /// The parent places the process by PID and sends `Proceed` after.
    pub wait_proceed: bool,
}

/// Set-up failures; sent to the parent as text.
#[derive(Debug, thiserror::Error)]
enum ChildError {
    #[error("{what}: {source}")]
    Sys { what: String, source: Errno },
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error(transparent)]
    Tty(#[from] crate::tty::TtyError),
    #[error("{0}")]
    Msg(String),
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(Errno) -> ChildError {
    let what = what.into();
    move |source| ChildError::Sys { what, source }
}

/// Entry point of the child. Never returns.
pub(super) fn run(ctx: ChildCtx<'_>) -> ! {
    let err = match setup(&ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // The failure may come after the signals were reset: a parent gone
    // must not turn the report into a SIGPIPE death.
    sys::process::ignore_sigpipe();
    let _ = ctx
        .chan
        .send_to_parent(&FromInit::Error(err.to_string()), None);
    sys::process::exit_now(255)
}

fn setup(ctx: &ChildCtx<'_>) -> Result<std::convert::Infallible, ChildError> {
    let req = ctx.req;
    let process = req.process;
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(sys_err("set parent death signal"))?;
    // Out of reach of ptrace and /proc from the container while berth's
    // descriptors are still open here (CVE-2016-9962).
    nix::sys::prctl::set_dumpable(false).map_err(sys_err("prctl(PR_SET_DUMPABLE)"))?;
    if let Some(j) = req.placement.join {
        j.join().map_err(|e| ChildError::Msg(e.to_string()))?;
    }
    if ctx.wait_proceed {
        ctx.chan.expect_from_parent(ToInit::Proceed)?;
    }

    identity::apply_rlimits(process)?;
    // Before joining the container's mount namespace, while /proc is
    // still the host's: a verified procfs handle (CVE-2019-16884 class).
    let proc = super::procfs::HostProc::open().map_err(sys_err("open the host's /proc"))?;
    // runc gives exec'd processes the container's oomScoreAdj. Written
    // here, with berth's own credentials, so the parent need not wait.
    if let Some(adj) = req.config.process.as_ref().and_then(|p| p.oom_score_adj) {
        write_oom_score_adj(&proc, adj)?;
    }
    let labels =
        attrs::LabelFiles::open(process, &proc).map_err(|e| ChildError::Msg(e.to_string()))?;
    if !ctx.namespaces.is_empty() {
        nix::sched::setns(req.init_pidfd, ctx.namespaces)
            .map_err(sys_err("join the container's namespaces"))?;
    }
    if ctx.namespaces.contains(CloneFlags::CLONE_NEWUSER) {
        identity::become_userns_root()?;
    }
    nix::unistd::setsid().map_err(sys_err("setsid"))?;
    crate::faults::checkpoint("exec:joined");
    labels
        .join_session_keyring()
        .map_err(|e| ChildError::Msg(e.to_string()))?;
    if let Some(sock) = &ctx.console {
        crate::tty::setup_exec_console(sock.as_fd(), process.console_size)?;
    }
    if process.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(sys_err("prctl(PR_SET_NO_NEW_PRIVS)"))?;
    }
    let container_umask = req.config.process.as_ref().and_then(|p| p.user.umask);
    if let Some(umask) = process.user.umask.or(container_umask) {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    }

    let exec = exec::prepare(process, req.config.seccomp.as_ref())
        .map_err(ChildError::Msg)?
        .exec;

    // As in the init (`seccomp::LoadPoint`).
    let load_at = req
        .seccomp
        .as_ref()
        .map(|s| seccomp::load_point(s.notify, process.no_new_privileges, &process.caps.effective));
    if load_at == Some(LoadPoint::BeforeIdentity) {
        load_seccomp(ctx)?;
    }
    let in_userns = req.config.in_userns();
    let setgroups = identity::setgroups_allowed(in_userns, &proc);
    drop(proc);
    identity::create_cwd(&process.cwd)?;
    identity::apply_identity(process, setgroups)?;
    // As in runc's setns init: after the identity, before a late filter.
    labels
        .apply_apparmor()
        .and_then(|()| labels.apply_selinux())
        .map_err(|e| ChildError::Msg(e.to_string()))?;
    crate::faults::checkpoint("exec:identity");
    if load_at == Some(LoadPoint::AfterIdentity) {
        load_seccomp(ctx)?;
    }

    nix::sys::prctl::set_pdeathsig(None).map_err(sys_err("clear parent death signal"))?;
    ctx.chan.send_to_parent(&FromInit::Ready, None)?;
    if req.gate {
        ctx.chan.expect_from_parent(ToInit::Start)?;
    }
    exec_program(ctx, &exec, load_at == Some(LoadPoint::Last))
}

/// Writes `adj` to the calling process's `oom_score_adj` (host procfs).
fn write_oom_score_adj(proc: &super::procfs::HostProc, adj: i32) -> Result<(), ChildError> {
    use std::io::Write;
    let mut f = proc
        .open_file("thread-self/oom_score_adj", nix::fcntl::OFlag::O_WRONLY)
        .map_err(sys_err("open oom_score_adj"))?;
    f.write_all(adj.to_string().as_bytes())
        .map_err(|e| ChildError::Sys {
            what: "write oom_score_adj".into(),
            source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })
}

/// Loads the container's filter and, with a listener, hands its
/// descriptor to the parent.
fn load_seccomp(ctx: &ChildCtx<'_>) -> Result<(), ChildError> {
    let Some(s) = ctx.req.seccomp.as_ref() else {
        return Ok(());
    };
    let listener =
        sys::seccomp::load(&s.program, s.flags).map_err(sys_err("seccomp: load filter"))?;
    if let Some(fd) = listener {
        ctx.chan
            .send_to_parent(&FromInit::Seccomp, Some(fd.as_fd()))?;
        ctx.chan.expect_from_parent(ToInit::SeccompDone)?;
    }
    Ok(())
}

/// Step 6. The sync socket stays open (close-on-exec) so an `execve`
/// failure still reaches the parent; every other descriptor above the
/// preserved ones is marked close-on-exec.
fn exec_program(
    ctx: &ChildCtx<'_>,
    exec: &PreparedExec,
    load_seccomp: bool,
) -> Result<std::convert::Infallible, ChildError> {
    sys::process::reset_signals().map_err(sys_err("reset signals"))?;
    let first = 3 + ctx.req.preserve_fds;
    for fd in 3..first {
        sys::fd::keep_across_exec(fd).map_err(sys_err(format!("--preserve-fds: fd {fd}")))?;
    }
    sys::fd::cloexec_from(first).map_err(sys_err("mark descriptors close-on-exec"))?;
    if load_seccomp
        && let Some(s) = ctx.req.seccomp.as_ref()
        && let Err(e) = sys::seccomp::load(&s.program, s.flags)
    {
        return Err(sys_err("seccomp: load filter")(e));
    }
    let e = exec.exec();
    Err(ChildError::Msg(format!(
        "exec {:?}: {}",
        exec.path(),
        e.desc().to_lowercase()
    )))
}
