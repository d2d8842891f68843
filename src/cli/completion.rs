//! `berth completion SHELL`: a completion script for bash, zsh or fish.
//!
//! The script is clap_complete's, generated from the same definitions the
//! parser uses (so it cannot drift from them), plus a small hook per shell
//! that completes container IDs: where a command working on an existing
//! container expects its ID, the script runs `berth [--root R] list -q`
//! (with the `--root` of the command line being completed). The hooks are
//! generated from the definitions too: which commands take an existing ID
//! and which options take a value (so their values are not counted as the
//! ID).

use std::io::Write;

use clap::{Arg, ArgAction, Command, CommandFactory, ValueEnum};

use super::Cli;

/// Shells `completion` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Arguments of `completion`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// The shell to write the script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(a: Args) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    out.write_all(script(a.shell).as_bytes())?;
    out.flush()?;
    Ok(0)
}

/// Commands whose ID names a container that does not exist yet: their ID
/// is not completed from `list`.
const NEW_ID_COMMANDS: &[&str] = &["create", "run", "restore"];

/// The whole script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    // Propagates the global options into every subcommand.
    cmd.build();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut buf = Vec::new();
    clap_complete::generate(generator, &mut cmd.clone(), "berth", &mut buf);
    let base = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        Shell::Bash => base + &bash_hook(&cmd),
        Shell::Zsh => zsh_hook(&cmd, &base),
        Shell::Fish => base + &fish_hook(&cmd),
    }
}

/// The subcommands that work on an existing container, with the argument
/// that holds its ID (the first positional, named `ID...`).
fn id_commands(cmd: &Command) -> Vec<(&Command, &Arg)> {
    cmd.get_subcommands()
        .filter(|s| !NEW_ID_COMMANDS.contains(&s.get_name()))
        .filter_map(|s| {
            let first = s.get_positionals().next()?;
            let named_id = first
                .get_value_names()
                .and_then(|n| n.first())
                .is_some_and(|n| n.starts_with("ID"));
            named_id.then_some((s, first))
        })
        .collect()
}

/// Whether an option consumes the next word as its value.
fn takes_separate_value(a: &Arg) -> bool {
    let optional = a.get_num_args().is_some_and(|n| n.min_values() == 0);
    !a.is_positional() && a.get_action().takes_values() && !optional && !a.is_require_equals_set()
}

/// The spellings (`-b`, `--bundle`) of the options of `cmd` that take a
/// separate value.
fn value_options(cmd: &Command) -> Vec<String> {
    let mut out = Vec::new();
    for a in cmd.get_arguments().filter(|a| takes_separate_value(a)) {
        out.extend(a.get_short().map(|s| format!("-{s}")));
        out.extend(a.get_long().map(|l| format!("--{l}")));
    }
    out
}

fn bash_hook(cmd: &Command) -> String {
    let mut cases = String::new();
    let mut add = |name: &str, c: &Command| {
        let pats: Vec<String> = value_options(c)
            .iter()
            .map(|o| format!("{name},{o}"))
            .collect();
        if !pats.is_empty() {
            cases.push_str(&format!("        {}) return 0 ;;\n", pats.join("|")));
        }
    };
    add("", cmd);
    for s in cmd.get_subcommands() {
        add(s.get_name(), s);
    }
    let ids: Vec<&str> = id_commands(cmd).iter().map(|(s, _)| s.get_name()).collect();
    BASH_HOOK
        .replace("@VALUE_CASES@", &cases)
        .replace("@ID_COMMANDS@", &ids.join("|"))
}

const BASH_HOOK: &str = r#"
# Container IDs (berth's own addition to the script above): where a command
# that works on an existing container expects its ID, complete the IDs
# `berth list -q` prints, with the --root of the command line.
_berth_takes_value() {
    case "$1,$2" in
@VALUE_CASES@    esac
    return 1
}

_berth_with_ids() {
    local cur="${COMP_WORDS[COMP_CWORD]}" opt="" sub="" word i skip=0 npos=0
    local -a root=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        if ((skip)); then
            # --root=/r arrives as three words: --root, =, /r.
            [[ $word == "=" ]] && continue
            [[ $opt == --root ]] && root=(--root "$word")
            skip=0
            continue
        fi
        case "$word" in
            --root=*) root=(--root "${word#--root=}") ;;
            -*) _berth_takes_value "$sub" "$word" && { skip=1; opt="$word"; } ;;
            *) if [[ -z $sub ]]; then sub="$word"; else npos=$((npos + 1)); fi ;;
        esac
    done
    if ((!skip && npos == 0)) && [[ $cur != -* ]]; then
        case "$sub" in
            @ID_COMMANDS@)
                COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" "${root[@]}" list -q 2>/dev/null)" -- "$cur"))
                return 0
                ;;
        esac
    fi
    _berth "$@"
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _berth_with_ids -o nosort -o bashdefault -o default berth
else
    complete -F _berth_with_ids -o bashdefault -o default berth
fi
"#;

/// zsh: clap's `_arguments` spec of each ID argument gets a completer of
/// ours instead of `_default`; the functions go before the script's final
/// call.
fn zsh_hook(cmd: &Command, base: &str) -> String {
    let ids = id_commands(cmd);
    let mut out = String::with_capacity(base.len() + ZSH_HOOK.len());
    let mut section: Option<&Arg> = None;
    let mut hooked = false;
    for line in base.split_inclusive('\n') {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
            section = ids
                .iter()
                .find(|(s, _)| s.get_name() == name)
                .map(|(_, a)| *a);
        }
        if !hooked && line.starts_with("if [ \"$funcstack[1]\" = \"_berth\" ]") {
            out.push_str(ZSH_HOOK);
            hooked = true;
        }
        if let Some(arg) = section {
            let id = arg.get_id().as_str();
            let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
            let (spec, with) = if many {
                (format!("'*::{id} -- "), "_berth_id_then_command")
            } else {
                (format!("':{id} -- "), "_berth_container_ids")
            };
            if line.starts_with(&spec) {
                out.push_str(&line.replacen(":_default'", &format!(":{with}'"), 1));
                section = None;
                continue;
            }
        }
        out.push_str(line);
    }
    if !hooked {
        out.push_str(ZSH_HOOK);
    }
    out
}

const ZSH_HOOK: &str = r#"# Container IDs (berth's own addition): what `berth list -q` prints, with
# the --root of the command line.
(( $+functions[_berth_container_ids] )) ||
_berth_container_ids() {
    local -a line_words root ids
    local i
    line_words=(${(z)BUFFER})
    for ((i = 2; i <= $#line_words; i++)); do
        case $line_words[i] in
            --root) root=(--root ${(Q)line_words[i+1]}) ;;
            --root=*) root=(--root ${(Q)line_words[i]#--root=}) ;;
        esac
    done
    ids=(${(f)"$(${(Q)line_words[1]} $root list -q 2>/dev/null)"})
    compadd -a ids
}
(( $+functions[_berth_id_then_command] )) ||
_berth_id_then_command() {
    if (( CURRENT == 1 )); then
        _berth_container_ids
    else
        # The command and its arguments, as if typed on their own.
        shift words
        (( CURRENT-- ))
        _normal
    fi
}

"#;

fn fish_hook(cmd: &Command) -> String {
    let mut cases = String::new();
    for (s, _) in id_commands(cmd) {
        let specs: Vec<String> = s
            .get_arguments()
            .filter(|a| !a.is_positional())
            .filter_map(fish_optspec)
            .collect();
        cases.push_str(&format!(
            "        case {}\n            set specs {}\n",
            s.get_name(),
            specs.join(" ")
        ));
    }
    FISH_HOOK.replace("@CASES@", &cases)
}

/// An option in fish's `argparse` syntax (`b/bundle=`, `debug`, `n/x=?`).
fn fish_optspec(a: &Arg) -> Option<String> {
    let name = match (a.get_short(), a.get_long()) {
        (Some(s), Some(l)) => format!("{s}/{l}"),
        (None, Some(l)) => l.to_string(),
        (Some(s), None) => s.to_string(),
        (None, None) => return None,
    };
    let value = if takes_separate_value(a) {
        "="
    } else if a.get_action().takes_values() && !matches!(a.get_action(), ArgAction::Help) {
        "=?"
    } else {
        ""
    };
    Some(format!("'{name}{value}'"))
}

const FISH_HOOK: &str = r#"
# Container IDs (berth's own addition): where a command that works on an
# existing container expects its ID, the IDs `berth list -q` prints, with
# the --root of the command line.
function __berth_id_wanted
    set -l words (commandline -opc)
    set -e words[1]
    argparse -s (__fish_berth_global_optspecs) -- $words 2>/dev/null
    or return 1
    set -q argv[1]
    or return 1
    set -l sub $argv[1]
    set -e argv[1]
    set -l specs
    switch $sub
@CASES@        case '*'
            return 1
    end
    argparse $specs -- $argv 2>/dev/null
    or return 1
    not set -q argv[1]
end

function __berth_ids
    set -l words (commandline -opc)
    set -l root
    for i in (seq 2 (count $words))
        switch $words[$i]
            case --root
                if test $i -lt (count $words)
                    set root --root $words[(math $i + 1)]
                end
            case '--root=*'
                set root --root (string replace -- --root= '' $words[$i])
        end
    end
    $words[1] $root list -q 2>/dev/null
end

complete -c berth -n __berth_id_wanted -f -a "(__berth_ids)" -d container
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn built() -> Command {
        let mut cmd = Cli::command();
        cmd.build();
        cmd
    }

    #[test]
    fn existing_id_commands_are_found_from_the_definitions() {
        let cmd = built();
        let names: Vec<&str> = id_commands(&cmd)
            .iter()
            .map(|(s, _)| s.get_name())
            .collect();
        for want in [
            "start", "state", "exec", "kill", "delete", "update", "pause", "resume", "events", "ps",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        // New containers' IDs, and commands without an ID.
        for not in [
            "create",
            "run",
            "list",
            "spec",
            "features",
            "completion",
            "help",
        ] {
            assert!(!names.contains(&not), "{not} in {names:?}");
        }
    }

    #[test]
    fn value_options_are_those_that_take_the_next_word() {
        let cmd = built();
        let exec = cmd.find_subcommand("exec").expect("exec");
        let opts = value_options(exec);
        for o in [
            "--cwd",
            "-e",
            "--env",
            "-p",
            "--process",
            "--root",
            "--log-format",
        ] {
            assert!(opts.contains(&o.to_string()), "{o} missing from {opts:?}");
        }
        // Flags, and --no-new-privs (its value only with '='), take none.
        for o in ["-t", "--tty", "-d", "--detach", "--no-new-privs", "--debug"] {
            assert!(!opts.contains(&o.to_string()), "{o} in {opts:?}");
        }
        let specs: Vec<String> = exec.get_arguments().filter_map(fish_optspec).collect();
        for s in [
            "'e/env='",
            "'t/tty'",
            "'no-new-privs=?'",
            "'h/help'",
            "'root='",
        ] {
            assert!(specs.contains(&s.to_string()), "{s} missing from {specs:?}");
        }
    }

    #[test]
    fn every_script_has_its_id_hook() {
        assert!(script(Shell::Bash).contains("complete -F _berth_with_ids"));
        assert!(script(Shell::Fish).contains("complete -c berth -n __berth_id_wanted"));
        let zsh = script(Shell::Zsh);
        let hook = zsh.find("_berth_container_ids() {").expect("zsh hook");
        let call = zsh
            .find("if [ \"$funcstack[1]\" = \"_berth\" ]")
            .expect("final call");
        assert!(
            hook < call,
            "the hook must be defined before the script runs _berth"
        );
    }
}
