//! Terminals: creating the container's pty (inside the container), the
//! console-socket protocol, and proxying a terminal for foreground `run`.
//!
//! Console-socket protocol (runc's): berth connects to the Unix socket
//! given with `--console-socket` and sends exactly one message whose data
//! is the pty master's name (`/dev/ptmx`) and which carries the master as
//! the only `SCM_RIGHTS` descriptor.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;

use crate::rootpath;
use crate::sys;
use crate::sys::mount as m;

/// Terminal failures.
#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    #[error("console socket {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("console: {what}: {source}")]
    Sys { what: &'static str, source: Errno },
    #[error(transparent)]
    Path(#[from] rootpath::PathError),
}

fn sys_err(what: &'static str) -> impl FnOnce(Errno) -> TtyError {
    move |source| TtyError::Sys { what, source }
}

/// Connects to the caller's console socket.
pub fn connect(path: &Path) -> Result<OwnedFd, TtyError> {
    UnixStream::connect(path)
        .map(OwnedFd::from)
        .map_err(|source| TtyError::Connect {
            path: path.display().to_string(),
            source,
        })
}

/// Inside the container (after `pivot_root`): opens a pty from the
/// container's devpts, hands the master to `socket`, makes the slave the
/// process's stdio and controlling terminal, and binds it over
/// `/dev/console`.
pub fn setup_console(socket: BorrowedFd<'_>, size: Option<(u16, u16)>) -> Result<(), TtyError> {
    open_console(socket, size, true)
}

/// For `exec`: like [`setup_console`], but `/dev/console` stays the
/// container init's (runc does the same).
pub fn setup_exec_console(
    socket: BorrowedFd<'_>,
    size: Option<(u16, u16)>,
) -> Result<(), TtyError> {
    open_console(socket, size, false)
}

fn open_console(
    socket: BorrowedFd<'_>,
    size: Option<(u16, u16)>,
    bind_console: bool,
) -> Result<(), TtyError> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys_err("open /dev/ptmx"))?;
    sys::tty::unlock_and_index(master.as_fd()).map_err(sys_err("unlock pty"))?;
    if let Some((rows, cols)) = size.filter(|(r, c)| *r > 0 && *c > 0) {
        sys::tty::set_winsize(master.as_fd(), sys::tty::WinSize { rows, cols })
            .map_err(sys_err("set size"))?;
    }
    // The slave through the master, never by its path: the container may
    // have put anything at /dev/pts/<n> (CVE-2025-52565 family).
    let slave = sys::tty::open_peer(master.as_fd()).map_err(sys_err("open pty slave"))?;
    if bind_console {
        bind_dev_console(slave.as_fd())?;
    }
    sys::fd::send_fd(socket, b"/dev/ptmx", master.as_fd()).map_err(sys_err("send pty master"))?;
    for fd in 0..=2 {
        sys::fd::dup_onto_stdio(slave.as_fd(), fd).map_err(sys_err("dup pty slave"))?;
    }
    sys::tty::set_controlling(sys::fd::stdio(0)).map_err(sys_err("set controlling terminal"))?;
    Ok(())
}

/// Binds the pty slave over `/dev/console`, resolved inside the root so it
/// cannot be redirected (CVE-2025-52565 class).
fn bind_dev_console(slave: BorrowedFd<'_>) -> Result<(), TtyError> {
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys_err("open /"))?;
    // A symlink planted at /dev/console (say, to a /proc file) must not
    // redirect the bind: look at the entry itself first.
    match rootpath::open(
        root.as_fd(),
        Path::new("/dev/console"),
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
    ) {
        Ok(fd) => {
            let st = nix::sys::stat::fstat(fd.as_fd()).map_err(sys_err("stat /dev/console"))?;
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                return Err(TtyError::Sys {
                    what: "/dev/console is a symlink; refusing to mount the console over it",
                    source: Errno::ELOOP,
                });
            }
        }
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(sys_err("open /dev/console")(e)),
    }
    let console = rootpath::touch(root.as_fd(), Path::new("/dev/console"))?;
    let st = nix::sys::stat::fstat(console.as_fd()).map_err(sys_err("stat /dev/console"))?;
    let kind = st.st_mode & libc::S_IFMT;
    if kind != libc::S_IFREG && kind != libc::S_IFCHR {
        return Err(TtyError::Sys {
            what: "/dev/console is neither a file nor a device",
            source: Errno::EINVAL,
        });
    }
    let tree = m::clone_tree(slave, c"", false).map_err(sys_err("bind /dev/console"))?;
    m::attach(tree.as_fd(), console.as_fd()).map_err(sys_err("bind /dev/console"))
}

/// Receives the master sent over a console socket connection.
pub fn receive_master(conn: BorrowedFd<'_>) -> Result<OwnedFd, TtyError> {
    let mut buf = [0u8; 4096];
    let (_, fd) = sys::fd::recv_fd(conn, &mut buf).map_err(sys_err("receive pty master"))?;
    fd.ok_or(TtyError::Sys {
        what: "receive pty master: no descriptor",
        source: Errno::EBADMSG,
    })
}
