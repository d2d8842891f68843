//! The messages between berth (the parent) and the container's init over
//! their one `SOCK_SEQPACKET` socketpair, and the order they come in.
//!
//! ```text
//! parent                                   init
//!   clone3 ─────────────────────────────▶
//!                              ◀─────────  Unshared     only if the init created the user namespace
//!   id maps, cgroup placement
//!   Proceed ────────────────────────────▶               only if the init waits for either
//!                              ◀─────────  Forked(pid)  only if a new PID namespace needed a fork
//!                                          mounts, devices
//!                              ◀─────────  Hooks        only if prestart/createRuntime hooks exist
//!   run prestart + createRuntime
//!   HooksDone ──────────────────────────▶
//!                                          createContainer hooks, pivot_root, console,
//!                                          masked paths, user, capabilities
//!                              ◀─────────  Seccomp+fd   only if seccomp has a listenerPath
//!   pass fd to the listener
//!   SeccompDone ────────────────────────▶
//!                              ◀─────────  Ready
//!   pid file, state.json
//!   Committed ──────────────────────────▶
//!   Start ──────────────────────────────▶               only for `run` (else the exec.fifo gate)
//!                                          seccomp (if not loaded earlier),
//!                                          startContainer hooks, execve
//!                              ◀─────────  EOF at execve (the socket is close-on-exec),
//!                                          or Error after the gate (`run` waits for either)
//! ```
//! At any point the init may send `Error(message)` and exit instead.
//! [`Expect`] checks this order on the parent's side. The init's side
//! reads and writes with `read`/`write` (`sendmsg` only for `Seccomp`'s
//! descriptor), as runc's init does on its pipe: see
//! [`Channel::send_to_parent`].

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::Pid;

use crate::sys;

/// Messages from the init to the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromInit {
    Unshared,
    Forked(Pid),
    Hooks,
    /// Carries the seccomp notification descriptor.
    Seccomp,
    Ready,
    Error(String),
}

/// Messages from the parent to the init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToInit {
    Proceed,
    HooksDone,
    SeccompDone,
    Committed,
    Start,
}

impl FromInit {
    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Unshared => vec![1],
            Self::Forked(pid) => {
                let mut v = vec![2];
                v.extend_from_slice(&pid.as_raw().to_le_bytes());
                v
            }
            Self::Hooks => vec![3],
            Self::Seccomp => vec![4],
            Self::Ready => vec![5],
            Self::Error(msg) => {
                let mut v = vec![6];
                v.extend_from_slice(msg.as_bytes());
                v
            }
        }
    }

    fn decode(b: &[u8]) -> Option<Self> {
        Some(match *b.first()? {
            1 => Self::Unshared,
            2 => Self::Forked(Pid::from_raw(i32::from_le_bytes(
                b.get(1..5)?.try_into().ok()?,
            ))),
            3 => Self::Hooks,
            4 => Self::Seccomp,
            5 => Self::Ready,
            6 => Self::Error(String::from_utf8_lossy(&b[1..]).into_owned()),
            _ => return None,
        })
    }
}

impl ToInit {
    fn encode(self) -> u8 {
        match self {
            Self::Proceed => 1,
            Self::HooksDone => 2,
            Self::SeccompDone => 3,
            Self::Committed => 4,
            Self::Start => 5,
        }
    }

    fn decode(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Proceed,
            2 => Self::HooksDone,
            3 => Self::SeccompDone,
            4 => Self::Committed,
            5 => Self::Start,
            _ => return None,
        })
    }
}

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("sync socket: {0}")]
    Io(#[from] sys::Errno),
    #[error("sync socket: the other side closed it")]
    Closed,
    #[error("sync socket: unknown message {0:?}")]
    Garbled(Vec<u8>),
    #[error("sync socket: expected {expected}, got {got:?}")]
    OutOfOrder { expected: &'static str, got: String },
}

/// One end of the socketpair.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// Creates the pair: (parent end, init end). Both are close-on-exec.
pub fn pair() -> Result<(Channel, Channel), ChannelError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn send_bytes(&self, b: &[u8], fd: Option<BorrowedFd<'_>>) -> Result<(), ChannelError> {
        match fd {
            Some(fd) => sys::fd::send_fd(self.fd.as_fd(), b, fd)?,
            None => {
                nix::sys::socket::send(
                    std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                    b,
                    nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
                )?;
            }
        }
        Ok(())
    }

    fn recv_bytes(&self) -> Result<(Vec<u8>, Option<OwnedFd>), ChannelError> {
        let mut buf = vec![0u8; 8192];
        let (n, fd) = loop {
            match sys::fd::recv_fd(self.fd.as_fd(), &mut buf) {
                Err(sys::Errno::EINTR) => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Err(ChannelError::Closed);
        }
        buf.truncate(n);
        Ok((buf, fd))
    }

    /// Init side: sends a message (with the seccomp fd for `Seccomp`, the
    /// one message that needs `sendmsg`). The others are a plain `write`,
    /// as is everything the init reads: once the container's seccomp
    /// filter is loaded, the init makes no call runc's init does not make
    /// (runc's init talks over a pipe with `read`/`write`), so a profile
    /// that allows `read`/`write` but not `sendto`/`recvmsg` still starts.
    /// A `SOCK_SEQPACKET` socket keeps message boundaries with both.
    pub fn send_to_parent(
        &self,
        msg: &FromInit,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<(), ChannelError> {
        let b = msg.encode();
        if fd.is_some() {
            return self.send_bytes(&b, fd);
        }
        loop {
            match nix::unistd::write(&self.fd, &b) {
                Err(sys::Errno::EINTR) => continue,
                Ok(n) if n == b.len() => return Ok(()),
                Ok(_) => return Err(ChannelError::Io(sys::Errno::EMSGSIZE)),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Parent side: receives one message and the descriptor it carried.
    pub fn recv_from_init(&self) -> Result<(FromInit, Option<OwnedFd>), ChannelError> {
        let (b, fd) = self.recv_bytes()?;
        let msg = FromInit::decode(&b).ok_or(ChannelError::Garbled(b))?;
        Ok((msg, fd))
    }

    /// Parent side: sends a message.
    pub fn send_to_init(&self, msg: ToInit) -> Result<(), ChannelError> {
        self.send_bytes(&[msg.encode()], None)
    }

    /// Init side: waits for `want` (with `read`, see [`Self::send_to_parent`]);
    /// any other message is a protocol error.
    pub fn expect_from_parent(&self, want: ToInit) -> Result<(), ChannelError> {
        let mut buf = [0u8; 16];
        let n = loop {
            match nix::unistd::read(&self.fd, &mut buf) {
                Err(sys::Errno::EINTR) => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Err(ChannelError::Closed);
        }
        let b = buf[..n].to_vec();
        match b.first().copied().and_then(ToInit::decode) {
            Some(m) if m == want => Ok(()),
            Some(m) => Err(ChannelError::OutOfOrder {
                expected: name(want),
                got: format!("{m:?}"),
            }),
            None => Err(ChannelError::Garbled(b)),
        }
    }

    /// Gives up the descriptor (for the init's final `close_from`).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

fn name(m: ToInit) -> &'static str {
    match m {
        ToInit::Proceed => "Proceed",
        ToInit::HooksDone => "HooksDone",
        ToInit::SeccompDone => "SeccompDone",
        ToInit::Committed => "Committed",
        ToInit::Start => "Start",
    }
}

/// The parent's view of where the init is in the sequence: which messages
/// it may legally send next. Pure, so the order is unit-tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Before `Proceed`: `Unshared` (if the init creates the user namespace).
    Start,
    /// After `Proceed`: `Forked`, `Hooks`, `Seccomp` or `Ready`.
    SetUp {
        forked: bool,
        hooks: bool,
        seccomp: bool,
    },
    /// `Ready` received.
    Done,
}

impl Expect {
    /// Advances on `msg`, or explains why it is out of order.
    pub fn advance(self, msg: &FromInit) -> Result<Expect, ChannelError> {
        let bad = |expected| {
            Err(ChannelError::OutOfOrder {
                expected,
                got: format!("{msg:?}"),
            })
        };
        match (self, msg) {
            (Self::Start, FromInit::Unshared) => Ok(Self::SetUp {
                forked: false,
                hooks: false,
                seccomp: false,
            }),
            (
                Self::SetUp {
                    forked: false,
                    hooks: false,
                    seccomp: false,
                },
                FromInit::Forked(_),
            ) => Ok(Self::SetUp {
                forked: true,
                hooks: false,
                seccomp: false,
            }),
            (
                Self::SetUp {
                    forked,
                    hooks: false,
                    seccomp: false,
                },
                FromInit::Hooks,
            ) => Ok(Self::SetUp {
                forked,
                hooks: true,
                seccomp: false,
            }),
            (
                Self::SetUp {
                    forked,
                    hooks,
                    seccomp: false,
                },
                FromInit::Seccomp,
            ) => Ok(Self::SetUp {
                forked,
                hooks,
                seccomp: true,
            }),
            (Self::SetUp { .. }, FromInit::Ready) => Ok(Self::Done),
            (Self::Start, _) => bad("Unshared"),
            (Self::SetUp { .. }, _) => bad("Forked, Hooks, Seccomp or Ready"),
            (Self::Done, _) => bad("nothing after Ready"),
        }
    }

    /// The state after the parent sent `Proceed`.
    pub fn proceeded(self) -> Expect {
        match self {
            Self::Start => Self::SetUp {
                forked: false,
                hooks: false,
                seccomp: false,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for m in [
            FromInit::Unshared,
            FromInit::Forked(Pid::from_raw(4242)),
            FromInit::Hooks,
            FromInit::Seccomp,
            FromInit::Ready,
            FromInit::Error("exec: \"x\": executable file not found in $PATH".into()),
        ] {
            assert_eq!(FromInit::decode(&m.encode()), Some(m));
        }
        for m in [
            ToInit::Proceed,
            ToInit::HooksDone,
            ToInit::SeccompDone,
            ToInit::Committed,
            ToInit::Start,
        ] {
            assert_eq!(ToInit::decode(m.encode()), Some(m));
        }
        assert_eq!(FromInit::decode(&[99]), None);
        assert_eq!(FromInit::decode(&[2, 1]), None);
    }

    #[test]
    fn full_sequence_is_accepted() {
        let mut e = Expect::Start
            .advance(&FromInit::Unshared)
            .expect("unshared");
        for m in [
            FromInit::Forked(Pid::from_raw(5)),
            FromInit::Hooks,
            FromInit::Seccomp,
            FromInit::Ready,
        ] {
            e = e.advance(&m).expect("in order");
        }
        assert_eq!(e, Expect::Done);
    }

    #[test]
    fn out_of_order_messages_are_rejected() {
        let set_up = Expect::Start.proceeded();
        assert!(set_up.advance(&FromInit::Unshared).is_err());
        let hooked = set_up.advance(&FromInit::Hooks).expect("hooks");
        assert!(hooked.advance(&FromInit::Hooks).is_err());
        assert!(hooked.advance(&FromInit::Forked(Pid::from_raw(1))).is_err());
        assert!(Expect::Done.advance(&FromInit::Ready).is_err());
        assert!(Expect::Start.advance(&FromInit::Ready).is_err());
    }

    #[test]
    fn socketpair_carries_messages_and_fds() {
        let (parent, init) = pair().expect("pair");
        init.send_to_parent(&FromInit::Ready, None).expect("send");
        assert_eq!(parent.recv_from_init().expect("recv").0, FromInit::Ready);
        let (r, _w) = nix::unistd::pipe().expect("pipe");
        init.send_to_parent(&FromInit::Seccomp, Some(r.as_fd()))
            .expect("send fd");
        let (m, fd) = parent.recv_from_init().expect("recv");
        assert_eq!(m, FromInit::Seccomp);
        assert!(fd.is_some());
        // The init reads with plain read(2): messages keep their
        // boundaries, one per call.
        parent.send_to_init(ToInit::Committed).expect("send");
        parent.send_to_init(ToInit::Start).expect("send");
        init.expect_from_parent(ToInit::Committed).expect("first");
        init.expect_from_parent(ToInit::Start).expect("second");
        init.send_to_parent(&FromInit::Error("x".repeat(300)), None)
            .expect("write");
        assert_eq!(
            parent.recv_from_init().expect("recv").0,
            FromInit::Error("x".repeat(300))
        );
        parent.send_to_init(ToInit::Committed).expect("send");
        assert!(init.expect_from_parent(ToInit::Start).is_err());
        drop(parent);
        assert!(matches!(
            init.expect_from_parent(ToInit::Start),
            Err(ChannelError::Closed)
        ));
    }
}
