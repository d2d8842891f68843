//! The one line a failed command prints: the error and its causes.
//!
//! berth's error types put their cause in their own message (`{what}:
//! {source}`), because most of them are also shown alone: the init sends
//! its failure to the parent as text, hooks and cgroup warnings are logged
//! by their `Display`. They also return that cause from `source()`, so a
//! plain walk of the chain (anyhow's `{:#}`) prints every errno twice
//! (`state.json: EACCES: Permission denied: EACCES: Permission denied`).
//! [`render`] walks the chain and leaves out a cause that the message
//! already shows, which holds for every type at once, also third-party ones
//! and those added later.

/// The error and each cause not yet shown, joined by `": "`.
pub fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Errno;
    use std::io;

    fn once(e: anyhow::Error, cause: &str) -> String {
        let text = render(&e);
        assert_eq!(text.matches(cause).count(), 1, "{text}");
        text
    }

    #[test]
    fn each_cause_once_for_berths_error_types() {
        let denied = || io::Error::from_raw_os_error(libc::EACCES);
        let io_text = denied().to_string();
        // The state store, directly and through the operations' error.
        let state = crate::state::StateError::Io {
            path: "/run/berth/c1".into(),
            source: denied(),
        };
        assert_eq!(
            once(state.into(), &io_text),
            format!("/run/berth/c1: {io_text}")
        );
        let nested = crate::ops::OpsError::State(crate::state::StateError::Io {
            path: "/run/berth".into(),
            source: denied(),
        });
        once(nested.into(), &io_text);
        let ops = crate::ops::OpsError::Sys {
            what: "kill".into(),
            source: Errno::EACCES,
        };
        assert_eq!(
            once(ops.into(), "Permission denied"),
            "kill: EACCES: Permission denied"
        );
        let launch = crate::launch::LaunchError::Sys {
            what: "clone3".into(),
            source: Errno::EPERM,
        };
        once(launch.into(), "Operation not permitted");
        let chan = crate::launch::protocol::ChannelError::Io(Errno::EPIPE);
        once(chan.into(), "Broken pipe");
        let tty = crate::tty::TtyError::Sys {
            what: "openpt",
            source: Errno::ENOENT,
        };
        once(tty.into(), "No such file");
        let spec = crate::spec::SpecError::Read {
            path: "/b/config.json".into(),
            source: denied(),
        };
        once(spec.into(), &io_text);
        // Context added by the CLI keeps its cause, once.
        let ctx = anyhow::Error::from(denied()).context("write /b/config.json");
        assert_eq!(render(&ctx), format!("write /b/config.json: {io_text}"));
    }

    #[test]
    fn distinct_causes_are_all_shown() {
        let e = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(render(&e), "outer: middle: inner");
    }
}
