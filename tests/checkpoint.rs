//! `checkpoint` and `restore` with CRIU (docs/checkpoint.md).
//!
//! The tests that need a working CRIU skip, saying why, where `criu check`
//! fails (this project's hosts: CRIU 3.17 does not know kernel 6.18's vDSO
//! layout); the checkpoint VM suite (tests/vm/checkpoint.sh, Debian's 6.1
//! kernel) runs them with `BERTH_CRIU_REQUIRED=1`, where a skip is a
//! failure. The mangled-image tests run everywhere: restore validates the
//! image before it calls CRIU.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callers;
mod common;
#[path = "callers/podman.rs"]
mod podman;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Fixture, counter, processes_rooted_in, s};
use serde_json::json;

/// Whether a test that needs CRIU can run; prints the reason when not.
/// With `BERTH_CRIU_REQUIRED` set (the VM suite) an unusable CRIU fails.
fn need_criu(test: &str) -> bool {
    let Some(why) = counter::criu_unusable() else {
        return true;
    };
    assert!(
        std::env::var_os("BERTH_CRIU_REQUIRED").is_none(),
        "{test}: CRIU is required here but {why}"
    );
    eprintln!("SKIP {test}: {why}; tests/vm/checkpoint.sh runs it");
    false
}

/// The counter loop (tests/common/counter.rs) appending to /data/count, a
/// bind-mounted host directory (an external mount for CRIU).
fn counter(name: &str) -> Fixture {
    let f = Fixture::new(name, &["sh", "-c", &counter::script("/data/count")]);
    let data = f.dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::create_dir(f.rootfs().join("data")).unwrap();
    f.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": data, "options": ["rbind", "rw"]
        }))
    });
    f
}

/// The counter's file on the host.
fn count_file(f: &Fixture) -> PathBuf {
    f.dir.path().join("data/count")
}

fn counts(f: &Fixture) -> Vec<u64> {
    counter::lines(&count_file(f))
}

fn wait_lines(f: &Fixture, n: usize) -> Vec<u64> {
    counter::wait_lines(&count_file(f), n)
}

/// Runs the bundle detached as `id` and waits for three counts.
fn start(f: &Fixture, id: &str) {
    let b = bundle(f);
    f.ok(&["run", "-d", "--bundle", &b, id]);
    wait_lines(f, 3);
}

/// `checkpoint --image-path <dir>/<image> EXTRA id`; without
/// `--leave-running` or `--pre-dump`, asserts the container is gone.
/// Returns the image directory.
fn dump(f: &Fixture, id: &str, image: &str, extra: &[&str]) -> PathBuf {
    let image = f.dir.path().join(image);
    let mut args = vec!["checkpoint", "--image-path", path(&image)];
    args.extend_from_slice(extra);
    args.push(id);
    f.ok(&args);
    if !extra
        .iter()
        .any(|a| *a == "--leave-running" || *a == "--pre-dump")
    {
        assert_gone(f, id);
    }
    image
}

fn bundle(f: &Fixture) -> String {
    f.bundle.to_string_lossy().into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn assert_gone(f: &Fixture, id: &str) {
    let err = f.fails(&["state", id]);
    assert!(err.contains("container does not exist"), "{err}");
}

fn stop_and_delete(f: &Fixture, id: &str) {
    f.ok(&["kill", id, "KILL"]);
    f.wait_status(id, "stopped");
    f.ok(&["delete", id]);
}

#[test]
fn counter_is_frozen_by_checkpoint_and_continues_after_restore() {
    if !need_criu("counter_is_frozen_by_checkpoint_and_continues_after_restore") {
        return;
    }
    let f = counter("cr-counter");
    start(&f, "c1");
    let image = dump(&f, "c1", "image", &[]);
    // The container is gone: no state, no process; the count stands still.
    assert!(processes_rooted_in(&f.rootfs()).is_empty());
    let frozen = counter::assert_frozen(&count_file(&f));
    assert!(image.join("inventory.img").is_file());

    restore(&f, &image, "c1", &[]);
    let st = f.state("c1");
    assert_eq!(st["status"], "running", "{st}");
    assert!(st["pid"].as_i64().unwrap() > 1);
    // It continues from the same value.
    counter::assert_continues(&count_file(&f), &frozen, 3);
    stop_and_delete(&f, "c1");
    f.assert_clean();
}

#[test]
fn leave_running_then_restore_as_another_id_that_exec_kill_delete_work_on() {
    if !need_criu("leave_running_then_restore_as_another_id_that_exec_kill_delete_work_on") {
        return;
    }
    let f = counter("cr-leave");
    start(&f, "c1");
    let before_dump = counts(&f).len();
    let image = dump(&f, "c1", "image", &["--leave-running"]);
    assert_eq!(f.status("c1"), "running");
    // The dump froze the counter somewhere between these two counts.
    let after_dump = counts(&f).len();
    let later = wait_lines(&f, after_dump + 2);
    stop_and_delete(&f, "c1");
    let before = counts(&f);
    assert!(before.len() >= later.len());

    // The image restored under another ID (and its own cgroup) continues
    // from the checkpoint's value, not from c1's last one.
    f.separate_cgroup("c2");
    restore(&f, &image, "c2", &[]);
    let after = wait_lines(&f, before.len() + 2);
    let first = counter::assert_resumed(&after, before.len());
    assert!(
        first as usize > before_dump && (first as usize) <= after_dump + 1,
        "c2 resumed at {first}, the checkpoint was taken between {before_dump} and \
         {after_dump} (c1 reached {})",
        before.len()
    );

    let st = f.state("c2");
    assert_eq!(
        (st["id"].as_str(), st["status"].as_str()),
        (Some("c2"), Some("running"))
    );
    let pid = st["pid"].as_i64().unwrap();
    // exec joins the restored container: its PID namespace (the counter's
    // shell is PID 1 there) and its root.
    let ps = f.ok(&[
        "exec",
        "c2",
        "sh",
        "-c",
        "cat /proc/1/cmdline; echo; ls /data",
    ]);
    assert!(ps.contains("sh") && ps.contains("count"), "{ps}");
    // The init is the restored shell in the host's view too.
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.starts_with("sh\0-c\0"), "{cmdline:?}");
    // Its cgroup is c2's.
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains("cr-leave.c2"), "{cg}");
    let err = f.fails(&["delete", "c2"]);
    assert!(err.contains("not stopped"), "{err}");
    stop_and_delete(&f, "c2");
    f.assert_clean();
}

#[test]
fn pre_dump_then_dump_with_parent_path() {
    if !need_criu("pre_dump_then_dump_with_parent_path") {
        return;
    }
    let f = counter("cr-predump");
    start(&f, "c1");
    dump(&f, "c1", "pre", &["--pre-dump"]);
    // A pre-dump leaves the container running.
    assert_eq!(f.status("c1"), "running");
    let n = counts(&f).len();
    wait_lines(&f, n + 2);
    // runc's form: --parent-path relative to the image directory.
    let image = dump(&f, "c1", "image", &["--parent-path", "../pre"]);
    let link = std::fs::read_link(image.join("parent")).unwrap();
    assert_eq!(link, PathBuf::from("../pre"));
    let frozen = counts(&f);
    restore(&f, &image, "c1", &[]);
    counter::assert_continues(&count_file(&f), &frozen, 2);
    stop_and_delete(&f, "c1");
    f.assert_clean();
}

#[test]
fn a_corrupt_image_that_criu_rejects_leaves_nothing_behind() {
    // Well-formed for berth's checks, garbage for CRIU: CRIU is started and
    // fails; the state directory, cgroup and root mount must go again.
    let f = Fixture::new("cr-corrupt", &["true"]);
    let image = fake_image(&f);
    std::fs::write(image.join("inventory.img"), b"\x01\x02garbage").unwrap();
    let out = f.berth(&strs(&restore_args(&f, &image, "c1", &[])));
    assert_eq!(out.status.code(), Some(1), "{}", s(&out.stdout));
    let err = s(&out.stderr);
    assert!(err.contains("criu"), "{err}");
    assert_gone(&f, "c1");
    f.assert_clean();
}

// ---- mangled images: refused before CRIU runs ----

/// An image directory that passes berth's checks (CRIU would reject it).
fn fake_image(f: &Fixture) -> PathBuf {
    let image = f.dir.path().join("image");
    std::fs::create_dir(&image).unwrap();
    std::fs::write(image.join("inventory.img"), b"").unwrap();
    std::fs::write(
        image.join("descriptors.json"),
        br#"["/dev/null","/dev/null","/dev/null"]"#,
    )
    .unwrap();
    image
}

/// Restore from the image `mangle` produced must fail with `want` in the
/// message and leave nothing behind.
fn refused_image(name: &str, mangle: impl FnOnce(&Fixture, &Path), want: &str) {
    let f = Fixture::new(name, &["true"]);
    let image = fake_image(&f);
    mangle(&f, &image);
    let out = f.berth(&strs(&restore_args(&f, &image, "c1", &[])));
    assert_eq!(out.status.code(), Some(1), "{}", s(&out.stdout));
    let err = s(&out.stderr);
    assert!(err.contains(want), "expected {want:?} in: {err}");
    assert_gone(&f, "c1");
    f.assert_clean();
}

#[test]
fn an_image_file_that_is_a_symlink_out_of_the_image_is_refused() {
    refused_image(
        "cr-symlink",
        |_, i| std::os::unix::fs::symlink("/etc/shadow", i.join("pages-1.img")).unwrap(),
        "pages-1.img: not a regular file",
    );
}

#[test]
fn a_parent_link_escaping_the_image_directory_is_refused() {
    refused_image(
        "cr-parent-abs",
        |_, i| std::os::unix::fs::symlink("/etc", i.join("parent")).unwrap(),
        "`parent` points to an absolute path",
    );
    refused_image(
        "cr-parent-up",
        |_, i| std::os::unix::fs::symlink("../../../../../../etc", i.join("parent")).unwrap(),
        "outside",
    );
}

#[test]
fn a_device_or_fifo_in_the_image_is_refused() {
    refused_image(
        "cr-fifo",
        |_, i| nix::unistd::mkfifo(&i.join("core-1.img"), nix::sys::stat::Mode::S_IRWXU).unwrap(),
        "core-1.img: not a regular file",
    );
}

#[test]
fn a_directory_without_inventory_is_not_an_image() {
    refused_image(
        "cr-noinv",
        |_, i| std::fs::remove_file(i.join("inventory.img")).unwrap(),
        "inventory.img is missing",
    );
}

#[test]
fn oversize_or_invalid_descriptors_are_refused() {
    refused_image(
        "cr-desc-big",
        |_, i| std::fs::write(i.join("descriptors.json"), vec![b' '; 70 * 1024]).unwrap(),
        "more than the 65536 allowed",
    );
    refused_image(
        "cr-desc-json",
        |_, i| std::fs::write(i.join("descriptors.json"), br#"{"a":1}"#).unwrap(),
        "descriptors.json: not a JSON list of strings",
    );
    refused_image(
        "cr-desc-nul",
        |_, i| std::fs::write(i.join("descriptors.json"), br#"["a\u0000b"]"#).unwrap(),
        "contains NUL",
    );
    refused_image(
        "cr-desc-missing",
        |_, i| std::fs::remove_file(i.join("descriptors.json")).unwrap(),
        "descriptors.json",
    );
}

#[test]
fn a_log_path_that_is_a_symlink_is_refused() {
    // CRIU would truncate and write its log through it.
    refused_image(
        "cr-log",
        |f, i| {
            let victim = f.dir.path().join("victim");
            std::fs::write(&victim, "keep").unwrap();
            std::os::unix::fs::symlink(&victim, i.join("restore.log")).unwrap();
        },
        "restore.log: not a regular file",
    );
}

#[test]
fn a_bad_bundle_config_is_refused_before_the_image_is_read() {
    refused_image(
        "cr-badconfig",
        |f, _| f.edit(|c| c["linux"]["namespaces"] = json!([{"type": "nope"}])),
        "config.json",
    );
    refused_image(
        "cr-userns",
        |f, _| {
            f.edit(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "user"}));
                c["linux"]["uidMappings"] =
                    json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                c["linux"]["gidMappings"] =
                    json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            })
        },
        "user namespace is not supported",
    );
}

// ---- what berth refuses ----

#[test]
fn a_cgroup_namespace_joined_by_path_is_refused_by_name() {
    let f = Fixture::new("cr-nspath", &["true"]);
    f.edit(|c| {
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "cgroup");
        list.push(json!({"type": "cgroup", "path": "/proc/1/ns/cgroup"}));
    });
    let image = fake_image(&f);
    let err = f.fails(&strs(&restore_args(&f, &image, "c1", &[])));
    assert!(
        err.contains("linux.namespaces[")
            && err.contains(
                "joining a cgroup namespace by path is not supported \
                 (CRIU cannot join one; runc refuses it too)"
            ),
        "{err}"
    );
    assert_gone(&f, "c1");
    f.assert_clean();
}

#[test]
fn checkpoint_needs_an_existing_running_container() {
    let f = Fixture::new("cr-state", &["sleep", "100"]);
    let err = f.fails(&["checkpoint", "nope"]);
    assert!(err.contains("container does not exist"), "{err}");
    f.create("c1");
    let image = f.dir.path().join("image");
    let err = f.fails(&["checkpoint", "--image-path", path(&image), "c1"]);
    assert!(err.contains("container not running"), "{err}");
    assert_eq!(f.status("c1"), "created");
    f.ok(&["delete", "--force", "c1"]);
    f.assert_clean();
}

#[test]
fn features_say_whether_checkpoint_works_here() {
    let out = std::process::Command::new(common::berth_bin())
        .arg("features")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = if counter::criu_unusable().is_none() {
        "true"
    } else {
        "false"
    };
    assert_eq!(
        v["annotations"]["org.opencontainers.runc.checkpoint.enabled"],
        want,
        "criu: {:?}",
        counter::criu_unusable()
    );
}

fn receive_master(listener: std::os::unix::net::UnixListener) -> std::fs::File {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let (_, fd) = berth::sys::fd::recv_fd(std::os::fd::AsFd::as_fd(&conn), &mut buf).unwrap();
    std::fs::File::from(fd.expect("the pty master"))
}

/// Reads the pty until a `tick-N` line with N above `above` shows up;
/// returns that N.
fn next_tick(pty: &mut std::fs::File, above: u64) -> u64 {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match pty.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&out);
        if let Some(n) = text
            .split("tick-")
            .skip(1)
            .filter_map(|t| t.split_whitespace().next()?.parse::<u64>().ok())
            .find(|n| *n > above)
        {
            return n;
        }
    }
    panic!("no tick above {above} on the pty: {}", s(&out));
}

#[test]
fn a_terminal_container_gets_a_new_pty_through_the_console_socket() {
    if !need_criu("a_terminal_container_gets_a_new_pty_through_the_console_socket") {
        return;
    }
    let f = counter("cr-tty");
    f.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i >> /data/count; echo tick-$i; sleep 0.2; done"
        ]);
    });
    let b = bundle(&f);
    let sock = f.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || receive_master(listener));
    f.ok(&[
        "run",
        "-d",
        "--console-socket",
        path(&sock),
        "--bundle",
        &b,
        "c1",
    ]);
    let mut pty = receiver.join().unwrap();
    next_tick(&mut pty, 2);
    let image = dump(&f, "c1", "image", &[]);
    drop(pty);
    let frozen = counts(&f).len() as u64;

    // Without a console socket the restore is refused, and leaves nothing.
    let err = f.fails(&strs(&restore_args(&f, &image, "c1", &[])));
    assert!(err.contains("needs --console-socket"), "{err}");
    assert_gone(&f, "c1");

    let sock2 = f.dir.path().join("console2.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock2).unwrap();
    let receiver = std::thread::spawn(move || receive_master(listener));
    restore(&f, &image, "c1", &["--console-socket", path(&sock2)]);
    let mut pty = receiver.join().unwrap();
    // The restored loop writes its next ticks to the new pty.
    let n = next_tick(&mut pty, frozen);
    assert!(n <= frozen + 10, "tick {n} after a checkpoint at {frozen}");
    stop_and_delete(&f, "c1");
    f.assert_clean();
}

#[test]
fn a_bind_mount_whose_destination_is_a_symlink_in_the_image() {
    if !need_criu("a_bind_mount_whose_destination_is_a_symlink_in_the_image") {
        return;
    }
    // /link -> data in the root filesystem: the bind really lands on /data,
    // and CRIU must be told that mount point, not /link.
    let f = counter("cr-symlink-dest");
    std::os::unix::fs::symlink("data", f.rootfs().join("link")).unwrap();
    f.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap().last_mut().unwrap();
        m["destination"] = json!("/link");
    });
    start(&f, "c1");
    let image = dump(&f, "c1", "image", &[]);
    let frozen = counts(&f);
    restore(&f, &image, "c1", &[]);
    counter::assert_continues(&count_file(&f), &frozen, 2);
    stop_and_delete(&f, "c1");
    f.assert_clean();
}

/// Starts `berth ARGS` with its stdio on fresh pipes (containerd's and
/// podman's case); returns a receiver of the lines the container writes
/// to stdout, and the stdin pipe to keep open.
fn spawn_with_pipes(
    f: &Fixture,
    args: &[&str],
) -> (std::sync::mpsc::Receiver<String>, std::process::ChildStdin) {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut child = f
        .cmd()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let st = common::wait_timeout(&mut child, common::TIMEOUT).expect("berth finishes");
    // The container keeps the pipe's write end: read only what berth wrote
    // before it exited, without waiting for EOF.
    let mut err = Vec::new();
    if !st.success() {
        use std::io::Read;
        // Non-blocking: a container may hold the write end.
        let _ = nix::fcntl::fcntl(
            &stderr,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        let _ = stderr.read_to_end(&mut err);
    }
    let err = s(&err);
    assert!(st.success(), "berth {args:?}: {st}: {err}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (rx, stdin)
}

/// The next `out-N` line with N above `above`.
fn next_out(rx: &std::sync::mpsc::Receiver<String>, above: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        if let Some(n) = line
            .strip_prefix("out-")
            .and_then(|n| n.trim().parse().ok())
            && n > above
        {
            return n;
        }
    }
    panic!("no out- line above {above} on the pipe");
}

#[test]
fn stdio_pipes_are_handed_to_the_restored_process() {
    if !need_criu("stdio_pipes_are_handed_to_the_restored_process") {
        return;
    }
    let f = counter("cr-pipes");
    f.edit(|c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i >> /data/count; echo out-$i; sleep 0.2; done"
        ]);
    });
    let b = bundle(&f);
    let (rx, _stdin) = spawn_with_pipes(&f, &["run", "-d", "--bundle", &b, "c1"]);
    // Registers c1 for the fixture's cleanup.
    assert_eq!(f.status("c1"), "running");
    next_out(&rx, 2);
    let image = dump(&f, "c1", "image", &[]);
    let desc = std::fs::read_to_string(image.join("descriptors.json")).unwrap();
    assert!(desc.contains("pipe:["), "{desc}");
    let frozen = counts(&f).len() as u64;
    let (rx2, _stdin2) = spawn_with_pipes(&f, &strs(&restore_args(&f, &image, "c1", &[])));
    // The restored loop writes on restore's own stdout pipe.
    let n = next_out(&rx2, frozen);
    assert!(n <= frozen + 10, "out-{n} after a checkpoint at {frozen}");
    stop_and_delete(&f, "c1");
    f.assert_clean();
}

/// `restore -d --image-path IMAGE --bundle BUNDLE EXTRA id`.
fn restore_args(f: &Fixture, image: &Path, id: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["restore", "-d", "--image-path", path(image), "--bundle"]
        .map(String::from)
        .into();
    args.push(bundle(f));
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(id.into());
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `restore` with [`restore_args`], asserting success.
fn restore(f: &Fixture, image: &Path, id: &str, extra: &[&str]) {
    f.ok(&strs(&restore_args(f, image, id, extra)));
}

/// Waits (up to 60 s) for `p` to exist with content; returns it.
fn wait_file(p: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(t) = std::fs::read_to_string(p)
            && !t.is_empty()
        {
            return t;
        }
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn foreground_restore_waits_and_exits_with_the_status_work_path_and_pid_file() {
    if !need_criu("foreground_restore_waits_and_exits_with_the_status_work_path_and_pid_file") {
        return;
    }
    let f = counter("cr-fg");
    // The counter, until /data/stop appears; then exit 7.
    f.edit(|c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "exec </dev/null >/dev/null 2>&1; i=0; while [ ! -e /data/stop ]; do \
             i=$((i+1)); echo $i >> /data/count; sleep 0.2; done; exit 7"
        ]);
    });
    let b = bundle(&f);
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    wait_lines(&f, 3);
    let image = f.dir.path().join("image");
    let work = f.dir.path().join("work");
    f.ok(&[
        "checkpoint",
        "--image-path",
        path(&image),
        "--work-path",
        path(&work),
        "c1",
    ]);
    assert_gone(&f, "c1");
    // CRIU's log went to the work directory, not into the image.
    let log = std::fs::read_to_string(work.join("dump.log")).unwrap();
    assert!(log.contains("Dumping finished successfully"), "{log}");
    assert!(!image.join("dump.log").exists());
    let frozen = counts(&f);

    let rwork = f.dir.path().join("rwork");
    let pid_file = f.dir.path().join("pid");
    let err = tempfile::tempfile().unwrap();
    // No --detach: berth waits for the restored process.
    let mut child = f
        .cmd()
        .args([
            "restore",
            "--image-path",
            path(&image),
            "--work-path",
            path(&rwork),
            "--pid-file",
            path(&pid_file),
            "--bundle",
            &b,
            "c1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap();
    let pid = wait_file(&pid_file);
    // runc's format: the bare number, no newline.
    assert!(pid.bytes().all(|c| c.is_ascii_digit()), "{pid:?}");
    let st = f.state("c1");
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["pid"].as_i64().unwrap().to_string(), pid);
    counter::assert_continues(&count_file(&f), &frozen, 2);
    assert!(child.try_wait().unwrap().is_none(), "restore did not wait");
    let log = std::fs::read_to_string(rwork.join("restore.log")).unwrap();
    assert!(log.contains("Restore finished successfully"), "{log}");
    assert!(!image.join("restore.log").exists());

    std::fs::write(f.dir.path().join("data/stop"), b"").unwrap();
    let status = common::wait_timeout(&mut child, common::TIMEOUT).expect("restore exits");
    assert_eq!(
        status.code(),
        Some(7),
        "{}",
        s(&common::read_all(err.try_clone().unwrap()))
    );
    // berth deleted the container when it exited.
    assert_gone(&f, "c1");
    f.assert_clean();
}

#[test]
fn manage_cgroups_modes_reach_criu() {
    if !need_criu("manage_cgroups_modes_reach_criu") {
        return;
    }
    let f = counter("cr-cgmode");
    start(&f, "c1");
    let image = dump(
        &f,
        "c1",
        "image",
        &["--leave-running", "--manage-cgroups-mode", "full"],
    );
    stop_and_delete(&f, "c1");
    // Restored with two other modes, each under its own ID and cgroup:
    // `ignore` leaves the process in CRIU's own cgroup (berth placed CRIU
    // in the new container's), `full` restores the image's cgroups and
    // their properties under that cgroup (CRIU's `cg_root`).
    for (id, mode) in [("c2", "ignore"), ("c3", "full")] {
        f.separate_cgroup(id);
        restore(&f, &image, id, &["--manage-cgroups-mode", mode]);
        let pid = f.state(id)["pid"].as_i64().unwrap();
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(cg.contains(&format!("cr-cgmode.{id}")), "{mode}: {cg}");
        let after = wait_lines(&f, counts(&f).len() + 2);
        assert!(
            after.windows(2).last().is_some_and(|w| w[1] == w[0] + 1),
            "{mode}: {after:?}"
        );
        stop_and_delete(&f, id);
    }
    let err = f.fails(&["checkpoint", "--manage-cgroups-mode", "bogus", "c9"]);
    assert!(err.contains("bogus"), "{err}");
    f.assert_clean();
}

/// The memory limit of `pid`'s cgroup: `memory.max` on cgroup v2, the v1
/// memory hierarchy's `memory.limit_in_bytes` elsewhere.
fn memory_limit(pid: i64) -> String {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let file = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let p = cg.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
        format!("/sys/fs/cgroup{p}/memory.max")
    } else {
        let p = cg
            .lines()
            .find_map(|l| {
                let mut f = l.splitn(3, ':').skip(1);
                let ctrls = f.next()?;
                ctrls.split(',').any(|c| c == "memory").then(|| f.next())?
            })
            .unwrap();
        format!("/sys/fs/cgroup/memory{p}/memory.limit_in_bytes")
    };
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .trim()
        .to_string()
}

#[test]
fn manage_cgroups_modes_and_a_limit_set_by_update_before_the_dump() {
    if !need_criu("manage_cgroups_modes_and_a_limit_set_by_update_before_the_dump") {
        return;
    }
    let f = counter("cr-cgprops");
    start(&f, "c1");
    // The config sets no limit; `update` sets one before the dump.
    let unlimited = memory_limit(f.state("c1")["pid"].as_i64().unwrap());
    f.ok(&["update", "--memory", "67108864", "c1"]);
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    assert_eq!(memory_limit(pid), "67108864");
    let image = dump(&f, "c1", "image", &["--leave-running"]);
    stop_and_delete(&f, "c1");
    // Restore makes the container's cgroup from the config before CRIU
    // runs and hands it to CRIU as `cg_root`, as runc does. soft restores
    // the image's properties only in cgroups CRIU creates: the config's
    // limits stay. full restores them in existing cgroups too: on v1 the
    // dumped `update` value comes back; on cgroup v2 (CRIU 3.17) the
    // memory limit does not (the config's stays).
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let full = if v2 { unlimited.as_str() } else { "67108864" };
    for (id, mode, want) in [("c2", "soft", unlimited.as_str()), ("c3", "full", full)] {
        f.separate_cgroup(id);
        restore(&f, &image, id, &["--manage-cgroups-mode", mode]);
        let pid = f.state(id)["pid"].as_i64().unwrap();
        assert_eq!(memory_limit(pid), want, "{mode}");
        let after = wait_lines(&f, counts(&f).len() + 2);
        assert!(
            after.windows(2).last().is_some_and(|w| w[1] == w[0] + 1),
            "{mode}: {after:?}"
        );
        stop_and_delete(&f, id);
    }
    // strict wants every cgroup made by CRIU: the existing one aborts the
    // restore, which leaves nothing.
    f.separate_cgroup("c4");
    let err = f.fails(&strs(&restore_args(
        &f,
        &image,
        "c4",
        &["--manage-cgroups-mode", "strict"],
    )));
    assert!(err.contains("Abort restore of existing cgroups"), "{err}");
    assert_gone(&f, "c4");
    assert!(processes_rooted_in(&f.rootfs()).is_empty());
    // A limit in the config is set before CRIU runs: with full, on v1
    // the image's value overrides it, on v2 it stays.
    f.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 33554432}));
    f.separate_cgroup("c5");
    restore(&f, &image, "c5", &["--manage-cgroups-mode", "full"]);
    let pid = f.state("c5")["pid"].as_i64().unwrap();
    let want = if v2 { "33554432" } else { "67108864" };
    assert_eq!(memory_limit(pid), want);
    stop_and_delete(&f, "c5");
    f.assert_clean();
}

#[test]
fn podman_checkpoints_and_restores_a_container_on_berth() {
    if !need_criu("podman_checkpoints_and_restores_a_container_on_berth") {
        return;
    }
    if !callers::have("podman") {
        assert!(
            std::env::var_os("BERTH_CRIU_REQUIRED").is_none(),
            "podman is required here (apt-get install podman)"
        );
        eprintln!("SKIP podman_checkpoints_and_restores_a_container_on_berth: no podman");
        return;
    }
    let p = podman::Podman::new();
    let count = p.rootfs.join("count");
    let lines = || counter::lines(&count);
    callers::ok(&mut p.run_args(
        &["-d", "--name", "p1"],
        &[
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i >> /count; sleep 0.2; done",
        ],
    ));
    callers::wait_for("3 counts", || lines().len() >= 3);
    // podman asks berth (`checkpoint --help`) whether it can checkpoint,
    // then runs `berth checkpoint --image-path ... --work-path ...`.
    callers::ok(p.podman().args(["container", "checkpoint", "p1"]));
    let out = callers::ok(
        p.podman()
            .args(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]),
    );
    assert!(out.contains("p1 Exited"), "{out}");
    let frozen = lines();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lines(), frozen, "the count moved after the checkpoint");
    // conmon runs `berth restore --detach ... --pid-file ... --bundle ...`.
    callers::ok(p.podman().args(["container", "restore", "p1"]));
    callers::wait_for("the count to go on", || lines().len() >= frozen.len() + 3);
    let after = lines();
    let want: Vec<u64> = (1..=after.len() as u64).collect();
    assert_eq!(after, want, "frozen at {frozen:?}");
    let out = callers::ok(p.podman().args(["exec", "p1", "cat", "/proc/1/cmdline"]));
    assert!(out.starts_with("sh\u{0}-c\u{0}"), "{out:?}");
    callers::ok(p.podman().args(["stop", "-t", "1", "p1"]));
    callers::ok(p.podman().args(["rm", "p1"]));
    p.finish();
}

/// A network namespace pinned by a file in a private bind mount of its
/// own; unpinned and unmounted when dropped.
struct PinnedNetns {
    dir: PathBuf,
}

impl PinnedNetns {
    fn new(dir: PathBuf) -> Self {
        std::fs::create_dir(&dir).unwrap();
        let d = dir.display();
        let me = Self { dir: dir.clone() };
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "mount --bind {d} {d} && mount --make-private {d} && touch {d}/net && \
                 unshare --net={d}/net true"
            ))
            .status()
            .unwrap();
        assert!(st.success(), "pin a network namespace in {d}");
        me
    }

    fn file(&self) -> PathBuf {
        self.dir.join("net")
    }
}

impl Drop for PinnedNetns {
    fn drop(&mut self) {
        let d = self.dir.display();
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umount {d}/net; umount {d}"))
            .status();
    }
}

fn inode(p: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap())
}

#[test]
fn a_network_namespace_joined_by_path_stays_outside_the_image() {
    if !need_criu("a_network_namespace_joined_by_path_stays_outside_the_image") {
        return;
    }
    let f = counter("cr-netns");
    let ns = PinnedNetns::new(f.dir.path().join("ns"));
    let file = ns.file();
    f.edit(|c| {
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "network");
        list.push(json!({"type": "network", "path": file}));
    });
    let want = format!("net:[{}]", inode(&file));
    start(&f, "c1");
    let image = dump(&f, "c1", "image", &[]);
    let frozen = counts(&f);
    restore(&f, &image, "c1", &[]);
    // The restored process is in the pinned namespace again (CRIU got it
    // through inherit_fd), seen from inside and from the host.
    let inside = f.ok(&["exec", "c1", "readlink", "/proc/self/ns/net"]);
    assert_eq!(inside.trim(), want);
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    let host = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(host.to_string_lossy(), want);
    counter::assert_continues(&count_file(&f), &frozen, 2);
    stop_and_delete(&f, "c1");
    drop(ns);
    f.assert_clean();
}

/// A shell that is PID 1 of a PID namespace of its own (`unshare --pid
/// --fork`), for a container to join by path; killed (with its
/// `unshare`) when dropped. It reaps, as a pod's pause process does: the
/// container's init, whose parent (berth) is outside the namespace, is
/// adopted by it, and its zombie would keep its PID from CRIU's restore
/// (`Can't fork for 2: File exists`).
struct PidNsHolder {
    unshare: std::process::Child,
    init: i32,
}

impl PidNsHolder {
    // The child is waited for in Drop.
    #[allow(clippy::zombie_processes)]
    fn start() -> Self {
        let mut unshare = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "sh", "-c"])
            .arg("while :; do sleep 1; done")
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let children = format!("/proc/{0}/task/{0}/children", unshare.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let init = std::fs::read_to_string(&children)
                .ok()
                .and_then(|t| t.split_whitespace().next()?.parse().ok());
            if let Some(init) = init {
                return Self { unshare, init };
            }
            if Instant::now() > deadline {
                let _ = unshare.kill();
                let _ = unshare.wait();
                panic!("unshare --pid --fork made no child");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/pid", self.init))
    }
}

impl Drop for PidNsHolder {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.init),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// The `NSpid` line of a process's status: its PID in each namespace,
/// the host's first.
fn ns_pids(pid: i64) -> Vec<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn a_pid_namespace_joined_by_path_stays_outside_the_image() {
    if !need_criu("a_pid_namespace_joined_by_path_stays_outside_the_image") {
        return;
    }
    let f = counter("cr-pidns");
    let holder = PidNsHolder::start();
    let file = holder.path();
    f.edit(|c| {
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "pid");
        list.push(json!({"type": "pid", "path": file}));
    });
    let want = format!("pid:[{}]", inode(&file));
    start(&f, "c1");
    // The counter is not PID 1 there: the holder's shell is.
    let old = f.state("c1")["pid"].as_i64().unwrap();
    let before = ns_pids(old);
    assert!(
        before.len() == 2 && before[1] > 1,
        "NSpid of the counter: {before:?}"
    );
    let image = dump(&f, "c1", "image", &[]);
    assert!(holder.path().exists(), "the holder survived the dump");
    // Its zombie is reaped by the namespace's init, freeing its PID there.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{old}")).exists() {
        assert!(Instant::now() < deadline, "{old} was never reaped");
        std::thread::sleep(Duration::from_millis(50));
    }
    let frozen = counts(&f);
    restore(&f, &image, "c1", &[]);
    // The restored process is in the joined namespace again (CRIU got it
    // through inherit_fd as extRootPidNS), under the same PID there, seen
    // through exec and from the host.
    let inside = f.ok(&["exec", "c1", "readlink", "/proc/self/ns/pid"]);
    assert_eq!(inside.trim(), want);
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    let host = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    assert_eq!(host.to_string_lossy(), want);
    let after = ns_pids(pid);
    assert_eq!(after.get(1), before.get(1), "{before:?} -> {after:?}");
    counter::assert_continues(&count_file(&f), &frozen, 2);
    stop_and_delete(&f, "c1");
    drop(holder);
    f.assert_clean();
}

/// A hook on the host appending its kind to `<dir>/order` and saving the
/// state it got on stdin as `<dir>/<kind>.json`.
fn marker_hook(dir: &Path, kind: &str) -> serde_json::Value {
    let d = dir.display();
    json!({"path": "/bin/sh", "args": ["sh", "-c",
        format!("cat > {d}/{kind}.json; echo {kind} >> {d}/order")]})
}

#[test]
fn restore_runs_prestart_and_create_runtime_hooks_with_the_restored_pid() {
    if !need_criu("restore_runs_prestart_and_create_runtime_hooks_with_the_restored_pid") {
        return;
    }
    let f = counter("cr-hooks");
    let log = f.dir.path().join("hooks");
    std::fs::create_dir(&log).unwrap();
    f.edit(|c| {
        c["hooks"] = json!({
            "prestart": [marker_hook(&log, "prestart")],
            "createRuntime": [marker_hook(&log, "createRuntime")],
            "poststart": [marker_hook(&log, "poststart")],
            "poststop": [marker_hook(&log, "poststop")],
        })
    });
    let order = || std::fs::read_to_string(log.join("order")).unwrap_or_default();
    start(&f, "c1");
    assert_eq!(order(), "prestart\ncreateRuntime\npoststart\n");
    let image = dump(&f, "c1", "image", &[]);
    // The dump released the container as `delete` does: poststop ran.
    assert_eq!(order(), "prestart\ncreateRuntime\npoststart\npoststop\n");
    for e in std::fs::read_dir(&log).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }

    restore(&f, &image, "c1", &[]);
    // runc's points: prestart then createRuntime at CRIU's
    // `setup-namespaces`, with the restored process's PID; no poststart.
    assert_eq!(order(), "prestart\ncreateRuntime\n");
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    for kind in ["prestart", "createRuntime"] {
        let text = std::fs::read_to_string(log.join(format!("{kind}.json"))).unwrap();
        let st: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(st["id"], "c1", "{kind}: {st}");
        assert_eq!(st["pid"].as_i64(), Some(pid), "{kind}: {st}");
        assert_eq!(st["status"], "creating", "{kind}: {st}");
        assert_eq!(st["bundle"], bundle(&f), "{kind}: {st}");
    }
    let frozen = counts(&f);
    counter::assert_continues(&count_file(&f), &frozen, 2);
    stop_and_delete(&f, "c1");

    // A failing createRuntime hook fails the restore, which leaves nothing.
    f.edit(|c| {
        c["hooks"]["createRuntime"] = json!([{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}])
    });
    let err = f.fails(&strs(&restore_args(&f, &image, "c1", &[])));
    assert!(err.contains("createRuntime"), "{err}");
    assert_gone(&f, "c1");
    assert!(processes_rooted_in(&f.rootfs()).is_empty());
    f.assert_clean();
}

/// containerd's world for the checkpoint test: its daemon, a namespace,
/// berth's runc root; on drop, whatever berth still knows is
/// force-deleted, the daemon and its shims stopped, mounts and cgroups
/// removed.
struct Ctrd {
    dir: tempfile::TempDir,
    daemon: Option<callers::Containerd>,
    ns: String,
}

const CTR_IMAGE: &str = "docker.io/library/busybox:berth";

impl Ctrd {
    /// A private containerd with the busybox image imported, in a
    /// namespace named after `tag` (containerd's cgroups are
    /// `/<namespace>/<id>`: tests running at once need their own);
    /// `None` (or a failure in the VM) without containerd.
    fn start(tag: &str) -> Option<Self> {
        if !callers::have("containerd") {
            assert!(
                std::env::var_os("BERTH_CRIU_REQUIRED").is_none(),
                "containerd is required here"
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-cr-ctrd-")
            .tempdir()
            .unwrap();
        let daemon = callers::Containerd::start(dir.path(), "", false);
        let w = Ctrd {
            dir,
            daemon: Some(daemon),
            ns: format!("berth-cr-{tag}-{}", std::process::id()),
        };
        let image = callers::busybox_image(w.dir.path(), CTR_IMAGE, &["sh"]);
        callers::ok(w.ctr().args(["images", "import"]).arg(&image));
        Some(w)
    }

    /// `ctr run -d` of task c1, the counter on a bind-mounted host
    /// directory, with `runc` as the shim's runtime binary; returns the
    /// counter's file once it holds three counts.
    fn run_counter(&self, runc: &Path) -> PathBuf {
        let data = self.dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let count = data.join("count");
        callers::ok(
            self.ctr()
                .args(["run", "-d", "--null-io", "--runc-binary"])
                .arg(runc)
                .arg("--runc-root")
                .arg(self.root())
                .arg("--mount")
                .arg(format!(
                    "type=bind,src={},dst=/data,options=rbind:rw",
                    data.display()
                ))
                .args([CTR_IMAGE, "c1", "sh", "-c", &counter::script("/data/count")]),
        );
        callers::wait_for("3 counts", || counter::lines(&count).len() >= 3);
        count
    }

    /// Kills task c1 and deletes it and its container.
    fn kill_and_delete(&self) {
        let _ = callers::run(self.ctr().args(["task", "kill", "-s", "SIGKILL", "c1"]));
        callers::wait_for("c1 to stop", || {
            !callers::ok(self.ctr().args(["task", "ls"])).contains("RUNNING")
        });
        callers::ok(self.ctr().args(["task", "delete", "c1"]));
        callers::ok(self.ctr().args(["containers", "delete", "c1"]));
    }

    /// Asserts berth's state root for this namespace is empty.
    fn assert_no_state(&self) {
        let left = common::state_left(&self.root().join(&self.ns));
        assert!(left.is_empty(), "berth state left behind: {left:?}");
    }

    fn ctr(&self) -> std::process::Command {
        self.daemon.as_ref().unwrap().ctr(&self.ns)
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("berth-root")
    }
}

impl Drop for Ctrd {
    fn drop(&mut self) {
        let root = self.root().join(&self.ns);
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let _ = std::process::Command::new(common::berth_bin())
                .arg("--root")
                .arg(&root)
                .args(["delete", "--force"])
                .arg(e.file_name())
                .output();
        }
        drop(self.daemon.take());
        callers::unmount_below(self.dir.path());
        callers::remove_cgroups(&self.ns);
    }
}

#[test]
fn containerd_checkpoints_and_restores_a_task_on_berth() {
    if !need_criu("containerd_checkpoints_and_restores_a_task_on_berth") {
        return;
    }
    let Some(w) = Ctrd::start("ctr") else { return };
    let count = w.run_counter(&common::berth_bin());
    let lines = || counter::lines(&count);
    // Debian 12's ctr 1.6 has no `run --checkpoint`: a checkpoint image of
    // the container and its task (containerd pauses the task, the shim runs
    // `berth checkpoint --leave-running --image-path --work-path`), then a
    // restore of both from it (the shim's create runs `berth restore`).
    let before_dump = lines().len();
    callers::ok(w.ctr().args([
        "containers",
        "checkpoint",
        "--task",
        "c1",
        "berth.test/cr:1",
    ]));
    let after_dump = lines().len();
    callers::wait_for("the count to go on", || lines().len() >= after_dump + 2);
    w.kill_and_delete();
    let before = lines();
    callers::ok(
        w.ctr()
            .args(["containers", "restore", "--live", "c1", "berth.test/cr:1"]),
    );
    callers::wait_for("the restored count", || lines().len() >= before.len() + 2);
    let after = lines();
    let first = counter::assert_resumed(&after, before.len());
    assert!(
        first as usize > before_dump && first as usize <= after_dump + 1,
        "resumed at {first}, checkpoint between {before_dump} and {after_dump}"
    );
    w.kill_and_delete();
    w.assert_no_state();
}

#[test]
fn ctr_task_checkpoint_pauses_dumps_and_resumes_through_berth() {
    if !need_criu("ctr_task_checkpoint_pauses_dumps_and_resumes_through_berth") {
        return;
    }
    let Some(w) = Ctrd::start("task") else { return };
    // berth behind a wrapper that logs each call the shim makes.
    let calls = w.dir.path().join("calls");
    let wrapper = w.dir.path().join("berth-logged");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec {} \"$@\"\n",
            calls.display(),
            common::berth_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let count = w.run_counter(&wrapper);
    let lines = || counter::lines(&count);
    let calls_since = |from: usize| -> Vec<String> {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .lines()
            .skip(from)
            .map(String::from)
            .collect()
    };
    let seen = calls_since(0).len();

    // `ctr task checkpoint --image-path`: containerd pauses the task, the
    // shim runs `berth checkpoint --leave-running`, and resumes it.
    let image = w.dir.path().join("image");
    let work = w.dir.path().join("work");
    callers::ok(
        w.ctr()
            .args(["task", "checkpoint", "--image-path"])
            .arg(&image)
            .arg("--work-path")
            .arg(&work)
            .arg("c1"),
    );
    let made = calls_since(seen);
    let find = |calls: &[String], cmd: &str| {
        calls
            .iter()
            .position(|c| c.split_whitespace().any(|w| w == cmd))
    };
    let (pause, dump, resume) = (
        find(&made, "pause"),
        find(&made, "checkpoint"),
        find(&made, "resume"),
    );
    assert!(
        matches!((pause, dump, resume), (Some(p), Some(d), Some(r)) if p < d && d < r),
        "pause, checkpoint, resume expected in: {made:#?}"
    );
    let dump_call = &made[dump.unwrap()];
    assert!(
        dump_call.contains("--leave-running") && dump_call.contains(&image.display().to_string()),
        "{dump_call}"
    );
    assert!(image.join("inventory.img").is_file());
    assert!(image.join("descriptors.json").is_file());
    let log = std::fs::read_to_string(work.join("dump.log")).unwrap();
    assert!(log.contains("Dumping finished successfully"), "{log}");
    // The task runs on.
    assert!(callers::ok(w.ctr().args(["task", "ls"])).contains("RUNNING"));
    let n = lines().len();
    callers::wait_for("the count to go on", || lines().len() >= n + 2);

    // With --exit the shim's checkpoint has no --leave-running: the task
    // is gone and the count stands still.
    let seen = calls_since(0).len();
    let image2 = w.dir.path().join("image2");
    callers::ok(
        w.ctr()
            .args(["task", "checkpoint", "--exit", "--image-path"])
            .arg(&image2)
            .arg("c1"),
    );
    let made = calls_since(seen);
    let dump_call = made
        .iter()
        .find(|c| c.split_whitespace().any(|w| w == "checkpoint"))
        .unwrap_or_else(|| panic!("no checkpoint in {made:#?}"));
    assert!(!dump_call.contains("--leave-running"), "{dump_call}");
    assert!(image2.join("inventory.img").is_file());
    callers::wait_for("c1 to stop", || {
        !callers::ok(w.ctr().args(["task", "ls"])).contains("RUNNING")
    });
    counter::assert_frozen(&count);
    let _ = callers::run(w.ctr().args(["task", "delete", "c1"]));
    callers::ok(w.ctr().args(["containers", "delete", "c1"]));
    w.assert_no_state();
}

// ---- the CRIU flags runc has: --empty-ns, --page-server, --lazy-pages
// with --status-fd, --lsm-profile / --lsm-mount-context ----

#[test]
fn bad_values_of_the_criu_flags_are_refused_before_criu_runs() {
    let f = Fixture::new("cr-badflags", &["true"]);
    for (args, want) in [
        (
            &["checkpoint", "--page-server", "1.2.3.4", "c1"][..],
            "use --page-server ADDRESS:PORT",
        ),
        (
            &["checkpoint", "--page-server", "1.2.3.4:0", "c1"],
            "use --page-server ADDRESS:PORT",
        ),
        (
            &["checkpoint", "--empty-ns", "ipc", "c1"],
            "--empty-ns ipc: only the network namespace",
        ),
        (
            &[
                "restore",
                "--empty-ns",
                "network",
                "--empty-ns",
                "pid",
                "c1",
            ],
            "--empty-ns pid: only the network namespace",
        ),
        (
            &["checkpoint", "--status-fd", "3", "c1"],
            "--status-fd is only used with --lazy-pages",
        ),
        (
            &["checkpoint", "--lazy-pages", "--pre-dump", "c1"],
            "--lazy-pages and --pre-dump cannot be combined",
        ),
        (
            &["restore", "--lsm-profile", "unconfined", "c1"],
            "--lsm-profile unconfined: use apparmor:NAME or selinux:LABEL",
        ),
        (
            &["restore", "--lsm-profile", "smack:x", "c1"],
            "use apparmor:NAME or selinux:LABEL",
        ),
        (
            &["restore", "--lsm-mount-context", "", "c1"],
            "--lsm-mount-context: an SELinux context is required",
        ),
    ] {
        let err = f.fails(args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    f.assert_clean();
}

/// `ip ...` run by the host in the network namespace of `pid`.
fn ip_in(pid: i64, args: &[&str]) {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .arg("ip")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "ip {args:?}: {}", s(&out.stderr));
}

/// Whether the container's loopback is up, seen from inside (`exec`): an
/// up `lo` puts 127.0.0.1 in the local routing table.
fn lo_is_up(f: &Fixture, id: &str) -> bool {
    f.ok(&["exec", id, "cat", "/proc/net/fib_trie"])
        .contains("127.0.0.1")
}

fn image_files(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[test]
fn empty_ns_network_leaves_the_network_namespace_out_of_the_image() {
    if !need_criu("empty_ns_network_leaves_the_network_namespace_out_of_the_image") {
        return;
    }
    let f = counter("cr-emptyns");
    let b = bundle(&f);
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    wait_lines(&f, 3);
    // A property of the container's own network namespace: lo up.
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    ip_in(pid, &["link", "set", "lo", "up"]);
    assert!(lo_is_up(&f, "c1"));

    // Without --empty-ns the namespace is dumped and lo comes back up.
    let full = f.dir.path().join("full");
    f.ok(&[
        "checkpoint",
        "--leave-running",
        "--image-path",
        path(&full),
        "c1",
    ]);
    assert!(!image_files(&full, "netdev-").is_empty());

    // With it, no network device is in the image, and the restored
    // container gets a fresh namespace: lo down, the count going on.
    let image = f.dir.path().join("image");
    f.ok(&[
        "checkpoint",
        "--empty-ns",
        "network",
        "--image-path",
        path(&image),
        "c1",
    ]);
    assert_gone(&f, "c1");
    assert!(
        image_files(&image, "netdev-").is_empty(),
        "{:?}",
        image_files(&image, "")
    );
    let frozen = counts(&f);
    restore(&f, &image, "c1", &["--empty-ns", "network"]);
    assert!(!lo_is_up(&f, "c1"), "lo is up: the namespace was restored");
    let after = wait_lines(&f, frozen.len() + 2);
    let want: Vec<u64> = (1..=after.len() as u64).collect();
    assert_eq!(after, want, "frozen at {frozen:?}");
    stop_and_delete(&f, "c1");

    // The full image restores lo's state (the control).
    restore(&f, &full, "c2", &[]);
    assert!(lo_is_up(&f, "c2"), "the dumped namespace lost lo's state");
    stop_and_delete(&f, "c2");
    f.assert_clean();
}

/// A CRIU daemon a test started (`-d --pidfile`): its PID only, killed
/// and waited for when dropped.
struct CriuDaemon {
    pid: i32,
}

impl CriuDaemon {
    /// Runs `criu ARGS -d --pidfile PIDFILE` (it returns once listening),
    /// its output (and log: no `-o`) in `PIDFILE.log` (the daemon keeps
    /// it open: a pipe would never end).
    fn start(args: &[&str], pidfile: &Path) -> Self {
        let log = pidfile.with_extension("log");
        let out = std::fs::File::create(&log).unwrap();
        let st = std::process::Command::new("criu")
            .args(args)
            .args(["-v4", "-d", "--pidfile", path(pidfile)])
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "criu {args:?}: {st}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let pid = wait_file(pidfile).trim().parse().unwrap();
        Self { pid }
    }

    fn alive(&self) -> bool {
        Path::new(&format!("/proc/{}", self.pid)).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .unwrap_or_default()
                .contains(") Z ")
    }

    /// Waits (up to 60 s) for it to exit by itself.
    fn wait_exit(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.alive() {
            assert!(Instant::now() < deadline, "criu {} did not exit", self.pid);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for CriuDaemon {
    fn drop(&mut self) {
        if self.alive() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A TCP port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn page_server_receives_the_pages_and_the_image_restores() {
    if !need_criu("page_server_receives_the_pages_and_the_image_restores") {
        return;
    }
    let f = counter("cr-pageserver");
    let b = bundle(&f);
    let ps_dir = f.dir.path().join("ps");
    std::fs::create_dir(&ps_dir).unwrap();
    let port = free_port();
    let ps = CriuDaemon::start(
        &[
            "page-server",
            "--images-dir",
            path(&ps_dir),
            "--port",
            &port.to_string(),
        ],
        &f.dir.path().join("ps.pid"),
    );
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    wait_lines(&f, 3);
    let image = f.dir.path().join("image");
    f.ok(&[
        "checkpoint",
        "--page-server",
        &format!("127.0.0.1:{port}"),
        "--image-path",
        path(&image),
        "c1",
    ]);
    assert_gone(&f, "c1");
    ps.wait_exit();
    // The memory went to the page server, the rest to the image.
    assert!(
        !image_files(&ps_dir, "pages-").is_empty(),
        "{:?}",
        image_files(&ps_dir, "")
    );
    assert!(image_files(&image, "pages-").is_empty());
    assert!(image.join("inventory.img").is_file());
    // Put together in the page server's directory, it restores.
    for n in image_files(&image, "") {
        std::fs::copy(image.join(&n), ps_dir.join(&n)).unwrap();
    }
    let frozen = counts(&f);
    restore(&f, &ps_dir, "c1", &[]);
    let after = wait_lines(&f, frozen.len() + 2);
    let want: Vec<u64> = (1..=after.len() as u64).collect();
    assert_eq!(after, want, "frozen at {frozen:?}");
    stop_and_delete(&f, "c1");
    drop(ps);
    f.assert_clean();
}

/// Whether this kernel lets CRIU migrate memory lazily.
fn uffd_noncoop() -> bool {
    std::process::Command::new("criu")
        .args(["check", "--feature", "uffd-noncoop"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn lazy_pages_migrate_through_the_status_fd_and_a_lazy_pages_daemon() {
    if !need_criu("lazy_pages_migrate_through_the_status_fd_and_a_lazy_pages_daemon") {
        return;
    }
    let f = counter("cr-lazy");
    let b = bundle(&f);
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    wait_lines(&f, 3);
    let image = f.dir.path().join("image");
    let work = f.dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let port = free_port().to_string();
    if !uffd_noncoop() {
        // Decided at run time: the refusal names the kernel feature.
        eprintln!("lazy pages: `criu check --feature uffd-noncoop` fails: testing the refusal");
        let err = f.fails(&[
            "checkpoint",
            "--lazy-pages",
            "--page-server",
            &format!("127.0.0.1:{port}"),
            "c1",
        ]);
        assert!(err.contains("uffd-noncoop"), "{err}");
        stop_and_delete(&f, "c1");
        f.assert_clean();
        return;
    }
    eprintln!("lazy pages: uffd-noncoop works here: migrating lazily");
    // runc's flow: the checkpoint leaves a page server running and writes
    // a NUL to --status-fd when it is ready.
    let cpt_log = f.dir.path().join("checkpoint.err");
    let (r, w) = nix::unistd::pipe().unwrap();
    let wfd = std::os::fd::AsRawFd::as_raw_fd(&w).to_string();
    let cpt = f
        .cmd()
        .args([
            "checkpoint",
            "--lazy-pages",
            "--page-server",
            &format!("127.0.0.1:{port}"),
            "--status-fd",
            &wfd,
            "--work-path",
            path(&work),
            "--image-path",
            path(&image),
            "c1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&cpt_log).unwrap())
        .spawn()
        .unwrap();
    drop(w);
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // One byte, as runc's test reads it (`dd bs=1 count=1`).
        let mut b = [1u8; 1];
        let n = std::io::Read::read(&mut std::fs::File::from(r), &mut b).unwrap_or(0);
        let _ = tx.send(b[..n].to_vec());
    });
    let mut cpt = Reap(cpt);
    let ready = rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_default();
    let errors = || std::fs::read_to_string(&cpt_log).unwrap_or_default();
    assert_eq!(ready, [0], "the status fd: {}", errors());
    assert!(image.join("inventory.img").is_file());
    // The lazy-pages daemon fetches from that page server; its socket is
    // in the work directory restore uses (the image holds only files).
    let lazy = CriuDaemon::start(
        &[
            "lazy-pages",
            "--page-server",
            "--address",
            "127.0.0.1",
            "--port",
            &port,
            "--images-dir",
            path(&image),
            "--work-dir",
            path(&work),
        ],
        &f.dir.path().join("lazy.pid"),
    );
    let frozen = counts(&f);
    // Another ID and cgroup: c1 exists until its last page has gone.
    f.separate_cgroup("c2");
    restore(
        &f,
        &image,
        "c2",
        &["--lazy-pages", "--work-path", path(&work)],
    );
    let st = cpt.0.wait().unwrap();
    assert!(st.success(), "checkpoint --lazy-pages: {st}: {}", errors());
    lazy.wait_exit();
    assert_gone(&f, "c1");
    let after = wait_lines(&f, frozen.len() + 3);
    let want: Vec<u64> = (1..=after.len() as u64).collect();
    assert_eq!(after, want, "frozen at {frozen:?}");
    stop_and_delete(&f, "c2");
    drop(lazy);
    f.assert_clean();
}

/// An AppArmor profile loaded by the test, removed on drop.
struct AaProfile(PathBuf);

impl AaProfile {
    fn load(dir: &Path, name: &str) -> Self {
        let file = dir.join(format!("{name}.aa"));
        std::fs::write(
            &file,
            format!(
                "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  \
                 capability,\n  network,\n  signal,\n  unix,\n  ptrace,\n  mount,\n  \
                 umount,\n  pivot_root,\n}}\n"
            ),
        )
        .unwrap();
        let out = std::process::Command::new("apparmor_parser")
            .args(["-r", "-W"])
            .arg(&file)
            .output()
            .expect("apparmor_parser (apt-get install apparmor)");
        assert!(out.status.success(), "apparmor_parser: {}", s(&out.stderr));
        Self(file)
    }
}

impl Drop for AaProfile {
    fn drop(&mut self) {
        let _ = std::process::Command::new("apparmor_parser")
            .args(["-R"])
            .arg(&self.0)
            .output();
    }
}

/// Needs AppArmor: `tests/vm/lsm.sh` runs it (`--include-ignored`) in the
/// VM booted with `apparmor=1 security=apparmor`; once started it fails,
/// never skips, when AppArmor or CRIU is missing.
#[test]
#[ignore = "needs AppArmor and a working CRIU: tests/vm/lsm.sh"]
fn lsm_profile_confines_the_restored_process() {
    assert!(common::apparmor_enabled(), "AppArmor is not enabled here");
    assert!(
        counter::criu_unusable().is_none(),
        "{:?}",
        counter::criu_unusable()
    );
    let f = counter("cr-lsm");
    // CRIU rewrites the profile the dump recorded (an unconfined process
    // stays unconfined): the container runs under `a`, restores under `b`.
    let a = format!("berth-cr-a-{}", std::process::id());
    let b_name = format!("berth-cr-b-{}", std::process::id());
    let pa = AaProfile::load(f.dir.path(), &a);
    let pb = AaProfile::load(f.dir.path(), &b_name);
    // The loop also writes its own AppArmor label (a child's, inherited).
    f.edit(|c| {
        c["process"]["apparmorProfile"] = json!(a);
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "exec </dev/null >/dev/null 2>&1; i=0; while true; do i=$((i+1)); \
             echo $i >> /data/count; cat /proc/self/attr/current > /data/lsm.new; \
             mv /data/lsm.new /data/lsm; sleep 0.2; done"
        ])
    });
    let b = bundle(&f);
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    wait_lines(&f, 3);
    let lsm = f.dir.path().join("data/lsm");
    assert_eq!(
        common::lsm_label(&wait_file(&lsm)),
        format!("{a} (enforce)")
    );
    let image = f.dir.path().join("image");
    f.ok(&["checkpoint", "--image-path", path(&image), "c1"]);
    assert_gone(&f, "c1");
    std::fs::remove_file(&lsm).unwrap();
    let frozen = counts(&f);
    restore(
        &f,
        &image,
        "c1",
        &["--lsm-profile", &format!("apparmor:{b_name}")],
    );
    let after = wait_lines(&f, frozen.len() + 3);
    let label = wait_file(&lsm);
    assert_eq!(
        common::lsm_label(&label),
        format!("{b_name} (enforce)"),
        "the restored loop's label"
    );
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    let host = std::fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap();
    assert_eq!(common::lsm_label(&host), format!("{b_name} (enforce)"));
    let want: Vec<u64> = (1..=after.len() as u64).collect();
    assert_eq!(after, want, "frozen at {frozen:?}");
    stop_and_delete(&f, "c1");
    drop((pa, pb));
    f.assert_clean();
}

/// Needs SELinux: `tests/vm/selinux.sh` runs it (`--include-ignored`) in
/// the VM booted with SELinux (permissive). CRIU rewrites the `context=`
/// a restored mount had at the dump (berth's `linux.mountLabel` on the
/// tmpfs mounts) with `--lsm-mount-context`.
#[test]
#[ignore = "needs SELinux and a working CRIU: tests/vm/selinux.sh"]
fn lsm_mount_context_relabels_the_restored_mounts() {
    const MOUNT: &str = "system_u:object_r:svirt_image_t:s0:c1,c2";
    const NEW: &str = "system_u:object_r:svirt_image_t:s0:c3,c4";
    assert!(common::selinux_enabled(), "SELinux is not enabled here");
    assert!(
        counter::criu_unusable().is_none(),
        "{:?}",
        counter::criu_unusable()
    );
    let f = counter("cr-mntctx");
    f.edit(|c| c["linux"]["mountLabel"] = json!(MOUNT));
    let b = bundle(&f);
    f.ok(&["run", "-d", "--bundle", &b, "c1"]);
    wait_lines(&f, 3);
    // The super options of /dev/shm (a tmpfs berth mounts with context=).
    let shm = |id: &str| -> String {
        let out = f.ok(&["exec", id, "cat", "/proc/self/mountinfo"]);
        out.lines()
            .rfind(|l| l.split(' ').nth(4) == Some("/dev/shm"))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or_else(|| panic!("no /dev/shm in {out}"))
            .to_string()
    };
    let before = shm("c1");
    assert!(before.contains(&format!("context=\"{MOUNT}\"")), "{before}");
    let image = f.dir.path().join("image");
    f.ok(&["checkpoint", "--image-path", path(&image), "c1"]);
    assert_gone(&f, "c1");
    let frozen = counts(&f);
    restore(&f, &image, "c1", &["--lsm-mount-context", NEW]);
    let after = shm("c1");
    assert!(after.contains(&format!("context=\"{NEW}\"")), "{after}");
    let counted = wait_lines(&f, frozen.len() + 2);
    let want: Vec<u64> = (1..=counted.len() as u64).collect();
    assert_eq!(counted, want, "frozen at {frozen:?}");
    stop_and_delete(&f, "c1");
    f.assert_clean();
}

/// A `sleep` in new ipc and uts namespaces of its own (`unshare --ipc
/// --uts`), with the hostname `berth-cr-uts` set there first; killed by its
/// PID when dropped.
struct IpcUtsHolder {
    child: std::process::Child,
}

impl IpcUtsHolder {
    // The child is waited for in Drop.
    #[allow(clippy::zombie_processes)]
    fn start() -> Self {
        let child = std::process::Command::new("unshare")
            .args(["--ipc", "--uts", "sh", "-c"])
            .arg("hostname berth-cr-uts && exec sleep 600")
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let me = Self { child };
        // `exec sleep` comes after the hostname is set.
        let cmdline = format!("/proc/{}/cmdline", me.child.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read(&cmdline)
            .unwrap_or_default()
            .starts_with(b"sleep")
        {
            assert!(Instant::now() < deadline, "unshare --ipc --uts never slept");
            std::thread::sleep(Duration::from_millis(20));
        }
        me
    }

    fn path(&self, ns: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/{ns}", self.child.id()))
    }
}

impl Drop for IpcUtsHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ipc_and_uts_namespaces_joined_by_path_are_joined_again_on_restore() {
    if !need_criu("ipc_and_uts_namespaces_joined_by_path_are_joined_again_on_restore") {
        return;
    }
    let f = counter("cr-ipcuts");
    let holder = IpcUtsHolder::start();
    let (ipc, uts) = (holder.path("ipc"), holder.path("uts"));
    f.edit(|c| {
        c.as_object_mut().unwrap().remove("hostname");
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "ipc" && n["type"] != "uts");
        list.push(json!({"type": "ipc", "path": ipc}));
        list.push(json!({"type": "uts", "path": uts}));
    });
    let want_ipc = format!("ipc:[{}]", inode(&ipc));
    let want_uts = format!("uts:[{}]", inode(&uts));
    assert_ne!(
        std::fs::read_link("/proc/self/ns/uts")
            .unwrap()
            .to_string_lossy(),
        want_uts,
        "the holder has a uts namespace of its own"
    );
    start(&f, "c1");
    let image = dump(&f, "c1", "image", &[]);
    let frozen = counts(&f);
    restore(&f, &image, "c1", &[]);
    // CRIU joined the paths (join_ns) instead of making new namespaces:
    // the same inodes and the holder's hostname, from inside and the host.
    let inside = |args: &[&str]| f.ok(&[&["exec", "c1"], args].concat()).trim().to_string();
    assert_eq!(inside(&["readlink", "/proc/self/ns/ipc"]), want_ipc);
    assert_eq!(inside(&["readlink", "/proc/self/ns/uts"]), want_uts);
    assert_eq!(
        inside(&["cat", "/proc/sys/kernel/hostname"]),
        "berth-cr-uts"
    );
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    for (ns, want) in [("ipc", &want_ipc), ("uts", &want_uts)] {
        let host = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_eq!(&host.to_string_lossy(), want, "{ns} of the restored init");
    }
    counter::assert_continues(&count_file(&f), &frozen, 2);
    stop_and_delete(&f, "c1");
    drop(holder);
    f.assert_clean();
}
