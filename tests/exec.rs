//! `exec`: a new process joins every namespace and the cgroup of a running
//! container, with the user, capabilities, rlimits, seccomp and
//! no_new_privs it asks for; exit statuses, detach and pid files, terminals,
//! paused containers, sub-cgroups, preserved descriptors and pidfd sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::Stdio;

use common::{Fixture, s};
use serde_json::json;

/// A fixture whose container `c1` runs `sleep` in the background.
fn running(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Fixture {
    let f = Fixture::new(name, &["sleep", "1000"]);
    f.edit(edit);
    let b = f.bundle.to_string_lossy().to_string();
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    f
}

/// Runs `berth exec c1 ARGS…` in the foreground: (status, stdout, stderr).
fn exec(f: &Fixture, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    let out = f.berth(&all);
    (
        out.status.code().unwrap_or(-1),
        s(&out.stdout),
        s(&out.stderr),
    )
}

fn exec_ok(f: &Fixture, args: &[&str]) -> String {
    let (code, out, err) = exec(f, args);
    assert_eq!(code, 0, "exec {args:?}: {out}\n{err}");
    out
}

fn init_pid(f: &Fixture) -> i32 {
    f.state("c1")["pid"].as_i64().unwrap() as i32
}

fn finish(f: Fixture) {
    f.ok(&["kill", "c1", "9"]);
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup() {
    let f = running("exec-ns", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
    });
    let script = "for n in mnt net ipc uts pid cgroup user time; do \
                  [ \"$(readlink /proc/self/ns/$n)\" = \"$(readlink /proc/1/ns/$n)\" ] || echo differs $n; \
                  done; cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup; echo ppid=$PPID";
    let out = exec_ok(&f, &["c1", "sh", "-c", script]);
    assert!(!out.contains("differs"), "{out}");
    let (mine, init) = out.split_once("---\n").unwrap();
    let init = init.split("ppid=").next().unwrap();
    assert_eq!(mine, init, "same cgroup as the init");
    // The host's view: the namespaces of the process equal the init's.
    let pid = init_pid(&f);
    let pidfile = f.dir.path().join("exec.pid");
    f.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pidfile.to_str().unwrap(),
        "c1",
        "sleep",
        "1000",
    ]);
    let text = std::fs::read_to_string(&pidfile).unwrap();
    let epid: i32 = text.parse().expect("the pid file holds only an integer");
    for ns in ["mnt", "net", "ipc", "uts", "pid", "cgroup", "time"] {
        assert_eq!(
            std::fs::read_link(format!("/proc/{epid}/ns/{ns}")).unwrap(),
            std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap(),
            "{ns}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{epid}/cgroup")).unwrap(),
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap()
    );
    let root = |p: i32| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(format!("/proc/{p}/root/")).unwrap();
        (m.dev(), m.ino())
    };
    assert_eq!(root(epid), root(pid), "same root directory");
    finish(f);
}

/// The exec'd process gets the container's oomScoreAdj (runc does so);
/// the new process writes it itself, through the host's /proc, before it
/// joins the container (berth no longer writes it while the child waits).
#[test]
fn exec_gets_the_containers_oom_score_adj() {
    let f = running("exec-oom", |c| c["process"]["oomScoreAdj"] = json!(234));
    let out = exec_ok(&f, &["c1", "sh", "-c", "cat /proc/self/oom_score_adj"]);
    assert_eq!(out.trim(), "234", "{out}");
    finish(f);
}

#[test]
fn exit_statuses_are_the_commands_or_255() {
    let f = running("exec-status", |_| {});
    assert_eq!(exec(&f, &["c1", "sh", "-c", "exit 7"]).0, 7);
    assert_eq!(exec(&f, &["c1", "sh", "-c", "kill -9 $$"]).0, 137);
    let (code, _, err) = exec(&f, &["c1", "nope"]);
    assert_eq!(code, 255);
    assert!(
        err.contains("exec failed: ") && err.contains("executable file not found in $PATH"),
        "{err}"
    );
    let (code, _, err) = exec(&f, &["c2", "true"]);
    assert_eq!(code, 255);
    assert!(err.contains("container does not exist"), "{err}");
    let (code, _, err) = exec(&f, &["c1"]);
    assert_eq!(code, 255);
    assert!(err.contains("exec args cannot be empty"), "{err}");
    let (code, _, err) = exec(&f, &["-t", "-d", "c1", "true"]);
    assert_eq!(code, 255);
    assert!(err.contains("cannot allocate tty"), "{err}");
    let (code, _, err) = exec(&f, &["-u", "root", "c1", "true"]);
    assert_eq!(code, 255);
    assert!(err.contains("bad uid"), "{err}");
    let (code, _, err) = exec(&f, &["--apparmor", "prof", "c1", "true"]);
    assert_eq!(code, 255);
    assert!(err.contains("AppArmor is not enabled"), "{err}");
    // Flags after the ID belong to the command.
    assert_eq!(exec_ok(&f, &["c1", "echo", "-t", "x"]), "-t x\n");
    f.ok(&["kill", "c1", "9"]);
    f.wait_status("c1", "stopped");
    let (code, _, err) = exec(&f, &["c1", "true"]);
    assert_eq!(code, 255);
    assert!(err.contains("cannot exec in a stopped container"), "{err}");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

#[test]
fn user_capabilities_env_cwd_and_limits() {
    let f = running("exec-identity", |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1000, "soft": 900}]);
        c["process"]["env"] = json!(["PATH=/bin", "A=1"]);
    });
    let out = exec_ok(
        &f,
        &[
            "-u",
            "1000:1000",
            "-g",
            "5",
            "--cwd",
            "/tmp",
            "-e",
            "A=2",
            "--cap",
            "CAP_NET_ADMIN",
            "--no-new-privs",
            "c1",
            "sh",
            "-c",
            "id; pwd; echo A=$A HOME=$HOME; ulimit -n; grep -E '^(Cap|NoNewPrivs)' /proc/self/status",
        ],
    );
    assert!(
        out.contains("uid=1000(user) gid=1000(user) groups=5"),
        "{out}"
    );
    assert!(out.contains("/tmp\n"), "{out}");
    assert!(out.contains("A=2 HOME=/home/user"), "{out}");
    assert!(out.contains("\n900\n"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    // CVE-2022-29162: --cap never reaches the inheritable set.
    assert!(out.contains("CapInh:\t0000000000000000"), "{out}");
    let bnd = cap_line(&out, "CapBnd");
    assert_ne!(bnd & (1 << 12), 0, "CAP_NET_ADMIN in bounding: {out}");
    // Without flags: the config's process (root, no new caps).
    let out = exec_ok(
        &f,
        &["c1", "sh", "-c", "id -u; grep CapBnd /proc/self/status"],
    );
    assert!(out.starts_with("0\n"), "{out}");
    assert_eq!(cap_line(&out, "CapBnd") & (1 << 12), 0, "{out}");
    finish(f);
}

#[test]
fn a_process_file_without_user_runs_as_root() {
    // runc reads a missing `user` as uid 0, gid 0 (not the config's user).
    let f = running("exec-nouser", |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    let file = f.dir.path().join("process.json");
    std::fs::write(
        &file,
        json!({"cwd": "/", "args": ["sh", "-c", "id -u; id -g; id -G"], "env": ["PATH=/bin"]})
            .to_string(),
    )
    .unwrap();
    let out = exec_ok(&f, &["--process", file.to_str().unwrap(), "c1"]);
    assert_eq!(out, "0\n0\n0\n");
    finish(f);
}

fn cap_line(out: &str, name: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{name} in {out}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn inheritable_capabilities_only_when_asked_for() {
    let f = running("exec-inh", |c| {
        c["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
    });
    let out = exec_ok(
        &f,
        &[
            "--cap",
            "CAP_SYS_TIME",
            "c1",
            "grep",
            "Cap",
            "/proc/self/status",
        ],
    );
    assert_eq!(cap_line(&out, "CapInh"), 1 << 5, "only CAP_KILL: {out}");
    finish(f);
}

#[test]
fn the_containers_seccomp_filter_applies() {
    let f = running("exec-seccomp", |c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let (code, _, err) = exec(&f, &["c1", "mkdir", "/tmp/x"]);
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "{err}");
    let out = exec_ok(&f, &["c1", "grep", "Seccomp:", "/proc/self/status"]);
    assert!(out.contains("Seccomp:\t2"), "{out}");
    finish(f);
}

#[test]
fn exec_enters_a_user_namespace_first() {
    let f = running("exec-userns", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    let out = exec_ok(
        &f,
        &[
            "c1",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; touch /dev/shm/f && echo wrote",
        ],
    );
    assert!(out.starts_with("0\n"), "{out}");
    assert!(
        out.split_whitespace()
            .collect::<Vec<_>>()
            .starts_with(&["0", "0", "200000", "65536"]),
        "{out}"
    );
    assert!(out.contains("wrote"), "{out}");
    finish(f);
}

#[test]
fn signals_are_forwarded_in_the_foreground() {
    let f = running("exec-signal", |_| {});
    let out_path = f.dir.path().join("out");
    let mut child = f
        .cmd()
        .args([
            "exec",
            "c1",
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while true; do sleep 0.05; done",
        ])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .spawn()
        .unwrap();
    wait_for(|| {
        std::fs::read_to_string(&out_path)
            .unwrap()
            .contains("ready")
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = common::wait_timeout(&mut child, common::TIMEOUT).expect("berth exits");
    assert_eq!(st.code(), Some(42));
    finish(f);
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "condition never met");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn foreground_terminal_is_proxied_with_its_size() {
    let f = running("exec-tty", |_| {});
    let pty = nix::pty::openpty(None, None).unwrap();
    berth::sys::tty::set_winsize(
        pty.slave.as_fd(),
        berth::sys::tty::WinSize {
            rows: 40,
            cols: 120,
        },
    )
    .unwrap();
    let slave = || Stdio::from(pty.slave.try_clone().unwrap());
    let mut child = f
        .cmd()
        .args([
            "exec",
            "-t",
            "c1",
            "sh",
            "-c",
            "tty; stty size; while [ \"$(stty size)\" != '50 100' ]; do sleep 0.05; done; echo resized",
        ])
        .stdin(slave())
        .stdout(slave())
        .stderr(slave())
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "40 120");
    assert!(seen.contains("/dev/pts/"), "{seen}");
    berth::sys::tty::set_winsize(
        pty.slave.as_fd(),
        berth::sys::tty::WinSize {
            rows: 50,
            cols: 100,
        },
    )
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGWINCH,
    )
    .unwrap();
    read_until(&mut master, &mut seen, "resized");
    let st = common::wait_timeout(&mut child, common::TIMEOUT).expect("berth exits");
    assert_eq!(st.code(), Some(0));
    finish(f);
}

/// Reads a pty master on a helper thread until `want` shows up.
fn read_until(master: &mut std::fs::File, seen: &mut String, want: &str) {
    let mut m = master.try_clone().unwrap();
    let want_owned = want.to_string();
    let reader = std::thread::spawn(move || {
        let mut acc = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&acc).contains(&want_owned) {
            match m.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => acc.extend_from_slice(&buf[..n]),
            }
        }
        acc
    });
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    while !reader.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "never saw {want:?} on the terminal"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    seen.push_str(&String::from_utf8_lossy(&reader.join().unwrap()));
    assert!(seen.contains(want), "{seen}");
}

#[test]
fn paused_containers_need_ignore_paused() {
    let f = running("exec-paused", |_| {});
    let freezer = std::path::PathBuf::from("/sys/fs/cgroup/freezer")
        .join(common::cgroup_path("exec-paused").trim_start_matches('/'))
        .join("freezer.state");
    std::fs::write(&freezer, "FROZEN").unwrap();
    let (code, _, err) = exec(&f, &["c1", "true"]);
    assert_eq!(code, 255);
    assert!(
        err.contains("cannot exec in a paused container (use --ignore-paused to override)"),
        "{err}"
    );
    let out_path = f.dir.path().join("out");
    let mut child = f
        .cmd()
        .args(["exec", "--ignore-paused", "c1", "echo", "thawed"])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .spawn()
        .unwrap();
    std::fs::write(&freezer, "THAWED").unwrap();
    let st = common::wait_timeout(&mut child, common::TIMEOUT).expect("exec ends after thaw");
    assert_eq!(st.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "thawed\n");
    finish(f);
}

#[test]
fn sub_cgroup_preserved_fds_and_pidfd_socket() {
    let f = running("exec-extras", |_| {});
    // --cgroup: an existing sub-cgroup of the container's pids cgroup.
    let pids_dir = std::path::PathBuf::from("/sys/fs/cgroup/pids")
        .join(common::cgroup_path("exec-extras").trim_start_matches('/'));
    let sub = pids_dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let out = exec(
        &f,
        &[
            "--cgroup",
            "pids:sub",
            "c1",
            "grep",
            "pids",
            "/proc/self/cgroup",
        ],
    );
    let _ = std::fs::remove_dir(&sub);
    assert_eq!(out.0, 0, "{out:?}");
    assert!(out.1.trim_end().ends_with(":pids:/sub"), "{out:?}");
    let (code, _, err) = exec(&f, &["--cgroup", "nope:sub", "c1", "true"]);
    assert_eq!(code, 255);
    assert!(err.contains("unknown controller nope"), "{err}");

    // --preserve-fds: descriptor 3 reaches the process.
    let file = f.dir.path().join("fd3");
    let cmd = format!(
        "{} --root {} exec --preserve-fds 1 c1 sh -c 'echo through-fd3 >&3' 3>{}",
        common::berth_bin().display(),
        f.root.display(),
        file.display()
    );
    let st = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "through-fd3\n");

    // --pidfd-socket: a pidfd of the exec'd process, payload "setns".
    let sock = f.dir.path().join("pidfd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || receive(&listener));
    let pidfile = f.dir.path().join("p");
    f.ok(&[
        "exec",
        "-d",
        "--pidfd-socket",
        sock.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        "c1",
        "sleep",
        "1000",
    ]);
    let (kind, fd) = receiver.join().unwrap();
    assert_eq!(kind, "setns");
    assert_eq!(
        pid_of_pidfd(&fd),
        std::fs::read_to_string(&pidfile)
            .unwrap()
            .parse::<i32>()
            .unwrap()
    );
    finish(f);
}

fn receive(listener: &UnixListener) -> (String, OwnedFd) {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let (n, fd) = berth::sys::fd::recv_fd(conn.as_fd(), &mut buf).unwrap();
    (
        String::from_utf8_lossy(&buf[..n]).into_owned(),
        fd.expect("one descriptor"),
    )
}

/// The PID a pidfd refers to, from its fdinfo.
fn pid_of_pidfd(fd: &OwnedFd) -> i32 {
    use std::os::fd::AsRawFd;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .expect("a pidfd")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn create_and_run_send_the_inits_pidfd() {
    let f = Fixture::new("pidfd-create", &["sleep", "1000"]);
    let sock = f.dir.path().join("pidfd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || receive(&listener));
    let b = f.bundle.to_string_lossy().to_string();
    f.ok(&[
        "create",
        "--pidfd-socket",
        sock.to_str().unwrap(),
        "--bundle",
        &b,
        "c1",
    ]);
    let (kind, fd) = receiver.join().unwrap();
    assert_eq!(kind, "standard");
    assert_eq!(pid_of_pidfd(&fd), init_pid(&f));
    // The pidfd works: SIGKILL through it stops the container.
    berth::sys::process::pidfd_send_signal(fd.as_fd(), nix::sys::signal::Signal::SIGKILL).unwrap();
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);
    let (code, _, err) = {
        let out = f.berth(&[
            "run",
            "--pidfd-socket",
            "/nonexistent.sock",
            "--bundle",
            &b,
            "c2",
        ]);
        (out.status.code(), s(&out.stdout), s(&out.stderr))
    };
    assert_eq!(code, Some(1));
    assert!(err.contains("pidfd socket /nonexistent.sock"), "{err}");
    f.assert_clean();
}

/// An `exec`ed process gets the container's filter; with a `listenerPath`
/// its notification descriptor reaches the listener (after the user switch,
/// as the init does) and the listener answers the process's calls.
#[test]
fn exec_hands_the_seccomp_listener_its_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let mut states = Vec::new();
        // The init's filter first (create), then the exec'd process's.
        for _ in 0..2 {
            let (conn, _) = listener.accept().unwrap();
            let (n, fd) = berth::sys::fd::recv_fd(conn.as_fd(), &mut buf).unwrap();
            let state: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
            states.push((state, fd.expect("seccomp fd")));
        }
        let fd = &states[1].1;
        let n = berth::sys::seccomp::receive(fd.as_fd()).unwrap();
        berth::sys::seccomp::respond(
            fd.as_fd(),
            n.id,
            berth::sys::seccomp::Answer::Fail(libc::ENOSPC),
        )
        .unwrap();
        (states.into_iter().map(|(s, _)| s).collect::<Vec<_>>(), n.nr)
    });
    let f = running("exec-listener", |c| {
        c["process"]["noNewPrivileges"] = json!(true);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let (code, out, err) = exec(
        &f,
        &[
            "-u",
            "1000:1000",
            "c1",
            "sh",
            "-c",
            "mkdir /tmp/x 2>&1; id -u",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("No space left on device"), "{out}");
    assert!(out.trim_end().ends_with("1000"), "{out}");
    let (states, nr) = agent.join().unwrap();
    assert!(nr == libc::SYS_mkdir as i32 || nr == libc::SYS_mkdirat as i32);
    assert_eq!(states[0]["state"]["status"], "creating");
    assert_eq!(states[1]["state"]["status"], "running");
    assert_eq!(states[1]["state"]["id"], "c1");
    assert_ne!(states[1]["pid"], states[0]["pid"]);
    finish(f);
}
