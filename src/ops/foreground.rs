//! A container process in the foreground (`run` and `exec` without
//! `--detach`): berth forwards the signals it gets, proxies the terminal
//! and its size, waits for the process and returns its exit status.
//! Single-threaded: signals arrive through a signalfd, everything through
//! one `poll` loop.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::{OpsError, Result};
use crate::sys;

/// Signals blocked and read through a signalfd; the previous mask comes
/// back when dropped. Block before starting the process, so no signal
/// meant for it is lost; the process resets its mask before exec.
pub(super) struct Signals {
    sfd: SignalFd,
    old: SigSet,
}

impl Signals {
    pub(super) fn block() -> Result<Self> {
        let mut forward = SigSet::all();
        for s in [
            Signal::SIGSEGV,
            Signal::SIGBUS,
            Signal::SIGILL,
            Signal::SIGFPE,
            Signal::SIGTRAP,
            Signal::SIGSYS,
        ] {
            forward.remove(s);
        }
        let mut old = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forward), Some(&mut old))
            .map_err(OpsError::sys("block signals"))?;
        let sfd = match SignalFd::with_flags(&forward, SfdFlags::SFD_CLOEXEC) {
            Ok(s) => s,
            Err(e) => {
                let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
                return Err(OpsError::sys("signalfd")(e));
            }
        };
        Ok(Self { sfd, old })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

/// A socketpair standing in for a console socket: (the end the container
/// side sends the pty master to, the end berth receives it from).
pub(super) fn console_pair() -> Result<(OwnedFd, OwnedFd)> {
    let (a, b) = UnixStream::pair().map_err(OpsError::io("console socketpair"))?;
    Ok((OwnedFd::from(a), OwnedFd::from(b)))
}

/// Waits for the process `pid` (behind `pidfd`), forwarding signals and,
/// with `console` (our end of [`console_pair`]), proxying its terminal.
/// Returns its exit status, or 128 + the signal that killed it.
pub(super) fn wait(
    pid: Pid,
    pidfd: Option<BorrowedFd<'_>>,
    signals: &Signals,
    console: Option<&OwnedFd>,
) -> Result<i32> {
    let master = match console {
        Some(s) => Some(crate::tty::receive_master(s.as_fd())?),
        None => None,
    };
    let raw = master
        .as_ref()
        .and_then(|_| RawMode::enter(sys::fd::stdio(0)));
    if let Some(m) = &master {
        resize(m.as_fd());
    }
    let status = event_loop(pid, pidfd, &signals.sfd, master.as_ref().map(|m| m.as_fd()));
    drop(raw);
    status
}

/// Restores the terminal's mode when dropped.
struct RawMode {
    saved: termios::Termios,
}

impl RawMode {
    fn enter(fd: BorrowedFd<'static>) -> Option<Self> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, termios::SetArg::TCSANOW, &raw).ok()?;
        Some(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(sys::fd::stdio(0), termios::SetArg::TCSANOW, &self.saved);
    }
}

/// Our terminal's size, for a foreground pty that the config gives no
/// size: the container side sets it on the new pty before the process
/// runs, so the process never sees 0x0 (copying it only after receiving
/// the master raced with a fast process; SIGWINCH keeps it current).
pub(super) fn initial_size(configured: Option<(u16, u16)>) -> Option<(u16, u16)> {
    configured.or_else(|| {
        sys::tty::get_winsize(sys::fd::stdio(0))
            .ok()
            .filter(|s| s.rows > 0 && s.cols > 0)
            .map(|s| (s.rows, s.cols))
    })
}

/// Copies our terminal's size to the container's (on start and SIGWINCH).
fn resize(master: BorrowedFd<'_>) {
    if let Ok(size) = sys::tty::get_winsize(sys::fd::stdio(0)) {
        let _ = sys::tty::set_winsize(master, size);
    }
}

/// Forwards signals and terminal traffic until the process exits.
fn event_loop(
    pid: Pid,
    pidfd: Option<BorrowedFd<'_>>,
    sfd: &SignalFd,
    master: Option<BorrowedFd<'_>>,
) -> Result<i32> {
    let Some(pidfd) = pidfd else {
        return wait_status(pid);
    };
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut buf = vec![0u8; 16384];
    loop {
        let mut fds = vec![
            PollFd::new(pidfd, PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        if let Some(m) = master.filter(|_| master_open) {
            fds.push(PollFd::new(m, PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(sys::fd::stdio(0), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(sys::Errno::EINTR) => continue,
            Err(e) => return Err(OpsError::sys("poll")(e)),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        if ready[1]
            && let Ok(Some(info)) = sfd.read_signal()
        {
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGWINCH {
                if let Some(m) = master {
                    resize(m);
                }
            } else if sig != libc::SIGCHLD {
                let _ = sys::process::pidfd_send_signal_raw(pidfd, sig);
            }
        }
        let mut i = 2;
        if let Some(m) = master.filter(|_| master_open) {
            if ready[i] {
                match nix::unistd::read(m, &mut buf) {
                    Ok(0) | Err(_) => master_open = false,
                    Ok(n) => write_all(sys::fd::stdio(1), &buf[..n]),
                }
            }
            i += 1;
        }
        if stdin_open && ready.get(i).copied().unwrap_or(false) {
            match nix::unistd::read(sys::fd::stdio(0), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if let Some(m) = master {
                        write_all(m, &buf[..n]);
                    }
                }
            }
        }
        if ready[0] {
            // Drain what the process wrote last, without waiting for other
            // holders of the terminal.
            if let Some(m) = master.filter(|_| master_open) {
                let _ = nix::fcntl::fcntl(
                    m,
                    nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                );
                while let Ok(n) = nix::unistd::read(m, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    write_all(sys::fd::stdio(1), &buf[..n]);
                }
            }
            return wait_status(pid);
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(sys::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

fn wait_status(pid: Pid) -> Result<i32> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(sys::Errno::EINTR) => continue,
            Err(e) => return Err(OpsError::sys("wait for container")(e)),
        }
    }
}
