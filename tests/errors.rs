//! Every failure path of `create` names what was wrong and leaves nothing
//! behind: no state directory, cgroup, mount or process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fixture, refused};
use serde_json::json;

#[test]
fn unknown_namespace_names_its_json_path() {
    refused(
        "err-ns",
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "foo"}))
        },
        r#"config.json: linux.namespaces[6].type: unknown namespace \"foo\""#,
    );
}

#[test]
fn malformed_json_says_where() {
    let f = Fixture::new("err-json", &["true"]);
    std::fs::write(
        f.bundle.join("config.json"),
        "{\n  \"ociVersion\": \"1.0.2\",\n  \"root\": \n",
    )
    .unwrap();
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(err.contains("config.json: line 4 column 0"), "{err}");
    f.assert_clean();
}

#[test]
fn missing_rootfs() {
    refused(
        "err-rootfs",
        |c| c["root"]["path"] = json!("nowhere"),
        "root.path:",
    );
}

#[test]
fn unknown_capability() {
    refused(
        "err-cap",
        |c| c["process"]["capabilities"]["bounding"] = json!(["CAP_BOGUS"]),
        "unknown capability",
    );
}

#[test]
fn sysctl_outside_the_containers_namespaces() {
    refused(
        "err-sysctl",
        |c| c["linux"]["sysctl"] = json!({"kernel.panic": "1"}),
        "is not namespaced",
    );
}

#[test]
fn unknown_filesystem() {
    refused(
        "err-fs",
        |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/x", "type": "nosuchfs", "source": "x"}))
        },
        "mounts[7] on /x: fsopen nosuchfs",
    );
}

#[test]
fn bad_filesystem_option() {
    refused(
        "err-fsopt",
        |c| {
            c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/x", "type": "tmpfs", "source": "t", "options": ["size=lots"]}))
        },
        "mounts[7] on /x: option size=lots",
    );
}

#[test]
fn missing_bind_source() {
    refused(
        "err-bind",
        |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/x", "source": "/no/such/dir", "options": ["bind"]}))
        },
        "open bind source /no/such/dir",
    );
}

#[test]
fn unsupported_resource_names_the_field() {
    refused(
        "err-res",
        |c| c["linux"]["resources"]["memory"] = json!({"useHierarchy": false}),
        "linux.resources.memory.useHierarchy",
    );
}

#[test]
fn failing_create_runtime_hook_tears_down() {
    refused(
        "err-hook",
        |c| c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 2"]}]}),
        "createRuntime hook #0 (/bin/sh): exit status 2, output: nope",
    );
}

#[test]
fn unmapped_user_in_user_namespace() {
    refused(
        "err-user",
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
            c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
            c["process"]["user"] = json!({"uid": 500, "gid": 0});
        },
        "process.user.uid: 500 is not mapped",
    );
}

#[test]
fn terminal_without_console_socket() {
    refused(
        "err-tty",
        |c| c["process"]["terminal"] = json!(true),
        "cannot allocate tty",
    );
}

#[test]
fn missing_console_socket() {
    let f = Fixture::new("err-consock", &["true"]);
    f.edit(|c| c["process"]["terminal"] = json!(true));
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&[
        "create",
        "--console-socket",
        "/nonexistent/sock",
        "--bundle",
        &b,
        "c1",
    ]);
    assert!(err.contains("console socket /nonexistent/sock"), "{err}");
    f.assert_clean();
}

#[test]
fn bad_namespace_path() {
    refused(
        "err-nspath",
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "network", "path": "/proc/999999999/ns/net"}))
        },
        "linux.namespaces[6].type: namespace \\\"network\\\" is listed more than once",
    );
    refused(
        "err-nspath2",
        |c| {
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "network");
            ns.push(json!({"type": "network", "path": "/proc/999999999/ns/net"}));
        },
        "network namespace path /proc/999999999/ns/net",
    );
}

#[test]
fn failed_create_does_not_disturb_an_existing_container() {
    let f = Fixture::new("err-dup", &["sleep", "100"]);
    f.create("c1");
    let pid = f.state("c1")["pid"].clone();
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(err.contains("container with given ID already exists"));
    assert_eq!(f.state("c1")["pid"], pid);
    assert_eq!(f.status("c1"), "created");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

/// `create` with `args` (after `create`) fails naming `want`, and leaves
/// nothing.
fn create_fails(f: &Fixture, args: &[&str], want: &str) {
    let b = f.bundle.to_string_lossy().to_string();
    let mut all = vec!["create"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--bundle", &b, "c1"]);
    let out = f.berth(&all);
    assert_eq!(out.status.code(), Some(1));
    let err = common::s(&out.stderr);
    assert!(err.contains(want), "expected {want:?} in: {err}");
    f.assert_clean();
}

#[test]
fn missing_config_json() {
    let f = Fixture::new("err-noconfig", &["true"]);
    std::fs::remove_file(f.bundle.join("config.json")).unwrap();
    create_fails(&f, &[], "config.json");
}

#[test]
fn lsm_label_without_the_lsm() {
    refused(
        "err-lsm",
        |c| c["process"]["apparmorProfile"] = json!("berth-test"),
        "apparmor",
    );
}

#[test]
fn missing_pidfd_socket() {
    let f = Fixture::new("err-pidfdsock", &["true"]);
    create_fails(
        &f,
        &["--pidfd-socket", "/nonexistent/pidfd.sock"],
        "/nonexistent/pidfd.sock",
    );
}

#[test]
fn missing_program() {
    refused(
        "err-noprog",
        |c| c["process"]["args"] = json!(["/no/such/program"]),
        "/no/such/program",
    );
}

#[test]
fn missing_cwd() {
    refused(
        "err-nocwd",
        |c| c["process"]["cwd"] = json!("/etc/passwd/dir"),
        "/etc/passwd/dir",
    );
}

#[test]
fn sysctl_the_kernel_refuses() {
    refused(
        "err-sysctl-value",
        |c| c["linux"]["sysctl"] = json!({"kernel.shmmni": "not-a-number"}),
        r#"linux.sysctl[\"kernel.shmmni\"]"#,
    );
}

#[test]
fn rlimit_above_the_hard_limit() {
    refused(
        "err-rlimit",
        |c| {
            c["process"]["rlimits"] =
                json!([{"type": "RLIMIT_NOFILE", "hard": 100000000, "soft": 100000000}])
        },
        "RLIMIT_NOFILE",
    );
}

#[test]
fn cgroup_limit_the_kernel_refuses() {
    refused(
        "err-cpuset",
        |c| c["linux"]["resources"]["cpu"] = json!({"cpus": "1000-1001"}),
        "cpuset",
    );
}

#[test]
fn cgroup_that_already_has_processes() {
    let f = Fixture::new("err-busycg", &["sleep", "100"]);
    f.create("c1");
    // A second container in the same cgroup is refused; the first stays.
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c2"]);
    assert!(err.contains("cgroup"), "{err}");
    assert!(!f.root.join("c2").exists(), "state directory of c2 left");
    assert_eq!(f.status("c1"), "created");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

#[test]
fn pid_file_that_cannot_be_written() {
    let f = Fixture::new("err-pidfile", &["sleep", "100"]);
    create_fails(
        &f,
        &["--pid-file", "/nonexistent/dir/pid"],
        "pid file /nonexistent/dir/",
    );
}

#[test]
fn failing_create_container_hook_tears_down() {
    refused(
        "err-cchook",
        |c| c["hooks"] = json!({"createContainer": [{"path": "/bin/false"}]}),
        "createContainer",
    );
}

#[test]
fn seccomp_filter_that_does_not_compile() {
    refused(
        "err-seccomp",
        |c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_NOSUCH"],
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
            })
        },
        "linux.seccomp",
    );
}

/// Asserts `stderr` names `errno` exactly once (an error and its cause
/// each carried it: `EACCES: Permission denied: EACCES: Permission denied`).
fn errno_once(stderr: &str, errno: &str) {
    assert_eq!(
        stderr.matches(errno).count(),
        1,
        "{errno:?} once in: {stderr}"
    );
}

#[test]
fn an_errno_is_printed_once() {
    // A state root berth cannot read: root's, 0700, berth run as nobody.
    let f = Fixture::new("err-once", &["true"]);
    let b = f.bundle.to_string_lossy().to_string();
    let root = f.root.to_string_lossy().to_string();
    std::fs::create_dir(&f.root).unwrap();
    std::fs::set_permissions(&f.root, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    for args in [
        vec!["list"],
        vec!["state", "c1"],
        vec!["delete", "c1"],
        vec!["create", "--bundle", &b, "c1"],
    ] {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(common::berth_bin())
            .args(["--root", &root])
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = common::s(&out.stderr);
        assert!(err.contains(&root), "{args:?}: {err}");
        errno_once(&err, "Permission denied");
    }
    // As root: a namespace path, a console socket, a config that are not
    // there.
    f.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "network", "path": "/nonexistent/ns"}));
    });
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(err.contains("/nonexistent/ns"), "{err}");
    errno_once(&err, "No such file or directory");
    f.edit(|c| c["process"]["terminal"] = json!(true));
    let err = f.fails(&[
        "create",
        "--console-socket",
        "/nonexistent/sock",
        "--bundle",
        &b,
        "c1",
    ]);
    errno_once(&err, "No such file or directory");
    std::fs::remove_file(f.bundle.join("config.json")).unwrap();
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(err.contains("config.json"), "{err}");
    errno_once(&err, "No such file or directory");
    f.assert_clean();
}
