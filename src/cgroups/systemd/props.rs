//! OCI resources and `org.systemd.property.*` annotations as systemd unit
//! properties (runc's conversions; `CPUWeight` uses berth's current
//! shares-to-weight formula, so 1024 becomes 100).

use oci_spec::runtime::LinuxResources;

use crate::cgroups::convert;
use crate::cgroups::devices::{Emulator, Kind};
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

/// A name `/proc/devices` gives major `major` of `kind` that no other
/// major has (systemd's `char-NAME` allows every major of that name).
fn device_group(proc_devices: &str, kind: Kind, major: u32) -> Option<String> {
    let head = match kind {
        Kind::Char => "Character devices:",
        Kind::Block => "Block devices:",
        Kind::All => return None,
    };
    let mut section = false;
    let mut entries = Vec::new();
    for line in proc_devices.lines() {
        if line.ends_with(':') {
            section = line.trim() == head;
            continue;
        }
        if !section {
            continue;
        }
        let mut it = line.split_whitespace();
        if let (Some(m), Some(n), None) = (it.next(), it.next(), it.next())
            && let Ok(m) = m.parse::<u32>()
        {
            entries.push((m, n));
        }
    }
    // A name of this major that no other major has (systemd matches the
    // name against every line), without glob characters; one without a
    // `/` first (`tty` rather than `/dev/vc/0`).
    let mut names: Vec<&str> = entries
        .iter()
        .filter(|(m, n)| {
            *m == major
                && !n.contains(['*', '?', '[', '\\'])
                && entries.iter().all(|(m2, n2)| n2 != n || *m2 == major)
        })
        .map(|(_, n)| *n)
        .collect();
    names.sort_by_key(|n| n.contains('/'));
    names.first().map(|n| n.to_string())
}

/// The device rules (the emulator's final state: the config's rules, then
/// runc's defaults) as `DevicePolicy` and `DeviceAllow` (runc's
/// conversion), so that systemd, which rewrites the unit's device access
/// whenever it re-applies the unit's cgroup (`systemctl daemon-reload`),
/// writes the same rules and never widens them. Returns the properties and
/// a warning when systemd cannot express the rules exactly.
///
/// - `c *:* m` → `char-*`, `c 136:* rwm` → `char-<name in /proc/devices>`,
///   `c 1:3 rwm` → `/dev/char/1:3` (systemd ≥ 240 parses it, no stat).
/// - allow-all → `DevicePolicy=auto` and no entries (systemd allows all).
/// - what systemd cannot say (a deny list, `*:N`, a major without a
///   unique name): on v1, runc's choice, `strict` with the expressible
///   entries only (after a reload the container may lose access, never
///   gain it). On v2 berth's own BPF program (which systemd never detaches)
///   enforces the exact rules, so `auto` with no entries keeps systemd from
///   adding a program that would deny more.
pub fn devices(emu: &Emulator, unified: bool, proc_devices: &str) -> (Vec<Prop>, Option<String>) {
    let policy = |p: &str, entries: Vec<Value>| {
        vec![
            ("DevicePolicy".to_string(), Value::str(p)),
            (
                "DeviceAllow".to_string(),
                Value::Array("(ss)".into(), entries),
            ),
        ]
    };
    let exceptions = emu.exceptions();
    if emu.default_allow {
        if exceptions.is_empty() {
            return (policy("auto", Vec::new()), None);
        }
        let w = "systemd cannot express deny-list device rules";
        return if unified {
            (
                policy("auto", Vec::new()),
                Some(format!("{w}: berth's device program enforces them")),
            )
        } else {
            (
                policy("strict", Vec::new()),
                Some(format!(
                    "{w}: the unit denies every device (runc's fallback); berth's rules apply until systemd re-applies the unit"
                )),
            )
        };
    }
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for r in &exceptions {
        let (kind, prefix) = match r.kind {
            Kind::Char => ("char", "/dev/char"),
            Kind::Block => ("block", "/dev/block"),
            Kind::All => continue,
        };
        let path = match (r.major, r.minor) {
            (None, None) => Some(format!("{kind}-*")),
            (None, Some(_)) => None,
            (Some(ma), None) => {
                device_group(proc_devices, r.kind, ma).map(|n| format!("{kind}-{n}"))
            }
            (Some(ma), Some(mi)) => Some(format!("{prefix}/{ma}:{mi}")),
        };
        match path {
            Some(p) => entries.push(Value::Struct(vec![
                Value::str(p),
                Value::str(r.access.to_string()),
            ])),
            None => skipped.push(r.v1_line()),
        }
    }
    if skipped.is_empty() {
        return (policy("strict", entries), None);
    }
    let w = format!(
        "systemd cannot express the device rules {}",
        skipped.join(", ")
    );
    if unified {
        (
            policy("auto", Vec::new()),
            Some(format!("{w}: berth's device program enforces them")),
        )
    } else {
        (
            policy("strict", entries),
            Some(format!(
                "{w}: the unit omits them (runc's fallback); berth's rules apply until systemd re-applies the unit"
            )),
        )
    }
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

    const PROC_DEVICES: &str = "Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  8 sd\n 65 sd\n  7 loop\n";

    fn dev_props(json: &str, unified: bool) -> (Vec<Prop>, Option<String>) {
        let rules = crate::cgroups::devices::container_rules(
            &serde_json::from_str::<Vec<_>>(json).unwrap(),
        )
        .unwrap();
        devices(
            &Emulator::from_rules(&rules).unwrap(),
            unified,
            PROC_DEVICES,
        )
    }

    fn allow_list(ps: &[Prop]) -> Vec<(String, String)> {
        match get(ps, "DeviceAllow") {
            Some(Value::Array(sig, items)) => {
                assert_eq!(sig, "(ss)");
                items
                    .iter()
                    .map(|i| match i {
                        Value::Struct(v) => (
                            v[0].as_str().unwrap().to_string(),
                            v[1].as_str().unwrap().to_string(),
                        ),
                        other => panic!("{other:?}"),
                    })
                    .collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn device_props() {
        for unified in [false, true] {
            let (ps, w) = dev_props(
                r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":42,"minor":0,"access":"rw"}]"#,
                unified,
            );
            assert!(w.is_none());
            assert_eq!(get(&ps, "DevicePolicy"), Some(&Value::str("strict")));
            let l = allow_list(&ps);
            let has = |p: &str, a: &str| l.contains(&(p.to_string(), a.to_string()));
            assert_eq!(l[0], ("/dev/char/42:0".to_string(), "rw".to_string()));
            assert!(has("char-*", "m") && has("block-*", "m"), "{l:?}");
            assert!(
                has("/dev/char/1:3", "rwm") && has("char-pts", "rwm"),
                "{l:?}"
            );
            assert_eq!(l.len(), 12, "{l:?}");
            // Allow-all (privileged): systemd's auto with no entries.
            let (ps, w) = dev_props(r#"[{"allow":true,"access":"rwm"}]"#, unified);
            assert!(w.is_none());
            assert_eq!(get(&ps, "DevicePolicy"), Some(&Value::str("auto")));
            assert!(allow_list(&ps).is_empty());
        }
        // A deny list: deny-all on v1 (runc), berth's program alone on v2.
        let deny = r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":1,"access":"rwm"}]"#;
        let (ps, w) = dev_props(deny, false);
        assert!(w.is_some());
        assert_eq!(get(&ps, "DevicePolicy"), Some(&Value::str("strict")));
        assert!(allow_list(&ps).is_empty());
        let (ps, w) = dev_props(deny, true);
        assert!(w.is_some());
        assert_eq!(get(&ps, "DevicePolicy"), Some(&Value::str("auto")));
        // `*:N` and a major whose name is shared (sd: 8 and 65) are left out
        // on v1 (narrower), and leave v2 to berth's program.
        let odd = r#"[{"allow":true,"type":"c","minor":5,"access":"r"},{"allow":true,"type":"b","major":8,"access":"r"},{"allow":true,"type":"b","major":7,"access":"r"},{"allow":true,"type":"c","major":4,"access":"r"}]"#;
        let (ps, w) = dev_props(odd, false);
        let w = w.unwrap();
        assert!(w.contains("c *:5 r") && w.contains("b 8:* r"), "{w}");
        let l = allow_list(&ps);
        assert_eq!(l[0], ("block-loop".to_string(), "r".to_string()));
        assert_eq!(l[1], ("char-tty".to_string(), "r".to_string()));
        assert!(!l.iter().any(|(p, _)| p.contains("sd")), "{l:?}");
        let (ps, w) = dev_props(odd, true);
        assert!(w.is_some());
        assert_eq!(get(&ps, "DevicePolicy"), Some(&Value::str("auto")));
        assert_eq!(
            device_group(PROC_DEVICES, Kind::Char, 136).as_deref(),
            Some("pts")
        );
        assert_eq!(
            device_group(PROC_DEVICES, Kind::Char, 4).as_deref(),
            Some("tty")
        );
        assert_eq!(device_group(PROC_DEVICES, Kind::Block, 8), None);
        assert_eq!(device_group(PROC_DEVICES, Kind::Block, 99), None);
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
