//! Device access rules: the config's `linux.resources.devices`, then the
//! devices runc always allows, then one rule per `linux.devices` entry.

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

/// One device cgroup rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// 'a' (all), 'c' or 'b'.
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

impl Rule {
    const fn char(major: i64, minor: Option<i64>) -> (char, Option<i64>, Option<i64>) {
        ('c', Some(major), minor)
    }

    /// The v1 `devices.allow`/`devices.deny` line, e.g. `c 1:3 rwm`.
    pub fn v1_line(&self) -> String {
        let num = |n: Option<i64>| n.map_or("*".to_string(), |v| v.to_string());
        if self.kind == 'a' {
            return "a".to_string();
        }
        format!(
            "{} {}:{} {}",
            self.kind,
            num(self.major),
            num(self.minor),
            self.access
        )
    }
}

fn kind_char(t: Option<LinuxDeviceType>) -> char {
    match t {
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
        Some(LinuxDeviceType::B) => 'b',
        Some(LinuxDeviceType::P) => 'p',
        Some(LinuxDeviceType::A) | None => 'a',
    }
}

/// The devices every container may use (runc's list): mknod of anything,
/// the standard character devices, ptys and `/dev/net/tun`.
pub fn default_rules() -> Vec<Rule> {
    let allow = |(kind, major, minor): (char, Option<i64>, Option<i64>), access: &str| Rule {
        allow: true,
        kind,
        major,
        minor,
        access: access.to_string(),
    };
    vec![
        allow(('c', None, None), "m"),
        allow(('b', None, None), "m"),
        allow(Rule::char(1, Some(3)), "rwm"),    // null
        allow(Rule::char(1, Some(8)), "rwm"),    // random
        allow(Rule::char(1, Some(7)), "rwm"),    // full
        allow(Rule::char(5, Some(0)), "rwm"),    // tty
        allow(Rule::char(1, Some(5)), "rwm"),    // zero
        allow(Rule::char(1, Some(9)), "rwm"),    // urandom
        allow(Rule::char(136, None), "rwm"),     // pts/*
        allow(Rule::char(5, Some(2)), "rwm"),    // ptmx
        allow(Rule::char(10, Some(200)), "rwm"), // net/tun
    ]
}

/// All rules for a container, in the order they are applied.
pub fn container_rules(resources: &[LinuxDeviceCgroup], devices: &[LinuxDevice]) -> Vec<Rule> {
    let mut out: Vec<Rule> = resources
        .iter()
        .map(|d| Rule {
            allow: d.allow(),
            kind: kind_char(d.typ()),
            major: d.major(),
            minor: d.minor(),
            access: d.access().clone().unwrap_or_else(|| "rwm".into()),
        })
        .collect();
    out.extend(default_rules());
    out.extend(devices.iter().map(|d| Rule {
        allow: true,
        kind: kind_char(Some(d.typ())),
        major: Some(d.major()),
        minor: Some(d.minor()),
        access: "rwm".into(),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_default_config_rules() {
        let deny: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).expect("rule");
        let rules = container_rules(&[deny], &[]);
        assert_eq!(rules[0].v1_line(), "a");
        assert!(!rules[0].allow);
        assert_eq!(rules[1].v1_line(), "c *:* m");
        assert!(rules.iter().any(|r| r.v1_line() == "c 1:3 rwm" && r.allow));
        assert!(rules.iter().any(|r| r.v1_line() == "c 136:* rwm"));
    }
}
