//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup
//! is a transient unit that systemd creates, found from
//! `linux.cgroupsPath` in `slice:prefix:name` form.

pub mod props;
pub mod unit;

use std::path::Path;

use super::{CgroupError, Manager, Request, Result};

/// Whether systemd is PID 1 (`sd_booted()`: `/run/systemd/system` exists).
pub fn booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The systemd driver's manager for a new container.
pub fn for_container(req: &Request<'_>) -> Result<Box<dyn Manager>> {
    if !booted() {
        return Err(CgroupError::SystemdNotRunning);
    }
    let _unit = unit::parse(req.path, req.id).map_err(CgroupError::Systemd)?;
    Err(CgroupError::Systemd(
        "the systemd cgroup driver cannot start units yet (issue 11)".into(),
    ))
}
