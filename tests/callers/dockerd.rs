//! The private dockerd of `caller_docker.rs`: everything (data root, exec
//! root, socket, pid file, client config) below its own directory, berth
//! added with `--add-runtime` and made the default, a cgroup parent of its
//! own, a busybox image from `docker import`; stopped by its PID, with
//! checks that nothing of it remains.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::callers::{self, ok, run};
use crate::common;

pub const IMAGE: &str = "busybox:berth";

/// Debian's client (a newer `docker` earlier in PATH also works, but the
/// test uses what `.ci/install-deps` installs).
fn client() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/docker");
    if debian.exists() {
        debian
    } else {
        PathBuf::from("docker")
    }
}

/// A dockerd with everything below its own directory.
pub struct Dockerd {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    pub socket: PathBuf,
    pub cgroup_parent: String,
    /// The containerd of `start_on_own_containerd`, stopped after dockerd
    /// (fields drop after `Drop::drop`), then its directory.
    own_containerd: Option<callers::Containerd>,
    own_containerd_dir: Option<tempfile::TempDir>,
}

impl Dockerd {
    /// dockerd on a containerd of the test's own (`--containerd`). The test
    /// VMs use it: under emulation the containerd that dockerd starts itself
    /// often misses dockerd's startup deadline ("timeout waiting for
    /// containerd to start").
    pub fn start_on_own_containerd(name: &str, extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-{name}-ctrd-"))
            .tempdir()
            .unwrap();
        let containerd = callers::Containerd::start(dir.path(), "", false);
        let socket = containerd.socket.to_string_lossy().to_string();
        let mut args = vec!["--containerd", socket.as_str()];
        args.extend_from_slice(extra);
        let mut d = Self::start(name, &args);
        d.own_containerd = Some(containerd);
        d.own_containerd_dir = Some(dir);
        d
    }

    pub fn start(name: &str, extra: &[&str]) -> Self {
        common::require_root();
        assert!(
            callers::have("dockerd"),
            "dockerd not installed (apt-get install docker.io)"
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-{name}-"))
            .tempdir()
            .unwrap();
        // A remapped root must be able to reach the data root.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let socket = dir.path().join("docker.sock");
        let config = dir.path().join("daemon.json");
        std::fs::write(&config, "{}").unwrap();
        std::fs::create_dir(dir.path().join("client")).unwrap();
        // The systemd cgroup driver takes a slice (no dash: systemd would
        // nest it below `berth.slice`).
        let cgroup_parent = if extra.contains(&"native.cgroupdriver=systemd") {
            format!("berth{name}{}.slice", std::process::id())
        } else {
            format!("/berth-{name}-{}", std::process::id())
        };
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .arg("--pidfile")
            .arg(dir.path().join("docker.pid"))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .args(["--ip-masq=false", "--storage-driver", "vfs"])
            .arg("--add-runtime")
            .arg(format!("berth={}", callers::runtime_bin().display()))
            .args([
                "--default-runtime",
                "berth",
                "--cgroup-parent",
                &cgroup_parent,
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd");
        let d = Self {
            dir,
            child: Some(child),
            socket,
            cgroup_parent,
            own_containerd: None,
            own_containerd_dir: None,
        };
        // dockerd takes about 50 s to start in the emulated test VM
        // (tests/vm/lsm.sh), and more when the host is loaded.
        let ready = || {
            d.socket.exists()
                && d.docker()
                    .arg("version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        while !ready() {
            if std::time::Instant::now() > deadline {
                let log = d.log();
                let lines: Vec<&str> = log.lines().collect();
                panic!(
                    "dockerd's socket did not appear within 300 s; the end of its log:\n{}",
                    lines[lines.len().saturating_sub(40)..].join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let info = ok(d.docker().args(["info", "--format", "{{.DefaultRuntime}}"]));
        assert_eq!(info.trim(), "berth", "{}", d.log());
        d.import_busybox();
        d
    }

    pub fn docker(&self) -> Command {
        let mut c = Command::new(client());
        c.env("DOCKER_CONFIG", self.dir.path().join("client"))
            .arg("--host")
            .arg(format!("unix://{}", self.socket.display()));
        c
    }

    /// `docker run` without a network (there is no bridge).
    pub fn run(&self, flags: &[&str], args: &[&str]) -> Command {
        let mut c = self.docker();
        c.arg("run");
        if !flags.iter().any(|f| f.starts_with("--network")) {
            c.arg("--network=none");
        }
        c.args(flags).arg(IMAGE).args(args);
        c
    }

    pub fn import_busybox(&self) {
        let rootfs = self.dir.path().join("image-rootfs");
        common::make_rootfs(&rootfs);
        std::fs::copy(common::probe(), rootfs.join("bin/probe")).unwrap();
        let tar = self.dir.path().join("busybox.tar");
        ok(Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."));
        ok(self
            .docker()
            .args(["import", "-c", "CMD [\"sh\"]", "-c", "ENV PATH=/bin"])
            .arg(&tar)
            .arg(IMAGE));
        std::fs::remove_dir_all(&rootfs).unwrap();
        std::fs::remove_file(&tar).unwrap();
    }

    pub fn inspect(&self, name: &str, format: &str) -> String {
        ok(self.docker().args(["inspect", "--format", format, name]))
            .trim()
            .to_string()
    }

    /// The host side of a container's cgroup file: the v1 controller's
    /// file, or the cgroup2 one.
    pub fn cgroup_file(&self, name: &str, v1: (&str, &str), v2: &str) -> String {
        let id = self.inspect(name, "{{.Id}}");
        let p1 = format!(
            "/sys/fs/cgroup/{}{}/{id}/{}",
            v1.0, self.cgroup_parent, v1.1
        );
        let p2 = format!("/sys/fs/cgroup{}/{id}/{v2}", self.cgroup_parent);
        std::fs::read_to_string(&p1)
            .or_else(|_| std::fs::read_to_string(&p2))
            .unwrap_or_else(|e| panic!("neither {p1} nor {p2}: {e}"))
            .trim()
            .to_string()
    }

    pub fn rm(&self, names: &[&str]) {
        let _ = run(self.docker().args(["rm", "--force"]).args(names));
    }

    /// `docker rm --force` of every container.
    pub fn remove_all(&self) {
        let all = run(self.docker().args(["ps", "--all", "--quiet"]));
        let all = common::s(&all.stdout);
        let ids: Vec<&str> = all.split_whitespace().collect();
        if !ids.is_empty() {
            self.rm(&ids);
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// Where the shim keeps the runtime's state: Docker gives every
    /// runc-like runtime `--root <exec-root>/runtime-runc/moby`.
    pub fn runtime_root(&self) -> PathBuf {
        self.dir.path().join("exec/runtime-runc/moby")
    }

    /// SIGTERM to the PID in dockerd's pid file; dockerd stops its
    /// containerd. SIGKILL after 30 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = std::fs::read_to_string(self.dir.path().join("docker.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .unwrap_or(child.id() as i32);
        assert_eq!(pid, child.id() as i32, "dockerd's pid file");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        if common::wait_timeout(&mut child, Duration::from_secs(30)).is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Removes every container, stops dockerd and checks that nothing is
    /// left: berth state, processes, mounts, cgroups.
    pub fn finish(mut self) {
        self.remove_all();
        let root = self.runtime_root();
        let left: Vec<_> = std::fs::read_dir(&root)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name())
                    .filter(|n| n != "seccomp~cache") // outlives containers by design
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "runtime state left behind: {left:?}");
        self.stop();
        let needle = self.dir.path().to_string_lossy().to_string();
        let procs = processes_mentioning(&needle);
        assert!(procs.is_empty(), "processes left behind: {procs:?}");
        // dockerd itself leaves the host network's sandbox key (an nsfs
        // bind of the host's namespace, made for `--network host`) mounted
        // after shutdown, whatever the runtime.
        let _ = nix::mount::umount2(
            &self.dir.path().join("exec/netns/default"),
            nix::mount::MntFlags::MNT_DETACH,
        );
        let mounts = callers::mounts_below(self.dir.path());
        assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
        let cgroups = callers::remove_cgroups(&self.cgroup_parent);
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.remove_all();
        }
        let root = self.runtime_root();
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let _ = Command::new(callers::runtime_bin())
                .arg("--root")
                .arg(&root)
                .args(["delete", "--force"])
                .arg(e.file_name())
                .output();
        }
        self.stop();
        // Shims name our exec root in their arguments.
        callers::kill_processes_mentioning(&self.dir.path().to_string_lossy());
        callers::unmount_below(self.dir.path());
        callers::remove_cgroups(&self.cgroup_parent);
    }
}

/// PIDs (other than this test) whose command line contains `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(needle)
                .then(|| format!("{}: {cmd}", e.file_name().to_string_lossy()))
        })
        .collect()
}

/// A named check run against one dockerd.
pub type Scenario = (&'static str, fn(&Dockerd));

/// Runs every scenario, then fails naming each one that failed.
pub fn run_scenarios(d: &Dockerd, scenarios: &[Scenario]) {
    let mut failed = Vec::new();
    for (name, f) in scenarios {
        eprintln!("scenario: {name}");
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| f(d))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{name}: {msg}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} scenario(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
