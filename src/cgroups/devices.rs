//! Device access rules, with runc's semantics on both cgroup versions.
//!
//! The rules are `linux.resources.devices` followed by the devices every
//! container may use (runc's list). They are replayed on an [`Emulator`] of
//! the v1 devices controller, starting from *deny all*: an `a` rule resets
//! it to allow-all or deny-all, other rules add or remove exceptions. The
//! emulator's final state is what both versions enforce: on v1 it becomes
//! the `devices.allow`/`devices.deny` writes that move the cgroup from its
//! current `devices.list` to that state; on v2 it becomes the eBPF program
//! (see `bpf.rs`). `linux.devices` entries get no implicit rule (as in runc):
//! a config that creates a device node must also allow it. A FIFO (`p`)
//! never has a rule: the kernel checks the device cgroup only for block and
//! character devices (their mknod and open), so a FIFO in `linux.devices`
//! needs none, and `p` in `linux.resources.devices` is refused by name
//! (runc refuses it too: v1 rejects a `p` rule with EINVAL).
//!
//! The emulator keeps its exceptions in the kernel's order: a new one is
//! appended, an existing one changes in place. Replayed on a fresh cgroup,
//! the rules therefore show up in `devices.list` in the order the config
//! lists them (runtime-spec: "entries in the listed order").
//!
//! Pure: unit-tested here.

use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::{CgroupError, Result};

/// Device type of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `a`: every device, both types.
    All,
    Block,
    Char,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Self::All => 'a',
            Self::Block => 'b',
            Self::Char => 'c',
        }
    }
}

/// A set of access modes (`r`, `w`, `m`), with the kernel's BPF bit values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access(pub u8);

impl Access {
    pub const MKNOD: u8 = 1;
    pub const READ: u8 = 2;
    pub const WRITE: u8 = 4;
    pub const ALL: Access = Access(7);

    /// Parses `rwm` letters; `None` on an unknown letter.
    pub fn parse(s: &str) -> Option<Self> {
        let mut bits = 0;
        for c in s.chars() {
            bits |= match c {
                'r' => Self::READ,
                'w' => Self::WRITE,
                'm' => Self::MKNOD,
                _ => return None,
            };
        }
        Some(Self(bits))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn union(self, o: Self) -> Self {
        Self(self.0 | o.0)
    }

    fn minus(self, o: Self) -> Self {
        Self(self.0 & !o.0)
    }

    fn intersects(self, o: Self) -> bool {
        self.0 & o.0 != 0
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [(Self::READ, 'r'), (Self::WRITE, 'w'), (Self::MKNOD, 'm')] {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One device cgroup rule; `None` numbers are wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: Access,
}

impl Rule {
    const fn allow(kind: Kind, major: Option<u32>, minor: Option<u32>, access: u8) -> Self {
        Self {
            allow: true,
            kind,
            major,
            minor,
            access: Access(access),
        }
    }

    /// The v1 `devices.allow`/`devices.deny` line, e.g. `c 1:3 rwm`.
    pub fn v1_line(&self) -> String {
        let num = |n: Option<u32>| n.map_or("*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.kind.letter(),
            num(self.major),
            num(self.minor),
            self.access
        )
    }
}

const RWM: u8 = 7;

/// The devices every container may use (runc's list): mknod of any device,
/// null, random, full, tty, zero, urandom, the ptys, ptmx and `/dev/net/tun`.
pub fn default_rules() -> Vec<Rule> {
    vec![
        Rule::allow(Kind::Char, None, None, Access::MKNOD),
        Rule::allow(Kind::Block, None, None, Access::MKNOD),
        Rule::allow(Kind::Char, Some(1), Some(3), RWM),
        Rule::allow(Kind::Char, Some(1), Some(8), RWM),
        Rule::allow(Kind::Char, Some(1), Some(7), RWM),
        Rule::allow(Kind::Char, Some(5), Some(0), RWM),
        Rule::allow(Kind::Char, Some(1), Some(5), RWM),
        Rule::allow(Kind::Char, Some(1), Some(9), RWM),
        Rule::allow(Kind::Char, Some(136), None, RWM),
        Rule::allow(Kind::Char, Some(5), Some(2), RWM),
        Rule::allow(Kind::Char, Some(10), Some(200), RWM),
    ]
}

fn invalid(i: usize, field: &str, msg: String) -> CgroupError {
    CgroupError::Unsupported {
        field: format!("linux.resources.devices[{i}].{field}"),
        msg,
    }
}

fn number(i: usize, field: &str, v: Option<i64>) -> Result<Option<u32>> {
    match v {
        None => Ok(None),
        // runc stores a missing number as -1; treat any negative one alike.
        Some(n) if n < 0 => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| invalid(i, field, format!("{n} is out of range"))),
    }
}

/// The rules of `linux.resources.devices` (validated), then the defaults.
pub fn container_rules(resources: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    let mut out = Vec::with_capacity(resources.len() + 11);
    for (i, d) in resources.iter().enumerate() {
        let kind = match d.typ() {
            None | Some(LinuxDeviceType::A) => Kind::All,
            Some(LinuxDeviceType::B) => Kind::Block,
            Some(LinuxDeviceType::C) => Kind::Char,
            Some(t) => {
                return Err(invalid(
                    i,
                    "type",
                    format!("{:?} is not a cgroup device type (a, b or c)", t.as_str()),
                ));
            }
        };
        let text = d.access().as_deref().unwrap_or("");
        let access = Access::parse(text)
            .ok_or_else(|| invalid(i, "access", format!("{text:?}: only r, w and m")))?;
        if access.is_empty() {
            return Err(invalid(i, "access", "must not be empty".into()));
        }
        out.push(Rule {
            allow: d.allow(),
            kind,
            major: number(i, "major", d.major())?,
            minor: number(i, "minor", d.minor())?,
            access,
        });
    }
    out.extend(default_rules());
    Ok(out)
}

/// Key of an exception: (major, minor, type).
type Key = (Option<u32>, Option<u32>, Kind);

/// The exceptions of a devices cgroup, in the kernel's list order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Exceptions(Vec<(Key, Access)>);

impl Exceptions {
    fn get(&self, key: &Key) -> Option<Access> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, a)| *a)
    }

    /// Sets `key`'s access: in place if it is listed (emptied: removed),
    /// appended otherwise, as the kernel's exception list does.
    fn set(&mut self, key: Key, access: Access) {
        match self.0.iter().position(|(k, _)| *k == key) {
            Some(i) if access.is_empty() => {
                self.0.remove(i);
            }
            Some(i) => self.0[i].1 = access,
            None if access.is_empty() => {}
            None => self.0.push((key, access)),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &(Key, Access)> {
        self.0.iter()
    }
}

/// The state of a v1 devices cgroup: a default policy plus exceptions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Emulator {
    /// `true`: allow-list mode is off, everything not excepted is allowed.
    pub default_allow: bool,
    rules: Exceptions,
}

impl Emulator {
    /// A cgroup that denies everything.
    pub fn deny_all() -> Self {
        Self::default()
    }

    /// Replays `rules` from deny-all.
    pub fn from_rules(rules: &[Rule]) -> Result<Self> {
        let mut e = Self::deny_all();
        for r in rules {
            e.apply(r)?;
        }
        Ok(e)
    }

    /// Reads a v1 `devices.list`. An allow-all cgroup lists `a *:* rwm`;
    /// its deny exceptions cannot be seen, so it is taken as allow-all.
    pub fn from_list(list: &str) -> Result<Self> {
        let mut e = Self::deny_all();
        for line in list.lines().filter(|l| !l.trim().is_empty()) {
            let rule = parse_list_line(line).ok_or_else(|| CgroupError::Unsupported {
                field: "devices.list".into(),
                msg: format!("cannot parse line {line:?}"),
            })?;
            e.apply(&rule)?;
        }
        Ok(e)
    }

    /// Applies one rule as the v1 controller would.
    pub fn apply(&mut self, r: &Rule) -> Result<()> {
        if r.kind == Kind::All {
            *self = Self {
                default_allow: r.allow,
                rules: Exceptions::default(),
            };
            return Ok(());
        }
        let key = (r.major, r.minor, r.kind);
        // An allow in allow-list mode (or a deny in deny-list mode) adds an
        // exception; the opposite removes one.
        if r.allow != self.default_allow {
            let cur = self.rules.get(&key).unwrap_or_default();
            self.rules.set(key, cur.union(r.access));
            Ok(())
        } else {
            self.remove(key, r.access)
        }
    }

    fn remove(&mut self, key: Key, access: Access) -> Result<()> {
        // v1 silently ignores removing part of a wildcard exception; refuse
        // it rather than leave access the config meant to remove.
        let (major, minor, kind) = key;
        for partial in [(None, minor, kind), (major, None, kind), (None, None, kind)] {
            if partial == key {
                continue;
            }
            if let Some(p) = self.rules.get(&partial)
                && p.intersects(access)
            {
                return Err(CgroupError::Unsupported {
                    field: "linux.resources.devices".into(),
                    msg: format!(
                        "rule {} cannot punch a hole in the wildcard rule {}",
                        rule_of(key, access, false).v1_line(),
                        rule_of(partial, p, false).v1_line()
                    ),
                });
            }
        }
        if let Some(cur) = self.rules.get(&key) {
            self.rules.set(key, cur.minus(access));
        }
        Ok(())
    }

    /// The exceptions, in the kernel's list order; each is an allow rule in
    /// deny-all mode and a deny rule in allow-all mode.
    pub fn exceptions(&self) -> Vec<Rule> {
        self.rules
            .iter()
            .map(|(k, a)| rule_of(*k, *a, !self.default_allow))
            .collect()
    }

    /// The fewest rules that move a cgroup in state `self` to `target`.
    /// A disruptive `a` rule is used only when the default policy changes,
    /// or when `self` is allow-all (whose exceptions cannot be known); then
    /// the target's exceptions follow in its order.
    pub fn transition(&self, target: &Emulator) -> Vec<Rule> {
        let mut out = Vec::new();
        let empty = Exceptions::default();
        let old = if self.default_allow || self.default_allow != target.default_allow {
            out.push(Rule {
                allow: target.default_allow,
                kind: Kind::All,
                major: None,
                minor: None,
                access: Access::ALL,
            });
            &empty
        } else {
            &self.rules
        };
        for (k, a) in old.iter() {
            let dropped = a.minus(target.rules.get(k).unwrap_or_default());
            if !dropped.is_empty() {
                out.push(rule_of(*k, dropped, target.default_allow));
            }
        }
        for (k, a) in target.rules.iter() {
            let gained = a.minus(old.get(k).unwrap_or_default());
            if !gained.is_empty() {
                out.push(rule_of(*k, gained, !target.default_allow));
            }
        }
        out
    }

    /// Whether an access of `access` to device `kind major:minor` is
    /// allowed, by the v1 controller's rule: in allow-list mode one
    /// exception must grant every requested bit; in deny-list mode any
    /// exception covering one of them denies. (The model the BPF program
    /// is checked against.)
    #[cfg(test)]
    pub fn allows(&self, kind: Kind, major: u32, minor: u32, access: Access) -> bool {
        let mut matching = self.rules.iter().filter(|((ma, mi, k), _)| {
            *k == kind && ma.is_none_or(|m| m == major) && mi.is_none_or(|m| m == minor)
        });
        if self.default_allow {
            !matching.any(|(_, a)| a.intersects(access))
        } else {
            matching.any(|(_, a)| access.minus(*a).is_empty())
        }
    }
}

fn rule_of(key: Key, access: Access, allow: bool) -> Rule {
    Rule {
        allow,
        kind: key.2,
        major: key.0,
        minor: key.1,
        access,
    }
}

/// Parses one `devices.list` line (`c 1:3 rwm`, `a *:* rwm`) as an allow rule.
fn parse_list_line(line: &str) -> Option<Rule> {
    let mut parts = line.split_whitespace();
    let kind = match parts.next()? {
        "a" => Kind::All,
        "b" => Kind::Block,
        "c" => Kind::Char,
        _ => return None,
    };
    let (ma, mi) = parts.next()?.split_once(':')?;
    let num = |s: &str| -> Option<Option<u32>> {
        if s == "*" {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    Some(Rule {
        allow: true,
        kind,
        major: num(ma)?,
        minor: num(mi)?,
        access: Access::parse(parts.next()?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).expect("rules")
    }

    fn lines(rules: &[Rule]) -> Vec<String> {
        rules
            .iter()
            .map(|r| format!("{} {}", if r.allow { "allow" } else { "deny" }, r.v1_line()))
            .collect()
    }

    #[test]
    fn runc_default_config() {
        let rules = container_rules(&cfg(r#"[{"allow":false,"access":"rwm"}]"#)).expect("ok");
        let e = Emulator::from_rules(&rules).expect("emulate");
        assert!(!e.default_allow);
        let c = |ma, mi, a: &str| e.allows(Kind::Char, ma, mi, Access::parse(a).unwrap());
        assert!(c(1, 3, "rw"));
        assert!(c(136, 7, "rwm"));
        assert!(c(4, 1, "m"), "mknod of anything");
        assert!(!c(4, 1, "r"), "tty1 is not listed");
        assert!(!c(1, 11, "w"), "kmsg is not listed");
        assert!(!e.allows(Kind::Block, 8, 0, Access(Access::READ)));
        // From a fresh v1 cgroup (allow-all), the writes are deny-all then
        // one allow per exception, in the order of the rules.
        let writes = lines(&Emulator::from_list("a *:* rwm\n").unwrap().transition(&e));
        assert_eq!(writes[0], "deny a *:* rwm");
        assert_eq!(writes[1], "allow c *:* m");
        assert_eq!(writes[2], "allow b *:* m");
        assert_eq!(writes[9], "allow c 136:* rwm");
        assert_eq!(writes.len(), 12);
    }

    #[test]
    fn exceptions_keep_the_listed_order() {
        // runtime-tools' linux_cgroups_devices: devices.list must show the
        // config's rules first, in the config's order.
        let rules = container_rules(&cfg(r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":10,"minor":229,"access":"rwm"},
                {"allow":true,"type":"b","major":8,"minor":20,"access":"rw"},
                {"allow":true,"type":"b","major":10,"minor":200,"access":"r"}]"#))
        .unwrap();
        let e = Emulator::from_rules(&rules).unwrap();
        let writes = lines(&Emulator::from_list("a *:* rwm\n").unwrap().transition(&e));
        assert_eq!(
            writes[..5],
            [
                "deny a *:* rwm",
                "allow c 10:229 rwm",
                "allow b 8:20 rw",
                "allow b 10:200 r",
                "allow c *:* m"
            ]
        );
        // As in the kernel's list: more access for a listed device changes
        // it in place; a device removed and allowed again goes last.
        let mut e = Emulator::from_list("c 1:3 r\nc 1:5 r\n").unwrap();
        e.apply(&Rule::allow(Kind::Char, Some(1), Some(3), Access::WRITE))
            .unwrap();
        assert_eq!(lines(&e.exceptions()), ["allow c 1:3 rw", "allow c 1:5 r"]);
        let deny = Rule {
            allow: false,
            ..Rule::allow(Kind::Char, Some(1), Some(3), RWM)
        };
        e.apply(&deny).unwrap();
        e.apply(&Rule::allow(Kind::Char, Some(1), Some(3), Access::READ))
            .unwrap();
        assert_eq!(lines(&e.exceptions()), ["allow c 1:5 r", "allow c 1:3 r"]);
    }

    #[test]
    fn fifo_rules_are_refused_by_name() {
        // A FIFO is not a cgroup device type (v1 answers EINVAL): refused
        // in linux.resources.devices, as runc does ("invalid cgroup device
        // type").
        let e = container_rules(&cfg(
            r#"[{"allow":true,"type":"p","major":8,"minor":666,"access":"rwm"}]"#,
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            r#"linux.resources.devices[0].type: "p" is not a cgroup device type (a, b or c)"#
        );
    }

    #[test]
    fn no_rules_still_denies_unlisted_devices() {
        // runc starts from deny-all even when the config has no rules.
        let e = Emulator::from_rules(&container_rules(&[]).unwrap()).unwrap();
        assert!(!e.default_allow);
        assert!(!e.allows(Kind::Char, 1, 11, Access(Access::READ)));
        assert!(e.allows(Kind::Char, 1, 3, Access(Access::WRITE)));
    }

    #[test]
    fn allow_all_then_deny_one() {
        let rules = container_rules(&cfg(
            r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":11,"access":"rw"}]"#,
        ))
        .unwrap();
        let e = Emulator::from_rules(&rules).unwrap();
        assert!(e.default_allow);
        assert!(!e.allows(Kind::Char, 1, 11, Access(Access::WRITE)));
        assert!(e.allows(Kind::Char, 1, 11, Access(Access::MKNOD)));
        assert!(e.allows(Kind::Block, 8, 0, Access::ALL));
        // The defaults come last, so they re-allow what the config denied
        // among them (runc's order).
        let rules = container_rules(&cfg(
            r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#,
        ))
        .unwrap();
        let e = Emulator::from_rules(&rules).unwrap();
        assert!(e.allows(Kind::Char, 1, 3, Access(Access::WRITE)));
        let e2 = Emulator::from_rules(&rules[..2]).unwrap();
        assert!(!e2.allows(Kind::Char, 1, 3, Access(Access::WRITE)));
        // Leaving a deny-list always starts with a disruptive rule.
        let t = e2.transition(&Emulator::deny_all());
        assert_eq!(lines(&t), vec!["deny a *:* rwm"]);
    }

    #[test]
    fn holes_in_wildcards_are_refused() {
        let e = container_rules(&cfg(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","access":"rwm"},{"allow":false,"type":"c","major":1,"minor":3,"access":"r"}]"#,
        ))
        .and_then(|r| Emulator::from_rules(&r))
        .expect_err("refused")
        .to_string();
        assert!(e.contains("cannot punch a hole"), "{e}");
    }

    #[test]
    fn bad_rules_name_the_field() {
        let e = container_rules(&cfg(r#"[{"allow":true,"access":""}]"#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.devices[0].access: must not be empty"
        );
        let e = container_rules(&cfg(r#"[{"allow":true,"access":"rwx"}]"#)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.devices[0].access")
        );
        let e = container_rules(&cfg(r#"[{"allow":true,"type":"p","access":"r"}]"#)).unwrap_err();
        assert!(e.to_string().starts_with("linux.resources.devices[0].type"));
        let e = container_rules(&cfg(
            r#"[{"allow":true,"type":"c","major":5000000000,"access":"r"}]"#,
        ))
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.devices[0].major")
        );
    }
}
