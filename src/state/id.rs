//! Container ID rules.

use super::StateError;

/// Checks a container ID. berth follows runc: letters, digits and `_ + - .`
/// only, which rules out `/`, control characters and whitespace; `.` and
/// `..` are refused so an ID can never name a directory outside the root.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let reason = if id.is_empty() {
        "must not be empty"
    } else if id == "." || id == ".." {
        "must not be \".\" or \"..\""
    } else if id.len() > 1024 {
        "is longer than 1024 bytes"
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
    {
        "may contain only letters, digits, '_', '+', '-' and '.'"
    } else {
        return Ok(());
    };
    Err(StateError::InvalidId {
        id: id.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_runc_style_ids() {
        for id in ["a", "abc-123", "k8s_POD.1+x", "0123456789abcdef"] {
            assert!(validate_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_traversal_and_junk() {
        for id in [
            "", ".", "..", "../x", "a/b", "/abs", "tab\tid", "nl\n", "nul\0", "spa ce", "é",
        ] {
            assert!(validate_id(id).is_err(), "{id:?} accepted");
        }
        let e = validate_id("a/b").expect_err("bad").to_string();
        assert!(e.starts_with("invalid container ID \"a/b\""), "{e}");
    }
}
