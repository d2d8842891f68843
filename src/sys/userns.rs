//! A user namespace carrying given id mappings, for idmapped mounts
//! (`mount_setattr(MOUNT_ATTR_IDMAP)` takes the mapping from a user
//! namespace descriptor).

use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::clone::{CloneRequest, Forked, clone3};
use super::{Errno, Result};

/// Creates a user namespace whose `uid_map` and `gid_map` are the given
/// texts (in `/proc/<pid>/uid_map` format) and returns a descriptor of it.
///
/// A short-lived child is cloned into a new user namespace; it only waits
/// on a pipe and exits, so the caller may be multi-threaded. The namespace
/// outlives the child through the returned descriptor.
pub fn with_maps(uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let pid = match clone3(&CloneRequest {
        namespaces: CloneFlags::CLONE_NEWUSER,
        ..CloneRequest::default()
    })? {
        Forked::Child => {
            // Only async-signal-safe calls here: drop our copy of the write
            // end, block until the parent closes its own, exit.
            // SAFETY: `w` is a descriptor this process owns; it is not used
            // again (the process exits below without unwinding).
            unsafe { libc::close(w.as_raw_fd()) };
            let mut b = [0u8; 1];
            // SAFETY: `b` is a valid one-byte buffer.
            unsafe { libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            // SAFETY: _exit never returns and runs no destructors.
            unsafe { libc::_exit(0) }
        }
        Forked::Parent { pid, .. } => pid,
    };
    drop(r);
    let result = write_maps_and_open(pid, uid_map, gid_map);
    drop(w);
    let _ = nix::sys::wait::waitpid(pid, None);
    result
}

fn write_maps_and_open(pid: Pid, uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let io = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    std::fs::write(format!("/proc/{pid}/uid_map"), uid_map).map_err(io)?;
    std::fs::write(format!("/proc/{pid}/gid_map"), gid_map).map_err(io)?;
    nix::fcntl::open(
        format!("/proc/{pid}/ns/user").as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}
