//! The console-socket protocol: a receiver gets the pty master as one
//! SCM_RIGHTS descriptor, with the pty name as data, and talks to the shell.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;

use common::Fixture;
use serde_json::json;

fn receive_master(listener: &UnixListener) -> (String, OwnedFd) {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let (n, fd) = berth::sys::fd::recv_fd(std::os::fd::AsFd::as_fd(&conn), &mut buf).unwrap();
    (
        String::from_utf8_lossy(&buf[..n]).into_owned(),
        fd.expect("exactly one descriptor"),
    )
}

#[test]
fn console_socket_receives_a_working_pty() {
    let f = Fixture::new("console", &["sh"]);
    f.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    });
    let sock = f.dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || receive_master(&listener));
    let b = f.bundle.to_string_lossy().to_string();
    f.ok(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        &b,
        "c1",
    ]);
    let (name, master) = receiver.join().unwrap();
    assert_eq!(name, "/dev/ptmx");
    f.ok(&["start", "c1"]);
    let mut pty = std::fs::File::from(master);
    pty.write_all(b"stty size; tty; echo marker-$((6*7)); exit\n")
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        match pty.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if String::from_utf8_lossy(&out).contains("marker-42") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("33 101"), "console size applied: {text}");
    assert!(
        text.contains("/dev/pts/0"),
        "the pty comes from the container's devpts: {text}"
    );
    assert!(text.contains("marker-42"), "{text}");
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}
