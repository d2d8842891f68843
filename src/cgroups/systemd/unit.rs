//! `linux.cgroupsPath` for the systemd driver: `slice:prefix:name`, the
//! unit name it gives, and where the unit's cgroup lies (systemd's dash rule
//! for nested slices).

/// A parsed systemd cgroups path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    /// The parent slice (`system.slice` when the path leaves it empty).
    pub slice: String,
    /// The unit to create: `<prefix>-<name>.scope`, or `name` when it ends
    /// in `.slice`.
    pub unit: String,
    /// The unit's cgroup below the hierarchy root, e.g.
    /// `/system.slice/berth-c1.scope`.
    pub cgroup: String,
}

impl UnitPath {
    /// Whether the unit is a slice (it then has no processes of its own
    /// from systemd's point of view and `Wants=` its parent).
    pub fn is_slice(&self) -> bool {
        self.unit.ends_with(".slice")
    }
}

/// The prefix berth uses for `:prefix:` when the config has no path (runc
/// uses `runc`).
pub const DEFAULT_PREFIX: &str = "berth";
/// The slice used when the path leaves it empty.
pub const DEFAULT_SLICE: &str = "system.slice";

/// The slice of a rootless container's unit (in the user's manager) when
/// the path leaves it empty, as runc's.
pub const USER_DEFAULT_SLICE: &str = "user.slice";

/// Parses `linux.cgroupsPath` (or its absence) for container `id`.
pub fn parse(path: Option<&str>, id: &str) -> Result<UnitPath, String> {
    parse_with(path, id, DEFAULT_SLICE)
}

/// [`parse`], with `default_slice` for a path that names none.
pub fn parse_with(path: Option<&str>, id: &str, default_slice: &str) -> Result<UnitPath, String> {
    let owned;
    let p = match path {
        Some(p) if !p.is_empty() => p,
        _ => {
            owned = format!(":{DEFAULT_PREFIX}:{id}");
            &owned
        }
    };
    let parts: Vec<&str> = p.split(':').collect();
    if parts.len() != 3 {
        return Err(format!(
            "linux.cgroupsPath {p:?}: expected \"slice:prefix:name\" for systemd cgroups"
        ));
    }
    let (slice, prefix, name) = (parts[0], parts[1], parts[2]);
    if name.is_empty() {
        return Err(format!(
            "linux.cgroupsPath {p:?}: the name part of \"slice:prefix:name\" is empty"
        ));
    }
    let slice = if slice.is_empty() {
        default_slice
    } else {
        slice
    };
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else {
        format!("{prefix}-{name}.scope")
    };
    check_unit_name(&unit).map_err(|m| format!("linux.cgroupsPath {p:?}: {m}"))?;
    let parent = expand_slice(slice).map_err(|m| format!("linux.cgroupsPath {p:?}: {m}"))?;
    let cgroup = if parent == "/" {
        format!("/{unit}")
    } else {
        format!("{parent}/{unit}")
    };
    Ok(UnitPath {
        slice: slice.to_string(),
        unit,
        cgroup,
    })
}

/// systemd's rule: `a-b-c.slice` lives at `/a.slice/a-b.slice/a-b-c.slice`;
/// `-.slice` is the root.
pub fn expand_slice(slice: &str) -> Result<String, String> {
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err(format!(
            "invalid slice name {slice:?}: must end in \".slice\""
        ));
    };
    if slice.contains('/') {
        return Err(format!("invalid slice name {slice:?}: contains '/'"));
    }
    if base == "-" {
        return Ok("/".into());
    }
    if base.is_empty() || base.starts_with('-') || base.ends_with('-') || base.contains("--") {
        return Err(format!(
            "invalid slice name {slice:?}: empty, or a '-' at an end or doubled"
        ));
    }
    let mut out = String::new();
    let mut prefix = String::new();
    for comp in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(comp);
        out.push('/');
        out.push_str(&prefix);
        out.push_str(".slice");
    }
    Ok(out)
}

/// The characters systemd accepts in a unit name (`unit_name_is_valid`):
/// ASCII letters, digits, `:-_.\@`, at most 255 bytes.
fn check_unit_name(unit: &str) -> Result<(), String> {
    if unit.len() > 255 {
        return Err(format!("unit name {unit:?} is longer than 255 bytes"));
    }
    if let Some(c) = unit
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ":-_.\\@".contains(*c)))
    {
        return Err(format!(
            "unit name {unit:?}: character {c:?} is not allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_path_is_berth_scope_in_system_slice() {
        let u = parse(None, "c1").unwrap();
        assert_eq!(u.slice, "system.slice");
        assert_eq!(u.unit, "berth-c1.scope");
        assert_eq!(u.cgroup, "/system.slice/berth-c1.scope");
        assert_eq!(parse(Some(""), "c1").unwrap(), u);
    }

    #[test]
    fn caller_shapes() {
        let u = parse(
            Some("kubepods-burstable-pod12ab.slice:cri-containerd:abc"),
            "x",
        )
        .unwrap();
        assert_eq!(u.unit, "cri-containerd-abc.scope");
        assert_eq!(
            u.cgroup,
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12ab.slice/cri-containerd-abc.scope"
        );
        let u = parse(Some("machine.slice:libpod:abc"), "x").unwrap();
        assert_eq!(u.cgroup, "/machine.slice/libpod-abc.scope");
        assert!(!u.is_slice());
    }

    #[test]
    fn slice_name_is_the_unit() {
        let u = parse(Some("a.slice:p:a-b.slice"), "x").unwrap();
        assert_eq!(u.unit, "a-b.slice");
        assert!(u.is_slice());
        assert_eq!(u.cgroup, "/a.slice/a-b.slice");
        let u = parse(Some("-.slice:p:n"), "x").unwrap();
        assert_eq!(u.cgroup, "/p-n.scope");
    }

    #[test]
    fn bad_paths() {
        for p in ["a", "a:b", "a:b:c:d", "/x/y"] {
            let e = parse(Some(p), "x").unwrap_err();
            assert!(e.contains("slice:prefix:name"), "{p}: {e}");
        }
        assert!(
            parse(Some("system:p:n"), "x")
                .unwrap_err()
                .contains(".slice")
        );
        assert!(parse(Some("a--b.slice:p:n"), "x").is_err());
        assert!(parse(Some("-a.slice:p:n"), "x").is_err());
        assert!(parse(Some("a/b.slice:p:n"), "x").is_err());
        assert!(parse(Some("system.slice:p:"), "x").is_err());
        assert!(parse(Some("system.slice:p:n/m"), "x").is_err());
    }

    #[test]
    fn expand() {
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        assert_eq!(expand_slice("a.slice").unwrap(), "/a.slice");
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            "/a.slice/a-b.slice/a-b-c.slice"
        );
    }
}
