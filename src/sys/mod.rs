//! The only place in berth that talks to the kernel through `unsafe` code.
//!
//! Everything here is a thin, typed wrapper over one system call (or a short
//! fixed sequence of them). Callers get `OwnedFd`/`BorrowedFd` and typed flags,
//! never raw integers, and errors as [`nix::errno::Errno`]; each caller adds
//! the path or field the failure concerns. Safe calls that `nix` already wraps
//! are used directly by the rest of the crate; this module holds what `nix`
//! does not cover (clone3, the new mount API, pidfds, seccomp loading, ...).
#![allow(unsafe_code)]

pub mod bpf;
pub mod clone;
pub mod fd;
pub mod mem;
pub mod mount;
pub mod process;
pub mod seccomp;
pub mod tty;
pub mod userns;
pub mod wait;

pub use nix::errno::Errno;

/// Result of a system call wrapper.
pub type Result<T> = std::result::Result<T, Errno>;

/// Converts a `-1`-on-error return value into a `Result`.
fn check(ret: libc::c_long) -> Result<libc::c_long> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}
