//! Applying the five capability sets with the `caps` crate.
//!
//! Order matters: the bounding set is reduced while the process still has
//! `CAP_SETPCAP`; the user switch keeps the permitted set (`keepcaps`);
//! then inheritable, effective, permitted and ambient are set.

use caps::{CapSet, Capability, CapsHashSet};

use crate::spec::CapSets;

/// Capability failures.
#[derive(Debug, thiserror::Error)]
#[error("capabilities: {what}: {msg}")]
pub struct CapsError {
    what: String,
    msg: String,
}

fn fail(what: impl Into<String>) -> impl FnOnce(caps::errors::CapsError) -> CapsError {
    let what = what.into();
    move |e| CapsError {
        what,
        msg: e.to_string(),
    }
}

/// The highest capability number the running kernel knows.
pub fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Drops every capability not in `keep` from the bounding set.
pub fn apply_bounding(keep: &CapsHashSet) -> Result<(), CapsError> {
    let last = last_cap();
    for cap in caps::all() {
        if cap.index() > last || keep.contains(&cap) {
            continue;
        }
        caps::drop(None, CapSet::Bounding, cap)
            .map_err(fail(format!("drop {cap} from the bounding set")))?;
    }
    Ok(())
}

/// Sets inheritable, effective, permitted and ambient, in that order: the
/// inheritable set may only grow from the current permitted set, and the
/// effective set must always stay within the permitted one.
pub fn apply_sets(sets: &CapSets) -> Result<(), CapsError> {
    caps::set(None, CapSet::Inheritable, &sets.inheritable).map_err(fail("set inheritable"))?;
    caps::set(None, CapSet::Effective, &sets.effective).map_err(fail("set effective"))?;
    caps::set(None, CapSet::Permitted, &sets.permitted).map_err(fail("set permitted"))?;
    // Ambient capabilities are raised one by one and a failure is only
    // logged, as in runc: configs (runc's own default among them) often
    // list ambient capabilities that are not inheritable, which the kernel
    // refuses to raise.
    caps::clear(None, CapSet::Ambient).map_err(fail("clear ambient"))?;
    for cap in &sets.ambient {
        if let Err(e) = caps::raise(None, CapSet::Ambient, *cap) {
            tracing::debug!("can't raise ambient capability {cap}: {e}");
        }
    }
    Ok(())
}

/// Whether `cap` is in the effective set of the calling thread.
pub fn has_effective(cap: Capability) -> bool {
    caps::has_cap(None, CapSet::Effective, cap).unwrap_or(false)
}
