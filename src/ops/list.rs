//! `list`: every container under the root.

use super::state::ContainerStatus;
use super::{Result, Runtime};

/// One row of `list`.
pub type ListEntry = ContainerStatus;

/// States of every container (those without a readable state are skipped).
pub fn list(rt: &Runtime) -> Result<Vec<ListEntry>> {
    let mut out = Vec::new();
    for id in rt.store.list()? {
        let Ok(dir) = rt.store.open_unlocked(&id) else {
            continue;
        };
        let Ok(st) = dir.load() else { continue };
        let mut status = ContainerStatus::observe(&st, &dir);
        status.owner = owner_of(dir.path());
        out.push(status);
    }
    Ok(out)
}

/// runc shows the name of the state directory's owner.
fn owner_of(path: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return String::new();
    };
    let uid = meta.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| format!("#{uid}"))
}
