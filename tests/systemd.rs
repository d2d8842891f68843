//! The systemd cgroup driver (`--systemd-cgroup`), proved on a host whose
//! PID 1 is systemd: the systemd mode of the test VM
//! (`BERTH_VM_INIT=systemd tests/vm/run`, see tests/vm/README.md). The
//! tests are `#[ignore]`d on hosts without systemd; the VM runs them with
//! `--include-ignored`. Each checks the unit (`systemctl show`), the cgroup
//! files from inside the container, and that nothing is left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callers;
mod common;
#[path = "callers/dockerd.rs"]
mod dockerd;
#[path = "callers/podman.rs"]
mod podman;

use std::path::PathBuf;
use std::process::Command;

use common::Fixture;
use serde_json::json;

/// `systemctl daemon-reload` keeps systemd from answering anyone for its
/// duration (tens of seconds under TCG), so a test that reloads holds this
/// exclusively and the others share it.
static SYSTEMD: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// The CRIU tests run one at a time: once, with both overlapping on a
/// loaded machine (three VMs under TCG), a checkpoint ran past the 60 s
/// timeout.
fn one_criu() -> std::sync::MutexGuard<'static, ()> {
    static CRIU: std::sync::Mutex<()> = std::sync::Mutex::new(());
    CRIU.lock().unwrap_or_else(|e| e.into_inner())
}

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    SYSTEMD.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    SYSTEMD.write().unwrap_or_else(|e| e.into_inner())
}

fn systemctl(args: &[&str]) -> (bool, String) {
    let o = Command::new("systemctl").args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).trim().to_string() + &String::from_utf8_lossy(&o.stderr),
    )
}

fn show(unit: &str, prop: &str) -> String {
    let (_, out) = systemctl(&["show", "-p", prop, "--value", unit]);
    out.trim().to_string()
}

fn load_state(unit: &str) -> String {
    show(unit, "LoadState")
}

/// A unique scope name part for this test process.
fn name(test: &str) -> String {
    format!("bt{}-{test}", std::process::id())
}

/// A fixture whose config uses the systemd path `path` and runs `args`.
fn fixture(test: &str, path: &str, args: &[&str]) -> Fixture {
    let f = Fixture::new(test, args);
    f.edit(|c| c["linux"]["cgroupsPath"] = json!(path));
    f
}

fn sd(f: &Fixture, args: &[&str]) -> String {
    let mut a = vec!["--systemd-cgroup"];
    a.extend_from_slice(args);
    f.ok(&a)
}

fn create(f: &Fixture, id: &str) {
    let b = f.bundle.to_string_lossy().to_string();
    sd(f, &["create", "--bundle", &b, id]);
}

/// Whether the host is on cgroup v2 only (else hybrid: the v1
/// controllers, each in its hierarchy, and cgroup2 at `unified`).
fn unified() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The directory of `cgroup` in the hierarchy of v1 `controller` (the
/// only hierarchy on v2).
fn host_dir(controller: &str, cgroup: &str) -> PathBuf {
    let mut d = PathBuf::from("/sys/fs/cgroup");
    if !unified() {
        d.push(controller);
    }
    d.join(cgroup.trim_start_matches('/'))
}

/// A cgroup file as the host sees it: `file` names its v1 controller on a
/// hybrid host (`memory.limit_in_bytes` is in the memory hierarchy).
fn host_file(cgroup: &str, file: &str) -> String {
    let controller = file.split('.').next().unwrap_or("");
    let controller = if controller == "cgroup" {
        "unified"
    } else {
        controller
    };
    let path = host_dir(controller, cgroup).join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The directory of `cgroup` in every hierarchy of the host.
fn all_dirs(cgroup: &str) -> Vec<PathBuf> {
    let rel = cgroup.trim_start_matches('/');
    if unified() {
        return vec![PathBuf::from("/sys/fs/cgroup").join(rel)];
    }
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().join(rel))
        .collect()
}

fn resources() -> serde_json::Value {
    json!({
        "memory": {"limit": 67108864, "reservation": 33554432},
        "cpu": {"shares": 512, "quota": 20000, "period": 50000},
        "pids": {"limit": 20}
    })
}

/// The files that carry `resources()`, and their values: v2 names, or
/// the v1 ones on a hybrid host.
fn expected_files() -> Vec<(&'static str, &'static str)> {
    if unified() {
        vec![
            ("memory.max", "67108864"),
            ("memory.low", "33554432"),
            ("pids.max", "20"),
            ("cpu.max", "20000 50000"),
            ("cpu.weight", "59"),
        ]
    } else {
        vec![
            ("memory.limit_in_bytes", "67108864"),
            ("memory.soft_limit_in_bytes", "33554432"),
            ("pids.max", "20"),
            ("cpu.cfs_quota_us", "20000"),
            ("cpu.cfs_period_us", "50000"),
            ("cpu.shares", "512"),
        ]
    }
}

/// The unit property of the memory limit: `MemoryMax` on v2,
/// `MemoryLimit` on v1.
fn memory_prop() -> &'static str {
    if unified() {
        "MemoryMax"
    } else {
        "MemoryLimit"
    }
}

/// The file of the memory limit.
fn memory_file() -> &'static str {
    if unified() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    }
}

fn check_files(cgroup: &str) {
    for (file, want) in expected_files() {
        assert_eq!(host_file(cgroup, file), want, "{cgroup}/{file}");
    }
}

fn assert_gone(f: &Fixture, unit: &str, cgroup: &str) {
    assert_eq!(load_state(unit), "not-found", "unit {unit} left behind");
    assert_no_dirs(cgroup);
    f.assert_clean();
}

/// Asserts `cgroup` exists in no hierarchy.
fn assert_no_dirs(cgroup: &str) {
    for dir in all_dirs(cgroup) {
        assert!(!dir.exists(), "cgroup left behind: {}", dir.display());
    }
}

#[test]
#[ignore = "needs systemd as PID 1: the systemd VM runs it"]
fn scope_unit_with_properties_and_limits() {
    let _lock = shared();
    let n = name("props");
    let unit = format!("berth-{n}.scope");
    let cg = format!("/system.slice/{unit}");
    let f = fixture(
        "props",
        &format!(":berth:{n}"),
        &[
            "sh",
            "-c",
            "{ cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max 2>/dev/null \
             || cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; \
             } >/out 2>&1",
        ],
    );
    f.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["resources"] = resources();
        c["annotations"] = json!({"org.systemd.property.TimeoutStopSec": "uint64 7"});
    });
    create(&f, "c1");
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Slice"), "system.slice");
    assert_eq!(show(&unit, "Delegate"), "yes");
    assert_eq!(show(&unit, memory_prop()), "67108864");
    if unified() {
        assert_eq!(show(&unit, "MemoryLow"), "33554432");
    } else {
        assert_eq!(show(&unit, "CPUShares"), "512");
    }
    assert_eq!(show(&unit, "TasksMax"), "20");
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "400ms");
    assert_eq!(show(&unit, "TimeoutStopUSec"), "7s");
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    // In the unit's cgroup in every hierarchy (on hybrid, those systemd
    // made and those berth made).
    let missing = dirs_without(&cg, &pid.to_string());
    assert!(missing.is_empty(), "pid {pid} not in {missing:?}");
    check_files(&cg);
    // From inside: the container is at the root of its cgroup namespace in
    // every hierarchy, and its own cgroup holds the limits.
    sd(&f, &["start", "c1"]);
    f.wait_status("c1", "stopped");
    let out = std::fs::read_to_string(f.rootfs().join("out")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() > 2, "{out}");
    let (cgroups, limits) = lines.split_at(lines.len() - 2);
    for l in cgroups {
        assert!(l.ends_with(":/"), "not the cgroupns root: {l}\n{out}");
    }
    assert_eq!(limits, ["67108864", "20"], "{out}");
    sd(&f, &["delete", "c1"]);
    assert_gone(&f, &unit, &cg);
}

#[test]
#[ignore = "needs systemd as PID 1: the systemd VM runs it"]
fn limits_survive_daemon_reload() {
    let _lock = exclusive();
    let n = name("reload");
    let unit = format!("berth-{n}.scope");
    let cg = format!("/system.slice/{unit}");
    let f = fixture(
        "reload",
        &format!("system.slice:berth:{n}"),
        &["sleep", "100"],
    );
    f.edit(|c| c["linux"]["resources"] = resources());
    create(&f, "c1");
    check_files(&cg);
    let (ok, out) = systemctl(&["daemon-reload"]);
    assert!(ok, "daemon-reload: {out}");
    check_files(&cg);
    sd(&f, &["delete", "--force", "c1"]);
    assert_gone(&f, &unit, &cg);
}

#[test]
#[ignore = "needs systemd as PID 1: the systemd VM runs it"]
fn update_pause_resume_ps_exec_kill() {
    let _lock = exclusive();
    let n = name("cmds");
    let unit = format!("berth-{n}.scope");
    let cg = format!("/system.slice/{unit}");
    let f = fixture("cmds", &format!(":berth:{n}"), &["sleep", "100"]);
    f.edit(|c| c["linux"]["resources"] = resources());
    create(&f, "c1");
    sd(&f, &["start", "c1"]);
    sd(
        &f,
        &[
            "update",
            "--memory",
            "134217728",
            "--pids-limit",
            "30",
            "c1",
        ],
    );
    assert_eq!(show(&unit, memory_prop()), "134217728");
    assert_eq!(show(&unit, "TasksMax"), "30");
    assert_eq!(host_file(&cg, memory_file()), "134217728");
    assert_eq!(host_file(&cg, "pids.max"), "30");
    let (ok, out) = systemctl(&["daemon-reload"]);
    assert!(ok, "{out}");
    assert_eq!(host_file(&cg, memory_file()), "134217728");
    assert_eq!(host_file(&cg, "pids.max"), "30");
    let (freeze_file, frozen, thawed) = if unified() {
        ("cgroup.freeze", "1", "0")
    } else {
        ("freezer.state", "FROZEN", "THAWED")
    };
    sd(&f, &["pause", "c1"]);
    assert_eq!(f.status("c1"), "paused");
    assert_eq!(host_file(&cg, freeze_file), frozen);
    sd(&f, &["resume", "c1"]);
    assert_eq!(f.status("c1"), "running");
    assert_eq!(host_file(&cg, freeze_file), thawed);
    let out = sd(&f, &["exec", "c1", "cat", "/proc/self/cgroup"]);
    assert!(!out.trim().is_empty());
    for l in out.lines() {
        assert!(
            l.ends_with(":/"),
            "exec joins the unit's cgroup (cgroupns root) in every hierarchy: {out}"
        );
    }
    let ps = sd(&f, &["ps", "--format", "json", "c1"]);
    let pids: Vec<i64> = serde_json::from_str(&ps).unwrap();
    assert_eq!(pids, vec![f.state("c1")["pid"].as_i64().unwrap()]);
    sd(&f, &["kill", "--all", "c1", "KILL"]);
    f.wait_status("c1", "stopped");
    sd(&f, &["delete", "c1"]);
    assert_gone(&f, &unit, &cg);
}

#[test]
#[ignore = "needs systemd as PID 1: the systemd VM runs it"]
fn containerd_cri_and_podman_path_shapes() {
    let _lock = shared();
    let pid = std::process::id();
    // containerd CRI: a pod slice below kubepods-like slices.
    let pod = format!("bt{pid}-burstable-pod1a2b.slice");
    let f = fixture("cri", &format!("{pod}:cri-containerd:abc{pid}"), &["true"]);
    let unit = format!("cri-containerd-abc{pid}.scope");
    let cg = format!("/bt{pid}.slice/bt{pid}-burstable.slice/{pod}/{unit}");
    create(&f, "c1");
    assert_eq!(show(&unit, "Slice"), pod);
    for d in all_dirs(&cg) {
        assert!(d.is_dir(), "{}", d.display());
    }
    sd(&f, &["delete", "--force", "c1"]);
    assert_eq!(load_state(&unit), "not-found");
    // The parent slices are systemd's (implicit); stop what this test made.
    let (ok, out) = systemctl(&["stop", &format!("bt{pid}.slice")]);
    assert!(ok, "{out}");
    assert_gone(&f, &unit, &cg);

    // podman: machine.slice:libpod:<id>.
    let f = fixture("podman", &format!("machine.slice:libpod:p{pid}"), &["true"]);
    let unit = format!("libpod-p{pid}.scope");
    create(&f, "c2");
    assert_eq!(show(&unit, "Slice"), "machine.slice");
    for d in all_dirs(&format!("/machine.slice/{unit}")) {
        assert!(d.is_dir(), "{}", d.display());
    }
    sd(&f, &["delete", "--force", "c2"]);
    assert_gone(&f, &unit, &format!("/machine.slice/{unit}"));
}

#[test]
#[ignore = "needs systemd as PID 1: the systemd VM runs it"]
fn bad_path_and_failing_unit_start_leave_nothing() {
    let _lock = shared();
    let f = fixture("bad", "system.slice:berth", &["true"]);
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["--systemd-cgroup", "create", "--bundle", &b, "c1"]);
    assert!(err.contains("slice:prefix:name"), "{err}");
    f.assert_clean();

    // A unit systemd refuses to start: it requires a unit that does not
    // exist.
    let n = name("fail");
    let unit = format!("berth-{n}.scope");
    let f = fixture("fail", &format!(":berth:{n}"), &["true"]);
    f.edit(|c| {
        c["annotations"] =
            json!({"org.systemd.property.Requires": format!("['{n}-missing.service']")})
    });
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["--systemd-cgroup", "create", "--bundle", &b, "c2"]);
    assert!(err.contains(&unit), "{err}");
    assert_ne!(show(&unit, "ActiveState"), "active");
    assert_ne!(
        show(&unit, "ActiveState"),
        "failed",
        "ResetFailedUnit was not called"
    );
    assert_gone(&f, &unit, &format!("/system.slice/{unit}"));
}

#[test]
#[ignore = "needs systemd as PID 1 and podman: the systemd VM runs it"]
fn podman_with_the_systemd_cgroup_manager() {
    let _lock = shared();
    let p = podman::Podman::with_manager(true);
    let id = callers::ok(&mut p.run_args(
        &["-d", "--name", "p1", "--cgroupns", "host"],
        &["sh", "-c", "cat /proc/self/cgroup; exec sleep 1000"],
    ))
    .trim()
    .to_string();
    let unit = format!("libpod-{id}.scope");
    let cg = format!("/machine.slice/{unit}");
    // berth got --systemd-cgroup and podman's `machine.slice:libpod:<id>`.
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Slice"), "machine.slice");
    assert_eq!(show(&unit, "Delegate"), "yes");
    // From inside, the init and an exec: in the unit's cgroup, in every
    // hierarchy.
    let in_unit = |out: &str| {
        assert!(!out.trim().is_empty());
        for l in out.lines() {
            assert!(l.ends_with(&format!(":{cg}")), "not in {cg}: {l}\n{out}");
        }
    };
    callers::wait_for("the init's output in podman's log", || {
        !callers::ok(p.podman().args(["logs", "p1"]))
            .trim()
            .is_empty()
    });
    in_unit(&callers::ok(p.podman().args(["logs", "p1"])));
    in_unit(&callers::ok(p.podman().args([
        "exec",
        "p1",
        "cat",
        "/proc/self/cgroup",
    ])));
    let out = callers::run(p.podman().args(["exec", "p1", "sh", "-c", "exit 5"]));
    assert_eq!(out.status.code(), Some(5));
    callers::ok(p.podman().args(["stop", "-t", "1", "p1"]));
    let out = callers::ok(
        p.podman()
            .args(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]),
    );
    assert!(out.contains("p1 Exited"), "{out}");
    callers::ok(p.podman().args(["rm", "p1"]));
    assert_eq!(load_state(&unit), "not-found", "unit {unit} left behind");
    assert_no_dirs(&cg);
    p.finish();
}

/// What opening each device node prints from inside `c1` (`sh`'s error,
/// or `ok`): a node the device cgroup denies fails with EPERM ("Operation
/// not permitted"); an allowed node of major 42 (reserved for demos, no
/// driver) passes the cgroup and fails in the driver lookup with ENXIO.
fn open_devices(f: &Fixture) -> String {
    sd(
        f,
        &[
            "exec",
            "c1",
            "sh",
            "-c",
            "for d in /dev/null /dev/bt-ok /dev/bt-denied; do \
               if (exec 3<>$d) 2>/tmp/e; then echo \"$d ok\"; else echo \"$d $(cat /tmp/e)\"; fi; \
             done",
        ],
    )
}

fn check_devices(f: &Fixture, cg: &str, when: &str) {
    let out = open_devices(f);
    let line = |d: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("/dev/{d} ")))
            .unwrap_or_else(|| panic!("{when}: no line for {d}: {out}"))
            .to_string()
    };
    assert_eq!(line("null"), "/dev/null ok", "{when}: {out}");
    let ok = line("bt-ok");
    assert!(
        ok.contains("No such device or address"),
        "{when}: allowed 42:0 must pass the cgroup: {out}"
    );
    let denied = line("bt-denied");
    assert!(
        denied.contains("Operation not permitted"),
        "{when}: denied 42:1 must stay denied: {out}"
    );
    if !unified() {
        let list = host_file(cg, "devices.list");
        assert!(
            !list.contains("a *:* rwm"),
            "{when}: devices.list allows all: {list}"
        );
        assert!(list.lines().any(|l| l == "c 42:0 rw"), "{when}: {list}");
        assert!(!list.contains("c 42:1"), "{when}: {list}");
        assert!(list.lines().any(|l| l == "c 136:* rwm"), "{when}: {list}");
    }
}

#[test]
#[ignore = "needs systemd as PID 1: the systemd VM runs it"]
fn device_rules_survive_daemon_reload() {
    let _lock = exclusive();
    let n = name("devices");
    let unit = format!("berth-{n}.scope");
    let cg = format!("/system.slice/{unit}");
    let f = fixture("devices", &format!(":berth:{n}"), &["sleep", "100"]);
    f.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["devices"] = json!([
            {"path": "/dev/bt-ok", "type": "c", "major": 42, "minor": 0},
            {"path": "/dev/bt-denied", "type": "c", "major": 42, "minor": 1}
        ]);
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 42, "minor": 0, "access": "rw"}
        ]);
    });
    create(&f, "c1");
    sd(&f, &["start", "c1"]);
    check_devices(&f, &cg, "after create");
    let (ok, out) = systemctl(&["daemon-reload"]);
    assert!(ok, "daemon-reload: {out}");
    check_devices(&f, &cg, "after daemon-reload");
    assert_eq!(show(&unit, "DevicePolicy"), "strict");
    let allow = show(&unit, "DeviceAllow");
    assert!(allow.contains("/dev/char/42:0 rw"), "{allow}");
    assert!(!allow.contains("42:1"), "{allow}");
    assert!(allow.contains("char-pts rwm"), "{allow}");
    sd(&f, &["delete", "--force", "c1"]);
    assert_gone(&f, &unit, &cg);
}

/// A fake bus at `path` that accepts every connection and never answers
/// (`answer_auth` false), or that accepts authentication and then never
/// answers a call. It serves until the test process ends.
fn silent_bus(path: &std::path::Path, answer_auth: bool) {
    use std::io::{BufRead, BufReader, Read, Write};
    let l = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let mut r = BufReader::new(conn);
            if answer_auth {
                let mut line = String::new();
                let _ = r.read_line(&mut line);
                let _ = r
                    .get_mut()
                    .write_all(b"OK 0123456789abcdef0123456789abcdef\r\n");
            }
            // Swallow everything until berth hangs up.
            let mut sink = [0u8; 4096];
            while matches!(r.read(&mut sink), Ok(n) if n > 0) {}
        }
    });
}

#[test]
fn a_bus_that_never_answers_fails_within_the_timeout() {
    // Runs anywhere (the fake bus stands in for systemd), also in the VM.
    let _lock = shared();
    common::require_root();
    for (tag, answer_auth, call) in [
        ("mute", false, "D-Bus authentication on"),
        ("hello", true, "D-Bus call Hello"),
    ] {
        let n = name(tag);
        let f = fixture(tag, &format!(":berth:{n}"), &["true"]);
        let sock = f.dir.path().join("bus.sock");
        silent_bus(&sock, answer_auth);
        let b = f.bundle.to_string_lossy().to_string();
        let err = tempfile::tempfile().unwrap();
        let t0 = std::time::Instant::now();
        let mut child = f
            .cmd()
            .env("BERTH_TEST_SYSTEMD_BUS", &sock)
            .env("BERTH_TEST_DBUS_TIMEOUT", "2")
            .args(["--systemd-cgroup", "create", "--bundle", &b, "c1"])
            .stdout(std::process::Stdio::null())
            .stderr(err.try_clone().unwrap())
            .spawn()
            .unwrap();
        let st = common::wait_timeout(&mut child, std::time::Duration::from_secs(30))
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{tag}: berth hangs on a bus that never answers");
            });
        let took = t0.elapsed();
        let msg = {
            use std::io::{Read, Seek};
            let mut e = err;
            let mut s = String::new();
            e.rewind().unwrap();
            e.read_to_string(&mut s).unwrap();
            s
        };
        assert_eq!(st.code(), Some(1), "{tag}: {msg}");
        assert!(msg.contains(call), "{tag}: names the call: {msg}");
        assert!(msg.contains("no answer within 2 s"), "{tag}: {msg}");
        // One timeout for the call, one more at most for the cleanup's own
        // StopUnit attempt (v2), plus the container's start-up.
        assert!(
            took >= std::time::Duration::from_secs(2) && took < std::time::Duration::from_secs(15),
            "{tag}: took {took:?}"
        );
        let unit = format!("berth-{n}.scope");
        for dir in all_dirs(&format!("/system.slice/{unit}")) {
            assert!(
                !dir.exists(),
                "{tag}: cgroup left behind: {}",
                dir.display()
            );
        }
        f.assert_clean();
    }
}

#[test]
#[ignore = "needs systemd as PID 1 and docker.io: the systemd VM runs it"]
fn docker_with_the_systemd_cgroup_driver() {
    let _lock = shared();
    let d = dockerd::Dockerd::start_on_own_containerd(
        "sd",
        &["--exec-opt", "native.cgroupdriver=systemd"],
    );
    let slice = d.cgroup_parent.clone();
    callers::ok(&mut d.run(
        &[
            "-d",
            "--name",
            "s1",
            "--memory",
            "64m",
            "--pids-limit",
            "40",
        ],
        &["sleep", "1000"],
    ));
    let id = d.inspect("s1", "{{.Id}}").trim().to_string();
    let unit = format!("docker-{id}.scope");
    let cg = format!("/{slice}/{unit}");
    // dockerd gave berth --systemd-cgroup and `<slice>:docker:<id>`.
    assert_eq!(show(&unit, "ActiveState"), "active", "{}", d.log());
    assert_eq!(show(&unit, "Slice"), slice);
    assert_eq!(show(&unit, memory_prop()), "67108864");
    assert_eq!(show(&unit, "TasksMax"), "40");
    assert_eq!(host_file(&cg, memory_file()), "67108864");
    let out = callers::ok(d.docker().args(["exec", "s1", "cat", "/proc/self/cgroup"]));
    assert!(!out.trim().is_empty(), "{out}");
    callers::ok(
        d.docker()
            .args(["update", "--memory", "128m", "--memory-swap", "256m", "s1"]),
    );
    assert_eq!(show(&unit, memory_prop()), "134217728");
    assert_eq!(host_file(&cg, memory_file()), "134217728");
    callers::ok(d.docker().args(["stop", "-t", "1", "s1"]));
    callers::ok(d.docker().args(["rm", "s1"]));
    assert_eq!(load_state(&unit), "not-found", "unit {unit} left behind");
    d.remove_all();
    let (ok, out) = systemctl(&["stop", &slice]);
    assert!(ok, "{out}");
    assert_no_dirs(&cg);
    d.finish();
}

/// Deletes what a CRI test left in berth's root, stops containerd and the
/// test's slice, also when the test fails.
struct CriGuard {
    dir: PathBuf,
    root: PathBuf,
    slice: String,
    containerd: Option<callers::Containerd>,
}

impl Drop for CriGuard {
    fn drop(&mut self) {
        for e in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = Command::new(callers::runtime_bin())
                .arg("--root")
                .arg(&self.root)
                .args(["--systemd-cgroup", "delete", "--force"])
                .arg(e.file_name())
                .output();
        }
        drop(self.containerd.take());
        callers::unmount_below(&self.dir);
        let _ = systemctl(&["stop", &self.slice]);
    }
}

#[test]
#[ignore = "needs systemd as PID 1, containerd and python3 grpcio: the systemd VM runs it"]
fn containerd_cri_with_systemd_cgroup() {
    let _lock = shared();
    common::require_root();
    let dir = tempfile::Builder::new()
        .prefix("berth-sdcri-")
        .tempdir()
        .unwrap();
    let (pause, busybox) = (
        "docker.io/library/pause:berth",
        "docker.io/library/busybox:berth",
    );
    let root = dir.path().join("berth-root");
    let config = format!(
        r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "berth"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
        BinaryName = "{berth}"
        Root = "{root}"
        SystemdCgroup = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni}/bin"
    conf_dir = "{cni}/conf"
"#,
        berth = callers::runtime_bin().display(),
        root = root.display(),
        cni = dir.path().join("cni").display(),
    );
    // The shape kubelet sends with the systemd driver
    // (`kubepods-besteffort-pod<uid>.slice`), below a top slice of this
    // test's own that the guard stops.
    let pid = std::process::id();
    let top = format!("bc{pid}.slice");
    let slice = format!("bc{pid}-besteffort-pod{pid}.slice");
    let slice_dir = format!("/{top}/bc{pid}-besteffort.slice/{slice}");
    let mut guard = CriGuard {
        dir: dir.path().to_path_buf(),
        root: root.join("k8s.io"),
        slice: top.clone(),
        containerd: Some(callers::Containerd::start(dir.path(), &config, true)),
    };
    let d = guard.containerd.as_ref().unwrap();
    for (image, cmd) in [(pause, &["sleep", "1000000"][..]), (busybox, &["sh"][..])] {
        let tar = callers::busybox_image(dir.path(), image, cmd);
        callers::ok(d.ctr("k8s.io").args(["images", "import"]).arg(&tar));
    }
    let client = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cri/client.py");
    // `BERTH_PYTHON`: a Python with grpcio other than `python3` (shared
    // from a pyenv by tests/vm/run). Under TCG the whole client takes
    // 1-3 minutes (containerd's task deletion is the slow step), so the
    // limit is caller_cri's.
    let out = callers::run_for(
        Command::new(std::env::var_os("BERTH_PYTHON").unwrap_or_else(|| "python3".into()))
            .arg(&client)
            .arg(&d.socket)
            .arg("berth")
            .arg(busybox)
            .arg(&slice),
        std::time::Duration::from_secs(600),
    );
    // The client's timed steps (shown with --nocapture): where the time
    // went, or where a call hung.
    eprintln!("{}", common::s(&out.stderr));
    let log = d.log();
    let tail: Vec<&str> = log
        .lines()
        .skip(log.lines().count().saturating_sub(30))
        .collect();
    assert!(
        out.status.success(),
        "CRI client failed:\nstdout: {}\nstderr: {}\ncontainerd log (tail): {:?}",
        common::s(&out.stdout),
        common::s(&out.stderr),
        tail
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state_after_start"], "CONTAINER_RUNNING", "{v}");
    assert_eq!(v["exec"]["stdout"], "started\nhello-cri\n", "{v}");
    assert_eq!(v["exec"]["exit_code"], 3, "{v}");
    // UpdateContainerResources through `berth --systemd-cgroup update`: in
    // the unit's cgroup, cri-containerd-ID.scope below the pod slice's
    // nested cgroup (the dash rule), seen from inside and on the host.
    let ctr = v["container"].as_str().unwrap();
    assert_eq!(
        v["memory"]["host_cgroup"],
        format!("{slice_dir}/cri-containerd-{ctr}.scope").as_str(),
        "{v}"
    );
    assert_eq!(v["memory"]["inside"], "67108864", "{v}");
    assert_eq!(v["memory"]["host"], "67108864", "{v}");
    assert_eq!(v["state_after_stop"], "CONTAINER_EXITED", "{v}");
    assert_eq!(v["exit_after_stop"], 143, "{v}");
    assert_eq!(v["removed"], true, "{v}");
    // Every unit below the slice is gone (pod sandbox and container).
    for d in all_dirs(&slice_dir) {
        let units: Vec<_> = std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".scope"))
            .collect();
        assert!(units.is_empty(), "units left in {}: {units:?}", d.display());
    }
    let left: Vec<_> = std::fs::read_dir(&guard.root)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name())
                .filter(|n| n != "seccomp~cache")
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "berth state left behind: {left:?}");
    drop(guard.containerd.take());
    let mounts = callers::mounts_below(dir.path());
    assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
    drop(guard);
    assert_no_dirs(&format!("/{top}"));
}

#[test]
#[ignore = "needs systemd as PID 1 and a working CRIU: the systemd VM runs it"]
fn checkpoint_and_restore_into_a_transient_scope() {
    let _lock = shared();
    let _criu = one_criu();
    let n = name("cr");
    let unit = format!("berth-{n}.scope");
    let cg = format!("/system.slice/{unit}");
    let f = fixture(
        "cr",
        &format!(":berth:{n}"),
        &["sh", "-c", &common::counter::script("/count")],
    );
    let count = f.rootfs().join("count");
    f.edit(|c| c["root"]["readonly"] = json!(false));
    let b = f.bundle.to_string_lossy().to_string();
    sd(&f, &["run", "-d", "--bundle", &b, "c1"]);
    assert_eq!(show(&unit, "ActiveState"), "active");
    common::counter::wait_lines(&count, 3);
    let image = f.dir.path().join("image");
    let img = image.to_string_lossy().to_string();
    sd(&f, &["checkpoint", "--image-path", &img, "c1"]);
    // The container and its scope are gone; the count stands still.
    assert_gone(&f, &unit, &cg);
    let frozen = common::counter::assert_frozen(&count);

    sd(
        &f,
        &["restore", "-d", "--image-path", &img, "--bundle", &b, "c1"],
    );
    // The restored process is in a new transient scope of the same name,
    // in every hierarchy, and continues the same 1, 2, 3... sequence.
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Slice"), "system.slice");
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    let missing = dirs_without(&cg, &pid.to_string());
    assert!(missing.is_empty(), "pid {pid} not in {missing:?}");
    common::counter::assert_continues(&count, &frozen, 3);
    sd(&f, &["kill", "c1", "KILL"]);
    f.wait_status("c1", "stopped");
    sd(&f, &["delete", "c1"]);
    assert_gone(&f, &unit, &cg);
}

/// The rootless test user's own systemd manager (`user@UID.service`),
/// started as logind starts it for a lingering user, and stopped (with
/// its runtime directory) when dropped; one test at a time has it.
struct UserManager {
    user: common::rootless::User,
    xdg: PathBuf,
    _one: std::sync::MutexGuard<'static, ()>,
}

static USER_MANAGER: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl UserManager {
    fn start() -> Self {
        let one = USER_MANAGER.lock().unwrap_or_else(|e| e.into_inner());
        let user = common::rootless::user();
        let unit = format!("user@{}.service", user.uid);
        let linger = PathBuf::from("/var/lib/systemd/linger");
        std::fs::create_dir_all(&linger).unwrap();
        std::fs::write(linger.join(common::rootless::USER), "").unwrap();
        let (ok, out) = systemctl(&["start", &unit]);
        assert!(ok, "systemctl start {unit}: {out}");
        let xdg = PathBuf::from(format!("/run/user/{}", user.uid));
        let bus = xdg.join("bus");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !bus.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "no user bus at {}",
                bus.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Self {
            user,
            xdg,
            _one: one,
        }
    }

    /// `program` as the user, with the user manager's runtime directory.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = self.user.command(program, &self.xdg);
        c.stdin(std::process::Stdio::null());
        c
    }

    /// `systemctl --user show -p prop --value unit`, as the user.
    fn show(&self, unit: &str, prop: &str) -> String {
        let o = self
            .command("systemctl")
            .args(["--user", "show", "-p", prop, "--value", unit])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        let _ = systemctl(&["stop", &format!("user@{}.service", self.user.uid)]);
        let _ = std::fs::remove_file(
            PathBuf::from("/var/lib/systemd/linger").join(common::rootless::USER),
        );
    }
}

/// berth as the rootless user; output through files (the container keeps
/// inherited pipes open); a command that outlives `TIMEOUT` fails.
fn rootless_berth(m: &UserManager, dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    let mut child = m
        .command(common::berth_bin())
        .arg("--debug")
        .args(args)
        .current_dir(dir)
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap();
    let status = common::wait_timeout(&mut child, common::TIMEOUT).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "berth {args:?} (rootless) did not finish within {:?}",
            common::TIMEOUT
        )
    });
    let (out, err) = (common::read_all(out), common::read_all(err));
    let text = common::s(&out);
    if !status.success() {
        return (false, format!("{text}{}", common::s(&err)));
    }
    (true, text)
}

#[test]
#[ignore = "needs systemd as PID 1: the systemd VM runs it"]
fn rootless_through_the_user_manager() {
    let _lock = shared();
    if !unified() {
        // systemd delegates controllers to a user manager on cgroup v2 only.
        eprintln!("skipped: a user manager gets no controllers on a hybrid host");
        return;
    }
    let m = UserManager::start();
    let (uid, gid) = (m.user.uid, m.user.gid);
    let dir = tempfile::Builder::new()
        .prefix("berth-sd-rootless-")
        .tempdir_in("/tmp")
        .unwrap();
    let bundle = dir.path().join("bundle");
    common::make_rootfs(&bundle.join("rootfs"));
    common::rootless::chown_tree(dir.path(), uid, gid);
    let ok = |args: &[&str]| {
        let (ok, out) = rootless_berth(&m, dir.path(), args);
        assert!(ok, "berth {args:?} (rootless) failed:\n{out}");
        out
    };
    let b = bundle.to_string_lossy().to_string();
    ok(&["spec", "--rootless", "--bundle", &b]);
    // `features` says the user's manager works here (v2, systemd booted).
    let feat: serde_json::Value = serde_json::from_str(&ok(&["features"])).unwrap();
    assert_eq!(feat["linux"]["cgroup"]["systemdUser"], true, "{feat}");
    assert_eq!(feat["linux"]["cgroup"]["systemd"], false, "{feat}");
    let config_path = bundle.join("config.json");
    let mut c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(["sleep", "1000"]);
    c["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 20}});
    std::fs::write(&config_path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    std::os::unix::fs::chown(&config_path, Some(uid), Some(gid)).unwrap();

    let n = name("ul");
    let id = n.as_str();
    let unit = format!("berth-{id}.scope");
    let mut guard = Deleter {
        m: &m,
        dir: dir.path(),
        id,
        armed: true,
    };
    ok(&["--systemd-cgroup", "create", "--bundle", &b, id]);
    // The unit is the user manager's, in its user.slice.
    assert_eq!(m.show(&unit, "ActiveState"), "active");
    assert_eq!(m.show(&unit, "Slice"), "user.slice");
    assert_eq!(m.show(&unit, "MemoryMax"), "67108864");
    assert_eq!(m.show(&unit, "TasksMax"), "20");
    let cg = format!("/user.slice/user-{uid}.slice/user@{uid}.service/user.slice/{unit}");
    assert_eq!(m.show(&unit, "ControlGroup"), cg);
    ok(&["--systemd-cgroup", "start", id]);
    // From inside: the init's cgroup, and the limits in its files.
    let inside = ok(&[
        "--systemd-cgroup",
        "exec",
        id,
        "sh",
        "-c",
        "p=$(sed -n 's/^0:://p' /proc/1/cgroup); echo \"$p\"; \
         cat /sys/fs/cgroup$p/memory.max /sys/fs/cgroup$p/pids.max; id -u; cat /proc/self/cgroup",
    ]);
    let lines: Vec<&str> = inside.lines().collect();
    assert_eq!(lines.len(), 5, "{inside}");
    // The init is at the root of its cgroup namespace (the unit's cgroup),
    // or sees the unit's path when it shares the host's.
    assert!(lines[0] == "/" || lines[0] == cg, "{inside}");
    assert_eq!(lines[1..4], ["67108864", "20", "0"], "{inside}");
    // The exec'd process may stay outside the unit (runc's rootless rule).
    eprintln!("exec'd process's cgroup: {}", lines[4]);
    let pid = {
        let st: serde_json::Value = serde_json::from_str(&ok(&["state", id])).unwrap();
        st["pid"].as_i64().unwrap()
    };
    let procs = std::fs::read_to_string(format!("/sys/fs/cgroup{cg}/cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    // The other commands that need the cgroup work rootless too.
    let host_file = |f: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup{cg}/{f}"))
            .unwrap()
            .trim()
            .to_string()
    };
    ok(&["--systemd-cgroup", "update", "--pids-limit", "30", id]);
    assert_eq!(m.show(&unit, "TasksMax"), "30");
    assert_eq!(host_file("pids.max"), "30");
    let status = |id: &str| {
        let st: serde_json::Value = serde_json::from_str(&ok(&["state", id])).unwrap();
        st["status"].as_str().unwrap().to_string()
    };
    ok(&["--systemd-cgroup", "pause", id]);
    assert_eq!(status(id), "paused");
    assert_eq!(host_file("cgroup.freeze"), "1");
    ok(&["--systemd-cgroup", "resume", id]);
    assert_eq!(status(id), "running");
    assert_eq!(host_file("cgroup.freeze"), "0");
    let ps = ok(&["--systemd-cgroup", "ps", "--format", "json", id]);
    let ps: Vec<i64> = serde_json::from_str(&ps).unwrap();
    assert!(ps.contains(&pid), "{ps:?}");
    let stats = ok(&["--systemd-cgroup", "events", "--stats", id]);
    let stats: serde_json::Value = serde_json::from_str(stats.trim()).unwrap();
    assert_eq!(stats["type"], "stats", "{stats}");
    assert!(
        stats["data"]["pids"]["current"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    assert_eq!(stats["data"]["pids"]["limit"].as_u64(), Some(30), "{stats}");
    ok(&["--systemd-cgroup", "kill", id, "KILL"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let st: serde_json::Value = serde_json::from_str(&ok(&["state", id])).unwrap();
        if st["status"] == "stopped" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never stopped");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ok(&["--systemd-cgroup", "delete", id]);
    guard.armed = false;
    // Nothing left: the unit, its cgroup, the state directory.
    assert_eq!(m.show(&unit, "LoadState"), "not-found");
    assert!(!PathBuf::from(format!("/sys/fs/cgroup{cg}")).exists());
    assert!(
        !m.xdg.join("berth").join(id).exists(),
        "state directory left behind"
    );
    assert!(common::processes_rooted_in(&bundle.join("rootfs")).is_empty());
}

/// Force-deletes a rootless container unless disarmed (a failing test
/// leaves nothing behind).
struct Deleter<'a> {
    m: &'a UserManager,
    dir: &'a std::path::Path,
    id: &'a str,
    armed: bool,
}

impl Drop for Deleter<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = rootless_berth(
                self.m,
                self.dir,
                &["--systemd-cgroup", "delete", "--force", self.id],
            );
        }
    }
}

#[test]
#[ignore = "needs systemd as PID 1: the systemd VM runs it"]
fn rootless_podman_with_the_systemd_cgroup_manager() {
    let _lock = shared();
    if !unified() {
        eprintln!("skipped: a user manager gets no controllers on a hybrid host");
        return;
    }
    let m = UserManager::start();
    let mut p = podman::Podman::rootless();
    p.systemd = true;
    // The user manager's runtime directory (its bus), and a log file.
    let user = common::rootless::user();
    p.state = m.xdg.join("berth");
    p.rootless = Some((user, m.xdg.clone()));
    let conf = p.path("containers.conf");
    std::fs::write(
        &conf,
        "[engine]\nruntime_supports_json = [\"berth\"]\n[containers]\nlog_driver = \"k8s-file\"\n",
    )
    .unwrap();
    std::os::unix::fs::chown(&conf, Some(m.user.uid), Some(m.user.gid)).unwrap();
    let id = callers::ok(&mut p.run_args(
        &["-d", "--name", "p1"],
        &["sh", "-c", "cat /proc/self/cgroup; exec sleep 1000"],
    ))
    .trim()
    .to_string();
    let unit = format!("libpod-{id}.scope");
    assert_eq!(m.show(&unit, "ActiveState"), "active");
    let cg = m.show(&unit, "ControlGroup");
    assert!(
        cg.starts_with(&format!("/user.slice/user-{}.slice/user@", m.user.uid)),
        "{cg}"
    );
    let out = callers::ok(
        p.podman()
            .args(["exec", "p1", "sh", "-c", "echo in-$((6*7))"]),
    );
    assert_eq!(out.trim(), "in-42");
    callers::ok(p.podman().args(["stop", "-t", "1", "p1"]));
    callers::ok(p.podman().args(["rm", "p1"]));
    assert_eq!(m.show(&unit, "LoadState"), "not-found", "unit {unit} left");
    assert!(!PathBuf::from(format!("/sys/fs/cgroup{cg}")).exists());
    p.finish();
}

/// The cgroup.procs files of `cg` that do not list `pid` (every hierarchy
/// on hybrid).
fn dirs_without(cg: &str, pid: &str) -> Vec<String> {
    all_dirs(cg)
        .into_iter()
        .filter(|d| {
            !std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .any(|l| l == pid)
        })
        .map(|d| d.display().to_string())
        .collect()
}

#[test]
#[ignore = "needs systemd as PID 1, podman and a working CRIU: the systemd VM runs it"]
fn podman_checkpoint_and_restore_with_the_systemd_cgroup_manager() {
    let test = "podman_checkpoint_and_restore_with_the_systemd_cgroup_manager";
    if let Some(why) = common::counter::criu_unusable() {
        assert!(
            std::env::var_os("BERTH_CRIU_REQUIRED").is_none(),
            "{test}: CRIU is required here but {why}"
        );
        eprintln!("SKIP {test}: {why}; the systemd VM runs it");
        return;
    }
    let _lock = shared();
    let _criu = one_criu();
    let p = podman::Podman::with_manager(true);
    let count = p.rootfs.join("count");
    let id = callers::ok(&mut p.run_args(
        &["-d", "--name", "p1"],
        &["sh", "-c", &common::counter::script("/count")],
    ))
    .trim()
    .to_string();
    let unit = format!("libpod-{id}.scope");
    let cg = format!("/machine.slice/{unit}");
    assert_eq!(show(&unit, "ActiveState"), "active");
    common::counter::wait_lines(&count, 3);

    callers::ok(p.podman().args(["container", "checkpoint", "p1"]));
    // The container is exited, its scope and cgroups gone, the count
    // standing still.
    let out = callers::ok(
        p.podman()
            .args(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]),
    );
    assert!(out.contains("p1 Exited"), "{out}");
    callers::wait_for("the scope to go", || load_state(&unit) == "not-found");
    for d in all_dirs(&cg) {
        assert!(
            !d.exists(),
            "cgroup left after the checkpoint: {}",
            d.display()
        );
    }
    let frozen = common::counter::assert_frozen(&count);

    // conmon runs `berth --systemd-cgroup restore`: a new scope of the
    // same name in machine.slice holds the restored init, which goes on
    // counting from the checkpoint's value.
    callers::ok(p.podman().args(["container", "restore", "p1"]));
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Slice"), "machine.slice");
    let pid = callers::ok(
        p.podman()
            .args(["inspect", "--format", "{{.State.Pid}}", "p1"]),
    )
    .trim()
    .to_string();
    assert!(pid.parse::<u32>().is_ok_and(|n| n > 0), "pid {pid:?}");
    let state = callers::ok(
        Command::new(common::berth_bin())
            .arg("--root")
            .arg(&p.state)
            .args(["state", &id]),
    );
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["pid"].to_string(), pid, "berth's state: {state}");
    assert_eq!(dirs_without(&cg, &pid), Vec::<String>::new(), "pid {pid}");
    common::counter::assert_continues(&count, &frozen, 3);

    callers::ok(p.podman().args(["rm", "-f", "p1"]));
    callers::wait_for("the scope to go", || load_state(&unit) == "not-found");
    assert_no_dirs(&cg);
    p.finish();
}
