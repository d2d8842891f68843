//! Seccomp as runc applies it, proven from inside the container: an
//! allowlist runc's init starts under is enough for berth's init (`run`
//! and `exec`, with and without noNewPrivileges), and startContainer hooks
//! run under the container's filter; system calls newer than a profile get
//! ENOSYS (Docker's default profile, compared with runc), and the native
//! architecture is filtered whatever the profile lists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use common::{Fixture, TIMEOUT, s, wait_timeout};
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

/// Docker 20.10's default seccomp profile, as dockerd sent it to the
/// runtime for `docker run busybox` (captured, unmodified).
fn docker_profile() -> Value {
    let c: Value = serde_json::from_str(include_str!("data/docker/config.json")).unwrap();
    c["linux"]["seccomp"].clone()
}

/// Runs the fixture's bundle with runc 1.1 (its own state root and
/// cgroup); returns its stdout.
fn runc_output(f: &Fixture, id: &str) -> String {
    f.separate_cgroup("runc");
    let root = f.dir.path().join("runc-state");
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let mut child = Command::new("runc")
        .arg("--root")
        .arg(&root)
        .args(["run", "--bundle"])
        .arg(&f.bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .expect("runc (apt-get install runc)");
    let st = wait_timeout(&mut child, TIMEOUT);
    let _ = Command::new("runc")
        .arg("--root")
        .arg(&root)
        .args(["delete", "--force", id])
        .output();
    let read = |f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut f = f;
        let mut v = Vec::new();
        f.rewind().unwrap();
        f.read_to_end(&mut v).unwrap();
        s(&v)
    };
    assert!(
        st.is_some_and(|st| st.success()),
        "runc run: {st:?}\nstderr: {}",
        read(err)
    );
    read(out)
}

#[test]
fn calls_newer_than_dockers_profile_get_enosys_as_with_runc() {
    // x86_64: fchmodat2 (452), statmount (457), mseal (462) and 999 are
    // above the profile's largest call (futex_waitv, 449): ENOSYS, as glibc
    // 2.39 needs to fall back from fchmodat2. Below it the profile decides:
    // quotactl_fd (443, not named) the default EPERM, mkdir allowed
    // (EFAULT on a null path). i386 the same, through int $0x80: mount
    // (21) refused, getpid (20) allowed.
    let script = "for n in 452 457 462 999 443 83; do probe syscall $n; done; \
                  for n in 452 999 21; do probe i386-syscall $n; done; \
                  probe i386-syscall 20 | grep -c ret=";
    let want = "errno=38\nerrno=38\nerrno=38\nerrno=38\nerrno=1\nerrno=14\n\
                errno=38\nerrno=38\nerrno=1\n1\n";
    let f = Fixture::new("scc-docker", &["sh", "-c", script]);
    f.install_probe();
    f.edit(|c| c["linux"]["seccomp"] = docker_profile());
    assert_eq!(f.output("c1"), want, "berth");
    assert_eq!(runc_output(&f, "c2"), want, "runc");
    f.assert_clean();
}

#[test]
fn the_native_architecture_is_filtered_whatever_the_profile_lists() {
    // Only i386 and x32 listed: x86_64 calls are filtered all the same
    // (libseccomp's filter always holds the native architecture): rmdir is
    // refused, and a call above the profile's largest gets ENOSYS, as with
    // runc 1.1.15 and later (opencontainers/runc#4391, "always include
    // native architecture in stub"; the runc 1.1.5 of Debian 12 predates
    // it and gives the default EPERM there).
    let mut names: Vec<&str> = ALLOWLIST.to_vec();
    names.push("mkdir");
    let script = "probe syscall 84; probe syscall 83; probe syscall 999; probe i386-syscall 999";
    let want = "errno=1\nerrno=14\nerrno=38\nerrno=38\n";
    let f = Fixture::new("scc-native", &["sh", "-c", script]);
    f.install_probe();
    f.edit(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]});
    });
    assert_eq!(f.output("c1"), want, "berth");
    let runc = runc_output(&f, "c2");
    let lines: Vec<&str> = runc.lines().collect();
    assert!(
        matches!(
            lines[..],
            ["errno=1", "errno=14", "errno=1" | "errno=38", "errno=38"]
        ),
        "runc: {runc}"
    );
    f.assert_clean();
}
