//! Statistics from the v1 hierarchies.

use std::path::{Path, PathBuf};

use super::{
    BlkioEntry, Hugetlb, MemoryEntry, Stats, huge_page_sizes, key_values, num, parse_list, read,
};
use crate::cgroups::Result;

/// `USER_HZ`: cpuacct.stat counts ticks of 1/100 s.
const CLOCK_TICKS: u64 = 100;

/// Reads the stats; `dir_of` gives each controller's directory.
pub fn read_all(dir_of: &dyn Fn(&str) -> Option<PathBuf>) -> Stats {
    let mut s = Stats::default();
    if let Some(d) = dir_of("cpuacct").filter(|d| d.exists()) {
        cpuacct(&d, &mut s);
    }
    if let Some(d) = dir_of("cpu") {
        let kv = read(&d, "cpu.stat")
            .map(|c| key_values(&c))
            .unwrap_or_default();
        s.cpu.throttling.periods = kv.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = kv.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = kv.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(d) = dir_of("memory").filter(|d| d.exists()) {
        memory(&d, &mut s);
    }
    if let Some(d) = dir_of("pids").filter(|d| d.exists()) {
        s.pids.current = num(&d, "pids.current");
        s.pids.limit = match num(&d, "pids.max") {
            u64::MAX => 0,
            v => v,
        };
    }
    if let Some(d) = dir_of("blkio").filter(|d| d.exists()) {
        blkio(&d, &mut s);
    }
    if let Some(d) = dir_of("hugetlb").filter(|d| d.exists()) {
        for size in huge_page_sizes() {
            let p = format!("hugetlb.{size}");
            s.hugetlb.insert(
                size,
                Hugetlb {
                    usage: num(&d, &format!("{p}.usage_in_bytes")),
                    max: num(&d, &format!("{p}.max_usage_in_bytes")),
                    failcnt: num(&d, &format!("{p}.failcnt")),
                },
            );
        }
    }
    if let Some(d) = dir_of("cpuset").filter(|d| d.exists()) {
        let c = &mut s.cpuset;
        c.cpus = parse_list(&read(&d, "cpuset.cpus").unwrap_or_default());
        c.mems = parse_list(&read(&d, "cpuset.mems").unwrap_or_default());
        c.cpu_exclusive = num(&d, "cpuset.cpu_exclusive");
        c.mem_hardwall = num(&d, "cpuset.mem_hardwall");
        c.mem_exclusive = num(&d, "cpuset.mem_exclusive");
        c.memory_migrate = num(&d, "cpuset.memory_migrate");
        c.memory_spread_page = num(&d, "cpuset.memory_spread_page");
        c.memory_spread_slab = num(&d, "cpuset.memory_spread_slab");
        c.memory_pressure = num(&d, "cpuset.memory_pressure");
        c.sched_load_balance = num(&d, "cpuset.sched_load_balance");
        c.sched_relax_domain_level = read(&d, "cpuset.sched_relax_domain_level")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
    }
    s
}

/// The stats of a v1 container (infallible reads: a missing file is 0).
pub fn read_stats(dir_of: &dyn Fn(&str) -> Option<PathBuf>) -> Result<Stats> {
    Ok(read_all(dir_of))
}

fn cpuacct(d: &Path, s: &mut Stats) {
    let u = &mut s.cpu.usage;
    u.total = num(d, "cpuacct.usage");
    u.percpu = read(d, "cpuacct.usage_percpu")
        .map(|v| {
            v.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let kv = read(d, "cpuacct.stat")
        .map(|c| key_values(&c))
        .unwrap_or_default();
    u.user = kv.get("user").copied().unwrap_or(0) * 1_000_000_000 / CLOCK_TICKS;
    u.kernel = kv.get("system").copied().unwrap_or(0) * 1_000_000_000 / CLOCK_TICKS;
    // "cpu user system" then one line per CPU.
    if let Some(all) = read(d, "cpuacct.usage_all") {
        for line in all.lines().skip(1) {
            let f: Vec<u64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if let [_, user, system, ..] = f[..] {
                u.percpu_user.push(user);
                u.percpu_kernel.push(system);
            }
        }
    }
}

fn mem_entry(d: &Path, prefix: &str) -> MemoryEntry {
    MemoryEntry {
        limit: num(d, &format!("{prefix}.limit_in_bytes")),
        usage: num(d, &format!("{prefix}.usage_in_bytes")),
        max: num(d, &format!("{prefix}.max_usage_in_bytes")),
        failcnt: num(d, &format!("{prefix}.failcnt")),
    }
}

fn memory(d: &Path, s: &mut Stats) {
    let m = &mut s.memory;
    m.raw = read(d, "memory.stat")
        .map(|c| key_values(&c))
        .unwrap_or_default();
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    m.usage = mem_entry(d, "memory");
    m.swap = mem_entry(d, "memory.memsw");
    m.kernel = mem_entry(d, "memory.kmem");
    m.kernel_tcp = mem_entry(d, "memory.kmem.tcp");
}

/// `MAJ:MIN Op value` lines (a `Total` line has no device).
fn blkio_entries(content: &str) -> Vec<BlkioEntry> {
    content
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = f[..] else { return None };
            let (ma, mi) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: ma.parse().ok()?,
                minor: mi.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// runc's order: BFQ, CFQ, then the throttle files (recursive, then not).
fn blkio(d: &Path, s: &mut Stats) {
    for (serviced, bytes) in [
        (
            "blkio.bfq.io_serviced_recursive",
            "blkio.bfq.io_service_bytes_recursive",
        ),
        (
            "blkio.io_serviced_recursive",
            "blkio.io_service_bytes_recursive",
        ),
        (
            "blkio.throttle.io_serviced_recursive",
            "blkio.throttle.io_service_bytes_recursive",
        ),
        (
            "blkio.throttle.io_serviced",
            "blkio.throttle.io_service_bytes",
        ),
    ] {
        if let (Some(a), Some(b)) = (read(d, serviced), read(d, bytes)) {
            s.blkio.io_serviced_recursive = blkio_entries(&a);
            s.blkio.io_service_bytes_recursive = blkio_entries(&b);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_lines() {
        let e = blkio_entries("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].major, e[0].minor, e[0].op.as_str(), e[0].value),
            (8, 0, "Read", 4096)
        );
    }

    #[test]
    fn reads_a_fake_v1_tree() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("cpuacct.usage"), "5000\n").unwrap();
        std::fs::write(d.join("cpuacct.stat"), "user 2\nsystem 1\n").unwrap();
        std::fs::write(
            d.join("cpuacct.usage_all"),
            "cpu user system\n0 10 20\n1 30 40\n",
        )
        .unwrap();
        std::fs::write(d.join("pids.current"), "4\n").unwrap();
        std::fs::write(d.join("pids.max"), "max\n").unwrap();
        std::fs::write(d.join("memory.stat"), "cache 12\nrss 7\n").unwrap();
        std::fs::write(d.join("memory.usage_in_bytes"), "100\n").unwrap();
        std::fs::write(d.join("memory.limit_in_bytes"), "1000\n").unwrap();
        let dir = d.to_path_buf();
        let s = read_all(&|_| Some(dir.clone()));
        assert_eq!(s.cpu.usage.total, 5000);
        assert_eq!(s.cpu.usage.user, 20_000_000);
        assert_eq!(s.cpu.usage.kernel, 10_000_000);
        assert_eq!(s.cpu.usage.percpu_user, vec![10, 30]);
        assert_eq!(s.pids.current, 4);
        assert_eq!(s.pids.limit, 0);
        assert_eq!(s.memory.cache, 12);
        assert_eq!(s.memory.usage.usage, 100);
        assert_eq!(s.memory.usage.limit, 1000);
    }
}
