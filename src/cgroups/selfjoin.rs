//! Joining a v1 cgroup from inside the new process.
//!
//! Writing a PID to `cgroup.procs` moves a whole thread group, so the
//! kernel takes its global threadgroup lock for writing, and that waits
//! for an RCU grace period whenever no other migration happened just
//! before (`rcu_sync_enter`): 15–40 ms on a loaded two-CPU VM, 0.2 ms
//! otherwise. Writing `0` to `tasks` moves only the calling thread, which
//! the kernel does without that lock (`cgroup_procs_write_start`: no
//! PID and not a thread group). The processes berth starts are
//! single-threaded, so moving the thread moves the process.
//!
//! berth opens the files before `clone3`; the child inherits them and
//! writes `0` to each before anything else. The kernel checks the
//! permission against the credentials that opened the file, so the child
//! may already be in a new user namespace.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::{CgroupDir, CgroupError, Result};

/// One opened `tasks` file.
#[derive(Debug)]
struct TasksFile {
    fd: OwnedFd,
    path: PathBuf,
    /// A failure is an error (runc joins `name=systemd` on a best-effort
    /// basis only).
    required: bool,
}

/// The `tasks` files of a container's v1 cgroup, opened by berth.
#[derive(Debug)]
pub struct SelfJoin {
    files: Vec<TasksFile>,
}

impl SelfJoin {
    /// Opens `tasks` in each of `dirs` (v1 hierarchies only).
    pub(super) fn open<'a>(dirs: impl IntoIterator<Item = &'a CgroupDir>) -> Result<Self> {
        let mut files = Vec::new();
        for d in dirs {
            let path = d.dir.join("tasks");
            let required = d.key != "name=systemd";
            match nix::fcntl::open(&path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()) {
                Ok(fd) => files.push(TasksFile { fd, path, required }),
                Err(_) if !required => {}
                Err(e) => {
                    return Err(CgroupError::Io {
                        path,
                        err: e.into(),
                    });
                }
            }
        }
        Ok(Self { files })
    }

    /// Moves the calling thread (the whole process: it must be
    /// single-threaded) into every hierarchy. Called in the child.
    pub fn join(&self) -> Result<()> {
        for f in &self.files {
            match nix::unistd::write(&f.fd, b"0") {
                Ok(_) => {}
                Err(_) if !f.required => {}
                Err(e) => {
                    return Err(CgroupError::Io {
                        path: f.path.clone(),
                        err: e.into(),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(key: &str, path: &std::path::Path) -> CgroupDir {
        CgroupDir {
            key: key.into(),
            mount: path.to_path_buf(),
            dir: path.to_path_buf(),
            controllers: vec![key.into()],
            created: 0,
        }
    }

    #[test]
    fn only_name_systemd_may_be_missing() {
        let t = tempfile::tempdir().unwrap();
        let (pids, systemd) = (t.path().join("pids"), t.path().join("systemd"));
        std::fs::create_dir(&pids).unwrap();
        std::fs::write(pids.join("tasks"), "").unwrap();
        let j = SelfJoin::open(&[dir("pids", &pids), dir("name=systemd", &systemd)]).unwrap();
        assert_eq!(j.files.len(), 1);
        j.join().unwrap();
        assert_eq!(std::fs::read_to_string(pids.join("tasks")).unwrap(), "0");

        let err = SelfJoin::open(&[dir("memory", &systemd)]).unwrap_err();
        assert!(err.to_string().contains("systemd/tasks"), "{err}");
    }
}
