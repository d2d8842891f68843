//! Checkpoint images and the directories around them.
//!
//! An image is untrusted input: it may come from another machine or
//! another user (`podman container restore --import`, a migration). Before
//! CRIU reads it, restore checks its shape: only regular files (a symlink
//! or device there could make CRIU write its log through it, or read from
//! outside), a `parent` link (pre-dump chains) that stays beside the image,
//! `inventory.img` present; `descriptors.json` bounded in size and parsed
//! strictly. CRIU then validates the image contents itself.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{CriuError, Result};
use crate::rootpath::clean;

/// The file runc (and berth) saves the init's stdio targets in.
pub const DESCRIPTORS: &str = "descriptors.json";
/// Upper bound for `descriptors.json` (three short strings in practice).
pub const MAX_DESCRIPTORS_BYTES: u64 = 64 * 1024;
const MAX_DESCRIPTORS: usize = 64;
const MAX_DESCRIPTOR_LEN: usize = 4096;
/// Upper bound for the number of files in an image directory.
const MAX_ENTRIES: usize = 100_000;

fn image_err(path: &Path, msg: impl Into<String>) -> CriuError {
    CriuError::Image {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CriuError {
    let path = path.display().to_string();
    move |source| CriuError::Io { what, path, source }
}

/// An image or work directory: its absolute path and an open descriptor
/// (CRIU reaches it as `/proc/<berth>/fd/<n>`, so a later rename of the
/// path cannot redirect it).
#[derive(Debug)]
pub struct Dir {
    pub path: PathBuf,
    pub fd: OwnedFd,
}

/// Opens `path` as a directory; with `create`, makes it (mode 0700, and
/// missing parents) first, as checkpoint does.
pub fn open_dir(what: &'static str, path: &Path, create: bool) -> Result<Dir> {
    let path = std::path::absolute(path).map_err(io_err(what, path))?;
    if create {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&path)
            .map_err(io_err(what, &path))?;
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(&path)
        .map_err(io_err(what, &path))?;
    Ok(Dir {
        path,
        fd: OwnedFd::from(f),
    })
}

/// Checks an image directory before restore (see the module comment).
pub fn check_image(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(io_err("image directory", dir))?;
    let mut inventory = false;
    for (n, e) in entries.enumerate() {
        if n >= MAX_ENTRIES {
            return Err(image_err(dir, format!("more than {MAX_ENTRIES} files")));
        }
        let e = e.map_err(io_err("image directory", dir))?;
        let name = e.file_name();
        let path = e.path();
        let meta = std::fs::symlink_metadata(&path).map_err(io_err("image file", &path))?;
        if name == "parent" {
            check_parent_link(dir, &path, &meta)?;
            continue;
        }
        if !meta.file_type().is_file() {
            return Err(image_err(
                &path,
                "not a regular file (an image holds only regular files and the `parent` link)",
            ));
        }
        if meta.nlink() > 1 && is_log(&name) {
            return Err(image_err(&path, "a log file with other hard links"));
        }
        if name == "inventory.img" {
            inventory = true;
        }
    }
    if !inventory {
        return Err(image_err(dir, "inventory.img is missing: not a CRIU image"));
    }
    Ok(())
}

fn is_log(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.ends_with(".log"))
}

/// `parent` (written by CRIU for `--parent-path`): a relative symlink that
/// resolves to a directory beside the image (inside the image's parent
/// directory).
fn check_parent_link(dir: &Path, path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if !meta.file_type().is_symlink() {
        return Err(image_err(path, "`parent` is not a symlink"));
    }
    let target = std::fs::read_link(path).map_err(io_err("image file", path))?;
    if target.is_absolute() {
        return Err(image_err(path, "`parent` points to an absolute path"));
    }
    let base = dir.parent().unwrap_or(Path::new("/"));
    let base = base
        .canonicalize()
        .map_err(io_err("image directory", base))?;
    let resolved = path
        .canonicalize()
        .map_err(|e| image_err(path, format!("`parent` does not resolve: {e}")))?;
    if !resolved.starts_with(&base) || resolved == base || !resolved.is_dir() {
        return Err(image_err(
            path,
            format!(
                "`parent` resolves to {}, outside {}",
                resolved.display(),
                base.display()
            ),
        ));
    }
    Ok(())
}

/// Before restore writes `log` into the work directory: an existing entry
/// must be a regular file with no other hard link (CRIU truncates it).
pub fn check_log_target(work: &Path, log: &str) -> Result<()> {
    let path = work.join(log);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("log file", &path)(e)),
        Ok(m) if !m.file_type().is_file() => {
            Err(image_err(&path, "the log path is not a regular file"))
        }
        Ok(m) if m.nlink() > 1 => Err(image_err(&path, "the log file has other hard links")),
        Ok(_) => Ok(()),
    }
}

/// `parent_img` for CRIU. As with runc, a relative `--parent-path` is
/// relative to the image directory (CRIU resolves it there and writes it
/// as the image's `parent` link); an absolute one is turned into the
/// relative path from the image directory, so the `parent` link stays
/// relative (restore refuses absolute ones).
pub fn relative_parent(image: &Path, parent: &Path) -> Result<String> {
    let image = clean(image);
    let parent = if parent.is_absolute() {
        clean(parent)
    } else {
        clean(&image.join(parent))
    };
    let common = image
        .components()
        .zip(parent.components())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = image.components().count() - common;
    let mut rel = PathBuf::new();
    for _ in 0..ups {
        rel.push("..");
    }
    for c in parent.components().skip(common) {
        rel.push(c);
    }
    if rel.as_os_str().is_empty() {
        return Err(image_err(
            &parent,
            "--parent-path is the image directory itself",
        ));
    }
    rel.into_os_string()
        .into_string()
        .map_err(|_| image_err(&parent, "--parent-path is not UTF-8"))
}

/// Saves the targets of the init's stdio (`/proc/<pid>/fd/{0,1,2}`) in the
/// image, as runc does: restore hands pipes back through `inherit_fd`.
pub fn write_descriptors(image: &Path, pid: i32) -> Result<()> {
    let list: Vec<String> = (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/dev/null".into())
        })
        .collect();
    let bytes = serde_json::to_vec(&list).unwrap_or_default();
    let path = image.join(DESCRIPTORS);
    std::fs::write(&path, bytes).map_err(io_err("write", &path))
}

/// Reads `descriptors.json` (bounded, strictly a list of short strings).
pub fn read_descriptors(image: &Path) -> Result<Vec<String>> {
    let path = image.join(DESCRIPTORS);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(&path)
        .map_err(io_err("open", &path))?;
    let meta = f.metadata().map_err(io_err("stat", &path))?;
    if !meta.is_file() {
        return Err(image_err(&path, "not a regular file"));
    }
    if meta.len() > MAX_DESCRIPTORS_BYTES {
        return Err(image_err(
            &path,
            format!(
                "{} bytes, more than the {MAX_DESCRIPTORS_BYTES} allowed",
                meta.len()
            ),
        ));
    }
    let mut bytes = Vec::new();
    f.take(MAX_DESCRIPTORS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err("read", &path))?;
    parse_descriptors(&bytes).map_err(|msg| image_err(&path, msg))
}

/// Pure: the strict parse of `descriptors.json`.
pub fn parse_descriptors(bytes: &[u8]) -> std::result::Result<Vec<String>, String> {
    if bytes.len() as u64 > MAX_DESCRIPTORS_BYTES {
        return Err(format!("more than {MAX_DESCRIPTORS_BYTES} bytes"));
    }
    let list: Vec<String> =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON list of strings: {e}"))?;
    if list.len() > MAX_DESCRIPTORS {
        return Err(format!(
            "{} entries, more than {MAX_DESCRIPTORS}",
            list.len()
        ));
    }
    for (i, d) in list.iter().enumerate() {
        if d.len() > MAX_DESCRIPTOR_LEN || d.is_empty() || d.contains('\0') {
            return Err(format!("entry {i} is empty, too long or contains NUL"));
        }
    }
    Ok(list)
}

/// Pure: the `inherit_fd` entries for restore: each stdio descriptor that
/// was a pipe (`pipe:[<inode>]`) is given berth's descriptor of the same
/// number, so the restored process writes to the caller's pipes.
pub fn inherit_pipes(descriptors: &[String]) -> Vec<(String, i32)> {
    descriptors
        .iter()
        .take(3)
        .enumerate()
        .filter(|(_, d)| is_pipe_name(d))
        .map(|(i, d)| (d.clone(), i as i32))
        .collect()
}

fn is_pipe_name(d: &str) -> bool {
    d.strip_prefix("pipe:[")
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_parse_strictly() {
        let ok = parse_descriptors(br#"["/dev/null","pipe:[123]","pipe:[9]"]"#).expect("ok");
        assert_eq!(
            inherit_pipes(&ok),
            vec![("pipe:[123]".into(), 1), ("pipe:[9]".into(), 2)]
        );
        for bad in [
            &b"{}"[..],
            b"[1,2]",
            b"[\"a\"",
            b"[\"\"]",
            b"[\"a\\u0000b\"]",
            b"null",
        ] {
            assert!(
                parse_descriptors(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let many = serde_json::to_vec(&vec!["x"; 65]).expect("json");
        assert!(parse_descriptors(&many).is_err());
        let long = serde_json::to_vec(&vec!["x".repeat(5000)]).expect("json");
        assert!(parse_descriptors(&long).is_err());
    }

    #[test]
    fn only_well_formed_pipes_are_inherited() {
        let l: Vec<String> = [
            "pipe:[]",
            "pipe:[12a]",
            "socket:[4]",
            "pipe:[7]",
            "pipe:[8]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Only the first three are stdio; none of those is a valid pipe name.
        assert!(inherit_pipes(&l).is_empty());
    }

    #[test]
    fn parent_paths_are_relative_to_the_image() {
        let rp = |i: &str, p: &str| relative_parent(Path::new(i), Path::new(p));
        assert_eq!(rp("/c/dump", "/c/pre").expect("ok"), "../pre");
        // Relative: from the image directory, as runc passes it to CRIU.
        assert_eq!(rp("/c/dump", "../pre").expect("ok"), "../pre");
        assert_eq!(rp("/c/dump", "./sub/../../p").expect("ok"), "../p");
        assert_eq!(rp("/c/dump", "/c/dump/../pre1").expect("ok"), "../pre1");
        assert_eq!(rp("/a/b/c", "/x").expect("ok"), "../../../x");
        assert!(rp("/c/dump", "/c/dump").is_err());
    }
}
