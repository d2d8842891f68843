//! Faults and races: berth killed at every named phase, concurrent commands
//! on one ID, and an init that dies during set-up. Afterwards
//! `delete --force` must leave nothing: no process, mount, cgroup, state
//! directory or FIFO.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Fixture;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Processes (PIDs) parked at a fault point whose command line mentions `needle`.
fn stopped_with(needle: &str) -> Vec<i32> {
    with_cmdline(needle)
        .into_iter()
        .filter(|p| {
            let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            comm.trim() == berth::faults::PARKED.to_string_lossy()
        })
        .collect()
}

/// Processes (PIDs) whose command line mentions `needle`.
fn with_cmdline(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Spawns berth with the fault point set and waits until some process of
/// this fixture stops there. The caller kills and reaps the child.
#[allow(clippy::zombie_processes)]
fn spawn_stopped(f: &Fixture, point: &str, args: &[&str]) -> (Child, Vec<i32>) {
    let child = f
        .cmd()
        .args(args)
        .env(berth::faults::ENV, point)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let needle = f.root.to_string_lossy().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stopped = stopped_with(&needle);
        if !stopped.is_empty() {
            return (child, stopped);
        }
        assert!(Instant::now() < deadline, "nothing stopped at {point}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sigkill(pid: i32) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

#[test]
fn create_killed_at_every_phase_leaves_nothing_after_force_delete() {
    for point in [
        "create:dir",
        "create:cgroup",
        "create:cloned",
        "init:namespaces",
        "init:mounts",
        "init:pivot",
        "init:identity",
        "create:ready",
        "create:saved",
    ] {
        let f = Fixture::new(
            &format!("fault-{}", point.replace(':', "-")),
            &["sleep", "100"],
        );
        let b = f.bundle.to_string_lossy().to_string();
        let (mut child, _stopped) = spawn_stopped(&f, point, &["create", "--bundle", &b, "c1"]);
        // Kill berth itself (the init, if it is the one stopped, dies with it).
        sigkill(child.id() as i32);
        child.wait().unwrap();
        for pid in stopped_with(&f.root.to_string_lossy()) {
            sigkill(pid);
        }
        f.ok(&["delete", "--force", "c1"]);
        f.assert_clean();
        assert!(!f.root.join("c1/exec.fifo").exists());
    }
}

#[test]
fn start_and_delete_killed_midway_are_recoverable() {
    for point in [
        "start:locked",
        "start:signalled",
        "delete:killed",
        "delete:cgroup",
    ] {
        let f = Fixture::new(
            &format!("fault-{}", point.replace(':', "-")),
            &["sleep", "100"],
        );
        f.create("c1");
        let args: &[&str] = if point.starts_with("start") {
            &["start", "c1"]
        } else {
            &["delete", "--force", "c1"]
        };
        let (mut child, _) = spawn_stopped(&f, point, args);
        sigkill(child.id() as i32);
        child.wait().unwrap();
        f.ok(&["delete", "--force", "c1"]);
        f.assert_clean();
    }
}

#[test]
fn init_dying_during_set_up_fails_create_cleanly() {
    let f = Fixture::new("fault-initdies", &["sleep", "100"]);
    let b = f.bundle.to_string_lossy().to_string();
    let (child, stopped) = spawn_stopped(&f, "init:mounts", &["create", "--bundle", &b, "c1"]);
    // The stopped process is the init (berth waits on the socket).
    for pid in stopped {
        sigkill(pid);
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    // berth cleaned up by itself: no delete needed.
    f.assert_clean();
}

/// Runs two `berth ARGS` at once; exactly one must succeed. Returns the
/// loser's stderr. (stderr goes through files: a winning `create`'s init
/// inherits it and keeps it open.)
fn exactly_one_wins(f: &Fixture, args: &[&str]) -> String {
    let (ex, ey) = (f.dir.path().join("x.err"), f.dir.path().join("y.err"));
    let spawn = |err: &std::path::Path| {
        f.cmd()
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(err).unwrap())
            .spawn()
            .unwrap()
    };
    let (mut x, mut y) = (spawn(&ex), spawn(&ey));
    let (sx, sy) = (x.wait().unwrap(), y.wait().unwrap());
    assert_eq!(
        sx.success() as u8 + sy.success() as u8,
        1,
        "exactly one of two {args:?} wins"
    );
    std::fs::read_to_string(if sx.success() { &ey } else { &ex }).unwrap()
}

#[test]
fn concurrent_creates_of_one_id_exactly_one_wins() {
    let f = Fixture::new("race-create", &["sleep", "100"]);
    let b = f.bundle.to_string_lossy().to_string();
    let loser = exactly_one_wins(&f, &["create", "--bundle", &b, "c1"]);
    assert!(
        loser.contains("container with given ID already exists"),
        "{loser}"
    );
    assert_eq!(f.status("c1"), "created");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

#[test]
fn delete_waits_for_the_lock_holder() {
    let f = Fixture::new("race-lock", &["sleep", "100"]);
    let b = f.bundle.to_string_lossy().to_string();
    let (mut create, _) = spawn_stopped(&f, "create:cgroup", &["create", "--bundle", &b, "c1"]);
    // The stopped create holds the lock: delete must wait, not interleave.
    let mut delete = f
        .cmd()
        .args(["delete", "--force", "c1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        delete.try_wait().unwrap().is_none(),
        "delete went ahead while create held the lock"
    );
    sigkill(create.id() as i32);
    create.wait().unwrap();
    let st = common::wait_timeout(&mut delete, Duration::from_secs(30))
        .expect("delete finishes once the lock is free");
    assert!(st.success());
    f.assert_clean();
}

/// The start time of a process (field 22 of its stat), or `None` once it
/// is gone.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that was `(pid, start)` still exists (zombies count).
fn alive(pid: i32, start: Option<u64>) -> bool {
    start.is_some() && start_time(pid) == start
}

#[test]
fn exec_killed_at_every_phase_leaves_nothing_after_force_delete() {
    for point in [
        "exec:cloned",
        "exec:joined",
        "exec:identity",
        "exec:ready",
        "exec:started",
    ] {
        let f = Fixture::new(
            &format!("fault-{}", point.replace(':', "-")),
            &["sleep", "100"],
        );
        let b = f.bundle.to_string_lossy().to_string();
        f.ok(&["run", "-d", "--bundle", &b, "c1"]);
        let init = f.state("c1")["pid"].as_i64().unwrap() as i32;
        let (mut child, _) = spawn_stopped(&f, point, &["exec", "c1", "sleep", "200"]);
        // berth exec and the process it cloned (both carry berth's command
        // line until the program runs).
        let parked: Vec<(i32, Option<u64>)> = with_cmdline(&f.root.to_string_lossy())
            .into_iter()
            .map(|p| (p, start_time(p)))
            .collect();
        assert!(!parked.is_empty());
        // Kill berth exec; whatever it had started must not outlive the
        // container.
        sigkill(child.id() as i32);
        child.wait().unwrap();
        assert!(
            alive(init, start_time(init)),
            "{point}: killing exec must not take the container down"
        );
        // The container stays usable.
        f.ok(&["exec", "c1", "true"]);
        f.ok(&["delete", "--force", "c1"]);
        f.assert_clean();
        let deadline = Instant::now() + Duration::from_secs(10);
        while parked.iter().any(|(p, st)| alive(*p, *st)) {
            assert!(
                Instant::now() < deadline,
                "{point}: a process parked there survived delete --force: {parked:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            stopped_with(&f.root.to_string_lossy()).is_empty(),
            "{point}: a parked process remains"
        );
        assert!(!f.root.join("c1").exists(), "{point}: state directory left");
    }
}

#[test]
fn concurrent_starts_exactly_one_wins() {
    let f = Fixture::new("race-start", &["sleep", "100"]);
    f.create("c1");
    let loser = exactly_one_wins(&f, &["start", "c1"]);
    assert!(
        loser.contains("cannot start an already running container"),
        "{loser}"
    );
    assert_eq!(f.status("c1"), "running");
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}
