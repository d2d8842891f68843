//! `berth ps`.

use crate::ops::{self, Runtime};

/// Arguments of `ps`: `ps [-f table|json] ID [ps arguments]`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Output format: `table` (ps's output for the container's processes)
    /// or `json` (the array of host PIDs).
    #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Container ID.
    pub id: String,
    /// Arguments for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    if a.format == "json" {
        println!("{}", serde_json::to_string(&ops::ps_pids(rt, &a.id)?)?);
    } else {
        print!("{}", ops::ps_table(rt, &a.id, &a.ps_args)?);
    }
    Ok(0)
}
