//! A verified handle on the host's procfs, for every write into `/proc`
//! made during set-up (sysctls, LSM exec labels).
//!
//! CVE-2019-16884 / CVE-2025-52881 class: once berth is in a mount
//! namespace the container controls — a joined one, or its own after the
//! config's mounts — the path `/proc/...` may lead to a tmpfs, or to another
//! procfs file bind-mounted over the intended one, and a write meant for
//! the container's sysctl lands somewhere else (`kernel.core_pattern`, say).
//! So the handle is opened before any namespace is joined, checked to be a
//! procfs, and files are opened beneath it without crossing a mount or
//! following a magic link. Per-namespace files (`sys/net/...`,
//! `sys/kernel/shm*`) still follow the writer's own namespaces, so the
//! values land in the container's.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::Mode;
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};

/// The host's `/proc`, opened while it is still the host's.
#[derive(Debug)]
pub struct HostProc(OwnedFd);

impl HostProc {
    /// Opens `/proc` and checks it is a procfs. Call before joining or
    /// creating a mount namespace.
    pub fn open() -> Result<Self, Errno> {
        let fd = nix::fcntl::open(
            "/proc",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        verify(&fd)?;
        Ok(Self(fd))
    }

    /// Opens `rel` (like `sys/kernel/shmmni` or `thread-self/attr/exec`)
    /// beneath the handle: no `..` out of it, no mount crossed (an
    /// over-mounted file is refused with `EXDEV`), no magic link followed.
    pub fn open_file(&self, rel: &str, flags: OFlag) -> Result<std::fs::File, Errno> {
        let how = OpenHow::new().flags(flags | OFlag::O_CLOEXEC).resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_XDEV
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
        let fd = loop {
            match openat2(self.0.as_fd(), rel, how) {
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                other => break other?,
            }
        };
        verify(&fd)?;
        Ok(std::fs::File::from(fd))
    }
}

/// Refuses a descriptor that is not on a procfs.
fn verify(fd: &OwnedFd) -> Result<(), Errno> {
    if fstatfs(fd)?.filesystem_type() == PROC_SUPER_MAGIC {
        Ok(())
    } else {
        Err(Errno::EXDEV)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_proc_files_beneath_the_handle_only() {
        let proc = HostProc::open().expect("/proc");
        let mut s = String::new();
        std::io::Read::read_to_string(
            &mut proc
                .open_file("sys/kernel/ostype", OFlag::O_RDONLY)
                .expect("ostype"),
            &mut s,
        )
        .expect("read");
        assert_eq!(s.trim(), "Linux");
        // thread-self is an ordinary symlink inside procfs: allowed.
        proc.open_file("thread-self/status", OFlag::O_RDONLY)
            .expect("thread-self");
        // Out of the handle, or through a magic link: refused.
        assert!(proc.open_file("../etc/passwd", OFlag::O_RDONLY).is_err());
        assert!(proc.open_file("self/cwd/x", OFlag::O_RDONLY).is_err());
    }

    #[test]
    fn a_directory_that_is_not_procfs_is_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let fd = nix::fcntl::open(
            tmp.path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .expect("open");
        assert_eq!(verify(&fd), Err(Errno::EXDEV));
    }
}
