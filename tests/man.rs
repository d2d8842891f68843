//! The man pages in `docs/man/` (`berth(8)` and `berth-<command>(8)` for
//! every command) are generated here from the clap definitions the binary
//! parses with, plus the sections clap does not know (exit status, the
//! error messages callers match, files, version). This test regenerates
//! them and fails when the committed pages differ, so they cannot drift;
//! `BERTH_WRITE_MAN=1 cargo test --test man` rewrites them. It also renders
//! each page with groff and fails on any warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use roff::{Roff, bold, italic, roman};

const SECTION: &str = "8";

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man")
}

/// Every page: file name → roff text.
fn pages() -> BTreeMap<String, String> {
    let mut cli = berth::cli::Cli::command();
    cli.build();
    // `berth help` works, but has no page of its own.
    let cli = cli.mut_subcommand("help", |h| h.hide(true));
    let mut out = BTreeMap::new();
    out.insert(format!("berth.{SECTION}"), page(&cli, None));
    for sub in cli.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("berth-{}.{SECTION}", sub.get_name());
        out.insert(name, page(sub, Some(&cli)));
    }
    out
}

/// One page: clap_mangen's sections, then ours.
fn page(cmd: &clap::Command, parent: Option<&clap::Command>) -> String {
    let man = clap_mangen::Man::new(cmd.clone())
        .section(SECTION)
        .source(format!("berth {}", env!("CARGO_PKG_VERSION")));
    let mut w = Vec::new();
    man.render_title(&mut w).unwrap();
    man.render_name_section(&mut w).unwrap();
    man.render_synopsis_section(&mut w).unwrap();
    let mut r = Roff::new();
    description(&mut r, cmd.get_name(), parent.is_none());
    w.extend_from_slice(r.to_roff().as_bytes());
    man.render_options_section(&mut w).unwrap();
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut w).unwrap();
    }
    let mut r = Roff::new();
    exit_status(&mut r, cmd.get_name(), parent.is_none());
    let takes_id = cmd
        .get_positionals()
        .next()
        .and_then(|a| a.get_value_names())
        .and_then(|n| n.first())
        .is_some_and(|n| n.starts_with("ID"));
    if parent.is_none() || takes_id {
        errors(&mut r);
    }
    if parent.is_none() {
        files(&mut r);
        version(&mut r);
    }
    see_also(&mut r, cmd, parent);
    w.extend_from_slice(r.to_roff().as_bytes());
    String::from_utf8(w).unwrap()
}

fn para(r: &mut Roff, text: &str) {
    r.control("PP", []).text([roman(text)]);
}

fn item(r: &mut Roff, tag: roff::Inline, text: &str) {
    r.control("TP", []).text([tag]).text([roman(text)]);
}

fn description(r: &mut Roff, name: &str, top: bool) {
    r.control("SH", ["DESCRIPTION"]);
    if top {
        r.text([roman(
            "berth is an OCI container runtime, a drop-in for runc: the same \
             commands, flags, exit codes, error messages, state JSON, pid files, \
             console-socket protocol and log format, so the programs written for \
             runc (containerd's shim, podman through conmon, CRI-O) drive \
             it unchanged.",
        )]);
        para(
            r,
            "A container is made from a bundle, a directory holding config.json \
             (the OCI runtime configuration) and the root filesystem it names. Its \
             life cycle is create (set everything up; the process waits), start \
             (run the program), state, kill and delete; run does all of it in the \
             foreground.",
        );
        para(
            r,
            "The global options (--root, --log, --log-format, --debug, \
             --systemd-cgroup) are accepted before or after the command name; \
             --rootless only before it.",
        );
        para(r, "The user guide is in docs/guide/ of the source tree.");
        return;
    }
    let text = match name {
        "create" => {
            "Creates the container from the bundle: namespaces, cgroup, root filesystem, \
             user and capabilities. Its process then waits at the exec.fifo gate until \
             berth start; the container's status is created. With process.terminal true \
             in config.json, --console-socket is required: berth sends the pseudo-terminal's \
             master to that Unix socket (SCM_RIGHTS), as runc does."
        }
        "start" => "Lets a created container's process run (opens its exec.fifo gate).",
        "run" => {
            "Creates and starts the container. Without --detach, berth stays in the \
             foreground, forwards signals to the container's process, waits for it, deletes \
             the container (unless --keep) and exits with its status."
        }
        "state" => {
            "Prints the container's state as runc's JSON (ociVersion, id, pid, status, \
             bundle, rootfs, created, owner, annotations)."
        }
        "exec" => {
            "Runs an additional process in a running container: the command after the \
             ID, or the process.json given with --process. Options go before the ID."
        }
        "kill" => {
            "Sends a signal (default SIGTERM) to the container's init, or with --all to \
             every process of the container."
        }
        "delete" => {
            "Deletes a stopped container: its state directory and cgroup. With --force, \
             a running one is killed first."
        }
        "list" => {
            "Lists the containers under --root, as a table (runc's columns), JSON or IDs \
             only (-q)."
        }
        "spec" => {
            "Writes a default config.json into the bundle directory; refuses to overwrite one."
        }
        "features" => {
            "Prints, as JSON, what this berth implements (runtime-spec features \
             document): namespaces, capabilities, mount options, seccomp, cgroup support."
        }
        "update" => {
            "Changes the resource limits of a running or paused container, from \
             flags or from LinuxResources JSON (--resources FILE, or - for stdin)."
        }
        "pause" => "Freezes every process of the container (cgroup freezer).",
        "resume" => "Thaws a paused container.",
        "events" => {
            "Prints the container's resource statistics and OOM events as JSON lines, \
             every --interval, or once with --stats."
        }
        "ps" => {
            "Lists the processes of the container, through ps(1) (-f table) or as JSON \
             PIDs (-f json)."
        }
        "completion" => {
            "Prints a completion script for bash, zsh or fish, generated from \
             berth's own option definitions. Container IDs are completed from berth list -q, \
             with the --root given on the command line. Install it with, for example: \
             berth completion bash > /etc/bash_completion.d/berth."
        }
        "checkpoint" => {
            "Checkpoints a running container with CRIU into --image-path (default ./checkpoint): \
             its processes are dumped and, unless --leave-running or --pre-dump is given, the \
             container is gone afterwards (as after delete). Needs CRIU 3.0.0 or newer where \
             criu check passes; flags berth cannot honour (--page-server, --lazy-pages, \
             --status-fd, --empty-ns) are refused by name. See docs/checkpoint.md."
        }
        "restore" => {
            "Restores a checkpointed container from --image-path as container ID, from the \
             bundle given with --bundle: the image is checked first (only regular files, a \
             parent link that stays beside it, a bounded descriptors.json), then CRIU restores \
             the processes into a new state directory and cgroup. Without --detach berth waits \
             for the restored process, deletes the container and exits with its status. On \
             failure nothing is left behind."
        }
        other => panic!("berth {other} has no DESCRIPTION in tests/man.rs: write one"),
    };
    r.text([roman(text)]);
}

fn exit_status(r: &mut Roff, name: &str, top: bool) {
    r.control("SH", ["EXIT STATUS"]);
    match name {
        "run" => {
            item(
                r,
                bold("0 .. 255"),
                "Without --detach: the exit status of the container's process, or 128 plus the number of the signal that killed it.",
            );
            item(r, bold("0"), "With --detach: the container has started.");
            item(
                r,
                bold("1"),
                "berth failed (the container was not run); the message is on stderr or in --log.",
            );
        }
        "restore" => {
            item(
                r,
                bold("0 .. 255"),
                "Without --detach: the exit status of the restored process, or 128 plus the number of the signal that killed it.",
            );
            item(
                r,
                bold("0"),
                "With --detach: the container has been restored and runs.",
            );
            item(
                r,
                bold("1"),
                "berth or CRIU failed (nothing was restored, nothing is left behind); the message is on stderr or in --log.",
            );
        }
        "exec" => {
            item(
                r,
                bold("0 .. 254"),
                "Without --detach: the exit status of the process, or 128 plus the number of the signal that killed it.",
            );
            item(r, bold("0"), "With --detach: the process runs.");
            item(
                r,
                bold("255"),
                "berth itself failed (the process did not run); the message starts with \"exec failed:\". As with runc, callers tell this from the process's own status.",
            );
        }
        _ => {
            item(
                r,
                bold("0"),
                "Success (also for --help and, at the top level, --version).",
            );
            item(
                r,
                bold("1"),
                "Failure, including unknown options or bad values. The message is written to stderr, or as exactly one error line to the --log file.",
            );
            if name == "delete" {
                para(
                    r,
                    "With --force, deleting a container that does not exist succeeds (0).",
                );
            }
            if top {
                para(
                    r,
                    "The run and exec commands exit with the container process's status; see berth-run(8) and berth-exec(8).",
                );
            }
        }
    }
}

fn errors(r: &mut Roff) {
    r.control("SH", ["ERRORS"]);
    r.text([roman(
        "Errors name what failed and where (config.json: linux.namespaces[2].type: unknown \
         namespace \"foo\"). These messages are runc's, and callers match them:",
    )]);
    for (msg, what) in [
        (
            "container does not exist",
            "no container with this ID under --root.",
        ),
        (
            "container with given ID already exists",
            "create or run with an ID in use.",
        ),
        (
            "container not running",
            "the command needs a running container.",
        ),
        ("no such process", "kill: the process has already exited."),
        (
            "cannot start a container that has stopped",
            "start after the process exited.",
        ),
        ("cannot start an already running container", "start twice."),
        (
            "invalid container ID",
            "the ID is empty, \".\" or \"..\", longer than 1024 bytes, or has characters other than letters, digits and _+-.",
        ),
    ] {
        item(r, bold(msg), what);
    }
    para(
        r,
        "With --log-format json each error is one line {\"level\":\"error\",\"msg\":\"...\",\"time\":\"...\"} \
         (containerd's shim reports the last such line's msg).",
    );
}

fn files(r: &mut Roff) {
    r.control("SH", ["FILES"]);
    item(
        r,
        italic("/run/berth"),
        "The default state directory (--root).",
    );
    item(
        r,
        italic("ROOT/ID/"),
        "One container's state: state.json, the lock, and while created the exec.fifo gate. Removed by delete.",
    );
}

fn version(r: &mut Roff) {
    r.control("SH", ["VERSION"]);
    r.text([roman("berth --version (or -v) prints four lines:")]);
    r.control("PP", []).control("nf", []);
    r.text([roman("berth version 0.1.0")]);
    r.text([roman("commit: <git commit>")]);
    r.text([roman("spec: 1.3.0")]);
    r.text([roman("libseccomp: <version>")]);
    r.control("fi", []);
    para(
        r,
        "The first line starts with \"berth version\", not \"runc version\", and there is no go: line: \
         tools that parse runc --version must be pointed at this format.",
    );
}

fn see_also(r: &mut Roff, cmd: &clap::Command, parent: Option<&clap::Command>) {
    r.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<String> = match parent {
        None => cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .map(|s| format!("berth-{}({SECTION})", s.get_name()))
            .collect(),
        Some(_) => vec![format!("berth({SECTION})")],
    };
    refs.push("runc(8)".into());
    r.text([roman(refs.join(", "))]);
}

#[test]
fn man_pages_match_the_clap_definitions() {
    let dir = man_dir();
    let want = pages();
    if std::env::var_os("BERTH_WRITE_MAN").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            std::fs::remove_file(entry.path()).unwrap();
        }
        for (name, text) in &want {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    let mut have: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    have.sort();
    let names: Vec<String> = want.keys().cloned().collect();
    assert_eq!(
        have, names,
        "docs/man/ does not hold exactly one page per command: run BERTH_WRITE_MAN=1 cargo test --test man"
    );
    for (name, text) in &want {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(
            committed == *text,
            "docs/man/{name} is out of date with the clap definitions: run BERTH_WRITE_MAN=1 cargo test --test man"
        );
    }
}

#[test]
fn man_pages_render_without_warnings() {
    for (name, text) in pages() {
        let path =
            std::env::temp_dir().join(format!("berth-man-test-{}-{name}", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z", "-Tutf8"])
            .arg(&path)
            .output()
            .expect("groff (apt-get install groff-base)");
        std::fs::remove_file(&path).unwrap();
        assert!(out.status.success(), "{name}: groff failed");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.is_empty(), "{name}: groff warnings:\n{err}");
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "SEE ALSO"] {
            assert!(
                text.contains(&format!(".SH \"{section}\""))
                    || text.contains(&format!(".SH {section}")),
                "{name}: no {section}"
            );
        }
    }
}

#[test]
fn install_puts_binary_pages_and_completions_in_place() {
    let dest = tempfile::tempdir().unwrap();
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/install"))
        .env("DESTDIR", dest.path())
        .env("PREFIX", "/usr")
        .env("BERTH_BIN", env!("CARGO_BIN_EXE_berth"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tools/install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let usr = dest.path().join("usr");
    let bin = usr.join("bin/berth");
    let v = Command::new(&bin).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("berth version "));
    for (name, want) in pages() {
        let page = usr.join("share/man/man8").join(&name);
        let text =
            std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        assert_eq!(text, want);
    }
    for (shell, path) in [
        ("bash", "share/bash-completion/completions/berth"),
        ("zsh", "share/zsh/site-functions/_berth"),
        ("fish", "share/fish/vendor_completions.d/berth.fish"),
    ] {
        let want = Command::new(&bin)
            .args(["completion", shell])
            .output()
            .unwrap()
            .stdout;
        assert_eq!(std::fs::read(usr.join(path)).unwrap(), want, "{path}");
    }
}
