//! Docker (Debian's docker.io 20.10: dockerd, its managed containerd and
//! the runc v2 shim) drives berth. The test starts its own dockerd with a
//! private data root, exec root, socket and pid file, no bridge and no
//! iptables, the vfs storage driver, berth added with `--add-runtime` and
//! made the default runtime, and a cgroup parent of its own; a busybox
//! image comes from `docker import` of a busybox rootfs (with the static
//! probe as `/bin/probe`). One dockerd serves every scenario of
//! `docker_runs_berth_containers`; `--userns-remap default` is a daemon
//! option, so `docker_userns_remap` starts a second one. Each dockerd is
//! stopped by its PID at the end and nothing of it may remain: no berth
//! state, mounts, cgroups or processes.
//!
//! The scenarios all run, and the test fails listing every one that
//! failed. `BERTH_CALLER_RUNTIME=runc` runs them against runc.
//!
//! Run by the caller section of `.ci/test` (`cargo test --test
//! caller_docker -- --ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callers;
mod common;

#[path = "callers/dockerd.rs"]
mod dockerd;

use std::process::{Command, Stdio};

use callers::{ok, run, run_on_tty, wait_for};
use dockerd::{Dockerd, Scenario, run_scenarios};

#[test]
#[ignore = "caller test: needs docker.io; run by .ci/test's caller section"]
fn docker_runs_berth_containers() {
    let d = Dockerd::start("docker", &[]);
    let scenarios: &[Scenario] = &[
        ("run --rm and exit codes", run_rm_and_exit_codes),
        ("stdio without -i", stdio_without_i),
        ("-it with a tty", run_with_tty),
        ("-d, exec -u -w -e, logs", detached_exec_logs),
        ("stop", stop),
        ("pause and unpause", pause_unpause),
        ("update", update),
        ("stats --no-stream and top", stats_and_top),
        ("exec health check", health_check),
        ("--read-only --tmpfs", read_only_tmpfs),
        ("--user", user),
        ("--cap-drop ALL --cap-add", capabilities),
        ("default seccomp profile", default_seccomp),
        ("--memory OOM is exit 137", memory_oom),
        (
            "--sysctl in host namespaces refused",
            sysctl_host_namespaces,
        ),
    ];
    run_scenarios(&d, scenarios);
    d.finish();
}

fn run_rm_and_exit_codes(d: &Dockerd) {
    let out = ok(&mut d.run(&["--rm"], &["sh", "-c", "echo hello-$((6*7)); id -u"]));
    assert_eq!(out, "hello-42\n0\n");
    let out = run(&mut d.run(&["--rm"], &["sh", "-c", "exit 3"]));
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    // Docker maps the runtime's exec errors: not found 127, not
    // executable 126; the runtime's message reaches the client.
    let out = run(&mut d.run(&["--rm"], &["nope-cmd"]));
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        common::s(&out.stderr).contains("exec: \"nope-cmd\": executable file not found in $PATH"),
        "{out:?}"
    );
    let out = run(&mut d.run(&["--rm"], &["/etc/passwd"]));
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(
        common::s(&out.stderr).contains("permission denied"),
        "{out:?}"
    );
    // `-w` of a missing directory (dockerd creates it in the rootfs before
    // the runtime runs; the process starts there).
    let out = ok(&mut d.run(&["--rm", "-w", "/new/dir"], &["pwd"]));
    assert_eq!(out, "/new/dir\n");
}

/// Without `-i` the shim passes the host's `/dev/null`, read-only, as
/// stdin; the runtime reopens it on the container's `/dev/null` (issue 10
/// item 4), which is writable.
fn stdio_without_i(d: &Dockerd) {
    let out = ok(&mut d.run(
        &["--rm"],
        &[
            "sh",
            "-c",
            "echo x >&0 && echo stdin-writable; ls -lL /proc/self/fd/0 | cut -c1-10",
        ],
    ));
    assert_eq!(out, "stdin-writable\ncrw-rw-rw-\n");
}

fn run_with_tty(d: &Dockerd) {
    let (code, out) = run_on_tty(&mut d.run(
        &["--rm", "-it"],
        &[
            "sh",
            "-c",
            "tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; exit 4",
        ],
    ));
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("both-ttys"), "{out}");
    // `-i` without a tty: stdin reaches the container through a pipe.
    let mut child = d
        .run(&["--rm", "-i"], &["sh", "-c", "tr a-z A-Z; echo eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"piped in\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(common::s(&out.stdout), "PIPED IN\neof\n");
}

fn detached_exec_logs(d: &Dockerd) {
    ok(&mut d.run(
        &["-d", "--name", "b-exec"],
        &["sh", "-c", "echo started; exec sleep 1000"],
    ));
    assert_eq!(d.inspect("b-exec", "{{.HostConfig.Runtime}}"), "berth");
    let id = d.inspect("b-exec", "{{.Id}}");
    assert!(
        d.runtime_root().join(&id).exists(),
        "the runtime's state for {id} under {}",
        d.runtime_root().display()
    );
    let out = ok(d.docker().args([
        "exec",
        "-u",
        "1000:1000",
        "-w",
        "/tmp",
        "-e",
        "FOO=bar",
        "b-exec",
        "sh",
        "-c",
        "id -u; id -g; pwd; echo $FOO; cat /proc/1/cmdline",
    ]));
    assert_eq!(out, "1000\n1000\n/tmp\nbar\nsleep\u{0}1000\u{0}");
    let out = run(d.docker().args(["exec", "b-exec", "sh", "-c", "exit 5"]));
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let (code, out) = run_on_tty(d.docker().args(["exec", "-it", "b-exec", "tty"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    let out = ok(d.docker().args(["logs", "b-exec"]));
    assert_eq!(out, "started\n");
    d.rm(&["b-exec"]);
}

fn stop(d: &Dockerd) {
    // TERM handled: the handler's output and its exit status.
    ok(&mut d.run(
        &["-d", "--name", "b-term"],
        &[
            "sh",
            "-c",
            "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    ));
    wait_for("b-term's trap", || {
        ok(d.docker().args(["logs", "b-term"])).contains("ready")
    });
    ok(d.docker().args(["stop", "b-term"]));
    assert_eq!(d.inspect("b-term", "{{.State.ExitCode}}"), "0");
    assert_eq!(ok(d.docker().args(["logs", "b-term"])), "ready\ngot-term\n");
    // TERM ignored: killed after the timeout.
    ok(&mut d.run(
        &["-d", "--name", "b-ignore"],
        &[
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    ));
    wait_for("b-ignore's trap", || {
        ok(d.docker().args(["logs", "b-ignore"])).contains("ready")
    });
    ok(d.docker().args(["stop", "-t", "2", "b-ignore"]));
    assert_eq!(d.inspect("b-ignore", "{{.State.ExitCode}}"), "137");
    d.rm(&["b-term", "b-ignore"]);
}

fn pause_unpause(d: &Dockerd) {
    ok(&mut d.run(&["-d", "--name", "b-pause"], &["sleep", "1000"]));
    let frozen = || {
        let v = d.cgroup_file("b-pause", ("freezer", "freezer.state"), "cgroup.freeze");
        v == "FROZEN" || v == "1"
    };
    assert!(!frozen());
    ok(d.docker().args(["pause", "b-pause"]));
    assert_eq!(d.inspect("b-pause", "{{.State.Status}}"), "paused");
    assert!(frozen());
    ok(d.docker().args(["unpause", "b-pause"]));
    assert_eq!(d.inspect("b-pause", "{{.State.Status}}"), "running");
    assert!(!frozen());
    assert_eq!(
        ok(d.docker().args(["exec", "b-pause", "echo", "awake"])),
        "awake\n"
    );
    d.rm(&["b-pause"]);
}

/// `docker update` sends `memory.kernel: 0` every time (issue 10 item 5);
/// the new limits are read on the host and inside the container.
fn update(d: &Dockerd) {
    ok(&mut d.run(&["-d", "--name", "b-update"], &["sleep", "1000"]));
    ok(d.docker().args([
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "--cpuset-cpus",
        "0",
        "b-update",
    ]));
    let mem = d.cgroup_file(
        "b-update",
        ("memory", "memory.limit_in_bytes"),
        "memory.max",
    );
    assert_eq!(mem, "67108864");
    let cpu = d.cgroup_file("b-update", ("cpu", "cpu.cfs_quota_us"), "cpu.max");
    assert!(cpu == "50000" || cpu == "50000 100000", "cpu quota {cpu}");
    assert_eq!(
        d.cgroup_file("b-update", ("pids", "pids.max"), "pids.max"),
        "50"
    );
    let cpus = d.cgroup_file("b-update", ("cpuset", "cpuset.cpus"), "cpuset.cpus");
    assert_eq!(cpus, "0");
    let inside = ok(d.docker().args([
        "exec",
        "b-update",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]));
    assert_eq!(inside, "50\n");
    // A restart-policy-only update still goes through the runtime.
    ok(d.docker()
        .args(["update", "--restart", "on-failure:3", "b-update"]));
    assert_eq!(
        d.inspect("b-update", "{{.HostConfig.RestartPolicy.Name}}"),
        "on-failure"
    );
    assert_eq!(
        d.cgroup_file("b-update", ("pids", "pids.max"), "pids.max"),
        "50"
    );
    d.rm(&["b-update"]);
}

fn stats_and_top(d: &Dockerd) {
    ok(&mut d.run(
        &["-d", "--name", "b-top"],
        &["sh", "-c", "sleep 1001 & exec sleep 1000"],
    ));
    wait_for("b-top's second process", || {
        ok(d.docker().args(["top", "b-top"])).contains("sleep 1001")
    });
    let top = ok(d.docker().args(["top", "b-top"]));
    assert!(top.contains("sleep 1000"), "{top}");
    let stats = ok(d.docker().args([
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
        "b-top",
    ]));
    let fields: Vec<&str> = stats.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"b-top"), "{stats}");
    assert_eq!(fields.get(1), Some(&"2"), "{stats}");
    assert!(!stats.contains("0B /"), "no memory usage: {stats}");
    d.rm(&["b-top"]);
}

fn health_check(d: &Dockerd) {
    ok(&mut d.run(
        &[
            "-d",
            "--name",
            "b-health",
            "--health-cmd",
            "test -e /tmp/ok && echo probe-ran-$((40+2))",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        &["sleep", "1000"],
    ));
    let status = || d.inspect("b-health", "{{.State.Health.Status}}");
    wait_for("b-health to be unhealthy", || status() == "unhealthy");
    ok(d.docker().args(["exec", "b-health", "touch", "/tmp/ok"]));
    wait_for("b-health to be healthy", || status() == "healthy");
    let last = d.inspect(
        "b-health",
        "{{with $l := .State.Health.Log}}{{(index $l (len (slice $l 1))).Output}}{{end}}",
    );
    assert_eq!(last, "probe-ran-42");
    d.rm(&["b-health"]);
}

fn read_only_tmpfs(d: &Dockerd) {
    let out = ok(&mut d.run(
        &["--rm", "--read-only", "--tmpfs", "/tmp:size=1m"],
        &[
            "sh",
            "-c",
            "touch /x 2>&1; touch /tmp/y && echo tmp-ok; grep ' /tmp ' /proc/mounts",
        ],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "touch: /x: Read-only file system", "{out}");
    assert_eq!(lines[1], "tmp-ok", "{out}");
    assert!(lines[2].starts_with("tmpfs /tmp tmpfs rw,"), "{out}");
    assert!(lines[2].contains("size=1024k"), "{out}");
    let root = ok(&mut d.run(
        &["--rm", "--read-only"],
        &["sh", "-c", "grep ' / ' /proc/mounts"],
    ));
    assert!(root.contains(" ro,") || root.contains(" ro "), "{root}");
}

fn user(d: &Dockerd) {
    let out = ok(&mut d.run(&["--rm", "--user", "1000:1000"], &["id"]));
    assert_eq!(out, "uid=1000(user) gid=1000(user) groups=1000(user)\n");
    let out = ok(&mut d.run(&["--rm", "--user", "user", "--group-add", "65534"], &["id"]));
    assert_eq!(
        out,
        "uid=1000(user) gid=1000(user) groups=1000(user),65534(nogroup)\n"
    );
    let out = ok(&mut d.run(&["--rm", "--user", "nobody"], &["sh", "-c", "echo $HOME"]));
    assert_eq!(out, "/nonexistent\n");
}

fn capabilities(d: &Dockerd) {
    let out = ok(&mut d.run(
        &["--rm", "--cap-drop", "ALL", "--cap-add", "CHOWN"],
        &[
            "sh",
            "-c",
            "grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status; chown 5 /tmp && echo chown-ok; \
             mknod /tmp/n c 1 3 2>/dev/null || echo mknod-refused",
        ],
    ));
    assert_eq!(
        out,
        "CapPrm:\t0000000000000001\nCapEff:\t0000000000000001\nCapBnd:\t0000000000000001\n\
         chown-ok\nmknod-refused\n"
    );
    // Docker's default set, for comparison: mknod allowed.
    let out = ok(&mut d.run(
        &["--rm"],
        &["sh", "-c", "mknod /tmp/n c 1 3 && echo mknod-ok"],
    ));
    assert_eq!(out, "mknod-ok\n");
}

/// Docker's default profile: a syscall it blocks gives EPERM, one newer
/// than the profile gives ENOSYS (issue 10 item 6: glibc falls back from
/// `fchmodat2` only on ENOSYS).
fn default_seccomp(d: &Dockerd) {
    let out = ok(&mut d.run(
        &["--rm"],
        &[
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status; for n in 246 999 452 457 462; do probe syscall $n; done",
        ],
    ));
    // kexec_load (246): EPERM; 999, fchmodat2 (452), statmount (457),
    // mseal (462): ENOSYS.
    assert_eq!(
        out,
        "Seccomp:\t2\nerrno=1\nerrno=38\nerrno=38\nerrno=38\nerrno=38\n"
    );
    let out = ok(&mut d.run(
        &["--rm", "--security-opt", "seccomp=unconfined"],
        &["sh", "-c", "grep Seccomp: /proc/self/status"],
    ));
    assert_eq!(out, "Seccomp:\t0\n");
}

fn memory_oom(d: &Dockerd) {
    let out = run(&mut d.run(
        &["--name", "b-oom", "--memory", "32m", "--memory-swap", "32m"],
        &["tail", "/dev/zero"],
    ));
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    assert_eq!(d.inspect("b-oom", "{{.State.OOMKilled}}"), "true");
    d.rm(&["b-oom"]);
}

/// Restores a host sysctl on drop, if a failing runtime changed it.
struct HostSysctl {
    path: &'static str,
    value: String,
}

impl HostSysctl {
    fn save(path: &'static str) -> Self {
        let value = std::fs::read_to_string(path).unwrap().trim().to_string();
        Self { path, value }
    }

    fn now(&self) -> String {
        std::fs::read_to_string(self.path)
            .unwrap()
            .trim()
            .to_string()
    }
}

impl Drop for HostSysctl {
    fn drop(&mut self) {
        if self.now() != self.value {
            let _ = std::fs::write(self.path, &self.value);
        }
    }
}

/// A sysctl is never written into a namespace shared with the host
/// (issue 10 item 1): Docker's host network (and host IPC) hands the
/// runtime the host's own namespace. The host value stays unchanged.
/// (`kernel.domainname` with `--uts host` is refused by Docker itself.)
fn sysctl_host_namespaces(d: &Dockerd) {
    let cases = [
        (
            "--network=host",
            "net.ipv4.tcp_keepalive_intvl",
            "/proc/sys/net/ipv4/tcp_keepalive_intvl",
            "in host network namespace",
        ),
        (
            "--ipc=host",
            "kernel.msgmax",
            "/proc/sys/kernel/msgmax",
            "ipc namespace",
        ),
    ];
    for (ns, key, path, want) in cases {
        let host = HostSysctl::save(path);
        let other = host.value.parse::<u64>().unwrap() + 1;
        let sysctl = format!("{key}={other}");
        let out = run(&mut d.run(&["--rm", ns, "--sysctl", &sysctl], &["true"]));
        assert_eq!(host.now(), host.value, "{ns}: the host's {key} was changed");
        assert_eq!(out.status.code(), Some(125), "{ns} {sysctl}: {out:?}");
        let err = common::s(&out.stderr);
        assert!(err.contains(key) && err.contains(want), "{err}");
        // Without the host namespace the same sysctl is the container's.
        let private = if ns == "--network=host" {
            "--network=none"
        } else {
            "--ipc=private"
        };
        let out = ok(&mut d.run(&["--rm", private, "--sysctl", &sysctl], &["cat", path]));
        assert_eq!(out.trim(), other.to_string());
        assert_eq!(host.now(), host.value);
    }
}

/// `--userns-remap default`: dockerd creates the `dockremap` user and its
/// subordinate ranges (removed again if this test created them), chowns
/// the image into the remapped root, and the runtime gets a user
/// namespace with that mapping.
#[test]
#[ignore = "caller test: needs docker.io; run by .ci/test's caller section"]
fn docker_userns_remap() {
    common::require_root();
    let had_user = Command::new("id")
        .arg("dockremap")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _user = RemoveUser(!had_user);
    let d = Dockerd::start("docker-remap", &["--userns-remap", "default"]);
    run_scenarios(&d, &[("--userns-remap default", userns_remap)]);
    d.finish();
}

fn userns_remap(d: &Dockerd) {
    let (uid_start, _) = subordinate("/etc/subuid");
    let out = ok(&mut d.run(
        &["--rm"],
        &[
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; ls -ln /bin/busybox",
        ],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map[..2], ["0", &uid_start.to_string()], "{out}");
    assert!(
        lines[2].contains(" 0 "),
        "the image's files owned by root inside: {out}"
    );
    // On the host, the container's root is the subordinate uid.
    ok(&mut d.run(&["-d", "--name", "b-remap"], &["sleep", "1000"]));
    let pid = d.inspect("b-remap", "{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(uid, uid_start.to_string(), "{status}");
    let out = ok(d.docker().args(["exec", "b-remap", "id", "-u"]));
    assert_eq!(out, "0\n");
    d.rm(&["b-remap"]);
}

/// `dockremap`'s first subordinate id and count in `file`.
fn subordinate(file: &str) -> (u64, u64) {
    let text = std::fs::read_to_string(file).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("dockremap:"))
        .unwrap_or_else(|| panic!("no dockremap in {file}: {text}"));
    let f: Vec<&str> = line.split(':').collect();
    (f[1].parse().unwrap(), f[2].parse().unwrap())
}

/// Deletes `dockremap` and its subordinate ranges on drop when `.0`.
struct RemoveUser(bool);

impl Drop for RemoveUser {
    fn drop(&mut self) {
        if !self.0 {
            return;
        }
        let _ = Command::new("userdel").arg("dockremap").output();
        for file in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(text) = std::fs::read_to_string(file) {
                let kept: String = text
                    .lines()
                    .filter(|l| !l.starts_with("dockremap:"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                if kept != text {
                    let _ = std::fs::write(file, kept);
                }
            }
        }
    }
}
