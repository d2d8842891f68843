//! The few messages of CRIU's RPC protocol (`rpc.proto`, proto2) that berth
//! sends and reads, encoded and decoded by hand.
//!
//! Why not `prost`/`protobuf`: berth uses six messages and a few dozen
//! fields; a generated module plus a runtime crate (and `protoc`, or a
//! checked-in generated file to keep in sync) would be far larger than the
//! ~250 lines here, which are unit-tested against bytes produced by CRIU's
//! own schema. Field numbers are those of CRIU's `rpc.proto` (3.x; fields
//! are only ever added there, never renumbered).

/// `criu_req_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ReqType {
    Dump = 1,
    Restore = 2,
    PreDump = 4,
    Notify = 6,
    FeatureCheck = 9,
    Version = 10,
}

/// `criu_cg_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum CgMode {
    Ignore = 0,
    Soft = 3,
    Full = 4,
    Strict = 5,
}

/// `criu_opts`: only the fields berth sets. Booleans are sent only when true
/// (proto2 optional fields default to false).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Opts {
    pub images_dir_fd: i32,
    pub pid: Option<i32>,
    pub leave_running: bool,
    pub ext_unix_sk: bool,
    pub tcp_established: bool,
    pub evasive_devices: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub log_level: Option<i32>,
    pub log_file: Option<String>,
    pub notify_scripts: bool,
    pub root: Option<String>,
    pub parent_img: Option<String>,
    pub track_mem: bool,
    pub auto_dedup: bool,
    pub work_dir_fd: Option<i32>,
    pub link_remap: bool,
    /// `ext_mnt`: (key, value) pairs.
    pub ext_mnt: Vec<(String, String)>,
    pub manage_cgroups: bool,
    /// `cg_root`: (controller, path); `None` controller for every one.
    pub cg_root: Vec<(Option<String>, String)>,
    pub rst_sibling: bool,
    /// `inherit_fd`: (key, descriptor in CRIU's process).
    pub inherit_fd: Vec<(String, i32)>,
    /// `external`: resources outside the image (`net[<inode>]:<key>`).
    pub external: Vec<String>,
    pub manage_cgroups_mode: Option<CgMode>,
    pub freeze_cgroup: Option<String>,
    pub tcp_skip_in_flight: bool,
    pub orphan_pts_master: bool,
    /// `ps`: the page server the dump sends memory pages to (or, with
    /// `lazy_pages`, the address the dump's own page server listens on).
    pub ps: Option<PageServer>,
    /// `empty_ns`: a `CLONE_NEW*` mask of namespaces created without their
    /// properties (berth: only `CLONE_NEWNET`).
    pub empty_ns: Option<u32>,
    /// `join_ns`: namespaces the restored processes join instead of ones
    /// CRIU would create (runc's way for a path other than net or pid).
    pub join_ns: Vec<JoinNs>,
    pub lazy_pages: bool,
    /// `status_fd`: CRIU writes a byte there when its lazy page server is
    /// ready (before CRIU 3.15; later ones send `status-ready` instead).
    pub status_fd: Option<i32>,
    /// `lsm_profile`: `apparmor:<name>` or `selinux:<label>` for the
    /// restored processes.
    pub lsm_profile: Option<String>,
    /// `lsm_mount_context`: the SELinux `context=` for restored mounts.
    pub lsm_mount_context: Option<String>,
}

/// `join_namespace`: a namespace CRIU joins on restore (`ns` is the
/// `/proc/<pid>/ns/` name: `ipc`, `uts`, `mnt`, `time`, `user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinNs {
    pub ns: String,
    pub ns_file: String,
    pub extra_opt: Option<String>,
}

/// `criu_page_server_info`: where a page server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageServer {
    pub address: String,
    pub port: i32,
}

/// `criu_features`: what a `FEATURE_CHECK` asks about, or what CRIU
/// answers (`None`: not asked / not reported).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    pub mem_track: Option<bool>,
    pub lazy_pages: Option<bool>,
}

/// `criu_req`.
#[derive(Debug, Clone, PartialEq)]
pub struct Req {
    pub kind: ReqType,
    pub opts: Option<Opts>,
    pub notify_success: bool,
    /// `features`, for a `FEATURE_CHECK`.
    pub features: Option<Features>,
}

/// `criu_notify`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    pub script: String,
    pub pid: i32,
}

/// `criu_version`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Version {
    pub major: i32,
    pub minor: i32,
    pub sublevel: i32,
}

impl Version {
    /// runc's number: major * 10000 + minor * 100 + sublevel.
    pub fn number(self) -> i64 {
        i64::from(self.major) * 10000 + i64::from(self.minor) * 100 + i64::from(self.sublevel)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.sublevel)
    }
}

/// `criu_resp`: the fields berth reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resp {
    pub kind: u32,
    pub success: bool,
    pub restore_pid: Option<i32>,
    pub notify: Option<Notify>,
    pub cr_errno: Option<i32>,
    pub cr_errmsg: Option<String>,
    pub version: Option<Version>,
    /// The answer to a `FEATURE_CHECK`.
    pub features: Option<Features>,
}

/// A message CRIU sent that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed CRIU message: {0}")]
pub struct DecodeError(pub &'static str);

// ---- encoding ----

#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }
    fn uint(&mut self, field: u32, v: u64) {
        self.key(field, 0);
        self.varint(v);
    }
    /// int32: negative values are sign-extended to ten bytes.
    fn int32(&mut self, field: u32, v: i32) {
        self.uint(field, i64::from(v) as u64);
    }
    fn flag(&mut self, field: u32, v: bool) {
        if v {
            self.uint(field, 1);
        }
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn string(&mut self, field: u32, s: Option<&str>) {
        if let Some(s) = s {
            self.bytes(field, s.as_bytes());
        }
    }
}

impl Opts {
    fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.int32(1, self.images_dir_fd);
        if let Some(p) = self.pid {
            e.int32(2, p);
        }
        e.flag(3, self.leave_running);
        e.flag(4, self.ext_unix_sk);
        e.flag(5, self.tcp_established);
        e.flag(6, self.evasive_devices);
        e.flag(7, self.shell_job);
        e.flag(8, self.file_locks);
        if let Some(l) = self.log_level {
            e.int32(9, l);
        }
        e.string(10, self.log_file.as_deref());
        if let Some(ps) = &self.ps {
            let mut m = Enc::default();
            m.bytes(1, ps.address.as_bytes());
            m.int32(2, ps.port);
            e.bytes(11, &m.0);
        }
        e.flag(12, self.notify_scripts);
        e.string(13, self.root.as_deref());
        e.string(14, self.parent_img.as_deref());
        e.flag(15, self.track_mem);
        e.flag(16, self.auto_dedup);
        if let Some(fd) = self.work_dir_fd {
            e.int32(17, fd);
        }
        e.flag(18, self.link_remap);
        for (k, v) in &self.ext_mnt {
            let mut m = Enc::default();
            m.bytes(1, k.as_bytes());
            m.bytes(2, v.as_bytes());
            e.bytes(23, &m.0);
        }
        e.flag(24, self.manage_cgroups);
        for (ctrl, path) in &self.cg_root {
            let mut m = Enc::default();
            m.string(1, ctrl.as_deref());
            m.bytes(2, path.as_bytes());
            e.bytes(25, &m.0);
        }
        e.flag(26, self.rst_sibling);
        for (k, fd) in &self.inherit_fd {
            let mut m = Enc::default();
            m.bytes(1, k.as_bytes());
            m.int32(2, *fd);
            e.bytes(27, &m.0);
        }
        if let Some(mode) = self.manage_cgroups_mode {
            e.uint(34, mode as u64);
        }
        for x in &self.external {
            e.bytes(37, x.as_bytes());
        }
        if let Some(mask) = self.empty_ns {
            e.uint(38, u64::from(mask));
        }
        for j in &self.join_ns {
            let mut m = Enc::default();
            m.bytes(1, j.ns.as_bytes());
            m.bytes(2, j.ns_file.as_bytes());
            m.string(3, j.extra_opt.as_deref());
            e.bytes(39, &m.0);
        }
        e.string(44, self.freeze_cgroup.as_deref());
        e.flag(46, self.tcp_skip_in_flight);
        e.flag(48, self.lazy_pages);
        if let Some(fd) = self.status_fd {
            e.int32(49, fd);
        }
        e.flag(50, self.orphan_pts_master);
        e.string(53, self.lsm_profile.as_deref());
        e.string(63, self.lsm_mount_context.as_deref());
        e.0
    }
}

impl Req {
    /// A request without options.
    pub fn bare(kind: ReqType) -> Self {
        Self {
            kind,
            opts: None,
            notify_success: false,
            features: None,
        }
    }

    /// The answer to a notification.
    pub fn notify_ack() -> Self {
        Self {
            notify_success: true,
            ..Self::bare(ReqType::Notify)
        }
    }

    /// A `FEATURE_CHECK` asking about `features`.
    pub fn feature_check(features: Features) -> Self {
        Self {
            features: Some(features),
            ..Self::bare(ReqType::FeatureCheck)
        }
    }

    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.uint(1, self.kind as u64);
        if let Some(o) = &self.opts {
            e.bytes(2, &o.encode());
        }
        e.flag(3, self.notify_success);
        if let Some(f) = self.features {
            e.bytes(5, &f.encode());
        }
        e.0
    }
}

impl Features {
    fn encode(self) -> Vec<u8> {
        let mut e = Enc::default();
        if let Some(v) = self.mem_track {
            e.uint(1, u64::from(v));
        }
        if let Some(v) = self.lazy_pages {
            e.uint(2, u64::from(v));
        }
        e.0
    }

    fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut out = Self::default();
        let mut d = Dec(b);
        while let Some((f, v)) = d.next()? {
            match f {
                1 => out.mem_track = Some(as_int(&v)? != 0),
                2 => out.lazy_pages = Some(as_int(&v)? != 0),
                _ => {}
            }
        }
        Ok(out)
    }
}

// ---- decoding ----

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

struct Dec<'a>(&'a [u8]);

impl<'a> Dec<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self
                .0
                .split_first()
                .ok_or(DecodeError("truncated varint"))?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint longer than 10 bytes"))
    }

    /// The next (field, value), skipping fixed-width fields.
    fn next(&mut self) -> Result<Option<(u64, Value<'a>)>, DecodeError> {
        loop {
            if self.0.is_empty() {
                return Ok(None);
            }
            let key = self.varint()?;
            let (field, wire) = (key >> 3, key & 7);
            match wire {
                0 => return Ok(Some((field, Value::Varint(self.varint()?)))),
                2 => {
                    let len = usize::try_from(self.varint()?)
                        .map_err(|_| DecodeError("length too large"))?;
                    if len > self.0.len() {
                        return Err(DecodeError("length past the end"));
                    }
                    let (b, rest) = self.0.split_at(len);
                    self.0 = rest;
                    return Ok(Some((field, Value::Bytes(b))));
                }
                1 | 5 => {
                    let n = if wire == 1 { 8 } else { 4 };
                    if n > self.0.len() {
                        return Err(DecodeError("fixed field past the end"));
                    }
                    self.0 = &self.0[n..];
                }
                _ => return Err(DecodeError("unknown wire type")),
            }
        }
    }
}

fn as_int(v: &Value<'_>) -> Result<i32, DecodeError> {
    match v {
        // int32 on the wire is the sign-extended value: truncation is the rule.
        Value::Varint(x) => Ok(*x as i64 as i32),
        Value::Bytes(_) => Err(DecodeError("expected an integer")),
    }
}

fn as_str(v: &Value<'_>) -> Result<String, DecodeError> {
    match v {
        Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        Value::Varint(_) => Err(DecodeError("expected a string")),
    }
}

fn as_msg<'a>(v: &Value<'a>) -> Result<&'a [u8], DecodeError> {
    match v {
        Value::Bytes(b) => Ok(b),
        Value::Varint(_) => Err(DecodeError("expected a message")),
    }
}

fn decode_notify(b: &[u8]) -> Result<Notify, DecodeError> {
    let mut n = Notify::default();
    let mut d = Dec(b);
    while let Some((f, v)) = d.next()? {
        match f {
            1 => n.script = as_str(&v)?,
            2 => n.pid = as_int(&v)?,
            _ => {}
        }
    }
    Ok(n)
}

fn decode_version(b: &[u8]) -> Result<Version, DecodeError> {
    let mut out = Version::default();
    let mut d = Dec(b);
    while let Some((f, v)) = d.next()? {
        match f {
            1 => out.major = as_int(&v)?,
            2 => out.minor = as_int(&v)?,
            4 => out.sublevel = as_int(&v)?,
            _ => {}
        }
    }
    Ok(out)
}

impl Resp {
    /// Decodes a `criu_resp`; unknown fields are skipped (newer CRIUs add
    /// fields).
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Resp::default();
        let (mut has_type, mut has_success) = (false, false);
        let mut d = Dec(b);
        while let Some((f, v)) = d.next()? {
            match f {
                1 => {
                    r.kind = as_int(&v)? as u32;
                    has_type = true;
                }
                2 => {
                    r.success = as_int(&v)? != 0;
                    has_success = true;
                }
                4 => {
                    let mut rd = Dec(as_msg(&v)?);
                    while let Some((f, v)) = rd.next()? {
                        if f == 1 {
                            r.restore_pid = Some(as_int(&v)?);
                        }
                    }
                }
                5 => r.notify = Some(decode_notify(as_msg(&v)?)?),
                7 => r.cr_errno = Some(as_int(&v)?),
                8 => r.features = Some(Features::decode(as_msg(&v)?)?),
                9 => r.cr_errmsg = Some(as_str(&v)?),
                10 => r.version = Some(decode_version(as_msg(&v)?)?),
                _ => {}
            }
        }
        if !has_type || !has_success {
            return Err(DecodeError("a required field (type, success) is missing"));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn request_bytes() {
        // Checked against python3-protobuf with CRIU's rpc_pb2:
        // criu_req(type=VERSION).SerializeToString() == b'\x08\x0a'.
        assert_eq!(Req::bare(ReqType::Version).encode(), vec![0x08, 0x0a]);
        // criu_req(type=NOTIFY, notify_success=True) == b'\x08\x06\x18\x01'.
        assert_eq!(Req::notify_ack().encode(), vec![0x08, 0x06, 0x18, 0x01]);
        let opts = Opts {
            images_dir_fd: 5,
            pid: Some(300),
            leave_running: true,
            log_file: Some("dump.log".into()),
            ext_mnt: vec![("/a".into(), "/b".into())],
            inherit_fd: vec![("pipe:[1]".into(), 0)],
            manage_cgroups_mode: Some(CgMode::Soft),
            work_dir_fd: Some(-1),
            ..Opts::default()
        };
        let req = Req {
            kind: ReqType::Dump,
            opts: Some(opts),
            notify_success: false,
            features: None,
        };
        // The same request serialised by python3-protobuf with CRIU's rpc_pb2.
        let want = "0801123a080510ac021801520864756d702e6c6f678801ffffffffffffffffff01ba01080a022f\
                    6112022f62da010c0a08706970653a5b315d1000900203";
        assert_eq!(hex(&req.encode()), want.replace(' ', ""));
    }

    #[test]
    fn external_namespace_bytes() {
        let req = Req {
            kind: ReqType::Restore,
            opts: Some(Opts {
                images_dir_fd: 5,
                inherit_fd: vec![("extRootNetNS".into(), 7)],
                external: vec!["net[4026532000]:extRootNetNS".into()],
                ..Opts::default()
            }),
            notify_success: false,
            features: None,
        };
        // python3-protobuf with CRIU's rpc_pb2: criu_req(type=RESTORE, opts=
        // criu_opts(images_dir_fd=5, external=[...], inherit_fd=[...])).
        let want = "080212340805da01100a0c657874526f6f744e65744e531007aa021c6e65745b\
                    343032363533323030305d3a657874526f6f744e65744e53";
        assert_eq!(hex(&req.encode()), want.replace(' ', ""));
    }

    #[test]
    fn join_namespace_bytes() {
        let req = Req {
            kind: ReqType::Restore,
            opts: Some(Opts {
                images_dir_fd: 5,
                join_ns: vec![
                    JoinNs {
                        ns: "ipc".into(),
                        ns_file: "/run/berth-ns/ipc".into(),
                        extra_opt: None,
                    },
                    JoinNs {
                        ns: "uts".into(),
                        ns_file: "/proc/42/ns/uts".into(),
                        extra_opt: Some("x".into()),
                    },
                ],
                ..Opts::default()
            }),
            notify_success: false,
            features: None,
        };
        // python3-protobuf with CRIU 3.17's rpc_pb2: criu_req(type=RESTORE,
        // opts=criu_opts(images_dir_fd=5, join_ns=[join_namespace(ns="ipc",
        // ns_file="/run/berth-ns/ipc"), join_namespace(ns="uts",
        // ns_file="/proc/42/ns/uts", extra_opt="x")])): field 39.
        let want = "080212390805ba02180a0369706312112f72756e2f62657274682d6e732f697063\
                    ba02190a03757473120f2f70726f632f34322f6e732f7574731a0178";
        assert_eq!(hex(&req.encode()), want.replace(' ', ""));
    }

    #[test]
    fn page_server_empty_ns_lazy_pages_and_status_fd_bytes() {
        let req = Req {
            kind: ReqType::Dump,
            opts: Some(Opts {
                images_dir_fd: 5,
                pid: Some(300),
                ps: Some(PageServer {
                    address: "10.0.2.15".into(),
                    port: 27277,
                }),
                empty_ns: Some(0x4000_0000),
                lazy_pages: true,
                status_fd: Some(9),
                ..Opts::default()
            }),
            notify_success: false,
            features: None,
        };
        // python3-protobuf with CRIU 3.17's rpc_pb2: criu_req(type=DUMP,
        // opts=criu_opts(images_dir_fd=5, pid=300, ps=criu_page_server_info(
        // address="10.0.2.15", port=27277), empty_ns=CLONE_NEWNET,
        // lazy_pages=True, status_fd=9)).
        let want = "08011223080510ac025a0f0a0931302e302e322e3135108dd501b002808080800480\
                    0301880309";
        assert_eq!(hex(&req.encode()), want);
    }

    #[test]
    fn lsm_profile_and_mount_context_bytes() {
        let req = Req {
            kind: ReqType::Restore,
            opts: Some(Opts {
                images_dir_fd: 5,
                empty_ns: Some(0x4000_0000),
                lazy_pages: true,
                lsm_profile: Some("apparmor:berth-test".into()),
                lsm_mount_context: Some("system_u:object_r:container_file_t:s0:c1,c2".into()),
                ..Opts::default()
            }),
            notify_success: false,
            features: None,
        };
        // rpc_pb2: criu_req(type=RESTORE, opts=criu_opts(images_dir_fd=5,
        // empty_ns=CLONE_NEWNET, lazy_pages=True, lsm_profile=...,
        // lsm_mount_context=...)): fields 53 and 63.
        let want = "080212500805b0028080808004800301aa031361707061726d6f723a62657274682d\
                    74657374fa032b73797374656d5f753a6f626a6563745f723a636f6e7461696e65725f\
                    66696c655f743a73303a63312c6332";
        assert_eq!(hex(&req.encode()), want);
    }

    #[test]
    fn feature_check_bytes_and_answer() {
        let req = Req::feature_check(Features {
            lazy_pages: Some(true),
            ..Features::default()
        });
        // rpc_pb2: criu_req(type=FEATURE_CHECK, features=criu_features(lazy_pages=True)).
        assert_eq!(hex(&req.encode()), "08092a021001");
        // criu_resp(type=FEATURE_CHECK, success=True,
        //           features=criu_features(mem_track=False, lazy_pages=True / False)).
        for (b, lazy) in [
            (
                [0x08, 0x09, 0x10, 0x01, 0x42, 0x04, 0x08, 0x00, 0x10, 0x01],
                true,
            ),
            (
                [0x08, 0x09, 0x10, 0x01, 0x42, 0x04, 0x08, 0x00, 0x10, 0x00],
                false,
            ),
        ] {
            let r = Resp::decode(&b).expect("decodes");
            assert_eq!(
                r.features,
                Some(Features {
                    mem_track: Some(false),
                    lazy_pages: Some(lazy)
                })
            );
        }
    }

    #[test]
    fn response_decoding() {
        // criu_resp(type=VERSION, success=True,
        //           version=criu_version(major_number=3, minor_number=17, sublevel=1))
        let b = [
            0x08, 0x0a, 0x10, 0x01, 0x52, 0x06, 0x08, 0x03, 0x10, 0x11, 0x20, 0x01,
        ];
        let r = Resp::decode(&b).expect("decodes");
        assert!(r.success);
        let v = r.version.expect("version");
        assert_eq!((v.major, v.minor, v.sublevel), (3, 17, 1));
        assert_eq!(v.number(), 31701);
        assert_eq!(v.to_string(), "3.17.1");
        // criu_resp(type=NOTIFY, success=True, notify=criu_notify(script="post-restore", pid=42))
        let mut b = vec![0x08, 0x06, 0x10, 0x01, 0x2a, 16, 0x0a, 12];
        b.extend_from_slice(b"post-restore");
        b.extend_from_slice(&[0x10, 42]);
        let r = Resp::decode(&b).expect("decodes");
        assert_eq!(
            r.notify,
            Some(Notify {
                script: "post-restore".into(),
                pid: 42
            })
        );
        // type=RESTORE, success=False, cr_errno=-1 (ten bytes), cr_errmsg="x",
        // and an unknown fixed32 field 99 that must be skipped.
        let mut b = vec![0x08, 0x02, 0x10, 0x00, 0x38];
        b.extend_from_slice(&[0xff; 9]);
        b.push(0x01);
        b.extend_from_slice(&[0x4a, 1, b'x', 0x9d, 0x06, 1, 2, 3, 4]);
        let r = Resp::decode(&b).expect("decodes");
        assert_eq!(
            (r.success, r.cr_errno, r.cr_errmsg.as_deref()),
            (false, Some(-1), Some("x"))
        );
    }

    #[test]
    fn malformed_responses_are_errors() {
        for b in [
            &[][..],                         // nothing: required fields missing
            &[0x08],                         // truncated varint
            &[0x08, 0x02, 0x4a, 0x05, b'x'], // length past the end
            &[0x08, 0x02, 0x0b],             // wire type 3
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ], // 11-byte varint
            &[0x08, 0x02, 0x22, 0x01],       // sub-message past the end
        ] {
            assert!(Resp::decode(b).is_err(), "{b:?}");
        }
    }
}
