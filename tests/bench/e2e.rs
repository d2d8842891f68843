//! End-to-end rows (full mode only): what a user of a caller feels,
//! `ctr run --rm IMAGE ID /bin/true` and `docker run --rm IMAGE true`, with
//! berth, runc and crun in turn as the caller's runtime, alternated run by
//! run. The daemons are the caller tests' private ones (tests/callers/):
//! their own roots, sockets and cgroups, no bridge and no iptables, every
//! directory below /tmp. They start after the bench entered its private
//! mount namespace, so they and the runtimes they call see the v1-only
//! `/sys/fs/cgroup` crun needs. Each is stopped by its PID at the end, and
//! the rows fail if a runtime state, mount, cgroup or process is left.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::callers::{self, Containerd, ok};
use crate::dockerd::Dockerd;
use crate::{Runtime, ms, which};

/// The image `ctr` imports (an offline busybox OCI layout).
const IMAGE: &str = "docker.io/library/busybox:bench";

/// containerd namespace of the `ctr run` rows (also its cgroup parent).
fn namespace() -> String {
    format!("berth-bench-e2e-{}", std::process::id())
}

/// Times `runs` alternated `ctr run --rm` of `/bin/true` per runtime,
/// after one untimed warm-up run each; returns the wall times in ms.
pub fn ctr_run_rm(runtimes: &[Runtime], runs: usize) -> Vec<Vec<f64>> {
    let dir = tempfile::Builder::new()
        .prefix("berth-bench-ctr-")
        .tempdir()
        .unwrap();
    let ns = namespace();
    let d = Containerd::start(dir.path(), "", false);
    let image = callers::busybox_image(dir.path(), IMAGE, &["sh"]);
    ok(d.ctr(&ns).args(["images", "import"]).arg(&image));
    let bins: Vec<PathBuf> = runtimes.iter().map(|rt| which(&rt.bin)).collect();
    let root = |rt: &Runtime| dir.path().join(format!("runc-root-{}", rt.name));
    let mut out = vec![Vec::new(); runtimes.len()];
    for i in 0..=runs {
        for (r, rt) in runtimes.iter().enumerate() {
            let mut c = d.ctr(&ns);
            c.args(["run", "--rm", "--runc-binary"])
                .arg(&bins[r])
                .arg("--runc-root")
                .arg(root(rt))
                .arg(IMAGE)
                .arg(format!("{}-{i}", rt.name))
                .arg("/bin/true");
            let t = Instant::now();
            ok(&mut c);
            if i > 0 {
                out[r].push(ms(t.elapsed()));
            }
        }
    }
    drop(d);
    // The shim gives the runtime `--root <runc-root>/<namespace>`.
    for rt in runtimes {
        let left = crate::common::state_left(&root(rt).join(&ns));
        assert!(left.is_empty(), "{} state left behind: {left:?}", rt.name);
    }
    let mounts = callers::mounts_below(dir.path());
    assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
    let cgroups = callers::remove_cgroups(&ns);
    assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
    out
}

/// Times `runs` alternated `docker run --rm --network=none` of `true` per
/// runtime (berth added with `--add-runtime` and the default, crun added
/// with `--add-runtime`, runc Docker's built-in `runc`), after one untimed
/// warm-up run each; returns the wall times in ms.
pub fn docker_run_rm(runtimes: &[Runtime], runs: usize) -> Vec<Vec<f64>> {
    let crun = runtimes
        .iter()
        .find(|rt| rt.name == "crun")
        .map(|rt| format!("crun={}", which(&rt.bin).display()))
        .unwrap();
    let d = Dockerd::start("bench-e2e", &["--add-runtime", &crun]);
    let mut out = vec![Vec::new(); runtimes.len()];
    for i in 0..=runs {
        for (r, rt) in runtimes.iter().enumerate() {
            let runtime = format!("--runtime={}", rt.name);
            let mut c = d.run(&["--rm", &runtime], &["true"]);
            let t = Instant::now();
            ok(&mut c);
            if i > 0 {
                out[r].push(ms(t.elapsed()));
            }
        }
    }
    // Every runtime state root Docker gave (`<exec-root>/runtime-*/moby`)
    // must be empty.
    for e in std::fs::read_dir(d.dir.path().join("exec"))
        .unwrap()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with("runtime-") {
            let left = crate::common::state_left(&e.path().join("moby"));
            assert!(left.is_empty(), "state left in {e:?}: {left:?}");
        }
    }
    // Stops dockerd by its PID; fails on a leftover process, mount or
    // cgroup.
    d.finish();
    out
}

/// Whether the callers' programs are installed (the rows are skipped, and
/// the report says so, when they are not).
pub fn have_ctr() -> bool {
    ["containerd", "ctr", "containerd-shim-runc-v2"]
        .iter()
        .all(|p| callers::have(p))
}

pub fn have_docker() -> bool {
    callers::have("dockerd")
        && Command::new("/usr/bin/docker")
            .arg("--version")
            .output()
            .is_ok()
}
