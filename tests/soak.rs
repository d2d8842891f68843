//! Load and leaks: many full life cycles (create, start, exec, kill,
//! delete), one after another and 100 at once, with the open descriptors,
//! mounts, cgroup directories, state directories, processes and zombies
//! counted before and after: all must be equal.
//!
//! 200 sequential cycles by default; `BERTH_SOAK_CYCLES=1000` asks for more.
//! The figures are printed (`cargo test --test soak -- --nocapture`) and
//! recorded in docs/security.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Instant;

use common::Fixture;
use serde_json::json;

/// What a leak would leave behind, counted on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counts {
    /// Descriptors open in this test process and its descendants.
    fds: usize,
    /// Host mounts that mention the fixture's directory.
    mounts: usize,
    /// The fixture's cgroup directories, in every hierarchy.
    cgroups: usize,
    /// Container state directories in the fixture's `--root`.
    state_dirs: usize,
    /// Processes whose command line mentions the fixture (berth and
    /// anything it left running).
    processes: usize,
    /// Zombies among this test's descendants, and zombies whose parent
    /// mentions the fixture.
    zombies: usize,
}

/// Figures of the whole host, only printed: other work on the machine
/// moves them.
#[derive(Debug)]
#[allow(dead_code)] // printed through Debug
struct HostFigures {
    mounts: usize,
    zombies: usize,
    allocated_files: String,
}

fn stat_fields(pid: &str) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let mut it = after.split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    Some((state, ppid))
}

fn count_dirs(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| 1 + count_dirs(&e.path()))
        .sum()
}

fn counts(f: &Fixture) -> Counts {
    let me = std::process::id() as i32;
    let needle = f.dir.path().to_string_lossy().to_string();
    let mut procs: Vec<(String, char, i32, String)> = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Some((state, ppid)) = stat_fields(&name) else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        procs.push((
            name,
            state,
            ppid,
            String::from_utf8_lossy(&cmd).into_owned(),
        ));
    }
    // This process and its descendants.
    let mut ours: Vec<i32> = vec![me];
    loop {
        let before = ours.len();
        for (pid, _, ppid, _) in &procs {
            let pid: i32 = pid.parse().unwrap();
            if ours.contains(ppid) && !ours.contains(&pid) {
                ours.push(pid);
            }
        }
        if ours.len() == before {
            break;
        }
    }
    let fds = ours
        .iter()
        .map(|p| {
            std::fs::read_dir(format!("/proc/{p}/fd"))
                .map(|d| d.count())
                .unwrap_or(0)
        })
        .sum();
    let fixture_pids: Vec<i32> = procs
        .iter()
        .filter(|(_, _, _, cmd)| cmd.contains(&needle))
        .map(|(p, ..)| p.parse().unwrap())
        .collect();
    let zombies = procs
        .iter()
        .filter(|(_, st, ppid, _)| {
            *st == 'Z' && (ours.contains(ppid) || fixture_pids.contains(ppid))
        })
        .count();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&needle))
        .count();
    // The fixture's cgroups: `<prefix>/<name>` and `<prefix>/<name>.<id>`.
    let cgroups: usize = f
        .cgroup_dirs()
        .iter()
        .filter(|d| d.exists())
        .map(|d| 1 + count_dirs(d))
        .sum();
    let state_dirs = std::fs::read_dir(&f.root)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name() != "seccomp~cache")
                .count()
        })
        .unwrap_or(0);
    Counts {
        fds,
        mounts,
        cgroups,
        state_dirs,
        processes: fixture_pids.len(),
        zombies,
    }
}

fn host_figures() -> HostFigures {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    let zombies = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| stat_fields(&e.file_name().to_string_lossy()).is_some_and(|(s, _)| s == 'Z'))
        .count();
    HostFigures {
        mounts,
        zombies,
        allocated_files: std::fs::read_to_string("/proc/sys/fs/file-nr")
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// A bundle for container `id` sharing the fixture's root filesystem,
/// with a cgroup of its own.
fn bundle_for(f: &Fixture, id: &str) -> String {
    let dir = f.dir.path().join("bundles").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = f.config();
    c["root"] = json!({"path": f.rootfs(), "readonly": true});
    c["linux"]["cgroupsPath"] = json!(common::cgroup_path(&format!("{}.{id}", f.name)));
    std::fs::write(dir.join("config.json"), serde_json::to_vec(&c).unwrap()).unwrap();
    dir.to_string_lossy().into_owned()
}

/// Runs berth with `--root root`, asserting success; returns stdout.
/// (Not `Fixture::ok`, which is not shared between threads.) Output goes
/// through files: a created container keeps its stdio open.
fn ok(root: &Path, args: &[&str]) -> String {
    use std::io::{Read, Seek};
    let mut out = tempfile::tempfile().unwrap();
    let mut err = tempfile::tempfile().unwrap();
    let mut child = std::process::Command::new(common::berth_bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap();
    let status = common::wait_timeout(&mut child, common::TIMEOUT).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("berth {args:?} did not finish within {:?}", common::TIMEOUT)
    });
    let (mut o, mut e) = (String::new(), String::new());
    out.rewind().unwrap();
    out.read_to_string(&mut o).unwrap();
    err.rewind().unwrap();
    err.read_to_string(&mut e).unwrap();
    assert!(status.success(), "berth {args:?}: {status}\n{e}");
    o
}

/// One full life cycle of container `id`.
fn life_cycle(root: &Path, id: &str, bundle: &str) {
    ok(root, &["create", "--bundle", bundle, id]);
    ok(root, &["start", id]);
    assert_eq!(ok(root, &["exec", id, "echo", "in"]), "in\n");
    ok(root, &["kill", id, "KILL"]);
    ok(root, &["delete", "--force", id]);
}

/// Force-deletes the listed containers when dropped (a failed cycle must
/// not leave its container running).
struct Cleanup<'a>(&'a Path, Vec<String>);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for id in &self.1 {
            let _ = std::process::Command::new(common::berth_bin())
                .arg("--root")
                .arg(self.0)
                .args(["delete", "--force", id])
                .output();
        }
    }
}

fn report(what: &str, n: usize, started: Instant, before: &Counts, after: &Counts) {
    eprintln!(
        "soak: {what}: {n} life cycles in {:.1} s ({:.0} ms each)\n  before: {before:?}\n  after:  {after:?}\n  host:   {:?}",
        started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() * 1000.0 / n as f64,
        host_figures()
    );
}

/// The two tests count the same things: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn sequential_life_cycles_leak_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n: usize = std::env::var("BERTH_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let f = Fixture::new("soak-seq", &["sleep", "1000"]);
    let bundle = bundle_for(&f, "c");
    let before = counts(&f);
    eprintln!("soak: host before: {:?}", host_figures());
    let started = Instant::now();
    for i in 0..n {
        let id = format!("c{i}");
        let guard = Cleanup(&f.root, vec![id.clone()]);
        life_cycle(&f.root, &id, &bundle);
        std::mem::forget(guard);
    }
    let after = counts(&f);
    report("sequential", n, started, &before, &after);
    assert_eq!(before, after, "something leaked over {n} life cycles");
    f.assert_clean();
}

#[test]
fn parallel_life_cycles_leak_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const N: usize = 100;
    let f = Fixture::new("soak-par", &["sleep", "1000"]);
    let bundles: Vec<String> = (0..N).map(|i| bundle_for(&f, &format!("p{i}"))).collect();
    let ids: Vec<String> = (0..N).map(|i| format!("p{i}")).collect();
    let _cleanup = Cleanup(&f.root, ids.clone());
    let before = counts(&f);
    let started = Instant::now();
    std::thread::scope(|s| {
        for (id, b) in ids.iter().zip(&bundles) {
            let root = f.root.as_path();
            s.spawn(move || life_cycle(root, id, b));
        }
    });
    let after = counts(&f);
    report("parallel", N, started, &before, &after);
    assert_eq!(
        before, after,
        "something leaked over {N} parallel life cycles"
    );
    f.assert_clean();
}
