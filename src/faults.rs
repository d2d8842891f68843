//! Test-only fault injection. With `BERTH_TEST_STOP_AT=<point>` in its
//! environment, berth stops itself (`SIGSTOP`) when it reaches the named
//! point, so a test can `SIGKILL` it exactly there and check that
//! `delete --force` still leaves nothing behind. Without the variable a
//! checkpoint costs one cached comparison.
//!
//! Points: `create:dir`, `create:cgroup`, `create:cloned`, `create:ready`,
//! `create:saved`, `init:namespaces`, `init:mounts`, `init:pivot`,
//! `init:identity`, `start:locked`, `start:signalled`, `delete:killed`,
//! `delete:cgroup` (and the `exec:` points of `exec`).

use std::sync::OnceLock;

/// The environment variable naming the point to stop at.
pub const ENV: &str = "BERTH_TEST_STOP_AT";

/// Stops the calling process if the test asked for this point.
pub fn checkpoint(point: &str) {
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    if TARGET.get_or_init(|| std::env::var(ENV).ok()).as_deref() == Some(point) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
}
