//! A minimal D-Bus client of berth's own, for the systemd cgroup driver
//! (see `docs/cgroups.md` for why not a crate).

mod value;

pub use value::{Reader, Value, marshal, split_sig};
