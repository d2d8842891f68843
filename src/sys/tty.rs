//! Pseudo-terminal ioctls.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{Result, check};

/// Unlocks the slave of a `/dev/ptmx` master and returns its index.
pub fn unlock_and_index(master: BorrowedFd<'_>) -> Result<u32> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from the pointer.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } as libc::c_long)?;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int through the pointer.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } as libc::c_long)?;
    Ok(n)
}

/// Opens the slave of a pty master through the master itself
/// (`TIOCGPTPEER`, Linux 4.13), read-write, not as a controlling terminal,
/// close-on-exec. No path is looked up, so nothing at `/dev/pts/<n>` can
/// stand in for the slave.
pub fn open_peer(master: BorrowedFd<'_>) -> Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as an integer argument and
    // returns a new descriptor.
    let fd = check(
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) } as libc::c_long,
    )?;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Makes `fd` the controlling terminal of the calling session leader.
pub fn set_controlling(fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) } as libc::c_long).map(drop)
}

/// Terminal window size in character cells.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

/// Reads the window size of a terminal.
pub fn get_winsize(fd: BorrowedFd<'_>) -> Result<WinSize> {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } as libc::c_long)?;
    Ok(WinSize {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

/// Sets the window size of a terminal.
pub fn set_winsize(fd: BorrowedFd<'_>, size: WinSize) -> Result<()> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the struct through the pointer.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } as libc::c_long).map(drop)
}
