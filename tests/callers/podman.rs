//! The podman of the caller tests (`caller_podman.rs`, and `systemd.rs`
//! in the systemd VM): private storage, run and tmp roots below its own
//! directory, berth through a wrapper that gives it a private `--root`,
//! the cgroupfs manager with a cgroup parent of its own, or systemd's
//! (`--cgroup-manager systemd`: berth gets `--systemd-cgroup` and
//! `machine.slice:libpod:<id>`).
//! `Podman::rootless` is podman run by the unprivileged test user
//! (`common::rootless`): podman makes its user namespace with newuidmap,
//! and conmon runs berth as uid 0 there, with no `--root`: berth must see
//! that it is rootless and keep its state in `$XDG_RUNTIME_DIR/berth`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::callers::{self, run};
use crate::common;

/// This host's hard limits are below podman's defaults.
pub const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=32768:32768",
];

pub struct Podman {
    pub dir: tempfile::TempDir,
    pub rootfs: PathBuf,
    pub state: PathBuf,
    /// `--cgroup-manager systemd`.
    pub systemd: bool,
    /// A cgroup parent of our own (podman's default is `libpod_parent`).
    pub cgroup_parent: String,
    /// Rootless: the user podman runs as, and its runtime directory.
    pub rootless: Option<(common::rootless::User, PathBuf)>,
    /// Held for the podman's life (the last field: dropped after the
    /// cleanup), so the tests of one binary run one podman at a time.
    /// Every root podman uses one shared-memory lock segment,
    /// `/libpod_lock`, whatever its `--root`: two starting at once race to
    /// create it, and the loser fails with `failed to create 2048 locks in
    /// /libpod_lock: file exists` (seen in the systemd VM).
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

/// See `Podman::_one_at_a_time`.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Podman {
    /// A podman with the cgroupfs manager.
    pub fn new() -> Self {
        Self::with_manager(false)
    }

    /// A podman with the cgroupfs manager, or systemd's (`systemd`).
    pub fn with_manager(systemd: bool) -> Self {
        common::require_root();
        let one_at_a_time = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::Builder::new()
            .prefix("berth-podman-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        common::make_rootfs(&rootfs);
        let state = dir.path().join("berth-state");
        // podman passes no --root to the runtime: a wrapper named `berth`
        // keeps berth's state private to this test.
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let wrapper = bin.join("berth");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec {} --root {} \"$@\"\n",
                common::berth_bin().display(),
                state.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.path().join("containers.conf"),
            if systemd {
                // journald (podman's default under systemd) keeps no file.
                "[engine]\nruntime_supports_json = [\"berth\"]\n[containers]\nlog_driver = \"k8s-file\"\n"
            } else {
                "[engine]\nruntime_supports_json = [\"berth\"]\n"
            },
        )
        .unwrap();
        let cgroup_parent = format!("/berth-podman-{}", std::process::id());
        Self {
            dir,
            rootfs,
            state,
            systemd,
            cgroup_parent,
            rootless: None,
            _one_at_a_time: one_at_a_time,
        }
    }

    /// A rootless podman (cgroupfs manager, vfs storage) run by the test
    /// user, with everything below a directory of the user's under /tmp
    /// (/root is 0700) and berth itself as the runtime: its state root is
    /// the default, `$XDG_RUNTIME_DIR/berth`.
    pub fn rootless() -> Self {
        let user = common::rootless::user();
        let mut p = Self::with_manager(false);
        let dir = tempfile::Builder::new()
            .prefix("berth-podman-rootless-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let rootfs = dir.path().join("rootfs");
        common::make_rootfs(&rootfs);
        std::fs::copy(
            p.path("containers.conf"),
            dir.path().join("containers.conf"),
        )
        .unwrap();
        let xdg = dir.path().join("xdg");
        std::fs::create_dir(&xdg).unwrap();
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        common::rootless::chown_tree(dir.path(), user.uid, user.gid);
        p.state = xdg.join("berth");
        p.dir = dir;
        p.rootfs = rootfs;
        p.rootless = Some((user, xdg));
        p
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn podman(&self) -> Command {
        let mut c = match &self.rootless {
            None => Command::new("podman"),
            Some((user, xdg)) => {
                let mut c = user.command("podman", xdg);
                c.env("HOME", self.path("home"))
                    .current_dir(self.dir.path())
                    .args(["--storage-driver", "vfs", "--runtime"])
                    .arg(common::berth_bin());
                c
            }
        };
        if self.rootless.is_none() {
            c.arg("--runtime").arg(self.path("bin/berth"));
        }
        c.env("CONTAINERS_CONF", self.path("containers.conf"))
            .arg("--root")
            .arg(self.path("storage"))
            .arg("--runroot")
            .arg(self.path("run"))
            .arg("--tmpdir")
            .arg(self.path("tmp"))
            .args(["--cgroup-manager"])
            .arg(if self.systemd { "systemd" } else { "cgroupfs" })
            .args(["--events-backend", "file"]);
        c
    }

    pub fn run_args(&self, extra: &[&str], args: &[&str]) -> Command {
        let mut c = self.podman();
        c.arg("run").args(["--network", "none"]);
        if self.rootless.is_none() {
            // Rootless, podman keeps its user's limits and asks no cgroup.
            if !self.systemd {
                c.args(["--cgroup-parent", &self.cgroup_parent]);
            }
            c.args(ULIMITS);
        }
        c.args(extra).arg("--rootfs").arg(&self.rootfs).args(args);
        c
    }

    pub fn finish(self) {
        let _ = run(self.podman().args(["rm", "--all", "--force"]));
        let left: Vec<_> = std::fs::read_dir(&self.state)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name())
                    .filter(|n| n != "seccomp~cache") // outlives containers by design
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "berth state left behind: {left:?}");
        let mounts = callers::mounts_below(self.dir.path());
        assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
        if self.rootless.is_some() {
            return;
        }
        // podman leaves its conmon cgroups (empty); berth's are gone.
        let conmon = |d: &Path| d.to_string_lossy().contains("conmon");
        let left: Vec<PathBuf> = callers::remove_cgroups(&self.cgroup_parent)
            .into_iter()
            .filter(|d| !conmon(d))
            .collect();
        assert!(left.is_empty(), "cgroups left behind: {left:?}");
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for e in std::fs::read_dir(&self.state)
            .into_iter()
            .flatten()
            .flatten()
        {
            let mut berth = match &self.rootless {
                None => Command::new(common::berth_bin()),
                Some((user, xdg)) => user.command(common::berth_bin(), xdg),
            };
            let _ = berth
                .arg("--root")
                .arg(&self.state)
                .args(["delete", "--force"])
                .arg(e.file_name())
                .output();
        }
        let _ = run(self.podman().args(["rm", "--all", "--force"]));
        // conmon processes are started per container with our paths.
        callers::kill_processes_mentioning(&self.dir.path().to_string_lossy());
        // Rootless podman keeps its user namespace in a pause process.
        if let Some(pid) = std::fs::read_to_string(self.path("tmp/pause.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        callers::unmount_below(self.dir.path());
        if self.rootless.is_none() {
            callers::remove_cgroups(&self.cgroup_parent);
        }
    }
}
