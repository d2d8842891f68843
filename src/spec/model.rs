//! berth's validated view of a container configuration.
//!
//! Built once by [`super::build`]; every value here has already been checked,
//! so the launch path never re-validates or reports a config error.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use nix::sched::CloneFlags;
use oci_spec::runtime::{
    Hooks, Linux, LinuxDevice, LinuxIntelRdt, LinuxResources, LinuxSeccomp, Process,
};

use super::mountopt::{MountOptions, Propagation};

/// A kind of Linux namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NsKind {
    User,
    Mount,
    Pid,
    Net,
    Ipc,
    Uts,
    Cgroup,
    Time,
}

impl NsKind {
    /// All kinds, in the order berth joins them (user first, mount last but
    /// one so that paths opened earlier stay valid, time last).
    pub const ALL: [NsKind; 8] = [
        Self::User,
        Self::Pid,
        Self::Net,
        Self::Ipc,
        Self::Uts,
        Self::Cgroup,
        Self::Mount,
        Self::Time,
    ];

    /// The `CLONE_NEW*` flag.
    pub fn flag(self) -> CloneFlags {
        match self {
            Self::User => CloneFlags::CLONE_NEWUSER,
            Self::Mount => CloneFlags::CLONE_NEWNS,
            Self::Pid => CloneFlags::CLONE_NEWPID,
            Self::Net => CloneFlags::CLONE_NEWNET,
            Self::Ipc => CloneFlags::CLONE_NEWIPC,
            Self::Uts => CloneFlags::CLONE_NEWUTS,
            Self::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            // nix does not name CLONE_NEWTIME (it clashes with CSIGNAL in
            // the old clone API); clone3 and setns accept it.
            Self::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
        }
    }

    /// The name under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Mount => "mnt",
            Self::Pid => "pid",
            Self::Net => "net",
            Self::Ipc => "ipc",
            Self::Uts => "uts",
            Self::Cgroup => "cgroup",
            Self::Time => "time",
        }
    }

    /// The name used in `config.json`.
    pub fn spec_name(self) -> &'static str {
        match self {
            Self::Mount => "mount",
            Self::Net => "network",
            other => other.proc_name(),
        }
    }
}

/// A namespace the container gets: new, or joined from `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub kind: NsKind,
    pub path: Option<PathBuf>,
}

/// One range of a uid or gid mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdMap {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdMap {
    /// Maps a container id to the host, if it is in range.
    pub fn to_host(maps: &[IdMap], id: u32) -> Option<u32> {
        maps.iter()
            .find(|m| id >= m.container && id - m.container < m.size)
            .map(|m| m.host + (id - m.container))
    }

    /// Formats the ranges as the kernel's `uid_map`/`gid_map` expects.
    pub fn to_proc_format(maps: &[IdMap]) -> String {
        maps.iter()
            .map(|m| format!("{} {} {}\n", m.container, m.host, m.size))
            .collect()
    }
}

/// What a mount entry mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A bind mount of a host path (already resolved against the bundle).
    Bind { source: PathBuf, recursive: bool },
    /// The cgroup hierarchy (`type: cgroup` or `cgroup2`).
    Cgroup,
    /// A new filesystem instance.
    Fs {
        fstype: String,
        source: Option<String>,
    },
}

/// One validated `mounts[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Index in `mounts`, for error messages.
    pub index: usize,
    /// Absolute, lexically cleaned path inside the container.
    pub destination: String,
    pub kind: MountKind,
    pub options: MountOptions,
    /// An idmapped bind mount (`idmap`, `ridmap`, or per-mount mappings).
    pub idmap: Option<MountIdmap>,
}

/// The id mapping of an idmapped mount, done with
/// `mount_setattr(MOUNT_ATTR_IDMAP)` and a user namespace carrying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountIdmap {
    /// `ridmap`: every mount of an `rbind` tree is idmapped, not only the top.
    pub recursive: bool,
    pub source: IdmapSource,
}

/// Where an idmapped mount's user namespace comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdmapSource {
    /// A new user namespace with these mappings: the mount's own
    /// `uidMappings`/`gidMappings`, or the container's.
    Maps { uid: Vec<IdMap>, gid: Vec<IdMap> },
    /// The user namespace the container joins by path.
    Userns(PathBuf),
}

/// The container process's user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    pub additional_gids: Vec<u32>,
}

/// The five capability sets, already converted to the `caps` crate's type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: caps::CapsHashSet,
    pub effective: caps::CapsHashSet,
    pub inheritable: caps::CapsHashSet,
    pub permitted: caps::CapsHashSet,
    pub ambient: caps::CapsHashSet,
}

/// One resource limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// `RLIMIT_*` number.
    pub resource: libc::c_int,
    /// The spec name, e.g. `RLIMIT_NOFILE`, for errors.
    pub name: &'static str,
    pub soft: u64,
    pub hard: u64,
}

/// The validated `process` object.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub terminal: bool,
    /// (rows, columns)
    pub console_size: Option<(u16, u16)>,
    pub user: User,
    /// `None` means the `capabilities` object was absent: every set is empty.
    pub caps: CapSets,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    /// Scheduler, I/O priority, CPU affinity and LSM labels.
    pub attrs: ProcessAttrs,
    /// The original object, as given.
    pub oci: Process,
}

/// The less common process attributes (runtime-spec "Linux Process"),
/// already converted to kernel values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessAttrs {
    pub scheduler: Option<Scheduler>,
    pub io_priority: Option<IoPriority>,
    pub exec_cpu_affinity: Option<ExecCpuAffinity>,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
}

/// `process.scheduler` as `sched_setattr(2)` takes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scheduler {
    /// `SCHED_*` policy number.
    pub policy: u32,
    /// `SCHED_FLAG_*` bits.
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// `process.ioPriority`: `IOPRIO_CLASS_*` number and level 0..7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoPriority {
    pub class: u32,
    pub level: u32,
}

/// `process.execCPUAffinity`, as lists of CPU numbers. Applies to `exec`
/// processes only (runtime-spec: "not applicable to the container's init").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecCpuAffinity {
    pub initial: Option<Vec<usize>>,
    pub final_cpus: Option<Vec<usize>>,
}

/// `linux.memoryPolicy` as `set_mempolicy(2)` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPolicy {
    /// `MPOL_*` mode with the `MPOL_F_*` flags or'ed in.
    pub mode: i32,
    /// Node numbers of the node mask.
    pub nodes: Vec<usize>,
}

/// One `linux.netDevices` entry: a host link moved into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevice {
    /// The link's name in the runtime's network namespace.
    pub host_name: String,
    /// Its name in the container (may be a `%d` template).
    pub name: String,
}

/// A validated container configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub oci_version: String,
    /// Absolute bundle directory.
    pub bundle: PathBuf,
    /// Absolute path of the root filesystem on the host.
    pub rootfs: PathBuf,
    pub readonly_root: bool,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub annotations: HashMap<String, String>,
    pub namespaces: Vec<Namespace>,
    pub uid_mappings: Vec<IdMap>,
    pub gid_mappings: Vec<IdMap>,
    pub mounts: Vec<MountEntry>,
    pub process: Option<ProcessConfig>,
    pub hooks: Hooks,
    /// `linux.cgroupsPath` as given (absent means runc's default).
    pub cgroups_path: Option<String>,
    pub resources: Option<LinuxResources>,
    pub rootfs_propagation: Option<Propagation>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub devices: Vec<LinuxDevice>,
    pub sysctl: BTreeMap<String, String>,
    pub seccomp: Option<LinuxSeccomp>,
    /// `linux.personality` as a `personality(2)` persona.
    pub personality: Option<libc::c_ulong>,
    pub memory_policy: Option<MemoryPolicy>,
    /// Sorted by host name.
    pub net_devices: Vec<NetDevice>,
    pub mount_label: Option<String>,
    pub intel_rdt: Option<LinuxIntelRdt>,
    /// The original `linux` object, for fields only one subsystem reads.
    pub linux: Linux,
}

impl Config {
    /// The namespace of `kind`, if the container has one of its own.
    pub fn namespace(&self, kind: NsKind) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.kind == kind)
    }

    /// Whether the container gets a namespace of `kind` (new or joined).
    pub fn has_namespace(&self, kind: NsKind) -> bool {
        self.namespace(kind).is_some()
    }

    /// Whether the container creates a new user namespace.
    pub fn new_userns(&self) -> bool {
        self.namespace(NsKind::User)
            .is_some_and(|n| n.path.is_none())
    }

    /// Whether the container runs in any user namespace other than the host's.
    pub fn in_userns(&self) -> bool {
        self.has_namespace(NsKind::User)
    }
}
