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
