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

/// The highest capability number both the running kernel and the `caps`
/// crate know. Asked of the kernel (`PR_CAPBSET_READ` refuses an unknown
/// capability), not read from `/proc/sys/kernel/cap_last_cap`: in the init
/// that file is the container's, and an image can make it say anything
/// (too low a number would leave capabilities in the bounding set) or be a
/// FIFO that never answers. One call on any kernel since 5.9.
pub fn last_cap() -> u8 {
    let mut known: Vec<Capability> = caps::all().into_iter().collect();
    known.sort_by_key(|c| std::cmp::Reverse(c.index()));
    known
        .into_iter()
        .find(|c| caps::has_cap(None, CapSet::Bounding, *c).is_ok())
        .map_or(0, |c| c.index())
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
