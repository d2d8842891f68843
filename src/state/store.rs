//! The state directory: creation, locking, atomic writes and removal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};

use std::path::{Path, PathBuf};

use super::{ContainerState, validate_id};

/// Name of the state record inside a container's directory.
pub const STATE_FILE: &str = "state.json";
/// Name of the saved configuration.
pub const CONFIG_FILE: &str = "config.json";
/// Name of the create → start gate.
pub const FIFO_FILE: &str = "exec.fifo";
/// Name of the lock file.
const LOCK_FILE: &str = "lock";

/// State-store failures. The first three messages are runc's, which callers
/// match.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container does not exist")]
    NotExist,
    #[error("container with given ID already exists")]
    Exists,
    #[error("invalid container ID {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: corrupt state file: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The state root (`--root`).
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the directory for a new container and locks it. Exactly one
    /// of two concurrent creates of the same ID succeeds; the other gets
    /// [`StateError::Exists`].
    pub fn create(&self, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(io_err(&self.root))?;
        let path = self.root.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(StateError::Exists),
            Err(e) => return Err(io_err(&path)(e)),
        }
        let lock = lock_file(&path)?.ok_or(StateError::NotExist)?;
        Ok(ContainerDir {
            path,
            _lock: Some(lock),
        })
    }

    /// Opens an existing container's directory with the exclusive lock held.
    pub fn open(&self, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        let path = self.root.join(id);
        match lock_file(&path)? {
            Some(lock) => Ok(ContainerDir {
                path,
                _lock: Some(lock),
            }),
            None => Err(StateError::NotExist),
        }
    }

    /// Opens a container's directory for reading, without a lock.
    pub fn open_unlocked(&self, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        let path = self.root.join(id);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => Ok(ContainerDir { path, _lock: None }),
            Ok(_) => Err(StateError::NotExist),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StateError::NotExist),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// IDs of every container directory under the root, sorted.
    pub fn list(&self) -> Result<Vec<String>, StateError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.root)(e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| validate_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Takes the exclusive lock of a container directory, waiting for it.
/// `None` when the directory does not exist (or was deleted while waiting).
///
/// The lock is a POSIX record lock (`F_SETLKW`), which belongs to this
/// process and is *not* inherited by the container's init across
/// `clone3` (an `flock` would be, and the waiting init would hold it).
fn lock_file(dir: &Path) -> Result<Option<File>, StateError> {
    let path = dir.join(LOCK_FILE);
    let file = match OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    loop {
        match nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETLKW(&lock)) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io_err(&path)(io::Error::from(e))),
        }
    }
    // A delete may have removed the directory while we waited.
    if file.metadata().map_err(io_err(&path))?.nlink() == 0 {
        return Ok(None);
    }
    Ok(Some(file))
}

/// One container's state directory. Holds the lock (if taken) until
/// dropped.
#[derive(Debug)]
pub struct ContainerDir {
    path: PathBuf,
    /// Held only for its lock; released when dropped.
    _lock: Option<File>,
}

impl ContainerDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Path of a file inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Reads `state.json`. A directory without one belongs to a create that
    /// has not recorded anything yet: the container does not exist.
    pub fn load(&self) -> Result<ContainerState, StateError> {
        let path = self.file(STATE_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StateError::NotExist),
            Err(e) => return Err(io_err(&path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Writes `state.json` atomically: temporary file, fsync, rename.
    pub fn save(&self, state: &ContainerState) -> Result<(), StateError> {
        self.save_with(state, true)
    }

    /// Writes `state.json` atomically, with an fsync only when `durable`.
    /// (The short-lived `creating` record of a create in progress needs no
    /// fsync: it is replaced within milliseconds, and a crash of the
    /// machine ends the create anyway.)
    pub fn save_with(&self, state: &ContainerState, durable: bool) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(state).map_err(|source| StateError::Corrupt {
            path: self.file(STATE_FILE),
            source,
        })?;
        self.write_atomic(STATE_FILE, &bytes, durable)
    }

    /// Writes a file of this directory atomically; `durable` adds an fsync
    /// before the rename.
    pub fn write_atomic(&self, name: &str, bytes: &[u8], durable: bool) -> Result<(), StateError> {
        let tmp = self.file(&format!(".{name}.tmp"));
        let dest = self.file(name);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        if durable {
            f.sync_data().map_err(io_err(&tmp))?;
        }
        drop(f);
        fs::rename(&tmp, &dest).map_err(io_err(&dest))
    }

    /// Whether the create → start gate is still in place.
    pub fn gate_exists(&self) -> bool {
        fs::symlink_metadata(self.file(FIFO_FILE)).is_ok()
    }

    /// Removes the directory and everything in it. The lock goes with it.
    pub fn remove(self) -> Result<(), StateError> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&self.path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Status;

    fn sample(id: &str) -> ContainerState {
        ContainerState {
            oci_version: "1.0.2".into(),
            id: id.into(),
            status: Status::Created,
            init: None,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2024-01-01T00:00:00.000000001Z".into(),
            annotations: Default::default(),
            cgroup: None,
            own_pid_ns: true,
            has_hooks: false,
        }
    }

    #[test]
    fn create_save_load_remove() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::new(tmp.path().join("root"));
        let dir = store.create("c1").expect("create");
        dir.save(&sample("c1")).expect("save");
        assert_eq!(dir.load().expect("load"), sample("c1"));
        assert!(matches!(store.create("c1"), Err(StateError::Exists)));
        drop(dir);
        assert_eq!(store.list().expect("list"), vec!["c1".to_string()]);
        let dir = store.open("c1").expect("open");
        dir.remove().expect("remove");
        assert!(matches!(store.open("c1"), Err(StateError::NotExist)));
        assert!(store.list().expect("list").is_empty());
    }

    #[test]
    fn directory_without_state_does_not_exist_yet() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::new(tmp.path());
        let _dir = store.create("c2").expect("create");
        let reader = store.open_unlocked("c2").expect("open");
        assert!(matches!(reader.load(), Err(StateError::NotExist)));
    }

    #[test]
    fn traversal_ids_never_touch_the_filesystem() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::new(tmp.path().join("root"));
        assert!(matches!(
            store.create("../escape"),
            Err(StateError::InvalidId { .. })
        ));
        assert!(matches!(
            store.open(".."),
            Err(StateError::InvalidId { .. })
        ));
        assert!(!tmp.path().join("escape").exists());
    }

    #[test]
    fn lock_is_exclusive_between_processes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store::new(tmp.path());
        let held = store.create("c3").expect("create");
        // POSIX record locks conflict only between processes: probe with
        // python's fcntl.lockf, which takes the same kind of lock.
        let locked = || {
            let path = tmp.path().join("c3").join(LOCK_FILE);
            !std::process::Command::new("python3")
                .args(["-c", "import fcntl,sys; f=open(sys.argv[1],'w'); fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB)"])
                .arg(&path)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("python3")
                .success()
        };
        assert!(locked());
        drop(held);
        assert!(!locked());
    }
}
