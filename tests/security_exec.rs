//! Runtime attack classes through `exec` (and the descriptor leak through
//! `run`): each test reproduces the attack against berth and fails if it
//! works. See docs/security.md for the defence behind each one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Fixture;

/// A fixture whose container `c1` runs `sleep` in the background.
fn running(name: &str) -> Fixture {
    let f = Fixture::new(name, &["sleep", "1000"]);
    let b = f.bundle.to_string_lossy().to_string();
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    f
}

fn finish(f: Fixture) {
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

/// CVE-2019-5736 through `exec`: the program is a script whose interpreter
/// is `/proc/self/exe`. The process berth clones for `exec` is a copy of
/// berth, so without the sealed stub the kernel would run the host binary
/// inside the container. The interpreter the kernel runs must be the stub,
/// and the host binary must stay as it was.
#[test]
fn exec_of_a_proc_self_exe_script_runs_the_sealed_stub() {
    let f = running("secx-5736");
    let evil = f.rootfs().join("evil");
    std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = std::fs::read(common::berth_bin()).unwrap();
    let pidfile = f.dir.path().join("exec.pid");
    let p = pidfile.to_string_lossy().to_string();
    f.ok(&["exec", "-d", "--pid-file", &p, "c1", "/evil"]);
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    common::assert_runs_the_sealed_stub(pid);
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/{pid}/exe"))
    {
        assert!(
            std::io::Write::write_all(&mut file, b"PWNED").is_err(),
            "the stub must be sealed against writes"
        );
    }
    finish(f);
    assert_eq!(
        std::fs::read(common::berth_bin()).unwrap(),
        before,
        "the host binary changed"
    );
}

/// Processes whose command line mentions `needle` and that are parked at
/// a fault point (`src/faults.rs`).
fn parked(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(needle)
            && comm.trim() == berth::faults::PARKED.to_string_lossy()
        {
            out.push(pid);
        }
    }
    out
}

/// The PID of host process `pid` in its own (innermost) PID namespace.
fn inner_pid(pid: i32) -> i32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    line.split_whitespace().last().unwrap().parse().unwrap()
}

/// CVE-2019-5736 through `/proc/<pid>/exe` and `map_files`, and
/// CVE-2016-9962: the process berth clones for `exec` is a copy of the
/// host's berth; while it sets up inside the container (here parked right
/// after taking the process's user and capabilities, the same as any other
/// process of the container), another process of the container must not
/// reach its executable, its mapped files, its memory or its environment.
#[test]
fn exec_set_up_process_is_out_of_reach_from_the_container() {
    let f = running("secx-setup");
    let mut child = f
        .cmd()
        .args(["exec", "c1", "true"])
        .env(berth::faults::ENV, "exec:identity")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let needle = f.root.to_string_lossy().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let host_pid = loop {
        if let Some(p) = parked(&needle).first() {
            break *p;
        }
        assert!(Instant::now() < deadline, "exec never reached its set-up");
        std::thread::sleep(Duration::from_millis(5));
    };
    let n = inner_pid(host_pid);
    let script = format!(
        "cat /proc/{n}/comm; \
         readlink /proc/{n}/exe >/dev/null 2>&1 && echo exe-readable || echo exe-denied; \
         head -c1 /proc/{n}/exe >/dev/null 2>&1 && echo exe-openable || echo exe-closed; \
         [ \"$(ls /proc/{n}/map_files 2>/dev/null | wc -l)\" -eq 0 ] && echo map_files-denied || echo map_files-listed; [ \"$(ls /proc/self/map_files | wc -l)\" -gt 0 ] && echo own-map_files-listed; \
         head -c1 /proc/{n}/mem >/dev/null 2>&1 && echo mem-readable || echo mem-denied; \
         head -c1 /proc/{n}/environ >/dev/null 2>&1 && echo environ-readable || echo environ-denied"
    );
    let out = f.ok(&["exec", "c1", "sh", "-c", &script]);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    child.wait().unwrap();
    assert_eq!(
        out,
        "berth-stopped\nexe-denied\nexe-closed\nmap_files-denied\nown-map_files-listed\nmem-denied\nenviron-denied\n",
        "the set-up process is visible, and must be out of reach"
    );
    finish(f);
}

/// Runs `berth ARGS` through `sh` with the extra redirections `redirs`
/// (descriptors berth inherits without asking for them); returns (status,
/// stdout, stderr).
fn berth_with_fds(f: &Fixture, args: &str, redirs: &str) -> (i32, String, String) {
    let out = f.dir.path().join("fd.out");
    let err = f.dir.path().join("fd.err");
    let script = format!(
        "exec {} --root {} {args} {redirs} >{} 2>{}",
        common::berth_bin().display(),
        f.root.display(),
        out.display(),
        err.display()
    );
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    (
        st.code().unwrap_or(-1),
        std::fs::read_to_string(out).unwrap(),
        std::fs::read_to_string(err).unwrap(),
    )
}

/// Lists the descriptors the container process holds (the directory the
/// glob reads is closed again before the test, so it is not listed).
const LIST_FDS: &str =
    "cd /proc/self/fd && for f in *; do [ -e \"$f\" ] && echo -n \"$f \"; done; echo";

/// The host descriptors given to berth (a directory and a file outside the
/// root, not close-on-exec).
fn host_redirs(f: &Fixture) -> String {
    let hostdir = f.dir.path().join("hostdir");
    std::fs::create_dir_all(&hostdir).unwrap();
    let secret = f.dir.path().join("secret");
    std::fs::write(&secret, "host").unwrap();
    format!(
        "5<{} 7<{} 9<{}",
        hostdir.display(),
        secret.display(),
        Path::new("/").display()
    )
}

/// CVE-2024-21626 class, for `exec`: descriptors berth inherits (and its
/// own: the init's pidfd, the cgroup directory, the sync socket) never
/// reach the process; only stdio and the `--preserve-fds` ones do.
#[test]
fn no_host_descriptor_reaches_an_exec_process() {
    let f = running("secx-fds");
    let redirs = host_redirs(&f);
    let (code, out, err) = berth_with_fds(&f, &format!("exec c1 sh -c '{LIST_FDS}'"), &redirs);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "0 1 2 \n",
        "descriptors beyond stdio reached the process"
    );
    // With --preserve-fds 1 only fd 3 joins them.
    let (code, out, err) = berth_with_fds(
        &f,
        &format!("exec --preserve-fds 1 c1 sh -c '{LIST_FDS}'"),
        &format!("3</dev/null {redirs}"),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "0 1 2 3 \n");
    finish(f);
}

/// CVE-2024-21626 class, for the container's init (`run`): the same.
#[test]
fn no_host_descriptor_reaches_the_container() {
    let f = Fixture::new("secx-fds-run", &["sh", "-c", LIST_FDS]);
    let redirs = host_redirs(&f);
    let b = f.bundle.to_string_lossy().to_string();
    let (code, out, err) = berth_with_fds(&f, &format!("run --bundle {b} c1"), &redirs);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "0 1 2 \n", "descriptors beyond stdio reached the init");
    let (code, out, err) = berth_with_fds(
        &f,
        &format!("run --preserve-fds 1 --bundle {b} c2"),
        &format!("3</dev/null {redirs}"),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "0 1 2 3 \n");
    let _ = f.berth(&["delete", "--force", "c1"]);
    let _ = f.berth(&["delete", "--force", "c2"]);
    f.assert_clean();
}

/// A fake `/proc/self/setgroups` (the container's `/proc` is a tmpfs its
/// root writes) must not make `exec` skip `setgroups(2)`: the process
/// would keep berth's own supplementary groups — host groups — inside the
/// container. berth reads the setting through the host's procfs.
#[test]
fn fake_setgroups_file_does_not_leak_berths_groups() {
    let f = Fixture::new(
        "secx-setgroups",
        &[
            "sh",
            "-c",
            "mkdir -p /proc/self && echo deny > /proc/self/setgroups && exec sleep 1000",
        ],
    );
    f.edit(|c| {
        common::fake_proc(c);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        let map = serde_json::json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
    let b = f.bundle.to_string_lossy().to_string();
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    let fake = format!("/proc/{pid}/root/proc/self/setgroups");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&fake).unwrap_or_default() != "deny\n" {
        assert!(
            Instant::now() < deadline,
            "the container never wrote {fake}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // berth itself runs with a supplementary group (a host group).
    let out = f.dir.path().join("groups.out");
    let st = std::process::Command::new("setpriv")
        .args(["--groups", "4321", "--"])
        .arg(common::berth_bin())
        .arg("--root")
        .arg(&f.root)
        .args(["exec", "c1", "sh", "-c", "id -G"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "0\n",
        "the exec'd process kept berth's supplementary groups"
    );
    finish(f);
}

/// CVE-2025-52565 family, for `exec --tty`: the pty slave must be the peer
/// of the master berth opened, never whatever the container's
/// `/dev/pts/<n>` names. Here the image's `/dev/pts` is a plain directory
/// (the devpts instance sits at `/dev/pts/pts`, beside a `ptmx` node) whose
/// `0` is a symlink to a file: the program's output must still reach the
/// console, and the file must stay empty.
#[test]
fn exec_console_slave_is_the_masters_peer() {
    use std::io::Read;
    use std::os::unix::net::UnixListener;
    let f = Fixture::new("secx-ptspeer", &["sleep", "1000"]);
    f.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        mounts.push(serde_json::json!({"destination": "/dev/pts/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666", "mode=0620"]}));
        c["root"]["readonly"] = serde_json::json!(false);
    });
    let pts = f.rootfs().join("dev/pts");
    std::fs::create_dir_all(&pts).unwrap();
    nix::sys::stat::mknod(
        &pts.join("ptmx"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(5, 2),
    )
    .unwrap();
    std::fs::write(f.rootfs().join("tmp/captured"), "").unwrap();
    std::os::unix::fs::symlink("/tmp/captured", pts.join("0")).unwrap();
    let b = f.bundle.to_string_lossy().to_string();
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    let sock = f.dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let s = sock.to_string_lossy().to_string();
    let out = f.berth(&[
        "exec",
        "-t",
        "-d",
        "--console-socket",
        &s,
        "c1",
        "sh",
        "-c",
        "echo hello-from-exec; sleep 2",
    ]);
    assert!(out.status.success(), "{}", common::s(&out.stderr));
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let (_, master) = berth::sys::fd::recv_fd(std::os::fd::AsFd::as_fd(&conn), &mut buf).unwrap();
    let mut master = std::fs::File::from(master.expect("the pty master"));
    let mut seen = String::new();
    let mut chunk = [0u8; 256];
    while !seen.contains("hello-from-exec") {
        let n = master.read(&mut chunk).unwrap_or(0);
        assert!(n > 0, "the console closed before the output: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    assert_eq!(
        std::fs::read_to_string(f.rootfs().join("tmp/captured")).unwrap(),
        "",
        "the program's output went through the container's /dev/pts/0"
    );
    finish(f);
}
