//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup
//! is a transient unit that systemd creates (a scope holding the init, or a
//! slice), named from `linux.cgroupsPath` in `slice:prefix:name` form. The
//! cgroup files are then handled by the cgroupfs manager of the unit's
//! cgroup, for what systemd has no property for and for everything that
//! only reads (ps, events, pause). See `docs/cgroups.md`.

pub mod props;
pub mod unit;

use std::cell::RefCell;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::devices::{Emulator, container_rules};
use super::{
    CGROUP_ROOT, CgroupError, CgroupRecord, Manager, Mode, OomWatch, Request, Result, Stats, v1, v2,
};
use crate::dbus::{Conn, DbusError, Value};

/// Every D-Bus call and job wait gives up after this.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Test hook: a socket berth uses as the system bus instead of the real
/// one (systemd is then taken as running), to test a bus that never
/// answers (`tests/systemd_bus.rs`).
pub const TEST_BUS_ENV: &str = "BERTH_TEST_SYSTEMD_BUS";
/// Test hook: the D-Bus timeout in seconds instead of 30.
pub const TEST_TIMEOUT_ENV: &str = "BERTH_TEST_DBUS_TIMEOUT";

fn test_bus() -> Option<std::path::PathBuf> {
    std::env::var_os(TEST_BUS_ENV).map(Into::into)
}

fn timeout() -> Duration {
    std::env::var(TEST_TIMEOUT_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(TIMEOUT, Duration::from_secs)
}
const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MGR: &str = "org.freedesktop.systemd1.Manager";

/// Whether systemd is PID 1 (`sd_booted()`: `/run/systemd/system` exists).
pub fn booted() -> bool {
    Path::new("/run/systemd/system").is_dir() || test_bus().is_some()
}

fn err(e: impl std::fmt::Display) -> CgroupError {
    CgroupError::Systemd(e.to_string())
}

/// A connection to systemd: as root its private socket (as `systemctl`
/// and runc use it), else the system bus. One per operation.
struct Bus {
    conn: Conn,
    /// Empty on the private socket (a direct connection: no bus daemon,
    /// no destination).
    dest: &'static str,
}

/// Whether berth talks to the calling user's systemd manager (rootless:
/// not root, or root only of a user namespace, as under rootless podman)
/// instead of the system's. Decided from the caller's identity by every
/// command alike, so later commands find the unit where `create` made it.
pub fn user_manager() -> bool {
    !nix::unistd::geteuid().is_root()
        || std::fs::read_to_string("/proc/self/uid_map")
            .is_ok_and(|m| !crate::ops::is_initial_map(&m))
}

/// The user bus: `$DBUS_SESSION_BUS_ADDRESS` (its first `unix:path=`),
/// else `$XDG_RUNTIME_DIR/bus`.
fn user_bus_path(address: Option<&str>, runtime_dir: Option<&str>) -> Option<PathBuf> {
    let from_address = address.and_then(|a| {
        a.split(';').find_map(|part| {
            part.strip_prefix("unix:")?
                .split(',')
                .find_map(|kv| kv.strip_prefix("path="))
                .map(PathBuf::from)
        })
    });
    from_address.or_else(|| {
        runtime_dir
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join("bus"))
    })
}

impl Bus {
    /// Connects and subscribes to the job signals: for a caller that
    /// waits for a job.
    fn open() -> Result<Bus> {
        Self::subscribe(Self::connect()?)
    }

    /// Connects only (authentication, and `Hello` on a message bus).
    fn connect() -> Result<Bus> {
        if user_manager() {
            let address = std::env::var("DBUS_SESSION_BUS_ADDRESS").ok();
            let runtime = std::env::var("XDG_RUNTIME_DIR").ok();
            let path = user_bus_path(address.as_deref(), runtime.as_deref()).ok_or_else(|| {
                err("rootless: no user bus (set DBUS_SESSION_BUS_ADDRESS or XDG_RUNTIME_DIR)")
            })?;
            let conn = Conn::connect(&path, true, TIMEOUT)
                .map_err(|e| err(format!("user bus {}: {e}", path.display())))?;
            return Ok(Bus { conn, dest: DEST });
        }
        // Root talks to systemd directly on its private socket: no bus
        // daemon between (each call would pass through dbus-daemon too),
        // no `Hello`, no `AddMatch`. The system bus otherwise.
        let root = nix::unistd::geteuid().is_root();
        let private = Path::new("/run/systemd/private");
        let sys = Path::new("/run/dbus/system_bus_socket");
        let (conn, dest) = if let Some(bus) = test_bus() {
            (Conn::connect(&bus, true, timeout()), DEST)
        } else if root && private.exists() {
            (Conn::connect(private, false, timeout()), "")
        } else {
            (Conn::connect(sys, true, timeout()), DEST)
        };
        Self::subscribe(Bus {
            conn: conn.map_err(err)?,
            dest,
        })
    }

    /// Asks for the `JobRemoved` signals, before the call that makes the
    /// job (so that its signal cannot pass unseen). systemd sends its
    /// signals to every direct connection unconditionally, so the private
    /// socket needs neither `AddMatch` nor `Subscribe`.
    fn subscribe(mut b: Bus) -> Result<Bus> {
        if b.dest.is_empty() {
            return Ok(b);
        }
        b.conn
            .call(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "AddMatch",
                &[Value::str(
                    "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'",
                )],
            )
            .map_err(err)?;
        b.call("Subscribe", &[]).map_err(err)?;
        Ok(b)
    }

    /// The manager's own cgroup (`ControlGroup`): for the user's manager,
    /// `/user.slice/user-UID.slice/user@UID.service`.
    fn manager_cgroup(&mut self) -> Result<String> {
        let r = self
            .conn
            .call(
                self.dest,
                PATH,
                "org.freedesktop.DBus.Properties",
                "Get",
                &[Value::str(MGR), Value::str("ControlGroup")],
            )
            .map_err(err)?;
        r.first()
            .and_then(Value::as_str)
            .filter(|c| c.starts_with('/'))
            .map(str::to_string)
            .ok_or_else(|| err("the manager's ControlGroup is not a cgroup path"))
    }

    fn call(&mut self, member: &str, args: &[Value]) -> std::result::Result<Vec<Value>, DbusError> {
        self.conn.call(self.dest, PATH, MGR, member, args)
    }

    /// Waits for the `JobRemoved` signal of `job` and returns its result.
    fn wait_job(&mut self, job: &str, what: &str) -> Result<String> {
        self.conn
            .wait_signal(&format!("JobRemoved of {what}"), |m| {
                if m.member.as_deref() != Some("JobRemoved") {
                    return None;
                }
                (m.body.get(1).and_then(Value::as_str) == Some(job)).then(|| {
                    m.body
                        .get(3)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                })
            })
            .map_err(err)
    }

    fn reset_failed(&mut self, unit: &str) {
        if let Err(e) = self.call("ResetFailedUnit", &[Value::str(unit)]) {
            tracing::debug!("systemd: ResetFailedUnit {unit}: {e}");
        }
    }

    /// Calls `member` with the properties last; drops a property systemd
    /// does not know (an older systemd) and retries, with a debug line.
    fn call_props(
        &mut self,
        member: &str,
        head: &[Value],
        mut ps: Vec<props::Prop>,
        tail: &[Value],
    ) -> Result<Vec<Value>> {
        loop {
            let mut args = head.to_vec();
            args.push(Value::Array(
                "(sv)".into(),
                ps.iter().map(|(n, v)| Value::prop(n, v.clone())).collect(),
            ));
            args.extend_from_slice(tail);
            match self.call(member, &args) {
                Ok(r) => return Ok(r),
                Err(DbusError::Remote { name, msg, .. })
                    if name.ends_with("PropertyReadOnly") || msg.contains("unknown property") =>
                {
                    let before = ps.len();
                    ps.retain(|(n, _)| {
                        !msg.contains(&format!("property {n},"))
                            && !msg.contains(&format!("property {n} "))
                    });
                    if ps.len() == before {
                        return Err(err(format!("{member}: {name}: {msg}")));
                    }
                    tracing::debug!(
                        "systemd: {member}: skipping a property this systemd lacks: {msg}"
                    );
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
}

/// The cgroupfs manager of the unit's cgroup. On v1/hybrid it changes once
/// the unit has started (`V1::adopt` records the directories berth made).
enum Inner {
    V2(v2::V2),
    V1(RefCell<v1::V1>),
}

/// The systemd driver's manager.
pub struct Systemd {
    unit: String,
    slice: String,
    is_slice: bool,
    mode: Mode,
    inner: Inner,
    annotations: Vec<props::Prop>,
    /// The resources `apply` was given, with the unit properties worked
    /// out from them then (once: the device rules read `/proc/devices`),
    /// for `start` and the cgroupfs write after it.
    resources: RefCell<Option<(LinuxResources, Vec<props::Prop>)>>,
    started: RefCell<bool>,
}

/// The systemd driver's manager for a new container.
pub fn for_container(req: &Request<'_>) -> Result<Box<dyn Manager>> {
    if !booted() {
        return Err(CgroupError::SystemdNotRunning);
    }
    let user = user_manager();
    let default_slice = if user {
        unit::USER_DEFAULT_SLICE
    } else {
        unit::DEFAULT_SLICE
    };
    let mut u = unit::parse_with(req.path, req.id, default_slice).map_err(CgroupError::Systemd)?;
    if user {
        // The user's manager places its units below its own cgroup.
        let base = Bus::open()?.manager_cgroup()?;
        u.cgroup = format!("{}{}", base.trim_end_matches('/'), u.cgroup);
    }
    let annotations = props::annotations(req.annotations).map_err(CgroupError::Systemd)?;
    let mode = super::detect_mode();
    let inner = match mode {
        Mode::Unified => Inner::V2(v2::V2::new(&u.cgroup, Path::new(CGROUP_ROOT))),
        Mode::Legacy | Mode::Hybrid => Inner::V1(RefCell::new(v1::V1::new(&u.cgroup, mode)?)),
    };
    Ok(Box::new(Systemd {
        is_slice: u.is_slice(),
        unit: u.unit,
        slice: u.slice,
        mode,
        inner,
        annotations,
        resources: RefCell::new(None),
        started: RefCell::new(false),
    }))
}

impl Systemd {
    /// Reopens the manager of an existing container.
    pub fn from_record(rec: &CgroupRecord, unit: &str) -> Self {
        let mut plain = rec.clone();
        plain.systemd_unit = None;
        Systemd {
            unit: unit.to_string(),
            slice: String::new(),
            is_slice: unit.ends_with(".slice"),
            mode: rec.mode,
            inner: match rec.mode {
                Mode::Unified => Inner::V2(v2::V2::from_record(&plain)),
                Mode::Legacy | Mode::Hybrid => Inner::V1(RefCell::new(v1::V1::from_record(&plain))),
            },
            annotations: Vec::new(),
            resources: RefCell::new(None),
            started: RefCell::new(true),
        }
    }

    /// Runs `f` on the cgroupfs manager of the unit's cgroup.
    fn with<T>(&self, f: impl FnOnce(&dyn Manager) -> T) -> T {
        match &self.inner {
            Inner::V2(m) => f(m),
            Inner::V1(m) => f(&*m.borrow()),
        }
    }

    /// The unit properties of `r`. The device rules are included on
    /// create, and on update when `r` has them (as the cgroupfs managers
    /// write them).
    fn resource_props(&self, r: &LinuxResources, update: bool) -> Result<Vec<props::Prop>> {
        let mut ps = match self.mode {
            Mode::Unified => props::v2(r),
            Mode::Legacy | Mode::Hybrid => props::v1(r),
        }
        .map_err(CgroupError::Systemd)?;
        if !update || r.devices().is_some() {
            let rules = container_rules(r.devices().as_deref().unwrap_or(&[]))?;
            let emu = Emulator::from_rules(&rules)?;
            // Only a `MAJOR:*` rule needs the names; a host without
            // /proc/devices gets those rules left out (narrower).
            let names = std::fs::read_to_string("/proc/devices").unwrap_or_default();
            let (dev, warning) = props::devices(&emu, self.mode == Mode::Unified, &names);
            if let Some(w) = warning {
                tracing::warn!("--systemd-cgroup: {w}");
            }
            ps.extend(dev);
        }
        Ok(ps)
    }

    fn start(&self, pid: Pid) -> Result<()> {
        let mut ps: Vec<props::Prop> = vec![
            (
                "Description".into(),
                Value::str(format!("berth container {}", self.unit)),
            ),
            ("Delegate".into(), Value::Bool(true)),
            ("DefaultDependencies".into(), Value::Bool(false)),
        ];
        if self.is_slice {
            ps.push(("Wants".into(), Value::strs(&[&self.slice])));
        } else {
            ps.push(("Slice".into(), Value::str(&self.slice)));
            ps.push((
                "PIDs".into(),
                Value::Array("u".into(), vec![Value::U32(pid.as_raw() as u32)]),
            ));
        }
        if let Some((_, props)) = self.resources.borrow().as_ref() {
            ps.extend(props.iter().cloned());
        }
        ps.extend(self.annotations.iter().cloned());
        let mut bus = Bus::open()?;
        let started = bus.call_props(
            "StartTransientUnit",
            &[Value::str(&self.unit), Value::str("replace")],
            ps,
            &[Value::Array("(sa(sv))".into(), Vec::new())],
        );
        let job = match started {
            Ok(r) => r.first().and_then(Value::as_str).unwrap_or("").to_string(),
            Err(e) => {
                bus.reset_failed(&self.unit);
                return Err(CgroupError::Systemd(format!(
                    "start unit {}: {}",
                    self.unit,
                    e.to_string().trim_start_matches("--systemd-cgroup: ")
                )));
            }
        };
        let result = bus.wait_job(&job, &self.unit)?;
        if result != "done" {
            let _ = bus.call("StopUnit", &[Value::str(&self.unit), Value::str("replace")]);
            bus.reset_failed(&self.unit);
            return Err(CgroupError::Systemd(format!(
                "unit {} failed to start: job result {result:?}",
                self.unit
            )));
        }
        *self.started.borrow_mut() = true;
        Ok(())
    }

    /// Stops the unit. A scope is usually gone already (systemd stops it
    /// when its last process exits and drops it): `GetUnit` answers
    /// `NoSuchUnit` and nothing more is asked. Otherwise (a slice, a
    /// running or a failed unit) as runc does: `StopUnit`, wait for its
    /// job, `ResetFailedUnit`.
    fn stop(&self) -> Result<()> {
        let mut bus = Bus::connect()?;
        match bus.call("GetUnit", &[Value::str(&self.unit)]) {
            Ok(_) => {}
            Err(DbusError::Remote { name, .. }) if name.ends_with("NoSuchUnit") => {
                tracing::debug!("systemd: {} is gone already", self.unit);
                return Ok(());
            }
            Err(e) => return Err(err(e)),
        }
        let mut bus = Bus::subscribe(bus)?;
        match bus.call("StopUnit", &[Value::str(&self.unit), Value::str("replace")]) {
            Ok(r) => {
                let job = r.first().and_then(Value::as_str).unwrap_or("").to_string();
                let res = bus.wait_job(&job, &self.unit)?;
                tracing::debug!("systemd: StopUnit {}: {res}", self.unit);
            }
            Err(DbusError::Remote { name, .. }) if name.ends_with("NoSuchUnit") => {}
            Err(e) => return Err(err(e)),
        }
        bus.reset_failed(&self.unit);
        Ok(())
    }
}

impl Manager for Systemd {
    fn create(&mut self) -> Result<()> {
        // systemd creates the unit's cgroup when the init exists (`add`);
        // on v1 the hierarchies systemd does not manage get their
        // directory then too (`V1::adopt`).
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        // Checked now (bad values fail before anything starts), applied
        // when the unit starts.
        let props = self.resource_props(resources, false)?;
        *self.resources.borrow_mut() = Some((resources.clone(), props));
        Ok(())
    }

    fn update(&self, resources: &LinuxResources) -> Result<()> {
        let ps = self.resource_props(resources, true)?;
        // No job to wait for: no subscription.
        let mut bus = Bus::connect()?;
        // On v1 systemd applies device properties as `devices.deny a`, then
        // each allow: freeze the container meanwhile (as runc does) so
        // that it never sees that window, unless it is paused already.
        let freeze = self.mode != Mode::Unified
            && resources.devices().is_some()
            && !self.with(|m| m.is_frozen())?;
        if freeze {
            self.with(|m| m.freeze(true))?;
        }
        let set = bus.call_props(
            "SetUnitProperties",
            &[Value::str(&self.unit), Value::Bool(true)],
            ps,
            &[],
        );
        let written = set.and_then(|_| self.with(|m| m.update(resources)));
        let thawed = if freeze {
            self.with(|m| m.freeze(false))
        } else {
            Ok(())
        };
        written.and(thawed)
    }

    fn clone_target(&self) -> Option<BorrowedFd<'_>> {
        // A new container's init is placed by systemd (`add`); `exec` into
        // an existing one joins the unit's cgroup directly.
        match &self.inner {
            Inner::V2(m) if *self.started.borrow() => m.clone_target(),
            _ => None,
        }
    }

    fn add(&self, pid: Pid) -> Result<()> {
        if !*self.started.borrow() {
            self.start(pid)?;
            let placed = match &self.inner {
                Inner::V2(m) if self.is_slice => m.add(pid),
                Inner::V2(_) => Ok(()),
                Inner::V1(m) => m.borrow_mut().adopt(pid),
            };
            let applied = placed.and_then(|()| match self.resources.borrow().as_ref() {
                Some((r, _)) => self.with(|m| m.apply(r)),
                None => Ok(()),
            });
            // Rootless (the user's manager): v2's device program (the last
            // write) needs privileges; device rules are not enforced, as
            // with the cgroupfs driver.
            let applied = match applied {
                Err(CgroupError::DeviceProgram { .. }) if user_manager() => Ok(()),
                other => other,
            };
            if let Err(e) = applied {
                // The caller only destroys what the record names: stop the
                // unit here so that nothing is left.
                if let Err(s) = self.destroy() {
                    tracing::debug!("systemd: cleanup of {}: {s}", self.unit);
                }
                return Err(e);
            }
            return Ok(());
        }
        self.with(|m| m.add(pid))
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        self.with(|m| m.pids())
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        self.with(|m| m.freeze(frozen))
    }

    fn is_frozen(&self) -> Result<bool> {
        self.with(|m| m.is_frozen())
    }

    fn destroy(&self) -> Result<()> {
        let inner = self.with(|m| m.destroy());
        if *self.started.borrow() || self.mode == Mode::Unified {
            self.stop()?;
        }
        match inner {
            Err(CgroupError::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
                Ok(())
            }
            other => other,
        }
    }

    fn record(&self) -> CgroupRecord {
        let mut r = self.with(|m| m.record());
        r.systemd_unit = Some(self.unit.clone());
        r
    }

    fn stats(&self) -> Result<Stats> {
        self.with(|m| m.stats())
    }

    fn oom_watch(&self) -> Result<OomWatch> {
        self.with(|m| m.oom_watch())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_bus_comes_from_the_address_then_the_runtime_dir() {
        let p = |a: Option<&str>, d: Option<&str>| user_bus_path(a, d);
        assert_eq!(
            p(Some("unix:path=/run/user/7/bus,guid=ab"), Some("/x")),
            Some(PathBuf::from("/run/user/7/bus"))
        );
        assert_eq!(
            p(Some("tcp:host=h;unix:path=/b"), None),
            Some(PathBuf::from("/b"))
        );
        assert_eq!(
            p(Some("unix:abstract=/x"), Some("/run/user/7")),
            Some(PathBuf::from("/run/user/7/bus"))
        );
        assert_eq!(p(None, Some("")), None);
        assert_eq!(p(None, None), None);
    }
}
