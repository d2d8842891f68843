//! Pure translation of `LinuxResources` into cgroup file writes, with
//! runc's conversions. The managers perform the writes in the order given.
//!
//! A field the translation does not handle is refused with an error naming
//! it, never skipped.

use oci_spec::runtime::LinuxResources;

use super::{CgroupError, Result};

/// One file write: `controller` is the v1 controller (empty on v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
}

fn w(controller: &'static str, file: impl Into<String>, value: impl ToString) -> Write {
    Write {
        controller,
        file: file.into(),
        value: value.to_string(),
    }
}

fn unsupported(field: &str, msg: &str) -> CgroupError {
    CgroupError::Unsupported {
        field: format!("linux.resources.{field}"),
        msg: msg.to_string(),
    }
}

/// Writes for a v1 host.
pub fn v1_writes(r: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(limit) = m.limit() {
            out.push(w("memory", "memory.limit_in_bytes", limit));
        }
        if let Some(res) = m.reservation() {
            out.push(w("memory", "memory.soft_limit_in_bytes", res));
        }
        if let Some(swap) = m.swap() {
            out.push(w("memory", "memory.memsw.limit_in_bytes", swap));
        }
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return Err(unsupported(
                    "memory.swappiness",
                    &format!("{s} is above 100"),
                ));
            }
            out.push(w("memory", "memory.swappiness", s));
        }
        if m.disable_oom_killer() == Some(true) {
            out.push(w("memory", "memory.oom_control", 1));
        }
        if m.kernel().is_some() || m.kernel_tcp().is_some() {
            return Err(unsupported(
                "memory.kernel",
                "kernel memory limits are not supported",
            ));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            out.push(w("cpu", "cpu.shares", s));
        }
        if let Some(p) = c.period() {
            out.push(w("cpu", "cpu.cfs_period_us", p));
        }
        if let Some(q) = c.quota() {
            out.push(w("cpu", "cpu.cfs_quota_us", q));
        }
        if let Some(b) = c.burst() {
            out.push(w("cpu", "cpu.cfs_burst_us", b));
        }
        if let Some(rt) = c.realtime_period() {
            out.push(w("cpu", "cpu.rt_period_us", rt));
        }
        if let Some(rt) = c.realtime_runtime() {
            out.push(w("cpu", "cpu.rt_runtime_us", rt));
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.mems", mems));
        }
        if c.idle().is_some() {
            return Err(unsupported("cpu.idle", "cpu.idle needs cgroup v2"));
        }
    }
    if let Some(p) = r.pids() {
        let limit = p.limit();
        out.push(w(
            "pids",
            "pids.max",
            if limit > 0 {
                limit.to_string()
            } else {
                "max".into()
            },
        ));
    }
    if let Some(b) = r.block_io() {
        if let Some(weight) = b.weight() {
            out.push(w("blkio", "blkio.weight", weight));
        }
        if b.leaf_weight().is_some()
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || b.throttle_read_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_read_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
        {
            return Err(unsupported(
                "blockIO",
                "per-device block I/O settings are not supported yet",
            ));
        }
    }
    check_common_unsupported(r, false)?;
    Ok(out)
}

/// runc's conversion of cpu shares (2..262144) to cgroup2 cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        0
    } else {
        1 + ((shares.saturating_sub(2)) * 9999) / 262142
    }
}

/// runc's conversion of a v1 memory+swap limit to cgroup2 memory.swap.max.
pub fn swap_to_v2(swap: i64, memory: i64) -> std::result::Result<i64, &'static str> {
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        return Err("unable to set swap limit without memory limit");
    }
    if memory < 0 {
        return Err("invalid memory value");
    }
    if swap < memory {
        return Err("memory+swap limit should be >= memory limit");
    }
    Ok(swap - memory)
}

fn max_or(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

/// Writes for a v2 host.
pub fn v2_writes(r: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        let limit = m.limit().unwrap_or(0);
        if let Some(res) = m.reservation() {
            out.push(w("", "memory.low", max_or(res)));
        }
        if let Some(swap) = m.swap() {
            let v = swap_to_v2(swap, limit).map_err(|e| unsupported("memory.swap", e))?;
            out.push(w("", "memory.swap.max", max_or(v)));
        }
        if let Some(l) = m.limit() {
            out.push(w("", "memory.max", max_or(l)));
        }
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
        if m.kernel().is_some() || m.kernel_tcp().is_some() {
            return Err(unsupported(
                "memory.kernel",
                "kernel memory limits are not available on cgroup v2",
            ));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            out.push(w("", "cpu.weight", shares_to_weight(s)));
        }
        if c.quota().is_some() || c.period().is_some() {
            let quota = c
                .quota()
                .filter(|q| *q > 0)
                .map_or("max".to_string(), |q| q.to_string());
            let period = c.period().filter(|p| *p > 0).unwrap_or(100_000);
            out.push(w("", "cpu.max", format!("{quota} {period}")));
        }
        if let Some(b) = c.burst() {
            out.push(w("", "cpu.max.burst", b));
        }
        if let Some(idle) = c.idle() {
            out.push(w("", "cpu.idle", idle));
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("", "cpuset.cpus", cpus));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("", "cpuset.mems", mems));
        }
        if c.realtime_period().is_some() || c.realtime_runtime().is_some() {
            return Err(unsupported(
                "cpu.realtimeRuntime",
                "real-time CPU limits are not available on cgroup v2",
            ));
        }
    }
    if let Some(p) = r.pids() {
        out.push(w(
            "",
            "pids.max",
            max_or(if p.limit() > 0 { p.limit() } else { -1 }),
        ));
    }
    if let Some(b) = r.block_io() {
        if let Some(weight) = b.weight() {
            let v = 1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990;
            out.push(w("", "io.weight", v));
        }
        if b.leaf_weight().is_some()
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || b.throttle_read_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_read_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
        {
            return Err(unsupported(
                "blockIO",
                "per-device block I/O settings are not supported yet",
            ));
        }
    }
    check_common_unsupported(r, true)?;
    Ok(out)
}

fn check_common_unsupported(r: &LinuxResources, _v2: bool) -> Result<()> {
    if r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(unsupported("hugepageLimits", "not supported yet"));
    }
    if r.network().is_some() {
        return Err(unsupported("network", "not supported yet"));
    }
    if r.rdma().as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(unsupported("rdma", "not supported yet"));
    }
    if r.unified().as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(unsupported("unified", "not supported yet"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).expect("valid resources")
    }

    #[test]
    fn v1_memory_cpu_pids() {
        let r = res(
            r#"{"memory":{"limit":1048576},"cpu":{"shares":512,"quota":50000,"period":100000},"pids":{"limit":10}}"#,
        );
        let files: Vec<_> = v1_writes(&r)
            .expect("ok")
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect();
        assert!(files.contains(&("memory.limit_in_bytes".into(), "1048576".into())));
        assert!(files.contains(&("cpu.shares".into(), "512".into())));
        let period = files
            .iter()
            .position(|f| f.0 == "cpu.cfs_period_us")
            .expect("period");
        let quota = files
            .iter()
            .position(|f| f.0 == "cpu.cfs_quota_us")
            .expect("quota");
        assert!(period < quota, "period must be written first");
        assert!(files.contains(&("pids.max".into(), "10".into())));
    }

    #[test]
    fn v2_conversions() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(swap_to_v2(200, 100), Ok(100));
        assert_eq!(swap_to_v2(-1, 100), Ok(-1));
        assert_eq!(swap_to_v2(0, -1), Ok(-1));
        assert!(swap_to_v2(50, 100).is_err());
        let r = res(
            r#"{"memory":{"limit":1000,"swap":3000},"cpu":{"quota":20000},"pids":{"limit":0}}"#,
        );
        let ws: Vec<_> = v2_writes(&r)
            .expect("ok")
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect();
        assert!(ws.contains(&("memory.max".into(), "1000".into())));
        assert!(ws.contains(&("memory.swap.max".into(), "2000".into())));
        assert!(ws.contains(&("cpu.max".into(), "20000 100000".into())));
        assert!(ws.contains(&("pids.max".into(), "max".into())));
    }

    #[test]
    fn host_limits_are_refused_by_name() {
        let r = res(r#"{"memory":{"disableOOMKiller":true}}"#);
        let e = v2_writes(&r).expect_err("refused").to_string();
        assert_eq!(
            e,
            "linux.resources.memory.disableOOMKiller: not available on cgroup v2"
        );
        assert!(v1_writes(&r).is_ok());
    }
}
