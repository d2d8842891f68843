//! Pure translation of `LinuxResources` into cgroup file writes, with
//! runc's conversions and write orders. The managers perform the writes in
//! the order given (see [`Write::on_error`] for the few exceptions).
//!
//! The translation may need a few current values (the memory limit to order
//! memory and memory+swap writes on v1, `cpu.max` to keep the quota when
//! only the period changes...). It reads them through a [`Probe`], so it
//! stays testable without a cgroup filesystem.
//!
//! A field the host cannot set is refused with an error naming it
//! (`linux.resources.<field>`), never skipped.

pub mod convert;
mod v1;
mod v2;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources};

use super::{CgroupError, Result};

pub use v1::v1_writes;
pub use v2::v2_writes;

/// What to do when a write fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// The write's error is the result.
    Fail,
    /// A missing file is fine (an optional knob such as `*.rsvd.*`); any
    /// other error fails.
    SkipIfMissing,
    /// `EINVAL` may come from the order of related writes (a smaller CFS
    /// period before the quota): retry once after all other writes.
    RetryLater,
}

/// One file write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The v1 controller whose directory holds the file; `""` on v2.
    pub controller: &'static str,
    pub file: String,
    pub value: String,
    /// The config field the write comes from, for error messages.
    pub field: String,
    pub on_error: OnError,
    /// Read the value back and fail if the kernel clamped it (cpu.shares).
    pub verify: bool,
}

/// Read access to the container's cgroup, for values the translation
/// depends on.
pub trait Probe {
    /// The trimmed content of `file` in `controller`'s directory (`""` on
    /// v2), or `None` when it does not exist or cannot be read.
    fn read(&self, controller: &str, file: &str) -> Option<String>;
    /// Whether `controller` is usable: a mounted hierarchy on v1, listed in
    /// the cgroup's `cgroup.controllers` on v2.
    fn has_controller(&self, controller: &str) -> bool;
}

/// Create (`false`) or update (`true`): an update keeps the current value
/// of what it does not name (the CFS period, the memory limit a swap limit
/// is relative to), as runc keeps the saved configuration's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    pub update: bool,
}

/// Collects writes for one controller and its fields.
struct Plan<'a> {
    probe: &'a dyn Probe,
    out: Vec<Write>,
}

impl<'a> Plan<'a> {
    fn new(probe: &'a dyn Probe) -> Self {
        Self {
            probe,
            out: Vec::new(),
        }
    }

    fn push(&mut self, controller: &'static str, field: &str, file: &str, value: impl ToString) {
        self.push_with(controller, field, file, value, OnError::Fail);
    }

    fn push_with(
        &mut self,
        controller: &'static str,
        field: &str,
        file: &str,
        value: impl ToString,
        on_error: OnError,
    ) {
        self.out.push(Write {
            controller,
            file: file.to_string(),
            value: value.to_string(),
            field: format!("linux.resources.{field}"),
            on_error,
            verify: false,
        });
    }

    /// Fails unless `controller` is usable on this host.
    fn need(&self, controller: &str, field: &str, v2: bool) -> Result<()> {
        if self.probe.has_controller(controller) {
            return Ok(());
        }
        Err(unsupported(
            field,
            &if v2 {
                format!(
                    "the {controller} controller is not available in this cgroup (not enabled in the parent's cgroup.subtree_control)"
                )
            } else {
                format!("the {controller} controller is not mounted on this host")
            },
        ))
    }
}

pub(crate) fn unsupported(field: &str, msg: &str) -> CgroupError {
    CgroupError::Unsupported {
        field: format!("linux.resources.{field}"),
        msg: msg.to_string(),
    }
}

/// Fields both versions refuse or check the same way. Kernel memory
/// limits are ignored with a warning, as runc 1.1+ does: no current kernel
/// has them, and Docker 20.10 sends `kernel` on every `docker update`.
fn check_memory_common(r: &LinuxResources, ctx: Ctx) -> Result<()> {
    if let Some(m) = r.memory() {
        if let Some(w) = kernel_memory_warning(m, ctx) {
            tracing::warn!("{w}");
        }
        if m.use_hierarchy() == Some(false) {
            return Err(unsupported(
                "memory.useHierarchy",
                "the kernel always accounts memory hierarchically; false cannot be honoured",
            ));
        }
    }
    Ok(())
}

/// The one warning for ignored `memory.kernel`/`kernelTCP`, when runc
/// gives it: at create for any value, at update only for a non-zero one
/// (Docker's `"kernel": 0` on every update stays quiet).
pub(crate) fn kernel_memory_warning(m: &LinuxMemory, ctx: Ctx) -> Option<String> {
    let fields: Vec<&str> = [("kernel", m.kernel()), ("kernelTCP", m.kernel_tcp())]
        .into_iter()
        .filter(|(_, v)| v.is_some_and(|v| !ctx.update || v != 0))
        .map(|(name, _)| name)
        .collect();
    (!fields.is_empty()).then(|| {
        format!(
            "linux.resources.memory.{}: kernel memory limits are not supported by current kernels; ignored",
            fields.join(", linux.resources.memory.")
        )
    })
}

/// `checkBeforeUpdate`: refuse limits at or below the current usage.
fn check_usage(r: &LinuxResources, usage: Option<u64>) -> Result<()> {
    let Some(m) = r.memory() else { return Ok(()) };
    if m.check_before_update() != Some(true) {
        return Ok(());
    }
    let Some(usage) = usage else { return Ok(()) };
    for (field, v, what) in [
        ("memory.swap", m.swap(), "memory+swap limit"),
        ("memory.limit", m.limit(), "memory limit"),
    ] {
        if let Some(v) = v.filter(|v| *v > 0)
            && (v as u64) <= usage
        {
            return Err(unsupported(
                field,
                &format!("rejecting {what} {v} <= usage {usage} (checkBeforeUpdate)"),
            ));
        }
    }
    Ok(())
}

/// `hugepageLimits`: v1 `hugetlb.<size>.limit_in_bytes`, v2
/// `hugetlb.<size>.max`, each with its `.rsvd.` twin where the kernel has it.
fn hugetlb(p: &mut Plan<'_>, limits: &[LinuxHugepageLimit], v2: bool) -> Result<()> {
    let (controller, suffix, unlimited) = if v2 {
        ("", "max", "max")
    } else {
        ("hugetlb", "limit_in_bytes", "-1")
    };
    for (i, h) in limits.iter().enumerate() {
        let field = format!("hugepageLimits[{i}]");
        if !convert::valid_page_size(h.page_size()) {
            return Err(unsupported(
                &format!("{field}.pageSize"),
                &format!("{:?} is not a page size like 2MB", h.page_size()),
            ));
        }
        p.need("hugetlb", &field, v2)?;
        let limit = if h.limit() < 0 {
            unlimited.to_string()
        } else {
            h.limit().to_string()
        };
        let prefix = format!("hugetlb.{}", h.page_size());
        p.push(controller, &field, &format!("{prefix}.{suffix}"), &limit);
        let rsvd = format!("{prefix}.rsvd.{suffix}");
        p.push_with(controller, &field, &rsvd, &limit, OnError::SkipIfMissing);
    }
    Ok(())
}

/// The four `blockIO.throttle*Device` lists: v1 one file each
/// (`MAJ:MIN rate`), v2 `io.max` (`MAJ:MIN rbps=rate`...).
fn throttles(p: &mut Plan<'_>, b: &LinuxBlockIo, v2: bool) {
    for (name, v1_file, key, devs) in [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ] {
        for (i, d) in list(devs).iter().enumerate() {
            let field = format!("blockIO.{name}[{i}]");
            let dev = format!("{}:{}", d.major(), d.minor());
            if v2 {
                p.push("", &field, "io.max", format!("{dev} {key}={}", d.rate()));
            } else {
                p.push("blkio", &field, v1_file, format!("{dev} {}", d.rate()));
            }
        }
    }
}

/// Whether any per-device blockIO list is set.
fn any_device(b: &LinuxBlockIo) -> bool {
    !list(b.weight_device()).is_empty()
        || !list(b.throttle_read_bps_device()).is_empty()
        || !list(b.throttle_write_bps_device()).is_empty()
        || !list(b.throttle_read_iops_device()).is_empty()
        || !list(b.throttle_write_iops_device()).is_empty()
}

/// `cpu.cpus` and `cpu.mems` (the cpuset controller on both versions).
fn cpuset(p: &mut Plan<'_>, c: &LinuxCpu, v2: bool) -> Result<()> {
    let controller = if v2 { "" } else { "cpuset" };
    for (field, file, v) in [
        ("cpu.cpus", "cpuset.cpus", c.cpus()),
        ("cpu.mems", "cpuset.mems", c.mems()),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            p.need("cpuset", field, v2)?;
            p.push(controller, field, file, v);
        }
    }
    Ok(())
}

/// The entries of an optional list.
fn list<T>(v: &Option<Vec<T>>) -> &[T] {
    v.as_deref().unwrap_or(&[])
}

#[cfg(test)]
pub(crate) mod testprobe {
    use std::collections::HashMap;

    /// A fake cgroup: files by (controller, name), and the controllers.
    #[derive(Default)]
    pub struct FakeProbe {
        pub files: HashMap<(String, String), String>,
        pub controllers: Vec<String>,
    }

    impl FakeProbe {
        pub fn with(controllers: &[&str], files: &[(&str, &str, &str)]) -> Self {
            Self {
                files: files
                    .iter()
                    .map(|(c, f, v)| ((c.to_string(), f.to_string()), v.to_string()))
                    .collect(),
                controllers: controllers.iter().map(|c| c.to_string()).collect(),
            }
        }
    }

    impl super::Probe for FakeProbe {
        fn read(&self, controller: &str, file: &str) -> Option<String> {
            self.files
                .get(&(controller.to_string(), file.to_string()))
                .cloned()
        }
        fn has_controller(&self, controller: &str) -> bool {
            self.controllers.iter().any(|c| c == controller)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(json: &str) -> LinuxMemory {
        serde_json::from_str(json).expect("memory")
    }

    #[test]
    fn kernel_memory_is_ignored_with_runcs_warning() {
        let create = Ctx { update: false };
        let update = Ctx { update: true };
        // Docker's `"kernel": 0` on every update: quiet, as runc.
        assert_eq!(
            kernel_memory_warning(&memory(r#"{"kernel":0,"limit":1}"#), update),
            None
        );
        assert_eq!(
            kernel_memory_warning(&memory(r#"{"limit":1}"#), create),
            None
        );
        assert_eq!(
            kernel_memory_warning(&memory(r#"{"kernel":0}"#), create).as_deref(),
            Some(
                "linux.resources.memory.kernel: kernel memory limits are not supported by current kernels; ignored"
            )
        );
        // Both fields: one line naming both.
        assert_eq!(
            kernel_memory_warning(&memory(r#"{"kernel":1048576,"kernelTCP":0}"#), update)
                .as_deref(),
            Some(
                "linux.resources.memory.kernel: kernel memory limits are not supported by current kernels; ignored"
            )
        );
        assert_eq!(
            kernel_memory_warning(&memory(r#"{"kernel":1,"kernelTCP":2}"#), create).as_deref(),
            Some(
                "linux.resources.memory.kernel, linux.resources.memory.kernelTCP: kernel memory limits are not supported by current kernels; ignored"
            )
        );
        // The writes ignore them: no kmem file is touched.
        let r: LinuxResources =
            serde_json::from_str(r#"{"memory":{"kernel":1048576,"kernelTCP":4096,"limit":8192}}"#)
                .expect("resources");
        for ctx in [create, update] {
            let probe = testprobe::FakeProbe::with(&["memory"], &[]);
            let w = v1_writes(&r, &probe, ctx).expect("v1");
            assert!(w.iter().all(|w| !w.file.contains("kmem")), "{w:?}");
            let w = v2_writes(&r, &probe, ctx).expect("v2");
            assert!(w.iter().all(|w| !w.file.contains("kmem")), "{w:?}");
        }
    }
}
