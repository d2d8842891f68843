//! Building the container's root filesystem inside its new mount namespace:
//! propagation cut from the host, the rootfs bind, every configured mount,
//! `pivot_root`, and the final masked, read-only and root propagation
//! (`rootfsPropagation`) touches.
//!
//! Every mount is made detached (`fsmount`/`open_tree`), configured with
//! `mount_setattr`, and attached with `move_mount` onto a descriptor that
//! was resolved inside the root (see [`crate::rootpath`]).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;

use crate::cgroups::{CgroupRecord, Mode};
use crate::rootpath::{self, PathError};
use crate::spec::mountopt::{AttrChange, DataOption, MountOptions};
use crate::spec::{Config, MountEntry, MountKind};
use crate::sys::mount::{self as m, Attr, FsContext};

/// Root filesystem set-up failures.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mounts[{index}] on {dest}: {step}: {source}{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Mount {
        index: usize,
        dest: String,
        step: String,
        source: Errno,
        detail: Option<String>,
    },
    #[error("rootfs {}: {step}: {source}", path.display())]
    Root {
        path: PathBuf,
        step: &'static str,
        source: Errno,
    },
    #[error("{what}: {source}")]
    Step { what: String, source: Errno },
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{0}")]
    Unsafe(String),
}

type Result<T> = std::result::Result<T, RootfsError>;

fn step(what: impl Into<String>) -> impl FnOnce(Errno) -> RootfsError {
    let what = what.into();
    move |source| RootfsError::Step { what, source }
}

/// The cgroup facts the `cgroup` mount type needs.
#[derive(Debug, Clone)]
pub struct CgroupMount {
    pub record: Option<CgroupRecord>,
    /// The container has its own cgroup namespace.
    pub own_ns: bool,
}

fn to_attr(c: AttrChange) -> Attr {
    Attr {
        set: c.set,
        clear: c.clear,
        propagation: 0,
        userns: None,
    }
}

/// Step 1: isolate mount propagation and bind the rootfs onto itself, so it
/// is a mount point `pivot_root` accepts. Returns a descriptor of the root.
pub fn prepare_root(config: &Config) -> Result<OwnedFd> {
    let root = &config.rootfs;
    let slash = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|source| RootfsError::Root {
        path: "/".into(),
        step: "open",
        source,
    })?;
    // Cut every propagation link to the host (slave: host mounts still
    // appear, ours never leave). `rootfsPropagation` is applied to the new
    // root after `pivot_root` (`finalize`), not here: `unbindable` on `/`
    // would make the rootfs bind below and every bind mount from the host
    // fail (EINVAL), and a shared root or parent makes `pivot_root` fail.
    // With no shared mount left, the bind cannot propagate out either.
    m::set_attr(
        slash.as_fd(),
        true,
        Attr {
            propagation: libc::MS_SLAVE,
            ..Attr::default()
        },
    )
    .map_err(|source| RootfsError::Root {
        path: "/".into(),
        step: "set propagation",
        source,
    })?;
    // As in runc, the mount holding the rootfs becomes private (a slave
    // for a `slave` root): the rootfs bind is a copy of it, so the
    // container's root receives the host's mount events only when it is
    // to be a slave.
    let slave = config
        .rootfs_propagation
        .is_some_and(|p| p.flag == libc::MS_SLAVE);
    set_holder_propagation(
        root,
        if slave {
            libc::MS_SLAVE
        } else {
            libc::MS_PRIVATE
        },
    )?;
    let tree =
        m::clone_tree_at(&root.to_string_lossy(), true).map_err(|source| RootfsError::Root {
            path: root.clone(),
            step: "bind",
            source,
        })?;
    let target = nix::fcntl::open(
        root.as_path(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|source| RootfsError::Root {
        path: root.clone(),
        step: "open",
        source,
    })?;
    m::attach(tree.as_fd(), target.as_fd()).map_err(|source| RootfsError::Root {
        path: root.clone(),
        step: "bind",
        source,
    })?;
    nix::fcntl::open(
        root.as_path(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|source| RootfsError::Root {
        path: root.clone(),
        step: "reopen",
        source,
    })
}

/// Sets `flag` on the mount holding `rootfs`: the nearest ancestor that is
/// a mount point (the kernel answers EINVAL for one that is not).
fn set_holder_propagation(rootfs: &Path, flag: libc::c_ulong) -> Result<()> {
    for dir in rootfs.ancestors() {
        let fd = nix::fcntl::open(
            dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(step(format!("open {}", dir.display())))?;
        let attr = Attr {
            propagation: flag,
            ..Attr::default()
        };
        match m::set_attr(fd.as_fd(), false, attr) {
            Err(Errno::EINVAL) if dir != Path::new("/") => continue,
            r => {
                return r.map_err(step(format!("set the propagation of {}", dir.display())));
            }
        }
    }
    Ok(())
}

/// Step 2: every `mounts[]` entry, in order. `prepared` holds the
/// idmapped mounts the parent made, by mount index.
pub fn mount_all(
    config: &Config,
    root: BorrowedFd<'_>,
    cgroup: &CgroupMount,
    prepared: &[(usize, OwnedFd)],
) -> Result<()> {
    for entry in &config.mounts {
        let ready = prepared
            .iter()
            .find(|(i, _)| *i == entry.index)
            .map(|(_, fd)| fd.as_fd());
        if is_readonly_dev(entry) {
            // Read-only only once devices, symlinks and the mounts below
            // it are in place (`readonly_dev`), as runc does.
            let mut rw = entry.clone();
            rw.options.attr.set &= !libc::MOUNT_ATTR_RDONLY;
            rw.options.rec_attr.set &= !libc::MOUNT_ATTR_RDONLY;
            mount_one(config, root, &rw, cgroup, ready)?;
        } else {
            mount_one(config, root, entry, cgroup, ready)?;
        }
    }
    Ok(())
}

/// A filesystem (not a bind) mounted read-only on `/dev`.
fn is_readonly_dev(e: &MountEntry) -> bool {
    let ro = (e.options.attr.set | e.options.rec_attr.set) & libc::MOUNT_ATTR_RDONLY != 0;
    ro && e.destination == "/dev" && matches!(e.kind, MountKind::Fs { .. }) && !e.options.remount
}

/// After the device nodes are made: a read-only `/dev` mount becomes
/// read-only (only the `/dev` mount itself; `/dev/pts` and the others
/// below it keep their own flags).
pub fn readonly_dev(config: &Config, root: BorrowedFd<'_>) -> Result<()> {
    let Some(e) = config.mounts.iter().rev().find(|e| e.destination == "/dev") else {
        return Ok(());
    };
    if !is_readonly_dev(e) {
        return Ok(());
    }
    let dev = rootpath::open(root, Path::new("/dev"), OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(merr(e, "open"))?;
    m::set_attr(
        dev.as_fd(),
        false,
        Attr {
            set: libc::MOUNT_ATTR_RDONLY,
            ..Attr::default()
        },
    )
    .map_err(merr(e, "make read-only"))
}

fn merr(e: &MountEntry, step: impl Into<String>) -> impl FnOnce(Errno) -> RootfsError + '_ {
    let step = step.into();
    move |source| RootfsError::Mount {
        index: e.index,
        dest: e.destination.clone(),
        step,
        source,
        detail: None,
    }
}

fn mount_one(
    config: &Config,
    root: BorrowedFd<'_>,
    e: &MountEntry,
    cgroup: &CgroupMount,
    ready: Option<BorrowedFd<'_>>,
) -> Result<()> {
    let dest = Path::new(&e.destination);
    if e.options.remount {
        let target = rootpath::open_path(root, dest)?;
        return apply_attrs(e, target.as_fd());
    }
    if let Some(mnt) = ready {
        // An idmapped mount, configured by the parent: only attach it.
        let target = if rootpath::is_dir(mnt) {
            rootpath::mkdir_all(root, dest, 0o755)?
        } else {
            rootpath::touch(root, dest)?
        };
        m::attach(mnt, target.as_fd()).map_err(merr(e, "attach"))?;
        return propagate(e, mnt);
    }
    let mnt = match &e.kind {
        MountKind::Bind { source, recursive } => {
            let tree = m::clone_tree_at(&source.to_string_lossy(), *recursive)
                .map_err(merr(e, format!("open bind source {}", source.display())))?;
            apply_attrs(e, tree.as_fd())?;
            tree
        }
        MountKind::Fs { fstype, source } if matches!(fstype.as_str(), "proc" | "sysfs") => {
            // Checked before the filesystem is made, as in runc: a symlink
            // (or file) there is refused, never followed.
            let target = ordinary_dir(root, e, fstype)?;
            let mnt = fs_mount(e, fstype, source.as_deref(), None)?;
            m::attach(mnt.as_fd(), target.as_fd()).map_err(merr(e, "attach"))?;
            return propagate(e, mnt.as_fd());
        }
        MountKind::Fs { fstype, source } => {
            let label = config
                .mount_label
                .as_deref()
                .filter(|_| takes_label(fstype));
            let mnt = fs_mount(e, fstype, source.as_deref(), label)?;
            if fstype == "mqueue"
                && let Some(l) = config.mount_label.as_deref()
            {
                // mqueue takes no `context=`: runc labels its root by xattr.
                crate::sys::fd::set_selinux_label(mnt.as_fd(), l)
                    .map_err(merr(e, format!("label {l:?} (linux.mountLabel)")))?;
            }
            if e.options.tmpcopyup {
                copy_up(root, e, mnt.as_fd())?;
            }
            mnt
        }
        MountKind::Cgroup => return mount_cgroup(config, root, e, cgroup),
    };
    let target = if rootpath::is_dir(mnt.as_fd()) {
        rootpath::mkdir_all(root, dest, 0o755)?
    } else {
        rootpath::touch(root, dest)?
    };
    m::attach(mnt.as_fd(), target.as_fd()).map_err(merr(e, "attach"))?;
    propagate(e, mnt.as_fd())
}

/// The destination of a `proc` or `sysfs` mount: an existing directory
/// (reached inside the root, its last component not followed) or a new one.
/// Anything else is refused as runc does: procfs or sysfs mounted through
/// an image's symlink could cover any path of the container, `/` included,
/// and leave `/proc` to the image.
fn ordinary_dir(root: BorrowedFd<'_>, e: &MountEntry, fstype: &str) -> Result<OwnedFd> {
    let dest = Path::new(&e.destination);
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
    match rootpath::open(root, dest, flags) {
        Ok(fd) => Ok(fd),
        Err(Errno::ENOENT) => Ok(rootpath::mkdir_all(root, dest, 0o755)?),
        Err(Errno::ENOTDIR) => Err(RootfsError::Unsafe(format!(
            "mounts[{}] on {}: filesystem {fstype:?} must be mounted on ordinary directory",
            e.index, e.destination
        ))),
        Err(source) => Err(merr(e, "open the destination")(source)),
    }
}

/// Applies recursive, then per-mount attributes.
fn apply_attrs(e: &MountEntry, fd: BorrowedFd<'_>) -> Result<()> {
    if !e.options.rec_attr.is_empty() {
        m::set_attr(fd, true, to_attr(e.options.rec_attr))
            .map_err(merr(e, "set recursive attributes"))?;
    }
    if !e.options.attr.is_empty() {
        m::set_attr(fd, false, to_attr(e.options.attr)).map_err(merr(e, "set attributes"))?;
    }
    Ok(())
}

fn propagate(e: &MountEntry, fd: BorrowedFd<'_>) -> Result<()> {
    for p in &e.options.propagation {
        m::set_attr(
            fd,
            p.recursive,
            Attr {
                propagation: p.flag,
                ..Attr::default()
            },
        )
        .map_err(merr(e, "set propagation"))?;
    }
    Ok(())
}

/// Whether a filesystem gets `linux.mountLabel` as its `context` (runc
/// labels all but these). A mount label is only ever set where SELinux is
/// enabled: `create` refuses it elsewhere (`spec::host::check`), which is
/// checked there and not here, where the container's `/sys` (without
/// selinuxfs) may already be the root's after `pivot_root`.
fn takes_label(fstype: &str) -> bool {
    !matches!(fstype, "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2")
}

/// `tmpcopyup`: fills the new tmpfs with what the image has at the
/// destination (nothing if the destination does not exist yet).
fn copy_up(root: BorrowedFd<'_>, e: &MountEntry, mnt: BorrowedFd<'_>) -> Result<()> {
    let src = match rootpath::open(root, Path::new(&e.destination), OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(source) => return Err(merr(e, "tmpcopyup: open the destination")(source)),
    };
    if !rootpath::is_dir(src.as_fd()) {
        return Ok(());
    }
    super::copyup::copy_dir(src.as_fd(), mnt, &e.destination).map_err(|c| RootfsError::Mount {
        index: e.index,
        dest: e.destination.clone(),
        step: format!("tmpcopyup: {}: {}", c.what, c.path),
        source: c.source,
        detail: None,
    })
}

/// Creates a new filesystem instance as a detached mount.
fn fs_mount(
    e: &MountEntry,
    fstype: &str,
    source: Option<&str>,
    label: Option<&str>,
) -> Result<OwnedFd> {
    let ctx = FsContext::open(fstype).map_err(merr(e, format!("fsopen {fstype}")))?;
    let fail = |ctx: &FsContext, step: String, source: Errno| RootfsError::Mount {
        index: e.index,
        dest: e.destination.clone(),
        step,
        source,
        detail: ctx.last_message(),
    };
    if let Some(src) = source.filter(|s| !s.is_empty())
        && let Err(err) = ctx.set_string("source", src)
    {
        return Err(fail(&ctx, format!("source={src}"), err));
    }
    if let Some(l) = label
        // Unquoted: fsconfig takes the value whole (commas of MCS
        // categories included); the quotes mount(2)'s option string needs
        // would become part of the label.
        && let Err(err) = ctx.set_string("context", l)
    {
        return Err(fail(&ctx, format!("context={l} (linux.mountLabel)"), err));
    }
    for opt in &e.options.data {
        let r = match opt {
            // mount(2) takes MS_I_VERSION for any filesystem and ignores it
            // where it means nothing; fsconfig only knows it for the
            // filesystems that parse it, so the others may refuse it.
            DataOption::Flag(k) if k == "iversion" => match ctx.set_flag(k) {
                Err(Errno::EINVAL) => {
                    let _ = ctx.last_message();
                    Ok(())
                }
                other => other,
            },
            DataOption::Flag(k) => ctx.set_flag(k),
            DataOption::Value(k, v) => ctx.set_string(k, v),
        };
        if let Err(err) = r {
            return Err(fail(&ctx, format!("option {opt}"), err));
        }
    }
    // Only bits the mount is asked to set apply at fsmount time; clearing
    // is the default for a new mount.
    let opts: &MountOptions = &e.options;
    let attr = (opts.attr.set | opts.rec_attr.set) & !libc::MOUNT_ATTR_IDMAP;
    ctx.mount(attr)
        .map_err(|err| fail(&ctx, format!("mount {fstype}"), err))
}

/// The `cgroup` mount type: the container's own view of its cgroups.
fn mount_cgroup(
    _config: &Config,
    root: BorrowedFd<'_>,
    e: &MountEntry,
    cg: &CgroupMount,
) -> Result<()> {
    let dest = Path::new(&e.destination);
    let Some(rec) = &cg.record else {
        return Err(RootfsError::Unsafe(format!(
            "mounts[{}] on {}: a cgroup mount needs the container to have a cgroup",
            e.index, e.destination
        )));
    };
    let attr = AttrChange {
        set: e.options.attr.set | e.options.rec_attr.set,
        clear: 0,
    };
    if rec.mode == Mode::Unified {
        let fresh = if cg.own_ns {
            match FsContext::open("cgroup2").and_then(|c| c.mount(attr.set)) {
                Ok(m) => Some(m),
                // Rootless without a delegated cgroup: bind it instead.
                Err(Errno::EPERM) => None,
                Err(err) => return Err(merr(e, "mount cgroup2")(err)),
            }
        } else {
            None
        };
        let mnt = if let Some(m) = fresh {
            m
        } else {
            let dir = rec.dirs.first().map(|d| d.dir.clone()).unwrap_or_default();
            let t =
                m::clone_tree_at(&dir.to_string_lossy(), false).map_err(merr(e, "bind cgroup"))?;
            m::set_attr(t.as_fd(), false, to_attr(attr)).map_err(merr(e, "set attributes"))?;
            t
        };
        let target = rootpath::mkdir_all(root, dest, 0o755)?;
        return m::attach(mnt.as_fd(), target.as_fd()).map_err(merr(e, "attach"));
    }
    // v1 and hybrid: a tmpfs holding one directory per hierarchy.
    let tmpfs = FsContext::open("tmpfs")
        .and_then(|c| {
            c.set_string("mode", "755")?;
            c.mount(attr.set & !libc::MOUNT_ATTR_RDONLY)
        })
        .map_err(merr(e, "mount tmpfs"))?;
    let target = rootpath::mkdir_all(root, dest, 0o755)?;
    m::attach(tmpfs.as_fd(), target.as_fd()).map_err(merr(e, "attach tmpfs"))?;
    for d in &rec.dirs {
        let (key, dir) = (&d.key, &d.dir);
        let name = d
            .mount
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sub = rootpath::mkdir_all(root, &dest.join(&name), 0o755)?;
        let fresh = if cg.own_ns {
            let ctx = if key.is_empty() {
                FsContext::open("cgroup2")
            } else {
                FsContext::open("cgroup")
            }
            .map_err(merr(e, "fsopen cgroup"))?;
            if let Some(n) = key.strip_prefix("name=") {
                ctx.set_string("name", n)
                    .map_err(merr(e, format!("cgroup name={n}")))?;
            } else if !key.is_empty() {
                for c in name.split(',') {
                    ctx.set_flag(c)
                        .map_err(merr(e, format!("cgroup controller {c}")))?;
                }
            }
            match ctx.mount(attr.set) {
                Ok(m) => Some(m),
                // Rootless: a fresh hierarchy needs the host's root.
                Err(Errno::EPERM) => None,
                Err(err) => return Err(merr(e, format!("mount cgroup {name}"))(err)),
            }
        } else {
            None
        };
        let mnt = if let Some(m) = fresh {
            m
        } else {
            let t = m::clone_tree_at(&dir.to_string_lossy(), false)
                .map_err(merr(e, format!("bind cgroup {name}")))?;
            m::set_attr(t.as_fd(), false, to_attr(attr)).map_err(merr(e, "set attributes"))?;
            t
        };
        m::attach(mnt.as_fd(), sub.as_fd()).map_err(merr(e, format!("attach cgroup {name}")))?;
    }
    if attr.set & libc::MOUNT_ATTR_RDONLY != 0 {
        m::set_attr(
            tmpfs.as_fd(),
            false,
            Attr {
                set: libc::MOUNT_ATTR_RDONLY,
                ..Attr::default()
            },
        )
        .map_err(merr(e, "make read-only"))?;
    }
    Ok(())
}

/// Step 3: makes the prepared root the process's root.
pub fn pivot(root: BorrowedFd<'_>, no_pivot: bool) -> Result<()> {
    nix::unistd::fchdir(root).map_err(step("chdir to rootfs"))?;
    if no_pivot {
        hide_host_proc_and_sys(root)?;
        nix::mount::mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
            .map_err(step("move rootfs to /"))?;
        nix::unistd::chroot(".").map_err(step("chroot"))?;
    } else {
        nix::unistd::pivot_root(".", ".").map_err(step("pivot_root"))?;
        // The old root is now stacked on top of "." (which `umount2` looks
        // through). Its mounts were made slaves before anything was
        // mounted, so detaching them cannot propagate to the host. (A
        // recursive MS_SLAVE on "." here would hit the new root instead and
        // undo the container's own propagation settings.)
        let dot = CString::new(".").map_err(|_| RootfsError::Unsafe("nul".into()))?;
        m::detach(&dot).map_err(step("detach old root"))?;
    }
    nix::unistd::chdir("/").map_err(step("chdir /"))
}

/// `--no-pivot` only: the host's procfs and sysfs mounts outside the
/// rootfs stay in the container's mount namespace under `chroot`, and the
/// kernel lets a new user namespace in the container mount a fresh,
/// unmasked procfs while a fully visible one exists there. Detach them (a
/// tmpfs over one that cannot be detached), as runc does. Mounts here are
/// slaves of the host's, so nothing propagates back.
fn hide_host_proc_and_sys(root: BorrowedFd<'_>) -> Result<()> {
    let rootfs = std::fs::read_link(format!("/proc/self/fd/{}", root.as_raw_fd()))
        .map_err(|e| step("find the rootfs path")(errno_of(&e)))?;
    let info = crate::proc::read_small("/proc/self/mountinfo")
        .map_err(|e| step("read /proc/self/mountinfo")(errno_of(&e)))?;
    for point in full_proc_and_sys_mounts(&info, &rootfs) {
        let c = CString::new(point.as_os_str().as_encoded_bytes())
            .map_err(|_| RootfsError::Unsafe(format!("mount point {}", point.display())))?;
        match m::detach(&c) {
            Ok(()) | Err(Errno::ENOENT) => {}
            // Already gone with a parent detached before it.
            Err(Errno::EINVAL) if !point.exists() => {}
            Err(Errno::EINVAL | Errno::EPERM) => nix::mount::mount(
                Some("tmpfs"),
                &point,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .map_err(step(format!("cover {}", point.display())))?,
            Err(e) => return Err(step(format!("detach {}", point.display()))(e)),
        }
    }
    Ok(())
}

fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Mount points (from mountinfo text) of whole procfs and sysfs mounts
/// that are neither `rootfs` nor below it.
fn full_proc_and_sys_mounts(mountinfo: &str, rootfs: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (head, tail) = line.split_once(" - ")?;
            let mut h = head.split(' ');
            let fs_root = h.nth(3)?;
            let point = PathBuf::from(unescape(h.next()?));
            let fstype = tail.split(' ').next()?;
            let whole = fs_root == "/" && matches!(fstype, "proc" | "sysfs");
            (whole && !point.starts_with(rootfs)).then_some(point)
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                let v = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Step 4 (after `pivot`): masked paths, read-only paths, a read-only root,
/// and the root propagation (applied only here, on the new root, where it
/// can break neither the binds nor `pivot_root`).
pub fn finalize(config: &Config) -> Result<()> {
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(step("open /"))?;
    for p in &config.readonly_paths {
        readonly_path(root.as_fd(), p)?;
    }
    let label = config
        .mount_label
        .as_deref()
        .filter(|_| takes_label("tmpfs"));
    mask_paths(root.as_fd(), &config.masked_paths, label)?;
    if config.readonly_root {
        m::set_attr(
            root.as_fd(),
            false,
            Attr {
                set: libc::MOUNT_ATTR_RDONLY,
                ..Attr::default()
            },
        )
        .map_err(step("make root read-only"))?;
    }
    if let Some(p) = config.rootfs_propagation {
        m::set_attr(
            root.as_fd(),
            p.recursive,
            Attr {
                propagation: p.flag,
                ..Attr::default()
            },
        )
        .map_err(step("set root propagation"))?;
    }
    Ok(())
}

fn readonly_path(root: BorrowedFd<'_>, p: &str) -> Result<()> {
    let fd = match rootpath::open(root, Path::new(p), OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(source) => {
            return Err(RootfsError::Step {
                what: format!("readonly path {p}"),
                source,
            });
        }
    };
    let tree =
        m::clone_tree(fd.as_fd(), c"", true).map_err(step(format!("readonly path {p}: bind")))?;
    m::set_attr(
        tree.as_fd(),
        true,
        Attr {
            set: libc::MOUNT_ATTR_RDONLY,
            ..Attr::default()
        },
    )
    .map_err(step(format!("readonly path {p}: remount")))?;
    m::attach(tree.as_fd(), fd.as_fd()).map_err(step(format!("readonly path {p}: attach")))
}

/// Masks paths: `/dev/null` over files, an empty read-only tmpfs over
/// directories. The `/dev/null` used is checked to be the real device, so a
/// container cannot substitute another file (CVE-2025-31133).
/// The tmpfs gets `label` (`linux.mountLabel`) as its `context`, as in runc.
pub fn mask_paths(root: BorrowedFd<'_>, paths: &[String], label: Option<&str>) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let mut null: Option<OwnedFd> = None;
    for p in paths {
        let fd = match rootpath::open(root, Path::new(p), OFlag::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(source) => {
                return Err(RootfsError::Step {
                    what: format!("masked path {p}"),
                    source,
                });
            }
        };
        let mnt = if rootpath::is_dir(fd.as_fd()) {
            FsContext::open("tmpfs")
                .and_then(|c| {
                    c.set_string("size", "0")?;
                    if let Some(l) = label {
                        c.set_string("context", l)?;
                    }
                    c.mount(libc::MOUNT_ATTR_RDONLY)
                })
                .map_err(step(format!("masked path {p}: tmpfs")))?
        } else {
            if null.is_none() {
                null = Some(verified_dev_null(root)?);
            }
            let src = null
                .as_ref()
                .map(|f| f.as_fd())
                .ok_or_else(|| RootfsError::Unsafe("/dev/null".into()))?;
            let t = m::clone_tree(src, c"", false)
                .map_err(step(format!("masked path {p}: bind /dev/null")))?;
            m::set_attr(
                t.as_fd(),
                false,
                Attr {
                    set: libc::MOUNT_ATTR_RDONLY,
                    ..Attr::default()
                },
            )
            .map_err(step(format!("masked path {p}: read-only")))?;
            t
        };
        m::attach(mnt.as_fd(), fd.as_fd()).map_err(step(format!("masked path {p}: attach")))?;
    }
    Ok(())
}

/// Opens the container's `/dev/null` and checks it is the null device.
pub fn verified_dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd> {
    let fd = rootpath::open(
        root,
        Path::new("/dev/null"),
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
    )
    .map_err(step("open /dev/null"))?;
    let st = nix::sys::stat::fstat(fd.as_fd()).map_err(step("stat /dev/null"))?;
    let is_chr = st.st_mode & libc::S_IFMT == libc::S_IFCHR;
    if !is_chr || st.st_rdev != libc::makedev(1, 3) {
        return Err(RootfsError::Unsafe(
            "/dev/null in the container is not the null device; refusing to use it to mask paths"
                .into(),
        ));
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_proc_and_sys_mounts_outside_the_rootfs() {
        let info = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
23 1 0:22 / /sys rw - sysfs sysfs rw
24 22 0:23 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw
25 1 0:21 /sys /mnt/part rw - proc proc rw
26 1 0:21 / /b/rootfs/proc rw - proc proc rw
27 1 0:21 / /with\\040space rw - proc proc rw
";
        let got = full_proc_and_sys_mounts(info, Path::new("/b/rootfs"));
        let want: Vec<PathBuf> = ["/proc", "/sys", "/with space"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(got, want);
        assert_eq!(unescape("a\\134b\\9"), "a\\b\\9");
    }
}
