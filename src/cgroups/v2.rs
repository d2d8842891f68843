//! The cgroup v2 manager for unified hosts.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::apply::{DirProbe, execute};
use super::devices::{Emulator, container_rules};
use super::resources::{Ctx, v2_writes};
use super::{CgroupDir, CgroupError, CgroupRecord, Manager, Mode, Result, resolve};
use super::{Stats, bpf, fsutil, oom, stats};

/// The v2 manager.
#[derive(Debug)]
pub struct V2 {
    root: PathBuf,
    path: String,
    dir: PathBuf,
    created_levels: usize,
    /// The directory opened for `CLONE_INTO_CGROUP`, once it exists and if
    /// the kernel supports it (Linux 5.7); otherwise processes are moved
    /// with `cgroup.procs`.
    handle: Option<File>,
}

impl V2 {
    /// `inner` is the config path; relative paths are resolved against the
    /// parent of berth's own cgroup, as runc does.
    pub fn new(inner: &str, root: &Path) -> Self {
        let path = if inner.starts_with('/') {
            resolve(inner, "/")
        } else {
            let own = fsutil::own_cgroup("").unwrap_or_else(|| "/".into());
            let parent = Path::new(&own)
                .parent()
                .map_or("/".to_string(), |p| p.to_string_lossy().into_owned());
            resolve(inner, &parent)
        };
        let dir = root.join(path.trim_start_matches('/'));
        Self {
            root: root.to_path_buf(),
            path,
            dir,
            created_levels: 0,
            handle: None,
        }
    }

    pub fn from_record(rec: &CgroupRecord) -> Self {
        let d = rec.dirs.first();
        let dir = d.map(|d| d.dir.clone()).unwrap_or_default();
        let root = d.map_or_else(|| PathBuf::from(super::CGROUP_ROOT), |d| d.mount.clone());
        // An existing cgroup can be a clone3 target too (for `exec`).
        let handle = clone_into_cgroup_supported()
            .then(|| open_dir(&dir).ok())
            .flatten();
        Self {
            root,
            path: rec.path.clone(),
            dir,
            created_levels: d.map_or(rec.created_levels, |d| d.created),
            handle,
        }
    }

    /// Enables every controller each level offers in its
    /// `cgroup.subtree_control`, from the root down to the leaf's parent,
    /// so the leaf can use them (runc: all at once, else one by one,
    /// ignoring those a level refuses).
    fn enable_controllers(&self) -> Result<()> {
        let rel = self.dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
        let mut cur = self.root.clone();
        for comp in rel.components() {
            let available = fsutil::read(&cur, "cgroup.controllers")?;
            let enabled = fsutil::read(&cur, "cgroup.subtree_control")?;
            let missing: Vec<String> = available
                .split_whitespace()
                .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
                .map(|c| format!("+{c}"))
                .collect();
            if !missing.is_empty()
                && fsutil::write(&cur, "cgroup.subtree_control", &missing.join(" ")).is_err()
            {
                for m in &missing {
                    let _ = fsutil::write(&cur, "cgroup.subtree_control", m);
                }
            }
            cur.push(comp);
        }
        Ok(())
    }

    fn set(&self, r: &LinuxResources, ctx: Ctx) -> Result<()> {
        let dir_of = |_: &str| Some(self.dir.clone());
        let controllers = fsutil::read(&self.dir, "cgroup.controllers").unwrap_or_default();
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        let writes = v2_writes(
            r,
            &DirProbe {
                dir_of: &dir_of,
                has: &has,
            },
            ctx,
        )?;
        execute(&writes, &dir_of)?;
        // Device rules: the defaults always apply at create; an update
        // changes them only when it names some.
        if !ctx.update || r.devices().is_some() {
            let rules = container_rules(r.devices().as_deref().unwrap_or(&[]))?;
            let emu = Emulator::from_rules(&rules)?;
            let fd = open_dir(&self.dir)?;
            bpf::install(fd.as_fd(), &self.dir, &emu)?;
        }
        Ok(())
    }

    /// Waits until `cgroup.events` shows `key value` (10 s at most).
    fn wait_event(&self, key: &str, value: &str) -> Result<bool> {
        let want = format!("{key} {value}");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut delay = Duration::from_millis(1);
        loop {
            match fsutil::read(&self.dir, "cgroup.events") {
                Ok(ev) if ev.lines().any(|l| l == want) => return Ok(true),
                Ok(_) => {}
                // The cgroup is gone: nothing is populated or frozen.
                Err(CgroupError::Io { err: source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    return Ok(value == "0");
                }
                Err(e) => return Err(e),
            }
            if Instant::now() > deadline {
                return Ok(false);
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(20));
        }
    }
}

impl Manager for V2 {
    fn create(&mut self) -> Result<()> {
        // mkdir first: only a directory that already existed can hold
        // processes (see `V1::create`).
        self.created_levels = fsutil::create_dirs(&self.root, &self.dir)?;
        if self.created_levels == 0 {
            let count = fsutil::procs(&self.dir)?.len();
            if count > 0 {
                return Err(CgroupError::NotEmpty {
                    path: self.dir.clone(),
                    count,
                });
            }
        }
        let rest = fsutil::refuse_frozen(&self.dir, false)
            .and_then(|()| self.enable_controllers())
            .and_then(|()| {
                if clone_into_cgroup_supported() {
                    self.handle = Some(open_dir(&self.dir)?);
                }
                Ok(())
            });
        if let Err(e) = rest {
            let _ = fsutil::remove_dirs(&self.dir, self.created_levels);
            return Err(e);
        }
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        self.set(resources, Ctx { update: false })
    }

    fn update(&self, resources: &LinuxResources) -> Result<()> {
        self.set(resources, Ctx { update: true })
    }

    fn clone_target(&self) -> Option<BorrowedFd<'_>> {
        self.handle.as_ref().map(|f| f.as_fd())
    }

    fn add(&self, pid: Pid) -> Result<()> {
        fsutil::write(&self.dir, "cgroup.procs", &pid.to_string())
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        fsutil::procs_recursive(&self.dir)
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        let v = if frozen { "1" } else { "0" };
        fsutil::write(&self.dir, "cgroup.freeze", v)?;
        if self.wait_event("frozen", v)? {
            return Ok(());
        }
        if frozen {
            // Never leave it half frozen.
            let _ = fsutil::write(&self.dir, "cgroup.freeze", "0");
        }
        Err(CgroupError::Freeze {
            path: self.dir.clone(),
            msg: format!("cgroup.events did not show \"frozen {v}\" within 10s"),
        })
    }

    fn is_frozen(&self) -> Result<bool> {
        Ok(fsutil::read(&self.dir, "cgroup.freeze").is_ok_and(|v| v == "1"))
    }

    fn destroy(&self) -> Result<()> {
        if !self.dir.exists() {
            return Ok(());
        }
        if fsutil::populated(&self.dir)? {
            if self.dir.join("cgroup.kill").exists() {
                fsutil::write(&self.dir, "cgroup.kill", "1")?;
            } else {
                // Before Linux 5.14: SIGKILL reaches frozen tasks on v2, so
                // signalling each process (repeatedly, for forks) is enough.
                for _ in 0..100 {
                    let pids = self.pids()?;
                    if pids.is_empty() {
                        break;
                    }
                    for p in pids {
                        let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            if !self.wait_event("populated", "0")? {
                return Err(CgroupError::Busy {
                    path: self.dir.clone(),
                });
            }
        }
        fsutil::remove_dirs(&self.dir, self.created_levels)
    }

    fn record(&self) -> CgroupRecord {
        CgroupRecord {
            mode: Mode::Unified,
            path: self.path.clone(),
            dirs: vec![CgroupDir {
                key: String::new(),
                mount: self.root.clone(),
                dir: self.dir.clone(),
                controllers: Vec::new(),
                created: self.created_levels,
            }],
            created_levels: self.created_levels,
            systemd_unit: None,
        }
    }

    fn stats(&self) -> Result<Stats> {
        stats::v2::read_stats(&self.dir)
    }

    fn oom_watch(&self) -> Result<oom::OomWatch> {
        oom::OomWatch::v2(&self.dir)
    }
}

/// Opens a cgroup directory (for `CLONE_INTO_CGROUP` and BPF attachment).
pub(super) fn open_dir(dir: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(CgroupError::io(dir))
}

/// Whether the kernel has `CLONE_INTO_CGROUP` (Linux 5.7).
pub(super) fn clone_into_cgroup_supported() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|r| kernel_version(r.trim()))
        .is_some_and(|v| v >= (5, 7))
}

/// `major.minor` of a kernel release string such as `6.1.0-18-amd64`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("5.4.0"), Some((5, 4)));
        assert_eq!(kernel_version("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(kernel_version("x"), None);
        assert!((5, 4) < (5, 7) && (6, 1) >= (5, 7));
    }
}
