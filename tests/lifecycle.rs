//! The container life cycle and the CLI's runc-compatible behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fixture, s};
use serde_json::Value;

#[test]
fn full_life_cycle_through_every_state() {
    let f = Fixture::new("lifecycle", &["sleep", "1000"]);
    let bundle = f.bundle.to_string_lossy().to_string();
    let pid_file = f.dir.path().join("pid");
    // Flags after the ID, as runc accepts them.
    f.ok(&[
        "create",
        "c1",
        "--bundle",
        &bundle,
        "--pid-file",
        pid_file.to_str().unwrap(),
    ]);

    let st = f.state("c1");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "c1");
    assert_eq!(st["bundle"], bundle.as_str());
    assert_eq!(st["rootfs"], f.rootfs().to_string_lossy().as_ref());
    assert_eq!(st["owner"], "");
    assert!(st["created"].as_str().unwrap().ends_with('Z'));
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 1);
    // The pid file is the decimal PID without a newline.
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert!(f.root.join("c1/exec.fifo").exists());

    f.ok(&["start", "c1"]);
    assert_eq!(f.status("c1"), "running");
    assert!(!f.root.join("c1/exec.fifo").exists());
    // The container program really runs: it is `sleep` now, as PID 1 of
    // its own PID namespace.
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "sleep\u{0}1000\u{0}");

    let err = f.fails(&["delete", "c1"]);
    assert!(
        err.contains("cannot delete container c1 that is not stopped: running"),
        "{err}"
    );

    f.ok(&["kill", "c1", "KILL"]);
    f.wait_status("c1", "stopped");
    assert_eq!(f.state("c1")["pid"], 0);
    let err = f.fails(&["kill", "c1", "9"]);
    assert!(err.contains("container not running"), "{err}");
    let err = f.fails(&["start", "c1"]);
    assert!(
        err.contains("cannot start a container that has stopped"),
        "{err}"
    );

    f.ok(&["delete", "c1"]);
    let err = f.fails(&["state", "c1"]);
    assert!(err.contains("container does not exist"), "{err}");
    f.assert_clean();
}

#[test]
fn kill_zero_checks_that_the_container_is_alive() {
    // runc accepts signal 0: nothing is sent, the init must be there.
    let f = Fixture::new("kill0", &["sleep", "1000"]);
    f.create("c1");
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    f.ok(&["kill", "c1", "0"]);
    assert_eq!(f.status("c1"), "created");
    f.ok(&["start", "c1"]);
    f.ok(&["kill", "c1", "0"]);
    f.ok(&["kill", "--all", "c1", "0"]);
    assert_eq!(f.status("c1"), "running");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    f.ok(&["kill", "c1", "KILL"]);
    f.wait_status("c1", "stopped");
    let err = f.fails(&["kill", "c1", "0"]);
    assert!(err.contains("container not running"), "{err}");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

#[test]
fn stopped_as_soon_as_the_init_exits() {
    let f = Fixture::new("stopped", &["true"]);
    f.create("c1");
    f.ok(&["start", "c1"]);
    // Nobody waits for the init here (berth has exited); the state must
    // still read stopped.
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

#[test]
fn deleting_a_created_container_kills_it() {
    let f = Fixture::new("delcreated", &["sleep", "1000"]);
    f.create("c1");
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    f.ok(&["delete", "c1"]);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || common::processes_rooted_in(&f.rootfs()).is_empty()
    );
    f.assert_clean();
}

#[test]
fn start_twice_and_duplicate_create_are_refused() {
    let f = Fixture::new("twice", &["sleep", "1000"]);
    f.create("c1");
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(
        err.contains("container with given ID already exists"),
        "{err}"
    );
    f.ok(&["start", "c1"]);
    let err = f.fails(&["start", "c1"]);
    assert!(
        err.contains("cannot start an already running container"),
        "{err}"
    );
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

#[test]
fn run_returns_the_container_status() {
    let f = Fixture::new("runstatus", &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    let (code, out, err) = f.run("c1");
    assert_eq!(code, 3);
    assert_eq!(out, "out\n");
    assert!(err.contains("err"), "{err}");
    f.assert_clean();

    // The first process of a PID namespace ignores SIGKILL from inside it,
    // so this container shares the host's PID namespace.
    f.edit(|c| {
        c["process"]["args"] = serde_json::json!(["sh", "-c", "kill -9 $$"]);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
    });
    let (code, _, _) = f.run("c2");
    assert_eq!(code, 137, "128 + SIGKILL");
    f.assert_clean();
}

#[test]
fn run_detached_and_keep() {
    let f = Fixture::new("detach", &["sleep", "1000"]);
    let b = f.bundle.to_string_lossy().to_string();
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    assert_eq!(f.status("c1"), "running");
    f.ok(&["kill", "c1", "SIGKILL"]);
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);

    f.edit(|c| c["process"]["args"] = serde_json::json!(["true"]));
    let out = f.berth(&["run", "--keep", "--bundle", &b, "c2"]);
    assert!(out.status.success());
    assert_eq!(
        f.status("c2"),
        "stopped",
        "--keep leaves the stopped container"
    );
    f.ok(&["delete", "c2"]);
    f.assert_clean();
}

#[test]
fn run_forwards_signals() {
    let f = Fixture::new(
        "sigfwd",
        &[
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; while true; do sleep 0.05; done",
        ],
    );
    let b = f.bundle.to_string_lossy().to_string();
    let child = f
        .cmd()
        .args(["run", "--bundle", &b, "c1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    f.wait_status("c1", "running");
    std::thread::sleep(std::time::Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(s(&out.stdout), "got-term\n");
    f.assert_clean();
}

#[test]
fn missing_containers_and_force_delete() {
    let f = Fixture::new("missing", &["true"]);
    for cmd in [
        &["state", "nope"][..],
        &["start", "nope"],
        &["kill", "nope"],
        &["delete", "nope"],
    ] {
        let out = f.berth(cmd);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        assert!(
            s(&out.stderr).contains("container does not exist"),
            "{cmd:?}: {}",
            s(&out.stderr)
        );
    }
    f.ok(&["delete", "--force", "nope"]);
}

#[test]
fn invalid_ids_are_refused() {
    let f = Fixture::new("badid", &["true"]);
    let b = f.bundle.to_string_lossy().to_string();
    for id in ["../escape", "a/b", "..", "with space"] {
        let err = f.fails(&["create", "--bundle", &b, id]);
        assert!(err.contains("invalid container ID"), "{id}: {err}");
    }
    assert!(!f.dir.path().join("escape").exists());
    f.assert_clean();
}

#[test]
fn list_in_table_json_and_quiet() {
    let f = Fixture::new("list", &["sleep", "1000"]);
    f.create("a1");
    f.separate_cgroup("b2");
    f.create("b2");
    let table = f.ok(&["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ID ") && lines[0].contains("PID") && lines[0].ends_with("OWNER"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("a1 ") && lines[1].contains("created") && lines[1].ends_with("root"),
        "{table}"
    );
    let json: Value = serde_json::from_str(&f.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["id"], "b2");
    assert_eq!(f.ok(&["list", "-q"]), "a1\nb2\n");
    f.ok(&["delete", "-f", "a1"]);
    f.ok(&["delete", "-f", "b2"]);
    f.assert_clean();
}

#[test]
fn json_log_lines_carry_the_failure() {
    let f = Fixture::new("jsonlog", &["true"]);
    let log = f.dir.path().join("log.json");
    let out = f
        .cmd()
        .args([
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(s(&out.stderr).contains("container does not exist"));
    let text = std::fs::read_to_string(&log).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["msg"], "container does not exist");
    assert!(last["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(last.as_object().unwrap().len(), 3);
}

#[test]
fn spec_version_and_features() {
    let f = Fixture::new("cli", &["true"]);
    let dir = f.dir.path().join("newbundle");
    std::fs::create_dir(&dir).unwrap();
    f.ok(&["spec", "--bundle", dir.to_str().unwrap()]);
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["process"]["args"][0], "sh");
    let err = f.fails(&["spec", "--bundle", dir.to_str().unwrap()]);
    assert!(err.contains("exists"), "{err}");

    let v = f.ok(&["--version"]);
    assert!(
        v.starts_with("berth version ")
            && v.contains("\nspec: 1.3.0\n")
            && v.contains("libseccomp: 2."),
        "{v}"
    );
    let feat: Value = serde_json::from_str(&f.ok(&["features"])).unwrap();
    assert_eq!(feat["ociVersionMax"], "1.3.0");
    assert!(feat["linux"]["namespaces"].as_array().unwrap().len() == 8);
}

/// `spec` (and `spec --rootless`) write in `dir`; the parsed config.json.
fn spec_in(dir: &std::path::Path, program: &std::path::Path, rootless: bool) -> Value {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = std::process::Command::new(program);
    cmd.arg("spec").current_dir(dir);
    if rootless {
        cmd.arg("--rootless");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", s(&out.stderr));
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
}

#[test]
fn spec_writes_what_runc_writes_on_this_host() {
    // runc 1.1 adds the cgroup namespace only on a cgroup v2 host, keeps
    // the cgroup mount in the rootless config and drops every uid=/gid=
    // option there. The only difference kept: the hostname.
    let f = Fixture::new("spec-runc", &["true"]);
    let runc = std::path::Path::new("/usr/sbin/runc");
    for rootless in [false, true] {
        let tag = if rootless { "rootless" } else { "default" };
        let mut ours = spec_in(&f.dir.path().join(tag), &common::berth_bin(), rootless);
        let theirs = spec_in(&f.dir.path().join(format!("runc-{tag}")), runc, rootless);
        assert_eq!(ours["hostname"], "berth");
        assert_eq!(theirs["hostname"], "runc");
        ours["hostname"] = theirs["hostname"].clone();
        assert_eq!(
            ours,
            theirs,
            "{tag}:\nberth: {}\nrunc:  {}",
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&theirs).unwrap()
        );
    }
    f.assert_clean();
}

#[test]
fn systemd_cgroup_without_systemd_is_refused_clearly() {
    // The test host's PID 1 is not systemd (no /run/systemd/system).
    let f = Fixture::new("systemd", &["true"]);
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["--systemd-cgroup", "create", "--bundle", &b, "c1"]);
    assert!(
        err.contains("systemd is not running on this host: cannot use --systemd-cgroup"),
        "{err}"
    );
    f.assert_clean();
}

#[test]
fn leak_check_sees_a_live_container() {
    // The harness's own check must be able to fail: a running container is
    // found by it, and gone after delete.
    let f = Fixture::new("leakcheck", &["sleep", "1000"]);
    f.create("c1");
    f.ok(&["start", "c1"]);
    let pid = f.state("c1")["pid"].as_i64().unwrap() as i32;
    assert!(common::processes_rooted_in(&f.rootfs()).contains(&pid));
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

/// `--debug` logs the duration of every launch phase (`create`, `start`
/// and `run`); without it no debug line is written.
#[test]
fn debug_log_times_every_launch_phase() {
    let f = Fixture::new("debug-phases", &["true"]);
    let b = f.bundle.to_string_lossy().to_string();
    let log = f.dir.path().join("debug.log");
    let l = log.to_string_lossy().to_string();
    f.ok(&["--debug", "--log", &l, "run", "--bundle", &b, "c1"]);
    let text = std::fs::read_to_string(&log).unwrap();
    for phase in [
        "config load",
        "host checks",
        "seccomp",
        "cgroup",
        "clone",
        "mounts",
        "pivot",
        "init set-up",
        "gate",
        "exec",
    ] {
        assert!(
            text.contains(&format!("phase {phase} took ")),
            "{phase} missing in:\n{text}"
        );
    }
    // Placed by the parent (hybrid), or joined by the init itself (legacy
    // v1: `tasks`); on cgroup v2 the clone places it and neither is logged.
    if berth::cgroups::detect_mode() != berth::cgroups::Mode::Unified {
        assert!(
            text.contains("phase cgroup placement and id maps took ")
                || text.contains("phase cgroup join took "),
            "cgroup placement missing in:\n{text}"
        );
    }
    // create + start: the gate is exec.fifo, opened by `start`.
    let log2 = f.dir.path().join("debug2.log");
    let l2 = log2.to_string_lossy().to_string();
    f.ok(&["--debug", "--log", &l2, "create", "--bundle", &b, "c2"]);
    f.ok(&["--debug", "--log", &l2, "start", "c2"]);
    let text = std::fs::read_to_string(&log2).unwrap();
    assert!(
        text.contains("phase gate took ") && text.contains("phase exec took "),
        "{text}"
    );
    f.wait_status("c2", "stopped");
    f.ok(&["delete", "c2"]);
    // Without --debug: nothing below info.
    let log3 = f.dir.path().join("quiet.log");
    let l3 = log3.to_string_lossy().to_string();
    f.ok(&["--log", &l3, "run", "--bundle", &b, "c3"]);
    let text = std::fs::read_to_string(&log3).unwrap_or_default();
    assert!(!text.contains("level=debug"), "{text}");
    f.assert_clean();
}
