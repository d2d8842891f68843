//! Cgroup management: one small [`Manager`] trait over a v1 (cgroupfs)
//! manager, used on legacy and hybrid hosts, and a v2 manager for unified
//! hosts.
//!
//! Path rule (runc's cgroupfs driver): an absolute `linux.cgroupsPath` is
//! taken as given, below each hierarchy's mount point. A relative path is
//! joined to berth's own cgroup in each v1 hierarchy, and to the parent of
//! berth's own cgroup on v2 (a cgroup with processes cannot delegate
//! controllers, and berth's own cgroup usually has some). With no path, the
//! container ID is used as a relative path. See `docs/cgroups.md`.

mod apply;
mod bpf;
mod devices;
mod fsutil;
mod oom;
mod resources;
mod rootless;
mod selfjoin;
pub mod stats;
pub mod systemd;
mod v1;
mod v2;

use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use oom::{OomWait, OomWatch};
pub use resources::convert;
pub use resources::{Ctx, OnError, Probe, Write, v1_writes, v2_writes};
pub use selfjoin::SelfJoin;
pub use stats::Stats;

/// The mount point of the cgroup filesystem(s).
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Cgroup failures.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {}: {err}", path.display())]
    Io { path: PathBuf, err: io::Error },
    #[error("cgroup {}: still has processes after they were killed", path.display())]
    Busy { path: PathBuf },
    #[error("{field}: write {value:?} to {}: {err}", path.display())]
    Write {
        field: String,
        path: PathBuf,
        value: String,
        err: io::Error,
    },
    #[error("cgroup {}: not empty: {count} process(es) found", path.display())]
    NotEmpty { path: PathBuf, count: usize },
    #[error("cgroup {}: {msg}", path.display())]
    Freeze { path: PathBuf, msg: String },
    #[error("{field}: {msg}")]
    Unsupported { field: String, msg: String },
    #[error("systemd is not running on this host: cannot use --systemd-cgroup")]
    SystemdNotRunning,
    #[error("--systemd-cgroup: {0}")]
    Systemd(String),
    #[error("cgroup controller {0:?} is not mounted on this host")]
    NoController(String),
    /// The v2 device program (BPF) could not be loaded or attached.
    #[error("cgroup {}: {what}: {source}", path.display())]
    DeviceProgram {
        path: PathBuf,
        what: String,
        source: nix::errno::Errno,
    },
}

impl CgroupError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
        move |err| CgroupError::Io {
            path: path.to_path_buf(),
            err,
        }
    }
}

pub type Result<T> = std::result::Result<T, CgroupError>;

/// How the host mounts its cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 controllers plus a cgroup2 hierarchy at `/sys/fs/cgroup/unified`.
    Hybrid,
    /// One cgroup2 hierarchy at `/sys/fs/cgroup`.
    Unified,
}

/// Detects the host's cgroup mode from the filesystem types mounted.
pub fn detect_mode() -> Mode {
    if fsutil::is_cgroup2(Path::new(CGROUP_ROOT)) {
        Mode::Unified
    } else if fsutil::is_cgroup2(&Path::new(CGROUP_ROOT).join("unified")) {
        Mode::Hybrid
    } else {
        Mode::Legacy
    }
}

/// What berth records about a container's cgroup in its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupRecord {
    pub mode: Mode,
    /// The cgroup path inside each hierarchy, absolute (e.g. `/berth/c1`).
    /// Relative config paths are resolved at create time, per hierarchy,
    /// so v1 hierarchies may differ: see `paths`.
    pub path: String,
    /// The container's directory in each hierarchy.
    pub dirs: Vec<CgroupDir>,
    /// The most trailing components berth created in any hierarchy (each
    /// directory records its own count in `CgroupDir::created`).
    pub created_levels: usize,
    /// The transient unit, under `--systemd-cgroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupDir {
    /// The v1 controller the hierarchy is known by (`memory`,
    /// `name=systemd`...), or `""` for a cgroup2 hierarchy.
    pub key: String,
    /// The hierarchy's mount point.
    pub mount: PathBuf,
    /// The container's directory.
    pub dir: PathBuf,
    /// Every controller of the hierarchy (v1), e.g. `["cpu", "cpuacct"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controllers: Vec<String>,
    /// How many trailing components of `dir` berth created (and removes).
    #[serde(default)]
    pub created: usize,
}

impl CgroupDir {
    /// Whether this hierarchy carries `controller` (or is named by it).
    pub fn has(&self, controller: &str) -> bool {
        self.key == controller || self.controllers.iter().any(|c| c == controller)
    }
}

/// Operations on one container's cgroup.
pub trait Manager {
    /// Creates the cgroup directories (recording which levels were new).
    /// Refuses a cgroup that already has processes; on failure nothing it
    /// created is left.
    fn create(&mut self) -> Result<()>;
    /// Writes the limits of a new container, device rules included (the
    /// defaults apply even when `resources` has none).
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Changes the limits of a running container (`berth update`): only
    /// what `resources` names, keeping the rest as it is.
    fn update(&self, resources: &LinuxResources) -> Result<()>;
    /// A descriptor for `clone3(CLONE_INTO_CGROUP)`, if the host allows it.
    fn clone_target(&self) -> Option<BorrowedFd<'_>>;
    /// Moves `pid` into the cgroup (everywhere `clone_target` did not).
    fn add(&self, pid: Pid) -> Result<()>;
    /// The files through which a new process joins the cgroup by itself,
    /// instead of [`Manager::add`], where that is cheaper (v1 only, see
    /// [`SelfJoin`]). `None`: use `clone_target` or `add`.
    fn self_join(&self) -> Result<Option<SelfJoin>> {
        Ok(None)
    }
    /// PIDs of every process in the cgroup and the cgroups below it.
    fn pids(&self) -> Result<Vec<Pid>>;
    /// Freezes (`true`) or thaws the cgroup and waits until it is done.
    fn freeze(&self, frozen: bool) -> Result<()>;
    /// Whether the cgroup is frozen.
    fn is_frozen(&self) -> Result<bool>;
    /// Kills every process, then removes the directories berth created.
    /// A cgroup that cannot be emptied is an error naming it.
    fn destroy(&self) -> Result<()>;
    /// The record to save in the container state.
    fn record(&self) -> CgroupRecord;
    /// Usage statistics, in runc's `events` types.
    fn stats(&self) -> Result<Stats>;
    /// Starts watching for OOM kills in the cgroup.
    fn oom_watch(&self) -> Result<OomWatch>;
    /// Whether the container has this cgroup at all (a rootless container
    /// on a host whose hierarchies it may not write has none).
    fn present(&self) -> bool {
        true
    }
}

/// What a new container asks of the cgroup layer: the one argument of
/// [`for_container`], so that drivers and modes add fields, not parameters.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `linux.cgroupsPath`, if the config has one.
    pub path: Option<&'a str>,
    /// The container ID.
    pub id: &'a str,
    /// `--systemd-cgroup`.
    pub systemd: bool,
    /// Rootless mode (`--rootless`, resolved).
    pub rootless: bool,
    /// The config's annotations (`org.systemd.property.*` and the like).
    pub annotations: &'a std::collections::HashMap<String, String>,
}

/// Resolves the cgroup for a new container and returns its manager.
pub fn for_container(req: &Request<'_>) -> Result<Box<dyn Manager>> {
    if req.systemd {
        return systemd::for_container(req);
    }
    let (config_path, id) = (req.path, req.id);
    let mode = detect_mode();
    let inner = match config_path {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => id.to_string(),
    };
    let manager: Box<dyn Manager> = match mode {
        Mode::Unified => Box::new(v2::V2::new(&inner, Path::new(CGROUP_ROOT))),
        Mode::Legacy | Mode::Hybrid => Box::new(v1::V1::new(&inner, mode)?),
    };
    if req.rootless {
        let explicit = config_path.is_some_and(|p| !p.is_empty());
        return Ok(Box::new(rootless::Rootless::new(manager, explicit)));
    }
    Ok(manager)
}

/// A record of the cgroups berth itself is in, which a container without
/// a cgroup of its own (rootless, see `rootless.rs`) inherits: what its
/// cgroup mount shows, as runc binds the init's current cgroups.
pub fn own_record() -> Option<CgroupRecord> {
    let mode = detect_mode();
    match mode {
        Mode::Unified => {
            let own = fsutil::own_cgroup("")?;
            Some(CgroupRecord {
                mode,
                path: own.clone(),
                dirs: vec![CgroupDir {
                    key: String::new(),
                    mount: PathBuf::from(CGROUP_ROOT),
                    dir: Path::new(CGROUP_ROOT).join(own.trim_start_matches('/')),
                    controllers: Vec::new(),
                    created: 0,
                }],
                created_levels: 0,
                systemd_unit: None,
            })
        }
        Mode::Legacy | Mode::Hybrid => v1::V1::new(".", mode).ok().map(|m| m.record()),
    }
}

/// Reopens the manager of an existing container from its record.
pub fn from_record(rec: &CgroupRecord) -> Box<dyn Manager> {
    if let Some(unit) = &rec.systemd_unit {
        return Box::new(systemd::Systemd::from_record(rec, unit));
    }
    match rec.mode {
        Mode::Unified => Box::new(v2::V2::from_record(rec)),
        Mode::Legacy | Mode::Hybrid => Box::new(v1::V1::from_record(rec)),
    }
}

/// Lexically cleans a cgroup path into an absolute one.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Joins a possibly relative cgroup path to `base` (the caller's own cgroup).
fn resolve(inner: &str, base: &str) -> String {
    if inner.starts_with('/') {
        clean(inner)
    } else {
        clean(&format!("{base}/{inner}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        assert_eq!(resolve("/berth/c1", "/user.slice"), "/berth/c1");
        assert_eq!(resolve("c1", "/user.slice"), "/user.slice/c1");
        assert_eq!(resolve("../../../etc", "/a"), "/etc");
        assert_eq!(clean("//a/./b/"), "/a/b");
    }
}
