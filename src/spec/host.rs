//! Checks of a valid configuration against the host it is about to run on:
//! fields that need a kernel feature or an object the host may lack. They
//! run before anything is created, so a refusal leaves nothing behind.

use std::path::PathBuf;

use super::{Config, SpecError};

/// Whether AppArmor is enabled on this host (the test runc makes).
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim_start().starts_with('Y'))
}

/// Whether SELinux is enabled on this host: selinuxfs is mounted.
pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Where the `resctrl` filesystem is mounted, if it is.
pub fn resctrl_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next()? == "resctrl")
            .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// Refuses what this host cannot honour, naming the field.
pub fn check(config: &Config) -> Result<(), SpecError> {
    if let Some(p) = &config.process {
        if p.attrs.apparmor_profile.is_some() && !apparmor_enabled() {
            return Err(SpecError::invalid(
                "process.apparmorProfile",
                "AppArmor is not enabled on this host",
            ));
        }
        if p.attrs.selinux_label.is_some() && !selinux_enabled() {
            return Err(SpecError::invalid(
                "process.selinuxLabel",
                "SELinux is not enabled on this host",
            ));
        }
    }
    if config.mount_label.is_some() && !selinux_enabled() {
        return Err(SpecError::invalid(
            "linux.mountLabel",
            "SELinux is not enabled on this host",
        ));
    }
    if config.intel_rdt.is_some() {
        // berth does not implement resctrl groups; refuse whether or not
        // the host has them, so the field is never silently ignored.
        let msg = match resctrl_mount() {
            None => "no resctrl filesystem is mounted on this host (Intel RDT unavailable)",
            Some(_) => "Intel RDT (resctrl) is not supported by berth",
        };
        return Err(SpecError::invalid("linux.intelRdt", msg));
    }
    for d in &config.net_devices {
        if nix::net::if_::if_nametoindex(d.host_name.as_str()).is_err() {
            return Err(SpecError::invalid(
                format!("linux.netDevices.{}", d.host_name),
                format!(
                    "no network device {:?} in the runtime's network namespace",
                    d.host_name
                ),
            ));
        }
    }
    Ok(())
}
