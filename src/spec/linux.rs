//! Validation and conversion of the `mounts` entries and of the less common
//! `linux` fields: seccomp rules, memory policy, personality, network
//! devices and Intel RDT. Pure; host-dependent checks are in `host.rs`.

use std::path::Path;

use oci_spec::runtime::{
    Linux, LinuxPersonalityDomain, LinuxSeccompAction, LinuxSeccompFilterFlag,
    MemoryPolicyFlagType, MemoryPolicyModeType,
};

use super::model::*;
use super::mountopt;
use super::process::{MAX_CPUS, parse_list};
use super::validate::{Result, id_maps, invalid};
use crate::rootpath::clean;

/// What the container's own user namespace offers an `idmap` mount that
/// has no mappings of its own.
pub(super) enum ContainerUserns<'a> {
    None,
    New { uid: &'a [IdMap], gid: &'a [IdMap] },
    Joined(&'a Path),
}

/// One `mounts[]` entry.
pub(super) fn mount(
    i: usize,
    m: &oci_spec::runtime::Mount,
    bundle: &Path,
    userns: &ContainerUserns<'_>,
) -> Result<MountEntry> {
    let field = |f: &str| format!("mounts[{i}].{f}");
    let dest = m.destination();
    if dest.as_os_str().is_empty() {
        return invalid(field("destination"), "is required");
    }
    // Relative destinations are deprecated but allowed: relative to "/".
    let destination = clean(&Path::new("/").join(dest))
        .to_string_lossy()
        .into_owned();
    let mut options = mountopt::parse(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or_default();
    let kind = if options.bind.is_some() || typ == "bind" {
        let Some(src) = m.source().as_ref().filter(|s| !s.as_os_str().is_empty()) else {
            return invalid(field("source"), "required for a bind mount");
        };
        MountKind::Bind {
            source: clean(&bundle.join(src)),
            recursive: options.bind.unwrap_or(false),
        }
    } else if typ == "cgroup" || typ == "cgroup2" {
        MountKind::Cgroup
    } else if typ.is_empty() {
        return invalid(field("type"), "required unless the mount is a bind mount");
    } else {
        MountKind::Fs {
            fstype: typ.to_string(),
            source: m
                .source()
                .as_ref()
                .map(|s| s.to_string_lossy().into_owned()),
        }
    };
    // CVE-2023-25809: `ro` on an rbind makes only its top mount read-only.
    // Below a bound /sys (`spec --rootless`) the host's cgroup hierarchies
    // would stay writable, and in a user namespace whose root owns its
    // delegated cgroup (rootless) the container could raise its own
    // limits. A read-only rbind of /sys is read-only all the way down.
    if let MountKind::Bind {
        source,
        recursive: true,
    } = &kind
        && source == Path::new("/sys")
        && options.readonly()
    {
        options.make_recursively_readonly();
    }
    if options.remount && matches!(kind, MountKind::Bind { .. }) {
        return invalid(
            field("options"),
            "\"remount\" cannot be combined with a bind mount",
        );
    }
    if options.tmpcopyup && !matches!(&kind, MountKind::Fs { fstype, .. } if fstype == "tmpfs") {
        return invalid(
            field("options"),
            "\"tmpcopyup\" is only valid for a tmpfs mount",
        );
    }
    let idmap = mount_idmap(i, m, &options, &kind, userns)?;
    Ok(MountEntry {
        index: i,
        destination,
        kind,
        options,
        idmap,
    })
}

/// The idmapping of a mount, following runc: per-mount mappings make a
/// mount idmapped even without `idmap`; `idmap`/`ridmap` without mappings
/// use the container's user namespace.
fn mount_idmap(
    i: usize,
    m: &oci_spec::runtime::Mount,
    options: &mountopt::MountOptions,
    kind: &MountKind,
    userns: &ContainerUserns<'_>,
) -> Result<Option<MountIdmap>> {
    let field = |f: &str| format!("mounts[{i}].{f}");
    let uid = id_maps(
        &field("uidMappings"),
        m.uid_mappings().as_deref().unwrap_or_default(),
    )?;
    let gid = id_maps(
        &field("gidMappings"),
        m.gid_mappings().as_deref().unwrap_or_default(),
    )?;
    if uid.is_empty() != gid.is_empty() {
        return invalid(
            field("uidMappings"),
            "uidMappings and gidMappings must be given together",
        );
    }
    if uid.is_empty() && options.idmap.is_none() {
        return Ok(None);
    }
    if !matches!(kind, MountKind::Bind { .. }) {
        return invalid(
            field("options"),
            "idmapped mounts are only supported for bind mounts",
        );
    }
    let source = if !uid.is_empty() {
        IdmapSource::Maps { uid, gid }
    } else {
        match userns {
            ContainerUserns::New { uid, gid } => IdmapSource::Maps {
                uid: uid.to_vec(),
                gid: gid.to_vec(),
            },
            ContainerUserns::Joined(p) => IdmapSource::Userns(p.to_path_buf()),
            ContainerUserns::None => {
                return invalid(
                    field("options"),
                    "\"idmap\" without uidMappings/gidMappings needs the container to have a user namespace",
                );
            }
        }
    };
    Ok(Some(MountIdmap {
        recursive: options.idmap == Some(true),
        source,
    }))
}

fn takes_errno(a: LinuxSeccompAction) -> bool {
    matches!(
        a,
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
    )
}

/// Syscalls berth itself makes between loading a filter that notifies and
/// handing the listener over: notifying one of them would deadlock.
const NOTIFY_FORBIDDEN: &[&str] = &["write", "sendmsg"];

/// `linux.seccomp`: the rules the filter compiler cannot see.
pub(super) fn check_seccomp(linux: &Linux) -> Result<()> {
    let Some(s) = linux.seccomp() else {
        return Ok(());
    };
    if s.default_errno_ret().is_some() && !takes_errno(s.default_action()) {
        return invalid(
            "linux.seccomp.defaultErrnoRet",
            "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE",
        );
    }
    if s.default_action() == LinuxSeccompAction::ScmpActNotify {
        return invalid(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action",
        );
    }
    let mut notify = false;
    for (i, sc) in s
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        notify |= check_rule(i, sc)?;
    }
    let listener = s
        .listener_path()
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty());
    match listener {
        None if notify => {
            return invalid(
                "linux.seccomp.listenerPath",
                "required when an action is SCMP_ACT_NOTIFY",
            );
        }
        None if s
            .listener_metadata()
            .as_ref()
            .is_some_and(|m| !m.is_empty()) =>
        {
            return invalid(
                "linux.seccomp.listenerMetadata",
                "must not be set without listenerPath",
            );
        }
        Some(p) if !p.is_absolute() => {
            return invalid("linux.seccomp.listenerPath", "must be an absolute path");
        }
        _ => {}
    }
    let flags = s.flags().as_deref().unwrap_or_default();
    if flags.contains(&LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv) && !notify {
        return invalid(
            "linux.seccomp.flags",
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs an SCMP_ACT_NOTIFY rule",
        );
    }
    Ok(())
}

/// One `linux.seccomp.syscalls[i]` entry; returns whether it notifies.
fn check_rule(i: usize, sc: &oci_spec::runtime::LinuxSyscall) -> Result<bool> {
    let field = |f: &str| format!("linux.seccomp.syscalls[{i}].{f}");
    if sc.names().is_empty() {
        return invalid(field("names"), "must not be empty");
    }
    if sc.errno_ret().is_some() && !takes_errno(sc.action()) {
        return invalid(
            field("errnoRet"),
            "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE",
        );
    }
    for (j, a) in sc.args().iter().flatten().enumerate() {
        if a.index() > 5 {
            return invalid(
                format!("linux.seccomp.syscalls[{i}].args[{j}].index"),
                format!("{} is not a syscall argument (0..5)", a.index()),
            );
        }
    }
    if sc.action() != LinuxSeccompAction::ScmpActNotify {
        return Ok(false);
    }
    if let Some(n) = sc
        .names()
        .iter()
        .find(|n| NOTIFY_FORBIDDEN.contains(&n.as_str()))
    {
        return invalid(
            field("names"),
            format!(
                "SCMP_ACT_NOTIFY cannot be used for {n:?}, which berth needs to hand the listener over"
            ),
        );
    }
    Ok(true)
}

/// `MPOL_PREFERRED_MANY` and `MPOL_WEIGHTED_INTERLEAVE` (Linux 5.15, 6.9),
/// not yet in `libc`.
const MPOL_PREFERRED_MANY: i32 = 5;
const MPOL_WEIGHTED_INTERLEAVE: i32 = 6;

/// `linux.memoryPolicy`, with runc's rules on the node list.
pub(super) fn memory_policy(linux: &Linux) -> Result<Option<MemoryPolicy>> {
    use MemoryPolicyModeType as M;
    let Some(p) = linux.memory_policy() else {
        return Ok(None);
    };
    let nodes = match p.nodes().as_deref().filter(|n| !n.is_empty()) {
        None => Vec::new(),
        Some(n) => parse_list(n, MAX_CPUS)
            .map_err(|msg| super::SpecError::invalid("linux.memoryPolicy.nodes", msg))?,
    };
    let mode = match p.mode() {
        M::MpolDefault => libc::MPOL_DEFAULT,
        M::MpolPreferred => libc::MPOL_PREFERRED,
        M::MpolBind => libc::MPOL_BIND,
        M::MpolInterleave => libc::MPOL_INTERLEAVE,
        M::MpolLocal => libc::MPOL_LOCAL,
        M::MpolPreferredMany => MPOL_PREFERRED_MANY,
        M::MpolWeightedInterleave => MPOL_WEIGHTED_INTERLEAVE,
    };
    match p.mode() {
        M::MpolDefault | M::MpolLocal if !nodes.is_empty() => {
            return invalid(
                "linux.memoryPolicy.nodes",
                format!("must be empty for {}", p.mode()),
            );
        }
        M::MpolBind | M::MpolInterleave | M::MpolPreferredMany | M::MpolWeightedInterleave
            if nodes.is_empty() =>
        {
            return invalid(
                "linux.memoryPolicy.nodes",
                format!("{} needs at least one node", p.mode()),
            );
        }
        _ => {}
    }
    let flags = p.flags().iter().flatten().fold(0, |acc, f| {
        acc | match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => libc::MPOL_F_NUMA_BALANCING,
            MemoryPolicyFlagType::MpolFRelativeNodes => libc::MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => libc::MPOL_F_STATIC_NODES,
        }
    });
    Ok(Some(MemoryPolicy {
        mode: mode | flags,
        nodes,
    }))
}

/// `PER_LINUX32` (`include/uapi/linux/personality.h`).
const PER_LINUX32: libc::c_ulong = 0x0008;

/// `linux.personality`: the domain; no flag is defined by the spec.
pub(super) fn personality(linux: &Linux) -> Result<Option<libc::c_ulong>> {
    let Some(p) = linux.personality() else {
        return Ok(None);
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return invalid(
            "linux.personality.flags",
            "no personality flag is supported",
        );
    }
    Ok(Some(match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    }))
}

/// Whether `name` can be a network interface name (runc's rule: shorter
/// than IFNAMSIZ, not "." or "..", no '/', ':' or white space).
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name.contains(['/', ':'])
        && !name.chars().any(char::is_whitespace)
}

/// `linux.netDevices`: needs a network namespace; names must be valid.
pub(super) fn net_devices(linux: &Linux, has_netns: bool) -> Result<Vec<NetDevice>> {
    let Some(map) = linux.net_devices().as_ref().filter(|m| !m.is_empty()) else {
        return Ok(Vec::new());
    };
    if !has_netns {
        return invalid(
            "linux.netDevices",
            "moving network devices needs the container to have a network namespace",
        );
    }
    let mut out: Vec<NetDevice> = Vec::new();
    for (host, dev) in map {
        let field = format!("linux.netDevices.{host}");
        if !valid_ifname(host) {
            return invalid(field, format!("{host:?} is not a valid interface name"));
        }
        let name = dev
            .name()
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| host.clone());
        if !valid_ifname(&name) {
            return invalid(
                format!("{field}.name"),
                format!("{name:?} is not a valid interface name"),
            );
        }
        out.push(NetDevice {
            host_name: host.clone(),
            name,
        });
    }
    out.sort_by(|a, b| a.host_name.cmp(&b.host_name));
    for w in out.windows(2) {
        if w[0].name == w[1].name && !w[0].name.contains("%d") {
            return invalid(
                format!("linux.netDevices.{}.name", w[1].host_name),
                format!("{:?} is also the name of {}", w[1].name, w[0].host_name),
            );
        }
    }
    Ok(out)
}

/// `linux.intelRdt`: the shape of `closID` (runc's rule).
pub(super) fn check_intel_rdt(linux: &Linux) -> Result<()> {
    let Some(rdt) = linux.intel_rdt() else {
        return Ok(());
    };
    if let Some(clos) = rdt.clos_id()
        && (clos == "." || clos == ".." || (clos.len() > 1 && clos.contains('/')))
    {
        return invalid(
            "linux.intelRdt.closID",
            format!("{clos:?} is not a valid resctrl group name"),
        );
    }
    for (name, v) in [
        ("l3CacheSchema", rdt.l3_cache_schema()),
        ("memBwSchema", rdt.mem_bw_schema()),
    ] {
        if v.as_ref().is_some_and(|s| s.contains('\n')) {
            return invalid(
                format!("linux.intelRdt.{name}"),
                "must not contain a newline",
            );
        }
    }
    for (i, line) in rdt.schemata().iter().flatten().enumerate() {
        if line.contains('\n') {
            return invalid(
                format!("linux.intelRdt.schemata[{i}]"),
                "must not contain a newline",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Config, parse};
    use super::*;

    fn build_json(extra: &str) -> Result<Config> {
        let json = format!(
            r#"{{"ociVersion":"1.3.0","root":{{"path":"rootfs"}},
            "process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}},{extra}}}"#
        );
        super::super::build(parse(json.as_bytes())?, Path::new("/bundle"))
    }

    fn err(extra: &str) -> String {
        build_json(extra).expect_err("must be rejected").to_string()
    }

    const USERNS: &str = r#""namespaces":[{"type":"user"},{"type":"mount"}],
        "uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],
        "gidMappings":[{"containerID":0,"hostID":100000,"size":65536}]"#;

    #[test]
    fn a_readonly_rbind_of_sys_is_readonly_all_the_way_down() {
        let ro = libc::MOUNT_ATTR_RDONLY;
        let mounts = |opts: &str| {
            let c = build_json(&format!(
                r#""mounts":[{{"destination":"/sys","type":"none","source":"/sys","options":{opts}}},
                   {{"destination":"/mnt","type":"none","source":"/srv","options":["rbind","ro"]}}]"#
            ))
            .expect("valid");
            c.mounts.clone()
        };
        let m = mounts(r#"["rbind","nosuid","ro"]"#);
        assert_ne!(m[0].options.rec_attr.set & ro, 0, "/sys rbind,ro");
        // Other rbinds keep runc's meaning: `ro` is the top mount's.
        assert_eq!(m[1].options.rec_attr.set & ro, 0);
        assert_eq!(mounts(r#"["rbind"]"#)[0].options.rec_attr.set & ro, 0);
        assert_eq!(mounts(r#"["bind","ro"]"#)[0].options.rec_attr.set & ro, 0);
    }

    #[test]
    fn seccomp_rules() {
        let e = err(r#""linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}}"#);
        assert!(e.contains("linux.seccomp.listenerPath: required"), "{e}");
        let e =
            err(r#""linux":{"seccomp":{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/l"}}"#);
        assert_eq!(
            e,
            "config.json: linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"
        );
        let e = err(
            r#""linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/l",
            "syscalls":[{"names":["mkdir","write"],"action":"SCMP_ACT_NOTIFY"}]}}"#,
        );
        assert!(
            e.contains(
                "linux.seccomp.syscalls[0].names: SCMP_ACT_NOTIFY cannot be used for \"write\""
            ),
            "{e}"
        );
        let e =
            err(r#""linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","listenerMetadata":"x"}}"#);
        assert!(
            e.contains("linux.seccomp.listenerMetadata: must not be set"),
            "{e}"
        );
        let e = err(
            r#""linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"l",
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}}"#,
        );
        assert!(e.contains("listenerPath: must be an absolute path"), "{e}");
        let e = err(r#""linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW",
            "flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}}"#);
        assert!(
            e.contains("linux.seccomp.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs"),
            "{e}"
        );
        let e = err(r#""linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}}"#);
        assert!(
            e.contains("linux.seccomp.syscalls[0].args[0].index: 6 is not"),
            "{e}"
        );
        let e = err(r#""linux":{"seccomp":{"defaultAction":"SCMP_ACT_KILL","defaultErrnoRet":3}}"#);
        assert!(
            e.contains("linux.seccomp.defaultErrnoRet: only valid"),
            "{e}"
        );
        let e = err(r#""linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["kill"],"action":"SCMP_ACT_LOG","errnoRet":1}]}}"#);
        assert!(
            e.contains("linux.seccomp.syscalls[0].errnoRet: only valid"),
            "{e}"
        );
        build_json(r#""linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"listenerPath":"/l",
            "listenerMetadata":"m","flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV","SECCOMP_FILTER_FLAG_LOG"],
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}}"#)
        .expect("valid");
    }

    #[test]
    fn idmapped_mounts() {
        let c = build_json(
            r#""mounts":[{"destination":"/a","source":"/v","options":["rbind","ridmap"],
                "uidMappings":[{"containerID":0,"hostID":1000,"size":10}],
                "gidMappings":[{"containerID":0,"hostID":2000,"size":10}]},
              {"destination":"/b","source":"/v","options":["bind"],
                "uidMappings":[{"containerID":0,"hostID":1000,"size":10}],
                "gidMappings":[{"containerID":0,"hostID":2000,"size":10}]}]"#,
        )
        .expect("valid");
        let a = c.mounts[0].idmap.as_ref().expect("idmapped");
        assert!(a.recursive);
        assert!(
            matches!(&a.source, IdmapSource::Maps { uid, gid } if uid[0].host == 1000 && gid[0].host == 2000)
        );
        let b = c.mounts[1]
            .idmap
            .as_ref()
            .expect("mappings alone make it idmapped");
        assert!(!b.recursive);

        let e = err(r#""mounts":[{"destination":"/a","source":"/v","options":["bind","idmap"]}]"#);
        assert!(
            e.contains("mounts[0].options: \"idmap\" without uidMappings"),
            "{e}"
        );
        let c = build_json(&format!(
            r#""linux":{{{USERNS}}},"mounts":[{{"destination":"/a","source":"/v","options":["bind","idmap"]}}]"#
        ))
        .expect("valid");
        assert!(matches!(
            &c.mounts[0].idmap.as_ref().expect("idmap").source,
            IdmapSource::Maps { uid, .. } if uid[0].host == 100000
        ));
        let c = build_json(
            r#""linux":{"namespaces":[{"type":"user","path":"/proc/1/ns/user"},{"type":"mount"}]},
            "mounts":[{"destination":"/a","source":"/v","options":["bind","idmap"]}]"#,
        )
        .expect("valid");
        assert_eq!(
            c.mounts[0].idmap.as_ref().expect("idmap").source,
            IdmapSource::Userns("/proc/1/ns/user".into())
        );
        let e = err(
            r#""mounts":[{"destination":"/a","type":"tmpfs","source":"t","options":["idmap"],
            "uidMappings":[{"containerID":0,"hostID":1,"size":1}],"gidMappings":[{"containerID":0,"hostID":1,"size":1}]}]"#,
        );
        assert!(e.contains("only supported for bind mounts"), "{e}");
        let e = err(
            r#""mounts":[{"destination":"/a","source":"/v","options":["bind"],
            "uidMappings":[{"containerID":0,"hostID":1,"size":1}]}]"#,
        );
        assert!(
            e.contains("mounts[0].uidMappings: uidMappings and gidMappings must be given together"),
            "{e}"
        );
        let e =
            err(r#""mounts":[{"destination":"/a","source":"/v","options":["bind","tmpcopyup"]}]"#);
        assert!(
            e.contains("\"tmpcopyup\" is only valid for a tmpfs mount"),
            "{e}"
        );
    }

    #[test]
    fn memory_policy_rules() {
        let c = build_json(r#""linux":{"memoryPolicy":{"mode":"MPOL_INTERLEAVE","nodes":"0-2,5","flags":["MPOL_F_STATIC_NODES"]}}"#)
            .expect("valid");
        let p = c.memory_policy.expect("policy");
        assert_eq!(p.mode, libc::MPOL_INTERLEAVE | libc::MPOL_F_STATIC_NODES);
        assert_eq!(p.nodes, vec![0, 1, 2, 5]);
        let e = err(r#""linux":{"memoryPolicy":{"mode":"MPOL_BIND"}}"#);
        assert!(
            e.contains("linux.memoryPolicy.nodes: MPOL_BIND needs at least one node"),
            "{e}"
        );
        let e = err(r#""linux":{"memoryPolicy":{"mode":"MPOL_LOCAL","nodes":"0"}}"#);
        assert!(
            e.contains("linux.memoryPolicy.nodes: must be empty for MPOL_LOCAL"),
            "{e}"
        );
        let e = err(r#""linux":{"memoryPolicy":{"mode":"MPOL_BIND","nodes":"3-1"}}"#);
        assert!(
            e.contains("linux.memoryPolicy.nodes: range \"3-1\" is reversed"),
            "{e}"
        );
        let e = err(r#""linux":{"memoryPolicy":{"mode":"MPOL_WHATEVER"}}"#);
        assert!(
            e.contains("linux.memoryPolicy.mode: unknown memory policy mode"),
            "{e}"
        );
    }

    #[test]
    fn personality_domains() {
        let c = build_json(r#""linux":{"personality":{"domain":"LINUX32"}}"#).expect("valid");
        assert_eq!(c.personality, Some(PER_LINUX32));
        let c = build_json(r#""linux":{"personality":{"domain":"LINUX"}}"#).expect("valid");
        assert_eq!(c.personality, Some(0));
        let e = err(r#""linux":{"personality":{"domain":"LINUX32","flags":["SHORT_INODE"]}}"#);
        assert!(
            e.contains("linux.personality.flags: no personality flag"),
            "{e}"
        );
        let e = err(r#""linux":{"personality":{"domain":"BSD"}}"#);
        assert!(
            e.contains("linux.personality.domain: unknown personality domain"),
            "{e}"
        );
    }

    #[test]
    fn net_device_rules() {
        let c = build_json(
            r#""linux":{"namespaces":[{"type":"network"},{"type":"mount"}],
            "netDevices":{"veth1":{"name":"eth0"},"dummy0":{}}}"#,
        )
        .expect("valid");
        assert_eq!(
            c.net_devices,
            vec![
                NetDevice {
                    host_name: "dummy0".into(),
                    name: "dummy0".into()
                },
                NetDevice {
                    host_name: "veth1".into(),
                    name: "eth0".into()
                },
            ]
        );
        let e = err(r#""linux":{"netDevices":{"veth1":{}}}"#);
        assert!(
            e.contains("linux.netDevices: moving network devices needs"),
            "{e}"
        );
        let e = err(r#""linux":{"namespaces":[{"type":"network"}],"netDevices":{"a/b":{}}}"#);
        assert!(
            e.contains("linux.netDevices.a/b: \"a/b\" is not a valid interface name"),
            "{e}"
        );
        let e = err(
            r#""linux":{"namespaces":[{"type":"network"}],"netDevices":{"a":{"name":"0123456789abcdef"}}}"#,
        );
        assert!(e.contains("linux.netDevices.a.name:"), "{e}");
        let e = err(
            r#""linux":{"namespaces":[{"type":"network"}],"netDevices":{"a":{"name":"x"},"b":{"name":"x"}}}"#,
        );
        assert!(
            e.contains("linux.netDevices.b.name: \"x\" is also the name of a"),
            "{e}"
        );
    }

    #[test]
    fn intel_rdt_and_labels_are_kept() {
        let e = err(r#""linux":{"intelRdt":{"closID":".."}}"#);
        assert!(e.contains("linux.intelRdt.closID"), "{e}");
        let c = build_json(
            r#""linux":{"intelRdt":{"closID":"g"},"mountLabel":"system_u:object_r:x:s0"}"#,
        )
        .expect("valid");
        assert!(c.intel_rdt.is_some());
        assert_eq!(c.mount_label.as_deref(), Some("system_u:object_r:x:s0"));
    }
}
