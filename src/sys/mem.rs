//! Giving back the pages of code that will not run again.
//!
//! The kernel maps a binary's pages in 64 KiB windows around each fault
//! (fault-around), so a short-lived process ends up with most of its text
//! resident. Where a process is done with a large part of its code — the
//! container's init waiting at the gate, or berth once its command line is
//! parsed — dropping the mappings of the read-only segments lowers its
//! resident set; pages still needed fault back in from the page cache.

use super::{Result, check};

unsafe extern "C" {
    /// Start of the first loaded segment (GNU ld's default linker script).
    static __executable_start: u8;
    /// End of the text segment.
    static etext: u8;
}

/// Drops the process's mappings of its own read-only code and data pages
/// (`MADV_DONTNEED`). Contents are unchanged: they are file-backed and
/// never written, so they are faulted back in when next used.
pub fn release_code() -> Result<()> {
    let start = (&raw const __executable_start) as usize & !0xfff;
    let end = ((&raw const etext) as usize + 0xfff) & !0xfff;
    if end <= start {
        return Ok(());
    }
    // SAFETY: the range covers only the binary's read-only file-backed
    // segments (headers, rodata, text), which are never modified, so
    // discarding the page-table entries loses nothing: the next access
    // faults the same bytes back in from the page cache.
    check(
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) }
            as libc::c_long,
    )
    .map(drop)
}

/// Gives the free parts of the heap back to the kernel (`malloc_trim`).
/// The container's init is a copy of berth: the pages of its heap that
/// were free at the clone (the parse of the config, the request) stay
/// resident in it until released.
pub fn trim_heap() {
    // SAFETY: malloc_trim only returns memory that the allocator holds as
    // free; no live allocation is touched. It takes the allocator's lock,
    // and the init is single-threaded.
    unsafe {
        libc::malloc_trim(0);
    }
}
