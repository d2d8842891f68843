//! The runtime side of a launch: everything before `clone3`, the clone
//! itself, and the protocol up to the init's `Ready`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::LaunchError;
use super::for_children::ChildNamespaces;
use super::init::{self, InitCtx};
use super::plan::NsPlan;
use super::protocol::{self, Channel, Expect, FromInit, ToInit};
use crate::cgroups::{CgroupRecord, Manager};
use crate::logging::Phase;
use crate::seccomp::Compiled;
use crate::spec::{Config, NsKind};
use crate::state::{SpecState, Status};
use crate::sys::clone::{CloneRequest, Forked, clone3};
use crate::sys::{self, Errno};

/// How the init waits between `create` and `start`.
#[derive(Debug)]
pub enum Gate<'a> {
    /// A FIFO in the state directory that `start` opens and writes.
    Fifo(&'a Path),
    /// A `Start` message on the sync socket (`run`, which starts at once).
    Socket,
}

/// Everything a launch needs; built by `create`/`run`.
pub struct LaunchRequest<'a> {
    pub id: &'a str,
    pub config: &'a Config,
    pub cgroup: &'a dyn Manager,
    pub cgroup_record: Option<CgroupRecord>,
    pub gate: Gate<'a>,
    /// A connection to the console socket, for `process.terminal`.
    pub console: Option<BorrowedFd<'a>>,
    /// Descriptors after stdio passed into the container (3..3+n).
    pub preserve_fds: i32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub seccomp: Option<Compiled>,
}

/// A launched init, waiting for `Committed`. Dropping it without calling
/// [`Launched::commit`] kills and reaps the init.
#[derive(Debug)]
pub struct Launched {
    pub pid: Pid,
    pub pidfd: Option<OwnedFd>,
    chan: Option<Channel>,
    reap: bool,
}

impl Launched {
    /// Tells the init that its state is saved; after this it waits at the
    /// gate on its own, and berth may exit.
    pub fn commit(&mut self) -> Result<(), LaunchError> {
        if let Some(c) = &self.chan {
            c.send_to_init(ToInit::Committed)?;
        }
        self.reap = false;
        Ok(())
    }

    /// For `run`: opens the gate through the socket and waits until the
    /// init has exec'd the program (the socket closes) or failed on the
    /// way, for example in a startContainer hook (it reports why).
    pub fn start(&mut self) -> Result<(), LaunchError> {
        let Some(c) = self.chan.take() else {
            return Ok(());
        };
        // `run`'s gate is the socket: the init execs once told to start.
        let gate = Phase::start("gate");
        c.send_to_init(ToInit::Start)?;
        drop(gate);
        let _exec = Phase::start("exec");
        loop {
            match c.recv_from_init() {
                Ok((FromInit::Error(msg), _)) => return Err(LaunchError::Init(msg)),
                Ok(_) => continue,
                Err(protocol::ChannelError::Closed) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Kills the init and waits for it (after a failed start).
    pub fn kill(&mut self) {
        kill_and_reap(self.pid, self.pidfd.as_ref().map(|f| f.as_fd()));
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if self.reap {
            kill_and_reap(self.pid, self.pidfd.as_ref().map(|f| f.as_fd()));
        }
    }
}

fn kill_and_reap(pid: Pid, pidfd: Option<BorrowedFd<'_>>) {
    match pidfd {
        Some(fd) => {
            let _ = sys::process::pidfd_send_signal(fd, Signal::SIGKILL);
        }
        None => {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
    }
    let _ = waitpid(pid, None);
}

/// Enters the PID and time namespaces the init is to be born into
/// (joined by path, or a new time namespace with its offsets); the value
/// returned leads back after the clone.
fn enter_for_child(plan: &NsPlan, config: &Config) -> Result<ChildNamespaces, LaunchError> {
    let mut ns = ChildNamespaces::default();
    for (kind, path) in &plan.parent_joins {
        let fd = open_ns(*kind, path)?;
        ns.remember(*kind)?;
        nix::sched::setns(fd.as_fd(), kind.flag()).map_err(|source| {
            LaunchError::NamespacePath {
                kind: kind.spec_name(),
                path: path.clone(),
                source,
            }
        })?;
    }
    if plan.parent_new_time {
        ns.remember(NsKind::Time)?;
        nix::sched::unshare(NsKind::Time.flag())
            .map_err(LaunchError::sys("unshare time namespace"))?;
        let offsets = time_offsets(config);
        if !offsets.is_empty() {
            std::fs::write("/proc/self/timens_offsets", offsets).map_err(|e| LaunchError::Sys {
                what: "write /proc/self/timens_offsets".into(),
                source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            })?;
        }
    }
    Ok(ns)
}

/// `linux.timeOffsets` in the format of `/proc/<pid>/timens_offsets`.
fn time_offsets(config: &Config) -> String {
    let mut out = String::new();
    for (clock, off) in config.linux.time_offsets().iter().flatten() {
        out.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    out
}

fn open_ns(kind: NsKind, path: &Path) -> Result<OwnedFd, LaunchError> {
    nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|source| {
        LaunchError::NamespacePath {
            kind: kind.spec_name(),
            path: path.to_path_buf(),
            source,
        }
    })
}

fn write_id_maps(pid: Pid, config: &Config) -> Result<(), LaunchError> {
    super::usermap::write(pid, &config.uid_mappings, &config.gid_mappings)
}

/// Makes `exec.fifo` and opens both its ends for the init: the read end is
/// the gate; the write end lets the init tell `start` why it failed after
/// the gate. Nothing for `run`, which uses the socket.
fn open_gate(gate: &Gate<'_>) -> Result<(Option<OwnedFd>, Option<OwnedFd>), LaunchError> {
    let Gate::Fifo(path) = gate else {
        return Ok((None, None));
    };
    nix::unistd::mkfifo(*path, Mode::from_bits_truncate(0o622))
        .map_err(LaunchError::sys(format!("mkfifo {}", path.display())))?;
    let open = |flags: OFlag| {
        nix::fcntl::open(
            *path,
            flags | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(LaunchError::sys(format!("open {}", path.display())))
    };
    let r = open(OFlag::O_RDONLY)?;
    Ok((Some(r), Some(open(OFlag::O_WRONLY)?)))
}

/// Starts the container's init and drives it until it is `Ready` at the gate.
pub fn launch(req: &LaunchRequest<'_>) -> Result<Launched, LaunchError> {
    let config = req.config;
    let placed_by_clone = req.cgroup.clone_target().is_some();
    // v1: the init joins its cgroups by itself, first thing (on a hybrid
    // host, the v1 ones; clone3 places it in the cgroup2 one).
    let cgroup_join = req.cgroup.self_join()?;
    // A cgroup namespace made by clone3 is rooted where the child is born:
    // right only if that is the container's cgroup in every hierarchy.
    let plan = NsPlan::new(config, placed_by_clone && cgroup_join.is_none());
    let placed_at_start = placed_by_clone || cgroup_join.is_some();

    let joins: Vec<(NsKind, OwnedFd)> = plan
        .child_joins
        .iter()
        .map(|(k, p)| open_ns(*k, p).map(|fd| (*k, fd)))
        .collect::<Result<_, _>>()?;
    let console = match (
        config.process.as_ref().is_some_and(|p| p.terminal),
        req.console,
    ) {
        (true, Some(fd)) => Some(fd.try_clone_to_owned().map_err(|e| LaunchError::Sys {
            what: "duplicate console socket".into(),
            source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)),
        })?),
        _ => None,
    };
    let (gate, gate_report) = open_gate(&req.gate)?;
    let prepared = super::idmap::prepare(config)?;
    let (parent_chan, init_chan) = protocol::pair()?;
    let parent_pid = nix::unistd::getpid();
    // Read on the host, before any setns: the init resets only these.
    if let Some(mask) = crate::proc::ignored_signals() {
        crate::sys::process::note_ignored_signals(mask);
    }

    let ns = enter_for_child(&plan, config)?;
    let clone_phase = Phase::start("clone");
    let forked = clone3(&CloneRequest {
        namespaces: plan.clone_flags,
        pidfd: true,
        cgroup: req.cgroup.clone_target(),
        parent: false,
    });
    let (mut pid, pidfd) = match forked {
        Ok(Forked::Child) => {
            drop(parent_chan);
            init::run(InitCtx {
                req,
                plan: &plan,
                chan: init_chan,
                joins,
                gate,
                gate_report,
                console,
                prepared,
                cgroup_join,
                parent: parent_pid,
                past_gate: std::cell::Cell::new(false),
            })
        }
        Ok(Forked::Parent { pid, pidfd }) => (pid, pidfd),
        Err(e) => {
            ns.leave()?;
            return Err(LaunchError::Sys {
                what: "clone3".into(),
                source: e,
            });
        }
    };
    drop(clone_phase);
    drop(init_chan);
    drop(gate);
    drop(gate_report);
    drop(prepared);
    drop(console);
    drop(joins);
    drop(cgroup_join);
    crate::faults::checkpoint("create:cloned");
    let mut launched = Launched {
        pid,
        pidfd,
        chan: None,
        reap: true,
    };
    ns.leave()?;

    if let Some(adj) = config.process.as_ref().and_then(|p| p.oom_score_adj) {
        std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string()).map_err(|e| {
            LaunchError::Sys {
                what: "write oom_score_adj".into(),
                source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            }
        })?;
    }

    let mut expect = Expect::Start;
    if plan.child_creates_userns() {
        let (msg, _) = recv(&parent_chan, &launched)?;
        expect = expect.advance(&msg)?;
    }
    if plan.child_waits_for_parent(placed_at_start) {
        let _p = Phase::start("cgroup placement and id maps");
        if plan.write_maps {
            write_id_maps(pid, config)?;
        }
        if !placed_at_start {
            req.cgroup.add(pid)?;
        }
        super::attrs::reset_affinity(pid);
        super::netdev::move_all(&config.net_devices, pid)?;
        parent_chan.send_to_init(ToInit::Proceed)?;
    } else {
        super::attrs::reset_affinity(pid);
    }
    expect = expect.proceeded();

    // The state prestart and createRuntime hooks read: `created`, as in
    // crun and the runtime-tools suite (hooks_stdin). They run at steps 3
    // and 4 of runtime.md's lifecycle, and `created` is defined as "after
    // step 2"; runc sends `creating`.
    let hook_state = |pid: Pid| {
        SpecState {
            oci_version: &config.oci_version,
            id: req.id,
            status: Status::Created,
            pid: pid.as_raw(),
            bundle: &config.bundle,
            annotations: &config.annotations,
        }
        .to_json()
    };
    let setup = Phase::start("init set-up");
    while expect != Expect::Done {
        let (msg, fd) = recv(&parent_chan, &launched)?;
        expect = expect.advance(&msg)?;
        match msg {
            FromInit::Forked(child) => {
                // The intermediate process exits right after forking.
                let _ = waitpid(pid, None);
                pid = child;
                launched.pid = child;
                launched.pidfd = sys::process::pidfd_open(child).ok();
            }
            FromInit::Hooks => {
                #[allow(deprecated)]
                let prestart = config.hooks.prestart().as_deref().unwrap_or_default();
                let state = hook_state(pid);
                crate::hooks::run_all("prestart", prestart, &state)?;
                crate::hooks::run_all(
                    "createRuntime",
                    config.hooks.create_runtime().as_deref().unwrap_or_default(),
                    &state,
                )?;
                parent_chan.send_to_init(ToInit::HooksDone)?;
            }
            FromInit::Seccomp => {
                let fd = fd.ok_or(LaunchError::Sys {
                    what: "seccomp listener descriptor".into(),
                    source: Errno::EBADMSG,
                })?;
                send_to_listener(config, req.id, "creating", (pid, pid), fd.as_fd())?;
                parent_chan.send_to_init(ToInit::SeccompDone)?;
            }
            FromInit::Ready => {}
            FromInit::Unshared | FromInit::Error(_) => {}
        }
    }
    drop(setup);
    launched.chan = Some(parent_chan);
    Ok(launched)
}

/// Receives the next message; an `Error` or a dead init ends the launch.
fn recv(chan: &Channel, launched: &Launched) -> Result<(FromInit, Option<OwnedFd>), LaunchError> {
    match chan.recv_from_init() {
        Ok((FromInit::Error(msg), _)) => {
            let _ = waitpid(launched.pid, None);
            Err(LaunchError::Init(msg))
        }
        Ok(m) => Ok(m),
        Err(protocol::ChannelError::Closed) => {
            let status = match waitpid(launched.pid, None) {
                Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
                Ok(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
                Ok(other) => format!("{other:?}"),
                Err(e) => e.to_string(),
            };
            Err(LaunchError::InitDied(status))
        }
        Err(e) => Err(e.into()),
    }
}

/// Hands the seccomp notification descriptor to `listenerPath` together
/// with the container process state (runtime.md, "seccomp listener").
/// `pids` are the container's init and the process the filter belongs to
/// (the same for the init; an `exec`'d process otherwise).
pub(super) fn send_to_listener(
    config: &Config,
    id: &str,
    status: &str,
    pids: (Pid, Pid),
    fd: BorrowedFd<'_>,
) -> Result<(), LaunchError> {
    let (init, pid) = pids;
    let Some(seccomp) = &config.seccomp else {
        return Ok(());
    };
    let path = seccomp.listener_path().clone().unwrap_or_default();
    let mut state = serde_json::json!({
        "ociVersion": config.oci_version,
        "fds": ["seccompFd"],
        "pid": pid.as_raw(),
        "state": {
            "ociVersion": config.oci_version,
            "id": id,
            "status": status,
            "pid": init.as_raw(),
            "bundle": config.bundle,
            "annotations": config.annotations,
        }
    });
    // `metadata` is optional: sent only when the config has it.
    if let Some(m) = seccomp.listener_metadata() {
        state["metadata"] = serde_json::Value::from(m.as_str());
    }
    // One state per connection, and the connection is closed after it
    // (the stream is dropped on return).
    let stream =
        std::os::unix::net::UnixStream::connect(&path).map_err(|source| LaunchError::Listener {
            path: path.display().to_string(),
            source,
        })?;
    sys::fd::send_fd(stream.as_fd(), state.to_string().as_bytes(), fd).map_err(|e| {
        LaunchError::Listener {
            path: path.display().to_string(),
            source: std::io::Error::from_raw_os_error(e as i32),
        }
    })
}
