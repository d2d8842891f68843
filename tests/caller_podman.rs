//! podman (Debian's package, with conmon) drives berth: `podman --runtime
//! <berth> run --rootfs <dir> --network none …`, then exec, stop and rm.
//! podman is told that berth logs JSON (`runtime_supports_json`), so after
//! a failure it reads berth's whole log file as one JSON object: a single
//! failure must write exactly one line.
//!
//! Run by the caller section of `.ci/test` (`cargo test --test
//! caller_podman -- --ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callers;
mod common;
#[path = "callers/podman.rs"]
mod podman;

use callers::{ok, run};
use podman::Podman;

#[test]
#[ignore = "caller test: needs podman; run by .ci/test's caller section"]
fn podman_runs_execs_stops_and_removes() {
    let p = Podman::new();
    let out = ok(&mut p.run_args(&["--rm"], &["sh", "-c", "echo hello-$((6*7)); id -u"]));
    assert_eq!(out, "hello-42\n0\n");

    ok(&mut p.run_args(&["-d", "--name", "p1"], &["sleep", "1000"]));
    exec_into_p1(
        &p,
        "cat /proc/1/cmdline; echo; echo $((1+2))",
        "sleep\u{0}1000\u{0}\n3\n",
    );
    stop_and_remove_p1(&p);

    // A failing create: podman parses berth's log file as one JSON object
    // (a second line would make it fall back to the raw text).
    let out = run(&mut p.run_args(&["--rm"], &["nope-cmd"]));
    assert!(!out.status.success());
    let err = common::s(&out.stderr);
    assert!(
        err.contains("unable to start container process: exec: \"nope-cmd\": executable file not found in $PATH"),
        "{err}"
    );
    assert!(
        !err.contains("level=error"),
        "the JSON log was parsed: {err}"
    );
    p.finish();
}

#[test]
#[ignore = "caller test: needs podman; run by .ci/test's caller section"]
fn rootless_podman_runs_execs_logs_stops_and_removes() {
    // podman as the unprivileged test user, berth as its runtime. podman
    // maps the user and its subordinate range; berth runs as uid 0 in that
    // user namespace, so `--rootless auto` must find it rootless.
    let p = Podman::rootless();
    let (user, _) = p.rootless.as_ref().unwrap();
    let (uid, sub) = (user.uid, user.subuid);
    let out = ok(&mut p.run_args(
        &["--rm"],
        &[
            "sh",
            "-c",
            "echo hello-$((6*7)); id -u; cat /proc/self/uid_map",
        ],
    ));
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        [
            "hello-42".to_string(),
            "0".to_string(),
            format!("0 {uid} 1"),
            format!("1 {} {}", sub.0, sub.1)
        ],
        "{out}"
    );

    ok(&mut p.run_args(
        &["-d", "--name", "p1"],
        &["sh", "-c", "echo started-$((6*7)); exec sleep 1000"],
    ));
    // berth is the runtime: podman says so, and the container's state is
    // in berth's default rootless root, $XDG_RUNTIME_DIR/berth.
    let id = ok(p.podman().args(["inspect", "--format", "{{.Id}}", "p1"]));
    let runtime = ok(p
        .podman()
        .args(["inspect", "--format", "{{.OCIRuntime}}", "p1"]));
    assert_eq!(runtime.trim(), common::berth_bin().to_string_lossy());
    let state = p.state.join(id.trim()).join("state.json");
    assert!(state.exists(), "no berth state at {}", state.display());
    exec_into_p1(
        &p,
        "cat /proc/1/cmdline; echo; id -u; echo $((1+2))",
        "sleep\u{0}1000\u{0}\n0\n3\n",
    );
    let logs = ok(p.podman().args(["logs", "p1"]));
    assert_eq!(logs, "started-42\n");
    stop_and_remove_p1(&p);
    assert!(!state.exists(), "berth's state outlived podman rm");
    p.finish();
}

/// `podman exec` into the running container `p1`: a script's output, an exit
/// status passed back, and a terminal with `-t`.
fn exec_into_p1(p: &Podman, script: &str, expect: &str) {
    let out = ok(p.podman().args(["exec", "p1", "sh", "-c", script]));
    assert_eq!(out, expect);
    let out = run(p.podman().args(["exec", "p1", "sh", "-c", "exit 5"]));
    assert_eq!(out.status.code(), Some(5));
    let (code, tty) = callers::run_on_tty(p.podman().args(["exec", "-t", "p1", "tty"]));
    assert_eq!(code, 0, "{tty}");
    assert!(tty.contains("/dev/pts/"), "{tty}");
}

/// `podman stop` then `rm` of `p1`, with podman seeing it exited between.
fn stop_and_remove_p1(p: &Podman) {
    ok(p.podman().args(["stop", "-t", "1", "p1"]));
    let out = ok(p
        .podman()
        .args(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]));
    assert!(out.contains("p1 Exited"), "{out}");
    ok(p.podman().args(["rm", "p1"]));
}
