//! Performs the writes planned by `resources` and reads the current values
//! the plan asks for, for both managers.

use std::io;
use std::path::{Path, PathBuf};

use super::resources::{OnError, Probe, Write};
use super::{CgroupError, Result, fsutil};

/// A [`Probe`] over real directories: `dir_of(controller)` gives the
/// directory holding a controller's files (v2: one directory for all).
pub struct DirProbe<'a> {
    pub dir_of: &'a dyn Fn(&str) -> Option<PathBuf>,
    /// Whether a controller is usable (mounted on v1, in cgroup.controllers
    /// on v2).
    pub has: &'a dyn Fn(&str) -> bool,
}

impl Probe for DirProbe<'_> {
    fn read(&self, controller: &str, file: &str) -> Option<String> {
        let dir = (self.dir_of)(controller)?;
        std::fs::read_to_string(dir.join(file))
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn has_controller(&self, controller: &str) -> bool {
        (self.has)(controller)
    }
}

fn write_error(w: &Write, path: &Path, source: io::Error) -> CgroupError {
    // v1 refuses a memory limit below the usage it cannot reclaim: say so.
    if w.file == "memory.limit_in_bytes" && source.raw_os_error() == Some(libc::EBUSY) {
        let dir = path.parent().unwrap_or(Path::new("/"));
        let usage = fsutil::read(dir, "memory.usage_in_bytes").unwrap_or_default();
        let peak = fsutil::read(dir, "memory.max_usage_in_bytes").unwrap_or_default();
        return CgroupError::Unsupported {
            field: w.field.clone(),
            msg: format!(
                "unable to set memory limit to {} (current usage: {usage}, peak usage: {peak})",
                w.value
            ),
        };
    }
    CgroupError::Write {
        field: w.field.clone(),
        path: path.to_path_buf(),
        value: w.value.clone(),
        err: source,
    }
}

/// Performs `writes` in order; see [`OnError`] for the exceptions.
pub fn execute(writes: &[Write], dir_of: &dyn Fn(&str) -> Option<PathBuf>) -> Result<()> {
    let mut later: Vec<(&Write, PathBuf)> = Vec::new();
    for w in writes {
        let dir = dir_of(w.controller)
            .ok_or_else(|| CgroupError::NoController(w.controller.to_string()))?;
        let path = dir.join(&w.file);
        match fsutil::write_raw(&path, &w.value) {
            Ok(()) => verify(w, &path)?,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound && w.on_error == OnError::SkipIfMissing => {}
            Err(e)
                if e.raw_os_error() == Some(libc::EINVAL) && w.on_error == OnError::RetryLater =>
            {
                later.push((w, path));
            }
            Err(e) => return Err(write_error(w, &path, e)),
        }
    }
    for (w, path) in later {
        fsutil::write_raw(&path, &w.value).map_err(|e| write_error(w, &path, e))?;
    }
    Ok(())
}

/// For writes marked `verify`: the kernel clamps cpu.shares silently.
fn verify(w: &Write, path: &Path) -> Result<()> {
    if !w.verify {
        return Ok(());
    }
    let got = std::fs::read_to_string(path).map_err(|e| write_error(w, path, e))?;
    let (want, got) = (w.value.parse::<u64>().ok(), got.trim().parse::<u64>().ok());
    match (want, got) {
        (Some(want), Some(got)) if want != got => Err(CgroupError::Unsupported {
            field: w.field.clone(),
            msg: if want > got {
                format!("the maximum allowed value is {got}")
            } else {
                format!("the minimum allowed value is {got}")
            },
        }),
        _ => Ok(()),
    }
}
