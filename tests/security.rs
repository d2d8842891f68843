//! Known runtime attack classes, each reproduced against berth: the test
//! fails if the attack works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::Fixture;

/// CVE-2019-5736: the container's program is a script whose interpreter is
/// `/proc/self/exe`. Without a defence, the kernel runs the host's berth
/// binary inside the container (which prints berth's usage error), and a
/// container process can reopen it for writing. With berth's exec stub the
/// interpreter is a sealed memfd: berth never runs in the container, and the
/// binary behind `/proc/<pid>/exe` cannot be written.
#[test]
fn proc_self_exe_interpreter_never_reaches_the_host_binary() {
    let f = Fixture::new("sec-5736", &["/evil"]);
    let evil = f.rootfs().join("evil");
    std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = std::fs::read(common::berth_bin()).unwrap();
    let log = f.dir.path().join("container.err");
    let b = f.bundle.to_string_lossy().to_string();
    f.create("c1");
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    // The container's stderr is berth's: capture it through a file.
    let err = std::fs::File::create(&log).unwrap();
    drop(err);
    f.ok(&["start", "c1"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        exe.starts_with("/memfd:berth-exec-stub"),
        "the interpreter the kernel ran must be the sealed stub, not {exe:?}"
    );
    // Even with the same privileges as root in the container, the binary
    // behind /proc/<pid>/exe cannot be modified.
    let w = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/{pid}/exe"));
    if let Ok(mut file) = w {
        assert!(
            std::io::Write::write_all(&mut file, b"PWNED").is_err(),
            "the stub must be sealed against writes"
        );
    }
    f.ok(&["delete", "--force", "c1"]);
    assert_eq!(
        std::fs::read(common::berth_bin()).unwrap(),
        before,
        "the host binary changed"
    );
    let _ = b;
    f.assert_clean();
}
