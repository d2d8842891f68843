//! Seccomp as runc applies it, proven from inside the container: an
//! allowlist runc's init starts under is enough for berth's init (`run`
//! and `exec`, with and without noNewPrivileges), and startContainer hooks
//! run under the container's filter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fixture, s};
use serde_json::{Value, json};

/// The allowlist of issue 10: `sh -c 'echo alive'` starts under it with
/// runc (whose init, after loading the filter, only reads and writes its
/// pipe, switches user and execs).
const ALLOWLIST: &[&str] = &[
    "read",
    "write",
    "openat",
    "close",
    "fstat",
    "newfstatat",
    "execve",
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "arch_prctl",
    "exit_group",
    "exit",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "getpid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "ioctl",
    "fcntl",
    "futex",
    "set_tid_address",
    "set_robust_list",
    "prlimit64",
    "getrandom",
    "rseq",
    "uname",
    "lseek",
    "wait4",
    "clone",
    "vfork",
    "fork",
    "dup2",
    "dup3",
    "pipe",
    "pipe2",
    "getcwd",
    "chdir",
    "stat",
    "lstat",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents64",
    "capget",
    "capset",
    "prctl",
    "setgroups",
    "setresuid",
    "setresgid",
    "setuid",
    "setgid",
    "fchown",
    "fchdir",
    "select",
    "pselect6",
    "poll",
    "ppoll",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "nanosleep",
    "clock_nanosleep",
    "sched_yield",
    "sigaltstack",
    "statx",
    "getpgrp",
    "setpgid",
    "getpgid",
    "kill",
    "tgkill",
    "close_range",
    "fstatfs",
    "statfs",
    "getdents",
    "sched_getaffinity",
    "gettid",
    "madvise",
];

fn allowlist() -> Value {
    json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
           "architectures": ["SCMP_ARCH_X86_64"],
           "syscalls": [{"names": ALLOWLIST, "action": "SCMP_ACT_ALLOW"}]})
}

#[test]
fn an_allowlist_runc_starts_under_is_enough_for_run_and_exec() {
    for nnp in [false, true] {
        // run, and create + start.
        let f = Fixture::new(&format!("scc-allow-{nnp}"), &["sh", "-c", "echo alive"]);
        f.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["linux"]["seccomp"] = allowlist();
        });
        assert_eq!(f.output("c1"), "alive\n", "noNewPrivileges {nnp}");
        f.separate_cgroup("created");
        f.create("c2");
        f.ok(&["start", "c2"]);
        f.wait_status("c2", "stopped");
        f.ok(&["delete", "c2"]);
        // exec into a container whose process has the filter, with the
        // config's noNewPrivileges and with --no-new-privs.
        f.separate_cgroup("exec");
        f.edit(|c| c["process"]["args"] = json!(["sleep", "1000"]));
        let b = f.bundle.to_string_lossy().to_string();
        f.ok(&["run", "-d", "--bundle", &b, "c3"]);
        let out = f.ok(&[
            "exec",
            "c3",
            "sh",
            "-c",
            "echo alive; grep Seccomp: /proc/self/status",
        ]);
        assert_eq!(out, "alive\nSeccomp:\t2\n", "exec, noNewPrivileges {nnp}");
        let out = f.ok(&["exec", "--no-new-privs", "c3", "sh", "-c", "echo alive"]);
        assert_eq!(out, "alive\n");
        f.ok(&["delete", "--force", "c3"]);
        f.assert_clean();
    }
}

/// A container whose startContainer hook runs `mkdir /dev/shm/hook` under
/// a filter with `rule` for mkdir; returns `start`'s stderr.
fn start_with_mkdir_hook(name: &str, nnp: bool, rule: Value) -> String {
    let f = Fixture::new(name, &["sh", "-c", "echo program-ran > /dev/shm/ran"]);
    f.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(nnp);
        c["hooks"] = json!({"startContainer": [
            {"path": "/bin/mkdir", "args": ["mkdir", "/dev/shm/hook"]}
        ]});
        let mut r = rule;
        r["names"] = json!(["mkdir", "mkdirat"]);
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [r]});
    });
    f.create("c1");
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    let root = format!("/proc/{pid}/root/dev/shm");
    let out = f.berth(&["start", "c1"]);
    let err = s(&out.stderr);
    assert!(!out.status.success(), "the hook must fail under the filter");
    // Neither the hook's directory nor the program's file exists (the
    // init may be gone already; then its /dev/shm went with it).
    assert!(!std::path::Path::new(&format!("{root}/hook")).exists());
    assert!(!std::path::Path::new(&format!("{root}/ran")).exists());
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
    err
}

#[test]
fn start_container_hooks_run_under_the_containers_filter() {
    // noNewPrivileges: the filter is loaded at the gate, before the hook.
    let err = start_with_mkdir_hook(
        "scc-hook-errno",
        true,
        json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 28}),
    );
    assert!(
        err.contains("startContainer hook #0 (/bin/mkdir): exit status 1")
            && err.contains("No space left on device"),
        "{err}"
    );
    // Without it the filter is loaded before the user switch: the same.
    let err = start_with_mkdir_hook(
        "scc-hook-kill",
        false,
        json!({"action": "SCMP_ACT_KILL_PROCESS"}),
    );
    assert!(
        err.contains("startContainer hook #0 (/bin/mkdir): killed by signal 31"),
        "{err}"
    );
}
