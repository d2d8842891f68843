//! Giving back the pages of code that will not run again.
//!
//! The kernel maps a binary's pages in 64 KiB windows around each fault
//! (fault-around), so a short-lived process ends up with most of its text
//! resident. Where a process is done with a large part of its code — the
//! container's init waiting at the gate, or berth once its command line is
//! parsed — dropping the mappings of the read-only segments lowers its
//! resident set; pages still needed fault back in from the page cache.

use std::os::fd::{AsRawFd, BorrowedFd};

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

/// [`release_code`], then blocks until `fd` is readable, with nothing in
/// between: both are raw `syscall(2)`s from this one function, so while
/// it waits the process holds only the code pages of this function and of
/// libc's `syscall` (each one 64 KiB fault-around window), not those of
/// the callers and wrappers a release followed by an ordinary `poll`
/// faults back in. For the container's init waiting at `exec.fifo`.
#[inline(never)]
pub fn release_code_and_wait(fd: BorrowedFd<'_>) -> Result<()> {
    let start = (&raw const __executable_start) as usize & !0xfff;
    let end = ((&raw const etext) as usize + 0xfff) & !0xfff;
    if end > start {
        // SAFETY: as in `release_code`: only the binary's read-only
        // file-backed pages, faulted back in unchanged when next used.
        // A failure only leaves them mapped.
        unsafe {
            raw_syscall5(
                libc::SYS_madvise,
                start,
                end - start,
                libc::MADV_DONTNEED as usize,
                0,
                0,
            );
        }
    }
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, no timeout (null), no signal mask
        // (null, size 0): ppoll only writes `pfd.revents`.
        let r = unsafe { raw_syscall5(libc::SYS_ppoll, (&raw mut pfd) as usize, 1, 0, 0, 0) };
        if r >= 0 {
            return Ok(());
        }
        let e = super::Errno::from_raw(-r as i32);
        if e != super::Errno::EINTR {
            return Err(e);
        }
    }
}

/// A system call made inline, without libc's `syscall` (whose code page
/// would be one more fault-around window while the init waits). Returns
/// the kernel's result: negative errno on failure.
///
/// # Safety
/// As for the system call `n` with these arguments.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn raw_syscall5(n: libc::c_long, a: usize, b: usize, c: usize, d: usize, e: usize) -> isize {
    let ret: isize;
    // SAFETY: the x86-64 system call convention: number in rax, arguments
    // in rdi, rsi, rdx, r10, r8; the kernel returns in rax and clobbers
    // rcx and r11. What the call itself does is the caller's contract.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            in("r8") e,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Elsewhere, libc's `syscall`, returning negative errno like the kernel.
///
/// # Safety
/// As for the system call `n` with these arguments.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
unsafe fn raw_syscall5(n: libc::c_long, a: usize, b: usize, c: usize, d: usize, e: usize) -> isize {
    // SAFETY: the caller's contract for the system call `n`.
    let r = unsafe { libc::syscall(n, a, b, c, d, e) };
    if r < 0 {
        -(super::Errno::last_raw() as isize)
    } else {
        r as isize
    }
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
