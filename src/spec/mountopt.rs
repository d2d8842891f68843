//! Translation of `mounts[].options` into what the new mount API needs.
//!
//! Options fall into five groups, as in runc:
//! - per-mount attributes applied to the new mount only (`ro`, `nosuid`...);
//! - recursive attributes applied to the whole tree (`rro`, `rnosuid`...),
//!   done with `mount_setattr(AT_RECURSIVE)`;
//! - propagation (`shared`, `rslave`...), applied after the mount is attached;
//! - berth/runc extensions (`bind`, `rbind`, `remount`, `tmpcopyup`, `idmap`,
//!   `ridmap`);
//! - everything else, passed to the filesystem as `key[=value]` data.
//!
//! This module is pure: it only parses.

use std::fmt;

/// `MOUNT_ATTR_*` bits to set and clear on a mount.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AttrChange {
    pub set: u64,
    pub clear: u64,
}

impl AttrChange {
    fn apply(&mut self, bit: u64, on: bool) {
        if on {
            self.set |= bit;
            self.clear &= !bit;
        } else {
            self.clear |= bit;
            self.set &= !bit;
        }
    }

    fn atime(&mut self, value: u64) {
        self.clear |= libc::MOUNT_ATTR__ATIME;
        self.set = (self.set & !libc::MOUNT_ATTR__ATIME) | value;
    }

    /// Whether nothing is to be changed.
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }
}

/// A propagation change (`MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE` or
/// `MS_UNBINDABLE`), for this mount only or for the whole tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Propagation {
    pub flag: u64,
    pub recursive: bool,
}

/// A filesystem-specific option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataOption {
    /// `key` alone, e.g. `newinstance`.
    Flag(String),
    /// `key=value`, e.g. `mode=755`.
    Value(String, String),
}

impl fmt::Display for DataOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(k) => f.write_str(k),
            Self::Value(k, v) => write!(f, "{k}={v}"),
        }
    }
}

/// Parsed mount options.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// `Some(false)` for `bind`, `Some(true)` for `rbind`.
    pub bind: Option<bool>,
    /// `remount`: change the attributes of the mount already at the destination.
    pub remount: bool,
    /// Attributes of the new mount itself.
    pub attr: AttrChange,
    /// Attributes applied to the new mount and everything below it.
    pub rec_attr: AttrChange,
    /// Propagation changes, in order.
    pub propagation: Vec<Propagation>,
    /// Filesystem options, in order.
    pub data: Vec<DataOption>,
    /// `tmpcopyup`: copy the destination's previous contents into a new tmpfs.
    pub tmpcopyup: bool,
    /// `Some(false)` for `idmap`, `Some(true)` for `ridmap`.
    pub idmap: Option<bool>,
}

/// Every option name berth recognises (besides filesystem data), as listed
/// by `berth features`.
pub const KNOWN: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// Parses a mount's option list.
impl MountOptions {
    /// `ro` (or `rro`) is asked for the mount itself.
    pub fn readonly(&self) -> bool {
        self.attr.set & libc::MOUNT_ATTR_RDONLY != 0
    }

    /// Makes the whole tree read-only, as `rro` would.
    pub fn make_recursively_readonly(&mut self) {
        self.rec_attr.apply(libc::MOUNT_ATTR_RDONLY, true);
    }
}

pub fn parse(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        if !apply_known(&mut o, opt) {
            o.data.push(match opt.split_once('=') {
                Some((k, v)) => DataOption::Value(k.to_string(), v.to_string()),
                None => DataOption::Flag(opt.clone()),
            });
        }
    }
    o
}

fn apply_known(o: &mut MountOptions, opt: &str) -> bool {
    use libc::{
        MOUNT_ATTR_NOATIME as NOATIME, MOUNT_ATTR_NODEV as NODEV,
        MOUNT_ATTR_NODIRATIME as NODIRATIME, MOUNT_ATTR_NOEXEC as NOEXEC,
        MOUNT_ATTR_NOSUID as NOSUID, MOUNT_ATTR_NOSYMFOLLOW as NOSYMFOLLOW,
        MOUNT_ATTR_RDONLY as RDONLY, MOUNT_ATTR_RELATIME as RELATIME,
        MOUNT_ATTR_STRICTATIME as STRICTATIME,
    };
    let (recursive, name) = match opt.strip_prefix('r') {
        // "ro", "rw", "rbind", "relatime", "remount" start with 'r' but are
        // not recursive variants.
        Some(rest)
            if !matches!(
                opt,
                "ro" | "rw"
                    | "rbind"
                    | "relatime"
                    | "remount"
                    | "rprivate"
                    | "rshared"
                    | "rslave"
                    | "runbindable"
                    | "ridmap"
            ) =>
        {
            (true, rest)
        }
        _ => (false, opt),
    };
    let target = if recursive {
        &mut o.rec_attr
    } else {
        &mut o.attr
    };
    match name {
        "ro" => target.apply(RDONLY, true),
        "rw" => target.apply(RDONLY, false),
        "nosuid" => target.apply(NOSUID, true),
        "suid" => target.apply(NOSUID, false),
        "nodev" => target.apply(NODEV, true),
        "dev" => target.apply(NODEV, false),
        "noexec" => target.apply(NOEXEC, true),
        "exec" => target.apply(NOEXEC, false),
        "nodiratime" => target.apply(NODIRATIME, true),
        "diratime" => target.apply(NODIRATIME, false),
        "nosymfollow" => target.apply(NOSYMFOLLOW, true),
        "symfollow" => target.apply(NOSYMFOLLOW, false),
        "noatime" => target.atime(NOATIME),
        "strictatime" => target.atime(STRICTATIME),
        "relatime" => target.atime(RELATIME),
        // Clearing an atime mode falls back to the kernel default, relatime.
        "atime" | "norelatime" | "nostrictatime" => target.atime(RELATIME),
        _ if recursive => return false,
        "defaults" => {}
        "bind" => o.bind = Some(o.bind.unwrap_or(false)),
        "rbind" => o.bind = Some(true),
        "remount" => o.remount = true,
        "tmpcopyup" => o.tmpcopyup = true,
        "idmap" => o.idmap = Some(o.idmap.unwrap_or(false)),
        "ridmap" => o.idmap = Some(true),
        "private" | "shared" | "slave" | "unbindable" | "rprivate" | "rshared" | "rslave"
        | "runbindable" => {
            let rec = name.starts_with('r');
            let flag = match name.trim_start_matches('r') {
                "private" => libc::MS_PRIVATE,
                "shared" => libc::MS_SHARED,
                "slave" => libc::MS_SLAVE,
                _ => libc::MS_UNBINDABLE,
            };
            o.propagation.push(Propagation {
                flag,
                recursive: rec,
            });
        }
        // Superblock flags that the generic VFS parser accepts by name.
        "sync" | "async" | "dirsync" | "lazytime" | "nolazytime" | "mand" | "nomand"
        | "iversion" | "noiversion" | "silent" | "loud" => {
            // The clearing forms are the defaults of a new superblock.
            // "silent" only quiets the kernel log at mount time, which the
            // new mount API does anyway (messages go to the fs context).
            if !matches!(
                name,
                "async" | "nolazytime" | "nomand" | "noiversion" | "loud" | "silent"
            ) {
                o.data.push(DataOption::Flag(name.to_string()));
            }
        }
        _ => return false,
    }
    true
}

/// Parses a propagation name used by `linux.rootfsPropagation`.
pub fn parse_propagation(name: &str) -> Option<Propagation> {
    let o = parse(&[name.to_string()]);
    match (o.propagation.as_slice(), o.data.is_empty()) {
        ([p], true) => Some(*p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn plain_flags_apply_to_the_mount_only() {
        let o = p(&["nosuid", "noexec", "nodev", "ro"]);
        assert_eq!(
            o.attr.set,
            libc::MOUNT_ATTR_NOSUID
                | libc::MOUNT_ATTR_NOEXEC
                | libc::MOUNT_ATTR_NODEV
                | libc::MOUNT_ATTR_RDONLY
        );
        assert!(o.rec_attr.is_empty());
        assert!(o.data.is_empty());
    }

    #[test]
    fn recursive_variants_go_to_rec_attr() {
        let o = p(&["rbind", "rro", "rnosuid", "rnoexec", "rnodev"]);
        assert_eq!(o.bind, Some(true));
        assert_eq!(
            o.rec_attr.set,
            libc::MOUNT_ATTR_RDONLY
                | libc::MOUNT_ATTR_NOSUID
                | libc::MOUNT_ATTR_NOEXEC
                | libc::MOUNT_ATTR_NODEV
        );
        assert!(o.attr.is_empty());
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = p(&["ro", "rw"]);
        assert_eq!(o.attr.set & libc::MOUNT_ATTR_RDONLY, 0);
        assert_ne!(o.attr.clear & libc::MOUNT_ATTR_RDONLY, 0);
    }

    #[test]
    fn atime_modes_replace_each_other() {
        let o = p(&["noatime", "strictatime"]);
        assert_eq!(
            o.attr.set & libc::MOUNT_ATTR__ATIME,
            libc::MOUNT_ATTR_STRICTATIME
        );
        assert_eq!(
            o.attr.clear & libc::MOUNT_ATTR__ATIME,
            libc::MOUNT_ATTR__ATIME
        );
        let r = p(&["ratime"]);
        assert_eq!(r.rec_attr.clear, libc::MOUNT_ATTR__ATIME);
    }

    #[test]
    fn propagation_keeps_order_and_recursion() {
        let o = p(&["rprivate", "shared"]);
        assert_eq!(
            o.propagation,
            vec![
                Propagation {
                    flag: libc::MS_PRIVATE,
                    recursive: true
                },
                Propagation {
                    flag: libc::MS_SHARED,
                    recursive: false
                }
            ]
        );
    }

    #[test]
    fn filesystem_data_is_kept_in_order() {
        let o = p(&["nosuid", "mode=755", "size=65536k", "newinstance"]);
        assert_eq!(
            o.data,
            vec![
                DataOption::Value("mode".into(), "755".into()),
                DataOption::Value("size".into(), "65536k".into()),
                DataOption::Flag("newinstance".into())
            ]
        );
    }

    #[test]
    fn extensions() {
        let o = p(&["bind", "tmpcopyup", "ridmap", "remount"]);
        assert_eq!(o.bind, Some(false));
        assert!(o.tmpcopyup && o.remount);
        assert_eq!(o.idmap, Some(true));
    }

    #[test]
    fn rootfs_propagation_names() {
        assert_eq!(
            parse_propagation("rslave"),
            Some(Propagation {
                flag: libc::MS_SLAVE,
                recursive: true
            })
        );
        assert_eq!(
            parse_propagation("private"),
            Some(Propagation {
                flag: libc::MS_PRIVATE,
                recursive: false
            })
        );
        assert_eq!(parse_propagation("bogus"), None);
    }

    #[test]
    fn every_known_option_is_recognised() {
        for name in KNOWN {
            let o = p(&[name]);
            let as_data = o
                .data
                .iter()
                .any(|d| matches!(d, DataOption::Flag(k) if k == name));
            let sb_flag = matches!(
                *name,
                "sync" | "dirsync" | "lazytime" | "mand" | "iversion" | "silent"
            );
            assert!(
                !as_data || sb_flag,
                "{name} fell through to filesystem data"
            );
        }
    }
}
