//! containerd (Debian's package: containerd, ctr, containerd-shim-runc-v2)
//! drives berth through `ctr run --runc-binary`. The shim calls berth as it
//! calls runc: `--root R --log B/log.json --log-format json` before every
//! command, `create --bundle --pid-file`, `start`, `kill ID 9`,
//! `kill --all ID 9`, `delete ID`, `exec --process F --detach --pid-file P`,
//! `pause`, `resume`. It reads the pid files with a strict integer parser
//! and the last error line of log.json. (`update --resources - ID` is
//! driven through containerd's CRI plugin, in `caller_cri.rs`: Debian 12's
//! ctr 1.6 has no `task update`.)
//!
//! Run by the caller section of `.ci/test` (`cargo test --test
//! caller_containerd -- --ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callers;
mod common;

use std::process::Command;

use callers::{Containerd, ok, run, run_on_tty};

const IMAGE: &str = "docker.io/library/busybox:berth";

struct World {
    dir: tempfile::TempDir,
    containerd: Option<Containerd>,
    ns: String,
}

impl World {
    fn new(name: &str) -> Self {
        common::require_root();
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-{name}-"))
            .tempdir()
            .unwrap();
        let containerd = Containerd::start(dir.path(), "", false);
        let ns = format!("berth-{name}-{}", std::process::id());
        let w = Self {
            dir,
            containerd: Some(containerd),
            ns,
        };
        let image = callers::busybox_image(w.dir.path(), IMAGE, &["sh"]);
        ok(w.ctr().args(["images", "import"]).arg(&image));
        w
    }

    fn d(&self) -> &Containerd {
        self.containerd.as_ref().unwrap()
    }

    fn ctr(&self) -> Command {
        self.d().ctr(&self.ns)
    }

    /// `ctr run` with berth as the runc binary and a private runc root.
    fn ctr_run(&self, flags: &[&str], id: &str, args: &[&str]) -> Command {
        let mut c = self.ctr();
        c.arg("run")
            .arg("--runc-binary")
            .arg(common::berth_bin())
            .arg("--runc-root")
            .arg(self.dir.path().join("berth-root"));
        c.args(flags).arg(IMAGE).arg(id).args(args);
        c
    }

    fn task_status(&self, id: &str) -> String {
        let out = ok(self.ctr().args(["task", "ls"]));
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or_default()
            .to_string()
    }

    /// Whether container `id`'s cgroup is frozen (v1 freezer, or
    /// `cgroup.freeze` on a cgroup2-only host); `None` if it has neither.
    fn frozen(&self, id: &str) -> Option<bool> {
        let v1 = format!("/sys/fs/cgroup/freezer/{}/{id}/freezer.state", self.ns);
        let v2 = format!("/sys/fs/cgroup/{}/{id}/cgroup.freeze", self.ns);
        if let Ok(s) = std::fs::read_to_string(v1) {
            return Some(s.trim() == "FROZEN");
        }
        let s = std::fs::read_to_string(v2).ok()?;
        Some(s.trim() == "1")
    }

    fn remove(&self, id: &str) {
        let _ = run(self.ctr().args(["task", "kill", "-s", "SIGKILL", id]));
        callers::wait_for("the task to stop", || self.task_status(id) != "RUNNING");
        ok(self.ctr().args(["task", "delete", id]));
        ok(self.ctr().args(["container", "delete", id]));
    }

    /// Stops containerd and checks that nothing is left: berth state,
    /// mounts, cgroups.
    fn finish(mut self) {
        drop(self.containerd.take());
        // The shim gives berth `--root <runc-root>/<namespace>`.
        let root = self.dir.path().join("berth-root").join(&self.ns);
        let left: Vec<_> = std::fs::read_dir(&root)
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
        let cgroups = callers::remove_cgroups(&self.ns);
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // After a failure: containers berth still knows are force-deleted.
        let root = self.dir.path().join("berth-root").join(&self.ns);
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let _ = Command::new(common::berth_bin())
                .arg("--root")
                .arg(&root)
                .args(["delete", "--force"])
                .arg(e.file_name())
                .output();
        }
        drop(self.containerd.take());
        callers::unmount_below(self.dir.path());
        callers::remove_cgroups(&self.ns);
    }
}

#[test]
#[ignore = "caller test: needs containerd; run by .ci/test's caller section"]
fn containerd_runs_berth_containers() {
    let w = World::new("ctrd");

    // `ctr run --rm`: create, start, wait, delete; the output comes back.
    let out = ok(&mut w.ctr_run(&["--rm"], "t1", &["sh", "-c", "echo hello-$((6*7)); id -u"]));
    assert_eq!(out, "hello-42\n0\n");

    // A terminal: the shim gets the pty master through the console socket.
    let (code, out) =
        run_on_tty(&mut w.ctr_run(&["--rm", "-t"], "t2", &["sh", "-c", "tty; sleep 0.5"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("/dev/pts/0"), "{out}");

    // Detached, then exec (`exec --process F --detach --pid-file P`).
    ok(&mut w.ctr_run(&["-d"], "t3", &["sleep", "1000"]));
    assert_eq!(w.task_status("t3"), "RUNNING");
    let out = run(w.ctr().args([
        "task",
        "exec",
        "--exec-id",
        "e1",
        "t3",
        "sh",
        "-c",
        "cat /proc/1/cmdline; echo; exit 3",
    ]));
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(common::s(&out.stdout), "sleep\u{0}1000\u{0}\n");
    let (code, out) =
        run_on_tty(
            w.ctr()
                .args(["task", "exec", "-t", "--exec-id", "e2", "t3", "tty"]),
        );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    // An exec that cannot start: berth's message reaches ctr.
    let out = run(w
        .ctr()
        .args(["task", "exec", "--exec-id", "e3", "t3", "nope-cmd"]));
    assert!(!out.status.success());
    assert!(
        common::s(&out.stderr).contains("executable file not found in $PATH"),
        "{out:?}"
    );

    // `kill ID 9` and `kill --all ID 9`.
    ok(w.ctr().args([
        "task",
        "exec",
        "-d",
        "--exec-id",
        "e4",
        "t3",
        "sleep",
        "1000",
    ]));
    ok(w.ctr()
        .args(["task", "kill", "--all", "-s", "SIGKILL", "t3"]));
    callers::wait_for("t3 to stop", || w.task_status("t3") == "STOPPED");
    ok(w.ctr().args(["task", "delete", "t3"]));
    ok(w.ctr().args(["container", "delete", "t3"]));
    ok(&mut w.ctr_run(&["-d"], "t4", &["sleep", "1000"]));
    w.remove("t4");

    // A create that fails: its message reaches ctr through log.json.
    let out = run(&mut w.ctr_run(&["--rm"], "t5", &["nope-cmd"]));
    assert!(!out.status.success());
    let err = common::s(&out.stderr);
    assert!(
        err.contains(
            "OCI runtime create failed: unable to start container process: exec: \"nope-cmd\": executable file not found in $PATH"
        ),
        "{err}"
    );
    let _ = run(w.ctr().args(["container", "delete", "t5"]));
    w.finish();
}

/// `pause` and `resume` through ctr, checked in the container's freezer
/// cgroup (`ctr run` puts it at `/<namespace>/<id>`). The resource update
/// (`update --resources - ID`) is proven by the CRI caller test: Debian 12's
/// ctr 1.6 has no `task update`.
#[test]
#[ignore = "caller test: needs containerd; run by .ci/test's caller section"]
fn containerd_pauses_and_resumes() {
    let w = World::new("ctrd-pause");
    ok(&mut w.ctr_run(&["-d"], "p1", &["sleep", "1000"]));
    assert_eq!(w.frozen("p1"), Some(false));
    ok(w.ctr().args(["task", "pause", "p1"]));
    assert_eq!(w.task_status("p1"), "PAUSED");
    assert_eq!(w.frozen("p1"), Some(true));
    ok(w.ctr().args(["task", "resume", "p1"]));
    assert_eq!(w.task_status("p1"), "RUNNING");
    assert_eq!(w.frozen("p1"), Some(false));
    let out = ok(w
        .ctr()
        .args(["task", "exec", "--exec-id", "m", "p1", "echo", "awake"]));
    assert_eq!(out, "awake\n");
    w.remove("p1");
    w.finish();
}
