//! The cgroup v2 manager for unified hosts.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::{LinuxDevice, LinuxResources};

use super::fsutil;
use super::{CgroupDir, CgroupError, CgroupRecord, Manager, Mode, Result, resolve};

/// The v2 manager.
#[derive(Debug)]
pub struct V2 {
    root: PathBuf,
    path: String,
    dir: PathBuf,
    created_levels: usize,
    /// The directory opened for `CLONE_INTO_CGROUP`, once created.
    handle: Option<File>,
}

impl V2 {
    /// `inner` is the config path; relative paths are resolved against the
    /// parent of berth's own cgroup, as runc does.
    pub fn new(inner: &str, root: &Path, _unified: bool) -> Result<Self> {
        let own = fsutil::own_cgroup("").unwrap_or_else(|| "/".into());
        let parent = Path::new(&own)
            .parent()
            .map_or("/".to_string(), |p| p.to_string_lossy().into_owned());
        let path = resolve(inner, &parent);
        let dir = root.join(path.trim_start_matches('/'));
        Ok(Self {
            root: root.to_path_buf(),
            path,
            dir,
            created_levels: 0,
            handle: None,
        })
    }

    pub fn from_record(rec: &CgroupRecord) -> Self {
        let dir = rec.dirs.first().map(|d| d.dir.clone()).unwrap_or_default();
        let root = PathBuf::from(super::CGROUP_ROOT);
        // An existing cgroup can be a clone3 target too (for `exec`).
        let handle = open_dir(&dir).ok();
        Self {
            root,
            path: rec.path.clone(),
            dir,
            created_levels: rec.created_levels,
            handle,
        }
    }

    /// Enables every controller the parent offers in each level's parent
    /// `cgroup.subtree_control`, top-down, so the leaf can use them.
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
            if !missing.is_empty() {
                fsutil::write(&cur, "cgroup.subtree_control", &missing.join(" "))?;
            }
            cur.push(comp);
        }
        Ok(())
    }
}

impl Manager for V2 {
    fn create(&mut self) -> Result<()> {
        self.created_levels = fsutil::create_dirs(&self.root, &self.dir)?;
        self.enable_controllers()?;
        self.handle = Some(open_dir(&self.dir)?);
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources, devices: &[LinuxDevice]) -> Result<()> {
        for w in super::v2_writes(resources)? {
            fsutil::write(&self.dir, &w.file, &w.value)?;
        }
        let _ = devices;
        if resources.devices().as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.devices".into(),
                msg: "device rules on cgroup v2 are not supported yet".into(),
            });
        }
        Ok(())
    }

    fn clone_target(&self) -> Option<BorrowedFd<'_>> {
        self.handle.as_ref().map(|f| f.as_fd())
    }

    fn add(&self, pid: Pid) -> Result<()> {
        fsutil::write(&self.dir, "cgroup.procs", &pid.to_string())
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        fsutil::procs(&self.dir)
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        fsutil::write(&self.dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        for _ in 0..1000 {
            if fsutil::read(&self.dir, "cgroup.events")?
                .lines()
                .any(|l| l == want)
            {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(CgroupError::Busy {
            path: self.dir.clone(),
        })
    }

    fn is_frozen(&self) -> Result<bool> {
        Ok(fsutil::read(&self.dir, "cgroup.freeze").is_ok_and(|v| v == "1"))
    }

    fn destroy(&self) -> Result<()> {
        if !self.dir.exists() {
            return Ok(());
        }
        if !self.pids()?.is_empty() {
            if self.dir.join("cgroup.kill").exists() {
                fsutil::write(&self.dir, "cgroup.kill", "1")?;
            } else {
                for p in self.pids()? {
                    let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
                }
            }
            for _ in 0..500 {
                if fsutil::read(&self.dir, "cgroup.events")?
                    .lines()
                    .any(|l| l == "populated 0")
                {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
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
            }],
            created_levels: self.created_levels,
        }
    }
}

/// Opens a cgroup directory for `CLONE_INTO_CGROUP`.
fn open_dir(dir: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(CgroupError::io(dir))
}
