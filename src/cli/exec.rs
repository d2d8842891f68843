//! `berth exec`. Flags go before the container ID; everything after it is
//! the command (as in runc, so `exec c1 ls -l` passes `-l` to `ls`).

use std::path::PathBuf;

use crate::ops::{self, ExecOptions, ProcessFlags, Runtime};

/// Arguments of `exec`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Unix socket that receives the pty master (with --tty and --detach).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the new process.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    pub cwd: Option<String>,
    /// Set an environment variable (NAME=value), repeatable.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// User: uid[:gid].
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional group ID, repeatable.
    #[arg(short = 'g', long = "additional-gids", allow_negative_numbers = true)]
    pub additional_gids: Vec<i64>,
    /// Path to a process.json (replaces the process flags and the command).
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Detach: return once the process runs.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process's PID to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label of the process.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile of the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs (--no-new-privs=false clears the config's).
    #[arg(
        long = "no-new-privs",
        num_args = 0..=1,
        default_missing_value = "true",
        require_equals = true
    )]
    pub no_new_privs: Option<bool>,
    /// Add a capability (bounding, effective, permitted), repeatable.
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass this many descriptors after stdio (3, 4, ...) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    /// Run in an existing sub-cgroup: [controller[,controller]:]path.
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Allow exec into a paused container.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// The container ID, then the command and its arguments.
    #[arg(
        value_name = "ID [COMMAND [ARG]...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let mut args = a.args.into_iter();
    let id = args.next().unwrap_or_default();
    let opts = ExecOptions {
        process_file: a.process,
        flags: ProcessFlags {
            args: args.collect(),
            cwd: a.cwd,
            env: a.env,
            tty: a.tty,
            user: a.user,
            additional_gids: a.additional_gids,
            caps: a.cap,
            no_new_privs: a.no_new_privs,
            apparmor: a.apparmor,
            process_label: a.process_label,
        },
        detach: a.detach,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        pidfd_socket: a.pidfd_socket,
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        cgroup: a.cgroup,
    };
    Ok(ops::exec(rt, &id, &opts)?)
}
