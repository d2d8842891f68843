//! CRIU, driven the way runc drives it: `criu swrk` over a socketpair with
//! CRIU's RPC messages ([`proto`], [`swrk`]), and the checkpoint image
//! treated as untrusted input ([`image`]).

pub mod image;
pub mod proto;
pub mod swrk;

use std::path::{Path, PathBuf};

pub use proto::{CgMode, Features, Notify, Opts, PageServer, Req, ReqType, Resp, Version};
pub use swrk::Swrk;

/// The oldest CRIU berth drives: the VERSION request it relies on came in
/// 3.0.0 (runc's minimum too).
pub const MIN_VERSION: Version = Version {
    major: 3,
    minor: 0,
    sublevel: 0,
};

/// Since 3.14 CRIU can freeze a cgroup v2 (`freeze_cgroup` on a cgroup2 path).
pub const V2_FREEZE_VERSION: i64 = 31400;

/// Since 3.11 CRIU takes an external network namespace (`external` on
/// dump, `inherit_fd` on restore; runc's minimum for it too).
pub const EXT_NET_VERSION: i64 = 31100;

/// Since 3.15 CRIU tells a lazy page server is ready with the
/// `status-ready` notification (earlier ones write to `status_fd`).
pub const STATUS_READY_VERSION: i64 = 31500;

/// Since 3.16 CRIU applies `lsm_profile` and `lsm_mount_context` (runc's
/// minimum: older ones cannot set a different LSM profile).
pub const LSM_VERSION: i64 = 31600;

/// The key CRIU's image names an external network namespace by (runc's).
pub const EXT_NET_KEY: &str = "extRootNetNS";

/// Since 3.15 CRIU takes an external PID namespace (runc's minimum too).
pub const EXT_PID_VERSION: i64 = 31500;

/// The key CRIU's image names an external PID namespace by (runc's).
pub const EXT_PID_KEY: &str = "extRootPidNS";

/// Failures talking to CRIU or reading a checkpoint image.
#[derive(Debug, thiserror::Error)]
pub enum CriuError {
    #[error("criu not found in PATH: install CRIU {MIN_VERSION} or newer")]
    NotFound,
    #[error("start {path} swrk: {source}")]
    Spawn {
        path: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::errno::Errno,
    },
    #[error(transparent)]
    Decode(#[from] proto::DecodeError),
    #[error("criu closed the connection before answering")]
    Closed,
    #[error("wait for criu: {source}")]
    Wait { source: std::io::Error },
    #[error("criu exited with {0}")]
    Exit(String),
    #[error("CRIU {MIN_VERSION} or newer is required, found {found}")]
    TooOld { found: Version },
    #[error("criu did not report its version")]
    NoVersion,
    /// A failed request: CRIU's message, where its log is, and the log's
    /// last error lines.
    #[error("criu {action} failed{}: see {log}{}", .msg.as_deref().map(|m| format!(" ({m})")).unwrap_or_default(),
        if .errors.is_empty() { String::new() } else { format!(": {}", .errors.join("; ")) })]
    Failed {
        action: &'static str,
        msg: Option<String>,
        log: String,
        errors: Vec<String>,
    },
    /// A hook run at a CRIU notification failed.
    #[error("{0}")]
    Hook(String),
    /// A checkpoint image (or image/work directory) that is refused.
    #[error("checkpoint image {path}: {msg}")]
    Image { path: String, msg: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// The error for a failed `action`, with the last error lines of CRIU's
/// log at `log` (read bounded: its last 16 KiB).
pub fn failed(action: &'static str, msg: Option<String>, log: &Path) -> CriuError {
    CriuError::Failed {
        action,
        msg,
        log: log.display().to_string(),
        errors: log_errors(&read_tail(log, 16 * 1024)),
    }
}

fn read_tail(path: &Path, max: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if f.seek(SeekFrom::Start(len.saturating_sub(max))).is_err() {
        return String::new();
    }
    let mut b = Vec::new();
    let _ = f.take(max).read_to_end(&mut b);
    String::from_utf8_lossy(&b).into_owned()
}

/// Pure: the last three `Error` lines of a CRIU log, without their
/// timestamp prefix.
pub fn log_errors(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.find("Error (").map(|i| l[i..].trim().to_string()))
        .collect();
    let skip = v.len().saturating_sub(3);
    v.drain(..skip);
    v
}

/// Result of a CRIU operation.
pub type Result<T> = std::result::Result<T, CriuError>;

/// The `criu` binary: the first in `PATH`.
pub fn binary() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join("criu"))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or(CriuError::NotFound)
}

/// Asks CRIU its version (one `swrk` session).
pub fn version(criu: &Path) -> Result<Version> {
    let mut s = Swrk::spawn(criu)?;
    let resp = s.call(&Req::bare(ReqType::Version), &mut |_, _| Ok(()))?;
    s.finish()?;
    if !resp.success {
        return Err(CriuError::NoVersion);
    }
    resp.version.ok_or(CriuError::NoVersion)
}

/// Asks CRIU (a `FEATURE_CHECK`) whether it can do lazy pages here: it
/// needs the kernel's non-cooperative userfaultfd (`criu check --feature
/// uffd-noncoop`), so the answer depends on the running kernel.
pub fn lazy_pages_supported(criu: &Path) -> Result<bool> {
    let mut s = Swrk::spawn(criu)?;
    let req = Req::feature_check(Features {
        lazy_pages: Some(true),
        ..Features::default()
    });
    let resp = s.call(&req, &mut |_, _| Ok(()))?;
    // The answer is in; how CRIU exits after it does not matter.
    let _ = s.finish();
    Ok(lazy_pages_in(&resp))
}

/// Pure: the answer to a lazy-pages `FEATURE_CHECK`: the `features` field
/// when CRIU sent it, else whether the request succeeded.
pub fn lazy_pages_in(resp: &Resp) -> bool {
    resp.features
        .and_then(|f| f.lazy_pages)
        .unwrap_or(resp.success)
}

/// Finds CRIU and checks it is at least [`MIN_VERSION`].
pub fn require() -> Result<(PathBuf, Version)> {
    let criu = binary()?;
    let v = version(&criu)?;
    check_version(v)?;
    Ok((criu, v))
}

/// Pure: [`MIN_VERSION`] or newer.
pub fn check_version(v: Version) -> Result<()> {
    if v.number() < MIN_VERSION.number() {
        return Err(CriuError::TooOld { found: v });
    }
    Ok(())
}

/// Whether checkpoint/restore can work here: CRIU is installed, new
/// enough, and `criu check` passes on this kernel. (`criu check` rather than
/// the RPC CHECK request, which fails in places where the command passes.)
pub fn usable() -> bool {
    let Ok((criu, _)) = require() else {
        return false;
    };
    std::process::Command::new(criu)
        .arg("check")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_floor() {
        let v = |major, minor, sublevel| Version {
            major,
            minor,
            sublevel,
        };
        assert!(check_version(v(3, 0, 0)).is_ok());
        assert!(check_version(v(3, 17, 1)).is_ok());
        let e = check_version(v(2, 12, 1)).expect_err("too old");
        assert_eq!(
            e.to_string(),
            "CRIU 3.0.0 or newer is required, found 2.12.1"
        );
    }

    #[test]
    fn lazy_pages_answer() {
        let resp = |success, lazy_pages: Option<bool>| Resp {
            success,
            features: lazy_pages.map(|l| Features {
                mem_track: Some(false),
                lazy_pages: Some(l),
            }),
            ..Resp::default()
        };
        assert!(lazy_pages_in(&resp(true, Some(true))));
        // A kernel without non-cooperative userfaultfd.
        assert!(!lazy_pages_in(&resp(true, Some(false))));
        assert!(!lazy_pages_in(&resp(false, Some(false))));
        assert!(!lazy_pages_in(&resp(false, None)));
    }

    #[test]
    fn failure_message_names_the_log() {
        let e = CriuError::Failed {
            action: "restore",
            msg: Some("mount failed".into()),
            log: "/w/restore.log".into(),
            errors: vec![],
        };
        assert_eq!(
            e.to_string(),
            "criu restore failed (mount failed): see /w/restore.log"
        );
        let log = "(00.1) a\n(00.2) Error (criu/a.c:1): one\n(00.3) 1: Error (criu/b.c:2): two\n\
                   Error (c.c:3): three\n(00.4) Error (d.c:4): four\n";
        assert_eq!(
            log_errors(log),
            [
                "Error (criu/b.c:2): two",
                "Error (c.c:3): three",
                "Error (d.c:4): four"
            ]
        );
    }
}
