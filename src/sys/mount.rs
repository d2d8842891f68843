//! The new mount API (`open_tree`, `move_mount`, `mount_setattr`, `fsopen`,
//! `fsconfig`, `fsmount`).
//!
//! Every mount berth makes is attached with [`move_mount`] onto a descriptor
//! that was resolved inside the container's root beforehand, so a symlink
//! swapped in during set-up cannot redirect it (CVE-2021-30465 class). No
//! path under `/proc/self/fd` is needed, which also works after `pivot_root`
//! when the container has no `/proc`.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{Errno, Result, check};

/// Attributes for [`set_attr`]: bits to set and clear (`MOUNT_ATTR_*`),
/// propagation (`MS_SHARED`...) and an optional user namespace for an
/// idmapped mount.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub set: u64,
    pub clear: u64,
    pub propagation: u64,
    pub userns: Option<libc::c_int>,
}

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Errno::EINVAL)
}

fn owned(ret: libc::c_long) -> Result<OwnedFd> {
    let fd = check(ret)?;
    // SAFETY: the syscall returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Clones the mount (tree, if `recursive`) at `dir`/`path` into a detached
/// mount ready to be attached elsewhere. An empty `path` means `dir` itself.
pub fn clone_tree(dir: BorrowedFd<'_>, path: &CStr, recursive: bool) -> Result<OwnedFd> {
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH as libc::c_uint;
    }
    // SAFETY: `path` is NUL-terminated and outlives the call.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, dir.as_raw_fd(), path.as_ptr(), flags) })
}

/// Clones the mount tree at a host path given as a string.
pub fn clone_tree_at(path: &str, recursive: bool) -> Result<OwnedFd> {
    let c = cstr(path)?;
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `c` is NUL-terminated and outlives the call.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) })
}

/// Changes the attributes of the mount `fd` refers to (and of every mount
/// below it if `recursive`).
pub fn set_attr(fd: BorrowedFd<'_>, recursive: bool, attr: Attr) -> Result<()> {
    // SAFETY: mount_attr is a plain C struct; zero means "no change".
    let mut a: libc::mount_attr = unsafe { std::mem::zeroed() };
    a.attr_set = attr.set;
    a.attr_clr = attr.clear;
    a.propagation = attr.propagation;
    if let Some(ns) = attr.userns {
        a.userns_fd = ns as u64;
    }
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let empty = c"";
    // SAFETY: all pointers are valid for the call; the size matches the struct.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            flags,
            &mut a as *mut libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })
    .map(drop)
}

/// Attaches the detached mount `mnt` on top of the file or directory `target`.
pub fn attach(mnt: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<()> {
    let empty = c"";
    // SAFETY: both descriptors are valid; empty paths with the EMPTY_PATH flags.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// A filesystem context being configured (`fsopen`).
#[derive(Debug)]
pub struct FsContext {
    fd: OwnedFd,
}

impl FsContext {
    /// Opens a context for filesystem type `fstype` (`"proc"`, `"tmpfs"`...).
    pub fn open(fstype: &str) -> Result<Self> {
        let c = cstr(fstype)?;
        // SAFETY: `c` is NUL-terminated.
        let fd =
            owned(unsafe { libc::syscall(libc::SYS_fsopen, c.as_ptr(), libc::FSOPEN_CLOEXEC) })?;
        Ok(Self { fd })
    }

    fn config(&self, cmd: libc::c_uint, key: Option<&CStr>, value: Option<&CStr>) -> Result<()> {
        let k = key.map_or(std::ptr::null(), CStr::as_ptr);
        let v = value.map_or(std::ptr::null(), CStr::as_ptr);
        // SAFETY: pointers are NUL-terminated strings or NULL, as the command requires.
        check(unsafe { libc::syscall(libc::SYS_fsconfig, self.fd.as_raw_fd(), cmd, k, v, 0) })
            .map(drop)
    }

    /// Sets `key=value`.
    pub fn set_string(&self, key: &str, value: &str) -> Result<()> {
        self.config(
            libc::FSCONFIG_SET_STRING,
            Some(&cstr(key)?),
            Some(&cstr(value)?),
        )
    }

    /// Sets a flag option such as `newinstance`.
    pub fn set_flag(&self, key: &str) -> Result<()> {
        self.config(libc::FSCONFIG_SET_FLAG, Some(&cstr(key)?), None)
    }

    /// Creates the superblock and returns a detached mount of it with the
    /// given `MOUNT_ATTR_*` bits.
    pub fn mount(&self, attr: u64) -> Result<OwnedFd> {
        self.config(libc::FSCONFIG_CMD_CREATE, None, None)?;
        // SAFETY: plain integer arguments.
        owned(unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.fd.as_raw_fd(),
                libc::FSMOUNT_CLOEXEC,
                attr as libc::c_uint,
            )
        })
    }

    /// The kernel's explanation of the last failure, if it left one.
    pub fn last_message(&self) -> Option<String> {
        let mut buf = [0u8; 512];
        let n = nix::unistd::read(&self.fd, &mut buf).ok()?;
        let msg = String::from_utf8_lossy(&buf[..n]).trim().to_string();
        // Messages are prefixed with "e ", "w " or "i ".
        Some(msg.get(2..).unwrap_or(&msg).to_string()).filter(|m| !m.is_empty())
    }
}

/// Detaches the mount at `path` relative to the current directory
/// (`umount2(MNT_DETACH)`), used for the old root after `pivot_root`.
pub fn detach(path: &CStr) -> Result<()> {
    // SAFETY: NUL-terminated path.
    check(unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } as libc::c_long).map(drop)
}
