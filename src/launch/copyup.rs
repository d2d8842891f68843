//! `tmpcopyup`: before a tmpfs is attached over a directory of the image,
//! the directory's contents are copied into it (files, directories,
//! symlinks and special files, with modes, owners and modification times).
//! Every lookup is relative to a descriptor, with `O_NOFOLLOW`, so nothing
//! in the image can redirect the copy.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

/// A failed copy step and the entry it concerned.
#[derive(Debug, thiserror::Error)]
#[error("tmpcopyup {path}: {what}: {source}")]
pub struct CopyError {
    pub path: String,
    pub what: &'static str,
    pub source: Errno,
}

type Result<T> = std::result::Result<T, CopyError>;

/// Copies the contents of directory `src` (any descriptor of it) into the
/// directory `dst` (e.g. the root of a detached tmpfs). `path` names `src`
/// in messages.
pub fn copy_dir(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, path: &str) -> Result<()> {
    let fail = |what| {
        move |source| CopyError {
            path: path.to_string(),
            what,
            source,
        }
    };
    let dir = crate::rootpath::reopen_dir(src).map_err(fail("open"))?;
    let mut listing = nix::dir::Dir::from_fd(dir).map_err(fail("read"))?;
    let names: Vec<Vec<u8>> = listing
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_bytes().to_vec())
        .filter(|n| n.as_slice() != b"." && n.as_slice() != b"..")
        .collect();
    let src_dir = listing.as_fd();
    for name in names {
        let name = OsStr::from_bytes(&name);
        let child = format!("{path}/{}", name.to_string_lossy());
        copy_entry(src_dir, dst, name, &child)?;
    }
    Ok(())
}

fn copy_entry(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, name: &OsStr, path: &str) -> Result<()> {
    let fail = |what| {
        move |source| CopyError {
            path: path.to_string(),
            what,
            source,
        }
    };
    let st =
        nix::sys::stat::fstatat(src, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(fail("stat"))?;
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
    match kind {
        SFlag::S_IFDIR => {
            nix::sys::stat::mkdirat(dst, name, perm).map_err(fail("mkdir"))?;
            let from = open_at(src, name, OFlag::O_DIRECTORY).map_err(fail("open"))?;
            let to = open_at(dst, name, OFlag::O_DIRECTORY).map_err(fail("open copy"))?;
            copy_dir(from.as_fd(), to.as_fd(), path)?;
        }
        SFlag::S_IFREG => {
            let from = open_at(src, name, OFlag::O_RDONLY).map_err(fail("open"))?;
            let to = nix::fcntl::openat(
                dst,
                name,
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                perm,
            )
            .map_err(fail("create"))?;
            let mut r = std::fs::File::from(from);
            let mut w = std::fs::File::from(to);
            std::io::copy(&mut r, &mut w)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
                .map_err(fail("copy"))?;
        }
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(src, name).map_err(fail("readlink"))?;
            nix::unistd::symlinkat(target.as_os_str(), dst, name).map_err(fail("symlink"))?;
        }
        _ => {
            nix::sys::stat::mknodat(dst, name, kind, perm, st.st_rdev).map_err(fail("mknod"))?;
        }
    }
    finish(dst, name, &st, kind).map_err(fail("set owner, mode and times"))
}

fn open_at(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlag) -> std::result::Result<OwnedFd, Errno> {
    nix::fcntl::openat(
        dir,
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Owner, exact mode (the umask applied at creation) and times of a copy.
fn finish(
    dst: BorrowedFd<'_>,
    name: &OsStr,
    st: &FileStat,
    kind: SFlag,
) -> std::result::Result<(), Errno> {
    let nofollow = AtFlags::AT_SYMLINK_NOFOLLOW;
    nix::unistd::fchownat(
        dst,
        name,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        nofollow,
    )?;
    if kind != SFlag::S_IFLNK {
        nix::sys::stat::fchmodat(
            dst,
            name,
            Mode::from_bits_truncate(st.st_mode & 0o7777),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )?;
    }
    let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
    let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    nix::sys::stat::utimensat(
        dst,
        name,
        &atime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
}
