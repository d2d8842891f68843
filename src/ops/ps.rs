//! `ps`: the processes of a container (host PIDs from its cgroup).

use super::{OpsError, Result, Runtime};
use crate::cgroups;

/// Host PIDs of every process in container `id`'s cgroup, sorted.
pub fn pids(rt: &Runtime, id: &str) -> Result<Vec<i32>> {
    let dir = rt.store.open_unlocked(id)?;
    let state = dir.load()?;
    let Some(rec) = &state.cgroup else {
        // No cgroup (rootless on a hierarchy the user may not write): the
        // init and its descendants, as the host's /proc shows them.
        let Some(init) = state.init.as_ref().filter(|p| p.is_alive()) else {
            return Ok(Vec::new());
        };
        let mut pids = process_tree(init.pid().as_raw());
        pids.sort_unstable();
        return Ok(pids);
    };
    let mut pids: Vec<i32> = cgroups::from_record(rec)
        .pids()?
        .into_iter()
        .map(|p| p.as_raw())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// `pid` and every descendant, from `/proc/<pid>/task/*/children`.
fn process_tree(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        i += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            for c in children
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
            {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// Runs `ps` with `args` (`-ef` when empty) and keeps its header and the
/// lines of container `id`'s processes, as runc does.
pub fn table(rt: &Runtime, id: &str, args: &[String]) -> Result<String> {
    let pids = pids(rt, id)?;
    let default = ["-ef".to_string()];
    let args = if args.is_empty() { &default[..] } else { args };
    let out = std::process::Command::new("ps")
        .args(args)
        .output()
        .map_err(OpsError::io("run ps"))?;
    if !out.status.success() {
        return Err(OpsError::Invalid(format!(
            "ps {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    filter(&String::from_utf8_lossy(&out.stdout), &pids)
}

/// Keeps the header and the lines whose PID column holds one of `pids`.
pub fn filter(output: &str, pids: &[i32]) -> Result<String> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| OpsError::Invalid("couldn't find PID field in ps output".into()))?;
    let mut out = format!("{header}\n");
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let field = line.split_whitespace().nth(col).unwrap_or_default();
        let pid: i32 = field
            .parse()
            .map_err(|_| OpsError::Invalid(format!("unable to parse pid {field:?}")))?;
        if pids.contains(&pid) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_container_lines() {
        let ps = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:01 ? 00:00:00 sleep 100\n";
        assert_eq!(
            filter(ps, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:01 ? 00:00:00 sleep 100\n"
        );
        let e = filter("USER COMMAND\nroot x\n", &[1]).unwrap_err();
        assert_eq!(e.to_string(), "couldn't find PID field in ps output");
    }
}
