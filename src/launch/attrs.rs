//! Process attributes applied before the container program runs:
//! scheduler, I/O priority, personality and memory policy (by the init,
//! inherited across `execve`), the AppArmor profile and SELinux exec label
//! (both take effect at `execve`), and CPU affinity (reset for the init, `initial` and
//! `final` for `exec` processes, as runtime-spec and runc do).

use nix::errno::Errno;
use nix::sched::CpuSet;
use nix::unistd::Pid;

use crate::spec::{Config, ExecCpuAffinity, ProcessConfig};
use crate::sys;

/// A process attribute the kernel refused, named by its field.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {what}: {source}")]
pub struct AttrError {
    pub field: &'static str,
    pub what: String,
    pub source: Errno,
}

fn fail(field: &'static str, what: impl Into<String>) -> impl FnOnce(Errno) -> AttrError {
    let what = what.into();
    move |source| AttrError {
        field,
        what,
        source,
    }
}

/// Applies scheduler, I/O priority, personality and memory policy to the
/// calling process (the init); all survive `execve`.
pub fn apply(config: &Config, p: &ProcessConfig) -> Result<(), AttrError> {
    if let Some(s) = &p.attrs.scheduler {
        sys::process::sched_setattr(&sys::process::SchedAttr {
            policy: s.policy,
            flags: s.flags,
            nice: s.nice,
            priority: s.priority,
            runtime: s.runtime,
            deadline: s.deadline,
            period: s.period,
        })
        .map_err(|e| {
            let hint = if e == Errno::EPERM && (s.policy == 1 || s.policy == 2) {
                " (real-time policies need CPU time granted to the cgroup)"
            } else {
                ""
            };
            AttrError {
                field: "process.scheduler",
                what: format!("sched_setattr{hint}"),
                source: e,
            }
        })?;
    }
    if let Some(io) = &p.attrs.io_priority {
        sys::process::ioprio_set(io.class, io.level)
            .map_err(fail("process.ioPriority", "ioprio_set"))?;
    }
    if let Some(persona) = config.personality {
        sys::process::set_personality(persona).map_err(fail("linux.personality", "personality"))?;
    }
    if let Some(m) = &config.memory_policy {
        sys::process::set_mempolicy(m.mode, &node_mask(&m.nodes))
            .map_err(fail("linux.memoryPolicy", "set_mempolicy"))?;
    }
    Ok(())
}

/// The `set_mempolicy(2)` node mask with the bits of `nodes` set.
pub fn node_mask(nodes: &[usize]) -> Vec<libc::c_ulong> {
    let bits = libc::c_ulong::BITS as usize;
    let Some(max) = nodes.iter().max() else {
        return Vec::new();
    };
    let mut mask = vec![0 as libc::c_ulong; max / bits + 1];
    for n in nodes {
        mask[n / bits] |= 1 << (n % bits);
    }
    mask
}

/// The AppArmor and SELinux exec-label files of the calling thread,
/// opened through the verified handle on the host's procfs, so a `/proc`
/// the container controls (a bind or a tmpfs over `/proc/self/attr`, in a
/// joined mount namespace too) cannot swallow the write (CVE-2019-16884
/// class).
#[derive(Debug, Default)]
pub struct LabelFiles {
    apparmor: Option<(std::fs::File, String)>,
    selinux: Option<(std::fs::File, String)>,
    /// `attr/keycreate`, for the label of the new session keyring.
    keycreate: Option<(std::fs::File, String)>,
}

impl LabelFiles {
    /// Opens the files the process's labels need (none without labels).
    pub fn open(p: &ProcessConfig, proc: &super::procfs::HostProc) -> Result<Self, AttrError> {
        let open = |path: &str| proc.open_file(path, nix::fcntl::OFlag::O_WRONLY);
        let mut files = Self::default();
        if let Some(profile) = &p.attrs.apparmor_profile {
            let f = open("thread-self/attr/apparmor/exec")
                .or_else(|_| open("thread-self/attr/exec"))
                .map_err(fail(
                    "process.apparmorProfile",
                    format!("open the exec label of profile {profile:?}"),
                ))?;
            files.apparmor = Some((f, format!("exec {profile}")));
        }
        if let Some(label) = &p.attrs.selinux_label {
            let f = open("thread-self/attr/exec").map_err(fail(
                "process.selinuxLabel",
                format!("open the exec label {label:?}"),
            ))?;
            files.selinux = Some((f, label.clone()));
            // As go-selinux's SetKeyLabel: a kernel without the file has
            // no keyring labels to set.
            match open("thread-self/attr/keycreate") {
                Ok(k) => files.keycreate = Some((k, label.clone())),
                Err(Errno::ENOENT) => {}
                Err(e) => {
                    return Err(fail(
                        "process.selinuxLabel",
                        format!("open the keyring label {label:?}"),
                    )(e));
                }
            }
        }
        Ok(files)
    }

    /// Writes the AppArmor profile (`exec <profile>`); it takes effect at
    /// the next `execve`. The init calls it where runc applies the profile:
    /// after the root filesystem and the hostname, before
    /// `no_new_privs` and seccomp; `exec` once the identity is switched.
    pub fn apply_apparmor(&self) -> Result<(), AttrError> {
        if let Some((mut f, v)) = self.apparmor.as_ref().map(|(f, v)| (f, v)) {
            use std::io::Write;
            f.write_all(v.as_bytes()).map_err(|e| {
                fail(
                    "process.apparmorProfile",
                    format!("apply apparmor profile {v:?}"),
                )(io_errno(&e))
            })?;
        }
        Ok(())
    }

    /// Writes the SELinux exec label; it takes effect at the next
    /// `execve`, so it is written right before it.
    pub fn apply_selinux(&self) -> Result<(), AttrError> {
        if let Some((mut f, v)) = self.selinux.as_ref().map(|(f, v)| (f, v)) {
            use std::io::Write;
            f.write_all(v.as_bytes()).map_err(|e| {
                fail("process.selinuxLabel", format!("set exec label {v:?}"))(io_errno(&e))
            })?;
        }
        Ok(())
    }
}

impl LabelFiles {
    /// Joins a new session keyring labelled with `process.selinuxLabel`
    /// (`attr/keycreate` is set around the join and cleared after it, as
    /// runc does); best effort where the kernel has no keyrings (ENOSYS).
    pub fn join_session_keyring(&self) -> Result<(), AttrError> {
        use std::io::Write;
        if let Some((mut f, v)) = self.keycreate.as_ref().map(|(f, v)| (f, v)) {
            f.write_all(v.as_bytes()).map_err(|e| {
                fail("process.selinuxLabel", format!("set keyring label {v:?}"))(io_errno(&e))
            })?;
        }
        let joined = match sys::process::join_new_session_keyring() {
            Ok(()) | Err(Errno::ENOSYS) => Ok(()),
            Err(e) => Err(AttrError {
                field: "process",
                what: "join a new session keyring".into(),
                source: e,
            }),
        };
        if let Some((mut f, _)) = self.keycreate.as_ref().map(|(f, v)| (f, v)) {
            // Cleared for the keys created later (execve clears it too).
            let _ = f.write_all(b"\n");
        }
        joined
    }
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

fn cpu_set(cpus: &[usize]) -> Result<CpuSet, Errno> {
    let mut set = CpuSet::new();
    for c in cpus {
        set.set(*c)?;
    }
    Ok(set)
}

fn every_cpu() -> CpuSet {
    let mut set = CpuSet::new();
    for c in 0..CpuSet::count() {
        let _ = set.set(c);
    }
    set
}

/// Widens `pid`'s CPU affinity to every CPU once it is in its cgroup, so
/// the container does not inherit the runtime's (the kernel clamps it to
/// the cgroup's cpuset). A failure is only logged, as in runc.
pub fn reset_affinity(pid: Pid) {
    if let Err(e) = nix::sched::sched_setaffinity(pid, &every_cpu()) {
        tracing::warn!("resetting the CPU affinity of pid {pid} failed: {e}");
    }
}

/// For `exec`: before the new process is cloned, moves the calling thread
/// to `execCPUAffinity.initial` (the child inherits it). Returns the
/// previous affinity, to give back with [`restore_affinity`].
pub fn enter_initial_affinity(a: Option<&ExecCpuAffinity>) -> Result<Option<CpuSet>, AttrError> {
    let Some(initial) = a.and_then(|a| a.initial.as_deref()) else {
        return Ok(None);
    };
    let me = Pid::from_raw(0);
    let prev = nix::sched::sched_getaffinity(me)
        .map_err(fail("process.execCPUAffinity.initial", "sched_getaffinity"))?;
    let set = cpu_set(initial).map_err(fail("process.execCPUAffinity.initial", "CPU number"))?;
    nix::sched::sched_setaffinity(me, &set)
        .map_err(fail("process.execCPUAffinity.initial", "sched_setaffinity"))?;
    Ok(Some(prev))
}

/// Gives the calling thread back the affinity [`enter_initial_affinity`]
/// replaced.
pub fn restore_affinity(prev: &CpuSet) {
    let _ = nix::sched::sched_setaffinity(Pid::from_raw(0), prev);
}

/// For `exec`, once the process is in its cgroup: `execCPUAffinity.final`;
/// without any `execCPUAffinity`, every CPU (as for the init); with only
/// `initial`, nothing (the kernel decides, as the spec says).
pub fn apply_final_affinity(pid: Pid, a: Option<&ExecCpuAffinity>) -> Result<(), AttrError> {
    match a {
        None
        | Some(ExecCpuAffinity {
            initial: None,
            final_cpus: None,
        }) => {
            reset_affinity(pid);
            Ok(())
        }
        Some(ExecCpuAffinity {
            final_cpus: None, ..
        }) => Ok(()),
        Some(ExecCpuAffinity {
            final_cpus: Some(cpus),
            ..
        }) => {
            let set = cpu_set(cpus).map_err(fail("process.execCPUAffinity.final", "CPU number"))?;
            nix::sched::sched_setaffinity(pid, &set)
                .map_err(fail("process.execCPUAffinity.final", "sched_setaffinity"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_masks() {
        assert!(node_mask(&[]).is_empty());
        assert_eq!(node_mask(&[0, 2]), vec![0b101]);
        let m = node_mask(&[1, 64]);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0], m[1]), (0b10, 1));
    }

    #[test]
    fn initial_affinity_round_trip() {
        // Run in a thread of its own: affinity is per thread.
        std::thread::spawn(|| {
            let before = nix::sched::sched_getaffinity(Pid::from_raw(0)).expect("get");
            let a = ExecCpuAffinity {
                initial: Some(vec![0]),
                final_cpus: None,
            };
            let prev = enter_initial_affinity(Some(&a))
                .expect("set")
                .expect("previous");
            let now = nix::sched::sched_getaffinity(Pid::from_raw(0)).expect("get");
            assert!(now.is_set(0).expect("cpu 0"));
            assert!(!now.is_set(1).unwrap_or(false));
            restore_affinity(&prev);
            let after = nix::sched::sched_getaffinity(Pid::from_raw(0)).expect("get");
            assert_eq!(before, after);
        })
        .join()
        .expect("thread");
    }
}
