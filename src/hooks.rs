//! Running OCI hooks: the container state JSON on stdin, `args`, `env` and
//! `timeout` from the config, stdout and stderr captured for the error.
//!
//! The state is handed over in a sealed memory file rather than a pipe: a
//! hook that never reads its stdin can neither block berth (a state larger
//! than a pipe's buffer) nor make it die of SIGPIPE.

use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use oci_spec::runtime::Hook;

use crate::sys;

/// A hook that failed to run or reported failure.
#[derive(Debug, thiserror::Error)]
#[error("{kind} hook #{index} ({path}): {msg}")]
pub struct HookError {
    pub kind: &'static str,
    pub index: usize,
    pub path: String,
    pub msg: String,
}

/// Runs `hooks` of `kind` one after the other, stopping at the first failure.
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &[u8]) -> Result<(), HookError> {
    run_all_with_env(kind, hooks, state, &[])
}

/// Like [`run_all`]; a hook without `env` gets `default_env` (runc gives
/// startContainer hooks the container's environment this way).
pub fn run_all_with_env(
    kind: &'static str,
    hooks: &[Hook],
    state: &[u8],
    default_env: &[String],
) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run_one(hook, state, default_env).map_err(|msg| HookError {
            kind,
            index,
            path: hook.path().display().to_string(),
            msg,
        })?;
    }
    Ok(())
}

/// Runs `hooks` of `kind`, logging failures as warnings (poststart, poststop).
pub fn run_all_warn(kind: &'static str, hooks: &[Hook], state: &[u8]) {
    for (index, hook) in hooks.iter().enumerate() {
        if let Err(msg) = run_one(hook, state, &[]) {
            tracing::warn!(
                "{}",
                HookError {
                    kind,
                    index,
                    path: hook.path().display().to_string(),
                    msg
                }
            );
        }
    }
}

fn run_one(hook: &Hook, state: &[u8], default_env: &[String]) -> Result<(), String> {
    let mut cmd = Command::new(hook.path());
    let args = hook.args().as_deref().unwrap_or_default();
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    let env = match hook.env().as_deref() {
        Some(env) => env,
        None => default_env,
    };
    for kv in env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let out = nix::sys::memfd::memfd_create(c"hook-output", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| format!("memfd: {e}"))?;
    let out = std::fs::File::from(out);
    let err_out = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::from(state_file(state)?))
        .stdout(Stdio::from(out.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(err_out));
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let timeout = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let status = match timeout {
        None => child.wait().map_err(|e| e.to_string())?,
        Some(limit) => wait_with_timeout(&mut child, limit)?,
    };
    if status.success() {
        return Ok(());
    }
    let mut captured = String::new();
    let mut out = out;
    let _ = out.rewind();
    let _ = out.take(4096).read_to_string(&mut captured);
    let captured = captured.trim();
    let how = match status.code() {
        Some(c) => format!("exit status {c}"),
        None => format!(
            "killed by signal {}",
            std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
        ),
    };
    Err(if captured.is_empty() {
        how
    } else {
        format!("{how}, output: {captured}")
    })
}

/// A read-only, sealed memory file holding `state`, positioned at its start.
fn state_file(state: &[u8]) -> Result<std::fs::File, String> {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let fd = memfd_create(
        c"hook-state",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .map_err(|e| format!("memfd: {e}"))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(state)
        .and_then(|()| f.rewind())
        .map_err(|e| format!("writing the state: {e}"))?;
    let seals = SealFlag::F_SEAL_WRITE
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_SEAL;
    fcntl(&f, FcntlArg::F_ADD_SEALS(seals)).map_err(|e| format!("sealing the state: {e}"))?;
    Ok(f)
}

fn wait_with_timeout(
    child: &mut std::process::Child,
    limit: Duration,
) -> Result<std::process::ExitStatus, String> {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let pidfd = sys::process::pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {}s", limit.as_secs()));
            }
            Ok(_) => return child.wait().map_err(|e| e.to_string()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).expect("hook")
    }

    #[test]
    fn passes_state_args_and_env() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {0}; echo \"$0 $1 $X\" >> {0}","zero","one"],"env":["X=y"]}}"#,
            out.display()
        ));
        run_all("prestart", &[h], b"{\"id\":\"c\"}").expect("runs");
        let got = std::fs::read_to_string(&out).expect("output");
        assert_eq!(got, "{\"id\":\"c\"}zero one y\n");
    }

    #[test]
    fn failure_reports_status_and_output() {
        let h = hook(r#"{"path":"/bin/sh","args":["sh","-c","echo boom >&2; exit 3"]}"#);
        let e = run_all("createRuntime", &[h], b"{}")
            .expect_err("fails")
            .to_string();
        assert_eq!(
            e,
            "createRuntime hook #0 (/bin/sh): exit status 3, output: boom"
        );
    }

    #[test]
    fn default_env_applies_only_without_env() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("out");
        let script = format!("echo \"$A$B\" >> {}", out.display());
        let without: Hook = serde_json::from_value(
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script]}),
        )
        .expect("hook");
        let with: Hook = serde_json::from_value(
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script], "env": ["B=own"]}),
        )
        .expect("hook");
        run_all_with_env(
            "startContainer",
            &[without, with],
            b"{}",
            &["A=default".into()],
        )
        .expect("runs");
        assert_eq!(
            std::fs::read_to_string(&out).expect("out"),
            "default\nown\n"
        );
    }

    #[test]
    fn hook_that_ignores_stdin_is_fine() {
        let big = vec![b'x'; 1 << 20];
        let h = hook(r#"{"path":"/bin/true"}"#);
        run_all("poststart", &[h], &big).expect("no SIGPIPE");
        // One that neither reads nor exits is stopped by its timeout, not
        // by berth blocking on a full pipe.
        let h = hook(r#"{"path":"/bin/sleep","args":["sleep","30"],"timeout":1}"#);
        let e = run_all("poststart", &[h], &big).expect_err("times out");
        assert!(e.to_string().contains("timed out after 1s"), "{e}");
    }

    #[test]
    fn timeout_kills_the_hook() {
        let h = hook(r#"{"path":"/bin/sleep","args":["sleep","30"],"timeout":1}"#);
        let start = Instant::now();
        let e = run_all("poststop", &[h], b"{}")
            .expect_err("times out")
            .to_string();
        assert!(e.contains("timed out after 1s"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
