//! Idmapped bind mounts. `MOUNT_ATTR_IDMAP` needs `CAP_SYS_ADMIN` over the
//! source filesystem's user namespace, which the init lacks once it runs in
//! the container's user namespace; so the parent, still on the host,
//! clones each source tree, idmaps it and sets its attributes before
//! `clone3`. The init inherits the detached mounts and attaches them.
//! In a user namespace every other bind source is opened here as well: the
//! init, root only in its namespace, may not reach it any more.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::LaunchError;
use crate::spec::{Config, IdMap, IdmapSource, MountEntry, MountKind};
use crate::sys::mount::{self as m, Attr};

fn mount_err(e: &MountEntry, step: &str) -> impl FnOnce(nix::errno::Errno) -> LaunchError {
    let what = format!("mounts[{}] on {}: {step}", e.index, e.destination);
    move |source| LaunchError::Sys { what, source }
}

/// Prepares every idmapped mount of `config`, and every bind mount of a
/// container in a user namespace: (mount index, detached mount).
pub fn prepare(config: &Config) -> Result<Vec<(usize, OwnedFd)>, LaunchError> {
    let mut userns: HashMap<(Vec<IdMap>, Vec<IdMap>), OwnedFd> = HashMap::new();
    let mut out = Vec::new();
    for e in &config.mounts {
        let MountKind::Bind { source, recursive } = &e.kind else {
            continue;
        };
        let Some(idmap) = &e.idmap else {
            // In a user namespace the init may no longer reach the source
            // (a root-owned 0700 directory on the way): open it here, on
            // the host side, as runc does.
            if config.in_userns() && !e.options.remount {
                let tree = match m::clone_tree_at(&source.to_string_lossy(), *recursive) {
                    Ok(t) => t,
                    // Rootless (EPERM): cloning a mount tree needs CAP_SYS_ADMIN
                    // over the host's mount namespace. The init, in its
                    // own user namespace, binds the source itself (it
                    // sees what the user sees).
                    Err(nix::errno::Errno::EPERM) => {
                        continue;
                    }
                    Err(err) => {
                        return Err(mount_err(
                            e,
                            &format!("open bind source {}", source.display()),
                        )(err));
                    }
                };
                set_attrs(e, tree.as_fd())?;
                out.push((e.index, tree));
            }
            continue;
        };
        let ns = match &idmap.source {
            IdmapSource::Maps { uid, gid } => {
                let key = (uid.clone(), gid.clone());
                if !userns.contains_key(&key) {
                    let fd = crate::sys::userns::with_maps(
                        &IdMap::to_proc_format(uid),
                        &IdMap::to_proc_format(gid),
                    )
                    .map_err(mount_err(e, "create the user namespace of the mapping"))?;
                    userns.insert(key.clone(), fd);
                }
                userns
                    .get(&key)
                    .and_then(|fd| fd.try_clone().ok())
                    .ok_or_else(|| mount_err(e, "user namespace")(nix::errno::Errno::EBADF))?
            }
            IdmapSource::Userns(path) => nix::fcntl::open(
                path.as_path(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(mount_err(e, &format!("open {}", path.display())))?,
        };
        let tree = m::clone_tree_at(&source.to_string_lossy(), *recursive).map_err(mount_err(
            e,
            &format!("open bind source {}", source.display()),
        ))?;
        m::set_attr(
            tree.as_fd(),
            idmap.recursive,
            Attr {
                set: libc::MOUNT_ATTR_IDMAP,
                userns: Some(std::os::fd::AsRawFd::as_raw_fd(&ns)),
                ..Attr::default()
            },
        )
        .map_err(mount_err(
            e,
            "idmap (the filesystem may not support idmapped mounts)",
        ))?;
        set_attrs(e, tree.as_fd())?;
        out.push((e.index, tree));
    }
    Ok(out)
}

/// The mount's own attributes, on a detached tree.
fn set_attrs(e: &MountEntry, tree: std::os::fd::BorrowedFd<'_>) -> Result<(), LaunchError> {
    let opts = &e.options;
    if !opts.rec_attr.is_empty() {
        m::set_attr(
            tree,
            true,
            Attr {
                set: opts.rec_attr.set,
                clear: opts.rec_attr.clear,
                ..Attr::default()
            },
        )
        .map_err(mount_err(e, "set recursive attributes"))?;
    }
    if !opts.attr.is_empty() {
        m::set_attr(
            tree,
            false,
            Attr {
                set: opts.attr.set,
                clear: opts.attr.clear,
                ..Attr::default()
            },
        )
        .map_err(mount_err(e, "set attributes"))?;
    }
    Ok(())
}
