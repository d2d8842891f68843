//! Cgroup limits, proved from inside containers: every resource written
//! and read back, limits enforced (OOM kill, pids.max, cpu.max), device
//! rules, refusals naming the field, and nothing left behind.
//!
//! The tests follow the host's mode: on this project's hybrid machines they
//! check the v1 files, in the pure-v2 test VM (`tests/vm/run`) the v2 ones.
//! Tests marked `#[ignore]` need a pure v2 host; the VM runs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cgroup_util;
mod common;

use cgroup_util::*;
use common::{Fixture, cgroup_path};
use serde_json::json;

fn dump_fixture(name: &str, files: &[String]) -> Fixture {
    Fixture::new(name, &["sh", "-c", &dump_script(files)])
}

/// The resources every host mode honours, for block device `ma:mi`.
fn common_resources(ma: u32, mi: u32) -> serde_json::Value {
    json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
        "cpu": {"shares": 512, "quota": 20000, "period": 50000, "burst": 1000,
                "cpus": "0", "mems": "0", "idle": 0},
        "pids": {"limit": 20},
        "blockIO": {
            "throttleReadBpsDevice": [{"major": ma, "minor": mi, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": ma, "minor": mi, "rate": 100}]
        }
    })
}

type Expect = Vec<(&'static str, &'static str, String)>;

/// v2 extras, and the files and values expected.
fn v2_expectations(r: &mut serde_json::Value, dev: &str) -> Expect {
    r["blockIO"]["weight"] = json!(500);
    r["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 4194304}]);
    r["unified"] = json!({"memory.oom.group": "1"});
    vec![
        ("memory", "memory.max", "67108864".into()),
        ("memory", "memory.swap.max", "67108864".into()),
        ("memory", "memory.low", "33554432".into()),
        ("memory", "memory.oom.group", "1".into()),
        ("cpu", "cpu.weight", "59".into()),
        ("cpu", "cpu.max", "20000 50000".into()),
        ("cpu", "cpu.max.burst", "1000".into()),
        ("cpu", "cpu.idle", "0".into()),
        ("cpuset", "cpuset.cpus", "0".into()),
        ("cpuset", "cpuset.mems", "0".into()),
        ("pids", "pids.max", "20".into()),
        (
            "io",
            "io.max",
            format!("{dev} rbps=1048576 wbps=max riops=max wiops=100"),
        ),
        ("io", "io.weight", "default 4950".into()),
        ("hugetlb", "hugetlb.2MB.max", "4194304".into()),
    ]
}

/// v1 extras, and the files and values expected.
fn v1_expectations(r: &mut serde_json::Value, dev: &str) -> Expect {
    r["memory"]["swappiness"] = json!(10);
    let mut expect: Expect = vec![
        ("memory", "memory.limit_in_bytes", "67108864".into()),
        ("memory", "memory.memsw.limit_in_bytes", "134217728".into()),
        ("memory", "memory.soft_limit_in_bytes", "33554432".into()),
        ("memory", "memory.swappiness", "10".into()),
        ("cpu", "cpu.shares", "512".into()),
        ("cpu", "cpu.cfs_period_us", "50000".into()),
        ("cpu", "cpu.cfs_quota_us", "20000".into()),
        ("cpu", "cpu.cfs_burst_us", "1000".into()),
        ("cpu", "cpu.idle", "0".into()),
        ("cpuset", "cpuset.cpus", "0".into()),
        ("cpuset", "cpuset.mems", "0".into()),
        ("pids", "pids.max", "20".into()),
        (
            "blkio",
            "blkio.throttle.read_bps_device",
            format!("{dev} 1048576"),
        ),
        (
            "blkio",
            "blkio.throttle.write_iops_device",
            format!("{dev} 100"),
        ),
    ];
    // A weight needs CFQ or BFQ (berth refuses it otherwise: tested in
    // fields_the_host_cannot_set_are_refused_by_name).
    // Real-time group scheduling needs CONFIG_RT_GROUP_SCHED.
    if v1_has_rt_sched() {
        r["cpu"]["realtimePeriod"] = json!(500000);
        expect.push(("cpu", "cpu.rt_period_us", "500000".into()));
    }
    if let Some(file) = v1_blkio_weight_file() {
        r["blockIO"]["weight"] = json!(500);
        expect.push(("blkio", file, "500".into()));
    }
    expect
}

#[test]
fn every_resource_is_written() {
    let (ma, mi) = block_device();
    let dev = format!("{ma}:{mi}");
    let mut r = common_resources(ma, mi);
    let expect = if unified() {
        v2_expectations(&mut r, &dev)
    } else {
        v1_expectations(&mut r, &dev)
    };
    // Read back from inside the container, through its own cgroup mount.
    let mut files: Vec<String> = expect.iter().map(|(c, f, _)| inside(c, f)).collect();
    let devices = (!unified()).then(|| inside("devices", "devices.list"));
    files.extend(devices.clone());
    let f = dump_fixture("every-resource", &files);
    set_resources(&f, r);
    let got = parse_dump(&f.output("c1"));
    for (c, file, want) in &expect {
        assert_eq!(got[&inside(c, file)], *want, "{file} inside the container");
    }
    if let Some(list) = devices {
        let list = &got[&list];
        assert!(
            list.contains("c 1:3 rwm") && !list.contains("a *:* rwm"),
            "{list}"
        );
    }
    f.assert_clean();
}

#[test]
fn process_is_in_its_cgroup_in_every_hierarchy() {
    // Hybrid hosts also place it in the unified hierarchy, as runc does.
    let f = Fixture::new("placement", &["cat", "/proc/self/cgroup"]);
    f.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "cgroup");
    });
    let out = f.output("c1");
    let path = cgroup_path("placement");
    if mode() != berth::cgroups::Mode::Legacy {
        assert!(out.lines().any(|l| l == format!("0::{path}")), "{out}");
    }
    if !unified() {
        for c in [
            "memory", "cpu", "cpuacct", "pids", "devices", "freezer", "blkio", "cpuset",
        ] {
            let placed = out.lines().any(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, ctl, p) = (parts.next(), parts.next().unwrap_or(""), parts.next());
                ctl.split(',').any(|x| x == c) && p == Some(path.as_str())
            });
            assert!(placed, "{c} in {out}");
        }
    }
    f.assert_clean();
}

#[test]
fn a_cgroup_namespace_and_exec_are_placed_in_every_hierarchy() {
    // The init and an exec'd process join the container's cgroup in every
    // hierarchy: on a hybrid host the cgroup2 one through clone3 and the v1
    // ones through their own `tasks` writes, on v2 through clone3, on v1
    // through `tasks`. The cgroup namespace is rooted there in each.
    let f = Fixture::new("nsplaced", &["sleep", "30"]);
    f.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "cgroup");
        ns.push(json!({"type": "cgroup"}));
    });
    f.create("c1");
    f.ok(&["start", "c1"]);
    f.ok(&["exec", "-d", "c1", "sleep", "30"]);
    let inside = f.ok(&["exec", "c1", "cat", "/proc/self/cgroup"]);
    let dirs: Vec<_> = f.cgroup_dirs().into_iter().filter(|d| d.is_dir()).collect();
    assert!(!dirs.is_empty(), "no cgroup directory of the container");
    assert_eq!(
        inside.lines().count(),
        dirs.len(),
        "{inside} against {dirs:?}"
    );
    for l in inside.lines() {
        assert!(
            l.ends_with(":/"),
            "not at the namespace's root: {l}\n{inside}"
        );
    }
    let init = f.state("c1")["pid"].as_i64().unwrap().to_string();
    let mut sets = Vec::new();
    for d in &dirs {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap();
        let mut pids: Vec<String> = procs.lines().map(str::to_string).collect();
        pids.sort();
        assert!(
            pids.contains(&init),
            "init {init} not in {}: {pids:?}",
            d.display()
        );
        assert_eq!(pids.len(), 2, "{}: {pids:?}", d.display());
        sets.push(pids);
    }
    assert!(sets.windows(2).all(|w| w[0] == w[1]), "{dirs:?}: {sets:?}");
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

#[test]
fn memory_hog_is_oom_killed_with_137() {
    let f = Fixture::new("oom", &["tail", "/dev/zero"]);
    set_resources(&f, json!({"memory": {"limit": 33554432, "swap": 33554432}}));
    let (code, _, err) = f.run("c1");
    assert_eq!(code, 137, "{err}");
    f.assert_clean();
}

#[test]
fn forks_stop_at_pids_max() {
    let current = inside("pids", "pids.current");
    let events = inside("pids", "pids.events");
    // A failed fork ends a non-interactive shell: fork from a subshell,
    // which stops at the limit (shell + subshell + 3 sleeps) and exits.
    let script = format!(
        "(for i in 1 2 3 4 5 6 7 8 9 10; do sleep 100 & done) 2>/dev/null; \
         read c < {current}; echo current=$c; cat {events}"
    );
    let f = Fixture::new("pids", &["sh", "-c", &script]);
    set_resources(&f, json!({"pids": {"limit": 5}}));
    let out = f.output("c1");
    assert!(out.contains("current=4"), "the shell and 3 sleeps: {out}");
    let max: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("max "))
        .expect("pids.events max")
        .parse()
        .unwrap();
    assert!(max >= 1, "refused forks are counted: {out}");
    f.assert_clean();
}

#[test]
fn cpu_quota_throttles() {
    // A busy loop at a 10% quota: the kernel must throttle it, as counted in
    // cpu.stat. The container waits for that (the test's command timeout
    // bounds it), so a loaded machine cannot make it flaky; no timing is
    // asserted.
    let stat = inside("cpu", "cpu.stat");
    let script = format!(
        "(while :; do :; done) & \
         until grep -q '^nr_throttled [1-9]' {stat}; do usleep 50000; done; \
         kill $!; cat {stat}"
    );
    let f = Fixture::new("cpumax", &["sh", "-c", &script]);
    set_resources(&f, json!({"cpu": {"quota": 10000, "period": 100000}}));
    let out = f.output("c1");
    let value = |key: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} in {out}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert!(value("nr_throttled ") > 0, "{out}");
    let time = if unified() {
        "throttled_usec "
    } else {
        "throttled_time "
    };
    assert!(value(time) > 0, "{out}");
    f.assert_clean();
}

#[test]
fn device_rules_allow_listed_devices_and_deny_others() {
    // /dev/kmsg is created (linux.devices) but not allowed: writing it is
    // denied by the device controller; /dev/null (a default) works.
    // (Opening /dev/kmsg for writing is checked; nothing is written.)
    let script = "echo x > /dev/null && echo null-ok; \
                  if true > /dev/kmsg; then echo kmsg-ok; else echo kmsg-denied; fi";
    let f = Fixture::new("devices", &["sh", "-c", script]);
    f.edit(|c| {
        c["linux"]["devices"] =
            json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
    });
    let out = f.output("c1");
    assert!(
        out.contains("null-ok") && out.contains("kmsg-denied"),
        "{out}"
    );
    // An explicit allow rule opens it (write access only).
    f.edit(|c| {
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}));
    });
    let out = f.output("c2");
    assert!(out.contains("null-ok") && out.contains("kmsg-ok"), "{out}");
    f.assert_clean();
}

#[test]
fn device_rules_are_applied_in_the_listed_order() {
    // runtime-spec: "entries in the listed order"; runtime-tools'
    // linux_cgroups_devices reads devices.list and expects the config's
    // rules first, in its order. (v1 only: a v2 BPF program has no list.)
    let f = Fixture::new("devices-order", &["true"]);
    f.edit(|c| {
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
            {"allow": true, "type": "b", "major": 8, "minor": 20, "access": "rw"},
            {"allow": true, "type": "b", "major": 10, "minor": 200, "access": "r"}
        ]);
    });
    f.create("c1");
    if !unified() {
        let list = host_read(&f, "devices", "devices.list");
        let first: Vec<&str> = list.lines().take(4).collect();
        assert_eq!(
            first,
            ["c 10:229 rwm", "b 8:20 rw", "b 10:200 r", "c *:* m"],
            "{list}"
        );
    }
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

#[test]
fn fifo_devices_need_no_device_rule() {
    // runtime-tools' linux_devices: a FIFO in linux.devices beside a char
    // and a block device, under the default deny-all rules. The kernel
    // never asks the device cgroup about a FIFO, so berth (like runc) adds
    // no rule for it, and data goes through it inside the container.
    let script = "stat -c '%n %F %a' /dev/test1 /dev/test2 /dev/test3; \
                  echo through-the-fifo > /dev/test3 & cat /dev/test3; wait";
    let f = Fixture::new("devices-fifo", &["sh", "-c", script]);
    f.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/test1", "type": "c", "major": 10, "minor": 666, "fileMode": 0o660},
            {"path": "/dev/test2", "type": "b", "major": 8, "minor": 666, "fileMode": 0o660},
            {"path": "/dev/test3", "type": "p", "major": 8, "minor": 666, "fileMode": 0o660}
        ]);
    });
    assert_eq!(
        f.output("c1"),
        "/dev/test1 character special file 660\n/dev/test2 block special file 660\n\
         /dev/test3 fifo 660\nthrough-the-fifo\n"
    );
    // A FIFO rule in linux.resources.devices is refused by name (runc:
    // "invalid cgroup device type").
    f.edit(|c| {
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": true, "type": "p", "major": 8, "minor": 666, "access": "rwm"}));
    });
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c2"]);
    assert!(
        err.contains(r#"linux.resources.devices[1].type: \"p\" is not a cgroup device type"#),
        "{err}"
    );
    f.assert_clean();
}

#[test]
fn fields_the_host_cannot_set_are_refused_by_name() {
    let f = Fixture::new("refused", &["true"]);
    let cases: Vec<(serde_json::Value, &str)> = if unified() {
        vec![
            (
                json!({"memory": {"disableOOMKiller": true}}),
                "linux.resources.memory.disableOOMKiller",
            ),
            (
                json!({"memory": {"swappiness": 10}}),
                "linux.resources.memory.swappiness",
            ),
            (
                json!({"cpu": {"realtimeRuntime": 1000}}),
                "linux.resources.cpu.realtimeRuntime",
            ),
            (
                json!({"network": {"classID": 1}}),
                "linux.resources.network",
            ),
            (
                json!({"rdma": {"nosuchdev": {"hcaHandles": 1}}}),
                "linux.resources.rdma.nosuchdev",
            ),
        ]
    } else {
        vec![
            (
                json!({"unified": {"memory.max": "1000"}}),
                "linux.resources.unified",
            ),
            (
                json!({"blockIO": {"leafWeight": 500}}),
                "linux.resources.blockIO.leafWeight",
            ),
        ]
        .into_iter()
        // What this host's v1 hierarchies lack (on this project's hybrid
        // machines: hugetlb, net_cls and a blkio weight).
        .chain((!v1_has("hugetlb")).then(|| {
            (
                json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}),
                "linux.resources.hugepageLimits[0]",
            )
        }))
        .chain((!v1_has("net_cls")).then(|| {
            (
                json!({"network": {"classID": 1}}),
                "linux.resources.network.classID",
            )
        }))
        .chain(v1_blkio_weight_file().is_none().then(|| {
            (
                json!({"blockIO": {"weight": 500}}),
                "linux.resources.blockIO.weight",
            )
        }))
        .collect()
    };
    for (i, (r, field)) in cases.into_iter().enumerate() {
        set_resources(&f, r);
        let b = f.bundle.to_string_lossy().to_string();
        let err = f.fails(&["run", "--bundle", &b, &format!("c{i}")]);
        assert!(err.contains(field), "{field}: {err}");
    }
    f.assert_clean();
}

#[test]
fn nothing_is_left_after_a_failed_create() {
    let f = Fixture::new("failed", &["sleep", "100"]);
    let b = f.bundle.to_string_lossy().to_string();
    // Refused by the kernel after every directory exists: CPU 999.
    set_resources(&f, json!({"cpu": {"cpus": "999"}}));
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(err.contains("linux.resources.cpu.cpus"), "{err}");
    f.assert_clean();
    // Failing after the init exists (a prestart hook).
    set_resources(&f, json!({"pids": {"limit": 10}}));
    f.edit(|c| c["hooks"] = json!({"prestart": [{"path": "/bin/false"}]}));
    f.fails(&["create", "--bundle", &b, "c2"]);
    f.assert_clean();
    // A cgroup that already has processes is refused, and kept.
    f.edit(|c| {
        c.as_object_mut().unwrap().remove("hooks");
    });
    f.create("c3");
    let err = f.fails(&["create", "--bundle", &b, "c4"]);
    assert!(err.contains("not empty: 1 process(es) found"), "{err}");
    assert_eq!(f.status("c3"), "created");
    f.ok(&["delete", "--force", "c3"]);
    f.assert_clean();
}

#[test]
#[ignore = "needs a pure cgroup v2 host: tests/vm/run runs it"]
fn v2_relative_path_is_below_the_parent_of_berths_cgroup() {
    assert!(unified(), "a pure cgroup v2 host");
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own.trim().strip_prefix("0::").unwrap().to_string();
    let parent = std::path::Path::new(&own)
        .parent()
        .unwrap_or(std::path::Path::new("/"));
    let f = Fixture::new("relative", &["cat", "/proc/self/cgroup"]);
    let rel = format!("berth-rel-{}", std::process::id());
    f.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(rel);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup");
    });
    let gone = |p: &std::path::Path| {
        !std::path::Path::new("/sys/fs/cgroup")
            .join(p.strip_prefix("/").unwrap())
            .exists()
    };
    let out = f.output("c1");
    let want = parent.join(&rel);
    assert_eq!(out.trim(), format!("0::{}", want.display()));
    assert!(gone(&want));
    // No cgroupsPath: the container ID, as a relative path.
    f.edit(|c| {
        c["linux"].as_object_mut().unwrap().remove("cgroupsPath");
    });
    let out = f.output(&rel);
    assert_eq!(out.trim(), format!("0::{}", want.display()));
    assert!(gone(&want));
    f.assert_clean();
}

#[test]
#[ignore = "needs a pure cgroup v2 host: tests/vm/run runs it"]
fn v2_manager_moves_a_process_with_cgroup_procs() {
    // The fallback when CLONE_INTO_CGROUP cannot be used (and what `exec`
    // uses for an existing container): Manager::add.
    assert!(unified(), "a pure cgroup v2 host");
    let path = format!("/berth-test-{}/add", std::process::id());
    let none = std::collections::HashMap::new();
    let mut m = berth::cgroups::for_container(&berth::cgroups::Request {
        path: Some(&path),
        id: "add",
        systemd: false,
        rootless: false,
        annotations: &none,
    })
    .unwrap();
    m.create().unwrap();
    m.apply(&serde_json::from_value(json!({"pids": {"limit": 10}})).unwrap())
        .unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    m.add(pid).unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg.trim(), format!("0::{path}"));
    assert_eq!(m.pids().unwrap(), vec![pid]);
    m.destroy().unwrap();
    let _ = child.wait();
    assert!(
        !std::path::Path::new("/sys/fs/cgroup")
            .join(&path[1..])
            .exists()
    );
    let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/berth-test-{}", std::process::id()));
}
