//! SELinux labels on a kernel that has SELinux: the process label
//! (`process.selinuxLabel`) of the init and of `exec` processes, the label
//! of their session keyrings, and `linux.mountLabel` on the filesystems
//! runc labels (tmpfs, devpts and the masked-path tmpfs by `context=`,
//! mqueue by its `security.selinux` attribute), all read from inside the
//! container: `/proc/self/attr/current`, `KEYCTL_GET_SECURITY` and
//! `security.selinux` (what `ls -Z` shows) through the static probe, and
//! `/proc/self/mountinfo`.
//!
//! They need SELinux enabled (selinuxfs at `/sys/fs/selinux`) with a
//! policy that knows the labels (Debian's `selinux-policy-default`:
//! `svirt_t`, `svirt_image_t`), which the development machines lack, so
//! they are `#[ignore]`d; `tests/vm/selinux.sh` runs them in the test VM
//! booted with `security=selinux selinux=1`, after loading the policy
//! there (`.ci/test`). Once started, a test fails (never skips) when
//! SELinux is missing. The refusal of labels where SELinux is not enabled
//! runs on the host (the last test, and `tests/process_attrs.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{Fixture, lsm_label as label};
use serde_json::json;

/// The container's process label: Debian's policy's confined virtual
/// machine domain, with two MCS categories (the comma must survive).
const PROCESS: &str = "system_u:system_r:svirt_t:s0:c1,c2";
/// Another process label, for `exec --process-label`.
const OTHER: &str = "system_u:system_r:svirt_t:s0:c3,c4";
/// The mount label: the files of such a domain.
const MOUNT: &str = "system_u:object_r:svirt_image_t:s0:c1,c2";

/// Fails the test unless SELinux is enabled.
fn require_selinux() {
    assert!(
        common::selinux_enabled(),
        "these tests need SELinux enabled with a policy loaded (run them with \
         tests/vm/selinux.sh); /sys/fs/selinux/enforce does not exist"
    );
}

/// A labelled fixture running `args`, with the probe and a masked
/// directory (`/var`) that surely exists.
fn fixture(name: &str, args: &[&str]) -> Fixture {
    require_selinux();
    let f = Fixture::new(name, args);
    f.install_probe();
    f.edit(|c| {
        c["process"]["selinuxLabel"] = json!(PROCESS);
        c["linux"]["mountLabel"] = json!(MOUNT);
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push(json!("/var"));
    });
    f
}

/// What the container shows of its labels, one `key=value` line each.
const SHOW: &str = "echo current=$(cat /proc/self/attr/current); \
    echo keyring=$(probe keyring-label); \
    for p in /dev /dev/shm /dev/pts /dev/mqueue /var; do echo file$p=$(probe file-label $p); done; \
    cat /proc/self/mountinfo";

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(label)
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

/// The super options of the mount at `dest` in a mountinfo listing.
fn super_options<'a>(mountinfo: &'a str, dest: &str) -> &'a str {
    mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(dest))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no mount at {dest} in {mountinfo}"))
}

fn assert_mount_labels(out: &str) {
    for dest in ["/dev", "/dev/shm", "/dev/pts", "/var"] {
        let opts = super_options(out, dest);
        assert!(
            opts.contains(&format!("context=\"{MOUNT}\"")),
            "{dest} must be mounted with context={MOUNT}: {opts}"
        );
        assert_eq!(value(out, &format!("file{dest}")), MOUNT, "{out}");
    }
    // mqueue takes no context=: its root is labelled by attribute.
    let opts = super_options(out, "/dev/mqueue");
    assert!(!opts.contains("context="), "{opts}");
    assert_eq!(value(out, "file/dev/mqueue"), MOUNT, "{out}");
}

#[test]
#[ignore = "needs SELinux: tests/vm/selinux.sh runs it in the VM"]
fn the_container_has_its_process_keyring_and_mount_labels() {
    let f = fixture("selinux-init", &["sh", "-c", SHOW]);
    let (code, out, err) = f.run("c1");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(value(&out, "current"), PROCESS, "{out}{err}");
    assert_eq!(value(&out, "keyring"), PROCESS, "{out}{err}");
    assert_mount_labels(&out);
    f.assert_clean();
}

/// `noNewPrivileges` (on in the template) off: the labels are the same.
#[test]
#[ignore = "needs SELinux: tests/vm/selinux.sh runs it in the VM"]
fn the_labels_apply_without_no_new_privileges() {
    let f = fixture("selinux-privs", &["sh", "-c", SHOW]);
    f.edit(|c| c["process"]["noNewPrivileges"] = json!(false));
    let (code, out, err) = f.run("c1");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(value(&out, "current"), PROCESS, "{out}{err}");
    assert_eq!(value(&out, "keyring"), PROCESS, "{out}{err}");
    assert_mount_labels(&out);
    f.assert_clean();
}

/// Without labels the container keeps the runtime's domain and its
/// filesystems get no `context=`.
#[test]
#[ignore = "needs SELinux: tests/vm/selinux.sh runs it in the VM"]
fn without_labels_the_container_keeps_the_runtimes_domain() {
    require_selinux();
    let own = std::fs::read_to_string("/proc/self/attr/current").unwrap();
    let f = Fixture::new("selinux-none", &["sh", "-c", SHOW]);
    f.install_probe();
    let (code, out, err) = f.run("c1");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(value(&out, "current"), label(&own), "{out}{err}");
    assert!(!super_options(&out, "/dev").contains("context="), "{out}");
    f.assert_clean();
}

/// `exec` processes get the process's label, the container's by default,
/// `--process-label`'s or `--process`'s when given; their session
/// keyrings too.
#[test]
#[ignore = "needs SELinux: tests/vm/selinux.sh runs it in the VM"]
fn exec_processes_run_with_their_own_label() {
    let f = fixture("selinux-exec", &["sleep", "1000"]);
    let b = f.bundle.to_string_lossy().to_string();
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    let show = |args: &[&str]| {
        let mut a = vec!["exec"];
        a.extend_from_slice(args);
        a.extend_from_slice(&[
            "c1",
            "sh",
            "-c",
            "echo current=$(cat /proc/self/attr/current); echo keyring=$(probe keyring-label)",
        ]);
        f.ok(&a)
    };
    let out = show(&[]);
    assert_eq!(value(&out, "current"), PROCESS, "{out}");
    assert_eq!(value(&out, "keyring"), PROCESS, "{out}");
    let out = show(&["--process-label", OTHER]);
    assert_eq!(value(&out, "current"), OTHER, "{out}");
    assert_eq!(value(&out, "keyring"), OTHER, "{out}");

    let process = f.dir.path().join("process.json");
    std::fs::write(
        &process,
        serde_json::to_vec(&json!({
            "args": ["cat", "/proc/self/attr/current"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "env": ["PATH=/bin"],
            "selinuxLabel": OTHER,
        }))
        .unwrap(),
    )
    .unwrap();
    let p = process.to_string_lossy().to_string();
    assert_eq!(label(&f.ok(&["exec", "--process", &p, "c1"])), OTHER);
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

/// A label the policy does not know is refused with the field named, and
/// leaves nothing behind.
#[test]
#[ignore = "needs SELinux: tests/vm/selinux.sh runs it in the VM"]
fn an_invalid_label_is_an_error_naming_the_field() {
    let f = fixture("selinux-invalid", &["true"]);
    f.edit(|c| c["process"]["selinuxLabel"] = json!("system_u:system_r:berth_no_such_t:s0"));
    let (code, _, err) = f.run("c1");
    assert_ne!(code, 0);
    assert!(
        err.contains("process.selinuxLabel") && err.contains("berth_no_such_t"),
        "{err}"
    );
    f.assert_clean();

    let f = fixture("selinux-invalid-mount", &["true"]);
    f.edit(|c| c["linux"]["mountLabel"] = json!("system_u:object_r:berth_no_such_t:s0"));
    let (code, _, err) = f.run("c1");
    assert_ne!(code, 0);
    assert!(
        err.contains("linux.mountLabel") && err.contains("berth_no_such_t"),
        "{err}"
    );
    f.assert_clean();
}

/// The policy is what decides: in enforcing mode (`tests/vm/selinux.sh`
/// with `berth_selinux=enforcing`) the container's domain may write to the
/// filesystems labelled with its mount label (`/dev/shm`), but may not
/// change the attributes of its root filesystem's files, which keep the
/// test VM's `tmpfs_t` (Debian's policy lets `svirt_t` read and write
/// those, not `setattr` them): a `chmod` that root's capabilities allow
/// gets EACCES. In permissive mode both succeed and the kernel only logs
/// the denial.
#[test]
#[ignore = "needs SELinux: tests/vm/selinux.sh runs it in the VM"]
fn the_policy_decides_what_the_container_may_write() {
    let f = fixture(
        "selinux-enforce",
        &[
            "sh",
            "-c",
            "echo x > /dev/shm/f && echo shm=written; chmod 600 /etc/group && echo chmod=done; true",
        ],
    );
    f.edit(|c| c["root"]["readonly"] = json!(false));
    let enforcing = std::fs::read_to_string("/sys/fs/selinux/enforce").unwrap();
    let (code, out, err) = f.run("c1");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("shm=written"), "{out}{err}");
    if enforcing.trim() == "1" {
        assert!(!out.contains("chmod=done"), "{out}{err}");
        assert!(
            err.contains("chmod: /etc/group: Permission denied"),
            "{out}{err}"
        );
    } else {
        assert!(out.contains("chmod=done"), "{out}{err}");
    }
    f.assert_clean();
}

/// `features` reports SELinux enabled where it is.
#[test]
#[ignore = "needs SELinux: tests/vm/selinux.sh runs it in the VM"]
fn features_reports_selinux_enabled() {
    require_selinux();
    let out = Command::new(common::berth_bin())
        .arg("features")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["linux"]["selinux"]["enabled"], json!(true), "{v}");
}

/// Where SELinux is not enabled a label is refused, as runc refuses it
/// (a host test: the VM suite has SELinux and skips it, saying so).
#[test]
fn a_label_is_refused_where_selinux_is_not_enabled() {
    if common::selinux_enabled() {
        eprintln!("skipped: SELinux is enabled here (the refusal needs a host without it)");
        return;
    }
    common::refused(
        "selinux-refused",
        |c| c["process"]["selinuxLabel"] = json!(PROCESS),
        "process.selinuxLabel: SELinux is not enabled on this host",
    );
    common::refused(
        "selinux-refused-mount",
        |c| c["linux"]["mountLabel"] = json!(MOUNT),
        "linux.mountLabel: SELinux is not enabled on this host",
    );
}
