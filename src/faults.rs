//! Test-only fault injection. With `BERTH_TEST_STOP_AT=<point>` in its
//! environment, berth parks itself when it reaches the named point: it
//! renames its thread to `berth-stopped` and sleeps until killed, so a test
//! can find it and `SIGKILL` it (or its parent) exactly there, then check
//! that `delete --force` still leaves nothing behind. (Not `SIGSTOP`: the
//! first process of a PID namespace ignores it from inside.) Without the
//! variable a checkpoint costs one cached comparison.
//!
//! Points: `create:dir`, `create:cgroup`, `create:cloned`, `create:ready`,
//! `create:saved`, `init:namespaces`, `init:mounts`, `init:pivot`,
//! `init:identity`, `start:locked`, `start:signalled`, `delete:killed`,
//! `delete:cgroup`; for `exec`: `exec:cloned` (berth, right after the
//! clone; the new process waits for `Proceed` only when placed by PID),
//! `exec:joined` (the new process, in the container's namespaces),
//! `exec:identity` (the new process, user and capabilities applied),
//! `exec:ready` (berth, the process `Ready`; it waits for `Start` only
//! with `--pidfd-socket`), `exec:started` (berth, the program running).

use std::sync::OnceLock;

/// The environment variable naming the point to stop at.
pub const ENV: &str = "BERTH_TEST_STOP_AT";

/// The thread name of a parked process.
pub const PARKED: &std::ffi::CStr = c"berth-stopped";

/// Parks the calling process if the test asked for this point.
pub fn checkpoint(point: &str) {
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    if TARGET.get_or_init(|| std::env::var(ENV).ok()).as_deref() == Some(point) {
        let _ = nix::sys::prctl::set_name(PARKED);
        loop {
            nix::unistd::pause();
        }
    }
}
