//! Rootless mode: whether berth runs without the host's root, and where
//! its state lives then (runc's rules, `main.go` and `rootless_linux.go`).

use std::path::{Path, PathBuf};

use super::{OpsError, Result};

/// `--rootless`: `auto` decides from the caller's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootlessFlag {
    Auto,
    True,
    False,
}

/// The default state root when berth is root in the initial user namespace.
pub const SYSTEM_ROOT: &str = "/run/berth";

/// What decides rootless mode and the state root: the caller's identity
/// and environment, gathered once (pure decisions below).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub euid: u32,
    /// berth runs in a user namespace other than the initial one.
    pub in_userns: bool,
    /// `$XDG_RUNTIME_DIR`, if set and not empty.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `$USER`, if set.
    pub user: Option<String>,
}

impl Caller {
    /// The calling process's identity and environment.
    pub fn current() -> Self {
        Self {
            euid: nix::unistd::geteuid().as_raw(),
            in_userns: std::fs::read_to_string("/proc/self/uid_map")
                .map(|m| !is_initial_map(&m))
                .unwrap_or(false),
            xdg_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            user: std::env::var("USER").ok(),
        }
    }

    /// Resolves `--rootless`: `auto` is rootless when the effective uid is
    /// not 0, or when uid 0 is root only of a user namespace (rootless
    /// podman runs conmon and the runtime that way).
    pub fn rootless(&self, flag: RootlessFlag) -> bool {
        match flag {
            RootlessFlag::True => true,
            RootlessFlag::False => false,
            RootlessFlag::Auto => self.euid != 0 || self.in_userns,
        }
    }

    /// Whether `$XDG_RUNTIME_DIR` holds the state root (runc's
    /// `shouldHonorXDGRuntimeDir`): always for a non-root caller; never for
    /// the real root (`/run/user/0` would hide containers from `/run`);
    /// for uid 0 in a user namespace unless `$USER` is `root`.
    fn honours_xdg(&self) -> bool {
        if self.xdg_runtime_dir.is_none() {
            return false;
        }
        if self.euid != 0 {
            return true;
        }
        self.in_userns && self.user.as_deref() != Some("root")
    }

    /// The state root: `--root` if given, else `$XDG_RUNTIME_DIR/berth`
    /// where runc would use `$XDG_RUNTIME_DIR/runc`, else `/run/berth`.
    /// A non-root caller without `$XDG_RUNTIME_DIR` must name a root:
    /// `/run/berth` is not theirs (runc fails there with EACCES).
    pub fn state_root(&self, explicit: Option<&Path>) -> Result<RootChoice> {
        if let Some(p) = explicit {
            return Ok(RootChoice {
                path: p.to_path_buf(),
                private: false,
            });
        }
        if self.honours_xdg() {
            let xdg = self.xdg_runtime_dir.as_deref().unwrap_or(Path::new("/"));
            return Ok(RootChoice {
                path: xdg.join("berth"),
                private: true,
            });
        }
        if self.euid != 0 {
            return Err(OpsError::Invalid(format!(
                "--root: not given, and XDG_RUNTIME_DIR is not set: a user (uid {}) cannot \
                 keep state in {SYSTEM_ROOT}; set XDG_RUNTIME_DIR or pass --root",
                self.euid
            )));
        }
        Ok(RootChoice {
            path: PathBuf::from(SYSTEM_ROOT),
            private: false,
        })
    }
}

/// The state root chosen, and whether berth must create it 0700 first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootChoice {
    pub path: PathBuf,
    /// `$XDG_RUNTIME_DIR/berth`: made 0700 if missing.
    pub private: bool,
}

impl RootChoice {
    /// Creates the private root (0700) if it is missing.
    pub fn prepare(&self) -> Result<()> {
        if !self.private {
            return Ok(());
        }
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new().mode(0o700).create(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(OpsError::Io {
                what: format!("state root {}", self.path.display()),
                source: e,
            }),
        }
    }
}

/// Whether a `uid_map` is the initial user namespace's identity map
/// (`0 0 4294967295`).
pub fn is_initial_map(uid_map: &str) -> bool {
    let lines: Vec<Vec<&str>> = uid_map
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| !f.is_empty())
        .collect();
    matches!(lines.as_slice(), [f] if f.as_slice() == ["0", "0", "4294967295"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(euid: u32, in_userns: bool, xdg: Option<&str>, user: Option<&str>) -> Caller {
        Caller {
            euid,
            in_userns,
            xdg_runtime_dir: xdg.map(PathBuf::from),
            user: user.map(str::to_string),
        }
    }

    #[test]
    fn initial_map_is_recognised() {
        assert!(is_initial_map("         0          0 4294967295\n"));
        assert!(!is_initial_map("         0       1000          1\n"));
        assert!(!is_initial_map("0 1000 1\n1 100000 65536\n"));
        assert!(!is_initial_map(""));
    }

    #[test]
    fn auto_follows_the_identity() {
        let flag = RootlessFlag::Auto;
        assert!(!caller(0, false, None, None).rootless(flag));
        assert!(caller(1000, false, None, None).rootless(flag));
        assert!(caller(0, true, None, None).rootless(flag));
        assert!(caller(0, false, None, None).rootless(RootlessFlag::True));
        assert!(!caller(1000, false, None, None).rootless(RootlessFlag::False));
    }

    #[test]
    fn state_root_rules() {
        let explicit = Path::new("/x");
        let c = caller(1000, false, Some("/run/user/1000"), None);
        assert_eq!(c.state_root(Some(explicit)).unwrap().path, explicit);
        let r = c.state_root(None).unwrap();
        assert_eq!(r.path, Path::new("/run/user/1000/berth"));
        assert!(r.private);
        // The real root ignores XDG_RUNTIME_DIR (runc: backward compatibility).
        let r = caller(0, false, Some("/run/user/0"), Some("root"))
            .state_root(None)
            .unwrap();
        assert_eq!(
            (r.path.as_path(), r.private),
            (Path::new(SYSTEM_ROOT), false)
        );
        // uid 0 in a user namespace (rootless podman) honours it...
        let r = caller(0, true, Some("/run/user/1000"), Some("alice"))
            .state_root(None)
            .unwrap();
        assert_eq!(r.path, Path::new("/run/user/1000/berth"));
        // ... unless USER is root.
        let r = caller(0, true, Some("/run/user/0"), Some("root"))
            .state_root(None)
            .unwrap();
        assert_eq!(r.path, Path::new(SYSTEM_ROOT));
        // A user without XDG_RUNTIME_DIR must name a root.
        let e = caller(1000, false, None, None)
            .state_root(None)
            .unwrap_err();
        assert!(e.to_string().contains("XDG_RUNTIME_DIR"), "{e}");
        assert!(e.to_string().contains("--root"), "{e}");
    }
}
