//! Loading a compiled seccomp filter with `seccomp(2)`.
//!
//! berth compiles filters with libseccomp but loads the BPF itself, so it can
//! pass any filter flag the kernel knows (libseccomp 2.5 cannot set
//! `WAIT_KILLABLE_RECV`) and receive the user-notification descriptor.

use std::os::fd::{FromRawFd, OwnedFd};

use super::{Result, check};

/// A classic-BPF program: a sequence of 8-byte `sock_filter` instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    insns: Vec<libc::sock_filter>,
}

impl Program {
    /// Parses the raw bytes libseccomp exports (native-endian `sock_filter`s).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(8) {
            return None;
        }
        let insns = bytes
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Some(Self { insns })
    }

    /// The program with `prefix` in front: `prefix` falls through to the
    /// first instruction of `self` (the seccomp ENOSYS stub).
    pub fn with_prefix(mut self, mut prefix: Vec<libc::sock_filter>) -> Self {
        if !prefix.is_empty() {
            prefix.append(&mut self.insns);
            self.insns = prefix;
        }
        self
    }

    /// The instructions.
    pub fn insns(&self) -> &[libc::sock_filter] {
        &self.insns
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Whether the program is empty.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }
}

/// Installs `prog` for the calling thread with `SECCOMP_FILTER_FLAG_*`
/// `flags`. Returns the notification descriptor when `flags` include
/// `NEW_LISTENER`.
pub fn load(prog: &Program, flags: libc::c_ulong) -> Result<Option<OwnedFd>> {
    let fprog = libc::sock_fprog {
        len: prog.insns.len() as libc::c_ushort,
        filter: prog.insns.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `prog`'s instructions, alive for the call.
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const libc::sock_fprog,
        )
    })?;
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the kernel returns a new descriptor.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) }));
    }
    Ok(None)
}

/// One notification from a seccomp listener: a process stopped in a
/// system call, waiting for the supervisor's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    pub id: u64,
    pub pid: u32,
    /// The system call number (of `arch`).
    pub nr: i32,
    pub arch: u32,
    pub args: [u64; 6],
}

/// How a supervisor answers a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The call returns `val` without running.
    Return(i64),
    /// The call fails with this errno without running.
    Fail(i32),
    /// The call runs as if there were no filter.
    Continue,
}

/// Waits for the next notification on `listener`
/// (`SECCOMP_IOCTL_NOTIF_RECV`).
pub fn receive(listener: std::os::fd::BorrowedFd<'_>) -> Result<Notification> {
    use std::os::fd::AsRawFd;
    // SAFETY: seccomp_notif is a plain C struct the kernel requires zeroed.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `n` is a valid, writable seccomp_notif for the ioctl.
        let r = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut n as *mut libc::seccomp_notif,
            )
        };
        match check(r as libc::c_long) {
            Err(super::Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
        args: n.data.args,
    })
}

/// Answers notification `id` (`SECCOMP_IOCTL_NOTIF_SEND`). Fails with
/// `ENOENT` when the call is no longer waiting (for example interrupted).
pub fn respond(listener: std::os::fd::BorrowedFd<'_>, id: u64, answer: Answer) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: seccomp_notif_resp is a plain C struct; zero is valid.
    let mut r: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
    r.id = id;
    match answer {
        Answer::Return(v) => r.val = v,
        Answer::Fail(e) => r.error = -e,
        Answer::Continue => r.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
    }
    // SAFETY: `r` is a valid seccomp_notif_resp for the ioctl.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut r as *mut libc::seccomp_notif_resp,
        )
    };
    check(ret as libc::c_long).map(drop)
}
