//! AppArmor labels on a kernel that has AppArmor: the container's profile
//! (`process.apparmorProfile`) seen from inside the container, for the init
//! and for `exec`, with its rules enforced; an unknown profile refused with
//! the field named; the runtime able to signal a container under a profile
//! written like Docker's and containerd's defaults, and under containerd's own
//! generated default profile (`ctr run --apparmor-default-profile`); and
//! Docker itself (its `dockerd` generating and loading `docker-default`)
//! running berth containers under that profile, with `docker stop` and
//! `docker kill` reaching them.
//!
//! These need AppArmor enabled (`/sys/module/apparmor/parameters/enabled`
//! is `Y`) and `apparmor_parser`, which the development machines lack, so
//! they are `#[ignore]`d; `tests/vm/lsm.sh` runs them in the test VM booted
//! with `apparmor=1 security=apparmor` (`.ci/test`), and on a host with
//! AppArmor `cargo test --test lsm -- --ignored` runs them there. Once
//! started, a test fails (never skips) when AppArmor is missing.
//!
//! Each test loads the profiles it needs under names of its own and
//! removes them when it ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callers;
mod common;

#[path = "callers/dockerd.rs"]
mod dockerd;

use std::path::PathBuf;
use std::process::Command;

use common::Fixture;
use serde_json::json;

/// Fails the test unless AppArmor is enabled.
fn require_apparmor() {
    assert!(
        common::apparmor_enabled(),
        "these tests need AppArmor enabled (run them with tests/vm/lsm.sh); \
         /sys/module/apparmor/parameters/enabled reads {:?}",
        std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").unwrap_or_default()
    );
}

/// A profile loaded into the kernel for one test; removed on drop.
struct Profile {
    name: String,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Profile {
    /// Loads `profile NAME flags=(attach_disconnected,mediate_deleted) {
    /// RULES }`, replacing one of that name.
    fn load(name: &str, rules: &str) -> Self {
        require_apparmor();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        let p = Self {
            name: name.to_string(),
            file,
            _dir: dir,
        };
        p.replace(rules);
        p
    }

    /// Replaces the loaded profile's rules (confined tasks switch to the
    /// new rules at once).
    fn replace(&self, rules: &str) {
        std::fs::write(
            &self.file,
            format!(
                "profile {} flags=(attach_disconnected,mediate_deleted) {{\n{rules}\n}}\n",
                self.name
            ),
        )
        .unwrap();
        parser(&["-r", "-K"], &self.file);
        let loaded = std::fs::read_to_string("/sys/kernel/security/apparmor/profiles").unwrap();
        assert!(
            loaded
                .lines()
                .any(|l| l == format!("{} (enforce)", self.name)),
            "profile {} not loaded: {loaded}",
            self.name
        );
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = Command::new("apparmor_parser")
            .args(["-R", "-K"])
            .arg(&self.file)
            .output();
    }
}

fn parser(args: &[&str], file: &std::path::Path) {
    let out = Command::new("apparmor_parser")
        .args(args)
        .arg(file)
        .output()
        .expect("apparmor_parser (apt-get install apparmor)");
    assert!(
        out.status.success(),
        "apparmor_parser {args:?} {}: {}",
        file.display(),
        common::s(&out.stderr)
    );
}

/// Everything allowed except writes under `/tmp`: a write there fails
/// with EACCES only if the profile is enforced.
const DENY_TMP: &str = "  file,\n  capability,\n  network,\n  signal,\n  unix,\n  deny /tmp/** w,";

/// A fixture running `args` on a writable root filesystem.
fn fixture(name: &str, args: &[&str]) -> Fixture {
    let f = Fixture::new(name, args);
    f.edit(|c| c["root"]["readonly"] = json!(false));
    f
}

/// The container's own view: its label, then a write to `/tmp` and one to
/// `/root`, each with its result.
const SHOW: &str = "cat /proc/self/attr/current; \
    echo x > /tmp/f && echo tmp=written; \
    echo x > /root/f && echo root=written; true";

#[test]
#[ignore = "needs AppArmor: tests/vm/lsm.sh runs it in the VM"]
fn the_container_runs_under_its_profile_and_the_profile_is_enforced() {
    let p = Profile::load("berth-test-lsm-init", DENY_TMP);
    let f = fixture("lsm-init", &["sh", "-c", SHOW]);
    f.edit(|c| c["process"]["apparmorProfile"] = json!(p.name));
    let (code, out, err) = f.run("c1");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("berth-test-lsm-init (enforce)\n"),
        "label: {out}"
    );
    assert!(
        err.contains("can't create /tmp/f: Permission denied"),
        "the write to /tmp must get EACCES: {err}"
    );
    assert!(!out.contains("tmp=written"), "{out}");
    assert!(
        out.contains("root=written"),
        "other writes are allowed: {out}{err}"
    );
    f.assert_clean();
}

#[test]
#[ignore = "needs AppArmor: tests/vm/lsm.sh runs it in the VM"]
fn without_a_profile_the_container_is_unconfined() {
    require_apparmor();
    let f = fixture("lsm-none", &["sh", "-c", SHOW]);
    let (code, out, err) = f.run("c1");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("unconfined\n"), "label: {out}");
    assert!(out.contains("tmp=written"), "{out}{err}");
    f.assert_clean();
}

/// With `noNewPrivileges` and a seccomp filter, whose set-up comes after
/// the profile's in the init, the profile still applies.
#[test]
#[ignore = "needs AppArmor: tests/vm/lsm.sh runs it in the VM"]
fn the_profile_applies_with_no_new_privileges_and_seccomp() {
    let p = Profile::load("berth-test-lsm-nnp", DENY_TMP);
    let f = fixture("lsm-nnp", &["sh", "-c", SHOW]);
    f.edit(|c| {
        c["process"]["apparmorProfile"] = json!(p.name);
        c["process"]["noNewPrivileges"] = json!(true);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["swapon"], "action": "SCMP_ACT_ERRNO"}]
        });
    });
    let (code, out, err) = f.run("c1");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("berth-test-lsm-nnp (enforce)\n"),
        "label: {out}"
    );
    assert!(
        err.contains("can't create /tmp/f: Permission denied"),
        "{err}"
    );
    f.assert_clean();
}

/// `exec` processes get the process's profile: the container's by
/// default, `--apparmor`'s or `--process`'s when given.
#[test]
#[ignore = "needs AppArmor: tests/vm/lsm.sh runs it in the VM"]
fn exec_processes_are_confined_by_their_own_profile() {
    let init = Profile::load("berth-test-lsm-exec-init", DENY_TMP);
    let other = Profile::load("berth-test-lsm-exec-other", "  file,\n  signal,");
    let f = fixture("lsm-exec", &["sleep", "1000"]);
    f.edit(|c| c["process"]["apparmorProfile"] = json!(init.name));
    let b = f.bundle.to_string_lossy().to_string();
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);

    let label = |args: &[&str]| {
        let mut a = vec!["exec"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["c1", "cat", "/proc/self/attr/current"]);
        f.ok(&a)
    };
    assert_eq!(label(&[]), "berth-test-lsm-exec-init (enforce)\n");
    assert_eq!(
        label(&["--apparmor", &other.name]),
        "berth-test-lsm-exec-other (enforce)\n"
    );
    // The profile is enforced on the exec process too.
    let out = f.berth(&["exec", "c1", "sh", "-c", "echo x > /tmp/e"]);
    assert!(
        common::s(&out.stderr).contains("can't create /tmp/e: Permission denied"),
        "{}",
        common::s(&out.stderr)
    );
    let process = f.dir.path().join("process.json");
    std::fs::write(
        &process,
        serde_json::to_vec(&json!({
            "args": ["cat", "/proc/self/attr/current"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "env": ["PATH=/bin"],
            "apparmorProfile": other.name,
        }))
        .unwrap(),
    )
    .unwrap();
    let p = process.to_string_lossy().to_string();
    assert_eq!(
        f.ok(&["exec", "--process", &p, "c1"]),
        "berth-test-lsm-exec-other (enforce)\n"
    );
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

/// A profile the kernel does not have is refused with the field named,
/// for `run` and for `exec`, and leaves nothing behind.
#[test]
#[ignore = "needs AppArmor: tests/vm/lsm.sh runs it in the VM"]
fn a_profile_that_is_not_loaded_is_an_error_naming_the_field() {
    require_apparmor();
    let f = fixture("lsm-missing", &["true"]);
    f.edit(|c| c["process"]["apparmorProfile"] = json!("berth-test-lsm-not-loaded"));
    let (code, _, err) = f.run("c1");
    assert_ne!(code, 0);
    assert!(
        err.contains("process.apparmorProfile")
            && err.contains("berth-test-lsm-not-loaded")
            && err.contains("No such file or directory"),
        "{err}"
    );
    f.assert_clean();

    let f = fixture("lsm-missing-exec", &["sleep", "1000"]);
    let b = f.bundle.to_string_lossy().to_string();
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    let out = f.berth(&[
        "exec",
        "--apparmor",
        "berth-test-lsm-not-loaded",
        "c1",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(255));
    let err = common::s(&out.stderr);
    assert!(
        err.contains("process.apparmorProfile") && err.contains("berth-test-lsm-not-loaded"),
        "{err}"
    );
    assert_eq!(f.status("c1"), "running");
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

/// Docker's `docker-default` and containerd's default profile let a
/// confined container receive signals only from `unconfined`, from the
/// peers `runc` and `crun`, and from itself. berth runs unconfined (no
/// profile attaches to its binary), so `kill` and `delete --force` work
/// under such a profile; the same profile without the `unconfined` rule
/// shows the rules are really enforced: the kill is refused until the
/// rule is back.
#[test]
#[ignore = "needs AppArmor: tests/vm/lsm.sh runs it in the VM"]
fn the_runtime_signals_a_container_under_a_docker_style_profile() {
    let name = "berth-test-lsm-signal";
    let base = format!(
        "  file,\n  capability,\n  network,\n  unix,\n  \
         signal (receive) peer=runc,\n  signal (receive) peer=crun,\n  \
         signal (send,receive) peer={name},"
    );
    let with_unconfined = format!("{base}\n  signal (receive) peer=unconfined,");
    let p = Profile::load(name, &with_unconfined);
    let f = fixture("lsm-signal", &["sleep", "1000"]);
    f.edit(|c| c["process"]["apparmorProfile"] = json!(name));
    let b = f.bundle.to_string_lossy().to_string();

    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    assert_eq!(
        f.ok(&["exec", "c1", "cat", "/proc/1/attr/current"]),
        format!("{name} (enforce)\n")
    );
    f.ok(&["kill", "c1", "KILL"]);
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);

    f.ok(&["run", "-d", "--bundle", &b, "c2"]);
    f.ok(&["delete", "--force", "c2"]);
    f.assert_clean();

    // Without the rule for unconfined senders the kill is refused.
    p.replace(&base);
    f.ok(&["run", "-d", "--bundle", &b, "c3"]);
    let err = f.fails(&["kill", "c3", "KILL"]);
    assert!(err.contains("ermission denied"), "{err}");
    assert_eq!(f.status("c3"), "running");
    p.replace(&with_unconfined);
    f.ok(&["kill", "c3", "KILL"]);
    f.wait_status("c3", "stopped");
    f.ok(&["delete", "c3"]);
    f.assert_clean();
}

/// `features` reports AppArmor enabled where it is.
#[test]
#[ignore = "needs AppArmor: tests/vm/lsm.sh runs it in the VM"]
fn features_reports_apparmor_enabled() {
    require_apparmor();
    let out = Command::new(common::berth_bin())
        .arg("features")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["linux"]["apparmor"]["enabled"], json!(true), "{v}");
}

/// A runtime confined by a profile named `runc` (Ubuntu's `runc`
/// profile attaches to `/usr/sbin/runc`, so berth installed there runs
/// under it) is the `peer=runc` of Docker's and containerd's default
/// profiles: it signals the container even without the rule for
/// unconfined senders, which refuses the same kill from berth
/// unconfined.
#[test]
#[ignore = "needs AppArmor: tests/vm/lsm.sh runs it in the VM"]
fn berth_under_a_profile_named_runc_is_the_peer_runc_of_docker_style_profiles() {
    let name = "berth-test-lsm-peer";
    let container = Profile::load(
        name,
        &format!(
            "  file,\n  capability,\n  network,\n  unix,\n  \
             signal (receive) peer=runc,\n  signal (receive) peer=crun,\n  \
             signal (send,receive) peer={name},"
        ),
    );
    let runtime = Profile::load(
        "runc",
        "  file,\n  capability,\n  network,\n  unix,\n  signal,\n  ptrace,\n  \
         mount,\n  umount,\n  pivot_root,\n  change_profile,",
    );
    let f = fixture("lsm-peer", &["sleep", "1000"]);
    f.edit(|c| c["process"]["apparmorProfile"] = json!(container.name));
    let b = f.bundle.to_string_lossy().to_string();
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);

    let err = f.fails(&["kill", "c1", "KILL"]);
    assert!(err.contains("ermission denied"), "{err}");
    assert_eq!(f.status("c1"), "running");

    let as_runc = |args: &[&str]| {
        Command::new("aa-exec")
            .args(["-p", &runtime.name, "--"])
            .arg(common::berth_bin())
            .arg("--root")
            .arg(&f.root)
            .args(args)
            .output()
            .expect("aa-exec (apt-get install apparmor)")
    };
    let out = as_runc(&["kill", "c1", "KILL"]);
    assert!(out.status.success(), "{}", common::s(&out.stderr));
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

/// containerd's own default profile, generated and loaded by `ctr run
/// --apparmor-default-profile` (Debian 12's containerd 1.6), with berth
/// as the runc binary: the container runs under it, and `ctr task kill`
/// (the shim calling `berth kill`) stops it.
#[test]
#[ignore = "needs AppArmor: tests/vm/lsm.sh runs it in the VM"]
fn containerd_default_profile_confines_and_berth_signals_through_it() {
    require_apparmor();
    let name = "berth-test-lsm-ctrd-default";
    let dir = tempfile::tempdir().unwrap();
    let d = callers::Containerd::start(dir.path(), "", false);
    let ns = format!("berth-lsm-{}", std::process::id());
    let image_name = "docker.io/library/busybox:berth";
    let image = callers::busybox_image(dir.path(), image_name, &["sh"]);
    callers::ok(d.ctr(&ns).args(["images", "import"]).arg(&image));
    let berth_root = dir.path().join("berth-root");
    callers::ok(
        d.ctr(&ns)
            .arg("run")
            .arg("--runc-binary")
            .arg(common::berth_bin())
            .arg("--runc-root")
            .arg(&berth_root)
            .args(["-d", "--apparmor-default-profile", name, image_name, "t1"])
            .args(["sleep", "1000"]),
    );
    let label = callers::ok(d.ctr(&ns).args([
        "task",
        "exec",
        "--exec-id",
        "e1",
        "t1",
        "cat",
        "/proc/1/attr/current",
    ]));
    assert_eq!(label, format!("{name} (enforce)\n"));
    callers::ok(d.ctr(&ns).args(["task", "kill", "-s", "SIGKILL", "t1"]));
    callers::wait_for("the task to stop", || {
        !callers::ok(d.ctr(&ns).args(["task", "ls"])).contains("RUNNING")
    });
    callers::ok(d.ctr(&ns).args(["task", "delete", "t1"]));
    callers::ok(d.ctr(&ns).args(["container", "delete", "t1"]));
    drop(d);
    callers::unmount_below(dir.path());
    callers::remove_cgroups(&ns);
    let _ = std::fs::write("/sys/kernel/security/apparmor/.remove", name);
}

/// Docker (Debian's docker.io 20.10, the private dockerd of
/// `tests/callers/dockerd.rs`, on a containerd of the test's own) with
/// berth as its default runtime on a
/// kernel with AppArmor: dockerd generates and loads `docker-default`
/// and names it in every container's `process.apparmorProfile`. The
/// container and its `docker exec` processes run under it, its rules are
/// enforced (`deny mount`: a mount with CAP_SYS_ADMIN is refused, and
/// allowed with `--security-opt apparmor=unconfined`), and `docker stop`
/// and `docker kill`, which reach the container through `berth kill`,
/// deliver their signals: docker-default lets `unconfined` senders and
/// dockerd's own label signal it, and berth runs unconfined.
#[test]
#[ignore = "needs AppArmor and docker.io: tests/vm/lsm.sh runs it in the VM"]
fn docker_runs_berth_containers_under_docker_default_and_stops_them() {
    require_apparmor();
    let _profile = common::CallerProfile::note("docker-default");
    let d = dockerd::Dockerd::start_on_own_containerd("lsm-docker", &[]);
    let profiles = std::fs::read_to_string("/sys/kernel/security/apparmor/profiles").unwrap();
    assert!(
        profiles.lines().any(|l| l == "docker-default (enforce)"),
        "dockerd did not load docker-default: {profiles}"
    );

    eprintln!("docker run: the label and a mount");
    let mount = "mkdir -p /m; mount -t tmpfs t /m && echo mounted; cat /proc/self/attr/current";
    let out = callers::run(&mut d.run(&["--rm", "--cap-add", "SYS_ADMIN"], &["sh", "-c", mount]));
    let (stdout, stderr) = (common::s(&out.stdout), common::s(&out.stderr));
    assert_eq!(stdout, "docker-default (enforce)\n", "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    let out = callers::ok(&mut d.run(
        &[
            "--rm",
            "--cap-add",
            "SYS_ADMIN",
            "--security-opt",
            "apparmor=unconfined",
        ],
        &["sh", "-c", mount],
    ));
    assert_eq!(out, "mounted\nunconfined\n");

    eprintln!("docker exec: the exec process's label");
    let trap = "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 0' TERM; \
        echo ready; while :; do sleep 0.1; done";
    callers::ok(&mut d.run(&["-d", "--name", "b-aa"], &["sh", "-c", trap]));
    callers::wait_for("b-aa's traps", || {
        callers::ok(d.docker().args(["logs", "b-aa"])).contains("ready")
    });
    let out = callers::ok(d.docker().args([
        "exec",
        "b-aa",
        "sh",
        "-c",
        "cat /proc/1/attr/current /proc/self/attr/current",
    ]));
    assert_eq!(out, "docker-default (enforce)\ndocker-default (enforce)\n");

    eprintln!("docker kill -s USR1, docker stop");
    callers::ok(d.docker().args(["kill", "-s", "USR1", "b-aa"]));
    callers::wait_for("the USR1 handler", || {
        callers::ok(d.docker().args(["logs", "b-aa"])).contains("got-usr1")
    });
    // A grace period the slow VM surely meets: TERM, not KILL, ends it.
    callers::ok(d.docker().args(["stop", "-t", "60", "b-aa"]));
    assert_eq!(d.inspect("b-aa", "{{.State.ExitCode}}"), "0");
    assert_eq!(
        callers::ok(d.docker().args(["logs", "b-aa"])),
        "ready\ngot-usr1\ngot-term\n"
    );

    eprintln!("docker kill");
    callers::ok(&mut d.run(&["-d", "--name", "b-aa-kill"], &["sleep", "1000"]));
    callers::ok(d.docker().args(["kill", "b-aa-kill"]));
    callers::wait_for("b-aa-kill to exit", || {
        d.inspect("b-aa-kill", "{{.State.Status}}") == "exited"
    });
    assert_eq!(d.inspect("b-aa-kill", "{{.State.ExitCode}}"), "137");
    d.rm(&["b-aa", "b-aa-kill"]);
    d.finish();
}
