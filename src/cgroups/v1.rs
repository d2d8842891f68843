//! The cgroup v1 (cgroupfs) manager, for legacy and hybrid hosts. Every v1
//! hierarchy mounted under `/sys/fs/cgroup` gets the container's directory;
//! on hybrid hosts the container is also placed in the unified hierarchy,
//! as runc does (it carries no limits there).

use std::cell::OnceCell;
use std::fs;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::apply::{DirProbe, execute};
use super::devices::{Emulator, container_rules};
use super::resources::{Ctx, v1_writes};
use super::{CGROUP_ROOT, CgroupDir, CgroupError, CgroupRecord, Manager, Mode, Result, resolve};
use super::{Stats, fsutil, oom, stats};

/// A mounted hierarchy: its controllers (`[""]` for cgroup2), mount point
/// and the cgroup path mounted there (`/` unless inside a namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    controllers: Vec<String>,
    mount: PathBuf,
    root: String,
}

/// Lists the hierarchies mounted under `/sys/fs/cgroup` (from
/// `/proc/self/mountinfo`): v1 ones with controllers or `name=systemd`,
/// and the cgroup2 one (used on hybrid hosts). Each appears once.
fn hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split_whitespace();
        let (fstype, _src, opts) = (r.next().unwrap_or(""), r.next(), r.next().unwrap_or(""));
        let mut l = left.split_whitespace();
        let root = l.nth(3).unwrap_or("/").to_string();
        let mount = l.next().unwrap_or("");
        if !Path::new(mount).starts_with(CGROUP_ROOT) {
            continue;
        }
        let controllers: Vec<String> = match fstype {
            "cgroup" => opts
                .split(',')
                .filter(|o| {
                    *o == "name=systemd"
                        || !(o.contains('=')
                            || matches!(
                                *o,
                                "rw" | "ro"
                                    | "xattr"
                                    | "noprefix"
                                    | "clone_children"
                                    | "cpuset_v2_mode"
                                    | "none"
                                    | "favordynmods"
                            ))
                })
                .map(str::to_string)
                .collect(),
            "cgroup2" => vec![String::new()],
            _ => continue,
        };
        if controllers.is_empty() || out.iter().any(|h| h.controllers == controllers) {
            continue;
        }
        out.push(Hierarchy {
            controllers,
            mount: PathBuf::from(mount),
            root,
        });
    }
    out
}

/// The cgroup path of `own` (from `/proc/self/cgroup`) inside a hierarchy
/// whose mount shows the cgroup `root`.
fn below_root(own: &str, root: &str) -> String {
    match Path::new(own).strip_prefix(root) {
        Ok(rel) => format!("/{}", rel.to_string_lossy()),
        Err(_) => own.to_string(),
    }
}

/// The v1 manager.
#[derive(Debug)]
pub struct V1 {
    path: String,
    mode: Mode,
    dirs: Vec<CgroupDir>,
    /// Hybrid hosts: the cgroup2 directory, opened for `CLONE_INTO_CGROUP`
    /// once it exists (Linux 5.7+). A new process is then born in the
    /// cgroup2 hierarchy and joins the v1 ones by writing `0` to their
    /// `tasks` files ([`super::SelfJoin`]): no `cgroup.procs` write, so no
    /// wait for an RCU grace period. Without it berth moves the process by
    /// PID (`add`). Opened by `create`, or on first use for a recorded
    /// container (`exec`), so other commands do not open it.
    unified: OnceCell<Option<File>>,
}

impl V1 {
    pub fn new(inner: &str, mode: Mode) -> Result<Self> {
        let mountinfo = crate::proc::read_small("/proc/self/mountinfo")
            .map_err(CgroupError::io(Path::new("/proc/self/mountinfo")))?;
        // Berth's own cgroups matter only for a relative path: read them
        // once, and only then.
        let own_cgroups = if inner.starts_with('/') {
            String::new()
        } else {
            crate::proc::read_small("/proc/self/cgroup").unwrap_or_default()
        };
        let mut dirs = Vec::new();
        for h in hierarchies(&mountinfo) {
            let key = h.controllers.first().cloned().unwrap_or_default();
            if key.is_empty() && mode != Mode::Hybrid {
                continue;
            }
            let own = fsutil::own_cgroup_in(&own_cgroups, &key).unwrap_or_else(|| "/".into());
            let path = resolve(inner, &below_root(&own, &h.root));
            let dir = h.mount.join(path.trim_start_matches('/'));
            dirs.push(CgroupDir {
                key,
                mount: h.mount,
                dir,
                controllers: h.controllers,
                created: 0,
            });
        }
        Ok(Self {
            path: resolve(inner, "/"),
            mode,
            dirs,
            unified: OnceCell::new(),
        })
    }

    pub fn from_record(rec: &CgroupRecord) -> Self {
        Self {
            path: rec.path.clone(),
            mode: rec.mode,
            dirs: rec.dirs.clone(),
            unified: OnceCell::new(),
        }
    }

    /// The cgroup2 directory for `CLONE_INTO_CGROUP`, if any (an existing
    /// cgroup is a clone3 target too, for `exec`).
    fn unified(&self) -> Option<&File> {
        self.unified
            .get_or_init(|| self.open_unified().ok().flatten())
            .as_ref()
    }

    /// The hybrid host's cgroup2 directory of the container, opened for
    /// `CLONE_INTO_CGROUP`; `None` elsewhere or on kernels without it.
    fn open_unified(&self) -> Result<Option<File>> {
        if self.mode != Mode::Hybrid || !super::v2::clone_into_cgroup_supported() {
            return Ok(None);
        }
        match self.dirs.iter().find(|d| d.key.is_empty()) {
            Some(d) => super::v2::open_dir(&d.dir).map(Some),
            None => Ok(None),
        }
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.has(controller))
            .map(|d| d.dir.as_path())
    }

    /// A new cpuset cgroup starts with no CPUs or memory nodes; copy them
    /// from the parent, top-down, so processes can join. Levels that are
    /// already filled in are left alone.
    fn init_cpuset(dir: &Path, levels: usize) -> Result<()> {
        let chain: Vec<&Path> = dir.ancestors().take(levels).collect();
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

    fn create_all(&mut self) -> Result<()> {
        for i in 0..self.dirs.len() {
            let d = &self.dirs[i];
            let created = fsutil::create_dirs(&d.mount, &d.dir)?;
            self.dirs[i].created = created;
            let d = &self.dirs[i];
            if d.has("cpuset") {
                // Every level below the mount, not only the ones created
                // here: a parallel create may have made a parent and not
                // yet filled it in.
                let levels = d
                    .dir
                    .strip_prefix(&d.mount)
                    .map_or(created, |p| p.components().count());
                Self::init_cpuset(&d.dir, levels)?;
            }
        }
        Ok(())
    }

    fn set(&self, r: &LinuxResources, ctx: Ctx) -> Result<()> {
        let dir_of = |c: &str| self.dir(c).map(Path::to_path_buf);
        let has = |c: &str| self.dir(c).is_some();
        let writes = v1_writes(
            r,
            &DirProbe {
                dir_of: &dir_of,
                has: &has,
            },
            ctx,
        )?;
        execute(&writes, &dir_of)?;
        if !ctx.update || r.devices().is_some() {
            self.set_devices(r)?;
        }
        Ok(())
    }

    /// Moves the devices cgroup from its current rules to the config's with
    /// the fewest writes (no deny-all moment for a running container unless
    /// the default policy changes).
    fn set_devices(&self, r: &LinuxResources) -> Result<()> {
        let dir = self
            .dir("devices")
            .ok_or_else(|| CgroupError::NoController("devices".into()))?;
        let target =
            Emulator::from_rules(&container_rules(r.devices().as_deref().unwrap_or(&[]))?)?;
        let current = Emulator::from_list(&fsutil::read(dir, "devices.list")?)?;
        // One open file per kind: each write is one rule.
        let mut open: [Option<fs::File>; 2] = [None, None];
        for rule in current.transition(&target) {
            let (slot, file) = if rule.allow {
                (0, "devices.allow")
            } else {
                (1, "devices.deny")
            };
            let path = dir.join(file);
            if open[slot].is_none() {
                open[slot] = Some(
                    fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(CgroupError::io(&path))?,
                );
            }
            if let Some(f) = open[slot].as_mut() {
                std::io::Write::write_all(f, rule.v1_line().as_bytes())
                    .map_err(CgroupError::io(&path))?;
            }
        }
        Ok(())
    }

    /// runc's v1 freeze: FREEZING may need repeated writes while tasks fork;
    /// an occasional thaw helps it settle.
    fn freeze_v1(dir: &Path) -> Result<()> {
        for i in 0..1000 {
            if i % 50 == 49 {
                fsutil::write(dir, "freezer.state", "THAWED")?;
                std::thread::sleep(Duration::from_millis(10));
            }
            fsutil::write(dir, "freezer.state", "FROZEN")?;
            if i % 25 == 24 {
                std::thread::sleep(Duration::from_micros(10));
            }
            match fsutil::read(dir, "freezer.state")?.as_str() {
                "FROZEN" => return Ok(()),
                "FREEZING" => continue,
                other => {
                    return Err(CgroupError::Freeze {
                        path: dir.to_path_buf(),
                        msg: format!("unexpected state {other} while freezing"),
                    });
                }
            }
        }
        let _ = fsutil::write(dir, "freezer.state", "THAWED");
        Err(CgroupError::Freeze {
            path: dir.to_path_buf(),
            msg: "unable to freeze".into(),
        })
    }

    /// Kills every process: freeze (so nothing forks meanwhile), SIGKILL
    /// each, thaw; until the cgroup is empty (10 s at most).
    fn kill_all(&self) -> Result<()> {
        let freezer = self.dir("freezer");
        for _ in 0..1000 {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            if let Some(d) = freezer {
                let _ = Self::freeze_v1(d);
            }
            for p in pids {
                let _ = kill(p, Signal::SIGKILL);
            }
            // Frozen tasks (also a paused container's) die once thawed; a
            // failure here shows as processes left on the next round.
            if let Some(d) = freezer {
                let _ = fsutil::write(d, "freezer.state", "THAWED");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(CgroupError::Busy {
            path: self.dirs.first().map(|d| d.dir.clone()).unwrap_or_default(),
        })
    }
}

impl V1 {
    /// The systemd driver on v1/hybrid: systemd has made the unit's
    /// directory (`/<slice path>/<unit>`) only in the hierarchies it
    /// manages, with `pid` in it. The other hierarchies get the same path
    /// here (recorded as created, so `destroy` removes them; systemd's own
    /// have nothing recorded), then `pid` joins every hierarchy.
    pub fn adopt(&mut self, pid: Pid) -> Result<()> {
        let joined = self.create_all().and_then(|()| self.add(pid));
        if let Err(e) = joined {
            for d in &self.dirs {
                if d.created > 0 {
                    let _ = fsutil::remove_dirs(&d.dir, d.created);
                }
            }
            return Err(e);
        }
        Ok(())
    }
}

impl Manager for V1 {
    fn create(&mut self) -> Result<()> {
        // mkdir first: a directory berth made is empty, so only one that
        // already existed is checked for processes. (Looking up a missing
        // leaf first waits for the shared parent's lock, which every
        // parallel create's mkdir holds.)
        let made = self
            .create_all()
            .and_then(|()| {
                self.dirs
                    .iter()
                    .filter(|d| d.created == 0)
                    .try_for_each(|d| match fsutil::procs(&d.dir)?.len() {
                        0 => Ok(()),
                        count => Err(CgroupError::NotEmpty {
                            path: d.dir.clone(),
                            count,
                        }),
                    })
            })
            .and_then(|()| {
                self.dirs.iter().try_for_each(|d| {
                    if d.has("freezer") || (d.key.is_empty() && self.mode == Mode::Hybrid) {
                        fsutil::refuse_frozen(&d.dir, d.has("freezer"))
                    } else {
                        Ok(())
                    }
                })
            })
            .and_then(|()| self.open_unified())
            .map(|unified| self.unified = OnceCell::from(unified));
        if let Err(e) = made {
            for d in &self.dirs {
                if d.created > 0 {
                    let _ = fsutil::remove_dirs(&d.dir, d.created);
                }
            }
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
        self.unified().map(|f| f.as_fd())
    }

    fn add(&self, pid: Pid) -> Result<()> {
        let pid = pid.to_string();
        for d in &self.dirs {
            match fsutil::write(&d.dir, "cgroup.procs", &pid) {
                Ok(()) => {}
                // runc only joins name=systemd on a best-effort basis.
                Err(_) if d.key == "name=systemd" => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn self_join(&self) -> Result<Option<super::SelfJoin>> {
        // The cgroup2 hierarchy of a hybrid host has no `tasks` file, and
        // moving one thread there is refused across domains: the process
        // is born there (`clone_target`), or else `add` places it.
        match (self.mode, self.unified()) {
            (Mode::Legacy, _) | (Mode::Hybrid, Some(_)) => {
                super::SelfJoin::open(self.dirs.iter().filter(|d| !d.key.is_empty())).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        // The pids, freezer or devices hierarchy holds every process.
        let dir = self
            .dir("pids")
            .or_else(|| self.dir("freezer"))
            .or_else(|| self.dir("devices"))
            .or_else(|| self.dirs.first().map(|d| d.dir.as_path()));
        match dir {
            Some(d) => fsutil::procs_recursive(d),
            None => Ok(Vec::new()),
        }
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        let dir = self
            .dir("freezer")
            .ok_or_else(|| CgroupError::NoController("freezer".into()))?;
        if frozen {
            Self::freeze_v1(dir)
        } else {
            fsutil::write(dir, "freezer.state", "THAWED")
        }
    }

    fn is_frozen(&self) -> Result<bool> {
        match self.dir("freezer") {
            Some(d) if d.exists() => Ok(fsutil::read(d, "freezer.state")? != "THAWED"),
            _ => Ok(false),
        }
    }

    fn destroy(&self) -> Result<()> {
        self.kill_all()?;
        let mut first_err = None;
        for d in &self.dirs {
            if let Err(e) = fsutil::remove_dirs(&d.dir, d.created) {
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
            created_levels: self.dirs.iter().map(|d| d.created).max().unwrap_or(0),
            systemd_unit: None,
        }
    }

    fn stats(&self) -> Result<Stats> {
        stats::v1::read_stats(&|c: &str| self.dir(c).map(Path::to_path_buf))
    }

    fn oom_watch(&self) -> Result<oom::OomWatch> {
        let dir = self
            .dir("memory")
            .ok_or_else(|| CgroupError::NoController("memory".into()))?;
        oom::OomWatch::v1(dir)
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
                  42 31 0:39 / /sys/fs/cgroup/other rw,relatime - cgroup cgroup rw,name=other\n\
                  43 31 0:29 /sub /sys/fs/cgroup/cpu2 rw,relatime - cgroup cgroup rw,cpu\n\
                  44 31 0:40 /ns /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n\
                  22 27 0:21 / /proc rw,relatime - proc proc rw\n";
        let h = hierarchies(mi);
        let ctl: Vec<_> = h.iter().map(|h| h.controllers.join(",")).collect();
        assert_eq!(ctl, vec!["cpu", "cpu,cpuacct", "name=systemd", "", "pids"]);
        assert_eq!(h[4].root, "/ns");
        assert_eq!(below_root("/ns/a/b", "/ns"), "/a/b");
        assert_eq!(below_root("/a", "/"), "/a");
    }
}
