//! Translating `linux.seccomp` into a BPF program with libseccomp.
//!
//! The program is compiled by the parent before `clone3` and loaded by the
//! init with `seccomp(2)` where [`load_point`] says (see
//! [`crate::sys::seccomp`]). Unknown syscall names are skipped, as runc does.

use std::io::Read;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use crate::sys::seccomp::Program;

pub mod cache;
pub mod enosys;

/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19), not yet in libc.
pub const FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;

/// Compilation failures.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("linux.seccomp.{field}: {msg}")]
    Invalid { field: String, msg: String },
    #[error("seccomp: {what}: {msg}")]
    Lib { what: String, msg: String },
}

fn lib(what: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let what = what.into();
    move |e| SeccompError::Lib {
        what,
        msg: e.to_string(),
    }
}

/// A compiled filter, ready to load.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub program: Program,
    /// `SECCOMP_FILTER_FLAG_*` for `seccomp(2)`.
    pub flags: libc::c_ulong,
    /// Whether a notification listener is created (SCMP_ACT_NOTIFY used).
    pub notify: bool,
}

/// When a process's filter is loaded, relative to the user switch and
/// `execve` (the init and `exec` decide the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadPoint {
    /// Before the user switch: without `noNewPrivileges`, loading needs
    /// `CAP_SYS_ADMIN`, which the final effective set lacks (as runc).
    BeforeIdentity,
    /// Right after the user switch, while berth is still there: the
    /// notification listener's descriptor must reach it.
    AfterIdentity,
    /// As late as possible. In the init: once the gate opens (the
    /// `exec.fifo` byte, or `Start` for `run`), before the startContainer
    /// hooks, which run under the container's filter as with runc; after
    /// it berth only spawns those hooks, writes the LSM exec labels,
    /// closes descriptors and execs. In `exec`: right before `execve`.
    Last,
}

/// Where a filter with (or without) a notification listener is loaded for
/// a process with these `noNewPrivileges` and effective capabilities.
pub fn load_point(
    notify: bool,
    no_new_privileges: bool,
    effective: &caps::CapsHashSet,
) -> LoadPoint {
    if !no_new_privileges && !effective.contains(&caps::Capability::CAP_SYS_ADMIN) {
        LoadPoint::BeforeIdentity
    } else if notify {
        LoadPoint::AfterIdentity
    } else {
        LoadPoint::Last
    }
}

/// Maps a spec action (and its errno) to libseccomp's. `errno` defaults to
/// EPERM as in runc.
pub fn action(a: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    use LinuxSeccompAction as A;
    match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(errno.map_or(libc::EPERM, |e| e as i32)),
        A::ScmpActTrace => ScmpAction::Trace(errno.map_or(libc::EPERM as u16, |e| e as u16)),
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActNotify => ScmpAction::Notify,
    }
}

/// Maps a spec operator to libseccomp's comparison.
pub fn compare(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> ScmpArgCompare {
    use LinuxSeccompOperator as O;
    let (op, datum) = match op {
        O::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        O::ScmpCmpLt => (ScmpCompareOp::Less, value),
        O::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        O::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        O::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        O::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        O::ScmpCmpMaskedEq => (ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0)),
    };
    ScmpArgCompare::new(index as u32, op, datum)
}

/// The kernel flag for a spec filter flag. `TSYNC` maps to nothing, as in
/// runc: the filter is loaded by a single-threaded process, so there are no
/// other threads to synchronise (and the kernel refuses `TSYNC` together
/// with a notification listener).
pub fn flag(f: LinuxSeccompFilterFlag) -> libc::c_ulong {
    match f {
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
    }
}

/// Every architecture name of the runtime spec.
pub const ARCHS: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// The architectures the installed libseccomp can add to a filter (2.5
/// lacks LoongArch, m68k and SuperH), for `features`.
pub fn supported_archs() -> Vec<&'static str> {
    ARCHS
        .iter()
        .copied()
        .filter(|name| {
            let Ok(arch) = name.parse::<ScmpArch>() else {
                return false;
            };
            ScmpFilterContext::new(ScmpAction::Allow)
                .and_then(|mut ctx| ctx.add_arch(arch).map(drop))
                .is_ok()
        })
        .collect()
}

/// Compiles the filter: libseccomp's program, with the ENOSYS stub in
/// front of it when the default action denies (see [`enosys`]).
pub fn compile(s: &LinuxSeccomp) -> Result<Compiled, SeccompError> {
    let default = action(s.default_action(), s.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(lib("create filter"))?;
    // libseccomp's context holds the native architecture from the start,
    // whatever the list says, as runc's does.
    let archs = add_archs(&mut ctx, s)?;
    let notify = add_rules(&mut ctx, s, default)?;
    let mut flags: libc::c_ulong = 0;
    for f in s.flags().as_deref().unwrap_or_default() {
        flags |= flag(*f);
    }
    if notify {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    }
    let program = export(&ctx)?.with_prefix(enosys_stub(s, &archs));
    Ok(Compiled {
        program,
        flags,
        notify,
    })
}

/// Adds the listed architectures; returns them.
fn add_archs(ctx: &mut ScmpFilterContext, s: &LinuxSeccomp) -> Result<Vec<ScmpArch>, SeccompError> {
    let mut out = Vec::new();
    for (i, arch) in s
        .architectures()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let a: ScmpArch = name.parse().map_err(|_| SeccompError::Invalid {
            field: format!("architectures[{i}]"),
            msg: format!("unknown architecture {name:?}"),
        })?;
        ctx.add_arch(a).map_err(|e| SeccompError::Invalid {
            field: format!("architectures[{i}]"),
            msg: format!(
                "{name} is not supported by libseccomp {}: {e}",
                library_version()
            ),
        })?;
        out.push(a);
    }
    Ok(out)
}

/// Adds the rules (names libseccomp does not know are skipped); returns
/// whether any notifies.
fn add_rules(
    ctx: &mut ScmpFilterContext,
    s: &LinuxSeccomp,
    default: ScmpAction,
) -> Result<bool, SeccompError> {
    let mut notify = s.default_action() == LinuxSeccompAction::ScmpActNotify;
    for (i, rule) in s
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let act = action(rule.action(), rule.errno_ret());
        if act == default {
            continue; // libseccomp refuses rules equal to the default action
        }
        notify |= rule.action() == LinuxSeccompAction::ScmpActNotify;
        let args = rule.args().as_deref().unwrap_or_default();
        let conds: Vec<ScmpArgCompare> = args
            .iter()
            .map(|a| compare(a.index(), a.op(), a.value(), a.value_two()))
            .collect();
        let mut indexes: Vec<usize> = args.iter().map(|a| a.index()).collect();
        indexes.sort_unstable();
        indexes.dedup();
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                tracing::debug!("seccomp: unknown syscall {name:?} skipped");
                continue;
            };
            let r = if conds.is_empty() {
                ctx.add_rule(act, sc).map(drop)
            } else if indexes.len() == conds.len() {
                ctx.add_rule_conditional(act, sc, &conds).map(drop)
            } else {
                // libseccomp needs distinct argument indexes in one rule;
                // with repeats, each condition becomes a rule of its own
                // (runc's behaviour).
                conds.iter().try_for_each(|c| {
                    ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                        .map(drop)
                })
            };
            r.map_err(|e| SeccompError::Invalid {
                field: format!("syscalls[{i}]"),
                msg: format!("{name}: {e}"),
            })?;
        }
    }
    Ok(notify)
}

/// Whether unknown calls get ENOSYS from the stub: only when the default
/// action denies and `defaultErrnoRet` is not already ENOSYS (runc's rule,
/// which looks at `defaultErrnoRet` whatever the action; a tracer handles
/// new calls itself, so TRACE counts as allowing).
pub fn wants_enosys_stub(s: &LinuxSeccomp) -> bool {
    use LinuxSeccompAction as A;
    s.default_errno_ret() != Some(libc::ENOSYS as u32)
        && !matches!(
            s.default_action(),
            A::ScmpActAllow | A::ScmpActLog | A::ScmpActTrace
        )
}

/// The stub's instructions for `s` on a filter of `archs` and the native
/// architecture. Each name is resolved once per architecture through
/// libseccomp's hash tables: about 0.1 ms for Docker's profile (three
/// architectures, 358 names).
fn enosys_stub(s: &LinuxSeccomp, archs: &[ScmpArch]) -> Vec<libc::sock_filter> {
    if !wants_enosys_stub(s) {
        return Vec::new();
    }
    let names: Vec<&str> = s
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .flat_map(|r| r.names().iter().map(String::as_str))
        .collect();
    let native = ScmpArch::native();
    let mut all = vec![native];
    for a in archs {
        if *a != ScmpArch::Native && !all.contains(a) {
            all.push(*a);
        }
    }
    let mut limits = enosys::Limits::default();
    for a in all {
        limits.add(a, enosys::largest(&names, a));
    }
    enosys::stub(&limits)
}

fn export(ctx: &ScmpFilterContext) -> Result<Program, SeccompError> {
    let mfd = nix::sys::memfd::memfd_create(c"seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| SeccompError::Lib {
            what: "memfd".into(),
            msg: e.to_string(),
        })?;
    ctx.export_bpf(&mfd).map_err(lib("export"))?;
    let mut f = std::fs::File::from(mfd);
    let mut bytes = Vec::new();
    std::io::Seek::rewind(&mut f).map_err(|e| SeccompError::Lib {
        what: "read program".into(),
        msg: e.to_string(),
    })?;
    f.read_to_end(&mut bytes).map_err(|e| SeccompError::Lib {
        what: "read program".into(),
        msg: e.to_string(),
    })?;
    Program::from_bytes(&bytes).ok_or(SeccompError::Lib {
        what: "export".into(),
        msg: "empty program".into(),
    })
}

/// Whether the filter lets `name` through whatever its arguments: a rule
/// without conditions naming it, or else the default action, allows (or
/// logs) it. Pure; used to pick a way of exec'ing the filter permits.
pub fn allows(s: &LinuxSeccomp, name: &str) -> bool {
    let allowing = |a: LinuxSeccompAction| {
        matches!(
            a,
            LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
        )
    };
    for rule in s.syscalls().as_deref().unwrap_or_default() {
        if rule.names().iter().any(|n| n == name)
            && rule.args().as_ref().is_none_or(|a| a.is_empty())
        {
            return allowing(rule.action());
        }
    }
    allowing(s.default_action())
}

/// The libseccomp version, for `berth --version`.
pub fn library_version() -> String {
    libseccomp::ScmpVersion::current().map_or("unknown".into(), |v| {
        format!("{}.{}.{}", v.major, v.minor, v.micro)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_points() {
        let none = caps::CapsHashSet::new();
        let admin = caps::CapsHashSet::from([caps::Capability::CAP_SYS_ADMIN]);
        // runc's default: no no_new_privs, no CAP_SYS_ADMIN.
        assert_eq!(load_point(false, false, &none), LoadPoint::BeforeIdentity);
        assert_eq!(load_point(true, false, &none), LoadPoint::BeforeIdentity);
        assert_eq!(load_point(false, true, &none), LoadPoint::Last);
        assert_eq!(load_point(true, true, &none), LoadPoint::AfterIdentity);
        assert_eq!(load_point(false, false, &admin), LoadPoint::Last);
        assert_eq!(load_point(true, false, &admin), LoadPoint::AfterIdentity);
    }

    fn seccomp(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("valid seccomp")
    }

    #[test]
    fn compiles_rules_and_skips_unknown_syscalls() {
        let s = seccomp(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
            "syscalls":[{"names":["mkdir","no_such_syscall"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
                        {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_NE"}]},
                        {"names":["ioctl"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]},
                        {"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let c = compile(&s).expect("compiles");
        assert!(c.program.len() > 4);
        assert!(!c.notify);
        assert_eq!(c.flags, 0);
    }

    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0001;
    const X86_64: u32 = 0xC000_003E;
    const I386: u32 = 0x4000_0003;

    fn outcome(c: &Compiled, arch: u32, nr: u32) -> u32 {
        enosys::bpf::run(c.program.insns(), arch, nr, [0; 6])
    }

    /// Docker 20.10's default profile, as dockerd sends it in config.json.
    fn docker() -> LinuxSeccomp {
        let c: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/docker/config.json")).expect("json");
        serde_json::from_value(c["linux"]["seccomp"].clone()).expect("seccomp")
    }

    #[test]
    fn calls_newer_than_dockers_profile_get_enosys() {
        let c = compile(&docker()).expect("compiles");
        let enosys = enosys::RET_ENOSYS;
        // fchmodat2, statmount, mseal and a number no kernel has: above
        // the profile's largest x86_64 call (futex_waitv, 449).
        for nr in [452, 457, 462, 999] {
            assert_eq!(outcome(&c, X86_64, nr), enosys, "x86_64 {nr}");
            assert_eq!(outcome(&c, I386, nr + 100), enosys, "i386 {nr}");
            assert_eq!(
                outcome(&c, X86_64, enosys::X32_BIT | (nr + 100)),
                enosys,
                "x32 {nr}"
            );
        }
        // Below it, the profile decides: mkdir allowed, mount (not in a
        // profile without CAP_SYS_ADMIN) and quotactl_fd (443, not named)
        // the default EPERM, clone3 its own ENOSYS.
        assert_eq!(outcome(&c, X86_64, libc::SYS_mkdir as u32), ALLOW);
        assert_eq!(outcome(&c, X86_64, libc::SYS_mount as u32), EPERM);
        assert_eq!(outcome(&c, X86_64, 443), EPERM);
        assert_eq!(outcome(&c, X86_64, 450), enosys);
        assert_eq!(outcome(&c, X86_64, libc::SYS_clone3 as u32), enosys);
        assert_eq!(outcome(&c, I386, 21), EPERM, "i386 mount");
        assert_eq!(outcome(&c, I386, 20), ALLOW, "i386 getpid");
        // An architecture outside the filter: killed.
        assert_eq!(outcome(&c, 0xC000_00B7, 999), 0);
    }

    #[test]
    fn the_native_architecture_is_always_filtered() {
        // Only foreign architectures listed: x86_64 calls are still
        // filtered, and get ENOSYS above the profile's largest x86_64 call.
        let s = seccomp(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[{"names":["mkdir","getpid","exit_group"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let c = compile(&s).expect("compiles");
        assert_eq!(outcome(&c, X86_64, libc::SYS_mkdir as u32), ALLOW);
        assert_eq!(outcome(&c, X86_64, libc::SYS_rmdir as u32), EPERM);
        assert_eq!(outcome(&c, X86_64, 999), enosys::RET_ENOSYS);
        assert_eq!(outcome(&c, I386, 20), ALLOW);
        assert_eq!(outcome(&c, I386, 999), enosys::RET_ENOSYS);
        // The same with one foreign architecture, or none listed.
        for archs in [r#"["SCMP_ARCH_X32"]"#, r#"["SCMP_ARCH_AARCH64"]"#, "[]"] {
            let s = seccomp(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ERRNO","architectures":{archs},
                "syscalls":[{{"names":["mkdir","getpid","exit_group"],"action":"SCMP_ACT_ALLOW"}}]}}"#
            ));
            let c = compile(&s).expect("compiles");
            assert_eq!(
                outcome(&c, X86_64, libc::SYS_mkdir as u32),
                ALLOW,
                "{archs}"
            );
            assert_eq!(
                outcome(&c, X86_64, libc::SYS_rmdir as u32),
                EPERM,
                "{archs}"
            );
            assert_eq!(outcome(&c, X86_64, 999), enosys::RET_ENOSYS, "{archs}");
        }
    }

    #[test]
    fn no_stub_when_the_default_allows_or_says_enosys() {
        for (default, errno, stub) in [
            ("SCMP_ACT_ALLOW", None, false),
            ("SCMP_ACT_LOG", None, false),
            ("SCMP_ACT_TRACE", None, false),
            ("SCMP_ACT_ERRNO", Some(38), false),
            ("SCMP_ACT_ERRNO", Some(1), true),
            ("SCMP_ACT_ERRNO", None, true),
            ("SCMP_ACT_KILL", None, true),
            ("SCMP_ACT_KILL", Some(38), false),
            ("SCMP_ACT_KILL_PROCESS", None, true),
            ("SCMP_ACT_TRAP", None, true),
        ] {
            let mut j = serde_json::json!({"defaultAction": default,
                "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_KILL"}]});
            if let Some(e) = errno {
                j["defaultErrnoRet"] = e.into();
            }
            let s: LinuxSeccomp = serde_json::from_value(j).expect("seccomp");
            assert_eq!(wants_enosys_stub(&s), stub, "{default} {errno:?}");
            let c = compile(&s).expect("compiles");
            let got = outcome(&c, X86_64, 999);
            assert_eq!(
                got == enosys::RET_ENOSYS,
                stub || (default == "SCMP_ACT_ERRNO" && errno == Some(38)),
                "{default}"
            );
        }
    }

    #[test]
    fn notify_and_flags() {
        let s = seccomp(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/l.sock","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        let c = compile(&s).expect("compiles");
        assert!(c.notify);
        assert_eq!(
            c.flags,
            libc::SECCOMP_FILTER_FLAG_LOG
                | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
                | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        );
    }

    #[test]
    fn allows_follows_rules_then_the_default() {
        let s = seccomp(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["execve","read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(allows(&s, "execve"));
        assert!(!allows(&s, "execveat"));
        let s = seccomp(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execveat"],"action":"SCMP_ACT_KILL"}]}"#,
        );
        assert!(!allows(&s, "execveat"));
        assert!(allows(&s, "mkdir"));
    }

    #[test]
    fn actions_and_operators_map() {
        assert_eq!(
            action(LinuxSeccompAction::ScmpActErrno, None),
            ScmpAction::Errno(libc::EPERM)
        );
        assert_eq!(
            action(LinuxSeccompAction::ScmpActErrno, Some(38)),
            ScmpAction::Errno(38)
        );
        assert_eq!(
            action(LinuxSeccompAction::ScmpActKill, None),
            ScmpAction::KillThread
        );
        assert_eq!(
            action(LinuxSeccompAction::ScmpActKillProcess, None),
            ScmpAction::KillProcess
        );
        let c = compare(2, LinuxSeccompOperator::ScmpCmpMaskedEq, 0xff, Some(0x10));
        assert_eq!(
            c,
            ScmpArgCompare::new(2, ScmpCompareOp::MaskedEqual(0xff), 0x10)
        );
    }
}
