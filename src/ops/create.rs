//! `create`: set up a container and leave its init waiting at the gate.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::{OpsError, Result, Runtime};
use crate::cgroups::{self, Manager};
use crate::faults;
use crate::launch::{self, Gate, LaunchRequest, Launched};
use crate::logging::Phase;
use crate::proc::ProcessId;
use crate::spec::{self, Config};
use crate::state::{CONFIG_FILE, ContainerDir, ContainerState, FIFO_FILE, Status};

/// Options of `create` (and of `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Receives a pidfd of the init (payload `standard`).
    pub pidfd_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
}

/// Creates container `id`. On any failure nothing is left behind: no state
/// directory, cgroup, mount or process.
pub fn create(rt: &Runtime, id: &str, opts: &CreateOptions) -> Result<()> {
    let console = match &opts.console_socket {
        Some(p) => Some(crate::tty::connect(p)?),
        None => None,
    };
    let mut c = Creation::begin(rt, id, opts, Mode::Create, console, Bundle::load(opts)?)?;
    c.launched.commit()?;
    c.finish();
    Ok(())
}

/// How the container will be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `create`: wait at `exec.fifo` for `start`.
    Create,
    /// `run`: started over the sync socket right after creation.
    Run,
}

/// A container whose init is `Ready`; dropped without `finish`, it is torn
/// down completely.
pub(super) struct Creation {
    pub dir: Option<ContainerDir>,
    pub cgroup: Box<dyn Manager>,
    pub state: ContainerState,
    pub launched: Launched,
}

/// A bundle's configuration, read and validated once.
pub(super) struct Bundle {
    pub path: PathBuf,
    pub config: Config,
    bytes: Vec<u8>,
}

impl Bundle {
    /// The bytes of `config.json` as read.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Reads and validates `<bundle>/config.json`.
    pub(super) fn load(opts: &CreateOptions) -> Result<Self> {
        let _p = Phase::start("config load");
        let path = std::path::absolute(&opts.bundle)
            .map_err(OpsError::io(format!("bundle {}", opts.bundle.display())))?;
        let (config, bytes) = spec::load_bundle_bytes(&path)?;
        // JSON parsing and validation are done: their code pages go back
        // before the launch faults in its own (see `sys::mem`).
        let _ = crate::sys::mem::release_code();
        Ok(Self {
            path,
            config,
            bytes,
        })
    }
}

impl Creation {
    pub(super) fn begin(
        rt: &Runtime,
        id: &str,
        opts: &CreateOptions,
        mode: Mode,
        console: Option<OwnedFd>,
        loaded: Bundle,
    ) -> Result<Self> {
        let load = Phase::start("host checks");
        let Bundle {
            path: bundle,
            config,
            bytes: config_bytes,
        } = loaded;
        check_host(&config, opts, mode)?;
        if rt.rootless {
            check_rootless(&config)?;
        }
        let pidfd_conn = opts
            .pidfd_socket
            .as_deref()
            .map(super::pidfd_socket::connect)
            .transpose()?;
        drop(load);
        let compile = Phase::start("seccomp");
        let seccomp = config
            .seccomp
            .as_ref()
            .map(|s| crate::seccomp::cache::compile(s, Some(rt.store.root())))
            .transpose()?;
        drop(compile);

        let Prepared {
            guard,
            cgroup,
            mut state,
        } = prepare(rt, id, &bundle, &config, &config_bytes)?;

        let fifo = guard.dir().file(FIFO_FILE);
        let req = LaunchRequest {
            id,
            config: &config,
            cgroup: cgroup.as_ref(),
            // Without a cgroup of its own (rootless), the init stays in
            // berth's, and a cgroup mount shows that one.
            cgroup_record: if cgroup.present() {
                Some(cgroup.record())
            } else {
                cgroups::own_record()
            },
            gate: match mode {
                Mode::Create => Gate::Fifo(&fifo),
                Mode::Run => Gate::Socket,
            },
            console: console.as_ref().map(|c| c.as_fd()),
            preserve_fds: opts.preserve_fds + listen_fds(),
            no_pivot: opts.no_pivot,
            no_new_keyring: opts.no_new_keyring,
            seccomp,
        };
        let launched = launch::launch(&req)?;
        if let (Some(conn), Some(pidfd)) = (&pidfd_conn, &launched.pidfd) {
            super::pidfd_socket::send(conn.as_fd(), "standard", pidfd.as_fd())?;
        }
        faults::checkpoint("create:ready");

        if let Some(p) = &opts.pid_file {
            write_pid_file(p, launched.pid.as_raw())?;
        }
        state.status = Status::Created;
        state.init = ProcessId::of(launched.pid);
        state.cgroup = cgroup.present().then(|| cgroup.record());
        guard.dir().save(&state)?;
        faults::checkpoint("create:saved");
        let dir = guard.disarm();
        Ok(Self {
            dir: Some(dir),
            cgroup,
            state,
            launched,
        })
    }

    /// Keeps everything: the container now exists.
    pub(super) fn finish(&mut self) {
        self.dir = None;
    }
}

/// What `create` and `restore` both set up before a process exists.
pub(super) struct Prepared {
    /// Removes the state directory and cgroup unless disarmed.
    pub guard: Cleanup,
    pub cgroup: Box<dyn Manager>,
    /// Status `creating`, no init yet; saved.
    pub state: ContainerState,
}

/// The state directory with the config as it is now (later edits must not
/// affect the container), the first state save, and the cgroup, created
/// with the config's resources applied.
pub(super) fn prepare(
    rt: &Runtime,
    id: &str,
    bundle: &Path,
    config: &Config,
    config_bytes: &[u8],
) -> Result<Prepared> {
    let dir = rt.store.create(id)?;
    let mut guard = Cleanup {
        dir: Some(dir),
        cgroup: None,
    };
    guard.dir().write_atomic(CONFIG_FILE, config_bytes, false)?;

    let cg_phase = Phase::start("cgroup");
    let mut cgroup = cgroups::for_container(&cgroups::Request {
        path: config.cgroups_path.as_deref(),
        id,
        systemd: rt.systemd_cgroup,
        rootless: rt.rootless,
        annotations: &config.annotations,
    })?;
    let mut state = ContainerState {
        oci_version: config.oci_version.clone(),
        id: id.to_string(),
        status: Status::Creating,
        init: None,
        bundle: bundle.to_path_buf(),
        rootfs: config.rootfs.clone(),
        created: crate::timefmt::now(),
        annotations: config.annotations.clone(),
        cgroup: Some(cgroup.record()),
        own_pid_ns: config
            .namespace(spec::NsKind::Pid)
            .is_some_and(|n| n.path.is_none()),
        has_hooks: has_lifecycle_hooks(config),
    };
    // Recorded before anything is created, so `delete --force` can clean
    // up after a create that was killed half-way.
    guard.dir().save_with(&state, false)?;
    faults::checkpoint("create:dir");
    cgroup.create()?;
    if cgroup.present() {
        guard.cgroup = Some(cgroup.record());
    } else {
        // Rootless without a writable hierarchy: no cgroup at all.
        state.cgroup = None;
        guard.dir().save_with(&state, false)?;
    }
    // Always: the default device rules apply even without resources.
    let no_resources = oci_spec::runtime::LinuxResources::default();
    cgroup.apply(config.resources.as_ref().unwrap_or(&no_resources))?;
    drop(cg_phase);
    faults::checkpoint("create:cgroup");
    Ok(Prepared {
        guard,
        cgroup,
        state,
    })
}

impl Drop for Creation {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            // `launched` kills and reaps the init when it is dropped; do it
            // first so the cgroup can be removed.
            let _ = self.cgroup.destroy();
            let _ = dir.remove();
        }
    }
}

/// Undoes a partial create: cgroup and state directory. (The init, if one
/// was started, is killed by `Launched`'s drop before this runs.)
pub(super) struct Cleanup {
    dir: Option<ContainerDir>,
    cgroup: Option<cgroups::CgroupRecord>,
}

impl Cleanup {
    pub(super) fn dir(&self) -> &ContainerDir {
        self.dir
            .as_ref()
            .unwrap_or_else(|| unreachable!("the directory is present until disarm"))
    }

    pub(super) fn disarm(mut self) -> ContainerDir {
        self.cgroup = None;
        self.dir
            .take()
            .unwrap_or_else(|| unreachable!("disarmed once"))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(rec) = self.cgroup.take() {
            let _ = cgroups::from_record(&rec).destroy();
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}

fn has_lifecycle_hooks(c: &Config) -> bool {
    c.hooks.poststart().as_ref().is_some_and(|h| !h.is_empty())
        || c.hooks.poststop().as_ref().is_some_and(|h| !h.is_empty())
}

/// What a rootless container cannot have, refused by name before anything
/// starts (instead of failing later with a bare `EPERM`).
fn check_rootless(config: &Config) -> Result<()> {
    if let Some(d) = config.net_devices.first() {
        return Err(spec::SpecError::invalid(
            format!("linux.netDevices.{}", d.host_name),
            "rootless: moving a host network device needs CAP_NET_ADMIN in the host's \
             network namespace",
        )
        .into());
    }
    Ok(())
}

/// Checks that depend on the host and on the command's options.
fn check_host(config: &Config, opts: &CreateOptions, mode: Mode) -> Result<()> {
    match std::fs::metadata(&config.rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(spec::SpecError::invalid(
                "root.path",
                format!("{} is not a directory", config.rootfs.display()),
            )
            .into());
        }
        Err(e) => {
            return Err(spec::SpecError::invalid(
                "root.path",
                format!("{}: {e}", config.rootfs.display()),
            )
            .into());
        }
    }
    let Some(process) = &config.process else {
        return Err(spec::SpecError::invalid("process", "is required").into());
    };
    spec::host::check(config)?;
    if !config.has_namespace(spec::NsKind::Mount) {
        return Err(spec::SpecError::invalid(
            "linux.namespaces",
            "a mount namespace is required: without one, the root filesystem's mounts \
             would be made in the caller's mount namespace and outlive the container",
        )
        .into());
    }
    match (process.terminal, opts.console_socket.is_some(), mode) {
        (true, false, Mode::Create) => {
            return Err(OpsError::Invalid(
                "cannot allocate tty if berth will detach without setting console socket".into(),
            ));
        }
        (false, true, _) => {
            return Err(OpsError::Invalid(
                "cannot use console socket if berth will not detach or allocate tty".into(),
            ));
        }
        _ => {}
    }
    for fd in 3..3 + opts.preserve_fds + listen_fds() {
        if !crate::sys::fd::is_open(fd) {
            return Err(OpsError::Invalid(format!(
                "--preserve-fds: descriptor {fd} is not open"
            )));
        }
    }
    Ok(())
}

/// Descriptors passed by systemd socket activation (`LISTEN_FDS`), which
/// runc passes on to the container.
fn listen_fds() -> i32 {
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &i32| *n > 0)
        .unwrap_or(0)
}

/// Writes the pid file: decimal, no newline, temporary file then rename.
pub(super) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path =
        std::path::absolute(path).map_err(OpsError::io(format!("pid file {}", path.display())))?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    std::fs::write(&tmp, pid.to_string())
        .map_err(OpsError::io(format!("pid file {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(OpsError::io(format!("pid file {}", path.display())))
}
