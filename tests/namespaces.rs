//! Every namespace type, new and joined by path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Fixture;
use serde_json::json;

const ALL: [&str; 8] = ["pid", "mnt", "net", "ipc", "uts", "cgroup", "user", "time"];

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn ns_of(pid: i64, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Prints `kind=ns-link` lines for every namespace, from inside.
fn ns_script() -> String {
    ALL.iter()
        .map(|k| format!("echo {k}=$(readlink /proc/self/ns/{k});"))
        .collect()
}

fn parse(out: &str) -> std::collections::HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn userns_config(c: &mut serde_json::Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
}

#[test]
fn every_namespace_can_be_new() {
    let script = ns_script() + "echo uptime=$(cut -d. -f1 /proc/uptime)";
    let f = Fixture::new("ns-new", &["sh", "-c", &script]);
    f.edit(|c| {
        userns_config(c);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] =
            json!({"boottime": {"secs": 86400000}, "monotonic": {"secs": 1}});
    });
    let got = parse(&f.output("c1"));
    for k in ALL {
        assert_ne!(got[k], host_ns(k), "{k} namespace is the host's");
    }
    // The time namespace's boottime offset shows in the uptime.
    let uptime: u64 = got["uptime"].parse().unwrap();
    assert!(uptime >= 86_400_000, "uptime {uptime} lacks the offset");
    f.assert_clean();
}

#[test]
fn user_namespace_maps_ids() {
    let f = Fixture::new(
        "ns-user",
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox",
        ],
    );
    f.edit(|c| {
        userns_config(c);
        // Several ranges: the container's 0..1000 and 1000..2000 map apart.
        c["linux"]["uidMappings"] = json!([
            {"containerID": 0, "hostID": 100000, "size": 1000},
            {"containerID": 1000, "hostID": 200000, "size": 1000}
        ]);
    });
    let out = f.output("c1");
    let lines: Vec<&str> = out.lines().collect();
    let fields = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(fields(lines[0]), ["0", "100000", "1000"]);
    assert_eq!(fields(lines[1]), ["1000", "200000", "1000"]);
    assert_eq!(fields(lines[2]), ["0", "100000", "65536"]);
    assert_eq!(lines[3], "0");
    // Files owned by host root are unmapped inside: shown as the overflow uid.
    assert_eq!(lines[4], "65534");
    f.assert_clean();
}

/// A long-running container whose namespaces the others join.
fn provider(name: &str, with_user: bool) -> (Fixture, i64) {
    let f = Fixture::new(name, &["sleep", "1000"]);
    f.edit(|c| {
        if with_user {
            userns_config(c);
        }
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400000}});
        c["hostname"] = json!("provider");
    });
    f.create("provider");
    f.ok(&["start", "provider"]);
    let pid = f.state("provider")["pid"].as_i64().unwrap();
    (f, pid)
}

#[test]
fn namespaces_can_be_joined_by_path() {
    let (p, pid) = provider("ns-join", false);
    let joiner = Fixture::new(
        "ns-joiner",
        &[
            "sh",
            "-c",
            &(ns_script() + "hostname; echo pid1=$(cat /proc/1/cmdline | tr '\\0' ' ')"),
        ],
    );
    joiner.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] == "mount");
        for (kind, spec) in [
            ("pid", "pid"),
            ("net", "network"),
            ("ipc", "ipc"),
            ("uts", "uts"),
            ("cgroup", "cgroup"),
            ("time", "time"),
        ] {
            ns.push(json!({"type": spec, "path": format!("/proc/{pid}/ns/{kind}")}));
        }
        c.as_object_mut().unwrap().remove("hostname");
    });
    let out = joiner.output("j1");
    let got = parse(&out);
    for k in ["pid", "net", "ipc", "uts", "cgroup", "time"] {
        assert_eq!(got[k], ns_of(pid, k), "{k} namespace not joined");
    }
    assert_ne!(got["mnt"], ns_of(pid, "mnt"));
    assert!(
        out.contains("\nprovider\n"),
        "uts namespace shares the hostname: {out}"
    );
    assert!(
        out.contains("pid1=sleep 1000"),
        "pid namespace shows the provider's init: {out}"
    );
    p.ok(&["delete", "--force", "provider"]);
    joiner.assert_clean();
    p.assert_clean();
}

#[test]
fn joined_user_namespace_with_new_pid_namespace_forks_once() {
    let (p, pid) = provider("ns-juser", true);
    let joiner = Fixture::new(
        "ns-juser2",
        &["sh", "-c", &(ns_script() + "echo me=$$; id -u")],
    );
    joiner.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| ["mount", "pid", "ipc", "uts"].contains(&n["type"].as_str().unwrap()));
        ns.push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
        ns.push(json!({"type": "network", "path": format!("/proc/{pid}/ns/net")}));
        c.as_object_mut().unwrap().remove("hostname");
        // The bundle's files are owned by host root, which the provider's
        // user namespace does not map: make the rootfs readable as is.
    });
    let out = joiner.output("j1");
    let got = parse(&out);
    assert_eq!(got["user"], ns_of(pid, "user"));
    assert_eq!(got["net"], ns_of(pid, "net"));
    assert_ne!(got["pid"], ns_of(pid, "pid"));
    assert_eq!(
        got["me"], "1",
        "the forked init is PID 1 of its new PID namespace"
    );
    assert!(out.ends_with("0\n"), "{out}");
    p.ok(&["delete", "--force", "provider"]);
    joiner.assert_clean();
    p.assert_clean();
}

#[test]
fn mount_namespace_can_be_joined_by_path() {
    let f = Fixture::new(
        "ns-mnt",
        &["sh", "-c", "readlink /proc/self/ns/mnt; cat /marker"],
    );
    // A mount namespace pinned on a file, as `unshare --mount=FILE` makes it.
    let nsdir = f.dir.path().join("ns");
    std::fs::create_dir(&nsdir).unwrap();
    let sh = |cmd: &str| {
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .status()
            .unwrap();
        assert!(st.success(), "{cmd}");
    };
    let d = nsdir.display();
    sh(&format!(
        "mount --bind {d} {d} && mount --make-private {d} && touch {d}/mnt && unshare --mount={d}/mnt --propagation private true"
    ));
    std::fs::write(f.rootfs().join("marker"), "in the joined namespace\n").unwrap();
    let expected = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let nsfile = format!("{d}/mnt");
    let ns_id = {
        let out = std::process::Command::new("nsenter")
            .arg(format!("--mount={nsfile}"))
            .args(["readlink", "/proc/self/ns/mnt"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    f.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "mount");
        ns.push(json!({"type": "mount", "path": nsfile}));
    });
    let out = f.output("c1");
    assert!(out.starts_with(&ns_id), "{out} vs {ns_id}");
    assert_ne!(ns_id, expected.to_string_lossy());
    assert!(out.contains("in the joined namespace"));
    // The pinned namespace dies with its file.
    sh(&format!("umount {d}/mnt && umount {d}"));
    f.assert_clean();
}

#[test]
fn mappings_without_a_new_user_namespace_are_refused() {
    let f = Fixture::new("ns-maps-nouser", &["true"]);
    f.edit(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
    });
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(
        err.contains("linux.uidMappings: set, but the container does not create a user namespace"),
        "{err}"
    );
    f.assert_clean();
}

#[test]
fn a_config_without_a_mount_namespace_is_refused() {
    // runtime-tools' linux_ns_itype: no namespace at all. runc and crun
    // mount the root filesystem in the caller's mount namespace and leave
    // those mounts there; berth refuses by name, before mounting anything.
    let f = Fixture::new("ns-nomount", &["true"]);
    f.edit(|c| {
        c["linux"]["namespaces"] = json!([]);
        c.as_object_mut().unwrap().remove("hostname");
    });
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(
        err.contains("linux.namespaces: a mount namespace is required"),
        "{err}"
    );
    f.assert_clean();
}
