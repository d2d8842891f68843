//! Finding the program to run, the way Go's `exec.LookPath` (and so runc)
//! does, so `create` can fail with runc's message when it is missing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;

use super::stub::PreparedExec;
use crate::spec::ProcessConfig;
use crate::userdb;

/// What a process runs, resolved inside the container.
pub(super) struct Program {
    /// `process.env`, with `HOME` from the container's `/etc/passwd`.
    pub env: Vec<String>,
    /// The program behind the sealed stub (CVE-2019-5736).
    pub exec: PreparedExec,
}

/// Resolves `process`'s environment and program inside the container (as
/// root, before the user switch: a missing program fails `create` or
/// `exec` here) and prepares the stub that will exec it under `seccomp`.
/// The init and the `exec` child share it.
pub(super) fn prepare(
    process: &ProcessConfig,
    seccomp: Option<&LinuxSeccomp>,
) -> Result<Program, String> {
    let env = userdb::prepare_env(&process.env, userdb::read_passwd, process.user.uid)?;
    let program = look_path(&process.args[0], userdb::path_of(&env))?;
    let exec = PreparedExec::new(&program, &process.args, &env, seccomp)
        .map_err(|e| format!("prepare the exec: {e}"))?;
    Ok(Program { env, exec })
}

/// Resolves `name` against `path` (the container's `PATH`). Must run after
/// `pivot_root`, so every lookup stays inside the container.
pub fn look_path(name: &str, path: Option<&str>) -> Result<String, String> {
    if name.contains('/') {
        return check(Path::new(name))
            .map(|()| name.to_string())
            .map_err(|e| format!("exec: {name:?}: {e}"));
    }
    for dir in path.unwrap_or_default().split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{dir}/{name}");
        if check(Path::new(&candidate)).is_ok() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "exec: {name:?}: executable file not found in $PATH"
    ))
}

fn check(p: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(p).map_err(|e| format!("stat {}: {}", p.display(), os_msg(&e)))?;
    if meta.is_dir() {
        return Err(format!("stat {}: is a directory", p.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("stat {}: permission denied", p.display()));
    }
    Ok(())
}

/// The bare OS message (`no such file or directory`), as Go prints it.
fn os_msg(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path() {
        assert_eq!(
            look_path("sh", Some("/nonexistent:/bin")).as_deref(),
            Ok("/bin/sh")
        );
        assert_eq!(look_path("/bin/sh", None).as_deref(), Ok("/bin/sh"));
    }

    #[test]
    fn missing_programs_have_runcs_message() {
        assert_eq!(
            look_path("nope", Some("/bin:/usr/bin")),
            Err("exec: \"nope\": executable file not found in $PATH".to_string())
        );
        assert_eq!(
            look_path("/nope", None),
            Err("exec: \"/nope\": stat /nope: no such file or directory".to_string())
        );
        assert!(
            look_path("/", None)
                .expect_err("dir")
                .contains("is a directory")
        );
        assert!(look_path("nope", None).is_err());
    }
}
