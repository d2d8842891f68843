//! `berth features` lists exactly what works: every list it prints is
//! exercised here against real containers (the cgroup section belongs to
//! the cgroup tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;

use common::Fixture;
use serde_json::{Value, json};

fn features() -> Value {
    let out = std::process::Command::new(common::berth_bin())
        .arg("features")
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

const MAPS: &str = r#"{"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
                      "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}]}"#;

/// The mount that exercises `opt`, at `dest`.
fn mount_for(opt: &str, dest: &str, vol: &str) -> Vec<Value> {
    let maps: Value = serde_json::from_str(MAPS).unwrap();
    match opt {
        "bind" | "rbind" => vec![json!({"destination": dest, "source": vol, "options": [opt]})],
        "idmap" | "ridmap" => vec![
            json!({"destination": dest, "source": vol, "options": ["rbind", opt],
            "uidMappings": maps["uidMappings"], "gidMappings": maps["gidMappings"]}),
        ],
        "remount" => vec![
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}),
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["remount", "ro"]}),
        ],
        _ => {
            vec![json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [opt]})]
        }
    }
}

#[test]
fn every_mount_option_mounts() {
    let opts = strings(&features()["mountOptions"]);
    assert!(opts.len() > 50);
    let f = Fixture::new("feat-mountopts", &["cat", "/proc/self/mountinfo"]);
    let vol = f.dir.path().join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    let vol = vol.to_string_lossy().to_string();
    f.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        for (i, o) in opts.iter().enumerate() {
            m.extend(mount_for(o, &format!("/opt/m{i}"), &vol));
        }
    });
    let out = f.output("c1");
    for (i, o) in opts.iter().enumerate() {
        assert!(out.contains(&format!(" /opt/m{i} ")), "{o} is not mounted");
    }
    f.assert_clean();
}

#[test]
fn every_namespace_hook_and_capability() {
    let feat = features();
    let namespaces = strings(&feat["linux"]["namespaces"]);
    let caps = strings(&feat["linux"]["capabilities"]);
    let hooks = strings(&feat["hooks"]);
    let f = Fixture::new("feat-ns", &["sh", "-c", "grep CapBnd /proc/self/status"]);
    let marks = f.dir.path().join("marks");
    std::fs::create_dir(&marks).unwrap();
    // The runtime-namespace hooks run as host root; createContainer runs
    // as the container's root, host uid 100000.
    std::fs::set_permissions(&marks, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    f.edit(|c| {
        c["linux"]["namespaces"] = json!(
            namespaces
                .iter()
                .map(|n| json!({"type": n}))
                .collect::<Vec<_>>()
        );
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 10}});
        c["process"]["capabilities"] =
            json!({"bounding": caps, "permitted": caps, "effective": caps});
        let mut h = serde_json::Map::new();
        for name in &hooks {
            // startContainer runs in the container, where /tmp is writable
            // only through the shm mount: it writes there instead.
            let target = if name == "startContainer" {
                "/dev/shm/startContainer".to_string()
            } else {
                marks.join(name).display().to_string()
            };
            h.insert(
                name.clone(),
                json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("touch {target}")]}]),
            );
        }
        c["hooks"] = Value::Object(h);
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "test -f /dev/shm/startContainer && grep CapBnd /proc/self/status"
        ]);
    });
    let out = f.output("c1");
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap();
    let last: u32 = last.trim().parse().unwrap();
    assert_eq!(
        caps.len() as u32,
        last + 1,
        "every capability of this kernel"
    );
    let mask = (1u64 << (last + 1)) - 1;
    assert_eq!(out.trim(), format!("CapBnd:\t{mask:016x}"));
    for name in hooks.iter().filter(|h| *h != "startContainer") {
        assert!(marks.join(name).exists(), "{name} ran");
    }
    f.assert_clean();
}

#[test]
fn every_seccomp_action_operator_arch_and_flag() {
    let s = features()["linux"]["seccomp"].clone();
    assert_eq!(s["enabled"], true);
    let ops = strings(&s["operators"]);
    // One filter holding every action, operator, architecture and flag;
    // none of the syscalls below is made by the shell.
    let unused = [
        "acct",
        "swapon",
        "swapoff",
        "quotactl",
        "add_key",
        "request_key",
        "syslog",
        "keyctl",
        "vhangup",
    ];
    let mut rules = Vec::new();
    for (i, a) in strings(&s["actions"]).iter().enumerate() {
        let mut r = json!({"names": [unused[i % unused.len()]], "action": a});
        if a == "SCMP_ACT_ALLOW" {
            r["names"] = json!(["getpid"]);
        }
        rules.push(r);
    }
    for (i, op) in ops.iter().enumerate() {
        let mut arg = json!({"index": 0, "value": 100000 + i, "op": op});
        if op == "SCMP_CMP_MASKED_EQ" {
            arg["valueTwo"] = json!(0);
        }
        rules.push(json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [arg]}));
    }
    let f = Fixture::new(
        "feat-seccomp",
        &["sh", "-c", "grep -E '^Seccomp:' /proc/self/status"],
    );
    let sock = f.dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 4096];
        berth::sys::fd::recv_fd(conn.as_fd(), &mut buf)
            .unwrap()
            .1
            .is_some()
    });
    f.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
            "architectures": s["archs"], "flags": s["supportedFlags"], "syscalls": rules
        });
    });
    assert_eq!(f.output("c1"), "Seccomp:\t2\n");
    assert!(
        agent.join().unwrap(),
        "the listener got the notification fd"
    );
    // knownFlags beyond supportedFlags would be refused; here all work.
    assert_eq!(strings(&s["knownFlags"]), strings(&s["supportedFlags"]));
    f.assert_clean();
}

#[test]
fn every_memory_policy_mode_and_flag() {
    let mp = features()["linux"]["memoryPolicy"].clone();
    let f = Fixture::new("feat-mempol", &["true"]);
    let mut n = 0;
    let mut run = |policy: Value| {
        n += 1;
        f.edit(|c| c["linux"]["memoryPolicy"] = policy.clone());
        let (code, _, err) = f.run(&format!("c{n}"));
        assert_eq!(code, 0, "{policy}: {err}");
    };
    for mode in strings(&mp["modes"]) {
        let nodes = !matches!(mode.as_str(), "MPOL_DEFAULT" | "MPOL_LOCAL");
        let mut p = json!({"mode": mode});
        if nodes {
            p["nodes"] = json!("0");
        }
        run(p);
    }
    for flag in strings(&mp["flags"]) {
        // NUMA balancing applies to MPOL_BIND; the node flags to any mode
        // with nodes.
        run(json!({"mode": "MPOL_BIND", "nodes": "0", "flags": [flag]}));
    }
    f.assert_clean();
}

#[test]
fn extensions_and_lsm_flags_tell_the_truth() {
    let l = features()["linux"].clone();
    assert_eq!(l["mountExtensions"]["idmap"]["enabled"], true);
    assert_eq!(l["netDevices"]["enabled"], true);
    // idmapped mounts and netDevices are exercised by mounts.rs and
    // netdev.rs; what is listed as disabled must be refused.
    let f = Fixture::new("feat-lsm", &["true"]);
    let b = f.bundle.to_string_lossy().to_string();
    for (enabled, field, edit) in [
        (
            &l["apparmor"]["enabled"],
            "process.apparmorProfile",
            json!({"process": {"apparmorProfile": "p"}}),
        ),
        (
            &l["selinux"]["enabled"],
            "process.selinuxLabel",
            json!({"process": {"selinuxLabel": "l"}}),
        ),
        (
            &l["intelRdt"]["enabled"],
            "linux.intelRdt",
            json!({"linux": {"intelRdt": {"closID": "g"}}}),
        ),
    ] {
        assert_eq!(enabled, false, "this host has none of them");
        f.edit(|c| {
            for (k, v) in edit.as_object().unwrap() {
                for (k2, v2) in v.as_object().unwrap() {
                    c[k][k2] = v2.clone();
                }
            }
        });
        let err = f.fails(&["create", "--bundle", &b, "c1"]);
        assert!(err.contains(field), "{err}");
        f.edit(|c| {
            c["process"]
                .as_object_mut()
                .unwrap()
                .remove("apparmorProfile");
            c["process"].as_object_mut().unwrap().remove("selinuxLabel");
            c["linux"].as_object_mut().unwrap().remove("intelRdt");
        });
    }
    f.assert_clean();
}
