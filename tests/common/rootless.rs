//! The unprivileged test user of the rootless tests (`tests/rootless.rs`,
//! the rootless podman caller test): `berth-rootless`, with ranges in
//! /etc/subuid and /etc/subgid, created by root if missing, and commands
//! run as that user through `setpriv`.

use std::path::Path;
use std::process::Command;

pub const USER: &str = "berth-rootless";

/// The test user: uid, gid and its subordinate uid and gid ranges.
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub subuid: (u32, u32),
    pub subgid: (u32, u32),
}

fn sub_range(file: &str) -> Option<(u32, u32)> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == USER).then_some(())?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

/// The user's uid and gid from /etc/passwd. (Not `getpwnam`: the test
/// binaries are linked statically, and glibc's NSS crashes there.)
fn passwd_entry() -> Option<(u32, u32)> {
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == USER).then_some(())?;
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        })
}

/// Creates the user (and its ranges) if missing; root only.
pub fn user() -> User {
    super::require_root();
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if passwd_entry().is_none() {
        let out = Command::new("useradd")
            .args([
                "--no-create-home",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                USER,
            ])
            .output()
            .expect("useradd (package passwd)");
        assert!(out.status.success(), "useradd: {}", super::s(&out.stderr));
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        if sub_range(file).is_none() {
            let mut text = std::fs::read_to_string(file).unwrap_or_default();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("{USER}:1879048192:65536\n"));
            std::fs::write(file, text).unwrap();
        }
    }
    let (uid, gid) = passwd_entry().expect("the test user in /etc/passwd");
    User {
        uid,
        gid,
        subuid: sub_range("/etc/subuid").unwrap(),
        subgid: sub_range("/etc/subgid").unwrap(),
    }
}

impl User {
    /// `program` run as the user (`setpriv`, with the user's groups), with
    /// an environment of only `PATH` and `XDG_RUNTIME_DIR=xdg`.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>, xdg: &Path) -> Command {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(program)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("XDG_RUNTIME_DIR", xdg);
        c
    }
}

/// `chown -hR uid:gid p`.
pub fn chown_tree(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
    if p.is_dir() && !p.is_symlink() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}
