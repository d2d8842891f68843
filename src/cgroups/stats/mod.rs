//! Cgroup statistics in runc's `events` JSON types (`types/events.go`),
//! read from v1 or v2 files.

pub mod v1;
pub mod v2;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// runc's `types.Stats`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    pub intel_rdt: IntelRdt,
    pub network_interfaces: Option<Vec<()>>,
}

/// Intel RDT is not supported: always empty.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IntelRdt {}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

impl Throttling {
    fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

impl CpuUsage {
    fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Cpu {
    #[serde(skip_serializing_if = "CpuUsage::is_zero")]
    pub usage: CpuUsage,
    #[serde(skip_serializing_if = "Throttling::is_zero")]
    pub throttling: Throttling,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

impl MemoryEntry {
    fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    #[serde(skip_serializing_if = "MemoryEntry::is_zero")]
    pub usage: MemoryEntry,
    #[serde(skip_serializing_if = "MemoryEntry::is_zero")]
    pub swap: MemoryEntry,
    #[serde(skip_serializing_if = "MemoryEntry::is_zero")]
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP", skip_serializing_if = "MemoryEntry::is_zero")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Reads a file, trimmed; `None` when missing or unreadable.
fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// A number file; `max` reads as `u64::MAX`, like runc's parser.
fn num(dir: &Path, file: &str) -> u64 {
    read(dir, file).map_or(0, |v| parse_u64(&v))
}

fn parse_u64(v: &str) -> u64 {
    if v == "max" {
        u64::MAX
    } else {
        v.parse().unwrap_or(0)
    }
}

/// `key value` lines into a map.
fn key_values(content: &str) -> BTreeMap<String, u64> {
    content
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// A cpuset list (`0-3,7`) as numbers.
fn parse_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

/// Huge page sizes of this kernel, named as in the cgroup files (`2MB`).
pub fn huge_page_sizes() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| page_size_name(&e.file_name().to_string_lossy()))
        .collect();
    out.sort();
    out
}

/// `hugepages-2048kB` → `2MB` (runc's names).
fn page_size_name(dir: &str) -> Option<String> {
    let kb: u64 = dir
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()?;
    let units = ["KB", "MB", "GB", "TB", "PB"];
    let (mut v, mut i) = (kb, 0);
    while v >= 1024 && v % 1024 == 0 && i + 1 < units.len() {
        v /= 1024;
        i += 1;
    }
    Some(format!("{v}{}", units[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_parsers() {
        assert_eq!(parse_list("0-3,7"), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_list(""), Vec::<u16>::new());
        assert_eq!(page_size_name("hugepages-2048kB").as_deref(), Some("2MB"));
        assert_eq!(
            page_size_name("hugepages-1048576kB").as_deref(),
            Some("1GB")
        );
        assert_eq!(page_size_name("hugepages-64kB").as_deref(), Some("64KB"));
        let kv = key_values("usage_usec 10\nuser_usec 7\nbad\n");
        assert_eq!(kv["usage_usec"], 10);
        assert_eq!(kv.len(), 2);
    }

    #[test]
    fn json_shape_like_runc() {
        let mut s = Stats::default();
        s.pids.current = 3;
        s.memory.usage.limit = 100;
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["pids"], serde_json::json!({"current": 3}));
        assert_eq!(
            v["memory"]["usage"],
            serde_json::json!({"limit": 100, "failcnt": 0})
        );
        assert_eq!(v["cpu"], serde_json::json!({}));
        assert_eq!(v["blkio"], serde_json::json!({}));
        assert_eq!(v["hugetlb"], serde_json::json!({}));
        assert!(v["network_interfaces"].is_null());
        assert_eq!(v["cpuset"]["cpu_exclusive"], 0);
    }
}
