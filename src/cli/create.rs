//! `berth create`.

use std::path::PathBuf;

use crate::ops::{self, CreateOptions, Runtime};

/// Options shared by `create` and `run`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct CreateFlags {
    /// Path to the bundle directory.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// File to write the init's PID to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (with `terminal: true`).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the container's init.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many descriptors after stdio (3, 4, ...) into the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
}

impl From<CreateFlags> for CreateOptions {
    fn from(f: CreateFlags) -> Self {
        CreateOptions {
            bundle: f.bundle,
            pid_file: f.pid_file,
            console_socket: f.console_socket,
            pidfd_socket: f.pidfd_socket,
            no_pivot: f.no_pivot,
            no_new_keyring: f.no_new_keyring,
            preserve_fds: f.preserve_fds,
        }
    }
}

/// Arguments of `create`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Container ID.
    pub id: String,
    #[command(flatten)]
    pub opts: CreateFlags,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    ops::create(rt, &a.id, &a.opts.into())?;
    Ok(0)
}
