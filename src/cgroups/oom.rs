//! Watching a container's memory cgroup for OOM kills (`berth events`).
//!
//! v1: an eventfd registered on `memory.oom_control` through
//! `cgroup.event_control`; it also fires when the cgroup is removed.
//! v2: `memory.events` and `cgroup.events` polled for `POLLPRI` (kernfs
//! signals every change); an increase of `oom_kill` is an OOM event, and
//! `populated 0` means the container is gone.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::{EfdFlags, EventFd};

use super::{CgroupError, Result, fsutil};

/// What ended a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomWait {
    /// An OOM kill happened in the cgroup.
    Oom,
    /// The timeout passed.
    Timeout,
    /// The cgroup has no processes left, or is gone.
    Gone,
}

/// An OOM watch on one cgroup.
#[derive(Debug)]
pub struct OomWatch {
    dir: PathBuf,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    V1 {
        efd: EventFd,
        _oom_control: File,
    },
    V2 {
        memory_events: File,
        cgroup_events: File,
        oom_kills: u64,
    },
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(CgroupError::io(path))
}

/// Re-reads a kernfs file from the start (which also re-arms its poll).
fn reread(f: &mut File, path: &Path) -> Result<String> {
    let mut s = String::new();
    f.rewind()
        .and_then(|()| f.read_to_string(&mut s))
        .map_err(CgroupError::io(path))?;
    Ok(s)
}

fn value_of(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn sys_err(dir: &Path, what: &str, e: nix::errno::Errno) -> CgroupError {
    CgroupError::Io {
        path: dir.to_path_buf(),
        err: std::io::Error::other(format!("{what}: {e}")),
    }
}

fn timeout_of(d: Duration) -> PollTimeout {
    PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX)
}

impl OomWatch {
    /// Watches the v1 memory cgroup at `dir`.
    pub fn v1(dir: &Path) -> Result<Self> {
        let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC)
            .map_err(|e| sys_err(dir, "eventfd", e))?;
        let oom_control = open(&dir.join("memory.oom_control"))?;
        let line = format!("{} {}", efd.as_fd().as_raw_fd(), oom_control.as_raw_fd());
        fsutil::write(dir, "cgroup.event_control", &line)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            kind: Kind::V1 {
                efd,
                _oom_control: oom_control,
            },
        })
    }

    /// Watches the v2 cgroup at `dir`.
    pub fn v2(dir: &Path) -> Result<Self> {
        let mpath = dir.join("memory.events");
        let mut memory_events = open(&mpath)?;
        let cgroup_events = open(&dir.join("cgroup.events"))?;
        let oom_kills = value_of(&reread(&mut memory_events, &mpath)?, "oom_kill").unwrap_or(0);
        Ok(Self {
            dir: dir.to_path_buf(),
            kind: Kind::V2 {
                memory_events,
                cgroup_events,
                oom_kills,
            },
        })
    }

    /// Waits up to `timeout` for an OOM kill or the end of the cgroup.
    pub fn wait(&mut self, timeout: Duration) -> Result<OomWait> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match &mut self.kind {
                Kind::V1 { efd, .. } => {
                    let mut fds = [PollFd::new(efd.as_fd(), PollFlags::POLLIN)];
                    match poll(&mut fds, timeout_of(left)) {
                        Ok(0) => return Ok(OomWait::Timeout),
                        Ok(_) => {}
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(e) => return Err(sys_err(&self.dir, "poll", e)),
                    }
                    efd.read()
                        .map_err(|e| sys_err(&self.dir, "read eventfd", e))?;
                    // The eventfd also fires when the cgroup is removed.
                    if !self.dir.join("cgroup.event_control").exists() {
                        return Ok(OomWait::Gone);
                    }
                    return Ok(OomWait::Oom);
                }
                Kind::V2 {
                    memory_events,
                    cgroup_events,
                    oom_kills,
                } => {
                    let pri = PollFlags::POLLPRI;
                    let mut fds = [
                        PollFd::new(memory_events.as_fd(), pri),
                        PollFd::new(cgroup_events.as_fd(), pri),
                    ];
                    match poll(&mut fds, timeout_of(left)) {
                        Ok(0) => return Ok(OomWait::Timeout),
                        Ok(_) => {}
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(e) => return Err(sys_err(&self.dir, "poll", e)),
                    }
                    let mpath = self.dir.join("memory.events");
                    let kills = value_of(&reread(memory_events, &mpath)?, "oom_kill").unwrap_or(0);
                    let cpath = self.dir.join("cgroup.events");
                    let populated = value_of(&reread(cgroup_events, &cpath)?, "populated");
                    if kills > *oom_kills {
                        *oom_kills = kills;
                        return Ok(OomWait::Oom);
                    }
                    if populated == Some(0) {
                        return Ok(OomWait::Gone);
                    }
                    if left.is_zero() {
                        return Ok(OomWait::Timeout);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_values() {
        let c = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n";
        assert_eq!(value_of(c, "oom_kill"), Some(1));
        assert_eq!(value_of(c, "oom"), Some(1));
        assert_eq!(value_of(c, "nope"), None);
    }
}
