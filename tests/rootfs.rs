//! The root filesystem: each mount kind with its options, propagation, a
//! read-only root, masked and read-only paths, and the default /dev.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Fixture;
use serde_json::json;

/// mountinfo lines inside the container, keyed by mount point.
fn mounts(out: &str) -> std::collections::HashMap<String, String> {
    out.lines()
        .filter_map(|l| {
            l.split_whitespace()
                .nth(4)
                .map(|mp| (mp.to_string(), l.to_string()))
        })
        .collect()
}

fn opts(line: &str) -> Vec<String> {
    line.split_whitespace()
        .nth(5)
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect()
}

fn super_opts(line: &str) -> Vec<String> {
    line.split(" - ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect()
}

fn fstype(line: &str) -> String {
    line.split(" - ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn every_mount_kind_with_its_options() {
    let f = Fixture::new("rootfs-kinds", &["cat", "/proc/self/mountinfo"]);
    let vol = f.dir.path().join("vol");
    std::fs::create_dir_all(vol.join("sub")).unwrap();
    std::fs::write(f.dir.path().join("file.txt"), "host file").unwrap();
    f.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "bind", "source": vol, "options": ["bind", "ro", "nosuid"]}));
        m.push(json!({"destination": "/rdata", "source": vol, "options": ["rbind", "rw", "noexec"]}));
        m.push(json!({"destination": "/etc/hostfile", "source": "../file.txt", "options": ["bind", "ro"]}));
        m.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nodev", "size=1m", "mode=1700", "noatime"]}));
    });
    let out = f.output("c1");
    let m = mounts(&out);
    assert_eq!(fstype(&m["/proc"]), "proc");
    assert_eq!(fstype(&m["/sys"]), "sysfs");
    assert!(opts(&m["/sys"]).contains(&"ro".into()) && opts(&m["/sys"]).contains(&"nosuid".into()));
    assert_eq!(fstype(&m["/dev"]), "tmpfs");
    assert!(
        super_opts(&m["/dev"]).contains(&"mode=755".into()),
        "{}",
        m["/dev"]
    );
    assert_eq!(fstype(&m["/dev/pts"]), "devpts");
    assert!(super_opts(&m["/dev/pts"]).contains(&"ptmxmode=666".into()));
    assert!(super_opts(&m["/dev/pts"]).contains(&"gid=5".into()));
    assert!(opts(&m["/dev/pts"]).contains(&"noexec".into()));
    assert_eq!(fstype(&m["/dev/shm"]), "tmpfs");
    assert_eq!(fstype(&m["/dev/mqueue"]), "mqueue");
    assert_eq!(fstype(&m["/sys/fs/cgroup"]), "tmpfs");
    assert!(
        m.keys().any(|k| k == "/sys/fs/cgroup/memory"),
        "per-hierarchy cgroup mounts"
    );
    assert!(opts(&m["/sys/fs/cgroup/memory"]).contains(&"ro".into()));
    let data = &m["/data"];
    assert!(data.contains(&vol.to_string_lossy().to_string()), "{data}");
    assert!(opts(data).contains(&"ro".into()) && opts(data).contains(&"nosuid".into()));
    assert!(
        opts(&m["/rdata"]).contains(&"rw".into()) && opts(&m["/rdata"]).contains(&"noexec".into())
    );
    assert!(
        m["/etc/hostfile"].contains("file.txt"),
        "relative bind source is resolved against the bundle"
    );
    let scratch = &m["/scratch"];
    assert!(
        opts(scratch).contains(&"nodev".into()) && opts(scratch).contains(&"noatime".into()),
        "{scratch}"
    );
    assert!(
        super_opts(scratch).contains(&"size=1024k".into())
            && super_opts(scratch).contains(&"mode=1700".into()),
        "{scratch}"
    );
    f.assert_clean();
}

#[test]
fn bind_options_take_effect() {
    let f = Fixture::new(
        "rootfs-bindopts",
        &[
            "sh",
            "-c",
            "cat /etc/hostfile; echo x > /data/new 2>/dev/null && echo writable || echo readonly; echo y > /rdata/new && echo writable2",
        ],
    );
    let vol = f.dir.path().join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(f.dir.path().join("file.txt"), "host file\n").unwrap();
    f.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "source": vol, "options": ["bind", "ro"]}));
        m.push(json!({"destination": "/rdata", "source": vol, "options": ["rbind"]}));
        m.push(json!({"destination": "/etc/hostfile", "source": "../file.txt", "options": ["bind", "ro"]}));
    });
    assert_eq!(f.output("c1"), "host file\nreadonly\nwritable2\n");
    assert_eq!(std::fs::read_to_string(vol.join("new")).unwrap(), "y\n");
    f.assert_clean();
}

#[test]
fn propagation_options_and_rootfs_propagation() {
    let f = Fixture::new("rootfs-prop", &["cat", "/proc/self/mountinfo"]);
    let vol = f.dir.path().join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    f.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/shared", "type": "tmpfs", "source": "tmpfs", "options": ["rshared"]}));
        m.push(json!({"destination": "/private", "type": "tmpfs", "source": "tmpfs", "options": ["private"]}));
        m.push(json!({"destination": "/unbindable", "type": "tmpfs", "source": "tmpfs", "options": ["unbindable"]}));
        c["linux"]["rootfsPropagation"] = json!("private");
    });
    let m = mounts(&f.output("c1"));
    let optional = |mp: &str| {
        m[mp]
            .split(" - ")
            .next()
            .unwrap()
            .split_whitespace()
            .skip(6)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        optional("/shared").starts_with("shared:"),
        "{}",
        m["/shared"]
    );
    assert_eq!(optional("/private"), "");
    assert_eq!(optional("/unbindable"), "unbindable");
    assert_eq!(optional("/"), "", "private root propagation");
    f.assert_clean();
}

#[test]
fn readonly_root_masked_and_readonly_paths() {
    let f = Fixture::new(
        "rootfs-ro",
        &[
            "sh",
            "-c",
            "touch /x 2>/dev/null && echo root-rw || echo root-ro; touch /dev/shm/x && echo shm-rw; \
                       wc -c < /proc/timer_list; ls -A /proc/acpi | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-rw || echo sys-ro",
        ],
    );
    let out = f.output("c1");
    assert_eq!(out, "root-ro\nshm-rw\n0\n0\nsys-ro\n");
    f.assert_clean();
}

#[test]
fn default_dev_contents() {
    let f = Fixture::new(
        "rootfs-dev",
        &[
            "sh",
            "-c",
            "cd /dev && for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' $d; done; for l in fd stdin stdout stderr ptmx; do readlink $l; done; ls pts shm mqueue >/dev/null && echo dirs",
        ],
    );
    let out = f.output("c1");
    let expected = "null character special file 1:3 666\nzero character special file 1:5 666\nfull character special file 1:7 666\n\
                    random character special file 1:8 666\nurandom character special file 1:9 666\ntty character special file 5:0 666\n\
                    /proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\npts/ptmx\ndirs\n";
    assert_eq!(out, expected);
    f.assert_clean();
}

#[test]
fn no_pivot_uses_move_and_chroot() {
    let f = Fixture::new(
        "rootfs-nopivot",
        &["sh", "-c", "ls /; cat /proc/self/mountinfo | wc -l"],
    );
    let b = f.bundle.to_string_lossy().to_string();
    let out = f.berth(&["run", "--no-pivot", "--bundle", &b, "c1"]);
    assert!(out.status.success(), "{}", common::s(&out.stderr));
    assert!(common::s(&out.stdout).contains("bin\n"));
    f.assert_clean();
}

/// What the container sees under `rootfsPropagation: prop` (`None`: not
/// set), from inside (the checks of runtime-tools'
/// linux_rootfs_propagation, and more): whether a host mount made below the
/// rootfs after `create` reaches it, whether `/` can be bind-mounted,
/// whether a mount under `/` shows up in such a bind, and the propagation
/// fields of `/` in mountinfo (numbers dropped). With `host_shared`, the
/// rootfs is first made a shared mount on the host (as under systemd), so
/// that host mounts below it can propagate at all; without, it is a plain
/// directory on the host's `/` mount (runtime-tools' layout).
fn root_propagation(prop: Option<&str>, host_shared: bool) -> String {
    let script = "exec >/result 2>&1; cat /hostmnt/marker 2>/dev/null || echo no-host-mount; \
                  mkdir -p /t /m /s && touch /s/file; \
                  if mount --rbind / /t 2>/bind-err; then \
                    mount --bind /s /m; [ -e /t/m/file ] && echo exposed || echo hidden; \
                    umount /m; umount -l /t; \
                  else echo \"bind refused: $(cat /bind-err)\"; fi; \
                  awk '$5 == \"/\" { o = \"root:\"; for (i = 7; $i != \"-\"; i++) o = o \" \" $i; print o }' \
                    /proc/self/mountinfo";
    let name = format!("rootprop-{}", prop.unwrap_or("unset"));
    let f = Fixture::new(&name, &["sh", "-c", script]);
    f.edit(|c| {
        if let Some(p) = prop {
            c["linux"]["rootfsPropagation"] = json!(p);
        }
        c["root"]["readonly"] = json!(false);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_ADMIN"));
        }
    });
    let rootfs = f.rootfs();
    let hostmnt = rootfs.join("hostmnt");
    std::fs::create_dir(&hostmnt).unwrap();
    let unmount = Unmount(vec![hostmnt.clone(), rootfs.clone()]);
    use nix::mount::{MsFlags, mount};
    let none = None::<&str>;
    if host_shared {
        mount(Some(&rootfs), &rootfs, none, MsFlags::MS_BIND, none).unwrap();
        mount(none, &rootfs, none, MsFlags::MS_SHARED, none).unwrap();
    }
    f.create("c1");
    mount(
        Some("tmpfs"),
        &hostmnt,
        Some("tmpfs"),
        MsFlags::empty(),
        none,
    )
    .unwrap();
    std::fs::write(hostmnt.join("marker"), "from-host\n").unwrap();
    f.ok(&["start", "c1"]);
    f.wait_status("c1", "stopped");
    f.ok(&["delete", "c1"]);
    let out = std::fs::read_to_string(rootfs.join("result")).unwrap();
    drop(unmount);
    f.assert_clean();
    out.chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// Lazily unmounts its paths (in order) when dropped, also after a failed
/// assertion.
struct Unmount(Vec<std::path::PathBuf>);

impl Drop for Unmount {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[test]
fn root_propagation_shared() {
    // A new peer group (as in runc, not a slave of the host's, and berth
    // never lets the container's mounts reach the host): a mount under `/`
    // appears in a bind of `/`.
    assert_eq!(
        root_propagation(Some("shared"), true),
        "no-host-mount\nexposed\nroot: shared:\n"
    );
}

#[test]
fn root_propagation_slave() {
    // The only mode that receives the host's mounts.
    assert_eq!(
        root_propagation(Some("slave"), true),
        "from-host\nhidden\nroot: master:\n"
    );
}

#[test]
fn root_propagation_private() {
    let private = "no-host-mount\nhidden\nroot:\n";
    assert_eq!(root_propagation(Some("private"), true), private);
    // Unset: private too, as in runc.
    assert_eq!(root_propagation(None, true), private);
}

#[test]
fn root_propagation_unbindable() {
    // `/` cannot be bound (EINVAL), yet the rootfs bind and the container's
    // own binds worked, also with the rootfs on the host's `/` mount (which
    // is what broke when `unbindable` was applied before the rootfs bind).
    let unbindable = "no-host-mount\nbind refused: mount: mounting / on /t failed: Invalid argument\n\
                      root: unbindable\n";
    assert_eq!(root_propagation(Some("unbindable"), true), unbindable);
    assert_eq!(root_propagation(Some("unbindable"), false), unbindable);
}
