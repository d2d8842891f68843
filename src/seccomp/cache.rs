//! A cache of compiled filters in the state root, so that a create or exec
//! with the same profile (Docker's default, every time) skips libseccomp:
//! compiling Docker's profile costs several milliseconds, reading the
//! cached program a few system calls.
//!
//! Entries live in `<root>/seccomp~cache/` (the `~` keeps the name out of
//! the container-ID space, so `list` skips it). The directory must be a
//! real directory owned by the effective user with mode 0700 and each entry
//! a regular file owned by that user and writable by nobody else; an entry
//! holds the full key (berth and libseccomp versions, kernel release, the
//! profile as JSON) and is used only when that key matches byte for byte.
//! Anything else (missing, foreign, torn, mismatched) is a miss: the filter
//! is compiled and the entry rewritten (temporary file, then rename). A
//! failure to cache never fails the caller.

use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use super::{Compiled, SeccompError};
use crate::sys::seccomp::Program;

/// The cache directory's name under the state root.
pub const DIR_NAME: &str = "seccomp~cache";
const MAGIC: &[u8; 8] = b"BRTHSCF1";
/// Entries larger than this are not read (Docker's program is ~10 KiB).
const MAX_ENTRY: u64 = 4 << 20;

/// [`super::compile`], through the cache under `root` when given.
pub fn compile(s: &LinuxSeccomp, root: Option<&Path>) -> Result<Compiled, SeccompError> {
    let Some(root) = root else {
        return super::compile(s);
    };
    let Some(key) = key(s) else {
        return super::compile(s);
    };
    let dir = root.join(DIR_NAME);
    let path = dir.join(file_name(&key));
    if let Some(hit) = read(&dir, &path, &key) {
        tracing::debug!("seccomp: cached program {}", path.display());
        return Ok(hit);
    }
    let compiled = super::compile(s)?;
    if let Err(e) = write(&dir, &path, &key, &compiled) {
        tracing::debug!("seccomp: not cached in {}: {e}", dir.display());
    }
    Ok(compiled)
}

/// What the compiled program depends on: berth, libseccomp, the kernel
/// release and the profile. `None` if the profile cannot be serialised.
fn key(s: &LinuxSeccomp) -> Option<Vec<u8>> {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut key = format!(
        "berth {} libseccomp {} kernel {release}\n",
        env!("CARGO_PKG_VERSION"),
        super::library_version()
    )
    .into_bytes();
    key.extend(serde_json::to_vec(s).ok()?);
    Some(key)
}

/// The entry's file name: two 64-bit hashes of the key, in hex. A
/// collision only costs a miss (the full key is compared).
pub fn file_name(key: &[u8]) -> String {
    let hash = |salt: u8| {
        let mut h = std::hash::DefaultHasher::new();
        salt.hash(&mut h);
        key.hash(&mut h);
        h.finish()
    };
    format!("{:016x}{:016x}", hash(0), hash(1))
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Whether `meta` is safe to trust: owned by us, not writable by others
/// (and, for the directory, not accessible by them at all).
fn trusted(meta: &fs::Metadata, dir: bool) -> bool {
    let mask = if dir { 0o077 } else { 0o022 };
    meta.uid() == euid()
        && meta.mode() & mask == 0
        && if dir {
            meta.file_type().is_dir()
        } else {
            meta.file_type().is_file()
        }
}

fn read(dir: &Path, path: &Path, key: &[u8]) -> Option<Compiled> {
    if !fs::symlink_metadata(dir).is_ok_and(|m| trusted(&m, true)) {
        return None;
    }
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let meta = f.metadata().ok()?;
    if !trusted(&meta, false) || meta.len() > MAX_ENTRY {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.read_to_end(&mut bytes).ok()?;
    decode(&bytes, key)
}

/// Entry layout: magic, key length (u64 LE), key, flags (u64 LE), notify
/// (one byte), then the program's native-endian `sock_filter`s.
pub fn encode(key: &[u8], c: &Compiled) -> Vec<u8> {
    let insns = c.program.insns();
    let mut out = Vec::with_capacity(8 + 8 + key.len() + 9 + insns.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u64).to_le_bytes());
    out.extend_from_slice(key);
    #[allow(clippy::useless_conversion)] // c_ulong is u64 only on 64-bit targets
    out.extend_from_slice(&u64::from(c.flags).to_le_bytes());
    out.push(u8::from(c.notify));
    for i in insns {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

/// The entry in `bytes` if it is well formed and for `key`.
pub fn decode(bytes: &[u8], key: &[u8]) -> Option<Compiled> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    if rest.len() < len || &rest[..len] != key {
        return None;
    }
    let rest = &rest[len..];
    let (flags, rest) = rest.split_first_chunk::<8>()?;
    let (notify, rest) = rest.split_first()?;
    let notify = match notify {
        0 => false,
        1 => true,
        _ => return None,
    };
    Some(Compiled {
        program: Program::from_bytes(rest)?,
        flags: libc::c_ulong::try_from(u64::from_le_bytes(*flags)).ok()?,
        notify,
    })
}

fn write(dir: &Path, path: &Path, key: &[u8], c: &Compiled) -> std::io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    if !fs::symlink_metadata(dir).is_ok_and(|m| trusted(&m, true)) {
        return Err(std::io::Error::other("not a private directory of ours"));
    }
    let tmp: PathBuf = dir.join(format!(".tmp.{}", std::process::id()));
    // A leftover of a crashed process that had our PID.
    let _ = fs::remove_file(&tmp);
    let mut f: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)?;
    let done = f
        .write_all(&encode(key, c))
        .and_then(|()| fs::rename(&tmp, path));
    if done.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled() -> Compiled {
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}"#,
        )
        .expect("valid seccomp");
        super::super::compile(&s).expect("compiles")
    }

    #[test]
    fn entry_round_trips_and_checks_its_key() {
        let c = compiled();
        let bytes = encode(b"key one", &c);
        let back = decode(&bytes, b"key one").expect("decodes");
        assert_eq!(back.program.insns().len(), c.program.insns().len());
        for (a, b) in back.program.insns().iter().zip(c.program.insns()) {
            assert_eq!((a.code, a.jt, a.jf, a.k), (b.code, b.jt, b.jf, b.k));
        }
        assert_eq!((back.flags, back.notify), (c.flags, c.notify));
        assert!(decode(&bytes, b"key two").is_none());
        assert!(decode(&bytes, b"key on").is_none());
        assert!(decode(&bytes[..bytes.len() - 3], b"key one").is_none());
        assert!(decode(&bytes[..20], b"key one").is_none());
        assert!(decode(b"", b"key one").is_none());
        let mut bad = bytes.clone();
        bad[0] ^= 1;
        assert!(decode(&bad, b"key one").is_none());
    }

    #[test]
    fn file_name_depends_on_the_key() {
        assert_eq!(file_name(b"a"), file_name(b"a"));
        assert_ne!(file_name(b"a"), file_name(b"b"));
        assert_eq!(file_name(b"a").len(), 32);
    }

    #[test]
    fn miss_then_hit_then_refuses_foreign_modes() {
        let root = std::env::temp_dir().join(format!("berth-sccache-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("root");
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
        )
        .expect("valid seccomp");
        let first = compile(&s, Some(&root)).expect("compiles");
        let dir = root.join(DIR_NAME);
        let key = key(&s).expect("key");
        let path = dir.join(file_name(&key));
        assert_eq!(
            fs::metadata(&dir).expect("dir").mode() & 0o777,
            0o700,
            "cache directory is private"
        );
        let hit = read(&dir, &path, &key).expect("entry written and readable");
        assert_eq!(hit.program.len(), first.program.len());
        // A group-writable entry is not trusted.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o620)).expect("chmod");
        assert!(read(&dir, &path, &key).is_none());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(read(&dir, &path, &key).is_some());
        // Nor is anything in a directory others can enter.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(read(&dir, &path, &key).is_none());
        fs::remove_dir_all(&root).expect("cleanup");
    }
}
