//! Launch-path behaviours real callers rely on (issue 10): each test
//! looks inside the container or at the host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Fixture;
use serde_json::{Value, json};

/// Replaces (or adds) the `kind` namespace entry with one joining `path`.
fn join_namespace(c: &mut Value, kind: &str, path: &str) {
    let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != kind);
    ns.push(json!({"type": kind, "path": path}));
}

fn read_sysctl(name: &str) -> String {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

/// Creates a container joining the host's `kind` namespace (as Docker's
/// `--network host`, `--ipc host`, `--uts host` do) with sysctl `name` set
/// to `value`: refused naming the field, and the host's value unchanged
/// (restored here if a regression wrote it).
fn host_sysctl_refused(kind: &str, nsfile: &str, name: &str, value: &str, what: &str) {
    let before = read_sysctl(name);
    let f = Fixture::new(&format!("sysctl-host{nsfile}"), &["true"]);
    f.edit(|c| {
        join_namespace(
            c,
            kind,
            &format!("/proc/{}/ns/{nsfile}", std::process::id()),
        );
        c["linux"]["sysctl"] = json!({ name: value });
    });
    let b = f.bundle.to_string_lossy().to_string();
    let out = f.berth(&["create", "--bundle", &b, "c1"]);
    let after = read_sysctl(name);
    if after != before {
        std::fs::write(format!("/proc/sys/{}", name.replace('.', "/")), &before).unwrap();
    }
    assert_eq!(after, before, "the host's {name} was written");
    let err = common::s(&out.stderr).replace("\\\"", "\"");
    assert_eq!(out.status.code(), Some(1), "{err}");
    let want =
        format!("linux.sysctl[\"{name}\"]: sysctl \"{name}\" not allowed in host {what} namespace");
    assert!(err.contains(&want), "expected {want:?} in: {err}");
    f.assert_clean();
}

/// A sysctl is never written into a namespace the container shares with
/// the host, whichever entry says so.
#[test]
fn sysctl_in_a_namespace_shared_with_the_host_is_refused() {
    // Per-namespace values harmless to change for a moment.
    let probes = read_sysctl("net.ipv4.tcp_keepalive_probes");
    let other = (probes.parse::<u32>().unwrap() % 100 + 1).to_string();
    host_sysctl_refused(
        "network",
        "net",
        "net.ipv4.tcp_keepalive_probes",
        &other,
        "network",
    );
    host_sysctl_refused(
        "network",
        "net",
        "net.ipv4.ip_forward",
        &read_sysctl("net.ipv4.ip_forward"),
        "network",
    );
    let shmmni = read_sysctl("kernel.shmmni");
    let other = (shmmni.parse::<u32>().unwrap() - 1).to_string();
    host_sysctl_refused("ipc", "ipc", "kernel.shmmni", &other, "IPC");
    host_sysctl_refused("uts", "uts", "kernel.domainname", "berth-test", "UTS");
}

/// A namespace path that is not the host's still takes the sysctl, inside.
#[test]
fn sysctl_in_a_joined_private_namespace_is_written_there() {
    let f = Fixture::new("sysctl-private", &["sleep", "30"]);
    f.create("holder");
    let pid = f.state("holder")["pid"].as_i64().unwrap();
    let f2 = Fixture::new(
        "sysctl-private2",
        &["cat", "/proc/sys/net/ipv4/tcp_keepalive_probes"],
    );
    f2.edit(|c| {
        join_namespace(c, "network", &format!("/proc/{pid}/ns/net"));
        c["linux"]["sysctl"] = json!({"net.ipv4.tcp_keepalive_probes": "7"});
    });
    assert_eq!(f2.output("c2").trim(), "7");
    f.ok(&["delete", "--force", "holder"]);
}

/// Standard streams that are the host's `/dev/null` (here stdin, opened
/// read-only as Docker's shim does without `-i`) become the container's
/// own `/dev/null`: the same file as `/dev/null` inside, and writable.
#[test]
fn host_dev_null_stdio_is_reopened_inside() {
    let f = Fixture::new(
        "devnull-stdio",
        &[
            "sh",
            "-c",
            "echo x >&0 && echo written; stat -L -c %d:%i /proc/self/fd/0; stat -c %d:%i /dev/null",
        ],
    );
    let out = f.output("c1");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "written", "{out}");
    assert_eq!(
        lines[1], lines[2],
        "stdin is not the container's /dev/null: {out}"
    );
}

/// A missing `process.cwd` is created (0755, the container's root) and the
/// process starts there, for `run` (with a read-only root too: created
/// before the root is made read-only) and for `exec --cwd` (where a
/// read-only root makes it fail, naming the field).
#[test]
fn missing_cwd_is_created() {
    let f = Fixture::new("cwd-create", &["sh", "-c", "pwd; stat -c %a:%u:%g ."]);
    f.edit(|c| {
        c["process"]["cwd"] = json!("/new/dir");
        c["root"]["readonly"] = json!(false);
    });
    assert_eq!(f.output("c1"), "/new/dir\n755:0:0\n");
    assert!(f.rootfs().join("new/dir").is_dir());

    let ro = Fixture::new("cwd-create-ro", &["pwd"]);
    ro.edit(|c| {
        c["process"]["cwd"] = json!("/ro/new");
        c["root"]["readonly"] = json!(true);
    });
    assert_eq!(ro.output("c1"), "/ro/new\n");

    let e = Fixture::new("cwd-create-exec", &["sleep", "30"]);
    e.edit(|c| c["root"]["readonly"] = json!(false));
    e.create("c1");
    e.ok(&["start", "c1"]);
    let out = e.ok(&[
        "exec",
        "--cwd",
        "/exec/new",
        "c1",
        "sh",
        "-c",
        "pwd; stat -c %a .",
    ]);
    assert_eq!(out, "/exec/new\n755\n");
    e.ok(&["delete", "--force", "c1"]);

    let e = Fixture::new("cwd-create-exec-ro", &["sleep", "30"]);
    e.edit(|c| c["root"]["readonly"] = json!(true));
    e.create("c1");
    e.ok(&["start", "c1"]);
    let err = e.fails(&["exec", "--cwd", "/exec/new", "c1", "pwd"]);
    assert!(
        err.contains("process.cwd: create") && err.contains("/exec/new"),
        "{err}"
    );
    e.ok(&["delete", "--force", "c1"]);
}

/// A rootfs whose `/proc` or `/sys` is a symlink (or a file) is refused
/// as runc refuses it, naming the mount; nothing is mounted through it.
#[test]
fn proc_or_sys_destination_that_is_a_symlink_is_refused() {
    for (name, dest, fstype) in [
        ("symproc", "proc", "proc"),
        ("symsys", "sys", "sysfs"),
        ("fileproc", "proc", "proc"),
    ] {
        let f = Fixture::new(name, &["true"]);
        let at = f.rootfs().join(dest);
        std::fs::remove_dir(&at).unwrap();
        std::fs::create_dir(f.rootfs().join("elsewhere")).unwrap();
        if name.starts_with("sym") {
            std::os::unix::fs::symlink("/elsewhere", &at).unwrap();
        } else {
            std::fs::write(&at, "").unwrap();
        }
        let b = f.bundle.to_string_lossy().to_string();
        let err = f.fails(&["create", "--bundle", &b, "c1"]);
        let want = format!(
            "on /{dest}: filesystem \\\"{fstype}\\\" must be mounted on ordinary directory"
        );
        assert!(err.contains(&want), "expected {want:?} in: {err}");
        f.assert_clean();
        let elsewhere = std::fs::read_dir(f.rootfs().join("elsewhere")).unwrap();
        assert_eq!(
            elsewhere.count(),
            0,
            "{fstype} was mounted through the symlink"
        );
    }
}

/// A rootfs with no procfs mount whose `/proc` is the image's own files
/// (a FIFO where the kernel's `cap_last_cap` would be) runs: berth reads
/// nothing of the image's `/proc`, so nothing there can make it wait.
#[test]
fn image_files_in_an_unmounted_proc_never_hang() {
    let f = Fixture::new("fifoproc", &["echo", "ran"]);
    f.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["destination"] != "/proc");
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
    });
    let kernel = f.rootfs().join("proc/sys/kernel");
    std::fs::create_dir_all(&kernel).unwrap();
    nix::unistd::mkfifo(
        &kernel.join("cap_last_cap"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    assert_eq!(f.output("c1"), "ran\n");
}

/// A cgroup frozen by the test (v1 `freezer.state`, or cgroup2
/// `cgroup.freeze`), thawed and removed when dropped, even after a failed
/// assertion.
struct FrozenCgroup {
    dir: std::path::PathBuf,
    v1: bool,
}

impl FrozenCgroup {
    fn new(dir: std::path::PathBuf, v1: bool) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let g = Self { dir, v1 };
        g.write(true);
        g
    }

    fn write(&self, frozen: bool) {
        let (file, v) = match (self.v1, frozen) {
            (true, true) => ("freezer.state", "FROZEN"),
            (true, false) => ("freezer.state", "THAWED"),
            (false, f) => ("cgroup.freeze", if f { "1" } else { "0" }),
        };
        std::fs::write(self.dir.join(file), v).unwrap();
    }
}

impl Drop for FrozenCgroup {
    fn drop(&mut self) {
        self.write(false);
        let _ = std::fs::remove_dir(&self.dir);
        if let Some(p) = self.dir.parent() {
            let _ = std::fs::remove_dir(p);
        }
    }
}

/// `create` in a cgroup frozen before the container exists fails at once,
/// naming the cgroup (runc: "container's cgroup unexpectedly frozen"), and
/// leaves nothing behind; it never waits for an init that cannot run.
fn frozen_cgroup_refused(name: &str, frozen: &std::path::Path, v1: bool, cgroups_path: &str) {
    let f = Fixture::new(name, &["true"]);
    f.edit(|c| c["linux"]["cgroupsPath"] = json!(cgroups_path));
    let guard = FrozenCgroup::new(frozen.to_path_buf(), v1);
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(
        err.contains("container's cgroup unexpectedly frozen") && err.contains("berth-test-"),
        "{err}"
    );
    drop(guard);
    f.assert_clean();
}

#[test]
fn pre_existing_frozen_cgroup_is_refused_never_hangs() {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let v1_freezer = root.join("freezer");
    let path = common::cgroup_path("frozen-own");
    if v1_freezer.is_dir() {
        let dir = v1_freezer.join(path.trim_start_matches('/'));
        frozen_cgroup_refused("frozen-own", &dir, true, &path);
    }
    // cgroup2: the hybrid host's unified tree (its freeze stops processes
    // as well) or a pure v2 host's; frozen by an ancestor here.
    let unified = if root.join("unified/cgroup.procs").exists() {
        root.join("unified")
    } else {
        root.to_path_buf()
    };
    if unified.join("cgroup.procs").exists() {
        let parent = common::cgroup_path("frozen-parent");
        let dir = unified.join(parent.trim_start_matches('/'));
        frozen_cgroup_refused("frozen-parent", &dir, false, &format!("{parent}/c"));
    }
}

/// createContainer hooks run with the container's root filesystem as
/// their working directory, as runc runs them: a relative path written by
/// the hook lands in the rootfs.
#[test]
fn create_container_hooks_run_in_the_rootfs() {
    let f = Fixture::new("hook-cwd", &["cat", "/hook-cwd"]);
    f.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["hooks"] = json!({"createContainer": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", "ls bin/busybox > hook-cwd"]
        }]});
    });
    assert_eq!(f.output("c1"), "bin/busybox\n");
}

/// A read-only `/dev` tmpfs works: devices, symlinks and `/dev/pts` are set
/// up first, then `/dev` itself is read-only (its devices still usable).
#[test]
fn read_only_dev_works() {
    let f = Fixture::new(
        "ro-dev",
        &[
            "sh",
            "-c",
            "test -c /dev/pts/ptmx && echo pts; test -L /dev/fd && echo links; \
             echo x > /dev/null && echo null; touch /dev/new 2>/dev/null || echo refused; \
             grep ' /dev ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1",
        ],
    );
    f.edit(|c| {
        let dev = c["mounts"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|m| m["destination"] == "/dev")
            .unwrap();
        dev["options"].as_array_mut().unwrap().push(json!("ro"));
    });
    assert_eq!(f.output("c1"), "pts\nlinks\nnull\nrefused\nro\n");
}

/// `--no-pivot`: the host's procfs is not left reachable in the
/// container's mount namespace, so a new user namespace inside the
/// container cannot mount a fresh, unmasked procfs (runc's test: `unshare
/// -mrpf` then `mount -t proc`). The container's own /proc still works.
#[test]
fn no_pivot_does_not_allow_a_fresh_procfs() {
    let f = Fixture::new(
        "nopivot-proc",
        &[
            "sh",
            "-c",
            "test -r /proc/self/status && echo proc; mkdir -p /tmp/p; \
             unshare -mrpf sh -c 'mount -t proc none /tmp/p && echo mounted || echo refused'",
        ],
    );
    f.edit(|c| {
        c["root"]["readonly"] = json!(false);
        // Mapping uid 0 into a new user namespace needs CAP_SETFCAP.
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SETFCAP"));
        }
    });
    let b = f.bundle.to_string_lossy().to_string();
    let out = f.berth(&["run", "--no-pivot", "--bundle", &b, "c1"]);
    let (stdout, stderr) = (common::s(&out.stdout), common::s(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout, "proc\nrefused\n", "{stderr}");
}

/// In a user namespace, a bind source the container's root cannot reach
/// (below root-owned 0700 directories) is still mounted: berth opens it on
/// the host side. Read by the process of `run` and of a later `exec`.
#[test]
fn bind_source_unreachable_for_the_userns_root_is_mounted() {
    let f = Fixture::new("userns-bind", &["cat", "/mnt/vol/data"]);
    let locked = f.dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let vol = locked.join("vol");
    std::fs::create_dir(&vol).unwrap();
    std::fs::set_permissions(&vol, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(vol.join("data"), "volume data\n").unwrap();
    // The mount point exists in the image (the container's root does not
    // own the rootfs here, so it could not make it).
    std::fs::create_dir_all(f.rootfs().join("mnt/vol")).unwrap();
    f.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt/vol", "type": "bind",
            "source": vol.to_string_lossy(), "options": ["rbind", "ro"]
        }));
    });
    assert_eq!(f.output("c1"), "volume data\n");

    f.edit(|c| c["process"]["args"] = json!(["sleep", "30"]));
    f.create("c2");
    f.ok(&["start", "c2"]);
    assert_eq!(
        f.ok(&["exec", "c2", "cat", "/mnt/vol/data"]),
        "volume data\n"
    );
    let err = f.fails(&["exec", "c2", "touch", "/mnt/vol/x"]);
    assert!(
        err.contains("Read-only file system"),
        "the bind is not read-only: {err}"
    );
    f.ok(&["delete", "--force", "c2"]);
}
