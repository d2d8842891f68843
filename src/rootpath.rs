//! Path handling inside a container's root filesystem that cannot be
//! redirected out of it: every lookup is `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` relative to a descriptor of the root, and every
//! component berth creates is created relative to a descriptor of its
//! parent. A symlink in the image (even one swapped in during set-up) can
//! only point somewhere else *inside* the root (CVE-2021-30465,
//! CVE-2024-45310 classes).

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, SFlag};

/// Failures, carrying the container path involved.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct PathError {
    pub path: String,
    pub source: Errno,
}

fn err(path: &Path) -> impl FnOnce(Errno) -> PathError + '_ {
    move |source| PathError {
        path: path.display().to_string(),
        source,
    }
}

const RESOLVE: ResolveFlag = ResolveFlag::RESOLVE_IN_ROOT.union(ResolveFlag::RESOLVE_NO_MAGICLINKS);

/// Opens `path` (absolute or relative, always taken inside `root`).
pub fn open(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(RESOLVE);
    loop {
        match openat2(root, rel, how) {
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// Opens an existing path as an `O_PATH` descriptor.
pub fn open_path(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, PathError> {
    open(root, path, OFlag::O_PATH).map_err(err(path))
}

/// Creates the directory `path` and any missing parents inside `root`, and
/// returns an `O_PATH` descriptor of it. A dangling symlink on the way is
/// followed by hand, inside the root, as `mkdir -p` would follow it.
pub fn mkdir_all(root: BorrowedFd<'_>, path: &Path, mode: u32) -> Result<OwnedFd, PathError> {
    let mut target = clean(path);
    for _ in 0..40 {
        match open(root, &target, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(err(path)(e)),
        }
        // Usually only the last component is missing.
        if let Some(fd) = create_last(root, &target, mode) {
            return Ok(fd);
        }
        match create_missing(root, &target, mode).map_err(err(path))? {
            Walk::Done(fd) => return Ok(fd),
            Walk::Redirect(next) => target = clean(&next),
        }
    }
    Err(err(path)(Errno::ELOOP))
}

/// Creates the last component of `target` when its parent exists (and is
/// reached inside the root); `None` sends the caller to the full walk.
fn create_last(root: BorrowedFd<'_>, target: &Path, mode: u32) -> Option<OwnedFd> {
    let name = target.file_name()?;
    let parent = open(root, target.parent()?, OFlag::O_RDONLY | OFlag::O_DIRECTORY).ok()?;
    match nix::sys::stat::mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(mode)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(_) => return None,
    }
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    openat2(parent.as_fd(), name, how).ok()
}

enum Walk {
    Done(OwnedFd),
    /// A component was a symlink: continue with this path instead.
    Redirect(PathBuf),
}

/// Finds the deepest existing ancestor of `target`, then creates the rest
/// one component at a time relative to the previous descriptor.
fn create_missing(root: BorrowedFd<'_>, target: &Path, mode: u32) -> Result<Walk, Errno> {
    let comps: Vec<&OsStr> = target
        .components()
        .filter_map(|c| {
            if let Component::Normal(n) = c {
                Some(n)
            } else {
                None
            }
        })
        .collect();
    let mut cur = open(root, Path::new("/"), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    let mut existing = 0;
    for i in 0..comps.len() {
        let prefix: PathBuf = comps[..=i].iter().collect();
        match open(root, &prefix, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(fd) => {
                cur = fd;
                existing = i + 1;
            }
            Err(Errno::ENOENT) => break,
            Err(e) => return Err(e),
        }
    }
    for (i, name) in comps.iter().enumerate().skip(existing) {
        let dir = reopen_dir(cur.as_fd())?;
        match nix::sys::stat::mkdirat(dir.as_fd(), *name, Mode::from_bits_truncate(mode)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        // Open what is there now without following any symlink.
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
        match openat2(cur.as_fd(), *name, how) {
            Ok(fd) => cur = fd,
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                // A dangling symlink: rewrite the path through it.
                let link =
                    nix::fcntl::readlinkat(dir.as_fd(), *name).map_err(|_| Errno::ENOTDIR)?;
                let base: PathBuf = comps[..i].iter().collect();
                let mut next = if Path::new(&link).is_absolute() {
                    PathBuf::from(&link)
                } else {
                    Path::new("/").join(base).join(&link)
                };
                next.extend(&comps[i + 1..]);
                return Ok(Walk::Redirect(next));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Walk::Done(cur))
}

/// Lexically cleans a path into an absolute one: removes `.`, resolves
/// `..` without leaving `/`, and drops repeated and trailing slashes. (A
/// relative path is taken from `/`.)
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Creates an empty regular file at `path` (and its parent directories) if
/// nothing is there, and returns an `O_PATH` descriptor of what is there.
pub fn touch(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, PathError> {
    match open(root, path, OFlag::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(err(path)(e)),
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().ok_or_else(|| err(path)(Errno::EINVAL))?;
    let dir = mkdir_all(root, parent, 0o755)?;
    let dir = reopen_dir(dir.as_fd()).map_err(err(path))?;
    match nix::fcntl::openat(
        dir.as_fd(),
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(err(path)(e)),
    }
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    openat2(dir.as_fd(), name, how).map_err(err(path))
}

/// Turns an `O_PATH` directory descriptor into one usable with `*at` calls
/// that create entries.
pub fn reopen_dir(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new().flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC);
    openat2(fd, ".", how)
}

/// Whether the descriptor refers to a directory.
pub fn is_dir(fd: BorrowedFd<'_>) -> bool {
    nix::sys::stat::fstat(fd)
        .is_ok_and(|s| SFlag::from_bits_truncate(s.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clean_paths() {
        assert_eq!(clean(Path::new("/a/./b/../c//d/")), Path::new("/a/c/d"));
        assert_eq!(clean(Path::new("/../../etc")), Path::new("/etc"));
        assert_eq!(clean(Path::new("a/../../b")), Path::new("/b"));
    }

    fn root_fd(p: &Path) -> OwnedFd {
        nix::fcntl::open(
            p,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .expect("open root")
    }

    #[test]
    fn symlinks_cannot_leave_the_root() {
        let outside = tempfile::tempdir().expect("tmp");
        let root = tempfile::tempdir().expect("tmp");
        symlink(outside.path(), root.path().join("escape")).expect("symlink");
        symlink("/../../..", root.path().join("up")).expect("symlink");
        let r = root_fd(root.path());
        // The absolute symlink target is re-rooted: it names a path inside.
        mkdir_all(r.as_fd(), Path::new("/escape/sub"), 0o755).expect("mkdir");
        assert!(
            root.path()
                .join(outside.path().strip_prefix("/").expect("abs"))
                .join("sub")
                .is_dir()
        );
        assert!(!outside.path().join("sub").exists());
        let up = open_path(r.as_fd(), Path::new("/up")).expect("open");
        let st = nix::sys::stat::fstat(up.as_fd()).expect("stat");
        let rs = nix::sys::stat::stat(root.path()).expect("stat");
        assert_eq!((st.st_dev, st.st_ino), (rs.st_dev, rs.st_ino));
    }

    #[test]
    fn touch_creates_parents_and_file() {
        let root = tempfile::tempdir().expect("tmp");
        let r = root_fd(root.path());
        touch(r.as_fd(), Path::new("/a/b/file")).expect("touch");
        assert!(root.path().join("a/b/file").is_file());
        touch(r.as_fd(), Path::new("/a/b/file")).expect("idempotent");
    }

    #[test]
    fn magic_links_are_refused() {
        let root = tempfile::tempdir().expect("tmp");
        symlink("/proc/self/root", root.path().join("pr")).expect("symlink");
        let r = root_fd(root.path());
        // Inside the root, /proc does not exist, so this cannot reach the
        // host's procfs either.
        assert!(open_path(r.as_fd(), Path::new("/pr/etc")).is_err());
    }
}
