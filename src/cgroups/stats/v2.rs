//! Statistics from a cgroup v2 directory, in runc's v1-shaped types.

use std::path::Path;

use super::{
    BlkioEntry, Hugetlb, MemoryEntry, Stats, huge_page_sizes, key_values, num, parse_list, read,
};
use crate::cgroups::Result;

/// Reads the stats of the cgroup at `dir`.
pub fn read_stats(dir: &Path) -> Result<Stats> {
    let mut s = Stats::default();
    let cpu = read(dir, "cpu.stat")
        .map(|c| key_values(&c))
        .unwrap_or_default();
    let get = |k: &str| cpu.get(k).copied().unwrap_or(0);
    s.cpu.usage.total = get("usage_usec") * 1000;
    s.cpu.usage.user = get("user_usec") * 1000;
    s.cpu.usage.kernel = get("system_usec") * 1000;
    s.cpu.throttling.periods = get("nr_periods");
    s.cpu.throttling.throttled_periods = get("nr_throttled");
    s.cpu.throttling.throttled_time = get("throttled_usec") * 1000;

    let m = &mut s.memory;
    m.raw = read(dir, "memory.stat")
        .map(|c| key_values(&c))
        .unwrap_or_default();
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    m.usage = MemoryEntry {
        limit: num(dir, "memory.max"),
        usage: num(dir, "memory.current"),
        max: num(dir, "memory.peak"),
        failcnt: 0,
    };
    // runc reports swap as memory+swap, as on v1.
    let swap_only = num(dir, "memory.swap.current");
    let swap_limit = num(dir, "memory.swap.max");
    m.swap = MemoryEntry {
        limit: if swap_limit == u64::MAX || m.usage.limit == u64::MAX {
            u64::MAX
        } else {
            swap_limit + m.usage.limit
        },
        usage: swap_only + m.usage.usage,
        max: 0,
        failcnt: 0,
    };

    s.pids.current = num(dir, "pids.current");
    s.pids.limit = match num(dir, "pids.max") {
        u64::MAX => 0,
        v => v,
    };

    if let Some(io) = read(dir, "io.stat") {
        io_stat(&io, &mut s);
    }
    for size in huge_page_sizes() {
        let p = format!("hugetlb.{size}");
        let usage =
            read(dir, &format!("{p}.rsvd.current")).or_else(|| read(dir, &format!("{p}.current")));
        let Some(usage) = usage else { continue };
        let events = read(dir, &format!("{p}.events"))
            .map(|c| key_values(&c))
            .unwrap_or_default();
        s.hugetlb.insert(
            size,
            Hugetlb {
                usage: usage.parse().unwrap_or(0),
                max: 0,
                failcnt: events.get("max").copied().unwrap_or(0),
            },
        );
    }
    s.cpuset.cpus = parse_list(&read(dir, "cpuset.cpus.effective").unwrap_or_default());
    s.cpuset.mems = parse_list(&read(dir, "cpuset.mems.effective").unwrap_or_default());
    Ok(s)
}

/// `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..` lines.
fn io_stat(content: &str, s: &mut Stats) {
    for line in content.lines() {
        let mut f = line.split_whitespace();
        let Some((ma, mi)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse::<u64>(), mi.parse::<u64>()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let value: u64 = v.parse().unwrap_or(0);
            let (op, table) = match k {
                "rbytes" => ("Read", &mut s.blkio.io_service_bytes_recursive),
                "wbytes" => ("Write", &mut s.blkio.io_service_bytes_recursive),
                "rios" => ("Read", &mut s.blkio.io_serviced_recursive),
                "wios" => ("Write", &mut s.blkio.io_serviced_recursive),
                _ => continue,
            };
            table.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_v2_cgroup() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("cpu.stat"), "usage_usec 7\nuser_usec 5\nsystem_usec 2\nnr_periods 3\nnr_throttled 1\nthrottled_usec 9\n").unwrap();
        std::fs::write(d.join("memory.current"), "4096\n").unwrap();
        std::fs::write(d.join("memory.max"), "max\n").unwrap();
        std::fs::write(d.join("memory.stat"), "anon 10\nfile 20\n").unwrap();
        std::fs::write(d.join("pids.current"), "2\n").unwrap();
        std::fs::write(d.join("pids.max"), "10\n").unwrap();
        std::fs::write(
            d.join("io.stat"),
            "7:0 rbytes=512 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
        )
        .unwrap();
        let s = read_stats(d).unwrap();
        assert_eq!(s.cpu.usage.total, 7000);
        assert_eq!(s.cpu.throttling.throttled_time, 9000);
        assert_eq!(s.memory.usage.usage, 4096);
        assert_eq!(s.memory.usage.limit, u64::MAX);
        assert_eq!(s.memory.cache, 20);
        assert_eq!(s.pids.limit, 10);
        assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
        assert_eq!(s.blkio.io_serviced_recursive[0].value, 1);
    }
}
