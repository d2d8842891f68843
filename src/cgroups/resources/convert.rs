//! runc's value conversions between the OCI fields and the cgroup files.

/// cpu shares (v1, 2..262144, default 1024) to cgroup2 `cpu.weight`
/// (1..10000, default 100). runc's current formula: a quadratic in
/// log2(shares) through (2, 1), (1024, 100) and (262144, 10000); 0 is
/// "unset". (runc before 1.3 used a linear map, giving 39 for 1024.)
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        s => {
            let l = (s as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// The OCI `memory.swap` (a v1 memory+swap limit) as cgroup2
/// `memory.swap.max` (swap alone), as runc computes it. 0 means "unset",
/// -1 "max".
pub fn swap_to_v2(swap: i64, memory: i64) -> Result<i64, String> {
    match (swap, memory) {
        (0, -1) => Ok(-1),
        (-1 | 0, _) => Ok(swap),
        (_, -1) => Ok(swap),
        (_, 0) => Err("unable to set swap limit without memory limit".into()),
        (_, m) if m < 0 => Err(format!("invalid memory value: {m}")),
        (s, m) if s < m => Err("memory+swap limit should be >= memory limit".into()),
        (s, m) => Ok(s - m),
    }
}

/// blkio weight (10..1000) to cgroup2 `io.weight` (1..10000); 0 is unset.
pub fn blkio_weight_to_io(weight: u16) -> u64 {
    if weight == 0 {
        0
    } else {
        1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
    }
}

/// A v2 limit file value: 0 is "unset" (`None`), -1 is `max`.
pub fn limit_str(v: i64) -> Option<String> {
    match v {
        0 => None,
        -1 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// `pids.max` for an OCI pids limit: a positive limit as is, a negative one
/// is `max`, and 0 (a valid limit per the spec) becomes 1 as in runc: the
/// init itself needs a slot, and systemd cannot express 0.
pub fn pids_max(limit: i64) -> String {
    match limit {
        l if l > 0 => l.to_string(),
        0 => "1".into(),
        _ => "max".into(),
    }
}

/// Parses cgroup2 `cpu.max` (`max 100000`, `50000 100000`) into (quota,
/// period) with `None` for `max`.
pub fn parse_cpu_max(s: &str) -> Option<(Option<u64>, u64)> {
    let mut it = s.split_whitespace();
    let quota = match it.next()? {
        "max" => None,
        q => Some(q.parse().ok()?),
    };
    let period = it.next().map_or(Some(100_000), |p| p.parse().ok())?;
    Some((quota, period))
}

/// Parses a limit file (`max` or a number) into `-1` or the number.
pub fn parse_limit(s: &str) -> Option<i64> {
    match s.trim() {
        "max" => Some(-1),
        v => v.parse().ok(),
    }
}

/// Whether a huge page size is a plain `<number><unit>B` (it becomes part of
/// a file name: nothing else may get there).
pub fn valid_page_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "KB" | "MB" | "GB" | "TB" | "PB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_weight_like_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1_000_000), 10_000);
        // monotonic
        let mut last = 0;
        for s in (2..262_144).step_by(997) {
            let w = shares_to_weight(s);
            assert!(w >= last && (1..=10_000).contains(&w));
            last = w;
        }
    }

    #[test]
    fn swap_like_runc() {
        assert_eq!(swap_to_v2(0, -1), Ok(-1));
        assert_eq!(swap_to_v2(-1, 100), Ok(-1));
        assert_eq!(swap_to_v2(0, 100), Ok(0));
        assert_eq!(swap_to_v2(300, -1), Ok(300));
        assert_eq!(swap_to_v2(300, 100), Ok(200));
        assert_eq!(swap_to_v2(100, 100), Ok(0));
        assert_eq!(
            swap_to_v2(50, 100),
            Err("memory+swap limit should be >= memory limit".into())
        );
        assert_eq!(
            swap_to_v2(50, 0),
            Err("unable to set swap limit without memory limit".into())
        );
        assert!(swap_to_v2(50, -7).is_err());
    }

    #[test]
    fn small_conversions() {
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(500), 4950);
        assert_eq!(blkio_weight_to_io(1000), 10_000);
        assert_eq!(limit_str(0), None);
        assert_eq!(limit_str(-1).as_deref(), Some("max"));
        assert_eq!(limit_str(4096).as_deref(), Some("4096"));
        assert_eq!(pids_max(10), "10");
        assert_eq!(pids_max(0), "1");
        assert_eq!(pids_max(-1), "max");
        assert_eq!(parse_cpu_max("max 100000"), Some((None, 100_000)));
        assert_eq!(parse_cpu_max("20000 50000"), Some((Some(20_000), 50_000)));
        assert_eq!(parse_limit("max"), Some(-1));
        assert_eq!(parse_limit("4096\n"), Some(4096));
        assert!(valid_page_size("2MB") && valid_page_size("64KB") && valid_page_size("1GB"));
        assert!(!valid_page_size("2M") && !valid_page_size("../x") && !valid_page_size("MB"));
    }
}
