//! `LinuxResources` → cgroup v1 files, in runc's order of controllers:
//! cpuset, memory, cpu, pids, blkio, hugetlb, net_cls, net_prio, rdma.
//! Device rules are written by the manager (they depend on the current
//! `devices.list`, see `devices.rs`).

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxNetwork, LinuxResources};

use super::v2::rdma_writes;
use super::{Ctx, OnError, Plan, Probe, Result, Write, check_memory_common, check_usage, list};
use super::{any_device, convert, cpuset, hugetlb, throttles, unsupported};

/// Writes for the v1 hierarchies.
pub fn v1_writes(r: &LinuxResources, probe: &dyn Probe, ctx: Ctx) -> Result<Vec<Write>> {
    check_memory_common(r, ctx)?;
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(unsupported(
            "unified",
            "cannot be used on cgroup v1 (this host's controllers are v1)",
        ));
    }
    let mut p = Plan::new(probe);
    if let Some(c) = r.cpu() {
        cpuset(&mut p, c, false)?;
    }
    if let Some(m) = r.memory() {
        memory(&mut p, r, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(&mut p, c)?;
    }
    if let Some(pids) = r.pids() {
        p.need("pids", "pids.limit", false)?;
        p.push(
            "pids",
            "pids.limit",
            "pids.max",
            convert::pids_max(pids.limit()),
        );
    }
    if let Some(b) = r.block_io() {
        blkio(&mut p, b)?;
    }
    hugetlb(&mut p, list(r.hugepage_limits()), false)?;
    if let Some(n) = r.network() {
        network(&mut p, n)?;
    }
    if let Some(rdma) = r.rdma() {
        rdma_writes(&mut p, rdma, false)?;
    }
    Ok(p.out)
}

/// net_cls class ID and net_prio interface priorities.
fn network(p: &mut Plan<'_>, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id() {
        p.need("net_cls", "network.classID", false)?;
        p.push("net_cls", "network.classID", "net_cls.classid", id);
    }
    for (i, prio) in list(n.priorities()).iter().enumerate() {
        let field = format!("network.priorities[{i}]");
        p.need("net_prio", &field, false)?;
        let line = format!("{} {}", prio.name(), prio.priority());
        p.push("net_prio", &field, "net_prio.ifpriomap", line);
    }
    Ok(())
}

fn memory(p: &mut Plan<'_>, r: &LinuxResources, m: &LinuxMemory) -> Result<()> {
    let (limit, mut swap) = (m.limit().unwrap_or(0), m.swap().unwrap_or(0));
    let res = m.reservation().unwrap_or(0);
    let swappiness = m.swappiness().filter(|s| *s != u64::MAX); // -1: unset
    let oom = m.disable_oom_killer() == Some(true);
    if limit == 0 && swap == 0 && res == 0 && swappiness.is_none() && !oom {
        return Ok(());
    }
    p.need("memory", "memory", false)?;
    check_usage(
        r,
        p.probe
            .read("memory", "memory.usage_in_bytes")
            .and_then(|v| v.parse().ok()),
    )?;
    let has_memsw = p
        .probe
        .read("memory", "memory.memsw.limit_in_bytes")
        .is_some();
    // Unlimited memory with no swap value: unlimited memory+swap too.
    if limit == -1 && swap == 0 && has_memsw {
        swap = -1;
    }
    if swap != 0 && !has_memsw {
        return Err(unsupported(
            "memory.swap",
            "this kernel does not account swap (no memory.memsw.limit_in_bytes; boot with swapaccount=1)",
        ));
    }
    let mem = |p: &mut Plan<'_>| {
        if limit != 0 {
            p.push("memory", "memory.limit", "memory.limit_in_bytes", limit);
        }
    };
    let sw = |p: &mut Plan<'_>| {
        if swap != 0 {
            p.push("memory", "memory.swap", "memory.memsw.limit_in_bytes", swap);
        }
    };
    // memory.limit may never exceed memsw.limit: raise memsw first when it
    // grows past the current limit.
    let current = p
        .probe
        .read("memory", "memory.limit_in_bytes")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    if limit != 0 && swap != 0 && (swap == -1 || current < swap as u64) {
        sw(p);
        mem(p);
    } else {
        mem(p);
        sw(p);
    }
    if res != 0 {
        p.push(
            "memory",
            "memory.reservation",
            "memory.soft_limit_in_bytes",
            res,
        );
    }
    if oom {
        p.push("memory", "memory.disableOOMKiller", "memory.oom_control", 1);
    }
    if let Some(s) = swappiness {
        if s > 100 {
            return Err(unsupported(
                "memory.swappiness",
                &format!("invalid memory swappiness value: {s} (valid range is 0-100)"),
            ));
        }
        p.push("memory", "memory.swappiness", "memory.swappiness", s);
    }
    Ok(())
}

fn cpu(p: &mut Plan<'_>, c: &LinuxCpu) -> Result<()> {
    let (shares, quota, period) = (
        c.shares().unwrap_or(0),
        c.quota().unwrap_or(0),
        c.period().unwrap_or(0),
    );
    let rt = c.realtime_period().is_some() || c.realtime_runtime().is_some();
    if shares == 0 && quota == 0 && period == 0 && c.burst().is_none() && c.idle().is_none() && !rt
    {
        return Ok(());
    }
    p.need("cpu", "cpu", false)?;
    if shares != 0 {
        p.push("cpu", "cpu.shares", "cpu.shares", shares);
        if let Some(w) = p.out.last_mut() {
            w.verify = true;
        }
    }
    // A period (or burst) the current quota does not fit is refused with
    // EINVAL until the new quota is written: retry those after it.
    let later = if quota != 0 {
        OnError::RetryLater
    } else {
        OnError::Fail
    };
    if period != 0 {
        p.push_with("cpu", "cpu.period", "cpu.cfs_period_us", period, later);
    }
    if let Some(b) = c.burst() {
        p.push_with("cpu", "cpu.burst", "cpu.cfs_burst_us", b, later);
    }
    if quota != 0 {
        p.push("cpu", "cpu.quota", "cpu.cfs_quota_us", quota);
    }
    if let Some(idle) = c.idle() {
        p.push("cpu", "cpu.idle", "cpu.idle", idle);
    }
    if let Some(v) = c.realtime_period() {
        p.push("cpu", "cpu.realtimePeriod", "cpu.rt_period_us", v);
    }
    if let Some(v) = c.realtime_runtime() {
        p.push("cpu", "cpu.realtimeRuntime", "cpu.rt_runtime_us", v);
    }
    Ok(())
}

fn blkio(p: &mut Plan<'_>, b: &LinuxBlockIo) -> Result<()> {
    let weight = b.weight().unwrap_or(0);
    let leaf = b.leaf_weight().unwrap_or(0);
    let any_dev = any_device(b);
    if weight == 0 && leaf == 0 && !any_dev {
        return Ok(());
    }
    p.need("blkio", "blockIO", false)?;
    // CFQ's blkio.weight, or BFQ's blkio.bfq.weight.
    let (wfile, wdfile) = if p.probe.read("blkio", "blkio.weight").is_some() {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    let has_weight = p.probe.read("blkio", wfile).is_some();
    let no_weight = |field: &str| {
        unsupported(
            field,
            "this kernel has no blkio.weight or blkio.bfq.weight (no CFQ or BFQ I/O scheduler)",
        )
    };
    if weight != 0 {
        if !has_weight {
            return Err(no_weight("blockIO.weight"));
        }
        p.push("blkio", "blockIO.weight", wfile, weight);
    }
    if leaf != 0 {
        p.push("blkio", "blockIO.leafWeight", "blkio.leaf_weight", leaf);
    }
    for (i, wd) in list(b.weight_device()).iter().enumerate() {
        let field = format!("blockIO.weightDevice[{i}]");
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            if !has_weight {
                return Err(no_weight(&field));
            }
            p.push(
                "blkio",
                &field,
                wdfile,
                format!("{}:{} {w}", wd.major(), wd.minor()),
            );
        }
        if let Some(l) = wd.leaf_weight().filter(|w| *w != 0) {
            p.push(
                "blkio",
                &field,
                "blkio.leaf_weight_device",
                format!("{}:{} {l}", wd.major(), wd.minor()),
            );
        }
    }
    throttles(p, b, false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testprobe::FakeProbe;
    use super::*;

    const HOST: &[&str] = &[
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
    ];

    fn writes(json: &str, probe: &FakeProbe) -> Result<Vec<(String, String, String)>> {
        let r: LinuxResources = serde_json::from_str(json).expect("json");
        Ok(v1_writes(&r, probe, Ctx { update: false })?
            .into_iter()
            .map(|w| (w.controller.to_string(), w.file, w.value))
            .collect())
    }

    fn t(c: &str, f: &str, v: &str) -> (String, String, String) {
        (c.into(), f.into(), v.into())
    }

    fn host(files: &[(&str, &str, &str)]) -> FakeProbe {
        let mut all = vec![
            (
                "memory",
                "memory.memsw.limit_in_bytes",
                "9223372036854771712",
            ),
            ("memory", "memory.limit_in_bytes", "9223372036854771712"),
        ];
        all.extend_from_slice(files);
        FakeProbe::with(HOST, &all)
    }

    #[test]
    fn every_field_with_v1_names() {
        let w = writes(
            r#"{"cpu":{"cpus":"0","mems":"0","shares":512,"period":50000,"quota":20000,"burst":1000,"idle":0,"realtimePeriod":500000},
                "memory":{"limit":67108864,"swap":134217728,"reservation":33554432,"swappiness":10,"disableOOMKiller":false},
                "pids":{"limit":20},
                "blockIO":{"throttleReadBpsDevice":[{"major":7,"minor":0,"rate":1048576}]}}"#,
            &host(&[]),
        )
        .unwrap();
        assert_eq!(
            w,
            vec![
                t("cpuset", "cpuset.cpus", "0"),
                t("cpuset", "cpuset.mems", "0"),
                t("memory", "memory.limit_in_bytes", "67108864"),
                t("memory", "memory.memsw.limit_in_bytes", "134217728"),
                t("memory", "memory.soft_limit_in_bytes", "33554432"),
                t("memory", "memory.swappiness", "10"),
                t("cpu", "cpu.shares", "512"),
                t("cpu", "cpu.cfs_period_us", "50000"),
                t("cpu", "cpu.cfs_burst_us", "1000"),
                t("cpu", "cpu.cfs_quota_us", "20000"),
                t("cpu", "cpu.idle", "0"),
                t("cpu", "cpu.rt_period_us", "500000"),
                t("pids", "pids.max", "20"),
                t("blkio", "blkio.throttle.read_bps_device", "7:0 1048576"),
            ]
        );
    }

    #[test]
    fn memory_and_memsw_order() {
        // Raising both above the current limit: memsw first.
        let probe = host(&[("memory", "memory.limit_in_bytes", "1000")]);
        let mut p = probe;
        p.files.insert(
            ("memory".into(), "memory.limit_in_bytes".into()),
            "1000".into(),
        );
        let w = writes(r#"{"memory":{"limit":2000,"swap":4000}}"#, &p).unwrap();
        assert_eq!(w[0].1, "memory.memsw.limit_in_bytes");
        assert_eq!(w[1].1, "memory.limit_in_bytes");
        // Lowering: memory first.
        p.files.insert(
            ("memory".into(), "memory.limit_in_bytes".into()),
            "8000".into(),
        );
        let w = writes(r#"{"memory":{"limit":2000,"swap":4000}}"#, &p).unwrap();
        assert_eq!(w[0].1, "memory.limit_in_bytes");
        // Unlimited memory: unlimited memsw as well, written first.
        let w = writes(r#"{"memory":{"limit":-1}}"#, &p).unwrap();
        assert_eq!(
            w,
            vec![
                t("memory", "memory.memsw.limit_in_bytes", "-1"),
                t("memory", "memory.limit_in_bytes", "-1")
            ]
        );
    }

    #[test]
    fn refused_by_name_on_this_kind_of_host() {
        let probe = host(&[]);
        for (json, field) in [
            (r#"{"unified":{"memory.max":"1"}}"#, "unified"),
            (
                r#"{"hugepageLimits":[{"pageSize":"2MB","limit":1}]}"#,
                "hugepageLimits[0]",
            ),
            (r#"{"network":{"classID":1}}"#, "network.classID"),
            (r#"{"rdma":{"mlx5_1":{"hcaHandles":1}}}"#, "rdma.mlx5_1"),
            (r#"{"blockIO":{"weight":500}}"#, "blockIO.weight"),
            (r#"{"memory":{"swappiness":200}}"#, "memory.swappiness"),
            (
                r#"{"memory":{"useHierarchy":false}}"#,
                "memory.useHierarchy",
            ),
        ] {
            let e = writes(json, &probe).expect_err(json).to_string();
            assert!(
                e.starts_with(&format!("linux.resources.{field}: ")),
                "{json}: {e}"
            );
        }
        let w = writes(r#"{"memory":{"disableOOMKiller":true}}"#, &probe).unwrap();
        assert_eq!(w, vec![t("memory", "memory.oom_control", "1")]);
        let bfq = host(&[("blkio", "blkio.bfq.weight", "100")]);
        assert_eq!(
            writes(r#"{"blockIO":{"weight":500}}"#, &bfq).unwrap(),
            vec![t("blkio", "blkio.bfq.weight", "500")]
        );
    }
}
