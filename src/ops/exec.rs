//! `exec`: start another process in a created or running container, with
//! runc's flags and exit statuses (the command's own, 255 when exec itself
//! failed — the CLI maps errors of this operation to 255).

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::unistd::Pid;

use super::exec_cgroup;
use super::exec_process::{self, ProcessFlags};
use super::foreground::{self, Signals};
use super::{OpsError, Result, Runtime};
use crate::cgroups;
use crate::launch::{self, ExecRequest, LaunchError, Placement};
use crate::spec::{self, Config, ProcessConfig};
use crate::state::{CONFIG_FILE, ContainerState, Status, TransitionError};

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// `--process FILE`: the whole process; the flags below that shape a
    /// process are then ignored (as in runc).
    pub process_file: Option<PathBuf>,
    pub flags: ProcessFlags,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    pub ignore_paused: bool,
    /// `--cgroup [ctrl:]path`, repeated.
    pub cgroup: Vec<String>,
}

/// Runs a process in container `id`. Returns its exit status (0 when
/// detached).
pub fn exec(rt: &Runtime, id: &str, opts: &ExecOptions) -> Result<i32> {
    let (state, config, mut process) = load(rt, id, opts)?;
    check_terminal(process.terminal, opts)?;
    check_preserved(opts.preserve_fds)?;
    let seccomp = config
        .seccomp
        .as_ref()
        .map(|s| crate::seccomp::cache::compile(s, Some(rt.store.root())))
        .transpose()?;
    let pidfd_conn = opts
        .pidfd_socket
        .as_deref()
        .map(super::pidfd_socket::connect)
        .transpose()?;
    let signals = if opts.detach {
        None
    } else {
        Some(Signals::block()?)
    };
    let (console, ours) = consoles(opts, process.terminal)?;
    if ours.is_some() {
        process.console_size = foreground::initial_size(process.console_size);
    }
    let init = state.init.ok_or(TransitionError::ExecStopped)?;
    let init_pidfd = init.pidfd().ok_or(TransitionError::ExecStopped)?;

    let manager = state.cgroup.as_ref().map(cgroups::from_record);
    let sub = sub_cgroups(&opts.cgroup, init.pid)?;
    let sub_target = match sub.as_ref().and_then(|s| s.clone_into.as_ref()) {
        Some(dir) => Some(open_cgroup_dir(dir)?),
        None => None,
    };
    let add = |pid: Pid| -> std::result::Result<(), LaunchError> {
        match &sub {
            Some(s) => add_to_dirs(pid, s.procs.iter().chain(&s.clone_into)),
            None => match &manager {
                // Rootless, a process that cannot join the container's
                // cgroup (e.g. a systemd user unit, whose common ancestor
                // with berth's own cgroup is not the user's) runs in
                // berth's cgroup instead, as runc does.
                Some(m) => match m.add(pid) {
                    Err(e) if rt.rootless => {
                        tracing::debug!("exec: rootless, not joining the container's cgroup: {e}");
                        Ok(())
                    }
                    other => other.map_err(Into::into),
                },
                None => Ok(()),
            },
        }
    };
    let clone_into = match &sub {
        Some(_) => sub_target.as_ref().map(|f| f.as_fd()),
        None => manager.as_ref().and_then(|m| m.clone_target()),
    };
    // v1: the process joins by itself; on a hybrid host alongside the
    // clone3 into the cgroup2 hierarchy.
    let join = match (&sub, &manager) {
        (None, Some(m)) => m.self_join()?,
        _ => None,
    };
    let req = ExecRequest {
        id,
        config: &config,
        process: &process,
        init: init.pid(),
        init_pidfd: init_pidfd.as_fd(),
        placement: Placement {
            clone_into,
            join: join.as_ref(),
            add: &add,
        },
        console: console.as_ref().map(|c| c.as_fd()),
        preserve_fds: opts.preserve_fds,
        seccomp,
        // The pidfd goes to the socket before the program runs.
        gate: pidfd_conn.is_some(),
    };
    let mut spawned = launch::spawn(&req)?;
    crate::faults::checkpoint("exec:ready");
    drop(console);
    if let Some(conn) = &pidfd_conn {
        super::pidfd_socket::send(conn.as_fd(), "setns", spawned.pidfd.as_fd())?;
    }
    spawned.start()?;
    crate::faults::checkpoint("exec:started");
    if let Some(p) = &opts.pid_file {
        super::create::write_pid_file(p, spawned.pid.as_raw())?;
    }
    let Some(signals) = signals else {
        return Ok(0);
    };
    foreground::wait(
        spawned.pid,
        Some(spawned.pidfd.as_fd()),
        &signals,
        ours.as_ref(),
    )
}

/// The console the process's pty master goes to, and (in the foreground)
/// berth's end of it.
fn consoles(opts: &ExecOptions, terminal: bool) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    Ok(match (&opts.console_socket, terminal) {
        (Some(p), _) => (Some(crate::tty::connect(p)?), None),
        (None, true) => {
            let (theirs, ours) = foreground::console_pair()?;
            (Some(theirs), Some(ours))
        }
        (None, false) => (None, None),
    })
}

/// Every descriptor `--preserve-fds` passes must be open.
fn check_preserved(n: i32) -> Result<()> {
    for fd in 3..3 + n {
        if !crate::sys::fd::is_open(fd) {
            return Err(OpsError::Invalid(format!(
                "unable to stat preserved-fd {} (of {n}): descriptor {fd} is not open",
                fd - 3
            )));
        }
    }
    Ok(())
}

/// The container's state and configuration, checked for exec, and the
/// process to start.
fn load(
    rt: &Runtime,
    id: &str,
    opts: &ExecOptions,
) -> Result<(ContainerState, Config, ProcessConfig)> {
    // No lock: exec must not keep `kill`, `pause` or `delete` waiting for
    // as long as the process runs (runc takes none either).
    let dir = rt.store.open_unlocked(id)?;
    let state = dir.load()?;
    let mut status = state.status(&dir);
    if matches!(status, Status::Created | Status::Running) && frozen(&state) {
        status = Status::Paused;
    }
    status.check_exec(opts.ignore_paused)?;
    let saved = std::fs::read(dir.file(CONFIG_FILE))
        .map_err(OpsError::io(format!("{}", dir.file(CONFIG_FILE).display())))?;
    // One parse of the JSON for both the config and the raw `process`.
    let whole = spec::parse_json(&saved)?;
    let raw_process = match &opts.process_file {
        Some(_) => serde_json::Value::Null,
        None => whole["process"].clone(),
    };
    let config = spec::build(spec::parse_value(whole)?, &state.bundle)?;
    let process = exec_process_config(&raw_process, &config, opts)?;
    Ok((state, config, process))
}

/// `--cgroup`: where the process goes instead of the container's cgroup.
fn sub_cgroups(args: &[String], init: i32) -> Result<Option<exec_cgroup::SubPlacement>> {
    if args.is_empty() {
        return Ok(None);
    }
    let subs = exec_process::parse_cgroup_args(args)?;
    let hierarchies = exec_cgroup::read_init_cgroups(init)?;
    exec_cgroup::place(
        &hierarchies,
        &subs,
        cgroups::detect_mode() == cgroups::Mode::Unified,
    )
    .map(Some)
}

/// The process to start, validated against the container's config.
/// `raw_process` is the saved config's `process` object (unused with
/// `--process`).
fn exec_process_config(
    raw_process: &serde_json::Value,
    config: &Config,
    opts: &ExecOptions,
) -> Result<ProcessConfig> {
    let (source, process) = match &opts.process_file {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(OpsError::io(format!("process file {}", path.display())))?;
            ("process.json", exec_process::parse("process.json", &bytes)?)
        }
        None => {
            let p = exec_process::from_config(raw_process, &opts.flags)?;
            let bytes =
                serde_json::to_vec(&p).map_err(|e| OpsError::Invalid(format!("process: {e}")))?;
            ("process", exec_process::parse("process", &bytes)?)
        }
    };
    let built = spec::build_process(&process, config).map_err(|e| match e {
        spec::SpecError::Invalid { field, msg } => OpsError::Invalid(format!(
            "{source}: {}: {msg}",
            field.strip_prefix("process.").unwrap_or(&field)
        )),
        other => other.into(),
    })?;
    check_lsm(&built)?;
    Ok(built)
}

/// runc's terminal rules.
fn check_terminal(terminal: bool, opts: &ExecOptions) -> Result<()> {
    if opts.detach && terminal && opts.console_socket.is_none() {
        return Err(OpsError::Invalid(
            "cannot allocate tty if berth will detach without setting console socket".into(),
        ));
    }
    if (!opts.detach || !terminal) && opts.console_socket.is_some() {
        return Err(OpsError::Invalid(
            "cannot use console socket if berth will not detach or allocate tty".into(),
        ));
    }
    Ok(())
}

/// LSM labels are refused where the LSM is not enabled (never ignored).
fn check_lsm(p: &ProcessConfig) -> Result<()> {
    if let Some(profile) = p
        .oci
        .apparmor_profile()
        .as_deref()
        .filter(|s| !s.is_empty())
        && !std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|v| v.starts_with('Y'))
    {
        return Err(OpsError::Invalid(format!(
            "apparmorProfile {profile:?}: AppArmor is not enabled on this host"
        )));
    }
    if p.oci
        .selinux_label()
        .as_deref()
        .is_some_and(|s| !s.is_empty())
        && !std::path::Path::new("/sys/fs/selinux/enforce").exists()
    {
        return Err(OpsError::Invalid(
            "selinux label is specified in config, but selinux is disabled or not supported".into(),
        ));
    }
    Ok(())
}

/// Whether the container's cgroup is frozen (paused by any means).
fn frozen(state: &ContainerState) -> bool {
    state
        .cgroup
        .as_ref()
        .is_some_and(|r| cgroups::from_record(r).is_frozen().unwrap_or(false))
}

fn open_cgroup_dir(dir: &std::path::Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(OpsError::sys(format!("--cgroup: open {}", dir.display())))
}

fn add_to_dirs<'a>(
    pid: Pid,
    dirs: impl Iterator<Item = &'a PathBuf>,
) -> std::result::Result<(), LaunchError> {
    for d in dirs {
        let procs = d.join("cgroup.procs");
        std::fs::write(&procs, pid.to_string()).map_err(|e| LaunchError::Sys {
            what: format!("--cgroup: add {pid} to {}", procs.display()),
            source: crate::sys::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
    }
    Ok(())
}
