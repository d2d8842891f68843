//! berth: an OCI container runtime, a drop-in for `runc`.
//!
//! The crate is laid out by concern (see `docs/architecture.md`):
//! `cli` parses arguments, `ops` implements the commands, `spec` validates
//! the configuration, `state` remembers containers, `launch` creates them,
//! `cgroups` manages their resources, and `sys` is the only module with
//! `unsafe` code.
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod capabilities;
pub mod cgroups;
pub mod cli;
pub mod criu;
pub mod dbus;
pub mod faults;
pub mod hooks;
pub mod launch;
pub mod logging;
pub mod netlink;
pub mod ops;
pub mod proc;
pub mod rootpath;
pub mod seccomp;
pub mod signal;
pub mod spec;
pub mod state;
pub mod sys;
pub mod timefmt;
pub mod tty;
pub mod userdb;

/// The commit berth was built from.
pub const COMMIT: &str = env!("BERTH_COMMIT");
