//! Kubernetes' path to berth: containerd's CRI plugin with berth as a
//! runtime handler (what a RuntimeClass names). `tests/cri/client.py`, a
//! minimal CRI client over gRPC (Python grpcio, with `tests/cri/cri.proto`
//! written from the CRI API's field numbers), plays kubelet: a host-network
//! pod sandbox, a container in it, ExecSync, UpdateContainerResources
//! (a new memory limit), stop and removal.
//!
//! On a kernel with AppArmor (the AppArmor VM, `tests/vm/lsm.sh`) the CRI
//! plugin's AppArmor support is on, as on an Ubuntu node: containerd
//! generates and loads `cri-containerd.apparmor.d` and names it in the
//! container's `process.apparmorProfile`; the container must run under it
//! and StopContainer (`berth kill` with TERM) must still stop it.
//! Without AppArmor the container reads no label.
//!
//! Lab facts this setup follows: the pause image is a locally imported
//! image named by `sandbox_image`; `restrict_oom_score_adj = true` because
//! root here lacks CAP_SYS_RESOURCE; a host-network pod needs no CNI.
//!
//! Run by the caller section of `.ci/test` (`cargo test --test caller_cri
//! -- --ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callers;
mod common;

use std::path::Path;
use std::process::Command;

use callers::{Containerd, ok};

const PAUSE: &str = "docker.io/library/pause:berth";
const BUSYBOX: &str = "docker.io/library/busybox:berth";

/// containerd's default profile for CRI containers.
const CRI_PROFILE: &str = "cri-containerd.apparmor.d";

fn cri_config(dir: &Path) -> String {
    format!(
        r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  restrict_oom_score_adj = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = {no_apparmor}
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "berth"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
        BinaryName = "{berth}"
        Root = "{root}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni}/bin"
    conf_dir = "{cni}/conf"
"#,
        berth = callers::runtime_bin().display(),
        root = dir.join("berth-root").display(),
        cni = dir.join("cni").display(),
        no_apparmor = !common::apparmor_enabled(),
    )
}

#[test]
#[ignore = "caller test: needs containerd and python3 grpcio; run by .ci/test's caller section"]
fn cri_runs_a_pod_and_a_container_with_berth() {
    common::require_root();
    let dir = tempfile::Builder::new()
        .prefix("berth-cri-")
        .tempdir()
        .unwrap();
    let cgroup_parent = format!("/berth-cri-{}", std::process::id());
    let apparmor = common::apparmor_enabled();
    let _profile = common::CallerProfile::note(CRI_PROFILE);
    let containerd = Containerd::start(dir.path(), &cri_config(dir.path()), true);
    let guard = Cleanup {
        dir: dir.path().to_path_buf(),
        cgroup_parent: cgroup_parent.clone(),
        containerd: Some(containerd),
    };
    let d = guard.containerd.as_ref().unwrap();
    for (name, cmd) in [(PAUSE, &["sleep", "1000000"][..]), (BUSYBOX, &["sh"][..])] {
        let tar = callers::busybox_image(dir.path(), name, cmd);
        ok(d.ctr("k8s.io").args(["images", "import"]).arg(&tar));
    }

    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cri/client.py");
    let out = callers::run_for(
        // `BERTH_PYTHON`: a Python with grpcio other than `python3` (the
        // VM's, shared from a pyenv by tests/vm/run).
        Command::new(std::env::var_os("BERTH_PYTHON").unwrap_or_else(|| "python3".into()))
            .arg(&client)
            .arg(&d.socket)
            .arg("berth")
            .arg(BUSYBOX)
            .arg(&cgroup_parent),
        std::time::Duration::from_secs(600),
    );
    assert!(
        out.status.success(),
        "CRI client failed:\nstdout: {}\nstderr: {}\ncontainerd log (tail): {}",
        common::s(&out.stdout),
        common::s(&out.stderr),
        tail(&d.log(), 30)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state_after_start"], "CONTAINER_RUNNING", "{v}");
    let want = if apparmor {
        format!("{CRI_PROFILE} (enforce)")
    } else {
        String::new()
    };
    assert_eq!(v["label"], want.as_str(), "{v}");
    assert_eq!(v["exec_label"], want.as_str(), "{v}");
    assert_eq!(v["exec"]["stdout"], "started\nhello-cri\n", "{v}");
    assert_eq!(v["exec"]["exit_code"], 3, "{v}");
    // UpdateContainerResources: containerd runs `berth update --resources -
    // ID`; the new limit is in the container's cgroup, seen from inside and
    // on the host.
    let before = v["memory"]["before"].as_str().unwrap();
    assert_ne!(before, "67108864", "{v}");
    assert_eq!(v["memory"]["inside"], "67108864", "{v}");
    assert_eq!(v["memory"]["host"], "67108864", "{v}");
    assert_eq!(v["state_after_stop"], "CONTAINER_EXITED", "{v}");
    // StopContainer's TERM (`berth kill`) reached `sleep` (not the pod's
    // PID 1, which is the sandbox's pause process) through the profile.
    assert_eq!(v["exit_after_stop"], 143, "{v}");
    assert_eq!(v["removed"], true);
    guard.finish();
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

struct Cleanup {
    dir: std::path::PathBuf,
    cgroup_parent: String,
    containerd: Option<Containerd>,
}

impl Cleanup {
    /// Stops containerd and checks nothing of berth's is left.
    fn finish(mut self) {
        drop(self.containerd.take());
        let root = self.dir.join("berth-root").join("k8s.io");
        let left: Vec<_> = std::fs::read_dir(&root)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name())
                    .filter(|n| n != "seccomp~cache") // outlives containers by design
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "berth state left behind: {left:?}");
        let mounts = callers::mounts_below(&self.dir);
        assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
        let cgroups = callers::remove_cgroups(&self.cgroup_parent);
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let root = self.dir.join("berth-root").join("k8s.io");
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let _ = Command::new(callers::runtime_bin())
                .arg("--root")
                .arg(&root)
                .args(["delete", "--force"])
                .arg(e.file_name())
                .output();
        }
        drop(self.containerd.take());
        callers::unmount_below(&self.dir);
        callers::remove_cgroups(&self.cgroup_parent);
    }
}
