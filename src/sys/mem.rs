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

/// Drops the pages of the main thread's stack that lie more than
/// `margin` bytes below the caller's frame. They hold nothing live: the
/// deepest calls of the set-up (parsing, mounts, the seccomp compile)
/// left them resident, and a later call that reaches them again gets
/// fresh zero pages. `maps` is the text of `/proc/self/maps`.
pub fn release_stack_below(maps: &str, margin: usize) -> Result<()> {
    let marker = 0u8;
    let here = std::hint::black_box(&raw const marker) as usize;
    let Some((low, high)) = stack_range(maps) else {
        return Ok(());
    };
    if here < low || here >= high {
        return Ok(());
    }
    let end = here.saturating_sub(margin) & !0xfff;
    if end <= low {
        return Ok(());
    }
    // SAFETY: [low, end) is inside the stack mapping and at least `margin`
    // bytes below this function's own frame, so no frame, local or red
    // zone of a live call is there (the process is single-threaded: the
    // main thread's stack is the only one in use). Discarding anonymous
    // pages that hold no live data only makes the next touch fault in a
    // zero page.
    check(
        unsafe { libc::madvise(low as *mut libc::c_void, end - low, libc::MADV_DONTNEED) }
            as libc::c_long,
    )
    .map(drop)
}

/// The bounds of the `[stack]` mapping in a `/proc/<pid>/maps` text.
fn stack_range(maps: &str) -> Option<(usize, usize)> {
    let line = maps.lines().find(|l| l.trim_end().ends_with("[stack]"))?;
    let (range, _) = line.split_once(' ')?;
    let (a, b) = range.split_once('-')?;
    let low = usize::from_str_radix(a, 16).ok()?;
    let high = usize::from_str_radix(b, 16).ok()?;
    (low < high).then_some((low, high))
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

#[cfg(test)]
mod tests {
    use super::stack_range;

    #[test]
    fn finds_the_stack_mapping() {
        let maps = "00200000-0031d000 r--p 00000000 fe:00 5595189 /usr/bin/berth\n\
                    34342000-3445f000 rw-p 00000000 00:00 0 [heap]\n\
                    7ffc13aa9000-7ffc13aca000 rw-p 00000000 00:00 0                          [stack]\n\
                    7ffc13bf1000-7ffc13bf5000 r--p 00000000 00:00 0 [vvar]\n";
        assert_eq!(stack_range(maps), Some((0x7ffc13aa9000, 0x7ffc13aca000)));
        assert_eq!(
            stack_range("34342000-3445f000 rw-p 00000000 00:00 0 [heap]\n"),
            None
        );
        assert_eq!(stack_range("zz-yy rw-p 0 00:00 0 [stack]"), None);
    }
}
