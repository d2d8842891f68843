//! `berth completion`: the bash script, loaded into a real bash, completes
//! subcommands, options and the IDs of existing containers (from `berth
//! list -q`, with the command line's `--root`); the fish script likewise
//! through `complete -C`, the zsh one in an interactive zsh on a pty.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Fixture, berth_bin, s};

fn script(shell: &str, dir: &Path) -> std::path::PathBuf {
    let out = Command::new(berth_bin())
        .args(["completion", shell])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "completion {shell}: {}",
        s(&out.stderr)
    );
    let path = dir.join(format!("berth.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// `PATH` with the berth under test first, so the scripts' `berth list -q`
/// runs it.
fn path_env() -> String {
    let dir = berth_bin().parent().unwrap().to_path_buf();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// What bash offers for the command line `words` (the last one being
/// completed), through the function the script registers for `berth`.
fn bash(script: &Path, words: &[&str]) -> Vec<String> {
    let driver = r#"
set -u
source "$1"; shift
spec=$(complete -p berth) || exit 3
fn=${spec#*-F }; fn=${fn%% *}
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
prev=""; (($# > 1)) && prev=${COMP_WORDS[COMP_CWORD-1]}
"$fn" berth "${COMP_WORDS[COMP_CWORD]}" "$prev"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(driver)
        .arg("driver")
        .arg(script)
        .args(words)
        .env("PATH", path_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash completion of {words:?} failed: {}",
        s(&out.stderr)
    );
    s(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn fish(script: &Path, line: &str) -> Vec<String> {
    let out = Command::new("fish")
        .arg("--no-config")
        .arg("-c")
        .arg(format!(
            "source {}; complete -C {:?}",
            script.display(),
            line
        ))
        .env("PATH", path_env())
        .output()
        .expect("fish (apt-get install fish)");
    assert!(out.status.success(), "fish: {}", s(&out.stderr));
    s(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn bash_completes_subcommands_options_and_container_ids() {
    let f = Fixture::new("completion-bash", &["sleep", "100"]);
    let script = script("bash", f.dir.path());
    let root = f.root.to_str().unwrap();

    assert_eq!(bash(&script, &["berth", "sta"]), ["start", "state"]);
    assert!(bash(&script, &["berth", "kill", "--a"]).contains(&"--all".to_string()));
    assert_eq!(
        bash(&script, &["berth", "list", "--format", ""]),
        ["table", "json"]
    );

    let ids = ["compl-one", "compl-two", "other"];
    for id in ids {
        f.separate_cgroup(id);
        f.create(id);
    }
    // The ID, wherever the global flags are, in each spelling of --root.
    for words in [
        &["berth", "--root", root, "kill", ""][..],
        &["berth", "kill", "--root", root, ""],
        &["berth", "kill", "-a", "--root", root, ""],
        &["berth", "--root", "=", root, "state", ""],
        &[
            "berth",
            "--log-format",
            "json",
            "--root",
            root,
            "delete",
            "-f",
            "",
        ],
        &["berth", "--root", root, "exec", "-t", "--cwd", "/", ""],
    ] {
        assert_eq!(bash(&script, words), ids, "{words:?}");
    }
    assert_eq!(
        bash(&script, &["berth", "--root", root, "start", "compl"]),
        ["compl-one", "compl-two"]
    );
    // Not where something else goes: a new container's ID, the signal
    // after the ID, an option's value.
    for words in [
        &["berth", "--root", root, "create", ""][..],
        &["berth", "--root", root, "kill", "compl-one", ""],
        &["berth", "--root", root, "exec", "compl-one", ""],
        &["berth", "--root", root, "exec", "--cwd", ""],
    ] {
        let got = bash(&script, words);
        assert!(
            !got.iter().any(|w| w.starts_with("compl-")),
            "{words:?} offered IDs: {got:?}"
        );
    }
    // Another root has other containers (none).
    let empty = f.dir.path().join("empty-root");
    let got = bash(
        &script,
        &["berth", "--root", empty.to_str().unwrap(), "kill", "c"],
    );
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn fish_completes_container_ids() {
    let f = Fixture::new("completion-fish", &["sleep", "100"]);
    let script = script("fish", f.dir.path());
    let root = f.root.to_str().unwrap();
    f.create("fish-one");
    let got = fish(&script, &format!("berth --root {root} kill "));
    assert!(got.contains(&"fish-one".to_string()), "{got:?}");
    let got = fish(&script, &format!("berth kill --root {root} fish-one "));
    assert!(!got.contains(&"fish-one".to_string()), "{got:?}");
    let got = fish(&script, &format!("berth --root {root} create "));
    assert!(!got.contains(&"fish-one".to_string()), "{got:?}");
    let got = fish(&script, "berth sta");
    assert!(
        got.contains(&"start".to_string()) && got.contains(&"state".to_string()),
        "{got:?}"
    );
}

/// Types `line` and a TAB into an interactive zsh (on a pty, through
/// zsh's own zpty) with the script as `_berth` in its fpath, and waits
/// until the line reads `want`. Gives up after 20 s.
fn zsh_completes(fpath: &Path, line: &str, want: &str) -> bool {
    let driver = format!(
        r#"zmodload zsh/zpty
zpty z "zsh -f -i"
zpty -w z 'fpath=({fpath} $fpath); autoload -U compinit; compinit -u; PS1="P> "'
zpty -w z 'print RE""ADY'
zpty -r -m z out '*READY*'
zpty -w -n z $'{line}\t'
zpty -r -m z out '*{want}*' && print MATCHED
zpty -d z
"#,
        fpath = fpath.display()
    );
    let out = Command::new("timeout")
        .args(["20", "zsh", "-f", "-c", &driver])
        .env("PATH", path_env())
        .output()
        .expect("zsh (apt-get install zsh)");
    s(&out.stdout).contains("MATCHED")
}

#[test]
fn zsh_completes_container_ids() {
    let f = Fixture::new("completion-zsh", &["sleep", "100"]);
    let fpath = f.dir.path().join("fpath");
    std::fs::create_dir(&fpath).unwrap();
    let text = s(&Command::new(berth_bin())
        .args(["completion", "zsh"])
        .output()
        .unwrap()
        .stdout);
    std::fs::write(fpath.join("_berth"), &text).unwrap();
    // Every command that works on an existing container completes IDs.
    assert_eq!(text.matches(":_berth_container_ids'").count(), 10, "{text}");
    assert_eq!(text.matches(":_berth_id_then_command'").count(), 1);
    let root = f.root.to_str().unwrap();
    f.create("zsh-only-one");
    assert!(zsh_completes(
        &fpath,
        &format!("berth --root {root} kill zsh-o"),
        "kill zsh-only-one"
    ));
    // After exec's ID, the command is completed like any command.
    assert!(zsh_completes(
        &fpath,
        &format!("berth --root {root} exec zsh-only-one busyb"),
        "zsh-only-one busybox"
    ));
}

#[test]
fn unknown_shell_is_refused() {
    let out = Command::new(berth_bin())
        .args(["completion", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(s(&out.stderr).contains("tcsh"), "{}", s(&out.stderr));
}
