//! Reading the container's `/etc/passwd` for a user's home directory.

/// The home directory of `uid` in passwd-format `content`.
pub fn home_of(content: &str, uid: u32) -> Option<String> {
    content.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
    })
}

/// Applies runc's environment rules: later duplicates win, every entry
/// needs `NAME=`, and `HOME` comes from `/etc/passwd` (or `/`) when unset.
pub fn prepare_env(
    env: &[String],
    passwd: impl FnOnce() -> Option<String>,
    uid: u32,
) -> Result<Vec<String>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<String> = Vec::with_capacity(env.len() + 1);
    let mut home_set = false;
    for kv in env.iter().rev() {
        let Some(i) = kv.find('=') else {
            return Err(format!("invalid environment variable {kv:?}: missing '='"));
        };
        if i == 0 {
            return Err("invalid environment variable: name cannot be empty".into());
        }
        let key = &kv[..i];
        if !seen.insert(key.to_string()) {
            continue;
        }
        if key == "HOME" {
            if kv.len() == i + 1 {
                continue;
            }
            home_set = true;
        }
        out.push(kv.clone());
    }
    out.reverse();
    if !home_set {
        let home = passwd()
            .and_then(|p| home_of(&p, uid))
            .unwrap_or_else(|| "/".into());
        out.push(format!("HOME={home}"));
    }
    Ok(out)
}

/// The value of `PATH` in an environment list.
pub fn path_of(env: &[String]) -> Option<&str> {
    env.iter().rev().find_map(|kv| kv.strip_prefix("PATH="))
}

/// The most of `/etc/passwd` berth reads.
pub const PASSWD_LIMIT: u64 = 16 << 20;

/// Reads the container's `/etc/passwd` for [`prepare_env`]: only a regular
/// file of at most [`PASSWD_LIMIT`] bytes. The image decides what the path
/// is: a symlink to `/dev/zero` would never end, and a FIFO would block
/// the open, so anything else counts as no file.
pub fn read_passwd() -> Option<String> {
    read_regular(std::path::Path::new("/etc/passwd"), PASSWD_LIMIT)
}

fn read_regular(path: &std::path::Path, limit: u64) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() || meta.len() > limit {
        return None;
    }
    let mut s = String::new();
    f.take(limit).read_to_string(&mut s).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

    #[test]
    fn finds_home() {
        assert_eq!(home_of(PASSWD, 0).as_deref(), Some("/root"));
        assert_eq!(home_of(PASSWD, 65534).as_deref(), Some("/nonexistent"));
        assert_eq!(home_of(PASSWD, 7), None);
    }

    #[test]
    fn env_rules() {
        let env = vec!["A=1".to_string(), "PATH=/bin".into(), "A=2".into()];
        let out = prepare_env(&env, || Some(PASSWD.into()), 0).expect("ok");
        assert_eq!(out, vec!["PATH=/bin", "A=2", "HOME=/root"]);
        let out = prepare_env(&["HOME=/h".into()], || None, 0).expect("ok");
        assert_eq!(out, vec!["HOME=/h"]);
        let out = prepare_env(&[], || None, 5).expect("ok");
        assert_eq!(out, vec!["HOME=/"]);
        assert!(prepare_env(&["NOEQ".into()], || None, 0).is_err());
        assert!(prepare_env(&["=x".into()], || None, 0).is_err());
        assert_eq!(path_of(&out), None);
        assert_eq!(path_of(&env), Some("/bin"));
    }

    #[test]
    fn only_regular_bounded_files_are_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("passwd");
        std::fs::write(&file, "root:x:0:0::/root:/bin/sh\n").expect("write");
        assert!(read_regular(&file, 1024).is_some_and(|s| s.starts_with("root:")));
        assert_eq!(read_regular(&file, 4), None, "over the limit");
        // Endless or blocking files count as no file.
        assert_eq!(read_regular(std::path::Path::new("/dev/zero"), 1024), None);
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("fifo");
        assert_eq!(read_regular(&fifo, 1024), None);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        assert_eq!(read_regular(&link, 1024), None);
    }
}
