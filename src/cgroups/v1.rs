//! The cgroup v1 (cgroupfs) manager, for legacy and hybrid hosts. On hybrid
//! hosts the container is also placed in the unified hierarchy, as runc does.

use std::fs;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::{LinuxDevice, LinuxResources};

use super::fsutil;
use super::{CGROUP_ROOT, CgroupDir, CgroupError, CgroupRecord, Manager, Mode, Result, resolve};

/// A v1 hierarchy: the controller names it carries and its mount point.
#[derive(Debug, Clone)]
struct Hierarchy {
    controllers: Vec<String>,
    mount: PathBuf,
}

/// Lists the v1 hierarchies mounted under `/sys/fs/cgroup` (from
/// `/proc/self/mountinfo`), plus the unified one on hybrid hosts.
fn hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split_whitespace();
        let (fstype, _src, opts) = (r.next().unwrap_or(""), r.next(), r.next().unwrap_or(""));
        let mount = left.split_whitespace().nth(4).unwrap_or("");
        if !mount.starts_with(CGROUP_ROOT) {
            continue;
        }
        let controllers: Vec<String> = match fstype {
            "cgroup" => opts
                .split(',')
                .filter(|o| {
                    o.starts_with("name=")
                        || !(o.contains('=')
                            || matches!(
                                *o,
                                "rw" | "ro"
                                    | "xattr"
                                    | "noprefix"
                                    | "clone_children"
                                    | "cpuset_v2_mode"
                                    | "none"
                            ))
                })
                .map(str::to_string)
                .collect(),
            "cgroup2" => vec![String::new()],
            _ => continue,
        };
        out.push(Hierarchy {
            controllers,
            mount: PathBuf::from(mount),
        });
    }
    out
}

/// The v1 manager.
#[derive(Debug)]
pub struct V1 {
    path: String,
    mode: Mode,
    dirs: Vec<CgroupDir>,
    created_levels: usize,
}

impl V1 {
    pub fn new(inner: &str, mode: Mode) -> Result<Self> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(CgroupError::io(Path::new("/proc/self/mountinfo")))?;
        let mut dirs = Vec::new();
        for h in hierarchies(&mountinfo) {
            let key = h.controllers.first().cloned().unwrap_or_default();
            if key.is_empty() && mode != Mode::Hybrid {
                continue;
            }
            let base = fsutil::own_cgroup(&key).unwrap_or_else(|| "/".into());
            let path = resolve(inner, &base);
            let dir = h.mount.join(path.trim_start_matches('/'));
            dirs.push(CgroupDir {
                key,
                mount: h.mount,
                dir,
            });
        }
        let path = resolve(inner, "/");
        Ok(Self {
            path,
            mode,
            dirs,
            created_levels: 0,
        })
    }

    pub fn from_record(rec: &CgroupRecord) -> Self {
        Self {
            path: rec.path.clone(),
            mode: rec.mode,
            dirs: rec.dirs.clone(),
            created_levels: rec.created_levels,
        }
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.key == controller)
            .map(|d| d.dir.as_path())
    }

    /// A new cpuset cgroup starts with no CPUs or memory nodes; copy them
    /// from the parent, top-down, so processes can join.
    fn init_cpuset(&self, dir: &Path, levels: usize) -> Result<()> {
        let mut chain: Vec<PathBuf> = Vec::new();
        let mut cur = dir.to_path_buf();
        for _ in 0..levels {
            chain.push(cur.clone());
            if !cur.pop() {
                break;
            }
        }
        for d in chain.iter().rev() {
            let parent = d.parent().unwrap_or(d);
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if fsutil::read(d, file)?.is_empty() {
                    let v = fsutil::read(parent, file)?;
                    fsutil::write(d, file, &v)?;
                }
            }
        }
        Ok(())
    }
}

impl Manager for V1 {
    fn create(&mut self) -> Result<()> {
        let mut min_created = usize::MAX;
        for d in &self.dirs {
            let created = fsutil::create_dirs(&d.mount, &d.dir)?;
            min_created = min_created.min(created);
            if d.key == "cpuset" && created > 0 {
                self.init_cpuset(&d.dir, created)?;
            }
        }
        self.created_levels = if min_created == usize::MAX {
            0
        } else {
            min_created
        };
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources, devices: &[LinuxDevice]) -> Result<()> {
        for w in super::v1_writes(resources)? {
            let dir = self
                .dir(w.controller)
                .ok_or_else(|| CgroupError::NoController(w.controller.to_string()))?;
            fsutil::write(dir, &w.file, &w.value)?;
        }
        if let Some(rules) = resources.devices() {
            let dir = self
                .dir("devices")
                .ok_or_else(|| CgroupError::NoController("devices".into()))?;
            for r in super::devices::container_rules(rules, devices) {
                fsutil::write(
                    dir,
                    if r.allow {
                        "devices.allow"
                    } else {
                        "devices.deny"
                    },
                    &r.v1_line(),
                )?;
            }
        }
        Ok(())
    }

    fn clone_target(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    fn add(&self, pid: Pid) -> Result<()> {
        let pid = pid.to_string();
        for d in &self.dirs {
            fsutil::write(&d.dir, "cgroup.procs", &pid)?;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        // The pids or freezer hierarchy holds every process; fall back to any.
        let dir = self
            .dir("pids")
            .or_else(|| self.dir("freezer"))
            .or_else(|| self.dirs.first().map(|d| d.dir.as_path()));
        match dir {
            Some(d) => fsutil::procs(d),
            None => Ok(Vec::new()),
        }
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        let dir = self
            .dir("freezer")
            .ok_or_else(|| CgroupError::NoController("freezer".into()))?;
        let want = if frozen { "FROZEN" } else { "THAWED" };
        for _ in 0..1000 {
            fsutil::write(dir, "freezer.state", want)?;
            if fsutil::read(dir, "freezer.state")? == want {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(CgroupError::Busy {
            path: dir.to_path_buf(),
        })
    }

    fn is_frozen(&self) -> Result<bool> {
        match self.dir("freezer") {
            Some(d) => Ok(fsutil::read(d, "freezer.state")? != "THAWED"),
            None => Ok(false),
        }
    }

    fn destroy(&self) -> Result<()> {
        for _ in 0..100 {
            let pids = self.pids()?;
            if pids.is_empty() {
                break;
            }
            if self.is_frozen().unwrap_or(false) {
                self.freeze(false)?;
            }
            for p in pids {
                let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let mut first_err = None;
        for d in &self.dirs {
            if let Err(e) = fsutil::remove_dirs(&d.dir, self.created_levels) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn record(&self) -> CgroupRecord {
        CgroupRecord {
            mode: self.mode,
            path: self.path.clone(),
            dirs: self.dirs.clone(),
            created_levels: self.created_levels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hierarchies_from_mountinfo() {
        let mi = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                  33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                  40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
                  41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                  22 27 0:21 / /proc rw,relatime - proc proc rw\n";
        let h = hierarchies(mi);
        assert_eq!(h.len(), 4);
        assert_eq!(h[1].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(h[2].controllers, vec!["name=systemd"]);
        assert_eq!(h[3].controllers, vec![""]);
    }
}
