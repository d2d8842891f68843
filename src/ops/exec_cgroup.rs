//! `exec --cgroup`: the existing sub-cgroups an exec'd process goes into,
//! below the cgroups of the container's init. Read from the kernel
//! (`/proc/<init>/cgroup` and the cgroup mounts), not from berth's record,
//! so it works with whatever manager created the container.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::{OpsError, Result};

/// One hierarchy the init is in: its controllers (`[""]` for cgroup2) and
/// the init's directory in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitCgroup {
    pub controllers: Vec<String>,
    pub dir: PathBuf,
}

/// Where the exec'd process goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubPlacement {
    /// cgroup2 directory to clone into (unified hosts only).
    pub clone_into: Option<PathBuf>,
    /// Directories whose `cgroup.procs` receive the PID.
    pub procs: Vec<PathBuf>,
}

/// The init's cgroups from `/proc/<pid>/cgroup` content and the cgroup
/// mounts of `/proc/self/mountinfo` content. Pure.
pub fn init_cgroups(proc_cgroup: &str, mountinfo: &str) -> Vec<InitCgroup> {
    let mounts: Vec<(Vec<String>, PathBuf)> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut r = right.split_whitespace();
            let fstype = r.next()?;
            let opts = r.nth(1).unwrap_or("");
            let point = PathBuf::from(left.split_whitespace().nth(4)?);
            match fstype {
                "cgroup2" => Some((vec![String::new()], point)),
                "cgroup" => Some((opts.split(',').map(str::to_string).collect(), point)),
                _ => None,
            }
        })
        .collect();
    let mut out = Vec::new();
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let controllers: Vec<String> = if ctrls.is_empty() {
            vec![String::new()]
        } else {
            ctrls.split(',').map(str::to_string).collect()
        };
        let Some((_, point)) = mounts.iter().find(|(opts, _)| {
            controllers
                .iter()
                .all(|c| opts.iter().any(|o| o == c) || (c.is_empty() && opts[0].is_empty()))
        }) else {
            continue;
        };
        out.push(InitCgroup {
            controllers,
            dir: point.join(path.trim_start_matches('/')),
        });
    }
    out
}

/// Joins `sub` below `base`, refusing anything that would leave it.
fn below(base: &Path, sub: &str) -> Result<PathBuf> {
    let mut out = base.to_path_buf();
    for c in Path::new(sub).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(OpsError::Invalid(format!("bad sub cgroup path: {sub}")));
            }
        }
    }
    Ok(out)
}

/// Decides the placement for `subs` (from `--cgroup`). `unified` is true on
/// a host with only cgroup2. Pure.
pub fn place(
    init: &[InitCgroup],
    subs: &BTreeMap<String, String>,
    unified: bool,
) -> Result<SubPlacement> {
    for ctrl in subs.keys().filter(|c| !c.is_empty()) {
        if !init.iter().any(|h| h.controllers.contains(ctrl)) {
            return Err(OpsError::Invalid(format!(
                "unknown controller {ctrl} in --cgroup"
            )));
        }
    }
    let all = subs.get("");
    let mut procs = Vec::new();
    for h in init {
        let sub = all.or_else(|| h.controllers.iter().find_map(|c| subs.get(c)));
        procs.push(match sub {
            Some(s) => below(&h.dir, s)?,
            None => h.dir.clone(),
        });
    }
    if unified && procs.len() == 1 {
        return Ok(SubPlacement {
            clone_into: procs.pop(),
            procs,
        });
    }
    Ok(SubPlacement {
        clone_into: None,
        procs,
    })
}

/// Reads the init's cgroups from the kernel.
pub fn read_init_cgroups(init: i32) -> Result<Vec<InitCgroup>> {
    let path = format!("/proc/{init}/cgroup");
    let cg = std::fs::read_to_string(&path).map_err(OpsError::io(path))?;
    let mi = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(OpsError::io("/proc/self/mountinfo"))?;
    Ok(init_cgroups(&cg, &mi))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
";
    const CGROUP: &str = "\
5:memory:/berth/c1
4:cpu,cpuacct:/berth/c1
1:name=systemd:/berth/c1
0::/berth/c1
";

    #[test]
    fn finds_every_hierarchy_of_the_init() {
        let h = init_cgroups(CGROUP, MOUNTINFO);
        assert_eq!(h.len(), 4);
        assert_eq!(h[0].dir, PathBuf::from("/sys/fs/cgroup/memory/berth/c1"));
        assert_eq!(
            h[1].dir,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/berth/c1")
        );
        assert_eq!(h[2].dir, PathBuf::from("/sys/fs/cgroup/systemd/berth/c1"));
        assert_eq!(h[3].dir, PathBuf::from("/sys/fs/cgroup/unified/berth/c1"));
    }

    #[test]
    fn sub_cgroups_per_controller_or_for_all() {
        let h = init_cgroups(CGROUP, MOUNTINFO);
        let subs: BTreeMap<String, String> = [("cpu".to_string(), "x/y".to_string())].into();
        let p = place(&h, &subs, false).expect("ok");
        assert_eq!(p.clone_into, None);
        assert!(
            p.procs
                .contains(&PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/berth/c1/x/y"))
        );
        assert!(
            p.procs
                .contains(&PathBuf::from("/sys/fs/cgroup/memory/berth/c1"))
        );
        let subs: BTreeMap<String, String> = [(String::new(), "s".to_string())].into();
        let p = place(&h, &subs, false).expect("ok");
        assert!(p.procs.iter().all(|d| d.ends_with("berth/c1/s")));
        let bad: BTreeMap<String, String> = [(String::new(), "../../x".to_string())].into();
        assert!(place(&h, &bad, false).is_err());
        let unknown: BTreeMap<String, String> = [("rdma".to_string(), "s".to_string())].into();
        assert!(place(&h, &unknown, false).is_err());
    }

    #[test]
    fn unified_hosts_clone_into_the_sub_cgroup() {
        let mi = "31 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let h = init_cgroups("0::/c1\n", mi);
        let subs: BTreeMap<String, String> = [(String::new(), "s".to_string())].into();
        let p = place(&h, &subs, true).expect("ok");
        assert_eq!(p.clone_into, Some(PathBuf::from("/sys/fs/cgroup/c1/s")));
        assert!(p.procs.is_empty());
    }
}
