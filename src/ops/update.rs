//! `update`: change the resource limits of a live container.

use std::io::Read;
use std::path::Path;

use oci_spec::runtime::LinuxResources;
use serde_json::{Map, Value};

use super::{OpsError, Result, Runtime};
use crate::cgroups;
use crate::state::{Status, TransitionError};

/// runc's individual `update` flags (used when no `--resources` is given).
#[derive(Debug, Clone, Default)]
pub struct UpdateFlags {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    /// `--kernel-memory`, `--kernel-memory-tcp`: ignored with a warning.
    pub kernel_memory: Option<String>,
    pub kernel_memory_tcp: Option<String>,
    pub cpu_quota: Option<String>,
    pub cpu_period: Option<String>,
    pub cpu_burst: Option<String>,
    pub cpu_share: Option<String>,
    pub cpu_rt_period: Option<String>,
    pub cpu_rt_runtime: Option<String>,
    pub cpu_idle: Option<String>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
}

/// Changes container `id`'s limits to those `r` names; the rest stay.
pub fn update(rt: &Runtime, id: &str, r: &LinuxResources) -> Result<()> {
    let dir = rt.store.open(id)?;
    let state = dir.load()?;
    if matches!(state.status(&dir), Status::Stopped | Status::Creating) {
        return Err(TransitionError::NotRunning.into());
    }
    let rec = state
        .cgroup
        .as_ref()
        .ok_or_else(|| OpsError::Invalid(format!("container {id} has no cgroup")))?;
    cgroups::from_record(rec).update(r)?;
    Ok(())
}

/// Reads LinuxResources JSON from a file, or from stdin for `-`.
pub fn read_resources(source: &str) -> Result<LinuxResources> {
    let mut bytes = Vec::new();
    let what = format!("--resources {source}");
    if source == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(OpsError::io(what.clone()))?;
    } else {
        bytes = std::fs::read(Path::new(source)).map_err(OpsError::io(what.clone()))?;
    }
    parse_resources(&bytes).map_err(|e| OpsError::Invalid(format!("{what}: {e}")))
}

/// Parses LinuxResources JSON, naming the JSON path of an error. A `pids`
/// object without `limit` changes nothing (as in runc, where it is unset).
pub fn parse_resources(bytes: &[u8]) -> std::result::Result<LinuxResources, String> {
    let mut v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if let Some(obj) = v.as_object_mut()
        && obj
            .get("pids")
            .is_some_and(|p| p.get("limit").is_none_or(Value::is_null))
    {
        obj.remove("pids");
    }
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.inner())
    })
}

/// Builds the resources runc's flags describe. Memory sizes accept units
/// (`64m`, `1g`, as docker's RAMInBytes) and `-1` for unlimited.
pub fn resources_from_flags(f: &UpdateFlags) -> Result<LinuxResources> {
    let mut memory = Map::new();
    for (key, flag, v) in [
        ("limit", "--memory", &f.memory),
        ("swap", "--memory-swap", &f.memory_swap),
        ("reservation", "--memory-reservation", &f.memory_reservation),
        ("kernel", "--kernel-memory", &f.kernel_memory),
        ("kernelTCP", "--kernel-memory-tcp", &f.kernel_memory_tcp),
    ] {
        if let Some(v) = v {
            let n = if v == "-1" {
                -1
            } else {
                ram_in_bytes(v)
                    .ok_or_else(|| OpsError::Invalid(format!("invalid value for {flag}: {v:?}")))?
            };
            memory.insert(key.into(), n.into());
        }
    }
    let mut cpu = Map::new();
    for (key, flag, v, signed) in [
        ("quota", "--cpu-quota", &f.cpu_quota, true),
        ("period", "--cpu-period", &f.cpu_period, false),
        ("burst", "--cpu-burst", &f.cpu_burst, false),
        ("shares", "--cpu-share", &f.cpu_share, false),
        ("realtimePeriod", "--cpu-rt-period", &f.cpu_rt_period, false),
        (
            "realtimeRuntime",
            "--cpu-rt-runtime",
            &f.cpu_rt_runtime,
            true,
        ),
        ("idle", "--cpu-idle", &f.cpu_idle, true),
    ] {
        if let Some(v) = v {
            let bad = || OpsError::Invalid(format!("invalid value for {flag}: {v:?}"));
            let n: Value = if signed {
                v.parse::<i64>().map_err(|_| bad())?.into()
            } else {
                v.parse::<u64>().map_err(|_| bad())?.into()
            };
            cpu.insert(key.into(), n);
        }
    }
    for (key, v) in [("cpus", &f.cpuset_cpus), ("mems", &f.cpuset_mems)] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            cpu.insert(key.into(), v.clone().into());
        }
    }
    let mut r = Map::new();
    if !memory.is_empty() {
        r.insert("memory".into(), memory.into());
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), cpu.into());
    }
    if let Some(l) = f.pids_limit {
        r.insert("pids".into(), serde_json::json!({ "limit": l }));
    }
    if let Some(w) = f.blkio_weight.filter(|w| *w != 0) {
        r.insert("blockIO".into(), serde_json::json!({ "weight": w }));
    }
    serde_json::from_value(Value::Object(r)).map_err(|e| OpsError::Invalid(e.to_string()))
}

/// docker's RAMInBytes: a number with an optional binary unit (`k`, `m`,
/// `g`, `t`, `p`, any case, optionally followed by `b` or `ib`).
pub fn ram_in_bytes(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().ok()?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    let bytes = value * mult;
    (bytes.is_finite() && bytes < i64::MAX as f64).then_some(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_units() {
        assert_eq!(ram_in_bytes("1024"), Some(1024));
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("64MB"), Some(64 << 20));
        assert_eq!(ram_in_bytes("1GiB"), Some(1 << 30));
        assert_eq!(ram_in_bytes("1.5k"), Some(1536));
        assert_eq!(ram_in_bytes("12x"), None);
        assert_eq!(ram_in_bytes(""), None);
    }

    #[test]
    fn flags_to_resources() {
        let f = UpdateFlags {
            memory: Some("64m".into()),
            memory_swap: Some("-1".into()),
            cpu_quota: Some("-1".into()),
            cpu_period: Some("50000".into()),
            cpu_share: Some("512".into()),
            cpuset_cpus: Some("0".into()),
            pids_limit: Some(10),
            blkio_weight: Some(300),
            ..Default::default()
        };
        let r = resources_from_flags(&f).unwrap();
        let m = r.memory().as_ref().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(64 << 20), Some(-1)));
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(
            (c.quota(), c.period(), c.shares()),
            (Some(-1), Some(50000), Some(512))
        );
        assert_eq!(c.cpus().as_deref(), Some("0"));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 10);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
        let e = resources_from_flags(&UpdateFlags {
            cpu_period: Some("-5".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "invalid value for --cpu-period: \"-5\"");
        // runc's hidden kernel memory flags reach the resources (where
        // they are ignored with a warning).
        let r = resources_from_flags(&UpdateFlags {
            kernel_memory: Some("32m".into()),
            kernel_memory_tcp: Some("-1".into()),
            ..Default::default()
        })
        .unwrap();
        let m = r.memory().as_ref().unwrap();
        assert_eq!((m.kernel(), m.kernel_tcp()), (Some(32 << 20), Some(-1)));
        assert!(
            resources_from_flags(&UpdateFlags::default())
                .unwrap()
                .memory()
                .is_none()
        );
    }

    #[test]
    fn resources_json() {
        let r = parse_resources(br#"{"memory":{"limit":1000},"pids":{}}"#).unwrap();
        assert!(
            r.pids().is_none(),
            "a pids object without a limit changes nothing"
        );
        let r = parse_resources(br#"{"pids":{"limit":0}}"#).unwrap();
        assert_eq!(r.pids().as_ref().unwrap().limit(), 0);
        let e = parse_resources(br#"{"memory":{"limit":"big"}}"#).unwrap_err();
        assert!(e.starts_with("memory.limit: "), "{e}");
        assert!(parse_resources(b"not json").is_err());
    }
}
