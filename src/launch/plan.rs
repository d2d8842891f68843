//! Pure planning of how the container's namespaces come into being.
//!
//! The kernel's rules shape the plan:
//! - `CLONE_NEWPID` and `CLONE_NEWTIME` (and `setns` into a PID or time
//!   namespace) affect only *children* of the caller. berth applies joins of
//!   those two in the parent right before `clone3`, and creates a new time
//!   namespace there too so that its offsets can be written before any
//!   process enters it.
//! - New namespaces must be owned by the container's user namespace, so a
//!   joined user namespace must be entered before anything is created, and
//!   namespaces joined by path must be entered while the process still has
//!   the host's privileges.
//! - A cgroup namespace must be created after the process is in its cgroup.
//!
//! The common case (everything new, or joins only of PID/time) is a single
//! `clone3` with every flag. Only a PID namespace that must be created after
//! a `setns`/`unshare` of the user namespace needs a second fork.

use std::path::PathBuf;

use nix::sched::CloneFlags;

use crate::spec::{Config, NsKind};

/// The namespace steps of one launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsPlan {
    /// Namespaces the parent joins (PID, time) before `clone3`, so the
    /// child is born inside them.
    pub parent_joins: Vec<(NsKind, PathBuf)>,
    /// The parent unshares a time namespace and writes its offsets.
    pub parent_new_time: bool,
    /// Flags for `clone3`.
    pub clone_flags: CloneFlags,
    /// Namespaces the child joins, in order (user first).
    pub child_joins: Vec<(NsKind, PathBuf)>,
    /// Namespaces the child creates with `unshare` after joining.
    pub child_unshare: CloneFlags,
    /// The child must fork once more (a new PID namespace was unshared).
    pub fork: bool,
    /// The parent must write uid/gid maps for the child.
    pub write_maps: bool,
    /// The child unshares its cgroup namespace once it is in its cgroup.
    pub late_cgroupns: bool,
    /// The parent moves network devices into the child's network namespace
    /// (`linux.netDevices`) before the child goes on.
    pub move_netdevs: bool,
}

impl NsPlan {
    /// Plans the namespaces of `config`. `clone_into_cgroup` says whether
    /// the child is born in its cgroup (cgroup v2), so a new cgroup
    /// namespace can be created by `clone3` itself.
    pub fn new(config: &Config, clone_into_cgroup: bool) -> Self {
        let mut plan = NsPlan {
            parent_joins: Vec::new(),
            parent_new_time: false,
            clone_flags: CloneFlags::empty(),
            child_joins: Vec::new(),
            child_unshare: CloneFlags::empty(),
            fork: false,
            write_maps: config.new_userns(),
            late_cgroupns: false,
            move_netdevs: !config.net_devices.is_empty(),
        };
        let ns = |k: NsKind| config.namespace(k);
        let userns_involved = ns(NsKind::User).is_some();

        for kind in NsKind::ALL {
            let Some(n) = ns(kind) else { continue };
            match (&n.path, kind) {
                (Some(p), NsKind::Pid | NsKind::Time) => plan.parent_joins.push((kind, p.clone())),
                (Some(p), _) => plan.child_joins.push((kind, p.clone())),
                (None, NsKind::Time) => plan.parent_new_time = true,
                (None, _) => {}
            }
        }
        // Keep user first among the child's joins.
        plan.child_joins.sort_by_key(|(k, _)| *k != NsKind::User);

        let mut new: CloneFlags = CloneFlags::empty();
        for kind in [
            NsKind::User,
            NsKind::Mount,
            NsKind::Pid,
            NsKind::Net,
            NsKind::Ipc,
            NsKind::Uts,
            NsKind::Cgroup,
        ] {
            if ns(kind).is_some_and(|n| n.path.is_none()) {
                new |= kind.flag();
            }
        }
        if !clone_into_cgroup && new.contains(CloneFlags::CLONE_NEWCGROUP) {
            new.remove(CloneFlags::CLONE_NEWCGROUP);
            plan.late_cgroupns = true;
        }

        if plan.child_joins.is_empty() || !userns_involved {
            // No join has to precede the creation of a user namespace: one
            // clone3 creates everything. (Without a user namespace the
            // child keeps the host's privileges, so it can join after.)
            plan.clone_flags = new;
        } else {
            // Join first (user namespace first), then create the rest owned
            // by the right user namespace. A new PID namespace made this way
            // only applies to children: fork once more.
            plan.child_unshare = new;
            plan.fork = new.contains(CloneFlags::CLONE_NEWPID);
        }
        plan
    }

    /// Whether the child must wait for the parent before setting anything
    /// up: for its id maps, its network devices, or to be placed in its
    /// cgroup.
    pub fn child_waits_for_parent(&self, placed_by_clone: bool) -> bool {
        self.write_maps || self.move_netdevs || !placed_by_clone
    }

    /// Whether the child itself creates the user namespace (so the parent
    /// writes the maps only after hearing from it).
    pub fn child_creates_userns(&self) -> bool {
        self.child_unshare.contains(CloneFlags::CLONE_NEWUSER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(ns: &str, extra: &str) -> Config {
        let json = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"r"}},"linux":{{"namespaces":[{ns}]{extra}}},
            "process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}}}}"#
        );
        crate::spec::build(
            crate::spec::parse(json.as_bytes()).expect("parse"),
            Path::new("/b"),
        )
        .expect("valid")
    }

    const MAPS: &str = r#","uidMappings":[{"containerID":0,"hostID":1000,"size":1}],"gidMappings":[{"containerID":0,"hostID":1000,"size":1}]"#;

    #[test]
    fn all_new_is_one_clone() {
        let c = config(
            r#"{"type":"pid"},{"type":"mount"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"cgroup"}"#,
            "",
        );
        let p = NsPlan::new(&c, true);
        assert!(p.clone_flags.contains(
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWCGROUP
        ));
        assert!(p.child_joins.is_empty() && p.parent_joins.is_empty());
        assert!(!p.fork && !p.late_cgroupns && !p.write_maps);
    }

    #[test]
    fn cgroupns_waits_for_placement_on_v1() {
        let c = config(r#"{"type":"cgroup"},{"type":"mount"}"#, "");
        let p = NsPlan::new(&c, false);
        assert!(!p.clone_flags.contains(CloneFlags::CLONE_NEWCGROUP));
        assert!(p.late_cgroupns);
        assert!(p.child_waits_for_parent(false));
    }

    #[test]
    fn joined_pid_and_time_go_to_the_parent() {
        let c = config(
            r#"{"type":"pid","path":"/proc/1/ns/pid"},{"type":"time","path":"/proc/1/ns/time"},{"type":"mount"}"#,
            "",
        );
        let p = NsPlan::new(&c, true);
        assert_eq!(p.parent_joins.len(), 2);
        assert_eq!(p.clone_flags, CloneFlags::CLONE_NEWNS);
        assert!(!p.fork);
    }

    #[test]
    fn new_userns_with_joined_netns_unshares_after_joining() {
        let c = config(
            r#"{"type":"user"},{"type":"network","path":"/run/netns/x"},{"type":"pid"},{"type":"mount"}"#,
            MAPS,
        );
        let p = NsPlan::new(&c, true);
        assert!(p.clone_flags.is_empty());
        assert_eq!(
            p.child_joins,
            vec![(NsKind::Net, PathBuf::from("/run/netns/x"))]
        );
        assert!(
            p.child_unshare
                .contains(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWPID)
        );
        assert!(p.fork && p.write_maps && p.child_creates_userns());
    }

    #[test]
    fn joined_userns_goes_first() {
        let c = config(
            r#"{"type":"network","path":"/n"},{"type":"user","path":"/u"},{"type":"mount"}"#,
            "",
        );
        let p = NsPlan::new(&c, true);
        assert_eq!(p.child_joins[0].0, NsKind::User);
        assert_eq!(p.child_unshare, CloneFlags::CLONE_NEWNS);
        assert!(!p.fork && !p.write_maps);
    }

    #[test]
    fn rootless_style_userns_is_one_clone() {
        let c = config(r#"{"type":"user"},{"type":"pid"},{"type":"mount"}"#, MAPS);
        let p = NsPlan::new(&c, true);
        assert!(
            p.clone_flags
                .contains(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWPID)
        );
        assert!(p.write_maps && !p.fork && p.child_waits_for_parent(true));
    }

    #[test]
    fn net_devices_make_the_child_wait() {
        let c = config(
            r#"{"type":"network"},{"type":"mount"}"#,
            r#","netDevices":{"veth0":{}}"#,
        );
        let p = NsPlan::new(&c, true);
        assert!(p.move_netdevs && p.child_waits_for_parent(true));
        let c = config(r#"{"type":"network"},{"type":"mount"}"#, "");
        assert!(!NsPlan::new(&c, true).child_waits_for_parent(true));
    }

    #[test]
    fn new_time_namespace_is_made_by_the_parent() {
        let c = config(
            r#"{"type":"time"}"#,
            r#","timeOffsets":{"monotonic":{"secs":5}}"#,
        );
        let p = NsPlan::new(&c, true);
        assert!(p.parent_new_time);
        assert!(p.clone_flags.is_empty());
    }
}
