//! The Linux process attributes of runtime-spec 1.3, each read back from
//! inside the container (busybox and the static probe), and the fields this
//! host cannot honour, refused before anything is created.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fixture, refused};
use serde_json::json;

#[test]
fn scheduler_policy_nice_and_flags() {
    let f = Fixture::new("attr-sched", &["probe", "sched"]);
    f.install_probe();
    f.edit(|c| {
        c["process"]["scheduler"] =
            json!({"policy": "SCHED_BATCH", "nice": 7, "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
    });
    // sched_getattr reports RESET_ON_FORK among the flags.
    assert_eq!(
        f.output("c1")
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>(),
        ["policy=3", "flags=1", "nice=7", "priority=0"]
    );
    f.edit(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_IDLE"}));
    assert!(f.output("c2").starts_with("policy=5 flags=0"));
    f.assert_clean();
}

#[test]
fn scheduler_refusals_name_the_field() {
    refused(
        "attr-sched-iso",
        |c| c["process"]["scheduler"] = json!({"policy": "SCHED_ISO"}),
        "process.scheduler.policy: SCHED_ISO is not implemented",
    );
    // A real-time policy needs CPU time granted to the cgroup
    // (cpu.rt_runtime_us), which a new v1 cgroup lacks: the kernel's
    // refusal is reported with the field.
    refused(
        "attr-sched-fifo",
        |c| c["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 10}),
        "process.scheduler: sched_setattr",
    );
}

#[test]
fn io_priority() {
    let f = Fixture::new("attr-ioprio", &["sh", "-c", "probe ioprio; ionice"]);
    f.install_probe();
    f.edit(|c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 5}));
    let out = f.output("c1");
    assert!(out.starts_with("class=3 level=5\n"), "{out}");
    assert!(out.contains("idle"), "busybox ionice agrees: {out}");
    f.edit(|c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 2}));
    assert!(f.output("c2").starts_with("class=2 level=2\n"));
    f.assert_clean();
}

#[test]
fn personality_linux32() {
    let f = Fixture::new("attr-persona", &["uname", "-m"]);
    f.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX32"}));
    assert_eq!(f.output("c1"), "i686\n");
    f.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX"}));
    assert_eq!(f.output("c2"), "x86_64\n");
    f.assert_clean();
}

#[test]
fn memory_policy() {
    let f = Fixture::new("attr-mempol", &["probe", "mempolicy"]);
    f.install_probe();
    // Node 0 is the one node of this machine.
    f.edit(|c| {
        c["linux"]["memoryPolicy"] =
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]})
    });
    // get_mempolicy reports the mode with the flag or'ed in (1 << 15).
    assert_eq!(f.output("c1"), format!("mode={} mask=1\n", 3 | (1 << 15)));
    f.edit(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"}));
    assert_eq!(f.output("c2"), "mode=2 mask=1\n");
    f.edit(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_LOCAL"}));
    assert_eq!(f.output("c3"), "mode=4 mask=0\n");
    f.assert_clean();
}

#[test]
fn memory_policy_on_a_missing_node_is_refused() {
    refused(
        "attr-mempol-bad",
        |c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "7"}),
        "linux.memoryPolicy: set_mempolicy",
    );
}

#[test]
fn sysctls_take_effect_in_the_containers_namespaces() {
    let f = Fixture::new(
        "attr-sysctl",
        &[
            "sh",
            "-c",
            "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/sys/fs/mqueue/msg_max",
        ],
    );
    let host_forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    f.edit(|c| {
        c["linux"]["sysctl"] = json!({
            "net.ipv4.ip_forward": "1",
            "kernel.shmmni": "1234",
            "fs/mqueue/msg_max": "17"
        })
    });
    assert_eq!(f.output("c1"), "1\n1234\n17\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_forward,
        "the host's value is untouched"
    );
    f.assert_clean();
}

#[test]
fn exec_cpu_affinity_leaves_the_init_on_every_cpu() {
    // runtime-spec: execCPUAffinity is "not applicable to the container's
    // init"; the init gets every CPU back (as runc does) even when the
    // runtime itself was pinned.
    let f = Fixture::new(
        "attr-affinity",
        &["sh", "-c", "grep Cpus_allowed_list /proc/self/status"],
    );
    f.edit(|c| c["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "0"}));
    let b = f.bundle.to_string_lossy().to_string();
    let out = std::process::Command::new("taskset")
        .args(["-c", "0"])
        .arg(common::berth_bin())
        .arg("--root")
        .arg(&f.root)
        .args(["run", "--bundle", &b, "c1"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::s(&out.stderr));
    let cpus = std::thread::available_parallelism().unwrap().get();
    let all = if cpus == 1 {
        "0".to_string()
    } else {
        format!("0-{}", cpus - 1)
    };
    assert_eq!(
        common::s(&out.stdout).split_whitespace().nth(1),
        Some(all.as_str())
    );
    f.assert_clean();
}

#[test]
fn lsm_labels_are_refused_without_the_lsm() {
    // This host has neither AppArmor nor SELinux.
    assert!(!std::path::Path::new("/sys/fs/selinux/enforce").exists());
    refused(
        "attr-apparmor",
        |c| c["process"]["apparmorProfile"] = json!("docker-default"),
        "process.apparmorProfile: AppArmor is not enabled on this host",
    );
    refused(
        "attr-selinux",
        |c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0"),
        "process.selinuxLabel: SELinux is not enabled on this host",
    );
    refused(
        "attr-mountlabel",
        |c| c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0"),
        "linux.mountLabel: SELinux is not enabled on this host",
    );
}

#[test]
fn intel_rdt_is_refused() {
    refused(
        "attr-rdt",
        |c| {
            c["linux"]["intelRdt"] = json!({"closID": "guaranteed_group", "schemata": ["L3:0=7f0"]})
        },
        "linux.intelRdt: no resctrl filesystem is mounted on this host",
    );
}

#[test]
fn unknown_capability_is_an_error() {
    refused(
        "attr-cap",
        |c| c["process"]["capabilities"]["effective"] = json!(["CAP_KILL", "CAP_TELEPORT"]),
        r#"config.json: process.capabilities.effective[1]: unknown capability \"CAP_TELEPORT\""#,
    );
}

#[test]
fn umask_domainname_and_oom_score() {
    let f = Fixture::new(
        "attr-misc",
        &[
            "sh",
            "-c",
            "umask; cat /proc/sys/kernel/domainname; cat /proc/self/oom_score_adj; touch /dev/shm/f; stat -c %a /dev/shm/f",
        ],
    );
    f.edit(|c| {
        c["process"]["user"]["umask"] = json!(0o077);
        c["domainname"] = json!("example.org");
        c["process"]["oomScoreAdj"] = json!(500);
    });
    assert_eq!(f.output("c1"), "0077\nexample.org\n500\n600\n");
    f.assert_clean();
}
