//! A small rtnetlink client: what `linux.netDevices` needs to move a link
//! into the container's network namespace (find a link, list and add its
//! addresses, bring it up or down, move and rename it). Messages are built
//! and parsed as typed values; the socket is `nix`'s, so no `unsafe` here.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    socket,
};

/// `IFA_FLAGS` (`include/uapi/linux/if_addr.h`), not in `libc`.
const IFA_FLAGS: u16 = 8;
const NLMSG_HDRLEN: usize = 16;

/// A network link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
    /// The hardware address (`IFLA_ADDRESS`), if the link has one.
    pub mac: Vec<u8>,
    /// `IFF_*` flags.
    pub flags: u32,
}

/// An address of a link, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub family: u8,
    pub prefix_len: u8,
    pub scope: u8,
    /// `IFA_F_*` flags (the 32-bit `IFA_FLAGS` when present).
    pub flags: u32,
    pub local: Option<Vec<u8>>,
    pub address: Option<Vec<u8>>,
    pub broadcast: Option<Vec<u8>>,
}

impl Addr {
    /// Whether runtime-spec keeps this address when moving its link: a
    /// permanent address of global scope.
    pub fn is_permanent_global(&self) -> bool {
        self.flags & libc::IFA_F_PERMANENT != 0 && self.scope == libc::RT_SCOPE_UNIVERSE
    }
}

/// A netlink message under construction: header fields, a fixed body and
/// attributes.
#[derive(Debug, Clone)]
pub struct Message {
    typ: u16,
    flags: u16,
    body: Vec<u8>,
}

impl Message {
    pub fn new(typ: u16, flags: u16, body: Vec<u8>) -> Self {
        Self {
            typ,
            flags: flags | libc::NLM_F_REQUEST as u16,
            body,
        }
    }

    /// Appends an attribute, padded to 4 bytes.
    pub fn attr(mut self, typ: u16, data: &[u8]) -> Self {
        let len = 4 + data.len();
        self.body.extend_from_slice(&(len as u16).to_ne_bytes());
        self.body.extend_from_slice(&typ.to_ne_bytes());
        self.body.extend_from_slice(data);
        self.body.resize(self.body.len().next_multiple_of(4), 0);
        self
    }

    /// The wire form with sequence number `seq`.
    pub fn encode(&self, seq: u32) -> Vec<u8> {
        let len = NLMSG_HDRLEN + self.body.len();
        let mut v = Vec::with_capacity(len);
        v.extend_from_slice(&(len as u32).to_ne_bytes());
        v.extend_from_slice(&self.typ.to_ne_bytes());
        v.extend_from_slice(&self.flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&self.body);
        v
    }
}

/// `struct ifinfomsg`.
pub fn ifinfomsg(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut v = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    v.extend_from_slice(&index.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&change.to_ne_bytes());
    v
}

/// `struct ifaddrmsg`.
pub fn ifaddrmsg(family: u8, prefix_len: u8, flags: u8, scope: u8, index: i32) -> Vec<u8> {
    let mut v = vec![family, prefix_len, flags, scope];
    v.extend_from_slice(&index.to_ne_bytes());
    v
}

/// Splits a buffer into (type, flags, payload) messages.
pub fn messages(buf: &[u8]) -> Vec<(u16, u16, &[u8])> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            break;
        }
        let typ = u16::from_ne_bytes([rest[4], rest[5]]);
        let flags = u16::from_ne_bytes([rest[6], rest[7]]);
        out.push((typ, flags, &rest[NLMSG_HDRLEN..len]));
        rest = &rest[len.next_multiple_of(4).min(rest.len())..];
    }
    out
}

/// Splits attributes into (type, data).
pub fn attrs(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        if len < 4 || len > buf.len() {
            break;
        }
        let typ = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        out.push((typ, &buf[4..len]));
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
    }
    out
}

fn parse_link(payload: &[u8]) -> Option<Link> {
    if payload.len() < 16 {
        return None;
    }
    let index = i32::from_ne_bytes(payload[4..8].try_into().ok()?);
    let flags = u32::from_ne_bytes(payload[8..12].try_into().ok()?);
    let mut link = Link {
        index,
        name: String::new(),
        mac: Vec::new(),
        flags,
    };
    for (typ, data) in attrs(&payload[16..]) {
        match typ {
            libc::IFLA_IFNAME => {
                link.name = String::from_utf8_lossy(data.split(|b| *b == 0).next()?).into_owned()
            }
            libc::IFLA_ADDRESS => link.mac = data.to_vec(),
            _ => {}
        }
    }
    Some(link)
}

fn parse_addr(payload: &[u8]) -> Option<(i32, Addr)> {
    if payload.len() < 8 {
        return None;
    }
    let index = i32::from_ne_bytes(payload[4..8].try_into().ok()?);
    let mut a = Addr {
        family: payload[0],
        prefix_len: payload[1],
        flags: payload[2] as u32,
        scope: payload[3],
        local: None,
        address: None,
        broadcast: None,
    };
    for (typ, data) in attrs(&payload[8..]) {
        match typ {
            libc::IFA_ADDRESS => a.address = Some(data.to_vec()),
            libc::IFA_LOCAL => a.local = Some(data.to_vec()),
            libc::IFA_BROADCAST => a.broadcast = Some(data.to_vec()),
            IFA_FLAGS if data.len() == 4 => a.flags = u32::from_ne_bytes(data.try_into().ok()?),
            _ => {}
        }
    }
    Some((index, a))
}

/// An `AF_NETLINK` route socket, bound in the network namespace of the
/// thread that opened it.
#[derive(Debug)]
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    pub fn open() -> Result<Self, Errno> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Self { fd, seq: 0 })
    }

    /// Sends `msg` and collects the replies' payloads of type `want` until
    /// the kernel acknowledges (or ends a dump); a negative error code in
    /// the acknowledgement is returned as the error.
    fn request(&mut self, msg: Message, want: u16) -> Result<Vec<Vec<u8>>, Errno> {
        self.seq = self.seq.wrapping_add(1);
        let dump = msg.flags & libc::NLM_F_DUMP as u16 == libc::NLM_F_DUMP as u16;
        // A plain get (neither dump nor ack) ends with its one answer.
        let single = !dump && msg.flags & libc::NLM_F_ACK as u16 == 0;
        send(
            self.fd.as_raw_fd(),
            &msg.encode(self.seq),
            MsgFlags::empty(),
        )?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32768];
        loop {
            let n = loop {
                match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                    Err(Errno::EINTR) => continue,
                    other => break other?,
                }
            };
            for (typ, _, payload) in messages(&buf[..n]) {
                match typ as i32 {
                    libc::NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .and_then(|b| b.try_into().ok())
                            .map_or(-libc::EIO, i32::from_ne_bytes);
                        return if code == 0 {
                            Ok(out)
                        } else {
                            Err(Errno::from_raw(-code))
                        };
                    }
                    libc::NLMSG_DONE if dump => return Ok(out),
                    _ if typ == want => {
                        out.push(payload.to_vec());
                        if single {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The link named `name`.
    pub fn link(&mut self, name: &str) -> Result<Link, Errno> {
        let mut z = name.as_bytes().to_vec();
        z.push(0);
        let msg =
            Message::new(libc::RTM_GETLINK, 0, ifinfomsg(0, 0, 0)).attr(libc::IFLA_IFNAME, &z);
        self.request(msg, libc::RTM_NEWLINK)?
            .iter()
            .find_map(|p| parse_link(p))
            .ok_or(Errno::ENODEV)
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>, Errno> {
        let msg = Message::new(
            libc::RTM_GETLINK,
            libc::NLM_F_DUMP as u16,
            ifinfomsg(0, 0, 0),
        );
        Ok(self
            .request(msg, libc::RTM_NEWLINK)?
            .iter()
            .filter_map(|p| parse_link(p))
            .collect())
    }

    /// Brings link `index` up or down.
    pub fn set_up(&mut self, index: i32, up: bool) -> Result<(), Errno> {
        let flags = if up { libc::IFF_UP as u32 } else { 0 };
        let msg = Message::new(
            libc::RTM_NEWLINK,
            libc::NLM_F_ACK as u16,
            ifinfomsg(index, flags, libc::IFF_UP as u32),
        );
        self.request(msg, 0).map(drop)
    }

    /// Moves link `index` into the network namespace `netns` under
    /// `new_name`, in one request (so the name never clashes on the way).
    pub fn move_to(
        &mut self,
        index: i32,
        new_name: &str,
        netns: BorrowedFd<'_>,
    ) -> Result<(), Errno> {
        let mut z = new_name.as_bytes().to_vec();
        z.push(0);
        let fd = netns.as_raw_fd() as u32;
        let msg = Message::new(
            libc::RTM_NEWLINK,
            libc::NLM_F_ACK as u16,
            ifinfomsg(index, 0, 0),
        )
        .attr(libc::IFLA_IFNAME, &z)
        .attr(libc::IFLA_NET_NS_FD, &fd.to_ne_bytes());
        self.request(msg, 0).map(drop)
    }

    /// The addresses of link `index`.
    pub fn addresses(&mut self, index: i32) -> Result<Vec<Addr>, Errno> {
        let msg = Message::new(
            libc::RTM_GETADDR,
            libc::NLM_F_DUMP as u16,
            ifaddrmsg(libc::AF_UNSPEC as u8, 0, 0, 0, 0),
        );
        Ok(self
            .request(msg, libc::RTM_NEWADDR)?
            .iter()
            .filter_map(|p| parse_addr(p))
            .filter(|(i, _)| *i == index)
            .map(|(_, a)| a)
            .collect())
    }

    /// Adds `a` to link `index`.
    pub fn add_address(&mut self, index: i32, a: &Addr) -> Result<(), Errno> {
        let mut msg = Message::new(
            libc::RTM_NEWADDR,
            (libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16,
            ifaddrmsg(a.family, a.prefix_len, 0, a.scope, index),
        );
        for (typ, v) in [
            (libc::IFA_LOCAL, &a.local),
            (libc::IFA_ADDRESS, &a.address),
            (libc::IFA_BROADCAST, &a.broadcast),
        ] {
            if let Some(v) = v {
                msg = msg.attr(typ, v);
            }
        }
        self.request(msg, 0).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let m = Message::new(libc::RTM_GETLINK, 0, ifinfomsg(7, 1, 1))
            .attr(libc::IFLA_IFNAME, b"eth0\0");
        let wire = m.encode(42);
        assert_eq!(wire.len(), 16 + 16 + 12);
        assert_eq!(
            u32::from_ne_bytes(wire[0..4].try_into().unwrap()) as usize,
            wire.len()
        );
        assert_eq!(u32::from_ne_bytes(wire[8..12].try_into().unwrap()), 42);
        let msgs = messages(&wire);
        assert_eq!(msgs.len(), 1);
        let (typ, flags, payload) = msgs[0];
        assert_eq!(typ, libc::RTM_GETLINK);
        assert_eq!(flags, libc::NLM_F_REQUEST as u16);
        let link = parse_link(payload).expect("link");
        assert_eq!((link.index, link.flags, link.name.as_str()), (7, 1, "eth0"));
    }

    #[test]
    fn address_attributes_are_parsed() {
        let m = Message::new(
            libc::RTM_NEWADDR,
            0,
            ifaddrmsg(libc::AF_INET as u8, 24, 0, 0, 3),
        )
        .attr(libc::IFA_LOCAL, &[10, 0, 0, 1])
        .attr(libc::IFA_ADDRESS, &[10, 0, 0, 1])
        .attr(IFA_FLAGS, &libc::IFA_F_PERMANENT.to_ne_bytes());
        let wire = m.encode(1);
        let (_, _, payload) = messages(&wire)[0];
        let (index, a) = parse_addr(payload).expect("addr");
        assert_eq!(index, 3);
        assert_eq!(a.prefix_len, 24);
        assert_eq!(a.local.as_deref(), Some(&[10u8, 0, 0, 1][..]));
        assert!(a.is_permanent_global());
    }

    #[test]
    fn loopback_is_found() {
        let mut nl = Netlink::open().expect("netlink");
        let lo = nl.link("lo").expect("lo");
        assert_eq!(lo.name, "lo");
        assert!(
            nl.links()
                .expect("links")
                .iter()
                .any(|l| l.index == lo.index)
        );
        assert!(!nl.addresses(lo.index).expect("addrs").is_empty());
        assert_eq!(nl.link("no-such-link0"), Err(Errno::ENODEV));
    }
}
