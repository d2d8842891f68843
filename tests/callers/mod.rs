//! Helpers for the caller tests: the real containerd, podman and CRI
//! clients driving berth. Each test owns a private directory with every
//! root, state directory and socket inside it, and stops what it started.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common;

/// The runtime the callers are given: berth, or the program named by
/// `BERTH_CALLER_RUNTIME` (`runc`, or a path) to prove a caller test
/// against runc itself (`BERTH_CALLER_RUNTIME=runc cargo test --test
/// caller_docker -- --ignored`).
pub fn runtime_bin() -> PathBuf {
    match std::env::var_os("BERTH_CALLER_RUNTIME") {
        None => common::berth_bin(),
        Some(v) if v.is_empty() => common::berth_bin(),
        Some(v) => {
            let p = PathBuf::from(&v);
            if p.is_absolute() {
                return p;
            }
            let found = ok(Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {}", p.display())));
            PathBuf::from(found.trim())
        }
    }
}

/// Whether the callers run berth (not runc through `BERTH_CALLER_RUNTIME`).
pub fn runtime_is_berth() -> bool {
    runtime_bin() == common::berth_bin()
}

/// How long one caller command may take.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs a command with a time limit; stdout/stderr through files.
pub fn run(cmd: &mut Command) -> Output {
    run_for(cmd, TIMEOUT)
}

/// `run` with a time limit of its own (a client making many calls).
pub fn run_for(cmd: &mut Command, timeout: Duration) -> Output {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let status = common::wait_timeout(&mut child, timeout).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{cmd:?} did not finish within {timeout:?}; its stderr: {}",
            common::s(&read_file(err.try_clone().unwrap()))
        )
    });
    Output {
        status,
        stdout: read_file(out),
        stderr: read_file(err),
    }
}

fn read_file(mut f: std::fs::File) -> Vec<u8> {
    use std::io::Seek;
    let mut v = Vec::new();
    f.rewind().unwrap();
    f.read_to_end(&mut v).unwrap();
    v
}

/// Runs and asserts success; returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{desc} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        common::s(&out.stdout),
        common::s(&out.stderr)
    );
    common::s(&out.stdout)
}

/// Runs a command on a fresh pseudo-terminal (for `-t`): returns its exit
/// status and everything it wrote to the terminal.
pub fn run_on_tty(cmd: &mut Command) -> (i32, String) {
    common::run_on_tty(cmd, TIMEOUT)
}

/// Waits until `cond` holds, failing after [`TIMEOUT`].
pub fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_for_within(what, TIMEOUT, cond)
}

/// `wait_for` with a time limit of its own.
pub fn wait_for_within(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sha256(path: &Path) -> String {
    let out = ok(Command::new("sha256sum").arg(path));
    out.split_whitespace().next().unwrap().to_string()
}

/// Moves `file` into the layout's blobs under its digest; returns
/// (digest, size).
fn add_blob(layout: &Path, file: &Path) -> (String, u64) {
    let digest = sha256(file);
    let size = std::fs::metadata(file).unwrap().len();
    std::fs::rename(file, layout.join("blobs/sha256").join(&digest)).unwrap();
    (format!("sha256:{digest}"), size)
}

/// Builds an OCI image layout tar of a busybox root filesystem, offline:
/// one uncompressed layer, a config, a manifest and an index naming the
/// image `name` (e.g. `docker.io/library/busybox:berth`). `cmd` is the
/// image's default command.
pub fn busybox_image(dir: &Path, name: &str, cmd: &[&str]) -> PathBuf {
    let work = dir.join("image-build");
    let rootfs = work.join("rootfs");
    common::make_rootfs(&rootfs);
    let layout = work.join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let layer = work.join("layer.tar");
    ok(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer)
        .arg("."));
    let (layer_digest, layer_size) = add_blob(&layout, &layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    });
    let config_file = work.join("config.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let (config_digest, config_size) = add_blob(&layout, &config_file);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}],
    });
    let manifest_file = work.join("manifest.json");
    std::fs::write(&manifest_file, manifest.to_string()).unwrap();
    let (manifest_digest, manifest_size) = add_blob(&layout, &manifest_file);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(':').next().unwrap()},
        }],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let tar = dir.join(format!(
        "{}.tar",
        name.rsplit('/').next().unwrap().replace(':', "-")
    ));
    ok(Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    std::fs::remove_dir_all(&work).unwrap();
    tar
}

/// A containerd daemon with everything under `dir`, stopped on drop with
/// whatever shims it started; `extra` is appended to its config.
pub struct Containerd {
    pub dir: PathBuf,
    pub socket: PathBuf,
    child: Child,
}

impl Containerd {
    pub fn start(dir: &Path, extra: &str, with_cri: bool) -> Self {
        let socket = dir.join("containerd.sock");
        let disabled = if with_cri {
            "[]"
        } else {
            r#"["io.containerd.grpc.v1.cri"]"#
        };
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = {disabled}\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n{extra}",
            root = dir.join("root").display(),
            state = dir.join("state").display(),
            sock = socket.display(),
        );
        let config_path = dir.join("containerd.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd (apt-get install containerd)");
        let c = Self {
            dir: dir.to_path_buf(),
            socket,
            child,
        };
        wait_for("containerd's socket", || {
            c.socket.exists()
                && Command::new("ctr")
                    .arg("--address")
                    .arg(&c.socket)
                    .arg("version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        });
        c
    }

    /// A `ctr` command for namespace `ns`.
    pub fn ctr(&self, ns: &str) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(&self.socket).arg("-n").arg(ns);
        c
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        if common::wait_timeout(&mut self.child, Duration::from_secs(20)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Shims outlive containerd by design; ours name our socket.
        kill_processes_mentioning(&self.socket.to_string_lossy());
        unmount_below(&self.dir);
    }
}

/// SIGKILLs processes whose command line contains `needle` (processes this
/// test started, identified by its private paths).
pub fn kill_processes_mentioning(needle: &str) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if pid != std::process::id() as i32
            && String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .contains(needle)
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Unmounts (lazily, deepest first) every mount below `dir`.
pub fn unmount_below(dir: &Path) {
    let prefix = dir.to_string_lossy().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Mounts below `dir` still present (for the leak checks).
pub fn mounts_below(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(4)
                .is_some_and(|p| p.starts_with(&prefix))
        })
        .map(str::to_string)
        .collect()
}

/// Removes the (empty) cgroup directories `/sys/fs/cgroup/*/<rel>` left by
/// a caller, deepest first; returns those that could not be removed.
pub fn remove_cgroups(rel: &str) -> Vec<PathBuf> {
    let mut left = Vec::new();
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return left;
    };
    for e in entries.flatten() {
        let top = e.path().join(rel.trim_start_matches('/'));
        if !top.exists() {
            continue;
        }
        let mut dirs = vec![];
        collect_dirs(&top, &mut dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            if std::fs::remove_dir(&d).is_err() {
                left.push(d);
            }
        }
    }
    left
}

fn collect_dirs(d: &Path, out: &mut Vec<PathBuf>) {
    out.push(d.to_path_buf());
    if let Ok(entries) = std::fs::read_dir(d) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// Whether a program is installed.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
