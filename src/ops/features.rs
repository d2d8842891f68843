//! `features`: what this build of berth implements on this host
//! (runtime-spec features.md). Only what works is listed; the
//! `tests/features.rs` integration test exercises every list against a
//! real container. Rootless (`--rootless`, resolved), what an unprivileged
//! user cannot have is reported off (`tests/rootless.rs` checks each is
//! refused): idmapped mounts, `netDevices` and the system's systemd manager
//! (`systemdUser` says whether the user's own one works).

use serde_json::{Value, json};

use crate::spec::{host, mountopt};

/// Whether `--systemd-cgroup` goes to the user's manager, and works:
/// rootless, systemd booted, pure cgroup v2 (tests/systemd.rs in the VM).
fn systemd_user(rootless: bool) -> bool {
    rootless
        && crate::cgroups::systemd::booted()
        && crate::cgroups::detect_mode() == crate::cgroups::Mode::Unified
}

/// The features document, for rootless mode or not.
pub fn features(rootless: bool) -> Value {
    let last = crate::capabilities::last_cap();
    let caps: Vec<String> = {
        let mut v: Vec<String> = caps::all()
            .into_iter()
            .filter(|c| c.index() <= last)
            .map(|c| c.to_string())
            .collect();
        v.sort();
        v
    };
    let flags = [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ];
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.3.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mountopt::KNOWN,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            // Rootless: the system manager refuses an unprivileged user's
            // units; the user's own manager is used instead, proven on a
            // systemd host with cgroup v2 only (a user manager gets no
            // controllers on v1 or hybrid hosts).
            "cgroup": {"v1": true, "v2": true, "systemd": !rootless, "systemdUser": systemd_user(rootless), "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"
                ],
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
                ],
                "archs": crate::seccomp::supported_archs(),
                "knownFlags": flags,
                "supportedFlags": flags
            },
            "apparmor": {"enabled": host::apparmor_enabled()},
            "selinux": {"enabled": host::selinux_enabled()},
            "intelRdt": {"enabled": false},
            "memoryPolicy": {
                "modes": [
                    "MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
                    "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"
                ],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            // Both need privileges over the host: an idmapped mount's
            // source filesystem, the host's network namespace.
            "mountExtensions": {"idmap": {"enabled": !rootless}},
            "netDevices": {"enabled": !rootless}
        },
        "annotations": {
            "io.github.berth.version": env!("CARGO_PKG_VERSION"),
            "io.github.berth.commit": crate::COMMIT,
            "io.github.berth.rootless": rootless.to_string(),
            "io.github.seccomp.libseccomp.version": crate::seccomp::library_version(),
            // runc's key: whether `checkpoint`/`restore` can work here (CRIU
            // found, new enough, and `criu check` passes on this kernel).
            "org.opencontainers.runc.checkpoint.enabled": crate::criu::usable().to_string()
        }
    })
}
