//! One `criu swrk` service process: CRIU's RPC over a `SOCK_SEQPACKET`
//! socketpair (the way runc drives CRIU). The child gets its end as a
//! descriptor number on the command line; each request is one message,
//! notifications come back as `NOTIFY` responses that must be answered.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, send, socketpair};
use nix::unistd::Pid;

use super::proto::{Notify, Req, ReqType, Resp};
use super::{CriuError, Result};

/// Largest response berth accepts (CRIU's are a few hundred bytes).
const MAX_RESP: usize = 64 * 1024;

/// A running `criu swrk`. Dropped before [`Swrk::finish`], it is killed and
/// reaped.
pub struct Swrk {
    child: Option<Child>,
    sock: Option<OwnedFd>,
}

impl Swrk {
    /// Starts `criu swrk <fd>` with berth's stdio (restored processes may
    /// inherit it through `inherit_fd`).
    pub fn spawn(criu: &Path) -> Result<Self> {
        let sys = |what: &'static str| move |source| CriuError::Sys { what, source };
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(sys("criu socketpair"))?;
        // The child's end must survive the exec.
        fcntl(&theirs, FcntlArg::F_SETFD(FdFlag::empty())).map_err(sys("criu socketpair"))?;
        let child = Command::new(criu)
            .arg("swrk")
            .arg(theirs.as_raw_fd().to_string())
            .spawn()
            .map_err(|source| CriuError::Spawn {
                path: criu.display().to_string(),
                source,
            })?;
        drop(theirs);
        Ok(Self {
            child: Some(child),
            sock: Some(ours),
        })
    }

    /// CRIU's PID.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().map_or(0, |c| c.id() as i32))
    }

    /// Sends `req` and reads responses, passing each notification (and the
    /// descriptor it may carry) to `on_notify` and answering it, until the
    /// final response, which is returned (successful or not).
    pub fn call(
        &mut self,
        req: &Req,
        on_notify: &mut dyn FnMut(&Notify, Option<OwnedFd>) -> Result<()>,
    ) -> Result<Resp> {
        self.send(req)?;
        loop {
            let (resp, fd) = self.recv()?;
            if resp.kind != ReqType::Notify as u32 {
                return Ok(resp);
            }
            let notify = resp.notify.clone().unwrap_or_default();
            tracing::debug!("criu notification {:?} (pid {})", notify.script, notify.pid);
            on_notify(&notify, fd)?;
            self.send(&Req::notify_ack())?;
        }
    }

    fn sock(&self) -> Result<BorrowedFd<'_>> {
        self.sock
            .as_ref()
            .map(|s| s.as_fd())
            .ok_or(CriuError::Closed)
    }

    fn send(&self, req: &Req) -> Result<()> {
        send(
            self.sock()?.as_raw_fd(),
            &req.encode(),
            MsgFlags::MSG_NOSIGNAL,
        )
        .map(drop)
        .map_err(|source| CriuError::Sys {
            what: "send to criu",
            source,
        })
    }

    fn recv(&self) -> Result<(Resp, Option<OwnedFd>)> {
        let mut buf = vec![0u8; MAX_RESP];
        let (n, fd) =
            crate::sys::fd::recv_fd(self.sock()?, &mut buf).map_err(|source| CriuError::Sys {
                what: "receive from criu",
                source,
            })?;
        if n == 0 {
            return Err(CriuError::Closed);
        }
        Ok((Resp::decode(&buf[..n])?, fd))
    }

    /// Closes the connection and waits for CRIU to exit; a non-zero exit
    /// is an error.
    pub fn finish(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // CRIU exits once the socket closes.
        self.sock = None;
        let status = child.wait().map_err(|source| CriuError::Wait { source })?;
        if status.success() {
            Ok(())
        } else {
            Err(CriuError::Exit(status.to_string()))
        }
    }
}

impl Drop for Swrk {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
