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
    common::assert_runs_the_sealed_stub(pid as i32);
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

/// CVE-2024-21626: `cwd` pointing at a host directory through a descriptor
/// (`/proc/self/fd/N`). berth checks the final working directory is inside
/// the container's root. Here the host directory is passed explicitly as fd
/// 3 (`--preserve-fds 1`), the worst case of a leaked descriptor.
#[test]
fn cwd_through_a_host_descriptor_is_refused() {
    let f = Fixture::new("sec-cwd", &["pwd"]);
    f.edit(|c| c["process"]["cwd"] = serde_json::json!("/proc/self/fd/3"));
    let hostdir = f.dir.path().join("hostdir");
    std::fs::create_dir(&hostdir).unwrap();
    let out = f.dir.path().join("out");
    let err = f.dir.path().join("err");
    let script = format!(
        "exec {} --root {} run --preserve-fds 1 --bundle {} c1 3<{} >{} 2>{}",
        common::berth_bin().display(),
        f.root.display(),
        f.bundle.display(),
        hostdir.display(),
        out.display(),
        err.display()
    );
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .status()
        .unwrap();
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(!st.success(), "the container started with cwd {stdout:?}");
    assert!(
        stderr.contains("outside of the container's root"),
        "{stderr}"
    );
    f.assert_clean();
}

/// CVE-2024-45310 class: creating a mount point must not follow a symlink
/// of the image out of the root.
#[test]
fn mkdir_of_mount_points_stays_in_the_root() {
    let f = Fixture::new(
        "sec-mkdirall",
        &["sh", "-c", "grep -c ' /vol' /proc/self/mountinfo || true"],
    );
    let host = f.dir.path().join("host-target");
    std::fs::create_dir(&host).unwrap();
    std::os::unix::fs::symlink(&host, f.rootfs().join("vol")).unwrap();
    f.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            serde_json::json!({"destination": "/vol/sub", "type": "tmpfs", "source": "tmpfs"}),
        );
    });
    f.output("c1");
    assert!(
        !host.join("sub").exists(),
        "a directory was created on the host through the image's symlink"
    );
    let inside = f.rootfs().join(host.strip_prefix("/").unwrap()).join("sub");
    assert!(
        inside.is_dir(),
        "the mount point belongs inside the root: {}",
        inside.display()
    );
    f.assert_clean();
}

/// CVE-2021-30465 class: a mount destination that is (or is swapped for)
/// a symlink resolves inside the root, so every mount lands inside it.
#[test]
fn swapped_mount_destinations_stay_in_the_root() {
    let f = Fixture::new(
        "sec-swap",
        &[
            "sh",
            "-c",
            "grep tmpfs /proc/self/mountinfo | grep -c marker-mnt",
        ],
    );
    let host = f.dir.path().join("host-target");
    std::fs::create_dir_all(&host).unwrap();
    let mnt = f.rootfs().join("mnt");
    std::fs::create_dir_all(mnt.join("x")).unwrap();
    f.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            serde_json::json!({"destination": "/mnt/x", "type": "tmpfs", "source": "marker-mnt"}),
        );
    });
    // Flip /mnt between a directory and a symlink to a host path while
    // containers are created.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let stop = stop.clone();
        let (mnt, host) = (mnt.clone(), host.clone());
        std::thread::spawn(move || {
            let dir = mnt.with_file_name("mnt-dir");
            let link = mnt.with_file_name("mnt-link");
            let _ = std::fs::rename(&mnt, &dir);
            let _ = std::os::unix::fs::symlink(&host, &link);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::rename(&link, &mnt);
                let _ = std::fs::rename(&mnt, &link);
                let _ = std::fs::rename(&dir, &mnt);
                let _ = std::fs::rename(&mnt, &dir);
            }
            let _ = std::fs::rename(&dir, &mnt);
        })
    };
    for i in 0..20 {
        let (code, out, err) = f.run(&format!("c{i}"));
        // Either the mount landed inside the root (seen from inside), or
        // the run failed cleanly because the path vanished mid-flip.
        if code == 0 {
            assert_eq!(
                out.trim(),
                "1",
                "run {i}: the tmpfs is not where the container sees it: {err}"
            );
        }
        f.assert_clean();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flipper.join().unwrap();
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!host_mounts.contains(&host.to_string_lossy().to_string()));
    assert_eq!(
        std::fs::read_dir(&host).unwrap().count(),
        0,
        "nothing was created in the host directory"
    );
}

/// CVE-2021-30465, the state a swap aims for, made deterministic: the
/// destination's parent is an image symlink to an absolute host path where
/// the destination exists. The mount must land inside the root (where the
/// container sees it), never on the host directory.
#[test]
fn symlinked_mount_destination_resolves_in_the_root() {
    let f = Fixture::new(
        "sec-symdest",
        &[
            "sh",
            "-c",
            "grep tmpfs /proc/self/mountinfo | grep -c marker-sym || true",
        ],
    );
    let host = f.dir.path().join("host-target");
    std::fs::create_dir_all(host.join("x")).unwrap();
    std::os::unix::fs::symlink(&host, f.rootfs().join("mnt")).unwrap();
    f.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            serde_json::json!({"destination": "/mnt/x", "type": "tmpfs", "source": "marker-sym"}),
        );
    });
    assert_eq!(
        f.output("c1"),
        "1\n",
        "the mount did not land where the container sees /mnt/x"
    );
    let inside = f.rootfs().join(host.strip_prefix("/").unwrap()).join("x");
    assert!(inside.is_dir(), "{}", inside.display());
    f.assert_clean();
}

/// Removes the /dev mounts from a config, so the image's own /dev is used.
fn image_dev(c: &mut serde_json::Value) {
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
}

/// CVE-2025-31133: the `/dev/null` used to mask paths must be the null
/// device. An image's symlink there is replaced by the real device (see
/// `dev_entries_that_are_symlinks_are_replaced`), so the masking still uses
/// the null device; a fake that is not a symlink (here the zero device
/// under the name `null`, which berth leaves as runc does) is refused.
#[test]
fn masking_refuses_a_fake_dev_null() {
    let f = Fixture::new(
        "sec-devnull",
        &[
            "sh",
            "-c",
            "cat /proc/sys/kernel/core_pattern >/dev/null && ls -l /dev/null",
        ],
    );
    f.edit(image_dev);
    let null = f.rootfs().join("dev/null");
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", &null).unwrap();
    let out = f.output("c1");
    assert!(
        out.starts_with("crw-rw-rw-") && out.contains("1,   3"),
        "{out}"
    );
    std::fs::remove_file(&null).unwrap();
    nix::sys::stat::mknod(
        &null,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 5),
    )
    .unwrap();
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&["create", "--bundle", &b, "c2"]);
    assert!(err.contains("not the null device"), "{err}");
    f.assert_clean();
}

/// CVE-2025-52565: `/dev/console` swapped for a symlink must not redirect
/// the console bind mount.
#[test]
fn console_refuses_a_symlinked_dev_console() {
    let f = Fixture::new("sec-console", &["true"]);
    f.edit(|c| {
        image_dev(c);
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666"]}));
        c["process"]["terminal"] = serde_json::json!(true);
    });
    std::os::unix::fs::symlink(
        "/proc/sys/kernel/core_pattern",
        f.rootfs().join("dev/console"),
    )
    .unwrap();
    let sock = f.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let t = std::thread::spawn(move || {
        let _ = listener.accept();
    });
    let b = f.bundle.to_string_lossy().to_string();
    let err = f.fails(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        &b,
        "c1",
    ]);
    assert!(err.contains("/dev/console is a symlink"), "{err}");
    let _ = std::os::unix::net::UnixStream::connect(&sock);
    t.join().unwrap();
    f.assert_clean();
}

/// CVE-2019-16884 / CVE-2019-19921 / CVE-2025-52881 class: sysctls and
/// oom_score_adj are written through a procfs the container cannot fake.
/// Here the container's /proc is a fake (a tmpfs instead of procfs) and
/// /proc/sys another tmpfs; the values must still reach the kernel.
#[test]
fn proc_writes_cannot_be_redirected() {
    let f = Fixture::new("sec-procfs", &["sleep", "100"]);
    f.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["destination"] != "/proc");
        mounts.insert(
            0,
            serde_json::json!({"destination": "/proc", "type": "tmpfs", "source": "fakeproc"}),
        );
        mounts.push(
            serde_json::json!({"destination": "/proc/sys", "type": "tmpfs", "source": "fake"}),
        );
        c["linux"]["sysctl"] = serde_json::json!({"kernel.shmmni": "1234"});
        c["linux"]["readonlyPaths"] = serde_json::json!([]);
        c["process"]["oomScoreAdj"] = serde_json::json!(321);
    });
    f.create("c1");
    let pid = f.state("c1")["pid"].as_i64().unwrap();
    let out = std::process::Command::new("nsenter")
        .arg(format!("--ipc=/proc/{pid}/ns/ipc"))
        .args(["cat", "/proc/sys/kernel/shmmni"])
        .output()
        .unwrap();
    assert_eq!(
        common::s(&out.stdout).trim(),
        "1234",
        "the sysctl reached the kernel"
    );
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
            .unwrap()
            .trim(),
        "321"
    );
    f.ok(&["delete", "c1"]);
    f.assert_clean();
}

/// CVE-2016-9962 (and CVE-2019-5736 through `/proc/<pid>/exe` and
/// `map_files`): the set-up process (the init waiting at the gate, a copy
/// of the host's berth) is not dumpable, so another process in the
/// container's PID namespace cannot read its memory or environment, nor
/// reach its executable or mapped files.
#[test]
fn waiting_init_cannot_be_inspected_from_the_container() {
    let a = Fixture::new("sec-dump-a", &["true"]);
    a.create("a1");
    let pid = a.state("a1")["pid"].as_i64().unwrap();
    let b = Fixture::new(
        "sec-dump-b",
        &[
            "sh",
            "-c",
            "for f in environ mem; do head -c1 /proc/1/$f >/dev/null 2>&1 && echo $f-readable || echo $f-denied; done; readlink /proc/1/exe >/dev/null 2>&1 && echo exe-readable || echo exe-denied; [ \"$(ls /proc/1/map_files 2>/dev/null | wc -l)\" -eq 0 ] && echo map_files-denied || echo map_files-listed; [ \"$(ls /proc/self/map_files | wc -l)\" -gt 0 ] && echo own-map_files-listed",
        ],
    );
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
        ns.push(serde_json::json!({"type": "pid", "path": format!("/proc/{pid}/ns/pid")}));
    });
    let out = b.output("b1");
    assert_eq!(
        out,
        "environ-denied\nmem-denied\nexe-denied\nmap_files-denied\nown-map_files-listed\n"
    );
    a.ok(&["delete", "a1"]);
    a.assert_clean();
    b.assert_clean();
}

/// A process that tries to write the cgroup tree it sees: join a
/// `cgroup.procs` file of every hierarchy, create a directory, write a
/// limit. Prints one line per success; nothing when every write fails.
const WRITE_CGROUPS: &str = "for d in /sys/fs/cgroup /sys/fs/cgroup/*; do \
    [ -d \"$d\" ] || continue; \
    echo $$ > \"$d/cgroup.procs\" 2>/dev/null && echo \"joined $d\"; \
    mkdir \"$d/escape\" 2>/dev/null && echo \"created $d/escape\" && rmdir \"$d/escape\"; \
    echo 1 > \"$d/notify_on_release\" 2>/dev/null && echo \"wrote $d\"; \
    done; echo done";

/// CVE-2023-25809 class, as far as root can reproduce it: a container in
/// a user namespace without a cgroup namespace, whose cgroup is delegated
/// to its root user (owned by the host UID it maps to, as a rootless
/// user's cgroup is), sees its cgroup hierarchies; none of them may be
/// writable from inside, although the files' owner would allow it.
#[test]
fn user_namespace_container_cannot_write_the_host_cgroup_tree() {
    let f = Fixture::new("sec-cgroupfs", &["sh", "-c", WRITE_CGROUPS]);
    // Delegate the container's cgroup (every hierarchy) to host UID 300000.
    for dir in f
        .cgroup_dirs()
        .iter()
        .filter(|d| !d.starts_with("/sys/fs/cgroup/berth-test-"))
    {
        if dir
            .parent()
            .is_some_and(|p| p.parent().is_some_and(|r| r.join("cgroup.procs").exists()))
        {
            std::fs::create_dir_all(dir).unwrap();
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .collect();
            entries.push(dir.clone());
            for e in entries {
                std::os::unix::fs::chown(&e, Some(300000), Some(300000)).unwrap();
            }
        }
    }
    f.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "cgroup");
        ns.push(serde_json::json!({"type": "user"}));
        let map = serde_json::json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
    assert_eq!(
        f.output("c1"),
        "done\n",
        "the host's cgroup tree was written"
    );
    f.assert_clean();
}

/// CVE-2023-25809: a rootless container (berth run by an unprivileged
/// user, `berth spec --rootless`) without a cgroup namespace must not be
/// able to write the user's delegated cgroup tree through /sys/fs/cgroup.
#[test]
fn rootless_container_cannot_write_the_host_cgroup_tree() {
    let f = Fixture::new("sec-rootless", &["true"]);
    let mut c = berth::spec::template::default_config(true, 1000, 1000);
    c["process"]["terminal"] = serde_json::json!(false);
    c["process"]["args"] = serde_json::json!(["sh", "-c", WRITE_CGROUPS]);
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "cgroup");
    f.write_config(&c);
    for p in [f.dir.path(), &f.bundle, &f.rootfs()] {
        std::os::unix::fs::chown(p, Some(1000), Some(1000)).unwrap();
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=1000", "--regid=1000", "--clear-groups", "--"])
        .arg(common::berth_bin())
        .args(["--rootless=true", "--root"])
        .arg(&f.root)
        .args(["run", "--bundle"])
        .arg(&f.bundle)
        .arg("c1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::s(&out.stderr));
    assert_eq!(common::s(&out.stdout), "done\n");
    f.assert_clean();
}

/// What a container tries against the cgroup files of its own limits: as
/// the cgroup mount shows them (`/sys/fs/cgroup`) and under the full host
/// path (`$CG`, through the `/sys` rbind): write `pids.max`, `memory.max`,
/// `cgroup.subtree_control`, create a child, remount the mount writable.
/// It prints the owner of its `pids.max` (the precondition: the files are
/// its root's) and the value left there.
const WRITE_OWN_LIMITS: &str = "grep -q \"^0::$CG\\$\" /proc/self/cgroup && echo in-delegated-cgroup; \
    stat -c owner=%u /sys/fs/cgroup/pids.max 2>/dev/null; \
    for d in /sys/fs/cgroup /sys/fs/cgroup$CG; do \
    [ -e \"$d/pids.max\" ] || continue; echo checked $d; \
    echo max > \"$d/pids.max\" 2>/dev/null && echo \"wrote $d/pids.max\"; \
    echo max > \"$d/memory.max\" 2>/dev/null && echo \"wrote $d/memory.max\"; \
    echo +pids > \"$d/cgroup.subtree_control\" 2>/dev/null && echo \"wrote $d/cgroup.subtree_control\"; \
    mkdir \"$d/escape\" 2>/dev/null && echo \"created $d/escape\" && rmdir \"$d/escape\"; \
    done; \
    mount -o remount,bind,rw /sys/fs/cgroup 2>/dev/null && echo remounted; \
    stat -c owner-full=%u /sys/fs/cgroup$CG/pids.max 2>/dev/null; \
    echo pids.max=$(cat /sys/fs/cgroup/pids.max 2>/dev/null); \
    echo pids.max-full=$(cat /sys/fs/cgroup$CG/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max); \
    echo done";

/// CVE-2023-25809, the strong form (pure cgroup v2, run in the VM: this
/// host's rootless containers get no cgroup). The test user owns a
/// delegated subtree, as systemd's `Delegate=yes` gives a user; rootless
/// berth (cgroupfs driver) creates the container's cgroup inside it and
/// writes its limits, so the limit files belong to the user, which is the
/// container's root. Without a cgroup namespace, nothing of them may be
/// writable from inside: neither through the cgroup mount (a bind of the
/// container's cgroup, as a fresh cgroup2 mount is refused there) nor,
/// without that mount, through the host's tree below the `/sys` rbind
/// (runc's second condition: a read-only rbind whose submounts stay
/// writable).
#[test]
#[ignore = "needs a pure cgroup v2 host: the cgroup v2 VM runs it (.ci/test)"]
fn rootless_container_cannot_write_its_delegated_cgroup_limits() {
    assert!(
        std::path::Path::new("/sys/fs/cgroup/cgroup.subtree_control").exists(),
        "needs a pure cgroup v2 host"
    );
    let user = common::rootless::user();
    let f = Fixture::new("sec-rl-deleg", &["true"]);
    let deleg = f.cgroup_dirs()[0].clone();
    let prefix = deleg.parent().unwrap().to_path_buf();
    // Root sets up the delegation: controllers down to the subtree, the
    // subtree and its interface files chowned to the user, and a leaf the
    // user's berth starts from (migrating needs write access to the
    // common ancestor's cgroup.procs).
    let launch = deleg.join("launch");
    std::fs::create_dir_all(&launch).unwrap();
    for d in [&prefix, &deleg] {
        std::fs::write(d.join("cgroup.subtree_control"), "+memory +pids").unwrap();
    }
    for p in [
        "",
        "cgroup.procs",
        "cgroup.subtree_control",
        "cgroup.threads",
    ] {
        let p = deleg.join(p);
        std::os::unix::fs::chown(&p, Some(user.uid), Some(user.gid)).unwrap();
    }
    common::rootless::chown_tree(f.dir.path(), user.uid, user.gid);
    // Runs container `id` (cgroup `<delegated>/<id>`) as the user; returns
    // what it printed and its cgroup path.
    let run = |id: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let cg = format!("{}/{id}", common::cgroup_path("sec-rl-deleg"));
        let mut c = berth::spec::template::default_config(true, user.uid, user.gid);
        c["process"]["terminal"] = serde_json::json!(false);
        c["process"]["args"] = serde_json::json!(["sh", "-c", WRITE_OWN_LIMITS]);
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(format!("CG={cg}")));
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup");
        c["linux"]["cgroupsPath"] = serde_json::json!(cg);
        c["linux"]["resources"] =
            serde_json::json!({"pids": {"limit": 100}, "memory": {"limit": 67108864}});
        edit(&mut c);
        f.write_config(&c);
        let config = f.bundle.join("config.json");
        std::os::unix::fs::chown(&config, Some(user.uid), Some(user.gid)).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("echo $$ > \"$0\" && exec \"$@\"")
            .arg(launch.join("cgroup.procs"))
            .arg("setpriv")
            .arg(format!("--reuid={}", user.uid))
            .arg(format!("--regid={}", user.gid))
            .args(["--init-groups", "--"])
            .arg(common::berth_bin())
            .arg("--root")
            .arg(&f.root)
            .args(["run", "--bundle"])
            .arg(&f.bundle)
            .arg(id)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (out, cg)
    };
    let bind = run("c1", &|_| {});
    let through_sys = run("c2", &|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/sys/fs/cgroup");
    });
    let _ = std::fs::remove_dir(&launch);
    let _ = std::fs::remove_dir(&deleg);
    for ((out, cg), own_mount) in [(bind, true), (through_sys, false)] {
        let text = common::s(&out.stdout);
        assert!(out.status.success(), "{}", common::s(&out.stderr));
        // The preconditions: the container is in its cgroup under the
        // delegated subtree, with its limit, in files its root owns.
        assert!(text.contains("in-delegated-cgroup"), "{text}");
        if own_mount {
            assert!(text.contains("owner=0\n"), "{text}");
            assert!(text.contains("checked /sys/fs/cgroup\n"), "{text}");
            assert!(text.contains("pids.max=100\n"), "{text}");
        } else {
            assert!(
                text.contains(&format!("checked /sys/fs/cgroup{cg}\n")),
                "{text}"
            );
            assert!(text.contains("owner-full=0\n"), "{text}");
        }
        assert!(
            !text.contains("wrote") && !text.contains("created") && !text.contains("remounted"),
            "the container changed its own cgroup: {text}"
        );
        assert!(text.contains("pids.max-full=100\n"), "{text}");
        assert!(text.ends_with("done\n"), "{text}");
    }
    f.assert_clean();
}

/// CVE-2025-52881 class through a joined mount namespace: container A has
/// a fake /proc (a tmpfs) holding a file where a sysctl would be.
/// Container B joins A's mount namespace and sets that sysctl: the value
/// must go to the kernel (B's IPC namespace) through the host's procfs,
/// never into A's file.
#[test]
fn sysctl_writes_ignore_a_joined_mount_namespaces_proc() {
    let a = Fixture::new(
        "sec-procjoin-a",
        &[
            "sh",
            "-c",
            "mkdir -p /proc/sys/kernel && echo fake > /proc/sys/kernel/shmmni && exec sleep 1000",
        ],
    );
    a.edit(|c| {
        common::fake_proc(c);
    });
    let ab = a.bundle.to_string_lossy().to_string();
    a.ok(&["run", "-d", "--bundle", &ab, "a1"]);
    let apid = a.state("a1")["pid"].as_i64().unwrap();
    let fake = format!("/proc/{apid}/root/proc/sys/kernel/shmmni");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&fake).unwrap_or_default() != "fake\n" {
        assert!(std::time::Instant::now() < deadline, "A never wrote {fake}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let b = Fixture::new("sec-procjoin-b", &["sleep", "1000"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "mount");
        ns.push(serde_json::json!({"type": "mount", "path": format!("/proc/{apid}/ns/mnt")}));
        c["linux"]["sysctl"] = serde_json::json!({"kernel.shmmni": "1234"});
    });
    let bb = b.bundle.to_string_lossy().to_string();
    // B may fail later (its root is not in A's mount namespace); what
    // matters is where the sysctl went.
    let _ = b.berth(&["create", "--bundle", &bb, "b1"]);
    assert_eq!(
        std::fs::read_to_string(&fake).unwrap(),
        "fake\n",
        "the sysctl write went into a file of the container's fake /proc"
    );
    let _ = b.berth(&["delete", "--force", "b1"]);
    b.assert_clean();
    a.ok(&["delete", "--force", "a1"]);
    a.assert_clean();
}

/// CVE-2026-41579 class: the image's `/dev` entries are symlinks (here to
/// a global procfs file, to a host path and up the tree). berth must
/// replace them with its device nodes (or bind mounts of the host's in a
/// user namespace), never follow them: inside, each default device is the
/// real character device, and the symlinks' targets are untouched.
fn dev_symlinks_are_replaced(name: &str, userns: bool) {
    let f = Fixture::new(
        name,
        &[
            "sh",
            "-c",
            "for d in null zero full random urandom tty; do [ -c /dev/$d ] && [ ! -L /dev/$d ] && echo $d-device || echo $d-NOT; done; \
             grep -c ' /proc/sys/kernel/core_pattern ' /proc/self/mountinfo || true",
        ],
    );
    f.edit(|c| {
        image_dev(c);
        if userns {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"type": "user"}));
            let map = serde_json::json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
            c["linux"]["uidMappings"] = map.clone();
            c["linux"]["gidMappings"] = map;
        }
    });
    let host_file = f.dir.path().join("host-file");
    std::fs::write(&host_file, "host").unwrap();
    let dev = f.rootfs().join("dev");
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", dev.join("zero")).unwrap();
    std::os::unix::fs::symlink(&host_file, dev.join("full")).unwrap();
    std::os::unix::fs::symlink("../etc/passwd", dev.join("random")).unwrap();
    if userns {
        // The image's /dev belongs to the container's root, as an image
        // unpacked for a user namespace does.
        std::os::unix::fs::chown(&dev, Some(300000), Some(300000)).unwrap();
    }
    let passwd = std::fs::read(f.rootfs().join("etc/passwd")).unwrap();
    assert_eq!(
        f.output("c1"),
        "null-device\nzero-device\nfull-device\nrandom-device\nurandom-device\ntty-device\n0\n",
    );
    assert_eq!(std::fs::read_to_string(&host_file).unwrap(), "host");
    assert_eq!(
        std::fs::read(f.rootfs().join("etc/passwd")).unwrap(),
        passwd
    );
    assert!(
        !f.rootfs()
            .join(host_file.strip_prefix("/").unwrap())
            .exists()
    );
    f.assert_clean();
}

#[test]
fn dev_entries_that_are_symlinks_are_replaced() {
    dev_symlinks_are_replaced("sec-devsym", false);
}

#[test]
fn dev_entries_that_are_symlinks_are_replaced_in_a_user_namespace() {
    dev_symlinks_are_replaced("sec-devsym-userns", true);
}

/// Denial of service through the image: `/etc/passwd` (read for `HOME`)
/// is a symlink to `/dev/zero` — an endless read, an unbounded allocation —
/// or a FIFO nobody writes — an open that never returns. Neither `run` nor
/// `exec` may hang: the file counts as absent, and HOME is `/`.
#[test]
fn endless_or_blocking_etc_passwd_does_not_hang_berth() {
    for (name, fifo) in [("sec-passwd-zero", false), ("sec-passwd-fifo", true)] {
        let f = Fixture::new(name, &["sh", "-c", "echo $HOME"]);
        let passwd = f.rootfs().join("etc/passwd");
        std::fs::remove_file(&passwd).unwrap();
        if fifo {
            nix::unistd::mkfifo(&passwd, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        } else {
            std::os::unix::fs::symlink("/dev/zero", &passwd).unwrap();
        }
        assert_eq!(f.output("c1"), "/\n", "{name}: run");
        f.edit(|c| c["process"]["args"] = serde_json::json!(["sleep", "1000"]));
        let b = f.bundle.to_string_lossy().to_string();
        f.ok(&["run", "-d", "--bundle", &b, "c2"]);
        assert_eq!(
            f.ok(&["exec", "c2", "sh", "-c", "echo $HOME"]),
            "/\n",
            "{name}: exec"
        );
        f.ok(&["delete", "--force", "c2"]);
        f.assert_clean();
    }
}
