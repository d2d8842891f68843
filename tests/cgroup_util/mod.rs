//! Helpers shared by the cgroup integration tests (`tests/cgroups.rs`,
//! `tests/cgroup_commands.rs`): where the container's cgroup files are, on
//! the host and inside the container, for whichever mode this host has.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth::cgroups::Mode;
use serde_json::Value;

use crate::common::{Fixture, cgroup_path};

/// The host's cgroup mode.
pub fn mode() -> Mode {
    berth::cgroups::detect_mode()
}

pub fn unified() -> bool {
    mode() == Mode::Unified
}

/// The name of the v1 hierarchy directory under /sys/fs/cgroup carrying
/// `controller` (`cpu`, `cpu,cpuacct`...); `unified` for "" on hybrid.
pub fn hierarchy(controller: &str) -> String {
    if controller.is_empty() {
        return "unified".into();
    }
    for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let real = e.file_type().is_ok_and(|t| t.is_dir());
        if real && (name.split(',').any(|c| c == controller) || name == controller) {
            return name;
        }
    }
    panic!("no v1 hierarchy for {controller}")
}

/// The container's cgroup directory for `controller` on the host.
pub fn host_dir(f: &Fixture, controller: &str) -> PathBuf {
    let rel = cgroup_path(&f.name);
    let rel = rel.trim_start_matches('/');
    if unified() {
        PathBuf::from("/sys/fs/cgroup").join(rel)
    } else {
        PathBuf::from("/sys/fs/cgroup")
            .join(hierarchy(controller))
            .join(rel)
    }
}

/// A file of the container's cgroup, read on the host (trimmed).
pub fn host_read(f: &Fixture, controller: &str, file: &str) -> String {
    let p = host_dir(f, controller).join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The path of a cgroup file as the container sees it (its own cgroup
/// namespace and `cgroup` mount).
pub fn inside(controller: &str, file: &str) -> String {
    if unified() {
        format!("/sys/fs/cgroup/{file}")
    } else {
        format!("/sys/fs/cgroup/{}/{file}", hierarchy(controller))
    }
}

/// A shell script printing each file as `== path` then its content.
pub fn dump_script(files: &[String]) -> String {
    files
        .iter()
        .map(|f| format!("echo '== {f}'; cat {f} || echo MISSING;"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses `dump_script` output into (path, content) pairs.
pub fn parse_dump(out: &str) -> std::collections::HashMap<String, String> {
    let mut map = std::collections::HashMap::new();
    let mut cur: Option<(String, String)> = None;
    for line in out.lines() {
        if let Some(p) = line.strip_prefix("== ") {
            if let Some((k, v)) = cur.take() {
                map.insert(k, v.trim().to_string());
            }
            cur = Some((p.to_string(), String::new()));
        } else if let Some((_, v)) = cur.as_mut() {
            v.push_str(line);
            v.push('\n');
        }
    }
    if let Some((k, v)) = cur {
        map.insert(k, v.trim().to_string());
    }
    map
}

/// Sets `linux.resources` of the fixture's config.
pub fn set_resources(f: &Fixture, r: Value) {
    f.edit(|c| c["linux"]["resources"] = r);
}

/// Polls `cond` every 20 ms until it holds; panics after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A block device of this machine, as (major, minor), for blkio/io.max.
pub fn block_device() -> (u32, u32) {
    let mut devs: Vec<(String, (u32, u32))> = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
            let (a, b) = dev.trim().split_once(':')?;
            Some((name, (a.parse().ok()?, b.parse().ok()?)))
        })
        .collect();
    devs.sort();
    devs.first()
        .map(|d| d.1)
        .expect("no block device in /sys/block (the VM runner loads the loop module)")
}

/// The container's init PID from `state`.
pub fn init_pid(f: &Fixture, id: &str) -> i32 {
    f.state(id)["pid"].as_i64().unwrap() as i32
}

/// Whether a v1 hierarchy carries `controller` on this host.
pub fn v1_has(controller: &str) -> bool {
    std::fs::read_dir("/sys/fs/cgroup")
        .map(|d| {
            d.flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                e.file_type().is_ok_and(|t| t.is_dir()) && name.split(',').any(|c| c == controller)
            })
        })
        .unwrap_or(false)
}

/// The v1 blkio weight file this kernel has: CFQ's `blkio.weight` or BFQ's
/// `blkio.bfq.weight` (neither without those I/O schedulers). BFQ's file
/// is not in the root cgroup, so a child is made to look.
pub fn v1_blkio_weight_file() -> Option<&'static str> {
    let dir = PathBuf::from("/sys/fs/cgroup")
        .join(hierarchy("blkio"))
        .join(format!("berth-probe-{}", std::process::id()));
    let _ = std::fs::create_dir(&dir);
    let found = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| dir.join(f).exists());
    let _ = std::fs::remove_dir(&dir);
    found
}

/// Whether v1 real-time group scheduling exists (`cpu.rt_period_us`).
pub fn v1_has_rt_sched() -> bool {
    PathBuf::from("/sys/fs/cgroup")
        .join(hierarchy("cpu"))
        .join("cpu.rt_period_us")
        .exists()
}
