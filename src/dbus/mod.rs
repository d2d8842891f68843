//! A minimal D-Bus client of berth's own, for the systemd cgroup driver
//! (see `docs/cgroups.md` for why not a crate).

mod conn;
mod value;

pub use conn::{Conn, DbusError, Message};
pub use value::{Reader, Value, marshal, split_sig};
