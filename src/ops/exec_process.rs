//! The process `exec` starts: read from `--process FILE`, or built from the
//! container's saved `config.json` and the command-line flags with runc's
//! rules. Pure, and unit-tested below.

use std::collections::BTreeMap;

use oci_spec::runtime::Process;
use serde_json::{Value, json};

use super::OpsError;

/// The flags of `exec` that shape the process (without `--process`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessFlags {
    /// The command and its arguments.
    pub args: Vec<String>,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    pub tty: bool,
    /// `-u uid[:gid]`.
    pub user: Option<String>,
    /// `-g gid`, repeated.
    pub additional_gids: Vec<i64>,
    /// `-c CAP`, repeated.
    pub caps: Vec<String>,
    /// `--no-new-privs[=bool]`; `None` keeps the config's value.
    pub no_new_privs: Option<bool>,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
}

/// Applies runc's `exec` rules to the `process` object of the container's
/// configuration:
/// - the command replaces `args` (and must not be empty);
/// - `--cwd`, `--apparmor`, `--process-label` replace their fields;
/// - each `--cap` joins the bounding, effective and permitted sets, and the
///   ambient set only if the config has an inheritable set — the
///   inheritable set itself never grows (CVE-2022-29162);
/// - `--env` entries are appended (later entries win);
/// - `terminal` is `--tty`, never the config's;
/// - `--no-new-privs` replaces the value only when given;
/// - `--user uid[:gid]` and `--additional-gids` (appended).
pub fn from_config(base: &Value, f: &ProcessFlags) -> Result<Value, OpsError> {
    let mut p = match base {
        Value::Object(_) => base.clone(),
        _ => return Err(invalid("config.json has no process to start from")),
    };
    if f.args.is_empty() {
        return Err(invalid("exec args cannot be empty"));
    }
    p["args"] = json!(f.args);
    if let Some(cwd) = f.cwd.as_deref().filter(|c| !c.is_empty()) {
        p["cwd"] = json!(cwd);
    }
    if let Some(a) = f.apparmor.as_deref().filter(|a| !a.is_empty()) {
        p["apparmorProfile"] = json!(a);
    }
    if let Some(l) = f.process_label.as_deref().filter(|l| !l.is_empty()) {
        p["selinuxLabel"] = json!(l);
    }
    if !f.caps.is_empty() {
        if !p["capabilities"].is_object() {
            p["capabilities"] = json!({});
        }
        let caps = &mut p["capabilities"];
        let with_ambient = caps.get("inheritable").is_some_and(|v| !v.is_null());
        for c in &f.caps {
            for set in ["bounding", "effective", "permitted"] {
                push(&mut caps[set], c);
            }
            if with_ambient {
                push(&mut caps["ambient"], c);
            }
        }
    }
    for e in &f.env {
        push(&mut p["env"], e);
    }
    p["terminal"] = json!(f.tty);
    if let Some(nnp) = f.no_new_privs {
        p["noNewPrivileges"] = json!(nnp);
    }
    if !p["user"].is_object() {
        p["user"] = json!({"uid": 0, "gid": 0});
    }
    if let Some(user) = f.user.as_deref().filter(|u| !u.is_empty()) {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user, None),
        };
        if let Some(g) = gid {
            let g: u32 = g
                .parse()
                .map_err(|_| invalid(format!("bad gid: {g:?} is not a number")))?;
            p["user"]["gid"] = json!(g);
        }
        let u: u32 = uid
            .parse()
            .map_err(|_| invalid(format!("bad uid: {uid:?} is not a number")))?;
        p["user"]["uid"] = json!(u);
    }
    for g in &f.additional_gids {
        if *g < 0 || *g > i64::from(u32::MAX) {
            return Err(invalid(format!(
                "additional-gids must be a positive number {g}"
            )));
        }
        push(&mut p["user"]["additionalGids"], &json!(g));
    }
    Ok(p)
}

fn push(slot: &mut Value, item: impl Into<ValueRef>) {
    let v = item.into().0;
    match slot {
        Value::Array(a) => a.push(v),
        _ => *slot = Value::Array(vec![v]),
    }
}

/// A value to append (from a string or a JSON value).
struct ValueRef(Value);

impl From<&String> for ValueRef {
    fn from(s: &String) -> Self {
        Self(Value::String(s.clone()))
    }
}

impl From<&Value> for ValueRef {
    fn from(v: &Value) -> Self {
        Self(v.clone())
    }
}

fn invalid(msg: impl Into<String>) -> OpsError {
    OpsError::Invalid(msg.into())
}

/// Parses a `process` object; errors name `source` and the JSON path. A
/// missing (or null) `user` is uid 0, gid 0, as runc reads it.
pub fn parse(source: &str, bytes: &[u8]) -> Result<Process, OpsError> {
    let mut v: Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("{source}: {e}")))?;
    if let Some(obj) = v.as_object_mut()
        && obj.get("user").is_none_or(Value::is_null)
    {
        obj.insert("user".into(), json!({"uid": 0, "gid": 0}));
    }
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            invalid(format!("{source}: {inner}"))
        } else {
            invalid(format!("{source}: {path}: {inner}"))
        }
    })
}

/// runc's `--cgroup` arguments: one `path` (every controller, or cgroup
/// v2), or `ctrl[,ctrl…]:path` entries. Returns controller → sub-path,
/// with `""` for "every controller".
pub fn parse_cgroup_args(args: &[String]) -> Result<BTreeMap<String, String>, OpsError> {
    let mut out = BTreeMap::new();
    for a in args {
        match a.split_once(':') {
            Some((ctrls, path)) => {
                for c in ctrls.split(',') {
                    if c.is_empty() {
                        return Err(invalid(format!(
                            "invalid --cgroup argument: {a} (empty <controller> prefix)"
                        )));
                    }
                    if out.insert(c.to_string(), path.to_string()).is_some() {
                        return Err(invalid(format!(
                            "invalid --cgroup argument(s): controller {c} specified multiple times"
                        )));
                    }
                }
            }
            None => {
                if args.len() != 1 {
                    return Err(invalid(format!(
                        "invalid --cgroup argument: {a} (missing <controller>: prefix)"
                    )));
                }
                out.insert(String::new(), a.clone());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sleep", "100"],
            "env": ["PATH=/bin", "A=1"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_KILL"],
                "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL"]
            },
            "noNewPrivileges": true
        })
    }

    fn flags(args: &[&str]) -> ProcessFlags {
        ProcessFlags {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn command_replaces_args_and_terminal_follows_tty() {
        let p = from_config(&base(), &flags(&["ls", "-l"])).expect("ok");
        assert_eq!(p["args"], json!(["ls", "-l"]));
        assert_eq!(p["terminal"], json!(false));
        assert_eq!(p["noNewPrivileges"], json!(true));
        assert!(from_config(&base(), &flags(&[])).is_err());
        assert!(from_config(&Value::Null, &flags(&["ls"])).is_err());
    }

    #[test]
    fn caps_never_reach_inheritable() {
        let mut f = flags(&["sh"]);
        f.caps = vec!["CAP_NET_ADMIN".into()];
        let p = from_config(&base(), &f).expect("ok");
        let caps = &p["capabilities"];
        for set in ["bounding", "effective", "permitted"] {
            assert_eq!(caps[set], json!(["CAP_KILL", "CAP_NET_ADMIN"]), "{set}");
        }
        assert!(caps.get("inheritable").is_none());
        assert!(caps.get("ambient").is_none());
        let mut b = base();
        b["capabilities"]["inheritable"] = json!([]);
        let p = from_config(&b, &f).expect("ok");
        assert_eq!(p["capabilities"]["ambient"], json!(["CAP_NET_ADMIN"]));
        assert_eq!(p["capabilities"]["inheritable"], json!([]));
    }

    #[test]
    fn user_env_cwd_and_privs() {
        let mut f = flags(&["id"]);
        f.user = Some("1000:1001".into());
        f.additional_gids = vec![5, 6];
        f.env = vec!["A=2".into()];
        f.cwd = Some("/tmp".into());
        f.no_new_privs = Some(false);
        f.tty = true;
        f.apparmor = Some("prof".into());
        let p = from_config(&base(), &f).expect("ok");
        assert_eq!(
            p["user"],
            json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 6]})
        );
        assert_eq!(p["env"], json!(["PATH=/bin", "A=1", "A=2"]));
        assert_eq!(p["cwd"], json!("/tmp"));
        assert_eq!(p["noNewPrivileges"], json!(false));
        assert_eq!(p["terminal"], json!(true));
        assert_eq!(p["apparmorProfile"], json!("prof"));
        f.user = Some("7".into());
        let p = from_config(&base(), &f).expect("ok");
        assert_eq!(p["user"]["uid"], json!(7));
        assert_eq!(p["user"]["gid"], json!(0));
        f.user = Some("root".into());
        assert!(from_config(&base(), &f).is_err());
        f.user = None;
        f.additional_gids = vec![-1];
        assert!(from_config(&base(), &f).is_err());
    }

    #[test]
    fn process_files_name_their_errors() {
        let p = parse(
            "process.json",
            br#"{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}}"#,
        )
        .expect("valid");
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        let e = parse(
            "process.json",
            br#"{"cwd":"/","args":["sh"],"user":{"uid":"x","gid":0}}"#,
        )
        .expect_err("bad uid")
        .to_string();
        assert!(e.starts_with("process.json: user.uid: invalid type"), "{e}");
        assert!(parse("process.json", b"{").is_err());
        assert!(parse("process.json", br#"{"cwd":"/","args":["sh"]} x"#).is_err());
        // Without `user` (or with null): root, as runc reads it.
        for json in [
            &br#"{"cwd":"/","args":["sh"]}"#[..],
            br#"{"cwd":"/","args":["sh"],"user":null}"#,
        ] {
            let p = parse("process.json", json).expect("no user");
            assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        }
        let e = parse("process.json", br#"{"cwd":"/","args":"sh"}"#)
            .expect_err("bad args")
            .to_string();
        assert!(e.starts_with("process.json: args: invalid type"), "{e}");
    }

    #[test]
    fn cgroup_arguments() {
        let one =
            |a: &[&str]| parse_cgroup_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let m = one(&["sub"]).expect("ok");
        assert_eq!(m.get(""), Some(&"sub".to_string()));
        let m = one(&["cpu,cpuacct:a", "memory:b"]).expect("ok");
        assert_eq!(m.len(), 3);
        assert_eq!(m["cpuacct"], "a");
        assert!(one(&["a", "b"]).is_err());
        assert!(one(&[":x"]).is_err());
        assert!(one(&["cpu:a", "cpu:b"]).is_err());
        assert!(one(&[]).expect("ok").is_empty());
    }
}
