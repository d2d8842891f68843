//! Writing a new user namespace's uid and gid maps from the parent.
//!
//! The kernel lets a process without `CAP_SETUID`/`CAP_SETGID` over the
//! parent user namespace write one mapping only: its own effective id,
//! size 1, and for gids only after `setgroups` is set to `deny`. Anything
//! else a rootless berth asks the setuid helpers `newuidmap`/`newgidmap`
//! (Debian's `uidmap`), which check the ranges against `/etc/subuid` and
//! `/etc/subgid`. Root (in its own user namespace too) writes directly.

use std::process::Command;

use nix::unistd::Pid;

use super::LaunchError;
use crate::spec::IdMap;
use crate::sys::Errno;

/// How one map gets written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Written to `/proc/<pid>/{uid,gid}_map` by berth.
    Direct,
    /// Through `newuidmap`/`newgidmap`.
    Helper,
}

/// Which ids a map is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Uid,
    Gid,
}

impl Which {
    fn file(self) -> &'static str {
        match self {
            Which::Uid => "uid_map",
            Which::Gid => "gid_map",
        }
    }
    fn helper(self) -> &'static str {
        match self {
            Which::Uid => "newuidmap",
            Which::Gid => "newgidmap",
        }
    }
    fn field(self) -> &'static str {
        match self {
            Which::Uid => "linux.uidMappings",
            Which::Gid => "linux.gidMappings",
        }
    }
}

/// Chooses how to write `maps`: directly when privileged (`privileged`:
/// berth's effective uid is 0 in its own user namespace) or when the map
/// is the caller's own id alone (`own`); otherwise through the helper.
pub fn method(maps: &[IdMap], own: u32, privileged: bool) -> Method {
    if privileged {
        return Method::Direct;
    }
    match maps {
        [m] if m.host == own && m.size == 1 => Method::Direct,
        _ => Method::Helper,
    }
}

/// The helper's arguments: `<pid> <container> <host> <size>...`.
pub fn helper_args(pid: Pid, maps: &[IdMap]) -> Vec<String> {
    let mut args = vec![pid.to_string()];
    for m in maps {
        args.extend([
            m.container.to_string(),
            m.host.to_string(),
            m.size.to_string(),
        ]);
    }
    args
}

/// Writes the uid and gid maps of `pid`'s new user namespace.
pub fn write(pid: Pid, uids: &[IdMap], gids: &[IdMap]) -> Result<(), LaunchError> {
    let privileged = nix::unistd::geteuid().is_root();
    let (euid, egid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let gid_method = method(gids, egid, privileged);
    if gid_method == Method::Direct && !privileged {
        // The kernel's condition for an unprivileged gid_map write.
        write_file(pid, "setgroups", "deny", "linux.gidMappings")?;
    }
    write_one(pid, Which::Uid, uids, method(uids, euid, privileged))?;
    write_one(pid, Which::Gid, gids, gid_method)
}

fn write_one(pid: Pid, which: Which, maps: &[IdMap], how: Method) -> Result<(), LaunchError> {
    match how {
        Method::Direct => write_file(
            pid,
            which.file(),
            &IdMap::to_proc_format(maps),
            which.field(),
        ),
        Method::Helper => run_helper(pid, which, maps),
    }
}

fn write_file(pid: Pid, file: &str, content: &str, field: &str) -> Result<(), LaunchError> {
    std::fs::write(format!("/proc/{pid}/{file}"), content).map_err(|e| LaunchError::Sys {
        what: format!(
            "{field}: write {file} {:?}",
            content.trim_end().replace('\n', ", ")
        ),
        source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}

fn run_helper(pid: Pid, which: Which, maps: &[IdMap]) -> Result<(), LaunchError> {
    let args = helper_args(pid, maps);
    let shown = format!("{} {}", which.helper(), args.join(" "));
    let out = Command::new(which.helper())
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| LaunchError::IdMap {
            field: which.field(),
            command: shown.clone(),
            msg: format!(
                "{e} (a rootless mapping other than the caller's own id needs {} from the \
                 uidmap package, and ranges in /etc/sub{}id)",
                which.helper(),
                if which == Which::Uid { "u" } else { "g" }
            ),
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(LaunchError::IdMap {
        field: which.field(),
        command: shown,
        msg: format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(container: u32, host: u32, size: u32) -> IdMap {
        IdMap {
            container,
            host,
            size,
        }
    }

    #[test]
    fn own_id_alone_is_direct() {
        assert_eq!(method(&[m(0, 1000, 1)], 1000, false), Method::Direct);
        assert_eq!(method(&[m(0, 1001, 1)], 1000, false), Method::Helper);
        assert_eq!(method(&[m(0, 1000, 2)], 1000, false), Method::Helper);
        assert_eq!(
            method(&[m(0, 1000, 1), m(1, 100000, 65536)], 1000, false),
            Method::Helper
        );
        assert_eq!(method(&[m(0, 100000, 65536)], 0, true), Method::Direct);
    }

    #[test]
    fn helper_arguments() {
        assert_eq!(
            helper_args(Pid::from_raw(42), &[m(0, 1000, 1), m(1, 100000, 65536)]),
            ["42", "0", "1000", "1", "1", "100000", "65536"]
        );
    }
}
