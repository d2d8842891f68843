//! `/dev` inside the container: device nodes (runc's defaults plus
//! `linux.devices`), the standard symlinks and `/dev/ptmx`.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::rootfs::RootfsError;
use crate::rootpath;
use crate::spec::{Config, MountKind};
use crate::sys::mount as m;

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub path: String,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// From `linux.devices` (not a default): a different file already at
    /// the path is an error.
    pub configured: bool,
}

/// The nodes runc creates in every container's `/dev`.
pub const DEFAULTS: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The nodes for `config`: defaults not overridden by `linux.devices`,
/// then `linux.devices`.
pub fn nodes(devices: &[LinuxDevice]) -> Vec<Node> {
    let mut out: Vec<Node> = DEFAULTS
        .iter()
        .filter(|(p, _, _)| !devices.iter().any(|d| d.path() == Path::new(p)))
        .map(|(p, maj, min)| Node {
            path: p.to_string(),
            kind: SFlag::S_IFCHR,
            major: *maj,
            minor: *min,
            mode: 0o666,
            uid: 0,
            gid: 0,
            configured: false,
        })
        .collect();
    out.extend(devices.iter().map(|d| Node {
        path: d.path().to_string_lossy().into_owned(),
        kind: match d.typ() {
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            _ => SFlag::S_IFCHR,
        },
        major: d.major().max(0) as u64,
        minor: d.minor().max(0) as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
        configured: true,
    }));
    out
}

/// Whether berth populates `/dev` (not when the config bind-mounts it).
pub fn wants_setup(config: &Config) -> bool {
    !config
        .mounts
        .iter()
        .any(|m| m.destination == "/dev" && matches!(m.kind, MountKind::Bind { .. }))
}

fn err(what: String) -> impl FnOnce(Errno) -> RootfsError {
    move |source| RootfsError::Step { what, source }
}

/// Creates the device nodes, symlinks and `/dev/ptmx` under `root`. In a
/// user namespace, where `mknod` is not allowed, nodes are bind mounts of
/// the host's devices instead.
pub fn setup(root: BorrowedFd<'_>, config: &Config, in_userns: bool) -> Result<(), RootfsError> {
    if !wants_setup(config) {
        return Ok(());
    }
    for node in nodes(&config.devices) {
        create_node(root, &node, in_userns)?;
    }
    let dev = rootpath::mkdir_all(root, Path::new("/dev"), 0o755)?;
    let dev = rootpath::reopen_dir(dev.as_fd()).map_err(err("open /dev".into()))?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match nix::unistd::symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(err(format!("symlink /dev/{name}"))(e)),
        }
    }
    // /dev/ptmx must be the devpts instance's multiplexer.
    match nix::unistd::unlinkat(dev.as_fd(), "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(err("remove /dev/ptmx".into())(e)),
    }
    nix::unistd::symlinkat("pts/ptmx", dev.as_fd(), "ptmx").map_err(err("symlink /dev/ptmx".into()))
}

/// After `pivot_root`: a standard stream that is a null device (the
/// host's `/dev/null`, as Docker's shim passes without `-i`) is reopened on
/// the container's own `/dev/null`, as runc does. The host's may be open
/// read-only (`echo x >&0` fails) and is a file of the host's mount tree.
pub fn reopen_dev_null() -> Result<(), RootfsError> {
    let is_null = |st: &nix::sys::stat::FileStat| {
        st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3)
    };
    let streams: Vec<i32> = (0..=2)
        .filter(|fd| nix::sys::stat::fstat(crate::sys::fd::stdio(*fd)).is_ok_and(|st| is_null(&st)))
        .collect();
    if streams.is_empty() {
        return Ok(());
    }
    let null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(err("reopen stdio: open /dev/null".into()))?;
    let st =
        nix::sys::stat::fstat(null.as_fd()).map_err(err("reopen stdio: stat /dev/null".into()))?;
    if !is_null(&st) {
        return Err(RootfsError::Unsafe(
            "/dev/null in the container is not the null device; refusing to make it stdio".into(),
        ));
    }
    for fd in streams {
        crate::sys::fd::dup_onto_stdio(null.as_fd(), fd)
            .map_err(err(format!("reopen stdio: /dev/null onto fd {fd}")))?;
    }
    Ok(())
}

fn create_node(root: BorrowedFd<'_>, node: &Node, in_userns: bool) -> Result<(), RootfsError> {
    let path = Path::new(&node.path);
    let what = |s: &str| format!("device {}: {s}", node.path);
    let parent = rootpath::mkdir_all(root, path.parent().unwrap_or(Path::new("/dev")), 0o755)?;
    let parent = rootpath::reopen_dir(parent.as_fd()).map_err(err(what("open parent")))?;
    let name = path
        .file_name()
        .ok_or_else(|| RootfsError::Unsafe(what("no file name")))?;
    // An image's symlink at a device path is replaced, never followed nor
    // kept: the container gets the device it asked for (CVE-2026-41579
    // class).
    remove_symlink(parent.as_fd(), name).map_err(err(what("remove the image's symlink")))?;
    if in_userns {
        return bind_from_host(root, node);
    }
    let dev = libc::makedev(node.major as u32, node.minor as u32);
    match nix::sys::stat::mknodat(
        parent.as_fd(),
        name,
        node.kind,
        Mode::from_bits_truncate(node.mode),
        dev,
    ) {
        Ok(()) => {}
        // Already there (for example in the image): leave it, as runc
        // does, if it is the requested device (runtime-spec).
        Err(Errno::EEXIST) => return check_existing(parent.as_fd(), name, node, dev),
        // mknod not allowed (a restricted host): bind the host's, as runc.
        Err(Errno::EPERM) => return bind_from_host(root, node),
        Err(e) => return Err(err(what("mknod"))(e)),
    }
    // mknod applies the umask; set the exact mode and owner.
    nix::sys::stat::fchmodat(
        parent.as_fd(),
        name,
        Mode::from_bits_truncate(node.mode),
        nix::sys::stat::FchmodatFlags::NoFollowSymlink,
    )
    .map_err(err(what("chmod")))?;
    nix::unistd::fchownat(
        parent.as_fd(),
        name,
        Some(Uid::from_raw(node.uid)),
        Some(Gid::from_raw(node.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(err(what("chown")))
}

/// Removes `name` in `dir` if it is a symlink.
fn remove_symlink(dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> Result<(), Errno> {
    match nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
            nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
        }
        Ok(_) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Bind-mounts the host's node at the same path (inside a user namespace,
/// where `mknod` is not allowed).
fn bind_from_host(root: BorrowedFd<'_>, node: &Node) -> Result<(), RootfsError> {
    let what = |s: &str| format!("device {}: {s}", node.path);
    let target = rootpath::touch(root, Path::new(&node.path))?;
    let tree = m::clone_tree_at(&node.path, false).map_err(err(what("bind from host")))?;
    m::attach(tree.as_fd(), target.as_fd()).map_err(err(what("bind from host")))
}

fn check_existing(
    dir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    node: &Node,
    dev: libc::dev_t,
) -> Result<(), RootfsError> {
    if !node.configured {
        return Ok(());
    }
    let st = nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(err(format!("device {}: stat", node.path)))?;
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    let same_rdev = node.kind == SFlag::S_IFIFO || st.st_rdev == dev;
    if kind == node.kind && same_rdev {
        return Ok(());
    }
    Err(RootfsError::Unsafe(format!(
        "linux.devices: {} already exists in the container and is not the requested device",
        node.path
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_devices_override_defaults() {
        let d: LinuxDevice = serde_json::from_str(
            r#"{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":384,"uid":5,"gid":6}"#,
        )
        .expect("device");
        let fuse: LinuxDevice =
            serde_json::from_str(r#"{"path":"/dev/fuse","type":"c","major":10,"minor":229}"#)
                .expect("d");
        let n = nodes(&[d, fuse]);
        assert_eq!(n.len(), 7);
        let null = n.iter().find(|x| x.path == "/dev/null").expect("null");
        assert_eq!((null.mode, null.uid, null.gid), (0o600, 5, 6));
        assert!(
            n.iter().any(|x| x.path == "/dev/fuse"
                && x.major == 10
                && x.minor == 229
                && x.mode == 0o666)
        );
    }
}
