//! The container process: user, groups, environment, capabilities,
//! rlimits and other attributes, each read back from inside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Fixture;
use serde_json::json;

/// The value of a `/proc/self/status` field in the container's output.
fn status_field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{name} missing in {out}"))
}

#[test]
fn hostname_domainname_user_groups_and_home() {
    let f = Fixture::new(
        "proc-user",
        &[
            "sh",
            "-c",
            "hostname; cat /proc/sys/kernel/domainname; id -u; id -g; id -G; echo HOME=$HOME; pwd; grep Groups /proc/self/status",
        ],
    );
    f.edit(|c| {
        c["hostname"] = json!("box-1");
        c["domainname"] = json!("example.test");
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]});
        c["process"]["cwd"] = json!("/tmp");
        c["process"]["env"] = json!(["PATH=/bin", "A=1", "A=2"]);
    });
    let out = f.output("c1");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "box-1");
    assert_eq!(l[1], "example.test");
    assert_eq!(l[2], "1000");
    assert_eq!(l[3], "1000");
    assert_eq!(l[4], "1000 10 20");
    assert_eq!(
        l[5], "HOME=/home/user",
        "HOME comes from the container's /etc/passwd"
    );
    assert_eq!(l[6], "/tmp");
    assert_eq!(status_field(&out, "Groups"), "10 20");
    f.assert_clean();
}

#[test]
fn environment_is_deduplicated_and_path_is_used() {
    let f = Fixture::new("proc-env", &["env"]);
    f.edit(|c| c["process"]["env"] = json!(["PATH=/bin", "A=1", "A=2", "HOME=/custom"]));
    let out = f.output("c1");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["A=2", "HOME=/custom", "PATH=/bin"]);
    f.assert_clean();
}

fn mask(caps: &[u32]) -> String {
    format!("{:016x}", caps.iter().fold(0u64, |m, c| m | (1 << c)))
}

#[test]
fn all_five_capability_sets() {
    let f = Fixture::new("proc-caps", &["grep", "^Cap", "/proc/self/status"]);
    // CAP_CHOWN=0, CAP_KILL=5, CAP_NET_BIND_SERVICE=10, CAP_NET_RAW=13, CAP_SYS_CHROOT=18
    f.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            "ambient": ["CAP_NET_BIND_SERVICE"]
        });
    });
    let out = f.output("c1");
    // A non-root user keeps across exec only what is ambient (plus what is
    // inheritable and in the file's sets: nothing for busybox).
    assert_eq!(status_field(&out, "CapBnd"), mask(&[0, 5, 10, 13, 18]));
    assert_eq!(status_field(&out, "CapInh"), mask(&[10, 13]));
    assert_eq!(status_field(&out, "CapAmb"), mask(&[10]));
    assert_eq!(status_field(&out, "CapPrm"), mask(&[10]));
    assert_eq!(status_field(&out, "CapEff"), mask(&[10]));
    f.assert_clean();
}

#[test]
fn root_gets_its_configured_sets() {
    let f = Fixture::new("proc-rootcaps", &["grep", "^Cap", "/proc/self/status"]);
    f.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "effective": ["CAP_CHOWN"]
        });
    });
    let out = f.output("c1");
    assert_eq!(status_field(&out, "CapBnd"), mask(&[0, 5]));
    // uid 0 regains its bounding set at exec (no SECBIT_NOROOT).
    assert_eq!(status_field(&out, "CapPrm"), mask(&[0, 5]));
    assert_eq!(status_field(&out, "CapInh"), mask(&[]));
    f.assert_clean();
}

#[test]
fn rlimits_umask_no_new_privs_and_oom_score() {
    let f = Fixture::new(
        "proc-limits",
        &[
            "sh",
            "-c",
            "grep -E 'Max open files|Max core file size|Max processes' /proc/self/limits; umask; grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj",
        ],
    );
    f.edit(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}
        ]);
        c["process"]["user"]["umask"] = json!(0o027);
        c["process"]["noNewPrivileges"] = json!(true);
        c["process"]["oomScoreAdj"] = json!(123);
    });
    let out = f.output("c1");
    let l: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let find = |name: &str| {
        l.iter()
            .find(|f| f.join(" ").starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {out}"))
            .clone()
    };
    assert_eq!(&find("Max open files")[3..5], ["512", "1024"]);
    assert_eq!(&find("Max core file size")[4..6], ["0", "0"]);
    assert_eq!(&find("Max processes")[2..4], ["300", "400"]);
    assert!(out.contains("\n0027\n"), "{out}");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
    assert!(out.ends_with("123\n"), "{out}");
    f.assert_clean();
}

#[test]
fn missing_executable_fails_create_and_leaves_nothing() {
    let f = Fixture::new("proc-noexec", &["nope"]);
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(
        err.contains("exec: \\\"nope\\\": executable file not found in $PATH"),
        "{err}"
    );
    f.assert_clean();
    f.edit(|c| c["process"]["args"] = json!(["/bin/nope"]));
    let err = f.fails(&["create", "--bundle", &b, "c2"]);
    assert!(
        err.contains("stat /bin/nope: no such file or directory"),
        "{err}"
    );
    f.assert_clean();
}

#[test]
fn preserved_descriptors_reach_the_container_and_others_do_not() {
    let f = Fixture::new(
        "proc-fds",
        &[
            "sh",
            "-c",
            "ls /proc/self/fd | sort -n | tr '\\n' ' '; cat <&3",
        ],
    );
    let (ok, got) = common::run_passing_fd3(&f);
    assert!(ok, "{got}");
    // stdio, fd 3, and the directory ls itself reads: nothing of berth's.
    assert_eq!(got, "0 1 2 3 4 through fd 3", "{got}");
    f.assert_clean();
}

/// Signals berth's caller ignored start at their default in the container
/// (the init resets the ignored ones: `SigIgn` from berth's own status).
/// HUP, INT, USR1, TERM (trapped below) and PIPE (ignored by Rust's
/// runtime), as `SigIgn` bits (signal n is bit n - 1). glibc's reserved
/// real-time signals 32 and 33 are left out: `signal(2)` refuses them.
const TRAPPED: u64 = 1 << 0 | 1 << 1 | 1 << 9 | 1 << 12 | 1 << 14;

fn ignored(out: &str) -> u64 {
    u64::from_str_radix(status_field(out, "SigIgn"), 16).expect("hex mask")
}

#[test]
fn signals_the_caller_ignored_are_default_in_the_container() {
    // grep itself, not through busybox's sh (which ignores SIGQUIT).
    let f = Fixture::new("proc-sigign", &["grep", "SigIgn", "/proc/self/status"]);
    // `trap ''` sets SIG_IGN, which berth inherits across the shell's exec.
    let wrapped = |args: &[&str]| {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("trap '' HUP INT USR1 TERM; exec \"$0\" \"$@\"")
            .arg(common::berth_bin())
            .arg("--root")
            .arg(&f.root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("sh");
        assert!(out.status.success(), "berth {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let b = f.bundle.to_string_lossy().to_string();
    let out = wrapped(&["run", "--bundle", &b, "sig1"]);
    assert_eq!(ignored(&out) & TRAPPED, 0, "{out}");
    let _ = f.berth(&["delete", "-f", "sig1"]);

    f.assert_clean();
}
