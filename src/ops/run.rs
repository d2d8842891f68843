//! `run`: create and start in one go; in the foreground, forward signals
//! (and the terminal), wait for the container, and delete it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{WaitStatus, waitpid};

use super::create::{CreateOptions, Creation, Mode};
use super::{OpsError, Result, Runtime};
use crate::sys;

/// Options of `run` beyond those of `create`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub create: CreateOptions,
    pub detach: bool,
    pub keep: bool,
}

/// Runs container `id`. Returns the exit status to exit with: 0 when
/// detached, else the container's status or 128 + the signal that killed it.
pub fn run(rt: &Runtime, id: &str, opts: &RunOptions) -> Result<i32> {
    if opts.detach {
        let console = match &opts.create.console_socket {
            Some(p) => Some(crate::tty::connect(p)?),
            None => None,
        };
        let mut c = Creation::begin(rt, id, &opts.create, Mode::Run, console)?;
        start(&mut c)?;
        return Ok(0);
    }
    // Signals are taken through a signalfd so the loop stays single-threaded;
    // the init resets its mask before exec.
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
    let result = foreground(rt, id, opts, &forward);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    let code = result?;
    if !opts.keep {
        super::delete(rt, id, true)?;
    }
    Ok(code)
}

/// Starts a created container; on a failed startContainer or poststart
/// hook the init is killed and, as `c` is not finished, everything else is
/// removed when `c` is dropped.
fn start(c: &mut Creation) -> Result<()> {
    c.launched.commit()?;
    if let Err(e) = c.launched.start() {
        c.launched.kill();
        return Err(e.into());
    }
    if c.state.has_hooks
        && let Some(dir) = &c.dir
        && let Err(e) = super::start::run_poststart(dir, &c.state)
    {
        c.launched.kill();
        return Err(e);
    }
    c.finish();
    Ok(())
}

fn foreground(rt: &Runtime, id: &str, opts: &RunOptions, signals: &SigSet) -> Result<i32> {
    let sfd =
        SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC).map_err(OpsError::sys("signalfd"))?;
    let terminal = opts.create.console_socket.is_none() && wants_terminal(&opts.create)?;
    let (console, ours) = if terminal {
        let (a, b) = UnixStream::pair().map_err(OpsError::io("console socketpair"))?;
        (Some(OwnedFd::from(a)), Some(OwnedFd::from(b)))
    } else {
        match &opts.create.console_socket {
            Some(p) => (Some(crate::tty::connect(p)?), None),
            None => (None, None),
        }
    };
    let mut c = Creation::begin(rt, id, &opts.create, Mode::Run, console)?;
    let pid = c.launched.pid;
    let pidfd = c.launched.pidfd.take();
    start(&mut c)?;
    drop(c);

    let master = match &ours {
        Some(s) => Some(crate::tty::receive_master(s.as_fd())?),
        None => None,
    };
    let raw = master
        .as_ref()
        .and_then(|_| RawMode::enter(sys::fd::stdio(0)));
    if let Some(m) = &master {
        resize(m.as_fd());
    }
    let status = event_loop(
        pid,
        pidfd.as_ref().map(|f| f.as_fd()),
        &sfd,
        master.as_ref().map(|m| m.as_fd()),
    )?;
    drop(raw);
    Ok(status)
}

fn wants_terminal(opts: &CreateOptions) -> Result<bool> {
    let bundle = std::path::absolute(&opts.bundle).map_err(OpsError::io("bundle"))?;
    Ok(crate::spec::load_bundle(&bundle)?
        .process
        .is_some_and(|p| p.terminal))
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

fn resize(master: BorrowedFd<'_>) {
    if let Ok(size) = sys::tty::get_winsize(sys::fd::stdio(0)) {
        let _ = sys::tty::set_winsize(master, size);
    }
}

/// Forwards signals and terminal traffic until the init exits.
fn event_loop(
    pid: nix::unistd::Pid,
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
            // Drain what the container wrote last.
            if let Some(m) = master.filter(|_| master_open) {
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

fn wait_status(pid: nix::unistd::Pid) -> Result<i32> {
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
