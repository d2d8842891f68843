//! `restore`: bring a checkpointed container back as a new container `id`
//! from a bundle, with CRIU. The image is validated first (see
//! `criu::image`); on any failure nothing is left behind: no state
//! directory, cgroup, mount or process.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

use super::checkpoint::CriuOptions;
use super::create::{Bundle, Cleanup, CreateOptions, write_pid_file};
use super::{OpsError, Result, Runtime};
use crate::cgroups::Manager;
use crate::criu::{self, CriuError, Notify, Opts, Req, ReqType, Swrk, image};
use crate::proc::ProcessId;
use crate::rootpath;
use crate::spec::{Config, MountKind};
use crate::state::{ContainerDir, SpecState, Status};
use crate::sys;

/// Options of `restore` (runc's flags that berth implements).
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub criu: CriuOptions,
    pub bundle: PathBuf,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_subreaper: bool,
    /// `--lsm-profile TYPE:NAME` for the restored processes.
    pub lsm_profile: Option<String>,
    /// `--lsm-mount-context`: SELinux `context=` of the restored mounts.
    pub lsm_mount_context: Option<String>,
}

const LOG: &str = "restore.log";

/// Restores container `id`; returns the exit status to exit with (0 when
/// detached, else the restored process's).
pub fn restore(rt: &Runtime, id: &str, opts: &RestoreOptions) -> Result<i32> {
    crate::state::validate_id(id)?;
    // The flags' form first (any CRIU version), their CRIU version below.
    super::checkpoint::check_lsm(
        opts.lsm_profile.as_deref(),
        opts.lsm_mount_context.as_deref(),
        i64::MAX,
    )?;
    let bundle = Bundle::load(&CreateOptions {
        bundle: opts.bundle.clone(),
        ..CreateOptions::default()
    })?;
    let config = &bundle.config;
    super::checkpoint::refuse_unsupported(config)?;
    let terminal = config.process.as_ref().is_some_and(|p| p.terminal);
    match (terminal, opts.console_socket.is_some()) {
        (true, false) => {
            return Err(OpsError::Invalid(
                "process.terminal: restoring a container with a terminal needs --console-socket"
                    .into(),
            ));
        }
        (false, true) => {
            return Err(OpsError::Invalid(
                "--console-socket: the container has no terminal (process.terminal is false)"
                    .into(),
            ));
        }
        _ => {}
    }
    // The image is untrusted: check it before anything is created.
    let image = image::open_dir("--image-path", &opts.criu.image_path, false)?;
    image::check_image(&image.path)?;
    let descriptors = image::read_descriptors(&image.path)?;
    let work = opts
        .criu
        .work_path
        .as_deref()
        .map(|p| image::open_dir("--work-path", p, true))
        .transpose()?;
    let log_dir = work.as_ref().map_or(&image.path, |w| &w.path).clone();
    image::check_log_target(&log_dir, LOG)?;
    let (criu_bin, version) = criu::require()?;
    super::checkpoint::check_lsm(
        opts.lsm_profile.as_deref(),
        opts.lsm_mount_context.as_deref(),
        version.number(),
    )?;
    if opts.criu.lazy_pages {
        super::checkpoint::need_lazy_pages(&criu_bin, "restore")?;
    }
    let external = external_namespaces(config, version.number())?;
    let console = opts
        .console_socket
        .as_deref()
        .map(crate::tty::connect)
        .transpose()?;
    if !opts.no_subreaper {
        nix::sys::prctl::set_child_subreaper(true).map_err(OpsError::sys("set subreaper"))?;
    }

    let prepared = super::create::prepare(rt, id, &bundle.path, config, bundle.bytes())?;
    let mut state = prepared.state;
    let mut r = Restoring {
        guard: Some(prepared.guard),
        cgroup: prepared.cgroup,
        root: None,
        pid: None,
    };

    prepare_mountpoints(config)?;
    let root = r.dir()?.file("criu-root");
    r.root = Some(RootMount::bind(&config.rootfs, &root)?);

    let mut swrk = Swrk::spawn(&criu_bin)?;
    let criu_pid = swrk.pid();
    r.cgroup.add(criu_pid)?;
    let req = Req {
        kind: ReqType::Restore,
        opts: Some(Opts {
            images_dir_fd: image.fd.as_raw_fd(),
            work_dir_fd: work.as_ref().map(|w| w.fd.as_raw_fd()),
            log_level: Some(4),
            log_file: Some(LOG.into()),
            root: Some(root.to_string_lossy().into_owned()),
            rst_sibling: true,
            manage_cgroups: true,
            manage_cgroups_mode: opts.criu.manage_cgroups_mode,
            cg_root: cgroup_roots(criu_pid)?,
            notify_scripts: true,
            orphan_pts_master: true,
            evasive_devices: true,
            tcp_established: opts.criu.tcp_established,
            ext_unix_sk: opts.criu.ext_unix_sk,
            shell_job: opts.criu.shell_job,
            file_locks: opts.criu.file_locks,
            auto_dedup: opts.criu.auto_dedup,
            ext_mnt: {
                let mut m = restore_ext_mounts(config);
                m.extend(super::checkpoint::cgroup_v1_mounts(
                    config,
                    Some(&r.cgroup.record()),
                ));
                m
            },
            inherit_fd: inherited(&descriptors, &external),
            join_ns: super::checkpoint::join_namespaces(config),
            empty_ns: opts.criu.empty_ns_mask(),
            lazy_pages: opts.criu.lazy_pages,
            lsm_profile: opts.lsm_profile.clone(),
            lsm_mount_context: opts.lsm_mount_context.clone(),
            ..Opts::default()
        }),
        notify_success: false,
        features: None,
    };
    let mut restored: Option<i32> = None;
    let mut on_notify = |n: &Notify, fd: Option<OwnedFd>| -> criu::Result<()> {
        match n.script.as_str() {
            "setup-namespaces" => run_create_hooks(config, id, &bundle.path, n.pid)?,
            "post-restore" => restored = Some(n.pid),
            "orphan-pts-master" => {
                if let (Some(conn), Some(master)) = (&console, &fd) {
                    sys::fd::send_fd(conn.as_fd(), b"/dev/ptmx", master.as_fd()).map_err(
                        |source| CriuError::Sys {
                            what: "send the pty master to the console socket",
                            source,
                        },
                    )?;
                }
            }
            _ => {}
        }
        Ok(())
    };
    let resp = swrk.call(&req, &mut on_notify);
    r.pid = restored.map(Pid::from_raw);
    let resp = resp?;
    let finished = swrk.finish();
    if !resp.success {
        return Err(criu::failed("restore", resp.cr_errmsg, &log_dir.join(LOG)).into());
    }
    finished?;
    let pid = resp
        .restore_pid
        .or(restored)
        .filter(|p| *p > 0)
        .map(Pid::from_raw)
        .ok_or_else(|| OpsError::Invalid("criu restore did not report the restored PID".into()))?;
    r.pid = Some(pid);
    // The image's mounts now live in the restored mount namespace.
    r.root = None;

    state.status = Status::Running;
    state.init = ProcessId::of(pid);
    if state.init.is_none() {
        return Err(OpsError::Invalid(format!(
            "the restored process {pid} exited at once"
        )));
    }
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid.as_raw())?;
    }
    r.dir()?.save(&state)?;
    r.disarm();
    if opts.detach {
        return Ok(0);
    }
    // In the foreground: the restored process is our child (rst_sibling).
    let signals = super::foreground::Signals::block()?;
    let pidfd = state.init.and_then(|p| p.pidfd());
    let code = super::foreground::wait(pid, pidfd.as_ref().map(|f| f.as_fd()), &signals, None)?;
    drop(signals);
    super::delete::delete(rt, id, true)?;
    Ok(code)
}

/// A restore in progress; dropped before [`Restoring::disarm`], it kills
/// the restored process, then removes the root mount, the cgroup and the
/// state directory (`create`'s [`Cleanup`]).
struct Restoring {
    guard: Option<Cleanup>,
    cgroup: Box<dyn Manager>,
    root: Option<RootMount>,
    pid: Option<Pid>,
}

impl Restoring {
    fn dir(&self) -> Result<&ContainerDir> {
        self.guard
            .as_ref()
            .map(Cleanup::dir)
            .ok_or_else(|| OpsError::Invalid("restore: state directory already released".into()))
    }

    /// Keeps everything: the container now exists.
    fn disarm(&mut self) {
        self.pid = None;
        self.root = None;
        if let Some(g) = self.guard.take() {
            drop(g.disarm());
        }
    }
}

impl Drop for Restoring {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = sys::process::kill_raw(pid, libc::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        self.root = None;
        if self.guard.is_some() {
            // The cgroup may hold CRIU's leftovers: kill them with it.
            let _ = self.cgroup.destroy();
        }
        self.guard = None;
    }
}

/// The container's root filesystem bound at `<state>/criu-root` for CRIU
/// (which wants the root to be a mount point); detached and removed when
/// dropped.
struct RootMount {
    path: PathBuf,
}

impl RootMount {
    fn bind(rootfs: &Path, at: &Path) -> Result<Self> {
        std::fs::create_dir(at).map_err(OpsError::io(format!("mkdir {}", at.display())))?;
        let me = Self {
            path: at.to_path_buf(),
        };
        let tree = sys::mount::clone_tree_at(&rootfs.to_string_lossy(), true)
            .map_err(OpsError::sys(format!("bind {}", rootfs.display())))?;
        let target =
            std::fs::File::open(at).map_err(OpsError::io(format!("open {}", at.display())))?;
        sys::mount::attach(tree.as_fd(), target.as_fd()).map_err(OpsError::sys(format!(
            "bind {} on {}",
            rootfs.display(),
            at.display()
        )))?;
        Ok(me)
    }
}

impl Drop for RootMount {
    fn drop(&mut self) {
        if let Ok(c) = CString::new(self.path.as_os_str().as_encoded_bytes()) {
            // Nothing may be mounted there if the attach failed: EINVAL.
            let _ = sys::mount::detach(&c);
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Creates the bind mounts' mount points in the root filesystem (outside
/// tmpfs mounts, whose content CRIU restores), as `create` would.
fn prepare_mountpoints(config: &Config) -> Result<()> {
    let tmpfs: Vec<&str> = config
        .mounts
        .iter()
        .filter(|m| matches!(&m.kind, MountKind::Fs { fstype, .. } if fstype == "tmpfs"))
        .map(|m| m.destination.as_str())
        .collect();
    let root = std::fs::File::open(&config.rootfs)
        .map_err(OpsError::io(format!("open {}", config.rootfs.display())))?;
    for m in &config.mounts {
        let MountKind::Bind { source, .. } = &m.kind else {
            continue;
        };
        if tmpfs
            .iter()
            .any(|t| Path::new(&m.destination).starts_with(t) && m.destination != *t)
        {
            continue;
        }
        let dest = Path::new(&m.destination);
        let what = format!("mounts[{}].destination {}", m.index, m.destination);
        let made = if source.is_dir() {
            rootpath::mkdir_all(root.as_fd(), dest, 0o755).map(drop)
        } else {
            let parent = dest.parent().unwrap_or(Path::new("/"));
            rootpath::mkdir_all(root.as_fd(), parent, 0o755)
                .and_then(|_| rootpath::touch(root.as_fd(), dest))
                .map(drop)
        };
        made.map_err(|e| OpsError::Invalid(format!("{what}: {e}")))?;
    }
    Ok(())
}

/// The network and PID namespaces the config joins by path, opened for
/// CRIU to inherit (no close-on-exec: CRIU takes each as its own
/// descriptor), with the keys the dump named them by.
fn external_namespaces(config: &Config, version: i64) -> Result<Vec<(&'static str, OwnedFd)>> {
    super::checkpoint::ExternalNs::joined(config, version)?
        .into_iter()
        .map(|(e, path)| {
            let what = || {
                format!(
                    "linux.namespaces: {} namespace {}",
                    e.kind.spec_name(),
                    path.display()
                )
            };
            let f = std::fs::File::open(path).map_err(OpsError::io(what()))?;
            let fd = OwnedFd::from(f);
            nix::fcntl::fcntl(
                &fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
            )
            .map_err(OpsError::sys(what()))?;
            Ok((e.key, fd))
        })
        .collect()
}

/// `inherit_fd`: the stdio pipes of `descriptors.json` (berth's fds 0-2),
/// and the external namespaces under the keys the dump gave them.
fn inherited(descriptors: &[String], external: &[(&str, OwnedFd)]) -> Vec<(String, i32)> {
    let mut out = image::inherit_pipes(descriptors);
    out.extend(
        external
            .iter()
            .map(|(key, fd)| ((*key).to_string(), fd.as_raw_fd())),
    );
    out
}

/// External mounts for restore, keyed by the names the dump put in the
/// image: each bind mount's destination mapped to its source, and
/// `/dev/null` (the name of every masked file) to the host's `/dev/null`,
/// as runc does. Keys the image does not use are ignored by CRIU.
fn restore_ext_mounts(config: &Config) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = config
        .mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::Bind { source, .. } => Some((
                super::checkpoint::mount_point(&config.rootfs, &m.destination),
                source.to_string_lossy().into_owned(),
            )),
            _ => None,
        })
        .collect();
    if !config.masked_paths.is_empty() {
        out.push(("/dev/null".into(), "/dev/null".into()));
    }
    out
}

/// `cg_root` for CRIU: the cgroups its process was just placed in, which
/// become the roots the image's cgroups are restored under.
fn cgroup_roots(criu: Pid) -> Result<Vec<(Option<String>, String)>> {
    let path = format!("/proc/{criu}/cgroup");
    let text = crate::proc::read_small(&path).map_err(OpsError::io(format!("read {path}")))?;
    Ok(parse_cgroup_roots(&text))
}

/// Pure: `/proc/<pid>/cgroup` → `cg_root` entries. On a pure cgroup v2
/// host, one entry for every controller; otherwise one per v1 controller.
pub fn parse_cgroup_roots(text: &str) -> Vec<(Option<String>, String)> {
    let mut v1 = Vec::new();
    let mut unified = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            unified = Some(path.to_string());
        } else {
            v1.extend(
                ctrls
                    .split(',')
                    .map(|c| (Some(c.to_string()), path.to_string())),
            );
        }
    }
    if v1.is_empty() {
        unified.map(|p| vec![(None, p)]).unwrap_or_default()
    } else {
        v1
    }
}

/// At `setup-namespaces`: the prestart and createRuntime hooks, with the
/// restored process's PID.
fn run_create_hooks(config: &Config, id: &str, bundle: &Path, pid: i32) -> criu::Result<()> {
    let annotations = config.annotations.clone();
    let json = SpecState {
        oci_version: &config.oci_version,
        id,
        status: Status::Creating,
        pid,
        bundle,
        annotations: &annotations,
    }
    .to_json();
    for (kind, list) in [
        ("prestart", config.hooks.prestart()),
        ("createRuntime", config.hooks.create_runtime()),
    ] {
        if let Some(list) = list.as_deref() {
            crate::hooks::run_all(kind, list, &json).map_err(|e| CriuError::Hook(e.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_roots_per_host_kind() {
        assert_eq!(
            parse_cgroup_roots("0::/berth/c1\n"),
            vec![(None, "/berth/c1".into())]
        );
        let hybrid = "5:cpu,cpuacct:/t/c1\n1:name=systemd:/user.slice\n0::/user.slice\n";
        assert_eq!(
            parse_cgroup_roots(hybrid),
            vec![
                (Some("cpu".into()), "/t/c1".into()),
                (Some("cpuacct".into()), "/t/c1".into()),
                (Some("name=systemd".into()), "/user.slice".into()),
            ]
        );
        assert!(parse_cgroup_roots("garbage").is_empty());
    }
}
