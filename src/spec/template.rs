//! The configuration `berth spec` writes: the same as `runc spec` (1.1)
//! writes on the same host, but for the hostname (`berth`, where runc
//! writes `runc`).

use serde_json::{Value, json};

use crate::cgroups::Mode;

/// What `berth spec [--rootless]` writes on a host whose cgroups are
/// mounted as `mode`: runc adds the cgroup namespace only on a cgroup v2
/// (unified) host.
pub fn for_host(rootless: bool, uid: u32, gid: u32, mode: Mode) -> Value {
    let mut spec = default_config(rootless, uid, gid);
    if mode != Mode::Unified
        && let Some(ns) = spec["linux"]["namespaces"].as_array_mut()
    {
        ns.retain(|n| n["type"] != "cgroup");
    }
    spec
}

/// The default `config.json` as on a cgroup v2 host (with a cgroup
/// namespace), or the rootless variant that maps the calling user to root
/// inside a new user namespace.
pub fn default_config(rootless: bool, uid: u32, gid: u32) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if rootless {
        make_rootless(&mut spec, uid, gid);
    }
    spec
}

/// Applies runc's rootless changes (`specconv.ToRootless`): a user
/// namespace mapping the caller to root, no network namespace, sysfs bound
/// from the host, no `uid=`/`gid=` mount options, and no resources.
fn make_rootless(spec: &mut Value, uid: u32, gid: u32) {
    let linux = &mut spec["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({"type": "user"}));
    }
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            } else if let Some(opts) = m.get_mut("options").and_then(Value::as_array_mut) {
                opts.retain(|o| {
                    o.as_str()
                        .is_none_or(|o| !o.starts_with("uid=") && !o.starts_with("gid="))
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn default_template_is_a_valid_config() {
        let bytes = serde_json::to_vec(&default_config(false, 0, 0)).expect("serialises");
        let cfg = crate::spec::build(crate::spec::parse(&bytes).expect("parses"), Path::new("/b"))
            .expect("valid");
        assert_eq!(cfg.namespaces.len(), 6);
        assert!(cfg.readonly_root);
        assert_eq!(cfg.mounts.len(), 7);
    }

    #[test]
    fn rootless_template_maps_the_caller() {
        let v = default_config(true, 1000, 1000);
        let bytes = serde_json::to_vec(&v).expect("serialises");
        let cfg = crate::spec::build(crate::spec::parse(&bytes).expect("parses"), Path::new("/b"))
            .expect("valid");
        assert!(cfg.new_userns());
        assert_eq!(cfg.uid_mappings[0].host, 1000);
        assert!(!cfg.has_namespace(crate::spec::NsKind::Net));
        assert!(cfg.resources.is_none());
        // As runc: the cgroup mount stays, devpts loses only its gid=.
        assert_eq!(cfg.mounts.len(), 7);
        let devpts = v["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| m["type"] == "devpts")
            .expect("devpts");
        assert!(!devpts["options"].to_string().contains("gid="), "{devpts}");
        assert!(devpts["options"].to_string().contains("mode=0620"));
    }

    #[test]
    fn the_cgroup_namespace_only_on_a_cgroup_v2_host() {
        let has_cgroupns = |v: &Value| {
            v["linux"]["namespaces"]
                .as_array()
                .expect("namespaces")
                .iter()
                .any(|n| n["type"] == "cgroup")
        };
        for rootless in [false, true] {
            assert!(has_cgroupns(&for_host(rootless, 0, 0, Mode::Unified)));
            assert!(!has_cgroupns(&for_host(rootless, 0, 0, Mode::Hybrid)));
            assert!(!has_cgroupns(&for_host(rootless, 0, 0, Mode::Legacy)));
        }
        let order: Vec<Value> = for_host(true, 0, 0, Mode::Unified)["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .map(|n| n["type"].clone())
            .collect();
        assert_eq!(
            order,
            ["pid", "ipc", "uts", "mount", "cgroup", "user"].map(|s| json!(s))
        );
    }
}
