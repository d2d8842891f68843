//! `berth update`.

use crate::ops::{self, Runtime, UpdateFlags};

/// Arguments of `update` (runc's flags; `--resources` wins over the rest).
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// A file with LinuxResources JSON, or `-` for stdin.
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Memory limit in bytes (units such as 64m accepted; -1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory reservation (soft limit).
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Kernel memory limit: accepted and ignored with a warning (no
    /// current kernel has it; runc's flag, hidden as in runc).
    #[arg(long = "kernel-memory", allow_hyphen_values = true, hide = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP buffer limit: accepted and ignored, as `--kernel-memory`.
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true, hide = true)]
    pub kernel_memory_tcp: Option<String>,
    /// CFS quota in microseconds per period (-1: none).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<String>,
    /// CFS burst in microseconds.
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<String>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<String>,
    /// Real-time period in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<String>,
    /// Real-time runtime in microseconds.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// SCHED_IDLE for the cgroup (1) or not (0).
    #[arg(long = "cpu-idle")]
    pub cpu_idle: Option<String>,
    /// CPUs the container may use.
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks (-1: unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block I/O weight, 10 to 1000.
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Container ID.
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let resources = match &a.resources {
        Some(src) => ops::read_resources(src)?,
        None => ops::resources_from_flags(&UpdateFlags {
            memory: a.memory,
            memory_swap: a.memory_swap,
            memory_reservation: a.memory_reservation,
            kernel_memory: a.kernel_memory,
            kernel_memory_tcp: a.kernel_memory_tcp,
            cpu_quota: a.cpu_quota,
            cpu_period: a.cpu_period,
            cpu_burst: a.cpu_burst,
            cpu_share: a.cpu_share,
            cpu_rt_period: a.cpu_rt_period,
            cpu_rt_runtime: a.cpu_rt_runtime,
            cpu_idle: a.cpu_idle,
            cpuset_cpus: a.cpuset_cpus,
            cpuset_mems: a.cpuset_mems,
            pids_limit: a.pids_limit,
            blkio_weight: a.blkio_weight,
        })?,
    };
    ops::update(rt, &a.id, &resources)?;
    Ok(0)
}
