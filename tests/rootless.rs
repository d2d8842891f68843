//! Rootless berth: run by an unprivileged user that the tests create
//! (`berth-rootless`, with /etc/subuid and /etc/subgid ranges), on bundles
//! under /tmp owned by that user, with `berth spec --rootless` configs.
//! Root only sets the world up; every berth command runs as the user
//! (`setpriv`), and every effect is read from inside the container.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::rootless::{User, chown_tree, user};
use common::{TIMEOUT, s};
use serde_json::{Value, json};

/// A bundle and a runtime directory owned by the user, under /tmp (not
/// below /root, which is 0700).
struct Rootless {
    user: User,
    dir: tempfile::TempDir,
    bundle: PathBuf,
    xdg: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Rootless {
    /// A `berth spec --rootless` bundle (written by the user) running `args`.
    fn new(name: &str, args: &[&str]) -> Self {
        let user = user();
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-rootless-{name}-"))
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bundle = dir.path().join("bundle");
        common::make_rootfs(&bundle.join("rootfs"));
        let xdg = dir.path().join("xdg");
        std::fs::create_dir(&xdg).unwrap();
        std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
        chown_tree(dir.path(), user.uid, user.gid);
        let f = Self {
            user,
            dir,
            bundle,
            xdg,
            ids: Default::default(),
        };
        let b = f.bundle.to_string_lossy().to_string();
        f.ok(&["spec", "--rootless", "--bundle", &b]);
        f.edit(|c| {
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(args);
        });
        f
    }

    fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.bundle.join("config.json")).unwrap()).unwrap()
    }

    fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut c = self.config();
        f(&mut c);
        let p = self.bundle.join("config.json");
        std::fs::write(&p, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
        std::os::unix::fs::chown(&p, Some(self.user.uid), Some(self.user.gid)).unwrap();
    }

    /// berth as the user, with only its runtime directory in the
    /// environment (the state root defaults to $XDG_RUNTIME_DIR/berth).
    fn cmd(&self) -> Command {
        let mut c = self.user.command(common::berth_bin(), &self.xdg);
        c.current_dir(self.dir.path()).stdin(Stdio::null());
        c
    }

    /// Runs berth as the user; output through files (a container keeps
    /// inherited pipes open); a command that outlives `TIMEOUT` fails.
    fn berth(&self, args: &[&str]) -> Output {
        if args.iter().any(|a| matches!(*a, "create" | "run"))
            && let Some(id) = args.last()
        {
            self.ids.borrow_mut().push(id.to_string());
        }
        let mut cmd = self.cmd();
        cmd.args(args);
        common::run_captured(cmd, &format!("berth {args:?} (rootless)"))
    }

    fn ok(&self, args: &[&str]) -> String {
        common::ok_stdout(self.berth(args), args)
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            !out.status.success(),
            "berth {args:?} unexpectedly succeeded: {}",
            s(&out.stdout)
        );
        s(&out.stderr)
    }

    fn b(&self) -> String {
        self.bundle.to_string_lossy().to_string()
    }

    fn state_root(&self) -> PathBuf {
        self.xdg.join("berth")
    }

    /// Nothing left: no state directory, mount or process.
    fn assert_clean(&self) {
        common::assert_bundle_clean(&self.state_root(), &self.bundle);
    }
}

impl Drop for Rootless {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self
                .cmd()
                .args(["delete", "--force", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The ranges of a `/proc/<pid>/{u,g}id_map`, whitespace normalised.
fn ranges(map: &str) -> Vec<String> {
    map.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn spec_rootless_bundle_runs_as_root_of_its_own_user_namespace() {
    let f = Rootless::new(
        "run",
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id -u; id -g",
        ],
    );
    let out = f.ok(&["run", "--bundle", &f.b(), "r1"]);
    let parts: Vec<&str> = out.split("--\n").collect();
    assert_eq!(parts.len(), 3, "{out}");
    assert_eq!(ranges(parts[0]), [format!("0 {} 1", f.user.uid)]);
    assert_eq!(ranges(parts[1]), [format!("0 {} 1", f.user.gid)]);
    assert_eq!(parts[2], "0\n0\n");
    // The state root is $XDG_RUNTIME_DIR/berth, private to the user.
    let meta = std::fs::metadata(f.state_root()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), f.user.uid);
    f.assert_clean();
}

#[test]
fn life_cycle_exec_kill_ps_list_delete() {
    let f = Rootless::new("life", &["sleep", "1000"]);
    f.ok(&["create", "--bundle", &f.b(), "l1"]);
    let st: Value = serde_json::from_str(&f.ok(&["state", "l1"])).unwrap();
    assert_eq!(st["status"], "created");
    f.ok(&["start", "l1"]);
    let st: Value = serde_json::from_str(&f.ok(&["state", "l1"])).unwrap();
    assert_eq!(st["status"], "running");
    let pid = st["pid"].as_i64().unwrap();
    // The init is the user's on the host.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some(f.user.uid.to_string().as_str())
    );
    let list = f.ok(&["list", "-q"]);
    assert_eq!(list.trim(), "l1");
    // exec joins every namespace of the container, user namespace first.
    let out = f.ok(&[
        "exec",
        "l1",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/pid; readlink /proc/1/ns/pid",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(ranges(lines[1]), [format!("0 {} 1", f.user.uid)]);
    assert_eq!(
        lines[2], lines[3],
        "exec is not in the container's PID namespace"
    );
    let ps = f.ok(&["ps", "-f", "json", "l1"]);
    let pids: Vec<i64> = serde_json::from_str(&ps).unwrap();
    assert!(pids.contains(&pid), "{ps}");
    f.ok(&["kill", "l1", "KILL"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let st: Value = serde_json::from_str(&f.ok(&["state", "l1"])).unwrap();
        if st["status"] == "stopped" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never stopped");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    f.ok(&["delete", "l1"]);
    f.assert_clean();
}

#[test]
fn multi_range_mapping_goes_through_newuidmap() {
    let f = Rootless::new(
        "multi",
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map",
        ],
    );
    let (u, g) = (&f.user, &f.user);
    let uid_maps = json!([
        {"containerID": 0, "hostID": u.uid, "size": 1},
        {"containerID": 1, "hostID": u.subuid.0, "size": u.subuid.1}
    ]);
    let gid_maps = json!([
        {"containerID": 0, "hostID": g.gid, "size": 1},
        {"containerID": 1, "hostID": g.subgid.0, "size": g.subgid.1}
    ]);
    f.edit(|c| {
        c["linux"]["uidMappings"] = uid_maps;
        c["linux"]["gidMappings"] = gid_maps;
    });
    let out = f.ok(&["run", "--bundle", &f.b(), "m1"]);
    let (uids, gids) = out.split_once("--\n").unwrap();
    assert_eq!(
        ranges(uids),
        [
            format!("0 {} 1", u.uid),
            format!("1 {} {}", u.subuid.0, u.subuid.1)
        ]
    );
    assert_eq!(
        ranges(gids),
        [
            format!("0 {} 1", g.gid),
            format!("1 {} {}", g.subgid.0, g.subgid.1)
        ]
    );
    f.assert_clean();
}

#[test]
fn a_range_outside_subuid_is_refused_naming_the_mapping() {
    let f = Rootless::new("badmap", &["true"]);
    f.edit(|c| {
        c["linux"]["uidMappings"] =
            json!([{"containerID": 0, "hostID": 4000000000u32, "size": 10}]);
    });
    let err = f.fails(&["create", "--bundle", &f.b(), "b1"]);
    assert!(err.contains("linux.uidMappings"), "{err}");
    assert!(err.contains("newuidmap"), "{err}");
    f.assert_clean();
}

#[test]
fn a_failing_rootless_create_leaves_nothing() {
    // Fails in the child, after the user namespace and the mounts.
    let f = Rootless::new("fail", &["/no/such/program"]);
    let err = f.fails(&["create", "--bundle", &f.b(), "f1"]);
    assert!(err.contains("/no/such/program"), "{err}");
    f.assert_clean();
    // Fails in the child's mounts (a missing bind source).
    f.edit(|c| {
        c["process"]["args"] = json!(["true"]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt", "type": "none", "source": "/no/such/dir",
            "options": ["rbind"]
        }));
    });
    let err = f.fails(&["create", "--bundle", &f.b(), "f2"]);
    assert!(
        err.contains("/mnt") || err.contains("/no/such/dir"),
        "{err}"
    );
    f.assert_clean();
}

#[test]
fn limits_without_a_writable_cgroup_are_refused_by_name() {
    // This host's cgroupfs hierarchies belong to root: a rootless container
    // gets no cgroup, so a limit cannot be honoured and must not be dropped.
    let f = Rootless::new("limits", &["true"]);
    f.edit(|c| c["linux"]["resources"] = json!({"memory": {"limit": 67108864}}));
    let err = f.fails(&["run", "--bundle", &f.b(), "x1"]);
    assert!(err.contains("linux.resources.memory"), "{err}");
    f.assert_clean();
    // Without limits or a cgroupsPath, it runs without a cgroup.
    f.edit(|c| {
        c["linux"].as_object_mut().unwrap().remove("resources");
    });
    f.ok(&["run", "--bundle", &f.b(), "x2"]);
    f.assert_clean();
}

#[test]
fn no_runtime_dir_and_no_root_is_a_clear_error() {
    let f = Rootless::new("noxdg", &["true"]);
    let out = f
        .cmd()
        .env_remove("XDG_RUNTIME_DIR")
        .args(["list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = s(&out.stderr);
    assert!(
        err.contains("XDG_RUNTIME_DIR") && err.contains("--root"),
        "{err}"
    );
}

/// Reads the pty master until `marker` shows up (or 20 s pass).
fn read_until(pty: &mut std::fs::File, marker: &str) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        match pty.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if String::from_utf8_lossy(&out).contains(marker) {
            break;
        }
    }
    s(&out)
}

#[test]
fn console_socket_gets_a_pty_owned_inside_the_user_namespace() {
    use std::io::Write;
    let f = Rootless::new("console", &["sh"]);
    f.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    });
    // The receiver is the test (root); the socket is the user's to connect.
    let sock = f.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::os::unix::fs::chown(&sock, Some(f.user.uid), Some(f.user.gid)).unwrap();
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 256];
        let (n, fd) = berth::sys::fd::recv_fd(std::os::fd::AsFd::as_fd(&conn), &mut buf).unwrap();
        (s(&buf[..n]), fd.expect("exactly one descriptor"))
    });
    f.ok(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        &f.b(),
        "t1",
    ]);
    let (name, master) = receiver.join().unwrap();
    assert_eq!(name, "/dev/ptmx");
    f.ok(&["start", "t1"]);
    let mut pty = std::fs::File::from(master);
    pty.write_all(
        b"stty size; tty; stat -c 'owner=%u:%g' $(tty); stat -c 'console=%t,%T' /dev/console; echo marker-$((6*7)); exit\n",
    )
    .unwrap();
    let text = read_until(&mut pty, "marker-42");
    assert!(text.contains("33 101"), "console size applied: {text}");
    assert!(
        text.contains("/dev/pts/0"),
        "the pty comes from the container's devpts: {text}"
    );
    // The slave belongs to the container's root (the user on the host),
    // not to an unmapped id (which would show as 65534).
    assert!(text.contains("owner=0:0"), "{text}");
    // /dev/console is the pty (major 136 = 0x88), bound over it.
    assert!(text.contains("console=88,0"), "{text}");
    assert!(text.contains("marker-42"), "{text}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let st: Value = serde_json::from_str(&f.ok(&["state", "t1"])).unwrap();
        if st["status"] == "stopped" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never stopped");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    f.ok(&["delete", "t1"]);
    f.assert_clean();
}

#[test]
fn run_and_exec_with_a_terminal() {
    // Foreground `run` with process.terminal: berth proxies its own tty.
    let f = Rootless::new(
        "tty",
        &[
            "sh",
            "-c",
            "tty; stat -c 'owner=%u:%g' $(tty); stty size; echo done-$((6*7))",
        ],
    );
    f.edit(|c| c["process"]["terminal"] = json!(true));
    f.ids.borrow_mut().push("r1".into());
    let (code, text) = common::run_on_tty(f.cmd().args(["run", "--bundle", &f.b(), "r1"]), TIMEOUT);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("owner=0:0"), "{text}");
    assert!(text.contains("24 80"), "berth's terminal size: {text}");
    assert!(text.contains("done-42"), "{text}");
    f.assert_clean();

    // exec -t into a container without a terminal of its own.
    f.edit(|c| {
        c["process"]["terminal"] = json!(false);
        c["process"]["args"] = json!(["sleep", "1000"]);
    });
    f.ok(&["run", "--detach", "--bundle", &f.b(), "e1"]);
    let (code, text) = common::run_on_tty(
        f.cmd().args([
            "exec",
            "-t",
            "e1",
            "sh",
            "-c",
            "tty; stat -c 'owner=%u:%g' $(tty); id -u; exit 3",
        ]),
        TIMEOUT,
    );
    assert_eq!(code, 3, "exec's exit status: {text}");
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("owner=0:0"), "{text}");
    f.ok(&["kill", "e1", "KILL"]);
    f.ok(&["delete", "--force", "e1"]);
    f.assert_clean();
}

#[test]
fn features_reports_what_rootless_cannot_do_and_it_is_refused() {
    let f = Rootless::new("features", &["true"]);
    let feat: Value = serde_json::from_str(&f.ok(&["features"])).unwrap();
    assert_eq!(feat["annotations"]["io.github.berth.rootless"], "true");
    assert_eq!(feat["linux"]["mountExtensions"]["idmap"]["enabled"], false);
    assert_eq!(feat["linux"]["netDevices"]["enabled"], false);
    assert_eq!(feat["linux"]["cgroup"]["systemd"], false);
    // No systemd on this host (the systemd VM checks it true there).
    assert_eq!(feat["linux"]["cgroup"]["systemdUser"], false);
    // As root, the same binary reports them on.
    let out = Command::new(common::berth_bin())
        .arg("features")
        .output()
        .unwrap();
    let root: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(root["annotations"]["io.github.berth.rootless"], "false");
    assert_eq!(root["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    assert_eq!(root["linux"]["netDevices"]["enabled"], true);
    // An idmapped mount is refused rootless, naming the mount.
    let vol = f.dir.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    chown_tree(&vol, f.user.uid, f.user.gid);
    let (uid, gid) = (f.user.uid, f.user.gid);
    let mut index = 0;
    f.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        index = mounts.len();
        mounts.push(json!({
            "destination": "/mnt", "type": "bind", "source": vol, "options": ["rbind", "idmap"],
            "uidMappings": [{"containerID": 0, "hostID": uid, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": gid, "size": 1}]
        }));
    });
    let err = f.fails(&["run", "--bundle", &f.b(), "i1"]);
    assert!(err.contains(&format!("mounts[{index}]")), "{err}");
    f.assert_clean();
}

/// A veth pair of the test's own on the host, removed when dropped.
struct Dummy(String);

impl Dummy {
    fn new() -> Self {
        let name = format!("brl{}", std::process::id() % 100000);
        let peer = format!("{name}p");
        let out = Command::new("ip")
            .args(["link", "add", &name, "type", "veth", "peer", "name", &peer])
            .output()
            .unwrap();
        assert!(out.status.success(), "ip link add veth: {}", s(&out.stderr));
        Dummy(name)
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

#[test]
fn net_devices_are_refused_by_name_and_leave_nothing() {
    // Moving a host interface needs CAP_NET_ADMIN in the host's network
    // namespace: refused, naming the field, and the device stays.
    let dev = Dummy::new();
    let f = Rootless::new("netdev", &["true"]);
    f.edit(|c| {
        c["linux"]["netDevices"] = json!({dev.0.clone(): {"name": "eth1"}});
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "network"}));
    });
    let err = f.fails(&["create", "--bundle", &f.b(), "n1"]);
    assert!(err.contains("linux.netDevices"), "{err}");
    assert!(
        !err.contains("no network device"),
        "refused for the wrong reason: {err}"
    );
    f.assert_clean();
    assert!(f.ok(&["list", "-q"]).trim().is_empty());
    assert!(
        std::path::Path::new("/sys/class/net").join(&dev.0).exists(),
        "the device left the host"
    );
}
