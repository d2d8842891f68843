//! The `berth` binary: parse, dispatch, exit with the command's status.

fn main() {
    let code = berth::cli::main(std::env::args_os());
    #[allow(clippy::exit)]
    std::process::exit(code)
}
