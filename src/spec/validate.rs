//! Semantic checks of a parsed configuration, and its conversion into the
//! [`Config`] model. Pure: nothing here touches the host, so every rule is
//! unit-tested below. Each error names the JSON path of the offending field.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use oci_spec::runtime::{Hook, LinuxIdMapping, LinuxNamespaceType, Spec};

use super::SpecError;
use super::linux::{self, ContainerUserns};
use super::model::*;
use super::mountopt;
use crate::rootpath::clean;

pub(super) type Result<T> = std::result::Result<T, SpecError>;

pub(super) fn invalid<T>(field: impl Into<String>, msg: impl Into<String>) -> Result<T> {
    Err(SpecError::invalid(field, msg))
}

/// Validates `spec` and converts it into a [`Config`]. `bundle` must be an
/// absolute path; relative paths in the config are resolved against it.
pub fn build(spec: Spec, bundle: &Path) -> Result<Config> {
    check_version(spec.version())?;
    let root = match spec.root() {
        Some(r) if !r.path().as_os_str().is_empty() => r,
        _ => return invalid("root.path", "is required"),
    };
    let rootfs = clean(&bundle.join(root.path()));
    // Not `unwrap_or_default()`: oci-spec's `Linux::default()` is a full
    // sample configuration (namespaces, masked paths...), not an empty one.
    let linux = spec.linux().clone().unwrap_or_else(empty_linux);

    let namespaces = namespaces(&linux)?;
    let has = |k: NsKind| namespaces.iter().any(|n| n.kind == k);
    let new_userns = namespaces
        .iter()
        .any(|n| n.kind == NsKind::User && n.path.is_none());
    let uid_mappings = mappings(
        "linux.uidMappings",
        linux.uid_mappings().as_deref(),
        new_userns,
    )?;
    let gid_mappings = mappings(
        "linux.gidMappings",
        linux.gid_mappings().as_deref(),
        new_userns,
    )?;

    let userns = match namespaces.iter().find(|n| n.kind == NsKind::User) {
        None => ContainerUserns::None,
        Some(Namespace { path: Some(p), .. }) => ContainerUserns::Joined(p),
        Some(_) => ContainerUserns::New {
            uid: &uid_mappings,
            gid: &gid_mappings,
        },
    };
    let mounts = spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, m)| linux::mount(i, m, bundle, &userns))
        .collect::<Result<Vec<_>>>()?;

    let process = match spec.process() {
        Some(p) => Some(super::process::process(
            p,
            new_userns,
            &uid_mappings,
            &gid_mappings,
        )?),
        None => None,
    };

    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has(NsKind::Uts) {
        return invalid("hostname", "setting a hostname needs a new UTS namespace");
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has(NsKind::Uts) {
        return invalid(
            "domainname",
            "setting a domain name needs a new UTS namespace",
        );
    }

    let sysctl = sysctls(linux.sysctl().as_ref(), &namespaces)?;
    let masked_paths = absolute_list("linux.maskedPaths", linux.masked_paths().as_deref())?;
    let readonly_paths = absolute_list("linux.readonlyPaths", linux.readonly_paths().as_deref())?;
    let rootfs_propagation = match linux.rootfs_propagation().as_deref() {
        None | Some("") => None,
        Some(p) => match mountopt::parse_propagation(p) {
            Some(prop) => Some(prop),
            None => {
                return invalid(
                    "linux.rootfsPropagation",
                    format!("unknown propagation {p:?}"),
                );
            }
        },
    };
    let devices = linux.devices().clone().unwrap_or_default();
    for (i, d) in devices.iter().enumerate() {
        if !d.path().is_absolute() {
            return invalid(
                format!("linux.devices[{i}].path"),
                "must be an absolute path",
            );
        }
    }
    let hooks = spec.hooks().clone().unwrap_or_default();
    check_hooks(&hooks)?;
    linux::check_seccomp(&linux)?;
    check_time_offsets(&linux, &namespaces)?;
    let memory_policy = linux::memory_policy(&linux)?;
    let personality = linux::personality(&linux)?;
    let net_devices = linux::net_devices(&linux, has(NsKind::Net))?;
    linux::check_intel_rdt(&linux)?;

    let cgroups_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty());

    Ok(Config {
        oci_version: spec.version().clone(),
        bundle: bundle.to_path_buf(),
        rootfs,
        readonly_root: root.readonly().unwrap_or(false),
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
        annotations: spec.annotations().clone().unwrap_or_default(),
        namespaces,
        uid_mappings,
        gid_mappings,
        mounts,
        process,
        hooks,
        cgroups_path,
        resources: linux.resources().clone(),
        rootfs_propagation,
        masked_paths,
        readonly_paths,
        devices,
        sysctl,
        seccomp: linux.seccomp().clone(),
        personality,
        memory_policy,
        net_devices,
        mount_label: linux.mount_label().clone().filter(|l| !l.is_empty()),
        intel_rdt: linux.intel_rdt().clone(),
        linux,
    })
}

/// A `linux` object with every field absent.
fn empty_linux() -> oci_spec::runtime::Linux {
    serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("an empty object is a valid Linux"))
}

/// The versions of the runtime spec berth accepts: any 1.x.
fn check_version(v: &str) -> Result<()> {
    if v.is_empty() {
        return invalid("ociVersion", "is required");
    }
    let major = v.split('.').next().unwrap_or_default();
    if major != "1" || v.split('.').count() < 2 {
        return invalid(
            "ociVersion",
            format!("unsupported version {v:?} (berth implements 1.x)"),
        );
    }
    Ok(())
}

fn ns_kind(t: LinuxNamespaceType) -> NsKind {
    match t {
        LinuxNamespaceType::Mount => NsKind::Mount,
        LinuxNamespaceType::Cgroup => NsKind::Cgroup,
        LinuxNamespaceType::Uts => NsKind::Uts,
        LinuxNamespaceType::Ipc => NsKind::Ipc,
        LinuxNamespaceType::User => NsKind::User,
        LinuxNamespaceType::Pid => NsKind::Pid,
        LinuxNamespaceType::Network => NsKind::Net,
        LinuxNamespaceType::Time => NsKind::Time,
    }
}

fn namespaces(linux: &oci_spec::runtime::Linux) -> Result<Vec<Namespace>> {
    let mut out: Vec<Namespace> = Vec::new();
    for (i, ns) in linux
        .namespaces()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let kind = ns_kind(ns.typ());
        if out.iter().any(|n| n.kind == kind) {
            return invalid(
                format!("linux.namespaces[{i}].type"),
                format!("namespace {:?} is listed more than once", kind.spec_name()),
            );
        }
        let path = ns.path().clone().filter(|p| !p.as_os_str().is_empty());
        if let Some(p) = &path
            && !p.is_absolute()
        {
            return invalid(
                format!("linux.namespaces[{i}].path"),
                "must be an absolute path",
            );
        }
        out.push(Namespace { kind, path });
    }
    Ok(out)
}

fn mappings(field: &str, maps: Option<&[LinuxIdMapping]>, new_userns: bool) -> Result<Vec<IdMap>> {
    let maps = maps.unwrap_or_default();
    if new_userns && maps.is_empty() {
        return invalid(
            field,
            "required when the container creates a user namespace",
        );
    }
    if !new_userns && !maps.is_empty() {
        return invalid(
            field,
            "set, but the container does not create a user namespace",
        );
    }
    id_maps(field, maps)
}

pub(super) fn id_maps(field: &str, maps: &[LinuxIdMapping]) -> Result<Vec<IdMap>> {
    let out: Vec<IdMap> = maps
        .iter()
        .map(|m| IdMap {
            container: m.container_id(),
            host: m.host_id(),
            size: m.size(),
        })
        .collect();
    for (i, m) in out.iter().enumerate() {
        if m.size == 0 {
            return invalid(format!("{field}[{i}].size"), "must be greater than zero");
        }
        for (j, o) in out.iter().enumerate().take(i) {
            let overlap = |a: u32, b: u32, s1: u32, s2: u32| {
                u64::from(a) < u64::from(b) + u64::from(s2)
                    && u64::from(b) < u64::from(a) + u64::from(s1)
            };
            if overlap(m.container, o.container, m.size, o.size) {
                return invalid(
                    format!("{field}[{i}]"),
                    format!("containerID range overlaps {field}[{j}]"),
                );
            }
            if overlap(m.host, o.host, m.size, o.size) {
                return invalid(
                    format!("{field}[{i}]"),
                    format!("hostID range overlaps {field}[{j}]"),
                );
            }
        }
    }
    if out.len() > 340 {
        return invalid(field, "the kernel accepts at most 340 ranges");
    }
    Ok(out)
}

/// Validates a `process` object on its own (for `exec`), against the
/// container's user namespace mappings.
pub fn build_process(p: &oci_spec::runtime::Process, config: &Config) -> Result<ProcessConfig> {
    super::process::process(
        p,
        config.new_userns(),
        &config.uid_mappings,
        &config.gid_mappings,
    )
}

/// Which namespace a sysctl belongs to, following runc's rules. `None`
/// means the sysctl is not namespaced and cannot be set for a container.
pub fn sysctl_namespace(name: &str) -> Option<NsKind> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&name) || name.starts_with("fs.mqueue.") {
        Some(NsKind::Ipc)
    } else if name.starts_with("net.") {
        Some(NsKind::Net)
    } else if name == "kernel.hostname" || name == "kernel.domainname" {
        Some(NsKind::Uts)
    } else {
        None
    }
}

fn sysctls(
    map: Option<&std::collections::HashMap<String, String>>,
    namespaces: &[Namespace],
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (key, value) in map.into_iter().flatten() {
        // runc accepts the /proc/sys path form ("net/ipv4/ip_forward") too.
        let name = key.replace('/', ".");
        let field = format!("linux.sysctl[{key:?}]");
        match sysctl_namespace(&name) {
            None => {
                return invalid(
                    field,
                    format!("sysctl {name:?} is not namespaced, so a container cannot set it"),
                );
            }
            Some(kind) if !namespaces.iter().any(|n| n.kind == kind) => {
                return invalid(
                    field,
                    format!(
                        "sysctl {name:?} needs the container to have its own {} namespace",
                        kind.spec_name()
                    ),
                );
            }
            Some(_) => {}
        }
        out.insert(name, value.clone());
    }
    Ok(out)
}

fn absolute_list(field: &str, list: Option<&[String]>) -> Result<Vec<String>> {
    let list = list.unwrap_or_default();
    for (i, p) in list.iter().enumerate() {
        if !p.starts_with('/') {
            return invalid(
                format!("{field}[{i}]"),
                format!("{p:?} is not an absolute path"),
            );
        }
    }
    Ok(list.to_vec())
}

fn check_hook_list(name: &str, hooks: &Option<Vec<Hook>>) -> Result<()> {
    for (i, h) in hooks.iter().flatten().enumerate() {
        if !h.path().is_absolute() {
            return invalid(
                format!("hooks.{name}[{i}].path"),
                "must be an absolute path",
            );
        }
        if let Some(t) = h.timeout()
            && t <= 0
        {
            return invalid(
                format!("hooks.{name}[{i}].timeout"),
                "must be greater than zero",
            );
        }
    }
    Ok(())
}

#[allow(deprecated)]
fn check_hooks(h: &oci_spec::runtime::Hooks) -> Result<()> {
    check_hook_list("prestart", h.prestart())?;
    check_hook_list("createRuntime", h.create_runtime())?;
    check_hook_list("createContainer", h.create_container())?;
    check_hook_list("startContainer", h.start_container())?;
    check_hook_list("poststart", h.poststart())?;
    check_hook_list("poststop", h.poststop())
}

fn check_time_offsets(linux: &oci_spec::runtime::Linux, namespaces: &[Namespace]) -> Result<()> {
    let Some(offsets) = linux.time_offsets() else {
        return Ok(());
    };
    if offsets.is_empty() {
        return Ok(());
    }
    if !namespaces
        .iter()
        .any(|n| n.kind == NsKind::Time && n.path.is_none())
    {
        return invalid(
            "linux.timeOffsets",
            "set, but the container does not create a time namespace",
        );
    }
    let mut seen = HashSet::new();
    for key in offsets.keys() {
        if key != "monotonic" && key != "boottime" {
            return invalid(
                format!("linux.timeOffsets.{key}"),
                "only \"monotonic\" and \"boottime\" can be offset",
            );
        }
        seen.insert(key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#""ociVersion":"1.0.2","root":{"path":"rootfs"},
        "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}}"#;

    fn build_json(extra: &str) -> Result<Config> {
        let base = if extra.contains("\"process\"") {
            r#""ociVersion":"1.0.2","root":{"path":"rootfs"}"#
        } else {
            BASE
        };
        let json = format!(
            "{{{base}{}{extra}}}",
            if extra.is_empty() { "" } else { "," }
        );
        build(super::super::parse(json.as_bytes())?, Path::new("/bundle"))
    }

    fn err(extra: &str) -> String {
        build_json(extra).expect_err("must be rejected").to_string()
    }

    #[test]
    fn minimal_config_builds() {
        let c = build_json("").expect("valid");
        assert_eq!(c.rootfs, Path::new("/bundle/rootfs"));
        assert_eq!(c.process.expect("process").args, vec!["sh"]);
    }

    #[test]
    fn duplicate_namespace_is_rejected() {
        let e = err(r#""linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"pid"}]}"#);
        assert_eq!(
            e,
            r#"config.json: linux.namespaces[2].type: namespace "pid" is listed more than once"#
        );
    }

    #[test]
    fn relative_namespace_path_is_rejected() {
        let e = err(r#""linux":{"namespaces":[{"type":"network","path":"ns/net"}]}"#);
        assert_eq!(
            e,
            "config.json: linux.namespaces[0].path: must be an absolute path"
        );
    }

    #[test]
    fn mappings_need_a_new_user_namespace() {
        let e = err(r#""linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#);
        assert!(
            e.starts_with("config.json: linux.uidMappings: set, but"),
            "{e}"
        );
        let e = err(r#""linux":{"namespaces":[{"type":"user"}]}"#);
        assert!(
            e.starts_with("config.json: linux.uidMappings: required"),
            "{e}"
        );
    }

    #[test]
    fn several_mapping_ranges_are_accepted_and_overlaps_refused() {
        let ok = build_json(
            r#""linux":{"namespaces":[{"type":"user"}],
            "uidMappings":[{"containerID":0,"hostID":100000,"size":1000},{"containerID":1000,"hostID":1000,"size":1}],
            "gidMappings":[{"containerID":0,"hostID":100000,"size":65536}]}"#,
        )
        .expect("valid");
        assert_eq!(ok.uid_mappings.len(), 2);
        let e = err(r#""linux":{"namespaces":[{"type":"user"}],
            "uidMappings":[{"containerID":0,"hostID":100000,"size":1000},{"containerID":10,"hostID":1000,"size":1}],
            "gidMappings":[{"containerID":0,"hostID":100000,"size":65536}]}"#);
        assert!(
            e.contains("linux.uidMappings[1]: containerID range overlaps"),
            "{e}"
        );
    }

    #[test]
    fn user_must_be_mapped() {
        let e = err(r#""linux":{"namespaces":[{"type":"user"}],
            "uidMappings":[{"containerID":1,"hostID":100000,"size":10}],
            "gidMappings":[{"containerID":0,"hostID":100000,"size":10}]}"#);
        assert_eq!(
            e,
            "config.json: process.user.uid: 0 is not mapped by linux.uidMappings"
        );
    }

    #[test]
    fn relative_cwd_is_rejected() {
        let json = r#"{"ociVersion":"1.0.2","root":{"path":"r"},"process":{"cwd":"tmp","args":["sh"],"user":{"uid":0,"gid":0}}}"#;
        let e = build(
            crate::spec::parse(json.as_bytes()).expect("parses"),
            Path::new("/b"),
        )
        .expect_err("bad");
        assert_eq!(
            e.to_string(),
            r#"config.json: process.cwd: "tmp" is not an absolute path"#
        );
    }

    #[test]
    fn empty_args_are_rejected() {
        let json = r#"{"ociVersion":"1.0.2","root":{"path":"r"},"process":{"cwd":"/","args":[],"user":{"uid":0,"gid":0}}}"#;
        let e = build(
            crate::spec::parse(json.as_bytes()).expect("parses"),
            Path::new("/b"),
        )
        .expect_err("bad");
        assert_eq!(e.field(), Some("process.args"));
    }

    #[test]
    fn root_is_required_and_version_checked() {
        let e = build(
            crate::spec::parse(br#"{"ociVersion":"1.0.0"}"#).expect("parses"),
            Path::new("/b"),
        )
        .expect_err("bad");
        assert_eq!(e.field(), Some("root.path"));
        let e = build(
            crate::spec::parse(br#"{"ociVersion":"2.0.0","root":{"path":"r"}}"#).expect("p"),
            Path::new("/b"),
        )
        .expect_err("bad");
        assert_eq!(e.field(), Some("ociVersion"));
    }

    #[test]
    fn hostname_needs_uts_namespace() {
        assert_eq!(
            err(r#""hostname":"box""#),
            "config.json: hostname: setting a hostname needs a new UTS namespace"
        );
        build_json(r#""hostname":"box","linux":{"namespaces":[{"type":"uts"}]}"#).expect("valid");
    }

    #[test]
    fn sysctls_need_their_namespace() {
        let e = err(r#""linux":{"sysctl":{"net.ipv4.ip_forward":"1"}}"#);
        assert!(
            e.contains(
                "linux.sysctl[\"net.ipv4.ip_forward\"]: sysctl \"net.ipv4.ip_forward\" needs"
            ),
            "{e}"
        );
        let e = err(r#""linux":{"sysctl":{"kernel.panic":"1"},"namespaces":[{"type":"ipc"}]}"#);
        assert!(e.contains("is not namespaced"), "{e}");
        let ok = build_json(
            r#""linux":{"sysctl":{"kernel.shmmax":"1","fs/mqueue/msg_max":"12"},"namespaces":[{"type":"ipc"}]}"#,
        )
        .expect("valid");
        assert_eq!(
            ok.sysctl.get("fs.mqueue.msg_max").map(String::as_str),
            Some("12")
        );
    }

    #[test]
    fn mounts_are_classified_and_resolved() {
        let c = build_json(
            r#""mounts":[{"destination":"/proc","type":"proc","source":"proc"},
            {"destination":"data","source":"vol","options":["rbind","ro"]},
            {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup"}]"#,
        )
        .expect("valid");
        assert_eq!(
            c.mounts[0].kind,
            MountKind::Fs {
                fstype: "proc".into(),
                source: Some("proc".into())
            }
        );
        assert_eq!(c.mounts[1].destination, "/data");
        assert_eq!(
            c.mounts[1].kind,
            MountKind::Bind {
                source: "/bundle/vol".into(),
                recursive: true
            }
        );
        assert_eq!(c.mounts[2].kind, MountKind::Cgroup);
    }

    #[test]
    fn bind_without_source_is_rejected() {
        assert_eq!(
            err(r#""mounts":[{"destination":"/x","options":["bind"]}]"#),
            "config.json: mounts[0].source: required for a bind mount"
        );
        assert_eq!(
            err(r#""mounts":[{"destination":"/x"}]"#),
            "config.json: mounts[0].type: required unless the mount is a bind mount"
        );
    }

    #[test]
    fn capabilities_are_converted() {
        let c = build_json(
            r#""process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
            "capabilities":{"bounding":["CAP_CHOWN","CAP_KILL"],"effective":["CAP_KILL"]}}"#,
        )
        .expect("valid");
        let p = c.process.expect("process");
        assert!(p.caps.bounding.contains(&caps::Capability::CAP_CHOWN));
        assert_eq!(p.caps.effective.len(), 1);
        assert!(p.caps.ambient.is_empty());
    }

    #[test]
    fn rlimit_rules() {
        let e = err(
            r#""process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
            "rlimits":[{"type":"RLIMIT_NOFILE","soft":10,"hard":5}]}"#,
        );
        assert!(
            e.contains("process.rlimits[0]: soft limit 10 is above hard limit 5"),
            "{e}"
        );
        let e = err(
            r#""process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
            "rlimits":[{"type":"RLIMIT_NOFILE","soft":1,"hard":5},{"type":"RLIMIT_NOFILE","soft":1,"hard":5}]}"#,
        );
        assert!(
            e.contains("process.rlimits[1].type: RLIMIT_NOFILE is listed more than once"),
            "{e}"
        );
    }

    #[test]
    fn hook_paths_must_be_absolute() {
        assert_eq!(
            err(r#""hooks":{"poststop":[{"path":"bin/true"}]}"#),
            "config.json: hooks.poststop[0].path: must be an absolute path"
        );
    }

    #[test]
    fn propagation_and_paths() {
        assert!(err(r#""linux":{"rootfsPropagation":"sideways"}"#).contains("unknown propagation"));
        assert!(err(r#""linux":{"maskedPaths":["proc/kcore"]}"#).contains("linux.maskedPaths[0]"));
    }

    #[test]
    fn time_offsets_need_new_time_namespace() {
        let e = err(r#""linux":{"timeOffsets":{"monotonic":{"secs":1}}}"#);
        assert!(e.contains("linux.timeOffsets: set, but"), "{e}");
        build_json(
            r#""linux":{"namespaces":[{"type":"time"}],"timeOffsets":{"monotonic":{"secs":1}}}"#,
        )
        .expect("valid");
    }
}
