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
    let out = ok(p.podman().args([
        "exec",
        "p1",
        "sh",
        "-c",
        "cat /proc/1/cmdline; echo; echo $((1+2))",
    ]));
    assert_eq!(out, "sleep\u{0}1000\u{0}\n3\n");
    let out = run(p.podman().args(["exec", "p1", "sh", "-c", "exit 5"]));
    assert_eq!(out.status.code(), Some(5));
    let (code, tty) = callers::run_on_tty(p.podman().args(["exec", "-t", "p1", "tty"]));
    assert_eq!(code, 0, "{tty}");
    assert!(tty.contains("/dev/pts/"), "{tty}");
    ok(p.podman().args(["stop", "-t", "1", "p1"]));
    let out = ok(p
        .podman()
        .args(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]));
    assert!(out.contains("p1 Exited"), "{out}");
    ok(p.podman().args(["rm", "p1"]));

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
