//! `LinuxResources` → cgroup v2 files, in runc's order: pids, memory, io,
//! cpu, cpuset, hugetlb, rdma, then the raw `unified` entries (which may
//! override any of them). Device rules are a BPF program (`bpf.rs`).

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::convert::{self, limit_str};
use super::unsupported;
use super::{Ctx, OnError, Plan, Probe, Result, Write, check_memory_common, check_usage, list};
use super::{any_device, cpuset, hugetlb, throttles};

/// Writes for a cgroup v2 directory.
pub fn v2_writes(r: &LinuxResources, probe: &dyn Probe, ctx: Ctx) -> Result<Vec<Write>> {
    check_memory_common(r, ctx)?;
    if r.network().is_some() {
        return Err(unsupported(
            "network",
            "net_cls and net_prio are cgroup v1 controllers; cgroup v2 has no equivalent",
        ));
    }
    let mut p = Plan::new(probe);
    if let Some(pids) = r.pids() {
        p.need("pids", "pids.limit", true)?;
        p.push(
            "",
            "pids.limit",
            "pids.max",
            convert::pids_max(pids.limit()),
        );
    }
    if let Some(m) = r.memory() {
        memory(&mut p, r, m, ctx)?;
    }
    if let Some(b) = r.block_io() {
        io(&mut p, b)?;
    }
    if let Some(c) = r.cpu() {
        cpu(&mut p, c)?;
    }
    if let Some(c) = r.cpu() {
        cpuset(&mut p, c, true)?;
    }
    hugetlb(&mut p, list(r.hugepage_limits()), true)?;
    if let Some(rdma) = r.rdma() {
        rdma_writes(&mut p, rdma, true)?;
    }
    if let Some(u) = r.unified() {
        unified(&mut p, u)?;
    }
    Ok(p.out)
}

/// Raw files, in name order, after everything else.
fn unified(p: &mut Plan<'_>, u: &std::collections::HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for k in keys {
        let field = format!("unified.{k}");
        let Some((controller, _)) = k.split_once('.').filter(|_| !k.contains('/')) else {
            return Err(unsupported(
                &field,
                "must be a file name of the form CONTROLLER.PARAMETER",
            ));
        };
        if controller != "cgroup" {
            p.need(controller, &field, true)?;
        }
        p.push("", &field, k, &u[k]);
    }
    Ok(())
}

fn memory(p: &mut Plan<'_>, r: &LinuxResources, m: &LinuxMemory, ctx: Ctx) -> Result<()> {
    if m.swappiness().is_some() {
        return Err(unsupported(
            "memory.swappiness",
            "not available on cgroup v2",
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(unsupported(
            "memory.disableOOMKiller",
            "not available on cgroup v2",
        ));
    }
    let (limit, swap, res) = (
        m.limit().unwrap_or(0),
        m.swap().unwrap_or(0),
        m.reservation().unwrap_or(0),
    );
    if limit == 0 && swap == 0 && res == 0 {
        return Ok(());
    }
    p.need("memory", "memory", true)?;
    check_usage(
        r,
        p.probe
            .read("", "memory.current")
            .and_then(|v| v.parse().ok()),
    )?;
    let current = |f: &str| p.probe.read("", f).and_then(|v| convert::parse_limit(&v));
    // The limit the swap value is relative to: an update that names only
    // one of them keeps the other as it is now.
    let (limit_for_swap, swap) = match (limit, swap, ctx.update) {
        (0, s, true) if s != 0 => (current("memory.max").unwrap_or(0), s),
        (l, 0, true) if l > 0 => match (current("memory.max"), current("memory.swap.max")) {
            // Keep memory+swap as it was: swap.max = old total - new limit.
            (Some(old), Some(old_swap)) if old > 0 && old_swap >= 0 => (l, old + old_swap),
            _ => (l, 0),
        },
        (l, s, _) => (l, s),
    };
    let v =
        convert::swap_to_v2(swap, limit_for_swap).map_err(|e| unsupported("memory.swap", &e))?;
    let swap_str = match limit_str(v) {
        None if swap > 0 => Some("0".to_string()),
        s => s,
    };
    if let Some(s) = swap_str {
        // Without swap accounting there is no file: "max" or "0" is then
        // what the kernel does anyway.
        let on_error = if s == "max" || s == "0" {
            OnError::SkipIfMissing
        } else {
            OnError::Fail
        };
        p.push_with("", "memory.swap", "memory.swap.max", s, on_error);
    }
    if let Some(v) = limit_str(limit) {
        p.push("", "memory.limit", "memory.max", v);
    }
    if let Some(v) = limit_str(res) {
        p.push("", "memory.reservation", "memory.low", v);
    }
    Ok(())
}

fn io(p: &mut Plan<'_>, b: &LinuxBlockIo) -> Result<()> {
    let devices_set = any_device(b);
    let weight = b.weight().unwrap_or(0);
    if weight == 0 && !devices_set && b.leaf_weight().is_none() {
        return Ok(());
    }
    if b.leaf_weight().is_some() {
        return Err(unsupported(
            "blockIO.leafWeight",
            "not available on cgroup v2",
        ));
    }
    p.need("io", "blockIO", true)?;
    // BFQ takes blkio's own scale; otherwise io.weight, converted.
    let bfq = p.probe.read("", "io.bfq.weight");
    if weight != 0 {
        match &bfq {
            Some(_) => p.push("", "blockIO.weight", "io.bfq.weight", weight),
            None => p.push(
                "",
                "blockIO.weight",
                "io.weight",
                convert::blkio_weight_to_io(weight),
            ),
        }
    }
    for (i, wd) in list(b.weight_device()).iter().enumerate() {
        let field = format!("blockIO.weightDevice[{i}]");
        if wd.leaf_weight().is_some() {
            return Err(unsupported(
                &format!("{field}.leafWeight"),
                "not available on cgroup v2",
            ));
        }
        // Per-device weights need BFQ's "default N\nMAJ:MIN N" format.
        if bfq.as_deref().is_none_or(|c| c.parse::<u64>().is_ok()) {
            return Err(unsupported(
                &field,
                "per-device weights need the BFQ I/O scheduler (io.bfq.weight with per-device entries)",
            ));
        }
        if let Some(w) = wd.weight() {
            p.push(
                "",
                &field,
                "io.bfq.weight",
                format!("{}:{} {w}", wd.major(), wd.minor()),
            );
        }
    }
    throttles(p, b, true);
    Ok(())
}

fn cpu(p: &mut Plan<'_>, c: &LinuxCpu) -> Result<()> {
    if c.realtime_period().is_some() || c.realtime_runtime().is_some() {
        let f = if c.realtime_runtime().is_some() {
            "cpu.realtimeRuntime"
        } else {
            "cpu.realtimePeriod"
        };
        return Err(unsupported(
            f,
            "real-time CPU limits are not available on cgroup v2",
        ));
    }
    let (quota, period) = (c.quota().unwrap_or(0), c.period().unwrap_or(0));
    let shares = c.shares().unwrap_or(0);
    if c.idle().is_none() && shares == 0 && quota == 0 && period == 0 && c.burst().is_none() {
        return Ok(());
    }
    p.need("cpu", "cpu", true)?;
    if let Some(idle) = c.idle() {
        p.push("", "cpu.idle", "cpu.idle", idle);
    }
    if shares != 0 {
        p.push(
            "",
            "cpu.shares",
            "cpu.weight",
            convert::shares_to_weight(shares),
        );
    }
    if let Some(b) = c.burst() {
        // The burst may not exceed the quota: with a new quota, retry after.
        let on_error = if quota != 0 {
            OnError::RetryLater
        } else {
            OnError::Fail
        };
        p.push_with("", "cpu.burst", "cpu.max.burst", b, on_error);
    }
    if quota != 0 || period != 0 {
        // What is not given stays as it is (runc keeps the saved value;
        // a new cgroup has "max 100000").
        let (cur_quota, cur_period) = p
            .probe
            .read("", "cpu.max")
            .and_then(|v| convert::parse_cpu_max(&v))
            .unwrap_or((None, 100_000));
        let q = match quota {
            q if q > 0 => q.to_string(),
            0 => cur_quota.map_or("max".into(), |q| q.to_string()),
            _ => "max".into(),
        };
        let per = if period != 0 { period } else { cur_period };
        let field = if quota != 0 {
            "cpu.quota"
        } else {
            "cpu.period"
        };
        p.push("", field, "cpu.max", format!("{q} {per}"));
    }
    Ok(())
}

/// `rdma.max` lines (both versions use the same format).
pub(super) fn rdma_writes(
    p: &mut Plan<'_>,
    rdma: &std::collections::HashMap<String, oci_spec::runtime::LinuxRdma>,
    v2: bool,
) -> Result<()> {
    let controller = if v2 { "" } else { "rdma" };
    let mut devs: Vec<&String> = rdma.keys().collect();
    devs.sort();
    for dev in devs {
        let field = format!("rdma.{dev}");
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return Err(unsupported(&field, "not an RDMA device name"));
        }
        p.need("rdma", &field, v2)?;
        let l = &rdma[dev];
        let mut line = dev.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line == *dev {
            return Err(unsupported(&field, "needs hcaHandles or hcaObjects"));
        }
        p.push(controller, &field, "rdma.max", line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testprobe::FakeProbe;
    use super::*;

    const ALL: &[&str] = &[
        "cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc",
    ];

    fn writes(json: &str, probe: &FakeProbe, update: bool) -> Result<Vec<(String, String)>> {
        let r: LinuxResources = serde_json::from_str(json).expect("json");
        Ok(v2_writes(&r, probe, Ctx { update })?
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect())
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn every_field_in_runc_order() {
        let probe = FakeProbe::with(ALL, &[("", "cpu.max", "max 100000")]);
        let w = writes(
            r#"{"pids":{"limit":20},
                "memory":{"limit":67108864,"reservation":33554432,"swap":134217728},
                "blockIO":{"weight":500,"throttleReadBpsDevice":[{"major":7,"minor":0,"rate":1048576}],
                           "throttleWriteIOPSDevice":[{"major":7,"minor":0,"rate":100}]},
                "cpu":{"shares":512,"quota":20000,"period":50000,"burst":1000,"idle":0,"cpus":"0","mems":"0"},
                "hugepageLimits":[{"pageSize":"2MB","limit":4194304}],
                "rdma":{"mlx5_1":{"hcaHandles":3,"hcaObjects":100}},
                "unified":{"memory.high":"100000000","cgroup.max.depth":"3"}}"#,
            &probe,
            false,
        )
        .unwrap();
        assert_eq!(
            w,
            pairs(&[
                ("pids.max", "20"),
                ("memory.swap.max", "67108864"),
                ("memory.max", "67108864"),
                ("memory.low", "33554432"),
                ("io.weight", "4950"),
                ("io.max", "7:0 rbps=1048576"),
                ("io.max", "7:0 wiops=100"),
                ("cpu.idle", "0"),
                ("cpu.weight", "59"),
                ("cpu.max.burst", "1000"),
                ("cpu.max", "20000 50000"),
                ("cpuset.cpus", "0"),
                ("cpuset.mems", "0"),
                ("hugetlb.2MB.max", "4194304"),
                ("hugetlb.2MB.rsvd.max", "4194304"),
                ("rdma.max", "mlx5_1 hca_handle=3 hca_object=100"),
                ("cgroup.max.depth", "3"),
                ("memory.high", "100000000"),
            ])
        );
    }

    #[test]
    fn update_keeps_what_it_does_not_name() {
        let probe = FakeProbe::with(
            ALL,
            &[
                ("", "cpu.max", "30000 100000"),
                ("", "memory.max", "100"),
                ("", "memory.swap.max", "100"),
            ],
        );
        // Only the period: the quota stays.
        assert_eq!(
            writes(r#"{"cpu":{"period":200000}}"#, &probe, true).unwrap(),
            pairs(&[("cpu.max", "30000 200000")])
        );
        // Only the memory: memory+swap (200) stays.
        assert_eq!(
            writes(r#"{"memory":{"limit":150}}"#, &probe, true).unwrap(),
            pairs(&[("memory.swap.max", "50"), ("memory.max", "150")])
        );
        // Only the swap: relative to the current limit.
        assert_eq!(
            writes(r#"{"memory":{"swap":300}}"#, &probe, true).unwrap(),
            pairs(&[("memory.swap.max", "200")])
        );
        // At create, a swap limit needs a memory limit (runc's error).
        let e = writes(r#"{"memory":{"swap":300}}"#, &probe, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.memory.swap: unable to set swap limit without memory limit"
        );
        // Unlimited memory without a swap value: both unlimited.
        assert_eq!(
            writes(r#"{"memory":{"limit":-1}}"#, &probe, false).unwrap(),
            pairs(&[("memory.swap.max", "max"), ("memory.max", "max")])
        );
    }

    #[test]
    fn check_before_update() {
        let probe = FakeProbe::with(ALL, &[("", "memory.current", "5000")]);
        let e = writes(
            r#"{"memory":{"limit":4096,"checkBeforeUpdate":true}}"#,
            &probe,
            true,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "linux.resources.memory.limit: rejecting memory limit 4096 <= usage 5000 (checkBeforeUpdate)"
        );
        assert!(writes(r#"{"memory":{"limit":4096}}"#, &probe, true).is_ok());
        assert!(
            writes(
                r#"{"memory":{"limit":8192,"checkBeforeUpdate":true}}"#,
                &probe,
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn refused_by_name() {
        let probe = FakeProbe::with(ALL, &[]);
        for (json, field) in [
            (
                r#"{"memory":{"disableOOMKiller":true}}"#,
                "memory.disableOOMKiller",
            ),
            (r#"{"memory":{"swappiness":10}}"#, "memory.swappiness"),
            (r#"{"cpu":{"realtimeRuntime":1000}}"#, "cpu.realtimeRuntime"),
            (r#"{"blockIO":{"leafWeight":100}}"#, "blockIO.leafWeight"),
            (
                r#"{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":100}]}}"#,
                "blockIO.weightDevice[0]",
            ),
            (r#"{"network":{"classID":1}}"#, "network"),
            (
                r#"{"hugepageLimits":[{"pageSize":"../x","limit":1}]}"#,
                "hugepageLimits[0].pageSize",
            ),
            (
                r#"{"unified":{"../memory.max":"1"}}"#,
                "unified.../memory.max",
            ),
            (r#"{"unified":{"foo.bar":"1"}}"#, "unified.foo.bar"),
            (r#"{"rdma":{"mlx5_1":{}}}"#, "rdma.mlx5_1"),
        ] {
            let e = writes(json, &probe, false).expect_err(json).to_string();
            assert!(
                e.starts_with(&format!("linux.resources.{field}: ")),
                "{json}: {e}"
            );
        }
        // A controller missing from cgroup.controllers is named too.
        let e = writes(
            r#"{"pids":{"limit":5}}"#,
            &FakeProbe::with(&["cpu"], &[]),
            false,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("the pids controller is not available"),
            "{e}"
        );
    }

    #[test]
    fn pids_zero_and_unlimited() {
        let probe = FakeProbe::with(ALL, &[]);
        assert_eq!(
            writes(r#"{"pids":{"limit":0}}"#, &probe, false).unwrap(),
            pairs(&[("pids.max", "1")])
        );
        assert_eq!(
            writes(r#"{"pids":{"limit":-1}}"#, &probe, false).unwrap(),
            pairs(&[("pids.max", "max")])
        );
    }
}
