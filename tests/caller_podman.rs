//! podman (Debian's package, with conmon) drives berth: `podman --runtime
//! <berth> run --rootfs <dir> --network none …`, then exec, stop and rm.
//! podman is told that berth logs JSON (`runtime_supports_json`), so after
//! a failure it reads berth's whole log file as one JSON object: a single
//! failure must write exactly one line.
//!
//! Run by the caller section of `.ci/test` (`cargo test --test
//! caller_podman -- --ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callers;
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use callers::{ok, run};

/// This host's hard limits are below podman's defaults.
const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=32768:32768",
];

struct Podman {
    dir: tempfile::TempDir,
    rootfs: PathBuf,
    state: PathBuf,
    /// A cgroup parent of our own (podman's default is `libpod_parent`).
    cgroup_parent: String,
}

impl Podman {
    fn new() -> Self {
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
            "[engine]\nruntime_supports_json = [\"berth\"]\n",
        )
        .unwrap();
        let cgroup_parent = format!("/berth-podman-{}", std::process::id());
        Self {
            dir,
            rootfs,
            state,
            cgroup_parent,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn podman(&self) -> Command {
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
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"]);
        c
    }

    fn run_args(&self, extra: &[&str], args: &[&str]) -> Command {
        let mut c = self.podman();
        c.arg("run")
            .args(["--network", "none", "--cgroup-parent", &self.cgroup_parent])
            .args(ULIMITS)
            .args(extra)
            .arg("--rootfs")
            .arg(&self.rootfs)
            .args(args);
        c
    }

    fn finish(self) {
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

#[test]
#[ignore = "caller test: needs podman; run by .ci/test's caller section"]
fn podman_runs_execs_stops_and_removes() {
    let p = Podman::new();
    let out = ok(&mut p.run_args(&["--rm"], &["sh", "-c", "echo hello-$((6*7)); id -u"]));
    assert_eq!(out, "hello-42\n0\n");

    ok(&mut p.run_args(&["-d", "--name", "p1"], &["sleep", "1000"]));
    let out = ok(p.podman().args([
        "exec",
        "p1",
        "sh",
        "-c",
        "cat /proc/1/cmdline; echo; echo $((1+2))",
    ]));
    assert_eq!(out, "sleep\u{0}1000\u{0}\n3\n");
    let out = run(p.podman().args(["exec", "p1", "sh", "-c", "exit 5"]));
    assert_eq!(out.status.code(), Some(5));
    let (code, tty) = callers::run_on_tty(p.podman().args(["exec", "-t", "p1", "tty"]));
    assert_eq!(code, 0, "{tty}");
    assert!(tty.contains("/dev/pts/"), "{tty}");
    ok(p.podman().args(["stop", "-t", "1", "p1"]));
    let out = ok(p
        .podman()
        .args(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]));
    assert!(out.contains("p1 Exited"), "{out}");
    ok(p.podman().args(["rm", "p1"]));

    // A failing create: podman parses berth's log file as one JSON object
    // (a second line would make it fall back to the raw text).
    let out = run(&mut p.run_args(&["--rm"], &["nope-cmd"]));
    assert!(!out.status.success());
    let err = common::s(&out.stderr);
    assert!(
        err.contains("unable to start container process: exec: \"nope-cmd\": executable file not found in $PATH"),
        "{err}"
    );
    assert!(
        !err.contains("level=error"),
        "the JSON log was parsed: {err}"
    );
    p.finish();
}
