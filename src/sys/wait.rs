//! `wait4(2)`: waiting for a child with its resource usage, which `nix`
//! does not wrap. Used by `run` and by the benchmark to read peak RSS.

use std::time::Duration;

use nix::unistd::Pid;

use super::{Errno, Result};

/// How a child ended and what it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// Exit code, or 128 + signal number when a signal killed it.
    pub code: i32,
    /// Peak resident set size, in KiB.
    pub max_rss_kib: i64,
    /// User plus system CPU time.
    pub cpu: Duration,
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Waits for `pid` to exit and returns its status and usage.
pub fn wait4(pid: Pid) -> Result<Exit> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that the kernel fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both out-pointers are valid for the call.
        let r = unsafe { libc::wait4(pid.as_raw(), &mut status, 0, &mut usage) };
        if r == -1 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(e),
            }
        }
        break;
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        -1
    };
    Ok(Exit {
        code,
        max_rss_kib: usage.ru_maxrss,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
    })
}
