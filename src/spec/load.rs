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
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || path == "." {
            return SpecError::Syntax {
                line: inner.line(),
                column: inner.column(),
                msg: strip_position(&inner.to_string()),
            };
        }
        SpecError::invalid(
            path.clone(),
            explain(&path, &strip_position(&inner.to_string())),
        )
    })?;
    de.end().map_err(|e| SpecError::Syntax {
        line: e.line(),
        column: e.column(),
        msg: strip_position(&e.to_string()),
    })?;
    Ok(spec)
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
    fn empty_file_is_a_syntax_error() {
        assert!(err("").contains("EOF"));
    }
}
