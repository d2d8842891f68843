//! `checkpoint`: dump a running container with CRIU (runc's semantics:
//! after a dump without `--leave-running` the container is gone).

use std::path::{Path, PathBuf};

use super::{OpsError, Result, Runtime};
use crate::criu::{self, CgMode, Opts, Req, ReqType, Swrk, image};
use crate::spec::{self, Config, MountKind, NsKind};
use crate::state::{CONFIG_FILE, ContainerState, DeleteAction, Status, TransitionError};

/// The CRIU options `checkpoint` and `restore` share (runc's flags of the
/// same names).
#[derive(Debug, Clone, Default)]
pub struct CriuOptions {
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub auto_dedup: bool,
    pub manage_cgroups_mode: Option<CgMode>,
}

/// Options of `checkpoint` (runc's flags that berth implements).
#[derive(Debug, Clone, Default)]
pub struct CheckpointOptions {
    pub criu: CriuOptions,
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub tcp_skip_in_flight: bool,
    pub link_remap: bool,
    pub pre_dump: bool,
}

/// Checkpoints container `id` into `opts.criu.image_path`.
pub fn checkpoint(rt: &Runtime, id: &str, opts: &CheckpointOptions) -> Result<()> {
    let dir = rt.store.open(id)?;
    let state = dir.load()?;
    if !matches!(state.status(&dir), Status::Running | Status::Paused) {
        return Err(TransitionError::NotRunning.into());
    }
    let pid = state
        .init
        .map(|p| p.pid().as_raw())
        .ok_or(TransitionError::NotRunning)?;
    let config = saved_config(&dir.file(CONFIG_FILE), &state)?;
    refuse_unsupported(&config)?;
    let (criu_bin, version) = criu::require()?;
    let image = image::open_dir("--image-path", &opts.criu.image_path, true)?;
    let work = opts
        .criu
        .work_path
        .as_deref()
        .map(|p| image::open_dir("--work-path", p, true))
        .transpose()?;
    let log_dir = work.as_ref().map_or(&image.path, |w| &w.path);
    let parent_img = opts
        .parent_path
        .as_deref()
        .map(|p| image::relative_parent(&image.path, p))
        .transpose()?;
    image::write_descriptors(&image.path, pid)?;

    let kind = if opts.pre_dump {
        ReqType::PreDump
    } else {
        ReqType::Dump
    };
    let log = if opts.pre_dump {
        "pre-dump.log"
    } else {
        "dump.log"
    };
    let req = Req {
        kind,
        opts: Some(Opts {
            images_dir_fd: std::os::fd::AsRawFd::as_raw_fd(&image.fd),
            work_dir_fd: work
                .as_ref()
                .map(|w| std::os::fd::AsRawFd::as_raw_fd(&w.fd)),
            pid: Some(pid),
            log_level: Some(4),
            log_file: Some(log.into()),
            root: Some(state.rootfs.to_string_lossy().into_owned()),
            manage_cgroups: true,
            manage_cgroups_mode: opts.criu.manage_cgroups_mode,
            notify_scripts: true,
            orphan_pts_master: true,
            leave_running: opts.leave_running || opts.pre_dump,
            tcp_established: opts.criu.tcp_established,
            tcp_skip_in_flight: opts.tcp_skip_in_flight,
            ext_unix_sk: opts.criu.ext_unix_sk,
            shell_job: opts.criu.shell_job,
            file_locks: opts.criu.file_locks,
            link_remap: opts.link_remap,
            auto_dedup: opts.criu.auto_dedup,
            track_mem: opts.pre_dump || parent_img.is_some(),
            parent_img,
            ext_mnt: {
                let mut m = dump_ext_mounts(&config, pid);
                m.extend(
                    cgroup_v1_mounts(&config, state.cgroup.as_ref())
                        .into_iter()
                        .map(|(at, _)| (at.clone(), at)),
                );
                m
            },
            freeze_cgroup: freeze_cgroup(&state, version.number()),
            external: external_namespaces(&config, pid, version.number())?,
            ..Opts::default()
        }),
        notify_success: false,
    };
    let action = if opts.pre_dump { "pre-dump" } else { "dump" };
    let mut s = Swrk::spawn(&criu_bin)?;
    let resp = s.call(&req, &mut |_, _| Ok(()))?;
    let finished = s.finish();
    if !resp.success {
        return Err(criu::failed(action, resp.cr_errmsg, &log_dir.join(log)).into());
    }
    // After a successful pre-dump CRIU waits for a further request and,
    // finding the socket closed, exits non-zero (runc ignores that too).
    if !opts.pre_dump {
        finished?;
    }
    if !(opts.leave_running || opts.pre_dump) {
        // CRIU killed the container's processes: release the rest as
        // `delete` does (runc destroys the container here too).
        super::delete::destroy(&state, DeleteAction::KillThenRelease)?;
        if state.has_hooks {
            super::delete::run_poststop(&dir, &state);
        }
        dir.remove()?;
    }
    Ok(())
}

/// The configuration saved at create time.
pub(super) fn saved_config(path: &Path, state: &ContainerState) -> Result<Config> {
    let bytes = std::fs::read(path).map_err(OpsError::io(format!("read {}", path.display())))?;
    let spec = spec::parse(&bytes)?;
    Ok(spec::build(spec, &state.bundle)?)
}

/// What berth does not checkpoint or restore (named, so callers know).
pub(super) fn refuse_unsupported(config: &Config) -> Result<()> {
    if config.in_userns() {
        return Err(OpsError::Invalid(
            "checkpoint/restore of a container with a user namespace is not supported by berth"
                .into(),
        ));
    }
    // A network or PID namespace joined by path is declared to CRIU as
    // external (as runc does); the others are not (runc hands them to
    // CRIU's `join_ns` on restore, which berth does not).
    if let Some((i, n)) = config
        .namespaces
        .iter()
        .enumerate()
        .find(|(_, n)| n.path.is_some() && ExternalNs::of(n.kind).is_none())
    {
        return Err(OpsError::Invalid(format!(
            "linux.namespaces[{i}]: checkpoint/restore of a container joining a {} namespace \
             by path is not supported by berth (only a network or PID namespace is)",
            n.kind.spec_name()
        )));
    }
    Ok(())
}

/// A namespace kind CRIU leaves out of the image when the container
/// joins it by path (runc's two): named `<kind>[<inode>]:<key>` on dump,
/// handed back on restore as `inherit_fd` under `key`.
pub(super) struct ExternalNs {
    pub kind: NsKind,
    pub key: &'static str,
    /// The oldest CRIU that takes it (`major*10000 + minor*100`).
    pub version: i64,
}

impl ExternalNs {
    const ALL: [Self; 2] = [
        Self {
            kind: NsKind::Net,
            key: criu::EXT_NET_KEY,
            version: criu::EXT_NET_VERSION,
        },
        Self {
            kind: NsKind::Pid,
            key: criu::EXT_PID_KEY,
            version: criu::EXT_PID_VERSION,
        },
    ];

    fn of(kind: NsKind) -> Option<&'static Self> {
        Self::ALL.iter().find(|e| e.kind == kind)
    }

    /// The external namespaces `config` joins, with their paths; refused
    /// when CRIU is too old for one.
    pub(super) fn joined(config: &Config, version: i64) -> Result<Vec<(&'static Self, &Path)>> {
        let mut out = Vec::new();
        for e in &Self::ALL {
            let Some(path) = config.namespace(e.kind).and_then(|n| n.path.as_deref()) else {
                continue;
            };
            if version < e.version {
                return Err(OpsError::Invalid(format!(
                    "checkpoint/restore of a container joining a {} namespace by path needs \
                     CRIU {}.{} or newer (found {version})",
                    e.kind.spec_name(),
                    e.version / 10000,
                    e.version / 100 % 100
                )));
            }
            out.push((e, path));
        }
        Ok(out)
    }
}

/// The namespaces joined by path, for the dump: CRIU leaves them out of
/// the image, naming each `<kind>[<inode>]:<key>` (the inode of the
/// namespace the init is in). Restore hands them back under those keys.
fn external_namespaces(config: &Config, pid: i32, version: i64) -> Result<Vec<String>> {
    ExternalNs::joined(config, version)?
        .into_iter()
        .map(|(e, _)| {
            let name = e.kind.proc_name();
            let p = format!("/proc/{pid}/ns/{name}");
            let meta = std::fs::metadata(&p).map_err(OpsError::io(format!("stat {p}")))?;
            Ok(format!(
                "{name}[{}]:{}",
                std::os::unix::fs::MetadataExt::ino(&meta),
                e.key
            ))
        })
        .collect()
}

/// External mounts for the dump, as runc declares them: every bind mount
/// (named by its destination in the image) and every masked file (a bind
/// of the container's /dev/null, named `/dev/null`).
fn dump_ext_mounts(config: &Config, pid: i32) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = config
        .mounts
        .iter()
        .filter(|m| matches!(m.kind, MountKind::Bind { .. }))
        .map(|m| {
            let at = mount_point(&config.rootfs, &m.destination);
            (at.clone(), at)
        })
        .collect();
    out.extend(
        masked_files(config, pid)
            .into_iter()
            .map(|p| (p, "/dev/null".into())),
    );
    out
}

/// On v1 and hybrid hosts, the per-hierarchy mounts a `cgroup` mount
/// makes in the container (`<destination>/<hierarchy>`, see
/// `launch::rootfs`), each with the container's directory in that
/// hierarchy. Their root is not the hierarchy's root, which CRIU cannot
/// dump: they are external mounts, as runc declares them, bound from the
/// (new) container's directories on restore.
pub(super) fn cgroup_v1_mounts(
    config: &Config,
    rec: Option<&crate::cgroups::CgroupRecord>,
) -> Vec<(String, String)> {
    let Some(rec) = rec.filter(|r| r.mode != crate::cgroups::Mode::Unified) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in &config.mounts {
        if m.kind != MountKind::Cgroup {
            continue;
        }
        let dest = Path::new(&mount_point(&config.rootfs, &m.destination)).to_path_buf();
        for d in &rec.dirs {
            if let Some(name) = d.mount.file_name() {
                out.push((
                    dest.join(name).to_string_lossy().into_owned(),
                    d.dir.to_string_lossy().into_owned(),
                ));
            }
        }
    }
    out
}

/// Where a mount with destination `dest` really is in the container: the
/// destination with symlinks in the root filesystem resolved inside it
/// (as `create` mounted it, and as the container's mountinfo shows it;
/// runc resolves it the same way). As written when it does not resolve.
pub(super) fn mount_point(rootfs: &Path, dest: &str) -> String {
    let resolved = || -> Option<String> {
        let root = std::fs::File::open(rootfs).ok()?;
        let fd = crate::rootpath::open(
            std::os::fd::AsFd::as_fd(&root),
            Path::new(dest),
            nix::fcntl::OFlag::O_PATH,
        )
        .ok()?;
        let real = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        .ok()?;
        let base = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&root)
        ))
        .ok()?;
        let rel = real.strip_prefix(&base).ok()?;
        Some(Path::new("/").join(rel).to_string_lossy().into_owned())
    };
    resolved().unwrap_or_else(|| dest.to_string())
}

/// Masked paths that are files in the running container (directories are
/// masked by a tmpfs, which CRIU dumps).
fn masked_files(config: &Config, pid: i32) -> Vec<String> {
    config
        .masked_paths
        .iter()
        .filter(|p| std::fs::metadata(format!("/proc/{pid}/root{p}")).is_ok_and(|m| !m.is_dir()))
        .cloned()
        .collect()
}

/// The cgroup CRIU freezes: the v1 freezer hierarchy's directory, or the
/// cgroup2 directory when CRIU can freeze cgroup v2.
fn freeze_cgroup(state: &ContainerState, version: i64) -> Option<String> {
    let rec = state.cgroup.as_ref()?;
    let dir = rec.dirs.iter().find(|d| d.has("freezer")).or_else(|| {
        rec.dirs
            .iter()
            .find(|d| d.key.is_empty())
            .filter(|_| version >= criu::V2_FREEZE_VERSION)
    })?;
    Some(dir.dir.to_string_lossy().into_owned())
}
