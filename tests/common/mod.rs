//! Shared helpers for the root integration tests: a busybox bundle
//! builder, a runner for the real `berth` binary with a private `--root`,
//! and leak checks. Each test owns a `Fixture`; dropping it force-deletes
//! whatever the test created and asserts nothing of it remains.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};

pub mod counter;
pub mod rootless;

/// The berth binary under test.
pub fn berth_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

/// The statically linked busybox every test rootfs is built from.
pub const BUSYBOX: &str = "/bin/busybox";

/// Fails the test clearly when not root: CI runs as root, and these tests
/// must not silently skip there.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "berth integration tests must run as root (sudo cargo test)"
    );
}

/// Applets of the busybox binary, listed once per test process.
fn applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox --list (apt-get install busybox-static)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|a| *a != "busybox")
            .map(str::to_string)
            .collect()
    })
}

/// Writes a busybox root filesystem into `rootfs`.
pub fn make_rootfs(rootfs: &Path) {
    for d in [
        "bin", "proc", "sys", "dev", "etc", "tmp", "root", "var", "run",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
    for a in applets() {
        let _ = symlink("busybox", rootfs.join("bin").join(a));
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n",
    )
    .unwrap();
}

/// A unique, absolute cgroup path under this test process's own prefix.
pub fn cgroup_path(name: &str) -> String {
    format!("/berth-test-{}/{name}", std::process::id())
}

/// The default test config: like `berth spec`, no terminal, an absolute
/// cgroup path under our prefix, and the given command.
pub fn base_config(name: &str, args: &[&str]) -> Value {
    let mut c = berth::spec::template::default_config(false, 0, 0);
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(args);
    c["linux"]["cgroupsPath"] = json!(cgroup_path(name));
    c
}

/// One test's world: a bundle, a private state root, and the containers it
/// created.
pub struct Fixture {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bundle: PathBuf,
    ids: std::cell::RefCell<BTreeSet<String>>,
}

impl Fixture {
    /// A fixture with a busybox bundle whose process runs `args`.
    pub fn new(name: &str, args: &[&str]) -> Self {
        Self::with_config(name, base_config(name, args))
    }

    /// A fixture with an explicit config.
    pub fn with_config(name: &str, config: Value) -> Self {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-{name}-"))
            .tempdir()
            .unwrap();
        let root = dir.path().join("state");
        let bundle = dir.path().join("bundle");
        make_rootfs(&bundle.join("rootfs"));
        let f = Self {
            name: name.to_string(),
            dir,
            root,
            bundle,
            ids: Default::default(),
        };
        f.write_config(&config);
        f
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    pub fn write_config(&self, config: &Value) {
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(config).unwrap(),
        )
        .unwrap();
    }

    pub fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.bundle.join("config.json")).unwrap()).unwrap()
    }

    /// Edits config.json in place.
    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut c = self.config();
        f(&mut c);
        self.write_config(&c);
    }

    /// A `berth` command with this fixture's `--root`.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(berth_bin());
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    /// Runs berth with `args`, returning its output. stdout and stderr go
    /// through files, not pipes: a container created by the command inherits
    /// them and keeps them open long after berth has exited.
    pub fn berth(&self, args: &[&str]) -> Output {
        if let Some(id) = container_id(args) {
            self.ids.borrow_mut().insert(id);
        }
        let mut cmd = self.cmd();
        cmd.args(args);
        run_captured(cmd, &format!("berth {args:?}"))
    }

    /// Runs berth and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        ok_stdout(self.berth(args), args)
    }

    /// Runs berth and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            !out.status.success(),
            "berth {args:?} unexpectedly succeeded:\nstdout: {}",
            s(&out.stdout)
        );
        s(&out.stderr)
    }

    /// `berth run` in the foreground: returns (exit status, stdout, stderr).
    pub fn run(&self, id: &str) -> (i32, String, String) {
        let b = self.bundle.to_string_lossy().to_string();
        let out = self.berth(&["run", "--bundle", &b, id]);
        (
            out.status.code().unwrap_or(-1),
            s(&out.stdout),
            s(&out.stderr),
        )
    }

    /// Runs the container's process and returns its stdout, asserting exit 0.
    pub fn output(&self, id: &str) -> String {
        let (code, out, err) = self.run(id);
        assert_eq!(
            code, 0,
            "container {id} exited {code}\nstdout: {out}\nstderr: {err}"
        );
        out
    }

    /// Creates a container (waiting at the gate).
    pub fn create(&self, id: &str) {
        let b = self.bundle.to_string_lossy().to_string();
        self.ok(&["create", "--bundle", &b, id]);
    }

    /// The parsed `state` of a container.
    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits (up to 10 s) until the container exists and reports `status`.
    pub fn wait_status(&self, id: &str, status: &str) {
        let mut last = String::new();
        for _ in 0..1000 {
            let out = self.berth(&["state", id]);
            if out.status.success() {
                let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                last = v["status"].as_str().unwrap_or_default().to_string();
                if last == status {
                    return;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container {id} never reached {status} (last seen: {last:?})");
    }

    /// Gives the containers created next from this bundle a cgroup of
    /// their own, `<name>.<suffix>` (runc and berth refuse a cgroup that
    /// already has processes). `assert_clean` checks these too.
    pub fn separate_cgroup(&self, suffix: &str) {
        let path = cgroup_path(&format!("{}.{suffix}", self.name));
        self.edit(|c| c["linux"]["cgroupsPath"] = json!(path));
    }

    /// The cgroup directories this fixture's containers may use: its own
    /// and the `separate_cgroup` ones, in every hierarchy.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let prefix = format!("berth-test-{}", std::process::id());
        let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            roots.extend(entries.flatten().map(|e| e.path()));
        }
        let mut out = Vec::new();
        for root in roots {
            let dir = root.join(&prefix);
            out.push(dir.join(&self.name));
            let separate = format!("{}.", self.name);
            if let Ok(entries) = std::fs::read_dir(&dir) {
                out.extend(
                    entries
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .filter(|e| e.file_name().to_string_lossy().starts_with(&separate))
                        .map(|e| e.path()),
                );
            }
        }
        out
    }

    /// Asserts that nothing of this fixture remains: no state directories,
    /// cgroups, mounts or processes.
    pub fn assert_clean(&self) {
        for d in self.cgroup_dirs() {
            assert!(!d.exists(), "cgroup left behind: {}", d.display());
        }
        assert_bundle_clean(&self.root, &self.bundle);
    }
}

/// The container state directories in a state root (the seccomp filter
/// cache, which outlives containers by design, is not one).
pub fn state_left(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "seccomp~cache")
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that nothing of the containers of state root `root` and bundle
/// `bundle` remains: no state directory, mount or process.
pub fn assert_bundle_clean(root: &Path, bundle: &Path) {
    let leftovers = state_left(root);
    assert!(
        leftovers.is_empty(),
        "state directories left in {}: {leftovers:?}",
        root.display()
    );
    let b = bundle.to_string_lossy().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let ours: Vec<&str> = mounts.lines().filter(|l| l.contains(&b)).collect();
    assert!(ours.is_empty(), "mounts left behind: {ours:?}");
    let procs = processes_rooted_in(&bundle.join("rootfs"));
    assert!(procs.is_empty(), "processes left behind: {procs:?}");
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.cmd().args(["delete", "--force", id]).output();
        }
        // The per-container cgroup leaf is removed by delete; the prefix is ours.
        for d in self.cgroup_dirs() {
            let _ = std::fs::remove_dir(&d);
            if let Some(prefix) = d.parent() {
                let _ = std::fs::remove_dir(prefix);
            }
        }
    }
}

/// PIDs of processes running inside a container built on `rootfs`: their
/// root mount (mount point `/` in their own mountinfo) is a bind of it.
/// (`/proc/<pid>/root` cannot tell: after `pivot_root` it reads `/`.)
pub fn processes_rooted_in(rootfs: &Path) -> Vec<i32> {
    // The mount's root is shown relative to its filesystem, so compare the
    // unique tail: the test's temporary directory and below.
    let tail: PathBuf = rootfs
        .components()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let tail = format!("/{}", tail.display());
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(info) = std::fs::read_to_string(e.path().join("mountinfo")) else {
            continue;
        };
        let rooted = info.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 4 && f[4] == "/" && f[3].ends_with(&tail)
        });
        if rooted {
            out.push(pid);
        }
    }
    out
}

/// The container ID among berth's arguments, if the command takes one.
fn container_id(args: &[&str]) -> Option<String> {
    let cmd_idx = args.iter().position(|a| {
        [
            "create",
            "run",
            "start",
            "delete",
            "kill",
            "state",
            "exec",
            "pause",
            "resume",
            "update",
            "events",
            "ps",
            "checkpoint",
            "restore",
        ]
        .contains(a)
    })?;
    let mut i = cmd_idx + 1;
    while i < args.len() {
        let a = args[i];
        if a.starts_with('-') {
            if !a.contains('=') && takes_value(a) {
                i += 1;
            }
        } else {
            return Some(a.to_string());
        }
        i += 1;
    }
    None
}

fn takes_value(flag: &str) -> bool {
    matches!(
        flag,
        "-b" | "--bundle"
            | "--pid-file"
            | "--console-socket"
            | "--preserve-fds"
            | "--root"
            | "--log"
            | "--log-format"
            | "-p"
            | "--process"
            | "-e"
            | "--env"
            | "-u"
            | "--user"
            | "--cwd"
            | "-c"
            | "--cap"
            | "-g"
            | "--resources"
            | "-r"
            | "--format"
            | "--interval"
            | "--pidfd-socket"
            | "--cgroup"
            | "--apparmor"
            | "--process-label"
            | "--image-path"
            | "--work-path"
            | "--parent-path"
            | "--manage-cgroups-mode"
            | "--page-server"
            | "--status-fd"
            | "--empty-ns"
            | "--lsm-profile"
            | "--lsm-mount-context"
    )
}

/// How long any single berth command may take in a test.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `cmd` with stdout and stderr in files, not pipes (a container
/// the command creates inherits them and keeps them open long after the
/// command has exited); a command that outlives `TIMEOUT` is killed and
/// fails the test, naming `what`.
pub fn run_captured(mut cmd: Command, what: &str) -> Output {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let mut child = cmd
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, TIMEOUT).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{what} did not finish within {TIMEOUT:?}\nstderr: {}",
            s(&read_all(err.try_clone().unwrap()))
        )
    });
    Output {
        status,
        stdout: read_all(out),
        stderr: read_all(err),
    }
}

/// Asserts that berth `args` succeeded; returns its stdout.
pub fn ok_stdout(out: Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "berth {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        s(&out.stdout),
        s(&out.stderr)
    );
    s(&out.stdout)
}

/// Waits for a child for at most `limit`.
pub fn wait_timeout(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// The whole content of a file (rewound first).
pub fn read_all(mut f: std::fs::File) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut v = Vec::new();
    f.rewind().unwrap();
    f.read_to_end(&mut v).unwrap();
    v
}

/// Lossy UTF-8.
pub fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The static probe binary (`tests/probe/probe.c`), compiled once with the
/// system C compiler (gcc and libc6-dev, installed by `.ci/install-deps`),
/// or the one `BERTH_PROBE` names (`tests/vm/run` compiles it on the host:
/// faster than in the emulated guest, and possible under an enforcing
/// SELinux policy that lets the guest's compiler write nothing there).
pub fn probe() -> PathBuf {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("BERTH_PROBE").filter(|p| !p.is_empty()) {
                return PathBuf::from(p);
            }
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
            let out = dir.join("berth-probe");
            let tmp = dir.join(format!("berth-probe.{}", std::process::id()));
            let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/probe/probe.c");
            let st = Command::new("cc")
                .args(["-static", "-O2", "-pthread", "-o"])
                .arg(&tmp)
                .arg(&src)
                .status()
                .expect("cc (apt-get install gcc libc6-dev)");
            assert!(st.success(), "compiling {}", src.display());
            std::fs::rename(&tmp, &out).unwrap();
            out
        })
        .clone()
}

impl Fixture {
    /// Copies the probe into the rootfs as `/bin/probe`.
    pub fn install_probe(&self) {
        std::fs::copy(probe(), self.rootfs().join("bin/probe")).unwrap();
    }
}

/// Makes a config's `/proc` a fake: a tmpfs where procfs would be, with no
/// masked or read-only paths inside it (the attack tests' containers
/// control what berth would find there).
pub fn fake_proc(c: &mut Value) {
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/proc");
    mounts.insert(
        0,
        json!({"destination": "/proc", "type": "tmpfs", "source": "fakeproc"}),
    );
    c["linux"]["maskedPaths"] = json!([]);
    c["linux"]["readonlyPaths"] = json!([]);
}

/// Asserts that process `pid` runs through the sealed exec stub
/// (CVE-2019-5736): what the kernel ran is the memfd, not a host binary.
pub fn assert_runs_the_sealed_stub(pid: i32) {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        exe.starts_with("/memfd:berth-exec-stub"),
        "the interpreter the kernel ran must be the sealed stub, not {exe:?}"
    );
}

/// Runs `create` of a `true` container whose config is edited by `edit`;
/// expects exit status 1 with `want` in the message, and nothing left
/// behind (state directory, cgroup, mount, process).
pub fn refused(name: &str, edit: impl FnOnce(&mut Value), want: &str) {
    let f = Fixture::new(name, &["true"]);
    f.edit(edit);
    let b = f.bundle.to_string_lossy().to_string();
    let out = f.berth(&["create", "--bundle", &b, "c1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = s(&out.stderr);
    assert!(err.contains(want), "expected {want:?} in: {err}");
    f.assert_clean();
}

/// Runs `berth run --preserve-fds 1 c1` from a shell that opens a file
/// holding `through fd 3` as fd 3, and again as fd 4 (which berth must not
/// pass on). Returns whether berth succeeded and the container's stdout.
pub fn run_passing_fd3(f: &Fixture) -> (bool, String) {
    let b = f.bundle.to_string_lossy().to_string();
    let passed = f.dir.path().join("passed");
    std::fs::write(&passed, "through fd 3").unwrap();
    let out = f.dir.path().join("out");
    let script = format!(
        "exec {} --root {} run --preserve-fds 1 --bundle {b} c1 3<{} 4<{} >{}",
        berth_bin().display(),
        f.root.display(),
        passed.display(),
        passed.display(),
        out.display()
    );
    let st = Command::new("sh").arg("-c").arg(script).status().unwrap();
    (
        st.success(),
        std::fs::read_to_string(&out).unwrap_or_default(),
    )
}

/// Runs a command on a fresh pseudo-terminal (for `-t`): returns its exit
/// status and everything it wrote to the terminal (a command that outlives
/// `timeout` is killed and fails the test).
pub fn run_on_tty(cmd: &mut Command, timeout: std::time::Duration) -> (i32, String) {
    use std::os::fd::AsFd;
    let pty = nix::pty::openpty(None, None).unwrap();
    berth::sys::tty::set_winsize(
        pty.slave.as_fd(),
        berth::sys::tty::WinSize { rows: 24, cols: 80 },
    )
    .unwrap();
    let tty = || Stdio::from(pty.slave.try_clone().unwrap());
    let mut child = cmd
        .stdin(tty())
        .stdout(tty())
        .stderr(tty())
        .spawn()
        .unwrap();
    drop(pty.slave);
    // Read in this thread with a short poll: the `Command` keeps its own
    // copies of the slave, so EOF never comes.
    let master = pty.master;
    let mut acc = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        let exited = child.try_wait().unwrap();
        let mut fds = [nix::poll::PollFd::new(
            master.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(50u16)).unwrap_or(0);
        if ready > 0 {
            match nix::unistd::read(&master, &mut buf) {
                Ok(n) if n > 0 => {
                    acc.extend_from_slice(&buf[..n]);
                    continue;
                }
                _ => {}
            }
        }
        if let Some(st) = exited {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish; output so far: {}", s(&acc));
        }
    };
    (status.code().unwrap_or(-1), s(&acc))
}

/// Whether the kernel has AppArmor enabled.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'))
}

/// Whether SELinux is enabled (selinuxfs mounted, a policy loaded).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// An LSM label as the kernel prints it in `attr/current` (or an
/// attribute), without its trailing NUL or newline.
pub fn lsm_label(s: &str) -> &str {
    s.trim_end_matches(['\n', '\0'])
}

/// An AppArmor profile a caller loads itself (Docker's `docker-default`,
/// containerd's `cri-containerd.apparmor.d`): removed on drop if it was
/// not loaded when `note` was called.
pub struct CallerProfile(Option<&'static str>);

impl CallerProfile {
    pub fn note(name: &'static str) -> Self {
        let loaded = std::fs::read_to_string("/sys/kernel/security/apparmor/profiles")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split(' ').next() == Some(name));
        Self((apparmor_enabled() && !loaded).then_some(name))
    }
}

impl Drop for CallerProfile {
    fn drop(&mut self) {
        if let Some(name) = self.0 {
            let _ = std::fs::write("/sys/kernel/security/apparmor/.remove", name);
        }
    }
}
