//! File-descriptor plumbing: close-on-exec sweeps, stdio redirection and
//! passing descriptors over Unix sockets.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

use super::{Errno, Result, check};

/// Marks every descriptor from `first` upwards close-on-exec.
pub fn cloexec_from(first: RawFd) -> Result<()> {
    // SAFETY: close_range only changes descriptor flags; no memory is passed.
    let ranged = check(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    });
    if ranged.is_err() {
        // close_range may be refused (an old kernel, or a seccomp profile
        // that predates it): one fcntl per possible descriptor instead.
        for fd in first..fd_limit() {
            // SAFETY: fcntl(F_SETFD) on a number; EBADF for unused ones.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
    Ok(())
}

/// One past the highest descriptor number the fallback sweeps visit. A
/// descriptor opened before the soft limit was lowered (the container's
/// rlimits are applied before the last sweep) can lie above it, so the
/// sweep goes to the hard limit, and at least to 1024.
fn fd_limit() -> RawFd {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1 << 16, |(soft, hard)| {
            soft.max(hard).clamp(1024, 1 << 20) as RawFd
        })
}

/// Closes every descriptor from `first` upwards.
///
/// Only for a process about to exec: descriptors owned by `OwnedFd` values
/// that are still alive become dangling, so the caller must not use any of
/// them afterwards.
pub fn close_from(first: RawFd) -> Result<()> {
    // SAFETY: as above; the documented contract covers the ownership issue.
    let ranged = check(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0,
        )
    });
    if ranged.is_err() {
        // As in `cloexec_from`: close them one by one.
        for fd in first..fd_limit() {
            // SAFETY: covered by this function's contract; EBADF for unused.
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
}

/// Closes every descriptor from `first` upwards except those in `keep`
/// (which must be close-on-exec, so they still go at `execve`).
///
/// The same contract as [`close_from`] applies to the closed ones.
pub fn close_from_except(first: RawFd, keep: &[RawFd]) -> Result<()> {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|k| *k >= first).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut lo = first;
    for k in keep {
        if k > lo {
            close_range(lo, k - 1)?;
        }
        lo = k + 1;
    }
    close_range(lo, RawFd::MAX)
}

fn close_range(lo: RawFd, hi: RawFd) -> Result<()> {
    // SAFETY: as for `close_from`; the caller's contract covers ownership.
    let ranged = check(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            lo as libc::c_uint,
            hi as libc::c_uint,
            0,
        )
    });
    if ranged.is_err() {
        // As in `close_from` (a seccomp filter loaded before the user
        // switch may refuse close_range): one by one.
        for fd in lo..=hi.min(fd_limit() - 1) {
            // SAFETY: covered by the caller's contract; EBADF for unused.
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
}

/// Clears `FD_CLOEXEC` on a descriptor the caller asked to pass into the
/// container (stdio, `--preserve-fds`, `LISTEN_FDS`).
pub fn keep_across_exec(fd: RawFd) -> Result<()> {
    // SAFETY: fcntl(F_SETFD) on a descriptor number; an invalid one yields EBADF.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } as libc::c_long).map(drop)
}

/// Sets the SELinux label (`security.selinux`) of the directory `dir`
/// refers to (an `O_PATH` descriptor, such as a new mount's root), as runc
/// labels the mqueue mount, which takes no `context=` option. The directory
/// is reopened for reading first: `fsetxattr` refuses `O_PATH` descriptors.
pub fn set_selinux_label(dir: BorrowedFd<'_>, label: &str) -> Result<()> {
    let fd = nix::fcntl::openat(
        dir,
        c".",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    loop {
        // SAFETY: a valid descriptor, a NUL-terminated name and a buffer of
        // the given length, only read by the kernel.
        let r = unsafe {
            libc::fsetxattr(
                fd.as_raw_fd(),
                c"security.selinux".as_ptr(),
                label.as_ptr().cast(),
                label.len(),
                0,
            )
        };
        match check(r as libc::c_long) {
            Err(Errno::EINTR) => continue,
            other => return other.map(drop),
        }
    }
}

/// Whether a descriptor number is open in this process.
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD has no side effects.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Duplicates `src` onto the standard descriptor `target` (0, 1 or 2).
pub fn dup_onto_stdio(src: BorrowedFd<'_>, target: RawFd) -> Result<()> {
    if !(0..=2).contains(&target) {
        return Err(Errno::EBADF);
    }
    if src.as_raw_fd() == target {
        return keep_across_exec(target);
    }
    // SAFETY: dup3 onto a standard stream number, which stays owned by the
    // process as stdio (no OwnedFd refers to 0-2).
    check(unsafe { libc::dup3(src.as_raw_fd(), target, 0) } as libc::c_long).map(drop)
}

/// Borrows one of the standard descriptors.
pub fn stdio(fd: RawFd) -> BorrowedFd<'static> {
    debug_assert!((0..=2).contains(&fd));
    // SAFETY: descriptors 0-2 belong to the process for its whole life; when
    // one is closed, calls on it fail with EBADF rather than touching memory.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Takes ownership of an inherited descriptor number (for example one of the
/// `--preserve-fds` or a descriptor handed over by a test harness).
///
/// Returns `None` when the number is not open.
pub fn adopt(fd: RawFd) -> Option<OwnedFd> {
    if fd < 0 || !is_open(fd) {
        return None;
    }
    // SAFETY: the descriptor is open and, by the caller's contract, not owned
    // by anything else in this process.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `data` and exactly one descriptor over a Unix socket.
pub fn send_fd(sock: BorrowedFd<'_>, data: &[u8], fd: BorrowedFd<'_>) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(data)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None).map(drop)
}

/// Receives a message and at most one descriptor from a Unix socket.
///
/// Returns the number of data bytes and the descriptor, if one came.
pub fn recv_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>)> {
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut got: Option<OwnedFd> = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: SCM_RIGHTS installed these descriptors in our table
                // just now; nothing else owns them.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                if got.is_none() {
                    got = Some(owned);
                } // extra descriptors are dropped (closed) here
            }
        }
    }
    Ok((msg.bytes, got))
}
