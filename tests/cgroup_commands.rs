//! The cgroup commands on live containers: `update`, `pause`/`resume`,
//! `events` and `ps`. Mode-aware like `tests/cgroups.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cgroup_util;
mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use cgroup_util::*;
use common::{Fixture, s};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(60);

fn started(name: &str, args: &[&str], resources: Value) -> Fixture {
    let f = Fixture::new(name, args);
    set_resources(&f, resources);
    // Writable, so the host can see what the container writes in /tmp.
    f.edit(|c| c["root"]["readonly"] = json!(false));
    f.create("c1");
    f.ok(&["start", "c1"]);
    f
}

/// (memory limit, cpu quota and period, pids) as the host files show them.
fn limits(f: &Fixture) -> (String, String, String) {
    if unified() {
        (
            host_read(f, "memory", "memory.max"),
            host_read(f, "cpu", "cpu.max"),
            host_read(f, "pids", "pids.max"),
        )
    } else {
        (
            host_read(f, "memory", "memory.limit_in_bytes"),
            format!(
                "{} {}",
                host_read(f, "cpu", "cpu.cfs_quota_us"),
                host_read(f, "cpu", "cpu.cfs_period_us")
            ),
            host_read(f, "pids", "pids.max"),
        )
    }
}

#[test]
fn update_changes_live_limits() {
    let f = started(
        "update",
        &["sleep", "1000"],
        json!({"memory": {"limit": 67108864}, "cpu": {"quota": 20000, "period": 100000}, "pids": {"limit": 20}}),
    );
    assert_eq!(
        limits(&f),
        ("67108864".into(), "20000 100000".into(), "20".into())
    );
    // runc's flags.
    f.ok(&[
        "update",
        "--memory",
        "128m",
        "--cpu-quota",
        "30000",
        "--cpu-period",
        "60000",
        "--pids-limit",
        "30",
        "c1",
    ]);
    assert_eq!(
        limits(&f),
        ("134217728".into(), "30000 60000".into(), "30".into())
    );
    // Only the period: the quota stays.
    f.ok(&["update", "--cpu-period", "200000", "c1"]);
    assert_eq!(limits(&f).1, "30000 200000");
    // containerd's form: LinuxResources JSON on stdin.
    let mut child = f
        .cmd()
        .args(["update", "--resources=-", "c1"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"memory":{"limit":100663296},"pids":{"limit":-1},"cpu":{"shares":2048}}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", s(&out.stderr));
    assert_eq!(limits(&f).0, "100663296");
    assert_eq!(limits(&f).2, "max");
    if unified() {
        assert_eq!(host_read(&f, "cpu", "cpu.weight"), "174");
    } else {
        assert_eq!(host_read(&f, "cpu", "cpu.shares"), "2048");
    }
    // The live limit is enforced: a limit below the usage is refused with
    // checkBeforeUpdate, naming the field.
    let file = f.dir.path().join("r.json");
    std::fs::write(
        &file,
        r#"{"memory":{"limit":4096,"checkBeforeUpdate":true}}"#,
    )
    .unwrap();
    let err = f.fails(&["update", "-r", file.to_str().unwrap(), "c1"]);
    assert!(err.contains("linux.resources.memory.limit"), "{err}");
    // Bad JSON names its path.
    std::fs::write(&file, r#"{"memory":{"limit":"lots"}}"#).unwrap();
    let err = f.fails(&["update", "--resources", file.to_str().unwrap(), "c1"]);
    assert!(err.contains("memory.limit"), "{err}");
    f.ok(&["kill", "c1", "KILL"]);
    f.wait_status("c1", "stopped");
    let err = f.fails(&["update", "--pids-limit", "5", "c1"]);
    assert!(err.contains("container not running"), "{err}");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

/// Lines of `stderr` carrying berth's kernel memory warning.
fn kernel_memory_warnings(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains("level=warning") && l.contains("kernel memory limits"))
        .count()
}

/// What `docker update --memory 192m --memory-swap 384m --cpus 1.5
/// --pids-limit 42 --cpuset-cpus 0` (Docker 20.10) sends through
/// containerd's shim, captured from a real one (the cpuset added in its
/// place): `"kernel": 0` in every update, zeros for what is not changed.
const DOCKER_UPDATE: &str = r#"{"memory":{"limit":201326592,"reservation":0,"swap":402653184,"kernel":0},"cpu":{"shares":0,"quota":150000,"period":100000,"cpus":"0"},"pids":{"limit":42},"blockIO":{"weight":0}}"#;

/// `docker update --restart always` sends this: it must change nothing.
const DOCKER_RESTART_ONLY: &str = r#"{"memory":{"limit":0,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}"#;

/// `berth update --resources - c1` with `json` on stdin: the stderr.
fn update_from_stdin(f: &Fixture, json: &str) -> String {
    let mut child = f
        .cmd()
        .args(["update", "--resources", "-", "c1"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = s(&out.stderr);
    assert!(out.status.success(), "{json}: {err}");
    err
}

#[test]
fn kernel_memory_is_ignored_and_docker_update_works() {
    // create: accepted with one warning line, nothing else changes.
    let f = Fixture::new("update-kmem", &["sleep", "1000"]);
    set_resources(
        &f,
        json!({"memory": {"limit": 67108864, "kernel": 1048576, "kernelTCP": 65536}}),
    );
    let b = f.bundle.to_string_lossy().to_string();
    let out = f.berth(&["create", "--bundle", &b, "c1"]);
    let err = s(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(kernel_memory_warnings(&err), 1, "{err}");
    f.ok(&["start", "c1"]);
    assert_eq!(limits(&f).0, "67108864");
    // Docker's update JSON on stdin: succeeds, quietly (kernel is 0), and
    // every limit it names is live.
    let err = update_from_stdin(&f, DOCKER_UPDATE);
    assert_eq!(kernel_memory_warnings(&err), 0, "{err}");
    assert_eq!(
        limits(&f),
        ("201326592".into(), "150000 100000".into(), "42".into())
    );
    // Memory+swap 384m: v1 memsw, v2 swap.max = swap - limit (where the
    // kernel accounts swap).
    let (file, want) = if unified() {
        ("memory.swap.max", "201326592")
    } else {
        ("memory.memsw.limit_in_bytes", "402653184")
    };
    if host_dir(&f, "memory").join(file).exists() {
        assert_eq!(host_read(&f, "memory", file), want);
    }
    // A restart-policy-only update: nothing changes.
    let err = update_from_stdin(&f, DOCKER_RESTART_ONLY);
    assert_eq!(kernel_memory_warnings(&err), 0, "{err}");
    assert_eq!(
        limits(&f),
        ("201326592".into(), "150000 100000".into(), "42".into())
    );
    assert_eq!(host_read(&f, "cpuset", "cpuset.cpus"), "0");
    // runc's (hidden) flags: a non-zero kernel limit warns once.
    let out = f.berth(&[
        "update",
        "--kernel-memory",
        "32m",
        "--kernel-memory-tcp",
        "1m",
        "--memory",
        "96m",
        "c1",
    ]);
    let err = s(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(kernel_memory_warnings(&err), 1, "{err}");
    assert!(
        err.contains("memory.kernel, linux.resources.memory.kernelTCP"),
        "{err}"
    );
    assert_eq!(limits(&f).0, "100663296");
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

#[test]
fn update_changes_device_rules_live() {
    let script = "while :; do if true > /dev/kmsg 2>/dev/null; then echo ok > /tmp/kmsg; \
                  else echo denied > /tmp/kmsg; fi; usleep 20000; done";
    let f = Fixture::new("update-dev", &["sh", "-c", script]);
    f.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["devices"] =
            json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
    });
    f.create("c1");
    f.ok(&["start", "c1"]);
    let seen = || std::fs::read_to_string(f.rootfs().join("tmp/kmsg")).unwrap_or_default();
    wait_until("/dev/kmsg denied", LONG, || seen().trim() == "denied");
    let file = f.dir.path().join("devices.json");
    let allow = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}
    ]});
    std::fs::write(&file, allow.to_string()).unwrap();
    f.ok(&["update", "--resources", file.to_str().unwrap(), "c1"]);
    wait_until("/dev/kmsg allowed", LONG, || seen().trim() == "ok");
    if !unified() {
        let list = host_read(&f, "devices", "devices.list");
        assert!(list.lines().any(|l| l == "c 1:11 w"), "{list}");
    }
    // And back: the same rules as at create.
    std::fs::write(&file, r#"{"devices":[{"allow":false,"access":"rwm"}]}"#).unwrap();
    f.ok(&["update", "-r", file.to_str().unwrap(), "c1"]);
    wait_until("/dev/kmsg denied again", LONG, || seen().trim() == "denied");
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

fn count(f: &Fixture) -> u64 {
    std::fs::read_to_string(f.rootfs().join("tmp/count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let script = "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; usleep 10000; done";
    let f = started("pause", &["sh", "-c", script], json!({}));
    wait_until("the counter to start", LONG, || count(&f) > 0);
    f.ok(&["pause", "c1"]);
    assert_eq!(f.status("c1"), "paused");
    if unified() {
        assert_eq!(host_read(&f, "", "cgroup.freeze"), "1");
    } else {
        assert_eq!(host_read(&f, "freezer", "freezer.state"), "FROZEN");
    }
    let frozen_at = count(&f);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&f), frozen_at, "the counter moved while paused");
    let err = f.fails(&["pause", "c1"]);
    assert!(err.contains("container already paused"), "{err}");
    f.ok(&["resume", "c1"]);
    assert_eq!(f.status("c1"), "running");
    wait_until("the counter to move again", LONG, || count(&f) > frozen_at);
    let err = f.fails(&["resume", "c1"]);
    assert!(err.contains("container not paused"), "{err}");
    // A paused container can be deleted with --force.
    f.ok(&["pause", "c1"]);
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

fn stats(f: &Fixture) -> Value {
    let out = f.ok(&["events", "--stats", "c1"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], "c1");
    v["data"].clone()
}

#[test]
fn events_stats_numbers_move() {
    let script = "while :; do :; done";
    let f = started(
        "stats",
        &["sh", "-c", script],
        json!({"pids": {"limit": 50}}),
    );
    let first = stats(&f);
    let total = |v: &Value| v["cpu"]["usage"]["total"].as_u64().unwrap_or(0);
    wait_until("cpu usage to grow", LONG, || {
        total(&stats(&f)) > total(&first)
    });
    let now = stats(&f);
    assert!(
        now["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{now}"
    );
    assert_eq!(now["pids"]["current"], 1, "{now}");
    assert_eq!(now["pids"]["limit"], 50, "{now}");
    assert!(
        now["memory"]["raw"]
            .as_object()
            .is_some_and(|m| !m.is_empty())
    );
    f.ok(&["delete", "--force", "c1"]);
    let err = f.fails(&["events", "--stats", "c1"]);
    assert!(err.contains("container does not exist"), "{err}");
    f.assert_clean();
}

#[test]
fn events_stream_reports_an_oom_kill() {
    let f = Fixture::new("oomevent", &["sh", "-c", "tail /dev/zero; sleep 1000"]);
    set_resources(&f, json!({"memory": {"limit": 33554432, "swap": 33554432}}));
    f.create("c1");
    let out = f.dir.path().join("events.out");
    let mut events = f
        .cmd()
        .args(["events", "--interval", "200ms", "c1"])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = || std::fs::read_to_string(&out).unwrap_or_default();
    wait_until("a stats event", LONG, || {
        lines().contains(r#""type":"stats""#)
    });
    f.ok(&["start", "c1"]);
    wait_until("an oom event", LONG, || {
        lines().lines().any(|l| l == r#"{"type":"oom","id":"c1"}"#)
    });
    // The stream ends by itself when the container stops.
    f.ok(&["kill", "c1", "KILL"]);
    let st = common::wait_timeout(&mut events, LONG);
    assert!(
        st.is_some_and(|s| s.success()),
        "events did not end: {st:?}"
    );
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

#[test]
fn ps_lists_the_containers_processes() {
    let f = started(
        "ps",
        &["sh", "-c", "sleep 1000 & sleep 1001 & wait"],
        json!({}),
    );
    let init = init_pid(&f, "c1");
    let mut pids: Vec<i64> = Vec::new();
    wait_until("three processes", LONG, || {
        let v: Value = serde_json::from_str(&f.ok(&["ps", "-f", "json", "c1"])).unwrap();
        pids = v
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_i64().unwrap())
            .collect();
        pids.len() == 3
    });
    assert!(
        pids.contains(&i64::from(init)),
        "{pids:?} has the init {init}"
    );
    let table = f.ok(&["ps", "c1"]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains("PID"), "{table}");
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.len(), 3, "{table}");
    assert!(body.iter().any(|l| l.contains("sleep 1001")), "{table}");
    let custom = f.ok(&["ps", "c1", "-o", "pid,comm"]);
    assert!(
        custom.starts_with("    PID COMMAND") || custom.contains("PID COMMAND"),
        "{custom}"
    );
    assert_eq!(custom.lines().count(), 4, "{custom}");
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}
