//! Side-by-side benchmark of berth, runc and crun on identical busybox
//! bundles, in one run, alternating the runtimes run by run (A B C A B C…)
//! so machine drift hits all of them equally. Reports medians, min and max
//! and the berth/crun and berth/runc ratios. It never asserts a time.
//!
//! `sudo cargo bench --bench runtimes` (add `-- --quick` for the CI smoke
//! run, `-- --out FILE` to also write the Markdown report to a file,
//! `-- --disk-state` to keep the state roots on disk instead of a tmpfs,
//! `-- --callers-only` for the end-to-end rows through containerd and
//! Docker alone, which only the full mode runs). See docs/performance.md.
//!
//! crun 1.8.1 refuses hybrid cgroups, so every runtime runs inside one
//! private mount namespace whose /sys/fs/cgroup is a tmpfs holding bind
//! mounts of the v1 hierarchies only (no `unified`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../callers/mod.rs"]
mod callers;
#[path = "../common/mod.rs"]
mod common;
#[path = "../callers/dockerd.rs"]
mod dockerd;
mod e2e;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::mount::{MsFlags, mount, umount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::Pid;
use serde_json::json;

use berth::sys::wait::{Exit, wait4};

/// GNU time, for the peak RSS of each subcommand.
const TIME: &str = "/usr/bin/time";

/// One runtime under test.
struct Runtime {
    name: &'static str,
    bin: PathBuf,
    root: PathBuf,
}

/// One measured command.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    exit: Exit,
}

impl Runtime {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// Runs one subcommand under GNU time and returns its peak RSS.
    fn peak_rss_kib(&self, args: &[&str]) -> f64 {
        let out = tempfile::NamedTempFile::new().unwrap();
        let st = Command::new(TIME)
            .args(["-f", "%M", "-o"])
            .arg(out.path())
            .arg(&self.bin)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{} {args:?} under {TIME} failed", self.name);
        std::fs::read_to_string(out.path())
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Runs one subcommand, timing it and reading its rusage. The child is
    /// reaped by `wait4` (which std's `Child` cannot do with rusage).
    #[allow(clippy::zombie_processes)]
    fn time(&self, args: &[&str]) -> Sample {
        let start = Instant::now();
        let mut child = self
            .command(args)
            .spawn()
            .unwrap_or_else(|e| panic!("{} {args:?}: {e}", self.name));
        let stderr = child.stderr.take();
        let exit = wait4(Pid::from_raw(child.id() as i32)).unwrap();
        let wall = start.elapsed();
        if exit.code != 0 {
            let mut msg = String::new();
            if let Some(mut e) = stderr {
                let _ = std::io::Read::read_to_string(&mut e, &mut msg);
            }
            panic!("{} {args:?} exited {}: {msg}", self.name, exit.code);
        }
        Sample { wall, exit }
    }
}

/// The phases of one create/start/wait/delete cycle.
struct Cycle {
    total: Duration,
    create: Sample,
    start: Sample,
    delete: Sample,
}

fn bundle_dir(work: &Path, rt: &str, worker: usize) -> PathBuf {
    work.join(format!("bundle-{rt}-{worker}"))
}

/// create + start + wait for exit + delete of a `/bin/true` container.
fn cycle(rt: &Runtime, work: &Path, worker: usize, n: usize) -> Cycle {
    cycle_of(rt, work, &bundle_dir(work, rt.name, worker), "d", worker, n)
}

/// [`cycle`] on the bundle `bundle`; `tag` keeps the IDs of shapes apart.
fn cycle_of(rt: &Runtime, work: &Path, bundle: &Path, tag: &str, worker: usize, n: usize) -> Cycle {
    let id = format!("{}-{tag}-{worker}-{n}", rt.name);
    let pid_file = work.join(format!("{id}.pid"));
    let t0 = Instant::now();
    let create = rt.time(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let pid = read_pid(&pid_file);
    let start = rt.time(&["start", &id]);
    // We are a child subreaper: the init was reparented to us.
    let _ = wait4(Pid::from_raw(pid));
    let delete = rt.time(&["delete", &id]);
    let total = t0.elapsed();
    let _ = std::fs::remove_file(&pid_file);
    Cycle {
        total,
        create,
        start,
        delete,
    }
}

/// The VmRSS of `pid` once it has settled, blocked in the wait at the
/// gate: berth's init in `poll`, crun's in `pselect6`, runc's in the
/// `openat` of `exec.fifo` (`/proc/PID/syscall`, which reads `running`
/// while it runs). Sampling right after `create` returns often catches
/// the process before it has released its memory. Gives up waiting after
/// 2 s and samples anyway.
fn settled_rss_kib(pid: i32) -> f64 {
    const WAITS: [&str; 6] = ["7", "271", "270", "23", "257", "2"];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let call = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        let nr = call.split_whitespace().next().unwrap_or_default();
        if WAITS.contains(&nr) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    vm_rss_kib(pid) as f64
}

fn vm_rss_kib(pid: i32) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

/// Reaps whatever zombies runtimes left reparented to us.
fn reap_strays() {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    while let Ok(st) = waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
        if st == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Statistics of a series, in milliseconds (or KiB for memory).
fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (med, v[0], v[v.len() - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Rows of the report: metric name → per-runtime series.
struct Report {
    names: Vec<&'static str>,
    rows: Vec<(String, String, Vec<Vec<f64>>)>,
}

impl Report {
    fn add(&mut self, metric: &str, unit: &str, series: Vec<Vec<f64>>) {
        self.rows
            .push((metric.to_string(), unit.to_string(), series));
    }

    fn markdown(&self) -> String {
        let mut out = String::from("| metric | ");
        for n in &self.names {
            out.push_str(&format!("{n} median (min–max) | "));
        }
        out.push_str("berth/crun | berth/runc |\n|---|");
        for _ in &self.names {
            out.push_str("---|");
        }
        out.push_str("---|---|\n");
        for (metric, unit, series) in &self.rows {
            let meds: Vec<f64> = series.iter().map(|s| stats(s.clone()).0).collect();
            out.push_str(&format!("| {metric} ({unit}) | "));
            for s in series {
                let (med, min, max) = stats(s.clone());
                out.push_str(&format!("{} ({}–{}) | ", fmt(med), fmt(min), fmt(max)));
            }
            let ratio = |i: usize| {
                if meds[i] > 0.0 {
                    format!("{:.2}", meds[0] / meds[i])
                } else {
                    "n/a".into()
                }
            };
            out.push_str(&format!("{} | {} |\n", ratio(2), ratio(1)));
        }
        out
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Makes /sys/fs/cgroup show only the v1 hierarchies, in a private mount
/// namespace of this process (crun refuses the hybrid layout).
fn isolate_cgroups(work: &Path) {
    unshare(CloneFlags::CLONE_NEWNS).expect("unshare mount namespace");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .unwrap();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let v1: Vec<String> = mountinfo
        .lines()
        .filter(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|r| r.starts_with("cgroup "))
        })
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|mp| mp.starts_with("/sys/fs/cgroup/"))
        .collect();
    let staging = work.join("cgroup-staging");
    std::fs::create_dir_all(&staging).unwrap();
    for mp in &v1 {
        let name = Path::new(mp).file_name().unwrap();
        std::fs::create_dir_all(staging.join(name)).unwrap();
        mount(
            Some(mp.as_str()),
            &staging.join(name),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
    }
    mount(
        Some("tmpfs"),
        "/sys/fs/cgroup",
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=755"),
    )
    .unwrap();
    for mp in &v1 {
        let name = Path::new(mp).file_name().unwrap();
        std::fs::create_dir_all(Path::new(mp)).unwrap();
        mount(
            Some(&staging.join(name)),
            mp.as_str(),
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .unwrap();
    }
    let _ = umount(&staging);
}

fn ensure_installed(bin: &str, package: &str) {
    if Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return;
    }
    eprintln!("bench: installing {package}");
    let st = Command::new("apt-get")
        .args(["install", "-y", "-q", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .unwrap();
    assert!(st.success(), "apt-get install {package} failed");
}

fn make_bundles(work: &Path, runtimes: &[Runtime], workers: usize) {
    let rootfs = make_rootfs(work);
    for rt in runtimes {
        for w in 0..workers {
            let dir = bundle_dir(work, rt.name, w);
            std::fs::create_dir_all(&dir).unwrap();
            // runc's default config (berth's template is the same), with
            // /bin/true and a cgroup of the bench's own.
            let mut c = berth::spec::template::default_config(false, 0, 0);
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(["/bin/true"]);
            c["root"]["path"] = json!(rootfs);
            c["hostname"] = json!("bench");
            c["linux"]["cgroupsPath"] = json!(format!(
                "/berth-bench-{}/{}-{w}",
                std::process::id(),
                rt.name
            ));
            std::fs::write(
                dir.join("config.json"),
                serde_json::to_vec_pretty(&c).unwrap(),
            )
            .unwrap();
        }
        make_docker_bundles(work, rt.name);
        make_cri_sandbox(work, rt.name);
    }
}

/// youki's published method: `create; start; delete -f` in a loop, without
/// waiting for the container to exit. Returns the wall time of the three.
fn youki_cycle(rt: &Runtime, bundle: &Path, tag: &str, n: usize) -> Duration {
    let id = format!("{}-{tag}-y-{n}", rt.name);
    let t0 = Instant::now();
    rt.time(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    rt.time(&["start", &id]);
    rt.time(&["delete", "-f", &id]);
    let total = t0.elapsed();
    reap_strays();
    total
}

/// The busybox root filesystem every bundle shares, with the files the
/// callers' bind mounts target (created once, so no runtime races to
/// create them).
fn make_rootfs(work: &Path) -> PathBuf {
    let rootfs = work.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for l in ["true", "sh", "sleep"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(l)).unwrap();
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    for f in ["resolv.conf", "hostname", "hosts"] {
        std::fs::write(rootfs.join("etc").join(f), "").unwrap();
    }
    // The host side of the callers' bind mounts.
    let host = work.join("host-files");
    std::fs::create_dir_all(host.join("shm")).unwrap();
    std::fs::write(host.join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
    std::fs::write(host.join("hostname"), "bench\n").unwrap();
    std::fs::write(host.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    rootfs
}

/// Points a captured config at the bench's rootfs, host files and cgroup.
fn rewrite_captured(c: &mut serde_json::Value, work: &Path, args: &[&str], cgroup: &str) {
    let host = work.join("host-files");
    c["root"]["path"] = json!(work.join("rootfs"));
    c["process"]["args"] = json!(args);
    c["linux"]["cgroupsPath"] = json!(format!("/berth-bench-{}/{cgroup}", std::process::id()));
    if let Some(mounts) = c["mounts"].as_array_mut() {
        for m in mounts {
            if m["type"] != "bind" {
                continue;
            }
            let dest = m["destination"].as_str().unwrap_or_default().to_string();
            let name = match dest.as_str() {
                "/dev/shm" => "shm",
                d => d.rsplit('/').next().unwrap_or_default(),
            };
            m["source"] = json!(host.join(name));
        }
    }
}

fn write_config(dir: &Path, c: &serde_json::Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(c).unwrap(),
    )
    .unwrap();
}

/// The Docker-shaped bundles of `rt`: `config.json` as dockerd 20.10 sent
/// it (default seccomp profile, 14 capabilities, masked and read-only
/// paths, a `cgroup` mount, three bind mounts from the host), running
/// `/bin/true` (`docker-<rt>`) or `sleep` (`docker-exec-<rt>`, for exec).
fn make_docker_bundles(work: &Path, rt: &str) {
    let captured: serde_json::Value =
        serde_json::from_str(include_str!("../data/docker/config.json")).unwrap();
    let mut c = captured.clone();
    rewrite_captured(&mut c, work, &["/bin/true"], &format!("docker-{rt}"));
    write_config(&work.join(format!("docker-{rt}")), &c);
    let mut c = captured;
    rewrite_captured(
        &mut c,
        work,
        &["sleep", "1000000"],
        &format!("docker-exec-{rt}"),
    );
    write_config(&work.join(format!("docker-exec-{rt}")), &c);
}

/// The CRI-shaped bundles of `rt`: containerd 1.6's sandbox (`cri-sandbox-
/// <rt>`, running `sleep` as the pause process) and a container of the pod
/// (`cri-<rt>`, `/bin/true`) that joins the sandbox's IPC, UTS and network
/// namespaces by path, once the sandbox runs with PID `sandbox_pid`. The
/// container keeps a PID namespace of its own (Kubernetes' default): the
/// bench's sandbox does not reap orphans as the real pause process does.
fn make_cri_sandbox(work: &Path, rt: &str) {
    let mut c: serde_json::Value =
        serde_json::from_str(include_str!("../data/cri/sandbox.json")).unwrap();
    rewrite_captured(
        &mut c,
        work,
        &["sleep", "1000000"],
        &format!("cri-sandbox-{rt}"),
    );
    write_config(&work.join(format!("cri-sandbox-{rt}")), &c);
}

fn make_cri_container(work: &Path, rt: &str, sandbox_pid: i32) {
    let mut c: serde_json::Value =
        serde_json::from_str(include_str!("../data/cri/container.json")).unwrap();
    rewrite_captured(&mut c, work, &["/bin/true"], &format!("cri-{rt}"));
    for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
        let kind = ns["type"].as_str().unwrap_or_default().to_string();
        let file = match kind.as_str() {
            "ipc" => "ipc",
            "uts" => "uts",
            "network" => "net",
            _ => {
                ns.as_object_mut().unwrap().remove("path");
                continue;
            }
        };
        ns["path"] = json!(format!("/proc/{sandbox_pid}/ns/{file}"));
    }
    write_config(&work.join(format!("cri-{rt}")), &c);
}

fn read_pid(file: &Path) -> i32 {
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

struct Counts {
    rss: usize,
    cycles: usize,
    runs: usize,
    states: usize,
    sequential: usize,
    rounds: usize,
    parallel: usize,
    /// youki-method loops and life cycles per captured shape.
    shapes: usize,
    execs: usize,
    exec_rounds: usize,
    concurrent_execs: usize,
    /// end-to-end runs per runtime and caller (0: not measured).
    e2e: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; ignore it.
    let quick = args.iter().any(|a| a == "--quick");
    let disk_state = args.iter().any(|a| a == "--disk-state");
    let callers_only = args.iter().any(|a| a == "--callers-only");
    let out_file = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .cloned();
    assert!(
        nix::unistd::geteuid().is_root(),
        "the benchmark creates containers: run it as root"
    );
    let counts = if quick {
        Counts {
            rss: 2,
            cycles: 3,
            runs: 3,
            states: 5,
            sequential: 5,
            rounds: 1,
            parallel: 10,
            shapes: 3,
            execs: 5,
            exec_rounds: 1,
            concurrent_execs: 10,
            // `--callers-only` measures them in any mode.
            e2e: if callers_only { 20 } else { 0 },
        }
    } else {
        Counts {
            rss: 10,
            cycles: 30,
            runs: 30,
            states: 50,
            sequential: 50,
            rounds: 3,
            parallel: 10,
            shapes: 30,
            execs: 30,
            exec_rounds: 10,
            concurrent_execs: 10,
            e2e: 20,
        }
    };
    ensure_installed("runc", "runc");
    ensure_installed("crun", "crun");
    ensure_installed(TIME, "time");

    let work = tempfile::Builder::new()
        .prefix("berth-bench-")
        .tempdir()
        .unwrap();
    let berth_bin = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
    let runtimes = vec![
        Runtime {
            name: "berth",
            bin: berth_bin,
            root: work.path().join("state/root-berth"),
        },
        Runtime {
            name: "runc",
            bin: "runc".into(),
            root: work.path().join("state/root-runc"),
        },
        Runtime {
            name: "crun",
            bin: "crun".into(),
            root: work.path().join("state/root-crun"),
        },
    ];
    make_bundles(work.path(), &runtimes, counts.parallel);
    isolate_cgroups(work.path());
    // The runtimes' state roots on a tmpfs, as /run is on a normal host
    // (here /run is on the VM's disk, whose synchronous discards and cache
    // flushes would swamp what is measured), unless --disk-state.
    let state_roots = work.path().join("state");
    std::fs::create_dir_all(&state_roots).unwrap();
    if !disk_state {
        mount(
            Some("tmpfs"),
            &state_roots,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("mode=700"),
        )
        .unwrap();
    }
    nix::sys::prctl::set_child_subreaper(true).unwrap();

    let n = runtimes.len();
    let mut report = Report {
        names: runtimes.iter().map(|r| r.name).collect(),
        rows: Vec::new(),
    };
    let empty = || vec![Vec::<f64>::new(); n];

    // Warm-up: one cycle each (page cache, first cgroup directories).
    for rt in &runtimes {
        cycle(rt, work.path(), 0, 0);
    }

    if !callers_only {
        // 1. create + start + wait + delete, alternating.
        let (mut total, mut create, mut start, mut delete, mut cpu) =
            (empty(), empty(), empty(), empty(), empty());
        for i in 0..counts.cycles {
            for (r, rt) in runtimes.iter().enumerate() {
                let c = cycle(rt, work.path(), 0, i + 1);
                total[r].push(ms(c.total));
                create[r].push(ms(c.create.wall));
                start[r].push(ms(c.start.wall));
                delete[r].push(ms(c.delete.wall));
                cpu[r].push(ms(c.create.exit.cpu + c.start.exit.cpu + c.delete.exit.cpu));
            }
        }
        reap_strays();
        report.add("life cycle: create+start+wait+delete", "ms", total);
        report.add("  create", "ms", create);
        report.add("  start", "ms", start);
        report.add("  delete", "ms", delete);
        report.add("  CPU time of create+start+delete", "ms", cpu);

        // 2. run of /bin/true.
        let (mut run, mut run_cpu) = (empty(), empty());
        for i in 0..counts.runs {
            for (r, rt) in runtimes.iter().enumerate() {
                let b = bundle_dir(work.path(), rt.name, 0);
                let s = rt.time(&["run", "--bundle", b.to_str().unwrap(), &format!("run-{i}")]);
                run[r].push(ms(s.wall));
                run_cpu[r].push(ms(s.exit.cpu));
            }
        }
        reap_strays();
        report.add("run /bin/true", "ms", run);
        report.add(
            "  CPU time of run (the runtime and the container)",
            "ms",
            run_cpu,
        );

        // 3. state of a created container.
        let mut state = empty();
        for rt in &runtimes {
            let b = bundle_dir(work.path(), rt.name, 0);
            rt.time(&["create", "--bundle", b.to_str().unwrap(), "probe"]);
        }
        for _ in 0..counts.states {
            for (r, rt) in runtimes.iter().enumerate() {
                let s = rt.time(&["state", "probe"]);
                state[r].push(ms(s.wall));
            }
        }
        for rt in &runtimes {
            rt.time(&["delete", "--force", "probe"]);
        }
        reap_strays();
        report.add("state (created container)", "ms", state);

        // 4. sequential life cycles.
        let mut seq = empty();
        for round in 0..counts.rounds {
            for (r, rt) in runtimes.iter().enumerate() {
                let t = Instant::now();
                for i in 0..counts.sequential {
                    cycle(rt, work.path(), 0, 1000 + round * 1000 + i);
                }
                seq[r].push(ms(t.elapsed()));
            }
        }
        reap_strays();
        report.add(
            &format!("{} sequential life cycles", counts.sequential),
            "ms",
            seq,
        );

        // 5. parallel life cycles.
        let (mut par, mut par_cpu) = (empty(), empty());
        for round in 0..counts.rounds {
            for (r, rt) in runtimes.iter().enumerate() {
                let t = Instant::now();
                let cpu: Duration = std::thread::scope(|s| {
                    let workers: Vec<_> = (0..counts.parallel)
                        .map(|w| {
                            let rt = &rt;
                            let work = work.path();
                            s.spawn(move || cycle(rt, work, w, 5000 + round))
                        })
                        .collect();
                    workers
                        .into_iter()
                        .map(|h| {
                            let c = h.join().unwrap();
                            c.create.exit.cpu + c.start.exit.cpu + c.delete.exit.cpu
                        })
                        .sum()
                });
                par[r].push(ms(t.elapsed()));
                par_cpu[r].push(ms(cpu));
            }
        }
        reap_strays();
        report.add(
            &format!("{} parallel life cycles", counts.parallel),
            "ms",
            par,
        );
        report.add("  CPU time of their create+start+delete", "ms", par_cpu);

        // 6. youki's method (`create; start; delete -f`, not waiting for the
        // exit) on runc's default bundle and on Docker's.
        let docker = |rt: &Runtime| work.path().join(format!("docker-{}", rt.name));
        let cri = |rt: &Runtime| work.path().join(format!("cri-{}", rt.name));
        let (mut y_default, mut y_docker) = (empty(), empty());
        for i in 0..counts.shapes {
            for (r, rt) in runtimes.iter().enumerate() {
                let b = bundle_dir(work.path(), rt.name, 0);
                y_default[r].push(ms(youki_cycle(rt, &b, "d", i)));
                y_docker[r].push(ms(youki_cycle(rt, &docker(rt), "k", i)));
            }
        }
        report.add(
            "create; start; delete -f (youki's loop), default bundle",
            "ms",
            y_default,
        );
        report.add(
            "create; start; delete -f (youki's loop), Docker bundle",
            "ms",
            y_docker,
        );

        // 7. The Docker-shaped bundle's life cycle.
        let (mut k_total, mut k_create, mut k_start, mut k_delete) =
            (empty(), empty(), empty(), empty());
        for i in 0..counts.shapes {
            for (r, rt) in runtimes.iter().enumerate() {
                let c = cycle_of(rt, work.path(), &docker(rt), "k", 0, i);
                k_total[r].push(ms(c.total));
                k_create[r].push(ms(c.create.wall));
                k_start[r].push(ms(c.start.wall));
                k_delete[r].push(ms(c.delete.wall));
            }
        }
        reap_strays();
        report.add("Docker bundle: life cycle", "ms", k_total);
        report.add("  create", "ms", k_create);
        report.add("  start", "ms", k_start);
        report.add("  delete", "ms", k_delete);

        // 8. The CRI-shaped bundle: a pod's container joining its running
        // sandbox's namespaces, life cycle and youki's loop.
        for rt in &runtimes {
            let sb = work.path().join(format!("cri-sandbox-{}", rt.name));
            let pf = work.path().join(format!("sandbox-{}.pid", rt.name));
            rt.time(&[
                "create",
                "--bundle",
                sb.to_str().unwrap(),
                "--pid-file",
                pf.to_str().unwrap(),
                "sandbox",
            ]);
            rt.time(&["start", "sandbox"]);
            make_cri_container(work.path(), rt.name, read_pid(&pf));
        }
        let (mut c_total, mut c_create, mut c_youki) = (empty(), empty(), empty());
        for i in 0..counts.shapes {
            for (r, rt) in runtimes.iter().enumerate() {
                let c = cycle_of(rt, work.path(), &cri(rt), "c", 0, i);
                c_total[r].push(ms(c.total));
                c_create[r].push(ms(c.create.wall));
                c_youki[r].push(ms(youki_cycle(rt, &cri(rt), "c", i)));
            }
        }
        for rt in &runtimes {
            rt.time(&["delete", "-f", "sandbox"]);
        }
        reap_strays();
        report.add("CRI bundle: life cycle", "ms", c_total);
        report.add("  create", "ms", c_create);
        report.add("CRI bundle: create; start; delete -f", "ms", c_youki);

        // 9. exec of /bin/true into a running container of the Docker bundle,
        // one at a time and `concurrent_execs` at once.
        for rt in &runtimes {
            let b = work.path().join(format!("docker-exec-{}", rt.name));
            rt.time(&["create", "--bundle", b.to_str().unwrap(), "execd"]);
            rt.time(&["start", "execd"]);
        }
        let (mut exec1, mut exec1_cpu, mut execn, mut execn_cpu, mut rss_exec) =
            (empty(), empty(), empty(), empty(), empty());
        for _ in 0..counts.execs {
            for (r, rt) in runtimes.iter().enumerate() {
                let s = rt.time(&["exec", "execd", "/bin/true"]);
                exec1[r].push(ms(s.wall));
                exec1_cpu[r].push(ms(s.exit.cpu));
            }
        }
        for _ in 0..counts.exec_rounds {
            for (r, rt) in runtimes.iter().enumerate() {
                let t = Instant::now();
                let cpu: Duration = std::thread::scope(|s| {
                    let execs: Vec<_> = (0..counts.concurrent_execs)
                        .map(|_| s.spawn(|| rt.time(&["exec", "execd", "/bin/true"])))
                        .collect();
                    execs.into_iter().map(|h| h.join().unwrap().exit.cpu).sum()
                });
                execn[r].push(ms(t.elapsed()));
                execn_cpu[r].push(ms(cpu));
            }
        }
        for _ in 0..counts.rss {
            for (r, rt) in runtimes.iter().enumerate() {
                rss_exec[r].push(rt.peak_rss_kib(&["exec", "execd", "/bin/true"]));
            }
        }
        for rt in &runtimes {
            rt.time(&["delete", "-f", "execd"]);
        }
        reap_strays();
        report.add("exec /bin/true into a running container", "ms", exec1);
        report.add("  CPU time of one exec", "ms", exec1_cpu);
        report.add(
            &format!("{} concurrent exec /bin/true", counts.concurrent_execs),
            "ms",
            execn,
        );
        report.add(
            &format!("  CPU time of the {} execs", counts.concurrent_execs),
            "ms",
            execn_cpu,
        );

        // 10. Peak RSS of each subcommand, through GNU time: it forks, so the
        // figure is the runtime's own peak plus time's small copy of itself
        // (a static no-op program measures 548 KiB this way). The rusage of
        // the timed runs above would carry this benchmark's own resident set:
        // a posix_spawn child shares its parent's memory until `execve`, and
        // the kernel keeps that peak in the child's maxrss.
        let (mut rss_create, mut rss_start, mut rss_state, mut rss_delete, mut rss_run) =
            (empty(), empty(), empty(), empty(), empty());
        let (mut created_rss, mut k_rss) = (empty(), empty());
        for i in 0..counts.rss {
            for (r, rt) in runtimes.iter().enumerate() {
                let b = bundle_dir(work.path(), rt.name, 0);
                let b = b.to_str().unwrap();
                let id = format!("rss-{i}");
                let pid_file = work.path().join(format!("{id}.pid"));
                let p = pid_file.to_str().unwrap();
                rss_create[r].push(rt.peak_rss_kib(&[
                    "create",
                    "--bundle",
                    b,
                    "--pid-file",
                    p,
                    &id,
                ]));
                let pid = read_pid(&pid_file);
                created_rss[r].push(settled_rss_kib(pid));
                rss_state[r].push(rt.peak_rss_kib(&["state", &id]));
                rss_start[r].push(rt.peak_rss_kib(&["start", &id]));
                let _ = wait4(Pid::from_raw(pid));
                rss_delete[r].push(rt.peak_rss_kib(&["delete", &id]));
                rss_run[r].push(rt.peak_rss_kib(&["run", "--bundle", b, &format!("rss-run-{i}")]));
                let _ = std::fs::remove_file(&pid_file);
                // The waiting process of the Docker bundle.
                let id = format!("rss-k-{i}");
                let kb = docker(rt);
                rt.time(&[
                    "create",
                    "--bundle",
                    kb.to_str().unwrap(),
                    "--pid-file",
                    p,
                    &id,
                ]);
                let pid = read_pid(&pid_file);
                k_rss[r].push(settled_rss_kib(pid));
                rt.time(&["delete", "--force", &id]);
                let _ = wait4(Pid::from_raw(pid));
                let _ = std::fs::remove_file(&pid_file);
            }
        }
        reap_strays();

        // Memory and size.
        report.add("peak RSS: create", "KiB", rss_create);
        report.add("peak RSS: start", "KiB", rss_start);
        report.add("peak RSS: state", "KiB", rss_state);
        report.add("peak RSS: delete", "KiB", rss_delete);
        report.add("peak RSS: run", "KiB", rss_run);
        report.add("peak RSS: exec", "KiB", rss_exec);
        report.add(
            "RSS of the process waiting while created",
            "KiB",
            created_rss,
        );
        report.add(
            "RSS of the process waiting while created, Docker bundle",
            "KiB",
            k_rss,
        );
        let sizes = runtimes
            .iter()
            .map(|rt| {
                let path = which(&rt.bin);
                vec![
                    std::fs::metadata(path)
                        .map(|m| m.len() as f64 / 1024.0)
                        .unwrap_or(0.0),
                ]
            })
            .collect();
        report.add("binary size", "KiB", sizes);
    }

    // 11. End to end through the callers (full mode, or --callers-only).
    let mut e2e_note = String::new();
    if counts.e2e > 0 {
        if e2e::have_ctr() {
            let t = e2e::ctr_run_rm(&runtimes, counts.e2e);
            reap_strays();
            report.add("end to end: ctr run --rm /bin/true", "ms", t);
        } else {
            e2e_note.push_str(
                "\nctr run --rm: not measured (containerd, ctr or the runc shim missing)",
            );
        }
        if e2e::have_docker() {
            let t = e2e::docker_run_rm(&runtimes, counts.e2e);
            reap_strays();
            report.add("end to end: docker run --rm true", "ms", t);
        } else {
            e2e_note
                .push_str("\ndocker run --rm: not measured (dockerd or /usr/bin/docker missing)");
        }
    }

    let versions: Vec<String> = runtimes
        .iter()
        .map(|rt| {
            let out = Command::new(&rt.bin)
                .arg("--version")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            format!("{}: {}", rt.name, out.lines().next().unwrap_or("?"))
        })
        .collect();
    let text = format!(
        "{}\n\nmode: {}; state roots on {}; cycles {}, runs {}, state {}, sequential {}×{} rounds, parallel {}×{} rounds, end to end {} per caller{}\n{}\n",
        report.markdown(),
        if callers_only {
            "end to end only"
        } else if quick {
            "quick"
        } else {
            "full"
        },
        if disk_state { "disk" } else { "tmpfs" },
        counts.cycles,
        counts.runs,
        counts.states,
        counts.sequential,
        counts.rounds,
        counts.parallel,
        counts.rounds,
        counts.e2e,
        e2e_note,
        versions.join("\n")
    );
    print!("{text}");
    if let Some(f) = out_file {
        std::fs::write(&f, &text).unwrap();
    }
    for rt in &runtimes {
        let _ = std::fs::remove_dir_all(&rt.root);
    }
    if !disk_state {
        let _ = nix::mount::umount2(&state_roots, nix::mount::MntFlags::MNT_DETACH);
    }
    let prefix = format!("berth-bench-{}", std::process::id());
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            let _ = std::fs::remove_dir(e.path().join(&prefix));
        }
    }
}

fn which(bin: &Path) -> PathBuf {
    if bin.is_absolute() {
        return bin.to_path_buf();
    }
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.exists())
        .unwrap_or_else(|| bin.to_path_buf())
}
