//! Cgroups of a rootless container on a cgroupfs (v1 or hybrid) host,
//! where the hierarchies usually belong to root: runc's rule. If berth
//! cannot create the cgroup for lack of permission, the container runs
//! without one — but only when nothing depends on it: no explicit
//! `linux.cgroupsPath` and no limits asked. Otherwise the error names what
//! cannot be honoured. Device rules are not enforced rootless (only root
//! can write them or load v2's device program; the container cannot
//! create device nodes anyway). A delegated cgroup (v2, a subtree the
//! user owns) is used like any other, limits included.

use std::io;
use std::os::fd::BorrowedFd;

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::{CgroupError, CgroupRecord, Manager, OomWatch, Result, SelfJoin, Stats};

/// A cgroup manager that may have given up its cgroup.
pub struct Rootless {
    inner: Box<dyn Manager>,
    /// `linux.cgroupsPath` was given: a failure to create it is an error.
    explicit: bool,
    /// The cgroup could not be created: the container has none.
    absent: bool,
}

impl Rootless {
    pub fn new(inner: Box<dyn Manager>, explicit: bool) -> Self {
        Self {
            inner,
            explicit,
            absent: false,
        }
    }
}

/// Whether `err` is a refusal of the user's rights (runc's
/// `isIgnorableError`: EPERM, EACCES, EROFS).
fn is_permission(err: &CgroupError) -> bool {
    let io = match err {
        CgroupError::Io { err, .. } | CgroupError::Write { err, .. } => err,
        _ => return false,
    };
    matches!(
        io.raw_os_error(),
        Some(libc::EPERM | libc::EACCES | libc::EROFS)
    ) || io.kind() == io::ErrorKind::PermissionDenied
}

/// Whether `err` comes from the devices controller.
fn is_devices(err: &CgroupError) -> bool {
    match err {
        CgroupError::Io { path, .. } | CgroupError::Write { path, .. } => path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("devices.")),
        CgroupError::NoController(c) => c == "devices",
        // Loading a BPF program needs CAP_BPF/CAP_SYS_ADMIN on the host
        // (v2's device rules): refused to an unprivileged user.
        CgroupError::DeviceProgram { .. } => true,
        _ => false,
    }
}

/// The first limit `r` asks for, as its config field (device rules aside:
/// they are not enforced rootless).
pub fn first_limit(r: &LinuxResources) -> Option<&'static str> {
    let set = [
        ("linux.resources.memory", r.memory().is_some()),
        ("linux.resources.cpu", r.cpu().is_some()),
        ("linux.resources.pids", r.pids().is_some()),
        ("linux.resources.blockIO", r.block_io().is_some()),
        (
            "linux.resources.hugepageLimits",
            r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()),
        ),
        ("linux.resources.network", r.network().is_some()),
        (
            "linux.resources.rdma",
            r.rdma().as_ref().is_some_and(|m| !m.is_empty()),
        ),
        (
            "linux.resources.unified",
            r.unified().as_ref().is_some_and(|m| !m.is_empty()),
        ),
    ];
    set.into_iter().find(|(_, on)| *on).map(|(f, _)| f)
}

impl Rootless {
    fn no_cgroup(field: &str) -> CgroupError {
        CgroupError::Unsupported {
            field: field.to_string(),
            msg: "cannot set the limit rootless: the container could not join or create \
                  its cgroup (the user may not write the cgroup hierarchy)"
                .into(),
        }
    }

    fn absent_err(&self, what: &str) -> CgroupError {
        CgroupError::Unsupported {
            field: what.to_string(),
            msg: "the container has no cgroup (rootless, the cgroup hierarchy is not writable \
                  by the user)"
                .into(),
        }
    }
}

impl Manager for Rootless {
    fn create(&mut self) -> Result<()> {
        match self.inner.create() {
            Err(e) if !self.explicit && is_permission(&e) => {
                self.absent = true;
                Ok(())
            }
            other => other,
        }
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        if self.absent {
            return match first_limit(resources) {
                Some(field) => Err(Self::no_cgroup(field)),
                None => Ok(()),
            };
        }
        match self.inner.apply(resources) {
            Err(e) if is_devices(&e) => Ok(()),
            other => other,
        }
    }

    fn update(&self, resources: &LinuxResources) -> Result<()> {
        if self.absent {
            return Err(match first_limit(resources) {
                Some(field) => Self::no_cgroup(field),
                None => self.absent_err("update"),
            });
        }
        self.inner.update(resources)
    }

    fn clone_target(&self) -> Option<BorrowedFd<'_>> {
        if self.absent {
            None
        } else {
            self.inner.clone_target()
        }
    }

    fn add(&self, pid: Pid) -> Result<()> {
        if self.absent {
            return Ok(());
        }
        self.inner.add(pid)
    }

    fn self_join(&self) -> Result<Option<SelfJoin>> {
        // With `clone_target`: on a hybrid host the two go together.
        if self.absent {
            Ok(None)
        } else {
            self.inner.self_join()
        }
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        if self.absent {
            return Ok(Vec::new());
        }
        self.inner.pids()
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        if self.absent {
            return Err(self.absent_err(if frozen { "pause" } else { "resume" }));
        }
        self.inner.freeze(frozen)
    }

    fn is_frozen(&self) -> Result<bool> {
        if self.absent {
            return Ok(false);
        }
        self.inner.is_frozen()
    }

    fn destroy(&self) -> Result<()> {
        if self.absent {
            return Ok(());
        }
        self.inner.destroy()
    }

    fn record(&self) -> CgroupRecord {
        self.inner.record()
    }

    fn present(&self) -> bool {
        !self.absent
    }

    fn stats(&self) -> Result<Stats> {
        if self.absent {
            return Err(self.absent_err("events"));
        }
        self.inner.stats()
    }

    fn oom_watch(&self) -> Result<OomWatch> {
        if self.absent {
            return Err(self.absent_err("events"));
        }
        self.inner.oom_watch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxMemoryBuilder, LinuxResourcesBuilder};
    use std::path::PathBuf;

    #[test]
    fn limits_are_named() {
        assert_eq!(first_limit(&LinuxResources::default()), None);
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(1 << 20)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert_eq!(first_limit(&r), Some("linux.resources.memory"));
    }

    #[test]
    fn permission_errors_are_recognised() {
        let e = |code| CgroupError::Io {
            path: PathBuf::from("/sys/fs/cgroup/memory/x"),
            err: io::Error::from_raw_os_error(code),
        };
        assert!(is_permission(&e(libc::EACCES)));
        assert!(is_permission(&e(libc::EROFS)));
        assert!(!is_permission(&e(libc::ENOENT)));
        let d = CgroupError::Io {
            path: PathBuf::from("/sys/fs/cgroup/devices/x/devices.allow"),
            err: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert!(is_devices(&d));
        assert!(!is_devices(&e(libc::EPERM)));
    }
}
