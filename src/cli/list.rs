//! `berth list`.

use crate::ops::{self, Runtime};

/// Output formats of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Print only the IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let items = ops::list(rt)?;
    if a.quiet {
        for i in &items {
            println!("{}", i.id);
        }
        return Ok(0);
    }
    match a.format {
        ListFormat::Json => println!("{}", serde_json::to_string(&items)?),
        ListFormat::Table => print!("{}", table(&items)),
    }
    Ok(0)
}

/// runc's table: columns padded to the widest cell plus three spaces, with
/// a minimum width of 12.
fn table(items: &[ops::ListEntry]) -> String {
    let mut rows: Vec<[String; 6]> =
        vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
    for i in items {
        rows.push([
            i.id.clone(),
            i.pid.to_string(),
            i.status.to_string(),
            i.bundle.display().to_string(),
            i.created.clone(),
            i.owner.clone(),
        ]);
    }
    let mut widths = [0usize; 6];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.len() + 3).max(12);
        }
    }
    let mut out = String::new();
    for r in &rows {
        for (idx, (w, c)) in widths.iter().zip(r.iter()).enumerate() {
            if idx == 5 {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}"));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_runcs_header() {
        let t = table(&[]);
        assert_eq!(
            t,
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }
}
