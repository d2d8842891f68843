//! `linux.netDevices`: a host link (a veth end made by the test) is moved
//! into the container's network namespace, renamed, with its permanent
//! global addresses, and up; a missing device is refused before anything
//! is created.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::Fixture;
use serde_json::json;

/// A veth pair on the host, deleted when dropped (deleting either end
/// removes both; once one end has moved into a container, it goes with the
/// container's namespace).
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    fn new(tag: &str) -> Self {
        let id = std::process::id() % 100_000;
        let v = Self {
            a: format!("bv{tag}{id}a"),
            b: format!("bv{tag}{id}b"),
        };
        ip(&["link", "add", &v.a, "type", "veth", "peer", "name", &v.b]);
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["link", "del", n]).output();
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        common::s(&out.stderr)
    );
}

fn host_has(link: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", link])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn a_veth_end_moves_into_the_container() {
    let one = Veth::new("x");
    let two = Veth::new("y");
    ip(&["addr", "add", "10.213.7.1/24", "dev", &one.a]);
    ip(&["addr", "add", "fd00:213::1/64", "dev", &one.a, "nodad"]);
    let f = Fixture::new(
        "netdev-move",
        &[
            "sh",
            "-c",
            "ip -o addr show dev eth1; cat /sys/class/net/eth1/flags; ls /sys/class/net | grep -c '^tpl'",
        ],
    );
    f.edit(|c| {
        c["linux"]["netDevices"] =
            json!({one.a.clone(): {"name": "eth1"}, two.a.clone(): {"name": "tpl%d"}});
    });
    let out = f.output("c1");
    assert!(
        out.contains("inet 10.213.7.1/24"),
        "IPv4 address kept: {out}"
    );
    assert!(
        out.contains("inet6 fd00:213::1/64"),
        "IPv6 address kept: {out}"
    );
    let flags = out.lines().rev().nth(1).unwrap();
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "eth1 is up");
    assert!(
        out.ends_with("1\n"),
        "the template name was filled in: {out}"
    );
    // The container's namespace is gone, and the veth ends with it (the
    // kernel cleans namespaces up asynchronously).
    for _ in 0..500 {
        if !host_has(&one.b) && !host_has(&two.b) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!host_has(&one.a) && !host_has(&one.b));
    assert!(!host_has(&two.a) && !host_has(&two.b));
    f.assert_clean();
}

#[test]
fn a_missing_device_is_refused_before_anything_is_created() {
    let f = Fixture::new("netdev-missing", &["true"]);
    f.edit(|c| c["linux"]["netDevices"] = json!({"bvnosuch0": {}}));
    let b = f.bundle.to_string_lossy().to_string();
    let out = f.berth(&["create", "--bundle", &b, "c1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::s(&out.stderr);
    assert!(
        err.contains(r#"linux.netDevices.bvnosuch0: no network device \"bvnosuch0\" in the runtime's network namespace"#),
        "{err}"
    );
    f.assert_clean();
}

#[test]
fn a_name_taken_in_the_container_is_an_error() {
    let v = Veth::new("z");
    let f = Fixture::new("netdev-clash", &["true"]);
    // Every new network namespace has "lo".
    f.edit(|c| c["linux"]["netDevices"] = json!({v.a.clone(): {"name": "lo"}}));
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(
        err.contains(&format!(
            "linux.netDevices.{}: a device named \\\"lo\\\" already exists in the container",
            v.a
        )),
        "{err}"
    );
    assert!(
        host_has(&v.a),
        "a failed move leaves the device on the host"
    );
    f.assert_clean();
}
