//! One D-Bus connection over a unix socket: `AUTH EXTERNAL` with the empty
//! identity (works inside user namespaces too), method calls matched to
//! their replies by serial, signals queued for whoever waits for them.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::value::{Reader, Value, marshal};

/// D-Bus failures; each names the call or step.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    #[error("D-Bus connect {path}: {err}")]
    Connect { path: String, err: io::Error },
    #[error("D-Bus {what}: {err}")]
    Io { what: String, err: io::Error },
    #[error("D-Bus {what}: no answer within {secs} s")]
    Timeout { what: String, secs: u64 },
    #[error("D-Bus {what}: {msg}")]
    Protocol { what: String, msg: String },
    /// An error reply (`org.freedesktop.DBus.Error.*` and the like).
    #[error("D-Bus call {call}: {name}: {msg}")]
    Remote {
        call: String,
        name: String,
        msg: String,
    },
}

pub type Result<T> = std::result::Result<T, DbusError>;

/// A received message.
#[derive(Debug, Clone)]
pub struct Message {
    pub kind: u8,
    pub serial: u32,
    pub reply_serial: Option<u32>,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub body: Vec<Value>,
}

const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;
const SIGNAL: u8 = 4;

pub struct Conn {
    stream: BufReader<UnixStream>,
    serial: u32,
    timeout: Duration,
    /// Signals and unrelated messages read while waiting for a reply.
    pub queue: VecDeque<Message>,
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Conn {
    /// Connects and authenticates; `hello` for a message bus (not for
    /// systemd's private socket).
    pub fn connect(path: &Path, hello: bool, timeout: Duration) -> Result<Conn> {
        let p = path.display().to_string();
        let s = UnixStream::connect(path).map_err(|err| DbusError::Connect {
            path: p.clone(),
            err,
        })?;
        let io_err = |what: &str| {
            let what = what.to_string();
            move |err| DbusError::Io { what, err }
        };
        s.set_read_timeout(Some(timeout))
            .map_err(io_err("set timeout"))?;
        s.set_write_timeout(Some(timeout))
            .map_err(io_err("set timeout"))?;
        let mut c = Conn {
            stream: BufReader::new(s),
            serial: 0,
            timeout,
            queue: VecDeque::new(),
        };
        c.auth(&p)?;
        if hello {
            c.call(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "Hello",
                &[],
            )?;
        }
        Ok(c)
    }

    fn line(&mut self, what: &str) -> Result<String> {
        let mut l = String::new();
        match self.stream.read_line(&mut l) {
            Ok(0) => Err(DbusError::Protocol {
                what: what.into(),
                msg: "connection closed".into(),
            }),
            Ok(_) => Ok(l.trim_end().to_string()),
            Err(e) if timed_out(&e) => Err(self.timeout_err(what)),
            Err(err) => Err(DbusError::Io {
                what: what.into(),
                err,
            }),
        }
    }

    fn send_raw(&mut self, what: &str, b: &[u8]) -> Result<()> {
        self.stream
            .get_mut()
            .write_all(b)
            .map_err(|err| DbusError::Io {
                what: what.into(),
                err,
            })
    }

    fn timeout_err(&self, what: &str) -> DbusError {
        DbusError::Timeout {
            what: what.into(),
            secs: self.timeout.as_secs(),
        }
    }

    /// `AUTH EXTERNAL` with the empty identity, pipelined as sd-bus does
    /// it: the whole exchange (`AUTH EXTERNAL`, `DATA`, `BEGIN`) in one
    /// write, then the server's `DATA` and `OK` lines are read; the first
    /// message is sent only after `OK`. systemd's own server (sd-bus, the
    /// private socket) keeps the bytes after `BEGIN` from the read that
    /// ended the authentication in its buffer and only looks at them on the
    /// next readable event: a first call written right after a separate
    /// `BEGIN` could arrive in that same read and stay unanswered until the
    /// client hung up. With `BEGIN` in the first write it is always read
    /// before the first call is sent.
    fn auth(&mut self, path: &str) -> Result<()> {
        let what = format!("authentication on {path}");
        self.send_raw(&what, b"\0AUTH EXTERNAL\r\nDATA\r\nBEGIN\r\n")?;
        let mut l = self.line(&what)?;
        // A server that asks for the (empty) identity first; an older
        // sd-bus answers `OK` straight away.
        if l == "DATA" || l.starts_with("DATA ") {
            l = self.line(&what)?;
        }
        if l.starts_with("OK") {
            Ok(())
        } else {
            Err(DbusError::Protocol { what, msg: l })
        }
    }

    /// Sends a method call and returns its serial.
    fn send_call(
        &mut self,
        dest: &str,
        path: &str,
        iface: &str,
        member: &str,
        args: &[Value],
    ) -> Result<u32> {
        self.serial += 1;
        let serial = self.serial;
        let sig: String = args.iter().map(Value::sig).collect();
        let mut body = Vec::new();
        // The body starts 8-aligned, so marshalling it alone is exact.
        for a in args {
            marshal(&mut body, a);
        }
        let field = |code: u8, v: Value| {
            Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(v))])
        };
        let mut fields = vec![
            field(1, Value::Path(path.into())),
            field(2, Value::str(iface)),
            field(3, Value::str(member)),
        ];
        if !dest.is_empty() {
            fields.push(field(6, Value::str(dest)));
        }
        if !sig.is_empty() {
            fields.push(field(8, Value::Sig(sig)));
        }
        let mut msg = vec![b'l', METHOD_CALL, 0, 1];
        msg.extend_from_slice(&(body.len() as u32).to_le_bytes());
        msg.extend_from_slice(&serial.to_le_bytes());
        marshal(&mut msg, &Value::Array("(yv)".into(), fields));
        while msg.len() % 8 != 0 {
            msg.push(0);
        }
        msg.extend_from_slice(&body);
        self.send_raw(&format!("call {member}"), &msg)?;
        Ok(serial)
    }

    fn read_exact(&mut self, what: &str, buf: &mut [u8], deadline: Instant) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timeout_err(what));
            }
            let _ = self.stream.get_ref().set_read_timeout(Some(left));
            match self.stream.read(&mut buf[done..]) {
                Ok(0) => {
                    return Err(DbusError::Protocol {
                        what: what.into(),
                        msg: "connection closed".into(),
                    });
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if timed_out(&e) => return Err(self.timeout_err(what)),
                Err(err) => {
                    return Err(DbusError::Io {
                        what: what.into(),
                        err,
                    });
                }
            }
        }
        Ok(())
    }

    /// Reads the next message.
    fn read_msg(&mut self, what: &str, deadline: Instant) -> Result<Message> {
        let mut head = [0u8; 16];
        self.read_exact(what, &mut head, deadline)?;
        let proto = |msg: &str| DbusError::Protocol {
            what: what.into(),
            msg: msg.into(),
        };
        if head[0] != b'l' {
            return Err(proto("big-endian messages are not supported"));
        }
        let u = |i: usize| {
            u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]) as usize
        };
        let (body_len, fields_len) = (u(4), u(12));
        if body_len > 128 << 20 || fields_len > 1 << 20 {
            return Err(proto("message too large"));
        }
        let fields_end = 16 + fields_len;
        let body_start = fields_end.div_ceil(8) * 8;
        let mut buf = head.to_vec();
        buf.resize(body_start + body_len, 0);
        self.read_exact(what, &mut buf[16..], deadline)?;
        let mut r = Reader { buf: &buf, pos: 12 };
        let fields = r.read("a(yv)").map_err(|m| proto(&m))?;
        let mut m = Message {
            kind: head[1],
            serial: u(8) as u32,
            reply_serial: None,
            path: None,
            interface: None,
            member: None,
            error_name: None,
            body: Vec::new(),
        };
        let mut sig = String::new();
        if let Value::Array(_, fs) = fields {
            for f in fs {
                let Value::Struct(kv) = f else { continue };
                let (Some(Value::Byte(code)), Some(v)) = (kv.first(), kv.get(1)) else {
                    continue;
                };
                let s = v.as_str().map(str::to_string);
                match code {
                    1 => m.path = s,
                    2 => m.interface = s,
                    3 => m.member = s,
                    4 => m.error_name = s,
                    5 => m.reply_serial = v.as_u64().map(|x| x as u32),
                    8 => sig = s.unwrap_or_default(),
                    _ => {}
                }
            }
        }
        let mut r = Reader {
            buf: &buf,
            pos: body_start,
        };
        for t in super::value::split_sig(&sig).map_err(|e| proto(&e))? {
            m.body.push(r.read(&t).map_err(|e| proto(&e))?);
        }
        Ok(m)
    }

    /// Calls a method and waits for its reply (signals read meanwhile are
    /// queued, never dropped).
    pub fn call(
        &mut self,
        dest: &str,
        path: &str,
        iface: &str,
        member: &str,
        args: &[Value],
    ) -> Result<Vec<Value>> {
        let what = format!("call {member}");
        let serial = self.send_call(dest, path, iface, member, args)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let m = self.read_msg(&what, deadline)?;
            if matches!(m.kind, METHOD_RETURN | ERROR) && m.reply_serial == Some(serial) {
                if m.kind == ERROR {
                    return Err(DbusError::Remote {
                        call: member.into(),
                        name: m.error_name.unwrap_or_default(),
                        msg: m
                            .body
                            .first()
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    });
                }
                return Ok(m.body);
            }
            if m.kind == SIGNAL {
                self.queue.push_back(m);
            }
        }
    }

    /// Waits for a signal for which `pick` returns a value (queued ones
    /// first).
    pub fn wait_signal<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&Message) -> Option<T>,
    ) -> Result<T> {
        while let Some(m) = self.queue.pop_front() {
            if let Some(t) = pick(&m) {
                return Ok(t);
            }
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            let m = self.read_msg(what, deadline)?;
            if m.kind == SIGNAL
                && let Some(t) = pick(&m)
            {
                return Ok(t);
            }
        }
    }
}
