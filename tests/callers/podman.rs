//! The podman of the caller tests (`caller_podman.rs`, and `systemd.rs`
//! in the systemd VM): private storage, run and tmp roots below its own
//! directory, berth through a wrapper that gives it a private `--root`,
//! the cgroupfs manager with a cgroup parent of its own, or systemd's
//! (`--cgroup-manager systemd`: berth gets `--systemd-cgroup` and
//! `machine.slice:libpod:<id>`).
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
}

impl Podman {
    /// A podman with the cgroupfs manager.
    pub fn new() -> Self {
        Self::with_manager(false)
    }

    /// A podman with the cgroupfs manager, or systemd's (`systemd`).
    pub fn with_manager(systemd: bool) -> Self {
        common::require_root();
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
        }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn podman(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", self.path("containers.conf"))
            .arg("--root")
            .arg(self.path("storage"))
            .arg("--runroot")
            .arg(self.path("run"))
            .arg("--tmpdir")
            .arg(self.path("tmp"))
            .arg("--runtime")
            .arg(self.path("bin/berth"))
            .args(["--cgroup-manager"])
            .arg(if self.systemd { "systemd" } else { "cgroupfs" })
            .args(["--events-backend", "file"]);
        c
    }

    pub fn run_args(&self, extra: &[&str], args: &[&str]) -> Command {
        let mut c = self.podman();
        c.arg("run").args(["--network", "none"]);
        if !self.systemd {
            c.args(["--cgroup-parent", &self.cgroup_parent]);
        }
        c.args(ULIMITS)
            .args(extra)
            .arg("--rootfs")
            .arg(&self.rootfs)
            .args(args);
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
            let _ = Command::new(common::berth_bin())
                .arg("--root")
                .arg(&self.state)
                .args(["delete", "--force"])
                .arg(e.file_name())
                .output();
        }
        let _ = run(self.podman().args(["rm", "--all", "--force"]));
        // conmon processes are started per container with our paths.
        callers::kill_processes_mentioning(&self.dir.path().to_string_lossy());
        callers::unmount_below(self.dir.path());
        callers::remove_cgroups(&self.cgroup_parent);
    }
}
