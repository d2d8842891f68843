//! `checkpoint`: dump a running container with CRIU (runc's semantics:
//! after a dump without `--leave-running` the container is gone).

use std::path::{Path, PathBuf};

use super::{OpsError, Result, Runtime};
use crate::criu::{self, CgMode, Notify, Opts, PageServer, Req, ReqType, Swrk, image};
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
    /// `--empty-ns network`: the network namespace without its properties.
    pub empty_netns: bool,
    pub lazy_pages: bool,
}

impl CriuOptions {
    /// CRIU's `empty_ns` mask.
    pub(super) fn empty_ns_mask(&self) -> Option<u32> {
        self.empty_netns.then_some(libc::CLONE_NEWNET as u32)
    }
}

/// Pure: the values of `--empty-ns` (runc takes only `network`).
pub fn empty_netns(values: &[String]) -> Result<bool> {
    if let Some(v) = values.iter().find(|v| v.as_str() != "network") {
        return Err(OpsError::Invalid(format!(
            "--empty-ns {v}: only the network namespace can be restored empty"
        )));
    }
    Ok(!values.is_empty())
}

/// Pure: `--page-server ADDRESS:PORT` (`[v6 address]:PORT` too).
pub fn parse_page_server(s: &str) -> Result<PageServer> {
    let bad = || OpsError::Invalid(format!("--page-server {s}: use --page-server ADDRESS:PORT"));
    let (addr, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let addr = match addr.strip_prefix('[') {
        Some(a) => a.strip_suffix(']').ok_or_else(bad)?,
        None if addr.contains(':') => return Err(bad()),
        None => addr,
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    if addr.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok(PageServer {
        address: addr.to_string(),
        port: i32::from(port),
    })
}

/// Pure: a `--lsm-profile` (`apparmor:NAME` or `selinux:LABEL`, what CRIU
/// takes) and `--lsm-mount-context` for a CRIU of `version`: CRIU 3.16 or
/// newer (runc's minimum; older ones cannot set another profile).
pub fn check_lsm(profile: Option<&str>, context: Option<&str>, version: i64) -> Result<()> {
    for (flag, v) in [("--lsm-profile", profile), ("--lsm-mount-context", context)] {
        if v.is_some() && version < criu::LSM_VERSION {
            return Err(OpsError::Invalid(format!(
                "restore {flag} needs CRIU 3.16 or newer (found {version})"
            )));
        }
    }
    if let Some(p) = profile {
        let ok = p
            .split_once(':')
            .is_some_and(|(kind, name)| matches!(kind, "apparmor" | "selinux") && !name.is_empty());
        if !ok || p.contains('\0') {
            return Err(OpsError::Invalid(format!(
                "--lsm-profile {p}: use apparmor:NAME or selinux:LABEL"
            )));
        }
    }
    if context.is_some_and(|c| c.is_empty() || c.contains('\0')) {
        return Err(OpsError::Invalid(
            "--lsm-mount-context: an SELinux context is required".into(),
        ));
    }
    Ok(())
}

/// Refuses lazy pages where CRIU cannot do them: they need the kernel's
/// non-cooperative userfaultfd, so this is asked of CRIU at run time.
pub(super) fn need_lazy_pages(criu_bin: &Path, command: &str) -> Result<()> {
    if criu::lazy_pages_supported(criu_bin)? {
        return Ok(());
    }
    Err(OpsError::Invalid(format!(
        "{command} --lazy-pages: CRIU cannot migrate memory lazily on this kernel (it needs \
         userfaultfd with non-cooperative events: `criu check --feature uffd-noncoop` fails)"
    )))
}

/// The descriptor of `--status-fd`: open and writable, taken over (closed
/// once the byte is written).
fn status_fd(fd: i32) -> Result<std::os::fd::OwnedFd> {
    let bad = |why: &str| OpsError::Invalid(format!("--status-fd {fd}: {why}"));
    if (0..=2).contains(&fd) {
        return Err(bad("a standard descriptor cannot be the status descriptor"));
    }
    let owned = crate::sys::fd::adopt(fd).ok_or_else(|| bad("not an open descriptor"))?;
    let flags = nix::fcntl::fcntl(&owned, nix::fcntl::FcntlArg::F_GETFL)
        .map_err(OpsError::sys(format!("--status-fd {fd}")))?;
    let mode = nix::fcntl::OFlag::from_bits_truncate(flags) & nix::fcntl::OFlag::O_ACCMODE;
    if mode == nix::fcntl::OFlag::O_RDONLY {
        // Not ours to close after all: leave it as it came.
        std::mem::forget(owned);
        return Err(bad("not writable"));
    }
    Ok(owned)
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
    /// `--page-server`: where the pages go (with lazy pages: where the
    /// dump's page server listens).
    pub page_server: Option<PageServer>,
    /// `--status-fd` (with `--lazy-pages`).
    pub status_fd: Option<i32>,
}

/// Checkpoints container `id` into `opts.criu.image_path`.
pub fn checkpoint(rt: &Runtime, id: &str, opts: &CheckpointOptions) -> Result<()> {
    if opts.status_fd.is_some() && !opts.criu.lazy_pages {
        return Err(OpsError::Invalid(
            "--status-fd is only used with --lazy-pages".into(),
        ));
    }
    if opts.criu.lazy_pages && opts.pre_dump {
        return Err(OpsError::Invalid(
            "--lazy-pages and --pre-dump cannot be combined".into(),
        ));
    }
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
    if opts.criu.lazy_pages {
        need_lazy_pages(&criu_bin, "checkpoint")?;
    }
    let mut status = opts.status_fd.map(status_fd).transpose()?;
    // CRIU 3.15+ sends `status-ready`; older ones write to the descriptor.
    let status_by_criu = status
        .as_ref()
        .filter(|_| version.number() < criu::STATUS_READY_VERSION)
        .map(std::os::fd::AsRawFd::as_raw_fd);
    if let (Some(fd), None) = (&status, status_by_criu) {
        // berth writes the byte: CRIU must not hold the descriptor open, or
        // the reader would not see it closed once written (as with runc,
        // whose children inherit no descriptor unless named).
        nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(OpsError::sys("--status-fd: set close-on-exec"))?;
    }
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
            empty_ns: opts.criu.empty_ns_mask(),
            ps: opts.page_server.clone(),
            lazy_pages: opts.criu.lazy_pages,
            status_fd: status_by_criu,
            ..Opts::default()
        }),
        notify_success: false,
        features: None,
    };
    let action = if opts.pre_dump { "pre-dump" } else { "dump" };
    let mut s = Swrk::spawn(&criu_bin)?;
    let mut on_notify = |n: &Notify, _| -> criu::Result<()> {
        if n.script == "status-ready"
            && let Some(fd) = status.take()
        {
            // The lazy page server listens: one NUL byte, as runc writes.
            if let Err(e) = nix::unistd::write(&fd, &[0]) {
                tracing::warn!("--status-fd: write: {e}");
            }
        }
        Ok(())
    };
    let resp = s.call(&req, &mut on_notify)?;
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
    // external; ipc, uts, mount and time ones are joined on restore
    // through CRIU's `join_ns` (both as runc does). CRIU cannot join a
    // cgroup namespace: runc refuses that path too.
    if let Some((i, n)) = config
        .namespaces
        .iter()
        .enumerate()
        .find(|(_, n)| n.path.is_some() && n.kind == NsKind::Cgroup)
    {
        return Err(OpsError::Invalid(format!(
            "linux.namespaces[{i}]: checkpoint/restore of a container joining a {} namespace \
             by path is not supported (CRIU cannot join one; runc refuses it too)",
            n.kind.spec_name()
        )));
    }
    Ok(())
}

/// `join_ns` for restore: every namespace joined by path that is not
/// external to the image (ipc, uts, mount, time), by its `/proc/<pid>/ns/`
/// name and the config's path, as runc hands them to CRIU. On dump
/// nothing is declared for them (runc neither): CRIU dumps their content,
/// and on restore joins the path instead of creating one.
pub(super) fn join_namespaces(config: &Config) -> Vec<criu::proto::JoinNs> {
    config
        .namespaces
        .iter()
        .filter(|n| ExternalNs::of(n.kind).is_none())
        .filter(|n| !matches!(n.kind, NsKind::Cgroup | NsKind::User))
        .filter_map(|n| {
            n.path.as_ref().map(|p| criu::proto::JoinNs {
                ns: n.kind.proc_name().into(),
                ns_file: p.to_string_lossy().into_owned(),
                extra_opt: None,
            })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_server_addresses() {
        let ps = |a: &str, p| PageServer {
            address: a.into(),
            port: p,
        };
        assert_eq!(
            parse_page_server("10.0.2.15:27277").expect("v4"),
            ps("10.0.2.15", 27277)
        );
        assert_eq!(parse_page_server("[::1]:9").expect("v6"), ps("::1", 9));
        assert_eq!(
            parse_page_server("localhost:1").expect("name"),
            ps("localhost", 1)
        );
        for bad in [
            "", "x", ":1", "a:", "a:0", "a:65536", "a:b", "::1:2", "[::1:2",
        ] {
            let e = parse_page_server(bad).expect_err(bad).to_string();
            assert!(e.contains("use --page-server ADDRESS:PORT"), "{bad}: {e}");
        }
    }

    #[test]
    fn empty_ns_takes_network_only() {
        assert!(!empty_netns(&[]).expect("none"));
        assert!(empty_netns(&["network".into()]).expect("network"));
        let e = empty_netns(&["network".into(), "ipc".into()]).expect_err("ipc");
        assert!(e.to_string().contains("--empty-ns ipc:"), "{e}");
        let o = CriuOptions {
            empty_netns: true,
            ..CriuOptions::default()
        };
        assert_eq!(o.empty_ns_mask(), Some(0x4000_0000));
        assert_eq!(CriuOptions::default().empty_ns_mask(), None);
    }

    #[test]
    fn lsm_flags_need_criu_3_16_and_a_type() {
        assert!(check_lsm(Some("apparmor:p"), Some("system_u:object_r:x:s0"), 31701).is_ok());
        assert!(check_lsm(Some("selinux:system_u:system_r:t:s0"), None, 31600).is_ok());
        assert!(check_lsm(None, None, 30000).is_ok());
        let e = check_lsm(Some("apparmor:p"), None, 31501).expect_err("old");
        assert_eq!(
            e.to_string(),
            "restore --lsm-profile needs CRIU 3.16 or newer (found 31501)"
        );
        let e = check_lsm(None, Some("x"), 31501).expect_err("old");
        assert!(
            e.to_string()
                .contains("--lsm-mount-context needs CRIU 3.16"),
            "{e}"
        );
        for bad in ["p", "apparmor:", "smack:x", ":x"] {
            let e = check_lsm(Some(bad), None, 31701).expect_err(bad);
            assert!(
                e.to_string().contains("use apparmor:NAME or selinux:LABEL"),
                "{e}"
            );
        }
        assert!(check_lsm(None, Some(""), 31701).is_err());
    }
}
