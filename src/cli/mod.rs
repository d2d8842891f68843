//! The command line: `clap` definitions and dispatch. Each command lives in
//! its own file and only maps arguments onto an operation in [`crate::ops`].

mod checkpoint;
mod completion;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod report;
mod restore;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::logging::{self, Format};
use crate::ops::{Caller, RootChoice, RootlessFlag, Runtime};

/// berth: an OCI container runtime.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    disable_version_flag = true,
    about = "An OCI container runtime, a drop-in for runc"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    /// Print the version.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every command accepts (before or after the command name).
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct GlobalOpts {
    /// Directory for container state (default: /run/berth, or
    /// $XDG_RUNTIME_DIR/berth when rootless).
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: Format,
    /// Log debug messages, including the duration of each launch phase.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the systemd cgroup driver (cgroupsPath is "slice:prefix:name").
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode (only before the command: `spec --rootless` is a flag
    /// of its own, as in runc).
    #[arg(long, value_enum, default_value = "auto")]
    pub rootless: Rootless,
}

/// Values of `--rootless`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Rootless {
    Auto,
    True,
    False,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container, waiting for `start`.
    Create(Lazy<create::Args>),
    /// Start a created container.
    Start(Lazy<start::Args>),
    /// Create and start a container.
    Run(Lazy<run::Args>),
    /// Print a container's state.
    State(Lazy<state::Args>),
    /// Run a process in a container.
    Exec(Lazy<exec::Args>),
    /// Send a signal to a container.
    Kill(Lazy<kill::Args>),
    /// Delete a container.
    Delete(Lazy<delete::Args>),
    /// List containers.
    List(Lazy<list::Args>),
    /// Write a default config.json.
    Spec(Lazy<spec::Args>),
    /// Print the features this berth implements.
    Features(Lazy<features::Args>),
    /// Change the resource limits of a container.
    Update(Lazy<Box<update::Args>>),
    /// Freeze every process of a container.
    Pause(Lazy<pause::Args>),
    /// Thaw a paused container.
    Resume(Lazy<resume::Args>),
    /// Print a container's resource statistics and OOM events.
    Events(Lazy<events::Args>),
    /// List the processes of a container.
    Ps(Lazy<ps::Args>),
    /// Print a shell completion script (bash, zsh or fish).
    Completion(Lazy<completion::Args>),
    /// Checkpoint a running container with CRIU.
    Checkpoint(Lazy<checkpoint::Args>),
    /// Restore a container from a CRIU checkpoint.
    Restore(Lazy<restore::Args>),
}

/// A command's arguments, added to clap's tree only when that command is
/// the one parsed (`Command::defer`). Building the flags of every command
/// costs about 200 KiB of heap at each start, most of the peak resident
/// set of a short command such as `exec` or `state`; `--help`, the man
/// pages and the completions build the whole tree as before.
#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T> std::ops::Deref for Lazy<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Lazy<T> {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Lazy)
    }
    fn from_arg_matches_mut(m: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(m).map(Lazy)
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
    fn update_from_arg_matches_mut(&mut self, m: &mut clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(m)
    }
}

impl<T: clap::Args> clap::Args for Lazy<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(augment::<T>)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(augment_for_update::<T>)
    }
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// `T`'s flags, run when clap builds the command. The command's own help
/// text (the variant's doc, set before this runs) stays.
fn augment<T: clap::Args>(cmd: clap::Command) -> clap::Command {
    let (about, long) = (cmd.get_about().cloned(), cmd.get_long_about().cloned());
    keep_about(T::augment_args(cmd), about, long)
}

fn augment_for_update<T: clap::Args>(cmd: clap::Command) -> clap::Command {
    let (about, long) = (cmd.get_about().cloned(), cmd.get_long_about().cloned());
    keep_about(T::augment_args_for_update(cmd), about, long)
}

fn keep_about(
    cmd: clap::Command,
    about: Option<clap::builder::StyledStr>,
    long: Option<clap::builder::StyledStr>,
) -> clap::Command {
    let cmd = match about {
        Some(a) => cmd.about(a),
        None => cmd.about(None),
    };
    match long {
        Some(l) => cmd.long_about(l),
        None => cmd.long_about(None),
    }
}

/// The version text of `berth --version`.
pub fn version_text() -> String {
    format!(
        "berth version {}\ncommit: {}\nspec: 1.3.0\nlibseccomp: {}\n",
        env!("CARGO_PKG_VERSION"),
        crate::COMMIT,
        crate::seccomp::library_version()
    )
}

/// containerd (go-runc) passes `-no-subreaper` with Go's single dash:
/// accept it as `--no-subreaper`.
pub fn go_style_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| {
            if a == "-no-subreaper" {
                OsString::from("--no-subreaper")
            } else {
                a
            }
        })
        .collect()
}

/// Runs the command line; returns the exit status.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(go_style_flags(args)) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    if cli.version {
        print!("{}", version_text());
        return 0;
    }
    let Some(command) = cli.command else {
        let _ = <Cli as clap::CommandFactory>::command().print_help();
        return 0;
    };
    let to_stderr = match logging::init(
        cli.global.log.as_deref(),
        cli.global.log_format,
        cli.global.debug,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "berth: --log {}: {e}",
                cli.global
                    .log
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
                    .display()
            );
            return 1;
        }
    };
    // The code that ran so far (argument parsing, logging set-up) will not
    // run again in this process: give its pages back before the command
    // touches its own, which keeps the peak resident set low (`sys::mem`).
    let _ = crate::sys::mem::release_code();
    // exec's own failures exit 255, so callers can tell them from the
    // command's status (runc's convention); every other failure exits 1.
    let (prefix, code) = match command {
        Command::Exec(_) => ("exec failed: ", 255),
        _ => ("", 1),
    };
    match dispatch(&cli.global, command) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{prefix}{}", report::render(&e));
            tracing::error!("{msg}");
            if !to_stderr {
                eprintln!("{msg}");
            }
            code
        }
    }
}

fn dispatch(g: &GlobalOpts, command: Command) -> anyhow::Result<i32> {
    let caller = Caller::current();
    let rootless = caller.rootless(match g.rootless {
        Rootless::Auto => RootlessFlag::Auto,
        Rootless::True => RootlessFlag::True,
        Rootless::False => RootlessFlag::False,
    });
    // `spec`, `features` and `completion` keep no state: they need no root.
    let needs_state = !matches!(
        command,
        Command::Spec(_) | Command::Features(_) | Command::Completion(_)
    );
    let root = match caller.state_root(g.root.as_deref()) {
        Ok(r) => r,
        Err(_) if !needs_state => RootChoice {
            path: PathBuf::from(crate::ops::SYSTEM_ROOT),
            private: false,
        },
        Err(e) => return Err(e.into()),
    };
    if needs_state {
        root.prepare()?;
    }
    let mut rt = Runtime::new(&root.path, g.systemd_cgroup);
    rt.rootless = rootless;
    match command {
        Command::Create(a) => create::run(&rt, a.0),
        Command::Start(a) => start::run(&rt, a.0),
        Command::Run(a) => run::run(&rt, a.0),
        Command::State(a) => state::run(&rt, a.0),
        Command::Exec(a) => exec::run(&rt, a.0),
        Command::Kill(a) => kill::run(&rt, a.0),
        Command::Delete(a) => delete::run(&rt, a.0),
        Command::List(a) => list::run(&rt, a.0),
        Command::Spec(a) => spec::run(a.0),
        Command::Features(a) => features::run(&rt, a.0),
        Command::Update(a) => update::run(&rt, *a.0),
        Command::Pause(a) => pause::run(&rt, a.0),
        Command::Resume(a) => resume::run(&rt, a.0),
        Command::Events(a) => events::run(&rt, a.0),
        Command::Ps(a) => ps::run(&rt, a.0),
        Command::Completion(a) => completion::run(a.0),
        Command::Checkpoint(a) => checkpoint::run(&rt, a.0),
        Command::Restore(a) => restore::run(&rt, a.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied())).expect("parses")
    }

    #[test]
    fn flags_before_and_after_the_id() {
        for args in [
            &["create", "c1", "--bundle", "/b"][..],
            &["create", "--bundle", "/b", "c1"],
            &["create", "-b", "/b", "c1"],
        ] {
            let Some(Command::Create(a)) = parse(args).command else {
                panic!("not create")
            };
            assert_eq!(a.id, "c1");
            assert_eq!(a.opts.bundle, PathBuf::from("/b"));
        }
    }

    #[test]
    fn global_flags_anywhere() {
        let c = parse(&[
            "--root",
            "/r",
            "--log",
            "/l.json",
            "--log-format",
            "json",
            "state",
            "c1",
        ]);
        assert_eq!(c.global.root, Some(PathBuf::from("/r")));
        assert_eq!(c.global.log_format, Format::Json);
        let c = parse(&["state", "c1", "--root", "/r2"]);
        assert_eq!(c.global.root, Some(PathBuf::from("/r2")));
    }

    #[test]
    fn kill_forms() {
        let Some(Command::Kill(k)) = parse(&["kill", "c1", "9"]).command else {
            panic!()
        };
        assert_eq!(
            (k.id.as_str(), k.signal.as_str(), k.all),
            ("c1", "9", false)
        );
        let Some(Command::Kill(k)) = parse(&["kill", "--all", "c1", "KILL"]).command else {
            panic!()
        };
        assert!(k.all);
        let Some(Command::Kill(k)) = parse(&["kill", "-a", "c1"]).command else {
            panic!()
        };
        assert_eq!(k.signal, "SIGTERM");
    }

    #[test]
    fn run_and_delete_flags() {
        let Some(Command::Run(r)) = parse(&[
            "run",
            "-d",
            "--keep",
            "--pid-file",
            "/p",
            "--preserve-fds",
            "2",
            "c1",
        ])
        .command
        else {
            panic!()
        };
        assert!(r.detach && r.keep);
        assert_eq!(r.create.opts.preserve_fds, 2);
        let Some(Command::Delete(d)) = parse(&["delete", "-f", "c1"]).command else {
            panic!()
        };
        assert!(d.force);
        let Some(Command::List(l)) = parse(&["list", "-f", "json", "-q"]).command else {
            panic!()
        };
        assert!(l.quiet);
    }

    #[test]
    fn cgroup_commands() {
        let Some(Command::Update(u)) = parse(&[
            "update",
            "--memory",
            "-1",
            "--pids-limit",
            "-1",
            "--cpu-quota",
            "-1",
            "c1",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!((u.id.as_str(), u.memory.as_deref()), ("c1", Some("-1")));
        assert_eq!(u.pids_limit, Some(-1));
        let Some(Command::Update(u)) = parse(&["update", "--resources=-", "c1"]).command else {
            panic!()
        };
        assert_eq!(u.resources.as_deref(), Some("-"));
        let Some(Command::Ps(p)) = parse(&["ps", "-f", "json", "c1"]).command else {
            panic!()
        };
        assert_eq!((p.format.as_str(), p.ps_args.len()), ("json", 0));
        let Some(Command::Ps(p)) = parse(&["ps", "c1", "-o", "pid,comm"]).command else {
            panic!()
        };
        assert_eq!(p.ps_args, vec!["-o", "pid,comm"]);
        let Some(Command::Events(e)) = parse(&["events", "--interval", "1s", "c1"]).command else {
            panic!()
        };
        assert_eq!((e.interval.as_str(), e.stats), ("1s", false));
        assert!(matches!(
            parse(&["pause", "c1"]).command,
            Some(Command::Pause(_))
        ));
        assert!(matches!(
            parse(&["resume", "c1"]).command,
            Some(Command::Resume(_))
        ));
        assert!(Cli::try_parse_from(["berth", "ps", "-f", "yaml", "c1"]).is_err());
    }

    #[test]
    fn checkpoint_and_restore_flags() {
        let Some(Command::Checkpoint(c)) = parse(&[
            "checkpoint",
            "--image-path",
            "/i",
            "--leave-running",
            "--manage-cgroups-mode",
            "full",
            "c1",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!((c.id.as_str(), c.leave_running), ("c1", true));
        assert_eq!(
            c.criu.manage_cgroups_mode,
            Some(checkpoint::CgroupsMode::Full)
        );
        let args = go_style_flags(
            [
                "berth",
                "restore",
                "-d",
                "-no-subreaper",
                "--bundle",
                "/b",
                "c2",
            ]
            .map(OsString::from),
        );
        let Some(Command::Restore(r)) = Cli::try_parse_from(args).expect("parses").command else {
            panic!()
        };
        assert!(r.detach && r.no_subreaper);
        assert_eq!(r.criu.image_path, PathBuf::from("checkpoint"));
        assert!(
            Cli::try_parse_from(["berth", "checkpoint", "--manage-cgroups-mode", "x", "c"])
                .is_err()
        );
    }

    #[test]
    fn version_lines() {
        let v = version_text();
        let lines: Vec<&str> = v.lines().collect();
        assert!(lines[0].starts_with("berth version "));
        assert!(lines[1].starts_with("commit: "));
        assert_eq!(lines[2], "spec: 1.3.0");
        assert!(lines[3].starts_with("libseccomp: "));
        assert!(parse(&["-v"]).version);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(Cli::try_parse_from(["berth", "--log-format", "xml", "list"]).is_err());
        assert!(Cli::try_parse_from(["berth", "--rootless", "maybe", "list"]).is_err());
    }
}
