//! The counter loop the checkpoint tests run (tests/checkpoint.rs,
//! tests/systemd.rs): a shell appending 1, 2, 3... to a file, one line
//! every 0.2 s. A checkpoint freezes it; a restore must continue the same
//! unbroken sequence (a fresh start would write 1 again).

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Why CRIU cannot checkpoint here (`criu check` fails or criu is
/// missing), or `None` when it can. Asked once per test binary.
pub fn criu_unusable() -> Option<String> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(
        || match std::process::Command::new("criu").arg("check").output() {
            Err(e) => Some(format!("criu: {e} (apt-get install criu)")),
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!(
                "`criu check` failed: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            )),
        },
    )
    .clone()
}

/// The loop, writing to `file` (a path inside the container), with its
/// stdio on the container's own /dev/null (the caller's files are not in
/// the image).
pub fn script(file: &str) -> String {
    format!(
        "exec </dev/null >/dev/null 2>&1; i=0; \
         while true; do i=$((i+1)); echo $i >> {file}; sleep 0.2; done"
    )
}

/// The numbers written to `file` (a host path) so far.
pub fn lines(file: &Path) -> Vec<u64> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Waits (up to 60 s) until `file` holds at least `n` numbers.
pub fn wait_lines(file: &Path, n: usize) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = lines(file);
        if c.len() >= n {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "the counter never reached {n} lines: {c:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `more` numbers past the `frozen` ones and asserts the whole
/// file is one unbroken 1, 2, 3... sequence: the restored loop went on
/// from the checkpoint's value.
pub fn assert_continues(file: &Path, frozen: &[u64], more: usize) {
    let after = wait_lines(file, frozen.len() + more);
    let want: Vec<u64> = (1..=after.len() as u64).collect();
    assert_eq!(after, want, "frozen at {frozen:?}");
}

/// Asserts the count stands still for a second (after a checkpoint
/// without `--leave-running`); returns it.
pub fn assert_frozen(file: &Path) -> Vec<u64> {
    let frozen = lines(file);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lines(file), frozen, "the count moved after the checkpoint");
    frozen
}

/// Asserts the numbers past the first `before` continue one another
/// (each one more than the last), and returns the first of them.
pub fn assert_resumed(after: &[u64], before: usize) -> u64 {
    let resumed = &after[before..];
    assert!(resumed.windows(2).all(|w| w[1] == w[0] + 1), "{resumed:?}");
    resumed[0]
}
