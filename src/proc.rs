//! Identifying host processes across invocations without being fooled by
//! PID reuse: a PID is always paired with the process's start time.

use std::os::fd::OwnedFd;

use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::sys;

/// A process as berth records it: PID plus start time (clock ticks after
/// boot, field 22 of `/proc/<pid>/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: i32,
    pub start_time: u64,
}

/// The fields of `/proc/<pid>/stat` berth uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub start_time: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(content: &str) -> Option<Stat> {
    let rest = &content[content.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) comes field 4; start time is field 22.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start_time })
}

/// Reads a small file (procfs, cgroupfs) in as few system calls as
/// possible: no `stat` for a size hint (these files report 0) and one large
/// read instead of std's growing probes.
pub fn read_small(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(8192);
    f.read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The signals this process ignores (`SigIgn` of `/proc/self/status`,
/// bit `n - 1` for signal `n`), `None` if it cannot be read.
pub fn ignored_signals() -> Option<u64> {
    sig_ign_in(&read_small("/proc/self/status").ok()?)
}

/// Parses the `SigIgn` line of a status file (pure, for tests).
pub fn sig_ign_in(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// Reads the stat of a live or zombie process.
pub fn stat(pid: i32) -> Option<Stat> {
    let content = read_small(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&content)
}

impl ProcessId {
    /// Records the identity of a running process.
    pub fn of(pid: Pid) -> Option<Self> {
        stat(pid.as_raw()).map(|s| Self {
            pid: pid.as_raw(),
            start_time: s.start_time,
        })
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.pid)
    }

    /// Whether this very process still runs (a zombie counts as exited).
    pub fn is_alive(&self) -> bool {
        stat(self.pid)
            .is_some_and(|s| s.start_time == self.start_time && !matches!(s.state, 'Z' | 'X' | 'x'))
    }

    /// Opens a pidfd that is guaranteed to refer to this process (and not a
    /// later one with the same PID), or `None` if it has gone.
    pub fn pidfd(&self) -> Option<OwnedFd> {
        let fd = sys::process::pidfd_open(self.pid()).ok()?;
        // Checked after opening: if the start time still matches, the pidfd
        // refers to the recorded process, which can no longer be replaced.
        let s = stat(self.pid)?;
        (s.start_time == self.start_time).then_some(fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sig_ign() {
        let st = "Name:\tberth\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001001\nSigCgt:\t0\n";
        assert_eq!(sig_ign_in(st), Some(0x1001));
        assert_eq!(sig_ign_in("Name:\tx\n"), None);
    }

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                start_time: 987654
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn identifies_this_process() {
        let me = ProcessId::of(nix::unistd::getpid()).expect("own stat");
        assert!(me.is_alive());
        assert!(me.pidfd().is_some());
        let other = ProcessId {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!other.is_alive());
        assert!(other.pidfd().is_none());
    }
}
