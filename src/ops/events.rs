//! `events`: a container's cgroup statistics (`--stats`: once) and OOM
//! events, as runc prints them: one JSON object per line,
//! `{"type":"stats"|"oom","id":...,"data":{...}}`.

use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{OpsError, Result, Runtime};
use crate::cgroups::{self, OomWait, Stats};
use crate::state::Status;

/// One event line.
#[derive(Debug, Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Stats>,
}

fn emit(out: &mut dyn Write, e: &Event<'_>) -> Result<()> {
    let mut line = serde_json::to_vec(e).map_err(|e| OpsError::Invalid(e.to_string()))?;
    line.push(b'\n');
    out.write_all(&line)
        .and_then(|()| out.flush())
        .map_err(OpsError::io("write event"))
}

/// Prints container `id`'s events to `out`: with `stats_only` one stats
/// event, otherwise a stats event every `interval` and an `oom` event for
/// each OOM kill, until the container stops. Takes no lock: a streaming
/// `events` must not block `delete`.
pub fn events(
    rt: &Runtime,
    id: &str,
    stats_only: bool,
    interval: Duration,
    out: &mut dyn Write,
) -> Result<()> {
    if interval.is_zero() {
        return Err(OpsError::Invalid(
            "duration interval must be greater than 0".into(),
        ));
    }
    let dir = rt.store.open_unlocked(id)?;
    let state = dir.load()?;
    let stopped = || !matches!(dir.load(), Ok(s) if s.status(&dir) != Status::Stopped);
    if stopped() {
        return Err(OpsError::Invalid(format!(
            "container with id {id} is not running"
        )));
    }
    let cg = state
        .cgroup
        .as_ref()
        .map(cgroups::from_record)
        .ok_or_else(|| OpsError::Invalid(format!("container {id} has no cgroup")))?;
    let stats = |cg: &dyn cgroups::Manager| -> Result<Event<'_>> {
        Ok(Event {
            kind: "stats",
            id,
            data: Some(cg.stats()?),
        })
    };
    if stats_only {
        return emit(out, &stats(cg.as_ref())?);
    }
    let mut watch = cg.oom_watch()?;
    let mut next = Instant::now() + interval;
    loop {
        match watch.wait(next.saturating_duration_since(Instant::now()))? {
            OomWait::Oom => emit(
                out,
                &Event {
                    kind: "oom",
                    id,
                    data: None,
                },
            )?,
            OomWait::Gone => return Ok(()),
            OomWait::Timeout => {
                if stopped() {
                    return Ok(());
                }
                match stats(cg.as_ref()) {
                    Ok(e) => emit(out, &e)?,
                    Err(e) => tracing::error!("{e}"),
                }
                next += interval;
            }
        }
    }
}

/// Parses a Go duration (`5s`, `1m30s`, `100ms`, `1.5h`, `300us`).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}");
    let body = s.strip_prefix('+').unwrap_or(s);
    if body.starts_with('-') {
        return Err("duration interval must be greater than 0".into());
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = body;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {s:?}"))?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..u] {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            unit => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
        };
        total += value * nanos;
        rest = &rest[u..];
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("300us"), Ok(Duration::from_micros(300)));
        assert_eq!(parse_duration("2\u{b5}s"), Ok(Duration::from_micros(2)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("5d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn event_lines_like_runc() {
        let mut out = Vec::new();
        emit(
            &mut out,
            &Event {
                kind: "oom",
                id: "c1",
                data: None,
            },
        )
        .unwrap();
        assert_eq!(out, b"{\"type\":\"oom\",\"id\":\"c1\"}\n");
    }
}
