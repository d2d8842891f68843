//! buildah (Debian's package, 1.28; its default runtime is crun) drives
//! berth: `buildah from scratch`, `copy` of a busybox rootfs, `run
//! --runtime <berth>` of several commands, `commit`, then `bud` of a
//! Containerfile with RUN steps on top of the committed image. buildah
//! calls the runtime as `--root=<dir> create --bundle B --pid-file P ID`,
//! `start ID`, `state ID`, `delete ID`; `--runtime-flag root=<dir>` keeps
//! berth's state private to the test. Storage (vfs), run root and
//! containers.conf are private too; the containers get a cgroup parent of
//! our own (buildah puts a container straight into its parent).
//!
//! Run by the caller section of `.ci/test` (`cargo test --test
//! caller_buildah -- --ignored`). `BERTH_CALLER_RUNTIME=runc` runs it
//! against runc.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callers;
mod common;

use std::path::PathBuf;
use std::process::Command;

use callers::{ok, run};

struct Buildah {
    dir: tempfile::TempDir,
    state: PathBuf,
    cgroup_parent: String,
}

impl Buildah {
    fn new() -> Self {
        common::require_root();
        assert!(
            callers::have("buildah"),
            "buildah not installed (apt-get install buildah)"
        );
        let dir = tempfile::Builder::new()
            .prefix("berth-buildah-")
            .tempdir()
            .unwrap();
        std::fs::write(
            dir.path().join("containers.conf"),
            "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
        )
        .unwrap();
        let state = dir.path().join("berth-state");
        let cgroup_parent = format!("/berth-buildah-{}", std::process::id());
        Self {
            dir,
            state,
            cgroup_parent,
        }
    }

    fn buildah(&self) -> Command {
        let mut c = Command::new("buildah");
        c.env("CONTAINERS_CONF", self.dir.path().join("containers.conf"))
            .env_remove("BUILDAH_ISOLATION")
            .env_remove("BUILDAH_RUNTIME")
            .env("TMPDIR", self.dir.path())
            .arg("--root")
            .arg(self.dir.path().join("storage"))
            .arg("--runroot")
            .arg(self.dir.path().join("run"))
            .args(["--storage-driver", "vfs"]);
        c
    }

    /// The runtime flags of `run` and `bud`.
    fn runtime_args(&self) -> Vec<String> {
        vec![
            "--runtime".into(),
            callers::runtime_bin().display().to_string(),
            "--runtime-flag".into(),
            format!("root={}", self.state.display()),
            "--network".into(),
            "none".into(),
        ]
    }

    /// `buildah run` in container `ctr`.
    fn run(&self, ctr: &str, flags: &[&str], args: &[&str]) -> Command {
        let mut c = self.buildah();
        c.arg("run")
            .args(self.runtime_args())
            .args(flags)
            .arg(ctr)
            .arg("--")
            .args(args);
        c
    }

    fn finish(self) {
        let _ = run(self.buildah().args(["rm", "--all"]));
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
        let left = callers::remove_cgroups(&self.cgroup_parent);
        assert!(left.is_empty(), "cgroups left behind: {left:?}");
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        for e in std::fs::read_dir(&self.state)
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = Command::new(callers::runtime_bin())
                .arg("--root")
                .arg(&self.state)
                .args(["delete", "--force"])
                .arg(e.file_name())
                .output();
        }
        let _ = run(self.buildah().args(["rm", "--all"]));
        callers::unmount_below(self.dir.path());
        callers::remove_cgroups(&self.cgroup_parent);
    }
}

#[test]
#[ignore = "caller test: needs buildah; run by .ci/test's caller section"]
fn buildah_runs_commits_and_builds() {
    let b = Buildah::new();
    let rootfs = b.dir.path().join("rootfs");
    common::make_rootfs(&rootfs);

    // From scratch: copy a busybox rootfs in, run commands in it.
    let ctr = ok(b
        .buildah()
        .args(["from", "--cgroup-parent", &b.cgroup_parent, "scratch"]));
    let ctr = ctr.trim().to_string();
    ok(b.buildah()
        .arg("copy")
        .arg(&ctr)
        .arg(format!("{}/", rootfs.display()))
        .arg("/"));
    ok(b.buildah()
        .args(["config", "--env", "PATH=/bin", "--cmd", "sh"])
        .arg(&ctr));
    let out = ok(&mut b.run(
        &ctr,
        &[],
        &[
            "sh",
            "-c",
            "echo hello-$((6*7)); id -u; cat /proc/self/cgroup",
        ],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["hello-42", "0"], "{out}");
    // The runtime put the process into the cgroup buildah asked for.
    assert!(
        lines[2..]
            .iter()
            .any(|l| l.ends_with(&format!(":{}", b.cgroup_parent))),
        "{out}"
    );
    let out = run(&mut b.run(&ctr, &[], &["sh", "-c", "exit 7"]));
    assert!(common::s(&out.stderr).contains("exit status 7"), "{out:?}");
    assert!(!out.status.success());
    let out = ok(&mut b.run(
        &ctr,
        &[
            "--user",
            "1000:1000",
            "--workingdir",
            "/tmp",
            "--env",
            "FOO=bar",
        ],
        &["sh", "-c", "id -u; id -g; pwd; echo $FOO"],
    ));
    assert_eq!(out, "1000\n1000\n/tmp\nbar\n");
    ok(&mut b.run(&ctr, &[], &["sh", "-c", "echo from-run > /etc/marker"]));
    let out = run(&mut b.run(&ctr, &[], &["nope-cmd"]));
    assert!(!out.status.success());
    assert!(
        common::s(&out.stderr).contains("executable file not found in $PATH"),
        "{out:?}"
    );

    // Commit: the file written by `run` is in the image.
    ok(b.buildah().args(["commit", &ctr, "busybox-berth"]));
    ok(b.buildah().args(["rm", &ctr]));

    // bud with RUN steps (each one a runtime container) on that image.
    let ctx = b.dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Containerfile"),
        "FROM localhost/busybox-berth\n\
         RUN echo built-$((6*7)) > /built && mkdir -p /data && chown 1000 /data\n\
         RUN cat /etc/marker /built\n\
         USER 1000\n\
         RUN id -u > /data/uid\n\
         CMD [\"cat\", \"/built\"]\n",
    )
    .unwrap();
    let bud = |tag: &str| {
        let mut c = b.buildah();
        c.arg("bud")
            .args(b.runtime_args())
            .args(["--pull=never", "--cgroup-parent", &b.cgroup_parent])
            .args(["--tag", tag])
            .arg(&ctx);
        c
    };
    let out = ok(&mut bud("built"));
    assert!(out.contains("from-run\nbuilt-42\n"), "{out}");
    let ctr = ok(b.buildah().args(["from", "--pull-never", "built"]));
    let ctr = ctr.trim().to_string();
    let out = ok(&mut b.run(&ctr, &[], &["sh", "-c", "cat /built /data/uid; id -u"]));
    assert_eq!(out, "built-42\n1000\n1000\n");
    let cmd = ok(b
        .buildah()
        .args(["inspect", "--format", "{{.OCIv1.Config.Cmd}}", "built"]));
    assert_eq!(cmd.trim(), "[cat /built]");

    // A failing RUN step fails the build with its status.
    std::fs::write(
        ctx.join("Containerfile"),
        "FROM localhost/busybox-berth\nRUN exit 9\n",
    )
    .unwrap();
    let out = run(&mut bud("broken"));
    assert!(!out.status.success());
    assert!(common::s(&out.stderr).contains("exit status 9"), "{out:?}");
    b.finish();
}
