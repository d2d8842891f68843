//! The six hooks: each runs at its moment, in its namespace, with its
//! args, env and timeout and the state on stdin; failures follow
//! runtime.md (an error that tears the container down, except poststop,
//! a warning).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::Fixture;
use serde_json::{Value, json};

/// A hook that records, into `dir/<name>.*`: its stdin, its mount
/// namespace, its argv and env, and which records existed before it.
fn recorder(name: &str, dir: &str, extra: &str) -> Value {
    let script = format!(
        "cat > {dir}/{name}.state; readlink /proc/self/ns/mnt > {dir}/{name}.mnt; \
         exec 3< /proc/self/cmdline; echo \"$(tr '\\0' '\\n' <&3 | head -n 1) $0 $1 $HOOK_VAR\" > {dir}/{name}.args; ls {dir} > {dir}/{name}.seen; {extra}"
    );
    json!({"path": "/bin/sh", "args": [argv0(name), "-c", script, "zero", "first-arg"], "env": [format!("HOOK_VAR={name}-env")]})
}

/// The argv[0] given to each hook; busybox (the container's `/bin/sh`,
/// which startContainer runs) picks its applet by argv[0].
fn argv0(name: &str) -> String {
    if name == "startContainer" {
        "sh".into()
    } else {
        format!("{name}-hook")
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn state_of(p: &Path) -> Value {
    serde_json::from_str(&read(p)).unwrap()
}

#[test]
fn each_hook_runs_at_its_moment_in_its_namespace() {
    let f = Fixture::new(
        "hooks-all",
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/mnt > /hooklog/container.mnt; sleep 1",
        ],
    );
    let host = f.dir.path().join("log");
    std::fs::create_dir(&host).unwrap();
    std::fs::create_dir(f.rootfs().join("hooklog")).unwrap();
    let h = host.display().to_string();
    let poststart_extra = format!(
        "pid=$(sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p' {h}/poststart.state); tr '\\0' ' ' < /proc/$pid/cmdline > {h}/poststart.cmdline"
    );
    f.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["annotations"] = json!({"org.example.key": "value"});
        c["hooks"] = json!({
            "prestart": [recorder("prestart", &h, "")],
            "createRuntime": [recorder("createRuntime", &h, "")],
            "createContainer": [recorder("createContainer", &h, "")],
            "startContainer": [recorder("startContainer", "/hooklog", "")],
            "poststart": [recorder("poststart", &h, &poststart_extra)],
            "poststop": [recorder("poststop", &h, "")]
        });
    });
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt")
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let b = f.bundle.to_string_lossy().to_string();

    f.create("c1");
    let init = f.state("c1")["pid"].as_i64().unwrap();
    for name in ["prestart", "createRuntime", "createContainer"] {
        assert!(
            host.join(format!("{name}.state")).exists(),
            "{name} ran at create"
        );
    }
    assert!(!f.rootfs().join("hooklog/startContainer.state").exists());
    assert!(!host.join("poststart.state").exists());
    // Order: prestart, then createRuntime, then createContainer.
    assert!(!read(&host.join("prestart.seen")).contains("createRuntime"));
    assert!(read(&host.join("createRuntime.seen")).contains("prestart.state"));
    assert!(read(&host.join("createContainer.seen")).contains("createRuntime.state"));

    f.ok(&["start", "c1"]);
    let rec = |name: &str| -> std::path::PathBuf {
        if name == "startContainer" {
            f.rootfs().join("hooklog")
        } else {
            host.clone()
        }
    };
    assert!(rec("startContainer").join("startContainer.state").exists());
    assert!(
        host.join("poststart.state").exists(),
        "poststart ran before start returned"
    );
    // poststart runs after the program was executed: its cmdline is the
    // container's, not berth's.
    // (busybox sh execs its last command itself, so either may show.)
    let cmdline = read(&host.join("poststart.cmdline"));
    assert!(
        cmdline.starts_with("sh -c readlink") || cmdline == "sleep 1 ",
        "{cmdline}"
    );
    f.wait_status("c1", "stopped");
    let container_mnt = read(&f.rootfs().join("hooklog/container.mnt"));
    assert_ne!(container_mnt.trim(), host_mnt);
    f.ok(&["delete", "c1"]);
    assert!(
        host.join("poststop.state").exists(),
        "poststop ran at delete"
    );

    for (name, status, ns, pid) in [
        ("prestart", "created", &host_mnt, init),
        ("createRuntime", "created", &host_mnt, init),
        (
            "createContainer",
            "created",
            &container_mnt.trim().to_string(),
            1,
        ),
        (
            "startContainer",
            "created",
            &container_mnt.trim().to_string(),
            1,
        ),
        ("poststart", "running", &host_mnt, init),
        ("poststop", "stopped", &host_mnt, 0),
    ] {
        let dir = rec(name);
        let st = state_of(&dir.join(format!("{name}.state")));
        assert_eq!(st["status"], status, "{name}: {st}");
        assert_eq!(st["id"], "c1", "{name}");
        assert_eq!(st["bundle"], b.as_str(), "{name}");
        assert_eq!(st["annotations"]["org.example.key"], "value", "{name}");
        if name != "poststop" {
            assert_eq!(st["pid"], pid, "{name}: pid as seen in its namespace");
        }
        assert_eq!(
            read(&dir.join(format!("{name}.mnt"))).trim(),
            ns.as_str(),
            "{name}: mount namespace"
        );
        assert_eq!(
            read(&dir.join(format!("{name}.args"))),
            format!("{} zero first-arg {name}-env\n", argv0(name)),
            "{name}: argv[0], args and env"
        );
    }
    f.assert_clean();
}

/// `create` with `hooks` fails, says `want`, and leaves nothing behind.
fn create_fails(name: &str, hooks: Value, want: &str) {
    let f = Fixture::new(name, &["true"]);
    f.edit(|c| c["hooks"] = hooks);
    let b = f.bundle.to_string_lossy().to_string();
    let out = f.berth(&["create", "--bundle", &b, "c1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::s(&out.stderr);
    assert!(err.contains(want), "expected {want:?} in: {err}");
    f.assert_clean();
}

fn failing(msg: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {msg} >&2; exit 3")]})
}

#[test]
fn failing_create_hooks_tear_the_container_down() {
    create_fails(
        "hooks-prestart",
        json!({"prestart": [failing("no-prestart")]}),
        "prestart hook #0 (/bin/sh): exit status 3, output: no-prestart",
    );
    create_fails(
        "hooks-crun",
        json!({"createRuntime": [{"path": "/bin/true"}, failing("no-runtime")]}),
        "createRuntime hook #1 (/bin/sh): exit status 3, output: no-runtime",
    );
    create_fails(
        "hooks-ccont",
        json!({"createContainer": [failing("no-container")]}),
        "createContainer hook #0 (/bin/sh): exit status 3, output: no-container",
    );
    create_fails(
        "hooks-timeout",
        json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}),
        "createRuntime hook #0 (/bin/sleep): timed out after 1s",
    );
    create_fails(
        "hooks-missing",
        json!({"createContainer": [{"path": "/no/such/hook"}]}),
        "createContainer hook #0 (/no/such/hook)",
    );
}

#[test]
fn failing_start_container_hook_fails_start() {
    let f = Fixture::new("hooks-scont", &["sh", "-c", "echo ran > /ran"]);
    f.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["hooks"] = json!({"startContainer": [failing("no-start")]});
    });
    f.create("c1");
    let err = f.fails(&["start", "c1"]);
    assert!(
        err.contains("startContainer hook #0 (/bin/sh): exit status 3, output: no-start"),
        "{err}"
    );
    assert!(!f.rootfs().join("ran").exists(), "the program never ran");
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);
    f.assert_clean();

    // `run` reports it too, and removes the container.
    let (code, _, err) = f.run("c2");
    assert_eq!(code, 1);
    assert!(err.contains("startContainer hook #0"), "{err}");
    assert!(!f.rootfs().join("ran").exists());
    f.assert_clean();
}

#[test]
fn failing_poststart_hook_stops_the_container() {
    let f = Fixture::new("hooks-pstart", &["sleep", "100"]);
    f.edit(|c| c["hooks"] = json!({"poststart": [failing("no-poststart")]}));
    f.create("c1");
    let err = f.fails(&["start", "c1"]);
    assert!(
        err.contains("poststart hook #0 (/bin/sh): exit status 3, output: no-poststart"),
        "{err}"
    );
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
    let (code, _, err) = f.run("c2");
    assert_eq!(code, 1);
    assert!(err.contains("poststart hook #0"), "{err}");
    f.assert_clean();
}

#[test]
fn failing_poststop_hook_is_a_warning() {
    let f = Fixture::new("hooks-pstop", &["true"]);
    let marker = f.dir.path().join("second-ran");
    f.edit(|c| {
        c["hooks"] = json!({"poststop": [
            failing("no-poststop"),
            {"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", marker.display())]}
        ]})
    });
    f.create("c1");
    let out = f.berth(&["delete", "c1"]);
    assert!(out.status.success(), "{}", common::s(&out.stderr));
    let err = common::s(&out.stderr);
    assert!(
        err.contains("poststop hook #0 (/bin/sh): exit status 3"),
        "{err}"
    );
    assert!(marker.exists(), "the remaining hooks still run");
    f.assert_clean();
}

#[test]
fn hooks_that_never_read_stdin_do_not_kill_berth() {
    let f = Fixture::new("hooks-sigpipe", &["true"]);
    // A state far larger than a pipe buffer.
    let big = "x".repeat(1 << 20);
    f.edit(|c| {
        c["annotations"] = json!({"big": big});
        let quick = json!({"path": "/bin/true"});
        c["hooks"] = json!({
            "prestart": [quick], "createRuntime": [quick], "createContainer": [quick],
            "startContainer": [{"path": "/bin/true"}], "poststart": [quick], "poststop": [quick]
        });
    });
    f.create("c1");
    f.ok(&["start", "c1"]);
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

/// Three hooks named `<kind>-1..3`, each logging its start and its end
/// into `log` with a pause between: run out of order or side by side,
/// the lines would show it.
fn numbered(kind: &str, log: &str) -> Value {
    (1..=3)
        .map(|n| {
            let script = format!("echo \"$0 start\" >> {log}; sleep 0.2; echo \"$0 end\" >> {log}");
            json!({"path": "/bin/sh", "args": ["sh", "-c", script, format!("{kind}-{n}")]})
        })
        .collect()
}

/// What `numbered` hooks of `kinds` write when each runs alone, in order.
fn in_sequence(kinds: &[&str]) -> String {
    let mut out = String::new();
    for k in kinds {
        for n in 1..=3 {
            out.push_str(&format!("{k}-{n} start\n{k}-{n} end\n"));
        }
    }
    out
}

#[test]
fn hooks_of_each_kind_run_in_order_one_after_another() {
    let f = Fixture::new("hooks-order", &["true"]);
    let host = f.dir.path().join("seq");
    let h = host.display().to_string();
    f.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["hooks"] = json!({
            "prestart": numbered("prestart", &h),
            "createRuntime": numbered("createRuntime", &h),
            "createContainer": numbered("createContainer", &h),
            "startContainer": numbered("startContainer", "/seq"),
            "poststart": numbered("poststart", &h),
            "poststop": numbered("poststop", &h)
        });
    });
    f.create("c1");
    assert_eq!(
        read(&host),
        in_sequence(&["prestart", "createRuntime", "createContainer"])
    );
    f.ok(&["start", "c1"]);
    assert_eq!(
        read(&f.rootfs().join("seq")),
        in_sequence(&["startContainer"])
    );
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);
    assert_eq!(
        read(&host),
        in_sequence(&[
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ])
    );
    // The same through `run` (which deletes the container at the end),
    // with timeouts (a pidfd wait per hook).
    std::fs::remove_file(&host).unwrap();
    std::fs::remove_file(f.rootfs().join("seq")).unwrap();
    f.edit(|c| {
        for hooks in c["hooks"].as_object_mut().unwrap().values_mut() {
            for hook in hooks.as_array_mut().unwrap() {
                hook["timeout"] = json!(30);
            }
        }
    });
    assert_eq!(f.output("c2"), "");
    assert_eq!(
        read(&f.rootfs().join("seq")),
        in_sequence(&["startContainer"])
    );
    assert_eq!(
        read(&host),
        in_sequence(&[
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ])
    );
    f.assert_clean();
}
