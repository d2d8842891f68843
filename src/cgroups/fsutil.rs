//! Small file helpers shared by the cgroup managers.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{CgroupError, Result};

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Whether `path` is the root of a cgroup2 mount.
pub fn is_cgroup2(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 == CGROUP2_SUPER_MAGIC)
}

/// Writes `value` to `dir/file` in a single write, as cgroupfs requires.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_raw(&path, value).map_err(CgroupError::io(&path))
}

/// Like [`write`], returning the bare I/O error for the caller to judge.
pub fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// Reads `dir/file`, trimmed.
pub fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    crate::proc::read_small(&path)
        .map(|s| s.trim().to_string())
        .map_err(CgroupError::io(&path))
}

/// Refuses a container cgroup that is frozen before the container exists
/// (by itself or by an ancestor), as runc does: its init would freeze at
/// once, and berth, waiting for it, forever. `freezer` is whether `dir` is
/// in a v1 freezer hierarchy; otherwise `dir` is a cgroup2 directory.
pub fn refuse_frozen(dir: &Path, freezer: bool) -> Result<()> {
    let frozen = if freezer {
        read(dir, "freezer.state")? != "THAWED"
    } else {
        // cgroup.freeze is this level's own setting; cgroup.events says
        // whether an ancestor's freeze applies too.
        read(dir, "cgroup.freeze").is_ok_and(|v| v == "1")
            || read(dir, "cgroup.events").is_ok_and(|e| e.lines().any(|l| l == "frozen 1"))
    };
    if frozen {
        return Err(CgroupError::Freeze {
            path: dir.to_path_buf(),
            msg: "container's cgroup unexpectedly frozen (thaw it, or use another cgroupsPath)"
                .into(),
        });
    }
    Ok(())
}

/// Creates `dir` and any missing parents below `root`; returns how many
/// trailing components were created.
pub fn create_dirs(root: &Path, dir: &Path) -> Result<usize> {
    // A parent may vanish between the look and the mkdir (another
    // container's delete removing a shared, momentarily empty level):
    // start over a few times.
    let mut attempt = 0;
    loop {
        match try_create_dirs(root, dir) {
            Err(CgroupError::Io { err, .. })
                if err.kind() == io::ErrorKind::NotFound && attempt < 5 =>
            {
                attempt += 1
            }
            other => return other,
        }
    }
}

/// One `mkdir` where the parent exists (the usual case: a container
/// under a shared parent); only on ENOENT are the missing parents made,
/// top-down. No `stat` of each level first.
fn try_create_dirs(root: &Path, dir: &Path) -> Result<usize> {
    if dir == root {
        return Ok(0);
    }
    match fs::create_dir(dir) {
        Ok(()) => return Ok(1),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(0),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(CgroupError::io(dir)(e)),
    }
    let Some(parent) = dir.parent() else {
        return Err(CgroupError::io(dir)(io::ErrorKind::NotFound.into()));
    };
    let above = try_create_dirs(root, parent)?;
    match fs::create_dir(dir) {
        Ok(()) => Ok(above + 1),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(above),
        // NotFound (a parent removed meanwhile) is retried by the caller.
        Err(e) => Err(CgroupError::io(dir)(e)),
    }
}

/// PIDs listed in `dir/cgroup.procs`; a missing directory has none.
pub fn procs(dir: &Path) -> Result<Vec<nix::unistd::Pid>> {
    let path = dir.join("cgroup.procs");
    match fs::read_to_string(&path) {
        Ok(s) => Ok(s
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .map(nix::unistd::Pid::from_raw)
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(CgroupError::io(&path)(e)),
    }
}

/// PIDs of `dir` and of every cgroup below it.
pub fn procs_recursive(dir: &Path) -> Result<Vec<nix::unistd::Pid>> {
    let mut out = procs(dir)?;
    for sub in subdirs(dir)? {
        out.extend(procs_recursive(&sub)?);
    }
    Ok(out)
}

/// The child cgroups of `dir` (none if it does not exist).
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(CgroupError::io(dir)(e)),
    }
}

/// Removes one cgroup directory after its children, retrying on EBUSY
/// while the last tasks finish exiting (up to about 2 s). The `rmdir`
/// comes first: the directory is listed for child cgroups only when it
/// is refused (a cgroup with children is EBUSY, a plain directory
/// ENOTEMPTY), so the usual leaf costs one system call, not six.
fn remove_tree(dir: &Path) -> Result<()> {
    let mut listed = false;
    let mut delay = std::time::Duration::from_millis(1);
    let mut waited = std::time::Duration::ZERO;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    || e.raw_os_error() == Some(libc::ENOTEMPTY) =>
            {
                if !listed {
                    listed = true;
                    let subs = subdirs(dir)?;
                    if !subs.is_empty() {
                        for sub in subs {
                            remove_tree(&sub)?;
                        }
                        continue;
                    }
                }
                if e.raw_os_error() == Some(libc::ENOTEMPTY) {
                    return Err(CgroupError::io(dir)(e));
                }
                if waited > std::time::Duration::from_secs(2) {
                    return Err(CgroupError::Busy {
                        path: dir.to_path_buf(),
                    });
                }
                std::thread::sleep(delay);
                waited += delay;
                delay = (delay * 2).min(std::time::Duration::from_millis(100));
            }
            Err(e) => return Err(CgroupError::io(dir)(e)),
        }
    }
}

/// Removes `dir` (and any cgroups a container made below it), then up to
/// `levels - 1` of its parents, stopping at the first that is not empty
/// (another container's). A missing directory is fine.
pub fn remove_dirs(dir: &Path, levels: usize) -> Result<()> {
    remove_tree(dir)?;
    let mut cur = dir.to_path_buf();
    for _ in 1..levels {
        if !cur.pop() {
            break;
        }
        match fs::remove_dir(&cur) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // In use by another container (ENOTEMPTY/EBUSY): it stays.
            Err(_) => break,
        }
    }
    Ok(())
}

/// Whether a cgroup directory still has processes (v1 and v2).
pub fn populated(dir: &Path) -> Result<bool> {
    Ok(!procs_recursive(dir)?.is_empty())
}

/// The caller's own cgroup path in the hierarchy named `controller` (v1),
/// or in the unified hierarchy when `controller` is empty.
pub fn own_cgroup(controller: &str) -> Option<String> {
    let content = crate::proc::read_small("/proc/self/cgroup").ok()?;
    own_cgroup_in(&content, controller)
}

/// Parses `/proc/self/cgroup` content (pure, for tests).
pub fn own_cgroup_in(content: &str, controller: &str) -> Option<String> {
    content.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if controller.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        hit.then(|| path.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_self_cgroup() {
        let c = "9:name=systemd:/\n4:memory:/process_api/x\n2:cpu,cpuacct:/a\n0::/u\n";
        assert_eq!(
            own_cgroup_in(c, "memory").as_deref(),
            Some("/process_api/x")
        );
        assert_eq!(own_cgroup_in(c, "cpuacct").as_deref(), Some("/a"));
        assert_eq!(own_cgroup_in(c, "name=systemd").as_deref(), Some("/"));
        assert_eq!(own_cgroup_in(c, "").as_deref(), Some("/u"));
        assert_eq!(own_cgroup_in(c, "pids"), None);
    }

    #[test]
    fn creates_and_removes_only_new_levels() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        std::fs::create_dir(root.join("existing")).expect("mkdir");
        let leaf = root.join("existing/a/b");
        assert_eq!(create_dirs(root, &leaf).expect("create"), 2);
        remove_dirs(&leaf, 2).expect("remove");
        assert!(!root.join("existing/a").exists());
        assert!(root.join("existing").exists());
    }
}
