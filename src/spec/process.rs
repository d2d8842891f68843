//! The `process` object: arguments, user, capabilities, rlimits, and the
//! Linux process attributes (scheduler, I/O priority, CPU affinity, LSM
//! labels), converted to kernel values. Pure, like the rest of `spec`.

use std::str::FromStr;

use oci_spec::runtime::{
    Capabilities, IOPriorityClass, LinuxSchedulerFlag, LinuxSchedulerPolicy, PosixRlimitType,
    Process,
};

use super::SpecError;
use super::model::*;
use super::validate::{Result, invalid};

fn capset(field: &str, set: &Option<Capabilities>) -> Result<caps::CapsHashSet> {
    let mut out = caps::CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        match caps::Capability::from_str(&name) {
            Ok(cap) => {
                out.insert(cap);
            }
            Err(_) => return invalid(field, format!("unknown capability {name:?}")),
        }
    }
    Ok(out)
}

fn rlimit_id(t: PosixRlimitType) -> (libc::c_int, &'static str) {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => (libc::RLIMIT_CPU as _, "RLIMIT_CPU"),
        T::RlimitFsize => (libc::RLIMIT_FSIZE as _, "RLIMIT_FSIZE"),
        T::RlimitData => (libc::RLIMIT_DATA as _, "RLIMIT_DATA"),
        T::RlimitStack => (libc::RLIMIT_STACK as _, "RLIMIT_STACK"),
        T::RlimitCore => (libc::RLIMIT_CORE as _, "RLIMIT_CORE"),
        T::RlimitRss => (libc::RLIMIT_RSS as _, "RLIMIT_RSS"),
        T::RlimitNproc => (libc::RLIMIT_NPROC as _, "RLIMIT_NPROC"),
        T::RlimitNofile => (libc::RLIMIT_NOFILE as _, "RLIMIT_NOFILE"),
        T::RlimitMemlock => (libc::RLIMIT_MEMLOCK as _, "RLIMIT_MEMLOCK"),
        T::RlimitAs => (libc::RLIMIT_AS as _, "RLIMIT_AS"),
        T::RlimitLocks => (libc::RLIMIT_LOCKS as _, "RLIMIT_LOCKS"),
        T::RlimitSigpending => (libc::RLIMIT_SIGPENDING as _, "RLIMIT_SIGPENDING"),
        T::RlimitMsgqueue => (libc::RLIMIT_MSGQUEUE as _, "RLIMIT_MSGQUEUE"),
        T::RlimitNice => (libc::RLIMIT_NICE as _, "RLIMIT_NICE"),
        T::RlimitRtprio => (libc::RLIMIT_RTPRIO as _, "RLIMIT_RTPRIO"),
        T::RlimitRttime => (libc::RLIMIT_RTTIME as _, "RLIMIT_RTTIME"),
    }
}

/// Validates `process` and converts it. `uids`/`gids` are the container's
/// mappings when it creates a user namespace (the user must be mapped).
pub(super) fn process(
    p: &Process,
    new_userns: bool,
    uids: &[IdMap],
    gids: &[IdMap],
) -> Result<ProcessConfig> {
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return invalid("process.args", "must not be empty");
    }
    let cwd = p.cwd().to_string_lossy().into_owned();
    if !p.cwd().is_absolute() {
        return invalid("process.cwd", format!("{cwd:?} is not an absolute path"));
    }
    let u = p.user();
    let user = User {
        uid: u.uid(),
        gid: u.gid(),
        umask: u.umask(),
        additional_gids: u.additional_gids().clone().unwrap_or_default(),
    };
    if new_userns {
        if IdMap::to_host(uids, user.uid).is_none() {
            return invalid(
                "process.user.uid",
                format!("{} is not mapped by linux.uidMappings", user.uid),
            );
        }
        if IdMap::to_host(gids, user.gid).is_none() {
            return invalid(
                "process.user.gid",
                format!("{} is not mapped by linux.gidMappings", user.gid),
            );
        }
        for (i, g) in user.additional_gids.iter().enumerate() {
            if IdMap::to_host(gids, *g).is_none() {
                return invalid(
                    format!("process.user.additionalGids[{i}]"),
                    format!("{g} is not mapped by linux.gidMappings"),
                );
            }
        }
    }
    let caps = match p.capabilities() {
        None => CapSets::default(),
        Some(c) => CapSets {
            bounding: capset("process.capabilities.bounding", c.bounding())?,
            effective: capset("process.capabilities.effective", c.effective())?,
            inheritable: capset("process.capabilities.inheritable", c.inheritable())?,
            permitted: capset("process.capabilities.permitted", c.permitted())?,
            ambient: capset("process.capabilities.ambient", c.ambient())?,
        },
    };
    let mut rlimits: Vec<Rlimit> = Vec::new();
    for (i, r) in p
        .rlimits()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let (resource, name) = rlimit_id(r.typ());
        if rlimits.iter().any(|x| x.resource == resource) {
            return invalid(
                format!("process.rlimits[{i}].type"),
                format!("{name} is listed more than once"),
            );
        }
        if r.soft() > r.hard() {
            return invalid(
                format!("process.rlimits[{i}]"),
                format!("soft limit {} is above hard limit {}", r.soft(), r.hard()),
            );
        }
        rlimits.push(Rlimit {
            resource,
            name,
            soft: r.soft(),
            hard: r.hard(),
        });
    }
    if let Some(adj) = p.oom_score_adj()
        && !(-1000..=1000).contains(&adj)
    {
        return invalid(
            "process.oomScoreAdj",
            format!("{adj} is outside -1000..1000"),
        );
    }
    let attrs = attrs(p)?;
    let console_size = p
        .console_size()
        .map(|b| (b.height() as u16, b.width() as u16));
    Ok(ProcessConfig {
        args,
        env: p.env().clone().unwrap_or_default(),
        cwd,
        terminal: p.terminal().unwrap_or(false),
        console_size,
        user,
        caps,
        rlimits,
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        oom_score_adj: p.oom_score_adj(),
        attrs,
        oci: p.clone(),
    })
}
/// The Linux process attributes of `p`. Public so that `exec` can convert a
/// `process.json` the same way.
pub fn attrs(p: &Process) -> Result<ProcessAttrs> {
    Ok(ProcessAttrs {
        scheduler: p.scheduler().as_ref().map(scheduler).transpose()?,
        io_priority: p.io_priority().as_ref().map(io_priority).transpose()?,
        exec_cpu_affinity: match p.exec_cpu_affinity() {
            None => None,
            Some(a) => Some(ExecCpuAffinity {
                initial: cpus("process.execCPUAffinity.initial", a.initial().as_deref())?,
                final_cpus: cpus(
                    "process.execCPUAffinity.final",
                    a.cpu_affinity_final().as_deref(),
                )?,
            }),
        },
        apparmor_profile: p.apparmor_profile().clone().filter(|s| !s.is_empty()),
        selinux_label: p.selinux_label().clone().filter(|s| !s.is_empty()),
    })
}

/// The kernel's `SCHED_*` policy numbers (`include/uapi/linux/sched.h`).
fn policy_number(p: LinuxSchedulerPolicy) -> u32 {
    use LinuxSchedulerPolicy as P;
    match p {
        P::SchedOther => 0,
        P::SchedFifo => 1,
        P::SchedRr => 2,
        P::SchedBatch => 3,
        P::SchedIso => 4,
        P::SchedIdle => 5,
        P::SchedDeadline => 6,
    }
}

fn sched_flag(f: LinuxSchedulerFlag) -> u64 {
    use LinuxSchedulerFlag as F;
    (match f {
        F::SchedResetOnFork => libc::SCHED_FLAG_RESET_ON_FORK,
        F::SchedFlagReclaim => libc::SCHED_FLAG_RECLAIM,
        F::SchedFlagDLOverrun => libc::SCHED_FLAG_DL_OVERRUN,
        F::SchedFlagKeepPolicy => libc::SCHED_FLAG_KEEP_POLICY,
        F::SchedFlagKeepParams => libc::SCHED_FLAG_KEEP_PARAMS,
        F::SchedFlagUtilClampMin => libc::SCHED_FLAG_UTIL_CLAMP_MIN,
        F::SchedFlagUtilClampMax => libc::SCHED_FLAG_UTIL_CLAMP_MAX,
    }) as u64
}

/// `process.scheduler`, with runc's rules (and SCHED_ISO, which Linux
/// reserves but never implemented, refused up front).
fn scheduler(s: &oci_spec::runtime::Scheduler) -> Result<Scheduler> {
    use LinuxSchedulerPolicy as P;
    let policy = *s.policy();
    let nice = s.nice().unwrap_or(0);
    let priority = s.priority().unwrap_or(0);
    let field = |f: &str| format!("process.scheduler.{f}");
    match policy {
        P::SchedIso => {
            return invalid(
                field("policy"),
                "SCHED_ISO is not implemented by the Linux kernel",
            );
        }
        P::SchedOther | P::SchedBatch if !(-20..=19).contains(&nice) => {
            return invalid(field("nice"), format!("{nice} is outside -20..19"));
        }
        P::SchedFifo | P::SchedRr if !(1..=99).contains(&priority) => {
            return invalid(
                field("priority"),
                format!("{priority} is outside 1..99, the range of {policy}"),
            );
        }
        P::SchedFifo | P::SchedRr => {}
        _ if priority != 0 => {
            return invalid(
                field("priority"),
                "can only be set for SCHED_FIFO or SCHED_RR",
            );
        }
        _ => {}
    }
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if policy != P::SchedDeadline && (runtime != 0 || deadline != 0 || period != 0) {
        return invalid(
            field("policy"),
            "runtime, deadline and period can only be set for SCHED_DEADLINE",
        );
    }
    Ok(Scheduler {
        policy: policy_number(policy),
        flags: s
            .flags()
            .iter()
            .flatten()
            .fold(0, |acc, f| acc | sched_flag(*f)),
        nice,
        priority: priority.max(0) as u32,
        runtime,
        deadline,
        period,
    })
}

fn io_priority(p: &oci_spec::runtime::LinuxIOPriority) -> Result<IoPriority> {
    if !(0..=7).contains(&p.priority()) {
        return invalid(
            "process.ioPriority.priority",
            format!("{} is outside 0..7", p.priority()),
        );
    }
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    Ok(IoPriority {
        class,
        level: p.priority() as u32,
    })
}

/// The most CPUs (and NUMA nodes) berth addresses: the size of the
/// kernel's `cpu_set_t`.
pub const MAX_CPUS: usize = 1024;

fn cpus(field: &str, list: Option<&str>) -> Result<Option<Vec<usize>>> {
    match list.filter(|l| !l.is_empty()) {
        None => Ok(None),
        Some(l) => parse_list(l, MAX_CPUS)
            .map(Some)
            .map_err(|msg| SpecError::invalid(field, msg)),
    }
}

/// Parses a kernel-style list ("0-3,7") into sorted, distinct numbers
/// below `limit`.
pub fn parse_list(list: &str, limit: usize) -> std::result::Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in list.split(',') {
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("{list:?} is not a list like \"0-3,7\""))
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(format!("range {part:?} is reversed"));
        }
        if hi >= limit {
            return Err(format!("{hi} is out of range (at most {})", limit - 1));
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs_of(extra: &str) -> Result<ProcessAttrs> {
        let json = format!(
            r#"{{"ociVersion":"1.3.0","root":{{"path":"r"}},
            "process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}},{extra}}}}}"#
        );
        let c = super::super::build(
            super::super::parse(json.as_bytes())?,
            std::path::Path::new("/b"),
        )?;
        Ok(c.process.expect("process").attrs)
    }

    fn err(extra: &str) -> String {
        attrs_of(extra).expect_err("must be rejected").to_string()
    }

    #[test]
    fn scheduler_is_converted_and_checked() {
        let a = attrs_of(
            r#""scheduler":{"policy":"SCHED_BATCH","nice":5,"flags":["SCHED_FLAG_RESET_ON_FORK"]}"#,
        )
        .expect("valid");
        assert_eq!(
            a.scheduler,
            Some(Scheduler {
                policy: 3,
                flags: 1,
                nice: 5,
                ..Scheduler::default()
            })
        );
        let a = attrs_of(r#""scheduler":{"policy":"SCHED_DEADLINE","runtime":10000000,"deadline":30000000,"period":30000000}"#)
            .expect("valid");
        assert_eq!(
            a.scheduler.map(|s| (s.policy, s.period)),
            Some((6, 30_000_000))
        );
        assert!(
            err(r#""scheduler":{"policy":"SCHED_ISO"}"#)
                .contains("process.scheduler.policy: SCHED_ISO is not implemented")
        );
        assert!(
            err(r#""scheduler":{"policy":"SCHED_OTHER","nice":20}"#)
                .contains("process.scheduler.nice: 20 is outside -20..19")
        );
        assert!(
            err(r#""scheduler":{"policy":"SCHED_FIFO"}"#)
                .contains("process.scheduler.priority: 0 is outside 1..99")
        );
        assert!(
            err(r#""scheduler":{"policy":"SCHED_IDLE","priority":3}"#)
                .contains("process.scheduler.priority: can only be set")
        );
        assert!(
            err(r#""scheduler":{"policy":"SCHED_RR","priority":3,"runtime":5}"#)
                .contains("runtime, deadline and period can only be set for SCHED_DEADLINE")
        );
        assert!(
            err(r#""scheduler":{"policy":"SCHED_NOPE"}"#)
                .contains("process.scheduler.policy: unknown scheduler policy \"SCHED_NOPE\"")
        );
    }

    #[test]
    fn io_priority_and_labels() {
        let a = attrs_of(r#""ioPriority":{"class":"IOPRIO_CLASS_IDLE","priority":7},"apparmorProfile":"p","selinuxLabel":"""#)
            .expect("valid");
        assert_eq!(a.io_priority, Some(IoPriority { class: 3, level: 7 }));
        assert_eq!(a.apparmor_profile.as_deref(), Some("p"));
        assert_eq!(a.selinux_label, None);
        assert!(
            err(r#""ioPriority":{"class":"IOPRIO_CLASS_BE","priority":8}"#)
                .contains("process.ioPriority.priority: 8 is outside 0..7")
        );
        assert!(
            err(r#""ioPriority":{"class":"IOPRIO_CLASS_NONE","priority":1}"#)
                .contains("process.ioPriority.class: unknown I/O priority class")
        );
    }

    #[test]
    fn exec_cpu_affinity_lists() {
        let a = attrs_of(r#""execCPUAffinity":{"initial":"0-2,7","final":"1"}"#).expect("valid");
        assert_eq!(
            a.exec_cpu_affinity,
            Some(ExecCpuAffinity {
                initial: Some(vec![0, 1, 2, 7]),
                final_cpus: Some(vec![1])
            })
        );
        assert!(
            err(r#""execCPUAffinity":{"final":"1-2000"}"#)
                .contains("process.execCPUAffinity.final: 2000 is out of range")
        );
        assert!(err(r#""execCPUAffinity":{"initial":"x"}"#).contains("process.execCPUAffinity"));
    }

    #[test]
    fn lists() {
        assert_eq!(parse_list("3,0-1,1", 8), Ok(vec![0, 1, 3]));
        assert!(parse_list("", 8).is_err());
        assert!(parse_list("1-", 8).is_err());
        assert!(parse_list("8", 8).is_err());
    }
}
