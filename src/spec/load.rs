//! Parsing `config.json` into `oci-spec` types, with errors that say where
//! the document broke.

use oci_spec::runtime::Spec;

use super::SpecError;

/// Parses the bytes of a `config.json`.
///
/// A syntax error names its line and column; a value of the wrong shape
/// names its JSON path, e.g.
/// `config.json: linux.namespaces[2].type: unknown namespace "foo"`.
pub fn parse(bytes: &[u8]) -> Result<Spec, SpecError> {
    parse_value(parse_json(bytes)?)
}

/// The JSON document of a `config.json`, not yet checked against the spec.
pub fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, SpecError> {
    serde_json::from_slice(bytes).map_err(|e| SpecError::Syntax {
        line: e.line(),
        column: e.column(),
        msg: strip_position(&e.to_string()),
    })
}

/// [`parse`] of a document already read by [`parse_json`] (`exec` also
/// needs the raw `process` object, and parsing 10–20 KB of JSON twice
/// was a third of its own CPU work before the clone).
pub fn parse_value(mut value: serde_json::Value) -> Result<Spec, SpecError> {
    normalize(&mut value);
    let spec: Spec = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let msg = strip_position(&e.into_inner().to_string());
        if path == "." {
            return SpecError::invalid("(document)", msg);
        }
        SpecError::invalid(path.clone(), explain(&path, &msg))
    })?;
    Ok(spec)
}

/// Rewrites spellings of the runtime spec that `oci-spec` 0.10 names
/// differently, so valid configurations parse: two scheduler flags are
/// spelled `SCHED_RESET_ON_FORK` and `SCHED_FLAG_D_L_OVERRUN` by its
/// derive (the spec says `SCHED_FLAG_RESET_ON_FORK`, `SCHED_FLAG_DL_OVERRUN`).
fn normalize(v: &mut serde_json::Value) {
    let Some(flags) = v
        .pointer_mut("/process/scheduler/flags")
        .and_then(|f| f.as_array_mut())
    else {
        return;
    };
    for f in flags {
        let renamed = match f.as_str() {
            Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
            Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
            _ => continue,
        };
        *f = serde_json::Value::from(renamed);
    }
}

/// serde_json appends " at line L column C"; berth reports the JSON path
/// instead (or the position separately for syntax errors).
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Rewrites serde's "unknown variant" into a message that names what kind
/// of value was expected, based on where it occurred.
fn explain(path: &str, msg: &str) -> String {
    // serde's derive says "unknown variant `x`, expected ..."; oci-spec's
    // capability parser says "no variant for x (converted to ...)".
    let value = if let Some(rest) = msg.strip_prefix("unknown variant `") {
        rest.split('`').next().unwrap_or_default()
    } else if let Some(rest) = msg.strip_prefix("no variant for ") {
        rest.split(" (").next().unwrap_or_default()
    } else {
        return msg.to_string();
    };
    let noun = noun_for(path);
    match noun {
        Some(noun) => format!("unknown {noun} {value:?}"),
        None => format!("unknown value {value:?}"),
    }
}

fn noun_for(path: &str) -> Option<&'static str> {
    let last = path.rsplit('.').next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last);
    let table: &[(&str, &str, &str)] = &[
        ("linux.namespaces", "type", "namespace"),
        ("process.capabilities", "", "capability"),
        ("process.rlimits", "type", "rlimit"),
        ("linux.seccomp", "defaultAction", "seccomp action"),
        ("linux.seccomp", "action", "seccomp action"),
        ("linux.seccomp", "architectures", "seccomp architecture"),
        ("linux.seccomp", "flags", "seccomp flag"),
        ("linux.seccomp", "op", "seccomp operator"),
        ("linux.devices", "type", "device type"),
        ("linux.resources.devices", "type", "device type"),
        ("process.ioPriority", "class", "I/O priority class"),
        ("process.scheduler", "policy", "scheduler policy"),
        ("process.scheduler", "flags", "scheduler flag"),
        ("linux.personality", "domain", "personality domain"),
        ("linux.memoryPolicy", "mode", "memory policy mode"),
        ("linux.memoryPolicy", "flags", "memory policy flag"),
    ];
    table
        .iter()
        .find(|(prefix, field, _)| path.starts_with(prefix) && (field.is_empty() || *field == last))
        .map(|(_, _, noun)| *noun)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        parse(json.as_bytes()).expect_err("must fail").to_string()
    }

    #[test]
    fn minimal_config_parses() {
        let spec = parse(br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"}}"#).expect("valid");
        assert_eq!(spec.version(), "1.0.2");
    }

    #[test]
    fn unknown_namespace_names_its_path() {
        let e = err(
            r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"foo"}]}}"#,
        );
        assert_eq!(
            e,
            r#"config.json: linux.namespaces[2].type: unknown namespace "foo""#
        );
    }

    #[test]
    fn unknown_capability_names_its_path() {
        let e = err(
            r#"{"ociVersion":"1.0.2","process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
            "capabilities":{"bounding":["CAP_CHOWN","CAP_NOPE"]}}}"#,
        );
        assert_eq!(
            e,
            r#"config.json: process.capabilities.bounding[1]: unknown capability "CAP_NOPE""#
        );
    }

    #[test]
    fn wrong_type_names_its_path() {
        let e = err(
            r#"{"ociVersion":"1.0.2","process":{"cwd":"/","args":["sh"],"user":{"uid":"root","gid":0}}}"#,
        );
        assert!(
            e.starts_with("config.json: process.user.uid: invalid type: string"),
            "{e}"
        );
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let e = err("{\n  \"ociVersion\": \"1.0.2\",\n  \"root\": {\"path\": \"rootfs\"\n}\n");
        assert!(
            e.starts_with("config.json: line 5 column 0:") || e.starts_with("config.json: line 4"),
            "{e}"
        );
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let e = err(r#"{"ociVersion":"1.0.2"} x"#);
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn spec_spellings_of_scheduler_flags_parse() {
        let spec = parse(
            br#"{"ociVersion":"1.3.0","process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
            "scheduler":{"policy":"SCHED_BATCH","flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN","SCHED_FLAG_RECLAIM"]}}}"#,
        )
        .expect("valid");
        let flags = spec
            .process()
            .as_ref()
            .and_then(|p| p.scheduler().as_ref())
            .and_then(|s| s.flags().clone())
            .expect("flags");
        assert_eq!(flags.len(), 3);
        let e = err(
            r#"{"ociVersion":"1.3.0","process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
            "scheduler":{"policy":"SCHED_BATCH","flags":["SCHED_FLAG_BOGUS"]}}}"#,
        );
        assert_eq!(
            e,
            r#"config.json: process.scheduler.flags[0]: unknown scheduler flag "SCHED_FLAG_BOGUS""#
        );
    }

    #[test]
    fn empty_file_is_a_syntax_error() {
        assert!(err("").contains("EOF"));
    }
}
