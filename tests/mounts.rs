//! Mount options and mount kinds beyond the basics of `rootfs.rs`:
//! recursive attributes through `mount_setattr`, nosymfollow, remount,
//! propagation of whole trees, tmpcopyup, overlay, idmapped mounts (ext4
//! and tmpfs, idmap and ridmap, with the container's user namespace),
//! `linux.devices`, and custom masked and read-only paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Fixture;
use serde_json::json;

/// A host mount made by a test, unmounted when dropped.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path, opts: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        sh(&format!("mount -t tmpfs -o {opts} tmpfs {}", at.display()));
        Self(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}");
}

/// Mount point → (per-mount options, optional fields) from mountinfo text.
fn mountinfo(out: &str) -> HashMap<String, (Vec<String>, String)> {
    out.lines()
        .filter_map(|l| {
            let (pre, _) = l.split_once(" - ")?;
            let f: Vec<&str> = pre.split_whitespace().collect();
            let opts = f.get(5)?.split(',').map(str::to_string).collect();
            Some((f.get(4)?.to_string(), (opts, f[6..].join(" "))))
        })
        .collect()
}

/// A host directory `vol` holding `file`, and `vol/sub`: a tmpfs mounted
/// with every restrictive flag, holding an executable and a symlink.
fn volume_with_submount(f: &Fixture) -> (PathBuf, HostMount) {
    let vol = f.dir.path().join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("file"), "top\n").unwrap();
    let sub = vol.join("sub");
    let m = HostMount::tmpfs(&sub, "rw,size=4m");
    // busybox runs the applet its name says: this copy is `true`.
    std::fs::copy(common::BUSYBOX, sub.join("true")).unwrap();
    std::fs::write(sub.join("target"), "through the link\n").unwrap();
    symlink("target", sub.join("link")).unwrap();
    sh(&format!(
        "mount -o remount,bind,ro,nosuid,nodev,noexec,noatime,nodiratime,nosymfollow {}",
        sub.display()
    ));
    (vol, m)
}

#[test]
fn recursive_attributes_reach_submounts() {
    let f = Fixture::new("mnt-rec", &["cat", "/proc/self/mountinfo"]);
    let (vol, _m) = volume_with_submount(&f);
    f.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        // Only the top mount changes.
        m.push(json!({"destination": "/top", "source": vol, "options": ["rbind", "ro", "nosuid", "noexec"]}));
        // Every recursive "set" option.
        m.push(json!({"destination": "/rset", "source": vol,
            "options": ["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime", "rnodiratime", "rnosymfollow"]}));
        // Every recursive "clear" option undoes the submount's flags.
        m.push(json!({"destination": "/rclear", "source": vol,
            "options": ["rbind", "rrw", "rsuid", "rdev", "rexec", "ratime", "rdiratime", "rsymfollow"]}));
        m.push(json!({"destination": "/rstrict", "source": vol, "options": ["rbind", "rstrictatime"]}));
        m.push(json!({"destination": "/rrel", "source": vol, "options": ["rbind", "rrelatime"]}));
        m.push(json!({"destination": "/rnorel", "source": vol, "options": ["rbind", "rnorelatime", "rnostrictatime"]}));
    });
    let out = f.output("c1");
    let mi = mountinfo(&out);
    let opts = |mp: &str| {
        mi.get(mp)
            .unwrap_or_else(|| panic!("{mp} in {out}"))
            .0
            .clone()
    };
    let has = |mp: &str, o: &str| opts(mp).iter().any(|x| x == o);

    assert!(has("/top", "ro") && has("/top", "nosuid") && has("/top", "noexec"));
    // The submount keeps its own flags under a non-recursive change.
    assert!(has("/top/sub", "ro") && has("/top/sub", "noatime"));
    for o in [
        "ro",
        "nosuid",
        "nodev",
        "noexec",
        "noatime",
        "nodiratime",
        "nosymfollow",
    ] {
        assert!(has("/rset", o), "/rset {o}: {:?}", opts("/rset"));
        assert!(
            has("/rset/sub", o),
            "/rset/sub {o}: {:?}",
            opts("/rset/sub")
        );
    }
    assert!(has("/rclear/sub", "rw") && has("/rclear/sub", "relatime"));
    for o in [
        "nosuid",
        "nodev",
        "noexec",
        "noatime",
        "nodiratime",
        "nosymfollow",
    ] {
        assert!(
            !has("/rclear/sub", o),
            "/rclear/sub {o}: {:?}",
            opts("/rclear/sub")
        );
    }
    // strictatime shows as neither relatime nor noatime.
    assert!(!has("/rstrict/sub", "relatime") && !has("/rstrict/sub", "noatime"));
    assert!(has("/rrel/sub", "relatime"));
    assert!(
        has("/rnorel/sub", "relatime"),
        "clearing falls back to the kernel default"
    );
    f.assert_clean();
}

#[test]
fn recursive_attributes_take_effect() {
    let f = Fixture::new(
        "mnt-receffect",
        &[
            "sh",
            "-c",
            "touch /rclear/sub/new && echo rclear-writable; /rclear/sub/true && echo rclear-exec; \
             cat /rclear/sub/link; touch /rset/sub/x 2>/dev/null || echo rset-readonly; \
             /rset/sub/true 2>/dev/null || echo rset-noexec; \
             cat /rset/sub/link 2>&1 | grep -q 'Too many levels' && echo rset-nosymfollow",
        ],
    );
    let (vol, _m) = volume_with_submount(&f);
    f.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/rset", "source": vol, "options": ["rbind", "rro", "rnoexec", "rnosymfollow"]}));
        m.push(json!({"destination": "/rclear", "source": vol, "options": ["rbind", "rrw", "rexec", "rsymfollow"]}));
    });
    assert_eq!(
        f.output("c1"),
        "rclear-writable\nrclear-exec\nthrough the link\nrset-readonly\nrset-noexec\nrset-nosymfollow\n"
    );
    f.assert_clean();
}

#[test]
fn nosymfollow_remount_and_tree_propagation() {
    let f = Fixture::new(
        "mnt-misc",
        &[
            "sh",
            "-c",
            "cat /nofollow/link 2>&1; cat /follow/link; touch /re/x 2>&1; cat /proc/self/mountinfo",
        ],
    );
    let (vol, _m) = volume_with_submount(&f);
    let plain = f.dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("target"), "followed\n").unwrap();
    symlink("target", plain.join("link")).unwrap();
    f.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/nofollow", "source": plain, "options": ["bind", "nosymfollow"]}));
        m.push(json!({"destination": "/follow", "source": plain, "options": ["bind", "symfollow"]}));
        m.push(json!({"destination": "/re", "type": "tmpfs", "source": "tmpfs"}));
        m.push(json!({"destination": "/re", "type": "tmpfs", "source": "tmpfs", "options": ["remount", "ro"]}));
        m.push(json!({"destination": "/rsh", "source": vol, "options": ["rbind", "rshared"]}));
        m.push(json!({"destination": "/runb", "source": vol, "options": ["rbind", "runbindable"]}));
        m.push(json!({"destination": "/rpriv", "source": vol, "options": ["rbind", "rshared", "rprivate"]}));
        m.push(json!({"destination": "/rsl", "source": vol, "options": ["rbind", "rshared", "rslave"]}));
    });
    let out = f.output("c1");
    let l: Vec<&str> = out.lines().collect();
    assert!(l[0].ends_with("Too many levels of symbolic links"), "{out}");
    assert_eq!(l[1], "followed");
    assert!(l[2].ends_with("Read-only file system"), "remount ro: {out}");
    let mi = mountinfo(&out);
    let fields = |mp: &str| mi[mp].1.clone();
    assert!(fields("/rsh").starts_with("shared:") && fields("/rsh/sub").starts_with("shared:"));
    assert_eq!(fields("/runb"), "unbindable");
    assert_eq!(fields("/runb/sub"), "unbindable");
    assert_eq!(
        (fields("/rpriv").as_str(), fields("/rpriv/sub").as_str()),
        ("", "")
    );
    // Made shared, then slave: with no other peer, a slave of nothing is
    // private (the kernel's rule), so no "shared:" is left.
    assert_eq!(
        (fields("/rsl").as_str(), fields("/rsl/sub").as_str()),
        ("", "")
    );
    f.assert_clean();
}

#[test]
fn tmpcopyup_keeps_the_image_contents() {
    let f = Fixture::new(
        "mnt-copyup",
        &[
            "sh",
            "-c",
            "cd /srv/data; stat -c '%n %U:%G %a' . f sub sub/g; readlink link; cat f sub/g; \
             echo new > f; grep -c tmpfs /proc/self/mountinfo >/dev/null; grep ' /srv/data ' /proc/self/mountinfo | grep -c tmpfs",
        ],
    );
    let data = f.rootfs().join("srv/data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("f"), "file\n").unwrap();
    std::fs::write(data.join("sub/g"), "nested\n").unwrap();
    symlink("sub/g", data.join("link")).unwrap();
    sh(&format!(
        "chown 1000:1000 {0}/f && chmod 604 {0}/f && chown 65534:65534 {0}/sub && chmod 705 {0}/sub",
        data.display()
    ));
    f.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/srv/data", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]}),
        );
    });
    let out = f.output("c1");
    assert_eq!(
        out,
        ". root:root 755\nf user:user 604\nsub nobody:nogroup 705\nsub/g root:root 644\nsub/g\nfile\nnested\n1\n"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("f")).unwrap(),
        "file\n",
        "writes go to the tmpfs, not the image"
    );
    f.assert_clean();
}

#[test]
fn overlay_mounts() {
    let f = Fixture::new(
        "mnt-overlay",
        &[
            "sh",
            "-c",
            "cat /ov/lower.txt; echo upper > /ov/new.txt; ls /ov",
        ],
    );
    let (lower, upper, work) = (
        f.dir.path().join("lower"),
        f.dir.path().join("upper"),
        f.dir.path().join("work"),
    );
    for d in [&lower, &upper, &work] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(lower.join("lower.txt"), "from the lower layer\n").unwrap();
    f.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/ov", "type": "overlay", "source": "overlay",
            "options": [format!("lowerdir={}", lower.display()), format!("upperdir={}", upper.display()),
                        format!("workdir={}", work.display())]
        }));
    });
    assert_eq!(f.output("c1"), "from the lower layer\nlower.txt\nnew.txt\n");
    assert_eq!(
        std::fs::read_to_string(upper.join("new.txt")).unwrap(),
        "upper\n"
    );
    assert!(!lower.join("new.txt").exists());
    f.assert_clean();
}

fn idmap_maps() -> (serde_json::Value, serde_json::Value) {
    (
        json!([{"containerID": 0, "hostID": 1000, "size": 10}]),
        json!([{"containerID": 0, "hostID": 2000, "size": 10}]),
    )
}

#[test]
fn idmapped_mounts_on_ext4_and_tmpfs() {
    let f = Fixture::new(
        "mnt-idmap",
        &[
            "sh",
            "-c",
            "stat -c '%n %u:%g' /ext4/a /ext4/b /tmpfs/a /plain/a; touch /ext4/new 2>&1; true",
        ],
    );
    let ext4 = f.dir.path().join("ext4");
    std::fs::create_dir_all(&ext4).unwrap();
    let tmp = f.dir.path().join("tmpfs");
    let _m = HostMount::tmpfs(&tmp, "size=1m");
    for d in [&ext4, &tmp] {
        std::fs::write(d.join("a"), "").unwrap();
    }
    std::fs::write(ext4.join("b"), "").unwrap();
    sh(&format!("chown 5:6 {}/b", ext4.display()));
    let (uids, gids) = idmap_maps();
    f.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/ext4", "source": ext4, "options": ["bind", "idmap"], "uidMappings": uids, "gidMappings": gids}));
        // Mappings alone make an idmapped mount too (runc).
        m.push(json!({"destination": "/tmpfs", "source": tmp, "options": ["bind"], "uidMappings": uids, "gidMappings": gids}));
        m.push(json!({"destination": "/plain", "source": ext4, "options": ["bind"]}));
    });
    let out = f.output("c1");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l[..4],
        [
            "/ext4/a 1000:2000",
            "/ext4/b 1005:2006",
            "/tmpfs/a 1000:2000",
            "/plain/a 0:0"
        ]
    );
    // Root (uid 0) has no place in the mapping: it cannot create files there.
    assert!(
        l[4].ends_with("Value too large for defined data type"),
        "{out}"
    );
    f.assert_clean();
}

#[test]
fn ridmap_reaches_submounts_and_idmap_does_not() {
    let f = Fixture::new(
        "mnt-ridmap",
        &[
            "sh",
            "-c",
            "stat -c '%n %u' /r/file /r/sub/target /i/file /i/sub/target",
        ],
    );
    let (vol, _m) = volume_with_submount(&f);
    let (uids, gids) = idmap_maps();
    f.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/r", "source": vol, "options": ["rbind", "ridmap"], "uidMappings": uids, "gidMappings": gids}));
        m.push(json!({"destination": "/i", "source": vol, "options": ["rbind", "idmap"], "uidMappings": uids, "gidMappings": gids}));
    });
    assert_eq!(
        f.output("c1"),
        "/r/file 1000\n/r/sub/target 1000\n/i/file 1000\n/i/sub/target 0\n"
    );
    f.assert_clean();
}

#[test]
fn idmap_without_mappings_uses_the_containers_user_namespace() {
    let f = Fixture::new(
        "mnt-idmap-userns",
        &[
            "sh",
            "-c",
            "stat -c '%n %u:%g' /mapped/a /unmapped/a; touch /mapped/new && echo created",
        ],
    );
    let vol = f.dir.path().join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("a"), "").unwrap();
    // The rootfs must be readable by the container's root (host 100000).
    sh(&format!("chown -R 100000:100000 {}", f.rootfs().display()));
    f.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        let m = c["mounts"].as_array_mut().unwrap();
        m.retain(|m| m["type"] != "cgroup");
        m.push(json!({"destination": "/mapped", "source": vol, "options": ["bind", "idmap"]}));
        m.push(json!({"destination": "/unmapped", "source": vol, "options": ["bind"]}));
    });
    assert_eq!(
        f.output("c1"),
        "/mapped/a 0:0\n/unmapped/a 65534:65534\ncreated\n"
    );
    let st = std::fs::metadata(vol.join("new")).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&st),
        0,
        "written through the idmapped mount as the host's root"
    );
    f.assert_clean();
}

#[test]
fn configured_devices_are_created() {
    let f = Fixture::new(
        "mnt-devices",
        &[
            "sh",
            "-c",
            "stat -c '%n %F %t:%T %a %u:%g' /dev/fuse /dev/ufuse /dev/loop-test /opt/mynull; echo x > /opt/mynull && echo null-ok",
        ],
    );
    f.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600, "uid": 5, "gid": 6},
            {"path": "/dev/ufuse", "type": "u", "major": 10, "minor": 229},
            {"path": "/dev/loop-test", "type": "b", "major": 7, "minor": 200, "fileMode": 0o640},
            {"path": "/opt/mynull", "type": "c", "major": 1, "minor": 3}
        ]);
        c["root"]["readonly"] = json!(false);
    });
    assert_eq!(
        f.output("c1"),
        "/dev/fuse character special file a:e5 600 5:6\n/dev/ufuse character special file a:e5 666 0:0\n/dev/loop-test block special file 7:c8 640 0:0\n\
         /opt/mynull character special file 1:3 666 0:0\nnull-ok\n"
    );
    // A FIFO (it needs no device cgroup rule: tests/cgroups.rs).
    f.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/myfifo", "type": "p", "fileMode": 0o620}]);
        c["process"]["args"] = json!(["stat", "-c", "%n %F %a", "/dev/myfifo"]);
    });
    assert_eq!(f.output("c2"), "/dev/myfifo fifo 620\n");
    f.assert_clean();
}

#[test]
fn a_different_file_at_a_device_path_is_an_error() {
    let f = Fixture::new("mnt-devclash", &["true"]);
    std::fs::create_dir_all(f.rootfs().join("opt")).unwrap();
    std::fs::write(f.rootfs().join("opt/dev"), "not a device").unwrap();
    f.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/opt/dev", "type": "c", "major": 1, "minor": 3}]);
    });
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c1"]);
    assert!(
        err.contains("linux.devices: /opt/dev already exists in the container and is not the requested device"),
        "{err}"
    );
    f.assert_clean();
}

#[test]
fn devices_are_bound_from_the_host_in_a_user_namespace() {
    let f = Fixture::new(
        "mnt-devuserns",
        &[
            "sh",
            "-c",
            "stat -c '%n %F %t:%T' /dev/null /dev/fuse; grep -c -E ' /dev/(null|fuse) ' /proc/self/mountinfo",
        ],
    );
    sh(&format!("chown -R 100000:100000 {}", f.rootfs().display()));
    f.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "cgroup");
        c["linux"]["devices"] =
            json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]);
    });
    assert_eq!(
        f.output("c1"),
        "/dev/null character special file 1:3\n/dev/fuse character special file a:e5\n2\n"
    );
    f.assert_clean();
}

#[test]
fn custom_masked_and_readonly_paths() {
    let f = Fixture::new(
        "mnt-mask",
        &[
            "sh",
            "-c",
            "wc -c < /etc/secret; ls -A /etc/secretdir | wc -l; touch /etc/secretdir/x 2>/dev/null || echo masked-dir-ro; \
             cat /data/keep; touch /data/x 2>/dev/null || echo data-ro; touch /scratch/x && echo scratch-rw",
        ],
    );
    std::fs::write(f.rootfs().join("etc/secret"), "top secret").unwrap();
    std::fs::create_dir_all(f.rootfs().join("etc/secretdir")).unwrap();
    std::fs::write(f.rootfs().join("etc/secretdir/key"), "k").unwrap();
    let vol = f.dir.path().join("data");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("keep"), "kept\n").unwrap();
    std::fs::set_permissions(&vol, std::fs::Permissions::from_mode(0o777)).unwrap();
    f.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "source": vol, "options": ["rbind", "rw"]}));
        m.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"}));
        let masked = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        masked.extend([
            json!("/etc/secret"),
            json!("/etc/secretdir"),
            json!("/does/not/exist"),
        ]);
        c["linux"]["readonlyPaths"] = json!(["/data", "/also/missing"]);
    });
    assert_eq!(
        f.output("c1"),
        "0\n0\nmasked-dir-ro\nkept\ndata-ro\nscratch-rw\n"
    );
    f.assert_clean();
}
