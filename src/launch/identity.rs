//! The container process's identity and limits: rlimits, working
//! directory, user and groups, and capabilities. Shared by the container's
//! init and by `exec`.

use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::resource::setrlimit;
use nix::unistd::{Gid, Uid};

use crate::capabilities;
use crate::spec::ProcessConfig;
use crate::sys;

/// Identity failures.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("setrlimit {name}: {source}")]
    Rlimit { name: &'static str, source: Errno },
    #[error("chdir to cwd ({cwd:?}) set in config.json failed: {source}")]
    Cwd { cwd: String, source: Errno },
    #[error("process.cwd: create {cwd:?}: {source}")]
    CreateCwd { cwd: String, source: Errno },
    #[error(
        "current working directory is outside of the container's root (possibly a leaked descriptor)"
    )]
    CwdOutside,
    #[error("unable to setup user: {what}: {source}")]
    User { what: String, source: Errno },
    #[error(transparent)]
    Caps(#[from] capabilities::CapsError),
    #[error("{what}: {source}")]
    Sys { what: &'static str, source: Errno },
}

/// Sets the resource limits.
pub fn apply_rlimits(p: &ProcessConfig) -> Result<(), IdentityError> {
    for r in &p.rlimits {
        let res = rlimit_resource(r.resource).ok_or(IdentityError::Rlimit {
            name: r.name,
            source: Errno::EINVAL,
        })?;
        setrlimit(res, r.soft, r.hard).map_err(|source| IdentityError::Rlimit {
            name: r.name,
            source,
        })?;
    }
    Ok(())
}

fn rlimit_resource(n: libc::c_int) -> Option<nix::sys::resource::Resource> {
    use nix::sys::resource::Resource as R;
    Some(match n as u32 {
        x if x == libc::RLIMIT_CPU => R::RLIMIT_CPU,
        x if x == libc::RLIMIT_FSIZE => R::RLIMIT_FSIZE,
        x if x == libc::RLIMIT_DATA => R::RLIMIT_DATA,
        x if x == libc::RLIMIT_STACK => R::RLIMIT_STACK,
        x if x == libc::RLIMIT_CORE => R::RLIMIT_CORE,
        x if x == libc::RLIMIT_RSS => R::RLIMIT_RSS,
        x if x == libc::RLIMIT_NPROC => R::RLIMIT_NPROC,
        x if x == libc::RLIMIT_NOFILE => R::RLIMIT_NOFILE,
        x if x == libc::RLIMIT_MEMLOCK => R::RLIMIT_MEMLOCK,
        x if x == libc::RLIMIT_AS => R::RLIMIT_AS,
        x if x == libc::RLIMIT_LOCKS => R::RLIMIT_LOCKS,
        x if x == libc::RLIMIT_SIGPENDING => R::RLIMIT_SIGPENDING,
        x if x == libc::RLIMIT_MSGQUEUE => R::RLIMIT_MSGQUEUE,
        x if x == libc::RLIMIT_NICE => R::RLIMIT_NICE,
        x if x == libc::RLIMIT_RTPRIO => R::RLIMIT_RTPRIO,
        x if x == libc::RLIMIT_RTTIME => R::RLIMIT_RTTIME,
        _ => return None,
    })
}

/// Gives stdio to the container user so it can use its terminal, except
/// `/dev/null` and descriptors it cannot change (runc's behaviour).
fn fix_stdio_owner(uid: u32) -> Result<(), IdentityError> {
    for fd in 0..=2 {
        let f = sys::fd::stdio(fd);
        let Ok(st) = nix::sys::stat::fstat(f) else {
            continue;
        };
        let is_null =
            st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3);
        if st.st_uid == uid || is_null {
            continue;
        }
        match nix::unistd::fchown(f.as_fd(), Some(Uid::from_raw(uid)), None) {
            Ok(()) | Err(Errno::EPERM | Errno::EROFS | Errno::EINVAL | Errno::EBADF) => {}
            Err(source) => {
                return Err(IdentityError::User {
                    what: format!("chown stdio fd {}", f.as_raw_fd()),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Creates a missing working directory (mode 0755, owned by the
/// container's root), as runc and crun do: `docker run -w /new/dir` relies
/// on it. Called as the container's root before the user switch, and in
/// the init before the root is made read-only. The path is resolved inside
/// the container's root, so an image's symlink cannot lead out of it.
pub fn create_cwd(cwd: &str) -> Result<(), IdentityError> {
    let fail = |source| IdentityError::CreateCwd {
        cwd: cwd.to_string(),
        source,
    };
    match nix::sys::stat::stat(cwd) {
        Err(Errno::ENOENT) => {}
        _ => return Ok(()),
    }
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(fail)?;
    crate::rootpath::mkdir_all(root.as_fd(), std::path::Path::new(cwd), 0o755)
        .map(drop)
        .map_err(|e| fail(e.source))
}

/// Switches to the configured user and capability sets and enters the
/// working directory. `setgroups_allowed` is false in a user namespace whose
/// `setgroups` is denied.
pub fn apply_identity(p: &ProcessConfig, setgroups_allowed: bool) -> Result<(), IdentityError> {
    // First try the working directory with the runtime's rights; a
    // directory only the container user can enter is retried afterwards.
    let cwd_later = match nix::unistd::chdir(p.cwd.as_str()) {
        Ok(()) => false,
        Err(Errno::EACCES | Errno::EPERM) => true,
        Err(source) => {
            return Err(IdentityError::Cwd {
                cwd: p.cwd.clone(),
                source,
            });
        }
    };
    capabilities::apply_bounding(&p.caps.bounding)?;
    nix::sys::prctl::set_keepcaps(true).map_err(|source| IdentityError::Sys {
        what: "prctl(PR_SET_KEEPCAPS)",
        source,
    })?;
    fix_stdio_owner(p.user.uid)?;
    if setgroups_allowed {
        let groups: Vec<Gid> = p
            .user
            .additional_gids
            .iter()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).map_err(|source| IdentityError::User {
            what: "setgroups".into(),
            source,
        })?;
    }
    let gid = Gid::from_raw(p.user.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|source| IdentityError::User {
        what: format!(
            "setgid {}{}",
            p.user.gid,
            if source == Errno::EINVAL {
                " (not mapped in the user namespace)"
            } else {
                ""
            }
        ),
        source,
    })?;
    let uid = Uid::from_raw(p.user.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|source| IdentityError::User {
        what: format!(
            "setuid {}{}",
            p.user.uid,
            if source == Errno::EINVAL {
                " (not mapped in the user namespace)"
            } else {
                ""
            }
        ),
        source,
    })?;
    if cwd_later {
        nix::unistd::chdir(p.cwd.as_str()).map_err(|source| IdentityError::Cwd {
            cwd: p.cwd.clone(),
            source,
        })?;
    }
    verify_cwd()?;
    nix::sys::prctl::set_keepcaps(false).map_err(|source| IdentityError::Sys {
        what: "prctl(PR_SET_KEEPCAPS)",
        source,
    })?;
    capabilities::apply_sets(&p.caps)?;
    Ok(())
}

/// The working directory must be reachable from the container's root; a
/// directory outside it (for example through a leaked descriptor) shows as
/// "(unreachable)" (CVE-2024-21626).
pub fn verify_cwd() -> Result<(), IdentityError> {
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        Ok(_) | Err(Errno::ENOENT) => Err(IdentityError::CwdOutside),
        // A seccomp profile may deny getcwd(2) (runtime-tools' does):
        // climb `..` instead, which stops at our root only if the working
        // directory is below it.
        Err(Errno::EPERM | Errno::ENOSYS) => cwd_below_root(),
        Err(source) => Err(IdentityError::Sys {
            what: "getcwd",
            source,
        }),
    }
}

fn cwd_below_root() -> Result<(), IdentityError> {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::{Mode, fstat, stat};
    let sys = |what| move |source| IdentityError::Sys { what, source };
    let id = |st: nix::sys::stat::FileStat| (st.st_dev, st.st_ino);
    let root = id(stat("/").map_err(sys("stat /"))?);
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut cur = nix::fcntl::open(".", flags, Mode::empty()).map_err(sys("open ."))?;
    for _ in 0..4096 {
        let here = id(fstat(&cur).map_err(sys("stat cwd"))?);
        if here == root {
            return Ok(());
        }
        let up = openat(&cur, "..", flags, Mode::empty()).map_err(sys("open .."))?;
        if id(fstat(&up).map_err(sys("stat .."))?) == here {
            break; // a root that is not ours
        }
        cur = up;
    }
    Err(IdentityError::CwdOutside)
}

/// In a user namespace the process still has the host's root ids, which
/// the namespace does not map (files it creates would fail with
/// EOVERFLOW): switch to the namespace's root, which keeps every
/// capability. A namespace that does not map root keeps the ids as they are.
pub fn become_userns_root() -> Result<(), IdentityError> {
    let root = Gid::from_raw(0);
    match nix::unistd::setresgid(root, root, root) {
        Ok(()) | Err(Errno::EINVAL) => {}
        Err(source) => {
            return Err(IdentityError::User {
                what: "setresgid(0) in the user namespace".into(),
                source,
            });
        }
    }
    let root = Uid::from_raw(0);
    match nix::unistd::setresuid(root, root, root) {
        Ok(()) | Err(Errno::EINVAL) => Ok(()),
        Err(source) => Err(IdentityError::User {
            what: "setresuid(0) in the user namespace".into(),
            source,
        }),
    }
}

/// Whether `setgroups(2)` is allowed: not in a user namespace whose
/// `setgroups` file says `deny`. Read through the host's procfs: a fake
/// one in the container saying `deny` would make berth skip `setgroups`,
/// and the process would keep berth's own (host) supplementary groups.
pub fn setgroups_allowed(in_userns: bool, proc: &super::procfs::HostProc) -> bool {
    use std::io::Read;
    let mut s = String::new();
    !in_userns
        || proc
            .open_file("thread-self/setgroups", nix::fcntl::OFlag::O_RDONLY)
            .map_or(true, |f| {
                f.take(64).read_to_string(&mut s).is_err() || s.trim() != "deny"
            })
}
