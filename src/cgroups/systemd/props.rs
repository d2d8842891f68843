//! OCI resources and `org.systemd.property.*` annotations as systemd unit
//! properties (runc's conversions; `CPUWeight` uses berth's current
//! shares-to-weight formula, so 1024 becomes 100).

use oci_spec::runtime::LinuxResources;

use crate::cgroups::convert;
use crate::dbus::Value;

/// A unit property (name, value).
pub type Prop = (String, Value);

fn p(name: &str, v: Value) -> Prop {
    (name.to_string(), v)
}

/// A limit where -1 means "infinity" (u64::MAX for systemd).
fn limit(v: i64) -> u64 {
    if v < 0 { u64::MAX } else { v as u64 }
}

/// `CPUQuotaPerSecUSec` for an OCI quota/period: quota x 10^6 / period,
/// rounded up to a multiple of 10 ms as systemd stores it; `u64::MAX` when
/// there is no quota.
pub fn cpu_quota_per_sec(quota: i64, period: u64) -> u64 {
    let period = if period == 0 { 100_000 } else { period };
    if quota <= 0 {
        return u64::MAX;
    }
    let mut v = (quota as u64).saturating_mul(1_000_000) / period;
    if !v.is_multiple_of(10_000) {
        v = (v / 10_000 + 1) * 10_000;
    }
    v
}

/// A cpuset list (`0-2,4`) as systemd's byte-array bitmask (byte i holds
/// bits 8i..8i+7, lowest first).
pub fn list_to_bits(list: &str) -> Result<Vec<u8>, String> {
    let mut out: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let parse = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| format!("invalid cpuset list {list:?}"))
        };
        let (a, b) = (parse(a)?, parse(b)?);
        if a > b || b >= 65_536 {
            return Err(format!("invalid cpuset list {list:?}"));
        }
        for bit in a..=b {
            if out.len() <= bit / 8 {
                out.resize(bit / 8 + 1, 0);
            }
            out[bit / 8] |= 1 << (bit % 8);
        }
    }
    Ok(out)
}

/// Properties for the resources on a cgroup v2 host.
pub fn v2(r: &LinuxResources) -> Result<Vec<Prop>, String> {
    let mut out = vec![
        p("MemoryAccounting", Value::Bool(true)),
        p("CPUAccounting", Value::Bool(true)),
        p("IOAccounting", Value::Bool(true)),
        p("TasksAccounting", Value::Bool(true)),
    ];
    if let Some(m) = r.memory() {
        let (lim, swap) = (m.limit().unwrap_or(0), m.swap().unwrap_or(0));
        if lim != 0 {
            out.push(p("MemoryMax", Value::U64(limit(lim))));
        }
        if let Some(res) = m.reservation().filter(|&v| v != 0) {
            out.push(p("MemoryLow", Value::U64(limit(res))));
        }
        if swap != 0 {
            let s = convert::swap_to_v2(swap, lim)
                .map_err(|e| format!("linux.resources.memory.swap: {e}"))?;
            out.push(p("MemorySwapMax", Value::U64(limit(s))));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(w) = c
            .shares()
            .map(convert::shares_to_weight)
            .filter(|&w| w != 0)
        {
            out.push(p("CPUWeight", Value::U64(w)));
        }
        cpu_common(c, &mut out)?;
    }
    if let Some(l) = r.pids().as_ref().map(|p| p.limit()).filter(|&l| l != 0) {
        out.push(p("TasksMax", Value::U64(limit(l))));
    }
    if let Some(w) = r
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|&w| w != 0)
    {
        out.push(p("IOWeight", Value::U64(convert::blkio_weight_to_io(w))));
    }
    Ok(out)
}

/// Properties for the resources on a v1 or hybrid host.
pub fn v1(r: &LinuxResources) -> Result<Vec<Prop>, String> {
    let mut out = vec![
        p("MemoryAccounting", Value::Bool(true)),
        p("CPUAccounting", Value::Bool(true)),
        p("BlockIOAccounting", Value::Bool(true)),
        p("TasksAccounting", Value::Bool(true)),
    ];
    if let Some(l) = r
        .memory()
        .as_ref()
        .and_then(|m| m.limit())
        .filter(|&l| l != 0)
    {
        out.push(p("MemoryLimit", Value::U64(limit(l))));
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|&s| s != 0) {
            out.push(p("CPUShares", Value::U64(s)));
        }
        cpu_common(c, &mut out)?;
    }
    if let Some(l) = r.pids().as_ref().map(|p| p.limit()).filter(|&l| l != 0) {
        out.push(p("TasksMax", Value::U64(limit(l))));
    }
    if let Some(w) = r
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|&w| w != 0)
    {
        out.push(p("BlockIOWeight", Value::U64(u64::from(w))));
    }
    Ok(out)
}

fn cpu_common(c: &oci_spec::runtime::LinuxCpu, out: &mut Vec<Prop>) -> Result<(), String> {
    let (quota, period) = (c.quota().unwrap_or(0), c.period().unwrap_or(0));
    if quota != 0 || period != 0 {
        if period != 0 {
            out.push(p("CPUQuotaPeriodUSec", Value::U64(period)));
        }
        out.push(p(
            "CPUQuotaPerSecUSec",
            Value::U64(cpu_quota_per_sec(quota, period)),
        ));
    }
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        let b = list_to_bits(cpus).map_err(|e| format!("linux.resources.cpu.cpus: {e}"))?;
        out.push(p("AllowedCPUs", Value::bytes(&b)));
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        let b = list_to_bits(mems).map_err(|e| format!("linux.resources.cpu.mems: {e}"))?;
        out.push(p("AllowedMemoryNodes", Value::bytes(&b)));
    }
    Ok(())
}

/// The `org.systemd.property.<Name>` annotations as properties. Values are
/// GVariant text (`true`, `uint64 5`, `'text'`, `['a', 'b']`, a bare
/// number); `<Name>Sec` becomes `<Name>USec` with the value in
/// microseconds, as runc does.
pub fn annotations<'a>(
    it: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Vec<Prop>, String> {
    let mut out = Vec::new();
    let mut items: Vec<_> = it.into_iter().collect();
    items.sort();
    for (k, v) in items {
        let Some(name) = k.strip_prefix("org.systemd.property.") else {
            continue;
        };
        let bad = |m: &str| format!("annotation {k}={v:?}: {m}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad("not a systemd property name"));
        }
        let val = parse_gvariant(v).map_err(|m| bad(&m))?;
        if let Some(base) = name.strip_suffix("Sec").filter(|b| !b.ends_with('U')) {
            let secs = match &val {
                Value::U64(x) => *x as f64,
                Value::U32(x) => f64::from(*x),
                Value::I32(x) if *x >= 0 => f64::from(*x),
                Value::I64(x) if *x >= 0 => *x as f64,
                Value::Double(x) if *x >= 0.0 => *x,
                _ => return Err(bad("a ...Sec property needs a non-negative number")),
            };
            out.push((format!("{base}USec"), Value::U64((secs * 1e6) as u64)));
        } else {
            out.push((name.to_string(), val));
        }
    }
    Ok(out)
}

/// A small GVariant text parser for annotation values.
pub fn parse_gvariant(s: &str) -> Result<Value, String> {
    let s = s.trim();
    match s {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if let Some((ty, num)) = s
        .split_once(' ')
        .filter(|(t, _)| ["uint64", "uint32", "int64", "int32", "double", "string"].contains(t))
    {
        let num = num.trim();
        let e = || format!("invalid number {num:?}");
        return match ty {
            "uint64" => num.parse().map(Value::U64).map_err(|_| e()),
            "uint32" => num.parse().map(Value::U32).map_err(|_| e()),
            "int64" => num.parse().map(Value::I64).map_err(|_| e()),
            "int32" => num.parse().map(Value::I32).map_err(|_| e()),
            "double" => num.parse().map(Value::Double).map_err(|_| e()),
            "string" => parse_gvariant(num).and_then(|v| match v {
                Value::Str(_) => Ok(v),
                _ => Err("expected a quoted string".into()),
            }),
            _ => Err(format!("unsupported GVariant text {s:?}")),
        };
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let mut items = Vec::new();
        for part in inner.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            match parse_gvariant(part)? {
                Value::Str(x) => items.push(Value::Str(x)),
                _ => return Err("only arrays of strings are supported".into()),
            }
        }
        return Ok(Value::Array("s".into(), items));
    }
    for q in ['\'', '"'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return Ok(Value::str(&s[1..s.len() - 1]));
        }
    }
    if let Ok(i) = s.parse::<i32>() {
        return Ok(Value::I32(i));
    }
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Value::I64(i));
    }
    if let Ok(d) = s.parse::<f64>() {
        return Ok(Value::Double(d));
    }
    Err(format!("unsupported GVariant text {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn get<'a>(props: &'a [Prop], name: &str) -> Option<&'a Value> {
        props.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn quota() {
        assert_eq!(cpu_quota_per_sec(50_000, 100_000), 500_000);
        assert_eq!(cpu_quota_per_sec(12_345, 100_000), 130_000);
        assert_eq!(cpu_quota_per_sec(-1, 100_000), u64::MAX);
        assert_eq!(cpu_quota_per_sec(20_000, 0), 200_000);
    }

    #[test]
    fn bits() {
        assert_eq!(list_to_bits("0").unwrap(), vec![1]);
        assert_eq!(list_to_bits("0-2,9").unwrap(), vec![7, 2]);
        assert!(list_to_bits("3-1").is_err());
        assert!(list_to_bits("x").is_err());
    }

    #[test]
    fn v2_props() {
        let r = res(
            r#"{"memory":{"limit":104857600,"swap":209715200,"reservation":1048576},
            "cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"0"},
            "pids":{"limit":42},"blockIO":{"weight":500}}"#,
        );
        let ps = v2(&r).unwrap();
        assert_eq!(get(&ps, "MemoryMax"), Some(&Value::U64(104_857_600)));
        assert_eq!(get(&ps, "MemoryLow"), Some(&Value::U64(1_048_576)));
        assert_eq!(get(&ps, "MemorySwapMax"), Some(&Value::U64(104_857_600)));
        assert_eq!(get(&ps, "CPUWeight"), Some(&Value::U64(100)));
        assert_eq!(get(&ps, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(get(&ps, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert_eq!(get(&ps, "TasksMax"), Some(&Value::U64(42)));
        assert_eq!(get(&ps, "AllowedCPUs"), Some(&Value::bytes(&[1])));
        assert_eq!(get(&ps, "IOWeight"), Some(&Value::U64(4950)));
        let bad = res(r#"{"memory":{"swap":209715200}}"#);
        assert!(v2(&bad).unwrap_err().contains("memory.swap"));
        let unlimited = res(r#"{"memory":{"limit":-1},"pids":{"limit":-1}}"#);
        let ps = v2(&unlimited).unwrap();
        assert_eq!(get(&ps, "MemoryMax"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&ps, "TasksMax"), Some(&Value::U64(u64::MAX)));
    }

    #[test]
    fn v1_props() {
        let r =
            res(r#"{"memory":{"limit":1048576},"cpu":{"shares":512},"blockIO":{"weight":300}}"#);
        let ps = v1(&r).unwrap();
        assert_eq!(get(&ps, "MemoryLimit"), Some(&Value::U64(1_048_576)));
        assert_eq!(get(&ps, "CPUShares"), Some(&Value::U64(512)));
        assert_eq!(get(&ps, "BlockIOWeight"), Some(&Value::U64(300)));
    }

    #[test]
    fn annotation_props() {
        let a: HashMap<String, String> = [
            ("org.systemd.property.TimeoutStopSec", "uint64 5"),
            ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
            ("org.systemd.property.Wants", "['a.service', 'b.service']"),
            ("org.systemd.property.IgnoreSIGPIPE", "false"),
            ("other", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let ps = annotations(&a).unwrap();
        assert_eq!(ps.len(), 4);
        assert_eq!(get(&ps, "TimeoutStopUSec"), Some(&Value::U64(5_000_000)));
        assert_eq!(
            get(&ps, "CollectMode"),
            Some(&Value::str("inactive-or-failed"))
        );
        assert_eq!(
            get(&ps, "Wants"),
            Some(&Value::strs(&["a.service", "b.service"]))
        );
        assert_eq!(get(&ps, "IgnoreSIGPIPE"), Some(&Value::Bool(false)));
        let bad: HashMap<String, String> =
            [("org.systemd.property.X-Y".to_string(), "1".to_string())].into();
        assert!(annotations(&bad).is_err());
        let bad: HashMap<String, String> = [(
            "org.systemd.property.TimeoutSec".to_string(),
            "'x'".to_string(),
        )]
        .into();
        assert!(annotations(&bad).unwrap_err().contains("Sec"));
    }
}
