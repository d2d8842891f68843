//! Checks of a valid configuration against the host it is about to run on:
//! fields that need a kernel feature or an object the host may lack. They
//! run before anything is created, so a refusal leaves nothing behind.

use std::path::{Path, PathBuf};

use super::{Config, NsKind, SpecError};

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
    check_sysctls(config)?;
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

/// Refuses a sysctl that would land in a namespace the container shares
/// with berth (so with the host): no namespace entry, or an entry whose
/// `path` is berth's own namespace (Docker's `--network host` passes
/// `/proc/<pid>/ns/net` of a host process). Only with sysctls, one `stat`
/// per namespace kind involved (and one of berth's own).
fn check_sysctls(config: &Config) -> Result<(), SpecError> {
    let mut known: Vec<(NsKind, bool)> = Vec::new();
    for name in config.sysctl.keys() {
        let Some(kind) = super::validate::sysctl_namespace(name) else {
            continue;
        };
        let field = format!("linux.sysctl[{name:?}]");
        let shared = match known.iter().find(|(k, _)| *k == kind) {
            Some((_, shared)) => *shared,
            None => {
                let shared = shares_host_namespace(config, kind)
                    .map_err(|msg| SpecError::invalid(field.clone(), msg))?;
                known.push((kind, shared));
                shared
            }
        };
        if shared {
            let msg = match kind {
                NsKind::Net => format!("sysctl {name:?} not allowed in host network namespace"),
                other => format!(
                    "sysctl {name:?} not allowed in host {} namespace",
                    other.spec_name().to_uppercase()
                ),
            };
            return Err(SpecError::invalid(field, msg));
        }
    }
    Ok(())
}

/// Whether the container would be in berth's own namespace of `kind`.
fn shares_host_namespace(config: &Config, kind: NsKind) -> Result<bool, String> {
    let Some(ns) = config.namespace(kind) else {
        return Ok(true);
    };
    let Some(path) = &ns.path else {
        return Ok(false);
    };
    let id = |p: &Path| {
        nix::sys::stat::stat(p)
            .map(|st| (st.st_dev, st.st_ino))
            .map_err(|e| format!("{} namespace path {}: {e}", kind.spec_name(), p.display()))
    };
    let own = PathBuf::from(format!("/proc/self/ns/{}", kind.proc_name()));
    Ok(id(path)? == id(&own)?)
}
